/*
 * blob_snap.h - what the blob store's snapshots and backups (blob_snap.c) need from its handle
 * (internal; not installed). The functions are defined in blob_frozen.inc, which blob.c
 * includes, so it sees the handle while blob_snap.c does not.
 */
#ifndef CAIRN_BLOB_SNAP_H
#define CAIRN_BLOB_SNAP_H

#include "cairn.h"

/* Called with the data file and its log consistent and still: the write lock held, every
 * committed change applied to the data file, the log emptied when it could be. */
typedef int (*cairn_blob_frozen_fn)(void *ctx, const char *data_path, const char *wal_path);

/* Under the handle's write lock: refuse a read-only or failed handle (READONLY, FAILED) and an
 * open transaction (TXN), checkpoint, then run cb. `fn` names the caller in messages. */
int cairn_blob__frozen(cairn_blob *b, const char *fn, cairn_blob_frozen_fn cb, void *ctx);

/* 1 when the handle was opened read-only. */
int cairn_blob__read_only(const cairn_blob *b);

/* Tests: 1 when the handle's key index (its current view, for a read-only handle) came from
 * the index file <path>-index, 0 when the open scanned the data file. */
int cairn_blob__index_used(cairn_blob *b);

#endif /* CAIRN_BLOB_SNAP_H */
