-- Small scaffolding several specs share: a private temporary directory, a
-- client id registered over the exchange's HTTP API, the usual client options
-- for the local exchange (with or without its HTTP API) and a plain order.
-- Loaded as require("spec.support.helpers") from the tree's root.
local bt = require("betatrader")

local M = {}

-- A fresh directory only this user may enter (a sequence store's home).
function M.tmpdir()
	local d = os.tmpname()
	os.remove(d)
	assert(os.execute("mkdir -m 700 '" .. d .. "'"))
	return d
end

-- The client id ex's HTTP API gives `name` with `password`; the registering
-- client is closed before this returns.
function M.register(ex, name, password)
	local reg <close> = bt.client({ api_url = ex.api_url, store = false })
	return assert(reg.auth:register(name, password):await())
end

-- A client of ex (HTTP API and FIX), no store, a 5 s timeout; `extra` adds
-- options or overrides these.
function M.client(ex, extra)
	local opts = {
		api_url = ex.api_url,
		fix_host = ex.fix_host,
		fix_port = ex.fix_port,
		store = false,
		timeout = 5,
	}
	for k, v in pairs(extra or {}) do
		opts[k] = v
	end
	return bt.client(opts)
end

-- The same without the HTTP API (api_url = false): FIX alone.
function M.fix_client(ex, extra)
	local opts = { api_url = false }
	for k, v in pairs(extra or {}) do
		opts[k] = v
	end
	return M.client(ex, opts)
end

-- Sends a limit order to buy 1,000 EUR/USD at 1.5 under `clordid`; returns
-- what c.fix:send returns, for the spec to check.
function M.buy_order(c, clordid)
	return c.fix:send("D", { { 11, clordid }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 1000 },
		{ 40, 2 }, { 44, 1.5 } })
end

return M
