--[[
Cairn quickstart in Lua: a KV store, a blob store, a table and a versioned store in the directory
given.

    LUA_CPATH="<build>/bindings/lua/?.so;;" LUA_PATH="<build>/bindings/lua/?.lua;;" \
      lua5.4 quickstart.lua DIR
]]
local cairn = require("cairn")

local root = assert(arg[1], "usage: quickstart.lua DIR")
print("cairn " .. cairn.version)

do
  -- the KV directory is created if missing; <close> closes the store at the end of the block
  local db <close> = assert(cairn.kv.open(root .. "/kv"))
  assert(db:put("hello", "world"))                                    -- text
  assert(db:put("user:1", { name = "Ada", langs = cairn.array({ "en" }) }))  -- JSON document
  assert(db:put("\0bin", "\0\1\2\3"))                                 -- bytes
  db:transaction(function(tx)                                         -- atomic batch
    assert(tx:put("a", "1"))
    assert(tx:put("b", "2"))
  end)
  assert(db:update("user:1", { langs = cairn.array({ "en", "fr" }) }))  -- merge into the object
  local user = db:get("user:1")
  print(string.format("kv: hello = %s, user:1 = %s, %d keys", db:get("hello"),
    cairn.json_encode(user), db:count()))
  print("kv: missing key ->", db:get("missing"))                     -- nil: not an error
  local ok, msg, name = db:delete("missing")
  print("kv: delete missing ->", ok, name)
end

do
  local store <close> = assert(cairn.blob.open(root .. "/blobs.cairn"))
  store:on("*", function(event, key, old_size, new_size)
    print(string.format("blob: event %s key=%d size %d -> %d", event, key, old_size, new_size))
  end)
  local key = assert(store:create("a blob of bytes"))
  assert(store:update(key, "a longer blob of bytes"))
  print(string.format("blob: %d = %q, %d entries", key, store:read(key), store:count()))
end

do
  -- a table: typed columns; rows are Lua tables, null is cairn.null
  local t <close> = assert(cairn.table.open(root .. "/people", {
    schema = "id i64 primary key, name string not null, score f64 null, joined timestamp default 0",
  }))
  t:on("inserted", function(event, id, row)
    print(string.format("table: event %s id=%d name=%s", event, id, row.name))
  end)
  local ada = assert(t:insert({ id = 1, name = "Ada", score = 9.5 }))
  assert(t:insert_many({ { id = 2, name = "Bob" }, { id = 3, name = "Cy", score = 7.25 } }))
  assert(t:update(ada, { score = 10.0 }))
  for id, row in t:rows() do                                          -- id order
    print(string.format("table: %d %s score=%s", id, row.name,
      row.score == cairn.null and "null" or tostring(row.score)))
  end
  print(string.format("table: %d rows, get(99) -> %s", #t, tostring(t:get(99))))
end

do
  -- a versioned store: every save is a version named by its digest, with a history
  local repo <close> = assert(cairn.repo.open(root .. "/versions"))
  assert(repo:init("acme"))
  local v1 = assert(repo:save("acme", "ada", "config", { retries = 3 }))
  assert(repo:save("acme", "bob", "config", { retries = 5 }))
  assert(repo:put_many("acme", "ada", "users", { ada = "admin", bob = "dev" }))
  print(string.format("repo: config retries=%d (was %d at %s...), %d versions, users: %s",
    repo:load("acme", "config").retries, repo:load("acme", "config", v1).retries, v1:sub(1, 12),
    #repo:history("acme", "config"), table.concat(repo:keys("acme", "users"), ", ")))
end
