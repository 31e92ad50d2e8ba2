-- Tests of the Lua binding's table (cairn.table): rows as Lua tables converted by column type,
-- nil / cairn.null, integers beyond Lua's range, errors (returned vs raised), iteration cursors,
-- transactions, events after the call, lifetimes.
-- Run: LUA_CPATH=BUILD/bindings/lua/?.so LUA_PATH=BUILD/bindings/lua/?.lua lua5.4 test_table.lua
-- Ends with one line "N passed, N failed"; exit status 0 only if nothing failed.

local cairn = require("cairn")

local here = (arg and arg[0] or ""):match("^(.*)/") or "."
local h = dofile(here .. "/harness.lua")
local test, eq, deq, raises, fails, tmp = h.test, h.eq, h.deq, h.raises, h.fails, h.tmp
local null = cairn.null

if not cairn.table then
  print("cairn.table is not built (the core has no table engine yet)")
  h.finish()
end

local SCHEMA = "id i64 primary key, name string not null, score f64 null, tag bytes null, "
  .. "at timestamp default 0"

local function open(name, opts)
  opts = opts or {}
  if opts.schema == nil then opts.schema = SCHEMA end
  return assert(cairn.table.open(tmp(name), opts))
end

test("errors: the table's error names are in the table", function()
  eq(cairn.codes.CAIRN_CONSTRAINT, -25)
  eq(cairn.codes.CAIRN_SCHEMA, -26)
  eq(cairn.names[-25], "CAIRN_CONSTRAINT")
  eq(cairn.errname(-26), "CAIRN_SCHEMA")
end)

test("rows: insert, get, count, every column back, nil for a missing row", function()
  local t <close> = open("basic")
  local id = t:insert({ id = 7, name = "Ada", score = 1.5, tag = "\0\1\255", at = 1700000000000001 })
  eq(id, 1)
  eq(math.type(id), "integer")
  eq(t:insert({ id = 8, name = "Bob" }), 2)
  deq(t:get(1), { id = 7, name = "Ada", score = 1.5, tag = "\0\1\255", at = 1700000000000001 })
  -- left out: the default (at) or null (score, tag), as cairn.null: every column is present
  deq(t:get(2), { id = 8, name = "Bob", score = null, tag = null, at = 0 })
  eq(t:get(3), nil)
  eq(t:get(0), nil)
  eq(t:get(-1), nil, "a negative id is no row")
  eq(t:count(), 2)
  eq(#t, 2)
  raises("CAIRN_TYPE", t.get, t, "1")
  raises("CAIRN_TYPE", t.get, t, 1.5)
  eq(t:get(1.0).name, "Ada", "an integral float is an id")
end)

test("rows: update, delete, upsert, insert_many, load", function()
  local t <close> = open("crud")
  eq(t:insert({ id = 1, name = "a" }), 1)
  assert(t:update(1, { score = 2.5 }))
  deq(t:get(1), { id = 1, name = "a", score = 2.5, tag = null, at = 0 })
  assert(t:update(1, { score = null }), "cairn.null sets null")
  eq(t:get(1).score, null)
  assert(t:update(1, {}), "no columns: nothing changes")
  fails("CAIRN_NOTFOUND", t:update(99, { score = 1.0 }))
  fails("CAIRN_SCHEMA", t:update(1, { nope = 1 }))
  -- upsert: by primary key
  eq(t:upsert({ id = 1, name = "b" }), 1)
  eq(t:get(1).name, "b")
  eq(t:upsert({ id = 2, name = "c" }), 2)
  -- insert_many: ids in order, all or nothing
  local ids = assert(t:insert_many({ { id = 3, name = "d" }, { id = 4, name = "e" } }))
  deq(ids, cairn.array({ 3, 4 }))
  fails("CAIRN_CONSTRAINT", t:insert_many({ { id = 5, name = "f" }, { id = 1, name = "dup" } }))
  eq(t:count(), 4)
  deq(t:insert_many({}), cairn.array({}))
  -- load: columns of values, cairn.null for a null; consecutive ids from the first
  local first = t:stats().next_id
  eq(t:load({ id = { 10, 11, 12 }, name = { "x", "y", "z" }, score = { 1.0, null, 3.5 } }), first)
  deq(t:get(first + 1), { id = 11, name = "y", score = null, tag = null, at = 0 })
  eq(t:get(first + 2).score, 3.5)
  fails("CAIRN_INVALID", t:load({ id = { 20, 21 }, name = { "only one" } }))
  raises("CAIRN_TYPE", t.load, t, { id = { 1, nil, 3 } })
  -- delete
  assert(t:delete(1))
  eq(t:get(1), nil)
  fails("CAIRN_NOTFOUND", t:delete(1))
  fails("CAIRN_NOTFOUND", t:delete(12345))
  eq(t:count(), 6)
  eq(t:insert({ id = 1, name = "again" }), first + 3, "ids are never reused")
end)

test("values: integers exact, floats stay floats, bool, bytes and text by column type", function()
  local t <close> = assert(cairn.table.open(tmp("types"), { schema =
    "a i64, b u64, c i8, f f64, g f32, ok bool, s string, raw bytes, fx bytes:2, at timestamp" }))
  local row = { a = math.mininteger, b = math.maxinteger, c = -128, f = 5, g = 0.5, ok = false,
                s = "héllo", raw = "héllo", fx = "\0\0", at = -1 }
  local id = assert(t:insert(row))
  local got = t:get(id)
  eq(got.a, math.mininteger)
  eq(got.b, math.maxinteger)
  eq(math.type(got.f), "float", "a float column reads back floats")
  eq(got.f, 5.0)
  eq(got.g, 0.5)
  eq(got.ok, false)
  eq(got.s, "héllo")
  eq(got.raw, "héllo", "a string in a bytes column is its bytes")
  eq(got.fx, "\0\0")
  eq(got.at, -1)
  -- specials of floats
  id = assert(t:insert({ f = 0 / 0, g = math.huge }))
  got = t:get(id)
  assert(got.f ~= got.f, "NaN")
  eq(got.g, math.huge)
  id = assert(t:insert({ f = -math.huge }))
  eq(t:get(id).f, -math.huge)
  -- values of the wrong type for their column: the core's CAIRN_TYPE
  fails("CAIRN_TYPE", t:insert({ a = "1" }))
  fails("CAIRN_TYPE", t:insert({ a = 1.5 }))
  fails("CAIRN_TYPE", t:insert({ ok = 1 }))
  fails("CAIRN_TYPE", t:insert({ s = 5 }))
  fails("CAIRN_TYPE", t:insert({ raw = true }))
  fails("CAIRN_TYPE", t:insert({ at = "2024-01-01" }))
  fails("CAIRN_TYPE", t:insert({ s = cairn.bytes("x") }))  -- cairn.bytes is bytes in any column
  fails("CAIRN_TYPE", t:insert({ raw = cairn.text("x") }))  -- cairn.text is text in any column
  fails("CAIRN_TYPE", t:insert({ a = { 1 } }))
  -- out of range: the core's CAIRN_RANGE
  fails("CAIRN_RANGE", t:insert({ c = 128 }))
  fails("CAIRN_RANGE", t:insert({ b = -1 }))
  fails("CAIRN_RANGE", t:insert({ fx = "\0" }))
  fails("CAIRN_RANGE", t:insert({ g = 1e39 }))
  -- a string column takes UTF-8 only
  fails("CAIRN_INVALID", t:insert({ s = "\255" }))
  -- Lua values no column holds raise
  raises("CAIRN_TYPE", t.insert, t, { a = print })
  raises("CAIRN_TYPE", t.insert, t, { a = coroutine.create(print) })
  raises("CAIRN_TYPE", t.insert, t, { a = setmetatable({}, {}) })
  raises("CAIRN_TYPE", t.insert, t, "a row")
  raises("CAIRN_TYPE", t.insert, t, { 1, 2 })
  raises("CAIRN_TYPE", t.insert, t, setmetatable({}, {}))
  raises("CAIRN_TYPE", t.insert_many, t, { "not a row" })
  eq(t:count(), 3, "nothing stored by a refused row")
end)

test("values: u64 beyond Lua's integers is its decimal string, both ways", function()
  local t <close> = assert(cairn.table.open(tmp("u64"), { schema = "v u64, i i64" }))
  local id = assert(t:insert({ v = "18446744073709551615" }))
  eq(t:get(id).v, "18446744073709551615")
  id = assert(t:insert({ v = "9223372036854775808" }))
  eq(t:get(id).v, "9223372036854775808")
  id = assert(t:insert({ v = math.maxinteger }))
  eq(t:get(id).v, math.maxinteger, "within Lua's range: an integer")
  fails("CAIRN_RANGE", t:insert({ v = "18446744073709551616" }))
  fails("CAIRN_RANGE", t:insert({ i = "9223372036854775808" }))  -- beyond i64: RANGE, not a wrap
  fails("CAIRN_RANGE", t:insert({ i = "-9223372036854775809" }))
  fails("CAIRN_TYPE", t:insert({ v = "5" }))  -- a string of an integer Lua holds is a string
  fails("CAIRN_TYPE", t:insert({ v = "018446744073709551615" }))
  -- what was read writes back unchanged
  local row = t:get(1)
  assert(t:update(2, row))
  eq(t:get(2).v, "18446744073709551615")
end)

test("schema: text or a list of column tables; schema() and schema('text')", function()
  local t <close> = assert(cairn.table.open(tmp("schema"), { schema = {
    { name = "id", type = "i64", primary_key = true },
    { name = "name", type = "string", nullable = false },
    { name = "score", type = "f64", default = 0.5 },
    { name = "tag", type = "bytes:2", default = "\0\1" },
  } }))
  local cols = assert(t:schema())
  eq(#cols, 4)
  eq(getmetatable(cols), cairn.array_mt)
  eq(cols[1].name, "id")
  eq(cols[1].type, "i64")
  eq(cols[1].primary_key, true)
  eq(cols[1].nullable, false)
  eq(cols[2].nullable, false)
  eq(cols[3].default, 0.5)
  eq(cols[4].type, "bytes:2")
  eq(cols[4].default, "\0\1", "a bytes default is its bytes")
  eq(cols[1].default, null, "no default: cairn.null")
  local text = assert(t:schema("text"))
  eq(type(text), "string")
  assert(text:find("id i64 primary key"), text)
  raises("CAIRN_INVALID", t.schema, t, "yaml")
  t:close()
  -- the same schema again, as text or as the list, is accepted; another is CAIRN_SCHEMA
  local t2 = assert(cairn.table.open(t.path, { schema = text }))
  t2:close()
  t2 = assert(cairn.table.open(t.path)) -- the stored schema
  eq(#t2:schema(), 4)
  t2:close()
  fails("CAIRN_SCHEMA", cairn.table.open(t.path, { schema = "id i64" }))
  -- misuse of the schema option raises
  raises("CAIRN_TYPE", cairn.table.open, tmp("s2"), { schema = 5 })
  raises("CAIRN_TYPE", cairn.table.open, tmp("s2"), { schema = { "id i64" } })
  raises("CAIRN_INVALID", cairn.table.open, tmp("s2"), { schema = { { name = "a", type = "i8", pk = true } } })
  fails("CAIRN_INVALID", cairn.table.open(tmp("s3"), { schema = "id i99" }))
  fails("CAIRN_INVALID", cairn.table.open(tmp("s4")))  -- a new table needs a schema
end)

test("add_column: text or a column table; existing rows get the default", function()
  local t <close> = open("addcol")
  assert(t:insert({ id = 1, name = "a" }))
  assert(t:add_column("n i32 default 7"))
  eq(t:get(1).n, 7)
  assert(t:add_column({ name = "blob", type = "bytes", default = "\255\0" }))
  eq(t:get(1).blob, "\255\0")
  assert(t:add_column({ name = "label", type = "string", default = "it's" }))
  eq(t:get(1).label, "it's")
  assert(t:insert({ id = 2, name = "b", blob = "\1" }), "the new bytes column converts strings")
  eq(t:get(2).blob, "\1")
  fails("CAIRN_EXISTS", t:add_column("n i64"))
  fails("CAIRN_INVALID", t:add_column("bad"))
  raises("CAIRN_TYPE", t.add_column, t, 5)
  assert(t:begin())
  fails("CAIRN_TXN", t:add_column("z i8"))
  assert(t:rollback())
  eq(t:stats().columns, 8)
end)

test("rows(): id order, a snapshot, pairs(t), cursors freed on break and before close", function()
  local t = open("iter")
  for i = 1, 5 do assert(t:insert({ id = i, name = "n" .. i })) end
  assert(t:delete(2))
  local seen = {}
  for id, row in t:rows() do
    seen[#seen + 1] = id
    eq(row.name, "n" .. id)
    if id == 1 then assert(t:insert({ id = 6, name = "n6" })) end -- later writes are not seen
  end
  deq(seen, { 1, 3, 4, 5 })
  seen = {}
  for id in pairs(t) do seen[#seen + 1] = id end
  deq(seen, { 1, 3, 4, 5, 6 })
  for id in t:rows() do if id == 3 then break end end -- the closing value frees the cursor
  eq(next(t._cursors), nil, "no cursor left open after break")
  -- an error inside the loop frees it too
  pcall(function() for _ in t:rows() do error("boom") end end)
  eq(next(t._cursors), nil)
  -- closing the table with a loop in progress frees the cursor; the loop then raises CLOSED
  local ok, err = pcall(function()
    for id in t:rows() do if id == 1 then t:close() end end
  end)
  assert(not ok and cairn.errname(err) == "CAIRN_CLOSED", tostring(err))
  raises("CAIRN_CLOSED", t.rows, t)
end)

test("transactions: begin/commit/rollback, transaction(fn), in_txn", function()
  local t <close> = open("txn")
  eq(t:in_txn(), false)
  assert(t:begin())
  eq(t:in_txn(), true)
  eq(t:stats().in_txn, true)
  assert(t:insert({ id = 1, name = "a" }))
  eq(t:count(), 1, "a transaction sees its own rows")
  assert(t:rollback())
  eq(t:count(), 0)
  eq(t:in_txn(), false)
  fails("CAIRN_TXN", t:commit())
  assert(t:begin())
  fails("CAIRN_TXN", t:begin())
  fails("CAIRN_TXN", t:sync())
  assert(t:commit())
  local r1, r2 = t:transaction(function(tx, x)
    assert(tx:insert({ id = 2, name = x }))
    return "done", 42
  end, "b")
  eq(r1, "done")
  eq(r2, 42)
  eq(t:get(2).name, "b")
  local ok, err = pcall(t.transaction, t, function(tx)
    assert(tx:insert({ id = 3, name = "c" }))
    error("abort")
  end)
  assert(not ok and tostring(err):find("abort"))
  eq(t:get(3), nil, "rolled back")
  eq(t:in_txn(), false)
end)

test("events: after the call, held until commit, dropped by rollback, rows decoded", function()
  local t <close> = open("events")
  local log = {}
  local sid = t:subscribe(function(event, id, new_row, old_row)
    -- the listener runs after the call returned: the table can be read
    log[#log + 1] = { event, id, new_row, old_row, t:count() }
  end)
  eq(math.type(sid), "integer")
  assert(t:insert({ id = 1, name = "a", tag = "\0" }))
  eq(#log, 1)
  eq(log[1][1], "inserted")
  eq(log[1][2], 1)
  deq(log[1][3], { id = 1, name = "a", score = null, tag = "\0", at = 0 })
  eq(log[1][4], nil)
  eq(log[1][5], 1)
  assert(t:update(1, { name = "b" }))
  eq(log[2][1], "updated")
  eq(log[2][3].name, "b")
  eq(log[2][4].name, "a")
  assert(t:begin())
  assert(t:insert({ id = 2, name = "c" }))
  assert(t:delete(1))
  eq(#log, 2, "held inside the transaction")
  assert(t:commit())
  eq(#log, 4)
  eq(log[3][1], "inserted")
  eq(log[4][1], "deleted")
  eq(log[4][3], nil)
  eq(log[4][4].name, "b")
  assert(t:begin())
  assert(t:insert({ id = 3, name = "d" }))
  assert(t:rollback())
  fails("CAIRN_CONSTRAINT", t:insert({ id = 2, name = "dup" }))
  eq(#log, 4, "none for a rollback or a failure")
  -- on(name, fn) filters; off / unsubscribe
  local only = {}
  local oid = t:on("deleted", function(event, id) only[#only + 1] = event .. id end)
  assert(t:insert({ id = 4, name = "e" }))
  assert(t:delete(4))
  deq(only, { "deleted4" })
  raises("CAIRN_INVALID", t.on, t, "created", print)
  assert(t:off(oid))
  assert(t:unsubscribe(sid))
  fails("CAIRN_NOTFOUND", t:unsubscribe(sid))
  assert(t:insert({ id = 5, name = "f" }))
  eq(#log, 6)
  -- a listener's error is raised after the change is done
  t:subscribe(function() error("listener failed") end)
  local ok, err = pcall(t.insert, t, { id = 6, name = "g" })
  assert(not ok and tostring(err):find("listener failed"))
  local last
  for _, row in t:rows() do last = row end
  eq(last.name, "g", "the insert is done")
end)

test("lifetime: <close>, __gc, reopen, check, options", function()
  local path = tmp("life")
  do
    local t <close> = assert(cairn.table.open(path, { schema = SCHEMA, sync = "none", checkpoint_rows = 2 }))
    for i = 1, 5 do assert(t:insert({ id = i, name = "r" .. i })) end
    local st = t:stats()
    eq(st.rows, 5)
    eq(st.next_id, 6)
    eq(st.columns, 5)
    eq(st.in_txn, false)
    assert(st.row_groups >= 1, "checkpoint_rows = 2 wrote row groups")
    assert(t:sync())
    eq(t:stats().tail_rows, 0)
    assert(t:compact())
  end
  fails("CAIRN_PATH", cairn.table.open(tmp("missing"), { create = false }))
  assert(cairn.table.check(path))
  fails("CAIRN_PATH", cairn.table.check(tmp("nothing")))
  do
    local t = assert(cairn.table.open(path))
    eq(t:count(), 5)
    fails("CAIRN_LOCKED", cairn.table.open(path))
    local ro = assert(cairn.table.open(path, { read_only = true }))
    eq(ro:count(), 5)
    fails("CAIRN_READONLY", ro:insert({ id = 9, name = "x" }))
    ro:close()
    t = nil -- luacheck: ignore (dropped: __gc closes it)
    collectgarbage()
    collectgarbage()
  end
  local t = assert(cairn.table.open(path), "the collector released the lock")
  eq(tostring(t):find("cairn.table", 1, true), 1)
  t:close()
  assert(t:close(), "closing twice is harmless")
  eq(t:is_open(), false)
  raises("CAIRN_CLOSED", t.insert, t, { id = 1 })
  raises("CAIRN_CLOSED", t.count, t)
  raises("CAIRN_INVALID", cairn.table.open, path, { nope = true })
  raises("CAIRN_TYPE", cairn.table.open, path, { checkpoint_rows = "4" })
  raises("CAIRN_TYPE", cairn.table.open, path, { read_only = "yes" })
end)

h.finish()
