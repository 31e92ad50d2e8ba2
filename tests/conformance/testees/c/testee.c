/*
 * testee.c - the C reference testee of the conformance suite (tests/conformance/PROTOCOL.md).
 *
 * Reads one JSON request per line on stdin, answers one JSON line on stdout. Every kv.*, blob.*,
 * table.* and repo.* op maps 1:1 onto the public C API; the only checks made here are the ones a
 * binding makes and the C API cannot see (a `$native` host value -> CAIRN_TYPE, an op on a closed handle slot ->
 * CAIRN_CLOSED, kv.update's JSON merge, a `$ts` timestamp given for a column of another type).
 * Everything else is the engine's own answer, so this testee is the reference the other bindings
 * are compared with. It never dies on bad input.
 *
 * Table rows: the wire form differs from the C API's JSON row form only for timestamps (wire
 * {"$ts": us}, C a plain integer in a timestamp column); the column types come from the schema
 * (cairn_table_column). Integers outside int64 (u64 values, out-of-range inputs) do not fit
 * jansson's json_int_t: such a literal is carried through as the marker {"$int":"digits"} (see
 * mark_bigints / unmark_bigints) and written back as the bare literal.
 */
#include "cairn.h"

#include <jansson.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- replies ------------------------------------------------------------------------------ */

/* A handler returns 0 with *out set (NULL means JSON null), or a negative cairn code. The message
 * is the engine's (cairn_errmsg) unless the testee set its own with terr(). */
static char g_msg[512];
static int g_own_msg;

static int terr(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    g_own_msg = 1;
    return code;
}

/* ---- byte buffers and hex ----------------------------------------------------------------- */

typedef struct buf {
    unsigned char *p;
    size_t n;
} buf;

static void buf_free(buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = 0;
}

/* Always leaves a valid (non-NULL) pointer, so an empty key or value is never passed as NULL. */
static int buf_alloc(buf *b, size_t n)
{
    b->p = malloc(n ? n : 1);
    b->n = n;
    if (!b->p)
        return terr(CAIRN_NOMEM, "out of memory (%zu bytes)", n);
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex_decode(const char *s, size_t len, buf *out)
{
    size_t i;
    int rc;
    if (len % 2)
        return terr(CAIRN_INVALID, "hex string of odd length");
    if ((rc = buf_alloc(out, len / 2)) != 0)
        return rc;
    for (i = 0; i < len / 2; i++) {
        int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            buf_free(out);
            return terr(CAIRN_INVALID, "bad hex digit");
        }
        out->p[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static json_t *hex_json(const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    char *s = malloc(2 * len + 1);
    json_t *str, *obj;
    size_t i;
    if (!s)
        return NULL;
    for (i = 0; i < len; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * len] = 0;
    str = json_stringn_nocheck(s, 2 * len);
    free(s);
    obj = json_object();
    json_object_set_new(obj, "$bytes", str);
    return obj;
}

/* ---- typed values (PROTOCOL.md "Typed values") -------------------------------------------- */

static int is_tagged(json_t *v, const char *tag)
{
    return json_is_object(v) && json_object_size(v) == 1 && json_object_get(v, tag) != NULL;
}

/* Bytes from a string (its UTF-8), {"$bytes": hex} or {"$repeat": {hex, count}}.
 * *is_text tells which (may be NULL). Anything else is a wrong host type: CAIRN_TYPE. */
static int get_bytes(json_t *v, const char *what, buf *out, int *is_text)
{
    if (is_text)
        *is_text = 0;
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        int rc = buf_alloc(out, n);
        if (rc)
            return rc;
        memcpy(out->p, json_string_value(v), n);
        if (is_text)
            *is_text = 1;
        return 0;
    }
    if (is_tagged(v, "$bytes")) {
        json_t *h = json_object_get(v, "$bytes");
        if (!json_is_string(h))
            return terr(CAIRN_INVALID, "%s: $bytes must be a hex string", what);
        return hex_decode(json_string_value(h), json_string_length(h), out);
    }
    if (is_tagged(v, "$repeat")) {
        json_t *r = json_object_get(v, "$repeat"), *h = json_object_get(r, "hex"),
               *c = json_object_get(r, "count");
        buf pat = {NULL, 0};
        json_int_t count;
        size_t i;
        int rc;
        if (!json_is_string(h) || !json_is_integer(c) || json_integer_value(c) < 0)
            return terr(CAIRN_INVALID, "%s: $repeat needs hex and a count >= 0", what);
        count = json_integer_value(c);
        if ((rc = hex_decode(json_string_value(h), json_string_length(h), &pat)) != 0)
            return rc;
        /* Larger than any value the store accepts: the engine would say TOOBIG, so say it
         * without trying to allocate it. */
        if (pat.n && (uint64_t)count > ((uint64_t)CAIRN_VALUE_MAX + 1) / pat.n) {
            rc = terr(CAIRN_TOOBIG, "%s: $repeat of %lld x %zu bytes is larger than any value", what,
                      (long long)count, pat.n);
            buf_free(&pat);
            return rc;
        }
        if ((rc = buf_alloc(out, pat.n * (size_t)count)) != 0) {
            buf_free(&pat);
            return rc;
        }
        for (i = 0; i < (size_t)count; i++)
            memcpy(out->p + i * pat.n, pat.p, pat.n);
        buf_free(&pat);
        return 0;
    }
    return terr(CAIRN_TYPE, "%s: wrong type", what);
}

/* A KV value: text (kind TEXT), bytes (kind BYTES) or {"$json": doc} (kind JSON). */
static int get_value(json_t *v, buf *out, int *kind)
{
    int is_text, rc;
    if (is_tagged(v, "$json")) {
        char *s = json_dumps(json_object_get(v, "$json"), JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s)
            return terr(CAIRN_INVALID, "value: cannot serialise $json");
        out->p = (unsigned char *)s;
        out->n = strlen(s);
        *kind = CAIRN_KIND_JSON;
        return 0;
    }
    rc = get_bytes(v, "value", out, &is_text);
    if (rc == 0)
        *kind = is_text ? CAIRN_KIND_TEXT : CAIRN_KIND_BYTES;
    return rc;
}

/* A KV value read back: text -> string, bytes -> {"$bytes"}, JSON -> {"$json": doc}. */
static int value_json(const void *val, size_t vlen, int kind, json_t **out)
{
    if (kind == CAIRN_KIND_TEXT) {
        *out = json_stringn(val, vlen);
        if (!*out) /* not UTF-8: a binding could not make a string of it either */
            return terr(CAIRN_CORRUPT, "text value is not valid UTF-8");
        return 0;
    }
    if (kind == CAIRN_KIND_JSON) {
        json_error_t e;
        json_t *doc = json_loadb(val, vlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        if (!doc)
            return terr(CAIRN_CORRUPT, "JSON value does not parse: %s", e.text);
        *out = json_object();
        json_object_set_new(*out, "$json", doc);
        return 0;
    }
    /* BYTES, and NATIVE (no host serializer here: its raw bytes). */
    *out = hex_json(val, vlen);
    return 0;
}

/* A key in a result: a string when its bytes are valid UTF-8, else {"$bytes"}. */
static json_t *key_json(const void *k, size_t klen)
{
    json_t *s = json_stringn(k, klen); /* NULL when not valid UTF-8 */
    return s ? s : hex_json(k, klen);
}

static int get_bool(json_t *v, const char *what, int *out)
{
    if (!json_is_boolean(v))
        return terr(CAIRN_TYPE, "%s: expected a bool", what);
    *out = json_is_true(v);
    return 0;
}

static int get_int(json_t *v, const char *what, json_int_t lo, json_int_t hi, json_int_t *out)
{
    if (!json_is_integer(v))
        return terr(CAIRN_TYPE, "%s: expected an integer", what);
    *out = json_integer_value(v);
    if (*out < lo || *out > hi)
        return terr(CAIRN_INVALID, "%s: %lld out of range", what, (long long)*out);
    return 0;
}

static int get_string(json_t *args, const char *name, const char **out)
{
    json_t *v = json_object_get(args, name);
    if (!v)
        return terr(CAIRN_INVALID, "missing argument '%s'", name);
    if (!json_is_string(v))
        return terr(CAIRN_TYPE, "%s: expected a string", name);
    *out = json_string_value(v);
    return 0;
}

static int get_blob_key(json_t *args, uint32_t *key)
{
    json_t *v = json_object_get(args, "key");
    json_int_t k = 0;
    int rc;
    if (!v)
        return terr(CAIRN_INVALID, "missing argument 'key'");
    if ((rc = get_int(v, "key", 0, 4294967295LL, &k)) != 0)
        return rc;
    *key = (uint32_t)k;
    return 0;
}

static int get_sync(json_t *v, int *out)
{
    const char *s;
    if (!json_is_string(v))
        return terr(CAIRN_TYPE, "sync: expected a string");
    s = json_string_value(v);
    if (!strcmp(s, "none"))
        *out = CAIRN_SYNC_NONE;
    else if (!strcmp(s, "commit"))
        *out = CAIRN_SYNC_COMMIT;
    else if (!strcmp(s, "group"))
        *out = CAIRN_SYNC_GROUP;
    else
        return terr(CAIRN_INVALID, "sync: unknown mode '%s'", s);
    return 0;
}

/* ---- the test clock (clock.set) ------------------------------------------------------------ */

/* The Unix ms the testee last gave cairn_testing_set_clock (0: the real clock). A ttl counts from
 * this clock, as the core's expiry does, so that a case can put with a ttl and then move time. */
static int64_t g_clock_ms;

static int64_t now_ms(void)
{
    struct timespec ts;
    if (g_clock_ms > 0)
        return g_clock_ms;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int op_clock_set(json_t *args, json_t **out)
{
    json_int_t ms = 0;
    int rc = get_int(json_object_get(args, "ms"), "ms", 0, INT64_MAX / 2, &ms);
    (void)out;
    if (rc)
        return rc;
    cairn_testing_set_clock((int64_t)ms);
    g_clock_ms = (int64_t)ms;
    return 0;
}

/* ---- handle slots ------------------------------------------------------------------------- */

enum { SLOT_KV = 1, SLOT_BLOB = 2, SLOT_TABLE = 3, SLOT_REPO = 4 };

typedef struct event {
    int ev;
    uint32_t key;
    uint64_t old_size, new_size;
    int probed;         /* recorded by a listener with a probe: report probe_size too */
    int64_t probe_size; /* the probe blob's size read inside the listener, -1: the read failed */
} event;

struct slot;
/* One blob.subscribe: the listener's context (PROTOCOL.md blob.subscribe / blob.unsubscribe). */
typedef struct sub {
    struct slot *slot;
    uint64_t id;
    int has_probe;
    uint32_t probe;
    struct sub *next;
} sub;

typedef struct slot {
    char *name;
    int type;
    int closed;
    cairn_kv *kv;
    cairn_blob *blob;
    cairn_table *table;
    cairn_repo *repo;
    json_t *tevs; /* table events: [name, id, new_row, old_row] */
    sub *subs; /* this handle's listeners */
    event *evs;
    size_t nev, cap;
    int ev_oom; /* an event was lost for want of memory: report it instead of lying */
} slot;

static slot **g_slots;
static size_t g_nslots;

static slot *slot_find(const char *name)
{
    size_t i;
    for (i = 0; i < g_nslots; i++)
        if (!strcmp(g_slots[i]->name, name))
            return g_slots[i];
    return NULL;
}

static void slot_close(slot *s)
{
    if (s->closed)
        return;
    if (s->kv)
        cairn_kv_close(s->kv);
    if (s->blob)
        cairn_blob_close(s->blob);
    if (s->table)
        cairn_table_close(s->table);
    if (s->repo)
        cairn_repo_close(s->repo);
    s->repo = NULL;
    s->kv = NULL;
    s->blob = NULL;
    s->table = NULL;
    json_decref(s->tevs);
    s->tevs = NULL;
    s->closed = 1;
    while (s->subs) {
        sub *n = s->subs->next;
        free(s->subs);
        s->subs = n;
    }
    free(s->evs);
    s->evs = NULL;
    s->nev = s->cap = 0;
    s->ev_oom = 0;
}

static void slots_reset(void)
{
    size_t i;
    for (i = 0; i < g_nslots; i++) {
        slot_close(g_slots[i]);
        free(g_slots[i]->name);
        free(g_slots[i]);
    }
    free(g_slots);
    g_slots = NULL;
    g_nslots = 0;
}

/* Forget a slot whose first open failed: the name was never opened successfully. */
static void slot_drop(slot *s)
{
    size_t i;
    for (i = 0; i < g_nslots; i++) {
        if (g_slots[i] == s) {
            memmove(g_slots + i, g_slots + i + 1, (g_nslots - i - 1) * sizeof *g_slots);
            g_nslots--;
            break;
        }
    }
    free(s->name);
    free(s);
}

/* A slot for a new open: a closed slot of that name is reused (*fresh = 0); an open one is a
 * misuse. */
static int slot_for_open(const char *name, int type, slot **out, int *fresh)
{
    slot *s = slot_find(name), **grown;
    *fresh = 0;
    if (s) {
        if (!s->closed)
            return terr(CAIRN_INVALID, "handle '%s' is already open", name);
        s->type = type;
        *out = s;
        return 0;
    }
    *fresh = 1;
    s = calloc(1, sizeof *s);
    grown = realloc(g_slots, (g_nslots + 1) * sizeof *g_slots);
    if (!s || !grown) {
        free(s);
        if (grown)
            g_slots = grown;
        return terr(CAIRN_NOMEM, "out of memory");
    }
    g_slots = grown;
    s->name = strdup(name);
    if (!s->name) {
        free(s);
        return terr(CAIRN_NOMEM, "out of memory");
    }
    s->type = type;
    s->closed = 1; /* until the open succeeds */
    g_slots[g_nslots++] = s;
    *out = s;
    return 0;
}

/* The open slot named by args.handle, of the given type. */
static int slot_get(json_t *args, int type, slot **out)
{
    const char *name = NULL;
    slot *s;
    int rc = get_string(args, "handle", &name);
    if (rc)
        return rc;
    s = slot_find(name);
    if (!s)
        return terr(CAIRN_INVALID, "no handle named '%s'", name);
    if (s->type != type)
        return terr(CAIRN_TYPE, "handle '%s' is of another engine", name);
    if (s->closed)
        return terr(CAIRN_CLOSED, "handle '%s' is closed", name);
    *out = s;
    return 0;
}

/* ---- KV ops ------------------------------------------------------------------------------- */

/* kv.open / blob.open arguments: the handle name, the path and the options both engines share
 * (create, read_only, sync, lock_timeout_ms); max_file_size is the KV's alone (kv != 0). The
 * caller fills *a with its engine's defaults first. */
typedef struct open_args {
    const char *name, *path;
    int create, read_only, sync;
    unsigned lock_timeout_ms;
    uint64_t max_file_size;
    uint32_t checkpoint_rows;
    uint64_t cache_bytes;
} open_args;

/* engine: SLOT_KV (max_file_size), SLOT_BLOB, SLOT_TABLE (checkpoint_rows), SLOT_REPO (cache_bytes). */
static int get_open_args(json_t *args, int engine, open_args *a)
{
    json_t *opts = json_object_get(args, "options"), *v;
    const char *k;
    int rc;
    if ((rc = get_string(args, "handle", &a->name)) != 0 || (rc = get_string(args, "path", &a->path)) != 0)
        return rc;
    if (!opts || json_is_null(opts))
        return 0;
    if (!json_is_object(opts))
        return terr(CAIRN_TYPE, "options: expected an object");
    json_object_foreach(opts, k, v) {
        json_int_t n = 0;
        if (!strcmp(k, "create"))
            rc = get_bool(v, k, &a->create);
        else if (!strcmp(k, "read_only"))
            rc = get_bool(v, k, &a->read_only);
        else if (!strcmp(k, "sync"))
            rc = get_sync(v, &a->sync);
        else if (engine == SLOT_TABLE && !strcmp(k, "checkpoint_rows")) {
            rc = get_int(v, k, 0, UINT32_MAX, &n);
            a->checkpoint_rows = (uint32_t)n;
        } else if (engine == SLOT_KV && !strcmp(k, "max_file_size")) {
            rc = get_int(v, k, 0, INT64_MAX, &n);
            a->max_file_size = (uint64_t)n;
        } else if (engine == SLOT_REPO && !strcmp(k, "cache_bytes")) {
            rc = get_int(v, k, 0, INT64_MAX, &n);
            a->cache_bytes = (uint64_t)n;
        } else if (!strcmp(k, "lock_timeout_ms")) {
            rc = get_int(v, k, 0, UINT32_MAX, &n);
            a->lock_timeout_ms = (unsigned)n;
        } else
            rc = terr(CAIRN_INVALID, "options: unknown option '%s'", k);
        if (rc)
            return rc;
    }
    return 0;
}

static int kv_open(json_t *args, json_t **out)
{
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    open_args a = {NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
    slot *s;
    int rc, fresh;
    (void)out;
    a.create = o.create, a.read_only = o.read_only, a.sync = o.sync;
    a.lock_timeout_ms = o.lock_timeout_ms, a.max_file_size = o.max_file_size;
    if ((rc = get_open_args(args, SLOT_KV, &a)) != 0)
        return rc;
    o.create = a.create, o.read_only = a.read_only, o.sync = a.sync;
    o.lock_timeout_ms = a.lock_timeout_ms, o.max_file_size = a.max_file_size;
    if ((rc = slot_for_open(a.name, SLOT_KV, &s, &fresh)) != 0)
        return rc;
    if ((rc = cairn_kv_open(&s->kv, a.path, &o)) != 0) {
        if (fresh)
            slot_drop(s);
        return rc;
    }
    s->closed = 0;
    return 0;
}

static int kv_close(json_t *args, json_t **out)
{
    const char *name = NULL;
    slot *s;
    int rc = get_string(args, "handle", &name);
    (void)out;
    if (rc)
        return rc;
    s = slot_find(name);
    if (!s)
        return terr(CAIRN_INVALID, "no handle named '%s'", name);
    slot_close(s); /* a no-op when already closed */
    return 0;
}

/* Decode the key argument named `name` (a key, or with allow_empty a prefix). */
static int get_key(json_t *args, const char *name, buf *key)
{
    json_t *v = json_object_get(args, name);
    if (!v)
        return terr(CAIRN_INVALID, "missing argument '%s'", name);
    return get_bytes(v, name, key, NULL);
}

static int kv_put(json_t *args, json_t **out)
{
    slot *s;
    buf key = {NULL, 0}, val = {NULL, 0};
    json_t *exp = json_object_get(args, "expire_at"), *ttl = json_object_get(args, "ttl");
    json_int_t when = 0;
    int kind = 0, rc, has_exp = 0;
    (void)out;
    if ((rc = slot_get(args, SLOT_KV, &s)) != 0)
        return rc;
    if (exp && ttl)
        return terr(CAIRN_INVALID, "give expire_at or ttl, not both");
    if (exp) {
        if ((rc = get_int(exp, "expire_at", INT64_MIN, INT64_MAX, &when)) != 0)
            return rc;
        if (when <= 0)
            when = 1; /* the Unix epoch or before: long past (0 would mean "never" to the core) */
        has_exp = 1;
    } else if (ttl) {
        if ((rc = get_int(ttl, "ttl", 0, INT64_MAX / 2, &when)) != 0)
            return rc; /* a negative ttl is CAIRN_INVALID */
        when += now_ms();
        has_exp = 1;
    }
    if ((rc = get_key(args, "key", &key)) != 0)
        return rc;
    if (!json_object_get(args, "value"))
        rc = terr(CAIRN_INVALID, "missing argument 'value'");
    else
        rc = get_value(json_object_get(args, "value"), &val, &kind);
    if (rc == 0) {
        if (has_exp)
            rc = cairn_kv_put_ex(s->kv, key.p, key.n, val.p ? (void *)val.p : (void *)"", val.n, kind,
                                 (int64_t)when);
        else
            rc = cairn_kv_put(s->kv, key.p, key.n, val.p ? (void *)val.p : (void *)"", val.n, kind);
    }
    buf_free(&key);
    buf_free(&val);
    return rc;
}

static int kv_get(json_t *args, json_t **out)
{
    slot *s;
    buf key = {NULL, 0};
    void *val = NULL;
    size_t vlen = 0;
    int kind = 0, rc;
    if ((rc = slot_get(args, SLOT_KV, &s)) != 0 || (rc = get_key(args, "key", &key)) != 0)
        return rc;
    rc = cairn_kv_get(s->kv, key.p, key.n, &val, &vlen, &kind);
    buf_free(&key);
    if (rc == CAIRN_NOTFOUND)
        return 0; /* missing: null */
    if (rc == 0)
        rc = value_json(val, vlen, kind, out);
    cairn_free(val);
    return rc;
}

static int kv_delete(json_t *args, json_t **out)
{
    slot *s;
    buf key = {NULL, 0};
    int rc;
    (void)out;
    if ((rc = slot_get(args, SLOT_KV, &s)) != 0 || (rc = get_key(args, "key", &key)) != 0)
        return rc;
    rc = cairn_kv_delete(s->kv, key.p, key.n);
    buf_free(&key);
    return rc;
}

static int kv_exists(json_t *args, json_t **out)
{
    slot *s;
    buf key = {NULL, 0};
    int rc;
    if ((rc = slot_get(args, SLOT_KV, &s)) != 0 || (rc = get_key(args, "key", &key)) != 0)
        return rc;
    rc = cairn_kv_exists(s->kv, key.p, key.n);
    buf_free(&key);
    if (rc < 0)
        return rc;
    *out = json_boolean(rc);
    return 0;
}

static int kv_count(json_t *args, json_t **out)
{
    slot *s;
    uint64_t n = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_KV, &s)) != 0 || (rc = cairn_kv_count(s->kv, &n)) != 0)
        return rc;
    *out = json_integer((json_int_t)n);
    return 0;
}

static int kv_keys(json_t *args, json_t **out)
{
    slot *s;
    buf prefix = {NULL, 0};
    cairn_kv_iter *it = NULL;
    const void *k;
    size_t klen;
    json_t *list;
    int rc;
    if ((rc = slot_get(args, SLOT_KV, &s)) != 0)
        return rc;
    if (json_object_get(args, "prefix") && !json_is_null(json_object_get(args, "prefix")) &&
        (rc = get_key(args, "prefix", &prefix)) != 0)
        return rc;
    rc = cairn_kv_iter_open(&it, s->kv, prefix.p, prefix.n);
    buf_free(&prefix);
    if (rc)
        return rc;
    list = json_array();
    while ((rc = cairn_kv_iter_next(it, &k, &klen)) == 0)
        json_array_append_new(list, key_json(k, klen));
    cairn_kv_iter_free(it);
    if (rc != CAIRN_ITEROVER) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}

/* BinaryDB's update: merge the fields of `changes` into the JSON-object value, keeping its expiry. */
static int kv_update(json_t *args, json_t **out)
{
    slot *s;
    buf key = {NULL, 0};
    json_t *changes = json_object_get(args, "changes"), *doc = NULL;
    void *val = NULL;
    size_t vlen = 0;
    int64_t expiry = 0;
    int kind = 0, rc;
    char *merged = NULL;
    (void)out;
    if ((rc = slot_get(args, SLOT_KV, &s)) != 0)
        return rc;
    if (!changes)
        return terr(CAIRN_INVALID, "missing argument 'changes'");
    if (!is_tagged(changes, "$json") || !json_is_object(json_object_get(changes, "$json")))
        return terr(CAIRN_TYPE, "changes: expected a JSON object");
    if ((rc = get_key(args, "key", &key)) != 0)
        return rc;
    rc = cairn_kv_get(s->kv, key.p, key.n, &val, &vlen, &kind);
    if (rc == 0)
        rc = cairn_kv_expiry(s->kv, key.p, key.n, &expiry);
    if (rc == 0 && kind != CAIRN_KIND_JSON)
        rc = terr(CAIRN_TYPE, "update: the value is not a JSON object");
    if (rc == 0) {
        json_error_t e;
        doc = json_loadb(val, vlen, JSON_DECODE_ANY, &e);
        if (!doc)
            rc = terr(CAIRN_CORRUPT, "update: stored JSON does not parse: %s", e.text);
        else if (!json_is_object(doc))
            rc = terr(CAIRN_TYPE, "update: the value is not a JSON object");
    }
    if (rc == 0 && json_object_update(doc, json_object_get(changes, "$json")) != 0)
        rc = terr(CAIRN_NOMEM, "update: merge failed");
    if (rc == 0 && !(merged = json_dumps(doc, JSON_COMPACT)))
        rc = terr(CAIRN_NOMEM, "update: cannot serialise");
    if (rc == 0)
        rc = cairn_kv_put_ex(s->kv, key.p, key.n, merged, strlen(merged), CAIRN_KIND_JSON, expiry);
    free(merged);
    json_decref(doc);
    cairn_free(val);
    buf_free(&key);
    return rc;
}

/* <engine>.in_txn, the same for every engine: what cairn_<engine>_in_txn (through <engine>_simple)
 * returned, 1/0 -> true/false, <0 the error. */
static int in_txn_out(int rc, json_t **out)
{
    if (rc < 0)
        return rc;
    *out = json_boolean(rc);
    return 0;
}

/* <engine>.metrics, the same for every engine: the Prometheus text of cairn_<engine>_metrics. */
static int metrics_op(json_t *args, int engine, json_t **out)
{
    slot *s;
    char *text = NULL;
    int rc = slot_get(args, engine, &s);
    if (rc)
        return rc;
    switch (engine) {
    case SLOT_KV: rc = cairn_kv_metrics(s->kv, &text); break;
    case SLOT_BLOB: rc = cairn_blob_metrics(s->blob, &text); break;
    case SLOT_TABLE: rc = cairn_table_metrics(s->table, &text); break;
    default: rc = cairn_repo_metrics(s->repo, &text); break;
    }
    if (rc)
        return rc;
    *out = json_string(text);
    cairn_free(text);
    return *out ? 0 : terr(CAIRN_INTERNAL, "metrics: the text is not UTF-8");
}
static int kv_metrics(json_t *a, json_t **o) { return metrics_op(a, SLOT_KV, o); }
static int blob_metrics(json_t *a, json_t **o) { return metrics_op(a, SLOT_BLOB, o); }
static int table_metrics(json_t *a, json_t **o) { return metrics_op(a, SLOT_TABLE, o); }
static int repo_metrics(json_t *a, json_t **o) { return metrics_op(a, SLOT_REPO, o); }

typedef int (*kv_fn)(cairn_kv *);

static int kv_simple(json_t *args, kv_fn fn)
{
    slot *s;
    int rc = slot_get(args, SLOT_KV, &s);
    return rc ? rc : fn(s->kv);
}

static int kv_begin(json_t *a, json_t **o) { (void)o; return kv_simple(a, cairn_kv_begin); }
static int kv_in_txn(json_t *a, json_t **o) { return in_txn_out(kv_simple(a, cairn_kv_in_txn), o); }
static int kv_commit(json_t *a, json_t **o) { (void)o; return kv_simple(a, cairn_kv_commit); }
static int kv_rollback(json_t *a, json_t **o) { (void)o; return kv_simple(a, cairn_kv_rollback); }
static int kv_sync(json_t *a, json_t **o) { (void)o; return kv_simple(a, cairn_kv_sync); }
static int kv_compact(json_t *a, json_t **o) { (void)o; return kv_simple(a, cairn_kv_compact); }

static int kv_expiry(json_t *args, json_t **out)
{
    slot *s;
    buf key = {NULL, 0};
    int64_t at = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_KV, &s)) != 0 || (rc = get_key(args, "key", &key)) != 0)
        return rc;
    rc = cairn_kv_expiry(s->kv, key.p, key.n, &at);
    buf_free(&key);
    if (rc == 0)
        *out = at ? json_integer((json_int_t)at) : json_null(); /* 0: never expires */
    return rc;
}

static int kv_check(json_t *args, json_t **out)
{
    const char *path = NULL;
    int rc = get_string(args, "path", &path);
    (void)out;
    return rc ? rc : cairn_kv_check(path);
}

/* ---- snapshots and backups (KV, blob store, table: the same five calls) ---- */

static int snap_take(int eng, slot *s, const char *name, char **got)
{
    switch (eng) {
    case SLOT_KV: return cairn_kv_snapshot(s->kv, name, got);
    case SLOT_BLOB: return cairn_blob_snapshot(s->blob, name, got);
    default: return cairn_table_snapshot(s->table, name, got);
    }
}

static int snap_op(json_t *args, json_t **out, int eng)
{
    slot *s;
    const char *name = NULL;
    char *got = NULL;
    json_t *n = json_object_get(args, "name");
    int rc;
    if ((rc = slot_get(args, eng, &s)) != 0)
        return rc;
    if (n && !json_is_null(n) && (rc = get_string(args, "name", &name)) != 0)
        return rc;
    if ((rc = snap_take(eng, s, name, &got)) != 0)
        return rc;
    *out = json_string(got);
    cairn_free(got);
    return 0;
}

static int snaps_op(json_t *args, json_t **out, int eng)
{
    slot *s;
    char *j = NULL;
    json_error_t e;
    int rc;
    if ((rc = slot_get(args, eng, &s)) != 0)
        return rc;
    rc = eng == SLOT_KV ? cairn_kv_snapshots(s->kv, &j)
         : eng == SLOT_BLOB ? cairn_blob_snapshots(s->blob, &j)
                            : cairn_table_snapshots(s->table, &j);
    if (rc)
        return rc;
    *out = json_loads(j, 0, &e);
    cairn_free(j);
    return *out ? 0 : terr(CAIRN_INTERNAL, "snapshots: bad JSON from the core");
}

static int open_snap_op(json_t *args, json_t **out, int eng)
{
    slot *s, *t;
    const char *name = NULL, *as = NULL;
    int rc, fresh;
    (void)out;
    if ((rc = slot_get(args, eng, &s)) != 0 || (rc = get_string(args, "name", &name)) != 0 ||
        (rc = get_string(args, "as", &as)) != 0)
        return rc;
    if ((rc = slot_for_open(as, eng, &t, &fresh)) != 0)
        return rc;
    rc = eng == SLOT_KV ? cairn_kv_open_snapshot(&t->kv, s->kv, name)
         : eng == SLOT_BLOB ? cairn_blob_open_snapshot(&t->blob, s->blob, name)
                            : cairn_table_open_snapshot(&t->table, s->table, name);
    if (rc) {
        if (fresh)
            slot_drop(t);
        return rc;
    }
    t->closed = 0;
    return 0;
}

static int drop_snap_op(json_t *args, json_t **out, int eng)
{
    slot *s;
    const char *name = NULL;
    int rc;
    (void)out;
    if ((rc = slot_get(args, eng, &s)) != 0 || (rc = get_string(args, "name", &name)) != 0)
        return rc;
    return eng == SLOT_KV ? cairn_kv_drop_snapshot(s->kv, name)
           : eng == SLOT_BLOB ? cairn_blob_drop_snapshot(s->blob, name)
                              : cairn_table_drop_snapshot(s->table, name);
}

static int backup_op(json_t *args, json_t **out, int eng)
{
    slot *s;
    const char *dest = NULL;
    int rc;
    (void)out;
    if ((rc = slot_get(args, eng, &s)) != 0 || (rc = get_string(args, "dest", &dest)) != 0)
        return rc;
    return eng == SLOT_KV ? cairn_kv_backup(s->kv, dest)
           : eng == SLOT_BLOB ? cairn_blob_backup(s->blob, dest)
                              : cairn_table_backup(s->table, dest);
}

#define SNAP_OPS(pfx, eng)                                                                     \
    static int pfx##_snapshot(json_t *a, json_t **o) { return snap_op(a, o, eng); }            \
    static int pfx##_snapshots(json_t *a, json_t **o) { return snaps_op(a, o, eng); }          \
    static int pfx##_open_snapshot(json_t *a, json_t **o) { return open_snap_op(a, o, eng); }  \
    static int pfx##_drop_snapshot(json_t *a, json_t **o) { return drop_snap_op(a, o, eng); }  \
    static int pfx##_backup(json_t *a, json_t **o) { return backup_op(a, o, eng); }
SNAP_OPS(kv, SLOT_KV)
SNAP_OPS(blob, SLOT_BLOB)
SNAP_OPS(table, SLOT_TABLE)

static int kv_stats(json_t *args, json_t **out)
{
    slot *s;
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    int rc;
    memset(&st, 0, sizeof st);
    if ((rc = slot_get(args, SLOT_KV, &s)) != 0 || (rc = cairn_kv_stats(s->kv, &st)) != 0)
        return rc;
    *out = json_pack("{s:I,s:I,s:I,s:I,s:I,s:b}", "keys", (json_int_t)st.keys, "data_files",
                     (json_int_t)st.data_files, "disk_bytes", (json_int_t)st.disk_bytes, "live_bytes",
                     (json_int_t)st.live_bytes, "dead_bytes", (json_int_t)st.dead_bytes, "in_txn",
                     st.in_txn != 0);
    return 0;
}

/* ---- blob ops ----------------------------------------------------------------------------- */

static const char *event_name(int ev)
{
    switch (ev) {
    case CAIRN_BLOB_CREATED: return "created";
    case CAIRN_BLOB_UPDATED: return "updated";
    case CAIRN_BLOB_DELETED: return "deleted";
    default: return "unknown";
    }
}

static void on_event(void *ctx, int ev, uint32_t key, uint64_t old_size, uint64_t new_size)
{
    sub *sb = ctx;
    slot *s = sb->slot;
    int64_t probe_size = -1;
    if (sb->has_probe) {
        /* The listener reads the store, as an application's would: it must see the change. */
        void *data = NULL;
        size_t len = 0;
        if (cairn_blob_read(s->blob, sb->probe, &data, &len) == 0) {
            probe_size = (int64_t)len;
            cairn_free(data);
        }
    }
    if (s->nev == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        event *grown = realloc(s->evs, cap * sizeof *grown);
        if (!grown) {
            s->ev_oom = 1;
            return;
        }
        s->evs = grown;
        s->cap = cap;
    }
    s->evs[s->nev].ev = ev;
    s->evs[s->nev].key = key;
    s->evs[s->nev].old_size = old_size;
    s->evs[s->nev].new_size = new_size;
    s->evs[s->nev].probed = sb->has_probe;
    s->evs[s->nev].probe_size = probe_size;
    s->nev++;
}

static int blob_open(json_t *args, json_t **out)
{
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    open_args a = {NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
    slot *s;
    int rc, fresh;
    (void)out;
    a.create = o.create, a.read_only = o.read_only, a.sync = o.sync, a.lock_timeout_ms = o.lock_timeout_ms;
    if ((rc = get_open_args(args, SLOT_BLOB, &a)) != 0)
        return rc;
    o.create = a.create, o.read_only = a.read_only, o.sync = a.sync, o.lock_timeout_ms = a.lock_timeout_ms;
    if ((rc = slot_for_open(a.name, SLOT_BLOB, &s, &fresh)) != 0)
        return rc;
    if ((rc = cairn_blob_open(&s->blob, a.path, &o)) != 0) {
        if (fresh)
            slot_drop(s);
        return rc;
    }
    s->closed = 0;
    return 0;
}

static int get_data(json_t *args, buf *data)
{
    json_t *v = json_object_get(args, "data");
    if (!v)
        return terr(CAIRN_INVALID, "missing argument 'data'");
    return get_bytes(v, "data", data, NULL);
}

static int blob_create(json_t *args, json_t **out)
{
    slot *s;
    buf data = {NULL, 0};
    uint32_t key = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0 || (rc = get_data(args, &data)) != 0)
        return rc;
    rc = cairn_blob_create(s->blob, data.p, data.n, &key);
    buf_free(&data);
    if (rc == 0)
        *out = json_integer(key);
    return rc;
}

static int blob_reserve(json_t *args, json_t **out)
{
    slot *s;
    uint32_t key = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0 || (rc = cairn_blob_reserve_next_key(s->blob, &key)) != 0)
        return rc;
    *out = json_integer(key);
    return 0;
}

static int blob_create_with_key(json_t *args, json_t **out)
{
    slot *s;
    buf data = {NULL, 0};
    uint32_t key = 0;
    int rc;
    (void)out;
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0 || (rc = get_blob_key(args, &key)) != 0 ||
        (rc = get_data(args, &data)) != 0)
        return rc;
    rc = cairn_blob_create_with_key(s->blob, key, data.p, data.n);
    buf_free(&data);
    return rc;
}

static int blob_read(json_t *args, json_t **out)
{
    slot *s;
    uint32_t key = 0;
    void *data = NULL;
    size_t len = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0 || (rc = get_blob_key(args, &key)) != 0)
        return rc;
    if ((rc = cairn_blob_read(s->blob, key, &data, &len)) != 0)
        return rc;
    *out = hex_json(data, len);
    cairn_free(data);
    return 0;
}

static int blob_update(json_t *args, json_t **out)
{
    slot *s;
    buf data = {NULL, 0};
    uint32_t key = 0;
    int rc;
    (void)out;
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0 || (rc = get_blob_key(args, &key)) != 0 ||
        (rc = get_data(args, &data)) != 0)
        return rc;
    rc = cairn_blob_update(s->blob, key, data.p, data.n);
    buf_free(&data);
    return rc;
}

static int blob_delete(json_t *args, json_t **out)
{
    slot *s;
    uint32_t key = 0;
    int rc;
    (void)out;
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0 || (rc = get_blob_key(args, &key)) != 0)
        return rc;
    return cairn_blob_delete(s->blob, key);
}

static int blob_exists(json_t *args, json_t **out)
{
    slot *s;
    uint32_t key = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0 || (rc = get_blob_key(args, &key)) != 0)
        return rc;
    if ((rc = cairn_blob_exists(s->blob, key)) < 0)
        return rc;
    *out = json_boolean(rc);
    return 0;
}

static int blob_count(json_t *args, json_t **out)
{
    slot *s;
    uint64_t n = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0 || (rc = cairn_blob_count(s->blob, &n)) != 0)
        return rc;
    *out = json_integer((json_int_t)n);
    return 0;
}

static int blob_keys(json_t *args, json_t **out)
{
    slot *s;
    cairn_blob_iter *it = NULL;
    uint32_t key = 0;
    json_t *list;
    int rc;
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0 || (rc = cairn_blob_iter_open(&it, s->blob)) != 0)
        return rc;
    list = json_array();
    while ((rc = cairn_blob_iter_next(it, &key)) == 0)
        json_array_append_new(list, json_integer(key));
    cairn_blob_iter_free(it);
    if (rc != CAIRN_ITEROVER) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}

typedef int (*blob_fn)(cairn_blob *);

static int blob_simple(json_t *args, blob_fn fn)
{
    slot *s;
    int rc = slot_get(args, SLOT_BLOB, &s);
    return rc ? rc : fn(s->blob);
}

static int blob_sync(json_t *a, json_t **o) { (void)o; return blob_simple(a, cairn_blob_sync); }
static int blob_compact(json_t *a, json_t **o) { (void)o; return blob_simple(a, cairn_blob_compact); }
static int blob_begin(json_t *a, json_t **o) { (void)o; return blob_simple(a, cairn_blob_begin); }
static int blob_in_txn(json_t *a, json_t **o) { return in_txn_out(blob_simple(a, cairn_blob_in_txn), o); }
static int blob_commit(json_t *a, json_t **o) { (void)o; return blob_simple(a, cairn_blob_commit); }
static int blob_rollback(json_t *a, json_t **o) { (void)o; return blob_simple(a, cairn_blob_rollback); }

static int blob_close(json_t *args, json_t **out)
{
    return kv_close(args, out); /* same slot logic */
}

static int blob_stats(json_t *args, json_t **out)
{
    slot *s;
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    int rc;
    memset(&st, 0, sizeof st);
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0 || (rc = cairn_blob_stats(s->blob, &st)) != 0)
        return rc;
    *out = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "entries", (json_int_t)st.entries, "live_bytes",
                     (json_int_t)st.live_bytes, "free_bytes", (json_int_t)st.free_bytes, "free_entries",
                     (json_int_t)st.free_entries, "file_size", (json_int_t)st.file_size, "next_key",
                     (json_int_t)st.next_key, "in_txn", st.in_txn != 0);
    return 0;
}

static int blob_subscribe(json_t *args, json_t **out)
{
    slot *s;
    sub *sb;
    json_t *probe = json_object_get(args, "probe");
    json_int_t pk = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0)
        return rc;
    if (probe && (rc = get_int(probe, "probe", 0, UINT32_MAX, &pk)) != 0)
        return rc;
    if (!(sb = calloc(1, sizeof *sb)))
        return terr(CAIRN_NOMEM, "out of memory");
    sb->slot = s;
    sb->has_probe = probe != NULL;
    sb->probe = (uint32_t)pk;
    if ((rc = cairn_blob_subscribe(s->blob, on_event, sb, &sb->id)) != 0) {
        free(sb);
        return rc;
    }
    sb->next = s->subs;
    s->subs = sb;
    *out = json_integer((json_int_t)sb->id);
    return 0;
}

static int blob_unsubscribe(json_t *args, json_t **out)
{
    slot *s;
    sub **p;
    json_int_t id = 0;
    int rc;
    (void)out;
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0 ||
        (rc = get_int(json_object_get(args, "id"), "id", 0, INT64_MAX, &id)) != 0)
        return rc;
    for (p = &s->subs; *p; p = &(*p)->next) {
        if ((*p)->id == (uint64_t)id) {
            sub *dead = *p;
            if ((rc = cairn_blob_unsubscribe(s->blob, dead->id)) != 0)
                return rc;
            *p = dead->next;
            free(dead);
            return 0;
        }
    }
    return terr(CAIRN_NOTFOUND, "no subscription %lld on this handle", (long long)id);
}

/* kv.check / blob.check: the offline verify of the store at args.path. */
static int blob_check(json_t *args, json_t **out)
{
    const char *path = NULL;
    int rc = get_string(args, "path", &path);
    (void)out;
    return rc ? rc : cairn_blob_check(path);
}

static int blob_events(json_t *args, json_t **out)
{
    slot *s;
    json_t *list;
    size_t i;
    int rc;
    if ((rc = slot_get(args, SLOT_BLOB, &s)) != 0)
        return rc;
    if (s->ev_oom) {
        s->ev_oom = 0;
        s->nev = 0;
        return terr(CAIRN_NOMEM, "events were lost for want of memory");
    }
    list = json_array();
    for (i = 0; i < s->nev; i++)
    {
        event *e = &s->evs[i];
        json_t *one = json_pack("[s,I,I,I]", event_name(e->ev), (json_int_t)e->key, (json_int_t)e->old_size,
                                (json_int_t)e->new_size);
        if (one && e->probed)
            json_array_append_new(one, e->probe_size < 0 ? json_null() : json_integer((json_int_t)e->probe_size));
        json_array_append_new(list, one);
    }
    s->nev = 0;
    *out = list;
    return 0;
}

/* ---- integers beyond int64 (u64 column values, out-of-range inputs) ------------------------ */

/* Copy of the JSON text s[0..n) where every integer literal outside int64 becomes the marker
 * {"$int":"<literal>"} (jansson cannot hold it). Malloc'd, NUL-terminated; NULL on no memory. */
static char *mark_bigints(const char *s, size_t n, size_t *outn)
{
    char *o = malloc(2 * n + 16), *grown;
    size_t i = 0, k = 0, cap = 2 * n + 16;
    if (!o)
        return NULL;
    while (i < n) {
        if (s[i] == '"') { /* a string: copy through its closing quote */
            o[k++] = s[i++];
            while (i < n && s[i] != '"') {
                if (s[i] == '\\' && i + 1 < n)
                    o[k++] = s[i++];
                o[k++] = s[i++];
            }
            if (i < n)
                o[k++] = s[i++];
        } else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
            size_t j = i + (s[i] == '-'), start = i;
            int big;
            while (j < n && s[j] >= '0' && s[j] <= '9')
                j++;
            if (j < n && (s[j] == '.' || s[j] == 'e' || s[j] == 'E')) { /* a real: as it is */
                while (j < n && (strchr("0123456789.eE+-", s[j]) != NULL))
                    j++;
                big = 0;
            } else {
                char tmp[64];
                size_t len = j - start;
                if (len >= sizeof tmp)
                    big = 1;
                else {
                    memcpy(tmp, s + start, len);
                    tmp[len] = 0;
                    errno = 0;
                    (void)strtoll(tmp, NULL, 10);
                    big = errno == ERANGE;
                }
            }
            if (big) {
                if (k + (j - start) + 16 > cap) {
                    cap = 2 * cap + (j - start) + 16;
                    if (!(grown = realloc(o, cap))) {
                        free(o);
                        return NULL;
                    }
                    o = grown;
                }
                memcpy(o + k, "{\"$int\":\"", 9);
                k += 9;
                memcpy(o + k, s + start, j - start);
                k += j - start;
                memcpy(o + k, "\"}", 2);
                k += 2;
            } else {
                memcpy(o + k, s + start, j - start);
                k += j - start;
            }
            i = j;
        } else
            o[k++] = s[i++];
        if (k + 16 > cap) {
            cap *= 2;
            if (!(grown = realloc(o, cap))) {
                free(o);
                return NULL;
            }
            o = grown;
        }
    }
    o[k] = 0;
    *outn = k;
    return o;
}

/* Turn every {"$int":"<literal>"} of compact JSON text back into the bare literal, in place. */
static void unmark_bigints(char *text)
{
    static const char tag[] = "{\"$int\":\"";
    char *p = text;
    while ((p = strstr(p, tag)) != NULL) {
        char *d = p + sizeof tag - 1, *e = d;
        while (*e == '-' || (*e >= '0' && *e <= '9'))
            e++;
        if (e[0] != '"' || e[1] != '}') {
            p = d;
            continue;
        }
        memmove(p, d, (size_t)(e - d));
        memmove(p + (e - d), e + 2, strlen(e + 2) + 1);
        p += e - d;
    }
}

/* JSON text -> compact text with the markers written back (malloc'd; NULL on no memory). */
static char *dump_unmarked(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s)
        unmark_bigints(s);
    return s;
}

/* Parse the engine's JSON text (may hold integers beyond int64). */
static int parse_engine_json(const char *text, json_t **out)
{
    size_t n = 0;
    char *m = mark_bigints(text, strlen(text), &n);
    json_error_t e;
    if (!m)
        return terr(CAIRN_NOMEM, "out of memory");
    *out = json_loadb(m, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    free(m);
    if (!*out)
        return terr(CAIRN_INTERNAL, "the engine's JSON does not parse: %s", e.text);
    return 0;
}

/* ---- table ops ---------------------------------------------------------------------------- */

/* The type of column `name` (-1: no such column). */
static int table_col_type(cairn_table *t, const char *name)
{
    size_t n = 0, i;
    if (cairn_table_ncols(t, &n) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        const char *cn = NULL;
        int type = 0, nullable = 0;
        uint32_t fixed = 0;
        if (cairn_table_column(t, i, &cn, &type, &fixed, &nullable) == 0 && cn && !strcmp(cn, name))
            return type;
    }
    return -1;
}

/* One wire value for a column of `type` (-1: unknown column) -> its C JSON form (new reference). */
static int value_to_c(int type, json_t *v, json_t **out)
{
    if (is_tagged(v, "$ts")) {
        json_t *us = json_object_get(v, "$ts");
        if (type == -1) { /* unknown column: the engine answers CAIRN_SCHEMA */
            *out = json_incref(v);
            return 0;
        }
        if (type != CAIRN_TYPE_TIMESTAMP)
            return terr(CAIRN_TYPE, "a timestamp given for a column of another type");
        if (!json_is_integer(us) && !is_tagged(us, "$int"))
            return terr(CAIRN_TYPE, "$ts takes an integer (microseconds)");
        *out = json_incref(us);
        return 0;
    }
    *out = json_incref(v);
    return 0;
}

/* A wire row (an object) -> the C JSON row text (malloc'd). */
static int row_to_c(cairn_table *t, json_t *row, char **text)
{
    json_t *o, *v;
    const char *k;
    int rc = 0;
    if (!json_is_object(row))
        return terr(CAIRN_TYPE, "a row must be an object");
    o = json_object();
    json_object_foreach(row, k, v) {
        json_t *c = NULL;
        if ((rc = value_to_c(table_col_type(t, k), v, &c)) != 0)
            break;
        json_object_set_new(o, k, c);
    }
    if (rc == 0 && !(*text = dump_unmarked(o)))
        rc = terr(CAIRN_NOMEM, "out of memory");
    json_decref(o);
    return rc;
}

/* A C JSON value of a column -> its wire form (steals v). */
static json_t *value_from_c(int type, json_t *v)
{
    if (type == CAIRN_TYPE_TIMESTAMP && (json_is_integer(v) || is_tagged(v, "$int"))) {
        json_t *o = json_object();
        json_object_set_new(o, "$ts", v);
        return o;
    }
    return v;
}

/* The engine's JSON row text -> a wire row. */
static int row_from_c(cairn_table *t, const char *text, json_t **out)
{
    json_t *row, *v;
    const char *k;
    int rc;
    if ((rc = parse_engine_json(text, &row)) != 0)
        return rc;
    if (!json_is_object(row)) {
        json_decref(row);
        return terr(CAIRN_INTERNAL, "the engine's row is not an object");
    }
    json_object_foreach(row, k, v) {
        int type = table_col_type(t, k);
        if (type == CAIRN_TYPE_TIMESTAMP)
            json_object_set_new(row, k, value_from_c(type, json_incref(v)));
    }
    *out = row;
    return 0;
}

static int get_id(json_t *args, uint64_t *id)
{
    json_t *v = json_object_get(args, "id");
    json_int_t n = 0;
    int rc;
    if (!v)
        return terr(CAIRN_INVALID, "missing argument 'id'");
    if ((rc = get_int(v, "id", 0, INT64_MAX, &n)) != 0)
        return rc;
    *id = (uint64_t)n;
    return 0;
}

static int table_open(json_t *args, json_t **out)
{
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    open_args a = {NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
    json_t *schema = json_object_get(args, "schema");
    char *schema_text = NULL;
    slot *s;
    int rc, fresh;
    (void)out;
    a.create = o.create, a.read_only = o.read_only, a.sync = o.sync;
    a.lock_timeout_ms = o.lock_timeout_ms, a.checkpoint_rows = o.checkpoint_rows;
    if ((rc = get_open_args(args, SLOT_TABLE, &a)) != 0)
        return rc;
    o.create = a.create, o.read_only = a.read_only, o.sync = a.sync;
    o.lock_timeout_ms = a.lock_timeout_ms, o.checkpoint_rows = a.checkpoint_rows;
    if (schema && json_is_string(schema))
        schema_text = strdup(json_string_value(schema));
    else if (schema && json_is_array(schema))
        schema_text = dump_unmarked(schema); /* the list form: the binding's list of columns */
    else if (schema && !json_is_null(schema))
        return terr(CAIRN_TYPE, "schema: expected a string or a list of columns");
    if (schema && !json_is_null(schema) && !schema_text)
        return terr(CAIRN_NOMEM, "out of memory");
    o.schema = schema_text;
    if ((rc = slot_for_open(a.name, SLOT_TABLE, &s, &fresh)) != 0) {
        free(schema_text);
        return rc;
    }
    rc = cairn_table_open(&s->table, a.path, &o);
    free(schema_text);
    if (rc != 0) {
        s->table = NULL;
        if (fresh)
            slot_drop(s);
        return rc;
    }
    s->closed = 0;
    return 0;
}

static int table_close(json_t *args, json_t **out)
{
    return kv_close(args, out); /* same slot logic */
}

static const char *type_name(int type, uint32_t fixed, char *tbuf, size_t cap)
{
    static const char *const names[] = {"?", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64",
                                        "f32", "f64", "bool", "bytes:", "string", "bytes", "timestamp"};
    if (type == CAIRN_TYPE_FIXED) {
        snprintf(tbuf, cap, "bytes:%u", (unsigned)fixed);
        return tbuf;
    }
    return type >= 1 && type <= 15 ? names[type] : "?";
}

/* table.schema: the list of column objects, every field present (PROTOCOL.md). */
static int table_schema(json_t *args, json_t **out)
{
    slot *s;
    char *text = NULL;
    json_t *doc = NULL, *list;
    size_t n = 0, i;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0 || (rc = cairn_table_ncols(s->table, &n)) != 0 ||
        (rc = cairn_table_schema(s->table, 1, &text)) != 0)
        return rc;
    rc = parse_engine_json(text, &doc);
    cairn_free(text);
    if (rc)
        return rc;
    if (!json_is_array(doc) || json_array_size(doc) != n) {
        json_decref(doc);
        return terr(CAIRN_INTERNAL, "the engine's JSON schema is not a list of %zu columns", n);
    }
    list = json_array();
    for (i = 0; i < n; i++) {
        json_t *c = json_array_get(doc, i), *def = json_object_get(c, "default");
        const char *name = NULL;
        int type = 0, nullable = 0;
        uint32_t fixed = 0;
        char tb[32];
        if ((rc = cairn_table_column(s->table, i, &name, &type, &fixed, &nullable)) != 0) {
            json_decref(list);
            json_decref(doc);
            return rc;
        }
        json_array_append_new(list, json_pack("{s:s,s:s,s:b,s:b,s:b,s:o}", "name", name, "type",
                                              type_name(type, fixed, tb, sizeof tb), "nullable", nullable != 0,
                                              "primary_key", json_is_true(json_object_get(c, "primary_key")),
                                              "unique", json_is_true(json_object_get(c, "unique")), "default",
                                              def ? value_from_c(type, json_incref(def)) : json_null()));
    }
    json_decref(doc);
    *out = list;
    return 0;
}

static int table_add_column(json_t *args, json_t **out)
{
    slot *s;
    const char *spec = NULL;
    int rc;
    (void)out;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0 || (rc = get_string(args, "spec", &spec)) != 0)
        return rc;
    return cairn_table_add_column(s->table, spec);
}

static int table_insert(json_t *args, json_t **out)
{
    slot *s;
    json_t *row = json_object_get(args, "row");
    char *text = NULL;
    uint64_t id = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0)
        return rc;
    if (!row)
        return terr(CAIRN_INVALID, "missing argument 'row'");
    if ((rc = row_to_c(s->table, row, &text)) != 0)
        return rc;
    rc = cairn_table_insert_json(s->table, text, &id);
    free(text);
    if (rc == 0)
        *out = json_integer((json_int_t)id);
    return rc;
}

static int table_insert_many(json_t *args, json_t **out)
{
    slot *s;
    json_t *rows = json_object_get(args, "rows"), *row, *conv;
    char *text = NULL, *ids = NULL;
    size_t i;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0)
        return rc;
    if (!json_is_array(rows))
        return terr(rows ? CAIRN_TYPE : CAIRN_INVALID, "rows: expected a list of rows");
    conv = json_array();
    json_array_foreach(rows, i, row) {
        char *one = NULL;
        json_t *parsed;
        if ((rc = row_to_c(s->table, row, &one)) != 0) {
            json_decref(conv);
            return rc;
        }
        rc = parse_engine_json(one, &parsed);
        free(one);
        if (rc) {
            json_decref(conv);
            return rc;
        }
        json_array_append_new(conv, parsed);
    }
    text = dump_unmarked(conv);
    json_decref(conv);
    if (!text)
        return terr(CAIRN_NOMEM, "out of memory");
    rc = cairn_table_insert_many_json(s->table, text, &ids);
    free(text);
    if (rc == 0) {
        rc = parse_engine_json(ids, out);
        cairn_free(ids);
    }
    return rc;
}

static int table_upsert(json_t *args, json_t **out)
{
    slot *s;
    json_t *row = json_object_get(args, "row");
    char *text = NULL;
    uint64_t id = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0)
        return rc;
    if (!row)
        return terr(CAIRN_INVALID, "missing argument 'row'");
    if ((rc = row_to_c(s->table, row, &text)) != 0)
        return rc;
    rc = cairn_table_upsert_json(s->table, text, &id);
    free(text);
    if (rc == 0)
        *out = json_integer((json_int_t)id);
    return rc;
}

static int table_load(json_t *args, json_t **out)
{
    slot *s;
    json_t *cols = json_object_get(args, "columns"), *list, *o;
    const char *k;
    char *text;
    uint64_t first = 0;
    int rc = 0;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0)
        return rc;
    if (!json_is_object(cols))
        return terr(cols ? CAIRN_TYPE : CAIRN_INVALID, "columns: expected an object of lists");
    o = json_object();
    json_object_foreach(cols, k, list) {
        int type = table_col_type(s->table, k);
        json_t *conv, *v;
        size_t i;
        if (!json_is_array(list)) {
            json_decref(o);
            return terr(CAIRN_TYPE, "columns.%s: expected a list of values", k);
        }
        conv = json_array();
        json_array_foreach(list, i, v) {
            json_t *c = NULL;
            if ((rc = value_to_c(type, v, &c)) != 0)
                break;
            json_array_append_new(conv, c);
        }
        json_object_set_new(o, k, conv);
        if (rc)
            break;
    }
    text = rc ? NULL : dump_unmarked(o);
    json_decref(o);
    if (rc)
        return rc;
    if (!text)
        return terr(CAIRN_NOMEM, "out of memory");
    rc = cairn_table_load_json(s->table, text, &first);
    free(text);
    if (rc == 0)
        *out = json_integer((json_int_t)first);
    return rc;
}

static int table_get(json_t *args, json_t **out)
{
    slot *s;
    uint64_t id = 0;
    char *text = NULL;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0 || (rc = get_id(args, &id)) != 0)
        return rc;
    rc = cairn_table_get_json(s->table, id, &text);
    if (rc == CAIRN_NOTFOUND)
        return 0; /* absent: null */
    if (rc == 0) {
        rc = row_from_c(s->table, text, out);
        cairn_free(text);
    }
    return rc;
}

static int table_update(json_t *args, json_t **out)
{
    slot *s;
    uint64_t id = 0;
    json_t *changes = json_object_get(args, "changes");
    char *text = NULL;
    int rc;
    (void)out;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0 || (rc = get_id(args, &id)) != 0)
        return rc;
    if (!changes)
        return terr(CAIRN_INVALID, "missing argument 'changes'");
    if ((rc = row_to_c(s->table, changes, &text)) != 0)
        return rc;
    rc = cairn_table_update_json(s->table, id, text);
    free(text);
    return rc;
}

static int table_delete(json_t *args, json_t **out)
{
    slot *s;
    uint64_t id = 0;
    int rc;
    (void)out;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0 || (rc = get_id(args, &id)) != 0)
        return rc;
    return cairn_table_delete(s->table, id);
}

static int table_count(json_t *args, json_t **out)
{
    slot *s;
    uint64_t n = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0 || (rc = cairn_table_count(s->table, &n)) != 0)
        return rc;
    *out = json_integer((json_int_t)n);
    return 0;
}

static int table_rows(json_t *args, json_t **out)
{
    slot *s;
    cairn_table_iter *it = NULL;
    uint64_t id = 0;
    const char *text = NULL;
    json_t *list;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0 || (rc = cairn_table_iter_open(&it, s->table)) != 0)
        return rc;
    list = json_array();
    while ((rc = cairn_table_iter_next_json(it, &id, &text)) == 0) {
        json_t *row = NULL;
        if ((rc = row_from_c(s->table, text, &row)) != 0)
            break;
        json_array_append_new(list, json_pack("[I,o]", (json_int_t)id, row));
    }
    cairn_table_iter_free(it);
    if (rc != CAIRN_ITEROVER) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}

/* A query on the wire -> the core's form: {"$ts": us} becomes us anywhere in it (new reference). */
static json_t *query_to_c(json_t *v)
{
    if (is_tagged(v, "$ts"))
        return json_incref(json_object_get(v, "$ts"));
    if (json_is_array(v)) {
        json_t *a = json_array(), *x;
        size_t i;
        json_array_foreach(v, i, x) json_array_append_new(a, query_to_c(x));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object(), *x;
        const char *k;
        json_object_foreach(v, k, x) json_object_set_new(o, k, query_to_c(x));
        return o;
    }
    return json_incref(v);
}

/* A query result of the core -> the wire: values of timestamp result columns as {"$ts": us}. */
static void result_from_c(json_t *res)
{
    json_t *cols = json_object_get(res, "columns"), *rows = json_object_get(res, "rows");
    json_t *data = json_object_get(res, "data"), *c;
    size_t i, j;
    json_array_foreach(cols, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *type = json_string_value(json_object_get(c, "type"));
        json_t *r, *list;
        if (!name || !type || strcmp(type, "timestamp"))
            continue;
        json_array_foreach(rows, j, r) {
            json_t *v = json_object_get(r, name);
            if (v)
                json_object_set_new(r, name, value_from_c(CAIRN_TYPE_TIMESTAMP, json_incref(v)));
        }
        list = json_object_get(data, name);
        for (j = 0; j < json_array_size(list); j++)
            json_array_set_new(list, j, value_from_c(CAIRN_TYPE_TIMESTAMP, json_incref(json_array_get(list, j))));
    }
}

/* table.query / table.count_where: `query` as the JSON text of the core (count != 0: count_where) */
static int table_query_common(json_t *args, json_t **out, int count)
{
    slot *s;
    json_t *q = json_object_get(args, "query"), *c;
    char *text, *res = NULL;
    uint64_t n = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0)
        return rc;
    if (!q)
        return terr(CAIRN_INVALID, "missing argument 'query'");
    if (!json_is_object(q))
        return terr(CAIRN_TYPE, "a query must be an object");
    c = query_to_c(q);
    text = dump_unmarked(c);
    json_decref(c);
    if (!text)
        return terr(CAIRN_NOMEM, "out of memory");
    rc = count ? cairn_table_count_where_json(s->table, text, &n) : cairn_table_query_json(s->table, text, &res);
    free(text);
    if (rc)
        return rc;
    if (count) {
        *out = json_integer((json_int_t)n);
        return 0;
    }
    rc = parse_engine_json(res, out);
    cairn_free(res);
    if (rc == 0)
        result_from_c(*out);
    return rc;
}

static int table_query(json_t *a, json_t **o) { return table_query_common(a, o, 0); }

/* table.join: `left` and `right` name table handles (may be the same), `query` the join JSON */
static int table_join(json_t *args, json_t **out)
{
    slot *l, *r;
    json_t *q = json_object_get(args, "query"), *c, *tmp;
    char *text, *res = NULL;
    int rc;
    tmp = json_pack("{s:O}", "handle", json_object_get(args, "left") ? json_object_get(args, "left") : json_null());
    rc = slot_get(tmp, SLOT_TABLE, &l);
    json_decref(tmp);
    if (rc)
        return rc;
    tmp = json_pack("{s:O}", "handle", json_object_get(args, "right") ? json_object_get(args, "right") : json_null());
    rc = slot_get(tmp, SLOT_TABLE, &r);
    json_decref(tmp);
    if (rc)
        return rc;
    if (!q)
        return terr(CAIRN_INVALID, "missing argument 'query'");
    if (!json_is_object(q))
        return terr(CAIRN_TYPE, "a query must be an object");
    c = query_to_c(q);
    text = dump_unmarked(c);
    json_decref(c);
    if (!text)
        return terr(CAIRN_NOMEM, "out of memory");
    rc = cairn_table_join_json(l->table, r->table, text, &res);
    free(text);
    if (rc)
        return rc;
    rc = parse_engine_json(res, out);
    cairn_free(res);
    if (rc == 0)
        result_from_c(*out);
    return rc;
}

/* table.export: the testee's Arrow import. The stream of cairn_table_export_stream (with `query`
 * when given) walked batch by batch: struct children by name, validity bitmaps, dictionary
 * indices, bit-packed bools, large offsets; the values rebuilt in the row wire forms as
 * {"column": [values...], ...} in the stream's column order. */
typedef struct xtext {
    char *p;
    size_t n, cap;
} xtext;

static int xt_put(xtext *t, const char *s, size_t n)
{
    if (t->n + n + 1 > t->cap) {
        size_t c = t->cap ? t->cap * 2 : 256;
        char *q;
        while (c < t->n + n + 1)
            c *= 2;
        if (!(q = realloc(t->p, c)))
            return terr(CAIRN_NOMEM, "out of memory");
        t->p = q;
        t->cap = c;
    }
    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n] = 0;
    return 0;
}

static int xt_printf(xtext *t, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    int k;
    va_start(ap, fmt);
    k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return xt_put(t, tmp, (size_t)k);
}

/* value i of array a (format of schema s) as JSON text */
static int arrow_value_json(const struct ArrowSchema *s, const struct ArrowArray *a, int64_t i, xtext *t)
{
    const char *f = s->format;
    int64_t j = i + a->offset;
    const void *d;
    if (a->null_count && a->buffers[0] && !((((const uint8_t *)a->buffers[0])[j >> 3] >> (j & 7)) & 1))
        return xt_put(t, "null", 4);
    if (s->dictionary) {
        int64_t k = !strcmp(f, "c") ? ((const int8_t *)a->buffers[1])[j]
                  : !strcmp(f, "s") ? ((const int16_t *)a->buffers[1])[j]
                  : !strcmp(f, "i") ? ((const int32_t *)a->buffers[1])[j]
                                    : ((const int64_t *)a->buffers[1])[j];
        if (k < 0 || k >= a->dictionary->length)
            return terr(CAIRN_CORRUPT, "dictionary index %lld out of range", (long long)k);
        return arrow_value_json(s->dictionary, a->dictionary, k, t);
    }
    d = a->buffers[1];
    if (!strcmp(f, "c")) return xt_printf(t, "%d", ((const int8_t *)d)[j]);
    if (!strcmp(f, "s")) return xt_printf(t, "%d", ((const int16_t *)d)[j]);
    if (!strcmp(f, "i")) return xt_printf(t, "%d", ((const int32_t *)d)[j]);
    if (!strcmp(f, "l") || !strcmp(f, "tsu:UTC")) return xt_printf(t, "%lld", (long long)((const int64_t *)d)[j]);
    if (!strcmp(f, "C")) return xt_printf(t, "%u", ((const uint8_t *)d)[j]);
    if (!strcmp(f, "S")) return xt_printf(t, "%u", ((const uint16_t *)d)[j]);
    if (!strcmp(f, "I")) return xt_printf(t, "%u", ((const uint32_t *)d)[j]);
    if (!strcmp(f, "L")) return xt_printf(t, "%llu", (unsigned long long)((const uint64_t *)d)[j]);
    if (!strcmp(f, "f") || !strcmp(f, "g")) {
        double x = f[0] == 'f' ? (double)((const float *)d)[j] : ((const double *)d)[j];
        if (x != x) return xt_put(t, "{\"$f64\":\"nan\"}", 14);
        if (x > 1.7976931348623157e308) return xt_put(t, "{\"$f64\":\"inf\"}", 14);
        if (x < -1.7976931348623157e308) return xt_put(t, "{\"$f64\":\"-inf\"}", 15);
        return xt_printf(t, f[0] == 'f' ? "%.9g" : "%.17g", x);
    }
    if (!strcmp(f, "b")) return xt_put(t, (((const uint8_t *)d)[j >> 3] >> (j & 7)) & 1 ? "true" : "false",
                                       (((const uint8_t *)d)[j >> 3] >> (j & 7)) & 1 ? 4 : 5);
    {
        const unsigned char *p;
        size_t len, k;
        int rc;
        if (!strncmp(f, "w:", 2)) {
            len = (size_t)atoi(f + 2);
            p = (const unsigned char *)d + (size_t)j * len;
        } else if (!strcmp(f, "U") || !strcmp(f, "Z")) {
            const int64_t *o = (const int64_t *)d;
            p = (const unsigned char *)a->buffers[2] + o[j];
            len = (size_t)(o[j + 1] - o[j]);
        } else {
            return terr(CAIRN_UNSUPPORTED, "Arrow format %s", f);
        }
        if (!strcmp(f, "U")) {
            json_t *str = json_stringn((const char *)p, len);
            char *txt = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
            json_decref(str);
            if (!txt)
                return terr(CAIRN_CORRUPT, "a string that is not UTF-8");
            rc = xt_put(t, txt, strlen(txt));
            free(txt);
            return rc;
        }
        if ((rc = xt_put(t, "{\"$bytes\":\"", 11)) != 0)
            return rc;
        for (k = 0; k < len; k++)
            if ((rc = xt_printf(t, "%02x", p[k])) != 0)
                return rc;
        return xt_put(t, "\"}", 2);
    }
}

static int table_export(json_t *args, json_t **out)
{
    slot *s;
    json_t *q = json_object_get(args, "query");
    char *text = NULL;
    struct ArrowArrayStream st;
    struct ArrowSchema sch;
    xtext *col = NULL, all = {NULL, 0, 0};
    int64_t k, i, nc = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0)
        return rc;
    if (q && !json_is_null(q)) {
        json_t *c;
        if (!json_is_object(q))
            return terr(CAIRN_TYPE, "a query must be an object");
        c = query_to_c(q);
        text = dump_unmarked(c);
        json_decref(c);
        if (!text)
            return terr(CAIRN_NOMEM, "out of memory");
    }
    rc = cairn_table_export_stream(s->table, text, &st);
    free(text);
    if (rc)
        return rc;
    memset(&sch, 0, sizeof sch);
    if (st.get_schema(&st, &sch) != 0) {
        rc = terr(CAIRN_INTERNAL, "get_schema: %s", st.get_last_error(&st) ? st.get_last_error(&st) : "");
        goto out;
    }
    nc = sch.n_children;
    if (!(col = calloc((size_t)nc + 1, sizeof *col))) {
        rc = terr(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        struct ArrowArray a;
        if (st.get_next(&st, &a) != 0) {
            rc = terr(cairn_errcode() ? cairn_errcode() : CAIRN_IO, "get_next: %s", st.get_last_error(&st) ? st.get_last_error(&st) : "");
            goto out;
        }
        if (!a.release)
            break;
        for (k = 0; !rc && k < nc; k++)
            for (i = 0; !rc && i < a.length; i++)
                if (!(rc = xt_put(&col[k], col[k].n ? "," : "", col[k].n ? 1 : 0)))
                    rc = arrow_value_json(sch.children[k], a.children[k], i, &col[k]);
        a.release(&a);
        if (rc)
            goto out;
    }
    rc = xt_put(&all, "{", 1);
    for (k = 0; !rc && k < nc; k++) {
        json_t *name = json_string(sch.children[k]->name);
        char *nt = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
        json_decref(name);
        if (!nt) {
            rc = terr(CAIRN_NOMEM, "out of memory");
            break;
        }
        rc = xt_printf(&all, "%s", k ? "," : "");
        if (!rc) rc = xt_put(&all, nt, strlen(nt));
        free(nt);
        if (!rc) rc = xt_put(&all, ":[", 2);
        if (!rc && col[k].n) rc = xt_put(&all, col[k].p, col[k].n);
        if (!rc) rc = xt_put(&all, "]", 1);
    }
    if (!rc) rc = xt_put(&all, "}", 1);
    if (!rc) rc = parse_engine_json(all.p, out);
    if (!rc)
        for (k = 0; k < nc; k++)
            if (!strcmp(sch.children[k]->format, "tsu:UTC") ||
                (sch.children[k]->dictionary && !strcmp(sch.children[k]->dictionary->format, "tsu:UTC"))) {
                json_t *list = json_object_get(*out, sch.children[k]->name);
                size_t j;
                for (j = 0; j < json_array_size(list); j++)
                    json_array_set_new(list, j, value_from_c(CAIRN_TYPE_TIMESTAMP, json_incref(json_array_get(list, j))));
            }
out:
    if (col)
        for (k = 0; k < nc; k++)
            free(col[k].p);
    free(col);
    free(all.p);
    if (sch.release)
        sch.release(&sch);
    st.release(&st);
    return rc;
}

/* table.create_index / drop_index: kind "hash" | "range" (anything else: 0, which the core
 * answers CAIRN_INVALID) */
static int table_index_args(json_t *args, slot **s, const char **col, int *kind)
{
    const char *k = NULL;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, s)) != 0 || (rc = get_string(args, "column", col)) != 0 ||
        (rc = get_string(args, "kind", &k)) != 0)
        return rc;
    *kind = !strcmp(k, "hash") ? CAIRN_INDEX_HASH : !strcmp(k, "range") ? CAIRN_INDEX_RANGE : 0;
    return 0;
}

static int table_create_index(json_t *args, json_t **out)
{
    slot *s;
    const char *col = NULL;
    int kind = 0, rc = table_index_args(args, &s, &col, &kind);
    (void)out;
    return rc ? rc : cairn_table_create_index(s->table, col, kind);
}

static int table_drop_index(json_t *args, json_t **out)
{
    slot *s;
    const char *col = NULL;
    int kind = 0, rc = table_index_args(args, &s, &col, &kind);
    (void)out;
    return rc ? rc : cairn_table_drop_index(s->table, col, kind);
}

/* an engine JSON answer (ids or the index list) -> the wire */
static int engine_answer(int rc, char *text, json_t **out)
{
    if (rc)
        return rc;
    rc = parse_engine_json(text, out);
    cairn_free(text);
    return rc;
}

static int table_indexes(json_t *args, json_t **out)
{
    slot *s;
    char *text = NULL;
    int rc = slot_get(args, SLOT_TABLE, &s);
    if (rc)
        return rc;
    rc = cairn_table_indexes(s->table, &text);
    return engine_answer(rc, text, out);
}

/* one wire value of column `col` -> the C JSON value text (malloc'd); absent or null: "null" */
static int index_value(cairn_table *t, const char *col, json_t *v, char **text)
{
    json_t *c = NULL;
    int rc;
    if (!v || json_is_null(v)) {
        *text = strdup("null");
        return *text ? 0 : terr(CAIRN_NOMEM, "out of memory");
    }
    if ((rc = value_to_c(table_col_type(t, col), v, &c)) != 0)
        return rc;
    *text = dump_unmarked(c);
    json_decref(c);
    return *text ? 0 : terr(CAIRN_NOMEM, "out of memory");
}

static int table_lookup(json_t *args, json_t **out)
{
    slot *s;
    const char *col = NULL;
    char *v = NULL, *text = NULL;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0 || (rc = get_string(args, "column", &col)) != 0)
        return rc;
    if (!json_object_get(args, "value"))
        return terr(CAIRN_INVALID, "missing argument 'value'");
    if ((rc = index_value(s->table, col, json_object_get(args, "value"), &v)) != 0)
        return rc;
    rc = cairn_table_lookup_json(s->table, col, v, &text);
    free(v);
    return engine_answer(rc, text, out);
}

static int table_find(json_t *args, json_t **out)
{
    slot *s;
    json_t *cond = json_object_get(args, "conditions");
    char *c = NULL, *text = NULL;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0)
        return rc;
    if (!cond)
        return terr(CAIRN_INVALID, "missing argument 'conditions'");
    if (!json_is_object(cond))
        return terr(CAIRN_INVALID, "conditions must be an object");
    if ((rc = row_to_c(s->table, cond, &c)) != 0)
        return rc;
    rc = cairn_table_find_json(s->table, c, &text);
    free(c);
    return engine_answer(rc, text, out);
}

/* table.range_find: lo / hi (absent or null: no bound), lo_open / hi_open (bools, default false) */
static int table_range_find(json_t *args, json_t **out)
{
    slot *s;
    const char *col = NULL;
    char *lo = NULL, *hi = NULL, *text = NULL;
    int rc, lo_open = 0, hi_open = 0;
    json_t *x;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0 || (rc = get_string(args, "column", &col)) != 0)
        return rc;
    if ((x = json_object_get(args, "lo_open")) && (rc = get_bool(x, "lo_open", &lo_open)) != 0)
        return rc;
    if ((x = json_object_get(args, "hi_open")) && (rc = get_bool(x, "hi_open", &hi_open)) != 0)
        return rc;
    if ((rc = index_value(s->table, col, json_object_get(args, "lo"), &lo)) != 0)
        return rc;
    if ((rc = index_value(s->table, col, json_object_get(args, "hi"), &hi)) != 0) {
        free(lo);
        return rc;
    }
    rc = cairn_table_range_find_json(s->table, col, lo, hi,
                                     (lo_open ? CAIRN_RANGE_LO_OPEN : 0) | (hi_open ? CAIRN_RANGE_HI_OPEN : 0), &text);
    free(lo);
    free(hi);
    return engine_answer(rc, text, out);
}
static int table_count_where(json_t *a, json_t **o) { return table_query_common(a, o, 1); }

typedef int (*table_fn)(cairn_table *);

static int table_simple(json_t *args, table_fn fn)
{
    slot *s;
    int rc = slot_get(args, SLOT_TABLE, &s);
    return rc ? rc : fn(s->table);
}

static int table_begin(json_t *a, json_t **o) { (void)o; return table_simple(a, cairn_table_begin); }
static int table_commit(json_t *a, json_t **o) { (void)o; return table_simple(a, cairn_table_commit); }
static int table_rollback(json_t *a, json_t **o) { (void)o; return table_simple(a, cairn_table_rollback); }
static int table_sync(json_t *a, json_t **o) { (void)o; return table_simple(a, cairn_table_sync); }
static int table_compact(json_t *a, json_t **o) { (void)o; return table_simple(a, cairn_table_compact); }

static int table_in_txn(json_t *a, json_t **o) { return in_txn_out(table_simple(a, cairn_table_in_txn), o); }

static int table_stats(json_t *args, json_t **out)
{
    slot *s;
    struct cairn_table_stats st = CAIRN_TABLE_STATS_INIT;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0 || (rc = cairn_table_stats(s->table, &st)) != 0)
        return rc;
    *out = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "rows", (json_int_t)st.rows, "deleted_rows",
                     (json_int_t)st.deleted_rows, "next_id", (json_int_t)st.next_id, "row_groups",
                     (json_int_t)st.row_groups, "segments", (json_int_t)st.segments, "tail_rows",
                     (json_int_t)st.tail_rows, "disk_bytes", (json_int_t)st.disk_bytes, "wal_bytes",
                     (json_int_t)st.wal_bytes, "columns", (json_int_t)st.columns, "in_txn", st.in_txn != 0);
    return 0;
}

static int table_check(json_t *args, json_t **out)
{
    const char *path = NULL;
    int rc = get_string(args, "path", &path);
    (void)out;
    return rc ? rc : cairn_table_check(path);
}

static int table_repair(json_t *args, json_t **out)
{
    const char *path = NULL;
    uint64_t rebuilt = 0;
    int rc = get_string(args, "path", &path);
    if (rc == 0) rc = cairn_table_repair(path, &rebuilt);
    if (rc == 0) *out = json_integer((json_int_t)rebuilt);
    return rc;
}

static const char *table_event_name(int ev)
{
    switch (ev) {
    case CAIRN_TABLE_INSERTED: return "inserted";
    case CAIRN_TABLE_UPDATED: return "updated";
    case CAIRN_TABLE_DELETED: return "deleted";
    default: return "unknown";
    }
}

static void on_table_event(void *ctx, int ev, uint64_t id, const char *new_row, const char *old_row)
{
    sub *sb = ctx;
    slot *s = sb->slot;
    json_t *nr = NULL, *or_ = NULL;
    if (new_row && row_from_c(s->table, new_row, &nr) != 0)
        nr = json_string("<unparsable row>");
    if (old_row && row_from_c(s->table, old_row, &or_) != 0)
        or_ = json_string("<unparsable row>");
    if (!s->tevs)
        s->tevs = json_array();
    json_array_append_new(s->tevs, json_pack("[s,I,o,o]", table_event_name(ev), (json_int_t)id,
                                             nr ? nr : json_null(), or_ ? or_ : json_null()));
}

static int table_subscribe(json_t *args, json_t **out)
{
    slot *s;
    sub *sb;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0)
        return rc;
    if (!(sb = calloc(1, sizeof *sb)))
        return terr(CAIRN_NOMEM, "out of memory");
    sb->slot = s;
    if ((rc = cairn_table_subscribe(s->table, on_table_event, sb, &sb->id)) != 0) {
        free(sb);
        return rc;
    }
    sb->next = s->subs;
    s->subs = sb;
    *out = json_integer((json_int_t)sb->id);
    return 0;
}

static int table_unsubscribe(json_t *args, json_t **out)
{
    slot *s;
    sub **p;
    json_int_t id = 0;
    int rc;
    (void)out;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0 ||
        (rc = get_int(json_object_get(args, "id"), "id", 0, INT64_MAX, &id)) != 0)
        return rc;
    for (p = &s->subs; *p; p = &(*p)->next) {
        if ((*p)->id == (uint64_t)id) {
            sub *dead = *p;
            if ((rc = cairn_table_unsubscribe(s->table, dead->id)) != 0)
                return rc;
            *p = dead->next;
            free(dead);
            return 0;
        }
    }
    return terr(CAIRN_NOTFOUND, "no subscription %lld on this handle", (long long)id);
}

static int table_events(json_t *args, json_t **out)
{
    slot *s;
    int rc;
    if ((rc = slot_get(args, SLOT_TABLE, &s)) != 0)
        return rc;
    *out = s->tevs ? s->tevs : json_array();
    s->tevs = NULL;
    return 0;
}

/* ---- versioned store ops (PROTOCOL.md "Ops: versioned store") ---------------------------- */

static int repo_open(json_t *args, json_t **out)
{
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    open_args a = {NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
    slot *s;
    int rc, fresh;
    (void)out;
    a.create = o.create, a.read_only = o.read_only, a.sync = o.sync;
    a.lock_timeout_ms = o.lock_timeout_ms, a.cache_bytes = o.cache_bytes;
    if ((rc = get_open_args(args, SLOT_REPO, &a)) != 0)
        return rc;
    o.create = a.create, o.read_only = a.read_only, o.sync = a.sync;
    o.lock_timeout_ms = a.lock_timeout_ms, o.cache_bytes = a.cache_bytes;
    if ((rc = slot_for_open(a.name, SLOT_REPO, &s, &fresh)) != 0)
        return rc;
    if ((rc = cairn_repo_open(&s->repo, a.path, &o)) != 0) {
        s->repo = NULL;
        if (fresh)
            slot_drop(s);
        return rc;
    }
    s->closed = 0;
    return 0;
}

static int repo_close(json_t *args, json_t **out)
{
    return kv_close(args, out); /* same slot logic */
}

/* An optional digest argument: absent or null -> NULL, else a string (a host value of another
 * type is CAIRN_TYPE; a malformed string is the engine's CAIRN_INVALID). */
static int get_opt_digest(json_t *args, const char *name, const char **out)
{
    json_t *v = json_object_get(args, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return terr(CAIRN_TYPE, "%s: expected a digest string", name);
    *out = json_string_value(v);
    return 0;
}

/* The engine's JSON text (caller-owned) as a result. */
static int engine_json(char *text, json_t **out)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    cairn_free(text);
    if (!v)
        return terr(CAIRN_INTERNAL, "the engine gave JSON that does not parse: %s", e.text);
    *out = v;
    return 0;
}

/* A tenant, entry, user or tag name: a string without NUL (a C string cannot carry one; a
 * binding refuses it as the engine refuses control characters: CAIRN_INVALID). */
static int get_name(json_t *args, const char *name, const char **out)
{
    int rc = get_string(args, name, out);
    if (rc == 0 && strlen(*out) != json_string_length(json_object_get(args, name)))
        return terr(CAIRN_INVALID, "%s: a name cannot hold NUL", name);
    return rc;
}

/* The arguments every repo op starts with: the open repo slot and `tenant`. */
static int repo_tenant(json_t *args, slot **s, const char **tenant)
{
    int rc = slot_get(args, SLOT_REPO, s);
    return rc ? rc : get_name(args, "tenant", tenant);
}

/* A NOTFOUND of a read is the host's "missing" value (null), as kv.get. */
static int missing_is_null(int rc, json_t **out)
{
    if (rc == CAIRN_NOTFOUND) {
        *out = json_null();
        return 0;
    }
    return rc;
}

static int repo_init(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant;
    int rc = repo_tenant(args, &s, &tenant);
    (void)out;
    return rc ? rc : cairn_repo_init(s->repo, tenant);
}

static int repo_tenants(json_t *args, json_t **out)
{
    slot *s;
    char *text = NULL;
    int rc;
    if ((rc = slot_get(args, SLOT_REPO, &s)) != 0 || (rc = cairn_repo_tenants(s->repo, &text)) != 0)
        return rc;
    return engine_json(text, out);
}

static int repo_entries(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant;
    char *text = NULL;
    int rc;
    if ((rc = repo_tenant(args, &s, &tenant)) != 0 || (rc = cairn_repo_entries(s->repo, tenant, &text)) != 0)
        return rc;
    return engine_json(text, out);
}

/* tenant, user and entry: the arguments of every change. */
static int repo_change_args(json_t *args, slot **s, const char **tenant, const char **user, const char **entry)
{
    int rc = repo_tenant(args, s, tenant);
    if (rc == 0)
        rc = get_name(args, "user", user);
    if (rc == 0)
        rc = get_name(args, "entry", entry);
    return rc;
}

static int repo_save(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *user, *entry;
    buf val = {NULL, 0};
    char digest[CAIRN_DIGEST_HEX + 1];
    int kind = 0, rc;
    if ((rc = repo_change_args(args, &s, &tenant, &user, &entry)) != 0)
        return rc;
    if (!json_object_get(args, "value"))
        return terr(CAIRN_INVALID, "missing argument 'value'");
    if ((rc = get_value(json_object_get(args, "value"), &val, &kind)) != 0)
        return rc;
    rc = cairn_repo_save(s->repo, tenant, user, entry, val.p ? (void *)val.p : (void *)"", val.n, kind, digest);
    buf_free(&val);
    if (rc == 0)
        *out = json_string(digest);
    return rc;
}

static int repo_load(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *entry, *digest;
    void *val = NULL;
    size_t len = 0;
    int kind = 0, rc;
    if ((rc = repo_tenant(args, &s, &tenant)) != 0 || (rc = get_name(args, "entry", &entry)) != 0 ||
        (rc = get_opt_digest(args, "digest", &digest)) != 0)
        return rc;
    rc = cairn_repo_load(s->repo, tenant, entry, digest, &val, &len, &kind);
    if (rc == 0)
        rc = value_json(val, len, kind, out);
    cairn_free(val);
    return missing_is_null(rc, out);
}

static int repo_exists(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *entry;
    int rc;
    if ((rc = repo_tenant(args, &s, &tenant)) != 0 || (rc = get_name(args, "entry", &entry)) != 0)
        return rc;
    rc = cairn_repo_exists(s->repo, tenant, entry);
    if (rc < 0)
        return rc;
    *out = json_boolean(rc == 1);
    return 0;
}

static int repo_digest(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *entry;
    char digest[CAIRN_DIGEST_HEX + 1];
    int rc;
    if ((rc = repo_tenant(args, &s, &tenant)) != 0 || (rc = get_name(args, "entry", &entry)) != 0)
        return rc;
    rc = cairn_repo_digest(s->repo, tenant, entry, digest);
    if (rc == 0)
        *out = json_string(digest);
    return missing_is_null(rc, out);
}

static int repo_put(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *user, *entry;
    buf key = {NULL, 0}, val = {NULL, 0};
    char digest[CAIRN_DIGEST_HEX + 1];
    int kind = 0, rc;
    if ((rc = repo_change_args(args, &s, &tenant, &user, &entry)) != 0 || (rc = get_key(args, "key", &key)) != 0)
        return rc;
    if (!json_object_get(args, "value"))
        rc = terr(CAIRN_INVALID, "missing argument 'value'");
    else
        rc = get_value(json_object_get(args, "value"), &val, &kind);
    if (rc == 0)
        rc = cairn_repo_put(s->repo, tenant, user, entry, key.p ? (void *)key.p : (void *)"", key.n,
                            val.p ? (void *)val.p : (void *)"", val.n, kind, digest);
    buf_free(&key);
    buf_free(&val);
    if (rc == 0)
        *out = json_string(digest);
    return rc;
}

static int repo_put_many(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *user, *entry;
    json_t *records = json_object_get(args, "records"), *rec;
    char digest[CAIRN_DIGEST_HEX + 1];
    size_t n, i, done = 0;
    buf *keys = NULL, *vals = NULL;
    const void **kp = NULL, **vp = NULL;
    size_t *kl = NULL, *vl = NULL;
    int *kinds = NULL, rc;
    if ((rc = repo_change_args(args, &s, &tenant, &user, &entry)) != 0)
        return rc;
    if (!records)
        return terr(CAIRN_INVALID, "missing argument 'records'");
    if (!json_is_array(records))
        return terr(CAIRN_TYPE, "records: expected a list of [key, value]");
    n = json_array_size(records);
    keys = calloc(n + 1, sizeof *keys);
    vals = calloc(n + 1, sizeof *vals);
    kp = calloc(n + 1, sizeof *kp);
    vp = calloc(n + 1, sizeof *vp);
    kl = calloc(n + 1, sizeof *kl);
    vl = calloc(n + 1, sizeof *vl);
    kinds = calloc(n + 1, sizeof *kinds);
    if (!keys || !vals || !kp || !vp || !kl || !vl || !kinds)
        rc = terr(CAIRN_NOMEM, "out of memory");
    json_array_foreach(records, i, rec) {
        if (rc)
            break;
        if (!json_is_array(rec) || json_array_size(rec) != 2) {
            rc = terr(CAIRN_TYPE, "records[%zu]: expected [key, value]", i);
            break;
        }
        if ((rc = get_bytes(json_array_get(rec, 0), "key", &keys[i], NULL)) != 0 ||
            (rc = get_value(json_array_get(rec, 1), &vals[i], &kinds[i])) != 0)
            break;
        done = i + 1;
        kp[i] = keys[i].p ? (void *)keys[i].p : (void *)"";
        kl[i] = keys[i].n;
        vp[i] = vals[i].p ? (void *)vals[i].p : (void *)"";
        vl[i] = vals[i].n;
    }
    if (rc == 0)
        rc = cairn_repo_put_many(s->repo, tenant, user, entry, n, kp, kl, vp, vl, kinds, digest);
    for (i = 0; i <= done && keys && vals; i++) {
        buf_free(&keys[i]);
        buf_free(&vals[i]);
    }
    free(keys);
    free(vals);
    free(kp);
    free(vp);
    free(kl);
    free(vl);
    free(kinds);
    if (rc == 0)
        *out = json_string(digest);
    return rc;
}

static int repo_get(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *entry, *digest;
    buf key = {NULL, 0};
    void *val = NULL;
    size_t vlen = 0;
    int kind = 0, rc;
    if ((rc = repo_tenant(args, &s, &tenant)) != 0 || (rc = get_name(args, "entry", &entry)) != 0 ||
        (rc = get_opt_digest(args, "digest", &digest)) != 0 || (rc = get_key(args, "key", &key)) != 0)
        return rc;
    rc = cairn_repo_get(s->repo, tenant, entry, digest, key.p ? (void *)key.p : (void *)"", key.n, &val, &vlen,
                        &kind);
    buf_free(&key);
    if (rc == 0)
        rc = value_json(val, vlen, kind, out);
    cairn_free(val);
    return missing_is_null(rc, out);
}

static int repo_delete(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *user, *entry;
    buf key = {NULL, 0};
    char digest[CAIRN_DIGEST_HEX + 1];
    int rc;
    if ((rc = repo_change_args(args, &s, &tenant, &user, &entry)) != 0 || (rc = get_key(args, "key", &key)) != 0)
        return rc;
    rc = cairn_repo_delete(s->repo, tenant, user, entry, key.p ? (void *)key.p : (void *)"", key.n, digest);
    buf_free(&key);
    if (rc == 0)
        *out = json_string(digest);
    return rc;
}

static int repo_count(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *entry, *digest;
    uint64_t n = 0;
    int rc;
    if ((rc = repo_tenant(args, &s, &tenant)) != 0 || (rc = get_name(args, "entry", &entry)) != 0 ||
        (rc = get_opt_digest(args, "digest", &digest)) != 0 ||
        (rc = cairn_repo_count(s->repo, tenant, entry, digest, &n)) != 0)
        return rc;
    *out = json_integer((json_int_t)n);
    return 0;
}

static int repo_keys(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *entry, *digest;
    cairn_repo_iter *it = NULL;
    const void *k, *v;
    size_t klen, vlen;
    int kind, rc;
    json_t *list;
    if ((rc = repo_tenant(args, &s, &tenant)) != 0 || (rc = get_name(args, "entry", &entry)) != 0 ||
        (rc = get_opt_digest(args, "digest", &digest)) != 0 ||
        (rc = cairn_repo_iter_open(&it, s->repo, tenant, entry, digest)) != 0)
        return rc;
    list = json_array();
    while ((rc = cairn_repo_iter_next(it, &k, &klen, &v, &vlen, &kind)) == 0)
        json_array_append_new(list, key_json(k, klen));
    cairn_repo_iter_free(it);
    if (rc != CAIRN_ITEROVER) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}

static int repo_diff(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *from, *to;
    char *text = NULL;
    int rc;
    if ((rc = repo_tenant(args, &s, &tenant)) != 0)
        return rc;
    if (!json_object_get(args, "from") || !json_object_get(args, "to"))
        return terr(CAIRN_INVALID, "missing argument 'from' or 'to'");
    if ((rc = get_opt_digest(args, "from", &from)) != 0 || (rc = get_opt_digest(args, "to", &to)) != 0 ||
        (rc = cairn_repo_diff(s->repo, tenant, from, to, &text)) != 0)
        return rc;
    return engine_json(text, out);
}

static int repo_history(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *entry;
    json_t *m = json_object_get(args, "max");
    json_int_t max = 0;
    char *text = NULL;
    int rc;
    if ((rc = repo_tenant(args, &s, &tenant)) != 0 || (rc = get_name(args, "entry", &entry)) != 0)
        return rc;
    if (m && !json_is_null(m) && (rc = get_int(m, "max", 0, INT64_MAX, &max)) != 0)
        return rc;
    if ((rc = cairn_repo_history(s->repo, tenant, entry, (size_t)max, &text)) != 0)
        return rc;
    return engine_json(text, out);
}

static int repo_tag(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant = NULL, *name = NULL, *digest = NULL;
    int rc;
    (void)out;
    if ((rc = repo_tenant(args, &s, &tenant)) != 0 || (rc = get_name(args, "name", &name)) != 0 ||
        (rc = get_string(args, "digest", &digest)) != 0)
        return rc;
    return cairn_repo_tag(s->repo, tenant, name, digest);
}

static int repo_tag_get(json_t *args, json_t **out)
{
    slot *s;
    const char *tenant, *name;
    char digest[CAIRN_DIGEST_HEX + 1];
    int rc;
    if ((rc = repo_tenant(args, &s, &tenant)) != 0 || (rc = get_name(args, "name", &name)) != 0)
        return rc;
    rc = cairn_repo_tag_get(s->repo, tenant, name, digest);
    if (rc == 0)
        *out = json_string(digest);
    return missing_is_null(rc, out);
}

static int repo_gc(json_t *args, json_t **out)
{
    slot *s;
    json_t *g = json_object_get(args, "grace_ms");
    json_int_t grace = 0;
    uint64_t removed = 0;
    int rc;
    if ((rc = slot_get(args, SLOT_REPO, &s)) != 0)
        return rc;
    if (g && !json_is_null(g) && (rc = get_int(g, "grace_ms", 0, INT64_MAX, &grace)) != 0)
        return rc;
    if ((rc = cairn_repo_gc(s->repo, (uint64_t)grace, &removed)) != 0)
        return rc;
    *out = json_integer((json_int_t)removed);
    return 0;
}

static int repo_stats(json_t *args, json_t **out)
{
    slot *s;
    struct cairn_repo_stats st = CAIRN_REPO_STATS_INIT;
    int rc;
    if ((rc = slot_get(args, SLOT_REPO, &s)) != 0 || (rc = cairn_repo_stats(s->repo, &st)) != 0)
        return rc;
    *out = json_pack("{s:I,s:I,s:I}", "tenants", (json_int_t)st.tenants, "objects", (json_int_t)st.objects,
                     "disk_bytes", (json_int_t)st.disk_bytes);
    return 0;
}

static int repo_verify(json_t *args, json_t **out)
{
    const char *path = NULL;
    int rc = get_string(args, "path", &path);
    (void)out;
    return rc ? rc : cairn_repo_verify(path);
}

/* ---- common ops and dispatch -------------------------------------------------------------- */

static int op_reset(json_t *args, json_t **out)
{
    (void)args;
    (void)out;
    slots_reset();
    return 0;
}

/* ---- proc.fork (PROTOCOL.md "Ops: processes") ------------------------------------------- */

static json_t *run_op(const char *op, json_t *args);

/* write(2) all of it, through EINTR. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The child: run every step on the inherited slots, one JSON line per outcome into `fd`, close
 * every handle (the engine's close of an inherited handle only frees memory), then _exit. */
static void fork_child(json_t *steps, int fd)
{
    size_t i;
    json_t *st;
    int status = 0;
    json_array_foreach(steps, i, st) {
        json_t *resp = run_op(json_string_value(json_object_get(st, "op")), json_object_get(st, "args"));
        char *text = resp ? json_dumps(resp, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        json_decref(resp);
        if (!text || write_all(fd, text, strlen(text)) || write_all(fd, "\n", 1)) {
            free(text);
            status = 3;
            break;
        }
        free(text);
    }
    slots_reset();
    close(fd);
    _exit(status);
}

static int op_proc_fork(json_t *args, json_t **out)
{
    json_t *steps = json_object_get(args, "steps"), *st, *list;
    char *data = NULL, *line, *nl;
    size_t i, n = 0, cap = 0;
    int fds[2], status = 0, rc = 0;
    pid_t pid;

    if (!json_is_array(steps) || json_array_size(steps) == 0)
        return terr(CAIRN_INVALID, "proc.fork: steps must be a non-empty list");
    json_array_foreach(steps, i, st) {
        const char *op = json_string_value(json_object_get(st, "op"));
        if (!json_is_object(st) || !op || (strncmp(op, "kv.", 3) && strncmp(op, "blob.", 5)))
            return terr(CAIRN_INVALID, "proc.fork: step %zu must be {op: kv.* or blob.*, args}", i);
    }
    if (pipe(fds) != 0)
        return terr(CAIRN_IO, "proc.fork: pipe: %s", strerror(errno));
    fflush(stdout); /* nothing buffered may be written twice */
    pid = fork();
    if (pid < 0) {
        rc = terr(CAIRN_IO, "proc.fork: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return rc;
    }
    if (pid == 0) {
        close(fds[0]);
        fork_child(steps, fds[1]); /* does not return */
    }
    close(fds[1]);
    for (;;) { /* read every outcome until the child closes its end */
        ssize_t r;
        if (cap - n < 4096) {
            char *grown = realloc(data, cap + 65536);
            if (!grown) {
                rc = terr(CAIRN_NOMEM, "out of memory");
                break;
            }
            data = grown;
            cap += 65536;
        }
        r = read(fds[0], data + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (rc) {
        free(data);
        return rc;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(data);
        if (WIFSIGNALED(status))
            return terr(CAIRN_INTERNAL, "proc.fork: the child died of signal %d", WTERMSIG(status));
        return terr(CAIRN_INTERNAL, "proc.fork: the child exited with status %d", WEXITSTATUS(status));
    }
    data[n] = 0;
    list = json_array();
    for (line = data; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        json_t *resp = json_loadb(line, (size_t)(nl - line), JSON_ALLOW_NUL, NULL), *err;
        if (!resp || !json_is_object(resp)) {
            json_decref(resp);
            rc = terr(CAIRN_INTERNAL, "proc.fork: the child sent a line that is not a JSON object");
            break;
        }
        if ((err = json_object_get(resp, "error")) != NULL)
            json_array_append_new(list, json_pack("{s:O}", "error", err));
        else
            json_array_append(list, json_object_get(resp, "ok"));
        json_decref(resp);
    }
    free(data);
    if (!rc && json_array_size(list) != json_array_size(steps))
        rc = terr(CAIRN_INTERNAL, "proc.fork: %zu outcomes for %zu steps", json_array_size(list),
                  json_array_size(steps));
    if (rc) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}

typedef int (*op_fn)(json_t *args, json_t **out);

static const struct {
    const char *name;
    op_fn fn;
} g_ops[] = {
    {"reset", op_reset},
    {"clock.set", op_clock_set},
    {"kv.open", kv_open},
    {"kv.close", kv_close},
    {"kv.put", kv_put},
    {"kv.get", kv_get},
    {"kv.delete", kv_delete},
    {"kv.exists", kv_exists},
    {"kv.count", kv_count},
    {"kv.keys", kv_keys},
    {"kv.update", kv_update},
    {"kv.begin", kv_begin},
    {"kv.commit", kv_commit},
    {"kv.rollback", kv_rollback},
    {"kv.in_txn", kv_in_txn},
    {"kv.sync", kv_sync},
    {"kv.compact", kv_compact},
    {"kv.stats", kv_stats},
    {"kv.metrics", kv_metrics},
    {"kv.expiry", kv_expiry},
    {"kv.check", kv_check},
    {"kv.snapshot", kv_snapshot},
    {"kv.snapshots", kv_snapshots},
    {"kv.open_snapshot", kv_open_snapshot},
    {"kv.drop_snapshot", kv_drop_snapshot},
    {"kv.backup", kv_backup},
    {"blob.snapshot", blob_snapshot},
    {"blob.snapshots", blob_snapshots},
    {"blob.open_snapshot", blob_open_snapshot},
    {"blob.drop_snapshot", blob_drop_snapshot},
    {"blob.backup", blob_backup},
    {"table.snapshot", table_snapshot},
    {"table.snapshots", table_snapshots},
    {"table.open_snapshot", table_open_snapshot},
    {"table.drop_snapshot", table_drop_snapshot},
    {"table.backup", table_backup},
    {"blob.open", blob_open},
    {"blob.close", blob_close},
    {"blob.create", blob_create},
    {"blob.reserve_next_key", blob_reserve},
    {"blob.create_with_key", blob_create_with_key},
    {"blob.read", blob_read},
    {"blob.update", blob_update},
    {"blob.delete", blob_delete},
    {"blob.exists", blob_exists},
    {"blob.count", blob_count},
    {"blob.keys", blob_keys},
    {"blob.sync", blob_sync},
    {"blob.compact", blob_compact},
    {"blob.begin", blob_begin},
    {"blob.commit", blob_commit},
    {"blob.rollback", blob_rollback},
    {"blob.in_txn", blob_in_txn},
    {"blob.stats", blob_stats},
    {"blob.metrics", blob_metrics},
    {"blob.check", blob_check},
    {"blob.subscribe", blob_subscribe},
    {"blob.unsubscribe", blob_unsubscribe},
    {"blob.events", blob_events},
    {"table.open", table_open},
    {"table.close", table_close},
    {"table.schema", table_schema},
    {"table.add_column", table_add_column},
    {"table.insert", table_insert},
    {"table.insert_many", table_insert_many},
    {"table.upsert", table_upsert},
    {"table.load", table_load},
    {"table.get", table_get},
    {"table.update", table_update},
    {"table.delete", table_delete},
    {"table.count", table_count},
    {"table.rows", table_rows},
    {"table.query", table_query},
    {"table.join", table_join},
    {"table.export", table_export},
    {"table.count_where", table_count_where},
    {"table.create_index", table_create_index},
    {"table.drop_index", table_drop_index},
    {"table.indexes", table_indexes},
    {"table.lookup", table_lookup},
    {"table.find", table_find},
    {"table.range_find", table_range_find},
    {"table.begin", table_begin},
    {"table.commit", table_commit},
    {"table.rollback", table_rollback},
    {"table.in_txn", table_in_txn},
    {"table.sync", table_sync},
    {"table.compact", table_compact},
    {"table.stats", table_stats},
    {"table.metrics", table_metrics},
    {"table.check", table_check},
    {"table.repair", table_repair},
    {"table.subscribe", table_subscribe},
    {"table.unsubscribe", table_unsubscribe},
    {"table.events", table_events},
    {"repo.open", repo_open},
    {"repo.close", repo_close},
    {"repo.init", repo_init},
    {"repo.tenants", repo_tenants},
    {"repo.entries", repo_entries},
    {"repo.save", repo_save},
    {"repo.load", repo_load},
    {"repo.exists", repo_exists},
    {"repo.digest", repo_digest},
    {"repo.put", repo_put},
    {"repo.put_many", repo_put_many},
    {"repo.get", repo_get},
    {"repo.delete", repo_delete},
    {"repo.count", repo_count},
    {"repo.keys", repo_keys},
    {"repo.diff", repo_diff},
    {"repo.history", repo_history},
    {"repo.tag", repo_tag},
    {"repo.tag_get", repo_tag_get},
    {"repo.gc", repo_gc},
    {"repo.stats", repo_stats},
    {"repo.metrics", repo_metrics},
    {"repo.verify", repo_verify},
    {"proc.fork", op_proc_fork},
};

/* Any `$native` anywhere in the arguments is a host value of the wrong type: a binding's type
 * check rejects it before the engine is reached, so the reference does the same. */
static int has_native(json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        if (json_object_get(v, "$native") && json_object_size(v) == 1)
            return 1;
        if (is_tagged(v, "$json")) /* a JSON document is data, whatever its keys */
            return 0;
        json_object_foreach(v, k, x) {
            if (has_native(x))
                return 1;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            if (has_native(x))
                return 1;
        }
    }
    return 0;
}

/* Run one op: {"ok": result} or {"error": NAME, "message": text}. `args` may be NULL (no args). */
static json_t *run_op(const char *op, json_t *args)
{
    json_t *result = NULL, *resp;
    size_t i;
    int rc = CAIRN_UNSUPPORTED, found = 0;

    g_own_msg = 0;
    g_msg[0] = 0;
    cairn_errclear();
    if (!args || json_is_null(args))
        args = json_object();
    else
        json_incref(args);
    for (i = 0; i < sizeof g_ops / sizeof g_ops[0]; i++) {
        if (!strcmp(g_ops[i].name, op)) {
            found = 1;
            if (!json_is_object(args))
                rc = terr(CAIRN_INVALID, "args must be an object");
            else if (strcmp(op, "kv.close") && strcmp(op, "blob.close") && strcmp(op, "table.close") &&
                     strcmp(op, "repo.close") && strcmp(op, "proc.fork") &&
                     has_native(args)) /* a child step of proc.fork is checked when it runs */
                rc = terr(CAIRN_TYPE, "%s: an argument has the wrong host type", op);
            else
                rc = g_ops[i].fn(args, &result);
            break;
        }
    }
    if (!found)
        rc = terr(CAIRN_UNSUPPORTED, "unknown op '%s'", op);
    if (rc == 0) {
        resp = json_object();
        json_object_set_new(resp, "ok", result ? result : json_null());
    } else {
        json_decref(result);
        resp = json_pack("{s:s,s:s}", "error", cairn_errname(rc), "message", g_own_msg ? g_msg : cairn_errmsg());
    }
    json_decref(args);
    return resp;
}

static json_t *handle_line(const char *line, size_t len)
{
    json_error_t e;
    size_t mlen = 0;
    char *marked = mark_bigints(line, len, &mlen);
    json_t *req = marked ? json_loadb(marked, mlen, JSON_ALLOW_NUL, &e) : NULL, *resp;
    int rc;
    free(marked);
    if (!marked) {
        g_own_msg = 0;
        rc = terr(CAIRN_NOMEM, "out of memory");
        return json_pack("{s:s,s:s}", "error", cairn_errname(rc), "message", g_msg);
    }

    if (!req || !json_is_object(req) || !json_is_string(json_object_get(req, "op"))) {
        g_own_msg = 0;
        rc = terr(CAIRN_INVALID, "bad request: %s", req ? "not an object with a string op" : e.text);
        json_decref(req);
        return json_pack("{s:s,s:s}", "error", cairn_errname(rc), "message", g_msg);
    }
    resp = run_op(json_string_value(json_object_get(req, "op")), json_object_get(req, "args"));
    json_decref(req);
    return resp;
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    while ((n = getline(&line, &cap, stdin)) >= 0) {
        json_t *resp;
        char *text;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n == 0)
            continue;
        resp = handle_line(line, (size_t)n);
        text = json_dumps(resp, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(resp);
        if (text)
            unmark_bigints(text);
        if (!text) /* only on out of memory: still answer */
            fputs("{\"error\":\"CAIRN_NOMEM\",\"message\":\"cannot serialise the reply\"}\n", stdout);
        else {
            fputs(text, stdout);
            fputc('\n', stdout);
            free(text);
        }
        fflush(stdout);
    }
    free(line);
    slots_reset();
    return 0;
}
