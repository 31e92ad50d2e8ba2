/*
 * seg_scan.c - segment-level primitives for scans on encoded data (see seg_scan.h): the payload's
 * layout (the FORMAT comment of seg.c is the spec) and bit-packed codes read by window or by
 * selection with 8-byte loads where they stay inside the array, byte by byte at its end.
 */
#include "table/seg_scan.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#include <string.h>

#include "util.h"

#define HDR 80u

static int bad(const char *what) { return cairn_err__set(CAIRN_CORRUPT, "segment: %s", what); }

static uint64_t pk_bytes(uint64_t count, unsigned w) { return (count * w + 7) / 8; }

/* the word of packed codes at byte `at` (bytes past the end read as zero) */
static uint64_t pk_word(const cairn_pk *a, size_t at) {
    uint8_t tmp[8] = {0};
    if (at + 8 <= a->len) return cairn_get64(a->p + at);
    if (at < a->len) memcpy(tmp, a->p + at, a->len - at);
    return cairn_get64(tmp);
}

/* the range test of the kernels on word x: for each code in [lo, hi], the top bit of its lane
 * (even codes' lanes shifted down by w); me, g, vlo, vhi as the kernels build them */
static uint64_t lanes_in(uint64_t x, unsigned w, uint64_t me, uint64_t g, uint64_t vlo, uint64_t vhi) {
    const uint64_t xe = x & me, xo = (x >> w) & me;
    return ((((xe | g) - vlo) & (vhi - xe) & g) >> w) | (((xo | g) - vlo) & (vhi - xo) & g);
}

/* P(count) at *p (before end); advances *p */
static int pk_open(const uint8_t **p, const uint8_t *end, size_t count, cairn_pk *a) {
    uint64_t nb;
    if (*p >= end) return bad("missing bit width");
    a->w = **p;
    if (a->w > 64) return bad("bit width above 64");
    (*p)++;
    nb = pk_bytes(count, a->w);
    if (nb > (uint64_t)(end - *p)) return bad("packed values overrun the segment");
    a->p = *p;
    a->len = (size_t)nb;
    a->count = count;
    *p += nb;
    return 0;
}

/* L(c) at *p: the ends, then the bytes (their total is the last end) */
static int list_open(const uint8_t **p, const uint8_t *end, size_t c, cairn_segl *l) {
    int rc = pk_open(p, end, c, &l->list);
    if (rc) return rc;
    l->ltotal = c ? cairn_seg__pk_get(&l->list, c - 1) : 0;
    if (l->ltotal > (uint64_t)(end - *p)) return bad("string bytes overrun the segment");
    l->lbytes = *p;
    *p += l->ltotal;
    return 0;
}

int cairn_seg__layout(const uint8_t *b, size_t len, int type, uint32_t fixed_len, cairn_segl *l) {
    const uint8_t *p, *end;
    size_t vb;
    int var, rc = 0;
    memset(l, 0, sizeof *l);
    if (len < HDR + 4 || memcmp(b, "CSEG", 4) != 0 || cairn_get64(b + 16) != len - HDR - 4) return bad("bad header");
    if (b[5] != type || (type == CAIRN_TYPE_FIXED && cairn_get32(b + 12) != fixed_len)) return bad("column type");
    l->enc = b[6];
    l->type = type;
    l->fixed_len = type == CAIRN_TYPE_FIXED ? fixed_len : 0;
    l->vw = cairn_seg__width(type, l->fixed_len);
    var = l->vw == 0;
    l->n = cairn_get32(b + 8);
    if (l->n == 0 || l->n > CAIRN_SEG_MAX_ROWS) return bad("row count");
    vb = (b[7] & 1) ? (l->n + 7) / 8 : 0;
    if (vb > len - HDR - 4) return bad("validity bitmap overruns the body");
    l->valid = vb ? b + HDR : NULL;
    p = b + HDR + vb;
    end = b + len - 4;
    switch (l->enc) {
    case CAIRN_SEG_PLAIN:
    case CAIRN_SEG_CONSTANT:
        l->nv = l->enc == CAIRN_SEG_PLAIN ? l->n : 1;
        if (var) rc = list_open(&p, end, l->nv, l);
        else if ((uint64_t)(end - p) < (uint64_t)l->nv * l->vw) rc = bad("values overrun the segment");
        else {
            l->vals = p;
            p += l->nv * l->vw;
        }
        break;
    case CAIRN_SEG_RLE:
    case CAIRN_SEG_DICT:
        if (end - p < 4) return bad("missing value count");
        l->nv = cairn_get32(p);
        p += 4;
        if (l->nv == 0 || l->nv > l->n) return bad("value count");
        if (var) rc = list_open(&p, end, l->nv, l);
        else if ((uint64_t)(end - p) < (uint64_t)l->nv * l->vw) rc = bad("values overrun the segment");
        else {
            l->vals = p;
            p += l->nv * l->vw;
        }
        if (!rc) rc = pk_open(&p, end, l->enc == CAIRN_SEG_RLE ? l->nv : l->n, &l->codes);
        break;
    case CAIRN_SEG_FOR:
    case CAIRN_SEG_DELTA:
        if (var || type == CAIRN_TYPE_FIXED || type == CAIRN_TYPE_BOOL || type == CAIRN_TYPE_F32 ||
            type == CAIRN_TYPE_F64)
            return bad("encoding for the column type");
        if (end - p < (l->enc == CAIRN_SEG_FOR ? 8 : 16)) return bad("missing base");
        l->base = cairn_get64(p);
        p += 8;
        if (l->enc == CAIRN_SEG_DELTA) {
            l->mindelta = cairn_get64(p);
            p += 8;
        }
        rc = pk_open(&p, end, l->enc == CAIRN_SEG_FOR ? l->n : l->n - 1, &l->codes);
        break;
    case CAIRN_SEG_BITPACK:
        if (type != CAIRN_TYPE_BOOL) return bad("encoding for the column type");
        l->codes.p = p;
        l->codes.w = 1;
        l->codes.count = l->n;
        l->codes.len = (l->n + 7) / 8;
        if ((uint64_t)(end - p) < l->codes.len) return bad("bits overrun the segment");
        p += l->codes.len;
        break;
    default: return bad("unknown encoding");
    }
    if (!rc && p != end) rc = bad("payload length does not match its contents");
    return rc;
}

int cairn_seg__list_offsets(const cairn_segl *l, uint64_t *offs) {
    size_t k;
    offs[0] = 0;
    for (k = 0; k < l->nv; k++) {
        uint64_t e = cairn_seg__pk_get(&l->list, k);
        if (e < offs[k] || e > l->ltotal || e - offs[k] > CAIRN_VALUE_MAX) return bad("bad string end offset");
        offs[k + 1] = e;
    }
    return 0;
}

uint64_t cairn_seg__pk_get(const cairn_pk *a, size_t k) {
    uint64_t bit, v = 0;
    size_t q, i, need;
    unsigned sh, w = a->w;
    if (w == 0) return 0;
    bit = (uint64_t)k * w;
    q = (size_t)(bit >> 3);
    sh = (unsigned)(bit & 7);
    if (q + 9 <= a->len) {
        v = cairn_get64(a->p + q) >> sh;
        if (sh + w > 64) v |= (uint64_t)a->p[q + 8] << (64 - sh);
    } else {
        need = (sh + w + 7) / 8;
        for (i = 0; i < need && i < 8 && q + i < a->len; i++) v |= (uint64_t)a->p[q + i] << (8 * i);
        v >>= sh;
        if (need == 9 && q + 8 < a->len) v |= (uint64_t)a->p[q + 8] << (64 - sh);
    }
    return w >= 64 ? v : v & (((uint64_t)1 << w) - 1);
}

/* the last index whose value (width w <= 56) an 8-byte load reads inside the array, plus one */
static size_t fast_end(const cairn_pk *a) {
    if (a->len < 8) return 0;
    return (size_t)(((uint64_t)(a->len - 8) * 8) / a->w) + 1 < a->count ? (size_t)(((uint64_t)(a->len - 8) * 8) / a->w) + 1
                                                                        : a->count;
}

void cairn_seg__pk_window32(const cairn_pk *a, size_t start, size_t n, uint32_t *restrict out) {
    const uint8_t *restrict p = a->p;
    unsigned w = a->w;
    size_t i, fe;
    if (w == 0) {
        memset(out, 0, n * sizeof *out);
        return;
    }
    if (!(start & 7) && (w == 1 || w == 2 || w == 4 || w == 8 || w == 16) && pk_bytes(start + n, w) <= a->len) {
        const uint8_t *restrict q = p + start * w / 8;
        switch (w) {
        case 1: for (i = 0; i < n; i++) out[i] = (q[i >> 3] >> (i & 7)) & 1; break;
        case 2: for (i = 0; i < n; i++) out[i] = (q[i >> 2] >> ((i & 3) * 2)) & 3; break;
        case 4: for (i = 0; i < n; i++) out[i] = (q[i >> 1] >> ((i & 1) * 4)) & 15; break;
        case 8: for (i = 0; i < n; i++) out[i] = q[i]; break;
        default: for (i = 0; i < n; i++) out[i] = (uint32_t)q[2 * i] | (uint32_t)q[2 * i + 1] << 8; break;
        }
        return;
    }
    fe = fast_end(a);
    {
        const uint64_t mask = ((uint64_t)1 << w) - 1;
        size_t stop = start + n < fe ? start + n : fe;
        for (i = start; i < stop; i++) {
            uint64_t bit = (uint64_t)i * w;
            out[i - start] = (uint32_t)((cairn_get64(p + (bit >> 3)) >> (bit & 7)) & mask);
        }
        for (i = stop > start ? stop : start; i < start + n; i++) out[i - start] = (uint32_t)cairn_seg__pk_get(a, i);
    }
}

void cairn_seg__pk_gather32(const cairn_pk *a, size_t base, const uint32_t *restrict sel, size_t k, uint32_t *restrict out) {
    const uint8_t *restrict p = a->p;
    unsigned w = a->w;
    size_t j, fe;
    if (w == 0) {
        memset(out, 0, k * sizeof *out);
        return;
    }
    fe = fast_end(a);
    {
        const uint64_t mask = ((uint64_t)1 << w) - 1;
        for (j = 0; j < k; j++) {
            size_t i = base + sel[j];
            uint64_t bit = (uint64_t)i * w;
            out[j] = i < fe ? (uint32_t)((cairn_get64(p + (bit >> 3)) >> (bit & 7)) & mask) : (uint32_t)cairn_seg__pk_get(a, i);
        }
    }
}

void cairn_seg__pk_window64(const cairn_pk *a, size_t start, size_t n, uint64_t *out) {
    size_t i;
    if (a->w <= 32) {
        uint32_t buf[256];
        size_t at;
        for (at = 0; at < n; at += 256) {
            size_t m = n - at < 256 ? n - at : 256;
            cairn_seg__pk_window32(a, start + at, m, buf);
            for (i = 0; i < m; i++) out[at + i] = buf[i];
        }
        return;
    }
    for (i = 0; i < n; i++) out[i] = cairn_seg__pk_get(a, start + i);
}

void cairn_seg__pk_gather64(const cairn_pk *a, size_t base, const uint32_t *sel, size_t k, uint64_t *out) {
    size_t j;
    for (j = 0; j < k; j++) out[j] = cairn_seg__pk_get(a, base + sel[j]);
}

#if defined(__GNUC__)
/* bits set in x, without the library call that __builtin_popcountll is on a baseline x86-64 */
static unsigned popc64(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

size_t cairn_seg__pk_range_keepw(const cairn_pk *a, size_t start, size_t n, uint64_t lo, uint64_t hi, uint32_t *restrict sel,
                                 size_t k, const uint8_t *restrict valid) {
    /* the words of hits over the window (as pk_range_sel), then a bit test per selected row */
    const unsigned w = a->w, sh = w == 1 ? 0 : w == 2 ? 1 : w == 4 ? 2 : w == 8 ? 3 : 4, ps = 6 - sh;
    const uint64_t unit = w == 1 ? 0x5555555555555555ull : w == 2 ? 0x1111111111111111ull : w == 4 ? 0x0101010101010101ull
                        : w == 8 ? 0x0001000100010001ull : 0x0000000100000001ull;
    const uint64_t me = unit * (((uint64_t)1 << w) - 1), g = unit << (2 * w - 1), vlo = unit * lo, vhi = (unit * hi) | g;
    const size_t per = 64 / w, nw = (n + per - 1) / per, b0 = start * w / 8;
    uint64_t mw[512];
    size_t j, o = 0;
    for (j = 0; j < nw && j < 512; j++) {
        size_t at = b0 + 8 * j;
        mw[j] = lanes_in(pk_word(a, at), w, me, g, vlo, vhi);
    }
    for (j = 0; j < k; j++) {
        const size_t r = sel[j], i = start + r;
        unsigned v = (unsigned)(mw[r >> ps] >> (((r & (per - 1)) << sh) + w - 1));
        if (valid) v &= (unsigned)(valid[i >> 3] >> (i & 7));
        sel[o] = sel[j];
        o += v & 1;
    }
    return o;
}

size_t cairn_seg__pk_range_sel(const cairn_pk *a, size_t start, size_t n, uint64_t lo, uint64_t hi, uint32_t *restrict sel) {
    /* two codes' lanes per 2w bits: the even codes of a word, then the odd ones, each with a guard
     * bit on top (bit 2w - 1) that survives (x | G) - lo exactly when x >= lo and (hi | G) - x
     * exactly when x <= hi; no borrow leaves a lane */
    const unsigned w = a->w, sh = w == 1 ? 0 : w == 2 ? 1 : w == 4 ? 2 : w == 8 ? 3 : 4;
    const uint64_t unit = w == 1 ? 0x5555555555555555ull : w == 2 ? 0x1111111111111111ull : w == 4 ? 0x0101010101010101ull
                        : w == 8 ? 0x0001000100010001ull : 0x0000000100000001ull;
    const uint64_t me = unit * (((uint64_t)1 << w) - 1), g = unit << (2 * w - 1), vlo = unit * lo, vhi = (unit * hi) | g;
    const size_t per = 64 / w, nw = (n + per - 1) / per, b0 = start * w / 8;
    size_t j, k = 0;
    for (j = 0; j < nw; j++) {
        uint64_t m;
        size_t at = b0 + 8 * j;
        m = lanes_in(pk_word(a, at), w, me, g, vlo, vhi);
        if (j == nw - 1 && n - j * per < per) m &= ((uint64_t)1 << ((n - j * per) * w)) - 1;
        {
            /* four positions written whatever the count (the selection has room past n; a
             * word rarely has more hits), so the loop's exit is predictable */
            const size_t c = popc64(m), base = j * per;
            uint64_t q = m | ((uint64_t)1 << 63);
            sel[k] = (uint32_t)(base + ((unsigned)__builtin_ctzll(q) >> sh));
            q &= q - 1;
            sel[k + 1] = (uint32_t)(base + ((unsigned)__builtin_ctzll(q | ((uint64_t)1 << 63)) >> sh));
            q &= q - 1;
            sel[k + 2] = (uint32_t)(base + ((unsigned)__builtin_ctzll(q | ((uint64_t)1 << 63)) >> sh));
            q &= q - 1;
            sel[k + 3] = (uint32_t)(base + ((unsigned)__builtin_ctzll(q | ((uint64_t)1 << 63)) >> sh));
            if (c > 4) {
                size_t t;
                q = m;
                for (t = 0; t < 4; t++) q &= q - 1;
                for (t = 4; t < c; t++) {
                    sel[k + t] = (uint32_t)(base + ((unsigned)__builtin_ctzll(q) >> sh));
                    q &= q - 1;
                }
            }
            k += c;
        }
    }
    return k;
}
#endif

size_t cairn_seg__pk_lut_sel(const cairn_pk *a, size_t base, uint32_t *restrict sel, size_t k, const uint8_t *restrict lut,
                             const uint8_t *restrict valid, int *bad) {
    const uint8_t *restrict p = a->p;
    const unsigned w = a->w;
    const uint64_t mask = w ? ((uint64_t)1 << w) - 1 : 0;
    const size_t fe = w ? fast_end(a) : 0; /* width 0: every code 0, nothing read */
    size_t j, o = 0;
    unsigned any = 0;
    for (j = 0; j < k; j++) {
        const size_t i = base + sel[j];
        const uint64_t bit = (uint64_t)i * w;
        const uint32_t c = i < fe ? (uint32_t)((cairn_get64(p + (bit >> 3)) >> (bit & 7)) & mask) : (uint32_t)cairn_seg__pk_get(a, i);
        unsigned v = lut[c];
        any |= v;
        if (valid) v &= (unsigned)(valid[i >> 3] >> (i & 7));
        sel[o] = sel[j];
        o += v & 1;
    }
    *bad = (any & 2) != 0;
    return o;
}

size_t cairn_seg__pk_range_keep(const cairn_pk *a, size_t base, uint32_t *restrict sel, size_t k, uint64_t lo, uint64_t hi,
                                const uint8_t *restrict valid) {
    const uint8_t *restrict p = a->p;
    const unsigned w = a->w;
    const uint64_t mask = w ? ((uint64_t)1 << w) - 1 : 0, span = hi - lo;
    const size_t fe = w ? fast_end(a) : 0; /* width 0: every code 0, nothing read */
    size_t j, o = 0;
    for (j = 0; j < k; j++) {
        const size_t i = base + sel[j];
        const uint64_t bit = (uint64_t)i * w;
        const uint64_t c = i < fe ? (cairn_get64(p + (bit >> 3)) >> (bit & 7)) & mask : cairn_seg__pk_get(a, i);
        unsigned v = (unsigned)(c - lo <= span);
        if (valid) v &= (unsigned)(valid[i >> 3] >> (i & 7));
        sel[o] = sel[j];
        o += v & 1;
    }
    return o;
}

#if defined(__GNUC__)
void cairn_seg__pk_range_bits(const cairn_pk *a, size_t start, size_t n, uint64_t lo, uint64_t hi, uint64_t *restrict bits) {
    const unsigned w = a->w;
    const uint64_t unit = w == 1 ? 0x5555555555555555ull : w == 2 ? 0x1111111111111111ull : w == 4 ? 0x0101010101010101ull
                        : w == 8 ? 0x0001000100010001ull : 0x0000000100000001ull;
    const uint64_t me = unit * (((uint64_t)1 << w) - 1), g = unit << (2 * w - 1), vlo = unit * lo, vhi = (unit * hi) | g;
    const size_t per = 64 / w, nw = (n + per - 1) / per, b0 = start * w / 8;
    uint64_t mk[6];
    unsigned sh[6], lv = 0, gs = 1, st = w;
    size_t j;
    /* the merges that pack bits w apart into consecutive bits: groups of gs bits st apart become
     * groups of 2 gs bits 2 st apart */
    while (w > 1 && gs < per) {
        uint64_t m = 0;
        unsigned q;
        for (q = 0; q < 64; q += 2 * st) m |= (((uint64_t)1 << (2 * gs)) - 1) << q;
        sh[lv] = st - gs;
        mk[lv++] = m;
        gs *= 2;
        st *= 2;
    }
    memset(bits, 0, (n + 63) / 64 * 8);
    for (j = 0; j < nw; j++) {
        uint64_t m;
        unsigned l;
        size_t at = b0 + 8 * j;
        m = lanes_in(pk_word(a, at), w, me, g, vlo, vhi);
        m >>= w - 1; /* code i's bit at w * i */
        for (l = 0; l < lv; l++) m = (m | (m >> sh[l])) & mk[l];
        if (j == nw - 1 && n - j * per < per) m &= ((uint64_t)1 << (n - j * per)) - 1;
        bits[(j * per) >> 6] |= m << ((j * per) & 63);
    }
}

size_t cairn_seg__bits_sel(const uint64_t *bits, size_t n, uint32_t *restrict sel) {
    size_t j, k = 0;
    for (j = 0; j < (n + 63) / 64; j++) {
        uint64_t m = bits[j];
        const size_t c = popc64(m), base = j * 64;
        uint64_t q = m | ((uint64_t)1 << 63);
        /* four positions written whatever the count (as pk_range_sel) */
        sel[k] = (uint32_t)(base + (unsigned)__builtin_ctzll(q));
        q &= q - 1;
        sel[k + 1] = (uint32_t)(base + (unsigned)__builtin_ctzll(q | ((uint64_t)1 << 63)));
        q &= q - 1;
        sel[k + 2] = (uint32_t)(base + (unsigned)__builtin_ctzll(q | ((uint64_t)1 << 63)));
        q &= q - 1;
        sel[k + 3] = (uint32_t)(base + (unsigned)__builtin_ctzll(q | ((uint64_t)1 << 63)));
        if (c > 4) {
            size_t t;
            q = m;
            for (t = 0; t < 4; t++) q &= q - 1;
            for (t = 4; t < c; t++) {
                sel[k + t] = (uint32_t)(base + (unsigned)__builtin_ctzll(q));
                q &= q - 1;
            }
        }
        k += c;
    }
    return k;
}
#endif

/* lanes of 2w bits (w in 1, 2, 4, 8, 16), each holding the value v in its low w bits: the rest
 * of the word a multiple of such lanes */
static uint64_t lane_rep(unsigned w, uint64_t v) {
    uint64_t r = 0;
    unsigned s;
    for (s = 0; s < 64; s += 2 * w) r |= v << s;
    return r;
}

int cairn_seg__pk_any_ge(const cairn_pk *a, uint64_t lim) {
    const unsigned w = a->w;
    size_t i = 0, k;
    if (w == 0) return lim == 0;
    if (w < 64 && lim >= ((uint64_t)1 << w)) return 0;
    if (w == 1 || w == 2 || w == 4 || w == 8 || w == 16) {
        /* a word's even and odd codes apart, each with w clear bits above it: c + 2^w - lim
         * carries into bit w of its lane exactly when c >= lim (and never into the next lane) */
        const uint64_t even = lane_rep(w, ((uint64_t)1 << w) - 1), add = lane_rep(w, ((uint64_t)1 << w) - lim),
                       carry = lane_rep(w, (uint64_t)1 << w);
        const size_t words = (size_t)(((uint64_t)a->count * w) / 64);
        const uint8_t *p = a->p;
        uint64_t acc = 0;
        for (k = 0; k < words; k++) {
            uint64_t x = cairn_get64(p + 8 * k);
            acc |= ((x & even) + add) | (((x >> w) & even) + add);
        }
        if (acc & carry) return 1;
        i = words * (64 / w);
    }
    if (w <= 32) {
        /* other widths: unpacked a window at a time, then a branch-free maximum */
        uint32_t buf[1024];
        while (i < a->count) {
            size_t m = a->count - i < 1024 ? a->count - i : 1024;
            uint32_t mx = 0;
            cairn_seg__pk_window32(a, i, m, buf);
            for (k = 0; k < m; k++) mx = buf[k] > mx ? buf[k] : mx;
            if (mx >= lim) return 1;
            i += m;
        }
        return 0;
    }
    for (; i < a->count; i++)
        if (cairn_seg__pk_get(a, i) >= lim) return 1;
    return 0;
}
