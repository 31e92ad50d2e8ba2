/* misc.c - clock (fakeable for expiry tests) and path helpers. */
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static int64_t g_fake_ms; /* 0: real clock */

int64_t cairn_time__now_ms(void) {
    struct timespec ts;
    int64_t fake = __atomic_load_n(&g_fake_ms, __ATOMIC_RELAXED);
    if (fake > 0) return fake;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cairn_time__set_fake(int64_t ms) { __atomic_store_n(&g_fake_ms, ms > 0 ? ms : 0, __ATOMIC_RELAXED); }

uint64_t cairn_time__mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

char *cairn_str__dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = (char *)malloc(n);
    if (!d) {
        cairn_err__set(CAIRN_NOMEM, "out of memory copying a string of %zu bytes", n);
        return NULL;
    }
    memcpy(d, s, n);
    return d;
}

char *cairn_path__join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    int slash = la > 0 && a[la - 1] != '/';
    char *p = (char *)malloc(la + (size_t)slash + lb + 1);
    if (!p) {
        cairn_err__set(CAIRN_NOMEM, "out of memory joining a path");
        return NULL;
    }
    memcpy(p, a, la);
    if (slash) p[la] = '/';
    memcpy(p + la + slash, b, lb + 1);
    return p;
}

char *cairn_path__dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *d;
    size_t n;
    if (!slash) return cairn_str__dup(".");
    n = slash == path ? 1 : (size_t)(slash - path);
    d = (char *)malloc(n + 1);
    if (!d) {
        cairn_err__set(CAIRN_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

/* ---- fork safety ---- */

uint32_t cairn_fork__generation;
static pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;

static void fork_child(void) { __atomic_add_fetch(&cairn_fork__generation, 1, __ATOMIC_RELAXED); }
static void fork_register(void) { pthread_atfork(NULL, NULL, fork_child); }

uint32_t cairn_fork__gen(void) {
    pthread_once(&g_fork_once, fork_register);
    return __atomic_load_n(&cairn_fork__generation, __ATOMIC_RELAXED);
}

int cairn_fork__err(const char *fn) {
    return cairn_err__set(CAIRN_FORKED,
                          "%s: this handle was opened by another process (it was inherited through fork()); "
                          "open a new handle in this process",
                          fn);
}
