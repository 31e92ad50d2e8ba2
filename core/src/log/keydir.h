/*
 * keydir.h - the in-memory index of the log KV: key -> (file, offset, sizes, kind, expiry).
 *
 * An open-addressing hash table (linear probing, backward-shift deletion, no tombstones) of
 * 4-byte slots. A slot holds a reference into an arena of fixed 1 MiB chunks where each entry
 * is stored once, 4-byte aligned:
 *
 *   +0  u32 loc_lo   \ loc = file slot << 44 | record offset (44 bits: 16 TiB per file)
 *   +4  u32 loc_hi   /
 *   +8  u32 vlen     value length
 *   +12 u32 hash     full hash of the key (probing and growth never rehash keys)
 *   +16 u16 klen
 *   +18 u8  kind
 *   +19 u8  flags    KD_EXPIRES: an int64 expiry (Unix ms) follows at +20
 *   +20 [i64 expire] key bytes, padded to 4
 *
 * Beside the slots, a tag array holds one byte per slot: the top 8 bits of the key's hash (forced
 * non-zero), 0 for an empty slot. Probes scan tags and read the arena only on a tag match, so a
 * probe past a stranger costs no cache miss. A tag moves with its slot (backward shift, growth).
 *
 * Cost per key: 20 B header + key (+3 B pad, +8 B only for keys with an expiry) + 5 B per slot
 * (ref + tag) at a load factor of 3/8..3/4 (6.7..13.3 B): about 31 B + key, within the 32 B +
 * key budget.
 * Removed entries leave holes in the arena; the arena is compacted when holes pass half of it.
 * Not thread-safe: the engine guards it with its rwlock.
 */
#ifndef CAIRN_LOG_KEYDIR_H
#define CAIRN_LOG_KEYDIR_H

#include <stddef.h>
#include <stdint.h>

#define KD_EXPIRES 0x1

typedef struct kd_ent {
    uint32_t loc_lo, loc_hi;
    uint32_t vlen;
    uint32_t hash;
    uint16_t klen;
    uint8_t kind;
    uint8_t flags;
} kd_ent;

typedef struct cairn_kd cairn_kd;

#define KD_LOC(file, off) (((uint64_t)(file) << 44) | (uint64_t)(off))
#define KD_LOC_FILE(loc) ((uint32_t)((loc) >> 44))
#define KD_LOC_OFF(loc) ((loc) & ((UINT64_C(1) << 44) - 1))

cairn_kd *cairn_kd__new(void);
void cairn_kd__free(cairn_kd *kd);
uint32_t cairn_kd__hash(const void *key, size_t klen);

/* Lookup: the entry or NULL. Valid until the next mutation. */
kd_ent *cairn_kd__find(cairn_kd *kd, const void *key, size_t klen, uint32_t hash);
/* Insert or replace. If an entry existed, *old (when not NULL) receives a copy of its header and
 * 1 is returned; 0 for a new key; CAIRN_NOMEM on failure (nothing changed). */
int cairn_kd__put(cairn_kd *kd, const void *key, size_t klen, uint32_t hash, uint64_t loc, uint32_t vlen,
                  int kind, int64_t expire, kd_ent *old);
/* Remove: 1 (with *old) if it existed, 0 if not, CAIRN_NOMEM if a mapped table could not be
 * copied first (nothing changed). */
int cairn_kd__del(cairn_kd *kd, const void *key, size_t klen, uint32_t hash, kd_ent *old);

uint64_t cairn_kd__count(const cairn_kd *kd);
uint64_t cairn_kd__expiring(const cairn_kd *kd);
/* Bytes of memory the keydir holds (arena chunks + slot table + struct). */
uint64_t cairn_kd__bytes(const cairn_kd *kd);

static inline uint64_t kd_loc(const kd_ent *e) { return (uint64_t)e->loc_lo | ((uint64_t)e->loc_hi << 32); }
static inline void kd_set_loc(kd_ent *e, uint64_t loc) {
    e->loc_lo = (uint32_t)loc;
    e->loc_hi = (uint32_t)(loc >> 32);
}
int64_t cairn_kd__expire(const kd_ent *e);
const uint8_t *cairn_kd__key(const kd_ent *e);

/* Visit every entry (in table order). Stop and return fn's value when it is nonzero. */
typedef int (*cairn_kd_fn)(void *ctx, kd_ent *e);
int cairn_kd__each(cairn_kd *kd, cairn_kd_fn fn, void *ctx);

/* Raw dump of the table and arena (for the KEYDIR snapshot: loading it needs no per-key work).
 * Layout: u32 mask, u32 nchunks, u32 tail, u32 0, u64 count, u64 expiring, u64 used, u64 holes
 * (this header little-endian), the slots (4 * (mask + 1) bytes, host byte order), the tags
 * (mask + 1 bytes; a multiple of 16, so the chunks stay aligned), then the chunks (KD_CHUNK bytes each, the last one `tail` bytes; entries in host byte order). A
 * snapshot is a cache for this machine: the KEYDIR header records the byte order and a foreign
 * one is ignored. */
typedef int (*cairn_kd_io)(void *ctx, void *buf, size_t len);
int cairn_kd__dump(const cairn_kd *kd, cairn_kd_io write_fn, void *ctx);
/* What the entries of a loaded dump must fit: loc's file number < nfiles, and the record it
 * names, [off, off + rec_hdr + klen + vlen), within fsize[file]; vlen <= vmax. */
typedef struct kd_limits {
    const uint64_t *fsize; /* nfiles sizes */
    uint32_t nfiles;
    const uint8_t *fv3; /* nfiles + 1 flags: the file holds version 3 records (header length
                           from klen, vlen and expiry); else rec_hdr bytes before the key */
    uint32_t rec_hdr; /* bytes of a version 1 or 2 record before its key */
    uint32_t vmax;    /* largest value length */
} kd_limits;

/* Use a dump in place inside a read-only mapping (map, maplen) at [off, off + len): open costs
 * no copy; the first change copies it (cairn_kd__own). The dump is a cache that passed its CRC
 * but is otherwise untrusted, so everything later used as an index or a size is proven in range
 * here, once, before the table is used (nothing on the read path re-checks it): the header
 * (mask a power of two minus 1, chunk count and tail consistent with len), every slot ref (an
 * entry header inside the arena; a tag is 0 exactly for an empty slot), and every referenced
 * entry: the whole entry (header, expiry, key) inside its chunk and at an entry boundary (no two
 * slots share one), klen >= 1, kind <= 3, flags only KD_EXPIRES, and its record inside a listed
 * file (lim); the header's count, expiring and used must equal what the slots hold, and the load
 * factor must leave an empty slot (probes end at one). (Not proven: that an entry's hash is its
 * key's; a wrong one only hides the key from lookups. Reads still check the record's key.) On success the table owns the mapping (unmapped by
 * cairn_kd__free); on failure NULL with *rc set (CAIRN_CORRUPT or CAIRN_NOMEM), and the
 * mapping is still the caller's. */
cairn_kd *cairn_kd__load_mapped(const void *map, uint64_t maplen, size_t off, size_t len, const kd_limits *lim,
                                int *rc);
/* Make a mapped table private (copies it); 0 or CAIRN_NOMEM. Needed before changing entries
 * in place through cairn_kd__each. */
int cairn_kd__own(cairn_kd *kd);

#endif
