/*
 * query_res.h - a result set of the aggregate and join forms of a query (internal; query_agg.c,
 * query_join.c): typed rows built in memory, then ordered (stable), cut by offset/limit and written
 * as the result JSON of cairn/table.h in either format.
 */
#ifndef CAIRN_TABLE_QUERY_RES_H
#define CAIRN_TABLE_QUERY_RES_H

#include "table/query.h"

typedef struct qres {
    size_t ncols;
    char **names;        /* owned */
    tcol *types;         /* type and fixed_len of each result column */
    cairn_value *v;      /* nrows * ncols; string/bytes values hold an offset into heap while
                            building (qres_bytes) and are resolved by qres_emit */
    size_t nrows, cap;
    tbuf heap;
    size_t nshow;        /* the first nshow columns are written (the rest only order) */
} qres;

int cairn_tbl__qres_init(qres *r, size_t ncols);
void cairn_tbl__qres_free(qres *r);
/* name result column k (copied) with the type of `type` */
int cairn_tbl__qres_col(qres *r, size_t k, const char *name, size_t nlen, int type, uint32_t fixed_len);
/* append a row (zeroed; every value null) and return it, NULL when out of memory */
cairn_value *cairn_tbl__qres_row(qres *r);
/* set *v to a copy of bytes (string, bytes, bytes:N) */
int cairn_tbl__qres_bytes(qres *r, cairn_value *v, const void *bytes, size_t len);
/* Order the rows by ord[0..nord) (columns of the result; nulls last either way, NaN above every
 * number; ties keep the build order), skip `offset`, keep `limit` (has_limit), append the JSON. */
int cairn_tbl__qres_emit(qres *r, const qorder *ord, size_t nord, int has_limit, uint64_t limit, uint64_t offset,
                         int columns_format, tbuf *out);
/* compare two values of one column (c's type): <0, 0, >0, with NaN above every number (nulls are
 * the caller's) */
int cairn_tbl__qval_cmp(const tcol *c, const cairn_value *a, const cairn_value *b);

/* Every live row in id order without a WHERE, read from the row groups (overlays applied) and
 * the tail: fn gets vectors of up to QVEC rows of the columns cols[0..ncols) (QCOL_ID allowed). */
int cairn_tbl__walk(cairn_table *t, const int *cols, size_t ncols, int (*fn)(void *ctx, const cairn_colvec *cols, size_t n),
                    void *ctx);

#endif /* CAIRN_TABLE_QUERY_RES_H */
