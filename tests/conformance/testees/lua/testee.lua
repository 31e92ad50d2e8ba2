--[[
The Lua testee of the conformance suite (tests/conformance/PROTOCOL.md).

Reads one JSON request per line on stdin and answers one JSON line on stdout, through the idiomatic
module (`require("cairn")`: cairn.kv.open, cairn.blob.open, cairn.table.open, cairn.repo.open), mapping its outcomes back to the
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
    local pat = unhex(r.hex, what)
    -- larger than any value the store accepts: the core would say TOOBIG, so say it without
    -- building the string (as the C testee does)
    if #pat > 0 and r.count > ((cairn.raw.CAIRN_VALUE_MAX or 2^30) + 1) // #pat then
      fail("CAIRN_TOOBIG", "%s: $repeat of %d x %d bytes is larger than any value", what, r.count, #pat)
    end
    return cairn.bytes(pat:rep(r.count))
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

local OPTION_INT = { max_file_size = true, lock_timeout_ms = true, cache_bytes = true }
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
-- metrics: the Prometheus text, the same call on every engine's handle
for _, engine in ipairs({ "kv", "blob", "table", "repo" }) do
  ops[engine .. ".metrics"] = function(a) local h = get(a, engine); return chk(h:metrics()) end
end
-- the verbs every engine has, under the same name in the protocol and in the binding
for _, engine in ipairs({ "kv", "blob" }) do
  for _, m in ipairs({ "begin", "commit", "rollback", "sync", "compact" }) do
    ops[engine .. "." .. m] = function(a) local h = get(a, engine); chk(h[m](h)) end
  end
  -- in_txn where the binding's engine() found cairn_<engine>_in_txn (else CAIRN_UNSUPPORTED)
  ops[engine .. ".in_txn"] = function(a)
    local h = get(a, engine)
    if not h.in_txn then fail("CAIRN_UNSUPPORTED", engine .. ".in_txn: not in this engine's C API") end
    return chk(h:in_txn())
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

-- snapshots and backups (KV, blob store, table: the same five calls)
for _, engine in ipairs({ "kv", "blob", "table" }) do
  ops[engine .. ".snapshot"] = function(a)
    local db = get(a, engine)
    local name = a.name
    if name == null then name = nil elseif tagged(name, "$native") then name = native(name) end
    return chk(db:snapshot(name))
  end
  ops[engine .. ".snapshots"] = function(a)
    local out = {}
    for i, s in ipairs(chk(get(a, engine):snapshots())) do
      out[i] = { name = s.name, time = s.time, bytes = s.bytes }
    end
    return list(out)
  end
  ops[engine .. ".open_snapshot"] = function(a)
    local db = get(a, engine)
    local as = a.as
    if type(as) ~= "string" then fail("CAIRN_INVALID", "missing argument 'as'") end
    local old = handles[as]
    if old and old.h:is_open() then fail("CAIRN_INVALID", "handle %s is already open", as) end
    local name = a.name
    if tagged(name, "$native") then name = native(name) end
    local snap = chk(db:open_snapshot(name))
    handles[as] = { engine = engine, h = snap }
    events[as] = nil
  end
  ops[engine .. ".drop_snapshot"] = function(a)
    local db = get(a, engine)
    local name = a.name
    if tagged(name, "$native") then name = native(name) end
    chk(db:drop_snapshot(name))
  end
  ops[engine .. ".backup"] = function(a)
    local db = get(a, engine)
    local dest = a.dest
    if tagged(dest, "$native") then dest = native(dest) end
    chk(db:backup(dest))
  end
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

-- table
-- Rows go through the idiomatic API as Lua values (docs/lua.md, "Table"): a wire value becomes the
-- Lua value of its column's type, and back. The column types come from h:schema() (kept per
-- handle, refreshed after add_column). Where one Lua value would stand for two wire values (a
-- string is text or bytes), the value meant for a column of the other type is wrapped
-- (cairn.text / cairn.bytes), so that it reaches the core as the wrong JSON type, as in every
-- binding. Integers beyond Lua's range ({"$bigint": digits} after read_line) are their decimal
-- strings, the binding's notation for them.
local INT_TYPES = { i8 = true, i16 = true, i32 = true, i64 = true, u8 = true, u16 = true, u32 = true,
                    u64 = true, timestamp = true }
local function is_bytes_type(ty) return ty == "bytes" or (type(ty) == "string" and ty:find("^bytes:") ~= nil) end
local function valid_natives(ty)
  if INT_TYPES[ty] then return { int = true } end
  if ty == "f32" or ty == "f64" then return { float = true, int = true } end
  if ty == "bool" then return { bool = true } end
  return nil
end

local function cell_in(v, ty)
  if v == null then return null end
  if type(v) == "string" then
    if ty == nil or ty == "string" then return v end
    return cairn.text(v)
  end
  if type(v) == "table" and getmetatable(v) == nil then
    if tagged(v, "$bytes") then
      local b = unhex(v["$bytes"], "row value")
      if is_bytes_type(ty) or ty == nil then return b end
      return cairn.bytes(b)
    end
    if tagged(v, "$ts") then return v["$ts"] end
    if tagged(v, "$bigint") then return v["$bigint"] end
    if tagged(v, "$f64") then
      local f = v["$f64"]
      if f == "nan" then return 0.0 / 0.0 elseif f == "inf" then return math.huge
      elseif f == "-inf" then return -math.huge end
      return v
    end
    if tagged(v, "$native") then
      local n = native(v, valid_natives(ty))
      if n == nil then return WRONG end -- "null": nil is no value in a Lua table
      return n
    end
  end
  return v -- numbers, booleans, lists and objects: as they are (the core judges)
end

local function row_in(row, types)
  if tagged(row, "$native") then return native(row) end
  if type(row) ~= "table" or getmetatable(row) ~= nil then
    if row == null then return nil end
    return row -- a list, a string, a number: the binding refuses it
  end
  local out = {}
  for k, v in pairs(row) do out[k] = cell_in(v, types[k]) end
  return out
end

local BIG = "\0BIG:" -- a u64 beyond Lua's integers, written as a bare JSON integer by respond()
local function cell_out(v, ty)
  if v == null or v == nil then return null end
  if ty == "timestamp" then return { ["$ts"] = v } end
  if is_bytes_type(ty) then return { ["$bytes"] = hex(v) } end
  if ty == "u64" and type(v) == "string" then return BIG .. v end
  if math.type(v) == "float" then
    if v ~= v then return { ["$f64"] = "nan" } end
    if v == math.huge then return { ["$f64"] = "inf" } end
    if v == -math.huge then return { ["$f64"] = "-inf" } end
  end
  return v
end

local function row_out(row, types)
  if row == nil then return null end
  local out = {}
  for k, v in pairs(row) do out[k] = cell_out(v, types[k]) end
  return out
end

local function table_types(h)
  local cols = chk(h:schema())
  local types = {}
  for _, c in ipairs(cols) do types[c.name] = c.type end
  return types, cols
end

local function tget(a)
  local h = get(a, "table")
  local e = handles[hname(a)]
  if not e.types and h:is_open() then e.types = table_types(h) end
  return h, e.types or {}
end

local function id_arg(a)
  local v = a.id
  if v == nil then fail("CAIRN_INVALID", "missing argument 'id'") end
  if tagged(v, "$native") then return native(v, { int = true }) end
  return v
end

local function schema_in(v)
  if type(v) ~= "table" or getmetatable(v) ~= cairn.array_mt then
    if tagged(v, "$native") then return native(v) end
    return v
  end
  local cols = {}
  for i, c in ipairs(v) do
    if type(c) == "table" and getmetatable(c) == nil then
      local col = {}
      for k, x in pairs(c) do col[k] = x end
      if c.default ~= nil then col.default = cell_in(c.default, c.type) end
      cols[i] = col
    else
      cols[i] = c
    end
  end
  return cols
end

ops["table.open"] = function(a)
  local n = hname(a)
  local old = handles[n]
  if old and old.h:is_open() then fail("CAIRN_INVALID", "handle %s is already open", n) end
  if a.path == nil then fail("CAIRN_INVALID", "missing argument 'path'") end
  local o = options(a)
  if a.schema ~= nil and a.schema ~= null then
    if type(o) ~= "table" then o = o == nil and {} or o end
    if type(o) == "table" then o.schema = schema_in(a.schema) end
  end
  local h = chk(cairn.table.open(a.path, o))
  handles[n] = { engine = "table", h = h }
  events[n] = nil
  return nil
end
ops["table.close"] = close
ops["table.schema"] = function(a)
  local h = tget(a)
  local cols = chk(h:schema())
  local out = {}
  for i, c in ipairs(cols) do
    local col = {}
    for k, v in pairs(c) do col[k] = v end
    col.default = cell_out(c.default, c.type)
    out[i] = col
  end
  return list(out)
end
ops["table.add_column"] = function(a)
  local h = tget(a)
  local spec = a.spec
  if tagged(spec, "$native") then spec = native(spec) end
  chk(h:add_column(spec))
  handles[hname(a)].types = table_types(h)
end
ops["table.insert"] = function(a)
  local h, types = tget(a)
  return chk(h:insert(row_in(a.row, types)))
end
ops["table.upsert"] = function(a)
  local h, types = tget(a)
  return chk(h:upsert(row_in(a.row, types)))
end
ops["table.insert_many"] = function(a)
  local h, types = tget(a)
  local rows = a.rows
  if type(rows) == "table" and getmetatable(rows) == cairn.array_mt then
    local conv = {}
    for i, r in ipairs(rows) do conv[i] = row_in(r, types) end
    rows = cairn.array(conv)
  elseif tagged(rows, "$native") then
    rows = native(rows)
  end
  return list(chk(h:insert_many(rows)))
end
ops["table.load"] = function(a)
  local h, types = tget(a)
  local cols = a.columns
  if type(cols) == "table" and getmetatable(cols) == nil and not tagged(cols, "$native") then
    local conv = {}
    for k, vals in pairs(cols) do
      if type(vals) == "table" and getmetatable(vals) == cairn.array_mt then
        local cv = {}
        for i, v in ipairs(vals) do cv[i] = cell_in(v, types[k]) end
        conv[k] = cairn.array(cv)
      else
        conv[k] = vals
      end
    end
    cols = conv
  elseif tagged(cols, "$native") then
    cols = native(cols)
  end
  return chk(h:load(cols))
end
ops["table.get"] = function(a)
  local h, types = tget(a)
  local row = chk(h:get(id_arg(a)))
  return row_out(row, types)
end
ops["table.update"] = function(a)
  local h, types = tget(a)
  local id = id_arg(a)
  chk(h:update(id, row_in(a.changes, types)))
end
ops["table.delete"] = function(a) local h = tget(a); chk(h:delete(id_arg(a))) end
ops["table.count"] = function(a) return chk(tget(a):count()) end
ops["table.rows"] = function(a)
  local h, types = tget(a)
  local out = {}
  for id, row in h:rows() do out[#out + 1] = list({ id, row_out(row, types) }) end
  return list(out)
end
for _, m in ipairs({ "begin", "commit", "rollback", "sync", "compact" }) do
  ops["table." .. m] = function(a) local h = tget(a); chk(h[m](h)) end
end
ops["table.in_txn"] = function(a) local h = tget(a); return chk(h:in_txn()) end
ops["table.check"] = function(a)
  if type(a.path) ~= "string" then fail("CAIRN_INVALID", "missing argument 'path'") end
  chk(cairn.table.check(a.path))
end
ops["table.repair"] = function(a)
  if type(a.path) ~= "string" then fail("CAIRN_INVALID", "missing argument 'path'") end
  return chk(cairn.table.repair(a.path))
end
ops["table.stats"] = function(a)
  local st = chk(tget(a):stats())
  return { rows = st.rows, deleted_rows = st.deleted_rows, next_id = st.next_id,
           row_groups = st.row_groups, segments = st.segments, tail_rows = st.tail_rows,
           disk_bytes = st.disk_bytes, wal_bytes = st.wal_bytes, columns = st.columns,
           in_txn = st.in_txn }
end
ops["table.subscribe"] = function(a)
  local h = tget(a)
  local n = hname(a)
  events[n] = events[n] or {}
  return chk(h:subscribe(function(ev, id, new_row, old_row)
    local rec = events[n]
    if not rec then return end
    local types = handles[n] and handles[n].types or {}
    rec[#rec + 1] = list({ ev, id, row_out(new_row, types), row_out(old_row, types) })
  end))
end
ops["table.unsubscribe"] = function(a)
  local h = tget(a)
  chk(h:unsubscribe(a.id))
end
ops["table.events"] = function(a)
  local h = tget(a)
  if not h:is_open() then fail("CAIRN_CLOSED", "the table is closed") end
  local n = hname(a)
  local rec = events[n] or {}
  events[n] = {}
  return list(rec)
end

-- table queries, indexes, export (the binding's t:query, count_where, join, indexes, t:columns).
-- A wire value inside a WHERE or params becomes the Lua value that reaches the core as the same
-- JSON: a string stays text (cairn.text, also against a bytes column), {"$bytes"} is
-- cairn.bytes(...), {"$ts": us} the integer, {"$f64"} the float, {"$bigint"} its digits.
local function qval(v)
  if type(v) == "string" then return cairn.text(v) end
  if type(v) ~= "table" or v == null then return v end
  if tagged(v, "$bytes") then return cairn.bytes(unhex(v["$bytes"], "query value")) end
  if tagged(v, "$ts") or tagged(v, "$f64") or tagged(v, "$bigint") or tagged(v, "$native") then
    return cell_in(v, nil)
  end
  local out = {}
  for k, x in pairs(v) do out[k] = qval(x) end
  return setmetatable(out, getmetatable(v))
end

local function qwhere(w)
  if type(w) ~= "table" or w == null then return w end
  if getmetatable(w) == cairn.array_mt then
    if type(w[1]) == "string" then -- a triple: column, op[, value]
      local out = { w[1], w[2] }
      if w[3] ~= nil then out[3] = qval(w[3]) end
      return list(out)
    end
    local out = {}
    for i, x in ipairs(w) do out[i] = qwhere(x) end
    return list(out)
  end
  local out = {}
  for k, x in pairs(w) do
    if k == "$and" or k == "$or" or k == "$not" then
      out[k] = qwhere(x)
    elseif type(x) == "table" and getmetatable(x) == nil and x ~= null and next(x) ~= nil
        and not (tagged(x, "$bytes") or tagged(x, "$ts") or tagged(x, "$f64") or tagged(x, "$bigint")) then
      local ops = {}
      for op, y in pairs(x) do ops[op] = qval(y) end
      out[k] = ops
    else
      out[k] = qval(x)
    end
  end
  return out
end

local function query_arg(a, key)
  local q = a[key or "query"]
  if q == nil then fail("CAIRN_INVALID", "missing argument 'query'") end
  if type(q) ~= "table" or getmetatable(q) ~= nil or q == null then fail("CAIRN_TYPE", "a query must be an object") end
  local out = {}
  for k, v in pairs(q) do
    if k == "where" or k == "right_where" then v = qwhere(v)
    elseif k == "params" or k == "right_params" then v = qval(v) end
    out[k] = v
  end
  return out
end

local function result_out(rows, cols, count)
  local types = {}
  for _, c in ipairs(cols) do types[c.name] = c.type end
  if getmetatable(rows) == cairn.array_mt then
    local out = {}
    for i, r in ipairs(rows) do out[i] = row_out(r, types) end
    return { columns = cols, rows = list(out) }
  end
  local data = {}
  for name, vals in pairs(rows) do
    local l = {}
    for i, v in ipairs(vals) do l[i] = cell_out(v, types[name]) end
    data[name] = list(l)
  end
  return { columns = cols, data = data, count = count }
end

ops["table.query"] = function(a)
  local h = tget(a)
  return result_out(chk(h:query(query_arg(a))))
end
ops["table.count_where"] = function(a)
  local h = tget(a)
  local q = query_arg(a)
  return chk(h:count_where(q.where, q.params))
end
ops["table.join"] = function(a)
  local h = get({ handle = a.left }, "table")
  local other = get({ handle = a.right }, "table")
  return result_out(chk(h:join(other, nil, query_arg(a)))) -- `on` as it is, in the query
end
ops["table.create_index"] = function(a)
  local h = tget(a)
  chk(h:create_index(a.column, a.kind))
end
ops["table.drop_index"] = function(a)
  local h = tget(a)
  chk(h:drop_index(a.column, a.kind))
end
ops["table.indexes"] = function(a)
  return chk(tget(a):indexes())
end
ops["table.lookup"] = function(a)
  local h, types = tget(a)
  if a.value == nil then fail("CAIRN_INVALID", "missing argument 'value'") end
  return chk(h:lookup(a.column, cell_in(a.value, types[a.column])))
end
ops["table.find"] = function(a)
  local h, types = tget(a)
  local c = a.conditions
  if c == nil then fail("CAIRN_INVALID", "missing argument 'conditions'") end
  if type(c) ~= "table" or getmetatable(c) ~= nil or c == null then fail("CAIRN_INVALID", "conditions must be an object") end
  return chk(h:find(row_in(c, types)))
end
ops["table.range_find"] = function(a)
  local h, types = tget(a)
  for _, k in ipairs({ "lo_open", "hi_open" }) do
    if a[k] ~= nil and type(a[k]) ~= "boolean" then fail("CAIRN_TYPE", "%s must be a bool", k) end
  end
  local ty = types[a.column]
  local lo = a.lo ~= nil and cell_in(a.lo, ty) or nil
  local hi = a.hi ~= nil and cell_in(a.hi, ty) or nil
  return chk(h:range_find(a.column, lo, hi, not a.lo_open, not a.hi_open))
end
-- table.export: the Lua binding's export is t:columns(query) (the rows column by column)
ops["table.export"] = function(a)
  local h = tget(a)
  local q = nil
  if a.query ~= nil and a.query ~= null then q = query_arg(a) end
  local data, cols = chk(h:columns(q))
  local types, out = {}, {}
  for _, c in ipairs(cols) do types[c.name] = c.type end
  for name, vals in pairs(data) do
    local l = {}
    for i, v in ipairs(vals) do l[i] = cell_out(v, types[name]) end
    out[name] = list(l)
  end
  return out
end

-- Integers beyond Lua's (19+ digits that do not fit) in a request line -> {"$bigint": "digits"}
-- before decoding (the JSON codec would make them floats); strings are left alone.
local function tag_bigints(line)
  if not line:find("%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d") then return line end
  local out, i, n, from = {}, 1, #line, 1
  while i <= n do
    local c = line:byte(i)
    if c == 34 then -- a string: skip to its closing quote
      i = i + 1
      while i <= n do
        local d = line:byte(i)
        if d == 92 then i = i + 2
        elseif d == 34 then break
        else i = i + 1 end
      end
      i = i + 1
    elseif c == 45 or (c >= 48 and c <= 57) then
      local s, e, num = line:find("^(%-?%d+)", i)
      local after = line:sub(e + 1, e + 1)
      if after ~= "." and after ~= "e" and after ~= "E" and math.type(tonumber(num)) == "float" then
        out[#out + 1] = line:sub(from, s - 1)
        out[#out + 1] = '{"$bigint":"' .. num .. '"}'
        from = e + 1
      end
      i = e + 1
    else
      i = i + 1
    end
  end
  out[#out + 1] = line:sub(from)
  return table.concat(out)
end

-- versioned store
local function rget(a) return get(a, "repo") end
-- A name argument (tenant, user, entry, tag name): a string as is, $native as the host value,
-- anything else as the JSON gave it (the binding judges it).
local function rname(a, name)
  local v = a[name]
  if v == nil then fail("CAIRN_INVALID", "missing argument '%s'", name) end
  if tagged(v, "$native") then return native(v) end
  return v
end
-- An optional digest: absent or null is nil (the head; in diff, the empty collection).
local function rdigest(a, name)
  local v = a[name or "digest"]
  if v == nil or v == null then return nil end
  if tagged(v, "$native") then return native(v) end
  return v
end
local function rvalue(a)
  if a.value == nil then fail("CAIRN_INVALID", "missing argument 'value'") end
  return value_arg(a.value)
end
local function typed_out(v, kind)
  if v == nil then return nil end
  return value_out(v, kind)
end
local function keys_out(keys)
  local out = {}
  for i, k in ipairs(keys) do out[i] = key_out(k) end
  return list(out)
end

ops["repo.open"] = function(a) return open(a, "repo", cairn.repo.open) end
ops["repo.close"] = close
ops["repo.init"] = function(a) chk(rget(a):init(rname(a, "tenant"))) end
ops["repo.tenants"] = function(a) return list(chk(rget(a):tenants())) end
ops["repo.entries"] = function(a) return list(chk(rget(a):entries(rname(a, "tenant")))) end
ops["repo.save"] = function(a)
  local r = rget(a)
  return chk(r:save(rname(a, "tenant"), rname(a, "user"), rname(a, "entry"), rvalue(a)))
end
ops["repo.load"] = function(a)
  local r = rget(a)
  return typed_out(chk(r:load_typed(rname(a, "tenant"), rname(a, "entry"), rdigest(a))))
end
ops["repo.exists"] = function(a) return chk(rget(a):exists(rname(a, "tenant"), rname(a, "entry"))) end
ops["repo.digest"] = function(a) return chk(rget(a):digest(rname(a, "tenant"), rname(a, "entry"))) end
ops["repo.put"] = function(a)
  local r = rget(a)
  return chk(r:put(rname(a, "tenant"), rname(a, "user"), rname(a, "entry"), kv_key(a), rvalue(a)))
end
ops["repo.put_many"] = function(a)
  local r = rget(a)
  local recs = a.records
  if recs == nil then fail("CAIRN_INVALID", "missing argument 'records'") end
  if tagged(recs, "$native") then
    recs = native(recs)
  elseif type(recs) == "table" and getmetatable(recs) == cairn.array_mt then
    local out = {}
    for i, rec in ipairs(recs) do
      if type(rec) ~= "table" or getmetatable(rec) ~= cairn.array_mt or #rec ~= 2 then
        fail("CAIRN_INVALID", "records: each record is [key, value]")
      end
      out[i] = { bytes_arg(rec[1], "key"), value_arg(rec[2]) }
    end
    recs = cairn.array(out)
  else
    recs = WRONG
  end
  return chk(r:put_many(rname(a, "tenant"), rname(a, "user"), rname(a, "entry"), recs))
end
ops["repo.get"] = function(a)
  local r = rget(a)
  return typed_out(chk(r:get_typed(rname(a, "tenant"), rname(a, "entry"), kv_key(a), rdigest(a))))
end
ops["repo.delete"] = function(a)
  local r = rget(a)
  return chk(r:delete(rname(a, "tenant"), rname(a, "user"), rname(a, "entry"), kv_key(a)))
end
ops["repo.count"] = function(a)
  return chk(rget(a):count(rname(a, "tenant"), rname(a, "entry"), rdigest(a)))
end
ops["repo.keys"] = function(a)
  return keys_out(chk(rget(a):keys(rname(a, "tenant"), rname(a, "entry"), rdigest(a))))
end
ops["repo.diff"] = function(a)
  local d = chk(rget(a):diff(rname(a, "tenant"), rdigest(a, "from"), rdigest(a, "to")))
  return { added = keys_out(d.added), removed = keys_out(d.removed), changed = keys_out(d.changed) }
end
ops["repo.history"] = function(a)
  local m = a.max
  if m == null then m = nil elseif tagged(m, "$native") then m = native(m) end
  return list(chk(rget(a):history(rname(a, "tenant"), rname(a, "entry"), m)))
end
ops["repo.tag"] = function(a)
  local r = rget(a)
  chk(r:tag(rname(a, "tenant"), rname(a, "name"), rname(a, "digest")))
end
ops["repo.tag_get"] = function(a) return chk(rget(a):tag_get(rname(a, "tenant"), rname(a, "name"))) end
ops["repo.gc"] = function(a)
  local g = a.grace_ms
  if g == null then g = nil elseif tagged(g, "$native") then g = native(g) end
  return chk(rget(a):gc(g))
end
ops["repo.stats"] = function(a)
  local st = chk(rget(a):stats())
  return { tenants = st.tenants, objects = st.objects, disk_bytes = st.disk_bytes }
end
ops["repo.verify"] = function(a)
  if type(a.path) ~= "string" then fail("CAIRN_INVALID", "missing argument 'path'") end
  chk(cairn.repo.verify(a.path))
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
  s = s:gsub('"\\u0000BIG:(%d+)"', "%1") -- u64 values beyond Lua's integers (table rows)
  return '{"ok":' .. s .. '}'
end

local function handle(line)
  local req, perr = cairn.json_decode(tag_bigints(line))
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
