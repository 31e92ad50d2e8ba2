/*
 * seg_agg.c - segment primitives for aggregation (seg_agg.h): bit-packed codes read 8 at a time
 * with the width a compile-time constant (one copy of the loop per width 1..32), and the float
 * sum of a dictionary-encoded f64 segment gathered straight into the 8 partial sums.
 */
#include "table/seg_agg.h"

#include <string.h>

int cairn_seg__agg_simd = 1;

#if defined(__GNUC__)
#define SA_INLINE static inline __attribute__((always_inline))
#else
#define SA_INLINE static inline
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SA_LE 1
#else
#define SA_LE 0
#endif

/* 8 bytes at p as a little-endian u64 */
SA_INLINE uint64_t ld64(const uint8_t *p) {
#if SA_LE
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
#else
    uint64_t x = 0;
    int i;
    for (i = 7; i >= 0; i--) x = (x << 8) | p[i];
    return x;
#endif
}

SA_INLINE double ldf(const uint8_t *p) {
    uint64_t b = ld64(p);
    double d;
    memcpy(&d, &b, 8);
    return d;
}

/* code k of width w (1..32), byte by byte (the caller checked that its bytes exist) */
static uint32_t code_at(const uint8_t *p, unsigned w, size_t k) {
    uint64_t r = 0;
    size_t bit = k * w;
    unsigned got = 0;
    while (got < w) {
        unsigned take = 8 - (unsigned)(bit & 7);
        uint64_t byte = (uint64_t)(p[bit >> 3] >> (bit & 7));
        if (take > w - got) take = w - got;
        r |= (byte & ((1ull << take) - 1)) << got;
        got += take;
        bit += take;
    }
    return (uint32_t)r;
}

/* runs of 8 codes whose every 8-byte load stays inside plen bytes, counted from run 0 */
static size_t fast_runs(size_t plen, unsigned w) {
    size_t need = ((7u * w) >> 3) + 8; /* bytes the last load of run 0 needs */
    if (plen < need) return 0;
    return (plen - need) / w + 1;
}

/* code r (0..7) of the run of 8 starting at byte q */
#define SA_CODE(q, w, r, mask) ((uint32_t)((ld64((q) + (((r) * (w)) >> 3)) >> (((r) * (w)) & 7)) & (mask)))

/* runs [j0, j1) of 8 codes of width w into out; the largest code */
SA_INLINE uint32_t codes_runs(const uint8_t *restrict p, unsigned w, size_t j0, size_t j1, uint32_t *restrict out) {
    const uint64_t mask = (1ull << w) - 1;
    uint32_t mx = 0;
    size_t j;
    for (j = j0; j < j1; j++, out += 8) {
        const uint8_t *q = p + j * w;
        uint32_t c0 = SA_CODE(q, w, 0, mask), c1 = SA_CODE(q, w, 1, mask), c2 = SA_CODE(q, w, 2, mask),
                 c3 = SA_CODE(q, w, 3, mask), c4 = SA_CODE(q, w, 4, mask), c5 = SA_CODE(q, w, 5, mask),
                 c6 = SA_CODE(q, w, 6, mask), c7 = SA_CODE(q, w, 7, mask);
        uint32_t m01 = c0 > c1 ? c0 : c1, m23 = c2 > c3 ? c2 : c3, m45 = c4 > c5 ? c4 : c5, m67 = c6 > c7 ? c6 : c7;
        uint32_t m03 = m01 > m23 ? m01 : m23, m47 = m45 > m67 ? m45 : m67, m = m03 > m47 ? m03 : m47;
        out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3, out[4] = c4, out[5] = c5, out[6] = c6, out[7] = c7;
        mx = m > mx ? m : mx;
    }
    return mx;
}

/* runs [j0, j1) of 8 codes gathered from dict into the partial sums a[0..8) (code 8j + r into
 * a[r]); 0, or -1 at the first run with a code >= d (nothing of that run added) */
SA_INLINE int fsum_runs(const uint8_t *restrict p, unsigned w, size_t j0, size_t j1, const uint8_t *restrict dict,
                        uint32_t d, double *restrict a) {
    const uint64_t mask = (1ull << w) - 1;
    double a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6], a7 = a[7];
    int rc = 0;
    size_t j;
    for (j = j0; j < j1; j++) {
        const uint8_t *q = p + j * w;
        uint32_t c0 = SA_CODE(q, w, 0, mask), c1 = SA_CODE(q, w, 1, mask), c2 = SA_CODE(q, w, 2, mask),
                 c3 = SA_CODE(q, w, 3, mask), c4 = SA_CODE(q, w, 4, mask), c5 = SA_CODE(q, w, 5, mask),
                 c6 = SA_CODE(q, w, 6, mask), c7 = SA_CODE(q, w, 7, mask);
        uint32_t m01 = c0 > c1 ? c0 : c1, m23 = c2 > c3 ? c2 : c3, m45 = c4 > c5 ? c4 : c5, m67 = c6 > c7 ? c6 : c7;
        uint32_t m03 = m01 > m23 ? m01 : m23, m47 = m45 > m67 ? m45 : m67;
        if ((m03 > m47 ? m03 : m47) >= d) {
            rc = -1;
            break;
        }
        a0 += ldf(dict + (size_t)c0 * 8), a1 += ldf(dict + (size_t)c1 * 8);
        a2 += ldf(dict + (size_t)c2 * 8), a3 += ldf(dict + (size_t)c3 * 8);
        a4 += ldf(dict + (size_t)c4 * 8), a5 += ldf(dict + (size_t)c5 * 8);
        a6 += ldf(dict + (size_t)c6 * 8), a7 += ldf(dict + (size_t)c7 * 8);
    }
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3, a[4] = a4, a[5] = a5, a[6] = a6, a[7] = a7;
    return rc;
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(CAIRN_NO_SIMD)
#define SA_AVX2 1
#include <immintrin.h>

/* AVX2: 8 codes of width w (1..25) per step. The run of 8 starts on a byte; its codes 0..3 lie in
 * the 16 bytes at q, 4..7 in the 16 bytes at q + (4w >> 3); a byte shuffle puts the 4 bytes holding
 * each code in its 32-bit lane, a per-lane shift and a mask leave the code. Codes are compared
 * with d - 1 before the two 4-wide gathers, which add into two vectors of 4 partial sums: lane r of
 * the first is partial sum r, of the second 4 + r (the scalar order exactly: IEEE additions, no
 * contraction). Runs [j0, j1) whose loads stay inside the bytes; -1 at the first run with a code
 * >= d (nothing of that run added). */
/* the byte shuffle and per-lane shifts that leave code r of a run of 8 (width w 1..25) in lane r */
static void avx2_consts(unsigned w, uint8_t shuf[32], uint32_t sh[8]) {
    unsigned r, k, b4 = (4 * w) >> 3;
    for (r = 0; r < 8; r++) {
        unsigned base = r < 4 ? 0 : b4, byte = ((r * w) >> 3) - base;
        for (k = 0; k < 4; k++) shuf[(r < 4 ? 0 : 16) + (r & 3) * 4 + k] = (uint8_t)(byte + k);
        sh[r] = (r * w) & 7;
    }
}

/* runs [j0, j1) of 8 codes (width 1..25) into out, their largest code (AVX2, as fsum_runs_avx2) */
__attribute__((target("avx2"))) static uint32_t codes_runs_avx2(const uint8_t *p, unsigned w, size_t j0, size_t j1,
                                                                 uint32_t *out) {
    uint8_t shuf[32];
    uint32_t sh[8], m[8], mx = 0;
    unsigned r, b4 = (4 * w) >> 3;
    __m256i vshuf, vsh, vmask = _mm256_set1_epi32((int)((1u << w) - 1)), vmax = _mm256_setzero_si256();
    size_t j;
    avx2_consts(w, shuf, sh);
    vshuf = _mm256_loadu_si256((const __m256i *)(const void *)shuf);
    vsh = _mm256_loadu_si256((const __m256i *)(const void *)sh);
    for (j = j0; j < j1; j++, out += 8) {
        const uint8_t *q = p + j * w;
        __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(q + b4));
        __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
        v = _mm256_and_si256(_mm256_srlv_epi32(_mm256_shuffle_epi8(v, vshuf), vsh), vmask);
        vmax = _mm256_max_epu32(vmax, v);
        _mm256_storeu_si256((__m256i *)(void *)out, v);
    }
    _mm256_storeu_si256((__m256i *)(void *)m, vmax);
    for (r = 0; r < 8; r++) mx = m[r] > mx ? m[r] : mx;
    return mx;
}

__attribute__((target("avx2"))) static int fsum_runs_avx2(const uint8_t *p, unsigned w, size_t j0, size_t j1,
                                                           const uint8_t *dict, uint32_t d, double *a) {
    uint8_t shuf[32];
    uint32_t sh[8];
    unsigned b4 = (4 * w) >> 3;
    __m256i vshuf, vsh, vmask = _mm256_set1_epi32((int)((1u << w) - 1)), vlim = _mm256_set1_epi32((int)(d - 1));
    double a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6], a7 = a[7];
    uint32_t c[8];
    size_t j;
    avx2_consts(w, shuf, sh);
    vshuf = _mm256_loadu_si256((const __m256i *)(const void *)shuf);
    vsh = _mm256_loadu_si256((const __m256i *)(const void *)sh);
    for (j = j0; j < j1; j++) {
        const uint8_t *q = p + j * w;
        __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(q + b4));
        __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
        v = _mm256_and_si256(_mm256_srlv_epi32(_mm256_shuffle_epi8(v, vshuf), vsh), vmask);
        if (_mm256_movemask_epi8(_mm256_cmpgt_epi32(v, vlim))) /* codes < 2^25: signed compare is right */
            break;
        _mm256_storeu_si256((__m256i *)(void *)c, v);
        a0 += ldf(dict + (size_t)c[0] * 8), a1 += ldf(dict + (size_t)c[1] * 8);
        a2 += ldf(dict + (size_t)c[2] * 8), a3 += ldf(dict + (size_t)c[3] * 8);
        a4 += ldf(dict + (size_t)c[4] * 8), a5 += ldf(dict + (size_t)c[5] * 8);
        a6 += ldf(dict + (size_t)c[6] * 8), a7 += ldf(dict + (size_t)c[7] * 8);
    }
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3, a[4] = a4, a[5] = a5, a[6] = a6, a[7] = a7;
    return j < j1 ? -1 : 0;
}

static int have_avx2(void) {
    static int known = -1;
    if (!cairn_seg__agg_simd) return 0;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return known;
}
#else
#define SA_AVX2 0
#endif

#define SA_W4(F, b) F(b + 1) F(b + 2) F(b + 3) F(b + 4)
#define SA_W32(F) SA_W4(F, 0) SA_W4(F, 4) SA_W4(F, 8) SA_W4(F, 12) SA_W4(F, 16) SA_W4(F, 20) SA_W4(F, 24) SA_W4(F, 28)

int cairn_seg__codes(const uint8_t *p, size_t plen, unsigned w, size_t start, size_t n, uint64_t d, uint32_t *out) {
    size_t j0 = start / 8, jn = (start + n) / 8, jf, i, n0 = n;
    uint32_t mx = 0;
    if (w > 32 || (start & 7) || ((start + n) * w + 7) / 8 > plen) return -1;
    if (!w) {
        if (n && d == 0) return -1;
        memset(out, 0, n * sizeof *out);
        return 0;
    }
    jf = fast_runs(plen, w);
    if (jf > jn) jf = jn;
#if SA_AVX2 && SA_LE
    if (w <= 25 && jf > j0 && have_avx2() && plen >= (size_t)((4 * w) >> 3) + 16) {
        size_t js = (plen - ((4 * w) >> 3) - 16) / w + 1; /* runs whose two 16-byte loads stay inside */
        if (js > jn) js = jn;
        if (js > j0) {
            mx = codes_runs_avx2(p, w, j0, js, out);
            out += (js - j0) * 8;
            n -= (js - j0) * 8;
            start += (js - j0) * 8;
            j0 = js;
        }
    }
#endif
    if (jf > j0) {
        uint32_t m2 = 0;
        switch (w) {
#define SA_CASE(W)                                                                                                    \
    case W: m2 = codes_runs(p, W, j0, jf, out); break;
            SA_W32(SA_CASE)
#undef SA_CASE
        default: return -1;
        }
        mx = m2 > mx ? m2 : mx;
        i = (jf - j0) * 8;
    } else {
        i = 0;
    }
    for (; i < n; i++) {
        out[i] = code_at(p, w, start + i);
        mx = out[i] > mx ? out[i] : mx;
    }
    return n0 && mx >= d ? -1 : 0;
}

int cairn_seg__dict_fsum(const uint8_t *p, size_t plen, unsigned w, size_t n, const uint8_t *dict, uint32_t d,
                         double s[8], uint64_t k0) {
    double a[8];
    size_t jf, i, r;
    int rc = 0;
    if (w > 32 || (n * (size_t)w + 7) / 8 > plen || (n && !d)) return -1;
    for (r = 0; r < 8; r++) a[r] = s[(k0 + r) & 7];
    if (!w) {
        double v = ldf(dict);
        for (i = 0; i < n; i++) a[i & 7] += v;
    } else {
        size_t js = 0;
#if SA_AVX2 && SA_LE
        if (w <= 25 && have_avx2() && plen >= (size_t)((4 * w) >> 3) + 16 && d <= (1u << 25)) {
            js = (plen - ((4 * w) >> 3) - 16) / w + 1; /* runs whose two 16-byte loads stay inside */
            if (js > n / 8) js = n / 8;
            rc = fsum_runs_avx2(p, w, 0, js, dict, d, a);
        }
#endif
        jf = fast_runs(plen, w);
        if (jf > n / 8) jf = n / 8;
        if (jf < js) jf = js;
        if (!rc) switch (w) {
#define SA_CASE(W)                                                                                                    \
    case W: rc = fsum_runs(p, W, js, jf, dict, d, a); break;
            SA_W32(SA_CASE)
#undef SA_CASE
        default: rc = -1; break;
        }
        for (i = jf * 8; !rc && i < n; i++) {
            uint32_t c = code_at(p, w, i);
            if (c >= d) rc = -1;
            else a[i & 7] += ldf(dict + (size_t)c * 8);
        }
    }
    for (r = 0; r < 8; r++) s[(k0 + r) & 7] = a[r];
    return rc;
}
