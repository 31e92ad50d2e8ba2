/* sweep_table.c - the table engine's corruption sweep: damage every file of a table at every
 * offset and check that every answer is right or CAIRN_CORRUPT.
 *
 * A child builds a small table: checkpoint_rows 8, rows with strings and bytes in several row
 * groups, updates and deletes of checkpointed rows, a checkpoint (overlays rewritten, delete
 * bitmaps), then more writes and a transaction that stay in the WAL; the child is killed
 * (_exit) instead of closing, so the WAL holds committed, uncheckpointed transactions. It
 * records the table's content after each of those WAL transactions, and the WAL's size.
 * Then, for every file (MANIFEST, each seg-*.dat, wal) and every offset (--stride N: every Nth),
 * each damage is tried on a fresh copy: flip one bit; zero 8 bytes; truncate there; and, once per
 * file, append garbage. After each: cairn_table_check, a read-only open, a writer open (recovery,
 * then close with its checkpoint) and a read-only open after it; each open reads every row. Rules
 * (a "wrong answer" breaks one):
 *   - check and open return 0 or CAIRN_CORRUPT (CAIRN_VERSION where the damage hits a version
 *     field); no crash, no sanitizer report; a row read or an iteration may fail CAIRN_CORRUPT;
 *   - the rows read are exactly one allowed state: the final one; or, when the damage is in the
 *     WAL at or after the start of WAL transaction j, the state after transaction j-1 or any later
 *     one (damage there is indistinguishable from a torn tail, which recovery drops; damage before
 *     the last record with valid records after it is CAIRN_CORRUPT).
 * Prints the number of cases and wrong answers; exits 1 if there is any wrong answer.
 *
 * Usage: rel_sweep_table [--stride N] [--seed S] [--keep]
 */
#include "rel_common.h"

#include <cairn.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXFILES 32
#define MAXSTATES 16

typedef struct pfile {
    char name[256];
    uint8_t *data;
    size_t len;
} pfile;

static pfile pf[MAXFILES];
static int npf;
static char work[700], pristine[700], hist[800];
static char *states[MAXSTATES];
static long walend[MAXSTATES]; /* WAL size after state i (i >= 1: WAL transactions) */
static int nstates;
static uint64_t cases, wrong, corrupt_answers;
static char cur_case[300];

static char *dump(cairn_table *t, int *rc_out) {
    cairn_table_iter *it;
    const char *row;
    uint64_t id;
    size_t cap = 1024, n = 0;
    char *s = (char *)malloc(cap);
    int rc;
    s[0] = 0;
    *rc_out = cairn_table_iter_open(&it, t);
    if (*rc_out) return s;
    while ((rc = cairn_table_iter_next_json(it, &id, &row)) == 0) {
        size_t need = strlen(row) + 32;
        if (n + need >= cap) s = (char *)realloc(s, cap = (n + need) * 2);
        n += (size_t)snprintf(s + n, cap - n, "%llu:%s;", (unsigned long long)id, row);
    }
    cairn_table_iter_free(it);
    *rc_out = rc == CAIRN_ITEROVER ? 0 : rc;
    return s;
}

/* ---- the builder (child) ---- */

static void bfail(const char *what, int rc) {
    fprintf(stderr, "%s: build: %s: %s %s\n", rel_prog, what, cairn_errname(rc), cairn_errmsg());
    _exit(3);
}

static void record(cairn_table *t, FILE *h) {
    int rc;
    char *s = dump(t, &rc), p[800];
    if (rc) bfail("dump", rc);
    snprintf(p, sizeof p, "%s/wal", pristine);
    fprintf(h, "%lld %s\n", rel_fsize(p), s);
    fflush(h);
    free(s);
}

static void build(void) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    FILE *h = fopen(hist, "w");
    int i, rc;
    char b[256];
    o.schema = "id i64 primary key, name string, tag bytes:4 unique, blob bytes, score f64 not null default 1.5";
    o.checkpoint_rows = 8;
    if ((rc = cairn_table_open(&t, pristine, &o)) != 0) bfail("open", rc);
    for (i = 0; i < 20; i++) {
        snprintf(b, sizeof b, "{\"id\": %d, \"name\": \"row %d %s\", \"tag\": {\"$bytes\": \"%08x\"}, \"blob\": {\"$bytes\": \"%0*d\"}}", i * 3,
                 i, i % 3 ? "x" : "a longer name", (unsigned)(i * 2654435761u), 2 * (i % 5 + 1), i);
        if ((rc = cairn_table_insert_json(t, b, NULL)) != 0) bfail("insert", rc);
    }
    if ((rc = cairn_table_update_json(t, 3, "{\"name\": \"updated\"}")) != 0) bfail("update", rc);
    if ((rc = cairn_table_delete(t, 5)) != 0) bfail("delete", rc);
    if ((rc = cairn_table_delete(t, 12)) != 0) bfail("delete", rc);
    if ((rc = cairn_table_sync(t)) != 0) bfail("sync", rc);
    record(t, h); /* state 0: the checkpointed table, the WAL empty */
    if ((rc = cairn_table_insert_json(t, "{\"id\": 100, \"name\": \"in the wal\"}", NULL)) != 0) bfail("insert", rc);
    record(t, h);
    if ((rc = cairn_table_update_json(t, 2, "{\"score\": 9.5, \"blob\": null}")) != 0) bfail("update", rc);
    record(t, h);
    if ((rc = cairn_table_delete(t, 7)) != 0) bfail("delete", rc);
    record(t, h);
    if ((rc = cairn_table_begin(t)) != 0) bfail("begin", rc);
    if ((rc = cairn_table_insert_json(t, "{\"id\": 101}", NULL)) != 0) bfail("insert", rc);
    if ((rc = cairn_table_update_json(t, 21, "{\"name\": \"txn\"}")) != 0) bfail("update", rc);
    if ((rc = cairn_table_commit(t)) != 0) bfail("commit", rc);
    record(t, h);
    fclose(h);
    _exit(0); /* killed: the WAL keeps its transactions */
}

/* ---- the sweep ---- */

static int cmp_pf(const void *a, const void *b) { return strcmp(((const pfile *)a)->name, ((const pfile *)b)->name); }

static void load(void) {
    DIR *d = opendir(pristine);
    struct dirent *e;
    size_t len;
    uint8_t *h;
    char *line, *save = NULL;
    if (!d) rel_die("opendir %s", pristine);
    while ((e = readdir(d)) != NULL) {
        char p[1000];
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "LOCK")) continue;
        if (npf == MAXFILES) rel_die("too many files");
        snprintf(p, sizeof p, "%s/%s", pristine, e->d_name);
        snprintf(pf[npf].name, sizeof pf[npf].name, "%s", e->d_name);
        pf[npf].data = rel_slurp(p, &pf[npf].len);
        npf++;
    }
    closedir(d);
    qsort(pf, (size_t)npf, sizeof pf[0], cmp_pf);
    h = rel_slurp(hist, &len);
    if (!h) rel_die("no history");
    for (line = strtok_r((char *)h, "\n", &save); line && nstates < MAXSTATES; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        walend[nstates] = atoll(line);
        states[nstates++] = strdup(sp ? sp + 1 : "");
    }
    free(h);
    if (nstates < 2) rel_die("history too short");
}

static void restore(void) {
    int i;
    rel_rmrf(work);
    if (mkdir(work, 0755) != 0) rel_die("mkdir %s: %s", work, strerror(errno));
    for (i = 0; i < npf; i++) {
        char p[1000];
        snprintf(p, sizeof p, "%.699s/%.255s", work, pf[i].name);
        rel_spit(p, pf[i].data, pf[i].len);
    }
}

static void bad(const char *fmt, const char *a, const char *b) {
    wrong++;
    fprintf(stderr, "WRONG ANSWER [%s]: ", cur_case);
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
}

static int ok_rc(int rc) { return rc == 0 || rc == CAIRN_CORRUPT || rc == CAIRN_VERSION; }

/* the content read must be one allowed state (first allowed index lo) */
static void judge(cairn_table *t, int lo, const char *when) {
    int rc, j, ok = 0;
    char *s = dump(t, &rc);
    if (rc == CAIRN_CORRUPT) {
        corrupt_answers++;
    } else if (rc) {
        bad("%s: iteration: %s", when, cairn_errname(rc));
    } else {
        for (j = lo; j < nstates; j++)
            if (!strcmp(s, states[j])) ok = 1;
        if (!ok) bad("%s: rows are no allowed state: %s", when, s);
    }
    free(s);
}

static void run_case(int fi, const char *kind, size_t off, int lo) {
    char p[1000];
    cairn_table *t = NULL;
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    int rc, opened;
    cases++;
    snprintf(cur_case, sizeof cur_case, "%s %s at %zu", pf[fi].name, kind, off);
    restore();
    snprintf(p, sizeof p, "%s/%s", work, pf[fi].name);
    if (!strcmp(kind, "flip")) {
        uint8_t *d = (uint8_t *)malloc(pf[fi].len);
        memcpy(d, pf[fi].data, pf[fi].len);
        d[off] ^= (uint8_t)(1u << (off % 8));
        rel_spit(p, d, pf[fi].len);
        free(d);
    } else if (!strcmp(kind, "zero8")) {
        uint8_t *d = (uint8_t *)malloc(pf[fi].len);
        memcpy(d, pf[fi].data, pf[fi].len);
        memset(d + off, 0, off + 8 <= pf[fi].len ? 8 : pf[fi].len - off);
        rel_spit(p, d, pf[fi].len);
        free(d);
    } else if (!strcmp(kind, "truncate")) {
        rel_spit(p, pf[fi].data, off);
    } else {
        uint8_t *d = (uint8_t *)malloc(pf[fi].len + 100);
        size_t k;
        memcpy(d, pf[fi].data, pf[fi].len);
        for (k = 0; k < 100; k++) d[pf[fi].len + k] = (uint8_t)(k * 37 + 11);
        rel_spit(p, d, pf[fi].len + 100);
        free(d);
    }
    rc = cairn_table_check(work);
    if (!ok_rc(rc)) bad("check: %s %s", cairn_errname(rc), cairn_errmsg());
    o.read_only = 1;
    o.create = 0;
    rc = cairn_table_open(&t, work, &o);
    if (!ok_rc(rc)) bad("read-only open: %s %s", cairn_errname(rc), cairn_errmsg());
    if (!rc) {
        judge(t, lo, "read-only open");
        cairn_table_close(t);
    } else {
        corrupt_answers++;
    }
    o.read_only = 0;
    rc = cairn_table_open(&t, work, &o);
    if (!ok_rc(rc)) bad("writer open: %s %s", cairn_errname(rc), cairn_errmsg());
    opened = rc == 0;
    if (opened) {
        judge(t, lo, "writer open");
        cairn_table_close(t);
        o.read_only = 1;
        rc = cairn_table_open(&t, work, &o);
        if (rc) bad("read-only open after recovery: %s %s", cairn_errname(rc), cairn_errmsg());
        else {
            judge(t, lo, "read-only open after recovery");
            cairn_table_close(t);
        }
    }
}

/* the first state allowed when the WAL is damaged at off */
static int wal_lo(size_t off) {
    int j;
    if (off < 32) return nstates - 1; /* the header: CAIRN_CORRUPT or the whole log */
    for (j = 1; j < nstates; j++)
        if ((long)off < walend[j]) return j - 1;
    return nstates - 1;
}

int main(int argc, char **argv) {
    uint64_t stride = rel_opt_u64(argc, argv, "--stride", 1), t0 = rel_ms();
    int keep = 0, i, status;
    pid_t pid;
    char *tmp;
    rel_prog = "rel_sweep_table";
    (void)rel_seed(argc, argv, 1);
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--keep")) keep = 1;
    if (stride < 1) stride = 1;
    tmp = rel_tmpdir("sweep-table");
    snprintf(pristine, sizeof pristine, "%s/pristine", tmp);
    snprintf(work, sizeof work, "%s/work", tmp);
    snprintf(hist, sizeof hist, "%s/history", tmp);
    fflush(stdout);
    if ((pid = fork()) < 0) rel_die("fork");
    if (pid == 0) build();
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) rel_die("the builder failed");
    load();
    printf("%s: %d files, %d states, stride %llu, in %s\n", rel_prog, npf, nstates, (unsigned long long)stride, tmp);
    for (i = 0; i < npf; i++) {
        int is_wal = !strcmp(pf[i].name, "wal");
        size_t off;
        for (off = 0; off < pf[i].len; off += stride) {
            int lo = is_wal ? wal_lo(off) : nstates - 1;
            run_case(i, "flip", off, lo);
            if (off % 8 == 0) run_case(i, "zero8", off, lo);
            run_case(i, "truncate", off, lo);
        }
        run_case(i, "append", pf[i].len, nstates - 1);
    }
    printf("%s: %s: %llu cases, %llu answered CAIRN_CORRUPT, %llu wrong answers, %.1f s\n", rel_prog, wrong ? "FAIL" : "PASS",
           (unsigned long long)cases, (unsigned long long)corrupt_answers, (unsigned long long)wrong, (double)(rel_ms() - t0) / 1000.0);
    if (!keep && !wrong) rel_rmrf(tmp);
    free(tmp);
    return wrong ? 1 : 0;
}
