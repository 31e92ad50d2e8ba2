/* test_blob_readers.c - blob store readers beside a live writer in another process.
 *
 * A forked writer creates, updates (in place, growing, shrinking) and deletes keys, alone and in
 * multi-operation transactions, flushes (checkpoint: the log applied in place and truncated) and
 * compacts (a new file renamed over the old) in a loop. Meanwhile this process does hundreds of
 * read-only opens that read every key, reads through one long-lived read-only handle, and runs
 * cairn_blob_check. The store is healthy throughout, so:
 *   - no open, read or check may fail (CAIRN_CORRUPT, CAIRN_IO, ...); CAIRN_BUSY, the documented
 *     answer of a reader that could not get a stable view, must stay rare;
 *   - every value read is one the writer wrote for that key: values carry their key and version
 *     and bytes derived from both.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "testutil.h"
#include "util.h"

#define NKEYS 64u
#define RUN_MS 2000u
#define MIN_OPENS 50u
#define MAX_MS 90000u /* below the test case's 120 s timeout */

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint8_t fill(uint32_t key, uint32_t ver, size_t i) {
    return (uint8_t)(key * 131u + ver * 31u + (uint32_t)i * 7u + (uint32_t)(i >> 8));
}

/* value of key at version ver: "K<key> V<ver> L<len>|" then fill() bytes up to len */
static size_t make_val(uint8_t *buf, uint32_t key, uint32_t ver, size_t len) {
    int n = snprintf((char *)buf, 48, "K%u V%u L%zu|", (unsigned)key, (unsigned)ver, len);
    size_t i;
    for (i = (size_t)n; i < len; i++) buf[i] = fill(key, ver, i);
    return len;
}

/* 1 if v is a value the writer made for key */
static int val_ok(uint32_t key, const uint8_t *v, size_t len) {
    char head[48];
    unsigned k = 0, ver = 0;
    size_t l = 0, i, n;
    int used = 0;
    n = len < sizeof head - 1 ? len : sizeof head - 1;
    memcpy(head, v, n);
    head[n] = 0;
    if (sscanf(head, "K%u V%u L%zu|%n", &k, &ver, &l, &used) != 3 || !used) return 0;
    if (k != key || l != len) return 0;
    for (i = (size_t)used; i < len; i++)
        if (v[i] != fill(key, ver, i)) return 0;
    return 1;
}

static void writer(const char *path, int ready_fd) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    cairn_blob *b;
    static uint8_t v[4096];
    uint64_t s = 0x9e3779b97f4a7c15ull;
    uint32_t ver = 0;
    unsigned n;
    o.sync = CAIRN_SYNC_NONE; /* a fast writer: the harder case for readers */
    if (cairn_blob_open(&b, path, &o) != 0) _exit(2);
    for (n = 1;; n++) {
        int txn = rnd(&s) % 8 == 0, ops = txn ? 2 + (int)(rnd(&s) % 4) : 1, i;
        if (txn && cairn_blob_begin(b) != 0) _exit(3);
        for (i = 0; i < ops; i++) {
            uint32_t key = 1 + (uint32_t)(rnd(&s) % NKEYS);
            size_t len = 24 + (size_t)(rnd(&s) % (rnd(&s) % 4 == 0 ? 3000 : 300));
            int rc;
            ver++;
            if (rnd(&s) % 6 == 0) {
                rc = cairn_blob_delete(b, key);
                if (rc && rc != CAIRN_NOTFOUND) _exit(4);
            } else if ((rc = cairn_blob_exists(b, key)) == 1) {
                if (cairn_blob_update(b, key, v, make_val(v, key, ver, len)) != 0) _exit(5);
            } else if (rc != 0 || cairn_blob_create_with_key(b, key, v, make_val(v, key, ver, len)) != 0) {
                _exit(6);
            }
        }
        if (txn && cairn_blob_commit(b) != 0) _exit(7);
        if (n % 25 == 0 && cairn_blob_sync(b) != 0) _exit(8);    /* checkpoint */
        if (n % 300 == 0 && cairn_blob_compact(b) != 0) _exit(9); /* rename over the file */
        if (n == 100 && ready_fd >= 0) {
            if (write(ready_fd, "r", 1) != 1) _exit(10);
            close(ready_fd);
            ready_fd = -1;
        }
    }
}

typedef struct counts {
    unsigned opens, checks, reads, long_reads, busy, errors, wrong;
} counts;

static void note_err(counts *c, const char *what, int rc) {
    if (rc == CAIRN_BUSY) {
        c->busy++;
        return;
    }
    if (c->errors++ < 8) fprintf(stderr, "test_blob_readers: %s: %s: %s\n", what, cairn_errname(rc), cairn_errmsg());
}

/* Read every key through b: each reads as absent or as one of the writer's values for it. */
static void read_all(cairn_blob *b, counts *c, unsigned *reads, const char *what) {
    uint32_t key;
    for (key = 1; key <= NKEYS; key++) {
        void *v = NULL;
        size_t len = 0;
        int rc = cairn_blob_read(b, key, &v, &len);
        (*reads)++;
        if (rc == CAIRN_NOTFOUND) continue;
        if (rc) {
            note_err(c, what, rc);
            continue;
        }
        if (!val_ok(key, (const uint8_t *)v, len)) {
            if (c->wrong++ < 8) fprintf(stderr, "test_blob_readers: %s: wrong bytes for key %u (%zu bytes)\n", what,
                                        (unsigned)key, len);
        }
        cairn_free(v);
    }
}

START_TEST(readers_beside_writer) {
    char *path = ct_path("store.blob");
    cairn_blob_options ro = CAIRN_BLOB_OPTIONS_INIT;
    cairn_blob *lived = NULL;
    counts c;
    int fds[2], status, rc;
    char r;
    pid_t pid;
    uint64_t t0;
    memset(&c, 0, sizeof c);
    ro.read_only = 1;
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        writer(path, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], &r, 1), 1); /* the store exists and has data */
    close(fds[0]);
    rc = cairn_blob_open(&lived, path, &ro);
    ck_assert_msg(rc == 0, "long-lived read-only open: %s %s", cairn_errname(rc), cairn_errmsg());
    t0 = now_ms();
    /* at least RUN_MS and at least MIN_OPENS opens (a loaded machine gets the same work done, later),
     * at most MAX_MS */
    while ((now_ms() - t0 < RUN_MS || c.opens < MIN_OPENS) && now_ms() - t0 < MAX_MS) {
        cairn_blob *b = NULL;
        if (waitpid(pid, &status, WNOHANG) == pid) ck_abort_msg("the writer died (status %d)", status);
        rc = cairn_blob_open(&b, path, &ro);
        c.opens++;
        if (rc) {
            note_err(&c, "read-only open", rc);
        } else {
            read_all(b, &c, &c.reads, "read through a fresh read-only handle");
            cairn_blob_close(b);
        }
        /* a stale read through the long-lived handle refreshes its view (an open's work) */
        if (c.opens % 4 == 1) read_all(lived, &c, &c.long_reads, "read through a long-lived read-only handle");
        if (c.opens % 2 == 1) {
            rc = cairn_blob_check(path);
            c.checks++;
            if (rc) note_err(&c, "cairn_blob_check", rc);
        }
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fprintf(stderr,
            "test_blob_readers: %u read-only opens, %u checks, %u reads (+%u through a long-lived handle): "
            "%u false errors, %u wrong values, %u CAIRN_BUSY\n",
            c.opens, c.checks, c.reads, c.long_reads, c.errors, c.wrong, c.busy);
    /* the writer was killed: its log is recovered by a reader's view, and check passes */
    rc = cairn_blob_check(path);
    ck_assert_msg(rc == 0, "check after the writer was killed: %s %s", cairn_errname(rc), cairn_errmsg());
    read_all(lived, &c, &c.long_reads, "read through a long-lived handle after the writer was killed");
    cairn_blob_close(lived);
    ck_assert_msg(c.errors == 0, "%u false errors beside a writer (of %u opens, %u checks)", c.errors, c.opens,
                  c.checks);
    ck_assert_msg(c.wrong == 0, "%u values that the writer never wrote for their key", c.wrong);
    ck_assert_msg(c.opens >= MIN_OPENS, "only %u read-only opens in %u ms", c.opens, MAX_MS);
    ck_assert_msg(c.busy * 20 <= c.opens + c.checks + c.reads / NKEYS, "%u of %u reader attempts were CAIRN_BUSY",
                  c.busy, c.opens + c.checks);
}
END_TEST

static void setup(void) { ct_tmp_create("blob-readers"); }
static void teardown(void) { ct_tmp_remove(); }

int main(void) {
    Suite *s = suite_create("blob_readers");
    TCase *tc = tcase_create("readers");
    SRunner *sr;
    int failed;
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, readers_beside_writer);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
