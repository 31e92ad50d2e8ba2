/* lock.c - single writer across processes: an exclusive flock() on a lock file.
 * flock locks belong to the open file description, so a second open of the same store in the
 * SAME process conflicts too, and the kernel releases the lock when the process dies. */
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

int cairn_lock__acquire(cairn_lock **out, const char *path, unsigned timeout_ms) {
    cairn_lock *l;
    int fd;
    uint64_t deadline;
    if (!out || !path) return cairn_err__set(CAIRN_INVALID, "cairn_lock__acquire: NULL argument");
    *out = NULL;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return cairn_err__sys(errno, "open lock file %s", path);
    deadline = cairn_time__mono_ns() + (uint64_t)timeout_ms * 1000000u;
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
