/* crash_blob.c - the blob store crash loop (the KV one is crash_kv.c; same scheme).
 *
 * A child opens the store (CAIRN_SYNC_COMMIT, or CAIRN_SYNC_GROUP with several writer threads)
 * and runs random creates, updates, deletes, transactions that commit or roll back, compactions
 * and flushes, logging each intent and each acknowledgement (with the keys the store handed
 * out) to an fdatasynced log. The parent SIGKILLs it after a random (seeded) delay, then checks
 * cairn_blob_check on the killed store, that a read-only open and then the writer's recovery
 * see exactly the acknowledged operations plus, per thread, at most the one in flight (a
 * transaction: all or nothing; a create in flight is recognised by its bytes, as its key was
 * never reported), that next_key is above every key ever handed out, and cairn_blob_check
 * after close; then continues from the recovered state.
 *
 * Usage: rel_crash_blob [--iterations N] [--seed S] [--threads T] [--max-delay-us U] [--keep]
 */
#include "rel_common.h"

#include <cairn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXT 8
#define MAXOPS 6

typedef struct mval {
    uint8_t present;
    uint32_t idx, len;
    uint64_t opid;
} mval;

typedef struct op {
    char t; /* 'C' create, 'U' update, 'D' delete */
    uint32_t key, len;
} op;

typedef struct oprec {
    uint64_t opid;
    char type; /* S single, T committed txn, R rolled-back txn, X compact, F flush */
    int n;
    op ops[MAXOPS];
} oprec;

typedef struct model {
    mval *v;
    size_t cap;
} model;

static model M; /* the verified state (the child inherits it) */
static pthread_mutex_t model_mu = PTHREAD_MUTEX_INITIALIZER;
static char store[700], logdir[700];
static int nthreads = 1;
static uint64_t seed, iter, maxkey;
static cairn_blob *cb;

static void grow(model *m, uint64_t key) {
    if (key >= m->cap) {
        size_t nc = m->cap ? m->cap : 1024;
        while (nc <= key) nc *= 2;
        if (!(m->v = (mval *)realloc(m->v, nc * sizeof *m->v))) rel_die("out of memory");
        memset(m->v + m->cap, 0, (nc - m->cap) * sizeof *m->v);
        m->cap = nc;
    }
}

static void mcopy(model *dst, const model *src) {
    grow(dst, src->cap ? src->cap - 1 : 0);
    memset(dst->v, 0, dst->cap * sizeof *dst->v);
    if (src->cap) memcpy(dst->v, src->v, src->cap * sizeof *src->v);
}

static int owner(uint64_t opid) { return (int)((opid >> 24) & 0xff); }

/* Apply the known effects of r; creates need keys (NULL: skip creates). */
static void apply(model *m, const oprec *r, const uint32_t *ckeys) {
    int i, c = 0;
    if (r->type != 'S' && r->type != 'T') return;
    for (i = 0; i < r->n; i++) {
        const op *o = &r->ops[i];
        uint32_t key = o->key;
        if (o->t == 'C') {
            if (!ckeys) continue;
            key = ckeys[c++];
        }
        grow(m, key);
        if (o->t == 'D') {
            m->v[key].present = 0;
        } else {
            m->v[key].present = 1;
            m->v[key].idx = (uint32_t)i;
            m->v[key].len = o->len;
            m->v[key].opid = r->opid;
        }
    }
}

/* ---- the child ------------------------------------------------------------------------------ */

static void child_fail(const char *what, int rc) {
    fprintf(stderr, "%s: FAIL (child, seed %llu, iteration %llu): %s: %s %s\n", rel_prog,
            (unsigned long long)seed, (unsigned long long)iter, what, cairn_errname(rc), cairn_errmsg());
    _exit(3);
}

static uint32_t pick_len(rel_rng *r, uint32_t min) {
    uint64_t p = rel_below(r, 100);
    if (p < 70) return min + (uint32_t)rel_below(r, 600);
    if (p < 95) return min + 600 + (uint32_t)rel_below(r, 2000);
    return 4000 + (uint32_t)rel_below(r, 6000);
}

/* A random present key owned by thread t (0 if none found). */
static uint32_t pick_key(rel_rng *r, int t, const uint8_t *taken) {
    int tries;
    if (!M.cap) return 0;
    for (tries = 0; tries < 64; tries++) {
        uint32_t k = (uint32_t)rel_below(r, maxkey + 1);
        if (k && k < M.cap && M.v[k].present && owner(M.v[k].opid) == t && !taken[k & 4095]) return k;
    }
    return 0;
}

static void *worker(void *arg) {
    int t = (int)(intptr_t)arg, fd;
    rel_rng r;
    uint64_t n;
    char path[800];
    snprintf(path, sizeof path, "%s/log.%d", logdir, t);
    fd = rel_log_open(path);
    r.s = seed ^ (iter * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)(t + 1) << 56);
    for (n = 0; n < 200000; n++) {
        oprec o;
        uint64_t p = rel_below(&r, 100);
        uint32_t ck[MAXOPS];
        int i, rc, nc = 0;
        uint8_t taken[4096];
        char line[1024];
        size_t ll;
        memset(&o, 0, sizeof o);
        memset(taken, 0, sizeof taken);
        o.opid = (iter << 32) | ((uint64_t)t << 24) | n;
        if (p < 8 && nthreads == 1) o.type = 'T';
        else if (p < 12 && nthreads == 1) o.type = 'R';
        else if (p < 14 && t == 0) o.type = 'X';
        else if (p < 16 && t == 0) o.type = 'F';
        else o.type = 'S';
        if (o.type == 'S' || o.type == 'T' || o.type == 'R') {
            int want = o.type == 'S' ? 1 : 2 + (int)rel_below(&r, MAXOPS - 2);
            pthread_mutex_lock(&model_mu);
            while (o.n < want) {
                op *x = &o.ops[o.n];
                uint64_t q = rel_below(&r, 100);
                uint32_t k = q < 55 ? 0 : pick_key(&r, t, taken);
                if (!k) {
                    x->t = 'C';
                    x->len = pick_len(&r, 1);
                } else {
                    taken[k & 4095] = 1;
                    x->key = k;
                    x->t = q < 80 ? 'U' : 'D';
                    if (x->t == 'U') x->len = rel_below(&r, 10) ? pick_len(&r, 0) : 0;
                }
                o.n++;
            }
            pthread_mutex_unlock(&model_mu);
        }
        ll = (size_t)snprintf(line, sizeof line, "I %llu %c %d", (unsigned long long)o.opid, o.type, o.n);
        for (i = 0; i < o.n; i++)
            ll += (size_t)snprintf(line + ll, sizeof line - ll, " %c%u:%u", o.ops[i].t, (unsigned)o.ops[i].key,
                                   (unsigned)o.ops[i].len);
        rel_log_line(fd, "%s\n", line);
        if (o.type == 'X') {
            if ((rc = cairn_blob_compact(cb)) != 0) child_fail("compact", rc);
        } else if (o.type == 'F') {
            if ((rc = cairn_blob_sync(cb)) != 0) child_fail("flush", rc);
        } else {
            if (o.type != 'S' && (rc = cairn_blob_begin(cb)) != 0) child_fail("begin", rc);
            for (i = 0; i < o.n; i++) {
                op *x = &o.ops[i];
                uint8_t *d = (uint8_t *)malloc(x->len + 1);
                rel_gen(o.opid, (uint32_t)i, d, x->len);
                if (x->t == 'C') {
                    if ((rc = cairn_blob_create(cb, d, x->len, &ck[nc])) != 0) child_fail("create", rc);
                    nc++;
                } else if (x->t == 'U') {
                    if ((rc = cairn_blob_update(cb, x->key, d, x->len)) != 0) child_fail("update", rc);
                } else if ((rc = cairn_blob_delete(cb, x->key)) != 0) {
                    child_fail("delete", rc);
                }
                free(d);
            }
            if (o.type == 'T' && (rc = cairn_blob_commit(cb)) != 0) child_fail("commit", rc);
            if (o.type == 'R' && (rc = cairn_blob_rollback(cb)) != 0) child_fail("rollback", rc);
        }
        ll = (size_t)snprintf(line, sizeof line, "A %llu", (unsigned long long)o.opid);
        for (i = 0; i < nc; i++) ll += (size_t)snprintf(line + ll, sizeof line - ll, " %u", (unsigned)ck[i]);
        rel_log_line(fd, "%s\n", line);
        pthread_mutex_lock(&model_mu);
        apply(&M, &o, ck);
        for (i = 0; i < nc; i++)
            if (ck[i] > maxkey) maxkey = ck[i];
        pthread_mutex_unlock(&model_mu);
    }
    close(fd);
    return NULL;
}

static void child_main(void) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    pthread_t th[MAXT];
    int rc, t;
    o.sync = nthreads > 1 ? CAIRN_SYNC_GROUP : CAIRN_SYNC_COMMIT;
    if ((rc = cairn_blob_open(&cb, store, &o)) != 0) child_fail("open", rc);
    if (nthreads == 1) {
        worker((void *)0);
    } else {
        for (t = 0; t < nthreads; t++)
            if (pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t)) child_fail("pthread_create", 0);
        for (t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
    }
    _exit(0);
}

/* ---- the parent ------------------------------------------------------------------------------ */

typedef struct got {
    uint32_t key;
    void *v;
    size_t len;
} got;

static int parse_intent(const char *line, oprec *r) {
    unsigned long long opid;
    int pos = 0, i;
    const char *p;
    memset(r, 0, sizeof *r);
    if (sscanf(line, "I %llu %c %d%n", &opid, &r->type, &r->n, &pos) != 3 || r->n < 0 || r->n > MAXOPS) return -1;
    r->opid = opid;
    p = line + pos;
    for (i = 0; i < r->n; i++) {
        unsigned k, l;
        char c;
        int used = 0;
        if (sscanf(p, " %c%u:%u%n", &c, &k, &l, &used) != 3 || (c != 'C' && c != 'U' && c != 'D')) return -1;
        r->ops[i].t = c;
        r->ops[i].key = k;
        r->ops[i].len = l;
        p += used;
    }
    return 0;
}

static int read_log(int t, model *acked, oprec *inflight, uint64_t *nacked) {
    char path[800];
    size_t len;
    uint8_t *buf;
    char *line, *end;
    int pending = 0;
    oprec cur;
    snprintf(path, sizeof path, "%s/log.%d", logdir, t);
    if (!(buf = rel_slurp(path, &len))) return 0;
    for (line = (char *)buf; (end = memchr(line, '\n', len - (size_t)(line - (char *)buf))) != NULL; line = end + 1) {
        *end = 0;
        if (line[0] == 'I') {
            if (pending || parse_intent(line, &cur)) rel_die("log.%d: unexpected line '%s'", t, line);
            pending = 1;
        } else if (line[0] == 'A') {
            char *p = line + 2, *q;
            uint32_t ck[MAXOPS];
            int nc = 0, i;
            unsigned long long id = strtoull(p, &q, 10);
            if (!pending || id != cur.opid) rel_die("log.%d: ack without intent '%s'", t, line);
            for (p = q; *p == ' ' && nc < MAXOPS; p = q) ck[nc++] = (uint32_t)strtoul(p, &q, 10);
            for (i = 0; i < nc; i++)
                if (ck[i] > maxkey) maxkey = ck[i];
            apply(acked, &cur, ck);
            (*nacked)++;
            pending = 0;
        } else {
            rel_die("log.%d: bad line '%s'", t, line);
        }
    }
    free(buf);
    if (pending && (cur.type == 'S' || cur.type == 'T')) {
        *inflight = cur;
        return 1;
    }
    return 0;
}

static got *read_state(cairn_blob *b, size_t *n, const char *when) {
    cairn_blob_iter *it;
    uint32_t key;
    size_t cap = 256;
    got *g = (got *)malloc(cap * sizeof *g);
    int rc;
    *n = 0;
    if ((rc = cairn_blob_iter_open(&it, b)) != 0)
        rel_die("seed %llu iteration %llu (%s): iter_open: %s %s", (unsigned long long)seed, (unsigned long long)iter,
                when, cairn_errname(rc), cairn_errmsg());
    while ((rc = cairn_blob_iter_next(it, &key)) == 0) {
        if (*n == cap) g = (got *)realloc(g, (cap *= 2) * sizeof *g);
        g[*n].key = key;
        if ((rc = cairn_blob_read(b, key, &g[*n].v, &g[*n].len)) != 0)
            rel_die("seed %llu iteration %llu (%s): read %u: %s %s", (unsigned long long)seed, (unsigned long long)iter,
                    when, (unsigned)key, cairn_errname(rc), cairn_errmsg());
        (*n)++;
    }
    if (rc != CAIRN_ITEROVER)
        rel_die("seed %llu iteration %llu (%s): iter_next: %s %s", (unsigned long long)seed, (unsigned long long)iter,
                when, cairn_errname(rc), cairn_errmsg());
    cairn_blob_iter_free(it);
    return g;
}

static void free_state(got *g, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) cairn_free(g[i].v);
    free(g);
}

/* Does g equal acked plus the in-flight operations in mask? On success the state goes to out. */
static int try_mask(const model *acked, const oprec *inf, int ninf, unsigned mask, const got *g, size_t n, model *out) {
    typedef struct pc { uint64_t opid; uint32_t idx, len; int inf, used; } pc;
    pc creates[MAXT * MAXOPS];
    int nc = 0, i, j;
    size_t k, present = 0, seen = 0;
    uint32_t ck[MAXT][MAXOPS];
    mcopy(out, acked);
    for (i = 0; i < ninf; i++) {
        if (!(mask & (1u << i))) continue;
        apply(out, &inf[i], NULL); /* updates and deletes */
        for (j = 0; j < inf[i].n; j++)
            if (inf[i].ops[j].t == 'C') {
                creates[nc].opid = inf[i].opid;
                creates[nc].idx = (uint32_t)j;
                creates[nc].len = inf[i].ops[j].len;
                creates[nc].inf = i;
                creates[nc].used = 0;
                nc++;
            }
    }
    for (k = 0; k < out->cap; k++) present += out->v[k].present;
    for (k = 0; k < n; k++) {
        uint32_t key = g[k].key;
        if (key < out->cap && out->v[key].present) {
            const mval *e = &out->v[key];
            if (g[k].len != e->len || !rel_gen_eq(e->opid, e->idx, g[k].v, g[k].len)) return 0;
            seen++;
        } else {
            int found = 0;
            for (i = 0; i < nc && !found; i++)
                if (!creates[i].used && creates[i].len == g[k].len && rel_gen_eq(creates[i].opid, creates[i].idx, g[k].v, g[k].len)) {
                    creates[i].used = 1;
                    ck[creates[i].inf][creates[i].idx] = key;
                    found = 1;
                }
            if (!found) return 0;
        }
    }
    if (seen != present) return 0;
    for (i = 0; i < nc; i++)
        if (!creates[i].used) return 0;
    /* record the keys the in-flight creates got */
    for (i = 0; i < nc; i++) {
        uint32_t key = ck[creates[i].inf][creates[i].idx];
        grow(out, key);
        out->v[key].present = 1;
        out->v[key].opid = creates[i].opid;
        out->v[key].idx = creates[i].idx;
        out->v[key].len = creates[i].len;
        if (key > maxkey) maxkey = key;
    }
    return 1;
}

static void judge(const char *when, const model *acked, const oprec *inf, int ninf, const got *g, size_t n, model *out) {
    unsigned mask;
    size_t k;
    int i, j;
    for (mask = 0; mask < (1u << ninf); mask++)
        if (try_mask(acked, inf, ninf, mask, g, n, out)) return;
    fprintf(stderr, "%s: FAIL: seed %llu iteration %llu (%s): recovered state is neither the acknowledged "
            "operations nor them plus the operation in flight\n", rel_prog, (unsigned long long)seed,
            (unsigned long long)iter, when);
    for (i = 0; i < ninf; i++) {
        fprintf(stderr, "  in flight: opid %llu type %c:", (unsigned long long)inf[i].opid, inf[i].type);
        for (j = 0; j < inf[i].n; j++) fprintf(stderr, " %c%u:%u", inf[i].ops[j].t, (unsigned)inf[i].ops[j].key, (unsigned)inf[i].ops[j].len);
        fputc('\n', stderr);
    }
    for (k = 0; k < acked->cap; k++) {
        size_t x;
        const mval *e = &acked->v[k];
        int found = -1;
        for (x = 0; x < n; x++)
            if (g[x].key == k) found = (int)x;
        if (e->present && found < 0) fprintf(stderr, "  key %zu: acknowledged (opid %llu len %u), missing\n", k, (unsigned long long)e->opid, (unsigned)e->len);
        else if (e->present && (g[found].len != e->len || !rel_gen_eq(e->opid, e->idx, g[found].v, g[found].len)))
            fprintf(stderr, "  key %zu: acknowledged opid %llu len %u, got other bytes (len %zu)\n", k, (unsigned long long)e->opid, (unsigned)e->len, g[found].len);
    }
    for (k = 0; k < n; k++)
        if (g[k].key >= acked->cap || !acked->v[g[k].key].present)
            fprintf(stderr, "  key %u: present (len %zu) but not acknowledged\n", (unsigned)g[k].key, g[k].len);
    exit(1);
}

int main(int argc, char **argv) {
    uint64_t iterations = rel_opt_u64(argc, argv, "--iterations", 200);
    uint64_t max_delay = rel_opt_u64(argc, argv, "--max-delay-us", 40000);
    uint64_t nacked = 0, early = 0, t0 = rel_ms(), ninf_total = 0;
    int keep = 0, i;
    char *dir;
    rel_rng prng;
    model acked = {NULL, 0}, ro = {NULL, 0};
    rel_prog = "rel_crash_blob";
    seed = rel_seed(argc, argv, 1);
    nthreads = (int)rel_opt_u64(argc, argv, "--threads", 1);
    if (nthreads < 1 || nthreads > MAXT) rel_die("--threads 1..%d", MAXT);
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--keep")) keep = 1;
    prng.s = seed;
    dir = rel_tmpdir(nthreads > 1 ? "crash-blob-mt" : "crash-blob");
    snprintf(store, sizeof store, "%s/store.blob", dir);
    snprintf(logdir, sizeof logdir, "%s", dir);
    printf("%s: seed %llu, %llu iterations, %d thread(s), sync %s, in %s\n", rel_prog, (unsigned long long)seed,
           (unsigned long long)iterations, nthreads, nthreads > 1 ? "group" : "commit", dir);
    grow(&M, 1);
    for (iter = 0; iter < iterations; iter++) {
        pid_t pid;
        int status, t, ninf = 0, rc;
        struct timespec ts;
        uint64_t delay = rel_below(&prng, max_delay);
        oprec inf[MAXT];
        got *g;
        size_t n;
        cairn_blob *b = NULL;
        cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
        struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
        for (t = 0; t < MAXT; t++) {
            char p[800];
            snprintf(p, sizeof p, "%s/log.%d", logdir, t);
            unlink(p);
        }
        fflush(stdout);
        if ((pid = fork()) < 0) rel_die("fork: %s", strerror(errno));
        if (pid == 0) child_main();
        ts.tv_sec = (time_t)(delay / 1000000u);
        ts.tv_nsec = (long)(delay % 1000000u) * 1000L;
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        if (waitpid(pid, &status, 0) != pid) rel_die("waitpid: %s", strerror(errno));
        if (WIFEXITED(status)) {
            if (WEXITSTATUS(status) != 0) rel_die("seed %llu iteration %llu: the child failed (exit %d)",
                                                  (unsigned long long)seed, (unsigned long long)iter, WEXITSTATUS(status));
            early++;
        }
        mcopy(&acked, &M);
        for (t = 0; t < nthreads; t++) ninf += read_log(t, &acked, &inf[ninf], &nacked);
        ninf_total += (uint64_t)ninf;
        if (rel_fsize(store) < 0) {
            size_t k;
            for (k = 0; k < acked.cap; k++)
                if (acked.v[k].present) rel_die("seed %llu iteration %llu: store missing", (unsigned long long)seed, (unsigned long long)iter);
            continue;
        }
        if ((rc = cairn_blob_check(store)) != 0)
            rel_die("seed %llu iteration %llu: check of the killed store: %s %s", (unsigned long long)seed,
                    (unsigned long long)iter, cairn_errname(rc), cairn_errmsg());
        o.read_only = 1;
        if ((rc = cairn_blob_open(&b, store, &o)) != 0)
            rel_die("seed %llu iteration %llu: read-only open: %s %s", (unsigned long long)seed,
                    (unsigned long long)iter, cairn_errname(rc), cairn_errmsg());
        g = read_state(b, &n, "read-only open");
        judge("read-only open", &acked, inf, ninf, g, n, &ro);
        free_state(g, n);
        cairn_blob_close(b);
        o.read_only = 0;
        if ((rc = cairn_blob_open(&b, store, &o)) != 0)
            rel_die("seed %llu iteration %llu: writer open: %s %s", (unsigned long long)seed,
                    (unsigned long long)iter, cairn_errname(rc), cairn_errmsg());
        g = read_state(b, &n, "writer open");
        judge("writer open", &acked, inf, ninf, g, n, &M);
        free_state(g, n);
        if (ro.cap != M.cap || memcmp(ro.v, M.v, M.cap * sizeof *M.v) != 0)
            rel_die("seed %llu iteration %llu: the read-only open and the writer's recovery disagree",
                    (unsigned long long)seed, (unsigned long long)iter);
        if ((rc = cairn_blob_stats(b, &st)) != 0) rel_die("stats: %s", cairn_errname(rc));
        if ((uint64_t)st.next_key <= maxkey)
            rel_die("seed %llu iteration %llu: next_key %u would hand out key %llu again", (unsigned long long)seed,
                    (unsigned long long)iter, (unsigned)st.next_key, (unsigned long long)maxkey);
        cairn_blob_close(b);
        if ((rc = cairn_blob_check(store)) != 0)
            rel_die("seed %llu iteration %llu: check after recovery: %s %s", (unsigned long long)seed,
                    (unsigned long long)iter, cairn_errname(rc), cairn_errmsg());
    }
    printf("%s: PASS: %llu kills, %llu operations acknowledged, %llu in flight at the kill (%llu children "
           "finished before the kill), %d thread(s), seed %llu, %.1f s\n", rel_prog, (unsigned long long)iterations,
           (unsigned long long)nacked, (unsigned long long)ninf_total, (unsigned long long)early, nthreads,
           (unsigned long long)seed, (double)(rel_ms() - t0) / 1000.0);
    if (!keep) rel_rmrf(dir);
    free(dir);
    free(M.v);
    free(acked.v);
    free(ro.v);
    return 0;
}
