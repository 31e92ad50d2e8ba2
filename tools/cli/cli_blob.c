/* cli_blob.c - `cairn blob ...`: the commands on a blob store (a file, its WAL beside it). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_dump.h"
#include "cli_json.h"

#define LOAD_BATCH_RECORDS 4096
#define LOAD_BATCH_BYTES (16u << 20)

static int blob_open_file(cairn_blob **b, const char *path, int read_only, int sync) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    o.read_only = read_only;
    o.create = !read_only;
    o.sync = sync;
    return cairn_blob_open(b, path, &o);
}

/* A blob key on the command line: a decimal uint32. */
static int parse_key(const char *s, uint32_t *key) {
    char *end;
    unsigned long long v;
    if (!*s || *s < '0' || *s > '9') return 0;
    v = strtoull(s, &end, 10);
    if (*end || v > 0xffffffffull) return 0;
    *key = (uint32_t)v;
    return 1;
}

/* Open the store (and parse argv[1] as a key when want_key), run one operation, close.
 * The operation returns a CAIRN_E* code (< 0), 0, or an exit code (> 0). */
typedef int (*blob_op)(const opts *o, cairn_blob *b, uint32_t key, int argc, char **argv);

static int blob_run(const opts *o, int argc, char **argv, int read_only, int want_key, blob_op op) {
    cairn_blob *b;
    uint32_t key = 0;
    int rc;
    if (want_key && !parse_key(argv[1], &key))
        return cli_error(EXIT_USAGE, "CAIRN_INVALID", "'%s' is not a blob key (0..4294967295)", argv[1]);
    if ((rc = blob_open_file(&b, argv[0], read_only, CAIRN_SYNC_COMMIT)) != 0) return cli_fail(rc);
    rc = op(o, b, key, argc, argv);
    if (rc == CAIRN_NOTFOUND) rc = cli_error(EXIT_NOTFOUND, "CAIRN_NOTFOUND", "no blob %u", (unsigned)key);
    else if (rc < 0) rc = cli_fail(rc);
    cairn_blob_close(b);
    return rc ? rc : cli_flush_stdout();
}

/* VALUE argument of create/update (a blob is bytes: no kind, no check). */
static int op_write(const opts *o, cairn_blob *b, uint32_t key, int argc, char **argv, int create) {
    unsigned char *v;
    size_t n;
    int rc = cli_read_value(argv[argc - 1], &v, &n);
    (void)o;
    if (rc) return rc;
    if (create) {
        rc = cairn_blob_create(b, v, n, &key);
        if (!rc) printf("%u\n", (unsigned)key);
    } else {
        rc = cairn_blob_update(b, key, v, n);
    }
    free(v);
    return rc;
}

static int op_create(const opts *o, cairn_blob *b, uint32_t key, int argc, char **argv) {
    return op_write(o, b, key, argc, argv, 1);
}
static int op_update(const opts *o, cairn_blob *b, uint32_t key, int argc, char **argv) {
    return op_write(o, b, key, argc, argv, 0);
}

static int op_get(const opts *o, cairn_blob *b, uint32_t key, int argc, char **argv) {
    void *v = NULL;
    size_t n = 0;
    int rc = cairn_blob_read(b, key, &v, &n);
    (void)argc, (void)argv;
    if (rc) return rc;
    if (o->given & OPT_JSON) {
        printf("{\"key\":%u,\"size\":%llu,", (unsigned)key, (unsigned long long)n);
        cli_json_bytes(stdout, "value", v, n);
        fputs("}\n", stdout);
    } else {
        cli_write_value(o, v, n);
    }
    cairn_free(v);
    return 0;
}

static int op_del(const opts *o, cairn_blob *b, uint32_t key, int argc, char **argv) {
    (void)o, (void)argc, (void)argv;
    return cairn_blob_delete(b, key);
}

static int op_list(const opts *o, cairn_blob *b, uint32_t key, int argc, char **argv) {
    cairn_blob_iter *it;
    int rc = cairn_blob_iter_open(&it, b), longfmt = (o->given & OPT_LONG) != 0;
    (void)argc, (void)argv;
    if (rc) return rc;
    while ((rc = cairn_blob_iter_next(it, &key)) == 0) {
        size_t n = 0;
        if (longfmt) {
            void *v = NULL;
            int r2 = cairn_blob_read(b, key, &v, &n);
            cairn_free(v);
            if (r2 == CAIRN_NOTFOUND) continue;
            if (r2) {
                rc = r2;
                break;
            }
        }
        if (o->given & OPT_JSON) {
            if (longfmt) printf("{\"key\":%u,\"size\":%llu}\n", (unsigned)key, (unsigned long long)n);
            else printf("{\"key\":%u}\n", (unsigned)key);
        } else if (longfmt) {
            printf("%10u %12llu\n", (unsigned)key, (unsigned long long)n);
        } else {
            printf("%u\n", (unsigned)key);
        }
    }
    cairn_blob_iter_free(it);
    return rc == CAIRN_ITEROVER ? 0 : rc;
}

static double pct(uint64_t part, uint64_t whole) { return whole ? 100.0 * (double)part / (double)whole : 0.0; }

static int op_stats(const opts *o, cairn_blob *b, uint32_t key, int argc, char **argv) {
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    char x[64];
    int rc;
    (void)key, (void)argc, (void)argv;
    if (o->given & OPT_PROM) {
        char *text = NULL;
        if ((rc = cairn_blob_metrics(b, &text)) != 0) return rc;
        fputs(text, stdout);
        cairn_free(text);
        return 0;
    }
    if ((rc = cairn_blob_stats(b, &st)) != 0) return rc;
    if (o->given & OPT_JSON) {
        printf("{\"engine\":\"blob\",\"entries\":%llu,\"live_bytes\":%llu,\"free_bytes\":%llu,\"free_entries\":%llu,"
               "\"free_ratio\":%.4f,\"file_size\":%llu,\"wal_bytes\":%llu,\"next_key\":%u}\n",
               (unsigned long long)st.entries, (unsigned long long)st.live_bytes, (unsigned long long)st.free_bytes,
               (unsigned long long)st.free_entries, pct(st.free_bytes, st.file_size) / 100.0,
               (unsigned long long)st.file_size, (unsigned long long)st.wal_bytes, (unsigned)st.next_key);
        return 0;
    }
    printf("blobs         %llu\n", (unsigned long long)st.entries);
    printf("live data     %s of payload\n", cli_size_str(st.live_bytes, x, sizeof x));
    printf("free space    %s in %llu free entr%s (%.1f%% of the file: what `cairn blob compact` frees)\n",
           cli_size_str(st.free_bytes, x, sizeof x), (unsigned long long)st.free_entries,
           st.free_entries == 1 ? "y" : "ies", pct(st.free_bytes, st.file_size));
    printf("file          %s\n", cli_size_str(st.file_size, x, sizeof x));
    printf("WAL           %s in use\n", cli_human_bytes(st.wal_bytes, x, sizeof x));
    if (st.next_key == 0xffffffffu) printf("next key      4294967295 (or none left)\n");
    else printf("next key      %u\n", (unsigned)st.next_key);
    return 0;
}

static int op_compact(const opts *o, cairn_blob *b, uint32_t key, int argc, char **argv) {
    struct cairn_blob_stats before = CAIRN_BLOB_STATS_INIT, after = CAIRN_BLOB_STATS_INIT;
    int rc = cairn_blob_stats(b, &before);
    (void)o, (void)key, (void)argc, (void)argv;
    if (!rc) {
        cli_ticker_start("compacting");
        rc = cairn_blob_compact(b);
        cli_ticker_stop();
    }
    if (!rc) rc = cairn_blob_stats(b, &after);
    if (!rc)
        printf("compacted %llu -> %llu bytes\n", (unsigned long long)before.file_size,
               (unsigned long long)after.file_size);
    return rc;
}

static int op_dump(const opts *o, cairn_blob *b, uint32_t key, int argc, char **argv) {
    cairn_blob_iter *it;
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    uint64_t records = 0, bytes = 0;
    char extra[64];
    int rc;
    (void)o, (void)argc, (void)argv;
    if ((rc = cairn_blob_stats(b, &st)) != 0) return rc;
    if ((rc = cairn_blob_iter_open(&it, b)) != 0) return rc;
    snprintf(extra, sizeof extra, ",\"next_key\":%u", (unsigned)st.next_key);
    dump_header("blob", extra);
    cli_progress("dumped", 0, 0, 0);
    while ((rc = cairn_blob_iter_next(it, &key)) == 0) {
        void *v = NULL;
        size_t n = 0;
        rc = cairn_blob_read(b, key, &v, &n);
        if (rc == CAIRN_NOTFOUND) continue;
        if (rc) break;
        printf("{\"key\":%u,", (unsigned)key);
        cli_json_bytes(stdout, "value", v, n);
        fputs("}\n", stdout);
        cairn_free(v);
        records++;
        bytes += n;
        cli_progress("dumped", records, bytes, 0);
        if (ferror(stdout)) break;
    }
    cairn_blob_iter_free(it);
    cli_progress("dumped", records, bytes, 1);
    if (rc == CAIRN_ITEROVER) {
        dump_trailer(records);
        rc = 0;
    }
    return rc;
}

static int load_record(cairn_blob *b, dump_reader *r, const cj_field *f, int nf, int replace, size_t *bytes) {
    const cj_field *kf = cj_get(f, nf, "key");
    unsigned char *v = NULL;
    size_t n = 0;
    uint32_t key;
    int rc;
    if (!kf || kf->type != CJ_INT || kf->i < 0 || kf->i > 0xffffffffll)
        return dump_bad(r, "\"key\" is not a blob key (an integer 0..4294967295)");
    key = (uint32_t)kf->i;
    if ((rc = dump_bytes(r, f, nf, "value", &v, &n)) != 0) return rc;
    rc = cairn_blob_create_with_key(b, key, v, n);
    if (rc == CAIRN_EXISTS && replace) rc = cairn_blob_update(b, key, v, n);
    free(v);
    if (rc == CAIRN_EXISTS) return dump_bad(r, "blob %u is already in the store (load into an empty store, or use "
                                             "--replace)", (unsigned)key);
    if (rc) {
        fprintf(stderr, "cairn: %s line %llu:\n", r->src, (unsigned long long)r->lineno);
        return cli_fail(rc);
    }
    *bytes += n;
    return 0;
}

static int blob_load(const opts *o, int argc, char **argv) {
    cairn_blob *b;
    dump_reader r;
    cj_field f[DUMP_MAX_FIELDS];
    int nf, rc, code = 0, in_txn = 0;
    uint64_t committed = 0;
    size_t batch_bytes = 0, bytes = 0;
    if ((rc = dump_open(&r, argc > 1 ? argv[1] : NULL, "blob")) != 0) return rc;
    if ((rc = blob_open_file(&b, argv[0], 0, CAIRN_SYNC_NONE)) != 0) {
        dump_close(&r);
        return cli_fail(rc);
    }
    cli_progress("loaded", 0, 0, 0);
    for (;;) {
        if ((code = dump_next(&r, f, &nf)) != 0) break;
        if (!in_txn) {
            if ((rc = cairn_blob_begin(b)) != 0) {
                cj_fields_free(f, nf);
                code = cli_fail(rc);
                break;
            }
            in_txn = 1;
        }
        code = load_record(b, &r, f, nf, (o->given & OPT_REPLACE) != 0, &batch_bytes);
        cj_fields_free(f, nf);
        if (code) break;
        r.records++;
        if (r.records - committed >= LOAD_BATCH_RECORDS || batch_bytes >= LOAD_BATCH_BYTES) {
            in_txn = 0;
            if ((rc = cairn_blob_commit(b)) != 0) {
                code = cli_fail(rc);
                break;
            }
            committed = r.records;
            bytes += batch_bytes, batch_bytes = 0;
        }
        cli_progress("loaded", r.records, bytes + batch_bytes, 0);
    }
    if (code < 0) {
        code = 0;
        if (in_txn) {
            in_txn = 0;
            if ((rc = cairn_blob_commit(b)) != 0) code = cli_fail(rc);
            else committed = r.records, bytes += batch_bytes;
        }
    }
    if (in_txn) cairn_blob_rollback(b);
    if ((rc = cairn_blob_sync(b)) != 0 && !code) code = cli_fail(rc);
    cli_progress("loaded", committed, bytes, 1);
    cairn_blob_close(b);
    dump_close(&r);
    if (code) {
        fprintf(stderr, "cairn: %llu records were loaded before the error\n", (unsigned long long)committed);
        return code;
    }
    printf("loaded %llu records\n", (unsigned long long)committed);
    return cli_flush_stdout();
}

static int blob_create(const opts *o, int argc, char **argv) { return blob_run(o, argc, argv, 0, 0, op_create); }
static int blob_get(const opts *o, int argc, char **argv) { return blob_run(o, argc, argv, 1, 1, op_get); }
static int blob_update(const opts *o, int argc, char **argv) { return blob_run(o, argc, argv, 0, 1, op_update); }
static int blob_del(const opts *o, int argc, char **argv) { return blob_run(o, argc, argv, 0, 1, op_del); }
static int blob_list(const opts *o, int argc, char **argv) { return blob_run(o, argc, argv, 1, 0, op_list); }
static int blob_stats(const opts *o, int argc, char **argv) { return blob_run(o, argc, argv, 1, 0, op_stats); }
static int blob_compact(const opts *o, int argc, char **argv) { return blob_run(o, argc, argv, 0, 0, op_compact); }
static int blob_dump(const opts *o, int argc, char **argv) { return blob_run(o, argc, argv, 1, 0, op_dump); }

static int blob_check(const opts *o, int argc, char **argv) {
    int rc;
    (void)argc;
    cli_ticker_start("checking");
    rc = cairn_blob_check(argv[0]);
    cli_ticker_stop();
    if (o->given & OPT_JSON) cli_json_check(argv[0], rc);
    if (rc) return cli_fail(rc);
    if (!(o->given & OPT_JSON)) printf("ok\n");
    return cli_flush_stdout();
}

const command cli_blob_cmds[] = {
    {"create", 2, 2, "FILE VALUE", 0, "store VALUE under a new key and print the key (creates the store)",
     "VALUE is the text itself, '-' for standard input or @FILE for a file's contents ('@@x' is the\n"
     "text '@x'). A blob is bytes: any data is stored as it is.", blob_create},
    {"get", 2, 2, "FILE KEY", OPT_JSON | OPT_RAW | OPT_HEX, "print blob KEY (exit 1 if absent)",
     "To a terminal the blob is printed with a newline, control characters and bytes that are not\n"
     "UTF-8 shown as \\xNN; to a pipe or file it is written exactly, byte for byte, with nothing added.\n"
     "  --raw    the exact bytes, even to a terminal\n"
     "  --hex    lowercase hexadecimal, then a newline\n"
     "  --json   {\"key\",\"size\",\"value\" or \"value_b64\"} (docs/cli.md)", blob_get},
    {"update", 3, 3, "FILE KEY VALUE", 0, "replace blob KEY with VALUE (exit 1 if absent)",
     "VALUE as for create.", blob_update},
    {"del", 2, 2, "FILE KEY", 0, "delete blob KEY (exit 1 if absent)", NULL, blob_del},
    {"list", 1, 1, "FILE", OPT_LONG | OPT_JSON, "list the keys in ascending order",
     "  -l, --long   also the size in bytes\n"
     "  --json       one JSON object a line: {\"key\"} (with -l also size)", blob_list},
    {"stats", 1, 1, "FILE", OPT_JSON | OPT_PROM, "show the size of the store and how much of it is free space",
     "Every field is described in docs/cli.md.\n"
     "  --json   one JSON object with the raw numbers\n"
     "  --prometheus   the Prometheus text exposition format (cairn_blob_*{store=\"FILE\"})", blob_stats},
    {"check", 1, 1, "FILE", OPT_JSON, "verify the file and its WAL (CRCs, structure); exit 6 if corrupt",
     "  --json   {\"ok\":true|false,\"path\":...}; the error still goes to standard error", blob_check},
    {"compact", 1, 1, "FILE", 0, "rewrite the file without free space (crash-safe)", NULL, blob_compact},
    {"dump", 1, 1, "FILE", 0, "write every blob as JSON lines to standard output",
     "Binary-safe: blobs that are not UTF-8 are written in base64. The format is specified in\n"
     "docs/cli.md. Restore with `cairn blob load`.", blob_dump},
    {"load", 1, 2, "FILE [DUMP]", OPT_REPLACE, "load a dump (from DUMP or standard input), keeping the keys",
     "Each blob is created under its own key. A key that is already in the store stops the load\n"
     "(exit 8) unless --replace is given; what was loaded before an error stays.\n"
     "  --replace   overwrite blobs that exist", blob_load},
    CLI_SNAP_COMMANDS(blob, "FILE", "FILE-snapshots/", "the file DEST (which must not exist) and DEST-wal"),
    {NULL, 0, 0, NULL, 0, NULL, NULL, NULL}};
