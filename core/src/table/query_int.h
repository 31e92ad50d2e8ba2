/*
 * query_int.h - what query_expr.c and query_scan.c share beyond query.h (internal): the compiled
 * WHERE tree, its evaluation over a vector of rows (SQL's three-valued logic as a pair of byte
 * arrays: t[i] = 1 where the row is true, f[i] = 1 where it is false, neither where unknown), and
 * its verdict from zone maps.
 */
#ifndef CAIRN_TABLE_QUERY_INT_H
#define CAIRN_TABLE_QUERY_INT_H

#include "table/query.h"

enum { QE_AND = 1, QE_OR, QE_NOT, QE_TRUE, QE_FALSE, QE_UNKNOWN, QE_LEAF };

/* leaf kinds: the constant is converted once to the column's domain */
enum {
    QL_INT = 1, /* signed integers and timestamps: ilo <= v <= ihi (clamped to the type) */
    QL_UINT,    /* unsigned integers, bool, _id: ulo <= v <= uhi */
    QL_FLT,     /* f32/f64: flo <= v <= fhi, or NaN when nan is set */
    QL_BYTES,   /* string/bytes/bytes:N: bytewise range, bounds optional and open or closed */
    QL_PREFIX,  /* string/bytes/bytes:N starting with lo */
    QL_ISNULL,  /* true for null, false otherwise (never unknown) */
    QL_EMPTY,   /* false for every value, unknown for null */
    QL_FULL     /* true for every value, unknown for null */
};

struct qexpr {
    int kind;
    int lk;          /* QL_* of a leaf */
    int col;         /* leaf column (QCOL_ID: the row id) */
    int needf;       /* the false array is needed (under a NOT) */
    int idx;         /* node number (scratch buffers of the evaluation) */
    qexpr **kid;
    size_t nkid;
    int64_t ilo, ihi;
    uint64_t ulo, uhi;
    double flo, fhi;
    int nan;
    uint8_t *lo, *hi;
    size_t lolen, hilen;
    int has_lo, has_hi, lo_open, hi_open;
    size_t nnodes;   /* root only: nodes in the tree */
};

/* the rows of one vector of one column: data at the vector's first row (fixed width), or the
 * string/bytes offsets at it (into data); valid: LSB-first validity bitmap starting at the
 * vector's first row (NULL: all valid) */
typedef struct qvcol {
    const void *data;
    const uint64_t *offsets;
    const uint8_t *valid;
    int type;
    uint32_t fixed_len;
} qvcol;

/* scratch for one evaluation: 2 * QVEC bytes per node */
typedef struct qeval {
    uint8_t *buf;
} qeval;
int cairn_tbl__qeval_init(const qexpr *e, qeval *ev);
void cairn_tbl__qeval_free(qeval *ev);
/* Evaluate e over n (<= QVEC) rows: cols[c] for every column the tree names (cols indexed by
 * column; idc the row ids as a u64 column). Writes t[0..n) (and f when e->needf). */
void cairn_tbl__qeval(const qexpr *e, const qvcol *cols, const qvcol *idc, size_t n, uint8_t *t, uint8_t *f,
                      qeval *ev);

/* The evaluation with the leaves supplied by the caller: leaf writes t[0..n) (true: the row's value
 * matches and is not null) and, when e->needf, f[0..n) (false: not null and no match) of one leaf
 * (e.g. from encoded data). */
typedef void (*qleaf_fn)(void *ctx, const qexpr *leaf, size_t n, uint8_t *t, uint8_t *f);
void cairn_tbl__qeval_with(const qexpr *e, qleaf_fn leaf, void *ctx, size_t n, uint8_t *t, uint8_t *f, qeval *ev);
/* m[i] = 1 where value i of vc (n values, vc->valid not looked at) matches leaf e (not QL_ISNULL);
 * fixed-width values may be unaligned */
void cairn_tbl__leaf_match(const qexpr *e, const qvcol *vc, size_t n, uint8_t *m);
/* a leaf's t and f from its matches in t and the validity bitmap vb (NULL: no nulls) of its n
 * rows (QL_ISNULL: from vb alone) */
void cairn_tbl__leaf_tf(const qexpr *e, const uint8_t *vb, size_t n, uint8_t *t, uint8_t *f);

/* What the zone maps allow: can any row be true, false, unknown. */
typedef struct qzv {
    int t, f, u;
} qzv;
/* zones[c]: the zone of column c's segment (NULL: unknown); idlo/idhi the ids' range */
qzv cairn_tbl__qzone(const qexpr *e, const cairn_zone *const *zones, uint64_t idlo, uint64_t idhi);
/* mark cols[c] = 1 for every column the tree names; *uses_id for the id */
void cairn_tbl__qcols(const qexpr *e, uint8_t *cols, int *uses_id);
/* compile only the "where" and "params" of a query JSON (other keys are not looked at) */
int cairn_tbl__where_of_query(cairn_table *t, const char *json, qexpr **out);
/* decode a zone map stored in a segref (72 bytes) */
void cairn_tbl__zone_get(const uint8_t *p, cairn_zone *z);

#endif /* CAIRN_TABLE_QUERY_INT_H */
