/*
 * cairn.c - the `cairn` command-line tool.
 *
 *   cairn version
 *   cairn kv put DIR KEY VALUE      cairn kv get DIR KEY       cairn kv del DIR KEY
 *   cairn kv list DIR [PREFIX]      cairn kv stats DIR         cairn kv check DIR
 *   cairn kv reclaim DIR
 *
 * Exit codes: 0 success, 1 the operation failed (or the key is missing), 2 bad usage.
 * Errors go to stderr as "cairn: NAME: message".
 *
 * Each engine is one entry of the `engines` table with its own table of sub-commands, so a new
 * engine (e.g. `cairn blob ...`) adds one command table and one line there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"

#define EXIT_USAGE 2

typedef struct command {
    const char *name;
    int min_args, max_args; /* after the sub-command name, DIR included */
    const char *args;       /* usage text */
    int (*run)(int argc, char **argv);
} command;

typedef struct engine {
    const char *name;
    const command *cmds;
} engine;

static int fail(int rc) {
    const char *msg = cairn_errmsg();
    fprintf(stderr, "cairn: %s: %s\n", cairn_errname(rc), msg && *msg ? msg : cairn_errstr(rc));
    return 1;
}

/* ---- kv --------------------------------------------------------------------------------------- */

static int kv_open_dir(cairn_kv **kv, const char *dir, int read_only) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    o.read_only = read_only;
    o.create = !read_only;
    return cairn_kv_open(kv, dir, &o);
}

static int kv_put(int argc, char **argv) {
    cairn_kv *kv;
    int rc = kv_open_dir(&kv, argv[0], 0);
    (void)argc;
    if (rc) return fail(rc);
    rc = cairn_kv_put(kv, argv[1], strlen(argv[1]), argv[2], strlen(argv[2]), CAIRN_KIND_TEXT);
    if (!rc) rc = cairn_kv_sync(kv);
    if (rc) {
        fail(rc);
        cairn_kv_close(kv);
        return 1;
    }
    cairn_kv_close(kv);
    return 0;
}

static int kv_get(int argc, char **argv) {
    cairn_kv *kv;
    void *v = NULL;
    size_t n = 0;
    int rc = kv_open_dir(&kv, argv[0], 1);
    (void)argc;
    if (rc) return fail(rc);
    rc = cairn_kv_get(kv, argv[1], strlen(argv[1]), &v, &n, NULL);
    if (rc == CAIRN_ENOTFOUND) {
        fprintf(stderr, "cairn: CAIRN_NOTFOUND: no key '%s'\n", argv[1]);
        cairn_kv_close(kv);
        return 1;
    }
    if (rc) {
        fail(rc);
        cairn_kv_close(kv);
        return 1;
    }
    fwrite(v, 1, n, stdout);
    fputc('\n', stdout);
    cairn_free(v);
    cairn_kv_close(kv);
    return 0;
}

static int kv_del(int argc, char **argv) {
    cairn_kv *kv;
    int rc = kv_open_dir(&kv, argv[0], 0);
    (void)argc;
    if (rc) return fail(rc);
    rc = cairn_kv_delete(kv, argv[1], strlen(argv[1]));
    if (rc == CAIRN_ENOTFOUND) {
        fprintf(stderr, "cairn: CAIRN_NOTFOUND: no key '%s'\n", argv[1]);
        cairn_kv_close(kv);
        return 1;
    }
    if (!rc) rc = cairn_kv_sync(kv);
    if (rc) {
        fail(rc);
        cairn_kv_close(kv);
        return 1;
    }
    cairn_kv_close(kv);
    return 0;
}

/* Keys are bytes: print printable ASCII as is, anything else as \xNN. */
static void print_key(const unsigned char *k, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\\') putchar(k[i]);
        else printf("\\x%02x", k[i]);
    }
    putchar('\n');
}

static int kv_list(int argc, char **argv) {
    cairn_kv *kv;
    cairn_kv_iter *it;
    const void *k;
    size_t kl;
    const char *prefix = argc > 1 ? argv[1] : "";
    int rc = kv_open_dir(&kv, argv[0], 1);
    if (rc) return fail(rc);
    rc = cairn_kv_iter_open(&it, kv, prefix, strlen(prefix));
    if (rc) {
        fail(rc);
        cairn_kv_close(kv);
        return 1;
    }
    while ((rc = cairn_kv_iter_next(it, &k, &kl)) == 0) print_key((const unsigned char *)k, kl);
    cairn_kv_iter_free(it);
    cairn_kv_close(kv);
    return rc == CAIRN_EITEROVER ? 0 : fail(rc);
}

static int kv_stats(int argc, char **argv) {
    cairn_kv *kv;
    struct cairn_kv_stats st;
    int rc = kv_open_dir(&kv, argv[0], 1);
    (void)argc;
    if (rc) return fail(rc);
    rc = cairn_kv_stats(kv, &st);
    cairn_kv_close(kv);
    if (rc) return fail(rc);
    printf("keys %llu\ndata_files %llu\ndisk_bytes %llu\nlive_bytes %llu\ndead_bytes %llu\n"
           "keydir_bytes %llu\nseq %llu\n",
           (unsigned long long)st.keys, (unsigned long long)st.data_files, (unsigned long long)st.disk_bytes,
           (unsigned long long)st.live_bytes, (unsigned long long)st.dead_bytes,
           (unsigned long long)st.keydir_bytes, (unsigned long long)st.seq);
    return 0;
}

static int kv_check(int argc, char **argv) {
    int rc = cairn_kv_check(argv[0]);
    (void)argc;
    if (rc) return fail(rc);
    printf("ok\n");
    return 0;
}

static int kv_reclaim(int argc, char **argv) {
    cairn_kv *kv;
    struct cairn_kv_stats before, after;
    int rc = kv_open_dir(&kv, argv[0], 0);
    (void)argc;
    if (rc) return fail(rc);
    rc = cairn_kv_stats(kv, &before);
    if (!rc) rc = cairn_kv_reclaim(kv);
    if (!rc) rc = cairn_kv_stats(kv, &after);
    if (rc) {
        fail(rc);
        cairn_kv_close(kv);
        return 1;
    }
    printf("reclaimed %llu bytes (%llu -> %llu)\n",
           (unsigned long long)(before.disk_bytes > after.disk_bytes ? before.disk_bytes - after.disk_bytes : 0),
           (unsigned long long)before.disk_bytes, (unsigned long long)after.disk_bytes);
    cairn_kv_close(kv);
    return 0;
}

static const command kv_cmds[] = {
    {"put", 3, 3, "DIR KEY VALUE", kv_put},  {"get", 2, 2, "DIR KEY", kv_get},
    {"del", 2, 2, "DIR KEY", kv_del},        {"list", 1, 2, "DIR [PREFIX]", kv_list},
    {"stats", 1, 1, "DIR", kv_stats},        {"check", 1, 1, "DIR", kv_check},
    {"reclaim", 1, 1, "DIR", kv_reclaim},    {NULL, 0, 0, NULL, NULL}};

/* ---- dispatch ----------------------------------------------------------------------------------- */

static const engine engines[] = {{"kv", kv_cmds}, {NULL, NULL}};

static int usage(FILE *to) {
    const engine *e;
    const command *c;
    fprintf(to, "usage: cairn version\n");
    for (e = engines; e->name; e++)
        for (c = e->cmds; c->name; c++) fprintf(to, "       cairn %s %s %s\n", e->name, c->name, c->args);
    return EXIT_USAGE;
}

int main(int argc, char **argv) {
    const engine *e;
    const command *c;
    if (argc < 2) return usage(stderr);
    if (!strcmp(argv[1], "version") && argc == 2) {
        printf("cairn %s\n", cairn_version());
        return 0;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    for (e = engines; e->name; e++) {
        if (strcmp(argv[1], e->name) != 0) continue;
        if (argc < 3) return usage(stderr);
        for (c = e->cmds; c->name; c++) {
            int n = argc - 3;
            if (strcmp(argv[2], c->name) != 0) continue;
            if (n < c->min_args || n > c->max_args) {
                fprintf(stderr, "usage: cairn %s %s %s\n", e->name, c->name, c->args);
                return EXIT_USAGE;
            }
            return c->run(n, argv + 3);
        }
        fprintf(stderr, "cairn: unknown command '%s %s'\n", e->name, argv[2]);
        return usage(stderr);
    }
    fprintf(stderr, "cairn: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
