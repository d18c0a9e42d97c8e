--- BetaTrader client: registration, FIX 4.4 logon and UserRequest
-- authentication, and the trading session, for Lua 5.4.
-- The C core (betatrader.core) does all I/O on one background thread shared
-- by every client in the process; these Lua files hold the API.
local async = require("betatrader.async")
local Client = require("betatrader.client")
local core = require("betatrader.core")
local dict = require("betatrader.dict")

local M = {
  _VERSION = "0.1.0",
  client = Client.new,
  spawn = async.spawn,
  run = async.run,
  sleep = async.sleep,
  step = async.step,
  pollfd = async.pollfd,
  events = async.events,
  timeout = async.timeout,
  now = async.now,
  is_op = async.is_op,
  --- A UTCTIMESTAMP with milliseconds: now, or `seconds` since the epoch.
  utc = core.utc,
  --- Loads a QuickFIX XML dictionary (for bt.client{ dictionary = ... } or
  --- dictionary:decode(frame)); raises naming the file, line and problem.
  dictionary = function(path)
    local d = dict.load(path, 2) -- not a tail call: level 2 is the caller
    return d
  end,
  on_error = async.on_error,
  --- Option tables for other venues (`betatrader.presets`):
  --- `bt.client(bt.presets.betatrader_gateway{ fix_port = 8088 })`.
  presets = require("betatrader.presets"),
}

-- A list that also answers by name: t[1] == "timeout" and t.timeout == "timeout".
local function names(list)
  for _, v in ipairs(list) do
    list[v] = v
  end
  return list
end

--- The six states, in the order of a successful session.
M.states = names{ "Disconnected", "Registering", "Connecting", "Authenticating", "Active", "Failed" }
--- Every code the third value of a failed await can be: the session's, "nomem"
--- (an allocation failed while finishing an op) and "error" (a task raised).
M.codes = names{
  "timeout", "refused", "connect_failed", "tls_failed", "http_status", "bad_response",
  "rejected", "disconnected", "protocol", "invalid_state", "cancelled", "store", "busy", "nomem",
  "error",
}

-- bt.fix44 (constants of the FIX 4.4 dictionary) is built on first use.
return setmetatable(M, {
  __index = function(t, k)
    if k == "fix44" then
      local c = require("betatrader.fix44")
      rawset(t, k, c)
      return c
    end
  end,
})
