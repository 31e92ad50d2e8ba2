/*
 * cairn.i - the one SWIG interface of Cairn, shared by the Python and Lua bindings.
 *
 * This file is the RAW layer: 1:1 with cairn.h (every function, enum and options/stats struct),
 * free of language policy. Each language adds its typemaps in its own file, included below, and
 * its idiomatic layer in its own package (bindings/python/cairn/, bindings/lua/cairn.lua).
 *
 * Typemaps match the argument NAMES of cairn.h, the same way in every language:
 *   inputs   (const void *key, size_t klen)   (const void *val, size_t vlen)
 *            (const void *data, size_t len)   (const void *prefix, size_t plen)
 *            (void *buf, size_t cap, size_t *vlen, int *kind)           cairn_kv_get_into
 *            (cairn_blob_event_fn fn, void *ctx)                        cairn_blob_subscribe
 *   outputs  (cairn_kv **out) (cairn_kv_iter **out) (cairn_blob **out) (cairn_blob_iter **out)
 *            (void **val, size_t *vlen, int *kind)   (void **data, size_t *len)
 *            (const void **key, size_t *klen)        (uint32_t *key)  (uint64_t *out)
 *            (uint64_t *id)  (int64_t *expire_at_ms)  (cairn_kv_stats *out)  (cairn_blob_stats *out)
 *   status   functions returning int: 0 or a negative CAIRN_E* code (see cairn.h for which
 *            ones return a count or a boolean instead: *_contains, *_exists, cairn_errcode).
 */
%module cairn_swig

%{
#include "cairn.h"
%}

%include <stdint.i>

#ifdef SWIGPYTHON
%include "../bindings/python/cairn_python.i"
#endif
#ifdef SWIGLUA
%include "../bindings/lua/cairn_lua.i"
#endif

/* The error codes, generated from the one table (cairn.h builds its enum from the same file
 * with #include, which SWIG does not follow): CAIRN_OK, CAIRN_ERROR, CAIRN_NOTFOUND, ... */
%define X(code, name, text)
%constant int CAIRN_ ## name = code;
%enddef
%include "cairn_errors.def"
#undef X

/* The typedef'd stats structs share their names with the functions that fill them
 * (cairn_kv_stats() fills a cairn_kv_stats): the struct is exposed as <name>_t. */
%rename("cairn_kv_stats_t", %$not %$isfunction) cairn_kv_stats;
%rename("cairn_blob_stats_t", %$not %$isfunction) cairn_blob_stats;

/* The public header is an umbrella over its parts; SWIG does not follow #include, so each part
 * is named here (a new engine adds its line). */
%include "cairn/common.h"
%include "cairn/kv.h"
%include "cairn/blob.h"
