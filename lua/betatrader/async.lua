--- betatrader.async: operations, await, and the module's tiny scheduler.
--
-- An operation (Op) is the result of a network call that has not finished
-- yet. It finishes exactly once, as "done" (with values), "failed" (with a
-- message and a stable code) or "cancelled".
--
--   op:await([timeout]) -> values...        (true when the op has no values)
--                       -> nil, message, code
--   op:get([timeout])   -> values..., or raises the message
--
-- await works in three places and never yields across a C call:
--   * inside a coroutine started with async.spawn (run by async.run, or by
--     anything that pumps the module): it yields to the scheduler;
--   * inside a cqueues-managed coroutine: it polls the op (ops are pollable:
--     :pollfd(), :events(), :timeout()) through cqueues.poll;
--   * anywhere else (main chunk, a busted test, a foreign coroutine): it blocks
--     in core.step on the completion queue, dispatching events and running
--     spawned tasks meanwhile.
--
-- An await timeout returns nil, "timed out after Xs", "timeout" and leaves
-- the operation pending: it may still finish later; cancel it if the result
-- is no longer wanted. An Op declared <close> is cancelled at scope exit if
-- still pending.
--
-- Other event loops drive the scheduler (spawned tasks, event handlers) by
-- watching async.pollfd() for readability, waking after async.timeout()
-- seconds, and calling async.step(0). The module table itself is pollable,
-- so under cqueues: cq:wrap(function() while true do cqueues.poll(async);
-- async.step(0) end end).
--
-- Errors raised inside a spawned task are never swallowed: the task's op
-- fails with the traceback (code "error") and the same traceback is raised
-- by whatever was pumping the scheduler (async.run, async.step, or a
-- blocking await) outside any task; a pump running inside a task (an await
-- in a plain coroutine nested in a task) leaves it to the outer one, so one
-- task's error never surfaces inside another.
--
-- Errors raised by event handlers (on_state, trace) belong to no operation:
-- each is passed, with the handler's traceback, to the error handler set by
-- async.on_error (default: written to stderr), after the rest of the batch
-- was dispatched. They never fail or interrupt an unrelated await.
--
-- A blocking await (outside tasks and cqueues) waits on the completion
-- queue's eventfd while dispatching events and running the other tasks; a
-- handler (`on_state`) that awaits lets later events and tasks run
-- meanwhile. The functions here are re-exported by @{betatrader} as
-- `bt.spawn`, `bt.run`, `bt.sleep`, `bt.step`, `bt.pollfd`, `bt.events`,
-- `bt.timeout`, `bt.now`, `bt.on_error`.
-- @module betatrader.async
local core = require("betatrader.core")

local coroutine, math, table = coroutine, math, table
local error, type, select, setmetatable, tostring, ipairs, getmetatable =
	error, type, select, setmetatable, tostring, ipairs, getmetatable
local fmt = string.format
local math_type = math.type
local traceback = debug.traceback

local M = {}

local WAIT = {} -- the token a task yields to wait for an op

-- Scheduler state (per Lua state: it lives in this module's upvalues).
local tasks = {} -- coroutine -> its Op
local ntasks = 0
local ready = {} -- FIFO of { co, args... }
local ready_head, ready_tail = 1, 0
local waiting = {} -- op id -> list of wait entries
local timers = core.timer_heap() -- wait entries by deadline
local handlers = {} -- user-event target id -> function(name, ...)
local current = nil -- the task being resumed (innermost), nil outside tasks
local run_depth = 0 -- nesting of run_ready (an await blocking inside a task)
local failures = {} -- FIFO of task tracebacks not yet raised
local reports = {} -- handler errors not yet handed to the error handler

-- Handler errors go here; a function(message) set by async.on_error.
local function default_on_error(msg)
	io.stderr:write("betatrader: error in an event handler: ", tostring(msg), "\n")
end
local on_error = default_on_error

-- fork(): a child inherits this module's tables, full of the parent's tasks
-- and handlers waiting on the parent's operations, which never finish here.
-- The child starts with an empty scheduler instead.
local generation = core.generation()
local function check_fork()
	if core.generation() == generation then
		return
	end
	generation = core.generation()
	tasks, ntasks, ready, ready_head, ready_tail = {}, 0, {}, 1, 0
	waiting, handlers, failures, reports = {}, {}, {}, {}
	timers = core.timer_heap()
	current, run_depth = nil, 0
end

local function argerror(n, fname, msg, level)
	error(fmt("bad argument #%d to '%s' (%s)", n, fname, msg), level + 1)
end

-- Checks an optional timeout in seconds; math.huge means no timeout.
local function check_timeout(t, n, fname)
	if t == nil then
		return nil
	end
	if type(t) ~= "number" then
		argerror(n, fname, "number expected, got " .. type(t), 3)
	end
	if t ~= t or t < 0 then
		argerror(n, fname, "non-negative number expected, got " .. tostring(t), 3)
	end
	if t == math.huge then
		return nil
	end
	return t
end

-- -------------------------------------------------------------------------
-- timers (await deadlines)

-- The core's timer heap (csrc/lua/timers.c over csrc/core/timer_heap.c)
-- holds the wait entries armed with a deadline, ordered by (deadline, start
-- order). A cancelled timer leaves it at once instead of lingering until its
-- deadline, and it holds an entry only while armed.

-- -------------------------------------------------------------------------
-- the ready queue and task running

local function schedule(co, ...)
	ready_tail = ready_tail + 1
	ready[ready_tail] = table.pack(co, ...)
end

local resume_task -- forward

local function run_ready()
	-- Only what is ready now: tasks made ready meanwhile wait for the next
	-- turn, so a task that keeps yielding cannot starve I/O. A task may block
	-- in a nested coroutine and run this again from inside the loop, so the
	-- queue's indices are shared, and reset only by the outermost run.
	local last = ready_tail
	run_depth = run_depth + 1
	while ready_head <= last do
		local item = ready[ready_head]
		ready[ready_head] = nil
		ready_head = ready_head + 1
		resume_task(item[1], table.unpack(item, 2, item.n))
	end
	run_depth = run_depth - 1
	if run_depth == 0 and ready_head > ready_tail then
		ready_head, ready_tail = 1, 0
	end
end

local function wake_op(id)
	local list = waiting[id]
	if not list then
		return
	end
	waiting[id] = nil
	for _, e in ipairs(list) do
		if e.fn then
			e.fn() -- an on_done hook
		elseif not e.fired then
			e.fired = true
			timers:remove(e) -- its await deadline is moot
			schedule(e.co, "done")
		end
	end
end

-- Removes a task's await entry from its op's waiting list.
local function unwait(e)
	local list = waiting[e.id]
	if list then
		for i, x in ipairs(list) do
			if x == e then
				table.remove(list, i)
				break
			end
		end
		if #list == 0 then
			waiting[e.id] = nil
		end
	end
end

local function fire_timers(now)
	while true do
		local e, deadline = timers:top()
		if not e or deadline > now then
			return
		end
		timers:pop()
		e.fired = true
		if e.fn then
			e.fn() -- an after() callback
		else
			unwait(e)
			schedule(e.co, "timeout")
		end
	end
end

-- core.step's flat list: an integer is a finished op's id; a string starts a
-- user event: name, target, n, then n values.

-- Calls the handlers of the user events in evs[1..last], from evs[0] on.
-- evs[0] always names the event after the one running, so that after a
-- handler error the caller resumes there; it lives in the list (not an
-- upvalue) because a handler may dispatch again or yield.
local function run_handlers(evs, last)
	local i = evs[0]
	while i <= last do
		local name = evs[i]
		if math_type(name) == "integer" then
			i = i + 1
		else
			local j, cnt = i + 3, evs[i + 2]
			local h = handlers[evs[i + 1]]
			i = j + cnt
			evs[0] = i
			if h then
				if cnt == 0 then
					h(name)
				elseif cnt == 1 then
					h(name, evs[j])
				elseif cnt == 2 then
					h(name, evs[j], evs[j + 1])
				elseif cnt == 3 then
					h(name, evs[j], evs[j + 1], evs[j + 2])
				else
					h(name, table.unpack(evs, j, j + cnt - 1))
				end
			end
		end
	end
	evs[0] = i
end

-- Hands handler errors to the error handler, oldest first. The handler may
-- raise (to make handler errors fatal): the rest stay queued for the next.
local function flush_reports()
	while reports[1] do
		on_error(table.remove(reports, 1))
	end
end

--- Reports an event handler's error (message with its traceback) through
--- the error handler, once the current batch was dispatched.
function M.report_error(msg)
	reports[#reports + 1] = msg
end

-- Wakes waiters, then calls event handlers. A failing handler must not lose
-- the rest of the batch (a lost completion would hang its waiter forever),
-- so its error is reported (flush_reports) only after every event was
-- dispatched. One protected call covers the whole batch; an error costs one
-- more.
local function dispatch(evs, last)
	local i, user = 1, false
	while i <= last do
		local ev = evs[i]
		if math_type(ev) == "integer" then
			wake_op(ev)
			i = i + 1
		else
			user = true
			i = i + 3 + evs[i + 2]
		end
	end
	if user then
		evs[0] = 1
		while evs[0] <= last do
			local ok, e = xpcall(run_handlers, traceback, evs, last)
			if not ok then
				reports[#reports + 1] = e
			end
		end
	end
	if reports[1] then
		flush_reports()
	end
end

-- Seconds until the scheduler has something to do, or nil for "nothing".
local function next_timeout()
	if ready_head <= ready_tail then
		return 0
	end
	local _, deadline = timers:top()
	if deadline then
		return math.max(0, deadline - core.now())
	end
	return nil
end

-- One turn: wait up to `timeout` seconds (nil: until something happens) for
-- events, dispatch them, fire await deadlines, run ready tasks.
local function pump(timeout)
	check_fork()
	run_ready()
	local t = next_timeout()
	if t and (timeout == nil or t < timeout) then
		timeout = t
	end
	dispatch(core.step(timeout))
	fire_timers(core.now())
	run_ready()
	-- A task's error surfaces outside every task (see the module comment).
	if current == nil and failures[1] then
		error(table.remove(failures, 1), 0)
	end
end

-- -------------------------------------------------------------------------
-- operations

local Op = {}
Op.__index = Op
Op.__name = "betatrader.Op"

local function wrap(cop)
	return setmetatable({ _c = cop }, Op)
end

local function is_op(x)
	return getmetatable(x) == Op
end

local function check_op(self, fname)
	if not is_op(self) then
		error(fmt("bad argument #1 to '%s' (betatrader.Op expected, got %s)", fname, type(self)), 3)
	end
end

--- An operation: what `auth:register`, `auth:login`, `auth:logout`,
-- `auth:profile`, `fix:receive`, `fix:flush` and `bt.spawn` return.
-- Declared `local op &lt;close&gt; = ...`, it is cancelled at scope exit if
-- still pending. It is a cqueues pollable (`op:pollfd()`, `op:events()`,
-- `op:timeout()`).
-- @type Op

--- The op's status.
-- @treturn string `"pending"`, `"done"`, `"failed"` or `"cancelled"`
function Op:status()
	check_op(self, "status")
	return self._c:status()
end

--- true once the operation is no longer pending.
function Op:done()
	check_op(self, "done")
	return self._c:done()
end

--- An id unique within this Lua state.
function Op:id()
	return self._c:id()
end

--- Cancels a pending operation (a login in progress is abandoned); its
-- await fails with code `cancelled`.
-- @treturn boolean true if this call cancelled it
function Op:cancel()
	check_op(self, "cancel")
	return self._c:cancel()
end

local function values_or_true(...)
	if select("#", ...) == 0 then
		return true
	end
	return ...
end

-- The outcome of a finished op, in the await convention.
local function outcome(self)
	local st = self._c:status()
	if st == "done" then
		local vals = self._vals
		if vals then
			if vals.n == 0 then
				return true
			end
			return table.unpack(vals, 1, vals.n)
		end
		return values_or_true(self._c:result())
	end
	return self._c:result() -- nil, message, code
end

local function timed_out(timeout)
	return nil, fmt("timed out after %gs", timeout), "timeout"
end

local function in_cqueues()
	local cq = package.loaded.cqueues
	return cq and type(cq.running) == "function" and cq.running() and cq
end

-- The module itself is pollable for cqueues: readable when events wait.
local module_pollable = {
	pollfd = function()
		return core.pollfd()
	end,
	events = function()
		return "r"
	end,
	timeout = function()
		return next_timeout()
	end,
}

-- The C side may report an op finished before its completion event was
-- dispatched, with events queued ahead of it (a login's state changes) not
-- yet handed to their handlers. The first time an await sees the op
-- finished it drains the queue once, so on_state handlers always run before
-- await returns; later awaits of the same op cost nothing extra.
-- The outcome is then final, so it is kept (as a packed list in _fin) for
-- the next await to return without asking the C side again.
local function settle(self)
	if not self._settled then
		self._settled = true
		dispatch(core.step(0))
	end
	local fin = table.pack(outcome(self))
	self._fin = fin
	return table.unpack(fin, 1, fin.n)
end

--- Waits for the operation and returns its values (`true` when it has
-- none), or `nil, message, code`. It never yields across a C call: inside
-- `bt.spawn` tasks it yields to the scheduler; inside a cqueues-managed
-- coroutine it polls the op; anywhere else (the main chunk, a busted test, a
-- plain coroutine such as a `coroutine.wrap` iterator inside a task, an
-- `on_state` handler) it blocks on the completion queue's eventfd while
-- dispatching events and running the other tasks.
-- @tparam[opt] number timeout seconds; on timeout returns
-- `nil, "timed out after Xs", "timeout"` and leaves the op pending
-- @return the op's values, or `nil, message, code`
function Op:await(timeout)
	if getmetatable(self) ~= Op then
		check_op(self, "await")
	end
	if timeout ~= nil then
		timeout = check_timeout(timeout, 1, "await")
	end
	local fin = self._fin
	if fin then
		if fin.n == 1 then
			return fin[1]
		end
		return table.unpack(fin, 1, fin.n)
	end
	local c = self._c
	if c:status() ~= "pending" then
		return settle(self)
	end
	local co, ismain = coroutine.running()
	if not ismain and tasks[co] then
		local e = { co = co, id = c:id() }
		local list = waiting[e.id]
		if not list then
			list = {}
			waiting[e.id] = list
		end
		list[#list + 1] = e
		if timeout then
			timers:push(core.now() + timeout, e)
		end
		local why = coroutine.yield(WAIT)
		if why == "timeout" and c:status() == "pending" then
			return timed_out(timeout)
		end
		return settle(self)
	end

	local deadline = timeout and core.now() + timeout
	local cq = not ismain and in_cqueues()
	local first = true
	while c:status() == "pending" do
		local t
		if deadline then
			t = deadline - core.now()
			if t <= 0 then
				if not first then
					return timed_out(timeout)
				end
				t = 0
			end
		end
		first = false
		if cq then
			cq.poll(self, module_pollable, t)
			pump(0)
		else
			pump(t)
		end
	end
	return settle(self)
end

--- Like await, but raises the failure message instead of returning it.
-- @tparam[opt] number timeout seconds
-- @return the op's values
function Op:get(timeout)
	check_op(self, "get")
	timeout = check_timeout(timeout, 1, "get")
	local res = table.pack(self:await(timeout))
	if res[1] == nil and res.n >= 2 then
		error(res[2], 2)
	end
	return table.unpack(res, 1, res.n)
end

--- Finishes a pending op with values (for producers: Lua code composing
--- operations). Returns true if this call finished it.
function Op:resolve(...)
	check_op(self, "resolve")
	if self._c:status() ~= "pending" then
		return false
	end
	local vals = table.pack(...)
	local won = self._c:succeed()
	if won then
		self._vals = vals
	end
	return won
end

--- Fails a pending op with a message for people and a stable code.
function Op:reject(message, code)
	check_op(self, "reject")
	if type(message) ~= "string" then
		argerror(1, "reject", "string expected, got " .. type(message), 2)
	end
	if type(code) ~= "string" or code == "" then
		argerror(2, "reject", "non-empty string expected", 2)
	end
	return self._c:fail(message, code)
end

--- cqueues pollable protocol: an fd readable once the op finished.
function Op:pollfd()
	return self._c:pollfd()
end

--- cqueues pollable protocol: the op's fd is watched for reading ("r").
function Op.events(_)
	return "r"
end

--- cqueues pollable protocol: 0 once finished, else nil (no deadline of its own).
function Op:timeout()
	if self._c:done() then
		return 0
	end
	return nil
end

function Op:__close()
	if self._c:status() == "pending" then
		self._c:cancel()
	end
end

function Op:__tostring()
	return fmt("betatrader.Op %d (%s)", self._c:id(), self._c:status())
end

-- -------------------------------------------------------------------------
-- tasks

-- Never raises: a failed task's traceback is queued in `failures` for the
-- outermost pump, so the scheduler's state is whole whatever happens.
function resume_task(co, ...)
	local outer = current
	current = co
	local ok, res = coroutine.resume(co, ...)
	current = outer
	if coroutine.status(co) == "dead" then
		local op = tasks[co]
		tasks[co] = nil
		ntasks = ntasks - 1
		if ok then
			return -- the body itself resolved the task's op
		end
		local tb = debug.traceback(co, tostring(res))
		op:reject(tb, "error")
		failures[#failures + 1] = tb
		return
	end
	if ok and res ~= WAIT then
		-- A bare coroutine.yield() in a task: let the others run, then go on.
		schedule(co)
	end
end

local function check_callable(fn, fname)
	local mt = getmetatable(fn)
	if type(fn) ~= "function" and not (mt and mt.__call) then
		argerror(1, fname, "function expected, got " .. type(fn), 3)
	end
end

--- The scheduler: tasks, pumping from other event loops, timers.
-- @section scheduler

--- Runs fn(...) as a task of the scheduler (`bt.spawn`); returns an Op
-- resolving to fn's return values. A task's error fails its op (code
-- `error`, with the traceback).
-- @tparam function fn
-- @param ... its arguments
-- @treturn Op
function M.spawn(fn, ...)
	check_callable(fn, "spawn")
	check_fork()
	local op = wrap(core.op())
	local co = coroutine.create(function(...)
		op:resolve(fn(...))
	end)
	tasks[co] = op
	ntasks = ntasks + 1
	schedule(co, ...)
	return op
end

--- Runs the scheduler until every task has finished (`bt.run`). With fn,
-- spawns it first. Re-raises (with the traceback) an error from any task;
-- the scheduler stays whole, so the next run() goes on.
-- @tparam[opt] function fn
-- @param ... its arguments
function M.run(fn, ...)
	if fn ~= nil then
		check_callable(fn, "run")
		M.spawn(fn, ...)
	end
	while ntasks > 0 do
		pump(nil)
	end
end

--- One non-blocking (or up to timeout seconds) turn of the scheduler, for
-- other event loops (`bt.step`); returns true.
-- @tparam[opt] number timeout seconds
function M.step(timeout)
	timeout = check_timeout(timeout, 1, "step")
	pump(timeout or 0)
	return true
end

--- The fd other loops watch for readability, then call step(0).
function M.pollfd()
	return core.pollfd()
end

--- The module is pollable too: its fd is watched for reading ("r").
function M.events()
	return "r"
end

--- Seconds until the scheduler next needs a step, or nil.
function M.timeout()
	return next_timeout()
end

--- Sleeps (yields, polls or blocks like await); returns true (`bt.sleep`).
-- @tparam number seconds
function M.sleep(seconds)
	if type(seconds) ~= "number" then
		argerror(1, "sleep", "number expected, got " .. type(seconds), 2)
	end
	if seconds ~= seconds or seconds < 0 or seconds == math.huge then
		argerror(1, "sleep", "non-negative finite number expected, got " .. tostring(seconds), 2)
	end
	return wrap(core.sleep(seconds)):await()
end

--- An Op finishing after `seconds` (the operation form of sleep).
function M.sleep_op(seconds)
	if type(seconds) ~= "number" or seconds ~= seconds or seconds < 0 or seconds == math.huge then
		argerror(1, "sleep_op", "non-negative finite number expected, got " .. tostring(seconds), 2)
	end
	return wrap(core.sleep(seconds))
end

-- -------------------------------------------------------------------------
-- making operations from Lua and from the binding

--- Wraps a betatrader.op userdata (from the C binding) as an Op.
function M.wrap(cop)
	if type(cop) ~= "userdata" then
		argerror(1, "wrap", "betatrader.op expected, got " .. type(cop), 2)
	end
	return wrap(cop)
end

--- A pending Op that Lua code finishes with :resolve(...) or :reject(msg, code).
function M.new()
	return wrap(core.op())
end

-- One finished C op stands behind every Op made by resolved(): such an Op
-- is settled from birth, so neither making nor awaiting it goes through the
-- completion queue (fix:receive() of a message already there paid about
-- 10 us for an op, an eventfd write and a scheduler step). Remade after fork.
local done_c, done_gen

local function shared_done()
	local gen = core.generation()
	if done_gen ~= gen then
		done_c = core.op()
		done_c:succeed()
		done_gen = gen
	end
	return done_c
end

--- An Op already done with the given values.
function M.resolved(...)
	local op = setmetatable({ _c = shared_done(), _vals = table.pack(...), _settled = true }, Op)
	op._fin = table.pack(outcome(op))
	return op
end

--- An Op already failed (e.g. a validation error in a composed call).
function M.failed(message, code)
	local op = wrap(core.op())
	op:reject(message, code)
	return op
end

M.is_op = is_op

--- Calls fn() once, `seconds` from now, from whatever pumps the scheduler
--- (it is not a task: it keeps neither run() nor anything else busy).
--- Returns a handle for cancel_timer.
function M.after(seconds, fn)
	check_fork() -- in a child before its first step: not the parent's heap
	local e = { fn = fn }
	timers:push(core.now() + seconds, e)
	return e
end

--- Forgets a timer from after(); nothing is left behind.
function M.cancel_timer(e)
	check_fork()
	timers:remove(e)
	e.fired = true
end

--- Calls fn() when a pending op finishes, however it does (resolved,
--- failed, cancelled), once its completion is dispatched.
function M.on_done(op, fn)
	if op._c == done_c and done_c then
		-- made by resolved(): its hooks run at the next step, as they did
		-- when its completion went through the queue
		M.after(0, fn)
		return
	end
	local id = op._c:id()
	local list = waiting[id]
	if not list then
		list = {}
		waiting[id] = list
	end
	list[#list + 1] = { fn = fn }
end

--- Calls fn(name, ...) for user events queued for `target` (an id from
--- new_id(), e.g. an auth client's state changes); fn = nil removes it.
function M.on_event(target, fn)
	if math.type(target) ~= "integer" then
		argerror(1, "on_event", "integer expected, got " .. type(target), 2)
	end
	if fn ~= nil and type(fn) ~= "function" then
		argerror(2, "on_event", "function expected, got " .. type(fn), 2)
	end
	check_fork()
	handlers[target] = fn
end

--- Sets the function called with the message (and traceback) of every
--- error an event handler raises; nil restores the default (stderr).
--- Returns the previous one (`bt.on_error`; `bt.on_error(error)` makes
--- them raise from the pump).
-- @tparam[opt] function fn
-- @treturn function
function M.on_error(fn)
	if fn ~= nil and type(fn) ~= "function" then
		argerror(1, "on_error", "function expected, got " .. type(fn), 2)
	end
	local old = on_error
	on_error = fn or default_on_error
	return old
end

M.new_id = core.new_id
M.now = core.now
M.Op = Op

return M
