/*
 * kv_bench.c - Cairn's log KV against LMDB, LevelDB, RocksDB and SQLite, one workload, one run.
 *
 * Workload (every engine, same keys and bytes): N keys of 16 bytes (decimal digits, so bytewise
 * order is numeric order) with 100-byte pseudo-random (incompressible) values.
 *   load     sequential load without fsync, each engine in its fastest honest no-sync mode
 *   reopen   time to open the loaded store again, ready to serve a read
 *   get      N random gets (with replacement) after the reopen; every value is verified
 *   commit   D durable single-put commits from one thread (fsync before each commit returns)
 *   group    the same D commits from T writer threads sharing the handle
 *            (both interleaved: every store is open at once, in its durable mode, and the commits
 *            run in rounds, each a chunk of commit and a chunk of group for every engine in turn,
 *            so a change in fsync latency hits every engine and both phases alike)
 *   reclaim  delete every even key (no fsync), then reclaim / compact, then disk size;
 *            a sample of keys is verified afterwards (odd present and correct, even absent)
 *   limit    the plain-C limit: an append-only log written from a 64 KB buffer, an open-addressing
 *            keydir, values copied out of a mapping; every ratio against it comes from the same run
 * Durability per engine (see docs/benchmarks.md for the full list):
 *   Cairn    CAIRN_SYNC_NONE / CAIRN_SYNC_GROUP for commit and group (threads share one handle)
 *   LMDB     MDB_NOSYNC, load in transactions of 100k puts / default sync, one txn per put
 *   LevelDB  WriteBatch of 1000 with sync=false / sync=true per put (its writers group-commit)
 *   RocksDB  as LevelDB
 *   SQLite   WITHOUT ROWID table, WAL; load in one transaction with synchronous=OFF /
 *            synchronous=FULL, one connection per thread with busy_timeout
 * The report (markdown) goes to --out or stdout; progress goes to stderr.
 */
#include "bench_common.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#ifdef BENCH_HAVE_LMDB
#include <lmdb.h>
#endif
#ifdef BENCH_HAVE_LEVELDB
#include <leveldb/c.h>
#endif
#ifdef BENCH_HAVE_ROCKSDB
#include <rocksdb/c.h>
#endif
#ifdef BENCH_HAVE_SQLITE
#include <sqlite3.h>
#endif

#define VLEN 100
#define KLEN 16

enum { MODE_NOSYNC = 0, MODE_SYNC = 1, MODE_GROUP = 2 };

typedef struct engine {
    const char *name;
    const char *version;
    const char *settings; /* one line for the report */
    void *(*open)(const char *dir, int mode);
    void (*close)(void *h);
    /* sequential load of keys [0, n) with version-0 values, no fsync */
    int (*load)(void *h, uint64_t n);
    /* optional bracket around a run of gets (LMDB's read transaction) */
    int (*read_begin)(void *h);
    void (*read_end)(void *h);
    /* 0 found (value copied to buf, *vlen set), 1 not found, -1 error */
    int (*get)(void *h, const char *key, void *buf, size_t cap, size_t *vlen);
    /* one durable put, its own commit */
    int (*put1)(void *h, const char *key, const void *val, size_t vlen);
    /* per-thread handle for the multi-writer test (NULL: share the main handle) */
    void *(*thread_open)(void *h, const char *dir);
    void (*thread_close)(void *th);
    /* delete every even key of [0, n), no fsync */
    int (*del_even)(void *h, uint64_t n);
    /* reclaim / compact (NULL: the engine has none) */
    int (*compact)(void *h);
    /* keydir bytes per key (NULL: not applicable) */
    int (*keydir)(void *h, double *bytes_per_key);
    /* sequential load in explicit transactions of KV_TXN puts (NULL: (a) already batches) */
    int (*load_txn)(void *h, uint64_t n);
} engine;

#define KV_TXN 1000

/* ---------------------------------------------------------------------------------------- */
/* Cairn                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static void cairn_fail(const char *what, int rc) {
    bench_log("  cairn: %s: %s (%s)", what, cairn_errname(rc), cairn_errmsg());
}

static void *cn_open(const char *dir, int mode) {
    cairn_kv *kv = NULL;
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    int rc;
    o.sync = mode == MODE_NOSYNC ? CAIRN_SYNC_NONE : mode == MODE_SYNC ? CAIRN_SYNC_COMMIT : CAIRN_SYNC_GROUP;
    rc = cairn_kv_open(&kv, dir, &o);
    if (rc) {
        cairn_fail("open", rc);
        return NULL;
    }
    return kv;
}

static void cn_close(void *h) { cairn_kv_close(h); }

static int cn_load(void *h, uint64_t n) {
    char key[KLEN];
    unsigned char val[VLEN];
    uint64_t i;
    for (i = 0; i < n; i++) {
        int rc;
        bench_key16(key, i);
        bench_fill(val, VLEN, i, 0);
        rc = cairn_kv_put(h, key, KLEN, val, VLEN, CAIRN_KIND_BYTES);
        if (rc) {
            cairn_fail("put", rc);
            return -1;
        }
    }
    return 0;
}

static int cn_load_txn(void *h, uint64_t n) {
    char key[KLEN];
    unsigned char val[VLEN];
    uint64_t i;
    int rc;
    for (i = 0; i < n; i++) {
        if (i % KV_TXN == 0 && (rc = cairn_kv_begin(h)) != 0) {
            cairn_fail("begin", rc);
            return -1;
        }
        bench_key16(key, i);
        bench_fill(val, VLEN, i, 0);
        if ((rc = cairn_kv_put(h, key, KLEN, val, VLEN, CAIRN_KIND_BYTES)) != 0) {
            cairn_fail("put", rc);
            return -1;
        }
        if ((i % KV_TXN == KV_TXN - 1 || i + 1 == n) && (rc = cairn_kv_commit(h)) != 0) {
            cairn_fail("commit", rc);
            return -1;
        }
    }
    return 0;
}

static int cn_get(void *h, const char *key, void *buf, size_t cap, size_t *vlen) {
    int rc = cairn_kv_get_into(h, key, KLEN, buf, cap, vlen, NULL);
    if (rc == CAIRN_NOTFOUND) return 1;
    if (rc) {
        cairn_fail("get", rc);
        return -1;
    }
    return 0;
}

static int cn_put1(void *h, const char *key, const void *val, size_t vlen) {
    int rc = cairn_kv_put(h, key, KLEN, val, vlen, CAIRN_KIND_BYTES);
    if (rc) {
        cairn_fail("put", rc);
        return -1;
    }
    return 0;
}

static int cn_del_even(void *h, uint64_t n) {
    char key[KLEN];
    uint64_t i;
    for (i = 0; i < n; i += 2) {
        int rc;
        bench_key16(key, i);
        rc = cairn_kv_delete(h, key, KLEN);
        if (rc) {
            cairn_fail("delete", rc);
            return -1;
        }
    }
    return 0;
}

static int cn_compact(void *h) {
    int rc = cairn_kv_compact(h);
    if (rc) {
        cairn_fail("reclaim", rc);
        return -1;
    }
    return 0;
}

static int cn_keydir(void *h, double *bpk) {
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    int rc = cairn_kv_stats(h, &st);
    if (rc) {
        cairn_fail("stats", rc);
        return -1;
    }
    *bpk = st.keys ? (double)st.keydir_bytes / (double)st.keys : NAN;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* LMDB                                                                                      */
/* ---------------------------------------------------------------------------------------- */
#ifdef BENCH_HAVE_LMDB
typedef struct lm {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *rtxn;
} lm;

#define LM_BATCH 100000

static int lm_fail(const char *what, int rc) {
    bench_log("  lmdb: %s: %s", what, mdb_strerror(rc));
    return -1;
}

static void *lm_open(const char *dir, int mode) {
    lm *l = calloc(1, sizeof *l);
    MDB_txn *t;
    int rc;
    if (!l) return NULL;
    if ((rc = mdb_env_create(&l->env)) != 0) goto fail;
    /* Address space only (no MDB_WRITEMAP): the file grows with the data. */
    if ((rc = mdb_env_set_mapsize(l->env, (size_t)16 << 30)) != 0) goto fail;
    if ((rc = mdb_env_set_maxreaders(l->env, 64)) != 0) goto fail;
    if ((rc = mdb_env_open(l->env, dir, mode == MODE_NOSYNC ? MDB_NOSYNC : 0, 0644)) != 0) goto fail;
    if ((rc = mdb_txn_begin(l->env, NULL, 0, &t)) != 0) goto fail;
    if ((rc = mdb_dbi_open(t, NULL, 0, &l->dbi)) != 0) {
        mdb_txn_abort(t);
        goto fail;
    }
    if ((rc = mdb_txn_commit(t)) != 0) goto fail;
    return l;
fail:
    lm_fail("open", rc);
    if (l->env) mdb_env_close(l->env);
    free(l);
    return NULL;
}

static void lm_close(void *h) {
    lm *l = h;
    if (!l) return;
    mdb_env_close(l->env);
    free(l);
}

static int lm_load(void *h, uint64_t n) {
    lm *l = h;
    char key[KLEN];
    unsigned char val[VLEN];
    uint64_t i = 0;
    while (i < n) {
        MDB_txn *t;
        uint64_t end = i + LM_BATCH < n ? i + LM_BATCH : n;
        int rc = mdb_txn_begin(l->env, NULL, 0, &t);
        if (rc) return lm_fail("txn_begin", rc);
        for (; i < end; i++) {
            MDB_val k, v;
            bench_key16(key, i);
            bench_fill(val, VLEN, i, 0);
            k.mv_data = key;
            k.mv_size = KLEN;
            v.mv_data = val;
            v.mv_size = VLEN;
            if ((rc = mdb_put(t, l->dbi, &k, &v, 0)) != 0) {
                mdb_txn_abort(t);
                return lm_fail("put", rc);
            }
        }
        if ((rc = mdb_txn_commit(t)) != 0) return lm_fail("commit", rc);
    }
    return 0;
}

static int lm_read_begin(void *h) {
    lm *l = h;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &l->rtxn);
    return rc ? lm_fail("read txn", rc) : 0;
}

static void lm_read_end(void *h) {
    lm *l = h;
    mdb_txn_abort(l->rtxn);
    l->rtxn = NULL;
}

static int lm_get(void *h, const char *key, void *buf, size_t cap, size_t *vlen) {
    lm *l = h;
    MDB_val k, v;
    int rc;
    k.mv_data = (void *)key;
    k.mv_size = KLEN;
    rc = mdb_get(l->rtxn, l->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return 1;
    if (rc) return lm_fail("get", rc);
    /* copy out like every other engine does (the caller owns its bytes) */
    memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
    *vlen = v.mv_size;
    return 0;
}

static int lm_put1(void *h, const char *key, const void *val, size_t vlen) {
    lm *l = h;
    MDB_txn *t;
    MDB_val k, v;
    int rc = mdb_txn_begin(l->env, NULL, 0, &t);
    if (rc) return lm_fail("txn_begin", rc);
    k.mv_data = (void *)key;
    k.mv_size = KLEN;
    v.mv_data = (void *)val;
    v.mv_size = vlen;
    if ((rc = mdb_put(t, l->dbi, &k, &v, 0)) != 0) {
        mdb_txn_abort(t);
        return lm_fail("put", rc);
    }
    if ((rc = mdb_txn_commit(t)) != 0) return lm_fail("commit", rc);
    return 0;
}

static int lm_del_even(void *h, uint64_t n) {
    lm *l = h;
    char key[KLEN];
    uint64_t i = 0;
    while (i < n) {
        MDB_txn *t;
        uint64_t end = i + 2 * LM_BATCH < n ? i + 2 * LM_BATCH : n;
        int rc = mdb_txn_begin(l->env, NULL, 0, &t);
        if (rc) return lm_fail("txn_begin", rc);
        for (; i < end; i += 2) {
            MDB_val k;
            bench_key16(key, i);
            k.mv_data = key;
            k.mv_size = KLEN;
            if ((rc = mdb_del(t, l->dbi, &k, NULL)) != 0) {
                mdb_txn_abort(t);
                return lm_fail("del", rc);
            }
        }
        if ((rc = mdb_txn_commit(t)) != 0) return lm_fail("commit", rc);
    }
    return 0;
}
#endif

/* ---------------------------------------------------------------------------------------- */
/* LevelDB                                                                                   */
/* ---------------------------------------------------------------------------------------- */
#ifdef BENCH_HAVE_LEVELDB
typedef struct ldb {
    leveldb_t *db;
    leveldb_options_t *o;
    leveldb_writeoptions_t *wo;
    leveldb_readoptions_t *ro;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *bloom;
} ldb;

#define KV_BATCH 1000

static int ld_fail(const char *what, char *err) {
    bench_log("  leveldb: %s: %s", what, err ? err : "?");
    leveldb_free(err);
    return -1;
}

static void ld_close(void *h) {
    ldb *l = h;
    if (!l) return;
    if (l->db) leveldb_close(l->db);
    leveldb_options_destroy(l->o);
    leveldb_writeoptions_destroy(l->wo);
    leveldb_readoptions_destroy(l->ro);
    leveldb_cache_destroy(l->cache);
    leveldb_filterpolicy_destroy(l->bloom);
    free(l);
}

static void *ld_open(const char *dir, int mode) {
    ldb *l = calloc(1, sizeof *l);
    char *err = NULL;
    if (!l) return NULL;
    l->o = leveldb_options_create();
    leveldb_options_set_create_if_missing(l->o, 1);
    /* the usual read tuning, same cache budget as SQLite's */
    l->cache = leveldb_cache_create_lru((size_t)64 << 20);
    l->bloom = leveldb_filterpolicy_create_bloom(10);
    leveldb_options_set_cache(l->o, l->cache);
    leveldb_options_set_filter_policy(l->o, l->bloom);
    l->wo = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(l->wo, mode != MODE_NOSYNC);
    l->ro = leveldb_readoptions_create();
    l->db = leveldb_open(l->o, dir, &err);
    if (err) {
        ld_fail("open", err);
        l->db = NULL;
        ld_close(l);
        return NULL;
    }
    return l;
}

static int ld_load(void *h, uint64_t n) {
    ldb *l = h;
    char key[KLEN];
    unsigned char val[VLEN];
    uint64_t i = 0;
    leveldb_writebatch_t *b = leveldb_writebatch_create();
    while (i < n) {
        char *err = NULL;
        uint64_t end = i + KV_BATCH < n ? i + KV_BATCH : n;
        leveldb_writebatch_clear(b);
        for (; i < end; i++) {
            bench_key16(key, i);
            bench_fill(val, VLEN, i, 0);
            leveldb_writebatch_put(b, key, KLEN, (const char *)val, VLEN);
        }
        leveldb_write(l->db, l->wo, b, &err);
        if (err) {
            leveldb_writebatch_destroy(b);
            return ld_fail("write", err);
        }
    }
    leveldb_writebatch_destroy(b);
    return 0;
}

static int ld_get(void *h, const char *key, void *buf, size_t cap, size_t *vlen) {
    ldb *l = h;
    char *err = NULL;
    size_t len = 0;
    char *v = leveldb_get(l->db, l->ro, key, KLEN, &len, &err);
    if (err) return ld_fail("get", err);
    if (!v) return 1;
    memcpy(buf, v, len < cap ? len : cap);
    *vlen = len;
    leveldb_free(v);
    return 0;
}

static int ld_put1(void *h, const char *key, const void *val, size_t vlen) {
    ldb *l = h;
    char *err = NULL;
    leveldb_put(l->db, l->wo, key, KLEN, val, vlen, &err);
    return err ? ld_fail("put", err) : 0;
}

static int ld_del_even(void *h, uint64_t n) {
    ldb *l = h;
    char key[KLEN];
    uint64_t i = 0;
    leveldb_writebatch_t *b = leveldb_writebatch_create();
    while (i < n) {
        char *err = NULL;
        uint64_t end = i + 2 * KV_BATCH < n ? i + 2 * KV_BATCH : n;
        leveldb_writebatch_clear(b);
        for (; i < end; i += 2) {
            bench_key16(key, i);
            leveldb_writebatch_delete(b, key, KLEN);
        }
        leveldb_write(l->db, l->wo, b, &err);
        if (err) {
            leveldb_writebatch_destroy(b);
            return ld_fail("write", err);
        }
    }
    leveldb_writebatch_destroy(b);
    return 0;
}

static int ld_compact(void *h) {
    ldb *l = h;
    leveldb_compact_range(l->db, NULL, 0, NULL, 0);
    return 0;
}
#endif

/* ---------------------------------------------------------------------------------------- */
/* RocksDB                                                                                   */
/* ---------------------------------------------------------------------------------------- */
#ifdef BENCH_HAVE_ROCKSDB
typedef struct rdb {
    rocksdb_t *db;
    rocksdb_options_t *o;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
    rocksdb_block_based_table_options_t *bbt;
    rocksdb_cache_t *cache;
} rdb;

#ifndef KV_BATCH
#define KV_BATCH 1000
#endif

static int rd_fail(const char *what, char *err) {
    bench_log("  rocksdb: %s: %s", what, err ? err : "?");
    rocksdb_free(err);
    return -1;
}

static void rd_close(void *h) {
    rdb *r = h;
    if (!r) return;
    if (r->db) rocksdb_close(r->db);
    rocksdb_options_destroy(r->o);
    rocksdb_writeoptions_destroy(r->wo);
    rocksdb_readoptions_destroy(r->ro);
    rocksdb_block_based_options_destroy(r->bbt);
    rocksdb_cache_destroy(r->cache);
    free(r);
}

static void *rd_open(const char *dir, int mode) {
    rdb *r = calloc(1, sizeof *r);
    char *err = NULL;
    if (!r) return NULL;
    r->o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(r->o, 1);
    rocksdb_options_increase_parallelism(r->o, 2);
    /* the usual read tuning, same cache budget as SQLite's */
    r->bbt = rocksdb_block_based_options_create();
    r->cache = rocksdb_cache_create_lru((size_t)64 << 20);
    rocksdb_block_based_options_set_block_cache(r->bbt, r->cache);
    rocksdb_block_based_options_set_filter_policy(r->bbt, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(r->o, r->bbt);
    r->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->wo, mode != MODE_NOSYNC);
    r->ro = rocksdb_readoptions_create();
    r->db = rocksdb_open(r->o, dir, &err);
    if (err) {
        rd_fail("open", err);
        r->db = NULL;
        rd_close(r);
        return NULL;
    }
    return r;
}

static int rd_load(void *h, uint64_t n) {
    rdb *r = h;
    char key[KLEN];
    unsigned char val[VLEN];
    uint64_t i = 0;
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    while (i < n) {
        char *err = NULL;
        uint64_t end = i + KV_BATCH < n ? i + KV_BATCH : n;
        rocksdb_writebatch_clear(b);
        for (; i < end; i++) {
            bench_key16(key, i);
            bench_fill(val, VLEN, i, 0);
            rocksdb_writebatch_put(b, key, KLEN, (const char *)val, VLEN);
        }
        rocksdb_write(r->db, r->wo, b, &err);
        if (err) {
            rocksdb_writebatch_destroy(b);
            return rd_fail("write", err);
        }
    }
    rocksdb_writebatch_destroy(b);
    return 0;
}

static int rd_get(void *h, const char *key, void *buf, size_t cap, size_t *vlen) {
    rdb *r = h;
    char *err = NULL;
    size_t len = 0;
    const char *v;
    rocksdb_pinnableslice_t *ps = rocksdb_get_pinned(r->db, r->ro, key, KLEN, &err);
    if (err) return rd_fail("get", err);
    if (!ps) return 1;
    v = rocksdb_pinnableslice_value(ps, &len);
    memcpy(buf, v, len < cap ? len : cap);
    *vlen = len;
    rocksdb_pinnableslice_destroy(ps);
    return 0;
}

static int rd_put1(void *h, const char *key, const void *val, size_t vlen) {
    rdb *r = h;
    char *err = NULL;
    rocksdb_put(r->db, r->wo, key, KLEN, val, vlen, &err);
    return err ? rd_fail("put", err) : 0;
}

static int rd_del_even(void *h, uint64_t n) {
    rdb *r = h;
    char key[KLEN];
    uint64_t i = 0;
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    while (i < n) {
        char *err = NULL;
        uint64_t end = i + 2 * KV_BATCH < n ? i + 2 * KV_BATCH : n;
        rocksdb_writebatch_clear(b);
        for (; i < end; i += 2) {
            bench_key16(key, i);
            rocksdb_writebatch_delete(b, key, KLEN);
        }
        rocksdb_write(r->db, r->wo, b, &err);
        if (err) {
            rocksdb_writebatch_destroy(b);
            return rd_fail("write", err);
        }
    }
    rocksdb_writebatch_destroy(b);
    return 0;
}

static int rd_compact(void *h) {
    rdb *r = h;
    rocksdb_compact_range(r->db, NULL, 0, NULL, 0);
    return 0;
}
#endif

/* ---------------------------------------------------------------------------------------- */
/* SQLite                                                                                    */
/* ---------------------------------------------------------------------------------------- */
#ifdef BENCH_HAVE_SQLITE
typedef struct sq {
    sqlite3 *db;
    sqlite3_stmt *put, *get, *del;
    int mode;
} sq;

static int sq_fail(sqlite3 *db, const char *what) {
    bench_log("  sqlite: %s: %s", what, db ? sqlite3_errmsg(db) : "?");
    return -1;
}

static void sq_close(void *h) {
    sq *s = h;
    if (!s) return;
    sqlite3_finalize(s->put);
    sqlite3_finalize(s->get);
    sqlite3_finalize(s->del);
    sqlite3_close(s->db);
    free(s);
}

static void *sq_open_conn(const char *dir, int mode) {
    sq *s = calloc(1, sizeof *s);
    char path[4096];
    const char *pragmas = mode == MODE_NOSYNC
        ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;"
          "PRAGMA mmap_size=1073741824;"
        : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;"
          "PRAGMA mmap_size=1073741824;";
    if (!s) return NULL;
    s->mode = mode;
    snprintf(path, sizeof path, "%s/kv.sqlite", dir);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) goto fail;
    sqlite3_busy_timeout(s->db, 60000);
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) goto fail;
    if (sqlite3_exec(s->db, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)", -1, &s->put, NULL) ||
        sqlite3_prepare_v2(s->db, "SELECT v FROM kv WHERE k = ?", -1, &s->get, NULL) ||
        sqlite3_prepare_v2(s->db, "DELETE FROM kv WHERE k = ?", -1, &s->del, NULL))
        goto fail;
    return s;
fail:
    sq_fail(s->db, "open");
    sq_close(s);
    return NULL;
}

static void *sq_open(const char *dir, int mode) { return sq_open_conn(dir, mode); }

static int sq_exec(sq *s, const char *sql) {
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : sq_fail(s->db, sql);
}

static int sq_put_stmt(sq *s, const char *key, const void *val, size_t vlen) {
    int rc;
    sqlite3_bind_blob(s->put, 1, key, KLEN, SQLITE_STATIC);
    sqlite3_bind_blob(s->put, 2, val, (int)vlen, SQLITE_STATIC);
    rc = sqlite3_step(s->put);
    sqlite3_reset(s->put);
    return rc == SQLITE_DONE ? 0 : sq_fail(s->db, "insert");
}

static int sq_load(void *h, uint64_t n) {
    sq *s = h;
    char key[KLEN];
    unsigned char val[VLEN];
    uint64_t i;
    if (sq_exec(s, "BEGIN")) return -1;
    for (i = 0; i < n; i++) {
        bench_key16(key, i);
        bench_fill(val, VLEN, i, 0);
        if (sq_put_stmt(s, key, val, VLEN)) {
            sq_exec(s, "ROLLBACK");
            return -1;
        }
    }
    return sq_exec(s, "COMMIT");
}

static int sq_get(void *h, const char *key, void *buf, size_t cap, size_t *vlen) {
    sq *s = h;
    int rc;
    sqlite3_bind_blob(s->get, 1, key, KLEN, SQLITE_STATIC);
    rc = sqlite3_step(s->get);
    if (rc == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(s->get, 0);
        const void *v = sqlite3_column_blob(s->get, 0);
        memcpy(buf, v, len < cap ? len : cap);
        *vlen = len;
        sqlite3_reset(s->get);
        return 0;
    }
    sqlite3_reset(s->get);
    if (rc == SQLITE_DONE) return 1;
    return sq_fail(s->db, "select");
}

static int sq_put1(void *h, const char *key, const void *val, size_t vlen) {
    return sq_put_stmt(h, key, val, vlen);
}

static void *sq_thread_open(void *h, const char *dir) {
    sq *s = h;
    return sq_open_conn(dir, s->mode);
}

static int sq_del_even(void *h, uint64_t n) {
    sq *s = h;
    char key[KLEN];
    uint64_t i;
    if (sq_exec(s, "BEGIN")) return -1;
    for (i = 0; i < n; i += 2) {
        int rc;
        bench_key16(key, i);
        sqlite3_bind_blob(s->del, 1, key, KLEN, SQLITE_STATIC);
        rc = sqlite3_step(s->del);
        sqlite3_reset(s->del);
        if (rc != SQLITE_DONE) {
            sq_fail(s->db, "delete");
            sq_exec(s, "ROLLBACK");
            return -1;
        }
    }
    return sq_exec(s, "COMMIT");
}

static int sq_compact(void *h) {
    sq *s = h;
    if (sq_exec(s, "VACUUM")) return -1;
    return sq_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)");
}
#endif

/* ---------------------------------------------------------------------------------------- */
/* The engine table                                                                          */
/* ---------------------------------------------------------------------------------------- */

/* ---------------------------------------------------------------------------------------- */
/* The plain-C limit: an append-only log written from a 64 KB buffer, an open-addressing     */
/* keydir (64-bit hash + offset per slot, linear probing, load factor <= 1/2), values copied  */
/* out of a read-only mapping of the log. No checksum, no transactions, no crash handling:    */
/* what this hardware does for this workload with the least work a log store can do.         */
/* ---------------------------------------------------------------------------------------- */

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define LIM_BUF ((size_t)64 << 10)
#define LIM_HDR 8u                  /* u16 klen, u8 deleted, u8 0, u32 vlen */
#define LIM_MAP ((size_t)1 << 38)   /* address space reserved for the read mapping */

typedef struct lim_slot {
    uint64_t h;   /* hash | 1 (0: empty) */
    uint64_t off; /* record offset in the log */
} lim_slot;

typedef struct lim {
    int fd;
    uint8_t *buf;       /* the 64 KB write buffer: bytes [flushed, end) of the log */
    size_t blen;
    uint64_t flushed, end;
    const uint8_t *map; /* read-only shared mapping of the log (LIM_MAP bytes of address space) */
    lim_slot *slots;
    uint64_t mask, count;
    pthread_mutex_t mu; /* the durable writers share the handle */
} lim;

static uint64_t lim_hash(const void *key, size_t n) {
    const uint8_t *p = key;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
    }
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53ull;
    return (h ^ (h >> 32)) | 1;
}

/* The bytes of the log at off (still in the write buffer, or in the file). */
static const uint8_t *lim_at(const lim *l, uint64_t off) {
    return off >= l->flushed ? l->buf + (off - l->flushed) : l->map + off;
}

static int lim_flush(lim *l) {
    size_t done = 0;
    while (done < l->blen) {
        ssize_t w = pwrite(l->fd, l->buf + done, l->blen - done, (off_t)(l->flushed + done));
        if (w < 0) {
            if (errno == EINTR) continue;
            bench_log("  limit: write: %s", strerror(errno));
            return -1;
        }
        done += (size_t)w;
    }
    l->flushed += l->blen;
    l->blen = 0;
    return 0;
}

static void lim_grow(lim *l) {
    uint64_t ncap = (l->mask + 1) * 2, i;
    lim_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) bench_die("limit: out of memory");
    for (i = 0; i <= l->mask; i++) {
        uint64_t j;
        if (!l->slots[i].h) continue;
        for (j = l->slots[i].h & (ncap - 1); ns[j].h; j = (j + 1) & (ncap - 1)) {}
        ns[j] = l->slots[i];
    }
    free(l->slots);
    l->slots = ns;
    l->mask = ncap - 1;
}

/* The slot of key, or the empty slot where it would go. */
static uint64_t lim_find(const lim *l, const void *key, size_t klen, uint64_t h) {
    uint64_t j = h & l->mask;
    for (;; j = (j + 1) & l->mask) {
        const lim_slot *s = &l->slots[j];
        if (!s->h) return j;
        if (s->h == h) {
            const uint8_t *r = lim_at(l, s->off);
            uint16_t k;
            memcpy(&k, r, 2);
            if (k == klen && memcmp(r + LIM_HDR, key, klen) == 0) return j;
        }
    }
}

/* Remove slot j (linear probing: shift the following run back). */
static void lim_remove(lim *l, uint64_t j) {
    uint64_t i = j, k;
    l->count--;
    for (;;) {
        l->slots[i].h = 0;
        for (k = (i + 1) & l->mask;; k = (k + 1) & l->mask) {
            uint64_t home;
            if (!l->slots[k].h) return;
            home = l->slots[k].h & l->mask;
            /* k may move to i if its home is not in (i, k] cyclically */
            if (i <= k ? (home <= i || home > k) : (home <= i && home > k)) break;
        }
        l->slots[i] = l->slots[k];
        i = k;
    }
}

static void lim_index(lim *l, const void *key, size_t klen, uint64_t off, int del) {
    uint64_t h = lim_hash(key, klen), j;
    if ((l->count + 1) * 2 > l->mask + 1) lim_grow(l);
    j = lim_find(l, key, klen, h);
    if (del) {
        if (l->slots[j].h) lim_remove(l, j);
        return;
    }
    if (!l->slots[j].h) {
        l->slots[j].h = h;
        l->count++;
    }
    l->slots[j].off = off;
}

static int lim_append(lim *l, const void *key, size_t klen, const void *val, size_t vlen, int del) {
    size_t n = LIM_HDR + klen + vlen;
    uint8_t *p;
    uint16_t k = (uint16_t)klen;
    uint32_t v = (uint32_t)vlen;
    if (n > LIM_BUF) return -1;
    if (l->blen + n > LIM_BUF && lim_flush(l)) return -1;
    p = l->buf + l->blen;
    memcpy(p, &k, 2);
    p[2] = (uint8_t)del;
    p[3] = 0;
    memcpy(p + 4, &v, 4);
    memcpy(p + LIM_HDR, key, klen);
    if (vlen) memcpy(p + LIM_HDR + klen, val, vlen);
    lim_index(l, key, klen, l->end, del);
    l->blen += n;
    l->end += n;
    return 0;
}

static void lim_close(void *h) {
    lim *l = h;
    if (!l) return;
    if (l->blen) (void)lim_flush(l);
    munmap((void *)l->map, LIM_MAP);
    close(l->fd);
    free(l->buf);
    free(l->slots);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static void *lim_open(const char *dir, int mode) {
    char path[4200];
    struct stat st;
    lim *l = calloc(1, sizeof *l);
    uint64_t off = 0;
    (void)mode;
    if (!l) return NULL;
    snprintf(path, sizeof path, "%s/log", dir);
    pthread_mutex_init(&l->mu, NULL);
    l->buf = malloc(LIM_BUF);
    l->mask = 1023;
    l->slots = calloc(l->mask + 1, sizeof *l->slots);
    if (!l->buf || !l->slots || (l->fd = open(path, O_RDWR | O_CREAT, 0644)) < 0 || fstat(l->fd, &st) != 0) {
        bench_log("  limit: open %s: %s", path, strerror(errno));
        free(l->buf);
        free(l->slots);
        free(l);
        return NULL;
    }
    l->map = mmap(NULL, LIM_MAP, PROT_READ, MAP_SHARED | MAP_NORESERVE, l->fd, 0);
    if (l->map == MAP_FAILED) bench_die("limit: mmap: %s", strerror(errno));
    /* reopen: one scan of the log rebuilds the keydir */
    l->flushed = l->end = (uint64_t)st.st_size;
    while (off + LIM_HDR <= l->end) {
        const uint8_t *r = l->map + off;
        uint16_t k;
        uint32_t v;
        memcpy(&k, r, 2);
        memcpy(&v, r + 4, 4);
        if (off + LIM_HDR + k + v > l->end) break;
        lim_index(l, r + LIM_HDR, k, off, r[2]);
        off += LIM_HDR + k + (uint64_t)v;
    }
    return l;
}

static int lim_load(void *h, uint64_t n) {
    char key[KLEN];
    unsigned char val[VLEN];
    uint64_t i;
    for (i = 0; i < n; i++) {
        bench_key16(key, i);
        bench_fill(val, VLEN, i, 0);
        if (lim_append(h, key, KLEN, val, VLEN, 0)) return -1;
    }
    return 0;
}

static int lim_get(void *h, const char *key, void *buf, size_t cap, size_t *vlen) {
    lim *l = h;
    uint64_t j = lim_find(l, key, KLEN, lim_hash(key, KLEN));
    const uint8_t *r;
    uint32_t v;
    if (!l->slots[j].h) return 1;
    r = lim_at(l, l->slots[j].off);
    memcpy(&v, r + 4, 4);
    if (v > cap) return -1;
    memcpy(buf, r + LIM_HDR + KLEN, v);
    *vlen = v;
    return 0;
}

/* A durable put: append, write, fdatasync (one writer at a time; no group commit). */
static int lim_put1(void *h, const char *key, const void *val, size_t vlen) {
    lim *l = h;
    int rc;
    pthread_mutex_lock(&l->mu);
    rc = lim_append(l, key, KLEN, val, vlen, 0);
    if (!rc) rc = lim_flush(l);
    if (!rc && fdatasync(l->fd) != 0) rc = -1;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static int lim_del_even(void *h, uint64_t n) {
    char key[KLEN];
    uint64_t i;
    for (i = 0; i < n; i += 2) {
        bench_key16(key, i);
        if (lim_append(h, key, KLEN, NULL, 0, 1)) return -1;
    }
    return 0;
}

#ifndef BENCH_LMDB_VERSION
#define BENCH_LMDB_VERSION "?"
#endif
#ifndef BENCH_LEVELDB_VERSION
#define BENCH_LEVELDB_VERSION "?"
#endif
#ifndef BENCH_ROCKSDB_VERSION
#define BENCH_ROCKSDB_VERSION "?"
#endif

static engine engines[] = {
    {"Cairn", CAIRN_VERSION_STRING,
     "bare puts (and, for (a'), begin/commit around every 1000 puts) with CAIRN_SYNC_NONE / CAIRN_SYNC_GROUP for (c) and (d) (threads share one handle); "
     "gets with cairn_kv_get_into; cairn_kv_compact",
     cn_open, cn_close, cn_load, NULL, NULL, cn_get, cn_put1, NULL, NULL, cn_del_even, cn_compact,
     cn_keydir, cn_load_txn},
#ifdef BENCH_HAVE_LMDB
    {"LMDB", BENCH_LMDB_VERSION,
     "MDB_NOSYNC with 100k puts per write txn / default sync, one write txn per put (writers take the "
     "env mutex); gets in one read txn, value copied out; no compaction (file size reported)",
     lm_open, lm_close, lm_load, lm_read_begin, lm_read_end, lm_get, lm_put1, NULL, NULL, lm_del_even,
     NULL, NULL, NULL},
#endif
#ifdef BENCH_HAVE_LEVELDB
    {"LevelDB", BENCH_LEVELDB_VERSION,
     "64 MiB LRU block cache, 10-bit Bloom filter, otherwise defaults; WriteBatch of 1000 with sync=false / Put with "
     "sync=true (internal group commit); leveldb_get; CompactRange(all)",
     ld_open, ld_close, ld_load, NULL, NULL, ld_get, ld_put1, NULL, NULL, ld_del_even, ld_compact,
     NULL, NULL},
#endif
#ifdef BENCH_HAVE_ROCKSDB
    {"RocksDB", BENCH_ROCKSDB_VERSION,
     "64 MiB LRU block cache, 10-bit Bloom filter, increase_parallelism(2), otherwise defaults; WriteBatch of 1000 with sync=false / Put with sync=true (internal group "
     "commit); rocksdb_get_pinned; CompactRange(all)",
     rd_open, rd_close, rd_load, NULL, NULL, rd_get, rd_put1, NULL, NULL, rd_del_even, rd_compact,
     NULL, NULL},
#endif
#ifdef BENCH_HAVE_SQLITE
    {"SQLite", SQLITE_VERSION,
     "WITHOUT ROWID table, journal_mode=WAL, 64 MiB cache, 1 GiB mmap; load in one transaction with "
     "synchronous=OFF / autocommit INSERT with synchronous=FULL, one connection per writer thread with "
     "busy_timeout; VACUUM + wal_checkpoint(TRUNCATE)",
     sq_open, sq_close, sq_load, NULL, NULL, sq_get, sq_put1, sq_thread_open, sq_close, sq_del_even,
     sq_compact, NULL, NULL},
#endif
    {"limit", "-",
     "the plain-C limit (in kv_bench.c): an append-only log written with pwrite from a 64 KB buffer, an open-addressing keydir "
     "(16-byte slots: 64-bit hash and offset, load factor <= 1/2), gets copy the value out of a read-only mapping of the log; "
     "no checksums, no transactions, no crash handling; reopen scans the log; durable puts write and fdatasync under a mutex "
     "(no group commit); no compaction (file size reported)",
     lim_open, lim_close, lim_load, NULL, NULL, lim_get, lim_put1, NULL, NULL, lim_del_even, NULL, NULL, NULL},
};
#define NENG (sizeof engines / sizeof engines[0])

static const char *all_peers[] = {"LMDB", "LevelDB", "RocksDB", "SQLite"};

/* ---------------------------------------------------------------------------------------- */
/* The run                                                                                   */
/* ---------------------------------------------------------------------------------------- */

typedef struct result {
    int ran;
    int failed;           /* something went wrong: see stderr */
    double load_ops;      /* puts/s */
    double load_txn_ops;  /* puts/s in transactions of KV_TXN */
    double close_ms;      /* the close after the load */
    double load_close_ops; /* puts/s of the load including its close */
    double reopen_ms;
    double get_ops;       /* gets/s */
    uint64_t get_bad;     /* missing or wrong values */
    double sync_ops;      /* commits/s, one writer */
    double group_ops;     /* commits/s, T writers */
    double disk_load_mb;  /* after load + close */
    double disk_final_mb; /* after delete half + compact + close */
    double compact_s;
    double keydir_bpk;
    uint64_t verify_bad;  /* after compaction */
    char *dir;            /* the engine's scratch directory */
} result;

typedef struct opts {
    char load0[16];
    uint64_t keys, durable, threads;
    const char *dir;
    const char *out;
    const char *only;
    int keep;
    uint64_t curve[8]; /* --curve: Cairn's reopen time at these key counts */
    int ncurve;
} opts;

typedef struct thr {
    engine *e;
    void *h;
    const char *dir;
    uint64_t first, count;
    int failed;
} thr;

static void *writer_main(void *arg) {
    thr *t = arg;
    void *h = t->h;
    char key[KLEN];
    unsigned char val[VLEN];
    uint64_t i;
    if (t->e->thread_open) {
        h = t->e->thread_open(t->h, t->dir);
        if (!h) {
            t->failed = 1;
            return NULL;
        }
    }
    for (i = t->first; i < t->first + t->count; i++) {
        bench_key16(key, i);
        bench_fill(val, VLEN, i, 1);
        if (t->e->put1(h, key, val, VLEN)) {
            t->failed = 1;
            break;
        }
    }
    if (t->e->thread_close) t->e->thread_close(h);
    return NULL;
}

static double mb(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

static int check_value(const unsigned char *got, size_t len, uint64_t i) {
    unsigned char want[VLEN];
    bench_fill(want, VLEN, i, 0);
    return len == VLEN && memcmp(got, want, VLEN) == 0;
}

/* Pass 1 (one engine at a time): (a) load, (e) reopen, (f) keydir, (b) random gets. */
static void run_first(engine *e, const opts *o, result *r) {
    void *h;
    double t0, t1;
    uint64_t i;
    unsigned char buf[4 * VLEN];
    size_t vlen;

    memset(r, 0, sizeof *r);
    r->ran = 1;
    r->load_ops = r->load_txn_ops = r->close_ms = r->load_close_ops = r->reopen_ms = r->get_ops = r->sync_ops = r->group_ops = NAN;
    r->disk_load_mb = r->disk_final_mb = r->compact_s = r->keydir_bpk = NAN;
    if (e->load_txn) {
        /* the same load in explicit transactions, in a directory of its own */
        char name[64];
        char *d;
        snprintf(name, sizeof name, "%s-txn", e->name);
        d = bench_scratch(o->dir, name);
        sync();
        bench_log("%s: load %llu keys in transactions of %d", e->name, (unsigned long long)o->keys, KV_TXN);
        if ((h = e->open(d, MODE_NOSYNC)) != NULL) {
            t0 = bench_now();
            if (e->load_txn(h, o->keys) == 0) r->load_txn_ops = (double)o->keys / (bench_now() - t0);
            e->close(h);
        }
        if (isnan(r->load_txn_ops)) {
            bench_log("%s: FAILED the transactional load", e->name);
            r->failed = 1;
        }
        free(d); /* removed with the whole scratch tree at the end (see main) */
    }
    r->dir = bench_scratch(o->dir, e->name);

    sync(); /* start with no dirty pages of an earlier engine being written back */

    bench_log("%s: load %llu keys", e->name, (unsigned long long)o->keys);
    if (!(h = e->open(r->dir, MODE_NOSYNC))) goto fail;
    t0 = bench_now();
    if (e->load(h, o->keys)) goto fail_close;
    t1 = bench_now();
    r->load_ops = (double)o->keys / (t1 - t0);
    e->close(h);
    r->close_ms = (bench_now() - t1) * 1e3;
    r->load_close_ops = (double)o->keys / (t1 - t0 + r->close_ms / 1e3);
    bench_log("%s: %.0f puts/s, close %.1f ms", e->name, r->load_ops, r->close_ms);
    r->disk_load_mb = mb(bench_dir_bytes(r->dir));

    t0 = bench_now();
    if (!(h = e->open(r->dir, MODE_NOSYNC))) goto fail;
    t1 = bench_now();
    r->reopen_ms = (t1 - t0) * 1e3;
    if (e->keydir && e->keydir(h, &r->keydir_bpk)) goto fail_close;
    bench_log("%s: reopen %.2f ms; %llu random gets", e->name, r->reopen_ms, (unsigned long long)o->keys);
    {
        bench_rng rng = {12345};
        char key[KLEN];
        if (e->read_begin && e->read_begin(h)) goto fail_close;
        t0 = bench_now();
        for (i = 0; i < o->keys; i++) {
            uint64_t k = bench_rng_below(&rng, o->keys);
            int rc;
            bench_key16(key, k);
            rc = e->get(h, key, buf, sizeof buf, &vlen);
            if (rc < 0) {
                if (e->read_end) e->read_end(h);
                goto fail_close;
            }
            if (rc == 1 || !check_value(buf, vlen, k)) r->get_bad++;
        }
        t1 = bench_now();
        if (e->read_end) e->read_end(h);
        r->get_ops = (double)o->keys / (t1 - t0);
        if (r->get_bad) bench_log("%s: %llu gets missing or wrong!", e->name, (unsigned long long)r->get_bad);
    }
    e->close(h);
    return;

fail_close:
    e->close(h);
fail:
    bench_log("%s: FAILED (the rest of its run is skipped)", e->name);
    r->failed = 1;
}

/* One round of durable commits of keys [first, first + count) on an open handle: from this
 * thread (threads == 1) or split over `threads` writer threads. Returns the seconds taken,
 * or -1 on failure. */
static double durable_round(engine *e, void *h, const char *dir, uint64_t first, uint64_t count,
                            uint64_t threads) {
    thr *ts = calloc(threads, sizeof *ts);
    pthread_t *tid = calloc(threads, sizeof *tid);
    uint64_t per = count / threads, t;
    double t0, t1;
    int bad = 0;
    if (!ts || !tid) bench_die("out of memory");
    for (t = 0; t < threads; t++) {
        ts[t].e = e;
        ts[t].h = h;
        ts[t].dir = dir;
        ts[t].first = first + t * per;
        ts[t].count = t + 1 == threads ? count - t * per : per;
    }
    t0 = bench_now();
    if (threads == 1) {
        /* no thread (and, for SQLite, no second connection) for the single writer */
        engine tmp = *e;
        tmp.thread_open = NULL;
        tmp.thread_close = NULL;
        ts[0].e = &tmp;
        writer_main(&ts[0]);
        bad = ts[0].failed;
    } else {
        for (t = 0; t < threads; t++)
            if (pthread_create(&tid[t], NULL, writer_main, &ts[t]) != 0) bench_die("pthread_create failed");
        for (t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            bad |= ts[t].failed;
        }
    }
    t1 = bench_now();
    free(ts);
    free(tid);
    return bad ? -1 : t1 - t0;
}

/* Pass 2, (c) and (d): durable commits, interleaved. Every engine has its store open at once, in
 * its durable mode, and the commits run in ROUNDS rounds; each round runs a chunk of (c) (one
 * writer) and a chunk of (d) (T writers, one handle), in turn for every engine, (c) first in even
 * rounds and (d) first in odd ones. So a change in the machine's fsync latency (other work on a
 * shared disk) hits every engine alike AND both sides of the (d)/(c) ratio alike (run one after
 * the other, the phases were seconds to minutes apart, and the fsync latency of this machine's
 * shared disk moves several-fold in that time).
 * One handle serves both phases, so every engine is opened once in its durable mode: for the
 * peers that mode is the same for one writer or many; Cairn's is CAIRN_SYNC_GROUP (a lone writer
 * leads every group itself: one fdatasync per commit, as CAIRN_SYNC_COMMIT does). */
#define ROUNDS 10
static void run_durable(const opts *o, result *res) {
    void *h[sizeof engines / sizeof engines[0]];
    double spent[2][sizeof engines / sizeof engines[0]];
    uint64_t rounds = o->durable / o->threads < ROUNDS ? 1 : ROUNDS, r;
    size_t j;
    int p;

    bench_log("durable commits: %llu per engine with 1 and with %llu writer threads, %llu interleaved rounds",
              (unsigned long long)o->durable, (unsigned long long)o->threads, (unsigned long long)rounds);
    sync();
    for (j = 0; j < NENG; j++) {
        h[j] = NULL;
        spent[0][j] = spent[1][j] = 0;
        if (!res[j].ran || res[j].failed) continue;
        if (!(h[j] = engines[j].open(res[j].dir, MODE_GROUP))) {
            bench_log("%s: FAILED to open for durable commits", engines[j].name);
            res[j].failed = 1;
        }
    }
    for (r = 0; r < rounds; r++) {
        uint64_t chunk = o->durable / rounds;
        if (r + 1 == rounds) chunk = o->durable - r * chunk;
        for (p = 0; p < 2; p++) {
            int phase = (int)(r % 2) ? 1 - p : p; /* 0: (c), 1: (d) */
            uint64_t threads = phase ? o->threads : 1;
            uint64_t first = o->keys + (phase ? o->durable : 0) + r * (o->durable / rounds);
            for (j = 0; j < NENG; j++) {
                double t;
                if (!h[j]) continue;
                t = durable_round(&engines[j], h[j], res[j].dir, first, chunk, threads);
                if (t < 0) {
                    bench_log("%s: FAILED during durable commits", engines[j].name);
                    res[j].failed = 1;
                    engines[j].close(h[j]);
                    h[j] = NULL;
                    continue;
                }
                spent[phase][j] += t;
            }
        }
    }
    for (j = 0; j < NENG; j++) {
        if (!h[j]) continue;
        engines[j].close(h[j]);
        res[j].sync_ops = (double)o->durable / spent[0][j];
        res[j].group_ops = (double)o->durable / spent[1][j];
    }
}

/* Pass 3 (one engine at a time): (g) delete half, reclaim / compact, disk size, verify a sample. */
static void run_last(engine *e, const opts *o, result *r) {
    void *h;
    double t0, t1;
    uint64_t i;
    unsigned char buf[4 * VLEN];
    size_t vlen;

    if (r->failed) goto done;
    bench_log("%s: delete half, compact", e->name);
    sync();
    if (!(h = e->open(r->dir, MODE_NOSYNC))) goto fail;
    if (e->del_even(h, o->keys)) goto fail_close;
    if (e->compact) {
        t0 = bench_now();
        if (e->compact(h)) goto fail_close;
        t1 = bench_now();
        r->compact_s = t1 - t0;
    }
    e->close(h);
    r->disk_final_mb = mb(bench_dir_bytes(r->dir));
    if (!(h = e->open(r->dir, MODE_NOSYNC))) goto fail;
    {
        bench_rng rng = {777};
        char key[KLEN];
        uint64_t nsample = o->keys < 20000 ? o->keys : 20000;
        if (e->read_begin && e->read_begin(h)) goto fail_close;
        for (i = 0; i < nsample; i++) {
            uint64_t k = bench_rng_below(&rng, o->keys);
            int rc;
            bench_key16(key, k);
            rc = e->get(h, key, buf, sizeof buf, &vlen);
            if (rc < 0) {
                if (e->read_end) e->read_end(h);
                goto fail_close;
            }
            if (k % 2 == 0 ? rc != 1 : (rc != 0 || !check_value(buf, vlen, k))) r->verify_bad++;
        }
        if (e->read_end) e->read_end(h);
        if (r->verify_bad)
            bench_log("%s: %llu keys wrong after delete + compact!", e->name, (unsigned long long)r->verify_bad);
    }
    e->close(h);
    goto done;

fail_close:
    e->close(h);
fail:
    bench_log("%s: FAILED (the rest of its run is skipped)", e->name);
    r->failed = 1;
done:
    free(r->dir);
    r->dir = NULL;
}

/* The reopen curve (--curve): Cairn only, for each key count a fresh store loaded in
 * transactions of KV_TXN puts and closed, then opened 5 times: the best wall and CPU time of an
 * open (warm page cache), and the KEYDIR's size. */
typedef struct curve_pt {
    uint64_t keys;
    double wall_ms, cpu_ms, keydir_mb, disk_mb;
} curve_pt;
static curve_pt g_curve[8];

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_curve(const opts *o) {
    int i, r;
    for (i = 0; i < o->ncurve; i++) {
        curve_pt *c = &g_curve[i];
        char name[64], *d, *kd;
        void *h;
        c->keys = o->curve[i];
        c->wall_ms = c->cpu_ms = c->keydir_mb = c->disk_mb = NAN;
        snprintf(name, sizeof name, "curve-%llu", (unsigned long long)c->keys);
        d = bench_scratch(o->dir, name);
        bench_log("Cairn: reopen curve, %llu keys", (unsigned long long)c->keys);
        if (!(h = cn_open(d, MODE_NOSYNC)) || cn_load_txn(h, c->keys) != 0) {
            if (h) cn_close(h);
            bench_log("Cairn: FAILED the curve load");
            free(d);
            continue;
        }
        cn_close(h);
        c->disk_mb = mb(bench_dir_bytes(d));
        kd = malloc(strlen(d) + 8);
        if (!kd) bench_die("out of memory");
        sprintf(kd, "%s/KEYDIR", d);
        c->keydir_mb = mb(bench_file_bytes(kd));
        free(kd);
        for (r = 0; r < 5; r++) {
            double t0 = bench_now(), c0 = cpu_now(), w, cp;
            if (!(h = cn_open(d, MODE_NOSYNC))) break;
            w = (bench_now() - t0) * 1e3;
            cp = (cpu_now() - c0) * 1e3;
            cn_close(h);
            if (isnan(c->wall_ms) || w < c->wall_ms) c->wall_ms = w;
            if (isnan(c->cpu_ms) || cp < c->cpu_ms) c->cpu_ms = cp;
        }
        bench_rmrf(d);
        free(d);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Report                                                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct row {
    const char *label;
    size_t off;      /* offset of the double in result */
    int decimals;
} row;

static const row rows[] = {
    {"(a) sequential load, no fsync (puts/s)", offsetof(result, load_ops), 0},
    {"(a') Cairn's load in transactions of 1000 puts (puts/s; ratios against the peers' batched (a))",
     offsetof(result, load_txn_ops), 0},
    {"load including its close (puts/s)", offsetof(result, load_close_ops), 0},
    {"close after the load (ms)", offsetof(result, close_ms), 1},
    {"(b) random gets after reopen (gets/s)", offsetof(result, get_ops), 0},
    {"(c) durable commits, 1 writer (commits/s)", offsetof(result, sync_ops), 0},
    {"(d) durable commits, T writers (commits/s)", offsetof(result, group_ops), 0},
    {"(e) reopen after load (ms)", offsetof(result, reopen_ms), 2},
    {"(f) keydir bytes per key", offsetof(result, keydir_bpk), 1},
    {"disk after load (MiB)", offsetof(result, disk_load_mb), 1},
    {"(g) disk after deleting half + reclaim/compact (MiB)", offsetof(result, disk_final_mb), 1},
    {"reclaim/compact time (s)", offsetof(result, compact_s), 2},
};
#define NROWS (sizeof rows / sizeof rows[0])

static double field(const result *r, size_t off) {
    if (!r->ran) return NAN;
    return *(const double *)(const void *)((const char *)r + off);
}

static const engine *find_engine(const char *name) {
    size_t i;
    for (i = 0; i < NENG; i++)
        if (!strcmp(engines[i].name, name)) return &engines[i];
    return NULL;
}

static void report(FILE *f, const opts *o, const result *res) {
    char date[64], mach[512], a[64], b[64], load1[16];
    size_t i, j;
    const result *cn = &res[0];
    double lm_load = NAN, li_load = NAN, li_get = NAN, raw_mb;

    bench_date(date, sizeof date);
    bench_machine(mach, sizeof mach);
    bench_loadavg(load1, sizeof load1);
    fprintf(f, "Generated by `bench/run.sh` (kv_bench) on %s. Machine: %s; load average %s at the start, %s at "
               "the end (other work on the machine makes the numbers noisy, the fsync-bound ones most). "
               "N = %llu keys of %d bytes with %d-byte incompressible values; %llu durable commits; %llu "
               "writer threads. All engines ran in one process on the same file system with a warm page cache: "
               "(a), (b), (e) and (g) one engine after the other, (c) and (d) interleaved (every store open, "
               "10 rounds, each a chunk of (c) and a chunk of (d) for every engine in turn, so that a change in "
               "fsync latency hits all engines and both phases alike).\n\n",
            date, mach, o->load0, load1, (unsigned long long)o->keys, KLEN, VLEN, (unsigned long long)o->durable,
            (unsigned long long)o->threads);

    /* absolute numbers */
    fprintf(f, "| operation |");
    for (j = 0; j < NENG; j++) fprintf(f, " %s |", engines[j].name);
    fprintf(f, "\n| --- |");
    for (j = 0; j < NENG; j++) fprintf(f, " ---: |");
    fprintf(f, "\n");
    for (i = 0; i < NROWS; i++) {
        fprintf(f, "| %s |", rows[i].label);
        for (j = 0; j < NENG; j++) {
            if (!res[j].ran) {
                fprintf(f, " skipped |");
                continue;
            }
            bench_fmt(a, sizeof a, field(&res[j], rows[i].off), rows[i].decimals);
            fprintf(f, " %s%s |", a, res[j].failed && isnan(field(&res[j], rows[i].off)) ? " (failed)" : "");
        }
        fprintf(f, "\n");
    }
    /* peers that were not built at all */
    for (i = 0; i < sizeof all_peers / sizeof all_peers[0]; i++)
        if (!find_engine(all_peers[i])) fprintf(f, "\n%s: not built (its development package was missing).\n", all_peers[i]);

    /* ratios */
    fprintf(f, "\nCairn / peer (for rates higher is better for Cairn; for times and sizes lower is better):\n\n");
    fprintf(f, "| operation |");
    for (j = 1; j < NENG; j++) fprintf(f, " Cairn/%s |", engines[j].name);
    fprintf(f, "\n| --- |");
    for (j = 1; j < NENG; j++) fprintf(f, " ---: |");
    fprintf(f, "\n");
    for (i = 0; i < NROWS; i++) {
        if (rows[i].off == offsetof(result, keydir_bpk) || rows[i].off == offsetof(result, compact_s)) continue;
        fprintf(f, "| %s |", rows[i].label);
        for (j = 1; j < NENG; j++) {
            /* the peers' (a) is already batched: (a') compares against it */
            size_t poff = rows[i].off == offsetof(result, load_txn_ops) ? offsetof(result, load_ops) : rows[i].off;
            bench_fmt_ratio(a, sizeof a, field(cn, rows[i].off), field(&res[j], poff));
            fprintf(f, " %s |", a);
        }
        fprintf(f, "\n");
    }

    /* correctness notes */
    for (j = 0; j < NENG; j++) {
        if (res[j].failed) fprintf(f, "\n**%s failed during the run**: see the bench's stderr.\n", engines[j].name);
        if (res[j].get_bad || res[j].verify_bad)
            fprintf(f, "\n**%s returned wrong data**: %llu bad gets, %llu bad keys after compaction.\n",
                    engines[j].name, (unsigned long long)res[j].get_bad, (unsigned long long)res[j].verify_bad);
    }

    /* targets: ratios against LMDB and the plain-C limit of the same run */
    for (j = 1; j < NENG; j++) {
        if (!strcmp(engines[j].name, "LMDB")) lm_load = field(&res[j], offsetof(result, load_ops));
        if (!strcmp(engines[j].name, "limit")) {
            li_load = field(&res[j], offsetof(result, load_ops));
            li_get = field(&res[j], offsetof(result, get_ops));
        }
    }
    raw_mb = mb(o->keys * (uint64_t)(KLEN + VLEN));
    fprintf(f, "\nTargets (the limit is the plain-C log of this run; raw bytes = N x (key + value) = %.1f MiB):\n\n"
               "| target | required | measured | met |\n| --- | ---: | ---: | :---: |\n", raw_mb);
#define TARGET(label, req, meas, ok, dec)                                                              \
    do {                                                                                              \
        bench_fmt(a, sizeof a, (req), (dec));                                                         \
        bench_fmt(b, sizeof b, (meas), (dec));                                                        \
        fprintf(f, "| %s | %s | %s | %s |\n", (label), a, b,                                          \
                isnan(req) || isnan(meas) ? "n/a" : (ok) ? "yes" : "**no**");                         \
    } while (0)
    TARGET("bare puts >= 1.5x LMDB batched (puts/s)", 1.5 * lm_load, cn->load_ops, cn->load_ops >= 1.5 * lm_load, 0);
    TARGET("bare puts >= 0.5x the limit (puts/s)", 0.5 * li_load, cn->load_ops, cn->load_ops >= 0.5 * li_load, 0);
    TARGET("puts in transactions of 1000 >= 2x LMDB batched (puts/s)", 2 * lm_load, cn->load_txn_ops,
           cn->load_txn_ops >= 2 * lm_load, 0);
    TARGET("random gets >= 0.85x the limit (gets/s)", 0.85 * li_get, cn->get_ops, cn->get_ops >= 0.85 * li_get, 0);
    TARGET("disk after load <= 1.15x raw bytes (MiB)", 1.15 * raw_mb, cn->disk_load_mb,
           cn->disk_load_mb <= 1.15 * raw_mb, 1);
    {
        double req = o->keys == 1000000 ? 50.0 : NAN;
        TARGET("close after loading 1M keys <= 50 ms (ms)", req, cn->close_ms, cn->close_ms <= 50.0, 1);
        req = o->keys == 1000000 ? 2.0 : NAN;
        TARGET("reopen of 1M keys <= 2 ms (ms)", req, cn->reopen_ms, cn->reopen_ms <= 2.0, 2);
    }
    TARGET("durable commits, T writers >= 4x 1 writer (commits/s)", 4 * cn->sync_ops, cn->group_ops,
           cn->group_ops >= 4 * cn->sync_ops, 0);
#undef TARGET

    if (o->ncurve) {
        int ci;
        fprintf(f, "\nCairn's reopen by store size (loaded in transactions of %d puts, closed, then opened 5 times; "
                   "best of 5, warm page cache):\n\n| keys | reopen (ms) | reopen CPU (ms) | KEYDIR (MiB) | disk (MiB) |\n"
                   "| ---: | ---: | ---: | ---: | ---: |\n", KV_TXN);
        for (ci = 0; ci < o->ncurve; ci++) {
            char c1[64], c2[64], c3[64], c4[64], c5[64];
            bench_fmt(c1, sizeof c1, (double)g_curve[ci].keys, 0);
            bench_fmt(c2, sizeof c2, g_curve[ci].wall_ms, 2);
            bench_fmt(c3, sizeof c3, g_curve[ci].cpu_ms, 2);
            bench_fmt(c4, sizeof c4, g_curve[ci].keydir_mb, 1);
            bench_fmt(c5, sizeof c5, g_curve[ci].disk_mb, 1);
            fprintf(f, "| %s | %s | %s | %s | %s |\n", c1, c2, c3, c4, c5);
        }
    }
    fprintf(f, "\nSettings per engine:\n\n");
    for (j = 0; j < NENG; j++) fprintf(f, "- %s %s: %s.\n", engines[j].name, engines[j].version, engines[j].settings);
}

static void usage(void) {
    fprintf(stderr,
            "usage: kv_bench [--keys N] [--durable N] [--threads T] [--dir DIR] [--only a,b] [--out FILE] [--keep]\n"
            "  --keys N      keys to load (default 1M; suffixes k, M)\n"
            "  --durable N   durable commits for (c) and (d) (default 10k)\n"
            "  --threads T   writer threads for (d) (default 8)\n"
            "  --dir DIR     scratch directory (default $TMPDIR or /tmp)\n"
            "  --only LIST   comma-separated engines to run (Cairn,LMDB,LevelDB,RocksDB,SQLite)\n"
            "  --out FILE    write the markdown report there (default stdout)\n"
            "  --keep        keep the scratch directories\n"
            "  --curve LIST  also Cairn's reopen time for each comma-separated key count (e.g. 1M,3M,10M)\n");
    exit(2);
}

int main(int argc, char **argv) {
    opts o;
    result res[NENG];
    char base[4096];
    const char *tmp = getenv("TMPDIR");
    size_t j;
    int i;
    FILE *out = stdout;

    memset(&o, 0, sizeof o);
    o.keys = 1000000;
    o.durable = 10000;
    o.threads = 8;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--keys")) o.keys = bench_parse_count(a, v), i++;
        else if (!strcmp(a, "--durable")) o.durable = bench_parse_count(a, v), i++;
        else if (!strcmp(a, "--threads")) o.threads = bench_parse_count(a, v), i++;
        else if (!strcmp(a, "--dir") && v) o.dir = v, i++;
        else if (!strcmp(a, "--only") && v) o.only = v, i++;
        else if (!strcmp(a, "--out") && v) o.out = v, i++;
        else if (!strcmp(a, "--keep")) o.keep = 1;
        else if (!strcmp(a, "--curve") && v) {
            char buf[256], *tok, *save = NULL;
            snprintf(buf, sizeof buf, "%s", v);
            for (tok = strtok_r(buf, ",", &save); tok && o.ncurve < 8; tok = strtok_r(NULL, ",", &save))
                o.curve[o.ncurve++] = bench_parse_count(a, tok);
            i++;
        }
        else usage();
    }
    if (o.threads > 256) bench_die("--threads: at most 256");
    if (o.durable < o.threads) bench_die("--durable must be at least --threads");
    snprintf(base, sizeof base, "%s/cairn-kv-bench-%ld", o.dir ? o.dir : tmp && *tmp ? tmp : "/tmp", (long)getpid());
    o.dir = base;
    if (bench_mkdirs(base) != 0) bench_die("cannot create %s: %s", base, strerror(errno));
    bench_loadavg(o.load0, sizeof o.load0);

    for (j = 0; j < NENG; j++) {
#ifdef BENCH_HAVE_LMDB
        static char lmv[32];
        int ma, mi, pa;
        mdb_version(&ma, &mi, &pa);
        snprintf(lmv, sizeof lmv, "%d.%d.%d", ma, mi, pa);
        if (!strcmp(engines[j].name, "LMDB")) engines[j].version = lmv;
#endif
#ifdef BENCH_HAVE_LEVELDB
        static char ldv[32];
        snprintf(ldv, sizeof ldv, "%d.%d", leveldb_major_version(), leveldb_minor_version());
        if (!strcmp(engines[j].name, "LevelDB")) engines[j].version = ldv;
#endif
#ifdef BENCH_HAVE_SQLITE
        if (!strcmp(engines[j].name, "SQLite")) engines[j].version = sqlite3_libversion();
#endif
        memset(&res[j], 0, sizeof res[j]);
        if (o.only) {
            /* match whole names in the comma list, case-insensitively */
            const char *p = o.only;
            size_t n = strlen(engines[j].name);
            int hit = 0;
            while (*p) {
                size_t l = strcspn(p, ",");
                if (l == n && !strncasecmp(p, engines[j].name, n)) hit = 1;
                p += l;
                if (*p == ',') p++;
            }
            if (!hit) continue;
        }
        run_first(&engines[j], &o, &res[j]);
    }
    if (o.ncurve) run_curve(&o);
    run_durable(&o, res);
    for (j = 0; j < NENG; j++)
        if (res[j].ran) run_last(&engines[j], &o, &res[j]);
    /* Scratch data is removed only now: the file system here discards freed blocks, and deleting
     * hundreds of MB between measurements slowed the next engine's fsyncs. */
    if (!o.keep) bench_rmrf(base);

    if (o.out && !(out = fopen(o.out, "w"))) bench_die("cannot write %s: %s", o.out, strerror(errno));
    report(out, &o, res);
    if (out != stdout) fclose(out);
    for (j = 0; j < NENG; j++)
        if (res[j].failed || res[j].get_bad || res[j].verify_bad) return 1;
    return 0;
}
