/* test_blob_parity.c - the rules the KV and the blob store share, pinned on both engines:
 *  - fail-stop: after a fatal I/O error every call but close is CAIRN_FAILED, with one message
 *    form ("<fn>: <path>: the handle failed after a fatal I/O error; close and reopen it");
 *  - a commit that fails ends the transaction, and so does every rollback;
 *  - sync inside a transaction makes what was committed durable and leaves the transaction open.
 * Faults and crashes come from the I/O layer's hooks (util.h). */
#include "cairn.h"
#include "util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void mk_tmp(void) { ct_tmp_create("parity"); }
static void rm_tmp(void) { ct_tmp_remove(); }

#define FAIL_TAIL ": the handle failed after a fatal I/O error; close and reopen it"

/* rc is CAIRN_FAILED and the thread's message is "<fn>: <path>" FAIL_TAIL. */
static void assert_failed(int rc, const char *fn, const char *path) {
    const char *m = cairn_errmsg();
    size_t fl = strlen(fn), ml = strlen(m), tl = strlen(FAIL_TAIL);
    ck_assert_msg(rc == CAIRN_FAILED, "%s returned %d (%s), not CAIRN_FAILED", fn, rc, m);
    ck_assert_msg(cairn_errcode() == CAIRN_FAILED, "%s: last error code %d", fn, cairn_errcode());
    ck_assert_msg(strncmp(m, fn, fl) == 0 && m[fl] == ':', "%s: message '%s'", fn, m);
    ck_assert_msg(strstr(m, path) != NULL, "%s: message '%s' does not name %s", fn, m, path);
    ck_assert_msg(ml > tl && strcmp(m + ml - tl, FAIL_TAIL) == 0, "%s: message '%s'", fn, m);
}

static cairn_kv *kv_open(int sync) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    o.sync = sync;
    ck_assert_int_eq(cairn_kv_open(&kv, ct_path("kv"), &o), 0);
    return kv;
}

static cairn_blob *blob_open(int sync) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    cairn_blob *b = NULL;
    o.sync = sync;
    ck_assert_int_eq(cairn_blob_open(&b, ct_path("b.db"), &o), 0);
    return b;
}

static void on_event(void *ctx, int ev, uint32_t key, uint64_t old_size, uint64_t new_size) {
    (void)ctx;
    (void)ev;
    (void)key;
    (void)old_size;
    (void)new_size;
}

/* ---- fail-stop: every call ------------------------------------------------------------- */

static void kv_every_call_failed(cairn_kv *kv, const char *dir) {
    void *v = NULL;
    size_t vl = 0;
    int64_t exp = 0;
    uint64_t n = 0;
    char buf[8];
    cairn_kv_iter *it = NULL;
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    assert_failed(cairn_kv_put(kv, "c", 1, "3", 1, 0), "kv_put", dir);
    assert_failed(cairn_kv_put_ex(kv, "c", 1, "3", 1, 0, 0), "kv_put_ex", dir);
    assert_failed(cairn_kv_delete(kv, "a", 1), "kv_delete", dir);
    assert_failed(cairn_kv_update_json(kv, "a", 1, "{}", 2), "kv_update_json", dir);
    assert_failed(cairn_kv_get(kv, "a", 1, &v, &vl, NULL), "kv_get", dir);
    ck_assert_ptr_null(v);
    assert_failed(cairn_kv_get_into(kv, "a", 1, buf, sizeof buf, &vl, NULL), "kv_get_into", dir);
    assert_failed(cairn_kv_exists(kv, "a", 1), "kv_exists", dir);
    assert_failed(cairn_kv_expiry(kv, "a", 1, &exp), "kv_expiry", dir);
    assert_failed(cairn_kv_count(kv, &n), "kv_count", dir);
    assert_failed(cairn_kv_iter_open(&it, kv, NULL, 0), "kv_iter_open", dir);
    ck_assert_ptr_null(it);
    assert_failed(cairn_kv_stats(kv, &st), "kv_stats", dir);
    assert_failed(cairn_kv_sync(kv), "kv_sync", dir);
    assert_failed(cairn_kv_compact(kv), "kv_compact", dir);
    assert_failed(cairn_kv_begin(kv), "kv_begin", dir);
    assert_failed(cairn_kv_commit(kv), "kv_commit", dir);
    assert_failed(cairn_kv_rollback(kv), "kv_rollback", dir);
}

static void blob_every_call_failed(cairn_blob *b, const char *path) {
    void *p = NULL;
    size_t len = 0;
    uint32_t k = 0;
    uint64_t n = 0, id = 0;
    cairn_blob_iter *it = NULL;
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    assert_failed(cairn_blob_create(b, "c", 1, &k), "cairn_blob_create", path);
    assert_failed(cairn_blob_create_with_key(b, 77, "c", 1), "cairn_blob_create_with_key", path);
    assert_failed(cairn_blob_reserve_next_key(b, &k), "cairn_blob_reserve_next_key", path);
    assert_failed(cairn_blob_update(b, 1, "u", 1), "cairn_blob_update", path);
    assert_failed(cairn_blob_delete(b, 1), "cairn_blob_delete", path);
    assert_failed(cairn_blob_read(b, 1, &p, &len), "cairn_blob_read", path);
    ck_assert_ptr_null(p);
    assert_failed(cairn_blob_exists(b, 1), "cairn_blob_exists", path);
    assert_failed(cairn_blob_count(b, &n), "cairn_blob_count", path);
    assert_failed(cairn_blob_iter_open(&it, b), "cairn_blob_iter_open", path);
    ck_assert_ptr_null(it);
    assert_failed(cairn_blob_stats(b, &st), "cairn_blob_stats", path);
    assert_failed(cairn_blob_sync(b), "cairn_blob_sync", path);
    assert_failed(cairn_blob_compact(b), "cairn_blob_compact", path);
    assert_failed(cairn_blob_subscribe(b, on_event, NULL, &id), "cairn_blob_subscribe", path);
    assert_failed(cairn_blob_unsubscribe(b, 1), "cairn_blob_unsubscribe", path);
    assert_failed(cairn_blob_begin(b), "cairn_blob_begin", path);
    assert_failed(cairn_blob_commit(b), "cairn_blob_commit", path);
    assert_failed(cairn_blob_rollback(b), "cairn_blob_rollback", path);
}

START_TEST(kv_failed_every_call) {
    cairn_kv *kv = kv_open(CAIRN_SYNC_COMMIT);
    ck_assert_int_eq(cairn_kv_put(kv, "a", 1, "1", 1, 0), 0);
    cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_eq(cairn_kv_put(kv, "b", 1, "2", 1, 0), CAIRN_IO); /* the call that hit it */
    cairn_io__fault_reset();
    kv_every_call_failed(kv, ct_path("kv"));
    cairn_kv_close(kv);
    kv = kv_open(CAIRN_SYNC_COMMIT);
    ck_assert_int_eq(cairn_kv_exists(kv, "a", 1), 1);
    ck_assert_int_eq(cairn_kv_exists(kv, "c", 1), 0);
    cairn_kv_close(kv);
}
END_TEST

START_TEST(blob_failed_every_call) {
    cairn_blob *b = blob_open(CAIRN_SYNC_COMMIT);
    uint32_t k;
    ck_assert_int_eq(cairn_blob_create(b, "a", 1, &k), 0);
    cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_eq(cairn_blob_create(b, "b", 1, &k), CAIRN_IO); /* the call that hit it */
    cairn_io__fault_reset();
    blob_every_call_failed(b, ct_path("b.db"));
    cairn_blob_close(b);
    b = blob_open(CAIRN_SYNC_COMMIT);
    ck_assert_int_eq(cairn_blob_exists(b, 1), 1);
    ck_assert_int_eq(cairn_blob_exists(b, 77), 0);
    cairn_blob_close(b);
}
END_TEST

/* The handle fails while a transaction is open (a sync inside it hits the bad fsync): commit and
 * rollback are CAIRN_FAILED, nothing of the transaction survives, close is clean. */
START_TEST(kv_failed_inside_txn) {
    cairn_kv *kv = kv_open(CAIRN_SYNC_NONE);
    ck_assert_int_eq(cairn_kv_put(kv, "a", 1, "1", 1, 0), 0);
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "t", 1, "x", 1, 0), 0);
    cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_eq(cairn_kv_sync(kv), CAIRN_IO);
    cairn_io__fault_reset();
    assert_failed(cairn_kv_commit(kv), "kv_commit", ct_path("kv"));
    assert_failed(cairn_kv_rollback(kv), "kv_rollback", ct_path("kv"));
    assert_failed(cairn_kv_put(kv, "u", 1, "y", 1, 0), "kv_put", ct_path("kv"));
    cairn_kv_close(kv);
    kv = kv_open(CAIRN_SYNC_NONE);
    ck_assert_int_eq(cairn_kv_exists(kv, "t", 1), 0);
    cairn_kv_close(kv);
}
END_TEST

START_TEST(blob_failed_inside_txn) {
    cairn_blob *b = blob_open(CAIRN_SYNC_NONE);
    uint32_t k, kt;
    ck_assert_int_eq(cairn_blob_create(b, "a", 1, &k), 0);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_create(b, "x", 1, &kt), 0);
    cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_eq(cairn_blob_sync(b), CAIRN_IO);
    cairn_io__fault_reset();
    assert_failed(cairn_blob_commit(b), "cairn_blob_commit", ct_path("b.db"));
    assert_failed(cairn_blob_rollback(b), "cairn_blob_rollback", ct_path("b.db"));
    assert_failed(cairn_blob_create(b, "y", 1, &k), "cairn_blob_create", ct_path("b.db"));
    cairn_blob_close(b);
    b = blob_open(CAIRN_SYNC_NONE);
    ck_assert_int_eq(cairn_blob_exists(b, kt), 0);
    cairn_blob_close(b);
}
END_TEST

/* ---- a commit that fails ends the transaction (the handle is not failed) -------------------- */

START_TEST(kv_commit_fails_ends_txn) {
    cairn_kv *kv = kv_open(CAIRN_SYNC_COMMIT);
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    ck_assert_int_eq(cairn_kv_put(kv, "a", 1, "1", 1, 0), 0);
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "t", 1, "x", 1, 0), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "u", 1, "y", 1, 0), 0);
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, CAIRN_FAULT_ENOSPC, 0);
    ck_assert_int_eq(cairn_kv_commit(kv), CAIRN_NOSPC);
    cairn_io__fault_reset();
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_int_eq(st.in_txn, 0);
    ck_assert_int_eq(cairn_kv_rollback(kv), CAIRN_TXN);
    ck_assert_int_eq(cairn_kv_exists(kv, "t", 1), 0);
    /* the handle goes on */
    ck_assert_int_eq(cairn_kv_put(kv, "v", 1, "z", 1, 0), 0);
    cairn_kv_close(kv);
    kv = kv_open(CAIRN_SYNC_COMMIT);
    ck_assert_int_eq(cairn_kv_exists(kv, "t", 1), 0);
    ck_assert_int_eq(cairn_kv_exists(kv, "v", 1), 1);
    cairn_kv_close(kv);
}
END_TEST

START_TEST(blob_commit_fails_ends_txn) {
    cairn_blob *b = blob_open(CAIRN_SYNC_COMMIT);
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    uint32_t k, kt, ku;
    ck_assert_int_eq(cairn_blob_create(b, "a", 1, &k), 0);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_create(b, "x", 1, &kt), 0);
    ck_assert_int_eq(cairn_blob_create(b, "y", 1, &ku), 0);
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, CAIRN_FAULT_ENOSPC, 0);
    ck_assert_int_eq(cairn_blob_commit(b), CAIRN_NOSPC);
    cairn_io__fault_reset();
    ck_assert_int_eq(cairn_blob_stats(b, &st), 0);
    ck_assert_int_eq(st.in_txn, 0);
    ck_assert_int_eq(cairn_blob_rollback(b), CAIRN_TXN);
    ck_assert_int_eq(cairn_blob_exists(b, kt), 0);
    ck_assert_int_eq(cairn_blob_exists(b, ku), 0);
    /* as after a rollback, the keys it handed out are never handed out again */
    ck_assert_int_eq(cairn_blob_create(b, "z", 1, &k), 0);
    ck_assert_uint_gt(k, ku);
    cairn_blob_close(b);
    b = blob_open(CAIRN_SYNC_COMMIT);
    ck_assert_int_eq(cairn_blob_exists(b, kt), 0);
    ck_assert_int_eq(cairn_blob_exists(b, k), 1);
    cairn_blob_close(b);
}
END_TEST

/* A rollback whose one write fails (the blob store commits the key counter of a transaction that
 * handed out keys) reports the error, and the transaction is over all the same. */
START_TEST(blob_rollback_fails_ends_txn) {
    cairn_blob *b = blob_open(CAIRN_SYNC_COMMIT);
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    uint32_t k, kt;
    ck_assert_int_eq(cairn_blob_create(b, "a", 1, &k), 0);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_create(b, "x", 1, &kt), 0);
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, CAIRN_FAULT_ENOSPC, 0);
    ck_assert_int_eq(cairn_blob_rollback(b), CAIRN_NOSPC);
    cairn_io__fault_reset();
    ck_assert_int_eq(cairn_blob_stats(b, &st), 0);
    ck_assert_int_eq(st.in_txn, 0);
    ck_assert_int_eq(cairn_blob_rollback(b), CAIRN_TXN);
    ck_assert_int_eq(cairn_blob_exists(b, kt), 0);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_rollback(b), 0);
    cairn_blob_close(b);
}
END_TEST

/* ---- sync inside a transaction ------------------------------------------------------------ */

/* Committed before the transaction: durable after the sync (a crash that drops every unsynced
 * write keeps it); the transaction stays open and commits later. Then the same with a crash while
 * it is still open: its writes are gone, the synced ones are there. */
START_TEST(kv_sync_inside_txn) {
    cairn_kv *kv = kv_open(CAIRN_SYNC_NONE);
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    ck_assert_int_eq(cairn_kv_put(kv, "a", 1, "1", 1, 0), 0);
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "t", 1, "x", 1, 0), 0);
    ck_assert_int_eq(cairn_kv_sync(kv), 0);
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_int_eq(st.in_txn, 1);
    ck_assert_int_eq(cairn_kv_commit(kv), 0);
    ck_assert_int_eq(cairn_kv_exists(kv, "t", 1), 1);
    cairn_kv_close(kv);

    kv = kv_open(CAIRN_SYNC_NONE);
    cairn_io__crash_track(1);
    ck_assert_int_eq(cairn_kv_put(kv, "b", 1, "2", 1, 0), 0);
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "u", 1, "y", 1, 0), 0);
    ck_assert_int_eq(cairn_kv_sync(kv), 0);
    cairn_io__crash_now(CAIRN_CRASH_DROP, 1);
    cairn_kv_close(kv);
    cairn_io__crash_track(0);
    kv = kv_open(CAIRN_SYNC_NONE);
    ck_assert_int_eq(cairn_kv_exists(kv, "a", 1), 1);
    ck_assert_int_eq(cairn_kv_exists(kv, "t", 1), 1);
    ck_assert_int_eq(cairn_kv_exists(kv, "b", 1), 1);
    ck_assert_int_eq(cairn_kv_exists(kv, "u", 1), 0);
    cairn_kv_close(kv);
}
END_TEST

START_TEST(blob_sync_inside_txn) {
    cairn_blob *b = blob_open(CAIRN_SYNC_NONE);
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    uint32_t ka, kt, kb, ku;
    void *p;
    size_t len;
    ck_assert_int_eq(cairn_blob_create(b, "a", 1, &ka), 0);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_create(b, "x", 1, &kt), 0);
    ck_assert_int_eq(cairn_blob_sync(b), 0);
    ck_assert_int_eq(cairn_blob_stats(b, &st), 0);
    ck_assert_int_eq(st.in_txn, 1);
    ck_assert_int_eq(cairn_blob_update(b, kt, "xx", 2), 0);
    ck_assert_int_eq(cairn_blob_commit(b), 0);
    ck_assert_int_eq(cairn_blob_read(b, kt, &p, &len), 0);
    ck_assert(len == 2 && memcmp(p, "xx", 2) == 0);
    cairn_free(p);
    /* a sync in an empty transaction, then a rollback: nothing of it stays */
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_sync(b), 0);
    ck_assert_int_eq(cairn_blob_create(b, "r", 1, &ku), 0);
    ck_assert_int_eq(cairn_blob_sync(b), 0);
    ck_assert_int_eq(cairn_blob_rollback(b), 0);
    ck_assert_int_eq(cairn_blob_exists(b, ku), 0);
    ck_assert_int_eq(cairn_blob_create(b, "s", 1, &kb), 0); /* the queue is sound after it */
    ck_assert_int_eq(cairn_blob_sync(b), 0);
    cairn_blob_close(b);

    b = blob_open(CAIRN_SYNC_NONE);
    ck_assert_int_eq(cairn_blob_exists(b, kb), 1);
    ck_assert_int_eq(cairn_blob_exists(b, ku), 0);
    cairn_io__crash_track(1);
    ck_assert_int_eq(cairn_blob_create(b, "b", 1, &kb), 0);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_create(b, "u", 1, &ku), 0);
    ck_assert_int_eq(cairn_blob_sync(b), 0);
    cairn_io__crash_now(CAIRN_CRASH_DROP, 1);
    cairn_blob_close(b);
    cairn_io__crash_track(0);
    b = blob_open(CAIRN_SYNC_NONE);
    ck_assert_int_eq(cairn_blob_exists(b, ka), 1);
    ck_assert_int_eq(cairn_blob_exists(b, kt), 1);
    ck_assert_int_eq(cairn_blob_read(b, kb, &p, &len), 0);
    ck_assert(len == 1 && memcmp(p, "b", 1) == 0);
    cairn_free(p);
    ck_assert_int_eq(cairn_blob_exists(b, ku), 0);
    ck_assert_int_eq(cairn_blob_check(ct_path("b.db")), 0);
    cairn_blob_close(b);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("parity");
    TCase *t = tcase_create("rules");
    tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
    tcase_add_test(t, kv_failed_every_call);
    tcase_add_test(t, blob_failed_every_call);
    tcase_add_test(t, kv_failed_inside_txn);
    tcase_add_test(t, blob_failed_inside_txn);
    tcase_add_test(t, kv_commit_fails_ends_txn);
    tcase_add_test(t, blob_commit_fails_ends_txn);
    tcase_add_test(t, blob_rollback_fails_ends_txn);
    tcase_add_test(t, kv_sync_inside_txn);
    tcase_add_test(t, blob_sync_inside_txn);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return ct_run(suite()); }
