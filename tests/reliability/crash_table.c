/* crash_table.c - the table engine's crash loop (same scheme as crash_kv.c / crash_blob.c).
 *
 * A child opens the table (CAIRN_SYNC_COMMIT, a small checkpoint_rows so that checkpoints,
 * overlays of updated checkpointed rows and delete bitmaps happen all the time) and runs random
 * inserts, updates, deletes, transactions that commit or roll back, syncs and compactions,
 * logging each intent and each acknowledgement (with the ids the table handed out) to an
 * fdatasynced log. The parent SIGKILLs it after a random (seeded) delay, then checks
 * cairn_table_check on the killed table, that a read-only open and then the writer's recovery
 * see exactly the acknowledged operations plus at most the one in flight (a transaction: all or
 * nothing), with every row's id, unique key and bytes, that next_id is above every id ever
 * handed out, and cairn_table_check after close; then continues from the recovered state.
 *
 * Usage: rel_crash_table [--iterations N] [--seed S] [--max-delay-us U] [--keep]
 */
#include "rel_common.h"

#include <cairn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXOPS 6
#define SCHEMA "k i64 unique not null, v bytes, n i64"

typedef struct mrow {
    int64_t k;
    uint64_t id;
    uint64_t vopid;
    uint32_t vidx, vlen;
} mrow;

typedef struct model {
    mrow *r;
    size_t n, cap;
    uint64_t max_id;
} model;

typedef struct op {
    char t; /* 'i' insert, 'u' update, 'd' delete */
    int64_t k;
    uint32_t len;
} op;

typedef struct oprec {
    uint64_t opid;
    char type; /* S single, T committed txn, R rolled-back txn, X compact, F sync */
    int n;
    op ops[MAXOPS];
} oprec;

static model M;
static char dir[700], logpath[800];
static uint64_t seed, iter;

static void madd(model *m, const mrow *r) {
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        if (!(m->r = (mrow *)realloc(m->r, m->cap * sizeof *m->r))) rel_die("out of memory");
    }
    m->r[m->n++] = *r;
    if (r->id > m->max_id) m->max_id = r->id;
}

static long mfind(const model *m, int64_t k) {
    size_t i;
    for (i = 0; i < m->n; i++)
        if (m->r[i].k == k) return (long)i;
    return -1;
}

static void mcopy(model *dst, const model *src) {
    dst->n = 0;
    dst->max_id = src->max_id;
    if (dst->cap < src->n) {
        dst->cap = src->n + 16;
        if (!(dst->r = (mrow *)realloc(dst->r, dst->cap * sizeof *dst->r))) rel_die("out of memory");
    }
    if (src->n) memcpy(dst->r, src->r, src->n * sizeof *src->r);
    dst->n = src->n;
}

/* apply o (ids: the ids of its inserts, in order) */
static void apply(model *m, const oprec *o, const uint64_t *ids) {
    int i, c = 0;
    if (o->type != 'S' && o->type != 'T') return;
    for (i = 0; i < o->n; i++) {
        const op *x = &o->ops[i];
        long p = mfind(m, x->k);
        if (x->t == 'i') {
            mrow r;
            r.k = x->k;
            r.id = ids[c++];
            r.vopid = o->opid;
            r.vidx = (uint32_t)i;
            r.vlen = x->len;
            madd(m, &r);
        } else if (x->t == 'u' && p >= 0) {
            m->r[p].vopid = o->opid;
            m->r[p].vidx = (uint32_t)i;
            m->r[p].vlen = x->len;
        } else if (x->t == 'd' && p >= 0) {
            m->r[p] = m->r[--m->n];
        }
    }
}

/* ---- the child ---- */

static void child_fail(const char *what, int rc) {
    fprintf(stderr, "%s: FAIL (child, seed %llu, iteration %llu): %s: %s %s\n", rel_prog, (unsigned long long)seed,
            (unsigned long long)iter, what, cairn_errname(rc), cairn_errmsg());
    _exit(3);
}

static uint64_t find_id(const model *m, int64_t k) {
    long p = mfind(m, k);
    return p >= 0 ? m->r[p].id : 0;
}

static int do_op(cairn_table *t, const oprec *o, int i, uint64_t *id, model *cm) {
    const op *x = &o->ops[i];
    cairn_value row[3];
    uint8_t *d = (uint8_t *)malloc(x->len + 1);
    int rc;
    rel_gen(o->opid, (uint32_t)i, d, x->len);
    memset(row, 0, sizeof row);
    row[0].v.i = x->k;
    row[1].v.s.bytes = d;
    row[1].v.s.len = x->len;
    row[2].v.i = (int64_t)(o->opid * 8 + (uint64_t)i);
    if (x->t == 'i') {
        rc = cairn_table_insert(t, row, 3, id);
    } else if (x->t == 'u') {
        size_t cols[2] = {1, 2};
        rc = cairn_table_update(t, find_id(cm, x->k), cols, row + 1, 2);
    } else {
        rc = cairn_table_delete(t, find_id(cm, x->k));
    }
    free(d);
    return rc;
}

static void child_main(void) {
    cairn_table *t = NULL;
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    rel_rng r;
    model cm = {NULL, 0, 0, 0}; /* the child's own view (ids of its inserts) */
    int fd = rel_log_open(logpath), rc;
    uint64_t n;
    o.schema = SCHEMA;
    o.checkpoint_rows = 32;
    if ((rc = cairn_table_open(&t, dir, &o)) != 0) child_fail("open", rc);
    mcopy(&cm, &M);
    r.s = seed ^ (iter * 0x9e3779b97f4a7c15ULL) ^ 0x5555;
    for (n = 0; n < 100000; n++) {
        oprec op_;
        uint64_t p = rel_below(&r, 100), ids[MAXOPS];
        int i, nid = 0;
        char line[1024];
        size_t ll;
        memset(&op_, 0, sizeof op_);
        op_.opid = (iter << 32) | n;
        if (p < 8) op_.type = 'T';
        else if (p < 12) op_.type = 'R';
        else if (p < 14) op_.type = 'X';
        else if (p < 17) op_.type = 'F';
        else op_.type = 'S';
        if (op_.type == 'S' || op_.type == 'T' || op_.type == 'R') {
            int want = op_.type == 'S' ? 1 : 2 + (int)rel_below(&r, MAXOPS - 2);
            while (op_.n < want) {
                op *x = &op_.ops[op_.n];
                uint64_t q = rel_below(&r, 100);
                int j, clash = 0;
                if (q < 50 || cm.n == 0) {
                    x->t = 'i';
                    x->k = (int64_t)(op_.opid * 8 + (uint64_t)op_.n);
                } else {
                    x->t = q < 80 ? 'u' : 'd';
                    x->k = cm.r[rel_below(&r, cm.n)].k;
                    for (j = 0; j < op_.n; j++)
                        if (op_.ops[j].k == x->k) clash = 1;
                    if (clash) continue;
                }
                x->len = rel_below(&r, 10) ? (uint32_t)rel_below(&r, 300) : (uint32_t)rel_below(&r, 5000);
                op_.n++;
            }
        }
        ll = (size_t)snprintf(line, sizeof line, "I %llu %c %d", (unsigned long long)op_.opid, op_.type, op_.n);
        for (i = 0; i < op_.n; i++)
            ll += (size_t)snprintf(line + ll, sizeof line - ll, " %c:%lld:%u", op_.ops[i].t, (long long)op_.ops[i].k,
                                   (unsigned)op_.ops[i].len);
        rel_log_line(fd, "%s\n", line);
        if (op_.type == 'X') {
            if ((rc = cairn_table_compact(t)) != 0) child_fail("compact", rc);
        } else if (op_.type == 'F') {
            if ((rc = cairn_table_sync(t)) != 0) child_fail("sync", rc);
        } else {
            if (op_.type != 'S' && (rc = cairn_table_begin(t)) != 0) child_fail("begin", rc);
            for (i = 0; i < op_.n; i++) {
                uint64_t id = 0;
                if ((rc = do_op(t, &op_, i, &id, &cm)) != 0) child_fail("write", rc);
                if (op_.ops[i].t == 'i') ids[nid++] = id;
            }
            if (op_.type == 'T' && (rc = cairn_table_commit(t)) != 0) child_fail("commit", rc);
            if (op_.type == 'R' && (rc = cairn_table_rollback(t)) != 0) child_fail("rollback", rc);
        }
        ll = (size_t)snprintf(line, sizeof line, "A %llu", (unsigned long long)op_.opid);
        for (i = 0; i < nid && op_.type != 'R'; i++) ll += (size_t)snprintf(line + ll, sizeof line - ll, " %llu", (unsigned long long)ids[i]);
        rel_log_line(fd, "%s\n", line);
        apply(&cm, &op_, ids);
    }
    cairn_table_close(t);
    _exit(0);
}

/* ---- the parent ---- */

/* Apply the acknowledged operations of the log to m; the one in flight (if any) into *inf. */
static int read_log(model *m, oprec *inf, uint64_t *nacked) {
    size_t len;
    uint8_t *buf = rel_slurp(logpath, &len);
    char *line, *save = NULL;
    oprec cur;
    int have = 0;
    if (!buf) return 0;
    for (line = strtok_r((char *)buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == 'I') {
            char *p = line + 2, *e;
            int i;
            memset(&cur, 0, sizeof cur);
            cur.opid = strtoull(p, &e, 10);
            cur.type = e[1];
            cur.n = (int)strtol(e + 3, &e, 10);
            for (i = 0; i < cur.n; i++) {
                cur.ops[i].t = e[1];
                cur.ops[i].k = strtoll(e + 3, &e, 10);
                cur.ops[i].len = (uint32_t)strtoul(e + 1, &e, 10);
            }
            have = 1;
        } else if (line[0] == 'A' && have) {
            uint64_t ids[MAXOPS];
            char *e = line + 2;
            int k = 0;
            (void)strtoull(e, &e, 10);
            while (*e == ' ' && k < MAXOPS) ids[k++] = strtoull(e + 1, &e, 10);
            apply(m, &cur, ids);
            if (cur.type == 'R' || cur.type == 'T' || cur.type == 'S') {
                int i;
                for (i = 0; i < k; i++)
                    if (ids[i] > m->max_id) m->max_id = ids[i];
            }
            (*nacked)++;
            have = 0;
        }
    }
    free(buf);
    if (have) *inf = cur;
    return have;
}

typedef struct got {
    uint64_t id;
    int64_t k;
    uint8_t *v;
    size_t vlen;
} got;

static got *read_state(cairn_table *t, size_t *n, const char *when) {
    cairn_table_iter *it;
    const cairn_value *row;
    uint64_t id, cnt = 0;
    size_t cap = 64;
    got *g = (got *)malloc(cap * sizeof *g);
    int rc;
    *n = 0;
    if ((rc = cairn_table_iter_open(&it, t)) != 0) rel_die("%s: iter_open: %s %s", when, cairn_errname(rc), cairn_errmsg());
    while ((rc = cairn_table_iter_next(it, &id, &row)) == 0) {
        if (*n == cap) g = (got *)realloc(g, (cap *= 2) * sizeof *g);
        g[*n].id = id;
        g[*n].k = row[0].v.i;
        g[*n].vlen = row[1].is_null ? 0 : row[1].v.s.len;
        g[*n].v = (uint8_t *)malloc(g[*n].vlen + 1);
        if (g[*n].vlen) memcpy(g[*n].v, row[1].v.s.bytes, g[*n].vlen);
        (*n)++;
    }
    if (rc != CAIRN_ITEROVER) rel_die("seed %llu iteration %llu: %s: iteration: %s %s", (unsigned long long)seed, (unsigned long long)iter, when,
                                      cairn_errname(rc), cairn_errmsg());
    cairn_table_iter_free(it);
    if ((rc = cairn_table_count(t, &cnt)) != 0 || cnt != *n)
        rel_die("seed %llu iteration %llu: %s: count %llu, iteration %zu", (unsigned long long)seed, (unsigned long long)iter, when,
                (unsigned long long)cnt, *n);
    return g;
}

static void free_state(got *g, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) free(g[i].v);
    free(g);
}

/* does g equal model m exactly? (ids of rows the model lacks ids for are taken from g) */
static int same(const model *m, const got *g, size_t n, char *why, size_t wn) {
    size_t i;
    if (n != m->n) {
        snprintf(why, wn, "%zu rows, expected %zu", n, m->n);
        return 0;
    }
    for (i = 0; i < n; i++) {
        long p = mfind(m, g[i].k);
        const mrow *r;
        if (p < 0) {
            snprintf(why, wn, "row %llu has key %lld, which no acknowledged state has", (unsigned long long)g[i].id, (long long)g[i].k);
            return 0;
        }
        r = &m->r[p];
        if (r->id && r->id != g[i].id) {
            snprintf(why, wn, "key %lld is row %llu, expected row %llu", (long long)g[i].k, (unsigned long long)g[i].id,
                     (unsigned long long)r->id);
            return 0;
        }
        if (r->vlen != g[i].vlen || !rel_gen_eq(r->vopid, r->vidx, g[i].v, g[i].vlen)) {
            snprintf(why, wn, "row %llu (key %lld) holds other bytes", (unsigned long long)g[i].id, (long long)g[i].k);
            return 0;
        }
    }
    return 1;
}

/* the state is acked, or acked + the operation in flight; the matching model goes to *out */
static void judge(const char *when, const model *acked, const oprec *inf, int ninf, const got *g, size_t n, model *out) {
    char why[300], why2[300] = "";
    if (same(acked, g, n, why, sizeof why)) {
        mcopy(out, acked);
        return;
    }
    if (ninf) {
        model b = {NULL, 0, 0, 0};
        uint64_t ids[MAXOPS];
        int i, c = 0;
        size_t j;
        mcopy(&b, acked);
        for (i = 0; i < inf->n; i++)
            if (inf->ops[i].t == 'i') ids[c++] = 0; /* unknown: taken from the table */
        apply(&b, inf, ids);
        if (same(&b, g, n, why2, sizeof why2)) {
            for (j = 0; j < b.n; j++) {
                if (!b.r[j].id) {
                    size_t q;
                    for (q = 0; q < n; q++)
                        if (g[q].k == b.r[j].k) b.r[j].id = g[q].id;
                    if (b.r[j].id <= acked->max_id)
                        rel_die("seed %llu iteration %llu: %s: the insert in flight got id %llu again", (unsigned long long)seed,
                                (unsigned long long)iter, when, (unsigned long long)b.r[j].id);
                    if (b.r[j].id > b.max_id) b.max_id = b.r[j].id;
                }
            }
            mcopy(out, &b);
            free(b.r);
            return;
        }
        free(b.r);
    }
    rel_die("seed %llu iteration %llu: %s: neither the acknowledged state (%s) nor with the operation in flight (%s)",
            (unsigned long long)seed, (unsigned long long)iter, when, why, ninf ? why2 : "none in flight");
}

int main(int argc, char **argv) {
    uint64_t iterations = rel_opt_u64(argc, argv, "--iterations", 100);
    uint64_t max_delay = rel_opt_u64(argc, argv, "--max-delay-us", 200000), nacked = 0, ninf_total = 0, early = 0;
    uint64_t t0 = rel_ms();
    rel_rng prng;
    int keep = 0, i;
    char *tmp;
    model acked = {NULL, 0, 0, 0}, ro = {NULL, 0, 0, 0};
    rel_prog = "rel_crash_table";
    seed = rel_seed(argc, argv, 1);
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--keep")) keep = 1;
    prng.s = seed;
    tmp = rel_tmpdir("crash-table");
    snprintf(dir, sizeof dir, "%s/table", tmp);
    snprintf(logpath, sizeof logpath, "%s/log", tmp);
    printf("%s: seed %llu, %llu iterations, sync commit, in %s\n", rel_prog, (unsigned long long)seed, (unsigned long long)iterations, tmp);
    for (iter = 0; iter < iterations; iter++) {
        pid_t pid;
        int status, ninf, rc;
        struct timespec ts;
        uint64_t delay = rel_below(&prng, max_delay);
        oprec inf;
        got *g;
        size_t n;
        cairn_table *t = NULL;
        cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
        struct cairn_table_stats st = CAIRN_TABLE_STATS_INIT;
        unlink(logpath);
        fflush(stdout);
        if ((pid = fork()) < 0) rel_die("fork: %s", strerror(errno));
        if (pid == 0) child_main();
        ts.tv_sec = (time_t)(delay / 1000000u);
        ts.tv_nsec = (long)(delay % 1000000u) * 1000L;
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        if (waitpid(pid, &status, 0) != pid) rel_die("waitpid: %s", strerror(errno));
        if (WIFEXITED(status)) {
            if (WEXITSTATUS(status) != 0)
                rel_die("seed %llu iteration %llu: the child failed (exit %d)", (unsigned long long)seed, (unsigned long long)iter,
                        WEXITSTATUS(status));
            early++;
        }
        mcopy(&acked, &M);
        memset(&inf, 0, sizeof inf);
        ninf = read_log(&acked, &inf, &nacked);
        ninf_total += (uint64_t)ninf;
        if (rel_fsize(dir) < 0) {
            if (acked.n) rel_die("seed %llu iteration %llu: table missing", (unsigned long long)seed, (unsigned long long)iter);
            continue;
        }
        {
            char mp[800];
            snprintf(mp, sizeof mp, "%s/MANIFEST", dir);
            if (rel_fsize(mp) < 0) { /* killed while creating it */
                if (acked.n) rel_die("seed %llu iteration %llu: manifest missing", (unsigned long long)seed, (unsigned long long)iter);
                continue;
            }
        }
        if ((rc = cairn_table_check(dir)) != 0)
            rel_die("seed %llu iteration %llu: check of the killed table: %s %s", (unsigned long long)seed, (unsigned long long)iter,
                    cairn_errname(rc), cairn_errmsg());
        o.read_only = 1;
        o.create = 0;
        if ((rc = cairn_table_open(&t, dir, &o)) != 0)
            rel_die("seed %llu iteration %llu: read-only open: %s %s", (unsigned long long)seed, (unsigned long long)iter,
                    cairn_errname(rc), cairn_errmsg());
        g = read_state(t, &n, "read-only open");
        judge("read-only open", &acked, &inf, ninf, g, n, &ro);
        free_state(g, n);
        cairn_table_close(t);
        o.read_only = 0;
        o.checkpoint_rows = 32;
        if ((rc = cairn_table_open(&t, dir, &o)) != 0)
            rel_die("seed %llu iteration %llu: writer open: %s %s", (unsigned long long)seed, (unsigned long long)iter,
                    cairn_errname(rc), cairn_errmsg());
        g = read_state(t, &n, "writer open");
        judge("writer open", &acked, &inf, ninf, g, n, &M);
        free_state(g, n);
        if (ro.n != M.n)
            rel_die("seed %llu iteration %llu: the read-only open and the writer's recovery disagree", (unsigned long long)seed,
                    (unsigned long long)iter);
        if ((rc = cairn_table_stats(t, &st)) != 0) rel_die("stats: %s", cairn_errname(rc));
        if (st.next_id <= M.max_id)
            rel_die("seed %llu iteration %llu: next_id %llu would hand out id %llu again", (unsigned long long)seed,
                    (unsigned long long)iter, (unsigned long long)st.next_id, (unsigned long long)M.max_id);
        M.max_id = st.next_id - 1; /* rolled-back ids stay used too */
        cairn_table_close(t);
        if ((rc = cairn_table_check(dir)) != 0)
            rel_die("seed %llu iteration %llu: check after recovery: %s %s", (unsigned long long)seed, (unsigned long long)iter,
                    cairn_errname(rc), cairn_errmsg());
    }
    printf("%s: PASS: %llu kills, %llu operations acknowledged, %llu in flight at the kill (%llu children finished before "
           "the kill), %zu rows at the end, seed %llu, %.1f s\n",
           rel_prog, (unsigned long long)iterations, (unsigned long long)nacked, (unsigned long long)ninf_total,
           (unsigned long long)early, M.n, (unsigned long long)seed, (double)(rel_ms() - t0) / 1000.0);
    if (!keep) rel_rmrf(tmp);
    free(tmp);
    free(M.r);
    free(acked.r);
    free(ro.r);
    return 0;
}
