/*
 * table_bench.c - the table engine against SQLite, DuckDB and a plain-C limit, in one run.
 *
 * Workload (the same for every engine): N rows of (id i64 sequential, score f64, cat i32 in 0..9,
 * flag bool), loaded in one batch, made durable, then: resident memory of the process, bytes on
 * disk, reopen time, point reads by id, a full count, and three queries (SUM(score); COUNT(*) WHERE
 * score > 90 AND cat = 3; SUM(score) GROUP BY cat; one thread each, the best of QREPS runs, every
 * answer checked against the generated data). Every engine runs in its own child
 * process, so that resident memory is its own (VmRSS after the load and its checkpoint, and the
 * peak VmHWM).
 *
 *   table_bench [--rows 10M] [--gets 1M] [--engines cairn,sqlite,duckdb,plain] [--dir TMP]
 *               [--duckdb PATH/libduckdb.so] [--out FILE.md]
 *
 * DuckDB is loaded at run time (dlopen) from --duckdb or $CAIRN_BENCH_DUCKDB: its C library ships
 * in the npm package @duckdb/node-bindings-linux-x64 (bench/run.sh fetches it); without it the
 * DuckDB column says n/a. The few DuckDB C API functions used are declared below from its public
 * documentation.
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "cairn.h"

#ifdef BENCH_HAVE_SQLITE
#include <sqlite3.h>
#endif

enum { M_LOAD, M_RSS, M_HWM, M_DISK, M_REOPEN, M_GETS, M_COUNT, M_QSUM, M_QFILT, M_QGROUP, M_N };
static const char *metric_names[M_N] = {
    "column-batch load, rows/s (higher is better)",
    "resident memory after load, MiB (lower is better)",
    "peak resident memory, MiB (lower is better)",
    "disk after load, MB (lower is better)",
    "reopen, ms (lower is better)",
    "point reads by id, reads/s (higher is better)",
    "full count, ms (lower is better)",
    "SUM(score), M rows/s (higher is better)",
    "COUNT(*) WHERE score > 90 AND cat = 3, M rows/s (higher is better)",
    "SUM(score) GROUP BY cat, M rows/s (higher is better)",
};

typedef struct {
    uint64_t rows, gets;
    const char *dir;
    const char *duckdb_path;
} config;

/* The data: generated the same way for every engine. */
static double score_of(uint64_t i) { return (double)(bench_mix64(i) % 100000) / 100.0; }
static int32_t cat_of(uint64_t i) { return (int32_t)(bench_mix64(i ^ 0x5bd1e995u) % 10); }
static uint8_t flag_of(uint64_t i) { return (uint8_t)(bench_mix64(i ^ 0x27d4eb2fu) & 1); }

#define QREPS 5 /* each query runs this many times; the best counts */

/* What the queries must answer, from the generated data (the float sum within 1e-9). */
typedef struct {
    double sum;
    uint64_t filt;
} answers;
static answers answers_of(uint64_t n) {
    answers a = {0, 0};
    for (uint64_t i = 0; i < n; i++) {
        a.sum += score_of(i);
        a.filt += score_of(i) > 90 && cat_of(i) == 3;
    }
    return a;
}
static int near(double x, double want) { return fabs(x - want) <= 1e-9 * fabs(want) + 1e-9; }
/* the first number after "key": in a JSON text */
static double json_num(const char *s, const char *key) {
    const char *p = strstr(s, key);
    if (!p)
        return NAN;
    return strtod(p + strlen(key), NULL);
}


typedef struct {
    int64_t *id;
    double *score;
    int32_t *cat;
    uint8_t *flag;
} columns;

static void make_columns(columns *c, uint64_t n) {
    c->id = malloc(n * sizeof *c->id);
    c->score = malloc(n * sizeof *c->score);
    c->cat = malloc(n * sizeof *c->cat);
    c->flag = malloc(n * sizeof *c->flag);
    if (!c->id || !c->score || !c->cat || !c->flag)
        bench_die("out of memory");
    for (uint64_t i = 0; i < n; i++) {
        c->id[i] = (int64_t)i;
        c->score[i] = score_of(i);
        c->cat[i] = cat_of(i);
        c->flag[i] = flag_of(i);
    }
}
static void free_columns(columns *c) {
    free(c->id);
    free(c->score);
    free(c->cat);
    free(c->flag);
    memset(c, 0, sizeof *c);
}

/* VmRSS / VmHWM of this process in MiB. */
static double proc_mib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double v = NAN;
    size_t fl = strlen(field);
    if (!f)
        return v;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtod(line + fl + 1, NULL) / 1024.0;
            break;
        }
    fclose(f);
    return v;
}

static void fill_memory(double *m) {
    m[M_RSS] = proc_mib("VmRSS");
    m[M_HWM] = proc_mib("VmHWM");
}

/* ---------------------------------------------------------------- Cairn */
static int run_cairn(const config *cf, double *m) {
    char *dir = bench_scratch(cf->dir, "cairn-table");
    columns c;
    cairn_table *t = NULL;
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    uint64_t first = 0, n = 0;
    int rc;
    o.schema = "id i64 primary key, score f64, cat i32, flag bool";
    o.sync = CAIRN_SYNC_NONE;
    make_columns(&c, cf->rows);
    rc = cairn_table_open(&t, dir, &o);
    if (rc)
        bench_die("cairn_table_open: %s", cairn_errmsg());
    {
        const void *data[4] = {c.id, c.score, c.cat, c.flag};
        double t0 = bench_now();
        rc = cairn_table_load_columns(t, cf->rows, data, NULL, NULL, &first);
        if (rc == 0)
            rc = cairn_table_sync(t);
        m[M_LOAD] = (double)cf->rows / (bench_now() - t0);
    }
    if (rc)
        bench_die("cairn load: %s", cairn_errmsg());
    free_columns(&c);
    fill_memory(m);
    cairn_table_close(t);
    m[M_DISK] = (double)bench_dir_bytes(dir) / 1e6;
    o.schema = NULL;
    {
        double t0 = bench_now();
        rc = cairn_table_open(&t, dir, &o);
        m[M_REOPEN] = (bench_now() - t0) * 1e3;
    }
    if (rc)
        bench_die("cairn reopen: %s", cairn_errmsg());
    {
        bench_rng r = {42};
        double t0 = bench_now();
        for (uint64_t i = 0; i < cf->gets; i++) {
            uint64_t k = bench_rng_below(&r, cf->rows);
            cairn_value *row = NULL;
            rc = cairn_table_get(t, first + k, &row);
            if (rc || row[0].v.i != (int64_t)k || row[2].v.i != cat_of(k))
                bench_die("cairn get %llu: wrong answer (%d)", (unsigned long long)k, rc);
            cairn_free(row);
        }
        m[M_GETS] = (double)cf->gets / (bench_now() - t0);
    }
    {
        double t0 = bench_now();
        rc = cairn_table_count(t, &n);
        m[M_COUNT] = (bench_now() - t0) * 1e3;
        if (rc || n != cf->rows)
            bench_die("cairn count: %llu", (unsigned long long)n);
    }
    {
        static const char *qs[3] = {
            "{\"aggregates\":[{\"fn\":\"sum\",\"column\":\"score\",\"as\":\"s\"}]}",
            "{\"where\":\"score > 90 AND cat = 3\",\"aggregates\":[{\"fn\":\"count\",\"as\":\"n\"}]}",
            "{\"aggregates\":[{\"fn\":\"sum\",\"column\":\"score\",\"as\":\"s\"}],\"group_by\":[\"cat\"]}",
        };
        answers a = answers_of(cf->rows);
        for (int k = 0; k < 3; k++) {
            double best = 1e30;
            for (int rep = 0; rep < QREPS; rep++) {
                char *res = NULL;
                double t0 = bench_now(), dt;
                rc = cairn_table_query_json(t, qs[k], &res);
                dt = bench_now() - t0;
                if (rc)
                    bench_die("cairn query %d: %s", k, cairn_errmsg());
                if ((k == 0 && !near(json_num(res, "\"s\":"), a.sum)) ||
                    (k == 1 && (uint64_t)json_num(res, "\"n\":") != a.filt) ||
                    (k == 2 && !strstr(res, "\"cat\":9,")))
                    bench_die("cairn query %d: wrong answer %s", k, res);
                cairn_free(res);
                if (dt < best)
                    best = dt;
            }
            m[M_QSUM + k] = (double)cf->rows / best / 1e6;
        }
    }
    cairn_table_close(t);
    bench_rmrf(dir);
    free(dir);
    return 0;
}

/* ---------------------------------------------------------------- SQLite */
static int run_sqlite(const config *cf, double *m) {
#ifdef BENCH_HAVE_SQLITE
    char *dir = bench_scratch(cf->dir, "sqlite-table");
    char path[4096];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    columns c;
    snprintf(path, sizeof path, "%s/t.db", dir);
    make_columns(&c, cf->rows);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        bench_die("sqlite3_open");
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;", NULL, NULL, NULL);
    sqlite3_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, score REAL, cat INTEGER, flag INTEGER)",
                 NULL, NULL, NULL);
    {
        double t0 = bench_now();
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?, ?, ?)", -1, &st, NULL);
        for (uint64_t i = 0; i < cf->rows; i++) {
            sqlite3_bind_int64(st, 1, c.id[i]);
            sqlite3_bind_double(st, 2, c.score[i]);
            sqlite3_bind_int(st, 3, c.cat[i]);
            sqlite3_bind_int(st, 4, c.flag[i]);
            if (sqlite3_step(st) != SQLITE_DONE)
                bench_die("sqlite insert: %s", sqlite3_errmsg(db));
            sqlite3_reset(st);
        }
        sqlite3_finalize(st);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        m[M_LOAD] = (double)cf->rows / (bench_now() - t0);
    }
    free_columns(&c);
    fill_memory(m);
    sqlite3_close(db);
    m[M_DISK] = (double)bench_dir_bytes(dir) / 1e6;
    {
        double t0 = bench_now();
        if (sqlite3_open(path, &db) != SQLITE_OK)
            bench_die("sqlite3_open");
        /* an open is lazy: read the schema so the time includes it */
        sqlite3_exec(db, "SELECT 1 FROM t LIMIT 1", NULL, NULL, NULL);
        m[M_REOPEN] = (bench_now() - t0) * 1e3;
    }
    {
        bench_rng r = {42};
        double t0 = bench_now();
        sqlite3_prepare_v2(db, "SELECT score, cat, flag FROM t WHERE id = ?", -1, &st, NULL);
        for (uint64_t i = 0; i < cf->gets; i++) {
            uint64_t k = bench_rng_below(&r, cf->rows);
            sqlite3_bind_int64(st, 1, (sqlite3_int64)k);
            if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 1) != cat_of(k))
                bench_die("sqlite get: wrong answer");
            sqlite3_reset(st);
        }
        sqlite3_finalize(st);
        m[M_GETS] = (double)cf->gets / (bench_now() - t0);
    }
    {
        double t0 = bench_now();
        sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL);
        if (sqlite3_step(st) != SQLITE_ROW || (uint64_t)sqlite3_column_int64(st, 0) != cf->rows)
            bench_die("sqlite count");
        sqlite3_finalize(st);
        m[M_COUNT] = (bench_now() - t0) * 1e3;
    }
    {
        static const char *qs[3] = {"SELECT sum(score) FROM t", "SELECT count(*) FROM t WHERE score > 90 AND cat = 3",
                                    "SELECT cat, sum(score) FROM t GROUP BY cat"};
        answers a = answers_of(cf->rows);
        for (int k = 0; k < 3; k++) {
            double best = 1e30;
            for (int rep = 0; rep < QREPS; rep++) {
                double t0 = bench_now(), dt;
                int rows = 0;
                sqlite3_prepare_v2(db, qs[k], -1, &st, NULL);
                while (sqlite3_step(st) == SQLITE_ROW) {
                    if ((k == 0 && !near(sqlite3_column_double(st, 0), a.sum)) ||
                        (k == 1 && (uint64_t)sqlite3_column_int64(st, 0) != a.filt))
                        bench_die("sqlite query %d: wrong answer", k);
                    rows++;
                }
                sqlite3_finalize(st);
                dt = bench_now() - t0;
                if (rows != (k == 2 ? 10 : 1))
                    bench_die("sqlite query %d: %d rows", k, rows);
                if (dt < best)
                    best = dt;
            }
            m[M_QSUM + k] = (double)cf->rows / best / 1e6;
        }
    }
    sqlite3_close(db);
    bench_rmrf(dir);
    free(dir);
    return 0;
#else
    (void)cf;
    (void)m;
    return 1;
#endif
}

/* ---------------------------------------------------------------- DuckDB (dlopen) */
typedef void *duck_h; /* duckdb_database, duckdb_connection, duckdb_appender, duckdb_prepared_statement:
                         each a pointer to a struct of one pointer */
typedef struct { /* duckdb_result (six pointer-sized fields) */
    uint64_t col_count, row_count, rows_changed;
    void *columns;
    char *error;
    void *internal;
} duck_result;
static struct {
    void *lib;
    int (*open)(const char *, duck_h *);
    void (*close)(duck_h *);
    int (*connect)(duck_h, duck_h *);
    void (*disconnect)(duck_h *);
    int (*query)(duck_h, const char *, duck_result *);
    void (*destroy_result)(duck_result *);
    int64_t (*value_int64)(duck_result *, uint64_t, uint64_t);
    double (*value_double)(duck_result *, uint64_t, uint64_t);
    int (*appender_create)(duck_h, const char *, const char *, duck_h *);
    int (*appender_destroy)(duck_h *);
    int (*appender_end_row)(duck_h);
    int (*append_int64)(duck_h, int64_t);
    int (*append_int32)(duck_h, int32_t);
    int (*append_double)(duck_h, double);
    int (*append_bool)(duck_h, int);
    int (*prepare)(duck_h, const char *, duck_h *);
    void (*destroy_prepare)(duck_h *);
    int (*bind_int64)(duck_h, uint64_t, int64_t);
    int (*execute_prepared)(duck_h, duck_result *);
} duck;

static int duck_load(const char *path) {
    if (!path || !*path)
        return -1;
    duck.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!duck.lib) {
        bench_log("duckdb: %s", dlerror());
        return -1;
    }
#define SYM(field, name)                                                        \
    do {                                                                        \
        *(void **)(&duck.field) = dlsym(duck.lib, name);                        \
        if (!duck.field) {                                                      \
            bench_log("duckdb: %s missing", name);                              \
            return -1;                                                          \
        }                                                                       \
    } while (0)
    SYM(open, "duckdb_open");
    SYM(close, "duckdb_close");
    SYM(connect, "duckdb_connect");
    SYM(disconnect, "duckdb_disconnect");
    SYM(query, "duckdb_query");
    SYM(destroy_result, "duckdb_destroy_result");
    SYM(value_int64, "duckdb_value_int64");
    SYM(value_double, "duckdb_value_double");
    SYM(appender_create, "duckdb_appender_create");
    SYM(appender_destroy, "duckdb_appender_destroy");
    SYM(appender_end_row, "duckdb_appender_end_row");
    SYM(append_int64, "duckdb_append_int64");
    SYM(append_int32, "duckdb_append_int32");
    SYM(append_double, "duckdb_append_double");
    SYM(append_bool, "duckdb_append_bool");
    SYM(prepare, "duckdb_prepare");
    SYM(destroy_prepare, "duckdb_destroy_prepare");
    SYM(bind_int64, "duckdb_bind_int64");
    SYM(execute_prepared, "duckdb_execute_prepared");
#undef SYM
    return 0;
}

static void duck_exec(duck_h con, const char *sql) {
    duck_result r;
    memset(&r, 0, sizeof r);
    if (duck.query(con, sql, &r) != 0)
        bench_die("duckdb: %s: %s", sql, r.error ? r.error : "?");
    duck.destroy_result(&r);
}

static int run_duckdb(const config *cf, double *m) {
    char *dir;
    char path[4096];
    duck_h db = NULL, con = NULL, app = NULL, st = NULL;
    columns c;
    uint64_t gets = cf->gets / 10 ? cf->gets / 10 : 1; /* point reads are not its job: fewer */
    if (duck_load(cf->duckdb_path))
        return 1;
    dir = bench_scratch(cf->dir, "duckdb-table");
    snprintf(path, sizeof path, "%s/t.duckdb", dir);
    make_columns(&c, cf->rows);
    if (duck.open(path, &db) || duck.connect(db, &con))
        bench_die("duckdb open");
    duck_exec(con, "SET threads TO 1");
    duck_exec(con, "CREATE TABLE t (id BIGINT PRIMARY KEY, score DOUBLE, cat INTEGER, flag BOOLEAN)");
    {
        double t0 = bench_now();
        if (duck.appender_create(con, NULL, "t", &app))
            bench_die("duckdb appender");
        for (uint64_t i = 0; i < cf->rows; i++) {
            duck.append_int64(app, c.id[i]);
            duck.append_double(app, c.score[i]);
            duck.append_int32(app, c.cat[i]);
            duck.append_bool(app, c.flag[i]);
            duck.appender_end_row(app);
        }
        if (duck.appender_destroy(&app))
            bench_die("duckdb append");
        duck_exec(con, "CHECKPOINT");
        m[M_LOAD] = (double)cf->rows / (bench_now() - t0);
    }
    free_columns(&c);
    fill_memory(m);
    duck.disconnect(&con);
    duck.close(&db);
    m[M_DISK] = (double)bench_dir_bytes(dir) / 1e6;
    {
        double t0 = bench_now();
        if (duck.open(path, &db) || duck.connect(db, &con))
            bench_die("duckdb reopen");
        m[M_REOPEN] = (bench_now() - t0) * 1e3;
    }
    duck_exec(con, "SET threads TO 1");
    {
        bench_rng r = {42};
        double t0 = bench_now();
        if (duck.prepare(con, "SELECT cat FROM t WHERE id = ?", &st))
            bench_die("duckdb prepare");
        for (uint64_t i = 0; i < gets; i++) {
            uint64_t k = bench_rng_below(&r, cf->rows);
            duck_result res;
            memset(&res, 0, sizeof res);
            duck.bind_int64(st, 1, (int64_t)k);
            if (duck.execute_prepared(st, &res) || duck.value_int64(&res, 0, 0) != cat_of(k))
                bench_die("duckdb get: wrong answer");
            duck.destroy_result(&res);
        }
        duck.destroy_prepare(&st);
        m[M_GETS] = (double)gets / (bench_now() - t0);
    }
    {
        duck_result res;
        double t0 = bench_now();
        memset(&res, 0, sizeof res);
        if (duck.query(con, "SELECT count(*) FROM t", &res) ||
            (uint64_t)duck.value_int64(&res, 0, 0) != cf->rows)
            bench_die("duckdb count");
        duck.destroy_result(&res);
        m[M_COUNT] = (bench_now() - t0) * 1e3;
    }
    {
        static const char *qs[3] = {"SELECT sum(score) FROM t", "SELECT count(*) FROM t WHERE score > 90 AND cat = 3",
                                    "SELECT cat, sum(score) FROM t GROUP BY cat"};
        answers a = answers_of(cf->rows);
        for (int k = 0; k < 3; k++) {
            double best = 1e30;
            for (int rep = 0; rep < QREPS; rep++) {
                duck_result res;
                double t0 = bench_now(), dt;
                memset(&res, 0, sizeof res);
                if (duck.query(con, qs[k], &res))
                    bench_die("duckdb query %d: %s", k, res.error ? res.error : "?");
                dt = bench_now() - t0;
                if ((k == 0 && !near(duck.value_double(&res, 0, 0), a.sum)) ||
                    (k == 1 && (uint64_t)duck.value_int64(&res, 0, 0) != a.filt) || (k == 2 && !(duck.value_double(&res, 1, 9) > 0)))
                    bench_die("duckdb query %d: wrong answer", k);
                duck.destroy_result(&res);
                if (dt < best)
                    best = dt;
            }
            m[M_QSUM + k] = (double)cf->rows / best / 1e6;
        }
    }
    duck.disconnect(&con);
    duck.close(&db);
    bench_rmrf(dir);
    free(dir);
    return 0;
}

/* ---------------------------------------------------------------- plain C: the limit */
/* Copy the columns into arrays (what any store must at least do) and write them to one file. */
static int run_plain(const config *cf, double *m) {
    char *dir = bench_scratch(cf->dir, "plain-table");
    char path[4096];
    columns c, d;
    FILE *f;
    make_columns(&c, cf->rows);
    snprintf(path, sizeof path, "%s/t.bin", dir);
    {
        double t0 = bench_now();
        d.id = malloc(cf->rows * sizeof *d.id);
        d.score = malloc(cf->rows * sizeof *d.score);
        d.cat = malloc(cf->rows * sizeof *d.cat);
        d.flag = malloc(cf->rows * sizeof *d.flag);
        if (!d.id || !d.score || !d.cat || !d.flag)
            bench_die("out of memory");
        memcpy(d.id, c.id, cf->rows * sizeof *d.id);
        memcpy(d.score, c.score, cf->rows * sizeof *d.score);
        memcpy(d.cat, c.cat, cf->rows * sizeof *d.cat);
        memcpy(d.flag, c.flag, cf->rows * sizeof *d.flag);
        f = fopen(path, "wb");
        if (!f)
            bench_die("fopen %s: %s", path, strerror(errno));
        fwrite(d.id, sizeof *d.id, cf->rows, f);
        fwrite(d.score, sizeof *d.score, cf->rows, f);
        fwrite(d.cat, sizeof *d.cat, cf->rows, f);
        fwrite(d.flag, sizeof *d.flag, cf->rows, f);
        fclose(f);
        m[M_LOAD] = (double)cf->rows / (bench_now() - t0);
    }
    free_columns(&c);
    fill_memory(m);
    m[M_DISK] = (double)bench_dir_bytes(dir) / 1e6;
    {
        bench_rng r = {42};
        double t0 = bench_now();
        for (uint64_t i = 0; i < cf->gets; i++) {
            uint64_t k = bench_rng_below(&r, cf->rows);
            if (d.id[k] != (int64_t)k || d.cat[k] != cat_of(k))
                bench_die("plain get: wrong answer");
        }
        m[M_GETS] = (double)cf->gets / (bench_now() - t0);
    }
    m[M_REOPEN] = NAN;
    m[M_COUNT] = NAN;
    {
        answers a = answers_of(cf->rows);
        const uint64_t n = cf->rows;
        for (int k = 0; k < 3; k++) {
            double best = 1e30;
            for (int rep = 0; rep < QREPS; rep++) {
                double t0 = bench_now(), dt;
                if (k == 0) { /* 8 partial sums: the float sum Cairn defines */
                    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tot;
                    uint64_t i = 0;
                    for (; i + 8 <= n; i += 8)
                        for (int j = 0; j < 8; j++)
                            s[j] += d.score[i + j];
                    for (; i < n; i++)
                        s[i & 7] += d.score[i];
                    tot = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
                    dt = bench_now() - t0;
                    if (!near(tot, a.sum))
                        bench_die("plain sum: wrong answer");
                } else if (k == 1) {
                    uint64_t cnt = 0;
                    for (uint64_t i = 0; i < n; i++)
                        cnt += (uint64_t)((d.score[i] > 90) & (d.cat[i] == 3));
                    dt = bench_now() - t0;
                    if (cnt != a.filt)
                        bench_die("plain count: wrong answer");
                } else {
                    double g[10] = {0};
                    for (uint64_t i = 0; i < n; i++)
                        g[d.cat[i]] += d.score[i];
                    dt = bench_now() - t0;
                    if (!near(g[0] + g[1] + g[2] + g[3] + g[4] + g[5] + g[6] + g[7] + g[8] + g[9], a.sum))
                        bench_die("plain group: wrong answer");
                }
                if (dt < best)
                    best = dt;
            }
            m[M_QSUM + k] = (double)n / best / 1e6;
        }
    }
    free_columns(&d);
    bench_rmrf(dir);
    free(dir);
    return 0;
}

/* ---------------------------------------------------------------- driver */
typedef struct {
    const char *name;
    int (*run)(const config *, double *);
} engine;
static const engine engines[] = {
    {"cairn", run_cairn}, {"sqlite", run_sqlite}, {"duckdb", run_duckdb}, {"plain", run_plain},
};
#define NENG (sizeof engines / sizeof engines[0])

/* Run one engine in a child process; its metrics come back through a pipe. */
static int run_child(const engine *e, const config *cf, double *m) {
    int fds[2];
    pid_t pid;
    int status = 0;
    ssize_t got;
    for (int i = 0; i < M_N; i++)
        m[i] = NAN;
    if (pipe(fds))
        bench_die("pipe");
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        bench_die("fork");
    if (pid == 0) {
        double mm[M_N];
        for (int i = 0; i < M_N; i++)
            mm[i] = NAN;
        close(fds[0]);
        if (e->run(cf, mm) == 0 && write(fds[1], mm, sizeof mm) != (ssize_t)sizeof mm)
            _exit(3);
        _exit(0);
    }
    close(fds[1]);
    got = read(fds[0], m, sizeof(double) * M_N);
    close(fds[0]);
    waitpid(pid, &status, 0);
    if (got != (ssize_t)(sizeof(double) * M_N)) {
        for (int i = 0; i < M_N; i++)
            m[i] = NAN;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1 : -1; /* 1: skipped, -1: failed */
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    config cf = {10000000, 1000000, NULL, NULL};
    const char *only = "cairn,sqlite,duckdb,plain";
    const char *out_path = NULL;
    double m[NENG][M_N];
    int ran[NENG];
    int status = 0;
    FILE *out = stdout;
    char machine[256], date[64], load[32];
    cf.dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    cf.duckdb_path = getenv("CAIRN_BENCH_DUCKDB");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--rows") && v) {
            cf.rows = bench_parse_count(a, v);
            i++;
        } else if (!strcmp(a, "--gets") && v) {
            cf.gets = bench_parse_count(a, v);
            i++;
        } else if (!strcmp(a, "--engines") && v) {
            only = v;
            i++;
        } else if (!strcmp(a, "--dir") && v) {
            cf.dir = v;
            i++;
        } else if (!strcmp(a, "--duckdb") && v) {
            cf.duckdb_path = v;
            i++;
        } else if (!strcmp(a, "--out") && v) {
            out_path = v;
            i++;
        } else {
            fprintf(stderr, "usage: table_bench [--rows N] [--gets N] [--engines a,b] [--dir D] "
                            "[--duckdb libduckdb.so] [--out FILE]\n");
            return 2;
        }
    }
    for (size_t e = 0; e < NENG; e++) {
        ran[e] = 1;
        if (!strstr(only, engines[e].name)) {
            for (int i = 0; i < M_N; i++)
                m[e][i] = NAN;
            continue;
        }
        bench_log("table_bench: %s, %llu rows", engines[e].name, (unsigned long long)cf.rows);
        ran[e] = run_child(&engines[e], &cf, m[e]);
        if (ran[e] < 0) {
            bench_log("table_bench: %s FAILED", engines[e].name);
            status = 1;
        } else if (ran[e] > 0) {
            bench_log("table_bench: %s skipped (not available)", engines[e].name);
        }
    }
    if (out_path && !(out = fopen(out_path, "w")))
        bench_die("cannot write %s", out_path);
    bench_machine(machine, sizeof machine);
    bench_date(date, sizeof date);
    bench_loadavg(load, sizeof load);
    fprintf(out, "Table engine, %llu rows of (id i64, score f64, cat i32, flag bool), one batch, "
                 "no fsync until the end; each engine in its own process; %s; %s; load average %s.\n\n",
            (unsigned long long)cf.rows, machine, date, load);
    fprintf(out, "| | Cairn | SQLite | DuckDB | plain C | Cairn / SQLite | Cairn / DuckDB | Cairn / plain |\n");
    fprintf(out, "| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (int i = 0; i < M_N; i++) {
        char cell[4][32], r[3][32];
        int dec = (i == M_LOAD || i == M_GETS || i >= M_QSUM) ? 0 : 1;
        for (int e = 0; e < 4; e++)
            bench_fmt(cell[e], sizeof cell[e], m[e][i], dec);
        bench_fmt_ratio(r[0], sizeof r[0], m[0][i], m[1][i]);
        bench_fmt_ratio(r[1], sizeof r[1], m[0][i], m[2][i]);
        bench_fmt_ratio(r[2], sizeof r[2], m[0][i], m[3][i]);
        fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", metric_names[i], cell[0], cell[1],
                cell[2], cell[3], r[0], r[1], r[2]);
    }
    fprintf(out, "\nDuckDB's point reads run a tenth as many queries (a prepared SELECT each). "
                 "The plain-C column copies the arrays and writes them once: the limit for a load; its queries "
                 "are loops over the arrays (the sum with 8 partial sums, as Cairn defines a float sum). The "
                 "queries run on one thread (DuckDB: SET threads TO 1), the best of %d runs each, every answer "
                 "checked.\n", QREPS);
    if (out != stdout)
        fclose(out);
    return status;
}
