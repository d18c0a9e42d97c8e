--- betatrader.client{...}: one account's connection to the exchange,
-- with .auth (registration, login, state) and .fix (the trading session).
local async = require("betatrader.async")
local config = require("betatrader.config")
local core = require("betatrader.core")
local Auth = require("betatrader.auth")
local Fix = require("betatrader.fix")

local Client = {}
Client.__index = Client

--- Makes a client: `bt.client(opts)`. Options are checked at once (see the
-- README's options table); a wrong option raises at the caller's line.
-- The client has `.auth` (registration, login) and `.fix` (the session).
function Client.new(opts)
  local cfg = config.check(opts, 3)
  local c, err = core.client_new(cfg)
  if not c then
    error("client: " .. err, 2)
  end
  -- The core copied what it needs; keep no second Lua reference to the
  -- Logon password in the client's visible config.
  cfg.logon_password = cfg.logon_password and "***" or nil
  local self = setmetatable({
    config = cfg,
    _c = c,
    auth = Auth.new(c),
    fix = Fix.new(c, cfg.dictionary, cfg.validate),
  }, Client)
  -- auth, fix and every op they return keep the client alive (`_client`):
  -- GC closes a client only once nothing of it is reachable.
  self.auth._client = self
  self.auth._logon_auth = cfg.auth == "logon"
  self.auth._sender_comp_id = cfg.sender_comp_id
  self.fix._client = self
  -- The event hook must not keep the client alive: it reaches it weakly,
  -- and the client's __gc removes the hook.
  local ref = setmetatable({ self }, { __mode = "v" })
  local target = c:target()
  self._target = target
  async.on_event(target, function(name, a, b, c2, d)
    local me = ref[1]
    if not me then
      return
    end
    if name == "state" then
      -- fix first: its waiters fail even if an on_state handler raises
      me.fix:_on_state(a, b, c2, d)
      me.auth:_on_state(a, b, c2, d)
    elseif name == "message" then
      me.fix:_on_message(a)
    elseif name == "drained" then
      me.fix:_on_drained()
    elseif name == "trace" and me.config.trace then
      me.config.trace(a, b)
    end
  end)
  return self
end

--- Closes the client: drops any connection at once (no Logout; call
--- auth:logout() first for a clean end) and cancels pending operations.
function Client:close()
  if self._c then
    self.fix:_close()
    async.on_event(self._target, nil)
    self._c:close()
  end
end

Client.__close = Client.close
Client.__gc = Client.close

return Client
