/*
 * wal.h - the shared write-ahead log (internal; not installed).
 *
 * A redo log of opaque typed records grouped into transactions. An engine that changes a file
 * in place (blob store, columnar engine) writes the change here first, commits, makes the log
 * durable, and only then touches its own file. After a crash, cairn_wal__replay hands it back
 * every record of every committed transaction, in log order; records of transactions without a
 * valid commit record are never handed out. Records should be idempotent (e.g. "write these
 * bytes at this offset"), because a replay may be repeated after a crash during recovery.
 *
 *   open ---> replay (apply committed records) ---> engine checkpoints ---> reset (truncate)
 *              |
 *   begin -> append* -> commit -> sync(seq) -> engine applies -> ... -> checkpoint -> reset
 *
 * Sequence numbers (LSNs) keep increasing across resets and sessions: the engine stamps the LSN
 * of the last transaction it applied into its own file and seeds the log with it at open
 * (cairn_wal__advance). At recovery it compares that LSN with the log (info.first_seq,
 * info.last_commit) and replays only when the log is ahead (cairn_wal__replay_after), so a log
 * that lost its tail never moves the engine's file backwards.
 *
 * The on-disk format is specified by the FORMAT comment at the top of wal.c (docs/format-wal.md).
 *
 * Thread-safety: every function may be called from any thread; the log has its own mutex.
 * Group commit: cairn_wal__sync from several threads is satisfied by as few fsyncs as possible:
 * one thread (the leader) fsyncs for everything written so far while the others wait for it.
 */
#ifndef CAIRN_WAL_H
#define CAIRN_WAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct cairn_wal cairn_wal;

#define CAIRN_WAL_HEADER_SIZE 32u
#define CAIRN_WAL_RECORD_HEADER_SIZE 32u
/* Largest payload of one record. */
#define CAIRN_WAL_PAYLOAD_MAX ((uint32_t)0x7fffffffu)

#define CAIRN_WAL_RDONLY 0x1    /* never write: no create, a torn tail is ignored, not truncated */
#define CAIRN_WAL_CREATE 0x2    /* create the log (with a fresh header) if missing */
#define CAIRN_WAL_KEEP_TAIL 0x4 /* leave a torn tail (or preallocated space) in place: appends
                                   overwrite it, reset cuts it; the open writes nothing */

/* Callback of cairn_wal__replay: one record of a committed transaction. `type` is the engine's
 * record type (1..255), `payload` is borrowed for the duration of the call. A non-zero return
 * stops the replay and is returned by it. */
typedef int (*cairn_wal_apply_fn)(void *ctx, uint64_t txid, unsigned type, const void *payload,
                                  size_t len, uint64_t seq);

typedef struct cairn_wal_info {
    uint64_t records;     /* valid records found at open */
    uint64_t committed;   /* transactions with a valid commit record */
    uint64_t torn_bytes;  /* bytes of torn tail dropped at open (0 if none) */
    uint64_t end;         /* end of the valid log (file offset) */
    uint64_t first_seq;   /* seq of the first valid record (0: none) */
    uint64_t last_seq;    /* seq of the last valid record (0: none) */
    uint64_t last_commit; /* seq of the last commit record, the log's newest LSN (0: none) */
    uint32_t salt;        /* the log file's salt (random at creation, kept by resets) */
    int created;          /* the open created (or re-initialised a cut-short) log file */
    uint64_t image_size;  /* bytes of the file as read by the open (torn tail included) */
    uint32_t image_crc;   /* CRC32C of those bytes: a reader compares it with a later read of
                             the file to know that no writer appended or reset in between */
} cairn_wal_info;

/* Open the log at `path` and validate it: a torn tail (an invalid record that no valid record
 * follows) is dropped (truncated and synced unless RDONLY); an invalid record followed by a
 * valid one is CAIRN_CORRUPT with the file and offset in the message. A missing file is
 * CAIRN_PATH unless CREATE. *out is owned by the caller (cairn_wal__close). info may be NULL. */
int cairn_wal__open(cairn_wal **out, const char *path, int flags, cairn_wal_info *info);
/* Close. Writes nothing (buffered, uncommitted records are dropped). Accepts NULL. */
void cairn_wal__close(cairn_wal *w);

/* Apply every record of every committed transaction, in log order, through fn. Only records
 * found valid at open (or appended since) are visited. Does not change the log: call it as often
 * as needed (idempotent as long as fn is). */
int cairn_wal__replay(cairn_wal *w, cairn_wal_apply_fn fn, void *ctx);
/* As cairn_wal__replay, only transactions whose commit record's seq (LSN) is above `after`. */
int cairn_wal__replay_after(cairn_wal *w, uint64_t after, cairn_wal_apply_fn fn, void *ctx);

/* A new transaction id (never 0, increasing). */
uint64_t cairn_wal__begin(cairn_wal *w);
/* As cairn_wal__begin, for a transaction that frees space (a delete): its records may use the
 * space reserve (cairn_wal__set_reserve), so it can be logged on a full disk. One at a time. */
uint64_t cairn_wal__begin_reserved(cairn_wal *w);
/* Append one record (type 1..255) to transaction txid. Records are buffered and written at the
 * latest by the commit; a large payload may be written at once. After an error the transaction
 * must be abandoned (its records are never committed). Errors: INVALID, TOOBIG, IO, NOSPC,
 * FAILED (after a failed fsync the log is dead). */
int cairn_wal__append(cairn_wal *w, uint64_t txid, unsigned type, const void *payload, size_t len);
/* As cairn_wal__append, with the payload in two parts (a small header and the data), so an
 * engine need not copy a large value to prefix it. */
int cairn_wal__append2(cairn_wal *w, uint64_t txid, unsigned type, const void *p1, size_t n1,
                       const void *p2, size_t n2);
/* Write the commit record of txid (and everything buffered) to the file; does NOT fsync.
 * *seq (may be NULL) receives the commit record's sequence number, to pass to cairn_wal__sync.
 * On error nothing of this transaction counts as committed. */
int cairn_wal__commit(cairn_wal *w, uint64_t txid, uint64_t *seq);
/* Make every record up to sequence number `seq` durable (0: everything written so far).
 * Group commit: concurrent callers share fsyncs. A failed fsync is fatal: this and every later
 * call returns CAIRN_FAILED. */
int cairn_wal__sync(cairn_wal *w, uint64_t seq);
/* Checkpoint done by the engine (its file holds everything up to cairn_wal__last_seq and is
 * synced): drop every record. Truncates the log to its header and fsyncs it (the numbering goes
 * on). Must not race with appends of open transactions (the engine serialises this). */
int cairn_wal__reset(cairn_wal *w);
/* The engine's file is at LSN `seq` (e.g. the log was lost or recreated): number every later
 * record above it. Never lowers the numbering. */
void cairn_wal__advance(cairn_wal *w, uint64_t seq);
/* Keep `bytes` of disk space preallocated past what ordinary writes may use (0: none, the
 * default). From now on a write that cannot allocate its bytes plus the reserve fails with
 * CAIRN_NOSPC before anything is written, while a transaction from cairn_wal__begin_reserved
 * may use the reserve. Re-made after every reset (best effort). Errors: NOSPC (the reserve is
 * still set and retried by later writes), IO. */
int cairn_wal__set_reserve(cairn_wal *w, uint64_t bytes);
/* The log file's salt. */
uint32_t cairn_wal__salt(cairn_wal *w);
/* fsyncs of the log file this handle did (group commit: one per leader), since open. */
uint64_t cairn_wal__fsyncs(cairn_wal *w);

/* Bytes in the log (file plus buffered). */
uint64_t cairn_wal__size(cairn_wal *w);
/* Highest sequence number written / known durable. */
uint64_t cairn_wal__last_seq(cairn_wal *w);
uint64_t cairn_wal__durable_seq(cairn_wal *w);
/* Non-zero once the log failed (the code). */
int cairn_wal__failed(cairn_wal *w);

/* Verify the log at `path` read-only: 0 if every record is valid (a torn tail is reported in
 * info->torn_bytes but is not an error), CAIRN_CORRUPT otherwise. A missing file is 0. */
int cairn_wal__check(const char *path, cairn_wal_info *info);

#endif /* CAIRN_WAL_H */
