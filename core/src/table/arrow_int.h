/*
 * arrow_int.h - between the Arrow export (arrow.c) and the IPC writer (arrow_ipc.c); internal.
 */
#ifndef CAIRN_TABLE_ARROW_INT_H
#define CAIRN_TABLE_ARROW_INT_H

#include "table/query.h"

/* cairn_table_export_stream, with every column plain (no dictionary-encoded arrays) when
 * no_dict is set: what the IPC writer takes. */
int cairn_tbl__export_stream(cairn_table *t, const char *query, int no_dict, struct ArrowArrayStream *out);

#endif /* CAIRN_TABLE_ARROW_INT_H */
