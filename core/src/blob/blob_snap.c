/*
 * blob_snap.c - named snapshots and backups of a blob store (the shared mechanism: util/snap.h).
 *
 * The data file changes in place, so nothing can be shared with the store: under the write lock
 * (cairn_blob__frozen, after a checkpoint that applied every committed change and emptied the
 * log) the data file and its log are copied, the snapshot into <path>-snapshots/<name>/ as
 * `blob` and `blob-wal` (a complete blob store that opens read-only), a backup to `dest` and
 * `dest`-wal (a store that opens as a normal one). The log is copied too because the data
 * file's header says a writer has it open with that log (its salt); the copied log holds no
 * change, so opening the copy redoes nothing.
 * Crash safety: a snapshot is the shared mechanism's directory built as <name>.tmp and renamed
 * when whole; a backup's data file is written as `dest`.tmp and renamed to `dest` after its log
 * is in place, so `dest` either does not exist or is whole (a crash can leave `dest`.tmp and
 * `dest`-wal, which the next backup to `dest` overwrites).
 */
#include "cairn.h"
#include "util.h"
#include "snap.h"
#include "metrics.h"
#include "blob_snap.h"

#include <stdlib.h>
#include <string.h>

#define SNAP_DATA "blob"
#define SNAP_WAL "blob-wal"

/* NULL handle, or a handle of the parent in a forked child */
static int check_handle(cairn_blob *b, const char *fn) {
    int rc;
    if (!b) return cairn_err__set(CAIRN_INVALID, "%s: NULL handle", fn);
    if ((rc = cairn_blob_in_txn(b)) < 0) return rc;
    return 0;
}

static char *root_of(cairn_blob *b) { return cairn_snap__root(cairn_blob__path(b), 1); }

typedef struct snap_ctx {
    cairn_snap s;
    int begun;
    const char *name;
} snap_ctx;

static int put_files(cairn_snap *s, const char *data, const char *wal) {
    uint64_t sz;
    int rc = cairn_io__stat(wal, &sz);
    if (rc < 0) return rc;
    if (rc == 1 && (rc = cairn_snap__add(s, wal, SNAP_WAL, 0, UINT64_MAX)) != 0) return rc;
    return cairn_snap__add(s, data, SNAP_DATA, 0, UINT64_MAX);
}

static int snap_cb(void *ctx, const char *data, const char *wal) {
    snap_ctx *c = (snap_ctx *)ctx;
    char *root = cairn_snap__root(data, 1);
    int rc;
    if (!root) return CAIRN_NOMEM;
    rc = cairn_snap__begin(&c->s, root, c->name);
    free(root);
    if (rc) return rc;
    c->begun = 1;
    if ((rc = put_files(&c->s, data, wal)) != 0) return rc;
    return cairn_snap__commit(&c->s);
}

int cairn_blob_snapshot(cairn_blob *b, const char *name, char **out_name) {
    snap_ctx c;
    int rc;
    if (out_name) *out_name = NULL;
    memset(&c, 0, sizeof c);
    c.name = name;
    rc = cairn_blob__frozen(b, "cairn_blob_snapshot", snap_cb, &c);
    if (!rc && out_name && !(*out_name = cairn_str__dup(c.s.name))) rc = CAIRN_NOMEM;
    if (c.begun) cairn_snap__end(&c.s);
    return rc;
}

int cairn_blob_snapshots(cairn_blob *b, char **json) {
    char *root;
    int rc;
    if (!json) return cairn_err__set(CAIRN_INVALID, "cairn_blob_snapshots: NULL argument");
    *json = NULL;
    if ((rc = check_handle(b, "cairn_blob_snapshots")) != 0) return rc;
    if (!(root = root_of(b))) return CAIRN_NOMEM;
    rc = cairn_snap__list(root, json);
    free(root);
    return rc;
}

int cairn_blob_open_snapshot(cairn_blob **out, cairn_blob *b, const char *name) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    char *dir = NULL, *root, *path;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_blob_open_snapshot: NULL argument");
    *out = NULL;
    if ((rc = check_handle(b, "cairn_blob_open_snapshot")) != 0) return rc;
    if (!(root = root_of(b))) return CAIRN_NOMEM;
    rc = cairn_snap__path(root, name, &dir);
    free(root);
    if (rc) return rc;
    path = cairn_path__join(dir, SNAP_DATA);
    free(dir);
    if (!path) return CAIRN_NOMEM;
    o.create = 0;
    o.read_only = 1;
    rc = cairn_blob_open(out, path, &o);
    free(path);
    return rc;
}

int cairn_blob_drop_snapshot(cairn_blob *b, const char *name) {
    char *root;
    int rc;
    if ((rc = check_handle(b, "cairn_blob_drop_snapshot")) != 0) return rc;
    if (cairn_blob__read_only(b))
        return cairn_err__set(CAIRN_READONLY, "cairn_blob_drop_snapshot: %s: opened read-only", cairn_blob__path(b));
    if (!(root = root_of(b))) return CAIRN_NOMEM;
    rc = cairn_snap__drop(root, name);
    free(root);
    return rc;
}

typedef struct backup_ctx {
    const char *dest;
    char *tmp, *wal;
} backup_ctx;

static int backup_cb(void *ctx, const char *data, const char *wal) {
    backup_ctx *c = (backup_ctx *)ctx;
    uint64_t sz;
    char *dir;
    int rc = cairn_io__stat(wal, &sz);
    if (rc < 0) return rc;
    if (rc == 1)
        rc = cairn_snap__copy(wal, c->wal, NULL);
    else /* no log: none may be left beside the copy by an earlier attempt */
        rc = cairn_io__unlink(c->wal);
    if (rc) return rc;
    if ((rc = cairn_snap__copy(data, c->tmp, NULL)) != 0) return rc;
    if ((rc = cairn_io__rename(c->tmp, c->dest)) != 0) return rc;
    if (!(dir = cairn_path__dir(c->dest))) return CAIRN_NOMEM;
    rc = cairn_io__sync_dir(dir);
    free(dir);
    return rc;
}

static char *suffixed(const char *p, const char *sfx) {
    size_t n = strlen(p), k = strlen(sfx);
    char *s = (char *)malloc(n + k + 1);
    if (!s) {
        cairn_err__set(CAIRN_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(s, p, n);
    memcpy(s + n, sfx, k + 1);
    return s;
}

int cairn_blob_backup(cairn_blob *b, const char *dest) {
    backup_ctx c;
    uint64_t sz;
    int rc;
    if ((rc = check_handle(b, "cairn_blob_backup")) != 0) return rc;
    if (!dest || !*dest) return cairn_err__set(CAIRN_INVALID, "cairn_blob_backup: empty destination");
    if ((rc = cairn_io__stat(dest, &sz)) < 0) return rc;
    if (rc != 0) return cairn_err__set(CAIRN_EXISTS, "cairn_blob_backup: %s exists", dest);
    memset(&c, 0, sizeof c);
    c.dest = dest;
    if (!(c.tmp = suffixed(dest, ".tmp")) || !(c.wal = suffixed(dest, "-wal"))) {
        rc = CAIRN_NOMEM;
    } else {
        rc = cairn_blob__frozen(b, "cairn_blob_backup", backup_cb, &c);
        if (rc) { /* remove what a failed attempt wrote (the data file was not renamed) */
            cairn_err_saved e;
            cairn_err__save(&e);
            if (cairn_io__stat(c.tmp, &sz) == 1) (void)cairn_io__unlink(c.tmp);
            if (cairn_io__stat(dest, &sz) == 0 && cairn_io__stat(c.wal, &sz) == 1) (void)cairn_io__unlink(c.wal);
            cairn_err__restore(&e);
        }
    }
    free(c.tmp);
    free(c.wal);
    return rc;
}
