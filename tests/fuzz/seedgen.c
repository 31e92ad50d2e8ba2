/* seedgen.c - writes the seed corpus of the fuzz targets from real stores:
 *   fuzz_seedgen OUTDIR   ->  OUTDIR/{kv_data,kv_hint,kv_keydir,wal,blob,table_seg}/seed-*
 * Each seed is a mode byte (0: as is, 1: fix CRCs up) and a file a store really wrote: every data
 * file, hint and KEYDIR of a closed KV store, the active file a killed KV writer left, the WAL a
 * killed blob writer left (committed, uncheckpointed transactions) and blob data files.
 * tests/fuzz/make_corpus.sh runs it; the corpus is committed (tests/fuzz/corpus). */
#include "fuzz_common.h"

#include "table/seg.h"

#include <cairn.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *out;

static void seed(const char *target, int *n, const uint8_t *data, size_t len) {
    char dir[1200], p[1300];
    int mode;
    FILE *f;
    snprintf(dir, sizeof dir, "%s/%s", out, target);
    mkdir(dir, 0755);
    while (len > 64 && data[len - 1] == 0 && data[len - 17] == 0) len--; /* a reserved zero tail: keep 16 */
    for (mode = 0; mode < 2; mode++) {
        uint8_t m = (uint8_t)mode;
        snprintf(p, sizeof p, "%s/seed-%02d", dir, (*n)++);
        if (!(f = fopen(p, "wb"))) fuzz_fail("create %s", p);
        fwrite(&m, 1, 1, f);
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

static void seed_file(const char *target, int *n, const char *path) {
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    long len;
    if (!f) fuzz_fail("open %s", path);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (uint8_t *)malloc((size_t)len + 1);
    if (fread(b, 1, (size_t)len, f) != (size_t)len) fuzz_fail("read %s", path);
    fclose(f);
    seed(target, n, b, (size_t)len);
    free(b);
}

static void seed_suffix(const char *target, int *n, const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t sl = strlen(suffix);
    while (d && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        char p[1200];
        if (l < sl || strcmp(e->d_name + l - sl, suffix)) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        seed_file(target, n, p);
    }
    if (d) closedir(d);
}

/* table_seg: one small segment per encoding (mode byte 0 and 1), written whole. */
static void seed_table_seg(int *n) {
    static const char *words[] = {"ant", "", "bee", "cat", "ant", "ant", "dog", "bee"};
    int64_t i64[24];
    uint64_t off[25];
    char sdata[96];
    uint8_t b8[192], valid[3] = {0xef, 0xfd, 0x7f};
    size_t i;
    char dir[1200];
    struct { int type, force, nulls; const void *data; uint32_t fixed; } cases[] = {
        {CAIRN_TYPE_I32, CAIRN_SEG_PLAIN, 0, NULL, 0},      {CAIRN_TYPE_STRING, CAIRN_SEG_CONSTANT, 1, NULL, 0},
        {CAIRN_TYPE_U16, CAIRN_SEG_RLE, 1, NULL, 0},        {CAIRN_TYPE_STRING, CAIRN_SEG_DICT, 1, NULL, 0},
        {CAIRN_TYPE_FIXED, CAIRN_SEG_DICT, 0, NULL, 3},     {CAIRN_TYPE_I64, CAIRN_SEG_FOR, 1, NULL, 0},
        {CAIRN_TYPE_TIMESTAMP, CAIRN_SEG_DELTA, 0, NULL, 0}, {CAIRN_TYPE_BOOL, CAIRN_SEG_BITPACK, 1, NULL, 0},
        {CAIRN_TYPE_F64, CAIRN_SEG_PLAIN, 0, NULL, 0},      {CAIRN_TYPE_BYTES, CAIRN_SEG_PLAIN, 1, NULL, 0},
        {CAIRN_TYPE_F32, CAIRN_SEG_RLE, 0, NULL, 0},        {CAIRN_TYPE_U8, CAIRN_SEG_DICT, 0, NULL, 0},
    };
    snprintf(dir, sizeof dir, "%s/table_seg", out);
    mkdir(dir, 0755);
    off[0] = 0;
    for (i = 0; i < sizeof b8; i++) b8[i] = (uint8_t)(i / 10);
    for (i = 0; i < 24; i++) {
        const char *w = words[i % 8];
        i64[i] = (int64_t)i * 1000003 - 9000000 + (int64_t)(i % 3);
        memcpy(sdata + off[i], w, strlen(w));
        off[i + 1] = off[i] + strlen(w);
    }
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cairn_colvec v;
        cairn_seg_buf b;
        int mode;
        memset(&v, 0, sizeof v);
        v.type = cases[i].type;
        v.n = 24;
        v.fixed_len = cases[i].fixed;
        v.validity = cases[i].nulls ? valid : NULL;
        if (v.type == CAIRN_TYPE_STRING || v.type == CAIRN_TYPE_BYTES) {
            v.data = sdata;
            v.offsets = off;
            v.data_len = off[24];
            if (cases[i].force == CAIRN_SEG_CONSTANT) memset(off, 0, sizeof off); /* all empty */
        } else {
            v.data = v.type == CAIRN_TYPE_U8 || v.type == CAIRN_TYPE_BOOL || v.type == CAIRN_TYPE_FIXED ||
                             v.type == CAIRN_TYPE_U16 || v.type == CAIRN_TYPE_F32
                         ? (void *)b8 : (void *)i64;
            if (v.type == CAIRN_TYPE_BOOL) for (size_t k = 0; k < 24; k++) b8[k] &= 1;
            if (v.type == CAIRN_TYPE_FIXED) v.n = 8;
        }
        if (cairn_seg__encode(&v, cases[i].force, &b) != 0) fuzz_fail("table_seg seed %zu: %s", i, cairn_errmsg());
        for (mode = 0; mode < 2; mode++) {
            char p[1300];
            uint8_t m = (uint8_t)(mode | (i << 1));
            FILE *f;
            snprintf(p, sizeof p, "%s/seed-%02d", dir, (*n)++);
            if (!(f = fopen(p, "wb"))) fuzz_fail("create %s", p);
            fwrite(&m, 1, 1, f);
            fwrite(b.bytes, 1, b.len, f);
            fclose(f);
        }
        cairn_seg__free_buf(&b);
        for (size_t k = 0; k < sizeof b8; k++) b8[k] = (uint8_t)(k / 10);
        for (size_t k = 0; k < 24; k++) off[k + 1] = off[k] + strlen(words[k % 8]);
    }
}

int main(int argc, char **argv) {
    char kv[1200], blob[1200], p[1600];
    int nd = 0, nh = 0, nk = 0, nw = 0, nb = 0, nt = 0, status;
    pid_t pid;
    if (argc != 2) { fprintf(stderr, "usage: fuzz_seedgen OUTDIR\n"); return 2; }
    out = argv[1];
    mkdir(out, 0755);
    snprintf(kv, sizeof kv, "%s/kv", fuzz_dir());
    snprintf(blob, sizeof blob, "%s/blob", fuzz_dir());
    mkdir(kv, 0755);
    mkdir(blob, 0755);
    fuzz_build_kv(kv);
    fuzz_build_blob(blob);
    seed_suffix("kv_data", &nd, kv, ".data");
    seed_suffix("kv_hint", &nh, kv, ".hint");
    snprintf(p, sizeof p, "%s/KEYDIR", kv);
    seed_file("kv_keydir", &nk, p);
    snprintf(p, sizeof p, "%s/store.blob", blob);
    seed_file("blob", &nb, p);
    seed("kv_data", &nd, (const uint8_t *)"", 0);
    seed("wal", &nw, (const uint8_t *)"", 0);
    /* killed writers: the KV's active file, the blob store's WAL with uncheckpointed records */
    if ((pid = fork()) == 0) {
        cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
        cairn_kv *h;
        cairn_blob *b;
        uint32_t k;
        o.max_file_size = 512;
        if (cairn_kv_open(&h, kv, &o)) _exit(2);
        cairn_kv_put(h, "key03", 5, "after-reopen", 12, 1);
        cairn_kv_begin(h);
        cairn_kv_put(h, "key09", 5, "in-a-txn", 8, 0);
        cairn_kv_delete(h, "key02", 5);
        cairn_kv_commit(h);
        snprintf(p, sizeof p, "%s/store.blob", blob);
        if (cairn_blob_open(&b, p, NULL)) _exit(3);
        cairn_blob_create(b, "created-after-checkpoint", 24, &k);
        cairn_blob_update(b, 1, "updated", 7);
        cairn_blob_begin(b);
        cairn_blob_create(b, "in-a-transaction", 16, &k);
        cairn_blob_delete(b, 3);
        cairn_blob_commit(b);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) fuzz_fail("killed-writer child failed");
    {
        char last[256];
        fuzz_find(kv, ".data", 1, last, sizeof last);
        snprintf(p, sizeof p, "%s/%s", kv, last);
        seed_file("kv_data", &nd, p);
    }
    snprintf(p, sizeof p, "%s/store.blob-wal", blob);
    seed_file("wal", &nw, p);
    snprintf(p, sizeof p, "%s/store.blob", blob);
    seed_file("blob", &nb, p);
    seed_table_seg(&nt);
    printf("seedgen: %d kv_data, %d kv_hint, %d kv_keydir, %d wal, %d blob, %d table_seg seeds in %s\n", nd, nh, nk, nw,
           nb, nt, out);
    return 0;
}
