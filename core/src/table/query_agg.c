/*
 * query_agg.c - aggregates and group by (cairn/table.h, "queries"), and the result set shared with
 * the join (query_res.h). Joins live in query_join.c.
 *
 * Two ways in:
 *   - with a WHERE, the vectorised scan (query_scan.c) hands vectors of the needed columns to
 *     agg_chunk;
 *   - without one, walk_all reads the row groups itself: a group with no deletes and no overlay
 *     rows ("clean") goes straight from its segments (fast_group: SUM over PLAIN bytes, CONSTANT and
 *     RLE integers as value x count, COUNT from the header, MIN/MAX from the zone map); a group by,
 *     and whatever fast_group cannot answer, decodes the segment (PLAIN fixed-width segments are
 *     read in place) and goes through agg_chunk; a group with deletes or overlays is rebuilt as
 *     its live rows in id order first; the tail follows.
 * Group keys: one byte-string key per row (per column: a null flag, then the value normalised:
 * 8 bytes for numbers, -0.0 as 0.0 and one NaN, N bytes for bytes:N, u32 length + bytes for
 * string/bytes) in an open-addressing hash table; a single integer group column takes a direct
 * array for the values 0..DIRECT-1 (and one slot for null) before the hash.
 * Sums: integers exactly in 128 bits (two's complement, lo/hi words), checked against i64 / u64
 * at the end; floats as 8 partial sums (value k of the group into sum k mod 8), the definition of
 * cairn/table.h, which the block loops below follow (a block starts when k is a multiple of 8).
 */
#include "table/query.h"
#include "table/query_res.h"
#include "table/seg_agg.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- result set ---- */

int cairn_tbl__qres_init(qres *r, size_t ncols) {
    memset(r, 0, sizeof *r);
    r->ncols = ncols;
    r->nshow = ncols;
    r->names = (char **)calloc(ncols ? ncols : 1, sizeof(char *));
    r->types = (tcol *)calloc(ncols ? ncols : 1, sizeof(tcol));
    if (!r->names || !r->types) {
        free(r->names);
        free(r->types);
        memset(r, 0, sizeof *r);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    return 0;
}

void cairn_tbl__qres_free(qres *r) {
    size_t i;
    if (r->names)
        for (i = 0; i < r->ncols; i++) free(r->names[i]);
    free(r->names);
    free(r->types);
    free(r->v);
    free(r->heap.p);
    memset(r, 0, sizeof *r);
}

int cairn_tbl__qres_col(qres *r, size_t k, const char *name, size_t nlen, int type, uint32_t fixed_len) {
    char *s = (char *)malloc(nlen + 1);
    if (!s) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    memcpy(s, name, nlen);
    s[nlen] = 0;
    free(r->names[k]);
    r->names[k] = s;
    r->types[k].type = type;
    r->types[k].fixed_len = type == CAIRN_TYPE_FIXED ? fixed_len : 0;
    r->types[k].w = cairn_tbl__type_width(type, fixed_len);
    return 0;
}

cairn_value *cairn_tbl__qres_row(qres *r) {
    cairn_value *row;
    size_t i;
    if (r->nrows == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        cairn_value *nv = (cairn_value *)realloc(r->v, nc * (r->ncols ? r->ncols : 1) * sizeof(cairn_value));
        if (!nv) {
            cairn_err__set(CAIRN_NOMEM, "out of memory");
            return NULL;
        }
        r->v = nv;
        r->cap = nc;
    }
    row = r->v + r->nrows * r->ncols;
    memset(row, 0, r->ncols * sizeof *row);
    for (i = 0; i < r->ncols; i++) row[i].is_null = 1;
    r->nrows++;
    return row;
}

int cairn_tbl__qres_bytes(qres *r, cairn_value *v, const void *bytes, size_t len) {
    size_t off = r->heap.n;
    if (tbuf_put(&r->heap, bytes, len)) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    v->is_null = 0;
    v->v.s.bytes = (const void *)(uintptr_t)off;
    v->v.s.len = len;
    return 0;
}

static int is_unsigned(int type) {
    return type == CAIRN_TYPE_U8 || type == CAIRN_TYPE_U16 || type == CAIRN_TYPE_U32 || type == CAIRN_TYPE_U64;
}

static int is_bytes(int type) {
    return type == CAIRN_TYPE_STRING || type == CAIRN_TYPE_BYTES || type == CAIRN_TYPE_FIXED;
}

int cairn_tbl__qval_cmp(const tcol *c, const cairn_value *a, const cairn_value *b) {
    switch (c->type) {
    case CAIRN_TYPE_F32: case CAIRN_TYPE_F64: {
        double x = a->v.f, y = b->v.f;
        int xn = isnan(x) != 0, yn = isnan(y) != 0;
        if (xn || yn) return xn - yn;
        return (x > y) - (x < y);
    }
    case CAIRN_TYPE_BOOL: return (a->v.b != 0) - (b->v.b != 0);
    case CAIRN_TYPE_FIXED: case CAIRN_TYPE_STRING: case CAIRN_TYPE_BYTES: {
        size_t n = a->v.s.len < b->v.s.len ? a->v.s.len : b->v.s.len;
        int d = n ? memcmp(a->v.s.bytes, b->v.s.bytes, n) : 0;
        if (d) return d < 0 ? -1 : 1;
        return (a->v.s.len > b->v.s.len) - (a->v.s.len < b->v.s.len);
    }
    default:
        if (is_unsigned(c->type)) return (a->v.u > b->v.u) - (a->v.u < b->v.u);
        return (a->v.i > b->v.i) - (a->v.i < b->v.i);
    }
}

typedef struct sortctx {
    const qres *r;
    const qorder *ord;
    size_t nord;
} sortctx;

static int row_cmp(const sortctx *s, size_t x, size_t y) {
    size_t k;
    for (k = 0; k < s->nord; k++) {
        size_t c = (size_t)s->ord[k].col;
        const cairn_value *a = &s->r->v[x * s->r->ncols + c], *b = &s->r->v[y * s->r->ncols + c];
        int d;
        if (a->is_null || b->is_null) {
            d = a->is_null - b->is_null; /* nulls last in either direction */
            if (d) return d;
            continue;
        }
        d = cairn_tbl__qval_cmp(&s->r->types[c], a, b);
        if (d) return s->ord[k].desc ? -d : d;
    }
    return 0;
}

/* stable merge sort of idx[0..n) */
static void msort(const sortctx *s, size_t *idx, size_t *tmp, size_t n) {
    size_t h, i, j, k;
    if (n < 2) return;
    if (n <= 16) {
        for (i = 1; i < n; i++) {
            size_t v = idx[i];
            for (j = i; j > 0 && row_cmp(s, idx[j - 1], v) > 0; j--) idx[j] = idx[j - 1];
            idx[j] = v;
        }
        return;
    }
    h = n / 2;
    msort(s, idx, tmp, h);
    msort(s, idx + h, tmp, n - h);
    if (row_cmp(s, idx[h - 1], idx[h]) <= 0) return;
    memcpy(tmp, idx, h * sizeof *idx);
    i = 0, j = h, k = 0;
    while (i < h && j < n) idx[k++] = row_cmp(s, idx[j], tmp[i]) < 0 ? idx[j++] : tmp[i++];
    while (i < h) idx[k++] = tmp[i++];
}

static const tcol str_col = {"", CAIRN_TYPE_STRING, 0, 0, 0, 0, 0, {0, {0}}, NULL, 0};

static int put_name(tbuf *b, const char *name) {
    cairn_value v;
    memset(&v, 0, sizeof v);
    v.v.s.bytes = name;
    v.v.s.len = strlen(name);
    return cairn_tbl__value_json(&str_col, &v, b);
}

int cairn_tbl__qres_emit(qres *r, const qorder *ord, size_t nord, int has_limit, uint64_t limit, uint64_t offset,
                         int columns_format, tbuf *out) {
    size_t *idx = NULL, *tmp = NULL, i, c, from, to, n = r->nrows, ns = r->nshow;
    sortctx s;
    int rc = 0;
    /* bytes values: offsets into the heap -> pointers */
    for (c = 0; c < r->ncols; c++) {
        if (!is_bytes(r->types[c].type)) continue;
        for (i = 0; i < n; i++) {
            cairn_value *v = &r->v[i * r->ncols + c];
            if (v->is_null) continue;
            v->v.s.bytes = r->heap.p ? (const void *)(r->heap.p + (uintptr_t)v->v.s.bytes) : (const void *)"";
        }
    }
    if (!(idx = (size_t *)malloc((n ? n : 1) * sizeof *idx)) || !(tmp = (size_t *)malloc((n ? n : 1) * sizeof *tmp))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) idx[i] = i;
    s.r = r, s.ord = ord, s.nord = nord;
    if (nord) msort(&s, idx, tmp, n);
    from = offset >= n ? n : (size_t)offset;
    to = n;
    if (has_limit && limit < (uint64_t)(to - from)) to = from + (size_t)limit;
    if (tbuf_put(out, "{\"columns\":[", 12)) goto nomem;
    for (c = 0; c < ns; c++) {
        const char *tn = cairn_tbl__type_name(r->types[c].type);
        if (c && tbuf_put(out, ",", 1)) goto nomem;
        if (tbuf_put(out, "{\"name\":", 8) || put_name(out, r->names[c])) goto nomem;
        if (r->types[c].type == CAIRN_TYPE_FIXED) {
            if (cairn_tbl__buf_printf(out, ",\"type\":\"bytes:%u\"}", (unsigned)r->types[c].fixed_len)) goto nomem;
        } else if (tbuf_put(out, ",\"type\":\"", 9) || tbuf_put(out, tn, strlen(tn)) || tbuf_put(out, "\"}", 2)) {
            goto nomem;
        }
    }
    if (!columns_format) {
        if (tbuf_put(out, "],\"rows\":[", 10)) goto nomem;
        for (i = from; i < to; i++) {
            const cairn_value *row = r->v + idx[i] * r->ncols;
            if (i > from && tbuf_put(out, ",", 1)) goto nomem;
            if (tbuf_put(out, "{", 1)) goto nomem;
            for (c = 0; c < ns; c++) {
                if (c && tbuf_put(out, ",", 1)) goto nomem;
                if (put_name(out, r->names[c]) || tbuf_put(out, ":", 1) || cairn_tbl__value_json(&r->types[c], &row[c], out))
                    goto nomem;
            }
            if (tbuf_put(out, "}", 1)) goto nomem;
        }
        if (tbuf_put(out, "]}", 2)) goto nomem;
    } else {
        if (tbuf_put(out, "],\"data\":{", 10)) goto nomem;
        for (c = 0; c < ns; c++) {
            if (c && tbuf_put(out, ",", 1)) goto nomem;
            if (put_name(out, r->names[c]) || tbuf_put(out, ":[", 2)) goto nomem;
            for (i = from; i < to; i++) {
                if (i > from && tbuf_put(out, ",", 1)) goto nomem;
                if (cairn_tbl__value_json(&r->types[c], &r->v[idx[i] * r->ncols + c], out)) goto nomem;
            }
            if (tbuf_put(out, "]", 1)) goto nomem;
        }
        if (cairn_tbl__buf_printf(out, "},\"count\":%llu}", (unsigned long long)(to - from))) goto nomem;
    }
    goto out;
nomem:
    rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
out:
    free(idx);
    free(tmp);
    return rc;
}

/* ---- exact and float sums ---- */

typedef struct fsum {
    double s[8];
    uint64_t k;
} fsum;

static void fsum_init(fsum *f) {
    int i;
    for (i = 0; i < 8; i++) f->s[i] = -0.0;
    f->k = 0;
}

static double fsum_val(const fsum *f) {
    return ((f->s[0] + f->s[1]) + (f->s[2] + f->s[3])) + ((f->s[4] + f->s[5]) + (f->s[6] + f->s[7]));
}

/* n values (no nulls) in order into f: singles until k is a multiple of 8, then blocks of 8 */
static void fsum_run(fsum *restrict f, const double *restrict v, size_t n) {
    size_t i = 0;
    while (i < n && (f->k & 7)) f->s[f->k++ & 7] += v[i++];
    if (i + 8 <= n) {
        double s0 = f->s[0], s1 = f->s[1], s2 = f->s[2], s3 = f->s[3];
        double s4 = f->s[4], s5 = f->s[5], s6 = f->s[6], s7 = f->s[7];
        for (; i + 8 <= n; i += 8) {
            s0 += v[i], s1 += v[i + 1], s2 += v[i + 2], s3 += v[i + 3];
            s4 += v[i + 4], s5 += v[i + 5], s6 += v[i + 6], s7 += v[i + 7];
            f->k += 8;
        }
        f->s[0] = s0, f->s[1] = s1, f->s[2] = s2, f->s[3] = s3;
        f->s[4] = s4, f->s[5] = s5, f->s[6] = s6, f->s[7] = s7;
    }
    while (i < n) f->s[f->k++ & 7] += v[i++];
}

/* the same over little-endian f64 bytes of any alignment */
static void fsum_run_bytes(fsum *restrict f, const uint8_t *restrict p, size_t n) {
    double buf[256];
    while (n) {
        size_t m = n < 256 ? n : 256;
        memcpy(buf, p, m * 8);
        fsum_run(f, buf, m);
        p += m * 8;
        n -= m;
    }
}

/* a 128-bit two's complement accumulator */
typedef struct i128 {
    uint64_t lo, hi;
} i128;

static inline void i128_add_s(i128 *a, int64_t v) {
    uint64_t o = a->lo;
    a->lo += (uint64_t)v;
    a->hi += (uint64_t)(a->lo < o) - (uint64_t)(v < 0);
}

static inline void i128_add_u(i128 *a, uint64_t v) {
    uint64_t o = a->lo;
    a->lo += v;
    a->hi += (uint64_t)(a->lo < o);
}

static void i128_add(i128 *a, const i128 *b) {
    uint64_t o = a->lo;
    a->lo += b->lo;
    a->hi += b->hi + (uint64_t)(a->lo < o);
}

/* a (unsigned) x b into 128 bits */
static i128 umul(uint64_t a, uint64_t b) {
    uint64_t al = a & 0xffffffffu, ah = a >> 32, bl = b & 0xffffffffu, bh = b >> 32;
    uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
    i128 r;
    r.lo = (ll & 0xffffffffu) | (mid << 32);
    r.hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    return r;
}

/* v (signed when sgn) x cnt added to a */
static void i128_add_mul(i128 *a, uint64_t v, int sgn, uint64_t cnt) {
    i128 p;
    if (sgn && (int64_t)v < 0) {
        p = umul(0 - v, cnt);
        p.lo = ~p.lo + 1;
        p.hi = ~p.hi + (p.lo == 0);
    } else {
        p = umul(v, cnt);
    }
    i128_add(a, &p);
}

static double i128_double(const i128 *a, int sgn) {
    if (sgn && (a->hi >> 63)) {
        i128 n;
        n.lo = ~a->lo + 1;
        n.hi = ~a->hi + (n.lo == 0);
        return -((double)n.hi * 18446744073709551616.0 + (double)n.lo);
    }
    return (double)a->hi * 18446744073709551616.0 + (double)a->lo;
}

/* reusable buffers of one chunk column (values) and of the codes, so that decoding a segment
 * per row group allocates nothing */
typedef struct vscratch {
    void *buf;
    size_t cap;
} vscratch;

/* ---- aggregates ---- */

enum { AK_S = 1, AK_U, AK_F, AK_B, AK_BYTES }; /* value kinds: signed, unsigned, float, bool, bytes */

static int kind_of(int type) {
    switch (type) {
    case CAIRN_TYPE_I8: case CAIRN_TYPE_I16: case CAIRN_TYPE_I32: case CAIRN_TYPE_I64: case CAIRN_TYPE_TIMESTAMP:
        return AK_S;
    case CAIRN_TYPE_U8: case CAIRN_TYPE_U16: case CAIRN_TYPE_U32: case CAIRN_TYPE_U64: return AK_U;
    case CAIRN_TYPE_F32: case CAIRN_TYPE_F64: return AK_F;
    case CAIRN_TYPE_BOOL: return AK_B;
    default: return AK_BYTES;
    }
}

typedef struct astate {
    uint64_t n;       /* values seen (count(*): rows) */
    i128 is;          /* integer sum */
    fsum fs;          /* float sum */
    int has;          /* min/max: a value is held */
    union {
        int64_t i;
        uint64_t u;
        double f;
    } m;
    uint8_t *mb;      /* min/max of bytes (owned) */
    size_t ml, mcap;
} astate;

/* an open-addressing map of byte keys to dense indexes (group keys; distinct values) */
typedef struct kmap {
    uint32_t *slot;   /* index + 1, 0 empty */
    size_t cap;
    uint64_t *hash;   /* per entry */
    size_t *koff;
    uint32_t *klen;
    size_t n, ecap;
    tbuf keys;
} kmap;

static void kmap_free(kmap *m) {
    free(m->slot);
    free(m->hash);
    free(m->koff);
    free(m->klen);
    free(m->keys.p);
    memset(m, 0, sizeof *m);
}

static uint64_t hbytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull), x;
    while (n >= 8) {
        memcpy(&x, p, 8);
        h = (h ^ (x * 0xbf58476d1ce4e5b9ull)) * 0x94d049bb133111ebull;
        h ^= h >> 29;
        p += 8, n -= 8;
    }
    x = 0;
    if (n) memcpy(&x, p, n);
    h = (h ^ (x * 0xbf58476d1ce4e5b9ull)) * 0x94d049bb133111ebull;
    h ^= h >> 32;
    return h;
}

static int kmap_grow(kmap *m) {
    size_t nc = m->cap ? m->cap * 2 : 64, i;
    uint32_t *ns = (uint32_t *)calloc(nc, sizeof *ns);
    if (!ns) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (i = 0; i < m->n; i++) {
        size_t j = (size_t)m->hash[i] & (nc - 1);
        while (ns[j]) j = (j + 1) & (nc - 1);
        ns[j] = (uint32_t)(i + 1);
    }
    free(m->slot);
    m->slot = ns;
    m->cap = nc;
    return 0;
}

/* index of key k (inserted if new; *isnew set), or <0 */
static long kmap_get(kmap *m, const uint8_t *k, size_t len, int *isnew) {
    uint64_t h = hbytes(k, len);
    size_t j;
    *isnew = 0;
    if ((m->n + 1) * 2 > m->cap && kmap_grow(m)) return CAIRN_NOMEM;
    j = (size_t)h & (m->cap - 1);
    while (m->slot[j]) {
        size_t e = m->slot[j] - 1;
        if (m->hash[e] == h && m->klen[e] == len && !memcmp(m->keys.p + m->koff[e], k, len)) return (long)e;
        j = (j + 1) & (m->cap - 1);
    }
    if (m->n == UINT32_MAX - 1) return cairn_err__set(CAIRN_TOOBIG, "too many groups");
    if (m->n == m->ecap) {
        size_t nc = m->ecap ? m->ecap * 2 : 64;
        uint64_t *nh = (uint64_t *)realloc(m->hash, nc * sizeof *nh);
        size_t *no;
        uint32_t *nl;
        if (!nh) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        m->hash = nh;
        if (!(no = (size_t *)realloc(m->koff, nc * sizeof *no))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        m->koff = no;
        if (!(nl = (uint32_t *)realloc(m->klen, nc * sizeof *nl))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        m->klen = nl;
        m->ecap = nc;
    }
    m->hash[m->n] = h;
    m->koff[m->n] = m->keys.n;
    m->klen[m->n] = (uint32_t)len;
    if (tbuf_put(&m->keys, k, len)) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    m->slot[j] = (uint32_t)(m->n + 1);
    *isnew = 1;
    return (long)m->n++;
}

typedef struct aggx {
    int fn, col;
    const tcol *c;    /* NULL: count(*) */
    int kind;
    size_t in;        /* its column among the chunk's */
    kmap distinct;    /* count_distinct: (group, value) keys */
} aggx;

#define DIRECT 4096

typedef struct actx {
    cairn_table *t;
    const qspec *q;
    tcol idcol;       /* the row id as a u64 column */
    size_t na, ng;
    aggx *a;
    int *cols;        /* columns of a chunk: group columns, then the aggregates' (deduplicated) */
    const tcol **ccol;
    size_t ncols;
    size_t gin[64];   /* group column k: its chunk column (ng <= 64) */
    astate *st;       /* ngroups * na */
    size_t stcap;     /* groups the states hold */
    size_t ngroups;
    kmap groups;
    long direct[DIRECT + 1]; /* single integer group column: value -> group + 1 (DIRECT: null) */
    int use_direct;
    uint32_t *gidx;   /* per chunk row */
    size_t gcap;
    tbuf key;
    void *wide;       /* widened values */
    size_t wcap;
    int (*sink)(void *ctx, const cairn_colvec *cols, size_t n); /* cairn_tbl__walk: rows go here */
    vscratch *scr;    /* per chunk column (walk_all) */
    vscratch cscr;    /* codes */
    vscratch gscr;    /* group codes of a row group (grp_direct) */
    void *sctx;
} actx;

static const tcol *col_of(const actx *x, int col) {
    return col == QCOL_ID ? &x->idcol : &x->t->s.c[col];
}

static int states_grow(actx *x, size_t groups) {
    size_t nc, i;
    astate *ns;
    if (groups <= x->stcap) return 0;
    nc = x->stcap ? x->stcap * 2 : 16;
    while (nc < groups) nc *= 2;
    if (!(ns = (astate *)realloc(x->st, nc * x->na * sizeof *ns))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    memset(ns + x->stcap * x->na, 0, (nc - x->stcap) * x->na * sizeof *ns);
    for (i = x->stcap * x->na; i < nc * x->na; i++) fsum_init(&ns[i].fs);
    x->st = ns;
    x->stcap = nc;
    return 0;
}

/* the normalised key of value v (kind of column c) appended to b */
static int key_put(tbuf *b, const tcol *c, const cairn_value *v) {
    uint8_t tag = v->is_null ? 0 : 1;
    if (tbuf_put(b, &tag, 1)) return CAIRN_NOMEM;
    if (v->is_null) return 0;
    switch (kind_of(c->type)) {
    case AK_S: return tbuf_put(b, &v->v.i, 8);
    case AK_U: return tbuf_put(b, &v->v.u, 8);
    case AK_B: {
        uint8_t x = v->v.b != 0;
        return tbuf_put(b, &x, 1);
    }
    case AK_F: {
        double d = v->v.f;
        if (d == 0) d = 0.0;
        if (isnan(d)) d = NAN;
        return tbuf_put(b, &d, 8);
    }
    default:
        if (c->type != CAIRN_TYPE_FIXED) {
            uint32_t l = (uint32_t)v->v.s.len;
            if (tbuf_put(b, &l, 4)) return CAIRN_NOMEM;
        }
        return tbuf_put(b, v->v.s.bytes, v->v.s.len);
    }
}

/* read one value of column c back from a key at *p */
static const uint8_t *key_get(const uint8_t *p, const tcol *c, cairn_value *v) {
    memset(v, 0, sizeof *v);
    if (!*p++) {
        v->is_null = 1;
        return p;
    }
    switch (kind_of(c->type)) {
    case AK_S: memcpy(&v->v.i, p, 8); return p + 8;
    case AK_U: memcpy(&v->v.u, p, 8); return p + 8;
    case AK_B: v->v.b = *p; return p + 1;
    case AK_F: memcpy(&v->v.f, p, 8); return p + 8;
    default:
        if (c->type == CAIRN_TYPE_FIXED) {
            v->v.s.bytes = p;
            v->v.s.len = c->fixed_len;
            return p + c->fixed_len;
        } else {
            uint32_t l;
            memcpy(&l, p, 4);
            v->v.s.bytes = p + 4;
            v->v.s.len = l;
            return p + 4 + l;
        }
    }
}

static inline int cv_valid(const cairn_colvec *v, size_t i) {
    return !v->validity || ((v->validity[i >> 3] >> (i & 7)) & 1);
}

/* the value of a numeric column at i as i64 / u64 / double (by kind) */
static void num_get(const cairn_colvec *v, size_t i, cairn_value *out, const tcol *c) {
    cairn_tbl__colvec_get(v, c, i, out);
}

static const void *widen(actx *x, const cairn_colvec *v, size_t n);

/* group index of each row of the chunk into x->gidx */
static int group_rows(actx *x, const cairn_colvec *cols, size_t n) {
    size_t i, k;
    int isnew;
    if (n > x->gcap) {
        uint32_t *ng = (uint32_t *)realloc(x->gidx, n * sizeof *ng);
        if (!ng) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        x->gidx = ng;
        x->gcap = n;
    }
    if (x->use_direct) {
        const cairn_colvec *v = &cols[x->gin[0]];
        const tcol *c = col_of(x, x->q->group[0]);
        int sgn = kind_of(c->type) == AK_S;
        const void *wv = widen(x, v, n); /* int64 (signed) or uint64 values */
        const long *dir = x->direct;
        if (!wv) return CAIRN_NOMEM;
        for (i = 0; i < n; i++) {
            cairn_value cv;
            long s;
            size_t d;
            uint64_t u = ((const uint64_t *)wv)[i];
            if (!cv_valid(v, i)) d = DIRECT;
            else d = (sgn ? ((int64_t)u >= 0 && (int64_t)u < DIRECT) : u < DIRECT) ? (size_t)u : DIRECT + 1;
            if (d <= DIRECT && (s = dir[d]) != 0) {
                x->gidx[i] = (uint32_t)(s - 1);
                continue;
            }
            x->key.n = 0;
            num_get(v, i, &cv, c);
            if (key_put(&x->key, c, &cv)) return cairn_err__set(CAIRN_NOMEM, "out of memory");
            if ((s = kmap_get(&x->groups, x->key.p, x->key.n, &isnew)) < 0) return (int)s;
            if (isnew && states_grow(x, (size_t)s + 1)) return CAIRN_NOMEM;
            if (d <= DIRECT) x->direct[d] = s + 1;
            x->gidx[i] = (uint32_t)s;
        }
        return 0;
    }
    for (i = 0; i < n; i++) {
        long s;
        x->key.n = 0;
        for (k = 0; k < x->ng; k++) {
            cairn_value cv;
            const tcol *c = col_of(x, x->q->group[k]);
            cairn_tbl__colvec_get(&cols[x->gin[k]], c, i, &cv);
            if (key_put(&x->key, c, &cv)) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        }
        if ((s = kmap_get(&x->groups, x->key.p ? x->key.p : (const uint8_t *)"", x->key.n, &isnew)) < 0) return (int)s;
        if (isnew && states_grow(x, (size_t)s + 1)) return CAIRN_NOMEM;
        x->gidx[i] = (uint32_t)s;
    }
    return 0;
}

static int wide_need(actx *x, size_t n) {
    if (n <= x->wcap) return 0;
    free(x->wide);
    if (!(x->wide = malloc(n * 8))) {
        x->wcap = 0;
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    x->wcap = n;
    return 0;
}

/* numeric column values widened to int64 / uint64 / double (nulls: 0) */
static const void *widen(actx *x, const cairn_colvec *v, size_t n) {
    size_t i;
    if (v->type == CAIRN_TYPE_F64 || v->type == CAIRN_TYPE_I64 || v->type == CAIRN_TYPE_U64 ||
        v->type == CAIRN_TYPE_TIMESTAMP)
        return v->data;
    if (wide_need(x, n)) return NULL;
#define WIDEN(DT, ST)                                                                                                 \
    do {                                                                                                              \
        DT *restrict d_ = (DT *)x->wide;                                                                              \
        const ST *restrict s_ = (const ST *)v->data;                                                                  \
        for (i = 0; i < n; i++) d_[i] = (DT)s_[i];                                                                    \
    } while (0)
    switch (v->type) {
    case CAIRN_TYPE_I8: WIDEN(int64_t, int8_t); break;
    case CAIRN_TYPE_I16: WIDEN(int64_t, int16_t); break;
    case CAIRN_TYPE_I32: WIDEN(int64_t, int32_t); break;
    case CAIRN_TYPE_U8: case CAIRN_TYPE_BOOL: WIDEN(uint64_t, uint8_t); break;
    case CAIRN_TYPE_U16: WIDEN(uint64_t, uint16_t); break;
    case CAIRN_TYPE_U32: WIDEN(uint64_t, uint32_t); break;
    case CAIRN_TYPE_F32: WIDEN(double, float); break;
    default: return NULL;
    }
#undef WIDEN
    return x->wide;
}

static int fgreater(double a, double b) { /* NaN above every number */
    if (isnan(a)) return !isnan(b);
    if (isnan(b)) return 0;
    return a > b;
}

static int bytes_set(astate *s, const void *p, size_t len) {
    if (len > s->mcap) {
        uint8_t *nb = (uint8_t *)realloc(s->mb, len);
        if (!nb) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        s->mb = nb;
        s->mcap = len;
    }
    if (len) memcpy(s->mb, p, len);
    s->ml = len;
    s->has = 1;
    return 0;
}

/* aggregate a over n rows of chunk column v (state of row i: st[gidx[i] * na + ai], or st[ai]) */
static int agg_one(actx *x, size_t ai, const cairn_colvec *v, size_t n, const uint32_t *gidx) {
    aggx *a = &x->a[ai];
    astate *st = x->st;
    size_t na = x->na, i;
    const void *w;
#define ST(i) (gidx ? &st[(size_t)gidx[i] * na + ai] : &st[ai])
    if (!a->c) { /* count(*) */
        if (!gidx) st[ai].n += n;
        else
            for (i = 0; i < n; i++) ST(i)->n++;
        return 0;
    }
    switch (a->fn) {
    case QAGG_COUNT:
        if (!v->validity && !gidx) st[ai].n += n;
        else
            for (i = 0; i < n; i++) ST(i)->n += (uint64_t)cv_valid(v, i);
        return 0;
    case QAGG_COUNT_DISTINCT:
        for (i = 0; i < n; i++) {
            cairn_value cv;
            uint32_t g = gidx ? gidx[i] : 0;
            int isnew;
            long r;
            if (!cv_valid(v, i)) continue;
            cairn_tbl__colvec_get(v, a->c, i, &cv);
            x->key.n = 0;
            if (tbuf_put(&x->key, &g, 4) || key_put(&x->key, a->c, &cv)) return cairn_err__set(CAIRN_NOMEM, "out of memory");
            if ((r = kmap_get(&a->distinct, x->key.p, x->key.n, &isnew)) < 0) return (int)r;
            ST(i)->n += (uint64_t)isnew;
        }
        return 0;
    case QAGG_SUM: case QAGG_AVG:
        if (!(w = widen(x, v, n))) return CAIRN_NOMEM;
        if (a->kind == AK_F) {
            const double *d = (const double *)w;
            if (!gidx && !v->validity) {
                fsum_run(&st[ai].fs, d, n);
                st[ai].n += n;
            } else {
                for (i = 0; i < n; i++) {
                    astate *s = ST(i);
                    if (!cv_valid(v, i)) continue;
                    s->fs.s[s->fs.k++ & 7] += d[i];
                    s->n++;
                }
            }
        } else if (a->kind == AK_S) {
            const int64_t *d = (const int64_t *)w;
            for (i = 0; i < n; i++) {
                astate *s = ST(i);
                if (!cv_valid(v, i)) continue;
                i128_add_s(&s->is, d[i]);
                s->n++;
            }
        } else {
            const uint64_t *d = (const uint64_t *)w;
            for (i = 0; i < n; i++) {
                astate *s = ST(i);
                if (!cv_valid(v, i)) continue;
                i128_add_u(&s->is, d[i]);
                s->n++;
            }
        }
        return 0;
    default: /* min, max */
        if (a->kind == AK_BYTES) {
            for (i = 0; i < n; i++) {
                cairn_value cv, cur;
                astate *s = ST(i);
                int d;
                if (!cv_valid(v, i)) continue;
                cairn_tbl__colvec_get(v, a->c, i, &cv);
                if (s->has) {
                    cur.is_null = 0;
                    cur.v.s.bytes = s->mb;
                    cur.v.s.len = s->ml;
                    d = cairn_tbl__qval_cmp(a->c, &cv, &cur);
                    if (a->fn == QAGG_MIN ? d >= 0 : d <= 0) continue;
                }
                if (bytes_set(s, cv.v.s.bytes, cv.v.s.len)) return CAIRN_NOMEM;
            }
            return 0;
        }
        if (!(w = widen(x, v, n))) return CAIRN_NOMEM;
        for (i = 0; i < n; i++) {
            astate *s = ST(i);
            if (!cv_valid(v, i)) continue;
            if (a->kind == AK_F) {
                double d = ((const double *)w)[i];
                if (!s->has || (a->fn == QAGG_MIN ? fgreater(s->m.f, d) : fgreater(d, s->m.f))) s->m.f = d;
            } else if (a->kind == AK_S) {
                int64_t d = ((const int64_t *)w)[i];
                if (!s->has || (a->fn == QAGG_MIN ? d < s->m.i : d > s->m.i)) s->m.i = d;
            } else {
                uint64_t d = ((const uint64_t *)w)[i];
                if (!s->has || (a->fn == QAGG_MIN ? d < s->m.u : d > s->m.u)) s->m.u = d;
            }
            s->has = 1;
        }
        return 0;
    }
#undef ST
}

/* one chunk: cols[k] is column x->cols[k]; mask (NULL: all) picks the aggregates */
static int agg_chunk(actx *x, const cairn_colvec *cols, size_t n, const uint8_t *mask) {
    size_t ai;
    const uint32_t *g = NULL;
    int rc;
    if (!n) return 0;
    if (x->sink) return x->sink(x->sctx, cols, n);
    if (x->ng) {
        if ((rc = group_rows(x, cols, n)) != 0) return rc;
        g = x->gidx;
    }
    for (ai = 0; ai < x->na; ai++) {
        if (mask && !mask[ai]) continue;
        if ((rc = agg_one(x, ai, x->a[ai].c ? &cols[x->a[ai].in] : NULL, n, g)) != 0) return rc;
    }
    return 0;
}

static int scan_fn(void *ctx, const qchunk *c) {
    return agg_chunk((actx *)ctx, c->cols, c->n, NULL);
}

/* ---- reading row groups directly (no WHERE) ---- */

#define SEG_HDR 80u

/* header facts of a verified segment */
typedef struct shdr {
    int enc, flags;
    size_t n, nulls;
    const uint8_t *body; /* after the validity bitmap */
    size_t blen;
} shdr;

/* the verified bytes of a segment in place (mapped), or read into *owned */
static int seg_bytes(cairn_table *t, segref *r, const tcol *c, const uint8_t **out, uint8_t **owned) {
    segfile *f = r->file;
    int rc;
    *owned = NULL;
    if (!f->map) {
        const void *m = NULL;
        if (cairn_io__map(f->f, f->size, &m) == 0) f->map = (const uint8_t *)m;
        cairn_errclear();
    }
    if (r->off + r->len > f->size || r->len < SEG_HDR + 4)
        return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: segment of %llu bytes outside the file", cairn_io__path(f->f),
                              (unsigned long long)r->off, (unsigned long long)r->len);
    if (f->map) {
        *out = f->map + r->off;
        if (r->verified) return 0;
    } else {
        if (!(*owned = (uint8_t *)malloc((size_t)r->len))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        if ((rc = cairn_io__pread(f->f, *owned, (size_t)r->len, r->off, NULL)) != 0) {
            free(*owned);
            *owned = NULL;
            return rc;
        }
        *out = *owned;
    }
    if ((rc = cairn_seg__check(*out, (size_t)r->len, c->type, c->fixed_len)) != 0) {
        char msg[CAIRN_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        free(*owned);
        *owned = NULL;
        return cairn_err__set(rc, "%s: offset %llu: %s", cairn_io__path(f->f), (unsigned long long)r->off, msg);
    }
    if (f->map) r->verified = 1;
    (void)t;
    return 0;
}

static void *scratch_get(vscratch *sc, size_t bytes) {
    if (bytes > sc->cap) {
        void *nb = realloc(sc->buf, bytes);
        if (!nb) {
            cairn_err__set(CAIRN_NOMEM, "out of memory");
            return NULL;
        }
        sc->buf = nb;
        sc->cap = bytes;
    }
    return sc->buf;
}

static int seg_damaged(const segref *r, const char *what) {
    return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: damaged %s segment", cairn_io__path(r->file->f),
                          (unsigned long long)r->off, what);
}

/* A DICT segment of an 8-byte type (i64, u64, f64, timestamp) or a FOR segment of an integer
 * type, in the mapping, decoded into the scratch buffers: codes unpacked 8 bytes at a time, the
 * dictionary gathered / the minimum added (what seg.c's general decoder does value by value). The
 * vector borrows the scratch and the mapping's validity bitmap. 1 done, 0 not this shape, <0 an
 * error. */
static int fast_vec(const uint8_t *b, const segref *r, const tcol *c, cairn_colvec *out, vscratch *sc, vscratch *csc) {
    size_t n = cairn_get32(b + 8), vb = (b[7] & 1) ? (n + 7) / 8 : 0, blen = (size_t)r->len - SEG_HDR - 4 - vb, i;
    const uint8_t *body = b + SEG_HDR + vb;
    uint32_t *codes;
    int enc = b[6];
    if (!sc || !csc || !c->w || c->type == CAIRN_TYPE_FIXED || c->type == CAIRN_TYPE_BOOL) return 0;
    if (enc == CAIRN_SEG_DICT && c->w == 8) {
        uint32_t d;
        const uint8_t *dict, *pk;
        uint64_t *vals;
        if (blen < 5 || !(d = cairn_get32(body)) || (size_t)d * 8 + 5 > blen) return seg_damaged(r, "DICT");
        dict = body + 4;
        pk = dict + (size_t)d * 8;
        if (pk[0] > 32) return 0;
        if (!(codes = (uint32_t *)scratch_get(csc, (n ? n : 1) * 4)) || !(vals = (uint64_t *)scratch_get(sc, (n ? n : 1) * 8)))
            return CAIRN_NOMEM;
        if (cairn_seg__codes(pk + 1, blen - 4 - (size_t)d * 8 - 1, pk[0], 0, n, d, codes)) return seg_damaged(r, "DICT");
        for (i = 0; i < n; i++) memcpy(&vals[i], dict + (size_t)codes[i] * 8, 8);
    } else if (enc == CAIRN_SEG_FOR && kind_of(c->type) != AK_F) {
        uint64_t min, maxc = 0;
        const uint8_t *pk = body + 8;
        void *vals;
        if (blen < 9) return seg_damaged(r, "FOR");
        min = cairn_get64(body);
        if (pk[0] > 32) return 0;
        if (!(codes = (uint32_t *)scratch_get(csc, (n ? n : 1) * 4)) || !(vals = scratch_get(sc, (n ? n : 1) * c->w)))
            return CAIRN_NOMEM;
        if (cairn_seg__codes(pk + 1, blen - 9, pk[0], 0, n, (uint64_t)1 << 32, codes)) return seg_damaged(r, "FOR");
        for (i = 0; i < n; i++) maxc = codes[i] > maxc ? codes[i] : maxc;
        /* every value min + code must lie in the type's range (as seg.c checks) */
        {
            int sgn = kind_of(c->type) == AK_S;
            int64_t lo = 0, hi = 0;
            uint64_t uhi = 0;
            switch (c->w) {
            case 1: lo = INT8_MIN, hi = INT8_MAX, uhi = UINT8_MAX; break;
            case 2: lo = INT16_MIN, hi = INT16_MAX, uhi = UINT16_MAX; break;
            case 4: lo = INT32_MIN, hi = INT32_MAX, uhi = UINT32_MAX; break;
            default: lo = INT64_MIN, hi = INT64_MAX, uhi = UINT64_MAX; break;
            }
            if (sgn ? ((int64_t)min < lo || (int64_t)min > hi || maxc > (uint64_t)hi - min) /* hi - min in u64: no overflow */
                    : (min > uhi || maxc > uhi - min))
                return seg_damaged(r, "FOR");
        }
#define FOR_FILL(T)                                                                                                   \
    do {                                                                                                              \
        T *restrict v_ = (T *)vals;                                                                                   \
        for (i = 0; i < n; i++) v_[i] = (T)(min + codes[i]);                                                          \
    } while (0)
        switch (c->w) {
        case 1: FOR_FILL(uint8_t); break;
        case 2: FOR_FILL(uint16_t); break;
        case 4: FOR_FILL(uint32_t); break;
        default: FOR_FILL(uint64_t); break;
        }
#undef FOR_FILL
    } else {
        return 0;
    }
    memset(out, 0, sizeof *out);
    out->type = c->type;
    out->n = n;
    out->data = sc->buf;
    out->data_len = n * c->w;
    out->validity = vb ? (uint8_t *)(uintptr_t)(b + SEG_HDR) : NULL;
    return 1;
}

/* column vector of a whole segment: PLAIN fixed-width values (aligned) in place, else decoded.
 * *own: the vector's buffers are owned (cairn_seg__free_vec). */
static int seg_vec(cairn_table *t, segref *r, const tcol *c, cairn_colvec *out, int *own, vscratch *sc, vscratch *csc) {
    const uint8_t *b = NULL;
    uint8_t *owned;
    int rc;
    size_t n, w = c->w, vb;
    memset(out, 0, sizeof *out);
    *own = 0;
    if ((rc = seg_bytes(t, r, c, &b, &owned)) != 0) return rc;
    n = cairn_get32(b + 8);
    vb = (b[7] & 1) ? (n + 7) / 8 : 0;
    if (!owned && b[6] == CAIRN_SEG_PLAIN && w && c->type != CAIRN_TYPE_FIXED &&
        ((uintptr_t)(b + SEG_HDR + vb) % w) == 0 && SEG_HDR + vb + n * w + 4 <= r->len) {
        out->type = c->type;
        out->n = n;
        out->data = (void *)(uintptr_t)(b + SEG_HDR + vb);
        out->validity = vb ? (uint8_t *)(uintptr_t)(b + SEG_HDR) : NULL;
        out->data_len = n * w;
        return 0;
    }
    if (!owned && (rc = fast_vec(b, r, c, out, sc, csc)) != 0) return rc < 0 ? rc : 0;
    rc = cairn_seg__decode_range(b, (size_t)r->len, c->type, c->fixed_len, 0, n, out);
    free(owned);
    if (rc) {
        char msg[CAIRN_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        return cairn_err__set(rc == CAIRN_RANGE ? CAIRN_CORRUPT : rc, "%s: offset %llu: %s", cairn_io__path(r->file->f),
                              (unsigned long long)r->off, msg);
    }
    *own = 1;
    return 0;
}

static void vec_drop(cairn_colvec *v, int own) {
    if (own) cairn_seg__free_vec(v);
    memset(v, 0, sizeof *v);
}

/* a slice [from, from + n) of a vector, from a multiple of 8 */
static cairn_colvec vec_slice(const cairn_colvec *v, size_t from, size_t n) {
    cairn_colvec s = *v;
    size_t w = cairn_seg__width(v->type, v->fixed_len);
    s.n = n;
    if (v->validity) s.validity = v->validity + from / 8;
    if (v->offsets) s.offsets = v->offsets + from;
    else if (v->data) s.data = (uint8_t *)v->data + from * w;
    return s;
}

/* The group by of one integer column over the vectors of a whole clean row group (n rows),
 * fused: the group column's values become local indexes (value - least value) into a table of
 * state pointers, and each count(*), count, sum and avg of a column without nulls is one loop
 * over the rows through that table (no key, no direct-array branch, no widening of the group
 * column, float sums straight into the partial sums of the row's group, in row order as the
 * definition wants). 1 done, 0 not this shape (nothing was added), <0 an error. */
#define FUSE_SPAN 1024u
static int grp_fused(actx *x, const cairn_colvec *cv, size_t n, const rgroup *g) {
    const cairn_colvec *gv;
    const tcol *gc;
    size_t ai, i, span;
    int64_t lo;
    uint32_t *li;
    uint8_t seen[FUSE_SPAN];
    long first[FUSE_SPAN];
    astate *sp[FUSE_SPAN];
    uint64_t k0[FUSE_SPAN];
    int sgn;
    if (x->ng != 1 || x->q->group[0] == QCOL_ID || !n) return 0;
    gv = &cv[x->gin[0]];
    gc = col_of(x, x->q->group[0]);
    sgn = kind_of(gc->type) == AK_S;
    if ((!sgn && kind_of(gc->type) != AK_U) || gv->validity || gc->type == CAIRN_TYPE_U64) return 0;
    { /* the least value from the zone map of the group column's (verified) segment */
        const segref *r = &g->cols[x->q->group[0]];
        if (!r->file || !r->file->map || !r->verified || r->len < SEG_HDR) return 0;
        lo = (int64_t)cairn_get64(r->file->map + r->off + 32);
    }
    for (ai = 0; ai < x->na; ai++) {
        const aggx *a = &x->a[ai];
        if (!a->c) continue;
        if (a->col == QCOL_ID || cv[a->in].validity) return 0;
        if (a->fn == QAGG_COUNT) continue;
        if (a->fn != QAGG_SUM && a->fn != QAGG_AVG) return 0;
        if (a->kind == AK_F ? a->c->type != CAIRN_TYPE_F64 : (a->kind != AK_S && a->kind != AK_U)) return 0;
    }
    if (n > x->gcap) {
        uint32_t *ng = (uint32_t *)realloc(x->gidx, n * sizeof *ng);
        if (!ng) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        x->gidx = ng;
        x->gcap = n;
    }
    li = x->gidx;
    /* local indexes value - lo (lo: the zone map's least value), each < FUSE_SPAN, checked (an OR
     * of them all: a zone map that does not hold its segment's values sends the row group down the
     * usual path), and which occur */
    memset(seen, 0, sizeof seen);
    {
        uint64_t any = 0; /* in 64 bits: a value below lo is a huge difference, never a small one */
#define GLOCAL(T)                                                                                                     \
    do {                                                                                                              \
        const T *v_ = (const T *)gv->data;                                                                            \
        for (i = 0; i < n; i++) {                                                                                     \
            uint64_t e_ = (uint64_t)(int64_t)v_[i] - (uint64_t)lo;                                                    \
            any |= e_;                                                                                                \
            li[i] = (uint32_t)e_;                                                                                     \
        }                                                                                                             \
        if (any >= FUSE_SPAN) return 0;                                                                               \
        for (i = 0; i < n; i++) seen[li[i]] = 1;                                                                      \
    } while (0)
        switch (gc->type) {
        case CAIRN_TYPE_I8: GLOCAL(int8_t); break;
        case CAIRN_TYPE_I16: GLOCAL(int16_t); break;
        case CAIRN_TYPE_I32: GLOCAL(int32_t); break;
        case CAIRN_TYPE_I64: case CAIRN_TYPE_TIMESTAMP: GLOCAL(int64_t); break;
        case CAIRN_TYPE_U8: GLOCAL(uint8_t); break;
        case CAIRN_TYPE_U16: GLOCAL(uint16_t); break;
        case CAIRN_TYPE_U32: GLOCAL(uint32_t); break;
        default: return 0;
        }
#undef GLOCAL
    }
    /* the group of each value that occurs, found (or made) once through the usual path */
    {
        cairn_colvec one[64];
        uint64_t slot;
        size_t k, v;
        if (x->ncols > 64) return 0;
        for (v = 0; v < FUSE_SPAN; v++) {
            int rc;
            uint32_t save = li[0];
            uint64_t val = (uint64_t)lo + v;
            first[v] = -1;
            if (!seen[v]) continue;
            for (k = 0; k < x->ncols; k++) {
                one[k] = cv[k];
                one[k].n = 1;
            }
            switch (gc->w) { /* the value in the column's width (little or big endian alike) */
            case 1: { uint8_t e = (uint8_t)val; memcpy(&slot, &e, 1); break; }
            case 2: { uint16_t e = (uint16_t)val; memcpy(&slot, &e, 2); break; }
            case 4: { uint32_t e = (uint32_t)val; memcpy(&slot, &e, 4); break; }
            default: slot = val; break;
            }
            one[x->gin[0]].data = &slot;
            if ((rc = group_rows(x, one, 1)) != 0) return rc;
            first[v] = (long)x->gidx[0];
            li = x->gidx;
            li[0] = save;
        }
    }
    span = FUSE_SPAN;
    for (ai = 0; ai < x->na; ai++) {
        const aggx *a = &x->a[ai];
        const cairn_colvec *v = a->c ? &cv[a->in] : NULL;
        for (i = 0; i < span; i++) sp[i] = first[i] >= 0 ? &x->st[(size_t)first[i] * x->na + ai] : NULL;
        if (!a->c || a->fn == QAGG_COUNT) {
            for (i = 0; i < n; i++) sp[li[i]]->n++;
        } else if (a->kind == AK_F) {
            const double *d = (const double *)v->data;
            for (i = 0; i < span; i++) k0[i] = sp[i] ? sp[i]->fs.k : 0;
            for (i = 0; i < n; i++) {
                astate *st = sp[li[i]];
                st->fs.s[st->fs.k++ & 7] += d[i];
            }
            for (i = 0; i < span; i++)
                if (sp[i]) sp[i]->n += sp[i]->fs.k - k0[i];
        } else {
            const void *w = widen(x, v, n);
            if (!w) return CAIRN_NOMEM;
            if (a->kind == AK_S) {
                for (i = 0; i < n; i++) {
                    astate *st = sp[li[i]];
                    i128_add_s(&st->is, ((const int64_t *)w)[i]);
                    st->n++;
                }
            } else {
                for (i = 0; i < n; i++) {
                    astate *st = sp[li[i]];
                    i128_add_u(&st->is, ((const uint64_t *)w)[i]);
                    st->n++;
                }
            }
        }
    }
    return 1;
}

/* The group by of one integer column over a clean row group, straight from the segments: when
 * the group column is FOR or DICT without nulls with at most 1024 codes, its codes are the local
 * group indexes (no values decoded, no widening); count(*), count of a column without nulls, and
 * sum / avg of an f64 column without nulls stored DICT (its codes unpacked 256 at a time and the
 * dictionary gathered) or PLAIN, each one loop adding into the row's group's partial sums in row
 * order. 1 done, 0 not this shape (nothing added), <0 an error. */
#define DG_CODES 1024u
#define DG_LOCAL 64u
static void shdr_get(const uint8_t *b, size_t len, shdr *h);
typedef struct dgagg {
    int how;               /* 0 count, 1 f64 DICT, 2 f64 PLAIN */
    const uint8_t *dict, *pk, *body;
    size_t plen;
    uint32_t d;
    unsigned w;
    segref *r;
} dgagg;

static int grp_direct(actx *x, rgroup *g) {
    const tcol *gc;
    segref *gr;
    const uint8_t *b, *gpk, *gdict = NULL;
    uint8_t *owned = NULL;
    shdr h;
    size_t gplen, n = g->nrows, i, ai, ncode;
    uint64_t gmin = 0, gd;
    unsigned gw;
    uint32_t *gcodes;
    int rc, sgn;
    uint64_t cnt[DG_CODES];
    long grp[DG_CODES];
    astate *sp[DG_CODES];
    dgagg da[16];
    if (x->ng != 1 || x->q->group[0] == QCOL_ID || x->na > 16 || x->ncols > 64 || !n) return 0;
    gc = col_of(x, x->q->group[0]);
    sgn = kind_of(gc->type) == AK_S;
    if ((!sgn && kind_of(gc->type) != AK_U) || gc->type == CAIRN_TYPE_U64) return 0;
    gr = &g->cols[x->q->group[0]];
    if ((rc = seg_bytes(x->t, gr, gc, &b, &owned)) != 0) return rc;
    if (owned) {
        free(owned);
        return 0;
    }
    shdr_get(b, (size_t)gr->len, &h);
    if (h.n != n || h.nulls) return 0;
    if (h.enc == CAIRN_SEG_FOR && h.blen >= 9) {
        gmin = cairn_get64(h.body);
        gpk = h.body + 8;
        gplen = h.blen - 9;
        gw = gpk[0];
        if (gw > 10) return 0;
        gd = (uint64_t)1 << gw;
    } else if (h.enc == CAIRN_SEG_DICT && h.blen >= 5) {
        gd = cairn_get32(h.body);
        if (!gd || gd > DG_CODES || 4 + gd * gc->w + 1 > h.blen) return 0;
        gdict = h.body + 4;
        gpk = gdict + gd * gc->w;
        gplen = h.blen - 4 - (size_t)gd * gc->w - 1;
        gw = gpk[0];
        if (gw > 10) return 0;
    } else {
        return 0;
    }
    ncode = (size_t)1 << gw;
    if (ncode > gd) ncode = (size_t)gd;
    /* the aggregates: each must be one this loop knows */
    for (ai = 0; ai < x->na; ai++) {
        const aggx *a = &x->a[ai];
        dgagg *q = &da[ai];
        memset(q, 0, sizeof *q);
        if (!a->c) continue;
        if (a->col == QCOL_ID) return 0;
        q->r = &g->cols[a->col];
        if ((rc = seg_bytes(x->t, q->r, a->c, &b, &owned)) != 0) return rc;
        if (owned) {
            free(owned);
            return 0;
        }
        shdr_get(b, (size_t)q->r->len, &h);
        if (h.n != n || h.nulls) return 0;
        if (a->fn == QAGG_COUNT) continue;
        if ((a->fn != QAGG_SUM && a->fn != QAGG_AVG) || a->c->type != CAIRN_TYPE_F64) return 0;
        if (h.enc == CAIRN_SEG_DICT && h.blen >= 5) {
            q->d = cairn_get32(h.body);
            if (!q->d || (size_t)q->d * 8 + 5 > h.blen) return 0;
            q->dict = h.body + 4;
            q->pk = q->dict + (size_t)q->d * 8 + 1;
            q->w = q->pk[-1];
            q->plen = h.blen - 4 - (size_t)q->d * 8 - 1;
            if (q->w > 32) return 0;
            q->how = 1;
        } else if (h.enc == CAIRN_SEG_PLAIN && h.blen >= n * 8) {
            q->body = h.body;
            q->how = 2;
        } else {
            return 0;
        }
    }
    /* the group codes of the row group, which occur, and their groups */
    if (!(gcodes = (uint32_t *)scratch_get(&x->gscr, n * 4))) return CAIRN_NOMEM;
    if (cairn_seg__codes(gpk + 1, gplen, gw, 0, n, gd, gcodes)) return seg_damaged(gr, h.enc == CAIRN_SEG_FOR ? "FOR" : "DICT");
    memset(cnt, 0, ncode * sizeof *cnt);
    for (ai = 0; ai < x->na && (!x->a[ai].c || x->a[ai].fn != QAGG_COUNT) && da[ai].how; ai++) {}
    if (ai < x->na) /* a count: the rows per code (else each code's groups are found from the sums) */
        for (i = 0; i < n; i++) cnt[gcodes[i]]++;
    else if (ncode <= 64) { /* which codes occur: bits of four masks (no store per row) */
        uint64_t m0 = 0, m1 = 0, m2 = 0, m3 = 0;
        for (i = 0; i + 4 <= n; i += 4) {
            m0 |= 1ull << gcodes[i], m1 |= 1ull << gcodes[i + 1];
            m2 |= 1ull << gcodes[i + 2], m3 |= 1ull << gcodes[i + 3];
        }
        for (; i < n; i++) m0 |= 1ull << gcodes[i];
        m0 |= m1 | m2 | m3;
        for (i = 0; i < ncode; i++) cnt[i] = (m0 >> i) & 1;
    } else
        for (i = 0; i < n; i++) cnt[gcodes[i]] = 1; /* which codes occur */
    {
        cairn_colvec one[64];
        uint64_t slot;
        size_t c;
        memset(one, 0, x->ncols * sizeof *one);
        for (c = 0; c < ncode; c++) {
            uint64_t val;
            grp[c] = -1;
            if (!cnt[c]) continue;
            if (gdict) {
                val = 0;
                memcpy(&slot, gdict + c * gc->w, gc->w); /* the stored value, as it is */
            } else {
                int64_t lo, hi;
                uint64_t uhi;
                val = gmin + c;
                switch (gc->w) {
                case 1: lo = INT8_MIN, hi = INT8_MAX, uhi = UINT8_MAX; break;
                case 2: lo = INT16_MIN, hi = INT16_MAX, uhi = UINT16_MAX; break;
                case 4: lo = INT32_MIN, hi = INT32_MAX, uhi = UINT32_MAX; break;
                default: lo = INT64_MIN, hi = INT64_MAX, uhi = UINT64_MAX; break;
                }
                if (sgn ? ((int64_t)gmin < lo || (int64_t)gmin > hi || c > (uint64_t)hi - gmin) : (gmin > uhi || c > uhi - gmin))
                    return seg_damaged(gr, "FOR");
                switch (gc->w) {
                case 1: { uint8_t e = (uint8_t)val; memcpy(&slot, &e, 1); break; }
                case 2: { uint16_t e = (uint16_t)val; memcpy(&slot, &e, 2); break; }
                case 4: { uint32_t e = (uint32_t)val; memcpy(&slot, &e, 4); break; }
                default: slot = val; break;
                }
            }
            one[x->gin[0]].type = gc->type;
            one[x->gin[0]].n = 1;
            one[x->gin[0]].data = &slot;
            if ((rc = group_rows(x, one, 1)) != 0) return rc;
            grp[c] = (long)x->gidx[0];
        }
    }
    for (ai = 0; ai < x->na; ai++) {
        const dgagg *q = &da[ai];
        size_t c;
        for (c = 0; c < ncode; c++) sp[c] = grp[c] >= 0 ? &x->st[(size_t)grp[c] * x->na + ai] : NULL;
        uint64_t k0[DG_CODES];
        for (c = 0; c < ncode; c++) {
            if (!sp[c]) continue;
            if (q->how) k0[c] = sp[c]->fs.k; /* a sum counts its values by how far k moved */
            else sp[c]->n += cnt[c];
        }
        if (q->how && ncode <= DG_LOCAL) {
            /* few codes: the partial sums and counters in a small local array (DICT or PLAIN) */
            double acc[DG_LOCAL * 8];
            uint64_t kk[DG_LOCAL];
            uint32_t vc[256];
            size_t i0, j;
            for (c = 0; c < ncode; c++) {
                if (!sp[c]) continue;
                for (j = 0; j < 8; j++) acc[c * 8 + j] = sp[c]->fs.s[j];
                kk[c] = sp[c]->fs.k;
            }
            if (q->how == 1) {
                for (i0 = 0; i0 < n; i0 += 256) {
                    size_t m = n - i0 < 256 ? n - i0 : 256;
                    const uint32_t *gcb = gcodes + i0;
                    if (cairn_seg__codes(q->pk, q->plen, q->w, i0, m, q->d, vc)) return seg_damaged(q->r, "DICT");
                    for (j = 0; j < m; j++) {
                        uint32_t gq = gcb[j];
                        double v;
                        memcpy(&v, q->dict + (size_t)vc[j] * 8, 8);
                        acc[gq * 8 + (kk[gq]++ & 7)] += v;
                    }
                }
            } else {
                for (i = 0; i < n; i++) {
                    uint32_t gq = gcodes[i];
                    double v;
                    memcpy(&v, q->body + i * 8, 8);
                    acc[gq * 8 + (kk[gq]++ & 7)] += v;
                }
            }
            for (c = 0; c < ncode; c++) {
                if (!sp[c]) continue;
                for (j = 0; j < 8; j++) sp[c]->fs.s[j] = acc[c * 8 + j];
                sp[c]->fs.k = kk[c];
            }
        } else if (q->how == 1) {
            uint32_t vc[256];
            size_t i0, j;
            for (i0 = 0; i0 < n; i0 += 256) {
                size_t m = n - i0 < 256 ? n - i0 : 256;
                const uint32_t *gcb = gcodes + i0;
                if (cairn_seg__codes(q->pk, q->plen, q->w, i0, m, q->d, vc)) return seg_damaged(q->r, "DICT");
                for (j = 0; j < m; j++) {
                    astate *st = sp[gcb[j]];
                    double v;
                    memcpy(&v, q->dict + (size_t)vc[j] * 8, 8);
                    st->fs.s[st->fs.k++ & 7] += v;
                }
            }
        } else if (q->how == 2) {
            for (i = 0; i < n; i++) {
                astate *st = sp[gcodes[i]];
                double v;
                memcpy(&v, q->body + i * 8, 8);
                st->fs.s[st->fs.k++ & 7] += v;
            }
        }
        if (q->how)
            for (c = 0; c < ncode; c++)
                if (sp[c]) sp[c]->n += sp[c]->fs.k - k0[c];
    }
    return 1;
}

/* agg_chunk over a vector set of n rows, QVEC rows at a time */
static int agg_vectors(actx *x, const cairn_colvec *cv, size_t n, const uint8_t *mask) {
    cairn_colvec sl[64];
    cairn_colvec *s = x->ncols <= 64 ? sl : (cairn_colvec *)malloc(x->ncols * sizeof *s);
    size_t from, k;
    int rc = 0;
    if (!s) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (from = 0; !rc && from < n; from += QVEC) {
        size_t m = n - from < QVEC ? n - from : QVEC;
        for (k = 0; k < x->ncols; k++) s[k] = vec_slice(&cv[k], from, m);
        rc = agg_chunk(x, s, m, mask);
    }
    if (s != sl) free(s);
    return rc;
}

/* a value into a fixed-width slot of its C type */
static void put_fixed(uint8_t *d, const tcol *c, const cairn_value *v) {
    switch (c->type) {
    case CAIRN_TYPE_I8: { int8_t x = (int8_t)v->v.i; memcpy(d, &x, 1); break; }
    case CAIRN_TYPE_U8: { uint8_t x = (uint8_t)v->v.u; memcpy(d, &x, 1); break; }
    case CAIRN_TYPE_BOOL: { uint8_t x = v->v.b != 0; memcpy(d, &x, 1); break; }
    case CAIRN_TYPE_I16: { int16_t x = (int16_t)v->v.i; memcpy(d, &x, 2); break; }
    case CAIRN_TYPE_U16: { uint16_t x = (uint16_t)v->v.u; memcpy(d, &x, 2); break; }
    case CAIRN_TYPE_I32: { int32_t x = (int32_t)v->v.i; memcpy(d, &x, 4); break; }
    case CAIRN_TYPE_U32: { uint32_t x = (uint32_t)v->v.u; memcpy(d, &x, 4); break; }
    case CAIRN_TYPE_F32: { float x = (float)v->v.f; memcpy(d, &x, 4); break; }
    case CAIRN_TYPE_F64: memcpy(d, &v->v.f, 8); break;
    case CAIRN_TYPE_FIXED: memcpy(d, v->v.s.bytes, c->fixed_len); break;
    default: memcpy(d, &v->v.u, 8); break;
    }
}

/* build a vector of n values (cairn_seg__free_vec) */
typedef struct vbuild {
    cairn_colvec v;
    tbuf data;
} vbuild;

static int vb_init(vbuild *b, const tcol *c, size_t n) {
    memset(b, 0, sizeof *b);
    b->v.type = c->type;
    b->v.fixed_len = c->type == CAIRN_TYPE_FIXED ? c->fixed_len : 0;
    if (!(b->v.validity = (uint8_t *)calloc((n + 7) / 8 + 1, 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if (!c->w && !(b->v.offsets = (uint64_t *)malloc((n + 1) * 8))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if (c->w && cairn_tbl__buf_grow(&b->data, n * c->w + 1)) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    return 0;
}

static int vb_put(vbuild *b, const tcol *c, const cairn_value *v) {
    size_t i = b->v.n++;
    if (!v->is_null) b->v.validity[i >> 3] |= (uint8_t)(1u << (i & 7));
    if (c->w) {
        cairn_value z;
        memset(&z, 0, sizeof z);
        if (v->is_null && c->type == CAIRN_TYPE_FIXED) {
            static const uint8_t zeros[64];
            size_t k;
            for (k = 0; k < c->fixed_len; k += 64)
                if (tbuf_put(&b->data, zeros, c->fixed_len - k < 64 ? c->fixed_len - k : 64)) return CAIRN_NOMEM;
            return 0;
        }
        put_fixed(b->data.p + b->data.n, c, v->is_null ? &z : v);
        b->data.n += c->w;
        return 0;
    }
    b->v.offsets[i] = b->data.n;
    if (!v->is_null && tbuf_put(&b->data, v->v.s.bytes, v->v.s.len)) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    return 0;
}

static void vb_finish(vbuild *b, const tcol *c) {
    if (!c->w) b->v.offsets[b->v.n] = b->data.n;
    b->v.data = b->data.p;
    b->v.data_len = b->data.n;
    b->data.p = NULL;
}

/* which groups hold overlay rows */
static int overlay_groups(cairn_table *t, uint8_t *mark) {
    size_t i;
    for (i = 0; i < t->ovmap.cap; i++) {
        uint64_t id = t->ovmap.k ? t->ovmap.k[i] : 0;
        size_t lo = 0, hi = t->ng;
        if (!id) continue;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (t->g[mid].last_id < id) lo = mid + 1;
            else hi = mid;
        }
        if (lo < t->ng && t->g[lo].first_id <= id) mark[lo] = 1;
    }
    return 0;
}


static void shdr_get(const uint8_t *b, size_t len, shdr *h) {
    size_t vb;
    h->enc = b[6];
    h->flags = b[7];
    h->n = cairn_get32(b + 8);
    h->nulls = cairn_get32(b + 24);
    vb = (h->flags & 1) ? (h->n + 7) / 8 : 0;
    h->body = b + SEG_HDR + vb;
    h->blen = len - SEG_HDR - 4 - vb;
}

/* a V of width w at p as a 64-bit value (sign-extended for signed kinds) */
static uint64_t v_get(const uint8_t *p, const tcol *c) {
    cairn_value v;
    memset(&v, 0, sizeof v);
    switch (c->type) {
    case CAIRN_TYPE_I8: { int8_t x; memcpy(&x, p, 1); return (uint64_t)(int64_t)x; }
    case CAIRN_TYPE_I16: { int16_t x; memcpy(&x, p, 2); return (uint64_t)(int64_t)x; }
    case CAIRN_TYPE_I32: { int32_t x; memcpy(&x, p, 4); return (uint64_t)(int64_t)x; }
    case CAIRN_TYPE_U8: return p[0];
    case CAIRN_TYPE_U16: { uint16_t x; memcpy(&x, p, 2); return x; }
    case CAIRN_TYPE_U32: { uint32_t x; memcpy(&x, p, 4); return x; }
    default: { uint64_t x; memcpy(&x, p, 8); return x; }
    }
}

/* bit-packed value k of width w at p (P(c) after its width byte) */
static uint64_t unpack(const uint8_t *p, unsigned w, size_t k) {
    uint64_t r = 0;
    size_t bit = k * w;
    unsigned got = 0;
    if (!w) return 0;
    while (got < w) {
        unsigned take = 8 - (unsigned)(bit & 7);
        uint64_t byte = p[bit >> 3] >> (bit & 7);
        if (take > w - got) take = w - got;
        r |= (byte & ((1u << take) - 1)) << got;
        got += take;
        bit += take;
    }
    return r;
}

/* Answer aggregate ai over clean row group g from its segment without decoding, if it can
 * (1), else 0 (the caller decodes), <0 an error. */
static int fast_agg(actx *x, size_t ai, rgroup *g) {
    aggx *a = &x->a[ai];
    astate *s = &x->st[ai];
    const uint8_t *b;
    uint8_t *owned = NULL;
    segref *r;
    shdr h;
    size_t w;
    int rc, done = 0;
    if (!a->c) {
        s->n += g->nrows;
        return 1;
    }
    if (a->col == QCOL_ID || a->fn == QAGG_COUNT_DISTINCT) return 0;
    r = &g->cols[a->col];
    if ((rc = seg_bytes(x->t, r, a->c, &b, &owned)) != 0) return rc;
    shdr_get(b, (size_t)r->len, &h);
    w = a->c->w;
    if (h.n != g->nrows) {
        free(owned);
        return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: segment of %zu rows in a row group of %u",
                              cairn_io__path(r->file->f), (unsigned long long)r->off, h.n, (unsigned)g->nrows);
    }
    switch (a->fn) {
    case QAGG_COUNT:
        s->n += h.n - h.nulls;
        done = 1;
        break;
    case QAGG_SUM: case QAGG_AVG:
        if (a->kind == AK_F && h.enc == CAIRN_SEG_DICT && a->c->type == CAIRN_TYPE_F64 && h.blen >= 5) {
            /* codes unpacked and the dictionary gathered 256 values at a time, summed in order */
            uint32_t d = cairn_get32(h.body), codes[256];
            const uint8_t *dict = h.body + 4, *pk, *vb = b + SEG_HDR;
            double buf[256];
            size_t i0, j;
            unsigned pw;
            if (!d || (size_t)d * 8 + 5 > h.blen) break;
            pk = dict + (size_t)d * 8;
            pw = pk[0];
            if (pw > 32) break;
            if (!h.nulls) { /* gathered straight into the partial sums, 8 codes at a time */
                if (cairn_seg__dict_fsum(pk + 1, h.blen - 4 - (size_t)d * 8 - 1, pw, h.n, dict, d, s->fs.s, s->fs.k)) {
                    free(owned);
                    return seg_damaged(r, "DICT");
                }
                s->fs.k += h.n;
                s->n += h.n;
                done = 1;
                break;
            }
            for (i0 = 0; i0 < h.n; i0 += 256) {
                size_t m = h.n - i0 < 256 ? h.n - i0 : 256;
                if (cairn_seg__codes(pk + 1, h.blen - 4 - (size_t)d * 8 - 1, pw, i0, m, d, codes)) {
                    free(owned);
                    return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: damaged DICT segment", cairn_io__path(r->file->f),
                                          (unsigned long long)r->off);
                }
                for (j = 0; j < m; j++) memcpy(&buf[j], dict + (size_t)codes[j] * 8, 8);
                if (!h.nulls) fsum_run(&s->fs, buf, m);
                else
                    for (j = 0; j < m; j++)
                        if ((vb[(i0 + j) >> 3] >> ((i0 + j) & 7)) & 1) s->fs.s[s->fs.k++ & 7] += buf[j];
            }
            s->n += h.n - h.nulls;
            done = 1;
        } else if (a->kind == AK_F) {
            if (h.enc != CAIRN_SEG_PLAIN || a->c->type != CAIRN_TYPE_F64 || h.blen < h.n * 8) break;
            if (!h.nulls) fsum_run_bytes(&s->fs, h.body, h.n);
            else {
                const uint8_t *vb = b + SEG_HDR;
                size_t i;
                for (i = 0; i < h.n; i++) {
                    double d;
                    if (!((vb[i >> 3] >> (i & 7)) & 1)) continue;
                    memcpy(&d, h.body + i * 8, 8);
                    s->fs.s[s->fs.k++ & 7] += d;
                }
            }
            s->n += h.n - h.nulls;
            done = 1;
        } else if (h.enc == CAIRN_SEG_FOR && !h.nulls && h.blen >= 9 && h.body[8] <= 32 && a->kind != AK_F) {
            /* n x min + the sum of the codes (each value min + code, checked in the type's range) */
            uint64_t min = cairn_get64(h.body), csum = 0;
            uint32_t codes[256], maxc = 0;
            size_t i0, j;
            int sgn = a->kind == AK_S;
            int64_t lo, hi;
            uint64_t uhi;
            for (i0 = 0; i0 < h.n; i0 += 256) {
                size_t m = h.n - i0 < 256 ? h.n - i0 : 256;
                if (cairn_seg__codes(h.body + 9, h.blen - 9, h.body[8], i0, m, (uint64_t)1 << 32, codes)) {
                    free(owned);
                    return seg_damaged(r, "FOR");
                }
                for (j = 0; j < m; j++) {
                    csum += codes[j]; /* < 2^32 x 2^17: no overflow */
                    maxc = codes[j] > maxc ? codes[j] : maxc;
                }
            }
            switch (w) {
            case 1: lo = INT8_MIN, hi = INT8_MAX, uhi = UINT8_MAX; break;
            case 2: lo = INT16_MIN, hi = INT16_MAX, uhi = UINT16_MAX; break;
            case 4: lo = INT32_MIN, hi = INT32_MAX, uhi = UINT32_MAX; break;
            default: lo = INT64_MIN, hi = INT64_MAX, uhi = UINT64_MAX; break;
            }
            if (sgn ? ((int64_t)min < lo || (int64_t)min > hi || maxc > (uint64_t)hi - min) : (min > uhi || maxc > uhi - min)) {
                free(owned);
                return seg_damaged(r, "FOR");
            }
            i128_add_mul(&s->is, min, sgn, h.n);
            i128_add_u(&s->is, csum);
            s->n += h.n;
            done = 1;
        } else if (h.enc == CAIRN_SEG_CONSTANT && h.blen >= w) {
            if (h.n > h.nulls) i128_add_mul(&s->is, v_get(h.body, a->c), a->kind == AK_S, h.n - h.nulls);
            s->n += h.n - h.nulls;
            done = 1;
        } else if (h.enc == CAIRN_SEG_RLE && !h.nulls && h.blen >= 4) {
            uint32_t runs = cairn_get32(h.body), k;
            const uint8_t *vals = h.body + 4, *pk = vals + (size_t)runs * w;
            unsigned pw;
            uint64_t prev = 0;
            if (runs == 0 || (size_t)runs * w + 5 > h.blen) break;
            pw = pk[0];
            if (pw > 64 || 5 + (size_t)runs * w + ((size_t)runs * pw + 7) / 8 > h.blen) break;
            for (k = 0; k < runs; k++) {
                uint64_t end = unpack(pk + 1, pw, k);
                if (end <= prev || end > h.n) {
                    free(owned);
                    return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: RLE run ends out of order",
                                          cairn_io__path(r->file->f), (unsigned long long)r->off);
                }
                i128_add_mul(&s->is, v_get(vals + (size_t)k * w, a->c), a->kind == AK_S, end - prev);
                prev = end;
            }
            s->n += h.n;
            done = 1;
        } else if (h.enc == CAIRN_SEG_PLAIN && !h.nulls && h.blen >= h.n * w) {
            size_t i;
            if (a->kind == AK_S) {
                if (w == 8) {
                    for (i = 0; i < h.n; i++) {
                        int64_t d;
                        memcpy(&d, h.body + i * 8, 8);
                        i128_add_s(&s->is, d);
                    }
                } else {
                    int64_t acc = 0; /* |v| < 2^31, n < 2^17: no overflow */
                    for (i = 0; i < h.n; i++) acc += (int64_t)v_get(h.body + i * w, a->c);
                    i128_add_s(&s->is, acc);
                }
            } else {
                if (w == 8) {
                    for (i = 0; i < h.n; i++) {
                        uint64_t d;
                        memcpy(&d, h.body + i * 8, 8);
                        i128_add_u(&s->is, d);
                    }
                } else {
                    uint64_t acc = 0;
                    for (i = 0; i < h.n; i++) acc += v_get(h.body + i * w, a->c);
                    i128_add_u(&s->is, acc);
                }
            }
            s->n += h.n;
            done = 1;
        }
        break;
    case QAGG_MIN: case QAGG_MAX:
        if (a->kind == AK_BYTES) break;
        if (!(h.flags & 2)) { /* no value: nothing to add */
            done = 1;
            break;
        }
        if (a->kind == AK_F) {
            uint64_t bits = cairn_get64(b + (a->fn == QAGG_MIN ? 32 : 40));
            double d;
            if (h.flags & 4) {
                if (a->fn == QAGG_MIN) break; /* NaN: min unknown from the zone */
                d = NAN;
            } else {
                memcpy(&d, &bits, 8);
            }
            if (!s->has || (a->fn == QAGG_MIN ? fgreater(s->m.f, d) : fgreater(d, s->m.f))) s->m.f = d;
        } else if (a->kind == AK_S) {
            int64_t d = (int64_t)cairn_get64(b + (a->fn == QAGG_MIN ? 32 : 40));
            if (!s->has || (a->fn == QAGG_MIN ? d < s->m.i : d > s->m.i)) s->m.i = d;
        } else {
            uint64_t d = cairn_get64(b + (a->fn == QAGG_MIN ? 32 : 40));
            if (!s->has || (a->fn == QAGG_MIN ? d < s->m.u : d > s->m.u)) s->m.u = d;
        }
        s->has = 1;
        done = 1;
        break;
    default:
        break;
    }
    free(owned);
    return done;
}

/* the id vector of a group (decoded) */
static const tcol u64_col = {"_id", CAIRN_TYPE_U64, 0, 0, 0, 0, 0, {0, {0}}, NULL, 8};

static int ids_vec(cairn_table *t, rgroup *g, cairn_colvec *out, int *own) {
    return seg_vec(t, &g->ids, &u64_col, out, own, NULL, NULL);
}

/* the chunk columns of row group gi: live rows only, overlays applied (dirty), into cv/own */
static int group_vecs(actx *x, size_t gi, int dirty, cairn_colvec *cv, int *own) {
    cairn_table *t = x->t;
    rgroup *g = &t->g[gi];
    cairn_colvec ids, *seg = NULL;
    int idown = 0, *sown = NULL, rc = 0;
    size_t k, p;
    memset(&ids, 0, sizeof ids);
    if (!dirty) {
        for (k = 0; k < x->ncols && !rc; k++) {
            if (x->cols[k] == QCOL_ID) rc = ids_vec(t, g, &cv[k], &own[k]);
            else rc = seg_vec(t, &g->cols[x->cols[k]], x->ccol[k], &cv[k], &own[k], &x->scr[k], &x->cscr);
        }
        return rc;
    }
    /* dirty: the live rows, each from its segment or its overlay */
    seg = (cairn_colvec *)calloc(x->ncols, sizeof *seg);
    sown = (int *)calloc(x->ncols, sizeof *sown);
    if (!seg || !sown) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = ids_vec(t, g, &ids, &idown)) != 0) goto out;
    for (k = 0; k < x->ncols && !rc; k++)
        if (x->cols[k] != QCOL_ID) rc = seg_vec(t, &g->cols[x->cols[k]], x->ccol[k], &seg[k], &sown[k], NULL, NULL);
    if (rc) goto out;
    for (k = 0; k < x->ncols && !rc; k++) {
        vbuild vb;
        const tcol *c = x->ccol[k];
        if ((rc = vb_init(&vb, c, g->nrows)) != 0) {
            free(vb.v.validity);
            free(vb.v.offsets);
            free(vb.data.p);
            break;
        }
        for (p = 0; p < g->nrows && !rc; p++) {
            uint64_t rid = ((const uint64_t *)ids.data)[p], op;
            cairn_value v;
            if (grp_deleted(g, (uint32_t)p)) continue;
            if (x->cols[k] == QCOL_ID) {
                memset(&v, 0, sizeof v);
                v.v.u = rid;
            } else if (t->ovmap.n && cairn_tbl__idmap_get(&t->ovmap, rid, &op)) {
                cairn_tbl__rs_get(&t->ov, &t->s, (size_t)op, (size_t)x->cols[k], &v);
            } else {
                cairn_tbl__colvec_get(&seg[k], c, p, &v);
            }
            rc = vb_put(&vb, c, &v);
        }
        vb_finish(&vb, c);
        cv[k] = vb.v;
        own[k] = 1;
    }
out:
    if (seg)
        for (k = 0; k < x->ncols; k++) vec_drop(&seg[k], sown[k]);
    free(seg);
    free(sown);
    vec_drop(&ids, idown);
    return rc;
}

static int walk_all(actx *x) {
    cairn_table *t = x->t;
    uint8_t *ovg = NULL, *mask = NULL;
    cairn_colvec *cv = NULL;
    int *own = NULL, rc = 0;
    uint32_t *sel = NULL;
    size_t gi, k, i;
    if (!(x->scr = (vscratch *)calloc(x->ncols + 1, sizeof *x->scr))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if (!(ovg = (uint8_t *)calloc(t->ng + 1, 1)) || !(mask = (uint8_t *)calloc(x->na + 1, 1)) ||
        !(cv = (cairn_colvec *)calloc(x->ncols + 1, sizeof *cv)) || !(own = (int *)calloc(x->ncols + 1, sizeof *own))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    overlay_groups(t, ovg);
    for (gi = 0; gi < t->ng && !rc; gi++) {
        rgroup *g = &t->g[gi];
        int dirty = ovg[gi] || g->ndel;
        size_t need = x->na, live = 0;
        if (g->ndel >= g->nrows) continue;
        if (!dirty && !x->ng && !x->sink) {
            need = 0;
            for (k = 0; k < x->na; k++) {
                int r = fast_agg(x, k, g);
                if (r < 0) {
                    rc = r;
                    break;
                }
                mask[k] = (uint8_t)!r;
                need += (size_t)!r;
            }
            if (rc || !need) continue;
        }
        if (!dirty && x->ng == 1 && !x->sink && (rc = grp_direct(x, g)) != 0) {
            if (rc > 0) rc = 0;
            continue;
        }
        if ((rc = group_vecs(x, gi, dirty, cv, own)) != 0) goto drop;
        live = x->ncols ? cv[0].n : g->nrows - g->ndel;
        if (!x->sink && x->ng == 1 && (rc = grp_fused(x, cv, live, g)) != 0) {
            if (rc > 0) rc = 0;
            goto drop;
        }
        rc = agg_vectors(x, cv, live, (!dirty && !x->ng && !x->sink) ? mask : NULL);
    drop:
        for (k = 0; k < x->ncols; k++) vec_drop(&cv[k], own[k]);
    }
    if (rc || t->tail.n == t->tail.ndead) goto out;
    /* the tail, QVEC live rows at a time */
    if (!(sel = (uint32_t *)malloc(QVEC * sizeof *sel))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < t->tail.n && !rc;) {
        size_t ns = 0;
        while (i < t->tail.n && ns < QVEC) {
            if (!t->tail.dead[i]) sel[ns++] = (uint32_t)i;
            i++;
        }
        if (!ns) continue;
        for (k = 0; k < x->ncols && !rc; k++) {
            if (x->cols[k] == QCOL_ID) {
                size_t j;
                memset(&cv[k], 0, sizeof cv[k]);
                cv[k].type = CAIRN_TYPE_U64;
                cv[k].n = ns;
                if (!(cv[k].data = malloc(ns * 8))) rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                else
                    for (j = 0; j < ns; j++) ((uint64_t *)cv[k].data)[j] = t->tail.ids[sel[j]];
            } else {
                rc = cairn_tbl__rs_colvec(&t->tail, &t->s, (size_t)x->cols[k], sel, ns, &cv[k]);
            }
            own[k] = 1;
        }
        if (!rc) rc = agg_chunk(x, cv, ns, NULL);
        for (k = 0; k < x->ncols; k++) vec_drop(&cv[k], own[k]);
    }
out:
    for (k = 0; k < x->ncols; k++) free(x->scr[k].buf);
    free(x->scr);
    x->scr = NULL;
    free(x->cscr.buf);
    memset(&x->cscr, 0, sizeof x->cscr);
    free(x->gscr.buf);
    memset(&x->gscr, 0, sizeof x->gscr);
    free(sel);
    free(ovg);
    free(mask);
    free(cv);
    free(own);
    return rc;
}

int cairn_tbl__walk(cairn_table *t, const int *cols, size_t ncols, int (*fn)(void *ctx, const cairn_colvec *cols, size_t n),
                    void *ctx) {
    actx x;
    size_t k;
    int rc;
    memset(&x, 0, sizeof x);
    x.t = t;
    x.idcol = u64_col;
    x.sink = fn;
    x.sctx = ctx;
    if (!(x.cols = (int *)calloc(ncols + 1, sizeof(int))) || !(x.ccol = (const tcol **)calloc(ncols + 1, sizeof(tcol *)))) {
        free(x.cols);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    for (k = 0; k < ncols; k++) {
        x.cols[k] = cols[k];
        x.ccol[k] = col_of(&x, cols[k]);
    }
    x.ncols = ncols;
    rc = walk_all(&x);
    free(x.cols);
    free(x.ccol);
    return rc;
}

/* ---- the entry point ---- */

static int agg_name(tbuf *b, const qagg *g, const tcol *c) {
    static const char *fns[] = {"", "count", "count_distinct", "sum", "min", "max", "avg"};
    b->n = 0;
    if (g->as) return tbuf_put(b, g->as, strlen(g->as));
    if (!c) return tbuf_put(b, "count(*)", 8);
    return cairn_tbl__buf_printf(b, "%s(%s)", fns[g->fn], c->name);
}

static int result_type(const aggx *a, uint32_t *fl) {
    *fl = 0;
    switch (a->fn) {
    case QAGG_COUNT: case QAGG_COUNT_DISTINCT: return CAIRN_TYPE_U64;
    case QAGG_AVG: return CAIRN_TYPE_F64;
    case QAGG_SUM: return a->kind == AK_F ? CAIRN_TYPE_F64 : a->kind == AK_U ? CAIRN_TYPE_U64 : CAIRN_TYPE_I64;
    default: *fl = a->c->fixed_len; return a->c->type;
    }
}

/* the value of aggregate a in state s into v (r: the result set for bytes) */
static int agg_value(const aggx *a, const astate *s, qres *r, cairn_value *v) {
    memset(v, 0, sizeof *v);
    v->is_null = 1;
    switch (a->fn) {
    case QAGG_COUNT: case QAGG_COUNT_DISTINCT:
        v->is_null = 0;
        v->v.u = s->n;
        return 0;
    case QAGG_SUM:
        if (!s->n) return 0;
        v->is_null = 0;
        if (a->kind == AK_F) v->v.f = fsum_val(&s->fs);
        else if (a->kind == AK_U) {
            if (s->is.hi) return cairn_err__set(CAIRN_RANGE, "sum(%s) overflows u64", a->c->name);
            v->v.u = s->is.lo;
        } else {
            if (s->is.hi != ((s->is.lo >> 63) ? UINT64_MAX : 0))
                return cairn_err__set(CAIRN_RANGE, "sum(%s) overflows i64", a->c->name);
            v->v.i = (int64_t)s->is.lo;
        }
        return 0;
    case QAGG_AVG:
        if (!s->n) return 0;
        v->is_null = 0;
        if (a->kind == AK_F) v->v.f = fsum_val(&s->fs) / (double)s->n;
        else v->v.f = i128_double(&s->is, a->kind == AK_S) / (double)s->n;
        return 0;
    default:
        if (!s->has) return 0;
        if (a->kind == AK_BYTES) return cairn_tbl__qres_bytes(r, v, s->mb, s->ml);
        v->is_null = 0;
        if (a->kind == AK_F) v->v.f = s->m.f;
        else if (a->kind == AK_S) v->v.i = s->m.i;
        else if (a->kind == AK_B) v->v.b = s->m.u != 0;
        else v->v.u = s->m.u;
        return 0;
    }
}

static int add_col(actx *x, int col) {
    size_t k;
    for (k = 0; k < x->ncols; k++)
        if (x->cols[k] == col) return (int)k;
    x->cols[x->ncols] = col;
    x->ccol[x->ncols] = col_of(x, col);
    return (int)x->ncols++;
}

int cairn_tbl__aggregate(cairn_table *t, const qspec *q, tbuf *out) {
    actx x;
    qres res;
    qorder *ord = NULL;
    tbuf name = {0, 0, 0};
    size_t k, g, nres;
    int rc = 0;
    memset(&x, 0, sizeof x);
    memset(&res, 0, sizeof res);
    x.t = t;
    x.q = q;
    x.idcol.type = CAIRN_TYPE_U64;
    x.idcol.w = 8;
    memcpy(x.idcol.name, "_id", 4);
    x.na = q->naggs;
    x.ng = q->ngroup;
    if (x.ng > 64) return cairn_err__set(CAIRN_INVALID, "group_by: at most 64 columns");
    if (!(x.a = (aggx *)calloc(x.na + 1, sizeof *x.a)) || !(x.cols = (int *)calloc(x.na + x.ng + 1, sizeof(int))) ||
        !(x.ccol = (const tcol **)calloc(x.na + x.ng + 1, sizeof(tcol *)))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    for (k = 0; k < x.ng; k++) x.gin[k] = (size_t)add_col(&x, q->group[k]);
    for (k = 0; k < x.na; k++) {
        aggx *a = &x.a[k];
        a->fn = q->aggs[k].fn;
        a->col = q->aggs[k].col;
        if (a->col == -2) {
            if (a->fn != QAGG_COUNT) {
                rc = cairn_err__set(CAIRN_INVALID, "aggregate %d: only count takes no column", (int)k);
                goto out;
            }
            continue;
        }
        a->c = col_of(&x, a->col);
        a->kind = kind_of(a->c->type);
        if ((a->fn == QAGG_SUM || a->fn == QAGG_AVG) &&
            (a->kind == AK_B || a->kind == AK_BYTES || a->c->type == CAIRN_TYPE_TIMESTAMP)) {
            rc = cairn_err__set(CAIRN_TYPE, "%s(%s): not defined for a %s column", a->fn == QAGG_SUM ? "sum" : "avg",
                                a->c->name, a->c->type == CAIRN_TYPE_FIXED ? "bytes:N" : cairn_tbl__type_name(a->c->type));
            goto out;
        }
        a->in = (size_t)add_col(&x, a->col);
    }
    if (x.ng == 1 && kind_of(col_of(&x, q->group[0])->type) != AK_F &&
        kind_of(col_of(&x, q->group[0])->type) != AK_BYTES)
        x.use_direct = 1;
    if ((rc = states_grow(&x, 1)) != 0) goto out;
    if (!x.ng) x.ngroups = 1;
    /* count(*) alone without a where: the live count */
    if (!q->where && !x.ng && x.na == 1 && !x.a[0].c) x.st[0].n = t->live;
    else if (!q->where) rc = walk_all(&x);
    else rc = cairn_tbl__scan(t, q->where, x.cols, x.ncols, scan_fn, &x);
    if (rc) goto out;
    if (x.ng) x.ngroups = x.groups.n;
    /* the result set */
    nres = x.ng + x.na;
    if ((rc = cairn_tbl__qres_init(&res, nres)) != 0) goto out;
    for (k = 0; k < x.ng; k++) {
        const tcol *c = col_of(&x, q->group[k]);
        if ((rc = cairn_tbl__qres_col(&res, k, c->name, strlen(c->name), c->type, c->fixed_len)) != 0) goto out;
    }
    for (k = 0; k < x.na; k++) {
        uint32_t fl;
        int ty = result_type(&x.a[k], &fl);
        if (agg_name(&name, &q->aggs[k], x.a[k].c)) {
            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
            goto out;
        }
        if ((rc = cairn_tbl__qres_col(&res, x.ng + k, (const char *)name.p, name.n, ty, fl)) != 0) goto out;
    }
    for (g = 0; g < x.ngroups; g++) {
        cairn_value *row = cairn_tbl__qres_row(&res);
        if (!row) {
            rc = CAIRN_NOMEM;
            goto out;
        }
        if (x.ng) {
            const uint8_t *p = x.groups.keys.p + x.groups.koff[g];
            for (k = 0; k < x.ng; k++) {
                cairn_value v;
                const tcol *c = col_of(&x, q->group[k]);
                p = key_get(p, c, &v);
                if (!v.is_null && is_bytes(c->type)) {
                    if ((rc = cairn_tbl__qres_bytes(&res, &row[k], v.v.s.bytes, v.v.s.len)) != 0) goto out;
                } else {
                    row[k] = v;
                }
            }
        }
        for (k = 0; k < x.na; k++)
            if ((rc = agg_value(&x.a[k], &x.st[g * x.na + k], &res, &row[x.ng + k])) != 0) goto out;
    }
    /* order: the query's result columns, then the group columns ascending */
    if (!(ord = (qorder *)calloc(q->norder + x.ng + 1, sizeof *ord))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    for (k = 0; k < q->norder; k++) {
        if (q->order[k].col < 0 || (size_t)q->order[k].col >= nres) {
            rc = cairn_err__set(CAIRN_INVALID, "order: not a result column");
            goto out;
        }
        ord[k] = q->order[k];
    }
    for (k = 0; k < x.ng; k++) {
        ord[q->norder + k].col = (int)k;
        ord[q->norder + k].desc = 0;
    }
    rc = cairn_tbl__qres_emit(&res, ord, q->norder + x.ng, q->has_limit, q->limit, q->offset, q->columns_format, out);
out:
    if (x.st)
        for (k = 0; k < x.stcap * x.na; k++) free(x.st[k].mb);
    if (x.a)
        for (k = 0; k < x.na; k++) kmap_free(&x.a[k].distinct);
    free(x.st);
    free(x.a);
    free(x.cols);
    free(x.ccol);
    free(x.gidx);
    free(x.key.p);
    free(x.wide);
    free(name.p);
    free(ord);
    kmap_free(&x.groups);
    cairn_tbl__qres_free(&res);
    return rc;
}
