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

/* ---- table rows (the JSON row form of cairn/table.h) ----------------------------------------
 * A `types` table maps a column name to its class below, so that a Lua value is written in the
 * form its column needs and read back as the Lua value its column means:
 *   BYTES  (bytes, bytes:N)  a Lua string  <-> {"$bytes": "<hex>"}
 *   INT    (i8..i64, u8..u32, timestamp), U64
 *                            a Lua integer <-> a JSON integer. An integer beyond Lua's range
 *                            (only a u64 value >= 2^63 can be stored) is its decimal string
 *                            ("18446744073709551615"): read so from a U64 column, and written as
 *                            the JSON integer to any integer column (the core checks the
 *                            column's range). A string of an integer Lua does hold is no integer.
 *   FLOAT  (f32, f64)        a Lua float   <-> a JSON number; NaN, inf as {"$f64": "nan"|"inf"|"-inf"}
 *                            (an integral JSON number reads back as a float)
 *   STRING                   a Lua string (valid UTF-8) <-> a JSON string
 *   OTHER  (bool; unknown names) as the JSON codec
 * Any column: cairn.null <-> null; cairn.bytes(s) -> {"$bytes"}, cairn.text(s) -> a JSON string
 * whatever the column (the core then says CAIRN_TYPE if the column does not take it). A value of
 * the wrong type for its column is written as its own JSON type, so that the core judges it. */
#define CAIRN_LUA_COL_OTHER 0
#define CAIRN_LUA_COL_BYTES 1
#define CAIRN_LUA_COL_U64 2
#define CAIRN_LUA_COL_FLOAT 3
#define CAIRN_LUA_COL_STRING 4
#define CAIRN_LUA_COL_INT 5

/* row_setup(bytes_mt, text_mt): the metatables of cairn.bytes(s) and cairn.text(s). */
int cairn_lua_row_setup(lua_State *L);
/* row_encode(value, types, shape) -> JSON text, or nil, message, name (never raises).
 * shape "row": a table column = value; "rows": a list of rows; "columns": a table column = list of
 * values. name is CAIRN_TYPE for a Lua value no column can hold (function, coroutine, userdata,
 * a table with another metatable, a row that is not a table or has non-string keys),
 * CAIRN_INVALID for a string column value that is not valid UTF-8, CAIRN_NOMEM. */
int cairn_lua_row_encode(lua_State *L);
/* row_decode(json, types) -> row table (every column; null as cairn.null), or nil, message. */
int cairn_lua_row_decode(lua_State *L);
/* For C callers: decode the JSON row s[0..len) with the types table at types_idx; pushes the row
 * and returns 0, or pushes an error message and returns -1. */
int cairn_lua_row_push(lua_State *L, const char *s, size_t len, int types_idx);

/* result_decode(json) -> result table, or nil, message: a query result of cairn/table.h
 * ({"columns": [{"name", "type"}, ...], "rows": [...]} or {"columns", "data": {...}, "count"}),
 * its "columns" as decoded JSON, and every value of "rows" / "data" decoded by its result column's
 * type as row_decode does (rows and data lists carry the array metatable; nulls are the null
 * sentinel, so lists have no holes). "columns" must come before "rows" / "data" for the types to
 * apply (the core writes it first). */
int cairn_lua_result_decode(lua_State *L);

#endif
