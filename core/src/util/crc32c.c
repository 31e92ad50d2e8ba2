/* crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
 * Hardware path: the SSE4.2 crc32 instruction, chosen at run time with cpuid. Portable path:
 * slicing-by-8 tables built once. Both give the standard check value 0xE3069283 for
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
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = crc;
    while (n && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        n--;
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
