--- `bt.client{...}`: one account's connection to the exchange, with
-- `client.auth` (registration, login, state: @{betatrader.auth}) and
-- `client.fix` (the trading session: @{betatrader.fix}).
--
-- Every option is checked at once: an unknown key, a wrong type or an
-- out-of-range value raises an error naming the option (`unknown option
-- 'fix_prot'`, `bad option 'fix_port' (0 out of range 1..65535)`) at the
-- caller's line; nothing is sent before the options are good. An integer
-- option also takes an integral float (`heartbeat = 2.0`). The options and
-- their defaults are the @{options} table below.
--
-- `client:close()` (also a `&lt;close&gt;` variable and garbage collection) drops any
-- connection at once and cancels pending operations; call `auth:logout()`
-- first for a clean end. `client.auth`, `client.fix` and every operation
-- they return keep their client alive (`local auth = bt.client{...}.auth` is
-- fine): garbage collection closes a client only once nothing of it is
-- reachable. After `close()` every call still answers: `state()` is
-- `Disconnected`, `last_error()` and `sender_comp_id()` are `nil`, `send`
-- returns `nil, "client is closed", "invalid_state"`, and new operations
-- (`register`, `login`, `logout`, `profile`, `receive`) fail with the same
-- message and code.
-- @module betatrader.client
-- @usage
-- local bt = require("betatrader")
-- local client <close> = bt.client{
--   api_url = "http://127.0.0.1:8080",       -- https:// verifies certificates
--   fix_host = "127.0.0.1", fix_port = 9878,
--   tls = nil,                                -- or true, or { ca_file = ..., server_name = ... }
--   target_comp_id = "BETA_EXCHANGE",
--   heartbeat = 30, timeout = 10,             -- seconds
--   store = ".betatrader",                    -- sequence numbers live here (false: none)
--   reset_on_logon = false,                   -- 141=Y on Logon
-- }
-- local id = assert(client.auth:register("alice", "s3cret"):await())  -- "CLIENT0001"
-- assert(client.auth:login(id, "s3cret"):await())
-- assert(client.auth:logout():await())

--- The options of `bt.client{...}` (all optional; the value after each name
-- is its default).
-- @table options
-- @field api_url `"http://127.0.0.1:8080"`: the exchange's REST API;
-- `http://` or `https://` only; `false` for a venue without it (FIX only):
-- `register()` and `profile()` then fail at once with `invalid_state`,
-- "this client has no HTTP API (api_url = false)".
-- @field fix_host `"127.0.0.1"`: the FIX gateway's host.
-- @field fix_port `9878`: the FIX gateway's port.
-- @field tls `nil`: `true` or a table (see @{tls}) turns TLS on for FIX.
-- @field target_comp_id `"BETA_EXCHANGE"`: the exchange's CompID (56).
-- @field heartbeat `30`: HeartBtInt (108), whole seconds 1..3600.
-- @field timeout `10`: seconds: HTTP request, UserResponse wait, and the
-- default of `connect_timeout`, `logon_timeout` and `logout_timeout`.
-- @field connect_timeout `timeout`: seconds for the TCP/TLS set-up.
-- @field logon_timeout `timeout`: seconds to wait for the Logon reply.
-- @field logout_timeout `timeout`: seconds to wait for the Logout reply.
-- @field store `".betatrader"`: directory of the sequence store, relative to
-- the working directory (run a bot from another directory and it starts
-- again at 34=1, which the exchange refuses as "MsgSeqNum too low": give an
-- absolute path); `false` keeps nothing and logs on with 141=Y.
-- @field fsync `false`: fdatasync the store's sequence numbers before each
-- batch of sends leaves, and its saved messages right after (power-loss
-- durability; kill -9 safety needs no fsync).
-- @field resend_window `100000`: outbound messages kept for resends, at
-- least; older ones are dropped from the store (its file stays under about
-- twice this many) and a ResendRequest for them is answered with a GapFill.
-- @field reset_on_logon `false`: send 141=Y with 34=1 and reset the store.
-- @field auth `"user_request"`: how a login is authenticated:
-- `"user_request"` (Logon, then 35=BE/BF with the password); `"logon"`: the
-- Logon acknowledgement is the authentication (venues that know their
-- clients by SenderCompID): no 35=BE, `login(id)` needs no password, a
-- Logout instead of the ack fails `rejected`.
-- @field check_comp_id `true`; `"session"`: SenderCompID/TargetCompID are
-- checked on session messages (Logon, Heartbeat, TestRequest,
-- ResendRequest, Reject, SequenceReset, Logout) only, not on application
-- messages (QuickFIX's `CheckCompID=N` for venues that stamp reports with
-- other CompIDs).
-- @field logon_seq `"strict"`; `"adopt"`: the MsgSeqNum of the exchange's
-- Logon reply is taken as in sequence (no "too low", no ResendRequest at
-- logon), for venues that forget their counters on restart.
-- @field begin_strings `{ "FIX.4.4" }`: BeginStrings accepted on inbound
-- application messages, e.g. `{ "FIX.4.4", "FIXT.1.1" }` for a venue that
-- sends market data under FIXT.1.1; 1..8 strings that must include
-- `"FIX.4.4"`: session messages and everything sent stay FIX.4.4, any other
-- version on them ends the session (`protocol`).
-- @field sender_comp_id none: the client id (SenderCompID) `auth:login()`
-- uses when called without one.
-- @field reconnect `false`; a table (see @{reconnect}): after an unplanned
-- end of an Active session, log in again by itself.
-- @field logon_username none: Username (553) in the Logon, for venues that
-- authenticate there.
-- @field logon_password none: Password (554) in the Logon, likewise.
-- @field max_message_size `65536`: largest BodyLength accepted inbound, and
-- the largest body `fix:send` takes.
-- @field max_send_queue `8388608`: bytes `fix:send` may queue before it
-- returns `busy` (see @{betatrader.fix}, "Sending: backpressure").
-- @field max_response_size `1048576`: largest HTTP response body accepted.
-- @field dictionary FIX 4.4: a QuickFIX XML data dictionary file (or a
-- `bt.dictionary(path)` object) for a venue's own fields, enum values and
-- messages; a bad file raises `dictionary: FILE:LINE: problem`.
-- @field validate `"off"`: inbound messages against the dictionary:
-- `"off"`, `"warn"` (delivered with `msg.invalid` set, and a Lua `warn`),
-- `"reject"` (session Reject, never delivered); see @{betatrader.fix},
-- "Validation".
-- @field trace none: `function(dir, frame)` called on the Lua thread for
-- every FIX frame, `dir` being `"in"`, `"out"` or `"garbled"`; 554 is shown
-- as `***`. An error it raises goes to `bt.on_error`.

--- The `tls` option: `true` (defaults only) or a table of these fields.
-- TLS is verified by default: chain, dates and host name; a refusal is
-- `tls_failed` with OpenSSL's reason.
-- @table tls
-- @field ca_file the CA bundle to verify the server with; also applies to
-- `https://` API URLs.
-- @field server_name sent as SNI and the name verified (default `fix_host`).
-- @field cert_file a client certificate (with `key_file`); also applies to
-- `https://`.
-- @field key_file the client certificate's key; also applies to `https://`.
-- @field verify `true`; `false` is for tests only.

--- The `reconnect` option: `{ interval = 1, max_interval = 30, backoff = 2,
-- jitter = 0.1, attempts = nil }`, every field optional.
--
-- With it an Active session that ends without `logout()` (connection lost,
-- heartbeat timeout, the exchange's Logout) is not `Failed`: the client goes
-- `Active -> Connecting -> Authenticating -> Active` by itself, each
-- transition through `on_state` with the reason it lost the session, which
-- `auth:state()` also returns meanwhile. The first attempt goes out at
-- once, then after `interval`, `interval * backoff`, ... up to
-- `max_interval` seconds, each spread by +-`jitter` (a fraction) so that
-- many clients do not come back in step; every failed attempt posts
-- `Connecting` again with its reason. Sequence numbers continue through the
-- store (no 141=Y unless `reset_on_logon`), so a ResendRequest after the
-- reconnect is answered from it.
--
-- <ul>
-- <li>A refused login (wrong password, unknown CompID: a UserResponse other
-- than 1, or a Logout in answer to the Logon), a store error, or
-- `attempts` failed attempts end it: `Failed` with that reason (`"gave up
-- reconnecting after N attempts: ..."`).</li>
-- <li>`logout()` or `client:close()` stop it at once; `login()` meanwhile is
-- `invalid_state`.</li>
-- <li>While reconnecting `fix:send` returns `nil, "not active
-- (reconnecting)", "invalid_state"`: nothing is queued for a dead
-- connection. Pending `fix:receive` ops survive the reconnect and end
-- only when the client gives up (with its reason) or closes.</li>
-- <li>The password of the last `login()` stays in the client's memory for the
-- next attempts, wiped when the client is closed.</li>
-- </ul>
-- @table reconnect
-- @field interval `1`: seconds before the second attempt.
-- @field max_interval `30`: the longest wait between attempts, in seconds.
-- @field backoff `2`: each wait is the last one times this.
-- @field jitter `0.1`: each wait is spread by this fraction, up or down.
-- @field attempts `nil` (no limit): failed attempts before giving up.
-- @usage
-- local c = bt.client{ store = "/var/lib/bot/store", reconnect = { interval = 1, max_interval = 30 } }
-- c.auth:on_state(function(new, old, reason) print(old, "->", new, reason or "") end)
-- assert(c.auth:login(id, pw):await())
-- -- exchange restarts: Active -> Connecting (connection lost) ... -> Authenticating -> Active

local async = require("betatrader.async")
local config = require("betatrader.config")
local core = require("betatrader.core")
local Auth = require("betatrader.auth")
local Fix = require("betatrader.fix")

local Client = {}
Client.__index = Client

--- Makes a client: `bt.client(opts)`. Options are checked at once (see
-- @{options}); a wrong option raises at the caller's line.
-- @tparam[opt] table opts the @{options}
-- @treturn Client a client with `.auth` (@{betatrader.auth}: registration,
-- login) and `.fix` (@{betatrader.fix}: the session)
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
-- `auth:logout()` first for a clean end) and cancels pending operations.
-- Also run for a `&lt;close&gt;` variable and by garbage collection; idempotent. Every call on
-- the client still answers afterwards (see the module's description).
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
