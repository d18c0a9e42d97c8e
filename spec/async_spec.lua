-- betatrader.async: operations, await in all three places, the scheduler.
local bt = require("betatrader.async")
local core = require("betatrader.core")

describe("betatrader.async", function()
	describe("operations", function()
		it("go pending -> done and return their values", function()
			local op = bt.new()
			assert.equal("pending", op:status())
			assert.is_false(op:done())
			assert.is_true(op:resolve("CLIENT0001", "tok", { x = 1 }))
			assert.is_false(op:resolve("again"))
			assert.equal("done", op:status())
			assert.is_true(op:done())
			local id, tok, t = op:await()
			assert.equal("CLIENT0001", id)
			assert.equal("tok", tok)
			assert.same({ x = 1 }, t)
		end)

		it("return true when done without values", function()
			assert.is_true(bt.resolved():await())
			assert.is_true(bt.sleep_op(0):await())
		end)

		it("return nil, message, code on failure; get throws the message", function()
			local op = bt.failed("password incorrect", "rejected")
			assert.equal("failed", op:status())
			local v, msg, code = op:await()
			assert.is_nil(v)
			assert.equal("password incorrect", msg)
			assert.equal("rejected", code)
			assert.has_error(function()
				op:get()
			end, "password incorrect")
			assert.equal(7, bt.resolved(7):get())
		end)

		it("made done by resolved() keep their values, refuse completion, run on_done hooks once", function()
			local a, b = bt.resolved("x", nil, 3), bt.resolved()
			assert.equal("done", a:status())
			assert.is_true(a:done())
			local x, y, z = a:await()
			assert.equal("x", x)
			assert.is_nil(y)
			assert.equal(3, z)
			assert.is_true(b:await())
			assert.is_false(a:resolve(1))
			assert.is_false(a:reject("no", "failed"))
			assert.is_false(a:cancel())
			assert.equal("x", a:await()) -- unchanged by the refused completions
			local ran = 0
			bt.on_done(a, function()
				ran = ran + 1
			end)
			bt.step(0)
			bt.step(0)
			assert.equal(1, ran)
			-- inside a task too
			local got
			bt.spawn(function()
				got = bt.resolved(42):await()
			end)
			bt.step(0)
			assert.equal(42, got)
		end)

		it("can be cancelled once; completion after cancel is a no-op", function()
			local op = bt.sleep_op(30)
			assert.is_true(op:cancel())
			assert.is_false(op:cancel())
			assert.equal("cancelled", op:status())
			assert.is_false(op:resolve(1))
			local v, msg, code = op:await()
			assert.is_nil(v)
			assert.equal("operation cancelled", msg)
			assert.equal("cancelled", code)
		end)

		it("are cancelled by <close> when still pending", function()
			local keep, done
			do
				local op <close> = bt.sleep_op(30)
				local fin <close> = bt.resolved(1)
				keep, done = op, fin
			end
			assert.equal("cancelled", keep:status())
			assert.equal("done", done:status())
		end)

		it("await timeout leaves the op pending", function()
			local op = bt.sleep_op(30)
			local v, msg, code = op:await(0.02)
			assert.is_nil(v)
			assert.equal("timed out after 0.02s", msg)
			assert.equal("timeout", code)
			assert.equal("pending", op:status())
			assert.is_nil(select(1, op:await(0)))
			op:cancel()
		end)

		it("raise on misuse, naming the argument", function()
			local op = bt.resolved(1)
			assert.has_error(function()
				op:await(-1)
			end, "bad argument #1 to 'await' (non-negative number expected, got -1)")
			assert.has_error(function()
				op:await("x")
			end, "bad argument #1 to 'await' (number expected, got string)")
			assert.has_error(function()
				op:get({})
			end, "bad argument #1 to 'get' (number expected, got table)")
			assert.has_error(function()
				bt.sleep(-1)
			end, "bad argument #1 to 'sleep' (non-negative finite number expected, got -1)")
			assert.has_error(function()
				bt.spawn(42)
			end, "bad argument #1 to 'spawn' (function expected, got number)")
			assert.has_error(function()
				bt.new():reject("m", "")
			end, "bad argument #2 to 'reject' (non-empty string expected)")
			assert.has_error(function()
				bt.step(0 / 0)
			end)
		end)

		it("are pollable: pollfd readable only once finished", function()
			local op = bt.sleep_op(0.01)
			assert.equal("integer", math.type(op:pollfd()))
			assert.equal("r", op:events())
			assert.is_nil(op:timeout())
			op:await()
			assert.equal(0, op:timeout())
		end)
	end)

	describe("await outside any coroutine", function()
		it("blocks while dispatching; sleeps end in order", function()
			local t0 = bt.now()
			local a, b = bt.sleep_op(0.03), bt.sleep_op(0.01)
			assert.is_true(a:await())
			assert.is_true(b:done())
			assert.is_true(bt.now() - t0 >= 0.0299) -- ms clock, float seconds
			assert.is_true(bt.sleep(0.01))
		end)

		it("runs spawned tasks meanwhile", function()
			local seen
			bt.spawn(function()
				seen = "ran"
			end)
			assert.is_true(bt.sleep(0.01))
			assert.equal("ran", seen)
		end)

		it("blocks inside a foreign coroutine too", function()
			local co = coroutine.wrap(function()
				return bt.sleep_op(0.01):await()
			end)
			assert.is_true(co())
		end)
	end)

	describe("the scheduler", function()
		it("runs tasks concurrently; sleep order follows deadlines", function()
			local order = {}
			for _, d in ipairs({ 0.04, 0.01, 0.03, 0.02 }) do
				bt.spawn(function()
					bt.sleep(d)
					order[#order + 1] = d
				end)
			end
			bt.run()
			assert.same({ 0.01, 0.02, 0.03, 0.04 }, order)
		end)

		it("wakes a task awaiting an op resolved by another task", function()
			local op = bt.new()
			local got
			bt.run(function()
				bt.spawn(function()
					bt.sleep(0.01)
					op:resolve("v")
				end)
				got = op:await(5)
			end)
			assert.equal("v", got)
		end)

		it("wakes a task when its op is cancelled by another", function()
			local op = bt.sleep_op(30)
			local res
			bt.spawn(function()
				res = table.pack(op:await())
			end)
			bt.spawn(function()
				op:cancel()
			end)
			bt.run()
			assert.same({ n = 3, nil, "operation cancelled", "cancelled" }, res)
		end)

		it("times out an await in a task and leaves the op pending", function()
			local op = bt.sleep_op(30)
			local res
			bt.run(function()
				res = table.pack(op:await(0.02))
			end)
			assert.same({ n = 3, nil, "timed out after 0.02s", "timeout" }, res)
			assert.equal("pending", op:status())
			op:cancel()
		end)

		it("spawn returns an op with the task's results", function()
			local op = bt.spawn(function(a, b)
				bt.sleep(0.001)
				return a + b, "x"
			end, 1, 2)
			local s, x = op:await(5)
			assert.equal(3, s)
			assert.equal("x", x)
		end)

		it("re-raises an error from a task with its traceback", function()
			local op = bt.spawn(function()
				bt.sleep(0.001)
				error("boom")
			end)
			local ok, err = pcall(bt.run)
			assert.is_false(ok)
			assert.matches("boom", err)
			assert.matches("stack traceback", err)
			assert.equal("failed", op:status())
			assert.equal("error", select(3, op:await()))
		end)

		it("lets a plain coroutine.yield give way to other tasks", function()
			local trace = {}
			bt.run(function()
				bt.spawn(function()
					trace[#trace + 1] = "b"
				end)
				coroutine.yield()
				trace[#trace + 1] = "a"
			end)
			assert.same({ "b", "a" }, trace)
		end)

		it("can be driven by another loop with pollfd/timeout/step", function()
			local done = false
			bt.spawn(function()
				bt.sleep(0.02)
				done = true
			end)
			assert.equal(0, bt.timeout()) -- a task is ready
			local n = 0
			while not done do
				n = n + 1
				assert.is_true(bt.step(0.005))
				assert.is_true(n < 10000)
			end
			assert.equal("integer", math.type(bt.pollfd()))
			assert.is_nil(bt.timeout())
		end)
	end)

	describe("after() timers", function()
		it("fire in deadline order; a cancelled one never fires", function()
			local got = {}
			local function note(x)
				return function()
					got[#got + 1] = x
				end
			end
			bt.after(0.03, note("c"))
			local b = bt.after(0.02, note("b"))
			bt.after(0.01, note("a"))
			bt.cancel_timer(b)
			bt.cancel_timer(b) -- twice is harmless
			local deadline = bt.now() + 10
			while #got < 2 and bt.now() < deadline do
				bt.step(0.05)
			end
			bt.step(0.05)
			assert.same({ "a", "c" }, got)
		end)

		it("leave nothing behind once cancelled: the handle is collectable at once", function()
			local weak = setmetatable({}, { __mode = "k" })
			local h = bt.after(3600, function() end)
			weak[h] = true
			bt.cancel_timer(h)
			h = nil -- luacheck: ignore 311
			collectgarbage()
			collectgarbage()
			assert.is_nil(next(weak))
			assert.is_nil(bt.timeout()) -- no deadline left for the scheduler
		end)
	end)

	describe("the core's timer heap (core.timer_heap, internal)", function()
		it("pops by deadline, equal deadlines in push order", function()
			local h = core.timer_heap()
			local pushed = {
				{ 3, "3" }, { 1, "1a" }, { 2, "2" }, { 1, "1b" }, { -1, "-1" }, { math.huge, "inf" },
				{ 0.0, "0a" }, { -0.0, "0b" }, { 1, "1c" }, { -math.huge, "-inf" }, { 1e-300, "tiny" },
			}
			for _, p in ipairs(pushed) do
				h:push(p[1], p[2])
			end
			assert.equal(#pushed, #h)
			local e, d = h:top()
			assert.same({ "-inf", -math.huge }, { e, d })
			local got = {}
			while #h > 0 do
				got[#got + 1] = h:pop()
			end
			assert.same({ "-inf", "-1", "0a", "0b", "tiny", "1a", "1b", "1c", "2", "3", "inf" }, got)
			assert.is_nil(h:top())
			assert.is_nil(h:pop())
		end)

		it("moves an armed entry when pushed again; remove of an unarmed one is a no-op", function()
			local h = core.timer_heap()
			local a, b = {}, {}
			h:push(1, a)
			h:push(2, b)
			h:push(3, a)
			assert.equal(2, #h)
			assert.equal(b, (h:top()))
			h:remove({})
			h:remove(b)
			h:remove(b)
			assert.equal(1, #h)
			local e, d = h:top()
			assert.equal(a, e)
			assert.equal(3, d)
		end)

		it("is empty with flat memory after 100,000 timers pushed and removed", function()
			local h = core.timer_heap()
			local n = 100000
			local entries = {}
			for i = 1, n do
				entries[i] = {}
			end
			collectgarbage()
			collectgarbage()
			local before = collectgarbage("count")
			for i = 1, n do
				h:push((i * 7919) % 1000 + 0.5, entries[i])
			end
			for i = n, 1, -1 do
				h:remove(entries[(i * 104729) % n + 1])
			end
			assert.equal(0, #h)
			assert.is_nil(h:top())
			for i = 1, n do -- and through pop: in order, then empty
				h:push((i * 7919) % 1000, entries[i])
			end
			local last = -1
			for _ = 1, n do
				local _, d = h:top()
				assert(d >= last, "out of order")
				last = d
				h:pop()
			end
			assert.equal(0, #h)
			collectgarbage()
			collectgarbage()
			-- the map behind 100,000 entries held several MB
			assert.is_true(collectgarbage("count") - before < 64, "memory grew")
		end)

		it("holds an entry exactly while it is armed", function()
			local h = core.timer_heap()
			local weak = setmetatable({}, { __mode = "k" })
			local function arm(d)
				local e = {}
				weak[e] = d
				h:push(d, e)
			end
			arm(1)
			arm(2)
			arm(3)
			collectgarbage()
			local n = 0
			for _ in pairs(weak) do
				n = n + 1
			end
			assert.equal(3, n)
			h:remove((h:top())) -- deadline 1
			h:pop() -- deadline 2
			collectgarbage()
			collectgarbage()
			local left = {}
			for _, d in pairs(weak) do
				left[#left + 1] = d
			end
			assert.same({ 3 }, left)
		end)

		it("raises on misuse, naming the argument", function()
			local h = core.timer_heap()
			assert.has_error(function()
				h:push("soon", {})
			end, "bad argument #1 to 'push' (number expected, got string)")
			assert.has_error(function()
				h:push(1)
			end, "bad argument #2 to 'push' (entry expected)")
			assert.has_error(function()
				h:remove()
			end, "bad argument #1 to 'remove' (value expected)")
			assert.has_error(function()
				h.top({})
			end)
			assert.equal(0, #h)
		end)
	end)

	describe("user events", function()
		it("reach the handler registered for their target, in order", function()
			local target = bt.new_id()
			local got = {}
			bt.on_event(target, function(name, ...)
				got[#got + 1] = { name, ... }
			end)
			core.emit(target, "state", "Connecting", "Disconnected")
			core.emit(target + 1000, "state", "ignored")
			core.emit(target, "state", "Failed", "Connecting", "no Logon reply within 5 s")
			bt.step(0)
			bt.on_event(target, nil)
			core.emit(target, "state", "late")
			bt.step(0)
			assert.same({
				{ "state", "Connecting", "Disconnected" },
				{ "state", "Failed", "Connecting", "no Logon reply within 5 s" },
			}, got)
		end)
	end)

	describe("user event handlers", function()
		it("report their errors with their traceback, never raising from step or await", function()
			local target = bt.new_id()
			local op = bt.new()
			local got, reported = nil, {}
			local old = bt.on_error(function(msg)
				reported[#reported + 1] = msg
			end)
			bt.on_event(target, function(_, v)
				if v == "bad" then
					error("handler failed")
				end
				got = v
			end)
			core.emit(target, "x", "bad")
			op:resolve(1)
			core.emit(target, "x", "good")
			local ok, err = pcall(bt.step, 0)
			core.emit(target, "x", "bad")
			local v = op:await(1)
			bt.on_event(target, nil)
			bt.on_error(old)
			assert.is_true(ok, err)
			assert.equal("good", got)
			assert.equal(1, v)
			assert.equal(2, #reported) -- the second "bad" was pumped by the await
			assert.matches("handler failed", reported[1])
			assert.matches("handler failed", reported[2])
			assert.matches("stack traceback", reported[1])
			assert.matches("async_spec%.lua", reported[1]) -- the handler's own frame
		end)

		it("are reported by whatever pumps, including an await in a task", function()
			local target = bt.new_id()
			local reported = {}
			local old = bt.on_error(function(msg)
				reported[#reported + 1] = msg
			end)
			bt.on_event(target, function()
				error("late handler")
			end)
			local res
			bt.run(function()
				core.emit(target, "x")
				res = table.pack(bt.sleep_op(0.001):await(5))
			end)
			bt.on_event(target, nil)
			bt.on_error(old)
			assert.same({ n = 1, true }, res)
			assert.equal(1, #reported)
			assert.matches("late handler", reported[1])
		end)

		it("may make handler errors fatal with on_error(error)", function()
			local target = bt.new_id()
			local old = bt.on_error(error)
			bt.on_event(target, function()
				error("fatal handler")
			end)
			core.emit(target, "x")
			local ok, err = pcall(bt.step, 0)
			bt.on_event(target, nil)
			bt.on_error(old)
			assert.is_false(ok)
			assert.matches("fatal handler", err)
			assert.has_error(function()
				bt.on_error(1)
			end, "bad argument #1 to 'on_error' (function expected, got number)")
		end)

		it("may await: it blocks there while the scheduler keeps running", function()
			local target = bt.new_id()
			local log = {}
			bt.on_event(target, function(_, v)
				log[#log + 1] = v .. ":start"
				assert.is_true(bt.sleep_op(0.005):await(5))
				log[#log + 1] = v .. ":end"
			end)
			-- pumped by a blocking await in plain code
			core.emit(target, "x", "a")
			assert.is_true(bt.sleep_op(0.001):await(5))
			bt.step(0)
			-- pumped by bt.run while a task waits
			bt.run(function()
				core.emit(target, "x", "b")
				bt.sleep(0.02)
			end)
			bt.on_event(target, nil)
			assert.same({ "a:start", "a:end", "b:start", "b:end" }, log)
		end)
	end)

	describe("await in a plain coroutine inside a task", function()
		it("works in a coroutine.wrap iterator while other tasks run", function()
			local got, other = {}, 0
			bt.run(function()
				bt.spawn(function()
					for _ = 1, 5 do
						bt.sleep(0.001)
						other = other + 1
					end
				end)
				local iter = coroutine.wrap(function()
					for i = 1, 3 do
						assert.is_true(bt.sleep_op(0.002):await(5))
						coroutine.yield(i)
					end
				end)
				for v in iter do
					got[#got + 1] = v
				end
			end)
			assert.same({ 1, 2, 3 }, got)
			assert.equal(5, other)
		end)

		it("leaves another task's error to the outer pump, not to the blocked task", function()
			local inner
			local a = bt.spawn(function()
				local iter = coroutine.wrap(function()
					coroutine.yield(bt.sleep_op(0.02):await(5))
				end)
				inner = iter()
				return "a done"
			end)
			local b = bt.spawn(function()
				bt.sleep(0.001)
				error("b failed")
			end)
			local ok, err = pcall(bt.run)
			if ok then -- the error may surface only once both are through
				ok, err = pcall(bt.run)
			end
			assert.is_false(ok)
			assert.matches("b failed", err)
			bt.run()
			assert.is_true(inner)
			assert.equal("a done", a:await(5))
			assert.equal("error", select(3, b:await()))
		end)
	end)

	describe("after an error raised through run, step or await", function()
		-- In a child process, so that a hang fails the spec instead of hanging it.
		local function lua_child(code)
			local path = os.tmpname()
			local src = assert(io.open(path, "w"))
			src:write(string.format("package.path = %q package.cpath = %q\n", package.path,
				package.cpath), code)
			src:close()
			local f = assert(io.popen("timeout 20 lua5.4 " .. path .. " 2>&1; echo rc=$?"))
			local out = f:read("a")
			f:close()
			os.remove(path)
			return out
		end

		it("the next bt.run() works", function()
			local out = lua_child([[
				local bt = require("betatrader")
				print("run", pcall(bt.run, function()
					local it = coroutine.wrap(function()
						bt.sleep(0.001)
						coroutine.yield(1)
						error("in iterator")
					end)
					for _ in it do end
				end))
				print("step", pcall(function()
					bt.spawn(function() error("in task") end)
					bt.step(0)
				end))
				print("await", pcall(function()
					bt.spawn(function() error("task again") end)
					bt.sleep(0.01)
				end))
				local t = {}
				bt.run(function() bt.sleep(0.001); t[1] = "ok" end)
				bt.run(function() bt.sleep(0.001); t[2] = "ok" end)
				print("next", t[1], t[2])
			]])
			assert.matches("run\tfalse\t[^\n]*in iterator", out)
			assert.matches("step\tfalse\t[^\n]*in task", out)
			assert.matches("await\tfalse\t[^\n]*task again", out)
			assert.matches("next\tok\tok", out)
			assert.matches("rc=0", out)
		end)
	end)

	describe("inside cqueues", function()
		local cqueues = require("cqueues")

		it("await polls the op instead of blocking the loop", function()
			local cq = cqueues.new()
			local trace = {}
			cq:wrap(function()
				local op = bt.sleep_op(0.03)
				trace[#trace + 1] = "await"
				assert.is_true(op:await(5))
				trace[#trace + 1] = "done"
			end)
			cq:wrap(function()
				cqueues.sleep(0.01)
				trace[#trace + 1] = "other" -- ran while the first awaited
			end)
			assert(cq:loop())
			assert.same({ "await", "other", "done" }, trace)
		end)

		it("times out and sees failures", function()
			local cq = cqueues.new()
			local r1, r2
			cq:wrap(function()
				local op = bt.sleep_op(30)
				r1 = table.pack(op:await(0.02))
				op:cancel()
				r2 = table.pack(op:await())
			end)
			assert(cq:loop())
			assert.same({ n = 3, nil, "timed out after 0.02s", "timeout" }, r1)
			assert.same({ n = 3, nil, "operation cancelled", "cancelled" }, r2)
		end)

		it("drives the module's own tasks through the pollable module", function()
			local cq = cqueues.new()
			local finished = false
			bt.spawn(function()
				bt.sleep(0.01)
				finished = true
			end)
			cq:wrap(function()
				while not finished do
					cqueues.poll(bt, 5)
					bt.step(0)
				end
			end)
			assert(cq:loop())
			assert.is_true(finished)
		end)

		it("cqueues.poll accepts an op directly", function()
			local cq = cqueues.new()
			local ready
			cq:wrap(function()
				local op = bt.sleep_op(0.01)
				ready = cqueues.poll(op, 5) == op
			end)
			assert(cq:loop())
			assert.is_true(ready)
		end)
	end)
end)
