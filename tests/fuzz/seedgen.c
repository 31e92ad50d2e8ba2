/* seedgen.c - writes the seed corpus of the fuzz targets from real stores:
 *   fuzz_seedgen OUTDIR   ->  OUTDIR/{kv_data,kv_hint,kv_keydir,wal,blob,blob_index,table_seg}/seed-*
 * Each seed is a mode byte (0: as is, 1: fix CRCs up) and a file a store really wrote: every data
 * file and the KEYDIR (its one index) of a closed KV store, the active file a killed KV writer
 * left, the WAL a killed blob writer left (committed, uncheckpointed transactions) and blob data
 * files. The library writes no hint files any more but still reads those older versions left:
 * the kv_hint seeds are the hints fuzz_build_kv writes beside the sealed data files the way those
 * versions did (through the library's internal writer of them).
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

static uint8_t *fuzz_read_abs(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    long n;
    if (!f) fuzz_fail("open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (uint8_t *)malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) fuzz_fail("read %s", path);
    fclose(f);
    *len = (size_t)n;
    return b;
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

/* repo: a real repository's pack and refs.log (framed as fuzz_repo.c reads them: mode u8 |
 * pack_len u16 | pack | refs_len u16 | refs | SNAPSHOT), with a real KV snapshot's marker; modes
 * 0 (as is), 1 (CRCs fixed) and 3 (CRCs and digests fixed), and an empty input. */
static void seed_repo(int *n) {
    char dir[1200], rp[1300], kvp[1300], p[1600];
    cairn_repo *r = NULL;
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    char dg[65], v1[65], name[16];
    uint8_t *pack, *refs, *snap, *in;
    size_t pl, rl, sl, len, i;
    int mode;
    snprintf(rp, sizeof rp, "%s/repo-seed", fuzz_dir());
    snprintf(kvp, sizeof kvp, "%s/kv-seed", fuzz_dir());
    o.sync = CAIRN_SYNC_NONE;
    if (cairn_repo_open(&r, rp, &o) || cairn_repo_init(r, "ten")) fuzz_fail("repo seed: %s", cairn_errmsg());
    if (cairn_repo_save(r, "ten", "alice", "val", "first", 5, CAIRN_KIND_TEXT, v1) ||
        cairn_repo_save(r, "ten", "bob", "val", "{\"x\": 2}", 8, CAIRN_KIND_JSON, dg) || cairn_repo_tag(r, "ten", "t1", v1))
        fuzz_fail("repo seed: %s", cairn_errmsg());
    { /* 150 records in one version (two tree levels; every 40th value over 256 bytes: a value
       * object), then two single puts */
        static char keys[150][8];
        static uint8_t big[300];
        const void *kp[150], *vp[150];
        size_t kl[150], vl[150];
        memset(big, 'v', sizeof big);
        for (i = 0; i < 150; i++) {
            snprintf(keys[i], sizeof keys[i], "k%03u", (unsigned)(i * 7 % 1000));
            kp[i] = keys[i];
            kl[i] = strlen(keys[i]);
            vp[i] = big;
            vl[i] = i % 40 == 3 ? 300 : 6 + i % 5;
        }
        if (cairn_repo_put_many(r, "ten", "carol", "col", 150, kp, kl, vp, vl, NULL, dg) ||
            cairn_repo_put(r, "ten", "carol", "col", "k001", 4, "one", 3, CAIRN_KIND_TEXT, dg) ||
            cairn_repo_put(r, "ten", "carol", "col", "k999", 4, big, 280, CAIRN_KIND_BYTES, dg))
            fuzz_fail("repo seed: %s", cairn_errmsg());
        snprintf(name, sizeof name, "k%03u", 7u);
    }
    if (cairn_repo_delete(r, "ten", "dave", "col", name, strlen(name), dg) || cairn_repo_tag(r, "ten", "t2", dg))
        fuzz_fail("repo seed: %s", cairn_errmsg());
    cairn_repo_close(r);
    if (cairn_kv_open(&kv, kvp, NULL) || cairn_kv_put(kv, "a", 1, "b", 1, 0) || cairn_kv_snapshot(kv, "s1", NULL))
        fuzz_fail("kv snapshot seed: %s", cairn_errmsg());
    cairn_kv_close(kv);
    snprintf(p, sizeof p, "%s/t/ten/packs/pack-00000000", rp);
    pack = fuzz_read_abs(p, &pl);
    snprintf(p, sizeof p, "%s/t/ten/refs.log", rp);
    refs = fuzz_read_abs(p, &rl);
    snprintf(p, sizeof p, "%s/snapshots/s1/SNAPSHOT", kvp);
    snap = fuzz_read_abs(p, &sl);
    if (pl > 60000) pl = 60000; /* u16 framing: a clipped pack is a torn tail */
    in = (uint8_t *)malloc(pl + rl + sl + 8);
    snprintf(dir, sizeof dir, "%s/repo", out);
    mkdir(dir, 0755);
    for (mode = 0; mode < 4; mode++) {
        FILE *f;
        if (mode == 2) continue;
        len = 0;
        in[len++] = (uint8_t)mode;
        in[len++] = (uint8_t)(pl & 255);
        in[len++] = (uint8_t)(pl >> 8);
        memcpy(in + len, pack, pl);
        len += pl;
        in[len++] = (uint8_t)(rl & 255);
        in[len++] = (uint8_t)(rl >> 8);
        memcpy(in + len, refs, rl);
        len += rl;
        memcpy(in + len, snap, sl);
        len += sl;
        snprintf(p, sizeof p, "%s/seed-%02d", dir, (*n)++);
        if (!(f = fopen(p, "wb"))) fuzz_fail("create %s", p);
        fwrite(in, 1, len, f);
        fclose(f);
    }
    {
        FILE *f;
        snprintf(p, sizeof p, "%s/seed-%02d", dir, (*n)++);
        if (!(f = fopen(p, "wb"))) fuzz_fail("create %s", p);
        fputc(0, f);
        fclose(f);
    }
    free(in);
    free(pack);
    free(refs);
    free(snap);
}

int main(int argc, char **argv) {
    char kv[1200], blob[1200], p[1600];
    int nd = 0, nh = 0, nk = 0, nw = 0, nb = 0, nt = 0, nr = 0, nx = 0, status;
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
    {
        /* the index file the clean close wrote, as it is (seed() would cut its zero tail) */
        int mode;
        snprintf(p, sizeof p, "%s/blob_index", out);
        mkdir(p, 0755);
        for (mode = 0; mode < 2; mode++) {
            char sp[1700], ip[1300];
            FILE *f, *g;
            int c;
            snprintf(sp, sizeof sp, "%s/seed-%02d", p, nx++);
            snprintf(ip, sizeof ip, "%s/store.blob-index", blob);
            if (!(f = fopen(sp, "wb")) || !(g = fopen(ip, "rb"))) fuzz_fail("seed %s", sp);
            fputc(mode, f);
            while ((c = fgetc(g)) != EOF) fputc(c, f);
            fclose(g);
            fclose(f);
        }
    }
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
    seed_repo(&nr);
    printf("seedgen: %d kv_data, %d kv_hint, %d kv_keydir, %d wal, %d blob, %d blob_index, %d table_seg, %d repo seeds in %s\n",
           nd, nh, nk, nw, nb, nx, nt, nr, out);
    return 0;
}
