-- client.auth against the real local exchange: the state machine, every
-- failure a user can meet (state, code, message), await in the three places
-- it must work, and TLS.
local bt = require("betatrader")
local testing = require("betatrader.testing")

local unpack = table.unpack

local names = 0
local function username()
	names = names + 1
	return ("user%d"):format(names)
end

local function new_client(ex, extra)
	local opts = {
		api_url = ex.api_url,
		fix_host = ex.fix_host,
		fix_port = ex.fix_port,
		store = false,
		timeout = 1,
		logon_timeout = 1,
	}
	for k, v in pairs(extra or {}) do
		opts[k] = v
	end
	return bt.client(opts)
end

-- on_state handlers run before the await of the op that caused the
-- transition returns: the specs check the events right after that await.
-- A transition nothing awaited (a peer's Logout seen by polling state())
-- reaches the handlers once something pumps: pump_events() does it once.
local function pump_events()
	bt.step(0)
end

-- Polls state() (it is true without pumping) until it is `want`.
local function wait_state(auth, want, limit)
	local deadline = bt.now() + (limit or 3)
	while auth:state() ~= want and bt.now() < deadline do
		bt.sleep(0.002)
	end
	return auth:state()
end

local function record(auth)
	local list = {}
	auth:on_state(function(new, old, reason, code)
		list[#list + 1] = { new, old, reason, code }
	end)
	return list
end

local function pairs_of(list)
	local out = {}
	for i, e in ipairs(list) do
		out[i] = { e[1], e[2] }
	end
	return out
end

-- A TCP listener that accepts nothing: with TLS on, a login to it stays in
-- Connecting (the handshake never completes) until connect_timeout.
local function silent_listener()
	local socket = require("cqueues.socket")
	local srv = socket.listen({ host = "127.0.0.1", port = 0 })
	assert(srv:listen())
	local _, _, port = srv:localname()
	return srv, port
end

local function registered(ex, pw)
	local c = new_client(ex)
	local id = assert(c.auth:register(username(), pw or "s3cret"):await())
	return c, id
end

describe("client.auth", function()
	describe("against a healthy exchange", function()
		local ex
		setup(function()
			ex = testing.exchange({})
		end)
		teardown(function()
			ex:stop()
		end)

		it("register -> login -> logout walks the state machine (on_state and state())", function()
			local c <close> = new_client(ex)
			local events = record(c.auth)
			assert.equal("Disconnected", c.auth:state())
			assert.is_nil(c.auth:sender_comp_id())

			local id, token = c.auth:register(username(), "s3cret"):await()
			assert.matches("^CLIENT%d+$", id)
			assert.is_string(token)
			assert.is_true(#token >= 16)
			assert.equal("Disconnected", c.auth:state())
			assert.equal(id, c.auth:sender_comp_id())
			assert.is_nil(c.auth:last_error())

			-- A second task polls state() every ms while the first logs in
			-- and out.
			local polled, running = {}, true
			finally(function()
				running = false
			end)
			bt.spawn(function()
				local last
				while running do
					local st = c.auth:state()
					if st ~= last then
						polled[#polled + 1] = st
						last = st
					end
					bt.sleep(0.001)
				end
			end)
			bt.run(function()
				local op = c.auth:login(id, "s3cret")
				assert.is_true(op:await())
				assert.equal("done", op:status())
				assert.equal("Active", c.auth:state())
				assert.equal(id, c.auth:sender_comp_id())
				bt.sleep(0.005)
				assert.is_true(c.auth:logout():await())
				assert.equal("Disconnected", c.auth:state())
				bt.sleep(0.005)
				running = false
			end)
			assert.same({
				{ "Registering", "Disconnected" },
				{ "Disconnected", "Registering" },
				{ "Connecting", "Disconnected" },
				{ "Authenticating", "Connecting" },
				{ "Active", "Authenticating" },
				{ "Disconnected", "Active" },
			}, pairs_of(events))
			for _, e in ipairs(events) do
				assert.is_nil(e[3]) -- no reason on a success path
			end
			-- The poller saw the states in order, never anything else; the
			-- short ones may fall between two polls.
			local order = { Disconnected = 0, Connecting = 1, Authenticating = 2, Active = 3 }
			local at = 0
			for i, st in ipairs(polled) do
				local rank = st == "Disconnected" and i > 1 and 4 or order[st]
				assert.is_number(rank, "unexpected state " .. tostring(st))
				assert.is_true(rank >= at, "state went back: " .. table.concat(polled, ","))
				at = rank
			end
			assert.is_truthy(table.concat(polled, ","):find("Active,Disconnected$"))
		end)

		it("refuses a wrong password (rejected, password incorrect)", function()
			local c <close>, id = registered(ex)
			local events = record(c.auth)
			local op = c.auth:login(id, "wrong")
			-- Finished on the I/O thread while nothing pumps (status() reads
			-- the C side): await must still run the handlers before returning.
			-- (A sleeping wait, not a spin: under valgrind, which runs one
			-- thread at a time, a spinning Lua thread starves the I/O thread.)
			local deadline = bt.now() + 5
			while op:status() == "pending" and bt.now() < deadline do
				os.execute("sleep 0.01")
			end
			local ok, msg, code = op:await()
			assert.is_nil(ok)
			assert.equal("password incorrect (UserStatus 4)", msg)
			assert.equal("rejected", code)
			assert.same({ "Failed", msg, "rejected" }, { c.auth:state() })
			assert.same({ msg, "rejected" }, { c.auth:last_error() })
			assert.same({ "Failed", "Authenticating", msg, "rejected" }, events[#events])
			-- Failed -> login() starts again.
			assert.is_true(c.auth:login(id, "s3cret"):await())
			assert.equal("Active", c.auth:state())
			assert.is_true(c.auth:logout():await())
		end)

		it("refuses an unknown client_id with the exchange's Logout text", function()
			local c <close> = new_client(ex)
			local ok, msg, code = c.auth:login("CLIENT9999", "s3cret"):await()
			assert.is_nil(ok)
			assert.equal("rejected", code)
			assert.equal("exchange logged us out: unknown SenderCompID 'CLIENT9999': "
				.. "register first (POST /api/register)", msg)
			assert.same({ "Failed", msg, "rejected" }, { c.auth:state() })
		end)

		it("reports a taken username as http_status with the exchange's error_msg", function()
			local name = username()
			local c <close> = new_client(ex)
			assert.matches("^CLIENT%d+$", (c.auth:register(name, "a"):await()))
			local ok, msg, code = c.auth:register(name, "b"):await()
			assert.is_nil(ok)
			assert.equal("http_status", code)
			assert.equal("register failed (HTTP 409): username already taken", msg)
			assert.same({ "Failed", msg, "http_status" }, { c.auth:state() })
		end)

		it("raises at once on invalid arguments, naming the argument", function()
			local c <close> = new_client(ex)
			local function raises(pattern, fn)
				local ok, err = pcall(fn)
				assert.is_false(ok)
				assert.matches(pattern, err)
			end
			raises("^spec/auth_spec%.lua:%d+: bad argument #1 to 'register' %(username: string "
				.. "expected, got nil%)$", function()
					c.auth:register(nil, "x")
				end)
			raises("bad argument #1 to 'login' %(client_id is empty%)", function()
				c.auth:login("", "x")
			end)
			raises("bad argument #1 to 'login' %(client_id contains '=', '|' or spaces%)", function()
				c.auth:login("A B", "x")
			end)
			raises("bad argument #2 to 'login' %(password: string expected, got number%)", function()
				c.auth:login("CLIENT0001", 5)
			end)
			raises("bad argument #2 to 'register' %(password contains control characters%)", function()
				c.auth:register("bob", "a\1b")
			end)
			raises("unknown option 'bogus'", function()
				bt.client({ bogus = 1 })
			end)
			raises("bad argument #1 to 'on_state' %(function expected, got nil%)", function()
				c.auth:on_state(nil)
			end)
			assert.equal("Disconnected", c.auth:state()) -- nothing was started
		end)

		it("refuses a second login while one runs; the first still succeeds", function()
			local c <close>, id = registered(ex)
			local first = c.auth:login(id, "s3cret")
			local ok, msg, code = c.auth:login(id, "s3cret"):await()
			assert.is_nil(ok)
			assert.equal("invalid_state", code)
			assert.matches("^login%(%) while %a+: one operation at a time", msg)
			assert.is_true(first:await())
			assert.equal("Active", c.auth:state())
			-- register() while Active is refused too, and changes nothing.
			ok, msg, code = c.auth:register(username(), "x"):await()
			assert.is_nil(ok)
			assert.equal("invalid_state", code)
			assert.equal("register() while Active: one operation at a time (logout first)", msg)
			assert.equal("Active", c.auth:state())
			assert.is_true(c.auth:logout():await())
			assert.equal("Disconnected", c.auth:state())
		end)

		it("logout() racing a login always ends in Disconnected, whichever wins", function()
			local c <close>, id = registered(ex)
			for i = 1, 60 do
				local login = c.auth:login(id, "s3cret")
				if i % 3 > 0 then
					bt.sleep((i % 3) * 0.0003) -- land in Connecting, Authenticating or Active
				end
				local ok, err = c.auth:logout():await(5)
				assert.is_true(ok, err)
				assert.equal("Disconnected", c.auth:state())
				local st = login:status()
				assert.is_true(st == "cancelled" or st == "done", st)
			end
		end)

		it("refuses send() when not Active with nil, message, invalid_state", function()
			local c <close> = new_client(ex)
			local ok, msg, code = c.fix:send("D", { { 11, "X" } })
			assert.is_nil(ok)
			assert.equal("send() while Disconnected: the session is not Active", msg)
			assert.equal("invalid_state", code)
		end)

		it("await works in plain code, in bt.spawn tasks and inside cqueues", function()
			local cqueues = require("cqueues")
			local c1 <close>, id1 = registered(ex)
			local c2 <close>, id2 = registered(ex)
			local c3 <close>, id3 = registered(ex)
			-- plain code (this busted body): blocks while dispatching
			assert.is_true(c1.auth:login(id1, "s3cret"):await())
			-- a task of the module's scheduler: yields
			local task = bt.spawn(function()
				return c2.auth:login(id2, "s3cret"):await(), coroutine.isyieldable()
			end)
			bt.run()
			assert.same({ true, true }, { task:await() })
			-- a cqueues-managed coroutine: polls the op
			local cq = cqueues.new()
			local got
			cq:wrap(function()
				got = { c3.auth:login(id3, "s3cret"):await(2) }
			end)
			assert(cq:loop(5))
			assert.same({ true }, got)
			for _, c in ipairs({ c1, c2, c3 }) do
				assert.equal("Active", c.auth:state())
				assert.is_true(c.auth:logout():await())
			end
		end)
	end)

	describe("when nobody listens", function()
		it("fails with refused, naming 127.0.0.1:port, for HTTP and FIX", function()
			local dead = testing.exchange({})
			dead:stop()
			local c <close> = new_client(dead)
			local ok, msg, code = c.auth:login("CLIENT0001", "pw"):await()
			assert.is_nil(ok)
			assert.equal("refused", code)
			assert.equal(("connection refused by 127.0.0.1:%d"):format(dead.fix_port), msg)
			assert.same({ "Failed", msg, "refused" }, { c.auth:state() })
			ok, msg, code = c.auth:register(username(), "pw"):await()
			assert.is_nil(ok)
			assert.equal("refused", code)
			assert.equal(("register: connection refused by 127.0.0.1:%d"):format(dead.http_port), msg)
			assert.equal("Failed", c.auth:state())
		end)
	end)

	describe("cancelling a login", function()
		it("logout() while Connecting cancels it and ends in Disconnected", function()
			local srv, port = silent_listener()
			local c <close> = bt.client({
				api_url = "http://127.0.0.1:1", fix_host = "127.0.0.1", fix_port = port,
				store = false, timeout = 5, tls = true,
			})
			local events = record(c.auth)
			local login = c.auth:login("CLIENT0001", "pw")
			bt.sleep(0.05)
			assert.equal("Connecting", c.auth:state())
			assert.is_true(c.auth:logout():await())
			assert.equal("Disconnected", c.auth:state())
			assert.same({ nil, "operation cancelled", "cancelled" }, { login:await() })
			assert.equal("cancelled", login:status())
			assert.same({ { "Connecting", "Disconnected" }, { "Disconnected", "Connecting" } },
				pairs_of(events))
			srv:close()
		end)

		describe("while the exchange does not answer the Logon", function()
			local ex
			setup(function()
				ex = testing.exchange({ faults = { "no-logon-reply" } })
			end)
			teardown(function()
				ex:stop()
			end)

			it("op:cancel() cancels it; the client returns to Disconnected", function()
				local c <close>, id = registered(ex)
				local op = c.auth:login(id, "s3cret")
				assert.equal("Authenticating", wait_state(c.auth, "Authenticating"))
				assert.is_true(op:cancel())
				assert.is_false(op:cancel())
				assert.same({ nil, "operation cancelled", "cancelled" }, { op:await() })
				assert.equal("Disconnected", wait_state(c.auth, "Disconnected"))
				-- and it can start again at once
				local again = c.auth:login(id, "s3cret")
				local st = c.auth:state()
				assert.is_true(st == "Connecting" or st == "Authenticating", st)
				assert.is_true(again:cancel())
				assert.equal("Disconnected", wait_state(c.auth, "Disconnected"))
			end)

			it("a pending op declared <close> is cancelled at scope exit", function()
				local c <close>, id = registered(ex)
				local kept
				do
					local op <close> = c.auth:login(id, "s3cret")
					kept = op
					assert.equal("pending", op:status())
				end
				assert.equal("cancelled", kept:status())
				assert.equal("Disconnected", wait_state(c.auth, "Disconnected"))
			end)

			it("times out with no Logon reply within 1 s", function()
				local c <close>, id = registered(ex)
				local t0 = bt.now()
				local ok, msg, code = c.auth:login(id, "s3cret"):await(5)
				assert.is_nil(ok)
				assert.equal("timeout", code)
				assert.equal("no Logon reply within 1 s", msg)
				assert.same({ "Failed", msg, "timeout" }, { c.auth:state() })
				assert.is_true(bt.now() - t0 < 4)
			end)
		end)
	end)

	describe("FIX faults", function()
		local function exchange_with(faults)
			local ex
			setup(function()
				ex = testing.exchange({ faults = faults })
			end)
			teardown(function()
				ex:stop()
			end)
			return function()
				return ex
			end
		end

		describe("Logout instead of Logon", function()
			local ex = exchange_with({ ["logon-logout"] = "closed for maintenance" })
			it("fails rejected with the Logout text", function()
				local c <close>, id = registered(ex())
				local ok, msg, code = c.auth:login(id, "s3cret"):await()
				assert.is_nil(ok)
				assert.equal("rejected", code)
				assert.equal("exchange logged us out: closed for maintenance", msg)
				assert.same({ "Failed", msg, "rejected" }, { c.auth:state() })
			end)
		end)

		describe("no UserResponse", function()
			local ex = exchange_with({ "no-user-response" })
			it("times out in Authenticating", function()
				local c <close>, id = registered(ex())
				local events = record(c.auth)
				local ok, msg, code = c.auth:login(id, "s3cret"):await(5)
				assert.is_nil(ok)
				assert.equal("timeout", code)
				assert.equal("no UserResponse within 1 s \u{2014} does this exchange support UserRequest? "
					.. 'see auth = "logon"', msg)
				assert.same({ "Failed", msg, "timeout" }, { c.auth:state() })
				assert.same({ "Failed", "Authenticating", msg, "timeout" }, events[#events])
			end)
		end)

		describe("a UserStatus other than 1", function()
			local ex = exchange_with({ ["user-status"] = 3 })
			it("fails rejected with the meaning and the 927 text", function()
				local c <close>, id = registered(ex())
				local ok, msg, code = c.auth:login(id, "s3cret"):await()
				assert.is_nil(ok)
				assert.equal("rejected", code)
				assert.equal("user not recognised (UserStatus 3): UserStatus 3 (fault injection)", msg)
				assert.equal("Failed", c.auth:state())
			end)
		end)

		describe("the exchange logging us out while Active", function()
			local ex = exchange_with({ ["logout-active"] = "end of trading day" })
			it("enters Failed with the Logout text, reported by on_state", function()
				local c <close>, id = registered(ex())
				local events = record(c.auth)
				assert.is_true(c.auth:login(id, "s3cret"):await())
				local want = "exchange logged us out: end of trading day"
				assert.equal("Failed", wait_state(c.auth, "Failed"))
				assert.same({ want, "disconnected" }, { c.auth:last_error() })
				pump_events()
				assert.same({ "Failed", "Active", want, "disconnected" }, events[#events])
				assert.same({ "Active", "Authenticating" }, { unpack(events[#events - 1], 1, 2) })
			end)
		end)

		describe("the connection dropped while Active", function()
			local ex = exchange_with({ ["close-after"] = 2 })
			it("enters Failed with disconnected", function()
				local c <close>, id = registered(ex())
				assert.is_true(c.auth:login(id, "s3cret"):await())
				assert.equal("Failed", wait_state(c.auth, "Failed"))
				local reason, code = c.auth:last_error()
				assert.equal("disconnected", code)
				assert.matches("^connection closed by 127%.0%.0%.1:%d+$", reason)
			end)
		end)

		describe("an exchange that stops sending whole frames once Active", function()
			local ex = exchange_with({ ["slow-bytes"] = "login" })
			it("fails Active -> Failed on the heartbeat timeout within a few seconds", function()
				local c <close> = new_client(ex(), { heartbeat = 1, timeout = 10 })
				local events = record(c.auth)
				local id = assert(c.auth:register(username(), "s3cret"):await())
				assert.is_true(c.auth:login(id, "s3cret"):await())
				local t0 = bt.now()
				assert.equal("Failed", wait_state(c.auth, "Failed", 8))
				local want = "heartbeat timeout: no reply to TestRequest within 1 s"
				assert.same({ "Failed", want, "timeout" }, { c.auth:state() })
				assert.is_true(bt.now() - t0 < 6)
				pump_events()
				assert.same({ "Failed", "Active", want, "timeout" }, events[#events])
			end)
		end)

		describe("an exchange that goes silent after the Logon", function()
			local ex = exchange_with({ "silent-after-logon" })
			-- Silent before the UserResponse too, so this one fails while
			-- Authenticating; the Active case is the slow-bytes one above.
			it("fails on the heartbeat timeout within a few seconds", function()
				-- timeout = 10 keeps the UserResponse timer out of the way.
				local k <close> = new_client(ex(), { heartbeat = 1, timeout = 10 })
				local id = assert(k.auth:register(username(), "s3cret"):await())
				local t0 = bt.now()
				local ok, msg, code = k.auth:login(id, "s3cret"):await(8)
				assert.is_nil(ok)
				assert.equal("timeout", code)
				assert.equal("heartbeat timeout: no reply to TestRequest within 1 s", msg)
				assert.same({ "Failed", msg, "timeout" }, { k.auth:state() })
				assert.is_true(bt.now() - t0 < 6)
			end)
		end)
	end)

	describe("HTTP faults", function()
		local function register_with(faults, extra)
			local ex = testing.exchange({ faults = faults })
			local c <close> = new_client(ex, extra)
			local res = { c.auth:register(username(), "s3cret"):await(5) }
			res.state = { c.auth:state() }
			ex:stop()
			return res
		end

		it("HTTP 500 is http_status", function()
			local res = register_with({ "http-500" })
			local msg = "register failed (HTTP 500): injected fault: internal server error"
			assert.same({ nil, msg, "http_status" }, { res[1], res[2], res[3] })
			assert.same({ "Failed", msg, "http_status" }, res.state)
		end)

		it("malformed JSON is bad_response", function()
			local res = register_with({ "bad-json" })
			assert.is_nil(res[1])
			assert.equal("bad_response", res[3])
			assert.matches("not JSON", res[2])
			assert.same({ "Failed", res[2], "bad_response" }, res.state)
		end)

		it("a reply slower than timeout is timeout", function()
			local res = register_with({ ["http-delay"] = 2500 })
			assert.is_nil(res[1])
			assert.equal("timeout", res[3])
			assert.matches("^register: POST /api/register on 127%.0%.0%.1:%d+ timed out after 1 s$", res[2])
			assert.equal("Failed", res.state[1])
		end)
	end)

	describe("over TLS", function()
		local ex, id
		setup(function()
			ex = testing.exchange({ tls = true })
			local c <close> = new_client(ex)
			id = assert(c.auth:register(username(), "s3cret"):await())
		end)
		teardown(function()
			ex:stop()
		end)

		it("logs in with the exchange's CA", function()
			local c <close> = new_client(ex, { tls = { ca_file = ex.ca_file } })
			assert.is_true(c.auth:login(id, "s3cret"):await())
			assert.equal("Active", c.auth:state())
			assert.is_true(c.auth:logout():await())
		end)

		it("fails tls_failed with OpenSSL's reason against the system CAs", function()
			local c <close> = new_client(ex, { tls = true })
			local ok, msg, code = c.auth:login(id, "s3cret"):await()
			assert.is_nil(ok)
			assert.equal("tls_failed", code)
			assert.equal(("TLS handshake with 127.0.0.1:%d failed: certificate verify failed: "
				.. "unable to get local issuer certificate"):format(ex.fix_port), msg)
			assert.same({ "Failed", msg, "tls_failed" }, { c.auth:state() })
		end)

		it("fails on a server_name the certificate does not carry", function()
			local c <close> = new_client(ex, { tls = { ca_file = ex.ca_file, server_name = "wrong.example" } })
			local ok, msg, code = c.auth:login(id, "s3cret"):await()
			assert.is_nil(ok)
			assert.equal("tls_failed", code)
			assert.matches("hostname mismatch", msg)
			assert.equal("Failed", c.auth:state())
		end)
	end)
end)
