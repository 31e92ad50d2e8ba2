/*
 * kv_loop.c - the C side of the .NET call-cost benchmark: the same put / get loop as
 * Program.cs (keys "key:%010d", 100-byte values, CAIRN_SYNC_NONE, gets in a shuffled order through
 * cairn_kv_get_into), so the .NET rows can be given as a ratio to C. Prints "put_ops_s get_ops_s".
 *
 *   kv_loop <n> <scratch-dir> [repeat]
 */
#include "cairn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n, i;
    int r, repeat;
    char (*keys)[24];
    long *order;
    unsigned char val[100], buf[256];
    double best_put = 1e30, best_get = 1e30;
    unsigned seed = 7;

    if (argc < 3) {
        fprintf(stderr, "usage: kv_loop <n> <scratch-dir> [repeat]\n");
        return 2;
    }
    n = atol(argv[1]);
    repeat = argc > 3 ? atoi(argv[3]) : 3;
    keys = malloc((size_t)n * sizeof *keys);
    order = malloc((size_t)n * sizeof *order);
    if (!keys || !order || n <= 0 || n > 9999999999L || repeat <= 0)
        return 2;
    for (i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "key:%010ld", i);
        order[i] = i;
    }
    for (i = n - 1; i > 0; i--) { /* a fixed shuffle */
        long j, t;
        seed = seed * 1103515245u + 12345u;
        j = (long)(seed % (unsigned)(i + 1));
        t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (i = 0; i < 100; i++)
        val[i] = (unsigned char)(i * 37);

    for (r = 0; r < repeat; r++) {
        char dir[4096];
        cairn_kv *kv;
        cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
        double t0, t;
        long total = 0;
        o.sync = CAIRN_SYNC_NONE;
        snprintf(dir, sizeof dir, "%s/kv-c-%d", argv[2], r);
        if (cairn_kv_open(&kv, dir, &o) != 0) {
            fprintf(stderr, "kv_loop: open %s: %s\n", dir, cairn_errmsg());
            return 1;
        }
        t0 = now_s();
        for (i = 0; i < n; i++)
            if (cairn_kv_put(kv, keys[i], 14, val, sizeof val, CAIRN_KIND_BYTES) != 0) {
                fprintf(stderr, "kv_loop: put: %s\n", cairn_errmsg());
                return 1;
            }
        t = now_s() - t0;
        if (t < best_put)
            best_put = t;
        t0 = now_s();
        for (i = 0; i < n; i++) {
            size_t vlen;
            int kind;
            if (cairn_kv_get_into(kv, keys[order[i]], 14, buf, sizeof buf, &vlen, &kind) != 0) {
                fprintf(stderr, "kv_loop: get: %s\n", cairn_errmsg());
                return 1;
            }
            total += (long)vlen;
        }
        t = now_s() - t0;
        if (t < best_get)
            best_get = t;
        cairn_kv_close(kv);
        if (total != 100 * n) {
            fprintf(stderr, "kv_loop: wrong sizes read\n");
            return 1;
        }
    }
    printf("%.0f %.0f\n", (double)n / best_put, (double)n / best_get);
    free(keys);
    free(order);
    return 0;
}
