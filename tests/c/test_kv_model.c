/* test_kv_model.c - model-based randomized test: thousands of random put / put with expiry /
 * delete / transaction / rollback / reclaim / reopen / clock steps against an in-memory oracle.
 * The seed is printed with every failure; set CAIRN_TEST_SEED to replay or explore others,
 * CAIRN_TEST_STEPS to change the number of steps per seed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "kv_testutil.h"
#include "util.h"

#define MKEYS 48

typedef struct mval {
    int present;
    int kind;
    int64_t expire;
    size_t len;
    uint8_t *bytes;
} mval;

typedef struct model {
    mval v[MKEYS];
} model;

static uint64_t g_seed;
static int64_t g_now;

static void m_copy(model *dst, const model *src) {
    int i;
    for (i = 0; i < MKEYS; i++) {
        dst->v[i] = src->v[i];
        if (src->v[i].present) {
            dst->v[i].bytes = (uint8_t *)malloc(src->v[i].len + 1);
            memcpy(dst->v[i].bytes, src->v[i].bytes, src->v[i].len);
        } else {
            dst->v[i].bytes = NULL;
        }
    }
}

static void m_free(model *m) {
    int i;
    for (i = 0; i < MKEYS; i++) {
        free(m->v[i].bytes);
        m->v[i].bytes = NULL;
        m->v[i].present = 0;
    }
}

static int m_live(const model *m, int k) {
    return m->v[k].present && (m->v[k].expire == 0 || m->v[k].expire > g_now);
}

static void key_of(int i, char *k) {
    /* a few shared prefixes for prefix iteration; one binary key */
    if (i == 0) {
        memcpy(k, "\0bin", 5);
        return;
    }
    snprintf(k, 16, "%s%02d", i % 3 == 0 ? "a/" : i % 3 == 1 ? "ab/" : "b/", i);
}

static size_t klen_of(int i) {
    char k[16];
    if (i == 0) return 4;
    key_of(i, k);
    return strlen(k);
}

static void verify_all(cairn_kv *kv, const model *m, long step) {
    int i, live = 0;
    uint64_t cnt = 0;
    cairn_kv_iter *it;
    const void *kp;
    size_t kl;
    for (i = 0; i < MKEYS; i++) {
        char k[16];
        void *v = NULL;
        size_t vl = 0;
        int kind = -1, rc;
        key_of(i, k);
        rc = cairn_kv_get(kv, k, klen_of(i), &v, &vl, &kind);
        if (m_live(m, i)) {
            live++;
            ck_assert_msg(rc == 0, "seed %llu step %ld key %d: get %s (%s), want a value", (unsigned long long)g_seed,
                          step, i, cairn_errname(rc), cairn_errmsg());
            ck_assert_msg(vl == m->v[i].len && (vl == 0 || memcmp(v, m->v[i].bytes, vl) == 0) && kind == m->v[i].kind,
                          "seed %llu step %ld key %d: wrong value (len %zu want %zu, kind %d want %d)",
                          (unsigned long long)g_seed, step, i, vl, m->v[i].len, kind, m->v[i].kind);
            ck_assert_int_eq(cairn_kv_exists(kv, k, klen_of(i)), 1);
        } else {
            ck_assert_msg(rc == CAIRN_NOTFOUND, "seed %llu step %ld key %d: get %s, want NOTFOUND",
                          (unsigned long long)g_seed, step, i, cairn_errname(rc));
            ck_assert_int_eq(cairn_kv_exists(kv, k, klen_of(i)), 0);
        }
        cairn_free(v);
    }
    ck_assert_int_eq(cairn_kv_count(kv, &cnt), 0);
    ck_assert_msg(cnt == (uint64_t)live, "seed %llu step %ld: count %llu want %d", (unsigned long long)g_seed, step,
                  (unsigned long long)cnt, live);
    /* prefix "ab/" */
    ck_assert_int_eq(cairn_kv_iter_open(&it, kv, "ab/", 3), 0);
    {
        int want = 0, got = 0;
        char prev[32] = "";
        for (i = 0; i < MKEYS; i++)
            if (i % 3 == 1 && m_live(m, i)) want++;
        while (cairn_kv_iter_next(it, &kp, &kl) == 0) {
            char cur[32];
            memcpy(cur, kp, kl);
            cur[kl] = 0;
            ck_assert(memcmp(kp, "ab/", 3) == 0);
            ck_assert_msg(strcmp(prev, cur) < 0, "seed %llu: iteration not ascending", (unsigned long long)g_seed);
            strcpy(prev, cur);
            got++;
        }
        ck_assert_msg(got == want, "seed %llu step %ld: prefix iteration gave %d keys, want %d",
                      (unsigned long long)g_seed, step, got, want);
    }
    cairn_kv_iter_free(it);
}

static cairn_kv *reopen(const char *dir, uint64_t *s) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    int rc;
    o.sync = (int)(kvt_rand(s) % 3);
    if (o.sync == CAIRN_SYNC_COMMIT && kvt_rand(s) % 2) o.sync = CAIRN_SYNC_NONE; /* keep it fast */
    o.max_file_size = 512 + kvt_rand(s) % 4096;
    rc = cairn_kv_open(&kv, dir, &o);
    ck_assert_msg(rc == 0, "seed %llu: reopen %s %s", (unsigned long long)g_seed, cairn_errname(rc), cairn_errmsg());
    return kv;
}

static void run_seed(uint64_t seed, long steps) {
    char *dir = kvt_tmpdir("model");
    uint64_t s = seed;
    model committed, work;
    int in_txn = 0;
    long step;
    cairn_kv *kv;
    uint8_t *buf = (uint8_t *)malloc(70000);
    g_seed = seed;
    g_now = 1700000000000LL;
    cairn_time__set_fake(g_now);
    memset(&committed, 0, sizeof committed);
    memset(&work, 0, sizeof work);
    kv = reopen(dir, &s);
    for (step = 0; step < steps; step++) {
        unsigned r = (unsigned)(kvt_rand(&s) % 1000);
        int k = (int)(kvt_rand(&s) % MKEYS), rc;
        model *m = in_txn ? &work : &committed;
        char key[16];
        key_of(k, key);
        if (r < 400) { /* put, maybe with expiry */
            size_t len = kvt_rand(&s) % 8 == 0 ? kvt_rand(&s) % 70000 : kvt_rand(&s) % 200;
            int kind = (int)(kvt_rand(&s) % 4);
            int64_t exp = 0;
            size_t i;
            uint64_t fill = kvt_rand(&s);
            for (i = 0; i < len; i++) buf[i] = (uint8_t)(fill + i * 7);
            if (r < 80) exp = g_now + (int64_t)(kvt_rand(&s) % 300) - 20; /* some already past */
            if (exp < 0) exp = 0;
            rc = cairn_kv_put_ex(kv, key, klen_of(k), buf, len, kind, exp);
            ck_assert_msg(rc == 0, "seed %llu step %ld: put %s %s", (unsigned long long)seed, step, cairn_errname(rc),
                          cairn_errmsg());
            free(m->v[k].bytes);
            m->v[k].present = 1;
            m->v[k].kind = kind;
            m->v[k].expire = exp;
            m->v[k].len = len;
            m->v[k].bytes = (uint8_t *)malloc(len + 1);
            memcpy(m->v[k].bytes, buf, len);
        } else if (r < 550) { /* delete */
            rc = cairn_kv_delete(kv, key, klen_of(k));
            if (m_live(m, k)) {
                ck_assert_msg(rc == 0, "seed %llu step %ld: delete %s", (unsigned long long)seed, step, cairn_errname(rc));
                free(m->v[k].bytes);
                m->v[k].bytes = NULL;
                m->v[k].present = 0;
            } else {
                ck_assert_msg(rc == CAIRN_NOTFOUND, "seed %llu step %ld: delete of absent key gave %s",
                              (unsigned long long)seed, step, cairn_errname(rc));
            }
        } else if (r < 640) { /* begin / commit / rollback */
            if (!in_txn) {
                ck_assert_int_eq(cairn_kv_begin(kv), 0);
                m_copy(&work, &committed);
                in_txn = 1;
            } else if (r < 610) {
                ck_assert_msg(cairn_kv_commit(kv) == 0, "seed %llu step %ld: commit %s", (unsigned long long)seed, step,
                              cairn_errmsg());
                m_free(&committed);
                committed = work;
                memset(&work, 0, sizeof work);
                in_txn = 0;
            } else {
                ck_assert_int_eq(cairn_kv_rollback(kv), 0);
                m_free(&work);
                in_txn = 0;
            }
        } else if (r < 660) { /* reclaim */
            rc = cairn_kv_compact(kv);
            ck_assert_msg(rc == (in_txn ? CAIRN_TXN : 0), "seed %llu step %ld: reclaim %s %s", (unsigned long long)seed,
                          step, cairn_errname(rc), cairn_errmsg());
        } else if (r < 690) { /* reopen (an open transaction is rolled back) */
            cairn_kv_close(kv);
            if (in_txn) {
                m_free(&work);
                in_txn = 0;
            }
            if (kvt_rand(&s) % 4 == 0) {
                /* drop the snapshot now and then so open reads hints and scans */
                char *p = kvt_path(dir, "KEYDIR");
                remove(p);
                free(p);
            }
            kv = reopen(dir, &s);
            verify_all(kv, &committed, step);
        } else if (r < 760) { /* time passes */
            g_now += (int64_t)(kvt_rand(&s) % 60);
            cairn_time__set_fake(g_now);
        } else if (r < 780) {
            verify_all(kv, m, step);
        } else { /* point read */
            void *v = NULL;
            size_t vl;
            rc = cairn_kv_get(kv, key, klen_of(k), &v, &vl, NULL);
            if (m_live(m, k))
                ck_assert_msg(rc == 0 && vl == m->v[k].len && (vl == 0 || memcmp(v, m->v[k].bytes, vl) == 0),
                              "seed %llu step %ld key %d: get %s", (unsigned long long)seed, step, k, cairn_errname(rc));
            else
                ck_assert_msg(rc == CAIRN_NOTFOUND, "seed %llu step %ld key %d: get %s, want NOTFOUND",
                              (unsigned long long)seed, step, k, cairn_errname(rc));
            cairn_free(v);
        }
    }
    if (in_txn) {
        ck_assert_int_eq(cairn_kv_commit(kv), 0);
        m_free(&committed);
        committed = work;
        memset(&work, 0, sizeof work);
    }
    verify_all(kv, &committed, steps);
    cairn_kv_close(kv);
    ck_assert_msg(cairn_kv_check(dir) == 0, "seed %llu: check %s", (unsigned long long)seed, cairn_errmsg());
    kv = reopen(dir, &s);
    verify_all(kv, &committed, steps + 1);
    cairn_kv_close(kv);
    m_free(&committed);
    m_free(&work);
    free(buf);
    cairn_time__set_fake(0);
    kvt_rmdir(dir);
    free(dir);
}

START_TEST(random_against_oracle) {
    uint64_t seed = kvt_seed("CAIRN_TEST_SEED", 0);
    long steps = getenv("CAIRN_TEST_STEPS") ? atol(getenv("CAIRN_TEST_STEPS")) : 6000;
    if (seed) {
        fprintf(stderr, "model: seed %llu, %ld steps\n", (unsigned long long)seed, steps);
        run_seed(seed, steps);
    } else {
        uint64_t sd;
        for (sd = 1; sd <= 4; sd++) run_seed(sd * 7919, steps);
        fprintf(stderr, "model: seeds 7919..31676, %ld steps each\n", steps);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("kv_model");
    TCase *tc = tcase_create("model");
    SRunner *sr;
    int failed;
    kvt_prefer_shm = 1;
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, random_against_oracle);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
