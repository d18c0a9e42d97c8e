--- client.fix: the trading session once Active.
--
-- Messages go out raw (`fix:send("D", { {11, "ORD1"}, {55, "EUR/USD"}, ... })`)
-- or by name (`fix:send("NewOrderSingle", { ClOrdID = "ORD1", ... })`, from
-- the data dictionary); a received `message` answers both ways.
--
-- <strong>Receiving.</strong> When a session ends (peer Logout, connection lost,
-- heartbeat timeout, a refused login), every pending `receive` fails with
-- the end's code and reason, the same as `auth:state()` shows
-- (`disconnected`, `timeout`, `rejected`...); `logout()` and
-- `client:close()` fail them with `cancelled`. Messages that arrived before
-- the end stay readable: `receive()` returns them first, then fails at once
-- with the end's reason until the next `login()`. A `receive` that times out
-- or is cancelled leaves nothing behind (no task, no timer), so polling with
-- `fix:receive(0):await()` costs constant memory and time.
--
-- <strong>Sending: limits.</strong> `send` refuses at the call everything the session or
-- the exchange would refuse, so a message it accepted reaches the wire, or
-- the session ends with a reason (code `protocol` or `nomem`). It raises
-- on: a session MsgType (`0`-`5`, `A`) or one that is not in FIX 4.4
-- (`"ZZ"`, `"BZ"`; user-defined `U...` types are fine); a tag the session
-- writes itself (8, 9, 10, 34, 35, 43, 49, 52, 56, 97, 122) or outside
-- 1..999999999; an empty value or one containing SOH or a NUL byte; NaN or
-- an infinite number; more than <strong>1,014 fields</strong> (the session's 1,024-field
-- limit, which the local exchange applies too, less the header and trailer
-- of a resend); a body over <strong>`max_message_size`</strong>, counted with the header
-- (MsgSeqNum at its widest, 20 digits).
--
-- <strong>Sending: backpressure.</strong> Messages wait in a queue until the I/O thread
-- hands them to the socket. Once `max_send_queue` bytes (as encoded for the
-- wire) are waiting, for instance because the exchange stopped reading,
-- `send` returns `nil, "send queue full (N bytes queued)", "busy"` and
-- queues nothing; the queue never exceeds the limit by more than one
-- message. Wait with `fix:flush():await()` and send again; `fix:queued()`
-- shows the backlog.
--
-- <strong>Sending by name.</strong> `fix:send(name, fields)` with a table keyed by names
-- sends by name (a list `{ {tag, value}, ... }` keeps the raw form, for
-- venues off the dictionary). Fields go out in the dictionary's order
-- whatever the table's; enum fields take the dictionary's name (`"BUY"`) or
-- the wire value (`"1"`); values are encoded by the field's type: integers
-- and decimals for INT/QTY/PRICE/AMT/FLOAT (the shortest plain decimal that
-- reads back as the same number, as in the raw form), `true`/`false` for
-- BOOLEAN (Y/N), a `bt.utc()` string or seconds since the epoch for
-- UTCTIMESTAMP; dates (LOCALMKTDATE, UTCDATEONLY), UTCTIMEONLY and
-- MONTHYEAR values are checked for their form. A group is an array of
-- tables: the library writes the count, each entry starts with the group's
-- delimiter field, members follow in dictionary order, nested groups
-- likewise; an empty array is an absent group. MULTIPLEVALUESTRING fields
-- take wire values only.
--
-- <strong>Errors raise at the call</strong>, naming the message, the field and the rule,
-- with a "did you mean" for a close name: `bad argument #2 to 'send'
-- (NewOrderSingle: unknown field 'ClOrID' (did you mean 'ClOrdID'?))`,
-- `'BYU' is not a valid Side (54) value (did you mean 'BUY'?)`,
-- `Price (44) is PRICE, got boolean`, `required field Side (54) is
-- missing`, `MarketDataRequest.NoRelatedSym[2]: the first field of each
-- entry, Symbol (55), is missing`, `SenderCompID (49) is written by the
-- session`. Nothing is sent.
--
-- <strong>Validation</strong> (the client's `validate` option), in QuickFIX's terms:
-- `"off"` is `UseDataDictionary=Y` with no `Validate*` check (groups are
-- still parsed); `"warn"` checks each message like QuickFIX's
-- `ValidateFieldsOutOfOrder=N`, `ValidateFieldsHaveValues=Y`,
-- `ValidateUserDefinedFields=Y` and delivers it anyway with `msg.invalid`
-- set (e.g. `"Value is incorrect (out of range) for this tag (371=54,
-- 373=5)"`); `"reject"` does the check on the I/O thread and answers a bad
-- message with a session Reject (35=3) carrying 45, 371 (RefTagID), 372
-- (RefMsgType), 373 (SessionRejectReason) and QuickFIX's 58 text (0 Invalid
-- tag number, 1 Required tag missing, 2 Tag not defined for this message
-- type, 5 Value is incorrect, 6 Incorrect data format, 11 Invalid MsgType,
-- 13 Tag appears more than once, 16 Incorrect NumInGroup count); the
-- message never reaches the bot, the session goes on.
--
-- <strong>The dictionary.</strong> `dict/FIX44.xml` is QuickFIX's FIX 4.4 data
-- dictionary, shipped with its licence (`dict/LICENSE.QuickFIX`: "This
-- product includes software developed by quickfixengine.org
-- (http://www.quickfixengine.org/)"). At build time a small generator
-- (`csrc/gen/fix_dict_gen.c`, the library's own expat loader) compiles it
-- into a C table, so the default dictionary costs no XML parsing at run time
-- (0.5 ms to wrap it for Lua on first use). A venue's own file (`dictionary
-- = "venue.xml"`: extra fields, enum values, messages) is parsed with expat
-- when the client is created, 9 ms for the whole FIX 4.4 file.
-- @module betatrader.fix
-- @usage
-- local fix = client.fix
-- assert(fix:send("NewOrderSingle", {
--   ClOrdID = "ORD1", Symbol = "EUR/USD", Side = "BUY", OrderQty = 1000000,
--   OrdType = "LIMIT", Price = 1.08345, TimeInForce = "DAY", TransactTime = bt.utc(),
-- }))
-- local er = assert(fix:receive(5):await())
-- if er.MsgType == "ExecutionReport" and er.ClOrdID == "ORD1" then
--   print(er:enum("OrdStatus"), er:number("LeavesQty"), er:time("TransactTime"))  -- NEW 1000000 1.7e9
-- end
--
-- assert(fix:send("MarketDataRequest", {
--   MDReqID = "MD1", SubscriptionRequestType = "SNAPSHOT", MarketDepth = 0,
--   NoMDEntryTypes = { { MDEntryType = "BID" }, { MDEntryType = "OFFER" } },
--   NoRelatedSym = { { Symbol = "EUR/USD" } },
-- }))
-- local w = assert(fix:receive(5):await())
-- if w.MsgType == "MarketDataSnapshotFullRefresh" then
--   for _, e in ipairs(w.NoMDEntries) do
--     print(e:enum("MDEntryType"), e:number("MDEntryPx"), e:number("MDEntrySize"))
--   end
-- end

--- A received message (what `fix:receive` resolves to). It answers by tag
-- and by name: `msg.MsgType` is the message's name, `msg.OrdStatus` the
-- wire value, `msg:enum("OrdStatus")` its name (`nil, value` for a value
-- outside the dictionary), `msg:number(name)` and `msg:time(name)` (seconds
-- since the epoch) raise on a malformed value; an unknown capitalised name
-- raises with a "did you mean" (lower-case keys such as `msg.invalid` are
-- the library's and read as `nil` when absent). Groups are parsed with the
-- dictionary into arrays (`msg.NoMDEntries[i].MDEntryPx`, each entry
-- answering by name and with `:enum`/`:number`/`:time` too); `msg[tag]` and
-- `msg.Name` still give the first value of a tag anywhere in the message, as
-- in the raw form; unknown tags are kept (`msg[9999]`, `msg.fields`).
-- @table message
-- @field msg_type the MsgType (35), e.g. `"8"`
-- @field seq_num the MsgSeqNum (34), an integer
-- @field header `{ {8, "FIX.4.4"}, {9, ...}, {35, "8"}, ... }` in wire order
-- @field fields the body only: `{ {tag, value}, ... }` in wire order
-- @field trailer `{ {10, "123"} }`
-- @field tag `msg[tag]`: the first value of the tag anywhere in the message (header,
-- body, trailer); `msg[0]` is the frame as received
-- @field invalid with `validate = "warn"`: why the message failed the
-- dictionary's checks (else nil)
local async = require("betatrader.async")

local Fix = {}
Fix.__index = Fix

local fmt = string.format

-- A FIFO of pending ops that also lets one leave from the middle (timed
-- out, cancelled) in O(1): its slot becomes false, the ends are trimmed,
-- and the array is rebuilt once holes outnumber live ops.
local function queue()
  return { head = 1, tail = 0, live = 0 }
end

local function q_push(q, op)
  q.tail = q.tail + 1
  q[q.tail] = op
  op._slot = q.tail
  q.live = q.live + 1
end

local function q_compact(q)
  local j = 0
  for i = q.head, q.tail do
    local op = q[i]
    q[i] = nil
    if op then
      j = j + 1
      q[j] = op
      op._slot = j
    end
  end
  q.head, q.tail = 1, j
end

local function q_remove(q, op)
  local i = op._slot
  if not i or q[i] ~= op then
    return
  end
  op._slot = nil
  q[i] = false
  q.live = q.live - 1
  while q.head <= q.tail and q[q.head] == false do
    q[q.head] = nil
    q.head = q.head + 1
  end
  while q.tail >= q.head and q[q.tail] == false do
    q[q.tail] = nil
    q.tail = q.tail - 1
  end
  if q.head > q.tail then
    q.head, q.tail = 1, 0
  elseif q.tail - q.head + 1 > 2 * q.live + 64 then
    q_compact(q)
  end
end

-- The oldest op still pending, taken out of the queue (and its timer
-- stopped), or nil.
local function q_shift(q)
  while q.head <= q.tail do
    local op = q[q.head]
    q[q.head] = nil
    q.head = q.head + 1
    if op then
      op._slot = nil
      q.live = q.live - 1
      if op._timer then
        async.cancel_timer(op._timer)
        op._timer = nil
      end
      if op:status() == "pending" then
        return op
      end
    end
  end
  q.head, q.tail = 1, 0
  return nil
end

local function q_fail_all(q, message, code)
  while true do
    local op = q_shift(q)
    if not op then
      return
    end
    op:reject(message, code)
  end
end

--- The fix view of a core client (made by bt.client; not called by users).
-- @local
function Fix.new(core_client, dict, validate)
  return setmetatable({
    _c = core_client,
    _dict = dict, -- messages by name (betatrader.dict)
    _warn = validate == "warn",
    _inbox = {}, -- frames of messages nobody asked for yet
    _head = 1,
    _tail = 0,
    _seen = 0, -- "message" events handled
    _receivers = queue(), -- pending receive ops, oldest first
    _flushers = queue(), -- pending flush ops
    _ended = nil, -- { message, code } of the last session's end
    _closed = false,
  }, Fix)
end

-- The message behind a frame, or nil if the dictionary cannot read it.
local function decode(self, frame)
  local msg, problem = self._dict:decode(frame, self._warn)
  if msg and problem then
    msg.invalid = problem
    warn("betatrader: received ", msg.msg_type, " breaks the dictionary: ", problem)
  end
  return msg
end

-- Called by the client's event hook for every inbound application message.
-- Frames nobody waits for are kept as they came and decoded by receive():
-- a burst of thousands of decoded tables waiting in the inbox made the
-- heap grow by a page fault per message.
function Fix:_on_message(frame)
  self._seen = self._seen + 1
  if self._receivers.live > 0 then
    local msg = decode(self, frame)
    if msg then -- an unreadable frame is dropped, the receiver waits on
      q_shift(self._receivers):resolve(msg)
    end
    return
  end
  self._tail = self._tail + 1
  self._inbox[self._tail] = frame
end

local live_states = { Connecting = true, Authenticating = true, Active = true }

-- Called by the client's event hook on every state change: a session (or
-- an attempt at one) that ends fails what waits for it, with its reason.
function Fix:_on_state(new, old, reason, code)
  if live_states[old] and not live_states[new] then
    if not reason then
      reason, code = "session ended by logout()", "cancelled"
    end
    self._ended = { reason, code or "disconnected" }
    q_fail_all(self._receivers, reason, self._ended[2])
    q_fail_all(self._flushers, reason, self._ended[2])
  end
end

-- Called by the client's event hook once the send queue went empty.
function Fix:_on_drained()
  if self._flushers.live == 0 or self._closed then
    return
  end
  -- More may have been queued since: wait for that too.
  if not self._c:flush_request() then
    return
  end
  while true do
    local op = q_shift(self._flushers)
    if not op then
      return
    end
    op:resolve(true)
  end
end

-- Called by client:close().
function Fix:_close()
  self._closed = true
  q_fail_all(self._receivers, "client closed", "cancelled")
  q_fail_all(self._flushers, "client closed", "cancelled")
end

-- The end that new waits fail with: set once a session ended and until a
-- new one is under way.
function Fix:_end_now()
  if self._closed then
    return { "client is closed", "cancelled" }
  end
  if self._ended and live_states[self._c:state()] then
    self._ended = nil
  end
  return self._ended
end

-- A pending op in q; with a timeout it fails "timeout" (message fmt'ed with
-- the seconds). Timed out, cancelled or finished, it leaves q and its timer
-- at once: nothing is kept for it.
local function wait_op(q, timeout, message)
  local op = async.new()
  q_push(q, op)
  if timeout and timeout ~= math.huge then
    op._timer = async.after(timeout, function()
      op._timer = nil
      q_remove(q, op)
      if op:status() == "pending" then
        op:reject(fmt(message, timeout), "timeout")
      end
    end)
  end
  async.on_done(op, function()
    if op._timer then
      async.cancel_timer(op._timer)
      op._timer = nil
    end
    q_remove(q, op)
  end)
  return op
end

local function check_timeout(timeout, fname)
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    error(fmt("bad argument #1 to '%s' (non-negative number expected, got %s)", fname,
      tostring(timeout)), 3)
  end
end

--- Sends an application message: queued for the I/O thread, which encodes
-- each burst and writes it with one syscall.
--
-- Raw form: `fields` is `{ {tag, value}, ... }` in wire order; values are
-- strings, integers, floats (written as the shortest plain decimal that
-- reads back as the same number: `0.00001`, `1000000000000000`, `-0.0` ->
-- `0`) or booleans (`Y`/`N`). By name: `msg_type` is a message name and
-- `fields` a table `{ Name = value, ... }` (see the module's "Sending by
-- name"). Misuse raises naming the rule (see "Sending: limits").
-- @tparam string msg_type a MsgType (`"D"`) or a message name
-- (`"NewOrderSingle"`)
-- @tparam table fields `{ {tag, value}, ... }` or `{ Name = value, ... }`
-- @return `true` once queued; `nil, message, "invalid_state"` when not
-- Active (`"not active (reconnecting)"` while reconnecting);
-- `nil, "send queue full (N bytes queued)", "busy"` past `max_send_queue`
function Fix:send(msg_type, fields)
  if type(msg_type) ~= "string" then
    error(fmt("bad argument #1 to 'send' (string expected, got %s)", type(msg_type)), 2)
  end
  if type(fields) ~= "table" then
    error(fmt("bad argument #2 to 'send' (table expected, got %s)", type(fields)), 2)
  end
  if fields[1] == nil then
    return self._dict:send(self._c, msg_type, fields) -- by name (or an empty raw message)
  end
  return self._c:send(msg_type, fields)
end

--- What send() accepted and the I/O thread has not yet handed to the socket.
-- @treturn integer bytes
-- @treturn integer messages
function Fix:queued()
  return self._c:queued()
end

--- Waits until everything queued was handed to the socket.
-- @tparam[opt] number timeout seconds; then it fails with code `timeout`
-- @treturn Op resolving to `true`; it fails with the session's end (code and
-- reason) if the session ends first
function Fix:flush(timeout)
  check_timeout(timeout, "flush")
  if self._c:closed() then
    return async.failed("client is closed", "invalid_state")
  end
  if self._c:flush_request() then
    return async.resolved(true)
  end
  local ended = self:_end_now()
  if ended then
    return async.failed(ended[1], ended[2])
  end
  local op = wait_op(self._flushers, timeout, "send queue not flushed within %g s")
  op._client = self._client -- keeps the client alive while the op is referenced
  return op
end

--- Number of received messages not yet taken by receive(), counting those
-- the I/O thread received before anything pumped the module.
-- @treturn integer
function Fix:pending()
  local n = self._tail - self._head + 1
  if not self._closed then
    local undelivered = self._c:received() - self._seen - self._receivers.live
    if undelivered > 0 then
      n = n + undelivered
    end
  end
  return n
end

--- The next inbound application message. Once a session ended, messages
-- received before the end come first, then the Op fails at once with the
-- end's reason and code until a new login (see "Receiving").
-- @tparam[opt] number timeout seconds; the Op fails with code `timeout` if
-- none came in time
-- @treturn Op resolving to a @{message}
function Fix:receive(timeout)
  check_timeout(timeout, "receive")
  while self._head <= self._tail do
    local frame = self._inbox[self._head]
    self._inbox[self._head] = nil
    self._head = self._head + 1
    if self._head > self._tail then
      self._head, self._tail = 1, 0
    end
    local msg = decode(self, frame)
    if msg then
      return async.resolved(msg)
    end
  end
  if self._c:closed() then
    return async.failed("client is closed", "invalid_state")
  end
  local ended = self:_end_now()
  if ended then
    return async.failed(ended[1], ended[2])
  end
  local op = wait_op(self._receivers, timeout, "no message received within %g s")
  op._client = self._client -- keeps the client alive while the op is referenced
  return op
end

return Fix
