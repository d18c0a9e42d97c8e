--- A scenario test as a bot author writes one: a market-making bot
-- (examples/market_maker.lua) quotes both sides against a local exchange;
-- the spec moves the market, fills the bot partly as another participant,
-- drops its connection, and checks what the bot believes at each step.
-- Every exchange call returns once the exchange has done it, so there is
-- no sleep anywhere. Run it with:  lua5.4 /usr/bin/busted examples/scenario_spec.lua
local bt = require("betatrader")
local testing = require("betatrader.testing")
package.path = "examples/?.lua;" .. package.path
local MarketMaker = require("market_maker")

describe("a market maker against a scripted market", function()
  local ex, client, id, mm

  setup(function()
    ex = testing.exchange{}
    -- the market before the bot arrives: 1.08400 / 1.08420
    ex:book("EUR/USD", { bids = { { 1.08400, 1e6 } }, asks = { { 1.08420, 1e6 } } })
    client = bt.client{ api_url = ex.api_url, fix_host = ex.fix_host, fix_port = ex.fix_port,
      store = false }
    id = assert(client.auth:register("maker", "maker-pass"):await())
    assert(client.auth:login(id, "maker-pass"):await())
    mm = MarketMaker.new{ client = client, symbol = "EUR/USD", size = 2e6, half_spread = 5 }
    mm:start()
  end)

  teardown(function()
    client:close()
    ex:stop()
  end)

  local function quoted(bid, ask)
    return function(self)
      local b, s = self.quotes.buy, self.quotes.sell
      return b and s and b.status == "new" and s.status == "new"
        and b.price == bid and s.price == ask
    end
  end

  it("quotes both sides around the mid", function()
    assert(mm:run_until(quoted(108405, 108415), 10))
    -- what the exchange got, as it parsed it
    local bid = assert(ex:expect(id, "NewOrderSingle", 5))
    local ask = assert(ex:expect(id, "NewOrderSingle", 5))
    assert.same({ "1", "1.08405", "2000000" }, { bid[54], bid[44], bid[38] })
    assert.same({ "2", "1.08415", "2000000" }, { ask[54], ask[44], ask[38] })
    assert.same({ { "1.0842", "1000000", 1 } }, { ex:depth("EUR/USD").asks[2] })
  end)

  it("follows the market when it moves", function()
    ex:book("EUR/USD", { bids = { { 1.08410, 1e6 } }, asks = { { 1.08440, 1e6 } } })
    assert(mm:run_until(quoted(108420, 108430), 10))
    -- the offer moves first, so that the bot's new bid cannot meet its old offer
    local first = assert(ex:expect(id, "OrderCancelReplaceRequest", 5))
    local second = assert(ex:expect(id, "OrderCancelReplaceRequest", 5))
    assert.same({ "2", "1.08430" }, { first[54], first[44] })
    assert.same({ "1", "1.08420" }, { second[54], second[44] })
    assert.equal(0, mm.position)
  end)

  it("keeps its position when another participant fills it partly", function()
    local r = ex:order{ symbol = "EUR/USD", side = "buy", qty = 5e5, tif = "ioc", as = "TAKER" }
    assert.equal("F", r[2][150])
    assert.equal("1.0843", r[2][31]) -- the taker lifted the bot's offer
    assert(mm:run_until(function(self) return #self.fills == 1 end, 10))
    assert.equal(-500000, mm.position)
    assert.same({ side = "sell", price = "1.0843", qty = 500000 }, mm.fills[1])
    assert.equal("partial", mm.quotes.sell.status)
    assert.equal(1500000, mm.quotes.sell.leaves)
    assert.equal(108420, mm.quotes.buy.price) -- the mid did not move: no requote
  end)

  it("knows its quotes are gone when the connection drops", function()
    ex:drop(id)
    local ok, why = mm:run_until(function(self) return self.state == "disconnected" end, 10)
    assert.is_true(ok, why)
    assert.same({}, mm.quotes)
    assert.equal(-500000, mm.position) -- fills are not forgotten
    assert.equal("Failed", (client.auth:state()))
    -- the exchange cancelled its orders: only the seeded market is left
    assert.same({ bids = { { "1.0841", "1000000", 1 } }, asks = { { "1.0844", "1000000", 1 } } },
      ex:depth("EUR/USD"))
  end)
end)
