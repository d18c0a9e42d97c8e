--- Quickstart: register a fresh account, log in over FIX, log out, printing
-- every state transition with the time since the start.
--
--   lua5.4 examples/quickstart.lua                 # starts a local exchange
--   lua5.4 examples/quickstart.lua --api-url http://127.0.0.1:8080 \
--          --fix-host 127.0.0.1 --fix-port 9878     # uses a running one
local bt = require("betatrader")

local function usage(msg)
  io.stderr:write("quickstart: ", msg, "\n",
    "usage: quickstart.lua [--api-url URL] [--fix-host HOST] [--fix-port PORT]\n")
  os.exit(2)
end

local opts = {}
local flags = { ["--api-url"] = "api_url", ["--fix-host"] = "fix_host", ["--fix-port"] = "fix_port" }
local i = 1
while i <= #arg do
  local key = flags[arg[i]]
  if not key then
    usage("unknown argument '" .. arg[i] .. "'")
  end
  local v = arg[i + 1] or usage(arg[i] .. " needs a value")
  opts[key] = key == "fix_port" and (math.tointeger(tonumber(v)) or usage("bad port '" .. v .. "'")) or v
  i = i + 2
end

local exchange
if not opts.api_url then
  exchange = require("betatrader.testing").exchange{}
  opts.api_url, opts.fix_host, opts.fix_port = exchange.api_url, exchange.fix_host, exchange.fix_port
  print(string.format("local exchange: %s, FIX %s:%d", opts.api_url, opts.fix_host, opts.fix_port))
end

local client <close> = bt.client{
  api_url = opts.api_url,
  fix_host = opts.fix_host or "127.0.0.1",
  fix_port = opts.fix_port or 9878,
  store = false, -- a fresh account each run: no sequence numbers to keep
  timeout = 5,
}
local auth = client.auth

local t0 = bt.now()
auth:on_state(function(new, old, reason)
  print(string.format("%9.3f ms  %-14s -> %-14s%s", (bt.now() - t0) * 1000, old, new,
    reason and ("  (" .. reason .. ")") or ""))
end)

local username = string.format("quickstart-%d-%d", os.time(), math.random(1e6))
local id = assert(auth:register(username, "s3cret-pass"):await())
print("registered " .. username .. " as " .. id)
assert(auth:login(id, "s3cret-pass"):await())
print("state: " .. auth:state() .. ", SenderCompID: " .. auth:sender_comp_id())
assert(auth:logout():await())
print("state: " .. auth:state())

if exchange then
  exchange:stop()
end
