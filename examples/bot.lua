--- A small bot farm: N bots in one process (one I/O thread), each registers,
-- logs in, sends a few NewOrderSingles and reads the exchange's answers.
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
    assert(fix:send("D", {
      { 11, string.format("%s-%d", id, i) }, -- ClOrdID
      { 55, "EUR/USD" }, { 54, 1 }, { 38, 1000000 }, { 40, 2 }, { 44, 1.0845 },
      { 60, os.date("!%Y%m%d-%H:%M:%S") },
    }))
  end
  for _ = 1, norders do
    local msg = assert(fix:receive(5):await())
    answers[msg.msg_type] = (answers[msg.msg_type] or 0) + 1
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
    parts[#parts + 1] = string.format("%d x 35=%s", v, k)
  end
  print(string.format("bot %d (%s): %s", n, id, table.concat(parts, ", ")))
end
print(string.format("%d bots, %d orders each, %.1f ms", nbots, norders, (bt.now() - t0) * 1000))
ex:stop()
