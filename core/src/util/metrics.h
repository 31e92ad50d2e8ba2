/* metrics.h - the path each engine handle was opened on, for the `store` label of the Prometheus
 * metrics (metrics.c). Each engine defines its accessor next to its handle; the string is owned
 * by the handle (valid until close). */
#ifndef CAIRN_METRICS_H
#define CAIRN_METRICS_H

#include "cairn.h"

const char *cairn_kv__path(const cairn_kv *kv);
const char *cairn_blob__path(const cairn_blob *b);
const char *cairn_table__path(const cairn_table *t);
const char *cairn_repo__path(const cairn_repo *r);

#endif
