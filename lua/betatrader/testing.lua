--- Helpers for specs: start a local `betatrader-exchange` per spec and talk
-- HTTP to it.
--
--   local testing = require("betatrader.testing")
--   local ex = testing.exchange{ faults = { "no-user-response" } }
--   -- ex.api_url, ex.fix_host, ex.fix_port, ex.ca_file (tls = true)
--   ex:stop()
--
-- and script it while a spec runs: ex:book,
-- ex:order, ex:submit, ex:depth, ex:send, ex:expect, ex:drop, ex:hold,
-- ex:release, ex:fault, ex:stats. Each is one request to the exchange's
-- admin endpoints (POST /admin/<command>, the token from the READY line)
-- and returns once the exchange has done it.
--
-- A crashed or hung exchange raises an error carrying its stderr; nothing
-- here ever waits without a deadline.
--
-- In the `betatrader-exchange` rock. A scenario test starts its own
-- exchange, logs the bot in, and then moves the market around the bot from
-- the spec (`examples/scenario_spec.lua` does it for
-- `examples/market_maker.lua`).
--
-- Every `ex:` call returns once the exchange has done it (and written what
-- it had to send), so a spec never sleeps to line up with the exchange. The
-- calls block the spec's Lua thread while they run, so a bot in the same
-- process reacts between them: let it handle its messages
-- (`client.fix:receive(timeout):await()` or the bot's own loop, as
-- `MarketMaker:run_until` does) until the state you expect, with a generous
-- timeout, then check with `ex:expect`/`ex:depth`. A bot in another process
-- can be expected while it runs. Misuse raises at the spec's line; a refused
-- call raises with the exchange's reason (`testing: admin send: client
-- 'CLIENT0009' is not connected (HTTP 404)`).
--
-- Message types may be given as MsgType (`"8"`, `"D"`) or by name
-- (`"ExecutionReport"`, `"NewOrderSingle"`, `"OrderCancelRequest"`,
-- `"OrderCancelReplaceRequest"`, `"OrderCancelReject"`,
-- `"MarketDataRequest"`, ... see `testing.MSG_TYPES`). Values are strings or
-- numbers; numbers are sent exactly (`1.0841` as `1.0841`, `1e6` as
-- `1000000`). Deterministic ids: client ids are `CLIENT0001`, ... in
-- registration order; OrderIDs `O1`, ExecIDs `X1`, ... count up per
-- exchange.
-- @module betatrader.testing
-- @usage
-- local bt = require("betatrader")
-- local testing = require("betatrader.testing")
--
-- describe("my bot", function()
--   local ex, client, id
--   setup(function()
--     ex = testing.exchange{}                            -- a fresh exchange on free ports
--     ex:book("EUR/USD", { bids = { { 1.0841, 1e6 } }, asks = { { 1.0843, 2e6 } } })
--     client = bt.client{ api_url = ex.api_url, fix_host = ex.fix_host, fix_port = ex.fix_port,
--                         store = false }
--     id = assert(client.auth:register("bot", "bot-pass"):await())
--     assert(client.auth:login(id, "bot-pass"):await())
--   end)
--   teardown(function() client:close(); ex:stop() end)
--
--   it("buys when the offer drops", function()
--     local bot = MyBot.new(client)                  -- your bot, on the logged-in client
--     ex:book("EUR/USD", { bids = { { 1.0835, 1e6 } }, asks = { { 1.0837, 1e6 } } })
--     bot:run_until(function() return bot.orders_sent > 0 end, 5)  -- let it react
--     local order = assert(ex:expect(id, "NewOrderSingle", 5))     -- what the exchange got
--     assert.equal("1", order[54])
--   end)
-- end)
local process = require("betatrader.testing.process")
local cjson = require("cjson")

local M = {}

M.READY_TIMEOUT = 10 -- seconds to wait for the READY line
M.STOP_GRACE = 5 -- seconds between SIGTERM and SIGKILL

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then
    f:close()
    return true
  end
  return false
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

--- Path of the exchange binary: $BETATRADER_EXCHANGE, then the build dir or
-- the LuaRocks tree that holds the helper process.so, then ./build, then
-- $PATH. nil, msg if none.
function M.exchange_path()
  local env = os.getenv("BETATRADER_EXCHANGE")
  if env and env ~= "" then
    if file_exists(env) then
      return env
    end
    return nil, "BETATRADER_EXCHANGE=" .. env .. ": no such file"
  end
  local tried = {}
  local so = package.searchpath("betatrader.testing.process", package.cpath)
  if so then
    -- A build has <build>/betatrader/testing/process.so and
    -- <build>/betatrader-exchange; a tree <tree>/lib/lua/5.4/betatrader/
    -- testing/process.so and <tree>/bin/betatrader-exchange.
    local build = dirname(dirname(dirname(so)))
    local tree = so:match("^(.*)/lib/lua/5%.%d/betatrader/testing/[^/]*$")
    for _, cand in ipairs({ build .. "/betatrader-exchange", tree and tree .. "/bin/betatrader-exchange" }) do
      tried[#tried + 1] = cand
      if file_exists(cand) then
        return cand
      end
    end
  end
  tried[#tried + 1] = "./build/betatrader-exchange"
  if file_exists(tried[#tried]) then
    return tried[#tried]
  end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local cand = dir .. "/betatrader-exchange"
    if file_exists(cand) then
      return cand
    end
  end
  return nil, "betatrader-exchange not found (set BETATRADER_EXCHANGE; tried "
    .. table.concat(tried, ", ") .. " and PATH)"
end

local function make_temp_dir()
  local name = os.tmpname()
  os.remove(name)
  local ok = os.execute("mkdir -m 700 " .. shell_quote(name))
  if not ok then
    error("testing: cannot create a temporary directory " .. name, 3)
  end
  return name
end

local function remove_tree(dir)
  if dir then
    os.execute("rm -rf " .. shell_quote(dir))
  end
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function run_quiet(cmd, what)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  if not ok then
    error("testing: " .. what .. " failed (" .. cmd .. ")", 4)
  end
end

--- Make a throwaway CA and a server certificate for 127.0.0.1/localhost in
-- dir with the openssl command; returns ca_file, cert_file, key_file.
function M.make_certs(dir)
  local ca_key, ca = dir .. "/ca.key", dir .. "/ca.pem"
  local key, csr, cert = dir .. "/server.key", dir .. "/server.csr", dir .. "/server.pem"
  local cnf = dir .. "/openssl.cnf"
  write_file(cnf, table.concat({
    "[req]", "distinguished_name = dn", "prompt = no",
    "[dn]", "CN = BetaTrader test",
    "[ca]", "basicConstraints = critical, CA:TRUE",
    "keyUsage = critical, keyCertSign, cRLSign",
    "subjectKeyIdentifier = hash",
    "[server]", "basicConstraints = critical, CA:FALSE",
    "keyUsage = critical, digitalSignature, keyEncipherment",
    "extendedKeyUsage = serverAuth",
    "subjectAltName = DNS:localhost, IP:127.0.0.1",
    "authorityKeyIdentifier = keyid",
    "",
  }, "\n"))
  local q = shell_quote
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  run_quiet(("openssl req -x509 %s -config %s -extensions ca -days 2 -subj %s -keyout %s -out %s")
    :format(ec, q(cnf), q("/CN=BetaTrader test CA"), q(ca_key), q(ca)), "openssl (CA)")
  run_quiet(("openssl req %s -config %s -subj /CN=localhost -keyout %s -out %s")
    :format(ec, q(cnf), q(key), q(csr)), "openssl (server key)")
  run_quiet(("openssl x509 -req -in %s -CA %s -CAkey %s -CAcreateserial -days 2"
      .. " -extfile %s -extensions server -out %s")
    :format(q(csr), q(ca), q(ca_key), q(cnf), q(cert)), "openssl (server certificate)")
  return ca, cert, key
end

-- faults as a list ({"no-logon-reply", "user-status=4"}) or a map
-- ({user_status = 4, no_logon_reply = true}); names may use _ or -.
local function fault_args(faults, args)
  if faults == nil then
    return
  end
  if type(faults) == "string" then
    faults = { faults }
  end
  if type(faults) ~= "table" then
    error("testing.exchange: faults must be a table or a string", 3)
  end
  local keys = {}
  for k in pairs(faults) do
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v = faults[k]
    local spec
    if math.type(k) == "integer" then
      spec = tostring(v):gsub("_", "-")
    elseif v == true then
      spec = tostring(k):gsub("_", "-")
    elseif v ~= false then
      spec = tostring(k):gsub("_", "-") .. "=" .. tostring(v)
    end
    if spec then
      args[#args + 1] = "--fault"
      args[#args + 1] = spec
    end
  end
end

local Exchange = {}
Exchange.__index = Exchange

--- Everything the exchange wrote to stderr so far.
function Exchange:stderr()
  return self._proc and self._proc:stderr() or self._stderr or ""
end

function Exchange:_fail(what)
  local err = self:stderr()
  error(("betatrader-exchange %s%s"):format(what,
    err ~= "" and (":\n--- stderr ---\n" .. err .. "--------------") or " (no stderr)"), 3)
end

-- kill(2) returns before every thread of a stopped process has stopped: the
-- exchange's I/O thread could still answer a connection made right after.
-- Waits (up to timeout seconds) until each thread shows state T.
local function wait_stopped(pid, timeout)
  local ls = io.popen("ls /proc/" .. pid .. "/task 2>/dev/null")
  if not ls then
    return nil, "cannot list the exchange's threads"
  end
  local tids = {}
  for tid in ls:lines() do
    tids[#tids + 1] = tid
  end
  ls:close()
  -- whole seconds are enough: the threads stop within milliseconds
  local deadline = os.time() + math.ceil(timeout) + 1
  repeat
    local stopped = true
    for _, tid in ipairs(tids) do
      local f = io.open(("/proc/%d/task/%s/stat"):format(pid, tid), "r")
      local stat = f and f:read("a")
      if f then
        f:close()
      end
      local state = stat and stat:match("%) (%a)")
      if state and state ~= "T" and state ~= "t" then
        stopped = false
        break
      end
    end
    if stopped then
      return true
    end
  until os.time() > deadline
  return nil, "exchange not stopped after " .. timeout .. " s"
end

--- Send a signal ("KILL", "STOP", "CONT", "TERM" or a number) to the
-- exchange process. true, or nil, message when it is not running. "STOP"
-- returns once every thread of the exchange has stopped.
function Exchange:kill(sig)
  if not self._proc then
    return nil, "exchange not running"
  end
  local ok, err = self._proc:kill(sig or "TERM")
  if ok and sig == "STOP" then
    return wait_stopped(self.pid, 5)
  end
  return ok, err
end

-- One line of --trace output as a table: conn (connection number, from 1),
-- dir ("in", "out" or "garbled"), raw (SOH shown as "|"), msg_type, seq
-- (34 as a number), fields ({ {tag, value}, ... } in wire order) and
-- [tag] = value of the first field with that tag.
local function parse_trace_line(line)
  local conn, dir, raw = line:match("^fix (%d+) (%a+): (.*)$")
  if not conn then
    return nil
  end
  local f = { conn = tonumber(conn), dir = dir, raw = raw, fields = {} }
  for tag, value in raw:gmatch("(%d+)=([^|]*)|") do
    tag = tonumber(tag)
    f.fields[#f.fields + 1] = { tag, value }
    if f[tag] == nil then
      f[tag] = value
    end
  end
  f.msg_type = f[35]
  f.seq = tonumber(f[34])
  return f
end

--- The frames the exchange traced so far (start it with args = {"--trace"}),
-- oldest first, as tables (see parse_trace_line above). filter (optional)
-- keeps only frames whose fields equal the given values: dir, conn,
-- msg_type, seq, or any numeric tag (e.g. { dir = "in", [49] = "CLIENT0001" }).
-- Reading also drains the stderr pipe, so call it now and then in long
-- traced runs: a full pipe would block the exchange.
function Exchange:frames(filter)
  local out = {}
  for line in self:stderr():gmatch("[^\n]+") do
    local f = parse_trace_line(line)
    local keep = f ~= nil
    for k, v in pairs(filter or {}) do
      if not keep then
        break
      end
      keep = f[k] == v
    end
    if keep then
      out[#out + 1] = f
    end
  end
  return out
end

--- true once a traced exchange closed connection number conn (its CompID
-- may then log on again).
function Exchange:conn_closed(conn)
  local text = "\n" .. self:stderr()
  return text:find("\nfix " .. tostring(conn) .. " closed\n", 1, true) ~= nil
end

--- true while the process runs.
function Exchange:running()
  if not self._proc then
    return false
  end
  local code = self._proc:wait(0)
  return code == nil
end

--- SIGTERM, wait, SIGKILL after STOP_GRACE seconds. Returns code, how
-- ("exit" or "signal"). Raises, with the stderr, if the exchange had crashed
-- before, exited with an error or had to be killed. Idempotent.
-- opts.check = false returns code, how instead of raising.
function Exchange:stop(opts)
  local check = not (opts and opts.check == false)
  local p = self._proc
  if not p then
    return self._code, self._how
  end
  local crashed = self:running() == false
  local killed = false
  if not crashed then
    p:kill("TERM")
  end
  local code, how = p:wait(M.STOP_GRACE)
  if not code then
    killed = true
    p:kill("KILL")
    code, how = p:wait()
  end
  self._stderr = p:stderr()
  self._code, self._how = code, how
  self._proc = nil
  remove_tree(self._tmpdir)
  self._tmpdir = nil
  if check then
    if crashed then
      self:_fail(("had already died (%s %s)"):format(how, tostring(code)))
    elseif killed then
      self:_fail("did not stop within " .. M.STOP_GRACE .. " s of SIGTERM (killed)")
    elseif how ~= "exit" or code ~= 0 then
      self:_fail(("stopped with %s %s"):format(how, tostring(code)))
    end
  end
  return code, how
end

Exchange.__close = function(self)
  self:stop{ check = false }
end
Exchange.__gc = Exchange.__close

--- Start one exchange on free ports and wait for its READY line, e.g.
-- `testing.exchange{ faults = {...}, tls = true, db = path, symbols = {...} }`.
-- A crashed or hung exchange fails the spec with its stderr.
-- @tparam[opt] table opts faults (names as for `--fault`, e.g.
-- `"close-after=3"`), tls (true | {cert=, key=, ca_file=}), db (path kept
-- across restarts), symbols, host, args (extra argv), iterations (PBKDF2;
-- default 1000 to keep specs fast), ready_timeout, env, exe, compat
-- (`"betatrader-gateway"`: behave like BetaTrader's own C++ gateway, see the
-- README's "The local exchange") and comp_ids (with compat: the SenderCompIDs
-- that may log on, a list or a comma-separated string)
-- @return the exchange: `api_url`, `fix_host`, `fix_port` (and `ca_file`
-- when TLS is on), `:stop()`, and the scripting calls (`ex:book`, ...)
function M.exchange(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("bad argument #1 to 'exchange' (table expected, got " .. type(opts) .. ")", 2)
  end
  local known = { faults = 1, tls = 1, db = 1, host = 1, args = 1, iterations = 1,
    ready_timeout = 1, env = 1, exe = 1, symbols = 1, compat = 1, comp_ids = 1 }
  for k in pairs(opts) do
    if not known[k] then
      error("testing.exchange: unknown option '" .. tostring(k) .. "'", 2)
    end
  end
  local exe = opts.exe
  if not exe then
    local msg
    exe, msg = M.exchange_path()
    if not exe then
      error("testing.exchange: " .. msg, 2)
    end
  end
  local host = opts.host or "127.0.0.1"
  local args = { exe, "--host", host, "--fix-port", "0", "--http-port", "0",
    "--pbkdf2-iter", tostring(opts.iterations or 1000), "--die-with-parent" }
  local self = setmetatable({ fix_host = host }, Exchange)
  if opts.db then
    args[#args + 1] = "--db"
    args[#args + 1] = opts.db
  end
  if opts.tls then
    local tls = opts.tls
    local ca, cert, key
    if tls == true then
      self._tmpdir = make_temp_dir()
      local ok, a, b, c = pcall(M.make_certs, self._tmpdir)
      if not ok then
        remove_tree(self._tmpdir)
        error(a, 2)
      end
      ca, cert, key = a, b, c
    elseif type(tls) == "table" and tls.cert and tls.key then
      ca, cert, key = tls.ca_file, tls.cert, tls.key
    else
      error("testing.exchange: tls must be true or {cert=, key=[, ca_file=]}", 2)
    end
    args[#args + 1] = "--tls-cert"
    args[#args + 1] = cert
    args[#args + 1] = "--tls-key"
    args[#args + 1] = key
    self.ca_file = ca
    self.tls = { ca_file = ca, server_name = "localhost" }
  end
  fault_args(opts.faults, args)
  if opts.symbols then
    local list = opts.symbols
    if type(list) == "table" then
      list = table.concat(list, ",")
    end
    if type(list) ~= "string" then
      error("testing.exchange: symbols must be a list or a comma-separated string", 2)
    end
    args[#args + 1] = "--symbols"
    args[#args + 1] = list
  end
  if opts.compat ~= nil then
    if type(opts.compat) ~= "string" then
      error("testing.exchange: compat must be a string (\"betatrader-gateway\")", 2)
    end
    args[#args + 1] = "--compat"
    args[#args + 1] = opts.compat
  end
  if opts.comp_ids ~= nil then
    local list = opts.comp_ids
    if type(list) == "table" then
      list = table.concat(list, ",")
    end
    if type(list) ~= "string" then
      error("testing.exchange: comp_ids must be a list or a comma-separated string", 2)
    end
    args[#args + 1] = "--comp-ids"
    args[#args + 1] = list
  end
  for _, a in ipairs(opts.args or {}) do
    args[#args + 1] = a
  end

  local proc, err = process.spawn(args, opts.env and { env = opts.env } or nil)
  if not proc then
    remove_tree(self._tmpdir)
    error("testing.exchange: " .. err, 2)
  end
  self._proc = proc
  self.pid = proc:pid()
  local line, why = proc:read_line(opts.ready_timeout or M.READY_TIMEOUT)
  while line and not line:match("^READY ") do
    line, why = proc:read_line(opts.ready_timeout or M.READY_TIMEOUT)
  end
  if not line then
    local code, how = proc:wait(1)
    if not code then
      proc:kill("KILL")
      code, how = proc:wait()
    end
    self._stderr = proc:stderr()
    self._proc = nil
    remove_tree(self._tmpdir)
    if why == "timeout" then
      self:_fail("printed no READY line within " .. (opts.ready_timeout or M.READY_TIMEOUT) .. " s")
    end
    self:_fail(("exited before READY (%s %s)"):format(how, tostring(code)))
  end
  self.fix_port = tonumber(line:match("fix=(%d+)"))
  self.http_port = tonumber(line:match("http=(%d+)"))
  self.admin_token = line:match("admin=(%x+)")
  local url_host = host:find(":", 1, true) and ("[" .. host .. "]") or host
  self.api_url = ("http://%s:%d"):format(url_host, self.http_port)
  return self
end

--- One HTTP request with the curl command: method, url, body (string or
-- nil), headers ({name = value}), timeout (s, default 10). Returns status
-- (number), body (string); nil, message if curl itself failed.
function M.http_request(method, url, body, headers, timeout)
  local tmp = os.tmpname()
  -- env -u LD_PRELOAD: under the ASan run the interpreter is started with
  -- libasan preloaded, and curl deadlocks at start-up when it inherits that.
  local parts = { "env", "-u", "LD_PRELOAD", "curl", "-sS", "-o", shell_quote(tmp), "-w", "'%{http_code}'",
    "-X", shell_quote(method), "--max-time", tostring(timeout or 10) }
  local names = {}
  for k in pairs(headers or {}) do
    names[#names + 1] = k
  end
  table.sort(names)
  for _, k in ipairs(names) do
    parts[#parts + 1] = "-H " .. shell_quote(k .. ": " .. headers[k])
  end
  local bodyfile
  if body then
    bodyfile = os.tmpname()
    write_file(bodyfile, body)
    parts[#parts + 1] = "--data-binary @" .. shell_quote(bodyfile)
    if not (headers and (headers["Content-Type"] or headers["content-type"])) then
      parts[#parts + 1] = "-H 'Content-Type: application/json'"
    end
  end
  parts[#parts + 1] = shell_quote(url)
  parts[#parts + 1] = "2>&1"
  local pipe = assert(io.popen(table.concat(parts, " "), "r"))
  local out = pipe:read("a")
  pipe:close()
  local f = io.open(tmp, "rb")
  local resp = f and f:read("a") or ""
  if f then
    f:close()
  end
  os.remove(tmp)
  if bodyfile then
    os.remove(bodyfile)
  end
  local status = tonumber(out:match("(%d%d%d)$"))
  if not status or status == 0 then
    local msg = out:gsub("%d%d%d$", ""):gsub("%s+$", "")
    return nil, msg ~= "" and msg or "curl failed"
  end
  return status, resp
end

-- ------------------------------------------------------- scripting

-- A few message names, so that specs can say what they mean; any MsgType
-- string ("8", "D", "AE") is accepted as it is.
M.MSG_TYPES = {
  Heartbeat = "0", Reject = "3", ExecutionReport = "8", OrderCancelReject = "9",
  News = "B", NewOrderSingle = "D", OrderCancelRequest = "F",
  OrderCancelReplaceRequest = "G", MarketDataRequest = "V",
  MarketDataSnapshotFullRefresh = "W", MarketDataIncrementalRefresh = "X",
  MarketDataRequestReject = "Y", BusinessMessageReject = "j",
}

local function msg_type_arg(t, fname, argn)
  if type(t) ~= "string" or t == "" then
    error(("bad argument #%d to '%s' (message type expected, got %s)"):format(argn, fname,
      t == "" and "empty string" or type(t)), 3)
  end
  return M.MSG_TYPES[t] or t
end

-- A FIX value as the text the exchange gets: exact for integers, the
-- shortest round-tripping form for decimals (never an exponent).
local function value_text(v, what)
  local tv = math.type(v)
  if tv == "integer" then
    return string.format("%d", v)
  elseif tv == "float" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then
      return string.format("%d", math.tointeger(v))
    end
    local text = string.format("%.15g", v)
    if tonumber(text) ~= v then
      text = string.format("%.17g", v)
    end
    if text:find("[eEn]") then
      error(what .. ": " .. tostring(v) .. " cannot be written without an exponent", 4)
    end
    return text
  elseif type(v) == "boolean" then
    return v and "Y" or "N"
  elseif type(v) == "string" and v ~= "" then
    return v
  end
  error(what .. ": string, number or boolean expected, got " .. type(v), 4)
end

local function fields_arg(fields, fname)
  if type(fields) ~= "table" then
    error(("bad argument to '%s' (fields must be a list of {tag, value})"):format(fname), 3)
  end
  local out = {}
  for i, f in ipairs(fields) do
    if type(f) ~= "table" or math.type(f[1]) ~= "integer" then
      error(("bad argument to '%s' (fields[%d] must be {tag, value})"):format(fname, i), 3)
    end
    out[i] = { f[1], value_text(f[2], ("%s: fields[%d]"):format(fname, i)) }
  end
  -- cjson writes an empty table as {}: leave an empty list out instead.
  return #out > 0 and out or nil
end

-- The exchange's JSON message as fix:receive gives one: msg_type, seq_num,
-- fields ({ {tag, value}, ... }) and [tag] = the first value of that tag.
local function message(j)
  local m = { msg_type = j.msg_type, seq_num = j.seq_num, sender = j.sender, fields = {} }
  for i, f in ipairs(j.fields or {}) do
    local tag = math.tointeger(f[1])
    m.fields[i] = { tag, f[2] }
    if m[tag] == nil then
      m[tag] = f[2]
    end
  end
  return m
end

local function messages(list)
  local out = {}
  for i, j in ipairs(list or {}) do
    out[i] = message(j)
  end
  return out
end

-- One admin command; raises (at the spec's line) unless the exchange did
-- it, except that a status listed in soft comes back as nil, error, status.
function Exchange:_admin(cmd, body, timeout, soft)
  if not self.admin_token then
    error("testing: this exchange printed no admin token (not running?)", 3)
  end
  local status, text = M.http_request("POST", self.api_url .. "/admin/" .. cmd,
    cjson.encode(body or {}), { Authorization = "Bearer " .. self.admin_token },
    (timeout or 60) + 10)
  if not status then
    error("testing: admin " .. cmd .. ": " .. tostring(text), 3)
  end
  local ok, reply = pcall(cjson.decode, text)
  if not ok or type(reply) ~= "table" then
    error(("testing: admin %s: HTTP %d, not JSON: %s"):format(cmd, status, text), 3)
  end
  if status ~= 200 then
    if soft and soft[status] then
      return nil, reply.error, status
    end
    error(("testing: admin %s: %s (HTTP %d)"):format(cmd, tostring(reply.error), status), 3)
  end
  return reply
end

--- Replace the seeded book of symbol: the exchange's `MARKET` participant
-- cancels its orders there and places one DAY limit order per level, e.g.
-- `ex:book("EUR/USD", { bids = {{1.0841, 1e6}}, asks = {{1.0843, 2e6}} })`.
-- Levels that cross resting orders (the bot's) trade at once.
-- @tparam string symbol
-- @tparam table sides `{ bids = {{price, qty}, ...}, asks = ... }`
-- @return the reports MARKET got (list of messages)
function Exchange:book(symbol, sides)
  if type(symbol) ~= "string" then
    error("bad argument #1 to 'book' (symbol expected, got " .. type(symbol) .. ")", 2)
  end
  if type(sides) ~= "table" then
    error("bad argument #2 to 'book' (table {bids = ..., asks = ...} expected)", 2)
  end
  local body = { symbol = symbol }
  for _, side in ipairs({ "bids", "asks" }) do
    local levels = {}
    for i, l in ipairs(sides[side] or {}) do
      if type(l) ~= "table" then
        error(("bad argument #2 to 'book' (%s[%d] must be {price, quantity})"):format(side, i), 2)
      end
      levels[i] = { value_text(l[1], side .. " price"), value_text(l[2], side .. " quantity") }
    end
    body[side] = #levels > 0 and levels or nil
  end
  return messages(self:_admin("book", body).replies)
end

local SIDES = { buy = "1", sell = "2", ["1"] = "1", ["2"] = "2", [1] = "1", [2] = "2" }
local TIFS = { day = "0", ioc = "3", fok = "4", ["0"] = "0", ["3"] = "3", ["4"] = "4" }

--- Place an order as another participant (default `"SPEC"`; `as = "NAME"`).
-- @tparam table o `{ symbol, side = "buy"|"sell", qty, price (limit; none =
-- market), tif = "day"|"ioc"|"fok", id = ClOrdID, as = participant }`
-- @return the ExecutionReports that participant got, in order
function Exchange:order(o)
  if type(o) ~= "table" then
    error("bad argument #1 to 'order' (table expected, got " .. type(o) .. ")", 2)
  end
  local side = SIDES[o.side]
  if not side then
    error("bad argument #1 to 'order' (side must be \"buy\" or \"sell\")", 2)
  end
  local tif = TIFS[o.tif or "day"]
  if not tif then
    error("bad argument #1 to 'order' (tif must be \"day\", \"ioc\" or \"fok\")", 2)
  end
  if type(o.symbol) ~= "string" or o.qty == nil then
    error("bad argument #1 to 'order' (symbol and qty are required)", 2)
  end
  self._seq = (self._seq or 0) + 1
  local fields = {
    { 11, o.id or ("SPEC-" .. self._seq) }, { 55, o.symbol }, { 54, side }, { 38, o.qty },
    { 40, o.price and "2" or "1" }, { 59, tif },
  }
  if o.price then
    fields[#fields + 1] = { 44, o.price }
  end
  return self:submit(o.as or "SPEC", "D", fields)
end

--- Run any trading message (D, F, G, V) through the exchange as participant
-- `as`, as if it had sent it (e.g. a cancel of an `ex:order`).
-- @tparam string as the participant
-- @tparam string msg_type a MsgType or name
-- @tparam table fields `{ {tag, value}, ... }`
-- @return the replies it got
function Exchange:submit(as, msg_type, fields)
  if type(as) ~= "string" then
    error("bad argument #1 to 'submit' (participant name expected, got " .. type(as) .. ")", 2)
  end
  local t = msg_type_arg(msg_type, "submit", 2)
  return messages(self:_admin("submit", { as = as, msg_type = t,
    fields = fields_arg(fields, "submit") }).replies)
end

--- The book of symbol: `{ bids = { {price, qty, orders}, ... }, asks = ... }`,
-- best first, prices and quantities as strings, as the exchange writes them
-- (`"1.0841"`).
-- @tparam string symbol
function Exchange:depth(symbol)
  local r = self:_admin("depth", { symbol = symbol })
  local out = { bids = {}, asks = {} }
  for _, side in ipairs({ "bids", "asks" }) do
    for i, l in ipairs(r[side]) do
      out[side][i] = { l[1], l[2], math.tointeger(l[3]) }
    end
  end
  return out
end

local function client_arg(client, fname)
  if type(client) ~= "string" or client == "" then
    error(("bad argument #1 to '%s' (client id expected, got %s)"):format(fname, type(client)), 3)
  end
  return client
end

--- Send any application message to a connected client, in its session
-- (the next MsgSeqNum).
-- @tparam string client the client id
-- @tparam string msg_type a MsgType or name
-- @tparam table fields `{ {tag, value}, ... }`
-- @return true; raises when the client is not connected
function Exchange:send(client, msg_type, fields)
  client_arg(client, "send")
  local t = msg_type_arg(msg_type, "send", 2)
  self:_admin("send", { client = client, msg_type = t, fields = fields_arg(fields, "send") })
  return true
end

--- The oldest message of msg_type (nil = any) the client sent since it
-- logged in that no expect has returned yet, waiting up to timeout seconds
-- (default 5) for it.
-- @tparam string client the client id
-- @tparam ?string msg_type a MsgType or name; nil: any
-- @tparam[opt=5] number timeout seconds
-- @return `{ msg_type, seq_num, sender, fields = {{tag, value}, ...},
-- [tag] = value }` (body fields, as the exchange parsed them), or
-- `nil, message, "timeout"`
function Exchange:expect(client, msg_type, timeout)
  client_arg(client, "expect")
  local t = msg_type ~= nil and msg_type_arg(msg_type, "expect", 2) or nil
  timeout = timeout or 5
  local r, err = self:_admin("expect", { client = client, msg_type = t, timeout = timeout },
    timeout, { [408] = true })
  if not r then
    return nil, ("%s sent no %s within %g s"):format(client, msg_type or "message", timeout),
      "timeout"
  end
  return message(r.message), err
end

--- Drop a client's connection as a crash would (no Logout). Its orders are
-- cancelled (the exchange cancels on disconnect).
function Exchange:drop(client)
  client_arg(client, "drop")
  self:_admin("drop", { client = client })
  return true
end

--- Hold back the exchange's trading replies (ExecutionReports, 35=9,
-- market data) of msg_type, to client or to all, until `ex:release`:
-- forces interleavings ("the fill arrives after my cancel").
-- @tparam string msg_type a MsgType or name
-- @tparam[opt] string client
function Exchange:hold(msg_type, client)
  local t = msg_type_arg(msg_type, "hold", 1)
  self:_admin("hold", { msg_type = t, client = client })
  return true
end

--- Send what was held (of msg_type / to client; nil = everything) in the
-- order it was held.
-- @tparam[opt] string msg_type
-- @tparam[opt] string client
-- @treturn integer how many were sent
function Exchange:release(msg_type, client)
  local t = msg_type ~= nil and msg_type_arg(msg_type, "release", 1) or nil
  return math.tointeger(self:_admin("release", { msg_type = t, client = client }).released)
end

--- Switch any named fault of the exchange (`betatrader-exchange --help`
-- lists them; with its value: `"close-after=3"`, `"http-500"`, ...) on
-- (default) or off with `false`.
-- @tparam string name
-- @tparam[opt=true] boolean on
function Exchange:fault(name, on)
  if type(name) ~= "string" then
    error("bad argument #1 to 'fault' (fault name expected, got " .. type(name) .. ")", 2)
  end
  self:_admin("fault", { name = name, on = on ~= false })
  return true
end

--- Counters: `{ orders, trades, rejects, connected = {client ids} }`.
function Exchange:stats()
  return self:_admin("stats", {})
end

return M
