/* containers.c - u64map, treap and arr (containers.h). */
#include "containers.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

/* ---- u64map ------------------------------------------------------------------------------- */

#define SLOT(m, i) ((m)->s + (i) * (m)->ssize)
#define SKEY(p) (*(uint64_t *)(void *)(p))
#define SUSED(p) (*(uint64_t *)(void *)((p) + 8))
#define SVAL(p) ((void *)((p) + 16))

static size_t mhash(uint64_t k, size_t cap) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

void cairn_u64map__init(cairn_u64map *m, size_t vsize) {
    memset(m, 0, sizeof *m);
    m->vsize = vsize;
    m->ssize = (16 + vsize + 7) & ~(size_t)7;
}

void cairn_u64map__free(cairn_u64map *m) {
    free(m->s);
    m->s = NULL;
    m->cap = m->n = 0;
}

void *cairn_u64map__get(const cairn_u64map *m, uint64_t k) {
    size_t i;
    if (!m->cap) return NULL;
    for (i = mhash(k, m->cap); SUSED(SLOT(m, i)); i = (i + 1) & (m->cap - 1))
        if (SKEY(SLOT(m, i)) == k) return SVAL(SLOT(m, i));
    return NULL;
}

static int grow_to(cairn_u64map *m, size_t nc) {
    size_t j, i;
    uint8_t *ns;
    if (nc > SIZE_MAX / m->ssize || !(ns = (uint8_t *)calloc(nc, m->ssize)))
        return cairn_err__set(CAIRN_NOMEM, "out of memory (a hash map of %zu slots)", nc);
    for (j = 0; j < m->cap; j++) {
        const uint8_t *o = SLOT(m, j);
        if (!SUSED(o)) continue;
        for (i = mhash(SKEY(o), nc); SUSED(ns + i * m->ssize); i = (i + 1) & (nc - 1)) {}
        memcpy(ns + i * m->ssize, o, m->ssize);
    }
    free(m->s);
    m->s = ns;
    m->cap = nc;
    return 0;
}

static int grow(cairn_u64map *m) { return grow_to(m, m->cap ? m->cap * 2 : 64); }

int cairn_u64map__reserve(cairn_u64map *m, size_t n) {
    size_t nc = m->cap ? m->cap : 64;
    while ((n + 1) * 4 > nc * 3) {
        if (nc > SIZE_MAX / 2) return cairn_err__set(CAIRN_NOMEM, "out of memory (a hash map of %zu keys)", n);
        nc *= 2;
    }
    return nc == m->cap ? 0 : grow_to(m, nc);
}

int cairn_u64map__put(cairn_u64map *m, uint64_t k, const void *v) {
    size_t i;
    uint8_t *p;
    int rc;
    if ((m->n + 1) * 4 > m->cap * 3 && (rc = grow(m)) != 0) return rc;
    for (i = mhash(k, m->cap); SUSED(p = SLOT(m, i)); i = (i + 1) & (m->cap - 1)) {
        if (SKEY(p) == k) {
            memcpy(SVAL(p), v, m->vsize);
            return 0;
        }
    }
    SKEY(p) = k;
    SUSED(p) = 1;
    memcpy(SVAL(p), v, m->vsize);
    m->n++;
    return 0;
}

void cairn_u64map__del(cairn_u64map *m, uint64_t k) {
    size_t i, j, mask = m->cap - 1;
    if (!m->cap) return;
    for (i = mhash(k, m->cap); SUSED(SLOT(m, i)); i = (i + 1) & mask)
        if (SKEY(SLOT(m, i)) == k) break;
    if (!SUSED(SLOT(m, i))) return;
    for (j = i;;) {
        size_t h;
        j = (j + 1) & mask;
        if (!SUSED(SLOT(m, j))) break;
        h = mhash(SKEY(SLOT(m, j)), m->cap);
        /* move slot j into the hole unless its home lies cyclically in (i, j] */
        if ((i <= j) ? (h <= i || h > j) : (h <= i && h > j)) {
            memcpy(SLOT(m, i), SLOT(m, j), m->ssize);
            i = j;
        }
    }
    SUSED(SLOT(m, i)) = 0;
    m->n--;
}

void *cairn_u64map__next(const cairn_u64map *m, size_t *pos, uint64_t *k) {
    while (*pos < m->cap) {
        uint8_t *p = SLOT(m, *pos);
        (*pos)++;
        if (SUSED(p)) {
            if (k) *k = SKEY(p);
            return SVAL(p);
        }
    }
    return NULL;
}

/* ---- treap -------------------------------------------------------------------------------- */

static int tless(uint64_t a1, uint64_t b1, uint64_t a2, uint64_t b2) { return a1 < a2 || (a1 == a2 && b1 < b2); }

/* Split t into pairs < (a, b) and pairs >= (a, b). */
static void tsplit(cairn_treap_node *t, uint64_t a, uint64_t b, cairn_treap_node **l, cairn_treap_node **r) {
    if (!t) {
        *l = *r = NULL;
    } else if (tless(t->a, t->b, a, b)) {
        tsplit(t->r, a, b, &t->r, r);
        *l = t;
    } else {
        tsplit(t->l, a, b, l, &t->l);
        *r = t;
    }
}

static cairn_treap_node *tmerge(cairn_treap_node *x, cairn_treap_node *y) {
    if (!x) return y;
    if (!y) return x;
    if (x->pri > y->pri) {
        x->r = tmerge(x->r, y);
        return x;
    }
    y->l = tmerge(x, y->l);
    return y;
}

/* Unlink one node (a, b) from t and return it in *out (NULL when absent); iterative. */
static cairn_treap_node *terase(cairn_treap_node *t, uint64_t a, uint64_t b, cairn_treap_node **out) {
    cairn_treap_node **link = &t;
    while (*link) {
        cairn_treap_node *x = *link;
        if (x->a == a && x->b == b) {
            *link = tmerge(x->l, x->r);
            *out = x;
            return t;
        }
        link = tless(a, b, x->a, x->b) ? &x->l : &x->r;
    }
    *out = NULL;
    return t;
}

static void tfree(cairn_treap_node *t) {
    while (t) { /* the right spine iteratively, the left side recursively (depth stays O(log n)) */
        cairn_treap_node *r = t->r;
        tfree(t->l);
        free(t);
        t = r;
    }
}

void cairn_treap__init(cairn_treap *t, uint32_t seed) {
    t->root = NULL;
    t->n = 0;
    t->rng = seed ? seed : 0x9e3779b9u;
    t->spare = NULL;
    t->nspare = 0;
}

void cairn_treap__free(cairn_treap *t) {
    tfree(t->root);
    while (t->spare) {
        cairn_treap_node *x = t->spare;
        t->spare = x->r;
        free(x);
    }
    t->root = NULL;
    t->n = 0;
    t->nspare = 0;
}

int cairn_treap__insert(cairn_treap *t, uint64_t a, uint64_t b) {
    cairn_treap_node *n = t->spare, **link;
    if (n) {
        t->spare = n->r;
        t->nspare--;
    } else if (!(n = (cairn_treap_node *)malloc(sizeof *n))) {
        return cairn_err__set(CAIRN_NOMEM, "out of memory (a tree node)");
    }
    n->l = n->r = NULL;
    t->rng ^= t->rng << 13;
    t->rng ^= t->rng >> 17;
    t->rng ^= t->rng << 5;
    n->a = a;
    n->b = b;
    n->pri = t->rng;
    /* down to where n's priority puts it, then the subtree there is split under n */
    link = &t->root;
    while (*link && (*link)->pri >= n->pri) link = tless(a, b, (*link)->a, (*link)->b) ? &(*link)->l : &(*link)->r;
    tsplit(*link, a, b, &n->l, &n->r);
    *link = n;
    t->n++;
    return 0;
}

int cairn_treap__erase(cairn_treap *t, uint64_t a, uint64_t b) {
    cairn_treap_node *x;
    t->root = terase(t->root, a, b, &x);
    if (!x) return 0;
    t->n--;
    if (t->nspare < CAIRN_TREAP_SPARE) {
        x->r = t->spare;
        t->spare = x;
        t->nspare++;
    } else {
        free(x);
    }
    return 1;
}

int cairn_treap__lower_bound(const cairn_treap *t, uint64_t a, uint64_t b, uint64_t *oa, uint64_t *ob) {
    const cairn_treap_node *x = t->root, *best = NULL;
    while (x) {
        if (!tless(x->a, x->b, a, b)) {
            best = x;
            x = x->l;
        } else {
            x = x->r;
        }
    }
    if (!best) return 0;
    *oa = best->a;
    *ob = best->b;
    return 1;
}

/* ---- arr ---------------------------------------------------------------------------------- */

void *cairn_arr__grow(void *p, size_t *cap, size_t need, size_t esz) {
    size_t nc = *cap ? *cap : 16;
    void *q;
    if (need <= *cap && p) return p;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) nc = need;
        else nc *= 2;
    }
    if (!esz || nc > SIZE_MAX / esz || !(q = realloc(p, nc * esz))) {
        cairn_err__set(CAIRN_NOMEM, "out of memory (an array of %zu elements)", need);
        return NULL;
    }
    *cap = nc;
    return q;
}
