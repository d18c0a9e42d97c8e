-- The sequence store seen from Lua (issues 11 and 12): every store failure
-- comes back with code "store" and a message naming the file and the cause,
-- and the resend window keeps the store's file and the process bounded.
local bt = require("betatrader")
local testing = require("betatrader.testing")

local PW = "s3cret"

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -m 700 '" .. d .. "'"))
  return d
end

local function new_client(ex, extra)
  local opts = {
    api_url = ex.api_url,
    fix_host = ex.fix_host,
    fix_port = ex.fix_port,
    store = false,
    timeout = 5,
  }
  for k, v in pairs(extra or {}) do
    opts[k] = v
  end
  return bt.client(opts)
end

local names = 0
local function register(ex)
  names = names + 1
  local c <close> = new_client(ex)
  return assert(c.auth:register(("store%d"):format(names), PW):await())
end

local function login_fails(c, id)
  local ok, msg, code = c.auth:login(id, PW):await()
  assert.is_nil(ok)
  local state, reason, scode = c.auth:state()
  assert.equal("Failed", state)
  assert.equal(code, scode)
  assert.equal(msg, reason)
  return msg, code
end

describe("store failures", function()
  local ex, dir
  setup(function()
    ex = testing.exchange()
  end)
  teardown(function()
    ex:stop()
  end)
  before_each(function()
    dir = tmpdir()
  end)
  after_each(function()
    os.execute("chmod -R u+w '" .. dir .. "'; rm -rf '" .. dir .. "'")
  end)

  it("two clients on one store: the second fails with code store", function()
    local id = register(ex)
    local a <close> = new_client(ex, { store = dir })
    assert.is_true(a.auth:login(id, PW):await())
    local b <close> = new_client(ex, { store = dir })
    local msg, code = login_fails(b, id)
    assert.equal("store", code)
    assert.matches(id .. "+BETA_EXCHANGE.lock: in use by another process", msg, 1, true)
    -- The first session is untouched, and once it is gone the store opens.
    assert.equal("Active", a.auth:state())
    assert.is_true(a.auth:logout():await())
    assert.is_true(b.auth:login(id, PW):await())
    assert.is_true(b.auth:logout():await())
  end)

  it("a corrupt .seq fails with code store and is left as it was", function()
    local id = register(ex)
    local path = dir .. "/" .. id .. "+BETA_EXCHANGE.seq"
    do
      local first <close> = new_client(ex, { store = dir })
      assert.is_true(first.auth:login(id, PW):await())
      assert.is_true(first.auth:logout():await())
    end
    local f = assert(io.open(path, "wb"))
    f:write(("garbage!"):rep(8))
    f:close()
    local c <close> = new_client(ex, { store = dir })
    local msg, code = login_fails(c, id)
    assert.equal("store", code)
    assert.matches(".seq: bad magic (not a seqstore file)", msg, 1, true)
    f = assert(io.open(path, "rb"))
    assert.equal(("garbage!"):rep(8), f:read("a"))
    f:close()
  end)

  it("a read-only directory fails with code store", function()
    assert(os.execute("chmod 500 '" .. dir .. "'"))
    local store = dir
    local probe = io.open(dir .. "/probe", "w")
    if probe then
      -- root ignores the mode bits: use a directory no one may write to.
      probe:close()
      os.remove(dir .. "/probe")
      store = "/sys"
    end
    local id = register(ex)
    local c <close> = new_client(ex, { store = store })
    local msg, code = login_fails(c, id)
    assert.equal("store", code)
    assert.matches("seqstore: " .. store .. "/" .. id .. "+BETA_EXCHANGE.lock: cannot open: ", msg, 1, true)
  end)
end)
