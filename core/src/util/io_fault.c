/*
 * io_fault.c - the test-only hooks of the I/O layer (io.c): fault injection and crash simulation.
 *
 *  - inject faults: fail the nth write or fsync with EIO or ENOSPC, store half a write and then
 *    fail, or play a full disk (cairn_io__fault_arm);
 *  - hold the next fsync of a file until a number of writes have been made (cairn_io__fault_hold_sync:
 *    lets a test make writers overlap one fsync without timing);
 *  - simulate crashes: while tracking, each write/truncate not yet covered by an fsync of its
 *    file keeps an undo record (the bytes it overwrote and the old file size). A crash reverts
 *    them newest first, either all (DROP) or all but a prefix whose last write is torn at a
 *    random byte (TEAR). After a crash every operation fails with CAIRN_IO until tracking is
 *    switched off (or on again), and files opened before the crash stay dead for good, so an
 *    engine handle can be closed without anything it does reaching the disk.
 * Undo records hold a dup()ed descriptor, so they follow a file across rename and close.
 * Metadata (create, rename, unlink) is treated as durable at once.
 *
 * Off the fast path: io.c reads one flag word, cairn_io__hooks, with a relaxed load per call
 * and enters this file only when it is non-zero, which happens only once a test called one of
 * the functions below (see io_internal.h for the bits). Op counters are kept only from then on.
 * The hooks stay compiled in every build (the fault and crash suites run in release builds too).
 */
#include "io_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

unsigned cairn_io__hooks;

/* ---- state (all under g_mu) ---------------------------------------------------------------- */
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
static int g_counting;          /* a test asked for op counts (or armed anything): count ops */
static int g_stale;             /* a simulated crash happened: files opened before it are dead */
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
static int g_hold_armed;         /* the next file fsync waits until g_count[0] reaches g_hold_at */
static int g_holding;            /* an fsync is waiting (g_hold_cv is broadcast at every write) */
static uint64_t g_hold_at;
static pthread_cond_t g_hold_cv = PTHREAD_COND_INITIALIZER;

/* Publish the hooks word (under g_mu) from the state. */
static void recompute_active(void) {
    unsigned h = 0;
    if (g_counting) h |= CAIRN_IOH_COUNT;
    if (g_stale) h |= CAIRN_IOH_STALE;
    if (g_track || g_crashed || g_fault_at[0] || g_fault_at[1] || g_crash_sync_at || g_hold_armed || g_holding)
        h |= CAIRN_IOH_ACTIVE;
    __atomic_store_n(&cairn_io__hooks, h, __ATOMIC_RELEASE);
}

/* Every hooks API entry point: from now on ops are counted. */
static void start_counting(void) { g_counting = 1; }

static uint64_t cur_epoch(void) { return __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE); }
uint64_t cairn_iof__epoch(void) { return cur_epoch(); }

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
    g_stale = 1;
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
    if (g_holding) pthread_cond_broadcast(&g_hold_cv);
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


/* ---- the entry points of io.c (called only while cairn_io__hooks != 0) ------------------- */

int cairn_iof__dead(const cairn_file *f, const char *what) { return dead_check(f, what); }

/* Not ACTIVE: count (if counting) and refuse files that a simulated crash killed. */
static int light_check(cairn_file *f, int k, unsigned h, const char *what) {
    if (h & CAIRN_IOH_COUNT) __atomic_add_fetch(&g_count[k], 1, __ATOMIC_RELAXED);
    if (f->epoch != cur_epoch())
        return cairn_err__set(CAIRN_IO, "%s %s: simulated crash (file opened before it)", what, f->path);
    return 0;
}

int cairn_iof__open(const char *path) {
    int rc = 0;
    pthread_mutex_lock(&g_mu);
    if (g_crashed) rc = cairn_err__set(CAIRN_IO, "open %s: simulated crash", path);
    pthread_mutex_unlock(&g_mu);
    return rc;
}

int cairn_iof__read(cairn_file *f) {
    int rc;
    if (!(cairn_io__hooks_load() & CAIRN_IOH_ACTIVE)) {
        if (f->epoch != cur_epoch())
            return cairn_err__set(CAIRN_IO, "read %s: simulated crash (file opened before it)", f->path);
        return 0;
    }
    pthread_mutex_lock(&g_mu);
    rc = dead_check(f, "read");
    pthread_mutex_unlock(&g_mu);
    return rc;
}

int cairn_iof__write(cairn_file *f, uint64_t off, uint64_t len, int is_trunc, const char *what) {
    unsigned h = cairn_io__hooks_load();
    if (!(h & CAIRN_IOH_ACTIVE)) return light_check(f, 0, h, what);
    return pre_write(f, off, len, is_trunc);
}

int cairn_iof__sync(cairn_file *f) {
    unsigned h = cairn_io__hooks_load();
    int rc, kind;
    if (!(h & CAIRN_IOH_ACTIVE)) return light_check(f, 1, h, "fsync");
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
    if (g_hold_armed) {
        /* cairn_io__fault_hold_sync: this fsync waits for the writes (a reset lets it go) */
        g_hold_armed = 0;
        g_holding = 1;
        while (g_holding && __atomic_load_n(&g_count[0], __ATOMIC_RELAXED) < g_hold_at)
            pthread_cond_wait(&g_hold_cv, &g_mu);
        g_holding = 0;
        recompute_active();
    }
    pthread_mutex_unlock(&g_mu);
    if (kind) {
        f->failed = 1;
        return cairn_err__sys(kind == CAIRN_FAULT_EIO ? EIO : ENOSPC, "fsync %s (injected)", f->path);
    }
    return 0;
}

void cairn_iof__synced(cairn_file *f) {
    if (!(cairn_io__hooks_load() & CAIRN_IOH_ACTIVE)) return;
    pthread_mutex_lock(&g_mu);
    undo_forget(f);
    pthread_mutex_unlock(&g_mu);
}

int cairn_iof__path(const char *what, const char *path, int is_sync) {
    int rc = 0;
    unsigned h = cairn_io__hooks_load();
    if (!(h & CAIRN_IOH_ACTIVE)) {
        if (is_sync && (h & CAIRN_IOH_COUNT)) __atomic_add_fetch(&g_count[1], 1, __ATOMIC_RELAXED);
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

void cairn_iof__give_back(const char *path) {
    struct stat st;
    if (!(cairn_io__hooks_load() & CAIRN_IOH_ACTIVE)) return;
    pthread_mutex_lock(&g_mu);
    if (g_fault_at[0] && g_fault_kind[0] == CAIRN_FAULT_FULL && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_nlink == 1)
        g_full_credit += (uint64_t)st.st_size;
    pthread_mutex_unlock(&g_mu);
}

int cairn_io__hooks_active(void) { return (cairn_io__hooks_load() & CAIRN_IOH_ACTIVE) != 0; }

/* ---- hooks API ---------------------------------------------------------------------------- */

void cairn_io__fault_reset(void) {
    pthread_mutex_lock(&g_mu);
    start_counting();
    __atomic_store_n(&g_count[0], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_count[1], 0, __ATOMIC_RELAXED);
    g_fault_at[0] = g_fault_at[1] = 0;
    g_fired = 0;
    g_full_credit = 0;
    g_hold_armed = g_holding = 0;
    pthread_cond_broadcast(&g_hold_cv);
    recompute_active();
    pthread_mutex_unlock(&g_mu);
}

void cairn_io__fault_arm(int ops, uint64_t nth, int kind, int sticky) {
    int k;
    pthread_mutex_lock(&g_mu);
    start_counting();
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

void cairn_io__fault_hold_sync(uint64_t writes) {
    pthread_mutex_lock(&g_mu);
    start_counting();
    g_hold_at = g_count[0] + writes;
    g_hold_armed = 1;
    recompute_active();
    pthread_mutex_unlock(&g_mu);
}

uint64_t cairn_io__fault_count(int ops) {
    uint64_t n = 0;
    pthread_mutex_lock(&g_mu);
    if (!g_counting) {
        start_counting();
        recompute_active();
    }
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
    start_counting();
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
    start_counting();
    n = crash_locked(mode, seed);
    pthread_mutex_unlock(&g_mu);
    return n;
}

void cairn_io__crash_at_sync(uint64_t nth, int mode, uint64_t seed) {
    pthread_mutex_lock(&g_mu);
    start_counting();
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
