/*
 * util.h - the substrate every engine shares (internal; not installed).
 *
 *   errors   thread-local last error with detail; errno mapping
 *   crc32c   Castagnoli CRC (SSE4.2 when the CPU has it, slicing-by-8 otherwise)
 *   io       the ONE file I/O layer (io.c): every engine's file access goes through it, so tests
 *            can inject faults (EIO, ENOSPC, short writes, a full disk) and simulate crashes (drop
 *            or tear every write not yet fsynced); those hooks live in io_fault.c, off the fast
 *            path (io_internal.h)
 *   lock     kernel advisory lock (flock) for a single writer across processes (one deadline
 *            for several), and the writer-preferring rwlock of every engine handle
 *   misc     little-endian codecs, clock (fakeable for tests), path helpers
 *   json     strict JSON validation and the top-level merge behind every binding's update
 *   containers.h  (its own header) u64 hash map, treap with lower bound, growable arrays
 *
 * Naming: cross-file internals are cairn_<module>__<name> (DESIGN.md section 3).
 */
#ifndef CAIRN_UTIL_H
#define CAIRN_UTIL_H

#include "cairn.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- errors ---------------------------------------------------------------------------- */

/* Set the thread-local last error to `code` with a printf-style message; returns `code`. */
int cairn_err__set(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Map errno `errnum` to a Cairn code (ENOSPC->NOSPC, EACCES/EPERM/EROFS->PERM,
 * ENOENT/ENOTDIR->PATH, ENOMEM->NOMEM, else IO), set the message "<fmt>: <strerror>"
 * and return the code. */
int cairn_err__sys(int errnum, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int cairn_err__from_errno(int errnum);
/* Save the thread's last error (code and message) before cleanup that may overwrite it, and put
 * it back after: cairn_err_saved s; cairn_err__save(&s); cleanup...; return cairn_err__restore(&s);
 * restore returns the saved code. */
#define CAIRN_ERR_MSG_MAX 512
typedef struct cairn_err_saved {
    int code;
    char msg[CAIRN_ERR_MSG_MAX];
} cairn_err_saved;
void cairn_err__save(cairn_err_saved *s);
int cairn_err__restore(const cairn_err_saved *s);
/* As cairn_err__restore, with `code` as the error code (the caller's rc, when the cleanup's code
 * is not the one to report); returns code. */
int cairn_err__restore_as(const cairn_err_saved *s, int code);
/* The one message of a fail-stopped handle (every engine): sets CAIRN_FAILED with
 * "<fn>: <path>: the handle failed after a fatal I/O error; close and reopen it" and returns it. */
int cairn_err__failed(const char *fn, const char *path);

/* ---- crc32c ----------------------------------------------------------------------------- */

/* Extend `crc` over buf[0..len). Start with 0: cairn_crc32c__update(0, "123456789", 9)
 * == 0xE3069283 (the standard check value). */
uint32_t cairn_crc32c__update(uint32_t crc, const void *buf, size_t len);
/* 1 if the hardware path is in use (for tests and stats). */
int cairn_crc32c__hw(void);
/* Force the portable path (tests compare both). */
void cairn_crc32c__force_sw(int on);

/* ---- little-endian codecs --------------------------------------------------------------- */

/* On a little-endian host the 32- and 64-bit ones are one unaligned load or store (memcpy), also
 * in builds that do not optimize; elsewhere bytes are assembled in order. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CAIRN_LE_HOST 1
#else
#define CAIRN_LE_HOST 0
#endif

static inline void cairn_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void cairn_put32(uint8_t *p, uint32_t v) {
#if CAIRN_LE_HOST
    memcpy(p, &v, 4);
#else
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
#endif
}
static inline void cairn_put64(uint8_t *p, uint64_t v) {
#if CAIRN_LE_HOST
    memcpy(p, &v, 8);
#else
    cairn_put32(p, (uint32_t)v); cairn_put32(p + 4, (uint32_t)(v >> 32));
#endif
}
static inline uint16_t cairn_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t cairn_get32(const uint8_t *p) {
#if CAIRN_LE_HOST
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
#endif
}
static inline uint64_t cairn_get64(const uint8_t *p) {
#if CAIRN_LE_HOST
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    return (uint64_t)cairn_get32(p) | ((uint64_t)cairn_get32(p + 4) << 32);
#endif
}

/* ---- clock ------------------------------------------------------------------------------ */

/* Wall clock in Unix ms (used for expiry). Tests may fake it. */
int64_t cairn_time__now_ms(void);
/* Fake the wall clock (ms > 0) or return to the real one (0). Process-wide. */
void cairn_time__set_fake(int64_t ms);
/* Monotonic clock in ns (for timeouts). */
uint64_t cairn_time__mono_ns(void);

/* ---- paths ------------------------------------------------------------------------------ */

/* malloc'd "a/b" (NULL on ENOMEM, with the error set). */
char *cairn_path__join(const char *a, const char *b);
/* malloc'd copy of the directory part of `path` ("." if none). */
char *cairn_path__dir(const char *path);
/* malloc'd strdup (NULL on ENOMEM, with the error set). */
char *cairn_str__dup(const char *s);

/* ---- JSON (json.c) ------------------------------------------------------------------------
 * Top-level merge, the one implementation behind every binding's JSON `update`. Both `obj` and
 * `patch` must be strict RFC 8259 JSON texts whose value is an object (else CAIRN_TYPE with a
 * message naming the problem and its byte offset); nesting deeper than CAIRN_JSON_MAX_DEPTH is
 * CAIRN_TYPE. The result is obj with every top-level member of patch replacing the member of the
 * same name (names compared after unescaping: "\u0061" equals "a") or appended in patch order.
 * Values are copied as their exact source text (a nested object in patch replaces the old one
 * whole); whitespace outside strings is dropped. Duplicate names in obj: the LAST one wins (it
 * takes the place of the first; the earlier ones are dropped); duplicates in patch: the last
 * wins too. *out (not NUL-terminated, *outlen bytes) is malloc'd: free() it. Errors: TYPE,
 * NOMEM, INVALID (NULL pointers). */
#define CAIRN_JSON_MAX_DEPTH 512
int cairn_json__merge_top(const uint8_t *obj, size_t olen, const uint8_t *patch, size_t plen,
                          uint8_t **out, size_t *outlen);
/* 0 if buf[0..len) is one strict RFC 8259 JSON text (depth <= CAIRN_JSON_MAX_DEPTH), else
 * CAIRN_TYPE with a message. */
int cairn_json__validate(const uint8_t *buf, size_t len);

/* ---- the I/O layer ---------------------------------------------------------------------- */

typedef struct cairn_file cairn_file;

#define CAIRN_IO_RDONLY 0x0
#define CAIRN_IO_RDWR 0x1
#define CAIRN_IO_CREATE 0x2 /* create if missing */
#define CAIRN_IO_EXCL 0x4   /* with CREATE: fail CAIRN_EXISTS if present */
#define CAIRN_IO_TRUNC 0x8

/* Open `path`. *out owned by the caller (cairn_io__close). Errors: PATH (missing),
 * PERM, EXISTS (EXCL), IO. */
int cairn_io__open(cairn_file **out, const char *path, int flags);
void cairn_io__close(cairn_file *f);
const char *cairn_io__path(const cairn_file *f);
/* Read exactly len bytes at off. If got is NULL a short read (EOF) is CAIRN_CORRUPT
 * ("unexpected end of file"); otherwise *got is the number of bytes read and 0 is returned. */
int cairn_io__pread(cairn_file *f, void *buf, size_t len, uint64_t off, size_t *got);
/* Write exactly len bytes at off (OS short writes are retried). On failure some prefix of the
 * bytes may have reached the file (exactly as on a real disk). Errors: IO, NOSPC, FAILED. */
int cairn_io__pwrite(cairn_file *f, const void *buf, size_t len, uint64_t off);
/* fsync (fdatasync where enough). A failure is fatal for this file: every later operation on it
 * returns CAIRN_FAILED, and the engine must fail-stop its handle (never retry an fsync). */
int cairn_io__fsync(cairn_file *f);
int cairn_io__truncate(cairn_file *f, uint64_t size);
/* Start writing [off, off+len) of f back to the disk without waiting for it (Linux:
 * sync_file_range with SYNC_FILE_RANGE_WRITE; elsewhere, and while test hooks are active, nothing):
 * a hint that makes a later cairn_io__fsync shorter. It makes nothing durable; errors are ignored
 * (the fsync that follows reports them). */
void cairn_io__writeback(cairn_file *f, uint64_t off, uint64_t len);
int cairn_io__size(cairn_file *f, uint64_t *size);
/* Read-only shared mapping of the first len bytes (len > 0). Unmap with cairn_io__unmap. */
int cairn_io__map(cairn_file *f, uint64_t len, const void **out);
void cairn_io__unmap(const void *p, uint64_t len);
/* Map the pages of [p, p + len) of a read-write shared mapping writable now, in one call, rather
 * than one page fault per page at the first store (a hint; blocks must be allocated already). */
void cairn_io__prefault(void *p, size_t len);
/* Zeroed memory for a large table probed at random (huge pages where the system gives them);
 * free it with cairn_mem__big_free and the same len. NULL: out of memory. */
void *cairn_mem__big_alloc(size_t len);
void cairn_mem__big_free(void *p, size_t len);
/* Read-write shared mapping of the first len bytes (len > 0; bytes past the end of the file must
 * not be touched: reserve them first). Stores into it reach the page cache at once (they survive
 * a process kill like pwrite) and cairn_io__fsync of f makes them durable. Unmap with
 * cairn_io__unmap. */
int cairn_io__map_rw(cairn_file *f, uint64_t len, void **out);
/* Allocate disk blocks for [off, off+len), growing the file (zeros) if it ends before off+len, so
 * that later stores into a mapping of that range cannot fail for lack of space (no SIGBUS).
 * A write-class op for fault injection and crash tracking. Errors: NOSPC, IO, FAILED. */
int cairn_io__reserve(cairn_file *f, uint64_t off, uint64_t len);
/* Write len bytes at off of f through map, a cairn_io__map_rw mapping of f covering [off, off+len)
 * whose blocks are reserved: a memcpy, counted as a write op. While test hooks are active it is a
 * cairn_io__pwrite instead (coherent with the mapping), so injected faults and simulated crashes
 * see every such write. */
int cairn_io__mwrite(cairn_file *f, void *map, const void *buf, size_t len, uint64_t off);
/* Copy the first len bytes of `in` (they must exist) to offset 0 of `out`, an empty file. With
 * `share` the copy may share blocks with `in`: a reflink (ioctl FICLONE/FICLONERANGE: copy on
 * write, no data moved) where the file system can, else copy_file_range (the kernel copies, or
 * shares on file systems that do so), else a read/write loop. Without `share` (a backup must not
 * share the fate of the blocks it protects) always the read/write loop. Not durable until
 * cairn_io__fsync(out). Each MiB is a write op of `out` for the test hooks; while they are active
 * there is no reflink: the copy goes MiB by MiB, so every injected fault and simulated crash
 * lands as for pwrite. Errors: IO, NOSPC, FAILED, CORRUPT (in is shorter than len). */
int cairn_io__copy(cairn_file *in, cairn_file *out, uint64_t len, int share);
/* 1 while fault injection or crash tracking is active (callers then avoid mappings that would
 * bypass them), else 0. */
int cairn_io__hooks_active(void);

/* Path operations. rename/unlink/link are treated as durable once cairn_io__sync_dir of the
 * directory returns. */
int cairn_io__rename(const char *from, const char *to);
int cairn_io__unlink(const char *path); /* a missing file is not an error */
int cairn_io__link(const char *from, const char *to);
int cairn_io__sync_dir(const char *dir);
int cairn_io__mkdir(const char *path); /* an existing directory is not an error */
/* 0: missing, 1: regular file, 2: directory, <0 error (PERM, IO). */
int cairn_io__stat(const char *path, uint64_t *size);
/* Names in `dir` (no "." or ".."), sorted; free with cairn_io__list_free. */
int cairn_io__list(const char *dir, char ***names, size_t *count);
void cairn_io__list_free(char **names, size_t count);
/* Durable replace: write path.tmp, fsync it, rename over path, fsync the directory. */
int cairn_io__write_atomic(const char *path, const void *data, size_t len);
/* Whole file into a malloc'd buffer (caller frees with free()). */
int cairn_io__read_all(const char *path, void **data, size_t *len);

/* ---- fault injection (tests) ------------------------------------------------------------ */

#define CAIRN_FAULT_WRITE 0x1 /* pwrite (and truncate) */
#define CAIRN_FAULT_SYNC 0x2  /* fsync and sync_dir */
#define CAIRN_FAULT_ANY 0x3

typedef enum cairn_fault_kind {
    CAIRN_FAULT_NONE = 0,
    CAIRN_FAULT_EIO = 1,    /* the op fails with EIO, nothing written */
    CAIRN_FAULT_ENOSPC = 2, /* the op fails with ENOSPC, nothing written */
    CAIRN_FAULT_SHORT = 3,  /* a write stores its first half, then fails with ENOSPC */
    CAIRN_FAULT_FULL = 4    /* a full disk (arm it sticky): an op that needs new space (a write or
                               reserve past the end of the file, a growing truncate) fails with
                               ENOSPC, unless space was given back since it was armed (shrinking
                               truncates, unlinks, renames over a file: that many bytes can be
                               used again); writes inside a file always work */
} cairn_fault_kind;

/* Forget all armed faults and zero the op counters. */
void cairn_io__fault_reset(void);
/* Fail the nth (1-based, counted from now) op in `ops` with `kind`. sticky: every later
 * matching op fails too (a dead disk); otherwise only that one (a transient error). */
void cairn_io__fault_arm(int ops, uint64_t nth, int kind, int sticky);
/* Ops in `ops` seen since the last reset (to enumerate every write/fsync of a workload). */
uint64_t cairn_io__fault_count(int ops);
/* How many faults have been injected since the last reset. */
uint64_t cairn_io__fault_fired(void);
/* The next fsync of a file (not a directory) waits, before it syncs, until `writes` write-class
 * ops (writes, truncates, reserves) have been made from now on, by any thread; then it goes on
 * as usual. One fsync only; cairn_io__fault_reset lets a waiting one go. */
void cairn_io__fault_hold_sync(uint64_t writes);

/* ---- crash simulation (tests) ------------------------------------------------------------
 * While tracking, the layer keeps an undo record of every write and truncate not yet covered
 * by an fsync of that file. A simulated crash reverts them (all, or all but a prefix with the
 * last kept write torn at a random byte), then makes every file opened before the crash dead:
 * every later operation on it fails with CAIRN_IO, so the engine handle can be closed without
 * writing anything: after a crash EVERY I/O operation (open, write, fsync, rename, ...) fails with
 * CAIRN_IO until cairn_io__crash_track() is called again (0 to stop, 1 to track anew), and files
 * opened before the crash stay dead for good. Typical test: track(1), work, crash (or crash_at_sync),
 * close the engine handle, track(0), reopen, verify.
 * Files created, renamed and unlinked are assumed durable (metadata). */
typedef enum cairn_crash_mode {
    CAIRN_CRASH_DROP = 1, /* lose every unsynced write */
    CAIRN_CRASH_TEAR = 2  /* keep a random prefix of unsynced writes, tear the last kept one */
} cairn_crash_mode;

void cairn_io__crash_track(int on);
/* Crash now. Returns the number of unsynced writes that were reverted (fully or partly). */
uint64_t cairn_io__crash_now(int mode, uint64_t seed);
/* Crash automatically just before the nth fsync of a file or directory (1-based, counted from
 * now) takes effect. */
void cairn_io__crash_at_sync(uint64_t nth, int mode, uint64_t seed);
/* 1 once a simulated crash happened (until cairn_io__crash_track(0)). */
int cairn_io__crashed(void);

/* ---- public structs ---------------------------------------------------------------------
 * Stats structs start with `uint32_t size` (the caller's sizeof; 0: this header's). check: a size
 * smaller than the `size` field itself is CAIRN_INVALID; copy: fills min(size, full) bytes of `dst`
 * from `src` and stores that count in dst->size (the first 4 bytes). */
int cairn_stats__check(uint32_t size, size_t full, const char *fn);
void cairn_stats__copy(void *dst, const void *src, size_t full);

/* ---- fork safety -----------------------------------------------------------------------
 * A handle belongs to the process that opened it. Every open records cairn_fork__gen(); a
 * pthread_atfork child handler bumps the generation, so a handle used in a child after fork()
 * sees a different number (an integer compare, no getpid() syscall on the hot path). In the
 * child, every call on such a handle is CAIRN_FORKED, and closing it frees memory only: it
 * writes nothing and keeps the parent's lock (flock locks are shared across fork). */
extern uint32_t cairn_fork__generation;
/* The current generation (registers the atfork handler on first use). */
uint32_t cairn_fork__gen(void);
/* 1 if a handle opened at generation `gen` is being used in another process. */
static inline int cairn_fork__foreign(uint32_t gen) {
    return __atomic_load_n(&cairn_fork__generation, __ATOMIC_RELAXED) != gen;
}
/* Sets and returns CAIRN_FORKED naming `fn`. */
int cairn_fork__err(const char *fn);

/* ---- lock ------------------------------------------------------------------------------- */

typedef struct cairn_lock cairn_lock;
/* Take an exclusive advisory lock (flock) on `path` (created if missing). A second holder, in
 * this process or another, gets CAIRN_LOCKED at once (timeout_ms 0) or CAIRN_BUSY after
 * waiting timeout_ms. Released by cairn_lock__release or when the process dies. */
int cairn_lock__acquire(cairn_lock **out, const char *path, unsigned timeout_ms);
/* As cairn_lock__acquire, waiting at most until the monotonic deadline_ns (cairn_time__mono_ns)
 * when timeout_ms is not 0: an engine that takes several locks computes one deadline, so an open
 * waits at most timeout_ms in all (CAIRN_BUSY names timeout_ms). */
int cairn_lock__acquire_until(cairn_lock **out, const char *path, unsigned timeout_ms, uint64_t deadline_ns);
/* The deadline of a wait of timeout_ms from now. */
uint64_t cairn_lock__deadline(unsigned timeout_ms);
/* Initialise the rwlock of an engine handle: writer-preferring where the C library offers it
 * (glibc), so a stream of overlapping readers cannot starve a writer. Readers must then never
 * take the read lock recursively (a waiting writer would deadlock them). */
void cairn_rwlock__init(pthread_rwlock_t *rw);
/* Releases the lock and closes its file. In a child process after fork() it only closes the
 * child's descriptor: the lock (shared with the parent through fork) stays the parent's. */
void cairn_lock__release(cairn_lock *l);

#endif /* CAIRN_UTIL_H */
