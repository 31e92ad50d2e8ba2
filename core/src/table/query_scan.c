/*
 * query_scan.c - the vectorised scan of a table and the select / count_where entry points.
 *
 * The scan walks the live rows in id order: the row groups (segments decoded once per query; rows
 * marked in the group's delete bitmap skipped; rows with an overlay take the overlay's values),
 * then the in-memory tail (dead rows skipped). Per row group the zone maps of the WHERE's columns
 * decide: skip the group, take every row without evaluating, or evaluate. Evaluation goes a vector
 * of up to QVEC rows at a time (query_expr.c: three-valued logic over byte arrays), the matching
 * positions become a selection vector, and the requested columns are gathered for exactly those
 * rows into the colvecs handed to the consumer.
 */
#include "table/query_int.h"
#include "table/seg_scan.h"

#if defined(__GNUC__) && !defined(__clang__)
/* the decode, mask and count loops below are written to vectorise (as in query_expr.c) */
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#include <math.h>
#include <stdio.h>

#define LOCK(t) pthread_mutex_lock(&(t)->mu)
#define UNLOCK(t) pthread_mutex_unlock(&(t)->mu)

/* an output column being gathered (buffers reused across vectors) */
typedef struct gcol {
    cairn_colvec v;
    size_t dcap;          /* bytes allocated in v.data */
} gcol;

typedef struct sctx {
    cairn_table *t;
    const qexpr *where;
    const int *cols;
    size_t ncols;
    int count_only;
    uint64_t count;
    qchunk_fn fn;
    void *fctx;
    int stop;
    qeval ev;
    uint8_t *tb, *fb;
    uint32_t *sel;
    uint8_t *need;        /* per column: decoded for the WHERE (1) or the output (2) */
    uint8_t *wneed;       /* per column: named by the WHERE */
    int wid;              /* the WHERE names _id */
    gcol *out;
    const cairn_colvec **pass; /* per output column: handed as it is (a whole vector), else NULL */
    uint64_t *oids;
    /* live overlays, by id */
    uint64_t *ovid;
    size_t *ovpos, nov;
    struct gx *gx;        /* the encoded evaluation (a WHERE only) */
    cairn_colvec *gdec;   /* per column: a segment of the current row group decoded whole */
} sctx;

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) cairn_err__set(CAIRN_NOMEM, "out of memory");
    return p;
}

static int gcol_reserve(gcol *g, size_t bytes) {
    if (bytes > g->dcap) {
        size_t nc = g->dcap ? g->dcap : 256;
        void *np;
        while (nc < bytes) nc *= 2;
        if (!(np = realloc(g->v.data, nc))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        g->v.data = np;
        g->dcap = nc;
    }
    return 0;
}

static void gcol_free(gcol *g) {
    free(g->v.data);
    free(g->v.offsets);
    free(g->v.validity);
    memset(g, 0, sizeof *g);
}

/* ---- sorted list of live overlays ---- */

static int cmp_u64pair(const void *a, const void *b) {
    const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static int overlays_sorted(sctx *s) {
    const cairn_table *t = s->t;
    size_t i, k = 0;
    uint64_t *pairs;
    if (!t->ovmap.n) return 0;
    if (!(pairs = (uint64_t *)xmalloc(t->ovmap.n * 16))) return CAIRN_NOMEM;
    for (i = 0; i < t->ovmap.cap && k < t->ovmap.n; i++)
        if (t->ovmap.k[i]) {
            pairs[2 * k] = t->ovmap.k[i];
            pairs[2 * k + 1] = t->ovmap.v[i];
            k++;
        }
    qsort(pairs, k, 16, cmp_u64pair);
    s->ovid = (uint64_t *)xmalloc(k * 8);
    s->ovpos = (size_t *)xmalloc(k * sizeof(size_t));
    if (!s->ovid || !s->ovpos) {
        free(pairs);
        return CAIRN_NOMEM;
    }
    for (i = 0; i < k; i++) {
        s->ovid[i] = pairs[2 * i];
        s->ovpos[i] = (size_t)pairs[2 * i + 1];
    }
    s->nov = k;
    free(pairs);
    return 0;
}

/* ---- gathering ---- */

static void put_value(void *dst, size_t i, int type, const cairn_value *v) {
    switch (type) {
    case CAIRN_TYPE_I8: ((int8_t *)dst)[i] = (int8_t)v->v.i; break;
    case CAIRN_TYPE_I16: ((int16_t *)dst)[i] = (int16_t)v->v.i; break;
    case CAIRN_TYPE_I32: ((int32_t *)dst)[i] = (int32_t)v->v.i; break;
    case CAIRN_TYPE_I64: case CAIRN_TYPE_TIMESTAMP: ((int64_t *)dst)[i] = v->v.i; break;
    case CAIRN_TYPE_U8: ((uint8_t *)dst)[i] = (uint8_t)v->v.u; break;
    case CAIRN_TYPE_U16: ((uint16_t *)dst)[i] = (uint16_t)v->v.u; break;
    case CAIRN_TYPE_U32: ((uint32_t *)dst)[i] = (uint32_t)v->v.u; break;
    case CAIRN_TYPE_U64: ((uint64_t *)dst)[i] = v->v.u; break;
    case CAIRN_TYPE_F32: ((float *)dst)[i] = (float)v->v.f; break;
    case CAIRN_TYPE_F64: ((double *)dst)[i] = v->v.f; break;
    case CAIRN_TYPE_BOOL: ((uint8_t *)dst)[i] = (uint8_t)(v->v.b != 0); break;
    default: break;
    }
}

static int vbit(const uint8_t *vb, size_t i) { return !vb || ((vb[i >> 3] >> (i & 7)) & 1); }

/* Gather k rows of column col into g: row j is src row sel[j], or overlay position ovp[j] when
 * ovp and ovp[j] != SIZE_MAX. src holds the whole segment (its row 0 at index 0). */
static int gather(sctx *s, int col, const cairn_colvec *src, const uint32_t *sel, const size_t *ovp, size_t k, gcol *g) {
    const tcol *c = &s->t->s.c[col];
    size_t j, w = c->w;
    int anynull = 0;
    g->v.type = c->type;
    g->v.fixed_len = c->type == CAIRN_TYPE_FIXED ? c->fixed_len : 0;
    g->v.n = k;
    if (!g->v.validity && !(g->v.validity = (uint8_t *)xmalloc(QVEC / 8))) return CAIRN_NOMEM;
    memset(g->v.validity, 0, (k + 7) / 8);
    if (w) {
        if (gcol_reserve(g, k * w)) return CAIRN_NOMEM;
        if (w == 8) {
            uint64_t *restrict d = (uint64_t *)g->v.data;
            const uint64_t *restrict sv = (const uint64_t *)src->data;
            for (j = 0; j < k; j++) d[j] = sv[sel[j]];
        } else if (w == 4) {
            uint32_t *restrict d = (uint32_t *)g->v.data;
            const uint32_t *restrict sv = (const uint32_t *)src->data;
            for (j = 0; j < k; j++) d[j] = sv[sel[j]];
        } else if (w == 1) {
            uint8_t *restrict d = (uint8_t *)g->v.data;
            const uint8_t *restrict sv = (const uint8_t *)src->data;
            for (j = 0; j < k; j++) d[j] = sv[sel[j]];
        } else {
            for (j = 0; j < k; j++) memcpy((uint8_t *)g->v.data + j * w, (const uint8_t *)src->data + (size_t)sel[j] * w, w);
        }
        for (j = 0; j < k; j++) {
            int ok;
            if (ovp && ovp[j] != SIZE_MAX) {
                cairn_value v;
                cairn_tbl__rs_get(&s->t->ov, &s->t->s, ovp[j], (size_t)col, &v);
                ok = !v.is_null;
                if (ok) {
                    if (c->type == CAIRN_TYPE_FIXED) memcpy((uint8_t *)g->v.data + j * w, v.v.s.bytes, w);
                    else put_value(g->v.data, j, c->type, &v);
                }
            } else ok = vbit(src->validity, sel[j]);
            if (ok) g->v.validity[j >> 3] |= (uint8_t)(1u << (j & 7));
            else {
                anynull = 1;
                memset((uint8_t *)g->v.data + j * w, 0, w); /* a null's slot holds 0 */
            }
        }
        g->v.data_len = k * w;
    } else {
        uint64_t tot = 0;
        if (!g->v.offsets && !(g->v.offsets = (uint64_t *)xmalloc((QVEC + 1) * 8))) return CAIRN_NOMEM;
        for (j = 0; j < k; j++) {
            const uint8_t *p;
            size_t len;
            int ok;
            if (ovp && ovp[j] != SIZE_MAX) {
                cairn_value v;
                cairn_tbl__rs_get(&s->t->ov, &s->t->s, ovp[j], (size_t)col, &v);
                ok = !v.is_null;
                p = ok ? (const uint8_t *)v.v.s.bytes : NULL;
                len = ok ? v.v.s.len : 0;
            } else {
                ok = vbit(src->validity, sel[j]);
                len = (size_t)(src->offsets[sel[j] + 1] - src->offsets[sel[j]]);
                p = src->data ? (const uint8_t *)src->data + src->offsets[sel[j]] : NULL;
            }
            g->v.offsets[j] = tot;
            if (len) {
                if (gcol_reserve(g, (size_t)tot + len)) return CAIRN_NOMEM;
                memcpy((uint8_t *)g->v.data + tot, p, len);
                tot += len;
            }
            if (ok) g->v.validity[j >> 3] |= (uint8_t)(1u << (j & 7));
            else anynull = 1;
        }
        g->v.offsets[k] = tot;
        g->v.data_len = (size_t)tot;
        if (!g->v.data && gcol_reserve(g, 1)) return CAIRN_NOMEM;
    }
    (void)anynull;
    return 0;
}

/* hand one vector to the consumer: validity NULL where no row is null */
static int emit(sctx *s, size_t k) {
    cairn_colvec *cv = NULL;
    qchunk ch;
    size_t i;
    int rc;
    if (!k) return 0;
    if (s->ncols && !(cv = (cairn_colvec *)xmalloc(s->ncols * sizeof *cv))) return CAIRN_NOMEM;
    for (i = 0; i < s->ncols; i++) {
        cv[i] = s->pass[i] ? *s->pass[i] : s->out[i].v;
        if (cv[i].validity && !s->pass[i]) {
            size_t j, all = 1;
            for (j = 0; j < k && all; j++) all = (cv[i].validity[j >> 3] >> (j & 7)) & 1;
            if (all) cv[i].validity = NULL;
        }
    }
    ch.n = k;
    ch.ids = s->oids;
    ch.cols = cv;
    ch.ncols = s->ncols;
    rc = s->fn(s->fctx, &ch);
    free(cv);
    if (rc == 1) {
        s->stop = 1;
        return 0;
    }
    return rc;
}

/* gather the output columns (ids included) of the k selected rows of a vector of n and emit them;
 * when every row of the vector is selected and none has an overlay, a column goes as decoded
 * (a view into a segment only when it has no nulls, whose slots would not read 0; string offsets
 * only when they start at 0) */
static int output(sctx *s, const cairn_colvec *segs, const uint64_t *ids, uint64_t idbase, const uint32_t *sel,
                  const size_t *ovp, size_t k, size_t n, const uint8_t *bor) {
    size_t i;
    int rc, whole = k == n && !ovp;
    if (s->count_only) {
        s->count += k;
        return 0;
    }
    if (!ids)
        for (i = 0; i < k; i++) s->oids[i] = idbase + (whole ? i : sel[i]);
    else if (whole) memcpy(s->oids, ids, k * 8);
    else
        for (i = 0; i < k; i++) s->oids[i] = ids[sel[i]];
    for (i = 0; i < s->ncols; i++) {
        int c = s->cols[i];
        s->pass[i] = NULL;
        if (c != QCOL_ID && whole && (!bor || !bor[c] || !segs[c].validity) && (!segs[c].offsets || !segs[c].offsets[0])) {
            s->pass[i] = &segs[c];
            continue;
        }
        if (c == QCOL_ID) {
            gcol *g = &s->out[i];
            g->v.type = CAIRN_TYPE_U64;
            g->v.fixed_len = 0;
            g->v.n = k;
            if (gcol_reserve(g, k * 8 + 8)) return CAIRN_NOMEM;
            memcpy(g->v.data, s->oids, k * 8);
            g->v.data_len = k * 8;
            free(g->v.validity);
            g->v.validity = NULL;
            continue;
        }
        if ((rc = gather(s, c, &segs[c], sel, ovp, k, &s->out[i])) != 0) return rc;
    }
    return emit(s, k);
}

static void id_view(const uint64_t *ids, qvcol *q) {
    memset(q, 0, sizeof *q);
    q->type = CAIRN_TYPE_U64;
    q->data = ids;
}

/* Evaluate the WHERE over rows of an rstore (positions pos[0..n), n <= QVEC): res[i] = 1 where
 * row pos[i] matches. */
static int eval_store(sctx *s, const rstore *r, const uint32_t *pos, size_t n, uint8_t *res) {
    const cairn_table *t = s->t;
    cairn_colvec *cv;
    qvcol *qv;
    uint64_t *ids = NULL;
    qvcol idq;
    size_t c, i;
    int rc = 0;
    if (!s->where) {
        memset(res, 1, n);
        return 0;
    }
    cv = (cairn_colvec *)calloc(t->s.n ? t->s.n : 1, sizeof *cv);
    qv = (qvcol *)calloc(t->s.n ? t->s.n : 1, sizeof *qv);
    if (!cv || !qv) rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (c = 0; !rc && c < t->s.n; c++) {
        if (!s->wneed[c]) continue;
        if ((rc = cairn_tbl__rs_colvec(r, &t->s, c, pos, n, &cv[c])) != 0) break;
        qv[c].type = cv[c].type;
        qv[c].fixed_len = cv[c].fixed_len;
        qv[c].data = cv[c].data;
        qv[c].offsets = cv[c].offsets;
        qv[c].valid = cv[c].validity;
    }
    if (!rc && s->wid) {
        if (!(ids = (uint64_t *)xmalloc(n * 8))) rc = CAIRN_NOMEM;
        else
            for (i = 0; i < n; i++) ids[i] = r->ids[pos[i]];
    }
    if (!rc) {
        id_view(ids, &idq);
        cairn_tbl__qeval(s->where, qv, &idq, n, res, s->fb, &s->ev);
    }
    if (cv)
        for (c = 0; c < t->s.n; c++) cairn_seg__free_vec(&cv[c]);
    free(cv);
    free(qv);
    free(ids);
    return rc;
}

/* output rows of an rstore (positions pos[0..k)) */
static int output_store(sctx *s, const rstore *r, const uint32_t *pos, size_t k) {
    const cairn_table *t = s->t;
    size_t i;
    int rc;
    if (s->count_only) {
        s->count += k;
        return 0;
    }
    for (i = 0; i < k; i++) s->oids[i] = r->ids[pos[i]];
    for (i = 0; i < s->ncols; i++) {
        int c = s->cols[i];
        gcol *g = &s->out[i];
        cairn_colvec v;
        s->pass[i] = NULL;
        if (c == QCOL_ID) {
            g->v.type = CAIRN_TYPE_U64;
            g->v.fixed_len = 0;
            g->v.n = k;
            if (gcol_reserve(g, k * 8 + 8)) return CAIRN_NOMEM;
            memcpy(g->v.data, s->oids, k * 8);
            g->v.data_len = k * 8;
            free(g->v.validity);
            g->v.validity = NULL;
            continue;
        }
        if ((rc = cairn_tbl__rs_colvec(r, &t->s, (size_t)c, pos, k, &v)) != 0) return rc;
        /* move into the gcol (its old buffers go) */
        free(g->v.data);
        free(g->v.offsets);
        free(g->v.validity);
        g->v = v;
        g->dcap = v.data_len;
        if (v.offsets == NULL && v.type != CAIRN_TYPE_STRING && v.type != CAIRN_TYPE_BYTES) g->dcap = k * t->s.c[c].w;
        if (g->v.validity == NULL) {
            /* keep an allocated bitmap for gather() */
            if (!(g->v.validity = (uint8_t *)calloc(QVEC / 8, 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
            memset(g->v.validity, 0xff, (k + 7) / 8);
        } else {
            uint8_t *nb = (uint8_t *)realloc(g->v.validity, QVEC / 8);
            if (!nb) return cairn_err__set(CAIRN_NOMEM, "out of memory");
            g->v.validity = nb;
        }
        if (g->v.offsets) {
            uint64_t *no = (uint64_t *)realloc(g->v.offsets, (QVEC + 1) * 8);
            if (!no) return cairn_err__set(CAIRN_NOMEM, "out of memory");
            g->v.offsets = no;
        }
    }
    return emit(s, k);
}

static void group_zones(const cairn_table *t, const rgroup *g, const uint8_t *wneed, cairn_zone *zs, const cairn_zone **zp) {
    size_t c;
    for (c = 0; c < t->s.n; c++) {
        zp[c] = NULL;
        if (!wneed[c]) continue;
        cairn_tbl__zone_get(g->cols[c].zone, &zs[c]);
        zp[c] = &zs[c];
    }
}

/* The verified bytes of a segment: the file's mapping, or (no mapping) a copy read into *own. */
static int seg_bytes(segref *r, int type, uint32_t fixed_len, const uint8_t **out, uint8_t **own) {
    segfile *f = r->file;
    int rc;
    *own = NULL;
    if (!f->map) {
        const void *m = NULL;
        if (cairn_io__map(f->f, f->size, &m) == 0) f->map = (const uint8_t *)m;
        cairn_errclear();
    }
    if (r->off + r->len > f->size)
        return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: segment of %llu bytes outside the file", cairn_io__path(f->f),
                              (unsigned long long)r->off, (unsigned long long)r->len);
    if (f->map) {
        *out = f->map + r->off;
        if (r->verified) return 0;
    } else {
        if (!(*own = (uint8_t *)xmalloc((size_t)r->len))) return CAIRN_NOMEM;
        if ((rc = cairn_io__pread(f->f, *own, (size_t)r->len, r->off, NULL)) != 0) {
            free(*own);
            *own = NULL;
            return rc;
        }
        *out = *own;
    }
    if ((rc = cairn_seg__check(*out, (size_t)r->len, type, fixed_len)) != 0) {
        char msg[CAIRN_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        free(*own);
        *own = NULL;
        return cairn_err__set(rc, "%s: offset %llu: %s", cairn_io__path(f->f), (unsigned long long)r->off, msg);
    }
    if (f->map) r->verified = 1;
    return 0;
}

/* rows [p0, p0+n) of column c's segment into v */
static int seg_range(const cairn_table *t, const segref *r, size_t c, const uint8_t *bytes, size_t p0, size_t n,
                     cairn_colvec *v) {
    int rc = cairn_seg__decode_range(bytes, (size_t)r->len, t->s.c[c].type, t->s.c[c].fixed_len, p0, n, v);
    if (rc) {
        char msg[CAIRN_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        return cairn_err__set(rc == CAIRN_RANGE ? CAIRN_CORRUPT : rc, "%s: offset %llu: %s", cairn_io__path(r->file->f),
                              (unsigned long long)r->off, msg);
    }
    return 0;
}

/* Rows [p0, p0+n) of a PLAIN fixed-width segment as a view into its bytes (no copy): 1 when made,
 * 0 when the segment is not such (the caller decodes). */
static int seg_view(const cairn_table *t, const segref *r, size_t c, const uint8_t *bytes, size_t p0, size_t n,
                    cairn_colvec *v) {
    const tcol *col = &t->s.c[c];
    size_t w = col->w, rows, vb;
    const uint8_t *pay;
    if (!w || r->len < 84 || bytes[6] != CAIRN_SEG_PLAIN) return 0;
    rows = cairn_get32(bytes + 8);
    vb = (bytes[7] & 1) ? (rows + 7) / 8 : 0;
    if (80 + vb + rows * w + 4 != r->len || p0 + n > rows) return 0;
    pay = bytes + 80 + vb;
    if (((uintptr_t)pay % (w >= 8 ? 8 : w == 4 ? 4 : w == 2 ? 2 : 1)) != 0) return 0;
    memset(v, 0, sizeof *v);
    v->type = col->type;
    v->fixed_len = col->type == CAIRN_TYPE_FIXED ? col->fixed_len : 0;
    v->n = n;
    v->data = (void *)(uintptr_t)(pay + p0 * w);
    v->validity = vb ? (uint8_t *)(uintptr_t)(bytes + 80 + p0 / 8) : NULL;
    v->data_len = n * w;
    return 1;
}

/* Rows [p0, p0+n) of a FOR segment of an integer column packed at a width of 0, 1, 2, 4 or 8 bits,
 * decoded here into buf (QVEC * 8 bytes) by loops the compiler vectorises: 1 when made, 0 when
 * the segment is not such (the caller decodes). */
static int seg_for(const cairn_table *t, const segref *r, size_t c, const uint8_t *bytes, size_t p0, size_t n,
                   uint8_t *buf, cairn_colvec *v) {
    const tcol *col = &t->s.c[c];
    size_t rows, vb, i, need;
    const uint8_t *pay, *pk;
    uint64_t mn;
    unsigned w;
    if (!col->w || col->type == CAIRN_TYPE_FIXED || col->type == CAIRN_TYPE_BOOL || col->type == CAIRN_TYPE_F32 ||
        col->type == CAIRN_TYPE_F64 || r->len < 84 || bytes[6] != CAIRN_SEG_FOR)
        return 0;
    rows = cairn_get32(bytes + 8);
    vb = (bytes[7] & 1) ? (rows + 7) / 8 : 0;
    if (80 + vb + 9 > r->len || p0 + n > rows || (p0 & 7)) return 0;
    pay = bytes + 80 + vb;
    mn = cairn_get64(pay);
    w = pay[8];
    if (w != 0 && w != 1 && w != 2 && w != 4 && w != 8) return 0;
    need = (rows * w + 7) / 8;
    if (80 + vb + 9 + need + 4 != r->len) return 0;
    pk = pay + 9 + p0 * w / 8;
#define FOR_LOOP(T)                                                                                                    \
    do {                                                                                                               \
        T *restrict o = (T *)(void *)buf;                                                                              \
        T m = (T)mn;                                                                                                   \
        switch (w) {                                                                                                   \
        case 0: for (i = 0; i < n; i++) o[i] = m; break;                                                               \
        case 1: for (i = 0; i < n; i++) o[i] = (T)(m + (T)((pk[i >> 3] >> (i & 7)) & 1)); break;                       \
        case 2: for (i = 0; i < n; i++) o[i] = (T)(m + (T)((pk[i >> 2] >> ((i & 3) * 2)) & 3)); break;                 \
        case 4:                                                                                                        \
            for (i = 0; i < n / 2; i++) {                                                                              \
                o[2 * i] = (T)(m + (T)(pk[i] & 15));                                                                   \
                o[2 * i + 1] = (T)(m + (T)(pk[i] >> 4));                                                               \
            }                                                                                                          \
            if (n & 1) o[n - 1] = (T)(m + (T)(pk[n / 2] & 15));                                                        \
            break;                                                                                                     \
        default: for (i = 0; i < n; i++) o[i] = (T)(m + (T)pk[i]); break;                                              \
        }                                                                                                              \
    } while (0)
    switch (col->w) {
    case 1: FOR_LOOP(uint8_t); break;
    case 2: FOR_LOOP(uint16_t); break;
    case 4: FOR_LOOP(uint32_t); break;
    default: FOR_LOOP(uint64_t); break;
    }
#undef FOR_LOOP
    memset(v, 0, sizeof *v);
    v->type = col->type;
    v->n = n;
    v->data = buf;
    v->validity = vb ? (uint8_t *)(uintptr_t)(bytes + 80 + p0 / 8) : NULL;
    v->data_len = n * col->w;
    return 1;
}

/* free a vector's column: decoded buffers are freed, views into a segment only forgotten */
static void seg_release(cairn_colvec *v, uint8_t *borrowed) {
    if (*borrowed) memset(v, 0, sizeof *v);
    else cairn_seg__free_vec(v);
    *borrowed = 0;
}

/* ---- the WHERE on encoded data ----
 *
 * Per row group, each column the WHERE names is opened once in its encoding (seg_scan.h) and
 * each leaf prepared once against it: a DICT column's leaf is evaluated on the dictionary (a
 * byte per code: matches or not), an RLE column's on the run values, a CONSTANT's on its value;
 * a FOR or BITPACK column's constant range is translated into the domain of its codes; a PLAIN
 * fixed-width column is read in place. DELTA segments, PLAIN strings and bools, and codes wider
 * than the kernels take are decoded once for the group. A vector is then evaluated on the codes:
 * a top-level AND evaluates its kids in the order of their estimated selectivity, the first over
 * the whole vector, the next ones only at the rows still selected. */

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LE 1
#else
#define HOST_LE 0
#endif

enum { EM_VALUES = 1, EM_CODES, EM_DICT, EM_RUNS, EM_CONST };
enum { LM_NONE = 1, LM_ALL, LM_ISNULL, LM_VALUES, LM_RANGE, LM_LUT, LM_DVAL };

typedef struct ecol {
    int ready, mode;
    cairn_segl l;
    const uint8_t *valid;  /* the group's validity bitmap or NULL */
    qvcol vals;            /* EM_VALUES: the group's values (row 0) */
    cairn_colvec dec;      /* a decoded segment (owned) */
    qvcol dict;            /* EM_DICT, EM_RUNS, EM_CONST: the nv values */
    uint64_t *doffs;       /* their offsets (string/bytes; owned) */
    uint32_t *ends;        /* EM_RUNS: the run ends (owned) */
    size_t run;            /* EM_RUNS: a run at or before the next row asked for */
    int codes_ok;          /* EM_DICT: every code was found below the dictionary's size */
} ecol;

typedef struct eleaf {
    int mode;
    uint64_t lo, hi;       /* LM_RANGE: codes in [lo, hi] (hi < 2^w) */
    uint8_t *lut;          /* LM_LUT: per code or run: 1 match, 0 not, 2 a code past the dictionary;
                            * LM_DVAL: a DICT leaf evaluated on the values of the rows asked about
                            * (fewer than the dictionary's entries) */
    size_t lutcap;
    double est;            /* estimated fraction of the rows true */
} eleaf;

typedef struct gx {
    sctx *s;
    const rgroup *g;
    const uint8_t *const *sb;
    ecol *ec;
    eleaf *el;             /* by node number */
    const cairn_zone *zs;
    qvcol idv;             /* the ids (u64, row 0) when the WHERE names _id */
    size_t p0, n;          /* the vector being evaluated */
    int corrupt;           /* 1 + the column where a code past its dictionary was met */
    size_t *order;         /* top-level AND: the kids in evaluation order */
    uint8_t *m;            /* QVEC match bytes */
    uint32_t *cb;          /* QVEC codes */
    uint8_t *vb;           /* QVEC * 8 bytes of gathered values */
    uint8_t *keep;         /* by node number: a DICT leaf left on values (gx_prep) */
    uint64_t bits[2 * QVEC / 64]; /* row bitmaps of a vector */
    size_t nbit;           /* kids of the top-level AND taken as row bitmaps (when 2 or more) */
} gx;

static int seg_err(const segref *r, int rc) {
    char msg[CAIRN_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", cairn_errmsg());
    return cairn_err__set(rc == CAIRN_RANGE ? CAIRN_CORRUPT : rc, "%s: offset %llu: %s", cairn_io__path(r->file->f),
                          (unsigned long long)r->off, msg);
}

static void ecol_free(ecol *e) {
    cairn_seg__free_vec(&e->dec);
    free(e->doffs);
    free(e->ends);
    memset(e, 0, sizeof *e);
}

/* the list of a string/bytes segment as nv values */
static int ecol_list(ecol *e) {
    if (!(e->doffs = (uint64_t *)xmalloc((e->l.nv + 1) * 8))) return CAIRN_NOMEM;
    if (cairn_seg__list_offsets(&e->l, e->doffs)) return CAIRN_CORRUPT;
    e->dict.data = e->l.lbytes;
    e->dict.offsets = e->doffs;
    return 0;
}

static int ecol_open(gx *x, int c) {
    const cairn_table *t = x->s->t;
    const tcol *tc = &t->s.c[c];
    const segref *r = &x->g->cols[c];
    ecol *e = &x->ec[c];
    cairn_segl *l = &e->l;
    int rc, decode = 0;
    if (e->ready) return 0;
    if ((rc = cairn_seg__layout(x->sb[c], (size_t)r->len, tc->type, tc->fixed_len, l)) != 0) return seg_err(r, rc);
    if (l->n != x->g->nrows)
        return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: segment of %zu rows in a group of %u", cairn_io__path(r->file->f),
                              (unsigned long long)r->off, l->n, x->g->nrows);
    e->valid = l->valid;
    e->dict.type = tc->type;
    e->dict.fixed_len = l->fixed_len;
    e->dict.data = l->vals;
    switch (l->enc) {
    case CAIRN_SEG_PLAIN:
        decode = !l->vw || tc->type == CAIRN_TYPE_BOOL || !HOST_LE;
        e->mode = EM_VALUES;
        e->vals = e->dict;
        break;
    case CAIRN_SEG_CONSTANT: case CAIRN_SEG_DICT: case CAIRN_SEG_RLE:
        decode = tc->type == CAIRN_TYPE_BOOL || !HOST_LE || (l->enc == CAIRN_SEG_DICT && l->codes.w > 17);
        if (decode) break;
        e->mode = l->enc == CAIRN_SEG_CONSTANT ? EM_CONST : l->enc == CAIRN_SEG_DICT ? EM_DICT : EM_RUNS;
        if (!l->vw && (rc = ecol_list(e)) != 0) return rc == CAIRN_CORRUPT ? seg_err(r, rc) : rc;
        if (l->enc == CAIRN_SEG_RLE) {
            size_t k;
            uint32_t prev = 0;
            if (!(e->ends = (uint32_t *)xmalloc(l->nv * 4))) return CAIRN_NOMEM;
            if (l->codes.w > 32) return seg_err(r, cairn_err__set(CAIRN_CORRUPT, "segment: bad run ends"));
            cairn_seg__pk_window32(&l->codes, 0, l->nv, e->ends);
            for (k = 0; k < l->nv; k++) {
                if (e->ends[k] <= prev || e->ends[k] > l->n) break;
                prev = e->ends[k];
            }
            if (k < l->nv || prev != l->n) return seg_err(r, cairn_err__set(CAIRN_CORRUPT, "segment: bad run ends"));
            e->run = 0;
        }
        break;
    case CAIRN_SEG_FOR: {
        /* codes v - min; a code whose value would leave the type's range is CORRUPT in the
         * decoder: such segments (possible only for the narrow types) are decoded */
        uint64_t span;
        int sg = tc->type == CAIRN_TYPE_TIMESTAMP || (tc->type >= CAIRN_TYPE_I8 && tc->type <= CAIRN_TYPE_I64);
        if (sg) {
            int64_t hi = tc->type == CAIRN_TYPE_I8 ? INT8_MAX : tc->type == CAIRN_TYPE_I16 ? INT16_MAX
                       : tc->type == CAIRN_TYPE_I32 ? INT32_MAX : INT64_MAX;
            int64_t lo = tc->type == CAIRN_TYPE_I8 ? INT8_MIN : tc->type == CAIRN_TYPE_I16 ? INT16_MIN
                       : tc->type == CAIRN_TYPE_I32 ? INT32_MIN : INT64_MIN;
            int64_t mn = (int64_t)l->base;
            span = mn < lo || mn > hi ? 0 : (uint64_t)hi - (uint64_t)mn;
            decode = mn < lo || mn > hi;
        } else {
            uint64_t hi = tc->type == CAIRN_TYPE_U8 ? UINT8_MAX : tc->type == CAIRN_TYPE_U16 ? UINT16_MAX
                        : tc->type == CAIRN_TYPE_U32 ? UINT32_MAX : UINT64_MAX;
            span = l->base > hi ? 0 : hi - l->base;
            decode = l->base > hi;
        }
        if (l->codes.w > 32 || (l->codes.w < 64 && (((uint64_t)1 << l->codes.w) - 1) > span)) decode = 1;
        e->mode = EM_CODES;
        break;
    }
    case CAIRN_SEG_BITPACK: e->mode = EM_CODES; break;
    default: decode = 1; break;
    }
    if (decode) {
        e->mode = EM_VALUES;
        if ((rc = cairn_seg__decode_range(x->sb[c], (size_t)r->len, tc->type, tc->fixed_len, 0, l->n, &e->dec)) != 0)
            return seg_err(r, rc);
        e->vals.type = tc->type;
        e->vals.fixed_len = l->fixed_len;
        e->vals.data = e->dec.data;
        e->vals.offsets = e->dec.offsets;
        e->valid = e->dec.validity;
    }
    e->ready = 1;
    return 0;
}

/* fraction of a zone's values in [lo, hi] (a guess from its min and max) */
static double zone_frac(double lo, double hi, double zmin, double zmax) {
    double a = lo > zmin ? lo : zmin, b = hi < zmax ? hi : zmax;
    if (!(zmax > zmin)) return b >= a ? 1.0 : 0.0;
    if (b < a) return 0.0;
    return (b - a) / (zmax - zmin);
}

/* leaf e on its column's dictionary, run values or constant: a byte per code or run (codes past
 * the dictionary: 2) */
static int lut_build(gx *x, const qexpr *e) {
    eleaf *el = &x->el[e->idx];
    ecol *ec = &x->ec[e->col];
    size_t nv = ec->l.nv, cap = ec->mode == EM_DICT ? (size_t)1 << ec->l.codes.w : nv, i, hits = 0;
    if (cap < nv) cap = nv;
    if (el->lutcap < cap) {
        uint8_t *p = (uint8_t *)realloc(el->lut, cap);
        if (!p) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        el->lut = p;
        el->lutcap = cap;
    }
    cairn_tbl__leaf_match(e, &ec->dict, nv, el->lut);
    for (i = 0; i < nv; i++) hits += el->lut[i];
    memset(el->lut + nv, 2, cap - nv);
    el->est = (double)hits / (double)nv;
    if (!hits) el->mode = LM_NONE;
    else if (hits == nv && cap == nv) el->mode = LM_ALL;
    else el->mode = LM_LUT;
    if (el->mode == LM_LUT && ec->mode == EM_DICT) {
        /* the matching codes one contiguous range (an equality on a dictionary: one code): the
         * range kernels test a word of codes at once (every code was checked against the
         * dictionary's size when the segment was opened: ecol_open). */
        size_t lo = 0, hi = nv - 1;
        while (!el->lut[lo]) lo++;
        while (!el->lut[hi]) hi--;
        if (hi - lo + 1 == hits) {
            /* every code below the dictionary's size, as the decoder requires: the range kernels
             * test codes against [lo, hi] only and would read a code past the dictionary as no
             * match (the table's kernels see it: 2). Checked once per segment, a word of codes at
             * a time, and only when a range kernel will read the codes. */
            if (!ec->codes_ok) {
                if (cairn_seg__pk_any_ge(&ec->l.codes, nv))
                    return seg_err(&x->g->cols[e->col], cairn_err__set(CAIRN_CORRUPT, "segment: dictionary code out of range"));
                ec->codes_ok = 1;
            }
            el->mode = LM_RANGE;
            el->lo = lo;
            el->hi = hi;
        }
    }
    return 0;
}

static int eleaf_prep(gx *x, const qexpr *e) {
    eleaf *el = &x->el[e->idx];
    ecol *ec;
    const cairn_zone *z;
    int rc;
    el->est = 0.5;
    if (e->col == QCOL_ID) {
        el->mode = e->lk == QL_FULL ? LM_ALL : e->lk == QL_ISNULL || e->lk == QL_EMPTY ? LM_NONE : LM_VALUES;
        if (e->lk == QL_UINT && x->g->last_id >= x->g->first_id)
            el->est = zone_frac((double)e->ulo, (double)e->uhi, (double)x->g->first_id, (double)x->g->last_id);
        return 0;
    }
    if ((rc = ecol_open(x, e->col)) != 0) return rc;
    ec = &x->ec[e->col];
    z = &x->zs[e->col];
    if (e->lk == QL_EMPTY) { /* the column is open: its nulls are unknown, not false */
        el->mode = LM_NONE;
        el->est = 0;
        return 0;
    }
    if (e->lk == QL_ISNULL) {
        el->mode = LM_ISNULL;
        el->est = z->count ? (double)z->nulls / (double)z->count : 0;
        return 0;
    }
    if (e->lk == QL_FULL) {
        el->mode = LM_ALL;
        el->est = 1;
        return 0;
    }
    switch (ec->mode) {
    case EM_VALUES:
        el->mode = LM_VALUES;
        if (e->lk == QL_FLT && !z->has_nan) el->est = zone_frac(e->flo, e->fhi, z->min.f, z->max.f);
        else if (e->lk == QL_INT) el->est = zone_frac((double)e->ilo, (double)e->ihi, (double)z->min.i, (double)z->max.i);
        else if (e->lk == QL_UINT) el->est = zone_frac((double)e->ulo, (double)e->uhi, (double)z->min.u, (double)z->max.u);
        return 0;
    case EM_CONST: case EM_DICT: case EM_RUNS:
        if (ec->mode == EM_DICT && ec->l.vw && ec->l.vw <= 8 && ec->l.codes.w <= 32) {
            /* decided once the AND's order is known (gx_prep): on the values of the rows asked
             * about, or through a table built over the dictionary */
            el->mode = LM_DVAL;
            if (e->lk == QL_FLT && !z->has_nan) el->est = zone_frac(e->flo, e->fhi, z->min.f, z->max.f);
            else if (e->lk == QL_INT) el->est = zone_frac((double)e->ilo, (double)e->ihi, (double)z->min.i, (double)z->max.i);
            else if (e->lk == QL_UINT) el->est = zone_frac((double)e->ulo, (double)e->uhi, (double)z->min.u, (double)z->max.u);
            return 0;
        }
        return lut_build(x, e);
    default: { /* EM_CODES: FOR (value - base) or BITPACK (the bool) */
        unsigned w = ec->l.codes.w;
        uint64_t cmax = w >= 64 ? UINT64_MAX : ((uint64_t)1 << w) - 1, lo, hi, b = ec->l.base;
        int sg = e->lk == QL_INT;
        if (sg ? e->ihi < (int64_t)b : e->uhi < b) {
            el->mode = LM_NONE;
            el->est = 0;
            return 0;
        }
        hi = sg ? (uint64_t)e->ihi - b : e->uhi - b;
        lo = sg ? (e->ilo <= (int64_t)b ? 0 : (uint64_t)e->ilo - b) : (e->ulo <= b ? 0 : e->ulo - b);
        if (hi > cmax) hi = cmax;
        if (lo > hi) el->mode = LM_NONE;
        else if (lo == 0 && hi == cmax) el->mode = LM_ALL;
        else el->mode = LM_RANGE;
        el->lo = lo;
        el->hi = hi;
        if (el->mode == LM_NONE) el->est = 0;
        else if (z->has_values) {
            double zmx = sg ? (double)z->max.i - (double)(int64_t)b : (double)z->max.u - (double)b;
            el->est = zone_frac((double)lo, (double)hi, 0, zmx);
            if (zmx < 1e6) el->est = zone_frac((double)lo - 0.5, (double)hi + 0.5, -0.5, zmx + 0.5);
        }
        return 0;
    }
    }
}

static int tree_prep(gx *x, const qexpr *e) {
    size_t i;
    int rc;
    if (e->kind == QE_LEAF) return eleaf_prep(x, e);
    for (i = 0; i < e->nkid; i++)
        if ((rc = tree_prep(x, e->kid[i])) != 0) return rc;
    return 0;
}

/* the values of leaf e's column at rows [p0, p0 + n) */
static void vals_at(const gx *x, const qexpr *e, size_t p0, qvcol *v) {
    *v = e->col == QCOL_ID ? x->idv : x->ec[e->col].vals;
    if (v->offsets) v->offsets += p0;
    else v->data = (const uint8_t *)v->data + p0 * (e->col == QCOL_ID ? 8 : cairn_seg__width(v->type, v->fixed_len));
    v->valid = NULL;
}

static const uint8_t *valid_of(const gx *x, const qexpr *e) { return e->col == QCOL_ID ? NULL : x->ec[e->col].valid; }

/* LM_DVAL: leaf e on the dictionary values of k codes (a code past the dictionary: CORRUPT) */
static void dval_match(gx *x, const qexpr *e, const uint32_t *restrict codes, size_t k, uint8_t *m) {
    const ecol *ec = &x->ec[e->col];
    const size_t vw = ec->l.vw, nv = ec->l.nv;
    const uint8_t *restrict d = ec->l.vals;
    uint8_t *restrict o = x->vb;
    qvcol g = ec->dict;
    size_t j;
    uint32_t bad = 0;
    for (j = 0; j < k; j++) {
        uint32_t c = codes[j];
        bad |= (uint32_t)(c >= nv);
        if (c >= nv) c = 0;
        if (vw == 8) memcpy(o + 8 * j, d + 8 * (size_t)c, 8);
        else if (vw == 4) memcpy(o + 4 * j, d + 4 * (size_t)c, 4);
        else memcpy(o + vw * j, d + vw * (size_t)c, vw);
    }
    if (bad) x->corrupt = e->col + 1;
    g.data = o;
    cairn_tbl__leaf_match(e, &g, k, m);
}

/* match bytes of leaf e at rows [p0, p0 + n) into m (validity not applied) */
static void leaf_dense(gx *x, const qexpr *e, size_t p0, size_t n, uint8_t *restrict m) {
    const eleaf *el = &x->el[e->idx];
    size_t i;
    switch (el->mode) {
    case LM_NONE: memset(m, 0, n); break;
    case LM_ALL: case LM_ISNULL: memset(m, 1, n); break;
    case LM_VALUES: {
        qvcol v;
        vals_at(x, e, p0, &v);
        cairn_tbl__leaf_match(e, &v, n, m);
        break;
    }
    case LM_DVAL:
        cairn_seg__pk_window32(&x->ec[e->col].l.codes, p0, n, x->cb);
        dval_match(x, e, x->cb, n, m);
        break;
    case LM_RANGE: {
        const uint32_t lo = (uint32_t)el->lo, span = (uint32_t)(el->hi - el->lo);
        uint32_t *restrict cb = x->cb;
        cairn_seg__pk_window32(&x->ec[e->col].l.codes, p0, n, cb);
        for (i = 0; i < n; i++) m[i] = (uint8_t)((uint32_t)(cb[i] - lo) <= span);
        break;
    }
    default: { /* LM_LUT */
        const ecol *ec = &x->ec[e->col];
        const uint8_t *restrict lut = el->lut;
        if (ec->mode == EM_DICT) {
            uint8_t any = 0;
            uint32_t *restrict cb = x->cb;
            cairn_seg__pk_window32(&ec->l.codes, p0, n, cb);
            for (i = 0; i < n; i++) {
                m[i] = lut[cb[i]];
                any |= m[i];
            }
            if (any & 2) x->corrupt = e->col + 1;
        } else { /* EM_RUNS: one test per run */
            ecol *er = &x->ec[e->col];
            size_t r = er->run, at = 0;
            if (r >= er->l.nv || (r > 0 && er->ends[r - 1] > p0)) r = 0;
            while (er->ends[r] <= p0) r++;
            er->run = r;
            while (at < n) {
                size_t stop = er->ends[r] - p0 < n ? er->ends[r] - p0 : n;
                memset(m + at, lut[r], stop - at);
                at = stop;
                r++;
            }
        }
        break;
    }
    }
}

static void enc_leaf(void *ctx, const qexpr *e, size_t n, uint8_t *t, uint8_t *f) {
    gx *x = (gx *)ctx;
    const uint8_t *vb = valid_of(x, e);
    leaf_dense(x, e, x->p0, n, t);
    cairn_tbl__leaf_tf(e, vb ? vb + x->p0 / 8 : NULL, n, t, f);
}

/* the positions i < n where t[i] is 1 into sel; returns their number */
static size_t sel_of(const uint8_t *t, size_t n, uint32_t *sel) {
    size_t i = 0, k = 0;
#if defined(__GNUC__) && HOST_LE
    /* 8 bytes at a time: a word of 0/1 bytes, each set byte found by its lowest bit */
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, t + i, 8);
        while (w) {
            unsigned b = (unsigned)__builtin_ctzll(w) >> 3;
            sel[k++] = (uint32_t)(i + b);
            w &= w - 1;
        }
    }
#endif
    for (; i < n; i++) {
        sel[k] = (uint32_t)i;
        k += t[i];
    }
    return k;
}

/* keep the selected rows j whose m[j] is set */
static size_t keep_m(uint32_t *sel, const uint8_t *m, size_t k) {
    size_t j, o = 0;
    for (j = 0; j < k; j++) {
        sel[o] = sel[j];
        o += m[j] & 1;
    }
    return o;
}

/* narrow the selection sel[0..k) of the vector at p0 to the rows where leaf e is true */
static size_t leaf_sel(gx *x, const qexpr *e, size_t p0, uint32_t *sel, size_t k) {
    const eleaf *el = &x->el[e->idx];
    const uint8_t *vb = valid_of(x, e);
    uint8_t *restrict m = x->m;
    size_t j;
    switch (el->mode) {
    case LM_NONE: return 0;
    case LM_ISNULL:
        if (!vb) return 0;
        for (j = 0; j < k; j++) m[j] = (uint8_t)(((vb[(p0 + sel[j]) >> 3] >> ((p0 + sel[j]) & 7)) & 1) ^ 1);
        return keep_m(sel, m, k);
    case LM_ALL: memset(m, 1, k); break;
    case LM_VALUES: {
        qvcol v;
        size_t w;
        vals_at(x, e, p0, &v);
        w = v.offsets ? 0 : e->col == QCOL_ID ? 8 : cairn_seg__width(v.type, v.fixed_len);
        if (!w || w > 8) {
            /* one value at a time (strings, bytes:N) */
            qvcol one = v;
            for (j = 0; j < k; j++) {
                if (v.offsets) one.offsets = v.offsets + sel[j];
                else one.data = (const uint8_t *)v.data + w * (size_t)sel[j];
                cairn_tbl__leaf_match(e, &one, 1, m + j);
            }
        } else if (w == 8 && e->lk == QL_FLT) {
            /* f64: load, compare, validity and compaction in one pass */
            const uint8_t *src = (const uint8_t *)v.data;
            const double lo = e->flo, hi = e->fhi;
            const int nan = e->nan;
            size_t o = 0;
            for (j = 0; j < k; j++) {
                const size_t r = sel[j];
                double d;
                unsigned ok;
                memcpy(&d, src + 8 * r, 8);
                ok = (unsigned)(((d >= lo) & (d <= hi)) | (nan & (d != d)));
                if (vb) ok &= (unsigned)(vb[(p0 + r) >> 3] >> ((p0 + r) & 7));
                sel[o] = (uint32_t)r;
                o += ok & 1;
            }
            return o;
        } else {
            /* the selected values gathered, then matched as a vector (k <= QVEC) */
            const uint8_t *src = (const uint8_t *)v.data;
            qvcol g = v;
            g.data = x->vb;
            if (w == 8)
                for (j = 0; j < k; j++) memcpy(x->vb + 8 * j, src + 8 * (size_t)sel[j], 8);
            else if (w == 4)
                for (j = 0; j < k; j++) memcpy(x->vb + 4 * j, src + 4 * (size_t)sel[j], 4);
            else
                for (j = 0; j < k; j++) memcpy(x->vb + w * j, src + w * (size_t)sel[j], w);
            cairn_tbl__leaf_match(e, &g, k, m);
        }
        break;
    }
    case LM_DVAL:
        cairn_seg__pk_gather32(&x->ec[e->col].l.codes, p0, sel, k, x->cb);
        dval_match(x, e, x->cb, k, m);
        break;
    case LM_RANGE: /* codes, range, validity and the compaction in one pass */
#ifdef CAIRN_SEG_HAVE_RANGE_SEL
        if (k * 8 > x->n && x->n <= 2048 && cairn_seg__pk_range_ok(&x->ec[e->col].l.codes, p0))
            return cairn_seg__pk_range_keepw(&x->ec[e->col].l.codes, p0, x->n, el->lo, el->hi, sel, k, vb);
#endif
        return cairn_seg__pk_range_keep(&x->ec[e->col].l.codes, p0, sel, k, el->lo, el->hi, vb);
    default: { /* LM_LUT */
        ecol *ec = &x->ec[e->col];
        const uint8_t *lut = el->lut;
        if (ec->mode == EM_DICT) {
            /* codes, table, validity and the compaction in one pass */
            int bad = 0;
            k = cairn_seg__pk_lut_sel(&ec->l.codes, p0, sel, k, lut, vb, &bad);
            if (bad) x->corrupt = e->col + 1;
            return k;
        } else {
            size_t r = ec->run;
            if (r >= ec->l.nv || (r > 0 && ec->ends[r - 1] > p0)) r = 0;
            for (j = 0; j < k; j++) {
                while (ec->ends[r] <= p0 + sel[j]) r++;
                m[j] = lut[r];
            }
        }
        break;
    }
    }
    if (vb)
        for (j = 0; j < k; j++) m[j] &= (uint8_t)((vb[(p0 + sel[j]) >> 3] >> ((p0 + sel[j]) & 7)) & 1);
    return keep_m(sel, m, k);
}

/* the rows of the vector [p0, p0 + n) where leaf e is true, into sel; returns their number */
static size_t leaf_first(gx *x, const qexpr *e, size_t p0, size_t n, uint32_t *sel) {
    const eleaf *el = &x->el[e->idx];
#ifdef CAIRN_SEG_HAVE_RANGE_SEL
    if (el->mode == LM_RANGE && cairn_seg__pk_range_ok(&x->ec[e->col].l.codes, p0)) {
        /* straight from the packed codes to the selection, a word of codes at a time */
        const uint8_t *vb = x->ec[e->col].valid;
        size_t k = cairn_seg__pk_range_sel(&x->ec[e->col].l.codes, p0, n, el->lo, el->hi, sel), j, o = 0;
        if (!vb) return k;
        for (j = 0; j < k; j++) {
            sel[o] = sel[j];
            o += (vb[(p0 + sel[j]) >> 3] >> ((p0 + sel[j]) & 7)) & 1;
        }
        return o;
    }
#endif
    x->p0 = p0;
    enc_leaf(x, e, n, x->s->tb, x->s->fb);
    return sel_of(x->s->tb, n, sel);
}

/* the rows of the vector [p0, p0 + n) where the WHERE is true, into sel; returns their number */
/* a kid of the top-level AND taken as a row bitmap (a code range at a SWAR width) */
static int bit_kid(const gx *x, const qexpr *kid, size_t p0) {
    /* (a lone one goes straight to a selection: cairn_seg__pk_range_sel) */
#ifdef CAIRN_SEG_HAVE_RANGE_SEL
    return kid->kind == QE_LEAF && x->el[kid->idx].mode == LM_RANGE && cairn_seg__pk_range_ok(&x->ec[kid->col].l.codes, p0);
#else
    (void)x;
    (void)kid;
    (void)p0;
    return 0;
#endif
}

static size_t filter_vec(gx *x, size_t p0, size_t n, uint32_t *sel) {
    const qexpr *e = x->s->where;
    sctx *s = x->s;
    size_t k, i;
    int started = 0; /* sel holds the rows selected so far */
    x->p0 = p0;
    x->n = n;
    if (e->kind == QE_LEAF) return leaf_first(x, e, p0, n, sel);
    if (e->kind != QE_AND) {
        cairn_tbl__qeval_with(e, enc_leaf, x, n, s->tb, s->fb, &s->ev);
        return sel_of(s->tb, n, sel);
    }
    k = n;
#ifdef CAIRN_SEG_HAVE_RANGE_SEL
    {
        /* the kids that are code ranges at the SWAR widths first, as row bitmaps ANDed together
         * (their validity included), then the others on the selection that leaves */
        uint64_t *acc = x->bits, *one = x->bits + QVEC / 64;
        size_t nb = (n + 63) / 64, b;
        for (i = 0; i < e->nkid && x->nbit > 1; i++) {
            const qexpr *kid = e->kid[i];
            const uint8_t *vb;
            if (!bit_kid(x, kid, p0)) continue;
            cairn_seg__pk_range_bits(&x->ec[kid->col].l.codes, p0, n, x->el[kid->idx].lo, x->el[kid->idx].hi,
                                     started ? one : acc);
            if (started)
                for (b = 0; b < nb; b++) acc[b] &= one[b];
            started = 1;
            if ((vb = x->ec[kid->col].valid) != NULL) {
                memset(one, 0, nb * 8);
                memcpy(one, vb + p0 / 8, (n + 7) / 8);
#if !HOST_LE
                for (b = 0; b < nb; b++) one[b] = cairn_get64((const uint8_t *)&one[b]);
#endif
                for (b = 0; b < nb; b++) acc[b] &= one[b];
            }
        }
        if (started) k = cairn_seg__bits_sel(acc, n, sel);
    }
#endif
    for (i = 0; i < e->nkid && k; i++) {
        const qexpr *kid = e->kid[x->order[i]];
        if (x->nbit > 1 && bit_kid(x, kid, p0)) continue;
        if (started && kid->kind == QE_LEAF && (k * 3 <= n || x->el[kid->idx].mode == LM_RANGE ||
                                                (x->el[kid->idx].mode == LM_LUT && x->ec[kid->col].mode == EM_DICT))) {
            k = leaf_sel(x, kid, p0, sel, k);
            continue;
        }
        if (!started && kid->kind == QE_LEAF) {
            k = leaf_first(x, kid, p0, n, sel);
            started = 1;
            continue;
        }
        if (kid->kind == QE_LEAF) enc_leaf(x, kid, n, s->tb, s->fb);
        else cairn_tbl__qeval_with(kid, enc_leaf, x, n, s->tb, s->fb, &s->ev);
        if (!started) {
            k = sel_of(s->tb, n, sel);
            started = 1;
        } else {
            size_t j, o = 0;
            for (j = 0; j < k; j++) {
                sel[o] = sel[j];
                o += s->tb[sel[j]];
            }
            k = o;
        }
    }
    return k;
}

static void gx_free(gx *x, size_t ncols) {
    size_t i;
    if (!x) return;
    if (x->ec)
        for (i = 0; i < ncols; i++) ecol_free(&x->ec[i]);
    if (x->el)
        for (i = 0; i < x->s->where->nnodes; i++) free(x->el[i].lut);
    free(x->ec);
    free(x->el);
    free(x->order);
    free(x->m);
    free(x->cb);
    free(x->vb);
    free(x->keep);
    free(x);
}

static gx *gx_new(sctx *s) {
    gx *x = (gx *)calloc(1, sizeof *x);
    size_t nc = s->t->s.n ? s->t->s.n : 1;
    if (!x) {
        cairn_err__set(CAIRN_NOMEM, "out of memory");
        return NULL;
    }
    x->s = s;
    x->ec = (ecol *)calloc(nc, sizeof *x->ec);
    x->el = (eleaf *)calloc(s->where->nnodes ? s->where->nnodes : 1, sizeof *x->el);
    x->order = (size_t *)calloc(s->where->nkid ? s->where->nkid : 1, sizeof *x->order);
    x->m = (uint8_t *)malloc(QVEC);
    x->cb = (uint32_t *)malloc(QVEC * 4);
    x->vb = (uint8_t *)malloc(QVEC * 8);
    x->keep = (uint8_t *)malloc(s->where->nnodes ? s->where->nnodes : 1);
    if (!x->ec || !x->el || !x->order || !x->m || !x->cb || !x->vb || !x->keep) {
        gx_free(x, nc);
        cairn_err__set(CAIRN_NOMEM, "out of memory");
        return NULL;
    }
    return x;
}

/* prepare the group's leaves and the order of a top-level AND's kids */
/* every LM_DVAL leaf of the tree gets its table, except the kids of the top-level AND listed in keep */
static int dval_resolve(gx *x, const qexpr *e, const uint8_t *keep) {
    size_t i;
    int rc;
    if (e->kind == QE_LEAF) return x->el[e->idx].mode == LM_DVAL && !(keep && keep[e->idx]) ? lut_build(x, e) : 0;
    for (i = 0; i < e->nkid; i++)
        if ((rc = dval_resolve(x, e->kid[i], keep)) != 0) return rc;
    return 0;
}

static int gx_prep(gx *x) {
    const qexpr *e = x->s->where;
    size_t i, j;
    int rc;
    if ((rc = tree_prep(x, e)) != 0) return rc;
    x->nbit = 0;
    if (e->kind != QE_AND) return dval_resolve(x, e, NULL);
    if (e->kind == QE_AND) {
        double est[64];
        for (i = 0; i < e->nkid; i++) x->order[i] = i;
        if (e->nkid <= 64) {
            /* cheaper and more selective first: leaves by their estimate, other kids after */
            for (i = 0; i < e->nkid; i++) est[i] = e->kid[i]->kind == QE_LEAF ? x->el[e->kid[i]->idx].est : 2.0;
            for (i = 1; i < e->nkid; i++)
                for (j = i; j > 0 && est[x->order[j - 1]] > est[x->order[j]]; j--) {
                    size_t tmp = x->order[j];
                    x->order[j] = x->order[j - 1];
                    x->order[j - 1] = tmp;
                }
        }
        {
            /* a DICT leaf that is asked about fewer rows than its dictionary has entries reads
             * the values of those rows; the others get a table over the dictionary */
            double rows = (double)x->g->nrows;
            uint8_t *keep = x->keep;
            memset(keep, 0, e->nnodes);
            for (i = 0; i < e->nkid; i++) {
                const qexpr *kid = e->kid[x->order[i]];
                if (kid->kind != QE_LEAF) continue;
                if (i > 0 && x->el[kid->idx].mode == LM_DVAL && rows * 16 < (double)x->ec[kid->col].l.nv) keep[kid->idx] = 1;
                rows *= x->el[kid->idx].est;
            }
            if ((rc = dval_resolve(x, e, keep)) != 0) return rc;
        }
        for (i = 0; i < e->nkid; i++) x->nbit += (size_t)bit_kid(x, e->kid[i], 0);
    }
    return 0;
}

/* decode the output columns of the vector [p0, p0 + n) and hand its k selected rows (s->sel) on */
/* The selected rows (s->sel, k of them) of the vector [p0, p0 + n) of a DICT segment of a column
 * 1, 2, 4 or 8 bytes wide, gathered from the dictionary into buf at their positions (the other
 * positions are not written: only the selected ones are read): 1 when made, 0 when the segment is
 * not such, < 0 an error (a code past the dictionary: CORRUPT). */
static int seg_dict_sel(const sctx *s, const segref *r, size_t c, const uint8_t *bytes, size_t p0, size_t n, size_t k,
                        uint8_t *buf, cairn_colvec *v) {
    const tcol *col = &s->t->s.c[c];
    cairn_segl l;
    uint32_t codes[QVEC];
    const uint32_t *sel = s->sel;
    size_t j, w = col->w;
    uint32_t bad = 0;
    if (!HOST_LE || (w != 1 && w != 2 && w != 4 && w != 8) || col->type == CAIRN_TYPE_BOOL || bytes[6] != CAIRN_SEG_DICT)
        return 0;
    if (cairn_seg__layout(bytes, (size_t)r->len, col->type, col->fixed_len, &l) != 0) return seg_err(r, CAIRN_CORRUPT);
    if (l.codes.w > 32 || p0 + n > l.n) return 0;
    cairn_seg__pk_gather32(&l.codes, p0, sel, k, codes);
    for (j = 0; j < k; j++) {
        uint32_t cd = codes[j];
        bad |= (uint32_t)(cd >= l.nv);
        if (cd >= l.nv) cd = 0;
        if (w == 8) memcpy(buf + 8 * (size_t)sel[j], l.vals + 8 * (size_t)cd, 8);
        else if (w == 4) memcpy(buf + 4 * (size_t)sel[j], l.vals + 4 * (size_t)cd, 4);
        else if (w == 2) memcpy(buf + 2 * (size_t)sel[j], l.vals + 2 * (size_t)cd, 2);
        else buf[sel[j]] = l.vals[cd];
    }
    if (bad) return seg_err(r, cairn_err__set(CAIRN_CORRUPT, "segment: dictionary code out of range"));
    memset(v, 0, sizeof *v);
    v->type = col->type;
    v->fixed_len = col->type == CAIRN_TYPE_FIXED ? col->fixed_len : 0;
    v->n = n;
    v->data = buf;
    v->validity = l.valid ? (uint8_t *)(uintptr_t)(l.valid + p0 / 8) : NULL;
    v->data_len = n * w;
    return 1;
}

static int out_vec(sctx *s, const rgroup *g, cairn_colvec *segs, const uint8_t *const *sb, uint8_t *bor, uint8_t *forbuf,
                   const uint64_t *ids, size_t p0, size_t n, size_t k, const size_t *ovp) {
    const cairn_table *t = s->t;
    size_t c;
    int rc = 0;
    for (c = 0; c < t->s.n && !rc; c++) {
        const tcol *col = &t->s.c[c];
        if (s->need[c] != 2 || segs[c].n) continue;
        if ((bor[c] = (uint8_t)seg_view(t, &g->cols[c], c, sb[c], p0, n, &segs[c])) != 0) continue;
        if ((bor[c] = (uint8_t)seg_for(t, &g->cols[c], c, sb[c], p0, n, forbuf + c * (size_t)QVEC * 8, &segs[c])) != 0)
            continue;
        if ((rc = seg_dict_sel(s, &g->cols[c], c, sb[c], p0, n, k, forbuf + c * (size_t)QVEC * 8, &segs[c])) != 0) {
            if (rc > 0) {
                bor[c] = 1;
                rc = 0;
            }
            continue;
        }
        if (col->w || sb[c][6] != CAIRN_SEG_PLAIN) {
            /* other fixed-width segments (RLE, DELTA, CONSTANT, BITPACK, ...), and string/bytes
             * dictionaries, runs and constants: decoded whole once for the row group and viewed a
             * vector at a time (a DELTA read from the middle would unpack every delta before it for
             * each vector). Variable-width views keep offsets into the group's bytes: output()
             * gathers them, never hands them on. */
            cairn_colvec *d = &s->gdec[c];
            if (!d->n && (rc = seg_range(t, &g->cols[c], c, sb[c], 0, g->nrows, d)) != 0) break;
            memset(&segs[c], 0, sizeof segs[c]);
            segs[c].type = d->type;
            segs[c].fixed_len = d->fixed_len;
            segs[c].n = n;
            segs[c].validity = d->validity ? d->validity + p0 / 8 : NULL;
            if (col->w) {
                segs[c].data = (uint8_t *)d->data + p0 * col->w;
                segs[c].data_len = n * col->w;
            } else {
                segs[c].data = d->data;
                segs[c].offsets = d->offsets + p0;
                segs[c].data_len = (size_t)d->offsets[p0 + n];
            }
            bor[c] = 1;
            continue;
        }
        rc = seg_range(t, &g->cols[c], c, sb[c], p0, n, &segs[c]);
    }
    if (!rc) rc = output(s, segs, ids ? ids + p0 : NULL, g->first_id + p0, s->sel, ovp, k, n, bor);
    for (c = 0; c < t->s.n; c++) seg_release(&segs[c], &bor[c]);
    return rc;
}

static int scan_group(sctx *s, size_t gi, cairn_colvec *segs, cairn_zone *zs, const cairn_zone **zp) {
    cairn_table *t = s->t;
    rgroup *g = &t->g[gi];
    size_t c, a, b, i, p0;
    uint64_t *idsbuf = NULL;
    const uint64_t *ids;
    cairn_colvec idv;
    int contiguous = g->last_id - g->first_id + 1 == g->nrows;
    int all, skip;
    uint8_t *ovres = NULL;       /* per overlay: matches */
    size_t nov = 0;
    size_t *ovp = NULL;          /* per selected row of a vector: overlay position or SIZE_MAX */
    uint32_t *ovat = NULL;       /* per position of the group: 1 + index of its overlay, or 0 */
    const uint8_t **sb = NULL;   /* per column: the segment's bytes */
    uint8_t **own = NULL;
    uint8_t *bor = NULL;         /* per column: segs[c] is a view into the segment or forbuf */
    uint8_t *forbuf = NULL;      /* per column: QVEC * 8 bytes for seg_for */
    gx *x = NULL;                /* the WHERE's evaluation (groups that need one) */
    int rc = 0;
    qzv z;
    memset(&idv, 0, sizeof idv);
    /* overlays of this group */
    {
        size_t lo = 0, hi = s->nov;
        while (lo < hi) {
            size_t m = lo + (hi - lo) / 2;
            if (s->ovid[m] < g->first_id) lo = m + 1;
            else hi = m;
        }
        a = lo;
        b = a;
        while (b < s->nov && s->ovid[b] <= g->last_id) b++;
        nov = b - a;
    }
    if (s->where) {
        group_zones(t, g, s->wneed, zs, zp);
        z = cairn_tbl__qzone(s->where, zp, g->first_id, g->last_id);
        skip = !z.t;
        all = !z.f && !z.u;
    } else {
        skip = 0;
        all = 1;
    }
    if (skip && !nov) return 0;
    if (s->count_only && all && !nov) {
        s->count += g->nrows - g->ndel;
        return 0;
    }
    /* ids */
    if (contiguous) {
        ids = NULL;
    } else {
        if ((rc = cairn_tbl__group_decode(g->ids.file, &g->ids, CAIRN_TYPE_U64, 0, &idv)) != 0) return rc;
        if (idv.n != g->nrows) {
            cairn_seg__free_vec(&idv);
            return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: ids segment of %zu rows in a group of %u",
                                  cairn_io__path(g->ids.file->f), (unsigned long long)g->ids.off, idv.n, g->nrows);
        }
        ids = (const uint64_t *)idv.data;
    }
    if (contiguous && s->wid && !all && !skip) {
        if (!(idsbuf = (uint64_t *)xmalloc((size_t)g->nrows * 8))) {
            rc = CAIRN_NOMEM;
            goto out;
        }
        for (i = 0; i < g->nrows; i++) idsbuf[i] = g->first_id + i;
        ids = idsbuf;
    }
    /* overlays: their positions and their verdicts */
    if (nov) {
        ovres = (uint8_t *)xmalloc(nov);
        ovat = (uint32_t *)calloc(g->nrows, 4);
        if (!ovres || !ovat) {
            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
            goto out;
        }
        for (i = 0; i < nov; i++) {
            uint64_t id = s->ovid[a + i];
            size_t lo = 0, hi = g->nrows;
            if (contiguous) lo = (size_t)(id - g->first_id);
            else {
                while (lo < hi) {
                    size_t m = lo + (hi - lo) / 2;
                    if (ids[m] < id) lo = m + 1;
                    else hi = m;
                }
            }
            if (lo >= g->nrows || (!contiguous && ids[lo] != id)) {
                rc = cairn_err__set(CAIRN_INTERNAL, "overlay of row %llu not in its row group", (unsigned long long)id);
                goto out;
            }
            ovat[lo] = (uint32_t)(i + 1);
        }
        for (i = 0; i < nov; i += QVEC) {
            size_t n = nov - i < QVEC ? nov - i : QVEC, j;
            uint32_t pos[QVEC];
            for (j = 0; j < n; j++) pos[j] = (uint32_t)s->ovpos[a + i + j];
            if ((rc = eval_store(s, &t->ov, pos, n, ovres + i)) != 0) goto out;
        }
    }
    if (s->count_only && (all || skip)) {
        /* every live row of the segments matches (all) or none (skip); overlays as evaluated */
        if (all) s->count += g->nrows - g->ndel - nov;
        for (i = 0; i < nov; i++) s->count += ovres[i];
        goto out;
    }
    /* the segments' bytes (verified once), decoded a vector at a time */
    sb = (const uint8_t **)calloc(t->s.n ? t->s.n : 1, sizeof *sb);
    own = (uint8_t **)calloc(t->s.n ? t->s.n : 1, sizeof *own);
    bor = (uint8_t *)calloc(t->s.n ? t->s.n : 1, 1);
    forbuf = (uint8_t *)malloc((t->s.n ? t->s.n : 1) * (size_t)QVEC * 8);
    if (!sb || !own || !bor || !forbuf) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    for (c = 0; c < t->s.n; c++) {
        int want = (!all && !skip && s->wneed[c]) || (!s->count_only && s->need[c] == 2);
        if (want && (rc = seg_bytes(&g->cols[c], t->s.c[c].type, t->s.c[c].fixed_len, &sb[c], &own[c])) != 0) goto out;
    }
    if (!all && !skip) {
        x = s->gx;
        x->g = g;
        x->sb = sb;
        x->zs = zs;
        x->corrupt = 0;
        memset(&x->idv, 0, sizeof x->idv);
        x->idv.type = CAIRN_TYPE_U64;
        x->idv.data = ids;
        if ((rc = gx_prep(x)) != 0) goto out;
    }
    if (nov && !(ovp = (size_t *)xmalloc(QVEC * sizeof(size_t)))) {
        rc = CAIRN_NOMEM;
        goto out;
    }
    for (p0 = 0; p0 < g->nrows && !s->stop; p0 += QVEC) {
        size_t n = g->nrows - p0 < QVEC ? g->nrows - p0 : QVEC, k = 0, novv = 0;
        uint8_t *tb = s->tb;
        int have_sel = 0;
        if (skip) memset(tb, 0, n);
        else if (all) memset(tb, 1, n);
        else {
            k = filter_vec(x, p0, n, s->sel);
            if (x->corrupt) {
                const segref *r = &g->cols[x->corrupt - 1];
                rc = cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: segment: dictionary code out of range",
                                    cairn_io__path(r->file->f), (unsigned long long)r->off);
                goto out;
            }
            if (g->del || nov) {
                size_t j;
                memset(tb, 0, n);
                for (j = 0; j < k; j++) tb[s->sel[j]] = 1;
                k = 0;
            } else have_sel = 1;
        }
        if (have_sel) {
            if (s->count_only) s->count += k;
            else if (k) {
                if ((rc = out_vec(s, g, segs, sb, bor, forbuf, ids, p0, n, k, NULL)) != 0) goto out;
            }
            continue;
        }
        if (g->del) {
            const uint8_t *d = g->del + p0 / 8;
            for (i = 0; i < n; i++) tb[i] &= (uint8_t)(((d[i >> 3] >> (i & 7)) & 1) ^ 1);
        }
        if (nov) {
            for (i = 0; i < n; i++)
                if (ovat[p0 + i]) {
                    tb[i] = ovres[ovat[p0 + i] - 1];
                    novv++;
                }
        }
        if (s->count_only) {
            for (i = 0; i < n; i++) k += tb[i];
            s->count += k;
        } else {
            for (i = 0; i < n; i++) {
                s->sel[k] = (uint32_t)i;
                k += tb[i];
            }
            if (novv)
                for (i = 0; i < k; i++)
                    ovp[i] = ovat[p0 + s->sel[i]] ? s->ovpos[a + ovat[p0 + s->sel[i]] - 1] : SIZE_MAX;
            if (k && (rc = out_vec(s, g, segs, sb, bor, forbuf, ids, p0, n, k, novv ? ovp : NULL)) != 0) goto out;
        }
    }
out:
    if (x)
        for (c = 0; c < t->s.n; c++) ecol_free(&x->ec[c]);
    for (c = 0; c < t->s.n; c++) cairn_seg__free_vec(&s->gdec[c]);
    for (c = 0; c < t->s.n; c++) {
        if (bor) seg_release(&segs[c], &bor[c]);
        else cairn_seg__free_vec(&segs[c]);
    }
    free(bor);
    free(forbuf);
    if (own)
        for (c = 0; c < t->s.n; c++) free(own[c]);
    free(own);
    free(sb);
    cairn_seg__free_vec(&idv);
    free(idsbuf);
    free(ovres);
    free(ovat);
    free(ovp);
    return rc;
}

static int scan_tail(sctx *s) {
    cairn_table *t = s->t;
    const rstore *r = &t->tail;
    uint32_t *pos = NULL;
    size_t p = 0;
    int rc = 0;
    if (!r->n) return 0;
    if (!(pos = (uint32_t *)xmalloc(QVEC * 4))) return CAIRN_NOMEM;
    while (p < r->n && !s->stop) {
        size_t n = 0, k = 0, i;
        while (p < r->n && n < QVEC) {
            if (!r->dead[p]) pos[n++] = (uint32_t)p;
            p++;
        }
        if (!n) continue;
        if ((rc = eval_store(s, r, pos, n, s->tb)) != 0) break;
        for (i = 0; i < n; i++) {
            s->sel[k] = pos[i];
            k += s->tb[i];
        }
        if ((rc = output_store(s, r, s->sel, k)) != 0) break;
    }
    free(pos);
    return rc;
}

static int scan_run(cairn_table *t, const qexpr *where, const int *cols, size_t ncols, qchunk_fn fn, void *ctx,
                    int count_only, uint64_t *count) {
    sctx s;
    cairn_colvec *segs = NULL;
    cairn_zone *zs = NULL;
    const cairn_zone **zp = NULL;
    size_t i, nc = t->s.n ? t->s.n : 1;
    int rc = 0;
    memset(&s, 0, sizeof s);
    s.t = t;
    s.where = where;
    s.cols = cols;
    s.ncols = ncols;
    s.fn = fn;
    s.fctx = ctx;
    s.count_only = count_only;
    for (i = 0; i < ncols; i++)
        if (cols[i] != QCOL_ID && (cols[i] < 0 || (size_t)cols[i] >= t->s.n))
            return cairn_err__set(CAIRN_INVALID, "scan: column %d out of range", cols[i]);
    s.tb = (uint8_t *)xmalloc(QVEC);
    s.fb = (uint8_t *)xmalloc(QVEC);
    s.sel = (uint32_t *)xmalloc((QVEC + 8) * 4); /* room past the vector: cairn_seg__pk_range_sel */
    s.need = (uint8_t *)calloc(nc, 1);
    s.wneed = (uint8_t *)calloc(nc, 1);
    s.out = (gcol *)calloc(ncols ? ncols : 1, sizeof(gcol));
    s.pass = (const cairn_colvec **)calloc(ncols ? ncols : 1, sizeof *s.pass);
    s.oids = (uint64_t *)xmalloc(QVEC * 8);
    s.gdec = (cairn_colvec *)calloc(nc, sizeof *s.gdec);
    segs = (cairn_colvec *)calloc(nc, sizeof *segs);
    zs = (cairn_zone *)calloc(nc, sizeof *zs);
    zp = (const cairn_zone **)calloc(nc, sizeof *zp);
    if (!s.tb || !s.fb || !s.sel || !s.need || !s.wneed || !s.out || !s.pass || !s.oids || !s.gdec || !segs || !zs || !zp) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    if (where) {
        if ((rc = cairn_tbl__qeval_init(where, &s.ev)) != 0) goto out;
        if (!(s.gx = gx_new(&s))) {
            rc = CAIRN_NOMEM;
            goto out;
        }
        cairn_tbl__qcols(where, s.wneed, &s.wid);
        for (i = 0; i < t->s.n; i++)
            if (s.wneed[i]) s.need[i] = 1;
    }
    for (i = 0; i < ncols; i++)
        if (cols[i] != QCOL_ID) s.need[cols[i]] = 2;
    if ((rc = overlays_sorted(&s)) != 0) goto out;
    for (i = 0; i < t->ng && !s.stop && !rc; i++) rc = scan_group(&s, i, segs, zs, zp);
    if (!rc && !s.stop) rc = scan_tail(&s);
    if (count) *count = s.count;
out:
    gx_free(s.gx, t->s.n);
    cairn_tbl__qeval_free(&s.ev);
    for (i = 0; i < ncols && s.out; i++) gcol_free(&s.out[i]);
    free(s.out);
    free(s.pass);
    free(s.tb);
    free(s.fb);
    free(s.sel);
    free(s.need);
    free(s.wneed);
    free(s.oids);
    free(s.gdec);
    free(s.ovid);
    free(s.ovpos);
    free(segs);
    free(zs);
    free(zp);
    return rc;
}

int cairn_tbl__scan(cairn_table *t, const qexpr *where, const int *cols, size_t ncols, qchunk_fn fn, void *ctx) {
    return scan_run(t, where, cols, ncols, fn, ctx, 0, NULL);
}

/* ---- select ---- */

static int check_handle(cairn_table *t, const char *fn) {
    if (!t) return cairn_err__set(CAIRN_INVALID, "%s: NULL handle", fn);
    if (cairn_fork__foreign(t->gen)) return cairn_fork__err(fn);
    return 0;
}

static const tcol g_idcol = {.name = "_id", .type = CAIRN_TYPE_U64, .w = 8};

static const tcol *rcol(const cairn_table *t, int c) { return c == QCOL_ID ? &g_idcol : &t->s.c[c]; }

static int type_json(const tcol *c, tbuf *b) {
    if (c->type == CAIRN_TYPE_FIXED) return cairn_tbl__buf_printf(b, "\"bytes:%u\"", (unsigned)c->fixed_len);
    return cairn_tbl__buf_printf(b, "\"%s\"", cairn_tbl__type_name(c->type));
}

/* the collected rows of a select: the requested columns (output, then order keys) by row */
typedef struct sel {
    cairn_table *t;
    const qspec *q;
    const int *rc;          /* requested columns */
    size_t nrc;
    size_t nout;            /* the first nout are the output */
    int ordered;
    uint64_t skip, want;    /* unordered: rows still to skip, rows still wanted (UINT64_MAX: all) */
    /* unordered: output straight away */
    tbuf *rows;             /* "rows" format: the rows array body */
    tbuf *colb;             /* "columns" format: one buffer per output column */
    uint64_t nrows;
    /* ordered: rows kept (values row-major, bytes in heap as offsets) */
    cairn_value *vals;
    uint64_t *ids;
    size_t n, cap;
    tbuf heap;
    uint64_t keep;          /* top-k: rows to keep (offset + limit), 0: all */
    size_t *hp, nh, spare;  /* top-k: a heap of row slots, the worst kept row on top */
    int err;
} sel;

/* a value as JSON: integers written here (the common case, without printf), the rest as the
 * table writes them */
static int val_json(const tcol *c, const cairn_value *v, tbuf *b) {
    char d[24];
    size_t k = sizeof d;
    uint64_t u;
    int neg = 0;
    if (v->is_null) return tbuf_put(b, "null", 4);
    switch (c->type) {
    case CAIRN_TYPE_I8: case CAIRN_TYPE_I16: case CAIRN_TYPE_I32: case CAIRN_TYPE_I64: case CAIRN_TYPE_TIMESTAMP:
        neg = v->v.i < 0;
        u = neg ? 0 - (uint64_t)v->v.i : (uint64_t)v->v.i;
        break;
    case CAIRN_TYPE_U8: case CAIRN_TYPE_U16: case CAIRN_TYPE_U32: case CAIRN_TYPE_U64: u = v->v.u; break;
    default: return cairn_tbl__value_json(c, v, b);
    }
    do {
        d[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg) d[--k] = '-';
    return tbuf_put(b, d + k, sizeof d - k);
}

static int row_out(sel *s, const cairn_value *v, uint64_t id) {
    size_t i;
    int rc = 0;
    (void)id;
    if (!s->q->columns_format) {
        if (s->nrows && tbuf_put(s->rows, ",", 1)) return CAIRN_NOMEM;
        if (tbuf_put(s->rows, "{", 1)) return CAIRN_NOMEM;
    }
    for (i = 0; i < s->nout && !rc; i++) {
        const tcol *c = rcol(s->t, s->rc[i]);
        if (s->q->columns_format) {
            tbuf *b = &s->colb[i];
            if (s->nrows && tbuf_put(b, ",", 1)) return CAIRN_NOMEM;
            rc = val_json(c, &v[i], b);
        } else {
            size_t nl = strlen(c->name);
            if ((i && tbuf_put(s->rows, ",", 1)) || tbuf_put(s->rows, "\"", 1) || tbuf_put(s->rows, c->name, nl) ||
                tbuf_put(s->rows, "\":", 2))
                return CAIRN_NOMEM;
            rc = val_json(c, &v[i], s->rows);
        }
    }
    if (!rc && !s->q->columns_format && tbuf_put(s->rows, "}", 1)) return CAIRN_NOMEM;
    s->nrows++;
    return rc ? CAIRN_NOMEM : 0;
}

static void chunk_value(const qchunk *ch, size_t k, size_t i, int col, const cairn_table *t, cairn_value *v) {
    if (col == QCOL_ID) {
        memset(v, 0, sizeof *v);
        v->v.u = ch->ids[i];
        return;
    }
    cairn_tbl__colvec_get(&ch->cols[k], &t->s.c[col], i, v);
}

static int cmp_val(const tcol *c, const cairn_value *a, const cairn_value *b, const uint8_t *heap) {
    if (a->is_null || b->is_null) return 0; /* handled by the caller */
    switch (c->type) {
    case CAIRN_TYPE_F32: case CAIRN_TYPE_F64: {
        int na = isnan(a->v.f), nb = isnan(b->v.f);
        if (na || nb) return na - nb;
        return a->v.f < b->v.f ? -1 : a->v.f > b->v.f;
    }
    case CAIRN_TYPE_BOOL: return (a->v.b != 0) - (b->v.b != 0);
    case CAIRN_TYPE_STRING: case CAIRN_TYPE_BYTES: case CAIRN_TYPE_FIXED: {
        const uint8_t *pa = heap + (size_t)(uintptr_t)a->v.s.bytes, *pb = heap + (size_t)(uintptr_t)b->v.s.bytes;
        size_t m = a->v.s.len < b->v.s.len ? a->v.s.len : b->v.s.len;
        int r = m ? memcmp(pa, pb, m) : 0;
        if (r) return r < 0 ? -1 : 1;
        return a->v.s.len < b->v.s.len ? -1 : a->v.s.len > b->v.s.len;
    }
    default:
        if (c->type >= CAIRN_TYPE_U8 && c->type <= CAIRN_TYPE_U64) return a->v.u < b->v.u ? -1 : a->v.u > b->v.u;
        if (c == &g_idcol) return a->v.u < b->v.u ? -1 : a->v.u > b->v.u;
        return a->v.i < b->v.i ? -1 : a->v.i > b->v.i;
    }
}

/* order of rows x and y of the kept set */
static int cmp_rows(const sel *s, size_t x, size_t y) {
    size_t k;
    const cairn_value *a = s->vals + x * s->nrc, *b = s->vals + y * s->nrc;
    for (k = 0; k < s->q->norder; k++) {
        size_t i = s->nout + k;
        const tcol *c = rcol(s->t, s->rc[i]);
        int r;
        if (a[i].is_null || b[i].is_null) {
            if (a[i].is_null && b[i].is_null) continue;
            return a[i].is_null ? 1 : -1; /* nulls last in both directions */
        }
        r = cmp_val(c, &a[i], &b[i], s->heap.p);
        if (r) return s->q->order[k].desc ? -r : r;
    }
    return s->ids[x] < s->ids[y] ? -1 : s->ids[x] > s->ids[y];
}

static void msort(const sel *s, size_t *a, size_t *tmp, size_t n) {
    size_t m, i, j, k;
    if (n < 2) return;
    if (n <= 16) {
        for (i = 1; i < n; i++) {
            size_t v = a[i];
            for (j = i; j > 0 && cmp_rows(s, a[j - 1], v) > 0; j--) a[j] = a[j - 1];
            a[j] = v;
        }
        return;
    }
    m = n / 2;
    msort(s, a, tmp, m);
    msort(s, a + m, tmp, n - m);
    if (cmp_rows(s, a[m - 1], a[m]) <= 0) return;
    memcpy(tmp, a, m * sizeof *a);
    i = 0;
    j = m;
    k = 0;
    while (i < m && j < n) a[k++] = cmp_rows(s, tmp[i], a[j]) <= 0 ? tmp[i++] : a[j++];
    while (i < m) a[k++] = tmp[i++];
}

/* sort the kept rows; keep the first `keep` (0: all) and compact */
static int sort_keep(sel *s, size_t **perm_out) {
    size_t *perm, *tmp, i, nk;
    if (!(perm = (size_t *)xmalloc(s->n * sizeof *perm))) return CAIRN_NOMEM;
    if (!(tmp = (size_t *)xmalloc(s->n * sizeof *tmp))) {
        free(perm);
        return CAIRN_NOMEM;
    }
    for (i = 0; i < s->n; i++) perm[i] = i;
    msort(s, perm, tmp, s->n);
    free(tmp);
    nk = s->keep && s->keep < s->n ? (size_t)s->keep : s->n;
    if (perm_out) {
        *perm_out = perm;
        return 0;
    }
    {
        /* compact: rows perm[0..nk) become rows 0..nk, bytes re-packed */
        cairn_value *nv = (cairn_value *)xmalloc(nk * s->nrc * sizeof *nv);
        uint64_t *ni = (uint64_t *)xmalloc(nk * 8);
        tbuf nh = {0, 0, 0};
        size_t r, c;
        if (!nv || !ni) {
            free(nv);
            free(ni);
            free(perm);
            return CAIRN_NOMEM;
        }
        for (r = 0; r < nk; r++) {
            ni[r] = s->ids[perm[r]];
            for (c = 0; c < s->nrc; c++) {
                cairn_value v = s->vals[perm[r] * s->nrc + c];
                const tcol *tc = rcol(s->t, s->rc[c]);
                if (!v.is_null && (!tc->w || tc->type == CAIRN_TYPE_FIXED)) {
                    size_t off = nh.n;
                    if (tbuf_put(&nh, s->heap.p + (size_t)(uintptr_t)v.v.s.bytes, v.v.s.len)) {
                        free(nv);
                        free(ni);
                        free(perm);
                        free(nh.p);
                        return CAIRN_NOMEM;
                    }
                    v.v.s.bytes = (const void *)(uintptr_t)off;
                }
                nv[r * s->nrc + c] = v;
            }
        }
        free(s->vals);
        free(s->ids);
        free(s->heap.p);
        s->vals = nv;
        s->ids = ni;
        s->heap = nh;
        s->n = s->cap = nk;
        free(perm);
    }
    return 0;
}

static void hp_swap(size_t *h, size_t a, size_t b) {
    size_t x = h[a];
    h[a] = h[b];
    h[b] = x;
}

static void hp_up(sel *s, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (cmp_rows(s, s->hp[i], s->hp[p]) <= 0) break;
        hp_swap(s->hp, i, p);
        i = p;
    }
}

static void hp_down(sel *s, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < s->nh && cmp_rows(s, s->hp[l], s->hp[w]) > 0) w = l;
        if (r < s->nh && cmp_rows(s, s->hp[r], s->hp[w]) > 0) w = r;
        if (w == i) return;
        hp_swap(s->hp, i, w);
        i = w;
    }
}

/* the bytes of the rows in the heap only (evicted rows leave theirs behind) */
static int hp_compact(sel *s) {
    tbuf nh = {0, 0, 0};
    size_t i, c;
    for (i = 0; i < s->nh; i++) {
        cairn_value *row = s->vals + s->hp[i] * s->nrc;
        for (c = 0; c < s->nrc; c++) {
            const tcol *tc = rcol(s->t, s->rc[c]);
            if (!row[c].is_null && (!tc->w || tc->type == CAIRN_TYPE_FIXED)) {
                size_t off = nh.n;
                if (tbuf_put(&nh, s->heap.p + (size_t)(uintptr_t)row[c].v.s.bytes, row[c].v.s.len)) {
                    free(nh.p);
                    return CAIRN_NOMEM;
                }
                row[c].v.s.bytes = (const void *)(uintptr_t)off;
            }
        }
    }
    free(s->heap.p);
    s->heap = nh;
    return 0;
}

/* top-k: offer row i of the chunk */
static int hp_offer(sel *s, const qchunk *ch, size_t i) {
    size_t slot = s->spare, k, mark = s->heap.n;
    cairn_value *row = s->vals + slot * s->nrc;
    for (k = 0; k < s->nrc; k++) {
        const tcol *tc = rcol(s->t, s->rc[k]);
        chunk_value(ch, k, i, s->rc[k], s->t, &row[k]);
        if (!row[k].is_null && (!tc->w || tc->type == CAIRN_TYPE_FIXED)) {
            size_t off = s->heap.n;
            if (tbuf_put(&s->heap, row[k].v.s.bytes, row[k].v.s.len)) return CAIRN_NOMEM;
            row[k].v.s.bytes = (const void *)(uintptr_t)off;
        }
    }
    s->ids[slot] = ch->ids[i];
    if (s->nh < s->keep) {
        s->hp[s->nh++] = slot;
        hp_up(s, s->nh - 1);
        s->spare = s->nh;
    } else if (cmp_rows(s, slot, s->hp[0]) < 0) {
        s->spare = s->hp[0];
        s->hp[0] = slot;
        hp_down(s, 0);
    } else {
        s->heap.n = mark; /* not kept: its bytes go */
    }
    if (s->heap.n > (64u << 20)) return hp_compact(s);
    return 0;
}

static int sel_chunk(void *ctx, const qchunk *ch) {
    sel *s = (sel *)ctx;
    size_t i, k;
    int rc;
    cairn_value vb[64], *v = s->nrc <= 64 ? vb : NULL;
    if (!s->ordered) {
        if (!v && !(v = (cairn_value *)xmalloc(s->nrc * sizeof *v))) return CAIRN_NOMEM;
        for (i = 0; i < ch->n; i++) {
            if (s->skip) {
                s->skip--;
                continue;
            }
            if (s->want == 0) break;
            for (k = 0; k < s->nout; k++) chunk_value(ch, k, i, s->rc[k], s->t, &v[k]);
            if ((rc = row_out(s, v, ch->ids[i])) != 0) {
                if (v != vb) free(v);
                return rc;
            }
            if (s->want != UINT64_MAX) s->want--;
        }
        if (v != vb) free(v);
        return s->want == 0 ? 1 : 0;
    }
    if (s->hp) {
        for (i = 0; i < ch->n; i++)
            if ((rc = hp_offer(s, ch, i)) != 0) return rc;
        return 0;
    }
    if (s->n + ch->n > s->cap) {
        size_t nc = s->cap ? s->cap : 1024;
        cairn_value *nv;
        uint64_t *ni;
        while (nc < s->n + ch->n) nc *= 2;
        if (!(nv = (cairn_value *)realloc(s->vals, nc * s->nrc * sizeof *nv))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        s->vals = nv;
        if (!(ni = (uint64_t *)realloc(s->ids, nc * 8))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        s->ids = ni;
        s->cap = nc;
    }
    for (i = 0; i < ch->n; i++) {
        cairn_value *row = s->vals + s->n * s->nrc;
        for (k = 0; k < s->nrc; k++) {
            const tcol *tc = rcol(s->t, s->rc[k]);
            chunk_value(ch, k, i, s->rc[k], s->t, &row[k]);
            if (!row[k].is_null && (!tc->w || tc->type == CAIRN_TYPE_FIXED)) {
                size_t off = s->heap.n;
                if (tbuf_put(&s->heap, row[k].v.s.bytes, row[k].v.s.len)) return CAIRN_NOMEM;
                row[k].v.s.bytes = (const void *)(uintptr_t)off;
            }
        }
        s->ids[s->n++] = ch->ids[i];
    }
    if (s->keep && s->n >= 2 * s->keep && s->n >= 8192) {
        if ((rc = sort_keep(s, NULL)) != 0) return rc;
    }
    return 0;
}

static int select_run(cairn_table *t, const qspec *q, tbuf *out) {
    sel s;
    int *rc_cols = NULL, *defcols = NULL;
    const int *outc = q->cols;
    size_t nout = q->ncols, i, j;
    tbuf rows = {0, 0, 0};
    tbuf *colb = NULL;
    int rc = 0;
    memset(&s, 0, sizeof s);
    if (!outc) {
        if (!(defcols = (int *)xmalloc((t->s.n + 1) * sizeof(int)))) return CAIRN_NOMEM;
        defcols[0] = QCOL_ID;
        for (i = 0; i < t->s.n; i++) defcols[i + 1] = (int)i;
        outc = defcols;
        nout = t->s.n + 1;
    }
    for (i = 0; i < nout; i++)
        for (j = 0; j < i; j++)
            if (outc[i] == outc[j]) {
                free(defcols);
                return cairn_err__set(CAIRN_INVALID, "columns: '%s' is named twice", rcol(t, outc[i])->name);
            }
    if (!(rc_cols = (int *)xmalloc((nout + q->norder) * sizeof(int)))) {
        free(defcols);
        return CAIRN_NOMEM;
    }
    memcpy(rc_cols, outc, nout * sizeof(int));
    for (i = 0; i < q->norder; i++) rc_cols[nout + i] = q->order[i].col;
    s.t = t;
    s.q = q;
    s.rc = rc_cols;
    s.nrc = nout + q->norder;
    s.nout = nout;
    s.ordered = q->norder > 0;
    s.skip = q->offset;
    s.want = q->has_limit ? q->limit : UINT64_MAX;
    s.rows = &rows;
    if (q->columns_format && !(colb = s.colb = (tbuf *)calloc(nout ? nout : 1, sizeof(tbuf)))) rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
    if (s.ordered && q->has_limit && q->limit <= 100000 && q->offset <= 100000) s.keep = q->limit + q->offset;
    if (!rc && s.keep) {
        /* top-k: keep + 1 row slots (the spare takes the row on offer) and the heap */
        s.hp = (size_t *)xmalloc((size_t)s.keep * sizeof(size_t));
        s.vals = (cairn_value *)xmalloc(((size_t)s.keep + 1) * s.nrc * sizeof(cairn_value));
        s.ids = (uint64_t *)xmalloc(((size_t)s.keep + 1) * 8);
        if (!s.hp || !s.vals || !s.ids) rc = CAIRN_NOMEM;
    }
    if (!rc && !(q->has_limit && q->limit == 0)) {
        rc = cairn_tbl__scan(t, q->where, rc_cols, s.ordered ? s.nrc : nout, sel_chunk, &s);
    }
    if (!rc && s.hp) s.n = s.nh;
    if (!rc && s.ordered && s.n) {
        size_t *perm = NULL;
        uint64_t from = q->offset, to = s.n;
        cairn_value *v = (cairn_value *)xmalloc(nout * sizeof *v);
        if (s.hp) {
            /* the heap's slots, sorted */
            size_t *tmp = (size_t *)xmalloc(s.nh * sizeof *tmp);
            if (!tmp || !v) rc = CAIRN_NOMEM;
            else msort(&s, s.hp, tmp, s.nh);
            free(tmp);
            perm = s.hp;
            s.hp = NULL;
        } else rc = v ? sort_keep(&s, &perm) : CAIRN_NOMEM;
        if (q->has_limit && q->limit < to - (from < to ? from : to)) to = from + q->limit;
        for (i = (size_t)from; !rc && i < to && i < s.n; i++) {
            const cairn_value *r = s.vals + perm[i] * s.nrc;
            for (j = 0; j < nout; j++) {
                const tcol *tc = rcol(t, rc_cols[j]);
                v[j] = r[j];
                if (!v[j].is_null && (!tc->w || tc->type == CAIRN_TYPE_FIXED))
                    v[j].v.s.bytes = s.heap.p ? s.heap.p + (size_t)(uintptr_t)r[j].v.s.bytes : (const uint8_t *)"";
            }
            rc = row_out(&s, v, s.ids[perm[i]]);
        }
        free(v);
        free(perm);
    }
    /* the result */
    if (!rc) {
        if (tbuf_put(out, "{\"columns\":[", 12)) rc = CAIRN_NOMEM;
        for (i = 0; !rc && i < nout; i++) {
            const tcol *tc = rcol(t, outc[i]);
            if (cairn_tbl__buf_printf(out, "%s{\"name\":\"%s\",\"type\":", i ? "," : "", tc->name) || type_json(tc, out) ||
                tbuf_put(out, "}", 1))
                rc = CAIRN_NOMEM;
        }
        if (!rc && !q->columns_format) {
            if (tbuf_put(out, "],\"rows\":[", 10) || tbuf_put(out, rows.p, rows.n) || tbuf_put(out, "]}", 2)) rc = CAIRN_NOMEM;
        } else if (!rc) {
            if (tbuf_put(out, "],\"data\":{", 10)) rc = CAIRN_NOMEM;
            for (i = 0; !rc && i < nout; i++) {
                if (cairn_tbl__buf_printf(out, "%s\"%s\":[", i ? "," : "", rcol(t, outc[i])->name) ||
                    tbuf_put(out, colb[i].p, colb[i].n) || tbuf_put(out, "]", 1))
                    rc = CAIRN_NOMEM;
            }
            if (!rc && cairn_tbl__buf_printf(out, "},\"count\":%llu}", (unsigned long long)s.nrows)) rc = CAIRN_NOMEM;
        }
        if (rc) cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    free(rows.p);
    if (colb)
        for (i = 0; i < nout; i++) free(colb[i].p);
    free(colb);
    free(s.vals);
    free(s.ids);
    free(s.hp);
    free(s.heap.p);
    free(rc_cols);
    free(defcols);
    return rc;
}

int cairn_table_query_json(cairn_table *t, const char *query, char **out) {
    qspec q;
    tbuf b = {0, 0, 0};
    int rc;
    if ((rc = check_handle(t, "cairn_table_query_json")) != 0) return rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_query_json: out is NULL");
    *out = NULL;
    LOCK(t);
    rc = cairn_tbl__qspec_parse(t, query, &q);
    if (!rc) {
        rc = q.naggs ? cairn_tbl__aggregate(t, &q, &b) : select_run(t, &q, &b);
        cairn_tbl__qspec_free(&q);
    }
    UNLOCK(t);
    if (!rc && !(*out = cairn_tbl__buf_take(&b))) rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
    free(b.p);
    return rc;
}

int cairn_table_count_where_json(cairn_table *t, const char *query, uint64_t *out) {
    qexpr *w = NULL;
    uint64_t n = 0;
    int rc;
    if ((rc = check_handle(t, "cairn_table_count_where_json")) != 0) return rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_count_where_json: out is NULL");
    LOCK(t);
    rc = cairn_tbl__where_of_query(t, query, &w);
    if (!rc) {
        if (!w) n = t->live;
        else rc = scan_run(t, w, NULL, 0, NULL, NULL, 1, &n);
    }
    cairn_tbl__where_free(w);
    UNLOCK(t);
    if (!rc) *out = n;
    return rc;
}
