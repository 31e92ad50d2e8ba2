/*
 * blob.c - the blob store: uint32 keys -> byte arrays in one file, with free-space reuse.
 *
 * FORMAT (version 3; all integers little-endian; CRC = CRC32C, Castagnoli, initial value 0)
 *
 * Data file <path>: a 64-byte header, then entries back to back up to data_end.
 *
 *   header    0   8  magic "CAIRNBLB"
 *             8   4  u32 version (3; versions 1, without the LSN, and 2, without the index
 *                    id, are read; a writer upgrades them)
 *            12   4  u32 flags: bit 0 OPEN = a writer has this file open (or died with it
 *                    open): its log, the one with wal_salt, may hold changes not in this file;
 *                    other bits zero
 *            16   8  u64 next_key: the key the next auto create gets (> every key ever used)
 *            24   8  u64 data_end: logical end of the file (== its size when consistent)
 *            32   8  u64 lsn: WAL sequence number of the commit record of the last transaction
 *                    applied to this file (0: none yet); every change the log numbered up to
 *                    it is in this file
 *            40   4  u32 wal_salt: salt of the log of the last writer (0: none yet)
 *            44   4  u32 index id: the id in the header of the index file <path>-index that
 *                    describes this file (0: none; always 0 while OPEN). Version 2: reserved
 *            48  12  reserved, zero
 *            60   4  u32 CRC of bytes [0, 60)
 *
 *   entry     0   4  u32 CRC of bytes [4, 32) (the rest of this header)
 *             4   1  u8  type: 1 = blob, 2 = free
 *             5   3  reserved, zero
 *             8   8  u64 size of the whole entry (header, payload and slack), >= 32
 *            16   4  u32 key (blob; 0 for free)
 *            20   4  u32 payload length (blob; 0 for free), <= size - 32
 *            24   4  u32 CRC of the payload (blob; 0 for free)
 *            28   4  reserved, zero
 *            32   -  payload, then slack (unused bytes) up to size
 *
 * Every byte in [64, data_end) belongs to exactly one entry. Free entries are maximal (two free
 * entries are never adjacent) and the last entry is never free (the file is cut instead).
 *
 * Names: <path> is made canonical first (realpath: symlinks resolved), and every file name below
 * is built from that, so every spelling of the path through symlinks shares them. A dangling
 * symlink is CAIRN_PATH.
 *
 * Write-ahead log <path>-wal (format: core/src/wal/wal.c; the journaled writes below are
 * core/src/wal/journal.c). Every change to the data file is first logged as one WAL transaction
 * of physical records, committed, and (per the sync mode) fsynced; only then are the same bytes
 * written to the data file:
 *   type 1 WRITE    payload = u64 offset, then the bytes to write there
 *   type 2 TRUNCATE payload = u64 new size
 * An operation's transaction holds its entry writes, the free-entry headers it changes (an
 * entry without slack and the header of the free entry right after it are one WRITE of both), a
 * truncate when the tail became free, and a header write when next_key or data_end changed (in
 * the log its lsn field is 0). Until a committed change is written to the data file, reads are
 * served from memory. Applying transactions to the data file writes their records in order, then
 * the header (last) with lsn = the commit sequence number of the last transaction applied whole,
 * so a header never claims a transaction whose writes precede it in the file's write order.
 * The header is only written in place while the log holds a copy of it (next_key, data_end,
 * flags, salt): the first transaction after every checkpoint logs the header, and flag or LSN
 * changes without a data change are header-only transactions. A torn header write is redone.
 * The log's sequence numbers continue across checkpoints and sessions: a writer open numbers the
 * log above the file's lsn, and a checkpoint makes the file's lsn the last number the log used
 * (with a header transaction when the log used numbers after its last commit: failed writes),
 * so the first record after a checkpoint is lsn + 1.
 *
 * Recovery (writer open) never moves the data file backwards and validates before it writes:
 *   0. the log's owner: if the header is OPEN and <path>-wal is missing, or its salt is not
 *      wal_salt, the changes of a writer that used another name of this file (a hard link) may
 *      be in that name's log: CAIRN_CORRUPT naming the salt expected and <path>-wal, nothing
 *      touched (open it once under that name to recover). A log cut shorter than its header
 *      holds nothing and is accepted; a file that is not OPEN accepts the log beside it;
 *   1. read the header's lsn L (unknown for version 1 or a header that does not check);
 *   2. plan: no committed transaction in the log: nothing to redo. L unknown: redo every
 *      committed transaction (as version 1 did). The log's newest commit is below L: the file is
 *      ahead (the log lost its tail, or was copied before the file): nothing to redo. Else the
 *      log covers the file: redo every committed transaction in log order (idempotent physical
 *      records; redoing from the log's start is right even when a power loss kept the stamped
 *      header but not every write it covers), unless the log's first record is above L + 1:
 *      the changes in between are in neither file: CAIRN_CORRUPT naming both files;
 *   3. overlay the redo in memory and validate the result: header (bad magic or CRC:
 *      CAIRN_CORRUPT; other version: CAIRN_VERSION; file shorter than data_end:
 *      CAIRN_CORRUPT) and every entry header from 64 to data_end, rebuilding the index
 *      (key -> offset) and the free lists: a bad header CRC, a size that leaves the file, a
 *      payload longer than its entry or a duplicate key is CAIRN_CORRUPT with the file and
 *      offset. An error here leaves both files as they were;
 *   4. write the redo to the data file (its header records keep lsn L), cut bytes past data_end;
 *      number the log above max(L, the log's last sequence number); log and apply a header
 *      transaction that marks the file OPEN with this log's salt (it stamps its own commit as
 *      the LSN); fsync; truncate the log. A crash anywhere in between redoes the same.
 *      Deferred: when the file was closed cleanly (not OPEN, its index file used: it matched the
 *      file exactly), the log holds no valid record and there is nothing to cut, the open writes
 *      nothing (no fsync): step 4 runs at the first call that may write (create, update, delete,
 *      reserve, begin, commit, compact, snapshot, backup), under the write lock, before that
 *      call logs anything. Crash-safe as before: until then the data file, its header (not OPEN,
 *      naming the index id) and the index file are byte for byte what the clean close left, so a
 *      crash, or a close (which then writes nothing either), leaves a cleanly closed store; from
 *      the first change on, the order is the one above (OPEN durable, index id cleared, index
 *      file removed, then changes logged).
 * Close: checkpoint; a header transaction that clears OPEN and names a new index id (a file
 * closed cleanly needs no log beside it); checkpoint; then the index file (below).
 *
 * Index file <path>-index (written by a clean close; never needed: without it the open scans):
 *   header    0   8  magic "CAIRNBIX"
 *             8   4  u32 version (2; version 1 files are not read: the open scans, the next
 *                    close writes version 2)
 *            12   4  u32 id: equals the index id of the data file header it describes
 *            16   8  u64 B: blob records
 *            24   8  u64 F: free records
 *            32   8  u64 data_end of the data file
 *            40   8  u64 next_key of the data file
 *            48   8  u64 size of the data file when the index was written
 *            56   8  u64 its mtime then (ns since the epoch)
 *            64   4  u32 its inode number xor device number (low 32 bits)
 *            68   4  u32 CRC of the page CRC table
 *            72   8  u64 live bytes (sum of the blobs' payload lengths)
 *            80  44  zero
 *           124   4  u32 CRC of bytes [0, 124)
 *   page CRC table at 128: a u32 CRC per 64 KiB page of the body (the last may be shorter),
 *   then zero bytes up to a multiple of 8; then the body (24 B + 16 F bytes, to the file's end):
 *   blob record  24 bytes, keys strictly ascending: u32 key, u32 payload length, u64 entry
 *                offset, u64 entry size
 *   free record  16 bytes, offsets ascending: u64 offset, u64 size
 * Written after the closing header is in the data file and fsynced (durable replace: a .tmp
 * file, fsync, rename, directory fsync), so it records the file's final size and mtime. An open
 * with nothing to redo whose header is not OPEN and names an index id maps the index file and
 * takes its blob records as they are as the base of the key index (no per-entry work), only when
 * all of this holds, else it scans (the index is never trusted over the data): the id matches;
 * header, table and page CRCs check, the padding is zero; data_end, next_key, size, mtime and
 * inode/device match the data file as it is; blob records ascend by key, keys below next_key,
 * entries inside [64, data_end) with lengths that fit, lengths adding up to the live bytes; free
 * records ascend, never adjacent nor last, each matching the free entry header in the data file
 * (a create writes into them; they go into the free lists); all sizes add up to data_end - 64.
 * These checks are one pass over the mapped bytes, page by page (CRC, then compares). Any change
 * to the data file after the close (a writer clears the id before its first change, and removes
 * the index file once that header is durable; an external write moves the mtime) makes the index
 * unusable. A record is checked against the data file when used: a read checks the entry header
 * (CRC, type, key, length) and the payload CRC; an update or delete of a key whose record came
 * from the index file first checks its entry header, size included (entry_verify). A mismatch is
 * CAIRN_CORRUPT naming the data file and offset, nothing changed, and a handle that saw any
 * damage writes no index file at close (the next open scans). In memory, changes since the open
 * go to an overlay map over the mapped records (tombstones for deleted ones); count and live bytes
 * come from the header and follow the changes; iteration and compaction merge the two; once the
 * overlay holds half as many keys as the base, both are folded into one map (idx_fold). The
 * index file is never written in place (a close renames a new one over it), so the mapping
 * stays valid; a program that cut it in place under an open handle would fault the handle.
 * Payload CRCs are checked on every read (and by cairn_blob_check, which always scans).
 *
 * Readers (read-only opens, cairn_blob_check) take no lock and write nothing; a writer in another
 * process may apply transactions in place, checkpoint (apply, stamp, cut, truncate the log) and
 * compact (rename a new file over <path>) at any moment. The writer's order is what readers rely
 * on: a change is committed in the log before any of its bytes reach the data file; the header
 * is stamped (LSN, monotonic) after the bytes it covers; the log is emptied only after the header
 * covers all of it; log sequence numbers never repeat. A view is built and validated like a
 * seqlock:
 *   1. read the whole log (W0: its size and the CRC of all its bytes), then open <path> and read
 *      its header bytes (H0);
 *   2. plan as recovery does and overlay the redo in memory; read the header through the
 *      overlay, scan every entry (cairn_blob_check: and read every payload);
 *   3. read the log again (W1), then the header again (H1), in that order.
 *   The view is accepted when W1 == W0 and H1 == H0. Then no byte the scan read was written
 *   during the attempt by a transaction outside the overlay: such a write belongs to a
 *   transaction committed after W0 (the ones in W0 are in the overlay); either its stamp came
 *   before H1 (H1 != H0: LSNs only grow) or it had not come yet when W1 was read, so the log still
 *   held it (W1 != W0: it was appended, and numbers never repeat after a reset). Otherwise the
 *   attempt is retried (a little backoff), up to 64 times, then CAIRN_BUSY. An attempt that fails
 *   (CAIRN_CORRUPT from the log or an entry caught half written) while W or H moved is a retry;
 *   a failure is reported only when it repeats, with the same error, over a store that did not
 *   move (W and H equal to those of the failed attempt). A compaction under a reader: the reader
 *   keeps the descriptor of the file it opened; the renamed-over file is never written again, and
 *   consistent by itself; the next view opens <path> anew.
 * A read-only handle keeps its view (a snapshot) until a read through it fails its checks (entry
 * header CRC, type, key, length, payload CRC): then the writer changed those bytes since the view
 * was built, and the handle builds a new view (as above), swaps it in and reads the key there (its
 * bytes then, or CAIRN_NOTFOUND when it is gone). CAIRN_CORRUPT only when the read fails again in a
 * view whose W and H equal the failed view's; CAIRN_BUSY after 64 refreshes. A read thus returns
 * the bytes of a committed version of the key (the view's or a newer one), never a mix, and never
 * a false CAIRN_CORRUPT.
 *
 * Space (a full disk must not lock the user out): every byte a change will write to the data
 * file is allocated (reserved ahead in steps) before the change is logged, and a truncate is
 * not done when applied (bytes past data_end belong to nothing) but by the checkpoint, so
 * applying and redoing never need new space; a checkpoint can always run and empties the log.
 * The log keeps 64 KiB preallocated for deletes and header transactions (cairn_wal__set_reserve),
 * which ordinary changes never use: on a full disk creates and updates fail with CAIRN_NOSPC
 * and nothing changes, while deletes, flush, close, a writer open and (once space is free)
 * compact work. The data file may be larger than data_end while a writer has it open.
 *
 * Checkpoint (WAL past 4 MiB, flush, close, compact): fsync the WAL, write every pending change
 * to the data file (header stamped last); if the log used numbers above the stamped lsn (failed
 * writes), log and apply a header transaction; cut the data file to data_end; fsync it;
 * truncate the WAL.
 * Compact: checkpoint, write every live blob back to back into <path>.compact, fsync, rename
 * over <path>, fsync the directory (either file is complete at every instant). A <path>.compact
 * left by a compaction that was killed before its rename is removed by the next writer open
 * (under the lock, so never a live one).
 * Lock: the writer takes an exclusive flock on <path>-lock (one writer per name; it serialises
 * creation), then one on the data file itself (one writer per file, whatever name or hard link
 * opens it): CAIRN_LOCKED / CAIRN_BUSY; both waits share one deadline (lock_timeout_ms in all). Compaction locks the new file before it takes the
 * name. Readers take no lock. A handle belongs to the process that opened it: in a forked child
 * every call is CAIRN_FORKED, and close there writes nothing and keeps the parent's locks.
 * Keys: auto keys start at 1 and come from next_key; after key 4294967295 they are exhausted
 * (CAIRN_RANGE). A rolled-back transaction leaves no trace except in next_key: a key it handed
 * out is never handed out again (the rollback commits the counter alone); so does a transaction
 * whose commit failed before its commit point.
 *
 * Writer I/O: the writer maps the data file (shared, read-write) over its allocated bytes;
 * applied records and header stamps are stored through the mapping and reads of applied entries
 * are served from it (without test hooks; with them every access is a pwrite/pread), so a small
 * operation makes one write call, the log's. Every store lands in allocated blocks (see Space),
 * and fsync of the data file covers the mapping's pages.
 * A payload of 64 KiB or more is not copied: its record is logged from the caller's buffer (one
 * cairn_wal__append2 of the entry header and the payload) and applied from it once durable; if it
 * is still pending when the call returns (CAIRN_SYNC_NONE below the checkpoint size, inside a
 * transaction, a failed apply) it is copied then.
 *
 * Placement: create takes the best-fitting free entry (smallest that fits, lowest offset on a
 * tie), else appends. An update that fits its entry rewrites it in place. A growing update
 * merges the entry with its free neighbours: when that space fits, the blob is written at its
 * start (growing in place, or moving down into a free predecessor); otherwise that space becomes
 * one free entry (or is cut when it is the tail) and the blob is placed like a create. A free
 * remainder is split off when it can hold an entry header (32 bytes); a smaller one stays as
 * slack in the entry (at the tail it is cut instead).
 */
#include "cairn.h"
#include "util.h"
#include "metrics.h"
#include "containers.h"
#include "wal/wal.h"
#include "wal/journal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FHDR 64u
#define EHDR 32u
#define ET_BLOB 1u
#define ET_FREE 2u
#define CKPT_BYTES (4u * 1024u * 1024u)
#define WAL_RESERVE (64u * 1024u)    /* log space kept for deletes and header transactions */
#define GROW_MIN (64u * 1024u)       /* data file space is reserved ahead in steps of at least */
#define GROW_MAX (8u * 1024u * 1024u)
#define SCAN_CHUNK (1u << 20)
#define MAGIC "CAIRNBLB"
#define VERSION 3u
#define KEY_LIMIT ((uint64_t)UINT32_MAX + 1u) /* next_key at this value: keys exhausted */
#define HF_OPEN 0x1u /* header flag: a writer has the file open; its log has the header's salt */

/* ---- containers (util/containers.h): the index and the free lists ----------------------- */

typedef struct brec {
    uint64_t off;  /* entry offset */
    uint64_t size; /* entry size (free: block size) */
    uint64_t pend; /* id of the pending write holding this entry's bytes (0: none) */
    uint32_t len;  /* payload length */
    uint32_t flags; /* key index overlay only: BF_DEAD, BF_UNCHECKED */
} brec;

#define BF_DEAD 1u      /* a tombstone: the key of a base record is deleted */
#define BF_UNCHECKED 2u /* a base record folded into the overlay, never checked against the data */

/* The maps hold brec values. */
static brec *map_get(const cairn_u64map *m, uint64_t k) { return (brec *)cairn_u64map__get(m, k); }

/* ---- the handle --------------------------------------------------------------------------- */

enum { U_IDX_OLD = 1, U_IDX_NEW, U_FREE_ADDED, U_FREE_REMOVED, U_END, U_NEXT, U_HDR };

typedef struct undo {
    int op;
    uint64_t k;
    brec v;
} undo;

typedef struct evrec {
    int ev;
    uint32_t key;
    uint64_t old_size, new_size;
} evrec;

typedef struct sub {
    uint64_t id;
    cairn_blob_event_fn fn;
    void *ctx;
} sub;

typedef struct fired {
    evrec *ev;
    size_t nev;
    sub *subs;
    size_t nsubs;
} fired;

struct cairn_blob {
    pthread_rwlock_t mu;             /* readers share it; every change takes it exclusively;
                                        writer-preferring (cairn_rwlock__init) */
    char *path;
    char *wal_path;
    cairn_file *f;
    cairn_wal *wal;
    cairn_lock *lock;                /* flock on <path>-lock: one writer per name, and creation */
    cairn_lock *ilock;               /* flock on the data file itself: one writer per file */
    int ro, sync, failed;
    uint64_t next_key, end;          /* current state */
    uint64_t hdr_next_key, hdr_end;  /* as in the last header written to the log */
    uint64_t disk_next_key, disk_end;/* as in the newest header applied to the data file */
    uint32_t disk_flags, disk_salt;  /* (the LSN in its header: cairn_jnl__lsn) */
    uint32_t hdr_flags, hdr_salt;    /* flags and log salt that headers are logged with */
    uint32_t disk_idx, hdr_idx;      /* the index id of those headers (0: no index file) */
    int force_hdr;                   /* the next transaction logs the header even if unchanged */
    int dormant;                     /* writer open of a cleanly closed file: nothing written yet
                                        (the header not marked OPEN, the index file kept); the
                                        first call that may write activates it (writer_activate) */
    int idx_loaded;                  /* the open loaded the index file (no scan) */
    int idx_suspect;                 /* an entry failed its checks: the close writes no index file
                                        (the next open scans); set atomically (shared lock) */
    int in_ckpt;
    int urgent;                      /* the next commit frees space: it may use the log's reserve */
    uint64_t alloc;                  /* data file bytes allocated (its size): writes below it
                                        never need new space */
    uint8_t *map;                    /* writer: shared mapping of the data file's [0, maplen)
                                        (maplen may pass its end; only [0, alloc) is touched):
                                        applied records are stored and reads served through it */
    uint64_t maplen;
    /* The key index: key -> entry. Two layers (see "Index file" in the FORMAT comment): the base,
     * the blob records of the index file the open used (mapped read-only, sorted by key; none
     * after a scan), and the overlay idx, every change since (a brec per key, tombstones (BF_DEAD)
     * for deleted base keys), which wins over the base. Every access goes through idx_get,
     * idx_next and the idx_ and raw_idx_ changes below. */
    cairn_u64map idx;                /* overlay: key -> entry (brec) */
    const uint8_t *base;             /* base records (BREC bytes each, keys ascending), or NULL */
    size_t nbase;
    const void *bmap;                /* the mapping of the index file that holds them */
    uint64_t bmaplen;
    uint64_t nkeys;                  /* keys present (base and overlay together) */
    cairn_u64map fstart;             /* free entry offset -> (size) */
    cairn_u64map fend;               /* free entry end -> (offset in .off) */
    cairn_treap fit;                 /* free entries by (size, offset): best fit */
    uint64_t live_bytes, free_bytes, free_entries;
    undo *un;
    size_t nun, capun;
    cairn_jnl *jnl;                  /* pending writes, overlay, apply, checkpoint (journal.h) */
    evrec *ev;
    size_t nev, capev;
    sub *subs;
    size_t nsubs, capsubs;
    uint64_t next_sub;
    int in_txn;
    uint64_t txn_pmark;              /* journal mark at begin */
    size_t txn_evmark;
    uint32_t gen;                    /* fork generation of the opening process */
    struct vsig {                    /* read-only: what the view was validated against */
        int wal;                     /* the log existed */
        uint64_t wsize;              /* its size and the CRC of all its bytes */
        uint32_t wcrc;
        uint8_t hdr[FHDR];           /* the data file's header bytes */
    } vs;
    int verify;                      /* read-only open for cairn_blob_check: payloads are read
                                        inside the validated window */
    /* per-handle operation counters for cairn_blob_metrics (metrics.h): relaxed atomic adds
     * (reads count under the shared lock), relaxed loads */
    uint64_t n_creates, n_reads, n_updates, n_deletes, n_commits, n_fsyncs;
    uint64_t n_errors[32];           /* calls that returned code -i, by i */
};
typedef struct vsig vsig;

static void bcount(uint64_t *c) { __atomic_fetch_add(c, 1, __ATOMIC_RELAXED); }

/* Count a public call's error by its code (cairn_blob_metrics); returns rc. */
static int bres(cairn_blob *b, int rc) {
    if (rc < 0 && rc > -32 && b) bcount(&b->n_errors[-rc]);
    return rc;
}

struct cairn_blob_iter {
    uint32_t *keys;
    size_t n, i;
    uint32_t gen;
};

/* ---- undo log and primitives (every in-memory change goes through these) ----------------- */

static int un_push(cairn_blob *b, int op, uint64_t k, const brec *v) {
    undo *p = (undo *)cairn_arr__grow(b->un, &b->capun, b->nun + 1, sizeof *p);
    if (!p) return CAIRN_NOMEM;
    b->un = p;
    b->un[b->nun].op = op;
    b->un[b->nun].k = k;
    if (v)
        b->un[b->nun].v = *v;
    else
        memset(&b->un[b->nun].v, 0, sizeof(brec));
    b->nun++;
    return 0;
}

/* ---- the key index: base records and overlay ---------------------------------------------- */

#define BREC 24u /* a base record: u32 key, u32 payload length, u64 offset, u64 entry size */


static uint32_t base_key(const cairn_blob *b, size_t i) { return cairn_get32(b->base + i * BREC); }

/* The position of key among the base records, or SIZE_MAX. Keys are mostly dense (auto keys
 * count up from 1): a few interpolation steps usually land on it, then a binary search finishes
 * whatever they left (keys spread unevenly). */
static size_t base_find(const cairn_blob *b, uint32_t key) {
    size_t lo = 0, hi = b->nbase;
    int steps;
    if (!b->nbase) return SIZE_MAX;
    for (steps = 0; steps < 4 && hi - lo > 8; steps++) {
        uint32_t klo = base_key(b, lo), khi = base_key(b, hi - 1), kp;
        size_t pos;
        if (key < klo || key > khi) return SIZE_MAX;
        if (khi == klo) break;
        pos = lo + (size_t)((uint64_t)(key - klo) * (uint64_t)(hi - 1 - lo) / (uint64_t)(khi - klo));
        kp = base_key(b, pos);
        if (kp == key) return pos;
        if (kp < key)
            lo = pos + 1;
        else
            hi = pos;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t km = base_key(b, mid);
        if (km == key) return mid;
        if (km < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

static void base_rec(const cairn_blob *b, size_t i, brec *out) {
    const uint8_t *r = b->base + i * BREC;
    memset(out, 0, sizeof *out);
    out->len = cairn_get32(r + 4);
    out->off = cairn_get64(r + 8);
    out->size = cairn_get64(r + 16);
}

/* The entry of key: 1 (from the overlay) or 2 (a base record, never checked against the data
 * file yet) and *out, or 0 when the key is absent (out may be NULL). */
static int idx_get(const cairn_blob *b, uint32_t key, brec *out) {
    const brec *r = map_get(&b->idx, key);
    size_t i;
    if (r) {
        if (r->flags & BF_DEAD) return 0;
        if (out) *out = *r;
        return r->flags & BF_UNCHECKED ? 2 : 1;
    }
    if ((i = base_find(b, key)) == SIZE_MAX) return 0;
    if (out) base_rec(b, i, out);
    return 2;
}

/* Iteration over every key present (base records not overridden, then the overlay), unordered.
 * Start with a zeroed kiter; the index must not change during it. */
typedef struct kiter {
    size_t i, pos;
} kiter;

static int idx_next(const cairn_blob *b, kiter *it, uint32_t *key, brec *out) {
    uint64_t k;
    const brec *r;
    while (it->i < b->nbase) {
        size_t i = it->i++;
        uint32_t bk = base_key(b, i);
        if (map_get(&b->idx, bk)) continue; /* changed or deleted since: the overlay has it */
        *key = bk;
        base_rec(b, i, out);
        out->flags = BF_UNCHECKED;
        return 1;
    }
    while ((r = (const brec *)cairn_u64map__next(&b->idx, &it->pos, &k)) != NULL) {
        if (r->flags & BF_DEAD) continue;
        *key = (uint32_t)k;
        *out = *r;
        return 1;
    }
    return 0;
}

static void base_drop(cairn_blob *b) {
    if (b->bmap) cairn_io__unmap(b->bmap, b->bmaplen);
    b->bmap = NULL;
    b->bmaplen = 0;
    b->base = NULL;
    b->nbase = 0;
}

/* Empty the key index (overlay and base). */
static void idx_clear(cairn_blob *b) {
    cairn_u64map__free(&b->idx);
    base_drop(b);
    b->nkeys = 0;
    b->live_bytes = 0;
}

/* Once the overlay holds as many keys as half the base, fold the two into one map (the work of
 * loading the base, spread over that many changes) and let the mapping go. Best effort: out of
 * memory leaves both layers as they were. */
static void idx_fold(cairn_blob *b) {
    cairn_u64map m;
    cairn_err_saved saved;
    kiter it;
    uint32_t k;
    uint64_t live = 0;
    brec v;
    if (!b->nbase || b->idx.n < 4096 || b->idx.n < b->nbase / 2) return;
    cairn_u64map__init(&m, sizeof(brec));
    cairn_err__save(&saved);
    if (cairn_u64map__reserve(&m, (size_t)b->nkeys) != 0) {
        cairn_err__restore(&saved);
        return;
    }
    memset(&it, 0, sizeof it);
    while (idx_next(b, &it, &k, &v)) { /* base records keep BF_UNCHECKED */
        if (cairn_u64map__put(&m, k, &v) != 0) { /* reserved: no growth, unless the mapping changed */
            cairn_u64map__free(&m);
            cairn_err__restore(&saved);
            return;
        }
        live += v.len;
    }
    cairn_u64map__free(&b->idx);
    b->idx = m;
    b->nkeys = m.n;
    b->live_bytes = live;
    base_drop(b);
}

/* Set key to *v when the caller knows whether it was present (had) and its length then. */
static int raw_idx_set(cairn_blob *b, uint32_t key, const brec *v, int had, uint32_t oldlen) {
    brec nv = *v;
    int rc;
    nv.flags = 0;
    if ((rc = cairn_u64map__put(&b->idx, key, &nv)) != 0) return rc;
    if (had) {
        b->live_bytes -= oldlen;
    } else {
        b->nkeys++;
    }
    b->live_bytes += v->len;
    return 0;
}

static int raw_idx_put(cairn_blob *b, uint32_t key, const brec *v) {
    brec old;
    int had = idx_get(b, key, &old);
    return raw_idx_set(b, key, v, had, had ? old.len : 0);
}

/* Remove key. A key of the base leaves a tombstone in the overlay: one that is already there
 * (changed since the open, or restored by a rollback) is marked in place, so only a base key
 * not touched before may need room (idx_del makes it first). */
static int raw_idx_del(cairn_blob *b, uint32_t key) {
    brec old, *r;
    if (!idx_get(b, key, &old)) return 0;
    if (base_find(b, key) != SIZE_MAX) {
        if ((r = map_get(&b->idx, key)) != NULL) {
            r->flags = BF_DEAD;
        } else {
            brec t;
            int rc;
            memset(&t, 0, sizeof t);
            t.flags = BF_DEAD;
            if ((rc = cairn_u64map__put(&b->idx, key, &t)) != 0) return rc;
        }
    } else {
        cairn_u64map__del(&b->idx, key);
    }
    b->live_bytes -= old.len;
    b->nkeys--;
    return 0;
}

static int raw_free_add(cairn_blob *b, uint64_t off, uint64_t size) {
    brec s, e;
    int rc;
    memset(&s, 0, sizeof s);
    memset(&e, 0, sizeof e);
    s.off = off;
    s.size = size;
    e.off = off;
    e.size = size;
    if ((rc = cairn_u64map__put(&b->fstart, off, &s)) != 0) return rc;
    if ((rc = cairn_u64map__put(&b->fend, off + size, &e)) != 0) {
        cairn_u64map__del(&b->fstart, off);
        return rc;
    }
    if ((rc = cairn_treap__insert(&b->fit, size, off)) != 0) {
        cairn_u64map__del(&b->fstart, off);
        cairn_u64map__del(&b->fend, off + size);
        return rc;
    }
    b->free_bytes += size;
    b->free_entries++;
    return 0;
}

static void raw_free_del(cairn_blob *b, uint64_t off) {
    brec *s = map_get(&b->fstart, off);
    uint64_t size;
    if (!s) return;
    size = s->size;
    cairn_u64map__del(&b->fstart, off);
    cairn_u64map__del(&b->fend, off + size);
    (void)cairn_treap__erase(&b->fit, size, off);
    b->free_bytes -= size;
    b->free_entries--;
}

static int idx_put(cairn_blob *b, uint32_t key, const brec *v) {
    brec old;
    int had = idx_get(b, key, &old);
    int rc = had ? un_push(b, U_IDX_OLD, key, &old) : un_push(b, U_IDX_NEW, key, NULL);
    if (rc) return rc;
    if ((rc = raw_idx_set(b, key, v, had, had ? old.len : 0)) != 0) return rc;
    idx_fold(b);
    return 0;
}

static int idx_del(cairn_blob *b, uint32_t key) {
    brec old;
    int rc;
    if (!idx_get(b, key, &old)) return 0;
    /* room for a tombstone first: the undo entry must never stand for a change not made */
    if ((rc = cairn_u64map__reserve(&b->idx, b->idx.n + 1)) != 0) return rc;
    if ((rc = un_push(b, U_IDX_OLD, key, &old)) != 0) return rc;
    if ((rc = raw_idx_del(b, key)) != 0) return rc;
    idx_fold(b);
    return 0;
}

static int free_add(cairn_blob *b, uint64_t off, uint64_t size) {
    brec v;
    int rc;
    memset(&v, 0, sizeof v);
    v.size = size;
    if ((rc = un_push(b, U_FREE_ADDED, off, &v)) != 0) return rc;
    return raw_free_add(b, off, size);
}

static int free_del(cairn_blob *b, uint64_t off) {
    brec *s = map_get(&b->fstart, off);
    int rc;
    if (!s) return 0;
    if ((rc = un_push(b, U_FREE_REMOVED, off, s)) != 0) return rc;
    raw_free_del(b, off);
    return 0;
}

static int set_end(cairn_blob *b, uint64_t end) {
    int rc = un_push(b, U_END, b->end, NULL);
    if (!rc) b->end = end;
    return rc;
}

static int set_next_key(cairn_blob *b, uint64_t k) {
    int rc = un_push(b, U_NEXT, b->next_key, NULL);
    if (!rc) b->next_key = k;
    return rc;
}

/* Undo every in-memory change back to the marks (a failed op, or a rollback). */
static void rollback_to(cairn_blob *b, size_t umark, uint64_t pmark, size_t evmark) {
    while (b->nun > umark) {
        undo *u = &b->un[--b->nun];
        switch (u->op) {
        case U_IDX_OLD: (void)raw_idx_put(b, (uint32_t)u->k, &u->v); break;
        case U_IDX_NEW: (void)raw_idx_del(b, (uint32_t)u->k); break;
        case U_FREE_ADDED: raw_free_del(b, u->k); break;
        case U_FREE_REMOVED: (void)raw_free_add(b, u->k, u->v.size); break;
        case U_END: b->end = u->k; break;
        case U_NEXT: b->next_key = u->k; break;
        case U_HDR:
            b->hdr_next_key = u->k;
            b->hdr_end = u->v.off;
            break;
        default: break;
        }
    }
    cairn_jnl__undo_to(b->jnl, pmark);
    if (b->nev > evmark) b->nev = evmark;
}

/* ---- pending writes (queued in the journal: wal/journal.h) -------------------------------- */

static void put_entry_header(uint8_t *h, unsigned type, uint64_t size, uint32_t key, const void *data,
                             uint32_t len) {
    memset(h, 0, EHDR);
    h[4] = (uint8_t)type;
    cairn_put64(h + 8, size);
    cairn_put32(h + 16, key);
    cairn_put32(h + 20, len);
    cairn_put32(h + 24, type == ET_BLOB ? cairn_crc32c__update(0, data, len) : 0);
    cairn_put32(h, cairn_crc32c__update(0, h + 4, EHDR - 4));
}

#define BORROW_MIN (64u * 1024u) /* payloads from here on are borrowed by the journal, not copied */

static int emit_entry(cairn_blob *b, uint64_t off, uint64_t size, uint32_t key, const void *data, size_t len,
                      uint64_t *id) {
    uint8_t *p;
    if (len >= BORROW_MIN) {
        /* the caller's bytes go to the log and (once durable) to the data file as they are;
         * keep_borrowed copies them only when they are still pending as the call returns */
        uint8_t h[EHDR];
        put_entry_header(h, ET_BLOB, size, key, data, (uint32_t)len);
        return cairn_jnl__write_ext(b->jnl, off, h, EHDR, data, len, id);
    }
    p = cairn_jnl__write_buf(b->jnl, off, EHDR + len, id);
    if (!p) return CAIRN_NOMEM;
    put_entry_header(p, ET_BLOB, size, key, data, (uint32_t)len);
    if (len) memcpy(p + EHDR, data, len);
    return 0;
}

static int emit_free(cairn_blob *b, uint64_t off, uint64_t size) {
    uint8_t h[EHDR];
    put_entry_header(h, ET_FREE, size, 0, NULL, 0);
    return cairn_jnl__write(b->jnl, off, h, EHDR, NULL, 0, NULL);
}

static int emit_trunc(cairn_blob *b, uint64_t size) { return cairn_jnl__truncate(b->jnl, size); }

/* An entry at off (size bytes) and, when rest > 0, the header of the free entry of rest bytes
 * that follows it. When the entry has no slack (size = header + len) and its payload is copied,
 * both go into one WRITE record: the bytes [off, off + size + 32) as two separate records would
 * leave them. */
static int emit_entry_free(cairn_blob *b, uint64_t off, uint64_t size, uint32_t key, const void *data, size_t len,
                           uint64_t rest, uint64_t *id) {
    uint8_t *p;
    int rc;
    if (!rest || len >= BORROW_MIN || size != EHDR + (uint64_t)len) {
        if ((rc = emit_entry(b, off, size, key, data, len, id)) != 0) return rc;
        return rest ? emit_free(b, off + size, rest) : 0;
    }
    p = cairn_jnl__write_buf(b->jnl, off, EHDR + len + EHDR, id);
    if (!p) return CAIRN_NOMEM;
    put_entry_header(p, ET_BLOB, size, key, data, (uint32_t)len);
    if (len) memcpy(p + EHDR, data, len);
    put_entry_header(p + EHDR + len, ET_FREE, rest, 0, NULL, 0);
    return 0;
}

static void put_file_header(uint8_t *h, uint64_t next_key, uint64_t end, uint64_t lsn, uint32_t flags,
                            uint32_t salt, uint32_t idx) {
    memset(h, 0, FHDR);
    memcpy(h, MAGIC, 8);
    cairn_put32(h + 8, VERSION);
    cairn_put32(h + 12, flags);
    cairn_put64(h + 16, next_key);
    cairn_put64(h + 24, end);
    cairn_put64(h + 32, lsn);
    cairn_put32(h + 40, salt);
    cairn_put32(h + 44, idx);
    cairn_put32(h + 60, cairn_crc32c__update(0, h, 60));
}

#define MAP_MIN (4u * 1024u * 1024u)

/* The writer's mapping of the data file must cover [0, alloc) (the allocated bytes, which the
 * journal may store into): grow it (a new mapping, twice the size, then the old one goes) when
 * alloc passed it, and tell the journal how far it may store. Called with the write lock held
 * whenever alloc or the file changes. Without a mapping (none possible) every write is a pwrite
 * and every read a pread: slower, never wrong. */
static void map_cover(cairn_blob *b) {
    if (b->ro || !b->f) return;
    if (b->alloc > b->maplen || !b->map) {
        uint64_t len = b->alloc * 2 > MAP_MIN ? b->alloc * 2 : MAP_MIN;
        void *m = NULL;
        len = (len + 0xffffu) & ~(uint64_t)0xffffu;
        if (len <= (uint64_t)SIZE_MAX / 2 && cairn_io__map_rw(b->f, len, &m) == 0) {
            cairn_io__unmap(b->map, b->maplen);
            b->map = (uint8_t *)m;
            b->maplen = len;
        }
    }
    /* the journal stores only into allocated bytes (a store past the file's end would fault) */
    cairn_jnl__set_map(b->jnl, b->map, b->map && b->alloc < b->maplen ? b->alloc : b->maplen);
}

static void map_drop(cairn_blob *b) {
    if (b->jnl) cairn_jnl__set_map(b->jnl, NULL, 0);
    cairn_io__unmap(b->map, b->maplen);
    b->map = NULL;
    b->maplen = 0;
}

/* Journal callback (ops.stamp): write the data file header, the newest applied next_key/end,
 * stamped with `lsn` (the journal then holds it as the file's LSN). */
static int jnl_stamp(void *ctx, uint64_t lsn) {
    cairn_blob *b = (cairn_blob *)ctx;
    uint8_t h[FHDR];
    put_file_header(h, b->disk_next_key, b->disk_end, lsn, b->disk_flags, b->disk_salt, b->disk_idx);
    return cairn_jnl__pwrite(b->jnl, h, FHDR, 0);
}

/* Journal callback (ops.meta): a header record from the log (its lsn is 0). Applied: its
 * next_key, end, flags and salt are the file's from now on, written by the stamp that follows the
 * transaction's other writes. Redone at open: written as is but with the file's LSN, which the
 * final stamp raises after everything it covers (a crash in between must redo all of it). */
static int jnl_meta(void *ctx, const uint8_t *p, size_t len, int redo) {
    cairn_blob *b = (cairn_blob *)ctx;
    uint8_t h[FHDR];
    (void)len;
    if (!redo) {
        b->disk_flags = cairn_get32(p + 12);
        b->disk_next_key = cairn_get64(p + 16);
        b->disk_end = cairn_get64(p + 24);
        b->disk_salt = cairn_get32(p + 40);
        b->disk_idx = cairn_get32(p + 44);
        return 0;
    }
    memcpy(h, p, FHDR);
    cairn_put64(h + 32, cairn_jnl__lsn(b->jnl));
    cairn_put32(h + 60, cairn_crc32c__update(0, h, 60));
    return cairn_io__pwrite(b->f, h, FHDR, 0);
}

static int emit_header_if_changed(cairn_blob *b) {
    uint8_t h[FHDR];
    brec v;
    int rc;
    if (!b->force_hdr && b->next_key == b->hdr_next_key && b->end == b->hdr_end) return 0;
    memset(&v, 0, sizeof v);
    v.off = b->hdr_end;
    if ((rc = un_push(b, U_HDR, b->hdr_next_key, &v)) != 0) return rc;
    /* the LSN is not known yet: applying the record stamps it (jnl_meta, jnl_stamp) */
    put_file_header(h, b->next_key, b->end, 0, b->hdr_flags, b->hdr_salt, b->hdr_idx);
    b->hdr_next_key = b->next_key;
    b->hdr_end = b->end;
    return cairn_jnl__write(b->jnl, 0, h, FHDR, NULL, 0, NULL);
}

/* Write committed, durable pending changes to the data file, in order, then the header stamped
 * with the LSN of the last transaction applied whole (its header record is not written as is:
 * the stamp carries its next_key and end). A truncate is not done now: the space stays
 * allocated for later writes (they must never need new space, see commit_batch), and bytes past
 * data_end belong to nothing; the checkpoint cuts the file. A failure leaves the rest pending
 * (still served from memory, still in the WAL) and is reported to the caller. */
static int apply_pending(cairn_blob *b) { return cairn_jnl__apply(b->jnl); }

static int fail_handle(cairn_blob *b, int rc) {
    if (!b->failed) b->failed = rc ? rc : CAIRN_FAILED;
    return rc;
}

static int commit_batch(cairn_blob *b, size_t umark, uint64_t pmark, size_t evmark, fired *fo);
static void fire(fired *fo);

/* A transaction of the header alone (with hdr_flags/hdr_salt), made durable and applied: the
 * data file header is only ever written in place while the log holds a copy of it, so a torn
 * header write is redone at recovery. */
static int log_header(cairn_blob *b) {
    fired fo;
    int rc;
    b->force_hdr = 1;
    b->urgent = 1; /* small, and needed to free space: it may use the log's reserve */
    if ((rc = commit_batch(b, b->nun, cairn_jnl__mark(b->jnl), b->nev, &fo)) != 0) return rc;
    fire(&fo);
    if ((rc = cairn_jnl__sync(b->jnl, 0)) != 0) return fail_handle(b, rc);
    return apply_pending(b);
}

/* Journal callback (ops.settle), in a checkpoint once everything is applied: the file's LSN
 * must cover every number the log used (dead numbers of failed writes too), so the next record
 * after the reset is LSN + 1: if it does not, a header transaction is logged and applied first
 * (its commit is the log's last number). Then the space past data_end goes back (a delete on a
 * full disk). */
static int jnl_settle(void *ctx) {
    cairn_blob *b = (cairn_blob *)ctx;
    int rc = 0;
    b->in_ckpt = 1;
    if (cairn_wal__last_seq(b->wal) > cairn_jnl__lsn(b->jnl)) rc = log_header(b);
    b->in_ckpt = 0;
    if (rc) return rc;
    if (b->alloc > b->end) {
        b->alloc = b->end; /* the journal stores nothing past the new end */
        map_cover(b);
        if ((rc = cairn_io__truncate(b->f, b->end)) != 0) return rc;
    }
    return 0;
}

/* Everything committed goes to the data file, which is synced; then the WAL is emptied
 * (cairn_jnl__checkpoint, with jnl_settle before the fsync). Inside a transaction
 * (cairn_blob_sync), or while changes are pending, the WAL is kept. */
static int checkpoint(cairn_blob *b) {
    int rc, done = 0;
    if (b->ro || b->failed) return 0;
    rc = cairn_jnl__checkpoint(b->jnl, b->in_txn, &done);
    if (rc && cairn_jnl__fatal(b->jnl)) return fail_handle(b, rc);
    if (done) b->force_hdr = 1; /* the log's first transaction will hold a copy of the header again */
    return rc;
}

/* ---- data file reading (with the read-only overlay) --------------------------------------- */

static int dread(cairn_blob *b, void *buf, size_t len, uint64_t off) { return cairn_jnl__read(b->jnl, buf, len, off); }

static int corrupt(cairn_blob *b, uint64_t off, const char *what) {
    __atomic_store_n(&b->idx_suspect, 1, __ATOMIC_RELAXED);
    return cairn_err__set(CAIRN_CORRUPT, "%s: %s at offset %llu", b->path, what, (unsigned long long)off);
}

static int corrupt_payload(cairn_blob *b, uint32_t key, uint64_t off) {
    __atomic_store_n(&b->idx_suspect, 1, __ATOMIC_RELAXED);
    return cairn_err__set(CAIRN_CORRUPT, "%s: bad payload checksum of key %u at offset %llu", b->path, (unsigned)key,
                          (unsigned long long)off);
}

/* Read the payload of live entry r for `key`. *out malloc'd (never NULL on success).
 * One pread of header and payload; the payload is then moved to the front of the buffer. */
static int read_payload(cairn_blob *b, uint32_t key, const brec *r, void **out) {
    const uint8_t *q;
    uint8_t *p;
    int rc;
    if ((q = cairn_jnl__pending(b->jnl, r->pend, NULL)) != NULL) {
        const uint8_t *e = cairn_jnl__pending_ext(b->jnl, r->pend, NULL);
        if (!(p = (uint8_t *)malloc(r->len ? r->len : 1)))
            return cairn_err__set(CAIRN_NOMEM, "blob store: out of memory for %u bytes", (unsigned)r->len);
        memcpy(p, e ? e : q + EHDR, r->len);
        *out = p;
        return 0;
    }
    if (b->map && r->off <= b->alloc && r->off <= b->maplen && EHDR + (uint64_t)r->len <= b->alloc - r->off &&
        EHDR + (uint64_t)r->len <= b->maplen - r->off && !cairn_io__hooks_active()) {
        /* the writer's mapping: check the entry in place, copy the payload once */
        q = b->map + r->off;
        if (cairn_crc32c__update(0, q + 4, EHDR - 4) != cairn_get32(q) || q[4] != ET_BLOB ||
            cairn_get32(q + 16) != key || cairn_get32(q + 20) != r->len)
            return corrupt(b, r->off, "bad blob entry header");
        if (cairn_crc32c__update(0, q + EHDR, r->len) != cairn_get32(q + 24))
            return corrupt_payload(b, key, r->off);
        if (!(p = (uint8_t *)malloc(r->len ? r->len : 1)))
            return cairn_err__set(CAIRN_NOMEM, "blob store: out of memory for %u bytes", (unsigned)r->len);
        memcpy(p, q + EHDR, r->len);
        *out = p;
        return 0;
    }
    if (!(p = (uint8_t *)malloc(EHDR + (size_t)r->len)))
        return cairn_err__set(CAIRN_NOMEM, "blob store: out of memory for %u bytes", (unsigned)r->len);
    if ((rc = dread(b, p, EHDR + (size_t)r->len, r->off)) != 0) goto fail;
    if (cairn_crc32c__update(0, p + 4, EHDR - 4) != cairn_get32(p) || p[4] != ET_BLOB ||
        cairn_get32(p + 16) != key || cairn_get32(p + 20) != r->len) {
        rc = corrupt(b, r->off, "bad blob entry header");
        goto fail;
    }
    if (cairn_crc32c__update(0, p + EHDR, r->len) != cairn_get32(p + 24)) {
        rc = corrupt_payload(b, key, r->off);
        goto fail;
    }
    memmove(p, p + EHDR, r->len);
    *out = p;
    return 0;
fail:
    free(p);
    return rc;
}

/* A base record (from the index file, never checked against the data file) about to be used
 * by a change: the entry header at its offset must say the same (CRC, type, size, key, length),
 * else the change would free or overwrite bytes the record does not own. CAIRN_CORRUPT names
 * the data file and the offset. */
static int entry_verify(cairn_blob *b, uint32_t key, const brec *r) {
    uint8_t h[EHDR];
    int rc;
    if (r->off < FHDR || r->off > b->end || r->size > b->end - r->off || r->size < EHDR)
        return corrupt(b, r->off, "index record outside the data");
    if (b->map && r->off + EHDR <= b->alloc && r->off + EHDR <= b->maplen && !cairn_io__hooks_active())
        memcpy(h, b->map + r->off, EHDR); /* the writer's mapping, as read_payload */
    else if ((rc = dread(b, h, EHDR, r->off)) != 0)
        return rc;
    if (cairn_crc32c__update(0, h + 4, EHDR - 4) != cairn_get32(h) || h[4] != ET_BLOB ||
        cairn_get64(h + 8) != r->size || cairn_get32(h + 16) != key || cairn_get32(h + 20) != r->len)
        return corrupt(b, r->off, "blob entry header does not match the index");
    return 0;
}

/* ---- open --------------------------------------------------------------------------------- */

/* Rebuild the index and the free lists from the entries in [FHDR, end). */
static int scan(cairn_blob *b) {
    uint8_t *buf = (uint8_t *)malloc(SCAN_CHUNK);
    uint64_t off = FHDR, boff = 0, blen = 0, last_free_end = 0, last_free_off = 0, last_size = 0;
    int rc = 0;
    if (!buf) return cairn_err__set(CAIRN_NOMEM, "blob store: out of memory");
    while (off < b->end) {
        const uint8_t *h;
        uint64_t size;
        unsigned type;
        if (b->end - off < EHDR) {
            rc = corrupt(b, off, "truncated entry header");
            break;
        }
        if (off < boff || off + EHDR > boff + blen) {
            blen = b->end - off < SCAN_CHUNK ? b->end - off : SCAN_CHUNK;
            /* after a large entry, the next is likely large too: read its header only */
            if (last_size >= SCAN_CHUNK / 16) blen = EHDR;
            boff = off;
            if ((rc = dread(b, buf, (size_t)blen, off)) != 0) break;
        }
        h = buf + (off - boff);
        if (cairn_crc32c__update(0, h + 4, EHDR - 4) != cairn_get32(h)) {
            rc = corrupt(b, off, "bad entry header checksum");
            break;
        }
        type = h[4];
        size = cairn_get64(h + 8);
        if (h[5] || h[6] || h[7] || cairn_get32(h + 28) || size < EHDR || size > b->end - off ||
            (type != ET_BLOB && type != ET_FREE)) {
            rc = corrupt(b, off, "bad entry header");
            break;
        }
        if (type == ET_BLOB) {
            uint32_t key = cairn_get32(h + 16), len = cairn_get32(h + 20);
            brec v;
            if ((uint64_t)len > size - EHDR || len > CAIRN_VALUE_MAX) {
                rc = corrupt(b, off, "blob entry longer than its space");
                break;
            }
            if (idx_get(b, key, NULL)) {
                rc = cairn_err__set(CAIRN_CORRUPT, "%s: key %u stored twice (second at offset %llu)", b->path,
                                    (unsigned)key, (unsigned long long)off);
                break;
            }
            memset(&v, 0, sizeof v);
            v.off = off;
            v.size = size;
            v.len = len;
            if ((rc = raw_idx_put(b, key, &v)) != 0) break;
            if ((uint64_t)key >= b->next_key) b->next_key = (uint64_t)key + 1;
        } else if (type == ET_FREE) {
            if (cairn_get32(h + 16) || cairn_get32(h + 20) || cairn_get32(h + 24)) {
                rc = corrupt(b, off, "bad free entry header");
                break;
            }
            if (b->free_entries && last_free_end == off) {
                /* adjacent free entries (not written by this version): merge in memory */
                uint64_t start = last_free_off, sz = size + (off - last_free_off);
                raw_free_del(b, start);
                if ((rc = raw_free_add(b, start, sz)) != 0) break;
            } else if ((rc = raw_free_add(b, off, size)) != 0) {
                break;
            }
            last_free_off = map_get(&b->fend, off + size)->off;
            last_free_end = off + size;
        }
        off += size;
        last_size = size;
    }
    free(buf);
    return rc;
}

static int read_header(cairn_blob *b, uint64_t fsize) {
    uint8_t h[FHDR];
    unsigned version;
    int rc;
    if (fsize < FHDR) return corrupt(b, 0, "not a Cairn blob store (file too short)");
    if ((rc = dread(b, h, FHDR, 0)) != 0) return rc;
    if (memcmp(h, MAGIC, 8) != 0) return corrupt(b, 0, "not a Cairn blob store (bad magic)");
    if (cairn_crc32c__update(0, h, 60) != cairn_get32(h + 60)) return corrupt(b, 0, "bad file header checksum");
    version = cairn_get32(h + 8);
    if (version != VERSION && version != 2 && version != 1)
        return cairn_err__set(CAIRN_VERSION, "%s: unsupported blob store version %u", b->path, version);
    b->next_key = cairn_get64(h + 16);
    b->end = cairn_get64(h + 24);
    if (b->end < FHDR || b->next_key > KEY_LIMIT) return corrupt(b, 0, "bad file header");
    if (fsize < b->end)
        return cairn_err__set(CAIRN_CORRUPT, "%s: file is %llu bytes, shorter than its data end %llu", b->path,
                              (unsigned long long)fsize, (unsigned long long)b->end);
    return 0;
}

/* What the data file's header says before any replay: *lsn and 1, or 0 when it has no usable
 * LSN (a version 1 file, or a header that does not check: recovery then redoes the whole log
 * and validates the result). */
typedef struct disk_hdr {
    int known;       /* LSN, flags and salt are valid */
    uint64_t lsn;
    uint32_t flags, salt;
    uint32_t idx;    /* index id (version 3; 0: none) */
} disk_hdr;

static void peek_header(cairn_blob *b, uint64_t fsize, disk_hdr *d) {
    uint8_t h[FHDR];
    memset(d, 0, sizeof *d);
    if (fsize < FHDR || cairn_io__pread(b->f, h, FHDR, 0, NULL) != 0) return;
    if (memcmp(h, MAGIC, 8) != 0 || cairn_crc32c__update(0, h, 60) != cairn_get32(h + 60)) return;
    if (cairn_get32(h + 8) != VERSION && cairn_get32(h + 8) != 2) return;
    d->known = 1;
    d->flags = cairn_get32(h + 12);
    d->lsn = cairn_get64(h + 32);
    d->salt = cairn_get32(h + 40);
    d->idx = cairn_get32(h + 8) == VERSION ? cairn_get32(h + 44) : 0;
}

static char *suffix(const char *path, const char *sfx) {
    size_t n = strlen(path), m = strlen(sfx);
    char *s = (char *)malloc(n + m + 1);
    if (!s) {
        cairn_err__set(CAIRN_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(s, path, n);
    memcpy(s + n, sfx, m + 1);
    return s;
}

/* ---- the index file (<path>-index; see "Index file" in the FORMAT comment) ---------------- */

#define IDX_MAGIC "CAIRNBIX"
#define IDX_VERSION 2u
#define IHDR 128u
#define IPAGE 65536u /* the body is checked in pages of this many bytes, a CRC each */
#define IFREC 16u    /* a free record: u64 offset, u64 size */

/* The data file's identity as the index file records it: size, inode, device, mtime (ns). */
static int data_identity(const cairn_blob *b, uint64_t id[4]) {
    struct stat st;
    if (stat(b->path, &st) != 0) return -1;
    id[0] = (uint64_t)st.st_size;
    id[1] = (uint64_t)st.st_ino;
    id[2] = (uint64_t)st.st_dev;
    id[3] = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
    return 0;
}

static char *index_path(const cairn_blob *b) { return suffix(b->path, "-index"); }

/* Forget an index half loaded (the scan rebuilds everything). */
static void index_forget(cairn_blob *b) {
    idx_clear(b);
    cairn_u64map__free(&b->fstart);
    cairn_u64map__free(&b->fend);
    cairn_treap__free(&b->fit);
    b->live_bytes = b->free_bytes = b->free_entries = 0;
}

/* Check one entry header of the data file against an index record. */
static int index_spot(cairn_blob *b, uint64_t off, uint64_t size, unsigned type, uint32_t key, uint32_t len) {
    uint8_t h[EHDR];
    if (dread(b, h, EHDR, off) != 0) return 0;
    return cairn_crc32c__update(0, h + 4, EHDR - 4) == cairn_get32(h) && h[4] == type && cairn_get64(h + 8) == size &&
           cairn_get32(h + 16) == (type == ET_BLOB ? key : 0) && cairn_get32(h + 20) == (type == ET_BLOB ? len : 0);
}

/* Where the body of an index file of nb blob and nf free records starts, and its length; 0 when
 * the counts cannot be right for a file of flen bytes. */
static int index_layout(uint64_t nb, uint64_t nf, uint64_t flen, uint64_t *body, uint64_t *blen, uint64_t *pages) {
    if (nb > KEY_LIMIT || nf > flen / IFREC || nb > flen / BREC) return 0;
    *blen = nb * BREC + nf * IFREC;
    *pages = (*blen + IPAGE - 1) / IPAGE;
    *body = (IHDR + 4 * *pages + 7) & ~(uint64_t)7;
    return *body + *blen == flen;
}

/* Take <path>-index as the key index's base and load its free entries, when the header names
 * index `id` and the file is that one, for this very file (identity), and everything checks:
 * header CRC, the page CRC table's CRC, every page's CRC; blob records in ascending key order,
 * keys below next_key, each inside [64, data_end) with its length fitting; free records in
 * offset order, never adjacent, never last, each matching the free entry header in the data
 * file; the sizes of all records adding up to data_end - 64 and the lengths to the live bytes
 * the header says. 1: loaded; 0: not usable (the caller scans; nothing is left loaded). */
static int index_load(cairn_blob *b, uint32_t id) {
    char *ip = index_path(b);
    cairn_file *f = NULL;
    const uint8_t *p = NULL, *r;
    uint64_t flen = 0, ident[4], nb, nf, body, blen, pages, i, k, total = 0, live = 0, prev_end = 0;
    int64_t prev_key = -1;
    int ok = 0;
    if (!ip) return 0;
    if (!id || cairn_io__open(&f, ip, CAIRN_IO_RDONLY) != 0 || cairn_io__size(f, &flen) != 0 || flen < IHDR ||
        flen > (uint64_t)SIZE_MAX / 2 || cairn_io__map(f, flen, (const void **)&p) != 0)
        goto out;
    if (memcmp(p, IDX_MAGIC, 8) != 0 || cairn_get32(p + 8) != IDX_VERSION ||
        cairn_crc32c__update(0, p, IHDR - 4) != cairn_get32(p + IHDR - 4) || cairn_get32(p + 12) != id)
        goto out;
    nb = cairn_get64(p + 16);
    nf = cairn_get64(p + 24);
    if (!index_layout(nb, nf, flen, &body, &blen, &pages) || cairn_get64(p + 32) != b->end ||
        cairn_get64(p + 40) != b->next_key || data_identity(b, ident) != 0 || cairn_get64(p + 48) != ident[0] ||
        cairn_get64(p + 56) != ident[3] || cairn_get32(p + 64) != (uint32_t)(ident[1] ^ (ident[1] >> 32) ^ ident[2]) ||
        cairn_crc32c__update(0, p + IHDR, 4 * pages) != cairn_get32(p + 68))
        goto out;
    for (i = IHDR + 4 * pages; i < body; i++) /* the padding before the body: zero */
        if (p[i]) goto out;
    /* page by page: its CRC, then the blob records it completes, while it is in the cache (a
     * tight pass: no allocation, no hashing) */
    r = p + body;
    for (i = 0, k = 0; i < pages; i++) {
        uint64_t o = i * IPAGE, n = blen - o < IPAGE ? blen - o : IPAGE, upto = (o + n) / BREC;
        if (cairn_crc32c__update(0, p + body + o, (size_t)n) != cairn_get32(p + IHDR + 4 * i)) goto out;
        if (upto > nb) upto = nb;
        for (; k < upto; k++, r += BREC) {
            uint64_t key = cairn_get32(r), len = cairn_get32(r + 4), off = cairn_get64(r + 8), size = cairn_get64(r + 16);
            if ((int64_t)key <= prev_key || key >= b->next_key || off < FHDR || off > b->end || size > b->end - off ||
                size < EHDR || len > size - EHDR || len > CAIRN_VALUE_MAX)
                goto out;
            prev_key = (int64_t)key;
            total += size;
            live += len;
        }
    }
    if (k != nb || live != cairn_get64(p + 72)) goto out;
    for (i = 0; i < nf; i++, r += IFREC) {
        uint64_t off = cairn_get64(r), size = cairn_get64(r + 8);
        if (off < FHDR || off <= prev_end || off > b->end || size < EHDR || size >= b->end - off ||
            !index_spot(b, off, size, ET_FREE, 0, 0) || raw_free_add(b, off, size) != 0)
            goto out;
        prev_end = off + size;
        total += size;
    }
    if (total != b->end - FHDR) goto out;
    idx_clear(b);
    b->bmap = p;
    b->bmaplen = flen;
    b->base = p + body;
    b->nbase = (size_t)nb;
    b->nkeys = nb;
    b->live_bytes = live;
    p = NULL;
    ok = 1;
out:
    if (!ok) index_forget(b);
    if (p) cairn_io__unmap(p, flen);
    cairn_io__close(f);
    free(ip);
    return ok;
}

typedef struct irec {
    uint64_t off, size;
    uint32_t key, len;
} irec;

/* Sort v[0, n) by offset (bykey 0) or key (1): LSD radix sort, 11 bits a pass over the bits the
 * field uses (tmp: n). */
static void sort_irec(irec *v, irec *tmp, size_t n, int bykey) {
    uint64_t maxv = 0;
    unsigned shift;
    size_t i;
#define SK(r) (bykey ? (uint64_t)(r).key : (r).off)
    for (i = 0; i < n; i++)
        if (SK(v[i]) > maxv) maxv = SK(v[i]);
    for (shift = 0; shift < 64 && (maxv >> shift); shift += 11) {
        size_t cnt[2048], sum = 0;
        irec *t;
        memset(cnt, 0, sizeof cnt);
        for (i = 0; i < n; i++) cnt[(SK(v[i]) >> shift) & 2047]++;
        for (i = 0; i < 2048; i++) {
            size_t c = cnt[i];
            cnt[i] = sum;
            sum += c;
        }
        for (i = 0; i < n; i++) tmp[cnt[(SK(v[i]) >> shift) & 2047]++] = v[i];
        t = v;
        v = tmp;
        tmp = t;
    }
#undef SK
    if (((shift / 11) & 1) != 0) memcpy(tmp, v, n * sizeof *v); /* an odd number of passes: back */
}

/* Write <path>-index (durable replace) for the data file as it is now: closed, checkpointed,
 * its header naming index `id`. Best effort: an index that is missing or stale is never used. */
static void index_write(cairn_blob *b, uint32_t id) {
    size_t nb = (size_t)b->nkeys, nf = b->fstart.n, k = 0, j = 0, pos;
    irec *v = (irec *)malloc(((nb > nf ? nb : nf) + 1) * 2 * sizeof *v);
    uint8_t *buf = NULL, *q;
    uint64_t key, ident[4], body = 0, blen = 0, pages = 0, i, live = 0;
    brec *r;
    char *ip = NULL;
    cairn_err_saved saved;
    cairn_err__save(&saved);
    {
        /* the size first: index_layout works out the body's place from the file's length */
        uint64_t flen;
        blen = (uint64_t)nb * BREC + (uint64_t)nf * IFREC;
        pages = (blen + IPAGE - 1) / IPAGE;
        body = (IHDR + 4 * pages + 7) & ~(uint64_t)7;
        flen = body + blen;
        if (!v || flen > (uint64_t)SIZE_MAX || !(buf = (uint8_t *)calloc(1, (size_t)flen)) || !(ip = index_path(b)) ||
            data_identity(b, ident) != 0)
            goto out;
    }
    {
        kiter it;
        uint32_t kk;
        brec e;
        memset(&it, 0, sizeof it);
        while (k < nb && idx_next(b, &it, &kk, &e)) {
            v[k].off = e.off;
            v[k].size = e.size;
            v[k].key = kk;
            v[k++].len = e.len;
            live += e.len;
        }
        if (k != nb) goto out;
    }
    sort_irec(v, v + nb + 1, nb, 1);
    for (q = buf + body, j = 0; j < nb; j++, q += BREC) {
        cairn_put32(q, v[j].key);
        cairn_put32(q + 4, v[j].len);
        cairn_put64(q + 8, v[j].off);
        cairn_put64(q + 16, v[j].size);
    }
    pos = 0;
    k = 0;
    while (k < nf && (r = (brec *)cairn_u64map__next(&b->fstart, &pos, &key)) != NULL) {
        v[k].off = key;
        v[k++].size = r->size;
    }
    sort_irec(v, v + nf + 1, k, 0);
    for (j = 0; j < k; j++, q += IFREC) {
        cairn_put64(q, v[j].off);
        cairn_put64(q + 8, v[j].size);
    }
    for (i = 0; i < pages; i++) {
        uint64_t o = i * IPAGE, n = blen - o < IPAGE ? blen - o : IPAGE;
        cairn_put32(buf + IHDR + 4 * i, cairn_crc32c__update(0, buf + body + o, (size_t)n));
    }
    memcpy(buf, IDX_MAGIC, 8);
    cairn_put32(buf + 8, IDX_VERSION);
    cairn_put32(buf + 12, id);
    cairn_put64(buf + 16, nb);
    cairn_put64(buf + 24, nf);
    cairn_put64(buf + 32, b->end);
    cairn_put64(buf + 40, b->next_key);
    cairn_put64(buf + 48, ident[0]);
    cairn_put64(buf + 56, ident[3]);
    cairn_put32(buf + 64, (uint32_t)(ident[1] ^ (ident[1] >> 32) ^ ident[2]));
    cairn_put32(buf + 68, cairn_crc32c__update(0, buf + IHDR, (size_t)(4 * pages)));
    cairn_put64(buf + 72, live);
    cairn_put32(buf + IHDR - 4, cairn_crc32c__update(0, buf, IHDR - 4));
    (void)cairn_io__write_atomic(ip, buf, (size_t)(body + blen));
out:
    free(v);
    free(buf);
    free(ip);
    cairn_err__restore(&saved);
}

/* A fresh index id (never 0): different for every close that writes an index. */
static uint32_t index_new_id(const cairn_blob *b) {
    struct timespec ts;
    uint8_t seed[32];
    uint32_t id;
    clock_gettime(CLOCK_REALTIME, &ts);
    cairn_put64(seed, (uint64_t)ts.tv_sec);
    cairn_put64(seed + 8, (uint64_t)ts.tv_nsec);
    cairn_put64(seed + 16, cairn_jnl__lsn(b->jnl));
    cairn_put64(seed + 24, (uint64_t)getpid() ^ ((uint64_t)b->hdr_salt << 32));
    id = cairn_crc32c__update(0, seed, sizeof seed);
    return id ? id : 1;
}

/* The index and free lists of a view with nothing to redo: from the index file when the header
 * names one that checks, else (and on any doubt, and always for cairn_blob_check) by the scan. */
static int load_or_scan(cairn_blob *b, const disk_hdr *d, int redo) {
    /* cairn_blob_check verifies the file itself: it always scans */
    if (!b->verify && !redo && d->known && d->idx && !(d->flags & HF_OPEN) && index_load(b, d->idx)) {
        b->idx_loaded = 1;
        return 0;
    }
    return scan(b);
}


/* Empty index and free lists (treap priorities from seed: 0 for the default). */
static void blob_init_containers(cairn_blob *b, uint32_t seed) {
    cairn_u64map__init(&b->idx, sizeof(brec));
    cairn_u64map__init(&b->fstart, sizeof(brec));
    cairn_u64map__init(&b->fend, sizeof(brec));
    cairn_treap__init(&b->fit, seed);
}

static int jnl_meta(void *ctx, const uint8_t *p, size_t len, int redo);
static int jnl_stamp(void *ctx, uint64_t lsn);
static int jnl_settle(void *ctx);

/* The handle's journal (wal/journal.h): the data file's header is its first FHDR bytes, and a
 * log past CKPT_BYTES asks for a checkpoint. Bound to the log and the file once they are open. */
static int blob_new_jnl(cairn_blob *b) {
    cairn_jnl_ops ops;
    memset(&ops, 0, sizeof ops);
    ops.meta_len = FHDR;
    ops.ckpt_bytes = CKPT_BYTES;
    ops.meta = jnl_meta;
    ops.stamp = jnl_stamp;
    ops.settle = jnl_settle;
    return cairn_jnl__open(&b->jnl, &ops, b, b->wal_path);
}

static void blob_free(cairn_blob *b) {
    if (!b) return;
    map_drop(b);
    cairn_wal__close(b->wal);
    cairn_io__close(b->f);
    cairn_lock__release(b->ilock);
    cairn_lock__release(b->lock);
    idx_clear(b);
    cairn_u64map__free(&b->fstart);
    cairn_u64map__free(&b->fend);
    cairn_treap__free(&b->fit);
    cairn_jnl__close(b->jnl);
    free(b->un);
    free(b->ev);
    free(b->subs);
    free(b->path);
    free(b->wal_path);
    pthread_rwlock_destroy(&b->mu);
    free(b);
}

static int create_file(cairn_blob *b) {
    uint8_t h[FHDR];
    char *tmp;
    int rc;
    /* a log or half-written compaction left by an earlier store of this name means nothing now */
    if ((rc = cairn_io__unlink(b->wal_path)) != 0) return rc;
    if (!(tmp = suffix(b->path, ".compact"))) return CAIRN_NOMEM;
    rc = cairn_io__unlink(tmp);
    free(tmp);
    if (rc) return rc;
    put_file_header(h, 1, FHDR, 0, 0, 0, 0);
    return cairn_io__write_atomic(b->path, h, FHDR);
}

/* A compaction killed before its rename leaves "<path>.compact": never read, only in the way
 * (it can be as large as the store). Only the lock holder compacts, so a writer that holds it
 * removes the file. */
static int remove_compaction_leftover(cairn_blob *b) {
    char *tmp = suffix(b->path, ".compact");
    int rc;
    if (!tmp) return CAIRN_NOMEM;
    rc = cairn_io__unlink(tmp);
    free(tmp);
    return rc;
}

/* The log a file's header names must be the one beside it: a writer that had the file open (or
 * died with it open) under another name of the same file (a hard link) left its unapplied
 * changes in "<that name>-wal". Never ignore that: CAIRN_CORRUPT naming the log expected.
 * A log cut shorter than its header holds nothing and is accepted. A file its last writer
 * closed accepts the log beside it (the LSN rules of cairn_jnl__recover still apply). */
static int check_log_owner(cairn_blob *b, const disk_hdr *d, const cairn_wal_info *wi, int have_wal) {
    int cut = have_wal && (wi->created || wi->end < CAIRN_WAL_HEADER_SIZE);
    if (!d->known || cut) return 0;
    if (d->flags & HF_OPEN) {
        if (!have_wal)
            return cairn_err__set(CAIRN_CORRUPT,
                                  "%s: its last writer did not close it, and its write-ahead log (salt %08x) is "
                                  "missing: %s does not exist. If the file was written under another name (a hard "
                                  "link), open it once under that name to recover",
                                  b->path, (unsigned)d->salt, b->wal_path);
        if (wi->salt != d->salt)
            return cairn_err__set(CAIRN_CORRUPT,
                                  "%s: its last writer did not close it, and its write-ahead log has salt %08x, "
                                  "but %s has salt %08x (another file's log). If the file was written under "
                                  "another name (a hard link), open it once under that name to recover",
                                  b->path, (unsigned)d->salt, b->wal_path, (unsigned)wi->salt);
        return 0;
    }
    return 0;
}

/* Make a writer handle's file its own (the end of a writer open; deferred to the first call
 * that may write when the open found a cleanly closed file, see open_writer): a header
 * transaction (in the log, then in the file) that marks the file OPEN with this log's salt and
 * names no index file, synced before any change is logged; then the log is emptied and the
 * index file removed. A crash anywhere in between redoes the same from the log. The caller holds
 * b->mu exclusively. A failure before the header was committed leaves the handle dormant (the
 * next call tries again); after it, the handle fails. */
static int writer_activate(cairn_blob *b) {
    uint32_t flags = b->hdr_flags, salt = b->hdr_salt, idx = b->hdr_idx;
    int rc, sync = b->sync;
    if (!b->dormant) return 0;
    b->hdr_idx = 0; /* from here on, the file no longer matches any index file */
    b->hdr_flags = HF_OPEN;
    b->hdr_salt = cairn_wal__salt(b->wal);
    b->in_ckpt = 1;
    /* all of it under the lock: GROUP mode would let other threads in while its fsync waits */
    if (sync == CAIRN_SYNC_GROUP) b->sync = CAIRN_SYNC_COMMIT;
    rc = log_header(b);
    b->sync = sync;
    b->in_ckpt = 0;
    if (rc) {
        if (b->failed || cairn_jnl__unapplied(b->jnl)) return fail_handle(b, rc);
        b->hdr_flags = flags; /* nothing was committed: still dormant */
        b->hdr_salt = salt;
        b->hdr_idx = idx;
        return rc;
    }
    b->dormant = 0;
    b->n_fsyncs++;
    if ((rc = cairn_io__fsync(b->f)) != 0) return fail_handle(b, rc);
    if ((rc = cairn_wal__reset(b->wal)) != 0) return fail_handle(b, rc);
    b->force_hdr = 1;
    /* the header names no index now: an index file (or a half-written one) is of no use until
     * the close writes a new one (best effort: a stale one never matches anyway) */
    {
        char *ip = index_path(b), *tp = ip ? suffix(ip, ".tmp") : NULL;
        cairn_err_saved saved;
        cairn_err__save(&saved);
        if (ip) (void)cairn_io__unlink(ip);
        if (tp) (void)cairn_io__unlink(tp);
        cairn_err__restore(&saved);
        free(ip);
        free(tp);
    }
    /* log space for deletes on a full disk (best effort: on a full disk it is retried later) */
    (void)cairn_wal__set_reserve(b->wal, WAL_RESERVE);
    return 0;
}

/* Writer open after the locks: validate what recovery would produce (the replay as an overlay,
 * then header and entries), and only then write it, stamp the LSN, mark the file open with this
 * log's salt, and empty the log. */
static int open_writer(cairn_blob *b, uint64_t *size) {
    cairn_wal_info wi;
    disk_hdr d;
    uint64_t lsn, wsize;
    int rc, st, redo = 0;
    if ((rc = cairn_io__open(&b->f, b->path, CAIRN_IO_RDWR)) != 0) return rc;
    if ((rc = cairn_io__size(b->f, size)) != 0) return rc;
    peek_header(b, *size, &d);
    memset(&wi, 0, sizeof wi);
    st = cairn_io__stat(b->wal_path, &wsize);
    if (st < 0) return st;
    if (st == 0 && (rc = check_log_owner(b, &d, &wi, 0)) != 0) return rc; /* before creating one */
    if ((rc = cairn_wal__open(&b->wal, b->wal_path, CAIRN_WAL_CREATE | CAIRN_WAL_KEEP_TAIL, &wi)) != 0) return rc;
    cairn_jnl__bind(b->jnl, b->wal, b->f, b);
    if (st == 1 && (rc = check_log_owner(b, &d, &wi, 1)) != 0) return rc;
    if ((rc = cairn_jnl__recover(b->jnl, &wi, d.known, d.lsn, b->path, &redo)) != 0) return rc;
    *size = cairn_jnl__overlay_size(b->jnl, *size);
    if ((rc = read_header(b, *size)) != 0) return rc;
    b->hdr_next_key = b->disk_next_key = b->next_key;
    b->hdr_end = b->disk_end = b->end;
    cairn_jnl__set_lsn(b->jnl, d.known ? d.lsn : 0);
    if ((rc = load_or_scan(b, &d, redo)) != 0) return rc;
    /* valid: make it so. The redo first; then a header transaction (in the log, then in the
     * file) that marks the file open with this log's salt and stamps an LSN above everything
     * the log numbered, synced before any change is logged; then the log is emptied. A crash
     * anywhere in between redoes the same from the log. */
    lsn = wi.last_seq > cairn_jnl__lsn(b->jnl) ? wi.last_seq : cairn_jnl__lsn(b->jnl);
    if ((rc = cairn_jnl__materialize(b->jnl)) != 0) return rc;
    /* bytes past the logical end belong to nothing: cut them */
    if (*size > b->end && (rc = cairn_io__truncate(b->f, b->end)) != 0) return rc;
    b->alloc = b->end;
    map_cover(b);
    cairn_wal__advance(b->wal, lsn); /* the log's numbering goes on above the file's LSN */
    b->disk_next_key = b->hdr_next_key;
    b->disk_end = b->hdr_end;
    b->disk_flags = d.flags;
    b->disk_salt = d.salt;
    b->disk_idx = d.idx;
    b->hdr_flags = d.flags;
    b->hdr_salt = d.salt;
    b->hdr_idx = d.idx;
    b->dormant = 1;
    /* A file its last writer closed cleanly (not OPEN, an index file that matched it exactly),
     * a log without a valid record (its preallocated or torn tail is overwritten by the first
     * transaction, as after the reset below), nothing to cut: the open writes nothing, and the
     * first call that may write activates the handle. Until then the file, its header and its
     * index file are exactly as the close left them, so a crash (or a close) needs nothing. */
    if (!redo && b->idx_loaded && d.known && !(d.flags & HF_OPEN) && d.idx && wi.records == 0 &&
        *size == b->end)
        return 0;
    pthread_rwlock_wrlock(&b->mu);
    rc = writer_activate(b);
    pthread_rwlock_unlock(&b->mu);
    return rc;
}

/* Open the log read-only if it exists (b->wal stays NULL otherwise). */
static int open_log_ro(cairn_blob *b, cairn_wal_info *wi) {
    uint64_t wsize = 0;
    int st = cairn_io__stat(b->wal_path, &wsize);
    memset(wi, 0, sizeof *wi);
    if (st < 0) return st;
    if (st == 0) return 0;
    return cairn_wal__open(&b->wal, b->wal_path, CAIRN_WAL_RDONLY, wi);
}

/* ---- the read-only view (see "Readers" in the FORMAT comment) ----------------------------- */

#define RO_TRIES 64 /* attempts at a validated view before CAIRN_BUSY */

/* The log's identity now: exists, size, CRC of all its bytes (read by path). */
static void wal_sig(const cairn_blob *b, vsig *s) {
    cairn_file *f = NULL;
    uint64_t size = 0;
    uint8_t *img;
    size_t got = 0;
    s->wal = 0;
    s->wsize = 0;
    s->wcrc = 0;
    if (cairn_io__stat(b->wal_path, &size) != 1 || cairn_io__open(&f, b->wal_path, CAIRN_IO_RDONLY) != 0) return;
    s->wal = 1;
    if (cairn_io__size(f, &size) != 0 || size > (uint64_t)SIZE_MAX / 2 ||
        !(img = (uint8_t *)malloc(size ? (size_t)size : 1))) {
        s->wsize = UINT64_MAX; /* unreadable: never equal to a view's */
        cairn_io__close(f);
        return;
    }
    if (size && cairn_io__pread(f, img, (size_t)size, 0, &got) != 0) got = 0;
    s->wsize = got == size ? size : UINT64_MAX;
    s->wcrc = got ? cairn_crc32c__update(0, img, got) : 0;
    free(img);
    cairn_io__close(f);
}

/* The data file's header bytes, through the open descriptor (or the path when there is none). */
static void hdr_sig(const cairn_blob *b, vsig *s) {
    cairn_file *f = b->f;
    size_t got = 0;
    memset(s->hdr, 0, FHDR);
    if (!f && cairn_io__open(&f, b->path, CAIRN_IO_RDONLY) != 0) return;
    if (cairn_io__pread(f, s->hdr, FHDR, 0, &got) != 0) memset(s->hdr, 0xff, FHDR);
    if (f != b->f) cairn_io__close(f);
}

static int vsig_eq(const vsig *x, const vsig *y) {
    return x->wal == y->wal && x->wsize == y->wsize && x->wcrc == y->wcrc && !memcmp(x->hdr, y->hdr, FHDR);
}

/* Forget the view (descriptors, index, free lists, overlay) so that another can be built. */
static void view_clear(cairn_blob *b) {
    cairn_wal__close(b->wal);
    b->wal = NULL;
    cairn_io__close(b->f);
    b->f = NULL;
    idx_clear(b);
    cairn_u64map__free(&b->fstart);
    cairn_u64map__free(&b->fend);
    cairn_treap__free(&b->fit);
    b->live_bytes = b->free_bytes = b->free_entries = 0;
    cairn_jnl__drop_overlay(b->jnl);
    cairn_jnl__bind(b->jnl, NULL, NULL, b);
    b->next_key = b->end = 0;
}

static int verify_payloads(cairn_blob *b) {
    kiter it;
    uint32_t key;
    brec r;
    int rc = 0;
    memset(&it, 0, sizeof it);
    while (!rc && idx_next(b, &it, &key, &r)) {
        void *p = NULL;
        rc = read_payload(b, key, &r, &p);
        free(p);
    }
    return rc;
}

/* One attempt: the log (s0: its identity as read), the header (s0), the view built from them
 * (overlay, header, entries; payloads too when b->verify); then the log and the header again
 * (s1), in that order. The caller compares s0 and s1. */
static int ro_attempt(cairn_blob *b, uint64_t *size, vsig *s0, vsig *s1) {
    cairn_wal_info wi;
    disk_hdr d;
    int rc, redo = 0;
    memset(s0, 0, sizeof *s0);
    /* the log before the data file: a writer that applies or checkpoints in between then only
     * makes the file newer than this view of the log, and the second look sees it */
    if ((rc = open_log_ro(b, &wi)) != 0) {
        /* the log could not be read (damaged, or changing under us): its identity as it is now */
        cairn_err_saved saved;
        cairn_err__save(&saved);
        wal_sig(b, s0);
        hdr_sig(b, s0);
        cairn_err__restore_as(&saved, saved.code ? saved.code : rc);
        goto out;
    }
    s0->wal = b->wal != NULL;
    s0->wsize = wi.image_size;
    s0->wcrc = wi.image_crc;
    if ((rc = cairn_io__open(&b->f, b->path, CAIRN_IO_RDONLY)) != 0) goto out;
    cairn_jnl__bind(b->jnl, b->wal, b->f, b);
    hdr_sig(b, s0);
    if ((rc = cairn_io__size(b->f, size)) != 0) goto out;
    peek_header(b, *size, &d);
    if ((rc = check_log_owner(b, &d, &wi, b->wal != NULL)) != 0) goto out;
    if (b->wal && (rc = cairn_jnl__recover(b->jnl, &wi, d.known, d.lsn, b->path, &redo)) != 0) goto out;
    *size = cairn_jnl__overlay_size(b->jnl, *size); /* the size the file would have after recovery */
    if ((rc = read_header(b, *size)) != 0) goto out;
    b->hdr_next_key = b->disk_next_key = b->next_key;
    b->hdr_end = b->disk_end = b->end;
    cairn_jnl__set_lsn(b->jnl, d.known ? d.lsn : 0);
    if ((rc = load_or_scan(b, &d, redo)) != 0) goto out;
    if (b->verify) rc = verify_payloads(b);
out:
    {
        /* the error of the attempt survives the second look */
        cairn_err_saved saved;
        cairn_err__save(&saved);
        wal_sig(b, s1);
        hdr_sig(b, s1);
        if (rc) cairn_err__restore_as(&saved, saved.code ? saved.code : rc);
    }
    return rc;
}

static void ro_backoff(int attempt) {
    struct timespec ts;
    long us;
    if (attempt < 2) return;
    us = attempt < 12 ? 1L << (attempt - 2) : 1000L; /* 1 us .. 512 us, then 1 ms */
    ts.tv_sec = 0;
    ts.tv_nsec = us * 1000L;
    nanosleep(&ts, NULL);
}

/* Build a validated read-only view into b (which holds none). A view is accepted when the log
 * and the header are the same after it was built as before; a failure is reported only when it
 * repeats, with the same error, over a store that did not change; a writer that keeps moving
 * under RO_TRIES attempts is CAIRN_BUSY. */
static int open_reader(cairn_blob *b, uint64_t *size) {
    vsig s0, s1, fsig;
    char fmsg[1024];
    int i, rc = 0, frc = 0, have_fail = 0;
    for (i = 0; i < RO_TRIES; i++) {
        if (i) view_clear(b);
        rc = ro_attempt(b, size, &s0, &s1);
        if (vsig_eq(&s0, &s1)) {
            if (!rc) {
                b->vs = s1;
                return 0;
            }
            /* a failure over a store that did not move: real once it repeats the same */
            if (have_fail && rc == frc && vsig_eq(&fsig, &s1) && !strcmp(fmsg, cairn_errmsg())) return rc;
            have_fail = 1;
            frc = rc;
            fsig = s1;
            snprintf(fmsg, sizeof fmsg, "%s", cairn_errmsg());
        }
        ro_backoff(i);
    }
    snprintf(fmsg, sizeof fmsg, "%s", rc ? cairn_errmsg() : "the view changed while it was read");
    view_clear(b);
    return cairn_err__set(CAIRN_BUSY,
                          "%s: a writer kept changing the store during %d attempts to read a consistent view "
                          "(last: %s)",
                          b->path, RO_TRIES, fmsg);
}

/* A read-only handle whose view went stale (a read failed its checks): build a new view beside
 * it and swap it in; the old one stays when that fails. */
static int refresh_view(cairn_blob *b) {
    cairn_blob *t = (cairn_blob *)calloc(1, sizeof *t);
    uint64_t size = 0;
    int rc;
    if (!t) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    cairn_rwlock__init(&t->mu);
    t->ro = 1;
    blob_init_containers(t, b->fit.rng);
    if (!(t->path = cairn_str__dup(b->path)) || !(t->wal_path = cairn_str__dup(b->wal_path)) ||
        blob_new_jnl(t) != 0) {
        blob_free(t);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    if ((rc = open_reader(t, &size)) != 0) {
        cairn_err_saved saved;
        cairn_err__save(&saved);
        blob_free(t);
        return cairn_err__restore_as(&saved, rc);
    }
#define SWAPF(field)                                                                              \
    do {                                                                                          \
        cairn_blob tmp_;                                                                          \
        memcpy(&tmp_.field, &b->field, sizeof b->field);                                          \
        memcpy(&b->field, &t->field, sizeof b->field);                                            \
        memcpy(&t->field, &tmp_.field, sizeof b->field);                                          \
    } while (0)
    SWAPF(f);
    SWAPF(wal);
    SWAPF(next_key);
    SWAPF(end);
    SWAPF(hdr_next_key);
    SWAPF(hdr_end);
    SWAPF(disk_next_key);
    SWAPF(disk_end);
    SWAPF(disk_flags);
    SWAPF(disk_salt);
    SWAPF(disk_idx);
    SWAPF(jnl);
    SWAPF(idx);
    SWAPF(base);
    SWAPF(nbase);
    SWAPF(bmap);
    SWAPF(bmaplen);
    SWAPF(nkeys);
    SWAPF(idx_loaded);
    SWAPF(fstart);
    SWAPF(fend);
    SWAPF(fit);
    SWAPF(live_bytes);
    SWAPF(free_bytes);
    SWAPF(free_entries);
    SWAPF(vs);
#undef SWAPF
    cairn_jnl__bind(b->jnl, b->wal, b->f, b);
    cairn_jnl__bind(t->jnl, t->wal, t->f, t);
    blob_free(t); /* the old view */
    return 0;
}

/* The file's one true name: symlinks resolved (realpath), so that every spelling of it shares
 * "-wal", "-lock" and ".compact". A missing file: its directory resolved, plus its name. */
static char *canonical_path(const char *path) {
    char *r = realpath(path, NULL), *dir, *dreal, *out;
    const char *base;
    struct stat st;
    size_t n;
    if (r) return r;
    if (errno != ENOENT) {
        cairn_err__sys(errno, "%s", path);
        return NULL;
    }
    if (lstat(path, &st) == 0) { /* exists, but realpath failed: a dangling symlink */
        cairn_err__set(CAIRN_PATH, "%s: a symbolic link to a missing file", path);
        return NULL;
    }
    base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!*base) {
        cairn_err__set(CAIRN_PATH, "%s: not a file name", path);
        return NULL;
    }
    if (!(dir = cairn_path__dir(path))) return NULL;
    dreal = realpath(dir, NULL);
    if (!dreal) {
        cairn_err__sys(errno, "%s", dir);
        free(dir);
        return NULL;
    }
    free(dir);
    n = strlen(dreal);
    if (!(out = (char *)malloc(n + 1 + strlen(base) + 1))) {
        free(dreal);
        cairn_err__set(CAIRN_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(out, dreal, n);
    out[n] = '/';
    strcpy(out + n + 1, base);
    free(dreal);
    return out;
}

static int open_impl(cairn_blob *b, const cairn_blob_options *o) {
    uint64_t size = 0, deadline = cairn_lock__deadline(o->lock_timeout_ms);
    int rc, st;
    st = cairn_io__stat(b->path, &size);
    if (st < 0) return st;
    if (st == 2) return cairn_err__set(CAIRN_PATH, "%s: is a directory, not a blob store file", b->path);
    if (!b->ro) {
        char *lp = suffix(b->path, "-lock");
        if (!lp) return CAIRN_NOMEM;
        if (st == 0 && !o->create) {
            free(lp);
            return cairn_err__set(CAIRN_PATH, "%s: no such blob store (create is off)", b->path);
        }
        /* one writer per name (and creation is serialised by it) ... */
        rc = cairn_lock__acquire_until(&b->lock, lp, o->lock_timeout_ms, deadline);
        free(lp);
        if (rc) return rc;
        st = cairn_io__stat(b->path, &size); /* another writer may have created it meanwhile */
        if (st < 0) return st;
        if (st == 0 && (rc = create_file(b)) != 0) return rc;
        /* ... and one per file, whatever name (a hard link) it is opened by: the file itself.
         * One deadline for both: an open waits at most lock_timeout_ms in all */
        if ((rc = cairn_lock__acquire_until(&b->ilock, b->path, o->lock_timeout_ms, deadline)) != 0) return rc;
        if ((rc = remove_compaction_leftover(b)) != 0) return rc;
        if ((rc = open_writer(b, &size)) != 0) return rc;
    } else {
        if (st == 0) return cairn_err__set(CAIRN_PATH, "%s: no such blob store", b->path);
        if ((rc = open_reader(b, &size)) != 0) return rc;
    }
    return 0;
}

static int blob_open(cairn_blob **out, const char *path, const cairn_blob_options *opts, int verify) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    cairn_blob *b;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_blob_open: out is NULL");
    *out = NULL;
    if (!path) return cairn_err__set(CAIRN_INVALID, "cairn_blob_open: path is NULL");
    if (!*path) return cairn_err__set(CAIRN_PATH, "cairn_blob_open: empty path");
    if (opts) {
        if (opts->version < 1 || opts->version > CAIRN_BLOB_OPTIONS_VERSION)
            return cairn_err__set(CAIRN_INVALID, "cairn_blob_open: unknown options version %u", opts->version);
        o = *opts;
    }
    if (o.sync < CAIRN_SYNC_NONE || o.sync > CAIRN_SYNC_GROUP)
        return cairn_err__set(CAIRN_INVALID, "cairn_blob_open: bad sync mode %d", o.sync);
    if (!(b = (cairn_blob *)calloc(1, sizeof *b))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    cairn_rwlock__init(&b->mu);
    b->gen = cairn_fork__gen();
    b->ro = o.read_only != 0;
    b->verify = verify && b->ro;
    b->sync = o.sync;
    blob_init_containers(b, 0);
    b->next_sub = 1;
    rc = !(b->path = canonical_path(path)) || !(b->wal_path = suffix(b->path, "-wal")) || blob_new_jnl(b) != 0
             ? (cairn_errcode() ? cairn_errcode() : CAIRN_NOMEM)
             : open_impl(b, &o);
    if (rc) {
        cairn_err_saved saved;
        cairn_err__save(&saved);
        blob_free(b);
        return cairn_err__restore_as(&saved, rc);
    }
    *out = b;
    return 0;
}

int cairn_blob_open(cairn_blob **out, const char *path, const cairn_blob_options *opts) {
    return blob_open(out, path, opts, 0);
}

static int abort_txn(cairn_blob *b);

void cairn_blob_close(cairn_blob *b) {
    if (!b) return;
    if (cairn_fork__foreign(b->gen)) {
        /* a child's copy: the files and the lock are the parent's. Free memory and close our
         * descriptors (which releases nothing of the parent's); write nothing. */
        blob_free(b);
        return;
    }
    pthread_rwlock_wrlock(&b->mu);
    if (b->in_txn) (void)abort_txn(b); /* best effort, as is the checkpoint */
    /* best effort; cairn_blob_sync reports errors. Once the log is empty, the file is marked
     * closed: then no log needs to be found beside it (see check_log_owner) */
    if (!b->ro && !b->failed && !b->in_txn && !b->dormant) {
        /* everything in the data file first; then the closing header names a new index file,
         * written once that header is in the file (the index records the file's identity) */
        uint32_t id = checkpoint(b) == 0 && !b->failed && !cairn_jnl__unapplied(b->jnl) ? index_new_id(b) : 0;
        b->hdr_flags &= ~HF_OPEN;
        b->hdr_idx = id;
        b->in_ckpt = 1;
        if (log_header(b) != 0) { /* no matter: the header stays open */
            b->hdr_flags |= HF_OPEN;
            b->hdr_idx = id = 0;
        }
        b->in_ckpt = 0;
        if (checkpoint(b) == 0 && id && !b->failed && !cairn_jnl__unapplied(b->jnl) && b->disk_idx == id &&
            !(b->disk_flags & HF_OPEN) && !__atomic_load_n(&b->idx_suspect, __ATOMIC_RELAXED))
            index_write(b, id);
    }
    if (!b->dormant) (void)checkpoint(b); /* dormant: nothing was written, the index file still matches */
    pthread_rwlock_unlock(&b->mu);
    blob_free(b);
}

/* ---- operations --------------------------------------------------------------------------- */

/* Fail-stop: after a fatal I/O error every call but close is CAIRN_FAILED, with the message
 * every engine uses. */
static int err_failed(const cairn_blob *b, const char *fn) { return cairn_err__failed(fn, b->path); }

/* Under b->mu held exclusively: the handle may write (and is activated, see writer_activate). */
static int check_write(cairn_blob *b, const char *fn) {
    if (b->failed) return err_failed(b, fn);
    if (b->ro) return cairn_err__set(CAIRN_READONLY, "%s: %s: opened read-only", fn, b->path);
    return writer_activate(b);
}

static int check_data(const void *data, size_t len) {
    if (!data && len) return cairn_err__set(CAIRN_INVALID, "blob data is NULL");
    if (len > CAIRN_VALUE_MAX)
        return cairn_err__set(CAIRN_TOOBIG, "blob of %zu bytes exceeds the limit of %u", len,
                              (unsigned)CAIRN_VALUE_MAX);
    return 0;
}

static int push_event(cairn_blob *b, int ev, uint32_t key, uint64_t old_size, uint64_t new_size) {
    evrec *p = (evrec *)cairn_arr__grow(b->ev, &b->capev, b->nev + 1, sizeof *p);
    if (!p) return CAIRN_NOMEM;
    b->ev = p;
    b->ev[b->nev].ev = ev;
    b->ev[b->nev].key = key;
    b->ev[b->nev].old_size = old_size;
    b->ev[b->nev].new_size = new_size;
    b->nev++;
    return 0;
}

/* Take the free neighbours of [off, off+size) out of the free lists: *start, *sz get the merged
 * extent. `after` set: only the successor can be free (the caller's entry ends at off). */
static int merge_free(cairn_blob *b, uint64_t off, uint64_t size, int after, uint64_t *start, uint64_t *sz) {
    brec *p = after ? NULL : map_get(&b->fend, off), *s;
    int rc;
    *start = off;
    *sz = size;
    if (p) {
        *start = p->off;
        *sz += p->size;
        if ((rc = free_del(b, p->off)) != 0) return rc;
    }
    if ((s = map_get(&b->fstart, off + size)) != NULL) {
        *sz += s->size;
        if ((rc = free_del(b, off + size)) != 0) return rc;
    }
    return 0;
}

/* [start, start+sz) (already merged) becomes a free entry, or is cut off when it is the tail. */
static int free_extent(cairn_blob *b, uint64_t start, uint64_t sz) {
    int rc;
    if (start + sz == b->end) {
        if ((rc = set_end(b, start)) != 0) return rc;
        return emit_trunc(b, start);
    }
    if ((rc = free_add(b, start, sz)) != 0) return rc;
    return emit_free(b, start, sz);
}

/* Free [off, off+size), merging with free neighbours; a free tail is cut off the file. */
static int release(cairn_blob *b, uint64_t off, uint64_t size) {
    uint64_t start, sz;
    int rc = merge_free(b, off, size, 0, &start, &sz);
    return rc ? rc : free_extent(b, start, sz);
}

/* Write the entry of `key` at v->off (v->size bytes, v->pend set) and free the space from its
 * end to end + rest (nothing when rest is 0; merged with a free successor unless `merged` says
 * that the space is no free entry's neighbour; cut when it is the tail): the entry and the free
 * header as one record when they can be (emit_entry_free). */
static int put_entry_then_free(cairn_blob *b, brec *v, uint32_t key, const void *data, size_t len, uint64_t rest,
                               int merged) {
    uint64_t start = v->off + v->size, sz = rest;
    int rc;
    if (!rest) return emit_entry(b, v->off, v->size, key, data, len, &v->pend);
    if (!merged && (rc = merge_free(b, start, rest, 1, &start, &sz)) != 0) return rc;
    if (start + sz == b->end) {
        if ((rc = emit_entry(b, v->off, v->size, key, data, len, &v->pend)) != 0) return rc;
        if ((rc = set_end(b, start)) != 0) return rc;
        return emit_trunc(b, start);
    }
    if ((rc = free_add(b, start, sz)) != 0) return rc;
    return emit_entry_free(b, v->off, v->size, key, data, len, sz, &v->pend);
}

/* Find space for an entry of `need` bytes: best fit among free entries, else the end.
 * *size gets the entry size (need, or the whole block when the rest cannot hold a header);
 * *rest the size of the free entry split off after it (0: none), already in the free lists,
 * its header for the caller to log. */
static int alloc(cairn_blob *b, uint64_t need, uint64_t *off, uint64_t *size, uint64_t *rest) {
    uint64_t boff, bsize;
    int rc;
    *rest = 0;
    if (cairn_treap__lower_bound(&b->fit, need, 0, &bsize, &boff)) { /* smallest fit, lowest offset */
        if ((rc = free_del(b, boff)) != 0) return rc;
        *off = boff;
        if (bsize - need >= EHDR) {
            *size = need;
            *rest = bsize - need;
            return free_add(b, boff + need, bsize - need);
        }
        *size = bsize;
        return 0;
    }
    *off = b->end;
    *size = need;
    return set_end(b, b->end + need);
}

static int place(cairn_blob *b, uint32_t key, const void *data, size_t len) {
    brec v;
    uint64_t off, size, rest;
    int rc;
    memset(&v, 0, sizeof v);
    if ((rc = alloc(b, EHDR + (uint64_t)len, &off, &size, &rest)) != 0) return rc;
    if ((rc = emit_entry_free(b, off, size, key, data, len, rest, &v.pend)) != 0) return rc;
    v.off = off;
    v.size = size;
    v.len = (uint32_t)len;
    return idx_put(b, key, &v);
}

/* Take events [evmark, nev) and a copy of the subscribers, to fire without the lock. */
static void take_events(cairn_blob *b, size_t evmark, fired *fo) {
    size_t n = b->nev - evmark;
    memset(fo, 0, sizeof *fo);
    if (n && b->nsubs) {
        fo->ev = (evrec *)malloc(n * sizeof(evrec));
        fo->subs = (sub *)malloc(b->nsubs * sizeof(sub));
        if (fo->ev && fo->subs) {
            memcpy(fo->ev, b->ev + evmark, n * sizeof(evrec));
            memcpy(fo->subs, b->subs, b->nsubs * sizeof(sub));
            fo->nev = n;
            fo->nsubs = b->nsubs;
        }
    }
    b->nev = evmark;
}

static void fire(fired *fo) {
    size_t i, j;
    for (i = 0; i < fo->nev; i++)
        for (j = 0; j < fo->nsubs; j++)
            fo->subs[j].fn(fo->subs[j].ctx, fo->ev[i].ev, fo->ev[i].key, fo->ev[i].old_size, fo->ev[i].new_size);
    free(fo->ev);
    free(fo->subs);
    fo->ev = NULL;
    fo->subs = NULL;
}

/* Every byte a committed change writes to the data file is allocated before the change is
 * logged, so applying it (or redoing it at recovery) never needs new space: a log that filled
 * the disk can always be checkpointed, which empties it. Space is reserved ahead in steps. */
static int reserve_growth(cairn_blob *b) {
    uint64_t step, want;
    int rc;
    if (b->end <= b->alloc) return 0;
    step = b->end / 8;
    if (step < GROW_MIN) step = GROW_MIN;
    if (step > GROW_MAX) step = GROW_MAX;
    want = b->end - b->alloc < step ? step : b->end - b->alloc;
    if (cairn_io__reserve(b->f, b->alloc, want) != 0 &&
        (rc = cairn_io__reserve(b->f, b->alloc, want = b->end - b->alloc)) != 0)
        return rc;
    b->alloc += want;
    map_cover(b);
    return 0;
}

/* Commit pending changes (the journal's records from pmark on) as one WAL transaction and make
 * them durable per the sync mode; on a failure before the commit point everything since the
 * marks is undone.
 * Called and returns with the lock held (GROUP mode drops it while waiting for the fsync). */
static int commit_batch(cairn_blob *b, size_t umark, uint64_t pmark, size_t evmark, fired *fo) {
    uint64_t seq = 0;
    int rc;
    int urgent = b->urgent;
    memset(fo, 0, sizeof *fo);
    b->urgent = 0;
    if ((rc = emit_header_if_changed(b)) != 0) goto undo;
    if ((rc = reserve_growth(b)) != 0) goto undo;
    if ((rc = cairn_jnl__commit(b->jnl, pmark, urgent, &seq)) != 0) goto undo;
    if (seq) b->force_hdr = 0;
    /* committed: no way back. The events are ours alone from here (another thread may run
     * while GROUP mode waits for the fsync); they fire only once the change is durable. */
    b->nun = umark;
    take_events(b, evmark, fo);
    if (seq) {
        if (b->sync == CAIRN_SYNC_GROUP) {
            pthread_rwlock_unlock(&b->mu);
            rc = cairn_jnl__sync(b->jnl, seq);
            pthread_rwlock_wrlock(&b->mu);
        } else if (b->sync == CAIRN_SYNC_COMMIT) {
            rc = cairn_jnl__sync(b->jnl, seq);
        }
        if (rc) {
            free(fo->ev);
            free(fo->subs);
            memset(fo, 0, sizeof *fo);
            return fail_handle(b, rc);
        }
        /* in NONE mode nothing is durable yet: the changes wait for the next checkpoint.
         * A failed write stays pending (served from memory) and is retried later. */
        if (b->sync != CAIRN_SYNC_NONE) (void)apply_pending(b);
        if (!b->in_txn && !b->in_ckpt && cairn_jnl__should_checkpoint(b->jnl)) (void)checkpoint(b);
    }
    return 0;
undo: {
        cairn_err_saved saved;
        cairn_err__save(&saved);
        rollback_to(b, umark, pmark, evmark);
        return cairn_err__restore_as(&saved, rc);
    }
}

/* Before an operation returns, no pending record may still borrow the caller's bytes: they are
 * copied (the change is not in the data file yet: CAIRN_SYNC_NONE, a failed apply, or inside a
 * transaction). Out of memory for the copy, a committed change is made durable and applied
 * instead, which needs no memory; if even that fails the handle fails (it cannot keep bytes it
 * does not own). Uncommitted ones were already dropped or are owned by then. */
static void keep_borrowed(cairn_blob *b) {
    int rc;
    if (cairn_jnl__own(b->jnl) == 0) return;
    rc = cairn_jnl__sync(b->jnl, 0);
    if (!rc) rc = apply_pending(b);
    if (!rc && cairn_jnl__own(b->jnl) == 0) return;
    fail_handle(b, rc ? rc : CAIRN_NOMEM);
}

/* Run one mutating operation: outside a transaction it is its own transaction; inside, it is
 * added to the open one (and undone alone if it fails). */
typedef int (*op_fn)(cairn_blob *b, void *arg);

static int do_delete(cairn_blob *b, void *arg);
static int do_create(cairn_blob *b, void *arg);
static int do_create_with_key(cairn_blob *b, void *arg);
static int do_update(cairn_blob *b, void *arg);

static int run_op(cairn_blob *b, op_fn fn, void *arg, const char *name) {
    size_t umark, evmark;
    uint64_t pmark;
    fired fo;
    int rc;
    memset(&fo, 0, sizeof fo);
    pthread_rwlock_wrlock(&b->mu);
    if ((rc = check_write(b, name)) != 0) goto out;
    umark = b->nun;
    pmark = cairn_jnl__mark(b->jnl);
    evmark = b->nev;
    if ((rc = fn(b, arg)) != 0) {
        cairn_err_saved saved;
        cairn_err__save(&saved);
        rollback_to(b, umark, pmark, evmark);
        if (rc != CAIRN_NOTFOUND) cairn_err__restore_as(&saved, rc);
        goto out;
    }
    if (!b->in_txn) {
        b->urgent = fn == do_delete; /* frees space: it may use the log's reserve */
        rc = commit_batch(b, umark, pmark, evmark, &fo);
    }
    keep_borrowed(b);
    if (!rc) {
        if (fn == do_create || fn == do_create_with_key) bcount(&b->n_creates);
        else if (fn == do_update) bcount(&b->n_updates);
        else if (fn == do_delete) bcount(&b->n_deletes);
    }
out:
    pthread_rwlock_unlock(&b->mu);
    fire(&fo);
    return rc;
}

typedef struct op_args {
    uint32_t key;
    uint32_t *key_out;
    const void *data;
    size_t len;
} op_args;

static int do_create(cairn_blob *b, void *arg) {
    op_args *a = (op_args *)arg;
    uint32_t key;
    int rc;
    if (b->next_key >= KEY_LIMIT) return cairn_err__set(CAIRN_RANGE, "%s: every uint32 key is used", b->path);
    key = (uint32_t)b->next_key;
    if ((rc = set_next_key(b, b->next_key + 1)) != 0) return rc;
    if ((rc = place(b, key, a->data, a->len)) != 0) return rc;
    if ((rc = push_event(b, CAIRN_BLOB_CREATED, key, 0, a->len)) != 0) return rc;
    a->key = key;
    return 0;
}

static int do_create_with_key(cairn_blob *b, void *arg) {
    op_args *a = (op_args *)arg;
    int rc;
    if (idx_get(b, a->key, NULL))
        return cairn_err__set(CAIRN_EXISTS, "%s: key %u already exists", b->path, (unsigned)a->key);
    if ((uint64_t)a->key >= b->next_key && (rc = set_next_key(b, (uint64_t)a->key + 1)) != 0) return rc;
    if ((rc = place(b, a->key, a->data, a->len)) != 0) return rc;
    return push_event(b, CAIRN_BLOB_CREATED, a->key, 0, a->len);
}

static int do_reserve(cairn_blob *b, void *arg) {
    op_args *a = (op_args *)arg;
    if (b->next_key >= KEY_LIMIT) return cairn_err__set(CAIRN_RANGE, "%s: every uint32 key is used", b->path);
    a->key = (uint32_t)b->next_key;
    return set_next_key(b, b->next_key + 1);
}

static int do_update(cairn_blob *b, void *arg) {
    op_args *a = (op_args *)arg;
    brec old;
    uint64_t need = EHDR + (uint64_t)a->len;
    int rc = idx_get(b, a->key, &old);
    if (!rc) return CAIRN_NOTFOUND;
    if (rc == 2 && (rc = entry_verify(b, a->key, &old)) != 0) return rc;
    if (need <= old.size) {
        /* fits: rewrite in place, free what is left if it can hold a header */
        brec v;
        memset(&v, 0, sizeof v);
        v.off = old.off;
        v.size = old.size - need >= EHDR ? need : old.size;
        v.len = (uint32_t)a->len;
        if ((rc = put_entry_then_free(b, &v, a->key, a->data, a->len, old.size - v.size, 0)) != 0) return rc;
        if ((rc = idx_put(b, a->key, &v)) != 0) return rc;
    } else {
        /* grows: the entry merged with its free neighbours is taken when it fits (the rest freed
         * as above); else that space is freed and the blob is placed like a create */
        uint64_t start, sz;
        if ((rc = merge_free(b, old.off, old.size, 0, &start, &sz)) != 0) return rc;
        if (sz < need) {
            if ((rc = free_extent(b, start, sz)) != 0) return rc;
            if ((rc = place(b, a->key, a->data, a->len)) != 0) return rc;
        } else {
            brec v;
            memset(&v, 0, sizeof v);
            v.off = start;
            v.size = start + sz == b->end || sz - need >= EHDR ? need : sz;
            v.len = (uint32_t)a->len;
            if ((rc = put_entry_then_free(b, &v, a->key, a->data, a->len, sz - v.size, 1)) != 0) return rc;
            if ((rc = idx_put(b, a->key, &v)) != 0) return rc;
        }
    }
    return push_event(b, CAIRN_BLOB_UPDATED, a->key, old.len, a->len);
}

static int do_delete(cairn_blob *b, void *arg) {
    op_args *a = (op_args *)arg;
    brec old;
    int rc = idx_get(b, a->key, &old);
    if (!rc) return CAIRN_NOTFOUND;
    if (rc == 2 && (rc = entry_verify(b, a->key, &old)) != 0) return rc;
    if ((rc = idx_del(b, a->key)) != 0) return rc;
    if ((rc = release(b, old.off, old.size)) != 0) return rc;
    return push_event(b, CAIRN_BLOB_DELETED, a->key, old.len, 0);
}

int cairn_blob_create(cairn_blob *b, const void *data, size_t len, uint32_t *key) {
    op_args a;
    int rc;
    if (!b || !key) return cairn_err__set(CAIRN_INVALID, "cairn_blob_create: NULL argument");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_create");
    if ((rc = check_data(data, len)) != 0) return bres(b, rc);
    memset(&a, 0, sizeof a);
    a.data = data;
    a.len = len;
    if ((rc = run_op(b, do_create, &a, "cairn_blob_create")) == 0) *key = a.key;
    return bres(b, rc);
}

int cairn_blob_create_with_key(cairn_blob *b, uint32_t key, const void *data, size_t len) {
    op_args a;
    int rc;
    if (!b) return cairn_err__set(CAIRN_INVALID, "cairn_blob_create_with_key: NULL handle");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_create_with_key");
    if ((rc = check_data(data, len)) != 0) return bres(b, rc);
    memset(&a, 0, sizeof a);
    a.key = key;
    a.data = data;
    a.len = len;
    return bres(b, run_op(b, do_create_with_key, &a, "cairn_blob_create_with_key"));
}

int cairn_blob_reserve_next_key(cairn_blob *b, uint32_t *key) {
    op_args a;
    int rc;
    if (!b || !key) return cairn_err__set(CAIRN_INVALID, "cairn_blob_reserve_next_key: NULL argument");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_reserve_next_key");
    memset(&a, 0, sizeof a);
    if ((rc = run_op(b, do_reserve, &a, "cairn_blob_reserve_next_key")) == 0) *key = a.key;
    return bres(b, rc);
}

int cairn_blob_update(cairn_blob *b, uint32_t key, const void *data, size_t len) {
    op_args a;
    int rc;
    if (!b) return cairn_err__set(CAIRN_INVALID, "cairn_blob_update: NULL handle");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_update");
    if ((rc = check_data(data, len)) != 0) return bres(b, rc);
    memset(&a, 0, sizeof a);
    a.key = key;
    a.data = data;
    a.len = len;
    return bres(b, run_op(b, do_update, &a, "cairn_blob_update"));
}

int cairn_blob_delete(cairn_blob *b, uint32_t key) {
    op_args a;
    if (!b) return cairn_err__set(CAIRN_INVALID, "cairn_blob_delete: NULL handle");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_delete");
    memset(&a, 0, sizeof a);
    a.key = key;
    return bres(b, run_op(b, do_delete, &a, "cairn_blob_delete"));
}

/* A read through a read-only handle failed its checks: the writer may have changed the bytes
 * since the view was built. Refresh the view and read again (the key's bytes in the new view,
 * or CAIRN_NOTFOUND when it is gone there); CAIRN_CORRUPT only when the read fails again in a
 * view of a store that did not change; CAIRN_BUSY when the writer keeps moving. */
static int ro_reread(cairn_blob *b, uint32_t key, void **data, size_t *len) {
    int i, rc = CAIRN_CORRUPT;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cairn_errmsg());
    pthread_rwlock_wrlock(&b->mu);
    for (i = 0; i < RO_TRIES; i++) {
        vsig old = b->vs;
        brec copy;
        int same;
        if ((rc = refresh_view(b)) != 0) break;
        same = vsig_eq(&old, &b->vs);
        if (!idx_get(b, key, &copy)) {
            rc = CAIRN_NOTFOUND;
            break;
        } else if ((rc = read_payload(b, key, &copy, data)) == 0) {
            *len = copy.len;
        }
        if (rc != CAIRN_CORRUPT || same) break; /* same: it failed twice over an unchanged store */
        ro_backoff(i);
    }
    if (i == RO_TRIES)
        rc = cairn_err__set(CAIRN_BUSY, "%s: a writer kept changing the store while key %u was read (last: %s)",
                            b->path, (unsigned)key, msg);
    pthread_rwlock_unlock(&b->mu);
    return rc;
}

int cairn_blob_read(cairn_blob *b, uint32_t key, void **data, size_t *len) {
    brec copy;
    int rc;
    if (!b || !data || !len) return cairn_err__set(CAIRN_INVALID, "cairn_blob_read: NULL argument");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_read");
    *data = NULL;
    *len = 0;
    bcount(&b->n_reads);
    pthread_rwlock_rdlock(&b->mu);
    if (b->failed) {
        rc = err_failed(b, "cairn_blob_read");
    } else if (!idx_get(b, key, &copy)) {
        rc = CAIRN_NOTFOUND;
    } else if ((rc = read_payload(b, key, &copy, data)) == 0) {
        *len = copy.len;
    }
    pthread_rwlock_unlock(&b->mu);
    if (rc == CAIRN_CORRUPT && b->ro) rc = ro_reread(b, key, data, len);
    return bres(b, rc);
}

int cairn_blob_exists(cairn_blob *b, uint32_t key) {
    int rc;
    if (!b) return cairn_err__set(CAIRN_INVALID, "cairn_blob_exists: NULL handle");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_exists");
    pthread_rwlock_rdlock(&b->mu);
    if (b->failed)
        rc = err_failed(b, "cairn_blob_exists");
    else
        rc = idx_get(b, key, NULL) != 0;
    pthread_rwlock_unlock(&b->mu);
    return bres(b, rc);
}

int cairn_blob_count(cairn_blob *b, uint64_t *out) {
    int rc = 0;
    if (!b || !out) return cairn_err__set(CAIRN_INVALID, "cairn_blob_count: NULL argument");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_count");
    pthread_rwlock_rdlock(&b->mu);
    if (b->failed)
        rc = err_failed(b, "cairn_blob_count");
    else
        *out = b->nkeys;
    pthread_rwlock_unlock(&b->mu);
    return bres(b, rc);
}

static int cmp_u32(const void *a, const void *c) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)c;
    return x < y ? -1 : x > y;
}

int cairn_blob_iter_open(cairn_blob_iter **out, cairn_blob *b) {
    cairn_blob_iter *it;
    size_t n = 0;
    if (!out || !b) return cairn_err__set(CAIRN_INVALID, "cairn_blob_iter_open: NULL argument");
    *out = NULL;
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_iter_open");
    if (!(it = (cairn_blob_iter *)calloc(1, sizeof *it))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    pthread_rwlock_rdlock(&b->mu);
    if (b->failed) {
        int rc = err_failed(b, "cairn_blob_iter_open");
        pthread_rwlock_unlock(&b->mu);
        free(it);
        return rc;
    }
    if (!(it->keys = (uint32_t *)malloc((b->nkeys ? (size_t)b->nkeys : 1) * sizeof(uint32_t)))) {
        pthread_rwlock_unlock(&b->mu);
        free(it);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    {
        kiter ki;
        uint32_t key;
        brec v;
        memset(&ki, 0, sizeof ki);
        while (n < b->nkeys && idx_next(b, &ki, &key, &v)) it->keys[n++] = key;
    }
    pthread_rwlock_unlock(&b->mu);
    qsort(it->keys, n, sizeof(uint32_t), cmp_u32);
    it->n = n;
    it->gen = b->gen;
    *out = it;
    return 0;
}

int cairn_blob_iter_next(cairn_blob_iter *it, uint32_t *key) {
    if (!it || !key) return cairn_err__set(CAIRN_INVALID, "cairn_blob_iter_next: NULL argument");
    if (cairn_fork__foreign(it->gen)) return cairn_fork__err("cairn_blob_iter_next");
    if (it->i >= it->n) return CAIRN_ITEROVER;
    *key = it->keys[it->i++];
    return 0;
}

void cairn_blob_iter_free(cairn_blob_iter *it) {
    if (!it) return;
    free(it->keys);
    free(it);
}

int cairn_blob_sync(cairn_blob *b) {
    int rc;
    if (!b) return cairn_err__set(CAIRN_INVALID, "cairn_blob_sync: NULL handle");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_sync");
    pthread_rwlock_wrlock(&b->mu);
    /* inside a transaction it makes what was committed before it durable (the checkpoint stops
     * short of emptying the log); the transaction's changes are not committed: it goes on */
    if (b->failed)
        rc = err_failed(b, "cairn_blob_sync");
    else if (b->ro || b->dormant)
        rc = 0; /* dormant: nothing written since the clean close */
    else
        rc = checkpoint(b);
    pthread_rwlock_unlock(&b->mu);
    return bres(b, rc);
}

int cairn_blob_stats(cairn_blob *b, struct cairn_blob_stats *user) {
    struct cairn_blob_stats st, *out = &st;
    int rc;
    if (!b || !user) return cairn_err__set(CAIRN_INVALID, "cairn_blob_stats: NULL argument");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_stats");
    if ((rc = cairn_stats__check(user->size, sizeof st, "cairn_blob_stats")) != 0) return rc;
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&b->mu);
    if (b->failed) {
        rc = err_failed(b, "cairn_blob_stats");
        pthread_rwlock_unlock(&b->mu);
        return rc;
    }
    out->entries = b->nkeys;
    out->live_bytes = b->live_bytes;
    out->free_bytes = b->free_bytes;
    out->free_entries = b->free_entries;
    out->file_size = b->end;
    out->wal_bytes = b->wal ? cairn_wal__size(b->wal) : 0;
    out->next_key = b->next_key >= KEY_LIMIT ? UINT32_MAX : (uint32_t)b->next_key;
    out->in_txn = b->in_txn;
    pthread_rwlock_unlock(&b->mu);
    cairn_stats__copy(user, out, sizeof st);
    return 0;
}

/* ---- compaction --------------------------------------------------------------------------- */

typedef struct kent {
    uint32_t key;
    brec v;
} kent;

static int cmp_off(const void *a, const void *c) {
    uint64_t x = ((const kent *)a)->v.off, y = ((const kent *)c)->v.off;
    return x < y ? -1 : x > y;
}

static int compact_locked(cairn_blob *b) {
    cairn_file *nf = NULL;
    cairn_lock *nlock = NULL;
    char *tmp = NULL, *dir = NULL;
    kent *ents = NULL;
    uint8_t *wbuf = NULL, h[FHDR];
    size_t n = 0, i, wlen = 0, wcap = SCAN_CHUNK;
    uint64_t off = FHDR, woff = FHDR, live = b->live_bytes;
    cairn_u64map nidx;
    int rc;
    cairn_u64map__init(&nidx, sizeof(brec));
    if ((rc = checkpoint(b)) != 0) return rc;
    if (b->failed) return err_failed(b, "cairn_blob_compact");
    if (!(tmp = suffix(b->path, ".compact")) || !(dir = cairn_path__dir(b->path))) {
        rc = CAIRN_NOMEM;
        goto out;
    }
    if (!(ents = (kent *)malloc((b->nkeys ? (size_t)b->nkeys : 1) * sizeof *ents)) ||
        !(wbuf = (uint8_t *)malloc(wcap))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    {
        kiter ki;
        memset(&ki, 0, sizeof ki);
        while (n < b->nkeys && idx_next(b, &ki, &ents[n].key, &ents[n].v)) n++;
    }
    qsort(ents, n, sizeof *ents, cmp_off);
    if ((rc = cairn_io__open(&nf, tmp, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC)) != 0) goto out;
    /* the new file is locked before it takes the name: the name never points at an unlocked file */
    if ((rc = cairn_lock__acquire(&nlock, tmp, 0)) != 0) goto out;
    for (i = 0; i < n; i++) {
        void *p = NULL;
        uint64_t esz = EHDR + (uint64_t)ents[i].v.len;
        if ((rc = read_payload(b, ents[i].key, &ents[i].v, &p)) != 0) goto out;
        if (wlen + esz > wcap) {
            if (wlen && (rc = cairn_io__pwrite(nf, wbuf, wlen, woff)) != 0) {
                free(p);
                goto out;
            }
            woff += wlen;
            wlen = 0;
        }
        if (esz > wcap) {
            uint8_t eh[EHDR];
            put_entry_header(eh, ET_BLOB, esz, ents[i].key, p, ents[i].v.len);
            rc = cairn_io__pwrite(nf, eh, EHDR, woff);
            if (!rc && ents[i].v.len) rc = cairn_io__pwrite(nf, p, ents[i].v.len, woff + EHDR);
            woff += esz;
        } else {
            put_entry_header(wbuf + wlen, ET_BLOB, esz, ents[i].key, p, ents[i].v.len);
            if (ents[i].v.len) memcpy(wbuf + wlen + EHDR, p, ents[i].v.len);
            wlen += (size_t)esz;
        }
        free(p);
        if (rc) goto out;
        ents[i].v.off = off;
        ents[i].v.size = esz;
        ents[i].v.pend = 0;
        ents[i].v.flags = 0; /* written just now */
        off += esz;
    }
    if (wlen && (rc = cairn_io__pwrite(nf, wbuf, wlen, woff)) != 0) goto out;
    put_file_header(h, b->next_key, off, cairn_jnl__lsn(b->jnl), b->hdr_flags, b->hdr_salt, b->hdr_idx);
    if ((rc = cairn_io__pwrite(nf, h, FHDR, 0)) != 0) goto out;
    b->n_fsyncs++;
    if ((rc = cairn_io__fsync(nf)) != 0) goto out;
    /* the key index of the new file, made before the rename (nothing can fail after it) */
    if ((rc = cairn_u64map__reserve(&nidx, n)) != 0) goto out;
    for (i = 0; i < n; i++) (void)cairn_u64map__put(&nidx, ents[i].key, &ents[i].v); /* reserved */
    if ((rc = cairn_io__rename(tmp, b->path)) != 0) goto out;
    /* the new file is in place: from here on the handle must follow it */
    map_drop(b);
    cairn_io__close(b->f);
    b->f = nf;
    nf = NULL;
    cairn_jnl__bind(b->jnl, b->wal, b->f, b);
    cairn_lock__release(b->ilock);
    b->ilock = nlock;
    nlock = NULL;
    cairn_u64map__free(&b->fstart);
    cairn_u64map__free(&b->fend);
    cairn_treap__free(&b->fit);
    b->free_bytes = b->free_entries = 0;
    idx_clear(b); /* the base described the old file */
    b->idx = nidx;
    cairn_u64map__init(&nidx, sizeof(brec));
    b->nkeys = n;
    b->live_bytes = live;
    b->end = b->hdr_end = b->disk_end = b->alloc = off;
    b->hdr_next_key = b->disk_next_key = b->next_key;
    map_cover(b);
    if ((rc = cairn_io__sync_dir(dir)) != 0) fail_handle(b, rc);
out:
    if (nf) {
        cairn_io__close(nf);
        (void)cairn_io__unlink(tmp);
    }
    cairn_lock__release(nlock);
    cairn_u64map__free(&nidx);
    free(tmp);
    free(dir);
    free(ents);
    free(wbuf);
    return rc;
}

int cairn_blob_compact(cairn_blob *b) {
    int rc;
    if (!b) return cairn_err__set(CAIRN_INVALID, "cairn_blob_compact: NULL handle");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_compact");
    pthread_rwlock_wrlock(&b->mu);
    if ((rc = check_write(b, "cairn_blob_compact")) == 0) {
        if (b->in_txn)
            rc = cairn_err__set(CAIRN_TXN, "%s: compact inside a transaction", b->path);
        else
            rc = compact_locked(b);
    }
    pthread_rwlock_unlock(&b->mu);
    return bres(b, rc);
}

/* ---- transactions ------------------------------------------------------------------------- */

int cairn_blob_in_txn(cairn_blob *b) {
    int rc;
    if (!b) return cairn_err__set(CAIRN_INVALID, "cairn_blob_in_txn: NULL handle");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_in_txn");
    pthread_rwlock_rdlock(&b->mu); /* begin, commit and rollback change the flag under the write lock */
    rc = b->in_txn != 0;
    pthread_rwlock_unlock(&b->mu);
    return rc;
}

int cairn_blob_begin(cairn_blob *b) {
    int rc;
    if (!b) return cairn_err__set(CAIRN_INVALID, "cairn_blob_begin: NULL handle");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_begin");
    pthread_rwlock_wrlock(&b->mu);
    if ((rc = check_write(b, "cairn_blob_begin")) == 0) {
        if (b->in_txn) {
            rc = cairn_err__set(CAIRN_TXN, "%s: a transaction is already open", b->path);
        } else {
            b->in_txn = 1;
            b->nun = 0;
            b->txn_pmark = cairn_jnl__mark(b->jnl);
            b->txn_evmark = b->nev;
        }
    }
    pthread_rwlock_unlock(&b->mu);
    return bres(b, rc);
}

static int keep_keys(cairn_blob *b, uint64_t keep);

int cairn_blob_commit(cairn_blob *b) {
    fired fo;
    int rc;
    if (!b) return cairn_err__set(CAIRN_INVALID, "cairn_blob_commit: NULL handle");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_commit");
    memset(&fo, 0, sizeof fo);
    pthread_rwlock_wrlock(&b->mu);
    if ((rc = check_write(b, "cairn_blob_commit")) != 0) {
        /* a commit that fails ends the transaction (nothing of it is written) */
        if (b->in_txn) {
            rollback_to(b, 0, b->txn_pmark, b->txn_evmark);
            b->in_txn = 0;
        }
    } else if (!b->in_txn) {
        rc = cairn_err__set(CAIRN_TXN, "%s: commit without a transaction", b->path);
    } else {
        uint64_t keep = b->next_key;
        b->in_txn = 0;
        rc = commit_batch(b, 0, b->txn_pmark, b->txn_evmark, &fo);
        /* a failure before the commit point rolled everything back: the transaction is over,
         * as after a rollback (keys it handed out stay used) */
        if (rc && !b->failed) {
            cairn_err_saved saved;
            cairn_err__save(&saved);
            (void)keep_keys(b, keep);
            cairn_err__restore(&saved);
        }
    }
    pthread_rwlock_unlock(&b->mu);
    fire(&fo);
    if (!rc) bcount(&b->n_commits);
    return bres(b, rc);
}

/* Keys a transaction handed out (create, reserve) stay used after it is rolled back or its
 * commit failed: a caller may already hold such a key, and keys are never handed out twice, so
 * the counter keeps its high-water mark `keep` and that alone is committed (a header record in
 * the WAL; if that fails the counter still holds it in memory). Called with the write lock held. */
static int keep_keys(cairn_blob *b, uint64_t keep) {
    fired fo;
    int rc;
    if (keep <= b->next_key) return 0;
    b->next_key = keep; /* no undo record: this part of the transaction is kept */
    rc = commit_batch(b, b->nun, cairn_jnl__mark(b->jnl), b->nev, &fo);
    if (!rc) fire(&fo); /* no events were recorded; frees fo's buffers */
    return rc;
}

/* Roll the open transaction back, except for the keys it handed out (keep_keys). Ends the
 * transaction whatever happens. Called with the write lock held. */
static int abort_txn(cairn_blob *b) {
    uint64_t keep = b->next_key;
    rollback_to(b, 0, b->txn_pmark, b->txn_evmark);
    b->in_txn = 0;
    if (b->failed) return err_failed(b, "cairn_blob_rollback"); /* nothing more is written */
    return keep_keys(b, keep);
}

int cairn_blob_rollback(cairn_blob *b) {
    int rc = 0;
    if (!b) return cairn_err__set(CAIRN_INVALID, "cairn_blob_rollback: NULL handle");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_rollback");
    pthread_rwlock_wrlock(&b->mu);
    /* a rollback always ends the transaction; on a failed handle it still says CAIRN_FAILED */
    if (!b->in_txn) {
        rc = b->failed ? err_failed(b, "cairn_blob_rollback")
                       : cairn_err__set(CAIRN_TXN, "%s: rollback without a transaction", b->path);
    } else {
        rc = abort_txn(b);
    }
    pthread_rwlock_unlock(&b->mu);
    return bres(b, rc);
}

/* ---- events ------------------------------------------------------------------------------- */

int cairn_blob_subscribe(cairn_blob *b, cairn_blob_event_fn fn, void *ctx, uint64_t *id) {
    int rc = 0;
    if (!b || !fn) return cairn_err__set(CAIRN_INVALID, "cairn_blob_subscribe: NULL argument");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_subscribe");
    pthread_rwlock_wrlock(&b->mu);
    if (b->failed) {
        rc = err_failed(b, "cairn_blob_subscribe");
        goto out;
    }
    {
        sub *p = (sub *)cairn_arr__grow(b->subs, &b->capsubs, b->nsubs + 1, sizeof *p);
        if (!p) {
            rc = CAIRN_NOMEM;
            goto out;
        }
        b->subs = p;
    }
    b->subs[b->nsubs].id = b->next_sub++;
    b->subs[b->nsubs].fn = fn;
    b->subs[b->nsubs].ctx = ctx;
    if (id) *id = b->subs[b->nsubs].id;
    b->nsubs++;
out:
    pthread_rwlock_unlock(&b->mu);
    return rc;
}

int cairn_blob_unsubscribe(cairn_blob *b, uint64_t id) {
    size_t i;
    int rc = CAIRN_NOTFOUND;
    if (!b) return cairn_err__set(CAIRN_INVALID, "cairn_blob_unsubscribe: NULL handle");
    if (cairn_fork__foreign(b->gen)) return cairn_fork__err("cairn_blob_unsubscribe");
    pthread_rwlock_wrlock(&b->mu);
    if (b->failed) rc = err_failed(b, "cairn_blob_unsubscribe");
    for (i = 0; i < b->nsubs && !b->failed; i++) {
        if (b->subs[i].id == id) {
            memmove(&b->subs[i], &b->subs[i + 1], (b->nsubs - i - 1) * sizeof(sub));
            b->nsubs--;
            rc = 0;
            break;
        }
    }
    pthread_rwlock_unlock(&b->mu);
    return rc;
}

/* ---- check -------------------------------------------------------------------------------- */

int cairn_blob_check(const char *path) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    cairn_blob *b = NULL;
    int rc;
    if (!path) return cairn_err__set(CAIRN_INVALID, "cairn_blob_check: NULL path");
    o.read_only = 1;
    o.create = 0;
    /* every payload is read inside the validated window of the read-only open (see Readers) */
    if ((rc = blob_open(&b, path, &o, 1)) != 0) return rc;
    cairn_blob_close(b);
    return 0;
}

/* The path of the store (the `store` label of cairn_blob_metrics; metrics.h). */
const char *cairn_blob__path(const cairn_blob *b) { return b->path; }

/* The operation counters of the handle (cairn_blob_metrics; metrics.h). */
void cairn_blob__counters(cairn_blob *b, cairn_blob_counters *c) {
    int i;
    c->creates = __atomic_load_n(&b->n_creates, __ATOMIC_RELAXED);
    c->reads = __atomic_load_n(&b->n_reads, __ATOMIC_RELAXED);
    c->updates = __atomic_load_n(&b->n_updates, __ATOMIC_RELAXED);
    c->deletes = __atomic_load_n(&b->n_deletes, __ATOMIC_RELAXED);
    c->commits = __atomic_load_n(&b->n_commits, __ATOMIC_RELAXED);
    for (i = 0; i < 32; i++) c->errors[i] = __atomic_load_n(&b->n_errors[i], __ATOMIC_RELAXED);
    pthread_rwlock_rdlock(&b->mu); /* the journal's counters change under the write lock */
    c->written_bytes = cairn_jnl__logged(b->jnl);
    c->fsyncs = b->n_fsyncs + cairn_jnl__fsyncs(b->jnl) + (b->wal ? cairn_wal__fsyncs(b->wal) : 0);
    pthread_rwlock_unlock(&b->mu);
}
#include "blob_frozen.inc" /* cairn_blob__frozen: snapshots and backups (blob_snap.c) */
