/*
 * kv_internal.h - the private header of the log KV engine (not installed).
 *
 * The engine is split along its sections; cross-file internals are cairn_kv__<name>:
 *   kv.c          the FORMAT comment (the spec) and the record codec (encode / decode, file names)
 *   kv_txn.c      the transaction overlay (a transaction's writes, held until commit)
 *   kv_active.c   data files in use: file table, mappings, the active file (appends, sealing,
 *                 rotation) and group commit
 *   kv_recover.c  loading a store: applying records to the keydir, scanning data files, hint
 *                 files, the KEYDIR snapshot, the RECLAIM manifest of compaction
 *   kv_compact.c  compaction (cairn_kv_compact)
 *   kv_api.c      the other public functions (open / close / check, reads, iteration, writes,
 *                 transactions, sync, stats)
 *
 * Locks (struct cairn_kv): wmu serializes writers (every change, compaction, close); rw guards
 * the keydir, the file table and the overlay (readers take it shared); gmu guards the group
 * commit counters. Order: wmu, then rw or gmu (never both rw and gmu at once).
 */
#ifndef CAIRN_LOG_KV_INTERNAL_H
#define CAIRN_LOG_KV_INTERNAL_H

#include "keydir.h"
#include "util.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- record format (kv.c; the FORMAT comment there is the spec) ---------------------------- */

#define HDR 32u   /* header of a version 1 or 2 record */
#define HDR_MAX 32u /* no header is longer (version 3: at most 21 bytes) */
#define HDR3_MIN 6u /* the shortest version 3 header (a short PUT with a value under 128 bytes) */
#define V3_TAG 0x80 /* byte 4 of a version 3 record (the tag) has it; versions 1 and 2 never */
#define TAG_SHORT 0x40 /* version 3 tag: a PUT of kind 0, no expiry, klen - 1 in bits 0-4 (no klen varint) */
#define TAG_STXN 0x20  /* version 3 short tag: TXN */
#define TAG_TXN 0x04   /* version 3 long tag: TXN */
#define TAG_EXP 0x08   /* version 3 long tag: an expiry follows */
#define SHORT_KEY 32u  /* longest key of the short form */
#define T_PUT 1
#define T_DEL 2
#define T_COMMIT 3
#define T_FILE 4 /* first record of a version 2 or 3 data file */
#define T_SEAL 5 /* last record of a sealed version 2 or 3 data file */
#define F_TXN 1
#define MREC2 (HDR + 16u)    /* size of a version 2 FILE or SEAL record */
#define MREC3 31u            /* size of a version 3 SEAL record (4 + 1 + 1 + 1 + 8 + 16) */
#define CREC3 23u            /* size of a version 3 COMMIT record (4 + 1 + 1 + 1 + 8 + 8) */
#define FORMAT_VERSION 3u
#define LOAD_TRIES 64        /* loads of a reader that keeps seeing the directory change */
#define DEFAULT_MAX_FILE ((uint64_t)64 << 20)
#define HINT_HDR 32u
#define HINT_ENT 24u
#define WB_STEP ((uint64_t)8 << 20)      /* CAIRN_SYNC_NONE: appended bytes handed to writeback at a time */
#define RESERVE_STEP ((uint64_t)1 << 20) /* disk blocks reserved ahead of the active file's end */
#define WMAP_MAX ((uint64_t)1 << 30)     /* largest read-write mapping of an active file */
#define WMAP_SMALL 4096u /* larger appends (batches) use pwrite: cheaper than page faults */
#define RDR_CHUNK ((size_t)1 << 20)      /* read window of a scan; compaction's output buffer */
#define RDR_CHUNK_SNAP ((size_t)1 << 20) /* write buffer of the KEYDIR snapshot */

typedef struct rec_hdr {
    int type, flags, kind;
    uint32_t vlen;
    size_t klen;
    uint64_t seq;   /* 0 where the record carries none (version 3 PUT and DEL) */
    int64_t expire;
    uint32_t hlen;  /* header length: the key is at offset hlen, the value at hlen + klen */
    int v3;         /* a version 3 record */
    int has_seq;    /* the record carries seq */
} rec_hdr;

/* Size of a record with an hlen-byte header. */
static inline uint64_t rec_size(uint32_t hlen, size_t klen, size_t vlen) { return (uint64_t)hlen + klen + vlen; }
/* Bytes of a decoded record: header, key and value. */
static inline uint64_t rec_len(const rec_hdr *r) { return (uint64_t)r->hlen + r->klen + r->vlen; }
static inline int expired(int64_t expire, int64_t now) { return expire != 0 && expire <= now; }
/* Size of the SEAL record of a data file of that version (a FILE record is always MREC2: its
 * 32-byte header lets an older release read the version and answer CAIRN_VERSION). */
static inline uint32_t mrec_size(int version) { return version >= 3 ? MREC3 : MREC2; }
#define FILE_ENC 2

/* malloc'd "<dir>/<16 hex of order>.<ext>" (NULL on ENOMEM). */
char *cairn_kv__file_path(const char *dir, uint64_t order, const char *ext);
/* "<16 hex>.<ext>" exactly: 1 with *order set, else 0. */
int cairn_kv__parse_name(const char *name, const char *ext, uint64_t *order);
/* Header length of a record of this type and fields as a data file of `version` holds it (of
 * expire only whether it is 0 matters). */
uint32_t cairn_kv__hlen(int version, int type, int kind, size_t klen, size_t vlen, int64_t expire);
/* Size of the PUT record (kind, klen, vlen, expire) in a data file of `version`. */
static inline uint64_t put_size(int version, int kind, size_t klen, size_t vlen, int64_t expire) {
    return rec_size(cairn_kv__hlen(version, T_PUT, kind, klen, vlen, expire), klen, vlen);
}
/* Encode a full version 3 record into out (cairn_kv__hlen(3, ...) + klen + vlen bytes); returns its size.
 * seq is stored only by COMMIT, FILE and SEAL; expire only by PUT (when not 0). */
size_t cairn_kv__enc_rec(uint8_t *out, int type, int flags, int kind, const void *key, size_t klen, const void *val,
                         size_t vlen, uint64_t seq, int64_t expire);
/* Encode a FILE (a = order, b = version) or SEAL (a = its own offset, b = 0) record in encoding
 * enc (3: version 3, MREC3 bytes; else the 32-byte header, MREC2 bytes); returns its size. Every
 * FILE record has the 32-byte header (FILE_ENC); a SEAL is encoded as its file's records. */
size_t cairn_kv__enc_mark(uint8_t *out, int enc, int type, uint64_t a, uint32_t b, uint64_t seq);
/* Parse and range-check the header at h, of either encoding, reading at most avail bytes (the
 * one header parser). 0 if plausible, with r->hlen set. */
int cairn_kv__dec_hdr(const uint8_t *h, size_t avail, rec_hdr *r);

/* ---- the handle ----------------------------------------------------------------------------- */

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
    uint64_t wb;        /* active file, CAIRN_SYNC_NONE: bytes before it were handed to writeback */
    int version;        /* its format: 1 (no FILE record), 2 or 3; 0: empty (gets a version 3 FILE) */
} kv_file;

/* A file table the keydir reads keys from: the handle's, or compaction's outputs. */
typedef struct kv_files_ref {
    const char *dir;
    kv_file **files;
    uint32_t *n;
} kv_files_ref;

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
    kv_files_ref fref; /* the keydir's source of keys: (dir, &files, &nfiles) */
    kv_file *files;
    uint32_t nfiles; /* slots in use or free */
    int32_t active;  /* slot of the active file, -1: none (created at the next write) */
    uint64_t next_major;
    uint64_t seq;
    uint64_t live_bytes;
    int failed; /* fail-stop (atomic) */
    uint64_t compactions; /* compactions run by this handle */
    int snap_valid; /* KEYDIR on disk matches the files (nothing written since open) */
    uint8_t *ebuf;  /* record encoding buffer (writer) */
    size_t ecap;

    int in_txn;
    txn_op *ops;
    size_t nops, capops;
    struct txn_chunk *chunks; /* the transaction's keys and values (newest chunk first) */
    uint64_t *oslots; /* open addressing: the op's hash << 32 | (op index + 1); 0 empty */
    uint32_t omask;

    uint64_t written, synced; /* bytes appended / covered by an fsync (group commit) */
    int syncing;
    cairn_file *gfile;

    /* per-handle operation counters for cairn_kv_metrics (metrics.h): atomic adds, relaxed loads */
    uint64_t n_puts, n_gets, n_deletes, n_commits, n_written, n_fsyncs;
    uint64_t n_errors[32]; /* calls that returned code -i, by i */
};

static inline void kv_count(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }
/* Count a public call's error by its code; returns rc. */
static inline int kv_result(cairn_kv *kv, int rc) {
    if (rc < 0 && rc > -32 && kv) kv_count(&kv->n_errors[-rc], 1);
    return rc;
}
/* fsync a data file of the store, counted. */
static inline int kv_fsync(cairn_kv *kv, cairn_file *f) {
    kv_count(&kv->n_fsyncs, 1);
    return cairn_io__fsync(f);
}

/* Fail-stop: after a fatal I/O error (a failed fsync, a write that could not be undone, a
 * change written but not indexed) every later call but close is CAIRN_FAILED (reads too: the
 * in-memory view may be wrong), with the message every engine uses (cairn_err__failed). */
static inline int is_failed(cairn_kv *kv) { return __atomic_load_n(&kv->failed, __ATOMIC_ACQUIRE); }
static inline void set_failed(cairn_kv *kv) { __atomic_store_n(&kv->failed, 1, __ATOMIC_RELEASE); }
static inline int err_failed(const cairn_kv *kv, const char *fn) { return cairn_err__failed(fn, kv->dir); }

/* ---- records named by the keydir (kv_api.c) ------------------------------------------------- */

/* A record located through the keydir: its decoded header and its bytes. */
typedef struct rec_view {
    rec_hdr r;
    const uint8_t *b; /* the record from its first byte: a mapping, or buf */
    uint8_t *buf;     /* malloc'd when the bytes had to be read (free it: rec_view_done) */
    kv_file *kf;
    uint64_t off;
} rec_view;

static inline void rec_view_done(rec_view *v) {
    free(v->buf);
    v->buf = NULL;
}

/* The PUT record at loc (KD_LOC) of the file table files[0..n). whole = 0: its header and key
 * are at v->b; whole = 1: the whole record, its CRC checked. The location must name a data file
 * of the table, the record must lie inside the file's logical size and decode as a PUT: anything
 * else is CAIRN_CORRUPT naming the data file and offset. Caller holds a lock that keeps the
 * file table still. */
int cairn_kv__rec_at(const char *dir, kv_file *files, uint32_t n, uint64_t loc, int whole, rec_view *v);
/* The keydir's source of keys for the handle's own table (kd_src over kv->files). */
void cairn_kv__kd_src(cairn_kv *kv, kd_src *src);
/* The keydir's source over a file table (the handle's, or compaction's outputs). */
int cairn_kv__src_key(void *ctx, uint64_t loc, int verify, kd_key *k);
const void *cairn_kv__src_addr(void *ctx, uint64_t loc);

/* ---- argument checks (kv_api.c) -------------------------------------------------------------- */

/* Every entry point starts here: NULL handle, or a handle inherited across fork(). */
int cairn_kv__check_handle(const cairn_kv *kv, const char *fn);
/* Writer preconditions (caller holds wmu): not read-only, not failed. */
int cairn_kv__check_writable(cairn_kv *kv, const char *fn);
/* What compaction would keep and free (caller holds a lock): *live bytes of live, unexpired
 * records; *data bytes of all records (FILE and SEAL marks excluded); *nexpired keys expired
 * but still in the keydir. data - live is what cairn_kv_compact frees. 0, or an error (a keydir
 * entry whose record is bad). */
int cairn_kv__usage(cairn_kv *kv, int64_t now, uint64_t *live, uint64_t *data, uint64_t *nexpired);

/* ---- transaction overlay (kv_txn.c) ---------------------------------------------------------- */

txn_op *cairn_kv__txn_find(cairn_kv *kv, const void *key, size_t klen, uint32_t hash);
/* Drop the overlay and end the transaction (caller holds wmu and the write lock). */
void cairn_kv__txn_clear(cairn_kv *kv);
/* Record a write in the open transaction (caller holds wmu and the write lock). */
int cairn_kv__txn_add(cairn_kv *kv, int type, const void *key, size_t klen, uint32_t hash, const void *val,
                      size_t vlen, int kind, int64_t expire);

/* ---- data files, the active file, group commit (kv_active.c) --------------------------------- */

/* A free or new slot of a file table for (order, f, size): *slot. */
int cairn_kv__add_slot(kv_file **files, uint32_t *n, uint64_t order, cairn_file *f, uint64_t size, uint32_t *slot);
void cairn_kv__map_file(kv_file *kf);
void cairn_kv__unmap_file(kv_file *kf);
int cairn_kv__trim_active(kv_file *af);
int cairn_kv__seal_active(cairn_kv *kv);
/* Append len bytes to the active file; on success returns holding the write lock. */
int cairn_kv__append(cairn_kv *kv, const uint8_t *buf, size_t len, uint32_t *slot, uint64_t *off);
/* The next piece of a streamed append: *p and *n (n > 0) valid until the next call; 0 or an error. */
typedef int (*kv_piece_fn)(void *ctx, const uint8_t **p, size_t *n);
int cairn_kv__append_stream(cairn_kv *kv, const uint8_t *buf, size_t len, kv_piece_fn next, void *ctx,
                            uint32_t *slot, uint64_t *off);
uint8_t *cairn_kv__ebuf_get(cairn_kv *kv, size_t n);
void cairn_kv__ebuf_done(cairn_kv *kv, uint8_t *p);
/* Make an append durable per the sync mode. Called with wmu held; returns with it released.
 * fn names the caller in a CAIRN_FAILED message. */
int cairn_kv__durable_unlock(cairn_kv *kv, uint32_t slot, const char *fn);
void cairn_kv__group_quiesce(cairn_kv *kv);
void cairn_kv__group_detach(cairn_kv *kv);

/* ---- recovery (kv_recover.c) ------------------------------------------------------------------ */

typedef struct hintbuf {
    uint8_t *p;
    size_t n, cap;
    uint64_t max_seq;
} hintbuf;

/* The RECLAIM manifest of a compaction: input and output file orders. */
typedef struct compact_manifest {
    uint64_t *in, *out;
    uint32_t nin, nout;
} compact_manifest;

/* Apply one committed PUT/DEL found at (slot, off) to the keydir (open and write paths). */
int cairn_kv__apply(cairn_kv *kv, cairn_kd *kd, uint32_t slot, uint64_t off, int type, int kind, const void *key,
                    size_t klen, uint32_t hash, uint32_t vlen, int64_t expire, int64_t now);
/* The format version of a data file from its first record: 3 or 2 (a FILE record saying so), 1
 * (anything else), 0 (empty). */
int cairn_kv__probe_version(kv_file *kf);
int cairn_kv__hint_add(hintbuf *hb, int type, int kind, const void *key, size_t klen, uint32_t vlen, uint64_t off,
                       int64_t expire);
int cairn_kv__write_hint(const char *dir, kv_file *kf, hintbuf *hb, const char *ext);
/* Write hints for sealed files that have none (they were sealed during this session). */
void cairn_kv__hint_sealed(cairn_kv *kv);
/* Slots in use sorted by order (malloc'd; *n set). */
uint32_t *cairn_kv__sorted_slots(cairn_kv *kv, uint32_t *n);
int cairn_kv__write_snapshot(cairn_kv *kv);
/* The snapshot describes the files as they were at open; drop it before they change. */
int cairn_kv__drop_snapshot(cairn_kv *kv);
void cairn_kv__manifest_free(compact_manifest *m);
int cairn_kv__manifest_write(const char *dir, const compact_manifest *m);
/* Everything after compaction's commit point; idempotent (open runs it again after a crash). */
int cairn_kv__compact_finish(const char *dir, const compact_manifest *m);
int cairn_kv__unlink_order(const char *dir, uint64_t order, const char *ext);
/* Load the store into kv (strict: the check mode, every file scanned, nothing fixed). */
int cairn_kv__load(cairn_kv *kv, int strict);

#endif
