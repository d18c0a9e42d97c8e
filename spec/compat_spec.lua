-- The local exchange's --compat betatrader-gateway mode (issue 15): it
-- behaves like BetaTrader's own C++ gateway, so the client's options for that
-- gateway are tested against the real exchange over real sockets. A raw FIX
-- peer checks the gateway's wire behaviour byte by byte; the client checks
-- that its options for it log in, trade, take market data and survive a
-- restart, and that the default options fail with a message naming the cause.
local bt = require("betatrader")
local testing = require("betatrader.testing")
local helpers = require("spec.support.helpers")

local COMPAT = "betatrader-gateway"
local IDS = { "BOT1", "BOT2", "BOT3", "BOT4", "BOT5", "BOT6", "BOT7", "BOT8", "BOT9" }

-- ------------------------------------------------------------ raw FIX peer

local raw_fix = require("spec.support.raw_fix")

-- a close from the exchange is never expected here: recv() raises on it
local function peer(ex, comp_id)
	return raw_fix.peer(ex, comp_id, { closed = "raise" })
end

local function logon(p, extra)
	local f = { { 98, 0 }, { 108, 1 } }
	for _, x in ipairs(extra or {}) do
		f[#f + 1] = x
	end
	p:send("A", f)
	return p:recv(10)
end

-- ------------------------------------------------------------ the client

-- The client's preset for that gateway, pointed at the local exchange.
local function gateway_client(ex, extra)
	local o = { fix_host = ex.fix_host, fix_port = ex.fix_port, timeout = 5 }
	for k, v in pairs(extra or {}) do
		o[k] = v
	end
	return bt.client(bt.presets.betatrader_gateway(o))
end

local tmpdir = helpers.tmpdir

local function order(fix, clordid, side, qty, px)
	return fix:send("D", {
		{ 11, clordid },
		{ 55, "EURUSD" },
		{ 54, side },
		{ 38, qty },
		{ 40, "2" },
		{ 44, px },
		{ 60, bt.utc() },
	})
end

describe("--compat betatrader-gateway", function()
	local ex
	setup(function()
		ex = testing.exchange({ compat = COMPAT, comp_ids = IDS })
	end)
	teardown(function()
		ex:stop()
	end)

	describe("on the wire (a raw FIX peer)", function()
		it("answers a Logon with 98=0 108=30 and no 141, whatever it asked, and ignores 553/554", function()
			local p = peer(ex, "BOT1")
			local r = logon(p, { { 141, "Y" }, { 553, "BOT1" }, { 554, "wrong" } })
			assert.is_not_nil(r, "no Logon reply")
			assert.equal("A", r[35])
			assert.equal("0", r[98])
			assert.equal("30", r[108])
			assert.is_nil(r[141], r.raw)
			assert.equal("BOT1", r[56])
			p:close()
		end)

		it("refuses an unknown SenderCompID with a Logout", function()
			local p = peer(ex, "NOBODY")
			local r = logon(p)
			assert.is_not_nil(r)
			assert.equal("5", r[35])
			assert.matches("unknown SenderCompID 'NOBODY'", r[58])
			p:close()
		end)

		it("numbers from an in-memory counter that 141=Y does not reset", function()
			local p = peer(ex, "BOT2")
			local r = assert(logon(p))
			local first = tonumber(r[34])
			p:send("5", {})
			assert.equal("5", assert(p:recv(10))[35])
			p:close()
			p = peer(ex, "BOT2")
			r = assert(logon(p, { { 141, "Y" } }))
			assert.equal("A", r[35])
			assert.equal(first + 2, tonumber(r[34]), r.raw) -- Logon and Logout went before
			p:close()
		end)

		it("takes a Logon at 34=1 without 141=Y after an earlier session (numbers nothing inbound)", function()
			local p = peer(ex, "BOT9")
			assert.equal("A", assert(logon(p))[35])
			p:send("1", { { 112, "T1" } })
			assert.equal("T1", assert(p:recv(10))[112])
			p:close()
			-- the exchange saw 34=1 and 34=2 from BOT9; a new connection starts at 1
			p = peer(ex, "BOT9")
			local r = assert(logon(p), "no Logon reply")
			assert.equal("A", r[35], r.raw)
			p:close()
		end)

		it("answers a TestRequest, sends no Heartbeat, ignores ResendRequest and SequenceReset", function()
			local p = peer(ex, "BOT3")
			assert.equal("A", assert(logon(p))[35])
			p:send("2", { { 7, 1 }, { 16, 0 } })
			p:send("4", { { 123, "Y" }, { 36, 50 } })
			p:send("4", { { 36, 900 } })
			-- A normal acceptor would heartbeat after 1 s (108=1) and resend.
			local got = p:recv(2.5)
			assert.is_nil(got, got and got.raw)
			-- Any MsgSeqNum is in sequence: far above and far below.
			p:send("1", { { 112, "PING1" } }, 7000)
			local hb = assert(p:recv(10), "TestRequest not answered")
			assert.equal("0", hb[35])
			assert.equal("PING1", hb[112])
			p:send("1", { { 112, "PING2" } }, 3)
			assert.equal("PING2", assert(p:recv(10))[112])
			p:close()
		end)

		it("never answers a UserRequest (35=BE), not even with a Reject", function()
			local p = peer(ex, "BOT4")
			assert.equal("A", assert(logon(p))[35])
			p:send("BE", { { 923, "U1" }, { 924, 1 }, { 553, "BOT4" }, { 554, "pw" } })
			p:send("ZZ", { { 58, "unknown type" } })
			local got = p:recv(1.5)
			assert.is_nil(got, got and got.raw)
			p:send("1", { { 112, "ALIVE" } })
			assert.equal("ALIVE", assert(p:recv(10))[112])
			p:close()
		end)

		it("sends ExecutionReports with 49=1, 56=<connection number> and its own tags", function()
			ex:book("EURUSD", { bids = { { 1.08, 1e6 } }, asks = { { 1.09, 1e6 } } })
			local p = peer(ex, "BOT5")
			assert.equal("A", assert(logon(p))[35])
			p:send("D", {
				{ 11, 41 },
				{ 55, "EURUSD" },
				{ 54, 1 },
				{ 38, 1000 },
				{ 44, "1.09" },
			})
			local new = assert(p:recv(10), "no ExecutionReport")
			assert.equal("8", new[35])
			assert.equal("1", new[49])
			assert.matches("^%d+$", new[56])
			assert.same({ 8, 9, 35, 49, 56, 34, 52, 37, 11, 17, 39, 55, 54, 38, 14, 151, 31, 32, 60, 10 }, new.tags)
			assert.equal("41", new[11])
			assert.equal("0", new[39])
			local fill = assert(p:recv(10))
			assert.equal("2", fill[39])
			assert.equal("1.09", fill[31])
			assert.equal("1000", fill[32])
			assert.is_nil(fill[150])
			assert.is_nil(fill[6])
			p:close()
		end)

		it("drops malformed orders silently", function()
			local p = peer(ex, "BOT6")
			assert.equal("A", assert(logon(p))[35])
			local good = { { 11, 7 }, { 55, "EURUSD" }, { 54, 2 }, { 38, 5 }, { 44, "1.5" } }
			local function but(tag, val)
				local f = {}
				for _, x in ipairs(good) do
					if x[1] ~= tag then
						f[#f + 1] = x
					elseif val then
						f[#f + 1] = { tag, val }
					end
				end
				return f
			end
			p:send("D", but(11, "ORD7")) -- 11 not an unsigned integer
			p:send("D", but(55, "EUR/USD")) -- not in its list (no slash)
			p:send("D", but(55, "USDCHF"))
			p:send("D", but(38, "5.5")) -- 38 not an integer
			p:send("D", but(44)) -- no price
			p:send("D", but(54, "X"))
			local got = p:recv(1.5)
			assert.is_nil(got, got and got.raw)
			p:send("D", good)
			local er = assert(p:recv(10), "the good order got no ExecutionReport")
			assert.equal("8", er[35])
			assert.equal("7", er[11])
			p:close()
		end)

		it("sends market data under 8=FIXT.1.1 with 49=TRADING_CORE", function()
			ex:book("USDJPY", { bids = { { 150.1, 1e6 } }, asks = { { 150.2, 2e6 } } })
			local p = peer(ex, "BOT7")
			assert.equal("A", assert(logon(p))[35])
			p:send("V", {
				{ 262, "MD1" },
				{ 263, 1 },
				{ 264, 0 },
				{ 267, 2 },
				{ 269, 0 },
				{ 269, 1 },
				{ 146, 1 },
				{ 55, "USDJPY" },
			})
			local w = assert(p:recv(10), "no snapshot")
			assert.matches("^8=FIXT%.1%.1|9=", w.raw)
			assert.equal("W", w[35])
			assert.equal("TRADING_CORE", w[49])
			assert.equal("MD1", w[262])
			ex:book("USDJPY", { bids = { { 150.15, 1e6 } }, asks = { { 150.2, 2e6 } } })
			local x = assert(p:recv(10), "no incremental refresh")
			assert.matches("^8=FIXT%.1%.1|", x.raw)
			assert.equal("X", x[35])
			assert.equal("TRADING_CORE", x[49])
			p:close()
		end)

		it("has no HTTP API (the admin channel stays for specs)", function()
			local status, body = testing.http_request("POST", ex.api_url .. "/api/register",
				'{"username":"u","password":"p"}')
			assert.equal(404, status)
			assert.matches("no HTTP API", body)
			assert.is_table(ex:stats())
		end)
	end)

	describe("with the client's options for that gateway", function()
		it("logs in, sends an order and reads its ExecutionReport", function()
			local c <close> = gateway_client(ex, { sender_comp_id = "BOT8" })
			assert(c.auth:login():await())
			assert.equal("Active", c.auth:state())
			ex:book("EURUSD", { bids = { { 1.08, 1e6 } }, asks = { { 1.09, 1e6 } } })
			assert(order(c.fix, "1001", "1", 1000, "1.09"))
			local er = assert(c.fix:receive(10):await())
			assert.equal("8", er.msg_type)
			assert.equal("1", er[49])
			assert.equal("1001", er[11])
			assert.is_nil(er[150])
			assert(c.auth:logout():await())
		end)

		it("takes market data under FIXT.1.1 (begin_strings)", function()
			local c <close> = gateway_client(ex, { sender_comp_id = "BOT8" })
			assert(c.auth:login():await())
			ex:book("GBPUSD", { bids = { { 1.25, 1e6 } }, asks = { { 1.26, 1e6 } } })
			assert(c.fix:send("V", {
				{ 262, "MDC" },
				{ 263, 0 },
				{ 264, 0 },
				{ 267, 2 },
				{ 269, 0 },
				{ 269, 1 },
				{ 146, 1 },
				{ 55, "GBPUSD" },
			}))
			local w = assert(c.fix:receive(10):await())
			assert.equal("W", w.msg_type)
			assert.equal("FIXT.1.1", w[8])
			assert.equal("TRADING_CORE", w[49])
			assert.equal("GBPUSD", w[55])
			assert(c.auth:logout():await())
		end)

		it("fails with the default options, naming the likely cause", function()
			-- what a user of that gateway gets without the preset
			local c <close> = helpers.fix_client(ex, { timeout = 1 })
			local ok, msg, code = c.auth:login("BOT8", "unused"):await(15)
			assert.is_nil(ok)
			assert.equal("timeout", code)
			assert.matches("no UserResponse within", msg)
			assert.matches('auth = "logon"', msg, 1, true)
		end)
	end)
end)

describe("--compat betatrader-gateway restarted", function()
	-- kill -9 and start again on the same ports: the client comes back by
	-- itself, and the new process numbers from 1 again (Logon 1, report 2).
	local function restart_case(extra)
		local ex = testing.exchange({ compat = COMPAT, comp_ids = { "BOT1" } })
		local ports = { fix = ex.fix_port, http = ex.http_port }
		local o = { sender_comp_id = "BOT1", reconnect = { interval = 0.05, max_interval = 0.2, jitter = 0 } }
		for k, v in pairs(extra) do
			o[k] = v
		end
		local c <close> = gateway_client(ex, o)
		local states = {}
		c.auth:on_state(function(new)
			states[#states + 1] = new
		end)
		assert(c.auth:login():await())
		ex:book("EURUSD", { bids = { { 1.08, 1e6 } }, asks = { { 1.09, 1e6 } } })
		for i = 1, 3 do
			assert(order(c.fix, tostring(i), "2", 10, "1.5"))
			assert(c.fix:receive(10):await())
		end
		local before = #states
		ex:kill("KILL")
		ex:stop({ check = false })
		ex = testing.exchange({
			compat = COMPAT,
			comp_ids = { "BOT1" },
			args = { "--fix-port", tostring(ports.fix), "--http-port", tostring(ports.http) },
		})
		local deadline = bt.now() + 20
		while not (#states > before and states[#states] == "Active") do
			assert(bt.now() < deadline, "not back Active: " .. table.concat(states, " "))
			bt.sleep(0.01)
		end
		assert.equal("Connecting", states[before + 1])
		assert(order(c.fix, "4", "2", 10, "1.5"))
		local er = assert(c.fix:receive(10):await())
		assert.equal("4", er[11])
		assert.equal(2, er.seq_num)
		assert(c.auth:logout():await())
		ex:stop()
	end

	it("takes the preset with reconnect back (141=Y, the counter forgotten)", function()
		restart_case({})
	end)

	it("takes a client with a store back: logon_seq = \"adopt\" takes the new counter", function()
		local store = tmpdir()
		restart_case({ store = store, reset_on_logon = false })
		os.execute("rm -rf '" .. store .. "'")
	end)
end)
