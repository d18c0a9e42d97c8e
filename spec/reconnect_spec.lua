-- reconnect = { ... } (issue 15, part 2) against the real local exchange,
-- killed and restarted on the same database and ports: the client gets its
-- session back by itself, numbers continue through the store, a refused
-- login stops it, and the backoff follows the configured intervals.
local bt = require("betatrader")
local testing = require("betatrader.testing")

local PW = "s3cret"

local tmpdir = require("spec.support.helpers").tmpdir

local function rmdir(d)
	os.execute("rm -rf '" .. d .. "'")
end

local function wait_for(pred, limit)
	local deadline = bt.now() + (limit or 20)
	while not pred() do
		if bt.now() > deadline then
			return false
		end
		bt.sleep(0.005)
	end
	return true
end

-- The exchange again on the same database and ports (a restart as an
-- operator does it: the clients' host and port stay valid).
local function start(db, ports, faults)
	local args
	if ports then
		args = { "--fix-port", tostring(ports.fix), "--http-port", tostring(ports.http) }
	end
	return testing.exchange({ db = db, args = args, faults = faults })
end

local function kill(ex)
	ex:kill("KILL")
	ex:stop({ check = false })
end

local function new_client(ex, store, reconnect, extra)
	local opts = {
		api_url = ex.api_url,
		fix_host = ex.fix_host,
		fix_port = ex.fix_port,
		store = store,
		timeout = 5,
		reconnect = reconnect,
	}
	for k, v in pairs(extra or {}) do
		opts[k] = v
	end
	return bt.client(opts)
end

local function record(auth)
	local list = {}
	auth:on_state(function(new, old, reason, code)
		list[#list + 1] = { new = new, old = old, reason = reason, code = code, t = bt.now() }
	end)
	return list
end

local function order(id)
	return { { 11, id }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 1000 }, { 40, 2 }, { 44, 1.5 } }
end

local names = 0
local function login(c)
	names = names + 1
	local id = assert(c.auth:register(("rc%d"):format(names), PW):await())
	assert(c.auth:login(id, PW):await())
	return id
end

describe("reconnect", function()
	local db, store
	before_each(function()
		db = os.tmpname()
		os.remove(db)
		store = tmpdir()
	end)
	after_each(function()
		os.remove(db)
		rmdir(store)
	end)

	it("is checked like the other options", function()
		local function bad(v, pat)
			local ok, err = pcall(bt.client, { reconnect = v })
			assert.is_false(ok)
			assert.matches(pat, err)
		end
		bad(true, "bad option 'reconnect' %(false or table expected, got boolean%)")
		bad({ intervall = 1 }, "unknown field 'intervall'")
		bad({ interval = 0 }, "bad option 'reconnect.interval'")
		bad({ backoff = 0.5 }, "bad option 'reconnect.backoff'")
		bad({ jitter = 2 }, "bad option 'reconnect.jitter'")
		bad({ interval = 5, max_interval = 1 }, "bad option 'reconnect.max_interval'")
		bad({ attempts = 1.5 }, "bad option 'reconnect.attempts' %(integer expected")
		local c <close> = bt.client({ reconnect = {} })
		assert.equal("Disconnected", c.auth:state())
		local c2 <close> = bt.client({ reconnect = false })
		assert.equal("Disconnected", c2.auth:state())
	end)

	it("gets the session back after the exchange restarts, numbers continuing", function()
		local ex = start(db)
		local ports = { fix = ex.fix_port, http = ex.http_port }
		local logons, outs = {}, {}
		local c <close> = new_client(ex, store, { interval = 0.1, max_interval = 0.5 }, {
			trace = function(dir, frame)
				if dir == "out" and frame:find("\00135=A\001", 1, true) then
					logons[#logons + 1] = frame
				elseif dir == "out" then
					outs[#outs + 1] = frame
				end
			end,
		})
		local events = record(c.auth)
		local id = login(c)
		assert.is_true(c.fix:send("D", order("ONE")))
		assert(ex:expect(id, "D", 10))
		local er = assert(c.fix:receive(10):await())
		assert.equal("ONE", er[11])
		local pending = c.fix:receive() -- no timeout: survives the reconnect
		kill(ex)
		assert.is_true(wait_for(function()
			return c.auth:state() == "Connecting"
		end))
		local st, reason, code = c.auth:state()
		assert.equal("Connecting", st)
		assert.is_string(reason) -- why the session was lost
		assert.is_string(code)
		local ok, msg, scode = c.fix:send("D", order("LOST"))
		assert.is_nil(ok)
		assert.equal("not active (reconnecting)", msg)
		assert.equal("invalid_state", scode)
		assert.equal(0, select(2, c.fix:queued()))

		ex = start(db, ports, { "resend-request" })
		assert.is_true(wait_for(function()
			return c.auth:state() == "Active"
		end), "state " .. c.auth:state())
		-- Active -> Connecting with the reason, then back through Authenticating
		local lost
		for _, e in ipairs(events) do
			if e.old == "Active" and e.new == "Connecting" then
				lost = e
			end
		end
		assert.is_table(lost)
		assert.is_string(lost.reason)
		assert.equal("Active", events[#events].new)
		assert.equal("Authenticating", events[#events].old)
		-- the store's numbers: no reset, the next Logon goes on from the last
		assert.is_true(#logons >= 2)
		local first = tonumber(logons[1]:match("\00134=(%d+)\001"))
		local last = tonumber(logons[#logons]:match("\00134=(%d+)\001"))
		assert.is_nil(logons[#logons]:find("\001141=Y\001", 1, true))
		assert.is_true(last > first + 1, ("Logon seq %d after %d: %s"):format(last, first, logons[#logons]))
		-- the exchange asks for everything again after the first message
		-- (fault resend-request) and the session answers and stays Active
		assert.is_true(c.fix:send("D", order("TWO")))
		local two = assert(ex:expect(id, "D", 10))
		assert.equal("TWO", two[11])
		bt.sleep(0.3)
		assert.equal("Active", c.auth:state())
		-- the resend went out: the old order again, PossDupFlag set
		local resent = false
		for _, f in ipairs(outs) do
			if f:find("\00143=Y\001", 1, true) and f:find("\00111=ONE\001", 1, true) then
				resent = true
			end
		end
		assert.is_true(resent)
		-- the receive() started before the loss gets the first message after it
		-- (which one depends on the exchange's timing: the answer to the
		-- resent order or to TWO)
		local m = assert(pending:await(10))
		assert.is_string(m.msg_type)
		assert(c.auth:logout():await())
		assert.equal("Disconnected", c.auth:state())
		ex:stop()
	end)

	it("a refused login stops retrying (Failed, rejected)", function()
		local ex = start(db)
		local ports = { fix = ex.fix_port, http = ex.http_port }
		local c <close> = new_client(ex, store, { interval = 0.1, max_interval = 0.2 })
		local events = record(c.auth)
		login(c)
		kill(ex)
		-- a new, empty database: the exchange knows this client no more
		local db2 = os.tmpname()
		os.remove(db2)
		ex = start(db2, ports)
		assert.is_true(wait_for(function()
			return c.auth:state() == "Failed"
		end))
		local _, reason, code = c.auth:state()
		assert.equal("rejected", code, reason)
		local n = #events
		bt.sleep(1)
		assert.equal(n, #events) -- no further attempt
		assert.equal("Failed", c.auth:state())
		ex:stop()
		os.remove(db2)
	end)

	it("backs off as configured and gives up after `attempts`", function()
		local ex = start(db)
		local cfg = { interval = 0.2, backoff = 2, max_interval = 0.8, jitter = 0, attempts = 5 }
		local c <close> = new_client(ex, store, cfg)
		local events = record(c.auth)
		login(c)
		local pending = c.fix:receive()
		kill(ex)
		assert.is_true(wait_for(function()
			return c.auth:state() == "Failed"
		end))
		local st, reason = c.auth:state()
		assert.equal("Failed", st)
		assert.matches("^gave up reconnecting after 5 attempts: ", reason)
		-- the pending receive() ends once the client gives up
		local none, err, code = pending:await(5)
		assert.is_nil(none)
		assert.equal(reason, err)
		assert.is_string(code)
		-- each failed attempt is a Connecting event: the gaps between them
		-- are the configured delays (timers never fire early; the upper
		-- bound is generous for a loaded machine)
		local times = {}
		for _, e in ipairs(events) do
			if e.new == "Connecting" and e.old ~= "Disconnected" then
				times[#times + 1] = e.t
			end
		end
		assert.equal(5, #times) -- the loss, then attempts 1..4 failing
		local want = { 0, 0.2, 0.4, 0.8 }
		for i = 1, 4 do
			local gap = times[i + 1] - times[i]
			assert.is_true(gap >= want[i] - 0.02, ("gap %d: %.3f s, want %.1f"):format(i, gap, want[i]))
			assert.is_true(gap <= want[i] + 2, ("gap %d: %.3f s, want %.1f"):format(i, gap, want[i]))
		end
	end)

	it("logout() while reconnecting stops at once", function()
		local ex = start(db)
		local c <close> = new_client(ex, store, { interval = 5 })
		login(c)
		kill(ex)
		assert.is_true(wait_for(function()
			return c.auth:state() == "Connecting"
		end))
		assert(c.auth:logout():await(5))
		assert.equal("Disconnected", c.auth:state())
		local ok, msg, code = c.fix:send("D", order("X"))
		assert.is_nil(ok)
		assert.equal("invalid_state", code, msg)
	end)

	it("200 clients reconnecting at once after a restart all end Active", function()
		local ex = start(db)
		local ports = { fix = ex.fix_port, http = ex.http_port }
		local clients = {}
		for i = 1, 200 do
			local c = new_client(ex, store, { interval = 0.2, max_interval = 1 })
			clients[i] = c
			local id = assert(c.auth:register(("many%d"):format(i), PW):await())
			assert(c.auth:login(id, PW):await())
		end
		kill(ex)
		assert.is_true(wait_for(function()
			for _, c in ipairs(clients) do
				if c.auth:state() == "Active" then
					return false
				end
			end
			return true
		end))
		ex = start(db, ports)
		local all = wait_for(function()
			for _, c in ipairs(clients) do
				if c.auth:state() ~= "Active" then
					return false
				end
			end
			return true
		end, 60)
		local counts = {}
		for _, c in ipairs(clients) do
			local st = c.auth:state()
			counts[st] = (counts[st] or 0) + 1
		end
		for _, c in ipairs(clients) do
			c:close()
		end
		ex:stop()
		assert.is_true(all, ("%d of 200 Active"):format(counts.Active or 0))
	end)
end)
