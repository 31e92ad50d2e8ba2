/*
 * io.c - the one file I/O layer of Cairn: every engine reads and writes files only through these
 * functions.
 *
 * Durable replace (cairn_io__write_atomic): write "<path>.tmp", fsync it, rename over <path>,
 * fsync the directory. A failed fsync marks the file failed: every later operation on it
 * returns CAIRN_FAILED (fsync is never retried: the kernel may have dropped the dirty pages).
 *
 * The test hooks (fault injection, crash simulation, op counters) live in io_fault.c. Each
 * operation here checks the one word cairn_io__hooks (a relaxed load) and calls into them only
 * when a test switched them on (io_internal.h); otherwise it is the plain system call.
 */
#include "io_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/fs.h> /* FICLONE, FICLONERANGE */
#include <sys/ioctl.h>
#include <sys/syscall.h> /* SYS_copy_file_range: the libc wrapper needs _GNU_SOURCE */
#endif

/* ---- files -------------------------------------------------------------------------------- */

int cairn_io__open(cairn_file **out, const char *path, int flags) {
    int oflags = O_CLOEXEC, fd;
    cairn_file *f;
    if (!out || !path) return cairn_err__set(CAIRN_INVALID, "cairn_io__open: NULL argument");
    *out = NULL;
    if ((cairn_io__hooks_load() & CAIRN_IOH_ACTIVE) && cairn_iof__open(path) != 0) return CAIRN_IO;
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
    f->epoch = cairn_iof__epoch();
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

int cairn_io__pread(cairn_file *f, void *buf, size_t len, uint64_t off, size_t *got) {
    size_t done = 0;
    if (cairn_io__hooks_load()) {
        int rc = cairn_iof__read(f);
        if (rc) return rc;
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
    if (f->failed) return cairn_iof__dead(f, "write");
    if (cairn_io__hooks_load()) {
        int kind = cairn_iof__write(f, off, len, 0, "write");
        if (kind < 0) return kind;
        if (kind == CAIRN_FAULT_SHORT) {
            int rc = write_all(f, buf, len / 2, off);
            if (rc) return rc;
            return cairn_err__sys(ENOSPC, "write %s: short write (injected)", f->path);
        }
    }
    return write_all(f, buf, len, off);
}

int cairn_io__truncate(cairn_file *f, uint64_t size) {
    if (!f) return cairn_err__set(CAIRN_INVALID, "cairn_io__truncate: NULL argument");
    if (f->failed) return cairn_iof__dead(f, "truncate");
    if (cairn_io__hooks_load()) {
        int kind = cairn_iof__write(f, size, 0, 1, "truncate");
        if (kind < 0) return kind;
    }
    if (ftruncate(f->fd, (off_t)size) != 0) return cairn_err__sys(errno, "truncate %s", f->path);
    return 0;
}

int cairn_io__fsync(cairn_file *f) {
    int rc;
    if (!f) return cairn_err__set(CAIRN_INVALID, "cairn_io__fsync: NULL argument");
    if (f->failed) return cairn_iof__dead(f, "fsync");
    if (cairn_io__hooks_load() && (rc = cairn_iof__sync(f)) != 0) return rc;
    do rc = fdatasync(f->fd);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        f->failed = 1;
        return cairn_err__sys(errno, "fsync %s", f->path);
    }
    if (cairn_io__hooks_load()) cairn_iof__synced(f);
    return 0;
}

void cairn_io__writeback(cairn_file *f, uint64_t off, uint64_t len) {
    /* a hint: nothing here makes bytes durable or changes what a crash keeps, so the test hooks
     * (which decide that) need not see it, and while they are active it does nothing */
    if (!f || f->failed || len == 0 || cairn_io__hooks_load()) return;
#if defined(__linux__) && defined(SYS_sync_file_range)
    (void)syscall(SYS_sync_file_range, f->fd, (long long)off, (long long)len, 2u /* SYNC_FILE_RANGE_WRITE */);
#else
    (void)off;
#endif
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

void cairn_io__prefault(void *p, size_t len) {
#ifdef MADV_POPULATE_WRITE
    if (p && len) (void)madvise(p, len, MADV_POPULATE_WRITE); /* a hint: older kernels say EINVAL */
#else
    (void)p;
    (void)len;
#endif
}

/* Tables probed at random (the KV keydir) take a TLB miss per probe in 4 KiB pages: from
 * CAIRN_BIG_MIN bytes up they are anonymous mappings the kernel may back with huge pages. */
#define CAIRN_BIG_MIN ((size_t)2 << 20)

void *cairn_mem__big_alloc(size_t len) {
    void *p;
    if (len < CAIRN_BIG_MIN) return calloc(1, len ? len : 1);
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE); /* a hint: without it the table works in small pages */
#endif
    return p;
}

void cairn_mem__big_free(void *p, size_t len) {
    if (!p) return;
    if (len < CAIRN_BIG_MIN) free(p);
    else munmap(p, len);
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
    if (f->failed) return cairn_iof__dead(f, "reserve");
    if (len == 0) return 0;
    if (cairn_io__hooks_load()) {
        int kind = cairn_iof__write(f, off, len, 0, "reserve");
        if (kind < 0) return kind;
        /* a short write has no meaning here: reserve nothing and fail like a full disk */
        if (kind == CAIRN_FAULT_SHORT) return cairn_err__sys(ENOSPC, "reserve %s (injected)", f->path);
    }
    do e = posix_fallocate(f->fd, (off_t)off, (off_t)len);
    while (e == EINTR);
    if (e != 0)
        return cairn_err__sys(e, "reserve %llu bytes at offset %llu of %s", (unsigned long long)len,
                              (unsigned long long)off, f->path);
    return 0;
}

int cairn_io__mwrite(cairn_file *f, void *map, const void *buf, size_t len, uint64_t off) {
    unsigned h;
    if (!f || !map || (!buf && len)) return cairn_err__set(CAIRN_INVALID, "cairn_io__mwrite: NULL argument");
    if (f->failed) return cairn_iof__dead(f, "write");
    if ((h = cairn_io__hooks_load()) != 0) {
        int rc;
        /* full hooks: a pwrite (coherent with the mapping) that they see */
        if (h & CAIRN_IOH_ACTIVE) return cairn_io__pwrite(f, buf, len, off);
        if ((rc = cairn_iof__write(f, off, len, 0, "write")) < 0) return rc;
    }
    if (len) memcpy((uint8_t *)map + off, buf, len);
    return 0;
}

/* ---- copies ------------------------------------------------------------------------------- */

#define COPY_CHUNK (1u << 20)

/* Share the blocks of in's first len bytes with out (empty): 1 done, 0 not possible here (another
 * file system, no reflinks, an unaligned length, ...; out is then rewritten from offset 0 by the
 * caller's copy, so a failed attempt leaves nothing that matters). */
static int copy_clone(cairn_file *in, cairn_file *out, uint64_t len) {
#if defined(__linux__) && defined(FICLONE) && defined(FICLONERANGE)
    struct stat st;
    int r;
    if (fstat(in->fd, &st) != 0) return 0;
    if ((uint64_t)st.st_size == len) {
        r = ioctl(out->fd, FICLONE, in->fd);
    } else {
        struct file_clone_range cr;
        memset(&cr, 0, sizeof cr);
        cr.src_fd = in->fd;
        cr.src_offset = 0;
        cr.src_length = len;
        cr.dest_offset = 0;
        r = ioctl(out->fd, FICLONERANGE, &cr);
    }
    return r == 0;
#else
    (void)in;
    (void)out;
    (void)len;
    return 0;
#endif
}

/* Copy [off, off+n) of in to the same offsets of out: copy_file_range while *kernel (cleared for
 * good when the kernel cannot do it for these files), else through *buf (COPY_CHUNK bytes,
 * allocated on first use). */
static int copy_chunk(cairn_file *in, cairn_file *out, uint64_t off, size_t n, int *kernel, uint8_t **buf) {
    size_t done = 0;
#if defined(__linux__) && defined(SYS_copy_file_range)
    while (*kernel && done < n) {
        loff_t io = (loff_t)(off + done), oo = (loff_t)(off + done);
        long r = syscall(SYS_copy_file_range, in->fd, &io, out->fd, &oo, n - done, 0u);
        if (r < 0) {
            int e = errno;
            if (e == EINTR) continue;
            if (e == EXDEV || e == ENOSYS || e == EOPNOTSUPP || e == EINVAL || e == EBADF || e == EPERM) {
                *kernel = 0; /* not for these files: the loop below does the rest */
                break;
            }
            return cairn_err__sys(e, "copy %s to %s at offset %llu", in->path, out->path,
                                  (unsigned long long)(off + done));
        }
        if (r == 0)
            return cairn_err__set(CAIRN_CORRUPT, "%s: unexpected end of file copying %zu bytes at offset %llu",
                                  in->path, n - done, (unsigned long long)(off + done));
        done += (size_t)r;
    }
#else
    *kernel = 0;
#endif
    if (done < n && !*buf && !(*buf = (uint8_t *)malloc(COPY_CHUNK)))
        return cairn_err__set(CAIRN_NOMEM, "copy %s: out of memory", in->path);
    while (done < n) {
        size_t m = n - done < COPY_CHUNK ? n - done : COPY_CHUNK, got = 0;
        int rc;
        while (got < m) {
            ssize_t r = pread(in->fd, *buf + got, m - got, (off_t)(off + done + got));
            if (r < 0) {
                if (errno == EINTR) continue;
                return cairn_err__sys(errno, "read %s at offset %llu", in->path,
                                      (unsigned long long)(off + done + got));
            }
            if (r == 0)
                return cairn_err__set(CAIRN_CORRUPT, "%s: unexpected end of file copying %zu bytes at offset %llu",
                                      in->path, m - got, (unsigned long long)(off + done + got));
            got += (size_t)r;
        }
        if ((rc = write_all(out, *buf, m, off + done)) != 0) return rc;
        done += m;
    }
    return 0;
}

int cairn_io__copy(cairn_file *in, cairn_file *out, uint64_t len, int share) {
    unsigned h;
    uint64_t off = 0;
    uint8_t *buf = NULL;
    int kernel = share != 0, rc = 0;
    if (!in || !out) return cairn_err__set(CAIRN_INVALID, "cairn_io__copy: NULL argument");
    if (out->failed) return cairn_iof__dead(out, "write");
    if (len == 0) return 0;
    h = cairn_io__hooks_load();
    /* a reflink is one step the hooks could not split: only while they are off (or counting) */
    if (share && !(h & CAIRN_IOH_ACTIVE) && copy_clone(in, out, len)) {
        for (; h && off < len && !rc; off += COPY_CHUNK) rc = cairn_iof__write(out, off, 0, 0, "write");
        return rc < 0 ? rc : 0;
    }
    while (off < len && !rc) {
        size_t n = len - off < COPY_CHUNK ? (size_t)(len - off) : COPY_CHUNK, todo = n;
        if (h) {
            int kind;
            if ((rc = cairn_iof__read(in)) != 0) break;
            if ((kind = cairn_iof__write(out, off, n, 0, "write")) < 0) {
                rc = kind;
                break;
            }
            if (kind == CAIRN_FAULT_SHORT) todo = n / 2;
        }
        if ((rc = copy_chunk(in, out, off, todo, &kernel, &buf)) != 0) break;
        if (todo < n) rc = cairn_err__sys(ENOSPC, "write %s: short write (injected)", out->path);
        off += n;
    }
    free(buf);
    return rc;
}

/* ---- paths -------------------------------------------------------------------------------- */

static int path_hook(const char *what, const char *path, int is_sync) {
    return cairn_io__hooks_load() ? cairn_iof__path(what, path, is_sync) : 0;
}

static void full_give_back(const char *path) {
    if (cairn_io__hooks_load() & CAIRN_IOH_ACTIVE) cairn_iof__give_back(path);
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
        cairn_err_saved saved;
        cairn_err__save(&saved);
        (void)cairn_io__unlink(tmp);
        cairn_err__restore(&saved);
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
