/* kv_testutil.c - helpers shared by the KV tests. */
#include "kv_testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kvt_prefer_shm;

char *kvt_tmpdir(const char *tag) {
    const char *base = getenv("CAIRN_TEST_TMP");
    char tmpl[4096];
    char *d;
    if (!base || !*base) base = "/tmp";
    /* Fault and crash-simulation tests fsync thousands of times; the I/O layer simulates the
     * crashes, so a RAM file system (when there is one) gives the same coverage much faster. */
    if (kvt_prefer_shm && access("/dev/shm", W_OK) == 0 && !getenv("CAIRN_TEST_NO_SHM")) base = "/dev/shm";
    mkdir(base, 0755);
    snprintf(tmpl, sizeof tmpl, "%s/kv-%s-XXXXXX", base, tag);
    d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        abort();
    }
    return strdup(d);
}

void kvt_rmdir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        char *p;
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        p = kvt_path(dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            chmod(p, 0755);
            kvt_rmdir(p);
        } else {
            unlink(p);
        }
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

char *kvt_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = (char *)malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

size_t kvt_list(const char *dir, const char *suffix, char ***out) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    size_t n = 0, sl = strlen(suffix);
    if (!d) {
        *out = NULL;
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (l < sl || strcmp(e->d_name + l - sl, suffix) != 0) continue;
        v = (char **)realloc(v, (n + 1) * sizeof *v);
        v[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(v, n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

void kvt_list_free(char **v, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) free(v[i]);
    free(v);
}

uint64_t kvt_fsize(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    return (uint64_t)st.st_size;
}

void kvt_flip(const char *path, uint64_t off) {
    int fd = open(path, O_RDWR);
    unsigned char c = 0;
    if (fd < 0) return;
    if (pread(fd, &c, 1, (off_t)off) == 1) {
        c ^= 0xff;
        if (pwrite(fd, &c, 1, (off_t)off) != 1) perror("pwrite");
    }
    close(fd);
}

void kvt_truncate(const char *path, uint64_t size) {
    if (truncate(path, (off_t)size) != 0) perror("truncate");
}

cairn_kv *kvt_open(const char *dir, int sync, uint64_t max_file) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    int rc;
    o.sync = sync;
    o.max_file_size = max_file;
    rc = cairn_kv_open(&kv, dir, &o);
    if (rc) {
        fprintf(stderr, "kvt_open %s: %s %s\n", dir, cairn_errname(rc), cairn_errmsg());
        return NULL;
    }
    return kv;
}

int kvt_put(cairn_kv *kv, const char *k, const char *v) {
    return cairn_kv_put(kv, k, strlen(k), v, strlen(v), CAIRN_KIND_TEXT);
}

int kvt_get(cairn_kv *kv, const char *k, char **out) {
    void *v = NULL;
    size_t n = 0;
    int rc = cairn_kv_get(kv, k, strlen(k), &v, &n, NULL);
    if (rc == CAIRN_NOTFOUND) return 0;
    if (rc) return rc;
    *out = (char *)malloc(n + 1);
    memcpy(*out, v, n);
    (*out)[n] = 0;
    cairn_free(v);
    return 1;
}

uint64_t kvt_rand(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

uint64_t kvt_seed(const char *env, uint64_t dflt) {
    const char *s = getenv(env);
    uint64_t v = s && *s ? strtoull(s, NULL, 0) : dflt;
    return v;
}

/* kv_internal.h: writes the hint of every sealed file that has none */
void cairn_kv__hint_sealed(cairn_kv *kv);

void kvt_write_hints(const char *dir) {
    cairn_kv *kv = NULL;
    int rc = cairn_kv_open(&kv, dir, NULL);
    if (rc) {
        fprintf(stderr, "kvt_write_hints %s: %s %s\n", dir, cairn_errname(rc), cairn_errmsg());
        abort();
    }
    cairn_kv__hint_sealed(kv);
    cairn_kv_close(kv);
}

static uint64_t vlen_of(uint64_t v) {
    uint64_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

uint64_t kvt_rec3(int kind, uint64_t klen, uint64_t vlen, int expires) {
    if (kind == 0 && klen <= 32 && !expires) return 5 + vlen_of(vlen) + klen + vlen; /* the short form */
    return 5 + vlen_of(klen) + vlen_of(vlen) + (expires ? 8 : 0) + klen + vlen;
}

uint64_t kvt_next_rec(const uint8_t *d, uint64_t len, uint64_t off, int *type, int *txn) {
    uint64_t v[2], p = off + 5;
    int i;
    if (off + 5 > len) return 0;
    if (!(d[off + 4] & 0x80)) {
        if (off + 32 > len) return 0;
        *type = d[off + 4];
        *txn = d[off + 5] & 1;
        return off + 32 + ((uint64_t)d[off + 12] | (uint64_t)d[off + 13] << 8) +
               ((uint64_t)d[off + 8] | (uint64_t)d[off + 9] << 8 | (uint64_t)d[off + 10] << 16 |
                (uint64_t)d[off + 11] << 24);
    }
    if (d[off + 4] & 0x40) { /* short: a PUT of kind 0, TXN in bit 5, klen - 1 in bits 0-4 */
        *type = 1;
        *txn = (d[off + 4] >> 5) & 1;
        v[0] = (uint64_t)(d[off + 4] & 31) + 1;
    } else {
        static const int types[4] = {1, 2, 3, 5};
        *type = types[d[off + 4] & 3];
        *txn = (d[off + 4] >> 2) & 1;
    }
    for (i = (d[off + 4] & 0x40) ? 1 : 0; i < 2; i++) {
        int sh = 0;
        v[i] = 0;
        do {
            if (p >= len || sh > 35) return 0;
            v[i] |= (uint64_t)(d[p] & 0x7f) << sh;
            sh += 7;
        } while (d[p++] & 0x80);
    }
    if (!(d[off + 4] & 0x40) && (d[off + 4] & 0x08)) p += 8;
    if (*type >= 3) p += 8;
    return p + v[0] + v[1];
}
