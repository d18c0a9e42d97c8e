-- Fails when a public function of lua/betatrader/*.lua has no LDoc comment.
-- Public: `function T.name` / `function T:name` whose name does not start with
-- "_". Its doc comment is the `---` block right above it (an internal helper
-- says so with `@local`, which LDoc leaves out of the reference).
-- Usage: lua5.4 scripts/doccheck.lua FILE...
local missing = 0
for _, path in ipairs(arg) do
  local f = assert(io.open(path, "r"))
  local lines = {}
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
  for i, line in ipairs(lines) do
    local name = line:match("^%s*function%s+[%w_]+[.:]([%w_]+)%s*%(")
    if name and not name:match("^_") then
      -- Walk up over the comment block; it must start with "---".
      local j, doc = i - 1, false
      while j >= 1 and lines[j]:match("^%s*%-%-") do
        if lines[j]:match("^%s*%-%-%-") then doc = true end
        j = j - 1
      end
      if not doc then
        missing = missing + 1
        io.stderr:write(string.format("%s:%d: public function '%s' has no doc comment (---)\n",
          path, i, name))
      end
    end
  end
end
if missing > 0 then
  io.stderr:write(string.format("doccheck: %d public function(s) without a doc comment\n", missing))
  os.exit(1)
end
print("doccheck: every public function is documented")
