/*
 * containers.h - small in-memory containers any engine may use (internal; not installed).
 *
 *   u64map   hash map u64 -> a fixed-size value stored inline (open addressing, linear probing,
 *            backward-shift deletion: no tombstones, so lookups stay short after many deletes)
 *   treap    ordered set of (a, b) pairs of u64 (randomised balanced tree) with a lower-bound
 *            search: the blob store keeps its free entries in one by (size, offset) and takes the
 *            best fit as the lower bound of (need, 0)
 *   arr      growth of a plain C array (capacity doubling)
 *
 * None of them locks: the owner serialises access. Out of memory is CAIRN_NOMEM with a message.
 */
#ifndef CAIRN_CONTAINERS_H
#define CAIRN_CONTAINERS_H

#include <stddef.h>
#include <stdint.h>

/* ---- u64map ------------------------------------------------------------------------------
 * Slots are laid out as
 *
 *   +----------+--------+-----------------+   slot size = 8 + 8 + vsize rounded up to 8
 *   | u64 key  | u64 used| value (vsize)  |
 *   +----------+--------+-----------------+
 *
 * Value pointers (get, put, next) stay valid until the next put or del on the map (a put may
 * grow the table, a del may move a slot). Capacity is a power of two, kept at most 3/4 full. */
typedef struct cairn_u64map {
    uint8_t *s;   /* cap slots */
    size_t cap;   /* slots (0 or a power of two) */
    size_t n;     /* keys present */
    size_t vsize; /* bytes of a value */
    size_t ssize; /* bytes of a slot */
} cairn_u64map;

/* An empty map of values of vsize bytes (allocates nothing yet). */
void cairn_u64map__init(cairn_u64map *m, size_t vsize);
/* Free the slots; the map is empty (and usable) again. */
void cairn_u64map__free(cairn_u64map *m);
/* The value of k, or NULL. */
void *cairn_u64map__get(const cairn_u64map *m, uint64_t k);
/* Set k to a copy of v (vsize bytes); replaces an existing value. Errors: NOMEM (the map is
 * unchanged). */
int cairn_u64map__put(cairn_u64map *m, uint64_t k, const void *v);
/* Make room for n keys in all, so that the next puts up to n do not grow the table. Errors:
 * NOMEM (the map is unchanged). */
int cairn_u64map__reserve(cairn_u64map *m, size_t n);
/* Remove k (absent: nothing). */
void cairn_u64map__del(cairn_u64map *m, uint64_t k);
/* Iterate: start with *pos = 0; each call returns the next value (and its key in *k) or NULL at
 * the end. Slot order (unordered). The map must not change during the iteration. */
void *cairn_u64map__next(const cairn_u64map *m, size_t *pos, uint64_t *k);

/* ---- treap --------------------------------------------------------------------------------- */

typedef struct cairn_treap_node {
    uint64_t a, b;
    uint32_t pri;
    struct cairn_treap_node *l, *r;
} cairn_treap_node;

typedef struct cairn_treap {
    cairn_treap_node *root;
    size_t n;
    uint32_t rng;            /* xorshift state of the priorities */
    cairn_treap_node *spare; /* erased nodes kept for the next inserts (linked by r) */
    size_t nspare;           /* at most CAIRN_TREAP_SPARE of them */
} cairn_treap;

/* Erased nodes kept for reuse: an erase followed by an insert (the blob store's usual pattern)
 * calls neither free nor malloc. */
#define CAIRN_TREAP_SPARE 1024u

/* An empty set; seed picks the priorities (any non-zero value; 0 takes a fixed one). */
void cairn_treap__init(cairn_treap *t, uint32_t seed);
/* Free every node (spares too); the set is empty (and usable) again. */
void cairn_treap__free(cairn_treap *t);
/* Insert (a, b). A pair already present is inserted again (callers keep pairs unique). Errors:
 * NOMEM (unchanged). */
int cairn_treap__insert(cairn_treap *t, uint64_t a, uint64_t b);
/* Remove one (a, b); 1 if it was there, else 0. */
int cairn_treap__erase(cairn_treap *t, uint64_t a, uint64_t b);
/* The smallest pair >= (a, b) in (a, then b) order: 1 and *oa, *ob set, or 0 if none. */
int cairn_treap__lower_bound(const cairn_treap *t, uint64_t a, uint64_t b, uint64_t *oa, uint64_t *ob);

/* ---- arr ----------------------------------------------------------------------------------
 * Room for `need` elements of esz bytes in the array p of capacity *cap: returns p when it has
 * room, else a larger block (capacity doubled, from 16 at least; *cap updated; p was freed by the
 * move), or NULL with CAIRN_NOMEM set (p and *cap unchanged). Typical:
 *     T *v = cairn_arr__grow(a->v, &a->cap, a->n + 1, sizeof *v);
 *     if (!v) return CAIRN_NOMEM;
 *     a->v = v;
 *     a->v[a->n++] = x; */
void *cairn_arr__grow(void *p, size_t *cap, size_t need, size_t esz);

#endif /* CAIRN_CONTAINERS_H */
