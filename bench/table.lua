-- Reads the "RESULT <case> <round> <value>" lines that the bench programs
-- print and writes the table bench/run shows: median, min-max and runs per
-- case, and for a case with anchors the median of its per-round ratios
-- (ours / anchor, both from the same round). It never fails on a number.
--   lua5.4 bench/table.lua results.txt
local cases = {
  -- id, label, unit, scale (value * scale is shown), anchors, target
  { "decode.ours", "1 decode ER 222 B: fix_frame_parse (frame, check, index)", "ns", 1,
    { "decode.qf", "decode.qf_dict", "decode.scan", "decode.scan_avx2" }, "<= 60 ns" },
  { "decode.qf", "1 anchor: QuickFIX setString (validate)", "ns", 1 },
  { "decode.qf_dict", "1 anchor: QuickFIX setString + FIX44 dict", "ns", 1 },
  { "decode.scan", "1 ceiling: checksum+SOH scan, scalar", "ns", 1 },
  { "decode.scan_avx2", "1 ceiling: checksum+SOH scan, AVX2", "ns", 1 },
  { "encode.ours", "2 encode ER from values: fix_enc", "ns", 1, { "encode.qf" }, "<= 100 ns" },
  { "encode.qf", "2 anchor: QuickFIX typed fields + toString", "ns", 1 },
  { "login.ours", "3 connect -> Active (bt_auth_login)", "us", 1, { "login.floor" },
    "<= 2x floor" },
  { "login.floor", "3 floor: connect + 2 x 100 B round trips", "us", 1 },
  { "many.time", "4 1,000 logins at once, until all Active", "ms", 1, nil, "<= 1000 ms" },
  { "many.rss", "4 resident memory per session", "KiB", 1, nil, "<= 32 KiB" },
  { "many.heap", "4 malloc heap in use per session (all arenas)", "KiB", 1 },
  { "send.ours", "5 Lua fix:send NOS until exchange got all, store=false", "msg/s", 1,
    { "send.qf" }, ">= 500,000/s" },
  { "send.ours_loop", "5 Lua fix:send loop alone, store=false", "msg/s", 1, { "send.qf_loop" } },
  { "send.store", "5 the same with the default store (a directory)", "msg/s", 1,
    { "send.ours" }, ">= 0.9x store=false" },
  { "send.store_loop", "5 send loop alone, default store", "msg/s", 1, { "send.ours_loop" } },
  { "send.qf", "5 anchor: QuickFIX initiator -> acceptor", "msg/s", 1 },
  { "send.qf_loop", "5 anchor: QuickFIX sendToTarget loop alone", "msg/s", 1 },
  { "await.done", "6 await of a completed op", "ns", 1, { "await.call" }, "< 300 ns" },
  { "await.call", "6 floor: a Lua method call", "ns", 1 },
  { "await.io", "6 await of an op the I/O thread completes", "ns", 1,
    { "await.c_op", "await.pingpong" } },
  { "await.c_op", "6 anchor: same hand-off in C (op, post, cq wait)", "ns", 1 },
  { "await.pingpong", "6 floor: eventfd ping-pong between 2 threads", "ns", 1 },
  { "timers.cancel", "6 after() + cancel_timer, 100,000 armed at once", "ns", 1 },
  { "timers.fire", "6 after(0), 100,000 fired by one step, per timer", "ns", 1 },
  { "timers.timeout", "6 await with timeout 0 in a task: arm, step, fire", "ns", 1 },
  { "byname.send", "7 fix:send NOS by name (send loop)", "ns", 1, { "byname.send_raw" },
    "<= 1.3x raw" },
  { "byname.send_raw", "7 anchor: the same NOS in the raw form", "ns", 1 },
  { "byname.recv", "8 ER decoded by name + 5 fields by name", "ns", 1, { "byname.recv_raw" },
    "<= 1.5x raw" },
  { "byname.recv_fields", "8 the same, and msg.fields read too", "ns", 1, { "byname.recv_raw" } },
  { "byname.recv_raw", "8 anchor: core.fix_decode + 5 fields by tag", "ns", 1 },
  { "groups.ours_lua", "9 35=W, 20 MDEntries, into Lua tables", "ns", 1, { "groups.qf_dict" },
    "(vs QuickFIX)" },
  { "groups.ours_c", "9 35=W: fix_parse + dictionary walk (C)", "ns", 1, { "groups.qf_dict" } },
  { "groups.qf_dict", "9 anchor: QuickFIX setString + FIX44 dict", "ns", 1 },
  { "match.ours", "10 matching, book.c, ~10,000 resting orders", "orders/s", 1,
    { "match.naive" } },
  { "match.naive", "10 anchor: naive book (scan per order)", "orders/s", 1 },
  { "match.venue", "10 venue.c: parse + match + ExecutionReports", "orders/s", 1 },
  -- issue 16
  { "bot.ours", "20 bot loop: Lua send + fix:receive + 5 fields, store on", "orders/s", 1,
    { "bot.qf" }, ">= 250,000/s" },
  { "bot.qf", "20 anchor: QuickFIX initiator (FileStore) <-> acceptor", "orders/s", 1 },
  { "rtt.ours_p50", "21 order -> report p50, Lua, store on", "us", 1,
    { "rtt.floor_p50", "rtt.qf_p50" }, "<= 2x floor, < qf" },
  { "rtt.ours_p99", "21 order -> report p99, Lua, store on", "us", 1,
    { "rtt.floor_p99", "rtt.qf_p99" }, "<= 3x floor, < qf" },
  { "rtt.floor_p50", "21 floor p50: C ping-pong, same bytes, loopback", "us", 1 },
  { "rtt.floor_p99", "21 floor p99", "us", 1 },
  { "rtt.qf_p50", "21 anchor p50: QuickFIX (FileStore) round trip", "us", 1 },
  { "rtt.qf_p99", "21 anchor p99: QuickFIX round trip", "us", 1 },
  { "sessions.time", "22 sessions at once, C API, store off, until all Active", "ms", 1, nil,
    "<= 3000 ms" },
  { "sessions.rss", "22 resident memory per session", "KiB", 1, nil, "<= 16 KiB" },
  { "sessions.fds_active", "22 fds while Active, over the start", "fds", 1 },
  { "sessions.fds_left", "22 fds left after logout + free", "fds", 1, nil, "0" },
  { "sessions.threads_left", "22 threads left after logout + free", "threads", 1, nil, "0" },
  { "split.ours", "23 connect -> Active, C API (bt_auth_login)", "us", 1,
    { "split.floor", "split.rawfix" }, "<= 1.5x floor" },
  { "split.rawfix", "23 same Logon + UserRequest by hand (exchange included)", "us", 1 },
  { "split.floor", "23 floor: connect + 2 x 100 B round trips", "us", 1 },
  { "split.client", "23 client's share (ours - hand-written)", "us", 1 },
  { "split.exchange", "23 exchange's share (hand-written - floor)", "us", 1 },
}

local path = arg[1] or error("usage: table.lua results.txt")
local data = {} -- id -> round -> value
for line in io.lines(path) do
  local id, round, value = line:match("^RESULT%s+(%S+)%s+(%d+)%s+(%S+)")
  if id and tonumber(value) then
    data[id] = data[id] or {}
    data[id][tonumber(round)] = tonumber(value)
  end
end

local function median(t)
  table.sort(t)
  local n = #t
  if n == 0 then
    return nil
  end
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

local function num(v)
  if v >= 10000 then
    local s = string.format("%d", math.floor(v + 0.5))
    return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
  elseif v >= 100 then
    return string.format("%.0f", v)
  elseif v >= 10 then
    return string.format("%.1f", v)
  end
  return string.format("%.2f", v)
end

local function short(id)
  return id:match("%.(.*)$")
end

local out = {}
out[#out + 1] = "| case | median | min-max | runs | ratio ours/anchor (per round, median) | target |"
out[#out + 1] = "|---|---:|---:|---:|---|---|"
for _, c in ipairs(cases) do
  local id, label, unit, _, anchors, target = table.unpack(c)
  local rounds = data[id]
  if rounds then
    local vals = {}
    for _, v in pairs(rounds) do
      vals[#vals + 1] = v
    end
    local med = median(vals)
    local ratios = {}
    for _, a in ipairs(anchors or {}) do
      local rs = {}
      for r, v in pairs(rounds) do
        local av = data[a] and data[a][r]
        if av and av > 0 then
          rs[#rs + 1] = v / av
        end
      end
      local m = median(rs)
      if m then
        ratios[#ratios + 1] = string.format("%.2fx %s", m, short(a))
      end
    end
    out[#out + 1] = string.format("| %s | %s %s | %s-%s | %d | %s | %s |", label, num(med), unit,
      num(vals[1]), num(vals[#vals]), #vals, table.concat(ratios, ", "), target or "")
  end
end
local missing = {}
for _, c in ipairs(cases) do
  if not data[c[1]] then
    missing[#missing + 1] = c[1]
  end
end
print(table.concat(out, "\n"))
if #missing > 0 then
  print("\nnot measured in this run: " .. table.concat(missing, ", "))
end
print("\nTimes: lower is better, ratio < 1 means ours is faster. Rates (msg/s): higher is"
  .. " better, ratio > 1 means ours is faster.")
