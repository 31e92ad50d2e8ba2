/* rel_common.c - see rel_common.h. */
#include "rel_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *rel_prog = "reliability";

uint64_t rel_next(rel_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t rel_below(rel_rng *r, uint64_t n) { return n ? rel_next(r) % n : 0; }

void rel_gen(uint64_t opid, uint32_t idx, uint8_t *buf, size_t len) {
    rel_rng r;
    size_t i = 0;
    r.s = opid * 0x100000001b3ULL ^ ((uint64_t)idx << 48) ^ len;
    while (i < len) {
        uint64_t x = rel_next(&r);
        size_t k;
        for (k = 0; k < 8 && i < len; k++, i++) buf[i] = (uint8_t)(x >> (8 * k));
    }
}

int rel_gen_eq(uint64_t opid, uint32_t idx, const void *buf, size_t len) {
    uint8_t stack[4096], *want = len <= sizeof stack ? stack : (uint8_t *)malloc(len);
    int eq;
    if (!want) rel_die("out of memory");
    rel_gen(opid, idx, want, len);
    eq = len == 0 || memcmp(want, buf, len) == 0;
    if (want != stack) free(want);
    return eq;
}

void rel_die(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: FAIL: ", rel_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    exit(1);
}

char *rel_tmpdir(const char *tag) {
    const char *base = getenv("CAIRN_TEST_TMP");
    char *p = (char *)malloc(600);
    if (!p) rel_die("out of memory");
    if (!base || !*base) base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    mkdir(base, 0755);
    snprintf(p, 600, "%s/cairn-rel-%s-XXXXXX", base, tag);
    if (!mkdtemp(p)) rel_die("mkdtemp %s: %s", p, strerror(errno));
    return p;
}

void rel_rmrf(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    if (!d) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char sub[1200];
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) rel_rmrf(sub);
        else unlink(sub);
    }
    closedir(d);
    rmdir(path);
}

uint8_t *rel_slurp(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    uint8_t *buf;
    size_t got = 0;
    if (fd < 0) return NULL;
    if (fstat(fd, &st) != 0) rel_die("fstat %s: %s", path, strerror(errno));
    if (!(buf = (uint8_t *)malloc((size_t)st.st_size + 1))) rel_die("out of memory");
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = 0;
    *len = got;
    return buf;
}

void rel_spit(const char *path, const void *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    size_t done = 0;
    if (fd < 0) rel_die("create %s: %s", path, strerror(errno));
    while (done < len) {
        ssize_t n = write(fd, (const char *)data + done, len - done);
        if (n <= 0) rel_die("write %s: %s", path, strerror(errno));
        done += (size_t)n;
    }
    close(fd);
}

void rel_copy_file(const char *from, const char *to) {
    size_t len;
    uint8_t *b = rel_slurp(from, &len);
    if (!b) rel_die("read %s: %s", from, strerror(errno));
    rel_spit(to, b, len);
    free(b);
}

void rel_copy_dir(const char *from, const char *to) {
    DIR *d;
    struct dirent *e;
    mkdir(to, 0755);
    if ((d = opendir(to)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            char p[1200];
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", to, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    if (!(d = opendir(from))) rel_die("opendir %s: %s", from, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        char a[1200], b[1200];
        struct stat st;
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        if (stat(a, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        rel_copy_file(a, b);
    }
    closedir(d);
}

long long rel_fsize(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

const char *rel_opt(int argc, char **argv, const char *name) {
    int i;
    for (i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

uint64_t rel_opt_u64(int argc, char **argv, const char *name, uint64_t dflt) {
    const char *v = rel_opt(argc, argv, name);
    return v ? strtoull(v, NULL, 0) : dflt;
}

uint64_t rel_seed(int argc, char **argv, uint64_t dflt) {
    const char *v = rel_opt(argc, argv, "--seed");
    if (!v) v = getenv("CAIRN_REL_SEED");
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

int rel_log_open(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0) rel_die("open log %s: %s", path, strerror(errno));
    return fd;
}

void rel_log_line(int fd, const char *fmt, ...) {
    char line[8192];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) rel_die("log line too long");
    /* one write(2) per line: a SIGKILL cannot tear it in the page cache */
    if (write(fd, line, (size_t)n) != n) rel_die("log write: %s", strerror(errno));
    if (fdatasync(fd) != 0) rel_die("log fdatasync: %s", strerror(errno));
}

uint64_t rel_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int rel_run_killed(void (*child)(int wfd), uint64_t delay_ms, rel_consume_fn consume, void *ctx) {
    static char buf[1 << 16];
    size_t blen = 0;
    int fds[2], status = 0;
    uint64_t deadline;
    pid_t pid;
    if (pipe(fds) != 0) rel_die("pipe: %s", strerror(errno));
    fflush(stdout);
    if ((pid = fork()) < 0) rel_die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        child(fds[1]);
        _exit(3); /* not reached */
    }
    close(fds[1]);
    deadline = rel_ms() + delay_ms;
    for (;;) {
        struct pollfd pf;
        uint64_t now = rel_ms();
        ssize_t n;
        if (now >= deadline) break;
        pf.fd = fds[0];
        pf.events = POLLIN;
        if (poll(&pf, 1, (int)(deadline - now)) <= 0) continue;
        n = read(fds[0], buf + blen, sizeof buf - blen - 1);
        if (n <= 0) break; /* the child exited */
        blen += (size_t)n;
        consume(ctx, buf, &blen);
    }
    kill(pid, SIGKILL);
    if (waitpid(pid, &status, 0) != pid) rel_die("waitpid: %s", strerror(errno));
    for (;;) {
        ssize_t n = read(fds[0], buf + blen, sizeof buf - blen - 1);
        if (n <= 0) break;
        blen += (size_t)n;
        consume(ctx, buf, &blen);
    }
    close(fds[0]);
    return status;
}
