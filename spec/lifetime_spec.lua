-- Lifetimes, handler errors, calls after close, and await in handlers, against
-- the real local exchange.
local bt = require("betatrader")
local testing = require("betatrader.testing")

local names = 0
local function username()
	names = names + 1
	return ("life%d_%d"):format(os.time() % 100000, names)
end

describe("client lifetimes and handlers", function()
	local ex
	setup(function()
		ex = testing.exchange({})
	end)
	teardown(function()
		ex:stop()
	end)

	local function new_client(extra)
		local opts = { api_url = ex.api_url, fix_host = ex.fix_host, fix_port = ex.fix_port,
			store = false, timeout = 2 }
		for k, v in pairs(extra or {}) do
			opts[k] = v
		end
		return bt.client(opts)
	end

	local function account()
		local c <close> = new_client()
		return assert(c.auth:register(username(), "s3cret"):await())
	end

	describe("an on_state handler", function()
		it("that raises is reported with its traceback; login and other handlers go on", function()
			local c <close> = new_client()
			local id = account()
			local reported, seen = {}, {}
			local old = bt.on_error(function(msg)
				reported[#reported + 1] = msg
			end)
			c.auth:on_state(function(new)
				if new == "Active" then
					error("handler bug")
				end
			end)
			c.auth:on_state(function(new)
				seen[#seen + 1] = new
			end)
			local ok, msg, code = c.auth:login(id, "s3cret"):await()
			bt.on_error(old)
			assert.is_true(ok, msg, code)
			assert.equal("Active", c.auth:state())
			assert.equal("Active", seen[#seen])
			assert.equal(1, #reported)
			assert.matches("handler bug", reported[1])
			assert.matches("lifetime_spec%.lua:%d+: in function", reported[1])
		end)

		it("may await, in a task too", function()
			local c <close> = new_client()
			local id = account()
			local log = {}
			c.auth:on_state(function(new)
				if new == "Active" then
					-- the scheduler runs on meanwhile: the task may log out
					local slept = bt.sleep(0.01)
					log[#log + 1] = slept
				end
			end)
			bt.run(function()
				assert.is_true(c.auth:login(id, "s3cret"):await(5))
				log[#log + 1] = "logged in"
				bt.sleep(0.05)
				assert.is_true(c.auth:logout():await(5))
			end)
			assert.same({ "logged in", true }, log)
		end)
	end)

	it("a trace handler that raises is reported, and the login still succeeds", function()
		local reported = {}
		local old = bt.on_error(function(msg)
			reported[#reported + 1] = msg
		end)
		local c <close> = new_client({ trace = function(dir)
			if dir == "in" then
				error("trace bug")
			end
		end })
		local ok = c.auth:login(account(), "s3cret"):await()
		bt.step(0)
		bt.on_error(old)
		assert.is_true(ok)
		assert.is_true(#reported >= 1)
		assert.matches("trace bug", reported[1])
	end)

	describe("garbage collection", function()
		it("keeps the client of a kept auth alive, and of a kept op", function()
			local id = account()
			local auth = new_client().auth
			collectgarbage()
			collectgarbage()
			local op = new_client().auth:login(id, "s3cret")
			collectgarbage()
			collectgarbage()
			local ok, msg, code = op:await(5)
			assert.is_true(ok, msg, code)
			collectgarbage()
			assert.equal("Disconnected", auth:state())
			local fix = new_client().fix
			collectgarbage()
			collectgarbage()
			assert.same({ nil, "not Active", "invalid_state" },
				{ (function(_, m, c) return nil, m and m:match("not Active"), c end)(fix:send("D", { { 11, "x" } })) })
		end)

		it("closes a client once nothing of it is reachable", function()
			local weak = setmetatable({}, { __mode = "k" })
			do
				local c = new_client()
				weak[c] = true
				weak[c.auth] = true
			end
			collectgarbage()
			collectgarbage()
			assert.is_nil(next(weak))
		end)
	end)

	it("accepts login() right after login_op:cancel()", function()
		local c <close> = new_client()
		local id = account()
		-- On a loaded machine the whole login can finish before cancel() runs
		-- (the Lua thread descheduled): then log out and try again.
		local first
		for _ = 1, 20 do
			first = c.auth:login(id, "s3cret")
			if first:cancel() then
				break
			end
			assert.is_true(first:await(5))
			assert.is_true(c.auth:logout():await(5))
			first = nil
		end
		assert(first, "every login finished before cancel() could run")
		local second = c.auth:login(id, "s3cret")
		local ok, msg, code = second:await(5)
		assert.is_true(ok, msg, code)
		assert.equal("cancelled", select(3, first:await()))
		bt.sleep(0.05) -- the cancelled attempt's hook and connection are gone by now
		bt.step(0)
		assert.equal("Active", c.auth:state())
		assert.is_true(c.auth:logout():await(5))
		-- the same after a cancelled register()
		local reg = c.auth:register(username(), "x")
		assert.is_true(reg:cancel())
		ok, msg, code = c.auth:login(id, "s3cret"):await(5)
		assert.is_true(ok, msg, code)
		assert.is_true(c.auth:logout():await(5))
	end)

	it("answers every call after close() the same documented way", function()
		local c = new_client()
		local id = account()
		assert.is_true(c.auth:login(id, "s3cret"):await(5))
		c:close()
		assert.equal("Disconnected", c.auth:state())
		assert.is_nil(c.auth:last_error())
		assert.is_nil(c.auth:sender_comp_id())
		for _, op in ipairs({ c.auth:login(id, "s3cret"), c.auth:register("x", "y"), c.auth:logout(),
			c.auth:profile(), c.fix:receive(), c.fix:receive(1) }) do
			assert.same({ nil, "client is closed", "invalid_state" }, { op:await(1) })
		end
		assert.same({ nil, "client is closed", "invalid_state" }, { c.fix:send("D", { { 11, "x" } }) })
		c:close()
	end)

	it("suggests store or reset_on_logon when the exchange says MsgSeqNum too low", function()
		local id = account()
		local d1, d2 = os.tmpname(), os.tmpname()
		os.remove(d1)
		os.remove(d2)
		finally(function()
			os.execute("rm -rf " .. d1 .. " " .. d2)
		end)
		local a <close> = new_client({ store = d1 })
		assert.is_true(a.auth:login(id, "s3cret"):await(5))
		assert(a.fix:send("D", { { 11, "A" }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 1 }, { 40, 1 } }))
		assert.is_true(a.auth:logout():await(5))
		local b <close> = new_client({ store = d2 })
		local ok, msg = b.auth:login(id, "s3cret"):await(5)
		assert.is_nil(ok)
		assert.matches("MsgSeqNum too low", msg)
		assert.matches("reset_on_logon", msg)
		assert.matches(d2, msg, 1, true)
	end)
end)
