-- The small test harness of the binding's Lua tests (test.lua, test_table.lua):
--   local h = dofile(<this directory> .. "/harness.lua")
--   h.test(name, fn); h.eq(a, b); h.deq(a, b); h.raises(name, f, ...); h.fails(name, ...);
--   h.tmp(name) -> a fresh path in the run's temporary directory; h.finish() prints
--   "N passed, N failed", removes the directory and exits (status 0 only if nothing failed).
-- The first command-line argument, if any, runs only the tests whose name contains it.

local passed, failed = 0, 0
local filter = arg and arg[1]

local function mktemp_d()
  local p = assert(io.popen("mktemp -d"))
  local d = p:read("l")
  p:close()
  return assert(d, "mktemp -d failed")
end
local base = mktemp_d()
local counter = 0
local function tmp(name)
  counter = counter + 1
  return string.format("%s/%d-%s", base, counter, name or "db")
end

local function test(name, fn)
  if filter and not name:find(filter, 1, true) then return end
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    passed = passed + 1
  else
    failed = failed + 1
    io.stdout:write("FAIL ", name, "\n  ", tostring(err):gsub("\n", "\n  "), "\n")
  end
  collectgarbage() -- finalize handles a failed test left open
end

local function eq(a, b, msg)
  if a ~= b then
    error(string.format("%s: expected %s (%s), got %s (%s)", msg or "eq", tostring(b),
      math.type(b) or type(b), tostring(a), math.type(a) or type(a)), 2)
  end
end

-- Deep equality for JSON-shaped Lua values (also compares array marks and number subtypes).
local function deq(a, b, path)
  path = path or "value"
  if type(a) ~= type(b) then error(path .. ": type " .. type(a) .. " vs " .. type(b), 2) end
  if type(a) == "number" and math.type(a) ~= math.type(b) then
    error(path .. ": " .. math.type(a) .. " vs " .. math.type(b), 2)
  end
  if type(a) ~= "table" then
    if a ~= b then error(path .. ": " .. tostring(a) .. " vs " .. tostring(b), 2) end
    return
  end
  if getmetatable(a) ~= getmetatable(b) then error(path .. ": metatables differ", 2) end
  for k, v in pairs(a) do deq(v, b[k], path .. "." .. tostring(k)) end
  for k in pairs(b) do if a[k] == nil then error(path .. ": missing " .. tostring(k), 2) end end
end

-- f(...) must raise an error starting with `name`.
local function raises(name, f, ...)
  local ok, err = pcall(f, ...)
  if ok then error("expected error " .. name .. ", call succeeded", 2) end
  if type(err) ~= "string" or err:sub(1, #name + 1) ~= name .. ":" then
    error("expected error " .. name .. ", got: " .. tostring(err), 2)
  end
  return err
end

-- a call must return nil, message, name
local function fails(name, v, msg, got)
  if v ~= nil or got ~= name then
    error(string.format("expected nil, msg, %s; got %s, %s, %s", name, tostring(v), tostring(msg), tostring(got)), 2)
  end
  if type(msg) ~= "string" or msg == "" then error("expected a message string", 2) end
end

local function finish()
  os.execute("rm -rf '" .. base .. "'")
  print(string.format("%d passed, %d failed", passed, failed))
  os.exit(failed == 0 and 0 or 1, true)
end

return { test = test, eq = eq, deq = deq, raises = raises, fails = fails, tmp = tmp, base = base,
         finish = finish }
