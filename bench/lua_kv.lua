--[[
Cost of a call from Lua: put and get ops/s of 100-byte values through the Lua binding.

    LUA_CPATH="<build>/bindings/lua/?.so;;" LUA_PATH="<build>/bindings/lua/?.lua;;" \
      lua5.4 bench/lua_kv.lua [n=200000] [repeat=3]
    (or: cmake --build <build> --target bench_lua)

Rows:
  cairn put / get           the idiomatic methods (db:put(k, v) picks the kind: one UTF-8 check)
  cairn put(cairn.bytes)    the kind given explicitly (the wrapper made once, outside the loop)
  cairn raw                 the SWIG layer called directly (the binding's floor)
  lua table                 the ceiling: no storage at all
Every cairn row uses sync = "none" (no fsync per write). Keys are 14 bytes ("key:%010d"), values
100 random bytes. Reported: best of `repeat` runs, ops/s, and the ratio to the raw row. Time is
os.clock() (this process's CPU time, user + system), so other load on the machine does not skew
it; compare it with a C loop timed the same way (clock()).
]]

local cairn = require("cairn")
local raw = cairn.raw

local n = tonumber(arg[1]) or 200000
local rep = tonumber(arg[2]) or 3

local clock = os.clock -- CPU time of this single-threaded process (sync = "none": no fsync waits)
local function best(fn)
  local t
  for _ = 1, rep do
    collectgarbage()
    local t0 = clock()
    fn()
    local dt = clock() - t0
    if not t or dt < t then t = dt end
  end
  return t
end

math.randomseed(42)
local bytes = {}
for i = 1, 100 do bytes[i] = string.char(math.random(0, 255)) end
local val = table.concat(bytes)
local keys = {}
for i = 1, n do keys[i] = string.format("key:%010d", i) end

local root = assert(io.popen("mktemp -d")):read("l") -- (the pipe closes when collected)
assert(root and root ~= "", "mktemp -d failed")
local rows = {}

do
  local db = assert(cairn.kv.open(root .. "/kv", { sync = "none" }))
  local put_t = best(function()
    for i = 1, n do db:put(keys[i], val) end
  end)
  local get_t = best(function()
    for i = 1, n do db:get(keys[i]) end
  end)
  rows[#rows + 1] = { "cairn put / get", put_t, get_t }

  local wrapped = cairn.bytes(val)
  local putb_t = best(function()
    for i = 1, n do db:put(keys[i], wrapped) end
  end)
  local get2_t = best(function()
    for i = 1, n do db:get_typed(keys[i]) end
  end)
  rows[#rows + 1] = { "cairn put(cairn.bytes) / get_typed", putb_t, get2_t }

  local h = db._p
  local rput, rget, BYTES = raw.cairn_kv_put, raw.cairn_kv_get, raw.CAIRN_KIND_BYTES
  local rput_t = best(function()
    for i = 1, n do rput(h, keys[i], val, BYTES) end
  end)
  local rget_t = best(function()
    for i = 1, n do rget(h, keys[i]) end
  end)
  rows[#rows + 1] = { "cairn raw (SWIG)", rput_t, rget_t }
  assert(db:get(keys[n]) == val)
  db:close()
end

do
  local t = {}
  local put_t = best(function()
    for i = 1, n do t[keys[i]] = val end
  end)
  local get_t = best(function()
    local x
    for i = 1, n do x = t[keys[i]] end
    return x
  end)
  rows[#rows + 1] = { "lua table", put_t, get_t }
end

os.execute("rm -rf '" .. root .. "'")

local raw_row = rows[3]
print(string.format("Lua %s, cairn %s, n = %d, best of %d, 100-byte values, sync = none",
  _VERSION, cairn.version, n, rep))
print(string.format("%-36s %14s %14s %10s %10s", "row", "put ops/s", "get ops/s", "put/raw", "get/raw"))
for _, r in ipairs(rows) do
  print(string.format("%-36s %14.0f %14.0f %9.2fx %9.2fx", r[1], n / r[2], n / r[3],
    raw_row[2] / r[2], raw_row[3] / r[3]))
end
