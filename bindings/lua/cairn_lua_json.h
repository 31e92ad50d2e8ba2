/*
 * cairn_lua_json.h - the JSON codec of the Lua binding (values of kind JSON, and the conformance
 * testee's wire format).
 *
 * Why not lua-cjson: Debian's lua-cjson 2.1.0 reads every number as a float and prints 14
 * significant digits, so 2^53 or a 64-bit id written by Python or C would come back changed, and
 * it cannot tell [] from {}. This codec keeps Lua integers as JSON integers (and back), prints
 * floats with the shortest round-trip form, marks decoded arrays with a metatable so that [] and
 * {} survive a round trip, and maps JSON null to a sentinel (nil means "missing" in Lua).
 */
#ifndef CAIRN_LUA_JSON_H
#define CAIRN_LUA_JSON_H

#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

/* json_setup(null_sentinel, array_mt): register the sentinel for null and the metatable that
 * marks arrays. Call once before encode/decode. */
int cairn_lua_json_setup(lua_State *L);
/* json_encode(value) -> string. Raises "CAIRN_TYPE: ..." for a value JSON cannot hold. Object
 * keys are written in bytewise order, so equal tables encode to equal bytes. */
int cairn_lua_json_encode(lua_State *L);
/* json_decode(string) -> value, or nil, message for text that is not strict JSON (RFC 8259). */
int cairn_lua_json_decode(lua_State *L);
/* utf8_valid(string) -> boolean: strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int cairn_lua_utf8_valid(lua_State *L);

/* The same check for C callers: 1 if s[0..len) is valid UTF-8. */
int cairn_lua_utf8_check(const char *s, size_t len);

#endif
