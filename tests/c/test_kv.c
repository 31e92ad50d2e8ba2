/* test_kv.c - unit tests of every public KV function and its error paths. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "kv_testutil.h"
#include "log/keydir.h"
#include "util.h"

static char *g_dir;

static void setup(void) { g_dir = kvt_tmpdir("unit"); }
static void teardown(void) {
    cairn_time__set_fake(0);
    kvt_rmdir(g_dir);
    free(g_dir);
}

static void expect_val(cairn_kv *kv, const char *k, const char *v) {
    char *got = NULL;
    int rc = kvt_get(kv, k, &got);
    if (!v) {
        ck_assert_msg(rc == 0, "key %s: expected absent, rc=%d got=%s", k, rc, got ? got : "");
        return;
    }
    ck_assert_msg(rc == 1, "key %s: expected %s, rc=%d (%s)", k, v, rc, cairn_errmsg());
    ck_assert_str_eq(got, v);
    free(got);
}

START_TEST(basic_put_get_delete) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    uint64_t n = 99;
    int kind = -1;
    void *v;
    size_t vl;
    ck_assert_ptr_nonnull(kv);
    ck_assert_int_eq(kvt_put(kv, "a", "1"), 0);
    ck_assert_int_eq(kvt_put(kv, "b", "2"), 0);
    ck_assert_int_eq(kvt_put(kv, "a", "3"), 0);
    expect_val(kv, "a", "3");
    expect_val(kv, "b", "2");
    expect_val(kv, "c", NULL);
    ck_assert_int_eq(cairn_kv_get(kv, "a", 1, &v, &vl, &kind), 0);
    ck_assert_int_eq(kind, CAIRN_KIND_TEXT);
    cairn_free(v);
    ck_assert_int_eq(cairn_kv_exists(kv, "a", 1), 1);
    ck_assert_int_eq(cairn_kv_exists(kv, "zz", 2), 0);
    ck_assert_int_eq(cairn_kv_count(kv, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(cairn_kv_delete(kv, "a", 1), 0);
    ck_assert_int_eq(cairn_kv_delete(kv, "a", 1), CAIRN_NOTFOUND);
    expect_val(kv, "a", NULL);
    ck_assert_int_eq(cairn_kv_count(kv, &n), 0);
    ck_assert_uint_eq(n, 1);
    /* empty value and binary keys */
    ck_assert_int_eq(cairn_kv_put(kv, "\0\1", 2, "", 0, CAIRN_KIND_BYTES), 0);
    ck_assert_int_eq(cairn_kv_get(kv, "\0\1", 2, &v, &vl, &kind), 0);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(vl, 0);
    ck_assert_int_eq(kind, CAIRN_KIND_BYTES);
    cairn_free(v);
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    expect_val(kv, "a", NULL);
    expect_val(kv, "b", "2");
    ck_assert_int_eq(cairn_kv_exists(kv, "\0\1", 2), 1);
    ck_assert_int_eq(cairn_kv_count(kv, &n), 0);
    ck_assert_uint_eq(n, 2);
    cairn_kv_close(kv);
}
END_TEST

START_TEST(get_into_and_kinds) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    char buf[8];
    size_t n = 0;
    int kind = -1, k;
    for (k = 0; k <= 3; k++) {
        char key[4] = {'k', (char)('0' + k), 0, 0};
        ck_assert_int_eq(cairn_kv_put(kv, key, 2, "{}", 2, k), 0);
        ck_assert_int_eq(cairn_kv_get_into(kv, key, 2, buf, sizeof buf, &n, &kind), 0);
        ck_assert_int_eq(kind, k);
        ck_assert_uint_eq(n, 2);
    }
    ck_assert_int_eq(cairn_kv_put(kv, "big", 3, "0123456789", 10, 0), 0);
    ck_assert_int_eq(cairn_kv_get_into(kv, "big", 3, buf, sizeof buf, &n, &kind), CAIRN_RANGE);
    ck_assert_uint_eq(n, 10);
    ck_assert_int_eq(cairn_kv_get_into(kv, "nope", 4, buf, sizeof buf, &n, &kind), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_kv_get_into(kv, "big", 3, NULL, 0, NULL, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_put(kv, "k", 1, "x", 1, 4), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_put(kv, "k", 1, "x", 1, -1), CAIRN_INVALID);
    cairn_kv_close(kv);
}
END_TEST

START_TEST(iterate_sorted_with_prefix) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    cairn_kv_iter *it = NULL;
    const char *want[] = {"user:1", "user:10", "user:2"};
    const void *k;
    size_t kl, i = 0;
    kvt_put(kv, "user:2", "b");
    kvt_put(kv, "zeta", "z");
    kvt_put(kv, "user:10", "c");
    kvt_put(kv, "alpha", "a");
    kvt_put(kv, "user:1", "a");
    kvt_put(kv, "user", "not under the prefix user:");
    ck_assert_int_eq(cairn_kv_iter_open(&it, kv, "user:", 5), 0);
    /* later writes do not disturb the snapshot */
    kvt_put(kv, "user:3", "d");
    cairn_kv_delete(kv, "user:1", 6);
    while (cairn_kv_iter_next(it, &k, &kl) == 0) {
        ck_assert_uint_lt(i, 3);
        ck_assert_uint_eq(kl, strlen(want[i]));
        ck_assert(memcmp(k, want[i], kl) == 0);
        i++;
    }
    ck_assert_uint_eq(i, 3);
    ck_assert_int_eq(cairn_kv_iter_next(it, &k, &kl), CAIRN_ITEROVER);
    cairn_kv_iter_free(it);
    /* all keys, bytewise order */
    ck_assert_int_eq(cairn_kv_iter_open(&it, kv, NULL, 0), 0);
    {
        const char *all[] = {"alpha", "user", "user:10", "user:2", "user:3", "zeta"};
        i = 0;
        while (cairn_kv_iter_next(it, &k, &kl) == 0) {
            ck_assert_uint_lt(i, 6);
            ck_assert_uint_eq(kl, strlen(all[i]));
            ck_assert(memcmp(k, all[i], kl) == 0);
            i++;
        }
        ck_assert_uint_eq(i, 6);
    }
    cairn_kv_iter_free(it);
    ck_assert_int_eq(cairn_kv_iter_open(NULL, kv, NULL, 0), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_iter_open(&it, NULL, NULL, 0), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_iter_open(&it, kv, NULL, 3), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_iter_next(NULL, &k, &kl), CAIRN_INVALID);
    cairn_kv_iter_free(NULL);
    cairn_kv_close(kv);
}
END_TEST

/* cairn_kv_in_txn: 0 outside, 1 inside (a refused nested begin changes nothing), 0 after commit
 * and after rollback; agrees with stats; NULL is CAIRN_INVALID. */
START_TEST(in_txn_flag) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    ck_assert_int_eq(cairn_kv_in_txn(NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_in_txn(kv), 0);
    ck_assert_int_eq(cairn_kv_commit(kv), CAIRN_TXN);
    ck_assert_int_eq(cairn_kv_in_txn(kv), 0);
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    ck_assert_int_eq(cairn_kv_in_txn(kv), 1);
    ck_assert_int_eq(cairn_kv_begin(kv), CAIRN_TXN);
    ck_assert_int_eq(cairn_kv_in_txn(kv), 1); /* the refused nested begin ends nothing */
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_int_eq(st.in_txn, 1);
    kvt_put(kv, "k", "v");
    ck_assert_int_eq(cairn_kv_in_txn(kv), 1);
    ck_assert_int_eq(cairn_kv_commit(kv), 0);
    ck_assert_int_eq(cairn_kv_in_txn(kv), 0);
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    ck_assert_int_eq(cairn_kv_in_txn(kv), 1);
    ck_assert_int_eq(cairn_kv_rollback(kv), 0);
    ck_assert_int_eq(cairn_kv_in_txn(kv), 0);
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_int_eq(st.in_txn, 0);
    cairn_kv_close(kv);
}
END_TEST

START_TEST(transactions) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    uint64_t n;
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    cairn_kv_iter *it;
    const void *k;
    size_t kl, cnt = 0;
    kvt_put(kv, "keep", "1");
    kvt_put(kv, "gone", "1");
    ck_assert_int_eq(cairn_kv_commit(kv), CAIRN_TXN);
    ck_assert_int_eq(cairn_kv_rollback(kv), CAIRN_TXN);
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    ck_assert_int_eq(cairn_kv_begin(kv), CAIRN_TXN);
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_int_eq(st.in_txn, 1);
    kvt_put(kv, "new", "2");
    ck_assert_int_eq(cairn_kv_delete(kv, "gone", 4), 0);
    ck_assert_int_eq(cairn_kv_delete(kv, "gone", 4), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_kv_delete(kv, "never", 5), CAIRN_NOTFOUND);
    expect_val(kv, "new", "2");
    expect_val(kv, "gone", NULL);
    ck_assert_int_eq(cairn_kv_count(kv, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(cairn_kv_compact(kv), CAIRN_TXN);
    ck_assert_int_eq(cairn_kv_iter_open(&it, kv, NULL, 0), 0);
    while (cairn_kv_iter_next(it, &k, &kl) == 0) {
        ck_assert(!(kl == 4 && memcmp(k, "gone", 4) == 0));
        cnt++;
    }
    ck_assert_uint_eq(cnt, 2);
    cairn_kv_iter_free(it);
    ck_assert_int_eq(cairn_kv_rollback(kv), 0);
    expect_val(kv, "new", NULL);
    expect_val(kv, "gone", "1");
    ck_assert_int_eq(cairn_kv_count(kv, &n), 0);
    ck_assert_uint_eq(n, 2);
    /* commit: put, overwrite inside txn, delete of a txn-only key */
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    kvt_put(kv, "t1", "a");
    kvt_put(kv, "t1", "b");
    kvt_put(kv, "t2", "x");
    ck_assert_int_eq(cairn_kv_delete(kv, "t2", 2), 0);
    ck_assert_int_eq(cairn_kv_delete(kv, "keep", 4), 0);
    ck_assert_int_eq(cairn_kv_commit(kv), 0);
    expect_val(kv, "t1", "b");
    expect_val(kv, "t2", NULL);
    expect_val(kv, "keep", NULL);
    /* empty transaction */
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    ck_assert_int_eq(cairn_kv_commit(kv), 0);
    /* close with an open transaction rolls it back */
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    kvt_put(kv, "lost", "x");
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    expect_val(kv, "lost", NULL);
    expect_val(kv, "t1", "b");
    expect_val(kv, "gone", "1");
    expect_val(kv, "keep", NULL);
    cairn_kv_close(kv);
}
END_TEST

START_TEST(expiry) {
    cairn_kv *kv;
    int64_t e = -1;
    uint64_t n;
    cairn_time__set_fake(1000000);
    kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    ck_assert_int_eq(cairn_kv_put_ex(kv, "t", 1, "v", 1, 1, 1000500), 0);
    ck_assert_int_eq(cairn_kv_expiry(kv, "t", 1, &e), 0);
    ck_assert_int_eq(e, 1000500);
    kvt_put(kv, "p", "forever");
    ck_assert_int_eq(cairn_kv_expiry(kv, "p", 1, &e), 0);
    ck_assert_int_eq(e, 0);
    ck_assert_int_eq(cairn_kv_expiry(kv, "zz", 2, &e), CAIRN_NOTFOUND);
    expect_val(kv, "t", "v");
    cairn_time__set_fake(1000500);
    expect_val(kv, "t", NULL);
    ck_assert_int_eq(cairn_kv_exists(kv, "t", 1), 0);
    ck_assert_int_eq(cairn_kv_count(kv, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(cairn_kv_delete(kv, "t", 1), CAIRN_NOTFOUND);
    /* an expiry in the past stores nothing readable, and hides the old value */
    ck_assert_int_eq(cairn_kv_put_ex(kv, "p", 1, "x", 1, 1, 5), 0);
    expect_val(kv, "p", NULL);
    ck_assert_int_eq(cairn_kv_put_ex(kv, "n", 1, "x", 1, 1, -5), CAIRN_INVALID);
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    expect_val(kv, "p", NULL);
    expect_val(kv, "t", NULL);
    cairn_kv_close(kv);
}
END_TEST

/* ViperDB: overwrite with an expiring value, wait, reopen: the OLD value came back. */
START_TEST(seed_viperdb_overwrite_with_expiry) {
    cairn_kv *kv;
    int round;
    for (round = 0; round < 3; round++) { /* plain reopen, reopen after reclaim, after hints */
        char key[16];
        snprintf(key, sizeof key, "k%d", round);
        cairn_time__set_fake(2000000);
        kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, round == 2 ? 64 : 0);
        ck_assert_int_eq(kvt_put(kv, key, "old"), 0);
        ck_assert_int_eq(cairn_kv_put_ex(kv, key, strlen(key), "new", 3, 1, 2000100), 0);
        expect_val(kv, key, "new");
        cairn_kv_close(kv);
        cairn_time__set_fake(2000200);
        kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
        ck_assert_ptr_nonnull(kv);
        expect_val(kv, key, NULL);
        if (round == 1) ck_assert_int_eq(cairn_kv_compact(kv), 0);
        expect_val(kv, key, NULL);
        cairn_kv_close(kv);
        kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
        expect_val(kv, key, NULL);
        cairn_kv_close(kv);
    }
}
END_TEST

/* ViperDB: set with expiry, delete, wait past the expiry, reopen: it no longer opened. */
START_TEST(seed_viperdb_expire_delete_reopen) {
    cairn_kv *kv;
    cairn_time__set_fake(3000000);
    kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    ck_assert_int_eq(cairn_kv_put_ex(kv, "k", 1, "v", 1, 1, 3000100), 0);
    ck_assert_int_eq(cairn_kv_delete(kv, "k", 1), 0);
    kvt_put(kv, "other", "x");
    cairn_kv_close(kv);
    cairn_time__set_fake(3000500);
    kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    ck_assert_ptr_nonnull(kv);
    expect_val(kv, "k", NULL);
    expect_val(kv, "other", "x");
    ck_assert_int_eq(cairn_kv_compact(kv), 0);
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    ck_assert_ptr_nonnull(kv);
    expect_val(kv, "k", NULL);
    expect_val(kv, "other", "x");
    cairn_kv_close(kv);
    ck_assert_int_eq(cairn_kv_check(g_dir), 0);
}
END_TEST

/* ViperDB: recovery failed on any log that contains a delete. */
START_TEST(seed_viperdb_delete_in_log) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    char *p;
    kvt_put(kv, "a", "1");
    cairn_kv_delete(kv, "a", 1);
    kvt_put(kv, "b", "2");
    cairn_kv_close(kv);
    /* drop the snapshot so open has to scan the log */
    p = kvt_path(g_dir, "KEYDIR");
    unlink(p);
    free(p);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    ck_assert_ptr_nonnull(kv);
    expect_val(kv, "a", NULL);
    expect_val(kv, "b", "2");
    cairn_kv_close(kv);
}
END_TEST

START_TEST(reclaim_basic) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 4096);
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT, st2 = CAIRN_KV_STATS_INIT;
    int i;
    char k[32], v[64];
    for (i = 0; i < 500; i++) {
        snprintf(k, sizeof k, "key%04d", i % 100);
        snprintf(v, sizeof v, "value-%d", i);
        ck_assert_int_eq(kvt_put(kv, k, v), 0);
    }
    for (i = 0; i < 100; i += 3) {
        snprintf(k, sizeof k, "key%04d", i);
        ck_assert_int_eq(cairn_kv_delete(kv, k, strlen(k)), 0);
    }
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_uint_gt(st.data_files, 1);
    ck_assert_uint_gt(st.dead_bytes, 0);
    ck_assert_int_eq(cairn_kv_compact(kv), 0);
    ck_assert_int_eq(cairn_kv_stats(kv, &st2), 0);
    ck_assert_uint_eq(st2.dead_bytes, 0);
    ck_assert_uint_eq(st2.keys, st.keys);
    ck_assert_uint_lt(st2.disk_bytes, st.disk_bytes);
    ck_assert_uint_eq(st2.compactions, 1);
    for (i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "key%04d", i);
        snprintf(v, sizeof v, "value-%d", 400 + i);
        expect_val(kv, k, i % 3 == 0 ? NULL : v);
    }
    /* writes after reclaim, a second reclaim, reopen */
    kvt_put(kv, "after", "1");
    ck_assert_int_eq(cairn_kv_compact(kv), 0);
    ck_assert_int_eq(cairn_kv_compact(kv), 0);
    cairn_kv_close(kv);
    ck_assert_int_eq(cairn_kv_check(g_dir), 0);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 4096);
    expect_val(kv, "after", "1");
    for (i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "key%04d", i);
        snprintf(v, sizeof v, "value-%d", 400 + i);
        expect_val(kv, k, i % 3 == 0 ? NULL : v);
    }
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_uint_eq(st.keys, 67);
    cairn_kv_close(kv);
}
END_TEST

START_TEST(rotation_and_hints) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 1024);
    char **names;
    size_t nd, nh, i;
    char k[32];
    for (i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "k%zu", i);
        ck_assert_int_eq(kvt_put(kv, k, "some value bytes"), 0);
    }
    cairn_kv_close(kv);
    nd = kvt_list(g_dir, ".data", &names);
    kvt_list_free(names, nd);
    nh = kvt_list(g_dir, ".hint", &names);
    kvt_list_free(names, nh);
    ck_assert_uint_gt(nd, 5);
    ck_assert_uint_eq(nh, 0); /* the KEYDIR is the one index: no hint files */
    /* a store of an older version has a hint per sealed file */
    kvt_write_hints(g_dir);
    nh = kvt_list(g_dir, ".hint", &names);
    kvt_list_free(names, nh);
    ck_assert_uint_eq(nh, nd - 1);
    /* without the snapshot, open uses the hints; a broken hint is ignored (the file is scanned) */
    {
        char *p = kvt_path(g_dir, "KEYDIR");
        unlink(p);
        free(p);
        nh = kvt_list(g_dir, ".hint", &names);
        p = kvt_path(g_dir, names[1]);
        kvt_flip(p, 40);
        free(p);
        p = kvt_path(g_dir, names[2]);
        kvt_truncate(p, 10);
        free(p);
        kvt_list_free(names, nh);
    }
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 1024);
    ck_assert_ptr_nonnull(kv);
    for (i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "k%zu", i);
        expect_val(kv, k, "some value bytes");
    }
    cairn_kv_close(kv);
    ck_assert_int_eq(cairn_kv_check(g_dir), 0);
}
END_TEST

/* ---- cairn_kv_update_json ------------------------------------------------------------------ */

static int put_json(cairn_kv *kv, const char *k, const char *json) {
    return cairn_kv_put(kv, k, strlen(k), json, strlen(json), CAIRN_KIND_JSON);
}

static int upd(cairn_kv *kv, const char *k, const char *changes) {
    return cairn_kv_update_json(kv, k, strlen(k), changes, strlen(changes));
}

/* The value of k is exactly `want` and of kind JSON. */
static void expect_json(cairn_kv *kv, const char *k, const char *want) {
    void *v = NULL;
    size_t vl = 0;
    int kind = -1, rc = cairn_kv_get(kv, k, strlen(k), &v, &vl, &kind);
    ck_assert_msg(rc == 0, "key %s: rc=%d (%s)", k, rc, cairn_errmsg());
    ck_assert_int_eq(kind, CAIRN_KIND_JSON);
    ck_assert_msg(vl == strlen(want) && memcmp(v, want, vl) == 0, "key %s: got %.*s, want %s", k, (int)vl,
                  (const char *)v, want);
    cairn_free(v);
}

START_TEST(update_json_merge_and_errors) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    cairn_kv_options ro = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *rkv = NULL;
    int64_t exp = -1;
    ck_assert_int_eq(put_json(kv, "doc", "{\"a\": 1, \"b\": {\"x\": 1, \"y\": [1, 2]}, \"c\": \"s\"}"), 0);
    /* top-level members replaced in place or appended; a nested object replaces the old one whole */
    ck_assert_int_eq(upd(kv, "doc", "{\"b\": {\"z\": true}, \"d\": null, \"a\": 2}"), 0);
    expect_json(kv, "doc", "{\"a\":2,\"b\":{\"z\": true},\"c\":\"s\",\"d\":null}");
    ck_assert_int_eq(upd(kv, "doc", "{}"), 0);
    expect_json(kv, "doc", "{\"a\":2,\"b\":{\"z\": true},\"c\":\"s\",\"d\":null}");
    ck_assert_int_eq(cairn_kv_expiry(kv, "doc", 3, &exp), 0);
    ck_assert_int_eq(exp, 0); /* a key that never expires still does not */
    /* missing key: NOTFOUND; bad changes are TYPE even for a missing key */
    ck_assert_int_eq(upd(kv, "nope", "{\"a\": 1}"), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_kv_exists(kv, "nope", 4), 0);
    ck_assert_int_eq(upd(kv, "nope", "[1]"), CAIRN_TYPE);
    /* the stored value is not a JSON object, or not of kind JSON: TYPE, nothing written */
    ck_assert_int_eq(put_json(kv, "arr", "[1, 2]"), 0);
    ck_assert_int_eq(upd(kv, "arr", "{\"a\": 1}"), CAIRN_TYPE);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "stored value"));
    expect_json(kv, "arr", "[1, 2]");
    ck_assert_int_eq(put_json(kv, "num", "42"), 0);
    ck_assert_int_eq(upd(kv, "num", "{\"a\": 1}"), CAIRN_TYPE);
    ck_assert_int_eq(cairn_kv_put(kv, "txt", 3, "{\"a\":1}", 7, CAIRN_KIND_TEXT), 0);
    ck_assert_int_eq(upd(kv, "txt", "{\"a\": 2}"), CAIRN_TYPE);
    ck_assert_int_eq(cairn_kv_put(kv, "bad", 3, "{\"a\":", 5, CAIRN_KIND_JSON), 0);
    ck_assert_int_eq(upd(kv, "bad", "{\"a\": 2}"), CAIRN_TYPE);
    /* changes that are not a JSON object */
    {
        const char *bad[] = {"[1]", "42", "\"s\"", "null", "{", "{\"a\":}", "{\"a\":1,}", "", " ", "{} {}"};
        size_t i;
        for (i = 0; i < sizeof bad / sizeof *bad; i++) {
            ck_assert_msg(upd(kv, "doc", bad[i]) == CAIRN_TYPE, "changes '%s'", bad[i]);
            ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "changes"));
        }
    }
    expect_json(kv, "doc", "{\"a\":2,\"b\":{\"z\": true},\"c\":\"s\",\"d\":null}");
    /* arguments */
    ck_assert_int_eq(cairn_kv_update_json(kv, "doc", 3, NULL, 2), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_update_json(kv, NULL, 3, "{}", 2), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_update_json(kv, "doc", 0, "{}", 2), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_update_json(NULL, "doc", 3, "{}", 2), CAIRN_INVALID);
    /* persists after reopen */
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    expect_json(kv, "doc", "{\"a\":2,\"b\":{\"z\": true},\"c\":\"s\",\"d\":null}");
    cairn_kv_close(kv);
    /* read-only handle */
    ro.read_only = 1;
    ck_assert_int_eq(cairn_kv_open(&rkv, g_dir, &ro), 0);
    ck_assert_int_eq(upd(rkv, "doc", "{\"a\": 3}"), CAIRN_READONLY);
    cairn_kv_close(rkv);
}
END_TEST

START_TEST(update_json_keeps_expiry) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    int64_t exp = 0;
    cairn_time__set_fake(1000000);
    ck_assert_int_eq(cairn_kv_put_ex(kv, "s", 1, "{\"n\":1}", 7, CAIRN_KIND_JSON, 1000500), 0);
    ck_assert_int_eq(upd(kv, "s", "{\"n\": 2}"), 0);
    expect_json(kv, "s", "{\"n\":2}");
    ck_assert_int_eq(cairn_kv_expiry(kv, "s", 1, &exp), 0);
    ck_assert_int_eq(exp, 1000500);
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    ck_assert_int_eq(cairn_kv_expiry(kv, "s", 1, &exp), 0);
    ck_assert_int_eq(exp, 1000500);
    /* expired: as absent */
    cairn_time__set_fake(1000500);
    ck_assert_int_eq(upd(kv, "s", "{\"n\": 3}"), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_kv_exists(kv, "s", 1), 0);
    cairn_time__set_fake(1000000);
    expect_json(kv, "s", "{\"n\":2}"); /* the failed update wrote nothing */
    cairn_kv_close(kv);
}
END_TEST

/* The value of key (a C string) is the n bytes at want. */
static void expect_bytes(cairn_kv *kv, const char *key, const void *want, size_t n) {
    void *got = NULL;
    size_t len = 0;
    int kind;
    ck_assert_int_eq(cairn_kv_get(kv, key, strlen(key), &got, &len, &kind), 0);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(got, want, n) == 0);
    cairn_free(got);
}

/* A transaction's keys and values: many keys (several storage chunks), a value larger than a
 * chunk, and one key rewritten smaller, larger and smaller again; reads inside the transaction and
 * after commit (and after reopen) see each key's last value. */
START_TEST(transaction_rewrites_and_large_values) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    char key[32], val[64];
    size_t big_n = 200000, i;
    uint64_t count = 0;
    uint8_t *big = malloc(big_n);
    ck_assert_ptr_nonnull(big);
    for (i = 0; i < big_n; i++) big[i] = (uint8_t)(i * 31 + 7);
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%05zu", i);
        snprintf(val, sizeof val, "value-%zu-of-the-transaction", i);
        ck_assert_int_eq(cairn_kv_put(kv, key, strlen(key), val, strlen(val), CAIRN_KIND_BYTES), 0);
    }
    ck_assert_int_eq(cairn_kv_put(kv, "big", 3, big, big_n, CAIRN_KIND_BYTES), 0);
    kvt_put(kv, "r", "a-long-first-value");
    kvt_put(kv, "r", "short");
    expect_val(kv, "r", "short");
    kvt_put(kv, "r", "a value longer than both before it");
    expect_val(kv, "r", "a value longer than both before it");
    kvt_put(kv, "r", "end");
    expect_val(kv, "r", "end");
    expect_bytes(kv, "big", big, big_n);
    ck_assert_int_eq(cairn_kv_commit(kv), 0);
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    expect_val(kv, "r", "end");
    expect_val(kv, "k00000", "value-0-of-the-transaction");
    expect_val(kv, "k04999", "value-4999-of-the-transaction");
    expect_bytes(kv, "big", big, big_n);
    ck_assert_int_eq(cairn_kv_count(kv, &count), 0);
    ck_assert_uint_eq(count, 5002);
    cairn_kv_close(kv);
    free(big);
}
END_TEST

START_TEST(update_json_in_transaction) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    uint64_t seq0;
    ck_assert_int_eq(put_json(kv, "a", "{\"v\":1}"), 0);
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    seq0 = st.seq;
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    /* reads the transaction's own write, and the store's value through the transaction */
    ck_assert_int_eq(put_json(kv, "t", "{\"n\":1}"), 0);
    ck_assert_int_eq(upd(kv, "t", "{\"n\": 2, \"m\": 0}"), 0);
    expect_json(kv, "t", "{\"n\":2,\"m\":0}");
    ck_assert_int_eq(upd(kv, "a", "{\"w\": 2}"), 0);
    ck_assert_int_eq(upd(kv, "a", "{\"v\": 3}"), 0);
    expect_json(kv, "a", "{\"v\":3,\"w\":2}");
    /* a key the transaction deleted is absent */
    ck_assert_int_eq(cairn_kv_delete(kv, "t", 1), 0);
    ck_assert_int_eq(upd(kv, "t", "{\"n\": 4}"), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_kv_rollback(kv), 0);
    /* rolled back: nothing was written */
    expect_json(kv, "a", "{\"v\":1}");
    ck_assert_int_eq(cairn_kv_exists(kv, "t", 1), 0);
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_uint_eq(st.seq, seq0);
    /* committed: persists after reopen */
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    ck_assert_int_eq(upd(kv, "a", "{\"v\": 5}"), 0);
    ck_assert_int_eq(put_json(kv, "u", "{}"), 0);
    ck_assert_int_eq(upd(kv, "u", "{\"k\": \"x\"}"), 0);
    ck_assert_int_eq(cairn_kv_commit(kv), 0);
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0);
    expect_json(kv, "a", "{\"v\":5}");
    expect_json(kv, "u", "{\"k\":\"x\"}");
    cairn_kv_close(kv);
}
END_TEST

START_TEST(bad_input) {
    cairn_kv *kv = NULL;
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    char *big = (char *)calloc(CAIRN_KEY_MAX + 2, 1), *file;
    void *v;
    size_t vl;
    uint64_t n;
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    ck_assert_int_eq(cairn_kv_open(NULL, g_dir, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_open(&kv, NULL, NULL), CAIRN_INVALID);
    o.version = 99;
    ck_assert_int_eq(cairn_kv_open(&kv, g_dir, &o), CAIRN_INVALID);
    ck_assert_ptr_null(kv);
    o.version = CAIRN_KV_OPTIONS_VERSION;
    o.sync = 7;
    ck_assert_int_eq(cairn_kv_open(&kv, g_dir, &o), CAIRN_INVALID);
    o.sync = CAIRN_SYNC_COMMIT;
    /* a file where a directory is needed */
    file = kvt_path(g_dir, "afile");
    {
        FILE *f = fopen(file, "w");
        fputs("x", f);
        fclose(f);
    }
    ck_assert_int_eq(cairn_kv_open(&kv, file, NULL), CAIRN_PATH);
    ck_assert_str_ne(cairn_errmsg(), "");
    free(file);
    /* missing directory with and without create */
    file = kvt_path(g_dir, "sub");
    o.create = 0;
    ck_assert_int_eq(cairn_kv_open(&kv, file, &o), CAIRN_PATH);
    o.create = 1;
    o.read_only = 1;
    ck_assert_int_eq(cairn_kv_open(&kv, file, &o), CAIRN_PATH);
    o.read_only = 0;
    ck_assert_int_eq(cairn_kv_open(&kv, file, &o), 0);
    free(file);
    /* NULL handle everywhere */
    ck_assert_int_eq(cairn_kv_put(NULL, "k", 1, "v", 1, 0), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_get(NULL, "k", 1, &v, &vl, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_delete(NULL, "k", 1), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_exists(NULL, "k", 1), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_count(NULL, &n), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_begin(NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_commit(NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_rollback(NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_sync(NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_compact(NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_stats(NULL, &st), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_check(NULL), CAIRN_INVALID);
    cairn_kv_close(NULL);
    /* NULL / empty / huge keys and values */
    ck_assert_int_eq(cairn_kv_put(kv, NULL, 1, "v", 1, 0), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_put(kv, "k", 0, "v", 1, 0), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_put(kv, big, CAIRN_KEY_MAX + 1, "v", 1, 0), CAIRN_TOOBIG);
    ck_assert_int_eq(cairn_kv_put(kv, "k", 1, NULL, 1, 0), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_put(kv, "k", 1, big, (size_t)CAIRN_VALUE_MAX + 1, 0), CAIRN_TOOBIG);
    ck_assert_int_eq(cairn_kv_put(kv, "k", 1, NULL, 0, 0), 0); /* empty value: NULL is fine */
    ck_assert_int_eq(cairn_kv_get(kv, "k", 0, &v, &vl, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_get(kv, big, CAIRN_KEY_MAX + 1, &v, &vl, NULL), CAIRN_TOOBIG);
    ck_assert_int_eq(cairn_kv_get(kv, "k", 1, NULL, &vl, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_get(kv, "k", 1, &v, NULL, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_delete(kv, NULL, 1), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_delete(kv, big, CAIRN_KEY_MAX + 1), CAIRN_TOOBIG);
    ck_assert_int_eq(cairn_kv_exists(kv, "", 0), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_count(kv, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_stats(kv, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_expiry(kv, "k", 1, NULL), CAIRN_INVALID);
    /* the largest key works */
    memset(big, 'x', CAIRN_KEY_MAX);
    ck_assert_int_eq(cairn_kv_put(kv, big, CAIRN_KEY_MAX, "v", 1, 0), 0);
    ck_assert_int_eq(cairn_kv_exists(kv, big, CAIRN_KEY_MAX), 1);
    cairn_kv_close(kv);
    free(big);
}
END_TEST

START_TEST(read_only_and_permissions) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0), *ro = NULL;
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    kvt_put(kv, "a", "1");
    o.read_only = 1;
    /* read-only opens without the lock, next to the writer */
    ck_assert_int_eq(cairn_kv_open(&ro, g_dir, &o), 0);
    expect_val(ro, "a", "1");
    ck_assert_int_eq(kvt_put(ro, "b", "2"), CAIRN_READONLY);
    ck_assert_int_eq(cairn_kv_delete(ro, "a", 1), CAIRN_READONLY);
    ck_assert_int_eq(cairn_kv_begin(ro), CAIRN_READONLY);
    ck_assert_int_eq(cairn_kv_compact(ro), CAIRN_READONLY);
    ck_assert_int_eq(cairn_kv_sync(ro), 0);
    cairn_kv_close(ro);
    cairn_kv_close(kv);
    if (geteuid() != 0) { /* root ignores permissions */
        cairn_kv *w = NULL;
        char *sub = kvt_path(g_dir, "ro");
        mkdir(sub, 0555);
        ck_assert_int_eq(cairn_kv_open(&w, sub, NULL), CAIRN_PERM);
        free(sub);
    }
}
END_TEST

START_TEST(two_writers_locked) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 0), *kv2 = NULL;
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    pid_t pid;
    int status;
    ck_assert_int_eq(cairn_kv_open(&kv2, g_dir, NULL), CAIRN_LOCKED);
    ck_assert_ptr_null(kv2);
    o.lock_timeout_ms = 50;
    ck_assert_int_eq(cairn_kv_open(&kv2, g_dir, &o), CAIRN_BUSY);
    {
        /* the child reports through a pipe: under valgrind its exit code is valgrind's */
        int fds[2];
        char res = 0;
        ck_assert_int_eq(pipe(fds), 0);
        pid = fork();
        if (pid == 0) {
            cairn_kv *c = NULL;
            char r = cairn_kv_open(&c, g_dir, NULL) == CAIRN_LOCKED ? 'L' : 'x';
            if (write(fds[1], &r, 1) != 1) _exit(2);
            _exit(0);
        }
        close(fds[1]);
        ck_assert_int_eq(read(fds[0], &res, 1), 1);
        close(fds[0]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_int_eq(res, 'L');
    }
    cairn_kv_close(kv);
    ck_assert_int_eq(cairn_kv_open(&kv2, g_dir, NULL), 0);
    cairn_kv_close(kv2);
}
END_TEST

START_TEST(big_value_64mib) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    size_t n = (size_t)64 << 20, i, vl = 0;
    uint8_t *b = (uint8_t *)malloc(n);
    void *v = NULL;
    for (i = 0; i < n; i++) b[i] = (uint8_t)(i * 131 + (i >> 20));
    ck_assert_int_eq(cairn_kv_put(kv, "big", 3, b, n, CAIRN_KIND_BYTES), 0);
    kvt_put(kv, "small", "x");
    ck_assert_int_eq(cairn_kv_get(kv, "big", 3, &v, &vl, NULL), 0);
    ck_assert_uint_eq(vl, n);
    ck_assert(memcmp(v, b, n) == 0);
    cairn_free(v);
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    ck_assert_int_eq(cairn_kv_get(kv, "big", 3, &v, &vl, NULL), 0);
    ck_assert_uint_eq(vl, n);
    ck_assert(memcmp(v, b, n) == 0);
    cairn_free(v);
    expect_val(kv, "small", "x");
    cairn_kv_close(kv);
    free(b);
}
END_TEST

START_TEST(stats_fields) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    kvt_put(kv, "a", "12345");
    kvt_put(kv, "a", "12345");
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_uint_eq(st.keys, 1);
    ck_assert_uint_eq(st.data_files, 1);
    ck_assert_uint_eq(st.live_bytes, kvt_rec3(CAIRN_KIND_TEXT, 1, 5, 0));
    ck_assert_uint_eq(st.dead_bytes, kvt_rec3(CAIRN_KIND_TEXT, 1, 5, 0)); /* (the file's FILE record is not dead) */
    ck_assert_uint_eq(st.disk_bytes, 2 * kvt_rec3(CAIRN_KIND_TEXT, 1, 5, 0) + KVT_FILE3);
    ck_assert_uint_eq(st.seq, 2);
    ck_assert_uint_gt(st.keydir_bytes, 0);
    ck_assert_int_eq(st.in_txn, 0);
    ck_assert_int_eq(cairn_kv_sync(kv), 0);
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_uint_eq(st.seq, 2);
    ck_assert_uint_eq(st.live_bytes, kvt_rec3(CAIRN_KIND_TEXT, 1, 5, 0));
    kvt_put(kv, "b", "1");
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_uint_eq(st.seq, 3);
    cairn_kv_close(kv);
}
END_TEST

START_TEST(group_commit_threads_smoke) {
    /* deeper thread tests live in test_kv_threads.c; here: group mode works single-threaded */
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_GROUP, 0);
    int i;
    char k[16];
    for (i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "g%d", i);
        ck_assert_int_eq(kvt_put(kv, k, "v"), 0);
    }
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_GROUP, 0);
    for (i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "g%d", i);
        expect_val(kv, k, "v");
    }
    cairn_kv_close(kv);
}
END_TEST


/* A source of keys for keydir tests: location offset i (its low 24 bits) holds "key-<i>"; file
 * numbers >= 8 give the key in a malloc'd buffer (the path of a record read with pread); offset
 * bit 30 names a record that cannot be read. */
static int t_key(void *ctx, uint64_t loc, int verify, kd_key *k) {
    static char keys[8][32];
    static int next;
    uint64_t off = KD_LOC_OFF(loc);
    char *b;
    int n;
    (void)ctx;
    (void)verify;
    if (off & (UINT64_C(1) << 30)) return cairn_err__set(CAIRN_CORRUPT, "test: no record at offset %llu", (unsigned long long)off);
    b = KD_LOC_FILE(loc) >= 8 ? (char *)malloc(32) : keys[next++ & 7];
    n = snprintf(b, 32, "key-%u", (unsigned)(off & 0xffffffu));
    k->p = (const uint8_t *)b;
    k->n = (size_t)n;
    if (KD_LOC_FILE(loc) >= 8) k->buf = (uint8_t *)b;
    return 0;
}

static cairn_kd *t_kd(void) {
    kd_src src;
    src.key = t_key;
    src.addr = NULL;
    src.ctx = NULL;
    return cairn_kd__new(&src);
}

static int t_put(cairn_kd *kd, unsigned i, uint64_t loc, uint64_t *old) {
    char k[32];
    int len = snprintf(k, sizeof k, "key-%u", i);
    return cairn_kd__put(kd, k, (size_t)len, cairn_kd__hash(k, (size_t)len), loc, old);
}

static int t_find(cairn_kd *kd, unsigned i, uint64_t *loc) {
    char k[32];
    int len = snprintf(k, sizeof k, "key-%u", i);
    return cairn_kd__find(kd, k, (size_t)len, cairn_kd__hash(k, (size_t)len), loc);
}

static int t_del(cairn_kd *kd, unsigned i, uint64_t *old) {
    char k[32];
    int len = snprintf(k, sizeof k, "key-%u", i);
    return cairn_kd__del(kd, k, (size_t)len, cairn_kd__hash(k, (size_t)len), old);
}

/* The keydir itself: growth (rebuilds read every key again), replacement, deletion (tombstones),
 * the load factor (8-byte slots at 7/10..7/8: 9.1..11.4 bytes per key). */
START_TEST(keydir_table) {
    cairn_kd *kd = t_kd();
    unsigned i, n = 120000;
    uint64_t old, loc;
    for (i = 0; i < n; i++) ck_assert_int_eq(t_put(kd, i, KD_LOC(i % 11, i), &old), 0);
    ck_assert_uint_eq(cairn_kd__count(kd), (uint64_t)n);
    /* (12 bytes a slot in memory: the slot and its key's hash) */
    ck_assert_uint_ge(cairn_kd__bytes(kd), (uint64_t)n * 12u * 8u / 7u);
    ck_assert_uint_le(cairn_kd__bytes(kd), (uint64_t)n * 12u * 10u / 7u + 256u);
    /* replace every third key (same key, another location: bit 24 of the offset) */
    for (i = 0; i < n; i += 3) {
        ck_assert_int_eq(t_put(kd, i, KD_LOC(1, i | (1u << 24)), &old), 1);
        ck_assert_uint_eq(old, KD_LOC(i % 11, i));
    }
    for (i = 0; i < n; i++)
        if (i % 10 != 0) ck_assert_int_eq(t_del(kd, i, &old), 1);
    ck_assert_uint_eq(cairn_kd__count(kd), (uint64_t)n / 10);
    for (i = 0; i < n; i++) {
        int r = t_find(kd, i, &loc);
        if (i % 10 != 0) {
            ck_assert_int_eq(r, 0);
            continue;
        }
        ck_assert_int_eq(r, 1);
        ck_assert_uint_eq(loc, i % 3 == 0 ? KD_LOC(1, i | (1u << 24)) : KD_LOC(i % 11, i));
    }
    ck_assert_int_eq(cairn_kd__del(kd, "nope", 4, cairn_kd__hash("nope", 4), &old), 0);
    /* inserts after the deletes reuse tombstones and rebuild without them: still all there */
    for (i = n; i < 2 * n; i++) ck_assert_int_eq(t_put(kd, i, KD_LOC(9, i), &old), 0);
    for (i = 0; i < 2 * n; i += 7) ck_assert_int_eq(t_find(kd, i, &loc), i >= n || i % 10 == 0);
    cairn_kd__free(kd);
}
END_TEST

/* A slot whose record cannot be read, or holds a key of another hash, is an error when a probe
 * meets it (never a silent miss); a rebuild that meets one fails and changes nothing. */
START_TEST(keydir_bad_slots) {
    cairn_kd *kd = t_kd();
    uint64_t old, loc;
    unsigned i, hit = 0;
    for (i = 0; i < 12; i++) ck_assert_int_eq(t_put(kd, i, KD_LOC(0, i), &old), 0);
    /* "key-5" now names the record of key-6: a lookup of key-5 meets a key of another tag */
    ck_assert_int_eq(t_put(kd, 5, KD_LOC(0, 6), &old), 1);
    ck_assert_int_eq(t_find(kd, 5, &loc), CAIRN_CORRUPT);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "another hash"));
    /* unreadable records: every key whose probe meets one (with its tag) reports it */
    cairn_kd__free(kd);
    kd = t_kd();
    for (i = 0; i < 12; i++) ck_assert_int_eq(t_put(kd, i, KD_LOC(0, i), &old), 0);
    ck_assert_int_eq(t_put(kd, 3, KD_LOC(0, 3u | (1u << 30)), &old), 1);
    ck_assert_int_eq(t_find(kd, 3, &loc), CAIRN_CORRUPT);
    /* growth moves slots by the hashes the writer keeps (no record is read): the bad slot stays
     * bad, every other key stays found */
    for (i = 12; i < 200; i++) ck_assert_int_eq(t_put(kd, i, KD_LOC(0, i), &old), 0);
    ck_assert_int_eq(t_find(kd, 3, &loc), CAIRN_CORRUPT);
    for (i = 0; i < 200; i++)
        if (i != 3) {
            ck_assert_int_eq(t_find(kd, i, &loc), 1);
            ck_assert_uint_eq(loc, KD_LOC(0, i));
        }
    (void)hit;
    cairn_kd__free(kd);
}
END_TEST


/* A batch larger than max_file_size stays in one file; reclaim copes with records larger than its
 * copy buffer; everything survives reopen without the snapshot (hints and scans). */
START_TEST(big_batch_and_big_records) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 4096);
    size_t big = (size_t)3 << 20, i, vl;
    uint8_t *b = (uint8_t *)malloc(big);
    void *v;
    char k[32], *p;
    uint64_t n;
    for (i = 0; i < big; i++) b[i] = (uint8_t)(i * 31 + 7);
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    for (i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "batch-%zu", i);
        ck_assert_int_eq(kvt_put(kv, k, "a value in a big batch"), 0);
    }
    ck_assert_int_eq(cairn_kv_put(kv, "huge", 4, b, big, 0), 0);
    ck_assert_int_eq(cairn_kv_commit(kv), 0);
    for (i = 0; i < 2000; i += 2) {
        snprintf(k, sizeof k, "batch-%zu", i);
        ck_assert_int_eq(cairn_kv_delete(kv, k, strlen(k)), 0);
    }
    ck_assert_int_eq(cairn_kv_compact(kv), 0);
    ck_assert_int_eq(cairn_kv_get(kv, "huge", 4, &v, &vl, NULL), 0);
    ck_assert(vl == big && memcmp(v, b, big) == 0);
    cairn_free(v);
    cairn_kv_close(kv);
    p = kvt_path(g_dir, "KEYDIR");
    unlink(p);
    free(p);
    ck_assert_int_eq(cairn_kv_check(g_dir), 0);
    kv = kvt_open(g_dir, CAIRN_SYNC_COMMIT, 4096);
    ck_assert_int_eq(cairn_kv_count(kv, &n), 0);
    ck_assert_uint_eq(n, 1001);
    for (i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "batch-%zu", i);
        ck_assert_int_eq(cairn_kv_exists(kv, k, strlen(k)), (int)(i % 2));
    }
    ck_assert_int_eq(cairn_kv_get(kv, "huge", 4, &v, &vl, NULL), 0);
    ck_assert(vl == big && memcmp(v, b, big) == 0);
    cairn_free(v);
    cairn_kv_close(kv);
    free(b);
}
END_TEST


/* KEYDIR: kept by a close without changes, dropped by the first change, rewritten at close; a
 * stale or damaged one is never used. */
START_TEST(keydir_snapshot_lifecycle) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0), *ro = NULL;
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    char *snap = kvt_path(g_dir, "KEYDIR");
    struct stat st1, st2;
    int i;
    char k[16];
    for (i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "s%d", i);
        kvt_put(kv, k, "v");
    }
    cairn_kv_close(kv);
    ck_assert_int_eq(stat(snap, &st1), 0);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    expect_val(kv, "s5", "v"); /* reads from the mapped snapshot */
    cairn_kv_close(kv);
    ck_assert_int_eq(stat(snap, &st2), 0);
    ck_assert(st1.st_ino == st2.st_ino); /* not rewritten */
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    kvt_put(kv, "s5", "changed"); /* the first change copies the keydir and drops KEYDIR */
    ck_assert_int_eq(access(snap, F_OK), -1);
    expect_val(kv, "s5", "changed");
    expect_val(kv, "s6", "v");
    o.read_only = 1;
    ck_assert_int_eq(cairn_kv_open(&ro, g_dir, &o), 0); /* a reader scans meanwhile */
    expect_val(ro, "s5", "changed");
    cairn_kv_close(ro);
    cairn_kv_close(kv);
    ck_assert_int_eq(access(snap, F_OK), 0);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    expect_val(kv, "s5", "changed");
    ck_assert_int_eq(cairn_kv_delete(kv, "s6", 2), 0);
    ck_assert_int_eq(cairn_kv_compact(kv), 0);
    expect_val(kv, "s6", NULL);
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    expect_val(kv, "s6", NULL);
    expect_val(kv, "s7", "v");
    cairn_kv_close(kv);
    free(snap);
}
END_TEST

/* ---- the active file read through a mapping (kv_active.c wmap_active) ------------------------ */

/* Sum of the sizes of the store's data files, without their framing: every file starts with a
 * FILE record, every one but the last (the active file) ends with a SEAL record (48 and 31 bytes). */
static uint64_t data_bytes(const char *dir) {
    char **v;
    size_t n = kvt_list(dir, ".data", &v), i;
    uint64_t sum = 0;
    for (i = 0; i < n; i++) {
        char *p = kvt_path(dir, v[i]);
        sum += kvt_fsize(p);
        free(p);
    }
    kvt_list_free(v, n);
    if (n) sum -= KVT_FILE3 * n + KVT_SEAL3 * (n - 1);
    return sum;
}

#define MAPREC(k, v) kvt_rec3(CAIRN_KIND_TEXT, strlen(k), strlen(v), 0)

/* Gets of records appended in this session (through the active file's shared mapping, across
 * rotations and for a record larger than the mapping); data files end exactly at their last
 * record after close and after reopen (while open, reserved zero blocks may follow it). */
START_TEST(active_mapped_reads_exact_sizes) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 4096);
    char k[32], v[64];
    uint64_t want = 0;
    size_t big = 100000, vl = 0, i;
    uint8_t *b = (uint8_t *)malloc(big);
    void *got = NULL;
    int j;
    for (i = 0; i < big; i++) b[i] = (uint8_t)(i * 7 + 1);
    for (j = 0; j < 300; j++) {
        snprintf(k, sizeof k, "k%04d", j);
        snprintf(v, sizeof v, "value-%d-%s", j, j % 3 ? "x" : "padding-padding");
        ck_assert_int_eq(kvt_put(kv, k, v), 0);
        want += MAPREC(k, v);
        expect_val(kv, k, v); /* just appended: read from the active file */
        if (j == 150) {
            /* larger than max_file_size and than the mapping: starts a file of its own */
            ck_assert_int_eq(cairn_kv_put(kv, "big", 3, b, big, CAIRN_KIND_BYTES), 0);
            want += kvt_rec3(CAIRN_KIND_BYTES, 3, big, 0);
            ck_assert_int_eq(cairn_kv_get(kv, "big", 3, &got, &vl, NULL), 0);
            ck_assert_uint_eq(vl, big);
            ck_assert(memcmp(got, b, big) == 0);
            cairn_free(got);
        }
        /* while open, the active file may end in reserved zero blocks past its last record */
        ck_assert_uint_ge(data_bytes(g_dir), want);
    }
    for (j = 0; j < 300; j++) {
        snprintf(k, sizeof k, "k%04d", j);
        snprintf(v, sizeof v, "value-%d-%s", j, j % 3 ? "x" : "padding-padding");
        expect_val(kv, k, v);
    }
    cairn_kv_close(kv);
    ck_assert_uint_eq(data_bytes(g_dir), want);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 4096);
    ck_assert_uint_eq(data_bytes(g_dir), want);
    for (j = 0; j < 300; j++) {
        snprintf(k, sizeof k, "k%04d", j);
        snprintf(v, sizeof v, "value-%d-%s", j, j % 3 ? "x" : "padding-padding");
        expect_val(kv, k, v);
    }
    ck_assert_int_eq(cairn_kv_get(kv, "big", 3, &got, &vl, NULL), 0);
    ck_assert(vl == big && memcmp(got, b, big) == 0);
    cairn_free(got);
    /* appends after reopen go on in the reopened active file, and read back through its mapping */
    ck_assert_int_eq(kvt_put(kv, "after", "reopen"), 0);
    want += MAPREC("after", "reopen");
    expect_val(kv, "after", "reopen");
    ck_assert_uint_ge(data_bytes(g_dir), want);
    cairn_kv_close(kv); /* close trims the reserved tail: exact sizes again */
    ck_assert_uint_eq(data_bytes(g_dir), want);
    ck_assert_int_eq(cairn_kv_check(g_dir), 0);
    free(b);
}
END_TEST

/* A writer that dies without closing (the state a SIGKILL leaves) loses nothing it put. */
START_TEST(killed_writer_keeps_every_put) {
    cairn_kv *kv;
    pid_t pid;
    int status, j;
    char k[32], v[64];
    uint64_t want = 0;
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    ck_assert_int_eq(kvt_put(kv, "before", "fork"), 0);
    cairn_kv_close(kv);
    want += MAPREC("before", "fork");
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
        o.sync = CAIRN_SYNC_NONE;
        if (cairn_kv_open(&kv, g_dir, &o) != 0) _exit(2);
        for (j = 0; j < 2000; j++) {
            char *got = NULL;
            snprintf(k, sizeof k, "key%05d", j);
            snprintf(v, sizeof v, "v%d", j * 31);
            if (kvt_put(kv, k, v) != 0) _exit(3);
            if (kvt_get(kv, k, &got) != 1 || strcmp(got, v) != 0) _exit(4);
            free(got);
        }
        _exit(0); /* no close: no fsync, no snapshot, no hint */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: status %d", status);
    for (j = 0; j < 2000; j++) {
        snprintf(k, sizeof k, "key%05d", j);
        snprintf(v, sizeof v, "v%d", j * 31);
        want += MAPREC(k, v);
    }
    /* the killed writer leaves its reserved zero tail; reopen treats it as the end of the log */
    ck_assert_uint_ge(data_bytes(g_dir), want);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    expect_val(kv, "before", "fork");
    for (j = 0; j < 2000; j++) {
        snprintf(k, sizeof k, "key%05d", j);
        snprintf(v, sizeof v, "v%d", j * 31);
        expect_val(kv, k, v);
    }
    cairn_kv_close(kv);
    ck_assert_uint_eq(data_bytes(g_dir), want);
    ck_assert_int_eq(cairn_kv_check(g_dir), 0);
}
END_TEST

/* A full disk on an append is a clean CAIRN_NOSPC: earlier records of the active file still read
 * (through its mapping), the file is back at its last record, later puts work, and a reopen has
 * every committed put and not the failed one. */
START_TEST(enospc_append_is_clean) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    char k[32], v[64];
    uint64_t want = 0;
    int j, kind;
    for (j = 0; j < 50; j++) {
        snprintf(k, sizeof k, "a%d", j);
        snprintf(v, sizeof v, "val%d", j);
        ck_assert_int_eq(kvt_put(kv, k, v), 0);
        want += MAPREC(k, v);
    }
    for (kind = CAIRN_FAULT_ENOSPC; kind <= CAIRN_FAULT_SHORT; kind++) {
        cairn_io__fault_reset();
        cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, kind, 0);
        ck_assert_int_eq(kvt_put(kv, kind == CAIRN_FAULT_SHORT ? "lost-short" : "lost", "never"), CAIRN_NOSPC);
        ck_assert_uint_eq(cairn_io__fault_fired(), 1);
        cairn_io__fault_reset();
        ck_assert_uint_eq(data_bytes(g_dir), want);
        for (j = 0; j < 50; j++) {
            snprintf(k, sizeof k, "a%d", j);
            snprintf(v, sizeof v, "val%d", j);
            expect_val(kv, k, v);
        }
        expect_val(kv, "lost", NULL);
    }
    ck_assert_int_eq(kvt_put(kv, "after", "fault"), 0);
    want += MAPREC("after", "fault");
    expect_val(kv, "after", "fault");
    cairn_kv_close(kv);
    ck_assert_uint_eq(data_bytes(g_dir), want);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    for (j = 0; j < 50; j++) {
        snprintf(k, sizeof k, "a%d", j);
        snprintf(v, sizeof v, "val%d", j);
        expect_val(kv, k, v);
    }
    expect_val(kv, "after", "fault");
    expect_val(kv, "lost", NULL);
    expect_val(kv, "lost-short", NULL);
    cairn_kv_close(kv);
    ck_assert_int_eq(cairn_kv_check(g_dir), 0);
}
END_TEST

/* A full disk when the active file reserves blocks ahead (the first write-class op of the first
 * put of a session) is a clean CAIRN_NOSPC: nothing is stored, the file keeps its exact size,
 * and the next put (the disk has room again) reserves and succeeds. */
START_TEST(enospc_reserve_is_clean) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    uint64_t want = 0;
    ck_assert_int_eq(kvt_put(kv, "first", "session"), 0);
    want += MAPREC("first", "session");
    cairn_kv_close(kv);
    ck_assert_uint_eq(data_bytes(g_dir), want);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    cairn_io__fault_reset();
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, CAIRN_FAULT_ENOSPC, 0);
    ck_assert_int_eq(kvt_put(kv, "lost", "never"), CAIRN_NOSPC);
    ck_assert_uint_eq(cairn_io__fault_fired(), 1);
    cairn_io__fault_reset();
    ck_assert_uint_eq(data_bytes(g_dir), want);
    expect_val(kv, "lost", NULL);
    expect_val(kv, "first", "session");
    ck_assert_int_eq(kvt_put(kv, "second", "put"), 0);
    want += MAPREC("second", "put");
    expect_val(kv, "second", "put");
    cairn_kv_close(kv);
    ck_assert_uint_eq(data_bytes(g_dir), want);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    expect_val(kv, "first", "session");
    expect_val(kv, "second", "put");
    expect_val(kv, "lost", NULL);
    cairn_kv_close(kv);
    ck_assert_int_eq(cairn_kv_check(g_dir), 0);
}
END_TEST

/* A transaction larger than the 1 MiB piece it is encoded in: committed in pieces (one record
 * larger than a piece among them), all of it there after reopen; a write failing in its second
 * piece fails the commit with nothing of it written or visible, and the store goes on. */
START_TEST(large_transaction_streams) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    char key[32];
    static uint8_t val[1000];
    size_t huge_n = (size_t)3 << 19, i, n = 0; /* 1.5 MiB */
    uint8_t *huge = malloc(huge_n), *got = NULL;
    uint64_t before, count = 0;
    int kind;
    ck_assert_ptr_nonnull(huge);
    for (i = 0; i < huge_n; i++) huge[i] = (uint8_t)(i * 13 + 1);
    ck_assert_int_eq(kvt_put(kv, "before", "1"), 0);
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    for (i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "t%05zu", i);
        memset(val, (int)(i & 0xff), sizeof val);
        ck_assert_int_eq(cairn_kv_put(kv, key, strlen(key), val, sizeof val, CAIRN_KIND_BYTES), 0);
        if (i == 1500) ck_assert_int_eq(cairn_kv_put(kv, "huge", 4, huge, huge_n, CAIRN_KIND_BYTES), 0);
    }
    ck_assert_int_eq(cairn_kv_commit(kv), 0);
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    for (i = 0; i < 3000; i += 7) {
        snprintf(key, sizeof key, "t%05zu", i);
        ck_assert_int_eq(cairn_kv_get(kv, key, strlen(key), (void **)&got, &n, &kind), 0);
        ck_assert_uint_eq(n, sizeof val);
        ck_assert(got[0] == (uint8_t)(i & 0xff) && got[n - 1] == (uint8_t)(i & 0xff));
        cairn_free(got);
    }
    expect_bytes(kv, "huge", huge, huge_n);
    /* a failed write in the second piece */
    before = data_bytes(g_dir);
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    for (i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "x%05zu", i);
        ck_assert_int_eq(cairn_kv_put(kv, key, strlen(key), val, sizeof val, CAIRN_KIND_BYTES), 0);
    }
    cairn_io__fault_reset();
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 2, CAIRN_FAULT_ENOSPC, 0);
    ck_assert_int_eq(cairn_kv_commit(kv), CAIRN_NOSPC);
    ck_assert_uint_eq(cairn_io__fault_fired(), 1);
    cairn_io__fault_reset();
    ck_assert_uint_eq(data_bytes(g_dir), before);
    expect_val(kv, "x00000", NULL);
    expect_val(kv, "x02999", NULL);
    expect_val(kv, "before", "1");
    ck_assert_int_eq(kvt_put(kv, "after", "2"), 0);
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    expect_val(kv, "x00000", NULL);
    expect_val(kv, "after", "2");
    ck_assert_int_eq(cairn_kv_count(kv, &count), 0);
    ck_assert_uint_eq(count, 3000 + 3);
    cairn_kv_close(kv);
    ck_assert_int_eq(cairn_kv_check(g_dir), 0);
    free(huge);
}
END_TEST

/* ---- forged KEYDIR snapshots: CRCs valid, contents inconsistent ------------------------------ */

/* Where the parts of a KEYDIR lie (the FORMAT comment in kv.c): the 32-byte header and the file
 * list, the table header (40 bytes), the header CRC and 4 zero bytes, the slots (u64, host byte
 * order), a CRC per page of 8192 slots. */
typedef struct snap_map {
    size_t th;    /* table header */
    size_t slots; /* u64 slots */
    size_t crcs;
    size_t nslots, npages, nfiles;
} snap_map;

static snap_map snap_layout(const uint8_t *m, size_t len) {
    snap_map sm;
    ck_assert_int_eq(memcmp(m, "CRK4", 4), 0);
    ck_assert_uint_eq(cairn_get32(m + 4), 4);
    sm.nfiles = cairn_get32(m + 12);
    sm.th = 32 + sm.nfiles * 16;
    sm.nslots = cairn_get32(m + sm.th);
    sm.slots = sm.th + 48;
    sm.crcs = sm.slots + sm.nslots * 8;
    sm.npages = (sm.nslots + 8191) / 8192;
    ck_assert_uint_eq(sm.crcs + sm.npages * 4, len);
    return sm;
}

static uint64_t snap_slot(const uint8_t *m, const snap_map *sm, size_t i) {
    uint64_t v;
    memcpy(&v, m + sm->slots + i * 8, 8);
    return v;
}

static void snap_set_slot(uint8_t *m, const snap_map *sm, size_t i, uint64_t v) { memcpy(m + sm->slots + i * 8, &v, 8); }

/* Make every CRC of a KEYDIR match again (header, pages), so only the other checks can reject it. */
static void write_snapshot_with_crcs(const char *p, uint8_t *m, size_t len) {
    snap_map sm = snap_layout(m, len);
    size_t pg;
    FILE *f;
    cairn_put32(m + sm.th + 40, cairn_crc32c__update(0, m, sm.th + 40));
    for (pg = 0; pg < sm.npages; pg++) {
        size_t first = pg * 8192, n = sm.nslots - first < 8192 ? sm.nslots - first : 8192;
        cairn_put32(m + sm.crcs + pg * 4, cairn_crc32c__update(0, m + sm.slots + first * 8, n * 8));
    }
    ck_assert_ptr_nonnull(f = fopen(p, "wb"));
    ck_assert_uint_eq(fwrite(m, 1, len, f), len);
    fclose(f);
}

/* The slot of the record holding key + value (found in the data files by its bytes: the key and
 * value follow each other at the end of a record; the slot is the record that starts closest
 * before them). */
static size_t snap_slot_of(const char *dir, const uint8_t *m, const snap_map *sm, const char *key, const char *val) {
    size_t i, best = (size_t)-1, kl = strlen(key), vl = strlen(val);
    uint64_t best_off = 0;
    uint32_t f;
    for (f = 0; f < sm->nfiles; f++) {
        char name[40], *p;
        uint8_t *d = NULL;
        size_t dl = 0, at;
        snprintf(name, sizeof name, "%016llx.data", (unsigned long long)cairn_get64(m + 32 + (size_t)f * 16));
        p = kvt_path(dir, name);
        ck_assert_int_eq(cairn_io__read_all(p, (void **)&d, &dl), 0);
        free(p);
        for (at = 0; at + kl + vl <= dl; at++)
            if (memcmp(d + at, key, kl) == 0 && memcmp(d + at + kl, val, vl) == 0) break;
        free(d);
        if (at + kl + vl > dl) continue;
        for (i = 0; i < sm->nslots; i++) {
            uint64_t v = snap_slot(m, sm, i);
            if (v <= 1 || KD_LOC_FILE(v) != f || KD_LOC_OFF(v) >= at) continue;
            if (best == (size_t)-1 || KD_LOC_OFF(v) > best_off) {
                best = i;
                best_off = KD_LOC_OFF(v);
            }
        }
        if (best != (size_t)-1) return best;
    }
    ck_abort_msg("no slot for %s in KEYDIR", key);
    return 0;
}

static void put_n(const char *dir, int n) {
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_NONE, 0);
    char k[32], v[32];
    int j;
    for (j = 0; j < n; j++) {
        snprintf(k, sizeof k, "key%d", j);
        snprintf(v, sizeof v, "val%d", j);
        ck_assert_int_eq(kvt_put(kv, k, v), 0);
    }
    cairn_kv_close(kv);
}

static void expect_n(const char *dir, int n) {
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_NONE, 0);
    char k[32], v[32];
    int j;
    for (j = 0; j < n; j++) {
        snprintf(k, sizeof k, "key%d", j);
        snprintf(v, sizeof v, "val%d", j);
        expect_val(kv, k, v);
    }
    ck_assert_int_eq(cairn_kv_get(kv, "key-absent", 10, NULL, NULL, NULL) != 0, 1);
    cairn_kv_close(kv);
}

/* A version-3 KEYDIR (the arena of entries) left by an older build is ignored, never misread:
 * open scans the log. */
START_TEST(snapshot_old_version_is_ignored) {
    char *p = kvt_path(g_dir, "KEYDIR");
    uint8_t *m = NULL;
    size_t len = 0;
    put_n(g_dir, 300);
    ck_assert_int_eq(cairn_io__read_all(p, (void **)&m, &len), 0);
    memcpy(m, "CRK3", 4);
    cairn_put32(m + 4, 3);
    cairn_put32(m + 32 + cairn_get32(m + 12) * 16 + 40, cairn_crc32c__update(0, m, 32 + cairn_get32(m + 12) * 16 + 40));
    {
        FILE *f = fopen(p, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(m, 1, len, f), len);
        fclose(f);
    }
    free(m);
    expect_n(g_dir, 300);
    free(p);
}
END_TEST

enum {
    FORGE_NO_TAG,       /* key1's slot without its tag (not live: the count no longer matches): ignored */
    FORGE_ERASED,       /* key1's slot emptied: the count no longer matches: ignored */
    FORGE_COUNT,        /* the table header's key count is wrong: ignored */
    FORGE_FULL_TABLE,   /* every slot occupied (and counted): probes would never end: ignored */
    FORGE_PAGE_CRC,     /* a slot changed, its page CRC not: ignored */
    FORGE_FILE_SLOT,    /* key1's slot names data file #1000 (the store has one): CAIRN_CORRUPT on use */
    FORGE_OFF_PAST_END, /* key1's record starts past the end of its file: CAIRN_CORRUPT on use */
    FORGE_OFF_STRADDLE, /* key1's record starts in its file, ends past it: CAIRN_CORRUPT on use */
    FORGE_OFF_MID,      /* key1's slot points into the middle of its record: CAIRN_CORRUPT on use */
    FORGE_OTHER_RECORD, /* key1's slot names key2's (valid) record: CAIRN_CORRUPT on use */
    FORGE_N
};

/* 1 if the forged KEYDIR is rejected at open (the keydir is rebuilt from the data files). */
static int forge_ignored(int how) { return how < FORGE_FILE_SLOT; }

static void forge(const char *dir, uint8_t *m, size_t len, int how) {
    snap_map sm = snap_layout(m, len);
    size_t s1 = snap_slot_of(dir, m, &sm, "key1", "val1"), s2 = snap_slot_of(dir, m, &sm, "key2", "val2"), i;
    uint64_t v1 = snap_slot(m, &sm, s1), tag = v1 & ~KD_LOC_MASK;
    uint64_t size = cairn_get64(m + 32 + 8 + (size_t)KD_LOC_FILE(v1) * 16);
    switch (how) {
    case FORGE_FILE_SLOT:
        snap_set_slot(m, &sm, s1, tag | KD_LOC(1000, KD_LOC_OFF(v1)));
        break;
    case FORGE_NO_TAG:
        snap_set_slot(m, &sm, s1, v1 & KD_LOC_MASK);
        break;
    case FORGE_ERASED:
        snap_set_slot(m, &sm, s1, 0);
        break;
    case FORGE_COUNT:
        cairn_put64(m + sm.th + 8, cairn_get64(m + sm.th + 8) - 1);
        break;
    case FORGE_FULL_TABLE:
        for (i = 0; i < sm.nslots; i++)
            if (snap_slot(m, &sm, i) == 0) snap_set_slot(m, &sm, i, v1);
        cairn_put64(m + sm.th + 8, sm.nslots - cairn_get64(m + sm.th + 16));
        break;
    case FORGE_PAGE_CRC: {
        /* (CRCs made right first, then the slot changed behind them) */
        FILE *f;
        char *p = kvt_path(dir, "KEYDIR");
        write_snapshot_with_crcs(p, m, len);
        snap_set_slot(m, &sm, s1, tag | KD_LOC(KD_LOC_FILE(v1), KD_LOC_OFF(v1) + 1));
        ck_assert_ptr_nonnull(f = fopen(p, "wb"));
        ck_assert_uint_eq(fwrite(m, 1, len, f), len);
        fclose(f);
        free(p);
        return;
    }
    case FORGE_OFF_PAST_END:
        snap_set_slot(m, &sm, s1, tag | KD_LOC(KD_LOC_FILE(v1), size + 100));
        break;
    case FORGE_OFF_STRADDLE:
        snap_set_slot(m, &sm, s1, tag | KD_LOC(KD_LOC_FILE(v1), size - 20));
        break;
    case FORGE_OFF_MID:
        snap_set_slot(m, &sm, s1, tag | KD_LOC(KD_LOC_FILE(v1), KD_LOC_OFF(v1) + 3));
        break;
    case FORGE_OTHER_RECORD:
        snap_set_slot(m, &sm, s1, tag | (snap_slot(m, &sm, s2) & KD_LOC_MASK));
        break;
    }
    {
        char *p = kvt_path(dir, "KEYDIR");
        write_snapshot_with_crcs(p, m, len);
        free(p);
    }
}

/* Every read answers right or CAIRN_CORRUPT, never another key's value, never a crash. Returns
 * how many keys answered CAIRN_CORRUPT. */
static int read_back(cairn_kv *kv, int n, int strict) {
    char k[32], v[32];
    int j, bad = 0, rc;
    cairn_kv_iter *it = NULL;
    const void *ik;
    size_t ikl;
    uint64_t cnt = 0;
    for (j = 0; j < n; j++) {
        void *got = NULL;
        size_t gl = 0;
        int kind = -1;
        snprintf(k, sizeof k, "key%d", j);
        snprintf(v, sizeof v, "val%d", j);
        rc = cairn_kv_get(kv, k, strlen(k), &got, &gl, &kind);
        if (rc == CAIRN_CORRUPT && !strict) {
            bad++;
            continue;
        }
        ck_assert_msg(rc == 0, "%s: rc %d (%s)", k, rc, cairn_errmsg());
        ck_assert_msg(gl == strlen(v) && memcmp(got, v, gl) == 0, "%s: wrong value %.*s", k, (int)gl, (char *)got);
        ck_assert_int_eq(kind, CAIRN_KIND_TEXT);
        cairn_free(got);
    }
    rc = cairn_kv_iter_open(&it, kv, "key", 3);
    if (!strict && rc == CAIRN_CORRUPT) {
        /* it names the data file (by name, or by number when there is no such file) */
        ck_assert(strstr(cairn_errmsg(), ".data") != NULL || strstr(cairn_errmsg(), "data file #") != NULL);
    } else {
        ck_assert_int_eq(rc, 0);
        while (cairn_kv_iter_next(it, &ik, &ikl) == 0) {
            ck_assert(ikl > 3 && ikl < 10 && memcmp(ik, "key", 3) == 0);
            cnt++;
        }
        cairn_kv_iter_free(it);
        ck_assert_uint_eq(cnt, (uint64_t)n);
    }
    ck_assert_int_eq(cairn_kv_count(kv, &cnt), 0);
    ck_assert_uint_ge(cnt, (uint64_t)n);
    return bad;
}

/* KEYDIR files forged with matching CRCs. Those whose counts do not match the slots (a slot
 * emptied or stripped of its tag, a wrong count, no empty slot) or whose page CRC does not match
 * are ignored at open (the keydir is rebuilt from the data files) and every key reads right.
 * Those whose slot names a location that holds no record of that key (a file that does not
 * exist, past the end of its file, straddling it, inside a record, another key's record)
 * pass the open (slots are not proven at open): a read of that key, an iteration and a
 * compaction that meet the slot are CAIRN_CORRUPT naming the data file and offset, never another
 * key's value and never a crash; the other keys read right. Each case: open, get, iterate, put,
 * close, reopen. (Run under ASan.) */
START_TEST(snapshot_forged_entries) {
    int how = _i;
    char *p = kvt_path(g_dir, "KEYDIR");
    uint8_t *m = NULL;
    size_t len = 0;
    cairn_kv *kv;
    int strict = forge_ignored(how), round;
    put_n(g_dir, 100);
    ck_assert_int_eq(cairn_io__read_all(p, (void **)&m, &len), 0);
    forge(g_dir, m, len, how);
    free(m);
    for (round = 0; round < 2; round++) {
        ck_assert_ptr_nonnull(kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0));
        ck_assert_int_eq(read_back(kv, 100, strict), strict ? 0 : 1);
        if (round == 0) ck_assert_int_eq(kvt_put(kv, "new", "fresh"), 0);
        expect_val(kv, "new", "fresh");
        cairn_kv_close(kv);
    }
    if (!strict) {
        /* the bad slot stays (the keydir is written back as it is): compaction meets it */
        ck_assert_ptr_nonnull(kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0));
        ck_assert_int_eq(kvt_put(kv, "new", "fresher"), 0);
        ck_assert_int_eq(cairn_kv_compact(kv), CAIRN_CORRUPT);
        cairn_kv_close(kv);
    }
    ck_assert_int_eq(cairn_kv_check(g_dir), 0); /* the data files themselves are intact */
    free(p);
}
END_TEST

/* A snapshot made after churn (deletes leave holes in the arena, expiry changes move entries,
 * keys with expiries) passes the load checks: a close without changes keeps it (an ignored one
 * would be deleted at open and written again). */
START_TEST(snapshot_after_churn_is_used) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    char *snap = kvt_path(g_dir, "KEYDIR"), k[32];
    struct stat st1, st2;
    int64_t far = (int64_t)time(NULL) * 1000 + 86400000;
    int j;
    for (j = 0; j < 3000; j++) {
        snprintf(k, sizeof k, "churn%d", j);
        ck_assert_int_eq(cairn_kv_put(kv, k, strlen(k), "v", 1, j % 4), 0);
    }
    for (j = 0; j < 3000; j += 3) {
        snprintf(k, sizeof k, "churn%d", j);
        ck_assert_int_eq(cairn_kv_delete(kv, k, strlen(k)), 0);
    }
    for (j = 1; j < 3000; j += 3) {
        snprintf(k, sizeof k, "churn%d", j);
        ck_assert_int_eq(cairn_kv_put_ex(kv, k, strlen(k), "e", 1, 0, far), 0); /* entry moves */
    }
    for (j = 1; j < 3000; j += 6) {
        snprintf(k, sizeof k, "churn%d", j);
        ck_assert_int_eq(cairn_kv_put(kv, k, strlen(k), "back", 4, 0), 0); /* and back */
    }
    cairn_kv_close(kv);
    ck_assert_int_eq(stat(snap, &st1), 0);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    expect_val(kv, "churn1", "back");
    expect_val(kv, "churn4", "e");
    expect_val(kv, "churn3", NULL);
    cairn_kv_close(kv);
    ck_assert_int_eq(stat(snap, &st2), 0);
    ck_assert(st1.st_ino == st2.st_ino); /* used, not rewritten */
    free(snap);
}
END_TEST

/* Churn against a model: inserts, overwrites, deletes (tombstones, empties), rebuilds; every key
 * is checked after each round. */
START_TEST(keydir_tags_churn) {
    enum { N = 20000 };
    static unsigned char live[N];
    static uint64_t where[N];
    cairn_kd *kd = t_kd();
    int i, round;
    uint64_t old;
    unsigned x = 12345;
    memset(live, 0, sizeof live);
    ck_assert_ptr_nonnull(kd);
    for (round = 0; round < 6; round++) {
        for (i = 0; i < N; i++) {
            int op;
            x = x * 1103515245u + 12345u;
            op = (int)((x >> 16) % 4);
            if (op == 3) {
                int r = t_del(kd, (unsigned)i, &old);
                ck_assert_int_eq(r, live[i] ? 1 : 0);
                if (r) ck_assert_uint_eq(old, where[i]);
                live[i] = 0;
            } else {
                uint64_t loc = KD_LOC((unsigned)(round + op * 3) % 12, (unsigned)i | ((unsigned)round << 24));
                int r = t_put(kd, (unsigned)i, loc, &old);
                ck_assert_int_eq(r, live[i] ? 1 : 0);
                if (r) ck_assert_uint_eq(old, where[i]);
                live[i] = 1;
                where[i] = loc;
            }
        }
        for (i = 0; i < N; i++) {
            uint64_t loc = 0;
            int r = t_find(kd, (unsigned)i, &loc);
            ck_assert_int_eq(r, live[i]);
            if (r) ck_assert_uint_eq(loc, where[i]);
        }
    }
    cairn_kd__free(kd);
}
END_TEST

/* ---- statistics that mean one thing ------------------------------------------------------- */

/* Bytes of every regular file directly in dir (what disk_bytes must report once closed). */
static uint64_t dir_file_bytes(const char *dir) {
    char **names = NULL;
    size_t n = kvt_list(dir, "", &names), i;
    uint64_t total = 0;
    for (i = 0; i < n; i++) {
        char *p = kvt_path(dir, names[i]);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) total += (uint64_t)sb.st_size;
        free(p);
    }
    kvt_list_free(names, n);
    return total;
}

static cairn_kv *open_ro(const char *dir) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    o.read_only = 1;
    ck_assert_int_eq(cairn_kv_open(&kv, dir, &o), 0);
    return kv;
}

static struct cairn_kv_stats stats_of(cairn_kv *kv) {
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    return st;
}

/* disk_bytes is the bytes of every file of the store, whichever way the handle loaded the keydir:
 * from KEYDIR, from hint files (of an older version), or by scanning the data files. */
START_TEST(stats_disk_bytes_every_open_path) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 512);
    char k[16], **names = NULL;
    size_t n, i;
    uint64_t want;
    struct cairn_kv_stats st;
    for (i = 0; i < 60; i++) {
        snprintf(k, sizeof k, "key%02u", (unsigned)i);
        kvt_put(kv, k, "some value bytes");
    }
    cairn_kv_close(kv); /* KEYDIR */
    kvt_write_hints(g_dir); /* and the hint files an older version wrote */
    n = kvt_list(g_dir, ".hint", &names);
    ck_assert_uint_gt(n, 0);
    kvt_list_free(names, n);
    want = dir_file_bytes(g_dir);
    kv = open_ro(g_dir); /* KEYDIR */
    st = stats_of(kv);
    ck_assert_uint_eq(st.disk_bytes, want);
    ck_assert_uint_gt(st.data_files, 1);
    cairn_kv_close(kv);
    {
        char *p = kvt_path(g_dir, "KEYDIR");
        ck_assert_int_eq(unlink(p), 0);
        free(p);
    }
    want = dir_file_bytes(g_dir);
    kv = open_ro(g_dir); /* hints */
    ck_assert_uint_eq(stats_of(kv).disk_bytes, want);
    cairn_kv_close(kv);
    n = kvt_list(g_dir, ".hint", &names);
    for (i = 0; i < n; i++) {
        char *p = kvt_path(g_dir, names[i]);
        ck_assert_int_eq(unlink(p), 0);
        free(p);
    }
    kvt_list_free(names, n);
    want = dir_file_bytes(g_dir);
    kv = open_ro(g_dir); /* a scan of every data file */
    st = stats_of(kv);
    ck_assert_uint_eq(st.disk_bytes, want);
    ck_assert_uint_eq(st.keys, 60);
    cairn_kv_close(kv);
}
END_TEST

/* live_bytes counts only keys a get can read: an expired key's record is dead (compaction frees
 * it), so it moves from live_bytes to dead_bytes when its time passes. */
START_TEST(stats_live_bytes_exclude_expired) {
    cairn_kv *kv;
    struct cairn_kv_stats st;
    const uint64_t ra = kvt_rec3(CAIRN_KIND_TEXT, 1, 3, 1), rb = kvt_rec3(CAIRN_KIND_TEXT, 1, 5, 0);
    cairn_time__set_fake(1000000);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    ck_assert_int_eq(cairn_kv_put_ex(kv, "a", 1, "old", 3, CAIRN_KIND_TEXT, 1000500), 0);
    kvt_put(kv, "b", "never");
    st = stats_of(kv);
    ck_assert_uint_eq(st.keys, 2);
    ck_assert_uint_eq(st.live_bytes, ra + rb);
    ck_assert_uint_eq(st.dead_bytes, 0);
    cairn_time__set_fake(1000500);
    st = stats_of(kv);
    ck_assert_uint_eq(st.keys, 1);
    ck_assert_uint_eq(st.live_bytes, rb);
    ck_assert_uint_eq(st.dead_bytes, ra);
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0); /* the same after a reopen */
    st = stats_of(kv);
    ck_assert_uint_eq(st.live_bytes, rb);
    ck_assert_uint_eq(st.dead_bytes, ra);
    ck_assert_int_eq(cairn_kv_compact(kv), 0);
    st = stats_of(kv);
    ck_assert_uint_eq(st.compactions, 1);
    ck_assert_uint_eq(st.live_bytes, rb);
    ck_assert_uint_eq(st.dead_bytes, 0);
    ck_assert_uint_eq(st.keys, 1);
    cairn_kv_close(kv);
}
END_TEST

/* keydir_bytes is the memory allocated for the keydir: a store of one key holds kilobytes (not
 * a whole 1 MiB arena chunk), and the figure grows with the keys. */
START_TEST(stats_keydir_bytes_allocated) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0);
    struct cairn_kv_stats st;
    uint64_t one, i;
    char k[32];
    st = stats_of(kv);
    ck_assert_uint_gt(st.keydir_bytes, 0);
    ck_assert_uint_lt(st.keydir_bytes, 1024);
    kvt_put(kv, "k", "v");
    one = stats_of(kv).keydir_bytes;
    ck_assert_uint_lt(one, 8192);
    for (i = 0; i < 30000; i++) {
        snprintf(k, sizeof k, "key-%06u", (unsigned)i);
        kvt_put(kv, k, "v");
    }
    st = stats_of(kv);
    /* an 8-byte slot and a 4-byte hash per key at a load of 7/10..7/8: 13.7..17.2 bytes per key */
    ck_assert_uint_ge(st.keydir_bytes, 30001u * 12u * 8u / 7u);
    ck_assert_uint_le(st.keydir_bytes, 30001u * 12u * 10u / 7u + 1024u);
    for (i = 0; i < 30000; i += 7) { /* reads after the table grew see every key */
        char *v = NULL;
        snprintf(k, sizeof k, "key-%06u", (unsigned)i);
        ck_assert_int_eq(kvt_get(kv, k, &v), 1);
        ck_assert_str_eq(v, "v");
        free(v);
    }
    cairn_kv_close(kv);
    kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 0); /* from KEYDIR, then a change copies it */
    kvt_put(kv, "k2", "v");
    st = stats_of(kv);
    /* (a table copied from KEYDIR has no hashes until its first rebuild: 8 bytes a slot) */
    ck_assert_uint_ge(st.keydir_bytes, 30002u * 8u * 8u / 7u);
    ck_assert_uint_le(st.keydir_bytes, 30002u * 12u * 10u / 7u + 1024u);
    ck_assert_uint_eq(st.keys, 30002);
    cairn_kv_close(kv);
}
END_TEST

/* Compaction with nothing to reclaim (no dead bytes, no expired key) changes no file and counts
 * no compaction; once there is something, it runs once. */
START_TEST(compact_nothing_to_reclaim) {
    cairn_kv *kv = kvt_open(g_dir, CAIRN_SYNC_NONE, 256);
    struct cairn_kv_stats a, b;
    char **before = NULL, **after = NULL, k[16];
    size_t nb, na, i;
    ck_assert_int_eq(cairn_kv_compact(kv), 0); /* empty store */
    ck_assert_uint_eq(stats_of(kv).compactions, 0);
    for (i = 0; i < 20; i++) {
        snprintf(k, sizeof k, "key%02u", (unsigned)i);
        kvt_put(kv, k, "value");
    }
    a = stats_of(kv);
    ck_assert_uint_eq(a.dead_bytes, 0);
    ck_assert_uint_gt(a.data_files, 1);
    nb = kvt_list(g_dir, "", &before);
    ck_assert_int_eq(cairn_kv_compact(kv), 0);
    b = stats_of(kv);
    na = kvt_list(g_dir, "", &after);
    ck_assert_uint_eq(b.compactions, 0);
    ck_assert_uint_eq(b.data_files, a.data_files);
    ck_assert_uint_eq(b.disk_bytes, a.disk_bytes);
    ck_assert_uint_eq(na, nb);
    for (i = 0; i < na; i++) ck_assert_str_eq(after[i], before[i]);
    kvt_list_free(before, nb);
    kvt_list_free(after, na);
    kvt_put(kv, "key00", "other"); /* dead bytes: now it runs */
    ck_assert_uint_gt(stats_of(kv).dead_bytes, 0);
    ck_assert_int_eq(cairn_kv_compact(kv), 0);
    b = stats_of(kv);
    ck_assert_uint_eq(b.compactions, 1);
    ck_assert_uint_eq(b.dead_bytes, 0);
    ck_assert_int_eq(cairn_kv_compact(kv), 0); /* and then there is nothing left */
    ck_assert_uint_eq(stats_of(kv).compactions, 1);
    cairn_kv_close(kv);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("kv");
    TCase *tc = tcase_create("unit");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, basic_put_get_delete);
    tcase_add_test(tc, get_into_and_kinds);
    tcase_add_test(tc, iterate_sorted_with_prefix);
    tcase_add_test(tc, transactions);
    tcase_add_test(tc, transaction_rewrites_and_large_values);
    tcase_add_test(tc, large_transaction_streams);
    tcase_add_test(tc, in_txn_flag);
    tcase_add_test(tc, expiry);
    tcase_add_test(tc, seed_viperdb_overwrite_with_expiry);
    tcase_add_test(tc, seed_viperdb_expire_delete_reopen);
    tcase_add_test(tc, seed_viperdb_delete_in_log);
    tcase_add_test(tc, reclaim_basic);
    tcase_add_test(tc, rotation_and_hints);
    tcase_add_test(tc, update_json_merge_and_errors);
    tcase_add_test(tc, update_json_keeps_expiry);
    tcase_add_test(tc, update_json_in_transaction);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, read_only_and_permissions);
    tcase_add_test(tc, two_writers_locked);
    tcase_add_test(tc, big_value_64mib);
    tcase_add_test(tc, stats_fields);
    tcase_add_test(tc, stats_disk_bytes_every_open_path);
    tcase_add_test(tc, stats_live_bytes_exclude_expired);
    tcase_add_test(tc, stats_keydir_bytes_allocated);
    tcase_add_test(tc, compact_nothing_to_reclaim);
    tcase_add_test(tc, group_commit_threads_smoke);
    tcase_add_test(tc, keydir_table);
    tcase_add_test(tc, keydir_bad_slots);
    tcase_add_test(tc, big_batch_and_big_records);
    tcase_add_test(tc, keydir_snapshot_lifecycle);
    tcase_add_test(tc, active_mapped_reads_exact_sizes);
    tcase_add_test(tc, killed_writer_keeps_every_put);
    tcase_add_test(tc, enospc_append_is_clean);
    tcase_add_test(tc, enospc_reserve_is_clean);
    tcase_add_test(tc, snapshot_old_version_is_ignored);
    tcase_add_loop_test(tc, snapshot_forged_entries, 0, FORGE_N);
    tcase_add_test(tc, snapshot_after_churn_is_used);
    tcase_add_test(tc, keydir_tags_churn);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
