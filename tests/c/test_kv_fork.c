/* test_kv_fork.c - a KV handle belongs to the process that opened it. In a child of fork() every
 * call on the inherited handle is CAIRN_FORKED, and closing it there writes nothing and keeps
 * the parent's lock: the parent's data, lock and handle are untouched. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn.h"
#include "kv_testutil.h"
#include "util.h"

/* Names of the files of dir with their sizes, as one string (to compare before and after). */
static char *dir_state(const char *dir) {
    char **v, *out = (char *)calloc(1, 1);
    size_t n = kvt_list(dir, "", &v), i, len = 0;
    for (i = 0; i < n; i++) {
        char *p = kvt_path(dir, v[i]), line[512];
        int k = snprintf(line, sizeof line, "%s=%llu\n", v[i], (unsigned long long)kvt_fsize(p));
        out = (char *)realloc(out, len + (size_t)k + 1);
        memcpy(out + len, line, (size_t)k + 1);
        len += (size_t)k;
        free(p);
    }
    kvt_list_free(v, n);
    return out;
}

/* The child's checks: exit code 0 if every call was CAIRN_FORKED, else the number of the check
 * that failed. */
static int child_calls(cairn_kv *kv) {
    void *v = NULL;
    size_t vl = 0;
    uint64_t n = 0;
    int64_t exp = 0;
    char buf[16];
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    cairn_kv_iter *it = NULL;
    if (cairn_kv_put(kv, "c", 1, "child", 5, 0) != CAIRN_FORKED) return 10;
    if (cairn_errcode() != CAIRN_FORKED || !strstr(cairn_errmsg(), "kv_put")) return 11;
    if (cairn_kv_put_ex(kv, "c", 1, "child", 5, 0, 0) != CAIRN_FORKED) return 12;
    if (cairn_kv_get(kv, "a", 1, &v, &vl, NULL) != CAIRN_FORKED) return 13;
    if (cairn_kv_get_into(kv, "a", 1, buf, sizeof buf, &vl, NULL) != CAIRN_FORKED) return 14;
    if (cairn_kv_delete(kv, "b", 1) != CAIRN_FORKED) return 15;
    if (cairn_kv_exists(kv, "a", 1) != CAIRN_FORKED) return 16;
    if (cairn_kv_count(kv, &n) != CAIRN_FORKED) return 17;
    if (cairn_kv_expiry(kv, "a", 1, &exp) != CAIRN_FORKED) return 18;
    if (cairn_kv_iter_open(&it, kv, NULL, 0) != CAIRN_FORKED) return 19;
    if (cairn_kv_begin(kv) != CAIRN_FORKED) return 20;
    if (cairn_kv_commit(kv) != CAIRN_FORKED) return 21;
    if (cairn_kv_rollback(kv) != CAIRN_FORKED) return 22;
    if (cairn_kv_sync(kv) != CAIRN_FORKED) return 23;
    if (cairn_kv_compact(kv) != CAIRN_FORKED) return 24;
    if (cairn_kv_stats(kv, &st) != CAIRN_FORKED) return 25;
    return 0;
}

static void run_child(cairn_kv *kv, cairn_kv_iter *it, const char *dir) {
    pid_t pid = fork();
    int status = 0;
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const void *k;
        size_t kl;
        int rc = child_calls(kv);
        cairn_kv *kv2 = NULL;
        if (!rc && cairn_kv_iter_next(it, &k, &kl) != CAIRN_FORKED) rc = 30;
        cairn_kv_iter_free(it);
        cairn_kv_close(kv); /* frees memory only */
        /* the lock is still the parent's: the child cannot become a second writer */
        if (!rc && cairn_kv_open(&kv2, dir, NULL) != CAIRN_LOCKED) rc = 31;
        _exit(rc);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child check %d failed (status %d)",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1, status);
}

START_TEST(child_gets_forked_and_writes_nothing) {
    char *dir = kvt_tmpdir("fork"), *before, *after, *v = NULL;
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_NONE, 0), *kv2 = NULL;
    cairn_kv_iter *it = NULL;
    int i;
    char k[16];
    for (i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "p%02d", i);
        ck_assert_int_eq(kvt_put(kv, k, "parent"), 0);
    }
    ck_assert_int_eq(kvt_put(kv, "a", "1"), 0);
    ck_assert_int_eq(kvt_put(kv, "b", "2"), 0);
    ck_assert_int_eq(cairn_kv_iter_open(&it, kv, NULL, 0), 0);
    /* the active file is open, mapped and has reserved blocks past its last record: a close
     * that wrote would trim it, write KEYDIR */
    before = dir_state(dir);
    run_child(kv, it, dir);
    after = dir_state(dir);
    ck_assert_str_eq(after, before);
    /* the parent's handle works on, its lock holds */
    ck_assert_int_eq(cairn_kv_open(&kv2, dir, NULL), CAIRN_LOCKED);
    ck_assert_int_eq(kvt_put(kv, "after", "fork"), 0);
    ck_assert_int_eq(kvt_get(kv, "a", &v), 1);
    ck_assert_str_eq(v, "1");
    free(v);
    cairn_kv_iter_free(it);
    cairn_kv_close(kv);
    kv = kvt_open(dir, CAIRN_SYNC_NONE, 0);
    for (i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "p%02d", i);
        ck_assert_int_eq(kvt_get(kv, k, &v), 1);
        ck_assert_str_eq(v, "parent");
        free(v);
    }
    ck_assert_int_eq(kvt_get(kv, "after", &v), 1);
    free(v);
    ck_assert_int_eq(kvt_get(kv, "c", &v), 0);
    cairn_kv_close(kv);
    ck_assert_int_eq(cairn_kv_check(dir), 0);
    free(before);
    free(after);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* A child forked while the parent has a transaction open and then closes inherited read-only and
 * writer handles: the parent commits afterwards, and everything is there after reopen. */
START_TEST(child_close_during_parent_txn) {
    char *dir = kvt_tmpdir("forktxn"), *v = NULL;
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_COMMIT, 4096), *ro = NULL;
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    pid_t pid;
    int status = 0, i;
    char k[16];
    for (i = 0; i < 200; i++) { /* several files */
        snprintf(k, sizeof k, "k%03d", i);
        ck_assert_int_eq(kvt_put(kv, k, "some value that fills files"), 0);
    }
    o.read_only = 1;
    ck_assert_int_eq(cairn_kv_open(&ro, dir, &o), 0);
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    ck_assert_int_eq(kvt_put(kv, "t1", "x"), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int rc = 0;
        if (cairn_kv_commit(kv) != CAIRN_FORKED) rc = 1;
        if (!rc && kvt_get(ro, "k000", &v) != CAIRN_FORKED) rc = 2;
        cairn_kv_close(ro);
        cairn_kv_close(kv);
        _exit(rc);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: status %d", status);
    ck_assert_int_eq(kvt_put(kv, "t2", "y"), 0);
    ck_assert_int_eq(cairn_kv_commit(kv), 0);
    ck_assert_int_eq(kvt_get(ro, "k000", &v), 1);
    free(v);
    cairn_kv_close(ro);
    cairn_kv_close(kv);
    kv = kvt_open(dir, CAIRN_SYNC_COMMIT, 4096);
    ck_assert_int_eq(kvt_get(kv, "t1", &v), 1);
    free(v);
    ck_assert_int_eq(kvt_get(kv, "t2", &v), 1);
    free(v);
    ck_assert_int_eq(kvt_get(kv, "k199", &v), 1);
    free(v);
    cairn_kv_close(kv);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("kv_fork");
    TCase *tc = tcase_create("fork");
    SRunner *sr;
    int failed;
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, child_gets_forked_and_writes_nothing);
    tcase_add_test(tc, child_close_during_parent_txn);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
