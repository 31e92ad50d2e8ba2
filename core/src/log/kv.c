/*
 * kv.c - the Bitcask-style log key-value store of Cairn: its on-disk format (this comment) and the
 * record codec. The engine is split along its sections behind kv_internal.h (see there).
 *
 * FORMAT (version 3; version 1 and 2 files are still read). This comment is the spec;
 * docs/format-kv.md copies it with diagrams.
 * All integers are little-endian. CRC is CRC32C (Castagnoli), initial value 0.
 *
 * A store is a directory:
 *   LOCK                      the writer's flock() target (empty)
 *   <order>.data              data files (segments); <order> is 16 lowercase hex digits of a
 *                             64-bit number major << 32 | minor; files apply in ascending order
 *   <order>.hint              optional hint file of a SEALED data file (a disposable cache;
 *                             written by older versions only, read when there is no KEYDIR)
 *   KEYDIR                    optional keydir snapshot written at close (a disposable cache;
 *                             the store's one persisted index)
 *   RECLAIM                   present only between compaction's commit point and its cleanup
 *   *.tmp                     unfinished files; deleted at open (unless RECLAIM names them)
 *
 * Data file: a sequence of records, nothing else. New data files (appends and compaction outputs)
 * are version 3; a store may hold files of versions 1, 2 and 3, each file of one version (its FILE
 * record says which; version 1 files have none). Every FILE record, a version 3 file's too, has
 * the 32-byte header of versions 1 and 2 (below): a version 2 release reads the version in it
 * and answers CAIRN_VERSION instead of taking the file for damage (or for a torn tail).
 *
 * Version 3 record (a header of 6 bytes for a PUT of kind 0 (bytes) with a key of up to 32 bytes,
 * no expiry and a value under 128 bytes):
 *   size  field
 *   4     crc       CRC32C of every byte of the record after it (header, key, value)
 *   1     tag       bit 7: 1 (marks version 3: byte 4 of a version 1/2 record is 1..5); bit 6 SHORT:
 *                   SHORT 1: a PUT of kind 0 without expiry; bit 5 TXN; bits 0-4 klen - 1 (klen
 *                   1..32); no klen field follows;
 *                   SHORT 0: bits 0-1 type (0 PUT, 1 DEL, 2 COMMIT, 3 SEAL), bit 2 TXN (PUT and
 *                   DEL only), bit 3 EXP: an expiry follows (PUT only), bits 4-5 kind (PUT only)
 *   1-3   klen      (SHORT 0 only) unsigned LEB128 varint, minimal (no trailing 0x00 byte):
 *                   1..65535 for PUT and DEL, 0 for COMMIT and SEAL
 *   1-5   vlen      unsigned LEB128 varint, minimal: 0..2^30; DEL 0; COMMIT 8; SEAL 16
 *   8     expire    i64 absolute expiry, Unix ms, not 0; present only with EXP
 *   8     seq       u64; present only in COMMIT (the batch's seq) and SEAL (the store's largest
 *                   seq when sealed) (and FILE, which never has this encoding in a data file)
 *   klen  key
 *   vlen  value     COMMIT, SEAL: as in version 2 (below)
 * The header is 5 + |vlen| bytes in the short form, else 5 + |klen| + |vlen| (+ 8 with EXP, + 8
 * for COMMIT, SEAL); a SEAL record is 31 bytes, a COMMIT 23. The encoding is canonical: a record
 * the short form can hold (a PUT of kind 0 without expiry, klen <= 32) must have it, so that its
 * size follows from (kind, klen, vlen, expiry) alone. A PUT that does not, any other tag bit pattern, an overlong or out-of-range varint, EXP with expire 0 or on a
 * non-PUT, or TXN on COMMIT/SEAL makes the record invalid.
 * Sequence numbers of version 3: PUT and DEL records carry none. In a file written by appends
 * (minor 0) every commit takes the next number, starting after its FILE record's seq: a bare
 * PUT or DEL is number (previous + 1); a batch's COMMIT carries its number, which must be exactly
 * previous + 1 (else the COMMIT does not match its batch: CAIRN_CORRUPT). Compaction outputs
 * (minor != 0) number nothing: their records are live data copied without their old numbers; the
 * store's seq survives in their FILE and SEAL. The store's seq after a load is the largest of
 * the numbers and the FILE/SEAL/COMMIT seqs seen (observable in stats; snapshots, compaction and
 * the KEYDIR's identity use file orders and sizes, not seqs).
 *
 * Version 1 and 2 record (32-byte header):
 *   off size field
 *   0   4    crc       CRC32C of bytes [4, 32 + klen + vlen) of this record
 *   4   1    type      1 PUT, 2 DEL (tombstone), 3 COMMIT, 4 FILE, 5 SEAL
 *   5   1    flags     bit 0 TXN: part of a batch, applied only with its COMMIT; other bits 0
 *   6   1    kind      value kind 0..3 (cairn_kind); 0 for DEL, COMMIT, FILE, SEAL
 *   7   1    reserved  0
 *   8   4    vlen      value length (0..2^30); DEL: 0; COMMIT: 8; FILE, SEAL: 16
 *   12  2    klen      key length (1..65535); COMMIT, FILE, SEAL: 0
 *   14  2    reserved  0
 *   16  8    seq       sequence number of the commit (every record of a batch carries it);
 *                      FILE, SEAL: the store's largest seq when written (informational; in a
 *                      version 3 file FILE's seq is where the numbering of its commits starts)
 *   24  8    expire    absolute expiry, Unix ms, signed; 0 = never (PUT only)
 *   32  klen key
 *   ..  vlen value     COMMIT: u32 number of TXN records of the batch, u32 0
 *                      FILE:   u64 order of this file, u32 format version (2 or 3), u32 0
 *                      SEAL:   u64 offset of this SEAL record (the bytes before it), u64 0
 *
 * A bare write (outside a transaction) is one record with flags 0: it commits itself. A
 * transaction is written at commit as ONE contiguous append: its records with flag TXN (in
 * version 1/2 all with the batch's seq), then a COMMIT record with that seq and their count.
 * Batches never span files. Within a file written by appends, sequence numbers never decrease.
 *
 * Framing (versions 2 and 3): every data file written by version 2 or 3 starts with a FILE record (written
 * when the file is created, or before the first append into an empty file) and, once sealed,
 * ends with a SEAL record. A file is SEALED when it is not the last file, or its minor is not
 * 0 (a compaction output), or its last record is a SEAL; the last file with minor 0 that does not
 * end in a SEAL is the ACTIVE one, the only file ever appended to. Sealing writes the SEAL
 * record, trims the file (below) and fsyncs it, before the next file is created; so sealed
 * files never have a torn tail, and a sealed file is never empty. A sealed file that starts
 * with FILE must end with its SEAL: one that does not was cut short (even at a record
 * boundary, which a scan alone cannot see): CAIRN_CORRUPT. A version 1 file (no FILE record)
 * is read as before; a version 1 sealed file without a SEAL can only be checked by its hint.
 * FILE anywhere but at offset 0, a FILE naming another order, a SEAL inside a batch, a SEAL
 * whose offset is not its own, or bytes after a SEAL (other than the reserved zeros below in
 * the last file) are CAIRN_CORRUPT. A FILE with a version above 3 is CAIRN_VERSION, one with a
 * version below 2 names no file. The file's version says the encoding of its other records (2:
 * 32-byte headers, 3: version 3); a record of the other encoding, or a version 3 first record,
 * is an invalid record. A version 1 or 2 ACTIVE file left by an older release is not appended
 * to: the first append seals it (with a version 2 SEAL) and starts a version 3 file.
 *
 * Recovery (open): read files in ascending order. A record is valid if it fits in the file,
 * its CRC matches and its fields are in range. PUT/DEL with flags 0 apply at once; TXN records
 * are held until a COMMIT with the same seq and count validates, then applied in order. Apply:
 * PUT sets key -> (file, offset) unless its expiry has passed (then it acts as a DEL); DEL
 * removes the key. In a SEALED file an invalid record, or a batch without its COMMIT, is
 * CAIRN_CORRUPT naming file and offset. In the ACTIVE file an invalid record at offset X is a
 * torn tail (an interrupted append) only if NO valid record starts at any offset after X (every
 * byte offset is tried; a candidate must be of the file's encoding and, if it carries a seq, one
 * no lower than the largest seq (explicit or numbered) seen before X in that file; version 3
 * PUT and DEL candidates carry none, so for them the check is the encoding and the CRC): then
 * the log ends at X (or where X's unfinished batch began)
 * and a writer's open truncates the file there. If a valid record follows, the file was damaged
 * before its end: CAIRN_CORRUPT "bad record at offset X (valid records follow at Y)", and
 * nothing is truncated or rewritten. A batch cut off by the end of the file is a torn tail too;
 * records that are valid but misplaced (a COMMIT that does not match its batch, a batch
 * interrupted by another valid record) cannot come from an interrupted append:
 * CAIRN_CORRUPT. Read-only opens and cairn_kv_check apply the same rules and change nothing.
 * Sequence numbers resume after the largest seen. While a store is open (or after its writer
 * was killed) its ACTIVE file may end in zero bytes after the last record: blocks reserved ahead
 * of appends (below). A run of zeros from a record boundary to the end of the active (or last)
 * file is the clean end of the log, and is truncated like a torn tail. Sealed files never
 * have one: rotation and close trim the active file to its last record before the fsync.
 * (A power failure, unlike a killed process, may write an unsynced append's pages out of
 * order; a hole followed by valid records then reads as damage, and open reports CAIRN_CORRUPT
 * rather than dropping what follows.)
 *
 * Appends (not part of the format, but of its crash behaviour): the active file is mapped
 * read-write (MAP_SHARED) over the size it may reach before rotation; disk blocks are reserved
 * ahead of the end of the log in 1 MiB steps with posix_fallocate, so a full disk is a clean
 * CAIRN_NOSPC at reservation time and never a SIGBUS; a record of up to 4 KiB is stored with a
 * memcpy into the mapping (no system call), larger appends (transactions) with pwrite. Bytes in a
 * shared mapping are in the page cache at once, so a killed process loses nothing it appended,
 * as with write(); fdatasync of the file flushes them for CAIRN_SYNC_COMMIT and GROUP. While the
 * I/O layer's test hooks are on, stores go through cairn_io__pwrite so that fault injection and
 * simulated crashes see every write; the SIGKILL tests exercise the memcpy path.
 *
 * Hint file of data file D: lets open skip reading D's values. This version of the library
 * writes none (the KEYDIR is the one persisted index: storing the index twice cost a third of
 * the disk and most of close); hint files that older versions wrote (at open after a scan, at
 * close, and by compaction for its outputs) are still read when there is no valid KEYDIR, and
 * deleted with their data file. Their format:
 *   0   4  magic "CRH1"          16  8  size of D in bytes when the hint was written
 *   4   4  version 1             24  8  largest seq in D
 *   8   8  order of D
 *   32  entries, one per applied PUT/DEL in file order:
 *       u8 type, u8 kind, u16 klen, u32 vlen, u64 offset of the record in D, i64 expire, key
 *   end u32 CRC32C of everything before it
 * A hint whose CRC or order does not match is ignored and rebuilt by scanning D. A valid hint
 * whose size differs from D means a sealed file (which never changes) lost or gained bytes:
 * CAIRN_CORRUPT (a cut at a record boundary would otherwise pass a scan).
 *
 * KEYDIR (written at close, deleted by a writer's first change, durably: unlink and a
 * directory fsync, before anything else changes): the keydir's slot table, dumped as it is in
 * memory so that open does no per-key work (see keydir.h). Format 4 (H = 32 + 16 F):
 *   0  4 magic "CRK4"           12 4 number of data files F     24 8 live bytes
 *   4  4 version 4              16 8 seq                        32 F x (u64 order, u64 size)
 *   8  4 0x01020304 in HOST byte order (a snapshot from another byte order is ignored)
 *   H     40 table header: u32 capacity C, u32 slots per page P (8192), u64 live slots,
 *           u64 tombstones, u64 keys whose record has an expiry, u64 0
 *   H+40   4 CRC32C of bytes [0, H + 40)          H+44 4 zero (the slots start 8-aligned)
 *   H+48  8C the slots, u64 in HOST byte order: tag << 56 | file << 44 | record offset, where
 *           tag is the low 8 bits of the key's hash (keydir.c) forced non-zero and file is
 *           a position in the list above; 0 is an empty slot, 1 a tombstone
 *   then  ceil(C / P) x u32: CRC32C of each page of P slots (the last page shorter)
 * The table is open addressing with linear probing; a key's home slot is (hash * C) >> 32.
 * Used only if its header CRC matches, the data files on disk are exactly the listed ones with
 * the listed sizes (data files are append-only, so equal sizes mean equal contents), every page
 * CRC matches and the slots hold as many live slots (a non-zero tag) and tombstones as the
 * header says, with an empty slot left; otherwise open falls back to hints and scans (a version
 * 3 KEYDIR, "CRK3", of an older build is ignored the same way: it is a disposable cache). Open
 * maps it and uses the table in place (the page CRCs are the whole cost: no slot is proven at
 * open); the first write copies it and deletes KEYDIR; a close with no change keeps it. A
 * slot is checked when it is used: its file must exist, its record [offset, offset + header +
 * klen + vlen) must lie inside the file and decode as a PUT, a get checks the record's CRC and
 * key, a probe that meets another key with the slot's tag checks that record's CRC and that its
 * key has that tag, iteration and compaction check the CRC and the tag of every record they
 * read. A slot that fails is CAIRN_CORRUPT naming the data file (or its number, when there is
 * no such file) and the offset, never another key's value. It is written to KEYDIR.tmp and
 * renamed, without an fsync: every data file it lists is already durable when it is written
 * (sealed files are fsynced when sealed, close fsyncs the active file first), and a KEYDIR that
 * a power failure leaves torn or empty fails its CRCs and is ignored.
 *
 * Compaction (cairn_kv_compact): seal the active file; write every live, unexpired record (and
 * nothing else: no tombstone is needed, because every older record of the store is dropped with
 * it), re-encoded as a version 3 bare PUT whatever its source version, into new files "<order>.data.tmp" with orders above every input (same major, next minors),
 * each framed by its FILE and SEAL records (so that an output cut short, even at a record
 * boundary, is CAIRN_CORRUPT; older versions wrote no FILE and SEAL into outputs but a hint
 * "<order>.hint.tmp" beside each, which open still renames if a RECLAIM names it), fsync them;
 * then the ONE commit point: write the manifest RECLAIM atomically
 *   0 4 magic "CRR1", 4 4 version 1, 8 4 inputs I, 12 4 outputs O, 16 I x u64, O x u64,
 *   u32 CRC32C of everything before it;
 * then rename the outputs to their final names, unlink the inputs and their hints, fsync the
 * directory, unlink RECLAIM. Open finishes a RECLAIM it finds (idempotent: renames what is still
 * .tmp, unlinks what is left of the inputs); without RECLAIM the .tmp outputs are discarded and
 * the inputs are intact. New writes go to a new file with the next major.
 *
 * Readers beside a writer (read-only opens, cairn_kv_check): a compaction may rename or unlink
 * files between the reader's listing and its opens, and the active file may grow or be trimmed
 * to its last record while it is read. A reader treats a short read of the active file as its
 * end, re-reads a bad record of the active file once valid records were seen after it (an
 * append in progress completes it), and after loading lists the directory again: if RECLAIM
 * appeared or went, or a file it loaded is gone, it loads again (a bounded number of times,
 * then CAIRN_BUSY). Files that only appeared (newer orders: a rotation) do not matter: what
 * was loaded is an earlier state of the log.
 */
#include "kv_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- record format ------------------------------------------------------------------------ */

char *cairn_kv__file_path(const char *dir, uint64_t order, const char *ext) {
    char name[48];
    snprintf(name, sizeof name, "%016" PRIx64 ".%s", order, ext);
    return cairn_path__join(dir, name);
}

/* ---- version 1 and 2 records (32-byte header): still read; written only as the SEAL of a
 * version 1 or 2 active file that a version 3 writer retires ---- */

static void enc_hdr2(uint8_t *h, int type, int flags, int kind, uint32_t vlen, size_t klen, uint64_t seq,
                     int64_t expire) {
    memset(h, 0, HDR);
    h[4] = (uint8_t)type;
    h[5] = (uint8_t)flags;
    h[6] = (uint8_t)kind;
    cairn_put32(h + 8, vlen);
    cairn_put16(h + 12, (uint16_t)klen);
    cairn_put64(h + 16, seq);
    cairn_put64(h + 24, (uint64_t)expire);
}

static int dec_hdr2(const uint8_t *h, size_t avail, rec_hdr *r) {
    if (avail < HDR) return -1;
    r->type = h[4];
    r->flags = h[5];
    r->kind = h[6];
    r->vlen = cairn_get32(h + 8);
    r->klen = cairn_get16(h + 12);
    r->seq = cairn_get64(h + 16);
    r->expire = (int64_t)cairn_get64(h + 24);
    r->hlen = HDR;
    r->v3 = 0;
    r->has_seq = 1;
    if (h[7] || cairn_get16(h + 14) || (r->flags & ~F_TXN)) return -1;
    switch (r->type) {
    case T_PUT:
        if (r->klen == 0 || r->kind > 3 || r->vlen > CAIRN_VALUE_MAX) return -1;
        return 0;
    case T_DEL:
        if (r->klen == 0 || r->kind || r->vlen || r->expire) return -1;
        return 0;
    case T_COMMIT:
        if (r->klen || r->kind || r->vlen != 8 || r->expire || r->flags) return -1;
        return 0;
    case T_FILE:
    case T_SEAL:
        if (r->klen || r->kind || r->vlen != 16 || r->expire || r->flags) return -1;
        return 0;
    default:
        return -1;
    }
}

/* ---- version 3 records ---- */

static uint32_t varint_len(uint64_t v) {
    uint32_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* A minimal LEB128 of at most maxb bytes within [p, end): *v; the bytes it took, 0 if bad. */
static uint32_t get_varint(const uint8_t *p, const uint8_t *end, uint32_t maxb, uint64_t *v) {
    uint64_t x = 0;
    uint32_t i;
    for (i = 0; i < maxb && p + i < end; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (i > 0 && p[i] == 0) return 0; /* not minimal */
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

static int has_seq3(int type) { return type == T_COMMIT || type == T_FILE || type == T_SEAL; }

/* The short form: a PUT of kind 0 without expiry whose key is at most SHORT_KEY bytes. */
static int short3(int type, int kind, size_t klen, int64_t expire) {
    return type == T_PUT && kind == 0 && !expire && klen >= 1 && klen <= SHORT_KEY;
}

/* Type <-> the 2-bit type code of a long version 3 tag (FILE records never have this encoding). */
static const uint8_t type_of_code[4] = {T_PUT, T_DEL, T_COMMIT, T_SEAL};
static uint8_t code_of_type(int type) { return type == T_DEL ? 1 : type == T_COMMIT ? 2 : type == T_SEAL ? 3 : 0; }

uint32_t cairn_kv__hlen(int version, int type, int kind, size_t klen, size_t vlen, int64_t expire) {
    if (version < 3) return HDR;
    if (short3(type, kind, klen, expire)) return 5u + varint_len(vlen);
    return 5u + varint_len(klen) + varint_len(vlen) + (type == T_PUT && expire ? 8u : 0u) + (has_seq3(type) ? 8u : 0u);
}

size_t cairn_kv__enc_rec(uint8_t *out, int type, int flags, int kind, const void *key, size_t klen, const void *val,
                         size_t vlen, uint64_t seq, int64_t expire) {
    uint8_t *p = out + 4;
    size_t n;
    if (type != T_PUT) expire = 0;
    if (short3(type, kind, klen, expire)) {
        *p++ = (uint8_t)(V3_TAG | TAG_SHORT | (flags & F_TXN ? TAG_STXN : 0) | (klen - 1));
    } else {
        *p++ = (uint8_t)(V3_TAG | code_of_type(type) | (flags & F_TXN ? TAG_TXN : 0) | (expire ? TAG_EXP : 0) | (kind << 4));
        p = put_varint(p, klen);
    }
    p = put_varint(p, vlen);
    if (expire) {
        cairn_put64(p, (uint64_t)expire);
        p += 8;
    }
    if (has_seq3(type)) {
        cairn_put64(p, seq);
        p += 8;
    }
    if (klen) memcpy(p, key, klen);
    p += klen;
    if (vlen) memcpy(p, val, vlen);
    p += vlen;
    n = (size_t)(p - out);
    cairn_put32(out, cairn_crc32c__update(0, out + 4, n - 4));
    return n;
}

size_t cairn_kv__enc_mark(uint8_t *out, int enc, int type, uint64_t a, uint32_t b, uint64_t seq) {
    uint8_t v[16];
    cairn_put64(v, a);
    cairn_put32(v + 8, b);
    cairn_put32(v + 12, 0);
    if (enc < 3) {
        enc_hdr2(out, type, 0, 0, 16, 0, seq, 0);
        memcpy(out + HDR, v, 16);
        cairn_put32(out, cairn_crc32c__update(0, out + 4, MREC2 - 4));
        return MREC2;
    }
    return cairn_kv__enc_rec(out, type, 0, 0, NULL, 0, v, 16, seq, 0);
}

/* Parse and range-check the header at h (avail bytes readable there). 0 if plausible. */
int cairn_kv__dec_hdr(const uint8_t *h, size_t avail, rec_hdr *r) {
    const uint8_t *p = h + 5, *end = h + avail;
    uint64_t klen, vlen;
    uint32_t n;
    int tag;
    if (avail < HDR3_MIN) return -1; /* no header is shorter */
    tag = h[4];
    if (!(tag & V3_TAG)) return dec_hdr2(h, avail, r);
    r->v3 = 1;
    r->expire = 0;
    r->seq = 0;
    if (tag & TAG_SHORT) {
        r->type = T_PUT;
        r->kind = 0;
        r->flags = (tag & TAG_STXN) ? F_TXN : 0;
        klen = (uint64_t)(tag & 31) + 1;
    } else {
        r->kind = (tag >> 4) & 3;
        r->type = type_of_code[tag & 3];
        r->flags = (tag & TAG_TXN) ? F_TXN : 0;
        if (!(n = get_varint(p, end, 3, &klen)) || klen > 65535) return -1;
        p += n;
    }
    r->has_seq = has_seq3(r->type);
    if (!(n = get_varint(p, end, 5, &vlen)) || vlen > CAIRN_VALUE_MAX) return -1;
    p += n;
    r->klen = (size_t)klen;
    r->vlen = (uint32_t)vlen;
    if (!(tag & TAG_SHORT) && (tag & TAG_EXP)) {
        if (r->type != T_PUT || end - p < 8) return -1;
        r->expire = (int64_t)cairn_get64(p);
        if (!r->expire) return -1;
        p += 8;
    }
    if (r->has_seq) {
        if (end - p < 8) return -1;
        r->seq = cairn_get64(p);
        p += 8;
    }
    r->hlen = (uint32_t)(p - h);
    switch (r->type) {
    case T_PUT:
        /* canonical: a record the short form can hold must have it (one encoding per record) */
        return klen == 0 || (!(tag & TAG_SHORT) && short3(T_PUT, r->kind, (size_t)klen, r->expire)) ? -1 : 0;
    case T_DEL:
        return klen == 0 || r->kind || vlen ? -1 : 0;
    case T_COMMIT:
        return klen || r->kind || vlen != 8 || r->flags ? -1 : 0;
    case T_SEAL:
        return klen || r->kind || vlen != 16 || r->flags ? -1 : 0;
    default:
        return -1;
    }
}

/* "<16 hex>.<ext>" exactly. */
int cairn_kv__parse_name(const char *name, const char *ext, uint64_t *order) {
    size_t i;
    uint64_t v = 0;
    if (strlen(name) != 17 + strlen(ext) || name[16] != '.' || strcmp(name + 17, ext) != 0) return 0;
    for (i = 0; i < 16; i++) {
        char c = name[i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else return 0;
        v = (v << 4) | (uint64_t)d;
    }
    *order = v;
    return 1;
}
