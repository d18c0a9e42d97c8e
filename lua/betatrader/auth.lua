--- client.auth: registration and login as one state machine.
-- States: Disconnected, Registering, Connecting, Authenticating, Active,
-- Failed. The state lives in the C core under a mutex, so auth:state() is
-- true at every instant; on_state handlers run on this Lua thread while the
-- module is pumped (any await, bt.run, bt.step).
--
-- One operation at a time: `login()` while another `register`/`login`
-- runs, or `register()` while `Active`, fails at once with code
-- `invalid_state`. A cancelled `register`/`login` no longer counts:
-- `op:cancel()` followed at once by `login()` is accepted (the state goes
-- through `Disconnected`). The state is held in C under a mutex and changes
-- on the I/O thread, so `auth:state()` is current even when the script is
-- not awaiting anything.
--
-- <pre>
--     Disconnected ──register()──▶ Registering ──ok──▶ Disconnected (client_id known)
--          │                            └──error──▶ Failed
--          └──login(id, pw)──▶ Connecting ──TCP/TLS up, Logon sent──▶ Authenticating
--                                  │                                    │  Logon ack, then 35=BE sent
--                                  └──error/timeout──▶ Failed           ├──35=BF UserStatus=1──▶ Active
--                                                                       └──refused/timeout/drop──▶ Failed
--     Active ──logout()──▶ (35=5 exchanged or timed out) ──▶ Disconnected
--     Active ──peer Logout / disconnect / heartbeat timeout──▶ Failed (with the reason)
--     Failed ──register() or login()──▶ starts again
-- </pre>
--
-- With the client's `reconnect` option an unplanned end of an Active
-- session goes back to `Connecting` instead of `Failed` (see
-- @{betatrader.client}).
-- @module betatrader.auth
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

--- Registers an account: POST `/api/register`.
-- @tparam string username 1..64 bytes, no control characters
-- @tparam string password 1..256 bytes, no control characters
-- @treturn Op resolving to `client_id, token` (the token is kept for
-- `profile()` and wiped when the client is closed)
function Auth:register(username, password)
  check_text(username, 1, "register", "username", 64)
  check_text(password, 2, "register", "password", 256)
  return own(self, self._c:register(username, password))
end

--- Logs in: Logon (35=A), then UserRequest (35=BE) with the password;
-- `Active` once the UserResponse (35=BF) has UserStatus 1. With the
-- client option `auth = "logon"` the Logon ack is the authentication and
-- `password` may be nil. The store is opened (mkdir, lock, scan) on the
-- calling thread before the connect is posted.
-- @tparam ?string client_id the SenderCompID: 1..64 bytes of printable ASCII
-- without `=`, `|` or spaces; may be nil when the client's `sender_comp_id`
-- option names it
-- @tparam ?string password 1..256 bytes
-- @treturn Op resolving to `true` once `Active`
function Auth:login(client_id, password)
  if client_id == nil then
    client_id = self._sender_comp_id
    if client_id == nil then
      -- say where an id can come from: the preset's users expect the option
      argerror(1, "login", "client_id: string expected, got nil, and the client has no "
        .. "sender_comp_id option")
    end
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

--- Logs out. Active: the Logout exchange (or its timeout), then
-- `Disconnected`; Connecting/Authenticating: cancels the attempt (its op
-- fails `cancelled`); Failed: back to `Disconnected`. Also stops a
-- reconnect in progress.
-- @treturn Op resolving to `true`
function Auth:logout()
  return own(self, self._c:logout())
end

--- GET `/api/profile` with the token of the last `register()`.
-- @treturn Op resolving to the profile as a table (decoded with lua-cjson;
-- not a JSON object: fails `bad_response`)
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

--- The current state.
-- @treturn string the state name (@{betatrader.states})
-- @treturn ?string while `Failed`, and while reconnecting, the reason (why
-- the session was lost)
-- @treturn ?string its code (@{betatrader.codes})
function Auth:state()
  return self._c:state()
end

--- The last failure.
-- @treturn ?string its reason, or nil
-- @treturn ?string its code
function Auth:last_error()
  return self._c:last_error()
end

--- The SenderCompID (client_id) from registration or login, or nil.
-- @treturn ?string
function Auth:sender_comp_id()
  return self._c:sender_comp_id()
end

--- Calls `fn(new, old, reason, code)` on every transition, in order, on the
-- Lua thread while the module is pumped. An error it raises goes to
-- `bt.on_error` and does not stop the other handlers.
-- @tparam function fn (or a callable table)
-- @treturn function removes the handler (true if it was there)
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
