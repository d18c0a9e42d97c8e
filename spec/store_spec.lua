-- The sequence store seen from Lua (issues 11 and 12): every store failure
-- comes back with code "store" and a message naming the file and the cause,
-- and the resend window keeps the store's file and the process bounded.
local bt = require("betatrader")
local testing = require("betatrader.testing")
local helpers = require("spec.support.helpers")

local PW = "s3cret"

local tmpdir = helpers.tmpdir

local new_client = helpers.client

local names = 0
local function register(ex)
  names = names + 1
  local c <close> = new_client(ex)
  return assert(c.auth:register(("store%d"):format(names), PW):await())
end

local function login_fails(c, id)
  local ok, msg, code = c.auth:login(id, PW):await()
  assert.is_nil(ok)
  local state, reason, scode = c.auth:state()
  assert.equal("Failed", state)
  assert.equal(code, scode)
  assert.equal(msg, reason)
  return msg, code
end

describe("store failures", function()
  local ex, dir
  setup(function()
    ex = testing.exchange()
  end)
  teardown(function()
    ex:stop()
  end)
  before_each(function()
    dir = tmpdir()
  end)
  after_each(function()
    os.execute("chmod -R u+w '" .. dir .. "'; rm -rf '" .. dir .. "'")
  end)

  it("two clients on one store: the second fails with code store", function()
    local id = register(ex)
    local a <close> = new_client(ex, { store = dir })
    assert.is_true(a.auth:login(id, PW):await())
    local b <close> = new_client(ex, { store = dir })
    local msg, code = login_fails(b, id)
    assert.equal("store", code)
    assert.matches(id .. "+BETA_EXCHANGE.lock: in use by another process", msg, 1, true)
    -- The first session is untouched, and once it is gone the store opens.
    assert.equal("Active", a.auth:state())
    assert.is_true(a.auth:logout():await())
    assert.is_true(b.auth:login(id, PW):await())
    assert.is_true(b.auth:logout():await())
  end)

  it("a corrupt .seq fails with code store and is left as it was", function()
    local id = register(ex)
    local path = dir .. "/" .. id .. "+BETA_EXCHANGE.seq"
    do
      local first <close> = new_client(ex, { store = dir })
      assert.is_true(first.auth:login(id, PW):await())
      assert.is_true(first.auth:logout():await())
    end
    local f = assert(io.open(path, "wb"))
    f:write(("garbage!"):rep(8))
    f:close()
    local c <close> = new_client(ex, { store = dir })
    local msg, code = login_fails(c, id)
    assert.equal("store", code)
    assert.matches(".seq: bad magic (not a seqstore file)", msg, 1, true)
    f = assert(io.open(path, "rb"))
    assert.equal(("garbage!"):rep(8), f:read("a"))
    f:close()
  end)

  it("a read-only directory fails with code store", function()
    assert(os.execute("chmod 500 '" .. dir .. "'"))
    local store = dir
    local probe = io.open(dir .. "/probe", "w")
    if probe then
      -- root ignores the mode bits: use a directory no one may write to.
      probe:close()
      os.remove(dir .. "/probe")
      store = "/sys"
    end
    local id = register(ex)
    local c <close> = new_client(ex, { store = store })
    local msg, code = login_fails(c, id)
    assert.equal("store", code)
    assert.matches("seqstore: " .. store .. "/" .. id .. "+BETA_EXCHANGE.lock: cannot open: ", msg, 1, true)
  end)
end)

-- ------------------------------------------------------------ resend window

local function rss_kib()
  local f = assert(io.open("/proc/self/status"))
  local text = f:read("a")
  f:close()
  return tonumber(text:match("VmRSS:%s*(%d+)"))
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then
    return 0
  end
  local n = f:seek("end")
  f:close()
  return n
end

local function field(frame, tag)
  return frame:match("\001" .. tag .. "=([^\001]*)\001")
end

describe("resend_window", function()
  local dir

  it("is checked like every option", function()
    assert.equal(100000, require("betatrader.config").check({}).resend_window)
    assert.has_error(function() bt.client{ resend_window = 0 } end,
      "bad option 'resend_window' (0 out of range 1..2147483648)")
    assert.has_error(function() bt.client{ resend_window = "many" } end,
      "bad option 'resend_window' (number expected, got string)")
  end)

  after_each(function()
    if dir then
      os.execute("rm -rf '" .. dir .. "'")
    end
  end)

  it("keeps the file and RSS bounded over 300,000 messages; old ranges gap-fill, recent ones resend",
  function()
    -- scripts/valgrind-specs sends fewer (memcheck is ~50 times slower).
    local TOTAL = tonumber(os.getenv("BT_STORE_SPEC_MESSAGES")) or 300000
    local BLOCK, WINDOW = 5000, 1000
    local EARLY = TOTAL // BLOCK // 3 * BLOCK
    dir = tmpdir()
    -- The exchange asks for everything again (7=1, 16=0) after the first
    -- application message of each connection.
    local ex <close> = testing.exchange({ faults = { "resend-request" } })
    local id = register(ex)
    local msgs = dir .. "/" .. id .. "+BETA_EXCHANGE.msgs"
    -- limit orders that rest: the venue answers each with one ExecutionReport
    local fields = { { 11, "" }, { 55, "EUR/USD" }, { 54, 1 }, { 38, 1000 }, { 40, 2 }, { 44, "1.0" } }
    local max_size, rss_at = 0, {}
    do
      local c <close> = new_client(ex, { store = dir, resend_window = WINDOW })
      assert.is_true(c.auth:login(id, PW):await())
      local acked = 0
      for block = 1, TOTAL // BLOCK do
        for i = 1, BLOCK do
          fields[1][2] = "W" .. ((block - 1) * BLOCK + i)
          assert.is_true(c.fix:send("D", fields))
        end
        -- Every order is answered (35=8): wait for the block's answers.
        while acked < block * BLOCK do
          local m = assert(c.fix:receive(10):await())
          if m.msg_type == "8" and m[43] ~= "Y" then
            acked = acked + 1
          end
        end
        max_size = math.max(max_size, file_size(msgs))
        if block * BLOCK == EARLY or block * BLOCK == TOTAL then
          collectgarbage()
          rss_at[block * BLOCK] = rss_kib()
        end
      end
      assert.is_true(c.auth:logout():await())
    end
    io.stderr:write(("[store] %d messages, window %d: .msgs at most %d bytes (now %d), "
      .. "VmRSS %d KiB after %d, %d KiB after %d\n"):format(TOTAL, WINDOW, max_size,
      file_size(msgs), rss_at[EARLY], EARLY, rss_at[TOTAL], TOTAL))
    -- Without the window the file would hold every order: about 60 MB.
    assert.is_true(max_size < 2 * 1024 * 1024, "the .msgs file grew to " .. max_size)
    -- Without it the index alone would grow by 24 bytes per order. (A short
    -- run is all warm-up: buffers, the Lua heap and valgrind's own; under
    -- AddressSanitizer freed memory sits in its quarantine.)
    local asan = (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true)
    if TOTAL >= 300000 and not asan then
      assert.is_true(rss_at[TOTAL] - rss_at[EARLY] < 4096,
        ("VmRSS grew from %d to %d KiB"):format(rss_at[EARLY], rss_at[TOTAL]))
    end

    -- A new connection from the same store: its first order makes the
    -- exchange ask for everything since 1.
    local out = {}
    local c <close> = new_client(ex, {
      store = dir, resend_window = WINDOW,
      trace = function(d, frame)
        if d == "out" and field(frame, 43) == "Y" then
          out[#out + 1] = frame
        end
      end,
    })
    assert.is_true(c.auth:login(id, PW):await())
    fields[1][2] = "AFTER"
    assert.is_true(c.fix:send("D", fields))
    local last
    repeat
      local m = assert(c.fix:receive(10):await())
      if m.msg_type == "8" and m[11] == "AFTER" then
        last = m
      end
    until last and #out > 0
    -- The old range: one GapFill from 1 over everything compacted away.
    local first = out[1]
    assert.equal("4", field(first, 35))
    assert.equal("1", field(first, 34))
    assert.equal("Y", field(first, 123))
    local kept_from = tonumber(field(first, 36))
    assert.is_true(kept_from > TOTAL - 2 * WINDOW - BLOCK, "GapFill only up to " .. kept_from)
    -- The recent range: the real orders again, 43=Y with OrigSendingTime.
    -- Orders went out one per number: MsgSeqNum minus the order's number
    -- is the same for all of them, and the last one sent is there.
    local resent, offset, top = 0, nil, 0
    for i = 2, #out do
      local fr = out[i]
      local n = field(fr, 35) == "D" and tonumber(field(fr, 11):match("^W(%d+)$"))
      if n then -- not "AFTER", the order of this connection
        resent = resent + 1
        assert.is_not_nil(field(fr, 122), fr)
        offset = offset or tonumber(field(fr, 34)) - n
        assert.equal(offset, tonumber(field(fr, 34)) - n)
        assert.is_true(tonumber(field(fr, 34)) >= kept_from)
        top = math.max(top, n)
      end
    end
    assert.equal(TOTAL, top)
    assert.is_true(resent >= WINDOW, "only " .. resent .. " orders resent")
    assert.is_true(c.auth:logout():await())
  end)
end)
