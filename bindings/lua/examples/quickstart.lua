--[[
Cairn quickstart in Lua: a KV store and a blob store in the directory given.

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
