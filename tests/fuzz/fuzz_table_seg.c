/* Fuzz target: the column segment codec of the table engine (core/src/table/seg.c). No files.
 * Input: a mode byte, then the bytes of one segment. Bit 0 of the mode set: fix the segment's
 * CRC up first, so that the decoders behind the CRC check are reached.
 *  1. decode / info / check / point reads of those bytes, as the type the header names and as
 *     the type (mode >> 1) % 15 + 1: every answer is 0 or CORRUPT (RANGE for an index past n),
 *     never a crash or a read out of bounds; a successful decode is self-consistent (offsets,
 *     lengths, n) and every point read and decode_range of a part agrees with it.
 *  2. the same bytes read as a column vector (type, encoding to force, nulls, values: see
 *     vec_from): encode -> decode round-trips exactly (nulls read as 0 or empty), point reads
 *     agree, the zone map in the header is the one cairn_seg__zone computes, and the automatic
 *     choice is never larger than the forced encoding.
 * fuzz_fail aborts on any violation. */
#include "fuzz_common.h"

#include "table/seg.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static int is_var(int t) { return t == CAIRN_TYPE_STRING || t == CAIRN_TYPE_BYTES; }

static int valid_at(const cairn_colvec *v, size_t i) {
    return !v->validity || ((v->validity[i >> 3] >> (i & 7)) & 1);
}

static const uint8_t *val_at(const cairn_colvec *v, size_t i, size_t *len) {
    if (is_var(v->type)) {
        *len = (size_t)(v->offsets[i + 1] - v->offsets[i]);
        return (const uint8_t *)v->data + v->offsets[i];
    }
    *len = cairn_seg__width(v->type, v->fixed_len);
    return (const uint8_t *)v->data + i * *len;
}

/* The bytes a point read stands for, in the colvec layout of the type. */
static void value_bytes(int type, const cairn_value *gv, uint8_t out[8]) {
    memset(out, 0, 8);
    switch (type) {
    case CAIRN_TYPE_I8: case CAIRN_TYPE_I16: case CAIRN_TYPE_I32: case CAIRN_TYPE_I64:
    case CAIRN_TYPE_TIMESTAMP: {
        int64_t x = gv->v.i;
        size_t w = cairn_seg__width(type, 0), k;
        for (k = 0; k < w; k++) out[k] = (uint8_t)((uint64_t)x >> (8 * k));
        break;
    }
    case CAIRN_TYPE_U8: case CAIRN_TYPE_U16: case CAIRN_TYPE_U32: case CAIRN_TYPE_U64: {
        size_t w = cairn_seg__width(type, 0), k;
        for (k = 0; k < w; k++) out[k] = (uint8_t)(gv->v.u >> (8 * k));
        break;
    }
    case CAIRN_TYPE_BOOL: out[0] = (uint8_t)gv->v.b; break;
    case CAIRN_TYPE_F32: { float f = (float)gv->v.f; memcpy(out, &f, 4); break; }
    case CAIRN_TYPE_F64: memcpy(out, &gv->v.f, 8); break;
    default: break;
    }
}

/* Point read i agrees with decoded vector d. */
static void agree(const uint8_t *seg, size_t len, const cairn_colvec *d, size_t i) {
    cairn_value gv;
    size_t l;
    const uint8_t *p = val_at(d, i, &l);
    int rc = cairn_seg__get(seg, len, d->type, d->fixed_len, i, &gv);
    if (rc != 0) fuzz_fail("get %zu failed (%s: %s) where decode worked", i, cairn_errname(rc), cairn_errmsg());
    if (gv.is_null != !valid_at(d, i)) fuzz_fail("get %zu: null %d, decode says valid %d", i, gv.is_null, valid_at(d, i));
    if (gv.is_null) return;
    if (is_var(d->type) || d->type == CAIRN_TYPE_FIXED) {
        if (gv.v.s.len != l || (l && memcmp(gv.v.s.bytes, p, l) != 0)) fuzz_fail("get %zu: bytes differ", i);
        if ((const uint8_t *)gv.v.s.bytes < seg || (const uint8_t *)gv.v.s.bytes + l > seg + len)
            fuzz_fail("get %zu: bytes outside the segment", i);
    } else if (d->type == CAIRN_TYPE_F32) {
        float a, b;
        memcpy(&a, p, 4);
        b = (float)gv.v.f;
        if (memcmp(&a, &b, 4) != 0 && !(a != a && b != b)) fuzz_fail("get %zu: f32 differs", i);
    } else {
        uint8_t b[8];
        value_bytes(d->type, &gv, b);
        if (memcmp(b, p, l) != 0) fuzz_fail("get %zu: value differs", i);
    }
}

/* Rows [s0, s0 + cnt) decoded alone equal those rows of the whole decode d. */
static void range_agrees(const uint8_t *seg, size_t len, const cairn_colvec *d, size_t s0, size_t cnt) {
    cairn_colvec r;
    size_t i;
    int rc = cairn_seg__decode_range(seg, len, d->type, d->fixed_len, s0, cnt, &r);
    if (rc != 0) fuzz_fail("decode_range %zu+%zu failed (%s: %s) where decode worked", s0, cnt, cairn_errname(rc), cairn_errmsg());
    if (r.n != cnt) fuzz_fail("decode_range: n %zu", r.n);
    for (i = 0; i < cnt; i++) {
        size_t la, lb;
        const uint8_t *pa = val_at(d, s0 + i, &la), *pb = val_at(&r, i, &lb);
        if (valid_at(d, s0 + i) != valid_at(&r, i) || la != lb || (la && memcmp(pa, pb, la) != 0))
            fuzz_fail("decode_range %zu+%zu: row %zu differs", s0, cnt, i);
    }
    cairn_seg__free_vec(&r);
}

static void check_decoded(const uint8_t *seg, size_t len, const cairn_colvec *d, size_t n) {
    size_t i, step;
    if (d->n != n) fuzz_fail("decode: n %zu, header %zu", d->n, n);
    if (is_var(d->type)) {
        if (!d->offsets || d->offsets[0] != 0 || d->offsets[n] != d->data_len) fuzz_fail("decode: bad offsets");
        for (i = 0; i < n; i++)
            if (d->offsets[i + 1] < d->offsets[i]) fuzz_fail("decode: offsets decrease at %zu", i);
    } else if (d->data_len != n * cairn_seg__width(d->type, d->fixed_len)) {
        fuzz_fail("decode: data_len %zu", d->data_len);
    }
    for (i = 0; i < n; i++) {
        size_t l, k;
        const uint8_t *p = val_at(d, i, &l);
        if (valid_at(d, i)) {
            if (d->type == CAIRN_TYPE_BOOL && p[0] > 1) fuzz_fail("decode: bool %u", p[0]);
            continue;
        }
        for (k = 0; k < l; k++)
            if (p[k]) fuzz_fail("decode: null %zu not zero", i);
        if (is_var(d->type) && l) fuzz_fail("decode: null %zu not empty", i);
    }
    step = n > 512 ? n / 509 : 1;
    for (i = 0; i < n; i += step) agree(seg, len, d, i);
    agree(seg, len, d, n - 1);
    range_agrees(seg, len, d, 0, n);
    range_agrees(seg, len, d, n / 3, n - n / 3);
    range_agrees(seg, len, d, n - 1, 1);
    if (n > 66) range_agrees(seg, len, d, 33, n / 2 - 20);
}

static void decode_bytes(const uint8_t *seg, size_t len, int other_type) {
    int types[2], k, rc;
    uint32_t fixed = len >= 16 ? cairn_get32(seg + 12) : 0;
    size_t n = len >= 12 ? cairn_get32(seg + 8) : 0, enc_n = 0;
    int enc = 0;
    cairn_zone z;
    types[0] = len > 5 ? seg[5] : 1;
    types[1] = other_type;
    rc = cairn_seg__info(seg, len, &enc, &enc_n, &z);
    if (rc != 0 && rc != CAIRN_CORRUPT) fuzz_fail("info: %s", cairn_errname(rc));
    if (rc == 0 && (enc_n != n || enc < 1 || enc > 7 || z.count != n || z.nulls > n)) fuzz_fail("info: bad header accepted");
    for (k = 0; k < 2; k++) {
        cairn_colvec d;
        cairn_value gv;
        size_t idx[4], j;
        int crc_ok = cairn_seg__check(seg, len, types[k], fixed);
        if (crc_ok != 0 && crc_ok != CAIRN_CORRUPT) fuzz_fail("check: %s", cairn_errname(crc_ok));
        /* an output of n strings each as long as the segment, or of n bytes:N values, may be huge
         * (and legitimately so): skip such decodes */
        if (!(is_var(types[k]) && (uint64_t)n * len > ((uint64_t)64 << 20)) &&
            !(types[k] == CAIRN_TYPE_FIXED && (uint64_t)n * fixed > ((uint64_t)64 << 20))) {
            rc = cairn_seg__decode(seg, len, types[k], fixed, &d);
            if (rc != 0 && rc != CAIRN_CORRUPT && rc != CAIRN_NOMEM) fuzz_fail("decode: %s", cairn_errname(rc));
            if (rc == 0) {
                if (crc_ok != 0) fuzz_fail("decode accepted what check refused");
                check_decoded(seg, len, &d, n);
                cairn_seg__free_vec(&d);
            } else if (d.data || d.offsets || d.validity) {
                fuzz_fail("decode failed but left buffers");
            }
        }
        idx[0] = 0;
        idx[1] = n ? n - 1 : 0;
        idx[2] = n / 2;
        idx[3] = n + 1;
        for (j = 0; j < 4; j++) {
            rc = cairn_seg__get(seg, len, types[k], fixed, idx[j], &gv);
            if (rc != 0 && rc != CAIRN_CORRUPT && rc != CAIRN_RANGE) fuzz_fail("get: %s", cairn_errname(rc));
        }
        /* a part of a segment whose CRC may be wrong: answers, never crashes */
        if (n > 2 && !((is_var(types[k]) && (uint64_t)n * len > ((uint64_t)64 << 20)) ||
                       (types[k] == CAIRN_TYPE_FIXED && (uint64_t)n * fixed > ((uint64_t)64 << 20)))) {
            rc = cairn_seg__decode_range(seg, len, types[k], fixed, n / 2, n - n / 2, &d);
            if (rc != 0 && rc != CAIRN_CORRUPT && rc != CAIRN_RANGE && rc != CAIRN_NOMEM) fuzz_fail("decode_range: %s", cairn_errname(rc));
            cairn_seg__free_vec(&d);
        }
    }
}

/* A column vector from fuzz bytes: p[0] type, p[1] bits 0-2 encoding to force (0: automatic),
 * bit 3 nulls, bits 4-7 N-1 of bytes:N; then the values (numeric: raw at the type's width; bool:
 * bit 0 of a byte; string/bytes: a length byte (mod 16) then that many bytes, repeated); with
 * nulls, bit 7 of each value's first byte clear makes it null. */
static int vec_from(const uint8_t *p, size_t size, cairn_colvec *v, int *force) {
    size_t i, rem, w;
    const uint8_t *q;
    memset(v, 0, sizeof *v);
    if (size < 3) return 0;
    v->type = p[0] % 15 + 1;
    *force = p[1] & 7;
    q = p + 2;
    rem = size - 2;
    if (v->type == CAIRN_TYPE_FIXED) v->fixed_len = (uint32_t)(p[1] >> 4) + 1;
    if (is_var(v->type)) {
        size_t k = 0, n = 0, cap = rem + 1;
        uint8_t *data = (uint8_t *)malloc(rem + 1);
        uint64_t *off = (uint64_t *)malloc((cap + 1) * sizeof *off);
        off[0] = 0;
        while (k < rem && n < CAIRN_SEG_MAX_ROWS) {
            size_t l = q[k++] % 16;
            if (l > rem - k) l = rem - k;
            memcpy(data + off[n], q + k, l);
            k += l;
            off[n + 1] = off[n] + l;
            n++;
        }
        v->data = data;
        v->offsets = off;
        v->n = n;
        v->data_len = (size_t)off[n];
    } else {
        w = cairn_seg__width(v->type, v->fixed_len);
        v->n = rem / w;
        if (v->n > CAIRN_SEG_MAX_ROWS) v->n = CAIRN_SEG_MAX_ROWS;
        v->data = malloc(v->n * w + 1);
        if (v->n) memcpy(v->data, q, v->n * w);
        if (v->type == CAIRN_TYPE_BOOL)
            for (i = 0; i < v->n; i++) ((uint8_t *)v->data)[i] &= 1;
        v->data_len = v->n * w;
    }
    if (v->n == 0) {
        free(v->data);
        free(v->offsets);
        return 0;
    }
    if (p[1] & 8) {
        v->validity = (uint8_t *)calloc((v->n + 7) / 8, 1);
        for (i = 0; i < v->n; i++) {
            size_t l;
            const uint8_t *x = val_at(v, i, &l);
            if (!l || (x[0] & 0x80)) v->validity[i >> 3] |= (uint8_t)(1u << (i & 7));
        }
    }
    return 1;
}

static void roundtrip(const uint8_t *p, size_t size) {
    cairn_colvec v, d;
    cairn_seg_buf b, a;
    cairn_zone z, zi;
    int force, rc;
    size_t i;
    if (!vec_from(p, size, &v, &force)) return;
    rc = cairn_seg__encode(&v, force, &b);
    if (rc == CAIRN_UNSUPPORTED && force) goto out;
    if (rc != 0) fuzz_fail("encode (force %d, type %d, n %zu): %s %s", force, v.type, v.n, cairn_errname(rc), cairn_errmsg());
    rc = cairn_seg__decode(b.bytes, b.len, v.type, v.fixed_len, &d);
    if (rc != 0) fuzz_fail("decode of an encoded segment: %s %s", cairn_errname(rc), cairn_errmsg());
    check_decoded(b.bytes, b.len, &d, v.n);
    for (i = 0; i < v.n; i++) {
        size_t la, ld;
        const uint8_t *pa = val_at(&v, i, &la), *pd = val_at(&d, i, &ld);
        if (valid_at(&v, i) != valid_at(&d, i)) fuzz_fail("validity of %zu", i);
        if (valid_at(&v, i) && (la != ld || (la && memcmp(pa, pd, la) != 0))) fuzz_fail("value %zu differs (enc %d)", i, b.encoding);
    }
    cairn_seg__free_vec(&d);
    cairn_seg__zone(&v, &z);
    if (cairn_seg__info(b.bytes, b.len, NULL, NULL, &zi) != 0 || memcmp(&z.min, &zi.min, 8) || memcmp(&z.max, &zi.max, 8) ||
        z.nulls != zi.nulls || z.has_values != zi.has_values || z.has_nan != zi.has_nan || z.min_len != zi.min_len ||
        z.max_len != zi.max_len || memcmp(z.min_prefix, zi.min_prefix, 16) || memcmp(z.max_prefix, zi.max_prefix, 16))
        fuzz_fail("zone map in the header differs");
    if (force) {
        if (cairn_seg__encode(&v, 0, &a) != 0) fuzz_fail("automatic encode failed");
        if (a.len > b.len) fuzz_fail("automatic choice %d (%zu bytes) larger than forced %d (%zu)", a.encoding, a.len, force, b.len);
        cairn_seg__free_buf(&a);
    }
    cairn_seg__free_buf(&b);
out:
    free(v.data);
    free(v.offsets);
    free(v.validity);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *seg;
    size_t len;
    if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
    len = size - 1;
    seg = (uint8_t *)malloc(len ? len : 1); /* exactly len bytes: ASan sees any over-read */
    if (len) memcpy(seg, data + 1, len);
    if ((data[0] & 1) && len >= 84) cairn_put32(seg + len - 4, cairn_crc32c__update(0, seg, len - 4));
    decode_bytes(seg, len, (data[0] >> 1) % 15 + 1);
    free(seg);
    roundtrip(data + 1, len);
    return 0;
}
