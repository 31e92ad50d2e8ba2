/* metrics_table.c - cairn_table__path (see metrics.h). It reads the table handle's directory, so
 * it belongs beside the table engine's handle; it is here until it moves there. */
#include "metrics.h"

#include "table/table_internal.h"

const char *cairn_table__path(const cairn_table *t) { return t->dir; }
