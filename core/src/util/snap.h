/*
 * snap.h - named snapshots and backups, shared by every engine (internal; not installed).
 *
 * A snapshot of a store is a directory <root>/<name>/ (root: cairn_snap__root) holding a complete, read-only
 * copy of the store's data files as of the snapshot: files the engine never changes again
 * (sealed KV data files, table segments) are hard links (no new disk, no copy time); files it
 * changes in place are copied (cairn_io__copy: a reflink where the file system shares blocks copy
 * on write, no data moved; else copy_file_range; else a read/write loop). A SNAPSHOT file in it (format below) says the snapshot is whole:
 * the directory is built as <name>.tmp and renamed once complete, so a crash leaves either no
 * snapshot or a whole one (and a .tmp directory that the next snapshot of that name removes).
 *
 * SNAPSHOT file: "CSN1" | time_ms i64 | bytes u64 | name_len u16 | name | CRC32C u32 of all
 * before it. `bytes` is the size of the data the snapshot holds (shared or not).
 *
 * A backup is the same directory shape written elsewhere, with every file copied (a backup that
 * shared inodes or blocks with the store would share its damage too: no links, no reflinks).
 */
#ifndef CAIRN_SNAP_H
#define CAIRN_SNAP_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_SNAP_NAME_MAX 128

/* A snapshot being built. */
typedef struct cairn_snap {
    char *root;   /* <store>/snapshots (or the backup's parent) */
    char *name;
    char *tmp;    /* the directory being filled */
    char *final;  /* where it goes */
    uint64_t bytes;
    int backup;   /* copy every file (never link) */
} cairn_snap;

/* The snapshots directory of a store (malloc'd): <store>/snapshots for a store that is a
 * directory (KV, table), <store>-snapshots for one that is a file (blob store, beside its -wal). */
char *cairn_snap__root(const char *store, int is_file);
/* Check a snapshot name (1..128 bytes of [A-Za-z0-9._-], not starting with '.'), or make a unique
 * one when name is NULL ("snap-<UTC yyyymmddThhmmss>-<n>"). out has CAIRN_SNAP_NAME_MAX+1 bytes. */
int cairn_snap__name(const char *root, const char *name, char *out);
/* Start a snapshot named `name` in the snapshots directory `root` (mkdir it, remove a stale
 * <name>.tmp, mkdir that). EXISTS when a snapshot of that name exists. */
int cairn_snap__begin(cairn_snap *s, const char *root, const char *name);
/* Start a backup into `dest` (which must not exist, or be an empty directory). */
int cairn_snap__begin_backup(cairn_snap *s, const char *dest);
/* Put the file `from` into the snapshot as `fname`: a hard link when `immutable` (and this is
 * not a backup), else a copy of its first `len` bytes (len UINT64_MAX: all of it), fsynced. */
int cairn_snap__add(cairn_snap *s, const char *from, const char *fname, int immutable, uint64_t len);
/* Copy the file `from` to `to` (created or truncated) for a backup (blocks of its own: never a
 * reflink), fsynced; *copied (may be NULL) its size. */
int cairn_snap__copy(const char *from, const char *to, uint64_t *copied);
/* Write a file of the given bytes into the snapshot (fsynced). */
int cairn_snap__write(cairn_snap *s, const char *fname, const void *data, size_t len);
/* Finish: write SNAPSHOT, fsync the directory, rename it into place, fsync its parent. */
int cairn_snap__commit(cairn_snap *s);
/* Give up (remove the partial directory) and free. Also frees after a commit. */
void cairn_snap__end(cairn_snap *s);

/* The snapshots in `root` (cairn_snap__root) as a JSON array of {"name", "time" (Unix ms), "bytes"},
 * oldest first (caller-owned, cairn_free). */
int cairn_snap__list(const char *root, char **json);
/* The directory of a whole snapshot (malloc'd). NOTFOUND when there is none of that name;
 * CORRUPT when its SNAPSHOT file is damaged. */
int cairn_snap__path(const char *root, const char *name, char **path);
/* Remove a snapshot. NOTFOUND when there is none of that name. */
int cairn_snap__drop(const char *root, const char *name);

#endif /* CAIRN_SNAP_H */
