-- spec/presets_spec.lua's peer with the C++ gateway's manners, just enough
-- for the client side (the exchange's --compat mode is the full one): a
-- Logon answered 98=0 108=30 from its own counter (34=41), 35=BE and 35=2
-- never answered, no heartbeats but a TestRequest answered, a MarketDataRequest answered under FIXT.1.1 from
-- TRADING_CORE, an order with an ExecutionReport stamped 49=1 56=7, a
-- Logout answered. One connection; prints READY <port>, then IN <type>.
local socket = require("cqueues.socket")
local srv = assert(socket.listen("127.0.0.1", 0))
assert(srv:listen())
local _, _, port = srv:localname()
io.stdout:write("READY ", port, "\n")
io.stdout:flush()
local con = assert(srv:accept())
con:setmode("b", "b")

local function frame(begin, fields)
  local body = table.concat(fields, "\1") .. "\1"
  local head = "8=" .. begin .. "\0019=" .. #body .. "\1" .. body
  local sum = 0
  for i = 1, #head do
    sum = sum + head:byte(i)
  end
  return head .. ("10=%03d\1"):format(sum % 256)
end

local function field()
  local t = {}
  repeat
    local c = con:read(1)
    if not c then
      return nil
    end
    t[#t + 1] = c
  until c == "\1"
  return table.concat(t)
end

local function read_msg()
  if not field() then
    return nil
  end
  local len = tonumber(field():match("^9=(%d+)"))
  local body = con:read(len + 7)
  return body and { type = body:match("^35=([^\1]+)"), sender = body:match("\00149=([^\1]+)"),
    clordid = body:match("\00111=([^\1]+)"), test_req_id = body:match("\001112=([^\1]+)") }
end

local seq = 40
local function send(begin, msg_type, sender, target, rest)
  seq = seq + 1
  local now = os.date("!%Y%m%d-%H:%M:%S") .. ".000"
  local f = { "35=" .. msg_type, "49=" .. sender, "56=" .. target, "34=" .. seq, "52=" .. now }
  for _, x in ipairs(rest) do
    f[#f + 1] = x
  end
  assert(con:write(frame(begin, f)))
  con:flush()
end

while true do
  local m = read_msg()
  if not m then
    break
  end
  io.stdout:write("IN ", m.type, "\n")
  io.stdout:flush()
  if m.type == "A" then
    send("FIX.4.4", "A", "BETA_EXCHANGE", m.sender, { "98=0", "108=30" })
  elseif m.type == "1" then -- it sends no heartbeats of its own, but answers this
    send("FIX.4.4", "0", "BETA_EXCHANGE", m.sender, { "112=" .. m.test_req_id })
  elseif m.type == "V" then
    send("FIXT.1.1", "W", "TRADING_CORE", m.sender, { "55=EURUSD", "268=1", "269=0", "270=1.1",
      "271=100" })
  elseif m.type == "D" then
    send("FIX.4.4", "8", "1", "7", { "37=1", "11=" .. m.clordid, "17=1", "39=0", "55=EURUSD",
      "54=1", "38=100", "14=0", "151=100" })
  elseif m.type == "5" then
    send("FIX.4.4", "5", "BETA_EXCHANGE", m.sender, {})
    break
  end
end
con:close()
