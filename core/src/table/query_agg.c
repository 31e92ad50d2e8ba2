/*
 * query_agg.c - aggregates and group by over the scan (cairn/table.h, "queries"); result JSON in
 * both formats. Joins live in query_join.c.
 */
#include "table/query.h"

int cairn_tbl__aggregate(cairn_table *t, const qspec *q, tbuf *out) {
    (void)t, (void)q, (void)out;
    return cairn_err__set(CAIRN_UNSUPPORTED, "aggregates are not implemented yet");
}

int cairn_table_join_json(cairn_table *left, cairn_table *right, const char *query, char **out) {
    (void)left, (void)right, (void)query, (void)out;
    return cairn_err__set(CAIRN_UNSUPPORTED, "cairn_table_join_json is not implemented yet");
}
