-- Cases 20 and 21 of the benchmark (issue 16): what a bot does, through the
-- public API only, with the client's default options (store on: bench/run
-- starts this in a scratch directory, where ".betatrader" is created).
--
--   lua5.4 bench/bot_cases.lua bot <fix_port> <http_port> <orders> <round>
--     fix:send of <orders> NewOrderSingles in a loop, then fix:receive of
--     their <orders> ExecutionReports, reading five fields of each. When
--     the send queue is full (busy, at the default max_send_queue), the bot
--     takes one report and tries again, as a real loop would.
--     Prints "RESULT bot.ours <round> <orders/s>" (first send to last report).
--   lua5.4 bench/bot_cases.lua rtt <fix_port> <http_port> <orders> <round> [hist]
--     one order at a time: fix:send, then fix:receive():await() of its
--     report. Prints p50/p99 in microseconds, and the byte counts of one
--     order and one report (for the raw ping-pong floor); with [hist], writes
--     the latency histogram of the round to that file.
--
-- Run from a scratch directory with LUA_PATH/LUA_CPATH set by bench/run.
local bt = require("betatrader")

-- The five fields a bot reads from each report, by name (by tag, the same
-- case is READ = { 37, 11, 17, 39, 150 }).
local READ = { "OrderID", "ClOrdID", "ExecID", "OrdStatus", "ExecType" }

local mode = arg[1]

local function result(case, round, value)
  io.write(string.format("RESULT %s %d %.2f\n", case, round, value))
  io.flush()
end

local ORDER = {
  { 11, "ORD0000001" }, { 21, "1" }, { 55, "EUR/USD" }, { 54, "1" },
  { 60, "20250101-12:00:00.123" }, { 38, 100000 }, { 40, "2" }, { 44, "1.08345" },
  { 59, "0" },
}

local function connect(fix_port, http_port, round, tag)
  local client = bt.client{
    api_url = "http://127.0.0.1:" .. http_port,
    fix_host = "127.0.0.1",
    fix_port = fix_port,
  }
  local user = string.format("%s%d_%d_%d", tag, round, os.time(), math.random(1 << 30))
  local id = assert(client.auth:register(user, "bench-pw"):await(10))
  assert(client.auth:login(id, "bench-pw"):await(10))
  return client
end

local r1, r2, r3, r4, r5 = READ[1], READ[2], READ[3], READ[4], READ[5]

-- Reads the five fields; returns how many were there.
local function read_report(msg)
  local a, b, c, d, e = msg[r1], msg[r2], msg[r3], msg[r4], msg[r5]
  return (a and 1 or 0) + (b and 1 or 0) + (c and 1 or 0) + (d and 1 or 0) + (e and 1 or 0)
end

local function bot_case(fix_port, http_port, n, round)
  local client = connect(fix_port, http_port, round, "bb")
  local fix = client.fix
  local got, read = 0, 0
  local t0 = bt.now()
  for _ = 1, n do
    local ok, err, code = fix:send("D", ORDER)
    while not ok do
      if code ~= "busy" then
        error("send: " .. tostring(err))
      end
      read = read + read_report(assert(fix:receive(30):await()))
      got = got + 1
      ok, err, code = fix:send("D", ORDER)
    end
  end
  while got < n do
    read = read + read_report(assert(fix:receive(30):await()))
    got = got + 1
  end
  local t1 = bt.now()
  if read ~= 5 * n then
    error(string.format("read %d fields of %d reports, want %d", read, n, 5 * n))
  end
  result("bot.ours", round, n / (t1 - t0))
  assert(client.auth:logout():await(10))
  client:close()
end

-- Histogram lines of sorted latencies (us): power-of-two-ish buckets.
local function histogram(us, path)
  local edges = { 10, 15, 20, 30, 40, 50, 70, 100, 150, 200, 300, 500, 1000, 2000, 5000, math.huge }
  local counts, j = {}, 1
  for i = 1, #edges do
    counts[i] = 0
  end
  for _, v in ipairs(us) do
    while v >= edges[j] do
      j = j + 1
    end
    counts[j] = counts[j] + 1
  end
  local f = assert(io.open(path, "w"))
  local width = 50
  local top = math.max(table.unpack(counts))
  local lo = 0
  for i, c in ipairs(counts) do
    if c > 0 then
      local hi = edges[i] == math.huge and "  inf" or string.format("%5d", edges[i])
      f:write(string.format("  %5d-%s us %7d %s\n", lo, hi, c,
        string.rep("#", math.max(1, math.floor(c * width / top + 0.5)))))
    end
    lo = edges[i]
  end
  f:close()
end

local function rtt_case(fix_port, http_port, n, round, hist)
  local client = connect(fix_port, http_port, round, "br")
  local fix = client.fix
  local now = bt.now
  local us = {}
  local last
  for i = 1, n do
    local t0 = now()
    local ok, err = fix:send("D", ORDER)
    if not ok then
      error("send: " .. tostring(err))
    end
    last = assert(fix:receive(30):await())
    read_report(last)
    us[i] = (now() - t0) * 1e6
  end
  table.sort(us)
  result("rtt.ours_p50", round, us[n // 2 + 1])
  result("rtt.ours_p99", round, us[n * 99 // 100 + 1])
  -- Bytes on the wire of the last order and its report, for the floor:
  -- the report's own BodyLength, and the order's body rebuilt from what was
  -- sent (its header mirrors the report's: 49 and 56 swapped, 34 and 52).
  local function field_len(tag, v)
    return #tostring(tag) + #tostring(v) + 2
  end
  local function frame_len(body)
    return 10 + field_len(9, body) + body + 7
  end
  local body = field_len(35, "D") + field_len(49, last[56]) + field_len(56, last[49]) +
    field_len(34, n + 2) + field_len(52, last[52])
  for _, f in ipairs(ORDER) do
    body = body + field_len(f[1], f[2])
  end
  result("rtt.req_bytes", round, frame_len(body))
  result("rtt.resp_bytes", round, frame_len(tonumber(last[9])))
  if hist then
    histogram(us, hist)
  end
  assert(client.auth:logout():await(10))
  client:close()
end

if mode == "bot" then
  bot_case(tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5]))
elseif mode == "rtt" then
  rtt_case(tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5]), arg[6])
else
  io.stderr:write("usage: bot_cases.lua bot|rtt <fix_port> <http_port> <orders> <round> [hist]\n")
  os.exit(2)
end
