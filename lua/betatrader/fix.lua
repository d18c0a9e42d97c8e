--- client.fix: the trading session once Active.
--   fix:send(msg_type, { {tag, value}, ... })  -> true | nil, message, code
--   fix:receive([timeout])                      -> an Op resolving to a message
--   fix:flush([timeout])                        -> an Op resolving to true
--   fix:queued()                                -> bytes, messages
--   fix:pending()                               -> messages received, not taken
-- A message is { msg_type = "8", seq_num = 12, header = { {tag, value}, ... },
-- fields = { {tag, value}, ... } (the body), trailer = { {10, "123"} },
-- [tag] = value of the first field with that tag }.
-- @module betatrader.fix
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

--- Sends an application message. Values: strings, integers, decimal
--- numbers, booleans (Y/N). Queued for the I/O thread; true means queued.
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

--- Bytes and messages accepted by send() and not yet handed to the socket.
function Fix:queued()
  return self._c:queued()
end

--- An Op resolving to true once everything queued was handed to the
--- socket; it fails if the session ends first (or "timeout").
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
--- the I/O thread has received but nothing has dispatched yet.
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

--- An Op resolving to the next inbound application message. With a
--- timeout, the Op fails with code "timeout" if none came in time. Once a
--- session ended, messages received before the end come first, then the
--- Op fails at once with the end's reason and code until a new login.
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
