/* crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
 * Hardware path: the SSE4.2 crc32 instruction, chosen at run time with cpuid. The instruction
 * has a latency of 3 cycles but a throughput of 1 per cycle, so long buffers are cut into
 * chunks of three lanes computed in parallel and recombined: the CRC register update is linear,
 * crc(r, A||B) = shift_|B|(crc(r, A)) ^ crc(0, B), where shift_n multiplies by x^(8n) mod P; for
 * the fixed lane length that is a 4x256 table built at start-up by running the instruction over
 * zeros. Portable path: slicing-by-8 tables built once. Both give the standard check value 0xE3069283 for
 * "123456789" (tests/c/test_util.c verifies the published vectors on both paths). */
#include "util.h"

#include <pthread.h>

#define POLY 0x82F63B78u

static uint32_t g_table[8][256];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_hw;       /* CPU has SSE4.2 */
static int g_force_sw; /* tests: use the portable path */

#if defined(__x86_64__) && defined(__GNUC__)
#define CAIRN_CRC_HW 1
#define LANE 256 /* bytes per lane; chunks of 3 * LANE take the parallel path */
static uint32_t g_shift[4][256]; /* multiply a raw register by x^(8*LANE) mod P */

__attribute__((target("sse4.2"))) static uint64_t crc_hw_word(uint64_t c, uint64_t w) {
    return __builtin_ia32_crc32di(c, w);
}

static uint32_t shift_lane(uint32_t v) {
    return g_shift[0][v & 0xff] ^ g_shift[1][(v >> 8) & 0xff] ^ g_shift[2][(v >> 16) & 0xff] ^
           g_shift[3][v >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = crc;
    while (n && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        n--;
    }
    while (n >= 3 * LANE) {
        uint64_t c1 = 0, c2 = 0, w0, w1, w2;
        size_t i;
        for (i = 0; i < LANE; i += 8) {
            memcpy(&w0, p + i, 8);
            memcpy(&w1, p + LANE + i, 8);
            memcpy(&w2, p + 2 * LANE + i, 8);
            c = __builtin_ia32_crc32di(c, w0);
            c1 = __builtin_ia32_crc32di(c1, w1);
            c2 = __builtin_ia32_crc32di(c2, w2);
        }
        c = shift_lane(shift_lane((uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
        p += 3 * LANE;
        n -= 3 * LANE;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    while (n--) c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return (uint32_t)c;
}
#endif

static void init_tables(void) {
    uint32_t i, j, c;
    for (i = 0; i < 256; i++) {
        c = i;
        for (j = 0; j < 8; j++) c = (c >> 1) ^ ((c & 1) ? POLY : 0);
        g_table[0][i] = c;
    }
    for (i = 0; i < 256; i++)
        for (j = 1; j < 8; j++) g_table[j][i] = (g_table[j - 1][i] >> 8) ^ g_table[0][g_table[j - 1][i] & 0xff];
#ifdef CAIRN_CRC_HW
    __builtin_cpu_init();
    g_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    if (g_hw) {
        /* shift_LANE is linear: its value on each single bit is the raw register after LANE zero
         * bytes starting from that bit; a byte's table entry XORs its bits' images. */
        static const uint8_t zeros[LANE];
        uint32_t img[32];
        int k, b, bit;
        for (bit = 0; bit < 32; bit++) {
            uint64_t r = (uint32_t)1u << bit;
            size_t z;
            for (z = 0; z < LANE; z += 8) {
                uint64_t w;
                memcpy(&w, zeros + z, 8);
                r = crc_hw_word(r, w);
            }
            img[bit] = (uint32_t)r;
        }
        for (k = 0; k < 4; k++)
            for (b = 0; b < 256; b++) {
                uint32_t v = 0;
                for (bit = 0; bit < 8; bit++)
                    if (b & (1 << bit)) v ^= img[8 * k + bit];
                g_shift[k][b] = v;
            }
    }
#endif
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t n) {
    while (n && ((uintptr_t)p & 7)) {
        crc = (crc >> 8) ^ g_table[0][(crc ^ *p++) & 0xff];
        n--;
    }
    while (n >= 8) {
        uint32_t lo = crc ^ cairn_get32(p), hi = cairn_get32(p + 4);
        crc = g_table[7][lo & 0xff] ^ g_table[6][(lo >> 8) & 0xff] ^ g_table[5][(lo >> 16) & 0xff] ^
              g_table[4][lo >> 24] ^ g_table[3][hi & 0xff] ^ g_table[2][(hi >> 8) & 0xff] ^
              g_table[1][(hi >> 16) & 0xff] ^ g_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ g_table[0][(crc ^ *p++) & 0xff];
    return crc;
}

uint32_t cairn_crc32c__update(uint32_t crc, const void *buf, size_t len) {
    const uint8_t *p = (const uint8_t *)buf;
    pthread_once(&g_once, init_tables);
    crc = ~crc;
#ifdef CAIRN_CRC_HW
    if (g_hw && !g_force_sw) return ~crc_hw(crc, p, len);
#endif
    return ~crc_sw(crc, p, len);
}

int cairn_crc32c__hw(void) {
    pthread_once(&g_once, init_tables);
    return g_hw && !g_force_sw;
}

void cairn_crc32c__force_sw(int on) { g_force_sw = on; }
