/* fuzz_common.c - see fuzz_common.h. */
#include "fuzz_common.h"
#include "util.h" /* crc32c, little-endian codecs */

#include <cairn.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[600], root[512];

static void rmrf(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    if (!d) { unlink(path); return; }
    while ((e = readdir(d)) != NULL) {
        char sub[1200];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rmrf(sub);
    }
    closedir(d);
    rmdir(path);
}

static void cleanup(void) {
    if (root[0]) rmrf(root);
}

void fuzz_fail(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "fuzz: FINDING: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void ensure_root(void) {
    const char *base;
    if (root[0]) return;
    base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    snprintf(root, sizeof root, "%s/cairn-fuzz-XXXXXX", base);
    if (!mkdtemp(root)) fuzz_fail("mkdtemp %s", root);
    snprintf(scratch, sizeof scratch, "%s/s", root);
    mkdir(scratch, 0755);
    atexit(cleanup);
}

const char *fuzz_dir(void) {
    ensure_root();
    return scratch;
}

void fuzz_reset(void) {
    ensure_root();
    rmrf(scratch);
    mkdir(scratch, 0755);
}

const char *fuzz_path(const char *name) {
    static char ring[4][1100];
    static int next;
    char *p = ring[next++ & 3];
    snprintf(p, sizeof ring[0], "%s/%s", fuzz_dir(), name);
    return p;
}

static void write_file(const char *path, const void *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    size_t done = 0;
    if (fd < 0) fuzz_fail("create %s", path);
    while (done < len) {
        ssize_t n = write(fd, (const char *)data + done, len - done);
        if (n <= 0) fuzz_fail("write %s", path);
        done += (size_t)n;
    }
    close(fd);
}

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (uint8_t *)malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

void fuzz_write(const char *name, const void *data, size_t len) { write_file(fuzz_path(name), data, len); }

void fuzz_write_input(const char *name, const uint8_t *data, size_t size, void (*fix)(uint8_t *d, size_t len),
                      void (*prep)(uint8_t *d, size_t len, int crcs)) {
    uint8_t *buf = (uint8_t *)malloc(size);
    if (!buf) fuzz_fail("out of memory");
    memcpy(buf, data + 1, size - 1);
    if (fix && (data[0] & 1)) fix(buf, size - 1);
    if (prep) prep(buf, size - 1, data[0] & 1);
    fuzz_write(name, buf, size - 1);
    free(buf);
}
uint8_t *fuzz_read(const char *name, size_t *len) { return read_file(fuzz_path(name), len); }

void fuzz_copy_in(const char *from) {
    DIR *d = opendir(from);
    struct dirent *e;
    if (!d) fuzz_fail("opendir %s", from);
    while ((e = readdir(d)) != NULL) {
        char p[1200];
        struct stat st;
        uint8_t *b;
        size_t len;
        snprintf(p, sizeof p, "%s/%s", from, e->d_name);
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if ((b = read_file(p, &len)) != NULL) {
            fuzz_write(e->d_name, b, len);
            free(b);
        }
    }
    closedir(d);
}

const char *fuzz_template(const char *tag, void (*build)(const char *dir)) {
    static char dirs[8][600];
    static const char *tags[8];
    int i;
    ensure_root();
    for (i = 0; i < 8 && tags[i]; i++)
        if (!strcmp(tags[i], tag)) return dirs[i];
    if (i == 8) fuzz_fail("too many templates");
    snprintf(dirs[i], sizeof dirs[i], "%s/tmpl-%s", root, tag);
    mkdir(dirs[i], 0755);
    build(dirs[i]);
    tags[i] = tag;
    return dirs[i];
}

/* ---- template stores ----------------------------------------------------------------------- */

void cairn_kv__hint_sealed(cairn_kv *kv); /* kv_internal.h */

void fuzz_build_kv(const char *dir) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv;
    int i;
    o.max_file_size = 256; /* several files (version 3 records are small) */
    if (cairn_kv_open(&kv, dir, &o)) fuzz_fail("template open: %s", cairn_errmsg());
    for (i = 0; i < 12; i++) {
        char k[16], v[64];
        int kl = snprintf(k, sizeof k, "key%02d", i % 8);
        int vl = snprintf(v, sizeof v, "value-%d-%.*s", i, i * 3, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        if (i == 9) cairn_kv_begin(kv);
        cairn_kv_put(kv, k, (size_t)kl, v, (size_t)vl, i % 3);
        if (i == 10) cairn_kv_commit(kv);
    }
    cairn_kv_delete(kv, "key01", 5);
    cairn_kv_close(kv);
    /* hint files, as older versions wrote them (this version reads them, writes none) */
    if (cairn_kv_open(&kv, dir, &o)) fuzz_fail("template reopen: %s", cairn_errmsg());
    cairn_kv__hint_sealed(kv);
    cairn_kv_close(kv);
}

void fuzz_build_blob(const char *dir) {
    cairn_blob *b;
    char path[700];
    uint32_t k;
    int i;
    snprintf(path, sizeof path, "%s/store.blob", dir);
    if (cairn_blob_open(&b, path, NULL)) fuzz_fail("template open: %s", cairn_errmsg());
    for (i = 0; i < 6; i++) cairn_blob_create(b, "blob-payload-0123456789", (size_t)(5 + i * 3), &k);
    cairn_blob_delete(b, 2);
    cairn_blob_close(b);
    snprintf(path, sizeof path, "%s/store.blob-lock", dir);
    remove(path);
}

void fuzz_find(const char *dir, const char *suffix, int last, char *out, size_t cap) {
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t sl = strlen(suffix);
    out[0] = 0;
    while (d && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > sl && !strcmp(e->d_name + n - sl, suffix) &&
            (!out[0] || (last ? strcmp(e->d_name, out) > 0 : strcmp(e->d_name, out) < 0)))
            snprintf(out, cap, "%s", e->d_name);
    }
    if (d) closedir(d);
}

/* ---- CRC fix-ups ------------------------------------------------------------------------------ */

/* The header of the KV record at d[off..len) of either encoding (docs/format-kv.md), parsed
 * here without the library: 1 with the type, header length and lengths set, 0 if it does not
 * parse. Version 3: tag byte (bit 7 set; bit 6: short form, a PUT of kind 0 with TXN in bit 5,
 * klen - 1 in bits 0-4 and no klen varint; else type code in bits 0-1 (PUT, DEL, COMMIT, SEAL), bit 2 TXN, bit 3: expiry
 * follows), [varint klen], varint vlen, [expire i64], [seq u64 for COMMIT, SEAL]; versions 1 and
 * 2: 32 bytes. */
int fuzz_kv_hdr(const uint8_t *d, size_t len, size_t off, fuzz_kv_rec *r) {
    const uint8_t *p = d + off + 5, *end = d + len;
    uint64_t v[2];
    int i;
    if (off + 5 > len) return 0;
    if (!(d[off + 4] & 0x80)) {
        if (off + 32 > len) return 0;
        r->type = d[off + 4];
        r->hlen = 32;
        r->klen = cairn_get16(d + off + 12);
        r->vlen = cairn_get32(d + off + 8);
        r->seq = cairn_get64(d + off + 16);
        r->txn = d[off + 5] & 1;
        return 1;
    }
    if (d[off + 4] & 0x40) { /* short: a PUT of kind 0, TXN in bit 5, klen - 1 in bits 0-4 */
        r->type = 1;
        r->txn = (d[off + 4] >> 5) & 1;
        v[0] = (uint64_t)(d[off + 4] & 31) + 1;
    } else {
        static const int types[4] = {1, 2, 3, 5};
        r->type = types[d[off + 4] & 3];
        r->txn = (d[off + 4] >> 2) & 1;
    }
    for (i = (d[off + 4] & 0x40) ? 1 : 0; i < 2; i++) {
        int sh = 0;
        v[i] = 0;
        do {
            if (p >= end || sh > 35) return 0;
            v[i] |= (uint64_t)(*p & 0x7f) << sh;
            sh += 7;
        } while (*p++ & 0x80);
    }
    r->klen = v[0];
    r->vlen = v[1];
    if (!(d[off + 4] & 0x40) && (d[off + 4] & 0x08)) p += 8;
    r->seq = 0;
    if (r->type >= 3) {
        if (end - p < 8) return 0;
        r->seq = cairn_get64(p);
        p += 8;
    }
    if (p > end) return 0;
    r->hlen = (size_t)(p - (d + off));
    return 1;
}

void fuzz_fix_kv_records(uint8_t *d, size_t len) {
    size_t off = 0;
    fuzz_kv_rec r;
    while (fuzz_kv_hdr(d, len, off, &r)) {
        uint64_t end = off + r.hlen + r.klen + r.vlen;
        if (end > len) break;
        cairn_put32(d + off, cairn_crc32c__update(0, d + off + 4, (size_t)end - off - 4));
        off = (size_t)end;
    }
}

void fuzz_fix_trailing_crc(uint8_t *d, size_t len) {
    if (len >= 4) cairn_put32(d + len - 4, cairn_crc32c__update(0, d, len - 4));
}

/* KEYDIR (format 4): the header CRC (after the table header) and, when the length fits the
 * table's capacity, every page CRC of the slots. */
void fuzz_fix_keydir(uint8_t *d, size_t len) {
    uint64_t th, cap, np, slots, p;
    if (len < 32) return;
    th = 32 + (uint64_t)cairn_get32(d + 12) * 16;
    if (th + 48 > len) return;
    cairn_put32(d + th + 40, cairn_crc32c__update(0, d, (size_t)th + 40));
    cap = cairn_get32(d + th);
    np = (cap + 8191) / 8192;
    slots = th + 48;
    if (slots + cap * 8 + np * 4 != len) return;
    for (p = 0; p < np; p++) {
        uint64_t first = p * 8192, n = cap - first < 8192 ? cap - first : 8192;
        cairn_put32(d + slots + cap * 8 + p * 4, cairn_crc32c__update(0, d + slots + first * 8, (size_t)n * 8));
    }
}

void fuzz_fix_wal(uint8_t *d, size_t len) {
    size_t off = 32;
    uint32_t salt;
    if (len < 32) return;
    cairn_put32(d + 28, cairn_crc32c__update(0, d, 28));
    salt = cairn_get32(d + 12);
    while (off + 32 <= len) {
        uint32_t plen = cairn_get32(d + off + 4);
        uint32_t crc;
        if (plen > len - off - 32) break;
        cairn_put32(d + off + 28, salt);
        crc = cairn_crc32c__update(0, d + off + 4, 28);
        crc = cairn_crc32c__update(crc, d + off + 32, plen);
        cairn_put32(d + off, crc);
        off += 32u + plen;
    }
}

void fuzz_fix_blob(uint8_t *d, size_t len) {
    size_t off = 64;
    if (len < 64) return;
    cairn_put32(d + 60, cairn_crc32c__update(0, d, 60));
    while (off + 32 <= len) {
        uint64_t size = cairn_get64(d + off + 8);
        uint32_t plen = cairn_get32(d + off + 20);
        if (size < 32 || size > len - off) break;
        if (d[off + 4] == 1 && plen <= size - 32) cairn_put32(d + off + 24, cairn_crc32c__update(0, d + off + 32, plen));
        cairn_put32(d + off, cairn_crc32c__update(0, d + off + 4, 28));
        off += (size_t)size;
    }
}

/* ---- the KV oracle and exercise ---------------------------------------------------------------- */

int fuzz_kv_record_exists(const void *key, size_t klen, const void *val, size_t vlen) {
    DIR *d = opendir(fuzz_dir());
    struct dirent *e;
    int found = 0;
    if (!d) return 0;
    while (!found && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name), len, off;
        uint8_t *b;
        if (n < 5 || strcmp(e->d_name + n - 5, ".data")) continue;
        if (!(b = fuzz_read(e->d_name, &len))) continue;
        for (off = 0; !found && off + 6 + klen + vlen <= len; off++) {
            const uint8_t *r = b + off;
            fuzz_kv_rec h;
            if (!fuzz_kv_hdr(b, len, off, &h) || h.type != 1 || h.klen != klen || h.vlen != vlen ||
                off + h.hlen + klen + vlen > len)
                continue;
            if (memcmp(r + h.hlen, key, klen) || (vlen && memcmp(r + h.hlen + klen, val, vlen))) continue;
            found = cairn_crc32c__update(0, r + 4, h.hlen - 4 + klen + vlen) == cairn_get32(r);
        }
        free(b);
    }
    closedir(d);
    return found;
}

static void kv_read_all(cairn_kv *kv, const char *when) {
    cairn_kv_iter *it;
    const void *k;
    size_t kl;
    int rc, n = 0;
    if (cairn_kv_iter_open(&it, kv, NULL, 0) != 0) return;
    while (n++ < 2000 && (rc = cairn_kv_iter_next(it, &k, &kl)) == 0) {
        void *v = NULL;
        size_t vl = 0;
        int kind = -1;
        uint8_t *key = (uint8_t *)malloc(kl + 1);
        memcpy(key, k, kl);
        rc = cairn_kv_get(kv, key, kl, &v, &vl, &kind);
        if (rc == 0) {
            if (!fuzz_kv_record_exists(key, kl, v, vl))
                fuzz_fail("%s: get returned %zu bytes for a %zu-byte key that no CRC-valid record holds", when, vl, kl);
            if (kind < 0 || kind > 3) fuzz_fail("%s: get returned kind %d", when, kind);
        } else if (rc > 0 || !cairn_errname(rc)) {
            fuzz_fail("%s: get returned %d", when, rc);
        }
        cairn_free(v);
        free(key);
    }
    cairn_kv_iter_free(it);
}

void fuzz_kv_exercise(void) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    o.create = 0;
    o.read_only = 1;
    o.max_file_size = 512;
    (void)cairn_kv_check(fuzz_dir());
    if (cairn_kv_open(&kv, fuzz_dir(), &o) == 0) {
        kv_read_all(kv, "read-only open");
        cairn_kv_close(kv);
    }
    o.read_only = 0;
    if (cairn_kv_open(&kv, fuzz_dir(), &o) == 0) {
        void *v = NULL;
        size_t vl;
        kv_read_all(kv, "writer open");
        if (cairn_kv_put(kv, "fuzz-new-key", 12, "fresh", 5, 0) == 0) {
            int rc = cairn_kv_get(kv, "fuzz-new-key", 12, &v, &vl, NULL);
            if (rc != 0 || vl != 5 || memcmp(v, "fresh", 5)) fuzz_fail("a put after recovery does not read back (%s)", cairn_errname(rc));
            cairn_free(v);
        }
        cairn_kv_close(kv);
    }
    (void)cairn_kv_check(fuzz_dir());
}

/* ---- the blob oracle and exercise ------------------------------------------------------------------ */

int fuzz_blob_entry_exists(const char *name, uint32_t key, const void *val, size_t len) {
    size_t flen, off;
    uint8_t *b = fuzz_read(name, &flen);
    uint32_t pcrc = cairn_crc32c__update(0, val, len);
    int found = 0;
    if (!b) return 0;
    for (off = 0; !found && off + 32 + len <= flen; off++) {
        const uint8_t *e = b + off;
        if (e[4] != 1 || cairn_get32(e + 16) != key || cairn_get32(e + 20) != len || cairn_get32(e + 24) != pcrc) continue;
        if (cairn_crc32c__update(0, e + 4, 28) != cairn_get32(e)) continue;
        found = len == 0 || memcmp(e + 32, val, len) == 0;
    }
    free(b);
    return found;
}

static void blob_read_all(cairn_blob *b, const char *when, const char *oracle_file) {
    cairn_blob_iter *it;
    uint32_t key;
    int n = 0;
    if (cairn_blob_iter_open(&it, b) != 0) return;
    while (n++ < 2000 && cairn_blob_iter_next(it, &key) == 0) {
        void *v = NULL;
        size_t vl = 0;
        int rc = cairn_blob_read(b, key, &v, &vl);
        if (rc == 0 && oracle_file && !fuzz_blob_entry_exists(oracle_file, key, v, vl))
            fuzz_fail("%s: read of key %u returned %zu bytes that no CRC-valid entry holds", when, (unsigned)key, vl);
        if (rc > 0) fuzz_fail("%s: read returned %d", when, rc);
        cairn_free(v);
    }
    cairn_blob_iter_free(it);
}

static int wal_empty(const char *path) {
    char wal[1210];
    struct stat st;
    snprintf(wal, sizeof wal, "%s-wal", path);
    return stat(wal, &st) != 0 || st.st_size <= 32;
}

void fuzz_blob_exercise(const char *oracle_file) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    cairn_blob *b = NULL;
    const char *path = fuzz_path("store.blob");
    char copy[1200];
    snprintf(copy, sizeof copy, "%s", path);
    o.create = 0;
    o.read_only = 1;
    (void)cairn_blob_check(copy);
    if (cairn_blob_open(&b, copy, &o) == 0) {
        blob_read_all(b, "read-only open", oracle_file);
        cairn_blob_close(b);
    }
    o.read_only = 0;
    if (cairn_blob_open(&b, copy, &o) == 0) {
        uint32_t key;
        void *v = NULL;
        size_t vl;
        blob_read_all(b, "writer open", NULL);
        if (cairn_blob_create(b, "fresh", 5, &key) == 0) {
            int rc = cairn_blob_read(b, key, &v, &vl);
            if (rc != 0 || vl != 5 || memcmp(v, "fresh", 5)) fuzz_fail("a create after recovery does not read back (%s)", cairn_errname(rc));
            cairn_free(v);
        }
        cairn_blob_close(b);
        /* after the writer's checkpoint (if its close could make one: the WAL is empty) every
         * blob is an entry of the data file */
        o.read_only = 1;
        if (wal_empty(copy) && cairn_blob_open(&b, copy, &o) == 0) {
            blob_read_all(b, "read-only open after recovery", "store.blob");
            cairn_blob_close(b);
        }
    }
    (void)cairn_blob_check(copy);
}
