--[[
cairn.lua - the idiomatic Lua 5.4 layer over the raw SWIG module `cairn_swig`.

    local cairn = require("cairn")
    local db <close> = assert(cairn.kv.open("data/db"))
    db:put("greeting", "hello")          --> true
    db:get("greeting")                   --> "hello"
    db:get("missing")                    --> nil           (missing is not an error)
    db:delete("missing")                 --> nil, "not found", "CAIRN_NOTFOUND"

Conventions (docs/lua.md):
  * A runtime failure (I/O, lock, corrupt data, bad value, not found where it matters) returns
    nil, message, name; name is the stable error name from the core's table ("CAIRN_LOCKED").
  * Misuse raises error(): a wrong Lua type (CAIRN_TYPE), a closed handle (CAIRN_CLOSED), an
    unknown option (CAIRN_INVALID). The message starts with the error name; cairn.errname(e)
    extracts it.
  * Values carry a kind. A Lua string that is valid UTF-8 is stored as TEXT, any other string as
    BYTES; cairn.bytes(s) / cairn.text(s) force the kind. A plain table (or cairn.json(v) for any
    JSON value) is stored as a JSON document. Reading gives a string for BYTES and TEXT (use
    get_typed to see which) and the decoded Lua value for JSON: arrays carry cairn.array_mt,
    JSON null is cairn.null, integers stay integers.
  * Handles close on close(), at the end of a <close> variable's scope, and on garbage
    collection.
]]

local raw = require("cairn_swig")

local type, getmetatable, setmetatable, select = type, getmetatable, setmetatable, select
local tostring, error, pcall, pairs, ipairs = tostring, error, pcall, pairs, ipairs
local math_type, str_format = math.type, string.format

local cairn = {}
cairn.version = raw.cairn_version()
cairn.raw = raw

-- ---- error table (from the core's errors.def, through cairn_errname) ----
cairn.codes = {}   -- "CAIRN_NOTFOUND" -> -2
cairn.names = {}   -- -2 -> "CAIRN_NOTFOUND"
-- One entry per row of the table: walk the codes down from -1 until the core no longer knows one
-- (the table is dense and never renumbered).
do
  local code = -1
  while raw.cairn_errname(code) ~= "CAIRN_UNKNOWN" do
    local name = raw.cairn_errname(code)
    cairn.codes[name] = code
    cairn.names[code] = name
    code = code - 1
  end
end

-- The error name at the start of a raised message (or of a name itself), else nil.
function cairn.errname(e)
  if math_type(e) == "integer" then return raw.cairn_errname(e) end
  if type(e) ~= "string" then return nil end
  return e:match("^(CAIRN_%u+)")
end

-- ---- raising misuse errors -------------------------------------------------------------------
local THIS = debug.getinfo(1, "S").source

-- error() whose message starts with the name, followed by where the caller is in user code.
local function raise(name, fmt, ...)
  local msg = name .. ": " .. str_format(fmt, ...)
  for level = 2, 30 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.source ~= THIS and info.what ~= "C" and info.currentline and info.currentline > 0 then
      msg = msg .. str_format(" (at %s:%d)", info.short_src, info.currentline)
      break
    end
  end
  error(msg, 0)
end

-- nil, message, name for a failed status code.
local function fail(rc)
  local msg
  if raw.cairn_errcode() == rc then msg = raw.cairn_errmsg() end
  if not msg or msg == "" then msg = raw.cairn_errstr(rc) end
  return nil, msg, raw.cairn_errname(rc)
end
cairn._fail = fail

-- ---- values and kinds ------------------------------------------------------------------------
cairn.BYTES, cairn.TEXT, cairn.JSON, cairn.NATIVE =
  raw.CAIRN_KIND_BYTES, raw.CAIRN_KIND_TEXT, raw.CAIRN_KIND_JSON, raw.CAIRN_KIND_NATIVE
local BYTES, TEXT, JSON, NATIVE = cairn.BYTES, cairn.TEXT, cairn.JSON, cairn.NATIVE
local KIND_NAMES = { [BYTES] = "bytes", [TEXT] = "text", [JSON] = "json", [NATIVE] = "native" }
cairn.kind_names = KIND_NAMES

-- JSON null (nil means "missing" in Lua) and the marker of arrays, so [] and {} both survive.
cairn.null = setmetatable({}, {
  __name = "cairn.null",
  __tostring = function() return "cairn.null" end,
  __newindex = function() raise("CAIRN_TYPE", "cairn.null is read-only") end,
})
cairn.array_mt = { __name = "cairn.array" }
raw.json_setup(cairn.null, cairn.array_mt)

local json_encode, json_decode, utf8_valid = raw.json_encode, raw.json_decode, raw.utf8_valid
local now_ms = raw.now_ms

-- Mark a table as a JSON array (also when empty). Returns the table.
function cairn.array(t)
  t = t or {}
  if type(t) ~= "table" then raise("CAIRN_TYPE", "cairn.array expects a table (got %s)", type(t)) end
  return setmetatable(t, cairn.array_mt)
end

-- JSON text <-> Lua value with the same codec the store uses.
function cairn.json_encode(v)
  local ok, s = pcall(json_encode, v)
  if not ok then raise(cairn.errname(s) or "CAIRN_TYPE", "%s", (tostring(s):gsub("^CAIRN_%u+: ", ""))) end
  return s
end
function cairn.json_decode(s)
  if type(s) ~= "string" then raise("CAIRN_TYPE", "json_decode expects a string (got %s)", type(s)) end
  local v, err = json_decode(s)
  if v == nil then return nil, err, "CAIRN_INVALID" end
  return v
end

local Bytes_mt = { __name = "cairn.bytes" }
local Text_mt = { __name = "cairn.text" }
local Json_mt = { __name = "cairn.json" }
for _, mt in ipairs({ Bytes_mt, Text_mt, Json_mt }) do
  mt.__tostring = function(w) return mt.__name .. "(" .. tostring(w[1]) .. ")" end
end

-- cairn.bytes(s): store s as BYTES (also valid as a key or as blob data).
function cairn.bytes(s)
  if type(s) ~= "string" then raise("CAIRN_TYPE", "cairn.bytes expects a string (got %s)", type(s)) end
  return setmetatable({ s }, Bytes_mt)
end
-- cairn.text(s): store s as TEXT; s must be valid UTF-8.
function cairn.text(s)
  if type(s) ~= "string" then raise("CAIRN_TYPE", "cairn.text expects a string (got %s)", type(s)) end
  if not utf8_valid(s) then raise("CAIRN_INVALID", "cairn.text: the string is not valid UTF-8") end
  return setmetatable({ s }, Text_mt)
end
-- cairn.json(v): store any JSON value (table, string, number, boolean, cairn.null) as JSON.
function cairn.json(v)
  if v == nil then raise("CAIRN_TYPE", "cairn.json(nil): use cairn.null for JSON null") end
  return setmetatable({ v }, Json_mt)
end

-- Lua value -> bytes, kind. Raises CAIRN_TYPE for what cannot be stored.
local function encode_value(v)
  local t = type(v)
  if t == "string" then
    return v, utf8_valid(v) and TEXT or BYTES
  elseif t == "table" then
    local mt = getmetatable(v)
    if mt == Bytes_mt then return v[1], BYTES
    elseif mt == Text_mt then return v[1], TEXT
    elseif mt == Json_mt then
      local ok, s = pcall(json_encode, v[1])
      if not ok then raise(cairn.errname(s) or "CAIRN_TYPE", "%s", (s:gsub("^CAIRN_%u+: ", ""))) end
      return s, JSON
    elseif v == cairn.null or mt == nil or mt == cairn.array_mt then
      local ok, s = pcall(json_encode, v)
      if not ok then raise(cairn.errname(s) or "CAIRN_TYPE", "%s", (s:gsub("^CAIRN_%u+: ", ""))) end
      return s, JSON
    end
    raise("CAIRN_TYPE", "a table with a metatable (%s) is not a storable value", tostring(mt.__name or "?"))
  end
  raise("CAIRN_TYPE", "a value must be a string, a table, cairn.bytes/text/json(...) (got %s)",
    math_type(v) or t)
end
cairn._encode_value = encode_value

-- bytes, kind -> Lua value (or nil, message, name if a JSON value does not parse).
local function decode_value(bytes, kind)
  if kind == JSON then
    local v, err = json_decode(bytes)
    if v == nil then return nil, "stored JSON does not parse: " .. err, "CAIRN_CORRUPT" end
    return v
  end
  return bytes
end

-- A key: a string (any bytes) or cairn.bytes/cairn.text(s).
local function key_arg(k, what)
  if type(k) == "string" then return k end
  local mt = getmetatable(k)
  if mt == Bytes_mt or mt == Text_mt then return k[1] end
  raise("CAIRN_TYPE", "%s must be a string (got %s)", what or "key", math_type(k) or type(k))
end

local function bytes_arg(d)
  if type(d) == "string" then return d end
  local mt = getmetatable(d)
  if mt == Bytes_mt or mt == Text_mt then return d[1] end
  raise("CAIRN_TYPE", "data must be a string or cairn.bytes(s) (got %s)", math_type(d) or type(d))
end

local function int_arg(v, what)
  if math_type(v) == "integer" then return v end
  if math_type(v) == "float" and v == math.floor(v) and v >= math.mininteger and v < 2^63 then
    return math.tointeger(v)
  end
  raise("CAIRN_TYPE", "%s must be an integer (got %s)", what, math_type(v) or type(v))
end

cairn.now_ms = now_ms

-- A path: a string without NUL bytes (C would silently cut it at the first one).
local function path_arg(path)
  if type(path) ~= "string" then raise("CAIRN_TYPE", "path must be a string (got %s)", type(path)) end
  if path:find("\0", 1, true) then return nil end
  return path
end
local function bad_path()
  return nil, "path contains a NUL byte", "CAIRN_INVALID"
end

-- ---- options ---------------------------------------------------------------------------------
local SYNC = { none = raw.CAIRN_SYNC_NONE, commit = raw.CAIRN_SYNC_COMMIT, group = raw.CAIRN_SYNC_GROUP }

local function options(opts, allowed)
  if opts == nil then return nil end
  if type(opts) ~= "table" then raise("CAIRN_TYPE", "options must be a table (got %s)", type(opts)) end
  local o = {}
  for k, v in pairs(opts) do
    if type(k) ~= "string" then raise("CAIRN_TYPE", "option names must be strings (got %s)", type(k)) end
    local kind = allowed[k]
    if not kind then raise("CAIRN_INVALID", "unknown option '%s'", tostring(k)) end
    if kind == "bool" then
      if type(v) ~= "boolean" then raise("CAIRN_TYPE", "option '%s' must be a boolean (got %s)", k, type(v)) end
      o[k] = v
    elseif kind == "sync" then
      if type(v) ~= "string" then raise("CAIRN_TYPE", "option 'sync' must be a string (got %s)", type(v)) end
      if not SYNC[v] then raise("CAIRN_INVALID", "option 'sync' must be \"none\", \"commit\" or \"group\"") end
      o[k] = SYNC[v]
    else -- non-negative integer
      if math_type(v) ~= "integer" then
        raise("CAIRN_TYPE", "option '%s' must be an integer (got %s)", k, math_type(v) or type(v))
      end
      if v < 0 or (kind == "u32" and v > 0x7fffffff) then
        raise("CAIRN_INVALID", "option '%s' is out of range", k)
      end
      o[k] = v
    end
  end
  return o
end

local KV_OPTIONS = { create = "bool", read_only = "bool", sync = "sync", max_file_size = "u64",
                     lock_timeout_ms = "u32" }
local BLOB_OPTIONS = { create = "bool", read_only = "bool", sync = "sync", lock_timeout_ms = "u32" }

-- ---- KV --------------------------------------------------------------------------------------
local KV = { __name = "cairn.kv" }
KV.__index = KV
cairn.KV = KV
cairn.kv = {}

local r_kv_get, r_kv_put, r_kv_put_ex = raw.cairn_kv_get, raw.cairn_kv_put, raw.cairn_kv_put_ex
local r_kv_delete, r_kv_contains = raw.cairn_kv_delete, raw.cairn_kv_exists
local ENOTFOUND = raw.CAIRN_NOTFOUND

local function kvp(self)
  if getmetatable(self) ~= KV then
    raise("CAIRN_TYPE", "expected a cairn.kv handle (call methods with ':')")
  end
  local p = self._p
  if not p then raise("CAIRN_CLOSED", "the kv store %s is closed", self.path) end
  return p
end

--- cairn.kv.open(path [, opts]) -> handle | nil, message, name
-- opts: create (boolean, default true), read_only, sync ("none" | "commit" | "group"),
-- max_file_size, lock_timeout_ms.
function cairn.kv.open(path, opts)
  if not path_arg(path) then return bad_path() end
  local o = options(opts, KV_OPTIONS)
  local rc, p = raw.cairn_kv_open(path, o)
  if rc ~= 0 then return fail(rc) end
  return setmetatable({ _p = p, path = path }, KV)
end

--- cairn.kv.check(path) -> true | nil, message, name: verify every record without opening.
function cairn.kv.check(path)
  if not path_arg(path) then return bad_path() end
  local rc = raw.cairn_kv_check(path)
  if rc ~= 0 then return fail(rc) end
  return true
end

function KV:close()
  if getmetatable(self) ~= KV then raise("CAIRN_TYPE", "expected a cairn.kv handle") end
  local p = self._p
  if p then
    self._p = nil
    raw.cairn_kv_close(p)
  end
  return true
end
KV.__gc = KV.close
KV.__close = KV.close

function KV:is_open() return self._p ~= nil end

function KV:__tostring()
  return str_format("cairn.kv(%q%s)", self.path, self._p and "" or ", closed")
end

--- get(key) -> value | nil if missing | nil, message, name
function KV:get(key)
  local p = kvp(self)
  local rc, v, kind = r_kv_get(p, key_arg(key))
  if rc == 0 then
    if kind == JSON then return decode_value(v, kind) end
    return v
  end
  if rc == ENOTFOUND then return nil end
  return fail(rc)
end

--- get_typed(key) -> value, kind name ("bytes" | "text" | "json" | "native") | nil | nil, msg, name
function KV:get_typed(key)
  local p = kvp(self)
  local rc, v, kind = r_kv_get(p, key_arg(key))
  if rc == 0 then
    local val, err, name = decode_value(v, kind)
    if val == nil then return nil, err, name end
    return val, KIND_NAMES[kind] or tostring(kind)
  end
  if rc == ENOTFOUND then return nil end
  return fail(rc)
end

local function expiry_arg(opts)
  if opts == nil then return nil end
  if type(opts) ~= "table" then raise("CAIRN_TYPE", "put options must be a table (got %s)", type(opts)) end
  local at, ttl = opts.expire_at_ms, opts.ttl_ms
  for k in pairs(opts) do
    if k ~= "expire_at_ms" and k ~= "ttl_ms" then raise("CAIRN_INVALID", "unknown put option '%s'", tostring(k)) end
  end
  if at ~= nil and ttl ~= nil then raise("CAIRN_INVALID", "give expire_at_ms or ttl_ms, not both") end
  if at ~= nil then return int_arg(at, "expire_at_ms") end
  if ttl ~= nil then return now_ms() + int_arg(ttl, "ttl_ms") end
  return nil
end

--- put(key, value [, {expire_at_ms = ms | ttl_ms = ms}]) -> true | nil, message, name
function KV:put(key, value, opts)
  local p = kvp(self)
  local k = key_arg(key)
  local bytes, kind = encode_value(value)
  local rc
  if opts == nil then
    rc = r_kv_put(p, k, bytes, kind)
  else
    local at = expiry_arg(opts)
    if at == nil then rc = r_kv_put(p, k, bytes, kind) else rc = r_kv_put_ex(p, k, bytes, kind, at) end
  end
  if rc ~= 0 then return fail(rc) end
  return true
end
KV.set = KV.put

--- delete(key) -> true | nil, message, name ("CAIRN_NOTFOUND" when absent)
function KV:delete(key)
  local rc = r_kv_delete(kvp(self), key_arg(key))
  if rc ~= 0 then return fail(rc) end
  return true
end

--- contains(key) -> boolean | nil, message, name
function KV:contains(key)
  local rc = r_kv_contains(kvp(self), key_arg(key))
  if rc < 0 then return fail(rc) end
  return rc == 1
end

--- count() -> integer | nil, message, name
function KV:count()
  local rc, n = raw.cairn_kv_count(kvp(self))
  if rc ~= 0 then return fail(rc) end
  return n
end
KV.__len = KV.count

--- keys([prefix]) -> list of keys in ascending bytewise order (a snapshot) | nil, message, name
function KV:keys(prefix)
  local p = kvp(self)
  if prefix ~= nil then prefix = key_arg(prefix, "prefix") end
  local rc, list = raw.kv_keys(p, prefix)
  if rc ~= 0 then return fail(rc) end
  return setmetatable(list, cairn.array_mt)
end

-- A C key cursor owned by Lua: freed at the end of a for loop (its closing value), or by __gc.
local Cursor = { __name = "cairn.kv_cursor" }
local function cursor_free(c)
  local p = c._p
  if p then
    c._p = nil
    raw.cairn_kv_iter_free(p)
  end
end
Cursor.__close = cursor_free
Cursor.__gc = cursor_free
local EITEROVER = raw.CAIRN_ITEROVER

--- each([prefix]) -> for-loop iterator over the keys, ascending bytewise, from a snapshot taken
-- now; it does not build a list (use it for large stores). Leaving the loop early (break, error)
-- frees the cursor at once: the iterator carries a closing value. A failure raises.
function KV:each(prefix)
  local p = kvp(self)
  if prefix ~= nil then prefix = key_arg(prefix, "prefix") end
  local rc, ip = raw.cairn_kv_iter_open(p, prefix or "")
  if rc ~= 0 then
    local _, msg, name = fail(rc)
    raise(name, "%s", msg)
  end
  local cur = setmetatable({ _p = ip, owner = self }, Cursor) -- owner: keeps the store alive
  local function step()
    local c = cur._p
    if not c then return nil end
    if not self._p then
      cursor_free(cur)
      raise("CAIRN_CLOSED", "the kv store %s was closed during iteration", self.path)
    end
    local r, key = raw.cairn_kv_iter_next(c)
    if r == 0 then return key end
    cursor_free(cur)
    if r ~= EITEROVER then
      local _, msg, name = fail(r)
      raise(name, "%s", msg)
    end
    return nil
  end
  return step, nil, nil, cur
end

--- pairs([prefix]) -> iterator of key, value over a snapshot of the keys (also `for k, v in pairs(db)`).
-- Keys deleted after the snapshot are skipped; a failure raises.
function KV:pairs(prefix)
  local list, err, name = self:keys(prefix)
  if not list then raise(name, "%s", err) end
  local i = 0
  return function()
    while true do
      i = i + 1
      local k = list[i]
      if k == nil then return nil end
      local v, e, n = self:get(k)
      if v ~= nil then return k, v end
      if e then raise(n, "%s", e) end
    end
  end
end
KV.__pairs = function(self) return self:pairs() end

--- expiry(key) -> Unix ms (0: never) | nil if missing | nil, message, name
function KV:expiry(key)
  local rc, at = raw.cairn_kv_expiry(kvp(self), key_arg(key))
  if rc == 0 then return at end
  if rc == ENOTFOUND then return nil end
  return fail(rc)
end

--- update(key, changes) -> true | nil, message, name
-- Merges the fields of `changes` (a table with string keys) into the JSON object stored at key,
-- keeping its expiry. CAIRN_NOTFOUND if absent, CAIRN_TYPE if the value is not a JSON object.
function KV:update(key, changes)
  local p = kvp(self)
  local k = key_arg(key)
  if getmetatable(changes) == Json_mt then changes = changes[1] end
  if type(changes) ~= "table" or getmetatable(changes) ~= nil then
    raise("CAIRN_TYPE", "changes must be a table of fields (got %s)", type(changes))
  end
  local rc, v, kind = r_kv_get(p, k)
  if rc ~= 0 then return fail(rc) end
  if kind ~= JSON then
    return nil, "the value is not a JSON object (kind " .. (KIND_NAMES[kind] or "?") .. ")", "CAIRN_TYPE"
  end
  local doc, err, name = decode_value(v, kind)
  if doc == nil then return nil, err, name end
  if type(doc) ~= "table" or getmetatable(doc) ~= nil then
    return nil, "the value is a JSON document but not an object", "CAIRN_TYPE"
  end
  for f, fv in pairs(changes) do
    if type(f) ~= "string" then raise("CAIRN_TYPE", "changes must have string keys (got %s)", type(f)) end
    doc[f] = fv
  end
  local ok, s = pcall(json_encode, doc)
  if not ok then raise(cairn.errname(s) or "CAIRN_TYPE", "%s", (s:gsub("^CAIRN_%u+: ", ""))) end
  local erc, at = raw.cairn_kv_expiry(p, k)
  if erc ~= 0 then return fail(erc) end
  if at ~= 0 then rc = r_kv_put_ex(p, k, s, JSON, at) else rc = r_kv_put(p, k, s, JSON) end
  if rc ~= 0 then return fail(rc) end
  return true
end

local function status(rc)
  if rc ~= 0 then return fail(rc) end
  return true
end

function KV:begin() return status(raw.cairn_kv_begin(kvp(self))) end
function KV:commit() return status(raw.cairn_kv_commit(kvp(self))) end
function KV:rollback() return status(raw.cairn_kv_rollback(kvp(self))) end
function KV:sync() return status(raw.cairn_kv_sync(kvp(self))) end
function KV:reclaim() return status(raw.cairn_kv_compact(kvp(self))) end

-- Run fn(db, ...) in a transaction: commit if it returns, roll back and re-raise if it raises.
-- Returns fn's results, or nil, message, name if begin or commit fails.
local function transaction(self, fn, ...)
  if type(fn) ~= "function" then raise("CAIRN_TYPE", "transaction expects a function (got %s)", type(fn)) end
  local ok, err, name = self:begin()
  if not ok then return nil, err, name end
  local res = table.pack(pcall(fn, self, ...))
  if not res[1] then
    if self._p then self:rollback() end
    error(res[2], 0)
  end
  ok, err, name = self:commit()
  if not ok then return nil, err, name end
  return table.unpack(res, 2, res.n)
end
KV.transaction = transaction

--- stats() -> table (keys, data_files, disk_bytes, live_bytes, dead_bytes, keydir_bytes, seq,
-- reclaims: integers; in_txn: boolean) | nil, message, name
function KV:stats()
  local rc, st = raw.cairn_kv_stats(kvp(self))
  if rc ~= 0 then return fail(rc) end
  return st
end

-- ---- blob store ------------------------------------------------------------------------------
local Blob = { __name = "cairn.blob" }
Blob.__index = Blob
cairn.Blob = Blob
cairn.blob = {}

local function blobp(self)
  if getmetatable(self) ~= Blob then
    raise("CAIRN_TYPE", "expected a cairn.blob handle (call methods with ':')")
  end
  local p = self._p
  if not p then raise("CAIRN_CLOSED", "the blob store %s is closed", self.path) end
  return p
end

-- A blob key: an integer; out of 0..2^32-1 is a runtime CAIRN_INVALID (returned by the caller).
local function blob_key(k)
  local v = int_arg(k, "blob key")
  if v < 0 or v > 0xffffffff then return nil end
  return v
end
local function bad_key(k)
  return nil, str_format("blob key %s is outside 0..4294967295", tostring(k)), "CAIRN_INVALID"
end

-- Run the listeners for the events the engine queued during the last call.
local EVENT_NAMES = { created = true, updated = true, deleted = true, ["*"] = true }
local function dispatch(self)
  local q = self._q
  if not q then return end
  local events = raw.evq_drain(q)
  if #events == 0 then return end
  local first_err
  for _, e in ipairs(events) do
    for _, sub in ipairs(self._subs) do
      if sub.event == "*" or sub.event == e[1] then
        local ok, err = pcall(sub.fn, e[1], e[2], e[3], e[4])
        if not ok and first_err == nil then first_err = err end
      end
    end
  end
  if first_err ~= nil then error(first_err, 0) end
end

--- cairn.blob.open(path [, opts]) -> handle | nil, message, name
-- opts: create (default true), read_only, sync ("none" | "commit" | "group"), lock_timeout_ms.
function cairn.blob.open(path, opts)
  if not path_arg(path) then return bad_path() end
  local o = options(opts, BLOB_OPTIONS)
  local rc, p = raw.cairn_blob_open(path, o)
  if rc ~= 0 then return fail(rc) end
  return setmetatable({ _p = p, path = path, _subs = {}, _next_sub = 1 }, Blob)
end

function cairn.blob.check(path)
  if not path_arg(path) then return bad_path() end
  return status(raw.cairn_blob_check(path))
end

function Blob:close()
  if getmetatable(self) ~= Blob then raise("CAIRN_TYPE", "expected a cairn.blob handle") end
  local p = self._p
  if p then
    self._p = nil
    raw.cairn_blob_close(p)
    if self._q then
      raw.evq_free(self._q)
      self._q = nil
    end
  end
  return true
end
Blob.__gc = Blob.close
Blob.__close = Blob.close
function Blob:is_open() return self._p ~= nil end
function Blob:__tostring()
  return str_format("cairn.blob(%q%s)", self.path, self._p and "" or ", closed")
end

-- A mutating call: run it, then the listeners, then return its results.
local function mutate(self, rc, ...)
  if self._q then dispatch(self) end
  if rc ~= 0 then return fail(rc) end
  return ...
end

--- create(data) -> key | nil, message, name
function Blob:create(data)
  local p = blobp(self)
  return mutate(self, raw.cairn_blob_create(p, bytes_arg(data)))
end

--- reserve_next_key() -> key | nil, message, name
function Blob:reserve_next_key()
  local rc, key = raw.cairn_blob_reserve_next_key(blobp(self))
  if rc ~= 0 then return fail(rc) end
  return key
end

--- create_with_key(key, data) -> true | nil, message, name ("CAIRN_EXISTS" if present)
function Blob:create_with_key(key, data)
  local p = blobp(self)
  local k = blob_key(key)
  local d = bytes_arg(data)
  if not k then return bad_key(key) end
  return mutate(self, raw.cairn_blob_create_with_key(p, k, d), true)
end

--- read(key) -> string | nil, message, name ("CAIRN_NOTFOUND" if absent)
function Blob:read(key)
  local p = blobp(self)
  local k = blob_key(key)
  if not k then return bad_key(key) end
  local rc, data = raw.cairn_blob_read(p, k)
  if rc ~= 0 then return fail(rc) end
  return data
end

--- update(key, data) -> true | nil, message, name
function Blob:update(key, data)
  local p = blobp(self)
  local k = blob_key(key)
  local d = bytes_arg(data)
  if not k then return bad_key(key) end
  return mutate(self, raw.cairn_blob_update(p, k, d), true)
end

--- delete(key) -> true | nil, message, name
function Blob:delete(key)
  local p = blobp(self)
  local k = blob_key(key)
  if not k then return bad_key(key) end
  return mutate(self, raw.cairn_blob_delete(p, k), true)
end

--- exists(key) -> boolean | nil, message, name
function Blob:exists(key)
  local p = blobp(self)
  local k = blob_key(key)
  if not k then return bad_key(key) end
  local rc = raw.cairn_blob_exists(p, k)
  if rc < 0 then return fail(rc) end
  return rc == 1
end

function Blob:count()
  local rc, n = raw.cairn_blob_count(blobp(self))
  if rc ~= 0 then return fail(rc) end
  return n
end
Blob.__len = Blob.count

--- keys() -> list of keys, ascending (a snapshot) | nil, message, name
function Blob:keys()
  local rc, list = raw.blob_keys(blobp(self))
  if rc ~= 0 then return fail(rc) end
  return setmetatable(list, cairn.array_mt)
end

--- pairs() -> iterator of key, data over a snapshot of the keys (also `for k, d in pairs(store)`).
-- Keys deleted after the snapshot are skipped; a failure raises.
function Blob:pairs()
  local list, err, name = self:keys()
  if not list then raise(name, "%s", err) end
  local i = 0
  return function()
    while true do
      i = i + 1
      local k = list[i]
      if k == nil then return nil end
      local d, e, n = self:read(k)
      if d ~= nil then return k, d end
      if n ~= "CAIRN_NOTFOUND" then raise(n, "%s", e) end
    end
  end
end
Blob.__pairs = function(self) return self:pairs() end

function Blob:flush() local p = blobp(self); return mutate(self, raw.cairn_blob_sync(p), true) end
function Blob:compact() local p = blobp(self); return mutate(self, raw.cairn_blob_compact(p), true) end
function Blob:begin() return status(raw.cairn_blob_begin(blobp(self))) end
function Blob:commit() local p = blobp(self); return mutate(self, raw.cairn_blob_commit(p), true) end
function Blob:rollback() local p = blobp(self); return mutate(self, raw.cairn_blob_rollback(p), true) end
Blob.transaction = transaction

function Blob:stats()
  local rc, st = raw.cairn_blob_stats(blobp(self))
  if rc ~= 0 then return fail(rc) end
  return st
end

--- on(event, fn) -> subscription id. event: "created" | "updated" | "deleted" | "*".
-- fn(event, key, old_size, new_size) runs after the change is durable (inside a transaction: at
-- commit, in order), on the next return from this handle's method; never for a failed or
-- rolled-back change. An error in a listener is raised after every listener has run.
function Blob:on(event, fn)
  local p = blobp(self)
  if type(event) ~= "string" then raise("CAIRN_TYPE", "event must be a string (got %s)", type(event)) end
  if not EVENT_NAMES[event] then
    raise("CAIRN_INVALID", "unknown event '%s' (created, updated, deleted or *)", event)
  end
  if type(fn) ~= "function" then raise("CAIRN_TYPE", "listener must be a function (got %s)", type(fn)) end
  if not self._q then
    local q = raw.evq_new()
    local rc, id = raw.cairn_blob_subscribe(p, q)
    if rc ~= 0 then
      raw.evq_free(q)
      return fail(rc)
    end
    self._q, self._sub_id = q, id
  end
  local sid = self._next_sub
  self._next_sub = sid + 1
  self._subs[#self._subs + 1] = { id = sid, event = event, fn = fn }
  return sid
end

--- off(id) -> true if that subscription existed, else false.
function Blob:off(id)
  blobp(self)
  for i, sub in ipairs(self._subs) do
    if sub.id == id then
      table.remove(self._subs, i)
      return true
    end
  end
  return false
end

return cairn
