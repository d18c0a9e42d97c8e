-- Fault scenarios against the local exchange (issue 8): the exchange killed
-- in each login state, a peer that dribbles bytes, frames built to exhaust a
-- parser, the client itself killed while sending orders and restarted from
-- its store, and 1,000 login/logout cycles that must not leak. Every case
-- asserts the state, the code and the message a user would see, and that
-- nothing was lost.
local bt = require("betatrader")
local process = require("betatrader.testing.process")
local testing = require("betatrader.testing")
local helpers = require("spec.support.helpers")

local PW = "s3cret"

local new_client = helpers.client

local names = 0
local function register(c)
  names = names + 1
  return assert(c.auth:register(("fault%d"):format(names), PW):await())
end

-- Polls until pred() is true; liveness only, never a speed assertion.
local function wait_for(pred, limit, what)
  local deadline = bt.now() + (limit or 5)
  while not pred() do
    if bt.now() > deadline then
      error("timed out waiting for " .. (what or "a condition"), 2)
    end
    bt.sleep(0.005)
  end
end

local function record(auth)
  local list = {}
  auth:on_state(function(new, old, reason, code)
    list[#list + 1] = { new = new, old = old, reason = reason, code = code }
  end)
  return list
end

local function path_of(list)
  local out = {}
  for i, e in ipairs(list) do
    out[i] = e.new
  end
  return table.concat(out, " > ")
end

-- A limit order that rests: exactly one ExecutionReport (New).
local function order(id)
  return { { 11, id }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 1000 }, { 40, 2 }, { 44, "1.1" } }
end

-- Sends an order and expects its ExecutionReport: the session is usable.
local function assert_trades(c, id)
  assert.is_true(c.fix:send("D", order(id)))
  local msg, err, code = c.fix:receive(5):await()
  assert.is_nil(err, code)
  assert.equal("8", msg.msg_type)
  assert.equal(id, msg[11])
  assert.equal("0", msg[150])
end

-- ------------------------------------------------- this process's resources

local function status_field(name)
  local f = assert(io.open("/proc/self/status"))
  local text = f:read("a")
  f:close()
  return tonumber(text:match(name .. ":%s*(%d+)"))
end

local function rss_kib()
  collectgarbage()
  collectgarbage()
  return status_field("VmRSS")
end

-- ASan keeps freed memory in quarantine (hundreds of MiB) and valgrind
-- replaces the allocator: VmRSS says nothing about leaks there, their own
-- leak checks do.
local function under_tool()
  local preload = os.getenv("LD_PRELOAD") or ""
  return preload:find("asan", 1, true) ~= nil or preload:find("vgpreload", 1, true) ~= nil
end

local function threads()
  return status_field("Threads")
end

local function fds()
  -- /proc/self would be the ls process; name ours. The popen pipe counts
  -- too, the same in every sample.
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("l"):match("^(%d+)")
  f:close()
  local p = assert(io.popen("ls /proc/" .. pid .. "/fd | wc -l"))
  local n = tonumber(p:read("a"))
  p:close()
  return n
end

-- The fd count once it stops moving: a connection closed on the I/O thread
-- just after logout() resolved still counts for a moment, a leak stays.
local function settled_fds()
  local n = fds()
  for _ = 1, 50 do
    bt.sleep(0.01)
    local m = fds()
    if m == n then
      return n
    end
    n = m
  end
  return n
end

-- Established TCP connections from us to port, from /proc/net/tcp{,6}.
local function established_to(port)
  local n = 0
  for _, file in ipairs({ "/proc/net/tcp", "/proc/net/tcp6" }) do
    local f = io.open(file)
    if f then
      for line in f:lines() do
        local rport, st = line:match("^%s*%d+: %x+:%x+ %x+:(%x+) (%x%x)")
        if rport and tonumber(rport, 16) == port and st == "01" then
          n = n + 1
        end
      end
      f:close()
    end
  end
  return n
end

describe("faults", function()
  describe("the exchange killed with SIGKILL", function()
    local ex
    after_each(function()
      if ex then
        ex:kill("CONT")
        ex:stop({ check = false })
        ex = nil
      end
    end)

    -- Connecting ends once the stream is up and the Logon is sent. Over
    -- plain TCP the kernel completes the handshake for any listening
    -- socket, so only TLS can hold a client in Connecting deterministically:
    -- the exchange is stopped (SIGSTOP), the kernel accepts the TCP
    -- connection into the backlog, the TLS handshake gets no answer. Then
    -- SIGKILL resets the connection under the handshake.
    it("during Connecting (TLS handshake unanswered) fails with the reset", function()
      ex = testing.exchange({ tls = true })
      local c <close> = new_client(ex, { tls = ex.tls })
      local id = register(c)
      local states = record(c.auth)
      assert.is_true(ex:kill("STOP"))
      local op = c.auth:login(id, PW)
      wait_for(function() return established_to(ex.fix_port) > 0 end, 5, "the TCP connection")
      assert.equal("Connecting", c.auth:state())
      assert.is_true(ex:kill("KILL"))
      local ok, msg, code = op:await(10)
      assert.is_nil(ok)
      -- The core reports a connection lost during the handshake as
      -- tls_failed (the TLS layer is where the reset surfaced).
      assert.equal("tls_failed", code)
      assert.matches("^connection to 127%.0%.0%.1:" .. ex.fix_port .. " lost: ", msg)
      bt.step(0)
      assert.equal("Failed", c.auth:state())
      assert.same({ msg, code }, { c.auth:last_error() })
      assert.equal("Connecting > Failed", path_of(states))
    end)

    it("during Authenticating fails with code disconnected", function()
      ex = testing.exchange({ faults = { "no-user-response" }, args = { "--trace" } })
      local c <close> = new_client(ex, { timeout = 30 })
      local id = register(c)
      local states = record(c.auth)
      local op = c.auth:login(id, PW)
      -- Once the exchange has read our UserRequest, nothing of ours is left
      -- unread in its socket, so its death is a clean close (FIN), not a
      -- reset.
      wait_for(function() return #ex:frames({ dir = "in", msg_type = "BE" }) == 1 end, 5,
        "the UserRequest to arrive")
      assert.equal("Authenticating", c.auth:state())
      assert.is_true(ex:kill("KILL"))
      local ok, msg, code = op:await(10)
      assert.is_nil(ok)
      assert.equal("disconnected", code)
      assert.equal("connection closed by 127.0.0.1:" .. ex.fix_port, msg)
      bt.step(0)
      assert.equal("Failed", c.auth:state())
      assert.same({ msg, code }, { c.auth:last_error() })
      assert.equal("Connecting > Authenticating > Failed", path_of(states))
    end)

    it("while Active fails with code disconnected and the reason", function()
      ex = testing.exchange()
      local c <close> = new_client(ex)
      local id = register(c)
      local states = record(c.auth)
      assert.is_true(c.auth:login(id, PW):await())
      assert_trades(c, "BEFORE-KILL")
      assert.is_true(ex:kill("KILL"))
      wait_for(function() return c.auth:state() == "Failed" end, 10, "Failed")
      bt.step(0)
      local reason, code = c.auth:last_error()
      assert.equal("disconnected", code)
      assert.equal("connection closed by 127.0.0.1:" .. ex.fix_port, reason)
      local last = states[#states]
      assert.same({ "Failed", "Active", reason, code }, { last.new, last.old, last.reason, last.code })
      -- Nothing more can be sent, and it says why.
      local ok, err = c.fix:send("D", order("AFTER-KILL"))
      assert.is_nil(ok)
      assert.is_string(err)
    end)
  end)

  describe("a slow peer (one byte per second)", function()
    -- HeartBtInt 1: no whole frame arrives, our TestRequest goes unanswered
    -- and the session ends; timeout = 10 keeps the UserResponse timer out
    -- of the way so the heartbeat rule is what ends it.
    local BOUND = 5

    it("ends the session by the heartbeat rules while Authenticating", function()
      local ex <close> = testing.exchange({ faults = { "slow-bytes" } })
      local c <close> = new_client(ex, { heartbeat = 1, timeout = 10 })
      local id = register(c)
      local t0 = bt.now()
      local ok, msg, code = c.auth:login(id, PW):await(BOUND)
      local took = bt.now() - t0
      io.stderr:write(("\n[faults] slow-bytes: login failed after %.2f s\n"):format(took))
      assert.is_nil(ok)
      assert.equal("timeout", code)
      assert.equal("heartbeat timeout: no reply to TestRequest within 1 s", msg)
      assert.is_true(took < BOUND)
      bt.step(0)
      assert.equal("Failed", c.auth:state())
      ex:stop() -- raises if it crashed or a sanitizer made it fail
    end)

    it("ends an Active session by the heartbeat rules", function()
      local ex <close> = testing.exchange({ faults = { ["slow-bytes"] = "login" } })
      local c <close> = new_client(ex, { heartbeat = 1, timeout = 10 })
      local id = register(c)
      assert.is_true(c.auth:login(id, PW):await())
      local t0 = bt.now()
      wait_for(function() return c.auth:state() == "Failed" end, BOUND, "Failed")
      local took = bt.now() - t0
      io.stderr:write(("[faults] slow-bytes=login: Active for %.2f s\n"):format(took))
      local reason, code = c.auth:last_error()
      assert.equal("timeout", code)
      assert.equal("heartbeat timeout: no reply to TestRequest within 1 s", reason)
      ex:stop() -- raises if it crashed or a sanitizer made it fail
    end)
  end)

  describe("frames built to exhaust a parser", function()
    local GROWTH_KIB = 4 * 1024

    -- Garbage after the Logon reply is dropped as a garbled frame
    -- (docs/design.md §4.2: no sequence number consumed), the session goes on in sequence:
    -- the UserResponse arrives, the client is Active and trades.
    local function survives(fault)
      local ex <close> = testing.exchange({ faults = { fault } })
      local c <close> = new_client(ex)
      local id = register(c)
      local before = rss_kib()
      assert.is_true(c.auth:login(id, PW):await())
      assert_trades(c, "AFTER-" .. fault)
      assert.equal("Active", c.auth:state())
      assert.is_true(c.auth:logout():await())
      local after = rss_kib()
      io.stderr:write(("[faults] %s: VmRSS %d -> %d KiB\n"):format(fault, before, after))
      assert.is_true(after - before < GROWTH_KIB)
      ex:stop() -- raises if it crashed or a sanitizer made it fail
    end

    it("a BodyLength of 999999999 is dropped before any of it is buffered", function()
      survives("huge-bodylength")
    end)

    it("1 MiB without an SOH is dropped", function()
      survives("no-soh")
    end)

    it("a frame of 100,000 fields above max_message_size is dropped", function()
      survives("many-fields")
    end)

    it("a frame of 100,000 fields within max_message_size ends the session", function()
      local ex <close> = testing.exchange({ faults = { "many-fields" } })
      local c <close> = new_client(ex, { max_message_size = 1024 * 1024 })
      local id = register(c)
      local before = rss_kib()
      local ok, msg, code = c.auth:login(id, PW):await()
      local after = rss_kib()
      io.stderr:write(("[faults] many-fields (1 MiB max): VmRSS %d -> %d KiB\n"):format(before, after))
      assert.is_nil(ok)
      assert.equal("protocol", code)
      assert.equal("a message with more than 1024 fields arrived", msg)
      bt.step(0)
      assert.equal("Failed", c.auth:state())
      assert.is_true(after - before < GROWTH_KIB)
      ex:stop() -- raises if it crashed or a sanitizer made it fail
    end)
  end)

  describe("the client killed with SIGKILL while sending orders", function()
    local tmp
    after_each(function()
      if tmp then
        os.execute("rm -rf '" .. tmp .. "'")
        tmp = nil
      end
    end)

    it("restarts from its store with the next number and answers a ResendRequest", function()
      tmp = os.tmpname()
      os.remove(tmp)
      assert(os.execute("mkdir -m 700 '" .. tmp .. "'"))
      local store = tmp .. "/store"
      local ex <close> = testing.exchange({ faults = { "resend-request" }, args = { "--trace" } })
      local reg <close> = new_client(ex)
      local id = register(reg)

      -- The child: log in, then send orders as fast as the loop goes,
      -- printing each one's acknowledgement.
      local script = tmp .. "/child.lua"
      local f = assert(io.open(script, "w"))
      f:write(([[
package.path = %q
package.cpath = %q
local bt = require("betatrader")
local c = bt.client{ api_url = %q, fix_host = %q, fix_port = %d, store = %q, timeout = 5 }
assert(c.auth:login(%q, %q):await())
io.stdout:write("active\n")
io.stdout:flush()
local i = 0
while true do
  i = i + 1
  assert(c.fix:send("D", { { 11, "K" .. i }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 1000 }, { 40, 2 },
    { 44, "1.1" } }))
  bt.sleep(0.002)
  while c.fix:pending() > 0 do
    local m = c.fix:receive():await()
    if m.msg_type == "8" then
      io.stdout:write("ack ", m[11], "\n")
      io.stdout:flush()
    end
  end
end
]]):format(package.path, package.cpath, ex.api_url, ex.fix_host, ex.fix_port, store, id, PW))
      f:close()
      local child <close> = assert(process.spawn({ "lua5.4", script }))
      local acks = 0
      local deadline = bt.now() + 20
      while acks < 20 do
        ex:stderr() -- keep the exchange's trace pipe drained
        local line, why = child:read_line(0.2)
        if line == nil and why ~= "timeout" then
          error("child ended early: " .. tostring(why) .. "\n" .. child:stderr())
        end
        if line and line:match("^ack ") then
          acks = acks + 1
        end
        assert(bt.now() < deadline, "the child acknowledged only " .. acks .. " orders")
      end
      assert.is_true(child:kill("KILL"))
      assert.same({ 9, "signal" }, { child:wait(5) })

      local first = ex:frames({ dir = "in", msg_type = "A", [49] = id })
      assert.equal(1, #first)
      local old = first[1].conn
      wait_for(function() return ex:conn_closed(old) end, 5, "the exchange to drop the dead client")
      local last_old = 0
      for _, fr in ipairs(ex:frames({ dir = "in", conn = old })) do
        last_old = math.max(last_old, fr.seq or 0)
      end

      -- Restart from the same store, no reset: the exchange would log us
      -- out ("MsgSeqNum too low") if a number were reused, so Active
      -- proves it; the Logon's 34 shows it.
      local c <close> = new_client(ex, { store = store })
      assert.is_true(c.auth:login(id, PW):await())
      local logons = ex:frames({ dir = "in", msg_type = "A", [49] = id })
      assert.equal(2, #logons)
      local new = logons[2].conn
      assert.is_true(logons[2].seq > last_old,
        ("Logon 34=%d after the child's last 34=%d"):format(logons[2].seq, last_old))
      io.stderr:write(("[faults] child: %d acks, last MsgSeqNum %d; restart Logon 34=%d\n")
        :format(acks, last_old, logons[2].seq))

      -- The first order of the connection makes the exchange ask for
      -- everything again (7=1 16=0).
      assert.is_true(c.fix:send("D", order("AFTER-RESTART")))
      local after_seq
      wait_for(function()
        local d = ex:frames({ dir = "in", conn = new, msg_type = "D", [11] = "AFTER-RESTART" })
        after_seq = d[1] and d[1].seq
        return after_seq ~= nil
      end, 5, "the order after the restart")
      local rr = ex:frames({ dir = "out", conn = new, msg_type = "2" })
      assert.equal(1, #rr)
      assert.same({ "1", "0" }, { rr[1][7], rr[1][16] })

      -- The answer: every number from 1 up to that order, each once, as a
      -- resent message (43=Y with 122) or inside a GapFill.
      local resent
      local function covered()
        resent = ex:frames({ dir = "in", conn = new, [43] = "Y" })
        local top = 0
        for _, fr in ipairs(resent) do
          top = math.max(top, fr.msg_type == "4" and tonumber(fr[36]) - 1 or fr.seq)
        end
        return top >= after_seq
      end
      wait_for(covered, 5, "the resend")
      local nextseq, napp, ngap = 1, 0, 0
      for _, fr in ipairs(resent) do
        assert.equal(nextseq, fr.seq, "resend out of order: " .. fr.raw)
        assert.is_not_nil(fr[122], "no OrigSendingTime(122): " .. fr.raw)
        if fr.msg_type == "4" then
          assert.equal("Y", fr[123])
          nextseq = tonumber(fr[36])
          ngap = ngap + 1
        else
          assert.equal("D", fr.msg_type)
          nextseq = fr.seq + 1
          napp = napp + 1
        end
      end
      assert.is_true(nextseq > after_seq)
      io.stderr:write(("[faults] resend: %d orders with 43=Y, %d GapFills\n"):format(napp, ngap))

      -- Nothing lost, nothing doubled: every order in the client's store
      -- reached the exchange and was acknowledged exactly once (an
      -- ExecutionReport the dead child never read comes again with 43=Y:
      -- that is its resend, not a second acknowledgement).
      local mf = assert(io.open(store .. "/" .. id .. "+BETA_EXCHANGE.msgs", "rb"))
      local raw = mf:read("a")
      mf:close()
      local stored = {}
      for clid in raw:gmatch("\00111=(K%d+)\001") do
        stored[clid] = true
      end
      local n = 0
      for clid in pairs(stored) do
        n = n + 1
        local acked = 0
        for _, fr in ipairs(ex:frames({ dir = "out", msg_type = "8", [11] = clid })) do
          if fr[43] ~= "Y" then
            acked = acked + 1
          end
        end
        if acked ~= 1 then
          io.stderr:write(ex:stderr())
        end
        assert.equal(1, acked, clid)
      end
      assert.is_true(n >= acks)
      assert.is_true(c.auth:logout():await())
      ex:stop() -- raises if it crashed or a sanitizer made it fail
    end)
  end)

  describe("1,000 login/logout cycles in one process", function()
    it("leave the fds, threads and memory where they were", function()
      local ex <close> = testing.exchange()
      local c <close> = new_client(ex)
      local id = register(c)
      local function cycle()
        assert.is_true(c.auth:login(id, PW):await())
        assert.is_true(c.auth:logout():await())
      end
      for _ = 1, 20 do -- warm up: reactor thread, TLS-less caches, allocator
        cycle()
      end
      local rss0 = rss_kib()
      local fd0, th0 = settled_fds(), threads()
      local t0 = bt.now()
      for _ = 1, 1000 do
        cycle()
      end
      local took = bt.now() - t0
      local rss1 = rss_kib()
      local fd1, th1 = settled_fds(), threads()
      io.stderr:write(("[faults] 1000 cycles in %.1f s: fds %d -> %d, threads %d -> %d, "
        .. "VmRSS %d -> %d KiB\n"):format(took, fd0, fd1, th0, th1, rss0, rss1))
      assert.is_true(fd1 <= fd0)
      assert.equal(th0, th1)
      if not under_tool() then
        assert.is_true(rss1 - rss0 < 2048)
      end
      assert.equal("Disconnected", c.auth:state())
      ex:stop() -- raises if it crashed or a sanitizer made it fail
    end)
  end)
end)
