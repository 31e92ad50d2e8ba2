/* bench_common.c - see bench_common.h. */
#include "bench_common.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t bench_mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t bench_rng_next(bench_rng *r) {
    r->s += 0x9E3779B97F4A7C15ull;
    return bench_mix64(r->s);
}

uint64_t bench_rng_below(bench_rng *r, uint64_t n) {
    return n ? bench_rng_next(r) % n : 0;
}

void bench_fill(void *buf, size_t len, uint64_t i, uint64_t ver) {
    unsigned char *p = buf;
    uint64_t s = bench_mix64(i * 0x100000001B3ull + ver);
    size_t off = 0;
    while (off < len) {
        uint64_t w = bench_mix64(s + off);
        size_t n = len - off < 8 ? len - off : 8;
        memcpy(p + off, &w, n);
        off += n;
    }
}

void bench_key16(char out[16], uint64_t i) {
    int k;
    for (k = 15; k >= 0; k--) {
        out[k] = (char)('0' + (int)(i % 10));
        i /= 10;
    }
}

int bench_mkdirs(const char *path) {
    char tmp[4096];
    size_t n = strlen(path), i;
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (i = 1; i < n; i++) {
        if (tmp[i] == '/') {
            tmp[i] = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            tmp[i] = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

int bench_rmrf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        if (!d) return -1;
        while ((e = readdir(d)) != NULL) {
            char sub[4096];
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            if (bench_rmrf(sub) != 0) {
                closedir(d);
                return -1;
            }
        }
        closedir(d);
        return rmdir(path);
    }
    return unlink(path);
}

uint64_t bench_file_bytes(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    return (uint64_t)st.st_size;
}

uint64_t bench_dir_bytes(const char *path) {
    struct stat st;
    uint64_t total = 0;
    DIR *d;
    struct dirent *e;
    if (lstat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return (uint64_t)st.st_size;
    d = opendir(path);
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        char sub[4096];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        total += bench_dir_bytes(sub);
    }
    closedir(d);
    return total;
}

char *bench_scratch(const char *base, const char *name) {
    size_t n = strlen(base) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) bench_die("out of memory");
    snprintf(p, n, "%s/%s", base, name);
    if (bench_rmrf(p) != 0) bench_die("cannot remove %s: %s", p, strerror(errno));
    if (bench_mkdirs(p) != 0) bench_die("cannot create %s: %s", p, strerror(errno));
    return p;
}

void bench_machine(char *buf, size_t cap) {
    char model[256] = "unknown CPU";
    char line[512];
    struct utsname u;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "model name", 10)) {
                char *c = strchr(line, ':');
                if (c) {
                    size_t l;
                    c++;
                    while (*c == ' ') c++;
                    l = strcspn(c, "\n");
                    if (l >= sizeof model) l = sizeof model - 1;
                    memcpy(model, c, l);
                    model[l] = 0;
                }
                break;
            }
        }
        fclose(f);
    }
    if (uname(&u) != 0) strcpy(u.release, "?");
    snprintf(buf, cap, "%s, %ld cores, Linux %s", model, cores, u.release);
}

void bench_loadavg(char *buf, size_t cap) {
    double l1 = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l1) == 1) snprintf(buf, cap, "%.1f", l1);
    else snprintf(buf, cap, "n/a");
    if (f) fclose(f);
}

void bench_date(char *buf, size_t cap) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm);
}

void bench_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

void bench_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    va_end(ap);
}

void bench_fmt(char *buf, size_t cap, double v, int decimals) {
    if (isnan(v)) {
        snprintf(buf, cap, "n/a");
        return;
    }
    if (decimals == 0 && fabs(v) >= 10000) {
        /* group thousands for readability: 1234567 -> 1,234,567 */
        char raw[64], out[96];
        int len, i, j = 0, lead;
        snprintf(raw, sizeof raw, "%.0f", v);
        len = (int)strlen(raw);
        i = raw[0] == '-' ? 1 : 0;
        if (i) out[j++] = '-';
        lead = (len - i) % 3;
        if (lead == 0) lead = 3;
        for (; i < len; i++) {
            out[j++] = raw[i];
            if (--lead == 0 && i + 1 < len) {
                out[j++] = ',';
                lead = 3;
            }
        }
        out[j] = 0;
        snprintf(buf, cap, "%s", out);
        return;
    }
    snprintf(buf, cap, "%.*f", decimals, v);
}

void bench_fmt_ratio(char *buf, size_t cap, double a, double b) {
    if (isnan(a) || isnan(b) || b == 0) {
        snprintf(buf, cap, "n/a");
        return;
    }
    snprintf(buf, cap, "%.2fx", a / b);
}

uint64_t bench_parse_count(const char *opt, const char *s) {
    char *end;
    double v;
    if (!s) bench_die("%s needs a value", opt);
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s) bench_die("%s: not a number: %s", opt, s);
    if (*end == 'k' || *end == 'K') {
        v *= 1e3;
        end++;
    } else if (*end == 'm' || *end == 'M') {
        v *= 1e6;
        end++;
    }
    if (*end || v < 1 || v > 1e10) bench_die("%s: bad count: %s", opt, s);
    return (uint64_t)v;
}
