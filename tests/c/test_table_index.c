/* test_table_index.c - Check tests of the table's hash and range indexes (core/src/table/index.c):
 * create / drop / indexes and their errors, exact numeric comparison of values and bounds, the
 * definitions across reopen and in read-only handles, unique constraints beside declared indexes,
 * bulk loads, and a randomized model test: inserts, updates, deletes, rollbacks, compact,
 * checkpoints and reopens, where every answer of the indexed table must equal both the model's
 * and the answer of a twin table without indexes (which scans). */
#include "cairn.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void mk_tmp(void) { ct_tmp_create("tindex"); }
static void rm_tmp(void) { ct_tmp_remove(); }

#define OK(x)                                                                                                  \
    do {                                                                                                       \
        int rc_ = (x);                                                                                         \
        ck_assert_msg(rc_ == 0, "%s: %s %s", #x, cairn_errname(rc_), cairn_errmsg());                          \
    } while (0)
#define ERR(code, x)                                                                                           \
    do {                                                                                                       \
        int rc_ = (x);                                                                                         \
        ck_assert_msg(rc_ == (code), "%s: want %s, got %s %s", #x, cairn_errname(code), cairn_errname(rc_),     \
                      cairn_errmsg());                                                                         \
    } while (0)

static cairn_table *topen(const char *name, const char *schema, uint32_t ckpt) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    o.schema = schema;
    o.checkpoint_rows = ckpt;
    OK(cairn_table_open(&t, ct_path(name), &o));
    return t;
}

/* the answer of a call returning a JSON string, compared and freed */
#define EQ_JSON(call, want)                                                                                    \
    do {                                                                                                       \
        char *out_ = NULL;                                                                                     \
        OK(call);                                                                                              \
        ck_assert_msg(strcmp(out_, (want)) == 0, "%s: got %s, want %s", #call, out_, (want));                  \
        cairn_free(out_);                                                                                      \
    } while (0)

START_TEST(create_drop_list) {
    cairn_table *t = topen("t", "id i64 primary key, n i32, s string unique, f f64", 0);
    char *out = NULL;
    EQ_JSON(cairn_table_indexes(t, &out_), "[{\"column\": \"id\", \"kind\": \"hash\", \"unique\": true}, "
                                           "{\"column\": \"s\", \"kind\": \"hash\", \"unique\": true}]");
    OK(cairn_table_create_index(t, "n", CAIRN_INDEX_HASH));
    OK(cairn_table_create_index(t, "n", CAIRN_INDEX_RANGE));
    OK(cairn_table_create_index(t, "id", CAIRN_INDEX_RANGE));
    ERR(CAIRN_EXISTS, cairn_table_create_index(t, "n", CAIRN_INDEX_HASH));
    ERR(CAIRN_EXISTS, cairn_table_create_index(t, "id", CAIRN_INDEX_HASH)); /* the primary key's */
    ERR(CAIRN_SCHEMA, cairn_table_create_index(t, "nope", CAIRN_INDEX_HASH));
    ERR(CAIRN_INVALID, cairn_table_create_index(t, "n", 3));
    ERR(CAIRN_INVALID, cairn_table_create_index(t, NULL, CAIRN_INDEX_HASH));
    ERR(CAIRN_NOTFOUND, cairn_table_drop_index(t, "f", CAIRN_INDEX_HASH));
    ERR(CAIRN_INVALID, cairn_table_drop_index(t, "s", CAIRN_INDEX_HASH));
    ERR(CAIRN_SCHEMA, cairn_table_drop_index(t, "zz", CAIRN_INDEX_RANGE));
    OK(cairn_table_begin(t));
    ERR(CAIRN_TXN, cairn_table_create_index(t, "f", CAIRN_INDEX_RANGE));
    ERR(CAIRN_TXN, cairn_table_drop_index(t, "n", CAIRN_INDEX_RANGE));
    OK(cairn_table_rollback(t));
    EQ_JSON(cairn_table_indexes(t, &out_),
            "[{\"column\": \"id\", \"kind\": \"hash\", \"unique\": true}, {\"column\": \"id\", \"kind\": \"range\"}, "
            "{\"column\": \"n\", \"kind\": \"hash\"}, {\"column\": \"n\", \"kind\": \"range\"}, "
            "{\"column\": \"s\", \"kind\": \"hash\", \"unique\": true}]");
    OK(cairn_table_drop_index(t, "n", CAIRN_INDEX_HASH));
    ERR(CAIRN_NOTFOUND, cairn_table_drop_index(t, "n", CAIRN_INDEX_HASH));
    /* definitions survive reopen, and a read-only handle sees them */
    cairn_table_close(t);
    t = topen("t", NULL, 0);
    EQ_JSON(cairn_table_indexes(t, &out_),
            "[{\"column\": \"id\", \"kind\": \"hash\", \"unique\": true}, {\"column\": \"id\", \"kind\": \"range\"}, "
            "{\"column\": \"n\", \"kind\": \"range\"}, {\"column\": \"s\", \"kind\": \"hash\", \"unique\": true}]");
    OK(cairn_table_insert_json(t, "{\"id\": 1, \"n\": 5, \"s\": \"a\"}", NULL));
    {
        cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
        cairn_table *r = NULL;
        o.read_only = 1;
        o.create = 0;
        OK(cairn_table_open(&r, ct_path("t"), &o));
        EQ_JSON(cairn_table_indexes(r, &out_),
                "[{\"column\": \"id\", \"kind\": \"hash\", \"unique\": true}, {\"column\": \"id\", \"kind\": \"range\"}, "
                "{\"column\": \"n\", \"kind\": \"range\"}, {\"column\": \"s\", \"kind\": \"hash\", \"unique\": true}]");
        ERR(CAIRN_READONLY, cairn_table_create_index(r, "f", CAIRN_INDEX_HASH));
        ERR(CAIRN_READONLY, cairn_table_drop_index(r, "n", CAIRN_INDEX_RANGE));
        EQ_JSON(cairn_table_range_find_json(r, "n", "5", "5", 0, &out_), "[1]");
        cairn_table_close(r);
    }
    OK(cairn_table_check(ct_path("t")));
    (void)out;
    cairn_table_close(t);
    OK(cairn_table_check(ct_path("t")));
}
END_TEST

/* values and bounds compare by exact numeric value, whatever their JSON form */
START_TEST(exact_values) {
    int pass;
    for (pass = 0; pass < 2; pass++) {
        cairn_table *t = topen(pass ? "b" : "a", "n i32, b i8, u u64, f f64, g f32, s string, x bytes, ok bool", 0);
        char *out = NULL;
        int i;
        if (pass) {
            OK(cairn_table_create_index(t, "n", CAIRN_INDEX_RANGE));
            OK(cairn_table_create_index(t, "b", CAIRN_INDEX_HASH));
            OK(cairn_table_create_index(t, "u", CAIRN_INDEX_RANGE));
            OK(cairn_table_create_index(t, "f", CAIRN_INDEX_RANGE));
            OK(cairn_table_create_index(t, "f", CAIRN_INDEX_HASH));
            OK(cairn_table_create_index(t, "g", CAIRN_INDEX_HASH));
            OK(cairn_table_create_index(t, "s", CAIRN_INDEX_RANGE));
            OK(cairn_table_create_index(t, "x", CAIRN_INDEX_HASH));
            OK(cairn_table_create_index(t, "ok", CAIRN_INDEX_RANGE));
        }
        for (i = 0; i < 5; i++) {
            char row[256];
            snprintf(row, sizeof row,
                     "{\"n\": %d, \"b\": %d, \"u\": %s, \"f\": %s, \"g\": %s, \"s\": \"%s\", \"x\": {\"$bytes\": \"%s\"}, \"ok\": %s}",
                     i, i - 2, i == 4 ? "18446744073709551615" : i == 3 ? "9007199254740993" : "7",
                     i == 0 ? "{\"$f64\": \"nan\"}" : i == 1 ? "-0.0" : i == 2 ? "9007199254740992" : "0.25",
                     i == 0 ? "0.5" : "0.1", i == 0 ? "" : i == 1 ? "a" : i == 2 ? "ab" : "b", i % 2 ? "00ff" : "", i % 2 ? "true" : "false");
            OK(cairn_table_insert_json(t, row, NULL));
        }
        OK(cairn_table_insert_json(t, "{}", NULL)); /* nulls: never found */
        /* integers against non-integral or out-of-range numbers */
        EQ_JSON(cairn_table_range_find_json(t, "n", "1.5", "3", 0, &out_), "[3,4]");
        EQ_JSON(cairn_table_range_find_json(t, "n", "1.5", "3", CAIRN_RANGE_HI_OPEN, &out_), "[3]");
        EQ_JSON(cairn_table_range_find_json(t, "n", "1", "3", CAIRN_RANGE_LO_OPEN | CAIRN_RANGE_HI_OPEN, &out_), "[3]");
        EQ_JSON(cairn_table_range_find_json(t, "n", "-1e300", "1e300", 0, &out_), "[1,2,3,4,5]");
        EQ_JSON(cairn_table_range_find_json(t, "n", NULL, "null", 0, &out_), "[1,2,3,4,5]");
        EQ_JSON(cairn_table_range_find_json(t, "n", "99999999999999999999", NULL, 0, &out_), "[]");
        EQ_JSON(cairn_table_range_find_json(t, "n", "3.5", "3.7", 0, &out_), "[]");
        EQ_JSON(cairn_table_range_find_json(t, "n", "2", "2", CAIRN_RANGE_LO_OPEN, &out_), "[]");
        EQ_JSON(cairn_table_lookup_json(t, "n", "2.0", &out_), "[3]");
        EQ_JSON(cairn_table_lookup_json(t, "n", "1.5", &out_), "[]");
        EQ_JSON(cairn_table_lookup_json(t, "n", "null", &out_), "[]");
        EQ_JSON(cairn_table_lookup_json(t, "b", "-2", &out_), "[1]");
        EQ_JSON(cairn_table_lookup_json(t, "b", "1000", &out_), "[]");
        EQ_JSON(cairn_table_lookup_json(t, "b", "-2e0", &out_), "[1]");
        /* u64 beyond i64 and f64's exactness */
        EQ_JSON(cairn_table_range_find_json(t, "u", "-5", "7", 0, &out_), "[1,2,3]");
        EQ_JSON(cairn_table_range_find_json(t, "u", "9007199254740992", NULL, 0, &out_), "[4,5]");
        EQ_JSON(cairn_table_range_find_json(t, "u", "9007199254740992.0", "9.3e18", 0, &out_), "[4]");
        EQ_JSON(cairn_table_lookup_json(t, "u", "18446744073709551615", &out_), "[5]");
        EQ_JSON(cairn_table_lookup_json(t, "f", "9007199254740993", &out_), "[]");
        EQ_JSON(cairn_table_lookup_json(t, "f", "9007199254740992", &out_), "[3]");
        EQ_JSON(cairn_table_range_find_json(t, "f", "9007199254740991", "9007199254740993", 0, &out_), "[3]");
        EQ_JSON(cairn_table_range_find_json(t, "f", "9007199254740992", NULL, CAIRN_RANGE_LO_OPEN, &out_), "[1]");
        EQ_JSON(cairn_table_lookup_json(t, "f", "0", &out_), "[2]"); /* -0 == 0 */
        EQ_JSON(cairn_table_lookup_json(t, "f", "{\"$f64\": \"nan\"}", &out_), "[1]");
        EQ_JSON(cairn_table_range_find_json(t, "f", "0", "{\"$f64\": \"inf\"}", 0, &out_), "[2,3,4,5]");
        EQ_JSON(cairn_table_range_find_json(t, "f", "0", "{\"$f64\": \"inf\"}", CAIRN_RANGE_LO_OPEN, &out_), "[3,4,5]");
        /* f32 values are what the column holds: 0.1 is not 0.1f, 0.5 is */
        EQ_JSON(cairn_table_lookup_json(t, "g", "0.5", &out_), "[1]");
        EQ_JSON(cairn_table_lookup_json(t, "g", "0.1", &out_), "[]");
        EQ_JSON(cairn_table_range_find_json(t, "g", "0.09", "0.11", 0, &out_), "[2,3,4,5]");
        /* strings and bytes bytewise; bools */
        EQ_JSON(cairn_table_range_find_json(t, "s", "\"a\"", "\"b\"", 0, &out_), "[2,3,4,5]");
        EQ_JSON(cairn_table_range_find_json(t, "s", "\"a\"", "\"b\"", CAIRN_RANGE_LO_OPEN | CAIRN_RANGE_HI_OPEN, &out_), "[3]");
        EQ_JSON(cairn_table_range_find_json(t, "s", "\"\"", "\"a\"", CAIRN_RANGE_HI_OPEN, &out_), "[1]");
        EQ_JSON(cairn_table_lookup_json(t, "s", "\"\"", &out_), "[1]");
        EQ_JSON(cairn_table_lookup_json(t, "x", "{\"$bytes\": \"00ff\"}", &out_), "[2,4]");
        EQ_JSON(cairn_table_lookup_json(t, "x", "{\"$bytes\": \"\"}", &out_), "[1,3,5]");
        EQ_JSON(cairn_table_range_find_json(t, "ok", "false", "true", CAIRN_RANGE_LO_OPEN, &out_), "[2,4]");
        EQ_JSON(cairn_table_range_find_json(t, "ok", "true", NULL, CAIRN_RANGE_LO_OPEN, &out_), "[]");
        EQ_JSON(cairn_table_find_json(t, "{\"ok\": true, \"n\": 3}", &out_), "[4]");
        EQ_JSON(cairn_table_find_json(t, "{\"ok\": true, \"s\": \"b\", \"f\": 0.25}", &out_), "[4]");
        EQ_JSON(cairn_table_find_json(t, "{}", &out_), "[1,2,3,4,5,6]");
        EQ_JSON(cairn_table_find_json(t, "{\"n\": 1, \"n\": 2}", &out_), "[]");
        /* errors */
        ERR(CAIRN_TYPE, cairn_table_lookup_json(t, "n", "\"x\"", &out));
        ERR(CAIRN_TYPE, cairn_table_lookup_json(t, "s", "3", &out));
        ERR(CAIRN_TYPE, cairn_table_range_find_json(t, "ok", "1", NULL, 0, &out));
        ERR(CAIRN_TYPE, cairn_table_find_json(t, "{\"n\": true}", &out));
        ERR(CAIRN_SCHEMA, cairn_table_lookup_json(t, "zz", "1", &out));
        ERR(CAIRN_SCHEMA, cairn_table_find_json(t, "{\"zz\": 1}", &out));
        ERR(CAIRN_INVALID, cairn_table_find_json(t, "[1]", &out));
        ERR(CAIRN_INVALID, cairn_table_find_json(t, "{\"n\": 1", &out));
        ERR(CAIRN_INVALID, cairn_table_lookup_json(t, "n", "1 2", &out));
        ERR(CAIRN_INVALID, cairn_table_range_find_json(t, "n", "1", "2", 4, &out));
        cairn_table_close(t);
    }
}
END_TEST

START_TEST(unique_and_loads) {
    cairn_table *t = topen("t", "id i64 primary key, n i32, s string", 0);
    char *out = NULL;
    OK(cairn_table_create_index(t, "n", CAIRN_INDEX_HASH));
    OK(cairn_table_create_index(t, "s", CAIRN_INDEX_RANGE));
    OK(cairn_table_insert_json(t, "{\"id\": 1, \"n\": 1, \"s\": \"x\"}", NULL));
    ERR(CAIRN_CONSTRAINT, cairn_table_insert_json(t, "{\"id\": 1, \"n\": 2}", NULL));
    ERR(CAIRN_CONSTRAINT, cairn_table_insert_many_json(t, "[{\"id\": 2, \"n\": 2}, {\"id\": 2, \"n\": 3}]", NULL));
    EQ_JSON(cairn_table_lookup_json(t, "n", "2", &out_), "[]");
    EQ_JSON(cairn_table_lookup_json(t, "id", "1", &out_), "[1]");
    OK(cairn_table_load_json(t, "{\"id\": [10, 11, 12], \"n\": [1, 1, 2], \"s\": [\"y\", \"x\", null]}", NULL));
    /* the failed writes handed out no ids: the load's rows are 2, 3, 4 */
    EQ_JSON(cairn_table_lookup_json(t, "n", "1", &out_), "[1,2,3]");
    EQ_JSON(cairn_table_range_find_json(t, "s", "\"x\"", NULL, 0, &out_), "[1,2,3]");
    ERR(CAIRN_CONSTRAINT, cairn_table_load_json(t, "{\"id\": [20, 10], \"n\": [7, 7]}", NULL));
    EQ_JSON(cairn_table_lookup_json(t, "n", "7", &out_), "[]");
    OK(cairn_table_upsert_json(t, "{\"id\": 10, \"n\": 7}", NULL));
    EQ_JSON(cairn_table_lookup_json(t, "n", "7", &out_), "[2]");
    EQ_JSON(cairn_table_lookup_json(t, "n", "1", &out_), "[1,3]");
    (void)out;
    cairn_table_close(t);
    /* batches against unique columns: nulls many times, duplicates inside the batch or against
     * the table refused with nothing left behind (the batch's index entries taken back) */
    {
        cairn_table *v = topen("v", "id i64 primary key, tag string unique null", 0);
        static int64_t ids[3000];
        const void *data[2];
        uint64_t cnt = 0;
        int i;
        OK(cairn_table_load_json(v, "{\"id\": [1, 2, 3, 4], \"tag\": [\"a\", null, null, \"b\"]}", NULL));
        ERR(CAIRN_CONSTRAINT, cairn_table_load_json(v, "{\"id\": [7, 8], \"tag\": [\"c\", \"c\"]}", NULL));
        EQ_JSON(cairn_table_lookup_json(v, "tag", "\"c\"", &out_), "[]");
        EQ_JSON(cairn_table_lookup_json(v, "id", "7", &out_), "[]");
        ERR(CAIRN_CONSTRAINT, cairn_table_load_json(v, "{\"id\": [1000, 3], \"tag\": [\"x\", \"y\"]}", NULL));
        OK(cairn_table_insert_json(v, "{\"id\": 1000, \"tag\": \"x\"}", NULL));
        OK(cairn_table_insert_json(v, "{\"id\": 3000, \"tag\": \"y\"}", NULL));
        for (i = 0; i < 3000; i++) ids[i] = 10000 + i;
        ids[2999] = 10005; /* the last row repeats one of the batch */
        data[0] = ids;
        data[1] = NULL;
        ERR(CAIRN_CONSTRAINT, cairn_table_load_columns(v, 3000, data, NULL, NULL, NULL));
        ids[2999] = 1000; /* ... or one of the table */
        ERR(CAIRN_CONSTRAINT, cairn_table_load_columns(v, 3000, data, NULL, NULL, NULL));
        OK(cairn_table_count(v, &cnt));
        ck_assert_uint_eq(cnt, 6);
        EQ_JSON(cairn_table_lookup_json(v, "id", "10005", &out_), "[]");
        ids[2999] = 20000;
        OK(cairn_table_load_columns(v, 3000, data, NULL, NULL, NULL));
        EQ_JSON(cairn_table_range_find_json(v, "id", "12998", "20000", 0, &out_), "[3005,3006]");
        EQ_JSON(cairn_table_lookup_json(v, "id", "20000", &out_), "[3006]");
        ERR(CAIRN_CONSTRAINT, cairn_table_insert_json(v, "{\"id\": 10005}", NULL));
        cairn_table_close(v);
        OK(cairn_table_check(ct_path("v")));
        v = topen("v", NULL, 0);
        ERR(CAIRN_CONSTRAINT, cairn_table_insert_json(v, "{\"id\": 12000}", NULL));
        cairn_table_close(v);
    }
    /* a bulk load past the tail (straight into segments) keeps a built index in step */
    {
        cairn_table *u = topen("u", "a i64, b i32", 0);
        static int64_t a[5000];
        static int32_t b[5000];
        const void *data[2];
        int i;
        for (i = 0; i < 5000; i++) {
            a[i] = i;
            b[i] = i % 7;
        }
        data[0] = a;
        data[1] = b;
        OK(cairn_table_create_index(u, "b", CAIRN_INDEX_HASH));
        OK(cairn_table_create_index(u, "a", CAIRN_INDEX_RANGE));
        EQ_JSON(cairn_table_lookup_json(u, "b", "3", &out_), "[]"); /* built now, empty */
        OK(cairn_table_load_columns(u, 5000, data, NULL, NULL, NULL));
        EQ_JSON(cairn_table_range_find_json(u, "a", "4997", NULL, 0, &out_), "[4998,4999,5000]");
        {
            char *o = NULL;
            OK(cairn_table_lookup_json(u, "b", "6", &o));
            ck_assert(strncmp(o, "[7,14,21,", 9) == 0);
            cairn_free(o);
        }
        cairn_table_close(u);
    }
}
END_TEST

/* ---- the model test ---- */

#define MAXR 4096
typedef struct mrow {
    int live;
    int a_null, s_null, f_null;
    int a;
    double f;
    int si;
    int b;
} mrow;

static const char *SV[] = {"", "a", "ab", "b", "ba", "zz"};
static const double FV[] = {-1.5, 0, 0.5, 2, 1e10};

static void row_json(const mrow *r, int64_t k, char *buf, size_t n) {
    char a[32], f[32], s[16];
    if (r->a_null) snprintf(a, sizeof a, "null");
    else snprintf(a, sizeof a, "%d", r->a);
    if (r->f_null) snprintf(f, sizeof f, "null");
    else snprintf(f, sizeof f, "%.17g", r->f);
    if (r->s_null) snprintf(s, sizeof s, "null");
    else snprintf(s, sizeof s, "\"%s\"", SV[r->si]);
    snprintf(buf, n, "{\"k\": %lld, \"a\": %s, \"f\": %s, \"s\": %s, \"b\": %s}", (long long)k, a, f, s, r->b ? "true" : "false");
}

static void rand_row(mrow *r, unsigned *seed) {
    r->live = 1;
    r->a_null = rand_r(seed) % 8 == 0;
    r->a = (int)(rand_r(seed) % 11) - 5;
    r->f_null = rand_r(seed) % 8 == 0;
    r->f = FV[rand_r(seed) % 5];
    r->s_null = rand_r(seed) % 8 == 0;
    r->si = (int)(rand_r(seed) % 6);
    r->b = rand_r(seed) % 2;
}

typedef struct mq {
    int kind; /* 0 lookup a, 1 range a, 2 range f, 3 lookup s, 4 range s, 5 find a+b, 6 lookup k */
    double lo, hi;
    int flags, si, sj, a, b;
    int has_lo, has_hi;
} mq;

static int m_match(const mq *q, const mrow *r, int64_t k) {
    if (!r->live) return 0;
    switch (q->kind) {
    case 0: return !r->a_null && r->a == q->a;
    case 1: case 2: {
        double v = q->kind == 1 ? r->a : r->f;
        if (q->kind == 1 ? r->a_null : r->f_null) return 0;
        if (q->has_lo && (v < q->lo || (v == q->lo && (q->flags & CAIRN_RANGE_LO_OPEN)))) return 0;
        if (q->has_hi && (v > q->hi || (v == q->hi && (q->flags & CAIRN_RANGE_HI_OPEN)))) return 0;
        return 1;
    }
    case 3: return !r->s_null && r->si == q->si;
    case 4: {
        int c1, c2;
        if (r->s_null) return 0;
        c1 = strcmp(SV[r->si], SV[q->si]);
        c2 = strcmp(SV[r->si], SV[q->sj]);
        if (c1 < 0 || (c1 == 0 && (q->flags & CAIRN_RANGE_LO_OPEN))) return 0;
        if (c2 > 0 || (c2 == 0 && (q->flags & CAIRN_RANGE_HI_OPEN))) return 0;
        return 1;
    }
    case 5: return !r->a_null && r->a == q->a && r->b == q->b;
    default: return k == q->a;
    }
}

static char *ask(cairn_table *t, const mq *q) {
    char *out = NULL, lo[40], hi[40], c[96];
    int rc;
    snprintf(lo, sizeof lo, "%.17g", q->lo);
    snprintf(hi, sizeof hi, "%.17g", q->hi);
    switch (q->kind) {
    case 0: snprintf(c, sizeof c, "%d", q->a); rc = cairn_table_lookup_json(t, "a", c, &out); break;
    case 1: rc = cairn_table_range_find_json(t, "a", q->has_lo ? lo : NULL, q->has_hi ? hi : "null", q->flags, &out); break;
    case 2: rc = cairn_table_range_find_json(t, "f", q->has_lo ? lo : "null", q->has_hi ? hi : NULL, q->flags, &out); break;
    case 3: snprintf(c, sizeof c, "\"%s\"", SV[q->si]); rc = cairn_table_lookup_json(t, "s", c, &out); break;
    case 4: {
        char l2[16], h2[16];
        snprintf(l2, sizeof l2, "\"%s\"", SV[q->si]);
        snprintf(h2, sizeof h2, "\"%s\"", SV[q->sj]);
        rc = cairn_table_range_find_json(t, "s", l2, h2, q->flags, &out);
        break;
    }
    case 5: snprintf(c, sizeof c, "{\"b\": %s, \"a\": %d}", q->b ? "true" : "false", q->a); rc = cairn_table_find_json(t, c, &out); break;
    default: snprintf(c, sizeof c, "%d", q->a); rc = cairn_table_lookup_json(t, "k", c, &out); break;
    }
    ck_assert_msg(rc == 0, "query kind %d: %s %s", q->kind, cairn_errname(rc), cairn_errmsg());
    return out;
}

static void check_all(cairn_table *ix, cairn_table *plain, const mrow *m, const int64_t *keys, size_t nid, unsigned *seed) {
    int n;
    for (n = 0; n < 12; n++) {
        mq q;
        char *want = (char *)malloc(MAXR * 8 + 16), *a, *b;
        size_t id, w = 0;
        memset(&q, 0, sizeof q);
        q.kind = (int)(rand_r(seed) % 7);
        q.a = (int)(rand_r(seed) % 13) - 6;
        q.b = rand_r(seed) % 2;
        q.si = (int)(rand_r(seed) % 6);
        q.sj = (int)(rand_r(seed) % 6);
        q.flags = (int)(rand_r(seed) % 4);
        q.has_lo = rand_r(seed) % 5 != 0;
        q.has_hi = rand_r(seed) % 5 != 0;
        if (q.kind == 1) {
            q.lo = ((int)(rand_r(seed) % 25) - 12) / 2.0;
            q.hi = q.lo + (rand_r(seed) % 12) / 2.0;
        } else {
            q.lo = FV[rand_r(seed) % 5];
            q.hi = FV[rand_r(seed) % 5];
        }
        if (q.kind == 6) q.a = (int)(rand_r(seed) % (nid + 2));
        w += (size_t)sprintf(want + w, "[");
        for (id = 1; id <= nid; id++)
            if (m_match(&q, &m[id], keys[id])) w += (size_t)sprintf(want + w, w > 1 ? ",%zu" : "%zu", id);
        sprintf(want + w, "]");
        a = ask(ix, &q);
        b = ask(plain, &q);
        ck_assert_msg(strcmp(a, want) == 0, "indexed, query kind %d (a %d, lo %g hi %g flags %d si %d sj %d): got %s want %s", q.kind,
                      q.a, q.lo, q.hi, q.flags, q.si, q.sj, a, want);
        ck_assert_msg(strcmp(b, want) == 0, "scan, query kind %d: got %s want %s", q.kind, b, want);
        cairn_free(a);
        cairn_free(b);
        free(want);
    }
}

START_TEST(model) {
    static mrow m[MAXR], saved[MAXR];
    static int64_t keys[MAXR];
    const char *schema = "k i64 primary key, a i32 null, f f64 null, s string null, b bool";
    cairn_table *t[2];
    unsigned seed = 12345u + (unsigned)_i * 7919u;
    size_t nid = 0, op, i;
    int in_txn = 0;
    int64_t nextk = 1;
    memset(m, 0, sizeof m);
    t[0] = topen("ix", schema, 64);
    t[1] = topen("plain", schema, 64);
    OK(cairn_table_create_index(t[0], "a", CAIRN_INDEX_HASH));
    OK(cairn_table_create_index(t[0], "a", CAIRN_INDEX_RANGE));
    OK(cairn_table_create_index(t[0], "f", CAIRN_INDEX_RANGE));
    OK(cairn_table_create_index(t[0], "s", CAIRN_INDEX_HASH));
    OK(cairn_table_create_index(t[0], "s", CAIRN_INDEX_RANGE));
    OK(cairn_table_create_index(t[0], "b", CAIRN_INDEX_HASH));
    for (op = 0; op < 1500 && nid + 40 < MAXR; op++) {
        unsigned r = (unsigned)rand_r(&seed) % 100;
        char buf[256];
        int k;
        if (r < 40) { /* insert */
            mrow nr;
            uint64_t id[2];
            rand_row(&nr, &seed);
            row_json(&nr, nextk, buf, sizeof buf);
            for (k = 0; k < 2; k++) OK(cairn_table_insert_json(t[k], buf, &id[k]));
            ck_assert_uint_eq(id[0], id[1]);
            ck_assert_uint_eq(id[0], nid + 1);
            nid++;
            m[nid] = nr;
            keys[nid] = nextk++;
        } else if (r < 45) { /* a batch */
            uint64_t first[2];
            size_t cnt = 1 + (size_t)rand_r(&seed) % 30, w = 0, j;
            char *big = (char *)malloc(cnt * 200 + 16);
            big[w++] = '[';
            for (j = 0; j < cnt; j++) {
                mrow nr;
                rand_row(&nr, &seed);
                row_json(&nr, nextk, buf, sizeof buf);
                w += (size_t)sprintf(big + w, "%s%s", j ? "," : "", buf);
                m[nid + 1 + j] = nr;
                keys[nid + 1 + j] = nextk++;
            }
            big[w++] = ']';
            big[w] = 0;
            for (k = 0; k < 2; k++) {
                char *ids = NULL;
                OK(cairn_table_insert_many_json(t[k], big, &ids));
                first[k] = strtoull(ids + 1, NULL, 10);
                cairn_free(ids);
            }
            ck_assert_uint_eq(first[0], nid + 1);
            ck_assert_uint_eq(first[1], nid + 1);
            nid += cnt;
            free(big);
        } else if (r < 65) { /* update some columns of a live row */
            size_t id = nid ? 1 + (size_t)rand_r(&seed) % nid : 0;
            mrow nr;
            if (!id || !m[id].live) continue;
            rand_row(&nr, &seed);
            nr.b = m[id].b;
            row_json(&nr, keys[id], buf, sizeof buf);
            if (rand_r(&seed) % 2) {
                /* only a and s */
                mrow x = m[id];
                x.a = nr.a, x.a_null = nr.a_null, x.si = nr.si, x.s_null = nr.s_null;
                nr = x;
                row_json(&nr, keys[id], buf, sizeof buf);
            }
            for (k = 0; k < 2; k++) OK(cairn_table_update_json(t[k], id, buf));
            m[id] = nr;
        } else if (r < 80) { /* delete */
            size_t id = nid ? 1 + (size_t)rand_r(&seed) % nid : 0;
            if (!id || !m[id].live) continue;
            for (k = 0; k < 2; k++) OK(cairn_table_delete(t[k], id));
            m[id].live = 0;
        } else if (r < 84) { /* upsert by key */
            size_t id = nid ? 1 + (size_t)rand_r(&seed) % nid : 0;
            mrow nr;
            uint64_t got = 0;
            if (!id || !m[id].live) continue;
            rand_row(&nr, &seed);
            row_json(&nr, keys[id], buf, sizeof buf);
            for (k = 0; k < 2; k++) {
                OK(cairn_table_upsert_json(t[k], buf, &got));
                ck_assert_uint_eq(got, id);
            }
            m[id] = nr;
        } else if (r < 89) { /* begin / commit / rollback */
            if (!in_txn) {
                for (k = 0; k < 2; k++) OK(cairn_table_begin(t[k]));
                memcpy(saved, m, sizeof m);
                in_txn = 1;
            } else if (rand_r(&seed) % 2) {
                for (k = 0; k < 2; k++) OK(cairn_table_commit(t[k]));
                in_txn = 0;
            } else {
                for (k = 0; k < 2; k++) OK(cairn_table_rollback(t[k]));
                memcpy(m, saved, sizeof m); /* ids handed out stay used */
                in_txn = 0;
            }
        } else if (r < 91 && !in_txn) {
            for (k = 0; k < 2; k++) OK(cairn_table_compact(t[k]));
        } else if (r < 94 && !in_txn) {
            for (k = 0; k < 2; k++) OK(cairn_table_sync(t[k]));
        } else if (r < 96 && !in_txn) {
            /* reopen: the indexed one maybe without a clean close (only its WAL) */
            cairn_table_close(t[0]);
            cairn_table_close(t[1]);
            t[0] = topen("ix", NULL, 64);
            t[1] = topen("plain", NULL, 64);
        } else {
            /* a unique violation changes nothing */
            size_t id = nid ? 1 + (size_t)rand_r(&seed) % nid : 0;
            mrow nr;
            if (!id || !m[id].live) continue;
            rand_row(&nr, &seed);
            row_json(&nr, keys[id], buf, sizeof buf);
            for (k = 0; k < 2; k++) ERR(CAIRN_CONSTRAINT, cairn_table_insert_json(t[k], buf, NULL));
        }
        if (op % 5 == 0) check_all(t[0], t[1], m, keys, nid, &seed);
    }
    check_all(t[0], t[1], m, keys, nid, &seed);
    if (in_txn)
        for (i = 0; i < 2; i++) OK(cairn_table_commit(t[i]));
    cairn_table_close(t[0]);
    cairn_table_close(t[1]);
    OK(cairn_table_check(ct_path("ix")));
}
END_TEST

int main(void) {
    Suite *s = suite_create("table_index");
    TCase *tc = tcase_create("index");
    tcase_add_checked_fixture(tc, mk_tmp, rm_tmp);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, create_drop_list);
    tcase_add_test(tc, exact_values);
    tcase_add_test(tc, unique_and_loads);
    tcase_add_loop_test(tc, model, 0, 3);
    suite_add_tcase(s, tc);
    return ct_run(s);
}
