/*
 * kv.c - the Bitcask-style log key-value store of Cairn.
 *
 * FORMAT (version 2; version 1 files are still read). This comment is the spec;
 * docs/format-kv.md copies it with diagrams.
 * All integers are little-endian. CRC is CRC32C (Castagnoli), initial value 0.
 *
 * A store is a directory:
 *   LOCK                      the writer's flock() target (empty)
 *   <order>.data              data files (segments); <order> is 16 lowercase hex digits of a
 *                             64-bit number major << 32 | minor; files apply in ascending order
 *   <order>.hint              optional hint file of a SEALED data file (a disposable cache)
 *   KEYDIR                    optional keydir snapshot written at close (a disposable cache)
 *   RECLAIM                   present only between reclaim's commit point and its cleanup
 *   *.tmp                     unfinished files; deleted at open (unless RECLAIM names them)
 *
 * Data file: a sequence of records, nothing else.
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
 *                      FILE, SEAL: the store's largest seq when written (informational)
 *   24  8    expire    absolute expiry, Unix ms, signed; 0 = never (PUT only)
 *   32  klen key
 *   ..  vlen value     COMMIT: u32 number of TXN records of the batch, u32 0
 *                      FILE:   u64 order of this file, u32 format version (2), u32 0
 *                      SEAL:   u64 offset of this SEAL record (the bytes before it), u64 0
 *
 * A bare write (outside a transaction) is one record with flags 0: it commits itself. A
 * transaction is written at commit as ONE contiguous append: its records with flag TXN and
 * the same seq, then a COMMIT record with that seq and their count. Batches never span files.
 * Within a file written by appends, sequence numbers never decrease.
 *
 * Version 2 framing: every data file written by version 2 starts with a FILE record (written
 * when the file is created, or before the first append into an empty file) and, once sealed,
 * ends with a SEAL record. A file is SEALED when it is not the last file, or its minor is not
 * 0 (a reclaim output), or its last record is a SEAL; the last file with minor 0 that does not
 * end in a SEAL is the ACTIVE one, the only file ever appended to. Sealing writes the SEAL
 * record, trims the file (below) and fsyncs it, before the next file is created; so sealed
 * files never have a torn tail, and a sealed file is never empty. A sealed file that starts
 * with FILE must end with its SEAL: one that does not was cut short (even at a record
 * boundary, which a scan alone cannot see): CAIRN_CORRUPT. A version 1 file (no FILE record)
 * is read as before; a version 1 sealed file without a SEAL can only be checked by its hint.
 * FILE anywhere but at offset 0, a FILE naming another order, a SEAL inside a batch, a SEAL
 * whose offset is not its own, or bytes after a SEAL (other than the reserved zeros below in
 * the last file) are CAIRN_CORRUPT. A FILE with a version above 2 is CAIRN_VERSION.
 *
 * Recovery (open): read files in ascending order. A record is valid if it fits in the file,
 * its CRC matches and its fields are in range. PUT/DEL with flags 0 apply at once; TXN records
 * are held until a COMMIT with the same seq and count validates, then applied in order. Apply:
 * PUT sets key -> (file, offset) unless its expiry has passed (then it acts as a DEL); DEL
 * removes the key. In a SEALED file an invalid record, or a batch without its COMMIT, is
 * CAIRN_CORRUPT naming file and offset. In the ACTIVE file an invalid record at offset X is a
 * torn tail (an interrupted append) only if NO valid record starts at any offset after X (every
 * byte offset is tried; a candidate must also carry a seq no lower than the largest valid seq
 * seen before X in that file): then the log ends at X (or where X's unfinished batch began)
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
 * Hint file of data file D (written when D is sealed: at open after a scan, at close, and by
 * reclaim for its outputs): lets open skip reading D's values.
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
 * KEYDIR (written at close, deleted by a writer's first change): the whole keydir, dumped
 * in its in-memory form so that open does no per-key work (see keydir.h):
 *   0  4 magic "CRK3"           12 4 number of data files F     24 8 live bytes
 *   4  4 version 3              16 8 seq                        32 F x (u64 order, u64 size)
 *   8  4 0x01020304 in HOST byte order (a snapshot from another byte order is ignored)
 *   then the keydir dump (keydir.h: table header, slots, tags, arena chunks; file numbers in the
 *   entries are positions in the list above), then u32 CRC32C of everything before it.
 * Used only if its CRC matches and the data files on disk are exactly the listed ones with the
 * listed sizes (data files are append-only, so equal sizes mean equal contents); otherwise open
 * falls back to hints and scans. Open maps it and uses the keydir in place (the CRC pass is the
 * whole cost); the first write copies it and deletes KEYDIR; a close with no change keeps it.
 * A matching CRC proves no consistency, so before use the load proves every ref, entry and count
 * in range (keydir.h: entries at arena boundaries and inside it, klen >= 1, kind <= 3, vlen <=
 * 2^30, the record [offset, offset + 32 + klen + vlen) inside the listed file it names; counts
 * equal to what the slots hold, an empty slot left); a KEYDIR that fails is ignored like a
 * damaged one. Entries are still checked on use: every read verifies the record's CRC, header
 * (type, klen, vlen, kind) and key, so an entry naming another key's record is CAIRN_CORRUPT.
 *
 * reclaim: seal the active file; write every live, unexpired record (and nothing else: no
 * tombstone is needed, because every older record of the store is dropped with it) into new
 * files "<order>.data.tmp" with orders above every input (same major, next minors), each
 * framed by its FILE and SEAL records, each with its hint "<order>.hint.tmp", fsync them; then
 * the ONE commit point: write RECLAIM atomically
 *   0 4 magic "CRR1", 4 4 version 1, 8 4 inputs I, 12 4 outputs O, 16 I x u64, O x u64,
 *   u32 CRC32C of everything before it;
 * then rename the outputs to their final names, unlink the inputs and their hints, fsync the
 * directory, unlink RECLAIM. Open finishes a RECLAIM it finds (idempotent: renames what is still
 * .tmp, unlinks what is left of the inputs); without RECLAIM the .tmp outputs are discarded and
 * the inputs are intact. New writes go to a new file with the next major.
 *
 * Readers beside a writer (read-only opens, cairn_kv_check): a reclaim may rename or unlink
 * files between the reader's listing and its opens, and the active file may grow or be trimmed
 * to its last record while it is read. A reader treats a short read of the active file as its
 * end, re-reads a bad record of the active file once valid records were seen after it (an
 * append in progress completes it), and after loading lists the directory again: if RECLAIM
 * appeared or went, or a file it loaded is gone, it loads again (a bounded number of times,
 * then CAIRN_BUSY). Files that only appeared (newer orders: a rotation) do not matter: what
 * was loaded is an earlier state of the log.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np: writer-preferring rwlock on glibc */
#endif
#include "keydir.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HDR 32u
#define T_PUT 1
#define T_DEL 2
#define T_COMMIT 3
#define T_FILE 4 /* first record of a version 2 data file */
#define T_SEAL 5 /* last record of a sealed version 2 data file */
#define F_TXN 1
#define MREC (HDR + 16u)     /* size of a FILE or SEAL record */
#define FORMAT_VERSION 2u
#define LOAD_TRIES 64        /* loads of a reader that keeps seeing the directory change */
#define DEFAULT_MAX_FILE ((uint64_t)64 << 20)
#define HINT_HDR 32u
#define HINT_ENT 24u
#define RESERVE_STEP ((uint64_t)1 << 20) /* disk blocks reserved ahead of the active file's end */
#define WMAP_MAX ((uint64_t)1 << 30)     /* largest read-write mapping of an active file */
#define WMAP_SMALL 4096u /* larger appends (batches) use pwrite: cheaper than page faults */

typedef struct kv_file {
    uint64_t order;
    cairn_file *f; /* NULL: free slot */
    uint64_t size;
    uint64_t hint_size; /* bytes of its hint file, 0 if none */
    int hinted;         /* a valid hint file exists for the current size */
    const uint8_t *map; /* mapping of the first maplen bytes (reads skip pread); for the active
                           file with wmap set, it is wmap */
    uint64_t maplen;
    uint8_t *wmap;      /* active file: read-write shared mapping of maplen bytes, or NULL */
    uint64_t reserved;  /* active file with wmap: bytes on disk (>= size; the tail is reserved zeros) */
    int wtried;         /* the read-write mapping was attempted (it is best effort) */
    uint64_t base;      /* bytes before its first data record (its FILE record, or 0) */
} kv_file;

typedef struct txn_op {
    uint8_t type, kind;
    uint32_t hash;
    int64_t expire;
    size_t klen, vlen;
    uint8_t *buf; /* key then value */
} txn_op;

struct cairn_kv {
    uint32_t gen; /* fork generation of the opening process (cairn_fork__foreign) */
    char *dir;
    int readonly;
    int sync;
    uint64_t max_file_size;
    cairn_lock *lock;

    pthread_rwlock_t rw;  /* keydir, files, transaction overlay */
    pthread_mutex_t wmu;  /* one writer at a time */
    pthread_mutex_t gmu;  /* group commit */
    pthread_cond_t gcv;

    cairn_kd *kd;
    kv_file *files;
    uint32_t nfiles; /* slots in use or free */
    int32_t active;  /* slot of the active file, -1: none (created at the next write) */
    uint64_t next_major;
    uint64_t seq;
    uint64_t live_bytes;
    int failed; /* fail-stop (atomic) */
    uint64_t reclaims;
    int snap_valid; /* KEYDIR on disk matches the files (nothing written since open) */
    uint8_t *ebuf;  /* record encoding buffer (writer) */
    size_t ecap;

    int in_txn;
    txn_op *ops;
    size_t nops, capops;
    uint32_t *oslots; /* op index + 1, open addressing */
    uint32_t omask;

    uint64_t written, synced; /* bytes appended / covered by an fsync (group commit) */
    int syncing;
    cairn_file *gfile;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static int is_failed(cairn_kv *kv) { return __atomic_load_n(&kv->failed, __ATOMIC_ACQUIRE); }
static void set_failed(cairn_kv *kv) { __atomic_store_n(&kv->failed, 1, __ATOMIC_RELEASE); }

static int err_failed(void) {
    return cairn_err__set(CAIRN_FAILED, "kv: the handle failed after a fatal I/O error; close and reopen it");
}

static int expired(int64_t expire, int64_t now) { return expire != 0 && expire <= now; }

static char *file_path(const char *dir, uint64_t order, const char *ext) {
    char name[48];
    snprintf(name, sizeof name, "%016" PRIx64 ".%s", order, ext);
    return cairn_path__join(dir, name);
}

static uint64_t rec_size(size_t klen, size_t vlen) { return HDR + (uint64_t)klen + vlen; }

static void enc_hdr(uint8_t *h, int type, int flags, int kind, uint32_t vlen, size_t klen, uint64_t seq,
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

/* Encode a full record into out (HDR + klen + vlen bytes). */
static void enc_rec(uint8_t *out, int type, int flags, int kind, const void *key, size_t klen, const void *val,
                    size_t vlen, uint64_t seq, int64_t expire) {
    uint32_t crc;
    enc_hdr(out, type, flags, kind, (uint32_t)vlen, klen, seq, expire);
    if (klen) memcpy(out + HDR, key, klen);
    if (vlen) memcpy(out + HDR + klen, val, vlen);
    crc = cairn_crc32c__update(0, out + 4, HDR - 4 + klen + vlen);
    cairn_put32(out, crc);
}

/* Encode a FILE (a = order, b = version) or SEAL (a = its own offset, b = 0) record. */
static void enc_mark(uint8_t *out, int type, uint64_t a, uint32_t b, uint64_t seq) {
    uint8_t v[16];
    cairn_put64(v, a);
    cairn_put32(v + 8, b);
    cairn_put32(v + 12, 0);
    enc_rec(out, type, 0, 0, NULL, 0, v, 16, seq, 0);
}

typedef struct rec_hdr {
    int type, flags, kind;
    uint32_t vlen;
    size_t klen;
    uint64_t seq;
    int64_t expire;
} rec_hdr;

/* Parse and range-check a header. 0 if plausible. */
static int dec_hdr(const uint8_t *h, rec_hdr *r) {
    r->type = h[4];
    r->flags = h[5];
    r->kind = h[6];
    r->vlen = cairn_get32(h + 8);
    r->klen = cairn_get16(h + 12);
    r->seq = cairn_get64(h + 16);
    r->expire = (int64_t)cairn_get64(h + 24);
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

/* ---- transaction overlay -------------------------------------------------------------------- */

static txn_op *txn_find(cairn_kv *kv, const void *key, size_t klen, uint32_t hash) {
    uint32_t i;
    if (!kv->oslots) return NULL;
    for (i = hash & kv->omask; kv->oslots[i]; i = (i + 1) & kv->omask) {
        txn_op *op = &kv->ops[kv->oslots[i] - 1];
        if (op->hash == hash && op->klen == klen && memcmp(op->buf, key, klen) == 0) return op;
    }
    return NULL;
}

static int txn_index(cairn_kv *kv, uint32_t cap) {
    uint32_t *s = (uint32_t *)calloc(cap, sizeof *s), i;
    if (!s) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (transaction index)");
    free(kv->oslots);
    kv->oslots = s;
    kv->omask = cap - 1;
    for (i = 0; i < kv->nops; i++) {
        uint32_t j = kv->ops[i].hash & kv->omask;
        while (s[j]) j = (j + 1) & kv->omask;
        s[j] = i + 1;
    }
    return 0;
}

static void txn_clear(cairn_kv *kv) {
    size_t i;
    for (i = 0; i < kv->nops; i++) free(kv->ops[i].buf);
    free(kv->ops);
    free(kv->oslots);
    kv->ops = NULL;
    kv->oslots = NULL;
    kv->nops = kv->capops = 0;
    kv->omask = 0;
    kv->in_txn = 0;
}

/* Record a write in the open transaction (caller holds wmu and the write lock). */
static int txn_add(cairn_kv *kv, int type, const void *key, size_t klen, uint32_t hash, const void *val,
                   size_t vlen, int kind, int64_t expire) {
    txn_op *op = txn_find(kv, key, klen, hash);
    uint8_t *buf = (uint8_t *)malloc(klen + vlen + 1);
    if (!buf) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (transaction of %zu bytes)", klen + vlen);
    memcpy(buf, key, klen);
    if (vlen) memcpy(buf + klen, val, vlen);
    if (!op) {
        if (kv->nops == kv->capops) {
            size_t nc = kv->capops ? kv->capops * 2 : 16;
            txn_op *v = (txn_op *)realloc(kv->ops, nc * sizeof *v);
            if (!v) {
                free(buf);
                return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (transaction)");
            }
            kv->ops = v;
            kv->capops = nc;
        }
        if (!kv->oslots || (kv->nops + 1) * 2 > (size_t)kv->omask + 1) {
            uint32_t cap = kv->oslots ? (kv->omask + 1) * 2 : 32;
            int rc = txn_index(kv, cap);
            if (rc) {
                free(buf);
                return rc;
            }
        }
        op = &kv->ops[kv->nops++];
        {
            uint32_t j = hash & kv->omask;
            while (kv->oslots[j]) j = (j + 1) & kv->omask;
            kv->oslots[j] = (uint32_t)kv->nops;
        }
    } else {
        free(op->buf);
    }
    op->type = (uint8_t)type;
    op->kind = (uint8_t)kind;
    op->hash = hash;
    op->expire = expire;
    op->klen = klen;
    op->vlen = vlen;
    op->buf = buf;
    return 0;
}

/* ---- files ---------------------------------------------------------------------------------- */

static int add_slot(kv_file **files, uint32_t *n, uint64_t order, cairn_file *f, uint64_t size, uint32_t *slot) {
    uint32_t i;
    kv_file *v;
    for (i = 0; i < *n; i++)
        if (!(*files)[i].f) break;
    if (i == *n) {
        if (*n >= (1u << 20) - 1) return cairn_err__set(CAIRN_RANGE, "kv: too many data files");
        v = (kv_file *)realloc(*files, (*n + 1) * sizeof *v);
        if (!v) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (file table)");
        *files = v;
        (*n)++;
    }
    memset(&(*files)[i], 0, sizeof(kv_file));
    (*files)[i].order = order;
    (*files)[i].f = f;
    (*files)[i].size = size;
    *slot = i;
    return 0;
}

/* Map a data file read-only so that reads need no system call. Best effort: without a mapping
 * reads use pread. Only bytes that never change are mapped (sealed files; the active file up to
 * its size at open), and the store only ever truncates bytes past them. A file that is already
 * shorter than what would be mapped (cut by another program) is not mapped: its reads then fail
 * cleanly with CAIRN_CORRUPT instead of raising SIGBUS. (A cut after this check still raises
 * SIGBUS on the next read of the lost pages; see cairn_kv_open in cairn.h.) */
static void map_file(kv_file *kf) {
    const void *p = NULL;
    uint64_t disk = 0;
    if (kf->map || !kf->f || kf->size == 0 || kf->size > (uint64_t)SIZE_MAX) return;
    if (cairn_io__size(kf->f, &disk) != 0 || disk < kf->size) {
        cairn_errclear();
        return;
    }
    if (cairn_io__map(kf->f, kf->size, &p) == 0) {
        kf->map = (const uint8_t *)p;
        kf->maplen = kf->size;
    } else {
        cairn_errclear();
    }
}

static void unmap_file(kv_file *kf) {
    if (kf->map) cairn_io__unmap(kf->map, kf->maplen);
    kf->map = NULL;
    kf->maplen = 0;
    kf->wmap = NULL;
}

/* Map the active file read-write over [0, max_file_size rounded up to a page) (capped at
 * WMAP_MAX), replacing its read-only mapping. Best effort: without it appends use pwrite. Records
 * that end past the mapping (a first record larger than max_file_size) are written with pwrite.
 * Caller holds wmu and not the rwlock. */
static void wmap_active(cairn_kv *kv, kv_file *af) {
    uint64_t len = (kv->max_file_size + 65535u) & ~(uint64_t)65535u, disk = 0;
    void *p = NULL;
    af->wtried = 1;
    if (len > WMAP_MAX) len = WMAP_MAX;
    if (len > (uint64_t)SIZE_MAX / 2 || cairn_io__size(af->f, &disk) != 0 ||
        cairn_io__map_rw(af->f, len, &p) != 0) {
        cairn_errclear();
        return;
    }
    pthread_rwlock_wrlock(&kv->rw);
    unmap_file(af);
    af->wmap = (uint8_t *)p;
    af->map = (const uint8_t *)p;
    af->maplen = len;
    af->reserved = disk > af->size ? disk : af->size;
    pthread_rwlock_unlock(&kv->rw);
}

/* Give the active file back its exact logical size (drop the reserved zero tail). Caller holds
 * wmu. */
static int trim_active(kv_file *af) {
    int rc;
    if (!af->wmap || af->reserved <= af->size) return 0;
    if ((rc = cairn_io__truncate(af->f, af->size)) != 0) return rc;
    af->reserved = af->size;
    return 0;
}

/* Write the FILE record into the empty active file (a new one, or one left empty by a killed
 * writer). Not synced: if it is lost the file is empty again and gets it at the next append.
 * Caller holds wmu. */
static int file_rec(cairn_kv *kv, kv_file *af) {
    uint8_t r[MREC];
    int rc;
    enc_mark(r, T_FILE, af->order, FORMAT_VERSION, kv->seq);
    if ((rc = cairn_io__pwrite(af->f, r, MREC, 0)) != 0) {
        if (cairn_io__truncate(af->f, 0) != 0) set_failed(kv);
        return rc;
    }
    pthread_rwlock_wrlock(&kv->rw);
    af->size = MREC;
    af->base = MREC;
    if (af->reserved < MREC) af->reserved = MREC;
    pthread_rwlock_unlock(&kv->rw);
    return 0;
}

/* Create the next active data file (caller holds wmu). */
static int new_active(cairn_kv *kv) {
    uint64_t order = kv->next_major << 32;
    char *p = file_path(kv->dir, order, "data");
    cairn_file *f = NULL;
    uint32_t slot;
    int rc;
    if (!p) return CAIRN_NOMEM;
    rc = cairn_io__open(&f, p, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_EXCL);
    if (!rc) rc = cairn_io__sync_dir(kv->dir);
    if (rc) {
        if (f) {
            cairn_io__close(f);
            (void)cairn_io__unlink(p);
        }
        free(p);
        return rc;
    }
    pthread_rwlock_wrlock(&kv->rw);
    rc = add_slot(&kv->files, &kv->nfiles, order, f, 0, &slot);
    if (!rc) kv->active = (int32_t)slot;
    pthread_rwlock_unlock(&kv->rw);
    if (rc) {
        cairn_io__close(f);
        (void)cairn_io__unlink(p);
        free(p);
        return rc;
    }
    free(p);
    kv->next_major++;
    return file_rec(kv, &kv->files[slot]);
}

/* Seal the active file: fsync it (always, whatever the sync mode: sealed files never have a torn
 * tail) and stop appending to it. Caller holds wmu. */
static int seal_active(cairn_kv *kv) {
    kv_file *af;
    uint8_t r[MREC];
    int rc;
    if (kv->active < 0) return 0;
    af = &kv->files[kv->active];
    /* the SEAL record says where the file ends: a sealed file cut short, even at a record
     * boundary, lacks it */
    enc_mark(r, T_SEAL, af->size, 0, kv->seq);
    if ((rc = cairn_io__pwrite(af->f, r, MREC, af->size)) != 0) {
        if (cairn_io__truncate(af->f, af->size) != 0) set_failed(kv);
        else af->reserved = af->size;
        return rc;
    }
    pthread_rwlock_wrlock(&kv->rw);
    af->size += MREC;
    if (af->reserved < af->size) af->reserved = af->size;
    pthread_rwlock_unlock(&kv->rw);
    /* sealed files keep their exact size (hints and KEYDIR record it): drop the reserved tail */
    if ((rc = trim_active(af)) != 0) {
        set_failed(kv); /* the SEAL is written: appending after it would be damage */
        return rc;
    }
    if ((rc = cairn_io__fsync(kv->files[kv->active].f)) != 0) {
        set_failed(kv);
        return rc;
    }
    pthread_mutex_lock(&kv->gmu);
    kv->synced = kv->written;
    pthread_mutex_unlock(&kv->gmu);
    pthread_rwlock_wrlock(&kv->rw);
    unmap_file(&kv->files[kv->active]); /* sealed: map all of it */
    map_file(&kv->files[kv->active]);
    pthread_rwlock_unlock(&kv->rw);
    kv->active = -1;
    return 0;
}

static int drop_snapshot(cairn_kv *kv);

/* Append len bytes to the active file (rotating first if it would pass max_file_size).
 * slot and off receive where they went. A failed write is undone with a truncate; if even that
 * fails the file state is unknown and the handle fails. Caller holds wmu; on success append
 * returns holding the write lock (the caller indexes the records, then unlocks). */
static int append(cairn_kv *kv, const uint8_t *buf, size_t len, uint32_t *slot, uint64_t *off) {
    kv_file *af;
    int rc;
    if ((rc = drop_snapshot(kv)) != 0) return rc;
    if (kv->active >= 0 && kv->files[kv->active].size > kv->files[kv->active].base &&
        kv->files[kv->active].size + len > kv->max_file_size) {
        if ((rc = seal_active(kv)) != 0) return rc;
    }
    if (kv->active < 0 && (rc = new_active(kv)) != 0) return rc;
    af = &kv->files[kv->active];
    if (af->size == 0 && (rc = file_rec(kv, af)) != 0) return rc;
    if (!af->wtried) wmap_active(kv, af);
    if (af->wmap && len <= WMAP_SMALL && af->size + len <= af->maplen) {
        /* store into the shared mapping; blocks are reserved first, in large steps, so that a
         * full disk is a clean error here and never a SIGBUS on the store */
        if (af->size + len > af->reserved) {
            uint64_t to = (af->size + len + RESERVE_STEP - 1) / RESERVE_STEP * RESERVE_STEP;
            if (to > af->maplen) to = af->maplen;
            rc = cairn_io__reserve(af->f, af->reserved, to - af->reserved);
            if (!rc) af->reserved = to;
        }
        if (!rc) rc = cairn_io__mwrite(af->f, af->wmap, buf, len, af->size);
    } else {
        rc = cairn_io__pwrite(af->f, buf, len, af->size);
    }
    if (rc) {
        int saved = cairn_errcode();
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        if (cairn_io__truncate(af->f, af->size) != 0) set_failed(kv);
        else af->reserved = af->size;
        return cairn_err__set(saved ? saved : rc, "%s", msg);
    }
    if (af->size + len > af->reserved) af->reserved = af->size + len;
    *slot = (uint32_t)kv->active;
    *off = af->size;
    pthread_mutex_lock(&kv->gmu);
    kv->written += len;
    kv->gfile = af->f;
    pthread_mutex_unlock(&kv->gmu);
    /* returns holding the write lock: the caller indexes what it wrote in the same section */
    pthread_rwlock_wrlock(&kv->rw);
    af->size += len;
    af->hinted = 0;
    return 0;
}

/* A buffer for encoding records: the handle's own one up to 1 MiB (caller holds wmu), else a
 * new one. Give it back with ebuf_done. */
static uint8_t *ebuf_get(cairn_kv *kv, size_t n) {
    if (n > ((size_t)1 << 20)) return (uint8_t *)malloc(n);
    if (n > kv->ecap) {
        size_t nc = kv->ecap ? kv->ecap : 4096;
        uint8_t *v;
        while (nc < n) nc *= 2;
        if (!(v = (uint8_t *)realloc(kv->ebuf, nc))) return NULL;
        kv->ebuf = v;
        kv->ecap = nc;
    }
    return kv->ebuf;
}

static void ebuf_done(cairn_kv *kv, uint8_t *p) {
    if (p != kv->ebuf) free(p);
}

/* Group commit: wait until an fsync covers `target` bytes; become the leader if none runs. */
static int group_wait(cairn_kv *kv, uint64_t target) {
    int rc = 0;
    pthread_mutex_lock(&kv->gmu);
    for (;;) {
        if (kv->synced >= target) break;
        if (is_failed(kv)) {
            rc = err_failed();
            break;
        }
        if (!kv->syncing) {
            cairn_file *f = kv->gfile;
            uint64_t t = kv->written;
            if (!f) {
                /* detached (group_detach): everything written was synced by the one who
                 * detached it, and no leader may hold a file any more */
                kv->synced = t;
                continue;
            }
            kv->syncing = 1;
            pthread_mutex_unlock(&kv->gmu);
            rc = cairn_io__fsync(f);
            pthread_mutex_lock(&kv->gmu);
            kv->syncing = 0;
            if (rc) set_failed(kv);
            else if (t > kv->synced) kv->synced = t;
            pthread_cond_broadcast(&kv->gcv);
            if (rc) break;
            continue;
        }
        pthread_cond_wait(&kv->gcv, &kv->gmu);
    }
    pthread_mutex_unlock(&kv->gmu);
    return rc;
}

/* Wait for a running group fsync to finish. */
static void group_quiesce(cairn_kv *kv) {
    pthread_mutex_lock(&kv->gmu);
    while (kv->syncing) pthread_cond_wait(&kv->gcv, &kv->gmu);
    pthread_mutex_unlock(&kv->gmu);
}

/* Before any data file is closed: a group-commit leader copies kv->gfile under gmu and fsyncs it
 * outside, so wait until no leader runs and take the file away from later ones, in one critical
 * section. Later leaders find no file and have nothing to sync (the caller synced everything:
 * sealed the active file or is closing). Caller holds wmu, so nothing is appended meanwhile. */
static void group_detach(cairn_kv *kv) {
    pthread_mutex_lock(&kv->gmu);
    while (kv->syncing) pthread_cond_wait(&kv->gcv, &kv->gmu);
    kv->gfile = NULL;
    pthread_mutex_unlock(&kv->gmu);
}

/* ---- applying records to the keydir --------------------------------------------------------- */

typedef struct hintbuf {
    uint8_t *p;
    size_t n, cap;
    uint64_t max_seq;
} hintbuf;

static int hb_add(hintbuf *hb, int type, int kind, const void *key, size_t klen, uint32_t vlen, uint64_t off,
                  int64_t expire) {
    uint8_t *e;
    if (hb->n + HINT_ENT + klen > hb->cap) {
        size_t nc = hb->cap ? hb->cap * 2 : 4096;
        uint8_t *v;
        while (nc < hb->n + HINT_ENT + klen) nc *= 2;
        if (!(v = (uint8_t *)realloc(hb->p, nc))) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (hint)");
        hb->p = v;
        hb->cap = nc;
    }
    e = hb->p + hb->n;
    e[0] = (uint8_t)type;
    e[1] = (uint8_t)kind;
    cairn_put16(e + 2, (uint16_t)klen);
    cairn_put32(e + 4, vlen);
    cairn_put64(e + 8, off);
    cairn_put64(e + 16, (uint64_t)expire);
    memcpy(e + HINT_ENT, key, klen);
    hb->n += HINT_ENT + klen;
    return 0;
}

/* Apply one committed PUT/DEL found at (slot, off) to the keydir (open and write paths). */
static int apply(cairn_kv *kv, cairn_kd *kd, uint32_t slot, uint64_t off, int type, int kind, const void *key,
                 size_t klen, uint32_t hash, uint32_t vlen, int64_t expire, int64_t now) {
    kd_ent old;
    int rc;
    if (type == T_PUT && !expired(expire, now)) {
        rc = cairn_kd__put(kd, key, klen, hash, KD_LOC(slot, off), vlen, kind, expire, &old);
        if (rc < 0) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (keydir)");
        kv->live_bytes += rec_size(klen, vlen);
    } else {
        rc = cairn_kd__del(kd, key, klen, hash, &old);
        if (rc < 0) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (keydir)");
    }
    if (rc == 1) kv->live_bytes -= rec_size(old.klen, old.vlen);
    return 0;
}

/* ---- scanning a data file ------------------------------------------------------------------- */

#define RDR_CHUNK ((size_t)1 << 20)
#define RDR_CHUNK_SNAP ((size_t)1 << 20)

typedef struct rdr {
    cairn_file *f;
    uint64_t size;
    uint8_t *buf;
    size_t cap;
    uint64_t boff;
    size_t blen;
    int shrink_ok; /* the file may be trimmed while read (the active file beside a live writer) */
} rdr;

#define KV_SHRANK 1    /* rdr_get: the file ended earlier than r->size (r->size now says where) */
#define KV_RETRY 1000  /* internal: what was read changed under a reader: load again */

/* Make [off, off+n) of the file available in the window (caller checked off+n <= size). A short
 * read is CAIRN_CORRUPT, or with shrink_ok KV_SHRANK with r->size moved to the real end. */
static int rdr_get(rdr *r, uint64_t off, size_t n, const uint8_t **p) {
    size_t want, got = 0;
    int rc;
    if (off >= r->boff && off + n <= r->boff + r->blen) {
        *p = r->buf + (off - r->boff);
        return 0;
    }
    want = n > RDR_CHUNK ? n : RDR_CHUNK;
    if (off + want > r->size) want = (size_t)(r->size - off);
    if (want > r->cap) {
        uint8_t *v = (uint8_t *)realloc(r->buf, want);
        if (!v) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory reading %s", cairn_io__path(r->f));
        r->buf = v;
        r->cap = want;
    }
    if ((rc = cairn_io__pread(r->f, r->buf, want, off, &got)) != 0) return rc;
    r->boff = off;
    r->blen = got;
    if (got < n) {
        if (r->shrink_ok) {
            /* trimmed by its writer: only reserved zeros past the end of its log go */
            r->size = off + got;
            return KV_SHRANK;
        }
        return cairn_err__set(CAIRN_CORRUPT, "%s: file shrank while reading at offset %" PRIu64, cairn_io__path(r->f),
                              off);
    }
    *p = r->buf;
    return 0;
}

typedef struct pend {
    uint64_t off;
    int type, kind;
    uint32_t vlen;
    size_t klen, kpos;
    int64_t expire;
} pend;

/* *zero = 1 if bytes [pos, r->size) are all zero (the reserved tail of an active file). */
static int tail_is_zero(rdr *r, uint64_t pos, int *zero) {
    *zero = 1;
    while (pos < r->size) {
        size_t n = r->size - pos < RDR_CHUNK ? (size_t)(r->size - pos) : RDR_CHUNK, i;
        const uint8_t *b;
        int rc = rdr_get(r, pos, n, &b);
        if (rc == KV_SHRANK) continue;
        if (rc) return rc;
        for (i = 0; i < n; i++)
            if (b[i]) {
                *zero = 0;
                return 0;
            }
        pos += n;
    }
    return 0;
}

/* Is a valid record at pos (fits in the file, fields in range, CRC matches, seq >= min_seq)?
 * 1 yes, 0 no, <0 error. */
static int valid_at(rdr *r, uint64_t pos, uint64_t min_seq) {
    const uint8_t *h;
    rec_hdr rh;
    uint64_t rs;
    int rc;
    if (r->size - pos < HDR) return 0;
    if ((rc = rdr_get(r, pos, HDR, &h)) != 0) return rc == KV_SHRANK ? 0 : rc;
    if (h[4] < T_PUT || h[4] > T_SEAL || dec_hdr(h, &rh) != 0 || rh.seq < min_seq) return 0;
    rs = rec_size(rh.klen, rh.vlen);
    if (rs > r->size - pos) return 0;
    if ((rc = rdr_get(r, pos, (size_t)rs, &h)) != 0) return rc == KV_SHRANK ? 0 : rc;
    return cairn_crc32c__update(0, h + 4, (size_t)rs - 4) == cairn_get32(h);
}

/* A bad record at `bad`: is it a torn tail? Look for any valid record starting after it. *at is
 * its offset, or 0 if none. */
static int valid_after(rdr *r, uint64_t bad, uint64_t min_seq, uint64_t *at) {
    uint64_t p;
    int rc;
    *at = 0;
    for (p = bad + 1; p < r->size && r->size - p >= HDR; p++) {
        if ((rc = valid_at(r, p, min_seq)) < 0) return rc;
        if (rc == 1) {
            *at = p;
            return 0;
        }
    }
    return 0;
}

typedef struct scan_res {
    uint64_t end;  /* end of the log (active file: where a torn tail begins) */
    int has_file;  /* starts with a FILE record (a version 2 file) */
    int sealed;    /* ends with a SEAL record */
} scan_res;

/* Scan data file `slot`. is_active: it may end in a torn tail or reserved zeros (the last file
 * with minor 0); the log then ends before them (res->end). Everything else is CAIRN_CORRUPT.
 * In a read-only load a bad record of the active file that valid records follow is read again:
 * if it changed, an append was in progress (KV_RETRY). */
static int scan_file(cairn_kv *kv, uint32_t slot, int is_active, int do_apply, hintbuf *hb, scan_res *res) {
    kv_file *kf = &kv->files[slot];
    rdr r;
    uint64_t pos = 0, bstart = 0, max_seq = 0;
    pend *pv = NULL;
    size_t np = 0, cp = 0;
    uint8_t *keys = NULL;
    size_t nk = 0, ck = 0;
    uint64_t bseq = 0;
    int64_t now = cairn_time__now_ms();
    int rc = 0, torn = 0; /* torn: `why` may be an interrupted append */
    const char *why = NULL;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    r.f = kf->f;
    r.size = kf->size;
    r.shrink_ok = is_active && kv->readonly;
    while (pos < r.size) {
        const uint8_t *h;
        rec_hdr rh;
        uint64_t rs;
        if (is_active) {
            /* zeros from the end of the log to the end of the file are the blocks reserved ahead
             * of appends (see cairn_io__reserve): the clean end of the log, not damage */
            size_t n = r.size - pos < HDR ? (size_t)(r.size - pos) : HDR, i;
            if ((rc = rdr_get(&r, pos, n, &h)) == KV_SHRANK) continue;
            if (rc) goto out;
            for (i = 0; i < n && !h[i]; i++) {
            }
            if (i == n) {
                int zero;
                if ((rc = tail_is_zero(&r, pos, &zero)) != 0) goto out;
                if (zero) break;
            }
        }
        torn = 1;
        if (r.size - pos < HDR) {
            why = "truncated record header";
            break;
        }
        if ((rc = rdr_get(&r, pos, HDR, &h)) == KV_SHRANK) continue;
        if (rc) goto out;
        if (dec_hdr(h, &rh) != 0) {
            why = "invalid record header";
            break;
        }
        rs = rec_size(rh.klen, rh.vlen);
        if (rs > r.size - pos) {
            why = "record runs past the end of the file";
            break;
        }
        if ((rc = rdr_get(&r, pos, (size_t)rs, &h)) == KV_SHRANK) continue;
        if (rc) goto out;
        if (cairn_crc32c__update(0, h + 4, (size_t)rs - 4) != cairn_get32(h)) {
            why = "checksum mismatch";
            break;
        }
        torn = 0; /* a valid record: what is wrong with it from here on is not a torn write */
        if (rh.seq > kv->seq) kv->seq = rh.seq;
        if (rh.seq > max_seq) max_seq = rh.seq;
        if (hb && rh.seq > hb->max_seq) hb->max_seq = rh.seq;
        if (rh.type == T_FILE) {
            uint32_t ver = cairn_get32(h + HDR + 8);
            if (pos != 0) {
                why = "file record in the middle of the file";
                break;
            }
            if (ver > FORMAT_VERSION) {
                rc = cairn_err__set(CAIRN_VERSION, "%s: data file format version %u (this library reads up to %u)",
                                    cairn_io__path(kf->f), ver, FORMAT_VERSION);
                goto out;
            }
            if (cairn_get64(h + HDR) != kf->order || ver != FORMAT_VERSION || cairn_get32(h + HDR + 12) != 0) {
                why = "file record does not name this file";
                break;
            }
            res->has_file = 1;
        } else if (rh.type == T_SEAL) {
            if (np) {
                why = "seal record inside a batch";
                break;
            }
            if (cairn_get64(h + HDR) != pos || cairn_get64(h + HDR + 8) != 0) {
                why = "seal record does not match its offset";
                break;
            }
            pos += rs;
            res->sealed = 1;
            if (pos < r.size) {
                int zero = 0;
                /* only the last file may have reserved zeros after it (a writer killed between
                 * sealing and trimming) */
                if (is_active && (rc = tail_is_zero(&r, pos, &zero)) != 0) goto out;
                if (!zero) why = "data after the seal record";
            }
            break;
        } else if (rh.type == T_COMMIT) {
            if (np == 0 || rh.seq != bseq || cairn_get32(h + HDR) != np || cairn_get32(h + HDR + 4) != 0) {
                why = np ? "commit record does not match its batch" : "commit record without a batch";
                break;
            }
            {
                size_t i;
                for (i = 0; i < np; i++) {
                    const uint8_t *k = keys + pv[i].kpos;
                    if (do_apply && (rc = apply(kv, kv->kd, slot, pv[i].off, pv[i].type, pv[i].kind, k, pv[i].klen,
                                                cairn_kd__hash(k, pv[i].klen), pv[i].vlen, pv[i].expire, now)) != 0)
                        goto out;
                    if (hb && (rc = hb_add(hb, pv[i].type, pv[i].kind, k, pv[i].klen, pv[i].vlen, pv[i].off,
                                           pv[i].expire)) != 0)
                        goto out;
                }
            }
            np = nk = 0;
        } else if (rh.flags & F_TXN) {
            if (np && rh.seq != bseq) {
                why = "batch without its commit record";
                break;
            }
            if (!np) {
                bstart = pos;
                bseq = rh.seq;
            }
            if (np == cp) {
                size_t nc = cp ? cp * 2 : 64;
                pend *v = (pend *)realloc(pv, nc * sizeof *v);
                if (!v) {
                    rc = cairn_err__set(CAIRN_NOMEM, "kv: out of memory (recovery)");
                    goto out;
                }
                pv = v;
                cp = nc;
            }
            if (nk + rh.klen > ck) {
                size_t nc = ck ? ck * 2 : 4096;
                uint8_t *v;
                while (nc < nk + rh.klen) nc *= 2;
                if (!(v = (uint8_t *)realloc(keys, nc))) {
                    rc = cairn_err__set(CAIRN_NOMEM, "kv: out of memory (recovery)");
                    goto out;
                }
                keys = v;
                ck = nc;
            }
            memcpy(keys + nk, h + HDR, rh.klen);
            pv[np].off = pos;
            pv[np].type = rh.type;
            pv[np].kind = rh.kind;
            pv[np].vlen = rh.vlen;
            pv[np].klen = rh.klen;
            pv[np].kpos = nk;
            pv[np].expire = rh.expire;
            np++;
            nk += rh.klen;
        } else {
            if (np) {
                why = "batch without its commit record";
                break;
            }
            if (do_apply && (rc = apply(kv, kv->kd, slot, pos, rh.type, rh.kind, h + HDR, rh.klen,
                                        cairn_kd__hash(h + HDR, rh.klen), rh.vlen, rh.expire, now)) != 0)
                goto out;
            if (hb && (rc = hb_add(hb, rh.type, rh.kind, h + HDR, rh.klen, rh.vlen, pos, rh.expire)) != 0) goto out;
        }
        pos += rs;
    }
    rc = 0; /* (a KV_SHRANK that ended the loop) */
    if (why && is_active && torn) {
        /* a torn tail only if no valid record follows: an append never writes past one that
         * did not complete, so a valid record after the bad one means damage */
        uint8_t first[64];
        size_t fn = r.size - pos < sizeof first ? (size_t)(r.size - pos) : sizeof first;
        uint64_t at = 0;
        const uint8_t *b = NULL;
        if (fn && (rc = rdr_get(&r, pos, fn, &b)) != 0) {
            if (rc != KV_SHRANK) goto out;
            fn = 0; /* it went: that is a trim of reserved zeros */
        }
        if (fn) memcpy(first, b, fn);
        if ((rc = valid_after(&r, pos, max_seq, &at)) != 0) goto out;
        if (at) {
            if (kv->readonly && fn) {
                /* beside a live writer the bad record may be an append in progress that our read
                 * caught half done; the later record proves the append finished: read it again */
                uint8_t again[64];
                size_t got = 0;
                if ((rc = cairn_io__pread(kf->f, again, fn, pos, &got)) != 0) goto out;
                if (got != fn || memcmp(again, first, fn) != 0) {
                    rc = KV_RETRY;
                    goto out;
                }
            }
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: %s at offset %" PRIu64 " (valid records follow at %" PRIu64 ")",
                                cairn_io__path(kf->f), why, pos, at);
            goto out;
        }
        why = NULL; /* torn tail: the log ends here (or where its batch began) */
        if (np) pos = bstart;
        np = 0;
    }
    if (why) {
        rc = cairn_err__set(CAIRN_CORRUPT, "%s: %s at offset %" PRIu64, cairn_io__path(kf->f), why, pos);
        goto out;
    }
    if (np) {
        /* a batch cut off by the end of the file */
        if (!is_active) {
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: batch without its commit record at offset %" PRIu64,
                                cairn_io__path(kf->f), bstart);
            goto out;
        }
        pos = bstart;
    }
    if (!is_active || res->sealed) {
        /* a sealed file: it never is empty, and a version 2 one ends with its SEAL */
        if (pos == 0) {
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: sealed data file is empty", cairn_io__path(kf->f));
            goto out;
        }
        if (res->has_file && !res->sealed) {
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: sealed data file has no seal record (cut short at offset %" PRIu64 ")",
                                cairn_io__path(kf->f), pos);
            goto out;
        }
    }
    if (r.size < kf->size) kf->size = r.size;
    res->end = pos;
out:
    free(r.buf);
    free(pv);
    free(keys);
    return rc;
}

/* ---- hint files ----------------------------------------------------------------------------- */

static int write_hint(const char *dir, kv_file *kf, hintbuf *hb, const char *ext) {
    char *p = file_path(dir, kf->order, ext);
    uint8_t *buf;
    size_t len = HINT_HDR + hb->n + 4;
    int rc;
    if (!p) return CAIRN_NOMEM;
    if (!(buf = (uint8_t *)malloc(len))) {
        free(p);
        return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (hint)");
    }
    memcpy(buf, "CRH1", 4);
    cairn_put32(buf + 4, 1);
    cairn_put64(buf + 8, kf->order);
    cairn_put64(buf + 16, kf->size);
    cairn_put64(buf + 24, hb->max_seq);
    if (hb->n) memcpy(buf + HINT_HDR, hb->p, hb->n);
    cairn_put32(buf + len - 4, cairn_crc32c__update(0, buf, len - 4));
    rc = cairn_io__write_atomic(p, buf, len);
    free(buf);
    free(p);
    if (!rc) {
        kf->hinted = 1;
        kf->hint_size = len;
    }
    return rc;
}

/* Validate the hint of `slot` fully, then apply it. 1 if applied, 0 if missing or invalid. */
static int load_hint(cairn_kv *kv, uint32_t slot, int apply_it, int *applied) {
    kv_file *kf = &kv->files[slot];
    char *p = file_path(kv->dir, kf->order, "hint");
    void *data = NULL;
    size_t len = 0, pos;
    const uint8_t *b;
    int64_t now = cairn_time__now_ms();
    int rc;
    *applied = 0;
    if (!p) return CAIRN_NOMEM;
    rc = cairn_io__stat(p, NULL);
    if (rc != 1) {
        free(p);
        return rc < 0 ? rc : 0;
    }
    rc = cairn_io__read_all(p, &data, &len);
    free(p);
    if (rc == CAIRN_NOMEM) return rc;
    if (rc) {
        cairn_errclear();
        return 0;
    }
    b = (const uint8_t *)data;
    if (len < HINT_HDR + 4 || memcmp(b, "CRH1", 4) || cairn_get32(b + 4) != 1 || cairn_get64(b + 8) != kf->order ||
        cairn_crc32c__update(0, b, len - 4) != cairn_get32(b + len - 4))
        goto bad;
    if (cairn_get64(b + 16) != kf->size) {
        /* a valid hint of a sealed file that changed size: sealed files never change, so bytes
         * were lost (or added) behind our back; a cut at a record boundary would pass a scan */
        rc = cairn_err__set(CAIRN_CORRUPT, "%s: sealed data file is %" PRIu64 " bytes, its hint says %" PRIu64,
                            cairn_io__path(kf->f), kf->size, cairn_get64(b + 16));
        free(data);
        return rc;
    }
    for (pos = HINT_HDR; pos < len - 4;) {
        size_t klen;
        uint64_t off;
        uint32_t vlen;
        if (len - 4 - pos < HINT_ENT) goto bad;
        klen = cairn_get16(b + pos + 2);
        vlen = cairn_get32(b + pos + 4);
        off = cairn_get64(b + pos + 8);
        if (klen == 0 || len - 4 - pos - HINT_ENT < klen || (b[pos] != T_PUT && b[pos] != T_DEL) || b[pos + 1] > 3 ||
            vlen > CAIRN_VALUE_MAX || off + rec_size(klen, vlen) > kf->size)
            goto bad;
        pos += HINT_ENT + klen;
    }
    if (!apply_it) goto bad; /* (check mode: only the size comparison above matters) */
    for (pos = HINT_HDR; pos < len - 4;) {
        size_t klen = cairn_get16(b + pos + 2);
        const uint8_t *k = b + pos + HINT_ENT;
        if ((rc = apply(kv, kv->kd, slot, cairn_get64(b + pos + 8), b[pos], b[pos + 1], k, klen, cairn_kd__hash(k, klen),
                        cairn_get32(b + pos + 4), (int64_t)cairn_get64(b + pos + 16), now)) != 0) {
            free(data);
            return rc;
        }
        pos += HINT_ENT + klen;
    }
    if (cairn_get64(b + 24) > kv->seq) kv->seq = cairn_get64(b + 24);
    kf->hinted = 1;
    kf->hint_size = len;
    *applied = 1;
    free(data);
    return 0;
bad:
    free(data);
    return 0;
}

/* After a snapshot load: note which sealed files already have a hint (header check only), so
 * close does not rescan them. A bad body is found and rebuilt by the next open that needs it. */
static void probe_hint(cairn_kv *kv, uint32_t slot) {
    kv_file *kf = &kv->files[slot];
    char *p = file_path(kv->dir, kf->order, "hint");
    cairn_file *f = NULL;
    uint8_t h[HINT_HDR];
    uint64_t size = 0;
    if (!p) return;
    if (cairn_io__stat(p, NULL) == 1 && cairn_io__open(&f, p, CAIRN_IO_RDONLY) == 0 &&
        cairn_io__pread(f, h, HINT_HDR, 0, NULL) == 0 && cairn_io__size(f, &size) == 0 &&
        memcmp(h, "CRH1", 4) == 0 && cairn_get64(h + 8) == kf->order && cairn_get64(h + 16) == kf->size) {
        kf->hinted = 1;
        kf->hint_size = size;
    }
    cairn_io__close(f);
    free(p);
    cairn_errclear();
}

/* ---- KEYDIR snapshot ------------------------------------------------------------------------ */

#define SNAP_HDR 32u
#define SNAP_ENDIAN 0x01020304u

typedef struct snap_io {
    cairn_file *f;
    uint64_t off, limit;
    uint32_t crc;
    uint8_t *buf; /* write side: buffered */
    size_t blen;
} snap_io;

static int snap_flush(snap_io *s) {
    int rc;
    if (!s->blen) return 0;
    if ((rc = cairn_io__pwrite(s->f, s->buf, s->blen, s->off)) != 0) return rc;
    s->off += s->blen;
    s->blen = 0;
    return 0;
}

static int snap_write(void *ctx, void *p, size_t n) {
    snap_io *s = (snap_io *)ctx;
    int rc;
    s->crc = cairn_crc32c__update(s->crc, p, n);
    if (s->blen + n > RDR_CHUNK_SNAP) {
        if ((rc = snap_flush(s)) != 0) return rc;
        if (n > RDR_CHUNK_SNAP) {
            if ((rc = cairn_io__pwrite(s->f, p, n, s->off)) != 0) return rc;
            s->off += n;
            return 0;
        }
    }
    memcpy(s->buf + s->blen, p, n);
    s->blen += n;
    return 0;
}

typedef struct remap_ctx {
    const uint32_t *slot_to_idx; /* nfiles entries */
    uint32_t nfiles;
} remap_ctx;

/* (Entries name files in use: a loaded KEYDIR was proven so, and every other entry was made by
 * this handle. The check costs nothing at close and keeps a bug from writing out of bounds.) */
static int remap_one(void *vctx, kd_ent *e) {
    const remap_ctx *c = (const remap_ctx *)vctx;
    uint64_t loc = kd_loc(e);
    if (KD_LOC_FILE(loc) >= c->nfiles)
        return cairn_err__set(CAIRN_CORRUPT, "kv: keydir entry names data file #%u of %u (no KEYDIR written)",
                              KD_LOC_FILE(loc), c->nfiles);
    kd_set_loc(e, KD_LOC(c->slot_to_idx[KD_LOC_FILE(loc)], KD_LOC_OFF(loc)));
    return 0;
}

/* Slots in use sorted by order (malloc'd; *n set). */
static uint32_t *sorted_slots(cairn_kv *kv, uint32_t *n) {
    uint32_t i, k = 0, j;
    uint32_t *v = (uint32_t *)malloc((kv->nfiles + 1) * sizeof *v);
    if (!v) return NULL;
    for (i = 0; i < kv->nfiles; i++)
        if (kv->files[i].f) v[k++] = i;
    /* insertion sort: few files */
    for (i = 1; i < k; i++) {
        uint32_t x = v[i];
        for (j = i; j > 0 && kv->files[v[j - 1]].order > kv->files[x].order; j--) v[j] = v[j - 1];
        v[j] = x;
    }
    *n = k;
    return v;
}

/* Write KEYDIR (at close only: the keydir's file numbers are rewritten to positions in the
 * sorted file list, which is how open numbers them). Same protocol as cairn_io__write_atomic. */
static int write_snapshot(cairn_kv *kv) {
    uint32_t n = 0, i;
    uint32_t *order = sorted_slots(kv, &n), *slot_to_idx = NULL;
    char *p = cairn_path__join(kv->dir, "KEYDIR"), *tmp = cairn_path__join(kv->dir, "KEYDIR.tmp");
    snap_io s;
    uint8_t h[SNAP_HDR], fe[16], c4[4];
    remap_ctx rc_;
    int rc;
    memset(&s, 0, sizeof s);
    if (!order || !p || !tmp || !(slot_to_idx = (uint32_t *)calloc(kv->nfiles + 1, sizeof(uint32_t))) ||
        !(s.buf = (uint8_t *)malloc(RDR_CHUNK_SNAP))) {
        rc = CAIRN_NOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) slot_to_idx[order[i]] = i;
    if ((rc = cairn_kd__own(kv->kd)) != 0) goto out; /* the remap below writes entries */
    rc_.slot_to_idx = slot_to_idx;
    rc_.nfiles = kv->nfiles;
    if ((rc = cairn_kd__each(kv->kd, remap_one, &rc_)) != 0) goto out;
    if ((rc = cairn_io__open(&s.f, tmp, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC)) != 0) goto out;
    memcpy(h, "CRK3", 4); /* 3: the dump carries the tag array (an older KEYDIR is ignored) */
    cairn_put32(h + 4, 3);
    {
        uint32_t endian = SNAP_ENDIAN;
        memcpy(h + 8, &endian, 4);
    }
    cairn_put32(h + 12, n);
    cairn_put64(h + 16, kv->seq);
    cairn_put64(h + 24, kv->live_bytes);
    if ((rc = snap_write(&s, h, SNAP_HDR)) != 0) goto out;
    for (i = 0; i < n; i++) {
        cairn_put64(fe, kv->files[order[i]].order);
        cairn_put64(fe + 8, kv->files[order[i]].size);
        if ((rc = snap_write(&s, fe, 16)) != 0) goto out;
    }
    if ((rc = cairn_kd__dump(kv->kd, snap_write, &s)) != 0) goto out;
    cairn_put32(c4, s.crc);
    memcpy(s.buf + s.blen, c4, 4);
    s.blen += 4;
    if ((rc = snap_flush(&s)) != 0) goto out;
    if ((rc = cairn_io__fsync(s.f)) != 0) goto out;
    cairn_io__close(s.f);
    s.f = NULL;
    if ((rc = cairn_io__rename(tmp, p)) != 0) goto out;
    rc = cairn_io__sync_dir(kv->dir);
out:
    if (s.f) {
        cairn_io__close(s.f);
        (void)cairn_io__unlink(tmp);
    }
    free(s.buf);
    free(slot_to_idx);
    free(order);
    free(p);
    free(tmp);
    return rc;
}

/* Load KEYDIR if it matches the files (slots 0..n-1 in order) exactly; *loaded 1 if used. The
 * file is mapped and the keydir used in place (a CRC pass over it is the whole cost of the load);
 * the first write copies it. */
static int load_snapshot(cairn_kv *kv, uint32_t n, int *loaded) {
    char *p = cairn_path__join(kv->dir, "KEYDIR");
    cairn_file *f = NULL;
    const void *mv = NULL;
    const uint8_t *m;
    uint64_t size = 0;
    size_t hdr = SNAP_HDR + (size_t)n * 16;
    uint32_t k, endian;
    uint64_t *fsize = NULL;
    kd_limits lim;
    cairn_kd *kd;
    int rc = 0;
    *loaded = 0;
    if (!p) return CAIRN_NOMEM;
    if (cairn_io__stat(p, NULL) != 1 || cairn_io__open(&f, p, CAIRN_IO_RDONLY) != 0 || cairn_io__size(f, &size) != 0 ||
        size < hdr + 48 + 4 || size > (uint64_t)SIZE_MAX || cairn_io__map(f, size, &mv) != 0)
        goto ignore;
    m = (const uint8_t *)mv;
    memcpy(&endian, m + 8, 4);
    if (memcmp(m, "CRK3", 4) || cairn_get32(m + 4) != 3 || endian != SNAP_ENDIAN || cairn_get32(m + 12) != n) goto ignore;
    for (k = 0; k < n; k++) {
        const uint8_t *fe = m + SNAP_HDR + (size_t)k * 16;
        if (cairn_get64(fe) != kv->files[k].order || cairn_get64(fe + 8) != kv->files[k].size) goto ignore;
    }
    if (cairn_crc32c__update(0, m, (size_t)size - 4) != cairn_get32(m + size - 4)) goto ignore;
    /* A matching CRC proves no consistency (a forged or buggy snapshot has a valid CRC too):
     * the keydir proves every entry's file number, record bounds and lengths against the files
     * before it is used, and an inconsistent snapshot is ignored like a damaged one. */
    if (!(fsize = (uint64_t *)malloc(((size_t)n + 1) * sizeof *fsize))) {
        rc = cairn_err__set(CAIRN_NOMEM, "kv_open: out of memory (keydir)");
        goto out;
    }
    for (k = 0; k < n; k++) fsize[k] = kv->files[k].size;
    lim.fsize = fsize;
    lim.nfiles = n;
    lim.rec_hdr = HDR;
    lim.vmax = CAIRN_VALUE_MAX;
    kd = cairn_kd__load_mapped(mv, size, hdr, (size_t)size - 4 - hdr, &lim, &rc);
    if (!kd) {
        if (rc == CAIRN_NOMEM) {
            rc = cairn_err__set(CAIRN_NOMEM, "kv_open: out of memory (keydir)");
            goto out;
        }
        rc = 0;
        goto ignore;
    }
    mv = NULL; /* the keydir owns the mapping now */
    cairn_kd__free(kv->kd);
    kv->kd = kd;
    kv->seq = cairn_get64(m + 16);
    kv->live_bytes = cairn_get64(m + 24);
    *loaded = 1;
    goto out;
ignore:
    cairn_errclear();
    rc = 0;
out:
    if (mv) cairn_io__unmap(mv, size);
    cairn_io__close(f);
    free(fsize);
    free(p);
    return rc;
}

/* The snapshot describes the files as they were at open; drop it before they change. */
static int drop_snapshot(cairn_kv *kv) {
    char *p;
    int rc;
    if (!kv->snap_valid) return 0;
    if (!(p = cairn_path__join(kv->dir, "KEYDIR"))) return CAIRN_NOMEM;
    rc = cairn_io__unlink(p);
    free(p);
    if (!rc) rc = cairn_io__sync_dir(kv->dir);
    if (!rc) kv->snap_valid = 0;
    return rc;
}

/* ---- RECLAIM manifest ------------------------------------------------------------------------ */

typedef struct reclaim_list {
    uint64_t *in, *out;
    uint32_t nin, nout;
} reclaim_list;

static void rl_free(reclaim_list *rl) {
    free(rl->in);
    free(rl->out);
    memset(rl, 0, sizeof *rl);
}

/* Read RECLAIM: *present 0 if missing; CAIRN_CORRUPT if present but invalid. */
static int read_reclaim(const char *dir, reclaim_list *rl, int *present) {
    char *p = cairn_path__join(dir, "RECLAIM");
    void *data = NULL;
    size_t len = 0;
    const uint8_t *b;
    uint32_t i;
    int rc;
    memset(rl, 0, sizeof *rl);
    *present = 0;
    if (!p) return CAIRN_NOMEM;
    rc = cairn_io__stat(p, NULL);
    if (rc != 1) {
        free(p);
        return rc < 0 ? rc : 0;
    }
    *present = 1;
    if ((rc = cairn_io__read_all(p, &data, &len)) != 0) {
        free(p);
        if (rc == CAIRN_PATH) {
            /* gone since the stat: the reclaim finished (it is unlinked last) */
            cairn_errclear();
            *present = 0;
            return 0;
        }
        return rc;
    }
    b = (const uint8_t *)data;
    if (len < 20 || memcmp(b, "CRR1", 4) || cairn_get32(b + 4) != 1 ||
        (uint64_t)16 + ((uint64_t)cairn_get32(b + 8) + cairn_get32(b + 12)) * 8 + 4 != len ||
        cairn_crc32c__update(0, b, len - 4) != cairn_get32(b + len - 4)) {
        rc = cairn_err__set(CAIRN_CORRUPT, "%s: invalid reclaim manifest (%zu bytes)", p, len);
        free(p);
        free(data);
        return rc;
    }
    free(p);
    rl->nin = cairn_get32(b + 8);
    rl->nout = cairn_get32(b + 12);
    rl->in = (uint64_t *)malloc((rl->nin + 1) * sizeof(uint64_t));
    rl->out = (uint64_t *)malloc((rl->nout + 1) * sizeof(uint64_t));
    if (!rl->in || !rl->out) {
        free(data);
        rl_free(rl);
        return cairn_err__set(CAIRN_NOMEM, "kv: out of memory");
    }
    for (i = 0; i < rl->nin; i++) rl->in[i] = cairn_get64(b + 16 + (size_t)i * 8);
    for (i = 0; i < rl->nout; i++) rl->out[i] = cairn_get64(b + 16 + ((size_t)rl->nin + i) * 8);
    free(data);
    return 0;
}

static int write_reclaim(const char *dir, const reclaim_list *rl) {
    size_t len = 16 + ((size_t)rl->nin + rl->nout) * 8 + 4, i;
    uint8_t *b = (uint8_t *)malloc(len);
    char *p = cairn_path__join(dir, "RECLAIM");
    int rc;
    if (!b || !p) {
        free(b);
        free(p);
        return cairn_err__set(CAIRN_NOMEM, "kv: out of memory");
    }
    memcpy(b, "CRR1", 4);
    cairn_put32(b + 4, 1);
    cairn_put32(b + 8, rl->nin);
    cairn_put32(b + 12, rl->nout);
    for (i = 0; i < rl->nin; i++) cairn_put64(b + 16 + i * 8, rl->in[i]);
    for (i = 0; i < rl->nout; i++) cairn_put64(b + 16 + (rl->nin + i) * 8, rl->out[i]);
    cairn_put32(b + len - 4, cairn_crc32c__update(0, b, len - 4));
    rc = cairn_io__write_atomic(p, b, len);
    free(b);
    free(p);
    return rc;
}

static int rename_if(const char *dir, uint64_t order, const char *from_ext, const char *to_ext) {
    char *a = file_path(dir, order, from_ext), *b = file_path(dir, order, to_ext);
    int rc = 0;
    if (!a || !b) rc = CAIRN_NOMEM;
    else if (cairn_io__stat(a, NULL) == 1) rc = cairn_io__rename(a, b);
    free(a);
    free(b);
    return rc;
}

static int unlink_order(const char *dir, uint64_t order, const char *ext) {
    char *a = file_path(dir, order, ext);
    int rc;
    if (!a) return CAIRN_NOMEM;
    rc = cairn_io__unlink(a);
    free(a);
    return rc;
}

/* Everything after reclaim's commit point; idempotent (open runs it again after a crash). */
static int finish_reclaim(const char *dir, const reclaim_list *rl) {
    uint32_t i;
    int rc;
    char *p;
    for (i = 0; i < rl->nout; i++) {
        if ((rc = rename_if(dir, rl->out[i], "data.tmp", "data")) != 0) return rc;
        if ((rc = rename_if(dir, rl->out[i], "hint.tmp", "hint")) != 0) return rc;
    }
    for (i = 0; i < rl->nin; i++) {
        if ((rc = unlink_order(dir, rl->in[i], "data")) != 0) return rc;
        if ((rc = unlink_order(dir, rl->in[i], "hint")) != 0) return rc;
    }
    if ((rc = cairn_io__sync_dir(dir)) != 0) return rc;
    if (!(p = cairn_path__join(dir, "RECLAIM"))) return CAIRN_NOMEM;
    rc = cairn_io__unlink(p);
    free(p);
    if (!rc) rc = cairn_io__sync_dir(dir);
    return rc;
}

static int in_list(const uint64_t *v, uint32_t n, uint64_t x) {
    uint32_t i;
    for (i = 0; i < n; i++)
        if (v[i] == x) return 1;
    return 0;
}

/* "<16 hex>.<ext>" exactly. */
static int parse_name(const char *name, const char *ext, uint64_t *order) {
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

/* ---- open / close ----------------------------------------------------------------------------- */

static void kv_destroy(cairn_kv *kv) {
    uint32_t i;
    if (!kv) return;
    txn_clear(kv);
    for (i = 0; i < kv->nfiles; i++) {
        unmap_file(&kv->files[i]);
        cairn_io__close(kv->files[i].f);
    }
    free(kv->files);
    free(kv->ebuf);
    cairn_kd__free(kv->kd);
    cairn_lock__release(kv->lock);
    pthread_rwlock_destroy(&kv->rw);
    pthread_mutex_destroy(&kv->wmu);
    pthread_mutex_destroy(&kv->gmu);
    pthread_cond_destroy(&kv->gcv);
    free(kv->dir);
    free(kv);
}

/* The first and last records of a file whose contents were not scanned (loaded from KEYDIR):
 * does it start with FILE, end with SEAL? */
static void probe_marks(kv_file *kf, int *has_file, int *sealed) {
    uint8_t b[MREC];
    rec_hdr rh;
    *has_file = *sealed = 0;
    if (kf->size < MREC) return;
    if (cairn_io__pread(kf->f, b, MREC, 0, NULL) == 0 && dec_hdr(b, &rh) == 0 && rh.type == T_FILE &&
        cairn_crc32c__update(0, b + 4, MREC - 4) == cairn_get32(b))
        *has_file = 1;
    if (cairn_io__pread(kf->f, b, MREC, kf->size - MREC, NULL) == 0 && dec_hdr(b, &rh) == 0 && rh.type == T_SEAL &&
        cairn_crc32c__update(0, b + 4, MREC - 4) == cairn_get32(b) && cairn_get64(b + HDR) == kf->size - MREC)
        *sealed = 1;
    cairn_errclear();
}

/* Forget what a failed load attempt loaded (a reader loads again). */
static int kv_unload(cairn_kv *kv) {
    uint32_t i;
    for (i = 0; i < kv->nfiles; i++) {
        unmap_file(&kv->files[i]);
        cairn_io__close(kv->files[i].f);
    }
    free(kv->files);
    kv->files = NULL;
    kv->nfiles = 0;
    kv->active = -1;
    kv->seq = 0;
    kv->live_bytes = 0;
    kv->snap_valid = 0;
    cairn_kd__free(kv->kd);
    if (!(kv->kd = cairn_kd__new())) return cairn_err__set(CAIRN_NOMEM, "kv_open: out of memory");
    return 0;
}

/* A reader's second look: is RECLAIM still (not) there and is every data file it listed still
 * there under the same name? Files that appeared since do not matter (a rotation: what was loaded
 * is an earlier state of the log). */
static int dir_unchanged(cairn_kv *kv, int present, const uint64_t *orders, const int *is_tmp, uint32_t n) {
    char *p = cairn_path__join(kv->dir, "RECLAIM"), **names = NULL;
    size_t nnames = 0, i;
    uint32_t k;
    int same;
    if (!p) return 0;
    same = (cairn_io__stat(p, NULL) == 1) == (present != 0);
    free(p);
    if (same && cairn_io__list(kv->dir, &names, &nnames) != 0) same = 0;
    for (k = 0; same && k < n; k++) {
        int found = 0;
        for (i = 0; i < nnames && !found; i++) {
            uint64_t o;
            if (parse_name(names[i], is_tmp[k] ? "data.tmp" : "data", &o) && o == orders[k]) found = 1;
        }
        same = found;
    }
    cairn_io__list_free(names, nnames);
    cairn_errclear();
    return same;
}

/* Load the store's files into kv once (strict: the check mode, every file scanned, nothing
 * fixed). *unstable: a reader saw the directory change under it (load again). */
static int kv_load_once(cairn_kv *kv, int strict, int *unstable) {
    char **names = NULL;
    size_t nnames = 0, i;
    reclaim_list rl;
    int present = 0, rc, loaded = 0, last_sealed = 0, last_has_file = 0;
    uint64_t *orders = NULL;
    int *is_tmp = NULL;
    uint32_t n = 0, k;

    *unstable = 0;
    memset(&rl, 0, sizeof rl);
    if ((rc = read_reclaim(kv->dir, &rl, &present)) != 0) return rc;
    if (present && !kv->readonly) {
        if ((rc = finish_reclaim(kv->dir, &rl)) != 0) {
            rl_free(&rl);
            return rc;
        }
        rl_free(&rl);
        present = 0;
    }
    if ((rc = cairn_io__list(kv->dir, &names, &nnames)) != 0) goto out;
    orders = (uint64_t *)malloc((nnames + 1) * sizeof *orders);
    is_tmp = (int *)calloc(nnames + 1, sizeof *is_tmp);
    if (!orders || !is_tmp) {
        rc = cairn_err__set(CAIRN_NOMEM, "kv: out of memory");
        goto out;
    }
    for (i = 0; i < nnames; i++) {
        uint64_t o;
        if (parse_name(names[i], "data", &o)) {
            if (present && in_list(rl.in, rl.nin, o)) continue;
            orders[n++] = o;
        } else if (present && parse_name(names[i], "data.tmp", &o) && in_list(rl.out, rl.nout, o)) {
            /* read-only view of an unfinished reclaim: the output is still under its tmp name */
            is_tmp[n] = 1;
            orders[n++] = o;
        } else if (!kv->readonly && !strict) {
            size_t ln = strlen(names[i]);
            if (ln > 4 && strcmp(names[i] + ln - 4, ".tmp") == 0) {
                char *p = cairn_path__join(kv->dir, names[i]);
                if (!p) {
                    rc = CAIRN_NOMEM;
                    goto out;
                }
                rc = cairn_io__unlink(p);
                free(p);
                if (rc) goto out;
            }
        }
    }
    /* sort orders with their tmp flags */
    for (k = 1; k < n; k++) {
        uint64_t x = orders[k];
        int t = is_tmp[k];
        uint32_t j;
        for (j = k; j > 0 && orders[j - 1] > x; j--) {
            orders[j] = orders[j - 1];
            is_tmp[j] = is_tmp[j - 1];
        }
        orders[j] = x;
        is_tmp[j] = t;
    }
    for (k = 0; k < n; k++) {
        char *p = file_path(kv->dir, orders[k], is_tmp[k] ? "data.tmp" : "data");
        cairn_file *f = NULL;
        uint64_t size = 0;
        uint32_t slot;
        if (!p) {
            rc = CAIRN_NOMEM;
            goto out;
        }
        rc = cairn_io__open(&f, p, kv->readonly ? CAIRN_IO_RDONLY : CAIRN_IO_RDWR);
        free(p);
        if (!rc) rc = cairn_io__size(f, &size);
        if (!rc) rc = add_slot(&kv->files, &kv->nfiles, orders[k], f, size, &slot);
        if (rc) {
            cairn_io__close(f);
            goto out;
        }
    }
    /* slots 0..n-1 are the files in ascending order */
    if (!strict && (rc = load_snapshot(kv, n, &loaded)) != 0) goto out;
    if (loaded) {
        for (k = 0; k + 1 < n; k++) probe_hint(kv, k);
        if (n > 0) probe_marks(&kv->files[n - 1], &last_has_file, &last_sealed);
    } else {
        for (k = 0; k < n; k++) {
            kv_file *kf = &kv->files[k];
            /* the last file with minor 0 is the active one unless it ends with its SEAL */
            int last = (k == n - 1) && (kf->order & 0xffffffffu) == 0 && !is_tmp[k];
            int writer = !kv->readonly && !strict, applied = 0;
            scan_res sr;
            hintbuf hb;
            memset(&hb, 0, sizeof hb);
            if (!last && !is_tmp[k] && (rc = load_hint(kv, k, !strict, &applied)) != 0) goto out;
            if (applied) continue;
            rc = scan_file(kv, k, last, 1, writer ? &hb : NULL, &sr);
            if (rc) {
                free(hb.p);
                goto out;
            }
            if (last && sr.end < kf->size) {
                /* a torn tail or the reserved zeros of a killed writer: the log ends at sr.end */
                if ((writer && (rc = cairn_io__truncate(kf->f, sr.end)) != 0) ||
                    (writer && (rc = cairn_io__fsync(kf->f)) != 0)) {
                    free(hb.p);
                    goto out;
                }
                kf->size = sr.end;
            }
            if (last) {
                last_sealed = sr.sealed;
                last_has_file = sr.has_file;
                if (sr.sealed) probe_hint(kv, k);
            }
            if (writer && (!last || (sr.sealed && !kf->hinted))) {
                /* a missing or bad hint is rebuilt; failing to write it is not fatal */
                if (write_hint(kv->dir, kf, &hb, "hint") != 0) cairn_errclear();
            }
            free(hb.p);
        }
    }
    for (k = 0; k < n; k++) map_file(&kv->files[k]);
    if (n > 0) {
        kv_file *last = &kv->files[n - 1];
        kv->next_major = (last->order >> 32) + 1;
        if (!kv->readonly && (last->order & 0xffffffffu) == 0 && !last_sealed) {
            kv->active = (int32_t)(n - 1);
            last->base = last_has_file ? MREC : 0;
        }
    } else {
        kv->next_major = 1;
    }
    if (!kv->readonly && !strict) {
        char *p = cairn_path__join(kv->dir, "KEYDIR");
        if (!p) {
            rc = CAIRN_NOMEM;
            goto out;
        }
        if (loaded) {
            kv->snap_valid = 1; /* dropped by the first change */
        } else if (cairn_io__stat(p, NULL) == 1) {
            rc = cairn_io__unlink(p); /* stale or damaged */
            if (!rc) rc = cairn_io__sync_dir(kv->dir);
        }
        free(p);
        if (rc) goto out;
        /* hints whose data file is gone */
        for (i = 0; i < nnames; i++) {
            uint64_t o;
            if (parse_name(names[i], "hint", &o)) {
                int found = 0;
                for (k = 0; k < n; k++)
                    if (kv->files[k].order == o) found = 1;
                if (!found && (rc = unlink_order(kv->dir, o, "hint")) != 0) goto out;
            }
        }
    }
    rc = 0;
out:
    /* a reader looks again: a reclaim that renamed or unlinked what it listed, or RECLAIM that
     * came or went, means it loaded a mix of two states (or could not open a listed file) */
    if (kv->readonly && orders && (rc == 0 || rc == CAIRN_PATH || rc == CAIRN_CORRUPT || rc == KV_RETRY)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", rc ? cairn_errmsg() : "");
        if (rc == KV_RETRY || !dir_unchanged(kv, present, orders, is_tmp, n)) *unstable = 1;
        if (rc && rc != KV_RETRY) cairn_err__set(rc, "%s", msg);
    }
    rl_free(&rl);
    cairn_io__list_free(names, nnames);
    free(orders);
    free(is_tmp);
    return rc;
}

/* Load the store. A writer holds the lock: nothing changes under it. A reader (read-only open,
 * check) may run beside a writer that rotates and reclaims: it loads again while what it read
 * keeps changing under it, a bounded number of times. */
static int kv_load(cairn_kv *kv, int strict) {
    int tries, rc = 0, unstable = 0;
    for (tries = 0; tries < LOAD_TRIES; tries++) {
        if (tries) {
            /* back off a little: a reclaim finishes in a few fsyncs */
            struct timespec ts;
            ts.tv_sec = 0;
            ts.tv_nsec = (long)(tries < 10 ? tries : 10) * 1000000L;
            nanosleep(&ts, NULL);
            if ((rc = kv_unload(kv)) != 0) return rc;
        }
        rc = kv_load_once(kv, strict, &unstable);
        if (!unstable) return rc;
    }
    return cairn_err__set(CAIRN_BUSY, "kv_open: %s kept changing while it was read (%d attempts)", kv->dir,
                          LOAD_TRIES);
}

static int kv_open_impl(cairn_kv **out, const char *path, const cairn_kv_options *opts, int strict) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv;
    int rc, st;
    if (!out) return cairn_err__set(CAIRN_INVALID, "kv_open: out is NULL");
    *out = NULL;
    if (!path) return cairn_err__set(CAIRN_INVALID, "kv_open: path is NULL");
    if (!*path) return cairn_err__set(CAIRN_PATH, "kv_open: empty path");
    if (opts) {
        if (opts->version < 1 || opts->version > CAIRN_KV_OPTIONS_VERSION)
            return cairn_err__set(CAIRN_INVALID, "kv_open: options version %u, expected 1..%u (use CAIRN_KV_OPTIONS_INIT)",
                                  opts->version, CAIRN_KV_OPTIONS_VERSION);
        o = *opts;
    }
    if (o.sync < CAIRN_SYNC_NONE || o.sync > CAIRN_SYNC_GROUP)
        return cairn_err__set(CAIRN_INVALID, "kv_open: sync mode %d is not 0, 1 or 2", o.sync);
    st = cairn_io__stat(path, NULL);
    if (st < 0) return st;
    if (st == 1) return cairn_err__set(CAIRN_PATH, "kv_open: %s is a file, not a directory", path);
    if (st == 0) {
        if (!o.create || o.read_only)
            return cairn_err__set(CAIRN_PATH, "kv_open: directory %s does not exist%s", path,
                                  o.read_only ? " (read-only open never creates it)" : " and create is off");
        if ((rc = cairn_io__mkdir(path)) != 0) return rc;
    }
    if (!(kv = (cairn_kv *)calloc(1, sizeof *kv))) return cairn_err__set(CAIRN_NOMEM, "kv_open: out of memory");
    kv->gen = cairn_fork__gen();
    {
        /* Readers must not starve the writer: glibc's default rwlock lets a stream of
         * overlapping readers hold it forever. (No path takes the read lock recursively.) */
        pthread_rwlockattr_t ra;
        pthread_rwlockattr_init(&ra);
#if defined(__GLIBC__) && defined(__USE_GNU)
        pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
        pthread_rwlock_init(&kv->rw, &ra);
        pthread_rwlockattr_destroy(&ra);
    }
    pthread_mutex_init(&kv->wmu, NULL);
    pthread_mutex_init(&kv->gmu, NULL);
    pthread_cond_init(&kv->gcv, NULL);
    kv->readonly = o.read_only != 0;
    kv->sync = o.sync;
    kv->max_file_size = o.max_file_size ? o.max_file_size : DEFAULT_MAX_FILE;
    kv->active = -1;
    if (!(kv->dir = cairn_str__dup(path)) || !(kv->kd = cairn_kd__new())) {
        kv_destroy(kv);
        return cairn_err__set(CAIRN_NOMEM, "kv_open: out of memory");
    }
    if (!kv->readonly) {
        char *lp = cairn_path__join(path, "LOCK");
        if (!lp) {
            kv_destroy(kv);
            return CAIRN_NOMEM;
        }
        rc = cairn_lock__acquire(&kv->lock, lp, o.lock_timeout_ms);
        free(lp);
        if (rc) {
            kv_destroy(kv);
            return rc;
        }
    }
    if ((rc = kv_load(kv, strict)) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        kv_destroy(kv);
        return cairn_err__set(rc, "%s", msg);
    }
    *out = kv;
    return 0;
}

int cairn_kv_open(cairn_kv **out, const char *path, const cairn_kv_options *opts) {
    return kv_open_impl(out, path, opts, 0);
}

int cairn_kv_check(const char *path) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    int rc;
    o.create = 0;
    o.read_only = 1;
    if (!path) return cairn_err__set(CAIRN_INVALID, "kv_check: path is NULL");
    rc = kv_open_impl(&kv, path, &o, 1);
    if (rc) return rc;
    kv_destroy(kv);
    return 0;
}

/* Write hints for sealed files that have none (they were sealed during this session). */
static void hint_sealed(cairn_kv *kv) {
    uint32_t i;
    for (i = 0; i < kv->nfiles; i++) {
        kv_file *kf = &kv->files[i];
        hintbuf hb;
        scan_res sr;
        if (!kf->f || kf->hinted || (int32_t)i == kv->active) continue;
        memset(&hb, 0, sizeof hb);
        if (scan_file(kv, i, 0, 0, &hb, &sr) == 0) (void)write_hint(kv->dir, kf, &hb, "hint");
        free(hb.p);
        cairn_errclear();
    }
}

void cairn_kv_close(cairn_kv *kv) {
    if (!kv) return;
    if (cairn_fork__foreign(kv->gen)) {
        /* an inherited handle in a child of fork(): the files and the lock are the parent's.
         * Write nothing (no trim, fsync, hint or KEYDIR) and take no lock (another thread of the
         * parent may have held one at fork): only unmap, close descriptors and free memory. */
        kv_destroy(kv);
        return;
    }
    pthread_mutex_lock(&kv->wmu);
    if (kv->in_txn) {
        pthread_rwlock_wrlock(&kv->rw);
        txn_clear(kv);
        pthread_rwlock_unlock(&kv->rw);
    }
    if (!kv->readonly && !is_failed(kv)) {
        if (kv->active >= 0 && (trim_active(&kv->files[kv->active]) != 0 ||
                                cairn_io__fsync(kv->files[kv->active].f) != 0))
            set_failed(kv);
        if (!is_failed(kv)) {
            hint_sealed(kv);
            if (!kv->snap_valid && write_snapshot(kv) != 0) cairn_errclear();
        }
    }
    group_detach(kv);
    pthread_mutex_unlock(&kv->wmu);
    kv_destroy(kv);
}

/* ---- argument checks -------------------------------------------------------------------------- */

/* Every entry point starts here: a handle is used only by the process that opened it (one
 * integer compare: the atfork handler bumps the generation in a child). */
static int check_kv(const cairn_kv *kv, const char *fn) {
    if (!kv) return cairn_err__set(CAIRN_INVALID, "%s: handle is NULL", fn);
    if (cairn_fork__foreign(kv->gen)) return cairn_fork__err(fn);
    return 0;
}

static int check_key(const void *key, size_t klen, const char *fn) {
    if (!key) return cairn_err__set(CAIRN_INVALID, "%s: key is NULL", fn);
    if (klen == 0) return cairn_err__set(CAIRN_INVALID, "%s: empty key", fn);
    if (klen > CAIRN_KEY_MAX)
        return cairn_err__set(CAIRN_TOOBIG, "%s: key of %zu bytes (the limit is %u)", fn, klen, CAIRN_KEY_MAX);
    return 0;
}

/* Writer preconditions (caller holds wmu). */
static int check_writable(cairn_kv *kv, const char *fn) {
    if (kv->readonly) return cairn_err__set(CAIRN_READONLY, "%s: the store was opened read-only", fn);
    if (is_failed(kv)) return err_failed();
    return 0;
}

/* ---- reads ------------------------------------------------------------------------------------ */

typedef struct look {
    txn_op *op; /* set: the value is in the transaction overlay */
    kd_ent e;   /* else: the keydir entry */
    int64_t expire;
} look;

/* Caller holds the read (or write) lock. 1 if the key is live, 0 if not. */
static int lookup(cairn_kv *kv, const void *key, size_t klen, uint32_t hash, int64_t now, look *l) {
    kd_ent *e;
    l->op = NULL;
    if (kv->in_txn) {
        txn_op *op = txn_find(kv, key, klen, hash);
        if (op) {
            if (op->type == T_DEL || expired(op->expire, now)) return 0;
            l->op = op;
            l->expire = op->expire;
            return 1;
        }
    }
    e = cairn_kd__find(kv->kd, key, klen, hash);
    if (!e) return 0;
    l->expire = cairn_kd__expire(e);
    if (expired(l->expire, now)) return 0;
    l->e = *e;
    return 1;
}

/* Read and verify the record behind a keydir entry; the value is moved to the front of the
 * returned buffer (caller frees). Caller holds the read lock. */
/* Read and verify the record behind a keydir entry (from the file's mapping when the record lies
 * in it, else with one pread). The value goes to dst when dst is not NULL (cap >= vlen), else to
 * a new buffer in *out (caller frees). Caller holds the read lock. */
static int read_rec(cairn_kv *kv, const kd_ent *e, const void *key, size_t klen, uint8_t *dst, uint8_t **out) {
    uint64_t loc = kd_loc(e), off = KD_LOC_OFF(loc);
    kv_file *kf;
    size_t rs = (size_t)rec_size(e->klen, e->vlen);
    uint8_t *tmp = NULL;
    const uint8_t *b;
    rec_hdr rh;
    int rc;
    const char *why = NULL;
    if (KD_LOC_FILE(loc) >= kv->nfiles || !kv->files[KD_LOC_FILE(loc)].f)
        return cairn_err__set(CAIRN_CORRUPT, "%s: keydir entry points at data file #%u, which does not exist",
                              kv->dir, KD_LOC_FILE(loc));
    kf = &kv->files[KD_LOC_FILE(loc)];
    /* the active file's read-write mapping is bypassed while test hooks are active, so that a
     * simulated crash fails its reads as it fails writes */
    if (kf->map && off + rs <= kf->maplen && (!kf->wmap || !cairn_io__hooks_active())) {
        b = kf->map + off;
    } else {
        if (!(tmp = (uint8_t *)malloc(rs)))
            return cairn_err__set(CAIRN_NOMEM, "kv_get: out of memory for a value of %u bytes", e->vlen);
        if ((rc = cairn_io__pread(kf->f, tmp, rs, off, NULL)) != 0) {
            free(tmp);
            return rc;
        }
        b = tmp;
    }
    if (cairn_crc32c__update(0, b + 4, rs - 4) != cairn_get32(b)) why = "checksum mismatch";
    else if (dec_hdr(b, &rh) != 0 || rh.type != T_PUT || rh.klen != klen || rh.vlen != e->vlen ||
             rh.kind != e->kind || memcmp(b + HDR, key, klen) != 0)
        why = "record does not match the keydir";
    if (why) {
        free(tmp);
        return cairn_err__set(CAIRN_CORRUPT, "%s: %s at offset %" PRIu64, cairn_io__path(kf->f), why, off);
    }
    if (dst) {
        if (e->vlen) memcpy(dst, b + HDR + klen, e->vlen);
        free(tmp);
        return 0;
    }
    if (tmp) {
        memmove(tmp, tmp + HDR + klen, e->vlen); /* reuse the read buffer */
        *out = tmp;
        return 0;
    }
    if (!(*out = (uint8_t *)malloc(e->vlen ? e->vlen : 1)))
        return cairn_err__set(CAIRN_NOMEM, "kv_get: out of memory for a value of %u bytes", e->vlen);
    if (e->vlen) memcpy(*out, b + HDR + klen, e->vlen);
    return 0;
}

/* Look the key up and fetch its value: into dst if dst is not NULL and the value fits in cap,
 * else into a new buffer *val (NULL dst, or a value larger than cap: *vlen tells). */
static int get_common(cairn_kv *kv, const void *key, size_t klen, uint8_t *dst, size_t cap, uint8_t **val,
                      size_t *vlen, int *kind, const char *fn) {
    look l;
    int rc;
    uint32_t hash;
    if ((rc = check_kv(kv, fn)) != 0) return rc;
    if ((rc = check_key(key, klen, fn)) != 0) return rc;
    hash = cairn_kd__hash(key, klen);
    pthread_rwlock_rdlock(&kv->rw);
    if (!lookup(kv, key, klen, hash, cairn_time__now_ms(), &l)) {
        rc = CAIRN_NOTFOUND;
    } else if (l.op) {
        *vlen = l.op->vlen;
        if (kind) *kind = l.op->kind;
        if (dst && l.op->vlen <= cap) {
            if (l.op->vlen) memcpy(dst, l.op->buf + l.op->klen, l.op->vlen);
        } else {
            uint8_t *b = (uint8_t *)malloc(l.op->vlen ? l.op->vlen : 1);
            if (!b) {
                rc = cairn_err__set(CAIRN_NOMEM, "%s: out of memory", fn);
            } else {
                if (l.op->vlen) memcpy(b, l.op->buf + l.op->klen, l.op->vlen);
                *val = b;
            }
        }
    } else {
        *vlen = l.e.vlen;
        if (kind) *kind = l.e.kind;
        rc = read_rec(kv, &l.e, key, klen, dst && l.e.vlen <= cap ? dst : NULL, val);
    }
    pthread_rwlock_unlock(&kv->rw);
    return rc;
}

int cairn_kv_get(cairn_kv *kv, const void *key, size_t klen, void **val, size_t *vlen, int *kind) {
    uint8_t *b = NULL;
    size_t n = 0;
    int rc;
    if (!val || !vlen) return cairn_err__set(CAIRN_INVALID, "kv_get: val or vlen is NULL");
    *val = NULL;
    *vlen = 0;
    rc = get_common(kv, key, klen, NULL, 0, &b, &n, kind, "kv_get");
    if (!rc) {
        *val = b;
        *vlen = n;
    }
    return rc;
}

int cairn_kv_get_into(cairn_kv *kv, const void *key, size_t klen, void *buf, size_t cap, size_t *vlen, int *kind) {
    uint8_t *b = NULL, dummy = 0;
    size_t n = 0;
    int k = 0, rc;
    if (!vlen || (!buf && cap)) return cairn_err__set(CAIRN_INVALID, "kv_get_into: vlen or buf is NULL");
    /* (a NULL buf with cap 0 still asks for the size) */
    rc = get_common(kv, key, klen, buf ? (uint8_t *)buf : &dummy, cap, &b, &n, &k, "kv_get_into");
    if (rc) return rc;
    *vlen = n;
    if (kind) *kind = k;
    if (b) {
        /* too large for the buffer: the first cap bytes, and the size to retry with */
        if (cap) memcpy(buf, b, cap);
        free(b);
        return cairn_err__set(CAIRN_RANGE, "kv_get_into: the value has %zu bytes, the buffer %zu", n, cap);
    }
    return 0;
}

int cairn_kv_expiry(cairn_kv *kv, const void *key, size_t klen, int64_t *expire_at_ms) {
    look l;
    int rc;
    if ((rc = check_kv(kv, "kv_expiry")) != 0) return rc;
    if ((rc = check_key(key, klen, "kv_expiry")) != 0) return rc;
    if (!expire_at_ms) return cairn_err__set(CAIRN_INVALID, "kv_expiry: out is NULL");
    pthread_rwlock_rdlock(&kv->rw);
    if (lookup(kv, key, klen, cairn_kd__hash(key, klen), cairn_time__now_ms(), &l)) *expire_at_ms = l.expire;
    else rc = CAIRN_NOTFOUND;
    pthread_rwlock_unlock(&kv->rw);
    return rc;
}

int cairn_kv_exists(cairn_kv *kv, const void *key, size_t klen) {
    look l;
    int rc;
    if ((rc = check_kv(kv, "kv_contains")) != 0) return rc;
    if ((rc = check_key(key, klen, "kv_contains")) != 0) return rc;
    pthread_rwlock_rdlock(&kv->rw);
    rc = lookup(kv, key, klen, cairn_kd__hash(key, klen), cairn_time__now_ms(), &l);
    pthread_rwlock_unlock(&kv->rw);
    return rc;
}

typedef struct cnt_ctx {
    int64_t now;
    uint64_t n;
} cnt_ctx;

static int count_expired(void *vctx, kd_ent *e) {
    cnt_ctx *c = (cnt_ctx *)vctx;
    if ((e->flags & KD_EXPIRES) && expired(cairn_kd__expire(e), c->now)) c->n++;
    return 0;
}

/* Live keys as the handle sees them (caller holds a lock). */
static uint64_t live_count(cairn_kv *kv, int64_t now) {
    uint64_t n = cairn_kd__count(kv->kd);
    size_t i;
    if (cairn_kd__expiring(kv->kd)) {
        cnt_ctx c;
        c.now = now;
        c.n = 0;
        cairn_kd__each(kv->kd, count_expired, &c);
        n -= c.n;
    }
    if (kv->in_txn) {
        for (i = 0; i < kv->nops; i++) {
            txn_op *op = &kv->ops[i];
            kd_ent *e = cairn_kd__find(kv->kd, op->buf, op->klen, op->hash);
            int base = e && !expired(cairn_kd__expire(e), now);
            int mine = op->type == T_PUT && !expired(op->expire, now);
            n = n + (uint64_t)mine - (uint64_t)base;
        }
    }
    return n;
}

int cairn_kv_count(cairn_kv *kv, uint64_t *out) {
    int rc;
    if ((rc = check_kv(kv, "kv_count")) != 0) return rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "kv_count: out is NULL");
    pthread_rwlock_rdlock(&kv->rw);
    *out = live_count(kv, cairn_time__now_ms());
    pthread_rwlock_unlock(&kv->rw);
    return 0;
}

/* ---- iteration -------------------------------------------------------------------------------- */

typedef struct kref {
    const uint8_t *p;
    size_t n;
} kref;

struct cairn_kv_iter {
    uint32_t gen; /* the handle's fork generation */
    uint8_t *keys;
    size_t *offs; /* n + 1 offsets into keys */
    size_t n, i;
};

typedef struct it_ctx {
    cairn_kv *kv;
    const uint8_t *prefix;
    size_t plen;
    int64_t now;
    kref *v;
    size_t n, cap;
    size_t bytes;
    int rc;
} it_ctx;

static int it_push(it_ctx *c, const uint8_t *p, size_t n) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        kref *v = (kref *)realloc(c->v, nc * sizeof *v);
        if (!v) {
            c->rc = cairn_err__set(CAIRN_NOMEM, "kv_iter_open: out of memory");
            return 1;
        }
        c->v = v;
        c->cap = nc;
    }
    c->v[c->n].p = p;
    c->v[c->n].n = n;
    c->n++;
    c->bytes += n;
    return 0;
}

static int it_one(void *vctx, kd_ent *e) {
    it_ctx *c = (it_ctx *)vctx;
    const uint8_t *k = cairn_kd__key(e);
    if (e->klen < c->plen || (c->plen && memcmp(k, c->prefix, c->plen) != 0)) return 0;
    if (expired(cairn_kd__expire(e), c->now)) return 0;
    if (c->kv->in_txn && txn_find(c->kv, k, e->klen, e->hash)) return 0; /* the overlay decides */
    return it_push(c, k, e->klen);
}

static int cmp_kref(const void *a, const void *b) {
    const kref *x = (const kref *)a, *y = (const kref *)b;
    size_t m = x->n < y->n ? x->n : y->n;
    int c = m ? memcmp(x->p, y->p, m) : 0;
    if (c) return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

int cairn_kv_iter_open(cairn_kv_iter **out, cairn_kv *kv, const void *prefix, size_t plen) {
    it_ctx c;
    cairn_kv_iter *it;
    size_t i, pos = 0;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "kv_iter_open: out is NULL");
    *out = NULL;
    if ((rc = check_kv(kv, "kv_iter_open")) != 0) return rc;
    if (!prefix && plen) return cairn_err__set(CAIRN_INVALID, "kv_iter_open: prefix is NULL");
    if (plen > CAIRN_KEY_MAX) return cairn_err__set(CAIRN_TOOBIG, "kv_iter_open: prefix longer than a key");
    memset(&c, 0, sizeof c);
    c.kv = kv;
    c.prefix = (const uint8_t *)prefix;
    c.plen = plen;
    c.now = cairn_time__now_ms();
    pthread_rwlock_rdlock(&kv->rw);
    cairn_kd__each(kv->kd, it_one, &c);
    if (!c.rc && kv->in_txn) {
        for (i = 0; i < kv->nops && !c.rc; i++) {
            txn_op *op = &kv->ops[i];
            if (op->type != T_PUT || expired(op->expire, c.now)) continue;
            if (op->klen < plen || (plen && memcmp(op->buf, prefix, plen) != 0)) continue;
            it_push(&c, op->buf, op->klen);
        }
    }
    if (c.rc) {
        pthread_rwlock_unlock(&kv->rw);
        free(c.v);
        return c.rc;
    }
    it = (cairn_kv_iter *)calloc(1, sizeof *it);
    if (it) {
        it->keys = (uint8_t *)malloc(c.bytes + 1);
        it->offs = (size_t *)malloc((c.n + 1) * sizeof(size_t));
    }
    if (!it || !it->keys || !it->offs) {
        pthread_rwlock_unlock(&kv->rw);
        free(c.v);
        cairn_kv_iter_free(it);
        return cairn_err__set(CAIRN_NOMEM, "kv_iter_open: out of memory");
    }
    /* copy before sorting (the keys live in the keydir, which only the lock keeps still) */
    for (i = 0; i < c.n; i++) {
        memcpy(it->keys + pos, c.v[i].p, c.v[i].n);
        c.v[i].p = it->keys + pos;
        pos += c.v[i].n;
    }
    pthread_rwlock_unlock(&kv->rw);
    if (c.n) qsort(c.v, c.n, sizeof *c.v, cmp_kref);
    {
        /* lay the keys out again in sorted order */
        uint8_t *sorted = (uint8_t *)malloc(c.bytes + 1);
        if (!sorted) {
            free(c.v);
            cairn_kv_iter_free(it);
            return cairn_err__set(CAIRN_NOMEM, "kv_iter_open: out of memory");
        }
        pos = 0;
        for (i = 0; i < c.n; i++) {
            it->offs[i] = pos;
            memcpy(sorted + pos, c.v[i].p, c.v[i].n);
            pos += c.v[i].n;
        }
        it->offs[c.n] = pos;
        free(it->keys);
        it->keys = sorted;
    }
    it->n = c.n;
    it->gen = kv->gen;
    free(c.v);
    *out = it;
    return 0;
}

int cairn_kv_iter_next(cairn_kv_iter *it, const void **key, size_t *klen) {
    if (!it || !key || !klen) return cairn_err__set(CAIRN_INVALID, "kv_iter_next: NULL argument");
    if (cairn_fork__foreign(it->gen)) return cairn_fork__err("kv_iter_next");
    if (it->i >= it->n) return CAIRN_ITEROVER;
    *key = it->keys + it->offs[it->i];
    *klen = it->offs[it->i + 1] - it->offs[it->i];
    it->i++;
    return 0;
}

void cairn_kv_iter_free(cairn_kv_iter *it) {
    if (!it) return;
    free(it->keys);
    free(it->offs);
    free(it);
}

/* ---- writes ----------------------------------------------------------------------------------- */

/* Make an append durable per the sync mode. Called with wmu held; returns with it released. */
static int durable_unlock(cairn_kv *kv, uint32_t slot) {
    int rc = 0;
    if (kv->sync == CAIRN_SYNC_COMMIT) {
        if ((rc = cairn_io__fsync(kv->files[slot].f)) != 0) set_failed(kv);
        else {
            pthread_mutex_lock(&kv->gmu);
            kv->synced = kv->written;
            pthread_mutex_unlock(&kv->gmu);
        }
        pthread_mutex_unlock(&kv->wmu);
    } else if (kv->sync == CAIRN_SYNC_GROUP) {
        uint64_t target;
        pthread_mutex_lock(&kv->gmu);
        target = kv->written;
        pthread_mutex_unlock(&kv->gmu);
        pthread_mutex_unlock(&kv->wmu);
        rc = group_wait(kv, target);
    } else {
        pthread_mutex_unlock(&kv->wmu);
    }
    return rc;
}

/* Write one batch (n ops: one bare record if n == 1, else TXN records + COMMIT), apply it to
 * the keydir. Caller holds wmu; on success returns with wmu still held and *slot set. */
static int write_batch(cairn_kv *kv, txn_op **ops, size_t n, uint32_t *slot) {
    size_t total = 0, i, pos = 0;
    uint64_t seq = kv->seq + 1, off;
    int flags = n > 1 ? F_TXN : 0;
    int64_t now = cairn_time__now_ms();
    uint8_t *buf;
    int rc = 0;
    for (i = 0; i < n; i++) total += (size_t)rec_size(ops[i]->klen, ops[i]->vlen);
    if (n > 1) total += HDR + 8;
    if (!(buf = ebuf_get(kv, total))) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (%zu bytes)", total);
    for (i = 0; i < n; i++) {
        txn_op *op = ops[i];
        enc_rec(buf + pos, op->type, flags, op->type == T_PUT ? op->kind : 0, op->buf, op->klen, op->buf + op->klen,
                op->vlen, seq, op->type == T_PUT ? op->expire : 0);
        pos += (size_t)rec_size(op->klen, op->vlen);
    }
    if (n > 1) {
        uint8_t cv[8];
        cairn_put32(cv, (uint32_t)n);
        cairn_put32(cv + 4, 0);
        enc_rec(buf + pos, T_COMMIT, 0, 0, NULL, 0, cv, 8, seq, 0);
    }
    rc = append(kv, buf, total, slot, &off);
    ebuf_done(kv, buf);
    if (rc) return rc;
    kv->seq = seq; /* (append returned holding the write lock) */
    for (i = 0, pos = 0; i < n && !rc; i++) {
        txn_op *op = ops[i];
        rc = apply(kv, kv->kd, *slot, off + pos, op->type, op->kind, op->buf, op->klen, op->hash, (uint32_t)op->vlen,
                   op->expire, now);
        pos += (size_t)rec_size(op->klen, op->vlen);
    }
    pthread_rwlock_unlock(&kv->rw);
    if (rc) set_failed(kv); /* written but not indexed: the in-memory view is wrong */
    return rc;
}

static int kv_write(cairn_kv *kv, int type, const void *key, size_t klen, const void *val, size_t vlen, int kind,
                    int64_t expire, const char *fn) {
    uint32_t hash, slot;
    int rc;
    if ((rc = check_kv(kv, fn)) != 0) return rc;
    if ((rc = check_key(key, klen, fn)) != 0) return rc;
    if (type == T_PUT) {
        if (!val && vlen) return cairn_err__set(CAIRN_INVALID, "%s: value is NULL", fn);
        if (vlen > CAIRN_VALUE_MAX)
            return cairn_err__set(CAIRN_TOOBIG, "%s: value of %zu bytes (the limit is %u)", fn, vlen, CAIRN_VALUE_MAX);
        if (kind < 0 || kind > 3) return cairn_err__set(CAIRN_INVALID, "%s: kind %d is not 0..3", fn, kind);
        if (expire < 0) return cairn_err__set(CAIRN_INVALID, "%s: negative expiry %" PRId64, fn, expire);
    }
    hash = cairn_kd__hash(key, klen);
    pthread_mutex_lock(&kv->wmu);
    if ((rc = check_writable(kv, fn)) != 0) goto unlock;
    if (type == T_DEL) {
        look l;
        pthread_rwlock_rdlock(&kv->rw);
        rc = lookup(kv, key, klen, hash, cairn_time__now_ms(), &l) ? 0 : CAIRN_NOTFOUND;
        pthread_rwlock_unlock(&kv->rw);
        if (rc) goto unlock;
    }
    if (kv->in_txn) {
        pthread_rwlock_wrlock(&kv->rw);
        rc = txn_add(kv, type, key, klen, hash, val, vlen, kind, expire);
        pthread_rwlock_unlock(&kv->rw);
        goto unlock;
    }
    {
        /* a bare write: one self-committing record, encoded straight from the caller's bytes */
        size_t total = (size_t)rec_size(klen, type == T_PUT ? vlen : 0);
        uint8_t *buf = ebuf_get(kv, total);
        uint64_t off;
        if (!buf) {
            rc = cairn_err__set(CAIRN_NOMEM, "%s: out of memory (%zu bytes)", fn, total);
            goto unlock;
        }
        if (type == T_PUT) enc_rec(buf, T_PUT, 0, kind, key, klen, val, vlen, kv->seq + 1, expire);
        else enc_rec(buf, T_DEL, 0, 0, key, klen, NULL, 0, kv->seq + 1, 0);
        rc = append(kv, buf, total, &slot, &off);
        ebuf_done(kv, buf);
        if (rc) goto unlock;
        kv->seq++; /* (append returned holding the write lock) */
        rc = apply(kv, kv->kd, slot, off, type, kind, key, klen, hash, (uint32_t)(type == T_PUT ? vlen : 0),
                   type == T_PUT ? expire : 0, cairn_time__now_ms());
        pthread_rwlock_unlock(&kv->rw);
        if (rc) {
            set_failed(kv); /* written but not indexed: the in-memory view is wrong */
            goto unlock;
        }
    }
    return durable_unlock(kv, slot);
unlock:
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}

int cairn_kv_put(cairn_kv *kv, const void *key, size_t klen, const void *val, size_t vlen, int kind) {
    return kv_write(kv, T_PUT, key, klen, val, vlen, kind, 0, "kv_put");
}

int cairn_kv_put_ex(cairn_kv *kv, const void *key, size_t klen, const void *val, size_t vlen, int kind,
                    int64_t expire_at_ms) {
    return kv_write(kv, T_PUT, key, klen, val, vlen, kind, expire_at_ms, "kv_put_ex");
}

int cairn_kv_delete(cairn_kv *kv, const void *key, size_t klen) {
    return kv_write(kv, T_DEL, key, klen, NULL, 0, 0, 0, "kv_delete");
}

int cairn_kv_begin(cairn_kv *kv) {
    int rc;
    if ((rc = check_kv(kv, "kv_begin")) != 0) return rc;
    pthread_mutex_lock(&kv->wmu);
    if ((rc = check_writable(kv, "kv_begin")) == 0) {
        if (kv->in_txn) rc = cairn_err__set(CAIRN_TXN, "kv_begin: a transaction is already open (no nesting)");
        else {
            pthread_rwlock_wrlock(&kv->rw);
            kv->in_txn = 1;
            pthread_rwlock_unlock(&kv->rw);
        }
    }
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}

int cairn_kv_rollback(cairn_kv *kv) {
    int rc = 0;
    if ((rc = check_kv(kv, "kv_rollback")) != 0) return rc;
    pthread_mutex_lock(&kv->wmu);
    if (!kv->in_txn) rc = cairn_err__set(CAIRN_TXN, "kv_rollback: no transaction is open");
    else {
        pthread_rwlock_wrlock(&kv->rw);
        txn_clear(kv);
        pthread_rwlock_unlock(&kv->rw);
    }
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}

int cairn_kv_commit(cairn_kv *kv) {
    txn_op **v = NULL;
    size_t n = 0, i;
    uint32_t slot;
    int rc;
    if ((rc = check_kv(kv, "kv_commit")) != 0) return rc;
    pthread_mutex_lock(&kv->wmu);
    if (!kv->in_txn) {
        rc = cairn_err__set(CAIRN_TXN, "kv_commit: no transaction is open");
        goto unlock;
    }
    if ((rc = check_writable(kv, "kv_commit")) != 0) goto end_txn;
    if (kv->nops && !(v = (txn_op **)malloc(kv->nops * sizeof *v))) {
        rc = cairn_err__set(CAIRN_NOMEM, "kv_commit: out of memory");
        goto unlock; /* the transaction stays open: the caller may retry or roll back */
    }
    for (i = 0; i < kv->nops; i++) {
        txn_op *op = &kv->ops[i];
        /* a delete of a key only this transaction wrote needs no tombstone */
        if (op->type == T_DEL && !cairn_kd__find(kv->kd, op->buf, op->klen, op->hash)) continue;
        v[n++] = op;
    }
    if (n) {
        /* the overlay must go before the keydir shows the batch: both under one write lock is
         * not needed because apply() and the overlay agree on every key's value */
        rc = write_batch(kv, v, n, &slot);
    }
    free(v);
    pthread_rwlock_wrlock(&kv->rw);
    txn_clear(kv);
    pthread_rwlock_unlock(&kv->rw);
    if (rc || !n) goto unlock;
    return durable_unlock(kv, slot);
end_txn:
    pthread_rwlock_wrlock(&kv->rw);
    txn_clear(kv);
    pthread_rwlock_unlock(&kv->rw);
unlock:
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}

int cairn_kv_sync(cairn_kv *kv) {
    int rc;
    if ((rc = check_kv(kv, "kv_sync")) != 0) return rc;
    if (kv->readonly) return 0;
    pthread_mutex_lock(&kv->wmu);
    if (is_failed(kv)) rc = err_failed();
    else if (kv->active >= 0) {
        group_quiesce(kv);
        if ((rc = cairn_io__fsync(kv->files[kv->active].f)) != 0) set_failed(kv);
        else {
            pthread_mutex_lock(&kv->gmu);
            kv->synced = kv->written;
            pthread_mutex_unlock(&kv->gmu);
        }
    }
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}

/* Bytes of FILE and SEAL records in a data file (not dead: reclaim writes them again), read from
 * its mapping (stats only; an unmapped file counts none). */
static uint64_t frame_bytes(const kv_file *kf) {
    uint64_t n = 0;
    rec_hdr rh;
    if (!kf->map || kf->size < MREC || kf->size > kf->maplen) return 0;
    if (dec_hdr(kf->map, &rh) == 0 && rh.type == T_FILE) n += MREC;
    if (kf->size >= MREC + n && dec_hdr(kf->map + kf->size - MREC, &rh) == 0 && rh.type == T_SEAL) n += MREC;
    return n;
}

int cairn_kv_stats(cairn_kv *kv, struct cairn_kv_stats *user) {
    struct cairn_kv_stats st, *out = &st;
    uint32_t i;
    uint64_t data = 0;
    int rc;
    if ((rc = check_kv(kv, "kv_stats")) != 0) return rc;
    if (!user) return cairn_err__set(CAIRN_INVALID, "kv_stats: out is NULL");
    if ((rc = cairn_stats__check(user->size, sizeof st, "kv_stats")) != 0) return rc;
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&kv->rw);
    out->keys = live_count(kv, cairn_time__now_ms());
    for (i = 0; i < kv->nfiles; i++) {
        if (!kv->files[i].f) continue;
        out->data_files++;
        data += kv->files[i].size - frame_bytes(&kv->files[i]);
        out->disk_bytes += kv->files[i].size + (kv->files[i].hinted ? kv->files[i].hint_size : 0);
    }
    out->live_bytes = kv->live_bytes;
    out->dead_bytes = data - kv->live_bytes;
    out->keydir_bytes = cairn_kd__bytes(kv->kd);
    out->seq = kv->seq;
    out->compactions = kv->reclaims;
    out->in_txn = kv->in_txn;
    pthread_rwlock_unlock(&kv->rw);
    cairn_stats__copy(user, out, sizeof st);
    return 0;
}

/* ---- reclaim ---------------------------------------------------------------------------------- */

typedef struct rc_ctx {
    cairn_kv *kv;
    int64_t now;
    kd_ent **v;
    size_t n, cap;
    int rc;
} rc_ctx;

static int rc_collect(void *vctx, kd_ent *e) {
    rc_ctx *c = (rc_ctx *)vctx;
    if (expired(cairn_kd__expire(e), c->now)) return 0;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 1024;
        kd_ent **v = (kd_ent **)realloc(c->v, nc * sizeof *v);
        if (!v) {
            c->rc = cairn_err__set(CAIRN_NOMEM, "kv_reclaim: out of memory");
            return 1;
        }
        c->v = v;
        c->cap = nc;
    }
    c->v[c->n++] = e;
    return 0;
}

static cairn_kv *g_sort_kv; /* qsort has no context argument in C99; reclaim holds wmu */
static pthread_mutex_t g_sort_mu = PTHREAD_MUTEX_INITIALIZER;

static int cmp_ent_loc(const void *a, const void *b) {
    const kd_ent *x = *(kd_ent *const *)a, *y = *(kd_ent *const *)b;
    uint64_t lx = kd_loc(x), ly = kd_loc(y);
    uint64_t ox = g_sort_kv->files[KD_LOC_FILE(lx)].order, oy = g_sort_kv->files[KD_LOC_FILE(ly)].order;
    if (ox != oy) return ox < oy ? -1 : 1;
    return KD_LOC_OFF(lx) < KD_LOC_OFF(ly) ? -1 : KD_LOC_OFF(lx) > KD_LOC_OFF(ly);
}

typedef struct rc_out {
    kv_file *files;
    uint32_t n;
    int32_t cur;
    uint8_t *buf;
    size_t blen, bcap;
    uint64_t flushed; /* bytes of the current file already written */
    hintbuf hb;
} rc_out;

static int out_flush(rc_out *o) {
    kv_file *kf = &o->files[o->cur];
    int rc;
    if (!o->blen) return 0;
    if ((rc = cairn_io__pwrite(kf->f, o->buf, o->blen, o->flushed)) != 0) return rc;
    o->flushed += o->blen;
    o->blen = 0;
    return 0;
}

static int out_finish(cairn_kv *kv, rc_out *o) {
    int rc;
    if (o->cur < 0) return 0;
    if ((rc = out_flush(o)) != 0) return rc;
    if ((rc = cairn_io__fsync(o->files[o->cur].f)) != 0) {
        set_failed(kv);
        return rc;
    }
    rc = write_hint(kv->dir, &o->files[o->cur], &o->hb, "hint.tmp");
    free(o->hb.p);
    memset(&o->hb, 0, sizeof o->hb);
    o->cur = -1;
    return rc;
}

int cairn_kv_compact(cairn_kv *kv) {
    rc_ctx c;
    rc_out o;
    reclaim_list rl;
    cairn_kd *nkd = NULL;
    uint32_t nin = 0, *in = NULL, i;
    uint64_t major, minor, new_live = 0;
    uint8_t *rbuf = NULL;
    size_t rcap = 0, k;
    int rc, committed = 0;

    if ((rc = check_kv(kv, "kv_reclaim")) != 0) return rc;
    memset(&c, 0, sizeof c);
    memset(&o, 0, sizeof o);
    memset(&rl, 0, sizeof rl);
    o.cur = -1;
    pthread_mutex_lock(&kv->wmu);
    if ((rc = check_writable(kv, "kv_reclaim")) != 0) goto unlock;
    if (kv->in_txn) {
        rc = cairn_err__set(CAIRN_TXN, "kv_reclaim: not allowed inside a transaction");
        goto unlock;
    }
    group_quiesce(kv);
    if ((rc = drop_snapshot(kv)) != 0) goto unlock;
    if ((rc = seal_active(kv)) != 0) goto unlock;
    if (!(in = sorted_slots(kv, &nin))) {
        rc = cairn_err__set(CAIRN_NOMEM, "kv_reclaim: out of memory");
        goto unlock;
    }
    if (nin == 0) goto done;
    major = kv->files[in[nin - 1]].order >> 32;
    minor = (kv->files[in[nin - 1]].order & 0xffffffffu) + 1;
    c.kv = kv;
    c.now = cairn_time__now_ms();
    cairn_kd__each(kv->kd, rc_collect, &c);
    if ((rc = c.rc) != 0) goto fail;
    pthread_mutex_lock(&g_sort_mu);
    g_sort_kv = kv;
    if (c.n) qsort(c.v, c.n, sizeof *c.v, cmp_ent_loc);
    pthread_mutex_unlock(&g_sort_mu);
    if (!(nkd = cairn_kd__new()) || !(o.buf = (uint8_t *)malloc(RDR_CHUNK))) {
        rc = cairn_err__set(CAIRN_NOMEM, "kv_reclaim: out of memory");
        goto fail;
    }
    o.bcap = RDR_CHUNK;
    for (k = 0; k < c.n; k++) {
        kd_ent *e = c.v[k];
        uint64_t loc = kd_loc(e), off = KD_LOC_OFF(loc), rs = rec_size(e->klen, e->vlen), at;
        kv_file *src;
        const uint8_t *key = cairn_kd__key(e);
        kd_ent old;
        rec_hdr rh;
        if (KD_LOC_FILE(loc) >= kv->nfiles || !kv->files[KD_LOC_FILE(loc)].f) {
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: keydir entry points at a missing data file", kv->dir);
            goto fail;
        }
        src = &kv->files[KD_LOC_FILE(loc)];
        if (rs > rcap) {
            uint8_t *nb = (uint8_t *)realloc(rbuf, (size_t)rs);
            if (!nb) {
                rc = cairn_err__set(CAIRN_NOMEM, "kv_reclaim: out of memory");
                goto fail;
            }
            rbuf = nb;
            rcap = (size_t)rs;
        }
        if ((rc = cairn_io__pread(src->f, rbuf, (size_t)rs, off, NULL)) != 0) goto fail;
        /* the whole header must match the entry, as in read_rec: a record of another key whose
         * klen + vlen happens to be the same must not be copied under this key */
        if (cairn_crc32c__update(0, rbuf + 4, (size_t)rs - 4) != cairn_get32(rbuf) || dec_hdr(rbuf, &rh) != 0 ||
            rh.type != T_PUT || rh.klen != (size_t)e->klen || rh.vlen != e->vlen || memcmp(rbuf + HDR, key, e->klen) != 0) {
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: bad record at offset %" PRIu64 " (reclaim stopped)",
                                cairn_io__path(src->f), off);
            goto fail;
        }
        if (rbuf[5]) { /* drop the batch flag: the copy commits itself */
            rbuf[5] = 0;
            cairn_put32(rbuf, cairn_crc32c__update(0, rbuf + 4, (size_t)rs - 4));
        }
        if (o.cur >= 0 && o.flushed + o.blen > 0 && o.flushed + o.blen + rs > kv->max_file_size) {
            if ((rc = out_finish(kv, &o)) != 0) goto fail;
        }
        if (o.cur < 0) {
            uint64_t order = (major << 32) | minor++;
            char *p = file_path(kv->dir, order, "data.tmp");
            cairn_file *f = NULL;
            uint32_t slot;
            if (!p) {
                rc = CAIRN_NOMEM;
                goto fail;
            }
            rc = cairn_io__open(&f, p, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC);
            free(p);
            if (!rc) rc = add_slot(&o.files, &o.n, order, f, 0, &slot);
            if (rc) {
                cairn_io__close(f);
                goto fail;
            }
            o.cur = (int32_t)slot;
            o.flushed = 0;
        }
        at = o.flushed + o.blen;
        if (rs > o.bcap - o.blen) {
            if ((rc = out_flush(&o)) != 0) goto fail;
        }
        if (rs > o.bcap) {
            if ((rc = cairn_io__pwrite(o.files[o.cur].f, rbuf, (size_t)rs, o.flushed)) != 0) goto fail;
            o.flushed += rs;
        } else {
            memcpy(o.buf + o.blen, rbuf, (size_t)rs);
            o.blen += (size_t)rs;
        }
        o.files[o.cur].size = at + rs;
        rc = cairn_kd__put(nkd, key, e->klen, e->hash, KD_LOC(o.cur, at), e->vlen, e->kind, cairn_kd__expire(e), &old);
        if (rc < 0) {
            rc = cairn_err__set(CAIRN_NOMEM, "kv_reclaim: out of memory (keydir)");
            goto fail;
        }
        new_live += rs;
        {
            uint64_t s = cairn_get64(rbuf + 16);
            if (s > o.hb.max_seq) o.hb.max_seq = s;
        }
        if ((rc = hb_add(&o.hb, T_PUT, e->kind, key, e->klen, e->vlen, at, cairn_kd__expire(e))) != 0) goto fail;
    }
    if ((rc = out_finish(kv, &o)) != 0) goto fail;
    /* the commit point */
    rl.nin = nin;
    rl.nout = o.n;
    rl.in = (uint64_t *)malloc((nin + 1) * sizeof(uint64_t));
    rl.out = (uint64_t *)malloc((o.n + 1) * sizeof(uint64_t));
    if (!rl.in || !rl.out) {
        rc = cairn_err__set(CAIRN_NOMEM, "kv_reclaim: out of memory");
        goto fail;
    }
    for (i = 0; i < nin; i++) rl.in[i] = kv->files[in[i]].order;
    for (i = 0; i < o.n; i++) rl.out[i] = o.files[i].order;
    if ((rc = write_reclaim(kv->dir, &rl)) != 0) {
        /* RECLAIM may or may not be on disk now (e.g. the directory fsync after its rename
         * failed): leave every file as it is, reopen decides from RECLAIM */
        set_failed(kv);
        committed = 1;
        goto fail;
    }
    committed = 1;
    if ((rc = finish_reclaim(kv->dir, &rl)) != 0) {
        set_failed(kv); /* reopen finishes it */
        goto fail;
    }
    {
        kv_file *old_files;
        uint32_t old_n;
        cairn_kd *old_kd;
        for (i = 0; i < o.n; i++) map_file(&o.files[i]);
        pthread_rwlock_wrlock(&kv->rw);
        old_files = kv->files;
        old_n = kv->nfiles;
        old_kd = kv->kd;
        kv->files = o.files;
        kv->nfiles = o.n;
        kv->kd = nkd;
        kv->live_bytes = new_live;
        kv->active = -1;
        if (kv->next_major <= major) kv->next_major = major + 1;
        pthread_rwlock_unlock(&kv->rw);
        group_detach(kv); /* no group-commit leader may still hold one of the old files */
        for (i = 0; i < old_n; i++) {
            unmap_file(&old_files[i]);
            cairn_io__close(old_files[i].f);
        }
        free(old_files);
        cairn_kd__free(old_kd);
        o.files = NULL;
        o.n = 0;
        nkd = NULL;
    }
done:
    pthread_rwlock_wrlock(&kv->rw);
    kv->reclaims++;
    pthread_rwlock_unlock(&kv->rw);
    rc = 0;
    goto cleanup;
fail:
    if (!committed) {
        for (i = 0; i < o.n; i++) {
            (void)unlink_order(kv->dir, o.files[i].order, "data.tmp");
            (void)unlink_order(kv->dir, o.files[i].order, "hint.tmp");
        }
    }
cleanup:
    for (i = 0; i < o.n; i++) {
        unmap_file(&o.files[i]);
        cairn_io__close(o.files[i].f);
    }
    free(o.files);
    free(o.buf);
    free(o.hb.p);
    cairn_kd__free(nkd);
    free(c.v);
    free(rbuf);
    free(in);
    rl_free(&rl);
unlock:
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}
