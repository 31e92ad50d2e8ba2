/*
 * io.c - the one file I/O layer of Cairn.
 *
 * Every engine reads and writes files only through these functions, so that tests can:
 *  - inject faults: fail the nth write or fsync with EIO or ENOSPC, or store half a write and
 *    then fail (cairn_io__fault_arm);
 *  - simulate crashes: while tracking, each write/truncate not yet covered by an fsync of its
 *    file keeps an undo record (the bytes it overwrote and the old file size). A crash reverts
 *    them newest first, either all (DROP) or all but a prefix whose last write is torn at a
 *    random byte (TEAR). After a crash every operation fails with CAIRN_IO until tracking is
 *    switched off (or on again), and files opened before the crash stay dead for good, so an
 *    engine handle can be closed without anything it does reaching the disk.
 * Undo records hold a dup()ed descriptor, so they follow a file across rename and close.
 * Metadata (create, rename, unlink) is treated as durable at once.
 *
 * Durable replace (cairn_io__write_atomic): write "<path>.tmp", fsync it, rename over <path>,
 * fsync the directory. A failed fsync marks the file failed: every later operation on it
 * returns CAIRN_FAILED (fsync is never retried: the kernel may have dropped the dirty pages).
 */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

struct cairn_file {
    int fd;
    int failed;          /* an fsync failed: fail-stop */
    uint64_t epoch;      /* crash epoch at open; dead once a crash moved past it */
    char *path;
};

/* ---- test hooks state (all under g_mu; g_active is read without it on the fast path) ----- */

typedef struct undo_rec {
    int fd;              /* dup of the written file's descriptor */
    dev_t dev;
    ino_t ino;
    uint64_t off;        /* write: where; truncate: the new size */
    uint64_t len;        /* bytes written (write) */
    uint64_t old_size;   /* file size before the operation */
    uint8_t *old;        /* bytes [off, min(off+len, old_size)) before a write, or
                            [new size, old_size) before a shrinking truncate */
    uint64_t old_len;
    int is_trunc;
} undo_rec;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_active;            /* any hook armed or tracking: take the slow path */
static uint64_t g_count[2];     /* [0] writes, [1] syncs since reset */
static uint64_t g_fault_at[2];  /* fire when the count reaches this (0: off) */
static int g_fault_kind[2];
static int g_fault_sticky[2];
static uint64_t g_fired;
static uint64_t g_full_credit;  /* CAIRN_FAULT_FULL: bytes given back since it was armed */
static int g_track;
static int g_crashed;
static uint64_t g_epoch = 1;
static uint64_t g_crash_sync_at; /* crash before the nth sync from arming (count value) */
static int g_crash_mode;
static uint64_t g_crash_seed;
static undo_rec *g_undo;
static size_t g_nundo, g_capundo;

static void recompute_active(void) {
    int a = g_track || g_crashed || g_fault_at[0] || g_fault_at[1] || g_crash_sync_at;
    __atomic_store_n(&g_active, a, __ATOMIC_RELEASE);
}

static int hooks_active(void) { return __atomic_load_n(&g_active, __ATOMIC_ACQUIRE); }

static uint64_t cur_epoch(void) { return __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE); }

static int dead_check(const cairn_file *f, const char *what) {
    if (f->epoch != cur_epoch())
        return cairn_err__set(CAIRN_IO, "%s %s: simulated crash (file opened before it)", what, f->path);
    if (g_crashed) return cairn_err__set(CAIRN_IO, "%s %s: simulated crash", what, f->path);
    if (f->failed)
        return cairn_err__set(CAIRN_FAILED, "%s %s: an earlier fsync failed; the handle must be reopened",
                              what, f->path);
    return 0;
}

/* Count an op of class k (0 write, 1 sync); returns the fault kind to inject, or 0. */
static int count_op(int k) {
    int kind = 0;
    __atomic_add_fetch(&g_count[k], 1, __ATOMIC_RELAXED);
    if (g_fault_at[k] && g_count[k] >= g_fault_at[k]) {
        kind = g_fault_kind[k];
        g_fired++;
        if (!g_fault_sticky[k]) g_fault_at[k] = 0;
        recompute_active();
    }
    return kind;
}

static void undo_free(undo_rec *u) {
    if (u->fd >= 0) close(u->fd);
    free(u->old);
}

/* Record the undo of a write [off, off+len) or a truncate to `off` (is_trunc). */
static int undo_push(cairn_file *f, uint64_t off, uint64_t len, int is_trunc) {
    struct stat st;
    undo_rec u;
    uint64_t lo, hi;
    if (fstat(f->fd, &st) != 0) return cairn_err__sys(errno, "fstat %s", f->path);
    memset(&u, 0, sizeof u);
    u.fd = -1;
    u.dev = st.st_dev;
    u.ino = st.st_ino;
    u.off = off;
    u.len = len;
    u.old_size = (uint64_t)st.st_size;
    u.is_trunc = is_trunc;
    lo = off;
    hi = is_trunc ? u.old_size : off + len;
    if (hi > u.old_size) hi = u.old_size;
    if (hi > lo) {
        ssize_t r;
        u.old_len = hi - lo;
        u.old = (uint8_t *)malloc((size_t)u.old_len);
        if (!u.old) return cairn_err__set(CAIRN_NOMEM, "crash tracking: out of memory");
        r = pread(f->fd, u.old, (size_t)u.old_len, (off_t)lo);
        if (r < 0 || (uint64_t)r != u.old_len) {
            free(u.old);
            return cairn_err__sys(r < 0 ? errno : EIO, "crash tracking: pread %s", f->path);
        }
    }
    u.fd = dup(f->fd);
    if (u.fd < 0) {
        free(u.old);
        return cairn_err__sys(errno, "crash tracking: dup");
    }
    if (g_nundo == g_capundo) {
        size_t cap = g_capundo ? g_capundo * 2 : 64;
        undo_rec *n = (undo_rec *)realloc(g_undo, cap * sizeof *n);
        if (!n) {
            undo_free(&u);
            return cairn_err__set(CAIRN_NOMEM, "crash tracking: out of memory");
        }
        g_undo = n;
        g_capundo = cap;
    }
    g_undo[g_nundo++] = u;
    return 0;
}

/* An fsync of f succeeded: its unsynced writes are now durable. */
static void undo_forget(cairn_file *f) {
    struct stat st;
    size_t i, j = 0;
    if (fstat(f->fd, &st) != 0) return;
    for (i = 0; i < g_nundo; i++) {
        if (g_undo[i].dev == st.st_dev && g_undo[i].ino == st.st_ino)
            undo_free(&g_undo[i]);
        else
            g_undo[j++] = g_undo[i];
    }
    g_nundo = j;
}

/* Revert record u; keep its first `keep` bytes (writes only; 0 reverts it whole). */
static void undo_apply(undo_rec *u, uint64_t keep) {
    if (u->is_trunc) {
        if (ftruncate(u->fd, (off_t)u->old_size) == 0 && u->old_len)
            (void)!pwrite(u->fd, u->old, (size_t)u->old_len, (off_t)u->off);
        return;
    }
    if (u->old_len > keep)
        (void)!pwrite(u->fd, u->old + keep, (size_t)(u->old_len - keep), (off_t)(u->off + keep));
    if (u->off + u->len > u->old_size) {
        uint64_t sz = u->off + keep > u->old_size ? u->off + keep : u->old_size;
        (void)!ftruncate(u->fd, (off_t)sz);
    }
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t crash_locked(int mode, uint64_t seed) {
    uint64_t n = g_nundo, keep_n = 0, s = seed ? seed : 1;
    size_t i;
    if (mode == CAIRN_CRASH_TEAR && g_nundo > 0) keep_n = rng_next(&s) % (g_nundo + 1);
    for (i = g_nundo; i-- > 0;) {
        if (i >= keep_n) {
            undo_apply(&g_undo[i], 0);
        } else if (i + 1 == keep_n && !g_undo[i].is_trunc && g_undo[i].len > 1) {
            undo_apply(&g_undo[i], 1 + rng_next(&s) % (g_undo[i].len - 1)); /* torn */
        }
        undo_free(&g_undo[i]);
    }
    g_nundo = 0;
    g_crashed = 1;
    g_crash_sync_at = 0;
    __atomic_add_fetch(&g_epoch, 1, __ATOMIC_ACQ_REL);
    recompute_active();
    return n;
}

/* Slow path before a write-class op: returns <0 to fail it, else the fault kind (0 or SHORT). */
static int pre_write(cairn_file *f, uint64_t off, uint64_t len, int is_trunc) {
    int kind, rc;
    pthread_mutex_lock(&g_mu);
    if ((rc = dead_check(f, is_trunc ? "truncate" : "write")) != 0) goto out;
    kind = count_op(0);
    if (kind == CAIRN_FAULT_FULL) {
        struct stat st;
        uint64_t size = fstat(f->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
        uint64_t end = is_trunc ? off : off + len;
        if (end > size && end - size > g_full_credit) {
            rc = cairn_err__sys(ENOSPC, "%s %s (injected: disk full)", is_trunc ? "truncate" : "write", f->path);
            goto out;
        }
        if (end > size) g_full_credit -= end - size;
        else if (is_trunc) g_full_credit += size - end;
        g_fired--; /* had the space: not a fault */
        kind = 0;
    }
    if (kind == CAIRN_FAULT_EIO) {
        rc = cairn_err__sys(EIO, "write %s (injected)", f->path);
        goto out;
    }
    if (kind == CAIRN_FAULT_ENOSPC || (kind == CAIRN_FAULT_SHORT && is_trunc)) {
        rc = cairn_err__sys(ENOSPC, "write %s (injected)", f->path);
        goto out;
    }
    if (g_track && (rc = undo_push(f, off, len, is_trunc)) != 0) goto out;
    rc = kind;
out:
    pthread_mutex_unlock(&g_mu);
    return rc;
}

/* Fast path: no hook armed. Count the op (tests enumerate a workload's writes and syncs from
 * these counts) and refuse files that a simulated crash killed. */
static int fast_check(cairn_file *f, int k, const char *what) {
    __atomic_add_fetch(&g_count[k], 1, __ATOMIC_RELAXED);
    if (f->epoch != cur_epoch())
        return cairn_err__set(CAIRN_IO, "%s %s: simulated crash (file opened before it)", what, f->path);
    return 0;
}

/* ---- files -------------------------------------------------------------------------------- */

int cairn_io__open(cairn_file **out, const char *path, int flags) {
    int oflags = O_CLOEXEC, fd;
    cairn_file *f;
    if (!out || !path) return cairn_err__set(CAIRN_INVALID, "cairn_io__open: NULL argument");
    *out = NULL;
    if (hooks_active() && g_crashed) return cairn_err__set(CAIRN_IO, "open %s: simulated crash", path);
    oflags |= (flags & CAIRN_IO_RDWR) ? O_RDWR : O_RDONLY;
    if (flags & CAIRN_IO_CREATE) oflags |= O_CREAT;
    if (flags & CAIRN_IO_EXCL) oflags |= O_EXCL;
    if (flags & CAIRN_IO_TRUNC) oflags |= O_TRUNC;
    do fd = open(path, oflags, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return cairn_err__sys(errno, "open %s", path);
    f = (cairn_file *)calloc(1, sizeof *f);
    if (!f || !(f->path = cairn_str__dup(path))) {
        free(f);
        close(fd);
        return cairn_err__set(CAIRN_NOMEM, "open %s: out of memory", path);
    }
    f->fd = fd;
    f->epoch = cur_epoch();
    *out = f;
    return 0;
}

void cairn_io__close(cairn_file *f) {
    if (!f) return;
    close(f->fd);
    free(f->path);
    free(f);
}

const char *cairn_io__path(const cairn_file *f) { return f ? f->path : "(null)"; }
int cairn_io__fd(const cairn_file *f) { return f ? f->fd : -1; }

int cairn_io__pread(cairn_file *f, void *buf, size_t len, uint64_t off, size_t *got) {
    size_t done = 0;
    if (hooks_active()) {
        int rc;
        pthread_mutex_lock(&g_mu);
        rc = dead_check(f, "read");
        pthread_mutex_unlock(&g_mu);
        if (rc) return rc;
    } else if (f->epoch != cur_epoch()) {
        return cairn_err__set(CAIRN_IO, "read %s: simulated crash (file opened before it)", f->path);
    }
    while (done < len) {
        ssize_t r = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return cairn_err__sys(errno, "read %s at offset %llu", f->path, (unsigned long long)(off + done));
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    if (got) {
        *got = done;
        return 0;
    }
    if (done < len)
        return cairn_err__set(CAIRN_CORRUPT, "%s: unexpected end of file reading %zu bytes at offset %llu",
                              f->path, len, (unsigned long long)off);
    return 0;
}

static int write_all(cairn_file *f, const void *buf, size_t len, uint64_t off) {
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(f->fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return cairn_err__sys(errno, "write %s at offset %llu", f->path, (unsigned long long)(off + done));
        }
        done += (size_t)r;
    }
    return 0;
}

int cairn_io__pwrite(cairn_file *f, const void *buf, size_t len, uint64_t off) {
    if (!f || (!buf && len)) return cairn_err__set(CAIRN_INVALID, "cairn_io__pwrite: NULL argument");
    if (f->failed) return dead_check(f, "write");
    if (hooks_active()) {
        int kind = pre_write(f, off, len, 0);
        if (kind < 0) return kind;
        if (kind == CAIRN_FAULT_SHORT) {
            int rc = write_all(f, buf, len / 2, off);
            if (rc) return rc;
            return cairn_err__sys(ENOSPC, "write %s: short write (injected)", f->path);
        }
    } else {
        int rc = fast_check(f, 0, "write");
        if (rc) return rc;
    }
    return write_all(f, buf, len, off);
}

int cairn_io__truncate(cairn_file *f, uint64_t size) {
    if (!f) return cairn_err__set(CAIRN_INVALID, "cairn_io__truncate: NULL argument");
    if (f->failed) return dead_check(f, "truncate");
    if (hooks_active()) {
        int kind = pre_write(f, size, 0, 1);
        if (kind < 0) return kind;
    } else {
        int rc = fast_check(f, 0, "truncate");
        if (rc) return rc;
    }
    if (ftruncate(f->fd, (off_t)size) != 0) return cairn_err__sys(errno, "truncate %s", f->path);
    return 0;
}

int cairn_io__fsync(cairn_file *f) {
    int rc;
    if (!f) return cairn_err__set(CAIRN_INVALID, "cairn_io__fsync: NULL argument");
    if (f->failed) return dead_check(f, "fsync");
    if (hooks_active()) {
        int kind;
        pthread_mutex_lock(&g_mu);
        if ((rc = dead_check(f, "fsync")) != 0) {
            pthread_mutex_unlock(&g_mu);
            return rc;
        }
        kind = count_op(1);
        if (g_crash_sync_at && g_count[1] >= g_crash_sync_at) {
            crash_locked(g_crash_mode, g_crash_seed);
            pthread_mutex_unlock(&g_mu);
            return cairn_err__set(CAIRN_IO, "fsync %s: simulated crash", f->path);
        }
        pthread_mutex_unlock(&g_mu);
        if (kind) {
            f->failed = 1;
            return cairn_err__sys(kind == CAIRN_FAULT_EIO ? EIO : ENOSPC, "fsync %s (injected)", f->path);
        }
    } else if ((rc = fast_check(f, 1, "fsync")) != 0) {
        return rc;
    }
    do rc = fdatasync(f->fd);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        f->failed = 1;
        return cairn_err__sys(errno, "fsync %s", f->path);
    }
    if (hooks_active()) {
        pthread_mutex_lock(&g_mu);
        undo_forget(f);
        pthread_mutex_unlock(&g_mu);
    }
    return 0;
}

int cairn_io__size(cairn_file *f, uint64_t *size) {
    struct stat st;
    if (!f || !size) return cairn_err__set(CAIRN_INVALID, "cairn_io__size: NULL argument");
    if (fstat(f->fd, &st) != 0) return cairn_err__sys(errno, "fstat %s", f->path);
    *size = (uint64_t)st.st_size;
    return 0;
}

int cairn_io__map(cairn_file *f, uint64_t len, const void **out) {
    void *p;
    if (!f || !out || len == 0) return cairn_err__set(CAIRN_INVALID, "cairn_io__map: bad argument");
    p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED) return cairn_err__sys(errno, "mmap %s (%llu bytes)", f->path, (unsigned long long)len);
    *out = p;
    return 0;
}

void cairn_io__unmap(const void *p, uint64_t len) {
    if (p && len) munmap((void *)(uintptr_t)p, (size_t)len);
}

int cairn_io__map_rw(cairn_file *f, uint64_t len, void **out) {
    void *p;
    if (!f || !out || len == 0 || len > (uint64_t)SIZE_MAX)
        return cairn_err__set(CAIRN_INVALID, "cairn_io__map_rw: bad argument");
    p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED) return cairn_err__sys(errno, "mmap %s (%llu bytes)", f->path, (unsigned long long)len);
    *out = p;
    return 0;
}

int cairn_io__reserve(cairn_file *f, uint64_t off, uint64_t len) {
    int e;
    if (!f) return cairn_err__set(CAIRN_INVALID, "cairn_io__reserve: NULL argument");
    if (f->failed) return dead_check(f, "reserve");
    if (len == 0) return 0;
    if (hooks_active()) {
        int kind = pre_write(f, off, len, 0);
        if (kind < 0) return kind;
        /* a short write has no meaning here: reserve nothing and fail like a full disk */
        if (kind == CAIRN_FAULT_SHORT) return cairn_err__sys(ENOSPC, "reserve %s (injected)", f->path);
    } else {
        int rc = fast_check(f, 0, "reserve");
        if (rc) return rc;
    }
    do e = posix_fallocate(f->fd, (off_t)off, (off_t)len);
    while (e == EINTR);
    if (e != 0)
        return cairn_err__sys(e, "reserve %llu bytes at offset %llu of %s", (unsigned long long)len,
                              (unsigned long long)off, f->path);
    return 0;
}

int cairn_io__mwrite(cairn_file *f, void *map, const void *buf, size_t len, uint64_t off) {
    int rc;
    if (!f || !map || (!buf && len)) return cairn_err__set(CAIRN_INVALID, "cairn_io__mwrite: NULL argument");
    if (f->failed) return dead_check(f, "write");
    if (hooks_active()) return cairn_io__pwrite(f, buf, len, off);
    if ((rc = fast_check(f, 0, "write")) != 0) return rc;
    if (len) memcpy((uint8_t *)map + off, buf, len);
    return 0;
}

int cairn_io__hooks_active(void) { return hooks_active(); }

/* ---- paths -------------------------------------------------------------------------------- */

static int path_hook(const char *what, const char *path, int is_sync) {
    int rc = 0;
    if (!hooks_active()) {
        if (is_sync) __atomic_add_fetch(&g_count[1], 1, __ATOMIC_RELAXED);
        return 0;
    }
    pthread_mutex_lock(&g_mu);
    if (g_crashed) {
        rc = cairn_err__set(CAIRN_IO, "%s %s: simulated crash", what, path);
    } else if (is_sync) {
        int kind = count_op(1);
        if (g_crash_sync_at && g_count[1] >= g_crash_sync_at) {
            crash_locked(g_crash_mode, g_crash_seed); /* a directory fsync is a crash point too */
            rc = cairn_err__set(CAIRN_IO, "%s %s: simulated crash", what, path);
        } else if (kind) {
            rc = cairn_err__sys(kind == CAIRN_FAULT_EIO ? EIO : ENOSPC, "%s %s (injected)", what, path);
        }
    }
    pthread_mutex_unlock(&g_mu);
    return rc;
}

/* CAIRN_FAULT_FULL: the space of a file about to go away can be used again. */
static void full_give_back(const char *path) {
    struct stat st;
    if (!hooks_active()) return;
    pthread_mutex_lock(&g_mu);
    if (g_fault_at[0] && g_fault_kind[0] == CAIRN_FAULT_FULL && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_nlink == 1)
        g_full_credit += (uint64_t)st.st_size;
    pthread_mutex_unlock(&g_mu);
}

int cairn_io__rename(const char *from, const char *to) {
    int rc = path_hook("rename", from, 0);
    if (rc) return rc;
    full_give_back(to);
    if (rename(from, to) != 0) return cairn_err__sys(errno, "rename %s to %s", from, to);
    return 0;
}

int cairn_io__unlink(const char *path) {
    int rc = path_hook("unlink", path, 0);
    if (rc) return rc;
    full_give_back(path);
    if (unlink(path) != 0 && errno != ENOENT) return cairn_err__sys(errno, "unlink %s", path);
    return 0;
}

int cairn_io__link(const char *from, const char *to) {
    int rc = path_hook("link", from, 0);
    if (rc) return rc;
    if (link(from, to) != 0) return cairn_err__sys(errno, "link %s to %s", from, to);
    return 0;
}

int cairn_io__sync_dir(const char *dir) {
    int fd, rc = path_hook("fsync directory", dir, 1);
    if (rc) return rc;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return cairn_err__sys(errno, "open directory %s", dir);
    if (fsync(fd) != 0 && errno != EINVAL) {
        rc = cairn_err__sys(errno, "fsync directory %s", dir);
    }
    close(fd);
    return rc;
}

int cairn_io__mkdir(const char *path) {
    struct stat st;
    int rc = path_hook("mkdir", path, 0);
    if (rc) return rc;
    if (mkdir(path, 0755) == 0) return 0;
    if (errno == EEXIST) {
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
        return cairn_err__set(CAIRN_PATH, "mkdir %s: exists and is not a directory", path);
    }
    return cairn_err__sys(errno, "mkdir %s", path);
}

int cairn_io__stat(const char *path, uint64_t *size) {
    struct stat st;
    if (!path) return cairn_err__set(CAIRN_INVALID, "cairn_io__stat: NULL path");
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return 0;
        return cairn_err__sys(errno, "stat %s", path);
    }
    if (size) *size = (uint64_t)st.st_size;
    if (S_ISDIR(st.st_mode)) return 2;
    return 1;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int cairn_io__list(const char *dir, char ***names, size_t *count) {
    DIR *d;
    struct dirent *e;
    char **v = NULL;
    size_t n = 0, cap = 0;
    if (!dir || !names || !count) return cairn_err__set(CAIRN_INVALID, "cairn_io__list: NULL argument");
    *names = NULL;
    *count = 0;
    if (!(d = opendir(dir))) return cairn_err__sys(errno, "open directory %s", dir);
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (n == cap) {
            char **nv;
            cap = cap ? cap * 2 : 16;
            nv = (char **)realloc(v, cap * sizeof *nv);
            if (!nv) goto nomem;
            v = nv;
        }
        if (!(v[n] = cairn_str__dup(e->d_name))) goto nomem;
        n++;
    }
    closedir(d);
    if (n) qsort(v, n, sizeof *v, cmp_names);
    *names = v;
    *count = n;
    return 0;
nomem:
    closedir(d);
    cairn_io__list_free(v, n);
    return cairn_err__set(CAIRN_NOMEM, "listing %s: out of memory", dir);
}

void cairn_io__list_free(char **names, size_t count) {
    size_t i;
    if (!names) return;
    for (i = 0; i < count; i++) free(names[i]);
    free(names);
}

int cairn_io__write_atomic(const char *path, const void *data, size_t len) {
    cairn_file *f = NULL;
    char *tmp, *dir;
    size_t n = strlen(path);
    int rc;
    if (!(tmp = (char *)malloc(n + 5))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    rc = cairn_io__open(&f, tmp, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC);
    if (!rc) rc = cairn_io__pwrite(f, data, len, 0);
    if (!rc) rc = cairn_io__fsync(f);
    cairn_io__close(f);
    if (!rc) rc = cairn_io__rename(tmp, path);
    if (rc) {
        int saved = cairn_errcode();
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        (void)cairn_io__unlink(tmp);
        cairn_err__set(saved, "%s", msg);
        free(tmp);
        return rc;
    }
    free(tmp);
    if (!(dir = cairn_path__dir(path))) return CAIRN_NOMEM;
    rc = cairn_io__sync_dir(dir);
    free(dir);
    return rc;
}

int cairn_io__read_all(const char *path, void **data, size_t *len) {
    cairn_file *f = NULL;
    uint64_t size = 0;
    void *buf;
    int rc;
    if (!data || !len) return cairn_err__set(CAIRN_INVALID, "cairn_io__read_all: NULL argument");
    *data = NULL;
    *len = 0;
    if ((rc = cairn_io__open(&f, path, CAIRN_IO_RDONLY)) != 0) return rc;
    if ((rc = cairn_io__size(f, &size)) != 0) goto out;
    if (size > (uint64_t)SIZE_MAX - 1) {
        rc = cairn_err__set(CAIRN_TOOBIG, "%s: too large to read", path);
        goto out;
    }
    if (!(buf = malloc((size_t)size + 1))) {
        rc = cairn_err__set(CAIRN_NOMEM, "%s: out of memory reading %llu bytes", path, (unsigned long long)size);
        goto out;
    }
    if ((rc = cairn_io__pread(f, buf, (size_t)size, 0, NULL)) != 0) {
        free(buf);
        goto out;
    }
    *data = buf;
    *len = (size_t)size;
out:
    cairn_io__close(f);
    return rc;
}

/* ---- hooks API ---------------------------------------------------------------------------- */

void cairn_io__fault_reset(void) {
    pthread_mutex_lock(&g_mu);
    __atomic_store_n(&g_count[0], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_count[1], 0, __ATOMIC_RELAXED);
    g_fault_at[0] = g_fault_at[1] = 0;
    g_fired = 0;
    g_full_credit = 0;
    recompute_active();
    pthread_mutex_unlock(&g_mu);
}

void cairn_io__fault_arm(int ops, uint64_t nth, int kind, int sticky) {
    int k;
    pthread_mutex_lock(&g_mu);
    for (k = 0; k < 2; k++) {
        if (!(ops & (k == 0 ? CAIRN_FAULT_WRITE : CAIRN_FAULT_SYNC))) continue;
        g_fault_at[k] = (kind && nth) ? g_count[k] + nth : 0;
        g_fault_kind[k] = kind;
        g_fault_sticky[k] = sticky;
    }
    g_full_credit = 0;
    recompute_active();
    pthread_mutex_unlock(&g_mu);
}

uint64_t cairn_io__fault_count(int ops) {
    uint64_t n = 0;
    pthread_mutex_lock(&g_mu);
    if (ops & CAIRN_FAULT_WRITE) n += __atomic_load_n(&g_count[0], __ATOMIC_RELAXED);
    if (ops & CAIRN_FAULT_SYNC) n += __atomic_load_n(&g_count[1], __ATOMIC_RELAXED);
    pthread_mutex_unlock(&g_mu);
    return n;
}

uint64_t cairn_io__fault_fired(void) {
    uint64_t n;
    pthread_mutex_lock(&g_mu);
    n = g_fired;
    pthread_mutex_unlock(&g_mu);
    return n;
}

void cairn_io__crash_track(int on) {
    size_t i;
    pthread_mutex_lock(&g_mu);
    for (i = 0; i < g_nundo; i++) undo_free(&g_undo[i]);
    g_nundo = 0;
    if (!on) {
        free(g_undo);
        g_undo = NULL;
        g_capundo = 0;
    }
    g_track = on;
    g_crashed = 0;
    g_crash_sync_at = 0;
    recompute_active();
    pthread_mutex_unlock(&g_mu);
}

uint64_t cairn_io__crash_now(int mode, uint64_t seed) {
    uint64_t n;
    pthread_mutex_lock(&g_mu);
    n = crash_locked(mode, seed);
    pthread_mutex_unlock(&g_mu);
    return n;
}

void cairn_io__crash_at_sync(uint64_t nth, int mode, uint64_t seed) {
    pthread_mutex_lock(&g_mu);
    g_crash_sync_at = nth ? g_count[1] + nth : 0;
    g_crash_mode = mode;
    g_crash_seed = seed;
    recompute_active();
    pthread_mutex_unlock(&g_mu);
}

int cairn_io__crashed(void) {
    int c;
    pthread_mutex_lock(&g_mu);
    c = g_crashed;
    pthread_mutex_unlock(&g_mu);
    return c;
}
