--- A scenario test as a user of the library writes one: start a local
-- exchange with a named fault, drive a client into it, assert what the user
-- sees. Run it with:  lua5.4 /usr/bin/busted examples/scenario_spec.lua
local bt = require("betatrader")
local testing = require("betatrader.testing")

describe("an exchange that never answers the UserRequest", function()
  local ex

  setup(function()
    ex = testing.exchange{ faults = { "no-user-response" } }
  end)

  teardown(function()
    ex:stop()
  end)

  it("fails the login with a timeout and says what was missing", function()
    local client <close> = bt.client{
      api_url = ex.api_url, fix_host = ex.fix_host, fix_port = ex.fix_port,
      store = false, timeout = 0.5,
    }
    local seen = {}
    client.auth:on_state(function(new) seen[#seen + 1] = new end)

    local id = assert(client.auth:register("scenario", "pw-123456"):await())
    local ok, message, code = client.auth:login(id, "pw-123456"):await()

    assert.is_nil(ok)
    assert.equal("timeout", code)
    assert.equal("no UserResponse within 0.5 s", message)
    assert.equal("Failed", (client.auth:state()))
    assert.same({ "Registering", "Disconnected", "Connecting", "Authenticating", "Failed" }, seen)
  end)
end)
