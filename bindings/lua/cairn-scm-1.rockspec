-- Build offline from the repository root (SWIG >= 4.0 and a C compiler needed; nothing is fetched):
--   luarocks --lua-version 5.4 make bindings/lua/cairn-scm-1.rockspec [--tree DIR]
-- It compiles the SWIG wrapper of core/cairn.i together with every core source into one module,
-- cairn_swig.so (not linked against liblua), and installs it with the idiomatic cairn.lua.
rockspec_format = "3.0"
package = "cairn"
version = "scm-1"
source = {
   url = "git+file:///dev/null", -- `luarocks make` builds the checked-out tree; no download
}
description = {
   summary = "Cairn embedded storage (log KV, blob store, columnar table, versioned store) for Lua 5.4",
   detailed = [[
      local cairn = require("cairn"): a Bitcask-style key-value store, a blob store, a columnar
      table and a versioned store from one portable C99 core, with values that read back identically from C, Python,
      Node and .NET.
   ]],
   license = "MIT",
   labels = { "database", "storage", "kv", "table" },
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
build = {
   type = "command",
   build_command = [[sh bindings/lua/build_rock.sh "$(CC)" "$(CFLAGS)" "$(LIBFLAG)" "$(LUA_INCDIR)"]],
   install = {
      lua = { cairn = "bindings/lua/cairn.lua" },
      lib = { cairn_swig = "build-rock/cairn_swig.so" },
   },
   copy_directories = {},
}
