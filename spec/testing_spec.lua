-- The process helper (betatrader.testing.process) and betatrader.testing itself.
local process = require("betatrader.testing.process")
local testing = require("betatrader.testing")

describe("process.spawn", function()
  it("captures stdout by lines and stderr as a whole", function()
    local p = assert(process.spawn({ "sh", "-c", "echo one; echo two; echo oops >&2" }))
    assert.is_number(p:pid())
    assert.equal("one", p:read_line(5))
    assert.equal("two", p:read_line(5))
    assert.same({ nil, "closed" }, { p:read_line(5) })
    assert.same({ 0, "exit" }, { p:wait(5) })
    assert.equal("oops\n", p:stderr())
  end)

  it("reports a missing program the Lua way", function()
    local p, err = process.spawn({ "/nonexistent/prog" })
    assert.is_nil(p)
    assert.equal("spawn: /nonexistent/prog: No such file or directory", err)
  end)

  it("passes env on top of the parent's environment", function()
    local p = assert(process.spawn({ "sh", "-c", "echo $BT_X-$HOME" }, { env = { BT_X = "y" } }))
    assert.equal("y-" .. os.getenv("HOME"), p:read_line(5))
    p:wait(5)
  end)

  it("times out instead of blocking, then kills and reports the signal", function()
    local p = assert(process.spawn({ "sleep", "30" }))
    assert.same({ nil, "timeout" }, { p:read_line(0.05) })
    assert.same({ nil, "timeout" }, { p:wait(0.05) })
    assert.is_true(p:kill("TERM"))
    assert.same({ 15, "signal" }, { p:wait(5) })
    assert.is_nil((p:kill()))
  end)

  it("reports the exit code", function()
    local p = assert(process.spawn({ "sh", "-c", "exit 7" }))
    assert.same({ 7, "exit" }, { p:wait(5) })
  end)

  it("kills and reaps the child when closed", function()
    local pid
    do
      local p <close> = assert(process.spawn({ "sleep", "30" }))
      pid = p:pid()
    end
    -- reaped: no such process any more
    assert.is_false(os.execute("kill -0 " .. pid .. " 2>/dev/null") == true)
  end)

  it("rejects bad arguments", function()
    assert.has_error(function() process.spawn("ls") end)
    assert.has_error(function() process.spawn({}) end)
    assert.has_error(function() process.spawn({ "ls", {} }) end)
  end)
end)

describe("testing.exchange", function()
  it("starts, reports its ports and stops cleanly", function()
    local ex = testing.exchange()
    assert.equal("127.0.0.1", ex.fix_host)
    assert.is_true(ex.fix_port > 0)
    assert.matches("^http://127%.0%.0%.1:%d+$", ex.api_url)
    assert.is_true(ex:running())
    assert.same({ 0, "exit" }, { ex:stop() })
    assert.is_false(ex:running())
    assert.same({ 0, "exit" }, { ex:stop() }) -- idempotent
  end)

  it("fails with the exchange's stderr when it cannot start", function()
    local ok, err = pcall(testing.exchange, { faults = { "no-such-fault" } })
    assert.is_false(ok)
    assert.matches("exited before READY", err)
    assert.matches("unknown fault 'no%-such%-fault'", err)
  end)

  it("fails instead of hanging when READY never comes", function()
    -- a stand-in that takes any argument and stays silent
    local exe = os.tmpname()
    local f = assert(io.open(exe, "w"))
    f:write("#!/bin/sh\necho starting >&2\nexec sleep 30\n")
    f:close()
    finally(function() os.remove(exe) end)
    assert(os.execute("chmod 700 " .. exe))
    local t0 = os.time()
    local ok, err = pcall(testing.exchange, { exe = exe, ready_timeout = 0.3 })
    assert.is_false(ok)
    assert.matches("betatrader%-exchange", err)
    assert.matches("printed no READY line within 0.3 s", err, 1, true)
    assert.matches("starting", err) -- with its stderr
    assert.is_true(os.time() - t0 < 20) -- the stand-in was killed, not waited for
  end)

  it("reports a crash in stop() with the exchange's stderr", function()
    local ex = testing.exchange()
    os.execute("kill -9 " .. ex.pid)
    local deadline = os.time() + 5
    while ex:running() and os.time() < deadline do
      os.execute("sleep 0.02")
    end
    local ok, err = pcall(ex.stop, ex)
    assert.is_false(ok)
    assert.matches("had already died %(signal 9%)", err)
  end)

  it("rejects unknown options", function()
    assert.has_error(function() testing.exchange{ fault = {} } end,
      "testing.exchange: unknown option 'fault'")
  end)

  it("finds the exchange binary", function()
    assert.is_string((testing.exchange_path()))
  end)

  it("makes a CA the openssl CLI accepts", function()
    local ex = testing.exchange{ tls = true }
    finally(function() ex:stop() end)
    assert.is_string(ex.ca_file)
    local cmd = ("timeout 10 openssl s_client -connect 127.0.0.1:%d -servername localhost -CAfile %s"
      .. " -verify_return_error -verify_ip 127.0.0.1 </dev/null 2>&1"):format(ex.fix_port, ex.ca_file)
    local pipe = assert(io.popen(cmd))
    local out = pipe:read("a")
    pipe:close()
    assert.matches("Verify return code: 0 %(ok%)", out)
  end)
end)
