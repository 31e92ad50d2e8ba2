/* keydir.c - open-addressing hash table over an arena of entries (layout in keydir.h). */
#include "keydir.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

#define KD_CHUNK ((size_t)1 << 20)
#define KD_CHUNK_REFS ((uint32_t)(KD_CHUNK / 4))
/* The last chunk starts at KD_CHUNK_MIN bytes and doubles up to KD_CHUNK as it fills (every
 * other chunk is KD_CHUNK bytes), so a small keydir holds kilobytes, not a whole chunk. */
#define KD_CHUNK_MIN ((size_t)4096)
#define KD_HDR 20u

/* Tag of a hash: its top 8 bits, never 0 (0 marks an empty slot in the tag array). */
#define KD_TAG(h) ((uint8_t)(((h) >> 24) | (((h) >> 24) == 0)))

struct cairn_kd {
    uint32_t *slots;
    uint8_t *tags; /* one per slot: KD_TAG of the entry's hash, 0 iff the slot is empty */
    uint32_t mask; /* capacity - 1 (capacity is a power of two) */
    uint64_t count;
    uint64_t expiring;
    uint8_t **chunks;
    size_t nchunks, capchunks;
    size_t tail;       /* bytes used in the last chunk */
    size_t lastcap;    /* bytes allocated for the last chunk (<= KD_CHUNK) */
    uint64_t used;     /* arena bytes in live entries */
    uint64_t holes;    /* arena bytes in removed entries */
    const void *map;   /* borrowed: slots and chunks live in this read-only mapping of a snapshot */
    uint64_t maplen;
};

/* Take private copies of a borrowed (mapped) table before the first change. */
int cairn_kd__own(cairn_kd *kd) {
    uint32_t *slots;
    uint8_t *tags;
    uint8_t **chunks;
    size_t c, cap = (size_t)kd->mask + 1;
    if (!kd->map) return 0;
    if (!(slots = (uint32_t *)malloc(cap * 4u))) return CAIRN_NOMEM;
    if (!(tags = (uint8_t *)malloc(cap))) {
        free(slots);
        return CAIRN_NOMEM;
    }
    if (!(chunks = (uint8_t **)calloc(kd->capchunks ? kd->capchunks : 1, sizeof *chunks))) {
        free(tags);
        free(slots);
        return CAIRN_NOMEM;
    }
    for (c = 0; c < kd->nchunks; c++) {
        size_t n = c + 1 == kd->nchunks ? kd->tail : KD_CHUNK, ccap = KD_CHUNK;
        if (c + 1 == kd->nchunks) {
            ccap = KD_CHUNK_MIN;
            while (ccap < n) ccap *= 2;
            kd->lastcap = ccap;
        }
        if (!(chunks[c] = (uint8_t *)(n == KD_CHUNK ? malloc(KD_CHUNK) : calloc(1, ccap)))) {
            while (c--) free(chunks[c]);
            free(chunks);
            free(tags);
            free(slots);
            return CAIRN_NOMEM;
        }
        memcpy(chunks[c], kd->chunks[c], n);
    }
    memcpy(slots, kd->slots, cap * 4u);
    memcpy(tags, kd->tags, cap);
    free(kd->chunks);
    kd->chunks = chunks;
    kd->slots = slots;
    kd->tags = tags;
    cairn_io__unmap(kd->map, kd->maplen);
    kd->map = NULL;
    kd->maplen = 0;
    return 0;
}

static size_t ent_size(size_t klen, int expires) {
    return (KD_HDR + (expires ? 8u : 0u) + klen + 3u) & ~(size_t)3u;
}

static kd_ent *ref_ent(const cairn_kd *kd, uint32_t ref) {
    return (kd_ent *)(void *)(kd->chunks[ref / KD_CHUNK_REFS] + (size_t)(ref % KD_CHUNK_REFS) * 4u);
}

int64_t cairn_kd__expire(const kd_ent *e) {
    int64_t v;
    if (!(e->flags & KD_EXPIRES)) return 0;
    memcpy(&v, (const uint8_t *)e + KD_HDR, 8);
    return v;
}

const uint8_t *cairn_kd__key(const kd_ent *e) {
    return (const uint8_t *)e + KD_HDR + ((e->flags & KD_EXPIRES) ? 8u : 0u);
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

cairn_kd *cairn_kd__new(void) {
    cairn_kd *kd = (cairn_kd *)calloc(1, sizeof *kd);
    if (!kd) return NULL;
    kd->mask = 15;
    kd->slots = (uint32_t *)calloc(16, sizeof(uint32_t));
    kd->tags = (uint8_t *)calloc(16, 1);
    if (!kd->slots || !kd->tags) {
        free(kd->slots);
        free(kd->tags);
        free(kd);
        return NULL;
    }
    return kd;
}

void cairn_kd__free(cairn_kd *kd) {
    size_t i;
    if (!kd) return;
    if (kd->map) {
        cairn_io__unmap(kd->map, kd->maplen);
        free(kd->chunks);
        free(kd);
        return;
    }
    for (i = 0; i < kd->nchunks; i++) free(kd->chunks[i]);
    free(kd->chunks);
    free(kd->slots);
    free(kd->tags);
    free(kd);
}

uint64_t cairn_kd__count(const cairn_kd *kd) { return kd->count; }
uint64_t cairn_kd__expiring(const cairn_kd *kd) { return kd->expiring; }
uint64_t cairn_kd__bytes(const cairn_kd *kd) {
    uint64_t n = kd->capchunks * sizeof(void *) + sizeof *kd;
    if (kd->map) return n + kd->maplen; /* slots, tags and chunks are in the mapping */
    if (kd->nchunks) n += (uint64_t)(kd->nchunks - 1) * KD_CHUNK + kd->lastcap;
    return n + ((uint64_t)kd->mask + 1) * 5u;
}

/* Make the last chunk hold at least `need` bytes (realloc: its entries may move). 0 or -1. */
static int last_reserve(cairn_kd *kd, size_t need) {
    size_t cap = kd->lastcap;
    uint8_t *c;
    if (need <= cap) return 0;
    while (cap < need) cap *= 2;
    if (cap > KD_CHUNK) cap = KD_CHUNK;
    if (!(c = (uint8_t *)realloc(kd->chunks[kd->nchunks - 1], cap))) return -1;
    memset(c + kd->lastcap, 0, cap - kd->lastcap); /* zeroed: dumped whole */
    kd->chunks[kd->nchunks - 1] = c;
    kd->lastcap = cap;
    return 0;
}

/* Arena allocation of n bytes (n <= KD_CHUNK - 4): returns the ref, 0 on ENOMEM. */
static uint32_t arena_alloc(cairn_kd *kd, size_t n) {
    if (kd->nchunks == 0 || kd->tail + n > KD_CHUNK) {
        uint8_t *c;
        if ((uint64_t)(kd->nchunks + 1) * KD_CHUNK_REFS > UINT32_MAX) return 0;
        if (kd->nchunks == kd->capchunks) {
            size_t nc = kd->capchunks ? kd->capchunks * 2 : 8;
            uint8_t **v = (uint8_t **)realloc(kd->chunks, nc * sizeof *v);
            if (!v) return 0;
            kd->chunks = v;
            kd->capchunks = nc;
        }
        /* a chunk that is not the last one is whole (dump writes KD_CHUNK bytes of it) */
        if (kd->nchunks > 0 && last_reserve(kd, KD_CHUNK) != 0) return 0;
        if (!(c = (uint8_t *)calloc(1, KD_CHUNK_MIN))) return 0; /* zeroed: dumped whole */
        if (kd->nchunks > 0) kd->holes += KD_CHUNK - kd->tail; /* unused tail of the old chunk */
        kd->chunks[kd->nchunks++] = c;
        kd->lastcap = KD_CHUNK_MIN;
        kd->tail = kd->nchunks == 1 ? 4 : 0; /* ref 0 means "empty slot" */
    }
    if (last_reserve(kd, kd->tail + n) != 0) return 0;
    {
        uint32_t ref = (uint32_t)((kd->nchunks - 1) * KD_CHUNK_REFS + kd->tail / 4);
        kd->tail += n;
        kd->used += n;
        return ref;
    }
}

static int grow(cairn_kd *kd) {
    uint32_t ncap = (kd->mask + 1) * 2, nmask = ncap - 1, i;
    uint32_t *ns;
    uint8_t *nt;
    if (ncap == 0) return CAIRN_NOMEM;
    if (!(ns = (uint32_t *)calloc(ncap, sizeof *ns))) return CAIRN_NOMEM;
    if (!(nt = (uint8_t *)calloc(ncap, 1))) {
        free(ns);
        return CAIRN_NOMEM;
    }
    for (i = 0; i <= kd->mask; i++) {
        uint32_t ref = kd->slots[i], j;
        if (!ref) continue;
        j = ref_ent(kd, ref)->hash & nmask;
        while (nt[j]) j = (j + 1) & nmask;
        ns[j] = ref;
        nt[j] = kd->tags[i];
    }
    free(kd->slots);
    free(kd->tags);
    kd->slots = ns;
    kd->tags = nt;
    kd->mask = nmask;
    return 0;
}

/* Rewrite the arena without holes (refs change; slots are updated in place). On ENOMEM
 * nothing changes (the holes just stay). Pass 1 copies, pass 2 replays the same allocation
 * sequence to assign the new refs, so a failure in pass 1 leaves the slots untouched. */
static void compact(cairn_kd *kd) {
    cairn_kd tmp;
    uint32_t i;
    size_t c, chunk = 0, tail = 4;
    memset(&tmp, 0, sizeof tmp);
    for (i = 0; i <= kd->mask; i++) {
        uint32_t ref = kd->slots[i], nref;
        kd_ent *e;
        size_t n;
        if (!ref) continue;
        e = ref_ent(kd, ref);
        n = ent_size(e->klen, e->flags & KD_EXPIRES);
        if (!(nref = arena_alloc(&tmp, n))) {
            for (c = 0; c < tmp.nchunks; c++) free(tmp.chunks[c]);
            free(tmp.chunks);
            return;
        }
        memcpy(ref_ent(&tmp, nref), e, n);
    }
    for (i = 0; i <= kd->mask; i++) {
        uint32_t ref = kd->slots[i];
        kd_ent *e;
        size_t n;
        if (!ref) continue;
        e = ref_ent(kd, ref);
        n = ent_size(e->klen, e->flags & KD_EXPIRES);
        if (tail + n > KD_CHUNK) {
            chunk++;
            tail = 0;
        }
        kd->slots[i] = (uint32_t)(chunk * KD_CHUNK_REFS + tail / 4);
        tail += n;
    }
    for (c = 0; c < kd->nchunks; c++) free(kd->chunks[c]);
    free(kd->chunks);
    kd->chunks = tmp.chunks;
    kd->nchunks = tmp.nchunks;
    kd->capchunks = tmp.capchunks;
    kd->tail = tmp.tail;
    kd->lastcap = tmp.lastcap;
    kd->used = tmp.used;
    kd->holes = tmp.holes;
}

static uint32_t find_slot(const cairn_kd *kd, const void *key, size_t klen, uint32_t hash, int *found) {
    uint32_t i = hash & kd->mask;
    const uint8_t tag = KD_TAG(hash);
    /* Probe the tag bytes; only a matching tag (1 in 255 for a stranger) touches the arena. */
    for (;;) {
        uint8_t t = kd->tags[i];
        if (!t) {
            *found = 0;
            return i;
        }
        if (t == tag) {
            const kd_ent *e = ref_ent(kd, kd->slots[i]);
            if (e->hash == hash && e->klen == klen && memcmp(cairn_kd__key(e), key, klen) == 0) {
                *found = 1;
                return i;
            }
        }
        i = (i + 1) & kd->mask;
    }
}

kd_ent *cairn_kd__find(cairn_kd *kd, const void *key, size_t klen, uint32_t hash) {
    int found;
    uint32_t i = find_slot(kd, key, klen, hash, &found);
    return found ? ref_ent(kd, kd->slots[i]) : NULL;
}

static void fill(kd_ent *e, const void *key, size_t klen, uint32_t hash, uint64_t loc, uint32_t vlen, int kind,
                 int64_t expire) {
    kd_set_loc(e, loc);
    e->vlen = vlen;
    e->hash = hash;
    e->klen = (uint16_t)klen;
    e->kind = (uint8_t)kind;
    e->flags = expire ? KD_EXPIRES : 0;
    if (expire) memcpy((uint8_t *)e + KD_HDR, &expire, 8);
    memcpy((uint8_t *)e + KD_HDR + (expire ? 8u : 0u), key, klen);
}

int cairn_kd__put(cairn_kd *kd, const void *key, size_t klen, uint32_t hash, uint64_t loc, uint32_t vlen,
                  int kind, int64_t expire, kd_ent *old) {
    int found;
    uint32_t i;
    if (cairn_kd__own(kd) != 0) return CAIRN_NOMEM;
    i = find_slot(kd, key, klen, hash, &found);
    if (found) {
        kd_ent *e = ref_ent(kd, kd->slots[i]);
        int had = (e->flags & KD_EXPIRES) != 0;
        if (old) *old = *e;
        if (had == (expire != 0)) {
            /* Same size: rewrite in place. */
            fill(e, key, klen, hash, loc, vlen, kind, expire);
        } else {
            size_t osz = ent_size(klen, had), nsz = ent_size(klen, expire != 0);
            uint32_t ref = arena_alloc(kd, nsz);
            if (!ref) return CAIRN_NOMEM;
            e = ref_ent(kd, kd->slots[i]); /* (arena_alloc may move the last chunk's entries) */
            fill(ref_ent(kd, ref), key, klen, hash, loc, vlen, kind, expire);
            kd->slots[i] = ref;
            kd->used -= osz;
            kd->holes += osz;
            if (had) kd->expiring--;
            else kd->expiring++;
        }
        return 1;
    }
    if ((kd->count + 1) * 4 > ((uint64_t)kd->mask + 1) * 3) {
        if (grow(kd) != 0) return CAIRN_NOMEM;
        i = find_slot(kd, key, klen, hash, &found);
    }
    {
        uint32_t ref = arena_alloc(kd, ent_size(klen, expire != 0));
        if (!ref) return CAIRN_NOMEM;
        fill(ref_ent(kd, ref), key, klen, hash, loc, vlen, kind, expire);
        kd->slots[i] = ref;
        kd->tags[i] = KD_TAG(hash);
        kd->count++;
        if (expire) kd->expiring++;
    }
    return 0;
}

int cairn_kd__del(cairn_kd *kd, const void *key, size_t klen, uint32_t hash, kd_ent *old) {
    int found;
    uint32_t i = find_slot(kd, key, klen, hash, &found), j;
    kd_ent *e;
    size_t sz;
    if (!found) return 0;
    if (cairn_kd__own(kd) != 0) return CAIRN_NOMEM;
    e = ref_ent(kd, kd->slots[i]);
    if (old) *old = *e;
    sz = ent_size(e->klen, e->flags & KD_EXPIRES);
    if (e->flags & KD_EXPIRES) kd->expiring--;
    kd->used -= sz;
    kd->holes += sz;
    kd->count--;
    kd->slots[i] = 0;
    kd->tags[i] = 0;
    /* Backward-shift: pull later members of the probe run into the hole. */
    j = i;
    for (;;) {
        uint32_t ref, home;
        j = (j + 1) & kd->mask;
        ref = kd->slots[j];
        if (!ref) break;
        home = ref_ent(kd, ref)->hash & kd->mask;
        /* Move if home is not cyclically within (i, j]. The tag moves with its slot. */
        if (((j - home) & kd->mask) >= ((j - i) & kd->mask)) {
            kd->slots[i] = ref;
            kd->tags[i] = kd->tags[j];
            kd->slots[j] = 0;
            kd->tags[j] = 0;
            i = j;
        }
    }
    if (kd->holes > KD_CHUNK && kd->holes > kd->used) compact(kd);
    return 1;
}

int cairn_kd__each(cairn_kd *kd, cairn_kd_fn fn, void *ctx) {
    uint32_t i;
    for (i = 0; i <= kd->mask; i++) {
        int rc;
        if (!kd->slots[i]) continue;
        if ((rc = fn(ctx, ref_ent(kd, kd->slots[i]))) != 0) return rc;
    }
    return 0;
}

int cairn_kd__dump(const cairn_kd *kd, cairn_kd_io write_fn, void *ctx) {
    uint8_t h[48];
    size_t c;
    int rc;
    cairn_put32(h, kd->mask);
    cairn_put32(h + 4, (uint32_t)kd->nchunks);
    cairn_put32(h + 8, (uint32_t)kd->tail);
    cairn_put32(h + 12, 0);
    cairn_put64(h + 16, kd->count);
    cairn_put64(h + 24, kd->expiring);
    cairn_put64(h + 32, kd->used);
    cairn_put64(h + 40, kd->holes);
    if ((rc = write_fn(ctx, h, sizeof h)) != 0) return rc;
    if ((rc = write_fn(ctx, kd->slots, ((size_t)kd->mask + 1) * 4u)) != 0) return rc;
    if ((rc = write_fn(ctx, kd->tags, (size_t)kd->mask + 1)) != 0) return rc;
    for (c = 0; c < kd->nchunks; c++)
        if ((rc = write_fn(ctx, kd->chunks[c], c + 1 == kd->nchunks ? kd->tail : KD_CHUNK)) != 0) return rc;
    return 0;
}

/* Prove a mapped table consistent (see cairn_kd__load_mapped in keydir.h): 1 if it is, 0 if not,
 * CAIRN_NOMEM. fsize has lim->nfiles + 1 sizes, the last one 0 (where an out-of-range file
 * number is sent: no record fits in it). This and the CRC pass are the whole cost of an open, so
 * both passes are sequential and branch-free (reading entries in slot order, i.e. at random,
 * cost 20x more: a cache and TLB miss per key):
 *  1. over the slots: every ref must name an entry header inside the arena (a ref r is in chunk
 *     r / R at word r % R; its header fits iff r % R <= hdrlim for every chunk and r <= maxref
 *     for the last, shorter one; 0 is empty), a slot is empty exactly when its tag is 0 (probes
 *     stop at tag 0); each ref sets its bit in a bitmap over the arena's words;
 *  2. along the arena: entries lie back to back from word 1 of chunk 0 and from word 0 of every
 *     other chunk (removed entries stay in place as holes; the unused tail of a chunk is zeros,
 *     which step as empty 20-byte entries), so one walk of the entry sizes meets every entry ever
 *     allocated. Each entry whose bit is set is checked whole: the entry (header, expiry, key)
 *     inside its chunk, klen >= 1, kind <= 3, flags only KD_EXPIRES, vlen <= vmax, and its record
 *     inside the file it names. The walk must meet as many referenced entries as there are
 *     occupied slots: so no ref points between entries (or into a hole's middle) and no two
 *     slots share an entry. The header's count, expiring and used must be what the slots hold,
 *     and the load factor must leave an empty slot (probes end at one). Holes are not checked
 *     (nothing reads them: compaction copies only referenced entries). */
/* Header length of a PUT record: version 3 (v3 != 0): CRC, tag, [varint klen unless the short
 * form: kind 0, klen <= 32, no expiry], varint vlen, [expiry]. */
static inline uint64_t rec_len(int v3, uint64_t hdr, uint64_t kind, uint64_t klen, uint64_t vlen, uint64_t ex) {
    return v3 ? 6u + (kind != 0 || klen > 32u || ex) + (klen >= 128u) + (klen >= 16384u) + (vlen >= 128u) +
                    (vlen >= 16384u) + (vlen >= 2097152u) + (vlen >= 268435456u) + (ex ? 8u : 0u)
              : hdr;
}

static int validate(const cairn_kd *kd, const kd_limits *lim, const uint64_t *fsize) {
    const uint32_t hdrlim = (uint32_t)((KD_CHUNK - KD_HDR) / 4u), nfiles = lim->nfiles;
    const uint64_t rec_hdr = lim->rec_hdr, vmax = lim->vmax;
    const size_t nwords = (kd->nchunks * (size_t)KD_CHUNK_REFS) / 64u + 1u;
    uint64_t bad = 0, count = 0, found = 0, expiring = 0, used = 0, *bits;
    uint32_t maxref = 0, i;
    size_t c;
    if (kd->nchunks) {
        uint32_t lastref = (uint32_t)((kd->nchunks - 1) * KD_CHUNK_REFS);
        if (kd->tail >= KD_HDR) maxref = lastref + (uint32_t)((kd->tail - KD_HDR) / 4u);
        else if (lastref) maxref = lastref - 1; /* the last chunk holds no entry */
    }
    if (!(bits = (uint64_t *)calloc(nwords, sizeof *bits))) return CAIRN_NOMEM;
    for (i = 0; i <= kd->mask; i++) {
        const uint32_t r = kd->slots[i];
        const uint64_t occ = r != 0;
        const uint64_t rbad = (uint64_t)(r > maxref) | (uint64_t)((r & (KD_CHUNK_REFS - 1)) > hdrlim);
        const uint32_t rr = rbad ? 0 : r; /* (bit 0 of word 0: never an entry, never looked at) */
        bad |= rbad | ((uint64_t)(r == 0) ^ (uint64_t)(kd->tags[i] == 0));
        bits[rr >> 6] |= (uint64_t)1 << (rr & 63);
        count += occ;
    }
    for (c = 0; c < kd->nchunks && !bad; c++) {
        const uint8_t *chunk = kd->chunks[c];
        const uint64_t clen = c + 1 == kd->nchunks ? kd->tail : KD_CHUNK;
        const uint32_t base = (uint32_t)(c * KD_CHUNK_REFS);
        uint64_t pos = c ? 0 : 4;
        while (pos + KD_HDR <= clen) {
            const kd_ent *e = (const kd_ent *)(const void *)(chunk + pos);
            const uint32_t ref = base + (uint32_t)(pos / 4u);
            const uint64_t sel = (bits[ref >> 6] >> (ref & 63)) & 1u;
            const uint64_t ex = e->flags & KD_EXPIRES, esz = ent_size(e->klen, (int)ex);
            const uint64_t loc = kd_loc(e), off = KD_LOC_OFF(loc);
            const uint32_t f = KD_LOC_FILE(loc), fi = f < nfiles ? f : nfiles;
            const uint64_t ebad = (uint64_t)(pos + esz > clen) | (uint64_t)(e->flags & ~KD_EXPIRES) |
                                  (uint64_t)(e->kind > 3) | (uint64_t)(e->klen == 0) | (uint64_t)(e->vlen > vmax) |
                                  (uint64_t)(off + rec_len(lim->fv3[fi], rec_hdr, e->kind, e->klen, e->vlen, ex) + e->klen +
                                                 e->vlen > fsize[fi]);
            bad |= ebad & sel;
            found += sel;
            expiring += ex & sel;
            used += esz & (0 - sel);
            pos += esz;
        }
    }
    free(bits);
    /* the counters drive growth and probing: a table with no empty slot would probe forever */
    bad |= (uint64_t)(found != count) | (uint64_t)(count != kd->count) | (uint64_t)(expiring != kd->expiring) |
           (uint64_t)(used != kd->used) | (uint64_t)(count * 4 > ((uint64_t)kd->mask + 1) * 3);
    return !bad;
}

cairn_kd *cairn_kd__load_mapped(const void *map, uint64_t maplen, size_t off, size_t len, const kd_limits *lim,
                                int *rc) {
    const uint8_t *p = (const uint8_t *)map + off;
    cairn_kd *kd;
    uint32_t mask;
    size_t c, need;
    *rc = CAIRN_CORRUPT;
    if (len < 48 || (off & 3u)) return NULL;
    mask = cairn_get32(p);
    if ((mask & (mask + 1)) != 0 || mask < 15 || mask > (1u << 30)) return NULL;
    if (!(kd = (cairn_kd *)calloc(1, sizeof *kd))) {
        *rc = CAIRN_NOMEM;
        return NULL;
    }
    kd->mask = mask;
    kd->nchunks = cairn_get32(p + 4);
    kd->tail = cairn_get32(p + 8);
    kd->count = cairn_get64(p + 16);
    kd->expiring = cairn_get64(p + 24);
    kd->used = cairn_get64(p + 32);
    kd->holes = cairn_get64(p + 40);
    need = 48 + ((size_t)mask + 1) * 5u; /* header, slots, tags (a multiple of 16 bytes) */
    if (kd->nchunks > (1u << 14) || kd->tail > KD_CHUNK || kd->count > mask ||
        (kd->nchunks && need + (kd->nchunks - 1) * KD_CHUNK + kd->tail != len) || (!kd->nchunks && need != len)) {
        free(kd);
        return NULL;
    }
    kd->capchunks = kd->nchunks ? kd->nchunks : 1;
    if (!(kd->chunks = (uint8_t **)calloc(kd->capchunks, sizeof(uint8_t *)))) {
        free(kd);
        *rc = CAIRN_NOMEM;
        return NULL;
    }
    kd->slots = (uint32_t *)(void *)(uintptr_t)(p + 48);
    kd->tags = (uint8_t *)(uintptr_t)(p + 48 + ((size_t)mask + 1) * 4u);
    for (c = 0; c < kd->nchunks; c++) kd->chunks[c] = (uint8_t *)(uintptr_t)(p + need + c * KD_CHUNK);
    /* The CRC matched, but a CRC is no proof of consistency (a forged or buggy snapshot): every
     * ref, entry and counter is checked before the table is used. */
    {
        uint64_t *fsize = (uint64_t *)malloc(((size_t)lim->nfiles + 1) * sizeof *fsize);
        int ok;
        if (!fsize) {
            free(kd->chunks);
            free(kd);
            *rc = CAIRN_NOMEM;
            return NULL;
        }
        if (lim->nfiles) memcpy(fsize, lim->fsize, (size_t)lim->nfiles * sizeof *fsize);
        fsize[lim->nfiles] = 0; /* no record fits: where a file number out of range points */
        ok = validate(kd, lim, fsize);
        free(fsize);
        if (ok == CAIRN_NOMEM) {
            free(kd->chunks);
            free(kd);
            *rc = CAIRN_NOMEM;
            return NULL;
        }
        if (!ok) goto bad;
    }
    kd->map = map; /* from now on the table owns the mapping */
    kd->maplen = maplen;
    *rc = 0;
    return kd;
bad:
    free(kd->chunks);
    free(kd);
    return NULL;
}
