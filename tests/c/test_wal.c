/* test_wal.c - Check tests of the shared write-ahead log: commit/replay semantics, torn tails,
 * damage before the tail, logs larger than the read window (streamed open and replay), reset, bad
 * headers, group commit, faults and simulated crashes. */
#include "util.h"
#include "wal/wal.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static void mk_tmp(void) { ct_tmp_create("wal"); }
static void rm_tmp(void) { ct_tmp_remove(); }

/* What replay handed out, flattened: "txid:type:payload;" */
typedef struct seen {
    char text[65536];
    size_t n;
    int calls;
} seen;

static int collect(void *ctx, uint64_t txid, unsigned type, const void *payload, size_t len, uint64_t seq) {
    seen *s = (seen *)ctx;
    (void)seq;
    s->n += (size_t)snprintf(s->text + s->n, sizeof s->text - s->n, "%llu:%u:%.*s;", (unsigned long long)txid,
                             type, (int)len, (const char *)payload);
    s->calls++;
    return 0;
}

static cairn_wal *wopen(void) {
    cairn_wal *w = NULL;
    int rc = cairn_wal__open(&w, ct_path("log"), CAIRN_WAL_CREATE, NULL);
    ck_assert_msg(rc == 0, "open: %s %s", cairn_errname(rc), cairn_errmsg());
    return w;
}

static void replay_into(cairn_wal *w, seen *s) {
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(cairn_wal__replay(w, collect, s), 0);
}

static uint64_t file_size(const char *p) {
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return (uint64_t)st.st_size;
}

static void put_txn(cairn_wal *w, const char *a, const char *b, int commit) {
    uint64_t t = cairn_wal__begin(w);
    ck_assert_int_eq(cairn_wal__append(w, t, 1, a, strlen(a)), 0);
    if (b) ck_assert_int_eq(cairn_wal__append(w, t, 2, b, strlen(b)), 0);
    if (commit) ck_assert_int_eq(cairn_wal__commit(w, t, NULL), 0);
}

START_TEST(commit_and_replay) {
    cairn_wal *w = wopen();
    cairn_wal_info info;
    seen s, s2;
    uint64_t t1, t2, seq;
    ck_assert_uint_eq(cairn_wal__size(w), CAIRN_WAL_HEADER_SIZE);
    t1 = cairn_wal__begin(w);
    t2 = cairn_wal__begin(w);
    ck_assert_uint_gt(t1, 0);
    ck_assert_uint_gt(t2, t1);
    /* interleaved transactions; t3 never commits */
    ck_assert_int_eq(cairn_wal__append(w, t1, 1, "a1", 2), 0);
    ck_assert_int_eq(cairn_wal__append(w, t2, 7, "b1", 2), 0);
    ck_assert_int_eq(cairn_wal__commit(w, t1, &seq), 0);
    ck_assert_uint_eq(seq, 3);
    ck_assert_int_eq(cairn_wal__append2(w, t2, 255, "b", 1, "2", 1), 0);
    put_txn(w, "lost", NULL, 0);
    ck_assert_int_eq(cairn_wal__append(w, t2, 3, "", 0), 0);
    ck_assert_int_eq(cairn_wal__commit(w, t2, NULL), 0);
    ck_assert_int_eq(cairn_wal__sync(w, 0), 0);
    replay_into(w, &s);
    ck_assert_str_eq(s.text, "1:1:a1;2:7:b1;2:255:b2;2:3:;");
    cairn_wal__close(w);
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), 0, &info), 0);
    ck_assert_uint_eq(info.committed, 2);
    ck_assert_uint_eq(info.records, 7);
    ck_assert_uint_eq(info.torn_bytes, 0);
    replay_into(w, &s);
    replay_into(w, &s2); /* replay is repeatable */
    ck_assert_str_eq(s.text, "1:1:a1;2:7:b1;2:255:b2;2:3:;");
    ck_assert_str_eq(s.text, s2.text);
    /* ids and sequence numbers continue after the ones found */
    ck_assert_uint_gt(cairn_wal__begin(w), 3);
    ck_assert_uint_eq(cairn_wal__last_seq(w), 7);
    cairn_wal__close(w);
    ck_assert_int_eq(cairn_wal__check(ct_path("log"), &info), 0);
    ck_assert_int_eq(cairn_wal__check(ct_path("nothing"), &info), 0);
}
END_TEST

START_TEST(bad_arguments) {
    cairn_wal *w = NULL, *r = NULL;
    uint64_t t;
    ck_assert_int_eq(cairn_wal__open(NULL, ct_path("log"), CAIRN_WAL_CREATE, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), 0, NULL), CAIRN_PATH);
    ck_assert_int_eq(cairn_wal__open(&w, ct_dir, CAIRN_WAL_CREATE, NULL), CAIRN_PATH);
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("no/log"), CAIRN_WAL_CREATE, NULL), CAIRN_PATH);
    w = wopen();
    t = cairn_wal__begin(w);
    ck_assert_int_eq(cairn_wal__append(w, 0, 1, "x", 1), CAIRN_INVALID);
    ck_assert_int_eq(cairn_wal__append(w, t, 0, "x", 1), CAIRN_INVALID);
    ck_assert_int_eq(cairn_wal__append(w, t, 256, "x", 1), CAIRN_INVALID);
    ck_assert_int_eq(cairn_wal__append(w, t, 1, NULL, 1), CAIRN_INVALID);
    ck_assert_int_eq(cairn_wal__replay(w, NULL, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_wal__commit(w, 0, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_wal__open(&r, ct_path("log"), CAIRN_WAL_RDONLY, NULL), 0);
    ck_assert_int_eq(cairn_wal__append(r, t, 1, "x", 1), CAIRN_READONLY);
    ck_assert_int_eq(cairn_wal__reset(r), CAIRN_READONLY);
    cairn_wal__close(r);
    cairn_wal__close(w);
    cairn_wal__close(NULL);
}
END_TEST

START_TEST(large_payload) {
    cairn_wal *w = wopen();
    size_t n = 3u << 20, i;
    uint8_t *big = malloc(n);
    uint64_t t;
    seen s;
    for (i = 0; i < n; i++) big[i] = (uint8_t)('a' + i % 26);
    t = cairn_wal__begin(w);
    ck_assert_int_eq(cairn_wal__append(w, t, 1, "x", 1), 0);
    ck_assert_int_eq(cairn_wal__append2(w, t, 2, "hd", 2, big, n), 0);
    ck_assert_int_eq(cairn_wal__commit(w, t, NULL), 0);
    cairn_wal__close(w);
    w = wopen();
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(cairn_wal__replay(w, collect, &s), 0);
    ck_assert_int_eq(s.calls, 2);
    ck_assert(memcmp(s.text, "1:1:x;1:2:hdabcdef", 18) == 0);
    cairn_wal__close(w);
    free(big);
}
END_TEST

/* A log of three committed transactions and its record boundaries. */
static void three_txns(uint64_t *ends) {
    cairn_wal *w = wopen();
    put_txn(w, "alpha", "beta", 1);
    ends[0] = cairn_wal__size(w);
    put_txn(w, "gamma", NULL, 1);
    ends[1] = cairn_wal__size(w);
    put_txn(w, "delta", "epsilon", 1);
    ends[2] = cairn_wal__size(w);
    ck_assert_int_eq(cairn_wal__sync(w, 0), 0);
    cairn_wal__close(w);
}

START_TEST(torn_tail_every_length) {
    uint64_t ends[3], cut;
    uint8_t *img;
    size_t n;
    three_txns(ends);
    ck_assert_int_eq(cairn_io__read_all(ct_path("log"), (void **)&img, &n), 0);
    ck_assert_uint_eq(n, ends[2]);
    for (cut = ends[1]; cut <= ends[2]; cut++) {
        cairn_wal *w = NULL;
        cairn_wal_info info;
        seen s;
        FILE *f = fopen(ct_path("log"), "wb");
        fwrite(img, 1, (size_t)cut, f);
        fclose(f);
        ck_assert_int_eq(cairn_wal__check(ct_path("log"), &info), 0);
        ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), 0, &info), 0);
        replay_into(w, &s);
        if (cut == ends[2]) {
            ck_assert_uint_eq(info.torn_bytes, 0);
            ck_assert_str_eq(s.text, "1:1:alpha;1:2:beta;2:1:gamma;3:1:delta;3:2:epsilon;");
        } else {
            ck_assert_str_eq(s.text, "1:1:alpha;1:2:beta;2:1:gamma;");
            ck_assert_uint_eq(file_size(ct_path("log")), info.end); /* the tail was cut */
            ck_assert_uint_le(info.end, cut);
        }
        /* appending after a dropped tail works and is found again */
        put_txn(w, "zeta", NULL, 1);
        cairn_wal__close(w);
        ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), 0, &info), 0);
        replay_into(w, &s);
        ck_assert_ptr_nonnull(strstr(s.text, ":1:zeta;"));
        cairn_wal__close(w);
    }
    free(img);
}
END_TEST

START_TEST(damage_before_tail_is_corrupt) {
    uint64_t ends[3], off;
    uint8_t *img;
    size_t n;
    int corrupt = 0, recovered = 0;
    three_txns(ends);
    ck_assert_int_eq(cairn_io__read_all(ct_path("log"), (void **)&img, &n), 0);
    /* flip every byte: either CORRUPT (followed by valid records), or a prefix of the commits
     * (the damage hit the last record), never a wrong payload */
    for (off = 0; off < n; off++) {
        cairn_wal *w = NULL;
        FILE *f = fopen(ct_path("log"), "wb");
        int rc;
        img[off] ^= 0x5a;
        fwrite(img, 1, n, f);
        fclose(f);
        img[off] ^= 0x5a;
        rc = cairn_wal__open(&w, ct_path("log"), CAIRN_WAL_RDONLY, NULL);
        if (rc == 0) {
            seen s;
            replay_into(w, &s);
            ck_assert(strcmp(s.text, "1:1:alpha;1:2:beta;2:1:gamma;3:1:delta;3:2:epsilon;") == 0 ||
                      strcmp(s.text, "1:1:alpha;1:2:beta;2:1:gamma;") == 0);
            ck_assert_uint_ge(off, ends[1]);
            cairn_wal__close(w);
            recovered++;
        } else {
            ck_assert_msg(rc == CAIRN_CORRUPT || rc == CAIRN_VERSION, "offset %llu: %s", (unsigned long long)off,
                          cairn_errname(rc));
            if (off >= CAIRN_WAL_HEADER_SIZE) ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "offset"));
            ck_assert_int_ne(cairn_wal__check(ct_path("log"), NULL), 0);
            corrupt++;
        }
    }
    ck_assert_int_gt(corrupt, 0);
    ck_assert_int_gt(recovered, 0);
    free(img);
}
END_TEST

/* ---- a log larger than the read window (open and replay stream it) ------------------------ */

typedef struct digest {
    uint64_t calls, bytes;
    uint32_t crc;
} digest;

static int digest_rec(void *ctx, uint64_t txid, unsigned type, const void *payload, size_t len, uint64_t seq) {
    digest *d = (digest *)ctx;
    uint8_t h[16];
    (void)seq;
    cairn_put64(h, txid);
    cairn_put32(h + 8, type);
    cairn_put32(h + 12, (uint32_t)len);
    d->crc = cairn_crc32c__update(d->crc, h, sizeof h);
    d->crc = cairn_crc32c__update(d->crc, payload, len);
    d->calls++;
    d->bytes += len;
    return 0;
}

static void fill_bytes(uint8_t *p, size_t n, uint64_t seed) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = (uint8_t)((seed * 2654435761u + i * 31u) >> 3);
}

/* 600 transactions of records from 1 byte to 700 KB (several larger than the read window), one
 * uncommitted transaction in the middle; what replay must hand out goes into *want. *first_rec_end
 * is the end of the first record, *big_off the offset of transaction 2 (its second record is the
 * 700 KB one). */
static void big_log(digest *want, uint64_t *first_rec_end, uint64_t *big_off) {
    cairn_wal *w = wopen();
    static uint8_t buf[700 * 1024];
    int i;
    memset(want, 0, sizeof *want);
    for (i = 0; i < 600; i++) {
        uint64_t t = cairn_wal__begin(w);
        size_t n1 = (size_t)(i * 37 % 700) + 1, n2 = i % 97 == 5 ? (size_t)(300 + i % 3 * 200) * 1024 : (size_t)i % 50;
        int commit = i != 300;
        if (i == 1) *big_off = cairn_wal__size(w);
        if (i == 1) n2 = sizeof buf;
        fill_bytes(buf, n1, (uint64_t)i);
        ck_assert_int_eq(cairn_wal__append(w, t, 1, buf, n1), 0);
        if (commit) digest_rec(want, t, 1, buf, n1, 0);
        if (i == 0) *first_rec_end = cairn_wal__size(w);
        fill_bytes(buf, n2, (uint64_t)i + 1000);
        ck_assert_int_eq(cairn_wal__append(w, t, 2, buf, n2), 0);
        if (commit) {
            digest_rec(want, t, 2, buf, n2, 0);
            ck_assert_int_eq(cairn_wal__commit(w, t, NULL), 0);
        }
    }
    ck_assert_int_eq(cairn_wal__sync(w, 0), 0);
    cairn_wal__close(w);
}

START_TEST(streamed_open_and_replay) {
    digest want, got;
    uint64_t first_end = 0, big_off = 0;
    cairn_wal *w = NULL;
    cairn_wal_info info;
    uint8_t *img;
    size_t n;
    big_log(&want, &first_end, &big_off);
    ck_assert_int_eq(cairn_io__read_all(ct_path("log"), (void **)&img, &n), 0);
    ck_assert_uint_gt(n, 4u << 20); /* many read windows */
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), CAIRN_WAL_RDONLY, &info), 0);
    ck_assert_uint_eq(info.image_size, n);
    ck_assert_uint_eq(info.image_crc, cairn_crc32c__update(0, img, n));
    ck_assert_uint_eq(info.end, n);
    ck_assert_uint_eq(info.torn_bytes, 0);
    ck_assert_uint_eq(info.records, 600 * 2 + 599);
    ck_assert_uint_eq(info.committed, 599);
    memset(&got, 0, sizeof got);
    ck_assert_int_eq(cairn_wal__replay(w, digest_rec, &got), 0);
    ck_assert_uint_eq(got.calls, want.calls);
    ck_assert_uint_eq(got.bytes, want.bytes);
    ck_assert_uint_eq(got.crc, want.crc);
    cairn_wal__close(w);
    ck_assert_int_eq(cairn_wal__check(ct_path("log"), &info), 0);
    ck_assert_uint_eq(info.image_crc, cairn_crc32c__update(0, img, n));
    free(img);
}
END_TEST

/* The window's tail search: a bad record early in a large log is CORRUPT because a valid record
 * (700 KB: longer than the window, so its CRC is computed across reads) follows; cutting the
 * same large record short makes it a torn tail (the records before it are kept, the image CRC
 * still covers every byte). */
START_TEST(streamed_damage_and_torn_tail) {
    digest want;
    uint64_t first_end = 0, big_off = 0;
    cairn_wal *w = NULL;
    cairn_wal_info info;
    uint8_t *img;
    size_t n;
    FILE *f;
    int rc;
    big_log(&want, &first_end, &big_off);
    ck_assert_int_eq(cairn_io__read_all(ct_path("log"), (void **)&img, &n), 0);
    /* damage the payload of the first record of transaction 2: the next valid record is its 700 KB
     * one (longer than the window: its CRC is computed across reads) */
    {
        char want_msg[128];
        uint64_t at = big_off + CAIRN_WAL_RECORD_HEADER_SIZE + 5;
        img[at] ^= 0x40;
        f = fopen(ct_path("log"), "wb");
        ck_assert_uint_eq(fwrite(img, 1, n, f), n);
        fclose(f);
        rc = cairn_wal__open(&w, ct_path("log"), CAIRN_WAL_RDONLY, &info);
        ck_assert_int_eq(rc, CAIRN_CORRUPT);
        snprintf(want_msg, sizeof want_msg, "bad record at offset %llu (valid records follow at %llu)",
                 (unsigned long long)big_off, (unsigned long long)(big_off + CAIRN_WAL_RECORD_HEADER_SIZE + 38));
        ck_assert_msg(strstr(cairn_errmsg(), want_msg) != NULL, "%s", cairn_errmsg());
        img[at] ^= 0x40;
    }
    (void)first_end;
    /* only the first transaction and a cut of the large record of the second: a torn tail */
    {
        uint64_t cut = big_off + 1024 * 512; /* inside the 700 KB record's payload */
        ck_assert_uint_lt(cut, n);
        f = fopen(ct_path("log"), "wb");
        ck_assert_uint_eq(fwrite(img, 1, (size_t)cut, f), (size_t)cut);
        fclose(f);
        ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), CAIRN_WAL_RDONLY, &info), 0);
        ck_assert_uint_eq(info.image_size, cut);
        ck_assert_uint_eq(info.image_crc, cairn_crc32c__update(0, img, (size_t)cut));
        ck_assert_uint_eq(info.end, big_off + CAIRN_WAL_RECORD_HEADER_SIZE + 38); /* its first record stays */
        ck_assert_uint_eq(info.torn_bytes, cut - info.end);
        ck_assert_uint_eq(info.committed, 1);
        cairn_wal__close(w);
        /* a writer open cuts it, and the log goes on */
        ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), 0, &info), 0);
        ck_assert_uint_eq(file_size(ct_path("log")), info.end);
        put_txn(w, "after", NULL, 1);
        cairn_wal__close(w);
        ck_assert_int_eq(cairn_wal__check(ct_path("log"), &info), 0);
        ck_assert_uint_eq(info.committed, 2);
    }
    free(img);
}
END_TEST

START_TEST(bad_header) {
    cairn_wal *w = NULL;
    uint8_t h[32];
    FILE *f;
    uint64_t ends[3];
    three_txns(ends);
    f = fopen(ct_path("log"), "r+b");
    ck_assert_uint_eq(fread(h, 1, 32, f), 32);
    cairn_put32(h + 8, 9);
    cairn_put32(h + 28, cairn_crc32c__update(0, h, 28));
    fseek(f, 0, SEEK_SET);
    fwrite(h, 1, 32, f);
    fclose(f);
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), 0, NULL), CAIRN_VERSION);
    f = fopen(ct_path("log"), "wb");
    fputs("definitely not a write-ahead log, but long enough", f);
    fclose(f);
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), 0, NULL), CAIRN_CORRUPT);
    /* shorter than a header: a crash while it was being created; starts empty */
    f = fopen(ct_path("log"), "wb");
    fputs("CAIRN", f);
    fclose(f);
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), 0, NULL), 0);
    ck_assert_uint_eq(cairn_wal__size(w), 32);
    cairn_wal__close(w);
}
END_TEST

START_TEST(reset) {
    cairn_wal *w = wopen();
    seen s;
    uint64_t seq_before;
    put_txn(w, "a", "b", 1);
    put_txn(w, "c", NULL, 1);
    seq_before = cairn_wal__last_seq(w);
    ck_assert_int_eq(cairn_wal__reset(w), 0);
    ck_assert_uint_eq(cairn_wal__size(w), 32);
    ck_assert_uint_eq(file_size(ct_path("log")), 32);
    replay_into(w, &s);
    ck_assert_int_eq(s.calls, 0);
    put_txn(w, "d", NULL, 1);
    ck_assert_uint_gt(cairn_wal__last_seq(w), seq_before);
    cairn_wal__close(w);
    w = wopen();
    replay_into(w, &s);
    ck_assert_str_eq(s.text, "3:1:d;");
    cairn_wal__close(w);
}
END_TEST

/* LSNs: info reports the first and last record and the newest commit; replay_after skips
 * transactions at or below an engine's LSN; advance numbers the log above it. */
START_TEST(lsn_info_and_replay_after) {
    cairn_wal *w = wopen();
    cairn_wal_info info;
    uint64_t t1, t2, c1 = 0, c2 = 0;
    seen s;
    t1 = cairn_wal__begin(w);
    ck_assert_int_eq(cairn_wal__append(w, t1, 1, "a", 1), 0);
    ck_assert_int_eq(cairn_wal__commit(w, t1, &c1), 0);
    t2 = cairn_wal__begin(w);
    ck_assert_int_eq(cairn_wal__append(w, t2, 1, "b", 1), 0);
    ck_assert_int_eq(cairn_wal__commit(w, t2, &c2), 0);
    put_txn(w, "open", NULL, 0); /* uncommitted: numbered, never replayed */
    ck_assert_int_eq(cairn_wal__sync(w, 0), 0);
    cairn_wal__close(w);
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), CAIRN_WAL_CREATE, &info), 0);
    ck_assert_uint_eq(info.first_seq, 1);
    ck_assert_uint_eq(info.last_commit, c2);
    ck_assert_uint_eq(info.last_seq, c2 + 1);
    ck_assert_uint_ne(info.salt, 0);
    ck_assert_int_eq(info.created, 0);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(cairn_wal__replay_after(w, c1, collect, &s), 0);
    ck_assert_str_eq(s.text, "2:1:b;");
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(cairn_wal__replay_after(w, c2, collect, &s), 0);
    ck_assert_int_eq(s.calls, 0);
    /* an engine file at LSN 1000 (the log was lost): numbering goes on above it */
    ck_assert_int_eq(cairn_wal__reset(w), 0);
    cairn_wal__advance(w, 1000);
    cairn_wal__advance(w, 10); /* never lowers it */
    ck_assert_uint_eq(cairn_wal__last_seq(w), 1000);
    put_txn(w, "c", NULL, 1);
    ck_assert_int_eq(cairn_wal__sync(w, 0), 0);
    cairn_wal__close(w);
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), 0, &info), 0);
    ck_assert_uint_eq(info.first_seq, 1001);
    ck_assert_uint_eq(info.last_commit, 1002);
    cairn_wal__close(w);
    /* a missing log is created and says so */
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("log2"), CAIRN_WAL_CREATE, &info), 0);
    ck_assert_int_eq(info.created, 1);
    ck_assert_uint_eq(info.first_seq, 0);
    ck_assert_uint_eq(info.last_commit, 0);
    cairn_wal__close(w);
}
END_TEST

/* A write that fails with nothing left in the file gives its numbers back: the next record
 * follows the last good one without a hole (engines detect missing changes by holes). */
START_TEST(failed_write_leaves_no_hole) {
    cairn_wal *w = wopen();
    cairn_wal_info info;
    uint64_t t, c = 0, last;
    put_txn(w, "a", NULL, 1);
    last = cairn_wal__last_seq(w);
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, CAIRN_FAULT_SHORT, 0);
    t = cairn_wal__begin(w);
    ck_assert_int_eq(cairn_wal__append(w, t, 1, "lost", 4), 0);
    ck_assert_int_eq(cairn_wal__commit(w, t, NULL), CAIRN_NOSPC);
    cairn_io__fault_reset();
    ck_assert_uint_eq(cairn_wal__last_seq(w), last);
    t = cairn_wal__begin(w);
    ck_assert_int_eq(cairn_wal__append(w, t, 1, "b", 1), 0);
    ck_assert_int_eq(cairn_wal__commit(w, t, &c), 0);
    ck_assert_uint_eq(c, last + 2);
    ck_assert_int_eq(cairn_wal__sync(w, 0), 0);
    cairn_wal__close(w);
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), 0, &info), 0);
    ck_assert_uint_eq(info.records, 4);
    ck_assert_uint_eq(info.last_seq, 4);
    cairn_wal__close(w);
}
END_TEST

/* KEEP_TAIL: an open that writes nothing; appends overwrite the tail, reset cuts it. */
START_TEST(keep_tail) {
    cairn_wal *w = wopen();
    cairn_wal_info info;
    seen s;
    FILE *f;
    uint64_t n;
    put_txn(w, "a", NULL, 1);
    cairn_wal__close(w);
    n = file_size(ct_path("log"));
    f = fopen(ct_path("log"), "ab");
    ck_assert_int_eq(fwrite("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 1, 40, f), 40);
    fclose(f);
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), CAIRN_WAL_KEEP_TAIL, &info), 0);
    ck_assert_uint_eq(info.torn_bytes, 40);
    ck_assert_uint_eq(file_size(ct_path("log")), n + 40); /* untouched */
    put_txn(w, "b", NULL, 1);
    ck_assert_int_eq(cairn_wal__sync(w, 0), 0);
    cairn_wal__close(w);
    w = wopen();
    replay_into(w, &s);
    ck_assert_str_eq(s.text, "1:1:a;2:1:b;");
    ck_assert_int_eq(cairn_wal__reset(w), 0);
    ck_assert_uint_eq(file_size(ct_path("log")), 32);
    cairn_wal__close(w);
}
END_TEST

static int find_delete(void *ctx, uint64_t txid, unsigned type, const void *payload, size_t len, uint64_t seq) {
    (void)txid, (void)seq;
    if (type == 2 && len == 6 && memcmp(payload, "delete", 6) == 0) ++*(int *)ctx;
    return 0;
}

/* The space reserve: on a full disk ordinary writes fail cleanly (nothing written), while the
 * reserved transaction (a delete) is logged in the space kept for it. */
START_TEST(space_reserve) {
    cairn_wal *w = wopen();
    cairn_wal_info info;
    uint64_t t, c = 0, size;
    int found = 0;
    ck_assert_int_eq(cairn_wal__set_reserve(w, 4096), 0);
    ck_assert_uint_ge(file_size(ct_path("log")), 32 + 4096);
    put_txn(w, "a", NULL, 1);
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, CAIRN_FAULT_FULL, 1);
    size = file_size(ct_path("log"));
    for (;;) { /* ordinary writes until the disk is full: they never eat the reserve */
        t = cairn_wal__begin(w);
        ck_assert_int_eq(cairn_wal__append(w, t, 1, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 32), 0);
        if (cairn_wal__commit(w, t, NULL) != 0) break;
    }
    ck_assert_int_eq(cairn_errcode(), CAIRN_NOSPC);
    ck_assert_uint_eq(file_size(ct_path("log")), size); /* nothing grew */
    t = cairn_wal__begin_reserved(w);
    ck_assert_int_eq(cairn_wal__append(w, t, 2, "delete", 6), 0);
    ck_assert_int_eq(cairn_wal__commit(w, t, &c), 0);
    ck_assert_int_eq(cairn_wal__sync(w, 0), 0);
    cairn_io__fault_reset();
    cairn_wal__close(w);
    ck_assert_int_eq(cairn_wal__open(&w, ct_path("log"), 0, &info), 0);
    ck_assert_uint_eq(info.last_commit, c);
    ck_assert_int_eq(cairn_wal__replay(w, find_delete, &found), 0);
    ck_assert_int_eq(found, 1);
    cairn_wal__close(w);
}
END_TEST

START_TEST(group_commit_one_fsync) {
    cairn_wal *w = wopen();
    uint64_t seqs[10], before;
    int i;
    for (i = 0; i < 10; i++) {
        uint64_t t = cairn_wal__begin(w);
        ck_assert_int_eq(cairn_wal__append(w, t, 1, "x", 1), 0);
        ck_assert_int_eq(cairn_wal__commit(w, t, &seqs[i]), 0);
    }
    before = cairn_io__fault_count(CAIRN_FAULT_SYNC);
    ck_assert_int_eq(cairn_wal__sync(w, seqs[9]), 0);
    ck_assert_uint_eq(cairn_io__fault_count(CAIRN_FAULT_SYNC) - before, 1);
    for (i = 0; i < 10; i++) ck_assert_int_eq(cairn_wal__sync(w, seqs[i]), 0); /* already durable */
    ck_assert_uint_eq(cairn_io__fault_count(CAIRN_FAULT_SYNC) - before, 1);
    ck_assert_uint_eq(cairn_wal__durable_seq(w), seqs[9]);
    cairn_wal__close(w);
}
END_TEST

/* Group commit, deterministically: in each round every thread commits one transaction, all wait
 * at a barrier (so every commit of the round is in the log before anyone syncs), then all sync
 * their own seq at once. Whoever syncs first fsyncs everything written so far; the others find
 * their seq durable (or wait for that fsync) and must not fsync again: exactly one fsync per round.
 * A log that fsyncs once per sync call does GC_THREADS per round and fails. A second barrier keeps
 * the next round's commits out of this round's syncs. */
#define GC_THREADS 8
#define GC_ROUNDS 25

typedef struct targ {
    cairn_wal *w;
    int id;
    pthread_barrier_t *bar;
} targ;

static void *committer(void *p) {
    targ *a = (targ *)p;
    int i;
    for (i = 0; i < GC_ROUNDS; i++) {
        char buf[32];
        uint64_t t = cairn_wal__begin(a->w), seq;
        int n = snprintf(buf, sizeof buf, "t%d-%d", a->id, i), bad;
        bad = cairn_wal__append(a->w, t, 1, buf, (size_t)n) || cairn_wal__commit(a->w, t, &seq);
        pthread_barrier_wait(a->bar); /* every commit of the round is in; never skip a barrier */
        bad = bad || cairn_wal__sync(a->w, seq) || cairn_wal__durable_seq(a->w) < seq;
        pthread_barrier_wait(a->bar); /* every sync of the round is done */
        if (bad) return (void *)1;
    }
    return NULL;
}

START_TEST(group_commit_threads) {
    cairn_wal *w = wopen();
    pthread_t th[GC_THREADS];
    pthread_barrier_t bar;
    targ a[GC_THREADS];
    seen s;
    uint64_t syncs;
    int i, j;
    ck_assert_int_eq(pthread_barrier_init(&bar, NULL, GC_THREADS), 0);
    cairn_io__fault_reset();
    for (i = 0; i < GC_THREADS; i++) {
        a[i].w = w;
        a[i].id = i;
        a[i].bar = &bar;
        ck_assert_int_eq(pthread_create(&th[i], NULL, committer, &a[i]), 0);
    }
    for (i = 0; i < GC_THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        ck_assert_ptr_null(r);
    }
    pthread_barrier_destroy(&bar);
    syncs = cairn_io__fault_count(CAIRN_FAULT_SYNC);
    fprintf(stderr, "group commit: %d commits from %d threads in %d rounds, %llu fsyncs\n",
            GC_THREADS * GC_ROUNDS, GC_THREADS, GC_ROUNDS, (unsigned long long)syncs);
    ck_assert_msg(syncs == GC_ROUNDS, "%llu fsyncs for %d rounds of %d concurrent syncs: want one per round",
                  (unsigned long long)syncs, GC_ROUNDS, GC_THREADS);
    cairn_wal__close(w);
    w = wopen();
    replay_into(w, &s);
    ck_assert_int_eq(s.calls, GC_THREADS * GC_ROUNDS);
    for (i = 0; i < GC_THREADS; i++)
        for (j = 0; j < GC_ROUNDS; j++) {
            char buf[32];
            snprintf(buf, sizeof buf, ":1:t%d-%d;", i, j);
            ck_assert_ptr_nonnull(strstr(s.text, buf));
        }
    cairn_wal__close(w);
}
END_TEST

START_TEST(write_faults) {
    int kind;
    for (kind = CAIRN_FAULT_EIO; kind <= CAIRN_FAULT_SHORT; kind++) {
        cairn_wal *w;
        uint64_t t;
        seen s;
        unlink(ct_path("log"));
        w = wopen();
        put_txn(w, "good", NULL, 1);
        t = cairn_wal__begin(w);
        ck_assert_int_eq(cairn_wal__append(w, t, 1, "doomed-record-with-some-length", 30), 0);
        cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, kind, 0);
        ck_assert_int_lt(cairn_wal__commit(w, t, NULL), 0);
        cairn_io__fault_reset();
        /* the log goes on after a failed write */
        put_txn(w, "after", NULL, 1);
        ck_assert_int_eq(cairn_wal__sync(w, 0), 0);
        cairn_wal__close(w);
        w = wopen();
        replay_into(w, &s);
        ck_assert_str_eq(s.text, "1:1:good;3:1:after;");
        cairn_wal__close(w);
    }
}
END_TEST

START_TEST(fsync_failure_is_fatal) {
    cairn_wal *w = wopen();
    uint64_t t;
    put_txn(w, "a", NULL, 1);
    cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_lt(cairn_wal__sync(w, 0), 0);
    cairn_io__fault_reset();
    ck_assert_int_ne(cairn_wal__failed(w), 0);
    t = cairn_wal__begin(w);
    ck_assert_int_eq(cairn_wal__append(w, t, 1, "x", 1), CAIRN_FAILED);
    ck_assert_int_eq(cairn_wal__sync(w, 0), CAIRN_FAILED);
    cairn_wal__close(w);
}
END_TEST

START_TEST(crash_keeps_synced_prefix) {
    int mode, round;
    for (mode = CAIRN_CRASH_DROP; mode <= CAIRN_CRASH_TEAR; mode++) {
        for (round = 0; round < 20; round++) {
            cairn_wal *w;
            seen s;
            int i;
            char want[256] = "";
            size_t wn = 0;
            unlink(ct_path("log"));
            w = wopen();
            cairn_io__crash_track(1);
            for (i = 0; i < 6; i++) {
                char buf[16];
                snprintf(buf, sizeof buf, "r%d", i);
                put_txn(w, buf, NULL, 1);
                if (i < 3) {
                    ck_assert_int_eq(cairn_wal__sync(w, 0), 0);
                    wn += (size_t)snprintf(want + wn, sizeof want - wn, "%d:1:r%d;", i + 1, i);
                }
            }
            cairn_io__crash_now(mode, (uint64_t)round * 7919u + 1);
            cairn_wal__close(w);
            cairn_io__crash_track(0);
            w = wopen();
            replay_into(w, &s);
            /* the synced three are there; the rest is a prefix of what followed */
            ck_assert_msg(strncmp(s.text, want, wn) == 0, "got %s", s.text);
            if (mode == CAIRN_CRASH_DROP) ck_assert_str_eq(s.text, want);
            for (i = 3; i < 6; i++) {
                char buf[32];
                snprintf(buf, sizeof buf, "%d:1:r%d;", i + 1, i);
                if (!strstr(s.text, buf)) {
                    int j;
                    for (j = i + 1; j < 6; j++) {
                        snprintf(buf, sizeof buf, "%d:1:r%d;", j + 1, j);
                        ck_assert_ptr_null(strstr(s.text, buf));
                    }
                    break;
                }
            }
            cairn_wal__close(w);
        }
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("wal");
    TCase *t = tcase_create("core");
    tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, commit_and_replay);
    tcase_add_test(t, bad_arguments);
    tcase_add_test(t, large_payload);
    tcase_add_test(t, streamed_open_and_replay);
    tcase_add_test(t, streamed_damage_and_torn_tail);
    tcase_add_test(t, torn_tail_every_length);
    tcase_add_test(t, damage_before_tail_is_corrupt);
    tcase_add_test(t, bad_header);
    tcase_add_test(t, reset);
    tcase_add_test(t, lsn_info_and_replay_after);
    tcase_add_test(t, failed_write_leaves_no_hole);
    tcase_add_test(t, keep_tail);
    tcase_add_test(t, space_reserve);
    tcase_add_test(t, group_commit_one_fsync);
    tcase_add_test(t, group_commit_threads);
    tcase_add_test(t, write_faults);
    tcase_add_test(t, fsync_failure_is_fatal);
    tcase_add_test(t, crash_keeps_synced_prefix);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return ct_run(suite()); }
