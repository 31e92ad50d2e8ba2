/* api.c - small public entry points of the substrate: struct layouts for bindings, the test
 * clock, and the stats size rule every engine follows. */
#include "util.h"

#include <stddef.h>

/* ---- stats size rule ---- */

int cairn_stats__check(uint32_t size, size_t full, const char *fn) {
    (void)full;
    if (size != 0 && size < sizeof(uint32_t))
        return cairn_err__set(CAIRN_INVALID, "%s: stats size %u is smaller than its size field", fn, size);
    return 0;
}

void cairn_stats__copy(void *dst, const void *src, size_t full) {
    uint32_t want, n;
    memcpy(&want, dst, sizeof want);
    n = (want == 0 || want > full) ? (uint32_t)full : want;
    memcpy(dst, src, n);
    memcpy(dst, &n, sizeof n); /* every stats struct starts with its uint32_t size */
}

/* ---- layouts ---- */

typedef struct layout_row {
    const char *type, *field;
    size_t offset, size;
} layout_row;

#define ROW(T, F) {#T, #F, offsetof(T, F), sizeof(((T *)0)->F)}
#define SROW(T, F) {#T, #F, offsetof(struct T, F), sizeof(((struct T *)0)->F)}
#define TYPE(T) {#T, NULL, 0, sizeof(T)}
#define STYPE(T) {#T, NULL, 0, sizeof(struct T)}

static const layout_row g_layout[] = {
    TYPE(cairn_kv_options),
    ROW(cairn_kv_options, version), ROW(cairn_kv_options, create), ROW(cairn_kv_options, read_only),
    ROW(cairn_kv_options, sync), ROW(cairn_kv_options, max_file_size), ROW(cairn_kv_options, lock_timeout_ms),
    STYPE(cairn_kv_stats),
    SROW(cairn_kv_stats, size), SROW(cairn_kv_stats, keys), SROW(cairn_kv_stats, data_files),
    SROW(cairn_kv_stats, disk_bytes), SROW(cairn_kv_stats, live_bytes), SROW(cairn_kv_stats, dead_bytes),
    SROW(cairn_kv_stats, keydir_bytes), SROW(cairn_kv_stats, seq), SROW(cairn_kv_stats, compactions),
    SROW(cairn_kv_stats, in_txn),
    TYPE(cairn_blob_options),
    ROW(cairn_blob_options, version), ROW(cairn_blob_options, create), ROW(cairn_blob_options, read_only),
    ROW(cairn_blob_options, sync), ROW(cairn_blob_options, lock_timeout_ms),
    STYPE(cairn_blob_stats),
    SROW(cairn_blob_stats, size), SROW(cairn_blob_stats, entries), SROW(cairn_blob_stats, live_bytes),
    SROW(cairn_blob_stats, free_bytes), SROW(cairn_blob_stats, free_entries), SROW(cairn_blob_stats, file_size),
    SROW(cairn_blob_stats, wal_bytes), SROW(cairn_blob_stats, next_key), SROW(cairn_blob_stats, in_txn),
    TYPE(cairn_table_options),
    ROW(cairn_table_options, version), ROW(cairn_table_options, create), ROW(cairn_table_options, read_only),
    ROW(cairn_table_options, sync), ROW(cairn_table_options, lock_timeout_ms), ROW(cairn_table_options, schema),
    ROW(cairn_table_options, checkpoint_rows),
    STYPE(cairn_table_stats),
    SROW(cairn_table_stats, size), SROW(cairn_table_stats, rows), SROW(cairn_table_stats, deleted_rows),
    SROW(cairn_table_stats, next_id), SROW(cairn_table_stats, row_groups), SROW(cairn_table_stats, segments),
    SROW(cairn_table_stats, tail_rows), SROW(cairn_table_stats, disk_bytes), SROW(cairn_table_stats, wal_bytes),
    SROW(cairn_table_stats, checkpoints), SROW(cairn_table_stats, columns), SROW(cairn_table_stats, in_txn),
    TYPE(cairn_repo_options),
    ROW(cairn_repo_options, version), ROW(cairn_repo_options, create), ROW(cairn_repo_options, read_only),
    ROW(cairn_repo_options, sync), ROW(cairn_repo_options, lock_timeout_ms), ROW(cairn_repo_options, cache_bytes),
    STYPE(cairn_repo_stats),
    SROW(cairn_repo_stats, size), SROW(cairn_repo_stats, tenants), SROW(cairn_repo_stats, objects),
    SROW(cairn_repo_stats, disk_bytes),
};

int cairn_layout(const char *type, const char *field, size_t *offset, size_t *size) {
    size_t i;
    if (!type) return cairn_err__set(CAIRN_INVALID, "cairn_layout: type is NULL");
    for (i = 0; i < sizeof g_layout / sizeof g_layout[0]; i++) {
        const layout_row *r = &g_layout[i];
        if (strcmp(r->type, type) != 0) continue;
        if ((field == NULL) != (r->field == NULL)) continue;
        if (field && strcmp(r->field, field) != 0) continue;
        if (offset) *offset = r->offset;
        if (size) *size = r->size;
        return 0;
    }
    return CAIRN_NOTFOUND;
}

/* ---- the test clock ---- */

void cairn_testing_set_clock(int64_t unix_ms) { cairn_time__set_fake(unix_ms); }
