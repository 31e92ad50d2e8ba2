/*
 * table_mem.c - the in-memory column store (the tail and the overlays), the id map and the unique
 * indexes. No per-row allocation: every column is one typed array (see table_internal.h).
 */
#include "table_internal.h"

#include <math.h>

static int grow(void **p, size_t elem, size_t cap) {
    void *q = realloc(*p, elem * (cap ? cap : 1));
    if (!q) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    *p = q;
    return 0;
}

int cairn_tbl__rs_init(rstore *r, const tschema *s) {
    memset(r, 0, sizeof *r);
    r->ncols = s->n;
    if (!(r->c = (mcol *)calloc(s->n ? s->n : 1, sizeof(mcol)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    return 0;
}

void cairn_tbl__rs_free(rstore *r) {
    size_t i;
    if (r->c)
        for (i = 0; i < r->ncols; i++) {
            free(r->c[i].v);
            free(r->c[i].nul);
            free(r->c[i].vo);
            free(r->c[i].vl);
            free(r->c[i].heap.p);
        }
    free(r->c);
    free(r->ids);
    free(r->dead);
    memset(r, 0, sizeof *r);
}

void cairn_tbl__rs_clear(rstore *r) {
    size_t i;
    r->n = 0;
    r->ndead = 0;
    for (i = 0; i < r->ncols; i++) r->c[i].heap.n = 0;
}

int cairn_tbl__rs_reserve(rstore *r, const tschema *s, size_t n) {
    size_t nc = r->cap ? r->cap : 16, i;
    if (n <= r->cap) return 0;
    while (nc < n) nc = nc < 1024 * 1024 ? nc * 2 : nc + nc / 2;
    if (grow((void **)&r->ids, 8, nc) || grow((void **)&r->dead, 1, nc)) return CAIRN_NOMEM;
    for (i = 0; i < r->ncols; i++) {
        mcol *m = &r->c[i];
        const tcol *c = &s->c[i];
        if (grow((void **)&m->nul, 1, nc)) return CAIRN_NOMEM;
        if (c->w) {
            if (grow((void **)&m->v, c->w, nc)) return CAIRN_NOMEM;
        } else if (grow((void **)&m->vo, 8, nc) || grow((void **)&m->vl, 4, nc)) {
            return CAIRN_NOMEM;
        }
    }
    r->cap = nc;
    return 0;
}

static inline void put_fixed(uint8_t *dst, const tcol *c, const cairn_value *v) {
    switch (c->type) {
    case CAIRN_TYPE_I8: case CAIRN_TYPE_U8: *(uint8_t *)dst = (uint8_t)v->v.u; break;
    case CAIRN_TYPE_I16: case CAIRN_TYPE_U16: { uint16_t x = (uint16_t)v->v.u; memcpy(dst, &x, 2); break; }
    case CAIRN_TYPE_I32: case CAIRN_TYPE_U32: { uint32_t x = (uint32_t)v->v.u; memcpy(dst, &x, 4); break; }
    case CAIRN_TYPE_F32: { float f = (float)v->v.f; memcpy(dst, &f, 4); break; }
    case CAIRN_TYPE_F64: memcpy(dst, &v->v.f, 8); break;
    case CAIRN_TYPE_BOOL: *dst = v->v.b ? 1 : 0; break;
    case CAIRN_TYPE_FIXED: memcpy(dst, v->v.s.bytes, c->fixed_len); break;
    default: memcpy(dst, &v->v.u, 8); break;
    }
}

int cairn_tbl__rs_set(rstore *r, const tschema *s, size_t pos, size_t col, const cairn_value *v) {
    const tcol *c = &s->c[col];
    mcol *m = &r->c[col];
    if (v->is_null) {
        m->nul[pos] = 1;
        if (c->w) memset(m->v + pos * c->w, 0, c->w);
        else {
            m->vo[pos] = 0;
            m->vl[pos] = 0;
        }
        return 0;
    }
    m->nul[pos] = 0;
    if (c->w) {
        put_fixed(m->v + pos * c->w, c, v);
        return 0;
    }
    m->vo[pos] = m->heap.n;
    m->vl[pos] = (uint32_t)v->v.s.len;
    return tbuf_put(&m->heap, v->v.s.bytes, v->v.s.len);
}

int cairn_tbl__rs_append(rstore *r, const tschema *s, uint64_t id, const cairn_value *row) {
    size_t i, pos = r->n;
    int rc;
    if (r->n == r->cap && (rc = cairn_tbl__rs_reserve(r, s, r->n + 1)) != 0) return rc;
    for (i = 0; i < s->n; i++)
        if ((rc = cairn_tbl__rs_set(r, s, pos, i, &row[i])) != 0) return rc;
    r->ids[pos] = id;
    r->dead[pos] = 0;
    r->n++;
    return 0;
}

void cairn_tbl__rs_get(const rstore *r, const tschema *s, size_t pos, size_t col, cairn_value *v) {
    const tcol *c = &s->c[col];
    const mcol *m = &r->c[col];
    const uint8_t *p;
    memset(v, 0, sizeof *v);
    if (m->nul[pos]) {
        v->is_null = 1;
        return;
    }
    if (!c->w) {
        v->v.s.bytes = m->heap.p ? m->heap.p + m->vo[pos] : (const uint8_t *)"";
        v->v.s.len = m->vl[pos];
        return;
    }
    p = m->v + pos * c->w;
    switch (c->type) {
    case CAIRN_TYPE_I8: v->v.i = *(const int8_t *)p; break;
    case CAIRN_TYPE_U8: v->v.u = *p; break;
    case CAIRN_TYPE_I16: { int16_t x; memcpy(&x, p, 2); v->v.i = x; break; }
    case CAIRN_TYPE_U16: { uint16_t x; memcpy(&x, p, 2); v->v.u = x; break; }
    case CAIRN_TYPE_I32: { int32_t x; memcpy(&x, p, 4); v->v.i = x; break; }
    case CAIRN_TYPE_U32: { uint32_t x; memcpy(&x, p, 4); v->v.u = x; break; }
    case CAIRN_TYPE_F32: { float f; memcpy(&f, p, 4); v->v.f = f; break; }
    case CAIRN_TYPE_F64: memcpy(&v->v.f, p, 8); break;
    case CAIRN_TYPE_BOOL: v->v.b = *p != 0; break;
    case CAIRN_TYPE_FIXED: v->v.s.bytes = p; v->v.s.len = c->fixed_len; break;
    default: memcpy(&v->v.u, p, 8); break;
    }
}

void cairn_tbl__rs_truncate(rstore *r, size_t n) {
    size_t i;
    for (i = n; i < r->n; i++)
        if (r->dead[i]) r->ndead--;
    r->n = n;
}

long cairn_tbl__rs_find_sorted(const rstore *r, uint64_t id) {
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->ids[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < r->n && r->ids[lo] == id ? (long)lo : -1;
}

int cairn_tbl__rs_add_col(rstore *r, const tschema *s, size_t col, const cairn_value *v) {
    mcol *nc = (mcol *)realloc(r->c, (r->ncols + 1) * sizeof(mcol));
    size_t i, cap = r->cap;
    const tcol *c = &s->c[col];
    if (!nc) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    r->c = nc;
    memset(&r->c[r->ncols], 0, sizeof(mcol));
    r->ncols++;
    if (cap) {
        mcol *m = &r->c[col];
        if (grow((void **)&m->nul, 1, cap)) return CAIRN_NOMEM;
        if (c->w) {
            if (grow((void **)&m->v, c->w, cap)) return CAIRN_NOMEM;
        } else if (grow((void **)&m->vo, 8, cap) || grow((void **)&m->vl, 4, cap)) {
            return CAIRN_NOMEM;
        }
        for (i = 0; i < r->n; i++)
            if (cairn_tbl__rs_set(r, s, i, col, v)) return CAIRN_NOMEM;
    }
    return 0;
}

int cairn_tbl__rs_colvec(const rstore *r, const tschema *s, size_t col, const uint32_t *sel, size_t nsel,
                         cairn_colvec *out) {
    const tcol *c = &s->c[col];
    const mcol *m = &r->c[col];
    size_t i, nulls = 0, total = 0;
    memset(out, 0, sizeof *out);
    out->type = c->type;
    out->fixed_len = c->type == CAIRN_TYPE_FIXED ? c->fixed_len : 0;
    out->n = nsel;
    for (i = 0; i < nsel; i++) nulls += m->nul[sel[i]];
    if (nulls) {
        if (!(out->validity = (uint8_t *)calloc((nsel + 7) / 8, 1))) goto nomem;
        for (i = 0; i < nsel; i++)
            if (!m->nul[sel[i]]) out->validity[i >> 3] |= (uint8_t)(1u << (i & 7));
    }
    if (c->w) {
        size_t w = c->w;
        if (!(out->data = malloc(nsel * w > 0 ? nsel * w : 1))) goto nomem;
        if (w == 8) {
            uint64_t *d = (uint64_t *)out->data;
            const uint64_t *src = (const uint64_t *)(const void *)m->v;
            for (i = 0; i < nsel; i++) d[i] = src[sel[i]];
        } else if (w == 4) {
            uint32_t *d = (uint32_t *)out->data;
            const uint32_t *src = (const uint32_t *)(const void *)m->v;
            for (i = 0; i < nsel; i++) d[i] = src[sel[i]];
        } else {
            uint8_t *d = (uint8_t *)out->data;
            for (i = 0; i < nsel; i++) memcpy(d + i * w, m->v + (size_t)sel[i] * w, w);
        }
        out->data_len = nsel * w;
        return 0;
    }
    for (i = 0; i < nsel; i++) total += m->vl[sel[i]];
    if (!(out->offsets = (uint64_t *)malloc((nsel + 1) * 8)) || !(out->data = malloc(total ? total : 1))) goto nomem;
    total = 0;
    for (i = 0; i < nsel; i++) {
        out->offsets[i] = total;
        if (m->vl[sel[i]]) memcpy((uint8_t *)out->data + total, m->heap.p + m->vo[sel[i]], m->vl[sel[i]]);
        total += m->vl[sel[i]];
    }
    out->offsets[nsel] = total;
    out->data_len = total;
    return 0;
nomem:
    free(out->validity);
    free(out->data);
    free(out->offsets);
    memset(out, 0, sizeof *out);
    return cairn_err__set(CAIRN_NOMEM, "out of memory");
}

/* ---- id map ---- */

static inline size_t hmix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return (size_t)k;
}

static int idmap_resize(idmap *m, size_t ncap) {
    uint64_t *k = (uint64_t *)calloc(ncap, 8), *v = (uint64_t *)calloc(ncap, 8);
    size_t i;
    if (!k || !v) {
        free(k);
        free(v);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    for (i = 0; i < m->cap; i++) {
        if (m->k[i]) {
            size_t j = hmix(m->k[i]) & (ncap - 1);
            while (k[j]) j = (j + 1) & (ncap - 1);
            k[j] = m->k[i];
            v[j] = m->v[i];
        }
    }
    free(m->k);
    free(m->v);
    m->k = k;
    m->v = v;
    m->cap = ncap;
    return 0;
}

int cairn_tbl__idmap_put(idmap *m, uint64_t k, uint64_t v) {
    size_t j;
    if ((m->n + 1) * 4 > m->cap * 3 && idmap_resize(m, m->cap ? m->cap * 2 : 64)) return CAIRN_NOMEM;
    j = hmix(k) & (m->cap - 1);
    while (m->k[j] && m->k[j] != k) j = (j + 1) & (m->cap - 1);
    if (!m->k[j]) m->n++;
    m->k[j] = k;
    m->v[j] = v;
    return 0;
}

int cairn_tbl__idmap_get(const idmap *m, uint64_t k, uint64_t *v) {
    size_t j;
    if (!m->cap) return 0;
    j = hmix(k) & (m->cap - 1);
    while (m->k[j]) {
        if (m->k[j] == k) {
            *v = m->v[j];
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}

void cairn_tbl__idmap_del(idmap *m, uint64_t k) {
    size_t j, i;
    if (!m->cap) return;
    j = hmix(k) & (m->cap - 1);
    while (m->k[j] && m->k[j] != k) j = (j + 1) & (m->cap - 1);
    if (!m->k[j]) return;
    m->k[j] = 0;
    m->n--;
    i = j;
    for (;;) {
        size_t h;
        i = (i + 1) & (m->cap - 1);
        if (!m->k[i]) break;
        h = hmix(m->k[i]) & (m->cap - 1);
        /* move i to j if h is not cyclically in (j, i] */
        if ((j < i) ? (h <= j || h > i) : (h <= j && h > i)) {
            m->k[j] = m->k[i];
            m->v[j] = m->v[i];
            m->k[i] = 0;
            j = i;
        }
    }
}

void cairn_tbl__idmap_clear(idmap *m) {
    if (m->cap) {
        memset(m->k, 0, m->cap * 8);
        memset(m->v, 0, m->cap * 8);
    }
    m->n = 0;
}

void cairn_tbl__idmap_free(idmap *m) {
    free(m->k);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* ---- unique indexes ---- */

/* the key of a value: fixed-width <= 8 bytes as bits; else bytes */
static uint64_t key_bits(const tcol *c, const cairn_value *v) {
    if (c->type == CAIRN_TYPE_F32 || c->type == CAIRN_TYPE_F64) {
        double d = v->v.f;
        uint64_t u;
        if (c->type == CAIRN_TYPE_F32) d = (double)(float)d;
        if (d == 0) d = 0;               /* -0 == 0 */
        if (isnan(d)) return 0x7ff8000000000000ULL;
        memcpy(&u, &d, 8);
        return u;
    }
    if (c->type == CAIRN_TYPE_BOOL) return v->v.b ? 1 : 0;
    return v->v.u;
}

static int by_bytes(const tcol *c) {
    return c->type == CAIRN_TYPE_STRING || c->type == CAIRN_TYPE_BYTES || c->type == CAIRN_TYPE_FIXED;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        h = (h ^ x) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return (uint64_t)hmix(h);
}

static uint64_t vhash(const tcol *c, const cairn_value *v) {
    uint64_t h = by_bytes(c) ? hash_bytes((const uint8_t *)v->v.s.bytes, v->v.s.len) : (uint64_t)hmix(key_bits(c, v));
    return h | 1;
}

uint64_t cairn_tbl__ui_hash(const tcol *c, const cairn_value *v) { return vhash(c, v); }

static int slot_eq(const uindex *u, const tcol *c, const uslot *s, const cairn_value *v) {
    if (by_bytes(c)) {
        uint32_t len = cairn_get32(u->heap.p + s->key);
        return len == v->v.s.len && (len == 0 || memcmp(u->heap.p + s->key + 4, v->v.s.bytes, len) == 0);
    }
    return s->key == key_bits(c, v);
}

/* a slot's tag: the hash's top 32 bits (its home for every capacity up to 2^31) */
static inline uint32_t htag(uint64_t h) { return (uint32_t)(h >> 32) | 1u; }
static inline size_t uhome(int shift, uint32_t tag) { return (size_t)(tag >> (shift - 32)); }

/* a bytes key into the heap: u32 length, the bytes */
static int heap_key(uindex *u, const cairn_value *v, uint64_t *key) {
    uint8_t l4[4];
    *key = u->heap.n;
    cairn_put32(l4, (uint32_t)v->v.s.len);
    if (tbuf_put(&u->heap, l4, 4) || tbuf_put(&u->heap, v->v.s.bytes, v->v.s.len)) {
        u->heap.n = (size_t)*key;
        return CAIRN_NOMEM;
    }
    return 0;
}

/* the slot holding value v (hash h), or the empty slot where it would go */
static size_t ui_slot(const uindex *u, const tcol *c, const cairn_value *v, uint64_t h) {
    uint32_t tag = htag(h);
    size_t j = uhome(u->shift, tag);
    while (u->s[j].h && !(u->s[j].h == tag && slot_eq(u, c, &u->s[j], v))) j = (j + 1) & (u->cap - 1);
    return j;
}

uint64_t cairn_tbl__ui_find(const uindex *u, const tcol *c, const cairn_value *v) {
    size_t j;
    if (v->is_null || !u->n) return 0;
    j = ui_slot(u, c, v, vhash(c, v));
    if (!u->s[j].h) return 0;
    return u->s[j].cnt == 1 ? u->s[j].id : u->pl[u->s[j].id].ids[0];
}

int cairn_tbl__ui_find_all(const uindex *u, const tcol *c, const cairn_value *v, uint64_t **ids, size_t *n, size_t *cap) {
    size_t j, k, cnt;
    const uint64_t *src;
    if (v->is_null || !u->n) return 0;
    j = ui_slot(u, c, v, vhash(c, v));
    if (!u->s[j].h) return 0;
    cnt = u->s[j].cnt;
    src = cnt == 1 ? &u->s[j].id : u->pl[u->s[j].id].ids;
    if (*n + cnt > *cap) {
        size_t nc = *cap ? *cap : 16;
        uint64_t *p;
        while (nc < *n + cnt) nc *= 2;
        if (!(p = (uint64_t *)realloc(*ids, nc * 8))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        *ids = p;
        *cap = nc;
    }
    for (k = 0; k < cnt; k++) (*ids)[(*n)++] = src[k];
    return 0;
}

/* A slot's home is the hash's top bits (u->shift = 64 - log2(cap)): values in hash order are in
 * slot order at every capacity, so batches sorted by hash probe sequentially, and a resize
 * writes the new array front to back. */
static int ui_resize(uindex *u, size_t ncap) {
    uslot *s = (uslot *)calloc(ncap, sizeof(uslot));
    size_t i;
    int shift = 64;
    if (!s) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (i = ncap; i > 1; i >>= 1) shift--;
    for (i = 0; i < u->cap; i++) {
        if (u->s[i].h) {
            size_t j = uhome(shift, u->s[i].h);
            while (s[j].h) j = (j + 1) & (ncap - 1);
            s[j] = u->s[i];
        }
    }
    free(u->s);
    u->s = s;
    u->cap = ncap;
    u->shift = shift;
    return 0;
}

/* a second id for slot sl: make it a posting list */
static int post_add(uindex *u, uslot *sl, uint64_t id) {
    upost *p;
    if (sl->cnt == 1) {
        size_t k;
        if (u->nfree) {
            k = (size_t)u->freepl[--u->nfree];
        } else {
            if (u->npl == u->capl) {
                /* the free list can always take every list back (capfree >= capl) */
                size_t nc = u->capl ? u->capl * 2 : 16;
                upost *q = (upost *)realloc(u->pl, nc * sizeof *q);
                uint64_t *f;
                if (!q) return cairn_err__set(CAIRN_NOMEM, "out of memory");
                u->pl = q;
                if (!(f = (uint64_t *)realloc(u->freepl, nc * 8))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
                u->freepl = f;
                u->capl = u->capfree = nc;
            }
            k = u->npl++;
            memset(&u->pl[k], 0, sizeof u->pl[k]);
        }
        p = &u->pl[k];
        if (p->cap < 4) {
            uint64_t *q = (uint64_t *)realloc(p->ids, 4 * 8);
            if (!q) {
                if (k == u->npl - 1 && !p->ids) u->npl--;
                else u->freepl[u->nfree++] = k; /* room: it was taken from there */
                return cairn_err__set(CAIRN_NOMEM, "out of memory");
            }
            p->ids = q;
            p->cap = 4;
        }
        p->ids[0] = sl->id;
        p->n = 1;
        sl->id = k;
    }
    p = &u->pl[sl->id];
    if (p->n == p->cap) {
        uint32_t nc = p->cap * 2;
        uint64_t *q = (uint64_t *)realloc(p->ids, (size_t)nc * 8);
        if (!q) {
            if (p->n == 1) { /* back to inline */
                sl->id = p->ids[0];
                sl->cnt = 1;
            }
            return cairn_err__set(CAIRN_NOMEM, "out of memory");
        }
        p->ids = q;
        p->cap = nc;
    }
    p->ids[p->n++] = id;
    sl->cnt = p->n;
    return 0;
}

int cairn_tbl__ui_reserve(uindex *u, size_t n) {
    size_t cap = u->cap ? u->cap : 64;
    while (n * 4 > cap * 3) cap *= 2;
    return cap > u->cap ? ui_resize(u, cap) : 0;
}

int cairn_tbl__ui_add(uindex *u, const tcol *c, const cairn_value *v, uint64_t id) {
    uslot sl;
    size_t j;
    if (v->is_null) return 0;
    if ((u->n + 1) * 4 > u->cap * 3 && ui_resize(u, u->cap ? u->cap * 2 : 64)) return CAIRN_NOMEM;
    {
        uint64_t h = vhash(c, v);
        sl.h = htag(h);
        j = ui_slot(u, c, v, h);
    }
    if (u->s[j].h) return post_add(u, &u->s[j], id);
    sl.id = id;
    sl.cnt = 1;
    if (by_bytes(c)) {
        if (heap_key(u, v, &sl.key)) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    } else {
        sl.key = key_bits(c, v);
    }
    u->s[j] = sl;
    u->n++;
    return 0;
}

typedef uent hpos;

/* radix sort by the hash's top `bits` bits (stable): slot order */
static int hpos_sort(hpos *a, size_t n, int bits) {
    hpos *tmp, *src = a, *dst;
    int d, shift = 64 - bits;
    if (n < 2 || bits <= 0) return 0;
    if (!(tmp = (hpos *)malloc(n * sizeof *tmp))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    dst = tmp;
    for (d = 0; d < bits; d += 8) {
        size_t cnt[256], i, sum = 0;
        memset(cnt, 0, sizeof cnt);
        for (i = 0; i < n; i++) cnt[((src[i].h >> shift) >> d) & 255]++;
        for (i = 0; i < 256; i++) {
            size_t c = cnt[i];
            cnt[i] = sum;
            sum += c;
        }
        for (i = 0; i < n; i++) dst[cnt[((src[i].h >> shift) >> d) & 255]++] = src[i];
        {
            hpos *x = src;
            src = dst;
            dst = x;
        }
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
    free(tmp);
    return 0;
}

void cairn_tbl__ui_ent(const tcol *c, const cairn_value *v, uint64_t id, uent *out) {
    out->h = vhash(c, v);
    out->key = key_bits(c, v);
    out->i = id;
}

int cairn_tbl__ui_bulk(uindex *u, const tcol *c, uent *e, size_t n, uint64_t *dup_a, uint64_t *dup_b) {
    size_t k;
    int rc;
    *dup_a = *dup_b = 0;
    if (by_bytes(c)) return cairn_err__set(CAIRN_INTERNAL, "ui_bulk: a column of bytes");
    if ((rc = hpos_sort(e, n, 32)) != 0) return rc;
    {
        /* size for the distinct values first (equal values are neighbours now; an estimate at
         * most a little high): inserting in hash order into a table that still grows would
         * pile every value onto its first slots */
        size_t distinct = n ? 1 : 0;
        for (k = 1; k < n; k++) distinct += e[k].h != e[k - 1].h;
        if ((rc = cairn_tbl__ui_reserve(u, u->n + distinct)) != 0) return rc;
    }
    for (k = 0; k < n; k++) {
        uint64_t key = e[k].key;
        uint32_t tag = htag(e[k].h);
        size_t j;
        if ((u->n + 1) * 4 > u->cap * 3 && ui_resize(u, u->cap ? u->cap * 2 : 64)) return CAIRN_NOMEM;
        j = uhome(u->shift, tag);
        while (u->s[j].h && !(u->s[j].h == tag && u->s[j].key == key)) j = (j + 1) & (u->cap - 1);
        if (u->s[j].h) {
            if (u->uniq) {
                *dup_a = u->s[j].cnt == 1 ? u->s[j].id : u->pl[u->s[j].id].ids[0];
                *dup_b = e[k].i;
                return CAIRN_CONSTRAINT;
            }
            if ((rc = post_add(u, &u->s[j], e[k].i)) != 0) return rc;
            continue;
        }
        u->s[j].h = tag;
        u->s[j].key = key;
        u->s[j].cnt = 1;
        u->s[j].id = e[k].i;
        u->n++;
    }
    return 0;
}

int cairn_tbl__ui_add_batch(uindex *u, const tcol *c, const rstore *r, const tschema *s, size_t col, size_t base, size_t n,
                            uint64_t first_id, size_t *dup, uint64_t *other) {
    hpos *hp;
    size_t i, m = 0, done;
    int rc;
    *dup = 0;
    *other = 0;
    if (!n) return 0;
    if ((rc = cairn_tbl__ui_reserve(u, u->n + n)) != 0) return rc;
    if (!(hp = (hpos *)malloc(n * sizeof *hp))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        cairn_value v;
        cairn_tbl__rs_get(r, s, base + i, col, &v);
        if (v.is_null) continue;
        hp[m].h = vhash(c, &v);
        hp[m].key = by_bytes(c) ? 0 : key_bits(c, &v);
        hp[m++].i = i;
    }
    {
        int bits = 0;
        size_t x;
        for (x = u->cap; x > 1; x >>= 1) bits++;
        rc = hpos_sort(hp, m, bits);
    }
    if (rc) {
        free(hp);
        return rc;
    }
    /* in slot order: every probe lands next to the last one */
    for (done = 0; done < m; done++) {
        cairn_value v;
        uslot *sl;
        size_t j;
        if (by_bytes(c)) {
            cairn_tbl__rs_get(r, s, base + hp[done].i, col, &v);
            j = ui_slot(u, c, &v, hp[done].h);
        } else { /* the key alone: no trip back to the rows */
            uint64_t key = hp[done].key;
            uint32_t tag = htag(hp[done].h);
            j = uhome(u->shift, tag);
            while (u->s[j].h && !(u->s[j].h == tag && u->s[j].key == key)) j = (j + 1) & (u->cap - 1);
        }
        sl = &u->s[j];
        if (sl->h) {
            *dup = hp[done].i;
            *other = sl->cnt == 1 ? sl->id : u->pl[sl->id].ids[0];
            rc = CAIRN_CONSTRAINT;
            break;
        }
        sl->h = htag(hp[done].h);
        sl->id = first_id + hp[done].i;
        sl->cnt = 1;
        if (by_bytes(c)) {
            if (heap_key(u, &v, &sl->key)) {
                sl->h = 0;
                rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                break;
            }
        } else {
            sl->key = hp[done].key;
        }
        u->n++;
    }
    if (rc) { /* take back what this batch added */
        for (i = 0; i < done; i++) {
            cairn_value v;
            cairn_tbl__rs_get(r, s, base + hp[i].i, col, &v);
            cairn_tbl__ui_del(u, c, &v, first_id + hp[i].i);
        }
    }
    free(hp);
    return rc;
}

void cairn_tbl__ui_del(uindex *u, const tcol *c, const cairn_value *v, uint64_t id) {
    uint64_t h;
    size_t j, i;
    if (v->is_null || !u->n) return;
    h = vhash(c, v);
    j = ui_slot(u, c, v, h);
    if (!u->s[j].h) return;
    if (u->s[j].cnt > 1) {
        upost *p = &u->pl[u->s[j].id];
        uint32_t k;
        for (k = 0; k < p->n && p->ids[k] != id; k++) {}
        if (k == p->n) return;
        p->ids[k] = p->ids[--p->n];
        u->s[j].cnt = p->n;
        if (p->n == 1) {
            u->freepl[u->nfree++] = u->s[j].id;
            u->s[j].id = p->ids[0];
            p->n = 0;
        }
        return;
    }
    if (u->s[j].id != id) return;
    u->s[j].h = 0;
    u->n--;
    i = j;
    for (;;) {
        size_t hh;
        i = (i + 1) & (u->cap - 1);
        if (!u->s[i].h) break;
        hh = uhome(u->shift, u->s[i].h);
        if ((j < i) ? (hh <= j || hh > i) : (hh <= j && hh > i)) {
            u->s[j] = u->s[i];
            u->s[i].h = 0;
            j = i;
        }
    }
}

void cairn_tbl__ui_free(uindex *u) {
    size_t i;
    for (i = 0; i < u->npl; i++) free(u->pl[i].ids);
    free(u->pl);
    free(u->freepl);
    free(u->s);
    free(u->heap.p);
    u->s = NULL;
    u->pl = NULL;
    u->freepl = NULL;
    u->cap = u->n = u->npl = u->capl = u->nfree = u->capfree = 0;
    memset(&u->heap, 0, sizeof u->heap);
}
