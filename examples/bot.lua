--- A small bot farm: N bots in one process (one I/O thread), each registers,
-- logs in, sends a few NewOrderSingles by name and reads the exchange's
-- ExecutionReports by name (field and enum names from the FIX 4.4 dictionary).
--
--   lua5.4 examples/bot.lua [bots] [orders]        -- against a local exchange
local bt = require("betatrader")
local testing = require("betatrader.testing")

local nbots = math.tointeger(tonumber(arg[1] or "10")) or error("bots: integer expected")
local norders = math.tointeger(tonumber(arg[2] or "5")) or error("orders: integer expected")

local ex = testing.exchange{}

local function bot(n)
  local client <close> = bt.client{
    api_url = ex.api_url, fix_host = ex.fix_host, fix_port = ex.fix_port, store = false,
  }
  local auth, fix = client.auth, client.fix
  local id = assert(auth:register(string.format("bot%04d", n), "bot-pass-" .. n):await())
  assert(auth:login(id, "bot-pass-" .. n):await())
  local answers = {}
  for i = 1, norders do
    assert(fix:send("NewOrderSingle", {
      ClOrdID = string.format("%s-%d", id, i), Symbol = "EUR/USD", Side = "BUY",
      OrderQty = 1000000, OrdType = "LIMIT", Price = 1.0845, TimeInForce = "DAY",
      TransactTime = bt.utc(),
    }))
  end
  for _ = 1, norders do
    local msg = assert(fix:receive(5):await())
    -- "ExecutionReport NEW", or the name of whatever else came back
    local what = msg.MsgType == "ExecutionReport" and "ExecutionReport " .. msg:enum("OrdStatus")
      or msg.MsgType
    answers[what] = (answers[what] or 0) + 1
  end
  assert(auth:logout():await())
  return id, answers
end

local t0 = bt.now()
local results = {}
for n = 1, nbots do
  results[n] = bt.spawn(bot, n)
end
bt.run()
for n = 1, nbots do
  local id, answers = results[n]:get()
  local parts = {}
  for k, v in pairs(answers) do
    parts[#parts + 1] = string.format("%d x %s", v, k)
  end
  print(string.format("bot %d (%s): %s", n, id, table.concat(parts, ", ")))
end
print(string.format("%d bots, %d orders each, %.1f ms", nbots, norders, (bt.now() - t0) * 1000))
ex:stop()
