/*
 * cairn/table.h - the columnar table engine (core/src/table).
 * Part of the public C API; include <cairn.h> (the umbrella over every part).
 *
 * A table is a directory: a manifest naming immutable column segments grouped in row groups, a
 * write-ahead log of recent changes (kept in memory as the "tail" until a checkpoint writes them
 * as segments), and a lock file. The schema is stored in the table: reopening needs none.
 *
 * Rows cross the API in two forms:
 *   - typed: an array of cairn_value, one per column in schema order (C callers);
 *   - JSON: one JSON object per row, {"column": value, ...} (what every binding passes as it is).
 *     Value forms by column type:
 *       i8..i64, u8..u64  JSON integer (exact, any magnitude the type holds)
 *       f32, f64          JSON number; NaN and infinities as {"$f64": "nan"|"inf"|"-inf"}
 *       bool              true / false
 *       string            JSON string (UTF-8)
 *       bytes, bytes:N    {"$bytes": "<lowercase hex>"}
 *       timestamp         JSON integer: microseconds since 1970-01-01T00:00:00Z
 *       any nullable      null
 *     A value of the wrong JSON type for its column is CAIRN_TYPE; an integer outside the column's
 *     range, or a bytes:N value that is not exactly N bytes, is CAIRN_RANGE; an unknown column name
 *     is CAIRN_SCHEMA. Output uses exactly these forms (every column present, nulls as null).
 *
 * Row ids are u64 handed out by insert, starting at 1: they only grow, are never reused (not even
 * after delete, rollback, compact or reopen) and never change.
 *
 * Thread-safety: a handle may be used from several threads (one internal lock). One writer process
 * per table (advisory lock, like the KV); read-only handles may be opened beside it.
 */
#ifndef CAIRN_TABLE_H
#define CAIRN_TABLE_H

#include "cairn/common.h"
#include "cairn/arrow.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cairn_table cairn_table;
typedef struct cairn_table_iter cairn_table_iter;

/* Column types. The numbering is part of the on-disk format: never renumber. */
typedef enum cairn_type {
    CAIRN_TYPE_I8 = 1,
    CAIRN_TYPE_I16 = 2,
    CAIRN_TYPE_I32 = 3,
    CAIRN_TYPE_I64 = 4,
    CAIRN_TYPE_U8 = 5,
    CAIRN_TYPE_U16 = 6,
    CAIRN_TYPE_U32 = 7,
    CAIRN_TYPE_U64 = 8,
    CAIRN_TYPE_F32 = 9,
    CAIRN_TYPE_F64 = 10,
    CAIRN_TYPE_BOOL = 11,
    CAIRN_TYPE_FIXED = 12,     /* bytes:N, exactly N bytes (1..65535) */
    CAIRN_TYPE_STRING = 13,    /* UTF-8 text (validated), up to CAIRN_VALUE_MAX bytes */
    CAIRN_TYPE_BYTES = 14,     /* variable-length bytes, up to CAIRN_VALUE_MAX bytes */
    CAIRN_TYPE_TIMESTAMP = 15  /* i64 microseconds since the Unix epoch, UTC */
} cairn_type;

/* One value of a row. `is_null` wins over the union. Which member is read depends on the
 * column's type: i (i8..i64, timestamp), u (u8..u64), f (f32, f64), b (bool), and
 * bytes/len (fixed, string, bytes; borrowed, need not be NUL-terminated). */
typedef struct cairn_value {
    int is_null;
    union {
        int64_t i;
        uint64_t u;
        double f;
        int b;
        struct {
            const void *bytes;
            size_t len;
        } s;
    } v;
} cairn_value;

/* Schema text: columns separated by commas, each `name type [constraint...]`, e.g.
 *   "id i64 primary key, name string, score f64 null, tag bytes:8 unique, at timestamp default 0"
 * Names: [A-Za-z_][A-Za-z0-9_]*, up to 64 bytes, unique (case-sensitive); at most 1024 columns.
 * Types: i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 bool bytes:N string bytes timestamp.
 * Constraints: `primary key` (unique and not null; at most one column; not f32/f64), `unique`,
 * `not null`, `null` (nullable: the default), `default <literal>` (an integer, a number, true,
 * false, null, a 'single-quoted string' with '' for a quote, or x'hex' for bytes).
 * Keywords are case-insensitive. The same schema may be given as a JSON array of column objects:
 *   [{"name": "id", "type": "i64", "primary_key": true},
 *    {"name": "score", "type": "f64", "nullable": true, "default": 0.5}, ...]
 * (fields: name, type, nullable (default true; false for a primary key), primary_key, unique,
 * default as a JSON row value). A syntax error is CAIRN_INVALID with the position in the message. */

#define CAIRN_TABLE_OPTIONS_VERSION 1
typedef struct cairn_table_options {
    unsigned version;          /* CAIRN_TABLE_OPTIONS_VERSION */
    int create;                /* create the table if missing (default 1); needs `schema` */
    int read_only;             /* writes fail CAIRN_READONLY */
    int sync;                  /* cairn_sync_mode (default CAIRN_SYNC_COMMIT) */
    unsigned lock_timeout_ms;  /* wait up to this for the writer lock (0: fail at once) */
    const char *schema;        /* schema (text or JSON) for a new table; for an existing table
                                  NULL, or the same schema (else CAIRN_SCHEMA) */
    uint32_t checkpoint_rows;  /* checkpoint when the tail holds this many rows (0: 122880) */
} cairn_table_options;
#define CAIRN_TABLE_OPTIONS_INIT { CAIRN_TABLE_OPTIONS_VERSION, 1, 0, CAIRN_SYNC_COMMIT, 0, NULL, 0 }

/* `size` first: see struct cairn_kv_stats. */
struct cairn_table_stats {
    uint32_t size;          /* in: sizeof the caller's struct (0: this header's); out: bytes filled */
    uint64_t rows;          /* live rows (== cairn_table_count) */
    uint64_t deleted_rows;  /* rows deleted but still in segments (compact drops them) */
    uint64_t next_id;       /* the id the next insert gets */
    uint64_t row_groups;    /* row groups in the manifest */
    uint64_t segments;      /* column segments in the manifest */
    uint64_t tail_rows;     /* rows in the in-memory tail (not yet checkpointed) */
    uint64_t disk_bytes;    /* bytes of every file of the table (WAL included) */
    uint64_t wal_bytes;     /* bytes of the write-ahead log */
    uint64_t checkpoints;   /* checkpoints made by this handle */
    uint32_t columns;       /* columns in the schema */
    int in_txn;
};
#define CAIRN_TABLE_STATS_INIT { sizeof(struct cairn_table_stats), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

typedef enum cairn_table_event {
    CAIRN_TABLE_INSERTED = 1,
    CAIRN_TABLE_UPDATED = 2,
    CAIRN_TABLE_DELETED = 3
} cairn_table_event;

/* Event callback: once per changed row, after the change is committed (inside a transaction: at
 * commit, in order), never for a failed or rolled-back change. Called on the thread that made the
 * change, with no internal lock held (the callback may call the table). new_row (INSERTED,
 * UPDATED) and old_row (UPDATED, DELETED) are JSON rows (see the top), NULL when not applicable,
 * borrowed for the call. */
typedef void (*cairn_table_event_fn)(void *ctx, int event, uint64_t id, const char *new_row,
                                     const char *old_row);

/* ---- open, close, schema ---- */

/* Open (or create, with opts->schema) the table directory `path`. Errors: PATH (missing and
 * create is 0, or not a directory), INVALID (bad options or schema text), SCHEMA (opts->schema
 * differs from the stored one), LOCKED/BUSY (another writer), CORRUPT (file and offset in the
 * message), VERSION. */
CAIRN_API int cairn_table_open(cairn_table **out, const char *path, const cairn_table_options *opts);
/* Close: rolls back an open transaction, checkpoints (unless read-only) and frees. Accepts NULL. */
CAIRN_API void cairn_table_close(cairn_table *t);
/* The schema in canonical text form ("id i64 primary key not null, ..."), or as a JSON array of
 * column objects (json != 0). *out is owned by the caller (cairn_free). */
CAIRN_API int cairn_table_schema(cairn_table *t, int json, char **out);
/* Number of columns, and a column's name (borrowed, valid while the handle is open) and type. */
CAIRN_API int cairn_table_ncols(cairn_table *t, size_t *out);
CAIRN_API int cairn_table_column(cairn_table *t, size_t index, const char **name, int *type,
                                 uint32_t *fixed_len, int *nullable);
/* Add one column (same syntax as one column of the schema text) to a table that may hold rows:
 * existing rows get its default (a NOT NULL column needs a default; UNIQUE needs at most one row
 * or a null default). Errors: INVALID, EXISTS (name taken), CONSTRAINT, TXN (inside a txn). */
CAIRN_API int cairn_table_add_column(cairn_table *t, const char *spec);

/* ---- rows: typed ---- */

/* Insert one row (ncols values in schema order; a column left out of a JSON row, or given here
 * with is_null where it is NOT NULL but has a default, takes its default). *id may be NULL.
 * Errors: TYPE/RANGE/INVALID (bad value), CONSTRAINT (NOT NULL, UNIQUE, PRIMARY KEY; the message
 * names the column and value), READONLY, FAILED. A failed insert changes nothing. */
CAIRN_API int cairn_table_insert(cairn_table *t, const cairn_value *row, size_t ncols, uint64_t *id);
/* Read row `id`: *out gets an array of ncols values whose bytes live in the same allocation;
 * owned by the caller (one cairn_free). NOTFOUND for an id never handed out or deleted. */
CAIRN_API int cairn_table_get(cairn_table *t, uint64_t id, cairn_value **out);
/* Replace the given columns of row `id`: `cols` holds n column indexes, `vals` their new values.
 * NOTFOUND if the row is absent; constraint errors as insert. */
CAIRN_API int cairn_table_update(cairn_table *t, uint64_t id, const size_t *cols,
                                 const cairn_value *vals, size_t n);
/* Delete row `id`: NOTFOUND if absent or already deleted. */
CAIRN_API int cairn_table_delete(cairn_table *t, uint64_t id);
/* Number of live rows. */
CAIRN_API int cairn_table_count(cairn_table *t, uint64_t *out);
/* Column-batch load, all or nothing, in one transaction (or the caller's): n rows; for column c,
 * data[c] points at n values of its C type (int8_t.. uint64_t, float, double, uint8_t 0/1 for bool,
 * int64_t for timestamp); for fixed bytes:N, n*N bytes; for string and bytes, the concatenated
 * bytes with offsets[c] holding n+1 uint64_t offsets (Arrow's layout). validity[c] (may be NULL:
 * all valid) is a bitmap, bit i (least significant first) set when row i is not null. A NULL
 * data[c] means the column takes its default in every row. *first_id gets the first row's id
 * (the rows get consecutive ids). */
CAIRN_API int cairn_table_load_columns(cairn_table *t, size_t n, const void *const *data,
                                       const uint8_t *const *validity,
                                       const uint64_t *const *offsets, uint64_t *first_id);

/* ---- rows: JSON (what the bindings use) ---- */

/* Insert one JSON row object; *id may be NULL. */
CAIRN_API int cairn_table_insert_json(cairn_table *t, const char *row, uint64_t *id);
/* Insert a JSON array of row objects, all or nothing (constraints checked across the batch and
 * against the table). *ids gets a JSON array of the new ids (caller-owned, cairn_free); may be
 * NULL. */
CAIRN_API int cairn_table_insert_many_json(cairn_table *t, const char *rows, char **ids);
/* Insert or update by primary key: if a live row has the row's primary key, update it with the
 * given columns, else insert. *id gets the row's id. INVALID if the table has no primary key or
 * the row lacks it. */
CAIRN_API int cairn_table_upsert_json(cairn_table *t, const char *row, uint64_t *id);
/* Row `id` as a JSON object (caller-owned, cairn_free). NOTFOUND if absent. */
CAIRN_API int cairn_table_get_json(cairn_table *t, uint64_t id, char **row);
/* Update the columns named in the JSON object `changes`. */
CAIRN_API int cairn_table_update_json(cairn_table *t, uint64_t id, const char *changes);
/* Column-batch load from JSON: an object {"column": [values...], ...}, every list the same
 * length; columns left out take their default. All or nothing. *first_id as load_columns. */
CAIRN_API int cairn_table_load_json(cairn_table *t, const char *columns, uint64_t *first_id);
/* Convert a typed row (ncols values) to a JSON row (caller-owned). */
CAIRN_API int cairn_table_row_to_json(cairn_table *t, const cairn_value *row, char **out);

/* ---- iteration ---- */

/* Cursor over the live rows in id order, from a snapshot taken at open (later writes are not
 * seen). */
CAIRN_API int cairn_table_iter_open(cairn_table_iter **out, cairn_table *t);
/* 0 with *id and *row (ncols values, borrowed until the next call or free), CAIRN_ITEROVER at the
 * end. row may be NULL (ids only). */
CAIRN_API int cairn_table_iter_next(cairn_table_iter *it, uint64_t *id, const cairn_value **row);
/* As iter_next, the row as JSON (borrowed until the next call or free); row may be NULL. */
CAIRN_API int cairn_table_iter_next_json(cairn_table_iter *it, uint64_t *id, const char **row);
CAIRN_API void cairn_table_iter_free(cairn_table_iter *it);

/* ---- transactions, durability, maintenance ---- */

/* begin: TXN if one is open (nested begin). commit/rollback: TXN if none is open. */
CAIRN_API int cairn_table_begin(cairn_table *t);
CAIRN_API int cairn_table_commit(cairn_table *t);
CAIRN_API int cairn_table_rollback(cairn_table *t);
/* 1 inside a transaction, 0 outside, <0 on error. */
CAIRN_API int cairn_table_in_txn(cairn_table *t);
/* Make everything durable and checkpoint the tail into segments (TXN inside a transaction). */
CAIRN_API int cairn_table_sync(cairn_table *t);
/* Rewrite every row group without deleted rows and re-encode; ids are kept (TXN inside a txn). */
CAIRN_API int cairn_table_compact(cairn_table *t);
CAIRN_API int cairn_table_stats(cairn_table *t, struct cairn_table_stats *out);
/* The statistics of cairn_table_stats in the Prometheus text exposition format (version 0.0.4):
 * per field a `# HELP` and a `# TYPE` line, then `cairn_table_<field>{store="<path>"} <value>`
 * (sizes end in _bytes, per-handle counts in _total; the path as opened, with backslash, double
 * quote and line feed escaped). *out is caller-owned (cairn_free). The same errors as
 * cairn_table_stats; CAIRN_INVALID when out is NULL. */
CAIRN_API int cairn_table_metrics(cairn_table *t, char **out);
/* Verify a table directory read-only: every CRC, the manifest, the WAL, and every constraint
 * (PRIMARY KEY / UNIQUE / NOT NULL hold over the live rows). 0 sound, CORRUPT (file and offset, or
 * the violated constraint, in the message), PATH. */
CAIRN_API int cairn_table_check(const char *path);
/* Repair a table directory (closed, or CAIRN_LOCKED while a writer has it open): verify it as
 * cairn_table_check does, then rebuild what is derived from its data: the manifest's copies of
 * every segment's encoding and zone map (what queries skip row groups by), with the committed
 * WAL transactions checkpointed into segments and the manifest replaced atomically; leftover
 * files are removed and the indexes are rebuilt on use. Damaged primary data (a segment's CRC or
 * bounds, ids out of order, a violated constraint, a damaged manifest or WAL) is refused with
 * CAIRN_CORRUPT naming the file and offset, and nothing is rewritten. *out (may be NULL): the
 * number of segment references rebuilt (0: nothing was derived wrongly). Errors: CORRUPT, PATH,
 * LOCKED, VERSION, IO, NOMEM. */
CAIRN_API int cairn_table_repair(const char *path, uint64_t *out);

/* ---- queries (core/src/table/query*.c; docs/queries.md) ----
 *
 * A query is one JSON object, which every binding passes as it is (the idiomatic forms of each
 * language are built on it):
 *   {"where":      WHERE                       optional: every live row
 *    "params":     [value, ...]                values of the `?` of a text WHERE, in order
 *    "columns":    ["name", ...]               projection; "_id" is the row id (u64); default:
 *                                              "_id" then every column in schema order
 *    "order":      ["name", "-name", ...] or [["name", "asc"|"desc"], ...]
 *                                              ties (and no order) go by _id ascending
 *    "limit":      n, "offset": n              non-negative integers (limit 0: no rows)
 *    "aggregates": [{"fn": F, "column": "name", "as": "alias"}, ...]
 *                  F: count (no column: count(*); with one: its non-null values), count_distinct,
 *                  sum, min, max, avg; "as" defaults to "fn(column)" / "count(*)"
 *    "group_by":   ["name", ...]               with aggregates: one result row per group (the
 *                                              group columns, then the aggregates), ordered by the
 *                                              group columns unless "order" names result columns
 *    "format":     "rows" | "columns"}         the result's shape (default "rows")
 * Deleted rows never match. Unknown keys are CAIRN_INVALID.
 *
 * WHERE is one of
 *   - text: `score > ? AND (cat IN (1, 2) OR NOT name STARTS WITH 'x') AND tag IS NOT NULL`
 *       operators = == != <> < <= > >=, [NOT] IN (v, ...), [NOT] BETWEEN a AND b (inclusive),
 *       IS [NOT] NULL, STARTS WITH (string or bytes prefix); AND, OR, NOT, parentheses;
 *       operands `?` or literals as in the schema text (integers, numbers, 'text', x'hex', true,
 *       false, null); keywords case-insensitive;
 *   - a triple ["column", "op", value] or a list of triples and WHERE objects (all must hold);
 *       op: = == eq, != <> ne, < lt, <= le, > gt, >= ge, in (value a list), not in, between
 *       (value [lo, hi]), is null, is not null (no value), prefix / starts with;
 *   - an object: {"$and": [WHERE, ...]}, {"$or": [WHERE, ...]}, {"$not": WHERE}, or the
 *       shorthand {"column": value, "column": {"gte": 21, "lt": 30}, ...} (all must hold; op keys
 *       eq ne lt le gt ge in between prefix is_null (true/false)).
 * Values take the JSON row forms of the top of this file. Comparison is SQL's: a comparison with
 * null is unknown, so it never matches, and NOT of unknown is unknown (`x != 1` is not true for a
 * null x); integers of any width, timestamps and floats compare by exact numeric value; strings and
 * bytes bytewise. A value of the wrong type for its column (a string for an i32) is CAIRN_TYPE; an
 * unknown column is CAIRN_SCHEMA and an unknown operator or a syntax error CAIRN_INVALID, each
 * naming it (with the position in a text WHERE); a wrong number of params is CAIRN_INVALID.
 *
 * Ordering: nulls sort last in ascending and in descending order; NaN sorts above every number.
 * Aggregates ignore nulls. count and count_distinct are integers; sum of integer columns is an
 * exact i64 (u64 for unsigned columns; overflow is CAIRN_RANGE), sum of floats an f64 that depends
 * on the values and their id order only: value k (0-based, in id order) is added into partial sum
 * k mod 8 (each starting at -0.0); the result is ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
 * avg an f64 (that sum, or the exact integer sum, divided by the count); min and max the
 * column's type; sum, avg, min and max of no values are null. sum and avg of bool, string,
 * bytes and timestamp columns are CAIRN_TYPE.
 *
 * Result ("rows"):    {"columns": [{"name": "_id", "type": "u64"}, ...], "rows": [{...}, ...]}
 * Result ("columns"): {"columns": [...], "data": {"name": [values...], ...}, "count": n}
 * (type is the schema's type name; aggregates: "u64" for counts, "f64" for avg and float sums,
 * "i64"/"u64" for integer sums, the column's type for min/max). *out is caller-owned (cairn_free).
 * A query reads a snapshot: it sees every change made before it started (the open transaction's
 * own uncommitted changes included) and none made after. */
CAIRN_API int cairn_table_query_json(cairn_table *t, const char *query, char **out);
/* Number of live rows matching the query's "where"/"params" (other keys are ignored). */
CAIRN_API int cairn_table_count_where_json(cairn_table *t, const char *query, uint64_t *out);
/* Join two tables (they may be the same handle) on equal columns:
 *   {"on": [["left_col", "right_col"], ...],   one or more pairs; nulls never join
 *    "type": "inner" | "left",                 left: unmatched left rows once, right columns null
 *    "where": WHERE, "params": [...],           over the left table
 *    "right_where": WHERE, "right_params": [...],
 *    "columns": ["left.name", "right.score", "left._id", ...]   default: every left then right column
 *    "order", "limit", "offset", "format"}     over the result columns, as in a query
 * Result as cairn_table_query_json, columns named "left.x" / "right.y"; without "order" the rows
 * come in left _id order, then right _id order. */
CAIRN_API int cairn_table_join_json(cairn_table *left, cairn_table *right, const char *query, char **out);

/* ---- indexes (core/src/table/index.c) ----
 * A hash index (value -> ids) and a range index (sorted by value) on one column each. Both follow
 * every write (insert, update, delete, rollback, compact, add_column, reopen); their definitions are
 * stored in the table, so they exist again after reopen. Nulls are not indexed. Lookups answer the
 * same ids with and without an index (without one they scan). */
#define CAIRN_INDEX_HASH 1
#define CAIRN_INDEX_RANGE 2
/* EXISTS if that index exists, SCHEMA for an unknown column, INVALID for a bad kind, TXN inside a
 * transaction, READONLY. */
CAIRN_API int cairn_table_create_index(cairn_table *t, const char *column, int kind);
/* NOTFOUND if there is no such index. */
CAIRN_API int cairn_table_drop_index(cairn_table *t, const char *column, int kind);
/* The indexes as JSON: [{"column": "name", "kind": "hash"|"range"}, ...] (caller-owned). */
CAIRN_API int cairn_table_indexes(cairn_table *t, char **out);
/* Ids (a JSON array, ascending) of the live rows whose `column` equals `value` (a JSON row value;
 * "null" matches nothing). Uses a hash index when there is one. */
CAIRN_API int cairn_table_lookup_json(cairn_table *t, const char *column, const char *value, char **out);
/* Ids (ascending) of the live rows matching every `"column": value` of a JSON object; uses a hash
 * or range index when one exists, and scans otherwise (the same answer). */
CAIRN_API int cairn_table_find_json(cairn_table *t, const char *conditions, char **out);
/* Ids (ascending) of the live rows with lo <= column <= hi (JSON row values; NULL or "null": no
 * bound), a bound made exclusive by CAIRN_RANGE_LO_OPEN / CAIRN_RANGE_HI_OPEN. Uses a range index
 * when there is one and scans otherwise. */
#define CAIRN_RANGE_LO_OPEN 1
#define CAIRN_RANGE_HI_OPEN 2
CAIRN_API int cairn_table_range_find_json(cairn_table *t, const char *column, const char *lo, const char *hi,
                                          int flags, char **out);

/* ---- zero-copy export: the Arrow C data interface (cairn/arrow.h; core/src/table/arrow.c) ----
 * A stream of record batches (struct arrays, one per row group and one for the in-memory tail) of
 * the live rows matching `query` (NULL: every row and column; else a query JSON of which "where",
 * "params" and "columns" apply, "_id" exporting as uint64; with "order", "limit", "offset",
 * "aggregates" or "group_by" the result goes out as one batch). Plain segments go out without a
 * copy and dictionary segments as dictionary-encoded arrays, both pinned until the consumer
 * releases each array. The stream reads a snapshot taken here; it may outlive the handle's
 * writes, not its close (close waits for no stream: release every stream before closing). */
CAIRN_API int cairn_table_export_stream(cairn_table *t, const char *query, struct ArrowArrayStream *out);
/* One column of every live row as one contiguous Arrow array (values copied once into it; type
 * as the stream's). The consumer releases both structs. */
CAIRN_API int cairn_table_export_column(cairn_table *t, const char *column, struct ArrowSchema *schema,
                                        struct ArrowArray *array);
/* The rows of `query` (as export_stream) as Arrow IPC stream bytes (the streaming format: a
 * schema message, record batch messages, an end-of-stream marker), what apache-arrow's
 * tableFromIPC and pyarrow.ipc read. *out is caller-owned (cairn_free). */
CAIRN_API int cairn_table_export_ipc(cairn_table *t, const char *query, void **out, size_t *len);

/* ---- events ---- */
CAIRN_API int cairn_table_subscribe(cairn_table *t, cairn_table_event_fn fn, void *ctx, uint64_t *id);
CAIRN_API int cairn_table_unsubscribe(cairn_table *t, uint64_t id);

/* Snapshots (the same five functions as cairn_kv_snapshot & co.; docs/snapshots.md).
 * A snapshot is a named, read-only, point-in-time copy of the table kept in <dir>/snapshots/:
 * after a checkpoint the segment files are shared with the table (hard links; copies on another
 * file system), MANIFEST and the WAL are copied. Writes after it never reach it, and it never
 * changes the live table.
 * snapshot: name NULL picks a unique one; *out (may be NULL) gets it (caller-owned,
 * cairn_free). EXISTS when the name is taken, INVALID for a name outside [A-Za-z0-9._-]{1,128},
 * TXN inside a transaction, READONLY on a read-only handle.
 * snapshots: a JSON array of {"name", "time" (Unix ms), "bytes"}, oldest first (caller-owned).
 * open_snapshot: a read-only handle on the snapshot (*out owned by the caller; independent of t).
 * drop_snapshot: NOTFOUND when absent.
 * backup: a consistent copy of the table into the directory `dest` (missing or empty) while
 * writers go on; every file is copied; it opens as a normal table. */
CAIRN_API int cairn_table_snapshot(cairn_table *t, const char *name, char **out);
CAIRN_API int cairn_table_snapshots(cairn_table *t, char **out);
CAIRN_API int cairn_table_open_snapshot(cairn_table **out, cairn_table *t, const char *name);
CAIRN_API int cairn_table_drop_snapshot(cairn_table *t, const char *name);
CAIRN_API int cairn_table_backup(cairn_table *t, const char *dest);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_TABLE_H */
