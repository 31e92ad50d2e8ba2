/* lock.c - single writer across processes: an exclusive flock() on a lock file.
 * flock locks belong to the open file description, so a second open of the same store in the
 * SAME process conflicts too, and the kernel releases the lock when the process dies.
 * Also the in-process rwlock every engine handle uses (writer-preferring). */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np: writer-preferring rwlock on glibc */
#endif
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

struct cairn_lock {
    int fd;
    uint32_t gen; /* fork generation of the owner */
};

uint64_t cairn_lock__deadline(unsigned timeout_ms) {
    return cairn_time__mono_ns() + (uint64_t)timeout_ms * 1000000u;
}

int cairn_lock__acquire(cairn_lock **out, const char *path, unsigned timeout_ms) {
    return cairn_lock__acquire_until(out, path, timeout_ms, cairn_lock__deadline(timeout_ms));
}

int cairn_lock__acquire_until(cairn_lock **out, const char *path, unsigned timeout_ms, uint64_t deadline) {
    cairn_lock *l;
    int fd;
    if (!out || !path) return cairn_err__set(CAIRN_INVALID, "cairn_lock__acquire: NULL argument");
    *out = NULL;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return cairn_err__sys(errno, "open lock file %s", path);
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        struct timespec ts = {0, 2000000}; /* 2 ms between attempts */
        int e = errno;
        if (e == EINTR) continue;
        if (e != EWOULDBLOCK) {
            close(fd);
            return cairn_err__sys(e, "lock %s", path);
        }
        if (timeout_ms == 0) {
            close(fd);
            return cairn_err__set(CAIRN_LOCKED, "%s is locked by another writer (this or another process)", path);
        }
        if (cairn_time__mono_ns() >= deadline) {
            close(fd);
            return cairn_err__set(CAIRN_BUSY, "%s is still locked by another writer after %u ms", path, timeout_ms);
        }
        nanosleep(&ts, NULL);
    }
    if (!(l = (cairn_lock *)malloc(sizeof *l))) {
        close(fd);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    l->fd = fd;
    l->gen = cairn_fork__gen();
    *out = l;
    return 0;
}

void cairn_lock__release(cairn_lock *l) {
    if (!l) return;
    if (!cairn_fork__foreign(l->gen)) flock(l->fd, LOCK_UN); /* a child must not unlock the parent */
    close(l->fd);
    free(l);
}

void cairn_rwlock__init(pthread_rwlock_t *rw) {
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
#if defined(__GLIBC__) && defined(__USE_GNU)
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(rw, &ra);
    pthread_rwlockattr_destroy(&ra);
}
