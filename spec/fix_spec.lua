-- client.fix once Active: application messages reach the exchange and its
-- answers come back decoded; session faults do not break an Active session.
local bt = require("betatrader")
local testing = require("betatrader.testing")

local names = 0
local function active_client(ex, trace)
	local c = bt.client({
		api_url = ex.api_url,
		fix_host = ex.fix_host,
		fix_port = ex.fix_port,
		store = false,
		timeout = 1,
		logon_timeout = 1,
		trace = trace,
	})
	names = names + 1
	local id = assert(c.auth:register(("trader%d"):format(names), "s3cret"):await())
	assert(c.auth:login(id, "s3cret"):await())
	assert.equal("Active", c.auth:state())
	return c
end

local function order(clordid)
	return {
		{ 11, clordid },
		{ 55, "EUR/USD" },
		{ 54, 1 },
		{ 38, 1000000 },
		{ 40, 2 },
		{ 44, 1.2345 },
		{ 60, "20240102-03:04:05.678" },
	}
end

-- fields holds the body only, in wire order; the header and the trailer
-- are apart, and msg[tag] sees all three.
local header_tags = { [8] = true, [9] = true, [35] = true, [49] = true, [56] = true, [34] = true,
	[52] = true, [43] = true, [97] = true, [122] = true }
local function assert_split(msg, msg_type)
	assert.same({ 8, "FIX.4.4" }, msg.header[1])
	assert.same({ 35, msg_type }, msg.header[3])
	for _, f in ipairs(msg.header) do
		assert.is_true(header_tags[f[1]], "header tag " .. f[1])
	end
	assert.equal(1, #msg.trailer)
	assert.equal(10, msg.trailer[1][1])
	assert.matches("^%d%d%d$", msg[10])
	assert.is_true(#msg.fields > 0)
	for _, f in ipairs(msg.fields) do
		assert.is_nil(header_tags[f[1]], "body tag " .. f[1])
		assert.not_equal(10, f[1])
	end
	assert.equal(tostring(msg.seq_num), msg[34])
end

-- The local exchange acknowledges a NewOrderSingle with an ExecutionReport
-- (New) echoing the order, and answers any other application message with a
-- BusinessMessageReject (35=j, 380=3) naming our MsgSeqNum and type.
local function assert_new_order_ack(msg, clordid)
	assert.is_table(msg)
	assert.equal("8", msg.msg_type)
	assert.equal(clordid, msg[11])
	assert.equal("EUR/USD", msg[55])
	assert.equal("1", msg[54])
	assert.equal("1000000", msg[38])
	assert.equal("2", msg[40])
	assert.equal("1.2345", msg[44])
	assert.equal("0", msg[150]) -- ExecType New
	assert.equal("0", msg[39]) -- OrdStatus New
	assert.equal("1000000", msg[151])
	assert.matches("^O%d+$", msg[37])
	assert.matches("^X%d+$", msg[17])
	assert.equal("BETA_EXCHANGE", msg[49])
	assert.is_true(math.type(msg.seq_num) == "integer" and msg.seq_num >= 2)
	assert_split(msg, "8")
end

local function assert_reject_of(msg, msg_type)
	assert.is_table(msg)
	assert.equal("j", msg.msg_type)
	assert.equal(msg_type, msg[372])
	assert.equal("3", msg[380])
	assert.equal("unsupported message type", msg[58])
	assert.matches("^%d+$", msg[45])
	assert.is_true(math.type(msg.seq_num) == "integer" and msg.seq_num >= 2)
	assert.equal("BETA_EXCHANGE", msg[49])
	assert_split(msg, "j")
end

describe("client.fix", function()
	describe("against a healthy exchange", function()
		local ex
		setup(function()
			ex = testing.exchange({})
		end)
		teardown(function()
			ex:stop()
		end)

		it("sends a NewOrderSingle and receives the exchange's answer decoded", function()
			local c <close> = active_client(ex)
			assert.is_true(c.fix:send("D", order("ORD1")))
			local msg, err, code = c.fix:receive(2):await()
			assert.is_nil(err, code)
			assert_new_order_ack(msg, "ORD1")
			assert.is_true(c.auth:logout():await())
		end)

		it("queues answers nobody asked for yet, in order", function()
			local c <close> = active_client(ex)
			assert.is_true(c.fix:send("D", order("A1")))
			-- 35=AE (TradeCaptureReport) is a message the exchange does not trade on
			assert.is_true(c.fix:send("AE", { { 571, "T1" }, { 55, "EUR/USD" } }))
			local deadline = bt.now() + 2
			while c.fix:pending() < 2 and bt.now() < deadline do
				bt.sleep(0.005)
			end
			assert.equal(2, c.fix:pending())
			local first = c.fix:receive():await()
			local second = c.fix:receive():await()
			assert_new_order_ack(first, "A1")
			assert_reject_of(second, "AE")
			-- the AE went out right after the D, which followed the 35=BE (2)
			assert.equal("4", second[45])
			assert.equal(first.seq_num + 1, second.seq_num)
			assert.equal(0, c.fix:pending())
		end)

		it("receive(0.2) with nothing coming fails with timeout", function()
			local c <close> = active_client(ex)
			local t0 = bt.now()
			local msg, err, code = c.fix:receive(0.2):await()
			assert.is_nil(msg)
			assert.equal("timeout", code)
			assert.equal("no message received within 0.2 s", err)
			assert.is_true(bt.now() - t0 >= 0.19)
			assert.equal("Active", c.auth:state())
		end)

		it("send() when not Active returns nil, message, invalid_state", function()
			local c <close> = active_client(ex)
			assert.is_true(c.auth:logout():await())
			local ok, err, code = c.fix:send("D", order("LATE"))
			assert.is_nil(ok)
			assert.equal("send() while Disconnected: the session is not Active", err)
			assert.equal("invalid_state", code)
		end)

		it("raises on invalid arguments, naming the argument, and sends nothing", function()
			local c <close> = active_client(ex)
			local function raises(pattern, fn)
				local ok, err = pcall(fn)
				assert.is_false(ok)
				assert.matches(pattern, err)
			end
			raises("^spec/fix_spec%.lua:%d+: bad argument #1 to 'send' %(string expected, got number%)$",
				function()
					c.fix:send(1, {})
				end)
			raises("^spec/fix_spec%.lua:%d+: bad argument #2 to 'send' %(field 1: tag must be an "
				.. "integer from 1 to 999999999%)$", function()
					c.fix:send("D", { { 0, "x" } })
				end)
			raises("^spec/fix_spec%.lua:%d+: bad argument #2 to 'send' %(field 1, tag 11: value "
				.. "contains SOH%)$", function()
					c.fix:send("D", { { 11, "a\1b" } })
				end)
			raises("^spec/fix_spec%.lua:%d+: bad argument #2 to 'send' %(field 2, tag 58: value "
				.. "contains a NUL byte%)$", function()
					c.fix:send("D", { { 11, "X" }, { 58, "a\0b" } })
				end)
			raises("^spec/fix_spec%.lua:%d+: bad argument #2 to 'send' %(field 1, tag 58: empty "
				.. "value%)$", function()
					c.fix:send("D", { { 58, "" } })
				end)
			raises("bad argument #2 to 'send' %(table expected, got nil%)", function()
				c.fix:send("D")
			end)
			raises("bad argument #2 to 'send' %(field 2: {tag, value} expected%)", function()
				c.fix:send("D", { { 11, "x" }, "55=EUR/USD" })
			end)
			raises("bad argument #2 to 'send' %(field 1, tag 11: string, number or boolean value expected%)",
				function()
					c.fix:send("D", { { 11, {} } })
				end)
			raises("bad argument to 'send' %(tag 35 is not allowed in an application message "
				.. "%(the session writes it%)%)", function()
				c.fix:send("D", { { 11, "X" }, { 35, "Y" } })
			end)
			raises("bad argument to 'send' %(tag 10 is not allowed", function()
				c.fix:send("D", { { 11, "X" }, { 10, "123" } })
			end)
			raises("bad argument #2 to 'send' %(field 1: tag must be an integer from 1 to "
				.. "999999999%)", function()
				c.fix:send("D", { { 1000000000, "X" } })
			end)
			raises("bad argument #1 to 'receive'", function()
				c.fix:receive(-1)
			end)
			for _, t in ipairs({ "A=B", "ZZ", "BZ", "", "DD" }) do
				-- what the session would not encode is refused at the call
				raises("^spec/fix_spec%.lua:%d+: bad argument to 'send' %(bad MsgType '"
					.. t:gsub("%p", "%%%0") .. "' %(FIX 4.4 application types and "
					.. "user%-defined 'U%.%.%.' types only%)%)$", function()
					c.fix:send(t, { { 11, "X" } })
				end)
			end
			raises("bad argument to 'send' %(MsgType 'A' is a session message: the session sends it%)",
				function()
					c.fix:send("A", {})
				end)
			-- nothing went out: the exchange answered nothing
			assert.equal("timeout", select(3, c.fix:receive(0.2):await()))
			assert.equal("Active", c.auth:state())
		end)
	end)

	describe("session faults do not break an Active session", function()
		-- seen(dir, frame) is told every frame; it returns true once the
		-- fault's frames were handled.
		local function survives(faults, seen)
			local ex = testing.exchange({ faults = faults })
			local ok, err = pcall(function()
				local done = false
				local c <close> = active_client(ex, function(dir, frame)
					done = done or seen(dir, frame)
				end)
				local deadline = bt.now() + 10
				while not done and bt.now() < deadline do
					bt.sleep(0.01)
				end
				assert.is_true(done, "the fault's frames never arrived")
				assert.equal("Active", c.auth:state())
				assert.is_true(c.fix:send("D", order("AFTER")))
				local msg, why, code = c.fix:receive(2):await()
				assert.is_nil(why, code)
				assert_new_order_ack(msg, "AFTER")
				assert.equal("Active", c.auth:state())
				assert.is_true(c.auth:logout():await())
			end)
			ex:stop()
			assert(ok, err)
		end

		it("a garbled frame (bad CheckSum) is dropped", function()
			survives({ "garbled-frame" }, function(dir, frame)
				-- the exchange's bad CheckSum reached the client and was dropped
				return dir == "garbled" and frame:find("^8=FIX%.4%.4\0019=") ~= nil
			end)
		end)

		it("a sequence gap is filled", function()
			survives({ ["seq-gap"] = 3 }, function(dir, frame)
				-- the gap was seen: our ResendRequest went out
				return dir == "out" and frame:find("\00135=2\001", 1, true) ~= nil
			end)
		end)
	end)
end)
