/*
 * blob_bench.c - Cairn's blob store against SQLite and LMDB, from C.
 *
 * For each blob size S (default 100 B and 4 KiB) and each durability class:
 *   create   N blobs of S bytes (the store assigns the keys; LMDB: the next uint32)
 *   reopen   close and open again (the blob store rebuilds or loads its index)
 *   read     N reads in random order, every byte verified
 *   update   same size (S), grow (2S), shrink (S/2): N each, random order
 *   delete   N deletes, random order
 * Every operation is its own transaction in every engine; the classes are
 *   no fsync   Cairn CAIRN_SYNC_NONE, SQLite WAL + synchronous=NORMAL, LMDB MDB_NOSYNC
 *              (crash-consistent, an OS crash may lose the last commits), N = --blobs (100k)
 *   fsync      Cairn CAIRN_SYNC_COMMIT, SQLite WAL + synchronous=FULL, LMDB default
 *              (every commit durable when it returns), N = --durable (2k; fsyncs are slow)
 * SQLite: a table blobs(id INTEGER PRIMARY KEY, data BLOB). LMDB: MDB_INTEGERKEY, uint32 keys.
 * A rate counts the time inside the engine's calls only (each call timed): generating a blob's
 * bytes and verifying every byte read back are the driver's work, outside the timing.
 */
#include "bench_common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cairn.h"
#ifdef BENCH_HAVE_LMDB
#include <lmdb.h>
#endif
#ifdef BENCH_HAVE_SQLITE
#include <sqlite3.h>
#endif

typedef struct bengine {
    const char *name;
    const char *version;
    void *(*open)(const char *dir, int durable);
    void (*close)(void *h);
    int (*create)(void *h, const void *data, size_t len, uint32_t *key);
    /* 0 found (copied to buf, *len = full size), 1 not found, -1 error */
    int (*read)(void *h, uint32_t key, void *buf, size_t cap, size_t *len);
    int (*update)(void *h, uint32_t key, const void *data, size_t len);
    int (*del)(void *h, uint32_t key);
} bengine;

/* ---------------------------------------------------------------------------------------- */
/* Cairn                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static int cb_fail(const char *what, int rc) {
    bench_log("  cairn: %s: %s (%s)", what, cairn_errname(rc), cairn_errmsg());
    return -1;
}

static void *cb_open(const char *dir, int durable) {
    cairn_blob *b = NULL;
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    char path[4096];
    int rc;
    o.sync = durable ? CAIRN_SYNC_COMMIT : CAIRN_SYNC_NONE;
    snprintf(path, sizeof path, "%s/blobs.cairn", dir);
    rc = cairn_blob_open(&b, path, &o);
    if (rc) {
        cb_fail("open", rc);
        return NULL;
    }
    return b;
}

static void cb_close(void *h) { cairn_blob_close(h); }

static int cb_create(void *h, const void *data, size_t len, uint32_t *key) {
    int rc = cairn_blob_create(h, data, len, key);
    return rc ? cb_fail("create", rc) : 0;
}

static int cb_read(void *h, uint32_t key, void *buf, size_t cap, size_t *len) {
    void *data = NULL;
    size_t n = 0;
    int rc = cairn_blob_read(h, key, &data, &n);
    if (rc == CAIRN_NOTFOUND) return 1;
    if (rc) return cb_fail("read", rc);
    memcpy(buf, data, n < cap ? n : cap);
    *len = n;
    cairn_free(data);
    return 0;
}

static int cb_update(void *h, uint32_t key, const void *data, size_t len) {
    int rc = cairn_blob_update(h, key, data, len);
    return rc ? cb_fail("update", rc) : 0;
}

static int cb_del(void *h, uint32_t key) {
    int rc = cairn_blob_delete(h, key);
    return rc ? cb_fail("delete", rc) : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* SQLite                                                                                    */
/* ---------------------------------------------------------------------------------------- */
#ifdef BENCH_HAVE_SQLITE
typedef struct sb {
    sqlite3 *db;
    sqlite3_stmt *ins, *sel, *upd, *del;
} sb;

static int sb_fail(sb *s, const char *what) {
    bench_log("  sqlite: %s: %s", what, s && s->db ? sqlite3_errmsg(s->db) : "?");
    return -1;
}

static void sb_close(void *h) {
    sb *s = h;
    if (!s) return;
    sqlite3_finalize(s->ins);
    sqlite3_finalize(s->sel);
    sqlite3_finalize(s->upd);
    sqlite3_finalize(s->del);
    sqlite3_close(s->db);
    free(s);
}

static void *sb_open(const char *dir, int durable) {
    sb *s = calloc(1, sizeof *s);
    char path[4096];
    if (!s) return NULL;
    snprintf(path, sizeof path, "%s/blobs.sqlite", dir);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) goto fail;
    if (sqlite3_exec(s->db, durable ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                    : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_exec(s->db, "PRAGMA cache_size=-65536; PRAGMA mmap_size=1073741824;"
                            "CREATE TABLE IF NOT EXISTS blobs(id INTEGER PRIMARY KEY, data BLOB NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO blobs(data) VALUES(?)", -1, &s->ins, NULL) ||
        sqlite3_prepare_v2(s->db, "SELECT data FROM blobs WHERE id = ?", -1, &s->sel, NULL) ||
        sqlite3_prepare_v2(s->db, "UPDATE blobs SET data = ? WHERE id = ?", -1, &s->upd, NULL) ||
        sqlite3_prepare_v2(s->db, "DELETE FROM blobs WHERE id = ?", -1, &s->del, NULL))
        goto fail;
    return s;
fail:
    sb_fail(s, "open");
    sb_close(s);
    return NULL;
}

static int sb_create(void *h, const void *data, size_t len, uint32_t *key) {
    sb *s = h;
    int rc;
    sqlite3_bind_blob(s->ins, 1, data, (int)len, SQLITE_STATIC);
    rc = sqlite3_step(s->ins);
    sqlite3_reset(s->ins);
    if (rc != SQLITE_DONE) return sb_fail(s, "insert");
    *key = (uint32_t)sqlite3_last_insert_rowid(s->db);
    return 0;
}

static int sb_read(void *h, uint32_t key, void *buf, size_t cap, size_t *len) {
    sb *s = h;
    int rc;
    sqlite3_bind_int64(s->sel, 1, key);
    rc = sqlite3_step(s->sel);
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(s->sel, 0);
        const void *v = sqlite3_column_blob(s->sel, 0);
        if (n) memcpy(buf, v, n < cap ? n : cap);
        *len = n;
        sqlite3_reset(s->sel);
        return 0;
    }
    sqlite3_reset(s->sel);
    return rc == SQLITE_DONE ? 1 : sb_fail(s, "select");
}

static int sb_update(void *h, uint32_t key, const void *data, size_t len) {
    sb *s = h;
    int rc;
    sqlite3_bind_blob(s->upd, 1, data, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(s->upd, 2, key);
    rc = sqlite3_step(s->upd);
    sqlite3_reset(s->upd);
    if (rc != SQLITE_DONE) return sb_fail(s, "update");
    return sqlite3_changes(s->db) == 1 ? 0 : sb_fail(s, "update: no such row");
}

static int sb_del(void *h, uint32_t key) {
    sb *s = h;
    int rc;
    sqlite3_bind_int64(s->del, 1, key);
    rc = sqlite3_step(s->del);
    sqlite3_reset(s->del);
    if (rc != SQLITE_DONE) return sb_fail(s, "delete");
    return sqlite3_changes(s->db) == 1 ? 0 : sb_fail(s, "delete: no such row");
}
#endif

/* ---------------------------------------------------------------------------------------- */
/* LMDB                                                                                      */
/* ---------------------------------------------------------------------------------------- */
#ifdef BENCH_HAVE_LMDB
typedef struct lb {
    MDB_env *env;
    MDB_dbi dbi;
    unsigned int next; /* the application assigns keys: last key + 1 */
} lb;

static int lb_fail(const char *what, int rc) {
    bench_log("  lmdb: %s: %s", what, mdb_strerror(rc));
    return -1;
}

static void lb_close(void *h) {
    lb *l = h;
    if (!l) return;
    mdb_env_close(l->env);
    free(l);
}

static void *lb_open(const char *dir, int durable) {
    lb *l = calloc(1, sizeof *l);
    MDB_txn *t = NULL;
    MDB_cursor *c;
    MDB_val k, v;
    int rc;
    if (!l) return NULL;
    if ((rc = mdb_env_create(&l->env)) != 0) goto fail;
    if ((rc = mdb_env_set_mapsize(l->env, (size_t)32 << 30)) != 0) goto fail;
    if ((rc = mdb_env_open(l->env, dir, durable ? 0 : MDB_NOSYNC, 0644)) != 0) goto fail;
    if ((rc = mdb_txn_begin(l->env, NULL, 0, &t)) != 0) goto fail;
    if ((rc = mdb_dbi_open(t, NULL, MDB_INTEGERKEY, &l->dbi)) != 0) goto fail;
    if ((rc = mdb_cursor_open(t, l->dbi, &c)) != 0) goto fail;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (rc == 0) {
        unsigned int last;
        memcpy(&last, k.mv_data, sizeof last);
        l->next = last + 1;
    } else if (rc == MDB_NOTFOUND) {
        l->next = 1;
    } else {
        goto fail;
    }
    if ((rc = mdb_txn_commit(t)) != 0) {
        t = NULL;
        goto fail;
    }
    return l;
fail:
    lb_fail("open", rc);
    if (t) mdb_txn_abort(t);
    if (l->env) mdb_env_close(l->env);
    free(l);
    return NULL;
}

static int lb_write(lb *l, unsigned int key, const void *data, size_t len, unsigned flags) {
    MDB_txn *t;
    MDB_val k, v;
    int rc = mdb_txn_begin(l->env, NULL, 0, &t);
    if (rc) return lb_fail("txn_begin", rc);
    k.mv_data = &key;
    k.mv_size = sizeof key;
    v.mv_data = (void *)data;
    v.mv_size = len;
    if (data) rc = mdb_put(t, l->dbi, &k, &v, flags);
    else rc = mdb_del(t, l->dbi, &k, NULL);
    if (rc) {
        mdb_txn_abort(t);
        return lb_fail(data ? "put" : "del", rc);
    }
    rc = mdb_txn_commit(t);
    return rc ? lb_fail("commit", rc) : 0;
}

static int lb_create(void *h, const void *data, size_t len, uint32_t *key) {
    lb *l = h;
    static const char empty = 0;
    int rc = lb_write(l, l->next, data ? data : &empty, len, MDB_NOOVERWRITE);
    if (rc) return rc;
    *key = l->next++;
    return 0;
}

static int lb_read(void *h, uint32_t key, void *buf, size_t cap, size_t *len) {
    lb *l = h;
    MDB_txn *t;
    MDB_val k, v;
    unsigned int kk = key;
    /* one read transaction per read: each read stands alone, as in the other engines */
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &t);
    if (rc) return lb_fail("read txn", rc);
    k.mv_data = &kk;
    k.mv_size = sizeof kk;
    rc = mdb_get(t, l->dbi, &k, &v);
    if (rc == 0) {
        memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
        *len = v.mv_size;
    }
    mdb_txn_abort(t);
    if (rc == MDB_NOTFOUND) return 1;
    return rc ? lb_fail("get", rc) : 0;
}

static int lb_update(void *h, uint32_t key, const void *data, size_t len) {
    static const char empty = 0;
    return lb_write(h, key, data ? data : &empty, len, 0);
}

static int lb_del(void *h, uint32_t key) { return lb_write(h, key, NULL, 0, 0); }
#endif

static bengine engines[] = {
    {"Cairn", CAIRN_VERSION_STRING, cb_open, cb_close, cb_create, cb_read, cb_update, cb_del},
#ifdef BENCH_HAVE_SQLITE
    {"SQLite", SQLITE_VERSION, sb_open, sb_close, sb_create, sb_read, sb_update, sb_del},
#endif
#ifdef BENCH_HAVE_LMDB
    {"LMDB", "?", lb_open, lb_close, lb_create, lb_read, lb_update, lb_del},
#endif
};
#define NENG (sizeof engines / sizeof engines[0])

/* ---------------------------------------------------------------------------------------- */
/* The run                                                                                   */
/* ---------------------------------------------------------------------------------------- */

enum { OP_CREATE, OP_REOPEN, OP_READ, OP_SAME, OP_GROW, OP_SHRINK, OP_DELETE, OP_SIZE_CREATED, OP_SIZE_UPDATED, NOPS };
static const char *op_label[NOPS] = {
    "create (ops/s)", "reopen (ms)", "read, random order (ops/s)", "update, same size (ops/s)",
    "update, grow to 2x (ops/s)", "update, shrink to 1/2 (ops/s)", "delete (ops/s)",
    "file size after create (MiB)", "file size after the updates (MiB)"};

typedef struct bresult {
    int ran, failed;
    uint64_t bad;
    double v[NOPS];
    uint64_t done[NOPS]; /* operations done when a phase hit the time limit (else 0) */
} bresult;

typedef struct bopts {
    uint64_t blobs, durable;
    size_t sizes[4];
    int nsizes;
    const char *dir, *out, *only;
    int keep;
    double limit; /* seconds per phase */
} bopts;

static int verify(const unsigned char *got, size_t len, size_t want_len, uint64_t i, uint64_t ver) {
    unsigned char *want;
    int ok;
    if (len != want_len) return 0;
    if (!len) return 1;
    want = malloc(len);
    if (!want) bench_die("out of memory");
    bench_fill(want, len, i, ver);
    ok = memcmp(got, want, len) == 0;
    free(want);
    return ok;
}

/* Run phase `op` over perm[0..n): returns the number of operations done before the time limit
 * (n if all), or -1 on an engine error. */
typedef int (*phase_fn)(bengine *e, void *h, uint64_t j, void *ctx);

typedef struct state state;
static double *spent_of(void *ctx);

/* The rate counts only the time spent inside the engine's calls (each phase function times its
 * call): making a blob's bytes and checking every byte read back are the driver's work, the same
 * for every engine, and for 4 KiB blobs they took longer than some engines' reads. */
static int64_t run_phase(bengine *e, void *h, const uint64_t *perm, uint64_t n, double limit, phase_fn fn,
                         void *ctx, double *rate) {
    double t0 = bench_now(), t;
    uint64_t i;
    *spent_of(ctx) = 0;
    for (i = 0; i < n; i++) {
        if (fn(e, h, perm ? perm[i] : i, ctx)) return -1;
        /* check the clock every 64 operations: a slow peer must not stall the whole run */
        if ((i & 63) == 63 && bench_now() - t0 > limit) {
            i++;
            break;
        }
    }
    t = *spent_of(ctx);
    *rate = (double)i / (t > 0 ? t : 1e-9);
    return (int64_t)i;
}

struct state {
    uint32_t *keys;
    size_t *len;      /* current length of blob j */
    uint64_t *ver;    /* current content version of blob j */
    unsigned char *buf, *rbuf;
    size_t cap, size, newlen;
    uint64_t newver, bad;
    double spent; /* seconds inside the engine's calls in this phase */
};

static double *spent_of(void *ctx) { return &((state *)ctx)->spent; }

static int do_create(bengine *e, void *h, uint64_t j, void *ctx) {
    state *st = ctx;
    double t;
    int rc;
    bench_fill(st->buf, st->size, j, 0);
    st->len[j] = st->size;
    st->ver[j] = 0;
    t = bench_now();
    rc = e->create(h, st->buf, st->size, &st->keys[j]);
    st->spent += bench_now() - t;
    return rc;
}

static int do_read(bengine *e, void *h, uint64_t j, void *ctx) {
    state *st = ctx;
    size_t len = 0;
    double t = bench_now();
    int rc = e->read(h, st->keys[j], st->rbuf, st->cap, &len);
    st->spent += bench_now() - t;
    if (rc < 0) return -1;
    if (rc == 1 || !verify(st->rbuf, len, st->len[j], j, st->ver[j])) st->bad++;
    return 0;
}

static int do_update(bengine *e, void *h, uint64_t j, void *ctx) {
    state *st = ctx;
    double t;
    int rc;
    bench_fill(st->buf, st->newlen, j, st->newver);
    t = bench_now();
    rc = e->update(h, st->keys[j], st->buf, st->newlen);
    st->spent += bench_now() - t;
    if (rc) return -1;
    st->len[j] = st->newlen;
    st->ver[j] = st->newver;
    return 0;
}

static int do_delete(bengine *e, void *h, uint64_t j, void *ctx) {
    state *st = ctx;
    double t = bench_now();
    int rc = e->del(h, st->keys[j]);
    st->spent += bench_now() - t;
    return rc;
}

static void run_one(bengine *e, const bopts *o, size_t size, int durable, const uint64_t *perm, uint64_t n,
                    bresult *r) {
    char name[128];
    char *dir;
    void *h;
    state st;
    double t0;
    int64_t done;
    uint64_t created, deleted, i;
    int k;
    const struct {
        int op;
        size_t len;
        uint64_t ver;
    } upd[3] = {{OP_SAME, size, 1}, {OP_GROW, 2 * size, 2}, {OP_SHRINK, size / 2, 3}};

    memset(&st, 0, sizeof st);
    st.size = size;
    st.cap = 4 * size + 16;
    st.keys = calloc(n, sizeof *st.keys);
    st.len = calloc(n, sizeof *st.len);
    st.ver = calloc(n, sizeof *st.ver);
    st.buf = malloc(st.cap);
    st.rbuf = malloc(st.cap);
    if (!st.keys || !st.len || !st.ver || !st.buf || !st.rbuf) bench_die("out of memory");
    for (k = 0; k < NOPS; k++) r->v[k] = NAN;
    r->ran = 1;
    snprintf(name, sizeof name, "%s-%zu-%s", e->name, size, durable ? "fsync" : "nosync");
    dir = bench_scratch(o->dir, name);
    bench_log("%s: %llu blobs of %zu bytes, %s", e->name, (unsigned long long)n, size,
              durable ? "fsync per commit" : "no fsync");
    sync(); /* start every run with no dirty pages of an earlier run being written back */

    if (!(h = e->open(dir, durable))) goto fail;
    /* creates run in index order (so blob j has key keys[j]); the other phases in random order */
    done = run_phase(e, h, NULL, n, o->limit, do_create, &st, &r->v[OP_CREATE]);
    if (done < 0) goto fail_close;
    created = (uint64_t)done;
    if (created < n) r->done[OP_CREATE] = created;
    e->close(h);
    r->v[OP_SIZE_CREATED] = (double)bench_dir_bytes(dir) / (1024.0 * 1024.0);

    t0 = bench_now();
    if (!(h = e->open(dir, durable))) goto fail;
    r->v[OP_REOPEN] = (bench_now() - t0) * 1e3;

    /* the later phases only touch the blobs that were created (perm entries >= created are skipped
     * by compacting the permutation) */
    {
        uint64_t *p = malloc((created ? created : 1) * sizeof *p), m = 0;
        if (!p) bench_die("out of memory");
        for (i = 0; i < n; i++)
            if (perm[i] < created) p[m++] = perm[i];
        if (!durable) {
            done = run_phase(e, h, p, m, o->limit, do_read, &st, &r->v[OP_READ]);
            if (done < 0) goto fail_phase;
            if ((uint64_t)done < m) r->done[OP_READ] = (uint64_t)done;
        }
        for (k = 0; k < 3; k++) {
            st.newlen = upd[k].len;
            st.newver = upd[k].ver;
            done = run_phase(e, h, p, m, o->limit, do_update, &st, &r->v[upd[k].op]);
            if (done < 0) goto fail_phase;
            if ((uint64_t)done < m) r->done[upd[k].op] = (uint64_t)done;
        }
        e->close(h);
        h = NULL;
        r->v[OP_SIZE_UPDATED] = (double)bench_dir_bytes(dir) / (1024.0 * 1024.0);

        /* after reopen every blob must read back as its last acknowledged write */
        if (!(h = e->open(dir, durable))) goto fail_phase;
        if (run_phase(e, h, p, m < 2000 ? m : 2000, 1e9, do_read, &st, &t0) < 0) goto fail_phase;

        done = run_phase(e, h, p, m, o->limit, do_delete, &st, &r->v[OP_DELETE]);
        if (done < 0) goto fail_phase;
        deleted = (uint64_t)done;
        if (deleted < m) r->done[OP_DELETE] = deleted;
        if (deleted) {
            size_t len;
            if (e->read(h, st.keys[p[0]], st.rbuf, st.cap, &len) != 1) st.bad++;
        }
        free(p);
        goto closed;
    fail_phase:
        free(p);
        if (h) goto fail_close;
        goto fail;
    }
closed:
    e->close(h);
    r->bad = st.bad;
    if (r->bad) bench_log("%s: %llu blobs missing or wrong!", e->name, (unsigned long long)r->bad);
    goto done;

fail_close:
    e->close(h);
fail:
    bench_log("%s: FAILED (the rest of this run is skipped)", e->name);
    r->failed = 1;
    r->bad = st.bad;
done:
    free(dir); /* removed with the whole scratch tree at the end (see main) */
    free(st.keys);
    free(st.len);
    free(st.ver);
    free(st.buf);
    free(st.rbuf);
}

static void report_table(FILE *f, size_t size, int durable, uint64_t n, bresult res[NENG]) {
    char a[64];
    size_t j;
    int k;
    fprintf(f, "\n**%zu-byte blobs, %s** (N = %llu, every operation its own transaction)\n\n", size,
            durable ? "fsync on every commit" : "no fsync on commit", (unsigned long long)n);
    fprintf(f, "| operation |");
    for (j = 0; j < NENG; j++) fprintf(f, " %s |", engines[j].name);
    for (j = 1; j < NENG; j++) fprintf(f, " Cairn/%s |", engines[j].name);
    fprintf(f, "\n| --- |");
    for (j = 0; j < 2 * NENG - 1; j++) fprintf(f, " ---: |");
    fprintf(f, "\n");
    for (k = 0; k < NOPS; k++) {
        if (durable && k == OP_READ) continue;
        fprintf(f, "| %s |", op_label[k]);
        for (j = 0; j < NENG; j++) {
            if (!res[j].ran) {
                fprintf(f, " skipped |");
                continue;
            }
            bench_fmt(a, sizeof a, res[j].v[k], k == OP_REOPEN || k >= OP_SIZE_CREATED ? 2 : 0);
            fprintf(f, " %s%s", a, res[j].failed && isnan(res[j].v[k]) ? " (failed)" : "");
            if (res[j].done[k]) fprintf(f, " (time limit: %llu done)", (unsigned long long)res[j].done[k]);
            fprintf(f, " |");
        }
        for (j = 1; j < NENG; j++) {
            bench_fmt_ratio(a, sizeof a, res[0].v[k], res[j].v[k]);
            fprintf(f, " %s |", a);
        }
        fprintf(f, "\n");
    }
    for (j = 0; j < NENG; j++) {
        if (res[j].failed) fprintf(f, "\n**%s failed during this run**: see the bench's stderr.\n", engines[j].name);
        if (res[j].bad) fprintf(f, "\n**%s returned wrong data**: %llu bad reads.\n", engines[j].name,
                                (unsigned long long)res[j].bad);
    }
}

static void usage(void) {
    fprintf(stderr,
            "usage: blob_bench [--blobs N] [--durable N] [--sizes 100,4096] [--dir DIR] [--only a,b] [--out FILE] [--keep]\n"
            "  --blobs N     blobs per run without fsync (default 100k)\n"
            "  --durable N   blobs per run with fsync on every commit (default 1k)\n"
            "  --sizes LIST  blob sizes in bytes (default 100,4096)\n"
            "  --only LIST   engines to run (Cairn,SQLite,LMDB)\n"
            "  --limit S     stop a phase after S seconds and report the rate so far (default 6)\n");
    exit(2);
}

static int selected(const char *only, const char *name) {
    const char *p = only;
    size_t n = strlen(name);
    if (!only) return 1;
    while (*p) {
        size_t l = strcspn(p, ",");
        if (l == n && !strncasecmp(p, name, n)) return 1;
        p += l;
        if (*p == ',') p++;
    }
    return 0;
}

int main(int argc, char **argv) {
    bopts o;
    char base[4096], date[64], mach[512], load0[16], load1[16];
    const char *tmp = getenv("TMPDIR");
    FILE *out = stdout;
    int i, s, d, failed = 0;
    size_t j;
    bresult res[2][4][NENG];

    memset(&o, 0, sizeof o);
    o.blobs = 100000;
    o.durable = 1000;
    o.sizes[0] = 100;
    o.sizes[1] = 4096;
    o.nsizes = 2;
    o.limit = 6;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--blobs")) o.blobs = bench_parse_count(a, v), i++;
        else if (!strcmp(a, "--durable")) o.durable = bench_parse_count(a, v), i++;
        else if (!strcmp(a, "--sizes") && v) {
            const char *p = v;
            o.nsizes = 0;
            while (*p && o.nsizes < 4) {
                char *end;
                unsigned long sz = strtoul(p, &end, 10);
                if (end == p || sz < 2 || sz > (64ul << 20)) bench_die("--sizes: bad size in %s", v);
                o.sizes[o.nsizes++] = sz;
                p = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') bench_die("--sizes: bad list %s", v);
            }
            i++;
        } else if (!strcmp(a, "--dir") && v) o.dir = v, i++;
        else if (!strcmp(a, "--only") && v) o.only = v, i++;
        else if (!strcmp(a, "--out") && v) o.out = v, i++;
        else if (!strcmp(a, "--limit")) o.limit = (double)bench_parse_count(a, v), i++;
        else if (!strcmp(a, "--keep")) o.keep = 1;
        else usage();
    }
    snprintf(base, sizeof base, "%s/cairn-blob-bench-%ld", o.dir ? o.dir : tmp && *tmp ? tmp : "/tmp", (long)getpid());
    o.dir = base;
    if (bench_mkdirs(base) != 0) bench_die("cannot create %s: %s", base, strerror(errno));
#ifdef BENCH_HAVE_LMDB
    {
        static char lmv[32];
        int ma, mi, pa;
        mdb_version(&ma, &mi, &pa);
        snprintf(lmv, sizeof lmv, "%d.%d.%d", ma, mi, pa);
        for (j = 0; j < NENG; j++)
            if (!strcmp(engines[j].name, "LMDB")) engines[j].version = lmv;
    }
#endif
#ifdef BENCH_HAVE_SQLITE
    for (j = 0; j < NENG; j++)
        if (!strcmp(engines[j].name, "SQLite")) engines[j].version = sqlite3_libversion();
#endif

    bench_loadavg(load0, sizeof load0);
    memset(res, 0, sizeof res);
    for (d = 0; d < 2; d++)
        for (s = 0; s < 4; s++)
            for (j = 0; j < NENG; j++)
                for (i = 0; i < NOPS; i++) res[d][s][j].v[i] = NAN; /* skipped: no ratio */
    for (d = 0; d < 2; d++) {
        uint64_t n = d ? o.durable : o.blobs, x;
        uint64_t *perm = malloc(n * sizeof *perm);
        bench_rng rng = {4242};
        if (!perm) bench_die("out of memory");
        for (x = 0; x < n; x++) perm[x] = x;
        for (x = n; x > 1; x--) { /* Fisher-Yates: the same random order for every engine */
            uint64_t y = bench_rng_below(&rng, x), t = perm[x - 1];
            perm[x - 1] = perm[y];
            perm[y] = t;
        }
        for (s = 0; s < o.nsizes; s++)
            for (j = 0; j < NENG; j++)
                if (selected(o.only, engines[j].name)) {
                    run_one(&engines[j], &o, o.sizes[s], d, perm, n, &res[d][s][j]);
                    failed |= res[d][s][j].failed || res[d][s][j].bad;
                }
        free(perm);
    }
    /* Scratch data is removed only now: the file system here discards freed blocks, and deleting
     * hundreds of MB between runs slowed the next run's fsyncs. */
    if (!o.keep) bench_rmrf(base);

    if (o.out && !(out = fopen(o.out, "w"))) bench_die("cannot write %s: %s", o.out, strerror(errno));
    bench_date(date, sizeof date);
    bench_machine(mach, sizeof mach);
    bench_loadavg(load1, sizeof load1);
    fprintf(out, "Generated by `bench/run.sh` (blob_bench) on %s. Machine: %s; load average %s at the start, %s at "
                 "the end. Versions:", date, mach, load0, load1);
    for (j = 0; j < NENG; j++) fprintf(out, " %s %s%s", engines[j].name, engines[j].version, j + 1 < NENG ? "," : ".");
    fprintf(out, " Classes: *no fsync* = Cairn CAIRN_SYNC_NONE, SQLite WAL + synchronous=NORMAL, LMDB "
                 "MDB_NOSYNC; *fsync* = Cairn CAIRN_SYNC_COMMIT, SQLite WAL + synchronous=FULL, LMDB default. "
                 "SQLite: `blobs(id INTEGER PRIMARY KEY, data BLOB)`, 64 MiB cache, 1 GiB mmap; LMDB: "
                 "MDB_INTEGERKEY uint32 keys, one read transaction per read. Ratios are Cairn/peer: above 1 is "
                 "better for Cairn in ops/s, below 1 is better in ms and MiB. File sizes include WAL/lock files. "
                 "Rates count the time inside each engine call (every call timed); making the blobs' bytes and "
                 "verifying every byte read back are outside it. "
                 "A phase stops after %.0f s of wall time (the rate is over the operations done; the later phases "
                 "use the blobs created).\n", o.limit);
#ifndef BENCH_HAVE_SQLITE
    fprintf(out, "\nSQLite: not built (its development package was missing).\n");
#endif
#ifndef BENCH_HAVE_LMDB
    fprintf(out, "\nLMDB: not built (its development package was missing).\n");
#endif
    for (d = 0; d < 2; d++)
        for (s = 0; s < o.nsizes; s++) report_table(out, o.sizes[s], d, d ? o.durable : o.blobs, res[d][s]);
    if (out != stdout) fclose(out);
    return failed ? 1 : 0;
}
