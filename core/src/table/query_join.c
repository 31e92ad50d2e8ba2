/*
 * query_join.c - cairn_table_join_json (cairn/table.h, "queries").
 */
#include "table/query.h"
#include "table/query_res.h"

int cairn_table_join_json(cairn_table *left, cairn_table *right, const char *query, char **out) {
    (void)left, (void)right, (void)query, (void)out;
    return cairn_err__set(CAIRN_UNSUPPORTED, "cairn_table_join_json is not implemented yet");
}
