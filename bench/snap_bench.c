/* snap_bench.c - what a snapshot costs: the time of cairn_<engine>_snapshot and of a backup, and the
 * bytes they copy (files with one link) and share (hard links), for a 1M-key KV store, a 1M-row
 * table and a blob store of 100k 1 KiB blobs (docs/snapshots.md has the numbers).
 *
 * Usage: snap_bench DIR [N]   (DIR: an empty scratch directory; N: keys and rows, default 1000000)
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <cairn.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
#define OK(x) do { int rc_ = (x); if (rc_) { fprintf(stderr, "%s: %s %s\n", #x, cairn_errname(rc_), cairn_errmsg()); exit(1); } } while (0)

/* bytes in files of dir with one link (copied) and with more (shared) */
static void sizes(const char *dir, unsigned long long *copied, unsigned long long *shared, int *nfiles) {
    DIR *d = opendir(dir); struct dirent *e; char p[4096]; struct stat st;
    *copied = *shared = 0; *nfiles = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) || !S_ISREG(st.st_mode)) continue;
        (*nfiles)++;
        if (st.st_nlink > 1) *shared += st.st_size; else *copied += st.st_size;
    }
    closedir(d);
}

int main(int argc, char **argv) {
    const char *root;
    char p[2048], sp[4096];
    unsigned long long c, s; int nf; double t0, t1;
    long N = 1000000;
    if (argc < 2) {
        fprintf(stderr, "usage: snap_bench DIR [N]\n");
        return 2;
    }
    root = argv[1];
    if (argc > 2) N = atol(argv[2]);
    /* KV: 1M keys, 100-byte values */
    {
        cairn_kv *kv; cairn_kv_options o = CAIRN_KV_OPTIONS_INIT; char k[32], v[100];
        o.sync = CAIRN_SYNC_NONE;
        snprintf(p, sizeof p, "%s/kv", root);
        OK(cairn_kv_open(&kv, p, &o));
        OK(cairn_kv_begin(kv));
        memset(v, 'v', sizeof v);
        for (long i = 0; i < N; i++) { int n = snprintf(k, sizeof k, "key%09ld", i); OK(cairn_kv_put(kv, k, n, v, sizeof v, 0)); }
        OK(cairn_kv_commit(kv));
        OK(cairn_kv_sync(kv));
        t0 = now(); OK(cairn_kv_snapshot(kv, "s", NULL)); t1 = now();
        snprintf(sp, sizeof sp, "%s/snapshots/s", p); sizes(sp, &c, &s, &nf);
        printf("KV %ld keys (100 B values): snapshot %.1f ms, %d files, %llu bytes copied, %llu bytes shared (links)\n", N, (t1 - t0) * 1e3, nf, c, s);
        t0 = now(); OK(cairn_kv_put(kv, "x", 1, "y", 1, 0)); OK(cairn_kv_snapshot(kv, "s2", NULL)); t1 = now();
        snprintf(sp, sizeof sp, "%s/snapshots/s2", p); sizes(sp, &c, &s, &nf);
        printf("KV second snapshot after one put: %.1f ms, %llu bytes copied\n", (t1 - t0) * 1e3, c);
        snprintf(sp, sizeof sp, "%s/kvbk", root);
        t0 = now(); OK(cairn_kv_backup(kv, sp)); t1 = now(); sizes(sp, &c, &s, &nf);
        printf("KV backup: %.1f ms, %llu bytes copied\n", (t1 - t0) * 1e3, c);
        cairn_kv_close(kv);
    }
    /* table: 1M rows (i64, string ~12 B, f64) */
    {
        cairn_table *t; cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
        int64_t *a = malloc(N * 8); double *f = malloc(N * 8); char *str = malloc(N * 16); uint64_t *off = malloc((N + 1) * 8);
        size_t pos = 0; uint64_t first;
        o.sync = CAIRN_SYNC_NONE; o.schema = "id i64, name string, score f64";
        snprintf(p, sizeof p, "%s/t", root);
        OK(cairn_table_open(&t, p, &o));
        for (long i = 0; i < N; i++) { a[i] = i; f[i] = i * 0.5; off[i] = pos; pos += (size_t)sprintf(str + pos, "name-%07ld", i); }
        off[N] = pos;
        { const void *data[3] = {a, str, f}; const uint64_t *offs[3] = {NULL, off, NULL};
          OK(cairn_table_load_columns(t, N, data, NULL, offs, &first)); }
        OK(cairn_table_sync(t));
        t0 = now(); OK(cairn_table_snapshot(t, "s", NULL)); t1 = now();
        snprintf(sp, sizeof sp, "%s/snapshots/s", p); sizes(sp, &c, &s, &nf);
        printf("table %ld rows (i64, string, f64): snapshot %.1f ms, %d files, %llu bytes copied, %llu bytes shared (links)\n", N, (t1 - t0) * 1e3, nf, c, s);
        t0 = now(); OK(cairn_table_insert_json(t, "{\"id\":-1}", NULL)); OK(cairn_table_snapshot(t, "s2", NULL)); t1 = now();
        snprintf(sp, sizeof sp, "%s/snapshots/s2", p); sizes(sp, &c, &s, &nf);
        printf("table second snapshot after one insert (a checkpoint of one row): %.1f ms, %llu bytes copied\n", (t1 - t0) * 1e3, c);
        snprintf(sp, sizeof sp, "%s/tbk", root);
        t0 = now(); OK(cairn_table_backup(t, sp)); t1 = now(); sizes(sp, &c, &s, &nf);
        printf("table backup: %.1f ms, %llu bytes copied\n", (t1 - t0) * 1e3, c);
        cairn_table_close(t);
    }
    /* blob: 100k blobs of 1 KiB */
    {
        cairn_blob *b; cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT; char v[1024]; uint32_t key;
        o.sync = CAIRN_SYNC_NONE; memset(v, 'b', sizeof v);
        snprintf(p, sizeof p, "%s/b.blob", root);
        OK(cairn_blob_open(&b, p, &o));
        OK(cairn_blob_begin(b));
        for (long i = 0; i < 100000; i++) OK(cairn_blob_create(b, v, sizeof v, &key));
        OK(cairn_blob_commit(b));
        OK(cairn_blob_sync(b));
        t0 = now(); OK(cairn_blob_snapshot(b, "s", NULL)); t1 = now();
        snprintf(sp, sizeof sp, "%s-snapshots/s", p); sizes(sp, &c, &s, &nf);
        printf("blob 100k x 1 KiB: snapshot %.1f ms, %llu bytes copied\n", (t1 - t0) * 1e3, c);
        cairn_blob_close(b);
    }
    return 0;
}
