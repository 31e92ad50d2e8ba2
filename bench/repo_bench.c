/*
 * repo_bench.c - the versioned store (cairn_repo_*): SHA-256 hashing throughput, save and load of
 * whole values, one put into a collection of N records (median and p99), a diff of C changes in
 * it, put_many of N records, and verify; SQLite with a key/value table as the peer where one
 * exists (one put, a bulk load), OpenSSL's EVP on one buffer as the hashing limit.
 *
 * Usage: repo_bench [--records N] [--puts P] [--changes C] [--dir SCRATCH] [--out FILE.md]
 *   N records (default 1M) of 16-byte keys and 100-byte values; P single puts per mode (default
 *   2000 without fsync, P/10 with); C changes for the diff (default 10k). The report (a Markdown
 *   table, spliced into docs/benchmarks.md by bench/run.sh) goes to FILE or stdout.
 *
 * The diff is timed first after open (the tenant's index loaded, no tree node in the handle's
 * cache: every node read from the packs and hashed) and again on the same handle (nodes served
 * from the cache of checked nodes: the default 64 MiB, and 256 MiB, which holds every leaf the
 * spread diff touches).
 *
 * Times are CPU time of this process (user + system, getrusage) unless a row says "wall": the
 * machine may be shared, and CPU time is what the code costs. Fsync-bound rows are wall time (the
 * wait is the cost). Every result is checked: loads and gets compare bytes, the diff's counts are
 * the changes made, verify must succeed.
 */
#include "bench_common.h"

#include <cairn.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#ifdef BENCH_HAVE_SQLITE
#include <sqlite3.h>
#endif

#define OK(x)                                                                                             \
    do {                                                                                                  \
        int rc_ = (x);                                                                                    \
        if (rc_) bench_die("%s: %s %s", #x, cairn_errname(rc_), cairn_errmsg());                        \
    } while (0)

#define VLEN 100

static double cpu_now(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
           (double)u.ru_stime.tv_usec / 1e6;
}
static double thread_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int dbl_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
/* the q-quantile (0..1) of v[0..n) (sorts v) */
static double quantile(double *v, size_t n, double q) {
    size_t i;
    qsort(v, n, sizeof *v, dbl_cmp);
    i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ---- the report ---- */
typedef struct row {
    char what[160], cairn[96], peer[96], ratio[24], note[200];
} row;
static row rows[64];
static int nrows;

static row *add_row(const char *what) {
    row *r = &rows[nrows++];
    memset(r, 0, sizeof *r);
    snprintf(r->what, sizeof r->what, "%s", what);
    strcpy(r->peer, "");
    strcpy(r->ratio, "");
    return r;
}
static void cell(char *out, size_t cap, double v, int decimals) { bench_fmt(out, cap, v, decimals); }

/* ---- hashing ---- */

/* MB/s of EVP SHA-256 over one buffer of `size` bytes, `total` bytes in all (CPU time). */
static double evp_mbs(size_t size, size_t total) {
    unsigned char *b = malloc(size), md[32];
    unsigned int n;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t iters = total / size, i;
    double t0, t;
    if (!b || !c) bench_die("out of memory");
    bench_fill(b, size, 1, 0);
    t0 = cpu_now();
    for (i = 0; i < iters; i++) {
        b[0] = (unsigned char)i; /* a different input each time */
        if (!EVP_DigestInit_ex(c, EVP_sha256(), NULL) || !EVP_DigestUpdate(c, b, size) ||
            !EVP_DigestFinal_ex(c, md, &n))
            bench_die("EVP SHA-256 failed");
    }
    t = cpu_now() - t0;
    EVP_MD_CTX_free(c);
    free(b);
    return (double)iters * (double)size / 1e6 / t;
}

/* MB/s of value bytes through cairn_repo_save (no fsync): each save hashes and appends the value
 * object, a version object and a ref record. Distinct values (no deduplication). */
static double save_mbs(const char *dir, size_t size, size_t total) {
    cairn_repo *r;
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    unsigned char *b = malloc(size);
    size_t iters = total / size, i;
    double t0, t;
    o.sync = CAIRN_SYNC_NONE;
    if (!b) bench_die("out of memory");
    bench_rmrf(dir);
    OK(cairn_repo_open(&r, dir, &o));
    OK(cairn_repo_init(r, "t"));
    bench_fill(b, size, 2, 0);
    t0 = cpu_now();
    for (i = 0; i < iters; i++) {
        memcpy(b, &i, sizeof i < size ? sizeof i : size);
        OK(cairn_repo_save(r, "t", "bench", "e", b, size, CAIRN_KIND_BYTES, NULL));
    }
    t = cpu_now() - t0;
    cairn_repo_close(r);
    bench_rmrf(dir);
    free(b);
    return (double)iters * (double)size / 1e6 / t;
}

/* ---- records ---- */
static void key_of(char k[16], uint64_t i) { bench_key16(k, i); }
static void val_of(unsigned char v[VLEN], uint64_t i, uint64_t ver) { bench_fill(v, VLEN, i, ver); }

/* put_many of keys [0, n) (version 0) in batches of `batch` records; returns records/s (CPU) */
static double load_records(cairn_repo *r, const char *entry, uint64_t n, char *digest) {
    const size_t batch = n < 1000000 ? (size_t)n : 1000000;
    char *keys = malloc(batch * 16);
    unsigned char *vals = malloc(batch * VLEN);
    const void **kp = malloc(batch * sizeof *kp), **vp = malloc(batch * sizeof *vp);
    size_t *kl = malloc(batch * sizeof *kl), *vl = malloc(batch * sizeof *vl);
    double t0, t = 0;
    uint64_t done = 0;
    if (!keys || !vals || !kp || !vp || !kl || !vl) bench_die("out of memory");
    while (done < n) {
        size_t m = n - done < batch ? (size_t)(n - done) : batch, i;
        for (i = 0; i < m; i++) {
            key_of(keys + i * 16, done + i);
            val_of(vals + i * VLEN, done + i, 0);
            kp[i] = keys + i * 16;
            kl[i] = 16;
            vp[i] = vals + i * VLEN;
            vl[i] = VLEN;
        }
        t0 = cpu_now();
        OK(cairn_repo_put_many(r, "t", "bench", entry, m, kp, kl, vp, vl, NULL, digest));
        t += cpu_now() - t0;
        done += m;
    }
    free(keys), free(vals), free(kp), free(vp), free(kl), free(vl);
    return (double)n / t;
}

/* P single puts into the loaded entry (a third new keys, the rest updates of random keys): the
 * wall and CPU time of each into w[] and c[] (seconds). */
static void single_puts(cairn_repo *r, uint64_t n, size_t p, uint64_t seed, double *w, double *c) {
    bench_rng g = {seed};
    size_t i;
    for (i = 0; i < p; i++) {
        char k[16];
        unsigned char v[VLEN];
        uint64_t id = i % 3 == 0 ? n + seed * 1000000 + i : bench_rng_below(&g, n);
        double t0, c0;
        key_of(k, id);
        val_of(v, id, seed + i + 1);
        t0 = bench_now();
        c0 = thread_cpu();
        OK(cairn_repo_put(r, "t", "bench", "coll", k, 16, v, VLEN, CAIRN_KIND_BYTES, NULL));
        c[i] = thread_cpu() - c0;
        w[i] = bench_now() - t0;
    }
}

#ifdef BENCH_HAVE_SQLITE
static void sq_exec(sqlite3 *db, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) bench_die("sqlite: %s: %s", sql, err ? err : "?");
}
/* SQLite: a key/value table (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID in WAL mode, loaded with n
 * records in one transaction (records/s, CPU, into *load), then p single-statement autocommit
 * INSERT OR REPLACE (synchronous OFF) timed like single_puts, then p/10 with synchronous FULL
 * (wall into wf). */
static void sqlite_run(const char *dir, uint64_t n, size_t p, double *load, double *w, double *c, double *wf) {
    char path[4096];
    sqlite3 *db;
    sqlite3_stmt *st;
    double t0;
    uint64_t i;
    bench_rmrf(dir);
    bench_mkdirs(dir);
    snprintf(path, sizeof path, "%s/kv.db", dir);
    if (sqlite3_open(path, &db) != SQLITE_OK) bench_die("sqlite3_open %s", path);
    sq_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;");
    sq_exec(db, "CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID");
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO kv VALUES (?, ?)", -1, &st, NULL) != SQLITE_OK)
        bench_die("sqlite prepare: %s", sqlite3_errmsg(db));
    t0 = cpu_now();
    sq_exec(db, "BEGIN");
    for (i = 0; i < n; i++) {
        char k[16];
        unsigned char v[VLEN];
        key_of(k, i);
        val_of(v, i, 0);
        sqlite3_bind_blob(st, 1, k, 16, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, v, VLEN, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) bench_die("sqlite insert: %s", sqlite3_errmsg(db));
        sqlite3_reset(st);
    }
    sq_exec(db, "COMMIT");
    *load = (double)n / (cpu_now() - t0);
    for (int pass = 0; pass < 2; pass++) {
        size_t m = pass ? (p / 10 ? p / 10 : 1) : p, j;
        bench_rng g = {7};
        if (pass) sq_exec(db, "PRAGMA synchronous=FULL");
        for (j = 0; j < m; j++) {
            char k[16];
            unsigned char v[VLEN];
            uint64_t id = j % 3 == 0 ? n + 7000000 + j : bench_rng_below(&g, n);
            double a, b;
            key_of(k, id);
            val_of(v, id, j + 1);
            a = bench_now();
            b = thread_cpu();
            sqlite3_bind_blob(st, 1, k, 16, SQLITE_STATIC);
            sqlite3_bind_blob(st, 2, v, VLEN, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE) bench_die("sqlite insert: %s", sqlite3_errmsg(db));
            sqlite3_reset(st);
            if (pass)
                wf[j] = bench_now() - a;
            else {
                c[j] = thread_cpu() - b;
                w[j] = bench_now() - a;
            }
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    bench_rmrf(dir);
}
#endif

/* entries in the JSON array after "<name>": in a diff object (keys are 16 decimal digits) */
static size_t diff_count(const char *json, const char *name) {
    char pat[32];
    const char *p, *end;
    size_t n = 0;
    snprintf(pat, sizeof pat, "\"%s\":[", name);
    if (!(p = strstr(json, pat))) bench_die("diff: no %s in the result", name);
    p += strlen(pat);
    if (!(end = strchr(p, ']'))) bench_die("diff: %s not closed", name);
    for (; p < end; p++) n += *p == '"';
    return n / 2;
}

int main(int argc, char **argv) {
    uint64_t n = 1000000, changes = 10000;
    size_t p = 2000, pf, i;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", *outpath = NULL;
    char *dir, *sqdir, machine[256], load0[32], load1[32], date[64], d0[CAIRN_DIGEST_HEX + 1],
        d1[CAIRN_DIGEST_HEX + 1], a[40], b[40];
    double *w, *c, *wf, t0, mbs_evp[3], mbs_save[3];
    static const size_t sizes[3] = {64, 4096, 1 << 20};
    static const char *size_names[3] = {"64 B", "4 KiB", "1 MiB"};
    cairn_repo *r;
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    FILE *out;
    row *rw;
    int status = 0;

    for (int k = 1; k < argc; k++) {
        const char *opt = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
        if (!strcmp(opt, "--records") && v) n = bench_parse_count(opt, v), k++;
        else if (!strcmp(opt, "--puts") && v) p = (size_t)bench_parse_count(opt, v), k++;
        else if (!strcmp(opt, "--changes") && v) changes = bench_parse_count(opt, v), k++;
        else if (!strcmp(opt, "--dir") && v) base = v, k++;
        else if (!strcmp(opt, "--out") && v) outpath = v, k++;
        else {
            fprintf(stderr, "usage: repo_bench [--records N] [--puts P] [--changes C] [--dir SCRATCH] [--out FILE]\n");
            return 2;
        }
    }
    if (changes > n) changes = n;
    pf = p / 10 ? p / 10 : 1;
    bench_machine(machine, sizeof machine);
    bench_loadavg(load0, sizeof load0);
    bench_date(date, sizeof date);
    dir = bench_scratch(base, "cairn-repo-bench");
    sqdir = bench_scratch(base, "cairn-repo-bench-sqlite");
    w = malloc(p * sizeof *w);
    c = malloc(p * sizeof *c);
    wf = malloc(p * sizeof *wf);
    if (!w || !c || !wf) bench_die("out of memory");

    /* 1. hashing: EVP on one buffer against the save path */
    for (i = 0; i < 3; i++) {
        bench_log("hashing %s", size_names[i]);
        mbs_evp[i] = evp_mbs(sizes[i], i == 0 ? (size_t)64 << 20 : (size_t)512 << 20);
        mbs_save[i] = save_mbs(dir, sizes[i], i == 0 ? (size_t)8 << 20 : (size_t)128 << 20);
    }
    for (i = 0; i < 3; i++) {
        char what[160];
        snprintf(what, sizeof what, "SHA-256 of %s inputs, MB/s: save (hash + append value and version) / EVP on one buffer",
                 size_names[i]);
        rw = add_row(what);
        cell(rw->cairn, sizeof rw->cairn, mbs_save[i], 0);
        cell(rw->peer, sizeof rw->peer, mbs_evp[i], 0);
        bench_fmt_ratio(rw->ratio, sizeof rw->ratio, mbs_save[i], mbs_evp[i]);
        snprintf(rw->note, sizeof rw->note, "peer: EVP_Digest* over one buffer, the hashing limit");
    }

    /* 2. save and load of 1 KiB values (no fsync), then saves with fsync (wall) */
    {
        unsigned char v[1024];
        void *got;
        size_t len, m = 100000;
        int kind;
        double ts, tl, tsync;
        bench_log("save/load");
        o.sync = CAIRN_SYNC_NONE;
        bench_rmrf(dir);
        OK(cairn_repo_open(&r, dir, &o));
        OK(cairn_repo_init(r, "t"));
        t0 = cpu_now();
        for (i = 0; i < m; i++) {
            char e[32];
            bench_fill(v, sizeof v, i, 0);
            snprintf(e, sizeof e, "e%zu", i % 1000);
            OK(cairn_repo_save(r, "t", "bench", e, v, sizeof v, CAIRN_KIND_BYTES, NULL));
        }
        ts = (double)m / (cpu_now() - t0);
        t0 = cpu_now();
        for (i = 0; i < m; i++) {
            char e[32];
            size_t j = m - 1000 + i % 1000; /* the head of entry e<j % 1000> was saved at j */
            snprintf(e, sizeof e, "e%zu", j % 1000);
            OK(cairn_repo_load(r, "t", e, NULL, &got, &len, &kind));
            if (i < 1000) {
                bench_fill(v, sizeof v, j, 0);
                if (len != sizeof v || memcmp(got, v, len) != 0) bench_die("load: wrong bytes for %s", e);
            }
            cairn_free(got);
        }
        tl = (double)m / (cpu_now() - t0);
        cairn_repo_close(r);
        o.sync = CAIRN_SYNC_COMMIT;
        OK(cairn_repo_open(&r, dir, &o));
        t0 = bench_now();
        for (i = 0; i < pf; i++) {
            bench_fill(v, sizeof v, i, 1);
            OK(cairn_repo_save(r, "t", "bench", "durable", v, sizeof v, CAIRN_KIND_BYTES, NULL));
        }
        tsync = (double)pf / (bench_now() - t0);
        cairn_repo_close(r);
        rw = add_row("save of 1 KiB values (no fsync), saves/s");
        cell(rw->cairn, sizeof rw->cairn, ts, 0);
        rw = add_row("load of 1 KiB values (head, re-hashed), loads/s");
        cell(rw->cairn, sizeof rw->cairn, tl, 0);
        rw = add_row("durable save of 1 KiB values (fsync of pack and ref log), saves/s, wall");
        cell(rw->cairn, sizeof rw->cairn, tsync, 0);
        bench_rmrf(dir);
    }

    /* 3. put_many of N records, one put into it (median and p99), diff of C changes */
    {
        double lm, sq_load = 0, med_w, p99_w, med_c, p99_c, medf, p99f, tdiff[5], cdiff[5];
        char *json;
        size_t added, changed, removed, want_add, want_chg, want_rm;
        uint64_t cnt;
        char what[160];
        bench_log("put_many of %llu records", (unsigned long long)n);
        o.sync = CAIRN_SYNC_NONE;
        bench_rmrf(dir);
        OK(cairn_repo_open(&r, dir, &o));
        OK(cairn_repo_init(r, "t"));
        lm = load_records(r, "coll", n, d0);
        OK(cairn_repo_count(r, "t", "coll", NULL, &cnt));
        if (cnt != n) bench_die("count after put_many: %llu", (unsigned long long)cnt);
        snprintf(what, sizeof what, "put_many of %llu records (one version), records/s", (unsigned long long)n);
        rw = add_row(what);
        cell(rw->cairn, sizeof rw->cairn, lm, 0);

        bench_log("%zu single puts", p);
        single_puts(r, n, p, 1, w, c);
        med_c = quantile(c, p, 0.5), p99_c = quantile(c, p, 0.99);
        med_w = quantile(w, p, 0.5), p99_w = quantile(w, p, 0.99);
        cairn_repo_close(r);
        o.sync = CAIRN_SYNC_COMMIT;
        OK(cairn_repo_open(&r, dir, &o));
        single_puts(r, n, pf, 2, wf, c); /* c reused: the fsync run reports wall time */
        medf = quantile(wf, pf, 0.5), p99f = quantile(wf, pf, 0.99);
        cairn_repo_close(r);
#ifdef BENCH_HAVE_SQLITE
        {
            double *sw = malloc(p * sizeof *sw), *sc = malloc(p * sizeof *sc), *sf = malloc(p * sizeof *sf);
            double s_med_c, s_p99_c, s_medf, s_p99f;
            if (!sw || !sc || !sf) bench_die("out of memory");
            bench_log("SQLite");
            sqlite_run(sqdir, n, p, &sq_load, sw, sc, sf);
            s_med_c = quantile(sc, p, 0.5), s_p99_c = quantile(sc, p, 0.99);
            s_medf = quantile(sf, pf, 0.5), s_p99f = quantile(sf, pf, 0.99);
            cell(rw->peer, sizeof rw->peer, sq_load, 0);
            bench_fmt_ratio(rw->ratio, sizeof rw->ratio, lm, sq_load);
            snprintf(rw->note, sizeof rw->note, "SQLite: one transaction of INSERTs, synchronous OFF");
            snprintf(what, sizeof what, "one put into %llu records (no fsync), median CPU, us", (unsigned long long)n);
            rw = add_row(what);
            cell(rw->cairn, sizeof rw->cairn, med_c * 1e6, 1);
            cell(rw->peer, sizeof rw->peer, s_med_c * 1e6, 1);
            bench_fmt_ratio(rw->ratio, sizeof rw->ratio, med_c, s_med_c);
            snprintf(rw->note, sizeof rw->note, "SQLite: autocommit INSERT OR REPLACE, WAL, synchronous OFF");
            rw = add_row("  the same, p99 CPU, us");
            cell(rw->cairn, sizeof rw->cairn, p99_c * 1e6, 1);
            cell(rw->peer, sizeof rw->peer, s_p99_c * 1e6, 1);
            bench_fmt_ratio(rw->ratio, sizeof rw->ratio, p99_c, s_p99_c);
            rw = add_row("  the same, median / p99 wall, us");
            cell(a, sizeof a, med_w * 1e6, 1);
            cell(b, sizeof b, p99_w * 1e6, 1);
            snprintf(rw->cairn, sizeof rw->cairn, "%s / %s", a, b);
            cell(a, sizeof a, quantile(sw, p, 0.5) * 1e6, 1);
            cell(b, sizeof b, quantile(sw, p, 0.99) * 1e6, 1);
            snprintf(rw->peer, sizeof rw->peer, "%s / %s", a, b);
            snprintf(what, sizeof what, "one durable put into %llu records, median / p99 wall, ms",
                     (unsigned long long)n);
            rw = add_row(what);
            cell(a, sizeof a, medf * 1e3, 2);
            cell(b, sizeof b, p99f * 1e3, 2);
            snprintf(rw->cairn, sizeof rw->cairn, "%s / %s", a, b);
            cell(a, sizeof a, s_medf * 1e3, 2);
            cell(b, sizeof b, s_p99f * 1e3, 2);
            snprintf(rw->peer, sizeof rw->peer, "%s / %s", a, b);
            bench_fmt_ratio(rw->ratio, sizeof rw->ratio, medf, s_medf);
            snprintf(rw->note, sizeof rw->note, "Cairn: 2 fsyncs (pack, ref log); SQLite: synchronous FULL (WAL)");
            free(sw), free(sc), free(sf);
        }
#else
        snprintf(what, sizeof what, "one put into %llu records (no fsync), median / p99 CPU, us", (unsigned long long)n);
        rw = add_row(what);
        cell(a, sizeof a, med_c * 1e6, 1);
        cell(b, sizeof b, p99_c * 1e6, 1);
        snprintf(rw->cairn, sizeof rw->cairn, "%s / %s", a, b);
        rw = add_row("one durable put, median / p99 wall, ms");
        cell(a, sizeof a, medf * 1e3, 2);
        cell(b, sizeof b, p99f * 1e3, 2);
        snprintf(rw->cairn, sizeof rw->cairn, "%s / %s", a, b);
#endif

        /* diff: from the loaded version d0, C changes: a fifth removed (single deletes), two
         * fifths changed and two fifths added (one put_many); the single puts above changed
         * more, so the diff runs from the head before the changes (d1) to the head after */
        bench_log("diff of %llu changes", (unsigned long long)changes);
        o.sync = CAIRN_SYNC_NONE;
        OK(cairn_repo_open(&r, dir, &o));
        OK(cairn_repo_digest(r, "t", "coll", d1));
        want_rm = (size_t)(changes / 5);
        want_chg = (size_t)((changes - want_rm) / 2);
        want_add = (size_t)(changes - want_rm - want_chg);
        {
            size_t m = want_chg + want_add, j;
            char *keys = malloc(m * 16);
            unsigned char *vals = malloc(m * VLEN);
            const void **kp = malloc(m * sizeof *kp), **vp = malloc(m * sizeof *vp);
            size_t *kl = malloc(m * sizeof *kl), *vl = malloc(m * sizeof *vl);
            uint64_t stride = n / (want_chg + want_rm + 1);
            if (!keys || !vals || !kp || !vp || !kl || !vl) bench_die("out of memory");
            /* changed: keys stride*j (distinct, spread over the entry); removed: stride*j + 1;
             * added: new keys past the single puts' */
            for (j = 0; j < m; j++) {
                uint64_t id = j < want_chg ? stride * j : n + 100000000 + j;
                key_of(keys + j * 16, id);
                val_of(vals + j * VLEN, id, 999);
                kp[j] = keys + j * 16, kl[j] = 16, vp[j] = vals + j * VLEN, vl[j] = VLEN;
            }
            OK(cairn_repo_put_many(r, "t", "bench", "coll", m, kp, kl, vp, vl, NULL, NULL));
            for (j = 0; j < want_rm; j++) {
                char k[16];
                key_of(k, stride * j + 1);
                OK(cairn_repo_delete(r, "t", "bench", "coll", k, 16, NULL));
            }
            free(keys), free(vals), free(kp), free(vp), free(kl), free(vl);
        }
        {
            /* cold: the first diff after open (every node read from the packs and hashed); warm:
             * the same diff again on the handle, with the default cache and with one that holds
             * every leaf the diff touches */
            char head[CAIRN_DIGEST_HEX + 1];
            double cw[5], ww[5];
            OK(cairn_repo_digest(r, "t", "coll", head));
            for (int pass = 0; pass < 3; pass++) {
                cairn_repo_options oc = o;
                oc.cache_bytes = pass == 2 ? (uint64_t)256 << 20 : 0;
                for (int k = 0; k < 5; k++) {
                    double wa, ca;
                    if (pass == 0 || k == 0) {
                        char h2[CAIRN_DIGEST_HEX + 1];
                        cairn_repo_close(r);
                        OK(cairn_repo_open(&r, dir, &oc));
                        OK(cairn_repo_digest(r, "t", "coll", h2)); /* loads the tenant's index: not timed */
                        if (pass > 0) { /* fill the cache: the warm runs follow a first diff */
                            OK(cairn_repo_diff(r, "t", d1, head, &json));
                            cairn_free(json);
                        }
                    }
                    wa = bench_now(), ca = cpu_now();
                    OK(cairn_repo_diff(r, "t", d1, head, &json));
                    (pass == 0 ? cdiff : cw)[k] = cpu_now() - ca;
                    (pass == 0 ? tdiff : ww)[k] = bench_now() - wa;
                    added = diff_count(json, "added");
                    removed = diff_count(json, "removed");
                    changed = diff_count(json, "changed");
                    cairn_free(json);
                    if (added != want_add || removed != want_rm || changed != want_chg)
                        bench_die("diff: %zu added, %zu removed, %zu changed; made %zu, %zu, %zu", added, removed,
                                  changed, want_add, want_rm, want_chg);
                }
                if (pass == 0) {
                    snprintf(what, sizeof what,
                             "diff of %llu changes spread over %llu records, first after open, ms (median of 5, CPU / wall)",
                             (unsigned long long)changes, (unsigned long long)n);
                    rw = add_row(what);
                    cell(a, sizeof a, quantile(cdiff, 5, 0.5) * 1e3, 2);
                    cell(b, sizeof b, quantile(tdiff, 5, 0.5) * 1e3, 2);
                    snprintf(rw->note, sizeof rw->note, "no peer: git is not a library, and SQLite has no diff of two versions");
                } else {
                    snprintf(what, sizeof what, "  the same again on the handle, node cache of %s, ms (median of 5, CPU / wall)",
                             pass == 1 ? "64 MiB (the default)" : "256 MiB");
                    rw = add_row(what);
                    cell(a, sizeof a, quantile(cw, 5, 0.5) * 1e3, 2);
                    cell(b, sizeof b, quantile(ww, 5, 0.5) * 1e3, 2);
                }
                snprintf(rw->cairn, sizeof rw->cairn, "%s / %s", a, b);
            }
            cairn_repo_close(r);
            OK(cairn_repo_open(&r, dir, &o)); /* the default cache for the rows below */
        }
        {
            /* the same number of changes in one key range (a batch over neighbouring keys, the
             * common shape of an import): they touch changes/64 leaves instead of most of them */
            size_t m = (size_t)changes, j;
            uint64_t first = n / 3;
            char *keys = malloc(m * 16), before[CAIRN_DIGEST_HEX + 1], head[CAIRN_DIGEST_HEX + 1];
            double cold_c = 0, cold_w = 0;
            unsigned char *vals = malloc(m * VLEN);
            const void **kp = malloc(m * sizeof *kp), **vp = malloc(m * sizeof *vp);
            size_t *kl = malloc(m * sizeof *kl), *vl = malloc(m * sizeof *vl);
            if (!keys || !vals || !kp || !vp || !kl || !vl) bench_die("out of memory");
            for (j = 0; j < m; j++) {
                key_of(keys + j * 16, first + j);
                val_of(vals + j * VLEN, first + j, 5555);
                kp[j] = keys + j * 16, kl[j] = 16, vp[j] = vals + j * VLEN, vl[j] = VLEN;
            }
            OK(cairn_repo_digest(r, "t", "coll", before));
            OK(cairn_repo_put_many(r, "t", "bench", "coll", m, kp, kl, vp, vl, NULL, head));
            free(keys), free(vals), free(kp), free(vp), free(kl), free(vl);
            /* six diffs on a fresh handle: the first after open, then five again */
            cairn_repo_close(r);
            OK(cairn_repo_open(&r, dir, &o));
            {
                char h2[CAIRN_DIGEST_HEX + 1];
                OK(cairn_repo_digest(r, "t", "coll", h2)); /* loads the tenant's index: not timed */
                if (strcmp(h2, head) != 0) bench_die("head moved");
            }
            for (int k = -1; k < 5; k++) {
                double wa = bench_now(), ca = cpu_now();
                OK(cairn_repo_diff(r, "t", before, head, &json));
                if (k < 0)
                    cold_c = cpu_now() - ca, cold_w = bench_now() - wa;
                else
                    cdiff[k] = cpu_now() - ca, tdiff[k] = bench_now() - wa;
                changed = diff_count(json, "changed");
                /* keys of the range that the deletes above removed are added back */
                added = diff_count(json, "added");
                cairn_free(json);
                if (changed + added != m) bench_die("clustered diff: %zu changed + %zu added, made %zu", changed, added, m);
            }
            snprintf(what, sizeof what, "diff of %llu changes to neighbouring keys in %llu records, first after open, ms (CPU / wall)",
                     (unsigned long long)changes, (unsigned long long)n);
            rw = add_row(what);
            cell(a, sizeof a, cold_c * 1e3, 2);
            cell(b, sizeof b, cold_w * 1e3, 2);
            snprintf(rw->cairn, sizeof rw->cairn, "%s / %s", a, b);
            rw = add_row("  the same again on the handle (default cache), ms (median of 5, CPU / wall)");
            cell(a, sizeof a, quantile(cdiff, 5, 0.5) * 1e3, 2);
            cell(b, sizeof b, quantile(tdiff, 5, 0.5) * 1e3, 2);
            snprintf(rw->cairn, sizeof rw->cairn, "%s / %s", a, b);
        }
        {
            /* a diff of the whole entry against empty: the O(n) case, for scale */
            double ca = cpu_now();
            OK(cairn_repo_diff(r, "t", NULL, d0, &json));
            ca = cpu_now() - ca;
            if (diff_count(json, "added") != n) bench_die("diff against empty: wrong count");
            cairn_free(json);
            snprintf(what, sizeof what, "diff of the %llu-record version against empty (all added), ms CPU",
                     (unsigned long long)n);
            rw = add_row(what);
            cell(rw->cairn, sizeof rw->cairn, ca * 1e3, 1);
        }
        {
            /* get of random keys of the head */
            bench_rng g = {3};
            size_t m = 100000;
            double ca = cpu_now();
            for (i = 0; i < m; i++) {
                uint64_t id = bench_rng_below(&g, n);
                char k[16];
                void *v;
                size_t vlen;
                int kind;
                int rc;
                key_of(k, id);
                rc = cairn_repo_get(r, "t", "coll", d0, k, 16, &v, &vlen, &kind);
                if (rc) bench_die("get: %s", cairn_errmsg());
                if (i < 1000) {
                    unsigned char want[VLEN];
                    val_of(want, id, 0);
                    if (vlen != VLEN || memcmp(v, want, VLEN)) bench_die("get: wrong bytes");
                }
                cairn_free(v);
            }
            ca = cpu_now() - ca;
            snprintf(what, sizeof what, "get of random keys of a %llu-record version (re-hashed path), gets/s",
                     (unsigned long long)n);
            rw = add_row(what);
            cell(rw->cairn, sizeof rw->cairn, (double)m / ca, 0);
        }
        cairn_repo_close(r);
    }

    /* 4. verify: re-hash every object of the repository */
    {
        uint64_t bytes = bench_dir_bytes(dir);
        double ca = cpu_now(), mb;
        bench_log("verify %llu bytes", (unsigned long long)bytes);
        OK(cairn_repo_verify(dir));
        ca = cpu_now() - ca;
        mb = (double)bytes / 1e6 / ca;
        rw = add_row("verify (re-hash every object, check every ref), MB/s of repository");
        cell(rw->cairn, sizeof rw->cairn, mb, 0);
        cell(rw->peer, sizeof rw->peer, mbs_evp[1], 0);
        bench_fmt_ratio(rw->ratio, sizeof rw->ratio, mb, mbs_evp[1]);
        snprintf(rw->note, sizeof rw->note, "peer: EVP over 4 KiB buffers (objects are 0.1-7 KB)");
    }
    bench_rmrf(dir);

    /* the report */
    bench_loadavg(load1, sizeof load1);
    out = outpath ? fopen(outpath, "w") : stdout;
    if (!out) bench_die("cannot write %s", outpath);
    fprintf(out,
            "Generated by `bench/run.sh` (repo_bench) on %s. Machine: %s; load average %s at the start, %s at "
            "the end. %llu records of 16-byte keys and 100-byte values; %zu single puts without fsync, %zu with; "
            "%llu changes for the diff. Times are CPU time of the process unless a row says wall.\n\n",
            date, machine, load0, load1, (unsigned long long)n, p, pf, (unsigned long long)changes);
#ifdef BENCH_HAVE_SQLITE
    fprintf(out, "| | Cairn | peer | Cairn / peer | peer and notes |\n| --- | ---: | ---: | ---: | --- |\n");
#else
    fprintf(out, "| | Cairn | peer | Cairn / peer | peer and notes (SQLite not built: no peer column) |\n"
                 "| --- | ---: | ---: | ---: | --- |\n");
#endif
    for (int k = 0; k < nrows; k++)
        fprintf(out, "| %s | %s | %s | %s | %s |\n", rows[k].what, rows[k].cairn, rows[k].peer[0] ? rows[k].peer : "",
                rows[k].ratio, rows[k].note);
    if (out != stdout) fclose(out);
    free(w), free(c), free(wf);
    bench_rmrf(sqdir);
    free(dir), free(sqdir);
    return status;
}
