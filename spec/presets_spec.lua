-- bt.presets (issue 15): plain option tables for other venues, and the
-- options they rely on (begin_strings, sender_comp_id). The preset against
-- the exchange's compatibility mode is in the exchange's own specs; the
-- BeginString rule itself is test_fix_session.c, test_begin_strings.
local bt = require("betatrader")
local testing = require("betatrader.testing")
local helpers = require("spec.support.helpers")

-- The error fn raises.
local function raised(fn, ...)
	local ok, err = pcall(fn, ...)
	assert.is_false(ok)
	return err
end

describe("bt.presets.betatrader_gateway", function()
	it("is a plain bt.client options table with the gateway's settings", function()
		local o = bt.presets.betatrader_gateway({ fix_port = 8088, sender_comp_id = "7" })
		assert.same({
			api_url = false,
			auth = "logon",
			check_comp_id = "session",
			logon_seq = "adopt",
			begin_strings = { "FIX.4.4", "FIXT.1.1" },
			heartbeat = 30,
			reset_on_logon = true,
			store = false,
			fix_port = 8088,
			sender_comp_id = "7",
		}, o)
		assert.is_nil(getmetatable(o))
		-- a fresh table each time: changing one changes no other
		o.begin_strings[2] = "FIX.4.2"
		assert.equal("FIXT.1.1", bt.presets.betatrader_gateway({}).begin_strings[2])
		local c <close> = bt.client(bt.presets.betatrader_gateway({ fix_port = 8088 }))
		assert.equal("Disconnected", c.auth:state())
		assert.equal("logon", c.config.auth)
		assert.same({ "FIX.4.4", "FIXT.1.1" }, c.config.begin_strings)
	end)

	it("logs in to the local exchange by SenderCompID alone", function()
		-- the gateway itself is the exchange's --compat mode (its own specs);
		-- here: the options work together against the real local exchange
		local ex = testing.exchange()
		local id = helpers.register(ex, "preset", "s3cret")
		local outs = {}
		local c <close> = bt.client(bt.presets.betatrader_gateway({
			host = ex.fix_host,
			fix_port = ex.fix_port,
			sender_comp_id = id,
			timeout = 5,
			trace = function(dir, frame)
				if dir == "out" then
					outs[#outs + 1] = frame
				end
			end,
		}))
		assert.is_true(c.auth:login():await())
		assert.equal("Active", c.auth:state())
		assert.matches("\00135=A\001", outs[1], 1, true)
		assert.matches("\001141=Y\001", outs[1], 1, true)
		assert.matches("\001108=30\001", outs[1], 1, true)
		assert.is_true(helpers.buy_order(c, "P1"))
		-- the local exchange's default mode trades only after a UserRequest
		-- (its --compat mode does not): the reply shows the session carries
		-- application messages both ways
		local reply = assert(c.fix:receive(10):await())
		assert.equal("j", reply.msg_type)
		assert.equal("not logged in: send a UserRequest (35=BE) first", reply[58])
		for _, f in ipairs(outs) do
			assert.is_nil(f:find("\00135=BE\001", 1, true), f)
		end
		assert(c.auth:logout():await())
		ex:stop()
	end)

	it("takes host for fix_host, and the user's keys override its own", function()
		local o = bt.presets.betatrader_gateway({
			host = "10.0.0.5",
			heartbeat = 10,
			store = ".gw-store",
			target_comp_id = "GATEWAY",
			reconnect = { interval = 2 },
		})
		assert.equal("10.0.0.5", o.fix_host)
		assert.is_nil(o.host)
		assert.equal(10, o.heartbeat)
		assert.equal(".gw-store", o.store)
		assert.equal("GATEWAY", o.target_comp_id)
		assert.same({ interval = 2 }, o.reconnect)
		assert.equal("adopt", o.logon_seq)
		assert.equal("10.0.0.5", bt.presets.betatrader_gateway({ fix_host = "10.0.0.5" }).fix_host)
	end)

	it("raises at the caller's line, naming the argument or the option", function()
		local gw = bt.presets.betatrader_gateway
		local line = debug.getinfo(1, "l").currentline + 1
		local function call(o) local r = gw(o); return r end -- not a tail call: it keeps its line
		local where = "presets_spec.lua:" .. line .. ": "
		local err = raised(call, nil)
		assert.matches(where .. "bad argument #1 to 'betatrader_gateway' %(table expected, got nil%)",
			err)
		err = raised(call, "127.0.0.1")
		assert.matches("bad argument #1 to 'betatrader_gateway' %(table expected, got string%)", err)
		err = raised(call, { host = 8088 })
		assert.matches(where .. "bad argument #1 to 'betatrader_gateway' %('host': string expected, got number%)",
			err)
		err = raised(call, { host = "a", fix_host = "b" })
		assert.matches("'host' and 'fix_host' name the same option; give one", err)
		err = raised(call, { fix_port = "8088" })
		assert.matches(where .. "bad option 'fix_port' %(number expected, got string%)", err)
		err = raised(call, { sender_comp_id = 7 })
		assert.matches(where .. "bad option 'sender_comp_id' %(string expected, got number%)", err)
		err = raised(call, { sender_comp_id = "a b" })
		assert.matches("bad option 'sender_comp_id' %(no '=', '|', spaces or non%-ASCII bytes allowed%)", err)
		err = raised(call, { fix_prot = 8088 })
		assert.matches(where .. "unknown option 'fix_prot'", err)
		err = raised(call, { begin_strings = { "FIXT.1.1" } })
		assert.matches([[bad option 'begin_strings' %(must include "FIX.4.4"%)]], err)
	end)
end)

describe("begin_strings", function()
	it("is a list of BeginStrings that includes FIX.4.4", function()
		local cases = {
			{ "FIX.4.4", [[%(table expected, got string%)]] },
			{ { "FIXT.1.1" }, [[%(must include "FIX.4.4"%)]] },
			{ { "FIX.4.4", "" }, [[%(entry 2: a BeginString such as "FIXT.1.1" expected, got ''%)]] },
			{ { "FIX.4.4", 11 }, [[%(entry 2: a BeginString such as "FIXT.1.1" expected, got number%)]] },
			{ { "FIX.4.4", "FIX 5" }, [[%(entry 2: a BeginString such as "FIXT.1.1" expected, got 'FIX 5'%)]] },
			{ { "FIX.4.4", "FIXT.1.1.0.0.0.0.0" }, [[%(entry 2]] },
			{ { "FIX.4.4", x = "FIXT.1.1" }, [[%(a list expected, got key x%)]] },
			{ { "FIX.4.4", "FIX.1", "FIX.2", "FIX.3", "FIX.4", "FIX.5", "FIX.6", "FIX.7", "FIX.8" },
				[[%(at most 8 entries%)]] },
		}
		for _, case in ipairs(cases) do
			local err = raised(bt.client, { begin_strings = case[1] })
			assert.matches("bad option 'begin_strings' " .. case[2], err)
		end
		local c <close> = bt.client({ begin_strings = { "FIX.4.4", "FIXT.1.1", "FIX.5.0" } })
		assert.same({ "FIX.4.4", "FIXT.1.1", "FIX.5.0" }, c.config.begin_strings)
	end)

	it("a FIXT.1.1 frame (what the session delivers with it) decodes by name", function()
		local body = table.concat({ "35=W", "49=TRADING_CORE", "56=7", "34=3",
			"52=20261128-17:30:00.123", "55=EURUSD", "268=1", "269=0", "270=1.1", "" }, "\1")
		local head = "8=FIXT.1.1\0019=" .. #body .. "\1" .. body
		local sum = 0
		for i = 1, #head do
			sum = sum + head:byte(i)
		end
		local frame = head .. ("10=%03d\1"):format(sum % 256)
		local msg = assert(require("betatrader.dict").default():decode(frame))
		assert.equal("W", msg.msg_type)
		assert.equal("FIXT.1.1", msg[8])
		assert.equal("EURUSD", msg[55])
		assert.equal("TRADING_CORE", msg[49])
		assert.equal("1.1", msg.NoMDEntries[1].MDEntryPx)
		-- a broken one still fails as before
		local bad = frame:gsub("10=%d%d%d", "10=000")
		assert.same({ nil, "not a valid FIX 4.4 frame: checksum mismatch" },
			{ require("betatrader.dict").default():decode(bad) })
	end)

	it("with FIX.4.4 alone logs in and trades as without it", function()
		local ex = testing.exchange()
		local c <close> = helpers.client(ex, { begin_strings = { "FIX.4.4" } })
		local id = assert(c.auth:register("bs44", "s3cret"):await())
		assert.is_true(c.auth:login(id, "s3cret"):await())
		assert.is_true(helpers.buy_order(c, "B1"))
		local er = assert(c.fix:receive(10):await())
		assert.equal("B1", er[11])
		assert(c.auth:logout():await())
		ex:stop()
	end)
end)

describe("sender_comp_id", function()
	it("is the client_id login() uses when called without one", function()
		local ex = testing.exchange()
		local id = helpers.register(ex, "bydefault", "s3cret")
		local c <close> = helpers.fix_client(ex, {
			sender_comp_id = id,
		})
		assert.is_true(c.auth:login(nil, "s3cret"):await())
		assert.equal(id, c.auth:sender_comp_id())
		assert(c.auth:logout():await())
		-- without the option, login() still needs the id
		local d <close> = bt.client({ api_url = false, store = false })
		assert.matches("bad argument #1 to 'login' %(client_id: string expected, got nil, "
			.. "and the client has no sender_comp_id option%)",
			raised(d.auth.login, d.auth))
		ex:stop()
	end)
end)

describe("against a peer with the C++ gateway's manners (spec/support/gateway_peer.lua)", function()
	local process = require("betatrader.testing.process")
	local script = (debug.getinfo(1, "S").source:match("^@(.*/)") or "spec/") .. "support/gateway_peer.lua"

	-- The peer process and its port; killed and reaped when closed.
	local function peer()
		local p = assert(process.spawn({ "lua5.4", script }))
		local line = assert(p:read_line(10))
		return p, assert(math.tointeger(tonumber(line:match("^READY (%d+)$"))), line)
	end

	it("the preset logs in, gets FIXT.1.1 market data and a report stamped 49=1 56=7", function()
		local p <close>, port = peer()
		local c <close> = bt.client(bt.presets.betatrader_gateway({
			host = "127.0.0.1",
			fix_port = port,
			sender_comp_id = "7",
			timeout = 5,
		}))
		assert.is_true(c.auth:login():await())
		assert.is_true(c.fix:send("V", { { 262, "R1" }, { 263, 1 }, { 264, 1 }, { 267, 1 },
			{ 269, 0 }, { 146, 1 }, { 55, "EURUSD" } }))
		local md = assert(c.fix:receive(5):await())
		assert.equal("W", md.msg_type)
		assert.equal("FIXT.1.1", md[8])
		assert.equal("TRADING_CORE", md[49])
		assert.equal("EURUSD", md[55])
		assert.equal("1.1", md.NoMDEntries[1].MDEntryPx)
		assert.is_true(c.fix:send("D", { { 11, "5" }, { 55, "EURUSD" }, { 54, 1 }, { 38, 100 },
			{ 40, 2 }, { 44, 1.1 } }))
		local er = assert(c.fix:receive(5):await())
		assert.equal("8", er.msg_type)
		assert.same({ "1", "7", "5" }, { er[49], er[56], er[11] })
		assert.equal("Active", c.auth:state())
		assert(c.auth:logout():await())
		-- what reached the peer: no UserRequest, no ResendRequest (logon_seq = "adopt")
		local seen = {}
		for line in function() return p:read_line(5) end do
			seen[#seen + 1] = line
		end
		assert.same({ "IN A", "IN V", "IN D", "IN 5" }, seen)
	end)

	it("keeps the session with a peer that sends no heartbeats but answers TestRequest", function()
		local p <close>, port = peer()
		-- heartbeat 1 instead of the gateway's 30, to see it in seconds
		local c <close> = bt.client(bt.presets.betatrader_gateway({
			host = "127.0.0.1",
			fix_port = port,
			sender_comp_id = "7",
			timeout = 5,
			heartbeat = 1,
		}))
		assert.is_true(c.auth:login():await())
		-- silence in: a TestRequest after 1.2 s, answered; unanswered would
		-- end the session (timeout) a second later
		local seen = {}
		while #seen < 4 do
			local line = assert(p:read_line(10))
			if line == "IN 1" then
				seen[#seen + 1] = line
			end
		end
		bt.step(0)
		assert.equal("Active", c.auth:state())
		assert(c.auth:logout():await())
	end)

	it("the default options fail naming the likely cause", function()
		local p <close>, port = peer()
		local c <close> = bt.client({ api_url = false, fix_port = port, store = false, timeout = 1 })
		local ok, msg, code = c.auth:login("7", "s3cret"):await(10)
		assert.is_nil(ok)
		assert.equal("timeout", code)
		assert.equal("no UserResponse within 1 s \u{2014} does this exchange support UserRequest? "
			.. 'see auth = "logon"', msg)
		-- the peer saw the UserRequest and never answered it
		local seen = {}
		for _ = 1, 3 do
			local line = p:read_line(5)
			if not line then
				break
			end
			seen[#seen + 1] = line
		end
		assert.is_truthy(table.concat(seen, ","):find("IN BE", 1, true))
	end)
end)
