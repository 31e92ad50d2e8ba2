/*
 * cairn_lua.i - the Lua 5.4 typemaps of the raw layer (%included by core/cairn.i under SWIGLUA,
 * before cairn.h is parsed, so every typemap here applies to the declarations).
 *
 * The raw module `cairn_swig` stays 1:1 with cairn.h; the typemaps only make it Lua-shaped:
 *  - status codes and every other C integer are pushed with lua_pushinteger (SWIG 4.1 pushes
 *    lua_Number, so 3 would come back as 3.0); integer inputs must be integers (3.0 is accepted,
 *    3.5 is not) and in range of the C type;
 *  - (pointer, length) inputs take a Lua string, binary-safe; byte outputs are pushed with
 *    lua_pushlstring and the C buffer is freed (cairn_free) before the wrapper returns;
 *  - out-params become extra results after the status: rc, value, kind = cairn_kv_get(kv, key);
 *    an out-param of a failed call is nil;
 *  - handles come back as SWIG pointers the caller must close (the idiomatic layer cairn.lua
 *    ties them to __gc/__close);
 *  - options and stats are the SWIG-wrapped C structs (cairn_swig.cairn_kv_options() starts from
 *    the _INIT defaults; cairn_swig.cairn_kv_stats_t() is filled by cairn_kv_stats); cairn.lua
 *    turns them into and from Lua tables by the field names SWIG records, so no field is listed
 *    by hand anywhere;
 *  - the event callbacks (blob, table) are C trampolines that queue events on a queue made by
 *    cairn_swig.evq_new(); cairn.lua drains it after each call and runs the Lua listeners
 *    (a Lua error must never unwind through the engine, so listeners never run inside it);
 *  - the table's JSON text outputs (char **out/row/ids) are pushed as strings and freed; the
 *    borrowed row of cairn_table_iter_next_json is copied.
 * Helpers that need the Lua stack are %native functions (json_*, row_* (the table's rows by column
 * type), kv_keys, blob_keys, table_get, table_next, repo_put_many, repo_next, repo_keys, evq_*,
 * now_ms). The table is wrapped when the
 * build defines CAIRN_SWIG_TABLE (see core/cairn.i).
 */

%{
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cairn_lua_json.h"

/* Raise a message that starts with the error name (luaL_error would put the caller's position
 * first, and the idiomatic layer and users look for the name at the start). */
static int cairn_lua__raise(lua_State *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

/* An integer argument: an integer, or a float with an exact integer value, within [lo, hi]. */
static lua_Integer cairn_lua__int_arg(lua_State *L, int idx, lua_Integer lo, lua_Integer hi) {
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum || lua_type(L, idx) != LUA_TNUMBER)
        cairn_lua__raise(L, "CAIRN_TYPE: argument %d must be an integer", idx);
    if (v < lo || v > hi)
        cairn_lua__raise(L, "CAIRN_INVALID: argument %d is out of range", idx);
    return v;
}

/* ---- events: a queue filled by the engines' C callbacks, drained by Lua ------------------ */
typedef struct cairn_lua_ev {
    int event;
    int table;               /* 0: a blob event (key, sizes); 1: a table event (id, rows) */
    uint32_t key;
    uint64_t old_size, new_size;
    uint64_t id;
    char *new_row, *old_row; /* table: copies of the JSON rows (NULL when not applicable) */
} cairn_lua_ev;
typedef struct cairn_lua_evq {
    cairn_lua_ev *v;
    size_t n, cap;
    int lost; /* events dropped for lack of memory (reported by evq_drain) */
} cairn_lua_evq;

/* The next free slot of the queue, or NULL (counted as lost) without memory. */
static cairn_lua_ev *cairn_lua__evq_slot(cairn_lua_evq *q) {
    cairn_lua_ev *e;
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 16;
        cairn_lua_ev *nv = (cairn_lua_ev *)realloc(q->v, ncap * sizeof *nv);
        if (!nv) {
            q->lost++;
            return NULL;
        }
        q->v = nv;
        q->cap = ncap;
    }
    e = &q->v[q->n];
    memset(e, 0, sizeof *e);
    return e;
}

static void cairn_lua__evq_push(void *ctx, int event, uint32_t key, uint64_t old_size, uint64_t new_size) {
    cairn_lua_evq *q = (cairn_lua_evq *)ctx;
    cairn_lua_ev *e = cairn_lua__evq_slot(q);
    if (!e)
        return;
    e->event = event;
    e->key = key;
    e->old_size = old_size;
    e->new_size = new_size;
    q->n++;
}

static char *cairn_lua__strdup(const char *s, int *failed) {
    size_t n;
    char *c;
    if (!s)
        return NULL;
    n = strlen(s) + 1;
    c = (char *)malloc(n);
    if (c)
        memcpy(c, s, n);
    else
        *failed = 1;
    return c;
}

/* The table engine's callback (cairn_table_event_fn): the rows are borrowed, so they are copied. */
static void cairn_lua__evq_push_table(void *ctx, int event, uint64_t id, const char *new_row,
                                      const char *old_row) {
    cairn_lua_evq *q = (cairn_lua_evq *)ctx;
    cairn_lua_ev *e = cairn_lua__evq_slot(q);
    int failed = 0;
    if (!e)
        return;
    e->event = event;
    e->table = 1;
    e->id = id;
    e->new_row = cairn_lua__strdup(new_row, &failed);
    e->old_row = cairn_lua__strdup(old_row, &failed);
    if (failed) {
        free(e->new_row);
        free(e->old_row);
        q->lost++;
        return;
    }
    q->n++;
}

static int cairn_lua_evq_new(lua_State *L) {
    cairn_lua_evq *q = (cairn_lua_evq *)calloc(1, sizeof *q);
    if (!q)
        return cairn_lua__raise(L, "CAIRN_NOMEM: out of memory");
    lua_pushlightuserdata(L, q);
    return 1;
}

static int cairn_lua_evq_free(lua_State *L) {
    cairn_lua_evq *q = (cairn_lua_evq *)lua_touserdata(L, 1);
    if (q) {
        size_t i;
        for (i = 0; i < q->n; i++) {
            free(q->v[i].new_row);
            free(q->v[i].old_row);
        }
        free(q->v);
        free(q);
    }
    return 0;
}

/* evq_drain(q) -> list of events (oldest first), lost count; clears. A blob event is
 * {name, key, old_size, new_size} (name "created" | "updated" | "deleted"), a table event
 * {name, id, new_row, old_row} (name "inserted" | "updated" | "deleted"; the rows as JSON text,
 * absent when not applicable). */
static int cairn_lua_evq_drain(lua_State *L) {
    static const char *const names[] = {"?", "created", "updated", "deleted"};
    static const char *const table_names[] = {"?", "inserted", "updated", "deleted"};
    cairn_lua_evq *q = (cairn_lua_evq *)lua_touserdata(L, 1);
    size_t i;
    int lost;
    if (!q)
        return cairn_lua__raise(L, "CAIRN_INVALID: not an event queue");
    lua_createtable(L, (int)q->n, 0);
    for (i = 0; i < q->n; i++) {
        cairn_lua_ev *e = &q->v[i];
        int known = e->event >= 1 && e->event <= 3;
        lua_createtable(L, 4, 0);
        lua_pushstring(L, (e->table ? table_names : names)[known ? e->event : 0]);
        lua_rawseti(L, -2, 1);
        if (e->table) {
            lua_pushinteger(L, (lua_Integer)e->id);
            lua_rawseti(L, -2, 2);
            if (e->new_row) {
                lua_pushstring(L, e->new_row);
                lua_rawseti(L, -2, 3);
            }
            if (e->old_row) {
                lua_pushstring(L, e->old_row);
                lua_rawseti(L, -2, 4);
            }
            free(e->new_row);
            free(e->old_row);
            e->new_row = e->old_row = NULL;
        } else {
            lua_pushinteger(L, (lua_Integer)e->key);
            lua_rawseti(L, -2, 2);
            lua_pushinteger(L, (lua_Integer)e->old_size);
            lua_rawseti(L, -2, 3);
            lua_pushinteger(L, (lua_Integer)e->new_size);
            lua_rawseti(L, -2, 4);
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lost = q->lost;
    q->n = 0;
    q->lost = 0;
    lua_pushinteger(L, lost);
    return 2;
}

/* ---- clock ------------------------------------------------------------------------------ */
static int cairn_lua_now_ms(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    return 1;
}
%}

/* ---- integers: pushed as Lua integers, read as integers ---------------------------------- */
%typemap(out) int, short, long, long long, unsigned int, unsigned short, unsigned long,
              unsigned long long, signed char, unsigned char, enum SWIGTYPE
%{ lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++; %}

%typemap(in, checkfn="lua_isnumber") short, long, long long, signed char, enum SWIGTYPE
%{ $1 = ($1_ltype)cairn_lua__int_arg(L, $input, LUA_MININTEGER, LUA_MAXINTEGER); %}
%typemap(in, checkfn="lua_isnumber") unsigned int, unsigned short, unsigned char
%{ $1 = ($1_ltype)cairn_lua__int_arg(L, $input, 0, (lua_Integer)(($1_ltype)-1)); %}
%typemap(in, checkfn="lua_isnumber") unsigned long, unsigned long long
%{ $1 = ($1_ltype)cairn_lua__int_arg(L, $input, 0, LUA_MAXINTEGER); %}
/* int: C int range (the kind argument of cairn_kv_put, codes of cairn_errname) */
%typemap(in, checkfn="lua_isnumber") int
%{ $1 = (int)cairn_lua__int_arg(L, $input, -2147483647 - 1, 2147483647); %}

/* ---- byte inputs (binary-safe) ----------------------------------------------------------- */
%typemap(in, checkfn="lua_isstring") (const void *key, size_t klen), (const void *val, size_t vlen),
                                      (const void *data, size_t len), (const void *prefix, size_t plen),
                                      (const void *changes, size_t len)
{
    size_t n_ = 0;
    $1 = ($1_ltype)lua_tolstring(L, $input, &n_);
    $2 = n_;
}

/* ---- byte outputs: owned (freed here), borrowed (copied) --------------------------------- */
%typemap(in, numinputs=0) (void **val, size_t *vlen, int *kind) (void *v_ = NULL, size_t n_ = 0, int k_ = 0)
%{ $1 = &v_; $2 = &n_; $3 = &k_; %}
%typemap(argout) (void **val, size_t *vlen, int *kind)
{
    if (result == 0) { /* an empty value may come as NULL: still "", never nil */
        lua_pushlstring(L, v_$argnum ? (const char *)v_$argnum : "", v_$argnum ? n_$argnum : 0);
        lua_pushinteger(L, k_$argnum);
    } else {
        lua_pushnil(L);
        lua_pushnil(L);
    }
    SWIG_arg += 2;
}
%typemap(freearg) (void **val, size_t *vlen, int *kind) %{ cairn_free(v_$argnum); %}

%typemap(in, numinputs=0) (void **data, size_t *len) (void *v_ = NULL, size_t n_ = 0)
%{ $1 = &v_; $2 = &n_; %}
%typemap(argout) (void **data, size_t *len)
{
    if (result == 0)
        lua_pushlstring(L, v_$argnum ? (const char *)v_$argnum : "", v_$argnum ? n_$argnum : 0);
    else
        lua_pushnil(L);
    SWIG_arg++;
}
%typemap(freearg) (void **data, size_t *len) %{ cairn_free(v_$argnum); %}

/* cairn_kv_get_into: the Lua argument is the capacity; the result is the copied prefix. */
%typemap(in, checkfn="lua_isnumber") (void *buf, size_t cap, size_t *vlen, int *kind)
    (void *b_ = NULL, size_t n_ = 0, int k_ = 0)
{
    $2 = (size_t)cairn_lua__int_arg(L, $input, 0, CAIRN_VALUE_MAX);
    b_ = malloc($2 ? $2 : 1);
    if (!b_) {
        SWIG_Lua_pushferrstring(L, "CAIRN_NOMEM: out of memory");
        SWIG_fail;
    }
    $1 = b_; $3 = &n_; $4 = &k_;
}
%typemap(argout) (void *buf, size_t cap, size_t *vlen, int *kind)
{
    if (result == 0) {
        lua_pushlstring(L, (const char *)b_$argnum, n_$argnum);
        lua_pushinteger(L, (lua_Integer)n_$argnum);
        lua_pushinteger(L, k_$argnum);
    } else {
        lua_pushnil(L);
        if (result == CAIRN_RANGE) lua_pushinteger(L, (lua_Integer)n_$argnum); else lua_pushnil(L);
        lua_pushnil(L);
    }
    SWIG_arg += 3;
}
%typemap(freearg) (void *buf, size_t cap, size_t *vlen, int *kind) %{ free(b_$argnum); %}

%typemap(in, numinputs=0) (const void **key, size_t *klen) (const void *v_ = NULL, size_t n_ = 0)
%{ $1 = ($1_ltype)(void *)&v_; $2 = &n_; %}
%typemap(argout) (const void **key, size_t *klen)
{
    if (result == 0 && v_$argnum)
        lua_pushlstring(L, (const char *)v_$argnum, n_$argnum);
    else
        lua_pushnil(L);
    SWIG_arg++;
}

/* ---- integer out-params ------------------------------------------------------------------ */
%typemap(in, numinputs=0) uint32_t *key (uint32_t t_ = 0), uint64_t *out (uint64_t t_ = 0),
                          uint64_t *id (uint64_t t_ = 0), int64_t *expire_at_ms (int64_t t_ = 0),
                          uint64_t *first_id (uint64_t t_ = 0), size_t *out (size_t t_ = 0)
%{ $1 = &t_; %}
%typemap(argout) uint32_t *key, uint64_t *out, uint64_t *id, int64_t *expire_at_ms,
                 uint64_t *first_id, size_t *out
{
    if (result == 0) lua_pushinteger(L, (lua_Integer)t_$argnum); else lua_pushnil(L);
    SWIG_arg++;
}

/* ---- text outputs (the table's JSON): owned (freed here), borrowed (copied) --------------- */
%typemap(in, numinputs=0) char **out (char *s_ = NULL), char **row (char *s_ = NULL),
                          char **ids (char *s_ = NULL)
%{ $1 = &s_; %}
%typemap(argout) char **out, char **row, char **ids
{
    if (result == 0 && s_$argnum) lua_pushstring(L, s_$argnum); else lua_pushnil(L);
    SWIG_arg++;
}
%typemap(freearg) char **out, char **row, char **ids %{ cairn_free(s_$argnum); %}

%typemap(in, numinputs=0) const char **row (const char *s_ = NULL)
%{ $1 = ($1_ltype)&s_; %}
%typemap(freearg) const char **row "" /* borrowed: never the char ** typemap's cairn_free */
%typemap(argout) const char **row
{
    if (result == 0 && s_$argnum) lua_pushstring(L, s_$argnum); else lua_pushnil(L);
    SWIG_arg++;
}

/* cairn_table_column: rc, name, type, fixed_len, nullable (nullable as a boolean). */
%typemap(in, numinputs=0) (const char **name, int *type, uint32_t *fixed_len, int *nullable)
    (const char *n_ = NULL, int t_ = 0, uint32_t f_ = 0, int u_ = 0)
%{ $1 = ($1_ltype)&n_; $2 = &t_; $3 = &f_; $4 = &u_; %}
%typemap(argout) (const char **name, int *type, uint32_t *fixed_len, int *nullable)
{
    if (result == 0) {
        lua_pushstring(L, n_$argnum);
        lua_pushinteger(L, t_$argnum);
        lua_pushinteger(L, (lua_Integer)f_$argnum);
        lua_pushboolean(L, u_$argnum);
    } else {
        lua_pushnil(L); lua_pushnil(L); lua_pushnil(L); lua_pushnil(L);
    }
    SWIG_arg += 4;
}

/* ---- handles ----------------------------------------------------------------------------- */
%typemap(in, numinputs=0) cairn_kv **out (cairn_kv *h_ = NULL), cairn_kv_iter **out (cairn_kv_iter *h_ = NULL),
                          cairn_blob **out (cairn_blob *h_ = NULL),
                          cairn_blob_iter **out (cairn_blob_iter *h_ = NULL),
                          cairn_table **out (cairn_table *h_ = NULL),
                          cairn_table_iter **out (cairn_table_iter *h_ = NULL),
                          cairn_repo **out (cairn_repo *h_ = NULL),
                          cairn_repo_iter **out (cairn_repo_iter *h_ = NULL)
%{ $1 = &h_; %}
%typemap(argout) cairn_kv **out, cairn_kv_iter **out, cairn_blob **out, cairn_blob_iter **out,
                 cairn_table **out, cairn_table_iter **out, cairn_repo **out, cairn_repo_iter **out
{
    /* own = 0: the pointer is closed explicitly (cairn.lua's __gc/__close call the _close). */
    if (result == 0 && h_$argnum) SWIG_NewPointerObj(L, h_$argnum, $*1_descriptor, 0); else lua_pushnil(L);
    SWIG_arg++;
}

/* ---- options and stats: the SWIG structs themselves ---------------------------------------
 * No field-by-field marshalling: SWIG wraps every options and stats struct of the headers, with a
 * getter and a setter per field (the integer typemaps above check each field's range), and
 * cairn.lua reads the field names from the wrapper class. An options struct's constructor starts
 * from the engine's _INIT macro (its defaults and version); a stats struct's starts zeroed (size 0:
 * this header's struct). A new engine adds one %cairn_lua_options line. */
%define %cairn_lua_options(TYPE, INIT)
%extend TYPE {
    TYPE() {
        static const TYPE init_ = INIT;
        TYPE *o = (TYPE *)malloc(sizeof *o);
        if (o)
            *o = init_;
        return o;
    }
}
%enddef
%cairn_lua_options(cairn_kv_options, CAIRN_KV_OPTIONS_INIT)
%cairn_lua_options(cairn_blob_options, CAIRN_BLOB_OPTIONS_INIT)
%cairn_lua_options(cairn_repo_options, CAIRN_REPO_OPTIONS_INIT)
#ifdef CAIRN_SWIG_TABLE
%cairn_lua_options(cairn_table_options, CAIRN_TABLE_OPTIONS_INIT)
#endif

/* cairn_layout: offset and size come back as results: rc, offset, size. */
%typemap(in, numinputs=0) size_t *offset (size_t t_ = 0), size_t *size (size_t t_ = 0)
%{ $1 = &t_; %}
%typemap(argout) size_t *offset, size_t *size
{
    if (result == 0) lua_pushinteger(L, (lua_Integer)t_$argnum); else lua_pushnil(L);
    SWIG_arg++;
}

/* ---- events: the callback is the queue trampoline, ctx the queue ------------------------- */
%typemap(in, checkfn="lua_islightuserdata") (cairn_blob_event_fn fn, void *ctx)
%{ $1 = cairn_lua__evq_push; $2 = lua_touserdata(L, $input); %}
%typemap(in, checkfn="lua_islightuserdata") (cairn_table_event_fn fn, void *ctx)
%{ $1 = cairn_lua__evq_push_table; $2 = lua_touserdata(L, $input); %}

/* ---- Lua-only helpers -------------------------------------------------------------------- */
%wrapper %{
/* kv_keys(kv, prefix) -> rc, list of keys (ascending bytewise), in one call. */
static int cairn_lua_kv_keys(lua_State *L) {
    cairn_kv *kv = NULL;
    cairn_kv_iter *it = NULL;
    size_t plen = 0;
    const char *prefix;
    const void *k;
    size_t klen;
    lua_Integer n = 0;
    int rc;
    if (!SWIG_IsOK(SWIG_ConvertPtr(L, 1, (void **)&kv, SWIGTYPE_p_cairn_kv, 0)))
        return cairn_lua__raise(L, "CAIRN_TYPE: kv_keys: argument 1 must be a cairn_kv");
    prefix = lua_isnoneornil(L, 2) ? "" : luaL_checklstring(L, 2, &plen);
    rc = cairn_kv_iter_open(&it, kv, prefix, plen);
    if (rc != 0) {
        lua_pushinteger(L, rc);
        return 1;
    }
    lua_pushinteger(L, 0);
    lua_newtable(L);
    while ((rc = cairn_kv_iter_next(it, &k, &klen)) == 0) {
        lua_pushlstring(L, (const char *)k, klen);
        lua_rawseti(L, -2, ++n);
    }
    cairn_kv_iter_free(it);
    if (rc != CAIRN_ITEROVER) {
        lua_pop(L, 2);
        lua_pushinteger(L, rc);
        return 1;
    }
    return 2;
}

/* blob_keys(b) -> rc, list of keys (ascending). */
static int cairn_lua_blob_keys(lua_State *L) {
    cairn_blob *b = NULL;
    cairn_blob_iter *it = NULL;
    uint32_t key;
    lua_Integer n = 0;
    int rc;
    if (!SWIG_IsOK(SWIG_ConvertPtr(L, 1, (void **)&b, SWIGTYPE_p_cairn_blob, 0)))
        return cairn_lua__raise(L, "CAIRN_TYPE: blob_keys: argument 1 must be a cairn_blob");
    rc = cairn_blob_iter_open(&it, b);
    if (rc != 0) {
        lua_pushinteger(L, rc);
        return 1;
    }
    lua_pushinteger(L, 0);
    lua_newtable(L);
    while ((rc = cairn_blob_iter_next(it, &key)) == 0) {
        lua_pushinteger(L, (lua_Integer)key);
        lua_rawseti(L, -2, ++n);
    }
    cairn_blob_iter_free(it);
    if (rc != CAIRN_ITEROVER) {
        lua_pop(L, 2);
        lua_pushinteger(L, rc);
        return 1;
    }
    return 2;
}

/* ---- the versioned store ----------------------------------------------------------------- */
/* repo_put_many(r, tenant, user, entry, keys, values, kinds) -> rc, digest: the three lists (of
 * equal length: strings, strings, integer kinds) as the arrays of cairn_repo_put_many. The Lua
 * strings stay alive in their tables for the whole call. */
static int cairn_lua_repo_put_many(lua_State *L) {
    cairn_repo *r = NULL;
    const char *tenant, *user, *entry;
    const void **keys = NULL, **vals = NULL;
    size_t *klens = NULL, *vlens = NULL, n, i;
    int *kinds = NULL;
    char digest[CAIRN_DIGEST_HEX + 1];
    int rc;
    if (!SWIG_IsOK(SWIG_ConvertPtr(L, 1, (void **)&r, SWIGTYPE_p_cairn_repo, 0)))
        return cairn_lua__raise(L, "CAIRN_TYPE: repo_put_many: argument 1 must be a cairn_repo");
    tenant = luaL_checkstring(L, 2);
    user = luaL_checkstring(L, 3);
    entry = luaL_checkstring(L, 4);
    luaL_checktype(L, 5, LUA_TTABLE);
    luaL_checktype(L, 6, LUA_TTABLE);
    luaL_checktype(L, 7, LUA_TTABLE);
    n = (size_t)lua_rawlen(L, 5);
    if (lua_rawlen(L, 6) != n || lua_rawlen(L, 7) != n)
        return cairn_lua__raise(L, "CAIRN_INVALID: repo_put_many: the lists differ in length");
    if (n > 0) {
        keys = (const void **)malloc(n * sizeof *keys);
        vals = (const void **)malloc(n * sizeof *vals);
        klens = (size_t *)malloc(n * sizeof *klens);
        vlens = (size_t *)malloc(n * sizeof *vlens);
        kinds = (int *)malloc(n * sizeof *kinds);
        if (!keys || !vals || !klens || !vlens || !kinds) {
            free((void *)keys); free((void *)vals); free(klens); free(vlens); free(kinds);
            return cairn_lua__raise(L, "CAIRN_NOMEM: out of memory");
        }
    }
    for (i = 0; i < n; i++) {
        int ok = 1;
        lua_rawgeti(L, 5, (lua_Integer)i + 1);
        lua_rawgeti(L, 6, (lua_Integer)i + 1);
        lua_rawgeti(L, 7, (lua_Integer)i + 1);
        if (lua_type(L, -3) != LUA_TSTRING || lua_type(L, -2) != LUA_TSTRING || !lua_isinteger(L, -1))
            ok = 0;
        else {
            keys[i] = lua_tolstring(L, -3, &klens[i]); /* borrowed: the tables keep them */
            vals[i] = lua_tolstring(L, -2, &vlens[i]);
            kinds[i] = (int)lua_tointeger(L, -1);
        }
        lua_pop(L, 3);
        if (!ok) {
            free((void *)keys); free((void *)vals); free(klens); free(vlens); free(kinds);
            return cairn_lua__raise(L, "CAIRN_TYPE: repo_put_many: record %d is not (string, string, kind)",
                                    (int)i + 1);
        }
    }
    rc = cairn_repo_put_many(r, tenant, user, entry, n, (const void *const *)keys, klens,
                             (const void *const *)vals, vlens, kinds, digest);
    free((void *)keys); free((void *)vals); free(klens); free(vlens); free(kinds);
    lua_pushinteger(L, rc);
    if (rc != 0)
        return 1;
    lua_pushstring(L, digest);
    return 2;
}

/* repo_next(iter) -> rc, key, value, kind: one step of cairn_repo_iter_next (copied). */
static int cairn_lua_repo_next(lua_State *L) {
    cairn_repo_iter *it = NULL;
    const void *k = NULL, *v = NULL;
    size_t klen = 0, vlen = 0;
    int kind = 0, rc;
    if (!SWIG_IsOK(SWIG_ConvertPtr(L, 1, (void **)&it, SWIGTYPE_p_cairn_repo_iter, 0)))
        return cairn_lua__raise(L, "CAIRN_TYPE: repo_next: argument 1 must be a cairn_repo_iter");
    rc = cairn_repo_iter_next(it, &k, &klen, &v, &vlen, &kind);
    lua_pushinteger(L, rc);
    if (rc != 0)
        return 1;
    lua_pushlstring(L, (const char *)k, klen);
    lua_pushlstring(L, v ? (const char *)v : "", v ? vlen : 0);
    lua_pushinteger(L, kind);
    return 4;
}

/* repo_keys(r, tenant, entry, digest|nil) -> rc, list of keys (ascending bytewise). */
static int cairn_lua_repo_keys(lua_State *L) {
    cairn_repo *r = NULL;
    cairn_repo_iter *it = NULL;
    const void *k, *v;
    size_t klen, vlen;
    int kind, rc;
    lua_Integer n = 0;
    if (!SWIG_IsOK(SWIG_ConvertPtr(L, 1, (void **)&r, SWIGTYPE_p_cairn_repo, 0)))
        return cairn_lua__raise(L, "CAIRN_TYPE: repo_keys: argument 1 must be a cairn_repo");
    rc = cairn_repo_iter_open(&it, r, luaL_checkstring(L, 2), luaL_checkstring(L, 3),
                              luaL_optstring(L, 4, NULL));
    if (rc != 0) {
        lua_pushinteger(L, rc);
        return 1;
    }
    lua_pushinteger(L, 0);
    lua_newtable(L);
    while ((rc = cairn_repo_iter_next(it, &k, &klen, &v, &vlen, &kind)) == 0) {
        lua_pushlstring(L, (const char *)k, klen);
        lua_rawseti(L, -2, ++n);
    }
    cairn_repo_iter_free(it);
    if (rc != CAIRN_ITEROVER) {
        lua_pop(L, 2);
        lua_pushinteger(L, rc);
        return 1;
    }
    return 2;
}

#ifdef CAIRN_SWIG_TABLE
/* table_get(t, id, types) -> rc, row: cairn_table_get_json decoded into a Lua table by column
 * type (cairn_lua_json.h), without a Lua string of the JSON in between. */
static int cairn_lua_table_get(lua_State *L) {
    cairn_table *t = NULL;
    char *row = NULL;
    lua_Integer id;
    int rc;
    if (!SWIG_IsOK(SWIG_ConvertPtr(L, 1, (void **)&t, SWIGTYPE_p_cairn_table, 0)))
        return cairn_lua__raise(L, "CAIRN_TYPE: table_get: argument 1 must be a cairn_table");
    id = cairn_lua__int_arg(L, 2, 0, LUA_MAXINTEGER);
    luaL_checktype(L, 3, LUA_TTABLE);
    rc = cairn_table_get_json(t, (uint64_t)id, &row);
    lua_pushinteger(L, rc);
    if (rc != 0)
        return 1;
    if (cairn_lua_row_push(L, row, strlen(row), 3) != 0) {
        cairn_free(row);
        return cairn_lua__raise(L, "CAIRN_INTERNAL: a row from the core does not decode: %s",
                                lua_tostring(L, -1));
    }
    cairn_free(row);
    return 2;
}

/* table_next(iter, types) -> rc, id, row: one step of cairn_table_iter_next_json, decoded. */
static int cairn_lua_table_next(lua_State *L) {
    cairn_table_iter *it = NULL;
    const char *row = NULL;
    uint64_t id = 0;
    int rc;
    if (!SWIG_IsOK(SWIG_ConvertPtr(L, 1, (void **)&it, SWIGTYPE_p_cairn_table_iter, 0)))
        return cairn_lua__raise(L, "CAIRN_TYPE: table_next: argument 1 must be a cairn_table_iter");
    luaL_checktype(L, 2, LUA_TTABLE);
    rc = cairn_table_iter_next_json(it, &id, &row);
    lua_pushinteger(L, rc);
    if (rc != 0)
        return 1;
    lua_pushinteger(L, (lua_Integer)id);
    if (cairn_lua_row_push(L, row, strlen(row), 2) != 0)
        return cairn_lua__raise(L, "CAIRN_INTERNAL: a row from the core does not decode: %s",
                                lua_tostring(L, -1));
    return 3;
}
#endif
%}

#ifdef CAIRN_SWIG_TABLE
%native(table_get) int cairn_lua_table_get(lua_State *L);
%native(table_next) int cairn_lua_table_next(lua_State *L);
#endif
%native(row_setup) int cairn_lua_row_setup(lua_State *L);
%native(row_encode) int cairn_lua_row_encode(lua_State *L);
%native(row_decode) int cairn_lua_row_decode(lua_State *L);
%native(result_decode) int cairn_lua_result_decode(lua_State *L);
%native(kv_keys) int cairn_lua_kv_keys(lua_State *L);
%native(repo_put_many) int cairn_lua_repo_put_many(lua_State *L);
%native(repo_next) int cairn_lua_repo_next(lua_State *L);
%native(repo_keys) int cairn_lua_repo_keys(lua_State *L);
%native(blob_keys) int cairn_lua_blob_keys(lua_State *L);
%native(evq_new) int cairn_lua_evq_new(lua_State *L);
%native(evq_free) int cairn_lua_evq_free(lua_State *L);
%native(evq_drain) int cairn_lua_evq_drain(lua_State *L);
%native(now_ms) int cairn_lua_now_ms(lua_State *L);
%native(json_setup) int cairn_lua_json_setup(lua_State *L);
%native(json_encode) int cairn_lua_json_encode(lua_State *L);
%native(json_decode) int cairn_lua_json_decode(lua_State *L);
%native(utf8_valid) int cairn_lua_utf8_valid(lua_State *L);
