/*
 * cairn.c - the `cairn` command-line tool.
 *
 *   cairn version
 *   cairn kv put DIR KEY VALUE      cairn kv get DIR KEY       cairn kv del DIR KEY
 *   cairn kv list DIR [PREFIX]      cairn kv stats DIR         cairn kv check DIR
 *   cairn kv reclaim DIR
 *   cairn blob create FILE VALUE    cairn blob get FILE KEY    cairn blob update FILE KEY VALUE
 *   cairn blob del FILE KEY         cairn blob list FILE       cairn blob stats FILE
 *   cairn blob check FILE           cairn blob compact FILE
 *
 * Exit codes: 0 success, 1 the operation failed (or the key is missing), 2 bad usage.
 * Errors go to stderr as "cairn: NAME: message".
 *
 * Each engine is one entry of the `engines` table with its own table of sub-commands, so a new
 * engine (e.g. `cairn blob ...`) adds one command table and one line there.
 */
#include <stdint.h>
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

/* ---- blob ------------------------------------------------------------------------------------- */

static int blob_open_file(cairn_blob **b, const char *path, int read_only) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    o.read_only = read_only;
    o.create = !read_only;
    return cairn_blob_open(b, path, &o);
}

/* A blob key on the command line: a decimal uint32. */
static int parse_key(const char *s, uint32_t *key) {
    char *end;
    unsigned long long v;
    if (!*s || *s == '-') return 0;
    v = strtoull(s, &end, 10);
    if (*end || v > 0xffffffffull) return 0;
    *key = (uint32_t)v;
    return 1;
}

/* Open the store (and parse argv[1] as a key when want_key), run one operation, close. */
typedef int (*blob_op)(cairn_blob *b, uint32_t key, int argc, char **argv);

static int blob_run(int argc, char **argv, int read_only, int want_key, blob_op op) {
    cairn_blob *b;
    uint32_t key = 0;
    int rc;
    if (want_key && !parse_key(argv[1], &key)) {
        fprintf(stderr, "cairn: CAIRN_INVALID: '%s' is not a blob key (0..4294967295)\n", argv[1]);
        return EXIT_USAGE;
    }
    if ((rc = blob_open_file(&b, argv[0], read_only)) != 0) return fail(rc);
    rc = op(b, key, argc, argv);
    if (rc == CAIRN_ENOTFOUND) {
        fprintf(stderr, "cairn: CAIRN_NOTFOUND: no blob %u\n", (unsigned)key);
        rc = 1;
    } else if (rc < 0) {
        rc = fail(rc);
    }
    cairn_blob_close(b);
    return rc;
}

static int op_create(cairn_blob *b, uint32_t key, int argc, char **argv) {
    int rc = cairn_blob_create(b, argv[1], strlen(argv[1]), &key);
    (void)argc;
    if (!rc) printf("%u\n", (unsigned)key);
    return rc;
}

static int op_get(cairn_blob *b, uint32_t key, int argc, char **argv) {
    void *v = NULL;
    size_t n = 0;
    int rc = cairn_blob_read(b, key, &v, &n);
    (void)argc, (void)argv;
    if (rc) return rc;
    fwrite(v, 1, n, stdout);
    fputc('\n', stdout);
    cairn_free(v);
    return 0;
}

static int op_update(cairn_blob *b, uint32_t key, int argc, char **argv) {
    (void)argc;
    return cairn_blob_update(b, key, argv[2], strlen(argv[2]));
}

static int op_del(cairn_blob *b, uint32_t key, int argc, char **argv) {
    (void)argc, (void)argv;
    return cairn_blob_delete(b, key);
}

static int op_list(cairn_blob *b, uint32_t key, int argc, char **argv) {
    cairn_blob_iter *it;
    int rc = cairn_blob_iter_open(&it, b);
    (void)argc, (void)argv;
    if (rc) return rc;
    while ((rc = cairn_blob_iter_next(it, &key)) == 0) printf("%u\n", (unsigned)key);
    cairn_blob_iter_free(it);
    return rc == CAIRN_EITEROVER ? 0 : rc;
}

static int op_stats(cairn_blob *b, uint32_t key, int argc, char **argv) {
    struct cairn_blob_stats st;
    int rc = cairn_blob_stats(b, &st);
    (void)key, (void)argc, (void)argv;
    if (rc) return rc;
    printf("entries %llu\nlive_bytes %llu\nfree_bytes %llu\nfree_entries %llu\nfile_size %llu\n"
           "wal_bytes %llu\nnext_key %u\n",
           (unsigned long long)st.entries, (unsigned long long)st.live_bytes, (unsigned long long)st.free_bytes,
           (unsigned long long)st.free_entries, (unsigned long long)st.file_size,
           (unsigned long long)st.wal_bytes, (unsigned)st.next_key);
    return 0;
}

static int op_compact(cairn_blob *b, uint32_t key, int argc, char **argv) {
    struct cairn_blob_stats before, after;
    int rc = cairn_blob_stats(b, &before);
    (void)key, (void)argc, (void)argv;
    if (!rc) rc = cairn_blob_compact(b);
    if (!rc) rc = cairn_blob_stats(b, &after);
    if (!rc)
        printf("compacted %llu -> %llu bytes\n", (unsigned long long)before.file_size,
               (unsigned long long)after.file_size);
    return rc;
}

static int blob_create(int argc, char **argv) { return blob_run(argc, argv, 0, 0, op_create); }
static int blob_get(int argc, char **argv) { return blob_run(argc, argv, 1, 1, op_get); }
static int blob_update(int argc, char **argv) { return blob_run(argc, argv, 0, 1, op_update); }
static int blob_del(int argc, char **argv) { return blob_run(argc, argv, 0, 1, op_del); }
static int blob_list(int argc, char **argv) { return blob_run(argc, argv, 1, 0, op_list); }
static int blob_stats(int argc, char **argv) { return blob_run(argc, argv, 1, 0, op_stats); }
static int blob_compact(int argc, char **argv) { return blob_run(argc, argv, 0, 0, op_compact); }

static int blob_check(int argc, char **argv) {
    int rc = cairn_blob_check(argv[0]);
    (void)argc;
    if (rc) return fail(rc);
    printf("ok\n");
    return 0;
}

static const command blob_cmds[] = {
    {"create", 2, 2, "FILE VALUE", blob_create},      {"get", 2, 2, "FILE KEY", blob_get},
    {"update", 3, 3, "FILE KEY VALUE", blob_update},  {"del", 2, 2, "FILE KEY", blob_del},
    {"list", 1, 1, "FILE", blob_list},                {"stats", 1, 1, "FILE", blob_stats},
    {"check", 1, 1, "FILE", blob_check},              {"compact", 1, 1, "FILE", blob_compact},
    {NULL, 0, 0, NULL, NULL}};

/* ---- dispatch ----------------------------------------------------------------------------------- */

static const engine engines[] = {{"kv", kv_cmds}, {"blob", blob_cmds}, {NULL, NULL}};

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
