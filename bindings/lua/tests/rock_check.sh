#!/bin/sh
# Checks that the rockspec builds offline and the installed rock works, without touching the
# source tree: copies core/ and bindings/lua/ to a temporary directory, runs
# `luarocks --lua-version 5.4 make` there into a private tree, and loads the result.
#   sh rock_check.sh REPO_ROOT [LUA]        exit 77 (skipped) when luarocks is missing
set -eu
root=$1
lua=${2:-lua5.4}
if ! command -v luarocks >/dev/null 2>&1; then
    echo "rock_check.sh: luarocks not found: skipped"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/bindings"
cp -R "$root/core" "$tmp/src/core"
cp -R "$root/bindings/lua" "$tmp/src/bindings/lua"
cd "$tmp/src"
luarocks --lua-version 5.4 make bindings/lua/cairn-scm-1.rockspec --tree "$tmp/tree"
LUA_CPATH="$tmp/tree/lib/lua/5.4/?.so" LUA_PATH="$tmp/tree/share/lua/5.4/?.lua" "$lua" - "$tmp" <<'LUA'
local cairn = require("cairn")
local db <close> = assert(cairn.kv.open(arg[1] .. "/db"))
assert(db:put("k", { n = 1 }))
assert(db:get("k").n == 1 and math.type(db:get("k").n) == "integer")
if cairn.table then -- the rock has the table engine when the core defines it
  local t <close> = assert(cairn.table.open(arg[1] .. "/t", { schema = "id i64 primary key, b bytes" }))
  assert(t:insert({ id = 1, b = "\0\1" }) == 1 and t:get(1).b == "\0\1")
end
print("rock_check: cairn " .. cairn.version .. " from the rock works")
LUA
