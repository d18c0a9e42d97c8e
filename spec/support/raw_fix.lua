-- A raw FIX peer for the specs that check the exchange's wire behaviour byte
-- by byte (spec/compat_spec.lua, spec/hostile_spec.lua): frames built by hand
-- with their BodyLength and CheckSum, read back from a cqueues socket and
-- parsed into { [tag] = first value, tags = { tag, ... }, raw = "8=...|" }.
-- Loaded as require("spec.support.raw_fix") from the tree's root.
local bt = require("betatrader")
local socket = require("cqueues.socket")

local M = {}

local SOH = "\1"
M.SOH = SOH

-- fields = { { tag, value }, ... } after 8 and 9; begin defaults to FIX.4.4.
function M.frame(fields, begin)
	local body = {}
	for _, f in ipairs(fields) do
		body[#body + 1] = f[1] .. "=" .. f[2] .. SOH
	end
	body = table.concat(body)
	local head = "8=" .. (begin or "FIX.4.4") .. SOH .. "9=" .. #body .. SOH
	local sum = 0
	for i = 1, #head + #body do
		sum = sum + (head .. body):byte(i)
	end
	return head .. body .. ("10=%03d"):format(sum % 256) .. SOH
end

-- The first value of each tag by number, every tag in order in .tags, and
-- the frame with SOH shown as | in .raw.
function M.parse(raw)
	local m = { raw = raw:gsub(SOH, "|"), tags = {} }
	for tag, val in raw:gmatch("(%d+)=([^" .. SOH .. "]*)" .. SOH) do
		tag = tonumber(tag)
		m.tags[#m.tags + 1] = tag
		if m[tag] == nil then
			m[tag] = val
		end
	end
	return m
end

local Peer = {}
Peer.__index = Peer

-- A peer connected to ex's FIX port as comp_id, its next MsgSeqNum 1.
-- opts.closed = "raise": recv() raises when the exchange closes the
-- connection (for specs where a close is never expected); by default recv()
-- returns false then.
function M.peer(ex, comp_id, opts)
	local s = assert(socket.connect({ host = ex.fix_host, port = ex.fix_port }))
	s:setmode("b", "b")
	local raise = opts ~= nil and opts.closed == "raise"
	return setmetatable({ s = s, buf = "", comp = comp_id, seq = 1, raise = raise }, Peer)
end

function Peer:raw(bytes)
	assert(self.s:xwrite(bytes, "n"))
	assert(self.s:flush())
end

-- A message with the header first and the next MsgSeqNum, which it takes;
-- with seq, that MsgSeqNum instead and the counter stays where it is.
function Peer:msg(msg_type, fields, seq)
	local all = {
		{ 35, msg_type },
		{ 49, self.comp },
		{ 56, "BETA_EXCHANGE" },
		{ 34, seq or self.seq },
		{ 52, bt.utc() },
	}
	for _, f in ipairs(fields or {}) do
		all[#all + 1] = f
	end
	if not seq then
		self.seq = self.seq + 1
	end
	return M.frame(all)
end

function Peer:send(msg_type, fields, seq)
	self:raw(self:msg(msg_type, fields, seq))
end

-- The next whole frame; nil once `timeout` seconds pass without one; false
-- once the exchange closed (or a raise, see M.peer).
function Peer:recv(timeout)
	local deadline = bt.now() + timeout
	while true do
		local stop = self.buf:find(SOH .. "10=%d%d%d" .. SOH)
		if stop then
			local raw = self.buf:sub(1, stop + 7)
			self.buf = self.buf:sub(stop + 8)
			return M.parse(raw)
		end
		local left = deadline - bt.now()
		if left <= 0 then
			return nil
		end
		self.s:settimeout(left)
		local data, err = self.s:xread(-4096, "b")
		if not data then
			-- cqueues keeps a timeout as the socket's error until cleared
			if err == 110 then
				self.s:clearerr()
				return nil
			end
			assert(not self.raise, "read: " .. tostring(err))
			return false
		end
		self.buf = self.buf .. data
	end
end

function Peer:close()
	self.s:close()
end

return M
