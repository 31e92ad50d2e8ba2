#!/usr/bin/env bash
# What a Lua user does (docs/lua.md, "Install"): `luarocks make` the rock from a checkout into a
# tree of their own (the project's lua_modules/), then, with the checkout gone, set the module path
# with `luarocks path` and run the guide's first example. The checkout is a copy (core/, LICENSE,
# bindings/lua): the build writes build-rock/ in it, and the work tree is left alone.
# Usage: lua_rock.sh SOURCE_DIR LUA LUAROCKS
set -euo pipefail
src=$1 lua=$2 luarocks=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for tool in "$lua" "$luarocks" cc; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (scripts/setup.sh installs what the Lua install needs)"; exit 1; }
done
command -v swig4.0 >/dev/null || command -v swig >/dev/null || { echo "FAIL: swig not found (scripts/setup.sh installs it)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset LUA_PATH LUA_CPATH LUA_PATH_5_4 LUA_CPATH_5_4 LUA_INIT LUA_INIT_5_4

mkdir -p "$tmp/cairn/bindings" "$tmp/myapp"
cp -r "$src/core" "$src/LICENSE" "$tmp/cairn/"
(cd "$src/bindings" && tar cf - --exclude=./lua/build-rock lua) | (cd "$tmp/cairn/bindings" && tar xf -)

# The guide: from the root of the checkout, into the project's tree.
cd "$tmp/cairn"
"$luarocks" --lua-version 5.4 --tree "$tmp/myapp/lua_modules" make bindings/lua/cairn-scm-1.rockspec
cd "$tmp/myapp"
rm -rf "$tmp/cairn"                            # the installed rock alone must do
eval "$("$luarocks" --lua-version 5.4 --tree lua_modules path)"

"$here/first_example.sh" "$src/docs/lua.md" lua > first.lua
"$lua" -e 'local p = package.searchpath("cairn_swig", package.cpath)
           assert(p and p:find("/lua_modules/", 1, true), "cairn_swig not from the tree: " .. tostring(p))
           print("cairn_swig from " .. p:sub((p:find("lua_modules", 1, true))))'
"$lua" first.lua
test -d app.db || { echo "FAIL: the first example did not create app.db"; exit 1; }
echo "installed rock: luarocks make into a fresh tree, luarocks path, the guide's first example ran"
