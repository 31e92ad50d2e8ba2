/* test_cli.c - the `cairn` command-line tool, run as a program: every kv and blob sub-command,
 * exit codes 0 (ok) / 1 (operation failed or key missing) / 2 (usage), errors on stderr with the
 * error's name. The binary is found next to this test in the build tree (tools/cli/cairn), or
 * named by CAIRN_CLI; a missing binary fails the test. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kv_testutil.h"

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
    ck_assert_str_eq(out, "ana\n");
    ck_assert_int_eq(run(out, sizeof out, "kv", "list", db, "user:", NULL), 0);
    ck_assert_str_eq(out, "user:1\nuser:2\n");
    ck_assert_int_eq(run(out, sizeof out, "kv", "del", db, "user:1", NULL), 0);
    ck_assert_int_eq(run(out, sizeof out, "kv", "get", db, "user:1", NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "CAIRN_NOTFOUND"));
    ck_assert_int_eq(run(out, sizeof out, "kv", "del", db, "user:1", NULL), 1);
    ck_assert_int_eq(run(out, sizeof out, "kv", "list", db, NULL, NULL), 0);
    ck_assert_str_eq(out, "user:2\nzeta\n");
    ck_assert_int_eq(run(out, sizeof out, "kv", "stats", db, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "keys 2\n"));
    ck_assert_int_eq(run(out, sizeof out, "kv", "reclaim", db, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "reclaimed"));
    ck_assert_int_eq(run(out, sizeof out, "kv", "check", db, NULL, NULL), 0);
    ck_assert_str_eq(out, "ok\n");
    /* failures: a file where a directory should be, a missing store */
    ck_assert_int_eq(run(out, sizeof out, "kv", "get", "/proc/self/status", "k", NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "CAIRN_PATH"));
    {
        char *missing = kvt_path(dir, "missing");
        ck_assert_int_eq(run(out, sizeof out, "kv", "list", missing, NULL, NULL), 1);
        ck_assert_int_eq(run(out, sizeof out, "kv", "check", missing, NULL, NULL), 1);
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
    ck_assert_str_eq(out, "hello, a longer value\n");
    ck_assert_int_eq(run(out, sizeof out, "blob", "del", db, "2", NULL), 0);
    ck_assert_int_eq(run(out, sizeof out, "blob", "get", db, "2", NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "CAIRN_NOTFOUND"));
    ck_assert_int_eq(run(out, sizeof out, "blob", "del", db, "2", NULL), 1);
    ck_assert_int_eq(run(out, sizeof out, "blob", "update", db, "2", "x"), 1);
    ck_assert_int_eq(run(out, sizeof out, "blob", "list", db, NULL, NULL), 0);
    ck_assert_str_eq(out, "1\n");
    ck_assert_int_eq(run(out, sizeof out, "blob", "stats", db, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "entries 1\n"));
    ck_assert_ptr_nonnull(strstr(out, "next_key 3\n"));
    ck_assert_int_eq(run(out, sizeof out, "blob", "compact", db, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "compacted"));
    ck_assert_int_eq(run(out, sizeof out, "blob", "stats", db, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "free_bytes 0\n"));
    ck_assert_int_eq(run(out, sizeof out, "blob", "check", db, NULL, NULL), 0);
    ck_assert_str_eq(out, "ok\n");
    /* bad keys are usage errors; a directory or a missing file is CAIRN_PATH */
    ck_assert_int_eq(run(out, sizeof out, "blob", "get", db, "x", NULL), 2);
    ck_assert_ptr_nonnull(strstr(out, "CAIRN_INVALID"));
    ck_assert_int_eq(run(out, sizeof out, "blob", "get", db, "-1", NULL), 2);
    ck_assert_int_eq(run(out, sizeof out, "blob", "get", db, "4294967296", NULL), 2);
    ck_assert_int_eq(run(out, sizeof out, "blob", "list", dir, NULL, NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "CAIRN_PATH"));
    {
        char *missing = kvt_path(dir, "missing.db");
        ck_assert_int_eq(run(out, sizeof out, "blob", "get", missing, "1", NULL), 1);
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

int main(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    SRunner *sr;
    int failed;
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cli_kv_commands);
    tcase_add_test(tc, cli_blob_commands);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
