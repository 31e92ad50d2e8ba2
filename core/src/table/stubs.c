/*
 * stubs.c - placeholders for the query, index and export functions of cairn/table.h while they are
 * being written: each answers CAIRN_UNSUPPORTED. A function's stub is deleted in the commit that
 * implements it (this file goes when it is empty).
 */
#include "table/table_internal.h"

#define STUB(name) cairn_err__set(CAIRN_UNSUPPORTED, "%s is not implemented yet", name)

int cairn_table_query_json(cairn_table *t, const char *query, char **out) {
    (void)t, (void)query, (void)out;
    return STUB("cairn_table_query_json");
}
int cairn_table_count_where_json(cairn_table *t, const char *query, uint64_t *out) {
    (void)t, (void)query, (void)out;
    return STUB("cairn_table_count_where_json");
}
int cairn_table_create_index(cairn_table *t, const char *column, int kind) {
    (void)t, (void)column, (void)kind;
    return STUB("cairn_table_create_index");
}
int cairn_table_drop_index(cairn_table *t, const char *column, int kind) {
    (void)t, (void)column, (void)kind;
    return STUB("cairn_table_drop_index");
}
int cairn_table_indexes(cairn_table *t, char **out) {
    (void)t, (void)out;
    return STUB("cairn_table_indexes");
}
int cairn_table_lookup_json(cairn_table *t, const char *column, const char *value, char **out) {
    (void)t, (void)column, (void)value, (void)out;
    return STUB("cairn_table_lookup_json");
}
int cairn_table_find_json(cairn_table *t, const char *conditions, char **out) {
    (void)t, (void)conditions, (void)out;
    return STUB("cairn_table_find_json");
}
int cairn_table_range_find_json(cairn_table *t, const char *column, const char *lo, const char *hi,
                                          int flags, char **out) {
    (void)t, (void)column, (void)lo, (void)hi, (void)flags, (void)out;
    return STUB("cairn_table_range_find_json");
}
int cairn_table_export_ipc(cairn_table *t, const char *query, void **out, size_t *len) {
    (void)t, (void)query, (void)out, (void)len;
    return STUB("cairn_table_export_ipc");
}
