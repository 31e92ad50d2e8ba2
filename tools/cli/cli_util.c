/* cli_util.c - errors and exit codes, values in and out, formatting, progress (see cli.h). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_json.h"

int cli_in_shell = 0;

/* ---- errors ----------------------------------------------------------------------------------- */

int cli_exit_code(int rc) {
    switch (rc) {
    case CAIRN_OK: return EXIT_OK;
    case CAIRN_NOTFOUND: return EXIT_NOTFOUND;
    case CAIRN_PATH: case CAIRN_PERM: return EXIT_PATH;
    case CAIRN_IO: case CAIRN_NOSPC: return EXIT_IO;
    case CAIRN_CORRUPT: case CAIRN_VERSION: return EXIT_CORRUPT;
    case CAIRN_LOCKED: case CAIRN_BUSY: return EXIT_LOCKED;
    case CAIRN_INVALID: case CAIRN_TYPE: case CAIRN_TOOBIG: case CAIRN_RANGE: case CAIRN_EXISTS:
    case CAIRN_CONSTRAINT: case CAIRN_SCHEMA:
        return EXIT_DATA;
    default: return EXIT_ERROR;
    }
}

int cli_fail(int rc) {
    const char *msg = cairn_errmsg();
    fflush(stdout); /* what was printed before comes first when both go to one place */
    fprintf(stderr, "cairn: %s: %s\n", cairn_errname(rc), msg && *msg ? msg : cairn_errstr(rc));
    return cli_exit_code(rc);
}

int cli_error(int code, const char *name, const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "cairn: %s: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* ---- values in -------------------------------------------------------------------------------- */

static int read_all(FILE *f, const char *what, unsigned char **buf, size_t *len) {
    size_t cap = 4096, n = 0;
    unsigned char *b = (unsigned char *)malloc(cap);
    if (!b) return cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory reading %s", what);
    for (;;) {
        size_t r;
        if (n == cap) {
            unsigned char *nb;
            if (cap > CAIRN_VALUE_MAX) {
                free(b);
                return cli_error(EXIT_DATA, "CAIRN_TOOBIG", "%s holds more than 1 GiB (the largest value)", what);
            }
            nb = (unsigned char *)realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory reading %s", what);
            }
            b = nb, cap *= 2;
        }
        r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) {
        int e = errno;
        free(b);
        return cli_error(EXIT_IO, "CAIRN_IO", "reading %s: %s", what, strerror(e));
    }
    if (n > CAIRN_VALUE_MAX) {
        free(b);
        return cli_error(EXIT_DATA, "CAIRN_TOOBIG", "%s holds more than 1 GiB (the largest value)", what);
    }
    *buf = b;
    *len = n;
    return 0;
}

int cli_read_value(const char *arg, unsigned char **buf, size_t *len) {
    if (!strcmp(arg, "-")) {
        if (cli_in_shell)
            return cli_error(EXIT_USAGE, "CAIRN_INVALID", "'-' (standard input) cannot be a value in the shell: use @FILE");
        return read_all(stdin, "standard input", buf, len);
    }
    if (arg[0] == '@' && arg[1] != '@') {
        FILE *f = fopen(arg + 1, "rb");
        char what[64 + 4096];
        int rc;
        if (!f) {
            int e = errno;
            return cli_error(e == ENOENT || e == EACCES || e == ENOTDIR || e == EISDIR ? EXIT_PATH : EXIT_IO,
                             e == EACCES ? "CAIRN_PERM" : "CAIRN_PATH", "cannot open '%s': %s", arg + 1, strerror(e));
        }
        snprintf(what, sizeof what, "'%s'", arg + 1);
        rc = read_all(f, what, buf, len);
        fclose(f);
        return rc;
    }
    if (arg[0] == '@') arg++; /* "@@x" is the text "@x" */
    *len = strlen(arg);
    if (!(*buf = (unsigned char *)malloc(*len + 1))) return cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
    memcpy(*buf, arg, *len + 1);
    return 0;
}

int cli_check_kind(int kind, const void *v, size_t n) {
    size_t at;
    const char *why;
    if (kind == CAIRN_KIND_TEXT && !cj_utf8_valid(v, n))
        return cli_error(EXIT_DATA, "CAIRN_INVALID", "the value is not valid UTF-8, so it cannot be stored as text "
                         "(store it with --kind bytes)");
    if (kind == CAIRN_KIND_JSON && !cj_json_valid(v, n, &at, &why))
        return cli_error(EXIT_DATA, "CAIRN_INVALID", "the value is not a JSON document: %s at byte %zu", why, at);
    return 0;
}

static const char *const KIND_NAMES[] = {"bytes", "text", "json", "native"};

const char *cli_kind_name(int kind) { return kind >= 0 && kind < 4 ? KIND_NAMES[kind] : NULL; }

int cli_kind_parse(const char *s) {
    int k;
    for (k = 0; k < 4; k++)
        if (!strcmp(s, KIND_NAMES[k])) return k;
    return -1;
}

/* ---- values out ------------------------------------------------------------------------------- */

/* For a terminal: valid UTF-8 as is, except control characters; other bytes as \xNN. */
static void write_display(const unsigned char *v, size_t n) {
    int utf8 = cj_utf8_valid(v, n);
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned c = v[i];
        if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f) || (utf8 && c >= 0x80)) putchar((int)c);
        else printf("\\x%02x", c);
    }
    putchar('\n');
}

void cli_write_value(const opts *o, const void *v, size_t n) {
    const unsigned char *p = (const unsigned char *)v;
    if (o->given & OPT_HEX) {
        size_t i;
        for (i = 0; i < n; i++) printf("%02x", p[i]);
        putchar('\n');
    } else if (o->given & OPT_RAW) {
        fwrite(p, 1, n, stdout);
    } else if (isatty(STDOUT_FILENO)) {
        write_display(p, n);
    } else {
        fwrite(p, 1, n, stdout);
        if (cli_in_shell) putchar('\n');
    }
}

void cli_print_key(const void *kv, size_t n, const char *end) {
    const unsigned char *k = (const unsigned char *)kv;
    size_t i;
    for (i = 0; i < n; i++) {
        if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\\') putchar(k[i]);
        else printf("\\x%02x", k[i]);
    }
    fputs(end, stdout);
}

void cli_json_bytes(FILE *f, const char *name, const void *v, size_t n) {
    if (cj_utf8_valid(v, n)) {
        fprintf(f, "\"%s\":", name);
        cj_put_str(f, v, n);
    } else {
        fprintf(f, "\"%s_b64\":\"", name);
        cj_put_b64(f, v, n);
        putc('"', f);
    }
}

const char *cli_human_bytes(uint64_t n, char *buf, size_t cap) {
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)n;
    int u = -1;
    if (n < 1024) {
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
        return buf;
    }
    while (v >= 1024 && u < 5) v /= 1024, u++;
    snprintf(buf, cap, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

const char *cli_size_str(uint64_t n, char *buf, size_t cap) {
    char h[32];
    cli_human_bytes(n, h, sizeof h);
    if (n < 1024) snprintf(buf, cap, "%s", h);
    else snprintf(buf, cap, "%s (%llu bytes)", h, (unsigned long long)n);
    return buf;
}

const char *cli_time_str(int64_t ms, char *buf, size_t cap) {
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    int frac = (int)(ms - (int64_t)t * 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, cap, "%lld", (long long)ms);
        return buf;
    }
    if (frac)
        snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    else
        snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

int64_t cli_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_flush_stdout(void) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;
        return cli_error(EXIT_IO, e == ENOSPC ? "CAIRN_NOSPC" : "CAIRN_IO",
                         "writing standard output: %s", strerror(e));
    }
    return 0;
}

/* ---- progress --------------------------------------------------------------------------------- */

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, stop, shown;
    const char *what;
    double start;
} g_tick = {0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL, 0};

static void *ticker(void *arg) {
    (void)arg;
    pthread_mutex_lock(&g_tick.mu);
    while (!g_tick.stop) {
        struct timespec until;
        double el = mono_s() - g_tick.start;
        if (el >= 1.0) {
            fprintf(stderr, "\rcairn: %s... %.0f s", g_tick.what, el);
            fflush(stderr);
            g_tick.shown = 1;
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&g_tick.cv, &g_tick.mu, &until);
    }
    pthread_mutex_unlock(&g_tick.mu);
    return NULL;
}

void cli_ticker_start(const char *what) {
    if (!isatty(STDERR_FILENO) || g_tick.running) return;
    g_tick.what = what;
    g_tick.start = mono_s();
    g_tick.stop = g_tick.shown = 0;
    if (pthread_create(&g_tick.thread, NULL, ticker, NULL) == 0) g_tick.running = 1;
}

void cli_ticker_stop(void) {
    if (!g_tick.running) return;
    pthread_mutex_lock(&g_tick.mu);
    g_tick.stop = 1;
    pthread_cond_signal(&g_tick.cv);
    pthread_mutex_unlock(&g_tick.mu);
    pthread_join(g_tick.thread, NULL);
    g_tick.running = 0;
    if (g_tick.shown) fprintf(stderr, "\rcairn: %s... done in %.1f s\n", g_tick.what, mono_s() - g_tick.start);
}

void cli_progress(const char *verb, uint64_t records, uint64_t bytes, int final) {
    static double start, last;
    static int shown, tty, active;
    double now;
    char hb[32];
    if (!active || (records == 0 && !final)) { /* the start of a run (the first call, whatever its count) */
        tty = isatty(STDERR_FILENO);
        start = mono_s(), last = 0, shown = 0, active = 1;
    }
    if (final) active = 0;
    if (!tty) return;
    now = mono_s();
    if (!final && (now - start < 0.5 || now - last < 0.2)) return;
    if (final && !shown) return;
    fprintf(stderr, "\rcairn: %s %llu records", verb, (unsigned long long)records);
    if (bytes) fprintf(stderr, " (%s)", cli_human_bytes(bytes, hb, sizeof hb));
    fprintf(stderr, "%s", final ? "\n" : "");
    fflush(stderr);
    last = now;
    shown = 1;
}

void cli_json_check(const char *path, int rc) {
    const char *msg = cairn_errmsg();
    printf("{\"ok\":%s,", rc ? "false" : "true");
    cli_json_bytes(stdout, "path", path, strlen(path));
    if (rc) {
        printf(",\"error\":\"%s\",", cairn_errname(rc));
        msg = msg && *msg ? msg : cairn_errstr(rc);
        cli_json_bytes(stdout, "message", msg, strlen(msg));
    }
    fputs("}\n", stdout);
}
