/*
 * arrow.c - export of a table through the Arrow C data interface and C stream interface
 * (cairn/arrow.h; the contract is in cairn/table.h, "zero-copy export"; user guide docs/arrow.md).
 *
 * A stream holds a snapshot taken under the handle's lock when it is made:
 *   - the row groups (segment files referenced, delete bitmaps copied),
 *   - the overlay rows (new values of checkpointed rows) copied into a private store,
 *   - the tail already built into its record batch (a copy of the live tail rows),
 *   - for a query with "where": every matching row gathered into batches by the scan.
 * Writes after the export change none of it. Each get_next turns the next row group into one
 * record batch (a struct array "+s", one child per column):
 *   - a PLAIN segment of a fixed-width type (not bool) of a group without deleted and without
 *     overlaid rows goes out without a copy: the child's buffers point into the read-only mapping
 *     of the segment file (validity bitmap and values), which the child pins (a reference on the
 *     segment file) until its release; the values must be 8-byte aligned in the mapping (segments
 *     start 8-aligned in their files, the 80-byte header keeps that, a validity bitmap of n bits
 *     keeps it when n is a multiple of 64: every full row group), else the values are copied;
 *   - a column whose every row group holds a DICT segment goes out dictionary-encoded: int32
 *     indices (the codes unpacked, no value decoded) and the segment's distinct values as the
 *     dictionary (each batch has its own dictionary; overlaid values are appended to it, the tail
 *     batch's dictionary is its values);
 *   - everything else is decoded (and rows of a group with deletes or overlays are gathered).
 * Types: i8..i64 c s i l, u8..u64 C S I L, f32 f, f64 g, bool b (bit-packed), bytes:N w:N,
 * string U and bytes Z (large: int64 offsets, Cairn's own u64 offsets pass through unchanged),
 * timestamp tsu:UTC, _id L.
 *
 * Every array and child has its own private data and release (a consumer may move a child out);
 * releasing the stream before its arrays, or the arrays before the stream, are both fine.
 */
#include "table/arrow_int.h"

#include <errno.h>
#include <stdio.h>

#define ALIGN_OK(p) ((((uintptr_t)(const void *)(p)) & 7u) == 0)

/* ---- arrays: private data and release -------------------------------------------------- */

typedef struct xpriv {
    const void *bufs[3];
    void *own[3];               /* buffers allocated here (freed at release) */
    segfile *pin;               /* segment file the buffers point into (one reference) */
    struct ArrowArray **kids;
    size_t nkids;
    struct ArrowArray *dict;
} xpriv;

static void xarr_release(struct ArrowArray *a) {
    xpriv *p;
    size_t i;
    if (!a || !a->release) return;
    p = (xpriv *)a->private_data;
    if (p) {
        for (i = 0; i < p->nkids; i++) {
            if (p->kids[i] && p->kids[i]->release) p->kids[i]->release(p->kids[i]);
            free(p->kids[i]);
        }
        free(p->kids);
        if (p->dict) {
            if (p->dict->release) p->dict->release(p->dict);
            free(p->dict);
        }
        for (i = 0; i < 3; i++) free(p->own[i]);
        if (p->pin) cairn_tbl__segfile_unref(p->pin);
        free(p);
    }
    a->release = NULL;
    a->private_data = NULL;
}

/* a fresh array with n_buffers buffers, its private data attached */
static int xarr_new(struct ArrowArray *a, int64_t len, int64_t nbuf) {
    xpriv *p = (xpriv *)calloc(1, sizeof *p);
    memset(a, 0, sizeof *a);
    if (!p) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    a->length = len;
    a->n_buffers = nbuf;
    a->buffers = p->bufs;
    a->release = xarr_release;
    a->private_data = p;
    return 0;
}

static xpriv *XP(struct ArrowArray *a) { return (xpriv *)a->private_data; }

/* struct array of n rows over `nk` children (allocated here, each zeroed: release NULL) */
static int xarr_struct(struct ArrowArray *a, int64_t n, size_t nk) {
    xpriv *p;
    size_t i;
    int rc;
    if ((rc = xarr_new(a, n, 1)) != 0) return rc;
    p = XP(a);
    if (!(p->kids = (struct ArrowArray **)calloc(nk ? nk : 1, sizeof *p->kids))) goto nomem;
    for (i = 0; i < nk; i++) {
        if (!(p->kids[i] = (struct ArrowArray *)calloc(1, sizeof(struct ArrowArray)))) goto nomem;
        p->nkids = i + 1;
    }
    a->n_children = (int64_t)nk;
    a->children = p->kids;
    return 0;
nomem:
    xarr_release(a);
    return cairn_err__set(CAIRN_NOMEM, "out of memory");
}

/* ---- schemas ---------------------------------------------------------------------------- */

typedef struct spriv {
    char *format, *name;
    struct ArrowSchema **kids;
    size_t nkids;
    struct ArrowSchema *dict;
} spriv;

static void xsch_release(struct ArrowSchema *s) {
    spriv *p;
    size_t i;
    if (!s || !s->release) return;
    p = (spriv *)s->private_data;
    if (p) {
        for (i = 0; i < p->nkids; i++) {
            if (p->kids[i] && p->kids[i]->release) p->kids[i]->release(p->kids[i]);
            free(p->kids[i]);
        }
        free(p->kids);
        if (p->dict) {
            if (p->dict->release) p->dict->release(p->dict);
            free(p->dict);
        }
        free(p->format);
        free(p->name);
        free(p);
    }
    s->release = NULL;
    s->private_data = NULL;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = (char *)malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int xsch_new(struct ArrowSchema *s, const char *format, const char *name, int64_t flags) {
    spriv *p = (spriv *)calloc(1, sizeof *p);
    memset(s, 0, sizeof *s);
    if (!p) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    s->private_data = p;
    s->release = xsch_release;
    if (!(p->format = xstrdup(format)) || !(p->name = xstrdup(name ? name : ""))) {
        xsch_release(s);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    s->format = p->format;
    s->name = p->name;
    s->flags = flags;
    return 0;
}

/* the Arrow format of a Cairn type */
static const char *type_format(int type, uint32_t fixed_len, char *buf, size_t n) {
    switch (type) {
    case CAIRN_TYPE_I8: return "c";
    case CAIRN_TYPE_I16: return "s";
    case CAIRN_TYPE_I32: return "i";
    case CAIRN_TYPE_I64: return "l";
    case CAIRN_TYPE_U8: return "C";
    case CAIRN_TYPE_U16: return "S";
    case CAIRN_TYPE_U32: return "I";
    case CAIRN_TYPE_U64: return "L";
    case CAIRN_TYPE_F32: return "f";
    case CAIRN_TYPE_F64: return "g";
    case CAIRN_TYPE_BOOL: return "b";
    case CAIRN_TYPE_FIXED: snprintf(buf, n, "w:%u", (unsigned)fixed_len); return buf;
    case CAIRN_TYPE_STRING: return "U";
    case CAIRN_TYPE_BYTES: return "Z";
    case CAIRN_TYPE_TIMESTAMP: return "tsu:UTC";
    default: return "n";
    }
}

/* ---- exported columns ------------------------------------------------------------------- */

typedef struct xcol {
    int col;              /* schema index or QCOL_ID */
    int type;
    uint32_t fixed_len;
    int nullable;
    int dict;             /* goes out dictionary-encoded */
    char name[TBL_NAME_MAX + 1];
} xcol;

static int xcol_schema(const xcol *c, struct ArrowSchema *s) {
    char fb[32];
    const char *f = type_format(c->type, c->fixed_len, fb, sizeof fb);
    int rc;
    if (!c->dict) return xsch_new(s, f, c->name, c->nullable ? ARROW_FLAG_NULLABLE : 0);
    if ((rc = xsch_new(s, "i", c->name, c->nullable ? ARROW_FLAG_NULLABLE : 0)) != 0) return rc;
    {
        spriv *p = (spriv *)s->private_data;
        if (!(p->dict = (struct ArrowSchema *)calloc(1, sizeof *p->dict))) {
            xsch_release(s);
            return cairn_err__set(CAIRN_NOMEM, "out of memory");
        }
        if ((rc = xsch_new(p->dict, f, "", ARROW_FLAG_NULLABLE)) != 0) {
            xsch_release(s);
            return rc;
        }
        s->dictionary = p->dict;
    }
    return 0;
}

static int xcols_schema(const xcol *cols, size_t n, struct ArrowSchema *out) {
    spriv *p;
    size_t i;
    int rc;
    if ((rc = xsch_new(out, "+s", "", 0)) != 0) return rc;
    p = (spriv *)out->private_data;
    if (!(p->kids = (struct ArrowSchema **)calloc(n ? n : 1, sizeof *p->kids))) goto nomem;
    for (i = 0; i < n; i++) {
        if (!(p->kids[i] = (struct ArrowSchema *)calloc(1, sizeof(struct ArrowSchema)))) goto nomem;
        p->nkids = i + 1;
        if ((rc = xcol_schema(&cols[i], p->kids[i])) != 0) {
            xsch_release(out);
            return rc;
        }
    }
    out->n_children = (int64_t)n;
    out->children = p->kids;
    return 0;
nomem:
    xsch_release(out);
    return cairn_err__set(CAIRN_NOMEM, "out of memory");
}

/* ---- builder: values appended one by one or a colvec at a time ----------------------------- */

typedef struct xb {
    int type;
    uint32_t fixed_len;
    size_t w;             /* bytes per value (fixed types but bool) */
    tbuf d;               /* values (bool: bits) */
    tbuf o;               /* int64 offsets (string, bytes) */
    tbuf v;               /* validity bits */
    size_t n, nulls;
} xb;

static int is_var(int type) { return type == CAIRN_TYPE_STRING || type == CAIRN_TYPE_BYTES; }

static int xb_init(xb *b, int type, uint32_t fixed_len) {
    memset(b, 0, sizeof *b);
    b->type = type;
    b->fixed_len = fixed_len;
    b->w = type == CAIRN_TYPE_BOOL ? 0 : cairn_seg__width(type, fixed_len);
    if (is_var(type)) {
        int64_t z = 0;
        return tbuf_put(&b->o, &z, 8);
    }
    return 0;
}

static void xb_free(xb *b) {
    free(b->d.p);
    free(b->o.p);
    free(b->v.p);
    memset(b, 0, sizeof *b);
}

/* append `cnt` zero bits to a bit buffer holding `n` bits */
static int bits_reserve(tbuf *t, size_t n, size_t cnt) {
    size_t need = (n + cnt + 7) / 8;
    if (need > t->n) {
        size_t add = need - t->n;
        if (t->n + add > t->cap && cairn_tbl__buf_grow(t, add)) return CAIRN_NOMEM;
        memset(t->p + t->n, 0, add);
        t->n = need;
    }
    return 0;
}

static int xb_add(xb *b, const cairn_value *v) {
    if (bits_reserve(&b->v, b->n, 1)) return CAIRN_NOMEM;
    if (v->is_null) b->nulls++;
    else b->v.p[b->n >> 3] |= (uint8_t)(1u << (b->n & 7));
    switch (b->type) {
    case CAIRN_TYPE_BOOL:
        if (bits_reserve(&b->d, b->n, 1)) return CAIRN_NOMEM;
        if (!v->is_null && v->v.b) b->d.p[b->n >> 3] |= (uint8_t)(1u << (b->n & 7));
        break;
    case CAIRN_TYPE_STRING: case CAIRN_TYPE_BYTES: {
        int64_t end;
        if (!v->is_null && tbuf_put(&b->d, v->v.s.bytes, v->v.s.len)) return CAIRN_NOMEM;
        end = (int64_t)b->d.n;
        if (tbuf_put(&b->o, &end, 8)) return CAIRN_NOMEM;
        break;
    }
    case CAIRN_TYPE_FIXED:
        if (v->is_null) {
            if (b->d.n + b->w > b->d.cap && cairn_tbl__buf_grow(&b->d, b->w)) return CAIRN_NOMEM;
            memset(b->d.p + b->d.n, 0, b->w);
            b->d.n += b->w;
        } else if (tbuf_put(&b->d, v->v.s.bytes, b->w)) {
            return CAIRN_NOMEM;
        }
        break;
    default: {
        union { int8_t i8; int16_t i16; int32_t i32; int64_t i64; uint8_t u8; uint16_t u16; uint32_t u32;
                uint64_t u64; float f32; double f64; } x;
        memset(&x, 0, sizeof x);
        if (!v->is_null) switch (b->type) {
            case CAIRN_TYPE_I8: x.i8 = (int8_t)v->v.i; break;
            case CAIRN_TYPE_I16: x.i16 = (int16_t)v->v.i; break;
            case CAIRN_TYPE_I32: x.i32 = (int32_t)v->v.i; break;
            case CAIRN_TYPE_I64: case CAIRN_TYPE_TIMESTAMP: x.i64 = v->v.i; break;
            case CAIRN_TYPE_U8: x.u8 = (uint8_t)v->v.u; break;
            case CAIRN_TYPE_U16: x.u16 = (uint16_t)v->v.u; break;
            case CAIRN_TYPE_U32: x.u32 = (uint32_t)v->v.u; break;
            case CAIRN_TYPE_U64: x.u64 = v->v.u; break;
            case CAIRN_TYPE_F32: x.f32 = (float)v->v.f; break;
            default: x.f64 = v->v.f; break;
            }
        if (tbuf_put(&b->d, &x, b->w)) return CAIRN_NOMEM;
        break;
    }
    }
    b->n++;
    return 0;
}

/* append a whole colvec (rows [0, cv->n)) */
static int xb_add_vec(xb *b, const cairn_colvec *cv) {
    size_t i, n = cv->n;
    if (bits_reserve(&b->v, b->n, n)) return CAIRN_NOMEM;
    if (!cv->validity && !(b->n & 7)) {
        memset(b->v.p + b->n / 8, 0xff, n / 8);
        for (i = n & ~(size_t)7; i < n; i++) b->v.p[(b->n + i) >> 3] |= (uint8_t)(1u << ((b->n + i) & 7));
    } else {
        for (i = 0; i < n; i++) {
            if (cv->validity && !((cv->validity[i >> 3] >> (i & 7)) & 1)) b->nulls++;
            else b->v.p[(b->n + i) >> 3] |= (uint8_t)(1u << ((b->n + i) & 7));
        }
    }
    if (b->type == CAIRN_TYPE_BOOL) {
        const uint8_t *d = (const uint8_t *)cv->data;
        if (bits_reserve(&b->d, b->n, n)) return CAIRN_NOMEM;
        for (i = 0; i < n; i++)
            if (d[i]) b->d.p[(b->n + i) >> 3] |= (uint8_t)(1u << ((b->n + i) & 7));
    } else if (is_var(b->type)) {
        uint64_t base = n ? cv->offsets[0] : 0, len = n ? cv->offsets[n] - base : 0;
        int64_t start = (int64_t)b->d.n;
        if (b->o.n + n * 8 > b->o.cap && cairn_tbl__buf_grow(&b->o, n * 8)) return CAIRN_NOMEM;
        for (i = 1; i <= n; i++) {
            int64_t e = start + (int64_t)(cv->offsets[i] - base);
            memcpy(b->o.p + b->o.n, &e, 8);
            b->o.n += 8;
        }
        if (len && tbuf_put(&b->d, (const uint8_t *)cv->data + base, (size_t)len)) return CAIRN_NOMEM;
    } else {
        if (tbuf_put(&b->d, cv->data, n * b->w)) return CAIRN_NOMEM;
    }
    b->n += n;
    return 0;
}

static size_t bitmap_nulls(const uint8_t *v, size_t n) {
    size_t i, set = 0;
    if (!v) return 0;
    for (i = 0; i + 8 <= n; i += 8) set += (size_t)__builtin_popcount(v[i >> 3]);
    for (; i < n; i++) set += (v[i >> 3] >> (i & 7)) & 1;
    return n - set;
}

/* make sure a buffer pointer is not NULL (some consumers want one even for no bytes) */
static int own_nonnull(tbuf *t) {
    if (!t->p && !(t->p = (uint8_t *)calloc(1, 8))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if (!t->cap) t->cap = 8;
    return 0;
}

/* hand the builder's buffers over to a new array (the builder is emptied) */
static int xb_finish(xb *b, struct ArrowArray *a) {
    xpriv *p;
    int rc;
    if (own_nonnull(&b->d) || (is_var(b->type) && own_nonnull(&b->o))) return CAIRN_NOMEM;
    if ((rc = xarr_new(a, (int64_t)b->n, is_var(b->type) ? 3 : 2)) != 0) return rc;
    p = XP(a);
    a->null_count = (int64_t)b->nulls;
    if (b->nulls) {
        p->own[0] = b->v.p;
        p->bufs[0] = b->v.p;
    } else {
        free(b->v.p);
    }
    b->v.p = NULL;
    if (is_var(b->type)) {
        p->own[1] = b->o.p;
        p->bufs[1] = b->o.p;
        p->own[2] = b->d.p;
        p->bufs[2] = b->d.p;
        b->o.p = NULL;
    } else {
        p->own[1] = b->d.p;
        p->bufs[1] = b->d.p;
    }
    b->d.p = NULL;
    xb_free(b);
    return 0;
}

/* a decoded colvec handed over as an array without copying its buffers where the layouts agree
 * (every type but bool: its bytes become bits); the colvec is emptied */
static int colvec_to_array(cairn_colvec *cv, struct ArrowArray *a) {
    xpriv *p;
    int rc;
    if (cv->type == CAIRN_TYPE_BOOL) {
        xb b;
        if ((rc = xb_init(&b, cv->type, cv->fixed_len)) != 0) return rc;
        if ((rc = xb_add_vec(&b, cv)) != 0 || (rc = xb_finish(&b, a)) != 0) {
            xb_free(&b);
            return rc;
        }
        cairn_seg__free_vec(cv);
        return 0;
    }
    if (is_var(cv->type) && (!cv->offsets || (cv->n && cv->offsets[0] != 0))) {
        xb b; /* offsets not from 0: rebase through the builder */
        if ((rc = xb_init(&b, cv->type, cv->fixed_len)) != 0) return rc;
        if ((rc = xb_add_vec(&b, cv)) != 0 || (rc = xb_finish(&b, a)) != 0) {
            xb_free(&b);
            return rc;
        }
        cairn_seg__free_vec(cv);
        return 0;
    }
    if (!cv->data && !(cv->data = calloc(1, 8))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if ((rc = xarr_new(a, (int64_t)cv->n, is_var(cv->type) ? 3 : 2)) != 0) return rc;
    p = XP(a);
    a->null_count = (int64_t)bitmap_nulls(cv->validity, cv->n);
    if (a->null_count) {
        p->own[0] = cv->validity;
        p->bufs[0] = cv->validity;
    } else {
        free(cv->validity);
    }
    if (is_var(cv->type)) {
        p->own[1] = cv->offsets;
        p->bufs[1] = cv->offsets;
        p->own[2] = cv->data;
        p->bufs[2] = cv->data;
    } else {
        p->own[1] = cv->data;
        p->bufs[1] = cv->data;
        free(cv->offsets);
    }
    memset(cv, 0, sizeof *cv);
    return 0;
}

/* ---- the stream --------------------------------------------------------------------------- */

typedef struct xstream {
    tschema s;
    xcol *cols;
    size_t ncols;
    rgroup *g;            /* snapshot of the row groups */
    size_t ng;
    uint8_t *g_ov;        /* per group: some row has an overlay */
    rstore ov;            /* the overlay rows (copy) */
    idmap ovmap;          /* id -> position in ov */
    struct ArrowArray *pre; /* batches built at export (tail, query results) */
    size_t npre, cappre;
    size_t next_g, next_pre;
    int use_groups;       /* batches from the groups (no "where") */
    int no_dict;          /* every column plain (IPC) */
    char err[CAIRN_ERR_MSG_MAX];
} xstream;

static void xs_free(xstream *x) {
    size_t i;
    if (!x) return;
    cairn_tbl__groups_free(x->g, x->ng, x->s.n);
    free(x->g_ov);
    cairn_tbl__rs_free(&x->ov);
    cairn_tbl__idmap_free(&x->ovmap);
    for (i = 0; i < x->npre; i++)
        if (x->pre[i].release) x->pre[i].release(&x->pre[i]);
    free(x->pre);
    free(x->cols);
    cairn_tbl__schema_free(&x->s);
    free(x);
}

static int xs_push(xstream *x, struct ArrowArray *a) {
    if (x->npre == x->cappre) {
        size_t nc = x->cappre ? x->cappre * 2 : 4;
        struct ArrowArray *np = (struct ArrowArray *)realloc(x->pre, nc * sizeof *np);
        if (!np) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        x->pre = np;
        x->cappre = nc;
    }
    x->pre[x->npre++] = *a;
    a->release = NULL;
    return 0;
}

/* The live rows of group gi: their positions (NULL with *n = nrows: every row, no overlay). */
typedef struct grows {
    uint32_t *pos;        /* live positions (NULL: all) */
    long *ovp;            /* per live row: overlay position or -1 (NULL: none) */
    size_t n;
    cairn_colvec ids;     /* decoded ids (when needed) */
    int have_ids;
} grows;

static void grows_free(grows *r) {
    free(r->pos);
    free(r->ovp);
    cairn_seg__free_vec(&r->ids);
    memset(r, 0, sizeof *r);
}

static uint64_t grp_id(const rgroup *g, const grows *r, uint32_t p) {
    if (r->have_ids) return ((const uint64_t *)r->ids.data)[p];
    return g->first_id + p;
}

static int grows_load(xstream *x, size_t gi, int need_ids, grows *r) {
    rgroup *g = &x->g[gi];
    int contiguous = g->last_id - g->first_id + 1 == g->nrows;
    uint32_t p;
    int rc;
    memset(r, 0, sizeof *r);
    if ((!contiguous && (need_ids || x->g_ov[gi]))) {
        if ((rc = cairn_tbl__group_decode(g->ids.file, &g->ids, CAIRN_TYPE_U64, 0, &r->ids)) != 0) return rc;
        if (r->ids.n != g->nrows)
            return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: id segment holds %zu rows, the group %u",
                                  cairn_io__path(g->ids.file->f), (unsigned long long)g->ids.off, r->ids.n, g->nrows);
        r->have_ids = 1;
    }
    if (!g->ndel && !x->g_ov[gi]) {
        r->n = g->nrows;
        return 0;
    }
    if (!(r->pos = (uint32_t *)malloc((g->nrows ? g->nrows : 1) * sizeof *r->pos)) ||
        (x->g_ov[gi] && !(r->ovp = (long *)malloc((g->nrows ? g->nrows : 1) * sizeof *r->ovp))))
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (p = 0; p < g->nrows; p++) {
        if (grp_deleted(g, p)) continue;
        if (r->ovp) {
            uint64_t op;
            r->ovp[r->n] = cairn_tbl__idmap_get(&x->ovmap, grp_id(g, r, p), &op) ? (long)op : -1;
        }
        r->pos[r->n++] = p;
    }
    return 0;
}

/* verify a segment once through the mapping (CRC, type) */
static int seg_verify(segref *r, int type, uint32_t fixed_len) {
    int rc;
    if (r->verified) return 0;
    if ((rc = cairn_seg__check(r->file->map + r->off, (size_t)r->len, type, fixed_len)) != 0) {
        char msg[CAIRN_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        return cairn_err__set(rc, "%s: offset %llu: %s", cairn_io__path(r->file->f), (unsigned long long)r->off, msg);
    }
    r->verified = 1;
    return 0;
}

/* A PLAIN fixed-width segment in place: 1 done (the array points into the mapping), 0 not
 * possible here (not mapped, not aligned), <0 error. */
static int zero_copy(segref *r, const xcol *c, uint32_t nrows, struct ArrowArray *a) {
    const uint8_t *sb;
    uint32_t n, nulls;
    size_t vb, w;
    xpriv *p;
    int rc;
    if (r->enc != CAIRN_SEG_PLAIN || c->type == CAIRN_TYPE_BOOL || is_var(c->type) || !r->file->map) return 0;
    if (r->off + r->len > r->file->size || r->len < 84) return 0;
    if ((rc = seg_verify(r, c->type, c->fixed_len)) != 0) return rc;
    sb = r->file->map + r->off;
    n = cairn_get32(sb + 8);
    nulls = cairn_get32(sb + 24);
    vb = (sb[7] & 1u) ? (n + 7) / 8 : 0;
    w = cairn_seg__width(c->type, c->fixed_len);
    if (n != nrows || 80 + vb + (size_t)n * w + 4 != r->len)
        return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: PLAIN segment of %u rows in a group of %u",
                              cairn_io__path(r->file->f), (unsigned long long)r->off, n, nrows);
    if (!ALIGN_OK(sb + 80 + vb)) return 0;
    if ((rc = xarr_new(a, n, 2)) != 0) return rc;
    p = XP(a);
    a->null_count = nulls;
    p->bufs[0] = vb ? sb + 80 : NULL;
    p->bufs[1] = sb + 80 + vb;
    __atomic_add_fetch(&r->file->refs, 1, __ATOMIC_RELAXED);
    p->pin = r->file;
    return 1;
}

/* A PLAIN fixed-width segment in place as a colvec view (buffers borrowed from the mapping): 1
 * done, 0 not possible here, <0 error. */
static int plain_view(segref *r, const xcol *c, uint32_t nrows, cairn_colvec *out) {
    const uint8_t *sb;
    uint32_t n;
    size_t vb, w;
    int rc;
    if (r->enc != CAIRN_SEG_PLAIN || c->type == CAIRN_TYPE_BOOL || is_var(c->type) || !r->file->map) return 0;
    if (r->off + r->len > r->file->size || r->len < 84) return 0;
    if ((rc = seg_verify(r, c->type, c->fixed_len)) != 0) return rc;
    sb = r->file->map + r->off;
    n = cairn_get32(sb + 8);
    vb = (sb[7] & 1u) ? (n + 7) / 8 : 0;
    w = cairn_seg__width(c->type, c->fixed_len);
    if (n != nrows || 80 + vb + (size_t)n * w + 4 != r->len)
        return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: PLAIN segment of %u rows in a group of %u",
                              cairn_io__path(r->file->f), (unsigned long long)r->off, n, nrows);
    memset(out, 0, sizeof *out);
    out->type = c->type;
    out->fixed_len = c->fixed_len;
    out->n = n;
    out->validity = vb ? (uint8_t *)(uintptr_t)(sb + 80) : NULL;
    out->data = (void *)(uintptr_t)(sb + 80 + vb);
    return 1;
}

/* ---- DICT segments, exported without decoding their values -------------------------------- */

static int unpack(const uint8_t *p, size_t avail, size_t count, unsigned w, uint64_t *out, size_t *used) {
    size_t bytes = (count * (size_t)w + 7) / 8, k;
    if (w > 64 || bytes > avail) return cairn_err__set(CAIRN_CORRUPT, "bit-packed run past the segment");
    for (k = 0; k < count; k++) {
        uint64_t v = 0;
        size_t bit = k * w;
        unsigned got = 0;
        while (got < w) {
            unsigned sh = (unsigned)(bit & 7), take = 8 - sh;
            if (take > w - got) take = w - got;
            v |= (uint64_t)((p[bit >> 3] >> sh) & ((1u << take) - 1)) << got;
            got += take;
            bit += take;
        }
        out[k] = v;
    }
    *used = bytes;
    return 0;
}

/* One DICT segment (verified) as a dictionary-encoded array: int32 indices of the rows in `r`
 * (overlaid rows get appended dictionary entries), the distinct values as the dictionary. */
static int dict_array(xstream *x, const xcol *c, segref *sr, const grows *r, struct ArrowArray *a) {
    const uint8_t *sb, *body, *end;
    uint32_t n, d, k;
    uint64_t *tmp = NULL;
    const uint8_t *valid = NULL;
    xb dict;
    int32_t *idx = NULL;
    uint8_t *vbits = NULL;
    size_t used = 0, i, nulls = 0, nrow = r->n;
    int rc = 0;
    cairn_value v;
    xpriv *p;
    uint8_t *own = NULL;
    memset(&dict, 0, sizeof dict);
    if (sr->file->map) {
        if ((rc = seg_verify(sr, c->type, c->fixed_len)) != 0) return rc;
        sb = sr->file->map + sr->off;
    } else {
        uint8_t *buf = (uint8_t *)malloc(sr->len ? sr->len : 1);
        if (!buf) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        if ((rc = cairn_io__pread(sr->file->f, buf, (size_t)sr->len, sr->off, NULL)) != 0 ||
            (rc = cairn_seg__check(buf, (size_t)sr->len, c->type, c->fixed_len)) != 0) {
            free(buf);
            return rc;
        }
        sb = own = buf;
    }
    n = cairn_get32(sb + 8);
    body = sb + 80;
    end = sb + sr->len - 4;
    if (sb[7] & 1u) {
        valid = body;
        body += (n + 7) / 8;
    }
    if (body + 4 > end) goto corrupt;
    d = cairn_get32(body);
    body += 4;
    if ((rc = xb_init(&dict, c->type, c->fixed_len)) != 0) goto out;
    if (!(tmp = (uint64_t *)malloc(((size_t)(n > d ? n : d) + 1) * 8))) goto nomem;
    if (is_var(c->type)) {
        uint64_t prev = 0;
        if (body >= end) goto corrupt;
        if ((rc = unpack(body + 1, (size_t)(end - body - 1), d, body[0], tmp, &used)) != 0) goto corrupt;
        body += 1 + used;
        for (k = 0; k < d; k++) {
            if (tmp[k] < prev || tmp[k] > (uint64_t)(end - body)) goto corrupt;
            v.is_null = 0;
            v.v.s.bytes = body + prev;
            v.v.s.len = (size_t)(tmp[k] - prev);
            if ((rc = xb_add(&dict, &v)) != 0) goto out;
            prev = tmp[k];
        }
        body += prev;
    } else {
        size_t w = cairn_seg__width(c->type, c->fixed_len);
        cairn_colvec cv;
        if ((size_t)(end - body) < (size_t)d * w) goto corrupt;
        memset(&cv, 0, sizeof cv);
        cv.type = c->type;
        cv.fixed_len = c->fixed_len;
        cv.n = d;
        cv.data = (void *)body;
        if ((rc = xb_add_vec(&dict, &cv)) != 0) goto out;
        body += (size_t)d * w;
    }
    if (body >= end) goto corrupt;
    if ((rc = unpack(body + 1, (size_t)(end - body - 1), n, body[0], tmp, &used)) != 0) goto corrupt;
    if (!(idx = (int32_t *)malloc((nrow ? nrow : 1) * 4)) || !(vbits = (uint8_t *)calloc((nrow + 7) / 8 + 1, 1))) goto nomem;
    for (i = 0; i < nrow; i++) {
        uint32_t pos = r->pos ? r->pos[i] : (uint32_t)i;
        long op = r->ovp ? r->ovp[i] : -1;
        if (op >= 0) {
            cairn_tbl__rs_get(&x->ov, &x->s, (size_t)op, (size_t)c->col, &v);
            if (v.is_null) {
                idx[i] = 0;
                nulls++;
                continue;
            }
            idx[i] = (int32_t)dict.n;
            if ((rc = xb_add(&dict, &v)) != 0) goto out;
        } else if (valid && !((valid[pos >> 3] >> (pos & 7)) & 1)) {
            idx[i] = 0;
            nulls++;
            continue;
        } else {
            if (tmp[pos] >= d) goto corrupt;
            idx[i] = (int32_t)tmp[pos];
        }
        vbits[i >> 3] |= (uint8_t)(1u << (i & 7));
    }
    if ((rc = xarr_new(a, (int64_t)nrow, 2)) != 0) goto out;
    p = XP(a);
    a->null_count = (int64_t)nulls;
    p->own[1] = idx;
    p->bufs[1] = idx;
    idx = NULL;
    if (nulls) {
        p->own[0] = vbits;
        p->bufs[0] = vbits;
        vbits = NULL;
    }
    if (!(p->dict = (struct ArrowArray *)calloc(1, sizeof *p->dict))) {
        xarr_release(a);
        goto nomem;
    }
    if ((rc = xb_finish(&dict, p->dict)) != 0) {
        xarr_release(a);
        goto out;
    }
    a->dictionary = p->dict;
    goto out;
corrupt:
    rc = cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: malformed DICT segment", cairn_io__path(sr->file->f),
                        (unsigned long long)sr->off);
    goto out;
nomem:
    rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
out:
    xb_free(&dict);
    free(tmp);
    free(idx);
    free(vbits);
    free(own);
    return rc;
}

/* the tail's (or any builder's) values as a dictionary-encoded array: indices 0..n-1 */
static int dict_identity(struct ArrowArray *plain, struct ArrowArray *a) {
    int32_t *idx;
    size_t i, n = (size_t)plain->length;
    xpriv *p;
    int rc;
    if (!(idx = (int32_t *)malloc((n ? n : 1) * 4))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (i = 0; i < n; i++) idx[i] = (int32_t)i;
    if ((rc = xarr_new(a, (int64_t)n, 2)) != 0) {
        free(idx);
        return rc;
    }
    p = XP(a);
    p->own[1] = idx;
    p->bufs[1] = idx;
    a->null_count = plain->null_count;
    if (plain->null_count) {
        size_t nb = (n + 7) / 8;
        uint8_t *vb = (uint8_t *)malloc(nb ? nb : 1);
        if (!vb) {
            xarr_release(a);
            return cairn_err__set(CAIRN_NOMEM, "out of memory");
        }
        memcpy(vb, plain->buffers[0], nb);
        p->own[0] = vb;
        p->bufs[0] = vb;
    }
    if (!(p->dict = (struct ArrowArray *)malloc(sizeof *p->dict))) {
        xarr_release(a);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    *p->dict = *plain;
    plain->release = NULL;
    a->dictionary = p->dict;
    return 0;
}

/* rows r->pos of a decoded fixed-width colvec (no overlay) into a new array */
static int gather_fixed(const cairn_colvec *cv, const grows *r, struct ArrowArray *a) {
    size_t w = cairn_seg__width(cv->type, cv->fixed_len), n = r->n, i, nulls = 0;
    uint8_t *d = (uint8_t *)malloc(n && w ? n * w : 8), *vb = NULL;
    const uint8_t *src = (const uint8_t *)cv->data;
    xpriv *p;
    int rc;
    if (!d) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    switch (w) {
    case 1: for (i = 0; i < n; i++) d[i] = src[r->pos[i]]; break;
    case 2: for (i = 0; i < n; i++) memcpy(d + 2 * i, src + 2 * (size_t)r->pos[i], 2); break;
    case 4: for (i = 0; i < n; i++) memcpy(d + 4 * i, src + 4 * (size_t)r->pos[i], 4); break;
    case 8: for (i = 0; i < n; i++) memcpy(d + 8 * i, src + 8 * (size_t)r->pos[i], 8); break;
    default: for (i = 0; i < n; i++) memcpy(d + w * i, src + w * (size_t)r->pos[i], w); break;
    }
    if (cv->validity) {
        if (!(vb = (uint8_t *)calloc((n + 7) / 8 + 1, 1))) {
            free(d);
            return cairn_err__set(CAIRN_NOMEM, "out of memory");
        }
        for (i = 0; i < n; i++) {
            uint32_t q = r->pos[i];
            if ((cv->validity[q >> 3] >> (q & 7)) & 1) vb[i >> 3] |= (uint8_t)(1u << (i & 7));
            else nulls++;
        }
        if (!nulls) {
            free(vb);
            vb = NULL;
        }
    }
    if ((rc = xarr_new(a, (int64_t)n, 2)) != 0) {
        free(d);
        free(vb);
        return rc;
    }
    p = XP(a);
    a->null_count = (int64_t)nulls;
    p->own[0] = vb;
    p->bufs[0] = vb;
    p->own[1] = d;
    p->bufs[1] = d;
    return 0;
}

/* one column of group gi */
static int group_column(xstream *x, size_t gi, const xcol *c, const grows *r, struct ArrowArray *a) {
    rgroup *g = &x->g[gi];
    cairn_colvec cv;
    xb b;
    size_t i;
    int rc;
    if (c->col == QCOL_ID) {
        uint64_t *v = (uint64_t *)malloc((r->n ? r->n : 1) * 8);
        xpriv *p;
        if (!v) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        if (!r->pos && r->have_ids) memcpy(v, r->ids.data, r->n * 8);
        else
            for (i = 0; i < r->n; i++) v[i] = grp_id(g, r, r->pos ? r->pos[i] : (uint32_t)i);
        if ((rc = xarr_new(a, (int64_t)r->n, 2)) != 0) {
            free(v);
            return rc;
        }
        p = XP(a);
        p->own[1] = v;
        p->bufs[1] = v;
        return 0;
    }
    {
        segref *sr = &g->cols[c->col];
        if (c->dict) return dict_array(x, c, sr, r, a);
        if (!r->pos && (rc = zero_copy(sr, c, g->nrows, a)) != 0) return rc < 0 ? rc : 0;
        if (r->pos && !r->ovp && (rc = plain_view(sr, c, g->nrows, &cv)) != 0) {
            if (rc < 0) return rc;
            return gather_fixed(&cv, r, a); /* gathered straight from the mapping */
        }
        if ((rc = cairn_tbl__group_decode(sr->file, sr, c->type, c->fixed_len, &cv)) != 0) return rc;
        if (cv.n != g->nrows) {
            cairn_seg__free_vec(&cv);
            return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: segment holds %zu rows, the group %u",
                                  cairn_io__path(sr->file->f), (unsigned long long)sr->off, cv.n, g->nrows);
        }
        if (!r->pos) {
            rc = colvec_to_array(&cv, a);
            cairn_seg__free_vec(&cv);
            return rc;
        }
        if (!r->ovp && c->type != CAIRN_TYPE_BOOL && !is_var(c->type)) {
            rc = gather_fixed(&cv, r, a);
            cairn_seg__free_vec(&cv);
            return rc;
        }
        if ((rc = xb_init(&b, c->type, c->fixed_len)) != 0) {
            cairn_seg__free_vec(&cv);
            return rc;
        }
        for (i = 0; !rc && i < r->n; i++) {
            cairn_value v;
            if (r->ovp && r->ovp[i] >= 0) cairn_tbl__rs_get(&x->ov, &x->s, (size_t)r->ovp[i], (size_t)c->col, &v);
            else cairn_tbl__colvec_get(&cv, &x->s.c[c->col], r->pos[i], &v);
            rc = xb_add(&b, &v);
        }
        cairn_seg__free_vec(&cv);
        if (rc || (rc = xb_finish(&b, a)) != 0) xb_free(&b);
        return rc;
    }
}

static int group_batch(xstream *x, size_t gi, struct ArrowArray *out) {
    grows r;
    size_t k;
    int need_ids = 0, rc;
    for (k = 0; k < x->ncols; k++)
        if (x->cols[k].col == QCOL_ID) need_ids = 1;
    if ((rc = grows_load(x, gi, need_ids, &r)) != 0) {
        grows_free(&r);
        return rc;
    }
    if ((rc = xarr_struct(out, (int64_t)r.n, x->ncols)) == 0) {
        for (k = 0; k < x->ncols; k++)
            if ((rc = group_column(x, gi, &x->cols[k], &r, out->children[k])) != 0) break;
        if (rc) xarr_release(out);
    }
    grows_free(&r);
    return rc;
}

/* the live rows of an rstore (the tail) as one batch, copied */
static int rstore_batch(const xstream *x, const rstore *rs, struct ArrowArray *out) {
    size_t k, p, live = 0;
    int rc;
    for (p = 0; p < rs->n; p++) live += !rs->dead[p];
    if ((rc = xarr_struct(out, (int64_t)live, x->ncols)) != 0) return rc;
    for (k = 0; k < x->ncols; k++) {
        const xcol *c = &x->cols[k];
        xb b;
        if ((rc = xb_init(&b, c->col == QCOL_ID ? CAIRN_TYPE_U64 : c->type, c->fixed_len)) != 0) break;
        for (p = 0; !rc && p < rs->n; p++) {
            cairn_value v;
            if (rs->dead[p]) continue;
            if (c->col == QCOL_ID) {
                v.is_null = 0;
                v.v.u = rs->ids[p];
            } else {
                cairn_tbl__rs_get(rs, &x->s, p, (size_t)c->col, &v);
            }
            rc = xb_add(&b, &v);
        }
        if (!rc && c->dict) {
            struct ArrowArray plain;
            if ((rc = xb_finish(&b, &plain)) == 0) {
                rc = dict_identity(&plain, out->children[k]);
                if (plain.release) plain.release(&plain);
            }
        } else if (!rc) {
            rc = xb_finish(&b, out->children[k]);
        }
        if (rc) {
            xb_free(&b);
            break;
        }
    }
    if (rc) xarr_release(out);
    return rc;
}

static int xs_errno(int rc) {
    switch (rc) {
    case CAIRN_NOMEM: return ENOMEM;
    case CAIRN_INVALID: return EINVAL;
    default: return EIO;
    }
}

static int st_get_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
    xstream *x = (xstream *)s->private_data;
    int rc;
    if (!x || !out) return EINVAL;
    if ((rc = xcols_schema(x->cols, x->ncols, out)) != 0) {
        snprintf(x->err, sizeof x->err, "%s", cairn_errmsg());
        return xs_errno(rc);
    }
    return 0;
}

static int st_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
    xstream *x = (xstream *)s->private_data;
    int rc;
    if (!x || !out) return EINVAL;
    memset(out, 0, sizeof *out);
    while (x->use_groups && x->next_g < x->ng) {
        size_t gi = x->next_g++;
        if (x->g[gi].nrows == x->g[gi].ndel) continue; /* nothing live: no empty batch */
        if ((rc = group_batch(x, gi, out)) != 0) {
            snprintf(x->err, sizeof x->err, "%s", cairn_errmsg());
            return xs_errno(rc);
        }
        return 0;
    }
    if (x->next_pre < x->npre) {
        *out = x->pre[x->next_pre];
        x->pre[x->next_pre++].release = NULL;
        return 0;
    }
    return 0; /* the end: out->release is NULL */
}

static const char *st_last_error(struct ArrowArrayStream *s) {
    xstream *x = (xstream *)s->private_data;
    return x && x->err[0] ? x->err : NULL;
}

static void st_release(struct ArrowArrayStream *s) {
    if (!s || !s->release) return;
    xs_free((xstream *)s->private_data);
    s->private_data = NULL;
    s->release = NULL;
}

/* ---- building a stream --------------------------------------------------------------------- */

static int xcol_set(const tschema *s, int col, xcol *out) {
    memset(out, 0, sizeof *out);
    out->col = col;
    if (col == QCOL_ID) {
        out->type = CAIRN_TYPE_U64;
        memcpy(out->name, "_id", 4);
        return 0;
    }
    out->type = s->c[col].type;
    out->fixed_len = s->c[col].fixed_len;
    out->nullable = s->c[col].nullable;
    memcpy(out->name, s->c[col].name, strlen(s->c[col].name) + 1);
    return 0;
}

/* 1 when column c is among the stream's columns */
static int xs_exports(const xstream *x, size_t c) {
    size_t k;
    for (k = 0; k < x->ncols; k++)
        if (x->cols[k].col == (int)c) return 1;
    return 0;
}

/* the snapshot of the groups and overlays (t->mu held) */
static int xs_snapshot(cairn_table *t, xstream *x) {
    size_t i, c;
    int rc = 0;
    if ((rc = cairn_tbl__rs_init(&x->ov, &t->s)) != 0) return rc;
    if (t->ng) {
        if (!(x->g = (rgroup *)calloc(t->ng, sizeof(rgroup))) || !(x->g_ov = (uint8_t *)calloc(t->ng, 1)))
            return cairn_err__set(CAIRN_NOMEM, "out of memory");
        for (i = 0; i < t->ng; i++) {
            rgroup *d = &x->g[i];
            const rgroup *sg = &t->g[i];
            *d = *sg;
            d->cols = NULL;
            d->del = NULL;
            memset(&d->ids, 0, sizeof d->ids);
            x->ng = i + 1;
            if (!(d->cols = (segref *)calloc(t->s.n ? t->s.n : 1, sizeof(segref))))
                return cairn_err__set(CAIRN_NOMEM, "out of memory");
            if (sg->del && sg->ndel) {
                if (!(d->del = (uint8_t *)malloc((sg->nrows + 7) / 8))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
                memcpy(d->del, sg->del, (sg->nrows + 7) / 8);
            } else {
                d->ndel = 0;
            }
            d->ids = sg->ids;
            __atomic_add_fetch(&d->ids.file->refs, 1, __ATOMIC_RELAXED);
            for (c = 0; c < t->s.n; c++) {
                segfile *f = sg->cols[c].file;
                d->cols[c] = sg->cols[c];
                __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
                if (!f->map && (d->cols[c].enc == CAIRN_SEG_PLAIN || d->cols[c].enc == CAIRN_SEG_DICT)) {
                    const void *m = NULL;
                    if (cairn_io__map(f->f, f->size, &m) == 0) f->map = (const uint8_t *)m;
                    cairn_errclear();
                }
                if (f->map && !d->cols[c].verified && (d->cols[c].enc == CAIRN_SEG_PLAIN || d->cols[c].enc == CAIRN_SEG_DICT) &&
                    xs_exports(x, c)) {
                    /* verified once for the table (t->mu held, as the queries verify theirs), so the
                     * next export takes it as it is; a segment that fails stays unverified and the
                     * batch that reads it reports the damage (seg_verify) */
                    segref *tr = &t->g[i].cols[c];
                    if (cairn_seg__check(f->map + tr->off, (size_t)tr->len, t->s.c[c].type, t->s.c[c].fixed_len) == 0)
                        tr->verified = d->cols[c].verified = 1;
                    else
                        cairn_errclear();
                }
            }
        }
    }
    /* overlay rows: copied, and their groups marked */
    if (t->ovmap.n) {
        cairn_value *row = (cairn_value *)calloc(t->s.n ? t->s.n : 1, sizeof *row);
        if (!row) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        for (i = 0; !rc && i < t->ovmap.cap; i++) {
            uint64_t id = t->ovmap.k[i], pos = t->ovmap.v[i];
            size_t lo = 0, hi = x->ng;
            if (!id) continue;
            for (c = 0; c < t->s.n; c++) cairn_tbl__rs_get(&t->ov, &t->s, (size_t)pos, c, &row[c]);
            if ((rc = cairn_tbl__rs_append(&x->ov, &t->s, id, row)) != 0) break;
            if ((rc = cairn_tbl__idmap_put(&x->ovmap, id, x->ov.n - 1)) != 0) break;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (x->g[mid].last_id < id) lo = mid + 1;
                else hi = mid;
            }
            if (lo < x->ng && x->g[lo].first_id <= id) x->g_ov[lo] = 1;
        }
        free(row);
    }
    return rc;
}

static int check_t(cairn_table *t, const char *fn) {
    if (!t) return cairn_err__set(CAIRN_INVALID, "%s: NULL handle", fn);
    if (cairn_fork__foreign(t->gen)) return cairn_fork__err(fn);
    return 0;
}

/* which columns go out dictionary-encoded: every group's segment is DICT (and there is one) */
static void xs_pick_dict(xstream *x) {
    size_t k, i;
    if (x->no_dict) return;
    for (k = 0; k < x->ncols; k++) {
        xcol *c = &x->cols[k];
        if (c->col == QCOL_ID || c->type == CAIRN_TYPE_BOOL || !x->ng) continue;
        c->dict = 1;
        for (i = 0; i < x->ng; i++)
            if (x->g[i].cols[c->col].enc != CAIRN_SEG_DICT) c->dict = 0;
    }
}

typedef struct scan_ctx {
    xstream *x;
    xb *b;
    size_t rows;
} scan_ctx;

static int scan_flush(scan_ctx *sc) {
    struct ArrowArray a;
    size_t k;
    int rc;
    if ((rc = xarr_struct(&a, (int64_t)sc->rows, sc->x->ncols)) != 0) return rc;
    for (k = 0; k < sc->x->ncols; k++) {
        if ((rc = xb_finish(&sc->b[k], a.children[k])) != 0) break;
        if ((rc = xb_init(&sc->b[k], sc->x->cols[k].type, sc->x->cols[k].fixed_len)) != 0) break;
    }
    if (!rc) rc = xs_push(sc->x, &a);
    if (a.release) a.release(&a);
    sc->rows = 0;
    return rc;
}

static int scan_chunk(void *ctx, const qchunk *ch) {
    scan_ctx *sc = (scan_ctx *)ctx;
    size_t k;
    int rc;
    for (k = 0; k < sc->x->ncols; k++)
        if ((rc = xb_add_vec(&sc->b[k], &ch->cols[k])) != 0) return rc;
    sc->rows += ch->n;
    if (sc->rows >= CAIRN_SEG_MAX_ROWS) return scan_flush(sc);
    return 0;
}

/* a query with "where" (or only "columns"): run through the scan now, batches kept (t->mu held) */
static int xs_scan(cairn_table *t, xstream *x, const qspec *q) {
    scan_ctx sc;
    int *cols;
    size_t k;
    int rc = 0;
    memset(&sc, 0, sizeof sc);
    sc.x = x;
    if (!(sc.b = (xb *)calloc(x->ncols ? x->ncols : 1, sizeof(xb))) ||
        !(cols = (int *)malloc((x->ncols ? x->ncols : 1) * sizeof(int)))) {
        free(sc.b);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    for (k = 0; !rc && k < x->ncols; k++) {
        cols[k] = x->cols[k].col;
        rc = xb_init(&sc.b[k], x->cols[k].type, x->cols[k].fixed_len);
    }
    if (!rc) rc = cairn_tbl__scan(t, q->where, cols, x->ncols, scan_chunk, &sc);
    if (rc > 0) rc = 0;
    if (!rc && (sc.rows || !x->npre)) rc = scan_flush(&sc);
    for (k = 0; k < x->ncols; k++) xb_free(&sc.b[k]);
    free(sc.b);
    free(cols);
    return rc;
}


/* Build the stream state for `query` (t->mu held). */
static int xs_build(cairn_table *t, const char *query, int no_dict, xstream **out) {
    xstream *x;
    qspec q;
    int have_q = 0, rc = 0;
    size_t k;
    *out = NULL;
    if (!(x = (xstream *)calloc(1, sizeof *x))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    memset(&q, 0, sizeof q);
    x->no_dict = no_dict;
    if ((rc = cairn_tbl__schema_copy(&t->s, &x->s)) != 0) goto fail;
    if (query) {
        if ((rc = cairn_tbl__qspec_parse(t, query, &q)) != 0) goto fail;
        have_q = 1;
        if (q.norder || q.has_limit || q.offset || q.naggs || q.ngroup) {
            rc = 1; /* the query's result as one batch (xs_result, outside the lock) */
            goto fail;
        }
    }
    if (have_q && q.ncols) {
        x->ncols = q.ncols;
        if (!(x->cols = (xcol *)calloc(x->ncols, sizeof(xcol)))) goto nomem;
        for (k = 0; k < q.ncols; k++) xcol_set(&t->s, q.cols[k], &x->cols[k]);
    } else {
        x->ncols = t->s.n + 1;
        if (!(x->cols = (xcol *)calloc(x->ncols, sizeof(xcol)))) goto nomem;
        xcol_set(&t->s, QCOL_ID, &x->cols[0]);
        for (k = 0; k < t->s.n; k++) xcol_set(&t->s, (int)k, &x->cols[k + 1]);
    }
    if (have_q && q.where) {
        if ((rc = xs_scan(t, x, &q)) != 0) goto fail;
    } else {
        struct ArrowArray tail;
        size_t p, live = 0;
        x->use_groups = 1;
        if ((rc = xs_snapshot(t, x)) != 0) goto fail;
        xs_pick_dict(x);
        for (p = 0; p < t->tail.n; p++) live += !t->tail.dead[p];
        if (live || !x->ng) {
            if ((rc = rstore_batch(x, &t->tail, &tail)) != 0) goto fail;
            if ((rc = xs_push(x, &tail)) != 0) {
                tail.release(&tail);
                goto fail;
            }
        }
    }
    if (have_q) cairn_tbl__qspec_free(&q);
    *out = x;
    return 0;
nomem:
    rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
fail:
    if (have_q) cairn_tbl__qspec_free(&q);
    xs_free(x);
    return rc;
}

/* ---- a query with order / limit / offset / aggregates: its result as one batch ------------- */

static int jlit(const char *s, size_t n, size_t *pos, const char *lit) {
    size_t k = strlen(lit);
    cairn_tbl__json_ws(s, n, pos);
    if (n - *pos < k || memcmp(s + *pos, lit, k) != 0)
        return cairn_err__set(CAIRN_INTERNAL, "export: query result: expected %s at %zu", lit, *pos);
    *pos += k;
    return 0;
}

static int type_by_name(const char *tn, int *type, uint32_t *fl) {
    int k;
    *fl = 0;
    if (!strncmp(tn, "bytes:", 6)) {
        *type = CAIRN_TYPE_FIXED;
        *fl = (uint32_t)strtoul(tn + 6, NULL, 10);
        return 0;
    }
    for (k = CAIRN_TYPE_I8; k <= CAIRN_TYPE_TIMESTAMP; k++)
        if (k != CAIRN_TYPE_FIXED && !strcmp(cairn_tbl__type_name(k), tn)) {
            *type = k;
            return 0;
        }
    return cairn_err__set(CAIRN_INTERNAL, "export: query result: type \"%s\"", tn);
}

/* Run the query (cairn_table_query_json: its own snapshot), then read its JSON result back into
 * one record batch: the columns' names and types from "columns", the values from "rows" or
 * "data". */
static int xs_result(cairn_table *t, const char *query, xstream **out) {
    char *res = NULL;
    const char *r;
    size_t n, pos = 0, k;
    tbuf str;
    xstream *x = NULL;
    xb *b = NULL;
    size_t nb = 0;
    jrow jr;
    int rc;
    memset(&str, 0, sizeof str);
    memset(&jr, 0, sizeof jr);
    *out = NULL;
    if ((rc = cairn_table_query_json(t, query, &res)) != 0) return rc;
    r = res;
    n = strlen(res);
    if (!(x = (xstream *)calloc(1, sizeof *x))) goto nomem;
    if ((rc = jlit(r, n, &pos, "{")) || (rc = jlit(r, n, &pos, "\"columns\"")) || (rc = jlit(r, n, &pos, ":")) ||
        (rc = jlit(r, n, &pos, "[")))
        goto fail;
    cairn_tbl__json_ws(r, n, &pos);
    while (pos < n && r[pos] == '{') {
        tcol *nc;
        xcol *ncx;
        if (!(nc = (tcol *)realloc(x->s.c, (x->s.n + 1) * sizeof *nc))) goto nomem;
        x->s.c = nc;
        if (!(ncx = (xcol *)realloc(x->cols, (x->ncols + 1) * sizeof *ncx))) goto nomem;
        x->cols = ncx;
        nc = &x->s.c[x->s.n];
        ncx = &x->cols[x->ncols];
        memset(nc, 0, sizeof *nc);
        memset(ncx, 0, sizeof *ncx);
        x->s.n++;
        x->ncols++;
        str.n = 0;
        if ((rc = jlit(r, n, &pos, "{")) || (rc = jlit(r, n, &pos, "\"name\"")) || (rc = jlit(r, n, &pos, ":")) ||
            (rc = cairn_tbl__json_string(r, n, &pos, &str)))
            goto fail;
        memcpy(nc->name, str.p, str.n > TBL_NAME_MAX ? TBL_NAME_MAX : str.n);
        str.n = 0;
        if ((rc = jlit(r, n, &pos, ",")) || (rc = jlit(r, n, &pos, "\"type\"")) || (rc = jlit(r, n, &pos, ":")) ||
            (rc = cairn_tbl__json_string(r, n, &pos, &str)) || (rc = tbuf_put(&str, "", 1)) ||
            (rc = type_by_name((const char *)str.p, &nc->type, &nc->fixed_len)) || (rc = jlit(r, n, &pos, "}")))
            goto fail;
        nc->nullable = 1;
        nc->w = cairn_tbl__type_width(nc->type, nc->fixed_len);
        ncx->col = (int)(x->s.n - 1);
        ncx->type = nc->type;
        ncx->fixed_len = nc->fixed_len;
        ncx->nullable = 1;
        memcpy(ncx->name, nc->name, sizeof ncx->name);
        cairn_tbl__json_ws(r, n, &pos);
        if (pos < n && r[pos] == ',') pos++;
        cairn_tbl__json_ws(r, n, &pos);
    }
    if ((rc = jlit(r, n, &pos, "]")) || (rc = jlit(r, n, &pos, ","))) goto fail;
    if (!(b = (xb *)calloc(x->ncols ? x->ncols : 1, sizeof *b))) goto nomem;
    for (nb = 0; nb < x->ncols; nb++)
        if ((rc = xb_init(&b[nb], x->cols[nb].type, x->cols[nb].fixed_len)) != 0) goto fail;
    cairn_tbl__json_ws(r, n, &pos);
    if (n - pos >= 6 && !memcmp(r + pos, "\"rows\"", 6)) {
        pos += 6;
        if ((rc = jlit(r, n, &pos, ":")) || (rc = jlit(r, n, &pos, "[")) || (rc = cairn_tbl__jrow_init(&jr, x->s.n))) goto fail;
        cairn_tbl__json_ws(r, n, &pos);
        while (pos < n && r[pos] == '{') {
            if ((rc = cairn_tbl__json_row(&x->s, r, n, &pos, &jr)) != 0) goto fail;
            for (k = 0; k < x->ncols; k++) {
                cairn_value nul;
                nul.is_null = 1;
                if ((rc = xb_add(&b[k], jr.given[k] ? &jr.v[k] : &nul)) != 0) goto fail;
            }
            cairn_tbl__json_ws(r, n, &pos);
            if (pos < n && r[pos] == ',') pos++;
            cairn_tbl__json_ws(r, n, &pos);
        }
    } else {
        /* "data": {"name": [values...], ...} in column order */
        if ((rc = jlit(r, n, &pos, "\"data\"")) || (rc = jlit(r, n, &pos, ":")) || (rc = jlit(r, n, &pos, "{"))) goto fail;
        for (k = 0; k < x->ncols; k++) {
            str.n = 0;
            if (k && (rc = jlit(r, n, &pos, ","))) goto fail;
            cairn_tbl__json_ws(r, n, &pos);
            if ((rc = cairn_tbl__json_string(r, n, &pos, &str)) || (rc = jlit(r, n, &pos, ":")) ||
                (rc = jlit(r, n, &pos, "[")))
                goto fail;
            cairn_tbl__json_ws(r, n, &pos);
            while (pos < n && r[pos] != ']') {
                cairn_value v;
                size_t so = 0;
                str.n = 0;
                if ((rc = cairn_tbl__json_value(&x->s.c[k], r, n, &pos, &v, &str, &so)) != 0) goto fail;
                if (!v.is_null && (is_var(x->s.c[k].type) || x->s.c[k].type == CAIRN_TYPE_FIXED))
                    v.v.s.bytes = str.p ? str.p + so : (const uint8_t *)"";
                if ((rc = xb_add(&b[k], &v)) != 0) goto fail;
                cairn_tbl__json_ws(r, n, &pos);
                if (pos < n && r[pos] == ',') pos++;
                cairn_tbl__json_ws(r, n, &pos);
            }
            pos++;
        }
    }
    {
        struct ArrowArray a;
        size_t rows = x->ncols ? b[0].n : 0;
        if ((rc = xarr_struct(&a, (int64_t)rows, x->ncols)) != 0) goto fail;
        for (k = 0; !rc && k < x->ncols; k++) rc = xb_finish(&b[k], a.children[k]);
        if (!rc) rc = xs_push(x, &a);
        if (a.release) a.release(&a);
        if (rc) goto fail;
    }
    goto done;
nomem:
    rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
fail:
    xs_free(x);
    x = NULL;
done:
    for (k = 0; k < nb; k++) xb_free(&b[k]);
    free(b);
    cairn_tbl__jrow_free(&jr);
    free(str.p);
    cairn_free(res);
    *out = x;
    return rc;
}

int cairn_tbl__export_stream(cairn_table *t, const char *query, int no_dict, struct ArrowArrayStream *out) {
    xstream *x = NULL;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_export_stream: out is NULL");
    memset(out, 0, sizeof *out);
    if ((rc = check_t(t, "cairn_table_export_stream")) != 0) return rc;
    pthread_mutex_lock(&t->mu);
    rc = xs_build(t, query, no_dict, &x);
    pthread_mutex_unlock(&t->mu);
    if (rc == 1) rc = xs_result(t, query, &x);
    if (rc) return rc;
    out->get_schema = st_get_schema;
    out->get_next = st_get_next;
    out->get_last_error = st_last_error;
    out->release = st_release;
    out->private_data = x;
    return 0;
}

int cairn_table_export_stream(cairn_table *t, const char *query, struct ArrowArrayStream *out) {
    return cairn_tbl__export_stream(t, query, 0, out);
}

/* ---- one column -------------------------------------------------------------------------- */

int cairn_table_export_column(cairn_table *t, const char *column, struct ArrowSchema *schema,
                              struct ArrowArray *array) {
    xstream *x = NULL;
    xcol c;
    xb b;
    size_t gi, k, p;
    int col = -2, rc;
    if (!schema || !array || !column) return cairn_err__set(CAIRN_INVALID, "cairn_table_export_column: NULL argument");
    memset(schema, 0, sizeof *schema);
    memset(array, 0, sizeof *array);
    if ((rc = check_t(t, "cairn_table_export_column")) != 0) return rc;
    pthread_mutex_lock(&t->mu);
    if (!strcmp(column, "_id")) col = QCOL_ID;
    for (k = 0; k < t->s.n; k++)
        if (!strcmp(t->s.c[k].name, column)) col = (int)k;
    if (col == -2) {
        pthread_mutex_unlock(&t->mu);
        return cairn_err__set(CAIRN_SCHEMA, "cairn_table_export_column: no column \"%s\"", column);
    }
    xcol_set(&t->s, col, &c);
    if (!(x = (xstream *)calloc(1, sizeof *x))) rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
    if (!rc) rc = cairn_tbl__schema_copy(&t->s, &x->s);
    if (!rc) rc = xs_snapshot(t, x);
    if (!rc) rc = xb_init(&b, c.type, c.fixed_len);
    else memset(&b, 0, sizeof b);
    /* the tail first into the builder's end: gathered after the groups below, so copy it now */
    {
        xb tb;
        memset(&tb, 0, sizeof tb);
        if (!rc) rc = xb_init(&tb, c.type, c.fixed_len);
        for (p = 0; !rc && p < t->tail.n; p++) {
            cairn_value v;
            if (t->tail.dead[p]) continue;
            if (col == QCOL_ID) {
                v.is_null = 0;
                v.v.u = t->tail.ids[p];
            } else {
                cairn_tbl__rs_get(&t->tail, &t->s, p, (size_t)col, &v);
            }
            rc = xb_add(&tb, &v);
        }
        pthread_mutex_unlock(&t->mu);
        for (gi = 0; !rc && x && gi < x->ng; gi++) {
            struct ArrowArray a;
            grows r;
            if ((rc = grows_load(x, gi, col == QCOL_ID, &r)) == 0) {
                rc = group_column(x, gi, &c, &r, &a);
                if (!rc) {
                    cairn_colvec cv;
                    memset(&cv, 0, sizeof cv);
                    cv.type = c.type;
                    cv.fixed_len = c.fixed_len;
                    cv.n = (size_t)a.length;
                    /* back to a colvec view of the array's buffers */
                    if (c.type == CAIRN_TYPE_BOOL) {
                        const uint8_t *bits = (const uint8_t *)a.buffers[1];
                        const uint8_t *vb = (const uint8_t *)a.buffers[0];
                        for (p = 0; !rc && p < cv.n; p++) {
                            cairn_value v;
                            v.is_null = vb && !((vb[p >> 3] >> (p & 7)) & 1);
                            v.v.b = (bits[p >> 3] >> (p & 7)) & 1;
                            rc = xb_add(&b, &v);
                        }
                    } else {
                        uint64_t *offs = NULL;
                        cv.validity = (uint8_t *)(uintptr_t)a.buffers[0];
                        if (is_var(c.type)) {
                            cv.offsets = offs = (uint64_t *)(uintptr_t)a.buffers[1];
                            cv.data = (void *)(uintptr_t)a.buffers[2];
                        } else {
                            cv.data = (void *)(uintptr_t)a.buffers[1];
                        }
                        rc = xb_add_vec(&b, &cv);
                        (void)offs;
                    }
                    a.release(&a);
                }
            }
            grows_free(&r);
        }
        if (!rc && tb.n) {
            cairn_colvec cv;
            memset(&cv, 0, sizeof cv);
            cv.type = c.type;
            cv.fixed_len = c.fixed_len;
            cv.n = tb.n;
            if (c.type == CAIRN_TYPE_BOOL) {
                for (p = 0; !rc && p < tb.n; p++) {
                    cairn_value v;
                    v.is_null = !((tb.v.p[p >> 3] >> (p & 7)) & 1);
                    v.v.b = (tb.d.p[p >> 3] >> (p & 7)) & 1;
                    rc = xb_add(&b, &v);
                }
            } else {
                cv.validity = tb.nulls ? tb.v.p : NULL;
                cv.offsets = (uint64_t *)(void *)tb.o.p;
                cv.data = tb.d.p;
                rc = xb_add_vec(&b, &cv);
            }
        }
        xb_free(&tb);
    }
    xs_free(x);
    if (!rc) rc = xb_finish(&b, array);
    if (rc) {
        xb_free(&b);
        return rc;
    }
    c.dict = 0;
    if ((rc = xcol_schema(&c, schema)) != 0) {
        array->release(array);
        return rc;
    }
    return 0;
}
