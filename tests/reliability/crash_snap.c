/* crash_snap.c - KV snapshots and backups under SIGKILL.
 *
 * The parent forks a child that opens a KV store (CAIRN_SYNC_COMMIT, small data files so that
 * snapshots link several sealed files) and runs random operations: puts, deletes, compactions,
 * named snapshots, drops of the oldest snapshot (at most MAXSNAP are kept) and backups into a
 * fresh directory. Before each operation the child writes its intent to a pipe, after it
 * returned 0 the acknowledgement (lines shorter than PIPE_BUF: atomic). The parent reads the pipe
 * until a random deadline (seeded), SIGKILLs the child, drains the pipe and checks, with a writer
 * open (recovery):
 *   - the store holds exactly the acknowledged writes (plus at most the one in flight);
 *   - cairn_kv_snapshots lists every acknowledged snapshot that was not dropped, a snapshot whose
 *     creation was in flight or not at all, a dropped one never (one whose drop was in flight:
 *     either), and nothing else (no half-built ".tmp" snapshot);
 *   - every listed snapshot opens read-only (a put is CAIRN_READONLY) and holds exactly the data
 *     the store held when the snapshot call was made: every key, its bytes and kind, the count;
 *   - every acknowledged backup, and the one in flight if its directory exists, opens as a store
 *     (read-only, then a writer) with exactly that data; a backup in flight leaves no directory
 *     or a whole one;
 *   - cairn_kv_check passes on the store and on every snapshot directory.
 * The next child continues from the recovered state (backups are removed once checked).
 *
 * Usage: rel_crash_snap [--iterations N] [--seed S] [--max-delay-us U] [--keep]
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
static cairn_kv *ckv;
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
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    rel_rng r;
    uint64_t n;
    int rc;
    o.sync = CAIRN_SYNC_COMMIT;
    o.max_file_size = 4096;
    if ((rc = cairn_kv_open(&ckv, store, &o)) != 0) child_fail("open", rc);
    r.s = seed ^ (iter * 0x9e3779b97f4a7c15ULL) ^ 0x3c3c000000000000ULL;
    for (n = 0; n < 1000000; n++) {
        oper op;
        char line[512], key[32];
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
            size_t kl = keyname(op.key, key);
            rel_gen(op.opid, 0, v, op.len);
            rc = cairn_kv_put(ckv, key, kl, v, op.len, kind_of(op.opid));
            free(v);
            if (rc) child_fail("put", rc);
        } else if (op.type == 'D') {
            size_t kl = keyname(op.key, key);
            if ((rc = cairn_kv_delete(ckv, key, kl)) != 0) child_fail("delete", rc);
        } else if (op.type == 'X') {
            if ((rc = cairn_kv_compact(ckv)) != 0) child_fail("compact", rc);
        } else if (op.type == 'S') {
            if ((rc = cairn_kv_snapshot(ckv, op.name, NULL)) != 0) child_fail("snapshot", rc);
        } else if (op.type == 'R') {
            if ((rc = cairn_kv_drop_snapshot(ckv, op.name)) != 0) child_fail("drop_snapshot", rc);
        } else {
            char dest[800];
            snprintf(dest, sizeof dest, "%s/%s", bkroot, op.name);
            if ((rc = cairn_kv_backup(ckv, dest)) != 0) child_fail("backup", rc);
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

/* 1 if the store kv holds exactly m (every key, bytes, kind, and the count). */
static int holds(cairn_kv *kv, const mval *m, const char *what, int die) {
    uint32_t k;
    uint64_t cnt = 0, want = 0;
    int rc;
    for (k = 0; k < NKEYS; k++) {
        char key[32];
        size_t kl = keyname(k, key), len = 0;
        void *v = NULL;
        int kind = -1, ok;
        rc = cairn_kv_get(kv, key, kl, &v, &len, &kind);
        if (rc != 0 && rc != CAIRN_NOTFOUND) DIE("%s: get %s: %s %s", SI, what, key, cairn_errname(rc), cairn_errmsg());
        ok = m[k].present ? rc == 0 && len == m[k].len && kind == kind_of(m[k].opid) && rel_gen_eq(m[k].opid, 0, v, len)
                          : rc == CAIRN_NOTFOUND;
        cairn_free(v);
        if (!ok) {
            if (die)
                DIE("%s: key %u: expected %s (len %u), got %s len %zu", SI, what, (unsigned)k,
                    m[k].present ? "present" : "absent", (unsigned)m[k].len, cairn_errname(rc), len);
            return 0;
        }
        want += m[k].present;
    }
    if ((rc = cairn_kv_count(kv, &cnt)) != 0 || cnt != want) {
        if (die) DIE("%s: count %llu, expected %llu (%s)", SI, what, (unsigned long long)cnt, (unsigned long long)want, cairn_errname(rc));
        return 0;
    }
    return 1;
}

static void check_backup(const char *name, const mval *m, int inflight) {
    char dest[800], what[200];
    cairn_kv *b = NULL;
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    struct stat st;
    int rc;
    snprintf(dest, sizeof dest, "%s/%s", bkroot, name);
    snprintf(what, sizeof what, "backup %s%s", name, inflight ? " (in flight)" : "");
    if (stat(dest, &st) != 0) {
        if (!inflight) DIE("%s: missing", SI, what);
        return; /* a backup in flight may not have landed */
    }
    if (inflight) inflight_backup++;
    if ((rc = cairn_kv_check(dest)) != 0) DIE("%s: check: %s %s", SI, what, cairn_errname(rc), cairn_errmsg());
    o.read_only = 1;
    o.create = 0;
    if ((rc = cairn_kv_open(&b, dest, &o)) != 0) DIE("%s: read-only open: %s %s", SI, what, cairn_errname(rc), cairn_errmsg());
    holds(b, m, what, 1);
    cairn_kv_close(b);
    o.read_only = 0;
    if ((rc = cairn_kv_open(&b, dest, &o)) != 0) DIE("%s: writer open: %s %s", SI, what, cairn_errname(rc), cairn_errmsg());
    holds(b, m, what, 1);
    cairn_kv_close(b);
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
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--keep")) keep = 1;
    prng.s = seed;
    dir = rel_tmpdir("crash-snap");
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(bkroot, sizeof bkroot, "%s/backups", dir);
    if (mkdir(bkroot, 0755) != 0) rel_die("mkdir %s: %s", bkroot, strerror(errno));
    printf("%s: seed %llu, %llu iterations, sync commit, in %s\n", rel_prog, (unsigned long long)seed,
           (unsigned long long)iterations, dir);
    fflush(stdout);
    signal(SIGPIPE, SIG_IGN);
    for (iter = 0; iter < iterations; iter++) {
        int status, rc, haspend = 0, listed[MAXSNAP + 1], pend_listed = 0;
        uint64_t delay = rel_below(&prng, max_delay);
        oper pend;
        mval before[NKEYS], e[NKEYS];
        cairn_kv *kv = NULL;
        cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
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
        if ((rc = cairn_kv_check(store)) != 0) DIE("check of the killed store: %s %s", SI, cairn_errname(rc), cairn_errmsg());
        o.max_file_size = 4096;
        if ((rc = cairn_kv_open(&kv, store, &o)) != 0) DIE("writer open: %s %s", SI, cairn_errname(rc), cairn_errmsg());
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
        if ((rc = cairn_kv_snapshots(kv, &json)) != 0) DIE("snapshots: %s %s", SI, cairn_errname(rc), cairn_errmsg());
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
            cairn_kv *s = NULL;
            char what[100], sp[900];
            if (!listed[i]) { /* its drop was in flight and landed */
                memmove(&listed[i], &listed[i + 1], sizeof listed[0] * (size_t)(nsnaps - i - 1));
                snap_remove(i--);
                continue;
            }
            snprintf(what, sizeof what, "snapshot %s", snaps[i].name);
            if ((rc = cairn_kv_open_snapshot(&s, kv, snaps[i].name)) != 0)
                DIE("%s: open: %s %s", SI, what, cairn_errname(rc), cairn_errmsg());
            holds(s, snaps[i].st, what, 1);
            if ((rc = cairn_kv_put(s, "x", 1, "y", 1, 0)) != CAIRN_READONLY)
                DIE("%s: a put answered %s, not CAIRN_READONLY", SI, what, cairn_errname(rc));
            cairn_kv_close(s);
            snprintf(sp, sizeof sp, "%s/snapshots/%s", store, snaps[i].name);
            if ((rc = cairn_kv_check(sp)) != 0) DIE("%s: check: %s %s", SI, what, cairn_errname(rc), cairn_errmsg());
            nsnap_checked++;
        }
        holds(kv, model, "store after the snapshots were read", 1);
        cairn_kv_close(kv);
        /* 4. backups */
        for (i = 0; i < nbackups; i++) check_backup(acked_backups[i], backup_st[i], 0);
        if (haspend && pend.type == 'B') check_backup(pend.name, before, 1);
        rel_rmrf(bkroot);
        if (mkdir(bkroot, 0755) != 0) rel_die("mkdir %s: %s", bkroot, strerror(errno));
    }
    printf("%s: PASS: %llu kills, %llu operations acknowledged, %llu snapshot opens and %llu backups checked "
           "exactly; in flight at the kill: %llu writes recovered, %llu not, %llu snapshots and %llu backups landed "
           "whole (%llu children finished before the kill), seed %llu, %.1f s\n",
           rel_prog, (unsigned long long)iterations, (unsigned long long)nacked, (unsigned long long)nsnap_checked,
           (unsigned long long)nbackup_checked, (unsigned long long)inflight_applied, (unsigned long long)inflight_lost,
           (unsigned long long)inflight_snap, (unsigned long long)inflight_backup, (unsigned long long)early_exits,
           (unsigned long long)seed, (double)(rel_ms() - t0) / 1000.0);
    if (!keep) rel_rmrf(dir);
    free(dir);
    return 0;
}
