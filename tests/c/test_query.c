/* test_query.c - Check tests of the query engine (cairn_table_query_json, cairn_table_count_where_json):
 * random WHERE clauses (every operator, AND/OR/NOT, params and literals) over random data with
 * nulls are checked against a naive three-valued evaluation of an independent model of the rows;
 * the data is shaped to force each segment encoding (PLAIN, DICT, RLE, FOR, CONSTANT; the test
 * checks the encodings it got), at row counts that are not multiples of 8 or of a vector, with
 * deleted rows, updated rows (overlays), tail rows, several row groups, inside a transaction and
 * after its rollback; order/limit/offset against a naive sort; parser errors with their codes. */
#include "cairn.h"
#include "table/table_internal.h"
#include "table/seg_scan.h"
#include "util.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void mk_tmp(void) { ct_tmp_create("tquery"); }
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

/* ---- a deterministic generator ---- */

static uint64_t g_rng;
static uint64_t rnd(void) {
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int rn(int n) { return (int)(rnd() % (uint64_t)n); }

/* ---- the model ---- */

#define NC 8
static const char *SCHEMA = "a i32 null, b i64 not null, c f64 null, d string null, e bool null, f u8 not null, "
                            "g bytes null, h timestamp null";
static const char *CN[NC] = {"a", "b", "c", "d", "e", "f", "g", "h"};
static const int NULLABLE[NC] = {1, 0, 1, 1, 1, 0, 1, 1};
enum { K_INT, K_FLT, K_STR, K_BOOL, K_BYTES };
static const int KIND[NC] = {K_INT, K_INT, K_FLT, K_STR, K_BOOL, K_INT, K_BYTES, K_INT};

typedef struct mval {
    int null;
    int64_t i;
    double f;
    char s[12];  /* string or bytes */
    int slen;
} mval;

typedef struct mrow {
    uint64_t id;
    int alive;
    mval v[NC];
} mrow;

typedef struct model {
    mrow *r;
    size_t n, cap;
    int mode[NC];   /* 0 plain, 1 few distinct, 2 runs, 3 small range, 4 constant */
} model;

static void gen_value(const model *m, int c, size_t i, mval *v) {
    int mode = m->mode[c];
    memset(v, 0, sizeof *v);
    if (NULLABLE[c] && mode != 4 && rn(10) == 0) {
        v->null = 1;
        return;
    }
    switch (KIND[c]) {
    case K_INT: {
        int64_t scale = c == 0 ? 1 : c == 5 ? 0 : 1000000000;
        static const int64_t few[] = {-3, 0, 7, 100, 12345, -99999};
        if (mode == 5) { /* the kernels' shapes: FOR at 16 bits (a), DELTA (b), FOR at 1 bit (f), at 2 (h) */
            switch (c) {
            case 0: v->i = 100 + rn(60000); break;
            case 1: v->i = (int64_t)i * 1000 + rn(8); break;
            case 5: v->i = rn(2); break;
            default: v->i = 5 + rn(4); break;
            }
            return;
        }
        if (c == 5) { /* u8 */
            static const int64_t fu[] = {0, 1, 255, 7};
            switch (mode) {
            case 0: v->i = rn(256); break;
            case 1: v->i = fu[rn(4)]; break;
            case 2: v->i = (int64_t)((i / 50) % 3) * 100; break;
            case 3: v->i = 200 + rn(10); break;
            default: v->i = 9; break;
            }
            return;
        }
        switch (mode) {
        case 0: v->i = (int64_t)(rnd() % 2000001) - 1000000; v->i *= scale ? scale / 1000 + 1 : 1; break;
        case 1: v->i = few[rn(6)] * (c == 0 ? 1 : 1000); break;
        case 2: v->i = (int64_t)((i / 37) % 5) * 1000 - 2000; break;
        case 3: /* FOR at widths 4 (a), 8 (b), 1 (h) */
            v->i = 100000 + rn(c == 0 ? 16 : c == 7 ? 2 : 256) + (c == 0 ? 0 : 5000000000LL);
            break;
        default: v->i = 42; break;
        }
        return;
    }
    case K_FLT: {
        static const double few[] = {-1.5, 0.0, 2.25, 1e6, 3.0};
        switch (mode) {
        case 5: /* a dictionary of tens of thousands of values */
            v->f = rn(50) == 0 ? NAN : (double)rn(100000) * 0.25 - 5000;
            break;
        case 0: v->f = (double)((int64_t)(rnd() % 801) - 400) * 0.25; if (rn(50) == 0) v->f = NAN; break;
        case 1: v->f = rn(12) == 0 ? NAN : few[rn(5)]; break;
        case 2: v->f = (double)((i / 41) % 4) * 0.5; break;
        case 3: v->f = 1000.0 + rn(8); break;
        default: v->f = 2.5; break;
        }
        return;
    }
    case K_BOOL: v->i = mode == 4 ? 1 : mode == 2 ? (int64_t)((i / 64) % 2) : rn(2); return;
    default: {
        static const char *few[] = {"", "a", "ab", "b", "zz", "abc"};
        const char *al = KIND[c] == K_STR ? "abc" : "\x00\x01\xff";
        int k, len;
        switch (mode) {
        case 0:
            len = rn(6);
            for (k = 0; k < len; k++) v->s[k] = al[rn(3)];
            v->slen = len;
            break;
        case 1: case 3: case 5:
            k = rn(6);
            v->slen = (int)strlen(few[k]);
            memcpy(v->s, few[k], (size_t)v->slen);
            break;
        case 2:
            k = (int)((i / 29) % 6);
            v->slen = (int)strlen(few[k]);
            memcpy(v->s, few[k], (size_t)v->slen);
            break;
        default: memcpy(v->s, "kk", 2); v->slen = 2; break;
        }
        return;
    }
    }
}

static void json_val(int c, const mval *v, char *out, size_t n) {
    if (v->null) {
        snprintf(out, n, "null");
        return;
    }
    switch (KIND[c]) {
    case K_INT: snprintf(out, n, "%lld", (long long)v->i); break;
    case K_BOOL: snprintf(out, n, "%s", v->i ? "true" : "false"); break;
    case K_FLT:
        if (isnan(v->f)) snprintf(out, n, "{\"$f64\":\"nan\"}");
        else snprintf(out, n, "%.17g", v->f);
        break;
    case K_STR: snprintf(out, n, "\"%.*s\"", v->slen, v->s); break;
    default: {
        size_t k, o;
        o = (size_t)snprintf(out, n, "{\"$bytes\":\"");
        for (k = 0; k < (size_t)v->slen; k++) o += (size_t)snprintf(out + o, n - o, "%02x", (uint8_t)v->s[k]);
        snprintf(out + o, n - o, "\"}");
        break;
    }
    }
}

static char *row_json(const mrow *r) {
    static char buf[1024];
    size_t o = 0;
    int c;
    o += (size_t)snprintf(buf + o, sizeof buf - o, "{");
    for (c = 0; c < NC; c++) {
        char v[128];
        json_val(c, &r->v[c], v, sizeof v);
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\"%s\":%s", c ? "," : "", CN[c], v);
    }
    snprintf(buf + o, sizeof buf - o, "}");
    return buf;
}

static mrow *model_add(model *m) {
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->r = (mrow *)realloc(m->r, m->cap * sizeof(mrow));
        ck_assert_ptr_nonnull(m->r);
    }
    memset(&m->r[m->n], 0, sizeof(mrow));
    return &m->r[m->n++];
}

/* load n rows through load_columns (straight into row groups outside a transaction) */
static void load_rows(cairn_table *t, model *m, size_t n) {
    void *data[NC];
    uint8_t *valid[NC];
    uint64_t *offs[NC];
    size_t i, first = m->n;
    int c;
    uint64_t fid = 0;
    for (i = 0; i < n; i++) {
        mrow *r = model_add(m);
        r->alive = 1;
        for (c = 0; c < NC; c++) gen_value(m, c, first + i, &r->v[c]);
    }
    for (c = 0; c < NC; c++) {
        size_t w = c == 0 ? 4 : c == 4 || c == 5 ? 1 : 8;
        valid[c] = (uint8_t *)calloc((n + 7) / 8 + 1, 1);
        offs[c] = NULL;
        if (KIND[c] == K_STR || KIND[c] == K_BYTES) {
            char *d = (char *)malloc(n * 12 + 1);
            size_t o = 0;
            offs[c] = (uint64_t *)malloc((n + 1) * 8);
            for (i = 0; i < n; i++) {
                const mval *v = &m->r[first + i].v[c];
                offs[c][i] = o;
                if (!v->null) {
                    memcpy(d + o, v->s, (size_t)v->slen);
                    o += (size_t)v->slen;
                }
            }
            offs[c][n] = o;
            data[c] = d;
        } else {
            uint8_t *d = (uint8_t *)calloc(n + 1, w);
            for (i = 0; i < n; i++) {
                const mval *v = &m->r[first + i].v[c];
                if (v->null) continue;
                if (c == 0) ((int32_t *)(void *)d)[i] = (int32_t)v->i;
                else if (c == 2) ((double *)(void *)d)[i] = v->f;
                else if (c == 4 || c == 5) d[i] = (uint8_t)v->i;
                else ((int64_t *)(void *)d)[i] = v->i;
            }
            data[c] = d;
        }
        for (i = 0; i < n; i++)
            if (!m->r[first + i].v[c].null) valid[c][i >> 3] |= (uint8_t)(1u << (i & 7));
    }
    OK(cairn_table_load_columns(t, n, (const void *const *)data, (const uint8_t *const *)valid,
                                (const uint64_t *const *)offs, &fid));
    for (i = 0; i < n; i++) m->r[first + i].id = fid + i;
    for (c = 0; c < NC; c++) {
        free(data[c]);
        free(valid[c]);
        free(offs[c]);
    }
}

static void insert_rows(cairn_table *t, model *m, size_t n) {
    size_t i;
    int c;
    for (i = 0; i < n; i++) {
        mrow *r = model_add(m);
        r->alive = 1;
        for (c = 0; c < NC; c++) gen_value(m, c, m->n + i, &r->v[c]);
        OK(cairn_table_insert_json(t, row_json(r), &r->id));
    }
}

static void delete_some(cairn_table *t, model *m, size_t k) {
    size_t j;
    for (j = 0; j < k && m->n; j++) {
        mrow *r = &m->r[rnd() % m->n];
        if (!r->alive) continue;
        OK(cairn_table_delete(t, r->id));
        r->alive = 0;
    }
}

static void update_some(cairn_table *t, model *m, size_t k) {
    size_t j;
    for (j = 0; j < k && m->n; j++) {
        mrow *r = &m->r[rnd() % m->n];
        char ch[512], v[128];
        int c = rn(NC);
        if (!r->alive) continue;
        gen_value(m, c, (size_t)rn(1000), &r->v[c]);
        json_val(c, &r->v[c], v, sizeof v);
        snprintf(ch, sizeof ch, "{\"%s\":%s}", CN[c], v);
        OK(cairn_table_update_json(t, r->id, ch));
    }
}

/* ---- the naive evaluation ---- */

#define OPS 12
enum { P_EQ, P_NE, P_LT, P_LE, P_GT, P_GE, P_BETWEEN, P_NBETWEEN, P_IN, P_NIN, P_ISNULL, P_NOTNULL, P_PREFIX };

typedef struct pnode {
    int kind;        /* 0 leaf, 1 and, 2 or, 3 not */
    int col, op;
    mval k[3];       /* constants */
    int nk;
    int flat;        /* and: written without parentheses (a AND b AND c is one node of the WHERE) */
    struct pnode *a, *b;
} pnode;

/* -1, 0, 1: v against constant k (both non-null); NaN equal to NaN and above every number */
static int cmpv(int c, const mval *v, const mval *k) {
    switch (KIND[c]) {
    case K_INT: case K_BOOL: {
        double x = (double)v->i, y = k->f;
        return x < y ? -1 : x > y;
    }
    case K_FLT: {
        int nx = isnan(v->f), ny = isnan(k->f);
        if (nx || ny) return nx - ny;
        return v->f < k->f ? -1 : v->f > k->f;
    }
    default: {
        int m = v->slen < k->slen ? v->slen : k->slen;
        int r = m ? memcmp(v->s, k->s, (size_t)m) : 0;
        if (r) return r < 0 ? -1 : 1;
        return v->slen < k->slen ? -1 : v->slen > k->slen;
    }
    }
}

/* 0 false, 1 true, 2 unknown */
static int eval(const pnode *p, const mrow *r) {
    int x, y, i;
    switch (p->kind) {
    case 1:
        x = eval(p->a, r);
        y = eval(p->b, r);
        if (x == 0 || y == 0) return 0;
        return x == 1 && y == 1 ? 1 : 2;
    case 2:
        x = eval(p->a, r);
        y = eval(p->b, r);
        if (x == 1 || y == 1) return 1;
        return x == 0 && y == 0 ? 0 : 2;
    case 3:
        x = eval(p->a, r);
        return x == 2 ? 2 : !x;
    default: break;
    }
    {
        const mval *v = &r->v[p->col];
        if (p->op == P_ISNULL) return v->null;
        if (p->op == P_NOTNULL) return !v->null;
        if (v->null) return 2;
        switch (p->op) {
        case P_EQ: return cmpv(p->col, v, &p->k[0]) == 0;
        case P_NE: return cmpv(p->col, v, &p->k[0]) != 0;
        case P_LT: return cmpv(p->col, v, &p->k[0]) < 0;
        case P_LE: return cmpv(p->col, v, &p->k[0]) <= 0;
        case P_GT: return cmpv(p->col, v, &p->k[0]) > 0;
        case P_GE: return cmpv(p->col, v, &p->k[0]) >= 0;
        case P_BETWEEN: return cmpv(p->col, v, &p->k[0]) >= 0 && cmpv(p->col, v, &p->k[1]) <= 0;
        case P_NBETWEEN: return !(cmpv(p->col, v, &p->k[0]) >= 0 && cmpv(p->col, v, &p->k[1]) <= 0);
        case P_IN: case P_NIN:
            for (i = 0; i < p->nk; i++)
                if (cmpv(p->col, v, &p->k[i]) == 0) return p->op == P_IN;
            return p->op == P_NIN;
        default: /* prefix */
            return v->slen >= p->k[0].slen && memcmp(v->s, p->k[0].s, (size_t)p->k[0].slen) == 0;
        }
    }
}

static void free_p(pnode *p) {
    if (!p) return;
    free_p(p->a);
    free_p(p->b);
    free(p);
}

/* a constant for column c: a value of the data, a neighbour, or out of range */
static void gen_const(const model *m, int c, mval *k) {
    memset(k, 0, sizeof *k);
    if (m->n && rn(3)) {
        const mrow *r = &m->r[rnd() % m->n];
        if (!r->v[c].null) {
            *k = r->v[c];
            if (KIND[c] == K_INT || KIND[c] == K_BOOL) k->f = (double)k->i;
            if (KIND[c] == K_INT && rn(4) == 0) k->f += rn(2) ? 0.5 : -0.5;
            if (KIND[c] == K_STR && rn(3) == 0 && k->slen) k->slen--;
            return;
        }
    }
    mval tmp;
    gen_value(m, c, (size_t)rn(100000), &tmp);
    if (tmp.null) gen_value(m, c, 0, &tmp);
    if (tmp.null) {
        tmp.null = 0;
        tmp.i = 1;
        tmp.f = 1;
    }
    *k = tmp;
    if (KIND[c] == K_INT || KIND[c] == K_BOOL) k->f = (double)k->i;
    if (c == 5 && rn(4) == 0) k->f = rn(2) ? 300 : -1;
    if (KIND[c] == K_INT && rn(5) == 0) k->f = rn(2) ? 1e300 : -1e300;
}

/* append the constant as a JSON param */
static void param_json(int c, const mval *k, char *out, size_t n) {
    if (KIND[c] == K_INT) {
        if (k->f == floor(k->f) && fabs(k->f) < 9e15) snprintf(out, n, "%lld", (long long)k->f);
        else snprintf(out, n, "%.17g", k->f);
        return;
    }
    if (KIND[c] == K_BOOL) {
        snprintf(out, n, "%s", k->f != 0 ? "true" : "false");
        return;
    }
    json_val(c, k, out, n);
}

static pnode *gen_pred(const model *m, int depth) {
    pnode *p = (pnode *)calloc(1, sizeof *p);
    int r = rn(10);
    if (depth < 2 && r < 3) {
        p->kind = 1 + rn(2);
        p->a = gen_pred(m, depth + 1);
        p->b = gen_pred(m, depth + 1);
        return p;
    }
    if (depth < 3 && r == 3) {
        p->kind = 3;
        p->a = gen_pred(m, depth + 1);
        return p;
    }
    p->col = rn(NC);
    p->op = rn(KIND[p->col] == K_STR || KIND[p->col] == K_BYTES ? OPS + 1 : OPS);
    if (KIND[p->col] == K_BOOL && p->op != P_ISNULL && p->op != P_NOTNULL) p->op = rn(2) ? P_EQ : P_NE;
    p->nk = p->op == P_BETWEEN || p->op == P_NBETWEEN ? 2 : p->op == P_IN || p->op == P_NIN ? 3 : 1;
    for (r = 0; r < p->nk; r++) gen_const(m, p->col, &p->k[r]);
    if (p->op == P_BETWEEN || p->op == P_NBETWEEN) {
        if (cmpv(p->col, &p->k[0], &p->k[1]) > 0 && rn(4)) {
            mval t = p->k[0];
            p->k[0] = p->k[1];
            p->k[1] = t;
        }
    }
    if (p->op == P_ISNULL || p->op == P_NOTNULL) p->nk = 0;
    return p;
}

/* text WHERE with ? params */
static void to_text(const pnode *p, char *w, size_t *wo, size_t wn, char *pr, size_t *po, size_t pn) {
    static const char *opn[] = {"=", "!=", "<", "<=", ">", ">="};
    int i;
    if (p->kind == 1 && p->flat) {
        to_text(p->a, w, wo, wn, pr, po, pn);
        *wo += (size_t)snprintf(w + *wo, wn - *wo, " and ");
        to_text(p->b, w, wo, wn, pr, po, pn);
        return;
    }
    if (p->kind == 1 || p->kind == 2) {
        *wo += (size_t)snprintf(w + *wo, wn - *wo, "(");
        to_text(p->a, w, wo, wn, pr, po, pn);
        *wo += (size_t)snprintf(w + *wo, wn - *wo, p->kind == 1 ? " AND " : " or ");
        to_text(p->b, w, wo, wn, pr, po, pn);
        *wo += (size_t)snprintf(w + *wo, wn - *wo, ")");
        return;
    }
    if (p->kind == 3) {
        *wo += (size_t)snprintf(w + *wo, wn - *wo, "NOT ");
        to_text(p->a, w, wo, wn, pr, po, pn);
        return;
    }
    *wo += (size_t)snprintf(w + *wo, wn - *wo, "%s ", CN[p->col]);
    switch (p->op) {
    case P_ISNULL: *wo += (size_t)snprintf(w + *wo, wn - *wo, "IS NULL"); return;
    case P_NOTNULL: *wo += (size_t)snprintf(w + *wo, wn - *wo, "is not null"); return;
    case P_BETWEEN: *wo += (size_t)snprintf(w + *wo, wn - *wo, "BETWEEN ? AND ?"); break;
    case P_NBETWEEN: *wo += (size_t)snprintf(w + *wo, wn - *wo, "NOT BETWEEN ? AND ?"); break;
    case P_IN: *wo += (size_t)snprintf(w + *wo, wn - *wo, "IN (?, ?, ?)"); break;
    case P_NIN: *wo += (size_t)snprintf(w + *wo, wn - *wo, "NOT IN (?,?,?)"); break;
    case P_PREFIX: *wo += (size_t)snprintf(w + *wo, wn - *wo, "STARTS WITH ?"); break;
    default: *wo += (size_t)snprintf(w + *wo, wn - *wo, "%s ?", opn[p->op]); break;
    }
    for (i = 0; i < p->nk; i++) {
        char v[128];
        param_json(p->col, &p->k[i], v, sizeof v);
        *po += (size_t)snprintf(pr + *po, pn - *po, "%s%s", *po > 1 ? "," : "", v);
    }
}

/* the same predicate as JSON: triples, $and/$or/$not */
static void to_json(const pnode *p, char *w, size_t *wo, size_t wn) {
    static const char *opn[] = {"=", "ne", "<", "le", "gt", ">=", "between", "not between", "in", "not in", "is null",
                                "is not null", "prefix"};
    int i;
    char v[128];
    if (p->kind == 1 || p->kind == 2) {
        *wo += (size_t)snprintf(w + *wo, wn - *wo, "{\"%s\":[", p->kind == 1 ? "$and" : "$or");
        to_json(p->a, w, wo, wn);
        *wo += (size_t)snprintf(w + *wo, wn - *wo, ",");
        to_json(p->b, w, wo, wn);
        *wo += (size_t)snprintf(w + *wo, wn - *wo, "]}");
        return;
    }
    if (p->kind == 3) {
        *wo += (size_t)snprintf(w + *wo, wn - *wo, "{\"$not\":");
        to_json(p->a, w, wo, wn);
        *wo += (size_t)snprintf(w + *wo, wn - *wo, "}");
        return;
    }
    *wo += (size_t)snprintf(w + *wo, wn - *wo, "[\"%s\",\"%s\"", CN[p->col], opn[p->op]);
    if (p->nk == 1) {
        param_json(p->col, &p->k[0], v, sizeof v);
        *wo += (size_t)snprintf(w + *wo, wn - *wo, ",%s", v);
    } else if (p->nk > 1) {
        *wo += (size_t)snprintf(w + *wo, wn - *wo, ",[");
        for (i = 0; i < p->nk; i++) {
            param_json(p->col, &p->k[i], v, sizeof v);
            *wo += (size_t)snprintf(w + *wo, wn - *wo, "%s%s", i ? "," : "", v);
        }
        *wo += (size_t)snprintf(w + *wo, wn - *wo, "]");
    }
    *wo += (size_t)snprintf(w + *wo, wn - *wo, "]");
}

/* parse the ids of {"columns":[...],"rows":[{"_id":n},...]} */
static size_t parse_ids(const char *res, uint64_t *ids, size_t cap) {
    const char *p = strstr(res, "\"rows\":[");
    size_t n = 0;
    ck_assert_ptr_nonnull(p);
    /* one pass (strstr per row would be quadratic under ASan, whose strstr measures the rest) */
    for (; *p; p++) {
        if (p[0] == '{' && p[1] == '"' && p[2] == '_' && p[3] == 'i' && p[4] == 'd' && p[5] == '"' && p[6] == ':') {
            char *end;
            ck_assert_uint_lt(n, cap);
            ids[n++] = strtoull(p + 7, &end, 10);
            p = end - 1;
        }
    }
    return n;
}

static char g_q[200000];

/* check one predicate both ways (text with params, JSON) against the model */
static void check_pred(cairn_table *t, const model *m, const pnode *p, int select) {
    char w[8192], pr[8192];
    size_t wo = 0, po = 0, i, want = 0, got;
    uint64_t cnt = 0, *ids = NULL;
    char *res = NULL;
    pr[po++] = '[';
    to_text(p, w, &wo, sizeof w, pr, &po, sizeof pr);
    pr[po++] = ']';
    pr[po] = 0;
    for (i = 0; i < m->n; i++) want += m->r[i].alive && eval(p, &m->r[i]) == 1;
    snprintf(g_q, sizeof g_q, "{\"where\":\"%s\",\"params\":%s,\"columns\":[\"_id\"]}", w, pr);
    OK(cairn_table_count_where_json(t, g_q, &cnt));
    ck_assert_msg(cnt == want, "count_where %s: got %llu, want %zu", g_q, (unsigned long long)cnt, want);
    if (select) {
        size_t k = 0;
        OK(cairn_table_query_json(t, g_q, &res));
        ids = (uint64_t *)malloc((want + 1) * 8);
        got = parse_ids(res, ids, want + 1);
        ck_assert_uint_eq(got, want);
        for (i = 0; i < m->n; i++)
            if (m->r[i].alive && eval(p, &m->r[i]) == 1) {
                ck_assert_msg(ids[k] == m->r[i].id, "select %s: row %zu is id %llu, want %llu", g_q, k,
                              (unsigned long long)ids[k], (unsigned long long)m->r[i].id);
                k++;
            }
        free(ids);
        cairn_free(res);
    }
    wo = 0;
    memcpy(g_q, "{\"where\":", 9);
    wo = 9;
    to_json(p, g_q, &wo, sizeof g_q);
    snprintf(g_q + wo, sizeof g_q - wo, "}");
    OK(cairn_table_count_where_json(t, g_q, &cnt));
    ck_assert_msg(cnt == want, "count_where %s: got %llu, want %zu", g_q, (unsigned long long)cnt, want);
}

static void check_many(cairn_table *t, const model *m, int npred) {
    int i;
    for (i = 0; i < npred; i++) {
        pnode *p = gen_pred(m, 0);
        check_pred(t, m, p, i % 3 == 0);
        free_p(p);
    }
}

static int g_encs_seen[8];

static void note_encodings(cairn_table *t) {
    size_t gi, c;
    for (gi = 0; gi < t->ng; gi++)
        for (c = 0; c < t->s.n; c++)
            if (t->g[gi].cols[c].enc < 8) g_encs_seen[t->g[gi].cols[c].enc] = 1;
}

static void run_shape(size_t n, int modeset, int npred) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    model m;
    char name[64];
    int c;
    size_t tail = n / 8 + 3, i;
    memset(&m, 0, sizeof m);
    for (c = 0; c < NC; c++) m.mode[c] = (modeset + c) % 5;
    snprintf(name, sizeof name, "q%zu_%d", n, modeset);
    o.schema = SCHEMA;
    o.sync = CAIRN_SYNC_NONE;
    o.checkpoint_rows = (uint32_t)(tail > 100 ? 1000 : 5);
    OK(cairn_table_open(&t, ct_path(name), &o));
    load_rows(t, &m, n);
    note_encodings(t);
    check_many(t, &m, npred);
    /* deletes and updates of rows in row groups, rows in the tail */
    delete_some(t, &m, n / 20 > 1500 ? 1500 : n / 20 + 1);
    update_some(t, &m, n / 50 > 200 ? 200 : n / 50 + 2);
    insert_rows(t, &m, tail > 1000 ? 1000 : tail);
    delete_some(t, &m, 3);
    update_some(t, &m, 3);
    check_many(t, &m, npred);
    /* inside a transaction, then after its rollback */
    OK(cairn_table_begin(t));
    {
        size_t mark = m.n;
        uint8_t *alive = (uint8_t *)malloc(m.n);
        for (i = 0; i < m.n; i++) alive[i] = (uint8_t)m.r[i].alive;
        insert_rows(t, &m, 5);
        delete_some(t, &m, 5);
        check_many(t, &m, npred / 4 + 1);
        OK(cairn_table_rollback(t));
        m.n = mark;
        for (i = 0; i < m.n; i++) m.r[i].alive = alive[i];
        free(alive);
    }
    check_many(t, &m, npred / 4 + 1);
    /* reopen (tail checkpointed into groups) */
    cairn_table_close(t);
    o.schema = NULL;
    OK(cairn_table_open(&t, ct_path(name), &o));
    note_encodings(t);
    check_many(t, &m, npred / 2 + 1);
    cairn_table_close(t);
    free(m.r);
}

START_TEST(t_small_counts) {
    static const size_t ns[] = {1, 7, 2047, 2049};
    size_t i;
    int ms;
    g_rng = 1000 + (uint64_t)_i;
    for (i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (ms = 0; ms < 5; ms++) run_shape(ns[i], ms, 60);
}
END_TEST

START_TEST(t_large) {
    int ms;
    g_rng = 77;
    /* each shape gives the columns every data mode ((shape + column) % 5); two shapes put each
     * mode on two columns of other types (and keep the run short under sanitizers) */
    for (ms = 0; ms < 5; ms += 3) run_shape(122881, ms, 12);
    /* every encoding the data was shaped for showed up */
    ck_assert(g_encs_seen[1]); /* PLAIN */
    ck_assert(g_encs_seen[2]); /* CONSTANT */
    ck_assert(g_encs_seen[3]); /* RLE */
    ck_assert(g_encs_seen[4]); /* DICT */
    ck_assert(g_encs_seen[5]); /* FOR */
}
END_TEST

/* ---- the scan's kernels on encoded data ----
 * FOR at 1, 2 and 16 bits, DELTA, BITPACK, a DICT of tens of thousands of floats (with NaN),
 * string dictionaries and runs, under top-level ANDs of 2 to 4 kids (the kids run in the order of
 * their estimated selectivity, later ones on the selection only), with nulls, deletes, updates,
 * a row group whose rows are all deleted and rows in the tail. */

/* a flat AND of 2..4 kids, most of them leaves; a leaf on an equality or a small range is common
 * (a selective first kid leaves the later ones few rows) */
static pnode *gen_chain(const model *m) {
    int n = 2 + rn(3), i;
    pnode *p = gen_pred(m, 2);
    for (i = 1; i < n; i++) {
        pnode *a = (pnode *)calloc(1, sizeof *a);
        a->kind = 1;
        a->flat = 1;
        a->a = p;
        a->b = rn(5) ? gen_pred(m, 2) : gen_pred(m, 0);
        p = a;
    }
    return p;
}

/* an integer of the aggregate result: "name":value (null: has = 0) */
static long long agg_int(const char *res, const char *name, int *has) {
    char key[32];
    const char *p;
    snprintf(key, sizeof key, "\"%s\":", name);
    p = strstr(res, key);
    ck_assert_msg(p != NULL, "%s missing in %s", name, res);
    p += strlen(key);
    *has = strncmp(p, "null", 4) != 0;
    return *has ? strtoll(p, NULL, 10) : 0;
}

/* aggregates over the rows the WHERE selects (the output columns read from each encoding: a
 * dictionary gathered at the selected rows, DELTA and runs decoded once per row group) */
static void check_aggs_where(cairn_table *t, const model *m, const pnode *p) {
    static const char *names[] = {"n", "sa", "sb", "sf", "mb", "xa", "cc", "cd"};
    char w[8192], pr[8192];
    size_t wo = 0, po = 0, i;
    long long want[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int whas[8] = {1, 0, 0, 0, 0, 0, 1, 1}, k;
    char *res = NULL;
    pr[po++] = '[';
    to_text(p, w, &wo, sizeof w, pr, &po, sizeof pr);
    pr[po++] = ']';
    pr[po] = 0;
    for (i = 0; i < m->n; i++) {
        const mrow *r = &m->r[i];
        if (!r->alive || eval(p, r) != 1) continue;
        want[0]++;
        if (!r->v[0].null) {
            want[1] += r->v[0].i;
            want[5] = whas[5] && want[5] > r->v[0].i ? want[5] : r->v[0].i;
            whas[1] = whas[5] = 1;
        }
        want[2] += r->v[1].i;
        want[4] = whas[4] && want[4] < r->v[1].i ? want[4] : r->v[1].i;
        whas[2] = whas[4] = 1;
        want[3] += r->v[5].i;
        whas[3] = 1;
        want[6] += !r->v[2].null;
        want[7] += !r->v[3].null;
    }
    snprintf(g_q, sizeof g_q,
             "{\"where\":\"%s\",\"params\":%s,\"aggregates\":[{\"fn\":\"count\",\"as\":\"n\"},"
             "{\"fn\":\"sum\",\"column\":\"a\",\"as\":\"sa\"},{\"fn\":\"sum\",\"column\":\"b\",\"as\":\"sb\"},"
             "{\"fn\":\"sum\",\"column\":\"f\",\"as\":\"sf\"},{\"fn\":\"min\",\"column\":\"b\",\"as\":\"mb\"},"
             "{\"fn\":\"max\",\"column\":\"a\",\"as\":\"xa\"},{\"fn\":\"count\",\"column\":\"c\",\"as\":\"cc\"},"
             "{\"fn\":\"count\",\"column\":\"d\",\"as\":\"cd\"}]}",
             w, pr);
    OK(cairn_table_query_json(t, g_q, &res));
    for (k = 0; k < 8; k++) {
        int has;
        long long got = agg_int(res, names[k], &has);
        ck_assert_msg(has == whas[k] && (!has || got == want[k]), "%s: %s = %lld (has %d), want %lld (has %d) in %s", g_q,
                      names[k], got, has, want[k], whas[k], res);
    }
    cairn_free(res);
}

static void check_chains(cairn_table *t, const model *m, int npred) {
    int i;
    for (i = 0; i < npred; i++) {
        pnode *p = gen_chain(m);
        check_pred(t, m, p, i % 4 == 0);
        if (i % 4 == 1) check_aggs_where(t, m, p);
        free_p(p);
    }
}

START_TEST(t_kernels) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    model m;
    size_t i, small;
    int c;
    g_rng = 4242;
    memset(&m, 0, sizeof m);
    for (c = 0; c < NC; c++) m.mode[c] = 5;
    m.mode[3] = 1; /* d: a string dictionary */
    m.mode[6] = 2; /* g: runs of bytes */
    o.schema = SCHEMA;
    o.sync = CAIRN_SYNC_NONE;
    o.checkpoint_rows = 1000;
    OK(cairn_table_open(&t, ct_path("kern"), &o));
    /* a small row group (deleted whole below), then a full one and a part of one */
    small = 1500;
    load_rows(t, &m, small);
    load_rows(t, &m, 122880 + 2049);
    ck_assert_uint_ge(t->ng, 3);
    memset(g_encs_seen, 0, sizeof g_encs_seen);
    note_encodings(t);
    ck_assert(g_encs_seen[4]); /* DICT */
    ck_assert(g_encs_seen[5]); /* FOR */
    ck_assert(g_encs_seen[6]); /* DELTA */
    ck_assert(g_encs_seen[7]); /* BITPACK */
    check_chains(t, &m, 40);
    check_many(t, &m, 10);
    /* every row of the first group deleted; updates (overlays) and tail rows */
    for (i = 0; i < small; i++) {
        OK(cairn_table_delete(t, m.r[i].id));
        m.r[i].alive = 0;
    }
    update_some(t, &m, 100);
    insert_rows(t, &m, 300);
    delete_some(t, &m, 50);
    check_chains(t, &m, 40);
    /* checkpointed into groups and reopened */
    cairn_table_close(t);
    o.schema = NULL;
    OK(cairn_table_open(&t, ct_path("kern"), &o));
    check_chains(t, &m, 20);
    cairn_table_close(t);
    free(m.r);
}
END_TEST

/* ---- seg_scan.h's primitives against a naive reading of the bits ----
 * Packed arrays of every width 0..32 in buffers of exactly their length (so that a sanitizer sees
 * any read past them), counts around word and vector boundaries; windows, gathers, the SWAR range
 * kernels (to a selection, to a row bitmap), the fused selections, with and without a validity
 * bitmap. */

static uint64_t naive_code(const uint8_t *p, unsigned w, size_t i) {
    uint64_t v = 0;
    unsigned b;
    for (b = 0; b < w; b++) {
        uint64_t bit = (uint64_t)i * w + b;
        v |= (uint64_t)((p[bit >> 3] >> (bit & 7)) & 1) << b;
    }
    return v;
}

START_TEST(t_seg_scan) {
    static const size_t counts[] = {1, 7, 8, 63, 64, 65, 127, 2047, 2048, 2049, 4097, 5000};
    unsigned w;
    size_t ci;
    g_rng = 99;
    for (w = 0; w <= 32; w++)
        for (ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
            size_t cnt = counts[ci], len = (cnt * w + 7) / 8, i, j, rep;
            uint8_t *p = (uint8_t *)malloc(len ? len : 1), *valid = (uint8_t *)malloc((cnt + 7) / 8);
            uint8_t *lut = (uint8_t *)malloc((size_t)1 << (w > 16 ? 16 : w));
            uint32_t *out = (uint32_t *)malloc((cnt + 8) * 4), *sel = (uint32_t *)malloc((cnt + 8) * 4), *sel2;
            uint64_t *o64 = (uint64_t *)malloc(cnt * 8);
            cairn_pk a;
            sel2 = (uint32_t *)malloc((cnt + 8) * 4);
            for (i = 0; i < len; i++) p[i] = (uint8_t)rnd();
            if (len && (cnt * w) % 8) p[len - 1] &= (uint8_t)((1u << ((cnt * w) % 8)) - 1);
            for (i = 0; i < (cnt + 7) / 8; i++) valid[i] = (uint8_t)(rnd() | (rn(2) ? 0xff : 0));
            a.p = p;
            a.len = len;
            a.w = w;
            a.count = cnt;
            for (i = 0; i < cnt; i++) ck_assert_uint_eq(cairn_seg__pk_get(&a, i), naive_code(p, w, i));
            for (rep = 0; rep < 6; rep++) {
                /* a window (aligned to a vector first, then anywhere) */
                size_t st = rep == 0 ? 0 : rep == 1 && cnt > 2048 ? 2048 : (size_t)rnd() % cnt;
                size_t n = 1 + (size_t)rnd() % (cnt - st < 2048 ? cnt - st : 2048), k = 0, k2, want;
                uint64_t lo = w ? rnd() % ((uint64_t)1 << w) : 0, hi = w ? rnd() % ((uint64_t)1 << w) : 0;
                if (rep < 2) n = cnt - st < 2048 ? cnt - st : 2048;
                if (lo > hi) {
                    uint64_t tmp = lo;
                    lo = hi;
                    hi = tmp;
                }
                if (rep == 3) hi = lo; /* an equality */
                cairn_seg__pk_window32(&a, st, n, out);
                cairn_seg__pk_window64(&a, st, n, o64);
                for (i = 0; i < n; i++) {
                    ck_assert_uint_eq(out[i], naive_code(p, w, st + i));
                    ck_assert_uint_eq(o64[i], naive_code(p, w, st + i));
                }
                /* a selection of the window: every row, or a random part */
                for (i = 0; i < n; i++)
                    if (rep == 0 || rn(3) == 0) sel[k++] = (uint32_t)i;
                cairn_seg__pk_gather32(&a, st, sel, k, out);
                for (j = 0; j < k; j++) ck_assert_uint_eq(out[j], naive_code(p, w, st + sel[j]));
                /* codes in [lo, hi] on the selection, with the validity bitmap */
                memcpy(sel2, sel, k * 4);
                k2 = cairn_seg__pk_range_keep(&a, st, sel2, k, lo, hi, valid);
                for (j = 0, want = 0; j < k; j++) {
                    size_t r = st + sel[j];
                    uint64_t c = naive_code(p, w, r);
                    if (c >= lo && c <= hi && ((valid[r >> 3] >> (r & 7)) & 1)) {
                        ck_assert_uint_lt(want, k2);
                        ck_assert_uint_eq(sel2[want], sel[j]);
                        want++;
                    }
                }
                ck_assert_uint_eq(k2, want);
                /* a table over the codes (widths up to 16) */
                if (w <= 16) {
                    size_t nl = (size_t)1 << w;
                    int bad = 0, wbad = 0;
                    for (i = 0; i < nl; i++) lut[i] = (uint8_t)(rn(3) == 0 ? 2 + rn(2) : rn(2));
                    memcpy(sel2, sel, k * 4);
                    k2 = cairn_seg__pk_lut_sel(&a, st, sel2, k, lut, rep & 1 ? valid : NULL, &bad);
                    for (j = 0, want = 0; j < k; j++) {
                        size_t r = st + sel[j];
                        uint8_t v = lut[naive_code(p, w, r)];
                        wbad |= (v & 2) != 0;
                        if ((v & 1) && (!(rep & 1) || ((valid[r >> 3] >> (r & 7)) & 1))) {
                            ck_assert_uint_eq(sel2[want], sel[j]);
                            want++;
                        }
                    }
                    ck_assert_uint_eq(k2, want);
                    ck_assert_int_eq(bad, wbad);
                }
#ifdef CAIRN_SEG_HAVE_RANGE_SEL
                if (cairn_seg__pk_range_ok(&a, st)) {
                    /* straight into a selection, and the word-at-a-time test of a selection */
                    k2 = cairn_seg__pk_range_sel(&a, st, n, lo, hi, sel2);
                    for (i = 0, want = 0; i < n; i++) {
                        uint64_t c = naive_code(p, w, st + i);
                        if (c >= lo && c <= hi) {
                            ck_assert_uint_lt(want, k2);
                            ck_assert_uint_eq(sel2[want], i);
                            want++;
                        }
                    }
                    ck_assert_uint_eq(k2, want);
                    {
                        /* the window as a row bitmap, and back to a selection */
                        uint64_t bits[32 + 1];
                        size_t nb = (n + 63) / 64;
                        bits[nb] = 0x5a5a5a5a5a5a5a5aull; /* not written past the window */
                        cairn_seg__pk_range_bits(&a, st, n, lo, hi, bits);
                        ck_assert_uint_eq(bits[nb], 0x5a5a5a5a5a5a5a5aull);
                        for (i = 0; i < nb * 64; i++) {
                            uint64_t c = i < n ? naive_code(p, w, st + i) : 0;
                            ck_assert_uint_eq((bits[i >> 6] >> (i & 63)) & 1, (uint64_t)(i < n && c >= lo && c <= hi));
                        }
                        ck_assert_uint_eq(cairn_seg__bits_sel(bits, n, out), k2);
                        for (j = 0; j < k2; j++) ck_assert_uint_eq(out[j], sel2[j]);
                    }
                    memcpy(sel2, sel, k * 4);
                    k2 = cairn_seg__pk_range_keepw(&a, st, n, lo, hi, sel2, k, valid);
                    for (j = 0, want = 0; j < k; j++) {
                        size_t r = st + sel[j];
                        uint64_t c = naive_code(p, w, r);
                        if (c >= lo && c <= hi && ((valid[r >> 3] >> (r & 7)) & 1)) {
                            ck_assert_uint_eq(sel2[want], sel[j]);
                            want++;
                        }
                    }
                    ck_assert_uint_eq(k2, want);
                }
#endif
            }
            free(p);
            free(valid);
            free(lut);
            free(out);
            free(sel);
            free(sel2);
            free(o64);
        }
}
END_TEST

/* ---- order, limit, offset against a naive sort ---- */

static const model *g_sm;
static int g_skey[3], g_sdesc[3], g_nkey;

static int sort_cmp(const void *x, const void *y) {
    const mrow *a = &g_sm->r[*(const size_t *)x], *b = &g_sm->r[*(const size_t *)y];
    int k;
    for (k = 0; k < g_nkey; k++) {
        int c = g_skey[k], r;
        const mval *va = &a->v[c], *vb = &b->v[c];
        mval kb;
        if (va->null || vb->null) {
            if (va->null && vb->null) continue;
            return va->null ? 1 : -1;
        }
        kb = *vb;
        kb.f = KIND[c] == K_INT || KIND[c] == K_BOOL ? (double)vb->i : vb->f;
        r = cmpv(c, va, &kb);
        if (r) return g_sdesc[k] ? -r : r;
    }
    return a->id < b->id ? -1 : a->id > b->id;
}

START_TEST(t_order) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    model m;
    int round, c;
    memset(&m, 0, sizeof m);
    g_rng = 4242;
    for (c = 0; c < NC; c++) m.mode[c] = c % 2;
    o.schema = SCHEMA;
    o.sync = CAIRN_SYNC_NONE;
    o.checkpoint_rows = 700;
    OK(cairn_table_open(&t, ct_path("order"), &o));
    load_rows(t, &m, 3001);
    insert_rows(t, &m, 900);
    delete_some(t, &m, 100);
    update_some(t, &m, 100);
    for (round = 0; round < 60; round++) {
        size_t *idx = (size_t *)malloc(m.n * sizeof(size_t)), nl = 0, i, lim, off, got, k;
        uint64_t *ids;
        char ord[256], *res = NULL;
        size_t oo = 0;
        pnode *p = round % 2 ? gen_pred(&m, 1) : NULL;
        char w[8192], pr[8192];
        size_t wo = 0, po = 0;
        g_nkey = 1 + rn(3);
        for (k = 0; k < (size_t)g_nkey; k++) {
            g_skey[k] = rn(NC);
            g_sdesc[k] = rn(2);
            oo += (size_t)snprintf(ord + oo, sizeof ord - oo, "%s\"%s%s\"", k ? "," : "", g_sdesc[k] ? "-" : "", CN[g_skey[k]]);
        }
        for (i = 0; i < m.n; i++)
            if (m.r[i].alive && (!p || eval(p, &m.r[i]) == 1)) idx[nl++] = i;
        g_sm = &m;
        qsort(idx, nl, sizeof *idx, sort_cmp);
        lim = rn(3) == 0 ? nl + 5 : (size_t)rn(40);
        off = rn(2) ? 0 : (size_t)rn((int)nl + 2);
        pr[po++] = '[';
        if (p) to_text(p, w, &wo, sizeof w, pr, &po, sizeof pr);
        else w[0] = 0;
        pr[po++] = ']';
        pr[po] = 0;
        snprintf(g_q, sizeof g_q, "{\"where\":\"%s\",\"params\":%s,\"columns\":[\"_id\"],\"order\":[%s],\"limit\":%zu,\"offset\":%zu}",
                 w, pr, ord, lim, off);
        OK(cairn_table_query_json(t, g_q, &res));
        ids = (uint64_t *)malloc((nl + 1) * 8);
        got = parse_ids(res, ids, nl + 1);
        {
            size_t want = off >= nl ? 0 : (nl - off < lim ? nl - off : lim);
            ck_assert_msg(got == want, "%s: %zu rows, want %zu", g_q, got, want);
            for (i = 0; i < want; i++)
                ck_assert_msg(ids[i] == m.r[idx[off + i]].id, "%s: row %zu is %llu, want %llu", g_q, i,
                              (unsigned long long)ids[i], (unsigned long long)m.r[idx[off + i]].id);
        }
        free(ids);
        free(idx);
        cairn_free(res);
        free_p(p);
    }
    cairn_table_close(t);
    free(m.r);
}
END_TEST

/* ---- the other column types: i8, i16, u16, u32, u64, f32, bytes:N ---- */

START_TEST(t_types) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    char row[512], q[512];
    int i, k;
    static const struct { const char *where; int col; double lo, hi; } preds[] = {
        {"a > -3.5", 0, -3, 1e30}, {"a <= 100", 0, -1e30, 100}, {"b BETWEEN -300 AND 299.5", 1, -300, 299},
        {"c >= 65535", 2, 65535, 1e30}, {"c < 1.5", 2, -1e30, 1}, {"d > 4294967294", 3, 4294967295.0, 1e30},
        {"e >= 18446744073709551615", 4, 18446744073709551615.0, 1e30}, {"e < 10", 4, -1e30, 9},
        {"f > 0.1", 5, 0.1, 1e30}, {"f <= 0.25", 5, -1e30, 0.25}, {"f = 0.1", 5, 0.1, 0.1}};
    o.schema = "a i8, b i16, c u16, d u32, e u64, f f32, g bytes:2 null";
    o.sync = CAIRN_SYNC_NONE;
    o.checkpoint_rows = 100;
    OK(cairn_table_open(&t, ct_path("types"), &o));
    for (i = 0; i < 301; i++) {
        int a = (i % 256) - 128, b = (i * 37) % 2001 - 1000;
        unsigned c = i % 3 == 0 ? 65535u : (unsigned)i, d = i % 5 == 0 ? 4294967295u : (unsigned)i * 1000u;
        unsigned long long e = i % 7 == 0 ? 18446744073709551615ull : (unsigned long long)i;
        float f = (float)(i % 11) * 0.05f;
        if (i % 13 == 0) f = 0.1f;
        snprintf(row, sizeof row, "{\"a\":%d,\"b\":%d,\"c\":%u,\"d\":%u,\"e\":%llu,\"f\":%.9g,\"g\":%s}", a, b, c, d, e, (double)f,
                 i % 4 == 0 ? "null" : i % 4 == 1 ? "{\"$bytes\":\"0001\"}" : "{\"$bytes\":\"ff00\"}");
        OK(cairn_table_insert_json(t, row, NULL));
    }
    for (k = 0; k < (int)(sizeof preds / sizeof preds[0]); k++) {
        uint64_t n = 0, want = 0;
        for (i = 0; i < 301; i++) {
            double v;
            switch (preds[k].col) {
            case 0: v = (i % 256) - 128; break;
            case 1: v = (i * 37) % 2001 - 1000; break;
            case 2: v = i % 3 == 0 ? 65535 : i; break;
            case 3: v = i % 5 == 0 ? 4294967295.0 : (double)i * 1000; break;
            case 4: v = i % 7 == 0 ? 18446744073709551615.0 : i; break;
            default: {
                float f = (float)(i % 11) * 0.05f;
                if (i % 13 == 0) f = 0.1f;
                v = (double)f; /* the f32 value, exactly */
                break;
            }
            }
            want += v >= preds[k].lo && v <= preds[k].hi;
        }
        snprintf(q, sizeof q, "{\"where\":\"%s\"}", preds[k].where);
        OK(cairn_table_count_where_json(t, q, &n));
        ck_assert_msg(n == want, "%s: %llu, want %llu", preds[k].where, (unsigned long long)n, (unsigned long long)want);
    }
    {
        uint64_t n = 0;
        OK(cairn_table_count_where_json(t, "{\"where\":\"g = x'ff00'\"}", &n));
        ck_assert_uint_eq(n, 150);
        OK(cairn_table_count_where_json(t, "{\"where\":\"g STARTS WITH x'00' OR g IS NULL\"}", &n));
        ck_assert_uint_eq(n, 151);
        OK(cairn_table_count_where_json(t, "{\"where\":\"g > x'00'\"}", &n));
        ck_assert_uint_eq(n, 225);
    }
    cairn_table_close(t);
}
END_TEST

/* ---- a dictionary code past the dictionary ----
 * A segment whose CRC is right but one of whose DICT codes lies past its dictionary was written
 * wrong: the filter (whose kernels test codes against a range) answers CAIRN_CORRUPT naming the
 * segment's file and offset, as the decoder does, through count_where, a select and aggregates. */

static int naive_any_ge(const cairn_pk *a, uint64_t lim) {
    size_t i;
    for (i = 0; i < a->count; i++)
        if (cairn_seg__pk_get(a, i) >= lim) return 1;
    return 0;
}

START_TEST(t_dict_code_past_end) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    char row[128], segpath[4096] = "";
    const size_t N = 3000;
    size_t i, len = 0, at, forged = 0;
    uint8_t *b;
    uint64_t n = 0;
    char *res = NULL;
    static const char *qs[] = {
        "{\"where\":\"s = 'v3'\",\"columns\":[\"k\"]}",
        "{\"where\":\"s = 'v3'\",\"aggregates\":[{\"fn\":\"sum\",\"column\":\"k\",\"as\":\"x\"}]}",
        "{\"where\":\"s = 'v3'\",\"aggregates\":[{\"fn\":\"count\",\"as\":\"n\"}]}",
        "{\"where\":\"s IN ('v3', 'v4') AND k >= 0\",\"aggregates\":[{\"fn\":\"max\",\"column\":\"k\",\"as\":\"m\"}]}",
    };
    /* pk_any_ge against a naive reading, every width up to 20 and a few limits */
    {
        uint8_t buf[600];
        unsigned w;
        for (w = 0; w <= 20; w++) {
            cairn_pk a;
            uint64_t lim;
            for (i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(rnd() & (w & 1 ? 0x55 : 0x33));
            a.p = buf;
            a.w = w;
            a.count = w ? (sizeof buf * 8) / w - (w & 3) : 100;
            a.len = (a.count * w + 7) / 8;
            for (lim = 0; lim < 40; lim++) ck_assert_int_eq(cairn_seg__pk_any_ge(&a, lim), naive_any_ge(&a, lim));
            for (lim = 1; w && w < 64 && lim <= ((uint64_t)1 << w); lim <<= 1)
                ck_assert_int_eq(cairn_seg__pk_any_ge(&a, lim), naive_any_ge(&a, lim));
            if (w) { /* one code at the end of the array past every limit but 2^w */
                for (i = 0; i < a.len; i++) buf[i] = 0;
                for (i = 0; i < w; i++) buf[((a.count - 1) * w + i) / 8] |= (uint8_t)(1u << (((a.count - 1) * w + i) % 8));
                ck_assert_int_eq(cairn_seg__pk_any_ge(&a, ((uint64_t)1 << w) - 1), 1);
                ck_assert_int_eq(cairn_seg__pk_any_ge(&a, (uint64_t)1 << w), 0);
            }
        }
    }
    o.schema = "k i32, s string";
    o.sync = CAIRN_SYNC_NONE;
    o.checkpoint_rows = 1000;
    OK(cairn_table_open(&t, ct_path("dpast"), &o));
    for (i = 0; i < N; i++) {
        snprintf(row, sizeof row, "{\"k\":%zu,\"s\":\"v%zu\"}", i, (i * 7) % 10);
        OK(cairn_table_insert_json(t, row, NULL));
    }
    OK(cairn_table_count_where_json(t, "{\"where\":\"s = 'v3'\"}", &n));
    ck_assert_uint_eq(n, N / 10);
    cairn_table_close(t);
    /* the first DICT segment of s (10 values, 4-bit codes): row 5's code (v5) becomes 15 */
    {
        DIR *dir = opendir(ct_path("dpast"));
        struct dirent *de;
        ck_assert_ptr_nonnull(dir);
        while (!forged && (de = readdir(dir)) != NULL) {
            FILE *f;
            if (strncmp(de->d_name, "seg-", 4) != 0) continue;
            snprintf(segpath, sizeof segpath, "%s/%s", ct_path("dpast"), de->d_name);
            f = fopen(segpath, "rb");
            ck_assert_ptr_nonnull(f);
            fseek(f, 0, SEEK_END);
            len = (size_t)ftell(f);
            fseek(f, 0, SEEK_SET);
            b = (uint8_t *)malloc(len + 1);
            ck_assert_uint_eq(fread(b, 1, len, f), len);
            fclose(f);
            for (at = 0; !forged && at + 84 <= len; at++) {
                cairn_segl l;
                size_t sl;
                if (memcmp(b + at, "CSEG", 4) != 0 || b[at + 5] != CAIRN_TYPE_STRING || b[at + 6] != CAIRN_SEG_DICT) continue;
                sl = 80 + (size_t)cairn_get64(b + at + 16) + 4;
                ck_assert_uint_le(at + sl, len);
                OK(cairn_seg__layout(b + at, sl, CAIRN_TYPE_STRING, 0, &l));
                ck_assert_uint_eq(l.nv, 10);
                ck_assert_uint_eq(l.codes.w, 4);
                ck_assert_int_eq(cairn_seg__pk_any_ge(&l.codes, l.nv), 0);
                {
                    uint8_t *c = (uint8_t *)l.codes.p + 5 / 2; /* row 5: the high nibble of byte 2 */
                    *c |= 0xf0;
                }
                ck_assert_int_eq(cairn_seg__pk_any_ge(&l.codes, l.nv), 1);
                cairn_put32(b + at + sl - 4, cairn_crc32c__update(0, b + at, sl - 4));
                OK(cairn_seg__check(b + at, sl, CAIRN_TYPE_STRING, 0));
                f = fopen(segpath, "wb");
                ck_assert_ptr_nonnull(f);
                ck_assert_uint_eq(fwrite(b, 1, len, f), len);
                fclose(f);
                forged = 1;
            }
            free(b);
        }
        closedir(dir);
        ck_assert_msg(forged, "no DICT segment of s found");
    }
    OK(cairn_table_open(&t, ct_path("dpast"), &o));
    ERR(CAIRN_CORRUPT, cairn_table_count_where_json(t, "{\"where\":\"s = 'v3'\"}", &n));
    ck_assert_msg(strstr(cairn_errmsg(), strrchr(segpath, '/') + 1) != NULL, "%s", cairn_errmsg());
    ck_assert_msg(strstr(cairn_errmsg(), "offset") != NULL, "%s", cairn_errmsg());
    ck_assert_msg(strstr(cairn_errmsg(), "dictionary code") != NULL, "%s", cairn_errmsg());
    ERR(CAIRN_CORRUPT, cairn_table_count_where_json(t, "{\"where\":\"s = 'v5'\"}", &n));
    for (i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        int rc = cairn_table_query_json(t, qs[i], &res);
        ck_assert_msg(rc == CAIRN_CORRUPT, "%s: %s %s", qs[i], cairn_errname(rc), res ? res : "");
        ck_assert_msg(strstr(cairn_errmsg(), strrchr(segpath, '/') + 1) != NULL, "%s", cairn_errmsg());
        ck_assert_ptr_null(res);
    }
    cairn_table_close(t);
}
END_TEST

/* ---- errors ---- */

START_TEST(t_errors) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    char *res = NULL;
    uint64_t n = 0;
    static const struct { const char *q; int code; const char *msg; } cases[] = {
        {"{\"where\":\"zz = 1\"}", CAIRN_SCHEMA, "zz"},
        {"{\"where\":[\"zz\",\"=\",1]}", CAIRN_SCHEMA, "zz"},
        {"{\"where\":{\"zz\":1}}", CAIRN_SCHEMA, "zz"},
        {"{\"where\":\"a ~ 1\"}", CAIRN_INVALID, "~"},
        {"{\"where\":\"a LIKE 1\"}", CAIRN_INVALID, "LIKE"},
        {"{\"where\":[\"a\",\"like\",1]}", CAIRN_INVALID, "like"},
        {"{\"where\":{\"a\":{\"near\":1}}}", CAIRN_INVALID, "near"},
        {"{\"where\":{\"$xor\":[]}}", CAIRN_INVALID, "$xor"},
        {"{\"where\":\"a > \"}", CAIRN_INVALID, "position 4"},
        {"{\"where\":\"(a > 1\"}", CAIRN_INVALID, "position"},
        {"{\"where\":\"a > 1 b\"}", CAIRN_INVALID, "position 6"},
        {"{\"where\":\"d = 'x\"}", CAIRN_INVALID, "position"},
        {"{\"where\":\"g = x'0'\"}", CAIRN_INVALID, "position"},
        {"{\"where\":\"a BETWEEN 1 2\"}", CAIRN_INVALID, "AND"},
        {"{\"where\":\"a IN 1\"}", CAIRN_INVALID, "("},
        {"{\"where\":\"a > ?\"}", CAIRN_INVALID, "param"},
        {"{\"where\":\"a > ?\",\"params\":[1,2]}", CAIRN_INVALID, "param"},
        {"{\"where\":\"a > 1\",\"params\":[1]}", CAIRN_INVALID, "param"},
        {"{\"where\":\"a = 'x'\"}", CAIRN_TYPE, "a"},
        {"{\"where\":\"d = 1\"}", CAIRN_TYPE, "d"},
        {"{\"where\":\"e = 1\"}", CAIRN_TYPE, "e"},
        {"{\"where\":\"g = 'x'\"}", CAIRN_TYPE, "g"},
        {"{\"where\":\"a STARTS WITH 'x'\"}", CAIRN_TYPE, "a"},
        {"{\"where\":[\"a\",\"in\",3]}", CAIRN_TYPE, "a"},
        {"{\"where\":[\"a\",\"between\",[1]]}", CAIRN_INVALID, "a"},
        {"{\"where\":[\"a\",\"is null\",1]}", CAIRN_INVALID, "is null"},
        {"{\"where\":5}", CAIRN_INVALID, "WHERE"},
        {"{\"where\":\"a = 1\"", CAIRN_INVALID, "JSON"},
        {"[]", CAIRN_INVALID, "object"},
        {"{\"nope\":1}", CAIRN_INVALID, "nope"},
    };
    size_t i;
    o.schema = SCHEMA;
    OK(cairn_table_open(&t, ct_path("err"), &o));
    OK(cairn_table_insert_json(t, "{\"b\":1,\"f\":2}", NULL));
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = cairn_table_query_json(t, cases[i].q, &res);
        ck_assert_msg(rc == cases[i].code, "%s: got %s (%s), want %s", cases[i].q, cairn_errname(rc), cairn_errmsg(),
                      cairn_errname(cases[i].code));
        ck_assert_msg(strstr(cairn_errmsg(), cases[i].msg) != NULL, "%s: message '%s' lacks '%s'", cases[i].q, cairn_errmsg(),
                      cases[i].msg);
        ck_assert_ptr_null(res);
        if (strcmp(cases[i].q, "{\"nope\":1}") != 0) {
            rc = cairn_table_count_where_json(t, cases[i].q, &n);
            ck_assert_msg(rc == cases[i].code, "count %s: got %s, want %s", cases[i].q, cairn_errname(rc), cairn_errname(cases[i].code));
        }
    }
    /* count_where ignores the keys it does not use */
    OK(cairn_table_count_where_json(t, "{\"nope\":1,\"where\":\"b = 1\"}", &n));
    ck_assert_uint_eq(n, 1);
    ERR(CAIRN_INVALID, cairn_table_query_json(NULL, "{}", &res));
    ERR(CAIRN_INVALID, cairn_table_query_json(t, "{}", NULL));
    ERR(CAIRN_INVALID, cairn_table_count_where_json(t, "{}", NULL));
    ERR(CAIRN_INVALID, cairn_table_query_json(t, NULL, &res));
    cairn_table_close(t);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("random");
    tcase_add_checked_fixture(tc, mk_tmp, rm_tmp);
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, t_small_counts, 0, 2);
    tcase_add_test(tc, t_large);
    tcase_add_test(tc, t_kernels);
    tcase_add_test(tc, t_seg_scan);
    tcase_add_test(tc, t_order);
    tcase_add_test(tc, t_types);
    tcase_add_test(tc, t_errors);
    tcase_add_test(tc, t_dict_code_past_end);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *r = srunner_create(suite());
    int nf;
    srunner_run_all(r, CK_NORMAL);
    nf = srunner_ntests_failed(r);
    srunner_free(r);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
