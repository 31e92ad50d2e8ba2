/* test_kv_fault.c - fault injection: fail every write and every fsync of a KV workload, one at a
 * time (EIO, ENOSPC, short write), and check that the failing call returns a clean error, that
 * the directory opens again, that every committed write is there and that nothing uncommitted
 * appears: the store must be in the state before the failing call or (for a failed fsync, whose
 * bytes did reach the file) the state after it, never a mix. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "kv_testutil.h"
#include "kv_workload.h"
#include "util.h"

static int clean_code(int rc) {
    return rc == CAIRN_IO || rc == CAIRN_NOSPC || rc == CAIRN_FAILED || rc == CAIRN_NOMEM;
}

/* Run the workload with one armed fault; check the outcome. Returns 1 if the fault fired. */
static int one(int sync, int ops, uint64_t nth, int kind, int sticky) {
    char *dir = kvt_tmpdir("fault");
    wl_run *r = (wl_run *)calloc(1, sizeof *r);
    char why[512] = "";
    int fired, lo, hi, found, rc;
    r->sync = sync;
    r->max_file = 700;
    r->nsteps = WL_STEPS;
    cairn_io__fault_reset();
    cairn_io__fault_arm(ops, nth, kind, sticky);
    wl_execute(dir, r);
    fired = cairn_io__fault_fired() > 0;
    cairn_io__fault_reset();
    if (r->failed_step >= 0) {
        ck_assert_msg(clean_code(r->failed_rc), "op %d #%llu kind %d: step %d failed with %s (%s)", ops,
                      (unsigned long long)nth, kind, r->failed_step, cairn_errname(r->failed_rc), cairn_errmsg());
        lo = r->failed_step;
        hi = r->failed_step + 1;
    } else {
        lo = hi = r->done; /* the fault hit something best-effort (hint, snapshot at close) */
    }
    found = wl_find_state(dir, r, lo, hi, why, sizeof why);
    ck_assert_msg(found >= 0, "op %d #%llu kind %d sticky %d (failed step %d, %s): store in no valid state: %s", ops,
                  (unsigned long long)nth, kind, sticky, r->failed_step, cairn_errname(r->failed_rc), why);
    rc = cairn_kv_check(dir);
    ck_assert_msg(rc == 0, "check after fault op %d #%llu: %s %s", ops, (unsigned long long)nth, cairn_errname(rc),
                  cairn_errmsg());
    wl_free(r);
    free(r);
    kvt_rmdir(dir);
    free(dir);
    return fired;
}

static uint64_t count_ops(int sync, int ops) {
    char *dir = kvt_tmpdir("count");
    wl_run *r = (wl_run *)calloc(1, sizeof *r);
    uint64_t n;
    r->sync = sync;
    r->max_file = 700;
    r->nsteps = WL_STEPS;
    cairn_io__fault_reset();
    wl_execute(dir, r);
    ck_assert_int_eq(r->failed_step, -1);
    n = cairn_io__fault_count(ops);
    cairn_io__fault_reset();
    wl_free(r);
    free(r);
    kvt_rmdir(dir);
    free(dir);
    return n;
}

START_TEST(every_write_fails_once) {
    uint64_t n = count_ops(CAIRN_SYNC_NONE, CAIRN_FAULT_WRITE), i;
    int kind, fired = 0;
    ck_assert_uint_gt(n, 40);
    for (i = 1; i <= n; i++)
        for (kind = CAIRN_FAULT_EIO; kind <= CAIRN_FAULT_SHORT; kind++)
            fired += one(CAIRN_SYNC_NONE, CAIRN_FAULT_WRITE, i, kind, 0);
    ck_assert_int_eq(fired, (int)n * 3);
    fprintf(stderr, "fault: %llu writes x 3 kinds injected\n", (unsigned long long)n);
}
END_TEST

START_TEST(every_sync_fails_once) {
    uint64_t n = count_ops(CAIRN_SYNC_COMMIT, CAIRN_FAULT_SYNC), i;
    int fired = 0;
    ck_assert_uint_gt(n, 20);
    for (i = 1; i <= n; i++) fired += one(CAIRN_SYNC_COMMIT, CAIRN_FAULT_SYNC, i, i % 2 ? CAIRN_FAULT_EIO : CAIRN_FAULT_ENOSPC, 0);
    ck_assert_int_eq(fired, (int)n);
    fprintf(stderr, "fault: %llu fsyncs injected\n", (unsigned long long)n);
}
END_TEST

START_TEST(every_write_fails_sync_commit) {
    /* the same with fsync per commit: a failed write before the fsync */
    uint64_t n = count_ops(CAIRN_SYNC_COMMIT, CAIRN_FAULT_WRITE), i;
    for (i = 1; i <= n; i++) one(CAIRN_SYNC_COMMIT, CAIRN_FAULT_WRITE, i, (int)(i % 3) + 1, 0);
}
END_TEST

START_TEST(dead_disk_sticky) {
    uint64_t n = count_ops(CAIRN_SYNC_NONE, CAIRN_FAULT_WRITE), i;
    for (i = 1; i <= n; i += 3) one(CAIRN_SYNC_NONE, CAIRN_FAULT_WRITE, i, CAIRN_FAULT_ENOSPC, 1);
    n = count_ops(CAIRN_SYNC_GROUP, CAIRN_FAULT_SYNC);
    for (i = 1; i <= n; i += 3) one(CAIRN_SYNC_GROUP, CAIRN_FAULT_ANY, i, CAIRN_FAULT_EIO, 1);
}
END_TEST

/* After a failed fsync the handle fails every write with CAIRN_FAILED until reopened. */
START_TEST(fail_stop_after_fsync_error) {
    char *dir = kvt_tmpdir("failstop");
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_COMMIT, 0);
    void *v;
    size_t vl;
    ck_assert_int_eq(kvt_put(kv, "a", "1"), 0);
    cairn_io__fault_reset();
    cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_eq(kvt_put(kv, "b", "2"), CAIRN_IO);
    cairn_io__fault_reset();
    ck_assert_int_eq(kvt_put(kv, "c", "3"), CAIRN_FAILED);
    ck_assert_int_eq(cairn_kv_delete(kv, "a", 1), CAIRN_FAILED);
    ck_assert_int_eq(cairn_kv_begin(kv), CAIRN_FAILED);
    ck_assert_int_eq(cairn_kv_sync(kv), CAIRN_FAILED);
    ck_assert_int_eq(cairn_kv_compact(kv), CAIRN_FAILED);
    /* reads too (every call but close; tests/c/test_blob_parity.c pins the rest) */
    ck_assert_int_eq(cairn_kv_get(kv, "a", 1, &v, &vl, NULL), CAIRN_FAILED);
    cairn_kv_close(kv);
    kv = kvt_open(dir, CAIRN_SYNC_COMMIT, 0);
    ck_assert_ptr_nonnull(kv);
    ck_assert_int_eq(cairn_kv_exists(kv, "a", 1), 1);
    ck_assert_int_eq(cairn_kv_exists(kv, "c", 1), 0);
    ck_assert_int_eq(kvt_put(kv, "d", "4"), 0);
    cairn_kv_close(kv);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* A failed write (the file could be undone) leaves the handle usable. */
START_TEST(failed_write_keeps_handle) {
    char *dir = kvt_tmpdir("wfail");
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_NONE, 0);
    ck_assert_int_eq(kvt_put(kv, "a", "1"), 0);
    cairn_io__fault_reset();
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, CAIRN_FAULT_SHORT, 0);
    ck_assert_int_eq(kvt_put(kv, "b", "2222222222222222"), CAIRN_NOSPC);
    ck_assert_int_eq(cairn_kv_exists(kv, "b", 1), 0);
    ck_assert_int_eq(kvt_put(kv, "c", "3"), 0);
    cairn_io__fault_reset();
    cairn_kv_close(kv);
    ck_assert_int_eq(cairn_kv_check(dir), 0);
    kv = kvt_open(dir, CAIRN_SYNC_NONE, 0);
    ck_assert_int_eq(cairn_kv_exists(kv, "a", 1), 1);
    ck_assert_int_eq(cairn_kv_exists(kv, "b", 1), 0);
    ck_assert_int_eq(cairn_kv_exists(kv, "c", 1), 1);
    cairn_kv_close(kv);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("kv_fault");
    TCase *tc = tcase_create("fault");
    SRunner *sr;
    int failed;
    kvt_prefer_shm = 1;
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fail_stop_after_fsync_error);
    tcase_add_test(tc, failed_write_keeps_handle);
    tcase_add_test(tc, every_write_fails_once);
    tcase_add_test(tc, every_sync_fails_once);
    tcase_add_test(tc, every_write_fails_sync_commit);
    tcase_add_test(tc, dead_disk_sticky);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
