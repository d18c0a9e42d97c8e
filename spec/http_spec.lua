-- The HTTP channel against hostile answers (issue 12): a redirect is never
-- followed, so the registration body (the password) never reaches another
-- server; register() fails with http_status naming the Location.
local bt = require("betatrader")
local testing = require("betatrader.testing")
local socket = require("cqueues.socket")

describe("a redirect from the API", function()
  it("is not followed: the second server never receives anything", function()
    -- The second server: a listening socket nobody accepts on. A client
    -- that connected would sit in its backlog, so accept(0) shows it.
    local other = socket.listen("127.0.0.1", 0)
    assert(other:listen())
    local _, host, port = other:localname()
    local target = ("http://%s:%d/api/register"):format(host, port)
    local ex <close> = testing.exchange({ faults = { "http-redirect=" .. target } })
    local c <close> = bt.client{
      api_url = ex.api_url, fix_host = ex.fix_host, fix_port = ex.fix_port,
      store = false, timeout = 5,
    }
    local id, msg, code = c.auth:register("redirected", "s3cret"):await()
    assert.is_nil(id)
    assert.equal("http_status", code)
    assert.equal("register failed (HTTP 307): redirected to " .. target
      .. " (redirects are not followed: set api_url to the right address)", msg)
    assert.same({ "Failed", msg, "http_status" }, { c.auth:state() })
    local conn, err = other:accept(0)
    assert.is_nil(conn)
    assert.is_not_nil(err)
    other:close()
  end)
end)

describe("client ids", function()
  it("login() refuses what register() refuses: bytes outside printable ASCII", function()
    local c <close> = bt.client{ store = false }
    local ok, err = pcall(c.auth.login, c.auth, "CLI\195\137", "pw")
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'login' %(client_id contains bytes outside printable ASCII%)",
      err)
  end)
end)
