/* test_blob_safety.c - the blob store's recovery and ownership rules:
 *  - recovery never moves the data file backwards (its header carries the LSN of the last
 *    transaction applied; a log that lost its tail is already applied; a log that starts after
 *    the file's LSN + 1 is CAIRN_CORRUPT and nothing is touched); version 1 files still open;
 *  - one writer per file, whatever its name (symlink, hard link), in this process or another;
 *    a log left under another name is never ignored;
 *  - a handle used in a forked child is CAIRN_FORKED and its close writes nothing;
 *  - a full disk: open, delete, flush and compact still work;
 *  - a killed compaction's "<path>.compact" is removed by the next writer;
 *  - the index file a clean close writes is used only for the very file it describes: damaged,
 *    stale, missing, or a data file changed after it: the open scans (and finds what it finds). */
#include "cairn.h"
#include "util.h"
#include "wal/wal.h"
#include "blob/blob_snap.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static void mk_tmp(void) { ct_tmp_create("blobsafe"); }
static void rm_tmp(void) { ct_tmp_remove(); }

static cairn_blob *open_opts(const char *path, int sync, int ro, int *rc_out) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    cairn_blob *b = NULL;
    o.sync = sync;
    o.read_only = ro;
    o.create = !ro;
    *rc_out = cairn_blob_open(&b, path, &o);
    return b;
}

static cairn_blob *must_open(const char *path) {
    int rc;
    cairn_blob *b = open_opts(path, CAIRN_SYNC_COMMIT, 0, &rc);
    ck_assert_msg(rc == 0, "open %s: %s %s", path, cairn_errname(rc), cairn_errmsg());
    return b;
}

static uint32_t must_create(cairn_blob *b, const char *s) {
    uint32_t k = 0;
    int rc = cairn_blob_create(b, s, strlen(s), &k);
    ck_assert_msg(rc == 0, "create: %s %s", cairn_errname(rc), cairn_errmsg());
    return k;
}

static void expect_str(cairn_blob *b, uint32_t key, const char *want) {
    void *p = NULL;
    size_t n = 0;
    int rc = cairn_blob_read(b, key, &p, &n);
    ck_assert_msg(rc == 0, "read %u: %s %s", key, cairn_errname(rc), cairn_errmsg());
    ck_assert_uint_eq(n, strlen(want));
    ck_assert(memcmp(p, want, n) == 0);
    cairn_free(p);
}

static uint64_t fsize(const char *path) {
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static void *slurp(const char *path, size_t *n) {
    void *d = NULL;
    ck_assert_int_eq(cairn_io__read_all(path, &d, n), 0);
    return d;
}

static void spit(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) ck_assert_uint_eq(fwrite(d, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void copy(const char *from, const char *to) {
    size_t n;
    void *d = slurp(from, &n);
    spit(to, d, n);
    free(d);
}

static void zero_from(const char *path, uint64_t off) {
    size_t n;
    uint8_t *d = slurp(path, &n);
    ck_assert_uint_lt(off, n);
    memset(d + off, 0, n - (size_t)off);
    spit(path, d, n);
    free(d);
}

static uint64_t header_lsn(const char *path) {
    size_t n;
    uint8_t *d = slurp(path, &n);
    uint64_t l;
    ck_assert_uint_ge(n, 64);
    l = cairn_get64(d + 32);
    free(d);
    return l;
}

static uint64_t header_end(const char *path) {
    size_t n;
    uint8_t *d = slurp(path, &n);
    uint64_t e;
    ck_assert_uint_ge(n, 64);
    e = cairn_get64(d + 24);
    free(d);
    return e;
}

static uint64_t wal_bytes(cairn_blob *b) {
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    ck_assert_int_eq(cairn_blob_stats(b, &st), 0);
    return st.wal_bytes;
}

/* Run fn in a child that then dies without closing anything (a crash of the process); the
 * child writes one u64 to the pipe, handed back here. */
static uint64_t in_child(uint64_t (*fn)(const char *), const char *path) {
    int fds[2], status;
    uint64_t v = 0;
    pid_t pid;
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        uint64_t r;
        close(fds[0]);
        r = fn(path);
        if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(9);
        _exit(0);
    }
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], &v, sizeof v), (ssize_t)sizeof v);
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return v;
}

/* ---- item: recovery never moves the data file backwards --------------------------------- */

/* Keys 1 ("one") and 2 ("two"), each committed and synced; returns the log size after key 1. */
static uint64_t child_two_keys(const char *path) {
    cairn_blob *b = NULL;
    uint32_t k;
    uint64_t after1;
    if (cairn_blob_open(&b, path, NULL) != 0) _exit(2);
    if (cairn_blob_create(b, "one", 3, &k) != 0 || k != 1) _exit(3);
    after1 = wal_bytes(b);
    if (cairn_blob_create(b, "two", 3, &k) != 0 || k != 2) _exit(4);
    return after1; /* and die with the handle open */
}

START_TEST(lost_wal_tail_keeps_newer_data_file) {
    const char *p = ct_path("s.blob");
    char wal[600];
    uint64_t after1, size;
    cairn_blob *b;
    snprintf(wal, sizeof wal, "%s-wal", p);
    after1 = in_child(child_two_keys, p);
    size = header_end(p); /* holds both keys (the file may be larger: space reserved ahead) */
    ck_assert_uint_ge(fsize(p), size);
    ck_assert_uint_gt(fsize(wal), after1);
    /* the WAL's last page is lost: the bytes of the last transaction read as zeros */
    zero_from(wal, after1);
    b = must_open(p);
    expect_str(b, 1, "one");
    expect_str(b, 2, "two");
    cairn_blob_close(b);
    ck_assert_uint_eq(header_end(p), size); /* the data file was not cut back */
    ck_assert_uint_eq(fsize(p), size);
    ck_assert_int_eq(cairn_blob_check(p), 0);
    /* and the numbering goes on: a new key, a crash-free reopen */
    b = must_open(p);
    ck_assert_uint_eq(must_create(b, "three"), 3);
    cairn_blob_close(b);
    b = must_open(p);
    expect_str(b, 2, "two");
    expect_str(b, 3, "three");
    cairn_blob_close(b);
}
END_TEST

START_TEST(lost_wal_tail_read_only_view) {
    const char *p = ct_path("s.blob");
    char wal[600];
    uint64_t after1;
    cairn_blob *b;
    int rc;
    snprintf(wal, sizeof wal, "%s-wal", p);
    after1 = in_child(child_two_keys, p);
    zero_from(wal, after1);
    b = open_opts(p, CAIRN_SYNC_COMMIT, 1, &rc);
    ck_assert_int_eq(rc, 0);
    expect_str(b, 1, "one");
    expect_str(b, 2, "two");
    cairn_blob_close(b);
}
END_TEST

/* The data file copied after key 1, the log holding only what came after a checkpoint that
 * the copy lacks: key 3 cannot be replayed over it. */
static uint64_t child_gap(const char *path) {
    cairn_blob *b = NULL;
    char old[600];
    uint32_t k;
    snprintf(old, sizeof old, "%s.old", path);
    if (cairn_blob_open(&b, path, NULL) != 0) _exit(2);
    if (cairn_blob_create(b, "one", 3, &k) != 0) _exit(3);
    copy(path, old);
    if (cairn_blob_create(b, "two", 3, &k) != 0 || cairn_blob_sync(b) != 0) _exit(4);
    if (cairn_blob_create(b, "three", 5, &k) != 0) _exit(5);
    return 0;
}

START_TEST(wal_after_a_gap_is_corrupt_and_untouched) {
    const char *p = ct_path("s.blob");
    char wal[600], old[600];
    uint8_t *d0, *w0, *d1, *w1;
    size_t nd0, nw0, nd1, nw1;
    cairn_blob *b;
    int rc, ro;
    snprintf(wal, sizeof wal, "%s-wal", p);
    snprintf(old, sizeof old, "%s.old", p);
    in_child(child_gap, p);
    copy(old, p); /* the data file goes back to key 1 only; the log starts after key 2 */
    d0 = slurp(p, &nd0);
    w0 = slurp(wal, &nw0);
    for (ro = 0; ro <= 1; ro++) {
        b = open_opts(p, CAIRN_SYNC_COMMIT, ro, &rc);
        ck_assert_ptr_null(b);
        ck_assert_int_eq(rc, CAIRN_CORRUPT);
        ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "-wal"));
    }
    ck_assert_int_eq(cairn_blob_check(p), CAIRN_CORRUPT);
    d1 = slurp(p, &nd1);
    w1 = slurp(wal, &nw1);
    ck_assert(nd0 == nd1 && memcmp(d0, d1, nd0) == 0); /* nothing touched */
    ck_assert(nw0 == nw1 && memcmp(w0, w1, nw0) == 0);
    free(d0);
    free(w0);
    free(d1);
    free(w1);
}
END_TEST

/* The LSN goes up with every transaction applied, and a reopen continues the numbering. */
START_TEST(lsn_increases_across_sessions) {
    const char *p = ct_path("s.blob");
    cairn_blob *b = must_open(p);
    uint64_t l1, l2, l3;
    uint32_t k = must_create(b, "a");
    l1 = header_lsn(p);
    ck_assert_uint_gt(l1, 0);
    ck_assert_int_eq(cairn_blob_update(b, k, "b", 1), 0); /* in place: no header change */
    l2 = header_lsn(p);
    ck_assert_uint_gt(l2, l1);
    cairn_blob_close(b);
    b = must_open(p);
    ck_assert_int_eq(cairn_blob_delete(b, k), 0);
    l3 = header_lsn(p);
    ck_assert_uint_gt(l3, l2);
    cairn_blob_close(b);
}
END_TEST

/* A version 1 file (no LSN) opens; with a log, the whole log is redone as before; the writer
 * upgrades the header. */
static uint64_t child_nosync(const char *path) {
    cairn_blob *b = NULL;
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    uint32_t k;
    o.sync = CAIRN_SYNC_NONE; /* changes stay in the log: the data file has none of them */
    if (cairn_blob_open(&b, path, &o) != 0) _exit(2);
    if (cairn_blob_create(b, "one", 3, &k) != 0 || cairn_blob_create(b, "two", 3, &k) != 0) _exit(3);
    return 0;
}

static void make_v1(const char *path) {
    size_t n;
    uint8_t *d = slurp(path, &n);
    cairn_put32(d + 8, 1);
    memset(d + 12, 0, 4);
    memset(d + 32, 0, 28);
    cairn_put32(d + 60, cairn_crc32c__update(0, d, 60));
    spit(path, d, n);
    free(d);
}

START_TEST(version_1_files_open) {
    const char *p = ct_path("s.blob");
    cairn_blob *b = must_open(p);
    uint8_t *d;
    size_t n;
    must_create(b, "old");
    cairn_blob_close(b);
    make_v1(p);
    b = must_open(p);
    expect_str(b, 1, "old");
    cairn_blob_close(b);
    d = slurp(p, &n);
    ck_assert_uint_eq(cairn_get32(d + 8), 3); /* upgraded */
    free(d);
    /* a version 1 file with committed changes in its log */
    unlink(p);
    in_child(child_nosync, p);
    make_v1(p);
    b = must_open(p);
    expect_str(b, 1, "one");
    expect_str(b, 2, "two");
    cairn_blob_close(b);
}
END_TEST

/* ---- item: a killed compaction's leftover ----------------------------------------------- */

START_TEST(compaction_leftover_removed_by_writer) {
    const char *p = ct_path("s.blob");
    char tmp[600];
    cairn_blob *b = must_open(p);
    uint8_t junk[4096];
    int rc, n, found = 0;
    snprintf(tmp, sizeof tmp, "%s.compact", p);
    must_create(b, "keep");
    cairn_blob_close(b);
    memset(junk, 0x5a, sizeof junk);
    spit(tmp, junk, sizeof junk);
    /* a reader leaves it (it takes no lock: a writer may be compacting) */
    b = open_opts(p, CAIRN_SYNC_COMMIT, 1, &rc);
    ck_assert_int_eq(rc, 0);
    cairn_blob_close(b);
    ck_assert_int_eq(access(tmp, F_OK), 0);
    b = must_open(p);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    expect_str(b, 1, "keep");
    /* a compaction that dies before its rename (simulated crash at each fsync) */
    for (n = 1; n <= 8 && !found; n++) {
        cairn_io__crash_track(1);
        cairn_io__crash_at_sync((uint64_t)n, CAIRN_CRASH_DROP, 1);
        (void)cairn_blob_compact(b);
        cairn_blob_close(b);
        cairn_io__crash_track(0);
        found = access(tmp, F_OK) == 0;
        b = must_open(p);
        ck_assert_int_eq(access(tmp, F_OK), -1);
        expect_str(b, 1, "keep");
        must_create(b, "more");
    }
    ck_assert_msg(found, "no crash point left a .compact file");
    cairn_blob_close(b);
}
END_TEST

/* ---- item: a handle used after fork() --------------------------------------------------- */

static int g_events;
static void on_event(void *ctx, int ev, uint32_t key, uint64_t o, uint64_t n) {
    (void)ctx, (void)ev, (void)key, (void)o, (void)n;
    g_events++;
}

/* In the child: every call on the inherited handle is CAIRN_FORKED; returns a bit mask of
 * the calls that were not (0: all good). */
static unsigned child_calls(cairn_blob *b, cairn_blob_iter *it) {
    unsigned bad = 0, i = 0;
    uint32_t k = 0;
    uint64_t n = 0, id = 0;
    void *p = NULL;
    size_t len = 0;
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    cairn_blob_iter *it2 = NULL;
#define FORKED(call) bad |= ((call) == CAIRN_FORKED ? 0u : 1u) << (i++)
    FORKED(cairn_blob_create(b, "child", 5, &k));
    FORKED(cairn_blob_create_with_key(b, 1000, "child", 5));
    FORKED(cairn_blob_reserve_next_key(b, &k));
    FORKED(cairn_blob_read(b, 1, &p, &len));
    FORKED(cairn_blob_update(b, 1, "child", 5));
    FORKED(cairn_blob_delete(b, 2));
    FORKED(cairn_blob_exists(b, 1));
    FORKED(cairn_blob_count(b, &n));
    FORKED(cairn_blob_iter_open(&it2, b));
    FORKED(cairn_blob_iter_next(it, &k));
    FORKED(cairn_blob_sync(b));
    FORKED(cairn_blob_stats(b, &st));
    FORKED(cairn_blob_compact(b));
    FORKED(cairn_blob_begin(b));
    FORKED(cairn_blob_commit(b));
    FORKED(cairn_blob_rollback(b));
    FORKED(cairn_blob_subscribe(b, on_event, NULL, &id));
    FORKED(cairn_blob_unsubscribe(b, 1));
#undef FORKED
    if (strstr(cairn_errmsg(), "cairn_blob_unsubscribe") == NULL) bad |= 1u << 31;
    return bad;
}

START_TEST(fork_child_gets_eforked_and_writes_nothing) {
    const char *p = ct_path("s.blob");
    char wal[600];
    cairn_blob *b = must_open(p), *b2 = NULL;
    cairn_blob_iter *it = NULL;
    uint8_t *d0, *w0, *d1, *w1;
    size_t nd0, nw0, nd1, nw1;
    int status, rc;
    unsigned bad = 0;
    int fds[2];
    pid_t pid;
    snprintf(wal, sizeof wal, "%s-wal", p);
    ck_assert_uint_eq(must_create(b, "one"), 1);
    ck_assert_uint_eq(must_create(b, "two"), 2);
    ck_assert_int_eq(cairn_blob_subscribe(b, on_event, NULL, NULL), 0);
    ck_assert_int_eq(cairn_blob_iter_open(&it, b), 0);
    /* an open transaction in the parent: the child's close must not roll it back or commit it */
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_update(b, 2, "TWO", 3), 0);
    d0 = slurp(p, &nd0);
    w0 = slurp(wal, &nw0);
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsigned r = child_calls(b, it);
        cairn_blob_iter_free(it);
        cairn_blob_close(b); /* frees memory only */
        if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(9);
        _exit(0);
    }
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], &bad, sizeof bad), (ssize_t)sizeof bad);
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_msg(bad == 0, "calls in the child that were not CAIRN_FORKED: mask %#x", bad);
    /* the child wrote nothing */
    d1 = slurp(p, &nd1);
    w1 = slurp(wal, &nw1);
    ck_assert(nd0 == nd1 && memcmp(d0, d1, nd0) == 0);
    ck_assert(nw0 == nw1 && memcmp(w0, w1, nw0) == 0);
    free(d0);
    free(w0);
    free(d1);
    free(w1);
    /* the parent goes on: its transaction, its keys, its lock */
    g_events = 0;
    ck_assert_int_eq(cairn_blob_commit(b), 0);
    ck_assert_int_eq(g_events, 1);
    expect_str(b, 1, "one");
    expect_str(b, 2, "TWO");
    ck_assert_uint_eq(must_create(b, "three"), 3); /* no key was handed out twice */
    {
        uint32_t k;
        ck_assert_int_eq(cairn_blob_iter_next(it, &k), 0);
        ck_assert_uint_eq(k, 1);
    }
    cairn_blob_iter_free(it);
    b2 = open_opts(p, CAIRN_SYNC_COMMIT, 0, &rc);
    ck_assert_ptr_null(b2);
    ck_assert_int_eq(rc, CAIRN_LOCKED);
    cairn_blob_close(b);
    b = must_open(p);
    expect_str(b, 1, "one");
    expect_str(b, 2, "TWO");
    expect_str(b, 3, "three");
    cairn_blob_close(b);
    ck_assert_int_eq(cairn_blob_check(p), 0);
}
END_TEST

/* A read-only handle too, and a child that exits without closing. */
START_TEST(fork_read_only_handle) {
    const char *p = ct_path("s.blob");
    cairn_blob *w = must_open(p), *r;
    int rc, status;
    pid_t pid;
    must_create(w, "one");
    r = open_opts(p, CAIRN_SYNC_COMMIT, 1, &rc);
    ck_assert_int_eq(rc, 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        void *d;
        size_t n;
        if (cairn_blob_read(r, 1, &d, &n) != CAIRN_FORKED) _exit(1);
        if (cairn_blob_exists(w, 1) != CAIRN_FORKED) _exit(2);
        _exit(0); /* no close at all */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    expect_str(r, 1, "one");
    expect_str(w, 1, "one");
    cairn_blob_close(r);
    cairn_blob_close(w);
}
END_TEST

/* ---- item: one writer per file, whatever its name --------------------------------------- */

static int try_open(const char *path) {
    int rc;
    cairn_blob *b = open_opts(path, CAIRN_SYNC_COMMIT, 0, &rc);
    cairn_blob_close(b);
    return rc;
}

START_TEST(symlink_and_hard_link_are_locked) {
    char p[600];
    char sl[600], hl[600];
    cairn_blob *b;
    pid_t pid;
    int status;
    struct stat st;
    snprintf(sl, sizeof sl, "%s", ct_path("sym.blob"));
    snprintf(hl, sizeof hl, "%s", ct_path("hard.blob"));
    snprintf(p, sizeof p, "%s", ct_path("s.blob"));
    b = must_open(p);
    must_create(b, "one");
    ck_assert_int_eq(symlink("s.blob", sl), 0);
    ck_assert_int_eq(link(p, hl), 0);
    /* a second handle in this process, by any name */
    ck_assert_int_eq(try_open(p), CAIRN_LOCKED);
    ck_assert_int_eq(try_open(sl), CAIRN_LOCKED);
    ck_assert_int_eq(try_open(hl), CAIRN_LOCKED);
    /* and in another process */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (try_open(sl) != CAIRN_LOCKED) _exit(1);
        if (try_open(hl) != CAIRN_LOCKED) _exit(2);
        if (try_open(p) != CAIRN_LOCKED) _exit(3);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d", WEXITSTATUS(status));
    cairn_blob_close(b);
    /* the other way round: the writer holds the hard link, the file's own name is locked */
    b = must_open(hl);
    ck_assert_int_eq(try_open(p), CAIRN_LOCKED);
    ck_assert_int_eq(try_open(sl), CAIRN_LOCKED);
    must_create(b, "two");
    cairn_blob_close(b);
    /* through the symlink: the same log as the file's own name, and compaction keeps the link */
    b = must_open(sl);
    must_create(b, "three");
    ck_assert_int_eq(access(ct_path("sym.blob-wal"), F_OK), -1);
    ck_assert_int_eq(cairn_blob_delete(b, 2), 0);
    ck_assert_int_eq(cairn_blob_compact(b), 0);
    ck_assert_int_eq(try_open(p), CAIRN_LOCKED); /* the compacted file is locked too */
    cairn_blob_close(b);
    ck_assert_int_eq(lstat(sl, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    b = must_open(p);
    expect_str(b, 1, "one");
    expect_str(b, 3, "three");
    ck_assert_int_eq(cairn_blob_exists(b, 2), 0);
    cairn_blob_close(b);
    /* a dangling symlink is a path error, not a new store behind it */
    ck_assert_int_eq(symlink("missing.blob", ct_path("dangling.blob")), 0);
    ck_assert_int_eq(try_open(ct_path("dangling.blob")), CAIRN_PATH);
    ck_assert_int_eq(access(ct_path("missing.blob"), F_OK), -1);
}
END_TEST

/* A writer under the hard link name dies with its changes only in "<hard>-wal" (sync none). */
static uint64_t child_hard_link_writer(const char *path) {
    cairn_blob *b = NULL;
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    uint32_t k;
    o.sync = CAIRN_SYNC_NONE;
    if (cairn_blob_open(&b, path, &o) != 0) _exit(2);
    if (cairn_blob_create(b, "via hard link", 13, &k) != 0) _exit(3);
    return k;
}

START_TEST(log_under_another_name_is_never_ignored) {
    char p[600];
    char hl[600];
    cairn_blob *b;
    uint32_t k;
    int rc, ro, with_own_log;
    snprintf(hl, sizeof hl, "%s", ct_path("hard.blob"));
    snprintf(p, sizeof p, "%s", ct_path("s.blob"));
    for (with_own_log = 0; with_own_log <= 1; with_own_log++) {
        unlink(p);
        unlink(hl);
        unlink(ct_path("s.blob-wal"));
        unlink(ct_path("hard.blob-wal"));
        b = must_open(p);
        must_create(b, "one");
        cairn_blob_close(b);
        if (!with_own_log) ck_assert_int_eq(unlink(ct_path("s.blob-wal")), 0);
        ck_assert_int_eq(link(p, hl), 0);
        k = (uint32_t)in_child(child_hard_link_writer, hl);
        /* its change is only in hard.blob-wal: opening by the other name must not drop it */
        for (ro = 0; ro <= 1; ro++) {
            b = open_opts(p, CAIRN_SYNC_COMMIT, ro, &rc);
            ck_assert_ptr_null(b);
            ck_assert_int_eq(rc, CAIRN_CORRUPT);
            ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "s.blob-wal"));
            ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "hard link"));
        }
        ck_assert_int_eq(cairn_blob_check(p), CAIRN_CORRUPT);
        /* by its own name it recovers; then any name works */
        b = must_open(hl);
        expect_str(b, k, "via hard link");
        cairn_blob_close(b);
        b = must_open(p);
        expect_str(b, 1, "one");
        expect_str(b, k, "via hard link");
        cairn_blob_close(b);
        ck_assert_int_eq(cairn_blob_check(p), 0);
    }
}
END_TEST

/* ---- item: a full disk ------------------------------------------------------------------ */

#define BIG (48u * 1024u)

static void fill_big(uint8_t *p, unsigned seed) {
    size_t i;
    for (i = 0; i < BIG; i++) p[i] = (uint8_t)(seed * 17u + i * 3u + (i >> 9));
}

static void expect_big(cairn_blob *b, uint32_t key, unsigned seed) {
    static uint8_t want[BIG];
    void *got = NULL;
    size_t n = 0;
    int rc = cairn_blob_read(b, key, &got, &n);
    ck_assert_msg(rc == 0, "read %u: %s %s", key, cairn_errname(rc), cairn_errmsg());
    fill_big(want, seed);
    ck_assert_uint_eq(n, BIG);
    ck_assert(memcmp(got, want, BIG) == 0);
    cairn_free(got);
}

/* Fill the disk with the log (sync none: changes stay in it), then free space: delete, flush,
 * close, reopen, compact must all work. Returns 0 or a line number (for the tmpfs child). */
#define REQ(c)                                                                                      \
    do {                                                                                            \
        if (!(c)) {                                                                                 \
            fprintf(stderr, "full disk: line %d: %s (%s)\n", __LINE__, #c, cairn_errmsg());          \
            return __LINE__;                                                                        \
        }                                                                                           \
    } while (0)

static int full_disk_scenario(const char *path, int use_fault) {
    static uint8_t buf[BIG];
    uint8_t present[512];
    uint32_t k, n = 0, i;
    uint64_t count;
    cairn_blob *b;
    int rc;
    memset(present, 0, sizeof present);
    b = open_opts(path, CAIRN_SYNC_NONE, 0, &rc);
    REQ(rc == 0);
    for (i = 0; i < 4; i++) { /* some blobs before the disk is full */
        fill_big(buf, i + 1);
        REQ(cairn_blob_create(b, buf, BIG, &k) == 0 && k == i + 1);
        present[k] = 1;
    }
    if (use_fault) cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, CAIRN_FAULT_FULL, 1);
    for (i = 5; i < 500; i++) {
        fill_big(buf, i);
        rc = cairn_blob_create(b, buf, BIG, &k);
        if (rc) break;
        REQ(k == i);
        present[k] = 1;
    }
    REQ(rc == CAIRN_NOSPC); /* the disk filled up: a clean error ... */
    n = i;                   /* (key n was not handed out for good: it failed) */
    REQ(cairn_blob_count(b, &count) == 0 && count == n - 1);
    REQ(n >= 6);
    /* ... and the user can free space: deletes (the tail and the middle), reads, flush */
    REQ(cairn_blob_delete(b, n - 1) == 0);
    present[n - 1] = 0;
    REQ(cairn_blob_delete(b, 2) == 0);
    present[2] = 0;
    expect_big(b, 1, 1);
    REQ(cairn_blob_sync(b) == 0);
    cairn_blob_close(b);
    /* a writer opens on the full disk, deletes, compacts */
    b = open_opts(path, CAIRN_SYNC_COMMIT, 0, &rc);
    REQ(rc == 0);
    REQ(cairn_blob_delete(b, 3) == 0);
    present[3] = 0;
    REQ(cairn_blob_compact(b) == 0);
    for (k = 1; k < n; k++) {
        if (present[k]) expect_big(b, k, k);
        else REQ(cairn_blob_exists(b, k) == 0);
    }
    /* compaction gave space back: creates work again */
    fill_big(buf, 999);
    REQ(cairn_blob_create(b, buf, BIG, &k) == 0);
    cairn_blob_close(b);
    if (use_fault) cairn_io__fault_reset();
    b = open_opts(path, CAIRN_SYNC_COMMIT, 0, &rc);
    REQ(rc == 0);
    expect_big(b, k, 999);
    for (i = 1; i < n; i++) {
        if (present[i]) expect_big(b, i, i);
        else REQ(cairn_blob_exists(b, i) == 0);
    }
    cairn_blob_close(b);
    REQ(cairn_blob_check(path) == 0);
    return 0;
}

START_TEST(full_disk_fault_injection) {
    ck_assert_int_eq(full_disk_scenario(ct_path("s.blob"), 1), 0);
}
END_TEST

/* The same on a real 2 MiB tmpfs, where mounting is permitted (root, no sandbox). */
START_TEST(full_disk_tmpfs) {
    char mnt[600], path[700];
    pid_t pid;
    int status;
    snprintf(mnt, sizeof mnt, "%s", ct_path("mnt"));
    ck_assert_int_eq(mkdir(mnt, 0755), 0);
    if (mount("cairn-test", mnt, "tmpfs", 0, "size=2m") != 0) {
        printf("full_disk_tmpfs: skipped: cannot mount a tmpfs here: %s\n", strerror(errno));
        return;
    }
    snprintf(path, sizeof path, "%s/s.blob", mnt);
    /* in a child, so that the tmpfs is unmounted whatever happens */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        alarm(60);
        _exit(full_disk_scenario(path, 0) ? 1 : 0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(umount(mnt), 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tmpfs scenario failed (status %d)", status);
}
END_TEST

/* ---- item: the index file ---------------------------------------------------------------- */

/* A store of 40 blobs of varied sizes, every third deleted (free entries between them). */
static void make_indexed(const char *p) {
    cairn_blob *b = must_open(p);
    char buf[64];
    int i;
    for (i = 1; i <= 40; i++) {
        snprintf(buf, sizeof buf, "blob %d %.*s", i, i % 20, "xxxxxxxxxxxxxxxxxxxx");
        ck_assert_uint_eq(must_create(b, buf), (uint32_t)i);
    }
    for (i = 3; i <= 40; i += 3) ck_assert_int_eq(cairn_blob_delete(b, (uint32_t)i), 0);
    cairn_blob_close(b);
}

static void expect_indexed(cairn_blob *b) {
    char buf[64];
    uint64_t n = 0;
    int i;
    for (i = 1; i <= 40; i++) {
        snprintf(buf, sizeof buf, "blob %d %.*s", i, i % 20, "xxxxxxxxxxxxxxxxxxxx");
        if (i % 3 == 0)
            ck_assert_int_eq(cairn_blob_exists(b, (uint32_t)i), 0);
        else
            expect_str(b, (uint32_t)i, buf);
    }
    ck_assert_int_eq(cairn_blob_count(b, &n), 0);
    ck_assert_uint_eq(n, 40 - 13);
}

/* Offset of the entry of `key` in the data file (walks the entries). */
static uint64_t entry_of(const char *path, uint32_t key) {
    size_t n;
    uint8_t *d = slurp(path, &n);
    uint64_t off = 64, found = 0;
    while (off + 32 <= cairn_get64(d + 24)) {
        if (d[off + 4] == 1 && cairn_get32(d + off + 16) == key) found = off;
        off += cairn_get64(d + off + 8);
    }
    free(d);
    ck_assert_uint_ne(found, 0);
    return found;
}

/* Give the entry at off another key (header CRC made right again), keeping the file's mtime
 * when keep_time: a change the index cannot know of. */
static void rekey(const char *path, uint64_t off, uint32_t key, int keep_time) {
    struct stat st;
    struct timespec ts[2];
    size_t n;
    uint8_t *d;
    ck_assert_int_eq(stat(path, &st), 0);
    d = slurp(path, &n);
    cairn_put32(d + off + 16, key);
    cairn_put32(d + off, cairn_crc32c__update(0, d + off + 4, 28));
    spit(path, d, n);
    free(d);
    if (keep_time) {
        ts[0] = st.st_atim;
        ts[1] = st.st_mtim;
        ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    }
}

/* The index file's layout (version 2): a 128-byte header, a CRC per 64 KiB page of the body,
 * zeros up to a multiple of 8, then the body: 24-byte blob records by key, 16-byte free records
 * by offset. */
static uint64_t ix_body(const uint8_t *d, uint64_t *blen, uint64_t *pages) {
    *blen = cairn_get64(d + 16) * 24 + cairn_get64(d + 24) * 16;
    *pages = (*blen + 65535) / 65536;
    return (128 + 4 * *pages + 7) & ~(uint64_t)7;
}

/* Make every CRC of an index file image right again (after a test changed it). */
static void ix_reseal(uint8_t *d) {
    uint64_t blen, pages, body = ix_body(d, &blen, &pages), i;
    for (i = 0; i < pages; i++) {
        uint64_t o = i * 65536, n = blen - o < 65536 ? blen - o : 65536;
        cairn_put32(d + 128 + 4 * i, cairn_crc32c__update(0, d + body + o, (size_t)n));
    }
    cairn_put32(d + 68, cairn_crc32c__update(0, d + 128, (size_t)(4 * pages)));
    cairn_put32(d + 124, cairn_crc32c__update(0, d, 124));
}

/* The blob record of key in an index file image. */
static uint8_t *ix_rec(uint8_t *d, uint32_t key) {
    uint64_t blen, pages, body = ix_body(d, &blen, &pages), i;
    for (i = 0; i < cairn_get64(d + 16); i++)
        if (cairn_get32(d + body + i * 24) == key) return d + body + i * 24;
    ck_abort_msg("key %u not in the index file", key);
    return NULL;
}

START_TEST(index_written_by_close_and_used_by_open) {
    const char *p = ct_path("s.blob");
    char ip[600];
    int rc;
    size_t n;
    uint8_t *d;
    uint64_t blen, pages, body, i;
    cairn_blob *b;
    make_indexed(p);
    snprintf(ip, sizeof ip, "%s-index", p);
    /* version 2: 27 blob records in key order, then the free entries' records */
    d = slurp(ip, &n);
    ck_assert(memcmp(d, "CAIRNBIX", 8) == 0);
    ck_assert_uint_eq(cairn_get32(d + 8), 2);
    ck_assert_uint_eq(cairn_get64(d + 16), 27);
    ck_assert_uint_gt(cairn_get64(d + 24), 0);
    body = ix_body(d, &blen, &pages);
    ck_assert_uint_eq(n, body + blen);
    for (i = 1; i < 27; i++) ck_assert_uint_gt(cairn_get32(d + body + i * 24), cairn_get32(d + body + (i - 1) * 24));
    free(d);
    b = must_open(p);
    ck_assert_int_eq(cairn_blob__index_used(b), 1);
    expect_indexed(b);
    cairn_blob_close(b);
    /* a read-only open uses it too */
    b = open_opts(p, CAIRN_SYNC_COMMIT, 1, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(cairn_blob__index_used(b), 1);
    expect_indexed(b);
    cairn_blob_close(b);
    /* the open builds its index from the index file, not from the entries: an entry given
     * another key behind its back (the file's mtime kept) is not seen by the index. Its read
     * then fails its checks (CORRUPT), which is what a read of a damaged entry says */
    rekey(p, entry_of(p, 5), 1000, 1);
    b = open_opts(p, CAIRN_SYNC_COMMIT, 1, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(cairn_blob_exists(b, 1000), 0);
    {
        void *v = NULL;
        size_t n = 0;
        ck_assert_int_eq(cairn_blob_read(b, 5, &v, &n), CAIRN_CORRUPT);
    }
    cairn_blob_close(b);
    /* the same change with the mtime moved on: the index describes another file now, the
     * open scans and sees the entry as it is */
    rekey(p, entry_of(p, 1000), 1000, 0);
    {
        struct timespec ts[2];
        ts[0].tv_sec = ts[1].tv_sec = 12345;
        ts[0].tv_nsec = ts[1].tv_nsec = 0;
        ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
    }
    b = open_opts(p, CAIRN_SYNC_COMMIT, 1, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(cairn_blob__index_used(b), 0);
    ck_assert_int_eq(cairn_blob_exists(b, 1000), 1);
    ck_assert_int_eq(cairn_blob_exists(b, 5), 0);
    cairn_blob_close(b);
}
END_TEST

/* An index file whose CRCs and sums all check but whose records of keys 5 and 8 are swapped
 * (a forgery, or a bug): reads, updates and deletes of either are CAIRN_CORRUPT naming the data
 * file and the offset, never the other key's bytes, and nothing is changed or freed; the close
 * writes no index file after that, so the next open scans and finds both as they are. The same
 * for records whose entry sizes are wrong (a delete must not free bytes the entry does not own). */
START_TEST(index_forged_record_fails_at_use) {
    const char *p = ct_path("s.blob");
    char ip[600];
    size_t n;
    uint8_t *d, *r5, *r8, t[20];
    void *v = NULL;
    size_t vn = 0;
    uint32_t i;
    cairn_blob *b;
    make_indexed(p);
    snprintf(ip, sizeof ip, "%s-index", p);
    d = slurp(ip, &n);
    r5 = ix_rec(d, 5);
    r8 = ix_rec(d, 8);
    memcpy(t, r5 + 4, 20); /* length, offset and size */
    memcpy(r5 + 4, r8 + 4, 20);
    memcpy(r8 + 4, t, 20);
    ix_reseal(d);
    spit(ip, d, n);
    free(d);
    b = must_open(p);
    ck_assert_int_eq(cairn_blob__index_used(b), 1);
    ck_assert_int_eq(cairn_blob_read(b, 5, &v, &vn), CAIRN_CORRUPT);
    ck_assert_ptr_null(v);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), p));
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "offset"));
    ck_assert_int_eq(cairn_blob_read(b, 8, &v, &vn), CAIRN_CORRUPT);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(cairn_blob_update(b, 5, "new", 3), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_blob_delete(b, 8), CAIRN_CORRUPT);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), p));
    for (i = 1; i <= 40; i++) {
        char want[64];
        if (i % 3 == 0 || i == 5 || i == 8) continue;
        snprintf(want, sizeof want, "blob %u %.*s", i, (int)(i % 20), "xxxxxxxxxxxxxxxxxxxx");
        expect_str(b, i, want);
    }
    cairn_blob_close(b);
    ck_assert_int_eq(access(ip, F_OK), -1); /* no index file from a handle that found damage */
    ck_assert_int_eq(cairn_blob_check(p), 0);
    b = must_open(p);
    ck_assert_int_eq(cairn_blob__index_used(b), 0);
    expect_indexed(b);
    /* key 19 shrinks in place by less than an entry header: its entry keeps 17 bytes of slack */
    ck_assert_int_eq(cairn_blob_update(b, 19, "0123456789", 10), 0);
    cairn_blob_close(b);
    /* 16 bytes of key 19's size given to key 5's record: sizes still add up */
    d = slurp(ip, &n);
    r5 = ix_rec(d, 5);
    cairn_put64(r5 + 16, cairn_get64(r5 + 16) + 16);
    r8 = ix_rec(d, 19);
    cairn_put64(r8 + 16, cairn_get64(r8 + 16) - 16);
    ix_reseal(d);
    spit(ip, d, n);
    free(d);
    b = must_open(p);
    ck_assert_int_eq(cairn_blob__index_used(b), 1);
    expect_str(b, 5, "blob 5 xxxxx"); /* reads check what they use: header, length, payload */
    ck_assert_int_eq(cairn_blob_delete(b, 5), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_blob_update(b, 19, "a longer value than before, to make it grow", 43), CAIRN_CORRUPT);
    ck_assert_uint_eq(must_create(b, "blob 41"), 41);
    cairn_blob_close(b);
    ck_assert_int_eq(cairn_blob_check(p), 0);
    b = must_open(p);
    ck_assert_int_eq(cairn_blob__index_used(b), 0);
    expect_str(b, 5, "blob 5 xxxxx");
    expect_str(b, 19, "0123456789");
    expect_str(b, 41, "blob 41");
    expect_str(b, 20, "blob 20 ");
    cairn_blob_close(b);
}
END_TEST

/* The key index as loaded (the index file's records) plus the changes since: reads, exists,
 * count, stats, iteration, rollback, compaction and the next index file all see one state,
 * the same a scan of the data file sees. */
static void index_state(cairn_blob *b, uint32_t *keys, size_t *nkeys, struct cairn_blob_stats *st) {
    cairn_blob_iter *it;
    uint32_t k;
    uint64_t cnt = 0;
    int rc;
    *nkeys = 0;
    ck_assert_int_eq(cairn_blob_iter_open(&it, b), 0);
    while ((rc = cairn_blob_iter_next(it, &k)) == 0) keys[(*nkeys)++] = k;
    ck_assert_int_eq(rc, CAIRN_ITEROVER);
    cairn_blob_iter_free(it);
    ck_assert_int_eq(cairn_blob_count(b, &cnt), 0);
    ck_assert_uint_eq(cnt, *nkeys);
    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
    ck_assert_int_eq(cairn_blob_stats(b, st), 0);
    ck_assert_uint_eq(st->entries, *nkeys);
}

static void expect_same_as_scan(const char *p, cairn_blob *b) {
    char ip[600], saved[640];
    uint32_t k1[128], k2[128];
    size_t n1, n2, i;
    struct cairn_blob_stats s1, s2;
    cairn_blob *r;
    int rc;
    index_state(b, k1, &n1, &s1);
    /* a read-only open without the index file (moved aside) scans */
    snprintf(ip, sizeof ip, "%s-index", p);
    snprintf(saved, sizeof saved, "%s-saved", ip);
    if (access(ip, F_OK) == 0) ck_assert_int_eq(rename(ip, saved), 0);
    r = open_opts(p, CAIRN_SYNC_COMMIT, 1, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(cairn_blob__index_used(r), 0);
    index_state(r, k2, &n2, &s2);
    ck_assert_uint_eq(n1, n2);
    for (i = 0; i < n1; i++) {
        void *v1 = NULL, *v2 = NULL;
        size_t l1 = 0, l2 = 0;
        ck_assert_uint_eq(k1[i], k2[i]);
        ck_assert_int_eq(cairn_blob_read(b, k1[i], &v1, &l1), 0);
        ck_assert_int_eq(cairn_blob_read(r, k1[i], &v2, &l2), 0);
        ck_assert(l1 == l2 && memcmp(v1, v2, l1) == 0);
        cairn_free(v1);
        cairn_free(v2);
    }
    ck_assert_uint_eq(s1.live_bytes, s2.live_bytes);
    ck_assert_uint_eq(s1.free_bytes, s2.free_bytes);
    ck_assert_uint_eq(s1.free_entries, s2.free_entries);
    cairn_blob_close(r);
    if (access(saved, F_OK) == 0) ck_assert_int_eq(rename(saved, ip), 0);
}

START_TEST(index_base_and_changes_agree) {
    const char *p = ct_path("s.blob");
    char buf[64];
    cairn_blob *b;
    uint32_t k;
    make_indexed(p);
    b = must_open(p);
    ck_assert_int_eq(cairn_blob__index_used(b), 1);
    /* a transaction over base keys, rolled back: nothing of it shows */
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_delete(b, 5), 0);
    ck_assert_int_eq(cairn_blob_update(b, 7, "seven", 5), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(b, 8, "x", 1), CAIRN_EXISTS);
    ck_assert_int_eq(cairn_blob_exists(b, 5), 0);
    ck_assert_int_eq(cairn_blob_rollback(b), 0);
    expect_indexed(b);
    /* changes: in place, growing, deleted, a deleted key created again, new keys */
    ck_assert_int_eq(cairn_blob_update(b, 1, "one", 3), 0);
    ck_assert_int_eq(cairn_blob_update(b, 2, "two, grown well past the size it had before", 43), 0);
    ck_assert_int_eq(cairn_blob_delete(b, 4), 0);
    ck_assert_int_eq(cairn_blob_delete(b, 4), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_blob_create_with_key(b, 3, "three again", 11), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(b, 3, "x", 1), CAIRN_EXISTS);
    ck_assert_int_eq(cairn_blob_create(b, "forty-one", 9, &k), 0);
    ck_assert_uint_eq(k, 41);
    ck_assert_int_eq(cairn_blob_delete(b, 41), 0);
    ck_assert_int_eq(cairn_blob_update(b, 41, "x", 1), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_blob_delete(b, 40), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(b, 40, "forty", 5), 0);
    /* a transaction deleting a key and creating it again, committed */
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_delete(b, 10), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(b, 10, "ten", 3), 0);
    ck_assert_int_eq(cairn_blob_commit(b), 0);
    expect_str(b, 1, "one");
    expect_str(b, 3, "three again");
    expect_str(b, 10, "ten");
    expect_str(b, 40, "forty");
    ck_assert_int_eq(cairn_blob_exists(b, 4), 0);
    ck_assert_int_eq(cairn_blob_exists(b, 41), 0);
    snprintf(buf, sizeof buf, "blob 11 %.*s", 11, "xxxxxxxxxxxxxxxxxxxx");
    expect_str(b, 11, buf);
    expect_same_as_scan(p, b);
    cairn_blob_close(b);
    /* the next index file holds the result */
    b = must_open(p);
    ck_assert_int_eq(cairn_blob__index_used(b), 1);
    expect_str(b, 1, "one");
    expect_str(b, 3, "three again");
    expect_same_as_scan(p, b);
    /* compaction: the handle follows the new file */
    ck_assert_int_eq(cairn_blob_compact(b), 0);
    expect_str(b, 2, "two, grown well past the size it had before");
    expect_same_as_scan(p, b);
    cairn_blob_close(b);
    b = must_open(p);
    ck_assert_int_eq(cairn_blob__index_used(b), 1);
    expect_str(b, 10, "ten");
    expect_same_as_scan(p, b);
    cairn_blob_close(b);
}
END_TEST

/* Many changes after an index load: once the overlay holds half as many keys as the base, the
 * two are folded into one table; every key reads right before and after, and the next close
 * writes an index file of the result. */
START_TEST(index_overlay_folds) {
    const char *p = ct_path("s.blob");
    enum { N = 12000 };
    char buf[64];
    cairn_blob *b;
    uint64_t cnt = 0;
    uint32_t i, k;
    b = must_open(p);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    for (i = 1; i <= N; i++) {
        snprintf(buf, sizeof buf, "v%u", i);
        ck_assert_int_eq(cairn_blob_create(b, buf, strlen(buf), &k), 0);
    }
    ck_assert_int_eq(cairn_blob_commit(b), 0);
    cairn_blob_close(b);
    b = must_open(p);
    ck_assert_int_eq(cairn_blob__index_used(b), 1);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    for (i = 1; i <= N; i++) {
        if (i % 7 == 0) {
            ck_assert_int_eq(cairn_blob_delete(b, i), 0);
        } else if (i % 2 == 0) {
            snprintf(buf, sizeof buf, "w%u", i);
            ck_assert_int_eq(cairn_blob_update(b, i, buf, strlen(buf)), 0);
        }
        if (i == N / 4) { /* before the fold: a sample reads right */
            snprintf(buf, sizeof buf, "v%u", N - 1);
            expect_str(b, N - 1, buf);
        }
    }
    ck_assert_int_eq(cairn_blob_commit(b), 0);
    for (i = 1; i <= N; i++) {
        if (i % 7 == 0) {
            ck_assert_int_eq(cairn_blob_exists(b, i), 0);
            continue;
        }
        snprintf(buf, sizeof buf, "%c%u", i % 2 == 0 ? 'w' : 'v', i);
        expect_str(b, i, buf);
    }
    ck_assert_int_eq(cairn_blob_count(b, &cnt), 0);
    ck_assert_uint_eq(cnt, N - N / 7);
    cairn_blob_close(b);
    b = must_open(p);
    ck_assert_int_eq(cairn_blob__index_used(b), 1);
    ck_assert_int_eq(cairn_blob_count(b, &cnt), 0);
    ck_assert_uint_eq(cnt, N - N / 7);
    for (i = 1; i <= N; i += 97) {
        if (i % 7 == 0) continue;
        snprintf(buf, sizeof buf, "%c%u", i % 2 == 0 ? 'w' : 'v', i);
        expect_str(b, i, buf);
    }
    cairn_blob_close(b);
}
END_TEST

/* A damaged entry header found after close is CAIRN_CORRUPT at open, index or not (the index
 * never stands in for a file changed after it was written). */
START_TEST(index_never_hides_a_damaged_entry) {
    const char *p = ct_path("s.blob");
    uint64_t off;
    size_t n;
    uint8_t *d;
    cairn_blob *b;
    int rc;
    make_indexed(p);
    off = entry_of(p, 7);
    d = slurp(p, &n);
    d[off + 9] ^= 0x40; /* its size */
    spit(p, d, n);
    free(d);
    b = open_opts(p, CAIRN_SYNC_COMMIT, 0, &rc);
    ck_assert_int_eq(rc, CAIRN_CORRUPT);
    ck_assert_ptr_null(b);
    /* cairn_blob_check verifies the file itself, never the index: a free entry damaged behind
     * the index's back (mtime kept) is found */
    unlink(p);
    make_indexed(p);
    {
        struct stat st;
        struct timespec ts[2];
        uint64_t o = 64, fo = 0;
        ck_assert_int_eq(stat(p, &st), 0);
        d = slurp(p, &n);
        while (o < n && !fo) {
            if (d[o + 4] == 2) fo = o;
            o += cairn_get64(d + o + 8);
        }
        ck_assert_uint_ne(fo, 0);
        d[fo + 1] ^= 0x01; /* its header CRC */
        spit(p, d, n);
        free(d);
        ts[0] = st.st_atim;
        ts[1] = st.st_mtim;
        ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
    }
    ck_assert_int_eq(cairn_blob_check(p), CAIRN_CORRUPT);
}
END_TEST

/* A damaged, cut, missing or stale index file: the open scans, and every blob is right. */
START_TEST(bad_index_files_fall_back_to_the_scan) {
    const char *p = ct_path("s.blob");
    char ip[600], old[640];
    size_t n, i;
    uint8_t *d, *orig;
    cairn_blob *b;
    make_indexed(p);
    snprintf(ip, sizeof ip, "%s-index", p);
    snprintf(old, sizeof old, "%s-old", ip);
    orig = slurp(ip, &n);
    /* one flipped bit anywhere: a header or a record CRC fails */
    for (i = 0; i < n; i += 13) {
        d = (uint8_t *)malloc(n);
        memcpy(d, orig, n);
        d[i] ^= 0x10;
        spit(ip, d, n);
        free(d);
        b = must_open(p); /* a writer: its close writes a good index again */
        ck_assert_msg(cairn_blob__index_used(b) == 0, "a bit flipped at %zu of the index file went unnoticed", i);
        expect_indexed(b);
        cairn_blob_close(b);
        ck_assert_int_eq(cairn_io__read_all(ip, (void **)&d, &n), 0);
        free(orig);
        orig = d;
    }
    /* cut short */
    spit(ip, orig, n - 32);
    b = must_open(p);
    expect_indexed(b);
    cairn_blob_close(b);
    /* missing */
    ck_assert_int_eq(unlink(ip), 0);
    b = must_open(p);
    expect_indexed(b);
    cairn_blob_close(b);
    /* stale: the index of an earlier close put back after more changes */
    copy(ip, old);
    b = must_open(p);
    ck_assert_int_eq(cairn_blob_delete(b, 1), 0);
    ck_assert_uint_eq(must_create(b, "blob 41"), 41);
    cairn_blob_close(b);
    copy(old, ip);
    b = must_open(p);
    ck_assert_int_eq(cairn_blob_exists(b, 1), 0);
    expect_str(b, 41, "blob 41");
    cairn_blob_close(b);
    free(orig);
}
END_TEST

/* A writer open of a store its last writer closed cleanly (its index file matching) writes
 * nothing: no write, no fsync, the data file, its mtime and the index file as they were, also
 * after reads, a sync and the close. The first change makes the handle the file's writer (the
 * header marked OPEN, synced, the index file removed) before it is logged: a process that dies
 * after it (no close) leaves a store whose next open recovers every acknowledged change. */
START_TEST(clean_open_writes_nothing_until_a_change) {
    const char *p = ct_path("s.blob");
    char ip[600];
    struct stat st0, st1;
    size_t n0, n1, i0, i1;
    uint8_t *d0, *d1, *x0, *x1;
    cairn_blob *b;
    pid_t pid;
    int status, rc;
    make_indexed(p);
    snprintf(ip, sizeof ip, "%s-index", p);
    ck_assert_int_eq(stat(p, &st0), 0);
    d0 = slurp(p, &n0);
    x0 = slurp(ip, &i0);
    cairn_io__fault_reset(); /* counts writes and fsyncs from here */
    b = must_open(p);
    expect_indexed(b);
    ck_assert_int_eq(cairn_blob_sync(b), 0);
    cairn_blob_close(b);
    ck_assert_uint_eq(cairn_io__fault_count(CAIRN_FAULT_WRITE), 0);
    ck_assert_uint_eq(cairn_io__fault_count(CAIRN_FAULT_SYNC), 0);
    ck_assert_int_eq(stat(p, &st1), 0);
    ck_assert(st1.st_mtim.tv_sec == st0.st_mtim.tv_sec && st1.st_mtim.tv_nsec == st0.st_mtim.tv_nsec);
    d1 = slurp(p, &n1);
    x1 = slurp(ip, &i1);
    ck_assert(n1 == n0 && memcmp(d0, d1, n0) == 0);
    ck_assert(i1 == i0 && memcmp(x0, x1, i0) == 0);
    free(d1);
    free(x1);
    cairn_io__fault_reset();
    /* the first change: the header says OPEN before the change is in the log */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        cairn_blob *c;
        uint8_t h[64];
        FILE *f;
        c = open_opts(p, CAIRN_SYNC_COMMIT, 0, &rc);
        if (rc || !c) _exit(10);
        if (cairn_blob_update(c, 1, "changed", 7) != 0) _exit(11);
        if (cairn_blob_delete(c, 2) != 0) _exit(12);
        if (access(ip, F_OK) == 0) _exit(13); /* the index file is gone */
        if (!(f = fopen(p, "rb")) || fread(h, 1, 64, f) != 64) _exit(14);
        fclose(f);
        if ((cairn_get32(h + 12) & 1) == 0) _exit(15); /* OPEN */
        _exit(0); /* no close: as if killed */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d", status);
    b = must_open(p);
    expect_str(b, 1, "changed");
    ck_assert_int_eq(cairn_blob_exists(b, 2), 0);
    cairn_blob_close(b);
    /* closed cleanly again: a new index file, and the next open uses it */
    ck_assert_int_eq(access(ip, F_OK), 0);
    b = must_open(p);
    expect_str(b, 1, "changed");
    ck_assert_int_eq(cairn_blob_exists(b, 2), 0);
    cairn_blob_close(b);
    free(d0);
    free(x0);
}
END_TEST

/* Version 2 files (no index id in the header) open, and a writer upgrades them to version 3. */
START_TEST(version_2_files_open) {
    const char *p = ct_path("s.blob");
    size_t n;
    uint8_t *d;
    cairn_blob *b;
    make_indexed(p);
    d = slurp(p, &n);
    cairn_put32(d + 8, 2);
    memset(d + 44, 0, 16);
    cairn_put32(d + 60, cairn_crc32c__update(0, d, 60));
    spit(p, d, n);
    free(d);
    b = must_open(p);
    expect_indexed(b);
    cairn_blob_close(b);
    d = slurp(p, &n);
    ck_assert_uint_eq(cairn_get32(d + 8), 3);
    ck_assert_uint_ne(cairn_get32(d + 44), 0); /* the index id */
    free(d);
}
END_TEST

/* ---- item: large values are borrowed, never kept -------------------------------------- */

/* Large values (64 KiB and more) go to the log and the data file from the caller's buffer; the
 * store never keeps a pointer to it: each buffer is scribbled over and freed right after the call
 * (ASan sees a use after free), and every read, before and after a checkpoint and a reopen, in
 * every sync mode and inside a transaction, returns what was written. */
static uint8_t *big_value(size_t n, unsigned seed) {
    uint8_t *p = (uint8_t *)malloc(n);
    size_t i;
    ck_assert_ptr_nonnull(p);
    for (i = 0; i < n; i++) p[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 11));
    return p;
}

static void expect_value(cairn_blob *b, uint32_t key, size_t n, unsigned seed) {
    uint8_t *want = big_value(n, seed);
    void *got = NULL;
    size_t len = 0;
    int rc = cairn_blob_read(b, key, &got, &len);
    ck_assert_msg(rc == 0, "read %u: %s %s", key, cairn_errname(rc), cairn_errmsg());
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(got, want, n) == 0);
    cairn_free(got);
    free(want);
}

static void scribble_free(uint8_t *p, size_t n) {
    memset(p, 0xEE, n);
    free(p);
}

START_TEST(large_values_are_not_kept_borrowed) {
    const int modes[3] = {CAIRN_SYNC_NONE, CAIRN_SYNC_COMMIT, CAIRN_SYNC_GROUP};
    int m;
    for (m = 0; m < 3; m++) {
        char name[32];
        const char *p;
        cairn_blob *b;
        uint8_t *v;
        uint32_t k1 = 0, k2 = 0;
        int rc;
        snprintf(name, sizeof name, "big%d.blob", m);
        p = ct_path(name);
        b = open_opts(p, modes[m], 0, &rc);
        ck_assert_int_eq(rc, 0);
        v = big_value(200000, 1);
        ck_assert_int_eq(cairn_blob_create(b, v, 200000, &k1), 0);
        scribble_free(v, 200000);
        expect_value(b, k1, 200000, 1);
        v = big_value(150000, 2); /* fits: in place */
        ck_assert_int_eq(cairn_blob_update(b, k1, v, 150000), 0);
        scribble_free(v, 150000);
        expect_value(b, k1, 150000, 2);
        v = big_value(400000, 3); /* grows: moved */
        ck_assert_int_eq(cairn_blob_update(b, k1, v, 400000), 0);
        scribble_free(v, 400000);
        expect_value(b, k1, 400000, 3);
        /* inside a transaction: pending until the commit, and after a rollback gone */
        ck_assert_int_eq(cairn_blob_begin(b), 0);
        v = big_value(300000, 4);
        ck_assert_int_eq(cairn_blob_create(b, v, 300000, &k2), 0);
        scribble_free(v, 300000);
        v = big_value(100000, 5);
        ck_assert_int_eq(cairn_blob_update(b, k1, v, 100000), 0);
        scribble_free(v, 100000);
        expect_value(b, k2, 300000, 4);
        expect_value(b, k1, 100000, 5);
        ck_assert_int_eq(cairn_blob_commit(b), 0);
        expect_value(b, k2, 300000, 4);
        ck_assert_int_eq(cairn_blob_begin(b), 0);
        v = big_value(250000, 6);
        ck_assert_int_eq(cairn_blob_update(b, k2, v, 250000), 0);
        scribble_free(v, 250000);
        ck_assert_int_eq(cairn_blob_rollback(b), 0);
        expect_value(b, k2, 300000, 4);
        ck_assert_int_eq(cairn_blob_sync(b), 0);
        expect_value(b, k1, 100000, 5);
        expect_value(b, k2, 300000, 4);
        cairn_blob_close(b);
        b = must_open(p);
        expect_value(b, k1, 100000, 5);
        expect_value(b, k2, 300000, 4);
        cairn_blob_close(b);
        ck_assert_int_eq(cairn_blob_check(p), 0);
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("blob_safety");
    TCase *t = tcase_create("lsn");
    tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, lost_wal_tail_keeps_newer_data_file);
    tcase_add_test(t, lost_wal_tail_read_only_view);
    tcase_add_test(t, wal_after_a_gap_is_corrupt_and_untouched);
    tcase_add_test(t, lsn_increases_across_sessions);
    tcase_add_test(t, version_1_files_open);
    suite_add_tcase(s, t);
    t = tcase_create("identity");
    tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, symlink_and_hard_link_are_locked);
    tcase_add_test(t, log_under_another_name_is_never_ignored);
    suite_add_tcase(s, t);
    t = tcase_create("full_disk");
    tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, full_disk_fault_injection);
    tcase_add_test(t, full_disk_tmpfs);
    suite_add_tcase(s, t);
    t = tcase_create("compact_leftover");
    tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, compaction_leftover_removed_by_writer);
    suite_add_tcase(s, t);
    t = tcase_create("fork");
    tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, fork_child_gets_eforked_and_writes_nothing);
    tcase_add_test(t, fork_read_only_handle);
    suite_add_tcase(s, t);
    t = tcase_create("index");
    tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, index_written_by_close_and_used_by_open);
    tcase_add_test(t, index_never_hides_a_damaged_entry);
    tcase_add_test(t, index_forged_record_fails_at_use);
    tcase_add_test(t, index_base_and_changes_agree);
    tcase_add_test(t, index_overlay_folds);
    tcase_add_test(t, bad_index_files_fall_back_to_the_scan);
    tcase_add_test(t, version_2_files_open);
    tcase_add_test(t, clean_open_writes_nothing_until_a_change);
    suite_add_tcase(s, t);
    t = tcase_create("borrowed");
    tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, large_values_are_not_kept_borrowed);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return ct_run(suite()); }
