-- Many clients in one Lua state: one script drives 200 sessions at once with
-- bt.spawn, and the whole process still has one I/O thread.
local bt = require("betatrader")
local testing = require("betatrader.testing")

local N = 200

-- Threads of this process (in a popen'd shell /proc/self is the shell).
local function own_threads()
	local pid = assert(io.open("/proc/self/stat", "r"))
	local stat = pid:read("l")
	pid:close()
	local me = assert(stat:match("^(%d+)"))
	local n = 0
	for _ in io.popen("ls /proc/" .. me .. "/task", "r"):lines() do
		n = n + 1
	end
	return n
end

-- The thread count of a fresh interpreter before and after it loads the
-- module, and while a client exists (our own state has loaded it long ago).
local function fresh_counts(ex)
	local script = [[
		local function count()
			local f = io.open("/proc/self/stat", "r")
			local me = f:read("l"):match("^(%d+)")
			f:close()
			local n = 0
			for _ in io.popen("ls /proc/" .. me .. "/task"):lines() do n = n + 1 end
			return n
		end
		local before = count()
		local bt = require("betatrader")
		local loaded = count()
		local c = bt.client{ api_url = arg[1], fix_host = "127.0.0.1", fix_port = tonumber(arg[2]),
			store = false, timeout = 2 }
		local id = assert(c.auth:register("fresh", "pw"):await())
		assert(c.auth:login(id, "pw"):await())
		local active = count()
		assert(c.auth:logout():await())
		c:close()
		c = nil
		collectgarbage()
		collectgarbage()
		io.write(before, " ", loaded, " ", active, " ", count(), "\n")
	]]
	local path = os.tmpname()
	local f = assert(io.open(path, "w"))
	f:write(script)
	f:close()
	local cmd = ("LUA_PATH=%q LUA_CPATH=%q lua5.4 %s %s %d 2>&1"):format(package.path, package.cpath, path,
		ex.api_url, ex.fix_port)
	local p = assert(io.popen(cmd, "r"))
	local out = p:read("a")
	p:close()
	os.remove(path)
	return out
end

describe("many clients in one process", function()
	local ex
	setup(function()
		ex = testing.exchange({})
	end)
	teardown(function()
		ex:stop()
	end)

	it("loading the module starts exactly one I/O thread, shared by every client", function()
		local out = fresh_counts(ex)
		-- the counts are the last line: stderr (e.g. a trace) may come first
		local before, loaded, active, after = ("\n" .. out):match("\n(%d+) (%d+) (%d+) (%d+)\n$")
		assert.is_truthy(before, out)
		before, loaded, active, after = tonumber(before), tonumber(loaded), tonumber(active), tonumber(after)
		assert.equal(before + 1, loaded)
		assert.equal(loaded, active)
		assert.equal(loaded, after)
	end)

	it(("%d clients register, log in and log out concurrently on that one thread"):format(N), function()
		collectgarbage()
		local base = own_threads()
		assert.is_true(base >= 2) -- this thread and the reactor's
		local clients, ids, states = {}, {}, {}
		for i = 1, N do
			clients[i] = bt.client({
				api_url = ex.api_url,
				fix_host = ex.fix_host,
				fix_port = ex.fix_port,
				store = false,
				timeout = 10,
			})
			clients[i].auth:on_state(function(new)
				states[new] = (states[new] or 0) + 1
			end)
		end
		local failures = {}
		for i = 1, N do
			bt.spawn(function()
				local a = clients[i].auth
				local id, err = a:register(("bulk%03d"):format(i), "pw" .. i):await()
				if not id then
					failures[#failures + 1] = "register " .. i .. ": " .. err
					return
				end
				ids[i] = id
				local ok, lerr = a:login(id, "pw" .. i):await()
				if not ok then
					failures[#failures + 1] = "login " .. i .. ": " .. lerr
				end
			end)
		end
		bt.run()
		assert.same({}, failures)

		local distinct = {}
		for i = 1, N do
			assert.equal("Active", clients[i].auth:state())
			assert.equal(ids[i], clients[i].auth:sender_comp_id())
			distinct[ids[i]] = true
		end
		local n = 0
		for _ in pairs(distinct) do
			n = n + 1
		end
		assert.equal(N, n)
		-- 200 live sessions, and not one thread more than with none.
		assert.equal(base, own_threads())

		for i = 1, N do
			bt.spawn(function()
				local ok, err = clients[i].auth:logout():await()
				if not ok then
					failures[#failures + 1] = "logout " .. i .. ": " .. err
				end
			end)
		end
		bt.run()
		bt.step(0)
		assert.same({}, failures)
		for i = 1, N do
			assert.equal("Disconnected", clients[i].auth:state())
		end
		assert.equal(N, states.Active)
		assert.equal(2 * N, states.Disconnected) -- after register and after logout

		for i = 1, N do
			clients[i]:close()
			clients[i] = nil
		end
		collectgarbage()
		collectgarbage()
		assert.equal(base, own_threads())
	end)
end)
