--[[
The Lua testee of the conformance suite (tests/conformance/PROTOCOL.md).

Reads one JSON request per line on stdin and answers one JSON line on stdout, through the idiomatic
module (`require("cairn")`: cairn.kv.open, cairn.blob.open), mapping its outcomes back to the
neutral error NAME: a returned `nil, message, name` and a raised "CAIRN_X: ..." both become
{"error": "CAIRN_X"}. It never dies on bad input.

JSON on the wire goes through cairn.json_encode/json_decode, the binding's own codec: Debian's
lua-cjson 2.1.0 turns every number into a float with 14 digits and cannot tell [] from {}, which
would corrupt large integers and empty arrays (see bindings/lua/cairn_lua_json.h). JSON null
decodes to cairn.null; arrays carry cairn.array_mt, so [] and {} stay apart.

`$native` arguments become a Lua value of the named kind; where that kind is *valid* in the slot in
Lua (an integer blob key or option, a list table as a KV value: Lua stores tables as JSON), a value
Lua cannot accept there (a coroutine) is used instead, since the protocol means "a host value of
the wrong type".
]]

local cairn = require("cairn")

local null = cairn.null
local WRONG = coroutine.create(function() end) -- no Cairn slot accepts a thread
local NATIVE = { int = 42, float = 1.5, bool = true, null = "__nil__", list = { 1, 2 },
                 object = function() end }

-- A testee-level failure (bad request), carried by error() as a table.
local Fail_mt = {}
local function fail(name, fmt, ...)
  error(setmetatable({ name = name, message = string.format(fmt, ...) }, Fail_mt), 0)
end

-- Turn an idiomatic `value | nil, message, name` outcome into a value or a Fail.
local function chk(v, msg, name, ...)
  if v == nil and name ~= nil then
    error(setmetatable({ name = name, message = tostring(msg) }, Fail_mt), 0)
  end
  return v, msg, name, ...
end

local function tagged(v, tag)
  if type(v) ~= "table" or getmetatable(v) ~= nil or v[tag] == nil then return false end
  return next(v, next(v)) == nil and next(v) == tag
end

local function native(v, valid)
  local kind = v["$native"]
  local val = NATIVE[kind]
  if val == nil then fail("CAIRN_INVALID", "unknown $native kind %s", tostring(kind)) end
  if valid and valid[kind] then return WRONG end
  if val == "__nil__" then return nil end
  return val
end

local function unhex(h, what)
  if type(h) ~= "string" or #h % 2 ~= 0 or h:find("[^%x]") then
    fail("CAIRN_INVALID", "%s: $bytes must be an even-length hex string", what)
  end
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- A key / blob data argument: string (its UTF-8 bytes), $bytes, $repeat, $native, or whatever
-- else the JSON holds (the binding judges it).
local function bytes_arg(v, what, native_valid)
  if type(v) == "string" then return v end
  if tagged(v, "$bytes") then return cairn.bytes(unhex(v["$bytes"], what)) end
  if tagged(v, "$repeat") then
    local r = v["$repeat"]
    if type(r) ~= "table" or math.type(r.count) ~= "integer" or r.count < 0 then
      fail("CAIRN_INVALID", "%s: $repeat needs hex and a count >= 0", what)
    end
    return cairn.bytes(unhex(r.hex, what):rep(r.count))
  end
  if tagged(v, "$native") then return native(v, native_valid) end
  if v == null then return nil end
  return v
end

local VALUE_NATIVE_VALID = { list = true }

-- A KV value argument -> the Lua value to put.
local function value_arg(v)
  if tagged(v, "$json") then return cairn.json(v["$json"]) end
  if tagged(v, "$native") then return native(v, VALUE_NATIVE_VALID) end
  if type(v) == "string" then return cairn.text(v) end
  if tagged(v, "$bytes") or tagged(v, "$repeat") then return bytes_arg(v, "value") end
  return WRONG -- an untagged number, list, object...: not a typed value
end

local function value_out(v, kind)
  if kind == "text" then
    if not cairn.raw.utf8_valid(v) then fail("CAIRN_CORRUPT", "text value is not valid UTF-8") end
    return v
  elseif kind == "json" then
    return { ["$json"] = v }
  elseif kind == "native" then
    fail("CAIRN_UNSUPPORTED", "native (language-serialized) value")
  end
  return { ["$bytes"] = hex(v) }
end

local function key_out(k)
  if cairn.raw.utf8_valid(k) then return k end
  return { ["$bytes"] = hex(k) }
end

local function list(t) return cairn.array(t) end

-- ---- handles -----------------------------------------------------------------------------------
local handles = {}   -- name -> { engine = "kv"|"blob", h = handle }
local events = {}    -- name -> list of recorded events

local function reset()
  for _, e in pairs(handles) do pcall(e.h.close, e.h) end
  handles, events = {}, {}
end

local function hname(a)
  local n = a.handle
  if n == nil or n == null then fail("CAIRN_INVALID", "missing argument 'handle'") end
  if type(n) ~= "string" then fail("CAIRN_TYPE", "handle: expected a string") end
  return n
end

local function get(a, engine)
  local n = hname(a)
  local e = handles[n]
  if not e then fail("CAIRN_INVALID", "no handle named %s", n) end
  if e.engine ~= engine then fail("CAIRN_TYPE", "handle %s is of another engine", n) end
  return e.h -- a closed handle raises CAIRN_CLOSED itself
end

local OPTION_INT = { max_file_size = true, lock_timeout_ms = true }
local function options(a)
  local o = a.options
  if o == nil or o == null then return nil end
  if tagged(o, "$native") then return native(o) end
  if type(o) ~= "table" then return o end -- the binding rejects it
  if getmetatable(o) ~= nil then return WRONG end -- a JSON array is not an options object
  local out = {}
  for k, v in pairs(o) do
    if tagged(v, "$native") then v = native(v, OPTION_INT[k] and { int = true } or nil)
    elseif v == null then v = nil end
    out[k] = v
  end
  return out
end

local function open(a, engine, opener)
  local n = hname(a)
  local old = handles[n]
  if old and old.h:is_open() then fail("CAIRN_INVALID", "handle %s is already open", n) end
  if a.path == nil then fail("CAIRN_INVALID", "missing argument 'path'") end
  local h = chk(opener(a.path, options(a)))
  handles[n] = { engine = engine, h = h }
  events[n] = nil
  return nil
end

local function close(a)
  local n = hname(a)
  local e = handles[n]
  if not e then fail("CAIRN_INVALID", "no handle named %s", n) end
  e.h:close()
  return nil
end

local function kv_key(a, name)
  name = name or "key"
  local v = a[name]
  if v == nil then fail("CAIRN_INVALID", "missing argument '%s'", name) end
  return bytes_arg(v, name)
end

local function blob_key(a)
  local v = a.key
  if v == nil then fail("CAIRN_INVALID", "missing argument 'key'") end
  if tagged(v, "$native") then return native(v, { int = true }) end
  return v
end

local function blob_data(a)
  local v = a.data
  if v == nil then fail("CAIRN_INVALID", "missing argument 'data'") end
  return bytes_arg(v, "data")
end

local ops = {}

ops["reset"] = function() reset() end
ops["clock.set"] = function(a)
  if math.type(a.ms) ~= "integer" then fail("CAIRN_INVALID", "clock.set: ms must be an integer") end
  cairn.testing.set_clock(a.ms)
end
-- proc.fork: standard Lua cannot fork, so the tests build a small module of their own for it
-- (cairn_test_posix: fork, pipe, _exit, waitpid; bindings/lua/tests/test_posix.c). Without it
-- the op is CAIRN_UNSUPPORTED.
local has_posix, posix = pcall(require, "cairn_test_posix")
local run -- run(op, args) -> the response line of one request (defined with the loop below)
ops["proc.fork"] = function(a)
  if not has_posix then fail("CAIRN_UNSUPPORTED", "proc.fork: the cairn_test_posix module is not built") end
  local steps = a.steps
  if type(steps) ~= "table" or getmetatable(steps) ~= cairn.array_mt or #steps == 0 then
    fail("CAIRN_INVALID", "proc.fork: steps must be a non-empty list of {op: kv.*|blob.*, args}")
  end
  for _, st in ipairs(steps) do
    if type(st) ~= "table" or type(st.op) ~= "string" or not (st.op:find("^kv%.") or st.op:find("^blob%.")) then
      fail("CAIRN_INVALID", "proc.fork: steps must be a non-empty list of {op: kv.*|blob.*, args}")
    end
  end
  local r, w = posix.pipe()
  io.stdout:flush()
  local pid = posix.fork()
  if pid == 0 then -- the child: never returns, never writes to stdout
    local ok, status = pcall(function()
      posix.close(r)
      for _, st in ipairs(steps) do posix.write(w, run(st.op, st.args) .. "\n") end
      local status = 0
      for name, e in pairs(handles) do
        local cok, err = pcall(e.h.close, e.h)
        if not cok then
          io.stderr:write("proc.fork child: close of ", name, " raised ", tostring(err), "\n")
          status = 4
        end
      end
      return status
    end)
    if not ok then io.stderr:write("proc.fork child: ", tostring(status), "\n") end
    posix._exit(ok and status or 3)
  end
  posix.close(w)
  local out = posix.read_all(r)
  posix.close(r)
  local how, code = posix.waitpid(pid)
  if how ~= "exited" then fail("CAIRN_INTERNAL", "proc.fork: the child died of signal %d", code) end
  if code ~= 0 then fail("CAIRN_INTERNAL", "proc.fork: the child exited with status %d", code) end
  local outcomes = {}
  for line in out:gmatch("[^\n]+") do
    local resp = cairn.json_decode(line)
    if type(resp) ~= "table" then fail("CAIRN_INTERNAL", "proc.fork: bad outcome %s", line) end
    outcomes[#outcomes + 1] = resp.error and { error = resp.error } or resp.ok
  end
  if #outcomes ~= #steps then
    fail("CAIRN_INTERNAL", "proc.fork: %d outcomes for %d steps", #outcomes, #steps)
  end
  return list(outcomes)
end

-- KV
ops["kv.open"] = function(a) return open(a, "kv", cairn.kv.open) end
ops["kv.close"] = close
ops["kv.put"] = function(a)
  local db = get(a, "kv")
  -- expiry: the binding judges the values (both given, a negative ttl, a wrong type)
  local opts
  if a.ttl ~= nil or a.expire_at ~= nil then opts = { ttl = a.ttl, expire_at = a.expire_at } end
  local key = kv_key(a)
  if a.value == nil then fail("CAIRN_INVALID", "missing argument 'value'") end
  chk(db:put(key, value_arg(a.value), opts))
end
ops["kv.get"] = function(a)
  local db = get(a, "kv")
  local v, kind = chk(db:get_typed(kv_key(a)))
  if v == nil then return nil end
  return value_out(v, kind)
end
ops["kv.delete"] = function(a) chk(get(a, "kv"):delete(kv_key(a))) end
ops["kv.exists"] = function(a) return chk(get(a, "kv"):exists(kv_key(a))) end
ops["kv.expiry"] = function(a)
  local at = chk(get(a, "kv"):expiry(kv_key(a)))
  if at == false then return nil end -- never expires
  return at
end
ops["kv.count"] = function(a) return chk(get(a, "kv"):count()) end
ops["kv.keys"] = function(a)
  local db = get(a, "kv")
  local prefix
  if a.prefix ~= nil and a.prefix ~= null then prefix = kv_key(a, "prefix") end
  local keys = chk(db:keys(prefix))
  local out = {}
  for i, k in ipairs(keys) do out[i] = key_out(k) end
  return list(out)
end
ops["kv.update"] = function(a)
  local db = get(a, "kv")
  local ch = a.changes
  if ch == nil then fail("CAIRN_INVALID", "missing argument 'changes'") end
  if tagged(ch, "$json") then ch = ch["$json"]
  elseif tagged(ch, "$native") then ch = native(ch)
  else ch = WRONG end
  local key = kv_key(a)
  chk(db:update(key, ch))
end
-- the verbs every engine has, under the same name in the protocol and in the binding
for _, engine in ipairs({ "kv", "blob" }) do
  for _, m in ipairs({ "begin", "commit", "rollback", "sync", "compact" }) do
    ops[engine .. "." .. m] = function(a) local h = get(a, engine); chk(h[m](h)) end
  end
  ops[engine .. ".check"] = function(a)
    if type(a.path) ~= "string" then fail("CAIRN_INVALID", "missing argument 'path'") end
    chk(cairn[engine].check(a.path))
  end
end
ops["kv.stats"] = function(a)
  local st = chk(get(a, "kv"):stats())
  return { keys = st.keys, data_files = st.data_files, disk_bytes = st.disk_bytes,
           live_bytes = st.live_bytes, dead_bytes = st.dead_bytes, in_txn = st.in_txn }
end

-- blob
ops["blob.open"] = function(a) return open(a, "blob", cairn.blob.open) end
ops["blob.close"] = close
ops["blob.create"] = function(a) local b = get(a, "blob"); return chk(b:create(blob_data(a))) end
ops["blob.reserve_next_key"] = function(a) return chk(get(a, "blob"):reserve_next_key()) end
ops["blob.create_with_key"] = function(a)
  local b = get(a, "blob")
  chk(b:create_with_key(blob_key(a), blob_data(a)))
end
ops["blob.read"] = function(a)
  local b = get(a, "blob")
  return { ["$bytes"] = hex(chk(b:read(blob_key(a)))) }
end
ops["blob.update"] = function(a) local b = get(a, "blob"); chk(b:update(blob_key(a), blob_data(a))) end
ops["blob.delete"] = function(a) local b = get(a, "blob"); chk(b:delete(blob_key(a))) end
ops["blob.exists"] = function(a) local b = get(a, "blob"); return chk(b:exists(blob_key(a))) end
ops["blob.count"] = function(a) return chk(get(a, "blob"):count()) end
ops["blob.keys"] = function(a) return list(chk(get(a, "blob"):keys())) end
ops["blob.stats"] = function(a)
  local st = chk(get(a, "blob"):stats())
  return { entries = st.entries, live_bytes = st.live_bytes, free_bytes = st.free_bytes,
           free_entries = st.free_entries, file_size = st.file_size, next_key = st.next_key,
           in_txn = st.in_txn }
end
-- Each subscribe adds one listener; every listener of a handle records into the same list.
ops["blob.subscribe"] = function(a)
  local b = get(a, "blob")
  local n = hname(a)
  local probe = a.probe
  if probe ~= nil and math.type(probe) ~= "integer" then fail("CAIRN_INVALID", "probe: expected an int key") end
  events[n] = events[n] or {}
  return chk(b:on("*", function(ev, key, old, new)
    local rec = events[n]
    if not rec then return end
    local entry = { ev, key, old, new }
    if probe ~= nil then -- the listener runs after the call returned: the store can be read
      local data = b:read(probe)
      entry[5] = data and #data or null
    end
    rec[#rec + 1] = list(entry)
  end))
end
ops["blob.unsubscribe"] = function(a)
  local b = get(a, "blob")
  chk(b:off(a.id))
end
ops["blob.events"] = function(a)
  local b = get(a, "blob")
  if not b:is_open() then fail("CAIRN_CLOSED", "the blob store is closed") end
  local n = hname(a)
  local rec = events[n] or {}
  events[n] = {}
  return list(rec)
end

-- ---- the loop ------------------------------------------------------------------------------------
local function clean_text(s)
  s = tostring(s)
  if cairn.raw.utf8_valid(s) then return s end
  return (s:gsub("[\128-\255]", "?"))
end

local function respond_error(name, message)
  return cairn.json_encode({ error = clean_text(name), message = clean_text(message) })
end

function run(op, args)
  if args == nil or args == null then args = {} end
  if type(args) ~= "table" or getmetatable(args) ~= nil then
    return respond_error("CAIRN_INVALID", "args must be an object")
  end
  local fn = ops[op]
  if not fn then return respond_error("CAIRN_UNSUPPORTED", "unknown op " .. op) end
  local ok, res = pcall(fn, args)
  if not ok then
    if getmetatable(res) == Fail_mt then return respond_error(res.name, res.message) end
    local name = cairn.errname(res)
    if name then return respond_error(name, res) end
    -- a binding bug: visible, never a crash
    return respond_error("LUA_ERROR", debug.traceback(tostring(res), 1))
  end
  if res == nil then return '{"ok":null}' end
  local eok, s = pcall(cairn.json_encode, res)
  if not eok then return respond_error("CAIRN_INTERNAL", "unserialisable result: " .. tostring(s)) end
  return '{"ok":' .. s .. '}'
end

local function handle(line)
  local req, perr = cairn.json_decode(line)
  if req == nil then return respond_error("CAIRN_INVALID", "request is not JSON: " .. tostring(perr)) end
  if type(req) ~= "table" or type(req.op) ~= "string" then
    return respond_error("CAIRN_INVALID", "request needs an op")
  end
  return run(req.op, req.args)
end

for line in io.stdin:lines() do
  if line:find("%S") then
    local ok, out = pcall(handle, line)
    if not ok then out = respond_error("LUA_ERROR", tostring(out)) end
    io.stdout:write(out, "\n")
    io.stdout:flush()
  end
end
reset()
collectgarbage()
os.exit(0, true)
