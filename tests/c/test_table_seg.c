/* test_table_seg.c - Check tests of the table engine's column segment codec (core/src/table/seg.c):
 * round trips of every type x encoding x nulls x size, edge values, the automatic choice, zone
 * maps, point reads, damaged and truncated segments, bad input; prints encode/decode throughput. */
#include "table/seg.h"
#include "util.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

/* Hot-loop assertions: Check's ck_assert* records its location with a write(2) per call, which
 * dominates loops over millions of values; these call into Check only on failure. */
#define REQUIRE(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)
#define REQ(cond) REQUIRE(cond, "%s", #cond)
#define REQ_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) ck_abort_msg("%s == %s: %lld vs %lld", #a, #b, a_, b_); } while (0)

static uint64_t rng_state = 0x5eed5eedULL;
static uint64_t rnd(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static const int all_types[] = {CAIRN_TYPE_I8,  CAIRN_TYPE_I16, CAIRN_TYPE_I32,   CAIRN_TYPE_I64,
                                CAIRN_TYPE_U8,  CAIRN_TYPE_U16, CAIRN_TYPE_U32,   CAIRN_TYPE_U64,
                                CAIRN_TYPE_F32, CAIRN_TYPE_F64, CAIRN_TYPE_BOOL,  CAIRN_TYPE_FIXED,
                                CAIRN_TYPE_STRING, CAIRN_TYPE_BYTES, CAIRN_TYPE_TIMESTAMP};
#define NTYPES (sizeof all_types / sizeof all_types[0])
static const size_t sizes[] = {1, 7, 8, 9, 2047, 2048, 2049, CAIRN_SEG_MAX_ROWS};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static int is_var(int t) { return t == CAIRN_TYPE_STRING || t == CAIRN_TYPE_BYTES; }
static int is_int(int t) {
    return (t >= CAIRN_TYPE_I8 && t <= CAIRN_TYPE_U64) || t == CAIRN_TYPE_TIMESTAMP;
}
static int applies(int t, int e) {
    switch (e) {
    case CAIRN_SEG_PLAIN: case CAIRN_SEG_CONSTANT: case CAIRN_SEG_RLE: return 1;
    case CAIRN_SEG_DICT: return t != CAIRN_TYPE_BOOL;
    case CAIRN_SEG_FOR: case CAIRN_SEG_DELTA: return is_int(t);
    case CAIRN_SEG_BITPACK: return t == CAIRN_TYPE_BOOL;
    default: return 0;
    }
}

/* ---- building vectors ---------------------------------------------------------------------- */

enum { P_RANDOM, P_CONST, P_SEQ, P_FEW, P_RUNS };

static void set_u(cairn_colvec *v, size_t i, uint64_t x) {
    switch (v->type) {
    case CAIRN_TYPE_I8: ((int8_t *)v->data)[i] = (int8_t)x; break;
    case CAIRN_TYPE_U8: ((uint8_t *)v->data)[i] = (uint8_t)x; break;
    case CAIRN_TYPE_BOOL: ((uint8_t *)v->data)[i] = (uint8_t)(x & 1); break;
    case CAIRN_TYPE_I16: ((int16_t *)v->data)[i] = (int16_t)x; break;
    case CAIRN_TYPE_U16: ((uint16_t *)v->data)[i] = (uint16_t)x; break;
    case CAIRN_TYPE_I32: ((int32_t *)v->data)[i] = (int32_t)x; break;
    case CAIRN_TYPE_U32: ((uint32_t *)v->data)[i] = (uint32_t)x; break;
    case CAIRN_TYPE_F32: { uint32_t u = (uint32_t)x; memcpy((uint8_t *)v->data + 4 * i, &u, 4); break; }
    default: memcpy((uint8_t *)v->data + 8 * i, &x, 8); break;
    }
}

/* A vector of n values of `type` following `pattern`; nulls at every 3rd row and a run of them
 * when `nulls`. Null slots hold garbage on purpose (the codec must not care). */
static cairn_colvec make_vec(int type, size_t n, int pattern, int nulls) {
    cairn_colvec v;
    size_t i;
    uint64_t base = rnd(), few[5];
    memset(&v, 0, sizeof v);
    v.type = type;
    v.n = n;
    v.fixed_len = type == CAIRN_TYPE_FIXED ? 5 : 0;
    for (i = 0; i < 5; i++) few[i] = rnd();
    if (nulls) {
        v.validity = (uint8_t *)calloc((n + 7) / 8, 1);
        for (i = 0; i < n; i++)
            if (i % 3 != 1 && !(i >= 10 && i < 40)) v.validity[i >> 3] |= (uint8_t)(1u << (i & 7));
    }
    if (is_var(type)) {
        size_t cap = n * 24 + 1;
        v.data = malloc(cap);
        v.offsets = (uint64_t *)malloc((n + 1) * sizeof *v.offsets);
        v.offsets[0] = 0;
        for (i = 0; i < n; i++) {
            char s[32];
            uint64_t x = pattern == P_CONST ? base : pattern == P_SEQ ? base + i : pattern == P_FEW ? few[i % 5]
                       : pattern == P_RUNS ? few[(i / 100) % 5] : rnd();
            int l = (x % 7 == 0 && pattern == P_RANDOM) ? 0 : snprintf(s, sizeof s, "v%llu", (unsigned long long)(x % 100000007ULL));
            memcpy((char *)v.data + v.offsets[i], s, (size_t)l);
            v.offsets[i + 1] = v.offsets[i] + (uint64_t)l;
        }
        v.data_len = v.offsets[n];
        return v;
    }
    if (type == CAIRN_TYPE_FIXED) {
        v.data = malloc(n * 5);
        v.data_len = n * 5;
        for (i = 0; i < n; i++) {
            uint64_t x = pattern == P_CONST ? base : pattern == P_SEQ ? base + i : pattern == P_FEW ? few[i % 5]
                       : pattern == P_RUNS ? few[(i / 100) % 5] : rnd();
            memcpy((uint8_t *)v.data + i * 5, &x, 5);
        }
        return v;
    }
    v.data = malloc(n * 8);
    v.data_len = n * cairn_seg__width(type, 0);
    for (i = 0; i < n; i++) {
        uint64_t x;
        switch (pattern) {
        case P_CONST: x = base; break;
        case P_SEQ: x = base + i; break;
        case P_FEW: x = few[i % 5]; break;
        case P_RUNS: x = few[(i / 100) % 5]; break;
        default: x = rnd();
        }
        if (type == CAIRN_TYPE_BOOL && pattern == P_SEQ) x = (i / 3) & 1;
        set_u(&v, i, x);
    }
    return v;
}

static void free_vec(cairn_colvec *v) {
    free(v->data);
    free(v->offsets);
    free(v->validity);
    memset(v, 0, sizeof *v);
}

static int valid_at(const cairn_colvec *v, size_t i) {
    return !v->validity || ((v->validity[i >> 3] >> (i & 7)) & 1);
}

/* Value i of a vector as bytes (numeric: its width). */
static const uint8_t *val_at(const cairn_colvec *v, size_t i, size_t *len) {
    if (is_var(v->type)) {
        *len = (size_t)(v->offsets[i + 1] - v->offsets[i]);
        return (const uint8_t *)v->data + v->offsets[i];
    }
    *len = cairn_seg__width(v->type, v->fixed_len);
    return (const uint8_t *)v->data + i * *len;
}

static void assert_same(const cairn_colvec *a, const cairn_colvec *d, const char *what) {
    size_t i, la, ld;
    static const uint8_t zero[8] = {0};
    REQUIRE(d->n == a->n, "%s: n %zu vs %zu", what, d->n, a->n);
    REQ_EQ(d->type, a->type);
    for (i = 0; i < a->n; i++) {
        const uint8_t *pa = val_at(a, i, &la), *pd = val_at(d, i, &ld);
        int va = valid_at(a, i);
        REQUIRE(valid_at(d, i) == va, "%s: validity of %zu", what, i);
        if (va) {
            REQUIRE(la == ld && (la == 0 || memcmp(pa, pd, la) == 0), "%s: value %zu differs", what, i);
        } else if (is_var(a->type)) {
            REQUIRE(ld == 0, "%s: null %zu not empty", what, i);
        } else {
            size_t k;
            for (k = 0; k < ld; k++) REQUIRE(pd[k] == 0, "%s: null %zu not zero", what, i);
            (void)zero;
        }
    }
    if (is_var(a->type)) REQ_EQ(d->data_len, d->offsets[d->n]);
}

/* The value a point read must give for row i of a. */
static void assert_get(const cairn_seg_buf *b, const cairn_colvec *a, size_t i, const char *what) {
    cairn_value v;
    int rc = cairn_seg__get(b->bytes, b->len, a->type, a->fixed_len, i, &v);
    size_t la;
    const uint8_t *pa = val_at(a, i, &la);
    REQUIRE(rc == 0, "%s: get %zu: %s %s", what, i, cairn_errname(rc), cairn_errmsg());
    REQ_EQ(v.is_null, !valid_at(a, i));
    if (v.is_null) return;
    switch (a->type) {
    case CAIRN_TYPE_I8: REQ_EQ(v.v.i, ((const int8_t *)a->data)[i]); break;
    case CAIRN_TYPE_I16: REQ_EQ(v.v.i, ((const int16_t *)a->data)[i]); break;
    case CAIRN_TYPE_I32: REQ_EQ(v.v.i, ((const int32_t *)a->data)[i]); break;
    case CAIRN_TYPE_I64: case CAIRN_TYPE_TIMESTAMP: REQ_EQ(v.v.i, ((const int64_t *)a->data)[i]); break;
    case CAIRN_TYPE_U8: REQ_EQ(v.v.u, ((const uint8_t *)a->data)[i]); break;
    case CAIRN_TYPE_U16: REQ_EQ(v.v.u, ((const uint16_t *)a->data)[i]); break;
    case CAIRN_TYPE_U32: REQ_EQ(v.v.u, ((const uint32_t *)a->data)[i]); break;
    case CAIRN_TYPE_U64: REQ_EQ(v.v.u, ((const uint64_t *)a->data)[i]); break;
    case CAIRN_TYPE_BOOL: REQ_EQ(v.v.b, ((const uint8_t *)a->data)[i]); break;
    case CAIRN_TYPE_F32: {
        float f = (float)v.v.f, g = ((const float *)a->data)[i];
        /* NaN payloads survive float->double->float on x86 (quiet NaNs); compare bits */
        REQUIRE(memcmp(&f, &g, 4) == 0 || (isnan(f) && isnan(g)), "%s: get f32 %zu", what, i);
        break;
    }
    case CAIRN_TYPE_F64: REQUIRE(memcmp(&v.v.f, pa, 8) == 0, "%s: get f64 %zu", what, i); break;
    default:
        REQUIRE(v.v.s.len == la && (la == 0 || memcmp(v.v.s.bytes, pa, la) == 0), "%s: get %zu", what, i);
        REQUIRE((const uint8_t *)v.v.s.bytes >= b->bytes && (const uint8_t *)v.v.s.bytes + la <= b->bytes + b->len,
                      "%s: get %zu does not point into the segment", what, i);
    }
}

static void assert_zone_eq(const cairn_zone *x, const cairn_zone *y) {
    ck_assert_uint_eq(x->nulls, y->nulls);
    ck_assert_uint_eq(x->count, y->count);
    ck_assert_int_eq(x->has_values, y->has_values);
    ck_assert_int_eq(x->has_nan, y->has_nan);
    ck_assert(memcmp(&x->min, &y->min, 8) == 0 && memcmp(&x->max, &y->max, 8) == 0);
    ck_assert_int_eq(x->min_len, y->min_len);
    ck_assert_int_eq(x->max_len, y->max_len);
    ck_assert(memcmp(x->min_prefix, y->min_prefix, 16) == 0 && memcmp(x->max_prefix, y->max_prefix, 16) == 0);
    ck_assert_int_eq(x->min_exact, y->min_exact);
    ck_assert_int_eq(x->max_exact, y->max_exact);
}

/* Rows [start, start + count) decoded alone equal those rows of a. */
static void assert_range(const cairn_seg_buf *b, const cairn_colvec *a, size_t start, size_t count, const char *what) {
    cairn_colvec d;
    size_t i, la, ld;
    int rc = cairn_seg__decode_range(b->bytes, b->len, a->type, a->fixed_len, start, count, &d);
    REQUIRE(rc == 0, "%s: range %zu+%zu: %s %s", what, start, count, cairn_errname(rc), cairn_errmsg());
    REQ_EQ(d.n, count);
    REQUIRE((d.validity != NULL) == (a->validity != NULL && b->bytes[7] & 1), "%s: range validity", what);
    for (i = 0; i < count; i++) {
        const uint8_t *pa = val_at(a, start + i, &la), *pd = val_at(&d, i, &ld);
        int va = valid_at(a, start + i);
        REQUIRE(valid_at(&d, i) == va, "%s: range %zu+%zu: validity of %zu", what, start, count, i);
        if (va) REQUIRE(la == ld && (la == 0 || memcmp(pa, pd, la) == 0), "%s: range %zu+%zu: value %zu", what, start, count, i);
        else if (is_var(a->type)) REQ(ld == 0);
        else while (ld--) REQ(pd[ld] == 0);
    }
    if (d.validity && (count & 7)) REQ((d.validity[count / 8] >> (count & 7)) == 0);
    if (is_var(a->type)) REQ_EQ(d.data_len, d.offsets[count]);
    cairn_seg__free_vec(&d);
}

/* Encode (forced or not), decode, compare; point-read a sample; header info. Returns the encoding. */
static int roundtrip(const cairn_colvec *a, int force, const char *what) {
    cairn_seg_buf b;
    cairn_colvec d;
    cairn_zone z, zi;
    int rc, enc = 0;
    size_t n = 0, i, step;
    rc = cairn_seg__encode(a, force, &b);
    ck_assert_msg(rc == 0, "%s: encode: %s %s", what, cairn_errname(rc), cairn_errmsg());
    if (force) ck_assert_int_eq(b.encoding, force);
    rc = cairn_seg__decode(b.bytes, b.len, a->type, a->fixed_len, &d);
    ck_assert_msg(rc == 0, "%s: decode: %s %s", what, cairn_errname(rc), cairn_errmsg());
    assert_same(a, &d, what);
    cairn_seg__free_vec(&d);
    step = a->n > 64 ? a->n / 61 + 1 : 1;
    for (i = 0; i < a->n; i += step) assert_get(&b, a, i, what);
    assert_get(&b, a, a->n - 1, what);
    {
        /* windows: whole, last row, unaligned starts, a 2048-vector in the middle */
        size_t w[][2] = {{0, a->n}, {a->n - 1, 1}, {a->n / 3, a->n - a->n / 3}, {a->n / 2, 2048}, {31, 70}, {33, 1}};
        for (i = 0; i < sizeof w / sizeof w[0]; i++) {
            if (w[i][0] >= a->n || w[i][1] == 0) continue;
            if (w[i][1] > a->n - w[i][0]) w[i][1] = a->n - w[i][0];
            assert_range(&b, a, w[i][0], w[i][1], what);
        }
    }
    ck_assert_int_eq(cairn_seg__info(b.bytes, b.len, &enc, &n, &zi), 0);
    ck_assert_int_eq(enc, b.encoding);
    ck_assert_uint_eq(n, a->n);
    cairn_seg__zone(a, &z);
    assert_zone_eq(&z, &zi);
    assert_zone_eq(&z, &b.zone);
    ck_assert_int_eq(cairn_seg__check(b.bytes, b.len, a->type, a->fixed_len), 0);
    enc = b.encoding;
    cairn_seg__free_buf(&b);
    return enc;
}

/* ---- tests ----------------------------------------------------------------------------------- */

START_TEST(roundtrip_every_type_encoding_size) {
    size_t ti, si;
    int e, nulls, cases = 0;
    printf("seg: seed %llu\n", (unsigned long long)rng_state);
    for (ti = 0; ti < NTYPES; ti++) {
        int t = all_types[ti];
        for (si = 0; si < NSIZES; si++) {
            for (nulls = 0; nulls < 2; nulls++) {
                for (e = 0; e <= CAIRN_SEG_BITPACK; e++) {
                    char what[96];
                    int pat = e == CAIRN_SEG_CONSTANT ? P_CONST : e == CAIRN_SEG_RLE ? P_RUNS
                            : e == CAIRN_SEG_DELTA ? P_SEQ : e == CAIRN_SEG_DICT ? P_FEW : P_RANDOM;
                    cairn_colvec v;
                    if (e && !applies(t, e)) continue;
                    v = make_vec(t, sizes[si], pat, nulls);
                    snprintf(what, sizeof what, "type %d n %zu nulls %d enc %d", t, sizes[si], nulls, e);
                    roundtrip(&v, e, what);
                    /* every applicable encoding also round-trips random data (not CONSTANT) */
                    if (e && e != CAIRN_SEG_CONSTANT && pat != P_RANDOM) {
                        free_vec(&v);
                        v = make_vec(t, sizes[si], P_RANDOM, nulls);
                        roundtrip(&v, e, what);
                    }
                    free_vec(&v);
                    cases++;
                }
            }
        }
    }
    printf("seg: %d round-trip cases\n", cases);
}
END_TEST

START_TEST(inapplicable_encodings_unsupported) {
    size_t ti;
    int e;
    for (ti = 0; ti < NTYPES; ti++) {
        int t = all_types[ti];
        cairn_colvec v = make_vec(t, 100, P_RANDOM, 0);
        for (e = CAIRN_SEG_PLAIN; e <= CAIRN_SEG_BITPACK; e++) {
            cairn_seg_buf b;
            int rc = cairn_seg__encode(&v, e, &b);
            if (!applies(t, e) || (e == CAIRN_SEG_CONSTANT)) {
                ck_assert_msg(rc == CAIRN_UNSUPPORTED, "type %d enc %d: %s", t, e, cairn_errname(rc));
                ck_assert_ptr_null(b.bytes);
            } else {
                ck_assert_int_eq(rc, 0);
                cairn_seg__free_buf(&b);
            }
        }
        free_vec(&v);
    }
}
END_TEST

/* i64/u64/timestamp extremes through every integer encoding */
START_TEST(edge_values) {
    static const int64_t si[] = {INT64_MIN, INT64_MAX, 0, -1, 1, INT64_MIN + 1, INT64_MAX - 1, -5, 5};
    static const uint64_t ui[] = {UINT64_MAX, 0, 1, UINT64_MAX - 1, (uint64_t)1 << 63, ((uint64_t)1 << 63) - 1};
    int types[] = {CAIRN_TYPE_I64, CAIRN_TYPE_U64, CAIRN_TYPE_TIMESTAMP, CAIRN_TYPE_I8, CAIRN_TYPE_I16,
                   CAIRN_TYPE_I32, CAIRN_TYPE_U8, CAIRN_TYPE_U16, CAIRN_TYPE_U32};
    size_t t, i, rep;
    int e;
    for (t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (rep = 0; rep < 3; rep++) {
            size_t n = rep == 0 ? 9 : rep == 1 ? 100 : 3000;
            cairn_colvec v = make_vec(types[t], n, P_RANDOM, rep == 1);
            for (i = 0; i < n; i++) {
                uint64_t x = types[t] == CAIRN_TYPE_U64 || types[t] >= CAIRN_TYPE_U8 ? ui[(i * 7 + rep) % 6]
                                                                                    : (uint64_t)si[(i * 5 + rep) % 9];
                if (types[t] == CAIRN_TYPE_TIMESTAMP) x = (uint64_t)si[(i * 5 + rep) % 9];
                set_u(&v, i, x);
            }
            for (e = 0; e <= CAIRN_SEG_DELTA; e++) {
                char what[64];
                if (e == CAIRN_SEG_CONSTANT) continue;
                snprintf(what, sizeof what, "edge type %d n %zu enc %d", types[t], n, e);
                roundtrip(&v, e, what);
            }
            /* zone of the 64-bit columns: the extremes */
            if (types[t] == CAIRN_TYPE_I64 && rep != 1) {
                cairn_zone z;
                cairn_seg__zone(&v, &z);
                ck_assert(z.min.i == INT64_MIN && z.max.i == INT64_MAX);
            }
            if (types[t] == CAIRN_TYPE_U64 && rep != 1) {
                cairn_zone z;
                cairn_seg__zone(&v, &z);
                ck_assert(z.min.u == 0 && z.max.u == UINT64_MAX);
            }
            free_vec(&v);
        }
    }
}
END_TEST

/* FOR and DELTA at every bit width 0..64, ranges crossing zero: the size is exactly the width's */
START_TEST(bit_widths_0_to_64) {
    unsigned w;
    size_t n = 1000, i;
    for (w = 0; w <= 64; w++) {
        int sgn;
        for (sgn = 0; sgn < 2; sgn++) {
            cairn_colvec v = make_vec(sgn ? CAIRN_TYPE_I64 : CAIRN_TYPE_U64, n, P_RANDOM, 0);
            uint64_t mask = w == 64 ? UINT64_MAX : (((uint64_t)1 << w) - 1);
            uint64_t base = sgn ? (uint64_t)(-(int64_t)(mask / 2) - 1) : 0; /* crosses zero */
            cairn_seg_buf b;
            char what[64];
            if (sgn && w == 64) base = (uint64_t)INT64_MIN;
            for (i = 0; i < n; i++) set_u(&v, i, base + (rnd() & mask));
            set_u(&v, 0, base);
            set_u(&v, 1, base + mask); /* the full width is used */
            snprintf(what, sizeof what, "FOR width %u signed %d", w, sgn);
            roundtrip(&v, CAIRN_SEG_FOR, what);
            ck_assert_int_eq(cairn_seg__encode(&v, CAIRN_SEG_FOR, &b), 0);
            ck_assert_uint_eq(b.len, 84 + 9 + (n * w + 7) / 8);
            cairn_seg__free_buf(&b);
            snprintf(what, sizeof what, "DELTA width %u signed %d", w, sgn);
            roundtrip(&v, CAIRN_SEG_DELTA, what);
            free_vec(&v);
        }
    }
}
END_TEST

START_TEST(automatic_choice) {
    size_t n = 100000, i;
    cairn_colvec v;
    /* constant -> CONSTANT, for every type, also with nulls */
    for (i = 0; i < NTYPES; i++) {
        v = make_vec(all_types[i], 5000, P_CONST, (int)(i & 1));
        ck_assert_int_eq(roundtrip(&v, 0, "auto constant"), CAIRN_SEG_CONSTANT);
        free_vec(&v);
    }
    /* sequential ids and timestamps -> DELTA */
    v = make_vec(CAIRN_TYPE_I64, n, P_SEQ, 0);
    for (i = 0; i < n; i++) set_u(&v, i, i + 1);
    ck_assert_int_eq(roundtrip(&v, 0, "auto ids"), CAIRN_SEG_DELTA);
    for (i = 0; i < n; i++) set_u(&v, i, (uint64_t)(1700000000000000LL + (int64_t)i * 1000000));
    ck_assert_int_eq(roundtrip(&v, 0, "auto timestamps"), CAIRN_SEG_DELTA);
    /* descending (negative deltas) too */
    for (i = 0; i < n; i++) set_u(&v, i, (uint64_t)(5000 - (int64_t)i * 3));
    ck_assert_int_eq(roundtrip(&v, 0, "auto descending"), CAIRN_SEG_DELTA);
    free_vec(&v);
    /* 10 distinct strings in 100k rows -> DICT */
    {
        static const char *words[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
                                      "india", "juliett"};
        cairn_colvec s;
        memset(&s, 0, sizeof s);
        s.type = CAIRN_TYPE_STRING;
        s.n = n;
        s.offsets = (uint64_t *)malloc((n + 1) * 8);
        s.data = malloc(n * 8);
        s.offsets[0] = 0;
        for (i = 0; i < n; i++) {
            const char *w = words[rnd() % 10];
            memcpy((char *)s.data + s.offsets[i], w, strlen(w));
            s.offsets[i + 1] = s.offsets[i] + strlen(w);
        }
        s.data_len = s.offsets[n];
        ck_assert_int_eq(roundtrip(&s, 0, "auto 10 strings"), CAIRN_SEG_DICT);
        free_vec(&s);
    }
    /* small random integers in a wide type -> FOR */
    v = make_vec(CAIRN_TYPE_I64, n, P_RANDOM, 0);
    for (i = 0; i < n; i++) set_u(&v, i, (uint64_t)(-1000 + (int64_t)(rnd() % 2000)));
    ck_assert_int_eq(roundtrip(&v, 0, "auto small range"), CAIRN_SEG_FOR);
    /* long runs -> RLE */
    for (i = 0; i < n; i++) set_u(&v, i, (rnd() % 1000000) * 0 + (i / 5000) * 123456789ULL);
    ck_assert_int_eq(roundtrip(&v, 0, "auto runs"), CAIRN_SEG_RLE);
    free_vec(&v);
    /* random bools -> BITPACK; long runs of bools -> RLE */
    v = make_vec(CAIRN_TYPE_BOOL, n, P_RANDOM, 0);
    ck_assert_int_eq(roundtrip(&v, 0, "auto bool"), CAIRN_SEG_BITPACK);
    for (i = 0; i < n; i++) set_u(&v, i, (i / 10000) & 1);
    ck_assert_int_eq(roundtrip(&v, 0, "auto bool runs"), CAIRN_SEG_RLE);
    free_vec(&v);
    /* random doubles -> PLAIN; few doubles -> DICT */
    v = make_vec(CAIRN_TYPE_F64, n, P_RANDOM, 0);
    ck_assert_int_eq(roundtrip(&v, 0, "auto f64"), CAIRN_SEG_PLAIN);
    free_vec(&v);
    v = make_vec(CAIRN_TYPE_F64, n, P_FEW, 0);
    ck_assert_int_eq(roundtrip(&v, 0, "auto few f64"), CAIRN_SEG_DICT);
    free_vec(&v);
}
END_TEST

/* The automatic choice is the smallest of every encoding that applies (forced one by one), a tie
 * going to the cheaper decoder: CONSTANT, PLAIN, RLE, BITPACK, FOR, DICT, DELTA. */
START_TEST(choice_is_smallest) {
    static const int rank[] = {99, 1, 0, 2, 5, 4, 6, 3};
    size_t ti, si, pi;
    static const size_t ns[] = {1, 3, 100, 5000};
    for (ti = 0; ti < NTYPES; ti++) {
        for (si = 0; si < sizeof ns / sizeof ns[0]; si++) {
            for (pi = P_RANDOM; pi <= P_RUNS; pi++) {
                cairn_colvec v = make_vec(all_types[ti], ns[si], (int)pi, (int)(pi & 1));
                cairn_seg_buf a, b;
                int e, best = 0;
                size_t best_len = (size_t)-1;
                for (e = CAIRN_SEG_PLAIN; e <= CAIRN_SEG_BITPACK; e++) {
                    int rc = cairn_seg__encode(&v, e, &b);
                    if (rc == CAIRN_UNSUPPORTED) continue;
                    ck_assert_int_eq(rc, 0);
                    if (b.len < best_len || (b.len == best_len && rank[e] < rank[best])) {
                        best = e;
                        best_len = b.len;
                    }
                    cairn_seg__free_buf(&b);
                }
                ck_assert_int_eq(cairn_seg__encode(&v, 0, &a), 0);
                ck_assert_msg(a.encoding == best && a.len == best_len, "type %d n %zu pattern %zu: chose %d (%zu), best %d (%zu)",
                              all_types[ti], ns[si], pi, a.encoding, a.len, best, best_len);
                cairn_seg__free_buf(&a);
                free_vec(&v);
            }
        }
    }
}
END_TEST

START_TEST(floats_bit_exact) {
    static const uint64_t d[] = {0x0000000000000000ULL, 0x8000000000000000ULL, 0x7ff8000000000000ULL,
                                 0x7ff0000000000001ULL, 0xfff8000000000abcULL, 0x7ff0000000000000ULL,
                                 0xfff0000000000000ULL, 0x3ff0000000000000ULL};
    static const uint32_t f[] = {0x00000000u, 0x80000000u, 0x7fc00000u, 0x7fc00123u, 0xffc00000u,
                                 0x7f800000u, 0xff800000u, 0x3f800000u};
    int e, t;
    size_t i;
    for (t = 0; t < 2; t++) {
        for (e = 0; e <= CAIRN_SEG_DICT; e++) {
            cairn_colvec v = make_vec(t ? CAIRN_TYPE_F64 : CAIRN_TYPE_F32, 64, P_RANDOM, e == CAIRN_SEG_RLE);
            if (e == CAIRN_SEG_CONSTANT) {
                for (i = 0; i < 64; i++) set_u(&v, i, t ? d[1] : f[1]); /* -0.0 everywhere */
            } else {
                for (i = 0; i < 64; i++) set_u(&v, i, t ? d[(i / 3) % 8] : f[(i / 3) % 8]);
            }
            roundtrip(&v, e, "floats");
            free_vec(&v);
        }
    }
    {
        /* -0.0 and 0.0 are different values for CONSTANT */
        cairn_colvec v = make_vec(CAIRN_TYPE_F64, 4, P_RANDOM, 0);
        cairn_seg_buf b;
        cairn_zone z;
        for (i = 0; i < 4; i++) set_u(&v, i, d[i & 1]);
        ck_assert_int_eq(cairn_seg__encode(&v, CAIRN_SEG_CONSTANT, &b), CAIRN_UNSUPPORTED);
        set_u(&v, 2, d[2]);
        cairn_seg__zone(&v, &z);
        ck_assert(z.has_nan && z.has_values && z.min.f == 0.0 && z.max.f == 0.0);
        free_vec(&v);
    }
}
END_TEST

START_TEST(zone_maps) {
    cairn_colvec v = make_vec(CAIRN_TYPE_I32, 6, P_RANDOM, 1); /* rows 1 and 4 null */
    cairn_zone z;
    int32_t vals[] = {5, -1000000, -7, 12, 2000000, 3};
    size_t i;
    memcpy(v.data, vals, sizeof vals);
    cairn_seg__zone(&v, &z);
    ck_assert(z.has_values && !z.has_nan);
    ck_assert_int_eq(z.nulls, 2);
    ck_assert_int_eq(z.count, 6);
    ck_assert_int_eq(z.min.i, -7);
    ck_assert_int_eq(z.max.i, 12);
    free_vec(&v);
    /* all null */
    v = make_vec(CAIRN_TYPE_U16, 2, P_RANDOM, 1);
    v.validity[0] = 0;
    cairn_seg__zone(&v, &z);
    ck_assert(!z.has_values && z.nulls == 2);
    for (i = 0; i <= CAIRN_SEG_DELTA; i++) roundtrip(&v, (int)i, "all null");
    free_vec(&v);
    /* strings: bytewise, a prefix sorts first; 16-byte prefixes with exact flags */
    {
        static const char *s[] = {"pear", "apple", "", "zebra-crossing-long-name", "apple!", "zebra"};
        size_t off = 0;
        memset(&v, 0, sizeof v);
        v.type = CAIRN_TYPE_STRING;
        v.n = 6;
        v.offsets = (uint64_t *)malloc(7 * 8);
        v.data = malloc(128);
        v.offsets[0] = 0;
        for (i = 0; i < 6; i++) {
            memcpy((char *)v.data + off, s[i], strlen(s[i]));
            off += strlen(s[i]);
            v.offsets[i + 1] = off;
        }
        v.data_len = off;
        cairn_seg__zone(&v, &z);
        ck_assert(z.has_values && z.min_len == 0 && z.min_exact);
        ck_assert(z.max_len == 16 && !z.max_exact && memcmp(z.max_prefix, "zebra-crossing-l", 16) == 0);
        v.validity = (uint8_t *)calloc(1, 1);
        v.validity[0] = 0x3b; /* rows 2 ("") and 6.. null: min is "apple" */
        cairn_seg__zone(&v, &z);
        ck_assert(z.min_len == 5 && z.min_exact && memcmp(z.min_prefix, "apple", 5) == 0 && z.nulls == 1);
        for (i = 0; i <= CAIRN_SEG_DICT; i++)
            if (i != CAIRN_SEG_CONSTANT) roundtrip(&v, (int)i, "zone strings");
        free_vec(&v);
    }
    /* bool zone: u 0/1 */
    v = make_vec(CAIRN_TYPE_BOOL, 50, P_CONST, 0);
    memset(v.data, 1, 50);
    cairn_seg__zone(&v, &z);
    ck_assert(z.min.u == 1 && z.max.u == 1);
    free_vec(&v);
}
END_TEST

/* Every single-byte change and every truncation of small segments of each encoding: CORRUPT from
 * decode, info, check; with the CRC fixed up again, decode and get never crash or read out of
 * bounds (ASan) and answer 0 or CORRUPT. */
static void sweep(const cairn_colvec *v, int force) {
    cairn_seg_buf b;
    cairn_colvec d;
    size_t i, k;
    uint8_t *copy;
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    REQ_EQ(cairn_seg__encode(v, force, &b), 0);
    copy = (uint8_t *)malloc(b.len);
    for (i = 0; i < b.len; i++) {
        for (k = 0; k < sizeof flips; k++) {
            int rc;
            size_t r;
            memcpy(copy, b.bytes, b.len);
            copy[i] ^= flips[k];
            REQ_EQ(cairn_seg__decode(copy, b.len, v->type, v->fixed_len, &d), CAIRN_CORRUPT);
            REQ(d.data == NULL);
            REQ_EQ(cairn_seg__info(copy, b.len, NULL, NULL, NULL), CAIRN_CORRUPT);
            REQ_EQ(cairn_seg__check(copy, b.len, v->type, v->fixed_len), CAIRN_CORRUPT);
            /* past the CRC: structure checks only */
            if (i < b.len - 4) cairn_put32(copy + b.len - 4, cairn_crc32c__update(0, copy, b.len - 4));
            rc = cairn_seg__decode(copy, b.len, v->type, v->fixed_len, &d);
            REQUIRE(rc == 0 || rc == CAIRN_CORRUPT || rc == CAIRN_NOMEM, "byte %zu: %s", i, cairn_errname(rc));
            {
                cairn_colvec rd;
                size_t st = v->n / 3;
                int rr = cairn_seg__decode_range(copy, b.len, v->type, v->fixed_len, st, v->n - st, &rd);
                REQUIRE(rr == 0 || rr == CAIRN_CORRUPT || rr == CAIRN_RANGE || rr == CAIRN_NOMEM, "range: %s", cairn_errname(rr));
                cairn_seg__free_vec(&rd);
            }
            for (r = 0; r < v->n; r++) {
                cairn_value gv;
                int g = cairn_seg__get(copy, b.len, v->type, v->fixed_len, r, &gv);
                REQ(g == 0 || g == CAIRN_CORRUPT || g == CAIRN_RANGE); /* RANGE: n was changed */
                if (g == 0 && rc == 0 && !gv.is_null && (is_var(v->type) || v->type == CAIRN_TYPE_FIXED)) {
                    size_t l;
                    const uint8_t *p = val_at(&d, r, &l);
                    REQ(gv.v.s.len == l && (l == 0 || memcmp(p, gv.v.s.bytes, l) == 0));
                }
            }
            cairn_seg__free_vec(&d);
        }
    }
    for (i = 0; i < b.len; i++) {
        REQ_EQ(cairn_seg__decode(b.bytes, i, v->type, v->fixed_len, &d), CAIRN_CORRUPT);
        REQ_EQ(cairn_seg__info(b.bytes, i, NULL, NULL, NULL), CAIRN_CORRUPT);
    }
    /* one byte too many */
    copy = (uint8_t *)realloc(copy, b.len + 1);
    memcpy(copy, b.bytes, b.len);
    copy[b.len] = 0;
    REQ_EQ(cairn_seg__decode(copy, b.len + 1, v->type, v->fixed_len, &d), CAIRN_CORRUPT);
    free(copy);
    cairn_seg__free_buf(&b);
}

START_TEST(damage_and_truncation) {
    size_t ti;
    int e, nulls;
    for (ti = 0; ti < NTYPES; ti++) {
        int t = all_types[ti];
        for (e = CAIRN_SEG_PLAIN; e <= CAIRN_SEG_BITPACK; e++) {
            if (!applies(t, e)) continue;
            for (nulls = 0; nulls < 2; nulls++) {
                int pat = e == CAIRN_SEG_CONSTANT ? P_CONST : e == CAIRN_SEG_RLE ? P_RUNS
                        : e == CAIRN_SEG_DELTA ? P_SEQ : P_FEW;
                cairn_colvec v = make_vec(t, nulls ? 45 : 21, pat, nulls);
                sweep(&v, e);
                free_vec(&v);
            }
        }
    }
}
END_TEST

START_TEST(bad_input) {
    cairn_colvec v = make_vec(CAIRN_TYPE_I32, 10, P_RANDOM, 0), d;
    cairn_seg_buf b;
    cairn_value gv;
    ck_assert_int_eq(cairn_seg__encode(NULL, 0, &b), CAIRN_INVALID);
    ck_assert_int_eq(cairn_seg__encode(&v, 0, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_seg__encode(&v, 99, &b), CAIRN_INVALID);
    v.n = 0;
    ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), CAIRN_INVALID);
    v.n = CAIRN_SEG_MAX_ROWS + 1;
    ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), CAIRN_INVALID);
    v.n = 10;
    v.type = 0;
    ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), CAIRN_INVALID);
    v.type = 16;
    ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), CAIRN_INVALID);
    v.type = CAIRN_TYPE_FIXED;
    v.fixed_len = 0;
    ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), CAIRN_INVALID);
    v.type = CAIRN_TYPE_BOOL;
    memset(v.data, 0, 10);
    ((uint8_t *)v.data)[3] = 2;
    ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), CAIRN_INVALID);
    v.type = CAIRN_TYPE_I32;
    free(v.data);
    v.data = NULL;
    ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), CAIRN_INVALID);
    free_vec(&v);
    /* strings: offsets missing, decreasing, beyond data_len */
    v = make_vec(CAIRN_TYPE_STRING, 10, P_RANDOM, 0);
    {
        uint64_t *o = v.offsets;
        v.offsets = NULL;
        ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), CAIRN_INVALID);
        v.offsets = o;
        v.data_len = (size_t)o[10] - 1;
        ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), CAIRN_INVALID);
        v.data_len = (size_t)o[10];
        o[5] = o[6] + 1;
        ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), CAIRN_INVALID);
    }
    free_vec(&v);
    /* decode: wrong type, NULL, short; get: index out of range */
    v = make_vec(CAIRN_TYPE_I32, 10, P_RANDOM, 0);
    ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), 0);
    ck_assert_int_eq(cairn_seg__decode(b.bytes, b.len, CAIRN_TYPE_U32, 0, &d), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_seg__decode(NULL, b.len, CAIRN_TYPE_I32, 0, &d), CAIRN_INVALID);
    ck_assert_int_eq(cairn_seg__decode(b.bytes, b.len, CAIRN_TYPE_I32, 0, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_seg__get(b.bytes, b.len, CAIRN_TYPE_I32, 0, 10, &gv), CAIRN_RANGE);
    ck_assert_int_eq(cairn_seg__decode_range(b.bytes, b.len, CAIRN_TYPE_I32, 0, 0, 0, &d), CAIRN_RANGE);
    ck_assert_int_eq(cairn_seg__decode_range(b.bytes, b.len, CAIRN_TYPE_I32, 0, 10, 1, &d), CAIRN_RANGE);
    ck_assert_int_eq(cairn_seg__decode_range(b.bytes, b.len, CAIRN_TYPE_I32, 0, 5, 6, &d), CAIRN_RANGE);
    ck_assert_int_eq(cairn_seg__decode_range(b.bytes, b.len, CAIRN_TYPE_I32, 0, 5, (size_t)-1, &d), CAIRN_RANGE);
    ck_assert_int_eq(cairn_seg__decode_range(b.bytes, b.len, CAIRN_TYPE_I32, 0, 5, 5, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_seg__decode_range(b.bytes, b.len, CAIRN_TYPE_I32, 0, 5, 5, &d), 0);
    ck_assert_uint_eq(d.n, 5);
    ck_assert_int_eq(((int32_t *)d.data)[0], ((int32_t *)v.data)[5]);
    cairn_seg__free_vec(&d);
    ck_assert_int_eq(cairn_seg__get(b.bytes, b.len, CAIRN_TYPE_I64, 0, 0, &gv), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_seg__check(b.bytes, b.len, CAIRN_TYPE_I16, 0), CAIRN_CORRUPT);
    cairn_seg__free_buf(&b);
    free_vec(&v);
    v = make_vec(CAIRN_TYPE_FIXED, 10, P_RANDOM, 0);
    ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), 0);
    ck_assert_int_eq(cairn_seg__decode(b.bytes, b.len, CAIRN_TYPE_FIXED, 6, &d), CAIRN_CORRUPT);
    cairn_seg__free_buf(&b);
    free_vec(&v);
    cairn_seg__free_vec(NULL);
    cairn_seg__free_buf(NULL);
    ck_assert_uint_eq(cairn_seg__width(CAIRN_TYPE_I16, 0), 2);
    ck_assert_uint_eq(cairn_seg__width(CAIRN_TYPE_FIXED, 12), 12);
    ck_assert_uint_eq(cairn_seg__width(CAIRN_TYPE_STRING, 0), 0);
    ck_assert_uint_eq(cairn_seg__width(CAIRN_TYPE_TIMESTAMP, 0), 8);
}
END_TEST

/* string/bytes columns whose values are all empty may come without data */
START_TEST(empty_strings_without_data) {
    cairn_colvec v;
    uint64_t off[6] = {0, 0, 0, 0, 0, 0};
    uint8_t valid = 0x15;
    int e, t;
    for (t = 0; t < 2; t++) {
        memset(&v, 0, sizeof v);
        v.type = t ? CAIRN_TYPE_BYTES : CAIRN_TYPE_STRING;
        v.n = 5;
        v.offsets = off;
        v.validity = t ? &valid : NULL;
        for (e = 0; e <= CAIRN_SEG_DICT; e++) ck_assert_int_ne(roundtrip(&v, e, "empty strings"), 0);
    }
}
END_TEST

/* A hand-made segment: the format is what the FORMAT comment says (PLAIN i16, 2 values). */
START_TEST(format_bytes) {
    cairn_colvec v = make_vec(CAIRN_TYPE_I16, 2, P_RANDOM, 0);
    cairn_seg_buf b;
    int16_t x[2] = {-2, 300};
    memcpy(v.data, x, 4);
    ck_assert_int_eq(cairn_seg__encode(&v, CAIRN_SEG_PLAIN, &b), 0);
    ck_assert_uint_eq(b.len, 80 + 4 + 4);
    ck_assert(memcmp(b.bytes, "CSEG", 4) == 0);
    ck_assert_int_eq(b.bytes[4], 1);
    ck_assert_int_eq(b.bytes[5], CAIRN_TYPE_I16);
    ck_assert_int_eq(b.bytes[6], CAIRN_SEG_PLAIN);
    ck_assert_int_eq(b.bytes[7], 0x02); /* has_values */
    ck_assert_uint_eq(cairn_get32(b.bytes + 8), 2);
    ck_assert_uint_eq(cairn_get64(b.bytes + 16), 4);
    ck_assert_int_eq((int64_t)cairn_get64(b.bytes + 32), -2);
    ck_assert_int_eq((int64_t)cairn_get64(b.bytes + 40), 300);
    ck_assert(b.bytes[80] == 0xfe && b.bytes[81] == 0xff && b.bytes[82] == 0x2c && b.bytes[83] == 0x01);
    ck_assert_uint_eq(cairn_get32(b.bytes + 84), cairn_crc32c__update(0, b.bytes, 84));
    cairn_seg__free_buf(&b);
    /* FOR of u8 {7, 9}: min 7, width 2, bits 00 10 -> one byte 0x08 */
    v.type = CAIRN_TYPE_U8;
    ((uint8_t *)v.data)[0] = 7;
    ((uint8_t *)v.data)[1] = 9;
    ck_assert_int_eq(cairn_seg__encode(&v, CAIRN_SEG_FOR, &b), 0);
    ck_assert_uint_eq(cairn_get64(b.bytes + 80), 7);
    ck_assert_int_eq(b.bytes[88], 2);
    ck_assert_int_eq(b.bytes[89], 0x08);
    ck_assert_uint_eq(b.len, 84 + 10);
    cairn_seg__free_buf(&b);
    free_vec(&v);
}
END_TEST

/* A segment whose CRC is right but whose values leave the type's range is CORRUPT. */
START_TEST(out_of_range_values) {
    cairn_colvec v = make_vec(CAIRN_TYPE_I8, 4, P_RANDOM, 0), d;
    cairn_seg_buf b;
    cairn_value gv;
    int8_t x[4] = {127, 120, 126, 125};
    memcpy(v.data, x, 4);
    ck_assert_int_eq(cairn_seg__encode(&v, CAIRN_SEG_FOR, &b), 0);
    /* width 3 -> raise it to 8 bits? simpler: move min up so min + 7 > 127 */
    cairn_put64(b.bytes + 80, 125);
    cairn_put32(b.bytes + b.len - 4, cairn_crc32c__update(0, b.bytes, b.len - 4));
    ck_assert_int_eq(cairn_seg__decode(b.bytes, b.len, CAIRN_TYPE_I8, 0, &d), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_seg__get(b.bytes, b.len, CAIRN_TYPE_I8, 0, 0, &gv), CAIRN_CORRUPT);
    cairn_seg__free_buf(&b);
    /* bool PLAIN holding 2 */
    v.type = CAIRN_TYPE_BOOL;
    memset(v.data, 1, 4);
    ck_assert_int_eq(cairn_seg__encode(&v, CAIRN_SEG_PLAIN, &b), 0);
    b.bytes[81] = 2;
    cairn_put32(b.bytes + b.len - 4, cairn_crc32c__update(0, b.bytes, b.len - 4));
    ck_assert_int_eq(cairn_seg__decode(b.bytes, b.len, CAIRN_TYPE_BOOL, 0, &d), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_seg__get(b.bytes, b.len, CAIRN_TYPE_BOOL, 0, 1, &gv), CAIRN_CORRUPT);
    cairn_seg__free_buf(&b);
    free_vec(&v);
}
END_TEST

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Throughput, printed (never asserted): values per second of encode and decode, one row group. */
START_TEST(throughput) {
    struct { const char *name; int type, pat, force; } cases[] = {
        {"i64 ids DELTA", CAIRN_TYPE_I64, P_SEQ, 0},
        {"i64 small FOR", CAIRN_TYPE_I64, P_RANDOM, CAIRN_SEG_FOR},
        {"i32 PLAIN", CAIRN_TYPE_I32, P_RANDOM, CAIRN_SEG_PLAIN},
        {"f64 PLAIN", CAIRN_TYPE_F64, P_RANDOM, 0},
        {"f64 DICT(5)", CAIRN_TYPE_F64, P_FEW, 0},
        {"i64 RLE", CAIRN_TYPE_I64, P_RUNS, CAIRN_SEG_RLE},
        {"bool BITPACK", CAIRN_TYPE_BOOL, P_RANDOM, 0},
        {"string DICT(5)", CAIRN_TYPE_STRING, P_FEW, 0},
        {"string PLAIN", CAIRN_TYPE_STRING, P_RANDOM, CAIRN_SEG_PLAIN},
    };
    size_t c, n = CAIRN_SEG_MAX_ROWS, i;
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cairn_colvec v = make_vec(cases[c].type, n, cases[c].pat, 0), d;
        cairn_seg_buf b;
        double t0, te, td, tr;
        int reps = 20, r;
        if (cases[c].force == CAIRN_SEG_FOR)
            for (i = 0; i < n; i++) set_u(&v, i, rnd() % 100000);
        t0 = now_s();
        for (r = 0; r < reps; r++) {
            ck_assert_int_eq(cairn_seg__encode(&v, cases[c].force, &b), 0);
            if (r + 1 < reps) cairn_seg__free_buf(&b);
        }
        te = (now_s() - t0) / reps;
        t0 = now_s();
        for (r = 0; r < reps; r++) {
            ck_assert_int_eq(cairn_seg__decode(b.bytes, b.len, v.type, 0, &d), 0);
            cairn_seg__free_vec(&d);
        }
        td = (now_s() - t0) / reps;
        t0 = now_s();
        for (r = 0; r < reps; r++) {
            size_t at;
            for (at = 0; at < n; at += 2048) {
                ck_assert_int_eq(cairn_seg__decode_range(b.bytes, b.len, v.type, 0, at, 2048, &d), 0);
                cairn_seg__free_vec(&d);
            }
        }
        tr = (now_s() - t0) / reps;
        printf("seg bench: %-16s %-8s %8zu bytes (%.2f B/value)  encode %7.1f M values/s  decode %7.1f M values/s"
               "  (by 2048-row ranges %7.1f)\n",
               cases[c].name, b.encoding == CAIRN_SEG_DELTA ? "DELTA" : b.encoding == CAIRN_SEG_FOR ? "FOR"
               : b.encoding == CAIRN_SEG_PLAIN ? "PLAIN" : b.encoding == CAIRN_SEG_DICT ? "DICT"
               : b.encoding == CAIRN_SEG_RLE ? "RLE" : b.encoding == CAIRN_SEG_BITPACK ? "BITPACK" : "other",
               b.len, (double)b.len / (double)n, (double)n / te / 1e6, (double)n / td / 1e6, (double)n / tr / 1e6);
        cairn_seg__free_buf(&b);
        free_vec(&v);
    }
}
END_TEST

/* The encoder with reused buffers (what a checkpoint uses) writes exactly the bytes of the plain
 * encoder, for every type, pattern and nulls, segment after segment with one scratch (large
 * buffers first, then small ones, then large again); its zone map is cairn_seg__zone's. */
START_TEST(scratch_same_bytes) {
    static const size_t ns[] = {CAIRN_SEG_MAX_ROWS, 3000, 9000};
    cairn_seg_scratch sc = CAIRN_SEG_SCRATCH_INIT;
    size_t ti, si;
    int pi, nulls;
    for (si = 0; si < sizeof ns / sizeof ns[0]; si++)
        for (ti = 0; ti < NTYPES; ti++)
            for (pi = P_RANDOM; pi <= P_RUNS; pi++)
                for (nulls = 0; nulls < 2; nulls++) {
                    cairn_colvec v = make_vec(all_types[ti], ns[si], pi, nulls);
                    cairn_seg_buf a, b;
                    cairn_colvec d;
                    cairn_zone z;
                    ck_assert_int_eq(cairn_seg__encode(&v, 0, &a), 0);
                    ck_assert_int_eq(cairn_seg__encode_with(&v, 0, &sc, &b), 0);
                    ck_assert_msg(a.len == b.len && a.encoding == b.encoding && memcmp(a.bytes, b.bytes, a.len) == 0,
                                  "type %d n %zu pattern %d nulls %d: %d (%zu) vs %d (%zu)", all_types[ti], ns[si], pi, nulls,
                                  a.encoding, a.len, b.encoding, b.len);
                    cairn_seg__zone(&v, &z);
                    assert_zone_eq(&z, &b.zone);
                    ck_assert_int_eq(cairn_seg__decode(b.bytes, b.len, v.type, v.fixed_len, &d), 0);
                    assert_same(&v, &d, "scratch");
                    cairn_seg__free_vec(&d);
                    cairn_seg__free_buf(&a);
                    free_vec(&v);
                }
    cairn_seg__scratch_free(&sc);
    cairn_seg__scratch_free(&sc); /* twice: harmless */
}
END_TEST

/* DICT is not tried on a large numeric segment whose sample of distinct values says it cannot
 * win (nearly every value distinct); a few hundred distinct values still get one. */
START_TEST(dict_skipped_when_hopeless) {
    cairn_colvec v;
    cairn_seg_buf b;
    double *x = malloc(CAIRN_SEG_MAX_ROWS * sizeof *x);
    size_t i;
    int k;
    for (k = 0; k < 2; k++) {
        for (i = 0; i < CAIRN_SEG_MAX_ROWS; i++) x[i] = (double)(rnd() % (k ? 300 : 100000)) / 100.0;
        memset(&v, 0, sizeof v);
        v.type = CAIRN_TYPE_F64;
        v.n = CAIRN_SEG_MAX_ROWS;
        v.data = x;
        v.data_len = v.n * 8;
        ck_assert_int_eq(cairn_seg__encode(&v, 0, &b), 0);
        ck_assert_int_eq(b.encoding, k ? CAIRN_SEG_DICT : CAIRN_SEG_PLAIN);
        ck_assert_uint_eq(b.len, k ? b.len : 84 + 8 * (size_t)CAIRN_SEG_MAX_ROWS);
        cairn_seg__free_buf(&b);
    }
    free(x);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("table_seg");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, roundtrip_every_type_encoding_size);
    tcase_add_test(t, inapplicable_encodings_unsupported);
    tcase_add_test(t, edge_values);
    tcase_add_test(t, bit_widths_0_to_64);
    tcase_add_test(t, automatic_choice);
    tcase_add_test(t, choice_is_smallest);
    tcase_add_test(t, floats_bit_exact);
    tcase_add_test(t, zone_maps);
    tcase_add_test(t, damage_and_truncation);
    tcase_add_test(t, bad_input);
    tcase_add_test(t, empty_strings_without_data);
    tcase_add_test(t, format_bytes);
    tcase_add_test(t, out_of_range_values);
    tcase_add_test(t, throughput);
    tcase_add_test(t, scratch_same_bytes);
    tcase_add_test(t, dict_skipped_when_hopeless);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return ct_run(suite()); }
