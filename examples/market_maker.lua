--- A small market maker: it subscribes to one symbol's book, quotes a bid
-- and an offer around the market's mid (its own quotes left out), moves its
-- quotes (OrderCancelReplaceRequest) when the market moves, and keeps its
-- position from its fills. examples/scenario_spec.lua tests it against a
-- scripted exchange; on its own it runs against any betatrader-exchange:
--
--   betatrader-exchange --fix-port 9878 --http-port 8080 &
--   lua5.4 examples/market_maker.lua [--api-url URL] [--fix-host H] [--fix-port N]
--                                    [--symbol EUR/USD] [--mid 1.0841] [--seconds 30]
--
-- (from the tree: LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;").
local bt = require("betatrader")

local MarketMaker = {}
MarketMaker.__index = MarketMaker

local TICKS = 100000 -- prices are kept as integers of 0.00001

local function ticks(text)
  return math.floor(tonumber(text) * TICKS + 0.5)
end

local function price_text(t)
  return string.format("%d.%05d", t // TICKS, t % TICKS)
end

--- opts: client (logged in), symbol, size (per side), half_spread (in
-- ticks), mid (a price to quote around while the book is empty; nil: wait).
function MarketMaker.new(opts)
  assert(type(opts) == "table" and opts.client, "market_maker: opts.client is required")
  local self = setmetatable({
    client = opts.client,
    symbol = opts.symbol or "EUR/USD",
    size = opts.size or 1000000,
    half_spread = opts.half_spread or 5,
    fallback_mid = opts.mid and ticks(opts.mid),
    book = { ["0"] = {}, ["1"] = {} }, -- MDEntryType -> price ticks -> quantity
    quotes = {},                       -- "buy"/"sell" -> {id, price, qty, leaves, status}
    position = 0,
    fills = {},
    seq = 0,
    state = "starting",
  }, MarketMaker)
  self.client.auth:on_state(function(new, _, reason)
    if new ~= "Active" and self.state ~= "starting" then
      -- The exchange cancels a disconnected client's orders.
      self.state = "disconnected"
      self.reason = reason
      self.quotes = {}
    end
  end)
  return self
end

--- Subscribe to the book (snapshot + incremental updates).
function MarketMaker:start()
  self.state = "waiting"
  assert(self.client.fix:send("V", {
    { 262, "mm-" .. self.symbol }, { 263, 1 }, { 264, 0 }, { 146, 1 }, { 55, self.symbol },
  }))
end

-- The market's best price on a side, the level we quote at left out: our
-- reports and the market data are separate streams, so the size of our own
-- share of a level is never quite in step with the level itself.
function MarketMaker:best(entry)
  local own = self.quotes[entry == "0" and "buy" or "sell"]
  local best
  for px, qty in pairs(self.book[entry]) do
    if own and own.price == px then
      qty = 0
    end
    if qty > 0 and (not best or (entry == "0" and px > best) or (entry == "1" and px < best)) then
      best = px
    end
  end
  return best
end

function MarketMaker:mid()
  local bid, ask = self:best("0"), self:best("1")
  if bid and ask then
    return (bid + ask) // 2
  end
  return self.fallback_mid
end

function MarketMaker:next_id()
  self.seq = self.seq + 1
  return ("mm%d"):format(self.seq)
end

-- Place or move the quote of one side to price.
function MarketMaker:quote(side, price)
  local q = self.quotes[side]
  if q and q.price == price then
    return
  end
  local id = self:next_id()
  local fields = { { 11, id }, { 55, self.symbol }, { 54, side == "buy" and 1 or 2 } }
  if q then
    table.insert(fields, 1, { 41, q.id })
    fields[#fields + 1] = { 38, q.qty }
  else
    fields[#fields + 1] = { 38, self.size }
  end
  fields[#fields + 1] = { 40, 2 }
  fields[#fields + 1] = { 44, price_text(price) }
  assert(self.client.fix:send(q and "G" or "D", fields))
  self.quotes[side] = { id = id, price = price, qty = q and q.qty or self.size,
    leaves = q and q.leaves or self.size, status = "pending" }
end

function MarketMaker:requote()
  -- Until the exchange answered our last quote, the book we see may still
  -- hold our old levels: wait for the answer rather than chase ourselves.
  for _, q in pairs(self.quotes) do
    if q.status == "pending" then
      return
    end
  end
  local mid = self:mid()
  if not mid or self.state == "disconnected" then
    return
  end
  self.state = "quoting"
  -- Move the side that leads first, so that our bid never meets our offer.
  local ask = self.quotes.sell
  if ask and mid - self.half_spread >= ask.price then
    self:quote("sell", mid + self.half_spread)
    self:quote("buy", mid - self.half_spread)
  else
    self:quote("buy", mid - self.half_spread)
    self:quote("sell", mid + self.half_spread)
  end
end

local function entries(m)
  -- The repeating group: one table per entry, in order.
  local out, cur = {}, nil
  for _, f in ipairs(m.fields) do
    local tag, v = f[1], f[2]
    if tag == 279 or (tag == 269 and (not cur or cur[269])) then
      cur = {}
      out[#out + 1] = cur
    end
    if cur then
      cur[tag] = v
    end
  end
  return out
end

function MarketMaker:on_report(m)
  local side = m[54] == "1" and "buy" or "sell"
  local q = self.quotes[side]
  if m[150] == "F" then
    local qty = tonumber(m[32])
    self.position = self.position + (side == "buy" and qty or -qty)
    self.fills[#self.fills + 1] = { side = side, price = m[31], qty = qty }
  end
  if q and (m[11] == q.id) then
    q.leaves = tonumber(m[151])
    q.status = ({ ["0"] = "new", ["1"] = "partial", ["2"] = "filled", ["4"] = "cancelled",
      ["8"] = "rejected" })[m[39]] or m[39]
    if q.leaves == 0 then
      self.quotes[side] = nil
    end
  end
end

--- Handle one inbound message.
function MarketMaker:handle(m)
  if m.msg_type == "W" then
    self.book = { ["0"] = {}, ["1"] = {} }
    for _, e in ipairs(entries(m)) do
      self.book[e[269]][ticks(e[270])] = tonumber(e[271])
    end
  elseif m.msg_type == "X" then
    local levels = false
    for _, e in ipairs(entries(m)) do
      if e[269] ~= "2" then -- trades change nothing here: the levels say it all
        self.book[e[269]][ticks(e[270])] = e[279] ~= "2" and tonumber(e[271]) or nil
        levels = true
      end
    end
    if not levels then
      return
    end
  elseif m.msg_type == "8" then
    self:on_report(m)
    return -- a fill alone does not move the mid; the book update will
  elseif m.msg_type == "9" then
    -- A replace came too late (the order is gone): quote afresh.
    for side, q in pairs(self.quotes) do
      if q.id == m[11] then
        self.quotes[side] = nil
      end
    end
  end
  self:requote()
end

--- Handle messages until pred(self) is true or timeout seconds passed.
-- Returns true, or nil, "timeout".
function MarketMaker:run_until(pred, timeout)
  local deadline = bt.now() + (timeout or 10)
  while not pred(self) do
    local left = deadline - bt.now()
    if left <= 0 or self.state == "disconnected" then
      return pred(self) or nil, self.state == "disconnected" and "disconnected" or "timeout"
    end
    local m = self.client.fix:receive(math.min(left, 0.25)):await()
    if m then
      self:handle(m)
    end
  end
  return true
end

local function main(...)
  local opts = { ["--api-url"] = "http://127.0.0.1:8080", ["--fix-host"] = "127.0.0.1",
    ["--fix-port"] = "9878", ["--symbol"] = "EUR/USD", ["--mid"] = nil, ["--seconds"] = "30" }
  local args = { ... }
  for i = 1, #args, 2 do
    if not args[i + 1] or not args[i]:match("^%-%-") then
      io.stderr:write("usage: market_maker.lua [--api-url URL] [--fix-host H] [--fix-port N]"
        .. " [--symbol S] [--mid PRICE] [--seconds N]\n")
      os.exit(2)
    end
    opts[args[i]] = args[i + 1]
  end
  local client <close> = bt.client{ api_url = opts["--api-url"], fix_host = opts["--fix-host"],
    fix_port = assert(math.tointeger(tonumber(opts["--fix-port"])), "--fix-port: integer"),
    store = false }
  local name = ("mm-%d-%d"):format(os.time(), math.random(1000000))
  local id = assert(client.auth:register(name, "mm-" .. name):await())
  assert(client.auth:login(id, "mm-" .. name):await())
  print(("%s logged in as %s"):format(name, id))
  local mm = MarketMaker.new{ client = client, symbol = opts["--symbol"], mid = opts["--mid"] }
  mm:start()
  local quotes = ""
  mm:run_until(function(self)
    local b, s = self.quotes.buy, self.quotes.sell
    local now = ("bid %s  ask %s  position %d  fills %d"):format(b and price_text(b.price) or "-",
      s and price_text(s.price) or "-", self.position, #self.fills)
    if now ~= quotes then
      print(now)
      quotes = now
    end
    return false
  end, tonumber(opts["--seconds"]))
  client.auth:logout():await()
end

if arg and arg[0] and arg[0]:match("market_maker%.lua$") then
  main(...)
end

return MarketMaker
