-- client.fix under load and at the session's end: receive never hangs or
-- leaks, send refuses at the call what the wire would not carry, the send
-- queue is bounded, and decimals go out as plain decimals.
local bt = require("betatrader")
local async = require("betatrader.async")
local testing = require("betatrader.testing")

local names = 0
local function active_client(ex, opts)
	local o = {
		api_url = ex.api_url,
		fix_host = ex.fix_host,
		fix_port = ex.fix_port,
		store = false,
		timeout = 2,
		logon_timeout = 2,
	}
	for k, v in pairs(opts or {}) do
		o[k] = v
	end
	local c = bt.client(o)
	names = names + 1
	local id = assert(c.auth:register(("flow%d_%d"):format(names, os.time()), "s3cret"):await())
	assert(c.auth:login(id, "s3cret"):await())
	assert.equal("Active", c.auth:state())
	return c
end

local function order(clordid, extra)
	local f = { { 11, clordid }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 1000000 }, { 40, 2 }, { 44, 1.2345 } }
	for _, x in ipairs(extra or {}) do
		f[#f + 1] = x
	end
	return f
end

-- Under ASan (its quarantine keeps freed memory) or valgrind (50x slower)
-- the polling specs run fewer rounds and only print the RSS; the Lua heap
-- check stays (the old code kept 0.35 KiB of it per poll).
local preload = os.getenv("LD_PRELOAD") or ""
local instrumented = preload:find("asan") or preload:find("vgpreload")
local POLLS = instrumented and 20000 or 1000000
local POLLS_BEFORE = instrumented and 20000 or 100000

-- Resident set size of this process, KiB.
local function rss_kib()
	local fh = assert(io.open("/proc/self/status"))
	local s = fh:read("a")
	fh:close()
	return tonumber(s:match("VmRSS:%s*(%d+)"))
end

-- Pumps until cond() or `seconds` pass; returns cond()'s last value.
local function wait_for(cond, seconds)
	local deadline = bt.now() + (seconds or 10)
	while not cond() and bt.now() < deadline do
		bt.sleep(0.01)
	end
	return cond()
end

describe("fix:receive at the end of a session", function()
	it("a pending receive() fails with the reason when the connection is lost", function()
		local ex = testing.exchange({})
		local c <close> = active_client(ex)
		local op = c.fix:receive() -- no timeout: only the session's end can finish it
		ex:stop()
		local msg, err, code = op:await(10)
		assert.is_nil(msg)
		assert.equal("disconnected", code, err)
		local st, reason, st_code = c.auth:state()
		assert.equal("Failed", st)
		assert.equal(reason, err)
		assert.equal(st_code, code)
	end)

	it("messages that arrived before the end come first, then receive() fails at once", function()
		local ex = testing.exchange({})
		local c <close> = active_client(ex)
		assert.is_true(c.fix:send("D", order("BEFORE")))
		assert.is_true(wait_for(function()
			return c.fix:pending() == 1
		end))
		ex:stop()
		assert.is_true(wait_for(function()
			return c.auth:state() == "Failed"
		end))
		local msg = assert(c.fix:receive():await(10))
		assert.equal("BEFORE", msg[11])
		local none, err, code = c.fix:receive():await(10)
		assert.is_nil(none)
		assert.equal("disconnected", code, err)
		-- and again: the end is remembered until the next login
		assert.equal("disconnected", select(3, c.fix:receive(1):await(10)))
	end)

	it("a peer Logout fails a pending receive() with its text", function()
		local ex = testing.exchange({ faults = { ["logout-active"] = "closing time" } })
		local ok, e = pcall(function()
			local c <close> = bt.client({
				api_url = ex.api_url,
				fix_host = ex.fix_host,
				fix_port = ex.fix_port,
				store = false,
				timeout = 2,
			})
			local id = assert(c.auth:register("peerlogout", "s3cret"):await())
			c.auth:login(id, "s3cret"):await()
			local msg, err, code = c.fix:receive():await(10)
			assert.is_nil(msg)
			assert.equal("disconnected", code, err)
			assert.matches("closing time", err)
		end)
		ex:stop()
		assert(ok, e)
	end)

	describe("with a healthy exchange", function()
		local ex
		setup(function()
			ex = testing.exchange({})
		end)
		teardown(function()
			ex:stop()
		end)

		it("logout() fails a pending receive() with cancelled", function()
			local c <close> = active_client(ex)
			local op = c.fix:receive()
			assert.is_true(c.auth:logout():await(10))
			local msg, err, code = op:await(10)
			assert.is_nil(msg)
			assert.equal("cancelled", code)
			assert.equal("session ended by logout()", err)
			-- a new session takes receive() again
			local id = c.auth:sender_comp_id()
			assert.is_true(c.auth:login(id, "s3cret"):await(10))
			assert.is_true(c.fix:send("D", order("AGAIN")))
			assert.equal("AGAIN", assert(c.fix:receive(10):await())[11])
		end)

		it("close() fails a pending receive() with cancelled", function()
			local c = active_client(ex)
			local op = c.fix:receive()
			c:close()
			local msg, err, code = op:await(10)
			assert.is_nil(msg)
			assert.equal("cancelled", code, err)
		end)

		it("fix:pending() counts what the I/O thread received before anything pumps", function()
			local c <close> = active_client(ex)
			assert.equal(0, c.fix:pending())
			assert.is_true(c.fix:send("D", order("P1")))
			-- no await, sleep or step: nothing dispatches events meanwhile
			local deadline = bt.now() + 10
			while c.fix:pending() == 0 and bt.now() < deadline do
				os.execute("sleep 0.01")
			end
			assert.equal(1, c.fix:pending())
			assert.equal("P1", assert(c.fix:receive():await(5))[11])
			assert.equal(0, c.fix:pending())
		end)

		it(("%d receive(0) polls leave nothing behind"):format(POLLS), function()
			local c <close> = active_client(ex)
			collectgarbage()
			local rss0, heap0 = rss_kib(), collectgarbage("count")
			for i = 1, POLLS do
				local _, _, code = c.fix:receive(0):await()
				if code ~= "timeout" then
					error("poll " .. i .. ": " .. tostring(code))
				end
			end
			collectgarbage()
			collectgarbage()
			local rss1, heap1 = rss_kib(), collectgarbage("count")
			print(("\n[receive(0) x %d] VmRSS %d -> %d KiB, Lua heap %.0f -> %.0f KiB"):format(
				POLLS, rss0, rss1, heap0, heap1))
			-- the old code kept 0.8 KiB per poll: 800 MB here
			assert.is_true(heap1 - heap0 < 1024, "Lua heap grew " .. (heap1 - heap0) .. " KiB")
			if not instrumented then
				assert.is_true(rss1 - rss0 < 32 * 1024, "RSS grew " .. (rss1 - rss0) .. " KiB")
			end
			assert.is_nil(async.timeout(), "a timer was left behind")
			assert.equal(0, c.fix._receivers.live)
		end)

		it(("a message after %d polls is delivered like after none"):format(POLLS_BEFORE), function()
			local c <close> = active_client(ex)
			local function delivery(id)
				local t0 = bt.now()
				assert.is_true(c.fix:send("D", order(id)))
				local msg = assert(c.fix:receive(10):await())
				assert.equal(id, msg[11])
				return bt.now() - t0
			end
			local before = delivery("FRESH")
			for _ = 1, POLLS_BEFORE do
				c.fix:receive(0):await()
			end
			-- nothing of the polls is waiting: the next message goes straight
			-- to the next receive, not through 100,000 dead entries
			assert.equal(0, c.fix._receivers.live)
			assert.equal(0, c.fix._receivers.tail)
			assert.is_nil(async.timeout())
			local after = delivery("AFTERPOLLS")
			print(("\n[delivery] %.2f ms fresh, %.2f ms after %d polls"):format(
				before * 1000, after * 1000, POLLS_BEFORE))
		end)

		it("a cancelled receive(30) does not keep bt.run() busy", function()
			local c <close> = active_client(ex)
			local t0 = bt.now()
			bt.run(function()
				local op = c.fix:receive(30)
				assert.is_true(op:cancel())
			end)
			-- well under the 30 s the old timer task kept the scheduler busy
			assert.is_true(bt.now() - t0 < 15)
			bt.step(0)
			assert.is_nil(async.timeout(), "the cancelled receive left its timer")
			assert.equal(0, c.fix._receivers.live)
			-- a receive <close>d at scope exit likewise
			do
				local op <close> = c.fix:receive(30) -- luacheck: ignore 211
			end
			bt.step(0)
			assert.is_nil(async.timeout())
		end)
	end)
end)

describe("fix:send limits", function()
	local ex
	setup(function()
		ex = testing.exchange({})
	end)
	teardown(function()
		ex:stop()
	end)

	it("takes up to 1014 fields, which the exchange accepts, and refuses more", function()
		local c <close> = active_client(ex)
		local fields = order("WIDE")
		for tag = 20000, 20000 + 1014 - #fields - 1 do
			fields[#fields + 1] = { tag, "v" }
		end
		assert.equal(1014, #fields)
		assert.is_true(c.fix:send("D", fields))
		local msg, err, code = c.fix:receive(10):await()
		assert.is_nil(err, code)
		assert.equal("WIDE", msg[11])
		assert.equal("Active", c.auth:state())
		fields[#fields + 1] = { 30000, "v" }
		local ok, e = pcall(function()
			c.fix:send("D", fields)
		end)
		assert.is_false(ok)
		assert.matches("^spec/fix_flow_spec%.lua:%d+: bad argument #2 to 'send' %(1015 fields, at most 1014%)$",
			e)
		for _ = 1, 9 do
			fields[#fields + 1] = { 30000 + #fields, "v" }
		end
		assert.is_false(pcall(c.fix.send, c.fix, "D", fields)) -- 1024: the exchange's own limit
		assert.equal("Active", c.auth:state())
	end)

	it("refuses a body over max_message_size at the call; what it takes reaches the wire", function()
		local out = 0
		local c <close> = active_client(ex, {
			max_message_size = 1024,
			trace = function(dir, frame)
				if dir == "out" and frame:find("\00135=D\001", 1, true) then
					out = out + 1
				end
			end,
		})
		-- the largest 58 value accepted: every accepted message goes out
		local accepted, refused
		for len = 860, 1024 do
			local ok, e = pcall(function()
				local sent = c.fix:send("D", order("BIG" .. len, { { 58, ("x"):rep(len) } }))
				return sent
			end)
			if ok then
				assert.is_true(e)
				accepted = len
			else
				assert.matches("^spec/fix_flow_spec%.lua:%d+: bad argument to 'send' %(message body of up "
					.. "to %d+ bytes %(header included%) over max_message_size %(1024%)%)$", e)
				refused = len
				break
			end
		end
		assert.is_truthy(accepted)
		assert.equal(accepted + 1, refused)
		for _ = 860, accepted do
			local msg, err, code = c.fix:receive(10):await()
			assert.is_nil(err, code)
			assert.equal("8", msg.msg_type)
		end
		assert.equal(accepted - 860 + 1, out)
		-- many short fields: 100 x "2xxxx=v" and the header fit in 1024 bytes
		local many = order("MANY")
		for tag = 20001, 20100 - #many do
			many[#many + 1] = { tag, "v" }
		end
		assert.is_true(c.fix:send("D", many))
		local msg, err, code = c.fix:receive(10):await()
		assert.is_nil(err, code)
		assert.equal("MANY", msg[11])
		assert.equal(accepted - 860 + 2, out)
		assert.equal("Active", c.auth:state())
	end)
end)

describe("fix:send decimals", function()
	local ex
	setup(function()
		ex = testing.exchange({})
	end)
	teardown(function()
		ex:stop()
	end)

	it("encodes every finite float as the shortest plain decimal that reads back the same", function()
		local frames = {}
		local c <close> = active_client(ex, {
			trace = function(dir, frame)
				if dir == "out" then
					frames[#frames + 1] = frame
				end
			end,
		})
		local cases = {
			{ 0.00001, "0.00001" },
			{ 0.00005, "0.00005" },
			{ 1e15, "1000000000000000" },
			{ -0.0, "0" },
			{ 0.0, "0" },
			{ 2.0, "2" },
			{ 1.08345, "1.08345" },
			{ 0.1 + 0.2, "0.30000000000000004" },
			{ 1e-7, "0.0000001" },
			{ -123456.789, "-123456.789" },
			{ 2.0 ^ 53, "9007199254740992" },
			{ 1e22, "10000000000000000000000" },
			{ 5e-324, "0." .. ("0"):rep(323) .. "5" },
			{ 1.7976931348623157e308, "17976931348623157" .. ("0"):rep(292) },
		}
		local fields = { { 11, "DEC" }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 1000 }, { 40, 2 }, { 44, 1.5 } }
		for i, case in ipairs(cases) do
			fields[#fields + 1] = { 6000 + i, case[1] }
		end
		assert.is_true(c.fix:send("D", fields))
		local ack = assert(c.fix:receive(10):await())
		assert.equal("DEC", ack[11])
		local sent
		for _, f in ipairs(frames) do
			if f:find("\00111=DEC\001", 1, true) then
				sent = f
			end
		end
		assert.is_string(sent)
		for i, case in ipairs(cases) do
			local v = sent:match("\001" .. (6000 + i) .. "=([^\001]*)\001")
			assert.equal(case[2], v)
			assert.is_nil(v:find("[eE]"))
			assert.equal(case[1], tonumber(v))
		end
	end)

	it("raises on NaN and infinities, naming the field", function()
		local c <close> = active_client(ex)
		local cases = { { 0 / 0, "NaN" }, { math.huge, "an infinite number" },
			{ -math.huge, "an infinite number" } }
		for _, case in ipairs(cases) do
			local line = debug.getinfo(1, "l").currentline + 2
			local ok, e = pcall(function()
				c.fix:send("D", { { 11, "X" }, { 44, case[1] } })
			end)
			assert.is_false(ok)
			assert.equal("spec/fix_flow_spec.lua:" .. line .. ": bad argument #2 to 'send' (field 2, tag 44: "
				.. case[2] .. " is not a FIX value)", e)
		end
		assert.equal("timeout", select(3, c.fix:receive(0.2):await()))
	end)
end)

describe("fix send queue", function()
	it("max_send_queue is checked like every option", function()
		local ok, e = pcall(bt.client, { max_send_queue = 10 })
		assert.is_false(ok)
		assert.matches("bad option 'max_send_queue' %(10 out of range 1024%.%.1073741824%)", e)
		assert.equal(8 * 1024 * 1024, require("betatrader.config").defaults.max_send_queue)
	end)

	it("is bounded: busy past max_send_queue, flat memory, everything accepted arrives", function()
		local ex = testing.exchange({})
		local ok, e = pcall(function()
			local limit = 256 * 1024
			local c <close> = active_client(ex, { max_send_queue = limit, heartbeat = 60, timeout = 30 })
			assert.same({ 0, 0 }, { c.fix:queued() })
			assert.is_true(c.fix:flush():await(5))
			collectgarbage()
			local rss0 = rss_kib()
			assert(ex:kill("STOP"))
			local accepted, busy, last_err = 0, 0, nil
			local fields = order("Q")
			-- until the kernel's socket buffers are full, then ours, and it
			-- stays so: busy, and still full 0.2 s later
			local deadline, stuck = bt.now() + 60, false
			while not stuck and bt.now() < deadline do
				fields[1][2] = "Q" .. accepted
				local sent, err, code = c.fix:send("D", fields)
				if sent then
					accepted = accepted + 1
				else
					assert.equal("busy", code, err)
					last_err = err
					busy = busy + 1
					bt.sleep(0.2)
					stuck = c.fix:queued() >= limit
				end
			end
			assert.is_true(stuck)
			-- and stays so: nothing more is accepted
			for _ = 1, 100 do
				assert.equal("busy", select(3, c.fix:send("D", fields)))
			end
			local rss1 = rss_kib()
			local bytes, msgs = c.fix:queued()
			print(("\n[send queue] exchange stopped: %d accepted, %d busy, queued %d bytes / %d msgs, "
				.. "VmRSS %d -> %d KiB"):format(accepted, busy, bytes, msgs, rss0, rss1))
			assert.is_true(busy > 0)
			local n = tonumber(last_err:match("^send queue full %((%d+) bytes queued%)$"))
			assert.is_true(n >= limit, last_err)
			assert.is_true(bytes >= limit and bytes < limit + 4096, bytes)
			assert.is_true(msgs > 0 and msgs <= accepted)
			-- the old unbounded queue grew by 460 MB in 5 s here
			if not instrumented then
				assert.is_true(rss1 - rss0 < 64 * 1024, "RSS grew " .. (rss1 - rss0) .. " KiB")
			end
			assert.equal("timeout", select(3, c.fix:flush(0.2):await()))
			local flush = c.fix:flush(60)
			assert(ex:kill("CONT"))
			assert.is_true(flush:await(60))
			assert.same({ 0, 0 }, { c.fix:queued() })
			-- every accepted order is acknowledged, in order
			for i = 0, accepted - 1 do
				local msg, err, code = c.fix:receive(30):await()
				assert.is_nil(err, code)
				if msg[11] ~= "Q" .. i then
					error(("ack %d is for %s"):format(i, tostring(msg[11])))
				end
			end
			assert.equal("Active", c.auth:state())
			assert.is_true(c.auth:logout():await(10))
		end)
		ex:kill("CONT")
		ex:stop()
		assert(ok, e)
	end)

	it("flush() fails with the session's end when it comes first", function()
		local ex = testing.exchange({})
		local ok, e = pcall(function()
			-- A queue larger than anything the kernel's socket buffers can still
			-- take once the peer stopped reading (loopback: a few MiB), so a
			-- full queue cannot drain before the session ends. valgrind is too
			-- slow to fill that much; it keeps a small one.
			local LIMIT = preload:find("vgpreload") and 64 * 1024 or 16 * 1024 * 1024
			local c <close> = active_client(ex, { max_send_queue = LIMIT, heartbeat = 60,
				logout_timeout = 1 })
			assert(ex:kill("STOP"))
			-- until the queue stays full: the kernel's buffers took what they
			-- could and the I/O thread can hand over nothing more
			local deadline, stuck = bt.now() + 60, false
			while not stuck and bt.now() < deadline do
				if select(3, c.fix:send("D", order("X"))) == "busy" then
					bt.sleep(0.2)
					stuck = c.fix:queued() >= LIMIT - 4096
				end
			end
			assert.is_true(stuck)
			local flush = c.fix:flush()
			assert.equal("pending", flush:status())
			-- the Logout waits behind the queue and times out: a clean end
			local logout = c.auth:logout()
			local done, err, code = flush:await(30)
			assert.is_nil(done)
			assert.equal("cancelled", code, err)
			assert.equal("session ended by logout()", err)
			assert.is_true(logout:await(30))
			assert.same({ 0, 0 }, { c.fix:queued() })
		end)
		ex:kill("CONT")
		ex:stop({ check = false })
		assert(ok, e)
	end)
end)
