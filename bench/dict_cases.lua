-- Cases 7-9 of the benchmark: FIX by name (issue 13), from Lua through the
-- public API, each beside its raw-form anchor in the same round.
--
--   lua5.4 bench/dict_cases.lua send <fix_port> <http_port> <messages> <round>
--     7: fix:send of a NewOrderSingle by name vs the same order in the raw
--     form, ten alternating chunks of <messages> each; ns per call of the
--     send loop (the exchange's answers are drained between chunks, not timed).
--   lua5.4 bench/dict_cases.lua recv <round> [iterations]
--     8: an ExecutionReport decoded as fix:receive delivers it (dictionary
--     decode) and five fields read by name, vs core.fix_decode (the raw
--     table of before) and the same five fields read by tag.
--   lua5.4 bench/dict_cases.lua groups <frame file> <round> [iterations]
--     9: the 35=W with 20 MDEntries written by bench_qf_groups, decoded into
--     Lua tables with its groups (NoMDEntries as an array of entries).
--   lua5.4 bench/dict_cases.lua sendloop raw|named <count>
--     case 7 for callgrind: instructions per send without the I/O thread.
-- Prints "RESULT <case> <round> <value>" lines for bench/run's table.
local bt = require("betatrader")
local async = require("betatrader.async")
local core = require("betatrader.core")
local dict = require("betatrader.dict")

local mode = arg[1]

local function result(case, round, value)
  io.write(string.format("RESULT %s %d %.2f\n", case, round, value))
  io.flush()
end

local function send_case(fix_port, http_port, n, round)
  local client = bt.client{
    api_url = "http://127.0.0.1:" .. http_port,
    fix_host = "127.0.0.1",
    fix_port = fix_port,
    store = false,
    reset_on_logon = true,
  }
  local user = string.format("bd%d_%d_%d", round, os.time(), math.random(1 << 30))
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
  local raw = {
    { 11, "ORD0000001" }, { 55, "EUR/USD" }, { 54, "1" }, { 60, "20250101-12:00:00.123" },
    { 38, 1000000 }, { 40, "2" }, { 44, 1.08345 }, { 59, "0" },
  }
  local named = {
    ClOrdID = "ORD0000001", Symbol = "EUR/USD", Side = "BUY", TransactTime = "20250101-12:00:00.123",
    OrderQty = 1000000, OrdType = "LIMIT", Price = 1.08345, TimeInForce = "DAY",
  }
  local fix = client.fix
  local sent = 0
  local function loop(msg_type, fields)
    local t0 = bt.now()
    for _ = 1, n do
      if not fix:send(msg_type, fields) then
        error("send failed")
      end
    end
    local t1 = bt.now()
    sent = sent + n
    local deadline = t1 + 60
    while acks < sent do
      bt.step(0.5)
      if auth:state() ~= "Active" or bt.now() > deadline then
        error(string.format("only %d of %d acknowledged", acks, sent))
      end
    end
    return (t1 - t0) * 1e9 / n
  end
  loop("D", raw) -- warm-up
  loop("NewOrderSingle", named)
  -- ten alternating chunks each, so that a burst of load on the machine
  -- hits both forms alike
  local t_raw, t_named = 0, 0
  for _ = 1, 10 do
    t_raw = t_raw + loop("D", raw)
    t_named = t_named + loop("NewOrderSingle", named)
  end
  result("byname.send_raw", round, t_raw / 10)
  result("byname.send", round, t_named / 10)
  assert(auth:logout():await(10))
  client:close()
end

local function recv_case(round, iters)
  local d = dict.default()
  local er = d:encode("ExecutionReport", {
    OrderID = "ORD12345", ClOrdID = "CL98765", ExecID = "EX55555", ExecType = "TRADE",
    OrdStatus = "FILLED", Symbol = "EUR/USD", Side = "BUY", OrderQty = 100000, Price = 1.08345,
    LastQty = 100000, LastPx = 1.08345, LeavesQty = 0, CumQty = 100000, AvgPx = 1.08345,
    TransactTime = "20250101-12:00:00.123",
  }, { sender = "BETA_EXCHANGE", target = "CLIENT0001", seq = 12345, time = 1735732800.123 })
  local decode = core.fix_decode
  local sink = 0
  local t0 = bt.now()
  for _ = 1, iters do
    local m = decode(er)
    local a, b, c, e, f = m[11], m[39], m[55], m[31], m[32]
    sink = sink + #a + #b + #c + #e + #f
  end
  local t1 = bt.now()
  result("byname.recv_raw", round, (t1 - t0) * 1e9 / iters)
  t0 = bt.now()
  for _ = 1, iters do
    local m = d:decode(er)
    local a, b, c, e, f = m.ClOrdID, m.OrdStatus, m.Symbol, m.LastPx, m.LastQty
    sink = sink + #a + #b + #c + #e + #f
  end
  t1 = bt.now()
  result("byname.recv", round, (t1 - t0) * 1e9 / iters)
  -- the same, and the bot also walks msg.fields (built on first access)
  t0 = bt.now()
  for _ = 1, iters do
    local m = d:decode(er)
    local a, b, c, e, f = m.ClOrdID, m.OrdStatus, m.Symbol, m.LastPx, m.LastQty
    sink = sink + #a + #b + #c + #e + #f + #m.fields
  end
  t1 = bt.now()
  result("byname.recv_fields", round, (t1 - t0) * 1e9 / iters)
  io.stderr:write(string.format("dict_cases: ER %d bytes, sink %d\n", #er, sink))
end

local function groups_case(path, round, iters)
  local f = assert(io.open(path, "rb"))
  local w = f:read("a")
  f:close()
  local d = dict.default()
  local m = assert(d:decode(w))
  assert(#m.NoMDEntries == 20, "20 MDEntries expected")
  local sink = 0
  local t0 = bt.now()
  for _ = 1, iters do
    local x = d:decode(w)
    sink = sink + #x.NoMDEntries
  end
  local t1 = bt.now()
  result("groups.ours_lua", round, (t1 - t0) * 1e9 / iters)
  io.stderr:write(string.format("dict_cases: W %d bytes, sink %d\n", #w, sink))
end

-- For instruction counts (valgrind --tool=callgrind): fix:send on a client
-- that is not logged in, so that both forms stop at the same refusal in
-- bt_auth_send; run with two counts and subtract.
local function sendloop_case(form, n)
  local client = bt.client{ store = false }
  local fix = client.fix
  local raw = {
    { 11, "ORD0000001" }, { 55, "EUR/USD" }, { 54, "1" }, { 60, "20250101-12:00:00.123" },
    { 38, 1000000 }, { 40, "2" }, { 44, 1.08345 }, { 59, "0" },
  }
  local named = {
    ClOrdID = "ORD0000001", Symbol = "EUR/USD", Side = "BUY", TransactTime = "20250101-12:00:00.123",
    OrderQty = 1000000, OrdType = "LIMIT", Price = 1.08345, TimeInForce = "DAY",
  }
  for _ = 1, n do
    if form == "raw" then
      fix:send("D", raw)
    else
      fix:send("NewOrderSingle", named)
    end
  end
  client:close()
end

if mode == "send" then
  send_case(tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5]))
elseif mode == "recv" then
  recv_case(tonumber(arg[2]), tonumber(arg[3] or "200000"))
elseif mode == "sendloop" then
  sendloop_case(arg[2], tonumber(arg[3]))
elseif mode == "groups" then
  groups_case(arg[2], tonumber(arg[3]), tonumber(arg[4] or "50000"))
else
  io.stderr:write("usage: dict_cases.lua send <fix_port> <http_port> <messages> <round>\n"
    .. "       dict_cases.lua recv <round> [iterations]\n"
    .. "       dict_cases.lua groups <frame file> <round> [iterations]\n"
    .. "       dict_cases.lua sendloop raw|named <count>\n")
  os.exit(2)
end
