/*
 * stubs.c - placeholders for the query, index and export functions of cairn/table.h while they are
 * being written: each answers CAIRN_UNSUPPORTED. A function's stub is deleted in the commit that
 * implements it (this file goes when it is empty).
 */
#include "table/table_internal.h"

#define STUB(name) cairn_err__set(CAIRN_UNSUPPORTED, "%s is not implemented yet", name)

