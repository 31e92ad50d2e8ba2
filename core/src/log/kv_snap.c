/*
 * kv_snap.c - named snapshots and backups of a KV store (the shared mechanism: util/snap.h).
 *
 * Sealed data files never change again, so a snapshot hard-links them (and their hint files)
 * instead of copying: the active file is sealed first, so every data file the snapshot names is
 * sealed, and a 1M-key store snapshots in milliseconds with no new disk. Compaction later unlinks
 * the store's names of those files; the snapshot's names keep them. A snapshot directory is a
 * complete KV store that opens read-only (cairn_kv_open_snapshot). A backup copies every file.
 */
#include "kv_internal.h"
#include "snap.h"

#include <stdlib.h>
#include <string.h>

/* Put every data file (sealed) and its hint into s. Caller holds wmu, the active file sealed. */
static int add_files(cairn_kv *kv, cairn_snap *s) {
    uint32_t n = 0, *slots = cairn_kv__sorted_slots(kv, &n);
    int rc = 0;
    if (!slots) return cairn_err__set(CAIRN_NOMEM, "kv snapshot: out of memory");
    for (uint32_t i = 0; i < n && !rc; i++) {
        const kv_file *kf = &kv->files[slots[i]];
        static const char *exts[] = {"data", "hint"};
        for (int e = 0; e < 2 && !rc; e++) {
            char *p = cairn_kv__file_path(kv->dir, kf->order, exts[e]), *base;
            uint64_t sz;
            int st;
            if (!p) { rc = CAIRN_NOMEM; break; }
            st = cairn_io__stat(p, &sz);
            base = strrchr(p, '/');
            base = base ? base + 1 : p;
            if (st == 1)
                rc = cairn_snap__add(s, p, base, 1, UINT64_MAX); /* sealed: exactly its size */
            else if (st < 0)
                rc = st;
            else if (e == 0)
                rc = cairn_err__set(CAIRN_INTERNAL, "kv snapshot: %s is missing", p);
            free(p);
        }
    }
    free(slots);
    return rc;
}

/* Seal the active file and put the store's files into s (snapshot or backup). */
static int take(cairn_kv *kv, cairn_snap *s, const char *fn) {
    int rc;
    pthread_mutex_lock(&kv->wmu);
    if ((rc = cairn_kv__check_writable(kv, fn)) != 0) goto out;
    if (kv->in_txn) {
        rc = cairn_err__set(CAIRN_TXN, "%s: not allowed inside a transaction", fn);
        goto out;
    }
    cairn_kv__group_quiesce(kv);
    if ((rc = cairn_kv__drop_snapshot(kv)) != 0) goto out; /* the KEYDIR cache: the files change */
    if ((rc = cairn_kv__seal_active(kv)) != 0) goto out;
    rc = add_files(kv, s);
out:
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}

int cairn_kv_snapshot(cairn_kv *kv, const char *name, char **out_name) {
    cairn_snap s;
    char *root;
    int rc;
    if ((rc = cairn_kv__check_handle(kv, "kv_snapshot")) != 0) return rc;
    if (out_name) *out_name = NULL;
    if (!(root = cairn_snap__root(kv->dir, 0))) return CAIRN_NOMEM;
    rc = cairn_snap__begin(&s, root, name);
    free(root);
    if (rc) return rc;
    if ((rc = take(kv, &s, "kv_snapshot")) == 0 && (rc = cairn_snap__commit(&s)) == 0 && out_name &&
        !(*out_name = cairn_str__dup(s.name)))
        rc = CAIRN_NOMEM;
    cairn_snap__end(&s);
    return rc;
}

int cairn_kv_snapshots(cairn_kv *kv, char **json) {
    int rc;
    if (!json) return cairn_err__set(CAIRN_INVALID, "kv_snapshots: NULL argument");
    if ((rc = cairn_kv__check_handle(kv, "kv_snapshots")) != 0) return rc;
    {
        char *root = cairn_snap__root(kv->dir, 0);
        if (!root) return CAIRN_NOMEM;
        rc = cairn_snap__list(root, json);
        free(root);
        return rc;
    }
}

int cairn_kv_open_snapshot(cairn_kv **out, cairn_kv *kv, const char *name) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    char *path = NULL;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "kv_open_snapshot: NULL argument");
    *out = NULL;
    if ((rc = cairn_kv__check_handle(kv, "kv_open_snapshot")) != 0) return rc;
    {
        char *root = cairn_snap__root(kv->dir, 0);
        if (!root) return CAIRN_NOMEM;
        rc = cairn_snap__path(root, name, &path);
        free(root);
        if (rc) return rc;
    }
    o.create = 0;
    o.read_only = 1;
    rc = cairn_kv_open(out, path, &o);
    free(path);
    return rc;
}

int cairn_kv_drop_snapshot(cairn_kv *kv, const char *name) {
    int rc;
    if ((rc = cairn_kv__check_handle(kv, "kv_drop_snapshot")) != 0) return rc;
    if (kv->readonly) return cairn_err__set(CAIRN_READONLY, "kv_drop_snapshot: the store was opened read-only");
    {
        char *root = cairn_snap__root(kv->dir, 0);
        if (!root) return CAIRN_NOMEM;
        rc = cairn_snap__drop(root, name);
        free(root);
        return rc;
    }
}

int cairn_kv_backup(cairn_kv *kv, const char *dest) {
    cairn_snap s;
    int rc;
    if ((rc = cairn_kv__check_handle(kv, "kv_backup")) != 0) return rc;
    if (!dest) return cairn_err__set(CAIRN_INVALID, "kv_backup: NULL destination");
    if ((rc = cairn_snap__begin_backup(&s, dest)) != 0) return rc;
    if ((rc = take(kv, &s, "kv_backup")) == 0) rc = cairn_snap__commit(&s);
    cairn_snap__end(&s);
    return rc;
}
