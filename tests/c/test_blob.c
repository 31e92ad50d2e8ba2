/* test_blob.c - Check tests of the blob store: every operation and error, placement and
 * coalescing (through stats and file size), the seed's three bugs, events, transactions,
 * compaction, read-only opens, threads, and a model-based randomized test with reopens. */
#include "cairn.h"
#include "util.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define EH 32u  /* entry header */
#define FH 64u  /* file header */

static void mk_tmp(void) { ct_tmp_create("blob"); }
static void rm_tmp(void) { ct_tmp_remove(); }

static cairn_blob *open_store(const char *name, int sync) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    cairn_blob *b = NULL;
    int rc;
    o.sync = sync;
    rc = cairn_blob_open(&b, ct_path(name), &o);
    ck_assert_msg(rc == 0, "open: %s %s", cairn_errname(rc), cairn_errmsg());
    return b;
}

static cairn_blob *reopen(cairn_blob *b, const char *name) {
    cairn_blob_close(b);
    return open_store(name, CAIRN_SYNC_COMMIT);
}

static void fill(uint8_t *p, size_t n, unsigned seed) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

static uint32_t create_n(cairn_blob *b, size_t n, unsigned seed) {
    uint8_t *p = malloc(n ? n : 1);
    uint32_t k = 0;
    int rc;
    fill(p, n, seed);
    rc = cairn_blob_create(b, p, n, &k);
    ck_assert_msg(rc == 0, "create: %s %s", cairn_errname(rc), cairn_errmsg());
    free(p);
    return k;
}

static void expect_blob(cairn_blob *b, uint32_t key, size_t n, unsigned seed) {
    uint8_t *want = malloc(n ? n : 1);
    void *got = NULL;
    size_t len = 99;
    int rc = cairn_blob_read(b, key, &got, &len);
    ck_assert_msg(rc == 0, "read %u: %s %s", key, cairn_errname(rc), cairn_errmsg());
    ck_assert_uint_eq(len, n);
    fill(want, n, seed);
    ck_assert(memcmp(want, got, n) == 0);
    cairn_free(got);
    free(want);
}

static struct cairn_blob_stats stats(cairn_blob *b) {
    struct cairn_blob_stats s = CAIRN_BLOB_STATS_INIT;
    ck_assert_int_eq(cairn_blob_stats(b, &s), 0);
    return s;
}

/* ---- basic operations ------------------------------------------------------------------- */

START_TEST(crud_and_reopen) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    uint32_t k1, k2, k3;
    uint64_t n;
    void *p;
    size_t len;
    k1 = create_n(b, 10, 1);
    k2 = create_n(b, 1000, 2);
    k3 = create_n(b, 0, 3);
    ck_assert_uint_eq(k1, 1);
    ck_assert_uint_eq(k2, 2);
    ck_assert_uint_eq(k3, 3);
    expect_blob(b, k1, 10, 1);
    expect_blob(b, k2, 1000, 2);
    expect_blob(b, k3, 0, 3);
    ck_assert_int_eq(cairn_blob_exists(b, k1), 1);
    ck_assert_int_eq(cairn_blob_exists(b, 77), 0);
    ck_assert_int_eq(cairn_blob_count(b, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(cairn_blob_read(b, 77, &p, &len), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_blob_update(b, 77, "x", 1), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_blob_delete(b, 77), CAIRN_NOTFOUND);
    {
        uint8_t big[3000];
        fill(big, sizeof big, 9);
        ck_assert_int_eq(cairn_blob_update(b, k1, big, sizeof big), 0);
    }
    expect_blob(b, k1, 3000, 9);
    ck_assert_int_eq(cairn_blob_delete(b, k2), 0);
    ck_assert_int_eq(cairn_blob_exists(b, k2), 0);
    ck_assert_int_eq(cairn_blob_delete(b, k2), CAIRN_NOTFOUND);
    b = reopen(b, "s.db");
    expect_blob(b, k1, 3000, 9);
    expect_blob(b, k3, 0, 3);
    ck_assert_int_eq(cairn_blob_exists(b, k2), 0);
    ck_assert_int_eq(cairn_blob_count(b, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(create_n(b, 5, 4), 4); /* the counter survived */
    cairn_blob_close(b);
    ck_assert_int_eq(cairn_blob_check(ct_path("s.db")), 0);
}
END_TEST

START_TEST(iterate_keys) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_NONE);
    cairn_blob_iter *it = NULL;
    uint32_t k, prev = 0, i;
    size_t seen = 0;
    for (i = 0; i < 50; i++) create_n(b, i, i);
    ck_assert_int_eq(cairn_blob_create_with_key(b, 1000000, "x", 1), 0);
    ck_assert_int_eq(cairn_blob_delete(b, 10), 0);
    ck_assert_int_eq(cairn_blob_iter_open(&it, b), 0);
    ck_assert_int_eq(cairn_blob_delete(b, 11), 0); /* the cursor is a snapshot */
    while (cairn_blob_iter_next(it, &k) == 0) {
        ck_assert(seen == 0 || k > prev);
        ck_assert_uint_ne(k, 10);
        prev = k;
        seen++;
    }
    ck_assert_uint_eq(seen, 50);
    ck_assert_uint_eq(prev, 1000000);
    ck_assert_int_eq(cairn_blob_iter_next(it, &k), CAIRN_ITEROVER);
    cairn_blob_iter_free(it);
    cairn_blob_iter_free(NULL);
    cairn_blob_close(b);
}
END_TEST

START_TEST(bad_input) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    cairn_blob *b = NULL, *b2 = NULL;
    uint32_t k;
    void *p;
    size_t len;
    uint64_t n;
    cairn_blob_iter *it;
    FILE *f;
    ck_assert_int_eq(cairn_blob_open(NULL, ct_path("x"), NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_open(&b, NULL, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_open(&b, ct_dir, NULL), CAIRN_PATH);
    o.create = 0;
    ck_assert_int_eq(cairn_blob_open(&b, ct_path("missing"), &o), CAIRN_PATH);
    o.create = 1;
    o.read_only = 1;
    ck_assert_int_eq(cairn_blob_open(&b, ct_path("missing"), &o), CAIRN_PATH);
    o.read_only = 0;
    o.sync = 9;
    ck_assert_int_eq(cairn_blob_open(&b, ct_path("s.db"), &o), CAIRN_INVALID);
    o.sync = 0;
    o.version = 99;
    ck_assert_int_eq(cairn_blob_open(&b, ct_path("s.db"), &o), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_open(&b, ct_path("nodir/s.db"), NULL), CAIRN_PATH);
    ck_assert_ptr_null(b);
    /* not a blob store */
    f = fopen(ct_path("text.db"), "wb");
    fputs("this is certainly not a cairn blob store, it is a text file with enough bytes in it", f);
    fclose(f);
    ck_assert_int_eq(cairn_blob_open(&b, ct_path("text.db"), NULL), CAIRN_CORRUPT);
    f = fopen(ct_path("empty.db"), "wb");
    fclose(f);
    ck_assert_int_eq(cairn_blob_open(&b, ct_path("empty.db"), NULL), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_blob_check(ct_path("text.db")), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_blob_check(ct_path("missing")), CAIRN_PATH);
    ck_assert_int_eq(cairn_blob_check(NULL), CAIRN_INVALID);

    b = open_store("s.db", CAIRN_SYNC_COMMIT);
    ck_assert_int_eq(cairn_blob_create(NULL, "x", 1, &k), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_create(b, NULL, 1, &k), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_create(b, "x", 1, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_create(b, "x", (size_t)CAIRN_VALUE_MAX + 1, &k), CAIRN_TOOBIG);
    ck_assert_int_eq(cairn_blob_create(b, NULL, 0, &k), 0); /* empty with NULL is fine */
    ck_assert_int_eq(cairn_blob_create_with_key(b, 5, "x", (size_t)CAIRN_VALUE_MAX + 1), CAIRN_TOOBIG);
    ck_assert_int_eq(cairn_blob_create_with_key(b, 5, NULL, 3), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_create_with_key(NULL, 5, "x", 1), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_update(b, k, "x", (size_t)CAIRN_VALUE_MAX + 1), CAIRN_TOOBIG);
    ck_assert_int_eq(cairn_blob_update(b, k, NULL, 1), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_update(NULL, k, "x", 1), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_delete(NULL, k), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_read(b, k, NULL, &len), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_read(b, k, &p, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_read(NULL, k, &p, &len), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_exists(NULL, k), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_count(b, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_count(NULL, &n), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_iter_open(NULL, b), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_iter_open(&it, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_iter_next(NULL, &k), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_reserve_next_key(b, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_stats(b, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_subscribe(b, NULL, NULL, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_unsubscribe(b, 12345), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_blob_sync(NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_compact(NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_begin(NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_commit(NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_rollback(NULL), CAIRN_INVALID);
    /* transactions misused */
    ck_assert_int_eq(cairn_blob_commit(b), CAIRN_TXN);
    ck_assert_int_eq(cairn_blob_rollback(b), CAIRN_TXN);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_begin(b), CAIRN_TXN);
    ck_assert_int_eq(cairn_blob_compact(b), CAIRN_TXN);
    ck_assert_int_eq(cairn_blob_sync(b), 0); /* syncs what was committed; the transaction goes on */
    ck_assert_int_eq(cairn_blob_rollback(b), 0);
    /* one writer */
    ck_assert_int_eq(cairn_blob_open(&b2, ct_path("s.db"), NULL), CAIRN_LOCKED);
    o = (cairn_blob_options)CAIRN_BLOB_OPTIONS_INIT;
    o.lock_timeout_ms = 30;
    ck_assert_int_eq(cairn_blob_open(&b2, ct_path("s.db"), &o), CAIRN_BUSY);
    /* a reader may come in */
    o.read_only = 1;
    ck_assert_int_eq(cairn_blob_open(&b2, ct_path("s.db"), &o), 0);
    ck_assert_int_eq(cairn_blob_create(b2, "x", 1, &k), CAIRN_READONLY);
    ck_assert_int_eq(cairn_blob_update(b2, 1, "x", 1), CAIRN_READONLY);
    ck_assert_int_eq(cairn_blob_delete(b2, 1), CAIRN_READONLY);
    ck_assert_int_eq(cairn_blob_reserve_next_key(b2, &k), CAIRN_READONLY);
    ck_assert_int_eq(cairn_blob_create_with_key(b2, 100, "x", 1), CAIRN_READONLY);
    ck_assert_int_eq(cairn_blob_begin(b2), CAIRN_READONLY);
    ck_assert_int_eq(cairn_blob_compact(b2), CAIRN_READONLY);
    ck_assert_int_eq(cairn_blob_sync(b2), 0);
    cairn_blob_close(b2);
    cairn_blob_close(b);
    cairn_blob_close(NULL);
    /* the lock is released at close */
    b = open_store("s.db", CAIRN_SYNC_COMMIT);
    cairn_blob_close(b);
}
END_TEST

START_TEST(bad_version) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    uint8_t h[64];
    FILE *f;
    create_n(b, 3, 3);
    cairn_blob_close(b);
    f = fopen(ct_path("s.db"), "r+b");
    ck_assert_uint_eq(fread(h, 1, 64, f), 64);
    cairn_put32(h + 8, 7);
    cairn_put32(h + 60, cairn_crc32c__update(0, h, 60));
    fseek(f, 0, SEEK_SET);
    fwrite(h, 1, 64, f);
    fclose(f);
    ck_assert_int_eq(cairn_blob_open(&b, ct_path("s.db"), NULL), CAIRN_VERSION);
    ck_assert_ptr_null(b);
}
END_TEST


static cairn_blob *volatile g_held; /* still reachable in the forked child (valgrind) */

START_TEST(lock_across_processes) {
    cairn_blob *b = g_held = open_store("s.db", CAIRN_SYNC_COMMIT);
    pid_t pid;
    int status;
    create_n(b, 3, 3);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        cairn_blob *c = NULL;
        cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
        int rc = cairn_blob_open(&c, ct_path("s.db"), NULL);
        if (rc != CAIRN_LOCKED) _exit(1);
        o.read_only = 1; /* readers need no lock */
        if (cairn_blob_open(&c, ct_path("s.db"), &o) != 0 || cairn_blob_exists(c, 1) != 1) _exit(2);
        cairn_blob_close(c);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    cairn_blob_close(b);
    /* a writer that dies releases the lock */
    pid = fork();
    if (pid == 0) {
        cairn_blob *c = NULL;
        if (cairn_blob_open(&c, ct_path("s.db"), NULL) != 0) _exit(1);
        raise(SIGKILL);
        _exit(3);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    b = open_store("s.db", CAIRN_SYNC_COMMIT);
    expect_blob(b, 1, 3, 3);
    cairn_blob_close(b);
}
END_TEST

/* ---- keys ------------------------------------------------------------------------------- */

START_TEST(keys_never_reused) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    uint32_t k, r;
    k = create_n(b, 4, 1);
    ck_assert_int_eq(cairn_blob_delete(b, k), 0);
    b = reopen(b, "s.db");
    ck_assert_uint_eq(create_n(b, 4, 1), k + 1); /* the deleted max key is not handed out again */
    ck_assert_int_eq(cairn_blob_reserve_next_key(b, &r), 0);
    ck_assert_uint_eq(r, k + 2);
    b = reopen(b, "s.db");
    ck_assert_int_eq(cairn_blob_exists(b, r), 0);
    ck_assert_uint_eq(stats(b).next_key, r + 1); /* the reservation is durable */
    ck_assert_int_eq(cairn_blob_create_with_key(b, r, "abc", 3), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(b, r, "abc", 3), CAIRN_EXISTS);
    ck_assert_uint_eq(create_n(b, 1, 1), r + 1);
    /* explicit key 0 and UINT32_MAX are fine; after UINT32_MAX the auto keys are exhausted */
    ck_assert_int_eq(cairn_blob_create_with_key(b, 0, "zero", 4), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(b, UINT32_MAX, "max", 3), 0);
    ck_assert_int_eq(cairn_blob_create(b, "x", 1, &k), CAIRN_RANGE);
    ck_assert_int_eq(cairn_blob_reserve_next_key(b, &k), CAIRN_RANGE);
    b = reopen(b, "s.db");
    ck_assert_int_eq(cairn_blob_create(b, "x", 1, &k), CAIRN_RANGE);
    ck_assert_int_eq(cairn_blob_exists(b, 0), 1);
    ck_assert_int_eq(cairn_blob_exists(b, UINT32_MAX), 1);
    cairn_blob_close(b);
}
END_TEST

/* ---- the seed's bugs -------------------------------------------------------------------- */

START_TEST(seed_zero_length_reopen) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    uint32_t k = create_n(b, 0, 0), k2;
    void *p;
    size_t len = 7;
    b = reopen(b, "s.db");
    ck_assert_int_eq(cairn_blob_read(b, k, &p, &len), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_nonnull(p);
    cairn_free(p);
    ck_assert_int_eq(cairn_blob_update(b, k, "", 0), 0);
    k2 = create_n(b, 5, 5);
    ck_assert_int_eq(cairn_blob_update(b, k2, NULL, 0), 0);
    b = reopen(b, "s.db");
    expect_blob(b, k, 0, 0);
    expect_blob(b, k2, 0, 0);
    cairn_blob_close(b);
    ck_assert_int_eq(cairn_blob_check(ct_path("s.db")), 0);
}
END_TEST

START_TEST(seed_explicit_key_above_counter) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    uint32_t k1 = create_n(b, 3, 1), i;
    uint64_t n;
    ck_assert_int_eq(cairn_blob_create_with_key(b, k1 + 3, "abc", 3), 0);
    for (i = 0; i < 5; i++) {
        uint32_t k = create_n(b, 3, i);
        ck_assert_uint_ne(k, k1 + 3);
        ck_assert_uint_gt(k, k1 + 3);
    }
    b = reopen(b, "s.db"); /* the seed's file would no longer open here */
    ck_assert_int_eq(cairn_blob_count(b, &n), 0);
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(cairn_blob_create_with_key(b, 500, "abc", 3), 0);
    b = reopen(b, "s.db");
    ck_assert_uint_eq(create_n(b, 1, 1), 501);
    cairn_blob_close(b);
}
END_TEST

START_TEST(seed_growing_update_reuses_own_space) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    uint32_t a = create_n(b, 100, 1), m = create_n(b, 100, 2), c = create_n(b, 100, 3);
    uint64_t size0;
    create_n(b, 10, 4); /* keeps the tail busy */
    size0 = stats(b).file_size;
    /* free both neighbours of m: m + its neighbours is 3 * (100 + 32) bytes */
    ck_assert_int_eq(cairn_blob_delete(b, a), 0);
    ck_assert_int_eq(cairn_blob_delete(b, c), 0);
    ck_assert_uint_eq(stats(b).free_entries, 2);
    {
        uint8_t big[3 * 132 - 32];
        fill(big, sizeof big, 7);
        ck_assert_int_eq(cairn_blob_update(b, m, big, sizeof big), 0);
        ck_assert_uint_eq(stats(b).file_size, size0); /* no append */
        ck_assert_uint_eq(stats(b).free_entries, 0);
        ck_assert_uint_eq(stats(b).free_bytes, 0);
        b = reopen(b, "s.db");
        expect_blob(b, m, sizeof big, 7);
    }
    cairn_blob_close(b);
}
END_TEST

START_TEST(growing_update_takes_a_free_neighbour_when_it_fits) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    uint32_t a = create_n(b, 100, 1), m = create_n(b, 100, 2), c = create_n(b, 100, 3);
    uint32_t d = create_n(b, 100, 4), e = create_n(b, 100, 5);
    uint64_t size0;
    uint8_t big[150];
    create_n(b, 10, 6); /* keeps the tail busy */
    size0 = stats(b).file_size;
    fill(big, sizeof big, 7);
    /* the free successor: a grows in place, the rest (264 - 182 = 82 bytes) is a free entry */
    ck_assert_int_eq(cairn_blob_delete(b, m), 0);
    ck_assert_int_eq(cairn_blob_update(b, a, big, sizeof big), 0);
    ck_assert_uint_eq(stats(b).file_size, size0);
    ck_assert_uint_eq(stats(b).free_entries, 1);
    ck_assert_uint_eq(stats(b).free_bytes, 82);
    /* the free predecessor: d moves down to c's place, its rest merges with nothing (e is live) */
    ck_assert_int_eq(cairn_blob_delete(b, c), 0); /* merges with the 82 free bytes before it */
    ck_assert_uint_eq(stats(b).free_entries, 1);
    ck_assert_uint_eq(stats(b).free_bytes, 82 + 132);
    ck_assert_int_eq(cairn_blob_update(b, d, big, sizeof big), 0);
    ck_assert_uint_eq(stats(b).file_size, size0);
    ck_assert_uint_eq(stats(b).free_entries, 1);
    ck_assert_uint_eq(stats(b).free_bytes, 82 + 132 + 132 - 182);
    expect_blob(b, a, sizeof big, 7);
    expect_blob(b, d, sizeof big, 7);
    b = reopen(b, "s.db");
    ck_assert_uint_eq(stats(b).free_entries, 1);
    ck_assert_uint_eq(stats(b).free_bytes, 82 + 132 + 132 - 182);
    expect_blob(b, a, sizeof big, 7);
    expect_blob(b, d, sizeof big, 7);
    expect_blob(b, e, 100, 5);
    cairn_blob_close(b);
    ck_assert_int_eq(cairn_blob_check(ct_path("s.db")), 0);
}
END_TEST

START_TEST(shrinks_and_moves_survive_reopen_without_checkpoint) {
    /* SYNC_NONE: the changes stay pending in the log, so the reads below are served from the
     * pending records (an entry and the free header after it logged as one record), and the
     * reopen reads them from the data file */
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_NONE);
    uint32_t k[40], i;
    for (i = 0; i < 40; i++) k[i] = create_n(b, 100, i);
    for (i = 0; i < 40; i += 2) ck_assert_int_eq(cairn_blob_update(b, k[i], "", 0), 0);
    for (i = 1; i < 40; i += 2) {
        uint8_t big[200];
        fill(big, sizeof big, 100 + i);
        ck_assert_int_eq(cairn_blob_update(b, k[i], big, sizeof big), 0);
    }
    for (i = 1; i < 40; i += 2) expect_blob(b, k[i], 200, 100 + i);
    for (i = 0; i < 40; i += 2) expect_blob(b, k[i], 0, 0);
    b = reopen(b, "s.db");
    for (i = 1; i < 40; i += 2) expect_blob(b, k[i], 200, 100 + i);
    for (i = 0; i < 40; i += 2) expect_blob(b, k[i], 0, 0);
    cairn_blob_close(b);
    ck_assert_int_eq(cairn_blob_check(ct_path("s.db")), 0);
}
END_TEST

/* ---- placement and coalescing ----------------------------------------------------------- */

START_TEST(placement) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    uint32_t k[6], i;
    struct cairn_blob_stats s = CAIRN_BLOB_STATS_INIT;
    for (i = 0; i < 6; i++) k[i] = create_n(b, 100, i);
    s = stats(b);
    ck_assert_uint_eq(s.file_size, FH + 6 * (EH + 100));
    ck_assert_uint_eq(s.entries, 6);
    ck_assert_uint_eq(s.live_bytes, 600);
    /* shrink in place: the rest (>= a header) becomes a free entry */
    ck_assert_int_eq(cairn_blob_update(b, k[1], "abcd", 4), 0);
    s = stats(b);
    ck_assert_uint_eq(s.free_entries, 1);
    ck_assert_uint_eq(s.free_bytes, 96);
    ck_assert_uint_eq(s.file_size, FH + 6 * (EH + 100));
    /* a small shrink (rest < header) keeps the slack in the entry */
    ck_assert_int_eq(cairn_blob_update(b, k[3], "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890", 90), 0);
    ck_assert_uint_eq(stats(b).free_entries, 1);
    /* delete k[2]: merges with the free rest of k[1] before it */
    ck_assert_int_eq(cairn_blob_delete(b, k[2]), 0);
    s = stats(b);
    ck_assert_uint_eq(s.free_entries, 1);
    ck_assert_uint_eq(s.free_bytes, 96 + 132);
    /* delete k[4]: a second free entry */
    ck_assert_int_eq(cairn_blob_delete(b, k[4]), 0);
    s = stats(b);
    ck_assert_uint_eq(s.free_entries, 2);
    ck_assert_uint_eq(s.free_bytes, 96 + 132 + 132);
    /* best fit: a 100-byte blob goes to the 132-byte hole (k[4]'s), not the 228-byte one */
    {
        uint32_t n = create_n(b, 100, 50);
        s = stats(b);
        ck_assert_uint_eq(s.free_entries, 1);
        ck_assert_uint_eq(s.free_bytes, 228);
        ck_assert_uint_eq(s.file_size, FH + 6 * (EH + 100));
        expect_blob(b, n, 100, 50);
    }
    /* a 150-byte blob takes the 228 hole and splits it (46 left >= 32) */
    create_n(b, 150, 51);
    s = stats(b);
    ck_assert_uint_eq(s.free_entries, 1);
    ck_assert_uint_eq(s.free_bytes, 228 - 182);
    /* no fit: append */
    create_n(b, 500, 52);
    ck_assert_uint_eq(stats(b).file_size, FH + 6 * (EH + 100) + EH + 500);
    /* deleting the last entry cuts the file; with a free entry before it, that goes too */
    ck_assert_int_eq(cairn_blob_delete(b, k[5]), 0);
    s = stats(b);
    ck_assert_uint_eq(s.free_entries, 2);
    b = reopen(b, "s.db");
    s = stats(b);
    ck_assert_uint_eq(s.free_entries, 2);
    ck_assert_uint_eq(s.file_size, FH + 6 * (EH + 100) + EH + 500);
    {
        struct stat st;
        ck_assert_int_eq(stat(ct_path("s.db"), &st), 0);
        ck_assert_uint_eq((uint64_t)st.st_size, s.file_size);
    }
    cairn_blob_close(b);
}
END_TEST

START_TEST(tail_is_cut) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    uint32_t a = create_n(b, 50, 1), c = create_n(b, 60, 2), d = create_n(b, 70, 3);
    struct stat st;
    ck_assert_int_eq(cairn_blob_delete(b, c), 0);
    ck_assert_uint_eq(stats(b).free_entries, 1);
    ck_assert_int_eq(cairn_blob_delete(b, d), 0); /* merges with c's space, then the tail is cut */
    ck_assert_uint_eq(stats(b).free_entries, 0);
    ck_assert_uint_eq(stats(b).free_bytes, 0);
    ck_assert_uint_eq(stats(b).file_size, FH + EH + 50);
    /* the last entry grows in place (its own space is at the end) */
    {
        uint8_t big[400];
        fill(big, sizeof big, 4);
        ck_assert_int_eq(cairn_blob_update(b, a, big, sizeof big), 0);
        ck_assert_uint_eq(stats(b).file_size, FH + EH + 400);
    }
    ck_assert_int_eq(cairn_blob_delete(b, a), 0);
    ck_assert_uint_eq(stats(b).file_size, FH);
    ck_assert_int_eq(cairn_blob_sync(b), 0);
    ck_assert_int_eq(stat(ct_path("s.db"), &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, FH);
    ck_assert_uint_eq(stats(b).wal_bytes, 32);
    b = reopen(b, "s.db");
    ck_assert_uint_eq(stats(b).entries, 0);
    ck_assert_uint_eq(stats(b).next_key, 4);
    cairn_blob_close(b);
}
END_TEST

START_TEST(compact) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    uint32_t k[40], i;
    struct cairn_blob_stats s = CAIRN_BLOB_STATS_INIT;
    struct stat st;
    for (i = 0; i < 40; i++) k[i] = create_n(b, 10 * i, i);
    for (i = 0; i < 40; i += 3) ck_assert_int_eq(cairn_blob_delete(b, k[i]), 0);
    ck_assert_uint_gt(stats(b).free_entries, 0);
    ck_assert_int_eq(cairn_blob_compact(b), 0);
    s = stats(b);
    ck_assert_uint_eq(s.free_entries, 0);
    ck_assert_uint_eq(s.free_bytes, 0);
    ck_assert_uint_eq(s.file_size, FH + s.entries * EH + s.live_bytes);
    ck_assert_int_eq(stat(ct_path("s.db"), &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, s.file_size);
    for (i = 0; i < 40; i++) {
        if (i % 3 == 0) ck_assert_int_eq(cairn_blob_exists(b, k[i]), 0);
        else expect_blob(b, k[i], 10 * i, i);
    }
    /* the handle keeps working on the new file */
    ck_assert_int_eq(cairn_blob_update(b, k[1], "hello", 5), 0);
    b = reopen(b, "s.db");
    for (i = 2; i < 40; i++)
        if (i % 3) expect_blob(b, k[i], 10 * i, i);
    ck_assert_uint_eq(create_n(b, 1, 1), 41);
    cairn_blob_close(b);
    ck_assert_int_eq(cairn_blob_check(ct_path("s.db")), 0);
}
END_TEST


/* wal_bytes is the log in use (header and records not yet checkpointed), not the size of the
 * FILE-wal file, which keeps 64 KiB more allocated for deletes on a full disk */
START_TEST(wal_bytes_is_the_log_in_use) {
    cairn_blob *b = open_store("w.db", CAIRN_SYNC_NONE);
    struct stat st;
    uint64_t w1, w2;
    ck_assert_int_eq(cairn_blob_sync(b), 0);
    ck_assert_uint_eq(stats(b).wal_bytes, 32); /* the log's header alone */
    ck_assert_int_eq(stat(ct_path("w.db-wal"), &st), 0);
    ck_assert_uint_ge((uint64_t)st.st_size, 32u + 64u * 1024u);
    create_n(b, 1000, 1);
    w1 = stats(b).wal_bytes;
    ck_assert_uint_gt(w1, 32 + 1000); /* the blob's record and its commit */
    create_n(b, 3000, 2);
    w2 = stats(b).wal_bytes;
    ck_assert_uint_gt(w2, w1 + 3000);
    ck_assert_int_eq(stat(ct_path("w.db-wal"), &st), 0);
    ck_assert_uint_ge((uint64_t)st.st_size, w2);
    ck_assert_int_eq(cairn_blob_sync(b), 0);
    ck_assert_uint_eq(stats(b).wal_bytes, 32);
    cairn_blob_close(b);
}
END_TEST

START_TEST(big_blobs_and_auto_checkpoint) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_NONE);
    size_t n = 1536u * 1024u;
    uint32_t k[4], i;
    uint8_t *p = malloc(n + 100);
    for (i = 0; i < 4; i++) {
        fill(p, n, 40 + i);
        ck_assert_int_eq(cairn_blob_create(b, p, n, &k[i]), 0);
    }
    /* past 4 MiB of log the store checkpoints by itself */
    ck_assert_uint_lt(stats(b).wal_bytes, 4u * 1024u * 1024u);
    ck_assert_int_eq(cairn_blob_update(b, k[1], p, 10), 0);
    fill(p, n + 100, 77);
    ck_assert_int_eq(cairn_blob_update(b, k[2], p, n + 100), 0);
    expect_blob(b, k[0], n, 40);
    expect_blob(b, k[2], n + 100, 77);
    b = reopen(b, "s.db");
    expect_blob(b, k[0], n, 40);
    expect_blob(b, k[3], n, 43);
    expect_blob(b, k[2], n + 100, 77);
    ck_assert_uint_eq(stats(b).wal_bytes, 32);
    cairn_blob_close(b);
    free(p);
    ck_assert_int_eq(cairn_blob_check(ct_path("s.db")), 0);
}
END_TEST

/* ---- events and transactions ------------------------------------------------------------ */

typedef struct evlog {
    int n;
    int ev[64];
    uint32_t key[64];
    uint64_t old_size[64], new_size[64];
    cairn_blob *b; /* to call back into the store */
} evlog;

static void on_event(void *ctx, int event, uint32_t key, uint64_t old_size, uint64_t new_size) {
    evlog *l = (evlog *)ctx;
    if (l->b) ck_assert_int_ge(cairn_blob_exists(l->b, key), 0); /* no lock is held */
    if (l->n < 64) {
        l->ev[l->n] = event;
        l->key[l->n] = key;
        l->old_size[l->n] = old_size;
        l->new_size[l->n] = new_size;
    }
    l->n++;
}

START_TEST(events) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    evlog l, l2;
    uint64_t id, id2;
    uint32_t k, k2;
    memset(&l, 0, sizeof l);
    memset(&l2, 0, sizeof l2);
    l.b = b;
    ck_assert_int_eq(cairn_blob_subscribe(b, on_event, &l, &id), 0);
    ck_assert_int_eq(cairn_blob_subscribe(b, on_event, &l2, &id2), 0);
    k = create_n(b, 10, 1);
    ck_assert_int_eq(cairn_blob_update(b, k, "abc", 3), 0);
    ck_assert_int_eq(cairn_blob_delete(b, k), 0);
    ck_assert_int_eq(l.n, 3);
    ck_assert_int_eq(l.ev[0], CAIRN_BLOB_CREATED);
    ck_assert_uint_eq(l.key[0], k);
    ck_assert_uint_eq(l.old_size[0], 0);
    ck_assert_uint_eq(l.new_size[0], 10);
    ck_assert_int_eq(l.ev[1], CAIRN_BLOB_UPDATED);
    ck_assert_uint_eq(l.old_size[1], 10);
    ck_assert_uint_eq(l.new_size[1], 3);
    ck_assert_int_eq(l.ev[2], CAIRN_BLOB_DELETED);
    ck_assert_uint_eq(l.old_size[2], 3);
    ck_assert_uint_eq(l.new_size[2], 0);
    ck_assert_int_eq(l2.n, 3);
    /* failed operations fire nothing */
    ck_assert_int_eq(cairn_blob_delete(b, k), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_blob_update(b, k, "x", 1), CAIRN_NOTFOUND);
    k2 = create_n(b, 1, 1);
    ck_assert_int_eq(cairn_blob_create_with_key(b, k2, "x", 1), CAIRN_EXISTS);
    ck_assert_int_eq(l.n, 4);
    /* reserve fires nothing */
    ck_assert_int_eq(cairn_blob_reserve_next_key(b, &k), 0);
    ck_assert_int_eq(l.n, 4);
    /* transaction: fired at commit, in order; rollback fires nothing */
    ck_assert_int_eq(cairn_blob_unsubscribe(b, id2), 0);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(b, k, "abc", 3), 0);
    ck_assert_int_eq(cairn_blob_delete(b, k2), 0);
    ck_assert_int_eq(l.n, 4);
    ck_assert_int_eq(cairn_blob_commit(b), 0);
    ck_assert_int_eq(l.n, 6);
    ck_assert_int_eq(l.ev[4], CAIRN_BLOB_CREATED);
    ck_assert_uint_eq(l.key[4], k);
    ck_assert_int_eq(l.ev[5], CAIRN_BLOB_DELETED);
    ck_assert_uint_eq(l.key[5], k2);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_update(b, k, "abcdef", 6), 0);
    ck_assert_int_eq(cairn_blob_rollback(b), 0);
    ck_assert_int_eq(l.n, 6);
    ck_assert_int_eq(l2.n, 4);
    ck_assert_int_eq(cairn_blob_unsubscribe(b, id), 0);
    create_n(b, 1, 1);
    ck_assert_int_eq(l.n, 6);
    cairn_blob_close(b);
}
END_TEST

/* cairn_blob_in_txn: 0 outside, 1 inside (a refused nested begin changes nothing), 0 after
 * commit and after rollback; agrees with stats; NULL is CAIRN_INVALID. */
START_TEST(in_txn_flag) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    ck_assert_int_eq(cairn_blob_in_txn(NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_in_txn(b), 0);
    ck_assert_int_eq(cairn_blob_commit(b), CAIRN_TXN);
    ck_assert_int_eq(cairn_blob_in_txn(b), 0);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_in_txn(b), 1);
    ck_assert_int_eq(cairn_blob_begin(b), CAIRN_TXN);
    ck_assert_int_eq(cairn_blob_in_txn(b), 1);
    ck_assert_int_eq(stats(b).in_txn, 1);
    create_n(b, 10, 1);
    ck_assert_int_eq(cairn_blob_commit(b), 0);
    ck_assert_int_eq(cairn_blob_in_txn(b), 0);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_in_txn(b), 1);
    ck_assert_int_eq(cairn_blob_rollback(b), 0);
    ck_assert_int_eq(cairn_blob_in_txn(b), 0);
    ck_assert_int_eq(stats(b).in_txn, 0);
    cairn_blob_close(b);
}
END_TEST

START_TEST(transactions) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_COMMIT);
    uint32_t a = create_n(b, 100, 1), c, d;
    struct cairn_blob_stats s0 = CAIRN_BLOB_STATS_INIT, s = CAIRN_BLOB_STATS_INIT;
    uint64_t n;
    struct stat st;
    create_n(b, 10, 2);
    s0 = stats(b);
    ck_assert_int_eq(stat(ct_path("s.db"), &st), 0);
    /* rollback leaves no trace */
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(stats(b).in_txn, 1);
    c = create_n(b, 300, 3);
    expect_blob(b, c, 300, 3); /* reads see the transaction */
    ck_assert_int_eq(cairn_blob_update(b, a, "tiny", 4), 0);
    ck_assert_int_eq(cairn_blob_delete(b, 2), 0);
    ck_assert_int_eq(cairn_blob_count(b, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(cairn_blob_rollback(b), 0);
    s = stats(b);
    ck_assert_uint_eq(s.in_txn, 0);
    ck_assert_uint_eq(s.entries, s0.entries);
    ck_assert_uint_eq(s.file_size, s0.file_size);
    ck_assert_uint_eq(s.free_bytes, s0.free_bytes);
    ck_assert_uint_eq(s.live_bytes, s0.live_bytes);
    /* ...except that the key it handed out stays used: keys are never handed out twice */
    ck_assert_uint_eq(s.next_key, s0.next_key + 1);
    ck_assert_uint_eq(s.next_key, c + 1);
    ck_assert_int_eq(cairn_blob_exists(b, c), 0);
    expect_blob(b, a, 100, 1);
    expect_blob(b, 2, 10, 2);
    /* commit: all durable together */
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    c = create_n(b, 300, 3);
    d = create_n(b, 0, 4);
    ck_assert_int_eq(cairn_blob_update(b, a, "tiny", 4), 0);
    ck_assert_int_eq(cairn_blob_delete(b, 2), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(b, c, "x", 1), CAIRN_EXISTS); /* fails alone */
    ck_assert_int_eq(cairn_blob_commit(b), 0);
    /* an empty transaction is fine */
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_commit(b), 0);
    /* close inside a transaction rolls it back */
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_delete(b, c), 0);
    b = reopen(b, "s.db");
    expect_blob(b, c, 300, 3);
    expect_blob(b, d, 0, 4);
    ck_assert_int_eq(cairn_blob_exists(b, 2), 0);
    ck_assert_int_eq(cairn_blob_count(b, &n), 0);
    ck_assert_uint_eq(n, 3);
    cairn_blob_close(b);
}
END_TEST

START_TEST(read_only_sees_log) {
    /* a writer in sync-none mode has its changes only in the log; a reader overlays them */
    cairn_blob *w = open_store("s.db", CAIRN_SYNC_NONE), *r = NULL;
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    uint32_t k1 = create_n(w, 100, 1), k2 = create_n(w, 200, 2);
    ck_assert_int_eq(cairn_blob_delete(w, k1), 0);
    ck_assert_int_eq(cairn_blob_update(w, k2, "xyz", 3), 0);
    o.read_only = 1;
    ck_assert_int_eq(cairn_blob_open(&r, ct_path("s.db"), &o), 0);
    ck_assert_int_eq(cairn_blob_exists(r, k1), 0);
    {
        void *p;
        size_t len;
        ck_assert_int_eq(cairn_blob_read(r, k2, &p, &len), 0);
        ck_assert_uint_eq(len, 3);
        ck_assert(memcmp(p, "xyz", 3) == 0);
        cairn_free(p);
    }
    ck_assert_uint_eq(stats(r).file_size, stats(w).file_size);
    ck_assert_int_eq(cairn_blob_check(ct_path("s.db")), 0);
    cairn_blob_close(r);
    cairn_blob_close(w);
}
END_TEST

/* ---- sync modes and threads ------------------------------------------------------------- */

typedef struct targ {
    cairn_blob *b;
    int id, n;
    uint32_t keys[200];
} targ;

static void *writer_thread(void *p) {
    targ *t = (targ *)p;
    int i;
    for (i = 0; i < t->n; i++) {
        uint8_t buf[64];
        fill(buf, sizeof buf, (unsigned)(t->id * 1000 + i));
        if (cairn_blob_create(t->b, buf, (size_t)(t->id + i) % 64, &t->keys[i]) != 0) return (void *)1;
        if (i % 5 == 4 && cairn_blob_update(t->b, t->keys[i - 1], buf, 7) != 0) return (void *)1;
    }
    return NULL;
}

/* Four threads write at once; then again after a clean close and reopen in the same mode (the
 * reopened writer has written nothing: the threads' first calls race to make it the file's
 * writer). Every blob of both rounds reads back after a reopen. */
static void threads_mode(int mode) {
    cairn_blob *b = open_store("s.db", mode);
    pthread_t th[4];
    static targ t[2][4];
    int i, j, round;
    uint64_t n;
    for (round = 0; round < 2; round++) {
        if (round) {
            cairn_blob_close(b);
            b = open_store("s.db", mode);
        }
        for (i = 0; i < 4; i++) {
            t[round][i].b = b;
            t[round][i].id = i;
            t[round][i].n = 60;
            ck_assert_int_eq(pthread_create(&th[i], NULL, writer_thread, &t[round][i]), 0);
        }
        for (i = 0; i < 4; i++) {
            void *ret;
            pthread_join(th[i], &ret);
            ck_assert_ptr_null(ret);
        }
    }
    b = reopen(b, "s.db");
    ck_assert_int_eq(cairn_blob_count(b, &n), 0);
    ck_assert_uint_eq(n, 480);
    for (round = 0; round < 2; round++)
        for (i = 0; i < 4; i++)
            for (j = 0; j < 60; j++) {
                if (j % 5 == 3) expect_blob(b, t[round][i].keys[j], 7, (unsigned)(i * 1000 + j + 1));
                else expect_blob(b, t[round][i].keys[j], (size_t)(i + j) % 64, (unsigned)(i * 1000 + j));
            }
    cairn_blob_close(b);
}

START_TEST(threads_group) { threads_mode(CAIRN_SYNC_GROUP); }
END_TEST
START_TEST(threads_commit) { threads_mode(CAIRN_SYNC_COMMIT); }
END_TEST
START_TEST(threads_none) { threads_mode(CAIRN_SYNC_NONE); }
END_TEST


static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Readers run alongside writers: every read returns some complete version of the blob. */
typedef struct rwarg {
    cairn_blob *b;
    int id, writer;
    int bad;
} rwarg;

static void make_versioned(uint8_t *p, size_t n, unsigned v) {
    cairn_put32(p, v);
    fill(p + 4, n - 4, v);
}

static void *rw_thread(void *arg) {
    rwarg *a = (rwarg *)arg;
    uint64_t s = 0x9e37u + (uint64_t)a->id;
    int i;
    uint8_t buf[600], want[600];
    for (i = 0; i < 400; i++) {
        uint32_t k = (uint32_t)(rnd(&s) % 40) + 1;
        if (a->writer) {
            size_t n = 4 + (size_t)(rnd(&s) % 500);
            make_versioned(buf, n, (unsigned)(a->id * 100000 + i));
            if (cairn_blob_update(a->b, k, buf, n) != 0) a->bad++;
        } else {
            void *p = NULL;
            size_t len = 0;
            if (cairn_blob_read(a->b, k, &p, &len) != 0 || len < 4) {
                a->bad++;
            } else {
                make_versioned(want, len, cairn_get32(p));
                if (memcmp(p, want, len) != 0) a->bad++;
            }
            cairn_free(p);
        }
    }
    return NULL;
}

START_TEST(readers_and_writers) {
    cairn_blob *b = open_store("s.db", CAIRN_SYNC_NONE);
    pthread_t th[4];
    rwarg a[4];
    uint8_t buf[64];
    uint32_t i, k;
    for (i = 1; i <= 40; i++) {
        make_versioned(buf, sizeof buf, i);
        ck_assert_int_eq(cairn_blob_create(b, buf, sizeof buf, &k), 0);
    }
    for (i = 0; i < 4; i++) {
        a[i].b = b;
        a[i].id = (int)i;
        a[i].writer = i < 2;
        a[i].bad = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, rw_thread, &a[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(a[i].bad, 0);
    }
    cairn_blob_close(b);
    ck_assert_int_eq(cairn_blob_check(ct_path("s.db")), 0);
}
END_TEST

/* ---- model-based randomized test -------------------------------------------------------- */

typedef struct model {
    uint8_t present[2048];
    uint32_t len[2048];
    unsigned seed[2048];
} model;


static void check_model(cairn_blob *b, const model *m, uint32_t maxkey) {
    uint32_t k;
    uint64_t n, want = 0;
    for (k = 0; k < maxkey; k++) {
        if (m->present[k]) {
            want++;
            expect_blob(b, k, m->len[k], m->seed[k]);
        } else {
            ck_assert_int_eq(cairn_blob_exists(b, k), 0);
        }
    }
    ck_assert_int_eq(cairn_blob_count(b, &n), 0);
    ck_assert_uint_eq(n, want);
}

static void model_run(int mode, uint64_t s) {
    static model m;
    cairn_blob *b = open_store("m.db", mode);
    uint8_t *buf = malloc(9000);
    int step, in_txn = 0;
    static model saved;
    uint32_t maxkey = 1;
    memset(&m, 0, sizeof m);
    for (step = 0; step < 3000; step++) {
        uint64_t r = rnd(&s);
        uint32_t k = (uint32_t)(rnd(&s) % (maxkey + 1));
        size_t len = (rnd(&s) % 4 == 0) ? (size_t)(rnd(&s) % 9000) : (size_t)(rnd(&s) % 200);
        unsigned sd = (unsigned)step;
        int rc;
        if (k >= 2000) k = 1999;
        fill(buf, len, sd);
        switch (r % 10) {
        case 0: case 1: case 2: {
            uint32_t nk;
            rc = cairn_blob_create(b, buf, len, &nk);
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_lt(nk, 2000);
            ck_assert(!m.present[nk]);
            m.present[nk] = 1;
            m.len[nk] = (uint32_t)len;
            m.seed[nk] = sd;
            if (nk + 1 > maxkey) maxkey = nk + 1;
            break;
        }
        case 3: case 4: case 5:
            rc = cairn_blob_update(b, k, buf, len);
            if (m.present[k]) {
                ck_assert_int_eq(rc, 0);
                m.len[k] = (uint32_t)len;
                m.seed[k] = sd;
            } else {
                ck_assert_int_eq(rc, CAIRN_NOTFOUND);
            }
            break;
        case 6: case 7:
            rc = cairn_blob_delete(b, k);
            ck_assert_int_eq(rc, m.present[k] ? 0 : CAIRN_NOTFOUND);
            m.present[k] = 0;
            break;
        case 8:
            if (r % 100 < 5) {
                b = reopen(b, "m.db");
                in_txn = 0;
                check_model(b, &m, maxkey);
            } else if (r % 100 < 10) {
                ck_assert_int_eq(cairn_blob_compact(b), in_txn ? CAIRN_TXN : 0);
            } else if (!in_txn && r % 100 < 30) {
                ck_assert_int_eq(cairn_blob_begin(b), 0);
                saved = m;
                in_txn = 1;
            } else if (in_txn && r % 100 < 60) {
                ck_assert_int_eq(cairn_blob_commit(b), 0);
                in_txn = 0;
            } else if (in_txn) {
                ck_assert_int_eq(cairn_blob_rollback(b), 0);
                m = saved;
                in_txn = 0;
            }
            break;
        default:
            if (k < 2000) {
                rc = cairn_blob_create_with_key(b, k, buf, len);
                if (m.present[k]) {
                    ck_assert_int_eq(rc, CAIRN_EXISTS);
                } else {
                    ck_assert_int_eq(rc, 0);
                    m.present[k] = 1;
                    m.len[k] = (uint32_t)len;
                    m.seed[k] = sd;
                }
            }
            break;
        }
        if (step % 500 == 0) check_model(b, &m, maxkey);
        {
            struct cairn_blob_stats st = stats(b);
            ck_assert_uint_le(st.free_bytes + st.live_bytes + st.entries * EH + FH, st.file_size);
        }
    }
    if (in_txn) ck_assert_int_eq(cairn_blob_commit(b), 0);
    check_model(b, &m, maxkey);
    b = reopen(b, "m.db");
    check_model(b, &m, maxkey);
    cairn_blob_close(b);
    ck_assert_int_eq(cairn_blob_check(ct_path("m.db")), 0);
    free(buf);
}

START_TEST(model_commit) { model_run(CAIRN_SYNC_COMMIT, 0x1234567ULL); }
END_TEST
START_TEST(model_none) { model_run(CAIRN_SYNC_NONE, 0xabcdefULL); }
END_TEST
START_TEST(model_group) { model_run(CAIRN_SYNC_GROUP, 0x55aa55ULL); }
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("blob");
    TCase *t = tcase_create("core");
    tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, crud_and_reopen);
    tcase_add_test(t, wal_bytes_is_the_log_in_use);
    tcase_add_test(t, iterate_keys);
    tcase_add_test(t, bad_input);
    tcase_add_test(t, bad_version);
    tcase_add_test(t, lock_across_processes);
    tcase_add_test(t, keys_never_reused);
    tcase_add_test(t, seed_zero_length_reopen);
    tcase_add_test(t, seed_explicit_key_above_counter);
    tcase_add_test(t, seed_growing_update_reuses_own_space);
    tcase_add_test(t, growing_update_takes_a_free_neighbour_when_it_fits);
    tcase_add_test(t, shrinks_and_moves_survive_reopen_without_checkpoint);
    tcase_add_test(t, placement);
    tcase_add_test(t, tail_is_cut);
    tcase_add_test(t, compact);
    tcase_add_test(t, big_blobs_and_auto_checkpoint);
    tcase_add_test(t, events);
    tcase_add_test(t, transactions);
    tcase_add_test(t, in_txn_flag);
    tcase_add_test(t, read_only_sees_log);
    tcase_add_test(t, threads_group);
    tcase_add_test(t, threads_commit);
    tcase_add_test(t, threads_none);
    tcase_add_test(t, readers_and_writers);
    tcase_add_test(t, model_commit);
    tcase_add_test(t, model_none);
    tcase_add_test(t, model_group);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return ct_run(suite()); }
