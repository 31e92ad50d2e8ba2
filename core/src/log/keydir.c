/* keydir.c - open-addressing hash table of 8-byte record locations (layout in keydir.h). */
#include "keydir.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define CAIRN_PREFETCH(a) __builtin_prefetch(a)
#define CAIRN_PREFETCH_W(a) __builtin_prefetch((a), 1)
#else
#define CAIRN_PREFETCH(a) ((void)(a))
#define CAIRN_PREFETCH_W(a) ((void)(a))
#endif

#define KD_EMPTY UINT64_C(0)
#define KD_TOMB UINT64_C(1)
#define KD_MIN_CAP 16u
#define KD_MAX_CAP (UINT32_C(1) << 31)

struct cairn_kd {
    uint64_t *slots;
    uint32_t *hashes;  /* beside the slots: the full hash of each live slot's key (a cache of the
                          writer: probes skip strangers and rebuilds read no record), or NULL:
                          not known (a table loaded from KEYDIR, until its first rebuild) */
    uint32_t cap;      /* slots (any number >= KD_MIN_CAP) */
    uint64_t count;    /* live slots */
    uint64_t tombs;    /* tombstone slots */
    uint64_t expiring; /* kept by the caller */
    kd_src src;
    const void *map; /* borrowed: the slots live in this read-only mapping of a KEYDIR */
    uint64_t maplen;
};

static inline uint32_t home_of(uint32_t hash, uint32_t cap) { return (uint32_t)(((uint64_t)hash * cap) >> 32); }
static inline int is_live(uint64_t s) { return s > KD_TOMB; }
static inline uint64_t mk_slot(uint32_t hash, uint64_t loc) {
    return ((uint64_t)KD_TAG(hash) << 56) | (loc & KD_LOC_MASK);
}

/* Take a private copy of a borrowed (mapped) table before the first change. */
int cairn_kd__own(cairn_kd *kd) {
    uint64_t *slots;
    if (!kd->map) return 0;
    if (!(slots = (uint64_t *)cairn_mem__big_alloc((size_t)kd->cap * 8u))) return CAIRN_NOMEM;
    memcpy(slots, kd->slots, (size_t)kd->cap * 8u);
    kd->slots = slots;
    cairn_io__unmap(kd->map, kd->maplen);
    kd->map = NULL;
    kd->maplen = 0;
    return 0;
}

/* A 64-bit multiply-xorshift hash, folded to 32 bits. */
uint32_t cairn_kd__hash(const void *key, size_t klen) {
    const uint8_t *p = (const uint8_t *)key;
    uint64_t h = UINT64_C(0x9E3779B97F4A7C15) ^ ((uint64_t)klen * UINT64_C(0xC2B2AE3D27D4EB4F));
    while (klen >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        v *= UINT64_C(0xC2B2AE3D27D4EB4F);
        v ^= v >> 31;
        h = (h ^ v) * UINT64_C(0x9E3779B97F4A7C15);
        h ^= h >> 29;
        p += 8;
        klen -= 8;
    }
    if (klen) {
        uint64_t v = 0;
        memcpy(&v, p, klen);
        v = (v + 1) * UINT64_C(0xC2B2AE3D27D4EB4F);
        v ^= v >> 31;
        h = (h ^ v) * UINT64_C(0x9E3779B97F4A7C15);
    }
    h ^= h >> 32;
    h *= UINT64_C(0xD6E8FEB86659FD93);
    h ^= h >> 32;
    return (uint32_t)h;
}

cairn_kd *cairn_kd__new(const kd_src *src) {
    cairn_kd *kd = (cairn_kd *)calloc(1, sizeof *kd);
    if (!kd) return NULL;
    kd->cap = KD_MIN_CAP;
    if (!(kd->slots = (uint64_t *)cairn_mem__big_alloc(KD_MIN_CAP * 8u)) ||
        !(kd->hashes = (uint32_t *)cairn_mem__big_alloc(KD_MIN_CAP * 4u))) {
        cairn_mem__big_free(kd->slots, KD_MIN_CAP * 8u);
        free(kd);
        return NULL;
    }
    if (src) kd->src = *src;
    return kd;
}

void cairn_kd__set_src(cairn_kd *kd, const kd_src *src) { kd->src = *src; }

void cairn_kd__free(cairn_kd *kd) {
    if (!kd) return;
    if (kd->map) cairn_io__unmap(kd->map, kd->maplen);
    else cairn_mem__big_free(kd->slots, (size_t)kd->cap * 8u);
    if (kd->hashes) cairn_mem__big_free(kd->hashes, (size_t)kd->cap * 4u);
    free(kd);
}

uint64_t cairn_kd__count(const cairn_kd *kd) { return kd->count; }
uint64_t cairn_kd__expiring(const cairn_kd *kd) { return kd->expiring; }
void cairn_kd__expiring_add(cairn_kd *kd, int64_t d) { kd->expiring = (uint64_t)((int64_t)kd->expiring + d); }
uint64_t cairn_kd__bytes(const cairn_kd *kd) {
    if (kd->map) return sizeof *kd + kd->maplen;
    return sizeof *kd + (uint64_t)kd->cap * (kd->hashes ? 12u : 8u);
}

/* The key of a slot's record (the caller frees k->buf). */
static int slot_key(const cairn_kd *kd, uint64_t s, int verify, kd_key *k) {
    k->p = NULL;
    k->n = 0;
    k->buf = NULL;
    return kd->src.key(kd->src.ctx, s & KD_LOC_MASK, verify, k);
}

static int bad_tag(uint64_t s) {
    return cairn_err__set(CAIRN_CORRUPT, "kv: keydir slot for data file #%u at offset %llu holds a key of another hash",
                          KD_LOC_FILE(s), (unsigned long long)KD_LOC_OFF(s));
}

/* Probe for key. *at: its slot if found (return 1); else the slot an insert takes (the first
 * tombstone of the run, or the empty slot that ends it; return 0). < 0: a bad record. */
static int probe(const cairn_kd *kd, const void *key, size_t klen, uint32_t hash, uint32_t *at) {
    const uint64_t *slots = kd->slots;
    const uint32_t cap = kd->cap;
    const uint8_t tag = KD_TAG(hash);
    uint32_t i = home_of(hash, cap), ins = UINT32_MAX;
    for (;;) {
        const uint64_t s = slots[i];
        if (s == KD_EMPTY) {
            *at = ins != UINT32_MAX ? ins : i;
            return 0;
        }
        if (s == KD_TOMB) {
            if (ins == UINT32_MAX) ins = i;
        } else if (KD_SLOT_TAG(s) == tag && (!kd->hashes || kd->hashes[i] == hash)) {
            kd_key k;
            int rc = slot_key(kd, s, 0, &k), same;
            if (rc) {
                free(k.buf);
                return rc;
            }
            same = k.n == klen && memcmp(k.p, key, klen) == 0;
            if (!same) {
                /* another key with this tag: its record must be whole (a damaged key byte would
                 * hide the key probed for) and hash to the tag (a slot naming the wrong record
                 * would hide its own key) */
                free(k.buf);
                if ((rc = slot_key(kd, s, 1, &k)) != 0) {
                    free(k.buf);
                    return rc;
                }
                if (KD_TAG(cairn_kd__hash(k.p, k.n)) != tag) same = -1;
            }
            free(k.buf);
            if (same < 0) return bad_tag(s);
            if (same) {
                *at = i;
                return 1;
            }
        }
        if (++i == cap) i = 0;
    }
}

/* A writer's insert touches the slot and, in its own array, the slot's hash: fetch both. */
void cairn_kd__prefetch(const cairn_kd *kd, uint32_t hash) {
    uint32_t i = home_of(hash, kd->cap);
    CAIRN_PREFETCH_W(&kd->slots[i]);
    if (kd->hashes) CAIRN_PREFETCH_W(&kd->hashes[i]);
}

int cairn_kd__find(cairn_kd *kd, const void *key, size_t klen, uint32_t hash, uint64_t *loc) {
    uint32_t i;
    int rc = probe(kd, key, klen, hash, &i);
    if (rc == 1) *loc = kd->slots[i] & KD_LOC_MASK;
    return rc;
}

/* Sort slots by their record's page (location >> 12: file, then offset), LSD radix over 14-bit
 * digits, skipping a digit every slot shares. tmp has n slots. Returns the sorted array (a or
 * tmp). */
static uint64_t *sort_by_page(uint64_t *a, uint64_t *tmp, size_t n, size_t *cnt) {
    unsigned shift;
    for (shift = 12; shift < 56; shift += 14) {
        size_t i, sum = 0, same = 0;
        memset(cnt, 0, ((size_t)1 << 14) * sizeof *cnt);
        for (i = 0; i < n; i++) cnt[((a[i] & KD_LOC_MASK) >> shift) & 0x3fffu]++;
        for (i = 0; i < ((size_t)1 << 14); i++) {
            size_t c = cnt[i];
            same |= c == n;
            cnt[i] = sum;
            sum += c;
        }
        if (same) continue;
        for (i = 0; i < n; i++) tmp[cnt[((a[i] & KD_LOC_MASK) >> shift) & 0x3fffu]++] = a[i];
        {
            uint64_t *t = a;
            a = tmp;
            tmp = t;
        }
    }
    return a;
}

/* Rebuild the table at a capacity for n live keys at 7/10 load (tombstones dropped): every key is
 * read from its record (checked whole) and hashed again (its tag must match). The records are
 * visited in file order (the slots sorted by location first), so the reads stream through the
 * files' mappings instead of missing the cache and the TLB at every key; without memory for the
 * sort they are visited in table order. On failure nothing changes. */
static int rebuild(cairn_kd *kd, uint64_t n) {
    enum { AHEAD = 16 };
    uint64_t want = n * 10u / 7u + 1u, *ns, *order = NULL, *tmp = NULL;
    uint32_t *nh;
    size_t *cnt = NULL, m = 0, i;
    uint32_t ncap;
    int rc = 0;
    if (want < KD_MIN_CAP) want = KD_MIN_CAP;
    if (want < kd->count + 1) want = kd->count + 1;
    if (want > KD_MAX_CAP) return cairn_err__set(CAIRN_NOMEM, "kv: keydir of more than 2^31 slots");
    ncap = (uint32_t)want;
    ns = (uint64_t *)cairn_mem__big_alloc((size_t)ncap * 8u);
    nh = (uint32_t *)cairn_mem__big_alloc((size_t)ncap * 4u);
    if (!ns || !nh) {
        cairn_mem__big_free(ns, (size_t)ncap * 8u);
        cairn_mem__big_free(nh, (size_t)ncap * 4u);
        return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (keydir)");
    }
    if (kd->hashes) {
        /* the hashes are known: no record is read */
        for (i = 0; i < kd->cap; i++) {
            const uint64_t s = kd->slots[i];
            uint32_t j, h;
            if (!is_live(s)) continue;
            h = kd->hashes[i];
            for (j = home_of(h, ncap); ns[j]; j = j + 1 == ncap ? 0 : j + 1) {
            }
            ns[j] = s;
            nh[j] = h;
        }
        goto done;
    }
    if (kd->count > 1024 && (order = (uint64_t *)malloc((size_t)kd->count * 8u)) != NULL &&
        (tmp = (uint64_t *)malloc((size_t)kd->count * 8u)) != NULL &&
        (cnt = (size_t *)malloc(((size_t)1 << 14) * sizeof *cnt)) != NULL) {
        uint64_t *sorted;
        for (i = 0; i < kd->cap && m < kd->count; i++)
            if (is_live(kd->slots[i])) order[m++] = kd->slots[i];
        sorted = sort_by_page(order, tmp, m, cnt);
        if (sorted != order) {
            tmp = order;
            order = sorted;
        }
    } else {
        free(order);
        free(tmp);
        order = tmp = NULL;
        m = kd->cap; /* table order */
    }
    for (i = 0; i < m; i++) {
        const uint64_t s = order ? order[i] : kd->slots[i];
        kd_key k;
        uint32_t h, j;
        if (kd->src.addr && i + AHEAD < m) {
            const uint64_t t = order ? order[i + AHEAD] : kd->slots[i + AHEAD];
            const void *a = is_live(t) ? kd->src.addr(kd->src.ctx, t & KD_LOC_MASK) : NULL;
            if (a) CAIRN_PREFETCH(a);
        }
        if (!is_live(s)) continue;
        if ((rc = slot_key(kd, s, 1, &k)) != 0) {
            free(k.buf);
            break;
        }
        h = cairn_kd__hash(k.p, k.n);
        free(k.buf);
        if (KD_TAG(h) != KD_SLOT_TAG(s)) {
            rc = bad_tag(s);
            break;
        }
        if (order) {
            tmp[i] = h; /* inserted in a second pass (below) */
            continue;
        }
        for (j = home_of(h, ncap); ns[j]; j = j + 1 == ncap ? 0 : j + 1) {
        }
        ns[j] = s;
        nh[j] = h;
    }
    if (!rc && order) {
        /* the inserts land at random in the new table: prefetch their home slots ahead */
        for (i = 0; i < m; i++) {
            uint32_t j;
            if (i + AHEAD < m) CAIRN_PREFETCH(&ns[home_of((uint32_t)tmp[i + AHEAD], ncap)]);
            for (j = home_of((uint32_t)tmp[i], ncap); ns[j]; j = j + 1 == ncap ? 0 : j + 1) {
            }
            ns[j] = order[i];
            nh[j] = (uint32_t)tmp[i];
        }
    }
    free(order);
    free(tmp);
    free(cnt);
    if (rc) {
        cairn_mem__big_free(ns, (size_t)ncap * 8u);
        cairn_mem__big_free(nh, (size_t)ncap * 4u);
        return rc;
    }
done:
    if (kd->map) {
        cairn_io__unmap(kd->map, kd->maplen);
        kd->map = NULL;
        kd->maplen = 0;
    } else {
        cairn_mem__big_free(kd->slots, (size_t)kd->cap * 8u);
    }
    if (kd->hashes) cairn_mem__big_free(kd->hashes, (size_t)kd->cap * 4u);
    kd->slots = ns;
    kd->hashes = nh;
    kd->cap = ncap;
    kd->tombs = 0;
    return 0;
}

/* Room for one more occupied slot: live + tombstones stay at most 7/8 of the capacity. */
static int room_for_one(cairn_kd *kd) {
    if ((kd->count + kd->tombs + 1) * 8u <= (uint64_t)kd->cap * 7u) return 0;
    return rebuild(kd, kd->count + 1);
}

int cairn_kd__reserve(cairn_kd *kd, uint64_t n) {
    int rc;
    if ((rc = cairn_kd__own(kd)) != 0) return rc;
    if ((kd->count + kd->tombs + n) * 8u <= (uint64_t)kd->cap * 7u) return 0;
    return rebuild(kd, kd->count + n);
}

int cairn_kd__insert_new(cairn_kd *kd, uint32_t hash, uint64_t loc) {
    uint32_t j;
    int rc;
    if ((rc = cairn_kd__own(kd)) != 0) return rc;
    if ((rc = room_for_one(kd)) != 0) return rc;
    for (j = home_of(hash, kd->cap); is_live(kd->slots[j]); j = j + 1 == kd->cap ? 0 : j + 1) {
    }
    if (kd->slots[j] == KD_TOMB) kd->tombs--;
    kd->slots[j] = mk_slot(hash, loc);
    if (kd->hashes) kd->hashes[j] = hash;
    kd->count++;
    return 0;
}

int cairn_kd__put(cairn_kd *kd, const void *key, size_t klen, uint32_t hash, uint64_t loc, uint64_t *old) {
    uint32_t i;
    int rc;
    if ((rc = cairn_kd__own(kd)) != 0) return rc;
    if ((rc = probe(kd, key, klen, hash, &i)) < 0) return rc;
    if (rc == 1) {
        if (old) *old = kd->slots[i] & KD_LOC_MASK;
        kd->slots[i] = mk_slot(hash, loc);
        if (kd->hashes) kd->hashes[i] = hash;
        return 1;
    }
    if (kd->slots[i] == KD_EMPTY && (kd->count + kd->tombs + 1) * 8u > (uint64_t)kd->cap * 7u) {
        if ((rc = rebuild(kd, kd->count + 1)) != 0) return rc;
        if ((rc = probe(kd, key, klen, hash, &i)) < 0) return rc; /* (absent: 0) */
    }
    if (kd->slots[i] == KD_TOMB) kd->tombs--;
    kd->slots[i] = mk_slot(hash, loc);
    if (kd->hashes) kd->hashes[i] = hash;
    kd->count++;
    return 0;
}

int cairn_kd__del(cairn_kd *kd, const void *key, size_t klen, uint32_t hash, uint64_t *old) {
    uint32_t i;
    int rc = probe(kd, key, klen, hash, &i);
    if (rc <= 0) return rc;
    if ((rc = cairn_kd__own(kd)) != 0) return rc;
    if (old) *old = kd->slots[i] & KD_LOC_MASK;
    /* a tombstone, unless the run ends right after it (then the slot can be empty again) */
    {
        uint32_t next = i + 1 == kd->cap ? 0 : i + 1;
        if (kd->slots[next] == KD_EMPTY) {
            kd->slots[i] = KD_EMPTY;
        } else {
            kd->slots[i] = KD_TOMB;
            kd->tombs++;
        }
    }
    kd->count--;
    return 1;
}

int cairn_kd__each(cairn_kd *kd, cairn_kd_fn fn, void *ctx) {
    uint32_t i;
    for (i = 0; i < kd->cap; i++) {
        int rc;
        if (!is_live(kd->slots[i])) continue;
        if ((rc = fn(ctx, kd->slots[i])) != 0) return rc;
    }
    return 0;
}

int cairn_kd__remap_files(cairn_kd *kd, const uint32_t *map, uint32_t n) {
    uint32_t i;
    int rc;
    if ((rc = cairn_kd__own(kd)) != 0) return rc;
    for (i = 0; i < kd->cap; i++) {
        uint64_t s = kd->slots[i];
        uint32_t f;
        if (!is_live(s)) continue;
        f = KD_LOC_FILE(s);
        if (f < n)
            kd->slots[i] = (s & ~(((uint64_t)KD_FILE_MAX - 1u) << KD_OFF_BITS)) | ((uint64_t)map[f] << KD_OFF_BITS);
    }
    return 0;
}

static uint32_t npages(uint32_t cap) { return (cap + KD_PAGE_SLOTS - 1u) / KD_PAGE_SLOTS; }

void cairn_kd__dump_hdr(const cairn_kd *kd, uint8_t h[KD_DUMP_HDR]) {
    cairn_put32(h, kd->cap);
    cairn_put32(h + 4, KD_PAGE_SLOTS);
    cairn_put64(h + 8, kd->count);
    cairn_put64(h + 16, kd->tombs);
    cairn_put64(h + 24, kd->expiring);
    cairn_put64(h + 32, 0);
}

int cairn_kd__dump_body(const cairn_kd *kd, cairn_kd_io write_fn, void *ctx) {
    uint32_t p, np = npages(kd->cap);
    uint8_t *crcs;
    int rc;
    if (!(crcs = (uint8_t *)malloc((size_t)np * 4u + 1u))) return CAIRN_NOMEM;
    for (p = 0; p < np; p++) {
        size_t first = (size_t)p * KD_PAGE_SLOTS, n = kd->cap - first < KD_PAGE_SLOTS ? kd->cap - first : KD_PAGE_SLOTS;
        cairn_put32(crcs + (size_t)p * 4u, cairn_crc32c__update(0, kd->slots + first, n * 8u));
    }
    if ((rc = write_fn(ctx, kd->slots, (size_t)kd->cap * 8u)) == 0) rc = write_fn(ctx, crcs, (size_t)np * 4u);
    free(crcs);
    return rc;
}

cairn_kd *cairn_kd__load_mapped(const void *map, uint64_t maplen, const uint8_t *p, size_t off, size_t len,
                                uint32_t nfiles, const kd_src *src, int *rc) {
    const uint64_t *slots;
    const uint8_t *crcs;
    uint64_t count, tombs, live = 0, tomb = 0;
    uint32_t cap, pg, np;
    cairn_kd *kd;
    *rc = CAIRN_CORRUPT;
    if ((off & 7u) || off > maplen || len > maplen - off) return NULL;
    cap = cairn_get32(p);
    if (cap < KD_MIN_CAP || cap > KD_MAX_CAP || cairn_get32(p + 4) != KD_PAGE_SLOTS) return NULL;
    np = npages(cap);
    if ((uint64_t)len != (uint64_t)cap * 8u + (uint64_t)np * 4u) return NULL;
    count = cairn_get64(p + 8);
    tombs = cairn_get64(p + 16);
    if (count + tombs >= cap || cairn_get64(p + 24) > count || nfiles > KD_FILE_MAX) return NULL;
    slots = (const uint64_t *)(const void *)((const uint8_t *)map + off);
    crcs = (const uint8_t *)map + off + (size_t)cap * 8u;
    /* one pass, a page at a time: its CRC, then its slots counted while they are in the cache
     * (live: a tag; tombstones: 1). The counts must be the header's, which leaves an empty slot
     * (probes end at one). A slot's form and record are checked when it is used: a slot with
     * no tag matches no key, a file number out of range or a location without its record is
     * CAIRN_CORRUPT where it is read. */
    for (pg = 0; pg < np; pg++) {
        const size_t first = (size_t)pg * KD_PAGE_SLOTS;
        const size_t n = cap - first < KD_PAGE_SLOTS ? cap - first : KD_PAGE_SLOTS;
        const uint64_t *s = slots + first;
        uint64_t l0 = 0, l1 = 0, t0 = 0, t1 = 0;
        size_t i;
        if (cairn_crc32c__update(0, s, n * 8u) != cairn_get32(crcs + (size_t)pg * 4u)) return NULL;
        for (i = 0; i + 2 <= n; i += 2) {
            l0 += s[i] >> 56 != 0;
            l1 += s[i + 1] >> 56 != 0;
            t0 += s[i] == KD_TOMB;
            t1 += s[i + 1] == KD_TOMB;
        }
        if (i < n) {
            l0 += s[i] >> 56 != 0;
            t0 += s[i] == KD_TOMB;
        }
        live += l0 + l1;
        tomb += t0 + t1;
    }
    if (live != count || tomb != tombs) return NULL;
    if (!(kd = (cairn_kd *)calloc(1, sizeof *kd))) {
        *rc = CAIRN_NOMEM;
        return NULL;
    }
    kd->slots = (uint64_t *)(uintptr_t)slots;
    kd->cap = cap;
    kd->count = count;
    kd->tombs = tombs;
    kd->expiring = cairn_get64(p + 24);
    if (src) kd->src = *src;
    kd->map = map; /* from now on the table owns the mapping */
    kd->maplen = maplen;
    *rc = 0;
    return kd;
}
