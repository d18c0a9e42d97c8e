local bt = require("betatrader")
local core = require("betatrader.core")

describe("betatrader module", function()
  it("has a semantic version that matches the C core", function()
    assert.matches("^%d+%.%d+%.%d+$", bt._VERSION)
    assert.equal(bt._VERSION, core.version)
  end)

  it("lists exactly the six states and the stable codes", function()
    assert.same({ "Disconnected", "Registering", "Connecting", "Authenticating", "Active", "Failed" },
      bt.states)
    for _, c in ipairs(bt.codes) do
      assert.matches("^[a-z_]+$", c)
    end
  end)

  it("starts a client Disconnected with no client id and no error", function()
    local c <close> = bt.client{ store = false }
    assert.equal("Disconnected", c.auth:state())
    assert.is_nil(c.auth:sender_comp_id())
    assert.is_nil(c.auth:last_error())
  end)

  it("refuses use after close with a clear error", function()
    local c = bt.client{ store = false }
    c:close()
    c:close() -- idempotent
    assert.has_error(function() c.auth:state() end, "client is closed")
  end)

  it("returns nothing global", function()
    for k in pairs(_G) do
      assert.is_not.matches("^betatrader", k)
    end
  end)
end)
