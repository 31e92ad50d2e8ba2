/* crash_kv.c - the KV crash loop.
 *
 * The parent forks a child that opens the store and runs random operations (puts, deletes,
 * transactions that commit or roll back, reclaim) with CAIRN_SYNC_COMMIT (or CAIRN_SYNC_GROUP
 * with several writer threads). Before each operation the child appends its intent to an
 * operation log and fdatasyncs it; after the operation is acknowledged (returned 0) it appends
 * the ack and fdatasyncs again. The parent SIGKILLs the child after a random delay (seeded),
 * then checks that
 *   - cairn_kv_check passes on the killed store,
 *   - a read-only open, then a writer open (recovery), each see exactly the acknowledged
 *     operations plus, per writer thread, at most the one operation in flight (a transaction:
 *     all of it or none of it),
 *   - cairn_kv_check passes after the writer closed,
 * and continues from the recovered state with the next child.
 *
 * Usage: rel_crash_kv [--iterations N] [--seed S] [--threads T] [--max-delay-us U] [--keep]
 * T > 1 uses CAIRN_SYNC_GROUP (bare puts and deletes on disjoint keys; thread 0 also reclaims).
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

#define NKEYS 96
#define MAXT 8
#define MAXOPS 8

typedef struct mval {
    uint8_t present, kind;
    uint32_t idx, len;
    uint64_t opid;
} mval;

typedef struct op {
    char t; /* 'P' put, 'D' delete */
    uint32_t key, len;
} op;

typedef struct oprec {
    uint64_t opid;
    char type; /* S single, T committed transaction, R rolled-back transaction, X reclaim */
    int n;
    op ops[MAXOPS];
} oprec;

static mval model[NKEYS]; /* the verified state (the child inherits it) */
static char store[700], logdir[700];
static int nthreads = 1;
static uint64_t seed, iter;
static cairn_kv *ckv; /* the child's handle */

static size_t keyname(uint32_t k, char *buf) {
    int n = snprintf(buf, 64, "k%05u-", (unsigned)k);
    size_t pad = (size_t)(k % 5) * 7;
    memset(buf + n, 'x', pad);
    buf[n + pad] = 0;
    return (size_t)n + pad;
}

static uint8_t kind_of(uint64_t opid, uint32_t idx) { return (uint8_t)((opid + idx) % 3); }

static void apply(mval *m, const oprec *r) {
    int i;
    if (r->type != 'S' && r->type != 'T') return;
    for (i = 0; i < r->n; i++) {
        const op *o = &r->ops[i];
        if (o->t == 'P') {
            m[o->key].present = 1;
            m[o->key].kind = kind_of(r->opid, (uint32_t)i);
            m[o->key].idx = (uint32_t)i;
            m[o->key].len = o->len;
            m[o->key].opid = r->opid;
        } else {
            m[o->key].present = 0;
        }
    }
}

static void log_intent(int fd, const oprec *r) {
    char buf[1024];
    size_t n = (size_t)snprintf(buf, sizeof buf, "I %llu %c %d", (unsigned long long)r->opid, r->type, r->n);
    int i;
    for (i = 0; i < r->n; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, r->ops[i].t == 'P' ? " P%u:%u" : " D%u",
                              (unsigned)r->ops[i].key, (unsigned)r->ops[i].len);
    rel_log_line(fd, "%s\n", buf);
}

/* ---- the child ---------------------------------------------------------------------------- */

static void child_fail(const char *what, int rc) {
    fprintf(stderr, "%s: FAIL (child, seed %llu, iteration %llu): %s: %s %s\n", rel_prog,
            (unsigned long long)seed, (unsigned long long)iter, what, cairn_errname(rc), cairn_errmsg());
    _exit(3);
}

static uint32_t pick_len(rel_rng *r) {
    uint64_t p = rel_below(r, 100);
    if (p < 70) return (uint32_t)rel_below(r, 300);
    if (p < 95) return 300 + (uint32_t)rel_below(r, 2700);
    return 4000 + (uint32_t)rel_below(r, 5000);
}

static void do_put(const oprec *r, int i) {
    char key[80];
    size_t kl = keyname(r->ops[i].key, key);
    uint8_t *v = (uint8_t *)malloc(r->ops[i].len + 1);
    int rc;
    rel_gen(r->opid, (uint32_t)i, v, r->ops[i].len);
    rc = cairn_kv_put(ckv, key, kl, v, r->ops[i].len, kind_of(r->opid, (uint32_t)i));
    free(v);
    if (rc) child_fail("put", rc);
}

static void do_del(const oprec *r, int i) {
    char key[80];
    size_t kl = keyname(r->ops[i].key, key);
    int rc = cairn_kv_delete(ckv, key, kl);
    if (rc) child_fail("delete (of a key the acknowledged operations left present)", rc);
}

static void *worker(void *arg) {
    int t = (int)(intptr_t)arg, fd;
    rel_rng r;
    uint64_t n;
    uint32_t per = NKEYS / (uint32_t)nthreads;
    char path[800];
    snprintf(path, sizeof path, "%s/log.%d", logdir, t);
    fd = rel_log_open(path);
    r.s = seed ^ (iter * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)(t + 1) << 56);
    for (n = 0; n < 200000; n++) {
        oprec o;
        uint64_t p = rel_below(&r, 100);
        int i, rc;
        uint8_t pres[NKEYS];
        memset(&o, 0, sizeof o);
        o.opid = (iter << 32) | ((uint64_t)t << 24) | n;
        for (i = 0; i < NKEYS; i++) pres[i] = model[i].present;
        if (p < 8 && nthreads == 1) o.type = 'T';
        else if (p < 12 && nthreads == 1) o.type = 'R';
        else if (p < 14 && t == 0) o.type = 'X';
        else o.type = 'S';
        if (o.type != 'X') {
            int want = o.type == 'S' ? 1 : 2 + (int)rel_below(&r, MAXOPS - 2);
            while (o.n < want) {
                uint32_t k = (uint32_t)t + (uint32_t)nthreads * (uint32_t)rel_below(&r, per);
                op *x = &o.ops[o.n];
                x->key = k;
                if (pres[k] && rel_below(&r, 100) < 35) {
                    x->t = 'D';
                    pres[k] = 0;
                } else {
                    x->t = 'P';
                    x->len = pick_len(&r);
                    pres[k] = 1;
                }
                o.n++;
            }
        }
        log_intent(fd, &o);
        if (o.type == 'X') {
            if ((rc = cairn_kv_compact(ckv)) != 0) child_fail("reclaim", rc);
        } else {
            if (o.type != 'S' && (rc = cairn_kv_begin(ckv)) != 0) child_fail("begin", rc);
            for (i = 0; i < o.n; i++) {
                if (o.ops[i].t == 'P') do_put(&o, i);
                else do_del(&o, i);
            }
            if (o.type == 'T' && (rc = cairn_kv_commit(ckv)) != 0) child_fail("commit", rc);
            if (o.type == 'R' && (rc = cairn_kv_rollback(ckv)) != 0) child_fail("rollback", rc);
        }
        rel_log_line(fd, "A %llu\n", (unsigned long long)o.opid);
        apply(model, &o); /* this thread's keys only */
    }
    close(fd);
    return NULL;
}

static void child_main(void) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    pthread_t th[MAXT];
    int rc, t;
    o.sync = nthreads > 1 ? CAIRN_SYNC_GROUP : CAIRN_SYNC_COMMIT;
    o.max_file_size = 4096;
    if ((rc = cairn_kv_open(&ckv, store, &o)) != 0) child_fail("open", rc);
    if (nthreads == 1) {
        worker((void *)0);
    } else {
        for (t = 0; t < nthreads; t++)
            if (pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t)) child_fail("pthread_create", 0);
        for (t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
    }
    _exit(0); /* ran out of operations before the kill: fine */
}

/* ---- the parent ----------------------------------------------------------------------------- */

typedef struct got {
    int rc, kind;
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
        unsigned k, l = 0;
        int used = 0;
        if (sscanf(p, " P%u:%u%n", &k, &l, &used) == 2) r->ops[i].t = 'P';
        else if (sscanf(p, " D%u%n", &k, &used) == 1) r->ops[i].t = 'D';
        else return -1;
        if (k >= NKEYS) return -1;
        r->ops[i].key = k;
        r->ops[i].len = l;
        p += used;
    }
    return 0;
}

/* Applies the acknowledged operations of log.<t> to acked; the unacknowledged one, if any, goes
 * to *inflight (returns 1). */
static int read_log(int t, mval *acked, oprec *inflight, uint64_t *nacked) {
    char path[800];
    size_t len;
    uint8_t *buf;
    char *line, *end;
    int pending = 0;
    oprec cur;
    snprintf(path, sizeof path, "%s/log.%d", logdir, t);
    if (!(buf = rel_slurp(path, &len))) return 0; /* killed before the log was created */
    for (line = (char *)buf; (end = memchr(line, '\n', len - (size_t)(line - (char *)buf))) != NULL; line = end + 1) {
        *end = 0;
        if (line[0] == 'I') {
            if (pending) rel_die("seed %llu: log.%d: intent without ack before '%s'", (unsigned long long)seed, t, line);
            if (parse_intent(line, &cur)) rel_die("log.%d: bad line '%s'", t, line);
            pending = 1;
        } else if (line[0] == 'A') {
            unsigned long long id = strtoull(line + 2, NULL, 10);
            if (!pending || id != cur.opid) rel_die("log.%d: ack without intent '%s'", t, line);
            apply(acked, &cur);
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

static void read_state(cairn_kv *kv, got *g, const char *when) {
    uint32_t k;
    for (k = 0; k < NKEYS; k++) {
        char key[80];
        size_t kl = keyname(k, key);
        g[k].v = NULL;
        g[k].rc = cairn_kv_get(kv, key, kl, &g[k].v, &g[k].len, &g[k].kind);
        if (g[k].rc != 0 && g[k].rc != CAIRN_NOTFOUND)
            rel_die("seed %llu iteration %llu (%s): get %s: %s %s", (unsigned long long)seed,
                    (unsigned long long)iter, when, key, cairn_errname(g[k].rc), cairn_errmsg());
    }
}

static void free_state(got *g) {
    int k;
    for (k = 0; k < NKEYS; k++) cairn_free(g[k].v);
}

static int matches(const mval *e, const got *g) {
    int k;
    for (k = 0; k < NKEYS; k++) {
        if (!e[k].present) {
            if (g[k].rc != CAIRN_NOTFOUND) return 0;
        } else if (g[k].rc != 0 || g[k].len != e[k].len || g[k].kind != e[k].kind ||
                   !rel_gen_eq(e[k].opid, e[k].idx, g[k].v, g[k].len)) {
            return 0;
        }
    }
    return 1;
}

static void describe(const char *when, const mval *acked, const got *g, const oprec *inf, int ninf) {
    int k, i, j;
    fprintf(stderr, "%s: FAIL: seed %llu iteration %llu (%s): recovered state is neither the acknowledged "
            "operations nor them plus the operation in flight\n", rel_prog, (unsigned long long)seed,
            (unsigned long long)iter, when);
    for (i = 0; i < ninf; i++) {
        fprintf(stderr, "  in flight: opid %llu type %c:", (unsigned long long)inf[i].opid, inf[i].type);
        for (j = 0; j < inf[i].n; j++) fprintf(stderr, " %c%u", inf[i].ops[j].t, (unsigned)inf[i].ops[j].key);
        fputc('\n', stderr);
    }
    for (k = 0; k < NKEYS; k++) {
        int ok = acked[k].present ? (g[k].rc == 0 && g[k].len == acked[k].len &&
                                     rel_gen_eq(acked[k].opid, acked[k].idx, g[k].v, g[k].len))
                                  : g[k].rc == CAIRN_NOTFOUND;
        if (!ok)
            fprintf(stderr, "  key %d: acknowledged %s (opid %llu len %u), got %s len %zu\n", k,
                    acked[k].present ? "present" : "absent", (unsigned long long)acked[k].opid,
                    (unsigned)acked[k].len, cairn_errname(g[k].rc), g[k].len);
    }
    exit(1);
}

/* The recovered state g must be acked plus a subset of the in-flight operations (one per
 * thread). The matching state goes to out. */
static void judge(const char *when, const mval *acked, const oprec *inf, int ninf, const got *g, mval *out) {
    unsigned mask;
    for (mask = 0; mask < (1u << ninf); mask++) {
        mval e[NKEYS];
        int i;
        memcpy(e, acked, sizeof e);
        for (i = 0; i < ninf; i++)
            if (mask & (1u << i)) apply(e, &inf[i]);
        if (matches(e, g)) {
            memcpy(out, e, sizeof e);
            return;
        }
    }
    describe(when, acked, g, inf, ninf);
}

int main(int argc, char **argv) {
    uint64_t iterations = rel_opt_u64(argc, argv, "--iterations", 200);
    uint64_t max_delay = rel_opt_u64(argc, argv, "--max-delay-us", 40000);
    uint64_t nacked = 0, inflight_applied = 0, inflight_lost = 0, early_exits = 0, t0 = rel_ms();
    int keep = 0, i;
    char *dir;
    rel_rng prng;
    rel_prog = "rel_crash_kv";
    seed = rel_seed(argc, argv, 1);
    nthreads = (int)rel_opt_u64(argc, argv, "--threads", 1);
    if (nthreads < 1 || nthreads > MAXT) rel_die("--threads 1..%d", MAXT);
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--keep")) keep = 1;
    prng.s = seed;
    dir = rel_tmpdir(nthreads > 1 ? "crash-kv-mt" : "crash-kv");
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(logdir, sizeof logdir, "%s", dir);
    printf("%s: seed %llu, %llu iterations, %d thread(s), sync %s, in %s\n", rel_prog, (unsigned long long)seed,
           (unsigned long long)iterations, nthreads, nthreads > 1 ? "group" : "commit", dir);
    fflush(stdout);
    for (iter = 0; iter < iterations; iter++) {
        pid_t pid;
        int status, t, ninf = 0, rc;
        struct timespec ts;
        uint64_t delay = rel_below(&prng, max_delay);
        mval acked[NKEYS], ro[NKEYS];
        oprec inf[MAXT];
        got g[NKEYS];
        cairn_kv *kv = NULL;
        cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
        struct stat st;
        uint64_t cnt = 0, want = 0;
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
            early_exits++;
        }
        memcpy(acked, model, sizeof acked);
        for (t = 0; t < nthreads; t++) ninf += read_log(t, acked, &inf[ninf], &nacked);
        if (stat(store, &st) != 0) { /* killed before the store directory was made */
            for (t = 0; t < NKEYS; t++)
                if (acked[t].present) rel_die("seed %llu iteration %llu: store missing", (unsigned long long)seed, (unsigned long long)iter);
            continue;
        }
        /* 1. the killed store is healthy */
        if ((rc = cairn_kv_check(store)) != 0)
            rel_die("seed %llu iteration %llu: check of the killed store: %s %s", (unsigned long long)seed,
                    (unsigned long long)iter, cairn_errname(rc), cairn_errmsg());
        /* 2. a reader sees a valid state without recovery */
        o.read_only = 1;
        if ((rc = cairn_kv_open(&kv, store, &o)) != 0)
            rel_die("seed %llu iteration %llu: read-only open: %s %s", (unsigned long long)seed,
                    (unsigned long long)iter, cairn_errname(rc), cairn_errmsg());
        read_state(kv, g, "read-only open");
        judge("read-only open", acked, inf, ninf, g, ro);
        free_state(g);
        cairn_kv_close(kv);
        /* 3. the writer's recovery */
        o.read_only = 0;
        o.max_file_size = 4096;
        if ((rc = cairn_kv_open(&kv, store, &o)) != 0)
            rel_die("seed %llu iteration %llu: writer open: %s %s", (unsigned long long)seed,
                    (unsigned long long)iter, cairn_errname(rc), cairn_errmsg());
        read_state(kv, g, "writer open");
        judge("writer open", acked, inf, ninf, g, model);
        free_state(g);
        for (t = 0; t < NKEYS; t++) want += model[t].present;
        if ((rc = cairn_kv_count(kv, &cnt)) != 0 || cnt != want)
            rel_die("seed %llu iteration %llu: count %llu, expected %llu (%s)", (unsigned long long)seed,
                    (unsigned long long)iter, (unsigned long long)cnt, (unsigned long long)want, cairn_errname(rc));
        if (memcmp(ro, model, sizeof ro) != 0)
            rel_die("seed %llu iteration %llu: the read-only open and the writer's recovery disagree on the in-flight operation",
                    (unsigned long long)seed, (unsigned long long)iter);
        for (t = 0; t < ninf; t++) {
            /* count whether each in-flight operation made it (only for the statistics) */
            int k = (int)inf[t].ops[0].key, made = inf[t].ops[0].t == 'P'
                                                      ? model[k].present && model[k].opid == inf[t].opid
                                                      : !model[k].present && acked[k].present;
            if (made) inflight_applied++;
            else inflight_lost++;
        }
        cairn_kv_close(kv);
        if ((rc = cairn_kv_check(store)) != 0)
            rel_die("seed %llu iteration %llu: check after recovery: %s %s", (unsigned long long)seed,
                    (unsigned long long)iter, cairn_errname(rc), cairn_errmsg());
    }
    printf("%s: PASS: %llu kills, %llu operations acknowledged, in flight at the kill: %llu recovered, "
           "%llu not (%llu children finished before the kill), %d thread(s), seed %llu, %.1f s\n",
           rel_prog, (unsigned long long)iterations, (unsigned long long)nacked, (unsigned long long)inflight_applied,
           (unsigned long long)inflight_lost, (unsigned long long)early_exits, nthreads, (unsigned long long)seed,
           (double)(rel_ms() - t0) / 1000.0);
    if (!keep) rel_rmrf(dir);
    free(dir);
    return 0;
}
