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
  * Table rows are Lua tables of column = value, converted by the column's type (bytes columns
    take and give strings, a u64 beyond 2^63-1 is its decimal string, timestamps are integer
    microseconds); a column left out takes its default, cairn.null is an explicit null, and a
    row read back has every column (nulls as cairn.null). A value of the wrong type for its
    column is the core's runtime CAIRN_TYPE.
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

-- A key: a string (any bytes) or cairn.bytes/cairn.text(s). (`what` names it in the message;
-- as a method's converter the second argument is the handle, so only a string counts.)
local function key_arg(k, what)
  if type(k) == "string" then return k end
  local mt = getmetatable(k)
  if mt == Bytes_mt or mt == Text_mt then return k[1] end
  raise("CAIRN_TYPE", "%s must be a string (got %s)", type(what) == "string" and what or "key",
    math_type(k) or type(k))
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
-- field's (an unsigned field: 0..2^32-1) and then the core's own checks. `conv` (optional) maps an
-- option name to the engine's converter of its Lua value into the field's C value.
local function options(opts, new_struct, conv)
  if opts == nil then return nil end
  if type(opts) ~= "table" then raise("CAIRN_TYPE", "options must be a table (got %s)", type(opts)) end
  local o = new_struct()
  local known = fields(o, ".set")
  for k, v in pairs(opts) do
    if type(k) ~= "string" then raise("CAIRN_TYPE", "option names must be strings (got %s)", type(k)) end
    if k == "version" or not known[k] then raise("CAIRN_INVALID", "unknown option '%s'", k) end
    if conv and conv[k] then
      v = conv[k](v)
    elseif BOOL_OPTIONS[k] then
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
-- self._evargs (set by the engine's listeners()) turns a drained event into the listener's
-- arguments after the event name.
local function dispatch(self)
  local events = raw.evq_drain(self._q)
  if #events == 0 then return end
  local subs = table.move(self._subs, 1, #self._subs, 1, {}) -- listeners may call off()
  local evargs = self._evargs
  local first_err
  for _, e in ipairs(events) do
    local a, b, c = e[2], e[3], e[4]
    if evargs then a, b, c = evargs(self, e) end
    for _, sub in ipairs(subs) do
      if sub.event == "*" or sub.event == e[1] then
        local ok, err = pcall(sub.fn, e[1], a, b, c)
        if not ok and first_err == nil then first_err = err end
      end
    end
  end
  if first_err ~= nil then error(first_err, 0) end
end

-- on(event, fn) / off(id) / subscribe(fn) (= on("*", fn)) over the engine's C subscribe and
-- unsubscribe. `names` lists the engine's event names; evargs(self, event) (optional) maps a
-- drained event to the listener's arguments after the name.
local function listeners(check, subscribe, unsubscribe, names, evargs)
  local known = { ["*"] = true }
  for _, n in ipairs(names) do known[n] = true end
  local list = table.concat(names, ", ") .. " or *"
  local function on(self, event, fn)
    local p = check(self)
    if type(event) ~= "string" then raise("CAIRN_TYPE", "event must be a string (got %s)", type(event)) end
    if not known[event] then
      raise("CAIRN_INVALID", "unknown event '%s' (%s)", event, list)
    end
    if type(fn) ~= "function" then raise("CAIRN_TYPE", "listener must be a function (got %s)", type(fn)) end
    if not self._q then
      local q = raw.evq_new()
      local rc, id = subscribe(p, q)
      if rc ~= 0 then
        raw.evq_free(q)
        return fail(rc)
      end
      self._q, self._sub_id, self._subs, self._evargs = q, id, {}, evargs
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
  local function subscribe_all(self, fn) return on(self, "*", fn) end
  return on, off, subscribe_all
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

-- A C cursor owned by Lua: iterate(self, ip, free, step) -> the values of a generic for
-- (iterator, nil, nil, closing value). step(ip) returns rc and up to two values; rc 0 yields them,
-- CAIRN_ITEROVER ends the loop, any other code raises. The cursor is freed at the end of the loop,
-- when the loop is left early (break, error: the closing value), by __gc, and before its handle
-- closes (a closed handle's cursor raises CAIRN_CLOSED at the next step).
local ITEROVER = raw.CAIRN_ITEROVER
local Cursor = { __name = "cairn.cursor" }
Cursor.__index = Cursor
function Cursor:free()
  local ip = self._ip
  if ip then
    self._ip = nil
    self._free(ip)
    local owner = self.owner
    if owner._cursors then owner._cursors[self] = nil end
  end
end
Cursor.__close = Cursor.free
Cursor.__gc = Cursor.free
local function iterate(self, ip, free, step)
  local cur = setmetatable({ _ip = ip, _free = free, owner = self }, Cursor) -- owner: keeps it alive
  self._cursors = self._cursors or setmetatable({}, { __mode = "k" })
  self._cursors[cur] = true
  local function next_item()
    local c = cur._ip
    if not c then
      if not self._p then
        raise("CAIRN_CLOSED", "%s %q was closed during iteration", getmetatable(self).__name, self.path)
      end
      return nil
    end
    local r, a, b = step(c)
    if r == 0 then return a, b end
    cur:free()
    if r ~= ITEROVER then
      local _, msg, name = fail(r)
      raise(name, "%s", msg)
    end
    return nil
  end
  return next_item, nil, nil, cur
end

--[[ engine(name, what, read) -> class, def, check

The handle class of the C functions cairn_<name>_*, with everything engines share:
  cairn.<name>.open(path [, opts]) (options parsed into the C options struct by its field names),
  cairn.<name>.check(path); close (also __gc and __close), is_open, __tostring; begin, commit,
  rollback, transaction(fn), sync, compact (each where the engine's C API has it), count (also #h;
  not with spec.no_count), stats, metrics; pairs() (also pairs(h)) over keys() with the method named `read`
  (when given).
def(verb or function, {argument converters}, result shape) makes a method: it checks the handle
(a handle of this class, not closed), converts the arguments (converter(arg, handle): raises on
misuse, or returns nil, message for a runtime CAIRN_INVALID), calls cairn_<name>_<verb>(handle,
args...), delivers the queued events and maps the status by the shape. An engine is then its
method list. `spec` (optional) holds what an engine adds to the shared open: `options`, converters
of its own options (see options()), and `opened(handle)`, run on every handle open() returns;
`no_count` leaves count to the engine. ]]
local function engine(name, what, read, spec)
  spec = spec or {}
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
        local x, bad = c1(a, self)
        if bad then return nil, bad, "CAIRN_INVALID" end
        return finish(self, shape, fn(p, x))
      end
    end
    if n == 2 then
      return function(self, a, b)
        local p = check(self)
        local x, bad = c1(a, self)
        local y, bad2 = c2(b, self)
        if bad or bad2 then return nil, bad or bad2, "CAIRN_INVALID" end
        return finish(self, shape, fn(p, x, y))
      end
    end
    -- more arguments: every one is converted (misuse raises) before the first runtime refusal
    return function(self, ...)
      local p = check(self)
      local args, bad = { ... }, nil
      for i = 1, n do
        local x, b = convs[i](args[i], self)
        args[i] = x
        bad = bad or b
      end
      if bad then return nil, bad, "CAIRN_INVALID" end
      return finish(self, shape, fn(p, table.unpack(args, 1, n)))
    end
  end

  -- The verbs every store engine has, where the engine's C API has them (the versioned store
  -- has no transactions, sync or compaction, and counts per entry).
  for _, verb in ipairs({ "begin", "commit", "rollback", "sync", "compact" }) do
    if raw[prefix .. verb] then class[verb] = def(verb, nil, OK) end
  end
  if class.begin then class.transaction = transaction end
  --- in_txn() -> boolean: the core's flag, where the engine's C API has cairn_<engine>_in_txn
  if raw[prefix .. "in_txn"] then class.in_txn = def("in_txn", nil, BOOL) end
  if not spec.no_count then
    class.count = def("count", nil, OUT)
    class.__len = class.count
  end
  local c_stats, Stats = C("stats"), C("stats_t")
  class.stats = def(function(p)
    local st = Stats()
    return c_stats(p, st), st
  end, nil, function(rc, st)
    if rc ~= 0 then return fail(rc) end
    return stats_table(st)
  end)
  --- metrics() -> string | nil, message, name: stats() in the Prometheus text exposition format
  -- 0.0.4 (`# HELP`, `# TYPE`, `cairn_<engine>_<stat>{store="<path>"} <value>`; cairn_<engine>_metrics)
  class.metrics = def("metrics", nil, OUT)

  -- pairs(...) -> iterator of key, value over a snapshot of keys(...); keys gone since are skipped,
  -- a failure raises.
  if read then
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
  end
  class.__pairs = class.pairs

  local c_close = C("close")
  function class:close()
    if getmetatable(self) ~= class then raise("CAIRN_TYPE", "expected a %s handle", class.__name) end
    local p = self._p
    if p then
      if self._cursors then -- free the handle's open cursors before the handle
        for cur in pairs(self._cursors) do cur:free() end
      end
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

  -- A new handle of this class on an open C pointer (open, open_snapshot).
  local function adopt(p, path)
    local h = setmetatable({ _p = p, path = path }, class)
    if spec.opened then
      local ok, err, ename = spec.opened(h)
      if not ok then
        h:close()
        return nil, err, ename
      end
    end
    return h
  end

  -- Snapshots and backups, where the engine's C API has them (docs/snapshots.md).
  if raw[prefix .. "snapshot"] then
    local function snap_name(v)
      if type(v) ~= "string" then raise("CAIRN_TYPE", "a snapshot name must be a string (got %s)", math_type(v) or type(v)) end
      if v:find("\0", 1, true) then return nil, "snapshot name contains a NUL byte" end
      return v
    end
    local function opt_snap_name(v)
      if v == nil then return nil end
      return snap_name(v)
    end
    local function dest_arg(v)
      if type(v) ~= "string" then raise("CAIRN_TYPE", "dest must be a path string (got %s)", math_type(v) or type(v)) end
      if v:find("\0", 1, true) then return nil, "dest contains a NUL byte" end
      return v
    end
    --- snapshot([name]) -> name | nil, message, name: a named, read-only, point-in-time copy of the
    -- store (a unique name is chosen when none is given). Not inside a transaction (CAIRN_TXN).
    class.snapshot = def("snapshot", { opt_snap_name }, OUT)
    --- snapshots() -> list of {name =, time = Unix ms, bytes =}, oldest first
    class.snapshots = def("snapshots", nil, function(rc, json)
      if rc ~= 0 then return fail(rc) end
      return json_decode(json)
    end)
    --- drop_snapshot(name) -> true | nil, message, name ("CAIRN_NOTFOUND" when absent)
    class.drop_snapshot = def("drop_snapshot", { snap_name }, OK)
    --- backup(dest) -> true | nil, message, name: a consistent copy of the store into `dest` (a
    -- missing or empty directory; for a blob store a file that must not exist, with `dest`-wal)
    -- that opens as a normal store; writers go on meanwhile.
    class.backup = def("backup", { dest_arg }, OK)
    --- open_snapshot(name) -> a read-only handle of the same class | nil, message, name. It is
    -- independent of this handle: close each on its own.
    local open_snap = def(function(p, n)
      local rc, h = raw[prefix .. "open_snapshot"](p, n)
      return rc, h, n
    end, { snap_name }, function(rc, h, n)
      if rc ~= 0 then return fail(rc) end
      return h, n
    end)
    function class:open_snapshot(n)
      local h, x, ename = open_snap(self, n)
      if not h then return nil, x, ename end
      -- a blob store is a file: its snapshots live beside it, <path>-snapshots/<name>/blob
      if name == "blob" then return adopt(h, self.path .. "-snapshots/" .. x .. "/blob") end
      return adopt(h, self.path .. "/snapshots/" .. x)
    end
  end
  function class:__tostring()
    return str_format("%s(%q%s)", class.__name, self.path, self._p and "" or ", closed")
  end

  local c_open, c_check, Options = C("open"), raw[prefix .. "check"], C("options")
  local module = {}
  --- cairn.<name>.open(path [, opts]) -> handle | nil, message, name
  function module.open(path, opts)
    if not path_arg(path) then return bad_path() end
    local o = options(opts, Options, spec.options)
    local rc, p = c_open(path, o)
    if rc ~= 0 then return fail(rc) end
    return adopt(p, path)
  end
  --- cairn.<name>.check(path) -> true | nil, message, name: verify the store without opening it.
  if c_check then
    function module.check(path)
      if not path_arg(path) then return bad_path() end
      return OK(c_check(path))
    end
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

--- each([prefix]) -> for-loop iterator over the keys, ascending bytewise, from a snapshot taken
-- now; it does not build a list (use it for large stores). Leaving the loop early (break, error)
-- frees the cursor at once: the iterator carries a closing value. A failure raises.
local r_kv_iter_next = raw.cairn_kv_iter_next
function KV:each(prefix)
  local p = kv_check(self)
  local rc, ip = raw.cairn_kv_iter_open(p, prefix_arg(prefix) or "")
  if rc ~= 0 then
    local _, msg, name = fail(rc)
    raise(name, "%s", msg)
  end
  return iterate(self, ip, raw.cairn_kv_iter_free, r_kv_iter_next)
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
Blob.on, Blob.off, Blob.subscribe = listeners(blob_check, raw.cairn_blob_subscribe,
  raw.cairn_blob_unsubscribe, { "created", "updated", "deleted" })
Blob.unsubscribe = Blob.off

-- ---- versioned store -------------------------------------------------------------------------
-- Wrapped when the core has it (cairn_swig then has cairn_repo_*).
if raw.cairn_repo_open then
  local Repo, repo_def, repo_check = engine("repo", "repository", nil, { no_count = true })
  cairn.Repo = Repo
  local repo_put_many, repo_next, repo_keys = raw.repo_put_many, raw.repo_next, raw.repo_keys

  -- Names (tenant, user, entry, tag): strings; one holding a NUL is a runtime CAIRN_INVALID (C
  -- would cut it there). The core checks the rest (1..255 bytes of UTF-8, no control characters).
  local function name_conv(what)
    return function(v)
      if type(v) ~= "string" then
        raise("CAIRN_TYPE", "%s must be a string (got %s)", what, math_type(v) or type(v))
      end
      if v:find("\0", 1, true) then return nil, what .. " contains a NUL byte" end
      return v
    end
  end
  local tenant_arg, user_arg, entry_arg, tag_arg =
    name_conv("tenant"), name_conv("user"), name_conv("entry"), name_conv("tag name")
  local digest_req = name_conv("digest")
  -- An optional digest: nil is the head (or, in diff, the empty collection).
  local function digest_arg(v)
    if v == nil then return nil end
    return digest_req(v)
  end
  local function rkey_arg(k) return key_arg(k, "key") end
  -- A value: as the KV's (string, table, cairn.bytes/text/json) -> { bytes, kind }.
  local function value_arg(v)
    local bytes, kind = encode_value(v)
    return { bytes, kind }
  end
  -- Records: a list of {key, value} pairs (a key given twice keeps its last value) or a table of
  -- key = value -> { keys, values, kinds }.
  local function records_arg(recs)
    if type(recs) ~= "table" or (getmetatable(recs) ~= nil and getmetatable(recs) ~= cairn.array_mt) then
      raise("CAIRN_TYPE", "records must be a list of {key, value} or a table of key = value (got %s)",
        math_type(recs) or type(recs))
    end
    local ks, vs, kinds = {}, {}, {}
    local n = #recs
    if n > 0 or getmetatable(recs) == cairn.array_mt then
      for i = 1, n do
        local r = recs[i]
        if type(r) ~= "table" or getmetatable(r) ~= nil and getmetatable(r) ~= cairn.array_mt or r[2] == nil then
          raise("CAIRN_TYPE", "record %d must be a {key, value} pair (got %s)", i, type(r))
        end
        ks[i] = key_arg(r[1], "key")
        vs[i], kinds[i] = encode_value(r[2])
      end
      for k in pairs(recs) do
        if math_type(k) ~= "integer" or k < 1 or k > n then
          raise("CAIRN_TYPE", "records: a list of pairs has no key %s", tostring(k))
        end
      end
    else
      for k, v in pairs(recs) do
        if type(k) ~= "string" then
          raise("CAIRN_TYPE", "records: keys must be strings (got %s)", math_type(k) or type(k))
        end
        ks[#ks + 1] = k
        vs[#ks], kinds[#ks] = encode_value(v)
      end
    end
    return { ks, vs, kinds }
  end
  local function grace_arg(v)
    if v == nil then return 0 end
    local ms = int_arg(v, "grace_ms")
    if ms < 0 then return nil, str_format("grace_ms must be >= 0 (got %d)", ms) end
    return ms
  end
  local function max_arg(v)
    if v == nil then return 0 end
    local m = int_arg(v, "max")
    if m < 0 then return nil, str_format("max must be >= 0 (got %d)", m) end
    return m
  end

  -- Result shapes: a value (nil when absent), a value and its kind name, a digest (nil when absent),
  -- JSON text decoded.
  local function VALUE(rc, v, kind)
    if rc == 0 then return decode_value(v, kind) end
    if rc == NOTFOUND then return nil end
    return fail(rc)
  end
  local function TYPED(rc, v, kind)
    if rc == 0 then
      local val, err, name = decode_value(v, kind)
      if val == nil then return nil, err, name end
      return val, KIND_NAMES[kind] or tostring(kind)
    end
    if rc == NOTFOUND then return nil end
    return fail(rc)
  end
  local function MAYBE(rc, d)
    if rc == 0 then return d end
    if rc == NOTFOUND then return nil end
    return fail(rc)
  end
  local function DECODED(rc, json)
    if rc ~= 0 then return fail(rc) end
    local v, err = json_decode(json)
    if v == nil then return nil, "JSON from the core does not parse: " .. err, "CAIRN_INTERNAL" end
    return v
  end
  local function unhex(h) return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end)) end
  -- diff's keys: a string, or {"$bytes": hex} for one that is not UTF-8 -> the key's bytes.
  local function DIFF(rc, json)
    local d, err, name = DECODED(rc, json)
    if not d then return nil, err, name end
    for _, f in ipairs({ "added", "removed", "changed" }) do
      local l = d[f] or cairn.array()
      for i, k in ipairs(l) do
        if type(k) == "table" then l[i] = unhex(k["$bytes"]) end
      end
      d[f] = l
    end
    return d
  end

  local r_save, r_put, r_load, r_get = raw.cairn_repo_save, raw.cairn_repo_put, raw.cairn_repo_load, raw.cairn_repo_get

  --- init(tenant) -> true | nil, message, name (an existing tenant is fine)
  Repo.init = repo_def("init", { tenant_arg }, OK)
  --- tenants() -> list of tenant names, sorted
  Repo.tenants = repo_def("tenants", nil, DECODED)
  --- entries(tenant) -> list of entry names, sorted ("CAIRN_NOTFOUND" for an unknown tenant)
  Repo.entries = repo_def("entries", { tenant_arg }, DECODED)
  --- save(tenant, user, entry, value) -> digest of the new version | nil, message, name
  -- value: as a KV value (a string is TEXT when valid UTF-8 else BYTES; a table is JSON; or
  -- cairn.bytes/text/json(...)). "CAIRN_TYPE" when the entry is a collection.
  Repo.save = repo_def(function(p, t, u, e, v) return r_save(p, t, u, e, v[1], v[2]) end,
    { tenant_arg, user_arg, entry_arg, value_arg }, OUT)
  --- load(tenant, entry [, digest]) -> value of the head (or of that version) | nil if absent
  Repo.load = repo_def(r_load, { tenant_arg, entry_arg, digest_arg }, VALUE)
  --- load_typed(tenant, entry [, digest]) -> value, kind name ("bytes" | "text" | "json" | "native") | nil
  Repo.load_typed = repo_def(r_load, { tenant_arg, entry_arg, digest_arg }, TYPED)
  --- exists(tenant, entry) -> boolean
  Repo.exists = repo_def("exists", { tenant_arg, entry_arg }, BOOL)
  --- digest(tenant, entry) -> the head digest | nil if absent
  Repo.digest = repo_def("digest", { tenant_arg, entry_arg }, MAYBE)
  --- put(tenant, user, entry, key, value) -> digest: one record into the collection `entry`
  -- (created by its first put). "CAIRN_TYPE" when the entry holds a whole value.
  Repo.put = repo_def(function(p, t, u, e, k, v) return r_put(p, t, u, e, k, v[1], v[2]) end,
    { tenant_arg, user_arg, entry_arg, rkey_arg, value_arg }, OUT)
  --- put_many(tenant, user, entry, records) -> digest: every record in one new version, all or
  -- nothing. records: a list of {key, value} (a key given twice keeps its last value) or a table
  -- of key = value.
  Repo.put_many = repo_def(function(p, t, u, e, r) return repo_put_many(p, t, u, e, r[1], r[2], r[3]) end,
    { tenant_arg, user_arg, entry_arg, records_arg }, OUT)
  --- get(tenant, entry, key [, digest]) -> the record's value | nil if absent
  Repo.get = repo_def(function(p, t, e, k, d) return r_get(p, t, e, d, k) end,
    { tenant_arg, entry_arg, rkey_arg, digest_arg }, VALUE)
  --- get_typed(tenant, entry, key [, digest]) -> value, kind name | nil
  Repo.get_typed = repo_def(function(p, t, e, k, d) return r_get(p, t, e, d, k) end,
    { tenant_arg, entry_arg, rkey_arg, digest_arg }, TYPED)
  --- delete(tenant, user, entry, key) -> digest of the new version ("CAIRN_NOTFOUND" when absent)
  Repo.delete = repo_def("delete", { tenant_arg, user_arg, entry_arg, rkey_arg }, OUT)
  --- count(tenant, entry [, digest]) -> number of records of the head (or of that version)
  Repo.count = repo_def("count", { tenant_arg, entry_arg, digest_arg }, OUT)
  --- keys(tenant, entry [, digest]) -> list of keys, ascending bytewise
  Repo.keys = repo_def(repo_keys, { tenant_arg, entry_arg, digest_arg }, LIST)
  --- diff(tenant, from, to) -> {added =, removed =, changed =}: lists of keys, each in key order,
  -- between two versions of collections (from older; nil: the empty collection).
  Repo.diff = repo_def("diff", { tenant_arg, digest_arg, digest_arg }, DIFF)
  --- history(tenant, entry [, max]) -> list of {digest, parents, user, time (Unix ms), collection},
  -- newest first, at most max (0 or nil: all)
  Repo.history = repo_def("history", { tenant_arg, entry_arg, max_arg }, DECODED)
  --- tag(tenant, name, digest) -> true: name a version of the tenant
  Repo.tag = repo_def("tag", { tenant_arg, tag_arg, digest_req }, OK)
  --- tag_get(tenant, name) -> the digest the tag names | nil if absent
  Repo.tag_get = repo_def("tag_get", { tenant_arg, tag_arg }, MAYBE)
  --- gc([grace_ms]) -> number of objects removed (unreferenced and older than grace_ms)
  Repo.gc = repo_def("gc", { grace_arg }, OUT)

  --- records(tenant, entry [, digest]) -> for-loop iterator of key, value in key order over the
  -- version (a version never changes). Leaving the loop early frees the cursor; a failure raises.
  local r_iter_open, r_iter_free = raw.cairn_repo_iter_open, raw.cairn_repo_iter_free
  local function step(c)
    local rc, k, v, kind = repo_next(c)
    if rc ~= 0 then return rc end
    local val, err, name = decode_value(v, kind)
    if val == nil then raise(name, "%s", err) end
    return 0, k, val
  end
  function Repo:records(tenant, entry, digest)
    local p = repo_check(self)
    local t, bad = tenant_arg(tenant)
    local e, bad2 = entry_arg(entry)
    local d, bad3 = digest_arg(digest)
    if bad or bad2 or bad3 then raise("CAIRN_INVALID", "%s", bad or bad2 or bad3) end
    local rc, ip = r_iter_open(p, t, e, d)
    if rc ~= 0 then
      local _, msg, name = fail(rc)
      raise(name, "%s", msg)
    end
    return iterate(self, ip, r_iter_free, step)
  end

  --- cairn.repo.verify(path) -> true | nil, message, name: re-hash every object of the repository
  -- at path and check every ref ("CAIRN_CORRUPT" naming the damage, "CAIRN_PATH").
  function cairn.repo.verify(path)
    if not path_arg(path) then return bad_path() end
    return OK(raw.cairn_repo_verify(path))
  end
end

-- ---- table -----------------------------------------------------------------------------------
-- Wrapped when the core has the table engine (cairn_swig then has cairn_table_*).
if raw.cairn_table_open then
  local row_encode, row_decode = raw.row_encode, raw.row_decode
  local r_table_get, r_table_next = raw.table_get, raw.table_next
  raw.row_setup(Bytes_mt, Text_mt)

  -- The column classes of the row codec (cairn_lua_json.h), by column type.
  local COL_BYTES, COL_U64, COL_FLOAT, COL_STRING, COL_INT = 1, 2, 3, 4, 5
  local function col_class(ty)
    if ty == "bytes" or ty:find("^bytes:") then return COL_BYTES end
    if ty == "u64" then return COL_U64 end
    if ty == "f32" or ty == "f64" then return COL_FLOAT end
    if ty == "string" then return COL_STRING end
    if ty:find("^[iu]%d+$") or ty == "timestamp" then return COL_INT end
    return 0
  end

  local function hex(s)
    return (s:gsub(".", function(c) return str_format("%02x", c:byte()) end))
  end

  -- A default (or any single value) of a column table, in the JSON row form of its type.
  local function json_value(v, ty)
    if v == nil then return nil end
    local mt = getmetatable(v)
    if mt == Bytes_mt then return { ["$bytes"] = hex(v[1]) } end
    if mt == Text_mt then return v[1] end
    local cls = col_class(ty)
    if type(v) == "string" then
      if cls == COL_BYTES or not utf8_valid(v) then return { ["$bytes"] = hex(v) } end
      return v
    end
    if math_type(v) == "float" and v ~= v then return { ["$f64"] = "nan" } end
    if v == math.huge then return { ["$f64"] = "inf" } end
    if v == -math.huge then return { ["$f64"] = "-inf" } end
    return v
  end

  local COLUMN_FIELDS = { name = "string", type = "string", nullable = "boolean",
                          primary_key = "boolean", unique = "boolean", default = true }
  -- A schema: the text form as it is, or a list of column tables -> the JSON array form.
  local function schema_arg(v)
    if type(v) == "string" then return v end
    if type(v) ~= "table" or (getmetatable(v) ~= nil and getmetatable(v) ~= cairn.array_mt) then
      raise("CAIRN_TYPE", "schema must be a string or a list of column tables (got %s)", type(v))
    end
    local cols = {}
    for i, c in ipairs(v) do
      if type(c) ~= "table" then raise("CAIRN_TYPE", "schema column %d must be a table (got %s)", i, type(c)) end
      local col = {}
      for k, x in pairs(c) do
        local want = COLUMN_FIELDS[k]
        if not want then raise("CAIRN_INVALID", "schema column %d: unknown field '%s'", i, tostring(k)) end
        if want ~= true and type(x) ~= want then
          raise("CAIRN_TYPE", "schema column %d: field '%s' must be a %s (got %s)", i, k, want, type(x))
        end
        col[k] = x
      end
      if type(c.type) == "string" then col.default = json_value(c.default, c.type) end
      cols[i] = col
    end
    return json_text(setmetatable(cols, cairn.array_mt))
  end

  -- Decode the core's JSON schema into column tables (defaults as Lua values of the column).
  local function schema_list(json, types)
    local cols, err = json_decode(json)
    if not cols then return nil, "schema JSON from the core does not parse: " .. err, "CAIRN_INTERNAL" end
    for _, c in ipairs(cols) do
      if c.default ~= nil and c.default ~= cairn.null then
        local one = { [c.name] = c.default }
        local row = row_decode(json_text(one), { [c.name] = col_class(c.type) })
        if row then c.default = row[c.name] end
      end
      if types then types[c.name] = col_class(c.type) end
    end
    return cols
  end

  -- The handle's column classes (self._types), from the stored schema; again after add_column.
  local function load_types(self)
    local rc, json = raw.cairn_table_schema(self._p, 1)
    if rc ~= 0 then return fail(rc) end
    local types = {}
    local ok, err, name = schema_list(json, types)
    if not ok then return nil, err, name end
    self._types = types
    return true
  end

  local Table, table_def, table_check = engine("table", "table", nil,
    { options = { schema = schema_arg }, opened = load_types })
  cairn.Table = Table

  --- cairn.table.repair(path) -> rebuilt | nil, message, name: verify the closed table as check
  --- does, then rebuild what is derived from its data (the manifest's copies of every segment's
  --- encoding and zone map); rebuilt: how many segment references were rebuilt (0: none wrong).
  function cairn.table.repair(path)
    if not path_arg(path) then return bad_path() end
    local rc, n = raw.cairn_table_repair(path)
    if rc ~= 0 then return fail(rc) end
    return n
  end

  -- Row arguments -> JSON text by the handle's column types. A Lua value no column can hold
  -- raises CAIRN_TYPE; a string column value that is not UTF-8 is a runtime CAIRN_INVALID.
  local function encoder(shape)
    return function(v, self)
      local json, msg, name = row_encode(v, self._types, shape)
      if json then return json end
      if name == "CAIRN_INVALID" then return nil, msg end
      raise(name, "%s", msg)
    end
  end
  local row_arg, rows_arg, columns_arg = encoder("row"), encoder("rows"), encoder("columns")

  -- A row id: an integer. One no row can have (0, negative) is absent like any other.
  local function id_arg(v)
    local id = int_arg(v, "row id")
    if id < 0 then return 0 end
    return id
  end
  local function types_of(_, self) return self._types end

  local function ROW(rc, row)
    if rc == 0 then return row end
    if rc == NOTFOUND then return nil end
    return fail(rc)
  end
  local function IDS(rc, ids)
    if rc ~= 0 then return fail(rc) end
    return json_decode(ids)
  end

  --- insert(row) -> id | nil, message, name
  Table.insert = table_def("insert_json", { row_arg }, OUT)
  --- insert_many(rows) -> list of ids (all or nothing) | nil, message, name
  Table.insert_many = table_def("insert_many_json", { rows_arg }, IDS)
  --- upsert(row) -> id: update the row with the row's primary key, or insert it
  Table.upsert = table_def("upsert_json", { row_arg }, OUT)
  --- get(id) -> row (every column; null as cairn.null) | nil if absent | nil, message, name
  Table.get = table_def(r_table_get, { id_arg, types_of }, ROW)
  --- update(id, changes) -> true | nil, message, name ("CAIRN_NOTFOUND" if absent)
  Table.update = table_def("update_json", { id_arg, row_arg }, OK)
  --- delete(id) -> true | nil, message, name ("CAIRN_NOTFOUND" if absent)
  Table.delete = table_def("delete", { id_arg }, OK)
  --- load(columns) -> first id: {column = list of values}, every list as long; all or nothing
  Table.load = table_def("load_json", { columns_arg }, OUT)
  -- in_txn() comes from engine() (cairn_table_in_txn)

  --- schema([form]) -> list of column tables {name, type, nullable, primary_key, unique, default}
  -- (default cairn.null when none), or with form "text" the canonical schema text.
  local function form_arg(form)
    if form == nil then return 1 end
    if form == "text" then return 0 end
    raise("CAIRN_INVALID", "schema(form): form must be nil or \"text\" (got %s)", tostring(form))
  end
  Table.schema = table_def("schema", { form_arg }, function(rc, out)
    if rc ~= 0 then return fail(rc) end
    if out:sub(1, 1) ~= "[" then return out end
    return schema_list(out)
  end)

  -- A column table -> one column of the schema text.
  local function literal(v, ty)
    if v == cairn.null then return "null" end
    local mt = getmetatable(v)
    if mt == Bytes_mt then return "x'" .. hex(v[1]) .. "'" end
    if mt == Text_mt then v = v[1] end
    if type(v) == "string" then
      local cls = col_class(ty)
      if cls == COL_BYTES then return "x'" .. hex(v) .. "'" end
      if (cls == COL_INT or cls == COL_U64) and v:find("^%-?[1-9]%d*$") and math_type(tonumber(v)) == "float" then
        return v -- an integer beyond Lua's range, in its decimal form
      end
      return "'" .. v:gsub("'", "''") .. "'"
    end
    if type(v) == "boolean" then return tostring(v) end
    if math_type(v) == "integer" then return tostring(v) end
    if math_type(v) == "float" then return str_format("%.17g", v) end
    raise("CAIRN_TYPE", "a default must be a column value (got %s)", type(v))
  end
  local function spec_arg(spec)
    if type(spec) == "string" then return spec end
    if type(spec) ~= "table" then
      raise("CAIRN_TYPE", "a column is its text ('name type ...') or a column table (got %s)", type(spec))
    end
    for k, x in pairs(spec) do
      local want = COLUMN_FIELDS[k]
      if not want then raise("CAIRN_INVALID", "column: unknown field '%s'", tostring(k)) end
      if want ~= true and type(x) ~= want then
        raise("CAIRN_TYPE", "column: field '%s' must be a %s (got %s)", k, want, type(x))
      end
    end
    if not spec.name or not spec.type then raise("CAIRN_INVALID", "column: name and type are required") end
    local parts = { spec.name, spec.type }
    if spec.primary_key then parts[#parts + 1] = "primary key" end
    if spec.unique then parts[#parts + 1] = "unique" end
    if spec.nullable == false then parts[#parts + 1] = "not null" end
    if spec.default ~= nil then parts[#parts + 1] = "default " .. literal(spec.default, spec.type) end
    return table.concat(parts, " ")
  end
  local add_column = table_def("add_column", { spec_arg }, OK)
  --- add_column(spec) -> true | nil, message, name: spec as one column of the schema text
  -- ("name type [constraints]") or a column table; existing rows get its default.
  function Table:add_column(spec)
    local ok, msg, name = add_column(self, spec)
    if not ok then return nil, msg, name end
    return load_types(self)
  end

  --- rows() -> for-loop iterator of id, row in id order, over a snapshot taken now (later
  -- writes are not seen); also pairs(t). The cursor is freed at the end of the loop, when the
  -- loop is left early, and before the table closes. A failure raises.
  local r_iter_open, r_iter_free = raw.cairn_table_iter_open, raw.cairn_table_iter_free
  function Table:rows()
    local p = table_check(self)
    local rc, ip = r_iter_open(p)
    if rc ~= 0 then
      local _, msg, name = fail(rc)
      raise(name, "%s", msg)
    end
    local types = self._types
    return iterate(self, ip, r_iter_free, function(c) return r_table_next(c, types) end)
  end
  Table.pairs = Table.rows
  Table.__pairs = Table.rows

  --- on(event, fn) -> subscription id. event: "inserted" | "updated" | "deleted" | "*".
  -- fn(event, id, new_row, old_row) runs after the change is committed (inside a transaction: at
  -- commit, in order), when the method that made it returns; new_row (inserted, updated) and
  -- old_row (updated, deleted) are rows as get() gives them, or nil. subscribe(fn) = on("*", fn);
  -- off(id) / unsubscribe(id) -> true | nil, message, "CAIRN_NOTFOUND".
  local function table_event(self, e)
    local types = self._types
    local new, old = e[3], e[4]
    if new then new = row_decode(new, types) end
    if old then old = row_decode(old, types) end
    return e[2], new, old
  end
  Table.on, Table.off, Table.subscribe = listeners(table_check, raw.cairn_table_subscribe,
    raw.cairn_table_unsubscribe, { "inserted", "updated", "deleted" }, table_event)
  Table.unsubscribe = Table.off

  -- ---- queries, indexes, export (docs/queries.md) ----------------------------------------------
  local result_decode = raw.result_decode
  local NaN_TAG, INF_TAG, NINF_TAG = { ["$f64"] = "nan" }, { ["$f64"] = "inf" }, { ["$f64"] = "-inf" }

  -- A value of a query (a WHERE operand, a param, an index value) -> its JSON row form: a string
  -- is text when valid UTF-8 and its column (cls, when known) is not bytes, else bytes;
  -- cairn.bytes(s) / cairn.text(s) force the form; NaN and the infinities are tagged.
  local function qvalue(v, cls)
    local tv = type(v)
    if tv == "string" then
      if cls == COL_BYTES or not utf8_valid(v) then return { ["$bytes"] = hex(v) } end
      return v
    elseif tv == "number" then
      if v ~= v then return NaN_TAG end
      if v == math.huge then return INF_TAG end
      if v == -math.huge then return NINF_TAG end
      return v
    elseif tv == "table" then
      if v == cairn.null then return v end
      local mt = getmetatable(v)
      if mt == Bytes_mt then return { ["$bytes"] = hex(v[1]) } end
      if mt == Text_mt then return v[1] end
      local out = {}
      for k, x in pairs(v) do out[k] = qvalue(x, cls) end
      return setmetatable(out, mt)
    end
    return v
  end

  -- A Lua list as a JSON array (a new table: the caller's is left alone); a table that is not a
  -- list (string keys) stays as it is, for the core to refuse.
  local function list(t)
    if getmetatable(t) ~= nil then return t end
    local n = #t
    for k in pairs(t) do
      if math_type(k) ~= "integer" or k < 1 or k > n then return t end
    end
    local out = {}
    for i = 1, n do out[i] = t[i] end
    return setmetatable(out, cairn.array_mt)
  end

  -- A WHERE (text, a triple {col, op, value}, a list of WHERE, {["$and"] = {...}}, {["$or"] =
  -- {...}}, {["$not"] = w}, or the shorthand {col = value | {op = value}}) with its values in
  -- their JSON form by the columns' types.
  local function qwhere(w, types)
    if type(w) ~= "table" or w == cairn.null or getmetatable(w) == Bytes_mt or getmetatable(w) == Text_mt then
      return w
    end
    if w[1] ~= nil then
      if type(w[1]) == "string" then -- a triple
        local out = { w[1], w[2] }
        if w[3] ~= nil then out[3] = qvalue(w[3], types[w[1]]) end
        return list(out)
      end
      local out = {}
      for i, x in ipairs(w) do out[i] = qwhere(x, types) end
      return list(out)
    end
    local out = {}
    for k, x in pairs(w) do
      if k == "$and" or k == "$or" then
        local l = {}
        if type(x) == "table" then
          for i, y in ipairs(x) do l[i] = qwhere(y, types) end
          x = list(l)
        end
        out[k] = x
      elseif k == "$not" then
        out[k] = qwhere(x, types)
      elseif type(x) == "table" and getmetatable(x) == nil and x[1] == nil and next(x) ~= nil then
        local ops = {} -- {gte = 21, lt = 30, in = {...}}
        for op, y in pairs(x) do ops[op] = qvalue(y, types[k]) end
        out[k] = ops
      else
        out[k] = qvalue(x, types[k])
      end
    end
    return out
  end

  local QUERY_LISTS = { columns = true, order = true, group_by = true, aggregates = true, on = true }
  -- A query table -> its JSON text (the keys of cairn_table_query_json / join_json).
  local function query_json(spec, self)
    if spec == nil then return "{}" end
    if type(spec) ~= "table" then raise("CAIRN_TYPE", "a query must be a table (got %s)", type(spec)) end
    local types = self._types
    local out = {}
    for k, v in pairs(spec) do
      if k == "where" or k == "right_where" then
        v = qwhere(v, types)
      elseif (k == "params" or k == "right_params") and type(v) == "table" then
        local l = {}
        for i = 1, #v do l[i] = qvalue(v[i]) end
        v = list(l)
      elseif QUERY_LISTS[k] and type(v) == "table" then
        v = list(v)
      end
      out[k] = v
    end
    return json_text(out)
  end

  local function RESULT(rc, json)
    if rc ~= 0 then return fail(rc) end
    local res, err = result_decode(json)
    if not res then return nil, "query result from the core does not parse: " .. err, "CAIRN_INTERNAL" end
    local cols = res.columns or setmetatable({}, cairn.array_mt)
    if res.rows then return res.rows, cols, #res.rows end
    return res.data or {}, cols, res.count or 0
  end

  --- query(spec) -> result, columns, count | nil, message, name. result: a list of rows, or with
  -- format "columns" a table {column = list of values}; columns: the result's {name =, type =}
  -- list; count: the number of rows. spec: {where =, params =, columns =, order =, limit =,
  -- offset =, aggregates =, group_by =, format = "rows" | "columns"}; rows as get() gives them
  -- (nulls as cairn.null).
  Table.query = table_def("query_json", { query_json }, RESULT)

  local function opt_list(v)
    if type(v) == "string" then return { v } end
    return v
  end

  --- select(where, params, columns, order, limit, offset) -> list of rows | nil, message, name
  function Table:select(where, params, columns, order, limit, offset)
    return self:query({ where = where, params = params, columns = opt_list(columns), order = opt_list(order),
                        limit = limit, offset = offset })
  end

  local count_where = table_def("count_where_json", { query_json }, OUT)
  --- count_where(where, params) -> integer | nil, message, name
  function Table:count_where(where, params)
    return count_where(self, { where = where, params = params })
  end

  local function agg_spec(a)
    if type(a) == "string" then return { fn = a } end
    if type(a) ~= "table" then raise("CAIRN_TYPE", "an aggregate is a table {fn =, column =, as =} (got %s)", type(a)) end
    if a[1] ~= nil then return { fn = a[1], column = a[2], as = a[3] } end
    return a
  end

  --- aggregate(fn, column, where, params) -> value (cairn.null for sum/min/max/avg of no values)
  -- | nil, message, name. fn: count (column nil: every row), count_distinct, sum, min, max, avg.
  function Table:aggregate(fn, column, where, params)
    local rows, err, name = self:query({ aggregates = { { fn = fn, column = column, as = "value" } },
                                         where = where, params = params })
    if not rows then return nil, err, name end
    local r = rows[1]
    if r == nil then return cairn.null end
    return r.value
  end

  --- group_by(by, aggregates, opts) -> list of rows (the group columns, then the aggregates) | nil,
  -- message, name. by: a column or a list; aggregates: a list of {fn =, column =, as =} (or
  -- {fn, column, as}); opts: {where, params, order, limit, offset}.
  function Table:group_by(by, aggregates, opts)
    opts = opts or {}
    local aggs = {}
    for i, a in ipairs(aggregates or {}) do aggs[i] = agg_spec(a) end
    return self:query({ group_by = opt_list(by), aggregates = aggs, where = opts.where, params = opts.params,
                        order = opt_list(opts.order), limit = opts.limit, offset = opts.offset })
  end

  local function join_on(on)
    if on == nil then return nil end
    if type(on) == "string" then return { { on, on } } end
    if type(on) ~= "table" then raise("CAIRN_TYPE", "join: on must be a column, a pair, a list of pairs or a table left = right") end
    if type(on[1]) == "string" then return { list({ on[1], on[2] or on[1] }) } end
    local out = {}
    if on[1] ~= nil then
      for i, p in ipairs(on) do
        if type(p) == "string" then out[i] = list({ p, p }) else out[i] = list(p) end
      end
    else
      for l, r in pairs(on) do out[#out + 1] = list({ l, r }) end
    end
    return out
  end

  local r_join = raw.cairn_table_join_json
  local join = table_def(function(p, other, json) return r_join(p, other, json) end,
    { function(o)
        if getmetatable(o) ~= Table then raise("CAIRN_TYPE", "join: other must be a table handle") end
        if not o._p then raise("CAIRN_CLOSED", "join: the other table %s is closed", o.path) end
        return o._p
      end, query_json }, RESULT)
  --- join(other, on, opts) -> list of rows with columns "left.x" / "right.y" | nil, message, name.
  -- on: "col" (both sides), {"left_col", "right_col"}, a list of those, or {left_col = "right_col"};
  -- opts: {type = "inner" | "left", where, params, right_where, right_params, columns, order, limit,
  -- offset, format}.
  function Table:join(other, on, opts)
    local spec = {}
    for k, v in pairs(opts or {}) do spec[k] = v end
    if on ~= nil then spec.on = join_on(on) end -- else opts.on, as it is (the C API's form)
    return join(self, other, spec)
  end

  -- indexes
  local KINDS = { hash = raw.CAIRN_INDEX_HASH, range = raw.CAIRN_INDEX_RANGE }
  local function column_arg(v)
    if type(v) ~= "string" then raise("CAIRN_TYPE", "a column name must be a string (got %s)", type(v)) end
    return v
  end
  local function kind_arg(v)
    if v == nil then return KINDS.hash end
    if type(v) ~= "string" then raise("CAIRN_TYPE", "an index kind is \"hash\" or \"range\" (got %s)", type(v)) end
    return KINDS[v] or 0 -- 0: the core says CAIRN_INVALID
  end
  local function value_json(v, self, column)
    local cls = self._types[column]
    if (cls == COL_INT or cls == COL_U64) and type(v) == "string" and v:find("^%-?%d+$")
        and math_type(tonumber(v)) == "float" then
      return v -- an integer beyond Lua's range, in its decimal form (as in rows)
    end
    return json_text(qvalue(v, cls))
  end
  local function DECODED(rc, json)
    if rc ~= 0 then return fail(rc) end
    return json_decode(json)
  end

  --- create_index(column, kind) -> true | nil, message, name: kind "hash" (default) or "range"
  Table.create_index = table_def("create_index", { column_arg, kind_arg }, OK)
  --- drop_index(column, kind) -> true | nil, message, name ("CAIRN_NOTFOUND" when absent)
  Table.drop_index = table_def("drop_index", { column_arg, kind_arg }, OK)
  --- indexes() -> list of {column =, kind = "hash" | "range"}
  Table.indexes = table_def("indexes", nil, DECODED)

  local r_lookup, r_find, r_range = raw.cairn_table_lookup_json, raw.cairn_table_find_json, raw.cairn_table_range_find_json
  --- lookup(column, value) -> ids (ascending) of the rows whose column equals value
  function Table:lookup(column, value)
    local p = table_check(self)
    column_arg(column)
    return finish(self, DECODED, r_lookup(p, column, value_json(value, self, column)))
  end
  --- find(conditions) -> ids (ascending) of the rows matching every column = value of the table
  function Table:find(conditions)
    local p = table_check(self)
    if type(conditions) ~= "table" then raise("CAIRN_TYPE", "find expects a table of column = value (got %s)", type(conditions)) end
    local json, bad = row_arg(conditions, self) -- the values as in a row
    if not json then return nil, bad, "CAIRN_INVALID" end
    return finish(self, DECODED, r_find(p, json))
  end
  --- range_find(column, lo, hi [, lo_inclusive [, hi_inclusive]]) -> ids (ascending) with
  -- lo <= column <= hi; nil (or cairn.null) is no bound; a false flag makes that bound exclusive.
  function Table:range_find(column, lo, hi, lo_inclusive, hi_inclusive)
    local p = table_check(self)
    column_arg(column)
    local flags = 0
    if lo_inclusive == false then flags = flags | raw.CAIRN_RANGE_LO_OPEN end
    if hi_inclusive == false then flags = flags | raw.CAIRN_RANGE_HI_OPEN end
    local l = (lo ~= nil and lo ~= cairn.null) and value_json(lo, self, column) or nil
    local h = (hi ~= nil and hi ~= cairn.null) and value_json(hi, self, column) or nil
    return finish(self, DECODED, r_range(p, column, l, h, flags))
  end

  --- columns(query) -> {column = list of values} | nil, message, name: the rows of a query (all
  -- rows and columns when nil) column by column; a null is cairn.null (lists have no holes).
  function Table:columns(q)
    local spec = {}
    for k, v in pairs(q or {}) do spec[k] = v end
    spec.format = "columns"
    return self:query(spec)
  end
  --- export_ipc(query) -> string | nil, message, name: the rows of a query (nil: every row) as
  -- Arrow IPC stream bytes.
  local r_ipc = raw.cairn_table_export_ipc
  function Table:export_ipc(q)
    local p = table_check(self)
    local json = q ~= nil and query_json(q, self) or nil
    return finish(self, OUT, r_ipc(p, json))
  end

  -- ---- the query builder: cairn.query(t):filter(...):order(...):slice(...):execute() ----------
  local Query = { __name = "cairn.query" }
  Query.__index = Query
  cairn.Query = Query

  local function derive(q, changes)
    local n = setmetatable({ t = q.t, texts = q.texts, params = q.params, conds = q.conds, opts = q.opts }, Query)
    for k, v in pairs(changes) do
      if k == "opts" then
        local s = {}
        for a, b in pairs(q.opts) do s[a] = b end
        for a, b in pairs(v) do s[a] = b end
        n.opts = s
      else
        n[k] = v
      end
    end
    return n
  end
  local function append(l, ...)
    local out = { table.unpack(l) }
    for i = 1, select("#", ...) do out[#out + 1] = (select(i, ...)) end
    return out
  end

  --- cairn.query(t) -> a query of table t; every method returns a new query (the old one is
  -- unchanged) and nothing runs before execute()/all(), first(), count(), ids(), columns().
  function cairn.query(t)
    if getmetatable(t) ~= Table then raise("CAIRN_TYPE", "cairn.query expects a table handle (got %s)", type(t)) end
    return setmetatable({ t = t, texts = {}, params = {}, conds = {}, opts = {} }, Query)
  end
  --- t:where(w, ...) -> cairn.query(t):filter(w, ...)
  function Table:where(w, ...) return cairn.query(self):filter(w, ...) end

  --- filter(where, ...) -> query: ANDs a condition: a text WHERE and its `?` params
  -- (filter("age >= ? AND team = ?", 21, "red")), a triple {col, op, value}, a list of triples, or
  -- a table ($and/$or/$not, or the shorthand {team = "red", age = {ge = 21}}).
  function Query:filter(w, ...)
    if type(w) == "string" then
      return derive(self, { texts = append(self.texts, w), params = append(self.params, ...) })
    end
    if select("#", ...) > 0 then raise("CAIRN_INVALID", "filter: params are for a text WHERE") end
    if w == nil then return self end
    return derive(self, { conds = append(self.conds, w) })
  end
  Query.where = Query.filter
  --- select(col, ...) -> query projected on these columns ("_id" is the row id)
  function Query:select(...)
    local cols = { ... }
    if type(cols[1]) == "table" then cols = cols[1] end
    return derive(self, { opts = { columns = cols } })
  end
  --- order(key, ...) -> query ordered by "name" (ascending) / "-name" (descending); replaces
  function Query:order(...)
    local keys = { ... }
    if type(keys[1]) == "table" and type(keys[1][1]) ~= "string" then keys = keys[1] end
    return derive(self, { opts = { order = keys } })
  end
  function Query:limit(n) return derive(self, { opts = { limit = n } }) end
  function Query:offset(n) return derive(self, { opts = { offset = n } }) end
  --- slice(i, j) -> query of result rows i..j (1-based, inclusive, as string.sub; j nil: to the end)
  function Query:slice(i, j)
    i = int_arg(i or 1, "slice start")
    if i < 1 then i = 1 end
    local s = { offset = i - 1 }
    if j ~= nil then
      j = int_arg(j, "slice end")
      s.limit = j >= i and j - i + 1 or 0
    end
    return derive(self, { opts = s })
  end
  --- group_by(col, ...) and aggregate(agg, ...) (aggregates as in Table:group_by)
  function Query:group_by(...) return derive(self, { opts = { group_by = { ... } } }) end
  function Query:aggregate(...)
    local aggs = { table.unpack(self.opts.aggregates or {}) }
    for i = 1, select("#", ...) do aggs[#aggs + 1] = agg_spec((select(i, ...))) end
    return derive(self, { opts = { aggregates = aggs } })
  end

  local function where_of(q)
    local parts = {}
    if #q.texts == 1 then
      parts[1] = q.texts[1]
    elseif #q.texts > 1 then
      local t = {}
      for i, s in ipairs(q.texts) do t[i] = "(" .. s .. ")" end
      parts[1] = table.concat(t, " AND ")
    end
    for _, c in ipairs(q.conds) do parts[#parts + 1] = c end
    if #parts == 0 then return nil end
    if #parts == 1 then return parts[1] end
    return { ["$and"] = parts }
  end
  --- spec() -> the query table this builds (what t:query takes)
  function Query:spec()
    local s = {}
    for k, v in pairs(self.opts) do s[k] = v end
    s.where = where_of(self)
    if #self.params > 0 then s.params = { table.unpack(self.params) } end
    return s
  end
  --- execute() / all() -> list of rows | nil, message, name
  function Query:execute() return self.t:query(self:spec()) end
  Query.all = Query.execute
  --- first() -> the first row | nil (none) | nil, message, name
  function Query:first()
    local s = self:spec()
    s.limit = 1
    local rows, err, name = self.t:query(s)
    if not rows then return nil, err, name end
    return rows[1]
  end
  --- count() -> number of rows matching the filters | nil, message, name
  function Query:count()
    return self.t:count_where(where_of(self), #self.params > 0 and { table.unpack(self.params) } or nil)
  end
  --- ids() -> the ids of the matching rows, in the query's order
  function Query:ids()
    local s = self:spec()
    s.columns = { "_id" }
    local rows, err, name = self.t:query(s)
    if not rows then return nil, err, name end
    local ids = {}
    for i, r in ipairs(rows) do ids[i] = r._id end
    return list(ids)
  end
  --- columns() -> {column = list of values}
  function Query:columns() return self.t:columns(self:spec()) end
  function Query:__tostring() return "cairn.query(" .. self.t.path .. ")" end
end

return cairn
