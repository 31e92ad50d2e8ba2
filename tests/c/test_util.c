/* test_util.c - Check tests of the shared substrate: errors, crc32c, the I/O layer (faults and
 * crash simulation), the writer lock and the handles' rwlock, the containers (u64map, treap,
 * arr), clock and paths. */
#include "containers.h"
#include "util.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static void mk_tmp(void) { ct_tmp_create("util"); }
static void rm_tmp(void) { ct_tmp_remove(); }

static void read_back(const char *path, char *buf, size_t cap, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    *len = fread(buf, 1, cap, f);
    fclose(f);
}

/* ---- errors ---------------------------------------------------------------------------- */

START_TEST(errors_table) {
    ck_assert_str_eq(cairn_errname(CAIRN_OK), "CAIRN_OK");
    ck_assert_str_eq(cairn_errname(CAIRN_NOTFOUND), "CAIRN_NOTFOUND");
    ck_assert_str_eq(cairn_errname(CAIRN_INVALID), "CAIRN_INVALID");
    ck_assert_str_eq(cairn_errname(CAIRN_INTERNAL), "CAIRN_INTERNAL");
    ck_assert_str_eq(cairn_errname(12345), "CAIRN_UNKNOWN");
    ck_assert_str_eq(cairn_errstr(CAIRN_NOTFOUND), "not found");
    /* codes are stable: a few pinned values */
    ck_assert_int_eq(CAIRN_NOTFOUND, -2);
    ck_assert_int_eq(CAIRN_CORRUPT, -9);
    ck_assert_int_eq(CAIRN_LOCKED, -10);
    ck_assert_int_eq(CAIRN_INTERNAL, -23);
    ck_assert_str_eq(cairn_version(), CAIRN_VERSION_STRING);
}
END_TEST

START_TEST(errors_save_restore) {
    cairn_err_saved s;
    ck_assert_int_eq(cairn_err__set(CAIRN_NOSPC, "first %d", 1), CAIRN_NOSPC);
    cairn_err__save(&s);
    cairn_err__set(CAIRN_IO, "cleanup failed too");
    ck_assert_int_eq(cairn_errcode(), CAIRN_IO);
    ck_assert_int_eq(cairn_err__restore(&s), CAIRN_NOSPC);
    ck_assert_int_eq(cairn_errcode(), CAIRN_NOSPC);
    ck_assert_str_eq(cairn_errmsg(), "first 1");
}
END_TEST

START_TEST(errors_thread_local_message) {
    cairn_errclear();
    ck_assert_str_eq(cairn_errmsg(), "");
    ck_assert_int_eq(cairn_err__set(CAIRN_CORRUPT, "file %s offset %d", "x.dat", 42), CAIRN_CORRUPT);
    ck_assert_str_eq(cairn_errmsg(), "file x.dat offset 42");
    ck_assert_int_eq(cairn_errcode(), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_err__sys(ENOSPC, "write %s", "y"), CAIRN_NOSPC);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "write y: "));
    ck_assert_int_eq(cairn_err__from_errno(ENOENT), CAIRN_PATH);
    ck_assert_int_eq(cairn_err__from_errno(EACCES), CAIRN_PERM);
    ck_assert_int_eq(cairn_err__from_errno(EIO), CAIRN_IO);
    cairn_errclear();
    ck_assert_int_eq(cairn_errcode(), 0);
}
END_TEST

/* ---- crc32c ---------------------------------------------------------------------------- */

static void crc_vectors(void) {
    uint8_t buf[32];
    size_t i;
    /* RFC 3720 (iSCSI) appendix B.4 test vectors */
    ck_assert_uint_eq(cairn_crc32c__update(0, "123456789", 9), 0xE3069283u);
    memset(buf, 0, 32);
    ck_assert_uint_eq(cairn_crc32c__update(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, 32);
    ck_assert_uint_eq(cairn_crc32c__update(0, buf, 32), 0x62A8AB43u);
    for (i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    ck_assert_uint_eq(cairn_crc32c__update(0, buf, 32), 0x46DD794Eu);
    for (i = 0; i < 32; i++) buf[i] = (uint8_t)(31 - i);
    ck_assert_uint_eq(cairn_crc32c__update(0, buf, 32), 0x113FDB5Cu);
    ck_assert_uint_eq(cairn_crc32c__update(0, "", 0), 0u);
    /* incremental == one shot, at every split and misalignment */
    for (i = 0; i <= 9; i++) {
        uint32_t c = cairn_crc32c__update(0, "123456789", i);
        ck_assert_uint_eq(cairn_crc32c__update(c, "123456789" + i, 9 - i), 0xE3069283u);
    }
}

START_TEST(crc_sw_and_hw) {
    /* the hardware path (three interleaved lanes on long buffers) must agree with the portable
     * one at every length around the lane boundaries and at every alignment */
    static uint8_t big[10000];
    static const size_t lens[] = {0, 1, 7, 8, 767, 768, 769, 1535, 1536, 2304, 4099, 9999};
    size_t i, j, off;
    for (i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 131 + 7);
    cairn_crc32c__force_sw(1);
    crc_vectors();
    cairn_crc32c__force_sw(0);
    crc_vectors();
    for (j = 0; j < sizeof lens / sizeof lens[0]; j++)
        for (off = 0; off < 8; off++) {
            uint32_t a, b, seed = (uint32_t)(j * 2654435761u);
            size_t n = lens[j] + off <= sizeof big ? lens[j] : sizeof big - off;
            cairn_crc32c__force_sw(1);
            a = cairn_crc32c__update(seed, big + off, n);
            cairn_crc32c__force_sw(0);
            b = cairn_crc32c__update(seed, big + off, n);
            ck_assert_uint_eq(a, b);
        }
}
END_TEST

/* ---- I/O layer ------------------------------------------------------------------------- */

START_TEST(io_basic) {
    cairn_file *f = NULL;
    char buf[64];
    size_t got = 0;
    uint64_t size = 0;
    ck_assert_int_eq(cairn_io__open(&f, ct_path("a"), CAIRN_IO_RDWR | CAIRN_IO_CREATE), 0);
    ck_assert_int_eq(cairn_io__pwrite(f, "hello world", 11, 0), 0);
    ck_assert_int_eq(cairn_io__fsync(f), 0);
    ck_assert_int_eq(cairn_io__size(f, &size), 0);
    ck_assert_uint_eq(size, 11);
    ck_assert_int_eq(cairn_io__pread(f, buf, 5, 6, NULL), 0);
    ck_assert_int_eq(memcmp(buf, "world", 5), 0);
    /* short read: with got it is reported, without it is CORRUPT */
    ck_assert_int_eq(cairn_io__pread(f, buf, 20, 6, &got), 0);
    ck_assert_uint_eq(got, 5);
    ck_assert_int_eq(cairn_io__pread(f, buf, 20, 6, NULL), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_io__truncate(f, 5), 0);
    ck_assert_int_eq(cairn_io__size(f, &size), 0);
    ck_assert_uint_eq(size, 5);
    cairn_io__close(f);
    cairn_io__close(NULL);
    /* errors: missing file, EXCL, directory */
    ck_assert_int_eq(cairn_io__open(&f, ct_path("missing"), CAIRN_IO_RDONLY), CAIRN_PATH);
    ck_assert_ptr_null(f);
    ck_assert_int_eq(cairn_io__open(&f, ct_path("a"), CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_EXCL),
                     CAIRN_EXISTS);
    ck_assert_int_eq(cairn_io__open(&f, ct_dir, CAIRN_IO_RDWR), CAIRN_PATH);
    ck_assert_int_eq(cairn_io__open(NULL, "x", 0), CAIRN_INVALID);
}
END_TEST

START_TEST(io_paths) {
    char **names = NULL;
    size_t n = 0, len = 0;
    void *data = NULL;
    uint64_t size = 0;
    char buf[32];
    ck_assert_int_eq(cairn_io__mkdir(ct_path("sub")), 0);
    ck_assert_int_eq(cairn_io__mkdir(ct_path("sub")), 0); /* exists: fine */
    ck_assert_int_eq(cairn_io__write_atomic(ct_path("f"), "abc", 3), 0);
    ck_assert_int_eq(cairn_io__mkdir(ct_path("f")), CAIRN_PATH);
    ck_assert_int_eq(cairn_io__stat(ct_path("f"), &size), 1);
    ck_assert_uint_eq(size, 3);
    ck_assert_int_eq(cairn_io__stat(ct_path("sub"), NULL), 2);
    ck_assert_int_eq(cairn_io__stat(ct_path("nope"), NULL), 0);
    ck_assert_int_eq(cairn_io__write_atomic(ct_path("f"), "defg", 4), 0);
    read_back(ct_path("f"), buf, sizeof buf, &len);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(memcmp(buf, "defg", 4), 0);
    ck_assert_int_eq(cairn_io__stat(ct_path("f.tmp"), NULL), 0); /* no temp left */
    ck_assert_int_eq(cairn_io__read_all(ct_path("f"), &data, &len), 0);
    ck_assert_uint_eq(len, 4);
    free(data);
    ck_assert_int_eq(cairn_io__link(ct_path("f"), ct_path("g")), 0);
    ck_assert_int_eq(cairn_io__rename(ct_path("g"), ct_path("h")), 0);
    ck_assert_int_eq(cairn_io__list(ct_dir, &names, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(names[0], "f");
    ck_assert_str_eq(names[1], "h");
    ck_assert_str_eq(names[2], "sub");
    cairn_io__list_free(names, n);
    ck_assert_int_eq(cairn_io__unlink(ct_path("h")), 0);
    ck_assert_int_eq(cairn_io__unlink(ct_path("h")), 0); /* missing: fine */
    ck_assert_int_eq(cairn_io__sync_dir(ct_dir), 0);
    ck_assert_int_eq(cairn_io__list(ct_path("nope"), &names, &n), CAIRN_PATH);
}
END_TEST

START_TEST(io_faults) {
    cairn_file *f = NULL;
    char buf[64];
    size_t len = 0;
    cairn_io__fault_reset();
    ck_assert_int_eq(cairn_io__open(&f, ct_path("a"), CAIRN_IO_RDWR | CAIRN_IO_CREATE), 0);
    ck_assert_int_eq(cairn_io__pwrite(f, "0123456789", 10, 0), 0);
    ck_assert_uint_eq(cairn_io__fault_count(CAIRN_FAULT_WRITE), 1);
    /* the 2nd write from now fails with EIO, once */
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 2, CAIRN_FAULT_EIO, 0);
    ck_assert_int_eq(cairn_io__pwrite(f, "A", 1, 0), 0);
    ck_assert_int_eq(cairn_io__pwrite(f, "B", 1, 1), CAIRN_IO);
    ck_assert_int_eq(cairn_io__pwrite(f, "C", 1, 2), 0);
    ck_assert_uint_eq(cairn_io__fault_fired(), 1);
    /* ENOSPC, sticky */
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, CAIRN_FAULT_ENOSPC, 1);
    ck_assert_int_eq(cairn_io__pwrite(f, "D", 1, 3), CAIRN_NOSPC);
    ck_assert_int_eq(cairn_io__pwrite(f, "E", 1, 4), CAIRN_NOSPC);
    ck_assert_int_eq(cairn_io__truncate(f, 1), CAIRN_NOSPC);
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 0, CAIRN_FAULT_NONE, 0);
    /* short write: the first half lands */
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, CAIRN_FAULT_SHORT, 0);
    ck_assert_int_eq(cairn_io__pwrite(f, "wxyz", 4, 6), CAIRN_NOSPC);
    read_back(ct_path("a"), buf, sizeof buf, &len);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(memcmp(buf, "A1C345wx89", 10), 0);
    /* fsync failure is fail-stop for the file */
    cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_eq(cairn_io__fsync(f), CAIRN_IO);
    ck_assert_int_eq(cairn_io__fsync(f), CAIRN_FAILED);
    ck_assert_int_eq(cairn_io__pwrite(f, "Z", 1, 0), CAIRN_FAILED);
    cairn_io__close(f);
    /* a new open of the same file works again */
    ck_assert_int_eq(cairn_io__open(&f, ct_path("a"), CAIRN_IO_RDWR), 0);
    ck_assert_int_eq(cairn_io__pwrite(f, "Z", 1, 0), 0);
    ck_assert_int_eq(cairn_io__fsync(f), 0);
    cairn_io__close(f);
    /* write_atomic under a failing fsync leaves the old file and no temp */
    ck_assert_int_eq(cairn_io__write_atomic(ct_path("w"), "old", 3), 0);
    cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_eq(cairn_io__write_atomic(ct_path("w"), "new!", 4), CAIRN_IO);
    read_back(ct_path("w"), buf, sizeof buf, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(memcmp(buf, "old", 3), 0);
    ck_assert_int_eq(cairn_io__stat(ct_path("w.tmp"), NULL), 0);
    ck_assert_uint_eq(cairn_io__fault_count(CAIRN_FAULT_SYNC), 5);
    cairn_io__fault_reset();
    ck_assert_uint_eq(cairn_io__fault_count(CAIRN_FAULT_ANY), 0);
}
END_TEST

START_TEST(io_crash_drop) {
    cairn_file *f = NULL, *g = NULL;
    char buf[64];
    size_t len = 0;
    cairn_io__crash_track(1);
    ck_assert_int_eq(cairn_io__open(&f, ct_path("a"), CAIRN_IO_RDWR | CAIRN_IO_CREATE), 0);
    ck_assert_int_eq(cairn_io__pwrite(f, "durable.", 8, 0), 0);
    ck_assert_int_eq(cairn_io__fsync(f), 0);
    ck_assert_int_eq(cairn_io__pwrite(f, "lost-append", 11, 8), 0);
    ck_assert_int_eq(cairn_io__pwrite(f, "XX", 2, 0), 0);
    ck_assert_int_eq(cairn_io__open(&g, ct_path("b"), CAIRN_IO_RDWR | CAIRN_IO_CREATE), 0);
    ck_assert_int_eq(cairn_io__pwrite(g, "gone", 4, 0), 0);
    ck_assert_uint_eq(cairn_io__crash_now(CAIRN_CRASH_DROP, 1), 3);
    ck_assert_int_eq(cairn_io__crashed(), 1);
    /* everything fails after the crash, old handles forever */
    ck_assert_int_eq(cairn_io__pwrite(f, "Y", 1, 0), CAIRN_IO);
    ck_assert_int_eq(cairn_io__fsync(g), CAIRN_IO);
    ck_assert_int_eq(cairn_io__write_atomic(ct_path("c"), "x", 1), CAIRN_IO);
    cairn_io__crash_track(0);
    ck_assert_int_eq(cairn_io__pwrite(f, "Y", 1, 0), CAIRN_IO);
    cairn_io__close(f);
    cairn_io__close(g);
    read_back(ct_path("a"), buf, sizeof buf, &len);
    ck_assert_uint_eq(len, 8);
    ck_assert_int_eq(memcmp(buf, "durable.", 8), 0);
    read_back(ct_path("b"), buf, sizeof buf, &len);
    ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(io_crash_tear_is_prefix) {
    /* With TEAR, the file is the synced state plus a prefix of the unsynced writes (in order),
     * the last kept one possibly torn. Appends make that easy to check for many seeds. */
    uint64_t seed;
    for (seed = 1; seed <= 40; seed++) {
        cairn_file *f = NULL;
        char buf[256];
        size_t len = 0, i;
        const char *full = "base|one|two|three|four|";
        cairn_io__crash_track(1);
        ck_assert_int_eq(cairn_io__open(&f, ct_path("t"), CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC), 0);
        ck_assert_int_eq(cairn_io__pwrite(f, "base|", 5, 0), 0);
        ck_assert_int_eq(cairn_io__fsync(f), 0);
        ck_assert_int_eq(cairn_io__pwrite(f, "one|", 4, 5), 0);
        ck_assert_int_eq(cairn_io__pwrite(f, "two|", 4, 9), 0);
        ck_assert_int_eq(cairn_io__pwrite(f, "three|", 6, 13), 0);
        ck_assert_int_eq(cairn_io__pwrite(f, "four|", 5, 19), 0);
        cairn_io__crash_now(CAIRN_CRASH_TEAR, seed);
        cairn_io__crash_track(0);
        cairn_io__close(f);
        read_back(ct_path("t"), buf, sizeof buf, &len);
        ck_assert_uint_ge(len, 5);
        ck_assert_uint_le(len, strlen(full));
        for (i = 0; i < len; i++) ck_assert_int_eq(buf[i], full[i]);
    }
}
END_TEST

START_TEST(io_crash_at_sync) {
    cairn_file *f = NULL;
    char buf[64];
    size_t len = 0;
    cairn_io__crash_track(1);
    ck_assert_int_eq(cairn_io__open(&f, ct_path("a"), CAIRN_IO_RDWR | CAIRN_IO_CREATE), 0);
    cairn_io__crash_at_sync(2, CAIRN_CRASH_DROP, 7);
    ck_assert_int_eq(cairn_io__pwrite(f, "one", 3, 0), 0);
    ck_assert_int_eq(cairn_io__fsync(f), 0);
    ck_assert_int_eq(cairn_io__pwrite(f, "two", 3, 3), 0);
    ck_assert_int_eq(cairn_io__fsync(f), CAIRN_IO); /* the crash happens before it takes effect */
    ck_assert_int_eq(cairn_io__crashed(), 1);
    cairn_io__crash_track(0);
    cairn_io__close(f);
    read_back(ct_path("a"), buf, sizeof buf, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(memcmp(buf, "one", 3), 0);
    /* a directory fsync is a crash point too: write_atomic's 2nd sync is its directory's */
    cairn_io__crash_track(1);
    cairn_io__crash_at_sync(2, CAIRN_CRASH_DROP, 7);
    ck_assert_int_eq(cairn_io__write_atomic(ct_path("w"), "data", 4), CAIRN_IO);
    ck_assert_int_eq(cairn_io__crashed(), 1);
    cairn_io__crash_track(0);
    read_back(ct_path("w"), buf, sizeof buf, &len); /* its data was fsynced before the rename */
    ck_assert_uint_eq(len, 4);
}
END_TEST

START_TEST(io_crash_truncate_undo) {
    cairn_file *f = NULL;
    char buf[64];
    size_t len = 0;
    cairn_io__crash_track(1);
    ck_assert_int_eq(cairn_io__open(&f, ct_path("a"), CAIRN_IO_RDWR | CAIRN_IO_CREATE), 0);
    ck_assert_int_eq(cairn_io__pwrite(f, "abcdefgh", 8, 0), 0);
    ck_assert_int_eq(cairn_io__fsync(f), 0);
    ck_assert_int_eq(cairn_io__truncate(f, 3), 0);
    ck_assert_int_eq(cairn_io__pwrite(f, "Z", 1, 3), 0);
    cairn_io__crash_now(CAIRN_CRASH_DROP, 3);
    cairn_io__crash_track(0);
    cairn_io__close(f);
    read_back(ct_path("a"), buf, sizeof buf, &len);
    ck_assert_uint_eq(len, 8);
    ck_assert_int_eq(memcmp(buf, "abcdefgh", 8), 0);
}
END_TEST

/* ---- lock ------------------------------------------------------------------------------ */

START_TEST(lock_single_writer) {
    cairn_lock *a = NULL, *b = NULL;
    pid_t pid;
    int status = 0;
    uint64_t t0;
    ck_assert_int_eq(cairn_lock__acquire(&a, ct_path("LOCK"), 0), 0);
    /* same process, second open: LOCKED at once, BUSY after a wait */
    ck_assert_int_eq(cairn_lock__acquire(&b, ct_path("LOCK"), 0), CAIRN_LOCKED);
    ck_assert_ptr_null(b);
    t0 = cairn_time__mono_ns();
    ck_assert_int_eq(cairn_lock__acquire(&b, ct_path("LOCK"), 30), CAIRN_BUSY);
    ck_assert_uint_ge(cairn_time__mono_ns() - t0, 30u * 1000000u);
    /* another process */
    pid = fork();
    if (pid == 0) {
        cairn_lock *c = NULL;
        _exit(cairn_lock__acquire(&c, ct_path("LOCK"), 0) == CAIRN_LOCKED ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    cairn_lock__release(a);
    ck_assert_int_eq(cairn_lock__acquire(&b, ct_path("LOCK"), 0), 0);
    cairn_lock__release(b);
    cairn_lock__release(NULL);
}
END_TEST

/* One deadline for several locks: a deadline already passed is CAIRN_BUSY at once (no second
 * full wait), naming the caller's timeout; timeout 0 stays CAIRN_LOCKED; a free lock is taken
 * whatever the deadline. */
START_TEST(lock_deadline) {
    cairn_lock *a = NULL, *b = NULL;
    uint64_t past;
    ck_assert_int_eq(cairn_lock__acquire(&a, ct_path("LOCK"), 0), 0);
    past = cairn_lock__deadline(0);
    ck_assert_int_eq(cairn_lock__acquire_until(&b, ct_path("LOCK"), 60000, past), CAIRN_BUSY);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "after 60000 ms"));
    ck_assert_int_eq(cairn_lock__acquire_until(&b, ct_path("LOCK"), 0, past), CAIRN_LOCKED);
    ck_assert_int_eq(cairn_lock__acquire_until(&b, ct_path("OTHER"), 60000, past), 0);
    ck_assert_ptr_nonnull(b);
    cairn_lock__release(b);
    cairn_lock__release(a);
}
END_TEST

/* cairn_rwlock__init prefers writers: while a writer waits for a lock that a reader holds, a new
 * reader does not get in (so a stream of overlapping readers cannot starve the writer). The
 * writer's arrival is observed by polling tryrdlock (bounded: it fails the test if the writer
 * never seems to wait, as with a reader-preferring lock). */
static pthread_rwlock_t t_rw;
static volatile int t_writer_done;

static void *rw_writer(void *arg) {
    (void)arg;
    pthread_rwlock_wrlock(&t_rw);
    t_writer_done = 1;
    pthread_rwlock_unlock(&t_rw);
    return NULL;
}

START_TEST(rwlock_prefers_writers) {
    pthread_t w;
    uint64_t until;
    int blocked = 0;
    cairn_rwlock__init(&t_rw);
    t_writer_done = 0;
    ck_assert_int_eq(pthread_rwlock_rdlock(&t_rw), 0); /* a reader holds it */
    ck_assert_int_eq(pthread_create(&w, NULL, rw_writer, NULL), 0);
    until = cairn_time__mono_ns() + 10ull * 1000000000ull;
    while (cairn_time__mono_ns() < until) {
        int rc = pthread_rwlock_tryrdlock(&t_rw);
        if (rc == EBUSY) {
            blocked = 1; /* the writer waits: new readers queue behind it */
            break;
        }
        ck_assert_int_eq(rc, 0);
        pthread_rwlock_unlock(&t_rw);
        sched_yield();
    }
    ck_assert_msg(blocked, "a new reader still got in while a writer waited");
    ck_assert_int_eq(t_writer_done, 0);
    pthread_rwlock_unlock(&t_rw); /* the first reader leaves: the writer goes first */
    pthread_join(w, NULL);
    ck_assert_int_eq(t_writer_done, 1);
    pthread_rwlock_destroy(&t_rw);
}
END_TEST

START_TEST(lock_released_when_holder_dies) {
    cairn_lock *a = NULL;
    int pipefd[2], status = 0;
    char c;
    pid_t pid;
    ck_assert_int_eq(pipe(pipefd), 0);
    pid = fork();
    if (pid == 0) {
        cairn_lock *l = NULL;
        if (cairn_lock__acquire(&l, ct_path("LOCK"), 0) != 0) _exit(1);
        (void)!write(pipefd[1], "k", 1);
        pause(); /* killed below, never releases by hand */
        _exit(0);
    }
    ck_assert_int_eq(read(pipefd[0], &c, 1), 1);
    ck_assert_int_eq(cairn_lock__acquire(&a, ct_path("LOCK"), 0), CAIRN_LOCKED);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ck_assert_int_eq(cairn_lock__acquire(&a, ct_path("LOCK"), 1000), 0);
    cairn_lock__release(a);
    close(pipefd[0]);
    close(pipefd[1]);
}
END_TEST

/* ---- misc ------------------------------------------------------------------------------ */

/* ---- containers ------------------------------------------------------------------------ */

typedef struct tval {
    uint64_t a;
    uint32_t b;
} tval;

static uint64_t t_rand(uint64_t *x) { /* splitmix64 */
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Random puts, overwrites and deletes over a small key space (so probe chains collide and
 * backward-shift deletion runs often), checked against a plain array after every step. */
START_TEST(u64map_against_array) {
    enum { NK = 512, STEPS = 20000 };
    cairn_u64map m;
    static tval ref[NK];
    static int present[NK];
    uint64_t x = 42, key;
    size_t i, n = 0, pos;
    tval *v;
    int step;
    memset(present, 0, sizeof present);
    cairn_u64map__init(&m, sizeof(tval));
    ck_assert_ptr_null(cairn_u64map__get(&m, 1)); /* empty, nothing allocated */
    cairn_u64map__del(&m, 1);
    for (step = 0; step < STEPS; step++) {
        uint64_t r = t_rand(&x);
        size_t k = (size_t)(r % NK);
        uint64_t mk = (uint64_t)k * 0x100000001ULL; /* keys above 32 bits too */
        if ((r >> 32) % 3) {
            tval t;
            t.a = r;
            t.b = (uint32_t)step;
            ck_assert_int_eq(cairn_u64map__put(&m, mk, &t), 0);
            if (!present[k]) n++;
            present[k] = 1;
            ref[k] = t;
        } else {
            cairn_u64map__del(&m, mk);
            if (present[k]) n--;
            present[k] = 0;
        }
        ck_assert_uint_eq(m.n, n);
        if (step % 97 == 0) {
            for (i = 0; i < NK; i++) {
                v = (tval *)cairn_u64map__get(&m, (uint64_t)i * 0x100000001ULL);
                if (!present[i]) {
                    ck_assert_ptr_null(v);
                } else {
                    ck_assert_ptr_nonnull(v);
                    ck_assert_uint_eq(v->a, ref[i].a);
                    ck_assert_uint_eq(v->b, ref[i].b);
                }
            }
        }
    }
    /* iteration visits every key once */
    pos = 0;
    i = 0;
    while ((v = (tval *)cairn_u64map__next(&m, &pos, &key)) != NULL) {
        size_t k = (size_t)(key / 0x100000001ULL);
        ck_assert_uint_lt(k, NK);
        ck_assert_int_eq(present[k], 1);
        ck_assert_uint_eq(v->a, ref[k].a);
        present[k] = 2;
        i++;
    }
    ck_assert_uint_eq(i, n);
    cairn_u64map__free(&m);
    ck_assert_uint_eq(m.n, 0);
    ck_assert_ptr_null(cairn_u64map__get(&m, 0));
    ck_assert_int_eq(cairn_u64map__put(&m, 0, &ref[0]), 0); /* usable again after free */
    ck_assert_ptr_nonnull(cairn_u64map__get(&m, 0));
    cairn_u64map__free(&m);
}
END_TEST

/* Best fit as the blob store uses it: lower bound of (need, 0) over (size, offset) pairs, checked
 * against a brute-force scan while pairs come and go. */
/* Pairs in order (a, then b) and every node's priority >= its children's; returns the count. */
static size_t treap_check(const cairn_treap_node *x, const cairn_treap_node **prev) {
    size_t n;
    if (!x) return 0;
    if (x->l) ck_assert_uint_ge(x->pri, x->l->pri);
    if (x->r) ck_assert_uint_ge(x->pri, x->r->pri);
    n = treap_check(x->l, prev);
    if (*prev) ck_assert((*prev)->a < x->a || ((*prev)->a == x->a && (*prev)->b <= x->b));
    *prev = x;
    return n + 1 + treap_check(x->r, prev);
}

START_TEST(treap_spares_and_shape) {
    enum { NP = 3000 };
    cairn_treap t;
    const cairn_treap_node *prev = NULL;
    uint64_t oa = 0, ob = 0, i;
    cairn_treap__init(&t, 5);
    for (i = 0; i < NP; i++) ck_assert_int_eq(cairn_treap__insert(&t, (i * 7919u) % 97u, i), 0);
    ck_assert_uint_eq(treap_check(t.root, &prev), NP);
    ck_assert_uint_eq(t.nspare, 0);
    /* erased nodes are kept up to CAIRN_TREAP_SPARE, the rest freed */
    for (i = 0; i < NP; i += 2) ck_assert_int_eq(cairn_treap__erase(&t, (i * 7919u) % 97u, i), 1);
    ck_assert_uint_eq(t.n, NP / 2);
    ck_assert_uint_eq(t.nspare, CAIRN_TREAP_SPARE < NP / 2 ? CAIRN_TREAP_SPARE : NP / 2);
    prev = NULL;
    ck_assert_uint_eq(treap_check(t.root, &prev), NP / 2);
    /* inserts take the spares first, then allocate */
    for (i = 0; i < NP; i += 2) ck_assert_int_eq(cairn_treap__insert(&t, (i * 7919u) % 97u, i), 0);
    ck_assert_uint_eq(t.nspare, 0);
    prev = NULL;
    ck_assert_uint_eq(treap_check(t.root, &prev), NP);
    for (i = 0; i < NP; i++) {
        ck_assert_int_eq(cairn_treap__lower_bound(&t, (i * 7919u) % 97u, i, &oa, &ob), 1);
        ck_assert_uint_eq(oa, (i * 7919u) % 97u);
        ck_assert_uint_eq(ob, i);
    }
    for (i = 0; i < NP; i++) ck_assert_int_eq(cairn_treap__erase(&t, (i * 7919u) % 97u, i), 1);
    ck_assert_ptr_null(t.root);
    cairn_treap__free(&t); /* frees the spares too (the leak checks of the ASan and valgrind runs) */
    ck_assert_uint_eq(t.nspare, 0);
    ck_assert_ptr_null(t.spare);
}
END_TEST

START_TEST(treap_lower_bound) {
    enum { NP = 300 };
    cairn_treap t;
    static uint64_t sa[NP], sb[NP];
    static int in[NP];
    uint64_t x = 7, oa = 0, ob = 0;
    size_t i, n = 0;
    int step;
    cairn_treap__init(&t, 0);
    ck_assert_int_eq(cairn_treap__lower_bound(&t, 0, 0, &oa, &ob), 0);
    for (i = 0; i < NP; i++) {
        sa[i] = t_rand(&x) % 50; /* many equal sizes: ties go to the lower offset */
        sb[i] = i * 64;
        in[i] = 0;
    }
    for (step = 0; step < 5000; step++) {
        uint64_t r = t_rand(&x), qa = r % 55, qb = (r >> 8) % 3 ? 0 : (r >> 16) % (NP * 64);
        size_t k = (size_t)((r >> 32) % NP), j, best = NP;
        if (in[k]) {
            ck_assert_int_eq(cairn_treap__erase(&t, sa[k], sb[k]), 1);
            ck_assert_int_eq(cairn_treap__erase(&t, sa[k], sb[k]), 0);
            in[k] = 0;
            n--;
        } else {
            ck_assert_int_eq(cairn_treap__insert(&t, sa[k], sb[k]), 0);
            in[k] = 1;
            n++;
        }
        ck_assert_uint_eq(t.n, n);
        for (j = 0; j < NP; j++) {
            if (!in[j] || sa[j] < qa || (sa[j] == qa && sb[j] < qb)) continue;
            if (best == NP || sa[j] < sa[best] || (sa[j] == sa[best] && sb[j] < sb[best])) best = j;
        }
        if (best == NP) {
            ck_assert_int_eq(cairn_treap__lower_bound(&t, qa, qb, &oa, &ob), 0);
        } else {
            ck_assert_int_eq(cairn_treap__lower_bound(&t, qa, qb, &oa, &ob), 1);
            ck_assert_uint_eq(oa, sa[best]);
            ck_assert_uint_eq(ob, sb[best]);
        }
    }
    cairn_treap__free(&t);
    ck_assert_uint_eq(t.n, 0);
    ck_assert_int_eq(cairn_treap__lower_bound(&t, 0, 0, &oa, &ob), 0);
}
END_TEST

START_TEST(arr_grow) {
    uint32_t *v = NULL, *p;
    size_t cap = 0, i;
    for (i = 0; i < 1000; i++) {
        p = (uint32_t *)cairn_arr__grow(v, &cap, i + 1, sizeof *v);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_ge(cap, i + 1);
        v = p;
        v[i] = (uint32_t)i * 3u;
    }
    for (i = 0; i < 1000; i++) ck_assert_uint_eq(v[i], i * 3u);
    ck_assert_ptr_eq(cairn_arr__grow(v, &cap, 10, sizeof *v), v); /* room already: same block */
    /* too large: NULL with CAIRN_NOMEM, the array untouched */
    i = cap;
    ck_assert_ptr_null(cairn_arr__grow(v, &cap, SIZE_MAX / 2, 16));
    ck_assert_int_eq(cairn_errcode(), CAIRN_NOMEM);
    ck_assert_uint_eq(cap, i);
    ck_assert_uint_eq(v[999], 999u * 3u);
    free(v);
}
END_TEST

START_TEST(misc_clock_paths_codecs) {
    uint8_t b[8];
    char *p;
    int64_t now = cairn_time__now_ms();
    ck_assert_int_gt(now, 1600000000000LL);
    cairn_time__set_fake(12345);
    ck_assert_int_eq(cairn_time__now_ms(), 12345);
    cairn_time__set_fake(0);
    ck_assert_int_ge(cairn_time__now_ms(), now);
    p = cairn_path__join("a/b", "c");
    ck_assert_str_eq(p, "a/b/c");
    free(p);
    p = cairn_path__join("a/", "c");
    ck_assert_str_eq(p, "a/c");
    free(p);
    p = cairn_path__dir("a/b/c");
    ck_assert_str_eq(p, "a/b");
    free(p);
    p = cairn_path__dir("c");
    ck_assert_str_eq(p, ".");
    free(p);
    p = cairn_path__dir("/c");
    ck_assert_str_eq(p, "/");
    free(p);
    cairn_put64(b, 0x0102030405060708ull);
    ck_assert_uint_eq(b[0], 8);
    ck_assert_uint_eq(cairn_get64(b), 0x0102030405060708ull);
    cairn_put32(b, 0xA1B2C3D4u);
    ck_assert_uint_eq(cairn_get32(b), 0xA1B2C3D4u);
    cairn_put16(b, 0xBEEF);
    ck_assert_uint_eq(cairn_get16(b), 0xBEEF);
}
END_TEST

/* The layout table answers for every public struct and field, with the compiler's own numbers. */
START_TEST(layout_matches_the_header) {
    size_t off = 99, size = 99;
    ck_assert_int_eq(cairn_layout("cairn_kv_stats", NULL, &off, &size), 0);
    ck_assert_uint_eq(off, 0);
    ck_assert_uint_eq(size, sizeof(struct cairn_kv_stats));
    ck_assert_int_eq(cairn_layout("cairn_kv_stats", "in_txn", &off, &size), 0);
    ck_assert_uint_eq(off, offsetof(struct cairn_kv_stats, in_txn));
    ck_assert_uint_eq(size, sizeof(int));
    ck_assert_int_eq(cairn_layout("cairn_blob_stats", "next_key", &off, &size), 0);
    ck_assert_uint_eq(off, offsetof(struct cairn_blob_stats, next_key));
    ck_assert_int_eq(cairn_layout("cairn_kv_options", "max_file_size", &off, &size), 0);
    ck_assert_uint_eq(off, offsetof(cairn_kv_options, max_file_size));
    ck_assert_uint_eq(size, 8);
    ck_assert_int_eq(cairn_layout("cairn_blob_options", "lock_timeout_ms", NULL, NULL), 0);
    ck_assert_int_eq(cairn_layout("cairn_kv_stats", "nope", &off, &size), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_layout("cairn_nothing", NULL, &off, &size), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_layout(NULL, NULL, &off, &size), CAIRN_INVALID);
}
END_TEST

/* A caller with an older, shorter stats struct is never written past: only `size` bytes are
 * filled, and size reports what was filled. */
START_TEST(stats_size_rule) {
    struct cairn_kv_stats full;
    unsigned char buf[sizeof full + 16];
    uint32_t sz;
    memset(&full, 0xAB, sizeof full);
    memset(buf, 0xEE, sizeof buf);
    sz = (uint32_t)offsetof(struct cairn_kv_stats, data_files); /* size + keys only */
    memcpy(buf, &sz, sizeof sz);
    ck_assert_int_eq(cairn_stats__check(sz, sizeof full, "t"), 0);
    cairn_stats__copy(buf, &full, sizeof full);
    memcpy(&sz, buf, sizeof sz);
    ck_assert_uint_eq(sz, offsetof(struct cairn_kv_stats, data_files));
    ck_assert_uint_eq(buf[sz], 0xEE); /* untouched past the caller's struct */
    sz = 0;                           /* 0: this header's struct, filled whole */
    memcpy(buf, &sz, sizeof sz);
    cairn_stats__copy(buf, &full, sizeof full);
    memcpy(&sz, buf, sizeof sz);
    ck_assert_uint_eq(sz, sizeof full);
    ck_assert_uint_eq(buf[sizeof full], 0xEE);
    ck_assert_int_eq(cairn_stats__check(2, sizeof full, "t"), CAIRN_INVALID);
}
END_TEST

/* The test clock moves expiry without sleeping; 0 returns to the real clock. */
START_TEST(testing_clock) {
    int64_t real = cairn_time__now_ms();
    cairn_testing_set_clock(1000);
    ck_assert_int_eq(cairn_time__now_ms(), 1000);
    cairn_testing_set_clock(0);
    ck_assert_int_ge(cairn_time__now_ms(), real);
}
END_TEST

static Suite *util_suite(void) {
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("all");
    tcase_add_checked_fixture(tc, mk_tmp, rm_tmp);
    tcase_add_test(tc, errors_table);
    tcase_add_test(tc, errors_thread_local_message);
    tcase_add_test(tc, errors_save_restore);
    tcase_add_test(tc, crc_sw_and_hw);
    tcase_add_test(tc, io_basic);
    tcase_add_test(tc, io_paths);
    tcase_add_test(tc, io_faults);
    tcase_add_test(tc, io_crash_drop);
    tcase_add_test(tc, io_crash_tear_is_prefix);
    tcase_add_test(tc, io_crash_at_sync);
    tcase_add_test(tc, io_crash_truncate_undo);
    tcase_add_test(tc, lock_single_writer);
    tcase_add_test(tc, lock_released_when_holder_dies);
    tcase_add_test(tc, lock_deadline);
    tcase_add_test(tc, rwlock_prefers_writers);
    tcase_add_test(tc, u64map_against_array);
    tcase_add_test(tc, treap_lower_bound);
    tcase_add_test(tc, treap_spares_and_shape);
    tcase_add_test(tc, arr_grow);
    tcase_add_test(tc, misc_clock_paths_codecs);
    tcase_add_test(tc, layout_matches_the_header);
    tcase_add_test(tc, stats_size_rule);
    tcase_add_test(tc, testing_clock);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ct_run(util_suite()); }
