-- The local exchange as a venue: order books, ExecutionReports, cancels,
-- replaces, rejects and market data, over real sockets, two or more clients
-- trading against each other; then every scripting call of
-- betatrader.testing.
local bt = require("betatrader")
local testing = require("betatrader.testing")

local PW = "venue-pass"

local function client(ex, name)
  local c = bt.client{
    api_url = ex.api_url, fix_host = ex.fix_host, fix_port = ex.fix_port,
    store = false, timeout = 5,
  }
  local id = assert(c.auth:register(name, PW):await())
  assert(c.auth:login(id, PW):await())
  return c, id
end

local function recv(c, what)
  local msg, err = c.fix:receive(5):await()
  assert(msg, (what or "a message") .. ": " .. tostring(err))
  return msg
end

local function limit(id, side, qty, px, tif)
  local f = { { 11, id }, { 55, "EUR/USD" }, { 54, side }, { 38, qty }, { 40, 2 }, { 44, px } }
  if tif then
    f[#f + 1] = { 59, tif }
  end
  return f
end

-- Every message before it has arrived once the answer to a bad order does:
-- proves that nothing else was sent.
local function barrier(c)
  assert(c.fix:send("D", { { 11, "BARRIER" }, { 55, "NO/SUCH" }, { 54, 1 }, { 38, 1 }, { 40, 1 } }))
  local m = recv(c, "barrier")
  assert.equal("8", m.msg_type)
  assert.equal("BARRIER", m[11])
  assert.equal("8", m[150])
end

local function er(m, exec_type, status, fields)
  assert.equal("8", m.msg_type)
  assert.equal(exec_type, m[150], "ExecType")
  assert.equal(status, m[39], "OrdStatus")
  for tag, v in pairs(fields or {}) do
    assert.equal(v, m[tag], "tag " .. tag)
  end
end

describe("betatrader-exchange as a venue", function()
  local ex, n = nil, 0
  local function fresh(name)
    n = n + 1
    return client(ex, name .. n)
  end

  before_each(function() ex = testing.exchange{} end)
  after_each(function() ex:stop() end)

  it("acknowledges a resting limit order as New with every field", function()
    local a = fresh("a")
    assert(a.fix:send("D", limit("L1", 1, 1000000, "1.0841")))
    local m = recv(a)
    er(m, "0", "0", { [11] = "L1", [55] = "EUR/USD", [54] = "1", [38] = "1000000", [40] = "2",
      [44] = "1.0841", [59] = "0", [151] = "1000000", [14] = "0", [6] = "0" })
    assert.matches("^O%d+$", m[37])
    assert.matches("^X%d+$", m[17])
    assert.matches("^%d%d%d%d%d%d%d%d%-%d%d:%d%d:%d%d%.%d%d%d$", m[60])
    assert.same({ bids = { { "1.0841", "1000000", 1 } }, asks = {} }, ex:depth("EUR/USD"))
  end)

  it("crosses two clients: partial fill, then fill, exact AvgPx, oldest first", function()
    local a = fresh("a")
    local c = fresh("c")
    local b = fresh("b")
    assert(a.fix:send("D", limit("A1", 2, 1000000, "1.0843")))
    er(recv(a), "0", "0")
    assert(c.fix:send("D", limit("C1", 2, 1000000, "1.0843"))) -- same price, later
    er(recv(c), "0", "0")
    assert(a.fix:send("D", limit("A2", 2, 1000000, "1.0844")))
    er(recv(a), "0", "0")

    assert(b.fix:send("D", limit("B1", 1, 2500000, "1.0844")))
    er(recv(b), "0", "0", { [151] = "2500000" })
    er(recv(b), "F", "1", { [32] = "1000000", [31] = "1.0843", [14] = "1000000",
      [151] = "1500000", [6] = "1.0843" })
    er(recv(b), "F", "1", { [32] = "1000000", [31] = "1.0843", [14] = "2000000",
      [151] = "500000", [6] = "1.0843" })
    -- (1.0843 * 2e6 + 1.0844 * 0.5e6) / 2.5e6 = 1.08432
    er(recv(b), "F", "2", { [32] = "500000", [31] = "1.0844", [14] = "2500000",
      [151] = "0", [6] = "1.08432" })
    -- price-time: A1 (older) before C1 at 1.0843
    er(recv(a), "F", "2", { [11] = "A1", [32] = "1000000", [151] = "0" })
    er(recv(c), "F", "2", { [11] = "C1", [32] = "1000000" })
    er(recv(a), "F", "1", { [11] = "A2", [32] = "500000", [14] = "500000", [151] = "500000",
      [6] = "1.0844" })
    assert.same({ bids = {}, asks = { { "1.0844", "500000", 1 } } }, ex:depth("EUR/USD"))
  end)

  it("cancels what an IOC or a market order cannot fill, and FOK all or nothing", function()
    local a = fresh("a")
    local b = fresh("b")
    assert(a.fix:send("D", limit("A1", 2, 300, "1.5")))
    er(recv(a), "0", "0")
    -- IOC for 500: 300 filled, 200 cancelled
    assert(b.fix:send("D", limit("I1", 1, 500, "1.5", 3)))
    er(recv(b), "0", "0", { [59] = "3" })
    er(recv(b), "F", "1", { [32] = "300", [151] = "200" })
    er(recv(b), "4", "4", { [14] = "300", [151] = "0", [58] = "IOC order: remainder cancelled" })
    er(recv(a), "F", "2")
    -- FOK that cannot be filled: no trade at all, the book is untouched
    assert(a.fix:send("D", limit("A2", 2, 100, "1.6")))
    er(recv(a), "0", "0")
    assert(b.fix:send("D", limit("K1", 1, 150, "1.6", 4)))
    er(recv(b), "0", "0")
    er(recv(b), "4", "4", { [14] = "0", [58] = "FOK order could not be filled completely" })
    assert.same({ { "1.6", "100", 1 } }, ex:depth("EUR/USD").asks)
    -- FOK that can: filled
    assert(b.fix:send("D", limit("K2", 1, 100, "1.6", 4)))
    er(recv(b), "0", "0")
    er(recv(b), "F", "2", { [32] = "100" })
    er(recv(a), "F", "2")
    -- market order against an empty side: acknowledged, then cancelled
    assert(b.fix:send("D", { { 11, "M1" }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 10 }, { 40, 1 } }))
    er(recv(b), "0", "0", { [40] = "1" })
    local m = recv(b)
    er(m, "4", "4", { [58] = "market order: no more liquidity" })
    assert.is_nil(m[44])
  end)

  it("cancels and replaces, and rejects a cancel or replace of what is not open", function()
    local a = fresh("a")
    local b = fresh("b")
    assert(a.fix:send("D", limit("A1", 1, 1000, "1.2")))
    er(recv(a), "0", "0")
    -- replace: new price and quantity, new ClOrdID
    assert(a.fix:send("G", { { 41, "A1" }, { 11, "A1b" }, { 55, "EUR/USD" }, { 54, 1 },
      { 38, 2000 }, { 40, 2 }, { 44, "1.21" } }))
    er(recv(a), "5", "0", { [11] = "A1b", [41] = "A1", [38] = "2000", [44] = "1.21",
      [151] = "2000" })
    assert.same({ { "1.21", "2000", 1 } }, ex:depth("EUR/USD").bids)
    -- partly filled, then replaced across the spread: Replaced, then a fill
    assert(b.fix:send("D", limit("B1", 2, 500, "1.21")))
    er(recv(b), "0", "0")
    er(recv(b), "F", "2")
    er(recv(a), "F", "1", { [11] = "A1b", [14] = "500", [151] = "1500" })
    assert(b.fix:send("D", limit("B2", 2, 300, "1.25")))
    er(recv(b), "0", "0")
    assert(a.fix:send("G", { { 41, "A1b" }, { 11, "A1c" }, { 55, "EUR/USD" }, { 54, 1 },
      { 38, 2000 }, { 40, 2 }, { 44, "1.25" } }))
    er(recv(a), "5", "1", { [11] = "A1c", [41] = "A1b", [14] = "500", [151] = "1500" })
    er(recv(a), "F", "1", { [11] = "A1c", [31] = "1.25", [32] = "300", [14] = "800",
      [151] = "1200", [6] = "1.225" }) -- (500 * 1.21 + 300 * 1.25) / 800
    er(recv(b), "F", "2", { [11] = "B2" })
    -- cancel: Canceled with the quantities as they were
    assert(a.fix:send("F", { { 41, "A1c" }, { 11, "A1d" }, { 55, "EUR/USD" }, { 54, 1 } }))
    er(recv(a), "4", "4", { [11] = "A1d", [41] = "A1c", [14] = "800", [151] = "0" })
    -- the order is gone: cancel and replace of it are rejected with 35=9
    assert(a.fix:send("F", { { 41, "A1c" }, { 11, "A1e" }, { 55, "EUR/USD" }, { 54, 1 } }))
    local r = recv(a)
    assert.equal("9", r.msg_type)
    assert.same({ "NONE", "A1e", "A1c", "8", "1", "1" }, { r[37], r[11], r[41], r[39], r[434], r[102] })
    assert.matches("unknown order", r[58])
    assert(a.fix:send("G", { { 41, "ZZ" }, { 11, "ZZ2" }, { 55, "EUR/USD" }, { 54, 1 },
      { 38, 1 }, { 40, 2 }, { 44, "1" } }))
    r = recv(a)
    assert.equal("9", r.msg_type)
    assert.equal("2", r[434])
    -- a filled order cannot be cancelled either (B1 was filled above)
    assert(b.fix:send("F", { { 41, "B1" }, { 11, "B1x" }, { 55, "EUR/USD" }, { 54, 2 } }))
    r = recv(b)
    assert.equal("9", r.msg_type)
    assert.equal("1", r[102])
  end)

  it("rejects bad orders with 58 and 103, never silently", function()
    local a = fresh("a")
    local function rejected(fields, reason, text)
      assert(a.fix:send("D", fields))
      local m = recv(a)
      er(m, "8", "8", { [37] = "NONE", [103] = reason })
      assert.matches(text, m[58])
    end
    rejected({ { 11, "R1" }, { 55, "XAU/EUR" }, { 54, 1 }, { 38, 1 }, { 40, 1 } }, "1",
      "unknown symbol 'XAU/EUR'")
    rejected({ { 11, "R2" }, { 55, "EUR/USD" }, { 54, 1 }, { 38, "-5" }, { 40, 1 } }, "13",
      "OrderQty must be a positive decimal")
    rejected({ { 11, "R3" }, { 55, "EUR/USD" }, { 54, 1 }, { 38, "1.123456789" }, { 40, 1 } },
      "13", "OrderQty")
    rejected({ { 11, "R4" }, { 55, "EUR/USD" }, { 54, 7 }, { 38, 1 }, { 40, 1 } }, "11", "Side")
    rejected({ { 11, "R5" }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 1 }, { 40, 3 } }, "11", "OrdType")
    rejected({ { 11, "R6" }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 1 }, { 40, 2 } }, "99",
      "limit order needs a positive Price")
    rejected(limit("R7", 1, 1, "1.1", 6), "11", "TimeInForce")
    assert(a.fix:send("D", limit("DUP", 1, 1, "1.1")))
    er(recv(a), "0", "0")
    rejected(limit("DUP", 1, 1, "1.1"), "6", "duplicate ClOrdID")
    -- structurally broken: BusinessMessageReject naming the tag
    assert(a.fix:send("D", { { 11, "R8" }, { 55, "EUR/USD" } }))
    local m = recv(a)
    assert.equal("j", m.msg_type)
    assert.equal("required tag 54 missing", m[58])
    assert.same({ { "1.1", "1", 1 } }, ex:depth("EUR/USD").bids) -- only DUP rests
  end)

  it("serves market data: snapshot, incrementals, depth, unsubscribe, rejects", function()
    local a = fresh("a")
    local md = fresh("md")
    ex:book("EUR/USD", { bids = { { 1.0841, 1e6 }, { 1.0840, 2e6 }, { 1.0839, 3e6 } },
      asks = { { 1.0843, 2e6 } } })
    -- snapshot only, depth 2
    assert(md.fix:send("V", { { 262, "S1" }, { 263, 0 }, { 264, 2 }, { 267, 2 }, { 269, 0 },
      { 269, 1 }, { 146, 1 }, { 55, "EUR/USD" } }))
    local w = recv(md)
    assert.equal("W", w.msg_type)
    local body, header = {}, { [8] = 1, [9] = 1, [35] = 1, [49] = 1, [56] = 1, [34] = 1,
      [52] = 1, [10] = 1 }
    for _, f in ipairs(w.fields) do
      if not header[f[1]] then
        body[#body + 1] = f[1] .. "=" .. f[2]
      end
    end
    assert.equal("262=S1 55=EUR/USD 268=3 269=0 270=1.0841 271=1000000 269=0 270=1.084 "
      .. "271=2000000 269=1 270=1.0843 271=2000000", table.concat(body, " "))
    -- subscribe, full depth: a snapshot, then one 35=X per change and trade
    assert(md.fix:send("V", { { 262, "S2" }, { 263, 1 }, { 264, 0 }, { 146, 1 }, { 55, "EUR/USD" } }))
    assert.equal("4", recv(md)[268]) -- 3 bids, 1 offer
    assert(a.fix:send("D", limit("A1", 1, 500000, "1.0842")))
    er(recv(a), "0", "0")
    local x = recv(md)
    assert.equal("X", x.msg_type)
    assert.same({ "S2", "1", "0", "0", "EUR/USD", "1.0842", "500000" },
      { x[262], x[268], x[279], x[269], x[55], x[270], x[271] })
    assert(a.fix:send("D", limit("A2", 1, 500000, "1.0843"))) -- takes 0.5e6 of the offer
    x = recv(md)
    assert.same({ "0", "2", "1.0843", "500000" }, { x[279], x[269], x[270], x[271] })
    x = recv(md)
    assert.same({ "1", "1", "1.0843", "1500000" }, { x[279], x[269], x[270], x[271] })
    assert(a.fix:send("F", { { 41, "A1" }, { 11, "A1x" }, { 55, "EUR/USD" }, { 54, 1 } }))
    x = recv(md)
    assert.same({ "2", "0", "1.0842" }, { x[279], x[269], x[270] })
    assert.is_nil(x[271])
    -- duplicate MDReqID, unknown symbol, bad depth
    assert(md.fix:send("V", { { 262, "S2" }, { 263, 1 }, { 264, 0 }, { 146, 1 }, { 55, "EUR/USD" } }))
    local y = recv(md)
    assert.same({ "Y", "S2", "1" }, { y.msg_type, y[262], y[281] })
    assert(md.fix:send("V", { { 262, "S3" }, { 263, 1 }, { 264, 0 }, { 146, 1 }, { 55, "EUR/XYZ" } }))
    y = recv(md)
    assert.same({ "Y", "S3", "0", "unknown symbol 'EUR/XYZ'" }, { y.msg_type, y[262], y[281], y[58] })
    -- unsubscribe: no more 35=X
    assert(md.fix:send("V", { { 262, "S2" }, { 263, 2 }, { 146, 1 }, { 55, "EUR/USD" } }))
    ex:book("EUR/USD", { bids = { { 1.08, 1 } } })
    barrier(md)
  end)

  it("limits incrementals to the subscribed depth", function()
    local a = fresh("a")
    local md = fresh("md")
    ex:book("EUR/USD", { bids = { { 1.5, 10 }, { 1.4, 10 } } })
    assert(md.fix:send("V", { { 262, "D1" }, { 263, 1 }, { 264, 1 }, { 146, 1 }, { 55, "EUR/USD" } }))
    local w = recv(md)
    assert.same({ "1", "1.5" }, { w[268], w[270] })
    assert(a.fix:send("D", limit("A1", 1, 5, "1.45"))) -- below the top: not seen
    er(recv(a), "0", "0")
    assert(a.fix:send("D", limit("A2", 1, 5, "1.6"))) -- new best: New 1.6, Delete 1.5
    er(recv(a), "0", "0")
    local x1, x2 = recv(md), recv(md)
    assert.same({ "0", "1.6", "5" }, { x1[279], x1[270], x1[271] })
    assert.same({ "2", "1.5" }, { x2[279], x2[270] })
    assert(a.fix:send("F", { { 41, "A2" }, { 11, "A2x" }, { 55, "EUR/USD" }, { 54, 1 } }))
    er(recv(a), "4", "4")
    x1, x2 = recv(md), recv(md) -- 1.6 goes, 1.5 comes back
    assert.same({ "2", "1.6" }, { x1[279], x1[270] })
    assert.same({ "0", "1.5", "10" }, { x2[279], x2[270], x2[271] })
    barrier(md)
  end)

  it("cancels a client's orders when its connection drops", function()
    local a, aid = fresh("a")
    assert(a.fix:send("D", limit("A1", 1, 5, "1.1")))
    er(recv(a), "0", "0")
    assert.equal(1, #ex:depth("EUR/USD").bids)
    ex:drop(aid)
    assert.same({}, ex:depth("EUR/USD").bids)
    local deadline = bt.now() + 10
    while a.auth:state() == "Active" and bt.now() < deadline do
      bt.sleep(0.01)
    end
    local state, _, code = a.auth:state()
    assert.equal("Failed", state)
    assert.equal("disconnected", code)
  end)

  it("trades only the symbols of --symbols", function()
    ex:stop()
    ex = testing.exchange{ symbols = { "BTC/USD", "ETH/USD" } }
    local a = fresh("a")
    assert(a.fix:send("D", { { 11, "E1" }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 1 }, { 40, 2 },
      { 44, 1 } }))
    er(recv(a), "8", "8", { [103] = "1" })
    assert(a.fix:send("D", { { 11, "E2" }, { 55, "BTC/USD" }, { 54, 1 }, { 38, "0.5" }, { 40, 2 },
      { 44, "64000.25" } }))
    er(recv(a), "0", "0", { [38] = "0.5", [44] = "64000.25" })
  end)

  it("refuses a bad --symbols list at start-up", function()
    local ok, err = pcall(testing.exchange, { symbols = "EUR/USD,,GBP/USD" })
    assert.is_false(ok)
    assert.matches("bad symbol ''", err)
  end)
end)

describe("betatrader.testing scripting calls", function()
  local ex
  before_each(function() ex = testing.exchange{} end)
  after_each(function() ex:stop() end)

  it("book seeds and re-seeds, and a re-seed that crosses trades", function()
    local a = client(ex, "a")
    local r = ex:book("EUR/USD", { bids = { { 1.0841, 1e6 } }, asks = { { 1.0843, 2e6 } } })
    assert.equal(2, #r)
    assert.same({ "0", "0" }, { r[1][150], r[2][150] })
    assert.same({ bids = { { "1.0841", "1000000", 1 } }, asks = { { "1.0843", "2000000", 1 } } },
      ex:depth("EUR/USD"))
    assert(a.fix:send("D", limit("A1", 2, 400000, "1.0845")))
    er(recv(a), "0", "0")
    -- the market moves up through A1's offer: A1 is filled by the new bid
    ex:book("EUR/USD", { bids = { { 1.0846, 1e6 } }, asks = { { 1.0848, 1e6 } } })
    er(recv(a), "F", "2", { [31] = "1.0845", [32] = "400000" })
    assert.same({ bids = { { "1.0846", "600000", 1 } }, asks = { { "1.0848", "1000000", 1 } } },
      ex:depth("EUR/USD"))
    assert.has_error(function() ex:book("EUR/USD", { bids = { { -1, 5 } } }) end)
    assert.has_error(function() ex:book("NOPE", {}) end,
      "testing: admin book: unknown symbol 'NOPE' (HTTP 400)")
  end)

  it("order and submit act as another participant and return its reports", function()
    local a = client(ex, "a")
    assert(a.fix:send("D", limit("A1", 1, 100, "2")))
    er(recv(a), "0", "0")
    local r = ex:order{ symbol = "EUR/USD", side = "sell", qty = 40, price = 2, as = "BOB" }
    assert.equal(2, #r)
    er(r[1], "0", "0", { [11] = "SPEC-1", [59] = "0" })
    er(r[2], "F", "2", { [32] = "40" })
    er(recv(a), "F", "1", { [32] = "40", [151] = "60" })
    r = ex:order{ symbol = "EUR/USD", side = "buy", qty = 1, price = 1, id = "MINE" }
    er(r[1], "0", "0", { [11] = "MINE" })
    r = ex:submit("SPEC", "OrderCancelRequest",
      { { 41, "MINE" }, { 11, "MINE2" }, { 55, "EUR/USD" }, { 54, 1 } })
    er(r[1], "4", "4", { [41] = "MINE" })
    assert.has_error(function() ex:order{ symbol = "EUR/USD", side = "up", qty = 1 } end)
  end)

  it("send delivers any message; expect returns what a client sent, or times out", function()
    local a, aid = client(ex, "a")
    ex:send(aid, "ExecutionReport", { { 37, "O99" }, { 11, "GHOST" }, { 17, "X99" },
      { 150, "F" }, { 39, "2" }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 5 }, { 32, 5 },
      { 31, 1.25 }, { 151, 0 }, { 14, 5 }, { 6, 1.25 } })
    local m = recv(a)
    er(m, "F", "2", { [11] = "GHOST", [31] = "1.25" })
    -- sent before the expect: still found, once
    assert(a.fix:send("D", limit("E1", 1, 7, "1.5")))
    local got = assert(ex:expect(aid, "NewOrderSingle", 5))
    assert.equal("D", got.msg_type)
    assert.same({ 11, "E1" }, got.fields[1])
    assert.equal("1.5", got[44])
    assert.equal(aid, got.sender)
    local none, err, code = ex:expect(aid, "D", 0.2)
    assert.is_nil(none)
    assert.equal("timeout", code)
    assert.matches("sent no D within 0.2 s", err)
    -- sent while the expect waits: another process (a bot) sends it later
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(([[
package.path, package.cpath = %q, %q
local bt = require("betatrader")
local c = bt.client{ api_url = %q, fix_host = %q, fix_port = %d, store = false }
local id = assert(c.auth:register("later", "pw-later"):await())
assert(c.auth:login(id, "pw-later"):await())
print(id)
io.stdout:flush()
bt.sleep(0.3)
assert(c.fix:send("AE", { { 571, "LATE" } }))
assert(c.fix:receive(5):await())
]]):format(package.path, package.cpath, ex.api_url, ex.fix_host, ex.fix_port))
    f:close()
    local child <close> = assert(require("betatrader.core").spawn({ "lua5.4", script }))
    local bid = assert(child:read_line(10))
    got = assert(ex:expect(bid, "AE", 10))
    assert.equal("LATE", got[571])
    assert.same({ 0, "exit" }, { child:wait(10) })
    os.remove(script)
    assert.has_error(function() ex:send("CLIENT9999", "8", { { 58, "x" } }) end,
      "testing: admin send: client 'CLIENT9999' is not connected (HTTP 404)")
  end)

  it("hold and release force an interleaving", function()
    local a, aid = client(ex, "a")
    local b = client(ex, "b")
    ex:hold("8", aid)
    assert(a.fix:send("D", limit("A1", 1, 10, "1.3")))
    assert(ex:expect(aid, "D", 5)) -- the exchange has it, the answer is held
    assert(b.fix:send("D", limit("B1", 2, 10, "1.3")))
    er(recv(b), "0", "0")
    er(recv(b), "F", "2") -- b hears of the trade first
    assert.equal(0, a.fix:pending())
    assert.equal(2, ex:release("8"))
    er(recv(a), "0", "0")
    er(recv(a), "F", "2")
  end)

  it("fault switches a named fault on and off mid-test", function()
    local a = client(ex, "a")
    ex:fault("logon-logout=closed for maintenance")
    local c2 = bt.client{ api_url = ex.api_url, fix_host = ex.fix_host, fix_port = ex.fix_port,
      store = false, timeout = 5 }
    local id2 = assert(c2.auth:register("late", PW):await())
    local ok, msg, code = c2.auth:login(id2, PW):await()
    assert.is_nil(ok)
    assert.equal("rejected", code)
    assert.matches("closed for maintenance", msg)
    ex:fault("logon-logout", false)
    assert.is_true(c2.auth:login(id2, PW):await())
    assert.equal("Active", a.auth:state()) -- the first client never noticed
    assert.has_error(function() ex:fault("no-such-fault") end,
      "testing: admin fault: unknown fault 'no-such-fault' (see --help) (HTTP 400)")
    c2:close()
    -- an HTTP fault breaks the API, never the admin channel that switches it off
    ex:fault("http-500")
    local c3 <close> = bt.client{ api_url = ex.api_url, store = false, timeout = 5 }
    local _, _, rcode = c3.auth:register("during-500", PW):await()
    assert.equal("http_status", rcode)
    ex:fault("http-500", false)
    assert.matches("^CLIENT%d+$", c3.auth:register("after-500", PW):await())
  end)

  it("refuses admin calls without the token", function()
    local status, body = testing.http_request("POST", ex.api_url .. "/admin/stats", "{}")
    assert.equal(401, status)
    assert.matches("admin token missing or wrong", body)
    local s = ex:stats()
    assert.same({ orders = 0, trades = 0, rejects = 0, connected = {} }, s)
    local _, id = client(ex, "st")
    ex:order{ symbol = "EUR/USD", side = "buy", qty = 1, price = 1 }
    ex:order{ symbol = "EUR/USD", side = "sell", qty = 1 } -- market: trades
    ex:order{ symbol = "NOPE/X", side = "sell", qty = 1 }
    s = ex:stats()
    assert.same({ orders = 3, trades = 1, rejects = 1, connected = { id } }, s)
  end)
end)
