/* test_kv_crash.c - crash safety of the KV.
 * (1) The I/O layer's crash simulation: crash just before every fsync of a workload (and before
 *     every step), dropping or tearing every unsynced write; the store must reopen in a state the
 *     workload passed through: with sync=commit exactly the acknowledged steps (plus, at most, the
 *     step in flight); with sync=none some prefix after the last sync point.
 * (2) Real processes: a child commits numbered transactions and reports each acknowledged one
 *     through a pipe; the parent SIGKILLs it at random moments; after reopen the state must be
 *     exactly the first C transactions with C >= the last acknowledged (and at most one more):
 *     no partial transaction, no holes. Seed: CAIRN_TEST_SEED. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "kv_testutil.h"
#include "kv_workload.h"
#include "util.h"

static void check_run(wl_run *r, const char *dir, const char *what) {
    char why[512] = "";
    int lo, hi, found, rc;
    if (r->sync == CAIRN_SYNC_NONE) lo = r->durable;
    else lo = r->failed_step >= 0 ? r->failed_step : r->done;
    hi = r->failed_step >= 0 ? r->failed_step + 1 : r->done;
    found = wl_find_state(dir, r, lo, hi, why, sizeof why);
    ck_assert_msg(found >= 0, "%s: sync %d, failed step %d (%s), durable %d: no valid state: %s", what, r->sync,
                  r->failed_step, cairn_errname(r->failed_rc), r->durable, why);
    rc = cairn_kv_check(dir);
    ck_assert_msg(rc == 0, "%s: check after recovery: %s %s", what, cairn_errname(rc), cairn_errmsg());
}

static void crash_case(int sync, uint64_t at_sync, int at_step, int mode, uint64_t seed) {
    char *dir = kvt_tmpdir("crash");
    wl_run *r = (wl_run *)calloc(1, sizeof *r);
    char what[128];
    r->sync = sync;
    r->max_file = 700;
    r->nsteps = WL_STEPS;
    cairn_io__fault_reset();
    cairn_io__crash_track(1);
    if (at_sync) cairn_io__crash_at_sync(at_sync, mode, seed);
    if (at_step >= 0) {
        r->crash_at = at_step;
        r->crash_mode = mode;
        r->crash_seed = seed;
    }
    wl_execute(dir, r);
    cairn_io__crash_track(0);
    snprintf(what, sizeof what, "crash at sync %llu / step %d, mode %d, seed %llu", (unsigned long long)at_sync,
             at_step, mode, (unsigned long long)seed);
    check_run(r, dir, what);
    wl_free(r);
    free(r);
    kvt_rmdir(dir);
    free(dir);
}

static uint64_t count_syncs(int sync) {
    char *dir = kvt_tmpdir("count");
    wl_run *r = (wl_run *)calloc(1, sizeof *r);
    uint64_t n;
    r->sync = sync;
    r->max_file = 700;
    r->nsteps = WL_STEPS;
    cairn_io__fault_reset();
    wl_execute(dir, r);
    n = cairn_io__fault_count(CAIRN_FAULT_SYNC);
    wl_free(r);
    free(r);
    kvt_rmdir(dir);
    free(dir);
    return n;
}

START_TEST(crash_at_every_sync_commit_mode) {
    uint64_t n = count_syncs(CAIRN_SYNC_COMMIT), i;
    ck_assert_uint_gt(n, 20);
    for (i = 1; i <= n + 1; i++) {
        crash_case(CAIRN_SYNC_COMMIT, i, -1, CAIRN_CRASH_DROP, i);
        crash_case(CAIRN_SYNC_COMMIT, i, -1, CAIRN_CRASH_TEAR, i * 7 + 1);
    }
}
END_TEST

START_TEST(crash_at_every_sync_group_and_none) {
    uint64_t n = count_syncs(CAIRN_SYNC_NONE), i;
    for (i = 1; i <= n + 1; i++) {
        crash_case(CAIRN_SYNC_NONE, i, -1, CAIRN_CRASH_DROP, i);
        crash_case(CAIRN_SYNC_NONE, i, -1, CAIRN_CRASH_TEAR, i * 13 + 5);
    }
    n = count_syncs(CAIRN_SYNC_GROUP);
    for (i = 1; i <= n + 1; i++) crash_case(CAIRN_SYNC_GROUP, i, -1, CAIRN_CRASH_TEAR, i * 3 + 2);
}
END_TEST

START_TEST(crash_before_every_step) {
    int step;
    uint64_t seed;
    for (step = 0; step < WL_STEPS; step++)
        for (seed = 1; seed <= 3; seed++) {
            crash_case(CAIRN_SYNC_NONE, 0, step, seed == 1 ? CAIRN_CRASH_DROP : CAIRN_CRASH_TEAR, seed * 31 + (uint64_t)step);
            crash_case(CAIRN_SYNC_COMMIT, 0, step, CAIRN_CRASH_TEAR, seed * 17 + (uint64_t)step);
        }
}
END_TEST

/* ---- SIGKILL ------------------------------------------------------------------------------- */

#define KEEP 5

static void child_loop(const char *dir, int sync, int wfd) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    void *v = NULL;
    size_t vl = 0;
    uint64_t i = 0;
    char key[32], val[64];
    o.sync = sync;
    o.max_file_size = 2048;
    if (cairn_kv_open(&kv, dir, &o) != 0) _exit(3);
    if (cairn_kv_get(kv, "counter", 7, &v, &vl, NULL) == 0) {
        char buf[32];
        memcpy(buf, v, vl < 31 ? vl : 31);
        buf[vl < 31 ? vl : 31] = 0;
        i = strtoull(buf, NULL, 10);
        cairn_free(v);
    }
    for (;;) {
        i++;
        if (cairn_kv_begin(kv)) _exit(4);
        snprintf(val, sizeof val, "%llu", (unsigned long long)i);
        if (cairn_kv_put(kv, "counter", 7, val, strlen(val), CAIRN_KIND_TEXT)) _exit(5);
        snprintf(key, sizeof key, "t%llu", (unsigned long long)i);
        snprintf(val, sizeof val, "x%llu-padding-padding", (unsigned long long)i);
        if (cairn_kv_put(kv, key, strlen(key), val, strlen(val), CAIRN_KIND_TEXT)) _exit(6);
        if (i > KEEP) {
            snprintf(key, sizeof key, "t%llu", (unsigned long long)(i - KEEP));
            if (cairn_kv_delete(kv, key, strlen(key))) _exit(7);
        }
        if (cairn_kv_commit(kv)) _exit(8);
        if (write(wfd, &i, sizeof i) != sizeof i) _exit(9);
        if (i % 41 == 0 && cairn_kv_compact(kv)) _exit(10);
    }
}

/* The store must hold exactly the first C transactions. Returns C. */
static uint64_t verify_prefix(const char *dir) {
    cairn_kv *kv = NULL;
    cairn_kv_iter *it;
    void *v;
    size_t vl, kl;
    const void *k;
    uint64_t c = 0, n = 0, j;
    char key[32], want[64];
    int rc = cairn_kv_open(&kv, dir, NULL);
    ck_assert_msg(rc == 0, "reopen after SIGKILL: %s %s", cairn_errname(rc), cairn_errmsg());
    if (cairn_kv_get(kv, "counter", 7, &v, &vl, NULL) == 0) {
        char buf[32];
        memcpy(buf, v, vl < 31 ? vl : 31);
        buf[vl < 31 ? vl : 31] = 0;
        c = strtoull(buf, NULL, 10);
        cairn_free(v);
    }
    for (j = c > KEEP ? c - KEEP + 1 : 1; j <= c; j++) {
        snprintf(key, sizeof key, "t%llu", (unsigned long long)j);
        snprintf(want, sizeof want, "x%llu-padding-padding", (unsigned long long)j);
        rc = cairn_kv_get(kv, key, strlen(key), &v, &vl, NULL);
        ck_assert_msg(rc == 0, "counter %llu but %s is missing (%s)", (unsigned long long)c, key, cairn_errname(rc));
        ck_assert(vl == strlen(want) && memcmp(v, want, vl) == 0);
        cairn_free(v);
    }
    ck_assert_int_eq(cairn_kv_iter_open(&it, kv, NULL, 0), 0);
    while (cairn_kv_iter_next(it, &k, &kl) == 0) n++;
    cairn_kv_iter_free(it);
    ck_assert_msg(n == (c ? 1 + (c < KEEP ? c : KEEP) : 0), "counter %llu but %llu keys (a partial transaction?)",
                  (unsigned long long)c, (unsigned long long)n);
    cairn_kv_close(kv);
    return c;
}

START_TEST(sigkill_prefix_of_acknowledged) {
    char *dir = kvt_tmpdir("kill");
    uint64_t seed = kvt_seed("CAIRN_TEST_SEED", 20261121), s, prev = 0;
    int round;
    s = seed;
    for (round = 0; round < 24; round++) {
        int fds[2], status;
        pid_t pid;
        uint64_t acked = prev, x, c;
        int sync = round % 3 == 2 ? CAIRN_SYNC_NONE : CAIRN_SYNC_COMMIT;
        struct timespec ts;
        ck_assert_int_eq(pipe(fds), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            child_loop(dir, sync, fds[1]);
            _exit(0);
        }
        close(fds[1]);
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(5 + kvt_rand(&s) % 60) * 1000000L;
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        while (read(fds[0], &x, sizeof x) == sizeof x) acked = x;
        close(fds[0]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status), "seed %llu round %d: child exited with %d before the kill",
                      (unsigned long long)seed, round, WEXITSTATUS(status));
        c = verify_prefix(dir);
        ck_assert_msg(c >= acked && c <= acked + 1,
                      "seed %llu round %d: %llu transactions recovered, %llu acknowledged", (unsigned long long)seed,
                      round, (unsigned long long)c, (unsigned long long)acked);
        prev = c;
    }
    ck_assert_uint_gt(prev, 24);
    fprintf(stderr, "sigkill: %llu transactions over 24 kills\n", (unsigned long long)prev);
    ck_assert_int_eq(cairn_kv_check(dir), 0);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("kv_crash");
    TCase *tc = tcase_create("crash");
    SRunner *sr;
    int failed;
    kvt_prefer_shm = 1;
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, crash_at_every_sync_commit_mode);
    tcase_add_test(tc, crash_at_every_sync_group_and_none);
    tcase_add_test(tc, crash_before_every_step);
    tcase_add_test(tc, sigkill_prefix_of_acknowledged);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
