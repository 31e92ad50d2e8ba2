/* metrics.h - the path each engine handle was opened on, for the `store` label of the Prometheus
 * metrics (metrics.c). Each engine defines its accessor next to its handle; the string is owned
 * by the handle (valid until close). */
#ifndef CAIRN_METRICS_H
#define CAIRN_METRICS_H

#include "cairn.h"

const char *cairn_kv__path(const cairn_kv *kv);
const char *cairn_blob__path(const cairn_blob *b);
const char *cairn_table__path(const cairn_table *t);
const char *cairn_repo__path(const cairn_repo *r);

/* The KV handle's operation counters (core/src/log), since open: rendered by cairn_kv_metrics
 * after the families of the stats struct. */
typedef struct cairn_kv_counters {
    uint64_t puts, gets, deletes, commits; /* successful put/put_ex, get/get_into calls (hits and
                                              misses), successful deletes and commits */
    uint64_t written_bytes;                /* bytes of records appended to data files */
    uint64_t fsyncs;                       /* fsyncs of data files */
    uint64_t errors[32];                   /* calls that returned code -i, by i */
} cairn_kv_counters;
void cairn_kv__counters(cairn_kv *kv, cairn_kv_counters *c);

/* The repository handle's operation counters (core/src/repo), since open: rendered by
 * cairn_repo_metrics after the families of the stats struct. */
typedef struct cairn_repo_counters {
    uint64_t saves, loads;    /* successful save and load calls */
    uint64_t puts, deletes;   /* records put (put: 1, put_many: n) and deleted, successfully */
    uint64_t gets;            /* get calls that returned a record */
    uint64_t objects;         /* new objects appended to packs (deduplicated ones not counted) */
    uint64_t written_bytes;   /* bytes written to packs and ref logs (gc and log rewrites too) */
    uint64_t fsyncs;          /* fsyncs of packs, ref logs and directories */
    uint64_t errors[32];      /* calls that returned code -i, by i */
} cairn_repo_counters;
void cairn_repo__counters(cairn_repo *r, cairn_repo_counters *c);

/* The blob handle's operation counters (core/src/blob), since open: rendered by
 * cairn_blob_metrics after the families of the stats struct. */
typedef struct cairn_blob_counters {
    uint64_t creates, reads, updates, deletes, commits; /* successful create/create_with_key,
                                                           update, delete calls and transaction
                                                           commits; read calls (hits and misses) */
    uint64_t written_bytes;                             /* bytes of records committed to the log */
    uint64_t fsyncs;                                    /* fsyncs of the log and the data file */
    uint64_t errors[32];                                /* calls that returned code -i, by i */
} cairn_blob_counters;
void cairn_blob__counters(cairn_blob *b, cairn_blob_counters *c);

/* The table handle's operation counters (core/src/table), since open: rendered by
 * cairn_table_metrics after the families of the stats struct. */
typedef struct cairn_table_counters {
    uint64_t inserts, updates, deletes; /* rows inserted, updated, deleted by committed operations
                                           (a bulk load counts its rows; a rolled-back
                                           transaction's rows do not count) */
    uint64_t gets;                      /* get and get_json calls (hits and misses) */
    uint64_t commits;                   /* writes committed: each write outside a transaction,
                                           each bulk load, each transaction commit */
    uint64_t written_bytes;             /* bytes of WAL records, segment files and manifests */
    uint64_t fsyncs;                    /* fsyncs of the WAL, segment files, manifests, directory */
    uint64_t errors[32];                /* calls that returned code -i, by i */
} cairn_table_counters;
void cairn_table__counters(cairn_table *t, cairn_table_counters *c);

#endif
