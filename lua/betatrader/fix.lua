--- client.fix: the trading session once Active.
--   fix:send(msg_type, { {tag, value}, ... })  -> true | nil, message, code
--   fix:receive([timeout])                      -> an Op resolving to a message
-- A message is { msg_type = "8", seq_num = 12, fields = { {tag, value}, ... },
-- [tag] = value of the first field with that tag }.
local async = require("betatrader.async")

local Fix = {}
Fix.__index = Fix

local fmt = string.format

function Fix.new(core_client, dict, validate)
  return setmetatable({
    _c = core_client,
    _dict = dict, -- messages by name (betatrader.dict)
    _warn = validate == "warn",
    _inbox = {}, -- decoded messages nobody asked for yet
    _head = 1,
    _tail = 0,
    _waiters = {}, -- pending receive ops, oldest first
    _timers = setmetatable({}, { __mode = "k" }), -- receive op -> its timeout timer
  }, Fix)
end

-- Called by the client's event hook for every inbound application message.
function Fix:_on_message(frame)
  local msg, problem = self._dict:decode(frame, self._warn)
  if not msg then
    return
  end
  if problem then
    msg.invalid = problem
    warn("betatrader: received ", msg.msg_type, " breaks the dictionary: ", problem)
  end
  while #self._waiters > 0 do
    local op = table.remove(self._waiters, 1)
    if op:status() == "pending" then
      local timer = self._timers[op]
      if timer then
        timer:cancel()
      end
      op:resolve(msg)
      return
    end
  end
  self._tail = self._tail + 1
  self._inbox[self._tail] = msg
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

--- Number of received messages waiting for receive().
function Fix:pending()
  return self._tail - self._head + 1
end

--- An Op resolving to the next inbound application message. With a
--- timeout, the Op fails with code "timeout" if none came in time.
function Fix:receive(timeout)
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    error(fmt("bad argument #1 to 'receive' (non-negative number expected, got %s)",
      tostring(timeout)), 2)
  end
  if self._head <= self._tail then
    local msg = self._inbox[self._head]
    self._inbox[self._head] = nil
    self._head = self._head + 1
    return async.resolved(msg)
  end
  local op = async.new()
  self._waiters[#self._waiters + 1] = op
  if timeout and timeout ~= math.huge then
    -- The timer is cancelled when a message comes first, so a finished
    -- receive leaves no task behind to keep bt.run() busy.
    local timer = async.sleep_op(timeout)
    self._timers[op] = timer
    async.spawn(function()
      if timer:await() and op:status() == "pending" then
        op:reject(fmt("no message received within %g s", timeout), "timeout")
      end
      self._timers[op] = nil
    end)
  end
  return op
end

return Fix
