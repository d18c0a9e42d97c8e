-- Options for venues without BetaTrader's HTTP API (issue 15, part 1):
-- api_url = false.
local bt = require("betatrader")
local testing = require("betatrader.testing")
local helpers = require("spec.support.helpers")

describe("api_url = false", function()
	it("register() and profile() fail at once with invalid_state; login() works over FIX", function()
		local ex = testing.exchange()
		local id = helpers.register(ex, "nohttp", "s3cret")
		local c <close> = helpers.fix_client(ex)
		local ok, msg, code = c.auth:register("other", "s3cret"):await(1)
		assert.is_nil(ok)
		assert.equal("invalid_state", code)
		assert.equal("register: this client has no HTTP API (api_url = false)", msg)
		ok, msg, code = c.auth:profile():await(1)
		assert.is_nil(ok)
		assert.equal("invalid_state", code)
		assert.equal("profile: this client has no HTTP API (api_url = false)", msg)
		assert.equal("Disconnected", c.auth:state())
		assert.is_true(c.auth:login(id, "s3cret"):await())
		assert.equal("Active", c.auth:state())
		assert(c.auth:logout():await())
		ex:stop()
	end)

	it("is checked: false or an http(s) URL", function()
		local ok, err = pcall(bt.client, { api_url = true })
		assert.is_false(ok)
		assert.matches("bad option 'api_url'", err)
		local c <close> = bt.client({ api_url = false })
		assert.equal("Disconnected", c.auth:state())
	end)
end)

describe('auth = "logon"', function()
	local function logon_client(ex, extra)
		local opts = { auth = "logon" }
		for k, v in pairs(extra or {}) do
			opts[k] = v
		end
		return helpers.fix_client(ex, opts)
	end

	it("the Logon ack is the authentication: Active with no 35=BE, no password", function()
		local ex = testing.exchange()
		local id = helpers.register(ex, "bylogon", "s3cret")
		local outs = {}
		local c <close> = logon_client(ex, {
			trace = function(dir, frame)
				if dir == "out" then
					outs[#outs + 1] = frame
				end
			end,
		})
		assert.is_true(c.auth:login(id):await())
		assert.equal("Active", c.auth:state())
		assert.equal(id, c.auth:sender_comp_id())
		for _, f in ipairs(outs) do
			assert.is_nil(f:find("\00135=BE\001", 1, true), f)
		end
		assert(c.auth:logout():await())
		ex:stop()
	end)

	it("a Logout instead of the ack stays rejected", function()
		local ex = testing.exchange()
		local c <close> = logon_client(ex)
		local ok, msg, code = c.auth:login("NOBODY"):await()
		assert.is_nil(ok)
		assert.equal("rejected", code, msg)
		assert.equal("Failed", c.auth:state())
		ex:stop()
	end)

	it("is checked; the password stays required with the default", function()
		local ok, err = pcall(bt.client, { auth = "password" })
		assert.is_false(ok)
		assert.matches([[bad option 'auth' %("user_request" or "logon" expected, got 'password'%)]], err)
		local c <close> = bt.client({})
		assert.has_error(function()
			c.auth:login("CLIENT0001")
		end)
	end)
end)

describe("check_comp_id", function()
	-- the rule itself: test_fix_session.c, test_comp_id_session_only
	it('is true (default) or "session", and "session" logs in as usual', function()
		local ok, err = pcall(bt.client, { check_comp_id = false })
		assert.is_false(ok)
		assert.matches([[bad option 'check_comp_id' %(true or "session" expected, got false%)]], err)
		local ex = testing.exchange()
		local c <close> = helpers.client(ex, { check_comp_id = "session" })
		local id = assert(c.auth:register("compid", "s3cret"):await())
		assert.is_true(c.auth:login(id, "s3cret"):await())
		assert.is_true(helpers.buy_order(c, "C1"))
		local er = assert(c.fix:receive(10):await())
		assert.equal("C1", er[11])
		assert(c.auth:logout():await())
		ex:stop()
	end)
end)

describe("logon_seq", function()
	-- the rule itself: test_fix_session.c, test_logon_seq_adopt
	it('is "strict" (default) or "adopt", and "adopt" logs in as usual', function()
		local ok, err = pcall(bt.client, { logon_seq = "loose" })
		assert.is_false(ok)
		assert.matches([[bad option 'logon_seq' %("strict" or "adopt" expected, got 'loose'%)]], err)
		local ex = testing.exchange()
		local c <close> = helpers.client(ex, { logon_seq = "adopt" })
		local id = assert(c.auth:register("adopter", "s3cret"):await())
		assert.is_true(c.auth:login(id, "s3cret"):await())
		assert(c.auth:logout():await())
		ex:stop()
	end)
end)
