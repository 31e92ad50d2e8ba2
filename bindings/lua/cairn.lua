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
-- (json_text: the encoder that raises with the error name of what it cannot encode.)
local function json_text(v)
  local ok, s = pcall(json_encode, v)
  if not ok then raise(cairn.errname(s) or "CAIRN_TYPE", "%s", (tostring(s):gsub("^CAIRN_%u+: ", ""))) end
  return s
end
cairn.json_encode = json_text
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
    elseif mt == Json_mt then return json_text(v[1]), JSON
    elseif v == cairn.null or mt == nil or mt == cairn.array_mt then return json_text(v), JSON
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

-- A path: a string without NUL bytes (C would silently cut it at the first one).
local function path_arg(path)
  if type(path) ~= "string" then raise("CAIRN_TYPE", "path must be a string (got %s)", type(path)) end
  if path:find("\0", 1, true) then return nil end
  return path
end
local function bad_path()
  return nil, "path contains a NUL byte", "CAIRN_INVALID"
end

-- ---- the test clock --------------------------------------------------------------------------
-- cairn.now_ms() is the wall clock that expiry uses, in Unix milliseconds.
-- FOR TESTS ONLY: cairn.testing.set_clock(unix_ms) makes that clock a fixed fake time for the
-- whole process (the core's cairn_testing_set_clock); 0 returns to the real clock. A ttl is
-- counted from this clock.
local fake_now = 0
local function now()
  if fake_now ~= 0 then return fake_now end
  return now_ms()
end
cairn.now_ms = now
cairn.testing = {}
function cairn.testing.set_clock(unix_ms)
  local ms = int_arg(unix_ms, "unix_ms")
  if ms < 0 then raise("CAIRN_INVALID", "set_clock: unix_ms must be >= 0 (got %d)", ms) end
  raw.cairn_testing_set_clock(ms)
  fake_now = ms
end

-- ---- options and stats: tables <-> the C structs (field names from the SWIG wrapper) ----------
local SYNC = { none = raw.CAIRN_SYNC_NONE, commit = raw.CAIRN_SYNC_COMMIT, group = raw.CAIRN_SYNC_GROUP }
local BOOL_OPTIONS = { create = true, read_only = true } -- int flags in C, booleans in Lua
local BOOL_STATS = { in_txn = true }

-- The names of the fields of a SWIG-wrapped struct: its class keeps a getter and a setter per field.
local function fields(obj, which) return getmetatable(obj)[which] end
local function set_field(obj, k, v) obj[k] = v end

-- An options table -> a new options struct of the engine (from its _INIT defaults), or nil.
-- Every field of the C struct but `version` is an option, under its C name. Ranges are the C
-- field's (an unsigned field: 0..2^32-1) and then the core's own checks.
local function options(opts, new_struct)
  if opts == nil then return nil end
  if type(opts) ~= "table" then raise("CAIRN_TYPE", "options must be a table (got %s)", type(opts)) end
  local o = new_struct()
  local known = fields(o, ".set")
  for k, v in pairs(opts) do
    if type(k) ~= "string" then raise("CAIRN_TYPE", "option names must be strings (got %s)", type(k)) end
    if k == "version" or not known[k] then raise("CAIRN_INVALID", "unknown option '%s'", k) end
    if BOOL_OPTIONS[k] then
      if type(v) ~= "boolean" then raise("CAIRN_TYPE", "option '%s' must be a boolean (got %s)", k, type(v)) end
      v = v and 1 or 0
    elseif k == "sync" then
      if type(v) ~= "string" then raise("CAIRN_TYPE", "option 'sync' must be a string (got %s)", type(v)) end
      if not SYNC[v] then raise("CAIRN_INVALID", "option 'sync' must be \"none\", \"commit\" or \"group\"") end
      v = SYNC[v]
    elseif math_type(v) ~= "integer" then
      raise("CAIRN_TYPE", "option '%s' must be an integer (got %s)", k, math_type(v) or type(v))
    end
    if not pcall(set_field, o, k, v) then raise("CAIRN_INVALID", "option '%s' is out of range", k) end
  end
  return o
end

-- A filled stats struct -> a table of every field but `size` (flags as booleans).
local function stats_table(st)
  local t = {}
  for f in pairs(fields(st, ".get")) do
    if f ~= "size" then
      local v = st[f]
      if BOOL_STATS[f] then v = v ~= 0 end
      t[f] = v
    end
  end
  return t
end

-- ---- events: queued by the C callback, delivered after the C call returns --------------------
-- A handle with listeners owns a queue (self._q) that the core's callback fills; every method
-- drains it when its C call has returned, so listeners run on the calling thread, in order, after
-- the call (a transaction's events come with its commit). A listener's error does not undo the
-- change: it is raised, after every listener has run, by the method that caused the event.
local EVENT_NAMES = { created = true, updated = true, deleted = true, ["*"] = true }
local function dispatch(self)
  local events = raw.evq_drain(self._q)
  if #events == 0 then return end
  local subs = table.move(self._subs, 1, #self._subs, 1, {}) -- listeners may call off()
  local first_err
  for _, e in ipairs(events) do
    for _, sub in ipairs(subs) do
      if sub.event == "*" or sub.event == e[1] then
        local ok, err = pcall(sub.fn, e[1], e[2], e[3], e[4])
        if not ok and first_err == nil then first_err = err end
      end
    end
  end
  if first_err ~= nil then error(first_err, 0) end
end

-- on(event, fn) / off(id) over the engine's C subscribe/unsubscribe.
local function listeners(check, subscribe, unsubscribe)
  local function on(self, event, fn)
    local p = check(self)
    if type(event) ~= "string" then raise("CAIRN_TYPE", "event must be a string (got %s)", type(event)) end
    if not EVENT_NAMES[event] then
      raise("CAIRN_INVALID", "unknown event '%s' (created, updated, deleted or *)", event)
    end
    if type(fn) ~= "function" then raise("CAIRN_TYPE", "listener must be a function (got %s)", type(fn)) end
    if not self._q then
      local q = raw.evq_new()
      local rc, id = subscribe(p, q)
      if rc ~= 0 then
        raw.evq_free(q)
        return fail(rc)
      end
      self._q, self._sub_id, self._subs = q, id, {}
    end
    local sid = (self._last_sub or 0) + 1
    self._last_sub = sid
    self._subs[#self._subs + 1] = { id = sid, event = event, fn = fn }
    return sid
  end
  local function off(self, id)
    local p = check(self)
    local subs = self._subs
    for i, sub in ipairs(subs or {}) do
      if sub.id == id then
        table.remove(subs, i)
        -- the last one: stop the C side too (the queue stays if the core still refers to it)
        if #subs == 0 and unsubscribe(p, self._sub_id) == 0 then
          raw.evq_free(self._q)
          self._q, self._sub_id, self._subs = nil, nil, nil
        end
        return true
      end
    end
    return nil, str_format("no subscription %s", tostring(id)), "CAIRN_NOTFOUND"
  end
  return on, off
end

-- ---- the engine-neutral base -----------------------------------------------------------------
-- Result shapes of the C calls: status (rc) followed by the out-params.
local function OK(rc)
  if rc ~= 0 then return fail(rc) end
  return true
end
local function OUT(rc, v)
  if rc ~= 0 then return fail(rc) end
  return v
end
local function BOOL(rc)
  if rc < 0 then return fail(rc) end
  return rc == 1
end
local function LIST(rc, list)
  if rc ~= 0 then return fail(rc) end
  return setmetatable(list, cairn.array_mt)
end

-- The end of every method: deliver the events the C call queued, then map its results.
local function finish(self, shape, ...)
  if self._q then dispatch(self) end
  return shape(...)
end

-- Run fn(handle, ...) in a transaction: commit if it returns, roll back and re-raise if it raises.
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

--[[ engine(name, what, read) -> class, def, check

The handle class of the C functions cairn_<name>_*, with everything engines share:
  cairn.<name>.open(path [, opts]) (options parsed into the C options struct by its field names),
  cairn.<name>.check(path); close (also __gc and __close), is_open, __tostring; begin, commit,
  rollback, transaction(fn), sync, compact, count (also #h), stats; pairs() (also pairs(h)) over
  keys() with the method named `read`.
def(verb or function, {argument converters}, result shape) makes a method: it checks the handle
(a handle of this class, not closed), converts the arguments (a converter raises on misuse, or
returns nil, message for a runtime CAIRN_INVALID), calls cairn_<name>_<verb>(handle, args...),
delivers the queued events and maps the status by the shape. An engine is then its method list. ]]
local function engine(name, what, read)
  local prefix = "cairn_" .. name .. "_"
  local function C(verb)
    return raw[prefix .. verb] or error("cairn_swig has no " .. prefix .. verb, 2)
  end
  local class = { __name = "cairn." .. name }
  class.__index = class

  local function check(self)
    if getmetatable(self) ~= class then
      raise("CAIRN_TYPE", "expected a %s handle (call methods with ':')", class.__name)
    end
    local p = self._p
    if not p then raise("CAIRN_CLOSED", "the %s %s is closed", what, self.path) end
    return p
  end

  local function def(fn, convs, shape)
    if type(fn) == "string" then fn = C(fn) end
    local n, c1, c2 = convs and #convs or 0, convs and convs[1], convs and convs[2]
    if n == 0 then
      return function(self) return finish(self, shape, fn(check(self))) end
    elseif n == 1 then
      return function(self, a)
        local p = check(self)
        local x, bad = c1(a)
        if bad then return nil, bad, "CAIRN_INVALID" end
        return finish(self, shape, fn(p, x))
      end
    end
    assert(n == 2, "def: at most two arguments")
    return function(self, a, b)
      local p = check(self)
      local x, bad = c1(a)
      local y, bad2 = c2(b)
      if bad or bad2 then return nil, bad or bad2, "CAIRN_INVALID" end
      return finish(self, shape, fn(p, x, y))
    end
  end

  for _, verb in ipairs({ "begin", "commit", "rollback", "sync", "compact" }) do
    class[verb] = def(verb, nil, OK)
  end
  class.transaction = transaction
  class.count = def("count", nil, OUT)
  class.__len = class.count
  local c_stats, Stats = C("stats"), C("stats_t")
  class.stats = def(function(p)
    local st = Stats()
    return c_stats(p, st), st
  end, nil, function(rc, st)
    if rc ~= 0 then return fail(rc) end
    return stats_table(st)
  end)

  -- pairs(...) -> iterator of key, value over a snapshot of keys(...); keys gone since are skipped,
  -- a failure raises.
  function class:pairs(...)
    local list, err, errname = self:keys(...)
    if not list then raise(errname, "%s", err) end
    local get, i = class[read], 0
    return function()
      while true do
        i = i + 1
        local k = list[i]
        if k == nil then return nil end
        local v, e, n = get(self, k)
        if v ~= nil then return k, v end
        if e and n ~= "CAIRN_NOTFOUND" then raise(n, "%s", e) end
      end
    end
  end
  class.__pairs = class.pairs

  local c_close = C("close")
  function class:close()
    if getmetatable(self) ~= class then raise("CAIRN_TYPE", "expected a %s handle", class.__name) end
    local p = self._p
    if p then
      self._p = nil
      c_close(p)
      if self._q then
        raw.evq_free(self._q)
        self._q = nil
      end
    end
    return true
  end
  class.__gc = class.close
  class.__close = class.close
  function class:is_open() return self._p ~= nil end
  function class:__tostring()
    return str_format("%s(%q%s)", class.__name, self.path, self._p and "" or ", closed")
  end

  local c_open, c_check, Options = C("open"), C("check"), C("options")
  local module = {}
  --- cairn.<name>.open(path [, opts]) -> handle | nil, message, name
  function module.open(path, opts)
    if not path_arg(path) then return bad_path() end
    local o = options(opts, Options)
    local rc, p = c_open(path, o)
    if rc ~= 0 then return fail(rc) end
    return setmetatable({ _p = p, path = path }, class)
  end
  --- cairn.<name>.check(path) -> true | nil, message, name: verify the store without opening it.
  function module.check(path)
    if not path_arg(path) then return bad_path() end
    return OK(c_check(path))
  end
  cairn[name] = module
  return class, def, check
end

-- ---- KV --------------------------------------------------------------------------------------
local KV, kv_def, kv_check = engine("kv", "kv store", "get")
cairn.KV = KV

local NOTFOUND = raw.CAIRN_NOTFOUND
local r_kv_put, r_kv_put_ex = raw.cairn_kv_put, raw.cairn_kv_put_ex

local function prefix_arg(v)
  if v == nil then return nil end
  return key_arg(v, "prefix")
end

--- get(key) -> value | nil if missing | nil, message, name
KV.get = kv_def("get", { key_arg }, function(rc, v, kind)
  if rc == 0 then
    if kind == JSON then return decode_value(v, kind) end
    return v
  end
  if rc == NOTFOUND then return nil end
  return fail(rc)
end)

--- get_typed(key) -> value, kind name ("bytes" | "text" | "json" | "native") | nil | nil, msg, name
KV.get_typed = kv_def("get", { key_arg }, function(rc, v, kind)
  if rc == 0 then
    local val, err, name = decode_value(v, kind)
    if val == nil then return nil, err, name end
    return val, KIND_NAMES[kind] or tostring(kind)
  end
  if rc == NOTFOUND then return nil end
  return fail(rc)
end)

--- delete(key) -> true | nil, message, name ("CAIRN_NOTFOUND" when absent)
KV.delete = kv_def("delete", { key_arg }, OK)
--- exists(key) -> boolean | nil, message, name
KV.exists = kv_def("exists", { key_arg }, BOOL)
--- keys([prefix]) -> list of keys in ascending bytewise order (a snapshot) | nil, message, name
KV.keys = kv_def(raw.kv_keys, { prefix_arg }, LIST)

--- expiry(key) -> Unix ms of an expiring key | false if it never expires
---   | nil, message, "CAIRN_NOTFOUND" if missing or expired | nil, message, name
KV.expiry = kv_def("expiry", { key_arg }, function(rc, at)
  if rc ~= 0 then return fail(rc) end
  return at ~= 0 and at
end)

-- {ttl = ms} | {expire_at = Unix ms} -> the absolute expiry, or nil for none.
local function expiry_arg(opts)
  if opts == nil then return nil end
  if type(opts) ~= "table" then raise("CAIRN_TYPE", "put options must be a table (got %s)", type(opts)) end
  for k in pairs(opts) do
    if k ~= "ttl" and k ~= "expire_at" then raise("CAIRN_INVALID", "unknown put option '%s'", tostring(k)) end
  end
  local ttl, at = opts.ttl, opts.expire_at
  if ttl ~= nil and at ~= nil then raise("CAIRN_INVALID", "give ttl or expire_at, not both") end
  if ttl ~= nil then
    ttl = int_arg(ttl, "ttl")
    if ttl < 0 then raise("CAIRN_INVALID", "ttl must be >= 0 ms (got %d)", ttl) end
    return now() + ttl
  end
  if at ~= nil then return int_arg(at, "expire_at") end
  return nil
end

--- put(key, value [, {ttl = ms} | {expire_at = Unix ms}]) -> true | nil, message, name
function KV:put(key, value, opts)
  local p = kv_check(self)
  local k = key_arg(key)
  local bytes, kind = encode_value(value)
  local at = expiry_arg(opts)
  if at == nil then return OK(r_kv_put(p, k, bytes, kind)) end
  return OK(r_kv_put_ex(p, k, bytes, kind, at))
end
KV.set = KV.put

--- update(key, changes) -> true | nil, message, name
-- Merges the fields of `changes` (a table with string keys) into the JSON object stored at key,
-- keeping its expiry (the core's cairn_kv_update_json). CAIRN_NOTFOUND if absent, CAIRN_TYPE if
-- the value is not a JSON object.
function KV:update(key, changes)
  local p = kv_check(self)
  local k = key_arg(key)
  if getmetatable(changes) == Json_mt then changes = changes[1] end
  if type(changes) ~= "table" or getmetatable(changes) ~= nil then
    raise("CAIRN_TYPE", "changes must be a table of fields (got %s)", type(changes))
  end
  for f in pairs(changes) do
    if type(f) ~= "string" then raise("CAIRN_TYPE", "changes must have string keys (got %s)", type(f)) end
  end
  return OK(raw.cairn_kv_update_json(p, k, json_text(changes)))
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
local ITEROVER = raw.CAIRN_ITEROVER

--- each([prefix]) -> for-loop iterator over the keys, ascending bytewise, from a snapshot taken
-- now; it does not build a list (use it for large stores). Leaving the loop early (break, error)
-- frees the cursor at once: the iterator carries a closing value. A failure raises.
function KV:each(prefix)
  local p = kv_check(self)
  local rc, ip = raw.cairn_kv_iter_open(p, prefix_arg(prefix) or "")
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
    if r ~= ITEROVER then
      local _, msg, name = fail(r)
      raise(name, "%s", msg)
    end
    return nil
  end
  return step, nil, nil, cur
end

-- ---- blob store ------------------------------------------------------------------------------
local Blob, blob_def, blob_check = engine("blob", "blob store", "read")
cairn.Blob = Blob

-- A blob key: an integer; out of 0..2^32-1 is a runtime CAIRN_INVALID.
local function blob_key(k)
  local v = int_arg(k, "blob key")
  if v < 0 or v > 0xffffffff then return nil, str_format("blob key %s is outside 0..4294967295", tostring(k)) end
  return v
end

--- create(data) -> key | nil, message, name
Blob.create = blob_def("create", { bytes_arg }, OUT)
--- reserve_next_key() -> key | nil, message, name
Blob.reserve_next_key = blob_def("reserve_next_key", nil, OUT)
--- create_with_key(key, data) -> true | nil, message, name ("CAIRN_EXISTS" if present)
Blob.create_with_key = blob_def("create_with_key", { blob_key, bytes_arg }, OK)
--- read(key) -> string | nil, message, name ("CAIRN_NOTFOUND" if absent)
Blob.read = blob_def("read", { blob_key }, OUT)
--- update(key, data) -> true | nil, message, name
Blob.update = blob_def("update", { blob_key, bytes_arg }, OK)
--- delete(key) -> true | nil, message, name
Blob.delete = blob_def("delete", { blob_key }, OK)
--- exists(key) -> boolean | nil, message, name
Blob.exists = blob_def("exists", { blob_key }, BOOL)
--- keys() -> list of keys, ascending (a snapshot) | nil, message, name
Blob.keys = blob_def(raw.blob_keys, nil, LIST)

--- on(event, fn) -> subscription id. event: "created" | "updated" | "deleted" | "*".
-- fn(event, key, old_size, new_size) runs after the change is durable (inside a transaction: at
-- commit, in order), when the method that made it returns; never for a failed or rolled-back
-- change. An error in a listener is raised after every listener has run.
--- off(id) -> true | nil, message, "CAIRN_NOTFOUND" if there is no such subscription.
Blob.on, Blob.off = listeners(blob_check, raw.cairn_blob_subscribe, raw.cairn_blob_unsubscribe)

return cairn
