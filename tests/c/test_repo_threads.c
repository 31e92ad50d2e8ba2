/* test_repo_threads.c - one repository handle, several threads: iterators stepping through a
 * fixed version while other threads put, get, diff and gc on the same handle. Every step of an
 * iterator must read the version it was opened on, whole and in key order, while the tenant's
 * pack index grows and its packs are mapped, added and rewritten; and iterators stepping while
 * another thread closes the handle end CAIRN_CLOSED. Meant to run under ThreadSanitizer too
 * (scripts/test.sh). */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "testutil.h"

#define N 600       /* records of the version the iterators walk */
#define PUTS 120    /* puts per writer thread */
#define WRITERS 2
#define BIG 5000    /* values of every 8th record: an object of their own, read through the mapping */

static cairn_repo *r;
static char d0[65]; /* the version every iterator walks */
static int stop;    /* set (atomically) when the writers are done */

static void mk(void) {
    ct_tmp_create("repo-threads");
    r = NULL;
}
static void rm(void) {
    cairn_repo_close(r);
    r = NULL;
    ct_tmp_remove();
}

static size_t key_of(int i, char *k) { return (size_t)sprintf(k, "k%05d", i); }

/* The value of record i in d0 (a round > 0: what a writer put over it later). */
static size_t val_of(int i, int round, char *v) {
    size_t n = (i % 8 == 0) ? BIG : 24 + (size_t)(i % 13);
    for (size_t j = 0; j < n; j++) v[j] = (char)('a' + (i * 7 + (int)j + round * 3) % 26);
    return n;
}

typedef struct targ {
    int id;
    int errors;    /* calls that failed */
    int mismatch;  /* answers that differed from d0 */
    long steps;    /* records iterated or read */
    char msg[256]; /* the first failure */
} targ;

static void fail_once(targ *a, const char *what, int rc) {
    if (!a->msg[0]) snprintf(a->msg, sizeof a->msg, "%s: %s %s", what, cairn_errname(rc), cairn_errmsg());
    a->errors++;
}

/* Walk d0 from start to end: every key in order, every value as it was. */
static void walk_d0(targ *a) {
    cairn_repo_iter *it = NULL;
    const void *k, *v;
    size_t kl, vl;
    int kind, rc, i = 0;
    char kb[16], vb[BIG];
    if ((rc = cairn_repo_iter_open(&it, r, "t", "coll", d0)) != 0) { fail_once(a, "iter_open", rc); return; }
    while ((rc = cairn_repo_iter_next(it, &k, &kl, &v, &vl, &kind)) == 0) {
        size_t ekl = key_of(i, kb), evl = val_of(i, 0, vb);
        if (i >= N || kl != ekl || memcmp(k, kb, kl) != 0 || vl != evl || memcmp(v, vb, vl) != 0 ||
            kind != CAIRN_KIND_BYTES) {
            if (!a->msg[0]) snprintf(a->msg, sizeof a->msg, "record %d of d0 differs", i);
            a->mismatch++;
            break;
        }
        i++;
        a->steps++;
    }
    if (rc != 0 && rc != CAIRN_ITEROVER) fail_once(a, "iter_next", rc);
    else if (rc == CAIRN_ITEROVER && i != N) {
        if (!a->msg[0]) snprintf(a->msg, sizeof a->msg, "d0 iterated %d records, not %d", i, N);
        a->mismatch++;
    }
    cairn_repo_iter_free(it);
}

/* Walk whatever the head is now: as many records as count says, keys strictly ascending. */
static void walk_head(targ *a) {
    cairn_repo_iter *it = NULL;
    const void *k;
    size_t kl, pl = 0;
    char head[65], prev[64];
    uint64_t count = 0, seen = 0;
    int rc;
    if ((rc = cairn_repo_digest(r, "t", "coll", head)) != 0) { fail_once(a, "digest", rc); return; }
    if ((rc = cairn_repo_count(r, "t", "coll", head, &count)) != 0) { fail_once(a, "count", rc); return; }
    if ((rc = cairn_repo_iter_open(&it, r, "t", "coll", head)) != 0) { fail_once(a, "iter_open head", rc); return; }
    while ((rc = cairn_repo_iter_next(it, &k, &kl, NULL, NULL, NULL)) == 0) {
        size_t m = kl < pl ? kl : pl;
        int c = memcmp(prev, k, m);
        if (seen > 0 && !(c < 0 || (c == 0 && pl < kl))) {
            if (!a->msg[0]) snprintf(a->msg, sizeof a->msg, "head keys out of order at %llu", (unsigned long long)seen);
            a->mismatch++;
            break;
        }
        if (kl > sizeof prev) kl = sizeof prev;
        memcpy(prev, k, kl);
        pl = kl;
        seen++;
        a->steps++;
    }
    if (rc != 0 && rc != CAIRN_ITEROVER) fail_once(a, "iter_next head", rc);
    else if (rc == CAIRN_ITEROVER && seen != count) {
        if (!a->msg[0]) snprintf(a->msg, sizeof a->msg, "head iterated %llu records, count says %llu",
                                 (unsigned long long)seen, (unsigned long long)count);
        a->mismatch++;
    }
    cairn_repo_iter_free(it);
}

/* Iterate d0 and the head over and over until the writers are done (and at least twice). */
static void *iterator(void *p) {
    targ *a = (targ *)p;
    for (int round = 0; round < 2 || !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); round++) {
        walk_d0(a);
        walk_head(a);
        if (a->errors || a->mismatch) break;
    }
    return NULL;
}

/* Put over d0's records, new records and big values of another entry (the tenant's index grows,
 * packs are mapped); now and then a diff against d0 and a gc. */
static void *writer(void *p) {
    targ *a = (targ *)p;
    char kb[32], vb[BIG], d[65];
    int rc;
    for (int i = 0; i < PUTS; i++) {
        int k = (i * 37 + a->id * 11) % N;
        size_t kl = key_of(k, kb), vl = val_of(k, 1 + a->id, vb);
        if ((rc = cairn_repo_put(r, "t", "w", "coll", kb, kl, vb, vl, CAIRN_KIND_BYTES, d)) != 0) fail_once(a, "put", rc);
        kl = (size_t)sprintf(kb, "n%d-%04d", a->id, i);
        vl = val_of(i, 2 + a->id, vb);
        if ((rc = cairn_repo_put(r, "t", "w", "other", kb, kl, vb, vl, CAIRN_KIND_BYTES, d)) != 0) fail_once(a, "put other", rc);
        if (i % 40 == 39) {
            char *j = NULL;
            uint64_t removed;
            if ((rc = cairn_repo_digest(r, "t", "coll", d)) != 0 || (rc = cairn_repo_diff(r, "t", d0, d, &j)) != 0)
                fail_once(a, "diff", rc);
            cairn_free(j);
            if ((rc = cairn_repo_gc(r, 0, &removed)) != 0) fail_once(a, "gc", rc);
        }
        a->steps++;
    }
    return NULL;
}

/* Read d0's records one by one, as they were. */
static void *getter(void *p) {
    targ *a = (targ *)p;
    char kb[16], vb[BIG];
    unsigned seed = 7;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE) || a->steps < N) {
        void *v = NULL;
        size_t vl = 0, el, kl;
        int kind = -1, rc, i;
        seed = seed * 1103515245u + 12345u;
        i = (int)((seed >> 8) % N);
        kl = key_of(i, kb);
        el = val_of(i, 0, vb);
        if ((rc = cairn_repo_get(r, "t", "coll", d0, kb, kl, &v, &vl, &kind)) != 0) {
            fail_once(a, "get", rc);
            break;
        }
        if (vl != el || memcmp(v, vb, vl) != 0 || kind != CAIRN_KIND_BYTES) {
            if (!a->msg[0]) snprintf(a->msg, sizeof a->msg, "get of record %d of d0 differs", i);
            a->mismatch++;
        }
        cairn_free(v);
        a->steps++;
        if (a->mismatch) break;
    }
    return NULL;
}

/* Open r (CAIRN_SYNC_NONE, a node cache of cache_bytes) with tenant "t" and the collection "coll"
 * of N records, version 0 (its digest in d0). */
static void open_filled(uint64_t cache_bytes) {
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    const void *keys[N], *vals[N];
    size_t klens[N], vlens[N];
    static char kbuf[N][16], vbuf[N][BIG];
    int i;
    o.sync = CAIRN_SYNC_NONE;
    o.cache_bytes = cache_bytes;
    ck_assert_int_eq(cairn_repo_open(&r, ct_path("repo"), &o), 0);
    ck_assert_int_eq(cairn_repo_init(r, "t"), 0);
    for (i = 0; i < N; i++) {
        klens[i] = key_of(i, kbuf[i]);
        vlens[i] = val_of(i, 0, vbuf[i]);
        keys[i] = kbuf[i];
        vals[i] = vbuf[i];
    }
    ck_assert_int_eq(cairn_repo_put_many(r, "t", "w", "coll", N, keys, klens, vals, vlens, NULL, d0), 0);
}

START_TEST(iterators_beside_writers) {
    pthread_t th[2 + WRITERS];
    targ a[2 + WRITERS];
    int i;
    open_filled((uint64_t)_i << 20); /* 1 MiB: the cache fills and evicts; 64 MiB: it holds it all */
    __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
    memset(a, 0, sizeof a);
    for (i = 0; i < 2 + WRITERS; i++) a[i].id = i;
    ck_assert_int_eq(pthread_create(&th[0], NULL, iterator, &a[0]), 0);
    ck_assert_int_eq(pthread_create(&th[1], NULL, getter, &a[1]), 0);
    for (i = 0; i < WRITERS; i++) ck_assert_int_eq(pthread_create(&th[2 + i], NULL, writer, &a[2 + i]), 0);
    for (i = 0; i < WRITERS; i++) pthread_join(th[2 + i], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    for (i = 0; i < 2 + WRITERS; i++) {
        ck_assert_msg(a[i].errors == 0 && a[i].mismatch == 0, "thread %d: %d errors, %d mismatches: %s", i,
                      a[i].errors, a[i].mismatch, a[i].msg);
        ck_assert_int_gt(a[i].steps, 0);
    }
    ck_assert_int_ge(a[0].steps, 2 * N); /* d0 walked whole at least twice */
    /* the writers' changes all landed: the head holds N records of coll plus nothing lost */
    {
        uint64_t n = 0;
        ck_assert_int_eq(cairn_repo_count(r, "t", "other", NULL, &n), 0);
        ck_assert_uint_eq(n, (uint64_t)WRITERS * PUTS);
        ck_assert_int_eq(cairn_repo_count(r, "t", "coll", NULL, &n), 0);
        ck_assert_uint_eq(n, N);
    }
    cairn_repo_close(r);
    r = NULL;
    ck_assert_int_eq(cairn_repo_verify(ct_path("repo")), 0);
}
END_TEST

/* ---- close beside stepping iterators: threads step through d0 while another thread closes the
 * handle; each step is a record of d0 or, once the close landed, CAIRN_CLOSED (never a read through
 * a freed handle), and the threads free their iterators concurrently, the last one freeing the
 * handle. */
#define CT 3 /* iterating threads */
static pthread_barrier_t at_close;

typedef struct ctarg {
    targ a;
    cairn_repo_iter *it;
    int pre;    /* records stepped before the barrier the closing thread waits at */
    int closed; /* the walk ended CAIRN_CLOSED */
    int over;   /* the walk ended CAIRN_ITEROVER, whole */
} ctarg;

static void *step_until_closed(void *p) {
    ctarg *c = (ctarg *)p;
    const void *k, *v;
    size_t kl, vl;
    int kind, rc = 0, i = 0, waited = 0;
    char kb[16], vb[BIG];
    for (;;) {
        if (i == c->pre) {
            pthread_barrier_wait(&at_close);
            waited = 1;
        }
        if ((rc = cairn_repo_iter_next(c->it, &k, &kl, &v, &vl, &kind)) != 0) break;
        if (i >= N || kl != key_of(i, kb) || memcmp(k, kb, kl) != 0 || vl != val_of(i, 0, vb) ||
            memcmp(v, vb, vl) != 0) {
            if (!c->a.msg[0]) snprintf(c->a.msg, sizeof c->a.msg, "record %d of d0 differs", i);
            c->a.mismatch++;
            break;
        }
        i++;
        c->a.steps++;
    }
    if (!waited) pthread_barrier_wait(&at_close);
    if (rc == CAIRN_CLOSED) {
        c->closed = 1;
        /* and it stays so */
        if ((rc = cairn_repo_iter_next(c->it, &k, &kl, &v, &vl, &kind)) != CAIRN_CLOSED) fail_once(&c->a, "next after CLOSED", rc);
    } else if (rc == CAIRN_ITEROVER && i == N) {
        c->over = 1;
    } else if (rc != 0) {
        fail_once(&c->a, "iter_next", rc);
    }
    cairn_repo_iter_free(c->it);
    return NULL;
}

START_TEST(close_beside_iterators) {
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    pthread_t th[CT];
    ctarg c[CT];
    cairn_repo *w = NULL;
    int i;
    open_filled(1u << 20);
    ck_assert_int_eq(pthread_barrier_init(&at_close, NULL, CT + 1), 0);
    memset(c, 0, sizeof c);
    for (i = 0; i < CT; i++) {
        c[i].a.id = i;
        c[i].pre = (int)(_i * 7 + i * 97) % (N / 2); /* from the start, inside and at leaf ends */
        ck_assert_int_eq(cairn_repo_iter_open(&c[i].it, r, "t", "coll", d0), 0);
    }
    for (i = 0; i < CT; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, step_until_closed, &c[i]), 0);
    pthread_barrier_wait(&at_close);
    cairn_repo_close(r); /* while the threads step */
    r = NULL;
    for (i = 0; i < CT; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&at_close);
    for (i = 0; i < CT; i++) {
        ck_assert_msg(c[i].a.errors == 0 && c[i].a.mismatch == 0, "thread %d: %d errors, %d mismatches: %s", i,
                      c[i].a.errors, c[i].a.mismatch, c[i].a.msg);
        ck_assert_msg(c[i].closed || c[i].over, "thread %d ended neither CLOSED nor at the end", i);
        ck_assert_int_ge(c[i].a.steps, c[i].pre);
    }
    /* the lock went at close */
    o.sync = CAIRN_SYNC_NONE;
    o.lock_timeout_ms = 0;
    ck_assert_int_eq(cairn_repo_open(&w, ct_path("repo"), &o), 0);
    cairn_repo_close(w);
    ck_assert_int_eq(cairn_repo_verify(ct_path("repo")), 0);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("repo_threads");
    TCase *t = tcase_create("threads");
    tcase_add_checked_fixture(t, mk, rm);
    tcase_set_timeout(t, 300);
    /* _i: the node cache in MiB (a small one that evicts, the default size) */
    tcase_add_loop_test(t, iterators_beside_writers, 1, 2);
    tcase_add_loop_test(t, iterators_beside_writers, 64, 65);
    /* _i: where the threads stand when the close lands */
    tcase_add_loop_test(t, close_beside_iterators, 0, 12);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return ct_run(suite()); }
