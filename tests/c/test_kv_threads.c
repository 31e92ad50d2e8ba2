/* test_kv_threads.c - one handle, many threads: group commit with 8 writers (one fsync must
 * acknowledge several commits), group commit while reclaim closes the files a leader may be
 * syncing, readers that never see a half-updated entry while writers and reclaim run, and
 * per-thread error messages. These tests are meant to run under ThreadSanitizer too. */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "kv_testutil.h"
#include "util.h"

#define WRITERS 8
#define PER 120

typedef struct targ {
    cairn_kv *kv;
    int id;
    int errors;
    int *stop;
    long reads;
} targ;

static void *writer(void *p) {
    targ *a = (targ *)p;
    int i;
    char k[32], v[64];
    for (i = 0; i < PER; i++) {
        snprintf(k, sizeof k, "w%d-%d", a->id, i);
        snprintf(v, sizeof v, "%s=value", k);
        if (cairn_kv_put(a->kv, k, strlen(k), v, strlen(v), CAIRN_KIND_TEXT) != 0) a->errors++;
    }
    return NULL;
}

START_TEST(group_commit_eight_writers) {
    char *dir = kvt_tmpdir("group");
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_GROUP, 0);
    pthread_t th[WRITERS];
    targ a[WRITERS];
    int i, j;
    uint64_t syncs, n;
    cairn_io__fault_reset();
    for (i = 0; i < WRITERS; i++) {
        a[i].kv = kv;
        a[i].id = i;
        a[i].errors = 0;
        pthread_create(&th[i], NULL, writer, &a[i]);
    }
    for (i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(a[i].errors, 0);
    }
    syncs = cairn_io__fault_count(CAIRN_FAULT_SYNC);
    fprintf(stderr, "group commit: %d commits, %llu fsyncs\n", WRITERS * PER, (unsigned long long)syncs);
    ck_assert_uint_lt(syncs, WRITERS * PER); /* some fsyncs covered several commits */
    ck_assert_int_eq(cairn_kv_count(kv, &n), 0);
    ck_assert_uint_eq(n, WRITERS * PER);
    cairn_kv_close(kv);
    kv = kvt_open(dir, CAIRN_SYNC_GROUP, 0);
    for (i = 0; i < WRITERS; i++)
        for (j = 0; j < PER; j++) {
            char k[32], want[64], *got = NULL;
            snprintf(k, sizeof k, "w%d-%d", i, j);
            snprintf(want, sizeof want, "%s=value", k);
            ck_assert_int_eq(kvt_get(kv, k, &got), 1);
            ck_assert_str_eq(got, want);
            free(got);
        }
    cairn_kv_close(kv);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* The handle's data-file fsyncs so far (cairn_kv_metrics). */
static uint64_t kv_fsyncs(cairn_kv *kv) {
    char *text = NULL;
    const char *p;
    uint64_t n;
    ck_assert_int_eq(cairn_kv_metrics(kv, &text), 0);
    p = strstr(text, "\ncairn_kv_fsyncs_total{");
    ck_assert_ptr_nonnull(p);
    p = strstr(p, "} ");
    ck_assert_ptr_nonnull(p);
    n = strtoull(p + 2, NULL, 10);
    cairn_free(text);
    return n;
}

typedef struct held_arg {
    cairn_kv *kv;
    int id, rc;
} held_arg;

static void *one_put(void *p) {
    held_arg *a = (held_arg *)p;
    char k[32], v[64];
    snprintf(k, sizeof k, "h%d", a->id);
    snprintf(v, sizeof v, "%s=value", k);
    a->rc = cairn_kv_put(a->kv, k, strlen(k), v, strlen(v), CAIRN_KIND_TEXT);
    return NULL;
}

/* W writers, one durable put each, while the first group fsync is held (an I/O-layer hook, no
 * timing) until every one of them has appended: the first fsync covers its leader, the second
 * covers all the others, so 8 commits take exactly 2 fsyncs. With fail set the held fsync fails
 * instead: its leader gets the error, every other writer CAIRN_FAILED (none returns success). */
static void held_fsync_writers(int fail) {
    char *dir = kvt_tmpdir(fail ? "gheldfail" : "gheld");
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_GROUP, 0);
    pthread_t th[WRITERS];
    held_arg a[WRITERS];
    uint64_t f0, reverted;
    int i, failed = 0, other = 0;
    /* the active file exists, its first blocks are reserved: each put below is one write op */
    ck_assert_int_eq(kvt_put(kv, "warm", "up"), 0);
    ck_assert_int_eq(cairn_kv_sync(kv), 0);
    cairn_io__fault_reset();
    cairn_io__crash_track(1);
    f0 = kv_fsyncs(kv);
    if (fail) cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    cairn_io__fault_hold_sync(WRITERS);
    for (i = 0; i < WRITERS; i++) {
        a[i].kv = kv;
        a[i].id = i;
        a[i].rc = -1;
        ck_assert_int_eq(pthread_create(&th[i], NULL, one_put, &a[i]), 0);
    }
    for (i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        if (fail) {
            if (a[i].rc == CAIRN_FAILED) {
                failed++;
            } else {
                ck_assert_int_eq(a[i].rc, CAIRN_IO);
                other++;
            }
        } else {
            ck_assert_int_eq(a[i].rc, 0);
        }
    }
    if (fail) {
        ck_assert_int_eq(other, 1); /* the leader of the failed fsync */
        ck_assert_int_eq(failed, WRITERS - 1);
        ck_assert_uint_eq(cairn_io__fault_count(CAIRN_FAULT_SYNC), 1); /* (metrics: CAIRN_FAILED now) */
        ck_assert_int_eq(kvt_put(kv, "after", "x"), CAIRN_FAILED);
    } else {
        ck_assert_uint_eq(kv_fsyncs(kv) - f0, 2);
    }
    /* lose every write no fsync covered: after a success nothing acknowledged is at risk */
    reverted = cairn_io__crash_now(CAIRN_CRASH_DROP, 1);
    if (!fail) ck_assert_uint_eq(reverted, 0);
    cairn_kv_close(kv);
    cairn_io__crash_track(0);
    cairn_io__fault_reset();
    kv = kvt_open(dir, CAIRN_SYNC_GROUP, 0);
    for (i = 0; i < WRITERS && !fail; i++) {
        char k[32], want[64], *got = NULL;
        snprintf(k, sizeof k, "h%d", i);
        snprintf(want, sizeof want, "%s=value", k);
        ck_assert_int_eq(kvt_get(kv, k, &got), 1);
        ck_assert_str_eq(got, want);
        free(got);
    }
    {
        char *got = NULL;
        ck_assert_int_eq(kvt_get(kv, "warm", &got), 1);
        ck_assert_str_eq(got, "up");
        free(got);
    }
    cairn_kv_close(kv);
    kvt_rmdir(dir);
    free(dir);
}

START_TEST(group_commit_held_fsync) { held_fsync_writers(0); }
END_TEST

START_TEST(group_commit_held_fsync_fails) { held_fsync_writers(1); }
END_TEST

/* Values are "<key>:<version>:<key>": a reader checks both ends agree with the key it asked for. */
static void *reader(void *p) {
    targ *a = (targ *)p;
    uint64_t s = (uint64_t)a->id * 977 + 1;
    while (!__atomic_load_n(a->stop, __ATOMIC_ACQUIRE)) {
        char k[32];
        void *v = NULL;
        size_t vl = 0, kl;
        int rc;
        snprintf(k, sizeof k, "r%03d", (int)(kvt_rand(&s) % 200));
        kl = strlen(k);
        rc = cairn_kv_get(a->kv, k, kl, &v, &vl, NULL);
        if (rc == 0) {
            if (vl < 2 * kl + 2 || memcmp(v, k, kl) != 0 || memcmp((char *)v + vl - kl, k, kl) != 0) a->errors++;
            cairn_free(v);
        } else if (rc != CAIRN_NOTFOUND) {
            a->errors++;
        }
        if (kvt_rand(&s) % 64 == 0) {
            cairn_kv_iter *it;
            const void *kp;
            if (cairn_kv_iter_open(&it, a->kv, "r", 1) != 0) a->errors++;
            else {
                while (cairn_kv_iter_next(it, &kp, &kl) == 0) {
                }
                cairn_kv_iter_free(it);
            }
        }
        a->reads++;
    }
    return NULL;
}

START_TEST(readers_during_writes_and_reclaim) {
    char *dir = kvt_tmpdir("readers");
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_NONE, 8192);
    pthread_t th[3];
    targ a[3];
    int stop = 0;
    int i, round;
    uint64_t s = 42;
    long reads = 0;
    for (i = 0; i < 3; i++) {
        a[i].kv = kv;
        a[i].id = i;
        a[i].errors = 0;
        a[i].stop = &stop;
        a[i].reads = 0;
        pthread_create(&th[i], NULL, reader, &a[i]);
    }
    for (round = 0; round < 3000; round++) {
        char k[32], v[128];
        int r = (int)(kvt_rand(&s) % 200);
        snprintf(k, sizeof k, "r%03d", r);
        if (kvt_rand(&s) % 5 == 0) {
            (void)cairn_kv_delete(kv, k, strlen(k));
        } else {
            snprintf(v, sizeof v, "%s:%d:%.*s%s", k, round, (int)(kvt_rand(&s) % 40), "........................................", k);
            ck_assert_int_eq(cairn_kv_put(kv, k, strlen(k), v, strlen(v), CAIRN_KIND_TEXT), 0);
        }
        if (round % 500 == 250) ck_assert_int_eq(cairn_kv_compact(kv), 0);
        if (round % 300 == 0) {
            ck_assert_int_eq(cairn_kv_begin(kv), 0);
            ck_assert_int_eq(cairn_kv_put(kv, "r000", 4, "r000:txn:r000", 13, 1), 0);
            ck_assert_int_eq(cairn_kv_commit(kv), 0);
        }
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(a[i].errors, 0);
        reads += a[i].reads;
    }
    fprintf(stderr, "readers: %ld reads during 3000 writes and 6 reclaims\n", reads);
    cairn_kv_close(kv);
    ck_assert_int_eq(cairn_kv_check(dir), 0);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

static void *group_writer(void *p) {
    targ *a = (targ *)p;
    int i = 0;
    char k[32], v[64];
    while (!__atomic_load_n(a->stop, __ATOMIC_ACQUIRE)) {
        snprintf(k, sizeof k, "g%d-%d", a->id, i % 50);
        snprintf(v, sizeof v, "%s=%d", k, i);
        if (cairn_kv_put(a->kv, k, strlen(k), v, strlen(v), CAIRN_KIND_TEXT) != 0) a->errors++;
        i++;
        __atomic_store_n(&a->reads, (long)i, __ATOMIC_RELEASE);
    }
    return NULL;
}

static long total_puts(targ *a, int n) {
    long t = 0;
    int i;
    for (i = 0; i < n; i++) t += __atomic_load_n(&a[i].reads, __ATOMIC_ACQUIRE);
    return t;
}

/* Group-commit leaders fsync the file pointer they copied outside the lock; reclaim closes and
 * frees every old file. Reclaim must never free a file a leader is still syncing (a
 * use-after-free that ThreadSanitizer or AddressSanitizer reports). */
START_TEST(group_commit_during_reclaim) {
    char *dir = kvt_tmpdir("greclaim");
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_GROUP, 4096);
    pthread_t th[3];
    targ a[3];
    int stop = 0, i, j, r;
    long puts = 0;
    for (i = 0; i < 3; i++) {
        a[i].kv = kv;
        a[i].id = i;
        a[i].errors = 0;
        a[i].stop = &stop;
        a[i].reads = 0;
        pthread_create(&th[i], NULL, group_writer, &a[i]);
    }
    for (r = 0; r < 150; r++) {
        /* let the writers commit (and lead group fsyncs) between reclaims */
        long want = total_puts(a, 3) + 6;
        while (total_puts(a, 3) < want) sched_yield();
        ck_assert_int_eq(cairn_kv_compact(kv), 0);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(a[i].errors, 0);
        puts += a[i].reads;
    }
    fprintf(stderr, "group commit during reclaim: %ld puts, 150 reclaims\n", puts);
    cairn_kv_close(kv);
    kv = kvt_open(dir, CAIRN_SYNC_GROUP, 4096);
    for (i = 0; i < 3; i++)
        for (j = 0; j < 50 && j < a[i].reads; j++) {
            char k[32], *got = NULL;
            snprintf(k, sizeof k, "g%d-%d", i, j);
            ck_assert_int_eq(kvt_get(kv, k, &got), 1);
            ck_assert_int_eq(strncmp(got, k, strlen(k)), 0);
            free(got);
        }
    cairn_kv_close(kv);
    ck_assert_int_eq(cairn_kv_check(dir), 0);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

static void *commit_writer(void *p) {
    targ *a = (targ *)p;
    int i;
    char k[32];
    for (i = 0; i < 40; i++) {
        snprintf(k, sizeof k, "c%d-%d", a->id, i);
        if (cairn_kv_put(a->kv, k, strlen(k), "v", 1, 0) != 0) a->errors++;
        if (i % 10 == 0 && cairn_kv_sync(a->kv) != 0) a->errors++;
    }
    return NULL;
}

START_TEST(sync_commit_many_threads) {
    char *dir = kvt_tmpdir("commit");
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_COMMIT, 4096);
    pthread_t th[4];
    targ a[4];
    int i;
    uint64_t n;
    for (i = 0; i < 4; i++) {
        a[i].kv = kv;
        a[i].id = i;
        a[i].errors = 0;
        pthread_create(&th[i], NULL, commit_writer, &a[i]);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(a[i].errors, 0);
    }
    ck_assert_int_eq(cairn_kv_count(kv, &n), 0);
    ck_assert_uint_eq(n, 160);
    cairn_kv_close(kv);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* cairn_kv_update_json is atomic with respect to the handle's other writers: threads that each
 * merge their own member into one object never lose another thread's member or revert its value. */
#define UPD_THREADS 4
#define UPD_PER 300

static void *json_updater(void *p) {
    targ *a = (targ *)p;
    int i;
    char c[64];
    for (i = 1; i <= UPD_PER; i++) {
        snprintf(c, sizeof c, "{\"t%d\": %d}", a->id, i);
        if (cairn_kv_update_json(a->kv, "doc", 3, c, strlen(c)) != 0) a->errors++;
    }
    return NULL;
}

START_TEST(update_json_threads_lose_nothing) {
    char *dir = kvt_tmpdir("updjson");
    cairn_kv *kv = kvt_open(dir, CAIRN_SYNC_NONE, 0);
    pthread_t th[UPD_THREADS];
    targ a[UPD_THREADS];
    void *v = NULL;
    size_t vl = 0;
    char want[32], *doc;
    int i;
    ck_assert_int_eq(cairn_kv_put(kv, "doc", 3, "{}", 2, CAIRN_KIND_JSON), 0);
    for (i = 0; i < UPD_THREADS; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].kv = kv;
        a[i].id = i;
        pthread_create(&th[i], NULL, json_updater, &a[i]);
    }
    for (i = 0; i < UPD_THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(a[i].errors, 0);
    }
    ck_assert_int_eq(cairn_kv_get(kv, "doc", 3, &v, &vl, NULL), 0);
    doc = (char *)malloc(vl + 1);
    memcpy(doc, v, vl);
    doc[vl] = 0;
    for (i = 0; i < UPD_THREADS; i++) {
        snprintf(want, sizeof want, "\"t%d\":%d", i, UPD_PER);
        ck_assert_msg(strstr(doc, want) != NULL, "%s missing from %s", want, doc);
    }
    free(doc);
    cairn_free(v);
    cairn_kv_close(kv);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("kv_threads");
    TCase *tc = tcase_create("threads");
    SRunner *sr;
    int failed;
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, group_commit_eight_writers);
    tcase_add_test(tc, group_commit_held_fsync);
    tcase_add_test(tc, group_commit_held_fsync_fails);
    tcase_add_test(tc, group_commit_during_reclaim);
    tcase_add_test(tc, readers_during_writes_and_reclaim);
    tcase_add_test(tc, sync_commit_many_threads);
    tcase_add_test(tc, update_json_threads_lose_nothing);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
