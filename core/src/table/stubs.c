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
