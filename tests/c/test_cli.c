/* test_cli.c - the `cairn` command-line tool, run as a program: every kv, blob, table and repo
 * sub-command (table: rows as JSON, CSV import and export; repo: versions, collections, damage),
 * the exit codes by class (0 ok, 1 not found, 2 usage, 4 path, 5 I/O, 6 corrupt, 7 locked,
 * 8 refused), values from stdin and @FILE, kinds and their checks (UTF-8, JSON), binary round
 * trips, --json outputs (checked by an independent JSON parser below), dump + load of both engines
 * compared through the core, help for every command, and the shell. The binary is found next to
 * this test in the build tree (tools/cli/cairn), or named by CAIRN_CLI; a missing binary fails the
 * test. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* posix_openpt and friends, for the terminal test */
#endif
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "kv_testutil.h"
#include "util.h" /* cairn_get32 and friends, the CRC: to damage a manifest as a bug would */

static char g_cli[PATH_MAX + 64];

/* Run the CLI with up to 5 args; capture stdout+stderr into out. Returns the exit code. */
static int run(char *out, size_t cap, const char *a1, const char *a2, const char *a3, const char *a4,
               const char *a5) {
    int fds[2], status = 0;
    pid_t pid;
    size_t n = 0;
    ssize_t r;
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
        const char *argv[7] = {g_cli, a1, a2, a3, a4, a5, NULL};
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        execv(g_cli, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    while (n + 1 < cap && (r = read(fds[0], out + n, cap - 1 - n)) > 0) n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int find_cli(void) {
    const char *env = getenv("CAIRN_CLI");
    char exe[PATH_MAX];
    ssize_t n;
    int up;
    if (env && *env) {
        snprintf(g_cli, sizeof g_cli, "%s", env);
        return access(g_cli, X_OK) == 0;
    }
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0;
    exe[n] = 0;
    for (up = 0; up < 3; up++) { /* <build>/tests/c/test_cli -> <build> */
        char *s = strrchr(exe, '/');
        if (!s) return 0;
        *s = 0;
    }
    snprintf(g_cli, sizeof g_cli, "%s/tools/cli/cairn", exe);
    return access(g_cli, X_OK) == 0;
}

/* Bytes of the regular files directly in dir (a KV store's files: what its disk_bytes counts). */
static unsigned long long cli_dir_bytes(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    unsigned long long n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d))) {
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) n += (unsigned long long)st.st_size;
    }
    closedir(d);
    return n;
}

START_TEST(cli_kv_commands) {
    char *dir, *db, out[8192];
    ck_assert_msg(find_cli(), "no cairn binary found (build tools/cli or set CAIRN_CLI)");
    dir = kvt_tmpdir("cli");
    db = kvt_path(dir, "db");
    ck_assert_int_eq(run(out, sizeof out, "version", NULL, NULL, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "cairn 0."));
    ck_assert_int_eq(run(out, sizeof out, "kv", "put", db, "user:1", "ana"), 0);
    ck_assert_int_eq(run(out, sizeof out, "kv", "put", db, "user:2", "bob"), 0);
    ck_assert_int_eq(run(out, sizeof out, "kv", "put", db, "zeta", "z"), 0);
    ck_assert_int_eq(run(out, sizeof out, "kv", "get", db, "user:1", NULL), 0);
    ck_assert_str_eq(out, "ana"); /* to a pipe: the exact bytes, no newline added */
    ck_assert_int_eq(run(out, sizeof out, "kv", "list", db, "user:", NULL), 0);
    ck_assert_str_eq(out, "user:1\nuser:2\n");
    ck_assert_int_eq(run(out, sizeof out, "kv", "del", db, "user:1", NULL), 0);
    ck_assert_int_eq(run(out, sizeof out, "kv", "get", db, "user:1", NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "CAIRN_NOTFOUND"));
    ck_assert_int_eq(run(out, sizeof out, "kv", "del", db, "user:1", NULL), 1);
    ck_assert_int_eq(run(out, sizeof out, "kv", "list", db, NULL, NULL), 0);
    ck_assert_str_eq(out, "user:2\nzeta\n");
    ck_assert_int_eq(run(out, sizeof out, "kv", "stats", db, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "keys          2\n"));
    /* dead bytes that outweigh the SEAL record compaction adds to its output (31 bytes), so that
     * it frees some (with only user:1's few bytes dead the store would grow by 2 bytes) */
    ck_assert_int_eq(run(out, sizeof out, "kv", "put", db, "tmp", "a value long enough to leave dead bytes behind it"), 0);
    ck_assert_int_eq(run(out, sizeof out, "kv", "del", db, "tmp", NULL), 0);
    {
        /* what compact says it freed agrees with the stats right after it, and with the files */
        unsigned long long freed = 0, before = 0, after = 0;
        const char *p;
        ck_assert_int_eq(run(out, sizeof out, "kv", "compact", db, NULL, NULL), 0);
        ck_assert_msg(sscanf(out, "compacted: %llu bytes freed (%llu -> %llu)", &freed, &before, &after) == 3, "%s", out);
        ck_assert_uint_eq(freed, before - after);
        ck_assert_int_eq(run(out, sizeof out, "kv", "stats", db, "--json", NULL), 0);
        ck_assert_ptr_nonnull(p = strstr(out, "\"disk_bytes\":"));
        ck_assert_uint_eq(strtoull(p + 13, NULL, 10), after);
        ck_assert_uint_eq(cli_dir_bytes(db), after);
    }
    ck_assert_int_eq(run(out, sizeof out, "kv", "check", db, NULL, NULL), 0);
    ck_assert_str_eq(out, "ok\n");
    /* failures: a file where a directory should be, a missing store */
    ck_assert_int_eq(run(out, sizeof out, "kv", "get", "/proc/self/status", "k", NULL), 4);
    ck_assert_ptr_nonnull(strstr(out, "CAIRN_PATH"));
    {
        char *missing = kvt_path(dir, "missing");
        ck_assert_int_eq(run(out, sizeof out, "kv", "list", missing, NULL, NULL), 4);
        ck_assert_int_eq(run(out, sizeof out, "kv", "check", missing, NULL, NULL), 4);
        free(missing);
    }
    /* usage */
    ck_assert_int_eq(run(out, sizeof out, NULL, NULL, NULL, NULL, NULL), 2);
    ck_assert_int_eq(run(out, sizeof out, "kv", NULL, NULL, NULL, NULL), 2);
    ck_assert_int_eq(run(out, sizeof out, "kv", "get", db, NULL, NULL), 2);
    ck_assert_int_eq(run(out, sizeof out, "kv", "put", db, "k", NULL), 2);
    ck_assert_int_eq(run(out, sizeof out, "kv", "frobnicate", db, NULL, NULL), 2);
    ck_assert_int_eq(run(out, sizeof out, "nosuchengine", NULL, NULL, NULL, NULL), 2);
    ck_assert_ptr_nonnull(strstr(out, "usage:"));
    free(db);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(cli_blob_commands) {
    char *dir, *db, out[8192];
    ck_assert_msg(find_cli(), "no cairn binary found (build tools/cli or set CAIRN_CLI)");
    dir = kvt_tmpdir("cli");
    db = kvt_path(dir, "store.db");
    ck_assert_int_eq(run(out, sizeof out, "blob", "create", db, "hello", NULL), 0);
    ck_assert_str_eq(out, "1\n");
    ck_assert_int_eq(run(out, sizeof out, "blob", "create", db, "world", NULL), 0);
    ck_assert_str_eq(out, "2\n");
    ck_assert_int_eq(run(out, sizeof out, "blob", "update", db, "1", "hello, a longer value"), 0);
    ck_assert_int_eq(run(out, sizeof out, "blob", "get", db, "1", NULL), 0);
    ck_assert_str_eq(out, "hello, a longer value");
    ck_assert_int_eq(run(out, sizeof out, "blob", "del", db, "2", NULL), 0);
    ck_assert_int_eq(run(out, sizeof out, "blob", "get", db, "2", NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "CAIRN_NOTFOUND"));
    ck_assert_int_eq(run(out, sizeof out, "blob", "del", db, "2", NULL), 1);
    ck_assert_int_eq(run(out, sizeof out, "blob", "update", db, "2", "x"), 1);
    ck_assert_int_eq(run(out, sizeof out, "blob", "list", db, NULL, NULL), 0);
    ck_assert_str_eq(out, "1\n");
    ck_assert_int_eq(run(out, sizeof out, "blob", "stats", db, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "blobs         1\n"));
    ck_assert_ptr_nonnull(strstr(out, "next key      3\n"));
    ck_assert_ptr_nonnull(strstr(out, "WAL           32 B in use\n")); /* the log in use, not its file */
    ck_assert_int_eq(run(out, sizeof out, "blob", "compact", db, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "compacted"));
    ck_assert_int_eq(run(out, sizeof out, "blob", "stats", db, "--json", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"free_bytes\":0,"));
    ck_assert_int_eq(run(out, sizeof out, "blob", "check", db, NULL, NULL), 0);
    ck_assert_str_eq(out, "ok\n");
    /* bad keys are usage errors; a directory or a missing file is CAIRN_PATH */
    ck_assert_int_eq(run(out, sizeof out, "blob", "get", db, "x", NULL), 2);
    ck_assert_ptr_nonnull(strstr(out, "CAIRN_INVALID"));
    ck_assert_int_eq(run(out, sizeof out, "blob", "get", db, "-1", NULL), 2);
    ck_assert_int_eq(run(out, sizeof out, "blob", "get", db, "4294967296", NULL), 2);
    ck_assert_int_eq(run(out, sizeof out, "blob", "list", dir, NULL, NULL), 4);
    ck_assert_ptr_nonnull(strstr(out, "CAIRN_PATH"));
    {
        char *missing = kvt_path(dir, "missing.db");
        ck_assert_int_eq(run(out, sizeof out, "blob", "get", missing, "1", NULL), 4);
        ck_assert_ptr_nonnull(strstr(out, "CAIRN_PATH"));
        free(missing);
    }
    ck_assert_int_eq(run(out, sizeof out, "blob", "create", db, NULL, NULL), 2);
    ck_assert_int_eq(run(out, sizeof out, "blob", "frobnicate", db, NULL, NULL), 2);
    free(db);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* ---- a richer runner: argv array, bytes on stdin, stdout and stderr apart ------------------------ */

typedef struct res {
    int code;
    char *out, *err; /* NUL-terminated (and may hold NULs: see outlen) */
    size_t outlen, errlen;
} res;

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *b;
    long n;
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (char *)malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

static void spit(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static char g_io[PATH_MAX]; /* scratch directory of the runner's files */
static const char *g_stdout_to; /* when set, the CLI's stdout goes there instead (e.g. /dev/full) */

static void res_free(res *r) {
    free(r->out), free(r->err);
    memset(r, 0, sizeof *r);
}

/* Run the CLI with args (NULL-terminated); `in` (inlen bytes) on stdin (NULL: empty). */
static int runv(res *r, const void *in, size_t inlen, const char *const *args) {
    char pin[PATH_MAX + 16], pout[PATH_MAX + 16], perr[PATH_MAX + 16];
    const char *argv[64];
    int status = 0, n = 0;
    pid_t pid;
    snprintf(pin, sizeof pin, "%s/in", g_io);
    snprintf(pout, sizeof pout, "%s/out", g_io);
    snprintf(perr, sizeof perr, "%s/err", g_io);
    spit(pin, in ? in : "", in ? inlen : 0);
    argv[n++] = g_cli;
    while (args[n - 1] && n < 63) argv[n] = args[n - 1], n++;
    argv[n] = NULL;
    fflush(stdout), fflush(stderr);
    pid = fork();
    if (pid == 0) {
        if (!freopen(pin, "rb", stdin) || !freopen(g_stdout_to ? g_stdout_to : pout, "wb", stdout) ||
            !freopen(perr, "wb", stderr))
            _exit(126);
        execv(g_cli, (char *const *)argv);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    r->out = slurp(pout, &r->outlen);
    r->err = slurp(perr, &r->errlen);
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    return r->code;
}

#define CLI(r, ...) (res_free(r), runv(r, NULL, 0, (const char *const[]){__VA_ARGS__, NULL}))
#define CLI_IN(r, in, inlen, ...) (res_free(r), runv(r, in, inlen, (const char *const[]){__VA_ARGS__, NULL}))

static char *setup_dir(const char *tag) {
    char *dir;
    ck_assert_msg(find_cli(), "no cairn binary found (build tools/cli or set CAIRN_CLI)");
    dir = kvt_tmpdir(tag);
    snprintf(g_io, sizeof g_io, "%s", dir);
    return dir;
}

/* ---- an independent JSON parser, to check that --json and dump lines parse --------------------- */

static const char *jv(const char *p, int depth);

static const char *jws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static const char *jstr(const char *p) {
    if (*p++ != '"') return NULL;
    while (*p != '"') {
        if ((unsigned char)*p < 0x20) return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                int k;
                for (k = 1; k <= 4; k++)
                    if (!strchr("0123456789abcdefABCDEF", p[k]) || !p[k]) return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
    return p + 1;
}

static const char *jv(const char *p, int depth) {
    p = jws(p);
    if (depth > 100) return NULL;
    if (*p == '"') return jstr(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = jws(p + 1);
        if (*p == close) return p + 1;
        for (;;) {
            if (close == '}') {
                if (!(p = jstr(jws(p)))) return NULL;
                p = jws(p);
                if (*p++ != ':') return NULL;
            }
            if (!(p = jv(p, depth + 1))) return NULL;
            p = jws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        char *end;
        strtod(p, &end);
        return end > p ? end : NULL;
    }
    return NULL;
}

/* 1 if every non-empty line of s is one JSON object. */
static int json_lines(const char *s) {
    int lines = 0;
    while (*s) {
        const char *e;
        if (*s == '\n') {
            s++;
            continue;
        }
        if (*jws(s) != '{' || !(e = jv(s, 0))) return 0;
        e = jws(e);
        if (*e && *e != '\n' && e[-1] != '\n') return 0;
        s = e;
        lines++;
    }
    return lines > 0;
}

/* ---- tests ------------------------------------------------------------------------------------- */

static const char *const KV_CMDS[] = {"put", "get", "del", "list", "stats", "check", "compact", "dump", "load", NULL};
static const char *const BLOB_CMDS[] = {"create", "get", "update", "del", "list", "stats", "check", "compact",
                                        "dump", "load", NULL};

START_TEST(cli_help_and_version) {
    res r = {0};
    char *dir = setup_dir("cli");
    char want[64];
    int k;
    snprintf(want, sizeof want, "cairn %s\n", CAIRN_VERSION_STRING);
    ck_assert_int_eq(CLI(&r, "--version"), 0);
    ck_assert_str_eq(r.out, want);
    ck_assert_int_eq(CLI(&r, "version"), 0);
    ck_assert_str_eq(r.out, want);
    ck_assert_int_eq(CLI(&r, "--help"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "Exit codes:"));
    ck_assert_ptr_nonnull(strstr(r.out, "cairn shell"));
    for (k = 0; KV_CMDS[k]; k++) {
        char line[64];
        snprintf(line, sizeof line, "kv %s ", KV_CMDS[k]);
        ck_assert_msg(strstr(r.out, line) != NULL, "--help lacks %s", line);
    }
    for (k = 0; BLOB_CMDS[k]; k++) {
        char line[64];
        snprintf(line, sizeof line, "blob %s ", BLOB_CMDS[k]);
        ck_assert_msg(strstr(r.out, line) != NULL, "--help lacks %s", line);
    }
    ck_assert_int_eq(CLI(&r, "kv", "--help"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "kv compact DIR"));
    ck_assert_int_eq(CLI(&r, "help", "blob"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "blob compact FILE"));
    /* every command has help with a one-line description, three ways */
    for (k = 0; KV_CMDS[k]; k++) {
        char want_usage[64];
        snprintf(want_usage, sizeof want_usage, "usage: cairn kv %s ", KV_CMDS[k]);
        ck_assert_int_eq(CLI(&r, "help", "kv", KV_CMDS[k]), 0);
        ck_assert_msg(strstr(r.out, want_usage) && strstr(r.out, ".\n"), "help kv %s: %s", KV_CMDS[k], r.out);
        ck_assert_int_eq(CLI(&r, "kv", KV_CMDS[k], "--help"), 0);
        ck_assert_ptr_nonnull(strstr(r.out, want_usage));
        ck_assert_int_eq(CLI(&r, "kv", "help", KV_CMDS[k]), 0);
        ck_assert_ptr_nonnull(strstr(r.out, want_usage));
    }
    for (k = 0; BLOB_CMDS[k]; k++) {
        char want_usage[64];
        snprintf(want_usage, sizeof want_usage, "usage: cairn blob %s ", BLOB_CMDS[k]);
        ck_assert_int_eq(CLI(&r, "help", "blob", BLOB_CMDS[k]), 0);
        ck_assert_msg(strstr(r.out, want_usage) != NULL, "help blob %s: %s", BLOB_CMDS[k], r.out);
        ck_assert_int_eq(CLI(&r, "blob", BLOB_CMDS[k], "-h"), 0);
        ck_assert_ptr_nonnull(strstr(r.out, want_usage));
    }
    ck_assert_int_eq(CLI(&r, "help", "shell"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "usage: cairn shell"));
    /* help on what does not exist is a usage error */
    ck_assert_int_eq(CLI(&r, "help", "kv", "frobnicate"), 2);
    ck_assert_int_eq(CLI(&r, "help", "nosuch"), 2);
    res_free(&r);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* Every command that `cairn --help` lists (whatever the engine, snapshot commands included) has
 * its own help: `cairn help ENGINE CMD` and `cairn ENGINE CMD --help` print its usage line and a
 * one-line description ending in a period, exit 0. The list comes from --help itself, so a command
 * added without help fails here. */
START_TEST(cli_help_for_every_listed_command) {
    res r = {0}, h = {0};
    char *dir = setup_dir("cli");
    const char *engines[] = {"kv", "blob", "table", "repo"};
    int seen[4] = {0, 0, 0, 0};
    char *line, *save = NULL, *text;
    ck_assert_int_eq(CLI(&r, "--help"), 0);
    text = strdup(r.out);
    ck_assert_ptr_nonnull(text);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char eng[16], cmd[64], want[128];
        const char *desc;
        int e;
        /* command lines: two spaces, ENGINE, a space, COMMAND, a space */
        if (strncmp(line, "  ", 2) != 0 || sscanf(line + 2, "%15s %63s", eng, cmd) != 2) continue;
        for (e = 0; e < 4 && strcmp(eng, engines[e]) != 0; e++) {}
        if (e == 4) continue;
        seen[e]++;
        snprintf(want, sizeof want, "usage: cairn %s %s ", eng, cmd);
        ck_assert_msg(CLI(&h, "help", eng, cmd) == 0, "help %s %s: exit %d", eng, cmd, h.code);
        ck_assert_msg(strncmp(h.out, want, strlen(want)) == 0, "help %s %s: %s", eng, cmd, h.out);
        /* the description: the first non-empty line after the usage line, ending in '.' */
        desc = strchr(h.out, '\n');
        ck_assert_ptr_nonnull(desc);
        while (*desc == '\n') desc++;
        ck_assert_msg(*desc && strchr(desc, '\n') && strchr(desc, '\n')[-1] == '.', "help %s %s has no one-line description: %s",
                      eng, cmd, h.out);
        ck_assert_msg(CLI(&h, eng, cmd, "--help") == 0, "%s %s --help: exit %d", eng, cmd, h.code);
        ck_assert_msg(strncmp(h.out, want, strlen(want)) == 0, "%s %s --help: %s", eng, cmd, h.out);
    }
    /* every engine listed its commands, the snapshot ones with them */
    for (int e = 0; e < 4; e++) ck_assert_msg(seen[e] >= 8, "%s: %d commands listed", engines[e], seen[e]);
    ck_assert_ptr_nonnull(strstr(r.out, "  kv snapshot "));
    ck_assert_ptr_nonnull(strstr(r.out, "  table backup "));
    free(text);
    res_free(&r);
    res_free(&h);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(cli_exit_codes) {
    res r = {0};
    char *dir = setup_dir("cli"), *db = kvt_path(dir, "db"), *blob = kvt_path(dir, "b.db");
    char *missing = kvt_path(dir, "missing"), *nofile = kvt_path(dir, "nofile");
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "k", "v"), 0);
    ck_assert_int_eq(CLI(&r, "blob", "create", blob, "v"), 0);
    /* 1: not found */
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "nope"), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_NOTFOUND"));
    ck_assert_uint_eq(r.outlen, 0);
    ck_assert_int_eq(CLI(&r, "kv", "del", db, "nope"), 1);
    ck_assert_int_eq(CLI(&r, "blob", "get", blob, "9"), 1);
    ck_assert_int_eq(CLI(&r, "blob", "update", blob, "9", "x"), 1);
    ck_assert_int_eq(CLI(&r, "blob", "del", blob, "9"), 1);
    /* 2: usage */
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "k", "--frob"), 2);
    ck_assert_ptr_nonnull(strstr(r.err, "unknown option '--frob'"));
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "k", "v", "--kind", "nosuch"), 2);
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "k", "v", "--kind"), 2);
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "k", "v", "--ttl", "soon"), 2);
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "k", "v", "--ttl", "1h", "--expire-at", "5"), 2);
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "k", "--raw", "--hex"), 2);
    ck_assert_int_eq(CLI(&r, "kv", "del", db, "k", "--json"), 2); /* an option del does not take */
    ck_assert_int_eq(CLI(&r, "kv", "get", db), 2);
    ck_assert_int_eq(CLI(&r, "blob", "get", blob, "x"), 2);
    ck_assert_int_eq(CLI(&r, "frob"), 2);
    /* "--" lets a key or value start with '-' */
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "--", "-k", "-5"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "--", "-k"), 0);
    ck_assert_str_eq(r.out, "-5");
    /* 4: path */
    ck_assert_int_eq(CLI(&r, "kv", "get", missing, "k"), 4);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_PATH"));
    ck_assert_int_eq(CLI(&r, "blob", "list", missing), 4);
    {
        char at[PATH_MAX + 2];
        snprintf(at, sizeof at, "@%s", nofile);
        ck_assert_int_eq(CLI(&r, "kv", "put", db, "k", at), 4);
        ck_assert_int_eq(CLI(&r, "kv", "load", db, nofile), 4);
    }
    /* 7: locked, while this process holds the writer lock (reads still work) */
    {
        cairn_kv *kv;
        cairn_blob *b;
        ck_assert_int_eq(cairn_kv_open(&kv, db, NULL), 0);
        ck_assert_int_eq(CLI(&r, "kv", "put", db, "k", "v2"), 7);
        ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_LOCKED"));
        ck_assert_int_eq(CLI(&r, "kv", "get", db, "k"), 0);
        cairn_kv_close(kv);
        ck_assert_int_eq(cairn_blob_open(&b, blob, NULL), 0);
        ck_assert_int_eq(CLI(&r, "blob", "create", blob, "v"), 7);
        cairn_blob_close(b);
    }
    /* 8: refused values */
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "j", "{\"a\":", "--kind", "json"), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "not a JSON document"));
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "bad", "\xff\xfe"), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "not valid UTF-8"));
    /* 5: I/O (standard output on a full disk) */
    if (access("/dev/full", W_OK) == 0) {
        g_stdout_to = "/dev/full";
        ck_assert_int_eq(CLI(&r, "kv", "get", db, "k"), 5);
        ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_NOSPC"));
        ck_assert_int_eq(CLI(&r, "kv", "dump", db), 5);
        ck_assert_int_eq(CLI(&r, "blob", "list", blob), 5);
        g_stdout_to = NULL;
    }
    /* 6: corrupt (one flipped bit in the middle of the data file) */
    {
        char **names;
        size_t n = kvt_list(db, ".data", &names);
        char *p;
        ck_assert_uint_ge(n, 1);
        p = kvt_path(db, names[0]);
        ck_assert_int_eq(CLI(&r, "kv", "check", db), 0);
        kvt_flip(p, kvt_fsize(p) / 2);
        ck_assert_int_eq(CLI(&r, "kv", "check", db), 6);
        ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_CORRUPT"));
        ck_assert_int_eq(CLI(&r, "kv", "check", db, "--json"), 6);
        ck_assert(json_lines(r.out));
        ck_assert_ptr_nonnull(strstr(r.out, "\"ok\":false"));
        ck_assert_ptr_nonnull(strstr(r.out, "\"error\":\"CAIRN_CORRUPT\""));
        free(p);
        kvt_list_free(names, n);
    }
    res_free(&r);
    free(db), free(blob), free(missing), free(nofile);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* The value and kind of key k through the core (a read-only handle); 0 if present. */
static int core_get(const char *db, const char *k, size_t klen, char **v, size_t *n, int *kind) {
    cairn_kv *kv;
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    void *val = NULL;
    int rc;
    o.read_only = 1;
    ck_assert_int_eq(cairn_kv_open(&kv, db, &o), 0);
    rc = cairn_kv_get(kv, k, klen, &val, n, kind);
    *v = (char *)val;
    cairn_kv_close(kv);
    return rc;
}

START_TEST(cli_values_and_kinds) {
    res r = {0};
    char *dir = setup_dir("cli"), *db = kvt_path(dir, "db"), *file = kvt_path(dir, "value.bin");
    char at[PATH_MAX + 2], *v;
    unsigned char all[256];
    size_t n;
    int kind, k;
    for (k = 0; k < 256; k++) all[k] = (unsigned char)k;
    /* default kind: text */
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "t", "héllo"), 0);
    ck_assert_int_eq(core_get(db, "t", 1, &v, &n, &kind), 0);
    ck_assert_int_eq(kind, CAIRN_KIND_TEXT);
    ck_assert_uint_eq(n, 6);
    cairn_free(v);
    /* standard input: every byte as given (no newline added or removed) */
    ck_assert_int_eq(CLI_IN(&r, "line\n", 5, "kv", "put", db, "in", "-"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "in"), 0);
    ck_assert_str_eq(r.out, "line\n");
    /* binary data: refused as text (nothing stored), stored with --kind bytes, read back exactly */
    ck_assert_int_eq(CLI_IN(&r, all, sizeof all, "kv", "put", db, "bin", "-"), 8);
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "bin"), 1);
    ck_assert_int_eq(CLI_IN(&r, all, sizeof all, "kv", "put", db, "bin", "-", "--kind", "text"), 8);
    ck_assert_int_eq(CLI_IN(&r, all, sizeof all, "kv", "put", db, "bin", "-", "--kind=bytes"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "bin"), 0);
    ck_assert_uint_eq(r.outlen, 256);
    ck_assert_mem_eq(r.out, all, 256);
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "bin", "--raw"), 0);
    ck_assert_uint_eq(r.outlen, 256);
    ck_assert_mem_eq(r.out, all, 256);
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "bin", "--hex"), 0);
    ck_assert_uint_eq(r.outlen, 513);
    ck_assert(!strncmp(r.out, "000102", 6) && !strcmp(r.out + 506, "fdfeff\n"));
    ck_assert_int_eq(core_get(db, "bin", 3, &v, &n, &kind), 0);
    ck_assert_int_eq(kind, CAIRN_KIND_BYTES);
    ck_assert_uint_eq(n, 256);
    cairn_free(v);
    /* @FILE, and @@ for a literal '@' */
    spit(file, all, sizeof all);
    snprintf(at, sizeof at, "@%s", file);
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "f", at), 8);
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "f", at, "--kind", "bytes"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "f"), 0);
    ck_assert_uint_eq(r.outlen, 256);
    ck_assert_mem_eq(r.out, all, 256);
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "a", "@@home"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "a"), 0);
    ck_assert_str_eq(r.out, "@home");
    /* JSON: validated, stored with CAIRN_KIND_JSON; any valid document, any depth */
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "j", " {\"n\": [1, -0.5e+3, 123456789012345678901234567890], "
                                                 "\"s\": \"\\u00e9\\ud83d\\ude00\\n\", \"t\": true} ", "--kind", "json"), 0);
    ck_assert_int_eq(core_get(db, "j", 1, &v, &n, &kind), 0);
    ck_assert_int_eq(kind, CAIRN_KIND_JSON);
    cairn_free(v);
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "j2", "\"just a string\"", "--kind", "json"), 0);
    {
        size_t depth = 100000, i;
        char *deep = (char *)malloc(2 * depth);
        for (i = 0; i < depth; i++) deep[i] = '[', deep[2 * depth - 1 - i] = ']';
        ck_assert_int_eq(CLI_IN(&r, deep, 2 * depth, "kv", "put", db, "deep", "-", "--kind", "json"), 0);
        deep[2 * depth - 1] = ' '; /* one bracket short */
        ck_assert_int_eq(CLI_IN(&r, deep, 2 * depth, "kv", "put", db, "deep", "-", "--kind", "json"), 8);
        free(deep);
    }
    {
        static const char *const bad[] = {"", " ", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "-",
                                          "tru", "nul", "'a'", "\"\\x\"", "\"a\tb\"", "{\"a\" 1}", "[1 2]",
                                          "{1:2}", "1 2", "\"\\u12\"", "NaN", "[\"\xc3\x28\"]", NULL};
        for (k = 0; bad[k]; k++)
            ck_assert_msg(CLI(&r, "kv", "put", db, "bad", bad[k], "--kind", "json") == 8, "'%s' was taken as JSON",
                          bad[k]);
        ck_assert_int_eq(CLI(&r, "kv", "get", db, "bad"), 1);
    }
    /* UTF-8: overlongs, surrogates and truncated sequences are not text */
    {
        static const char *const bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\x80", NULL};
        for (k = 0; bad[k]; k++) ck_assert_int_eq(CLI(&r, "kv", "put", db, "u", bad[k]), 8);
        ck_assert_int_eq(CLI(&r, "kv", "put", db, "u", "\xf0\x9f\x98\x80 \xe2\x82\xac"), 0);
    }
    /* expiry: --ttl and --expire-at; a key that expired reads as absent */
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "soon", "x", "--ttl", "2d"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "then", "x", "--expire-at", "4102444800000"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "gone", "x", "--expire-at", "1000"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "gone"), 1);
    ck_assert_int_eq(CLI(&r, "kv", "list", db, "-l", "t"), 0);
    ck_assert_str_eq(r.out, "text            6  -                         t\n"
                            "text            1  2100-01-01T00:00:00Z      then\n");
    /* blobs are bytes: anything goes, from stdin or a file */
    {
        char *b = kvt_path(dir, "b.db");
        ck_assert_int_eq(CLI_IN(&r, all, sizeof all, "blob", "create", b, "-"), 0);
        ck_assert_str_eq(r.out, "1\n");
        ck_assert_int_eq(CLI(&r, "blob", "get", b, "1"), 0);
        ck_assert_uint_eq(r.outlen, 256);
        ck_assert_mem_eq(r.out, all, 256);
        ck_assert_int_eq(CLI(&r, "blob", "update", b, "1", at), 0);
        ck_assert_int_eq(CLI(&r, "blob", "get", b, "1", "--hex"), 0);
        ck_assert_uint_eq(r.outlen, 513);
        free(b);
    }
    res_free(&r);
    free(db), free(file);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(cli_json_outputs) {
    res r = {0};
    char *dir = setup_dir("cli"), *db = kvt_path(dir, "db"), *b = kvt_path(dir, "b.db");
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "user:1", "ana \"the\" \\ \n", "--ttl", "1h"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "doc", "{\"a\":[1,2]}", "--kind", "json"), 0);
    ck_assert_int_eq(CLI_IN(&r, "\x00\xff", 2, "kv", "put", db, "bin", "-", "--kind", "bytes"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "user:1", "--json"), 0);
    ck_assert_msg(json_lines(r.out), "%s", r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "\"kind\":\"text\""));
    ck_assert_ptr_nonnull(strstr(r.out, "\"value\":\"ana \\\"the\\\" \\\\ \\n\""));
    ck_assert_ptr_null(strstr(r.out, "\"expire_at\":null"));
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "bin", "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "\"value_b64\":\"AP8=\""));
    ck_assert_ptr_nonnull(strstr(r.out, "\"expire_at\":null"));
    ck_assert_int_eq(CLI(&r, "kv", "get", db, "doc", "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "\"kind\":\"json\""));
    ck_assert_int_eq(CLI(&r, "kv", "list", db, "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_str_eq(r.out, "{\"key\":\"bin\"}\n{\"key\":\"doc\"}\n{\"key\":\"user:1\"}\n");
    ck_assert_int_eq(CLI(&r, "kv", "list", db, "--json", "-l"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "{\"key\":\"bin\",\"kind\":\"bytes\",\"size\":2,\"expire_at\":null}\n"));
    ck_assert_int_eq(CLI(&r, "kv", "stats", db, "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "\"keys\":3,"));
    ck_assert_ptr_nonnull(strstr(r.out, "\"dead_ratio\":"));
    ck_assert_int_eq(CLI(&r, "kv", "check", db, "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "\"ok\":true"));
    /* the stats for a person: units and the dead share */
    ck_assert_int_eq(CLI(&r, "kv", "put", db, "user:1", "again"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "stats", db), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "% of the records: what `cairn kv compact` frees"));
    ck_assert_ptr_nonnull(strstr(r.out, " B"));
    /* blob */
    ck_assert_int_eq(CLI(&r, "blob", "create", b, "one"), 0);
    ck_assert_int_eq(CLI_IN(&r, "\x01\x02\x03", 3, "blob", "create", b, "-"), 0);
    ck_assert_int_eq(CLI(&r, "blob", "get", b, "2", "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_str_eq(r.out, "{\"key\":2,\"size\":3,\"value\":\"\\u0001\\u0002\\u0003\"}\n");
    ck_assert_int_eq(CLI(&r, "blob", "list", b, "--json", "-l"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_str_eq(r.out, "{\"key\":1,\"size\":3}\n{\"key\":2,\"size\":3}\n");
    ck_assert_int_eq(CLI(&r, "blob", "list", b, "-l"), 0);
    ck_assert_str_eq(r.out, "         1            3\n         2            3\n");
    ck_assert_int_eq(CLI(&r, "blob", "stats", b, "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "\"entries\":2,"));
    ck_assert_ptr_nonnull(strstr(r.out, "\"free_ratio\":"));
    ck_assert_int_eq(CLI(&r, "blob", "check", b, "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_int_eq(CLI(&r, "blob", "stats", b), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "% of the file"));
    res_free(&r);
    free(db), free(b);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* Every key, kind, value and expiry of two KV stores is the same. */
static void kv_same(const char *a, const char *b) {
    cairn_kv *x, *y;
    cairn_kv_iter *ix, *iy;
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    const void *kx, *ky;
    size_t lx, ly;
    uint64_t cx, cy;
    int rx, ry;
    o.read_only = 1;
    ck_assert_int_eq(cairn_kv_open(&x, a, &o), 0);
    ck_assert_int_eq(cairn_kv_open(&y, b, &o), 0);
    ck_assert_int_eq(cairn_kv_count(x, &cx), 0);
    ck_assert_int_eq(cairn_kv_count(y, &cy), 0);
    ck_assert_uint_eq(cx, cy);
    ck_assert_int_eq(cairn_kv_iter_open(&ix, x, "", 0), 0);
    ck_assert_int_eq(cairn_kv_iter_open(&iy, y, "", 0), 0);
    for (;;) {
        void *vx, *vy;
        size_t nx, ny;
        int kx_, ky_;
        int64_t ex, ey;
        rx = cairn_kv_iter_next(ix, &kx, &lx);
        ry = cairn_kv_iter_next(iy, &ky, &ly);
        ck_assert_int_eq(rx, ry);
        if (rx) break;
        ck_assert_uint_eq(lx, ly);
        ck_assert_mem_eq(kx, ky, lx);
        ck_assert_int_eq(cairn_kv_get(x, kx, lx, &vx, &nx, &kx_), 0);
        ck_assert_int_eq(cairn_kv_get(y, ky, ly, &vy, &ny, &ky_), 0);
        ck_assert_uint_eq(nx, ny);
        if (nx) ck_assert_mem_eq(vx, vy, nx);
        ck_assert_int_eq(kx_, ky_);
        ck_assert_int_eq(cairn_kv_expiry(x, kx, lx, &ex), 0);
        ck_assert_int_eq(cairn_kv_expiry(y, ky, ly, &ey), 0);
        ck_assert_int_eq(ex, ey);
        cairn_free(vx), cairn_free(vy);
    }
    ck_assert_int_eq(rx, CAIRN_ITEROVER);
    cairn_kv_iter_free(ix), cairn_kv_iter_free(iy);
    cairn_kv_close(x), cairn_kv_close(y);
}

START_TEST(cli_kv_dump_load) {
    res r = {0};
    char *dir = setup_dir("cli"), *a = kvt_path(dir, "a"), *b = kvt_path(dir, "b"), *c = kvt_path(dir, "c");
    char *dumpf = kvt_path(dir, "a.dump");
    char *text;
    size_t n;
    unsigned char all[256], *big;
    cairn_kv *kv;
    int k;
    uint64_t seed = 7;
    for (k = 0; k < 256; k++) all[k] = (unsigned char)k;
    big = (unsigned char *)malloc(200000);
    for (k = 0; k < 200000; k++) big[k] = (unsigned char)kvt_rand(&seed);
    /* a store with every kind, binary keys and values, empty values, expiries, a large value, and
     * more records than one load transaction holds */
    ck_assert_int_eq(cairn_kv_open(&kv, a, NULL), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "text", 4, "héllo\n\"q\"", 10, CAIRN_KIND_TEXT), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "json", 4, "{\"a\":[1,2]}", 11, CAIRN_KIND_JSON), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "bytes", 5, all, sizeof all, CAIRN_KIND_BYTES), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "ascii-bytes", 11, "abc", 3, CAIRN_KIND_BYTES), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "native", 6, "\x80\x04N.", 4, CAIRN_KIND_NATIVE), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "empty", 5, "", 0, CAIRN_KIND_TEXT), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "\xff\x00key\n", 6, "binary key", 10, CAIRN_KIND_TEXT), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "big", 3, big, 200000, CAIRN_KIND_BYTES), 0);
    ck_assert_int_eq(cairn_kv_put_ex(kv, "ttl", 3, "later", 5, CAIRN_KIND_TEXT, 4102444800123LL), 0);
    ck_assert_int_eq(cairn_kv_put_ex(kv, "expired", 7, "x", 1, CAIRN_KIND_TEXT, 1000), 0);
    for (k = 0; k < 5000; k++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "n:%05d", k);
        snprintf(val, sizeof val, "value %d", k * 7);
        ck_assert_int_eq(cairn_kv_put(kv, key, strlen(key), val, strlen(val), CAIRN_KIND_TEXT), 0);
    }
    cairn_kv_close(kv);
    ck_assert_int_eq(CLI(&r, "kv", "dump", a), 0);
    ck_assert_uint_eq(r.errlen, 0); /* no progress on a stderr that is not a terminal */
    ck_assert(json_lines(r.out));
    ck_assert(!strncmp(r.out, "{\"cairn_dump\":1,\"engine\":\"kv\",", 30));
    ck_assert_ptr_nonnull(strstr(r.out, "{\"end\":true,\"records\":5009}\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "{\"key\":\"ttl\",\"kind\":\"text\",\"expire_at\":4102444800123,\"value\":\"later\"}\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "{\"key_b64\":\"/wBrZXkK\",\"kind\":\"text\",\"value\":\"binary key\"}\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "\"kind\":\"native\",\"value_b64\":\"gAROLg==\"}"));
    ck_assert_ptr_null(strstr(r.out, "expired"));
    spit(dumpf, r.out, r.outlen);
    /* from a file, and from standard input */
    ck_assert_int_eq(CLI(&r, "kv", "load", b, dumpf), 0);
    ck_assert_str_eq(r.out, "loaded 5009 records\n");
    ck_assert_uint_eq(r.errlen, 0);
    kv_same(a, b);
    text = slurp(dumpf, &n);
    ck_assert_int_eq(CLI_IN(&r, text, n, "kv", "load", c), 0);
    kv_same(a, c);
    /* the dump of the copy is the same text */
    ck_assert_int_eq(CLI(&r, "kv", "dump", c), 0);
    ck_assert_uint_eq(r.outlen, n);
    ck_assert_mem_eq(r.out, text, n);
    /* a dump with a prefix */
    ck_assert_int_eq(CLI(&r, "kv", "dump", a, "te"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "{\"end\":true,\"records\":1}\n"));
    /* loading again: the keys exist (exit 8) unless --replace */
    ck_assert_int_eq(CLI(&r, "kv", "load", b, dumpf), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "already in the store"));
    ck_assert_int_eq(CLI(&r, "kv", "load", b, dumpf, "--replace"), 0);
    kv_same(a, b);
    /* broken dumps are refused with the line number */
    {
        char *d = kvt_path(dir, "d"), *end = strstr(text, "{\"end\"");
        static const char hdr[] = "{\"cairn_dump\":1,\"engine\":\"kv\"}\n";
        char line[512];
        ck_assert_int_eq(CLI_IN(&r, text, (size_t)(end - text), "kv", "load", d), 8); /* truncated */
        ck_assert_ptr_nonnull(strstr(r.err, "truncated"));
        ck_assert_int_eq(CLI_IN(&r, "", 0, "kv", "load", d), 8);
        ck_assert_int_eq(CLI_IN(&r, "{\"cairn_dump\":1,\"engine\":\"blob\"}\n{\"end\":true,\"records\":0}\n", 58,
                                "kv", "load", d), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "blob"));
        ck_assert_int_eq(CLI_IN(&r, "{\"cairn_dump\":2,\"engine\":\"kv\"}\n", 31, "kv", "load", d), 8);
        snprintf(line, sizeof line, "%s{\"key\":\"k\",\"kind\":\"text\",\"value\":\"v\"}\n{\"end\":true,\"records\":2}\n", hdr);
        ck_assert_int_eq(CLI_IN(&r, line, strlen(line), "kv", "load", d), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "line 3"));
        snprintf(line, sizeof line, "%s{\"key\":\"k\",\"kind\":\"text\",\"value_b64\":\"/w==\"}\n{\"end\":true,\"records\":1}\n", hdr);
        ck_assert_int_eq(CLI_IN(&r, line, strlen(line), "kv", "load", d), 8); /* text that is not UTF-8 */
        snprintf(line, sizeof line, "%s{\"key\":\"k\",\"kind\":\"text\",\"value\":\"v\",\"value_b64\":\"dg==\"}\n", hdr);
        ck_assert_int_eq(CLI_IN(&r, line, strlen(line), "kv", "load", d), 8);
        snprintf(line, sizeof line, "%s{\"key\":\"k\",\"kind\":\"text\",\"value\":\"v\"\n", hdr);
        ck_assert_int_eq(CLI_IN(&r, line, strlen(line), "kv", "load", d), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "line 2"));
        /* unknown fields are ignored; blank lines are fine */
        snprintf(line, sizeof line, "%s\n{\"key\":\"k\",\"kind\":\"json\",\"value\":\"[1]\",\"x\":{\"y\":[1.5]}}\n\n"
                 "{\"end\":true,\"records\":1}\n", hdr);
        ck_assert_int_eq(CLI_IN(&r, line, strlen(line), "kv", "load", d), 0);
        ck_assert_str_eq(r.out, "loaded 1 records\n");
        free(d);
    }
    free(text);
    free(big);
    res_free(&r);
    free(a), free(b), free(c), free(dumpf);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(cli_blob_dump_load) {
    res r = {0};
    char *dir = setup_dir("cli"), *a = kvt_path(dir, "a.db"), *b = kvt_path(dir, "b.db");
    cairn_blob *x, *y;
    unsigned char all[256];
    static const uint32_t keys[] = {1, 7, 8, 1000000, 4294967294u};
    int k;
    uint64_t cnt;
    for (k = 0; k < 256; k++) all[k] = (unsigned char)k;
    ck_assert_int_eq(cairn_blob_open(&x, a, NULL), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(x, keys[0], "text", 4), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(x, keys[1], all, sizeof all), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(x, keys[2], "", 0), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(x, keys[3], "{\"j\":1}", 7), 0);
    ck_assert_int_eq(cairn_blob_create_with_key(x, keys[4], all + 128, 128), 0);
    cairn_blob_close(x);
    ck_assert_int_eq(CLI(&r, "blob", "dump", a), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "\"engine\":\"blob\""));
    ck_assert_ptr_nonnull(strstr(r.out, "{\"key\":8,\"value\":\"\"}\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "{\"end\":true,\"records\":5}\n"));
    {
        char *dump = (char *)malloc(r.outlen);
        size_t n = r.outlen;
        memcpy(dump, r.out, n);
        ck_assert_int_eq(CLI_IN(&r, dump, n, "blob", "load", b), 0);
        ck_assert_str_eq(r.out, "loaded 5 records\n");
        ck_assert_int_eq(CLI(&r, "blob", "dump", b), 0);
        ck_assert_uint_eq(r.outlen, n);
        ck_assert_mem_eq(r.out, dump, n);
        /* again: the keys exist, unless --replace */
        ck_assert_int_eq(CLI_IN(&r, dump, n, "blob", "load", b), 8);
        ck_assert_int_eq(CLI_IN(&r, dump, n, "blob", "load", b, "--replace"), 0);
        /* a KV dump is not a blob dump */
        ck_assert_int_eq(CLI_IN(&r, "{\"cairn_dump\":1,\"engine\":\"kv\"}\n", 31, "blob", "load", b), 8);
        free(dump);
    }
    ck_assert_int_eq(cairn_blob_open(&x, a, NULL), 0);
    ck_assert_int_eq(cairn_blob_open(&y, b, NULL), 0);
    ck_assert_int_eq(cairn_blob_count(y, &cnt), 0);
    ck_assert_uint_eq(cnt, 5);
    for (k = 0; k < 5; k++) {
        void *dx, *dy;
        size_t nx, ny;
        ck_assert_int_eq(cairn_blob_read(x, keys[k], &dx, &nx), 0);
        ck_assert_int_eq(cairn_blob_read(y, keys[k], &dy, &ny), 0);
        ck_assert_uint_eq(nx, ny);
        if (nx) ck_assert_mem_eq(dx, dy, nx);
        cairn_free(dx), cairn_free(dy);
    }
    cairn_blob_close(x), cairn_blob_close(y);
    res_free(&r);
    free(a), free(b);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(cli_shell_session) {
    res r = {0};
    char *dir = setup_dir("cli"), *db = kvt_path(dir, "db"), *b = kvt_path(dir, "b.db");
    static const char script[] = "# a comment\n"
                                 "put greeting 'hello world'\n"
                                 "put doc \"{\\\"a\\\": 1}\" --kind json\n"
                                 "\n"
                                 "get greeting\n"
                                 "get doc --json\n"
                                 "list\n"
                                 "get missing\n"
                                 "frobnicate\n"
                                 "put 'unclosed\n"
                                 "stats --json\n"
                                 "quit\n"
                                 "get greeting\n";
    ck_assert_int_eq(CLI_IN(&r, script, strlen(script), "shell", "kv", db), 2); /* the last failure */
    ck_assert_msg(!strncmp(r.out, "hello world\n{\"key\":\"doc\",\"kind\":\"json\",\"size\":8,\"expire_at\":null,"
                                  "\"value\":\"{\\\"a\\\": 1}\"}\ndoc\ngreeting\n{\"engine\":\"kv\",\"keys\":2,", 109),
                  "%s", r.out);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_NOTFOUND"));
    ck_assert_ptr_nonnull(strstr(r.err, "unknown command 'frobnicate'"));
    ck_assert_ptr_nonnull(strstr(r.err, "unclosed quote"));
    ck_assert_ptr_null(strstr(r.out, "cairn kv>")); /* no prompt when stdin is not a terminal */
    /* an existing directory is a KV store without saying so; all good: exit 0 */
    ck_assert_int_eq(CLI_IN(&r, "get greeting\nhelp\n", 18, "shell", db), 0);
    ck_assert(!strncmp(r.out, "hello world\nusage: cairn kv COMMAND", 35));
    /* blob */
    ck_assert_int_eq(CLI_IN(&r, "create one\ncreate two\nget 2\ndel 1\nlist\n", 39, "shell", "blob", b), 0);
    ck_assert_str_eq(r.out, "1\n2\ntwo\n2\n");
    ck_assert_int_eq(CLI_IN(&r, "list -l\n", 8, "shell", b), 0);
    ck_assert_str_eq(r.out, "         2            3\n");
    /* standard input is the shell's: '-' cannot be a value there */
    ck_assert_int_eq(CLI_IN(&r, "create -\n", 9, "shell", b), 2);
    {
        char *nothing = kvt_path(dir, "nothing");
        ck_assert_int_eq(CLI(&r, "shell", nothing), 2);
        free(nothing);
    }
    res_free(&r);
    free(db), free(b);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* To a terminal: the value ends with a newline and control bytes are shown as \xNN. */
START_TEST(cli_terminal_output) {
    res r = {0};
    char *dir = setup_dir("cli"), *db = kvt_path(dir, "db");
    int m, status;
    pid_t pid;
    char buf[256];
    size_t n = 0;
    ssize_t got;
    ck_assert_int_eq(CLI_IN(&r, "a\x1b[2Jb\xff", 7, "kv", "put", db, "k", "-", "--kind", "bytes"), 0);
    m = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(m, 0);
    ck_assert_int_eq(grantpt(m), 0);
    ck_assert_int_eq(unlockpt(m), 0);
    pid = fork();
    if (pid == 0) {
        int s = open(ptsname(m), O_RDWR);
        const char *argv[] = {g_cli, "kv", "get", db, "k", NULL};
        struct termios t;
        if (s < 0) _exit(126);
        tcgetattr(s, &t);
        cfmakeraw(&t); /* no \n -> \r\n */
        tcsetattr(s, TCSANOW, &t);
        dup2(s, 1);
        execv(g_cli, (char *const *)argv);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    while (n < sizeof buf - 1) {
        struct pollfd p = {m, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0 || (got = read(m, buf + n, sizeof buf - 1 - n)) <= 0) break;
        n += (size_t)got;
    }
    buf[n] = 0;
    close(m);
    ck_assert_str_eq(buf, "a\\x1b[2Jb\\xff\n");
    res_free(&r);
    free(db);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST


/* ---- tables ------------------------------------------------------------------------------------ */

static const char *const TABLE_CMDS[] = {"create", "insert", "get", "update", "delete", "count", "list", "stats",
                                         "check", "compact", "schema", "import", "export", "dump", "load", "select", "index",
                                         "snapshot", "snapshots", "drop-snapshot", "backup", "repair", NULL};

#define TSCHEMA "id i64 primary key, name string not null, score f64, tag bytes:2, at timestamp, ok bool"

START_TEST(cli_table_commands) {
    res r = {0};
    char *dir = setup_dir("cli"), *db = kvt_path(dir, "users"), *missing = kvt_path(dir, "missing");
    int k;
    ck_assert_int_eq(CLI(&r, "table", "create", db, TSCHEMA), 0);
    ck_assert_int_eq(CLI(&r, "table", "create", db, TSCHEMA), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_EXISTS"));
    ck_assert_int_eq(CLI(&r, "table", "create", missing, "id i64 primary key, id string"), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_INVALID"));
    /* insert: one row, a batch, refusals */
    ck_assert_int_eq(CLI(&r, "table", "insert", db,
                         "{\"id\":1,\"name\":\"Ana\",\"score\":1.5,\"tag\":{\"$bytes\":\"beef\"},\"at\":1700000000123456,"
                         "\"ok\":true}"), 0);
    ck_assert_str_eq(r.out, "1\n");
    ck_assert_int_eq(CLI(&r, "table", "insert", db, "[{\"id\":2,\"name\":\"Bob\"},{\"id\":3,\"name\":\"Cy\"}]"), 0);
    ck_assert_str_eq(r.out, "2\n3\n");
    ck_assert_int_eq(CLI(&r, "table", "insert", db, "{\"id\":1,\"name\":\"dup\"}"), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_CONSTRAINT"));
    ck_assert_int_eq(CLI(&r, "table", "insert", db, "{\"id\":\"x\",\"name\":\"t\"}"), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_TYPE"));
    ck_assert_int_eq(CLI(&r, "table", "insert", db, "{\"id\":9,\"name\":\"t\",\"nope\":1}"), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_SCHEMA"));
    ck_assert_int_eq(CLI(&r, "table", "insert", db, "{\"id\":9}"), 8); /* name is NOT NULL */
    ck_assert_int_eq(CLI(&r, "table", "insert", db, "[{\"id\":10,\"name\":\"a\"},{\"id\":10,\"name\":\"b\"}]"), 8);
    ck_assert_int_eq(CLI(&r, "table", "count", db), 0);
    ck_assert_str_eq(r.out, "3\n");
    /* get */
    ck_assert_int_eq(CLI(&r, "table", "get", db, "1"), 0);
    ck_assert_msg(r.out[0] == '{' && strstr(r.out, "Ana") && strstr(r.out, "beef") && strstr(r.out, "1700000000123456"),
                  "get: %s", r.out);
    ck_assert(json_lines(r.out));
    ck_assert_int_eq(CLI(&r, "table", "get", db, "1", "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "{\"id\":1,\"row\":{"));
    ck_assert_int_eq(CLI(&r, "table", "get", db, "99"), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_NOTFOUND"));
    ck_assert_int_eq(CLI(&r, "table", "get", db, "x"), 2);
    ck_assert_int_eq(CLI(&r, "table", "get", db, "-1"), 2);
    /* update, delete; ids are never reused */
    ck_assert_int_eq(CLI(&r, "table", "update", db, "2", "{\"name\":\"Bob2\",\"score\":-0.25}"), 0);
    ck_assert_int_eq(CLI(&r, "table", "get", db, "2"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "Bob2"));
    ck_assert_int_eq(CLI(&r, "table", "update", db, "99", "{\"name\":\"x\"}"), 1);
    ck_assert_int_eq(CLI(&r, "table", "update", db, "2", "{\"name\":null}"), 8);
    ck_assert_int_eq(CLI(&r, "table", "delete", db, "3"), 0);
    ck_assert_int_eq(CLI(&r, "table", "delete", db, "3"), 1);
    ck_assert_int_eq(CLI(&r, "table", "del", db, "3"), 1);
    {
        static const char row4[] = "{\"id\":4,\"name\":\"Dee\",\"ok\":false}";
        ck_assert_int_eq(CLI_IN(&r, row4, sizeof row4 - 1, "table", "insert", db, "-"), 0);
    }
    ck_assert_str_eq(r.out, "4\n");
    /* list */
    ck_assert_int_eq(CLI(&r, "table", "list", db), 0);
    ck_assert_str_eq(r.out, "rowid\tid\tname\tscore\ttag\tat\tok\n"
                            "1\t1\tAna\t1.5\tx'beef'\t2023-11-14T22:13:20.123456Z\ttrue\n"
                            "2\t2\tBob2\t-0.25\tNULL\tNULL\tNULL\n"
                            "4\t4\tDee\tNULL\tNULL\tNULL\tfalse\n");
    ck_assert_int_eq(CLI(&r, "table", "list", db, "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "{\"id\":4,\"row\":{"));
    /* stats, schema, check, compact */
    ck_assert_int_eq(CLI(&r, "table", "stats", db), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "rows          3\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "next id       5\n"));
    ck_assert_int_eq(CLI(&r, "table", "stats", db, "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "\"engine\":\"table\",\"rows\":3,"));
    ck_assert_int_eq(CLI(&r, "table", "schema", db), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "id i64 primary key"));
    ck_assert_int_eq(CLI(&r, "table", "schema", db, "--json"), 0);
    ck_assert_msg(r.out[0] == '[', "schema --json: %s", r.out);
    ck_assert_int_eq(CLI(&r, "table", "check", db), 0);
    ck_assert_str_eq(r.out, "ok\n");
    ck_assert_int_eq(CLI(&r, "table", "check", db, "--json"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "{\"ok\":true,"));
    ck_assert_int_eq(CLI(&r, "table", "compact", db), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "compacted"));
    ck_assert_int_eq(CLI(&r, "table", "get", db, "4"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "Dee"));
    /* a missing table */
    ck_assert_int_eq(CLI(&r, "table", "count", missing), 4);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_PATH"));
    ck_assert_int_eq(CLI(&r, "table", "insert", missing, "{}"), 4);
    ck_assert_int_eq(CLI(&r, "table", "check", missing), 4);
    ck_assert_int_eq(CLI(&r, "table", "frobnicate", db), 2);
    ck_assert_int_eq(CLI(&r, "table", "get", db), 2);
    /* help for every command */
    for (k = 0; TABLE_CMDS[k]; k++) {
        char want_usage[64];
        snprintf(want_usage, sizeof want_usage, "usage: cairn table %s ", TABLE_CMDS[k]);
        ck_assert_int_eq(CLI(&r, "help", "table", TABLE_CMDS[k]), 0);
        ck_assert_msg(strstr(r.out, want_usage) != NULL, "help table %s: %s", TABLE_CMDS[k], r.out);
        ck_assert_int_eq(CLI(&r, "table", TABLE_CMDS[k], "--help"), 0);
        ck_assert_ptr_nonnull(strstr(r.out, want_usage));
    }
    ck_assert_int_eq(CLI(&r, "--help"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "table import DIR FILE.csv"));
    /* the shell */
    ck_assert_int_eq(CLI_IN(&r, "count\nget 1\n", 12, "shell", "table", db), 0);
    ck_assert_msg(!strncmp(r.out, "3\n{", 3), "shell: %s", r.out);
    ck_assert_int_eq(CLI_IN(&r, "count\n", 6, "shell", db), 0); /* a directory with a MANIFEST: a table */
    ck_assert_str_eq(r.out, "3\n");
    res_free(&r);
    free(db), free(missing);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(cli_table_csv) {
    res r = {0};
    char *dir = setup_dir("cli"), *a = kvt_path(dir, "a"), *b = kvt_path(dir, "b"), *csv = kvt_path(dir, "in.csv");
    char *out1 = kvt_path(dir, "out1.csv"), *out2 = kvt_path(dir, "out2.csv"), *e1, *e2;
    static const char in[] =
        "ok,name,id,score,tag,at\r\n"
        "yes,\"Smith, \"\"Jo\"\"\",1,2.5,BEEF,2024-01-02T03:04:05Z\r\n"
        "0,\"\",2,,\\x0001,2024-01-02 03:04:05.5+01:00\n"
        ",\"line\nbreak\",3,nan,,1700000000000001\n"
        "\n";
    ck_assert_int_eq(CLI(&r, "table", "create", a, TSCHEMA), 0);
    spit(csv, in, sizeof in - 1);
    ck_assert_int_eq(CLI(&r, "table", "import", a, csv), 0);
    ck_assert_str_eq(r.out, "imported 3 rows\n");
    ck_assert_int_eq(CLI(&r, "table", "list", a), 0);
    ck_assert_str_eq(r.out, "rowid\tid\tname\tscore\ttag\tat\tok\n"
                            "1\t1\tSmith, \"Jo\"\t2.5\tx'beef'\t2024-01-02T03:04:05Z\ttrue\n"
                            "2\t2\t\tNULL\tx'0001'\t2024-01-02T02:04:05.500000Z\tfalse\n"
                            "3\t3\tline\\x0abreak\tnan\tNULL\t2023-11-14T22:13:20.000001Z\tNULL\n");
    ck_assert_int_eq(CLI(&r, "table", "export", a, out1), 0);
    e1 = slurp(out1, NULL);
    ck_assert_str_eq(e1, "id,name,score,tag,at,ok\n"
                         "1,\"Smith, \"\"Jo\"\"\",2.5,beef,2024-01-02T03:04:05Z,true\n"
                         "2,\"\",,0001,2024-01-02T02:04:05.500000Z,false\n"
                         "3,\"line\nbreak\",nan,,2023-11-14T22:13:20.000001Z,\n");
    /* to standard output too, and a round trip through a second table gives the same CSV */
    ck_assert_int_eq(CLI(&r, "table", "export", a), 0);
    ck_assert_str_eq(r.out, e1);
    ck_assert_int_eq(CLI(&r, "table", "create", b, TSCHEMA), 0);
    ck_assert_int_eq(CLI_IN(&r, e1, strlen(e1), "table", "import", b, "-"), 0);
    ck_assert_int_eq(CLI(&r, "table", "export", b, out2), 0);
    e2 = slurp(out2, NULL);
    ck_assert_str_eq(e1, e2);
    /* a refused row refuses the whole file and names its line */
    {
        static const char bad[] = "id,name\n10,ok\n11,fine\n1,duplicate\n";
        static const char badtype[] = "id,name,score\n12,x,notanumber\n";
        static const char badhead[] = "id,nope\n13,x\n";
        static const char badcount[] = "id,name\n14\n";
        ck_assert_int_eq(CLI_IN(&r, bad, sizeof bad - 1, "table", "import", a, "-"), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "line 4"));
        ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_CONSTRAINT"));
        ck_assert_int_eq(CLI_IN(&r, badtype, sizeof badtype - 1, "table", "import", a, "-"), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "line 2"));
        ck_assert_int_eq(CLI_IN(&r, badhead, sizeof badhead - 1, "table", "import", a, "-"), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "nope"));
        ck_assert_int_eq(CLI_IN(&r, badcount, sizeof badcount - 1, "table", "import", a, "-"), 8);
        ck_assert_int_eq(CLI(&r, "table", "count", a), 0);
        ck_assert_str_eq(r.out, "3\n");
    }
    ck_assert_int_eq(CLI(&r, "table", "import", a, csv + 1), 4); /* a missing file */
    res_free(&r);
    free(e1), free(e2);
    free(a), free(b), free(csv), free(out1), free(out2);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* ---- versioned store ---------------------------------------------------------------------------- */

static const char *const REPO_CMDS[] = {"init", "tenants", "entries", "save", "load", "log", "diff", "put", "get",
                                        "delete", "keys", "tag", "gc", "verify", "stats", "dump", "restore", NULL};

/* A digest line: 64 lowercase hex characters and a newline; copied into d. */
static void take_digest(const res *r, char *d) {
    int i;
    ck_assert_msg(r->outlen == 65 && r->out[64] == '\n', "not a digest line: %s", r->out);
    for (i = 0; i < 64; i++)
        ck_assert_msg((r->out[i] >= '0' && r->out[i] <= '9') || (r->out[i] >= 'a' && r->out[i] <= 'f'), "%s", r->out);
    memcpy(d, r->out, 64);
    d[64] = 0;
}

START_TEST(cli_repo_commands) {
    res r = {0};
    char *dir = setup_dir("cli"), *db = kvt_path(dir, "repo"), *missing = kvt_path(dir, "missing");
    char *vfile = kvt_path(dir, "value.bin"), at[PATH_MAX + 2], d1[65], d2[65], p1[65], p2[65], pack[PATH_MAX + 64];
    static const unsigned char bin[] = {0x00, 0xff, 0x10, 'a'};
    int k;
    FILE *f;
    /* init: the repository and a tenant; reads of a missing repository are exit 4 */
    ck_assert_int_eq(CLI(&r, "repo", "load", missing, "config"), 4);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_PATH"));
    ck_assert_int_eq(CLI(&r, "repo", "save", missing, "config", "x"), 4);
    ck_assert_int_eq(CLI(&r, "repo", "init", db), 0);
    ck_assert_int_eq(CLI(&r, "repo", "init", db, "beta", "--tenant", "ignored"), 0);
    ck_assert_int_eq(CLI(&r, "repo", "tenants", db), 0);
    ck_assert_str_eq(r.out, "beta\ndefault\n");
    ck_assert_int_eq(CLI(&r, "repo", "tenants", db, "--json"), 0);
    ck_assert(json_lines(r.out));
    /* save / load / log */
    ck_assert_int_eq(CLI(&r, "repo", "save", db, "config", "dark", "--user", "alice"), 0);
    take_digest(&r, d1);
    ck_assert_int_eq(CLI(&r, "repo", "save", db, "config", "light", "--user", "bob"), 0);
    take_digest(&r, d2);
    ck_assert_str_ne(d1, d2);
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "config"), 0);
    ck_assert_str_eq(r.out, "light"); /* to a file: the exact bytes */
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "config", "--digest", d1), 0);
    ck_assert_str_eq(r.out, "dark");
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "config", "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, d2));
    ck_assert_ptr_nonnull(strstr(r.out, "\"kind\":\"text\""));
    ck_assert_int_eq(CLI(&r, "repo", "log", db, "config"), 0);
    ck_assert_msg(!strncmp(r.out, d2, 64) && strstr(r.out, "bob") && strstr(r.out, d1) && strstr(r.out, "alice") &&
                      strstr(r.out, d2) < strstr(r.out, d1), "log: %s", r.out);
    ck_assert_int_eq(CLI(&r, "repo", "log", db, "config", "--json", "--max", "1"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_msg(strstr(r.out, d1) && !strchr(strchr(r.out, '\n') + 1, '{'), "log --max 1: %s", r.out); /* its parent */
    ck_assert_int_eq(CLI(&r, "repo", "log", db, "nope"), 1);
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "nope"), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_NOTFOUND"));
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "config", "--digest", "abc"), 8);
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "config", "--digest",
                         "0000000000000000000000000000000000000000000000000000000000000000"), 1);
    /* values from stdin and @FILE, kinds and their checks */
    spit(vfile, bin, sizeof bin);
    snprintf(at, sizeof at, "@%s", vfile);
    ck_assert_int_eq(CLI(&r, "repo", "save", db, "bin", at), 8); /* not UTF-8: refused as text */
    ck_assert_int_eq(CLI(&r, "repo", "save", db, "bin", at, "--kind", "bytes"), 0);
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "bin", "--hex"), 0);
    ck_assert_str_eq(r.out, "00ff1061\n");
    ck_assert_int_eq(CLI(&r, "repo", "save", db, "doc", "{nope", "--kind", "json"), 8);
    ck_assert_int_eq(CLI_IN(&r, "{\"a\":1}", 7, "repo", "save", db, "doc", "-", "--kind", "json"), 0);
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "doc", "--json"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "\"kind\":\"json\""));
    /* tenants are separate; an unknown one is exit 1 for writes */
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "config", "--tenant", "beta"), 1);
    ck_assert_int_eq(CLI(&r, "repo", "save", db, "config", "b", "--tenant", "beta"), 0);
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "config", "--tenant", "beta"), 0);
    ck_assert_str_eq(r.out, "b");
    ck_assert_int_eq(CLI(&r, "repo", "save", db, "config", "x", "--tenant", "ghost"), 1);
    ck_assert_int_eq(CLI(&r, "repo", "entries", db), 0);
    ck_assert_str_eq(r.out, "bin\nconfig\ndoc\n");
    /* collections: put / get / delete / keys / diff */
    ck_assert_int_eq(CLI(&r, "repo", "put", db, "users", "alice", "a"), 0);
    ck_assert_int_eq(CLI(&r, "repo", "put", db, "users", "bob", "b"), 0);
    take_digest(&r, p1);
    ck_assert_int_eq(CLI(&r, "repo", "put", db, "users", "carol", "{\"age\":3}", "--kind", "json"), 0);
    ck_assert_int_eq(CLI(&r, "repo", "delete", db, "users", "alice"), 0);
    take_digest(&r, p2);
    ck_assert_int_eq(CLI(&r, "repo", "delete", db, "users", "alice"), 1);
    ck_assert_int_eq(CLI(&r, "repo", "get", db, "users", "bob"), 0);
    ck_assert_str_eq(r.out, "b");
    ck_assert_int_eq(CLI(&r, "repo", "get", db, "users", "alice"), 1);
    ck_assert_int_eq(CLI(&r, "repo", "get", db, "users", "alice", "--digest", p1), 0);
    ck_assert_str_eq(r.out, "a");
    ck_assert_int_eq(CLI(&r, "repo", "get", db, "users", "carol", "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_int_eq(CLI(&r, "repo", "keys", db, "users"), 0);
    ck_assert_str_eq(r.out, "bob\ncarol\n");
    ck_assert_int_eq(CLI(&r, "repo", "keys", db, "users", "--digest", p1, "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "alice"));
    ck_assert_int_eq(CLI(&r, "repo", "keys", db, "users", "-l"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "json"));
    ck_assert_int_eq(CLI(&r, "repo", "diff", db, p1, p2), 0);
    ck_assert_str_eq(r.out, "A\tcarol\nD\talice\n");
    ck_assert_int_eq(CLI(&r, "repo", "diff", db, "-", p1, "--json"), 0);
    ck_assert_str_eq(r.out, "{\"added\":[\"alice\",\"bob\"],\"removed\":[],\"changed\":[]}\n");
    ck_assert_int_eq(CLI(&r, "repo", "diff", db, p1, d1), 8); /* a whole value: CAIRN_TYPE */
    ck_assert_int_eq(CLI(&r, "repo", "put", db, "config", "k", "v"), 8);
    ck_assert_int_eq(CLI(&r, "repo", "save", db, "users", "v"), 8);
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "users"), 8);
    ck_assert_int_eq(CLI(&r, "repo", "log", db, "users", "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "\"collection\":true"));
    /* tags */
    ck_assert_int_eq(CLI(&r, "repo", "tag", db, "v1", d1), 0);
    ck_assert_int_eq(CLI(&r, "repo", "tag", db, "v1"), 0);
    ck_assert_msg(!strncmp(r.out, d1, 64), "tag: %s", r.out);
    ck_assert_int_eq(CLI(&r, "repo", "tag", db, "nope"), 1);
    ck_assert_int_eq(CLI(&r, "repo", "tag", db, "v2",
                         "0000000000000000000000000000000000000000000000000000000000000000"), 1);
    /* gc, verify, stats */
    ck_assert_int_eq(CLI(&r, "repo", "gc", db), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "removed 0 objects"));
    ck_assert_int_eq(CLI(&r, "repo", "gc", db, "--grace", "60000", "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_int_eq(CLI(&r, "repo", "gc", db, "--grace", "soon"), 2);
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "config", "--digest", d1), 0);
    ck_assert_str_eq(r.out, "dark");
    ck_assert_int_eq(CLI(&r, "repo", "verify", db), 0);
    ck_assert_str_eq(r.out, "ok\n");
    ck_assert_int_eq(CLI(&r, "repo", "verify", db, "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_int_eq(CLI(&r, "repo", "stats", db), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "tenants       2"));
    ck_assert_int_eq(CLI(&r, "repo", "stats", db, "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_ptr_nonnull(strstr(r.out, "\"engine\":\"repo\",\"tenants\":2,"));
    /* the shell: by name, and found by its marker */
    ck_assert_int_eq(CLI_IN(&r, "get users bob\nkeys users\n", 25, "shell", "repo", db), 0);
    ck_assert_str_eq(r.out, "b\nbob\ncarol\n");
    ck_assert_int_eq(CLI_IN(&r, "load config\n", 12, "shell", db), 0);
    ck_assert_str_eq(r.out, "light\n");
    /* usage errors */
    ck_assert_int_eq(CLI(&r, "repo", "frobnicate", db), 2);
    ck_assert_int_eq(CLI(&r, "repo", "save", db, "config"), 2);
    ck_assert_int_eq(CLI(&r, "repo", "save", db, "config", "x", "--digest"), 2);
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "config", "--user", "u"), 2); /* not an option of load */
    ck_assert_int_eq(CLI(&r, "repo", "verify", missing), 4);
    /* damage: exit 6, never other bytes */
    snprintf(pack, sizeof pack, "%s/t/default/packs/pack-00000000", db);
    f = fopen(pack, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 46, SEEK_SET); /* the first object (45-byte header, kind byte): the value "dark" */
    {
        int c = fgetc(f);
        fseek(f, 46, SEEK_SET);
        fputc(c ^ 0x5a, f);
    }
    fclose(f);
    ck_assert_int_eq(CLI(&r, "repo", "verify", db), 6);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_CORRUPT"));
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "config", "--digest", d1), 6);
    ck_assert_int_eq(CLI(&r, "repo", "load", db, "config"), 0);
    ck_assert_str_eq(r.out, "light");
    /* help for every command */
    for (k = 0; REPO_CMDS[k]; k++) {
        char want_usage[64];
        snprintf(want_usage, sizeof want_usage, "usage: cairn repo %s ", REPO_CMDS[k]);
        ck_assert_int_eq(CLI(&r, "help", "repo", REPO_CMDS[k]), 0);
        ck_assert_msg(strstr(r.out, want_usage) && strstr(r.out, ".\n"), "help repo %s: %s", REPO_CMDS[k], r.out);
        ck_assert_int_eq(CLI(&r, "repo", REPO_CMDS[k], "--help"), 0);
        ck_assert_ptr_nonnull(strstr(r.out, want_usage));
    }
    ck_assert_int_eq(CLI(&r, "--help"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "repo diff DIR D1 D2"));
    res_free(&r);
    free(db), free(missing), free(vfile);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* `ENGINE stats PATH --prometheus`: the text of cairn_<engine>_metrics for the same store, for
 * every engine; one --prometheus or --json, not both. */
START_TEST(cli_stats_prometheus) {
    char *dir = setup_dir("cliprom"), *kvp = kvt_path(dir, "kv"), *bp = kvt_path(dir, "b.blob"),
         *tp = kvt_path(dir, "tbl"), *rp = kvt_path(dir, "repo"), *text = NULL, want[1024];
    res r = {0};
    ck_assert_int_eq(CLI(&r, "kv", "put", kvp, "a", "1"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "put", kvp, "a", "22"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "put", kvp, "b", "3"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "stats", kvp, "--prometheus"), 0);
    {
        cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
        cairn_kv *kv = NULL;
        o.read_only = 1;
        ck_assert_int_eq(cairn_kv_open(&kv, kvp, &o), 0);
        ck_assert_int_eq(cairn_kv_metrics(kv, &text), 0);
        cairn_kv_close(kv);
        ck_assert_str_eq(r.out, text);
        cairn_free(text);
    }
    snprintf(want, sizeof want, "# TYPE cairn_kv_keys gauge\ncairn_kv_keys{store=\"%s\"} 2\n", kvp);
    ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "# TYPE cairn_kv_compactions_total counter\n"));
    ck_assert_int_eq(CLI(&r, "kv", "stats", kvp, "--prometheus", "--json"), 2);

    ck_assert_int_eq(CLI(&r, "blob", "create", bp, "one"), 0);
    ck_assert_int_eq(CLI(&r, "blob", "create", bp, "two!"), 0);
    ck_assert_int_eq(CLI(&r, "blob", "stats", bp, "--prometheus"), 0);
    {
        cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
        cairn_blob *b = NULL;
        o.read_only = 1;
        ck_assert_int_eq(cairn_blob_open(&b, bp, &o), 0);
        ck_assert_int_eq(cairn_blob_metrics(b, &text), 0);
        cairn_blob_close(b);
        ck_assert_msg(strstr(text, "cairn_blob_entries{store=\"") != NULL, "%s", text);
        ck_assert_ptr_nonnull(strstr(r.out, "\"} 2\n"));
        ck_assert_str_eq(r.out, text);
        cairn_free(text);
    }

    ck_assert_int_eq(CLI(&r, "table", "create", tp, "id i64 primary key, name string"), 0);
    ck_assert_int_eq(CLI(&r, "table", "insert", tp, "{\"id\":1,\"name\":\"a\"}"), 0);
    ck_assert_int_eq(CLI(&r, "table", "stats", tp, "--prometheus"), 0);
    {
        cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
        cairn_table *t = NULL;
        o.read_only = 1;
        o.create = 0;
        ck_assert_int_eq(cairn_table_open(&t, tp, &o), 0);
        ck_assert_int_eq(cairn_table_metrics(t, &text), 0);
        cairn_table_close(t);
        ck_assert_str_eq(r.out, text);
        cairn_free(text);
    }
    snprintf(want, sizeof want, "cairn_table_rows{store=\"%s\"} 1\n", tp);
    ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);

    ck_assert_int_eq(CLI(&r, "repo", "init", rp), 0);
    ck_assert_int_eq(CLI(&r, "repo", "save", rp, "config", "dark", "--user", "alice"), 0);
    ck_assert_int_eq(CLI(&r, "repo", "stats", rp, "--prometheus"), 0);
    {
        cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
        cairn_repo *rr = NULL;
        o.read_only = 1;
        o.create = 0;
        ck_assert_int_eq(cairn_repo_open(&rr, rp, &o), 0);
        ck_assert_int_eq(cairn_repo_metrics(rr, &text), 0);
        cairn_repo_close(rr);
        ck_assert_str_eq(r.out, text);
        cairn_free(text);
    }
    snprintf(want, sizeof want, "# HELP cairn_repo_tenants ");
    ck_assert_ptr_nonnull(strstr(r.out, want));
    ck_assert_int_eq(CLI(&r, "repo", "stats", rp, "--json", "--prometheus"), 2);
    /* a missing store is the usual error, nothing on stdout */
    free(kvp);
    kvp = kvt_path(dir, "missing");
    ck_assert_int_eq(CLI(&r, "kv", "stats", kvp, "--prometheus"), 4);
    ck_assert_uint_eq(r.outlen, 0);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_PATH"));
    res_free(&r);
    free(kvp), free(bp), free(tp), free(rp);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* ---- table and repo dumps ---------------------------------------------------------------------- */

#define DSCHEMA "id i64 primary key, name string not null, data bytes, score f64, tag bytes:2 unique, " \
                "at timestamp, ok bool default true"

/* Every live row of a and b is the same JSON, under the same ids, and the next ids agree. */
static void table_same(const char *a, const char *b) {
    cairn_table_options to = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *x, *y;
    cairn_table_iter *it;
    struct cairn_table_stats sx = CAIRN_TABLE_STATS_INIT, sy = CAIRN_TABLE_STATS_INIT;
    const char *row;
    uint64_t id, n = 0, cnt;
    int rc;
    to.create = 0, to.read_only = 1;
    ck_assert_int_eq(cairn_table_open(&x, a, &to), 0);
    ck_assert_int_eq(cairn_table_open(&y, b, &to), 0);
    ck_assert_int_eq(cairn_table_iter_open(&it, x), 0);
    while ((rc = cairn_table_iter_next_json(it, &id, &row)) == 0) {
        char *other = NULL;
        ck_assert_int_eq(cairn_table_get_json(y, id, &other), 0);
        ck_assert_str_eq(other, row);
        cairn_free(other);
        n++;
    }
    ck_assert_int_eq(rc, CAIRN_ITEROVER);
    cairn_table_iter_free(it);
    ck_assert_int_eq(cairn_table_count(y, &cnt), 0);
    ck_assert_uint_eq(cnt, n);
    ck_assert_int_eq(cairn_table_stats(x, &sx), 0);
    ck_assert_int_eq(cairn_table_stats(y, &sy), 0);
    ck_assert_uint_eq(sx.next_id, sy.next_id);
    cairn_table_close(x);
    cairn_table_close(y);
}

START_TEST(cli_table_dump_load) {
    res r = {0};
    char *dir = setup_dir("cli"), *a = kvt_path(dir, "a"), *b = kvt_path(dir, "b"), *c = kvt_path(dir, "c");
    char *d = kvt_path(dir, "d"), *dumpf = kvt_path(dir, "a.dump"), want[128], *text;
    cairn_table_options to = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t;
    uint64_t id, seed = 11, live = 0;
    size_t n;
    int k, has_index;
    /* every type, binary bytes, NaN and infinities, nulls, text with controls and non-ASCII, more
     * rows than one load transaction holds; deleted rows (a run longer than a transaction too) and
     * deleted rows at the end, so that ids have gaps and the next id is past the last row */
    to.schema = DSCHEMA;
    to.sync = CAIRN_SYNC_NONE; /* one sync at the end */
    ck_assert_int_eq(cairn_table_open(&t, a, &to), 0);
    ck_assert_int_eq(cairn_table_begin(t), 0);
    for (k = 1; k <= 12000; k++) {
        char row[512];
        unsigned char raw[6];
        int j;
        for (j = 0; j < 6; j++) raw[j] = (unsigned char)kvt_rand(&seed);
        snprintf(row, sizeof row,
                 "{\"id\":%d,\"name\":\"n\\u00e9\\n\\u0001 %d\",\"data\":%s,\"score\":%s,\"tag\":{\"$bytes\":\"%02x%02x\"},"
                 "\"at\":%lld,\"ok\":%s}",
                 k * 3 - 40000, k,
                 k % 5 == 0 ? "null" : k % 5 == 1 ? "{\"$bytes\":\"\"}" : "{\"$bytes\":\"00ff0a22\"}",
                 k % 7 == 0 ? "{\"$f64\":\"nan\"}" : k % 7 == 1 ? "{\"$f64\":\"-inf\"}" : k % 7 == 2 ? "null" : "0.1",
                 k >> 8, k & 0xff, (long long)k * 1000003 - 5000000, k % 2 ? "true" : "false");
        (void)raw;
        ck_assert_int_eq(cairn_table_insert_json(t, row, &id), 0);
        ck_assert_uint_eq(id, (uint64_t)k);
    }
    for (k = 1; k <= 12000; k++)
        if ((k >= 100 && k < 4700) || k % 11 == 0 || k > 11990) ck_assert_int_eq(cairn_table_delete(t, (uint64_t)k), 0);
        else live++;
    ck_assert_int_eq(cairn_table_commit(t), 0);
    has_index = cairn_table_create_index(t, "name", CAIRN_INDEX_HASH) == 0; /* when the core has indexes */
    ck_assert_int_eq(cairn_table_sync(t), 0);
    cairn_table_close(t);
    ck_assert_int_eq(CLI(&r, "table", "dump", a), 0);
    ck_assert_uint_eq(r.errlen, 0); /* no progress on a stderr that is not a terminal */
    ck_assert(json_lines(r.out));
    ck_assert(!strncmp(r.out, "{\"cairn_dump\":1,\"engine\":\"table\",", 33));
    ck_assert_ptr_nonnull(strstr(r.out, ",\"next_id\":12001"));
    ck_assert_ptr_nonnull(strstr(r.out, "\"schema\":\"id i64 primary key"));
    if (has_index) ck_assert_ptr_nonnull(strstr(r.out, "\"indexes\":["));
    snprintf(want, sizeof want, "{\"end\":true,\"records\":%llu}\n", (unsigned long long)live);
    ck_assert_ptr_nonnull(strstr(r.out, want));
    ck_assert_ptr_nonnull(strstr(r.out, "\n{\"id\":1,\"row\":{\"id\":-39997,"));
    ck_assert_ptr_nonnull(strstr(r.out, "\n{\"id\":4700,\"row\":{"));
    ck_assert_ptr_null(strstr(r.out, "\n{\"id\":4699,"));
    spit(dumpf, r.out, r.outlen);
    /* into a new table: the same rows under the same ids, the same next id; the dump of the copy is
     * the same text (from a file, and from standard input) */
    ck_assert_int_eq(CLI(&r, "table", "load", b, dumpf), 0);
    snprintf(want, sizeof want, "loaded %llu rows (ids kept)\n", (unsigned long long)live);
    ck_assert_str_eq(r.out, want);
    ck_assert_uint_eq(r.errlen, 0);
    table_same(a, b);
    text = slurp(dumpf, &n);
    ck_assert_int_eq(CLI(&r, "table", "dump", b), 0);
    ck_assert_uint_eq(r.outlen, n);
    ck_assert_mem_eq(r.out, text, n);
    ck_assert_int_eq(CLI_IN(&r, text, n, "table", "load", c), 0);
    table_same(a, c);
    ck_assert_int_eq(CLI(&r, "table", "check", c), 0);
    /* into a table that holds rows already: new ids in the same order */
    ck_assert_int_eq(CLI(&r, "table", "create", d, DSCHEMA), 0);
    ck_assert_int_eq(CLI(&r, "table", "insert", d, "{\"id\":99999999,\"name\":\"first\"}"), 0);
    ck_assert_int_eq(CLI(&r, "table", "insert", d, "{\"id\":99999998,\"name\":\"second\"}"), 0);
    ck_assert_int_eq(CLI(&r, "table", "delete", d, "2"), 0);
    ck_assert_int_eq(CLI(&r, "table", "load", d, dumpf), 0);
    snprintf(want, sizeof want, "loaded %llu rows (new ids, in the same order)\n", (unsigned long long)live);
    ck_assert_str_eq(r.out, want);
    ck_assert_int_eq(CLI(&r, "table", "get", d, "3"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "\"id\":-39997,")); /* the first dumped row */
    /* loading again: the primary keys exist; what was loaded before stays, the error names the line */
    ck_assert_int_eq(CLI(&r, "table", "load", b, dumpf), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_CONSTRAINT"));
    ck_assert_ptr_nonnull(strstr(r.err, "line 2"));
    /* another schema is refused */
    {
        char *e = kvt_path(dir, "e");
        ck_assert_int_eq(CLI(&r, "table", "create", e, "x i64"), 0);
        ck_assert_int_eq(CLI(&r, "table", "load", e, dumpf), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_SCHEMA"));
        ck_assert_int_eq(CLI(&r, "table", "count", e), 0);
        ck_assert_str_eq(r.out, "0\n");
        free(e);
    }
    /* broken dumps are refused with the line number: no schema, a row that is not an object, a
     * value of the wrong type, ids going down, a dump of another engine, a truncated dump */
    {
        char *e = kvt_path(dir, "f"), *g = kvt_path(dir, "g"), *h = kvt_path(dir, "h"), *i = kvt_path(dir, "i");
        char line[512], *end = strstr(text, "{\"end\"");
        static const char hdr[] = "{\"cairn_dump\":1,\"engine\":\"table\",\"schema\":\"x i64 primary key, s string\"}\n";
        ck_assert_int_eq(CLI_IN(&r, "{\"cairn_dump\":1,\"engine\":\"table\"}\n", 35, "table", "load", e), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "schema"));
        snprintf(line, sizeof line, "%s{\"id\":1,\"row\":[1]}\n{\"end\":true,\"records\":1}\n", hdr);
        ck_assert_int_eq(CLI_IN(&r, line, strlen(line), "table", "load", e), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "line 2"));
        snprintf(line, sizeof line, "%s{\"id\":1,\"row\":{\"x\":1,\"s\":\"a\"}}\n{\"id\":2,\"row\":{\"x\":\"no\"}}\n"
                 "{\"end\":true,\"records\":2}\n", hdr);
        ck_assert_int_eq(CLI_IN(&r, line, strlen(line), "table", "load", e), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_TYPE"));
        ck_assert_ptr_nonnull(strstr(r.err, "line 3"));
        snprintf(line, sizeof line, "%s{\"id\":5,\"row\":{\"x\":5}}\n{\"id\":3,\"row\":{\"x\":3}}\n"
                 "{\"end\":true,\"records\":2}\n", hdr);
        ck_assert_int_eq(CLI_IN(&r, line, strlen(line), "table", "load", g), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "ascending"));
        ck_assert_int_eq(CLI_IN(&r, text, (size_t)(end - text), "table", "load", h), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "truncated"));
        ck_assert_int_eq(CLI_IN(&r, "{\"cairn_dump\":1,\"engine\":\"kv\"}\n", 31, "table", "load", e), 8);
        /* hand-written: ids may be left out (new ids); unknown fields are ignored */
        snprintf(line, sizeof line, "%s{\"row\":{\"x\":7,\"s\":\"\\u0000\"},\"note\":1}\n{\"end\":true,\"records\":1}\n", hdr);
        ck_assert_int_eq(CLI_IN(&r, line, strlen(line), "table", "load", i), 0);
        ck_assert_str_eq(r.out, "loaded 1 rows (new ids, in the same order)\n");
        free(e), free(g), free(h), free(i);
    }
    free(text);
    res_free(&r);
    free(a), free(b), free(c), free(d), free(dumpf);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(cli_repo_dump_restore) {
    res r = {0};
    char *dir = setup_dir("cli"), *a = kvt_path(dir, "a"), *b = kvt_path(dir, "b"), *dumpf = kvt_path(dir, "a.dump");
    char *text, d1[CAIRN_DIGEST_HEX + 1], d2[CAIRN_DIGEST_HEX + 1];
    cairn_repo_options ro = CAIRN_REPO_OPTIONS_INIT;
    cairn_repo *x;
    unsigned char all[256];
    size_t n;
    int k;
    for (k = 0; k < 256; k++) all[k] = (unsigned char)k;
    /* tenants (one without entries), values of every kind with a history, a collection larger than
     * one restore version with binary keys and values, an emptied collection */
    ro.sync = CAIRN_SYNC_NONE;
    ck_assert_int_eq(cairn_repo_open(&x, a, &ro), 0);
    ck_assert_int_eq(cairn_repo_init(x, "t1"), 0);
    ck_assert_int_eq(cairn_repo_init(x, "t2"), 0);
    ck_assert_int_eq(cairn_repo_init(x, "empty tenant"), 0);
    ck_assert_int_eq(cairn_repo_save(x, "t1", "u", "doc", "v1", 2, CAIRN_KIND_TEXT, NULL), 0);
    ck_assert_int_eq(cairn_repo_save(x, "t1", "u", "doc", "v2 \xc3\xa9\n", 6, CAIRN_KIND_TEXT, NULL), 0);
    ck_assert_int_eq(cairn_repo_save(x, "t1", "u", "bin", all, sizeof all, CAIRN_KIND_BYTES, NULL), 0);
    ck_assert_int_eq(cairn_repo_save(x, "t2", "u", "j", "[1,{\"a\":null}]", 14, CAIRN_KIND_JSON, NULL), 0);
    ck_assert_int_eq(cairn_repo_save(x, "t2", "u", "nothing", "", 0, CAIRN_KIND_BYTES, NULL), 0);
    for (k = 0; k < 5000; k++) {
        char key[16], val[32];
        snprintf(key, sizeof key, "k%05d", k);
        snprintf(val, sizeof val, "value %d", k);
        ck_assert_int_eq(cairn_repo_put(x, "t1", "u", "coll", key, strlen(key), val, strlen(val), CAIRN_KIND_TEXT, NULL), 0);
    }
    ck_assert_int_eq(cairn_repo_put(x, "t1", "u", "coll", "\xff\x00\n", 3, all, sizeof all, CAIRN_KIND_BYTES, NULL), 0);
    ck_assert_int_eq(cairn_repo_put(x, "t2", "u", "gone", "x", 1, "y", 1, CAIRN_KIND_TEXT, NULL), 0);
    ck_assert_int_eq(cairn_repo_delete(x, "t2", "u", "gone", "x", 1, NULL), 0);
    ck_assert_int_eq(cairn_repo_digest(x, "t1", "doc", d1), 0);
    cairn_repo_close(x);
    ck_assert_int_eq(CLI(&r, "repo", "dump", a), 0);
    ck_assert_uint_eq(r.errlen, 0);
    ck_assert(json_lines(r.out));
    ck_assert(!strncmp(r.out, "{\"cairn_dump\":1,\"engine\":\"repo\",", 32));
    ck_assert_ptr_nonnull(strstr(r.out, "\n{\"tenant\":\"empty tenant\"}\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "\n{\"tenant\":\"t1\",\"entry\":\"coll\",\"collection\":true,\"records\":5001}\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "\n{\"tenant\":\"t1\",\"entry\":\"doc\",\"kind\":\"text\",\"value\":\"v2 \xc3\xa9\\n\"}\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "\n{\"tenant\":\"t1\",\"entry\":\"coll\",\"key_b64\":\"/wAK\",\"kind\":\"bytes\",\"value_b64\":"));
    ck_assert_ptr_nonnull(strstr(r.out, "\n{\"tenant\":\"t2\",\"entry\":\"gone\",\"collection\":true,\"records\":0}\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "{\"end\":true,\"records\":5010}\n"));
    ck_assert_ptr_null(strstr(r.out, "\"v1\""));   /* heads only */
    ck_assert_ptr_null(strstr(r.out, d1));         /* no digests */
    spit(dumpf, r.out, r.outlen);
    text = slurp(dumpf, &n);
    ck_assert_int_eq(CLI(&r, "repo", "restore", b, dumpf, "--user", "restorer"), 0);
    ck_assert_str_eq(r.out, "restored 5010 records\n");
    ck_assert_uint_eq(r.errlen, 0);
    ck_assert_int_eq(CLI(&r, "repo", "dump", b), 0);
    ck_assert_uint_eq(r.outlen, n);
    ck_assert_mem_eq(r.out, text, n);
    /* through the core: the same content, a new history by the restoring user */
    ck_assert_int_eq(cairn_repo_open(&x, b, &ro), 0);
    {
        void *v = NULL;
        size_t vl = 0;
        int kind = 0;
        uint64_t cnt = 0;
        char *hist = NULL;
        ck_assert_int_eq(cairn_repo_load(x, "t1", "bin", NULL, &v, &vl, &kind), 0);
        ck_assert_uint_eq(vl, sizeof all);
        ck_assert_mem_eq(v, all, sizeof all);
        ck_assert_int_eq(kind, CAIRN_KIND_BYTES);
        cairn_free(v);
        ck_assert_int_eq(cairn_repo_get(x, "t1", "coll", NULL, "\xff\x00\n", 3, &v, &vl, &kind), 0);
        ck_assert_uint_eq(vl, sizeof all);
        cairn_free(v);
        ck_assert_int_eq(cairn_repo_count(x, "t1", "coll", NULL, &cnt), 0);
        ck_assert_uint_eq(cnt, 5001);
        ck_assert_int_eq(cairn_repo_count(x, "t2", "gone", NULL, &cnt), 0);
        ck_assert_uint_eq(cnt, 0);
        ck_assert_int_eq(cairn_repo_history(x, "t1", "doc", 0, &hist), 0);
        ck_assert_ptr_nonnull(strstr(hist, "\"restorer\""));
        ck_assert_ptr_null(strstr(hist, "},{")); /* one version */
        cairn_free(hist);
        ck_assert_int_eq(cairn_repo_digest(x, "t1", "doc", d2), 0);
        ck_assert_str_ne(d1, d2); /* a new version: digests are not kept */
    }
    cairn_repo_close(x);
    /* restoring again: the entries exist (exit 8, the line named) */
    ck_assert_int_eq(CLI(&r, "repo", "restore", b, dumpf), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "already in the repository"));
    /* broken dumps: a record before its collection, a wrong count, not UTF-8 text */
    {
        char *e = kvt_path(dir, "e"), line[512];
        static const char hdr[] = "{\"cairn_dump\":1,\"engine\":\"repo\"}\n";
        snprintf(line, sizeof line, "%s{\"tenant\":\"t\",\"entry\":\"c\",\"key\":\"k\",\"kind\":\"text\",\"value\":\"v\"}\n"
                 "{\"end\":true,\"records\":1}\n", hdr);
        ck_assert_int_eq(CLI_IN(&r, line, strlen(line), "repo", "restore", e), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "line 2"));
        snprintf(line, sizeof line, "%s{\"tenant\":\"t\"}\n{\"tenant\":\"t\",\"entry\":\"c\",\"collection\":true,\"records\":2}\n"
                 "{\"tenant\":\"t\",\"entry\":\"c\",\"key\":\"k\",\"kind\":\"text\",\"value\":\"v\"}\n"
                 "{\"end\":true,\"records\":3}\n", hdr);
        ck_assert_int_eq(CLI_IN(&r, line, strlen(line), "repo", "restore", e), 8);
        ck_assert_ptr_nonnull(strstr(r.err, "announced 2 records"));
        snprintf(line, sizeof line, "%s{\"tenant\":\"t\"}\n{\"tenant\":\"t\",\"entry\":\"v\",\"kind\":\"text\",\"value_b64\":\"/w==\"}\n"
                 "{\"end\":true,\"records\":2}\n", hdr);
        ck_assert_int_eq(CLI_IN(&r, line, strlen(line), "repo", "restore", e), 8);
        free(e);
    }
    free(text);
    res_free(&r);
    free(a), free(b), free(dumpf);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* ---- snapshots and backups; no progress on a stderr that is not a terminal --------------------- */

START_TEST(cli_snapshots_backups) {
    res r = {0};
    char *dir = setup_dir("cli"), *kv = kvt_path(dir, "kv"), *kb = kvt_path(dir, "kv.bak"), *bl = kvt_path(dir, "b.db");
    char *bb = kvt_path(dir, "b2.db"), *tb = kvt_path(dir, "t"), *tbb = kvt_path(dir, "t.bak"), *csv = kvt_path(dir, "in.csv");
    cairn_kv *h, *s;
    void *v = NULL;
    size_t n = 0;
    int kind, k;
    /* KV: snapshot, list, the snapshot keeps its point in time, drop, backup */
    ck_assert_int_eq(CLI(&r, "kv", "put", kv, "a", "1"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "snapshot", kv, "first"), 0);
    ck_assert_str_eq(r.out, "first\n");
    ck_assert_uint_eq(r.errlen, 0);
    ck_assert_int_eq(CLI(&r, "kv", "snapshot", kv, "first"), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_EXISTS"));
    ck_assert_int_eq(CLI(&r, "kv", "snapshot", kv, "bad/name"), 8);
    ck_assert_int_eq(CLI(&r, "kv", "put", kv, "a", "2"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "snapshot", kv, "--json"), 0); /* a name chosen by the core */
    ck_assert(json_lines(r.out));
    ck_assert(!strncmp(r.out, "{\"name\":\"", 9));
    ck_assert_int_eq(CLI(&r, "kv", "snapshots", kv), 0);
    ck_assert(!strncmp(r.out, "first ", 6));
    ck_assert_ptr_nonnull(strchr(strchr(r.out, '\n') + 1, '\n')); /* two lines, oldest first */
    ck_assert_int_eq(CLI(&r, "kv", "snapshots", kv, "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert(!strncmp(r.out, "{\"name\":\"first\",\"time\":", 23));
    ck_assert_int_eq(cairn_kv_open(&h, kv, NULL), 0);
    ck_assert_int_eq(cairn_kv_open_snapshot(&s, h, "first"), 0);
    ck_assert_int_eq(cairn_kv_get(s, "a", 1, &v, &n, &kind), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_mem_eq(v, "1", 1);
    cairn_free(v);
    cairn_kv_close(s);
    /* beside a writer: a snapshot and a backup want the writer's lock (exit 7) */
    ck_assert_int_eq(CLI(&r, "kv", "snapshot", kv, "second"), 7);
    ck_assert_int_eq(CLI(&r, "kv", "backup", kv, kb), 7);
    cairn_kv_close(h);
    ck_assert_int_eq(CLI(&r, "kv", "backup", kv, kb), 0);
    ck_assert(!strncmp(r.out, "backed up ", 10));
    ck_assert_uint_eq(r.errlen, 0);
    ck_assert_int_eq(CLI(&r, "kv", "get", kb, "a"), 0);
    ck_assert_str_eq(r.out, "2");
    ck_assert_int_eq(CLI(&r, "kv", "drop-snapshot", kv, "first"), 0);
    ck_assert_int_eq(CLI(&r, "kv", "drop-snapshot", kv, "first"), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_NOTFOUND"));
    ck_assert_int_eq(CLI(&r, "kv", "snapshots", kv), 0);
    ck_assert_ptr_null(strstr(r.out, "first"));
    {
        char *none = kvt_path(dir, "none");
        ck_assert_int_eq(CLI(&r, "kv", "snapshots", none), 4);
        free(none);
    }
    /* blob and table: the same four commands */
    ck_assert_int_eq(CLI(&r, "blob", "create", bl, "hello"), 0);
    ck_assert_int_eq(CLI(&r, "blob", "snapshot", bl, "s1"), 0);
    ck_assert_str_eq(r.out, "s1\n");
    ck_assert_int_eq(CLI(&r, "blob", "update", bl, "1", "changed"), 0);
    ck_assert_int_eq(CLI(&r, "blob", "snapshots", bl, "--json"), 0);
    ck_assert(!strncmp(r.out, "{\"name\":\"s1\"", 12));
    ck_assert_int_eq(CLI(&r, "blob", "backup", bl, bb), 0);
    ck_assert_int_eq(CLI(&r, "blob", "get", bb, "1"), 0);
    ck_assert_str_eq(r.out, "changed");
    ck_assert_int_eq(CLI(&r, "blob", "drop-snapshot", bl, "s1"), 0);
    ck_assert_int_eq(CLI(&r, "blob", "drop-snapshot", bl, "s1"), 1);
    ck_assert_int_eq(CLI(&r, "table", "create", tb, "id i64 primary key, name string"), 0);
    {
        char text[16 * 1024];
        size_t len = (size_t)snprintf(text, sizeof text, "id,name\n");
        for (k = 0; k < 500; k++) len += (size_t)snprintf(text + len, sizeof text - len, "%d,name %d\n", k, k);
        spit(csv, text, len);
    }
    ck_assert_int_eq(CLI(&r, "table", "import", tb, csv), 0); /* no progress without a terminal */
    ck_assert_str_eq(r.out, "imported 500 rows\n");
    ck_assert_uint_eq(r.errlen, 0);
    ck_assert_int_eq(CLI(&r, "table", "export", tb), 0);
    ck_assert_uint_eq(r.errlen, 0);
    ck_assert_int_eq(CLI(&r, "table", "snapshot", tb, "t1"), 0);
    ck_assert_int_eq(CLI(&r, "table", "delete", tb, "1"), 0);
    ck_assert_int_eq(CLI(&r, "table", "compact", tb), 0);
    ck_assert_uint_eq(r.errlen, 0);
    ck_assert_int_eq(CLI(&r, "table", "check", tb), 0);
    ck_assert_uint_eq(r.errlen, 0);
    ck_assert_int_eq(CLI(&r, "table", "snapshots", tb), 0);
    ck_assert(!strncmp(r.out, "t1 ", 3));
    ck_assert_int_eq(CLI(&r, "table", "backup", tb, tbb), 0);
    ck_assert_uint_eq(r.errlen, 0);
    ck_assert_int_eq(CLI(&r, "table", "count", tbb), 0);
    ck_assert_str_eq(r.out, "499\n");
    ck_assert_int_eq(CLI(&r, "table", "drop-snapshot", tb, "t1"), 0);
    ck_assert_int_eq(CLI(&r, "table", "snapshots", tb), 0);
    ck_assert_str_eq(r.out, "");
    /* help for each */
    {
        static const char *const engines[] = {"kv", "blob", "table"};
        static const char *const cmds[] = {"snapshot", "snapshots", "drop-snapshot", "backup"};
        int e, c;
        for (e = 0; e < 3; e++)
            for (c = 0; c < 4; c++) {
                char want[64];
                snprintf(want, sizeof want, "usage: cairn %s %s ", engines[e], cmds[c]);
                ck_assert_int_eq(CLI(&r, "help", engines[e], cmds[c]), 0);
                ck_assert_ptr_nonnull(strstr(r.out, want));
            }
    }
    res_free(&r);
    free(kv), free(kb), free(bl), free(bb), free(tb), free(tbb), free(csv);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* ---- queries: select, count --where, index --------------------------------------------------------- */

/* Run the CLI with standard output on a terminal (a pty in raw mode); its output into buf. */
static int run_tty(char *buf, size_t cap, const char *const *args) {
    const char *argv[32];
    int m, status, k = 0;
    size_t n = 0;
    ssize_t got;
    pid_t pid;
    argv[k++] = g_cli;
    while (args[k - 1] && k < 31) argv[k] = args[k - 1], k++;
    argv[k] = NULL;
    m = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(m, 0);
    ck_assert_int_eq(grantpt(m), 0);
    ck_assert_int_eq(unlockpt(m), 0);
    fflush(stdout), fflush(stderr);
    pid = fork();
    if (pid == 0) {
        int s = open(ptsname(m), O_RDWR);
        struct termios t;
        if (s < 0) _exit(126);
        tcgetattr(s, &t);
        cfmakeraw(&t);
        tcsetattr(s, TCSANOW, &t);
        dup2(s, 1);
        execv(g_cli, (char *const *)argv);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    while (n < cap - 1) {
        struct pollfd p = {m, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0 || (got = read(m, buf + n, cap - 1 - n)) <= 0) break;
        n += (size_t)got;
    }
    buf[n] = 0;
    close(m);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

START_TEST(cli_table_select) {
    res r = {0};
    char *dir = setup_dir("cli"), *db = kvt_path(dir, "u"), buf[4096];
    ck_assert_int_eq(CLI(&r, "table", "create", db, "id i64 primary key, name string not null, age i32, tag bytes, at timestamp"), 0);
    ck_assert_int_eq(CLI(&r, "table", "insert", db,
                         "[{\"id\":1,\"name\":\"Ana\",\"age\":30,\"tag\":{\"$bytes\":\"00ff\"},\"at\":1700000000123456},"
                         "{\"id\":2,\"name\":\"Bo\",\"age\":17},{\"id\":3,\"name\":\"Ada\",\"age\":36},"
                         "{\"id\":4,\"name\":\"Zo\\u00eb\\n\",\"age\":null}]"), 0);
    /* not a terminal: JSON lines, _id first */
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--where", "age >= ? AND name STARTS WITH ?", "--param", "21",
                         "--param", "A", "--order", "-age"), 0);
    ck_assert_uint_eq(r.errlen, 0);
    ck_assert(json_lines(r.out));
    ck_assert_msg(!strncmp(r.out, "{\"_id\":3,", 9) && strstr(r.out, "\n{\"_id\":1,") && !strstr(r.out, "\"Bo\""), "%s", r.out);
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--columns", "name, age", "--order", "name", "--limit", "2",
                         "--offset", "1"), 0);
    ck_assert_str_eq(r.out, "{\"name\":\"Ana\",\"age\":30}\n{\"name\":\"Bo\",\"age\":17}\n");
    /* a --param that is not JSON is a string; the JSON forms of a where */
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--where", "name = ?", "--param", "Bo", "--columns", "_id"), 0);
    ck_assert_str_eq(r.out, "{\"_id\":2}\n");
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--where", "[\"age\", \">=\", 21]", "--columns", "name", "--order", "name"), 0);
    ck_assert_str_eq(r.out, "{\"name\":\"Ada\"}\n{\"name\":\"Ana\"}\n");
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--where", "{\"age\": {\"lt\": 20}}", "--columns", "name", "--json"), 0);
    ck_assert_str_eq(r.out, "{\"name\":\"Bo\"}\n");
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--where", "age IS NULL", "--columns", "name"), 0);
    ck_assert_str_eq(r.out, "{\"name\":\"Zo\xc3\xab\\n\"}\n");
    /* CSV as export writes it */
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--csv", "--order", "id"), 0);
    ck_assert_str_eq(r.out, "_id,id,name,age,tag,at\n1,1,Ana,30,00ff,2023-11-14T22:13:20.123456Z\n2,2,Bo,17,,\n"
                            "3,3,Ada,36,,\n4,4,\"Zo\xc3\xab\n\",,,\n");
    /* count --where */
    ck_assert_int_eq(CLI(&r, "table", "count", db, "--where", "age > ?", "--param", "20"), 0);
    ck_assert_str_eq(r.out, "2\n");
    ck_assert_int_eq(CLI(&r, "table", "count", db), 0);
    ck_assert_str_eq(r.out, "4\n");
    /* refusals: unknown column, syntax (with the position), wrong params, bad options */
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--where", "nope = 1"), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_SCHEMA"));
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--where", "age >"), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_INVALID"));
    ck_assert_int_eq(CLI(&r, "table", "count", db, "--where", "age > ?"), 8);
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--limit", "x"), 2);
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--json", "--csv"), 2);
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--columns", "a,,b"), 2);
    /* on a terminal: an aligned table, numbers right-aligned, NULL, x'hex', UTC times, \xNN */
    {
        const char *const args[] = {"table", "select", db, "--order", "id", NULL};
        ck_assert_int_eq(run_tty(buf, sizeof buf, args), 0);
        ck_assert_str_eq(buf, "_id  id  name      age  tag      at\n"
                              "---  --  -------  ----  -------  ---------------------------\n"
                              "  1   1  Ana        30  x'00ff'  2023-11-14T22:13:20.123456Z\n"
                              "  2   2  Bo         17  NULL     NULL\n"
                              "  3   3  Ada        36  NULL     NULL\n"
                              "  4   4  Zo\xc3\xab\\x0a  NULL  NULL     NULL\n"
                              "(4 rows)\n");
    }
    /* indexes: create, list, drop; queries answer the same with them */
    ck_assert_int_eq(CLI(&r, "table", "index", db, "create", "age", "range"), 0);
    ck_assert_int_eq(CLI(&r, "table", "index", db, "create", "name"), 0);
    ck_assert_int_eq(CLI(&r, "table", "index", db, "create", "name"), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_EXISTS"));
    ck_assert_int_eq(CLI(&r, "table", "index", db, "list"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "age\trange\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "name\thash\n"));
    ck_assert_int_eq(CLI(&r, "table", "index", db, "list", "--json"), 0);
    ck_assert(json_lines(r.out));
    ck_assert_int_eq(CLI(&r, "table", "select", db, "--where", "age >= ? AND name STARTS WITH ?", "--param", "21",
                         "--param", "A", "--order", "-age", "--columns", "_id"), 0);
    ck_assert_str_eq(r.out, "{\"_id\":3}\n{\"_id\":1}\n");
    ck_assert_int_eq(CLI(&r, "table", "index", db, "drop", "age", "range"), 0);
    ck_assert_int_eq(CLI(&r, "table", "index", db, "drop", "age", "range"), 1);
    ck_assert_int_eq(CLI(&r, "table", "index", db, "list"), 0);
    ck_assert_ptr_null(strstr(r.out, "age\t"));
    ck_assert_int_eq(CLI(&r, "table", "index", db, "create", "nope"), 8);
    ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_SCHEMA"));
    ck_assert_int_eq(CLI(&r, "table", "index", db, "rebuild", "age"), 2);
    ck_assert_int_eq(CLI(&r, "table", "index", db, "create", "age", "btree"), 2);
    /* the dump keeps the indexes; a load makes them again */
    {
        char *dumpf = kvt_path(dir, "u.dump"), *copy = kvt_path(dir, "copy");
        ck_assert_int_eq(CLI(&r, "table", "dump", db), 0);
        ck_assert_ptr_nonnull(strstr(r.out, "\"indexes\":["));
        spit(dumpf, r.out, r.outlen);
        ck_assert_int_eq(CLI(&r, "table", "load", copy, dumpf), 0);
        ck_assert_int_eq(CLI(&r, "table", "index", copy, "list"), 0);
        ck_assert_ptr_nonnull(strstr(r.out, "name\thash\n"));
        free(dumpf), free(copy);
    }
    res_free(&r);
    free(db);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

/* ---- table repair ------------------------------------------------------------------------------ */

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every regular file of `dir` (sorted by name): "name\n" then its bytes, in one malloc'd buffer. */
static char *dir_image(const char *dir, size_t *len) {
    char **names, *img = NULL;
    size_t n = kvt_list(dir, "", &names), i, at = 0;
    qsort(names, n, sizeof *names, name_cmp);
    for (i = 0; i < n; i++) {
        char *p = kvt_path(dir, names[i]), *b = NULL;
        size_t bl = 0, nl = strlen(names[i]);
        struct stat sb;
        ck_assert_int_eq(stat(p, &sb), 0);
        if (S_ISREG(sb.st_mode)) b = slurp(p, &bl);
        img = (char *)realloc(img, at + nl + 1 + bl + 1);
        ck_assert_ptr_nonnull(img);
        memcpy(img + at, names[i], nl), at += nl;
        img[at++] = '\n';
        if (bl) memcpy(img + at, b, bl), at += bl;
        free(b), free(p);
    }
    kvt_list_free(names, n);
    *len = at;
    return img;
}

/* `cairn table repair`: a clean table has nothing to rebuild; a zone map in the manifest that
 * disagrees with its segment is rebuilt (and says so), but not while a writer holds the table
 * (exit 7); a damaged segment is refused (exit 6, naming the file and offset) and no file in the
 * directory changes. */
START_TEST(cli_table_repair) {
    res r = {0};
    char *dir = setup_dir("cli"), *db = kvt_path(dir, "t"), *mp = kvt_path(db, "MANIFEST"), *seg = NULL;
    size_t n = 5000, i, len, len2;
    int64_t *id = (int64_t *)malloc(n * 8);
    double *v = (double *)malloc(n * 8);
    const void *data[2];
    uint64_t first;
    cairn_table *t;
    char *m, *m2, want[64];
    ck_assert(id && v);
    data[0] = id, data[1] = v;
    for (i = 0; i < n; i++) id[i] = (int64_t)i, v[i] = (double)i;
    {
        cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
        o.schema = "id i64 primary key, v f64";
        ck_assert_int_eq(cairn_table_open(&t, db, &o), 0);
        ck_assert_int_eq(cairn_table_load_columns(t, n, data, NULL, NULL, &first), 0);
        cairn_table_close(t);
    }
    /* clean: nothing to rebuild, and the table is as it was */
    ck_assert_int_eq(CLI(&r, "table", "repair", db), 0);
    ck_assert_str_eq(r.out, "ok: nothing to rebuild\n");
    ck_assert_uint_eq(r.errlen, 0);
    ck_assert_int_eq(CLI(&r, "table", "count", db), 0);
    ck_assert_str_eq(r.out, "5000\n");
    ck_assert_int_eq(CLI(&r, "table", "repair", db, "--json"), 2); /* an option repair does not take */
    ck_assert_int_eq(CLI(&r, "table", "repair"), 2);
    {
        char *missing = kvt_path(dir, "missing");
        ck_assert_int_eq(CLI(&r, "table", "repair", missing), 4);
        ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_PATH"));
        free(missing);
    }
    /* the manifest's zone map of v says max 1.0 (CRC made right): queries skip the row group */
    m = slurp(mp, &len);
    {
        const uint8_t *u = (const uint8_t *)m;
        uint32_t schema_len = cairn_get32(u + 52), flags = cairn_get32(u + 12);
        size_t at = 64 + schema_len, zone;
        double one = 1.0;
        uint64_t bits;
        if (flags & 2) at += 4 + cairn_get32(u + at);
        zone = at + 32 + 2 * 96 + 24; /* group 0, the segment reference of v (after ids and id) */
        ck_assert_uint_lt(zone + 40, len);
        ck_assert(memcmp(m + zone + 32, &v[n - 1], 8) == 0); /* the max is where the format says */
        memcpy(&bits, &one, 8);
        cairn_put64((uint8_t *)m + zone + 32, bits);
        cairn_put32((uint8_t *)m + len - 4, cairn_crc32c__update(0, m, len - 4));
        spit(mp, m, len);
    }
    free(m);
    ck_assert_int_eq(CLI(&r, "table", "count", db, "--where", "v > 2"), 0);
    ck_assert_str_eq(r.out, "0\n"); /* wrong: what a bad zone map does */
    ck_assert_int_eq(CLI(&r, "table", "check", db), 6);
    ck_assert_ptr_nonnull(strstr(r.err, "zone map"));
    /* 7: a writer holds the table; nothing is rebuilt */
    {
        cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
        m = slurp(mp, &len);
        ck_assert_int_eq(cairn_table_open(&t, db, &o), 0);
        ck_assert_int_eq(CLI(&r, "table", "repair", db), 7);
        ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_LOCKED"));
        ck_assert_uint_eq(r.outlen, 0);
        cairn_table_close(t);
        m2 = slurp(mp, &len2);
        ck_assert(len == len2 && memcmp(m, m2, len) == 0);
        free(m), free(m2);
    }
    /* 0: rebuilt, and says how many segment references */
    ck_assert_int_eq(CLI(&r, "table", "repair", db), 0);
    ck_assert_str_eq(r.out, "repaired: 1 segment reference rebuilt from the segments\n");
    ck_assert_int_eq(CLI(&r, "table", "check", db), 0);
    snprintf(want, sizeof want, "%llu\n", (unsigned long long)(n - 3));
    ck_assert_int_eq(CLI(&r, "table", "count", db, "--where", "v > 2"), 0);
    ck_assert_str_eq(r.out, want);
    ck_assert_int_eq(CLI(&r, "table", "repair", db), 0);
    ck_assert_str_eq(r.out, "ok: nothing to rebuild\n");
    /* 6: a damaged segment is refused, naming the file and offset; no file changes */
    {
        char **names;
        size_t k, nn = kvt_list(db, "", &names);
        for (k = 0; k < nn && !seg; k++)
            if (strncmp(names[k], "seg-", 4) == 0) seg = kvt_path(db, names[k]);
        ck_assert_ptr_nonnull(seg);
        kvt_flip(seg, kvt_fsize(seg) - 100);
        m = dir_image(db, &len);
        ck_assert_int_eq(CLI(&r, "table", "repair", db), 6);
        ck_assert_ptr_nonnull(strstr(r.err, "CAIRN_CORRUPT"));
        ck_assert_ptr_nonnull(strstr(r.err, strrchr(seg, '/') + 1));
        ck_assert_ptr_nonnull(strstr(r.err, "offset"));
        ck_assert_uint_eq(r.outlen, 0);
        m2 = dir_image(db, &len2);
        ck_assert(len == len2 && memcmp(m, m2, len) == 0);
        free(m), free(m2);
        kvt_list_free(names, nn);
        kvt_flip(seg, kvt_fsize(seg) - 100);
        ck_assert_int_eq(CLI(&r, "table", "check", db), 0);
    }
    res_free(&r);
    free(seg), free(mp), free(db), free(id), free(v);
    kvt_rmdir(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    SRunner *sr;
    int failed;
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cli_kv_commands);
    tcase_add_test(tc, cli_blob_commands);
    tcase_add_test(tc, cli_help_and_version);
    tcase_add_test(tc, cli_help_for_every_listed_command);
    tcase_add_test(tc, cli_exit_codes);
    tcase_add_test(tc, cli_values_and_kinds);
    tcase_add_test(tc, cli_json_outputs);
    tcase_add_test(tc, cli_kv_dump_load);
    tcase_add_test(tc, cli_blob_dump_load);
    tcase_add_test(tc, cli_shell_session);
    tcase_add_test(tc, cli_terminal_output);
    tcase_add_test(tc, cli_table_commands);
    tcase_add_test(tc, cli_table_csv);
    tcase_add_test(tc, cli_repo_commands);
    tcase_add_test(tc, cli_stats_prometheus);
    tcase_add_test(tc, cli_table_dump_load);
    tcase_add_test(tc, cli_repo_dump_restore);
    tcase_add_test(tc, cli_snapshots_backups);
    tcase_add_test(tc, cli_table_select);
    tcase_add_test(tc, cli_table_repair);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
