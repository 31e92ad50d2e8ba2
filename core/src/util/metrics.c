/* metrics.c - every engine's statistics in the Prometheus text exposition format (version 0.0.4):
 * cairn_kv_metrics, cairn_blob_metrics, cairn_table_metrics, cairn_repo_metrics.
 *
 * Each function calls the engine's public stats function (so it sees what a caller sees, and a
 * bad handle gives the same error) and renders one family per field:
 *
 *     # HELP cairn_kv_keys Live keys.
 *     # TYPE cairn_kv_keys gauge
 *     cairn_kv_keys{store="/data/db"} 3
 *
 * Names are cairn_<engine>_<field>: a size in bytes ends in _bytes, a count that only grows over
 * the handle's life is a counter ending in _total, everything else is a gauge (in_txn is 0 or 1).
 * The `store` label is the path the handle was opened on, escaped as the format requires
 * (backslash, double quote and line feed become \\, \" and \n). Lines end in "\n".
 *
 * KV, the blob store, the repository and the table add per-handle operation counters that are
 * not stats fields (metrics.h: KV puts, gets, deletes; blob creates, reads, updates, deletes;
 * table rows inserted, updated, deleted, gets; commits, bytes written, fsyncs) and, for each
 * error code the handle's calls returned, cairn_<engine>_errors_<code>_total. */
#include "metrics.h"
#include "util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct metric_def {
    const char *name; /* after cairn_<engine>_ */
    const char *type; /* "gauge" or "counter" */
    const char *help;
    size_t offset, size; /* the field in the stats struct: 4 (uint32_t or int) or 8 (uint64_t) */
    int is_signed;
} metric_def;

#define M_U64(st, field, name, type, help) { name, type, help, offsetof(struct st, field), 8, 0 }
#define M_U32(st, field, name, type, help) { name, type, help, offsetof(struct st, field), 4, 0 }
#define M_INT(st, field, name, type, help) { name, type, help, offsetof(struct st, field), 4, 1 }

static const metric_def kv_defs[] = {
    M_U64(cairn_kv_stats, keys, "keys", "gauge", "Live keys (expired keys excluded)."),
    M_U64(cairn_kv_stats, data_files, "data_files", "gauge", "Data files of the store."),
    M_U64(cairn_kv_stats, disk_bytes, "disk_bytes", "gauge", "Bytes of every file of the store."),
    M_U64(cairn_kv_stats, live_bytes, "live_bytes", "gauge", "Bytes of the records of live keys."),
    M_U64(cairn_kv_stats, dead_bytes, "dead_bytes", "gauge", "Bytes a compaction would free."),
    M_U64(cairn_kv_stats, keydir_bytes, "keydir_bytes", "gauge", "Memory allocated for the in-memory keydir."),
    M_U64(cairn_kv_stats, seq, "seq", "gauge", "Last sequence number written."),
    M_U64(cairn_kv_stats, compactions, "compactions_total", "counter", "Compactions run by this handle."),
    M_INT(cairn_kv_stats, in_txn, "in_txn", "gauge", "1 while a transaction is open."),
};

static const metric_def blob_defs[] = {
    M_U64(cairn_blob_stats, entries, "entries", "gauge", "Live blobs."),
    M_U64(cairn_blob_stats, live_bytes, "live_bytes", "gauge", "Payload bytes of live blobs."),
    M_U64(cairn_blob_stats, free_bytes, "free_bytes", "gauge", "Bytes in free entries (headers included)."),
    M_U64(cairn_blob_stats, free_entries, "free_entries", "gauge", "Free entries."),
    M_U64(cairn_blob_stats, file_size, "file_size_bytes", "gauge", "Size of the data file."),
    M_U64(cairn_blob_stats, wal_bytes, "wal_bytes", "gauge", "Bytes of the write-ahead log in use (not its file size)."),
    M_U32(cairn_blob_stats, next_key, "next_key", "gauge", "The key the next create would get."),
    M_INT(cairn_blob_stats, in_txn, "in_txn", "gauge", "1 while a transaction is open."),
};

static const metric_def table_defs[] = {
    M_U64(cairn_table_stats, rows, "rows", "gauge", "Live rows."),
    M_U64(cairn_table_stats, deleted_rows, "deleted_rows", "gauge", "Deleted rows still held by segments."),
    M_U64(cairn_table_stats, next_id, "next_id", "gauge", "The id the next insert gets."),
    M_U64(cairn_table_stats, row_groups, "row_groups", "gauge", "Row groups in the manifest."),
    M_U64(cairn_table_stats, segments, "segments", "gauge", "Column segments in the manifest."),
    M_U64(cairn_table_stats, tail_rows, "tail_rows", "gauge", "Rows in the in-memory tail (not checkpointed)."),
    M_U64(cairn_table_stats, disk_bytes, "disk_bytes", "gauge", "Bytes of every file of the table (WAL included)."),
    M_U64(cairn_table_stats, wal_bytes, "wal_bytes", "gauge", "Bytes of the write-ahead log."),
    M_U64(cairn_table_stats, checkpoints, "checkpoints_total", "counter", "Checkpoints made by this handle."),
    M_U32(cairn_table_stats, columns, "columns", "gauge", "Columns in the schema."),
    M_INT(cairn_table_stats, in_txn, "in_txn", "gauge", "1 while a transaction is open."),
};

static const metric_def repo_defs[] = {
    M_U64(cairn_repo_stats, tenants, "tenants", "gauge", "Tenants of the repository."),
    M_U64(cairn_repo_stats, objects, "objects", "gauge", "Object files in the repository."),
    M_U64(cairn_repo_stats, disk_bytes, "disk_bytes", "gauge", "Bytes of every object and ref."),
};

#define NDEFS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct mbuf {
    char *p;
    size_t n, cap;
    int nomem;
} mbuf;

static void mb_printf(mbuf *b, const char *fmt, ...) {
    va_list ap;
    int k;
    if (b->nomem) return;
    for (;;) {
        va_start(ap, fmt);
        k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->nomem = 1;
            return;
        }
        if (b->p && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        {
            size_t nc = b->cap ? b->cap : 1024;
            char *np;
            while (nc < b->n + (size_t)k + 1) nc *= 2;
            if (!(np = (char *)realloc(b->p, nc))) {
                b->nomem = 1;
                return;
            }
            b->p = np;
            b->cap = nc;
        }
    }
}

/* The label value escaped per the exposition format (malloc'd; NULL on ENOMEM). */
static char *escape_label(const char *s) {
    size_t n = 0;
    const char *c;
    char *out, *o;
    for (c = s; *c; c++) n += (*c == '\\' || *c == '"' || *c == '\n') ? 2 : 1;
    if (!(out = (char *)malloc(n + 1))) return NULL;
    for (c = s, o = out; *c; c++) {
        if (*c == '\\' || *c == '"' || *c == '\n') {
            *o++ = '\\';
            *o++ = *c == '\n' ? 'n' : *c;
        } else {
            *o++ = *c;
        }
    }
    *o = 0;
    return out;
}

static int render(const char *engine, const metric_def *defs, size_t ndefs, const void *st, const char *path,
                  char **out, const char *fn) {
    mbuf b;
    size_t i;
    char *label = escape_label(path ? path : "");
    memset(&b, 0, sizeof b);
    if (!label) return cairn_err__set(CAIRN_NOMEM, "%s: out of memory", fn);
    for (i = 0; i < ndefs; i++) {
        const metric_def *d = &defs[i];
        const unsigned char *f = (const unsigned char *)st + d->offset;
        mb_printf(&b, "# HELP cairn_%s_%s %s\n# TYPE cairn_%s_%s %s\n", engine, d->name, d->help, engine, d->name,
                  d->type);
        if (d->size == 8) {
            uint64_t v;
            memcpy(&v, f, 8);
            mb_printf(&b, "cairn_%s_%s{store=\"%s\"} %" PRIu64 "\n", engine, d->name, label, v);
        } else if (d->is_signed) {
            int v;
            memcpy(&v, f, sizeof v);
            mb_printf(&b, "cairn_%s_%s{store=\"%s\"} %d\n", engine, d->name, label, v);
        } else {
            uint32_t v;
            memcpy(&v, f, 4);
            mb_printf(&b, "cairn_%s_%s{store=\"%s\"} %" PRIu32 "\n", engine, d->name, label, v);
        }
    }
    free(label);
    if (b.nomem || !b.p) {
        free(b.p);
        return cairn_err__set(CAIRN_NOMEM, "%s: out of memory", fn);
    }
    *out = b.p;
    return 0;
}

/* The KV handle's operation counters (metrics.h), after the stats families. */
static const metric_def kv_counter_defs[] = {
    {"puts_total", "counter", "Successful put and put_ex calls on this handle (in a transaction too).",
     offsetof(cairn_kv_counters, puts), 8, 0},
    {"gets_total", "counter", "get and get_into calls on this handle (hits and misses).",
     offsetof(cairn_kv_counters, gets), 8, 0},
    {"deletes_total", "counter", "Successful delete calls on this handle.", offsetof(cairn_kv_counters, deletes), 8, 0},
    {"commits_total", "counter", "Successful commits of transactions on this handle.",
     offsetof(cairn_kv_counters, commits), 8, 0},
    {"written_bytes_total", "counter",
     "Bytes of records this handle appended to data files (compaction output not included).",
     offsetof(cairn_kv_counters, written_bytes), 8, 0},
    {"fsyncs_total", "counter", "fsyncs of data files by this handle (commits, syncs, file rotations, close).",
     offsetof(cairn_kv_counters, fsyncs), 8, 0},
};

/* The stats families, then the counter families (defs over the counters struct c), then one
 * family per error code the handle returned (cairn_<engine>_errors_<code>_total). */
static int render_with_counters(const char *engine, const metric_def *defs, size_t ndefs, const void *st,
                                const metric_def *cdefs, size_t ncdefs, const void *c, const uint64_t *errors,
                                const char *path, char **out, const char *fn) {
    char *a = NULL, *b = NULL, *label;
    mbuf e;
    int rc, i;
    if ((rc = render(engine, defs, ndefs, st, path, &a, fn)) != 0) return rc;
    if ((rc = render(engine, cdefs, ncdefs, c, path, &b, fn)) != 0) {
        free(a);
        return rc;
    }
    memset(&e, 0, sizeof e);
    if (!(label = escape_label(path ? path : ""))) e.nomem = 1;
    mb_printf(&e, "%s%s", a, b);
    for (i = 1; i < 32 && label; i++) {
        const char *name = cairn_errname(-i);
        char lower[40];
        size_t k;
        if (!errors[i] || strncmp(name, "CAIRN_", 6) != 0) continue;
        for (k = 0; name[6 + k] && k + 1 < sizeof lower; k++)
            lower[k] = (char)(name[6 + k] >= 'A' && name[6 + k] <= 'Z' ? name[6 + k] + 32 : name[6 + k]);
        lower[k] = 0;
        mb_printf(&e,
                  "# HELP cairn_%s_errors_%s_total Calls on this handle that returned %s (%s).\n"
                  "# TYPE cairn_%s_errors_%s_total counter\ncairn_%s_errors_%s_total{store=\"%s\"} %" PRIu64 "\n",
                  engine, lower, name, cairn_errstr(-i), engine, lower, engine, lower, label, errors[i]);
    }
    free(label);
    free(a);
    free(b);
    if (e.nomem || !e.p) {
        free(e.p);
        return cairn_err__set(CAIRN_NOMEM, "%s: out of memory", fn);
    }
    *out = e.p;
    return 0;
}

int cairn_kv_metrics(cairn_kv *kv, char **out) {
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    cairn_kv_counters c;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "kv_metrics: out is NULL");
    *out = NULL;
    if ((rc = cairn_kv_stats(kv, &st)) != 0) return rc;
    cairn_kv__counters(kv, &c);
    return render_with_counters("kv", kv_defs, NDEFS(kv_defs), &st, kv_counter_defs, NDEFS(kv_counter_defs), &c,
                                c.errors, cairn_kv__path(kv), out, "kv_metrics");
}

/* The blob handle's operation counters (metrics.h), after the stats families. */
static const metric_def blob_counter_defs[] = {
    {"creates_total", "counter", "Successful create and create_with_key calls on this handle (in a transaction too).",
     offsetof(cairn_blob_counters, creates), 8, 0},
    {"reads_total", "counter", "read calls on this handle (hits and misses).", offsetof(cairn_blob_counters, reads), 8,
     0},
    {"updates_total", "counter", "Successful update calls on this handle.", offsetof(cairn_blob_counters, updates), 8,
     0},
    {"deletes_total", "counter", "Successful delete calls on this handle.", offsetof(cairn_blob_counters, deletes), 8,
     0},
    {"commits_total", "counter", "Successful commits of transactions on this handle.",
     offsetof(cairn_blob_counters, commits), 8, 0},
    {"written_bytes_total", "counter",
     "Bytes of records this handle committed to the write-ahead log (the data file gets the same bytes when they "
     "are applied; compaction output not included).",
     offsetof(cairn_blob_counters, written_bytes), 8, 0},
    {"fsyncs_total", "counter",
     "fsyncs of the write-ahead log and the data file by this handle (commits, checkpoints, open, close, compaction).",
     offsetof(cairn_blob_counters, fsyncs), 8, 0},
};

int cairn_blob_metrics(cairn_blob *b, char **out) {
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    cairn_blob_counters c;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "blob_metrics: out is NULL");
    *out = NULL;
    if ((rc = cairn_blob_stats(b, &st)) != 0) return rc;
    cairn_blob__counters(b, &c);
    return render_with_counters("blob", blob_defs, NDEFS(blob_defs), &st, blob_counter_defs,
                                NDEFS(blob_counter_defs), &c, c.errors, cairn_blob__path(b), out, "blob_metrics");
}

/* The table handle's operation counters (metrics.h), after the stats families. */
static const metric_def table_counter_defs[] = {
    {"inserts_total", "counter", "Rows inserted by committed operations of this handle (bulk loads included).",
     offsetof(cairn_table_counters, inserts), 8, 0},
    {"updates_total", "counter", "Rows updated by committed operations of this handle.",
     offsetof(cairn_table_counters, updates), 8, 0},
    {"deletes_total", "counter", "Rows deleted by committed operations of this handle.",
     offsetof(cairn_table_counters, deletes), 8, 0},
    {"gets_total", "counter", "get and get_json calls on this handle (hits and misses).",
     offsetof(cairn_table_counters, gets), 8, 0},
    {"commits_total", "counter", "Writes committed by this handle (each write outside a transaction, bulk load, commit).",
     offsetof(cairn_table_counters, commits), 8, 0},
    {"written_bytes_total", "counter", "Bytes this handle wrote to the WAL (records), segment files and manifests.",
     offsetof(cairn_table_counters, written_bytes), 8, 0},
    {"fsyncs_total", "counter", "fsyncs of the WAL, segment files, manifests and the directory by this handle.",
     offsetof(cairn_table_counters, fsyncs), 8, 0},
};

int cairn_table_metrics(cairn_table *t, char **out) {
    struct cairn_table_stats st = CAIRN_TABLE_STATS_INIT;
    cairn_table_counters c;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "table_metrics: out is NULL");
    *out = NULL;
    if ((rc = cairn_table_stats(t, &st)) != 0) return rc;
    cairn_table__counters(t, &c);
    return render_with_counters("table", table_defs, NDEFS(table_defs), &st, table_counter_defs,
                                NDEFS(table_counter_defs), &c, c.errors, cairn_table__path(t), out, "table_metrics");
}

/* The repository handle's operation counters (metrics.h), after the stats families. */
static const metric_def repo_counter_defs[] = {
    {"saves_total", "counter", "Successful save calls on this handle.", offsetof(cairn_repo_counters, saves), 8, 0},
    {"loads_total", "counter", "Successful load calls on this handle.", offsetof(cairn_repo_counters, loads), 8, 0},
    {"puts_total", "counter", "Records put by this handle (put: 1, put_many: its count), successfully.",
     offsetof(cairn_repo_counters, puts), 8, 0},
    {"deletes_total", "counter", "Successful delete calls on this handle.", offsetof(cairn_repo_counters, deletes), 8,
     0},
    {"gets_total", "counter", "get calls on this handle that returned a record.", offsetof(cairn_repo_counters, gets),
     8, 0},
    {"objects_written_total", "counter", "New objects this handle appended to packs (deduplicated ones not counted).",
     offsetof(cairn_repo_counters, objects), 8, 0},
    {"written_bytes_total", "counter", "Bytes this handle wrote to packs and ref logs (gc and log rewrites included).",
     offsetof(cairn_repo_counters, written_bytes), 8, 0},
    {"fsyncs_total", "counter", "fsyncs of packs, ref logs and directories by this handle.",
     offsetof(cairn_repo_counters, fsyncs), 8, 0},
};

int cairn_repo_metrics(cairn_repo *r, char **out) {
    struct cairn_repo_stats st = CAIRN_REPO_STATS_INIT;
    cairn_repo_counters c;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "repo_metrics: out is NULL");
    *out = NULL;
    if ((rc = cairn_repo_stats(r, &st)) != 0) return rc;
    cairn_repo__counters(r, &c);
    return render_with_counters("repo", repo_defs, NDEFS(repo_defs), &st, repo_counter_defs,
                                NDEFS(repo_counter_defs), &c, c.errors, cairn_repo__path(r), out, "repo_metrics");
}
