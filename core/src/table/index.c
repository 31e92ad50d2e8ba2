/*
 * index.c - the hash and range indexes of the table and the lookups over them (cairn/table.h,
 * "indexes"; docs/queries.md).
 *
 *   hash index   uindex (table_mem.c): one slot per distinct value, its ids inline or in a posting
 *                list. The implicit index of a PRIMARY KEY / UNIQUE column is the same structure
 *                (uniq: the writers check it before adding); a declared hash index on such a
 *                column is that index (create answers EXISTS).
 *   range index  ridx: (key, id) sorted, plus pending adds and stale ids, merged when they grow
 *                past 1/16 of the sorted part. Keys are order-preserving: numbers by exact value
 *                (signed integers with the sign bit flipped, floats by their IEEE bits made
 *                monotone, NaN above +inf, -0 as 0), bools 0/1, strings and bytes bytewise.
 *
 * Definitions live in the manifest (table_store.c); contents are built at the first use after
 * open, add_column, or a change of definitions (cairn_tbl__build_indexes) and then follow every
 * write through cairn_tbl__ix_add_row / cairn_tbl__ix_del_row (insert, load, update, delete,
 * upsert, the undo of a rollback). Checkpoints and compact keep ids and values: nothing to do.
 *
 * Lookups compare by exact value: a bound or value is parsed as a number of any kind (i64, u64,
 * f64) and turned into the column's key range (1.5 on an integer column: nothing equal; lo 1.5
 * means >= 2), so an index answers exactly what a scan over the rows answers.
 */
#include "table/table_internal.h"

#include <math.h>
#include <stdio.h>

#define LOCK(t) pthread_mutex_lock(&(t)->mu)
#define UNLOCK(t) pthread_mutex_unlock(&(t)->mu)
#define SIGN64 0x8000000000000000ULL

/* ---- keys ---- */

static int is_signed(int type) {
    return (type >= CAIRN_TYPE_I8 && type <= CAIRN_TYPE_I64) || type == CAIRN_TYPE_TIMESTAMP;
}
static int is_unsigned(int type) { return type >= CAIRN_TYPE_U8 && type <= CAIRN_TYPE_U64; }
static int is_float(int type) { return type == CAIRN_TYPE_F32 || type == CAIRN_TYPE_F64; }
static int is_bytes(int type) {
    return type == CAIRN_TYPE_STRING || type == CAIRN_TYPE_BYTES || type == CAIRN_TYPE_FIXED;
}

static uint64_t dbl_key(double d) {
    uint64_t u;
    if (d == 0) d = 0;
    if (isnan(d)) u = 0x7ff8000000000000ULL;
    else memcpy(&u, &d, 8);
    return (u & SIGN64) ? ~u : u | SIGN64;
}

static double key_dbl(uint64_t k) {
    uint64_t u = (k & SIGN64) ? k & ~SIGN64 : ~k;
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* order-preserving key of a non-null fixed-width value */
static uint64_t num_key(const tcol *c, const cairn_value *v) {
    if (is_signed(c->type)) return (uint64_t)v->v.i ^ SIGN64;
    if (is_float(c->type)) return dbl_key(c->type == CAIRN_TYPE_F32 ? (double)(float)v->v.f : v->v.f);
    if (c->type == CAIRN_TYPE_BOOL) return v->v.b ? 1 : 0;
    return v->v.u;
}

static void key_value(const tcol *c, uint64_t k, cairn_value *v) {
    memset(v, 0, sizeof *v);
    if (is_signed(c->type)) v->v.i = (int64_t)(k ^ SIGN64);
    else if (is_float(c->type)) v->v.f = key_dbl(k);
    else if (c->type == CAIRN_TYPE_BOOL) v->v.b = k != 0;
    else v->v.u = k;
}

static int bcmp_vals(const void *a, size_t an, const void *b, size_t bn) {
    int r = memcmp(a, b, an < bn ? an : bn);
    if (r) return r;
    return an < bn ? -1 : an > bn;
}

/* ---- integers with infinities: the bounds of integer columns ---- */

typedef struct xint {
    int inf; /* -1, 0, +1 */
    int neg; /* value -m (m > 0) */
    uint64_t m;
} xint;

static int xcmp(xint a, xint b) {
    if (a.inf || b.inf) return (a.inf > b.inf) - (a.inf < b.inf);
    if (a.neg != b.neg) return a.neg ? -1 : 1;
    if (a.m == b.m) return 0;
    return ((a.m < b.m) != (a.neg != 0)) ? -1 : 1;
}
static xint xadd1(xint a) {
    if (a.inf) return a;
    if (a.neg) {
        if (--a.m == 0) a.neg = 0;
    } else if (a.m == UINT64_MAX) {
        a.inf = 1;
    } else {
        a.m++;
    }
    return a;
}
static xint xsub1(xint a) {
    if (a.inf) return a;
    if (!a.neg) {
        if (a.m) a.m--;
        else {
            a.neg = 1;
            a.m = 1;
        }
    } else if (a.m == UINT64_MAX) {
        a.inf = -1;
    } else {
        a.m++;
    }
    return a;
}
static xint xi64(int64_t i) {
    xint x = {0, 0, 0};
    if (i < 0) {
        x.neg = 1;
        x.m = (uint64_t)0 - (uint64_t)i;
    } else {
        x.m = (uint64_t)i;
    }
    return x;
}
static xint xu64(uint64_t u) {
    xint x = {0, 0, 0};
    x.m = u;
    return x;
}
/* d integral or infinite */
static xint xdbl(double d) {
    xint x = {0, 0, 0};
    if (d >= 18446744073709551616.0) x.inf = 1;
    else if (d <= -18446744073709551616.0) x.inf = -1;
    else if (d < 0) {
        x.m = (uint64_t)-d;
        x.neg = x.m != 0;
    } else {
        x.m = (uint64_t)d;
    }
    return x;
}

static void int_domain(const tcol *c, xint *lo, xint *hi) {
    int bits = 64;
    switch (c->type) {
    case CAIRN_TYPE_I8: case CAIRN_TYPE_U8: bits = 8; break;
    case CAIRN_TYPE_I16: case CAIRN_TYPE_U16: bits = 16; break;
    case CAIRN_TYPE_I32: case CAIRN_TYPE_U32: bits = 32; break;
    default: break;
    }
    if (is_unsigned(c->type)) {
        *lo = xu64(0);
        *hi = xu64(bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1);
    } else {
        *lo = xi64(bits == 64 ? INT64_MIN : -((int64_t)1 << (bits - 1)));
        *hi = xi64(bits == 64 ? INT64_MAX : ((int64_t)1 << (bits - 1)) - 1);
    }
}

/* ---- a parsed bound or value ---- */

typedef struct num {
    int kind; /* 0 i64, 1 u64, 2 f64 */
    int64_t i;
    uint64_t u;
    double f;
} num;

static xint num_x(const num *x) { return x->kind == 0 ? xi64(x->i) : xu64(x->u); }

/* A condition on one column: nothing matches (empty), or keys lo..hi (numbers, bools), or
 * bytewise bounds. */
typedef struct cond {
    int col;
    const tcol *c;
    int empty;
    uint64_t lo, hi;
    int has_lo, has_hi, lo_open, hi_open; /* bytes */
    cairn_value blo, bhi;
    tbuf scratch;
    size_t slo, shi; /* offsets of the bounds' bytes in scratch */
} cond;

static int parse_end(const char *s, size_t n, size_t pos) {
    cairn_tbl__json_ws(s, n, &pos);
    if (pos != n) return cairn_err__set(CAIRN_INVALID, "invalid JSON: text after the value at byte %zu", pos);
    return 0;
}

/* parse a number of any kind for a numeric column (the column named in errors) */
static int parse_num(const tcol *c, const char *s, size_t n, size_t *pos, num *out, int *is_null) {
    tcol tc;
    cairn_value v;
    tbuf scr = {0, 0, 0};
    size_t soff = 0, p;
    int rc, kinds[3] = {CAIRN_TYPE_I64, CAIRN_TYPE_U64, CAIRN_TYPE_F64}, k;
    memset(&tc, 0, sizeof tc);
    memcpy(tc.name, c->name, sizeof tc.name);
    tc.nullable = 1;
    *is_null = 0;
    for (k = 0; k < 3; k++) {
        p = *pos;
        tc.type = kinds[k];
        tc.w = 8;
        rc = cairn_tbl__json_value(&tc, s, n, &p, &v, &scr, &soff);
        if (rc == 0) {
            *pos = p;
            free(scr.p);
            if (v.is_null) {
                *is_null = 1;
                return 0;
            }
            out->kind = k;
            out->i = v.v.i;
            out->u = v.v.u;
            out->f = v.v.f;
            return 0;
        }
        if (k == 2 || (rc != CAIRN_TYPE && rc != CAIRN_RANGE)) break;
    }
    free(scr.p);
    return rc;
}

/* The bound x of side lo (lo=1) or hi, open or closed, as a key of column c: *key, or *none (no
 * constraint from it) or *empty (nothing can match). */
static void num_bound(const tcol *c, const num *x, int lo, int open, uint64_t *key, int *none, int *empty) {
    *none = *empty = 0;
    if (is_float(c->type)) {
        double d;
        uint64_t k;
        if (x->kind == 2) {
            d = x->f;
            if (isnan(d) && !lo && !open) {
                *none = 1;
                return;
            }
            k = dbl_key(d);
            if (open) {
                if (lo) {
                    if (k == UINT64_MAX || isnan(d)) {
                        *empty = 1;
                        return;
                    }
                    k++;
                } else {
                    if (k == 0) {
                        *empty = 1;
                        return;
                    }
                    k--;
                }
            }
            *key = k;
            return;
        }
        {
            xint xi = num_x(x), xd;
            int cmp;
            d = x->kind == 0 ? (double)x->i : (double)x->u;
            xd = xdbl(d);
            cmp = xcmp(xd, xi); /* d vs x, exactly */
            k = dbl_key(d);
            if (lo) {
                if (cmp < 0 || (cmp == 0 && open)) k++;
            } else {
                if (cmp > 0 || (cmp == 0 && open)) k--;
            }
            *key = k;
            return;
        }
    }
    {
        xint z, dlo, dhi;
        int_domain(c, &dlo, &dhi);
        if (x->kind == 2) {
            double d = x->f;
            if (isnan(d)) {
                if (lo) *empty = 1;
                else *none = 1;
                return;
            }
            if (lo) z = open ? xadd1(xdbl(floor(d))) : xdbl(ceil(d));
            else z = open ? xsub1(xdbl(ceil(d))) : xdbl(floor(d));
        } else {
            z = num_x(x);
            if (open) z = lo ? xadd1(z) : xsub1(z);
        }
        if (lo) {
            if (xcmp(z, dhi) > 0) {
                *empty = 1;
                return;
            }
            if (xcmp(z, dlo) <= 0) {
                *none = 1;
                return;
            }
        } else {
            if (xcmp(z, dlo) < 0) {
                *empty = 1;
                return;
            }
            if (xcmp(z, dhi) >= 0) {
                *none = 1;
                return;
            }
        }
        *key = is_signed(c->type) ? (z.neg ? ((uint64_t)0 - z.m) : z.m) ^ SIGN64 : z.m;
    }
}

/* Parse the JSON value text (NUL-terminated; NULL or "null": no bound) of one side into q. eq:
 * both sides (lookup). */
static int cond_side(cond *q, const char *text, int lo, int open, int eq) {
    const tcol *c = q->c;
    size_t n, pos = 0;
    int rc;
    if (!text) {
        if (eq) q->empty = 1;
        return 0;
    }
    n = strlen(text);
    if (!is_bytes(c->type) && c->type != CAIRN_TYPE_BOOL) {
        num x;
        int isnull, none, empty;
        uint64_t k = 0;
        if ((rc = parse_num(c, text, n, &pos, &x, &isnull)) != 0) return rc;
        if ((rc = parse_end(text, n, pos)) != 0) return rc;
        if (isnull) {
            if (eq) q->empty = 1;
            return 0;
        }
        if (eq) {
            num_bound(c, &x, 1, 0, &k, &none, &empty);
            if (empty) q->empty = 1;
            else if (!none && k > q->lo) q->lo = k;
            num_bound(c, &x, 0, 0, &k, &none, &empty);
            if (empty) q->empty = 1;
            else if (!none && k < q->hi) q->hi = k;
            if (c->type == CAIRN_TYPE_F32 && !q->empty && q->lo == q->hi) {
                double d = key_dbl(q->lo);
                if (!isnan(d) && (double)(float)d != d) q->empty = 1; /* no f32 holds it */
            }
        } else {
            num_bound(c, &x, lo, open, &k, &none, &empty);
            if (empty) q->empty = 1;
            else if (!none) {
                if (lo && k > q->lo) q->lo = k;
                if (!lo && k < q->hi) q->hi = k;
            }
        }
        if (q->lo > q->hi) q->empty = 1;
        return 0;
    }
    {
        cairn_value v;
        size_t soff = 0;
        if ((rc = cairn_tbl__json_value(c, text, n, &pos, &v, &q->scratch, &soff)) != 0) return rc;
        if ((rc = parse_end(text, n, pos)) != 0) return rc;
        if (v.is_null) {
            if (eq) q->empty = 1;
            return 0;
        }
        if (c->type == CAIRN_TYPE_BOOL) {
            uint64_t k = v.v.b ? 1 : 0;
            if (eq || lo) {
                if (!eq && open) {
                    if (k == 1) q->empty = 1;
                    k++;
                }
                if (k > q->lo) q->lo = k;
            }
            if (eq || !lo) {
                if (!eq && open) {
                    if (k == 0) q->empty = 1;
                    else k--;
                }
                if (k < q->hi) q->hi = k;
            }
            if (q->lo > q->hi) q->empty = 1;
            return 0;
        }
        if (eq || lo) {
            q->has_lo = 1;
            q->lo_open = !eq && open;
            q->slo = soff;
            q->blo = v;
        }
        if (eq || !lo) {
            q->has_hi = 1;
            q->hi_open = !eq && open;
            q->shi = soff;
            q->bhi = v;
        }
        return 0;
    }
}

static int find_col(cairn_table *t, const char *name, size_t len) {
    size_t i;
    for (i = 0; i < t->s.n; i++)
        if (strlen(t->s.c[i].name) == len && memcmp(t->s.c[i].name, name, len) == 0) return (int)i;
    return -1;
}

static void cond_init(cond *q, cairn_table *t, int col) {
    memset(q, 0, sizeof *q);
    q->col = col;
    q->c = &t->s.c[col];
    q->lo = 0;
    q->hi = UINT64_MAX;
}

/* point the bytes bounds into scratch (it may have moved) and check the bytes range */
static void cond_fix(cond *q) {
    if (!is_bytes(q->c->type)) return;
    if (q->has_lo && q->blo.v.s.len) q->blo.v.s.bytes = q->scratch.p + q->slo;
    if (q->has_hi && q->bhi.v.s.len) q->bhi.v.s.bytes = q->scratch.p + q->shi;
    if (q->has_lo && !q->blo.v.s.len) q->blo.v.s.bytes = "";
    if (q->has_hi && !q->bhi.v.s.len) q->bhi.v.s.bytes = "";
    if (q->has_lo && q->has_hi) {
        int r = bcmp_vals(q->blo.v.s.bytes, q->blo.v.s.len, q->bhi.v.s.bytes, q->bhi.v.s.len);
        if (r > 0 || (r == 0 && (q->lo_open || q->hi_open))) q->empty = 1;
    }
}

static int bytes_match(const cond *q, const void *p, size_t n) {
    if (q->has_lo) {
        int r = bcmp_vals(p, n, q->blo.v.s.bytes, q->blo.v.s.len);
        if (r < 0 || (r == 0 && q->lo_open)) return 0;
    }
    if (q->has_hi) {
        int r = bcmp_vals(p, n, q->bhi.v.s.bytes, q->bhi.v.s.len);
        if (r > 0 || (r == 0 && q->hi_open)) return 0;
    }
    return 1;
}

static int cond_match(const cond *q, const cairn_value *v) {
    uint64_t k;
    if (q->empty || v->is_null) return 0;
    if (is_bytes(q->c->type)) return bytes_match(q, v->v.s.bytes, v->v.s.len);
    k = num_key(q->c, v);
    return k >= q->lo && k <= q->hi;
}

/* an equality condition a hash index answers: the single value */
static int cond_value(const cond *q, cairn_value *v) {
    if (is_bytes(q->c->type)) {
        if (!q->has_lo || !q->has_hi || q->lo_open || q->hi_open) return 0;
        if (bcmp_vals(q->blo.v.s.bytes, q->blo.v.s.len, q->bhi.v.s.bytes, q->bhi.v.s.len) != 0) return 0;
        *v = q->blo;
        return 1;
    }
    if (q->lo != q->hi) return 0;
    key_value(q->c, q->lo, v);
    return 1;
}

/* ---- range index ---- */

static int ent_cmp(const ridx *r, int bytes, const rentry *a, const rentry *b) {
    if (bytes) {
        int x = bcmp_vals(r->heap.p + a->key, a->len, r->heap.p + b->key, b->len);
        if (x) return x;
    } else if (a->key != b->key) {
        return a->key < b->key ? -1 : 1;
    }
    return (a->id > b->id) - (a->id < b->id);
}

static void ent_sort(const ridx *r, int bytes, rentry *a, rentry *tmp, size_t n) {
    size_t w, i;
    rentry *src = a, *dst = tmp;
    /* insertion sort runs of 16, then bottom-up merges */
    for (i = 0; i < n; i += 16) {
        size_t e = i + 16 < n ? i + 16 : n, j;
        for (j = i + 1; j < e; j++) {
            rentry x = a[j];
            size_t k = j;
            while (k > i && ent_cmp(r, bytes, &a[k - 1], &x) > 0) {
                a[k] = a[k - 1];
                k--;
            }
            a[k] = x;
        }
    }
    for (w = 16; w < n; w *= 2) {
        for (i = 0; i < n; i += 2 * w) {
            size_t m = i + w < n ? i + w : n, e = i + 2 * w < n ? i + 2 * w : n, p = i, q = m, o = i;
            while (p < m && q < e) dst[o++] = ent_cmp(r, bytes, &src[q], &src[p]) < 0 ? src[q++] : src[p++];
            while (p < m) dst[o++] = src[p++];
            while (q < e) dst[o++] = src[q++];
        }
        {
            rentry *x = src;
            src = dst;
            dst = x;
        }
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

static int ri_entry(ridx *r, const tcol *c, const cairn_value *v, uint64_t id, rentry *e) {
    e->id = id;
    e->len = 0;
    if (is_bytes(c->type)) {
        e->key = r->heap.n;
        e->len = (uint32_t)v->v.s.len;
        return tbuf_put(&r->heap, v->v.s.bytes, v->v.s.len);
    }
    e->key = num_key(c, v);
    return 0;
}

int cairn_tbl__ri_add(ridx *r, const tcol *c, const cairn_value *v, uint64_t id) {
    rentry e;
    if (v->is_null) return 0;
    if (r->np == r->capp) {
        size_t nc = r->capp ? r->capp * 2 : 64;
        rentry *p = (rentry *)realloc(r->pend, nc * sizeof *p);
        if (!p) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        r->pend = p;
        r->capp = nc;
    }
    if (ri_entry(r, c, v, id, &e)) return CAIRN_NOMEM;
    if (cairn_tbl__idmap_put(&r->pmap, id, r->np)) return CAIRN_NOMEM;
    r->pend[r->np++] = e;
    return 0;
}

int cairn_tbl__ri_del(ridx *r, const tcol *c, const cairn_value *v, uint64_t id) {
    uint64_t p;
    (void)c;
    if (v->is_null) return 0;
    if (r->pmap.n && cairn_tbl__idmap_get(&r->pmap, id, &p)) {
        cairn_tbl__idmap_del(&r->pmap, id);
        if ((size_t)p != r->np - 1) {
            r->pend[p] = r->pend[r->np - 1];
            (void)cairn_tbl__idmap_put(&r->pmap, r->pend[p].id, p); /* an existing key: no growth */
        }
        r->np--;
        return 0;
    }
    /* its entry in the sorted part is stale from now on */
    return cairn_tbl__idmap_put(&r->stale, id, 1);
}

void cairn_tbl__ri_free(ridx *r) {
    free(r->e);
    free(r->pend);
    free(r->heap.p);
    cairn_tbl__idmap_free(&r->pmap);
    cairn_tbl__idmap_free(&r->stale);
    r->e = r->pend = NULL;
    r->n = r->cap = r->np = r->capp = 0;
    memset(&r->heap, 0, sizeof r->heap);
}

/* fold pend and stale into the sorted part */
static int ri_merge(ridx *r, const tcol *c) {
    int bytes = is_bytes(c->type);
    size_t i, j, o, live = 0;
    rentry *out, *tmp;
    if (!r->np && !r->stale.n) return 0;
    if (!(tmp = (rentry *)malloc((r->np ? r->np : 1) * sizeof *tmp))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    ent_sort(r, bytes, r->pend, tmp, r->np);
    free(tmp);
    if (!(out = (rentry *)malloc((r->n + r->np ? r->n + r->np : 1) * sizeof *out))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (i = 0, j = 0, o = 0; i < r->n || j < r->np;) {
        if (i < r->n) {
            uint64_t dummy;
            if (r->stale.n && cairn_tbl__idmap_get(&r->stale, r->e[i].id, &dummy)) {
                i++;
                continue;
            }
        }
        if (j >= r->np || (i < r->n && ent_cmp(r, bytes, &r->e[i], &r->pend[j]) <= 0)) out[o++] = r->e[i++];
        else out[o++] = r->pend[j++];
        live++;
    }
    free(r->e);
    r->e = out;
    r->n = o;
    r->cap = r->n + r->np;
    r->np = 0;
    cairn_tbl__idmap_clear(&r->pmap);
    cairn_tbl__idmap_clear(&r->stale);
    /* strings: drop the garbage of the heap when it is mostly garbage */
    if (bytes) {
        size_t used = 0;
        for (i = 0; i < r->n; i++) used += r->e[i].len;
        if (r->heap.n > 2 * used + 4096) {
            tbuf nh = {0, 0, 0};
            for (i = 0; i < r->n; i++) {
                uint64_t at = nh.n;
                if (tbuf_put(&nh, r->heap.p + r->e[i].key, r->e[i].len)) {
                    free(nh.p);
                    return CAIRN_NOMEM; /* the old heap still holds every key */
                }
                r->e[i].key = at;
            }
            free(r->heap.p);
            r->heap = nh;
        }
    }
    (void)live;
    return 0;
}

static int ids_push(uint64_t **ids, size_t *n, size_t *cap, uint64_t id) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        uint64_t *p = (uint64_t *)realloc(*ids, nc * 8);
        if (!p) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        *ids = p;
        *cap = nc;
    }
    (*ids)[(*n)++] = id;
    return 0;
}

static int ent_match(const ridx *r, const cond *q, const rentry *e) {
    if (is_bytes(q->c->type)) return bytes_match(q, r->heap.p + e->key, e->len);
    return e->key >= q->lo && e->key <= q->hi;
}

/* ids of q from a range index (unordered) */
static int ri_query(ridx *r, const cond *q, uint64_t **ids, size_t *n, size_t *cap) {
    int bytes = is_bytes(q->c->type), rc;
    size_t lo = 0, hi, i;
    if (q->empty) return 0;
    if (r->np + r->stale.n > 1024 + r->n / 16 && (rc = ri_merge(r, q->c)) != 0) return rc;
    hi = r->n;
    /* first entry not below the lower bound */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const rentry *e = &r->e[mid];
        int below;
        if (bytes) {
            if (!q->has_lo) below = 0;
            else {
                int x = bcmp_vals(r->heap.p + e->key, e->len, q->blo.v.s.bytes, q->blo.v.s.len);
                below = x < 0 || (x == 0 && q->lo_open);
            }
        } else {
            below = e->key < q->lo;
        }
        if (below) lo = mid + 1;
        else hi = mid;
    }
    for (i = lo; i < r->n; i++) {
        uint64_t dummy;
        if (!ent_match(r, q, &r->e[i])) break;
        if (r->stale.n && cairn_tbl__idmap_get(&r->stale, r->e[i].id, &dummy)) continue;
        if ((rc = ids_push(ids, n, cap, r->e[i].id)) != 0) return rc;
    }
    for (i = 0; i < r->np; i++)
        if (ent_match(r, q, &r->pend[i]) && (rc = ids_push(ids, n, cap, r->pend[i].id)) != 0) return rc;
    return 0;
}

/* ---- the indexes of a table ---- */

void cairn_tbl__ix_free(cairn_table *t) {
    size_t k;
    for (k = 0; k < t->nui; k++) cairn_tbl__ui_free(&t->ui[k]);
    for (k = 0; k < t->nri; k++) cairn_tbl__ri_free(&t->ri[k]);
    free(t->ui);
    free(t->ri);
    t->ui = NULL;
    t->ri = NULL;
    t->nui = t->nri = 0;
    t->ui_built = 0;
}

/* A failure (out of memory) drops every index: they are rebuilt from the rows at the next use,
 * so an index never disagrees with the rows. */
int cairn_tbl__ix_add_row(cairn_table *t, const cairn_value *row, uint64_t id) {
    size_t k;
    if (!t->ui_built) return 0;
    for (k = 0; k < t->nui; k++)
        if (cairn_tbl__ui_add(&t->ui[k], &t->s.c[t->ui[k].col], &row[t->ui[k].col], id)) goto nomem;
    for (k = 0; k < t->nri; k++)
        if (cairn_tbl__ri_add(&t->ri[k], &t->s.c[t->ri[k].col], &row[t->ri[k].col], id)) goto nomem;
    return 0;
nomem:
    cairn_tbl__ix_free(t);
    return cairn_err__set(CAIRN_NOMEM, "out of memory");
}

void cairn_tbl__ix_del_row(cairn_table *t, const cairn_value *row, uint64_t id) {
    size_t k;
    if (!t->ui_built) return;
    for (k = 0; k < t->nui; k++) cairn_tbl__ui_del(&t->ui[k], &t->s.c[t->ui[k].col], &row[t->ui[k].col], id);
    for (k = 0; k < t->nri; k++)
        if (cairn_tbl__ri_del(&t->ri[k], &t->s.c[t->ri[k].col], &row[t->ri[k].col], id)) {
            cairn_tbl__ix_free(t);
            return;
        }
}

/* An update: only the indexes whose column changed (a posting list of a common value is not
 * rewritten for every update of another column). */
int cairn_tbl__ix_update_row(cairn_table *t, const cairn_value *oldr, const cairn_value *newr, uint64_t id) {
    size_t k;
    if (!t->ui_built) return 0;
    for (k = 0; k < t->nui; k++) {
        int col = t->ui[k].col;
        const tcol *c = &t->s.c[col];
        if (cairn_tbl__value_eq(c, &oldr[col], &newr[col])) continue;
        cairn_tbl__ui_del(&t->ui[k], c, &oldr[col], id);
        if (cairn_tbl__ui_add(&t->ui[k], c, &newr[col], id)) goto nomem;
    }
    for (k = 0; k < t->nri; k++) {
        int col = t->ri[k].col;
        const tcol *c = &t->s.c[col];
        if (cairn_tbl__value_eq(c, &oldr[col], &newr[col])) continue;
        if (cairn_tbl__ri_del(&t->ri[k], c, &oldr[col], id) || cairn_tbl__ri_add(&t->ri[k], c, &newr[col], id)) goto nomem;
    }
    return 0;
nomem:
    cairn_tbl__ix_free(t);
    return cairn_err__set(CAIRN_NOMEM, "out of memory");
}

static int has_def(const cairn_table *t, int col, int kind) {
    size_t i;
    for (i = 0; i < t->nidef; i++)
        if (t->idef[i].col == col && t->idef[i].kind == kind) return 1;
    return 0;
}

/* Visit the live rows (row groups, overlays, tail; not in id order) with the values of columns
 * cols[0..ncols) filled in row[] (the others untouched). */
typedef int (*row_fn)(void *ctx, uint64_t id, const cairn_value *row);

static int walk(cairn_table *t, const int *cols, size_t ncols, cairn_value *row, row_fn fn, void *ctx) {
    size_t k, i, gi;
    int rc = 0;
    for (gi = 0; !rc && gi < t->ng; gi++) {
        rgroup *g = &t->g[gi];
        cairn_colvec ids, *cv = (cairn_colvec *)calloc(ncols ? ncols : 1, sizeof(cairn_colvec));
        uint32_t p;
        if (!cv) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        memset(&ids, 0, sizeof ids);
        if (g->ndel == g->nrows) {
            free(cv);
            continue;
        }
        rc = cairn_tbl__group_decode(g->ids.file, &g->ids, CAIRN_TYPE_U64, 0, &ids);
        for (k = 0; !rc && k < ncols; k++) {
            const tcol *c = &t->s.c[cols[k]];
            rc = cairn_tbl__group_decode(g->cols[cols[k]].file, &g->cols[cols[k]], c->type, c->fixed_len, &cv[k]);
        }
        for (p = 0; !rc && p < g->nrows; p++) {
            uint64_t id = ((const uint64_t *)ids.data)[p], dummy;
            if (grp_deleted(g, p) || (t->ovmap.n && cairn_tbl__idmap_get(&t->ovmap, id, &dummy))) continue;
            for (k = 0; k < ncols; k++) cairn_tbl__colvec_get(&cv[k], &t->s.c[cols[k]], p, &row[cols[k]]);
            rc = fn(ctx, id, row);
        }
        cairn_seg__free_vec(&ids);
        for (k = 0; k < ncols; k++) cairn_seg__free_vec(&cv[k]);
        free(cv);
    }
    for (i = 0; !rc && i < t->ov.n; i++) {
        if (t->ov.dead[i]) continue;
        for (k = 0; k < ncols; k++) cairn_tbl__rs_get(&t->ov, &t->s, i, (size_t)cols[k], &row[cols[k]]);
        rc = fn(ctx, t->ov.ids[i], row);
    }
    for (i = 0; !rc && i < t->tail.n; i++) {
        if (t->tail.dead[i]) continue;
        for (k = 0; k < ncols; k++) cairn_tbl__rs_get(&t->tail, &t->s, i, (size_t)cols[k], &row[cols[k]]);
        rc = fn(ctx, t->tail.ids[i], row);
    }
    return rc;
}

/* a build: hash indexes of fixed-width columns collect (hash, key, id) for one bulk insert */
typedef struct bctx {
    cairn_table *t;
    uent **e;
    size_t *n, *cap;
} bctx;

static int dup_corrupt(cairn_table *t, const tcol *c, const cairn_value *v, uint64_t a, uint64_t b) {
    char vb[96];
    if (v) cairn_tbl__value_str(c, v, vb, sizeof vb);
    else snprintf(vb, sizeof vb, "a value");
    return cairn_err__set(CAIRN_CORRUPT, "%s: column %s holds %s twice (rows %llu and %llu): %s constraint violated", t->dir, c->name,
                          vb, (unsigned long long)a, (unsigned long long)b, c->pk ? "PRIMARY KEY" : "UNIQUE");
}

static int build_fn(void *ctx, uint64_t id, const cairn_value *row) {
    bctx *b = (bctx *)ctx;
    cairn_table *t = b->t;
    size_t k;
    for (k = 0; k < t->nui; k++) {
        uindex *u = &t->ui[k];
        const tcol *c = &t->s.c[u->col];
        if (!is_bytes(c->type) && (u->uniq || b->n[k] || u->n >= 4096)) {
            /* many distinct values: collected, added at the end in hash order (few: the
             * table stays small and in cache, added at once below) */
            if (row[u->col].is_null) continue;
            if (b->n[k] == b->cap[k]) {
                size_t nc = b->cap[k] ? b->cap[k] * 2 : 1024;
                uent *p = (uent *)realloc(b->e[k], nc * sizeof *p);
                if (!p) return cairn_err__set(CAIRN_NOMEM, "out of memory");
                b->e[k] = p;
                b->cap[k] = nc;
            }
            cairn_tbl__ui_ent(c, &row[u->col], id, &b->e[k][b->n[k]++]);
            continue;
        }
        if (u->uniq) {
            uint64_t other = cairn_tbl__ui_find(u, c, &row[u->col]);
            if (other && other != id) return dup_corrupt(t, c, &row[u->col], other, id);
        }
        if (cairn_tbl__ui_add(u, c, &row[u->col], id)) return CAIRN_NOMEM;
    }
    for (k = 0; k < t->nri; k++) {
        /* straight into the sorted part's array, sorted once at the end */
        ridx *r = &t->ri[k];
        if (row[r->col].is_null) continue;
        if (r->n == r->cap) {
            size_t nc = r->cap ? r->cap * 2 : 1024;
            rentry *p = (rentry *)realloc(r->e, nc * sizeof *p);
            if (!p) return cairn_err__set(CAIRN_NOMEM, "out of memory");
            r->e = p;
            r->cap = nc;
        }
        if (ri_entry(r, &t->s.c[r->col], &row[r->col], id, &r->e[r->n])) return CAIRN_NOMEM;
        r->n++;
    }
    return 0;
}

/* Build every index (the implicit ones of PRIMARY KEY / UNIQUE columns and the declared ones)
 * from the live rows. A duplicate in a unique column is CAIRN_CORRUPT. */
int cairn_tbl__build_indexes(cairn_table *t) {
    size_t i, nu = 0, nr = 0, k;
    int *cols = NULL, rc = 0;
    cairn_value *row = NULL;
    if (t->ui_built) return 0;
    cairn_tbl__ix_free(t);
    for (i = 0; i < t->s.n; i++) {
        if (t->s.c[i].pk || t->s.c[i].unique || has_def(t, (int)i, CAIRN_INDEX_HASH)) nu++;
        if (has_def(t, (int)i, CAIRN_INDEX_RANGE)) nr++;
    }
    if (!nu && !nr) {
        t->ui_built = 1;
        return 0;
    }
    if ((nu && !(t->ui = (uindex *)calloc(nu, sizeof(uindex)))) || (nr && !(t->ri = (ridx *)calloc(nr, sizeof(ridx)))) ||
        !(row = (cairn_value *)calloc(t->s.n, sizeof(cairn_value))) || !(cols = (int *)malloc((nu + nr) * sizeof(int)))) {
        free(row);
        cairn_tbl__ix_free(t);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    k = 0;
    for (i = 0; i < t->s.n; i++) {
        int ex = 0;
        if (t->s.c[i].pk || t->s.c[i].unique || has_def(t, (int)i, CAIRN_INDEX_HASH)) {
            t->ui[t->nui].col = (int)i;
            t->ui[t->nui++].uniq = t->s.c[i].pk || t->s.c[i].unique;
            ex = 1;
        }
        if (has_def(t, (int)i, CAIRN_INDEX_RANGE)) {
            t->ri[t->nri++].col = (int)i;
            ex = 1;
        }
        if (ex) cols[k++] = (int)i;
    }
    {
        bctx b;
        b.t = t;
        b.e = (uent **)calloc(t->nui ? t->nui : 1, sizeof *b.e);
        b.n = (size_t *)calloc(t->nui ? t->nui : 1, sizeof *b.n);
        b.cap = (size_t *)calloc(t->nui ? t->nui : 1, sizeof *b.cap);
        if (!b.e || !b.n || !b.cap) rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        for (i = 0; !rc && i < t->nui; i++)
            if (t->ui[i].uniq && t->live && (rc = cairn_tbl__ui_reserve(&t->ui[i], (size_t)t->live)) != 0) break;
        if (!rc) rc = walk(t, cols, k, row, build_fn, &b);
        for (i = 0; !rc && i < t->nui; i++) {
            uint64_t da, db;
            if (!b.n[i]) continue;
            rc = cairn_tbl__ui_bulk(&t->ui[i], &t->s.c[t->ui[i].col], b.e[i], b.n[i], &da, &db);
            if (rc == CAIRN_CONSTRAINT) {
                /* name the value: read it from the later row */
                tbuf bytes = {0, 0, 0};
                uint64_t lo = da < db ? da : db, hi = da < db ? db : da;
                int ok = cairn_tbl__get_row(t, hi, row, &bytes) == 0;
                rc = dup_corrupt(t, &t->s.c[t->ui[i].col], ok ? &row[t->ui[i].col] : NULL, lo, hi);
                free(bytes.p);
            }
        }
        for (i = 0; b.e && i < t->nui; i++) free(b.e[i]);
        free(b.e);
        free(b.n);
        free(b.cap);
    }
    free(row);
    free(cols);
    if (rc) {
        cairn_tbl__ix_free(t);
        return rc;
    }
    for (k = 0; k < t->nri; k++) {
        ridx *r = &t->ri[k];
        rentry *tmp = (rentry *)malloc((r->n ? r->n : 1) * sizeof *tmp);
        if (!tmp) {
            cairn_tbl__ix_free(t);
            return cairn_err__set(CAIRN_NOMEM, "out of memory");
        }
        ent_sort(r, is_bytes(t->s.c[r->col].type), r->e, tmp, r->n);
        free(tmp);
    }
    t->ui_built = 1;
    return 0;
}

/* ---- the public calls ---- */

static int check_handle(cairn_table *t, const char *fn) {
    if (!t) return cairn_err__set(CAIRN_INVALID, "%s: NULL handle", fn);
    if (cairn_fork__foreign(t->gen)) return cairn_fork__err(fn);
    return 0;
}

static int column_arg(cairn_table *t, const char *column, int *col) {
    if (!column) return cairn_err__set(CAIRN_INVALID, "column is NULL");
    *col = find_col(t, column, strlen(column));
    if (*col < 0) return cairn_err__set(CAIRN_SCHEMA, "%s: no column %s", t->dir, column);
    return 0;
}

static const char *kind_name(int kind) { return kind == CAIRN_INDEX_HASH ? "hash" : "range"; }

int cairn_table_create_index(cairn_table *t, const char *column, int kind) {
    int rc, col;
    tidxdef *nd;
    if ((rc = check_handle(t, "cairn_table_create_index")) != 0) return rc;
    LOCK(t);
    if ((rc = column_arg(t, column, &col)) != 0) goto out;
    if (kind != CAIRN_INDEX_HASH && kind != CAIRN_INDEX_RANGE) {
        rc = cairn_err__set(CAIRN_INVALID, "create_index: bad index kind %d (CAIRN_INDEX_HASH or CAIRN_INDEX_RANGE)", kind);
        goto out;
    }
    if (t->failed) {
        rc = cairn_err__set(CAIRN_FAILED, "%s: handle failed after a fatal I/O error", t->dir);
        goto out;
    }
    if (t->ro) {
        rc = cairn_err__set(CAIRN_READONLY, "%s: opened read-only", t->dir);
        goto out;
    }
    if (t->in_txn) {
        rc = cairn_err__set(CAIRN_TXN, "%s: create_index inside a transaction", t->dir);
        goto out;
    }
    if (has_def(t, col, kind) || (kind == CAIRN_INDEX_HASH && (t->s.c[col].pk || t->s.c[col].unique))) {
        rc = cairn_err__set(CAIRN_EXISTS, "%s: column %s has a %s index%s", t->dir, column, kind_name(kind),
                            has_def(t, col, kind) ? "" : t->s.c[col].pk ? " (its PRIMARY KEY's)" : " (its UNIQUE constraint's)");
        goto out;
    }
    if (!(nd = (tidxdef *)realloc(t->idef, (t->nidef + 1) * sizeof *nd))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    t->idef = nd;
    t->idef[t->nidef].col = col;
    t->idef[t->nidef].kind = kind;
    t->nidef++;
    /* the definition is durable with the manifest the checkpoint writes */
    if ((rc = cairn_tbl__checkpoint(t, 1)) != 0) {
        if (!t->failed) t->nidef--;
        goto out;
    }
    cairn_tbl__ix_free(t); /* built with the new one at the next use */
out:
    UNLOCK(t);
    return rc;
}

int cairn_table_drop_index(cairn_table *t, const char *column, int kind) {
    int rc, col;
    size_t i;
    tidxdef saved;
    if ((rc = check_handle(t, "cairn_table_drop_index")) != 0) return rc;
    LOCK(t);
    if ((rc = column_arg(t, column, &col)) != 0) goto out;
    if (kind != CAIRN_INDEX_HASH && kind != CAIRN_INDEX_RANGE) {
        rc = cairn_err__set(CAIRN_INVALID, "drop_index: bad index kind %d", kind);
        goto out;
    }
    if (!has_def(t, col, kind)) {
        if (kind == CAIRN_INDEX_HASH && (t->s.c[col].pk || t->s.c[col].unique))
            rc = cairn_err__set(CAIRN_INVALID, "%s: the hash index of column %s is its %s constraint's and cannot be dropped", t->dir,
                                column, t->s.c[col].pk ? "PRIMARY KEY" : "UNIQUE");
        else
            rc = cairn_err__set(CAIRN_NOTFOUND, "%s: column %s has no %s index", t->dir, column, kind_name(kind));
        goto out;
    }
    if (t->failed) {
        rc = cairn_err__set(CAIRN_FAILED, "%s: handle failed after a fatal I/O error", t->dir);
        goto out;
    }
    if (t->ro) {
        rc = cairn_err__set(CAIRN_READONLY, "%s: opened read-only", t->dir);
        goto out;
    }
    if (t->in_txn) {
        rc = cairn_err__set(CAIRN_TXN, "%s: drop_index inside a transaction", t->dir);
        goto out;
    }
    for (i = 0; i < t->nidef; i++)
        if (t->idef[i].col == col && t->idef[i].kind == kind) break;
    saved = t->idef[i];
    memmove(&t->idef[i], &t->idef[i + 1], (t->nidef - i - 1) * sizeof *t->idef);
    t->nidef--;
    if ((rc = cairn_tbl__checkpoint(t, 1)) != 0) {
        if (!t->failed) {
            memmove(&t->idef[i + 1], &t->idef[i], (t->nidef - i) * sizeof *t->idef);
            t->idef[i] = saved;
            t->nidef++;
        }
        goto out;
    }
    cairn_tbl__ix_free(t);
out:
    UNLOCK(t);
    return rc;
}

int cairn_table_indexes(cairn_table *t, char **out) {
    tbuf b = {0, 0, 0};
    size_t i;
    int rc, first = 1;
    if ((rc = check_handle(t, "cairn_table_indexes")) != 0) return rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_indexes: out is NULL");
    *out = NULL;
    LOCK(t);
    rc = tbuf_put(&b, "[", 1);
    for (i = 0; !rc && i < t->s.n; i++) {
        const tcol *c = &t->s.c[i];
        if (c->pk || c->unique) {
            rc = cairn_tbl__buf_printf(&b, "%s{\"column\": \"%s\", \"kind\": \"hash\", \"unique\": true}", first ? "" : ", ", c->name);
            first = 0;
        } else if (has_def(t, (int)i, CAIRN_INDEX_HASH)) {
            rc = cairn_tbl__buf_printf(&b, "%s{\"column\": \"%s\", \"kind\": \"hash\"}", first ? "" : ", ", c->name);
            first = 0;
        }
        if (!rc && has_def(t, (int)i, CAIRN_INDEX_RANGE)) {
            rc = cairn_tbl__buf_printf(&b, "%s{\"column\": \"%s\", \"kind\": \"range\"}", first ? "" : ", ", c->name);
            first = 0;
        }
    }
    UNLOCK(t);
    if (!rc) rc = tbuf_put(&b, "]", 1);
    if (!rc && !(*out = cairn_tbl__buf_take(&b))) rc = CAIRN_NOMEM;
    free(b.p);
    if (rc == CAIRN_NOMEM) cairn_err__set(CAIRN_NOMEM, "out of memory");
    return rc;
}

static int u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* ids sorted as a JSON array */
static int ids_json(uint64_t *ids, size_t n, char **out) {
    tbuf b = {0, 0, 0};
    size_t i;
    int rc;
    if (n) qsort(ids, n, 8, u64_cmp);
    rc = tbuf_put(&b, "[", 1);
    for (i = 0; !rc && i < n; i++) rc = cairn_tbl__buf_printf(&b, i ? ",%llu" : "%llu", (unsigned long long)ids[i]);
    if (!rc) rc = tbuf_put(&b, "]", 1);
    if (!rc && !(*out = cairn_tbl__buf_take(&b))) rc = CAIRN_NOMEM;
    free(b.p);
    if (rc) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    return 0;
}

typedef struct scanctx {
    const cond *q;
    size_t nq;
    uint64_t *ids;
    size_t n, cap;
} scanctx;

static int scan_fn(void *ctx, uint64_t id, const cairn_value *row) {
    scanctx *s = (scanctx *)ctx;
    size_t k;
    for (k = 0; k < s->nq; k++)
        if (!cond_match(&s->q[k], &row[s->q[k].col])) return 0;
    return ids_push(&s->ids, &s->n, &s->cap, id);
}

/* the index answering q: 1 hash (*u), 2 range (*r), 0 none */
static int pick_index(cairn_table *t, const cond *q, uindex **u, ridx **r) {
    size_t k;
    cairn_value v;
    if (cond_value(q, &v))
        for (k = 0; k < t->nui; k++)
            if (t->ui[k].col == q->col) {
                *u = &t->ui[k];
                return 1;
            }
    for (k = 0; k < t->nri; k++)
        if (t->ri[k].col == q->col) {
            *r = &t->ri[k];
            return 2;
        }
    return 0;
}

static int cond_ids(cairn_table *t, const cond *q, uindex *u, ridx *r, uint64_t **ids, size_t *n, size_t *cap) {
    if (q->empty) return 0;
    if (u) {
        cairn_value v;
        (void)cond_value(q, &v);
        return cairn_tbl__ui_find_all(u, q->c, &v, ids, n, cap);
    }
    (void)t;
    return ri_query(r, q, ids, n, cap);
}

/* Answer the conjunction of conds: through an index when one of them has one (the others checked
 * on the candidate rows), else one scan. Caller holds the lock. */
static int answer(cairn_table *t, cond *q, size_t nq, char **out) {
    scanctx sc;
    size_t k, best = nq, i;
    uindex *bu = NULL;
    ridx *br = NULL;
    cairn_value *row = NULL;
    tbuf bytes = {0, 0, 0};
    int rc, kind = 0;
    memset(&sc, 0, sizeof sc);
    for (k = 0; k < nq; k++) {
        cond_fix(&q[k]);
        if (q[k].empty) return ids_json(NULL, 0, out);
    }
    for (k = 0; k < nq; k++) {
        const tcol *c = q[k].c;
        if (c->pk || c->unique || has_def(t, q[k].col, CAIRN_INDEX_HASH) || has_def(t, q[k].col, CAIRN_INDEX_RANGE)) break;
    }
    /* build the indexes only when one can answer (a scan needs none) */
    if (k < nq && (rc = cairn_tbl__build_indexes(t)) != 0) return rc;
    for (k = 0; t->ui_built && k < nq; k++) {
        uindex *u = NULL;
        ridx *r = NULL;
        int kk = pick_index(t, &q[k], &u, &r);
        if (kk && (!kind || (kk == 1 && kind == 2))) {
            kind = kk;
            best = k;
            bu = u;
            br = r;
        }
    }
    if (!(row = (cairn_value *)calloc(t->s.n ? t->s.n : 1, sizeof *row))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if (!kind) {
        int *cols = (int *)malloc((nq ? nq : 1) * sizeof(int));
        if (!cols) {
            free(row);
            return cairn_err__set(CAIRN_NOMEM, "out of memory");
        }
        for (k = 0; k < nq; k++) cols[k] = q[k].col;
        sc.q = q;
        sc.nq = nq;
        rc = walk(t, cols, nq, row, scan_fn, &sc);
        free(cols);
    } else {
        rc = cond_ids(t, &q[best], bu, br, &sc.ids, &sc.n, &sc.cap);
        if (!rc && nq > 1) {
            /* the other conditions on each candidate row */
            size_t o = 0;
            for (i = 0; !rc && i < sc.n; i++) {
                int ok = 1;
                bytes.n = 0;
                if ((rc = cairn_tbl__get_row(t, sc.ids[i], row, &bytes)) != 0) break;
                for (k = 0; ok && k < nq; k++)
                    if (k != best && !cond_match(&q[k], &row[q[k].col])) ok = 0;
                if (ok) sc.ids[o++] = sc.ids[i];
            }
            sc.n = o;
        }
    }
    free(row);
    free(bytes.p);
    if (!rc) rc = ids_json(sc.ids, sc.n, out);
    free(sc.ids);
    return rc;
}

int cairn_table_lookup_json(cairn_table *t, const char *column, const char *value, char **out) {
    cond q;
    int rc, col;
    if ((rc = check_handle(t, "cairn_table_lookup_json")) != 0) return rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_lookup_json: out is NULL");
    *out = NULL;
    if (!value) return cairn_err__set(CAIRN_INVALID, "cairn_table_lookup_json: value is NULL");
    LOCK(t);
    if ((rc = column_arg(t, column, &col)) == 0) {
        cond_init(&q, t, col);
        rc = cond_side(&q, value, 1, 0, 1);
        if (!rc) rc = answer(t, &q, 1, out);
        free(q.scratch.p);
    }
    UNLOCK(t);
    return rc;
}

int cairn_table_range_find_json(cairn_table *t, const char *column, const char *lo, const char *hi, int flags, char **out) {
    cond q;
    int rc, col;
    if ((rc = check_handle(t, "cairn_table_range_find_json")) != 0) return rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_range_find_json: out is NULL");
    *out = NULL;
    if (flags & ~(CAIRN_RANGE_LO_OPEN | CAIRN_RANGE_HI_OPEN))
        return cairn_err__set(CAIRN_INVALID, "cairn_table_range_find_json: unknown flags %#x", (unsigned)flags);
    LOCK(t);
    if ((rc = column_arg(t, column, &col)) == 0) {
        cond_init(&q, t, col);
        rc = cond_side(&q, lo, 1, (flags & CAIRN_RANGE_LO_OPEN) != 0, 0);
        if (!rc) rc = cond_side(&q, hi, 0, (flags & CAIRN_RANGE_HI_OPEN) != 0, 0);
        if (!rc) rc = answer(t, &q, 1, out);
        free(q.scratch.p);
    }
    UNLOCK(t);
    return rc;
}

int cairn_table_find_json(cairn_table *t, const char *conditions, char **out) {
    cond *q = NULL;
    size_t nq = 0, capq = 0, pos = 0, n, k;
    tbuf name = {0, 0, 0};
    int rc;
    if ((rc = check_handle(t, "cairn_table_find_json")) != 0) return rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_find_json: out is NULL");
    *out = NULL;
    if (!conditions) return cairn_err__set(CAIRN_INVALID, "cairn_table_find_json: conditions is NULL");
    n = strlen(conditions);
    LOCK(t);
    cairn_tbl__json_ws(conditions, n, &pos);
    if (pos >= n || conditions[pos] != '{') {
        rc = cairn_err__set(CAIRN_INVALID, "find: conditions must be a JSON object (byte %zu)", pos);
        goto out;
    }
    pos++;
    cairn_tbl__json_ws(conditions, n, &pos);
    if (pos < n && conditions[pos] == '}') {
        pos++;
    } else {
        for (;;) {
            int col;
            size_t vstart;
            char *vtext;
            cairn_value dummy;
            tbuf skip = {0, 0, 0};
            size_t soff = 0;
            tcol any;
            cairn_tbl__json_ws(conditions, n, &pos);
            name.n = 0;
            if (pos >= n || conditions[pos] != '"') {
                rc = cairn_err__set(CAIRN_INVALID, "invalid JSON: expected a column name at byte %zu", pos);
                goto out;
            }
            if ((rc = cairn_tbl__json_string(conditions, n, &pos, &name)) != 0) goto out;
            cairn_tbl__json_ws(conditions, n, &pos);
            if (pos >= n || conditions[pos] != ':') {
                rc = cairn_err__set(CAIRN_INVALID, "invalid JSON: expected ':' at byte %zu", pos);
                goto out;
            }
            pos++;
            col = find_col(t, (const char *)name.p, name.n);
            if (col < 0) {
                rc = cairn_err__set(CAIRN_SCHEMA, "%s: no column %.*s", t->dir, (int)name.n, (const char *)name.p);
                goto out;
            }
            /* the value's text: parse it once as the column to find its end */
            cairn_tbl__json_ws(conditions, n, &pos);
            vstart = pos;
            any = t->s.c[col];
            if (!is_bytes(any.type) && any.type != CAIRN_TYPE_BOOL) any.type = CAIRN_TYPE_F64, any.w = 8;
            rc = cairn_tbl__json_value(&any, conditions, n, &pos, &dummy, &skip, &soff);
            free(skip.p);
            /* a value of the wrong type or range: the precise parse below says so */
            if (rc && rc != CAIRN_TYPE && rc != CAIRN_RANGE && rc != CAIRN_TOOBIG) goto out;
            if (nq == capq) {
                size_t nc = capq ? capq * 2 : 4;
                cond *p = (cond *)realloc(q, nc * sizeof *p);
                if (!p) {
                    rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                    goto out;
                }
                q = p;
                capq = nc;
            }
            cond_init(&q[nq], t, col);
            nq++;
            if (!(vtext = (char *)malloc(pos - vstart + 1))) {
                rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                goto out;
            }
            memcpy(vtext, conditions + vstart, pos - vstart);
            vtext[pos - vstart] = 0;
            rc = cond_side(&q[nq - 1], vtext, 1, 0, 1);
            free(vtext);
            if (rc) goto out;
            cairn_tbl__json_ws(conditions, n, &pos);
            if (pos < n && conditions[pos] == ',') {
                pos++;
                continue;
            }
            if (pos < n && conditions[pos] == '}') {
                pos++;
                break;
            }
            rc = cairn_err__set(CAIRN_INVALID, "invalid JSON: expected ',' or '}' at byte %zu", pos);
            goto out;
        }
    }
    if ((rc = parse_end(conditions, n, pos)) != 0) goto out;
    rc = answer(t, q, nq, out);
out:
    UNLOCK(t);
    for (k = 0; k < nq; k++) free(q[k].scratch.p);
    free(q);
    free(name.p);
    return rc;
}
