/*
 * seg.c - column segments of the table engine: encode, decode, point reads, zone maps.
 *
 * FORMAT (version 1). All integers are little-endian; CRC is CRC32C (Castagnoli, initial 0).
 * A segment is one byte string (its length is known to the container, e.g. the manifest):
 *
 *   +--------------------+---------------------------------------------+---------+
 *   | header (80 bytes)  | body (body_len bytes)                       | CRC (4) |
 *   +--------------------+---------------------------------------------+---------+
 *   total length = 84 + body_len exactly; the CRC covers bytes [0, 80 + body_len).
 *
 * Header:
 *   off size field
 *    0   4   magic "CSEG"
 *    4   1   u8 version (1)
 *    5   1   u8 column type (cairn_type: 1..15)
 *    6   1   u8 encoding (cairn_seg_encoding: 1..7)
 *    7   1   u8 flags: 0x01 validity bitmap present (the segment has nulls), 0x02 has_values
 *            (a non-null value exists), 0x04 has_nan, 0x08 min_exact, 0x10 max_exact; other bits 0
 *    8   4   u32 n: values (nulls included), 1..122880
 *   12   4   u32 fixed_len: N of bytes:N (1..65535), else 0
 *   16   8   u64 body_len
 *   24   4   u32 nulls (0..n; 0 exactly when flag 0x01 is clear)
 *   28   1   u8 min_len (0..16): bytes of min_prefix in use (string, bytes, bytes:N)
 *   29   1   u8 max_len (0..16)
 *   30   2   reserved, 0
 *   32   8   zone min: i64 (i8..i64, timestamp), u64 (u8..u64, bool), f64 bits (f32, f64); 0 for
 *            the byte types and when no value is present
 *   40   8   zone max (as min)
 *   48  16   min_prefix: the first min_len bytes of the smallest value (bytewise; a prefix sorts
 *            first), zero after them
 *   64  16   max_prefix: the same for the largest value
 *
 * Body: the validity bitmap if flag 0x01 ((n + 7) / 8 bytes, bit i (least significant first) set
 * when value i is not null, unused high bits of the last byte 0), then the encoding's payload,
 * which fills the body exactly. Null slots: the encoder stores the previous non-null value there
 * (the first non-null value for leading nulls; 0 or empty if none), so that nulls never break a
 * constant, a run or a delta; readers ignore them and return 0 (empty) for a null. PLAIN of
 * string/bytes stores nulls as empty.
 *
 * Building blocks of the payloads:
 *   V        one value at its type's width: 1, 2, 4 or 8 bytes (i8..u64, timestamp: the integer;
 *            f32/f64: the IEEE bits; bool: 1 byte 0/1); bytes:N: N bytes
 *   P(c)     c bit-packed unsigned integers: u8 width w (0..64), then ceil(c * w / 8) bytes;
 *            value k occupies bits [k*w, k*w + w) of the bytes read as one little-endian bit
 *            stream (bit j is bit j%8 of byte j/8); unused bits of the last byte are 0
 *   L(c)     c strings: P(c) of their end offsets (end_k = total length of strings 0..k, so
 *            non-decreasing), then end_{c-1} bytes: the strings back to back
 *   R        a 64-bit value as u64: the integer sign-extended to 64 bits (signed types) or
 *            zero-extended (unsigned)
 *
 * Encodings (which types they apply to; payload):
 *   1 PLAIN     every type      n x V; string/bytes: L(n)
 *   2 CONSTANT  every type      V (string/bytes: L(1)): every non-null value equals it
 *   3 RLE       every type      u32 r (1..n), r x V (string/bytes: L(r)): the run values, then
 *                               P(r) of the runs' exclusive end indexes (strictly increasing,
 *                               the last is n)
 *   4 DICT      all but bool    u32 d (1..n), d x V (string/bytes: L(d)): the distinct values in
 *                               order of first appearance, then P(n) of codes (each < d)
 *   5 FOR       integers, ts    R min, then P(n) of (value - min) mod 2^64
 *   6 DELTA     integers, ts    R first, R min_delta, then P(n - 1) of (delta_k - min_delta)
 *                               mod 2^64 where delta_k = value_k - value_{k-1} mod 2^64; value
 *                               k = value_{k-1} + min_delta + packed_k (mod 2^64)
 *   7 BITPACK   bool            ceil(n / 8) bytes, bit k = value k, unused bits 0
 * Decoded integers must lie in the column type's range, bools be 0/1, codes < d; any violation,
 * any length that does not add up, an unknown type, encoding or flag, a bad CRC: CAIRN_CORRUPT.
 *
 * Choice: the encoder computes the exact size of every encoding that applies and keeps the
 * smallest; a tie goes to the cheaper decoder (CONSTANT, PLAIN, RLE, BITPACK, FOR, DICT, DELTA:
 * the order of their measured decode speed). One exception: a numeric segment of more than 8192
 * values skips DICT when the distinct values among its first 4096, scaled to the segment, give
 * a DICT no smaller than the best other encoding (e.g. uniform random doubles, where a
 * dictionary of nearly every value would save a few percent and cost every reader a gather).
 *
 * Recovery: none here; a segment is immutable and checked whole (CRC) before it is trusted.
 */
#include "table/seg.h"

#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define SEG_HDR 80u
#define SEG_CRC 4u
#define SEG_VERSION 1u
#define F_VALID 0x01u
#define F_HASVAL 0x02u
#define F_NAN 0x04u
#define F_MINEX 0x08u
#define F_MAXEX 0x10u
#define F_ALL 0x1fu

#define BLOCK 2048u /* values per decode block (scratch stays in L1/L2) */

#if defined(__GNUC__)
#define SEG_INLINE static inline __attribute__((always_inline))
#else
#define SEG_INLINE static inline
#endif

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SEG_LE 1
#else
#define SEG_LE 0
#endif

/* ---- type facts ------------------------------------------------------------------------- */

enum { K_SINT = 1, K_UINT, K_FLOAT, K_BOOL, K_FIXED, K_VAR };

static int kind_of(int type) {
    switch (type) {
    case CAIRN_TYPE_I8: case CAIRN_TYPE_I16: case CAIRN_TYPE_I32: case CAIRN_TYPE_I64:
    case CAIRN_TYPE_TIMESTAMP:
        return K_SINT;
    case CAIRN_TYPE_U8: case CAIRN_TYPE_U16: case CAIRN_TYPE_U32: case CAIRN_TYPE_U64:
        return K_UINT;
    case CAIRN_TYPE_F32: case CAIRN_TYPE_F64: return K_FLOAT;
    case CAIRN_TYPE_BOOL: return K_BOOL;
    case CAIRN_TYPE_FIXED: return K_FIXED;
    case CAIRN_TYPE_STRING: case CAIRN_TYPE_BYTES: return K_VAR;
    default: return 0;
    }
}

/* Width in bytes of a numeric type (0 for the byte types). */
static unsigned num_width(int type) {
    switch (type) {
    case CAIRN_TYPE_I8: case CAIRN_TYPE_U8: case CAIRN_TYPE_BOOL: return 1;
    case CAIRN_TYPE_I16: case CAIRN_TYPE_U16: return 2;
    case CAIRN_TYPE_I32: case CAIRN_TYPE_U32: case CAIRN_TYPE_F32: return 4;
    case CAIRN_TYPE_I64: case CAIRN_TYPE_U64: case CAIRN_TYPE_F64: case CAIRN_TYPE_TIMESTAMP: return 8;
    default: return 0;
    }
}

size_t cairn_seg__width(int type, uint32_t fixed_len) {
    if (type == CAIRN_TYPE_FIXED) return fixed_len;
    return num_width(type);
}

/* Range of a numeric type over its 64-bit representation R: valid when (r + bias) <= maxv. */
static void type_range(int type, uint64_t *bias, uint64_t *maxv) {
    unsigned w = num_width(type);
    int k = kind_of(type);
    *bias = 0;
    *maxv = w == 8 ? UINT64_MAX : (((uint64_t)1 << (8 * w)) - 1);
    if (k == K_SINT && w < 8) *bias = (uint64_t)1 << (8 * w - 1);
    if (k == K_BOOL) *maxv = 1;
}

static const char *enc_name(int e) {
    static const char *names[] = {"?", "PLAIN", "CONSTANT", "RLE", "DICT", "FOR", "DELTA", "BITPACK"};
    return e >= 1 && e <= 7 ? names[e] : "?";
}

static int enc_applies(int kind, int e) {
    switch (e) {
    case CAIRN_SEG_PLAIN: case CAIRN_SEG_CONSTANT: case CAIRN_SEG_RLE: return 1;
    case CAIRN_SEG_DICT: return kind != K_BOOL;
    case CAIRN_SEG_FOR: case CAIRN_SEG_DELTA: return kind == K_SINT || kind == K_UINT;
    case CAIRN_SEG_BITPACK: return kind == K_BOOL;
    default: return 0;
    }
}

/* Decode cost rank (ties of size go to the lower rank). */
static int enc_rank(int e) {
    static const int rank[] = {99, 1, 0, 2, 5, 4, 6, 3};
    return e >= 1 && e <= 7 ? rank[e] : 99;
}

/* ---- bits ------------------------------------------------------------------------------- */

static unsigned bits_for(uint64_t x) {
#if defined(__GNUC__)
    return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
#else
    unsigned b = 0;
    while (x) { b++; x >>= 1; }
    return b;
#endif
}

static uint64_t packed_bytes(uint64_t count, unsigned w) { return (count * w + 7) / 8; }

SEG_INLINE uint64_t wmask(unsigned w) { return w >= 64 ? UINT64_MAX : (((uint64_t)1 << w) - 1); }

/* Bit writer: values must already fit in w bits. */
typedef struct bitw {
    uint8_t *p;
    uint64_t acc;
    unsigned nb;
} bitw;

SEG_INLINE void bw_put(bitw *b, uint64_t v, unsigned w) {
    if (w == 0) return;
    b->acc |= v << b->nb;
    if (b->nb + w >= 64) {
        unsigned used = 64 - b->nb;
        cairn_put64(b->p, b->acc);
        b->p += 8;
        b->acc = used < 64 ? v >> used : 0;
        b->nb = b->nb + w - 64;
    } else {
        b->nb += w;
    }
}

static uint8_t *bw_end(bitw *b) {
    while (b->nb > 0) {
        *b->p++ = (uint8_t)b->acc;
        b->acc >>= 8;
        b->nb = b->nb > 8 ? b->nb - 8 : 0;
    }
    return b->p;
}

/* A packed array inside a segment: base, width, count; `lim` is the end of readable memory
 * (the whole segment), which lets the fast path load whole words past the array's last byte. */
typedef struct packed {
    const uint8_t *p;
    const uint8_t *lim;
    unsigned w;
    size_t count;
} packed;

/* Value k, every bound checked against the array's own bytes (k < count). */
SEG_INLINE uint64_t pk_get(const packed *a, size_t k) {
    uint64_t bit, v;
    const uint8_t *q;
    unsigned sh, w = a->w;
    if (w == 0) return 0;
    bit = (uint64_t)k * w;
    q = a->p + (bit >> 3);
    sh = (unsigned)(bit & 7);
    if (q + 9 <= a->lim) {
        v = cairn_get64(q) >> sh;
        if (sh + w > 64) v |= (uint64_t)q[8] << (64 - sh);
    } else {
        unsigned need = (sh + w + 7) / 8, i;
        v = 0;
        for (i = 0; i < need && i < 8; i++) v |= (uint64_t)q[i] << (8 * i);
        v >>= sh;
        if (need == 9) v |= (uint64_t)q[8] << (64 - sh);
    }
    return v & wmask(w);
}

/* 32 values of width W from `in` (4*W bytes; may read 8 bytes past them: the caller checks). */
SEG_INLINE void unpack32(const uint8_t *restrict in, uint64_t *restrict out, const unsigned w) {
    const uint64_t mask = wmask(w);
    unsigned i;
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#pragma GCC unroll 32
#endif
    for (i = 0; i < 32; i++) {
        const unsigned bit = i * w;
        const uint8_t *q = in + (bit >> 3);
        const unsigned sh = bit & 7;
        uint64_t v = cairn_get64(q) >> sh;
        if (sh + w > 64) v |= (uint64_t)q[8] << (64 - sh);
        out[i] = v & mask;
    }
}

#define UNPACK_CASE(W) \
    case W: for (; g < groups; g++) unpack32(in + g * 4 * (W), out + g * 32, W); break;

/* Values [first, first + count) of a into out. first must be a multiple of 32. */
static void pk_unpack_aligned(const packed *a, size_t first, size_t count, uint64_t *restrict out) {
    size_t groups = 0, g = 0, k;
    const uint8_t *in;
    if (a->w == 0) {
        memset(out, 0, count * sizeof *out);
        return;
    }
    in = a->p + (first / 32) * 4 * a->w;
    /* whole groups whose word loads stay inside the segment */
    while (groups < count / 32 && in + (groups + 1) * 4 * a->w + 9 <= a->lim) groups++;
    switch (a->w) {
        UNPACK_CASE(1) UNPACK_CASE(2) UNPACK_CASE(3) UNPACK_CASE(4) UNPACK_CASE(5) UNPACK_CASE(6)
        UNPACK_CASE(7) UNPACK_CASE(8) UNPACK_CASE(9) UNPACK_CASE(10) UNPACK_CASE(11) UNPACK_CASE(12)
        UNPACK_CASE(13) UNPACK_CASE(14) UNPACK_CASE(15) UNPACK_CASE(16) UNPACK_CASE(17)
        UNPACK_CASE(18) UNPACK_CASE(19) UNPACK_CASE(20) UNPACK_CASE(21) UNPACK_CASE(22)
        UNPACK_CASE(23) UNPACK_CASE(24) UNPACK_CASE(25) UNPACK_CASE(26) UNPACK_CASE(27)
        UNPACK_CASE(28) UNPACK_CASE(29) UNPACK_CASE(30) UNPACK_CASE(31) UNPACK_CASE(32)
        UNPACK_CASE(33) UNPACK_CASE(34) UNPACK_CASE(35) UNPACK_CASE(36) UNPACK_CASE(37)
        UNPACK_CASE(38) UNPACK_CASE(39) UNPACK_CASE(40) UNPACK_CASE(41) UNPACK_CASE(42)
        UNPACK_CASE(43) UNPACK_CASE(44) UNPACK_CASE(45) UNPACK_CASE(46) UNPACK_CASE(47)
        UNPACK_CASE(48) UNPACK_CASE(49) UNPACK_CASE(50) UNPACK_CASE(51) UNPACK_CASE(52)
        UNPACK_CASE(53) UNPACK_CASE(54) UNPACK_CASE(55) UNPACK_CASE(56) UNPACK_CASE(57)
        UNPACK_CASE(58) UNPACK_CASE(59) UNPACK_CASE(60) UNPACK_CASE(61) UNPACK_CASE(62)
        UNPACK_CASE(63) UNPACK_CASE(64)
    default: break;
    }
    for (k = groups * 32; k < count; k++) out[k] = pk_get(a, first + k);
}

/* Values [first, first + count) of a into out: single values up to a multiple of 32, then blocks. */
static void pk_unpack(const packed *a, size_t first, size_t count, uint64_t *restrict out) {
    size_t head = 0;
    while (head < count && ((first + head) & 31)) {
        out[head] = pk_get(a, first + head);
        head++;
    }
    pk_unpack_aligned(a, first + head, count - head, out + head);
}

/* Read P(count) at *p (bounded by end); advances *p. */
static int pk_open(const uint8_t **p, const uint8_t *end, const uint8_t *lim, size_t count, packed *a,
                   const char *what) {
    uint64_t nb;
    if (*p >= end) return cairn_err__set(CAIRN_CORRUPT, "segment: %s: missing bit width", what);
    a->w = **p;
    if (a->w > 64) return cairn_err__set(CAIRN_CORRUPT, "segment: %s: bit width %u > 64", what, a->w);
    (*p)++;
    nb = packed_bytes(count, a->w);
    if (nb > (uint64_t)(end - *p))
        return cairn_err__set(CAIRN_CORRUPT, "segment: %s: %zu values of %u bits overrun the segment", what,
                              count, a->w);
    a->p = *p;
    a->lim = lim;
    a->count = count;
    /* unused bits of the last byte are 0 (keeps one encoding per segment) */
    if (nb > 0 && ((count * a->w) & 7) && ((*p)[nb - 1] >> ((count * a->w) & 7)) != 0)
        return cairn_err__set(CAIRN_CORRUPT, "segment: %s: padding bits set", what);
    *p += nb;
    return 0;
}

/* ---- hashing (dictionary analysis) ------------------------------------------------------ */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    while (n >= 8) {
        h = mix64(h ^ cairn_get64(p));
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t t = 0;
        size_t i;
        for (i = 0; i < n; i++) t |= (uint64_t)p[i] << (8 * i);
        h = mix64(h ^ t ^ 0xa5);
    }
    return h;
}

/* ---- input validation and the encoder's view ------------------------------------------- */

SEG_INLINE int vbit(const uint8_t *v, size_t i) { return v ? (v[i >> 3] >> (i & 7)) & 1 : 1; }

typedef struct enc {
    const cairn_colvec *in;
    int type, kind;
    unsigned w;          /* bytes per value: numeric width or N; 0 for string/bytes */
    size_t n, nulls;
    const uint8_t *valid; /* NULL when there are no nulls */
    uint64_t *v;         /* numeric: R per row, null slots filled */
    uint32_t *row;       /* byte types: the row whose bytes stand for this row (null: filled) */
    /* analysis */
    int constant;
    size_t runs;
    uint64_t minv, maxv;   /* numeric, in the type's order */
    int64_t dmin, dmax;    /* deltas */
    size_t distinct;       /* 0 when not analysed */
    uint32_t *codes;       /* DICT codes per row */
    uint32_t *dict_rows;   /* DICT: first row of each entry */
    uint32_t *run_rows;    /* RLE: first row of each run */
    uint64_t str_total;    /* string/bytes: bytes of the non-null values */
    uint64_t str_maxlen;
    cairn_seg_scratch *sc; /* buffers reused across segments (NULL: malloc and free each) */
    int v_borrowed;        /* v is the input's own array (8-byte values, no nulls) */
} enc;

enum { SB_V, SB_ROW, SB_CODES, SB_DROWS, SB_RROWS, SB_TAB, SB_OUT, SB_SAMPLE };

/* A buffer of `bytes` for one of the encoder's arrays: the scratch's (grown as needed), or a
 * fresh allocation without a scratch (released by enc_release). */
static void *enc_alloc(enc *e, int slot, size_t bytes) {
    cairn_seg_scratch *sc = e->sc;
    if (!bytes) bytes = 1;
    if (!sc) return malloc(bytes);
    if (sc->cap[slot] < bytes) {
        free(sc->buf[slot]);
        sc->buf[slot] = malloc(bytes);
        sc->cap[slot] = sc->buf[slot] ? bytes : 0;
    }
    return sc->buf[slot];
}

static void enc_release(const enc *e, void *p) {
    if (!e->sc) free(p);
}

void cairn_seg__scratch_free(cairn_seg_scratch *sc) {
    size_t i;
    if (!sc) return;
    for (i = 0; i < sizeof sc->buf / sizeof sc->buf[0]; i++) free(sc->buf[i]);
    memset(sc, 0, sizeof *sc);
}

static const uint8_t *str_ptr(const enc *e, size_t r) {
    static const uint8_t none[1] = {0};
    const cairn_colvec *in = e->in;
    if (!in->data) return none; /* string/bytes whose values are all empty */
    if (e->kind == K_FIXED) return (const uint8_t *)in->data + r * e->w;
    return (const uint8_t *)in->data + in->offsets[r];
}

static uint64_t str_len(const enc *e, size_t r) {
    if (e->kind == K_FIXED) return e->w;
    return e->in->offsets[r + 1] - e->in->offsets[r];
}

static int str_eq(const enc *e, size_t a, size_t b) {
    uint64_t la = str_len(e, a);
    if (a == b) return 1;
    return la == str_len(e, b) && (la == 0 || memcmp(str_ptr(e, a), str_ptr(e, b), (size_t)la) == 0);
}

static int check_vec(const cairn_colvec *in, const char *fn) {
    int k;
    size_t i;
    if (!in) return cairn_err__set(CAIRN_INVALID, "%s: NULL column vector", fn);
    k = kind_of(in->type);
    if (!k) return cairn_err__set(CAIRN_INVALID, "%s: unknown column type %d", fn, in->type);
    if (in->n == 0 || in->n > CAIRN_SEG_MAX_ROWS)
        return cairn_err__set(CAIRN_INVALID, "%s: %zu values (1..%u)", fn, in->n, CAIRN_SEG_MAX_ROWS);
    if (k == K_FIXED && (in->fixed_len == 0 || in->fixed_len > 65535))
        return cairn_err__set(CAIRN_INVALID, "%s: bytes:%u (1..65535)", fn, (unsigned)in->fixed_len);
    if (k == K_VAR) {
        const uint64_t *o = in->offsets;
        if (!o) return cairn_err__set(CAIRN_INVALID, "%s: string/bytes vector without offsets", fn);
        for (i = 0; i < in->n; i++) {
            if (o[i + 1] < o[i] || o[i + 1] - o[i] > CAIRN_VALUE_MAX)
                return cairn_err__set(CAIRN_INVALID, "%s: offsets[%zu..%zu] = %llu..%llu", fn, i, i + 1,
                                      (unsigned long long)o[i], (unsigned long long)o[i + 1]);
        }
        if (o[in->n] > in->data_len)
            return cairn_err__set(CAIRN_INVALID, "%s: offsets[n] = %llu beyond data_len %zu", fn,
                                  (unsigned long long)o[in->n], in->data_len);
        if (!in->data && o[in->n] > o[0])
            return cairn_err__set(CAIRN_INVALID, "%s: NULL data", fn);
    } else if (!in->data) {
        return cairn_err__set(CAIRN_INVALID, "%s: NULL data", fn);
    }
    if (k == K_BOOL) {
        const uint8_t *b = (const uint8_t *)in->data;
        for (i = 0; i < in->n; i++)
            if (b[i] > 1 && vbit(in->validity, i))
                return cairn_err__set(CAIRN_INVALID, "%s: bool value %u at %zu (0 or 1)", fn, b[i], i);
    }
    return 0;
}

/* Values [at, at + m) of a numeric column as R (floats as their bits, never through a float). */
static void load_block(int type, const void *data, size_t at, size_t m, uint64_t *restrict out) {
    size_t i;
    switch (type) {
    case CAIRN_TYPE_I8: { const int8_t *x = (const int8_t *)data + at;
        for (i = 0; i < m; i++) out[i] = (uint64_t)(int64_t)x[i];
        break; }
    case CAIRN_TYPE_I16: { const int16_t *x = (const int16_t *)data + at;
        for (i = 0; i < m; i++) out[i] = (uint64_t)(int64_t)x[i];
        break; }
    case CAIRN_TYPE_I32: { const int32_t *x = (const int32_t *)data + at;
        for (i = 0; i < m; i++) out[i] = (uint64_t)(int64_t)x[i];
        break; }
    case CAIRN_TYPE_U8: case CAIRN_TYPE_BOOL: { const uint8_t *x = (const uint8_t *)data + at;
        for (i = 0; i < m; i++) out[i] = x[i];
        break; }
    case CAIRN_TYPE_U16: { const uint16_t *x = (const uint16_t *)data + at;
        for (i = 0; i < m; i++) out[i] = x[i];
        break; }
    case CAIRN_TYPE_U32: { const uint32_t *x = (const uint32_t *)data + at;
        for (i = 0; i < m; i++) out[i] = x[i];
        break; }
    case CAIRN_TYPE_F32: { const uint8_t *x = (const uint8_t *)data + at * 4;
        for (i = 0; i < m; i++) { uint32_t u; memcpy(&u, x + 4 * i, 4); out[i] = u; }
        break; }
    default: /* i64, u64, f64, timestamp */
        memcpy(out, (const uint8_t *)data + at * 8, m * 8);
        break;
    }
}

static uint64_t load_r(int type, const void *data, size_t i) {
    uint64_t r;
    load_block(type, data, i, 1, &r);
    return r;
}

/* The type's order over R: signed types compare as i64. */
SEG_INLINE uint64_t okey(int kind, uint64_t r) { return kind == K_SINT ? r ^ ((uint64_t)1 << 63) : r; }

static void enc_free(enc *e) {
    if (!e->v_borrowed) enc_release(e, e->v);
    enc_release(e, e->row);
    enc_release(e, e->codes);
    enc_release(e, e->dict_rows);
    enc_release(e, e->run_rows);
}

static int enc_load(enc *e, const cairn_colvec *in, cairn_seg_scratch *sc) {
    size_t i, n = in->n, first = n;
    memset(e, 0, sizeof *e);
    e->sc = sc;
    e->in = in;
    e->type = in->type;
    e->kind = kind_of(in->type);
    e->n = n;
    e->w = (unsigned)cairn_seg__width(in->type, in->fixed_len);
    if (in->validity) {
        for (i = 0; i < n; i++) e->nulls += !vbit(in->validity, i);
        if (e->nulls) e->valid = in->validity;
    }
    for (i = 0; i < n; i++)
        if (vbit(e->valid, i)) { first = i; break; }
    if (e->kind == K_FIXED || e->kind == K_VAR) {
        uint32_t fill = first < n ? (uint32_t)first : 0;
        e->row = (uint32_t *)enc_alloc(e, SB_ROW, n * sizeof *e->row);
        if (!e->row) return cairn_err__set(CAIRN_NOMEM, "segment encode: out of memory");
        for (i = 0; i < n; i++) {
            if (vbit(e->valid, i)) {
                fill = (uint32_t)i;
                e->str_total += str_len(e, i);
                if (str_len(e, i) > e->str_maxlen) e->str_maxlen = str_len(e, i);
            }
            e->row[i] = fill;
        }
        /* all null: every row stands for row 0, whose bytes no reader ever returns */
    } else {
        uint64_t fill = first < n ? load_r(e->type, in->data, first) : 0;
        if (SEG_LE && !e->valid && e->w == 8 && ((uintptr_t)in->data & 7) == 0) {
            /* 8-byte values without nulls are R already: read in place, never written */
            e->v = (uint64_t *)(uintptr_t)in->data;
            e->v_borrowed = 1;
            return 0;
        }
        e->v = (uint64_t *)enc_alloc(e, SB_V, n * sizeof *e->v);
        if (!e->v) return cairn_err__set(CAIRN_NOMEM, "segment encode: out of memory");
        load_block(e->type, in->data, 0, n, e->v);
        if (e->valid) {
            for (i = 0; i < n; i++) {
                if (vbit(e->valid, i)) fill = e->v[i];
                e->v[i] = fill;
            }
        }
    }
    return 0;
}

/* One pass: constant, runs, min/max, deltas. */
static void enc_stats(enc *e) {
    size_t i, n = e->n;
    e->runs = 1;
    if (e->v) {
        const uint64_t *v = e->v;
        uint64_t lo = okey(e->kind, v[0]), hi = lo;
        int64_t dmin = 0, dmax = 0;
        for (i = 1; i < n; i++) {
            uint64_t k = okey(e->kind, v[i]);
            int64_t d = (int64_t)(v[i] - v[i - 1]);
            e->runs += v[i] != v[i - 1];
            lo = k < lo ? k : lo;
            hi = k > hi ? k : hi;
            if (i == 1 || d < dmin) dmin = d;
            if (i == 1 || d > dmax) dmax = d;
        }
        e->minv = okey(e->kind, lo);
        e->maxv = okey(e->kind, hi);
        e->dmin = dmin;
        e->dmax = dmax;
    } else {
        for (i = 1; i < n; i++) e->runs += !str_eq(e, e->row[i], e->row[i - 1]);
        /* an all-null column is constant (empty) */
        if (e->nulls == n) e->runs = 1;
    }
    e->constant = e->runs == 1;
}

/* Dictionary analysis: codes per row and first row per entry. Gives up (distinct 0) as soon as
 * the dictionary alone would make DICT larger than `budget` bytes (what another encoding needs):
 * a column of distinct values costs a partial pass, not a full table. Returns 0 or NOMEM. */
static int enc_dict(enc *e, uint64_t budget) {
    size_t n = e->n, tsize = 64, i, d = 0, cap = n;
    uint64_t bytes = 0; /* the entries' values */
    uint32_t *tab;
    if (e->w && budget < UINT64_MAX && (budget - 5) / e->w < cap) cap = (size_t)((budget - 5) / e->w) + 1;
    while (tsize < 2 * cap) tsize <<= 1;
    tab = (uint32_t *)enc_alloc(e, SB_TAB, tsize * sizeof *tab);
    e->codes = (uint32_t *)enc_alloc(e, SB_CODES, n * sizeof *e->codes);
    e->dict_rows = (uint32_t *)enc_alloc(e, SB_DROWS, cap * sizeof *e->dict_rows);
    if (!tab || !e->codes || !e->dict_rows) {
        enc_release(e, tab);
        return cairn_err__set(CAIRN_NOMEM, "segment encode: out of memory");
    }
    memset(tab, 0xff, tsize * sizeof *tab);
    for (i = 0; i < n; i++) {
        uint64_t h;
        size_t slot;
        size_t r = e->v ? i : e->row[i];
        if (e->v) {
            if (i > 0 && e->v[i] == e->v[i - 1]) { e->codes[i] = e->codes[i - 1]; continue; }
            h = mix64(e->v[i]);
        } else {
            if (i > 0 && e->row[i] == e->row[i - 1]) { e->codes[i] = e->codes[i - 1]; continue; }
            h = hash_bytes(str_ptr(e, r), (size_t)str_len(e, r));
        }
        slot = (size_t)h & (tsize - 1);
        for (;;) {
            uint32_t c = tab[slot];
            if (c == UINT32_MAX) {
                bytes += e->w ? e->w : str_len(e, r);
                if (d == cap || 5 + bytes + packed_bytes(n, bits_for(d)) > budget) {
                    enc_release(e, tab);
                    e->distinct = 0;
                    return 0;
                }
                tab[slot] = (uint32_t)d;
                e->dict_rows[d] = (uint32_t)r;
                e->codes[i] = (uint32_t)d++;
                break;
            }
            if (e->v ? e->v[e->dict_rows[c]] == e->v[i] : str_eq(e, e->dict_rows[c], r)) {
                e->codes[i] = c;
                break;
            }
            slot = (slot + 1) & (tsize - 1);
        }
    }
    enc_release(e, tab);
    e->distinct = d;
    return 0;
}

/* Columns of more than 2 * DICT_SAMPLE numeric values: the distinct values among the first
 * DICT_SAMPLE, scaled to the column, estimate the dictionary. 1 when that estimate of DICT's size
 * is no smaller than `best` (e.g. uniform random doubles: a dictionary of nearly every value
 * would save little and cost every reader a gather): DICT is then not tried. */
#define DICT_SAMPLE 4096u
static int dict_hopeless(enc *e, uint64_t best) {
    const size_t tsize = 4 * DICT_SAMPLE;
    size_t i, s = 0;
    uint64_t *tab, d;
    uint8_t *used;
    if (!e->v || e->n <= 2 * DICT_SAMPLE) return 0;
    if (!(tab = (uint64_t *)enc_alloc(e, SB_SAMPLE, tsize * 9))) return 0;
    used = (uint8_t *)(tab + tsize);
    memset(used, 0, tsize);
    for (i = 0; i < DICT_SAMPLE; i++) {
        uint64_t x = e->v[i];
        size_t slot;
        if (i > 0 && x == e->v[i - 1]) continue;
        slot = (size_t)mix64(x) & (tsize - 1);
        while (used[slot] && tab[slot] != x) slot = (slot + 1) & (tsize - 1);
        if (!used[slot]) {
            used[slot] = 1;
            tab[slot] = x;
            s++;
        }
    }
    enc_release(e, tab);
    d = (uint64_t)s * e->n / DICT_SAMPLE;
    return 5 + d * e->w + packed_bytes(e->n, bits_for(d - 1)) >= best;
}

static int enc_runs(enc *e) {
    size_t i, k = 0;
    e->run_rows = (uint32_t *)enc_alloc(e, SB_RROWS, e->runs * sizeof *e->run_rows);
    if (!e->run_rows) return cairn_err__set(CAIRN_NOMEM, "segment encode: out of memory");
    for (i = 0; i < e->n; i++) {
        int same = i > 0 && (e->v ? e->v[i] == e->v[i - 1] : str_eq(e, e->row[i], e->row[i - 1]));
        if (e->nulls == e->n && !e->v) same = i > 0;
        if (!same) e->run_rows[k++] = (uint32_t)(e->v ? i : e->row[i]);
    }
    return 0;
}

/* Size of L(c) over rows (row index per item; written empty where nulls_empty and the row is
 * null). */
static uint64_t list_size(const enc *e, const uint32_t *rows, size_t c, int nulls_empty) {
    uint64_t total = 0;
    size_t i;
    for (i = 0; i < c; i++) {
        size_t r = rows ? rows[i] : i;
        if (nulls_empty && !vbit(e->valid, r)) continue;
        total += str_len(e, r);
    }
    return 1 + packed_bytes(c, bits_for(total)) + total;
}

/* Items of `rows` written one after the other: V or N bytes each (the byte types), or L(c). */
static uint64_t values_size(const enc *e, const uint32_t *rows, size_t c) {
    if (e->kind == K_VAR) return list_size(e, rows, c, 0);
    return (uint64_t)c * e->w;
}

static uint64_t enc_size(enc *e, int code) {
    uint64_t n = e->n;
    switch (code) {
    case CAIRN_SEG_PLAIN:
        if (e->kind == K_VAR) return list_size(e, NULL, e->n, 1);
        return n * e->w;
    case CAIRN_SEG_CONSTANT: {
        uint32_t r0 = e->v ? 0 : e->row[0];
        if (e->kind == K_VAR) return e->nulls == e->n ? 1 : list_size(e, &r0, 1, 0);
        return e->w;
    }
    case CAIRN_SEG_RLE:
        return 4 + values_size(e, e->run_rows, e->runs) + 1 + packed_bytes(e->runs, bits_for(n));
    case CAIRN_SEG_DICT:
        return 4 + values_size(e, e->dict_rows, e->distinct) + 1 +
               packed_bytes(n, bits_for(e->distinct - 1));
    case CAIRN_SEG_FOR:
        return 8 + 1 + packed_bytes(n, bits_for(e->maxv - e->minv));
    case CAIRN_SEG_DELTA:
        return 16 + 1 + packed_bytes(n - 1, bits_for((uint64_t)e->dmax - (uint64_t)e->dmin));
    case CAIRN_SEG_BITPACK:
        return (n + 7) / 8;
    default:
        return UINT64_MAX;
    }
}

/* ---- writers ---------------------------------------------------------------------------- */

static uint8_t *put_v(uint8_t *p, uint64_t r, unsigned w) {
    unsigned i;
    for (i = 0; i < w; i++) p[i] = (uint8_t)(r >> (8 * i));
    return p + w;
}

static uint8_t *put_list(uint8_t *p, const enc *e, const uint32_t *rows, size_t c, int nulls_empty) {
    uint64_t total = 0, end = 0;
    size_t i;
    unsigned w;
    bitw b;
    for (i = 0; i < c; i++) {
        size_t r = rows ? rows[i] : i;
        if (!(nulls_empty && !vbit(e->valid, r))) total += str_len(e, r);
    }
    w = bits_for(total);
    *p++ = (uint8_t)w;
    b.p = p;
    b.acc = 0;
    b.nb = 0;
    for (i = 0; i < c; i++) {
        size_t r = rows ? rows[i] : i;
        if (!(nulls_empty && !vbit(e->valid, r))) end += str_len(e, r);
        bw_put(&b, end, w);
    }
    p = bw_end(&b);
    for (i = 0; i < c; i++) {
        size_t r = rows ? rows[i] : i;
        uint64_t l = str_len(e, r);
        if (nulls_empty && !vbit(e->valid, r)) continue;
        if (l) memcpy(p, str_ptr(e, r), (size_t)l);
        p += l;
    }
    return p;
}

static uint8_t *put_values(uint8_t *p, const enc *e, const uint32_t *rows, size_t c) {
    size_t i;
    if (e->kind == K_VAR) return put_list(p, e, rows, c, 0);
    for (i = 0; i < c; i++) {
        size_t r = rows[i];
        if (e->kind == K_FIXED) {
            memcpy(p, str_ptr(e, r), e->w);
            p += e->w;
        } else {
            p = put_v(p, e->v[r], e->w);
        }
    }
    return p;
}

static uint8_t *put_packed_u32(uint8_t *p, const uint32_t *x, size_t c, unsigned w) {
    bitw b;
    size_t i;
    *p++ = (uint8_t)w;
    b.p = p;
    b.acc = 0;
    b.nb = 0;
    for (i = 0; i < c; i++) bw_put(&b, x[i], w);
    return bw_end(&b);
}

static uint8_t *write_payload(uint8_t *p, enc *e, int code) {
    size_t i, n = e->n;
    switch (code) {
    case CAIRN_SEG_PLAIN:
        if (e->kind == K_VAR) return put_list(p, e, NULL, n, 1);
        if (e->kind == K_FIXED) {
            for (i = 0; i < n; i++) {
                if (vbit(e->valid, i)) memcpy(p, str_ptr(e, i), e->w);
                else memset(p, 0, e->w);
                p += e->w;
            }
            return p;
        }
#if SEG_LE
        if (!e->valid && e->w == 8) {
            memcpy(p, e->v, n * 8);
            return p + n * 8;
        }
        if (e->w == 4 || e->w == 2 || e->w == 1) {
            /* the low w bytes of each R (little-endian), 0 for a null */
            const unsigned w = e->w;
            for (i = 0; i < n; i++) {
                uint64_t r = vbit(e->valid, i) ? e->v[i] : 0;
                memcpy(p + i * w, &r, w);
            }
            return p + n * w;
        }
#endif
        for (i = 0; i < n; i++) p = put_v(p, vbit(e->valid, i) ? e->v[i] : 0, e->w);
        return p;
    case CAIRN_SEG_CONSTANT: {
        uint32_t r0 = e->v ? 0 : e->row[0];
        if (e->kind == K_VAR && e->nulls == n) {
            *p++ = 0; /* width 0: one empty string */
            return p;
        }
        if (e->kind == K_FIXED && e->nulls == n) {
            memset(p, 0, e->w);
            return p + e->w;
        }
        return put_values(p, e, &r0, 1);
    }
    case CAIRN_SEG_RLE: {
        unsigned w = bits_for(n);
        bitw b;
        cairn_put32(p, (uint32_t)e->runs);
        p = put_values(p + 4, e, e->run_rows, e->runs);
        *p++ = (uint8_t)w;
        b.p = p;
        b.acc = 0;
        b.nb = 0;
        for (i = 1; i < n; i++) {
            int same = e->v ? e->v[i] == e->v[i - 1] : str_eq(e, e->row[i], e->row[i - 1]);
            if (e->nulls == n && !e->v) same = 1;
            if (!same) bw_put(&b, i, w);
        }
        bw_put(&b, n, w);
        return bw_end(&b);
    }
    case CAIRN_SEG_DICT:
        cairn_put32(p, (uint32_t)e->distinct);
        p = put_values(p + 4, e, e->dict_rows, e->distinct);
        return put_packed_u32(p, e->codes, n, bits_for(e->distinct - 1));
    case CAIRN_SEG_FOR: {
        unsigned w = bits_for(e->maxv - e->minv);
        bitw b;
        cairn_put64(p, e->minv);
        p += 8;
        *p++ = (uint8_t)w;
        b.p = p;
        b.acc = 0;
        b.nb = 0;
        for (i = 0; i < n; i++) bw_put(&b, e->v[i] - e->minv, w);
        return bw_end(&b);
    }
    case CAIRN_SEG_DELTA: {
        uint64_t md = (uint64_t)e->dmin;
        unsigned w = bits_for((uint64_t)e->dmax - md);
        bitw b;
        cairn_put64(p, e->v[0]);
        cairn_put64(p + 8, md);
        p += 16;
        *p++ = (uint8_t)w;
        b.p = p;
        b.acc = 0;
        b.nb = 0;
        for (i = 1; i < n; i++) bw_put(&b, e->v[i] - e->v[i - 1] - md, w);
        return bw_end(&b);
    }
    case CAIRN_SEG_BITPACK:
        memset(p, 0, (n + 7) / 8);
        for (i = 0; i < n; i++) p[i >> 3] |= (uint8_t)((e->v[i] & 1) << (i & 7));
        return p + (n + 7) / 8;
    default:
        return p;
    }
}

/* ---- zone maps -------------------------------------------------------------------------- */

static int bytes_cmp(const uint8_t *a, size_t la, const uint8_t *b, size_t lb) {
    size_t m = la < lb ? la : lb;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c;
    return la < lb ? -1 : la > lb;
}

static void zone_prefix(uint8_t *pre, uint8_t *len, uint8_t *exact, const uint8_t *p, size_t l) {
    size_t m = l < 16 ? l : 16;
    memset(pre, 0, 16);
    if (m) memcpy(pre, p, m);
    *len = (uint8_t)m;
    *exact = l <= 16;
}

void cairn_seg__zone(const cairn_colvec *in, cairn_zone *out) {
    size_t i, n;
    int k, first = 1;
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!in || !(k = kind_of(in->type)) || (!in->data && k != K_VAR)) return;
    n = in->n;
    out->count = n;
    if (k == K_FIXED || k == K_VAR) {
        const uint8_t *minp = NULL, *maxp = NULL;
        size_t minl = 0, maxl = 0;
        if (k == K_VAR && !in->offsets) return;
        for (i = 0; i < n; i++) {
            const uint8_t *p;
            size_t l;
            if (!vbit(in->validity, i)) { out->nulls++; continue; }
            if (k == K_FIXED) {
                p = (const uint8_t *)in->data + i * in->fixed_len;
                l = in->fixed_len;
            } else {
                l = (size_t)(in->offsets[i + 1] - in->offsets[i]);
                p = in->data ? (const uint8_t *)in->data + in->offsets[i] : (const uint8_t *)"";
            }
            if (first || bytes_cmp(p, l, minp, minl) < 0) { minp = p; minl = l; }
            if (first || bytes_cmp(p, l, maxp, maxl) > 0) { maxp = p; maxl = l; }
            first = 0;
        }
        if (!first) {
            out->has_values = 1;
            zone_prefix(out->min_prefix, &out->min_len, &out->min_exact, minp, minl);
            zone_prefix(out->max_prefix, &out->max_len, &out->max_exact, maxp, maxl);
        }
        return;
    }
    if (in->type == CAIRN_TYPE_F64 && !in->validity) {
        /* the common float column: one pass over the doubles */
        const uint8_t *x = (const uint8_t *)in->data;
        double fmin = 0, fmax = 0;
        for (i = 0; i < n; i++) {
            double f;
            memcpy(&f, x + 8 * i, 8);
            if (f != f) {
                out->has_nan = 1;
                continue;
            }
            if (first) {
                fmin = fmax = f;
                first = 0;
            } else {
                if (f < fmin) fmin = f;
                if (f > fmax) fmax = f;
            }
        }
        out->has_values = 1;
        out->min.f = fmin;
        out->max.f = fmax;
        return;
    }
    {
        uint64_t buf[BLOCK];
        size_t at;
        int64_t smin = 0, smax = 0;
        uint64_t umin = 0, umax = 0;
        double fmin = 0, fmax = 0;
        for (at = 0; at < n; at += BLOCK) {
            size_t m = n - at < BLOCK ? n - at : BLOCK;
            load_block(in->type, in->data, at, m, buf);
            for (i = 0; i < m; i++) {
                uint64_t r = buf[i];
                if (in->validity && !vbit(in->validity, at + i)) { out->nulls++; continue; }
                out->has_values = 1;
                if (k == K_FLOAT) {
                    double f;
                    if (in->type == CAIRN_TYPE_F32) {
                        float g;
                        uint32_t u = (uint32_t)r;
                        memcpy(&g, &u, 4);
                        f = g;
                    } else {
                        memcpy(&f, &r, 8);
                    }
                    if (f != f) { out->has_nan = 1; continue; }
                    if (first || f < fmin) fmin = f;
                    if (first || f > fmax) fmax = f;
                } else if (k == K_SINT) {
                    int64_t x = (int64_t)r;
                    if (first || x < smin) smin = x;
                    if (first || x > smax) smax = x;
                } else {
                    if (first || r < umin) umin = r;
                    if (first || r > umax) umax = r;
                }
                first = 0;
            }
        }
        if (k == K_FLOAT) { out->min.f = fmin; out->max.f = fmax; }
        else if (k == K_SINT) { out->min.i = smin; out->max.i = smax; }
        else { out->min.u = umin; out->max.u = umax; }
    }
}

static void zone_put(uint8_t *h, const cairn_zone *z) {
    uint64_t a = 0, b = 0;
    memcpy(&a, &z->min, 8);
    memcpy(&b, &z->max, 8);
    cairn_put64(h + 32, a);
    cairn_put64(h + 40, b);
    h[28] = z->min_len;
    h[29] = z->max_len;
    memcpy(h + 48, z->min_prefix, 16);
    memcpy(h + 64, z->max_prefix, 16);
}

/* ---- encode ----------------------------------------------------------------------------- */

int cairn_seg__encode(const cairn_colvec *in, int force, cairn_seg_buf *out) {
    return cairn_seg__encode_with(in, force, NULL, out);
}

/* The zone map of a numeric column from the encoder's statistics (nulls hold neighbouring
 * values, so min and max over every slot are those of the non-null values); floats by a pass
 * (NaN and -0.0 need the float order). */
static void enc_zone(const enc *e, const cairn_colvec *in, cairn_zone *z) {
    if (!e->v || e->kind == K_FLOAT) {
        cairn_seg__zone(in, z);
        return;
    }
    memset(z, 0, sizeof *z);
    z->count = e->n;
    z->nulls = e->nulls;
    if (e->nulls == e->n) return;
    z->has_values = 1;
    if (e->kind == K_SINT) {
        z->min.i = (int64_t)e->minv;
        z->max.i = (int64_t)e->maxv;
    } else {
        z->min.u = e->minv;
        z->max.u = e->maxv;
    }
}

int cairn_seg__encode_with(const cairn_colvec *in, int force, cairn_seg_scratch *sc, cairn_seg_buf *out) {
    static const int order[] = {CAIRN_SEG_CONSTANT, CAIRN_SEG_PLAIN, CAIRN_SEG_BITPACK, CAIRN_SEG_FOR,
                                CAIRN_SEG_DICT, CAIRN_SEG_RLE, CAIRN_SEG_DELTA};
    enc e;
    int rc, best = 0;
    uint64_t best_size = UINT64_MAX, body, total, vbytes;
    size_t i;
    uint8_t *buf, *p, flags = 0;
    cairn_zone z;
    if (!out) return cairn_err__set(CAIRN_INVALID, "segment encode: NULL output");
    memset(out, 0, sizeof *out);
    if ((rc = check_vec(in, "segment encode")) != 0) return rc;
    if (force && (force < CAIRN_SEG_PLAIN || force > CAIRN_SEG_BITPACK))
        return cairn_err__set(CAIRN_INVALID, "segment encode: unknown encoding %d", force);
    if (force && !enc_applies(kind_of(in->type), force))
        return cairn_err__set(CAIRN_UNSUPPORTED, "segment encode: %s does not apply to column type %d",
                              enc_name(force), in->type);
    if ((rc = enc_load(&e, in, sc)) != 0) goto fail;
    enc_stats(&e);
    if (force == CAIRN_SEG_CONSTANT && !e.constant) {
        rc = cairn_err__set(CAIRN_UNSUPPORTED, "segment encode: CONSTANT needs equal values");
        goto fail;
    }
    /* RLE needs the runs (string/bytes: to size it; the others only to write it); DICT the
     * dictionary (bounded by what could still win) */
    if ((!force && e.kind == K_VAR) || force == CAIRN_SEG_RLE)
        if ((rc = enc_runs(&e)) != 0) goto fail;
    if (force == CAIRN_SEG_DICT && (rc = enc_dict(&e, UINT64_MAX)) != 0) goto fail;
    if (force) {
        best = force;
    } else {
        /* every candidate but DICT by its exact size, then DICT within the best size so far */
        for (i = 0; i < sizeof order / sizeof order[0]; i++) {
            int c = order[i];
            uint64_t s;
            if (!enc_applies(e.kind, c) || c == CAIRN_SEG_DICT) continue;
            if (c == CAIRN_SEG_CONSTANT && !e.constant) continue;
            s = enc_size(&e, c);
            if (s < best_size || (s == best_size && enc_rank(c) < enc_rank(best))) {
                best = c;
                best_size = s;
            }
        }
        if (enc_applies(e.kind, CAIRN_SEG_DICT) && !e.constant && !dict_hopeless(&e, best_size)) {
            uint64_t s;
            if ((rc = enc_dict(&e, best_size)) != 0) goto fail;
            if (e.distinct && ((s = enc_size(&e, CAIRN_SEG_DICT)) < best_size ||
                               (s == best_size && enc_rank(CAIRN_SEG_DICT) < enc_rank(best)))) {
                best = CAIRN_SEG_DICT;
                best_size = s;
            }
        }
    }
    if (best == CAIRN_SEG_RLE && !e.run_rows && (rc = enc_runs(&e)) != 0) goto fail;
    vbytes = e.nulls ? (e.n + 7) / 8 : 0;
    body = vbytes + enc_size(&e, best);
    total = SEG_HDR + body + SEG_CRC;
    if (total > (uint64_t)SIZE_MAX) {
        rc = cairn_err__set(CAIRN_NOMEM, "segment encode: %llu bytes", (unsigned long long)total);
        goto fail;
    }
    buf = (uint8_t *)enc_alloc(&e, SB_OUT, (size_t)total);
    if (!buf) {
        rc = cairn_err__set(CAIRN_NOMEM, "segment encode: out of memory (%llu bytes)", (unsigned long long)total);
        goto fail;
    }
    enc_zone(&e, in, &z);
    memset(buf, 0, SEG_HDR);
    memcpy(buf, "CSEG", 4);
    buf[4] = SEG_VERSION;
    buf[5] = (uint8_t)e.type;
    buf[6] = (uint8_t)best;
    if (e.nulls) flags |= F_VALID;
    if (z.has_values) flags |= F_HASVAL;
    if (z.has_nan) flags |= F_NAN;
    if (z.min_exact) flags |= F_MINEX;
    if (z.max_exact) flags |= F_MAXEX;
    buf[7] = flags;
    cairn_put32(buf + 8, (uint32_t)e.n);
    cairn_put32(buf + 12, e.kind == K_FIXED ? in->fixed_len : 0);
    cairn_put64(buf + 16, body);
    cairn_put32(buf + 24, (uint32_t)e.nulls);
    zone_put(buf, &z);
    p = buf + SEG_HDR;
    if (vbytes) {
        memcpy(p, in->validity, (size_t)vbytes);
        if (e.n & 7) p[vbytes - 1] &= (uint8_t)((1u << (e.n & 7)) - 1);
        p += vbytes;
    }
    p = write_payload(p, &e, best);
    if ((uint64_t)(p - buf) != SEG_HDR + body) {
        unsigned long long wrote = (unsigned long long)(p - buf - SEG_HDR);
        enc_release(&e, buf);
        rc = cairn_err__set(CAIRN_INTERNAL, "segment encode: %s wrote %llu bytes, sized %llu", enc_name(best), wrote,
                            (unsigned long long)body);
        goto fail;
    }
    cairn_put32(p, cairn_crc32c__update(0, buf, (size_t)(SEG_HDR + body)));
    enc_free(&e);
    out->bytes = buf;
    out->len = (size_t)total;
    out->encoding = best;
    out->zone = z;
    return 0;
fail:
    enc_free(&e);
    return rc;
}

/* ---- header ----------------------------------------------------------------------------- */

typedef struct hdr {
    int type, kind, enc;
    unsigned flags;
    size_t n, nulls;
    uint32_t fixed_len;
    unsigned w;
    const uint8_t *seg, *lim;  /* the segment; lim: end of readable bytes (the CRC included) */
    const uint8_t *valid;      /* bitmap or NULL */
    const uint8_t *pay, *end;  /* payload [pay, end) */
} hdr;

static int parse(const void *bytes, size_t len, int crc, hdr *h) {
    const uint8_t *b = (const uint8_t *)bytes;
    uint64_t body;
    size_t vbytes;
    memset(h, 0, sizeof *h);
    if (!b) return cairn_err__set(CAIRN_INVALID, "segment: NULL bytes");
    if (len < SEG_HDR + SEG_CRC) return cairn_err__set(CAIRN_CORRUPT, "segment: %zu bytes, shorter than a header", len);
    if (memcmp(b, "CSEG", 4) != 0) return cairn_err__set(CAIRN_CORRUPT, "segment: bad magic");
    if (b[4] != SEG_VERSION) return cairn_err__set(CAIRN_CORRUPT, "segment: version %u", b[4]);
    body = cairn_get64(b + 16);
    if (body != len - SEG_HDR - SEG_CRC)
        return cairn_err__set(CAIRN_CORRUPT, "segment: body of %llu bytes in a segment of %zu",
                              (unsigned long long)body, len);
    if (crc && cairn_crc32c__update(0, b, len - SEG_CRC) != cairn_get32(b + len - SEG_CRC))
        return cairn_err__set(CAIRN_CORRUPT, "segment: CRC mismatch");
    h->type = b[5];
    h->kind = kind_of(h->type);
    h->enc = b[6];
    h->flags = b[7];
    h->n = cairn_get32(b + 8);
    h->fixed_len = cairn_get32(b + 12);
    h->nulls = cairn_get32(b + 24);
    if (!h->kind) return cairn_err__set(CAIRN_CORRUPT, "segment: unknown column type %d", h->type);
    if (!enc_applies(h->kind, h->enc))
        return cairn_err__set(CAIRN_CORRUPT, "segment: encoding %d for column type %d", h->enc, h->type);
    if (h->flags & ~F_ALL) return cairn_err__set(CAIRN_CORRUPT, "segment: unknown flags 0x%02x", h->flags);
    if (h->n == 0 || h->n > CAIRN_SEG_MAX_ROWS) return cairn_err__set(CAIRN_CORRUPT, "segment: %zu values", h->n);
    if (h->kind == K_FIXED ? (h->fixed_len == 0 || h->fixed_len > 65535) : h->fixed_len != 0)
        return cairn_err__set(CAIRN_CORRUPT, "segment: fixed length %u for column type %d", h->fixed_len, h->type);
    if (h->nulls > h->n || (h->nulls > 0) != ((h->flags & F_VALID) != 0))
        return cairn_err__set(CAIRN_CORRUPT, "segment: %zu nulls of %zu with flags 0x%02x", h->nulls, h->n, h->flags);
    if (b[28] > 16 || b[29] > 16 || b[30] || b[31])
        return cairn_err__set(CAIRN_CORRUPT, "segment: bad zone map prefix lengths");
    h->w = (unsigned)cairn_seg__width(h->type, h->fixed_len);
    h->seg = b;
    h->lim = b + len;
    h->pay = b + SEG_HDR;
    h->end = b + len - SEG_CRC;
    vbytes = (h->flags & F_VALID) ? (h->n + 7) / 8 : 0;
    if (vbytes > body) return cairn_err__set(CAIRN_CORRUPT, "segment: validity bitmap overruns the body");
    if (vbytes) {
        h->valid = h->pay;
        h->pay += vbytes;
    }
    return 0;
}

/* The checks of the bitmap and zone map that need a pass over the bitmap (decode, info). */
static int check_valid(const hdr *h) {
    size_t i, set = 0, vbytes;
    if (!h->valid) return 0;
    vbytes = (h->n + 7) / 8;
    for (i = 0; i < vbytes; i++) {
        unsigned x = h->valid[i];
        while (x) { set++; x &= x - 1; }
    }
    if ((h->n & 7) && (h->valid[vbytes - 1] >> (h->n & 7)))
        return cairn_err__set(CAIRN_CORRUPT, "segment: validity padding bits set");
    if (h->n - set != h->nulls)
        return cairn_err__set(CAIRN_CORRUPT, "segment: validity bitmap has %zu nulls, header %zu", h->n - set, h->nulls);
    return 0;
}

static int check_type(const hdr *h, int type, uint32_t fixed_len) {
    if (h->type != type || (type == CAIRN_TYPE_FIXED && h->fixed_len != fixed_len))
        return cairn_err__set(CAIRN_CORRUPT, "segment: column type %d (bytes:%u), expected %d (bytes:%u)", h->type,
                              (unsigned)h->fixed_len, type, (unsigned)(type == CAIRN_TYPE_FIXED ? fixed_len : 0));
    return 0;
}

static void zone_get(const hdr *h, cairn_zone *z) {
    const uint8_t *b = h->seg;
    uint64_t a = cairn_get64(b + 32), c = cairn_get64(b + 40);
    memset(z, 0, sizeof *z);
    z->nulls = h->nulls;
    z->count = h->n;
    z->has_values = (h->flags & F_HASVAL) != 0;
    z->has_nan = (h->flags & F_NAN) != 0;
    memcpy(&z->min, &a, 8);
    memcpy(&z->max, &c, 8);
    z->min_len = b[28];
    z->max_len = b[29];
    memcpy(z->min_prefix, b + 48, 16);
    memcpy(z->max_prefix, b + 64, 16);
    z->min_exact = (h->flags & F_MINEX) != 0;
    z->max_exact = (h->flags & F_MAXEX) != 0;
}

int cairn_seg__info(const void *bytes, size_t len, int *encoding, size_t *n, cairn_zone *zone) {
    hdr h;
    int rc = parse(bytes, len, 1, &h);
    if (rc == 0) rc = check_valid(&h);
    if (rc) return rc;
    if (encoding) *encoding = h.enc;
    if (n) *n = h.n;
    if (zone) zone_get(&h, zone);
    return 0;
}

/* ---- decode ----------------------------------------------------------------------------- */

static uint64_t get_v(const uint8_t *p, unsigned w, int kind) {
    uint64_t r = 0;
    unsigned i;
    for (i = 0; i < w; i++) r |= (uint64_t)p[i] << (8 * i);
    if (kind == K_SINT && w < 8 && (r >> (8 * w - 1)) & 1) r |= ~(uint64_t)0 << (8 * w);
    return r;
}

/* Store count R values at the type's width into dst (element index `at`); returns non-zero if a
 * value is out of the type's range. */
static int store_r(void *restrict dst, size_t at, const uint64_t *restrict src, size_t count, unsigned w,
                   uint64_t bias, uint64_t maxv) {
    uint64_t bad = 0;
    size_t i;
    switch (w) {
    case 1: {
        uint8_t *restrict d = (uint8_t *)dst + at;
        for (i = 0; i < count; i++) { bad |= (src[i] + bias) > maxv; d[i] = (uint8_t)src[i]; }
        break;
    }
    case 2: {
        uint16_t *restrict d = (uint16_t *)dst + at;
        for (i = 0; i < count; i++) { bad |= (src[i] + bias) > maxv; d[i] = (uint16_t)src[i]; }
        break;
    }
    case 4: {
        uint32_t *restrict d = (uint32_t *)dst + at;
        for (i = 0; i < count; i++) { bad |= (src[i] + bias) > maxv; d[i] = (uint32_t)src[i]; }
        break;
    }
    default: {
        uint64_t *restrict d = (uint64_t *)dst + at;
        memcpy(d, src, count * 8);
        break;
    }
    }
    return bad != 0;
}

/* Copy entry code[i] of a typed table (w bytes each) into dst row i. */
static void gather(void *restrict dst, size_t at, const void *restrict tab, const uint64_t *restrict code,
                   size_t count, unsigned w) {
    size_t i;
    if (w == 1) {
        uint8_t *restrict d = (uint8_t *)dst + at;
        const uint8_t *t = (const uint8_t *)tab;
        for (i = 0; i < count; i++) d[i] = t[code[i]];
    } else if (w == 2) {
        uint16_t *restrict d = (uint16_t *)dst + at;
        const uint16_t *t = (const uint16_t *)tab;
        for (i = 0; i < count; i++) d[i] = t[code[i]];
    } else if (w == 4) {
        uint32_t *restrict d = (uint32_t *)dst + at;
        const uint32_t *t = (const uint32_t *)tab;
        for (i = 0; i < count; i++) d[i] = t[code[i]];
    } else if (w == 8) {
        uint64_t *restrict d = (uint64_t *)dst + at;
        const uint64_t *t = (const uint64_t *)tab;
        for (i = 0; i < count; i++) d[i] = t[code[i]];
    } else {
        uint8_t *d = (uint8_t *)dst + at * w;
        const uint8_t *t = (const uint8_t *)tab;
        for (i = 0; i < count; i++) memcpy(d + i * w, t + code[i] * w, w);
    }
}

/* Fill rows [a, b) with one w-byte value. */
static void fill(void *dst, size_t a, size_t b, const uint8_t *val, unsigned w) {
    size_t i;
    switch (w) {
    case 1: memset((uint8_t *)dst + a, val[0], b - a); break;
    case 2: { uint16_t x, *d = (uint16_t *)dst; memcpy(&x, val, 2); for (i = a; i < b; i++) d[i] = x; break; }
    case 4: { uint32_t x, *d = (uint32_t *)dst; memcpy(&x, val, 4); for (i = a; i < b; i++) d[i] = x; break; }
    case 8: { uint64_t x, *d = (uint64_t *)dst; memcpy(&x, val, 8); for (i = a; i < b; i++) d[i] = x; break; }
    default: { uint8_t *d = (uint8_t *)dst; for (i = a; i < b; i++) memcpy(d + i * w, val, w); break; }
    }
}

/* A string list L(c) inside the payload. */
typedef struct slist {
    packed ends;
    const uint8_t *bytes;
    uint64_t total;
    size_t c;
} slist;

static int list_open(const uint8_t **p, const uint8_t *end, const uint8_t *lim, size_t c, slist *l, const char *what) {
    int rc = pk_open(p, end, lim, c, &l->ends, what);
    if (rc) return rc;
    l->c = c;
    l->total = c ? pk_get(&l->ends, c - 1) : 0;
    if (l->total > (uint64_t)(end - *p))
        return cairn_err__set(CAIRN_CORRUPT, "segment: %s: %llu string bytes overrun the segment", what,
                              (unsigned long long)l->total);
    l->bytes = *p;
    *p += l->total;
    return 0;
}

/* Item k of a list whose ends are known to be non-decreasing and <= total (list_check). */
SEG_INLINE void list_item(const slist *l, size_t k, uint64_t *off, uint64_t *len) {
    uint64_t a = k ? pk_get(&l->ends, k - 1) : 0, b = pk_get(&l->ends, k);
    *off = a;
    *len = b - a;
}

/* Unpack every end and check it; fills ends[0..c) when ends != NULL. */
static int list_check(const slist *l, uint64_t *ends, const char *what) {
    uint64_t prev = 0, buf[BLOCK];
    size_t at, k;
    for (at = 0; at < l->c; at += BLOCK) {
        size_t m = l->c - at < BLOCK ? l->c - at : BLOCK;
        uint64_t *e = ends ? ends + at : buf;
        pk_unpack(&l->ends, at, m, e);
        for (k = 0; k < m; k++) {
            if (e[k] < prev || e[k] - prev > CAIRN_VALUE_MAX || e[k] > l->total)
                return cairn_err__set(CAIRN_CORRUPT, "segment: %s: bad string end offset %llu at %zu", what,
                                      (unsigned long long)e[k], at + k);
            prev = e[k];
        }
    }
    return 0;
}

static void *xmalloc(size_t n) { return malloc(n ? n : 1); }

/* Numeric and fixed-width decode into out->data. */
/* The payload's framing of a fixed-width column, checked before the output is allocated (a
 * damaged header must not make decode allocate n * N bytes first). */
static int frame_fixed(const hdr *h) {
    uint64_t len = (uint64_t)(h->end - h->pay), n = h->n, w = h->w, c;
    const uint8_t *p = h->pay;
    int ok;
    switch (h->enc) {
    case CAIRN_SEG_PLAIN: ok = len == n * w; break;
    case CAIRN_SEG_CONSTANT: ok = len == w; break;
    case CAIRN_SEG_BITPACK: ok = len == (n + 7) / 8; break;
    case CAIRN_SEG_RLE:
    case CAIRN_SEG_DICT:
        ok = len >= 5 && (c = cairn_get32(p)) >= 1 && c <= n && len - 4 > c * w && p[4 + c * w] <= 64 &&
             len == 4 + c * w + 1 + packed_bytes(h->enc == CAIRN_SEG_RLE ? c : n, p[4 + c * w]);
        break;
    case CAIRN_SEG_FOR: ok = len >= 9 && p[8] <= 64 && len == 9 + packed_bytes(n, p[8]); break;
    case CAIRN_SEG_DELTA: ok = len >= 17 && p[16] <= 64 && len == 17 + packed_bytes(n - 1, p[16]); break;
    default: ok = 0;
    }
    if (!ok)
        return cairn_err__set(CAIRN_CORRUPT, "segment: %s payload of %llu bytes does not match its contents",
                              enc_name(h->enc), (unsigned long long)len);
    return 0;
}

/* Run k of an RLE segment whose rows cover `start`: the first run whose end is above start,
 * checked against its neighbour (a binary search over ends that the CRC vouches for). */
static int run_of(const packed *a, size_t c, size_t n, size_t start, size_t *k) {
    size_t lo = 0, hi = c;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pk_get(a, mid) > start) hi = mid;
        else lo = mid + 1;
    }
    if (lo >= c || pk_get(a, lo) > n || (lo > 0 && pk_get(a, lo - 1) > start))
        return cairn_err__set(CAIRN_CORRUPT, "segment: bad run ends");
    *k = lo;
    return 0;
}

/* Numeric and fixed-width decode of rows [s0, s0 + cnt) into out->data. The whole segment
 * (s0 0, cnt n) checks every value; a part checks what it reads. */
static int decode_fixed(const hdr *h, size_t s0, size_t cnt, cairn_colvec *out) {
    size_t n = h->n, i, at;
    unsigned w = h->w;
    const uint8_t *p = h->pay, *end = h->end;
    uint64_t bias, maxv, buf[BLOCK];
    int bad = 0, rc = 0;
    type_range(h->type, &bias, &maxv);
    if ((rc = frame_fixed(h)) != 0) return rc;
    if ((uint64_t)cnt * w > (uint64_t)SIZE_MAX) return cairn_err__set(CAIRN_NOMEM, "segment decode: too large");
    out->data = xmalloc(cnt * w);
    if (!out->data) return cairn_err__set(CAIRN_NOMEM, "segment decode: out of memory");
    out->data_len = cnt * w;
    switch (h->enc) {
    case CAIRN_SEG_PLAIN:
        p += s0 * w;
        if (SEG_LE || w == 1 || h->kind == K_FIXED) {
            memcpy(out->data, p, cnt * w);
            if (h->kind == K_BOOL) {
                const uint8_t *d = (const uint8_t *)out->data;
                unsigned b = 0;
                for (i = 0; i < cnt; i++) b |= d[i] > 1;
                bad = b != 0;
            }
        } else {
            for (at = 0; at < cnt && !bad; at += BLOCK) {
                size_t m = cnt - at < BLOCK ? cnt - at : BLOCK;
                for (i = 0; i < m; i++) buf[i] = get_v(p + (at + i) * w, w, h->kind);
                bad = store_r(out->data, at, buf, m, w, bias, maxv);
            }
        }
        break;
    case CAIRN_SEG_CONSTANT: {
        uint8_t val[8];
        if (h->kind == K_FIXED) {
            fill(out->data, 0, cnt, p, w);
            break;
        }
        buf[0] = get_v(p, w, h->kind);
        bad = store_r(val, 0, buf, 1, w, bias, maxv);
        fill(out->data, 0, cnt, val, w);
        break;
    }
    case CAIRN_SEG_BITPACK: {
        uint8_t *d = (uint8_t *)out->data;
        for (i = 0; i < cnt; i++) d[i] = (p[(s0 + i) >> 3] >> ((s0 + i) & 7)) & 1;
        if (s0 + cnt == n && (n & 7) && (p[(n + 7) / 8 - 1] >> (n & 7))) bad = 1;
        break;
    }
    case CAIRN_SEG_RLE:
    case CAIRN_SEG_DICT: {
        size_t c = cairn_get32(p);
        uint8_t *tab;
        packed a;
        p += 4;
        tab = (uint8_t *)xmalloc(c * w);
        if (!tab) { rc = cairn_err__set(CAIRN_NOMEM, "segment decode: out of memory"); break; }
        if (h->kind == K_FIXED) {
            memcpy(tab, p, c * w);
        } else {
            for (at = 0; at < c && !bad; at += BLOCK) {
                size_t m = c - at < BLOCK ? c - at : BLOCK;
                for (i = 0; i < m; i++) buf[i] = get_v(p + (at + i) * w, w, h->kind);
                bad = store_r(tab, at, buf, m, w, bias, maxv);
            }
        }
        p += c * w;
        if ((rc = pk_open(&p, end, h->lim, h->enc == CAIRN_SEG_RLE ? c : n, &a,
                          h->enc == CAIRN_SEG_RLE ? "run ends" : "codes")) != 0) { free(tab); break; }
        if (h->enc == CAIRN_SEG_DICT) {
            for (at = 0; at < cnt && !bad; at += BLOCK) {
                size_t m = cnt - at < BLOCK ? cnt - at : BLOCK;
                uint64_t hi = 0;
                pk_unpack(&a, s0 + at, m, buf);
                for (i = 0; i < m; i++) hi |= (uint64_t)(buf[i] >= c);
                if (hi) { rc = cairn_err__set(CAIRN_CORRUPT, "segment: dictionary code out of range"); break; }
                gather(out->data, at, tab, buf, m, w);
            }
        } else {
            /* runs from the one holding s0; every end read is checked; the last must be n */
            size_t k = 0, stop = s0 + cnt;
            uint64_t prev = s0;
            if (s0 > 0) rc = run_of(&a, c, n, s0, &k);
            for (; !rc && prev < stop; k++) {
                uint64_t e2 = k < c ? pk_get(&a, k) : 0;
                if (k >= c || e2 <= prev || e2 > n || (k == c - 1 && e2 != n)) {
                    rc = cairn_err__set(CAIRN_CORRUPT, "segment: bad run end %llu", (unsigned long long)e2);
                    break;
                }
                fill(out->data, (size_t)(prev - s0), (size_t)((e2 < stop ? e2 : stop) - s0), tab + k * w, w);
                prev = e2;
            }
            /* the whole segment: the runs end at n exactly */
            if (!rc && s0 == 0 && cnt == n && k != c) rc = cairn_err__set(CAIRN_CORRUPT, "segment: runs beyond n");
        }
        free(tab);
        break;
    }
    case CAIRN_SEG_FOR:
    case CAIRN_SEG_DELTA: {
        packed a;
        uint64_t base, md = 0, cur;
        size_t pc = h->enc == CAIRN_SEG_FOR ? n : n - 1;
        base = cairn_get64(p);
        p += 8;
        if (h->enc == CAIRN_SEG_DELTA) { md = cairn_get64(p); p += 8; }
        if ((rc = pk_open(&p, end, h->lim, pc, &a, "packed values")) != 0) break;
        if (h->enc == CAIRN_SEG_FOR) {
            for (at = 0; at < cnt && !bad; at += BLOCK) {
                size_t m = cnt - at < BLOCK ? cnt - at : BLOCK;
                pk_unpack(&a, s0 + at, m, buf);
                for (i = 0; i < m; i++) buf[i] += base;
                bad = store_r(out->data, at, buf, m, w, bias, maxv);
            }
        } else {
            /* value s0 = base + s0 * md + the packed deltas before it */
            cur = base + md * (uint64_t)s0;
            for (at = 0; a.w && at < s0; at += BLOCK) {
                size_t m = s0 - at < BLOCK ? s0 - at : BLOCK;
                pk_unpack(&a, at, m, buf);
                for (i = 0; i < m; i++) cur += buf[i];
            }
            buf[0] = cur;
            bad = store_r(out->data, 0, buf, 1, w, bias, maxv);
            /* then packed deltas s0 .. s0 + cnt - 2 */
            for (at = 0; at + 1 < cnt && !bad; at += BLOCK) {
                size_t m = cnt - 1 - at < BLOCK ? cnt - 1 - at : BLOCK;
                pk_unpack(&a, s0 + at, m, buf);
                for (i = 0; i < m; i++) { cur += buf[i] + md; buf[i] = cur; }
                bad = store_r(out->data, at + 1, buf, m, w, bias, maxv);
            }
        }
        break;
    }
    default:
        rc = cairn_err__set(CAIRN_CORRUPT, "segment: encoding %d", h->enc);
    }
    if (!rc && bad) rc = cairn_err__set(CAIRN_CORRUPT, "segment: %s value out of the column type's range", enc_name(h->enc));
    if (!rc && h->valid) {
        /* nulls read as 0 */
        uint8_t *d = (uint8_t *)out->data;
        for (i = 0; i < cnt; i++)
            if (!vbit(h->valid, s0 + i)) memset(d + i * w, 0, w);
    }
    return rc;
}

/* string/bytes decode of rows [s0, s0 + cnt) (see decode_fixed) */
static int decode_var(const hdr *h, size_t s0, size_t cnt, cairn_colvec *out) {
    size_t n = h->n, i, c = 0;
    const uint8_t *p = h->pay, *end = h->end;
    slist l;
    packed a;
    uint64_t *ends = NULL, *idx = NULL, total = 0;
    int rc, short16 = 0;
    uint8_t *d, *pad = NULL;
    out->offsets = (uint64_t *)malloc((cnt + 1) * sizeof *out->offsets);
    if (!out->offsets) return cairn_err__set(CAIRN_NOMEM, "segment decode: out of memory");
    out->offsets[0] = 0;
    switch (h->enc) {
    case CAIRN_SEG_PLAIN: c = n; break;
    case CAIRN_SEG_CONSTANT: c = 1; break;
    default:
        if (end - p < 4) goto size;
        c = cairn_get32(p);
        p += 4;
        if (c == 0 || c > n) goto size;
    }
    if ((rc = list_open(&p, end, h->lim, c, &l, "strings")) != 0) return rc;
    if (h->enc == CAIRN_SEG_PLAIN) {
        /* only the ends of the rows asked for (and the one before them) */
        size_t first = s0 ? s0 - 1 : 0, m = s0 + cnt - first, k0 = s0 ? 1 : 0;
        uint64_t b0, prev;
        if (p != end) goto size;
        if (!(ends = (uint64_t *)malloc(m * sizeof *ends))) return cairn_err__set(CAIRN_NOMEM, "segment decode: out of memory");
        pk_unpack(&l.ends, first, m, ends);
        b0 = prev = s0 ? ends[0] : 0;
        for (i = 0; i < cnt; i++) {
            uint64_t e2 = ends[i + k0];
            if (e2 < prev || e2 - prev > CAIRN_VALUE_MAX || e2 > l.total) {
                rc = cairn_err__set(CAIRN_CORRUPT, "segment: strings: bad string end offset %llu at %zu",
                                    (unsigned long long)e2, s0 + i);
                goto done;
            }
            if (!vbit(h->valid, s0 + i) && e2 != prev) {
                rc = cairn_err__set(CAIRN_CORRUPT, "segment: null string %zu is not empty", s0 + i);
                goto done;
            }
            out->offsets[i + 1] = e2 - b0;
            prev = e2;
        }
        total = prev - b0;
        out->data = xmalloc((size_t)total);
        if (!out->data) { rc = cairn_err__set(CAIRN_NOMEM, "segment decode: out of memory"); goto done; }
        if (total) memcpy(out->data, l.bytes + b0, (size_t)total);
        out->data_len = (size_t)total;
        goto done;
    }
    /* CONSTANT, RLE, DICT: an entry per row */
    if (!(ends = (uint64_t *)malloc(c * sizeof *ends))) return cairn_err__set(CAIRN_NOMEM, "segment decode: out of memory");
    if ((rc = list_check(&l, ends, "strings")) != 0) goto done;
    idx = (uint64_t *)malloc(cnt * sizeof *idx);
    if (!idx) { rc = cairn_err__set(CAIRN_NOMEM, "segment decode: out of memory"); goto done; }
    if (h->enc == CAIRN_SEG_CONSTANT) {
        if (p != end) goto size;
        memset(idx, 0, cnt * sizeof *idx);
    } else {
        if ((rc = pk_open(&p, end, h->lim, h->enc == CAIRN_SEG_RLE ? c : n, &a,
                          h->enc == CAIRN_SEG_RLE ? "run ends" : "codes")) != 0) goto done;
        if (p != end) goto size;
        if (h->enc == CAIRN_SEG_DICT) {
            pk_unpack(&a, s0, cnt, idx);
            for (i = 0; i < cnt; i++)
                if (idx[i] >= c) { rc = cairn_err__set(CAIRN_CORRUPT, "segment: dictionary code out of range"); goto done; }
        } else {
            size_t k = 0, r, stop = s0 + cnt;
            uint64_t prev = s0, e2;
            if (s0 > 0 && (rc = run_of(&a, c, n, s0, &k)) != 0) goto done;
            for (; prev < stop; k++) {
                e2 = k < c ? pk_get(&a, k) : 0;
                if (k >= c || e2 <= prev || e2 > n || (k == c - 1 && e2 != n)) {
                    rc = cairn_err__set(CAIRN_CORRUPT, "segment: bad run end %llu", (unsigned long long)e2);
                    goto done;
                }
                for (r = (size_t)prev; r < e2 && r < stop; r++) idx[r - s0] = k;
                prev = e2;
            }
            if (s0 == 0 && cnt == n && k != c) {
                rc = cairn_err__set(CAIRN_CORRUPT, "segment: runs beyond n");
                goto done;
            }
        }
    }
    /* ends[] becomes the entries' start offsets (c + 1 of them), so a row's length is a
     * difference of neighbours, without branches */
    {
        uint64_t *st = (uint64_t *)realloc(ends, (c + 1) * sizeof *st);
        if (!st) { rc = cairn_err__set(CAIRN_NOMEM, "segment decode: out of memory"); goto done; }
        ends = st;
        memmove(st + 1, st, c * sizeof *st);
        st[0] = 0;
        if (!h->valid) {
            for (i = 0; i < cnt; i++) {
                total += st[idx[i] + 1] - st[idx[i]];
                out->offsets[i + 1] = total;
            }
        } else {
            for (i = 0; i < cnt; i++) {
                total += (st[idx[i] + 1] - st[idx[i]]) & (0 - (uint64_t)vbit(h->valid, s0 + i));
                out->offsets[i + 1] = total;
            }
        }
    }
    for (i = 0, short16 = 1; i < c && short16; i++) short16 = ends[i + 1] - ends[i] <= 16;
    if (short16 && !(pad = (uint8_t *)calloc((size_t)l.total + 16, 1))) {
        rc = cairn_err__set(CAIRN_NOMEM, "segment decode: out of memory");
        goto done;
    }
    if (pad && l.total) memcpy(pad, l.bytes, (size_t)l.total);
    if (total > (uint64_t)SIZE_MAX - 17 || !(out->data = xmalloc((size_t)total + (short16 ? 16 : 0)))) {
        rc = cairn_err__set(CAIRN_NOMEM, "segment decode: out of memory (%llu bytes)", (unsigned long long)total);
        goto done;
    }
    d = (uint8_t *)out->data;
    if (short16) {
        /* every entry fits 16 bytes: copy 16 bytes a row from a padded copy of the entries into
         * an output with 16 bytes of slack; each row overwrites the previous row's excess */
        for (i = 0; i < cnt; i++) memcpy(d + out->offsets[i], pad + ends[idx[i]], 16);
    } else {
        for (i = 0; i < cnt; i++) {
            uint64_t len = out->offsets[i + 1] - out->offsets[i];
            if (len) memcpy(d + out->offsets[i], l.bytes + ends[idx[i]], (size_t)len);
        }
    }
    out->data_len = (size_t)total;
done:
    free(ends);
    free(idx);
    free(pad);
    return rc;
size:
    free(ends);
    free(idx);
    free(pad);
    return cairn_err__set(CAIRN_CORRUPT, "segment: %s payload of %zu bytes does not match its contents",
                          enc_name(h->enc), (size_t)(h->end - h->pay));
}

void cairn_seg__free_vec(cairn_colvec *v) {
    if (!v) return;
    free(v->data);
    free(v->offsets);
    free(v->validity);
    v->data = NULL;
    v->offsets = NULL;
    v->validity = NULL;
    v->n = 0;
    v->data_len = 0;
}

void cairn_seg__free_buf(cairn_seg_buf *b) {
    if (!b) return;
    free(b->bytes);
    b->bytes = NULL;
    b->len = 0;
}

/* Rows [s0, s0 + cnt) of a parsed segment into *out (validity: those bits, or NULL when the
 * segment has no nulls). */
static int decode_rows(const hdr *h, size_t s0, size_t cnt, cairn_colvec *out) {
    int rc;
    out->type = h->type;
    out->fixed_len = h->kind == K_FIXED ? h->fixed_len : 0;
    out->n = cnt;
    rc = h->kind == K_VAR ? decode_var(h, s0, cnt, out) : decode_fixed(h, s0, cnt, out);
    if (!rc && h->valid) {
        size_t vb = (cnt + 7) / 8, i;
        out->validity = (uint8_t *)calloc(vb, 1);
        if (!out->validity) rc = cairn_err__set(CAIRN_NOMEM, "segment decode: out of memory");
        else if ((s0 & 7) == 0) {
            memcpy(out->validity, h->valid + s0 / 8, vb);
            if (cnt & 7) out->validity[vb - 1] &= (uint8_t)((1u << (cnt & 7)) - 1);
        } else {
            for (i = 0; i < cnt; i++)
                out->validity[i >> 3] |= (uint8_t)(vbit(h->valid, s0 + i) << (i & 7));
        }
    }
    if (rc) {
        cairn_seg__free_vec(out);
        out->n = 0;
    }
    return rc;
}

int cairn_seg__decode(const void *bytes, size_t len, int type, uint32_t fixed_len, cairn_colvec *out) {
    hdr h;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "segment decode: NULL output");
    memset(out, 0, sizeof *out);
    if ((rc = parse(bytes, len, 1, &h)) != 0 || (rc = check_valid(&h)) != 0 ||
        (rc = check_type(&h, type, fixed_len)) != 0)
        return rc;
    return decode_rows(&h, 0, h.n, out);
}

int cairn_seg__decode_range(const void *bytes, size_t len, int type, uint32_t fixed_len, size_t start, size_t count,
                            cairn_colvec *out) {
    hdr h;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "segment decode: NULL output");
    memset(out, 0, sizeof *out);
    if ((rc = parse(bytes, len, 0, &h)) != 0 || (rc = check_type(&h, type, fixed_len)) != 0) return rc;
    if (count == 0 || start >= h.n || count > h.n - start)
        return cairn_err__set(CAIRN_RANGE, "segment decode: rows %zu + %zu of %zu", start, count, h.n);
    return decode_rows(&h, start, count, out);
}

/* ---- point read ------------------------------------------------------------------------- */

static void to_value(int type, uint64_t r, cairn_value *out) {
    int k = kind_of(type);
    out->is_null = 0;
    if (k == K_SINT) out->v.i = (int64_t)r;
    else if (k == K_UINT) out->v.u = r;
    else if (k == K_BOOL) out->v.b = (int)r;
    else if (type == CAIRN_TYPE_F32) {
        float f;
        uint32_t u = (uint32_t)r;
        memcpy(&f, &u, 4);
        out->v.f = f;
    } else {
        memcpy(&out->v.f, &r, 8);
    }
}

int cairn_seg__get(const void *bytes, size_t len, int type, uint32_t fixed_len, size_t index, cairn_value *out) {
    hdr h;
    int rc;
    const uint8_t *p, *end;
    size_t c = 0, entry = 0;
    if (!out) return cairn_err__set(CAIRN_INVALID, "segment get: NULL output");
    memset(out, 0, sizeof *out);
    if ((rc = parse(bytes, len, 0, &h)) != 0 || (rc = check_type(&h, type, fixed_len)) != 0) return rc;
    if (index >= h.n) return cairn_err__set(CAIRN_RANGE, "segment get: index %zu of %zu values", index, h.n);
    if (h.valid && !vbit(h.valid, index)) {
        out->is_null = 1;
        return 0;
    }
    p = h.pay;
    end = h.end;
    /* the entry (of the values at p) that holds row `index` */
    if (h.enc == CAIRN_SEG_RLE || h.enc == CAIRN_SEG_DICT) {
        const uint8_t *q;
        packed a;
        if (end - p < 4) goto size;
        c = cairn_get32(p);
        p += 4;
        if (c == 0 || c > h.n) goto size;
        q = p;
        if (h.kind == K_VAR) {
            slist l;
            if ((rc = list_open(&q, end, h.lim, c, &l, "strings")) != 0) return rc;
        } else {
            if ((uint64_t)(end - q) < (uint64_t)c * h.w) goto size;
            q += c * h.w;
        }
        if ((rc = pk_open(&q, end, h.lim, h.enc == CAIRN_SEG_RLE ? c : h.n, &a, "codes")) != 0) return rc;
        if (q != end) goto size;
        if (h.enc == CAIRN_SEG_DICT) {
            uint64_t code = pk_get(&a, index);
            if (code >= c) return cairn_err__set(CAIRN_CORRUPT, "segment: dictionary code out of range");
            entry = (size_t)code;
        } else {
            /* binary search for the first run whose end > index */
            size_t lo = 0, hi = c;
            if (pk_get(&a, c - 1) != h.n) return cairn_err__set(CAIRN_CORRUPT, "segment: bad last run end");
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (pk_get(&a, mid) > index) hi = mid;
                else lo = mid + 1;
            }
            entry = lo;
            if (entry >= c || (entry > 0 && pk_get(&a, entry - 1) >= pk_get(&a, entry)))
                return cairn_err__set(CAIRN_CORRUPT, "segment: bad run ends");
        }
    } else if (h.enc == CAIRN_SEG_PLAIN) {
        entry = index;
        c = h.n;
    } else if (h.enc == CAIRN_SEG_CONSTANT) {
        entry = 0;
        c = 1;
    }
    if (h.kind == K_VAR) {
        slist l;
        uint64_t off, l2;
        if ((rc = list_open(&p, end, h.lim, c, &l, "strings")) != 0) return rc;
        list_item(&l, entry, &off, &l2);
        if (off > l.total || l2 > l.total - off || l2 > CAIRN_VALUE_MAX)
            return cairn_err__set(CAIRN_CORRUPT, "segment: bad string end offset");
        out->v.s.bytes = l.bytes + off;
        out->v.s.len = (size_t)l2;
        return 0;
    }
    if (h.kind == K_FIXED) {
        if ((uint64_t)(end - p) < ((uint64_t)entry + 1) * h.w) goto size;
        out->v.s.bytes = p + entry * h.w;
        out->v.s.len = h.w;
        return 0;
    }
    {
        uint64_t r, bias, maxv;
        type_range(h.type, &bias, &maxv);
        switch (h.enc) {
        case CAIRN_SEG_PLAIN: case CAIRN_SEG_CONSTANT: case CAIRN_SEG_RLE: case CAIRN_SEG_DICT:
            if ((uint64_t)(end - p) < ((uint64_t)entry + 1) * h.w) goto size;
            r = get_v(p + entry * h.w, h.w, h.kind);
            break;
        case CAIRN_SEG_BITPACK:
            if ((uint64_t)(end - p) != (h.n + 7) / 8) goto size;
            r = (p[index >> 3] >> (index & 7)) & 1;
            break;
        case CAIRN_SEG_FOR:
        case CAIRN_SEG_DELTA: {
            packed a;
            const uint8_t *q = p + (h.enc == CAIRN_SEG_FOR ? 8 : 16);
            uint64_t base, md = 0;
            size_t cnt = h.enc == CAIRN_SEG_FOR ? h.n : h.n - 1, k;
            if (end - p < (h.enc == CAIRN_SEG_FOR ? 8 : 16)) goto size;
            base = cairn_get64(p);
            if (h.enc == CAIRN_SEG_DELTA) md = cairn_get64(p + 8);
            if ((rc = pk_open(&q, end, h.lim, cnt, &a, "packed values")) != 0) return rc;
            if (q != end) goto size;
            if (h.enc == CAIRN_SEG_FOR) {
                r = base + pk_get(&a, index);
            } else {
                /* the sum of the first `index` packed deltas, in blocks */
                uint64_t buf[BLOCK], s = 0;
                size_t at;
                r = base;
                for (at = 0; a.w && at < index; at += BLOCK) { /* width 0 (a fixed step): O(1) */
                    size_t m = index - at < BLOCK ? index - at : BLOCK;
                    pk_unpack(&a, at, m, buf);
                    for (k = 0; k < m; k++) s += buf[k];
                }
                r = base + s + md * (uint64_t)index;
            }
            break;
        }
        default:
            return cairn_err__set(CAIRN_CORRUPT, "segment: encoding %d", h.enc);
        }
        if (r + bias > maxv) return cairn_err__set(CAIRN_CORRUPT, "segment: value out of the column type's range");
        to_value(h.type, r, out);
        return 0;
    }
size:
    return cairn_err__set(CAIRN_CORRUPT, "segment: %s payload of %zu bytes does not match its contents",
                          enc_name(h.enc), (size_t)(h.end - h.pay));
}

int cairn_seg__check(const void *bytes, size_t len, int type, uint32_t fixed_len) {
    hdr h;
    int rc;
    if ((rc = parse(bytes, len, 1, &h)) != 0 || (rc = check_valid(&h)) != 0) return rc;
    return check_type(&h, type, fixed_len);
}
