/*
 * cairn/kv.h - the Bitcask-style log key-value store (core/src/log).
 * Part of the public C API; include <cairn.h> (the umbrella over every part).
 */
#ifndef CAIRN_KV_H
#define CAIRN_KV_H

#include "cairn/common.h"

#ifdef __cplusplus
extern "C" {
#endif


/* ------------------------------------------------------------------------------------------
 * KV: the Bitcask-style log key-value store (core/src/log)
 * ---------------------------------------------------------------------------------------- */
typedef struct cairn_kv cairn_kv;
typedef struct cairn_kv_iter cairn_kv_iter;

#define CAIRN_KV_OPTIONS_VERSION 1
/* Record offsets are 44 bits (16 TiB per data file); a file may pass max_file_size by one record
 * (up to 1 GiB + a key), so the option stays 2 GiB below that. */
#define CAIRN_KV_MAX_FILE_SIZE_LIMIT ((UINT64_C(1) << 44) - (UINT64_C(1) << 31))
typedef struct cairn_kv_options {
    unsigned version;          /* CAIRN_KV_OPTIONS_VERSION */
    int create;                /* create the directory if missing (default 1) */
    int read_only;             /* open without the writer lock; writes fail CAIRN_READONLY */
    int sync;                  /* cairn_sync_mode (default CAIRN_SYNC_COMMIT) */
    uint64_t max_file_size;    /* rotate the active data file past this many bytes (0: 64 MiB;
                                  at most CAIRN_KV_MAX_FILE_SIZE_LIMIT, else CAIRN_INVALID) */
    unsigned lock_timeout_ms;  /* 0: a second writer gets CAIRN_LOCKED at once;
                                  >0: wait up to this long, then CAIRN_BUSY */
} cairn_kv_options;
#define CAIRN_KV_OPTIONS_INIT { CAIRN_KV_OPTIONS_VERSION, 1, 0, CAIRN_SYNC_COMMIT, 0, 0 }

/* Statistics (like libc's struct stat / stat(): the struct tag shares the function's name).
 * `size` first, as in every stats struct: the caller sets it to its sizeof (CAIRN_KV_STATS_INIT
 * does); the library fills only the fields that fit and sets it to the bytes it filled, so a
 * binding built against an older, shorter struct is never written past. 0 means this header's
 * struct. */
struct cairn_kv_stats {
    uint32_t size;           /* in: sizeof the caller's struct (0: this header's); out: bytes filled */
    uint64_t keys;           /* live keys */
    uint64_t data_files;     /* data files on disk */
    uint64_t disk_bytes;     /* bytes of every file of the store's directory (data, hint, KEYDIR,
                                LOCK, ...; not the snapshots/ subdirectory), the same whichever
                                way the handle was opened; a data file counts its logical size */
    uint64_t live_bytes;     /* bytes of the records of live keys (an expired key is not live) */
    uint64_t dead_bytes;     /* bytes cairn_kv_compact() would free: overwritten and deleted
                                records, tombstones, expired keys' records */
    uint64_t keydir_bytes;   /* memory allocated for the in-memory keydir: its hash table, entry
                                arena (grown on demand) and bookkeeping; for a keydir read from
                                a KEYDIR snapshot and not changed yet, the bytes mapped */
    uint64_t seq;            /* last sequence number written */
    uint64_t compactions;    /* compactions run by this handle (one that had nothing to
                                reclaim does not count) */
    int in_txn;              /* 1 while a transaction is open */
};
#define CAIRN_KV_STATS_INIT { sizeof(struct cairn_kv_stats), 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/* Open (or create) the KV store in directory `path`. *out is owned by the caller:
 * close it with cairn_kv_close. Errors: CAIRN_INVALID (NULL), CAIRN_PATH (missing and not
 * create, or not a directory), CAIRN_PERM, CAIRN_LOCKED / CAIRN_BUSY (another writer),
 * CAIRN_CORRUPT (a bad record in a sealed file, a sealed file cut short, or a bad record of the
 * active file that valid records follow; the message names file and offset; nothing is
 * truncated then), CAIRN_VERSION, CAIRN_IO. Only a torn last append of the active file is
 * dropped silently. A read-only open may run beside a live writer in another process: it loads
 * again while a rotation or compaction changes the files under it, and gives CAIRN_BUSY only if
 * they keep changing.
 * Fork: a handle belongs to the process that opened it. In a child of fork() every call on an
 * inherited handle (and its iterators) is CAIRN_FORKED; cairn_kv_close there only frees memory
 * and descriptors: it writes nothing and keeps the parent's writer lock. Open a new handle in the
 * child instead (a writer open gets CAIRN_LOCKED while the parent holds the store).
 * Mapped files: data files are memory-mapped. Never truncate or rewrite the files of an open
 * store: a data file cut by another program while it is mapped makes the next read of the lost
 * pages raise SIGBUS (as with LMDB). A cut made before open, or before a file is mapped, is
 * detected (CAIRN_CORRUPT, or the file is read without a mapping). */
CAIRN_API int cairn_kv_open(cairn_kv **out, const char *path, const cairn_kv_options *opts);
/* Close: an open transaction is rolled back, pending writes are flushed and synced
 * (best effort; call cairn_kv_sync first to see errors). Accepts NULL. */
CAIRN_API void cairn_kv_close(cairn_kv *kv);

/* Put `key` (1..CAIRN_KEY_MAX bytes) -> value (0..CAIRN_VALUE_MAX bytes) of `kind`.
 * Outside a transaction a put is its own transaction (durable per the sync mode). */
CAIRN_API int cairn_kv_put(cairn_kv *kv, const void *key, size_t klen,
                           const void *val, size_t vlen, int kind);
/* As cairn_kv_put, with an absolute expiry time in Unix milliseconds (0: never).
 * An expired key reads as absent; an expiry in the past stores nothing readable. */
CAIRN_API int cairn_kv_put_ex(cairn_kv *kv, const void *key, size_t klen,
                              const void *val, size_t vlen, int kind, int64_t expire_at_ms);
/* Get: *val is owned by the caller (free with cairn_free; NULL for an empty value may not be
 * assumed: it is a valid pointer), *vlen its length, *kind its kind (kind may be NULL).
 * CAIRN_NOTFOUND if absent or expired. */
CAIRN_API int cairn_kv_get(cairn_kv *kv, const void *key, size_t klen,
                           void **val, size_t *vlen, int *kind);
/* Get into a caller buffer: copies min(cap, size) bytes, *vlen = full size.
 * CAIRN_RANGE if cap < size (nothing else changes; retry with a larger buffer). */
CAIRN_API int cairn_kv_get_into(cairn_kv *kv, const void *key, size_t klen,
                                void *buf, size_t cap, size_t *vlen, int *kind);
/* JSON merge: `changes` (len bytes) must be a JSON object; each of its top-level members replaces
 * the member of the same name in the stored value, or is added after the existing ones (a nested
 * object in `changes` replaces the old one whole: the merge is one level deep). The stored value
 * must be of kind CAIRN_KIND_JSON and hold a JSON object; the result is stored as
 * CAIRN_KIND_JSON with the key's expiry unchanged (each member's value keeps its exact text; the
 * whitespace between top-level members is dropped).
 * Atomic with respect to the other writers of the handle: nothing is written between the read
 * and the write. Inside an open transaction it reads and writes through the transaction (a
 * rollback undoes it). Errors: CAIRN_NOTFOUND if the key is absent or expired; CAIRN_TYPE if the
 * stored value is not of kind JSON or not a JSON object, or `changes` is not a JSON object
 * (CAIRN_TYPE before CAIRN_NOTFOUND: bad changes are CAIRN_TYPE for a missing key too);
 * CAIRN_TOOBIG if the result passes CAIRN_VALUE_MAX; CAIRN_INVALID (NULL arguments);
 * CAIRN_READONLY; CAIRN_CORRUPT if the stored record fails its checks. The bindings' `update`
 * calls this. */
CAIRN_API int cairn_kv_update_json(cairn_kv *kv, const void *key, size_t klen,
                                   const void *changes, size_t len);
/* Expiry of a live key in Unix ms (0: never). CAIRN_NOTFOUND if absent. */
CAIRN_API int cairn_kv_expiry(cairn_kv *kv, const void *key, size_t klen, int64_t *expire_at_ms);
/* Delete: CAIRN_NOTFOUND if absent (nothing is written then). */
CAIRN_API int cairn_kv_delete(cairn_kv *kv, const void *key, size_t klen);
/* 1 if present, 0 if absent, <0 on error. */
CAIRN_API int cairn_kv_exists(cairn_kv *kv, const void *key, size_t klen);
/* Number of live keys (inside a transaction: as the transaction sees it). */
CAIRN_API int cairn_kv_count(cairn_kv *kv, uint64_t *out);

/* Key cursor: a snapshot of the live keys starting with `prefix` (plen may be 0) taken at
 * open, yielded in ascending bytewise order; later writes do not disturb it.
 * *out is owned by the caller: free with cairn_kv_iter_free. */
CAIRN_API int cairn_kv_iter_open(cairn_kv_iter **out, cairn_kv *kv, const void *prefix, size_t plen);
/* Next key: 0 with *key and *klen set (borrowed: valid until the next call on this iterator),
 * CAIRN_ITEROVER at the end. */
CAIRN_API int cairn_kv_iter_next(cairn_kv_iter *it, const void **key, size_t *klen);
CAIRN_API void cairn_kv_iter_free(cairn_kv_iter *it);

/* Transactions: begin / commit / rollback. The writes of a transaction become durable together
 * or not at all (recovery applies a batch only if its commit record validates). Reads through the
 * handle see the open transaction's writes. Nested begin, or commit/rollback without begin,
 * is CAIRN_TXN. */
CAIRN_API int cairn_kv_begin(cairn_kv *kv);
CAIRN_API int cairn_kv_commit(cairn_kv *kv);
CAIRN_API int cairn_kv_rollback(cairn_kv *kv);
/* 1 inside a transaction, 0 outside, <0 on error (CAIRN_INVALID for NULL, CAIRN_FORKED in a
 * child). A flag read under the handle's lock: no stats, no I/O; answers on a failed handle. */
CAIRN_API int cairn_kv_in_txn(cairn_kv *kv);

/* Flush and fsync everything written so far. */
CAIRN_API int cairn_kv_sync(cairn_kv *kv);
/* Merge: rewrite live records into new files and drop the rest. Crash-safe, idempotent,
 * never brings a deleted or expired key back. CAIRN_TXN inside a transaction. With nothing to
 * reclaim (dead_bytes 0 and no expired key) it returns 0 and changes nothing. */
CAIRN_API int cairn_kv_compact(cairn_kv *kv);
CAIRN_API int cairn_kv_stats(cairn_kv *kv, struct cairn_kv_stats *out);
/* The statistics of cairn_kv_stats in the Prometheus text exposition format (version 0.0.4):
 * per field a `# HELP` and a `# TYPE` line, then `cairn_kv_<field>{store="<path>"} <value>`
 * (sizes end in _bytes, per-handle counts in _total; the path as opened, with backslash, double
 * quote and line feed escaped). After them, the handle's operation counters since open:
 * cairn_kv_{puts,gets,deletes,commits,written_bytes,fsyncs}_total, and one
 * cairn_kv_errors_<code>_total per error code its calls returned (e.g. errors_notfound_total).
 * *out is caller-owned (cairn_free). The same errors as cairn_kv_stats; CAIRN_INVALID when out
 * is NULL. */
CAIRN_API int cairn_kv_metrics(cairn_kv *kv, char **out);
/* Verify every record of every file of the store at `path` (CRC, framing) without opening it
 * for writing. 0 if clean; CAIRN_CORRUPT with file and offset in the message otherwise. Same
 * rules as open: a torn last append of the active file (which the next writer drops) is not
 * corruption, a bad record that valid records follow is. Safe beside a live writer (see
 * cairn_kv_open). */
CAIRN_API int cairn_kv_check(const char *path);

/* Snapshots (every engine has the same five functions; the mechanism is in docs/snapshots.md).
 * A snapshot is a named, read-only, point-in-time copy of the store kept in <dir>/snapshots/:
 * the sealed data files are shared with the store (hard links), so it costs milliseconds and
 * almost no disk. Writes after it never reach it, and it never changes the live store.
 * snapshot: name NULL picks a unique one; *out (may be NULL) gets it (caller-owned,
 * cairn_free). EXISTS when the name is taken, INVALID for a name outside [A-Za-z0-9._-]{1,128},
 * TXN inside a transaction, READONLY on a read-only handle.
 * snapshots: a JSON array of {"name", "time" (Unix ms), "bytes"}, oldest first (caller-owned).
 * open_snapshot: a read-only handle on the snapshot (*out owned by the caller; independent of kv).
 * drop_snapshot: NOTFOUND when absent.
 * backup: a consistent copy of the store into `dest` (missing or an empty directory) while
 * writers go on; every file is copied (a backup shares nothing with the store); it opens as a
 * normal store. */
CAIRN_API int cairn_kv_snapshot(cairn_kv *kv, const char *name, char **out);
CAIRN_API int cairn_kv_snapshots(cairn_kv *kv, char **out);
CAIRN_API int cairn_kv_open_snapshot(cairn_kv **out, cairn_kv *kv, const char *name);
CAIRN_API int cairn_kv_drop_snapshot(cairn_kv *kv, const char *name);
CAIRN_API int cairn_kv_backup(cairn_kv *kv, const char *dest);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_KV_H */
