/* seedgen.c - writes the seed corpus of the fuzz targets from real stores:
 *   fuzz_seedgen OUTDIR   ->  OUTDIR/{kv_data,kv_hint,kv_keydir,wal,blob}/seed-*
 * Each seed is a mode byte (0: as is, 1: fix CRCs up) and a file a store really wrote: every data
 * file, hint and KEYDIR of a closed KV store, the active file a killed KV writer left, the WAL a
 * killed blob writer left (committed, uncheckpointed transactions) and blob data files.
 * tests/fuzz/make_corpus.sh runs it; the corpus is committed (tests/fuzz/corpus). */
#include "fuzz_common.h"

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

int main(int argc, char **argv) {
    char kv[1200], blob[1200], p[1600];
    int nd = 0, nh = 0, nk = 0, nw = 0, nb = 0, status;
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
    printf("seedgen: %d kv_data, %d kv_hint, %d kv_keydir, %d wal, %d blob seeds in %s\n", nd, nh, nk, nw, nb, out);
    return 0;
}
