/*
 * cairn.h - the whole public C API of Cairn, an embedded storage library.
 *
 * Conventions (see docs/c-api.md):
 *  - Functions are cairn_<module>_<verb>; handles are opaque.
 *  - Constructors take the out-param first; destructors return void and accept NULL.
 *  - Fallible functions return int: 0 on success, a negative CAIRN_E* code on failure
 *    (one table, core/src/util/errors.def; codes are never renumbered).
 *    "Not found" (CAIRN_NOTFOUND) is an expected outcome: it sets no message.
 *  - cairn_errmsg() is a thread-local one-line message with detail about the last failure
 *    on the calling thread; cairn_errname(code) is the stable name ("CAIRN_NOTFOUND").
 *  - Ownership: every pointer returned through an out-param is either owned by the caller
 *    (free it with the named function) or borrowed (valid until the named event). Each
 *    function says which.
 *  - Options structs carry a version field; initialise them with the _INIT macro.
 *    Passing NULL for options means defaults.
 *  - Handles are thread-safe: any number of threads may read through one handle while one
 *    thread writes. A transaction belongs to the handle (not to a thread).
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SWIG)
#define CAIRN_API
#elif defined(_WIN32)
#define CAIRN_API __declspec(dllexport)
#elif defined(__GNUC__)
#define CAIRN_API __attribute__((visibility("default")))
#else
#define CAIRN_API
#endif

#define CAIRN_VERSION_MAJOR 0
#define CAIRN_VERSION_MINOR 1
#define CAIRN_VERSION_PATCH 0
#define CAIRN_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------------------------- */

/* Error codes: CAIRN_OK (0) and CAIRN_<NAME> (negative), generated from errors.def. The C name
 * is the name cairn_errname() returns and every binding shows: one spelling everywhere. */
enum cairn_error_code {
#define X(code, name, text) CAIRN_##name = code,
#include "cairn_errors.def"
#undef X
};

/* Stable name of a code, e.g. "CAIRN_NOTFOUND"; "CAIRN_UNKNOWN" for a code not in the table.
 * Static storage. */
CAIRN_API const char *cairn_errname(int code);
/* Static one-line text of a code ("not found"). */
CAIRN_API const char *cairn_errstr(int code);
/* The calling thread's last error message with detail (file, offset, errno), or "" if none.
 * Borrowed: valid until the next Cairn call on this thread. */
CAIRN_API const char *cairn_errmsg(void);
/* The code that went with cairn_errmsg() (0 if none). */
CAIRN_API int cairn_errcode(void);
/* Clear the calling thread's last error. */
CAIRN_API void cairn_errclear(void);

/* Library version ("0.1.0"), static storage. */
CAIRN_API const char *cairn_version(void);

/* Free memory that Cairn returned as caller-owned (values, blobs). Accepts NULL. */
CAIRN_API void cairn_free(void *p);

/* ------------------------------------------------------------------------------------------
 * Values
 * A stored value is bytes plus a one-byte kind, so that bytes, text and JSON documents written
 * from one language read back as the same thing in every other.
 * ---------------------------------------------------------------------------------------- */
typedef enum cairn_kind {
    CAIRN_KIND_BYTES = 0,  /* raw bytes */
    CAIRN_KIND_TEXT = 1,   /* UTF-8 text */
    CAIRN_KIND_JSON = 2,   /* a UTF-8 JSON document (object, array, number, ...) */
    CAIRN_KIND_NATIVE = 3  /* language-native serialization (opt-in only, e.g. pickle) */
} cairn_kind;

typedef enum cairn_sync_mode {
    CAIRN_SYNC_NONE = 0,   /* never fsync on commit; cairn_*_sync() and close still do */
    CAIRN_SYNC_COMMIT = 1, /* fsync before every commit returns (default) */
    CAIRN_SYNC_GROUP = 2   /* one fsync acknowledges every writer waiting on it */
} cairn_sync_mode;

/* Limits */
#define CAIRN_KEY_MAX 65535u                  /* key length 1..65535 bytes */
#define CAIRN_VALUE_MAX (1024u * 1024u * 1024u) /* 1 GiB */

/* ------------------------------------------------------------------------------------------
 * KV: the Bitcask-style log key-value store (core/src/log)
 * ---------------------------------------------------------------------------------------- */
typedef struct cairn_kv cairn_kv;
typedef struct cairn_kv_iter cairn_kv_iter;

#define CAIRN_KV_OPTIONS_VERSION 1
typedef struct cairn_kv_options {
    unsigned version;          /* CAIRN_KV_OPTIONS_VERSION */
    int create;                /* create the directory if missing (default 1) */
    int read_only;             /* open without the writer lock; writes fail CAIRN_READONLY */
    int sync;                  /* cairn_sync_mode (default CAIRN_SYNC_COMMIT) */
    uint64_t max_file_size;    /* rotate the active data file past this many bytes (0: 64 MiB) */
    unsigned lock_timeout_ms;  /* 0: a second writer gets CAIRN_LOCKED at once;
                                  >0: wait up to this long, then CAIRN_BUSY */
} cairn_kv_options;
#define CAIRN_KV_OPTIONS_INIT { CAIRN_KV_OPTIONS_VERSION, 1, 0, CAIRN_SYNC_COMMIT, 0, 0 }

/* Statistics (like libc's struct stat / stat(): the struct tag shares the function's name). */
struct cairn_kv_stats {
    uint64_t keys;           /* live keys */
    uint64_t data_files;     /* data files on disk */
    uint64_t disk_bytes;     /* bytes of all data + hint files */
    uint64_t live_bytes;     /* bytes of records that are still live */
    uint64_t dead_bytes;     /* bytes reclaim() would free */
    uint64_t keydir_bytes;   /* memory used by the in-memory keydir */
    uint64_t seq;            /* last sequence number written */
    uint64_t reclaims;       /* reclaims run by this handle */
    int in_txn;              /* 1 while a transaction is open */
};

/* Open (or create) the KV store in directory `path`. *out is owned by the caller:
 * close it with cairn_kv_close. Errors: CAIRN_INVALID (NULL), CAIRN_PATH (missing and not
 * create, or not a directory), CAIRN_PERM, CAIRN_LOCKED / CAIRN_BUSY (another writer),
 * CAIRN_CORRUPT (a bad record in a sealed file, a sealed file cut short, or a bad record of the
 * active file that valid records follow; the message names file and offset; nothing is
 * truncated then), CAIRN_VERSION, CAIRN_IO. Only a torn last append of the active file is
 * dropped silently. A read-only open may run beside a live writer in another process: it loads
 * again while a rotation or reclaim changes the files under it, and gives CAIRN_BUSY only if
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

/* Flush and fsync everything written so far. */
CAIRN_API int cairn_kv_sync(cairn_kv *kv);
/* Merge: rewrite live records into new files and drop the rest. Crash-safe, idempotent,
 * never brings a deleted or expired key back. CAIRN_TXN inside a transaction. */
CAIRN_API int cairn_kv_compact(cairn_kv *kv);
CAIRN_API int cairn_kv_stats(cairn_kv *kv, struct cairn_kv_stats *out);
/* Verify every record of every file of the store at `path` (CRC, framing) without opening it
 * for writing. 0 if clean; CAIRN_CORRUPT with file and offset in the message otherwise. Same
 * rules as open: a torn last append of the active file (which the next writer drops) is not
 * corruption, a bad record that valid records follow is. Safe beside a live writer (see
 * cairn_kv_open). */
CAIRN_API int cairn_kv_check(const char *path);

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

struct cairn_blob_stats {
    uint64_t entries;      /* live blobs */
    uint64_t live_bytes;   /* payload bytes of live blobs */
    uint64_t free_bytes;   /* bytes in free entries (headers included) */
    uint64_t free_entries; /* number of free entries */
    uint64_t file_size;    /* size of the data file */
    uint64_t wal_bytes;    /* size of the write-ahead log */
    uint32_t next_key;     /* the key the next create would get (4294967295 also once every auto
                              key is used: create then fails CAIRN_RANGE) */
    int in_txn;
};

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
/* Rewrite the file without free space (crash-safe). */
CAIRN_API int cairn_blob_compact(cairn_blob *b);
CAIRN_API int cairn_blob_begin(cairn_blob *b);
CAIRN_API int cairn_blob_commit(cairn_blob *b);
CAIRN_API int cairn_blob_rollback(cairn_blob *b);
/* Subscribe: *id identifies the subscription for cairn_blob_unsubscribe. */
CAIRN_API int cairn_blob_subscribe(cairn_blob *b, cairn_blob_event_fn fn, void *ctx, uint64_t *id);
CAIRN_API int cairn_blob_unsubscribe(cairn_blob *b, uint64_t id);
/* Verify a blob store file (and its WAL) without opening it for writing. */
CAIRN_API int cairn_blob_check(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_H */
