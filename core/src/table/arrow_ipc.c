/*
 * arrow_ipc.c - cairn_table_export_ipc: the rows of a query as Arrow IPC stream bytes, written by
 * hand (no Arrow or flatbuffers library).
 *
 * The streaming format (Arrow columnar spec, "IPC Streaming Format"): encapsulated messages, each
 *   0xFFFFFFFF (continuation), int32 metadata length L (a multiple of 8 here), L bytes: a
 *   flatbuffer `Message` (padded with zeros), then the message body (bodyLength bytes)
 * first a Schema message (no body), then one RecordBatch message per batch of
 * cairn_tbl__export_stream (every column plain: dictionary columns are decoded here), then the
 * end-of-stream marker 0xFFFFFFFF 0x00000000. Metadata version V5, little-endian. In a body every
 * buffer starts 8-byte aligned (zero padding after each); a validity buffer has length 0 when the
 * column has no null in the batch.
 *
 * Flatbuffers are built front to back: a table is written as its vtable, then the table (int32
 * soffset back to the vtable, then the fields, each aligned to its size in the buffer), and the
 * objects it refers to (tables, vectors, strings) after it; their uoffsets are patched in once
 * they are placed, so every offset points forward as the format wants.
 *
 * Types (Schema.fbs): Int{bitWidth, is_signed}, FloatingPoint{SINGLE|DOUBLE}, Bool,
 * FixedSizeBinary{byteWidth}, LargeUtf8, LargeBinary, Timestamp{MICROSECOND, "UTC"}.
 */
#include "table/arrow_int.h"

#include <stdio.h>

/* ---- a forward flatbuffer builder ----------------------------------------------------------- */

typedef struct fbb {
    tbuf b;
    int err;
} fbb;

static void fb_zero(fbb *f, size_t n) {
    static const uint8_t z[16] = {0};
    while (n && !f->err) {
        size_t k = n < sizeof z ? n : sizeof z;
        if (tbuf_put(&f->b, z, k)) f->err = CAIRN_NOMEM;
        n -= k;
    }
}

static void fb_align(fbb *f, size_t a, size_t extra) {
    size_t pad = (a - (f->b.n + extra) % a) % a;
    fb_zero(f, pad);
}

static void fb_bytes(fbb *f, const void *p, size_t n) {
    if (!f->err && tbuf_put(&f->b, p, n)) f->err = CAIRN_NOMEM;
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}
static void put64(uint8_t *p, uint64_t v) {
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* patch the uoffset at `slot` to point at `target` (target after slot) */
static void fb_patch(fbb *f, size_t slot, size_t target) {
    if (f->err) return;
    put32(f->b.p + slot, (uint32_t)(target - slot));
}

#define FB_MAXF 8
typedef struct fbf {
    unsigned size;        /* 0: absent; 1, 2, 4, 8 */
    uint64_t val;         /* scalar value (an offset field: 0, patched later) */
} fbf;

/* write a table of n fields; slots[i] gets the position of field i (for offsets to patch);
 * returns the table's position */
static size_t fb_table(fbb *f, size_t n, const fbf *fl, size_t *slots) {
    size_t vt, t, cur, i, off[FB_MAXF];
    uint8_t hdr[4 + 2 * FB_MAXF];
    fb_align(f, 2, 0);
    vt = f->b.n;
    t = vt + 4 + 2 * n;
    t += (4 - t % 4) % 4;
    cur = t + 4;
    for (i = 0; i < n; i++) {
        if (!fl[i].size) {
            off[i] = 0;
            continue;
        }
        cur += (fl[i].size - cur % fl[i].size) % fl[i].size;
        off[i] = cur;
        cur += fl[i].size;
    }
    put16(hdr, (uint16_t)(4 + 2 * n));
    put16(hdr + 2, (uint16_t)(cur - t));
    for (i = 0; i < n; i++) put16(hdr + 4 + 2 * i, (uint16_t)(off[i] ? off[i] - t : 0));
    fb_bytes(f, hdr, 4 + 2 * n);
    fb_zero(f, t - (vt + 4 + 2 * n));
    {
        uint8_t so[4];
        put32(so, (uint32_t)(t - vt));
        fb_bytes(f, so, 4);
    }
    for (i = 0; i < n; i++) {
        uint8_t v[8];
        if (!fl[i].size) continue;
        fb_zero(f, off[i] - f->b.n);
        if (fl[i].size == 1) v[0] = (uint8_t)fl[i].val;
        else if (fl[i].size == 2) put16(v, (uint16_t)fl[i].val);
        else if (fl[i].size == 4) put32(v, (uint32_t)fl[i].val);
        else put64(v, fl[i].val);
        fb_bytes(f, v, fl[i].size);
        if (slots) slots[i] = off[i];
    }
    fb_zero(f, cur - f->b.n);
    return t;
}

static size_t fb_string(fbb *f, const char *s) {
    size_t n = strlen(s), pos;
    uint8_t l[4];
    fb_align(f, 4, 0);
    pos = f->b.n;
    put32(l, (uint32_t)n);
    fb_bytes(f, l, 4);
    fb_bytes(f, s, n);
    fb_zero(f, 1);
    return pos;
}

/* a vector of `count` elements of `esize` bytes aligned to `ealign`: returns its position, *data
 * the position of element 0 */
static size_t fb_vector(fbb *f, size_t count, size_t esize, size_t ealign, const void *elems, size_t *data) {
    size_t pos;
    uint8_t l[4];
    fb_align(f, ealign < 4 ? 4 : ealign, 4);
    pos = f->b.n;
    put32(l, (uint32_t)count);
    fb_bytes(f, l, 4);
    *data = f->b.n;
    if (elems) fb_bytes(f, elems, count * esize);
    else fb_zero(f, count * esize);
    return pos;
}

/* ---- Arrow types from C data interface formats -------------------------------------------- */

enum { T_INT = 2, T_FLOAT = 3, T_BOOL = 6, T_TIMESTAMP = 10, T_FIXED = 15, T_LBINARY = 19, T_LUTF8 = 20 };

typedef struct ftype {
    int type;             /* Type union tag */
    int bits, is_signed;  /* Int */
    int precision;        /* FloatingPoint: 1 single, 2 double */
    int width;            /* FixedSizeBinary; bytes per value of fixed-width types */
    int var;              /* offsets + data */
} ftype;

static int parse_format(const char *f, ftype *t) {
    static const char ints[] = "csilCSIL";
    const char *p;
    memset(t, 0, sizeof *t);
    if (f[0] && !f[1] && (p = strchr(ints, f[0])) != NULL) {
        int k = (int)(p - ints);
        t->type = T_INT;
        t->bits = 8 << (k % 4);
        t->is_signed = k < 4;
        t->width = t->bits / 8;
        return 0;
    }
    if (!strcmp(f, "f") || !strcmp(f, "g")) {
        t->type = T_FLOAT;
        t->precision = f[0] == 'f' ? 1 : 2;
        t->width = f[0] == 'f' ? 4 : 8;
        return 0;
    }
    if (!strcmp(f, "b")) {
        t->type = T_BOOL;
        return 0;
    }
    if (!strcmp(f, "tsu:UTC")) {
        t->type = T_TIMESTAMP;
        t->width = 8;
        return 0;
    }
    if (!strncmp(f, "w:", 2)) {
        t->type = T_FIXED;
        t->width = atoi(f + 2);
        return 0;
    }
    if (!strcmp(f, "U") || !strcmp(f, "Z")) {
        t->type = f[0] == 'U' ? T_LUTF8 : T_LBINARY;
        t->var = 1;
        return 0;
    }
    return cairn_err__set(CAIRN_UNSUPPORTED, "export_ipc: Arrow format \"%s\"", f);
}

/* ---- messages ------------------------------------------------------------------------------- */

/* the Message table with its header; returns the slot of the header offset */
static size_t fb_message(fbb *f, int header_type, uint64_t body_len) {
    fbf m[4];
    size_t slots[4], root;
    uint8_t z[4] = {0, 0, 0, 0};
    fb_bytes(f, z, 4); /* root uoffset */
    m[0].size = 2, m[0].val = 4;           /* version: V5 */
    m[1].size = 1, m[1].val = (uint64_t)header_type;
    m[2].size = 4, m[2].val = 0;           /* header */
    m[3].size = 8, m[3].val = body_len;    /* bodyLength */
    root = fb_table(f, 4, m, slots);
    fb_patch(f, 0, root);
    return slots[2];
}

static int schema_message(const struct ArrowSchema *s, fbb *f) {
    fbf sf[2];
    size_t hslot, slots[2], vdata, i, *fslot;
    int rc = 0;
    hslot = fb_message(f, 1, 0);
    sf[0].size = 2, sf[0].val = 0;         /* endianness: Little */
    sf[1].size = 4, sf[1].val = 0;         /* fields */
    fb_patch(f, hslot, fb_table(f, 2, sf, slots));
    if (!(fslot = (size_t *)malloc(((size_t)s->n_children + 1) * sizeof *fslot)))
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    fb_patch(f, slots[1], fb_vector(f, (size_t)s->n_children, 4, 4, NULL, &vdata));
    for (i = 0; i < (size_t)s->n_children; i++) fslot[i] = vdata + 4 * i;
    for (i = 0; !rc && i < (size_t)s->n_children; i++) {
        const struct ArrowSchema *c = s->children[i];
        ftype ft;
        fbf ff[6], tf[2];
        size_t fs[6], ts[2], t, cd;
        if ((rc = parse_format(c->format, &ft)) != 0) break;
        ff[0].size = 4, ff[0].val = 0;                                     /* name */
        ff[1].size = 1, ff[1].val = (c->flags & ARROW_FLAG_NULLABLE) != 0; /* nullable */
        ff[2].size = 1, ff[2].val = (uint64_t)ft.type;                     /* type_type */
        ff[3].size = 4, ff[3].val = 0;                                     /* type */
        ff[4].size = 0, ff[4].val = 0;                                     /* dictionary */
        ff[5].size = 4, ff[5].val = 0;                                     /* children */
        fb_patch(f, fslot[i], fb_table(f, 6, ff, fs));
        fb_patch(f, fs[0], fb_string(f, c->name ? c->name : ""));
        switch (ft.type) {
        case T_INT:
            tf[0].size = 4, tf[0].val = (uint64_t)ft.bits;
            tf[1].size = 1, tf[1].val = (uint64_t)ft.is_signed;
            t = fb_table(f, 2, tf, ts);
            break;
        case T_FLOAT:
            tf[0].size = 2, tf[0].val = (uint64_t)ft.precision;
            t = fb_table(f, 1, tf, ts);
            break;
        case T_FIXED:
            tf[0].size = 4, tf[0].val = (uint64_t)ft.width;
            t = fb_table(f, 1, tf, ts);
            break;
        case T_TIMESTAMP:
            tf[0].size = 2, tf[0].val = 2; /* MICROSECOND */
            tf[1].size = 4, tf[1].val = 0;
            t = fb_table(f, 2, tf, ts);
            fb_patch(f, ts[1], fb_string(f, "UTC"));
            break;
        default:
            t = fb_table(f, 0, tf, NULL);
            break;
        }
        fb_patch(f, fs[3], t);
        fb_patch(f, fs[5], fb_vector(f, 0, 4, 4, NULL, &cd));
    }
    free(fslot);
    return rc ? rc : f->err;
}

typedef struct ibuf {
    const void *p;
    uint64_t len;
} ibuf;

/* the buffers of one column of a batch, as IPC wants them */
static int column_buffers(const struct ArrowArray *a, const ftype *ft, ibuf *b, size_t *nb) {
    uint64_t n = (uint64_t)a->length;
    if (a->offset != 0 || a->dictionary) return cairn_err__set(CAIRN_INTERNAL, "export_ipc: unexpected array layout");
    b[0].p = a->buffers[0];
    b[0].len = a->null_count && a->buffers[0] ? (n + 7) / 8 : 0;
    if (ft->type == T_BOOL) {
        b[1].p = a->buffers[1];
        b[1].len = (n + 7) / 8;
        *nb = 2;
    } else if (ft->var) {
        const int64_t *o = (const int64_t *)a->buffers[1];
        b[1].p = o;
        b[1].len = (n + 1) * 8;
        b[2].p = a->buffers[2];
        b[2].len = (uint64_t)o[n];
        *nb = 3;
    } else {
        b[1].p = a->buffers[1];
        b[1].len = n * (uint64_t)ft->width;
        *nb = 2;
    }
    return 0;
}

/* one encapsulated message: continuation, length, the flatbuffer padded to 8, then the body */
static int emit(tbuf *out, fbb *f, const ibuf *body, size_t nbody) {
    uint8_t h[8];
    size_t meta, i;
    static const uint8_t z[8] = {0};
    if (f->err) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    meta = f->b.n + (8 - f->b.n % 8) % 8;
    put32(h, 0xFFFFFFFFu);
    put32(h + 4, (uint32_t)meta);
    if (tbuf_put(out, h, 8) || tbuf_put(out, f->b.p, f->b.n) || tbuf_put(out, z, meta - f->b.n))
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (i = 0; i < nbody; i++) {
        size_t pad = (size_t)((8 - body[i].len % 8) % 8);
        if (tbuf_put(out, body[i].p, (size_t)body[i].len) || tbuf_put(out, z, pad))
            return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    return 0;
}

static int batch_message(const struct ArrowSchema *s, const struct ArrowArray *a, tbuf *out) {
    size_t nc = (size_t)s->n_children, i, k, nbuf = 0, slots[3], d;
    ibuf *bufs;
    uint8_t *nodes, *bdesc;
    uint64_t off = 0;
    fbb f;
    fbf rb[3];
    int rc = 0;
    memset(&f, 0, sizeof f);
    bufs = (ibuf *)calloc(nc * 3 + 1, sizeof *bufs);
    nodes = (uint8_t *)calloc(nc + 1, 16);
    bdesc = (uint8_t *)calloc(nc * 3 + 1, 16);
    if (!bufs || !nodes || !bdesc) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < nc; i++) {
        ftype ft;
        size_t nb = 0;
        const struct ArrowArray *c = a->children[i];
        if ((rc = parse_format(s->children[i]->format, &ft)) != 0) goto out;
        if ((rc = column_buffers(c, &ft, bufs + nbuf, &nb)) != 0) goto out;
        put64(nodes + 16 * i, (uint64_t)c->length);
        put64(nodes + 16 * i + 8, (uint64_t)(bufs[nbuf].len ? c->null_count : 0));
        for (k = 0; k < nb; k++) {
            put64(bdesc + 16 * (nbuf + k), off);
            put64(bdesc + 16 * (nbuf + k) + 8, bufs[nbuf + k].len);
            off += bufs[nbuf + k].len + (8 - bufs[nbuf + k].len % 8) % 8;
        }
        nbuf += nb;
    }
    {
        size_t hslot = fb_message(&f, 3, off);
        rb[0].size = 8, rb[0].val = (uint64_t)a->length;
        rb[1].size = 4, rb[1].val = 0;
        rb[2].size = 4, rb[2].val = 0;
        fb_patch(&f, hslot, fb_table(&f, 3, rb, slots));
        fb_patch(&f, slots[1], fb_vector(&f, nc, 16, 8, nodes, &d));
        fb_patch(&f, slots[2], fb_vector(&f, nbuf, 16, 8, bdesc, &d));
    }
    rc = emit(out, &f, bufs, nbuf);
out:
    free(f.b.p);
    free(bufs);
    free(nodes);
    free(bdesc);
    return rc;
}

int cairn_table_export_ipc(cairn_table *t, const char *query, void **out, size_t *len) {
    struct ArrowArrayStream st;
    struct ArrowSchema s;
    tbuf o;
    fbb f;
    int rc;
    if (!out || !len) return cairn_err__set(CAIRN_INVALID, "cairn_table_export_ipc: NULL argument");
    *out = NULL;
    *len = 0;
    if ((rc = cairn_tbl__export_stream(t, query, 1, &st)) != 0) return rc;
    memset(&o, 0, sizeof o);
    memset(&f, 0, sizeof f);
    memset(&s, 0, sizeof s);
    if (st.get_schema(&st, &s) != 0) {
        rc = cairn_err__set(CAIRN_NOMEM, "export_ipc: %s", st.get_last_error(&st) ? st.get_last_error(&st) : "schema");
        goto out;
    }
    if ((rc = schema_message(&s, &f)) != 0 || (rc = emit(&o, &f, NULL, 0)) != 0) goto out;
    for (;;) {
        struct ArrowArray a;
        int e = st.get_next(&st, &a);
        if (e) {
            const char *m = st.get_last_error(&st);
            rc = cairn_errcode() ? cairn_errcode() : CAIRN_IO;
            rc = cairn_err__set(rc, "%s", m ? m : "export_ipc: get_next failed");
            goto out;
        }
        if (!a.release) break;
        rc = batch_message(&s, &a, &o);
        a.release(&a);
        if (rc) goto out;
    }
    {
        uint8_t eos[8];
        put32(eos, 0xFFFFFFFFu);
        put32(eos + 4, 0);
        if (tbuf_put(&o, eos, 8)) {
            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
            goto out;
        }
    }
    *len = o.n;
    *out = o.p;
    o.p = NULL;
out:
    free(o.p);
    free(f.b.p);
    if (s.release) s.release(&s);
    st.release(&st);
    return rc;
}
