/*
 * query_expr.c - the WHERE of a query in its three forms (text with ? params, triples and lists of
 * them, $and/$or/$not objects and the dict shorthand) compiled into a tree whose leaves are
 * (column, range or set, constant converted once to the column's domain); the query JSON parsed
 * into a qspec; the tree's evaluation over vectors (three-valued logic) and over zone maps.
 *
 * Comparisons follow cairn/table.h: a comparison with null is unknown; integers, timestamps and
 * floats compare by exact numeric value (a float constant against an integer column becomes an
 * integer range: n > 2.5 is n >= 3, n = 2.5 matches no row); NaN equals NaN and is above every
 * number (as it sorts); strings and bytes compare bytewise. NOT x is unknown where x is.
 */
#include "table/query_int.h"

#if defined(__GNUC__) && !defined(__clang__)
/* the predicate loops below are written to vectorise; -O2's very cheap cost model leaves most */
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- a small JSON tree (the query is small) ---- */

enum { J_NULL = 1, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
    int t;
    size_t pos;         /* byte offset in the text */
    char *s;            /* J_STR: decoded (NUL-terminated); J_NUM: the token */
    size_t slen;
    struct jv *kid;     /* J_ARR/J_OBJ: values */
    char **key;         /* J_OBJ: keys (NUL-terminated) */
    size_t *klen;
    size_t n;
} jv;

static void jv_free(jv *v) {
    size_t i;
    if (!v) return;
    free(v->s);
    for (i = 0; i < v->n; i++) {
        jv_free(&v->kid[i]);
        if (v->key) free(v->key[i]);
    }
    free(v->kid);
    free(v->key);
    free(v->klen);
    memset(v, 0, sizeof *v);
}

static int jbad(size_t pos, const char *what) {
    return cairn_err__set(CAIRN_INVALID, "invalid JSON: %s at byte %zu", what, pos);
}

static int jstr(const char *s, size_t n, size_t *pos, char **out, size_t *len) {
    tbuf b = {0, 0, 0};
    int rc = cairn_tbl__json_string(s, n, pos, &b);
    if (!rc && tbuf_put(&b, "", 1)) rc = CAIRN_NOMEM;
    if (rc) {
        free(b.p);
        return rc;
    }
    *out = (char *)b.p;
    *len = b.n - 1;
    return 0;
}

static int jparse(const char *s, size_t n, size_t *pos, jv *out, int depth) {
    size_t i;
    int rc;
    memset(out, 0, sizeof *out);
    cairn_tbl__json_ws(s, n, pos);
    i = *pos;
    out->pos = i;
    if (depth > 200) return jbad(i, "nested too deep");
    if (i >= n) return jbad(i, "expected a value");
    if (s[i] == '"') {
        out->t = J_STR;
        return jstr(s, n, pos, &out->s, &out->slen);
    }
    if (s[i] == '[' || s[i] == '{') {
        int obj = s[i] == '{';
        char close = obj ? '}' : ']';
        size_t cap = 0;
        out->t = obj ? J_OBJ : J_ARR;
        *pos = i + 1;
        cairn_tbl__json_ws(s, n, pos);
        if (*pos < n && s[*pos] == close) {
            (*pos)++;
            return 0;
        }
        for (;;) {
            if (out->n == cap) {
                size_t nc = cap ? cap * 2 : 4;
                jv *nk = (jv *)realloc(out->kid, nc * sizeof *nk);
                if (!nk) return cairn_err__set(CAIRN_NOMEM, "out of memory");
                out->kid = nk;
                if (obj) {
                    char **kk = (char **)realloc(out->key, nc * sizeof *kk);
                    size_t *kl;
                    if (!kk) return cairn_err__set(CAIRN_NOMEM, "out of memory");
                    out->key = kk;
                    if (!(kl = (size_t *)realloc(out->klen, nc * sizeof *kl))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
                    out->klen = kl;
                }
                cap = nc;
            }
            memset(&out->kid[out->n], 0, sizeof(jv));
            if (obj) {
                out->key[out->n] = NULL;
                cairn_tbl__json_ws(s, n, pos);
                if ((rc = jstr(s, n, pos, &out->key[out->n], &out->klen[out->n])) != 0) {
                    out->n++;
                    return rc;
                }
                cairn_tbl__json_ws(s, n, pos);
                if (*pos >= n || s[*pos] != ':') {
                    out->n++;
                    return jbad(*pos, "expected ':'");
                }
                (*pos)++;
            }
            rc = jparse(s, n, pos, &out->kid[out->n], depth + 1);
            out->n++;
            if (rc) return rc;
            cairn_tbl__json_ws(s, n, pos);
            if (*pos < n && s[*pos] == ',') {
                (*pos)++;
                continue;
            }
            if (*pos < n && s[*pos] == close) {
                (*pos)++;
                return 0;
            }
            return jbad(*pos, "expected ',' or a closing bracket");
        }
    }
    if (n - i >= 4 && memcmp(s + i, "null", 4) == 0) {
        out->t = J_NULL;
        *pos = i + 4;
        return 0;
    }
    if (n - i >= 4 && memcmp(s + i, "true", 4) == 0) {
        out->t = J_TRUE;
        *pos = i + 4;
        return 0;
    }
    if (n - i >= 5 && memcmp(s + i, "false", 5) == 0) {
        out->t = J_FALSE;
        *pos = i + 5;
        return 0;
    }
    if (s[i] == '-' || isdigit((unsigned char)s[i])) {
        size_t k = i;
        if (s[k] == '-') k++;
        if (k >= n || !isdigit((unsigned char)s[k])) return jbad(k, "bad number");
        if (s[k] == '0' && k + 1 < n && isdigit((unsigned char)s[k + 1])) return jbad(k, "leading zero in a number");
        while (k < n && isdigit((unsigned char)s[k])) k++;
        if (k < n && s[k] == '.') {
            k++;
            if (k >= n || !isdigit((unsigned char)s[k])) return jbad(k, "bad number");
            while (k < n && isdigit((unsigned char)s[k])) k++;
        }
        if (k < n && (s[k] == 'e' || s[k] == 'E')) {
            k++;
            if (k < n && (s[k] == '+' || s[k] == '-')) k++;
            if (k >= n || !isdigit((unsigned char)s[k])) return jbad(k, "bad number");
            while (k < n && isdigit((unsigned char)s[k])) k++;
        }
        out->t = J_NUM;
        if (!(out->s = (char *)malloc(k - i + 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        memcpy(out->s, s + i, k - i);
        out->s[k - i] = 0;
        out->slen = k - i;
        *pos = k;
        return 0;
    }
    return jbad(i, "expected a value");
}

/* the whole text as one JSON value */
static int jparse_all(const char *s, size_t n, jv *out) {
    size_t pos = 0;
    int rc = jparse(s, n, &pos, out, 0);
    if (!rc) {
        cairn_tbl__json_ws(s, n, &pos);
        if (pos != n) rc = jbad(pos, "trailing characters");
    }
    if (rc) jv_free(out);
    return rc;
}

static const jv *jget(const jv *o, const char *key) {
    size_t i;
    if (o->t != J_OBJ) return NULL;
    for (i = 0; i < o->n; i++)
        if (strcmp(o->key[i], key) == 0) return &o->kid[i];
    return NULL;
}

/* ---- literals ---- */

enum { LK_NULL = 1, LK_BOOL, LK_INT, LK_FLT, LK_STR, LK_BYTES };

typedef struct qlit {
    int k;
    int b;             /* LK_BOOL */
    int neg;           /* LK_INT: -mag when neg */
    uint64_t mag;
    double d;          /* LK_FLT (also set for LK_INT) */
    uint8_t *s;        /* LK_STR / LK_BYTES (owned) */
    size_t n;
} qlit;

static void lit_free(qlit *l) {
    free(l->s);
    l->s = NULL;
}

static int hexv(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int lit_hex(const char *h, size_t n, qlit *l, const char *ctx) {
    size_t i;
    if (n % 2) return cairn_err__set(CAIRN_TYPE, "%s: bytes need an even number of hex digits", ctx);
    l->k = LK_BYTES;
    l->n = n / 2;
    if (!(l->s = (uint8_t *)malloc(l->n + 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (i = 0; i < l->n; i++) {
        int a = hexv((unsigned char)h[2 * i]), b = hexv((unsigned char)h[2 * i + 1]);
        if (a < 0 || b < 0) return cairn_err__set(CAIRN_TYPE, "%s: bytes hold a non-hex character", ctx);
        l->s[i] = (uint8_t)(a * 16 + b);
    }
    return 0;
}

/* a number token (JSON or text syntax) */
static int lit_number(const char *tok, size_t len, qlit *l) {
    size_t i = 0;
    int isint = 1;
    char buf[512];
    memset(l, 0, sizeof *l);
    if (len >= sizeof buf) len = sizeof buf - 1;
    memcpy(buf, tok, len);
    buf[len] = 0;
    if (buf[0] == '-') {
        l->neg = 1;
        i = 1;
    }
    for (; i < len; i++) {
        if (!isdigit((unsigned char)buf[i])) {
            isint = 0;
            break;
        }
        if (l->mag > (UINT64_MAX - (unsigned)(buf[i] - '0')) / 10) {
            isint = 0;
            break;
        }
        l->mag = l->mag * 10 + (unsigned)(buf[i] - '0');
    }
    l->d = strtod(buf, NULL);
    l->k = isint ? LK_INT : LK_FLT;
    if (isint && l->neg && l->mag == 0) l->neg = 0;
    return 0;
}

/* a JSON value as a literal ({"$bytes": hex}, {"$f64": "nan"|"inf"|"-inf"} included) */
static int lit_json(const jv *v, qlit *l, const char *ctx) {
    memset(l, 0, sizeof *l);
    switch (v->t) {
    case J_NULL: l->k = LK_NULL; return 0;
    case J_TRUE: case J_FALSE: l->k = LK_BOOL; l->b = v->t == J_TRUE; return 0;
    case J_NUM: return lit_number(v->s, v->slen, l);
    case J_STR:
        l->k = LK_STR;
        l->n = v->slen;
        if (!(l->s = (uint8_t *)malloc(v->slen + 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        memcpy(l->s, v->s, v->slen + 1);
        return 0;
    case J_OBJ:
        if (v->n == 1 && strcmp(v->key[0], "$bytes") == 0 && v->kid[0].t == J_STR)
            return lit_hex(v->kid[0].s, v->kid[0].slen, l, ctx);
        if (v->n == 1 && strcmp(v->key[0], "$f64") == 0 && v->kid[0].t == J_STR) {
            const char *x = v->kid[0].s;
            l->k = LK_FLT;
            if (strcmp(x, "nan") == 0) l->d = NAN;
            else if (strcmp(x, "inf") == 0) l->d = INFINITY;
            else if (strcmp(x, "-inf") == 0) l->d = -INFINITY;
            else return cairn_err__set(CAIRN_TYPE, "%s: $f64 must be \"nan\", \"inf\" or \"-inf\"", ctx);
            return 0;
        }
        return cairn_err__set(CAIRN_TYPE, "%s: got an object", ctx);
    default: return cairn_err__set(CAIRN_TYPE, "%s: got an array", ctx);
    }
}

static const char *lit_kind(const qlit *l) {
    switch (l->k) {
    case LK_BOOL: return "a boolean";
    case LK_INT: return "an integer";
    case LK_FLT: return "a number";
    case LK_STR: return "a string";
    case LK_BYTES: return "bytes";
    default: return "null";
    }
}

/* ---- the compiler ---- */

typedef struct qc {
    cairn_table *t;
    const jv *params;    /* J_ARR or NULL */
    size_t pused;
    /* text WHERE */
    const char *src;
    size_t n, pos;
} qc;

enum { OP_EQ = 1, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN, OP_BETWEEN, OP_NOTBETWEEN, OP_ISNULL,
       OP_NOTNULL, OP_PREFIX };

void cairn_tbl__where_free(qexpr *e) {
    size_t i;
    if (!e) return;
    for (i = 0; i < e->nkid; i++) cairn_tbl__where_free(e->kid[i]);
    free(e->kid);
    free(e->lo);
    free(e->hi);
    free(e);
}

static qexpr *node(int kind) {
    qexpr *e = (qexpr *)calloc(1, sizeof *e);
    if (!e) cairn_err__set(CAIRN_NOMEM, "out of memory");
    else e->kind = kind;
    return e;
}

static int add_kid(qexpr *p, qexpr *k) {
    qexpr **nk = (qexpr **)realloc(p->kid, (p->nkid + 1) * sizeof *nk);
    if (!nk) {
        cairn_tbl__where_free(k);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    p->kid = nk;
    p->kid[p->nkid++] = k;
    return 0;
}

static const char *col_name(const cairn_table *t, int col) { return col == QCOL_ID ? "_id" : t->s.c[col].name; }
static int col_type(const cairn_table *t, int col) { return col == QCOL_ID ? CAIRN_TYPE_U64 : t->s.c[col].type; }

static int is_signed_t(int ty) { return (ty >= CAIRN_TYPE_I8 && ty <= CAIRN_TYPE_I64) || ty == CAIRN_TYPE_TIMESTAMP; }
static int is_unsigned_t(int ty) { return ty >= CAIRN_TYPE_U8 && ty <= CAIRN_TYPE_U64; }
static int is_float_t(int ty) { return ty == CAIRN_TYPE_F32 || ty == CAIRN_TYPE_F64; }
static int is_bytes_t(int ty) { return ty == CAIRN_TYPE_STRING || ty == CAIRN_TYPE_BYTES || ty == CAIRN_TYPE_FIXED; }

static void srange(int ty, int64_t *lo, int64_t *hi) {
    switch (ty) {
    case CAIRN_TYPE_I8: *lo = INT8_MIN; *hi = INT8_MAX; break;
    case CAIRN_TYPE_I16: *lo = INT16_MIN; *hi = INT16_MAX; break;
    case CAIRN_TYPE_I32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    default: *lo = INT64_MIN; *hi = INT64_MAX; break;
    }
}

static uint64_t urange(int ty) {
    switch (ty) {
    case CAIRN_TYPE_U8: return UINT8_MAX;
    case CAIRN_TYPE_U16: return UINT16_MAX;
    case CAIRN_TYPE_U32: return UINT32_MAX;
    case CAIRN_TYPE_BOOL: return 1;
    default: return UINT64_MAX;
    }
}

static int col_find(cairn_table *t, const char *name, size_t len, int allow_id, int *col) {
    size_t i;
    if (allow_id && len == 3 && memcmp(name, "_id", 3) == 0) {
        *col = QCOL_ID;
        return 0;
    }
    for (i = 0; i < t->s.n; i++)
        if (strlen(t->s.c[i].name) == len && memcmp(t->s.c[i].name, name, len) == 0) {
            *col = (int)i;
            return 0;
        }
    return cairn_err__set(CAIRN_SCHEMA, "unknown column '%.*s'", (int)(len > 200 ? 200 : len), name);
}

/* An extended integer: sat -1 below the domain, +1 above, 0 the value v (as int64 or uint64). */
typedef struct xint {
    int sat;
    int64_t i;
    uint64_t u;
} xint;

/* floor (up = 0) or ceil (up = 1) of a literal in the signed (sg = 1) or unsigned domain of 64 bits */
static xint lit_round(const qlit *l, int sg, int up) {
    xint x = {0, 0, 0};
    if (l->k == LK_INT) {
        if (sg) {
            if (l->neg) {
                if (l->mag > (uint64_t)INT64_MAX + 1u) x.sat = -1;
                else x.i = (int64_t)(0 - l->mag);
            } else if (l->mag > (uint64_t)INT64_MAX) x.sat = 1;
            else x.i = (int64_t)l->mag;
        } else {
            if (l->neg) x.sat = -1;
            else x.u = l->mag;
        }
        return x;
    }
    {
        double d = up ? ceil(l->d) : floor(l->d);
        if (isnan(d)) x.sat = 1; /* NaN: above every number */
        else if (sg) {
            if (d >= 9223372036854775808.0) x.sat = 1;
            else if (d < -9223372036854775808.0) x.sat = -1;
            else x.i = (int64_t)d;
        } else {
            if (d >= 18446744073709551616.0) x.sat = 1;
            else if (d < 0) x.sat = -1;
            else x.u = (uint64_t)d;
        }
    }
    return x;
}

/* set e to the integer range of `v op l` (op EQ/LT/LE/GT/GE) over the column's type */
static void int_leaf(qexpr *e, int ty, int op, const qlit *l) {
    int sg = is_signed_t(ty);
    xint fl = lit_round(l, sg, 0), ce = lit_round(l, sg, 1);
    int isnan_l = l->k == LK_FLT && isnan(l->d);
    int64_t smin, smax;
    uint64_t umax = urange(ty);
    /* lo/hi as extended ints; the domain is the type's range */
    xint lo = {-1, 0, 0}, hi = {1, 0, 0};
    int empty = 0;
    srange(ty, &smin, &smax);
    if (isnan_l) {
        /* NaN is above every number: v < NaN and v <= NaN hold for every v */
        if (op == OP_LT || op == OP_LE) e->lk = QL_FULL;
        else e->lk = QL_EMPTY;
        return;
    }
    switch (op) {
    case OP_EQ:
        if (fl.sat || ce.sat || (sg ? fl.i != ce.i : fl.u != ce.u)) empty = 1;
        else lo = hi = fl;
        break;
    case OP_LT: /* v <= ceil(c) - 1 */
        if (ce.sat < 0) empty = 1;
        else if (ce.sat == 0) {
            if (sg ? ce.i == INT64_MIN : ce.u == 0) empty = 1;
            else {
                hi = ce;
                if (sg) hi.i--;
                else hi.u--;
            }
        }
        break;
    case OP_LE:
        if (fl.sat < 0) empty = 1;
        else if (fl.sat == 0) hi = fl;
        break;
    case OP_GT: /* v >= floor(c) + 1 */
        if (fl.sat > 0) empty = 1;
        else if (fl.sat == 0) {
            if (sg ? fl.i == INT64_MAX : fl.u == UINT64_MAX) empty = 1;
            else {
                lo = fl;
                if (sg) lo.i++;
                else lo.u++;
            }
        }
        break;
    default: /* GE */
        if (ce.sat > 0) empty = 1;
        else if (ce.sat == 0) lo = ce;
        break;
    }
    if (empty) {
        e->lk = QL_EMPTY;
        return;
    }
    if (sg) {
        int64_t a = lo.sat ? smin : (lo.i < smin ? smin : lo.i);
        int64_t b = hi.sat ? smax : (hi.i > smax ? smax : hi.i);
        if ((!lo.sat && lo.i > smax) || (!hi.sat && hi.i < smin) || a > b) e->lk = QL_EMPTY;
        else if (a == smin && b == smax) e->lk = QL_FULL;
        else {
            e->lk = QL_INT;
            e->ilo = a;
            e->ihi = b;
        }
    } else {
        uint64_t a = lo.sat ? 0 : lo.u;
        uint64_t b = hi.sat ? umax : (hi.u > umax ? umax : hi.u);
        if ((!lo.sat && lo.u > umax) || a > b) e->lk = QL_EMPTY;
        else if (a == 0 && b == umax) e->lk = QL_FULL;
        else {
            e->lk = QL_UINT;
            e->ulo = a;
            e->uhi = b;
        }
    }
}

/* exact comparison of a double (integral, finite) with a literal integer: <0, 0, >0 */
static int cmp_d_int(double d, const qlit *l) {
    if (l->neg) {
        double m = -d; /* compare -d with mag: d < -mag <=> -d > mag */
        if (m < 0) return 1;
        if (m >= 18446744073709551616.0) return -1;
        {
            uint64_t x = (uint64_t)m;
            return x > l->mag ? -1 : x < l->mag ? 1 : 0;
        }
    }
    if (d < 0) return -1;
    if (d >= 18446744073709551616.0) return 1;
    {
        uint64_t x = (uint64_t)d;
        return x < l->mag ? -1 : x > l->mag ? 1 : 0;
    }
}

static void flt_leaf(qexpr *e, int op, const qlit *l) {
    double c = l->d;
    int exact = 1;
    e->lk = QL_FLT;
    e->nan = 0;
    if (l->k == LK_INT) {
        c = l->neg ? -(double)l->mag : (double)l->mag;
        exact = cmp_d_int(c, l) == 0;
    }
    if (isnan(c)) {
        e->flo = INFINITY;
        e->fhi = -INFINITY; /* no number */
        if (op == OP_LT) {
            e->flo = -INFINITY;
            e->fhi = INFINITY;
        } else if (op == OP_LE) {
            e->flo = -INFINITY;
            e->fhi = INFINITY;
            e->nan = 1;
        } else if (op == OP_EQ || op == OP_GE) e->nan = 1;
        return;
    }
    if (!exact) {
        /* c is an integer no double holds: v < c <=> v <= the largest double below c */
        double below = cmp_d_int(c, l) < 0 ? c : nextafter(c, -INFINITY);
        double above = cmp_d_int(c, l) > 0 ? c : nextafter(c, INFINITY);
        switch (op) {
        case OP_EQ: e->flo = INFINITY; e->fhi = -INFINITY; break;
        case OP_LT: case OP_LE: e->flo = -INFINITY; e->fhi = below; break;
        default: e->flo = above; e->fhi = INFINITY; e->nan = 1; break;
        }
        return;
    }
    switch (op) {
    case OP_EQ: e->flo = e->fhi = c; break;
    case OP_LT: e->flo = -INFINITY; e->fhi = nextafter(c, -INFINITY); break;
    case OP_LE: e->flo = -INFINITY; e->fhi = c; break;
    case OP_GT: e->flo = nextafter(c, INFINITY); e->fhi = INFINITY; e->nan = 1; break;
    default: e->flo = c; e->fhi = INFINITY; e->nan = 1; break;
    }
    if (c == INFINITY && op == OP_GT) {
        e->flo = INFINITY;
        e->fhi = -INFINITY;
    }
    if (c == -INFINITY && op == OP_LT) {
        e->flo = INFINITY;
        e->fhi = -INFINITY;
    }
}

static int type_err(const cairn_table *t, int col, const qlit *l) {
    const tcol *c = col == QCOL_ID ? NULL : &t->s.c[col];
    char ty[32];
    if (!c) snprintf(ty, sizeof ty, "u64");
    else if (c->type == CAIRN_TYPE_FIXED) snprintf(ty, sizeof ty, "bytes:%u", (unsigned)c->fixed_len);
    else snprintf(ty, sizeof ty, "%s", cairn_tbl__type_name(c->type));
    return cairn_err__set(CAIRN_TYPE, "column %s (%s): got %s", col_name(t, col), ty, lit_kind(l));
}

/* a comparison leaf `col op l` (op EQ LT LE GT GE PREFIX); a null literal gives unknown */
static int cmp_leaf(qc *c, int col, int op, const qlit *l, qexpr **out) {
    int ty = col_type(c->t, col);
    qexpr *e;
    *out = NULL;
    if (l->k == LK_NULL) {
        *out = node(QE_UNKNOWN);
        return *out ? 0 : CAIRN_NOMEM;
    }
    if (op == OP_PREFIX && !is_bytes_t(ty))
        return cairn_err__set(CAIRN_TYPE, "column %s: STARTS WITH needs a string or bytes column", col_name(c->t, col));
    if (is_signed_t(ty) || is_unsigned_t(ty) || is_float_t(ty)) {
        if (l->k != LK_INT && l->k != LK_FLT) return type_err(c->t, col, l);
    } else if (ty == CAIRN_TYPE_BOOL) {
        if (l->k != LK_BOOL) return type_err(c->t, col, l);
    } else if (ty == CAIRN_TYPE_STRING) {
        if (l->k != LK_STR) return type_err(c->t, col, l);
    } else if (l->k != LK_BYTES) return type_err(c->t, col, l);
    if (!(e = node(QE_LEAF))) return CAIRN_NOMEM;
    e->col = col;
    if (is_signed_t(ty) || is_unsigned_t(ty)) int_leaf(e, ty, op, l);
    else if (is_float_t(ty)) flt_leaf(e, op, l);
    else if (ty == CAIRN_TYPE_BOOL) {
        qlit x;
        memset(&x, 0, sizeof x);
        x.k = LK_INT;
        x.mag = (uint64_t)l->b;
        int_leaf(e, ty, op, &x);
    } else {
        uint8_t *cp = (uint8_t *)malloc(l->n + 1);
        if (!cp) {
            free(e);
            return cairn_err__set(CAIRN_NOMEM, "out of memory");
        }
        if (l->n) memcpy(cp, l->s, l->n);
        e->lk = op == OP_PREFIX ? QL_PREFIX : QL_BYTES;
        switch (op) {
        case OP_EQ: case OP_PREFIX:
            e->lo = cp;
            e->lolen = l->n;
            e->has_lo = 1;
            if (op == OP_EQ) {
                if (!(e->hi = (uint8_t *)malloc(l->n + 1))) {
                    cairn_tbl__where_free(e);
                    return cairn_err__set(CAIRN_NOMEM, "out of memory");
                }
                if (l->n) memcpy(e->hi, l->s, l->n);
                e->hilen = l->n;
                e->has_hi = 1;
            }
            break;
        case OP_LT: case OP_LE:
            e->hi = cp;
            e->hilen = l->n;
            e->has_hi = 1;
            e->hi_open = op == OP_LT;
            break;
        default:
            e->lo = cp;
            e->lolen = l->n;
            e->has_lo = 1;
            e->lo_open = op == OP_GT;
            break;
        }
    }
    *out = e;
    return 0;
}

static int wrap_not(qexpr **e) {
    qexpr *n = node(QE_NOT);
    if (!n) {
        cairn_tbl__where_free(*e);
        *e = NULL;
        return CAIRN_NOMEM;
    }
    n->kid = (qexpr **)malloc(sizeof(qexpr *));
    if (!n->kid) {
        free(n);
        cairn_tbl__where_free(*e);
        *e = NULL;
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    n->kid[0] = *e;
    n->nkid = 1;
    *e = n;
    return 0;
}

/* build a predicate from (col, op, literals) */
static int pred(qc *c, int col, int op, qlit *lits, size_t nl, qexpr **out) {
    qexpr *e = NULL;
    int rc = 0;
    size_t i;
    *out = NULL;
    switch (op) {
    case OP_ISNULL: case OP_NOTNULL:
        if (!(e = node(QE_LEAF))) return CAIRN_NOMEM;
        e->col = col;
        e->lk = QL_ISNULL;
        if (op == OP_NOTNULL && (rc = wrap_not(&e)) != 0) return rc;
        break;
    case OP_NE:
        if ((rc = cmp_leaf(c, col, OP_EQ, &lits[0], &e)) != 0) return rc;
        if ((rc = wrap_not(&e)) != 0) return rc;
        break;
    case OP_IN: case OP_NOTIN:
        if (!(e = node(QE_OR))) return CAIRN_NOMEM;
        for (i = 0; i < nl; i++) {
            qexpr *k;
            if ((rc = cmp_leaf(c, col, OP_EQ, &lits[i], &k)) != 0) break;
            if ((rc = add_kid(e, k)) != 0) break;
        }
        if (rc) {
            cairn_tbl__where_free(e);
            return rc;
        }
        if (e->nkid == 0) e->kind = QE_FALSE;
        if (op == OP_NOTIN && (rc = wrap_not(&e)) != 0) return rc;
        break;
    case OP_BETWEEN: case OP_NOTBETWEEN: {
        qexpr *a = NULL, *b = NULL;
        if (!(e = node(QE_AND))) return CAIRN_NOMEM;
        if ((rc = cmp_leaf(c, col, OP_GE, &lits[0], &a)) != 0 || (rc = add_kid(e, a)) != 0 ||
            (rc = cmp_leaf(c, col, OP_LE, &lits[1], &b)) != 0 || (rc = add_kid(e, b)) != 0) {
            cairn_tbl__where_free(e);
            return rc;
        }
        if (op == OP_NOTBETWEEN && (rc = wrap_not(&e)) != 0) return rc;
        break;
    }
    default:
        if ((rc = cmp_leaf(c, col, op, &lits[0], &e)) != 0) return rc;
        break;
    }
    *out = e;
    return 0;
}

/* operator names of triples and of the shorthand (case-insensitive) */
static int op_name(const char *s, int shorthand) {
    static const struct { const char *n; int op; int sh; } ops[] = {
        {"=", OP_EQ, 0}, {"==", OP_EQ, 0}, {"eq", OP_EQ, 1}, {"!=", OP_NE, 0}, {"<>", OP_NE, 0}, {"ne", OP_NE, 1},
        {"<", OP_LT, 0}, {"lt", OP_LT, 1}, {"<=", OP_LE, 0}, {"le", OP_LE, 1}, {"lte", OP_LE, 1}, {">", OP_GT, 0},
        {"gt", OP_GT, 1}, {">=", OP_GE, 0}, {"ge", OP_GE, 1}, {"gte", OP_GE, 1}, {"in", OP_IN, 1},
        {"not in", OP_NOTIN, 0}, {"nin", OP_NOTIN, 1}, {"between", OP_BETWEEN, 1}, {"not between", OP_NOTBETWEEN, 0},
        {"is null", OP_ISNULL, 0}, {"is not null", OP_NOTNULL, 0}, {"is_null", OP_ISNULL, 1},
        {"prefix", OP_PREFIX, 1}, {"starts with", OP_PREFIX, 0}, {"starts_with", OP_PREFIX, 1}};
    size_t i;
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const char *a = ops[i].n, *b = s;
        if (shorthand && !ops[i].sh) continue;
        while (*a && *b && tolower((unsigned char)*a) == tolower((unsigned char)*b)) a++, b++;
        if (!*a && !*b) return ops[i].op;
    }
    return 0;
}

/* the value operand(s) of a JSON-form op: lits (caller frees) */
static int json_operands(qc *c, int col, int op, const jv *v, qlit **lits, size_t *nl) {
    const char *cn = col_name(c->t, col);
    size_t i, need = op == OP_BETWEEN || op == OP_NOTBETWEEN ? 2 : 1;
    int rc;
    *lits = NULL;
    *nl = 0;
    if (op == OP_ISNULL || op == OP_NOTNULL) return 0;
    if (op == OP_IN || op == OP_NOTIN || need == 2) {
        if (!v || v->t != J_ARR)
            return cairn_err__set(CAIRN_TYPE, "column %s: %s needs a list", cn, need == 2 ? "between" : "in");
        if (need == 2 && v->n != 2)
            return cairn_err__set(CAIRN_INVALID, "column %s: between needs [lo, hi], got %zu values", cn, v->n);
        if (!(*lits = (qlit *)calloc(v->n ? v->n : 1, sizeof(qlit)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        for (i = 0; i < v->n; i++) {
            (*nl)++;
            if ((rc = lit_json(&v->kid[i], &(*lits)[i], cn)) != 0) return rc;
        }
        return 0;
    }
    if (!v) return cairn_err__set(CAIRN_INVALID, "column %s: the operator needs a value", cn);
    if (!(*lits = (qlit *)calloc(1, sizeof(qlit)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    *nl = 1;
    return lit_json(v, &(*lits)[0], cn);
}

static void lits_free(qlit *l, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) lit_free(&l[i]);
    free(l);
}

static int json_pred(qc *c, int col, int op, const jv *v, qexpr **out) {
    qlit *lits = NULL;
    size_t nl = 0;
    int rc = json_operands(c, col, op, v, &lits, &nl);
    if (!rc) rc = pred(c, col, op, lits, nl, out);
    lits_free(lits, nl);
    return rc;
}

static int compile_json(qc *c, const jv *w, qexpr **out, int depth);
static int compile_text(qc *c, const char *s, size_t n, qexpr **out);

/* ["column", "op", value] */
static int compile_triple(qc *c, const jv *w, qexpr **out) {
    int col, op;
    int rc;
    if (w->n < 2 || w->n > 3 || w->kid[1].t != J_STR)
        return cairn_err__set(CAIRN_INVALID, "a WHERE triple is [\"column\", \"op\", value] (at byte %zu)", w->pos);
    if ((rc = col_find(c->t, w->kid[0].s, w->kid[0].slen, 1, &col)) != 0) return rc;
    if (!(op = op_name(w->kid[1].s, 0)))
        return cairn_err__set(CAIRN_INVALID, "unknown operator '%.100s'", w->kid[1].s);
    if ((op == OP_ISNULL || op == OP_NOTNULL) != (w->n == 2))
        return cairn_err__set(CAIRN_INVALID, "operator '%s' %s", w->kid[1].s,
                              w->n == 2 ? "needs a value" : "takes no value");
    return json_pred(c, col, op, w->n == 3 ? &w->kid[2] : NULL, out);
}

static int is_literal_obj(const jv *v) {
    return v->t == J_OBJ && v->n == 1 && (strcmp(v->key[0], "$bytes") == 0 || strcmp(v->key[0], "$f64") == 0);
}

/* {"column": value | {"op": value, ...}} member */
static int compile_short(qc *c, const char *name, size_t nlen, const jv *v, qexpr **out) {
    int col, rc;
    size_t i;
    qexpr *a;
    *out = NULL;
    if ((rc = col_find(c->t, name, nlen, 1, &col)) != 0) return rc;
    if (v->t != J_OBJ || is_literal_obj(v)) return json_pred(c, col, OP_EQ, v, out);
    if (!(a = node(QE_AND))) return CAIRN_NOMEM;
    for (i = 0; i < v->n; i++) {
        int op = op_name(v->key[i], 1);
        qexpr *k = NULL;
        if (!op) {
            cairn_tbl__where_free(a);
            return cairn_err__set(CAIRN_INVALID, "unknown operator '%.100s' (column %s)", v->key[i], col_name(c->t, col));
        }
        if (op == OP_ISNULL) {
            if (v->kid[i].t != J_TRUE && v->kid[i].t != J_FALSE) {
                cairn_tbl__where_free(a);
                return cairn_err__set(CAIRN_TYPE, "column %s: is_null takes true or false", col_name(c->t, col));
            }
            rc = pred(c, col, v->kid[i].t == J_TRUE ? OP_ISNULL : OP_NOTNULL, NULL, 0, &k);
        } else rc = json_pred(c, col, op, &v->kid[i], &k);
        if (!rc) rc = add_kid(a, k);
        if (rc) {
            cairn_tbl__where_free(a);
            return rc;
        }
    }
    if (a->nkid == 0) a->kind = QE_TRUE;
    *out = a;
    return 0;
}

static int compile_list(qc *c, int kind, const jv *w, qexpr **out, int depth) {
    qexpr *a = node(kind), *k;
    size_t i;
    int rc;
    *out = NULL;
    if (!a) return CAIRN_NOMEM;
    if (w->t != J_ARR) {
        cairn_tbl__where_free(a);
        return cairn_err__set(CAIRN_INVALID, "%s needs a list of WHERE (at byte %zu)", kind == QE_AND ? "$and" : "$or", w->pos);
    }
    for (i = 0; i < w->n; i++) {
        if ((rc = compile_json(c, &w->kid[i], &k, depth + 1)) != 0 || (rc = add_kid(a, k)) != 0) {
            cairn_tbl__where_free(a);
            return rc;
        }
    }
    if (a->nkid == 0) a->kind = kind == QE_AND ? QE_TRUE : QE_FALSE;
    *out = a;
    return 0;
}

static int compile_json(qc *c, const jv *w, qexpr **out, int depth) {
    int rc;
    size_t i;
    *out = NULL;
    if (depth > 100) return cairn_err__set(CAIRN_INVALID, "WHERE nested too deep");
    if (w->t == J_STR) return compile_text(c, w->s, w->slen, out);
    if (w->t == J_ARR) {
        if (w->n && w->kid[0].t == J_STR) return compile_triple(c, w, out);
        return compile_list(c, QE_AND, w, out, depth);
    }
    if (w->t == J_OBJ) {
        qexpr *a = node(QE_AND), *k = NULL;
        if (!a) return CAIRN_NOMEM;
        for (i = 0; i < w->n; i++) {
            const char *key = w->key[i];
            if (strcmp(key, "$and") == 0) rc = compile_list(c, QE_AND, &w->kid[i], &k, depth);
            else if (strcmp(key, "$or") == 0) rc = compile_list(c, QE_OR, &w->kid[i], &k, depth);
            else if (strcmp(key, "$not") == 0) {
                rc = compile_json(c, &w->kid[i], &k, depth + 1);
                if (!rc) rc = wrap_not(&k);
            } else if (key[0] == '$') rc = cairn_err__set(CAIRN_INVALID, "unknown operator '%.100s'", key);
            else rc = compile_short(c, key, w->klen[i], &w->kid[i], &k);
            if (!rc) rc = add_kid(a, k);
            if (rc) {
                cairn_tbl__where_free(a);
                return rc;
            }
        }
        if (a->nkid == 0) a->kind = QE_TRUE;
        if (a->nkid == 1) {
            qexpr *only = a->kid[0];
            a->nkid = 0;
            cairn_tbl__where_free(a);
            a = only;
        }
        *out = a;
        return 0;
    }
    if (w->t == J_NULL) {
        *out = node(QE_TRUE);
        return *out ? 0 : CAIRN_NOMEM;
    }
    return cairn_err__set(CAIRN_INVALID, "WHERE must be a string, a list or an object (at byte %zu)", w->pos);
}

/* ---- the text form: a recursive-descent parser ---- */

static int tsyn(qc *c, const char *what) {
    return cairn_err__set(CAIRN_INVALID, "WHERE syntax error at position %zu: %s", c->pos, what);
}

static void tws(qc *c) {
    while (c->pos < c->n && isspace((unsigned char)c->src[c->pos])) c->pos++;
}

/* the keyword kw (case-insensitive) as a whole word */
static int tkw(qc *c, const char *kw) {
    size_t k = strlen(kw), i;
    tws(c);
    if (c->n - c->pos < k) return 0;
    for (i = 0; i < k; i++)
        if (tolower((unsigned char)c->src[c->pos + i]) != kw[i]) return 0;
    if (c->pos + k < c->n && (isalnum((unsigned char)c->src[c->pos + k]) || c->src[c->pos + k] == '_')) return 0;
    c->pos += k;
    return 1;
}

static int tch(qc *c, char ch) {
    tws(c);
    if (c->pos < c->n && c->src[c->pos] == ch) {
        c->pos++;
        return 1;
    }
    return 0;
}

/* one operand: ? or a literal */
static int tvalue(qc *c, qlit *l) {
    const char *s = c->src;
    size_t p;
    memset(l, 0, sizeof *l);
    tws(c);
    p = c->pos;
    if (p >= c->n) return tsyn(c, "expected a value");
    if (s[p] == '?') {
        c->pos++;
        if (!c->params || c->pused >= c->params->n) {
            c->pused++;
            return cairn_err__set(CAIRN_INVALID, "WHERE at position %zu: more ? than params (%zu given)", p,
                                  c->params ? c->params->n : (size_t)0);
        }
        return lit_json(&c->params->kid[c->pused++], l, "param");
    }
    if (s[p] == '\'') {
        tbuf b = {0, 0, 0};
        size_t i = p + 1;
        for (;;) {
            if (i >= c->n) {
                free(b.p);
                return tsyn(c, "unterminated string");
            }
            if (s[i] == '\'') {
                if (i + 1 < c->n && s[i + 1] == '\'') {
                    if (tbuf_put(&b, "'", 1)) return CAIRN_NOMEM;
                    i += 2;
                    continue;
                }
                break;
            }
            if (tbuf_put(&b, s + i, 1)) return CAIRN_NOMEM;
            i++;
        }
        c->pos = i + 1;
        l->k = LK_STR;
        l->n = b.n;
        if (tbuf_put(&b, "", 1)) return CAIRN_NOMEM;
        l->s = b.p;
        return 0;
    }
    if ((s[p] == 'x' || s[p] == 'X') && p + 1 < c->n && s[p + 1] == '\'') {
        size_t i = p + 2;
        while (i < c->n && s[i] != '\'') i++;
        if (i >= c->n) return tsyn(c, "unterminated x'hex'");
        c->pos = i + 1;
        {
            int rc = lit_hex(s + p + 2, i - p - 2, l, "x'hex'");
            if (rc == CAIRN_TYPE) {
                c->pos = p;
                return tsyn(c, "bad x'hex' (an even number of hex digits)");
            }
            return rc;
        }
    }
    if (s[p] == '-' || s[p] == '+' || s[p] == '.' || isdigit((unsigned char)s[p])) {
        size_t i = p;
        char *end;
        double d;
        char buf[512];
        if (s[i] == '-' || s[i] == '+') i++;
        while (i < c->n && (isalnum((unsigned char)s[i]) || s[i] == '.' ||
                            ((s[i] == '-' || s[i] == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E'))))
            i++;
        if (i - p >= sizeof buf) return tsyn(c, "number too long");
        memcpy(buf, s + p, i - p);
        buf[i - p] = 0;
        d = strtod(buf, &end);
        if (end != buf + (i - p) || !(isdigit((unsigned char)buf[buf[0] == '-' || buf[0] == '+'])
                                     || buf[buf[0] == '-' || buf[0] == '+'] == '.'))
            return tsyn(c, "bad number");
        (void)d;
        c->pos = i;
        return lit_number(buf[0] == '+' ? buf + 1 : buf, buf[0] == '+' ? i - p - 1 : i - p, l);
    }
    if (tkw(c, "null")) {
        l->k = LK_NULL;
        return 0;
    }
    if (tkw(c, "true") || tkw(c, "false")) {
        l->k = LK_BOOL;
        l->b = tolower((unsigned char)s[p]) == 't';
        return 0;
    }
    return tsyn(c, "expected a value (?, a number, 'text', x'hex', true, false or null)");
}

static int texpr(qc *c, qexpr **out, int depth);

static int tpred(qc *c, qexpr **out, int depth) {
    const char *s = c->src;
    size_t p, st;
    int col, op = 0, rc;
    qlit lits[2];
    size_t nl = 0;
    *out = NULL;
    tws(c);
    if (tch(c, '(')) {
        if ((rc = texpr(c, out, depth + 1)) != 0) return rc;
        if (!tch(c, ')')) {
            cairn_tbl__where_free(*out);
            *out = NULL;
            return tsyn(c, "expected ')'");
        }
        return 0;
    }
    tws(c);
    st = p = c->pos;
    if (p >= c->n || !(isalpha((unsigned char)s[p]) || s[p] == '_')) return tsyn(c, "expected a column name");
    while (p < c->n && (isalnum((unsigned char)s[p]) || s[p] == '_')) p++;
    c->pos = p;
    if ((rc = col_find(c->t, s + st, p - st, 1, &col)) != 0)
        return cairn_err__set(rc, "unknown column '%.*s' (WHERE position %zu)", (int)(p - st > 200 ? 200 : p - st), s + st, st);
    tws(c);
    p = c->pos;
    if (p < c->n) {
        if (s[p] == '=') op = OP_EQ, c->pos += (p + 1 < c->n && s[p + 1] == '=') ? 2 : 1;
        else if (s[p] == '!' && p + 1 < c->n && s[p + 1] == '=') op = OP_NE, c->pos += 2;
        else if (s[p] == '<' && p + 1 < c->n && s[p + 1] == '>') op = OP_NE, c->pos += 2;
        else if (s[p] == '<' && p + 1 < c->n && s[p + 1] == '=') op = OP_LE, c->pos += 2;
        else if (s[p] == '>' && p + 1 < c->n && s[p + 1] == '=') op = OP_GE, c->pos += 2;
        else if (s[p] == '<') op = OP_LT, c->pos += 1;
        else if (s[p] == '>') op = OP_GT, c->pos += 1;
    }
    if (!op) {
        int neg = 0;
        if (tkw(c, "is")) {
            neg = tkw(c, "not");
            if (!tkw(c, "null")) return tsyn(c, "expected NULL");
            return pred(c, col, neg ? OP_NOTNULL : OP_ISNULL, NULL, 0, out);
        }
        if (tkw(c, "starts")) {
            if (!tkw(c, "with")) return tsyn(c, "expected WITH");
            op = OP_PREFIX;
        } else {
            neg = tkw(c, "not");
            if (tkw(c, "in")) op = neg ? OP_NOTIN : OP_IN;
            else if (tkw(c, "between")) op = neg ? OP_NOTBETWEEN : OP_BETWEEN;
            else {
                size_t q = c->pos, e = q;
                while (e < c->n && !isspace((unsigned char)s[e]) && e - q < 20) e++;
                if (e > q && (isalpha((unsigned char)s[q]) || ispunct((unsigned char)s[q])) && s[q] != '(' && s[q] != ')')
                    return cairn_err__set(CAIRN_INVALID, "WHERE syntax error at position %zu: unknown operator '%.*s'", q,
                                          (int)(e - q), s + q);
                return tsyn(c, "expected an operator");
            }
        }
    }
    if (op == OP_IN || op == OP_NOTIN) {
        qlit *ls = NULL;
        size_t nls = 0, cap = 0;
        if (!tch(c, '(')) return tsyn(c, "expected '(' after IN");
        rc = 0;
        if (!tch(c, ')')) {
            for (;;) {
                if (nls == cap) {
                    qlit *nn = (qlit *)realloc(ls, (cap = cap ? cap * 2 : 8) * sizeof *nn);
                    if (!nn) {
                        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                        break;
                    }
                    ls = nn;
                }
                if ((rc = tvalue(c, &ls[nls])) != 0) {
                    lit_free(&ls[nls]);
                    break;
                }
                nls++;
                if (tch(c, ',')) continue;
                if (tch(c, ')')) break;
                rc = tsyn(c, "expected ',' or ')'");
                break;
            }
        }
        if (!rc) rc = pred(c, col, op, ls, nls, out);
        lits_free(ls, nls);
        return rc;
    }
    if ((rc = tvalue(c, &lits[0])) != 0) {
        lit_free(&lits[0]);
        return rc;
    }
    nl = 1;
    if (op == OP_BETWEEN || op == OP_NOTBETWEEN) {
        if (!tkw(c, "and")) rc = tsyn(c, "expected AND in BETWEEN");
        else if ((rc = tvalue(c, &lits[1])) == 0) nl = 2;
        else lit_free(&lits[1]);
    }
    if (!rc) rc = pred(c, col, op, lits, nl, out);
    lit_free(&lits[0]);
    if (nl == 2) lit_free(&lits[1]);
    return rc;
}

static int tnot(qc *c, qexpr **out, int depth) {
    int rc;
    if (depth > 100) return tsyn(c, "nested too deep");
    if (tkw(c, "not")) {
        if ((rc = tnot(c, out, depth + 1)) != 0) return rc;
        return wrap_not(out);
    }
    return tpred(c, out, depth);
}

static int tbin(qc *c, qexpr **out, int depth, int kind) {
    qexpr *first = NULL, *a = NULL, *k = NULL;
    int rc;
    *out = NULL;
    rc = kind == QE_OR ? tbin(c, &first, depth, QE_AND) : tnot(c, &first, depth);
    if (rc) return rc;
    while (tkw(c, kind == QE_OR ? "or" : "and")) {
        if (!a) {
            if (!(a = node(kind))) {
                cairn_tbl__where_free(first);
                return CAIRN_NOMEM;
            }
            if ((rc = add_kid(a, first)) != 0) {
                cairn_tbl__where_free(a);
                return rc;
            }
        }
        rc = kind == QE_OR ? tbin(c, &k, depth, QE_AND) : tnot(c, &k, depth);
        if (!rc) rc = add_kid(a, k);
        if (rc) {
            cairn_tbl__where_free(a);
            return rc;
        }
    }
    *out = a ? a : first;
    return 0;
}

static int texpr(qc *c, qexpr **out, int depth) {
    if (depth > 100) return tsyn(c, "nested too deep");
    return tbin(c, out, depth, QE_OR);
}

static int compile_text(qc *c, const char *s, size_t n, qexpr **out) {
    const char *osrc = c->src;
    size_t on = c->n, opos = c->pos;
    int rc;
    c->src = s;
    c->n = n;
    c->pos = 0;
    tws(c);
    if (c->pos == n) {
        *out = node(QE_TRUE);
        rc = *out ? 0 : CAIRN_NOMEM;
    } else {
        rc = texpr(c, out, 0);
        if (!rc) {
            tws(c);
            if (c->pos != n) {
                size_t q = c->pos, e = q;
                while (e < n && !isspace((unsigned char)s[e]) && e - q < 20) e++;
                cairn_tbl__where_free(*out);
                *out = NULL;
                rc = cairn_err__set(CAIRN_INVALID, "WHERE syntax error at position %zu: unexpected '%.*s'", q, (int)(e - q), s + q);
            }
        }
    }
    c->src = osrc;
    c->n = on;
    c->pos = opos;
    return rc;
}

/* ---- finishing a tree: node numbers, needf ---- */

static void finish(qexpr *e, int needf, size_t *nn) {
    size_t i;
    e->idx = (int)(*nn)++;
    e->needf = needf;
    for (i = 0; i < e->nkid; i++) finish(e->kid[i], e->kind == QE_NOT ? 1 : needf, nn);
}

static int compile_top(cairn_table *t, const jv *w, const jv *params, qexpr **out) {
    qc c;
    int rc;
    size_t nn = 0;
    memset(&c, 0, sizeof c);
    c.t = t;
    c.params = params;
    *out = NULL;
    if (params && params->t != J_ARR) return cairn_err__set(CAIRN_INVALID, "params must be a list");
    rc = compile_json(&c, w, out, 0);
    if (!rc && c.pused != (params ? params->n : 0)) {
        rc = cairn_err__set(CAIRN_INVALID, "WHERE has %zu ? but %zu params were given", c.pused, params ? params->n : (size_t)0);
    }
    if (rc) {
        cairn_tbl__where_free(*out);
        *out = NULL;
        return rc;
    }
    finish(*out, 0, &nn);
    (*out)->nnodes = nn;
    return 0;
}

int cairn_tbl__where_compile(cairn_table *t, const char *where, size_t wlen, const char *params, size_t plen, qexpr **out) {
    jv w, p;
    int rc;
    *out = NULL;
    memset(&p, 0, sizeof p);
    if ((rc = jparse_all(where, wlen, &w)) != 0) return rc;
    if (params && (rc = jparse_all(params, plen, &p)) != 0) {
        jv_free(&w);
        return rc;
    }
    rc = compile_top(t, &w, params ? &p : NULL, out);
    jv_free(&w);
    jv_free(&p);
    return rc;
}

/* ---- the query JSON ---- */

void cairn_tbl__qspec_free(qspec *q) {
    size_t i;
    if (!q) return;
    cairn_tbl__where_free(q->where);
    free(q->cols);
    free(q->order);
    free(q->group);
    for (i = 0; i < q->naggs; i++) free(q->aggs[i].as);
    free(q->aggs);
    memset(q, 0, sizeof *q);
}

static int get_u64(const jv *v, const char *what, uint64_t *out) {
    qlit l;
    if (v->t != J_NUM) return cairn_err__set(CAIRN_INVALID, "%s must be a non-negative integer", what);
    lit_number(v->s, v->slen, &l);
    if (l.k != LK_INT || (l.neg && l.mag)) return cairn_err__set(CAIRN_INVALID, "%s must be a non-negative integer", what);
    *out = l.mag;
    return 0;
}

static int names_list(cairn_table *t, const jv *v, const char *what, int allow_id, int **out, size_t *n) {
    size_t i;
    int rc;
    if (v->t != J_ARR) return cairn_err__set(CAIRN_INVALID, "%s must be a list of column names", what);
    if (!(*out = (int *)malloc((v->n ? v->n : 1) * sizeof(int)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    *n = v->n;
    for (i = 0; i < v->n; i++) {
        if (v->kid[i].t != J_STR) return cairn_err__set(CAIRN_INVALID, "%s must be a list of column names", what);
        if ((rc = col_find(t, v->kid[i].s, v->kid[i].slen, allow_id, &(*out)[i])) != 0) return rc;
    }
    return 0;
}

static const char *agg_name(int fn) {
    switch (fn) {
    case QAGG_COUNT: return "count";
    case QAGG_COUNT_DISTINCT: return "count_distinct";
    case QAGG_SUM: return "sum";
    case QAGG_MIN: return "min";
    case QAGG_MAX: return "max";
    default: return "avg";
    }
}

static int parse_aggs(cairn_table *t, const jv *v, qspec *q) {
    size_t i, k;
    int rc;
    if (v->t != J_ARR) return cairn_err__set(CAIRN_INVALID, "aggregates must be a list of objects");
    if (!(q->aggs = (qagg *)calloc(v->n ? v->n : 1, sizeof(qagg)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (i = 0; i < v->n; i++) {
        const jv *a = &v->kid[i], *fn = NULL, *col = NULL, *as = NULL;
        qagg *g = &q->aggs[i];
        q->naggs = i + 1;
        if (a->t != J_OBJ) return cairn_err__set(CAIRN_INVALID, "aggregates must be a list of objects");
        for (k = 0; k < a->n; k++) {
            if (strcmp(a->key[k], "fn") == 0) fn = &a->kid[k];
            else if (strcmp(a->key[k], "column") == 0) col = &a->kid[k];
            else if (strcmp(a->key[k], "as") == 0) as = &a->kid[k];
            else return cairn_err__set(CAIRN_INVALID, "aggregate: unknown key '%.100s'", a->key[k]);
        }
        if (!fn || fn->t != J_STR) return cairn_err__set(CAIRN_INVALID, "aggregate: \"fn\" (a string) is required");
        if (strcmp(fn->s, "count") == 0) g->fn = QAGG_COUNT;
        else if (strcmp(fn->s, "count_distinct") == 0) g->fn = QAGG_COUNT_DISTINCT;
        else if (strcmp(fn->s, "sum") == 0) g->fn = QAGG_SUM;
        else if (strcmp(fn->s, "min") == 0) g->fn = QAGG_MIN;
        else if (strcmp(fn->s, "max") == 0) g->fn = QAGG_MAX;
        else if (strcmp(fn->s, "avg") == 0) g->fn = QAGG_AVG;
        else return cairn_err__set(CAIRN_INVALID, "unknown aggregate function '%.100s'", fn->s);
        g->col = -2;
        if (col && col->t != J_NULL) {
            if (col->t != J_STR) return cairn_err__set(CAIRN_INVALID, "aggregate: \"column\" must be a string");
            if ((rc = col_find(t, col->s, col->slen, 1, &g->col)) != 0) return rc;
        } else if (g->fn != QAGG_COUNT) {
            return cairn_err__set(CAIRN_INVALID, "aggregate %s needs a column", fn->s);
        }
        if (as && as->t != J_NULL) {
            if (as->t != J_STR) return cairn_err__set(CAIRN_INVALID, "aggregate: \"as\" must be a string");
            if (!(g->as = (char *)malloc(as->slen + 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
            memcpy(g->as, as->s, as->slen + 1);
        } else {
            const char *cn = g->col == -2 ? "*" : col_name(t, g->col);
            size_t len = strlen(agg_name(g->fn)) + strlen(cn) + 3;
            if (!(g->as = (char *)malloc(len))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
            snprintf(g->as, len, "%s(%s)", agg_name(g->fn), cn);
        }
    }
    return 0;
}

/* the order keys: names of columns (plain query) or of result columns (aggregates) */
static int order_key(cairn_table *t, const qspec *q, const char *name, size_t len, int *col) {
    size_t i;
    if (!q->naggs) return col_find(t, name, len, 1, col);
    for (i = 0; i < q->ngroup; i++)
        if (strlen(col_name(t, q->group[i])) == len && memcmp(col_name(t, q->group[i]), name, len) == 0) {
            *col = (int)i;
            return 0;
        }
    for (i = 0; i < q->naggs; i++)
        if (strlen(q->aggs[i].as) == len && memcmp(q->aggs[i].as, name, len) == 0) {
            *col = (int)(q->ngroup + i);
            return 0;
        }
    return cairn_err__set(CAIRN_SCHEMA, "order: '%.*s' is not a result column", (int)(len > 200 ? 200 : len), name);
}

static int parse_order(cairn_table *t, const jv *v, qspec *q) {
    size_t i;
    int rc;
    if (v->t != J_ARR) return cairn_err__set(CAIRN_INVALID, "order must be a list");
    if (!(q->order = (qorder *)calloc(v->n ? v->n : 1, sizeof(qorder)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    q->norder = v->n;
    for (i = 0; i < v->n; i++) {
        const jv *k = &v->kid[i];
        if (k->t == J_STR) {
            int desc = k->slen > 0 && k->s[0] == '-';
            if ((rc = order_key(t, q, k->s + desc, k->slen - (size_t)desc, &q->order[i].col)) != 0) return rc;
            q->order[i].desc = desc;
        } else if (k->t == J_ARR && k->n == 2 && k->kid[0].t == J_STR && k->kid[1].t == J_STR) {
            const char *d = k->kid[1].s;
            if ((rc = order_key(t, q, k->kid[0].s, k->kid[0].slen, &q->order[i].col)) != 0) return rc;
            if (strcmp(d, "asc") == 0 || strcmp(d, "ASC") == 0) q->order[i].desc = 0;
            else if (strcmp(d, "desc") == 0 || strcmp(d, "DESC") == 0) q->order[i].desc = 1;
            else return cairn_err__set(CAIRN_INVALID, "order: direction must be \"asc\" or \"desc\", got '%.100s'", d);
        } else {
            return cairn_err__set(CAIRN_INVALID, "order: each key is \"name\", \"-name\" or [\"name\", \"asc\"|\"desc\"]");
        }
    }
    return 0;
}

static int qspec_from(cairn_table *t, const jv *root, qspec *q) {
    const jv *where = NULL, *params = NULL, *order = NULL;
    size_t i;
    int rc;
    if (root->t != J_OBJ) return cairn_err__set(CAIRN_INVALID, "a query is a JSON object");
    for (i = 0; i < root->n; i++) {
        const char *k = root->key[i];
        const jv *v = &root->kid[i];
        if (strcmp(k, "where") == 0) where = v;
        else if (strcmp(k, "params") == 0) params = v;
        else if (strcmp(k, "order") == 0) order = v;
        else if (strcmp(k, "columns") == 0) {
            if ((rc = names_list(t, v, "columns", 1, &q->cols, &q->ncols)) != 0) return rc;
        } else if (strcmp(k, "limit") == 0) {
            if (v->t != J_NULL) {
                if ((rc = get_u64(v, "limit", &q->limit)) != 0) return rc;
                q->has_limit = 1;
            }
        } else if (strcmp(k, "offset") == 0) {
            if (v->t != J_NULL && (rc = get_u64(v, "offset", &q->offset)) != 0) return rc;
        } else if (strcmp(k, "aggregates") == 0) {
            if ((rc = parse_aggs(t, v, q)) != 0) return rc;
        } else if (strcmp(k, "group_by") == 0) {
            if ((rc = names_list(t, v, "group_by", 0, &q->group, &q->ngroup)) != 0) return rc;
        } else if (strcmp(k, "format") == 0) {
            if (v->t == J_STR && strcmp(v->s, "rows") == 0) q->columns_format = 0;
            else if (v->t == J_STR && strcmp(v->s, "columns") == 0) q->columns_format = 1;
            else return cairn_err__set(CAIRN_INVALID, "format must be \"rows\" or \"columns\"");
        } else {
            return cairn_err__set(CAIRN_INVALID, "query: unknown key '%.100s'", k);
        }
    }
    if (q->ngroup && !q->naggs) return cairn_err__set(CAIRN_INVALID, "group_by needs aggregates");
    if (order && (rc = parse_order(t, order, q)) != 0) return rc;
    if (where) return compile_top(t, where, params, &q->where);
    if (params && (params->t != J_ARR || params->n))
        return cairn_err__set(CAIRN_INVALID, "params given without a WHERE that uses them");
    return 0;
}

int cairn_tbl__qspec_parse(cairn_table *t, const char *json, qspec *out) {
    jv root;
    int rc;
    memset(out, 0, sizeof *out);
    if (!json) return cairn_err__set(CAIRN_INVALID, "query is NULL");
    if ((rc = jparse_all(json, strlen(json), &root)) != 0) return rc;
    rc = qspec_from(t, &root, out);
    jv_free(&root);
    if (rc) cairn_tbl__qspec_free(out);
    return rc;
}

/* only "where" and "params" of a query (count_where) */
int cairn_tbl__where_of_query(cairn_table *t, const char *json, qexpr **out) {
    jv root;
    int rc;
    *out = NULL;
    if (!json) return cairn_err__set(CAIRN_INVALID, "query is NULL");
    if ((rc = jparse_all(json, strlen(json), &root)) != 0) return rc;
    if (root.t != J_OBJ) rc = cairn_err__set(CAIRN_INVALID, "a query is a JSON object");
    else {
        const jv *w = jget(&root, "where"), *p = jget(&root, "params");
        if (w) rc = compile_top(t, w, p, out);
        else if (p && (p->t != J_ARR || p->n)) rc = cairn_err__set(CAIRN_INVALID, "params given without a WHERE that uses them");
    }
    jv_free(&root);
    return rc;
}

/* ---- evaluation over a vector ---- */

int cairn_tbl__qeval_init(const qexpr *e, qeval *ev) {
    size_t n = e ? e->nnodes : 1;
    if (!(ev->buf = (uint8_t *)malloc(n * 2 * QVEC))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    return 0;
}

void cairn_tbl__qeval_free(qeval *ev) {
    free(ev->buf);
    ev->buf = NULL;
}

/* values are read with memcpy: a view into a segment (a dictionary, a PLAIN payload after a
 * validity bitmap) need not be aligned */
#define RANGE_LOOP(T, UT, LO, HI)                                                                                      \
    do {                                                                                                               \
        const uint8_t *restrict v = (const uint8_t *)vc->data;                                                         \
        UT l_ = (UT)(T)(LO), w_ = (UT)((UT)(T)(HI) - l_);                                                              \
        for (i = 0; i < n; i++) {                                                                                      \
            T x_;                                                                                                      \
            memcpy(&x_, v + i * sizeof(T), sizeof x_);                                                                 \
            m[i] = (uint8_t)((UT)((UT)x_ - l_) <= w_);                                                                 \
        }                                                                                                              \
    } while (0)

/* floats read in place at any alignment (a dictionary in a segment sits 4 bytes past an 8-byte
 * boundary); where the compiler has no such type the view must be aligned: the scan copies */
#if defined(__GNUC__)
typedef double udbl __attribute__((aligned(1), may_alias));
typedef float uflt __attribute__((aligned(1), may_alias));
#else
typedef double udbl;
typedef float uflt;
#endif

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    size_t k = an < bn ? an : bn;
    int r = k ? memcmp(a, b, k) : 0;
    if (r) return r;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

void cairn_tbl__leaf_match(const qexpr *e, const qvcol *vc, size_t n, uint8_t *restrict m) {
    size_t i;
    switch (e->lk) {
    case QL_INT:
        switch (vc->type) {
        case CAIRN_TYPE_I8: RANGE_LOOP(int8_t, uint8_t, e->ilo, e->ihi); break;
        case CAIRN_TYPE_I16: RANGE_LOOP(int16_t, uint16_t, e->ilo, e->ihi); break;
        case CAIRN_TYPE_I32: RANGE_LOOP(int32_t, uint32_t, e->ilo, e->ihi); break;
        default: RANGE_LOOP(int64_t, uint64_t, e->ilo, e->ihi); break;
        }
        break;
    case QL_UINT:
        switch (vc->type) {
        case CAIRN_TYPE_U8: case CAIRN_TYPE_BOOL: RANGE_LOOP(uint8_t, uint8_t, e->ulo, e->uhi); break;
        case CAIRN_TYPE_U16: RANGE_LOOP(uint16_t, uint16_t, e->ulo, e->uhi); break;
        case CAIRN_TYPE_U32: RANGE_LOOP(uint32_t, uint32_t, e->ulo, e->uhi); break;
        default: RANGE_LOOP(uint64_t, uint64_t, e->ulo, e->uhi); break;
        }
        break;
    case QL_FLT: {
        double lo = e->flo, hi = e->fhi;
        if (vc->type == CAIRN_TYPE_F32) {
            const uflt *restrict v = (const uflt *)vc->data;
            if (e->nan)
                for (i = 0; i < n; i++) {
                    double x = v[i];
                    m[i] = (uint8_t)(((x >= lo) & (x <= hi)) | (x != x));
                }
            else
                for (i = 0; i < n; i++) {
                    double x = v[i];
                    m[i] = (uint8_t)((x >= lo) & (x <= hi));
                }
        } else {
            const udbl *restrict v = (const udbl *)vc->data;
            i = 0;
#if defined(__SSE2__)
            {
                /* two at a time (the compiler does not vectorise a double compare into bytes) */
                static const uint32_t spread[16] = {0x00000000u, 0x00000001u, 0x00000100u, 0x00000101u, 0x00010000u, 0x00010001u,
                                                    0x00010100u, 0x00010101u, 0x01000000u, 0x01000001u, 0x01000100u, 0x01000101u,
                                                    0x01010000u, 0x01010001u, 0x01010100u, 0x01010101u};
                const __m128d vlo = _mm_set1_pd(lo), vhi = _mm_set1_pd(hi);
                const uint8_t *p = (const uint8_t *)vc->data;
                if (!e->nan)
                    for (; i + 4 <= n; i += 4) {
                        /* four at a time: two 2-bit masks, spread to four bytes */
                        __m128d x0 = _mm_loadu_pd((const double *)(const void *)(p + 8 * i));
                        __m128d x1 = _mm_loadu_pd((const double *)(const void *)(p + 8 * i + 16));
                        int b = _mm_movemask_pd(_mm_and_pd(_mm_cmpge_pd(x0, vlo), _mm_cmple_pd(x0, vhi))) |
                                _mm_movemask_pd(_mm_and_pd(_mm_cmpge_pd(x1, vlo), _mm_cmple_pd(x1, vhi))) << 2;
                        memcpy(m + i, &spread[b], 4);
                    }
                for (; i + 2 <= n; i += 2) {
                    __m128d x = _mm_loadu_pd((const double *)(const void *)(p + 8 * i));
                    __m128d r = _mm_and_pd(_mm_cmpge_pd(x, vlo), _mm_cmple_pd(x, vhi));
                    int b;
                    if (e->nan) r = _mm_or_pd(r, _mm_cmpunord_pd(x, x));
                    b = _mm_movemask_pd(r);
                    m[i] = (uint8_t)(b & 1);
                    m[i + 1] = (uint8_t)(b >> 1);
                }
            }
#endif
            if (e->nan)
                for (; i < n; i++) m[i] = (uint8_t)(((v[i] >= lo) & (v[i] <= hi)) | (v[i] != v[i]));
            else
                for (; i < n; i++) m[i] = (uint8_t)((v[i] >= lo) & (v[i] <= hi));
        }
        break;
    }
    case QL_BYTES: case QL_PREFIX: {
        const uint8_t *d = (const uint8_t *)vc->data;
        for (i = 0; i < n; i++) {
            const uint8_t *p;
            size_t len;
            int ok = 1;
            if (vc->type == CAIRN_TYPE_FIXED) {
                p = d + i * vc->fixed_len;
                len = vc->fixed_len;
            } else {
                p = d ? d + vc->offsets[i] : (const uint8_t *)"";
                len = (size_t)(vc->offsets[i + 1] - vc->offsets[i]);
            }
            if (e->lk == QL_PREFIX) ok = len >= e->lolen && (!e->lolen || memcmp(p, e->lo, e->lolen) == 0);
            else {
                if (e->has_lo) {
                    int r = bytes_cmp(p, len, e->lo, e->lolen);
                    ok = e->lo_open ? r > 0 : r >= 0;
                }
                if (ok && e->has_hi) {
                    int r = bytes_cmp(p, len, e->hi, e->hilen);
                    ok = e->hi_open ? r < 0 : r <= 0;
                }
            }
            m[i] = (uint8_t)ok;
        }
        break;
    }
    case QL_EMPTY: memset(m, 0, n); break;
    default: memset(m, 1, n); break; /* QL_FULL */
    }
}

void cairn_tbl__leaf_tf(const qexpr *e, const uint8_t *vb, size_t n, uint8_t *t, uint8_t *f) {
    size_t i;
    if (e->lk == QL_ISNULL) {
        if (!vb) {
            memset(t, 0, n);
            if (e->needf) memset(f, 1, n);
        } else {
            for (i = 0; i < n; i++) t[i] = (uint8_t)(!((vb[i >> 3] >> (i & 7)) & 1));
            if (e->needf)
                for (i = 0; i < n; i++) f[i] = (uint8_t)(t[i] ^ 1);
        }
        return;
    }
    if (e->needf)
        for (i = 0; i < n; i++) f[i] = (uint8_t)(t[i] ^ 1);
    if (vb) {
        for (i = 0; i < n; i++) {
            uint8_t ok = (uint8_t)((vb[i >> 3] >> (i & 7)) & 1);
            t[i] &= ok;
            if (e->needf) f[i] &= ok;
        }
    }
}

void cairn_tbl__qeval_with(const qexpr *e, qleaf_fn leaf, void *ctx, size_t n, uint8_t *t, uint8_t *f, qeval *ev) {
    size_t i, k;
    switch (e->kind) {
    case QE_TRUE:
        memset(t, 1, n);
        if (e->needf) memset(f, 0, n);
        return;
    case QE_FALSE:
        memset(t, 0, n);
        if (e->needf) memset(f, 1, n);
        return;
    case QE_UNKNOWN:
        memset(t, 0, n);
        if (e->needf) memset(f, 0, n);
        return;
    case QE_NOT:
        /* the kid's false is our true and its true our false (its unknown stays unknown) */
        cairn_tbl__qeval_with(e->kid[0], leaf, ctx, n, f, t, ev);
        return;
    case QE_AND: case QE_OR: {
        uint8_t *kt = ev->buf + (size_t)e->idx * 2 * QVEC, *kf = kt + QVEC;
        int and_ = e->kind == QE_AND;
        cairn_tbl__qeval_with(e->kid[0], leaf, ctx, n, t, f, ev);
        for (k = 1; k < e->nkid; k++) {
            cairn_tbl__qeval_with(e->kid[k], leaf, ctx, n, kt, kf, ev);
            if (and_) {
                for (i = 0; i < n; i++) t[i] &= kt[i];
                if (e->needf)
                    for (i = 0; i < n; i++) f[i] |= kf[i];
            } else {
                for (i = 0; i < n; i++) t[i] |= kt[i];
                if (e->needf)
                    for (i = 0; i < n; i++) f[i] &= kf[i];
            }
        }
        return;
    }
    default: leaf(ctx, e, n, t, f); return;
    }
}

typedef struct qvctx {
    const qvcol *cols, *idc;
} qvctx;

static void qv_leaf(void *ctx, const qexpr *e, size_t n, uint8_t *t, uint8_t *f) {
    const qvctx *c = (const qvctx *)ctx;
    const qvcol *vc = e->col == QCOL_ID ? c->idc : &c->cols[e->col];
    if (e->lk != QL_ISNULL) cairn_tbl__leaf_match(e, vc, n, t);
    cairn_tbl__leaf_tf(e, vc->valid, n, t, f);
}

void cairn_tbl__qeval(const qexpr *e, const qvcol *cols, const qvcol *idc, size_t n, uint8_t *t, uint8_t *f,
                      qeval *ev) {
    qvctx c;
    c.cols = cols;
    c.idc = idc;
    cairn_tbl__qeval_with(e, qv_leaf, &c, n, t, f, ev);
}

/* ---- zone maps ---- */

void cairn_tbl__zone_get(const uint8_t *p, cairn_zone *z) {
    memset(z, 0, sizeof *z);
    z->nulls = cairn_get64(p);
    z->count = cairn_get64(p + 8);
    z->has_values = p[16];
    z->has_nan = p[17];
    z->min_len = p[18];
    z->max_len = p[19];
    z->min_exact = p[20];
    z->max_exact = p[21];
    z->min.u = cairn_get64(p + 24);
    z->max.u = cairn_get64(p + 32);
    memcpy(z->min_prefix, p + 40, 16);
    memcpy(z->max_prefix, p + 56, 16);
}

qzv cairn_tbl__qzone(const qexpr *e, const cairn_zone *const *zones, uint64_t idlo, uint64_t idhi) {
    qzv r = {1, 1, 1}, k;
    size_t i;
    switch (e->kind) {
    case QE_TRUE: r.f = r.u = 0; return r;
    case QE_FALSE: r.t = r.u = 0; return r;
    case QE_UNKNOWN: r.t = r.f = 0; return r;
    case QE_NOT:
        k = cairn_tbl__qzone(e->kid[0], zones, idlo, idhi);
        r.t = k.f;
        r.f = k.t;
        r.u = k.u;
        return r;
    case QE_AND: case QE_OR:
        r = cairn_tbl__qzone(e->kid[0], zones, idlo, idhi);
        for (i = 1; i < e->nkid; i++) {
            k = cairn_tbl__qzone(e->kid[i], zones, idlo, idhi);
            if (e->kind == QE_AND) {
                r.t = r.t && k.t;
                r.f = r.f || k.f;
            } else {
                r.t = r.t || k.t;
                r.f = r.f && k.f;
            }
            r.u = r.u || k.u;
        }
        return r;
    default: break;
    }
    if (e->col == QCOL_ID) {
        r.u = 0;
        if (e->lk == QL_ISNULL) {
            r.t = 0;
            return r;
        }
        if (e->lk == QL_UINT) {
            r.t = !(e->uhi < idlo || e->ulo > idhi);
            r.f = !(e->ulo <= idlo && idhi <= e->uhi);
        } else if (e->lk == QL_EMPTY) r.t = 0;
        else if (e->lk == QL_FULL) r.f = 0;
        return r;
    }
    {
        const cairn_zone *z = zones[e->col];
        if (!z) return r;
        r.u = z->nulls > 0;
        if (e->lk == QL_ISNULL) {
            r.t = z->nulls > 0;
            r.f = z->nulls < z->count;
            r.u = 0;
            return r;
        }
        if (!z->has_values) {
            r.t = r.f = 0;
            return r;
        }
        switch (e->lk) {
        case QL_EMPTY: r.t = 0; break;
        case QL_FULL: r.f = 0; break;
        case QL_INT:
            r.t = !(e->ihi < z->min.i || e->ilo > z->max.i);
            r.f = !(e->ilo <= z->min.i && z->max.i <= e->ihi);
            break;
        case QL_UINT:
            r.t = !(e->uhi < z->min.u || e->ulo > z->max.u);
            r.f = !(e->ulo <= z->min.u && z->max.u <= e->uhi);
            break;
        case QL_FLT:
            if (z->has_nan) break;
            r.t = !(e->fhi < z->min.f || e->flo > z->max.f);
            r.f = !(e->flo <= z->min.f && z->max.f <= e->fhi);
            break;
        default: break;
        }
    }
    return r;
}

void cairn_tbl__qcols(const qexpr *e, uint8_t *cols, int *uses_id) {
    size_t i;
    if (!e) return;
    if (e->kind == QE_LEAF) {
        if (e->col == QCOL_ID) *uses_id = 1;
        else cols[e->col] = 1;
    }
    for (i = 0; i < e->nkid; i++) cairn_tbl__qcols(e->kid[i], cols, uses_id);
}
