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
 *            (cairn_table_event_fn fn, void *ctx)                       cairn_table_subscribe
 *            const char *row / *rows / *changes / *columns / *spec / *schema: NUL-terminated text
 *   outputs  (cairn_kv **out) (cairn_kv_iter **out) (cairn_blob **out) (cairn_blob_iter **out)
 *            (void **val, size_t *vlen, int *kind)   (void **data, size_t *len)
 *            (const void **key, size_t *klen)        (uint32_t *key)  (uint64_t *out)
 *            (uint64_t *id)  (int64_t *expire_at_ms)  (cairn_kv_stats *out)  (cairn_blob_stats *out)
 *            (cairn_table **out) (cairn_table_iter **out) (cairn_table_stats *out)
 *            (uint64_t *first_id)  (size_t *out)
 *            char **out / **row / **ids: caller-owned text (copied, then cairn_free)
 *            const char **row: borrowed text of cairn_table_iter_next_json (copied; NULL -> none)
 *            (const char **name, int *type, uint32_t *fixed_len, int *nullable)  cairn_table_column
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
%rename("cairn_table_stats_t", %$not %$isfunction) cairn_table_stats;

/* The table engine (cairn/table.h): the script languages pass rows as JSON (the *_json functions,
 * cairn_table_iter_next_json); the typed cairn_value API is for C callers and is not wrapped. */
%ignore cairn_value;
%ignore cairn_value_v;      /* its nested union and struct (SWIG flattens nested types) */
%ignore cairn_value_v_s;
%ignore cairn_table_insert;
%ignore cairn_table_get;
%ignore cairn_table_update;
%ignore cairn_table_load_columns;
%ignore cairn_table_iter_next;
%ignore cairn_table_row_to_json;
/* cairn_table_options.schema: the wrapper owns a copy of the string it is given (freed when it is
 * replaced, and by the destructor where table.h is included), so setting it leaks nothing. */
%typemap(memberin) const char *schema {
    free((void *)$1);
    $1 = NULL;
    if ($input) {
        size_t n_ = strlen((const char *)$input) + 1;
        char *c_ = (char *)malloc(n_);
        if (c_) memcpy(c_, $input, n_);
        $1 = c_;
    }
}

/* The public header is an umbrella over its parts; SWIG does not follow #include, so each part
 * is named here (a new engine adds its line). */
%include "cairn/common.h"
%include "cairn/kv.h"
%include "cairn/blob.h"
%extend cairn_table_options {
    ~cairn_table_options() {
        free((void *)$self->schema);
        free($self);
    }
}
/* Arrow export (cairn/arrow.h): each binding takes the C structs in its own glue (Python's
 * PyCapsules, .NET's importer); the IPC bytes (cairn_table_export_ipc) are wrapped. */
%ignore ArrowSchema;
%ignore ArrowArray;
%ignore ArrowArrayStream;
%ignore cairn_table_export_stream;
%ignore cairn_table_export_column;
/* cairn_table_export_ipc: owned bytes out, as (void **data, size_t *len) */
%apply (void **data, size_t *len) { (void **out, size_t *len) };
%include "cairn/table.h"

/* The versioned store (cairn/repo.h). Mapped here, the same for every language:
 *   char *digest         an OUTPUT (save, put, delete, digest, tag_get): the wrapper supplies the
 *                        caller buffer of CAIRN_DIGEST_HEX + 1 bytes and returns its text as one
 *                        more result (Lua: after the status, nil when the call failed; Python:
 *                        appended to the result); `const char *digest` stays an input string
 *                        (NULL/None/nil: the head);
 *   (const void *value, size_t len|vlen)   bytes in, as (const void *val, size_t vlen) is;
 *   (void **value, size_t *len|vlen, int *kind)  owned bytes + kind out, as kv_get's
 *                        (void **val, size_t *vlen, int *kind) is;
 *   uint64_t *removed    an integer out, as uint64_t *out is;
 *   struct cairn_repo_stats  exposed as cairn_repo_stats_t (like the other stats structs).
 * Not wrapped: cairn_repo_put_many (arrays of pointers: each language has its own batch helper),
 * cairn_repo_iter_next (three outs: each language's cursor helper calls it). Handles
 * (cairn_repo **out, cairn_repo_iter **out) and the stats out-param are each language's typemaps,
 * as for the other engines. */
%typemap(in, numinputs=0) char *digest (char digest_[CAIRN_DIGEST_HEX + 1])
%{ digest_[0] = '\0'; $1 = digest_; %}
#ifdef SWIGLUA
%typemap(argout) char *digest
%{ if (result == 0) lua_pushstring(L, digest_$argnum); else lua_pushnil(L); SWIG_arg++; %}
#endif
#ifdef SWIGPYTHON
%typemap(argout) char *digest {
    if (result == 0) $result = SWIG_Python_AppendOutput($result, PyUnicode_FromString(digest_$argnum));
}
#endif
%typemap(argout) const char *digest "" /* an input: SWIG would otherwise match the argout above */
%apply (const void *val, size_t vlen) { (const void *value, size_t len), (const void *value, size_t vlen) };
%apply (void **val, size_t *vlen, int *kind) { (void **value, size_t *len, int *kind),
                                              (void **value, size_t *vlen, int *kind) };
%apply uint64_t *out { uint64_t *removed };
%rename("cairn_repo_stats_t", %$not %$isfunction) cairn_repo_stats;
%ignore cairn_repo_put_many;
%ignore cairn_repo_iter_next;
%include "cairn/repo.h"
