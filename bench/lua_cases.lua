-- Cases 5 and 6 of the benchmark, from Lua through the public API.
--
--   lua5.4 bench/lua_cases.lua send <fix_port> <http_port> <messages> <round> [store]
--     client.fix:send of a NewOrderSingle, <messages> times in a loop, then
--     until the exchange has received them all. The local exchange answers
--     every application message with a BusinessMessageReject (35=j), so the
--     last of those proves the last order arrived. The bench counts them in
--     its own event hook instead of fix:receive(), which would decode each
--     into a table: that cost belongs to this exchange's chatter, not to
--     sending. send.ours_loop is the rate at which fix:send returned.
--     Without [store] the client runs with store = false (send.ours); with a
--     directory it runs with the default store settings there (send.store:
--     every message recorded for resends, fsync off, resend_window default).
--   lua5.4 bench/lua_cases.lua await <round> [iterations]
--     await of an operation that is already done, a plain Lua method call
--     beside it (the floor of any call), and await of an operation the I/O
--     thread completes (sleep_op(0): posted, timer fires, queue, eventfd).
--   lua5.4 bench/lua_cases.lua timers <round> [timers]
--     the scheduler's timer heap through the public API, ns per timer:
--     timers.cancel arms [timers] after() timers at spread deadlines and
--     cancels them in random order (each arm and cancel with the whole
--     crowd armed); timers.fire arms them due now and fires them in one
--     step; timers.timeout is one task's await of an op that never
--     finishes, with timeout 0 (arm, step, fire, resume), [timers]/10 times.
--
-- Prints "RESULT <case> <round> <value>" lines for bench/run's table.
-- Run from the repository root with LUA_PATH/LUA_CPATH set by bench/run.
local bt = require("betatrader")
local async = require("betatrader.async")

local mode = arg[1]

local function result(case, round, value)
  io.write(string.format("RESULT %s %d %.2f\n", case, round, value))
  io.flush()
end

local function send_case(fix_port, http_port, n, round, store)
  local client = bt.client{
    api_url = "http://127.0.0.1:" .. http_port,
    fix_host = "127.0.0.1",
    fix_port = fix_port,
    store = store or false,
    reset_on_logon = true,
    -- room for the whole burst: the case measures the send path, not the
    -- busy/flush cycle of a full queue
    max_send_queue = 1024 * 1024 * 1024,
  }
  local case = store and "send.store" or "send.ours"
  local user = string.format("bs%d_%d_%d", round, os.time(), math.random(1 << 30))
  local id = assert(client.auth:register(user, "bench-pw"):await(10))
  assert(client.auth:login(id, "bench-pw"):await(10))

  local acks = 0
  local auth = client.auth
  async.on_event(client._target, function(name, a, b, c, d)
    if name == "message" then
      acks = acks + 1
    elseif name == "state" then
      auth:_on_state(a, b, c, d)
    end
  end)

  local fields = {
    { 11, "ORD0000001" }, { 21, "1" }, { 55, "EUR/USD" }, { 54, "1" },
    { 60, "20250101-12:00:00.123" }, { 38, 100000 }, { 40, "2" }, { 44, "1.08345" },
    { 59, "0" },
  }
  local fix = client.fix
  local t0 = bt.now()
  for _ = 1, n do
    local ok, err = fix:send("D", fields)
    if not ok then
      error("send: " .. tostring(err))
    end
  end
  local t1 = bt.now()
  local deadline = t1 + 60
  while acks < n do
    bt.step(0.5)
    if auth:state() ~= "Active" or bt.now() > deadline then
      error(string.format("only %d of %d acknowledged (state %s)", acks, n, auth:state()))
    end
  end
  local t2 = bt.now()
  result(case, round, n / (t2 - t0))
  result(case .. "_loop", round, n / (t1 - t0))
  assert(auth:logout():await(10))
  client:close()
end

local function await_case(round, iters)
  local done = async.resolved(true)
  local t0 = bt.now()
  for _ = 1, iters do
    done:await()
  end
  local t1 = bt.now()
  result("await.done", round, (t1 - t0) * 1e9 / iters)

  local obj = { m = function(self) return self end }
  t0 = bt.now()
  for _ = 1, iters do
    obj:m()
  end
  t1 = bt.now()
  result("await.call", round, (t1 - t0) * 1e9 / iters)

  local k = iters // 50
  t0 = bt.now()
  for _ = 1, k do
    assert(async.sleep_op(0):await())
  end
  t1 = bt.now()
  result("await.io", round, (t1 - t0) * 1e9 / k)
end

local function timers_case(round, n)
  local handles, order = {}, {}
  local noop = function() end
  math.randomseed(round)
  for i = 1, n do
    order[i] = i
  end
  for i = n, 2, -1 do
    local j = math.random(i)
    order[i], order[j] = order[j], order[i]
  end
  local t0 = bt.now()
  for i = 1, n do
    handles[i] = async.after(1000 + (order[i] % 997), noop)
  end
  for i = 1, n do
    async.cancel_timer(handles[order[i]])
  end
  local t1 = bt.now()
  result("timers.cancel", round, (t1 - t0) * 1e9 / n)

  local fired = 0
  local count = function() fired = fired + 1 end
  t0 = bt.now()
  for _ = 1, n do
    async.after(0, count)
  end
  async.step(0)
  t1 = bt.now()
  assert(fired == n, "not every timer fired")
  result("timers.fire", round, (t1 - t0) * 1e9 / n)

  local k = n // 10
  local never = async.new()
  t0 = bt.now()
  async.run(function()
    for _ = 1, k do
      assert(not never:await(0))
    end
  end)
  t1 = bt.now()
  result("timers.timeout", round, (t1 - t0) * 1e9 / k)
end

if mode == "send" then
  send_case(tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5]), arg[6])
elseif mode == "await" then
  await_case(tonumber(arg[2]), tonumber(arg[3] or "1000000"))
elseif mode == "timers" then
  timers_case(tonumber(arg[2]), tonumber(arg[3] or "100000"))
else
  io.stderr:write("usage: lua_cases.lua send <fix_port> <http_port> <messages> <round> [store]\n"
    .. "       lua_cases.lua await <round> [iterations]\n"
    .. "       lua_cases.lua timers <round> [timers]\n")
  os.exit(2)
end
