/* crash_snap.c - snapshots and backups of the KV store, the table and the blob store under SIGKILL.
 *
 * --engine kv|table|blob (default kv) picks the store. The parent forks a child that opens it
 * (CAIRN_SYNC_COMMIT; KV: small data files so that snapshots link several sealed files; table:
 * a checkpoint every 16 rows, so that snapshots link several segment files; blob: the data file
 * and its log are copied) and runs random operations on NKEYS keys (table: rows of columns
 * k, v, kind; blob: keys 1..NKEYS): puts, deletes, compactions,
 * named snapshots, drops of the oldest snapshot (at most MAXSNAP are kept) and backups into a
 * fresh directory. Before each operation the child writes its intent to a pipe, after it
 * returned 0 the acknowledgement (lines shorter than PIPE_BUF: atomic). The parent reads the pipe
 * until a random deadline (seeded), SIGKILLs the child, drains the pipe and checks, with a writer
 * open (recovery):
 *   - the store holds exactly the acknowledged writes (plus at most the one in flight);
 *   - <engine>_snapshots lists every acknowledged snapshot that was not dropped, a snapshot whose
 *     creation was in flight or not at all, a dropped one never (one whose drop was in flight:
 *     either), and nothing else (no half-built ".tmp" snapshot);
 *   - every listed snapshot opens read-only (a put is CAIRN_READONLY) and holds exactly the data
 *     the store held when the snapshot call was made: every key, its bytes and kind, the count;
 *   - every acknowledged backup, and the one in flight if its directory exists, opens as a store
 *     (read-only, then a writer) with exactly that data; a backup in flight leaves no directory
 *     or a whole one;
 *   - <engine>_check passes on the store and on every snapshot.
 * The next child continues from the recovered state (backups are removed once checked).
 *
 * Usage: rel_crash_snap [--engine kv|table|blob] [--iterations N] [--seed S] [--max-delay-us U] [--keep]
 */
#include "rel_common.h"

#include <cairn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NKEYS 64
#define MAXSNAP 6
#define NAMELEN 48

typedef struct mval {
    uint8_t present;
    uint32_t len;
    uint64_t opid;
} mval;

typedef struct snapm {
    char name[NAMELEN];
    mval st[NKEYS];
} snapm;

/* 'P' put, 'D' delete, 'X' compact, 'S' snapshot, 'R' drop (remove), 'B' backup */
typedef struct oper {
    uint64_t opid;
    char type;
    uint32_t key, len;
    char name[NAMELEN];
} oper;

static mval model[NKEYS];
static snapm snaps[MAXSNAP + 1];
static int nsnaps;
static char store[700], bkroot[700];
static uint64_t seed, iter;
enum { E_KV, E_TABLE, E_BLOB };
static int engine;
static const char *engine_name = "kv";
static int wfd = -1;
static uint64_t nacked, nsnap_checked, nbackup_checked, inflight_snap, inflight_backup, inflight_applied,
    inflight_lost, early_exits;

#define DIE(...) rel_die("seed %llu iteration %llu: " __VA_ARGS__)
#define SI (unsigned long long)seed, (unsigned long long)iter

static size_t keyname(uint32_t k, char *buf) { return (size_t)snprintf(buf, 32, "key-%04u", (unsigned)k); }
static int kind_of(uint64_t opid) { return (int)(opid % 2); }

static void apply(mval *m, const oper *o) {
    if (o->type == 'P') {
        m[o->key].present = 1;
        m[o->key].len = o->len;
        m[o->key].opid = o->opid;
    } else if (o->type == 'D') {
        m[o->key].present = 0;
    }
}

static int snap_find(const char *name) {
    int i;
    for (i = 0; i < nsnaps; i++)
        if (!strcmp(snaps[i].name, name)) return i;
    return -1;
}

static void snap_remove(int i) {
    memmove(&snaps[i], &snaps[i + 1], sizeof snaps[0] * (size_t)(nsnaps - i - 1));
    nsnaps--;
}

/* ---- the engine: the same operations on a KV store, a table or a blob store ------------------ */

typedef union eh {
    cairn_kv *kv;
    cairn_table *t;
    cairn_blob *b;
} eh;

static uint64_t tid[NKEYS]; /* table: the row id of each key present (the child's map) */

static int e_open(eh *h, const char *path, int ro) {
    memset(h, 0, sizeof *h);
    if (engine == E_KV) {
        cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
        o.sync = CAIRN_SYNC_COMMIT;
        o.max_file_size = 4096;
        o.read_only = ro;
        o.create = !ro;
        return cairn_kv_open(&h->kv, path, &o);
    } else if (engine == E_TABLE) {
        cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
        o.sync = CAIRN_SYNC_COMMIT;
        o.checkpoint_rows = 16;
        o.schema = "k i32, v bytes, kind i32";
        o.read_only = ro;
        o.create = !ro;
        return cairn_table_open(&h->t, path, &o);
    } else {
        cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
        o.sync = CAIRN_SYNC_COMMIT;
        o.read_only = ro;
        o.create = !ro;
        return cairn_blob_open(&h->b, path, &o);
    }
}

static void e_close(eh h) {
    if (engine == E_KV) cairn_kv_close(h.kv);
    else if (engine == E_TABLE) cairn_table_close(h.t);
    else cairn_blob_close(h.b);
}

static int e_check(const char *path) {
    return engine == E_KV ? cairn_kv_check(path) : engine == E_TABLE ? cairn_table_check(path) : cairn_blob_check(path);
}

/* the path of snapshot `name` of the store as a store of its engine */
static void snap_store_path(const char *name, char *out, size_t n) {
    if (engine == E_BLOB) snprintf(out, n, "%s-snapshots/%s/blob", store, name);
    else snprintf(out, n, "%s/snapshots/%s", store, name);
}

/* table: rebuild the key -> id map from the rows (a child starts from a killed one's table) */
static int t_map(cairn_table *t) {
    cairn_table_iter *it = NULL;
    uint64_t id;
    const cairn_value *row;
    int rc = cairn_table_iter_open(&it, t);
    memset(tid, 0, sizeof tid);
    while (!rc && (rc = cairn_table_iter_next(it, &id, &row)) == 0)
        if (row[0].v.i >= 0 && row[0].v.i < NKEYS) tid[row[0].v.i] = id;
    cairn_table_iter_free(it);
    return rc == CAIRN_ITEROVER ? 0 : rc;
}

static int e_put(eh h, uint32_t k, const uint8_t *v, uint32_t len, int kind) {
    if (engine == E_KV) {
        char key[32];
        size_t kl = keyname(k, key);
        return cairn_kv_put(h.kv, key, kl, v, len, kind);
    } else if (engine == E_TABLE) {
        cairn_value row[3];
        memset(row, 0, sizeof row);
        row[0].v.i = k;
        row[1].v.s.bytes = v;
        row[1].v.s.len = len;
        row[2].v.i = kind;
        if (tid[k]) {
            static const size_t cols[2] = {1, 2};
            return cairn_table_update(h.t, tid[k], cols, row + 1, 2);
        }
        return cairn_table_insert(h.t, row, 3, &tid[k]);
    } else {
        int rc = cairn_blob_update(h.b, k + 1, v, len);
        if (rc == CAIRN_NOTFOUND) rc = cairn_blob_create_with_key(h.b, k + 1, v, len);
        return rc;
    }
}

static int e_delete(eh h, uint32_t k) {
    if (engine == E_KV) {
        char key[32];
        size_t kl = keyname(k, key);
        return cairn_kv_delete(h.kv, key, kl);
    } else if (engine == E_TABLE) {
        int rc = cairn_table_delete(h.t, tid[k]);
        if (!rc) tid[k] = 0;
        return rc;
    }
    return cairn_blob_delete(h.b, k + 1);
}

static int e_compact(eh h) {
    return engine == E_KV ? cairn_kv_compact(h.kv) : engine == E_TABLE ? cairn_table_compact(h.t) : cairn_blob_compact(h.b);
}
static int e_snapshot(eh h, const char *name) {
    return engine == E_KV ? cairn_kv_snapshot(h.kv, name, NULL)
           : engine == E_TABLE ? cairn_table_snapshot(h.t, name, NULL) : cairn_blob_snapshot(h.b, name, NULL);
}
static int e_snapshots(eh h, char **json) {
    return engine == E_KV ? cairn_kv_snapshots(h.kv, json)
           : engine == E_TABLE ? cairn_table_snapshots(h.t, json) : cairn_blob_snapshots(h.b, json);
}
static int e_open_snapshot(eh *out, eh h, const char *name) {
    memset(out, 0, sizeof *out);
    return engine == E_KV ? cairn_kv_open_snapshot(&out->kv, h.kv, name)
           : engine == E_TABLE ? cairn_table_open_snapshot(&out->t, h.t, name) : cairn_blob_open_snapshot(&out->b, h.b, name);
}
static int e_drop(eh h, const char *name) {
    return engine == E_KV ? cairn_kv_drop_snapshot(h.kv, name)
           : engine == E_TABLE ? cairn_table_drop_snapshot(h.t, name) : cairn_blob_drop_snapshot(h.b, name);
}
static int e_backup(eh h, const char *dest) {
    return engine == E_KV ? cairn_kv_backup(h.kv, dest)
           : engine == E_TABLE ? cairn_table_backup(h.t, dest) : cairn_blob_backup(h.b, dest);
}
/* a write through a read-only handle: must be CAIRN_READONLY */
static int e_probe_write(eh h) {
    static const uint8_t y = 'y';
    if (engine == E_KV) return cairn_kv_put(h.kv, "x", 1, "y", 1, 0);
    if (engine == E_TABLE) {
        cairn_value row[3];
        memset(row, 0, sizeof row);
        row[1].v.s.bytes = &y;
        row[1].v.s.len = 1;
        return cairn_table_insert(h.t, row, 3, NULL);
    }
    return cairn_blob_create_with_key(h.b, NKEYS + 1, &y, 1);
}

/* What the store holds: per key present, the bytes (malloc'd) and the kind (the blob store keeps
 * no kind: -1). The count of live entries in *count. */
typedef struct got {
    int present, kind;
    uint8_t *v;
    size_t len;
} got;

static int e_read_all(eh h, got *g, uint64_t *count, const char *what) {
    int rc;
    memset(g, 0, sizeof(got) * NKEYS);
    if (engine == E_TABLE) {
        cairn_table_iter *it = NULL;
        uint64_t id;
        const cairn_value *row;
        if ((rc = cairn_table_iter_open(&it, h.t)) != 0) return rc;
        while ((rc = cairn_table_iter_next(it, &id, &row)) == 0) {
            int64_t k = row[0].v.i;
            if (row[0].is_null || k < 0 || k >= NKEYS || g[k].present)
                DIE("%s: row %llu: key %lld unexpected or twice", SI, what, (unsigned long long)id, (long long)k);
            g[k].present = 1;
            g[k].kind = (int)row[2].v.i;
            g[k].len = row[1].v.s.len;
            g[k].v = (uint8_t *)malloc(g[k].len + 1);
            if (g[k].len) memcpy(g[k].v, row[1].v.s.bytes, g[k].len);
        }
        cairn_table_iter_free(it);
        if (rc != CAIRN_ITEROVER) return rc;
        return cairn_table_count(h.t, count);
    }
    for (uint32_t k = 0; k < NKEYS; k++) {
        void *v = NULL;
        size_t len = 0;
        int kind = -1;
        if (engine == E_KV) {
            char key[32];
            size_t kl = keyname(k, key);
            rc = cairn_kv_get(h.kv, key, kl, &v, &len, &kind);
        } else {
            rc = cairn_blob_read(h.b, k + 1, &v, &len);
        }
        if (rc == CAIRN_NOTFOUND) continue;
        if (rc) return rc;
        g[k].present = 1;
        g[k].kind = kind;
        g[k].len = len;
        g[k].v = (uint8_t *)v; /* cairn_free is free */
    }
    return engine == E_KV ? cairn_kv_count(h.kv, count) : cairn_blob_count(h.b, count);
}

/* ---- the child ---------------------------------------------------------------------------- */

static void child_fail(const char *what, int rc) {
    fprintf(stderr, "%s: FAIL (child, seed %llu, iteration %llu): %s: %s %s\n", rel_prog,
            (unsigned long long)seed, (unsigned long long)iter, what, cairn_errname(rc), cairn_errmsg());
    _exit(3);
}

static void say(const char *s) {
    size_t n = strlen(s), o = 0;
    while (o < n) {
        ssize_t w = write(wfd, s + o, n - o);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(4);
        o += (size_t)w;
    }
}

static void child_main(void) {
    eh h;
    rel_rng r;
    uint64_t n;
    int rc;
    if ((rc = e_open(&h, store, 0)) != 0) child_fail("open", rc);
    if (engine == E_TABLE && (rc = t_map(h.t)) != 0) child_fail("table map", rc);
    r.s = seed ^ (iter * 0x9e3779b97f4a7c15ULL) ^ 0x3c3c000000000000ULL;
    for (n = 0; n < 1000000; n++) {
        oper op;
        char line[512];
        uint64_t p = rel_below(&r, 100);
        memset(&op, 0, sizeof op);
        op.opid = (iter << 32) | n;
        op.key = (uint32_t)rel_below(&r, NKEYS);
        if (nsnaps >= MAXSNAP && p >= 60 && p < 75) {
            op.type = 'R';
            snprintf(op.name, sizeof op.name, "%s", snaps[0].name);
        } else if (p < 60) {
            op.type = 'P';
            op.len = rel_below(&r, 10) == 0 ? 500 + (uint32_t)rel_below(&r, 3000) : (uint32_t)rel_below(&r, 200);
        } else if (p < 72) {
            if (!model[op.key].present) continue;
            op.type = 'D';
        } else if (p < 75) {
            op.type = 'X';
        } else if (p < 88) {
            if (nsnaps >= MAXSNAP) continue;
            op.type = 'S';
            snprintf(op.name, sizeof op.name, "s-%llu-%llu", (unsigned long long)iter, (unsigned long long)n);
        } else if (p < 94 && nsnaps > 0) {
            op.type = 'R';
            snprintf(op.name, sizeof op.name, "%s", snaps[rel_below(&r, (uint64_t)nsnaps)].name);
        } else {
            op.type = 'B';
            snprintf(op.name, sizeof op.name, "bk-%llu-%llu", (unsigned long long)iter, (unsigned long long)n);
        }
        snprintf(line, sizeof line, "I %llu %c %u %u %s\n", (unsigned long long)op.opid, op.type, (unsigned)op.key,
                 (unsigned)op.len, op.name[0] ? op.name : "-");
        say(line);
        if (op.type == 'P') {
            uint8_t *v = (uint8_t *)malloc(op.len + 1);
            rel_gen(op.opid, 0, v, op.len);
            rc = e_put(h, op.key, v, op.len, kind_of(op.opid));
            free(v);
            if (rc) child_fail("put", rc);
        } else if (op.type == 'D') {
            if ((rc = e_delete(h, op.key)) != 0) child_fail("delete", rc);
        } else if (op.type == 'X') {
            if ((rc = e_compact(h)) != 0) child_fail("compact", rc);
        } else if (op.type == 'S') {
            if ((rc = e_snapshot(h, op.name)) != 0) child_fail("snapshot", rc);
        } else if (op.type == 'R') {
            if ((rc = e_drop(h, op.name)) != 0) child_fail("drop_snapshot", rc);
        } else {
            char dest[800];
            snprintf(dest, sizeof dest, "%s/%s", bkroot, op.name);
            if ((rc = e_backup(h, dest)) != 0) child_fail("backup", rc);
        }
        snprintf(line, sizeof line, "A %llu\n", (unsigned long long)op.opid);
        say(line);
        apply(model, &op);
        if (op.type == 'S') {
            snprintf(snaps[nsnaps].name, NAMELEN, "%s", op.name);
            memcpy(snaps[nsnaps].st, model, sizeof model);
            nsnaps++;
        } else if (op.type == 'R') {
            snap_remove(snap_find(op.name));
        }
    }
    _exit(0);
}

/* ---- the parent ----------------------------------------------------------------------------- */

static char acked_backups[64][NAMELEN];
static mval backup_st[64][NKEYS];
static int nbackups;

static void consume(char *buf, size_t *len, oper *pend, int *haspend) {
    char *line = buf, *end;
    while ((end = memchr(line, '\n', *len - (size_t)(line - buf))) != NULL) {
        *end = 0;
        if (line[0] == 'I') {
            unsigned long long id;
            unsigned k, l;
            char nm[NAMELEN + 8];
            if (*haspend) DIE("intent without ack before '%s'", SI, line);
            memset(pend, 0, sizeof *pend);
            if (sscanf(line, "I %llu %c %u %u %47s", &id, &pend->type, &k, &l, nm) != 5 || k >= NKEYS)
                DIE("bad line '%s'", SI, line);
            pend->opid = id;
            pend->key = k;
            pend->len = l;
            if (strcmp(nm, "-") != 0) snprintf(pend->name, NAMELEN, "%.47s", nm);
            *haspend = 1;
        } else if (line[0] == 'A') {
            unsigned long long id = strtoull(line + 2, NULL, 10);
            if (!*haspend || id != pend->opid) DIE("ack without intent '%s'", SI, line);
            apply(model, pend);
            if (pend->type == 'S') {
                if (nsnaps > MAXSNAP) DIE("too many snapshots", SI);
                snprintf(snaps[nsnaps].name, NAMELEN, "%s", pend->name);
                memcpy(snaps[nsnaps].st, model, sizeof model);
                nsnaps++;
            } else if (pend->type == 'R') {
                int i = snap_find(pend->name);
                if (i < 0) DIE("drop of an unknown snapshot '%s'", SI, pend->name);
                snap_remove(i);
            } else if (pend->type == 'B') {
                if (nbackups == 64) DIE("too many backups in one iteration", SI);
                snprintf(acked_backups[nbackups], NAMELEN, "%s", pend->name);
                memcpy(backup_st[nbackups], model, sizeof model);
                nbackups++;
            }
            nacked++;
            *haspend = 0;
        } else {
            DIE("bad line '%s'", SI, line);
        }
        line = end + 1;
    }
    memmove(buf, line, *len - (size_t)(line - buf));
    *len -= (size_t)(line - buf);
}

/* rel_run_killed's hooks: the child, and the parent's reading of its reports. */
typedef struct {
    oper *pend;
    int *haspend;
} consume_ctx;
static void consume_cb(void *ctx, char *buf, size_t *len) {
    consume_ctx *c = (consume_ctx *)ctx;
    consume(buf, len, c->pend, c->haspend);
}
static void run_child(int fd) {
    wfd = fd;
    child_main();
}

/* 1 if the store h holds exactly m (every key, bytes, kind, and the count). */
static int holds(eh h, const mval *m, const char *what, int die) {
    got g[NKEYS];
    uint64_t cnt = 0, want = 0;
    int rc = e_read_all(h, g, &cnt, what), ok = 1;
    uint32_t k;
    if (rc) DIE("%s: read: %s %s", SI, what, cairn_errname(rc), cairn_errmsg());
    for (k = 0; k < NKEYS && ok; k++) {
        ok = m[k].present ? g[k].present && g[k].len == m[k].len &&
                                (engine == E_BLOB || g[k].kind == kind_of(m[k].opid)) &&
                                rel_gen_eq(m[k].opid, 0, g[k].v, g[k].len)
                          : !g[k].present;
        if (!ok && die)
            DIE("%s: key %u: expected %s (len %u), got %s len %zu", SI, what, (unsigned)k,
                m[k].present ? "present" : "absent", (unsigned)m[k].len, g[k].present ? "present" : "absent", g[k].len);
        want += m[k].present;
    }
    for (k = 0; k < NKEYS; k++) free(g[k].v);
    if (!ok) return 0;
    if (cnt != want) {
        if (die) DIE("%s: count %llu, expected %llu", SI, what, (unsigned long long)cnt, (unsigned long long)want);
        return 0;
    }
    return 1;
}

static void check_backup(const char *name, const mval *m, int inflight) {
    char dest[800], what[200];
    eh b;
    struct stat st;
    int rc;
    snprintf(dest, sizeof dest, "%s/%s", bkroot, name);
    snprintf(what, sizeof what, "backup %s%s", name, inflight ? " (in flight)" : "");
    if (stat(dest, &st) != 0) {
        if (!inflight) DIE("%s: missing", SI, what);
        return; /* a backup in flight may not have landed */
    }
    if (inflight) inflight_backup++;
    if ((rc = e_check(dest)) != 0) DIE("%s: check: %s %s", SI, what, cairn_errname(rc), cairn_errmsg());
    if ((rc = e_open(&b, dest, 1)) != 0) DIE("%s: read-only open: %s %s", SI, what, cairn_errname(rc), cairn_errmsg());
    holds(b, m, what, 1);
    e_close(b);
    if ((rc = e_open(&b, dest, 0)) != 0) DIE("%s: writer open: %s %s", SI, what, cairn_errname(rc), cairn_errmsg());
    holds(b, m, what, 1);
    e_close(b);
    nbackup_checked++;
}

int main(int argc, char **argv) {
    uint64_t iterations = rel_opt_u64(argc, argv, "--iterations", 200);
    uint64_t max_delay = rel_opt_u64(argc, argv, "--max-delay-us", 100000), t0 = rel_ms();
    int keep = 0, i;
    char *dir;
    rel_rng prng;
    rel_prog = "rel_crash_snap";
    seed = rel_seed(argc, argv, 1);
    if (rel_opt(argc, argv, "--engine")) engine_name = rel_opt(argc, argv, "--engine");
    if (!strcmp(engine_name, "kv")) engine = E_KV;
    else if (!strcmp(engine_name, "table")) engine = E_TABLE;
    else if (!strcmp(engine_name, "blob")) engine = E_BLOB;
    else rel_die("--engine: kv, table or blob, not '%s'", engine_name);
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--keep")) keep = 1;
    prng.s = seed;
    dir = rel_tmpdir("crash-snap");
    snprintf(store, sizeof store, engine == E_BLOB ? "%s/store.blob" : "%s/store", dir);
    snprintf(bkroot, sizeof bkroot, "%s/backups", dir);
    if (mkdir(bkroot, 0755) != 0) rel_die("mkdir %s: %s", bkroot, strerror(errno));
    printf("%s: %s, seed %llu, %llu iterations, sync commit, in %s\n", rel_prog, engine_name, (unsigned long long)seed,
           (unsigned long long)iterations, dir);
    fflush(stdout);
    signal(SIGPIPE, SIG_IGN);
    for (iter = 0; iter < iterations; iter++) {
        int status, rc, haspend = 0, listed[MAXSNAP + 1], pend_listed = 0;
        uint64_t delay = rel_below(&prng, max_delay);
        oper pend;
        mval before[NKEYS], e[NKEYS];
        eh kv;
        struct stat st;
        char *json = NULL, *p;
        nbackups = 0;
        {
            consume_ctx cc;
            cc.pend = &pend;
            cc.haspend = &haspend;
            status = rel_run_killed(run_child, delay / 1000 + 1, consume_cb, &cc);
        }
        if (WIFEXITED(status)) {
            if (WEXITSTATUS(status) != 0) DIE("the child failed (exit %d)", SI, WEXITSTATUS(status));
            early_exits++;
        }
        /* 1. the store: the acknowledged writes, plus at most the one in flight */
        if (stat(store, &st) != 0) {
            for (i = 0; i < NKEYS; i++)
                if (model[i].present) DIE("store missing", SI);
            continue;
        }
        rc = e_check(store);
        if (rc == CAIRN_PATH && nacked == 0) continue; /* killed while creating it (a table's directory
                                                          before its first MANIFEST): nothing to hold */
        if (rc) DIE("check of the killed store: %s %s", SI, cairn_errname(rc), cairn_errmsg());
        if ((rc = e_open(&kv, store, 0)) != 0) DIE("writer open: %s %s", SI, cairn_errname(rc), cairn_errmsg());
        memcpy(before, model, sizeof model);
        if (haspend && (pend.type == 'P' || pend.type == 'D')) {
            memcpy(e, model, sizeof e);
            apply(e, &pend);
            if (holds(kv, model, "store", 0)) {
                inflight_lost++;
            } else if (holds(kv, e, "store (with the write in flight)", 1)) {
                memcpy(model, e, sizeof e);
                inflight_applied++;
            }
        } else {
            holds(kv, model, "store", 1);
        }
        /* 2. the list: every acknowledged snapshot, the one in flight or not, nothing else */
        if ((rc = e_snapshots(kv, &json)) != 0) DIE("snapshots: %s %s", SI, cairn_errname(rc), cairn_errmsg());
        memset(listed, 0, sizeof listed);
        for (p = json; (p = strstr(p, "\"name\":\"")) != NULL;) {
            char nm[NAMELEN + 1];
            size_t k = 0;
            p += 8;
            while (*p && *p != '"' && k < NAMELEN) nm[k++] = *p++;
            nm[k] = 0;
            i = snap_find(nm);
            if (i >= 0) {
                listed[i] = 1;
            } else if (haspend && pend.type == 'S' && !strcmp(nm, pend.name)) {
                pend_listed = 1;
            } else {
                DIE("snapshots lists '%s', which is no acknowledged snapshot (list %s)", SI, nm, json);
            }
        }
        for (i = 0; i < nsnaps; i++)
            if (!listed[i] && !(haspend && pend.type == 'R' && !strcmp(pend.name, snaps[i].name)))
                DIE("snapshot '%s' (acknowledged) is not listed: %s", SI, snaps[i].name, json);
        cairn_free(json);
        if (pend_listed) { /* the snapshot in flight landed whole: it joins the model */
            snprintf(snaps[nsnaps].name, NAMELEN, "%s", pend.name);
            memcpy(snaps[nsnaps].st, before, sizeof before);
            listed[nsnaps] = 1;
            nsnaps++;
            inflight_snap++;
        }
        /* 3. every listed snapshot opens read-only and holds its data */
        for (i = 0; i < nsnaps; i++) {
            eh s;
            char what[100], sp[900];
            if (!listed[i]) { /* its drop was in flight and landed */
                memmove(&listed[i], &listed[i + 1], sizeof listed[0] * (size_t)(nsnaps - i - 1));
                snap_remove(i--);
                continue;
            }
            snprintf(what, sizeof what, "snapshot %s", snaps[i].name);
            if ((rc = e_open_snapshot(&s, kv, snaps[i].name)) != 0)
                DIE("%s: open: %s %s", SI, what, cairn_errname(rc), cairn_errmsg());
            holds(s, snaps[i].st, what, 1);
            if ((rc = e_probe_write(s)) != CAIRN_READONLY)
                DIE("%s: a write answered %s, not CAIRN_READONLY", SI, what, cairn_errname(rc));
            e_close(s);
            snap_store_path(snaps[i].name, sp, sizeof sp);
            if ((rc = e_check(sp)) != 0) DIE("%s: check: %s %s", SI, what, cairn_errname(rc), cairn_errmsg());
            nsnap_checked++;
        }
        holds(kv, model, "store after the snapshots were read", 1);
        e_close(kv);
        /* 4. backups */
        for (i = 0; i < nbackups; i++) check_backup(acked_backups[i], backup_st[i], 0);
        if (haspend && pend.type == 'B') check_backup(pend.name, before, 1);
        rel_rmrf(bkroot);
        if (mkdir(bkroot, 0755) != 0) rel_die("mkdir %s: %s", bkroot, strerror(errno));
    }
    printf("%s: PASS (%s): %llu kills, %llu operations acknowledged, %llu snapshot opens and %llu backups checked "
           "exactly; in flight at the kill: %llu writes recovered, %llu not, %llu snapshots and %llu backups landed "
           "whole (%llu children finished before the kill), seed %llu, %.1f s\n",
           rel_prog, engine_name, (unsigned long long)iterations, (unsigned long long)nacked, (unsigned long long)nsnap_checked,
           (unsigned long long)nbackup_checked, (unsigned long long)inflight_applied, (unsigned long long)inflight_lost,
           (unsigned long long)inflight_snap, (unsigned long long)inflight_backup, (unsigned long long)early_exits,
           (unsigned long long)seed, (double)(rel_ms() - t0) / 1000.0);
    if (!keep) rel_rmrf(dir);
    free(dir);
    return 0;
}
