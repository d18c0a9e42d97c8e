-- FIX by name: the FIX 4.4 dictionary, sending and receiving by name with
-- repeating groups, custom dictionaries, inbound validation.
local bt = require("betatrader")
local dict = require("betatrader.dict")
local testing = require("betatrader.testing")

local SOH = "\1"

local function bars(frame)
	return (frame:gsub(SOH, "|"))
end

-- A whole frame around body fields given as "tag=value|..." (| for SOH).
local function frame(msg_type, body)
	local b = ("35=%s|49=BETA_EXCHANGE|56=CLIENT0001|34=2|52=20250101-12:00:00.000|%s|")
		:format(msg_type, body):gsub("|", SOH)
	local s = "8=FIX.4.4" .. SOH .. "9=" .. #b .. SOH .. b
	local sum = 0
	for i = 1, #s do
		sum = sum + s:byte(i)
	end
	return s .. ("10=%03d"):format(sum % 256) .. SOH
end

-- The body of a frame (after 52=...|, before 10=) in |-form.
local function body(f)
	return bars(f):match("|52=[^|]*|(.*)|10=%d+|$")
end

local function raises(pattern, fn)
	local ok, err = pcall(fn)
	assert.is_false(ok, "expected an error matching " .. pattern)
	assert.matches(pattern, err)
end

local function nos(extra)
	local t = {
		ClOrdID = "ORD1",
		Symbol = "EUR/USD",
		Side = "BUY",
		OrderQty = 1000000,
		OrdType = "LIMIT",
		Price = 1.08345,
		TimeInForce = "DAY",
		TransactTime = bt.utc(1735732800.123),
	}
	for k, v in pairs(extra or {}) do
		t[k] = v
	end
	return t
end

local function read(path)
	local f = assert(io.open(path, "rb"))
	local s = f:read("a")
	f:close()
	return s
end

local function write_tmp(text)
	local path = os.tmpname()
	local f = assert(io.open(path, "wb"))
	f:write(text)
	f:close()
	return path
end

-- FIX44.xml plus a field VenueTag (5001) in NewOrderSingle and a Side value
-- Z = ZIGZAG: what a venue's own dictionary adds.
local function custom_dictionary()
	local xml = read("dict/FIX44.xml")
	xml = xml:gsub("(<message name='NewOrderSingle' msgtype='D' msgcat='app'>\n)",
		"%1   <field name='VenueTag' required='N' />\n", 1)
	xml = xml:gsub("(<field number='54' name='Side' type='CHAR'>\n)",
		"%1   <value enum='Z' description='ZIGZAG' />\n", 1)
	xml = xml:gsub("( <fields>\n)", "%1  <field number='5001' name='VenueTag' type='STRING' />\n", 1)
	xml = xml:gsub("( <messages>\n)", "%1  <message name='VenueHello' msgtype='U7' msgcat='app'>\n"
		.. "   <field name='VenueTag' required='Y' />\n  </message>\n", 1)
	return write_tmp(xml)
end

describe("the FIX 4.4 dictionary", function()
	local d = dict.default()

	it("gives constants by name", function()
		assert.equal("1", bt.fix44.Side.BUY)
		assert.equal("2", bt.fix44.OrdStatus.FILLED)
		assert.equal(11, bt.fix44.tags.ClOrdID)
		assert.equal(268, bt.fix44.tags.NoMDEntries)
		assert.equal("D", bt.fix44.messages.NewOrderSingle)
		assert.equal("W", bt.fix44.messages.MarketDataSnapshotFullRefresh)
	end)

	it("describes fields by name or tag", function()
		assert.same({ "Price", 44, "PRICE" }, { d:field("Price") })
		assert.same({ "MDEntryType", 269, "CHAR" }, { d:field(269) })
		assert.is_nil(d:field("NoSuchField"))
	end)

	it("bt.utc gives a UTCTIMESTAMP with milliseconds", function()
		assert.equal("19700101-00:00:00.000", bt.utc(0))
		assert.equal("20250101-12:00:00.123", bt.utc(1735732800.123))
		assert.matches("^%d%d%d%d%d%d%d%d%-%d%d:%d%d:%d%d%.%d%d%d$", bt.utc())
		raises("bad argument #1 to 'utc' %(seconds out of range%)", function()
			bt.utc(-1)
		end)
	end)
end)

describe("encoding by name", function()
	local d = dict.default()

	it("writes a NewOrderSingle in dictionary order with enum names and typed values", function()
		local f = d:encode("NewOrderSingle", nos(), { sender = "CLIENT0001", target = "BETA_EXCHANGE" })
		assert.equal("11=ORD1|55=EUR/USD|54=1|60=20250101-12:00:00.123|38=1000000|40=2|44=1.08345|59=0",
			body(f))
		assert.matches("^8=FIX%.4%.4|9=%d+|35=D|49=CLIENT0001|56=BETA_EXCHANGE|34=1|", bars(f))
	end)

	it("takes wire values, numbers, booleans and seconds for timestamps", function()
		local f = d:encode("NewOrderSingle", nos({
			Side = "2",
			OrdType = 2,
			OrderQty = 2.5e6,
			Price = 0.0000001,
			TransactTime = 0,
			LocateReqd = true,
		}))
		assert.equal("11=ORD1|55=EUR/USD|54=2|114=Y|60=19700101-00:00:00.000|38=2500000|40=2"
			.. "|44=0.0000001|59=0", body(f))
	end)

	it("writes decimals as the shortest plain text that reads back as the same number", function()
		local function price(x)
			return body(d:encode("NewOrderSingle", nos({ Price = x }))):match("|44=([^|]*)|")
		end
		local cases = { [1.08345] = "1.08345", [0.5] = "0.5", [100.25] = "100.25",
			[123456.789] = "123456.789", [1e-5] = "0.00001", [0.1 + 0.2] = "0.30000000000000004", [-1.5] = "-1.5",
			[2.5e6] = "2500000", [1e-9] = "0.000000001", [123456789012.5] = "123456789012.5" }
		for x, want in pairs(cases) do
			assert.equal(want, price(x))
		end
		-- any price of up to 8 significant digits reads as Lua's own %.15g
		for _ = 1, 2000 do
			local x = math.random(1, 10 ^ 8) / 10 ^ math.random(0, 8)
			local g = ("%.15g"):format(x)
			if not g:find("e") then -- below 1e-4 %g has an exponent, FIX has none
				assert.equal(g, price(x))
			end
		end
	end)

	it("writes an OrderCancelRequest", function()
		local f = d:encode("OrderCancelRequest", {
			OrigClOrdID = "ORD1",
			ClOrdID = "CXL1",
			Symbol = "EUR/USD",
			Side = "SELL",
			TransactTime = bt.utc(0),
			OrderQty = 5,
		})
		assert.equal("41=ORD1|11=CXL1|55=EUR/USD|54=2|60=19700101-00:00:00.000|38=5", body(f))
	end)

	it("writes groups: count by the library, delimiter first, nested groups", function()
		local f = d:encode("MarketDataRequest", {
			MDReqID = "R1",
			SubscriptionRequestType = "SNAPSHOT",
			MarketDepth = 1,
			NoMDEntryTypes = { { MDEntryType = "BID" }, { MDEntryType = "1" } },
			NoRelatedSym = {
				{ SecurityID = "EU", Symbol = "EUR/USD", NoSecurityAltID = {
					{ SecurityAltIDSource = "4", SecurityAltID = "X1" },
					{ SecurityAltID = "X2" },
				} },
				{ Symbol = "GBP/USD" },
			},
		})
		assert.equal("262=R1|263=0|264=1|267=2|269=0|269=1|146=2|55=EUR/USD|48=EU|454=2|455=X1|456=4"
			.. "|455=X2|55=GBP/USD", body(f))
	end)

	it("raises naming the message, the field and the rule, at the caller's line", function()
		local at = "^spec/dict_spec%.lua:%d+: "
		raises(at .. "bad argument #1 to 'encode' %(unknown message 'NewOrderSingel' %(did you mean "
			.. "'NewOrderSingle'%?%)%)$", function()
				d:encode("NewOrderSingel", nos())
			end)
		raises(at .. "bad argument #2 to 'encode' %(NewOrderSingle: unknown field 'ClOrID' %(did you "
			.. "mean 'ClOrdID'%?%)%)$", function()
				d:encode("NewOrderSingle", nos({ ClOrID = "x" }))
			end)
		raises("%(NewOrderSingle: unknown field 'Frobnicate'%)$", function()
			d:encode("NewOrderSingle", nos({ Frobnicate = "x" }))
		end)
		raises("%(NewOrderSingle: 'BYU' is not a valid Side %(54%) value %(did you mean 'BUY'%?%)%)$",
			function()
				d:encode("NewOrderSingle", nos({ Side = "BYU" }))
			end)
		raises("%(NewOrderSingle: Price %(44%) is PRICE, got boolean%)$", function()
			d:encode("NewOrderSingle", nos({ Price = true }))
		end)
		raises("%(NewOrderSingle: '1%.2%.3' is not a valid PRICE for Price %(44%)%)$", function()
			d:encode("NewOrderSingle", nos({ Price = "1.2.3" }))
		end)
		raises("%(NewOrderSingle: Price %(44%) is PRICE, got table%)$", function()
			d:encode("NewOrderSingle", nos({ Price = {} }))
		end)
		raises("%(NewOrderSingle: 'noon' is not a valid UTCTIMESTAMP for TransactTime %(60%)%)$", function()
			d:encode("NewOrderSingle", nos({ TransactTime = "noon" }))
		end)
		raises("%(NewOrderSingle: '20250132' is not a valid LOCALMKTDATE for SettlDate %(64%)%)$", function()
			d:encode("NewOrderSingle", nos({ SettlDate = "20250132" }))
		end)
		raises("%(NewOrderSingle: '2025%-03' is not a valid MONTHYEAR for MaturityMonthYear %(200%)%)$",
			function()
				d:encode("NewOrderSingle", nos({ MaturityMonthYear = "2025-03" }))
			end)
		assert.matches("|64=20250102|", bars(d:encode("NewOrderSingle", nos({ SettlDate = 20250102 }))))
		assert.matches("|200=202503|", bars(d:encode("NewOrderSingle", nos({ MaturityMonthYear = "202503" }))))
		raises("%(MarketDataRequest: MarketDepth %(264%) is INT, got non%-integer 1%.5%)$", function()
			d:encode("MarketDataRequest", { MDReqID = "R", SubscriptionRequestType = 0, MarketDepth = 1.5,
				NoMDEntryTypes = { { MDEntryType = 0 } }, NoRelatedSym = { { Symbol = "A" } } })
		end)
		raises("%(NewOrderSingle: required field Side %(54%) is missing%)$", function()
			local t = nos()
			t.Side = nil
			d:encode("NewOrderSingle", t)
		end)
		raises("%(NewOrderSingle: field MDReqID %(262%) is not part of this message%)$", function()
			d:encode("NewOrderSingle", nos({ MDReqID = "R1" }))
		end)
		raises("%(NewOrderSingle: SenderCompID %(49%) is written by the session%)$", function()
			d:encode("NewOrderSingle", nos({ SenderCompID = "ME" }))
		end)
		raises("%(NewOrderSingle: ClOrdID %(11%): value is empty or contains SOH%)$", function()
			d:encode("NewOrderSingle", nos({ ClOrdID = "" }))
		end)
		raises("%(NewOrderSingle: field names expected, got key 1 %(for tag numbers use the raw form",
			function()
				d:encode("NewOrderSingle", { "x", ClOrdID = "A" })
			end)
		raises("%(Logon: session message Logon %(35=A%) is sent by the session%)$", function()
			d:encode("Logon", { EncryptMethod = 0, HeartBtInt = 30 })
		end)
	end)

	it("raises on group misuse, naming the entry", function()
		local function mdr(extra)
			local t = { MDReqID = "R", SubscriptionRequestType = "SNAPSHOT", MarketDepth = 0,
				NoMDEntryTypes = { { MDEntryType = "BID" } }, NoRelatedSym = { { Symbol = "EUR/USD" } } }
			for k, v in pairs(extra) do
				t[k] = v
			end
			return t
		end
		raises("%(MarketDataRequest: group NoRelatedSym expects an array of tables, got string%)$",
			function()
				d:encode("MarketDataRequest", mdr({ NoRelatedSym = "EUR/USD" }))
			end)
		raises("%(MarketDataRequest: NoRelatedSym%[2%] must be a table, got string%)$", function()
			d:encode("MarketDataRequest", mdr({ NoRelatedSym = { { Symbol = "A" }, "B" } }))
		end)
		raises("%(MarketDataRequest%.NoRelatedSym%[2%]: the first field of each entry, Symbol %(55%), "
			.. "is missing%)$", function()
				d:encode("MarketDataRequest", mdr({ NoRelatedSym = { { Symbol = "A" }, { SecurityID = "B" } } }))
			end)
		raises("%(MarketDataRequest%.NoMDEntryTypes%[1%]: required field MDEntryType %(269%) is missing%)$",
			function()
				d:encode("MarketDataRequest", mdr({ NoMDEntryTypes = { {} } }))
			end)
		raises("%(MarketDataRequest%.NoMDEntryTypes%[1%]: 'ASK' is not a valid MDEntryType %(269%) value",
			function()
				d:encode("MarketDataRequest", mdr({ NoMDEntryTypes = { { MDEntryType = "ASK" } } }))
			end)
		raises("%(MarketDataRequest%.NoRelatedSym%[1%]%.NoSecurityAltID%[1%]: unknown field 'SecurityAltId' "
			.. "%(did you mean 'SecurityAltID'%?%)%)$", function()
				d:encode("MarketDataRequest", mdr({ NoRelatedSym = { { Symbol = "A",
					NoSecurityAltID = { { SecurityAltId = "x" } } } } }))
			end)
		raises("%(MarketDataRequest: required field NoMDEntryTypes %(267%) is missing%)$", function()
			d:encode("MarketDataRequest", mdr({ NoMDEntryTypes = {} }))
		end)
	end)
end)

describe("decoding by name", function()
	local d = dict.default()
	local er = frame("8", "37=O1|11=ORD1|17=X1|150=F|39=2|55=EUR/USD|54=1|38=1000000|40=2|44=1.08345"
		.. "|151=0|14=1000000|6=1.08345|31=1.08345|60=20250101-12:00:00.123|9999=kept")

	it("answers by name and by tag, with enum names and typed getters", function()
		local m = assert(d:decode(er))
		assert.equal("ExecutionReport", m.MsgType)
		assert.equal("8", m.msg_type)
		assert.equal("ORD1", m.ClOrdID)
		assert.equal("2", m.OrdStatus)
		assert.equal("2", m[39])
		assert.equal("FILLED", m:enum("OrdStatus"))
		assert.equal("TRADE", m:enum("ExecType"))
		assert.equal(1.08345, m:number("LastPx"))
		assert.equal(1000000, m:number("CumQty"))
		assert.equal(1735732800.123, m:time("TransactTime"))
		assert.equal(1000000, m:number(14))
		assert.is_nil(m.Text)
		assert.is_nil(m:number("Text"))
		assert.is_nil(m:enum("OrdRejReason"))
		-- unknown tags are kept
		assert.equal("kept", m[9999])
		assert.same({ 9999, "kept" }, m.fields[#m.fields])
		-- fields is the body; header and trailer apart
		assert.same({ 8, "FIX.4.4" }, m.header[1])
		assert.equal(10, m.trailer[#m.trailer][1])
	end)

	it("typed getters and unknown names fail clearly", function()
		local m = assert(d:decode(frame("8", "37=O1|11=ORD1|17=X1|150=0|39=Q|55=EUR/USD|54=1|151=0|14=0"
			.. "|6=1.2x|60=noon")))
		raises("number: AvgPx %(6%) is not a number: '1%.2x'", function()
			m:number("AvgPx")
		end)
		raises("time: TransactTime %(60%) is not a UTCTimestamp: 'noon'", function()
			m:time("TransactTime")
		end)
		raises("^spec/dict_spec%.lua:%d+: unknown field 'ClOrID' %(did you mean 'ClOrdID'%?%)$", function()
			return m.ClOrID
		end)
		-- lower-case keys are the library's own and read as nil when absent
		assert.is_nil(m.invalid)
		raises("bad argument #1 to 'number' %(unknown field 'Pricee' %(did you mean 'Price'%?%)%)", function()
			m:number("Pricee")
		end)
		assert.same({ nil, "Q" }, { m:enum("OrdStatus") })
	end)

	it("parses a MarketDataSnapshotFullRefresh's groups into arrays, nested groups too", function()
		local w = frame("W", "262=R1|55=EUR/USD|711=2|311=EUR|457=1|458=A1|459=4|311=USD|268=3"
			.. "|269=0|270=1.0834|271=1000000|269=1|270=1.0836|271=2000000|269=2|270=1.0835|271=5")
		local m = assert(d:decode(w))
		assert.equal("MarketDataSnapshotFullRefresh", m.MsgType)
		assert.equal("R1", m.MDReqID)
		assert.equal(3, #m.NoMDEntries)
		local e = m.NoMDEntries[2]
		assert.equal("1", e.MDEntryType)
		assert.equal("OFFER", e:enum("MDEntryType"))
		assert.equal(1.0836, e:number("MDEntryPx"))
		assert.equal("2000000", e[271])
		assert.equal("TRADE", m.NoMDEntries[3]:enum("MDEntryType"))
		-- NoUnderlyings holds a nested NoUnderlyingSecurityAltID group
		assert.equal(2, #m.NoUnderlyings)
		assert.equal("EUR", m.NoUnderlyings[1].UnderlyingSymbol)
		assert.equal("A1", m.NoUnderlyings[1].NoUnderlyingSecurityAltID[1].UnderlyingSecurityAltID)
		assert.equal("USD", m.NoUnderlyings[2].UnderlyingSymbol)
		assert.is_nil(m.NoUnderlyings[2].NoUnderlyingSecurityAltID)
		-- msg[tag] is the first value, inside groups too; the count as sent
		assert.equal("1.0834", m[270])
		assert.equal("3", m[268])
		-- msg.fields lists the body's fields in wire order (built on first use)
		assert.equal(18, #m.fields)
		assert.same({ 262, "R1" }, m.fields[1])
	end)

	it("round-trips a snapshot with groups by name", function()
		local entries = {}
		for i = 1, 20 do
			entries[i] = { MDEntryType = i % 2 == 0 and "BID" or "OFFER", MDEntryPx = 1 + i / 1000,
				MDEntrySize = 1000 * i }
		end
		local f = d:encode("MarketDataSnapshotFullRefresh", { MDReqID = "R9", Symbol = "GBP/USD",
			NoMDEntries = entries })
		local m = assert(d:decode(f, true))
		assert.equal("R9", m.MDReqID)
		assert.equal(20, #m.NoMDEntries)
		for i = 1, 20 do
			assert.equal(1 + i / 1000, m.NoMDEntries[i]:number("MDEntryPx"))
			assert.equal(1000 * i, m.NoMDEntries[i]:number("MDEntrySize"))
		end
	end)

	it("checks a message against the dictionary the way QuickFIX rejects it", function()
		local function problem(msg_type, b)
			return select(2, assert(d:decode(frame(msg_type, b), true)))
		end
		assert.is_nil(problem("8", "37=O1|11=A|17=X1|150=0|39=0|55=E|54=1|151=0|14=0|6=0"))
		assert.equal("Required tag missing (371=54, 373=1)",
			problem("8", "37=O1|11=A|17=X1|150=0|39=0|55=E|151=0|14=0|6=0"))
		assert.equal("Value is incorrect (out of range) for this tag (371=54, 373=5)",
			problem("8", "37=O1|11=A|17=X1|150=0|39=0|55=E|54=Z|151=0|14=0|6=0"))
		assert.equal("Incorrect data format for value (371=6, 373=6)",
			problem("8", "37=O1|11=A|17=X1|150=0|39=0|55=E|54=1|151=0|14=0|6=x"))
		assert.equal("Invalid tag number (371=9999, 373=0)",
			problem("8", "37=O1|11=A|17=X1|150=0|39=0|55=E|54=1|151=0|14=0|6=0|9999=x"))
		assert.equal("Tag not defined for this message type (371=262, 373=2)",
			problem("8", "37=O1|11=A|17=X1|150=0|39=0|55=E|54=1|151=0|14=0|6=0|262=x"))
		assert.equal("Tag appears more than once (371=11, 373=13)",
			problem("8", "37=O1|11=A|11=B|17=X1|150=0|39=0|55=E|54=1|151=0|14=0|6=0"))
		assert.equal("Incorrect NumInGroup count for repeating group (371=268, 373=16)",
			problem("W", "55=E|268=2|269=0|270=1"))
		assert.equal("Required tag missing (371=268, 373=1)", problem("W", "55=E|262=R"))
		assert.is_nil(problem("W", "55=E|268=1|269=0|270=1|271=1"))
		assert.equal("Invalid MsgType (373=11)", problem("ZZ", "55=E"))
	end)

	it("refuses what is not a FIX frame", function()
		assert.same({ nil, "not a valid FIX 4.4 frame: checksum mismatch" },
			{ d:decode(er:gsub("10=%d+", "10=000")) })
	end)
end)

describe("custom dictionaries", function()
	it("a bad file raises naming the file, the line and the problem", function()
		local path = write_tmp("<fix>\n <header>\n  <field name='X'\n</fix>\n")
		raises("^spec/dict_spec%.lua:%d+: dictionary: " .. path:gsub("%p", "%%%0")
			.. ":4: not well%-formed %(invalid token%)$", function()
				bt.dictionary(path)
			end)
		local xml = read("dict/FIX44.xml"):gsub("<field name='ClOrdID' required='Y' />",
			"<field name='ClOrdIdent' required='Y' />", 1)
		local path2 = write_tmp(xml)
		local _, line = xml:sub(1, xml:find("ClOrdIdent")):gsub("\n", "")
		raises("dictionary: " .. path2:gsub("%p", "%%%0") .. ":" .. line + 1 .. ": OrderCancelReject: "
			.. "unknown field 'ClOrdIdent'$", function()
				bt.dictionary(path2)
			end)
		raises("dictionary: /nonexistent/d%.xml: No such file or directory", function()
			bt.dictionary("/nonexistent/d.xml")
		end)
		-- through the client option, at the caller's line
		raises("^spec/dict_spec%.lua:%d+: dictionary: " .. path:gsub("%p", "%%%0") .. ":4: ", function()
			bt.client({ dictionary = path, store = false })
		end)
		os.remove(path)
		os.remove(path2)
	end)

	it("adds a field and an enum value", function()
		local path = custom_dictionary()
		local d = bt.dictionary(path)
		os.remove(path)
		local f = d:encode("NewOrderSingle", nos({ Side = "ZIGZAG", VenueTag = "v1" }))
		assert.equal("5001=v1|11=ORD1|55=EUR/USD|54=Z|60=20250101-12:00:00.123|38=1000000|40=2"
			.. "|44=1.08345|59=0", body(f))
		local m = assert(d:decode(f, true))
		assert.equal("v1", m.VenueTag)
		assert.equal("ZIGZAG", m:enum("Side"))
		assert.equal("ZIGZAG", d:constants().Side.ZIGZAG and "ZIGZAG")
		-- and a message of its own
		local hello = d:encode("VenueHello", { VenueTag = "hi" })
		assert.matches("|35=U7|.*|5001=hi|10=", bars(hello))
		assert.equal("VenueHello", d:decode(hello).MsgType)
		raises("%(VenueHello: required field VenueTag %(5001%) is missing%)", function()
			d:encode("VenueHello", {})
		end)
		-- the default dictionary knows neither
		raises("unknown field 'VenueTag'", function()
			dict.default():encode("NewOrderSingle", nos({ VenueTag = "v1" }))
		end)
	end)

	it("option checks: validate", function()
		raises("bad option 'validate' %(\"off\", \"warn\" or \"reject\" expected, got 'strict'%)", function()
			bt.client({ validate = "strict", store = false })
		end)
	end)
end)

describe("client.fix by name against the local exchange", function()
	local ex
	setup(function()
		ex = testing.exchange({})
	end)
	teardown(function()
		ex:stop()
	end)

	local n = 0
	local function active_client(opts)
		local out = {}
		local o = {
			api_url = ex.api_url,
			fix_host = ex.fix_host,
			fix_port = ex.fix_port,
			store = false,
			timeout = 2,
			trace = function(dir, f)
				out[#out + 1] = dir .. " " .. bars(f)
			end,
		}
		for k, v in pairs(opts or {}) do
			o[k] = v
		end
		local c = bt.client(o)
		n = n + 1
		local id = assert(c.auth:register(("byname%d"):format(n), "s3cret"):await())
		assert(c.auth:login(id, "s3cret"):await())
		return c, out
	end

	local function traced(out, pattern)
		local deadline = bt.now() + 2
		repeat
			for _, line in ipairs(out) do
				if line:find(pattern) then
					return line
				end
			end
			bt.sleep(0.01)
		until bt.now() > deadline
	end

	it("round-trips a NewOrderSingle and reads the ExecutionReport by name", function()
		local c <close>, out = active_client()
		assert.is_true(c.fix:send("NewOrderSingle", nos({ ClOrdID = "N1" })))
		local m = assert(c.fix:receive(2):await())
		assert.equal("ExecutionReport", m.MsgType)
		assert.equal("N1", m.ClOrdID)
		assert.equal("NEW", m:enum("OrdStatus"))
		assert.equal("BUY", m:enum("Side"))
		assert.equal(1000000, m:number("LeavesQty"))
		assert.equal(1.08345, m:number("Price"))
		assert.is_number(m:time("TransactTime"))
		assert.matches("|35=D|.*|11=N1|55=EUR/USD|54=1|60=20250101%-12:00:00%.123|38=1000000|40=2"
			.. "|44=1%.08345|59=0|10=", traced(out, "^out .*|35=D|"))
		-- the raw form keeps working beside it
		assert.is_true(c.fix:send("D", { { 11, "RAW1" }, { 55, "EUR/USD" }, { 54, 2 }, { 38, 5 }, { 40, 1 } }))
		local r = assert(c.fix:receive(2):await())
		assert.equal("RAW1", r.ClOrdID)
		assert.equal("SELL", r:enum("Side"))
		assert.is_true(c.auth:logout():await())
	end)

	it("sends an OrderCancelRequest by name; the answer reads by name", function()
		local c <close> = active_client()
		assert.is_true(c.fix:send("OrderCancelRequest", { OrigClOrdID = "N1", ClOrdID = "C1",
			Symbol = "EUR/USD", Side = "BUY", TransactTime = bt.utc() }))
		local m = assert(c.fix:receive(2):await())
		-- the venue knows no order N1
		assert.equal("OrderCancelReject", m.MsgType)
		assert.equal("C1", m.ClOrdID)
		assert.equal("N1", m.OrigClOrdID)
		assert.equal("ORDER_CANCEL_REQUEST", m:enum("CxlRejResponseTo"))
		assert.equal("UNKNOWN_ORDER", m:enum("CxlRejReason"))
	end)

	it("sends a MarketDataRequest with groups", function()
		local c <close>, out = active_client()
		assert.is_true(c.fix:send("MarketDataRequest", { MDReqID = "MD1", SubscriptionRequestType = "SNAPSHOT",
			MarketDepth = 0, NoMDEntryTypes = { { MDEntryType = "BID" }, { MDEntryType = "OFFER" } },
			NoRelatedSym = { { Symbol = "EUR/USD" } } }))
		assert.matches("|35=V|.*|262=MD1|263=0|264=0|267=2|269=0|269=1|146=1|55=EUR/USD|10=",
			traced(out, "^out .*|35=V|"))
		assert(c.fix:receive(2):await())
	end)

	for _, validate in ipairs({ "off", "reject" }) do
		it("reads the venue's snapshot by name, groups as arrays (validate = " .. validate .. ")", function()
			ex:book("GBP/USD", { bids = { { 1.2641, 1e6 }, { 1.264, 2e6 } }, asks = { { 1.2643, 3e6 } } })
			local c <close> = active_client({ validate = validate })
			assert.is_true(c.fix:send("MarketDataRequest", { MDReqID = "MD2",
				SubscriptionRequestType = "SNAPSHOT", MarketDepth = 0,
				NoMDEntryTypes = { { MDEntryType = "BID" }, { MDEntryType = "OFFER" } },
				NoRelatedSym = { { Symbol = "GBP/USD" } } }))
			local m = assert(c.fix:receive(2):await())
			assert.equal("MarketDataSnapshotFullRefresh", m.MsgType)
			assert.equal("MD2", m.MDReqID)
			assert.equal("GBP/USD", m.Symbol)
			assert.is_nil(m.invalid)
			local got = {}
			for _, e in ipairs(m.NoMDEntries) do
				got[#got + 1] = { e:enum("MDEntryType"), e:number("MDEntryPx"), e:number("MDEntrySize") }
			end
			assert.same({ { "BID", 1.2641, 1000000 }, { "BID", 1.264, 2000000 }, { "OFFER", 1.2643, 3000000 } },
				got)
			ex:book("GBP/USD", { bids = {}, asks = {} })
		end)
	end

	it("by-name misuse raises at the caller's line even when not Active, and sends nothing", function()
		local c <close> = bt.client({ store = false })
		raises("^spec/dict_spec%.lua:%d+: bad argument #2 to 'send' %(NewOrderSingle: unknown field 'Sidee' "
			.. "%(did you mean 'Side'%?%)%)$", function()
				c.fix:send("NewOrderSingle", nos({ Sidee = "BUY" }))
			end)
		assert.same({ nil, "send() while Disconnected: the session is not Active", "invalid_state" },
			{ c.fix:send("NewOrderSingle", nos()) })
	end)

	it("a custom dictionary sends its own field and enum value", function()
		local path = custom_dictionary()
		local c <close>, out = active_client({ dictionary = path })
		os.remove(path)
		assert.is_true(c.fix:send("NewOrderSingle", nos({ ClOrdID = "Z1", Side = "ZIGZAG", VenueTag = "v7" })))
		local m = assert(c.fix:receive(2):await())
		assert.equal("Z1", m.ClOrdID)
		assert.equal("ZIGZAG", m:enum("Side"))
		assert.matches("|5001=v7|11=Z1|55=EUR/USD|54=Z|", traced(out, "^out .*|35=D|"))
		-- its own message goes out by name; this exchange trades only orders
		assert.is_true(c.fix:send("VenueHello", { VenueTag = "hi" }))
		local j = assert(c.fix:receive(2):await())
		assert.equal("BusinessMessageReject", j.MsgType)
		assert.equal("U7", j.RefMsgType)
	end)

	-- The exchange echoes the order's Side into its ExecutionReport, so a
	-- raw order with 54=Z makes it send an ExecutionReport that breaks the
	-- FIX 4.4 dictionary.
	local bad_order = { { 11, "BAD1" }, { 55, "EUR/USD" }, { 54, "Z" }, { 38, 5 }, { 40, 1 } }

	it("validate = \"off\" (the default) delivers a message breaking the dictionary", function()
		local c <close> = active_client()
		assert.is_true(c.fix:send("D", bad_order))
		local m = assert(c.fix:receive(2):await())
		assert.equal("BAD1", m.ClOrdID)
		assert.is_nil(m.invalid)
	end)

	it("validate = \"warn\" delivers it with the problem", function()
		local c <close> = active_client({ validate = "warn" })
		assert.is_true(c.fix:send("D", bad_order))
		local m = assert(c.fix:receive(2):await())
		assert.equal("BAD1", m.ClOrdID)
		assert.equal("Value is incorrect (out of range) for this tag (371=54, 373=5)", m.invalid)
	end)

	it("validate = \"reject\" answers with a session Reject and never delivers it", function()
		local c <close>, out = active_client({ validate = "reject" })
		assert.is_true(c.fix:send("D", bad_order))
		local rej = traced(out, "^out .*|35=3|")
		assert.is_string(rej)
		assert.matches("|45=%d+|371=54|372=8|373=5|58=Value is incorrect %(out of range%) for this tag|",
			rej)
		assert.equal("timeout", select(3, c.fix:receive(0.3):await()))
		-- the session goes on; a good message still arrives
		assert.is_true(c.fix:send("NewOrderSingle", nos({ ClOrdID = "GOOD1" })))
		local m = assert(c.fix:receive(2):await())
		assert.equal("GOOD1", m.ClOrdID)
		assert.equal("Active", c.auth:state())
	end)
end)
