/*
 * keydir.h - the in-memory index of the log KV: key -> record location.
 *
 * An open-addressing hash table (linear probing, tombstones) of 8-byte slots and nothing else:
 * the key, value length, kind and expiry live in the record the slot names (the data files are
 * mapped: a get reads that record anyway, to compare the key, check the CRC and copy the value).
 *
 *   slot (u64):  63      56 55        44 43                                0
 *               +----------+------------+-----------------------------------+
 *               |   tag    | file slot  |          record offset            |
 *               +----------+------------+-----------------------------------+
 *   tag     the low 8 bits of the key's 32-bit hash, forced non-zero (KD_TAG)
 *   file    the data file's slot in the handle's file table, 0..4095 (KD_FILE_MAX files)
 *   offset  44 bits: 16 TiB, beyond CAIRN_KV_MAX_FILE_SIZE_LIMIT plus one record
 *   0 is an empty slot, 1 a tombstone (a deleted key; probes pass over it, inserts reuse it).
 *
 * Capacity is any number of slots >= 16 (not a power of two): a key's home slot is
 * (hash * capacity) >> 32 (multiply-shift). The table holds live + tombstone slots at most 7/8
 * of the capacity; past that it is rebuilt (without tombstones) at a capacity that puts the live
 * keys at 7/10, so the slots (all that KEYDIR stores) are 8 / (0.7..0.875) = 9.1..11.4 bytes per
 * key. Beside the slots a writer keeps each live slot's full 32-bit hash (4 bytes a slot, memory
 * only): probes compare it before reading a record whose tag matches, and a rebuild moves slots
 * by it without reading any record. A table loaded from KEYDIR has no hashes: its probes read the
 * record of every tag match (1 in 255 for a stranger), and its first rebuild reads every key from
 * its record (through kd_src.key, in file order: the slots sorted by location first) to hash it
 * again, checking the stored tag against it. Records read for a rebuild, and records of a tag
 * match whose key differs, are checked whole (CRC): a damaged key could otherwise hide a key
 * (its own, or the one probed for) without a word. A record that cannot be read, fails its CRC,
 * or whose key does not hash to the slot's tag, is an error from the resolver or CAIRN_CORRUPT
 * (never a wrong answer). Not thread-safe: the engine guards it with its rwlock.
 */
#ifndef CAIRN_LOG_KEYDIR_H
#define CAIRN_LOG_KEYDIR_H

#include <stddef.h>
#include <stdint.h>

#define KD_OFF_BITS 44
#define KD_FILE_BITS 12
#define KD_FILE_MAX (1u << KD_FILE_BITS) /* file slots a location can name */
#define KD_LOC(file, off) (((uint64_t)(file) << KD_OFF_BITS) | (uint64_t)(off))
#define KD_LOC_FILE(loc) ((uint32_t)(((loc) >> KD_OFF_BITS) & (KD_FILE_MAX - 1u)))
#define KD_LOC_OFF(loc) ((loc) & ((UINT64_C(1) << KD_OFF_BITS) - 1))
#define KD_LOC_MASK ((UINT64_C(1) << 56) - 1)
/* Tag of a hash: its low 8 bits, never 0 (tag 0 marks an empty slot or a tombstone). (The home
 * slot comes from the high bits: neighbours in the table must not share their tags.) */
#define KD_TAG(h) ((uint8_t)(((h) & 0xffu) | (((h) & 0xffu) == 0)))
#define KD_SLOT_TAG(s) ((uint8_t)((s) >> 56))

typedef struct cairn_kd cairn_kd;

/* A key read from a record: bytes at p (a mapping, or buf when it had to be read; buf is
 * malloc'd by the resolver and freed by the table). */
typedef struct kd_key {
    const uint8_t *p;
    size_t n;
    uint8_t *buf;
} kd_key;

/* Where the table reads keys: key() fills k for the record at loc (0, or an error code with the
 * error message set: CAIRN_CORRUPT naming the data file and offset); with verify set it checks
 * the whole record (its CRC) first. addr() gives the record's address in a mapping, or NULL
 * (only a prefetch hint). */
typedef struct kd_src {
    int (*key)(void *ctx, uint64_t loc, int verify, kd_key *k);
    const void *(*addr)(void *ctx, uint64_t loc);
    void *ctx;
} kd_src;

cairn_kd *cairn_kd__new(const kd_src *src);
void cairn_kd__free(cairn_kd *kd);
void cairn_kd__set_src(cairn_kd *kd, const kd_src *src);
uint32_t cairn_kd__hash(const void *key, size_t klen);

/* A hint: start loading the home slot of hash (a writer calls it as soon as it holds the writer
 * lock, so that the cache miss overlaps the encoding and append of its record). */
void cairn_kd__prefetch(const cairn_kd *kd, uint32_t hash);
/* Lookup: 1 with *loc set, 0 if absent, < 0 an error (a slot whose record is bad). */
int cairn_kd__find(cairn_kd *kd, const void *key, size_t klen, uint32_t hash, uint64_t *loc);
/* Insert or replace: 1 replaced (*old = the previous location), 0 new key, < 0 an error
 * (CAIRN_NOMEM, or a bad record met while probing or rebuilding; nothing changed). */
int cairn_kd__put(cairn_kd *kd, const void *key, size_t klen, uint32_t hash, uint64_t loc, uint64_t *old);
/* Insert a key known to be absent, without comparing keys (compaction's new table, reserved
 * first): 0 or CAIRN_NOMEM. */
int cairn_kd__insert_new(cairn_kd *kd, uint32_t hash, uint64_t loc);
/* Make room for n live keys without a rebuild (before cairn_kd__insert_new). */
int cairn_kd__reserve(cairn_kd *kd, uint64_t n);
/* Remove: 1 (with *old) if it existed, 0 if not, < 0 an error. */
int cairn_kd__del(cairn_kd *kd, const void *key, size_t klen, uint32_t hash, uint64_t *old);

uint64_t cairn_kd__count(const cairn_kd *kd);
/* Keys whose record has an expiry: kept by the caller (it reads the records). */
uint64_t cairn_kd__expiring(const cairn_kd *kd);
void cairn_kd__expiring_add(cairn_kd *kd, int64_t d);
/* Bytes of memory the keydir holds (slots, hashes, struct; a mapped table counts its mapping). */
uint64_t cairn_kd__bytes(const cairn_kd *kd);

/* Visit every live slot (in table order): fn gets the slot (tag and location). Stop and return
 * fn's value when it is nonzero. */
typedef int (*cairn_kd_fn)(void *ctx, uint64_t slot);
int cairn_kd__each(cairn_kd *kd, cairn_kd_fn fn, void *ctx);
/* Rewrite every live slot's file number f to map[f] (f < n; others are left as they are). */
int cairn_kd__remap_files(cairn_kd *kd, const uint32_t *map, uint32_t n);

/* The on-disk form (inside KEYDIR; the layout is in the FORMAT comment of kv.c): a table header
 * of KD_DUMP_HDR bytes (u32 capacity C, u32 slots per page P, u64 live slots, u64 tombstones, u64
 * keys with an expiry, u64 0; little-endian), covered by the caller's header CRC; then the body:
 * the C slots (u64, host byte order), then ceil(C / P) u32 CRC32C, one per page of P slots. */
#define KD_PAGE_SLOTS 8192u /* 64 KiB of slots per page CRC */
#define KD_DUMP_HDR 40u
typedef int (*cairn_kd_io)(void *ctx, const void *buf, size_t len);
void cairn_kd__dump_hdr(const cairn_kd *kd, uint8_t out[KD_DUMP_HDR]);
int cairn_kd__dump_body(const cairn_kd *kd, cairn_kd_io write_fn, void *ctx);
/* Use a dump in place inside a read-only mapping (map, maplen): its table header at hdr (already
 * covered by a CRC the caller checked), its body at [off, off + len) of the mapping (off a
 * multiple of 8). Open costs no copy; the first change copies it (cairn_kd__own). Checked here,
 * in one pass: the header (capacity, page size, the body's length), every page's CRC, and the
 * counts (live slots, i.e. with a tag, and tombstones as the header says, with at least one
 * empty slot: probes end). Not checked here: a slot's file number and record (checked when the
 * slot is used: kd_src.key and the engine's reads). On success the table owns the mapping
 * (unmapped by cairn_kd__free); on failure NULL with *rc set (CAIRN_CORRUPT or CAIRN_NOMEM),
 * and the mapping is still the caller's. nfiles: the data files the slots may name. */
cairn_kd *cairn_kd__load_mapped(const void *map, uint64_t maplen, const uint8_t *hdr, size_t off, size_t len,
                                uint32_t nfiles, const kd_src *src, int *rc);
/* Make a mapped table private (copies it); 0 or CAIRN_NOMEM. */
int cairn_kd__own(cairn_kd *kd);

#endif
