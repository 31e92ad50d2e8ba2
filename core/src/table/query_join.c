/*
 * query_join.c - cairn_table_join_json (cairn/table.h, "queries"): an inner or left hash join on
 * one or more pairs of equal columns.
 *
 * The right table is read first (its "right_where", the scan; or every live row, cairn_tbl__walk):
 * each row's key (the "on" columns of the right side, normalised so that equal numbers of any
 * integer width, timestamps and integral floats meet, strings and bytes bytewise) goes into a hash
 * map of keys to chains of right rows in id order, the row's projected values into a result set.
 * Then the left table is read in id order and each row probes the map; a row with a null (or NaN)
 * in its key matches nothing. Output rows come in left id order, then right id order, unless
 * "order" says otherwise (a stable sort over the result columns; an order column that is not
 * projected is carried as a hidden column).
 * Locking: both handles for the whole call, in address order; the same handle once.
 */
#include "table/query.h"
#include "table/query_res.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- a little JSON ---- */

static int jbad(size_t pos, const char *what) {
    return cairn_err__set(CAIRN_INVALID, "join query: %s at byte %zu", what, pos);
}

static int jskip(const char *s, size_t n, size_t *pos, int depth) {
    size_t i;
    cairn_tbl__json_ws(s, n, pos);
    i = *pos;
    if (depth > 64) return jbad(i, "nested too deep");
    if (i >= n) return jbad(i, "expected a value");
    if (s[i] == '"') {
        tbuf tmp = {0, 0, 0};
        int rc = cairn_tbl__json_string(s, n, pos, &tmp);
        free(tmp.p);
        return rc;
    }
    if (s[i] == '{' || s[i] == '[') {
        char close = s[i] == '{' ? '}' : ']';
        int obj = s[i] == '{', rc;
        *pos = i + 1;
        cairn_tbl__json_ws(s, n, pos);
        if (*pos < n && s[*pos] == close) {
            (*pos)++;
            return 0;
        }
        for (;;) {
            if (obj) {
                if ((rc = jskip(s, n, pos, depth + 1)) != 0) return rc;
                cairn_tbl__json_ws(s, n, pos);
                if (*pos >= n || s[*pos] != ':') return jbad(*pos, "expected ':'");
                (*pos)++;
            }
            if ((rc = jskip(s, n, pos, depth + 1)) != 0) return rc;
            cairn_tbl__json_ws(s, n, pos);
            if (*pos < n && s[*pos] == ',') {
                (*pos)++;
                continue;
            }
            if (*pos < n && s[*pos] == close) {
                (*pos)++;
                return 0;
            }
            return jbad(*pos, "expected ',' or a closing bracket");
        }
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' && s[i] != '\t' &&
           s[i] != '\r')
        i++;
    if (i == *pos) return jbad(i, "expected a value");
    *pos = i;
    return 0;
}

/* a JSON string at *pos into b (NUL-terminated) */
static int jstr(const char *s, size_t n, size_t *pos, tbuf *b) {
    int rc;
    b->n = 0;
    cairn_tbl__json_ws(s, n, pos);
    if ((rc = cairn_tbl__json_string(s, n, pos, b)) != 0) return rc;
    if (tbuf_put(b, "", 1)) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    b->n--;
    return 0;
}

/* a non-negative JSON integer */
static int juint(const char *s, size_t n, size_t *pos, const char *key, uint64_t *out) {
    size_t i;
    uint64_t v = 0;
    cairn_tbl__json_ws(s, n, pos);
    i = *pos;
    if (i >= n || s[i] < '0' || s[i] > '9') return cairn_err__set(CAIRN_INVALID, "join query: %s must be a non-negative integer", key);
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (v > (UINT64_MAX - 9) / 10) return cairn_err__set(CAIRN_INVALID, "join query: %s is too large", key);
        v = v * 10 + (uint64_t)(s[i++] - '0');
    }
    if (i < n && (s[i] == '.' || s[i] == 'e' || s[i] == 'E'))
        return cairn_err__set(CAIRN_INVALID, "join query: %s must be a non-negative integer", key);
    *pos = i;
    *out = v;
    return 0;
}

static int jexpect(const char *s, size_t n, size_t *pos, char c) {
    cairn_tbl__json_ws(s, n, pos);
    if (*pos >= n || s[*pos] != c) {
        char what[32];
        snprintf(what, sizeof what, "expected '%c'", c);
        return jbad(*pos, what);
    }
    (*pos)++;
    return 0;
}

/* after an element: 1 on ',', 0 on the closing bracket */
static int jnext(const char *s, size_t n, size_t *pos, char close) {
    cairn_tbl__json_ws(s, n, pos);
    if (*pos < n && s[*pos] == ',') {
        (*pos)++;
        return 1;
    }
    if (*pos < n && s[*pos] == close) {
        (*pos)++;
        return 0;
    }
    return jbad(*pos, "expected ',' or a closing bracket");
}

static int jempty(const char *s, size_t n, size_t *pos, char close) {
    cairn_tbl__json_ws(s, n, pos);
    if (*pos < n && s[*pos] == close) {
        (*pos)++;
        return 1;
    }
    return 0;
}

/* ---- the join ---- */

static const tcol id_col = {"_id", CAIRN_TYPE_U64, 0, 0, 0, 0, 0, {0, {0}}, NULL, 8};

/* one side's needs: the columns read (on columns first), and which of them are projected */
typedef struct jside {
    cairn_table *t;
    int cols[2 * TBL_COLS_MAX + 8];
    const tcol *ccol[2 * TBL_COLS_MAX + 8];
    size_t ncols;
    size_t non;            /* the on columns are cols[0..non) */
} jside;

static int side_col(jside *s, int col) {
    size_t k;
    for (k = s->non; k < s->ncols; k++)
        if (s->cols[k] == col) return (int)k;
    if (s->ncols >= sizeof s->cols / sizeof s->cols[0]) return cairn_err__set(CAIRN_INVALID, "join query: too many columns");
    s->cols[s->ncols] = col;
    s->ccol[s->ncols] = col == QCOL_ID ? &id_col : &s->t->s.c[col];
    return (int)s->ncols++;
}

static int find_col(cairn_table *t, const char *name, int *col) {
    size_t i;
    if (!strcmp(name, "_id")) {
        *col = QCOL_ID;
        return 0;
    }
    for (i = 0; i < t->s.n; i++)
        if (!strcmp(t->s.c[i].name, name)) {
            *col = (int)i;
            return 0;
        }
    return -1;
}

/* result column: side (0 left, 1 right) and index into that side's columns */
typedef struct jrcol {
    int side;
    size_t in;
} jrcol;

typedef struct jctx {
    jside s[2];
    int left_join;
    jrcol *rc;
    size_t nrc;
    qres res;          /* the output */
    qres right;        /* the right rows' values (every right column read, by side index) */
    /* right keys: key index -> first/last right row, right row -> next */
    struct {
        uint32_t *slot;
        size_t cap;
        uint64_t *hash;
        size_t *koff;
        uint32_t *klen;
        size_t n, ecap;
        tbuf keys;
    } km;
    size_t *head, *tail;   /* per key: right row + 1 */
    size_t *next;          /* per right row: next right row + 1 */
    size_t nnext;
    tbuf key;
} jctx;

enum { KT_NULL = 0, KT_INT = 1, KT_NEG = 2, KT_FLT = 3, KT_BOOL = 4, KT_BYTES = 5 };

static int kclass(int type) {
    switch (type) {
    case CAIRN_TYPE_F32: case CAIRN_TYPE_F64: case CAIRN_TYPE_I8: case CAIRN_TYPE_I16: case CAIRN_TYPE_I32:
    case CAIRN_TYPE_I64: case CAIRN_TYPE_TIMESTAMP: case CAIRN_TYPE_U8: case CAIRN_TYPE_U16: case CAIRN_TYPE_U32:
    case CAIRN_TYPE_U64:
        return 1;
    case CAIRN_TYPE_BOOL: return 2;
    default: return 3;
    }
}

static int is_uns(int type) {
    return type == CAIRN_TYPE_U8 || type == CAIRN_TYPE_U16 || type == CAIRN_TYPE_U32 || type == CAIRN_TYPE_U64;
}

/* append the join key of one value; 1 if it can never match (null, NaN) */
static int key_add(tbuf *b, const tcol *c, const cairn_value *v) {
    uint8_t tag;
    if (v->is_null) return 1;
    switch (c->type) {
    case CAIRN_TYPE_F32: case CAIRN_TYPE_F64: {
        double d = v->v.f;
        if (isnan(d)) return 1;
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 18446744073709551616.0) {
            if (d >= 0) {
                uint64_t u = (uint64_t)d;
                tag = KT_INT;
                if (tbuf_put(b, &tag, 1) || tbuf_put(b, &u, 8)) return CAIRN_NOMEM;
            } else {
                int64_t i = (int64_t)d;
                tag = KT_NEG;
                if (tbuf_put(b, &tag, 1) || tbuf_put(b, &i, 8)) return CAIRN_NOMEM;
            }
            return 0;
        }
        tag = KT_FLT;
        return tbuf_put(b, &tag, 1) || tbuf_put(b, &d, 8) ? CAIRN_NOMEM : 0;
    }
    case CAIRN_TYPE_BOOL: {
        uint8_t x = v->v.b != 0;
        tag = KT_BOOL;
        return tbuf_put(b, &tag, 1) || tbuf_put(b, &x, 1) ? CAIRN_NOMEM : 0;
    }
    case CAIRN_TYPE_FIXED: case CAIRN_TYPE_STRING: case CAIRN_TYPE_BYTES: {
        uint32_t l = (uint32_t)v->v.s.len;
        tag = KT_BYTES;
        return tbuf_put(b, &tag, 1) || tbuf_put(b, &l, 4) || tbuf_put(b, v->v.s.bytes, v->v.s.len) ? CAIRN_NOMEM : 0;
    }
    default:
        if (is_uns(c->type) || v->v.i >= 0) {
            tag = KT_INT;
            return tbuf_put(b, &tag, 1) || tbuf_put(b, &v->v.u, 8) ? CAIRN_NOMEM : 0;
        }
        tag = KT_NEG;
        return tbuf_put(b, &tag, 1) || tbuf_put(b, &v->v.i, 8) ? CAIRN_NOMEM : 0;
    }
}

static uint64_t khash(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

/* the key of row i of a chunk (side s) into x->key; 1: never matches */
static int row_key(jctx *x, const jside *s, const cairn_colvec *cols, size_t i) {
    size_t k;
    x->key.n = 0;
    for (k = 0; k < s->non; k++) {
        cairn_value v;
        int r;
        cairn_tbl__colvec_get(&cols[k], s->ccol[k], i, &v);
        if ((r = key_add(&x->key, s->ccol[k], &v)) != 0) return r;
    }
    return 0;
}

/* find (insert: add when absent) key index of x->key; -1 absent */
static long km_find(jctx *x, int insert) {
    const uint8_t *k = x->key.p;
    size_t len = x->key.n, j;
    uint64_t h = khash(k, len);
    if (insert && (x->km.n + 1) * 2 > x->km.cap) {
        size_t nc = x->km.cap ? x->km.cap * 2 : 64, i;
        uint32_t *ns = (uint32_t *)calloc(nc, sizeof *ns);
        if (!ns) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        for (i = 0; i < x->km.n; i++) {
            size_t p = (size_t)x->km.hash[i] & (nc - 1);
            while (ns[p]) p = (p + 1) & (nc - 1);
            ns[p] = (uint32_t)(i + 1);
        }
        free(x->km.slot);
        x->km.slot = ns;
        x->km.cap = nc;
    }
    if (!x->km.cap) return -1;
    j = (size_t)h & (x->km.cap - 1);
    while (x->km.slot[j]) {
        size_t e = x->km.slot[j] - 1;
        if (x->km.hash[e] == h && x->km.klen[e] == len && !memcmp(x->km.keys.p + x->km.koff[e], k, len)) return (long)e;
        j = (j + 1) & (x->km.cap - 1);
    }
    if (!insert) return -1;
    if (x->km.n == x->km.ecap) {
        size_t nc = x->km.ecap ? x->km.ecap * 2 : 64;
        void *p;
        if (!(p = realloc(x->km.hash, nc * sizeof(uint64_t)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        x->km.hash = (uint64_t *)p;
        if (!(p = realloc(x->km.koff, nc * sizeof(size_t)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        x->km.koff = (size_t *)p;
        if (!(p = realloc(x->km.klen, nc * sizeof(uint32_t)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        x->km.klen = (uint32_t *)p;
        if (!(p = realloc(x->head, nc * sizeof(size_t)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        x->head = (size_t *)p;
        if (!(p = realloc(x->tail, nc * sizeof(size_t)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        x->tail = (size_t *)p;
        x->km.ecap = nc;
    }
    x->km.hash[x->km.n] = h;
    x->km.koff[x->km.n] = x->km.keys.n;
    x->km.klen[x->km.n] = (uint32_t)len;
    x->head[x->km.n] = x->tail[x->km.n] = 0;
    if (tbuf_put(&x->km.keys, k, len)) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    x->km.slot[j] = (uint32_t)(x->km.n + 1);
    return (long)x->km.n++;
}

/* a value of a chunk into a result row cell (bytes copied into r's heap) */
static int cell(qres *r, cairn_value *dst, const cairn_colvec *v, const tcol *c, size_t i) {
    cairn_value cv;
    cairn_tbl__colvec_get(v, c, i, &cv);
    if (!cv.is_null && (c->type == CAIRN_TYPE_FIXED || !c->w)) return cairn_tbl__qres_bytes(r, dst, cv.v.s.bytes, cv.v.s.len);
    *dst = cv;
    return 0;
}

static int right_fn(void *ctx, const cairn_colvec *cols, size_t n) {
    jctx *x = (jctx *)ctx;
    const jside *s = &x->s[1];
    size_t i, k;
    int rc;
    for (i = 0; i < n; i++) {
        long e;
        size_t row;
        cairn_value *rv;
        if ((rc = row_key(x, s, cols, i)) != 0) {
            if (rc < 0) return rc;
            continue; /* a null key: never joins; a left join shows no unmatched right rows */
        }
        if ((e = km_find(x, 1)) < 0) return (int)e;
        if (!(rv = cairn_tbl__qres_row(&x->right))) return CAIRN_NOMEM;
        row = x->right.nrows - 1;
        for (k = 0; k < s->ncols; k++)
            if ((rc = cell(&x->right, &rv[k], &cols[k], s->ccol[k], i)) != 0) return rc;
        if (row >= x->nnext) {
            size_t nc = x->nnext ? x->nnext * 2 : 64;
            size_t *nn = (size_t *)realloc(x->next, nc * sizeof *nn);
            if (!nn) return cairn_err__set(CAIRN_NOMEM, "out of memory");
            x->next = nn;
            x->nnext = nc;
        }
        x->next[row] = 0;
        if (x->tail[e]) x->next[x->tail[e] - 1] = row + 1;
        else x->head[e] = row + 1;
        x->tail[e] = row + 1;
    }
    return 0;
}

static int left_fn(void *ctx, const cairn_colvec *cols, size_t n) {
    jctx *x = (jctx *)ctx;
    const jside *s = &x->s[0];
    size_t i, j;
    int rc;
    for (i = 0; i < n; i++) {
        long e = -1;
        size_t r;
        if ((rc = row_key(x, s, cols, i)) < 0) return rc;
        if (rc == 0) e = km_find(x, 0);
        if (e < 0 && !x->left_join) continue;
        r = e < 0 ? 0 : x->head[e];
        do {
            cairn_value *out = cairn_tbl__qres_row(&x->res);
            if (!out) return CAIRN_NOMEM;
            for (j = 0; j < x->nrc; j++) {
                const jrcol *c = &x->rc[j];
                if (c->side == 0) {
                    if ((rc = cell(&x->res, &out[j], &cols[c->in], s->ccol[c->in], i)) != 0) return rc;
                } else if (r) {
                    const cairn_value *rv = &x->right.v[(r - 1) * x->right.ncols + c->in];
                    const tcol *tc = x->s[1].ccol[c->in];
                    if (!rv->is_null && (tc->type == CAIRN_TYPE_FIXED || !tc->w)) {
                        if ((rc = cairn_tbl__qres_bytes(&x->res, &out[j], x->right.heap.p + (uintptr_t)rv->v.s.bytes,
                                                        rv->v.s.len)) != 0)
                            return rc;
                    } else {
                        out[j] = *rv;
                    }
                }
            }
            r = r ? x->next[r - 1] : 0;
        } while (r);
    }
    return 0;
}

/* the scan hands qchunks; adapt them to the (cols, n) callbacks */
typedef struct scan_adapt {
    int (*fn)(void *, const cairn_colvec *, size_t);
    void *ctx;
} scan_adapt;

static int adapt_fn(void *ctx, const qchunk *c) {
    scan_adapt *a = (scan_adapt *)ctx;
    return a->fn(a->ctx, c->cols, c->n);
}

static int side_rows(cairn_table *t, const char *q, size_t wpos, size_t wlen, size_t ppos, size_t plen, jside *s,
                     int (*fn)(void *, const cairn_colvec *, size_t), jctx *x) {
    qexpr *w = NULL;
    scan_adapt a;
    int rc;
    if (!wlen) return cairn_tbl__walk(t, s->cols, s->ncols, fn, x);
    if ((rc = cairn_tbl__where_compile(t, q + wpos, wlen, plen ? q + ppos : NULL, plen, &w)) != 0) return rc;
    a.fn = fn;
    a.ctx = x;
    rc = cairn_tbl__scan(t, w, s->cols, s->ncols, adapt_fn, &a);
    cairn_tbl__where_free(w);
    return rc;
}

typedef struct jcolname {
    int side;
    int col;
    char *name; /* "left.x" (owned) */
} jcolname;

/* "left.x" / "right.y" -> side and column */
static int parse_ref(jctx *x, const char *name, int *side, int *col) {
    const char *rest;
    if (!strncmp(name, "left.", 5)) *side = 0, rest = name + 5;
    else if (!strncmp(name, "right.", 6)) *side = 1, rest = name + 6;
    else return cairn_err__set(CAIRN_SCHEMA, "join: column %s: not left.<column> or right.<column>", name);
    if (find_col(x->s[*side].t, rest, col)) return cairn_err__set(CAIRN_SCHEMA, "join: unknown column %s", name);
    return 0;
}

static int lock2(cairn_table *a, cairn_table *b) {
    if (a == b) return pthread_mutex_lock(&a->mu);
    if ((uintptr_t)a < (uintptr_t)b) {
        pthread_mutex_lock(&a->mu);
        return pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_lock(&b->mu);
    return pthread_mutex_lock(&a->mu);
}

static void unlock2(cairn_table *a, cairn_table *b) {
    pthread_mutex_unlock(&a->mu);
    if (a != b) pthread_mutex_unlock(&b->mu);
}

static int join_locked(cairn_table *left, cairn_table *right, const char *q, char **out) {
    size_t n = strlen(q), pos = 0;
    size_t wpos = 0, wlen = 0, ppos = 0, plen = 0, rwpos = 0, rwlen = 0, rppos = 0, rplen = 0;
    jctx x;
    jcolname *names = NULL;
    size_t nnames = 0, capnames = 0, k, nproj = 0;
    qorder *ord = NULL;
    size_t nord = 0, capord = 0;
    struct {
        char *name;
        int desc;
    } *oreq = NULL;
    size_t noreq = 0;
    int has_on = 0, has_cols = 0, has_limit = 0, colfmt = 0, rc = 0;
    uint64_t limit = 0, offset = 0;
    tbuf key = {0, 0, 0}, str = {0, 0, 0};
    tbuf o = {0, 0, 0};
    memset(&x, 0, sizeof x);
    x.s[0].t = left;
    x.s[1].t = right;
    if ((rc = jexpect(q, n, &pos, '{')) != 0) goto out;
    if (!jempty(q, n, &pos, '}'))
        for (;;) {
            if ((rc = jstr(q, n, &pos, &key)) != 0) goto out;
            if ((rc = jexpect(q, n, &pos, ':')) != 0) goto out;
            cairn_tbl__json_ws(q, n, &pos);
            if (!strcmp((char *)key.p, "on")) {
                has_on = 1;
                if ((rc = jexpect(q, n, &pos, '[')) != 0) goto out;
                if (jempty(q, n, &pos, ']')) {
                    rc = cairn_err__set(CAIRN_INVALID, "join: \"on\" needs at least one pair of columns");
                    goto out;
                }
                for (;;) {
                    int lc, rcol;
                    if ((rc = jexpect(q, n, &pos, '[')) != 0 || (rc = jstr(q, n, &pos, &str)) != 0) goto out;
                    if (find_col(left, (char *)str.p, &lc)) {
                        rc = cairn_err__set(CAIRN_SCHEMA, "join: unknown left column %s", (char *)str.p);
                        goto out;
                    }
                    if ((rc = jexpect(q, n, &pos, ',')) != 0 || (rc = jstr(q, n, &pos, &str)) != 0 ||
                        (rc = jexpect(q, n, &pos, ']')) != 0)
                        goto out;
                    if (find_col(right, (char *)str.p, &rcol)) {
                        rc = cairn_err__set(CAIRN_SCHEMA, "join: unknown right column %s", (char *)str.p);
                        goto out;
                    }
                    if (x.s[0].non >= 64) {
                        rc = cairn_err__set(CAIRN_INVALID, "join: at most 64 pairs in \"on\"");
                        goto out;
                    }
                    x.s[0].cols[x.s[0].non] = lc;
                    x.s[0].ccol[x.s[0].non] = lc == QCOL_ID ? &id_col : &left->s.c[lc];
                    x.s[1].cols[x.s[1].non] = rcol;
                    x.s[1].ccol[x.s[1].non] = rcol == QCOL_ID ? &id_col : &right->s.c[rcol];
                    if (kclass(x.s[0].ccol[x.s[0].non]->type) != kclass(x.s[1].ccol[x.s[1].non]->type)) {
                        rc = cairn_err__set(CAIRN_TYPE, "join: %s and %s are not comparable", x.s[0].ccol[x.s[0].non]->name,
                                            x.s[1].ccol[x.s[1].non]->name);
                        goto out;
                    }
                    x.s[0].non++, x.s[1].non++;
                    if ((rc = jnext(q, n, &pos, ']')) < 0) goto out;
                    if (!rc) break;
                }
                rc = 0;
            } else if (!strcmp((char *)key.p, "type")) {
                if ((rc = jstr(q, n, &pos, &str)) != 0) goto out;
                if (!strcmp((char *)str.p, "left")) x.left_join = 1;
                else if (!strcmp((char *)str.p, "inner")) x.left_join = 0;
                else {
                    rc = cairn_err__set(CAIRN_INVALID, "join: type %s: not inner or left", (char *)str.p);
                    goto out;
                }
            } else if (!strcmp((char *)key.p, "where") || !strcmp((char *)key.p, "right_where") ||
                       !strcmp((char *)key.p, "params") || !strcmp((char *)key.p, "right_params")) {
                size_t st = pos;
                if ((rc = jskip(q, n, &pos, 0)) != 0) goto out;
                if (!strcmp((char *)key.p, "where")) wpos = st, wlen = pos - st;
                else if (!strcmp((char *)key.p, "right_where")) rwpos = st, rwlen = pos - st;
                else if (!strcmp((char *)key.p, "params")) ppos = st, plen = pos - st;
                else rppos = st, rplen = pos - st;
            } else if (!strcmp((char *)key.p, "columns")) {
                has_cols = 1;
                if ((rc = jexpect(q, n, &pos, '[')) != 0) goto out;
                if (!jempty(q, n, &pos, ']'))
                    for (;;) {
                        int side, col;
                        if ((rc = jstr(q, n, &pos, &str)) != 0) goto out;
                        if ((rc = parse_ref(&x, (char *)str.p, &side, &col)) != 0) goto out;
                        if (nnames == capnames) {
                            jcolname *nn;
                            capnames = capnames ? capnames * 2 : 16;
                            if (!(nn = (jcolname *)realloc(names, capnames * sizeof *nn))) {
                                rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                                goto out;
                            }
                            names = nn;
                        }
                        names[nnames].side = side;
                        names[nnames].col = col;
                        if (!(names[nnames].name = strdup((char *)str.p))) {
                            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                            goto out;
                        }
                        nnames++;
                        if ((rc = jnext(q, n, &pos, ']')) < 0) goto out;
                        if (!rc) break;
                    }
                rc = 0;
            } else if (!strcmp((char *)key.p, "order")) {
                if ((rc = jexpect(q, n, &pos, '[')) != 0) goto out;
                if (!jempty(q, n, &pos, ']'))
                    for (;;) {
                        int desc = 0;
                        void *no;
                        cairn_tbl__json_ws(q, n, &pos);
                        if (pos < n && q[pos] == '[') {
                            pos++;
                            if ((rc = jstr(q, n, &pos, &str)) != 0) goto out;
                            {
                                tbuf dir = {0, 0, 0};
                                if ((rc = jexpect(q, n, &pos, ',')) != 0 || (rc = jstr(q, n, &pos, &dir)) != 0) {
                                    free(dir.p);
                                    goto out;
                                }
                                if (!strcmp((char *)dir.p, "desc")) desc = 1;
                                else if (strcmp((char *)dir.p, "asc")) {
                                    rc = cairn_err__set(CAIRN_INVALID, "join: order direction %s: not asc or desc", (char *)dir.p);
                                    free(dir.p);
                                    goto out;
                                }
                                free(dir.p);
                            }
                            if ((rc = jexpect(q, n, &pos, ']')) != 0) goto out;
                        } else {
                            if ((rc = jstr(q, n, &pos, &str)) != 0) goto out;
                            if (str.n && str.p[0] == '-') {
                                desc = 1;
                                memmove(str.p, str.p + 1, str.n);
                                str.n--;
                            }
                        }
                        if (!(no = realloc(oreq, (noreq + 1) * sizeof *oreq))) {
                            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                            goto out;
                        }
                        oreq = no;
                        if (!(oreq[noreq].name = strdup((char *)str.p))) {
                            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                            goto out;
                        }
                        oreq[noreq++].desc = desc;
                        if ((rc = jnext(q, n, &pos, ']')) < 0) goto out;
                        if (!rc) break;
                    }
                rc = 0;
            } else if (!strcmp((char *)key.p, "limit")) {
                if ((rc = juint(q, n, &pos, "limit", &limit)) != 0) goto out;
                has_limit = 1;
            } else if (!strcmp((char *)key.p, "offset")) {
                if ((rc = juint(q, n, &pos, "offset", &offset)) != 0) goto out;
            } else if (!strcmp((char *)key.p, "format")) {
                if ((rc = jstr(q, n, &pos, &str)) != 0) goto out;
                if (!strcmp((char *)str.p, "columns")) colfmt = 1;
                else if (!strcmp((char *)str.p, "rows")) colfmt = 0;
                else {
                    rc = cairn_err__set(CAIRN_INVALID, "join: format %s: not rows or columns", (char *)str.p);
                    goto out;
                }
            } else {
                rc = cairn_err__set(CAIRN_INVALID, "join: unknown key \"%s\"", (char *)key.p);
                goto out;
            }
            if ((rc = jnext(q, n, &pos, '}')) < 0) goto out;
            if (!rc) break;
        }
    rc = 0;
    cairn_tbl__json_ws(q, n, &pos);
    if (pos != n) {
        rc = jbad(pos, "trailing characters");
        goto out;
    }
    if (!has_on) {
        rc = cairn_err__set(CAIRN_INVALID, "join: \"on\" is required");
        goto out;
    }
    x.s[0].ncols = x.s[0].non;
    x.s[1].ncols = x.s[1].non;
    if (!has_cols) { /* every left column, then every right column */
        int sd;
        for (sd = 0; sd < 2; sd++) {
            cairn_table *t = x.s[sd].t;
            for (k = 0; k < t->s.n; k++) {
                void *nn = realloc(names, (nnames + 1) * sizeof *names);
                char buf[TBL_NAME_MAX + 8];
                if (!nn) {
                    rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                    goto out;
                }
                names = (jcolname *)nn;
                snprintf(buf, sizeof buf, "%s.%s", sd ? "right" : "left", t->s.c[k].name);
                names[nnames].side = sd;
                names[nnames].col = (int)k;
                if (!(names[nnames].name = strdup(buf))) {
                    rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                    goto out;
                }
                nnames++;
            }
        }
    }
    /* order columns not projected become hidden result columns */
    nproj = nnames;
    for (k = 0; k < noreq; k++) {
        size_t j;
        int side, col;
        for (j = 0; j < nnames; j++)
            if (!strcmp(names[j].name, oreq[k].name)) break;
        if (nord == capord) {
            void *no;
            capord = capord ? capord * 2 : 8;
            if (!(no = realloc(ord, capord * sizeof *ord))) {
                rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                goto out;
            }
            ord = (qorder *)no;
        }
        if (j == nnames) {
            void *nn;
            if ((rc = parse_ref(&x, oreq[k].name, &side, &col)) != 0) goto out;
            if (!(nn = realloc(names, (nnames + 1) * sizeof *names))) {
                rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                goto out;
            }
            names = (jcolname *)nn;
            names[nnames].side = side;
            names[nnames].col = col;
            if (!(names[nnames].name = strdup(oreq[k].name))) {
                rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                goto out;
            }
            nnames++;
        }
        ord[nord].col = (int)j;
        ord[nord].desc = oreq[k].desc;
        nord++;
    }
    /* result columns */
    if (!(x.rc = (jrcol *)calloc(nnames + 1, sizeof *x.rc))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    x.nrc = nnames;
    if ((rc = cairn_tbl__qres_init(&x.res, nnames)) != 0) goto out;
    for (k = 0; k < nnames; k++) {
        int in = side_col(&x.s[names[k].side], names[k].col);
        const tcol *c;
        if (in < 0) {
            rc = in;
            goto out;
        }
        x.rc[k].side = names[k].side;
        x.rc[k].in = (size_t)in;
        c = x.s[names[k].side].ccol[in];
        if ((rc = cairn_tbl__qres_col(&x.res, k, names[k].name, strlen(names[k].name), c->type, c->fixed_len)) != 0) goto out;
    }
    x.res.nshow = nproj;
    /* the right rows' store: every right column read */
    if ((rc = cairn_tbl__qres_init(&x.right, x.s[1].ncols)) != 0) goto out;
    for (k = 0; k < x.s[1].ncols; k++) {
        const tcol *c = x.s[1].ccol[k];
        if ((rc = cairn_tbl__qres_col(&x.right, k, c->name, strlen(c->name), c->type, c->fixed_len)) != 0) goto out;
    }
    if ((rc = side_rows(right, q, rwpos, rwlen, rppos, rplen, &x.s[1], right_fn, &x)) != 0) goto out;
    if ((rc = side_rows(left, q, wpos, wlen, ppos, plen, &x.s[0], left_fn, &x)) != 0) goto out;
    if ((rc = cairn_tbl__qres_emit(&x.res, ord, nord, has_limit, limit, offset, colfmt, &o)) != 0) goto out;
    if (!(*out = cairn_tbl__buf_take(&o))) rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
out:
    for (k = 0; k < nnames; k++) free(names[k].name);
    free(names);
    for (k = 0; k < noreq; k++) free(oreq[k].name);
    free(oreq);
    free(ord);
    free(key.p);
    free(str.p);
    free(o.p);
    free(x.rc);
    cairn_tbl__qres_free(&x.res);
    cairn_tbl__qres_free(&x.right);
    free(x.km.slot);
    free(x.km.hash);
    free(x.km.koff);
    free(x.km.klen);
    free(x.km.keys.p);
    free(x.head);
    free(x.tail);
    free(x.next);
    free(x.key.p);
    return rc;
}

int cairn_table_join_json(cairn_table *left, cairn_table *right, const char *query, char **out) {
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_join_json: out is NULL");
    *out = NULL;
    if (!left || !right) return cairn_err__set(CAIRN_INVALID, "cairn_table_join_json: NULL handle");
    if (!query) return cairn_err__set(CAIRN_INVALID, "cairn_table_join_json: NULL query");
    if (cairn_fork__foreign(left->gen) || cairn_fork__foreign(right->gen)) return cairn_fork__err("cairn_table_join_json");
    lock2(left, right);
    rc = join_locked(left, right, query, out);
    unlock2(left, right);
    return rc;
}
