-- The local exchange's HTTP API (docs/design.md §4.3) and its HTTP faults. The FIX
-- side is tested end to end in C (csrc/tests/test_exchange.c).
local cjson = require("cjson")
local testing = require("betatrader.testing")

local function post(ex, path, body, headers)
  local status, text = assert(testing.http_request("POST", ex.api_url .. path, body, headers))
  return status, text
end

local function get(ex, path, headers)
  return assert(testing.http_request("GET", ex.api_url .. path, nil, headers))
end

local function register(ex, user, pw)
  local status, text = post(ex, "/api/register", cjson.encode{ username = user, password = pw })
  return status, cjson.decode(text)
end

describe("betatrader-exchange HTTP", function()
  local ex
  setup(function() ex = testing.exchange() end)
  teardown(function() ex:stop() end)

  it("registers accounts with client ids in order", function()
    local status, r = register(ex, "alice", "s3cret")
    assert.equal(200, status)
    assert.same({ success = true, client_id = "CLIENT0001", token = r.token, error_msg = "" }, r)
    assert.matches("^%x+$", r.token)
    assert.equal(48, #r.token)
    local _, r2 = register(ex, "bob", "pw")
    assert.equal("CLIENT0002", r2.client_id)
    assert.not_equal(r.token, r2.token)
  end)

  it("refuses a taken username with 409", function()
    register(ex, "carol", "x")
    local status, r = register(ex, "carol", "y")
    assert.equal(409, status)
    assert.is_false(r.success)
    assert.equal("username already taken", r.error_msg)
  end)

  it("answers malformed input with 400 and a reason", function()
    local cases = {
      "{\"username\":",                                 -- not JSON
      "[]",                                             -- not an object
      cjson.encode{ username = "x" },                   -- no password
      cjson.encode{ username = 5, password = "p" },     -- wrong type
      cjson.encode{ username = "", password = "p" },    -- empty name
      cjson.encode{ username = "a b", password = "p" }, -- bad character
      cjson.encode{ username = "dave", password = "" }, -- empty password
      "",                                               -- no body
    }
    for _, body in ipairs(cases) do
      local status, text = post(ex, "/api/register", body)
      assert.equal(400, status, body)
      local r = cjson.decode(text)
      assert.is_false(r.success)
      assert.is_true(#r.error_msg > 0)
    end
  end)

  it("answers an oversized body with 413", function()
    local status, text = post(ex, "/api/register", string.rep("a", 100 * 1024))
    assert.equal(413, status)
    assert.equal("request body too large", cjson.decode(text).error_msg)
  end)

  it("serves the profile for a bearer token", function()
    local _, r = register(ex, "erin", "pw")
    local status, text = get(ex, "/api/profile", { Authorization = "Bearer " .. r.token })
    assert.equal(200, status)
    local p = cjson.decode(text)
    assert.is_true(p.success)
    assert.equal(r.client_id, p.client_id)
    assert.equal("erin", p.username)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", p.created_at)
  end)

  it("answers a bad or missing token with 401", function()
    assert.equal(401, (get(ex, "/api/profile", { Authorization = "Bearer nope" })))
    assert.equal(401, (get(ex, "/api/profile")))
    assert.equal(401, (get(ex, "/api/profile", { Authorization = "Basic abc" })))
  end)

  it("answers an unknown path with 404 and a wrong method with 405", function()
    assert.equal(404, (get(ex, "/api/nothing")))
    assert.equal(404, (get(ex, "/")))
    assert.equal(405, (get(ex, "/api/register")))
    assert.equal(405, (post(ex, "/api/profile", "{}")))
    assert.equal(405, (testing.http_request("DELETE", ex.api_url .. "/api/register")))
  end)
end)

describe("betatrader-exchange --db", function()
  it("keeps accounts across a restart", function()
    local dir = os.tmpname()
    os.remove(dir)
    local db = dir .. ".db"
    local ex = testing.exchange{ db = db }
    local _, r = register(ex, "frank", "pw")
    assert.equal("CLIENT0001", r.client_id)
    ex:stop()

    ex = testing.exchange{ db = db }
    local status = register(ex, "frank", "other")
    assert.equal(409, status)
    local _, r2 = register(ex, "gina", "pw")
    assert.equal("CLIENT0002", r2.client_id)
    local s, text = get(ex, "/api/profile", { Authorization = "Bearer " .. r.token })
    assert.equal(200, s)
    assert.equal("frank", cjson.decode(text).username)
    ex:stop()
    os.remove(db)
    os.remove(db .. "-wal")
    os.remove(db .. "-shm")
  end)

  it("uses a private database by default", function()
    local ex = testing.exchange()
    assert.equal("CLIENT0001", select(2, register(ex, "hank", "pw")).client_id)
    ex:stop()
    ex = testing.exchange()
    assert.equal(200, (register(ex, "hank", "pw")))
    ex:stop()
  end)
end)

describe("betatrader-exchange HTTP faults", function()
  it("http-500 answers 500", function()
    local ex = testing.exchange{ faults = { "http-500" } }
    finally(function() ex:stop() end)
    local status, text = post(ex, "/api/register", cjson.encode{ username = "a", password = "b" })
    assert.equal(500, status)
    assert.is_false(cjson.decode(text).success)
  end)

  it("bad-json answers 200 with a body that does not parse", function()
    local ex = testing.exchange{ faults = { bad_json = true } }
    finally(function() ex:stop() end)
    local status, text = post(ex, "/api/register", cjson.encode{ username = "a", password = "b" })
    assert.equal(200, status)
    assert.is_false((pcall(cjson.decode, text)))
  end)

  it("http-delay holds the answer back", function()
    local ex = testing.exchange{ faults = { ["http-delay"] = 1500 } }
    finally(function() ex:stop() end)
    -- a client with a shorter deadline gives up ...
    local status, err = testing.http_request("POST", ex.api_url .. "/api/register",
      cjson.encode{ username = "a", password = "b" }, nil, 0.5)
    assert.is_nil(status)
    assert.matches("timed out", err)
    -- ... a patient one gets the answer
    local s2 = post(ex, "/api/register", cjson.encode{ username = "b", password = "b" })
    assert.equal(200, s2)
  end)

  it("rejects a bad fault value at start-up", function()
    local ok, err = pcall(testing.exchange, { faults = { ["user-status"] = "x" } })
    assert.is_false(ok)
    assert.matches("bad value 'user%-status=x'", err)
  end)
end)
