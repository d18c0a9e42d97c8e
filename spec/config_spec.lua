local config = require("betatrader.config")

describe("client options", function()
  it("fills the documented defaults", function()
    local c = config.check({})
    assert.equal("http://127.0.0.1:8080", c.api_url)
    assert.equal("127.0.0.1", c.fix_host)
    assert.equal(9878, c.fix_port)
    assert.equal("BETA_EXCHANGE", c.target_comp_id)
    assert.equal(30, c.heartbeat)
    assert.equal(10, c.timeout)
    assert.equal(10, c.logon_timeout)
    assert.equal(10, c.logout_timeout)
    assert.equal(10, c.connect_timeout)
    assert.equal(".betatrader", c.store)
    assert.is_false(c.reset_on_logon)
    assert.is_nil(c.tls)
  end)

  it("takes its defaults from the C core's one table", function()
    local core = require("betatrader.core")
    local d = core.defaults
    -- the values csrc/core/defaults.h holds, under the option names and in seconds
    assert.equal(10, d.timeout)
    assert.equal("integer", math.type(d.timeout))
    assert.equal(10, d.connect_timeout) -- HTTP and FIX alike
    assert.equal(10, d.logon_timeout)
    assert.equal(10, d.logout_timeout)
    assert.equal(64 * 1024, d.max_message_size)
    assert.equal(1024 * 1024, d.max_response_size)
    assert.equal(8 * 1024 * 1024, d.max_send_queue)
    assert.equal(100000, d.resend_window)
    assert.same({ interval = 1, max_interval = 30, backoff = 2, jitter = 0.1 }, d.reconnect)
    assert.same({ interval = 1, max_interval = 30, backoff = 2, jitter = 0.1 },
      config.check({ reconnect = {} }).reconnect)
    assert.is_nil(config.check({}).reconnect) -- off
    local c = config.check({})
    for _, k in ipairs({ "api_url", "fix_host", "fix_port", "target_comp_id", "store", "heartbeat",
                         "timeout", "connect_timeout", "logon_timeout", "logout_timeout",
                         "resend_window", "max_message_size", "max_response_size",
                         "max_send_queue" }) do
      assert.equal(d[k], c[k], k)
    end
  end)

  it("keeps given values and derives the timeouts from timeout", function()
    local c = config.check({ timeout = 2, logout_timeout = 0.5, fix_port = 1, tls = true, store = false })
    assert.equal(2, c.logon_timeout)
    assert.equal(0.5, c.logout_timeout)
    assert.equal(1, c.fix_port)
    assert.same({ verify = true }, c.tls)
    assert.is_false(c.store)
  end)

  it("strips trailing slashes from api_url", function()
    assert.equal("https://x.example", config.check({ api_url = "https://x.example//" }).api_url)
  end)

  it("accepts integral floats where an integer is asked", function()
    local c = config.check({ heartbeat = 2.0, fix_port = 9878.0, max_message_size = 4096.0 })
    assert.equal(2, c.heartbeat)
    assert.equal("integer", math.type(c.heartbeat))
    assert.equal("integer", math.type(c.fix_port))
    assert.equal("integer", math.type(c.max_message_size))
  end)

  it("points misuse errors at the caller's line", function()
    local bt = require("betatrader")
    local here = debug.getinfo(1, "S").short_src
    local bad = {
      { heartbeat = "x" }, { heartbeat = 0 }, { heartbeat = 2.5 }, { timeout = -1 },
      { fix_port = 0 }, { tls = { ca_file = 1 } }, { tls = { bogus = true } }, { tls = 3 },
      { store = "" }, { fsync = 1 }, { api_url = "ftp://x" }, { fix_prot = 1 },
      { logon_username = "a" }, { trace = 1 }, 5,
    }
    for _, opts in ipairs(bad) do
      local ok, err = pcall(function() bt.client(opts) end)
      assert.is_false(ok)
      assert.equal(here, err:match("^(.-):%d+: "), err)
    end
  end)

  local function raises(opts, pattern)
    local ok, err = pcall(config.check, opts)
    assert.is_false(ok)
    assert.matches(pattern, err)
  end

  it("refuses an unknown option, naming it", function()
    raises({ fix_prot = 9878 }, "unknown option 'fix_prot'")
  end)

  it("refuses wrong types, naming the option", function()
    raises({ fix_port = "9878" }, "bad option 'fix_port' %(number expected, got string%)")
    raises({ fix_host = 1 }, "bad option 'fix_host' %(string expected, got number%)")
    raises({ reset_on_logon = 1 }, "bad option 'reset_on_logon' %(boolean expected, got number%)")
    raises({ tls = "yes" }, "bad option 'tls' %(table, true or nil expected, got string%)")
    raises("x", "bad argument #1 to 'client' %(table expected, got string%)")
    raises({ [1] = true }, "bad option 1")
  end)

  it("refuses out-of-range values, naming the option", function()
    raises({ fix_port = 0 }, "bad option 'fix_port' %(0 out of range 1..65535%)")
    raises({ fix_port = 70000 }, "bad option 'fix_port'")
    raises({ fix_port = 1.5 }, "bad option 'fix_port' %(integer expected")
    raises({ heartbeat = 0 }, "bad option 'heartbeat'")
    raises({ timeout = -1 }, "bad option 'timeout'")
    raises({ timeout = 0 / 0 }, "bad option 'timeout'")
    raises({ max_message_size = 10 }, "bad option 'max_message_size'")
  end)

  it("refuses malformed strings", function()
    raises({ api_url = "ftp://x" }, "bad option 'api_url' %(http:// or https:// URL expected")
    raises({ api_url = "" }, "bad option 'api_url' %(empty string%)")
    raises({ fix_host = "a\1b" }, "bad option 'fix_host' %(contains control characters%)")
    raises({ target_comp_id = "A B" }, "bad option 'target_comp_id'")
    raises({ target_comp_id = string.rep("X", 65) }, "bad option 'target_comp_id' %(longer than 64")
  end)

  it("checks TLS sub-options", function()
    raises({ tls = { ca = "x" } }, "bad option 'tls.ca' %(unknown TLS option%)")
    raises({ tls = { ca_file = 3 } }, "bad option 'tls.ca_file' %(string expected")
    raises({ tls = { cert_file = "c.pem" } }, "cert_file and key_file go together")
    local c = config.check({ tls = { ca_file = "ca.pem", server_name = "exchange" } })
    assert.same({ ca_file = "ca.pem", server_name = "exchange", verify = true }, c.tls)
  end)

  it("needs logon_username and logon_password together", function()
    raises({ logon_username = "u" }, "go together")
  end)
end)
