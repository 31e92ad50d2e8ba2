/* test_kv_corrupt.c - flip bytes in and truncate every kind of file of a KV store (sealed and
 * active data files, hints, the KEYDIR snapshot, a RECLAIM manifest). Open and reads must report
 * CAIRN_CORRUPT (naming the file), or recover: rebuild a bad hint or snapshot, cut a torn tail
 * of the active file (keys of its last commit then read an older committed value). Damage before
 * the last commit of the active file is not a torn tail: CAIRN_CORRUPT, and the file is left
 * as it is. Never a crash, never bytes that were not written for that key. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cairn.h"
#include "kv_testutil.h"
#include "util.h"

#define NKEYS 40
#define HIST 4

/* every value each key ever had (the last one is current; NULL = deleted) */
static char *g_hist[NKEYS][HIST];
static int g_nhist[NKEYS];
static char *g_pristine;

static void key_of(int i, char *k) { snprintf(k, 16, "ck%02d", i); }

static void record(int k, const char *v) {
    if (g_nhist[k] == HIST) return;
    g_hist[k][g_nhist[k]++] = v ? strdup(v) : NULL;
}

static void build(const char *dir) {
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_NONE, 600);
    int i;
    char k[16], v[64];
    for (i = 0; i < NKEYS; i++) {
        key_of(i, k);
        snprintf(v, sizeof v, "first value of %d ....", i);
        ck_assert_int_eq(kvt_put(kv, k, v), 0);
        record(i, v);
    }
    for (i = 0; i < NKEYS; i += 3) {
        key_of(i, k);
        snprintf(v, sizeof v, "second value of %d", i);
        ck_assert_int_eq(kvt_put(kv, k, v), 0);
        record(i, v);
    }
    for (i = 1; i < NKEYS; i += 7) {
        key_of(i, k);
        ck_assert_int_eq(cairn_kv_delete(kv, k, strlen(k)), 0);
        record(i, NULL);
    }
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    for (i = 2; i < NKEYS; i += 5) {
        key_of(i, k);
        snprintf(v, sizeof v, "txn value of %d", i);
        ck_assert_int_eq(kvt_put(kv, k, v), 0);
        record(i, v);
    }
    ck_assert_int_eq(cairn_kv_commit(kv), 0);
    cairn_kv_close(kv);
}

static void copy_file(const char *from, const char *to) {
    void *d = NULL;
    size_t n = 0;
    FILE *f;
    ck_assert_int_eq(cairn_io__read_all(from, &d, &n), 0);
    f = fopen(to, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) ck_assert_uint_eq(fwrite(d, 1, n, f), n);
    fclose(f);
    free(d);
}

static char *clone_store(void) {
    char *dir = kvt_tmpdir("corrupt");
    char **names;
    size_t n = kvt_list(g_pristine, "", &names), i;
    for (i = 0; i < n; i++) {
        char *a = kvt_path(g_pristine, names[i]), *b = kvt_path(dir, names[i]);
        copy_file(a, b);
        free(a);
        free(b);
    }
    kvt_list_free(names, n);
    return dir;
}

/* Open and read every key: each read is the current value, or ECORRUPT, or (older_ok: damage in
 * the active file, whose valid prefix is recovered) an older value of that key. */
static void verify(const char *dir, int older_ok, const char *what) {
    cairn_kv *kv = NULL;
    int rc = cairn_kv_open(&kv, dir, NULL), i;
    if (rc) {
        ck_assert_msg(rc == CAIRN_CORRUPT, "%s: open gave %s (%s)", what, cairn_errname(rc), cairn_errmsg());
        ck_assert_msg(strstr(cairn_errmsg(), dir) != NULL, "%s: message names no file: %s", what, cairn_errmsg());
        return;
    }
    for (i = 0; i < NKEYS; i++) {
        char k[16];
        void *v = NULL;
        size_t vl = 0;
        const char *cur = g_hist[i][g_nhist[i] - 1];
        key_of(i, k);
        rc = cairn_kv_get(kv, k, strlen(k), &v, &vl, NULL);
        if (rc == CAIRN_CORRUPT) continue;
        if (rc == 0 && cur && vl == strlen(cur) && memcmp(v, cur, vl) == 0) {
            cairn_free(v);
            continue;
        }
        if (rc == CAIRN_NOTFOUND && !cur) continue;
        if (older_ok) {
            int h, ok = rc == CAIRN_NOTFOUND; /* before its first put */
            for (h = 0; h < g_nhist[i] && !ok; h++) {
                const char *old = g_hist[i][h];
                if (rc == CAIRN_NOTFOUND && !old) ok = 1;
                if (rc == 0 && old && vl == strlen(old) && memcmp(v, old, vl) == 0) ok = 1;
            }
            if (ok) {
                cairn_free(v);
                continue;
            }
        }
        ck_abort_msg("%s: key %s read rc=%s '%.*s', want '%s'", what, k, cairn_errname(rc), rc ? 0 : (int)vl,
                     rc ? "" : (const char *)v, cur ? cur : "(absent)");
    }
    cairn_kv_close(kv);
}

static void setup(void) {
    memset(g_hist, 0, sizeof g_hist);
    memset(g_nhist, 0, sizeof g_nhist);
    g_pristine = kvt_tmpdir("pristine");
    build(g_pristine);
    kvt_write_hints(g_pristine); /* hint files, as older versions left them: they are read too */
}

static void teardown(void) {
    int i, h;
    for (i = 0; i < NKEYS; i++)
        for (h = 0; h < g_nhist[i]; h++) free(g_hist[i][h]);
    kvt_rmdir(g_pristine);
    free(g_pristine);
}

/* the active data file is the last .data name */
static int is_active(const char *name) {
    char **names;
    size_t n = kvt_list(g_pristine, ".data", &names);
    int r = n && strcmp(names[n - 1], name) == 0;
    kvt_list_free(names, n);
    return r;
}

/* Offset where the last commit (a bare record, or a batch) of a data file begins: damage from
 * there on may be a torn tail, damage before it never is. */
static uint64_t last_commit_start(const char *path) {
    void *d = NULL;
    size_t n = 0;
    const uint8_t *b;
    uint64_t pos = 0, start = 0;
    int in_batch = 0;
    ck_assert_int_eq(cairn_io__read_all(path, &d, &n), 0);
    b = (const uint8_t *)d;
    while (pos < n) {
        int type = 0, txn = 0;
        uint64_t next = kvt_next_rec(b, n, pos, &type, &txn);
        ck_assert_uint_gt(next, pos);
        if ((type == 1 || type == 2) && !txn) start = pos;
        if (txn && !in_batch) start = pos;
        in_batch = txn;
        pos = next;
    }
    ck_assert_uint_eq(pos, n);
    free(d);
    return start;
}

/* Damage that valid records follow in the active file: every open (writer, read-only) and check
 * is CAIRN_CORRUPT naming the file, and the file is not changed. */
static void expect_corrupt_untouched(const char *dir, const char *name, const char *what) {
    char *p = kvt_path(dir, name);
    void *before = NULL, *after = NULL;
    size_t nb = 0, na = 0;
    cairn_kv *kv = NULL;
    cairn_kv_options ro = CAIRN_KV_OPTIONS_INIT;
    int rc;
    ro.read_only = 1;
    ck_assert_int_eq(cairn_io__read_all(p, &before, &nb), 0);
    rc = cairn_kv_check(dir);
    ck_assert_msg(rc == CAIRN_CORRUPT, "%s: check gave %s", what, cairn_errname(rc));
    rc = cairn_kv_open(&kv, dir, &ro);
    ck_assert_msg(rc == CAIRN_CORRUPT, "%s: read-only open gave %s", what, cairn_errname(rc));
    rc = cairn_kv_open(&kv, dir, NULL);
    ck_assert_msg(rc == CAIRN_CORRUPT, "%s: open gave %s (%s)", what, cairn_errname(rc), rc ? cairn_errmsg() : "");
    ck_assert_msg(strstr(cairn_errmsg(), name) != NULL && strstr(cairn_errmsg(), "offset") != NULL,
                  "%s: message names no file and offset: %s", what, cairn_errmsg());
    ck_assert_int_eq(cairn_io__read_all(p, &after, &na), 0);
    ck_assert_msg(na == nb && memcmp(before, after, na) == 0, "%s: the data file changed (%zu -> %zu bytes)", what, nb,
                  na);
    free(before);
    free(after);
    free(p);
}

static void damage_each(const char *suffix, int expect_check_fail) {
    char **names;
    size_t n = kvt_list(g_pristine, suffix, &names), i;
    ck_assert_uint_gt(n, 0);
    for (i = 0; i < n; i++) {
        char *p0 = kvt_path(g_pristine, names[i]);
        uint64_t size = kvt_fsize(p0), off, step = size / 60 + 1;
        int active = strcmp(suffix, ".data") == 0 && is_active(names[i]);
        uint64_t cuts[5], torn_from = active ? last_commit_start(p0) : 0;
        int c;
        free(p0);
        for (off = 0; off < size; off += step) {
            char *dir = clone_store(), *p = kvt_path(dir, names[i]), what[256];
            int rc;
            kvt_flip(p, off);
            snprintf(what, sizeof what, "flip %s @%llu", names[i], (unsigned long long)off);
            if (active && off < torn_from) {
                /* with KEYDIR the open scans nothing, and reads find the damage; without it the
                 * open does, and must not take it for a torn tail */
                char *kd = kvt_path(dir, "KEYDIR");
                rc = cairn_kv_check(dir);
                ck_assert_msg(rc == CAIRN_CORRUPT, "%s: check gave %s", what, cairn_errname(rc));
                verify(dir, 0, what);
                unlink(kd);
                free(kd);
                expect_corrupt_untouched(dir, names[i], what);
                free(p);
                kvt_rmdir(dir);
                free(dir);
                continue;
            }
            rc = cairn_kv_check(dir);
            if (expect_check_fail && !active)
                ck_assert_msg(rc == CAIRN_CORRUPT, "%s: check gave %s", what, cairn_errname(rc));
            verify(dir, active, what);
            verify(dir, active, what); /* and again after whatever the first open repaired */
            free(p);
            kvt_rmdir(dir);
            free(dir);
        }
        cuts[0] = 0;
        cuts[1] = 1;
        cuts[2] = size / 2;
        cuts[3] = size > 0 ? size - 1 : 0;
        cuts[4] = size > 7 ? size - 7 : 0;
        for (c = 0; c < 5; c++) {
            char *dir = clone_store(), *p = kvt_path(dir, names[i]), what[256];
            kvt_truncate(p, cuts[c]);
            snprintf(what, sizeof what, "truncate %s to %llu", names[i], (unsigned long long)cuts[c]);
            verify(dir, active, what);
            verify(dir, active, what);
            free(p);
            kvt_rmdir(dir);
            free(dir);
        }
    }
    kvt_list_free(names, n);
}

START_TEST(damage_data_files) { damage_each(".data", 1); }
END_TEST

START_TEST(damage_hint_files) { damage_each(".hint", 0); }
END_TEST

START_TEST(damage_keydir_snapshot) { damage_each("KEYDIR", 0); }
END_TEST

START_TEST(sealed_file_cut_at_record_boundary) {
    /* a sealed file that lost whole records still scans cleanly; its hint gives it away */
    char *dir = clone_store(), **names;
    size_t n = kvt_list(dir, ".data", &names);
    char *p = kvt_path(dir, names[0]), *kd = kvt_path(dir, "KEYDIR");
    cairn_kv *kv = NULL;
    uint64_t size = kvt_fsize(p), rs = kvt_rec3(CAIRN_KIND_TEXT, 4, strlen("first value of 0 ...."), 0);
    ck_assert_uint_gt(n, 2);
    ck_assert_uint_gt(size, rs * 2);
    kvt_truncate(p, rs); /* the first record is ck00's first put: keep exactly it */
    unlink(kd);
    ck_assert_int_eq(cairn_kv_open(&kv, dir, NULL), CAIRN_CORRUPT);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), names[0]));
    ck_assert_int_eq(cairn_kv_check(dir), CAIRN_CORRUPT);
    kvt_list_free(names, n);
    free(p);
    free(kd);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* Without a hint only the SEAL record can tell that a sealed file lost its last records: cut the
 * first sealed file right after its first data record (a record boundary: the rest scans clean). */
START_TEST(sealed_file_cut_at_record_boundary_no_hint) {
    char *dir = clone_store(), **names, **hints;
    size_t n = kvt_list(dir, ".data", &names), nh = kvt_list(dir, ".hint", &hints), i;
    char *p = kvt_path(dir, names[0]), *kd = kvt_path(dir, "KEYDIR");
    cairn_kv *kv = NULL;
    cairn_kv_options ro = CAIRN_KV_OPTIONS_INIT;
    uint64_t rs = kvt_rec3(CAIRN_KIND_TEXT, 4, strlen("first value of 0 ...."), 0);
    uint64_t size = kvt_fsize(p), cut = KVT_FILE3 + rs; /* its FILE record, then ck00's first put */
    ck_assert_uint_gt(n, 2);
    ck_assert_uint_gt(size, cut + rs);
    for (i = 0; i < nh; i++) {
        char *h = kvt_path(dir, hints[i]);
        unlink(h);
        free(h);
    }
    unlink(kd);
    kvt_truncate(p, cut);
    ro.read_only = 1;
    ck_assert_int_eq(cairn_kv_open(&kv, dir, &ro), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_kv_check(dir), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_kv_open(&kv, dir, NULL), CAIRN_CORRUPT);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), names[0]));
    ck_assert_uint_eq(kvt_fsize(p), cut);
    /* a sealed file cut to nothing is caught too */
    kvt_truncate(p, 0);
    ck_assert_int_eq(cairn_kv_open(&kv, dir, NULL), CAIRN_CORRUPT);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), names[0]));
    kvt_list_free(names, n);
    kvt_list_free(hints, nh);
    free(p);
    free(kd);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* The repro of a damaged active file: a byte in its middle. Every later record (a delete among
 * them) must not be thrown away: the open is CAIRN_CORRUPT and the file keeps every byte. */
START_TEST(active_file_damage_before_valid_records) {
    char *dir = kvt_tmpdir("mid"), **names, *kd = kvt_path(dir, "KEYDIR");
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_COMMIT, 0);
    size_t n;
    /* in the FILE record, in the first put, in the delete (records of 48, 11, 11, 8, 13 bytes:
     * kvt_put writes text, which has the long form) */
    uint64_t offs[3] = {45, KVT_FILE3 + 5, KVT_FILE3 + 22 + 4};
    int j;
    ck_assert_int_eq(kvt_put(kv, "a", "one"), 0);
    ck_assert_int_eq(kvt_put(kv, "b", "two"), 0);
    ck_assert_int_eq(cairn_kv_delete(kv, "a", 1), 0);
    ck_assert_int_eq(kvt_put(kv, "c", "three"), 0);
    cairn_kv_close(kv);
    unlink(kd);
    n = kvt_list(dir, ".data", &names);
    ck_assert_uint_eq(n, 1);
    for (j = 0; j < 3; j++) {
        char *p = kvt_path(dir, names[0]), what[64];
        int fd = open(p, O_RDWR);
        unsigned char old = 0;
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pread(fd, &old, 1, (off_t)offs[j]), 1);
        ck_assert_int_eq(pwrite(fd, "X", 1, (off_t)offs[j]), 1);
        snprintf(what, sizeof what, "'X' at %llu", (unsigned long long)offs[j]);
        expect_corrupt_untouched(dir, names[0], what);
        ck_assert_int_eq(pwrite(fd, &old, 1, (off_t)offs[j]), 1);
        close(fd);
        free(p);
    }
    /* undamaged again: everything is there */
    kv = kvt_open(dir, CAIRN_SYNC_COMMIT, 0);
    {
        char *v = NULL;
        ck_assert_int_eq(kvt_get(kv, "a", &v), 0);
        ck_assert_int_eq(kvt_get(kv, "b", &v), 1);
        ck_assert_str_eq(v, "two");
        free(v);
        ck_assert_int_eq(kvt_get(kv, "c", &v), 1);
        ck_assert_str_eq(v, "three");
        free(v);
    }
    cairn_kv_close(kv);
    kvt_list_free(names, n);
    free(kd);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* A version 1 record (no FILE or SEAL framing existed then). */
static size_t v1_rec(uint8_t *out, const char *k, const char *v, uint64_t seq) {
    size_t kl = strlen(k), vl = strlen(v);
    memset(out, 0, 32);
    out[4] = 1; /* PUT */
    cairn_put32(out + 8, (uint32_t)vl);
    cairn_put16(out + 12, (uint16_t)kl);
    cairn_put64(out + 16, seq);
    memcpy(out + 32, k, kl);
    memcpy(out + 32 + kl, v, vl);
    cairn_put32(out, cairn_crc32c__update(0, out + 4, 28 + kl + vl));
    return 32 + kl + vl;
}

/* A store written by version 1 (a sealed file and an active file, neither framed) still opens,
 * takes appends, rotates, reclaims and checks clean. */
START_TEST(version1_files_still_read) {
    char *dir = kvt_tmpdir("v1"), *v = NULL;
    char *a = kvt_path(dir, "0000000100000000.data"), *b = kvt_path(dir, "0000000200000000.data");
    uint8_t buf[512];
    size_t n;
    FILE *f;
    cairn_kv *kv;
    int i;
    n = v1_rec(buf, "old1", "sealed value", 1);
    n += v1_rec(buf + n, "old2", "another", 2);
    f = fopen(a, "wb");
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
    n = v1_rec(buf, "old1", "newer value", 3);
    f = fopen(b, "wb");
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
    ck_assert_int_eq(cairn_kv_check(dir), 0);
    kv = kvt_open(dir, CAIRN_SYNC_COMMIT, 300);
    ck_assert_ptr_nonnull(kv);
    ck_assert_int_eq(kvt_get(kv, "old1", &v), 1);
    ck_assert_str_eq(v, "newer value");
    free(v);
    for (i = 0; i < 20; i++) ck_assert_int_eq(kvt_put(kv, "new", "appended after the v1 records"), 0);
    cairn_kv_close(kv);
    v = kvt_path(dir, "KEYDIR");
    unlink(v); /* the next open scans the v1 files again */
    free(v);
    ck_assert_int_eq(cairn_kv_check(dir), 0);
    kv = kvt_open(dir, CAIRN_SYNC_COMMIT, 300);
    ck_assert_int_eq(kvt_get(kv, "old2", &v), 1);
    ck_assert_str_eq(v, "another");
    free(v);
    ck_assert_int_eq(cairn_kv_compact(kv), 0);
    ck_assert_int_eq(kvt_get(kv, "old1", &v), 1);
    ck_assert_str_eq(v, "newer value");
    free(v);
    cairn_kv_close(kv);
    ck_assert_int_eq(cairn_kv_check(dir), 0);
    free(a);
    free(b);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* A version 2 record (32-byte header, every record carries its seq). */
static size_t v2_rec(uint8_t *out, int type, int flags, int kind, const char *k, const void *v, size_t vl, uint64_t seq,
                     int64_t expire) {
    size_t kl = k ? strlen(k) : 0;
    memset(out, 0, 32);
    out[4] = (uint8_t)type;
    out[5] = (uint8_t)flags;
    out[6] = (uint8_t)kind;
    cairn_put32(out + 8, (uint32_t)vl);
    cairn_put16(out + 12, (uint16_t)kl);
    cairn_put64(out + 16, seq);
    cairn_put64(out + 24, (uint64_t)expire);
    if (kl) memcpy(out + 32, k, kl);
    if (vl) memcpy(out + 32 + kl, v, vl);
    cairn_put32(out, cairn_crc32c__update(0, out + 4, 28 + kl + vl));
    return 32 + kl + vl;
}

/* A version 2 FILE (a = order, b = 2), SEAL (a = its offset) or COMMIT (a = count) record. */
static size_t v2_mark(uint8_t *out, int type, uint64_t a, uint32_t b, uint64_t seq) {
    uint8_t v[16];
    memset(v, 0, sizeof v);
    if (type == 3) {
        cairn_put32(v, (uint32_t)a);
        return v2_rec(out, 3, 0, 0, NULL, v, 8, seq, 0);
    }
    cairn_put64(v, a);
    cairn_put32(v + 8, b);
    return v2_rec(out, type, 0, 0, NULL, v, 16, seq, 0);
}

static void expect_str(cairn_kv *kv, const char *k, const char *want) {
    char *v = NULL;
    int rc = kvt_get(kv, k, &v);
    if (!want) {
        ck_assert_msg(rc == 0, "%s: present (%s)", k, v ? v : "");
        return;
    }
    ck_assert_msg(rc == 1, "%s: rc %d (%s)", k, rc, cairn_errmsg());
    ck_assert_str_eq(v, want);
    free(v);
}

/* The version its FILE record names (a FILE has the 32-byte header in every version). */
static uint32_t file_version(const char *path) {
    uint8_t b[48] = {0};
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(b, 1, 48, f), 48);
    fclose(f);
    ck_assert_int_eq(b[4], 4);
    return cairn_get32(b + 40);
}

/* A store written by version 2 (a sealed framed file, and an active framed file holding a batch and
 * an expired put) opens and reads with every value, seq and rule of version 2; the first append
 * seals the version 2 active file (with a version 2 SEAL) and starts a version 3 file; compaction
 * writes version 3; check is clean throughout, also without KEYDIR. */
START_TEST(version2_store_still_read) {
    char *dir = kvt_tmpdir("v2"), *kd = kvt_path(dir, "KEYDIR");
    char *a = kvt_path(dir, "0000000100000000.data"), *b = kvt_path(dir, "0000000200000000.data");
    char *c = kvt_path(dir, "0000000300000000.data");
    uint8_t buf[1024];
    size_t n;
    uint64_t bsize;
    FILE *f;
    cairn_kv *kv;
    cairn_kv_options ro = CAIRN_KV_OPTIONS_INIT;
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    char **names;
    size_t nn, i;
    n = v2_mark(buf, 4, 0x100000000ull, 2, 0);
    n += v2_rec(buf + n, 1, 0, CAIRN_KIND_TEXT, "old1", "sealed value", 12, 1, 0);
    n += v2_rec(buf + n, 1, 0, CAIRN_KIND_TEXT, "old2", "another", 7, 2, 0);
    n += v2_rec(buf + n, 1, 0, CAIRN_KIND_TEXT, "tmp", "x", 1, 3, 0);
    n += v2_rec(buf + n, 2, 0, 0, "tmp", NULL, 0, 4, 0);
    n += v2_mark(buf + n, 5, n, 0, 4);
    f = fopen(a, "wb");
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
    n = v2_mark(buf, 4, 0x200000000ull, 2, 4);
    n += v2_rec(buf + n, 1, 1, CAIRN_KIND_TEXT, "old1", "newer value", 11, 5, 0);
    n += v2_rec(buf + n, 1, 1, CAIRN_KIND_TEXT, "b1", "batch", 5, 5, 0);
    n += v2_mark(buf + n, 3, 2, 0, 5);
    n += v2_rec(buf + n, 1, 0, CAIRN_KIND_TEXT, "exp", "gone", 4, 6, 1); /* expired in 1970 */
    f = fopen(b, "wb");
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
    bsize = n;
    ck_assert_int_eq(cairn_kv_check(dir), 0);
    ro.read_only = 1;
    ck_assert_int_eq(cairn_kv_open(&kv, dir, &ro), 0);
    expect_str(kv, "old1", "newer value");
    expect_str(kv, "old2", "another");
    expect_str(kv, "b1", "batch");
    expect_str(kv, "tmp", NULL);
    expect_str(kv, "exp", NULL);
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_uint_eq(st.seq, 6);
    cairn_kv_close(kv);
    /* a writer: the first append retires the version 2 active file */
    kv = kvt_open(dir, CAIRN_SYNC_COMMIT, 0);
    ck_assert_ptr_nonnull(kv);
    expect_str(kv, "old1", "newer value");
    ck_assert_int_eq(kvt_put(kv, "new", "v3 record"), 0);
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_uint_eq(st.seq, 7);
    cairn_kv_close(kv);
    ck_assert_uint_eq(kvt_fsize(b), bsize + 48); /* its version 2 SEAL */
    ck_assert_uint_eq(file_version(a), 2);
    ck_assert_uint_eq(file_version(c), 3);
    unlink(kd);
    ck_assert_int_eq(cairn_kv_check(dir), 0);
    kv = kvt_open(dir, CAIRN_SYNC_COMMIT, 0);
    ck_assert_ptr_nonnull(kv);
    expect_str(kv, "new", "v3 record");
    expect_str(kv, "old2", "another");
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_uint_eq(st.seq, 7);
    ck_assert_int_eq(cairn_kv_compact(kv), 0);
    expect_str(kv, "old1", "newer value");
    expect_str(kv, "b1", "batch");
    ck_assert_int_eq(kvt_put(kv, "after", "compaction"), 0);
    cairn_kv_close(kv);
    nn = kvt_list(dir, ".data", &names);
    ck_assert_uint_gt(nn, 0);
    for (i = 0; i < nn; i++) {
        char *p = kvt_path(dir, names[i]);
        ck_assert_uint_eq(file_version(p), 3); /* only version 3 files are left */
        free(p);
    }
    kvt_list_free(names, nn);
    unlink(kd);
    ck_assert_int_eq(cairn_kv_check(dir), 0);
    kv = kvt_open(dir, CAIRN_SYNC_COMMIT, 0);
    expect_str(kv, "old1", "newer value");
    expect_str(kv, "old2", "another");
    expect_str(kv, "b1", "batch");
    expect_str(kv, "after", "compaction");
    expect_str(kv, "tmp", NULL);
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_uint_eq(st.seq, 8);
    cairn_kv_close(kv);
    free(a);
    free(b);
    free(c);
    free(kd);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(bad_reclaim_manifest_and_leftovers) {
    char *dir = clone_store(), *p = kvt_path(dir, "RECLAIM"), *t = kvt_path(dir, "00000000deadbeef.data.tmp");
    FILE *f = fopen(p, "wb");
    cairn_kv *kv = NULL;
    fputs("garbage that is not a manifest", f);
    fclose(f);
    ck_assert_int_eq(cairn_kv_open(&kv, dir, NULL), CAIRN_CORRUPT);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "RECLAIM"));
    unlink(p);
    f = fopen(t, "wb");
    fputs("half-written reclaim output", f);
    fclose(f);
    verify(dir, 0, "leftover tmp");
    ck_assert_int_eq(access(t, F_OK), -1); /* removed by the writable open */
    free(p);
    free(t);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("kv_corrupt");
    TCase *tc = tcase_create("corrupt");
    SRunner *sr;
    int failed;
    kvt_prefer_shm = 1;
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, damage_data_files);
    tcase_add_test(tc, damage_hint_files);
    tcase_add_test(tc, damage_keydir_snapshot);
    tcase_add_test(tc, sealed_file_cut_at_record_boundary);
    tcase_add_test(tc, sealed_file_cut_at_record_boundary_no_hint);
    tcase_add_test(tc, active_file_damage_before_valid_records);
    tcase_add_test(tc, version1_files_still_read);
    tcase_add_test(tc, version2_store_still_read);
    tcase_add_test(tc, bad_reclaim_manifest_and_leftovers);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
