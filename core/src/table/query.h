/*
 * query.h - the query engine of the table (internal; not installed). The contract between its parts:
 *
 *   query_expr.c   WHERE in its three forms (text with ?, triples, objects) -> a compiled qexpr;
 *                  the query JSON -> a qspec
 *   query_scan.c   the vectorised scan: live rows in id order, vectors of up to QVEC rows, zone maps
 *                  deciding per segment skip / take all / check, predicates into selection vectors;
 *                  select (projection, order, limit, offset), count_where, cairn_table_query_json
 *   query_agg.c    aggregates, group by and joins over the scan; result JSON in both formats
 *   index.c        hash and range indexes; lookup / find / range_find
 *   arrow.c        the Arrow C data interface and IPC export over the scan
 *
 * Locking: every entry point takes t->mu for the whole call (queries read a consistent snapshot);
 * the internal functions below are called with it held.
 */
#ifndef CAIRN_TABLE_QUERY_H
#define CAIRN_TABLE_QUERY_H

#include "table/table_internal.h"

#define QVEC 2048u /* rows per vector */

/* a compiled WHERE (opaque outside query_expr.c / query_scan.c) */
typedef struct qexpr qexpr;

/* Compile a WHERE (the JSON text of the "where" value: a JSON string holding the text form, an
 * array or an object) with its params (JSON array text or NULL). Errors as cairn/table.h says. */
int cairn_tbl__where_compile(cairn_table *t, const char *where, size_t wlen, const char *params, size_t plen,
                             qexpr **out);
void cairn_tbl__where_free(qexpr *e);

#define QCOL_ID (-1) /* the row id as a column (u64) */

enum { QAGG_COUNT = 1, QAGG_COUNT_DISTINCT, QAGG_SUM, QAGG_MIN, QAGG_MAX, QAGG_AVG };

typedef struct qagg {
    int fn;      /* QAGG_* */
    int col;     /* column index; -2 for count(*) */
    char *as;    /* result name (owned) */
} qagg;

typedef struct qorder {
    int col;     /* column index or QCOL_ID; with aggregates: index into the result columns */
    int desc;
} qorder;

/* a parsed query JSON */
typedef struct qspec {
    qexpr *where;           /* NULL: every live row */
    int *cols;              /* projection: column indexes or QCOL_ID */
    size_t ncols;
    qorder *order;
    size_t norder;
    int has_limit;
    uint64_t limit, offset;
    int *group;             /* group_by column indexes */
    size_t ngroup;
    qagg *aggs;
    size_t naggs;
    int columns_format;     /* "format": "columns" */
} qspec;

int cairn_tbl__qspec_parse(cairn_table *t, const char *json, qspec *out);
void cairn_tbl__qspec_free(qspec *q);

/* One vector of matching rows handed to a scan consumer: `n` rows, ids[i] their ids (ascending
 * within and across vectors), cols[k] the k-th requested column as a colvec of exactly these n
 * rows (already filtered: no selection left to apply). Borrowed for the call. */
typedef struct qchunk {
    size_t n;
    const uint64_t *ids;
    const cairn_colvec *cols;
    size_t ncols;
} qchunk;
/* return 0 to go on, 1 to stop the scan early (not an error), <0 an error that ends the scan */
typedef int (*qchunk_fn)(void *ctx, const qchunk *c);

/* Scan the live rows matching `where` (NULL: all) in id order, handing vectors of the requested
 * columns (column indexes; QCOL_ID allowed) to fn. */
int cairn_tbl__scan(cairn_table *t, const qexpr *where, const int *cols, size_t ncols, qchunk_fn fn, void *ctx);

/* query_agg.c: the aggregate / group-by form of a query (q->naggs > 0), appending the result
 * JSON to out */
int cairn_tbl__aggregate(cairn_table *t, const qspec *q, tbuf *out);

#endif /* CAIRN_TABLE_QUERY_H */
