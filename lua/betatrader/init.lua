--- BetaTrader client: registration, FIX 4.4 logon and UserRequest
-- authentication, and the trading session, for Lua 5.4.
-- The C core (betatrader.core) does all I/O on one background thread shared
-- by every client in the process; these Lua files hold the API:
-- @{betatrader.client} (options, close), @{betatrader.auth} (register, login,
-- state), @{betatrader.fix} (send and receive, by tag or by name),
-- @{betatrader.async} (operations, await, the scheduler) and
-- @{betatrader.testing} (a local exchange for specs, in the
-- `betatrader-exchange` rock).
--
-- <strong>Misuse</strong> (a wrong argument type, an empty password, an unknown option)
-- raises at once with a message naming the argument and pointing at the
-- caller's line, as Lua's own library does; nothing is sent. A network call
-- returns an operation whose failure is `nil, message, code`, `code` being
-- one of @{codes}.
--
-- <strong>Errors.</strong> A task's error fails its op (code `error`, with the
-- traceback) and is raised by whatever pumps outside any task: `bt.run`,
-- `bt.step` or a blocking await in plain code; the scheduler stays whole, so
-- the next `bt.run()` goes on. An error raised by an event handler
-- (`on_state`, `trace`) belongs to no operation: it never fails or
-- interrupts an await; it is passed with the handler's traceback to
-- `bt.on_error`'s function once the batch of events was dispatched.
--
-- <strong>fork().</strong> The I/O thread does not survive `fork()`, so a forked child
-- never touches what it inherited: the parent's clients and operations
-- raise "created before fork() in the parent process" when used in the
-- child (`close()` and garbage collection just forget them, leaking their
-- memory in the child), the child's scheduler starts empty, and new clients
-- and operations in the child get a fresh reactor and I/O thread
-- (`pthread_atfork`). The parent is unaffected by anything the child does.
-- The child still holds copies of the parent's sockets until it exits or
-- execs (they are `O_CLOEXEC`).
--
-- <strong>If the I/O thread loses epoll</strong> (its fd closed or replaced by a bug
-- elsewhere in the process), every session of the process ends at once:
-- the state goes to `Failed` and pending operations fail with code
-- `disconnected` and "the I/O thread failed (epoll_wait: ...)"; new
-- `login`/`register` calls fail `connect_failed` with the same reason;
-- `close()` and garbage collection still complete. Clients made afterwards
-- in a new Lua state get a fresh reactor.
-- @module betatrader
-- @usage
-- local bt = require("betatrader")
-- local client <close> = bt.client{ fix_host = "127.0.0.1", fix_port = 9878 }
-- local auth = client.auth
-- local id = assert(auth:register("alice", "s3cret"):await())     -- "CLIENT0001"
-- assert(auth:login(id, "s3cret"):await())
-- print(auth:state(), auth:sender_comp_id())                      -- Active   CLIENT0001
-- assert(client.fix:send("NewOrderSingle", { ClOrdID = "ORD1", Symbol = "EUR/USD", Side = "BUY",
--   OrderQty = 1000000, OrdType = "MARKET", TransactTime = bt.utc() }))
-- assert(auth:logout():await())
local async = require("betatrader.async")
local Client = require("betatrader.client")
local core = require("betatrader.core")
local dict = require("betatrader.dict")

local M = {
  --- The version, `"MAJOR.MINOR.PATCH"` (the C core's too).
  _VERSION = "0.1.0",
  --- Makes a client: `betatrader.client.new` (see its `options`).
  -- @function client
  -- @tparam[opt] table options
  -- @treturn betatrader.client.Client
  client = Client.new,
  --- Runs `fn(...)` as a task: @{betatrader.async.spawn}.
  -- @function spawn
  -- @tparam function fn
  -- @param ... its arguments
  -- @treturn Op resolving to the task's results
  spawn = async.spawn,
  --- Runs the scheduler until every task finished; re-raises a task's
  -- error with its traceback: @{betatrader.async.run}.
  -- @function run
  -- @tparam[opt] function fn spawned first
  run = async.run,
  --- Sleeps `s` seconds (yields, polls or blocks like `await`):
  -- @{betatrader.async.sleep}.
  -- @function sleep
  -- @tparam number s
  sleep = async.sleep,
  --- One turn of the scheduler, for other event loops:
  -- @{betatrader.async.step}.
  -- @function step
  -- @tparam[opt] number timeout seconds; 0 never blocks
  step = async.step,
  --- The fd luv, copas or any poll loop watches for reading before calling
  -- `bt.step(0)`: @{betatrader.async.pollfd}.
  -- @function pollfd
  pollfd = async.pollfd,
  --- `"r"`: the module is a cqueues pollable (@{betatrader.async.events}).
  -- @function events
  events = async.events,
  --- Seconds until the scheduler next needs a `bt.step`, or nil:
  -- @{betatrader.async.timeout}.
  -- @function timeout
  timeout = async.timeout,
  --- Seconds on the monotonic clock.
  -- @function now
  -- @treturn number
  now = async.now,
  --- True for an operation (`betatrader.async.Op`).
  -- @function is_op
  -- @param x
  is_op = async.is_op,
  --- A UTCTIMESTAMP with milliseconds (`"20250101-12:00:00.123"`): now, or
  -- `seconds` since the epoch.
  -- @function utc
  -- @tparam[opt] number seconds
  -- @treturn string
  utc = core.utc,
  --- Loads a QuickFIX XML dictionary (for `bt.client{ dictionary = ... }`);
  -- raises `dictionary: FILE:LINE: problem`. The object's `d:decode(frame)`
  -- reads a raw frame (from a log) by name and `d:encode(name, fields)` gives
  -- the frame `send` would write: see @{betatrader.dict}.
  -- @function dictionary
  -- @tparam string path
  dictionary = function(path)
    local d = dict.load(path, 2) -- not a tail call: level 2 is the caller
    return d
  end,
  --- Sets `fn(message)`, called with each event handler's error and
  -- traceback (default: written to stderr; `bt.on_error(error)` makes them
  -- raise from the pump); returns the previous one:
  -- @{betatrader.async.on_error}.
  -- @function on_error
  -- @tparam[opt] function fn
  -- @treturn function the previous handler
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

--- The six states, in the order of a successful session; also by name
-- (`bt.states.Active == "Active"`). See @{betatrader.auth} for the diagram.
-- @table states
-- @field Disconnected no session; the start and the end of a clean logout
-- @field Registering `register()` runs (POST /api/register)
-- @field Connecting `login()` sets up TCP/TLS (or a reconnect does)
-- @field Authenticating the Logon is sent; waiting for its ack, then the
-- UserResponse
-- @field Active logged in: `fix:send` and `fix:receive` work
-- @field Failed the last attempt or session ended with an error:
-- `auth:state()` also returns its reason and code
M.states = names{ "Disconnected", "Registering", "Connecting", "Authenticating", "Active", "Failed" }
--- The stable error codes: the third value of a failed `await` is one of
-- these. `bt.codes[1] == "timeout"`, and by name
-- `bt.codes.timeout == "timeout"`.
-- @table codes
-- @field timeout a deadline passed: connect, Logon reply, UserResponse,
-- heartbeat (TestRequest unanswered), HTTP request
-- @field refused nobody listens: `connection refused by 127.0.0.1:9878`
-- @field connect_failed DNS failure, unreachable host, a bad local
-- configuration
-- @field tls_failed handshake or verification failed, with OpenSSL's reason
-- (`certificate verify failed: self-signed certificate`, `hostname
-- mismatch`)
-- @field http_status the API answered with an error status; the message
-- carries the server's `error_msg`. A redirect is never followed (it could
-- hand the password to another server): the message names its Location
-- @field bad_response the API's answer is not the expected JSON, naming
-- what was wrong; also a `client_id` that `login()` would refuse (not 1..64
-- bytes of printable ASCII without `=`, `|` or spaces)
-- @field rejected the exchange refused: UserResponse not 1 (`password
-- incorrect`, `user not recognised`) or a Logout instead of a Logon (its 58
-- text)
-- @field disconnected the connection ended: peer Logout while Active
-- (`exchange logged us out: ` and its 58 text), connection lost
-- @field protocol the exchange broke the FIX session rules (e.g. MsgSeqNum
-- too low)
-- @field invalid_state the call does not fit the current state (one
-- operation at a time)
-- @field cancelled the op was cancelled (`op:cancel()`, a `&lt;close&gt;` variable,
-- `logout()` during a login, `client:close()`)
-- @field store the sequence store failed: in use by another process or
-- client, a corrupt file, a directory that cannot be written; the message
-- names the file (`seqstore: .betatrader/CLIENT0001+BETA_EXCHANGE.lock: in
-- use by another process ...`)
-- @field busy (`fix:send` only) `max_send_queue` bytes are already waiting
-- for the socket
-- @field nomem an allocation failed while finishing an operation
-- @field error a `bt.spawn` task raised: its op fails with the traceback
M.codes = names{
  "timeout", "refused", "connect_failed", "tls_failed", "http_status", "bad_response",
  "rejected", "disconnected", "protocol", "invalid_state", "cancelled", "store", "busy", "nomem",
  "error",
}

--- Constants of the FIX 4.4 dictionary (@{betatrader.fix44}), built on first
-- use: `bt.fix44.Side.BUY == "1"`, `bt.fix44.tags.ClOrdID == 11`,
-- `bt.fix44.messages.NewOrderSingle == "D"`.
-- @table fix44

-- bt.fix44 is built on first use.
return setmetatable(M, {
  __index = function(t, k)
    if k == "fix44" then
      local c = require("betatrader.fix44")
      rawset(t, k, c)
      return c
    end
  end,
})
