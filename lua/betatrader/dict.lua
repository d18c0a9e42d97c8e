--- FIX data dictionaries (QuickFIX XML): the FIX 4.4 one compiled into the
-- module, or a venue's own loaded from a file.
--   dict.default()        -> the FIX 4.4 dictionary (shared, loaded once)
--   dict.load(path)       -> a dictionary; raises "dictionary: FILE:LINE: problem"
-- A dictionary object offers :decode(frame) (a raw FIX frame, e.g. from a log,
-- to a message answering by name, as `fix:receive` gives it),
-- :encode(name, fields) (the frame `fix:send` would write for a message by
-- name), :constants() and :field(name_or_tag).
-- @module betatrader.dict
local core = require("betatrader.core")

local M = {}

local default

--- The FIX 4.4 dictionary compiled into the module (shared, made once).
function M.default()
  default = default or core.dict_default()
  return default
end

--- Loads a QuickFIX XML dictionary; raises "dictionary: FILE:LINE: problem".
-- `level` is the error level for argument errors (as `error`'s).
function M.load(path, level)
  if type(path) ~= "string" then
    error(string.format("bad argument #1 to 'dictionary' (string expected, got %s)", type(path)),
      (level or 1) + 1)
  end
  local d, err = core.dict_load(path)
  if not d then
    error("dictionary: " .. err, (level or 1) + 1)
  end
  return d
end

--- True for a dictionary object.
function M.is(v)
  return type(v) == "userdata" and getmetatable(v) == getmetatable(M.default())
end

return M
