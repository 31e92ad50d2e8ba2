-- Tests of what only the Lua binding has: <close> and __gc, multiple returns (nil, msg, name),
-- integer vs float, raised misuse errors, value kinds, the JSON mapping, blob events.
-- Run: LUA_CPATH=BUILD/bindings/lua/?.so LUA_PATH=BUILD/bindings/lua/?.lua lua5.4 test.lua
-- Ends with one line "N passed, N failed"; exit status 0 only if nothing failed.

local cairn = require("cairn")
local raw = cairn.raw

local here = (arg and arg[0] or ""):match("^(.*)/") or "."
local h = dofile(here .. "/harness.lua")
local test, eq, deq, raises, fails, tmp = h.test, h.eq, h.deq, h.raises, h.fails, h.tmp

-- ---- module and raw layer ----------------------------------------------------------------------
test("module: version and error table", function()
  eq(cairn.version, "0.1.0")
  eq(cairn.codes.CAIRN_NOTFOUND, -2)
  eq(cairn.names[-2], "CAIRN_NOTFOUND")
  local n = 0
  for name, code in pairs(cairn.codes) do
    n = n + 1
    eq(raw.cairn_errname(code), name, "errname mirrors the table")
    eq(math.type(code), "integer")
  end
  -- exactly the rows of the core's table (core/include/cairn_errors.def), CAIRN_FORKED included
  local here = (arg and arg[0] or ""):match("^(.*)/") or "."
  local f = assert(io.open(here .. "/../../../core/include/cairn_errors.def"))
  local rows = 0
  for line in f:lines() do
    local code, name, text = line:match('^X%(%s*(%-?%d+),%s*(%u+),%s*"([^"]*)"%)')
    if code and name ~= "OK" then
      rows = rows + 1
      eq(cairn.codes["CAIRN_" .. name], math.tointeger(code), "cairn.codes mirrors errors.def")
      eq(cairn.names[math.tointeger(code)], "CAIRN_" .. name, "cairn.names mirrors errors.def")
      eq(raw.cairn_errstr(math.tointeger(code)), text, "the text of " .. name)
    end
  end
  f:close()
  eq(n, rows, "as many codes as errors.def has")
  assert(n >= 24, "every code of errors.def is mirrored")
  eq(cairn.codes.CAIRN_FORKED, -24)
  eq(cairn.errname("CAIRN_LOCKED: held by pid 7"), "CAIRN_LOCKED")
  eq(cairn.errname(-12), "CAIRN_CLOSED")
  eq(cairn.errname("oops"), nil)
end)

test("raw: integers are pushed as integers, out-params are extra results", function()
  eq(math.type(raw.CAIRN_NOTFOUND), "integer")
  eq(math.type(raw.CAIRN_KIND_JSON), "integer")
  local rc, kv = raw.cairn_kv_open(tmp(), nil)
  eq(rc, 0)
  eq(math.type(rc), "integer")
  eq(raw.cairn_kv_put(kv, "k\0x", "v\0\255", raw.CAIRN_KIND_BYTES), 0)
  local grc, v, kind = raw.cairn_kv_get(kv, "k\0x")
  eq(grc, 0); eq(v, "v\0\255"); eq(kind, 0); eq(math.type(kind), "integer")
  local mrc, mv, mk = raw.cairn_kv_get(kv, "missing")
  eq(mrc, raw.CAIRN_NOTFOUND); eq(mv, nil); eq(mk, nil)
  local crc, n = raw.cairn_kv_count(kv)
  eq(crc, 0); eq(n, 1); eq(math.type(n), "integer")
  -- get_into: ERANGE reports the size, a big enough buffer gets the bytes
  local r1, _, size = raw.cairn_kv_get_into(kv, "k\0x", 1)
  eq(r1, raw.CAIRN_RANGE); eq(size, 3)
  local r2, buf, size2, k2 = raw.cairn_kv_get_into(kv, "k\0x", 16)
  eq(r2, 0); eq(buf, "v\0\255"); eq(size2, 3); eq(k2, 0)
  -- a float where an integer is needed is refused, not truncated
  local ok, err = pcall(raw.cairn_kv_put, kv, "k", "v", 1.5)
  assert(not ok and err:find("CAIRN_TYPE"), err)
  raw.cairn_kv_close(kv)
end)

test("raw: options and stats are the C structs, fields by name", function()
  local o = raw.cairn_kv_options()                     -- starts from CAIRN_KV_OPTIONS_INIT
  eq(o.version, raw.CAIRN_KV_OPTIONS_VERSION); eq(o.create, 1); eq(o.sync, raw.CAIRN_SYNC_COMMIT)
  o.sync = raw.CAIRN_SYNC_NONE
  o.lock_timeout_ms = 4294967295                       -- an unsigned field takes 0..2^32-1
  raises("CAIRN_INVALID", function() o.lock_timeout_ms = -1 end)
  local rc, kv = raw.cairn_kv_open(tmp(), o)
  eq(rc, 0)
  local st = raw.cairn_kv_stats_t()
  eq(raw.cairn_kv_stats(kv, st), 0)
  eq(st.keys, 0); eq(math.type(st.disk_bytes), "integer")
  local lrc, _, size = raw.cairn_layout("cairn_kv_stats", nil)
  eq(lrc, 0); eq(st.size, size, "the library filled the whole struct")
  eq(raw.cairn_layout("no_such_struct", nil), raw.CAIRN_NOTFOUND)
  raw.cairn_kv_close(kv)
  local bo = raw.cairn_blob_options()
  eq(bo.version, raw.CAIRN_BLOB_OPTIONS_VERSION); eq(bo.create, 1)
end)

test("stats: every field of the C struct, flags as booleans", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  local st = db:stats()
  local n = 0
  for f in pairs(getmetatable(raw.cairn_kv_stats_t())[".get"]) do
    if f ~= "size" then n = n + 1; assert(st[f] ~= nil, "stats has " .. f) end
  end
  local m = 0
  for _ in pairs(st) do m = m + 1 end
  eq(m, n, "no other fields")
  eq(st.size, nil)
  eq(st.in_txn, false)
  local b <close> = assert(cairn.blob.open(tmp("blob")))
  eq(b:stats().entries, 0)
  eq(b:stats().in_txn, false)
end)

-- metrics(): stats() in the Prometheus text format, for every engine (through engine())
local function check_metrics(h, engine, counters)
  local text = assert(h:metrics())
  eq(type(text), "string")
  eq(text:sub(-1), "\n")
  local st, lines = h:stats(), {}
  for line in text:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  eq(#lines % 3, 0, "HELP, TYPE and one sample per family")
  local label = h.path:gsub("\\", "\\\\"):gsub('"', '\\"'):gsub("\n", "\\n")
  local seen = 0
  for i = 1, #lines, 3 do
    local name = lines[i]:match("^# HELP (cairn_[%l_]+) .+$")
    assert(name, "HELP line: " .. lines[i])
    -- every engine's per-handle operation counters (and errors by code): counters that are not
    -- stats fields
    local op = name:match("^cairn_" .. engine .. "_([%l_]+)_total$")
    if op and st[op] == nil then
      eq(lines[i + 1], "# TYPE " .. name .. " counter")
      goto continue
    end
    local typ = lines[i + 1]:match("^# TYPE " .. name .. " (%l+)$")
    assert(typ == "gauge" or typ == "counter", "TYPE line: " .. lines[i + 1])
    local lab, value = lines[i + 2]:match("^" .. name .. '{store="(.*)"} (%d+)$')
    assert(lab, "sample line: " .. lines[i + 2])
    eq(lab, label)
    local field = name:sub(#("cairn_" .. engine .. "_") + 1)
    if typ == "counter" then
      eq(field:sub(-6), "_total"); field = field:sub(1, -7)
      assert(counters[field], field .. " is a counter")
    end
    if field == "file_size_bytes" then field = "file_size" end
    local want = st[field]
    if type(want) == "boolean" then want = want and 1 or 0 end
    assert(want ~= nil, "stats has " .. field)
    eq(math.tointeger(value), want, name)
    seen = seen + 1
    ::continue::
  end
  local n = 0
  for _ in pairs(st) do n = n + 1 end
  eq(seen, n, "one family per stats field")
  return text
end

test("metrics: kv, blob, table and repo in the Prometheus text format", function()
  local db <close> = assert(cairn.kv.open(tmp('kv "x" \\')))
  assert(db:put("a", "1")); assert(db:put("a", "22")); assert(db:put("b", "3"))
  assert(db:compact())
  local text = check_metrics(db, "kv", { compactions = true })
  assert(text:find("\ncairn_kv_keys{store=\"[^\n]*\"} 2\n"), text)
  assert(text:find("\ncairn_kv_compactions_total{store=\"[^\n]*\"} 1\n"), text)
  local b <close> = assert(cairn.blob.open(tmp("mblob")))
  assert(b:create("hello"))
  check_metrics(b, "blob", {})
  local t <close> = assert(cairn.table.open(tmp("mtable"), { schema = "id i64 primary key, name string" }))
  assert(t:insert({ id = 1, name = "a" }))
  check_metrics(t, "table", { checkpoints = true })
  fails("CAIRN_CONSTRAINT", t:insert({ id = 1, name = "b" }))
  local tm = assert(t:metrics())
  assert(tm:find("\ncairn_table_inserts_total{store=\"[^\n]*\"} 1\n"), tm)
  assert(tm:find("\ncairn_table_errors_constraint_total{store=\"[^\n]*\"} 1\n"), tm)
  local r <close> = assert(cairn.repo.open(tmp("mrepo")))
  assert(r:init("acme")); assert(r:save("acme", "ann", "doc", "v1"))
  check_metrics(r, "repo", {})
  db:close()
  raises("CAIRN_CLOSED", function() db:metrics() end)
end)

-- ---- KV basics, kinds and multiple returns -----------------------------------------------------
test("kv: put/get/delete/exists/count with multiple returns", function()
  local db = assert(cairn.kv.open(tmp()))
  eq(db:put("a", "hello"), true)
  eq(db:get("a"), "hello")
  eq(select("#", db:get("missing")), 1, "missing key is a single nil")
  eq(db:get("missing"), nil)
  eq(db:exists("a"), true)
  eq(db:exists("missing"), false)
  fails("CAIRN_NOTFOUND", db:delete("missing"))
  eq(db:delete("a"), true)
  eq(db:get("a"), nil)
  local n = db:count()
  eq(n, 0); eq(math.type(n), "integer")
  eq(#db, 0, "# is count")
  db:close()
end)

test("kv: kinds: UTF-8 string is text, other bytes are bytes, wrappers force the kind", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  db:put("t", "héllo")
  db:put("b", "\255\0\1")
  db:put("fb", cairn.bytes("plain ascii"))
  db:put("ft", cairn.text("also text"))
  db:put("empty", "")
  local v, k = db:get_typed("t"); eq(v, "héllo"); eq(k, "text")
  v, k = db:get_typed("b"); eq(v, "\255\0\1"); eq(k, "bytes")
  v, k = db:get_typed("fb"); eq(v, "plain ascii"); eq(k, "bytes")
  v, k = db:get_typed("ft"); eq(v, "also text"); eq(k, "text")
  v, k = db:get_typed("empty"); eq(v, ""); eq(k, "text")
  eq(db:get_typed("missing"), nil)
  raises("CAIRN_INVALID", cairn.text, "\255")
  raises("CAIRN_TYPE", cairn.bytes, 42)
end)

test("kv: binary keys with NUL bytes, unicode keys, sorted keys and prefix", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  local keys = { "b", "a\0z", "a", "\255", "ключ", "ab", cairn.bytes("a\0") }
  for i, k in ipairs(keys) do assert(db:put(k, tostring(i))) end
  eq(db:get("a\0z"), "2")
  eq(db:get("ключ"), "5")
  eq(db:get(cairn.bytes("a\0")), "7")
  local all = db:keys()
  deq(all, cairn.array({ "a", "a\0", "a\0z", "ab", "b", "ключ", "\255" }))
  deq(db:keys("a\0"), cairn.array({ "a\0", "a\0z" }))
  deq(db:keys("zzz"), cairn.array({}))
  local seen = {}
  for k, v in pairs(db) do seen[#seen + 1] = k .. "=" .. v end
  eq(#seen, 7)
  eq(seen[1], "a=3")
  -- each(): a cursor, no list; the snapshot ignores later writes
  local got = {}
  for k in db:each("a") do
    got[#got + 1] = k
    assert(db:put("a-later" .. #got, "x"))
  end
  deq(cairn.array(got), cairn.array({ "a", "a\0", "a\0z", "ab" }))
  -- break frees the cursor at once (the loop's closing value); so does an error
  local closing
  for k, _, _, c in (function() local f, s, i, c = db:each(); closing = c; return f, s, i, c end)() do
    break
  end
  eq(closing._p, nil, "cursor freed by break")
  local ok = pcall(function() for _ in db:each() do error("stop") end end)
  eq(ok, false)
  -- closing the store during iteration raises instead of touching freed memory
  local other = assert(cairn.kv.open(tmp()))
  assert(other:put("x", "1")); assert(other:put("y", "2"))
  raises("CAIRN_CLOSED", function() for _ in other:each() do other:close() end end)
end)

test("kv: integers stay integers and floats stay floats through JSON", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  local doc = { i = 42, big = 9007199254740993, max = math.maxinteger, min = math.mininteger,
                f = 1.0, pi = 0.1, neg = -5, e = 1e300, list = cairn.array({ 1, 2.5, "x" }) }
  assert(db:put("doc", doc))
  local back = db:get("doc")
  deq(back, doc)
  eq(math.type(back.i), "integer")
  eq(math.type(back.f), "float")
  eq(back.big, 9007199254740993)
  eq(back.pi, 0.1)
  local st = db:stats()
  eq(math.type(st.keys), "integer")
  eq(st.in_txn, false)
end)

test("kv: JSON null, [] vs {}, nested, non-object documents", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  local doc = { empty_obj = {}, empty_arr = cairn.array(), n = cairn.null,
                arr = cairn.array({ cairn.null, true, false, { x = "y" } }), s = "ü\n\"" }
  assert(db:put("d", doc))
  local back = db:get("d")
  deq(back, doc)
  eq(getmetatable(back.empty_arr), cairn.array_mt)
  eq(getmetatable(back.empty_obj), nil)
  eq(back.n, cairn.null)
  eq(cairn.json_encode(back), '{"arr":[null,true,false,{"x":"y"}],"empty_arr":[],"empty_obj":{},"n":null,"s":"ü\\n\\""}')
  -- any JSON value through cairn.json(...)
  assert(db:put("num", cairn.json(7)))
  local v, k = db:get_typed("num"); eq(v, 7); eq(k, "json"); eq(math.type(v), "integer")
  assert(db:put("str", cairn.json("text doc")))
  v, k = db:get_typed("str"); eq(v, "text doc"); eq(k, "json")
  assert(db:put("null", cairn.null))
  v, k = db:get_typed("null"); eq(v, cairn.null, "JSON null is cairn.null, not nil"); eq(k, "json")
end)

test("kv: values JSON cannot hold raise CAIRN_TYPE", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  raises("CAIRN_TYPE", db.put, db, "k", { f = function() end })
  raises("CAIRN_TYPE", db.put, db, "k", { [1] = "a", [3] = "c" })       -- sparse array
  raises("CAIRN_TYPE", db.put, db, "k", { [1] = "a", x = "b" })         -- mixed keys
  raises("CAIRN_TYPE", db.put, db, "k", { bin = "\255" })               -- JSON holds text
  raises("CAIRN_TYPE", db.put, db, "k", { x = 0 / 0 })                  -- nan
  local cyc = {}; cyc.self = cyc
  raises("CAIRN_TYPE", db.put, db, "k", cyc)
  raises("CAIRN_TYPE", db.put, db, "k", setmetatable({}, { __index = {} }))
  eq(db:count(), 0, "nothing was stored")
end)

-- ---- errors: returned vs raised ----------------------------------------------------------------
test("errors: runtime failures return nil, message, name", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  fails("CAIRN_INVALID", db:put("", "v"))
  fails("CAIRN_TOOBIG", db:put(string.rep("k", 65536), "v"))
  assert(db:put(string.rep("k", 65535), "v"), "the longest key is fine")
  fails("CAIRN_TXN", db:commit())
  fails("CAIRN_TXN", db:rollback())
  assert(db:begin())
  fails("CAIRN_TXN", db:begin())
  assert(db:rollback())
  -- a path that is a file where a directory is needed
  local f = tmp("file")
  assert(io.open(f, "w")):close()
  fails("CAIRN_PATH", cairn.kv.open(f))
  fails("CAIRN_PATH", cairn.kv.open(tmp("nope"), { create = false }))
  fails("CAIRN_INVALID", cairn.kv.open(tmp() .. "\0suffix"))
  fails("CAIRN_INVALID", cairn.blob.open(tmp() .. "\0suffix"))
end)

test("errors: misuse raises with the name first and the caller's line", function()
  local db = assert(cairn.kv.open(tmp()))
  local ok, err = pcall(db.get, db, 42) -- called from here (raises() would be the caller)
  assert(not ok and cairn.errname(err) == "CAIRN_TYPE", tostring(err))
  assert(err:find("test.lua:%d+%)$"), "message ends with the caller's position: " .. err)
  raises("CAIRN_TYPE", db.put, db, "k", nil)
  raises("CAIRN_TYPE", db.put, db, "k", true)
  raises("CAIRN_TYPE", db.put, db, "k", 1.5)
  raises("CAIRN_TYPE", db.put, db, {}, "v")
  raises("CAIRN_TYPE", db.get) -- db.get() without ':'
  raises("CAIRN_TYPE", db.put, db, "k", "v", { ttl = "soon" })
  raises("CAIRN_INVALID", db.put, db, "k", "v", { ttl_ms = 5 })  -- the old name is gone
  raises("CAIRN_INVALID", db.put, db, "k", "v", { ttl = 5, expire_at = 5 })
  raises("CAIRN_INVALID", db.put, db, "k", "v", { ttl = -1 })
  raises("CAIRN_TYPE", cairn.kv.open, 42)
  raises("CAIRN_INVALID", cairn.kv.open, tmp(), { nosuch = true })
  raises("CAIRN_TYPE", cairn.kv.open, tmp(), { create = 1 })
  raises("CAIRN_INVALID", cairn.kv.open, tmp(), { sync = "sometimes" })
  raises("CAIRN_TYPE", cairn.kv.open, tmp(), { max_file_size = 1.5 })
  raises("CAIRN_TYPE", cairn.kv.open, tmp(), { 1, 2 })
  raises("CAIRN_INVALID", cairn.kv.open, tmp(), { version = 1 })      -- not an option
  raises("CAIRN_INVALID", cairn.kv.open, tmp(), { lock_timeout_ms = -1 })
  raises("CAIRN_INVALID", cairn.kv.open, tmp(), { lock_timeout_ms = 4294967296 })
  raises("CAIRN_INVALID", cairn.blob.open, tmp(), { max_file_size = 1 }) -- a KV option
  db:close()
  eq(db:close(), true, "close twice is a no-op")
  raises("CAIRN_CLOSED", db.get, db, "k")
  raises("CAIRN_CLOSED", db.put, db, "k", "v")
  raises("CAIRN_CLOSED", db.count, db)
  raises("CAIRN_CLOSED", db.keys, db)
  eq(tostring(db):find("closed") ~= nil, true)
end)

-- ---- lifetimes: <close> and __gc release the writer lock ----------------------------------------
test("lifetime: <close> closes at scope end, also when the scope raises", function()
  local dir = tmp()
  local leaked
  do
    local db <close> = assert(cairn.kv.open(dir))
    leaked = db
    assert(db:put("k", "v"))
    fails("CAIRN_LOCKED", cairn.kv.open(dir))
  end
  eq(leaked:is_open(), false)
  local ok = pcall(function()
    local db <close> = assert(cairn.kv.open(dir))
    leaked = db
    error("boom")
  end)
  eq(ok, false)
  eq(leaked:is_open(), false, "closed while the error unwound")
  local db <close> = assert(cairn.kv.open(dir), "lock was released")
  eq(db:get("k"), "v")
end)

test("lifetime: __gc closes an unreachable handle", function()
  local dir = tmp()
  do
    local db = assert(cairn.kv.open(dir))
    assert(db:put("k", "gc"))
  end
  collectgarbage(); collectgarbage()
  local db = assert(cairn.kv.open(dir), "finalizer released the lock")
  eq(db:get("k"), "gc")
  db:close()
end)

test("lifetime: finalizers of many dropped handles release every file descriptor", function()
  -- descriptors of this process open on the run's store files (not the pipes, libraries or a
  -- memory checker's own, which come and go beside the test)
  local function fds()
    local p = io.popen("ls -l /proc/$PPID/fd 2>/dev/null | grep -cF -- '" .. h.base .. "/'")
    local n = p and tonumber(p:read("a")) or nil
    if p then p:close() end
    return n
  end
  -- one round first, so that descriptors a process opens once (libraries, caches) are in `before`
  do
    local db = assert(cairn.kv.open(tmp("many0")))
    assert(db:put("k", "v"))
    local b = assert(cairn.blob.open(tmp("manyblob0")))
    assert(b:create("x"))
  end
  collectgarbage(); collectgarbage()
  local before = fds()
  for i = 1, 64 do
    local db = assert(cairn.kv.open(tmp("many" .. i)))
    assert(db:put("k", "v"))
    local b = assert(cairn.blob.open(tmp("manyblob" .. i)))
    assert(b:create("x"))
  end
  collectgarbage(); collectgarbage()
  if before then
    local after = fds()
    assert(after <= before, string.format("descriptors: %d before, %d after GC", before, after))
  end
end)

test("lifetime: a transaction function may yield (coroutines)", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  local co = coroutine.wrap(function()
    return db:transaction(function(tx)
      assert(tx:put("a", "1"))
      coroutine.yield("paused")
      assert(tx:put("b", "2"))
      return "committed"
    end)
  end)
  eq(co(), "paused")
  eq(db:stats().in_txn, true)
  eq(co(), "committed")
  eq(db:get("b"), "2")
  eq(db:stats().in_txn, false)
end)

test("lifetime: data survives close and reopen", function()
  local dir = tmp()
  local db = assert(cairn.kv.open(dir, { sync = "none" }))
  assert(db:put("a", { n = 1 }))
  assert(db:put("b", cairn.bytes("\0\1")))
  db:close()
  db = assert(cairn.kv.open(dir, { read_only = true }))
  deq(db:get("a"), { n = 1 })
  eq(db:get("b"), "\0\1")
  fails("CAIRN_READONLY", db:put("c", "x"))
  db:close()
  eq(cairn.kv.check(dir), true)
end)

-- ---- transactions, expiry, update ---------------------------------------------------------------
test("txn: begin/commit/rollback and transaction(fn)", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  assert(db:begin())
  assert(db:put("a", "1"))
  eq(db:get("a"), "1", "a transaction sees its own writes")
  eq(db:stats().in_txn, true)
  assert(db:rollback())
  eq(db:get("a"), nil)
  local r1, r2 = db:transaction(function(d, x) assert(d:put("b", x)); return "done", 2 end, "2")
  eq(r1, "done"); eq(r2, 2)
  eq(db:get("b"), "2")
  local ok, err = pcall(db.transaction, db, function(d) d:put("c", "3"); error("abort") end)
  eq(ok, false)
  assert(tostring(err):find("abort"))
  eq(db:get("c"), nil, "rolled back")
  eq(db:stats().in_txn, false)
end)

test("expiry: ttl and expire_at", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  local t0 = cairn.now_ms()
  eq(math.type(t0), "integer")
  assert(db:put("short", "x", { ttl = 300 }))
  local v = db:get("short")
  if cairn.now_ms() - t0 < 250 then eq(v, "x", "readable before its expiry") end
  local at = db:expiry("short")
  assert(at >= t0 + 300 and at <= cairn.now_ms() + 300, "expiry is now + ttl")
  assert(db:put("long", "y", { expire_at = t0 + 3600000 }))
  assert(db:put("forever", "z"))
  assert(db:put("past", "p", { expire_at = t0 - 1 }))
  assert(db:put("zero", "p", { ttl = 0 }))
  eq(db:get("past"), nil, "an expiry in the past stores nothing readable")
  eq(db:get("zero"), nil, "ttl 0 expires at once")
  eq(db:expiry("long"), t0 + 3600000)
  eq(db:expiry("forever"), false, "a key that never expires")
  fails("CAIRN_NOTFOUND", db:expiry("missing"))
  fails("CAIRN_NOTFOUND", db:expiry("past"))
end)

test("expiry: the test clock moves expiry without sleeping", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  local t0 = cairn.now_ms()
  cairn.testing.set_clock(t0)
  local ok, err = pcall(function()
    eq(cairn.now_ms(), t0, "now_ms follows the test clock")
    assert(db:put("short", "x", { ttl = 1500 }))
    eq(db:expiry("short"), t0 + 1500, "a ttl counts from the test clock")
    cairn.testing.set_clock(t0 + 1499)
    eq(db:get("short"), "x")
    cairn.testing.set_clock(t0 + 1500)
    eq(db:get("short"), nil, "expired")
    eq(db:exists("short"), false)
    fails("CAIRN_NOTFOUND", db:expiry("short"))
  end)
  cairn.testing.set_clock(0)
  assert(ok, err)
  assert(math.abs(cairn.now_ms() - t0) < 600000, "the real clock again")
  raises("CAIRN_TYPE", cairn.testing.set_clock, "now")
end)

test("update: merges fields into a JSON object, keeps expiry", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  local at = cairn.now_ms() + 3600000
  assert(db:put("u", { name = "ada", age = 36 }, { expire_at = at }))
  assert(db:update("u", { age = 37, lang = "lua" }))
  deq(db:get("u"), { name = "ada", age = 37, lang = "lua" })
  eq(db:expiry("u"), at)
  assert(db:update("u", cairn.json({ name = cairn.null })))
  eq(db:get("u").name, cairn.null)
  assert(db:update("u", { nested = { a = 1, b = 2 } }))
  assert(db:update("u", { nested = { c = 3 } }))
  deq(db:get("u").nested, { c = 3 }, "a nested table replaces the old value")
  assert(db:begin()); assert(db:update("u", { age = 99 })); assert(db:rollback())
  eq(db:get("u").age, 37, "update inside a rolled-back transaction")
  fails("CAIRN_NOTFOUND", db:update("missing", { a = 1 }))
  assert(db:put("s", "text"))
  fails("CAIRN_TYPE", db:update("s", { a = 1 }))
  assert(db:put("arr", cairn.array({ 1 })))
  fails("CAIRN_TYPE", db:update("arr", { a = 1 }))
  raises("CAIRN_TYPE", db.update, db, "u", "not a table")
end)

test("kv: sync, compact, stats", function()
  local db <close> = assert(cairn.kv.open(tmp()))
  for i = 1, 50 do assert(db:put("k" .. i, string.rep("v", 100))) end
  for i = 1, 40 do assert(db:delete("k" .. i)) end
  eq(db:sync(), true)
  eq(db:compact(), true)
  local st = db:stats()
  eq(st.keys, 10)
  for _, f in ipairs({ "data_files", "disk_bytes", "live_bytes", "dead_bytes", "keydir_bytes", "seq", "compactions" }) do
    eq(math.type(st[f]), "integer", f)
  end
  eq(db:count(), 10)
end)

-- ---- blob store --------------------------------------------------------------------------------
test("blob: create/read/update/delete/exists/count/keys", function()
  local b <close> = assert(cairn.blob.open(tmp("blob")))
  local k1 = b:create("one")
  eq(math.type(k1), "integer")
  local k2 = assert(b:create(cairn.bytes("\0\255")))
  local k0 = assert(b:create(""))
  eq(b:read(k1), "one")
  eq(b:read(k2), "\0\255")
  eq(b:read(k0), "", "zero-length blob")
  assert(b:update(k1, "one, longer"))
  eq(b:read(k1), "one, longer")
  eq(b:exists(k2), true)
  assert(b:delete(k2))
  eq(b:exists(k2), false)
  fails("CAIRN_NOTFOUND", b:read(k2))
  fails("CAIRN_NOTFOUND", b:delete(k2))
  fails("CAIRN_NOTFOUND", b:update(k2, "x"))
  eq(b:count(), 2)
  deq(b:keys(), cairn.array({ math.min(k1, k0), math.max(k1, k0) }))
  local r = assert(b:reserve_next_key())
  assert(b:create_with_key(r, "reserved"))
  fails("CAIRN_EXISTS", b:create_with_key(r, "again"))
  eq(b:read(r), "reserved")
  local st = b:stats()
  eq(st.entries, 3); eq(math.type(st.next_key), "integer"); eq(st.in_txn, false)
  assert(b:sync()); assert(b:compact())
  eq(b:read(r), "reserved")
  local seen = {}
  for key, data in pairs(b) do seen[#seen + 1] = key .. "=" .. data end
  eq(#seen, 3)
  eq(#b, 3)
end)

test("blob: bad keys and data", function()
  local b <close> = assert(cairn.blob.open(tmp("blob")))
  raises("CAIRN_TYPE", b.read, b, 1.5)
  raises("CAIRN_TYPE", b.read, b, "1")
  raises("CAIRN_TYPE", b.create, b, 42)
  raises("CAIRN_TYPE", b.create, b, { "x" })
  fails("CAIRN_INVALID", b:read(-1))
  fails("CAIRN_INVALID", b:create_with_key(4294967296, "x"))
  eq(b:exists(4294967295), false)
  eq(b:read(3.0) == nil, true, "an integral float is an integer key")
  b:close()
  raises("CAIRN_CLOSED", b.create, b, "x")
end)

test("blob: events after each change, in order; none for failures or rollback", function()
  local b <close> = assert(cairn.blob.open(tmp("blob")))
  local seen, created = {}, {}
  local all = b:on("*", function(ev, key, old, new) seen[#seen + 1] = table.concat({ ev, key, old, new }, " ") end)
  local on_created = b:on("created", function(_, key) created[#created + 1] = key end)
  local k = assert(b:create("abc"))
  assert(b:update(k, "abcdef"))
  fails("CAIRN_NOTFOUND", b:update(k + 100, "x"))
  assert(b:delete(k))
  eq(#seen, 3)
  eq(seen[1], "created " .. k .. " 0 3")
  eq(seen[2], "updated " .. k .. " 3 6")
  eq(seen[3], "deleted " .. k .. " 6 0")
  eq(#created, 1)
  -- in a transaction events come at commit, and never for a rollback
  seen = {}
  assert(b:begin()); assert(b:create("t1")); eq(#seen, 0); assert(b:rollback())
  eq(#seen, 0)
  assert(b:begin()); local k2 = assert(b:create("t2")); assert(b:commit())
  eq(#seen, 1); eq(seen[1], "created " .. k2 .. " 0 2")
  eq(b:off(all), true)
  fails("CAIRN_NOTFOUND", b:off(all))
  assert(b:create("quiet"))
  eq(#seen, 1)
  -- the last listener gone: the C subscription is gone too; a new one starts afresh
  local c_id = b._sub_id
  eq(b:off(on_created), true)
  eq(b._q, nil, "no queue without listeners")
  assert(raw.cairn_blob_unsubscribe(b._p, c_id) < 0, "the C subscription was removed")
  b:on("deleted", function(_, key) seen[#seen + 1] = "deleted " .. key end)
  assert(b:delete(k2))
  eq(seen[#seen], "deleted " .. k2)
  raises("CAIRN_INVALID", b.on, b, "exploded", print)
  raises("CAIRN_TYPE", b.on, b, "created", "not a function")
end)

test("blob: a listener error is raised after the change is done", function()
  local b <close> = assert(cairn.blob.open(tmp("blob")))
  local later = 0
  b:on("created", function() error("listener broke") end)
  b:on("created", function() later = later + 1 end)
  local ok, err = pcall(b.create, b, "x")
  eq(ok, false)
  assert(tostring(err):find("listener broke"))
  eq(later, 1, "other listeners still ran")
  eq(b:count(), 1, "the change itself happened")
end)

test("blob: __gc and reopen", function()
  local path = tmp("blob")
  local key
  do
    local b = assert(cairn.blob.open(path))
    b:on("*", function() end)
    key = assert(b:create("persist"))
  end
  collectgarbage(); collectgarbage()
  local b = assert(cairn.blob.open(path))
  eq(b:read(key), "persist")
  b:close()
  eq(cairn.blob.check(path), true)
end)

-- ---- JSON codec ------------------------------------------------------------------------------------
test("json: strict decoding and round trips", function()
  for _, s in ipairs({ '{"a":[1,2.5,-0.0,1e+300,"\\u00e9\\ud83d\\ude00"],"b":{}}', '[]', 'null', '"x"', '-9223372036854775808' }) do
    local v = assert(cairn.json_decode(s))
    local again = assert(cairn.json_decode(cairn.json_encode(v)))
    deq(again, v)
  end
  eq(cairn.json_decode('"\\ud83d\\ude00"'), "😀")
  eq(math.type(cairn.json_decode("12345678901234567890")), "float", "beyond int64 is a float")
  eq(math.type(cairn.json_decode("-9223372036854775808")), "integer")
  for _, bad in ipairs({ '{"a":1,}', '[1,]', '01', '1.', '.5', 'nul', '"\\x"', '"\\ud800"', '{"a" 1}', '[1] 2', '', '"\1"', '\255' }) do
    local v, err, name = cairn.json_decode(bad)
    eq(v, nil, "rejects " .. bad)
    eq(name, "CAIRN_INVALID")
    assert(type(err) == "string")
  end
  eq(cairn.json_encode(1.0), "1.0")
  eq(cairn.json_encode(-0.0), "-0.0")
  eq(cairn.json_encode(0.1), "0.1")
  eq(cairn.json_encode(math.maxinteger), "9223372036854775807")
  eq(cairn.json_encode({ b = 1, a = 2, [""] = 3 }), '{"":3,"a":2,"b":1}', "sorted keys")
  eq(cairn.json_encode("\0\31"), '"\\u0000\\u001f"')
  -- nesting: 1000 levels are fine both ways, deeper is refused (not a C stack overflow)
  local deep = string.rep("[", 1000) .. string.rep("]", 1000)
  eq(cairn.json_encode(assert(cairn.json_decode(deep))), deep)
  eq(cairn.json_decode("[" .. deep .. "]"), nil)
  local t = {}
  for _ = 1, 1001 do t = { t } end
  raises("CAIRN_TYPE", cairn.json_encode, t)
end)

test("types: library/cairn.lua declares every public method, and only those", function()
  local f = assert(io.open(here .. "/../library/cairn.lua"))
  local text = f:read("a")
  f:close()
  local declared = {}
  for class, method in text:gmatch("\nfunction (%w+):([%w_]+)%(") do
    declared[class] = declared[class] or {}
    declared[class][method] = true
  end
  local classes = { KV = cairn.KV, Blob = cairn.Blob, Table = cairn.table and cairn.Table, Repo = cairn.Repo }
  local stores = { KV = true, Blob = true, Table = true } -- the versioned store is not a Store
  for name, class in pairs(classes) do
    local base = stores[name] and declared.Store or {}
    for m in pairs(declared[name]) do
      eq(type(class[m]), "function", name .. ":" .. m .. " is declared")
    end
    for m in pairs(base) do
      eq(type(class[m]), "function", name .. ":" .. m .. " (every store)")
    end
    for m, v in pairs(class) do
      if type(v) == "function" and not m:find("^_") then
        assert(declared[name][m] or base[m], name .. ":" .. m .. " is missing in library/cairn.lua")
      end
    end
  end
  for fn in text:gmatch("\nfunction cairn%.([%w_]+)%(") do
    eq(type(cairn[fn]), "function", "cairn." .. fn)
  end
end)

h.finish()
