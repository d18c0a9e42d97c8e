-- A hostile user against the gateway preset, its client options and the
-- exchange's --compat betatrader-gateway mode: every misuse raises naming the
-- argument at the caller's line; a raw socket peer that misbehaves (garbage,
-- 1-byte writes, huge CompIDs, twin Logons, bad orders, half frames, connect
-- storms, TLS garbage) neither crashes the exchange nor leaks its fds, nor
-- disturbs a well-behaved session beside it; and a peer that knows only a
-- client id cannot hold it against its owner.
local bt = require("betatrader")
local testing = require("betatrader.testing")
local helpers = require("spec.support.helpers")
local socket = require("cqueues.socket")

local THIS = "hostile_spec.lua:%d+:"

local raw_fix = require("spec.support.raw_fix")
local peer = raw_fix.peer

local function logon_frame(p)
	return p:msg("A", { { 98, 0 }, { 108, 30 } })
end

local function fd_count(pid)
	local n = 0
	local ls = assert(io.popen("ls /proc/" .. pid .. "/fd"))
	for _ in ls:lines() do
		n = n + 1
	end
	ls:close()
	return n
end

-- Polls until f() is true or `timeout` s pass; returns f()'s last result.
local function eventually(f, timeout)
	local deadline = bt.now() + timeout
	repeat
		local v = f()
		if v then
			return v
		end
		bt.sleep(0.05)
	until bt.now() > deadline
	return f()
end

describe("hostile use of the gateway preset and its options", function()
	it("raises at the caller's line for every wrong argument", function()
		local P = bt.presets.betatrader_gateway
		local cases = {
			{ function() P() end, "bad argument #1 to 'betatrader_gateway' %(table expected, got nil%)" },
			{ function() P("x") end, "table expected, got string" },
			{ function() P({ host = 1 }) end, "'host': string expected, got number" },
			{ function() P({ host = "a", fix_host = "b" }) end, "name the same option" },
			{ function() P({ sender_comp_id = "" }) end, "bad option 'sender_comp_id' %(empty string%)" },
			{ function() P({ sender_comp_id = 7 }) end, "sender_comp_id' %(string expected, got number" },
			{ function() P({ sender_comp_id = "A=B" }) end, "sender_comp_id' %(no '='" },
			{ function() P({ sender_comp_id = "A B" }) end, "sender_comp_id' %(no '='" },
			{ function() P({ sender_comp_id = "A\1B" }) end, "sender_comp_id' %(contains control" },
			{ function() P({ sender_comp_id = ("X"):rep(65) }) end, "sender_comp_id' %(longer than 64" },
			{ function() P({ sender_comp_id = "caf\195\169" }) end, "non%-ASCII" },
			{ function() P({ begin_strings = {} }) end, "must include \"FIX.4.4\"" },
			{ function() P({ begin_strings = "FIX.4.4" }) end, "begin_strings' %(table expected, got string" },
			{ function() P({ begin_strings = { "FIXT.1.1" } }) end, "must include" },
			{ function() P({ begin_strings = { "FIX.4.4", "FIX T" } }) end, "entry 2" },
			{ function() P({ begin_strings = { "FIX.4.4", "FIXT=1" } }) end, "entry 2" },
			{ function() P({ begin_strings = { "FIX.4.4", "FIXT.1.1\1" } }) end, "entry 2" },
			{ function() P({ begin_strings = { "FIX.4.4", 44 } }) end, "entry 2: .* got number" },
			{ function() P({ begin_strings = { "FIX.4.4", "FIX" .. ("1"):rep(20) } }) end, "entry 2" },
			{ function() P({ begin_strings = { "FIX.4.4", x = "FIXT.1.1" } }) end, "a list expected, got key x" },
			{ function() P({ begin_strings = { "FIX.4.4", nil, "FIXT.1.1" } }) end, "begin_strings" },
			{ function() P({ begin_strings = { "FIX.4.4", "FIX.4.2", "FIX.4.3", "FIX.4.1", "FIX.4.0",
				"FIX.5.0", "FIXT.1.1", "FIX.5.1", "FIX.5.2" } }) end, "at most 8" },
		}
		for i, c in ipairs(cases) do
			local ok, err = pcall(c[1])
			assert.is_false(ok, "case " .. i .. " did not raise")
			assert.matches(THIS, err, nil, false, "case " .. i)
			assert.matches(c[2], err, nil, false, "case " .. i)
		end
	end)

	it("is not fooled by a metatable on begin_strings", function()
		-- __index/__len make a list out of nothing: what the client gets is
		-- the list config.lua saw, with no trace of the proxy
		local proxy = setmetatable({}, {
			__len = function() return 2 end,
			__index = function(_, i) return ({ "FIX.4.4", "FIXT.1.1" })[i] end,
		})
		local c <close> = bt.client({ api_url = false, begin_strings = proxy })
		assert.same({ "FIX.4.4", "FIXT.1.1" }, c.config.begin_strings)
		assert.is_nil(getmetatable(c.config.begin_strings))
		local liar = setmetatable({ "FIX.4.4" }, { __len = function() return 1e6 end })
		local ok, err = pcall(function() bt.client({ api_url = false, begin_strings = liar }) end)
		assert.is_false(ok)
		assert.matches(THIS, err)
		assert.matches("begin_strings", err)
	end)

	it("login() without an id names what is missing, at the caller's line", function()
		local c <close> = bt.client({ api_url = false, auth = "logon", fix_port = 1 })
		local ok, err = pcall(function() c.auth:login() end)
		assert.is_false(ok)
		assert.matches(THIS, err)
		assert.matches("bad argument #1 to 'login'", err)
		assert.matches("sender_comp_id", err) -- says where an id could come from
		ok, err = pcall(function() c.auth:login(nil, "pw") end)
		assert.is_false(ok)
		assert.matches(THIS, err)
		assert.matches("sender_comp_id", err)
		ok, err = pcall(function() c.auth:login("BOT1", 42) end)
		assert.is_false(ok)
		assert.matches("bad argument #2 to 'login'", err)
		ok, err = pcall(function() c.auth:login("BOT 1") end)
		assert.is_false(ok)
		assert.matches("bad argument #1 to 'login'", err)
	end)
end)

describe("hostile raw peers against --compat betatrader-gateway", function()
	local ex
	local IDS = { "BOT1", "BOT2", "BOT3", "BOT4", "BOT5", ("L"):rep(64) }
	setup(function()
		ex = testing.exchange({ compat = "betatrader-gateway", comp_ids = IDS })
		ex:book("EURUSD", { bids = { { 1.08, 1e6 } }, asks = { { 1.09, 1e6 } } })
	end)
	teardown(function()
		ex:stop()
	end)

	-- A session that must stay untouched by everything the others do.
	local good
	before_each(function()
		if not good then
			good = peer(ex, "BOT5")
			good:send("A", { { 98, 0 }, { 108, 30 } })
			assert.equal("A", assert(good:recv(10))[35])
		end
	end)
	after_each(function()
		good:send("1", { { 112, "STILL" } })
		local hb = good:recv(10)
		assert.is_truthy(hb, "the well-behaved session was disturbed")
		assert.equal("STILL", hb[112])
	end)

	it("takes a Logon written one byte at a time", function()
		local p = peer(ex, "BOT1")
		local f = logon_frame(p)
		for i = 1, #f do
			p:raw(f:sub(i, i))
		end
		local r = p:recv(10)
		assert.is_truthy(r, "no Logon reply")
		assert.equal("A", r[35], r.raw)
		p:close()
	end)

	it("drops a peer that sends garbage before the Logon, and no other", function()
		local p = peer(ex, "BOT1")
		p:raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n" .. logon_frame(p))
		local r = p:recv(10)
		-- no Logon ack on a stream that did not start with a frame
		assert.is_true(r == false or (r and r[35] ~= "A"), r and r.raw)
		p:close()
	end)

	it("refuses a Logon whose SenderCompID is a known 64-byte id plus one byte", function()
		local p = peer(ex, ("L"):rep(64) .. "X")
		p:send("A", { { 98, 0 }, { 108, 30 } })
		local r = p:recv(10)
		assert.is_true(r == false or r[35] == "5", r and r.raw)
		p:close()
	end)

	it("lets one of two Logons with the same CompID through", function()
		local a, b = peer(ex, "BOT2"), peer(ex, "BOT2")
		local fa, fb = logon_frame(a), logon_frame(b)
		a:raw(fa)
		b:raw(fb)
		local ra, rb = a:recv(10), b:recv(10)
		local acks = (ra and ra[35] == "A" and 1 or 0) + (rb and rb[35] == "A" and 1 or 0)
		assert.equal(1, acks, (ra and ra.raw or tostring(ra)) .. " / " .. (rb and rb.raw or tostring(rb)))
		a:close()
		b:close()
	end)

	it("drops odd orders silently and keeps the session", function()
		local p = peer(ex, "BOT3")
		p:send("A", { { 98, 0 }, { 108, 30 } })
		assert.equal("A", assert(p:recv(10))[35])
		local function order(f11, f55, f38, f44)
			local f = { { 11, f11 }, { 55, f55 }, { 54, 1 }, { 38, f38 } }
			if f44 then
				f[#f + 1] = { 44, f44 }
			end
			p:send("D", f)
		end
		order("-1", "EURUSD", "10", "1.09")
		order("99999999999999999999", "EURUSD", "10", "1.09")
		order("5", "EURUSD", "1.5", "1.09")
		order("6", "EURUSD", "10", nil)
		order("7", "XXXYYY", "10", "1.09")
		order("8", "EURUSD", "0", "1.09")
		order("9", "EURUSD", "99999999999999999999", "1.09")
		order("10", "EURUSD", "10", "99999999999999999999999999.5")
		order("11", "EURUSD", "10", ".")
		-- answered or not, the next TestRequest still gets its Heartbeat
		p:send("1", { { 112, "AFTER" } })
		local seen
		for _ = 1, 20 do
			local m = p:recv(10)
			assert.is_truthy(m, "session ended or went silent")
			if m[35] == "0" then
				seen = m
				break
			end
			-- an order that got through is rejected, never filled
			assert.equal("8", m[35], m.raw)
			assert.equal("8", m[39], m.raw)
		end
		assert.equal("AFTER", seen[112])
		p:close()
	end)

	it("survives frames cut in the middle and connect storms without leaking fds", function()
		local before = fd_count(ex.pid)
		for i = 1, 100 do
			local p = peer(ex, "BOT4")
			local f = logon_frame(p)
			if i % 3 == 0 then
				p:raw(f:sub(1, i % #f))
			elseif i % 3 == 1 then
				p:raw(f)
			elseif i % 6 == 5 then
				-- logged on, then gone in the middle of an order
				local d = p:msg("D", { { 11, i }, { 55, "EURUSD" }, { 54, 1 }, { 38, 1 }, { 44, "1.01" } })
				p:raw(f .. d:sub(1, #d // 2))
			end
			p:close()
		end
		assert.is_truthy(eventually(function()
			return fd_count(ex.pid) <= before
		end, 10), ("fds: %d before, %d after"):format(before, fd_count(ex.pid)))
		-- BOT4 is free again
		local p = peer(ex, "BOT4")
		p:send("A", { { 98, 0 }, { 108, 30 } })
		local r = p:recv(10)
		assert.is_truthy(r)
		assert.equal("A", r[35], r.raw)
		p:close()
	end)
end)

describe("TLS handshake garbage", function()
	it("drops the peer, keeps serving and leaks no fd", function()
		local ex = testing.exchange({ tls = true })
		finally(function()
			ex:stop()
		end)
		local before = fd_count(ex.pid)
		local junks = { "", "8=FIX.4.4\0019=5\001", ("\22\3\1\0\5"):rep(1000), "\22\3\3\255\255garbage" }
		for _, junk in ipairs(junks) do
			local s = assert(socket.connect({ host = ex.fix_host, port = ex.fix_port }))
			s:setmode("b", "b")
			if junk ~= "" then -- "": connected and gone without a byte
				assert(s:xwrite(junk, "n"))
				s:flush()
				s:settimeout(10)
				s:xread(-4096, "b") -- an alert or the close, whichever comes
			end
			s:close()
		end
		assert.is_truthy(eventually(function()
			return fd_count(ex.pid) <= before
		end, 10), ("fds: %d before, %d after"):format(before, fd_count(ex.pid)))
		local cli = bt.client({ fix_host = ex.fix_host, fix_port = ex.fix_port, api_url = ex.api_url,
			tls = ex.tls, timeout = 10, store = false })
		local id = assert(cli.auth:register("tlsuser", "pw"):await())
		assert(cli.auth:login(id, "pw"):await())
		assert.equal("Active", cli.auth:state())
		cli:close()
	end)
end)

describe("a squatter on a known client id", function()
	-- Client ids are sequential (CLIENT0001, ...): anyone can send a Logon
	-- for one without its password. That session must not hold the id
	-- against its owner for longer than the authentication deadline.
	it("is logged out when it does not authenticate in time, and the owner gets in", function()
		local ex = testing.exchange({ args = { "--auth-timeout", "300" } })
		finally(function()
			ex:stop()
		end)
		local id = helpers.register(ex, "victim", "pw")
		local p = peer(ex, id)
		p:send("A", { { 98, 0 }, { 108, 30 } })
		assert.equal("A", assert(p:recv(10))[35])
		-- a logoff (UserRequestType 2) now and then must not push the deadline back
		local out
		for i = 1, 30 do -- 3 s of logoffs at most, ten times the deadline
			p:send("BE", { { 923, "R" .. i }, { 924, 2 }, { 553, id } })
			out = p:recv(0.1)
			while out and out[35] == "BF" do
				out = p:recv(0.1)
			end
			if out then
				break
			end
		end
		assert.is_truthy(out, "the squatter's logoffs pushed its deadline back")
		assert.equal("5", out[35], out.raw)
		assert.matches("not authenticated within 0%.3 s", out[58])
		p:close()
		local c <close> = bt.client({ fix_host = ex.fix_host, fix_port = ex.fix_port, api_url = ex.api_url,
			store = false, timeout = 10 })
		assert(c.auth:login(id, "pw"):await())
		assert.equal("Active", c.auth:state())
		-- an authenticated session is not touched by the deadline
		bt.sleep(0.6)
		assert.equal("Active", c.auth:state())
		assert(c.auth:logout():await())
	end)
end)
