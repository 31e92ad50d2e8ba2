/*
 * table_snap.c - named snapshots and backups of a table (the shared mechanism: util/snap.h).
 *
 * Under the handle's lock a checkpoint first makes the MANIFEST name every row (the tail and the
 * overlays are written to segments; the WAL is left with nothing the manifest does not cover).
 * Then the snapshot holds: the segment files the manifest names, as hard links (a manifest never
 * names a segment file that is written again; compaction later unlinks the table's names, the
 * snapshot's names keep the files), a copy of MANIFEST, and a copy of the WAL (its header carries
 * the salt the manifest expects; a manifest without CLEAN needs it). A snapshot directory is thus
 * a complete table that opens read-only (cairn_table_open_snapshot). A backup copies every file
 * and opens as a normal table. Crash safety is the shared mechanism's: the directory is built as
 * <name>.tmp and renamed when whole.
 */
#include "table_internal.h"
#include "snap.h"

#include <stdio.h>
#include <string.h>

static int check_handle(cairn_table *t, const char *fn) {
    if (!t) return cairn_err__set(CAIRN_INVALID, "%s: NULL handle", fn);
    if (cairn_fork__foreign(t->gen)) return cairn_fork__err(fn);
    return 0;
}

/* Checkpoint and put the table's files into s. */
static int take(cairn_table *t, cairn_snap *s, const char *fn) {
    int rc;
    size_t i;
    uint64_t sz;
    pthread_mutex_lock(&t->mu);
    if (t->failed) {
        rc = cairn_err__set(CAIRN_FAILED, "%s: %s: handle failed after a fatal I/O error", fn, t->dir);
        goto out;
    }
    if (t->ro) {
        rc = cairn_err__set(CAIRN_READONLY, "%s: %s: opened read-only", fn, t->dir);
        goto out;
    }
    if (t->in_txn) {
        rc = cairn_err__set(CAIRN_TXN, "%s: not allowed inside a transaction", fn);
        goto out;
    }
    if ((rc = cairn_tbl__checkpoint(t, 0)) != 0) goto out;
    for (i = 0; i < t->nfiles && !rc; i++) {
        char name[32], *p;
        snprintf(name, sizeof name, "seg-%08u.dat", (unsigned)t->files[i]->num);
        if (!(p = cairn_path__join(t->dir, name))) {
            rc = CAIRN_NOMEM;
            break;
        }
        rc = cairn_snap__add(s, p, name, 1, UINT64_MAX);
        free(p);
    }
    if (!rc) rc = cairn_snap__add(s, t->man_path, "MANIFEST", 0, UINT64_MAX);
    if (!rc) {
        int st = cairn_io__stat(t->wal_path, &sz);
        if (st == 1) rc = cairn_snap__add(s, t->wal_path, "wal", 0, UINT64_MAX);
        else if (st < 0) rc = st; /* missing: the manifest is CLEAN and needs none */
    }
out:
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static char *root_of(cairn_table *t) { return cairn_snap__root(t->dir, 0); }

int cairn_table_snapshot(cairn_table *t, const char *name, char **out_name) {
    cairn_snap s;
    char *root;
    int rc;
    if ((rc = check_handle(t, "cairn_table_snapshot")) != 0) return rc;
    if (out_name) *out_name = NULL;
    if (t->ro) return cairn_err__set(CAIRN_READONLY, "cairn_table_snapshot: %s: opened read-only", t->dir);
    if (!(root = root_of(t))) return CAIRN_NOMEM;
    rc = cairn_snap__begin(&s, root, name);
    free(root);
    if (rc) return rc;
    if ((rc = take(t, &s, "cairn_table_snapshot")) == 0 && (rc = cairn_snap__commit(&s)) == 0 && out_name &&
        !(*out_name = cairn_str__dup(s.name)))
        rc = CAIRN_NOMEM;
    cairn_snap__end(&s);
    return rc;
}

int cairn_table_snapshots(cairn_table *t, char **json) {
    char *root;
    int rc;
    if (!json) return cairn_err__set(CAIRN_INVALID, "cairn_table_snapshots: NULL argument");
    if ((rc = check_handle(t, "cairn_table_snapshots")) != 0) return rc;
    if (!(root = root_of(t))) return CAIRN_NOMEM;
    rc = cairn_snap__list(root, json);
    free(root);
    return rc;
}

int cairn_table_open_snapshot(cairn_table **out, cairn_table *t, const char *name) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    char *path = NULL, *root;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_open_snapshot: NULL argument");
    *out = NULL;
    if ((rc = check_handle(t, "cairn_table_open_snapshot")) != 0) return rc;
    if (!(root = root_of(t))) return CAIRN_NOMEM;
    rc = cairn_snap__path(root, name, &path);
    free(root);
    if (rc) return rc;
    o.create = 0;
    o.read_only = 1;
    rc = cairn_table_open(out, path, &o);
    free(path);
    return rc;
}

int cairn_table_drop_snapshot(cairn_table *t, const char *name) {
    char *root;
    int rc;
    if ((rc = check_handle(t, "cairn_table_drop_snapshot")) != 0) return rc;
    if (t->ro) return cairn_err__set(CAIRN_READONLY, "cairn_table_drop_snapshot: %s: opened read-only", t->dir);
    if (!(root = root_of(t))) return CAIRN_NOMEM;
    rc = cairn_snap__drop(root, name);
    free(root);
    return rc;
}

int cairn_table_backup(cairn_table *t, const char *dest) {
    cairn_snap s;
    int rc;
    if ((rc = check_handle(t, "cairn_table_backup")) != 0) return rc;
    if (!dest) return cairn_err__set(CAIRN_INVALID, "cairn_table_backup: NULL destination");
    if ((rc = cairn_snap__begin_backup(&s, dest)) != 0) return rc;
    if ((rc = take(t, &s, "cairn_table_backup")) == 0) rc = cairn_snap__commit(&s);
    cairn_snap__end(&s);
    return rc;
}
