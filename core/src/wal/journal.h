/*
 * journal.h - journaled writes to one data file over the shared write-ahead log (internal; not
 * installed).
 *
 * An engine that changes its file in place (blob store, columnar engine) describes each change
 * as physical records, "write these bytes at this offset" and "cut the file to this size". The
 * journal queues them as pending records of the current operation, logs them as one WAL
 * transaction, writes them to the data file once the log is durable (apply), serves reads of
 * bytes that are newer in the log than in the file, and empties the log at a checkpoint. It knows
 * only offsets and bytes of one data file: headers, indexes and free lists are the engine's.
 *
 *   engine op -- write/truncate* --> pending (uncommitted) --undo_to(mark)--> dropped
 *                                        |
 *                                     commit (WAL append + commit) --> sync (per sync mode)
 *                                        |
 *                                     apply: pending bytes -> data file, in order; then the
 *                                        |   engine's header is stamped with the LSN of the
 *                                        |   last transaction applied whole (stamp callback)
 *                                     should_checkpoint? (log past ckpt_bytes)
 *                                        |
 *                                     checkpoint: sync log, apply, settle (engine), fsync data
 *                                                 file, reset log
 *
 *   open (writer): recover (plan from the file's LSN, replay into the overlay) --> engine
 *                  validates through read() --> materialize (overlay -> data file)
 *   open (reader): recover into the overlay; read() serves file bytes under the overlay
 *
 * Record format (in the log; unchanged from the blob store's format version 2):
 *   type 1 WRITE    payload = u64 offset (LE), then the bytes to write there
 *   type 2 TRUNCATE payload = u64 new size (LE)
 *
 * The engine header: bytes [0, meta_len) of the data file belong to the engine. A WRITE record of
 * exactly that range is the engine's header as logged (its LSN field unset): apply does not write
 * it but hands it to ops->meta (redo 0), and stamps the header (ops->stamp) after the records it
 * covers; materialize hands it to ops->meta with redo 1 (the engine writes it, keeping the file's
 * LSN). So a header never claims a transaction whose writes precede it in the file.
 *
 * Ids and marks: every pending record has an id (never 0, increasing for the journal's life);
 * cairn_jnl__mark is the id the next record will get. undo_to(mark) drops the records from the
 * mark on (uncommitted ones only: a failed operation, a rollback). Marks stay valid while later
 * records are applied and the queue is recycled.
 *
 * A truncate is not done by apply (the space stays allocated for later writes: applying and
 * redoing never need new space); the engine cuts its file in its settle callback.
 *
 * Thread-safety: none; the engine serialises every call (its write lock; cairn_jnl__read under
 * its read lock is safe against other reads). The log and the data file are borrowed
 * (cairn_jnl__bind), never closed by the journal.
 */
#ifndef CAIRN_JOURNAL_H
#define CAIRN_JOURNAL_H

#include "util.h"
#include "wal/wal.h"

#include <stddef.h>
#include <stdint.h>

#define CAIRN_JNL_REC_WRITE 1u
#define CAIRN_JNL_REC_TRUNC 2u

typedef struct cairn_jnl cairn_jnl;

typedef struct cairn_jnl_ops {
    uint64_t meta_len;   /* bytes [0, meta_len) are the engine's header (0: none) */
    uint64_t ckpt_bytes; /* should_checkpoint once the log is larger (0: never) */
    /* A logged header record ([0, meta_len)). redo 0 (apply): record its state, do not write
     * (the stamp comes after the transaction's other writes); redo 1 (materialize): write it to
     * the data file with the file's current LSN (cairn_jnl__lsn). May be NULL when meta_len is 0. */
    int (*meta)(void *ctx, const uint8_t *bytes, size_t len, int redo);
    /* Write the engine header stamped with `lsn` (every transaction up to it is in the file).
     * On success the journal's LSN becomes lsn. */
    int (*stamp)(void *ctx, uint64_t lsn);
    /* Checkpoint, after everything is applied and before the data file is fsynced and the log
     * reset: make the file's LSN cover every number the log used, cut the file. May be NULL. */
    int (*settle)(void *ctx);
} cairn_jnl_ops;

/* A journal with no log or file yet (cairn_jnl__bind). `ops` and `log_name` (the log's name
 * in messages; NULL: a generic one) are copied. */
int cairn_jnl__open(cairn_jnl **out, const cairn_jnl_ops *ops, void *ctx, const char *log_name);
/* Free the journal and what it holds (pending records, overlay); closes neither file. NULL ok. */
void cairn_jnl__close(cairn_jnl *j);
/* The log and data file it works on (either may be NULL: not used then), and the callbacks'
 * ctx. Call again when the engine replaces one (e.g. compaction renames a new file in). */
void cairn_jnl__bind(cairn_jnl *j, cairn_wal *w, cairn_file *f, void *ctx);

/* A shared writable mapping of the data file's first len bytes, every block of it allocated
 * (cairn_io__map_rw after cairn_io__reserve), or NULL: apply then stores the records it covers
 * through the mapping (cairn_io__mwrite) instead of calling pwrite. Borrowed; call again
 * (or with NULL) before the engine unmaps it or cuts the file below len. */
void cairn_jnl__set_map(cairn_jnl *j, void *map, uint64_t len);
/* Write to the data file as apply does (through the mapping when it covers the range). */
int cairn_jnl__pwrite(cairn_jnl *j, const void *buf, size_t len, uint64_t off);

/* ---- pending records of the current operation ---- */

/* Queue "write p1 then p2 (n1 + n2 bytes) at off" (the bytes are copied). *id (may be NULL)
 * gets the record's id, for cairn_jnl__pending. Errors: NOMEM (nothing queued). */
int cairn_jnl__write(cairn_jnl *j, uint64_t off, const void *p1, size_t n1, const void *p2, size_t n2,
                     uint64_t *id);
/* As cairn_jnl__write, for a record the caller fills in place: returns its len bytes (to fill
 * before the next journal call), or NULL (CAIRN_NOMEM, nothing queued). */
uint8_t *cairn_jnl__write_buf(cairn_jnl *j, uint64_t off, size_t len, uint64_t *id);
/* As cairn_jnl__write, "write head then ext at off", copying head only: ext is borrowed and must
 * stay valid and unchanged until the record is applied or cairn_jnl__own has run (the engine
 * calls it before returning to its caller). A large value thus goes to the log (one
 * cairn_wal__append2) and, once durable, to the data file without a copy of its own. */
int cairn_jnl__write_ext(cairn_jnl *j, uint64_t off, const void *head, size_t hlen, const void *ext, size_t elen,
                         uint64_t *id);
/* Copy the borrowed bytes of every record still pending into the journal's own memory. Errors:
 * NOMEM (those not copied stay borrowed: the caller must not return to its caller). */
int cairn_jnl__own(cairn_jnl *j);
/* Queue "the file ends at size". */
int cairn_jnl__truncate(cairn_jnl *j, uint64_t size);
/* The id the next queued record gets: a savepoint for cairn_jnl__undo_to / cairn_jnl__commit. */
uint64_t cairn_jnl__mark(const cairn_jnl *j);
/* Drop the uncommitted records queued since mark. */
void cairn_jnl__undo_to(cairn_jnl *j, uint64_t mark);
/* The bytes of record `id` while it is not yet in the data file (NULL: id 0, or applied: read
 * the file). *len gets their length. */
const uint8_t *cairn_jnl__pending(const cairn_jnl *j, uint64_t id, size_t *len);
/* The borrowed part of record `id` (cairn_jnl__write_ext) while pending and not owned yet, else
 * NULL (its bytes are all in cairn_jnl__pending's). *len gets its length. */
const uint8_t *cairn_jnl__pending_ext(const cairn_jnl *j, uint64_t id, size_t *len);
/* Records queued and not yet written to the data file (committed or not). */
size_t cairn_jnl__unapplied(const cairn_jnl *j);

/* ---- commit, apply, checkpoint ---- */

/* Log the records queued since mark as one WAL transaction and commit it (no fsync). `reserved`:
 * the transaction frees space and may use the log's reserve (cairn_wal__begin_reserved).
 * *seq gets the commit's sequence number (0: nothing was queued, nothing logged). On error
 * nothing is committed and the records stay queued (undo_to them). */
int cairn_jnl__commit(cairn_jnl *j, uint64_t mark, int reserved, uint64_t *seq);
/* Make the log durable up to seq (0: all): cairn_wal__sync. A failure is fatal for the log. */
int cairn_jnl__sync(cairn_jnl *j, uint64_t seq);
/* Write committed, durable records to the data file in order, then stamp the LSN of the last
 * transaction applied whole. Idempotent; a failure leaves the rest pending (still served by
 * cairn_jnl__pending, still in the log). */
int cairn_jnl__apply(cairn_jnl *j);
/* The log is past ops.ckpt_bytes. */
int cairn_jnl__should_checkpoint(const cairn_jnl *j);
/* Sync the log, apply; unless records stay pending or `keep` (an open transaction of the
 * engine): settle, fsync the data file, reset the log (*done = 1; may be NULL). A failed log
 * sync, data fsync or reset is fatal: cairn_jnl__fatal says so. */
int cairn_jnl__checkpoint(cairn_jnl *j, int keep, int *done);
/* Non-zero (the code) once a checkpoint failed in a way the engine must treat as fatal. */
int cairn_jnl__fatal(const cairn_jnl *j);
/* Bytes of records (offset or size included) committed to the log, and fsyncs of the data file
 * by checkpoints, since the journal was opened (counters for the engine's metrics). */
uint64_t cairn_jnl__logged(const cairn_jnl *j);
uint64_t cairn_jnl__fsyncs(const cairn_jnl *j);
/* The LSN stamped in the data file (as last written), and set it (at open, from its header). */
uint64_t cairn_jnl__lsn(const cairn_jnl *j);
void cairn_jnl__set_lsn(cairn_jnl *j, uint64_t lsn);

/* ---- open: recovery and the overlay ---- */

/* Plan recovery from the data file's LSN (`known` 0: no usable LSN, redo the whole log) and
 * the log's info at open, and load every committed record to redo into the overlay:
 *   - no committed transaction, or the log's newest commit below lsn (the file is ahead): none;
 *   - otherwise all of them, in log order, unless the log's first record is above lsn + 1 (the
 *     changes in between are in neither file: CAIRN_CORRUPT naming data_path and the log).
 * A record of another type or shape is CAIRN_CORRUPT. *redo (may be NULL) is 1 when loaded. */
int cairn_jnl__recover(cairn_jnl *j, const cairn_wal_info *wi, int known, uint64_t lsn, const char *data_path,
                       int *redo);
/* Read [off, off+len) of the data file as recovery would leave it: the file's bytes (zeros past
 * its end) under the overlay. */
int cairn_jnl__read(cairn_jnl *j, void *buf, size_t len, uint64_t off);
/* The data file's size once the overlay is applied, from its size now. */
uint64_t cairn_jnl__overlay_size(const cairn_jnl *j, uint64_t size);
/* Write the overlay to the data file (in log order; header records through ops->meta, redo 1)
 * and forget it. */
int cairn_jnl__materialize(cairn_jnl *j);
/* Forget the overlay without writing it. */
void cairn_jnl__drop_overlay(cairn_jnl *j);

#endif /* CAIRN_JOURNAL_H */
