-- Small scaffolding several specs share: a private temporary directory, a
-- client id registered over the exchange's HTTP API, and a client that
-- speaks FIX alone (api_url = false) to the local exchange.
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

-- A client without the HTTP API, pointed at ex's FIX port, no store, a 5 s
-- timeout; `extra` adds options or overrides these.
function M.fix_client(ex, extra)
	local opts = {
		api_url = false,
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

return M
