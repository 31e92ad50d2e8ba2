/* test_kv_readers.c - readers beside a live writer in another process. The writer puts,
 * rotates small files, reclaims and reopens in a loop; the test opens the store read-only and
 * checks it hundreds of times meanwhile. A healthy store must never read as CAIRN_PATH (a file
 * renamed or unlinked by reclaim between listing and opening), CAIRN_CORRUPT (the active file
 * growing or trimmed while read, an append caught half done), or anything but its own values. */
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
#include "util.h"

#define NKEYS 200

/* value of key k at version n: "<key>:<n>:<padding><key>", checkable from both ends */
static int make_val(char *v, size_t cap, const char *k, unsigned n) {
    return snprintf(v, cap, "%s:%u:%.*s%s", k, n, (int)(n % 40), "........................................", k);
}

static void writer_loop(const char *dir, int ready_fd) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    uint64_t s = 7;
    unsigned n = 0;
    o.sync = CAIRN_SYNC_NONE;
    o.max_file_size = 2048; /* a rotation every few dozen puts */
    for (;;) {
        int i;
        if (cairn_kv_open(&kv, dir, &o) != 0) _exit(2);
        for (i = 0; i < 1500; i++, n++) {
            char k[16], v[128];
            snprintf(k, sizeof k, "k%03u", (unsigned)(kvt_rand(&s) % NKEYS));
            make_val(v, sizeof v, k, n);
            if (kvt_rand(&s) % 7 == 0) {
                int rc = cairn_kv_delete(kv, k, strlen(k));
                if (rc && rc != CAIRN_NOTFOUND) _exit(3);
            } else if (kvt_put(kv, k, v) != 0) {
                _exit(4);
            }
            if (i % 400 == 399 && cairn_kv_compact(kv) != 0) _exit(5);
            if (n == 300 && ready_fd >= 0) {
                if (write(ready_fd, "r", 1) != 1) _exit(6);
                close(ready_fd);
                ready_fd = -1;
            }
        }
        cairn_kv_close(kv); /* trims the active file, writes KEYDIR */
    }
}

/* One read-only open: every key reads as absent or as a well-formed value of that key. */
static int reader_once(const char *dir, char *why, size_t cap) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    int rc, i;
    uint64_t n = 0;
    o.read_only = 1;
    if ((rc = cairn_kv_open(&kv, dir, &o)) != 0) {
        snprintf(why, cap, "read-only open: %s %s", cairn_errname(rc), cairn_errmsg());
        return 1;
    }
    if (cairn_kv_count(kv, &n) != 0 || n > NKEYS) {
        snprintf(why, cap, "count %llu", (unsigned long long)n);
        cairn_kv_close(kv);
        return 1;
    }
    for (i = 0; i < NKEYS; i += 7) {
        char k[16];
        void *v = NULL;
        size_t vl = 0, kl;
        snprintf(k, sizeof k, "k%03d", i);
        kl = strlen(k);
        rc = cairn_kv_get(kv, k, kl, &v, &vl, NULL);
        if (rc == CAIRN_NOTFOUND) continue;
        if (rc != 0 || vl < 2 * kl + 2 || memcmp(v, k, kl) != 0 || memcmp((char *)v + vl - kl, k, kl) != 0) {
            snprintf(why, cap, "get %s: %s %s", k, cairn_errname(rc), rc ? cairn_errmsg() : "(bad value)");
            cairn_free(v);
            cairn_kv_close(kv);
            return 1;
        }
        cairn_free(v);
    }
    cairn_kv_close(kv);
    return 0;
}

START_TEST(readers_and_check_beside_a_writer) {
    char *dir = kvt_tmpdir("readers"), why[1024] = "";
    int pfd[2], status = 0, opens = 0, checks = 0, bad = 0;
    pid_t pid;
    char c;
    uint64_t t0;
    ck_assert_int_eq(pipe(pfd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        writer_loop(dir, pfd[1]);
        _exit(0);
    }
    close(pfd[1]);
    ck_assert_int_eq(read(pfd[0], &c, 1), 1); /* the store exists and has data */
    close(pfd[0]);
    t0 = cairn_time__mono_ns();
    /* 1200 read-only opens and 300 checks, or 8 seconds on a slow machine */
    while (opens < 1200 && cairn_time__mono_ns() - t0 < UINT64_C(8000000000)) {
        int rc;
        if (reader_once(dir, why, sizeof why)) {
            bad++;
            fprintf(stderr, "reader: %s\n", why);
        }
        opens++;
        if (opens % 4 == 0) {
            rc = cairn_kv_check(dir);
            checks++;
            if (rc != 0) {
                bad++;
                fprintf(stderr, "check: %s %s\n", cairn_errname(rc), cairn_errmsg());
            }
        }
    }
    ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0); /* the writer never failed */
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    fprintf(stderr, "readers: %d read-only opens and %d checks beside a writer, %d errors\n", opens, checks, bad);
    ck_assert_int_ge(opens, 50);
    ck_assert_int_eq(bad, 0);
    /* and the killed writer's store opens and checks clean */
    ck_assert_int_eq(reader_once(dir, why, sizeof why), 0);
    ck_assert_int_eq(cairn_kv_check(dir), 0);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("kv_readers");
    TCase *tc = tcase_create("readers");
    SRunner *sr;
    int failed;
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, readers_and_check_beside_a_writer);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
