local bt = require("betatrader")
local core = require("betatrader.core")

-- A file of the tree, whole.
local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

describe("betatrader module", function()
  it("has a semantic version that matches the C core", function()
    assert.matches("^%d+%.%d+%.%d+$", bt._VERSION)
    assert.equal(bt._VERSION, core.version)
  end)

  it("lists exactly the six states and the stable codes", function()
    assert.same({ "Disconnected", "Registering", "Connecting", "Authenticating", "Active", "Failed" },
      table.move(bt.states, 1, #bt.states, 1, {}))
    for _, c in ipairs(bt.codes) do
      assert.matches("^[a-z_]+$", c)
    end
  end)

  it("answers states and codes by name too", function()
    assert.equal("timeout", bt.codes.timeout)
    assert.equal("store", bt.codes.store)
    assert.equal("Active", bt.states.Active)
    assert.is_nil(bt.codes.nope)
    local n = 0
    for k, v in pairs(bt.codes) do
      n = n + 1
      assert.equal(v, math.type(k) and bt.codes[v] or k)
    end
    assert.equal(2 * #bt.codes, n)
  end)

  it("has every code the C core and the Lua files can give in bt.codes and the API reference", function()
    local from_code = { error = true } -- a task's error (async.lua)
    for code in read("csrc/core/op.h"):gmatch('#define BT_E_[%u_]+ "([%l_]+)"') do
      from_code[code] = true
    end
    -- The session is split by job (docs/design.md 4.2); it closes with fs_close.
    local sources = { "csrc/core/auth.c", "csrc/core/fix_conn.c" }
    for _, part in ipairs({ "", "_validate", "_inbox", "_out", "_admin", "_resend", "_timers" }) do
      sources[#sources + 1] = "csrc/core/fix_session" .. part .. ".c"
    end
    local closed = {}
    for _, f in ipairs(sources) do
      local src = read(f)
      for code in src:gmatch('close_session%(s, "([%l_]+)"') do
        closed[code] = true
      end
      for code in src:gmatch('fs_close%(s, "([%l_]+)"') do
        closed[code] = true
      end
    end
    -- Guard the scan itself: a rename must not leave it finding nothing.
    for _, code in ipairs({ "protocol", "timeout", "rejected", "disconnected", "nomem", "store" }) do
      assert(closed[code], "close code '" .. code .. "' not found in the session's sources")
    end
    for code in pairs(closed) do
      from_code[code] = true
    end
    from_code.logged_out = nil -- auth.c maps it to "disconnected"
    -- The generated reference (docs/api, kept current by scripts/docs --check)
    -- lists each code as a field of bt.codes, with what it means.
    local ref = read("docs/api/modules/betatrader.html")
    local section = assert(ref:match('<a name = "codes"></a>(.-)</dd>'), "no bt.codes in docs/api")
    local documented = {}
    for code in section:gmatch('<span class="parameter">([%l_]+)</span>') do
      documented[code] = true
    end
    for code in pairs(from_code) do
      assert(bt.codes[code], "code '" .. code .. "' missing from bt.codes")
    end
    for _, code in ipairs(bt.codes) do
      assert(documented[code], "code '" .. code .. "' missing from the API reference (init.lua)")
    end
  end)

  it("documents every option bt.client accepts in the API reference", function()
    local src = read("lua/betatrader/config.lua")
    local checkers = assert(src:match("\nlocal checkers = {(.-)\n}\n"), "no checkers table in config.lua")
    local accepted = {}
    for name in checkers:gmatch("\n  ([%l_]+) = ") do
      accepted[#accepted + 1] = name
    end
    assert(#accepted >= 20, "found only " .. #accepted .. " options in config.lua")
    for _, name in ipairs(accepted) do -- each one is accepted indeed
      local ok, err = pcall(bt.client, { [name] = {} })
      assert.is_nil(tostring(err):find("unknown option", 1, true), name)
      if ok then err:close() end
    end
    local ref = read("docs/api/modules/betatrader.client.html")
    local section = assert(ref:match('<a name = "options"></a>(.-)</dd>'), "no options in docs/api")
    local documented = {}
    for name in section:gmatch('<span class="parameter">([%l_]+)</span>') do
      documented[name] = true
    end
    for _, name in ipairs(accepted) do
      assert(documented[name], "option '" .. name .. "' missing from the API reference (client.lua)")
    end
  end)

  it("starts a client Disconnected with no client id and no error", function()
    local c <close> = bt.client{ store = false }
    assert.equal("Disconnected", c.auth:state())
    assert.is_nil(c.auth:sender_comp_id())
    assert.is_nil(c.auth:last_error())
  end)

  it("answers after close: Disconnected, and ops fail 'client is closed'", function()
    local c = bt.client{ store = false }
    c:close()
    c:close() -- idempotent
    assert.equal("Disconnected", c.auth:state())
    assert.same({ nil, "client is closed", "invalid_state" }, { c.auth:logout():await() })
  end)

  it("points API misuse errors at the caller's line, naming the right function", function()
    local c <close> = bt.client{ store = false }
    local here = debug.getinfo(1, "S").short_src
    local cases = {
      { function() c.fix:send("0", { { 58, "x" } }) end, "'send'" },
      { function() c.fix:send("D", { { 0, "x" } }) end, "'send'" },
      { function() c.fix:receive(-1) end, "'receive'" },
      { function() c.auth:login(1, "x") end, "'login'" },
      { function() c.auth:register("a", "") end, "'register'" },
      { function() c.auth:on_state(1) end, "'on_state'" },
      { function() bt.run(1) end, "'run'" },
      { function() bt.spawn(1) end, "'spawn'" },
      { function() bt.sleep(-1) end, "'sleep'" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(case[1])
      assert.is_false(ok)
      assert.equal(here, err:match("^(.-):%d+: "), err)
      assert.matches(case[2], err, 1, true)
    end
  end)

  it("gives no process control: spawn, fork and waitpid live in the exchange rock", function()
    for _, name in ipairs({ "spawn", "fork", "waitpid", "kill" }) do
      assert.is_nil(core[name], name)
    end
    local process = require("betatrader.testing.process")
    for _, name in ipairs({ "spawn", "fork", "waitpid" }) do
      assert.is_function(process[name], name)
    end
  end)

  it("returns nothing global", function()
    for k in pairs(_G) do
      assert.is_not.matches("^betatrader", k)
    end
  end)
end)
