-- Runs every ```lua block of a Markdown guide (docs/lua.md), in order, each in a fresh interpreter
-- whose working directory is one temporary directory shared by all blocks (so relative paths in
-- the examples land there). A block passes when it exits 0.
--   lua5.4 run_docs.lua docs/lua.md        (LUA_CPATH/LUA_PATH must find the cairn modules)
-- Ends with one line "N passed, N failed".

local doc = assert(arg[1], "usage: run_docs.lua GUIDE.md")
local f = assert(io.open(doc, "r"))
local text = f:read("a")
f:close()

-- the interpreter running this script
local lua = arg[-1] or "lua5.4"
local i = -1
while arg[i - 1] do i = i - 1 end
lua = arg[i]

local blocks = {}
local lineno, cur, start = 0, nil, 0
for line in (text .. "\n"):gmatch("(.-)\n") do
  lineno = lineno + 1
  if cur then
    if line:match("^```%s*$") then
      blocks[#blocks + 1] = { code = table.concat(cur, "\n"), line = start }
      cur = nil
    else
      cur[#cur + 1] = line
    end
  elseif line:match("^```lua%s*$") then
    cur, start = {}, lineno + 1
  end
end
assert(#blocks > 0, "no ```lua blocks in " .. doc)

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local dir = assert(io.popen("mktemp -d")):read("l") -- (the pipe closes when collected)
assert(dir and dir ~= "", "mktemp -d failed")
local passed, failed = 0, 0
for n, b in ipairs(blocks) do
  local path = string.format("%s/block%02d.lua", dir, n)
  local out = assert(io.open(path, "w"))
  out:write(b.code, "\n")
  out:close()
  local ok = os.execute("cd " .. q(dir) .. " && " .. q(lua) .. " " .. q(path) .. " 2>&1")
  if ok then
    passed = passed + 1
  else
    failed = failed + 1
    print(string.format("FAIL %s block %d (line %d)", doc, n, b.line))
  end
end
os.execute("rm -rf " .. q(dir))
print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1, true)
