/* test_query_agg.c - Check tests of aggregates, group by and joins (cairn_table_query_json with
 * "aggregates"/"group_by", cairn_table_join_json): every aggregate of every kind of column against
 * a naive computation over an in-memory model of the rows (random data with nulls; row groups of
 * 777 rows, so no multiple of 8 or 2048; constant, run-length, small-range and random columns so
 * several encodings appear; deletes, updates of checkpointed rows (overlays), rows in the tail,
 * and again after reopening), with and without a WHERE; the float sum as cairn/table.h defines it
 * (8 partial sums in id order); exact integer sums and their overflow; group by on several
 * columns with ordering, limit and offset; inner and left joins against a nested-loop reference,
 * also of a table with itself. */
#include "cairn.h"
#include "table/seg_agg.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void mk_tmp(void) { ct_tmp_create("tqagg"); }
static void rm_tmp(void) { ct_tmp_remove(); }

#define OK(x)                                                                                                  \
    do {                                                                                                       \
        int rc_ = (x);                                                                                         \
        if (rc_ != 0) ck_abort_msg("%s: %s %s", #x, cairn_errname(rc_), cairn_errmsg());                       \
    } while (0)
#define ERR(code, x)                                                                                           \
    do {                                                                                                       \
        int rc_ = (x);                                                                                         \
        if (rc_ != (code))                                                                                     \
            ck_abort_msg("%s: want %s, got %s %s", #x, cairn_errname(code), cairn_errname(rc_), cairn_errmsg());  \
    } while (0)

static uint64_t rng;
static uint64_t rnd(void) { /* splitmix64 */
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static cairn_table *topen(const char *name, const char *schema, uint32_t ckpt) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    o.schema = schema;
    o.checkpoint_rows = ckpt;
    o.sync = CAIRN_SYNC_NONE;
    OK(cairn_table_open(&t, ct_path(name), &o));
    return t;
}

/* ---- reading a "columns" result: the i-th value of column `name` as text ---- */

/* the JSON array of column `name` in the data object; *n its element count */
static const char *col_array(const char *res, const char *name) {
    char pat[128];
    const char *p = strstr(res, "\"data\":{");
    ck_assert_msg(p != NULL, "no data in %s", res);
    snprintf(pat, sizeof pat, "\"%s\":[", name);
    p = strstr(p, pat);
    ck_assert_msg(p != NULL, "no column %s in %s", name, res);
    return p + strlen(pat);
}

/* Check records every assertion (a write per call): in loops, assert only on failure */
#define EXPECT(c, ...)                                                                                         \
    do {                                                                                                       \
        if (!(c)) ck_abort_msg(__VA_ARGS__);                                                                   \
    } while (0)

/* value i of the array at a into buf (a JSON token); walking on from the previous call when it
 * asked for value i - 1 of the same array */
static void arr_get(const char *a, size_t i, char *buf, size_t cap) {
    static const char *last_a, *last_p;
    static size_t last_i;
    size_t k = 0, n = 0;
    const char *start = a;
    if (a == last_a && last_p && i == last_i + 1) {
        a = last_p;
        k = i;
    }
    for (;;) {
        const char *st = a;
        int instr = 0, depth = 0;
        while (*a && (instr || depth || (*a != ',' && *a != ']'))) {
            if (instr) {
                if (*a == '\\') a++;
                else if (*a == '"') instr = 0;
            } else if (*a == '"') instr = 1;
            else if (*a == '{' || *a == '[') depth++;
            else if (*a == '}') depth--;
            a++;
        }
        if (k == i) {
            n = (size_t)(a - st);
            EXPECT(n > 0 && n < cap, "value %zu missing", i);
            memcpy(buf, st, n);
            buf[n] = 0;
            last_a = start;
            last_i = i;
            last_p = *a == ',' ? a + 1 : NULL;
            return;
        }
        EXPECT(*a == ',', "value %zu missing", i);
        a++;
        k++;
    }
}

static uint64_t res_count(const char *res) {
    const char *p = strstr(res, "\"count\":");
    ck_assert(p != NULL);
    return strtoull(p + 8, NULL, 10);
}

/* ---- the model ---- */

#define NCOL 9
/* a i32, b i64, u u16, f f64, g f32, s string, k i32, flag bool, c u64 */
static const char *SCHEMA = "a i32 null, b i64 null, u u16 null, f f64 null, g f32 null, s string null, k i32 null, "
                            "flag bool null, c u64 null";
static const char *CN[NCOL] = {"a", "b", "u", "f", "g", "s", "k", "flag", "c"};
enum { CA, CB, CU, CF, CG, CS, CK, CFLAG, CC };

typedef struct mrow {
    uint64_t id;
    int live;
    int nul[NCOL];
    int64_t i[NCOL];
    uint64_t u[NCOL];
    double f[NCOL];
    char s[16];
} mrow;

static mrow *M;
static size_t NM, CAPM;

static void gen_row(mrow *r, size_t k) {
    int c;
    for (c = 0; c < NCOL; c++) r->nul[c] = (rnd() % 10) == 0;
    r->nul[CK] = (rnd() % 50) == 0;
    r->nul[CB] = 0; /* runs without nulls: RLE answers sums as value x length */
    r->i[CA] = (int64_t)(rnd() % 101) - 50;
    r->i[CB] = ((int64_t)((k / 97) % 13) - 6) * 100000000000000ll; /* runs */
    r->u[CU] = rnd() % 65536;
    if ((k / 777) % 2 == 0) /* every other row group: distinct values (PLAIN), else few (DICT) */
        r->f[CF] = ((double)(rnd() >> 11) / 9007199254740992.0) * 1000.0 - 300.0;
    else
        r->f[CF] = (double)(rnd() % 300) / 7.0 - 20.0;
    r->f[CG] = (double)(float)((double)(int64_t)(rnd() % 400 - 200) / 4.0);
    snprintf(r->s, sizeof r->s, "s%03d", (int)(rnd() % 200));
    r->i[CK] = 7;
    r->i[CFLAG] = (int64_t)(rnd() & 1);
    r->u[CC] = rnd() >> 20;
}

static void row_json(const mrow *r, char *buf, size_t cap) {
    int c;
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "{");
    for (c = 0; c < NCOL; c++) {
        n += (size_t)snprintf(buf + n, cap - n, "%s\"%s\":", c ? "," : "", CN[c]);
        if (r->nul[c]) n += (size_t)snprintf(buf + n, cap - n, "null");
        else if (c == CU || c == CC) n += (size_t)snprintf(buf + n, cap - n, "%llu", (unsigned long long)r->u[c]);
        else if (c == CF || c == CG) n += (size_t)snprintf(buf + n, cap - n, "%.17g", r->f[c]);
        else if (c == CS) n += (size_t)snprintf(buf + n, cap - n, "\"%s\"", r->s);
        else if (c == CFLAG) n += (size_t)snprintf(buf + n, cap - n, "%s", r->i[c] ? "true" : "false");
        else n += (size_t)snprintf(buf + n, cap - n, "%lld", (long long)r->i[c]);
    }
    snprintf(buf + n, cap - n, "}");
}

static void model_insert(cairn_table *t, size_t k) {
    char buf[1024];
    mrow r;
    memset(&r, 0, sizeof r);
    gen_row(&r, k);
    row_json(&r, buf, sizeof buf);
    OK(cairn_table_insert_json(t, buf, &r.id));
    r.live = 1;
    if (NM == CAPM) {
        CAPM = CAPM ? CAPM * 2 : 1024;
        M = (mrow *)realloc(M, CAPM * sizeof *M);
    }
    M[NM++] = r;
}

/* build a table of n rows (row groups of 777), delete ~10%, update ~5% (f, s, a, b), add tail rows */
static cairn_table *build(const char *name, size_t n, uint64_t seed) {
    cairn_table *t = topen(name, SCHEMA, 777);
    size_t i;
    rng = seed;
    NM = 0;
    for (i = 0; i < n; i++) model_insert(t, i);
    OK(cairn_table_sync(t));
    for (i = 0; i < NM; i++) {
        uint64_t r = rnd() % 100;
        if (r < 10) {
            OK(cairn_table_delete(t, M[i].id));
            M[i].live = 0;
        } else if (r < 15) {
            char buf[256];
            mrow nr;
            gen_row(&nr, rnd());
            M[i].nul[CF] = nr.nul[CF], M[i].f[CF] = nr.f[CF];
            M[i].nul[CS] = nr.nul[CS], memcpy(M[i].s, nr.s, sizeof nr.s);
            M[i].nul[CA] = nr.nul[CA], M[i].i[CA] = nr.i[CA];
            M[i].nul[CB] = 0, M[i].i[CB] = nr.i[CB] + 12345;
            if (M[i].nul[CS])
                snprintf(buf, sizeof buf, "{\"f\":%s%.17g,\"s\":null,\"a\":%s%lld,\"b\":%lld}", M[i].nul[CF] ? "null" : "",
                         M[i].nul[CF] ? 0.0 : M[i].f[CF], "", (long long)M[i].i[CA], (long long)M[i].i[CB]);
            else
                snprintf(buf, sizeof buf, "{\"f\":%.17g,\"s\":\"%s\",\"a\":%lld,\"b\":%lld}", M[i].f[CF], M[i].s,
                         (long long)M[i].i[CA], (long long)M[i].i[CB]);
            if (M[i].nul[CF]) { /* keep the JSON simple: a null f as null */
                if (M[i].nul[CS])
                    snprintf(buf, sizeof buf, "{\"f\":null,\"s\":null,\"a\":%lld,\"b\":%lld}", (long long)M[i].i[CA],
                             (long long)M[i].i[CB]);
                else
                    snprintf(buf, sizeof buf, "{\"f\":null,\"s\":\"%s\",\"a\":%lld,\"b\":%lld}", M[i].s,
                             (long long)M[i].i[CA], (long long)M[i].i[CB]);
            }
            M[i].nul[CA] = 0;
            OK(cairn_table_update_json(t, M[i].id, buf));
        }
    }
    for (i = 0; i < 300; i++) model_insert(t, n + i); /* the tail (below a checkpoint) */
    for (i = NM - 300; i < NM; i += 7) {
        OK(cairn_table_delete(t, M[i].id));
        M[i].live = 0;
    }
    return t;
}

/* ---- the reference ---- */

typedef struct fs8 {
    double s[8];
    uint64_t k;
} fs8;
static void fs_init(fs8 *f) {
    int i;
    for (i = 0; i < 8; i++) f->s[i] = -0.0;
    f->k = 0;
}
static void fs_add(fs8 *f, double v) { f->s[f->k++ & 7] += v; }
static double fs_val(const fs8 *f) {
    return ((f->s[0] + f->s[1]) + (f->s[2] + f->s[3])) + ((f->s[4] + f->s[5]) + (f->s[6] + f->s[7]));
}

static int where_a_pos(const mrow *r) { return !r->nul[CA] && r->i[CA] > 0; }

typedef int (*mfilter)(const mrow *r);

static int is_uns(int c) { return c == CU || c == CC || c == CFLAG; }

/* check every aggregate of every column against the model */
static void check_aggs(cairn_table *t, mfilter flt, const char *where) {
    int c;
    char q[512], v[256];
    char *res = NULL;
    size_t i;
    uint64_t nall = 0;
    for (i = 0; i < NM; i++) nall += M[i].live && (!flt || flt(&M[i]));
    snprintf(q, sizeof q, "{%s%s%s\"aggregates\":[{\"fn\":\"count\"}],\"format\":\"columns\"}", where ? "\"where\":" : "",
             where ? where : "", where ? "," : "");
    OK(cairn_table_query_json(t, q, &res));
    arr_get(col_array(res, "count(*)"), 0, v, sizeof v);
    ck_assert_msg(strtoull(v, NULL, 10) == nall, "count(*) %s want %llu: %s", v, (unsigned long long)nall, q);
    cairn_free(res);
    for (c = 0; c < NCOL; c++) {
        uint64_t n = 0, nd = 0;
        __int128 is = 0;
        fs8 fs;
        int has = 0;
        int64_t mi = 0, ma = 0;
        uint64_t umi = 0, uma = 0;
        double fmi = 0, fma = 0;
        char smi[16] = "", sma[16] = "";
        char seen[70000];
        char name[64];
        memset(seen, 0, sizeof seen);
        fs_init(&fs);
        for (i = 0; i < NM; i++) {
            const mrow *r = &M[i];
            if (!r->live || (flt && !flt(r)) || r->nul[c]) continue;
            n++;
            if (c == CS) {
                int id = atoi(r->s + 1);
                nd += !seen[id];
                seen[id] = 1;
                if (!has || strcmp(r->s, smi) < 0) strcpy(smi, r->s);
                if (!has || strcmp(r->s, sma) > 0) strcpy(sma, r->s);
            } else if (c == CF || c == CG) {
                fs_add(&fs, r->f[c]);
                if (!has || r->f[c] < fmi) fmi = r->f[c];
                if (!has || r->f[c] > fma) fma = r->f[c];
            } else if (is_uns(c)) {
                uint64_t x = c == CFLAG ? (uint64_t)r->i[c] : r->u[c];
                is += (__int128)x;
                if (!has || x < umi) umi = x;
                if (!has || x > uma) uma = x;
                if (c != CC) {
                    nd += !seen[x];
                    seen[x] = 1;
                }
            } else {
                int64_t x = r->i[c];
                is += x;
                if (!has || x < mi) mi = x;
                if (!has || x > ma) ma = x;
            }
            has = 1;
        }
        {
            size_t qn = (size_t)snprintf(q, sizeof q, "{%s%s%s\"aggregates\":[{\"fn\":\"count\",\"column\":\"%s\"},"
                                         "{\"fn\":\"min\",\"column\":\"%s\"},{\"fn\":\"max\",\"column\":\"%s\"}",
                                         where ? "\"where\":" : "", where ? where : "", where ? "," : "", CN[c], CN[c], CN[c]);
            if (c != CS && c != CFLAG)
                qn += (size_t)snprintf(q + qn, sizeof q - qn, ",{\"fn\":\"sum\",\"column\":\"%s\"},{\"fn\":\"avg\",\"column\":\"%s\"}",
                                       CN[c], CN[c]);
            if (c == CS || c == CU || c == CFLAG)
                qn += (size_t)snprintf(q + qn, sizeof q - qn, ",{\"fn\":\"count_distinct\",\"column\":\"%s\"}", CN[c]);
            snprintf(q + qn, sizeof q - qn, "],\"format\":\"columns\"}");
        }
        OK(cairn_table_query_json(t, q, &res));
        snprintf(name, sizeof name, "count(%s)", CN[c]);
        arr_get(col_array(res, name), 0, v, sizeof v);
        ck_assert_msg(strtoull(v, NULL, 10) == n, "%s = %s, want %llu", name, v, (unsigned long long)n);
        snprintf(name, sizeof name, "min(%s)", CN[c]);
        arr_get(col_array(res, name), 0, v, sizeof v);
        if (!has) ck_assert_str_eq(v, "null");
        else if (c == CS) {
            char want[40];
            snprintf(want, sizeof want, "\"%s\"", smi);
            ck_assert_str_eq(v, want);
        } else if (c == CF || c == CG) ck_assert_msg(strtod(v, NULL) == fmi, "%s = %s want %.17g", name, v, fmi);
        else if (c == CFLAG) ck_assert_str_eq(v, umi ? "true" : "false");
        else if (is_uns(c)) ck_assert_msg(strtoull(v, NULL, 10) == umi, "%s = %s", name, v);
        else ck_assert_msg(strtoll(v, NULL, 10) == mi, "%s = %s want %lld", name, v, (long long)mi);
        snprintf(name, sizeof name, "max(%s)", CN[c]);
        arr_get(col_array(res, name), 0, v, sizeof v);
        if (!has) ck_assert_str_eq(v, "null");
        else if (c == CS) {
            char want[40];
            snprintf(want, sizeof want, "\"%s\"", sma);
            ck_assert_str_eq(v, want);
        } else if (c == CF || c == CG) ck_assert_msg(strtod(v, NULL) == fma, "%s = %s want %.17g", name, v, fma);
        else if (c == CFLAG) ck_assert_str_eq(v, uma ? "true" : "false");
        else if (is_uns(c)) ck_assert_msg(strtoull(v, NULL, 10) == uma, "%s = %s", name, v);
        else ck_assert_msg(strtoll(v, NULL, 10) == ma, "%s = %s want %lld", name, v, (long long)ma);
        if (c != CS && c != CFLAG) {
            double avg;
            snprintf(name, sizeof name, "sum(%s)", CN[c]);
            arr_get(col_array(res, name), 0, v, sizeof v);
            if (!has) ck_assert_str_eq(v, "null");
            else if (c == CF || c == CG)
                ck_assert_msg(strtod(v, NULL) == fs_val(&fs), "%s = %s want %.17g (where %s)", name, v, fs_val(&fs),
                              where ? where : "-");
            else if (is_uns(c)) ck_assert_msg(strtoull(v, NULL, 10) == (uint64_t)is, "%s = %s", name, v);
            else ck_assert_msg(strtoll(v, NULL, 10) == (int64_t)is, "%s = %s want %lld", name, v, (long long)is);
            snprintf(name, sizeof name, "avg(%s)", CN[c]);
            arr_get(col_array(res, name), 0, v, sizeof v);
            avg = (c == CF || c == CG) ? fs_val(&fs) / (double)n : (double)is / (double)n;
            if (!has) ck_assert_str_eq(v, "null");
            else ck_assert_msg(strtod(v, NULL) == avg, "%s = %s want %.17g", name, v, avg);
        }
        if (c == CS || c == CU || c == CFLAG) {
            snprintf(name, sizeof name, "count_distinct(%s)", CN[c]);
            arr_get(col_array(res, name), 0, v, sizeof v);
            ck_assert_msg(strtoull(v, NULL, 10) == nd, "%s = %s want %llu", name, v, (unsigned long long)nd);
        }
        cairn_free(res);
    }
}

START_TEST(aggregates_random) {
    static const size_t sizes[] = {0, 1, 5, 777, 3001, 6217};
    size_t si;
    for (si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        char name[32];
        cairn_table *t;
        snprintf(name, sizeof name, "t%zu", si);
        t = build(name, sizes[si], 1000 + si);
        check_aggs(t, NULL, NULL);
        check_aggs(t, where_a_pos, "\"a > 0\"");
        cairn_table_close(t);
        t = topen(name, NULL, 777); /* from disk: segments mapped and verified */
        check_aggs(t, NULL, NULL);
        check_aggs(t, where_a_pos, "[\"a\", \">\", 0]");
        OK(cairn_table_compact(t)); /* no deletes left: every group clean */
        check_aggs(t, NULL, NULL);
        cairn_table_close(t);
    }
    free(M);
    M = NULL;
    NM = CAPM = 0;
}
END_TEST

START_TEST(sum_overflow) {
    cairn_table *t = topen("ov", "x i64, y u64, z i8", 4);
    char *res = NULL;
    OK(cairn_table_insert_json(t, "{\"x\":9223372036854775807,\"y\":18446744073709551615,\"z\":-128}", NULL));
    OK(cairn_table_insert_json(t, "{\"x\":1,\"y\":0,\"z\":-128}", NULL));
    OK(cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"sum\",\"column\":\"z\"}]}", &res));
    ck_assert_msg(strstr(res, "\"sum(z)\":-256") != NULL, "%s", res);
    cairn_free(res);
    ERR(CAIRN_RANGE, cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"sum\",\"column\":\"x\"}]}", &res));
    ck_assert_msg(strstr(cairn_errmsg(), "x") != NULL, "%s", cairn_errmsg());
    OK(cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"sum\",\"column\":\"y\"}]}", &res));
    ck_assert_msg(strstr(res, "\"sum(y)\":18446744073709551615") != NULL, "%s", res);
    cairn_free(res);
    /* past i64 on the way, back inside at the end: exact */
    OK(cairn_table_insert_json(t, "{\"x\":-2,\"y\":1,\"z\":1}", NULL));
    OK(cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"sum\",\"column\":\"x\"}]}", &res));
    ck_assert_msg(strstr(res, "\"sum(x)\":9223372036854775806") != NULL, "%s", res);
    cairn_free(res);
    ERR(CAIRN_RANGE, cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"sum\",\"column\":\"y\"}]}", &res));
    ck_assert_msg(strstr(cairn_errmsg(), "y") != NULL, "%s", cairn_errmsg());
    OK(cairn_table_sync(t)); /* the same from a segment */
    ERR(CAIRN_RANGE, cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"sum\",\"column\":\"y\"}]}", &res));
    OK(cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"sum\",\"column\":\"x\"},{\"fn\":\"avg\",\"column\":\"z\"}]}", &res));
    ck_assert_msg(strstr(res, "\"sum(x)\":9223372036854775806") != NULL, "%s", res);
    ck_assert_msg(strstr(res, "\"avg(z)\":-85.0") != NULL, "%s", res);
    cairn_free(res);
    cairn_table_close(t);
}
END_TEST

START_TEST(type_errors_and_empty) {
    cairn_table *t = topen("te", "s string, b bool, ts timestamp, x bytes, v f64", 0);
    char *res = NULL;
    ERR(CAIRN_TYPE, cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"sum\",\"column\":\"s\"}]}", &res));
    ERR(CAIRN_TYPE, cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"avg\",\"column\":\"b\"}]}", &res));
    ERR(CAIRN_TYPE, cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"sum\",\"column\":\"ts\"}]}", &res));
    ERR(CAIRN_TYPE, cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"avg\",\"column\":\"x\"}]}", &res));
    OK(cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"count\"},{\"fn\":\"sum\",\"column\":\"v\"},"
                                 "{\"fn\":\"min\",\"column\":\"ts\"},{\"fn\":\"avg\",\"column\":\"v\"}]}", &res));
    ck_assert_str_eq(res, "{\"columns\":[{\"name\":\"count(*)\",\"type\":\"u64\"},{\"name\":\"sum(v)\",\"type\":\"f64\"},"
                          "{\"name\":\"min(ts)\",\"type\":\"timestamp\"},{\"name\":\"avg(v)\",\"type\":\"f64\"}],"
                          "\"rows\":[{\"count(*)\":0,\"sum(v)\":null,\"min(ts)\":null,\"avg(v)\":null}]}");
    cairn_free(res);
    OK(cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"count\"}],\"group_by\":[\"s\"]}", &res));
    ck_assert_str_eq(res, "{\"columns\":[{\"name\":\"s\",\"type\":\"string\"},{\"name\":\"count(*)\",\"type\":\"u64\"}],"
                          "\"rows\":[]}");
    cairn_free(res);
    OK(cairn_table_insert_json(t, "{\"s\":\"b\",\"v\":{\"$f64\":\"nan\"},\"x\":{\"$bytes\":\"ff\"}}", NULL));
    OK(cairn_table_insert_json(t, "{\"s\":\"ab\",\"v\":2.5,\"x\":{\"$bytes\":\"00ff\"}}", NULL));
    OK(cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"max\",\"column\":\"v\"},{\"fn\":\"min\",\"column\":\"v\"},"
                                 "{\"fn\":\"min\",\"column\":\"s\"},{\"fn\":\"max\",\"column\":\"x\"}]}", &res));
    ck_assert_msg(strstr(res, "\"max(v)\":{\"$f64\":\"nan\"},\"min(v)\":2.5,\"min(s)\":\"ab\",\"max(x)\":{\"$bytes\":\"ff\"}"),
                  "%s", res);
    cairn_free(res);
    cairn_table_close(t);
}
END_TEST

/* group by (a, flag) with several aggregates against a reference; order and limit/offset */
START_TEST(group_by_multi) {
    cairn_table *t = build("g", 4000, 77);
    char *res = NULL, v[64], w[64];
    size_t i, j, ng = 0, rows;
    struct grp {
        int an, fn;
        int64_t a, flag;
        uint64_t cnt;
        fs8 fs;
        uint64_t nf;
        int64_t maxb;
        int hasb;
    } *g = (struct grp *)calloc(NM + 1, sizeof *g);
    for (i = 0; i < NM; i++) {
        const mrow *r = &M[i];
        if (!r->live) continue;
        for (j = 0; j < ng; j++)
            if (g[j].an == r->nul[CA] && (r->nul[CA] || g[j].a == r->i[CA]) && g[j].fn == r->nul[CFLAG] &&
                (r->nul[CFLAG] || g[j].flag == r->i[CFLAG]))
                break;
        if (j == ng) {
            g[ng].an = r->nul[CA], g[ng].a = r->i[CA], g[ng].fn = r->nul[CFLAG], g[ng].flag = r->i[CFLAG];
            fs_init(&g[ng].fs);
            ng++;
        }
        g[j].cnt++;
        if (!r->nul[CF]) fs_add(&g[j].fs, r->f[CF]), g[j].nf++;
        if (!r->nul[CB] && (!g[j].hasb || r->i[CB] > g[j].maxb)) g[j].maxb = r->i[CB], g[j].hasb = 1;
    }
    OK(cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"count\"},{\"fn\":\"sum\",\"column\":\"f\",\"as\":\"sf\"},"
                                 "{\"fn\":\"max\",\"column\":\"b\"}],\"group_by\":[\"a\",\"flag\"],\"format\":\"columns\"}",
                              &res));
    rows = (size_t)res_count(res);
    EXPECT((uint64_t)(rows) == (uint64_t)(ng), "line %d", __LINE__);
    /* ordered by a (nulls last), then flag (nulls last) */
    for (i = 0; i < rows; i++) {
        int64_t a = 0, fl = 0;
        int an, fn;
        arr_get(col_array(res, "a"), i, v, sizeof v);
        an = !strcmp(v, "null");
        if (!an) a = strtoll(v, NULL, 10);
        arr_get(col_array(res, "flag"), i, w, sizeof w);
        fn = !strcmp(w, "null");
        if (!fn) fl = !strcmp(w, "true");
        for (j = 0; j < ng; j++)
            if (g[j].an == an && (an || g[j].a == a) && g[j].fn == fn && (fn || g[j].flag == fl)) break;
        EXPECT(j < ng, "group %s/%s not in the reference", v, w);
        if (i) {
            char pv[64], pw[64];
            int pan, pfn;
            arr_get(col_array(res, "a"), i - 1, pv, sizeof pv);
            arr_get(col_array(res, "flag"), i - 1, pw, sizeof pw);
            pan = !strcmp(pv, "null"), pfn = !strcmp(pw, "null");
            EXPECT(pan <= an, "nulls of a last");
            if (!pan && !an) EXPECT(strtoll(pv, NULL, 10) <= a, "line %d", __LINE__);
            if (pan == an && (an || strtoll(pv, NULL, 10) == a)) {
                EXPECT(pfn <= fn, "nulls of flag last");
                if (!pfn && !fn) EXPECT(strcmp(pw, w) < 0, "line %d", __LINE__); /* false before true */
            }
        }
        arr_get(col_array(res, "count(*)"), i, v, sizeof v);
        EXPECT((uint64_t)(strtoull(v, NULL, 10)) == (uint64_t)(g[j].cnt), "line %d", __LINE__);
        arr_get(col_array(res, "sf"), i, v, sizeof v);
        if (!g[j].nf) EXPECT(!strcmp(v, "null"), "%s: want null", v);
        else EXPECT(strtod(v, NULL) == fs_val(&g[j].fs), "sf %s want %.17g", v, fs_val(&g[j].fs));
        arr_get(col_array(res, "max(b)"), i, v, sizeof v);
        if (!g[j].hasb) EXPECT(!strcmp(v, "null"), "%s: want null", v);
        else EXPECT((int64_t)(strtoll(v, NULL, 10)) == (int64_t)(g[j].maxb), "line %d", __LINE__);
    }
    cairn_free(res);
    /* order by an aggregate, descending, with offset/limit: counts non-increasing */
    OK(cairn_table_query_json(t, "{\"aggregates\":[{\"fn\":\"count\",\"as\":\"n\"}],\"group_by\":[\"a\",\"flag\"],"
                                 "\"order\":[\"-n\"],\"offset\":3,\"limit\":5,\"format\":\"columns\"}", &res));
    EXPECT((uint64_t)(res_count(res)) == (uint64_t)(ng - 3 < 5 ? ng - 3 : 5), "line %d", __LINE__);
    for (i = 1; i < res_count(res); i++) {
        arr_get(col_array(res, "n"), i - 1, v, sizeof v);
        arr_get(col_array(res, "n"), i, w, sizeof w);
        EXPECT(strtoull(v, NULL, 10) >= strtoull(w, NULL, 10), "line %d", __LINE__);
    }
    cairn_free(res);
    /* group by a string with a where (the scan), count_distinct per group */
    OK(cairn_table_query_json(t, "{\"where\":\"a > 40\",\"aggregates\":[{\"fn\":\"count_distinct\",\"column\":\"a\"}],"
                                 "\"group_by\":[\"s\"],\"format\":\"columns\"}", &res));
    for (i = 0; i < res_count(res); i++) {
        char want[40];
        size_t k;
        int seen[11];
        uint64_t nd = 0;
        memset(seen, 0, sizeof seen);
        arr_get(col_array(res, "s"), i, v, sizeof v);
        for (k = 0; k < NM; k++) {
            const mrow *r = &M[k];
            if (!r->live || r->nul[CA] || r->i[CA] <= 40) continue;
            snprintf(want, sizeof want, "\"%s\"", r->s);
            if (r->nul[CS] ? strcmp(v, "null") : strcmp(v, want)) continue;
            nd += !seen[r->i[CA] - 40];
            seen[r->i[CA] - 40] = 1;
        }
        arr_get(col_array(res, "count_distinct(a)"), i, w, sizeof w);
        EXPECT(strtoull(w, NULL, 10) == nd, "group %s: %s want %llu", v, w, (unsigned long long)nd);
    }
    cairn_free(res);
    cairn_table_close(t);
    free(g);
    free(M);
    M = NULL;
    NM = CAPM = 0;
}
END_TEST

/* ---- joins against a nested loop ---- */

typedef struct jrow {
    uint64_t id;
    int kn;
    int64_t k;
    int64_t v;
} jrow;

static void jfill(cairn_table *t, jrow *r, size_t n, int range) {
    size_t i;
    for (i = 0; i < n; i++) {
        char buf[128];
        r[i].kn = rnd() % 8 == 0;
        r[i].k = (int64_t)(rnd() % (uint64_t)range);
        r[i].v = (int64_t)(rnd() % 1000);
        if (r[i].kn) snprintf(buf, sizeof buf, "{\"k\":null,\"v\":%lld}", (long long)r[i].v);
        else snprintf(buf, sizeof buf, "{\"k\":%lld,\"v\":%lld}", (long long)r[i].k, (long long)r[i].v);
        OK(cairn_table_insert_json(t, buf, &r[i].id));
    }
}

static void check_join(cairn_table *l, const jrow *lr, size_t nl, cairn_table *r, const jrow *rr, size_t nr, int left) {
    char *res = NULL, v[64];
    size_t i, j, k = 0;
    char q[256];
    snprintf(q, sizeof q, "{\"on\":[[\"k\",\"k\"]],\"type\":\"%s\",\"columns\":[\"left._id\",\"right._id\",\"right.v\"],"
                          "\"format\":\"columns\"}", left ? "left" : "inner");
    OK(cairn_table_join_json(l, r, q, &res));
    for (i = 0; i < nl; i++) {
        int any = 0;
        for (j = 0; j < nr; j++) {
            if (lr[i].kn || rr[j].kn || lr[i].k != rr[j].k) continue;
            any = 1;
            arr_get(col_array(res, "left._id"), k, v, sizeof v);
            EXPECT((uint64_t)(strtoull(v, NULL, 10)) == (uint64_t)(lr[i].id), "line %d", __LINE__);
            arr_get(col_array(res, "right._id"), k, v, sizeof v);
            EXPECT((uint64_t)(strtoull(v, NULL, 10)) == (uint64_t)(rr[j].id), "line %d", __LINE__);
            arr_get(col_array(res, "right.v"), k, v, sizeof v);
            EXPECT((int64_t)(strtoll(v, NULL, 10)) == (int64_t)(rr[j].v), "line %d", __LINE__);
            k++;
        }
        if (!any && left) {
            arr_get(col_array(res, "left._id"), k, v, sizeof v);
            EXPECT((uint64_t)(strtoull(v, NULL, 10)) == (uint64_t)(lr[i].id), "line %d", __LINE__);
            arr_get(col_array(res, "right._id"), k, v, sizeof v);
            EXPECT(!strcmp(v, "null"), "%s: want null", v);
            k++;
        }
    }
    EXPECT((uint64_t)(res_count(res)) == (uint64_t)(k), "line %d", __LINE__);
    cairn_free(res);
}

START_TEST(joins) {
    cairn_table *l = topen("jl", "k i32 null, v i64", 500), *r = topen("jr", "k i64 null, v i64", 300);
    jrow *lr = (jrow *)calloc(1300, sizeof *lr), *rr = (jrow *)calloc(700, sizeof *rr);
    char *res = NULL;
    rng = 5;
    jfill(l, lr, 1300, 200);
    jfill(r, rr, 700, 150);
    check_join(l, lr, 1300, r, rr, 700, 0);
    check_join(l, lr, 1300, r, rr, 700, 1);
    check_join(l, lr, 1300, l, lr, 1300, 0); /* a table with itself */
    check_join(r, rr, 700, l, lr, 1300, 1);
    /* errors */
    ERR(CAIRN_SCHEMA, cairn_table_join_json(l, r, "{\"on\":[[\"nope\",\"k\"]]}", &res));
    ERR(CAIRN_SCHEMA, cairn_table_join_json(l, r, "{\"on\":[[\"k\",\"k\"]],\"columns\":[\"right.nope\"]}", &res));
    ERR(CAIRN_INVALID, cairn_table_join_json(l, r, "{\"on\":[[\"k\",\"k\"]],\"type\":\"outer\"}", &res));
    ERR(CAIRN_INVALID, cairn_table_join_json(l, r, "{\"on\":[]}", &res));
    ERR(CAIRN_INVALID, cairn_table_join_json(l, r, "{\"columns\":[\"left.k\"]}", &res));
    cairn_table_close(l);
    cairn_table_close(r);
    free(lr);
    free(rr);
}
END_TEST

/* the primitives of seg_agg.h against a bit-by-bit reference: every width 0..32, lengths around
 * the runs of 8 and the end of the bytes, any start phase of the partial sums, codes out of range
 * and bytes too short */
static void pack_code(uint8_t *p, unsigned w, size_t k, uint32_t c) {
    unsigned b;
    for (b = 0; b < w; b++)
        if ((c >> b) & 1) p[(k * w + b) >> 3] |= (uint8_t)(1u << ((k * w + b) & 7));
}

START_TEST(seg_agg_primitives) {
    static const size_t lens[] = {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4099};
    unsigned w;
    size_t li;
    int simd;
    rng = 0x5eed0a11u;
    fprintf(stderr, "seg_agg_primitives: seed 0x5eed0a11\n");
    for (simd = 0; simd < 2; simd++) { /* the portable code, then the vector code where the CPU has it */
    cairn_seg__agg_simd = simd;
    for (w = 0; w <= 32; w++) {
        for (li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t n = lens[li], plen = (n * w + 7) / 8, i, start;
            uint64_t d = w == 0 ? 1 : (w >= 20 ? 70000 + rnd() % 1000 : (1ull << w) - rnd() % 2);
            uint8_t *p = (uint8_t *)calloc(plen + 1, 1), *dict;
            uint32_t *codes = (uint32_t *)malloc((n + 1) * 4), *got = (uint32_t *)malloc((n + 1) * 4);
            double s[8], ref[8];
            uint64_t k0 = rnd() % 8;
            if (w >= 20 && d > (1ull << w)) d = 1ull << w;
            dict = (uint8_t *)malloc((size_t)d * 8 + 1) + 1; /* unaligned */
            for (i = 0; i < d; i++) {
                double v = (double)(rnd() % 100000) / 100.0;
                memcpy(dict + i * 8, &v, 8);
            }
            for (i = 0; i < n; i++) {
                codes[i] = (uint32_t)(rnd() % d);
                pack_code(p, w, i, codes[i]);
            }
            /* every start that is a multiple of 8 */
            for (start = 0; start <= n; start += 8 + 8 * (n / 64)) {
                memset(got, 0xff, (n + 1) * 4);
                ck_assert_int_eq(cairn_seg__codes(p, plen, w, start, n - start, d, got), 0);
                for (i = start; i < n; i++) ck_assert_uint_eq(got[i - start], codes[i]);
                ck_assert_uint_eq(got[n - start], 0xffffffffu);
            }
            for (i = 0; i < 8; i++) s[i] = ref[i] = -0.0 + (double)i;
            for (i = 0; i < n; i++) {
                double v;
                memcpy(&v, dict + (size_t)codes[i] * 8, 8);
                ref[(k0 + i) & 7] += v;
            }
            ck_assert_int_eq(cairn_seg__dict_fsum(p, plen, w, n, dict, (uint32_t)d, s, k0), 0);
            for (i = 0; i < 8; i++) ck_assert(memcmp(&s[i], &ref[i], 8) == 0);
            if (n && plen) { /* bytes too short */
                ck_assert_int_eq(cairn_seg__codes(p, plen - 1, w, 0, n, d, got), -1);
                ck_assert_int_eq(cairn_seg__dict_fsum(p, plen - 1, w, n, dict, (uint32_t)d, s, k0), -1);
            }
            if (n && w) { /* a code out of range, at every other position */
                for (i = 0; i < n; i += 1 + n / 16) {
                    uint32_t c = codes[i];
                    if (d >= (1ull << w)) continue;
                    pack_code(p, w, i, (uint32_t)((1ull << w) - 1)); /* all ones: >= d */
                    ck_assert_int_eq(cairn_seg__codes(p, plen, w, 0, n, d, got), -1);
                    ck_assert_int_eq(cairn_seg__dict_fsum(p, plen, w, n, dict, (uint32_t)d, s, k0), -1);
                    { /* back to the code it was */
                        unsigned b;
                        for (b = 0; b < w; b++) p[(i * w + b) >> 3] &= (uint8_t) ~(1u << ((i * w + b) & 7));
                        pack_code(p, w, i, c);
                    }
                }
                ck_assert_int_eq(cairn_seg__codes(p, plen, w, 0, n, d, got), 0);
            }
            free(p);
            free(dict - 1);
            free(codes);
            free(got);
        }
    }
    }
    cairn_seg__agg_simd = 1;
}
END_TEST

/* group by one integer column without nulls (the fused and segment-direct per-row-group paths):
 * several widths and signs, few and many codes, values far from 0, a row group whose values span
 * too wide for them (the usual path for that row group, a fast one for the next), count(*), count,
 * sum and avg of f64 (PLAIN and DICT row groups), i64 and u32, with deletes and tail rows, from
 * disk, and compacted (every group clean) */
#define FG_N 5000
static struct fgrow {
    int64_t g[5];
    double f;
    int64_t v;
    uint32_t w;
    int live;
} *FG;

static void fused_check(cairn_table *t) {
    static const char *gn[5] = {"g1", "g2", "g3", "g4", "g5"};
    int pass, gc, ints;
    for (pass = 0; pass < 15; pass++) {
        struct fgref {
            int64_t key;
            uint64_t n;
            fs8 fs;
            int64_t sv;
            uint64_t sw;
        } *ref = (struct fgref *)calloc(FG_N, sizeof *ref);
        size_t nref = 0, i, j, rows;
        char q[512], *res = NULL, v[64];
        gc = pass % 5;
        ints = pass / 5; /* 0: counts and f64 sums (the segment-direct path), 1: and integer sums, 2: f64 sums only */
        for (i = 0; i < FG_N; i++) {
            if (!FG[i].live) continue;
            for (j = 0; j < nref && ref[j].key != FG[i].g[gc]; j++) {}
            if (j == nref) {
                ref[nref].key = FG[i].g[gc];
                fs_init(&ref[nref].fs);
                nref++;
            }
            ref[j].n++;
            fs_add(&ref[j].fs, FG[i].f);
            ref[j].sv += FG[i].v;
            ref[j].sw += FG[i].w;
        }
        snprintf(q, sizeof q,
                 "{\"aggregates\":[%s"
                 "{\"fn\":\"sum\",\"column\":\"f\",\"as\":\"sf\"},{\"fn\":\"avg\",\"column\":\"f\",\"as\":\"af\"}"
                 "%s],\"group_by\":[\"%s\"],\"format\":\"columns\"}",
                 ints == 2 ? "" : "{\"fn\":\"count\"},{\"fn\":\"count\",\"column\":\"f\",\"as\":\"nf\"},",
                 ints == 1 ? ",{\"fn\":\"sum\",\"column\":\"v\",\"as\":\"sv\"},{\"fn\":\"sum\",\"column\":\"w\",\"as\":\"sw\"}" : "",
                 gn[gc]);
        OK(cairn_table_query_json(t, q, &res));
        rows = (size_t)res_count(res);
        EXPECT(rows == nref, "%s: %zu groups, want %zu", gn[gc], rows, nref);
        for (i = 0; i < rows; i++) {
            int64_t key;
            arr_get(col_array(res, gn[gc]), i, v, sizeof v);
            key = strtoll(v, NULL, 10);
            for (j = 0; j < nref && ref[j].key != key; j++) {}
            EXPECT(j < nref, "%s: group %s not in the reference", gn[gc], v);
            if (ints != 2) {
                arr_get(col_array(res, "count(*)"), i, v, sizeof v);
                EXPECT(strtoull(v, NULL, 10) == ref[j].n, "%s: count %s", gn[gc], v);
                arr_get(col_array(res, "nf"), i, v, sizeof v);
                EXPECT(strtoull(v, NULL, 10) == ref[j].n, "%s: nf %s", gn[gc], v);
            }
            arr_get(col_array(res, "sf"), i, v, sizeof v);
            EXPECT(strtod(v, NULL) == fs_val(&ref[j].fs), "%s: sf %s want %.17g", gn[gc], v, fs_val(&ref[j].fs));
            arr_get(col_array(res, "af"), i, v, sizeof v);
            EXPECT(strtod(v, NULL) == fs_val(&ref[j].fs) / (double)ref[j].n, "%s: af %s", gn[gc], v);
            if (ints != 1) continue;
            arr_get(col_array(res, "sv"), i, v, sizeof v);
            EXPECT(strtoll(v, NULL, 10) == ref[j].sv, "%s: sv %s want %lld", gn[gc], v, (long long)ref[j].sv);
            arr_get(col_array(res, "sw"), i, v, sizeof v);
            EXPECT(strtoull(v, NULL, 10) == ref[j].sw, "%s: sw %s", gn[gc], v);
        }
        cairn_free(res);
        free(ref);
    }
}

/* without a group: the integer sums from the segments (FOR: n x min + the codes) */
static void fused_sums(cairn_table *t) {
    static const char *cn[7] = {"g1", "g2", "g3", "g4", "g5", "v", "w"};
    char q[256], *res = NULL, v[64];
    int c;
    for (c = 0; c < 7; c++) {
        int64_t want = 0;
        size_t i;
        for (i = 0; i < FG_N; i++)
            if (FG[i].live) want += c < 5 ? FG[i].g[c] : c == 5 ? FG[i].v : (int64_t)FG[i].w;
        snprintf(q, sizeof q, "{\"aggregates\":[{\"fn\":\"sum\",\"column\":\"%s\",\"as\":\"x\"}],\"format\":\"columns\"}", cn[c]);
        OK(cairn_table_query_json(t, q, &res));
        arr_get(col_array(res, "x"), 0, v, sizeof v);
        EXPECT(strtoll(v, NULL, 10) == want, "sum(%s) %s want %lld", cn[c], v, (long long)want);
        cairn_free(res);
    }
}

START_TEST(group_by_fused) {
    cairn_table *t = topen("fg", "g1 i8, g2 i32, g3 u16, g4 i64, g5 i16, f f64, v i64, w u32", 777);
    size_t i;
    char buf[512];
    FG = (struct fgrow *)calloc(FG_N, sizeof *FG);
    rng = 4242;
    fprintf(stderr, "group_by_fused: seed 4242\n");
    for (i = 0; i < FG_N; i++) {
        struct fgrow *r = &FG[i];
        uint64_t id;
        r->g[0] = (int64_t)(rnd() % 7) - 3;
        r->g[1] = (i / 777) % 3 == 1 ? (int64_t)(rnd() % 5000) - 2500 : (int64_t)(rnd() % 5) - 100000;
        r->g[2] = 60000 + (int64_t)(rnd() % 9);
        r->g[3] = 1000000000000ll + (int64_t)(rnd() % 4) * ((i / 777) % 2 ? 1 : 1000);
        r->g[4] = (int64_t)(rnd() % 200) - 100; /* more codes than the local arrays hold */
        r->f = (i / 777) % 2 ? (double)(rnd() % 50) / 8.0 - 3.0 : ((double)(rnd() >> 11) / 9007199254740992.0) * 1e3 - 300.0;
        r->v = (int64_t)(rnd() % 2000001) - 1000000;
        r->w = (uint32_t)rnd();
        r->live = 1;
        snprintf(buf, sizeof buf, "{\"g1\":%lld,\"g2\":%lld,\"g3\":%lld,\"g4\":%lld,\"g5\":%lld,\"f\":%.17g,\"v\":%lld,\"w\":%u}",
                 (long long)r->g[0], (long long)r->g[1], (long long)r->g[2], (long long)r->g[3], (long long)r->g[4], r->f, (long long)r->v,
                 (unsigned)r->w);
        OK(cairn_table_insert_json(t, buf, &id));
        ck_assert_uint_eq(id, i + 1);
        if (i == FG_N - 200) OK(cairn_table_sync(t)); /* the last rows stay in the tail */
    }
    for (i = 0; i < FG_N; i += 97) { /* some row groups get deletes */
        if ((i / 777) % 2) continue;
        OK(cairn_table_delete(t, i + 1));
        FG[i].live = 0;
    }
    fused_check(t);
    fused_sums(t);
    cairn_table_close(t);
    t = topen("fg", NULL, 777); /* from disk: segments mapped and verified */
    fused_check(t);
    fused_sums(t);
    OK(cairn_table_compact(t));
    fused_check(t);
    fused_sums(t);
    cairn_table_close(t);
    free(FG);
    FG = NULL;
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("query_agg");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, mk_tmp, rm_tmp);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, seg_agg_primitives);
    tcase_add_test(tc, aggregates_random);
    tcase_add_test(tc, sum_overflow);
    tcase_add_test(tc, type_errors_and_empty);
    tcase_add_test(tc, group_by_multi);
    tcase_add_test(tc, group_by_fused);
    tcase_add_test(tc, joins);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ct_run(suite()); }
