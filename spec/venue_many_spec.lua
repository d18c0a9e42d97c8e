-- 1,000 clients trading at once in one exchange: each logs in, sends one
-- order, half of them buying and half selling at one price, and waits until
-- it is filled. Every order must be filled exactly once, every trade paired,
-- and the book left empty.
local bt = require("betatrader")
local testing = require("betatrader.testing")

local N = 1000

describe("1,000 clients trading at once", function()
  it("all cross, each order filled exactly once, the book ends empty", function()
    local ex = testing.exchange{}
    -- Accounts first, 100 at a time: the exchange's HTTP side serves at most
    -- 1,000 connections at once and registration is not what is tested here.
    local ids = {}
    for wave = 0, N - 1, 100 do
      local regs = {}
      for i = wave + 1, wave + 100 do
        regs[i] = bt.spawn(function()
          local c <close> = bt.client{ api_url = ex.api_url, store = false, timeout = 60 }
          return assert(c.auth:register("trader" .. i, "pw-" .. i):await())
        end)
      end
      bt.run()
      for i = wave + 1, wave + 100 do
        ids[i] = regs[i]:get()
      end
    end
    local tasks = {}
    for i = 1, N do
      tasks[i] = bt.spawn(function()
        local c <close> = bt.client{ api_url = ex.api_url, fix_host = ex.fix_host,
          fix_port = ex.fix_port, store = false, timeout = 60 }
        assert(c.auth:login(ids[i], "pw-" .. i):await())
        assert(c.fix:send("D", { { 11, "T" .. i }, { 55, "EUR/USD" }, { 54, i % 2 == 1 and 1 or 2 },
          { 38, 1 }, { 40, 2 }, { 44, "1.1" } }))
        local types = {}
        repeat
          local m = assert(c.fix:receive(120):await())
          assert.equal("T" .. i, m[11])
          types[#types + 1] = m[150] .. m[39]
        until m[39] == "2"
        assert(c.auth:logout():await())
        return table.concat(types, " ")
      end)
    end
    bt.run()
    for i = 1, N do
      -- New, then one fill: each order is for the smallest quantity
      assert.equal("00 F2", tasks[i]:get(), "trader " .. i)
    end
    local stats = ex:stats()
    assert.equal(N, stats.orders)
    assert.equal(N // 2, stats.trades)
    assert.equal(0, stats.rejects)
    assert.same({ bids = {}, asks = {} }, ex:depth("EUR/USD"))
    ex:stop()
  end)
end)
