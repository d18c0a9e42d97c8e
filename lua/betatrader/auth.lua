--- client.auth: registration and login as one state machine.
-- States: Disconnected, Registering, Connecting, Authenticating, Active,
-- Failed. The state lives in the C core under a mutex, so auth:state() is
-- true at every instant; on_state handlers run on this Lua thread while the
-- module is pumped (any await, bt.run, bt.step).
local async = require("betatrader.async")
local cjson = require("cjson.safe")

local Auth = {}
Auth.__index = Auth

local fmt = string.format

-- level: 1 is the API function itself, so the error names the user's line.
local function argerror(n, fname, msg, level)
  error(fmt("bad argument #%d to '%s' (%s)", n, fname, msg), (level or 1) + 2)
end

-- Names, passwords and ids: non-empty strings without control characters
-- (SOH would corrupt a FIX frame), of a sane length.
local function check_text(v, n, fname, what, max)
  if type(v) ~= "string" then
    argerror(n, fname, fmt("%s: string expected, got %s", what, type(v)), 2)
  end
  if v == "" then
    argerror(n, fname, what .. " is empty", 2)
  end
  if #v > max then
    argerror(n, fname, fmt("%s is longer than %d bytes", what, max), 2)
  end
  if v:find("[%z\1-\31\127]") then
    argerror(n, fname, what .. " contains control characters", 2)
  end
end

--- The auth view of a core client (made by bt.client; not called by users).
-- @local
function Auth.new(core_client)
  local self = setmetatable({ _c = core_client, _handlers = {} }, Auth)
  return self
end

-- An Op of this client: it keeps the client alive while it is referenced.
local function own(self, cop)
  local op = async.wrap(cop)
  op._client = self._client
  return op
end

-- Called by the client's event hook for every "state" event. A failing
-- handler is reported through bt.on_error with its traceback and does not
-- keep the others from seeing the event.
function Auth:_on_state(new, old, reason, code)
  for _, fn in ipairs(self._handlers) do
    local ok, err = xpcall(fn, debug.traceback, new, old, reason, code)
    if not ok then
      async.report_error(err)
    end
  end
end

--- POST /api/register. Resolves to client_id, token.
function Auth:register(username, password)
  check_text(username, 1, "register", "username", 64)
  check_text(password, 2, "register", "password", 256)
  return own(self, self._c:register(username, password))
end

--- Logon (35=A) then UserRequest (35=BE). Resolves to true once Active.
-- client_id may be nil when the client's `sender_comp_id` option names it.
function Auth:login(client_id, password)
  if client_id == nil then
    client_id = self._sender_comp_id
  end
  check_text(client_id, 1, "login", "client_id", 64)
  if client_id:find("[=|%s]") then
    argerror(1, "login", "client_id contains '=', '|' or spaces")
  end
  -- The rule register() applies to the id the server sends: printable ASCII.
  if client_id:find("[\128-\255]") then
    argerror(1, "login", "client_id contains bytes outside printable ASCII")
  end
  -- auth = "logon": the Logon ack authenticates and the password may be nil
  if password ~= nil or not self._logon_auth then
    check_text(password, 2, "login", "password", 256)
  end
  return own(self, self._c:login(client_id, password))
end

--- Logout exchange when Active; cancels a login in progress. Resolves to true.
function Auth:logout()
  return own(self, self._c:logout())
end

--- GET /api/profile with the token of the last register(). Resolves to
--- the profile as a table (decoded with lua-cjson).
function Auth:profile()
  local raw = async.wrap(self._c:profile())
  local op = async.new()
  op._client = self._client
  async.spawn(function()
    local body, err, code = raw:await()
    if not body then
      op:reject(err, code)
      return
    end
    local t = cjson.decode(body)
    if type(t) ~= "table" then
      op:reject("bad_response: profile is not a JSON object", "bad_response")
      return
    end
    op:resolve(t)
  end)
  return op
end

--- The current state name; while Failed also the reason and the code.
function Auth:state()
  return self._c:state()
end

--- reason, code of the last failure, or nil.
function Auth:last_error()
  return self._c:last_error()
end

--- The SenderCompID (client_id) from registration or login, or nil.
function Auth:sender_comp_id()
  return self._c:sender_comp_id()
end

--- fn(new, old, reason, code) on every transition, in order. Returns a
--- function that removes the handler.
function Auth:on_state(fn)
  local mt = getmetatable(fn)
  if type(fn) ~= "function" and not (mt and mt.__call) then
    argerror(1, "on_state", "function expected, got " .. type(fn))
  end
  local list = self._handlers
  list[#list + 1] = fn
  return function()
    for i = #list, 1, -1 do
      if list[i] == fn then
        table.remove(list, i)
        return true
      end
    end
    return false
  end
end

return Auth
