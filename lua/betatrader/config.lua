--- Validation of the options given to betatrader.client{...}.
-- Misuse raises at once with a message naming the option, as Lua's own
-- library does; nothing is sent before the options are known to be good.
-- @module betatrader.config
local M = {}

-- defaults.h's table (see M.defaults below); reconnect's fields from it too
local core_defaults = require("betatrader.core").defaults
local rc_defaults = core_defaults.reconnect

local function fail(level, fmt, ...)
  error(string.format(fmt, ...), level + 1)
end

local function printable(s)
  return not s:find("[%z\1-\31\127]")
end

local function check_string(name, v, level, opts)
  if type(v) ~= "string" then
    fail(level, "bad option '%s' (string expected, got %s)", name, type(v))
  end
  if v == "" then
    fail(level, "bad option '%s' (empty string)", name)
  end
  if #v > (opts and opts.max or 1024) then
    fail(level, "bad option '%s' (longer than %d bytes)", name, opts and opts.max or 1024)
  end
  if not printable(v) then
    fail(level, "bad option '%s' (contains control characters)", name)
  end
  return v
end

local function check_number(name, v, lo, hi, level, integer)
  if math.type(v) == nil then
    fail(level, "bad option '%s' (number expected, got %s)", name, type(v))
  end
  if integer and math.type(v) ~= "integer" then
    -- 2.0 is as good as 2 (what arithmetic or JSON gives): only a fraction is wrong
    local i = math.tointeger(v)
    if not i then
      fail(level, "bad option '%s' (integer expected, got %s)", name, tostring(v))
    end
    v = i
  end
  if v ~= v or v < lo or v > hi then
    fail(level, "bad option '%s' (%s out of range %s..%s)", name, tostring(v), lo, hi)
  end
  return v
end

local function check_boolean(name, v, level)
  if type(v) ~= "boolean" then
    fail(level, "bad option '%s' (boolean expected, got %s)", name, type(v))
  end
  return v
end

local tls_keys = {
  ca_file = "string",
  server_name = "string",
  cert_file = "string",
  key_file = "string",
  verify = "boolean",
}

local function check_tls(v, level)
  if v == nil or v == false then
    return nil
  end
  if v == true then
    return { verify = true }
  end
  if type(v) ~= "table" then
    fail(level, "bad option 'tls' (table, true or nil expected, got %s)", type(v))
  end
  local out = { verify = true }
  for k, x in pairs(v) do
    local want = tls_keys[k]
    if not want then
      fail(level, "bad option 'tls.%s' (unknown TLS option)", tostring(k))
    end
    if want == "string" then
      out[k] = check_string("tls." .. k, x, level + 1)
    else
      out[k] = check_boolean("tls." .. k, x, level + 1)
    end
  end
  if (out.cert_file == nil) ~= (out.key_file == nil) then
    fail(level, "bad option 'tls' (cert_file and key_file go together)")
  end
  return out
end

-- name -> checker(value, level) returning the normalised value. A checker
-- that returns check_x(...) passes its own level: a tail call replaces its
-- stack frame, so error() counts one level less.
local checkers = {
  api_url = function(v, level)
    if v == false then
      return false -- no HTTP API: register()/profile() fail with invalid_state
    end
    check_string("api_url", v, level + 1)
    if not (v:match("^http://[^/]") or v:match("^https://[^/]")) then
      fail(level, "bad option 'api_url' (http:// or https:// URL expected, got '%s')", v)
    end
    return (v:gsub("/+$", ""))
  end,
  fix_host = function(v, level)
    return check_string("fix_host", v, level, { max = 253 })
  end,
  fix_port = function(v, level)
    return check_number("fix_port", v, 1, 65535, level, true)
  end,
  tls = function(v, level)
    return check_tls(v, level)
  end,
  target_comp_id = function(v, level)
    check_string("target_comp_id", v, level + 1, { max = 64 })
    if v:find("[=|%s]") then
      fail(level, "bad option 'target_comp_id' (no '=', '|' or spaces allowed)")
    end
    return v
  end,
  sender_comp_id = function(v, level)
    -- login()'s client_id when it is called without one
    check_string("sender_comp_id", v, level + 1, { max = 64 })
    if v:find("[=|%s\128-\255]") then
      fail(level, "bad option 'sender_comp_id' (no '=', '|', spaces or non-ASCII bytes allowed)")
    end
    return v
  end,
  heartbeat = function(v, level)
    return check_number("heartbeat", v, 1, 3600, level, true)
  end,
  timeout = function(v, level)
    return check_number("timeout", v, 0.001, 3600, level)
  end,
  connect_timeout = function(v, level)
    return check_number("connect_timeout", v, 0.001, 3600, level)
  end,
  logon_timeout = function(v, level)
    return check_number("logon_timeout", v, 0.001, 3600, level)
  end,
  logout_timeout = function(v, level)
    return check_number("logout_timeout", v, 0.001, 3600, level)
  end,
  store = function(v, level)
    if v == false then
      return false
    end
    return check_string("store", v, level, { max = 4096 })
  end,
  fsync = function(v, level)
    return check_boolean("fsync", v, level)
  end,
  resend_window = function(v, level)
    return check_number("resend_window", v, 1, 1 << 31, level + 1, true)
  end,
  reset_on_logon = function(v, level)
    return check_boolean("reset_on_logon", v, level)
  end,
  logon_username = function(v, level)
    return check_string("logon_username", v, level, { max = 256 })
  end,
  logon_password = function(v, level)
    return check_string("logon_password", v, level, { max = 256 })
  end,
  max_message_size = function(v, level)
    return check_number("max_message_size", v, 256, 16 * 1024 * 1024, level, true)
  end,
  trace = function(v, level)
    local mt = getmetatable(v)
    if type(v) ~= "function" and not (mt and mt.__call) then
      fail(level, "bad option 'trace' (function expected, got %s)", type(v))
    end
    return v
  end,
  max_send_queue = function(v, level)
    return check_number("max_send_queue", v, 1024, 1024 * 1024 * 1024, level, true)
  end,
  dictionary = function(v, level)
    local dict = require("betatrader.dict")
    if dict.is(v) then
      return v
    end
    check_string("dictionary", v, level + 1, { max = 4096 })
    return dict.load(v, level + 1)
  end,
  validate = function(v, level)
    if v ~= "off" and v ~= "warn" and v ~= "reject" then
      fail(level, "bad option 'validate' (\"off\", \"warn\" or \"reject\" expected, got %s)",
        type(v) == "string" and "'" .. v .. "'" or type(v))
    end
    return v
  end,
  auth = function(v, level)
    if v ~= "user_request" and v ~= "logon" then
      fail(level, "bad option 'auth' (\"user_request\" or \"logon\" expected, got %s)",
        type(v) == "string" and "'" .. v .. "'" or type(v))
    end
    return v
  end,
  check_comp_id = function(v, level)
    if v ~= true and v ~= "session" then
      fail(level, "bad option 'check_comp_id' (true or \"session\" expected, got %s)",
        type(v) == "string" and "'" .. v .. "'" or tostring(v))
    end
    return v
  end,
  logon_seq = function(v, level)
    if v ~= "strict" and v ~= "adopt" then
      fail(level, "bad option 'logon_seq' (\"strict\" or \"adopt\" expected, got %s)",
        type(v) == "string" and "'" .. v .. "'" or type(v))
    end
    return v
  end,
  begin_strings = function(v, level)
    if type(v) ~= "table" then
      fail(level, "bad option 'begin_strings' (table expected, got %s)", type(v))
    end
    local out, has44 = {}, false
    for i = 1, #v do
      local b = v[i]
      if type(b) ~= "string" or not b:match("^FIX[%w.]*$") or #b > 16 then
        fail(level, "bad option 'begin_strings' (entry %d: a BeginString such as \"FIXT.1.1\" "
          .. "expected, got %s)", i, type(b) == "string" and "'" .. b .. "'" or type(b))
      end
      has44 = has44 or b == "FIX.4.4"
      out[i] = b
    end
    for k in pairs(v) do
      if math.type(k) ~= "integer" or k < 1 or k > #v then
        fail(level, "bad option 'begin_strings' (a list expected, got key %s)", tostring(k))
      end
    end
    if not has44 then
      -- session messages and everything sent are FIX.4.4 whatever the list says
      fail(level, "bad option 'begin_strings' (must include \"FIX.4.4\")")
    end
    if #out > 8 then
      fail(level, "bad option 'begin_strings' (at most 8 entries)")
    end
    return out
  end,
  reconnect = function(v, level)
    if v == false then
      return false
    end
    if type(v) ~= "table" then
      fail(level, "bad option 'reconnect' (false or table expected, got %s)", type(v))
    end
    local known = { interval = 1, max_interval = 1, backoff = 1, jitter = 1, attempts = 1 }
    for k in pairs(v) do
      if not known[k] then
        fail(level, "bad option 'reconnect' (unknown field '%s')", tostring(k))
      end
    end
    local d = rc_defaults
    local out = {
      interval = check_number("reconnect.interval", v.interval or d.interval, 0.001, 3600, level),
      backoff = check_number("reconnect.backoff", v.backoff or d.backoff, 1, 100, level),
      jitter = check_number("reconnect.jitter", v.jitter or d.jitter, 0, 1, level),
    }
    out.max_interval = check_number("reconnect.max_interval", v.max_interval or
      math.max(d.max_interval, out.interval), out.interval, 86400, level)
    if v.attempts ~= nil then
      out.attempts = check_number("reconnect.attempts", v.attempts, 1, 1 << 31, level, true)
    end
    return out
  end,
  max_response_size = function(v, level)
    return check_number("max_response_size", v, 256, 64 * 1024 * 1024, level, true)
  end,
}

-- The defaults come from the C core's one table (csrc/core/defaults.h, as
-- core.defaults). connect_timeout, logon_timeout and logout_timeout are left
-- out: they default to the user's timeout (which defaults to the same 10 s);
-- so is reconnect, whose fields they are (the option is off by default).
local per_timeout = { connect_timeout = true, logon_timeout = true, logout_timeout = true,
  reconnect = true }
M.defaults = { fsync = false, reset_on_logon = false, auth = "user_request" }
for k, v in pairs(core_defaults) do
  if not per_timeout[k] then
    M.defaults[k] = v
  end
end

--- Check a user's option table and return a complete, normalised copy.
-- Raises (at the caller's caller, level 3 by default) on the first bad option.
function M.check(opts, level)
  level = level or 2
  if opts == nil then
    opts = {}
  elseif type(opts) ~= "table" then
    fail(level, "bad argument #1 to 'client' (table expected, got %s)", type(opts))
  end
  local out = {}
  for k, v in pairs(opts) do
    if type(k) ~= "string" then
      fail(level, "bad option %s (option names are strings)", tostring(k))
    end
    local check = checkers[k]
    if not check then
      fail(level, "unknown option '%s'", k)
    end
    out[k] = check(v, level + 1)
  end
  for k, v in pairs(M.defaults) do
    if out[k] == nil then
      out[k] = v
    end
  end
  out.dictionary = out.dictionary or require("betatrader.dict").default()
  out.validate = out.validate or "off"
  out.connect_timeout = out.connect_timeout or out.timeout
  out.logon_timeout = out.logon_timeout or out.timeout
  out.logout_timeout = out.logout_timeout or out.timeout
  if out.api_url and out.api_url:match("^https://") and out.tls == nil then
    -- https is verified against the system CAs with no extra options; the
    -- FIX channel stays plain unless tls is given.
    out.http_tls = { verify = true }
  else
    out.http_tls = out.tls or { verify = true }
  end
  if (out.logon_username == nil) ~= (out.logon_password == nil) then
    fail(level, "bad option 'logon_username' (logon_username and logon_password go together)")
  end
  return out
end

return M
