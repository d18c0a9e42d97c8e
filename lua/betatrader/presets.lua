--- Ready-made option tables for venues that differ from the local exchange:
-- `bt.client(bt.presets.betatrader_gateway{ fix_port = 8088, sender_comp_id = "7" })`.
-- A preset returns a plain table of `bt.client` options (nothing hidden), so
-- it can be printed, copied or changed before use; the keys given to it
-- override its own.
-- @module betatrader.presets
local config = require("betatrader.config")

local M = {}

local function argerror(fname, msg)
  -- level 3: argerror, the preset, the user's line
  error(string.format("bad argument #1 to '%s' (%s)", fname, msg), 3)
end

--- Options for BetaTrader's own C++ gateway (the upstream `exchange_fix`).
-- That gateway knows its clients by SenderCompID alone and has no HTTP API;
-- it acknowledges a Logon with `98=0 108=30` as the authentication (no
-- UserRequest), numbers its messages from an in-memory counter it forgets on
-- restart and answers no ResendRequest, stamps ExecutionReports `49=1
-- 56=<connection number>` and sends market data under `8=FIXT.1.1` with
-- `49=TRADING_CORE`. It sends no heartbeats of its own but answers a
-- TestRequest, which the session sends after HeartBtInt of silence: the
-- connection is watched all the same. So the preset sets:
--
--    api_url = false, auth = "logon", check_comp_id = "session",
--    logon_seq = "adopt", begin_strings = { "FIX.4.4", "FIXT.1.1" },
--    heartbeat = 30, reset_on_logon = true, store = false
--
-- `reset_on_logon` and `store = false`: every connection starts at 34=1, as
-- the gateway's per-connection counters do; a store would keep numbers that
-- nobody resends. Reconnecting is left off (add `reconnect = {}`).
-- @tparam table opts any `bt.client` option (each overrides the preset's),
-- plus `host` as a short name for `fix_host`; `sender_comp_id` is the
-- CompID `login()` uses when called without one.
-- @treturn table the options for `bt.client`
-- @usage
-- local c = bt.client(bt.presets.betatrader_gateway{
--   host = "10.0.0.5", fix_port = 8088, sender_comp_id = "7",
-- })
-- assert(c.auth:login():await())
function M.betatrader_gateway(opts)
  local fname = "betatrader_gateway"
  if type(opts) ~= "table" then
    argerror(fname, string.format("table expected, got %s", type(opts)))
  end
  local out = {
    api_url = false,
    auth = "logon",
    check_comp_id = "session",
    logon_seq = "adopt",
    begin_strings = { "FIX.4.4", "FIXT.1.1" },
    heartbeat = 30,
    reset_on_logon = true,
    store = false,
  }
  for k, v in pairs(opts) do
    if k == "host" then
      if opts.fix_host ~= nil then
        argerror(fname, "'host' and 'fix_host' name the same option; give one")
      end
      if type(v) ~= "string" then
        argerror(fname, string.format("'host': string expected, got %s", type(v)))
      end
      out.fix_host = v
    else
      out[k] = v
    end
  end
  -- every option as bt.client checks it, raised at the caller's line
  config.check(out, 3)
  return out
end

return M
