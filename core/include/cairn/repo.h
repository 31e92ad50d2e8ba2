/*
 * cairn/repo.h - the versioned store (core/src/repo): a repository of immutable objects named by
 * the SHA-256 of their content, tenants with their own entries, and a history of every change.
 * Part of the public C API; include <cairn.h> (the umbrella over every part).
 *
 * A repository is a directory. Each tenant has its own objects and refs (no deduplication across
 * tenants: that would tell one tenant whether another stored some content). An entry is a name
 * (per tenant) whose head is the digest of its latest version; every save, put or delete makes a
 * new immutable version that records its parent(s), the user and the time. A version holds either
 * a whole value (save/load) or a collection of records (put/get/delete/keys): a content-defined
 * chunked tree, so that one put into a collection of a million records writes O(log n) new
 * objects, and the same records always give the same digest whatever the order of the writes.
 *
 * Digests are 64 lowercase hex characters (SHA-256), passed as NUL-terminated strings; outputs are
 * written to a caller's char[CAIRN_DIGEST_HEX + 1].
 *
 * Crash safety: objects are written and fsynced before the ref that names them; a ref update is
 * write, fsync, rename, fsync(dir). A crash leaves at most unreferenced objects (gc removes them).
 * Every object read is checked against its digest: damage is CAIRN_CORRUPT naming the digest.
 *
 * Thread-safety: handles are thread-safe. One writer process per repository (advisory lock);
 * read-only handles may be opened beside it.
 */
#ifndef CAIRN_REPO_H
#define CAIRN_REPO_H

#include "cairn/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cairn_repo cairn_repo;
typedef struct cairn_repo_iter cairn_repo_iter;

#define CAIRN_DIGEST_HEX 64
/* Names: tenant, entry, tag and user names are 1..255 bytes of UTF-8 without NUL or control
 * characters (user may be empty). Record keys: 1..CAIRN_KEY_MAX bytes. */
#define CAIRN_REPO_NAME_MAX 255

#define CAIRN_REPO_OPTIONS_VERSION 2
typedef struct cairn_repo_options {
    unsigned version;         /* CAIRN_REPO_OPTIONS_VERSION (1: the fields before cache_bytes) */
    int create;               /* create the repository directory if missing (default 1) */
    int read_only;            /* writes fail CAIRN_READONLY */
    int sync;                 /* CAIRN_SYNC_COMMIT (default): fsync objects, then the ref;
                                 CAIRN_SYNC_NONE: no fsync (tests, bulk imports) */
    unsigned lock_timeout_ms; /* wait up to this for the writer lock (0: fail at once) */
    uint64_t cache_bytes;     /* tree nodes kept in memory once checked against their digest, up
                                 to this many bytes (0: 64 MiB; 1: none). A diff or a put reads
                                 them again without reading or hashing them again. */
} cairn_repo_options;
#define CAIRN_REPO_OPTIONS_INIT { CAIRN_REPO_OPTIONS_VERSION, 1, 0, CAIRN_SYNC_COMMIT, 0, 0 }

/* `size` first: see struct cairn_kv_stats. */
struct cairn_repo_stats {
    uint32_t size;       /* in: sizeof the caller's struct (0: this header's); out: bytes filled */
    uint64_t tenants;
    uint64_t objects;    /* object files in the repository */
    uint64_t disk_bytes; /* bytes of every object and ref */
};
#define CAIRN_REPO_STATS_INIT { sizeof(struct cairn_repo_stats), 0, 0, 0 }

/* ---- open, close, tenants ---- */
CAIRN_API int cairn_repo_open(cairn_repo **out, const char *path, const cairn_repo_options *opts);
/* Releases the packs, the ref logs and the writer's lock at once; the memory goes now, or with the
 * last of the handle's open iterators (cairn_repo_iter_free). */
CAIRN_API void cairn_repo_close(cairn_repo *r);
/* Create a tenant (idempotent: an existing tenant is 0). */
CAIRN_API int cairn_repo_init(cairn_repo *r, const char *tenant);
/* The tenants as a JSON array of names, sorted (caller-owned, cairn_free). */
CAIRN_API int cairn_repo_tenants(cairn_repo *r, char **out);
/* The tenant's entries as a JSON array of names, sorted. NOTFOUND for an unknown tenant. */
CAIRN_API int cairn_repo_entries(cairn_repo *r, const char *tenant, char **out);

/* ---- whole values ---- */
/* Save `value` (len bytes of `kind`, a cairn_kind) as the new head of `entry`; `digest` (may be
 * NULL) gets the new version's digest. Saving the same content again stores its object once (the
 * version is new: it has a parent and a time). NOTFOUND for an unknown tenant; TYPE when the entry
 * is a collection. */
CAIRN_API int cairn_repo_save(cairn_repo *r, const char *tenant, const char *user, const char *entry,
                              const void *value, size_t len, int kind, char *digest);
/* Load the head of `entry` (digest NULL) or the version `digest` of it: *value caller-owned
 * (cairn_free), *kind its kind. NOTFOUND for an unknown tenant, entry or digest; TYPE when the
 * version is a collection. */
CAIRN_API int cairn_repo_load(cairn_repo *r, const char *tenant, const char *entry, const char *digest,
                              void **value, size_t *len, int *kind);
/* 1 if the entry exists, 0 if not, <0 on error. */
CAIRN_API int cairn_repo_exists(cairn_repo *r, const char *tenant, const char *entry);
/* The head digest of `entry`. NOTFOUND when absent. */
CAIRN_API int cairn_repo_digest(cairn_repo *r, const char *tenant, const char *entry, char *digest);

/* ---- collections ---- */
/* Put one record (key -> value of kind) into the collection `entry` (created by its first put);
 * a new version. TYPE when the entry holds a whole value. */
CAIRN_API int cairn_repo_put(cairn_repo *r, const char *tenant, const char *user, const char *entry,
                             const void *key, size_t klen, const void *value, size_t vlen, int kind,
                             char *digest);
/* Put n records in one new version (keys[i]/klens[i] -> values[i]/vlens[i] of kinds[i]; kinds may
 * be NULL: all bytes). A key given twice keeps its last value. */
CAIRN_API int cairn_repo_put_many(cairn_repo *r, const char *tenant, const char *user, const char *entry,
                                  size_t n, const void *const *keys, const size_t *klens,
                                  const void *const *values, const size_t *vlens, const int *kinds,
                                  char *digest);
/* Delete one record: a new version. NOTFOUND when the key is absent. */
CAIRN_API int cairn_repo_delete(cairn_repo *r, const char *tenant, const char *user, const char *entry,
                                const void *key, size_t klen, char *digest);
/* Get one record of the head (digest NULL) or of version `digest`: *value caller-owned. NOTFOUND
 * when the key (or entry, or version) is absent. */
CAIRN_API int cairn_repo_get(cairn_repo *r, const char *tenant, const char *entry, const char *digest,
                             const void *key, size_t klen, void **value, size_t *vlen, int *kind);
/* Number of records of a version. */
CAIRN_API int cairn_repo_count(cairn_repo *r, const char *tenant, const char *entry, const char *digest,
                               uint64_t *out);

/* Cursor over the records of a version in key order (bytewise). */
CAIRN_API int cairn_repo_iter_open(cairn_repo_iter **out, cairn_repo *r, const char *tenant,
                                   const char *entry, const char *digest);
/* 0 with the record (borrowed until the next call or free); value may be NULL. ITEROVER at the end.
 * CLOSED once the handle is closed (cairn_repo_close: an open iterator keeps the handle's memory,
 * not its files or lock). */
CAIRN_API int cairn_repo_iter_next(cairn_repo_iter *it, const void **key, size_t *klen,
                                   const void **value, size_t *vlen, int *kind);
/* Before or after the close of the handle, in any order; the last iterator of a closed handle
 * frees the handle's memory. */
CAIRN_API void cairn_repo_iter_free(cairn_repo_iter *it);

/* Difference between two versions of collections (d1 older, d2 newer; either may be NULL for an
 * empty collection): a JSON object {"added": [keys], "removed": [keys], "changed": [keys]}, keys
 * as strings when valid UTF-8 else {"$bytes": hex}, each list in key order. Equal subtrees are
 * skipped by digest, so the cost follows the number of changes. */
CAIRN_API int cairn_repo_diff(cairn_repo *r, const char *tenant, const char *d1, const char *d2,
                              char **out);

/* ---- history and tags ---- */
/* The versions of `entry`, newest first, at most `max` (0: all), as a JSON array of
 * {"digest", "parents": [...], "user", "time" (Unix ms), "collection": bool}. */
CAIRN_API int cairn_repo_history(cairn_repo *r, const char *tenant, const char *entry, size_t max,
                                 char **out);
/* Name a version (any digest of the tenant's versions): tags are refs that never move unless set
 * again. */
CAIRN_API int cairn_repo_tag(cairn_repo *r, const char *tenant, const char *name, const char *digest);
/* The digest a tag names. NOTFOUND when absent. */
CAIRN_API int cairn_repo_tag_get(cairn_repo *r, const char *tenant, const char *name, char *digest);

/* ---- maintenance ---- */
/* Remove objects that no ref (head or tag, in any version reachable from them) names and that are
 * older than grace_ms (0: any age). *removed (may be NULL) gets the count. */
CAIRN_API int cairn_repo_gc(cairn_repo *r, uint64_t grace_ms, uint64_t *removed);
/* Re-hash every object of the repository at `path` and check every ref points at a complete
 * version: 0 sound, CORRUPT (the digest or ref in the message), PATH. */
CAIRN_API int cairn_repo_verify(const char *path);
CAIRN_API int cairn_repo_stats(cairn_repo *r, struct cairn_repo_stats *out);
/* The statistics of cairn_repo_stats in the Prometheus text exposition format (version 0.0.4):
 * per field a `# HELP` and a `# TYPE` line, then `cairn_repo_<field>{store="<path>"} <value>`
 * (sizes end in _bytes, per-handle counts in _total; the path as opened, with backslash, double
 * quote and line feed escaped). *out is caller-owned (cairn_free). The same errors as
 * cairn_repo_stats; CAIRN_INVALID when out is NULL. */
CAIRN_API int cairn_repo_metrics(cairn_repo *r, char **out);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_REPO_H */
