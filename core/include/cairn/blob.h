/*
 * cairn/blob.h - the blob store (core/src/blob).
 * Part of the public C API; include <cairn.h> (the umbrella over every part).
 */
#ifndef CAIRN_BLOB_H
#define CAIRN_BLOB_H

#include "cairn/common.h"

#ifdef __cplusplus
extern "C" {
#endif


/* ------------------------------------------------------------------------------------------
 * Blob store: uint32 keys -> byte arrays in one file, free-space reuse (core/src/blob)
 * ---------------------------------------------------------------------------------------- */
typedef struct cairn_blob cairn_blob;
typedef struct cairn_blob_iter cairn_blob_iter;

#define CAIRN_BLOB_OPTIONS_VERSION 1
typedef struct cairn_blob_options {
    unsigned version;         /* CAIRN_BLOB_OPTIONS_VERSION */
    int create;               /* create the file if missing (default 1) */
    int read_only;            /* writes fail CAIRN_READONLY */
    int sync;                 /* cairn_sync_mode (default CAIRN_SYNC_COMMIT) */
    unsigned lock_timeout_ms; /* as for the KV */
} cairn_blob_options;
#define CAIRN_BLOB_OPTIONS_INIT { CAIRN_BLOB_OPTIONS_VERSION, 1, 0, CAIRN_SYNC_COMMIT, 0 }

/* `size` first: see struct cairn_kv_stats. */
struct cairn_blob_stats {
    uint32_t size;         /* in: sizeof the caller's struct (0: this header's); out: bytes filled */
    uint64_t entries;      /* live blobs */
    uint64_t live_bytes;   /* payload bytes of live blobs */
    uint64_t free_bytes;   /* bytes in free entries (headers included) */
    uint64_t free_entries; /* number of free entries */
    uint64_t file_size;    /* size of the data file */
    uint64_t wal_bytes;    /* bytes of the write-ahead log in use: its 32-byte header and the
                              records not yet checkpointed (32 right after a checkpoint). Not
                              the size of the FILE-wal file, which keeps 64 KiB more allocated
                              so that deletes succeed on a full disk */
    uint32_t next_key;     /* the key the next create would get (4294967295 also once every auto
                              key is used: create then fails CAIRN_RANGE) */
    int in_txn;
};
#define CAIRN_BLOB_STATS_INIT { sizeof(struct cairn_blob_stats), 0, 0, 0, 0, 0, 0, 0, 0 }

typedef enum cairn_blob_event {
    CAIRN_BLOB_CREATED = 1,
    CAIRN_BLOB_UPDATED = 2,
    CAIRN_BLOB_DELETED = 3
} cairn_blob_event;

/* Event callback: fired once per successful operation, after it is durable per the sync
 * policy (inside a transaction: at commit, in order), never for a failed or rolled-back one.
 * Called on the thread that made the change, with no internal lock held. For CREATED old_size
 * is 0; for DELETED new_size is 0. */
typedef void (*cairn_blob_event_fn)(void *ctx, int event, uint32_t key,
                                    uint64_t old_size, uint64_t new_size);

/* Open (or create) the blob store file `path`; its WAL is `path` + "-wal".
 * A handle belongs to the process that opened it. After fork(), every call on it in the child
 * (including read-only handles and cursors) fails with CAIRN_FORKED, and cairn_blob_close there
 * only frees memory and closes descriptors: it writes nothing (no checkpoint, no WAL truncation,
 * no fsync) and keeps the parent's writer lock. The parent's handle is unaffected. A child that
 * needs the store opens its own handle (read-only, or after the parent closed its writer). */
CAIRN_API int cairn_blob_open(cairn_blob **out, const char *path, const cairn_blob_options *opts);
CAIRN_API void cairn_blob_close(cairn_blob *b);
/* Store data (len may be 0) under a new key, returned in *key. */
CAIRN_API int cairn_blob_create(cairn_blob *b, const void *data, size_t len, uint32_t *key);
/* Hand out the next key without storing anything (never handed out again). */
CAIRN_API int cairn_blob_reserve_next_key(cairn_blob *b, uint32_t *key);
/* Store under an explicit key: CAIRN_EXISTS if present. Auto keys never collide with it. */
CAIRN_API int cairn_blob_create_with_key(cairn_blob *b, uint32_t key, const void *data, size_t len);
/* Read: *data owned by the caller (cairn_free), *len its size. CAIRN_NOTFOUND if absent. */
CAIRN_API int cairn_blob_read(cairn_blob *b, uint32_t key, void **data, size_t *len);
CAIRN_API int cairn_blob_update(cairn_blob *b, uint32_t key, const void *data, size_t len);
CAIRN_API int cairn_blob_delete(cairn_blob *b, uint32_t key);
/* 1 if present, 0 if absent, <0 on error. */
CAIRN_API int cairn_blob_exists(cairn_blob *b, uint32_t key);
CAIRN_API int cairn_blob_count(cairn_blob *b, uint64_t *out);
/* Key cursor: snapshot of live keys at open, ascending. */
CAIRN_API int cairn_blob_iter_open(cairn_blob_iter **out, cairn_blob *b);
/* 0 with *key set, CAIRN_ITEROVER at the end. */
CAIRN_API int cairn_blob_iter_next(cairn_blob_iter *it, uint32_t *key);
CAIRN_API void cairn_blob_iter_free(cairn_blob_iter *it);
/* Make everything durable and checkpoint the WAL into the data file. */
CAIRN_API int cairn_blob_sync(cairn_blob *b);
CAIRN_API int cairn_blob_stats(cairn_blob *b, struct cairn_blob_stats *out);
/* The statistics of cairn_blob_stats in the Prometheus text exposition format (version 0.0.4):
 * per field a `# HELP` and a `# TYPE` line, then `cairn_blob_<field>{store="<path>"} <value>`
 * (sizes end in _bytes, per-handle counts in _total; the path as opened, with backslash, double
 * quote and line feed escaped). *out is caller-owned (cairn_free). The same errors as
 * cairn_blob_stats; CAIRN_INVALID when out is NULL. */
CAIRN_API int cairn_blob_metrics(cairn_blob *b, char **out);
/* Rewrite the file without free space (crash-safe). */
CAIRN_API int cairn_blob_compact(cairn_blob *b);
CAIRN_API int cairn_blob_begin(cairn_blob *b);
CAIRN_API int cairn_blob_commit(cairn_blob *b);
CAIRN_API int cairn_blob_rollback(cairn_blob *b);
/* 1 inside a transaction, 0 outside, <0 on error (CAIRN_INVALID for NULL, CAIRN_FORKED in a
 * child). A flag read under the handle's lock: no stats, no I/O; answers on a failed handle. */
CAIRN_API int cairn_blob_in_txn(cairn_blob *b);
/* Subscribe: *id identifies the subscription for cairn_blob_unsubscribe. */
CAIRN_API int cairn_blob_subscribe(cairn_blob *b, cairn_blob_event_fn fn, void *ctx, uint64_t *id);
CAIRN_API int cairn_blob_unsubscribe(cairn_blob *b, uint64_t id);
/* Verify a blob store file (and its WAL) without opening it for writing. */
CAIRN_API int cairn_blob_check(const char *path);

/* Snapshots (the same five functions as cairn_kv_snapshot & co.; docs/snapshots.md).
 * A snapshot is a named, read-only, point-in-time copy of the store kept in <path>-snapshots/
 * (beside <path>-wal): after a checkpoint the data file and its log are copied under the write
 * lock (the data file changes in place, so it cannot be shared; the copy costs its size). Writes after it never reach it, and it never changes the live store.
 * snapshot: name NULL picks a unique one; *out (may be NULL) gets it (caller-owned,
 * cairn_free). EXISTS when the name is taken, INVALID for a name outside [A-Za-z0-9._-]{1,128},
 * TXN inside a transaction, READONLY on a read-only handle.
 * snapshots: a JSON array of {"name", "time" (Unix ms), "bytes"}, oldest first (caller-owned).
 * open_snapshot: a read-only handle on the snapshot (*out owned by the caller; independent of b).
 * drop_snapshot: NOTFOUND when absent.
 * backup: a consistent copy of the store into the file `dest` (which must not exist) and its
 * log `dest`-wal while writers wait; it opens as a normal blob store (cairn_blob_open(dest)). */
CAIRN_API int cairn_blob_snapshot(cairn_blob *b, const char *name, char **out);
CAIRN_API int cairn_blob_snapshots(cairn_blob *b, char **out);
CAIRN_API int cairn_blob_open_snapshot(cairn_blob **out, cairn_blob *b, const char *name);
CAIRN_API int cairn_blob_drop_snapshot(cairn_blob *b, const char *name);
CAIRN_API int cairn_blob_backup(cairn_blob *b, const char *dest);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_BLOB_H */
