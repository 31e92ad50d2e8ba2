/* cli_kv.c - `cairn kv ...`: the commands on a KV store (a directory). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_dump.h"
#include "cli_json.h"

/* Batches of a load: one transaction per this many records or bytes. */
#define LOAD_BATCH_RECORDS 4096
#define LOAD_BATCH_BYTES (16u << 20)

static int kv_open_dir(cairn_kv **kv, const char *dir, int read_only, int sync) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    o.read_only = read_only;
    o.create = !read_only;
    o.sync = sync;
    return cairn_kv_open(kv, dir, &o);
}

/* Close, and turn a failed core call into its exit code. */
static int kv_done(cairn_kv *kv, int rc) {
    int code = rc ? cli_fail(rc) : 0;
    cairn_kv_close(kv);
    return code;
}

static int not_found(const char *key, size_t klen) {
    fputs("cairn: CAIRN_NOTFOUND: no key '", stderr);
    fflush(stdout);
    {
        size_t i;
        const unsigned char *k = (const unsigned char *)key;
        for (i = 0; i < klen; i++) {
            if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\\') fputc(k[i], stderr);
            else fprintf(stderr, "\\x%02x", k[i]);
        }
    }
    fputs("'\n", stderr);
    return EXIT_NOTFOUND;
}

static int kv_put(const opts *o, int argc, char **argv) {
    cairn_kv *kv;
    unsigned char *v;
    size_t n;
    int kind = (o->given & OPT_KIND) ? o->kind : CAIRN_KIND_TEXT, rc;
    (void)argc;
    if ((rc = cli_read_value(argv[2], &v, &n)) != 0) return rc;
    if ((rc = cli_check_kind(kind, v, n)) != 0) {
        free(v);
        return rc;
    }
    if ((rc = kv_open_dir(&kv, argv[0], 0, CAIRN_SYNC_COMMIT)) != 0) {
        free(v);
        return cli_fail(rc);
    }
    rc = cairn_kv_put_ex(kv, argv[1], strlen(argv[1]), v, n, kind, (o->given & OPT_EXPIRE) ? o->expire_at : 0);
    free(v);
    if (!rc) rc = cairn_kv_sync(kv);
    return kv_done(kv, rc);
}

/* One key as a JSON object: key, kind, size, expire_at (null: never) and, with the value, value. */
static void json_entry(const void *k, size_t kl, int kind, size_t size, int64_t expire, const void *v) {
    const char *kn = cli_kind_name(kind);
    putchar('{');
    cli_json_bytes(stdout, "key", k, kl);
    if (kn) printf(",\"kind\":\"%s\"", kn);
    else printf(",\"kind\":%d", kind);
    printf(",\"size\":%llu,\"expire_at\":", (unsigned long long)size);
    if (expire) printf("%lld", (long long)expire);
    else fputs("null", stdout);
    if (v) {
        putchar(',');
        cli_json_bytes(stdout, "value", v, size);
    }
    fputs("}\n", stdout);
}

static int kv_get(const opts *o, int argc, char **argv) {
    cairn_kv *kv;
    void *v = NULL;
    size_t n = 0, klen = strlen(argv[1]);
    int kind = 0, rc = kv_open_dir(&kv, argv[0], 1, CAIRN_SYNC_COMMIT);
    int64_t expire = 0;
    (void)argc;
    if (rc) return cli_fail(rc);
    rc = cairn_kv_get(kv, argv[1], klen, &v, &n, &kind);
    if (!rc && (o->given & OPT_JSON)) {
        rc = cairn_kv_expiry(kv, argv[1], klen, &expire);
        if (rc == CAIRN_NOTFOUND) rc = 0; /* expired between the two calls: show what was read */
    }
    if (rc == CAIRN_NOTFOUND) {
        cairn_kv_close(kv);
        return not_found(argv[1], klen);
    }
    if (rc) {
        cairn_free(v);
        return kv_done(kv, rc);
    }
    if (o->given & OPT_JSON) json_entry(argv[1], klen, kind, n, expire, v);
    else cli_write_value(o, v, n);
    cairn_free(v);
    cairn_kv_close(kv);
    return cli_flush_stdout();
}

static int kv_del(const opts *o, int argc, char **argv) {
    cairn_kv *kv;
    size_t klen = strlen(argv[1]);
    int rc = kv_open_dir(&kv, argv[0], 0, CAIRN_SYNC_COMMIT);
    (void)o, (void)argc;
    if (rc) return cli_fail(rc);
    rc = cairn_kv_delete(kv, argv[1], klen);
    if (rc == CAIRN_NOTFOUND) {
        cairn_kv_close(kv);
        return not_found(argv[1], klen);
    }
    if (!rc) rc = cairn_kv_sync(kv);
    return kv_done(kv, rc);
}

static int kv_list(const opts *o, int argc, char **argv) {
    cairn_kv *kv;
    cairn_kv_iter *it;
    const void *k;
    size_t kl;
    const char *prefix = argc > 1 ? argv[1] : "";
    int rc = kv_open_dir(&kv, argv[0], 1, CAIRN_SYNC_COMMIT), longfmt = (o->given & OPT_LONG) != 0;
    if (rc) return cli_fail(rc);
    if ((rc = cairn_kv_iter_open(&it, kv, prefix, strlen(prefix))) != 0) return kv_done(kv, rc);
    while ((rc = cairn_kv_iter_next(it, &k, &kl)) == 0) {
        size_t size = 0;
        int kind = 0;
        int64_t expire = 0;
        if (longfmt) {
            rc = cairn_kv_get_into(kv, k, kl, NULL, 0, &size, &kind);
            if (rc == CAIRN_RANGE) rc = 0;
            if (!rc) rc = cairn_kv_expiry(kv, k, kl, &expire);
            if (rc == CAIRN_NOTFOUND) continue; /* deleted or expired since the snapshot */
            if (rc) break;
        }
        if (o->given & OPT_JSON) {
            if (longfmt) {
                json_entry(k, kl, kind, size, expire, NULL);
            } else {
                fputs("{", stdout);
                cli_json_bytes(stdout, "key", k, kl);
                fputs("}\n", stdout);
            }
        } else if (longfmt) {
            char ts[40];
            const char *kn = cli_kind_name(kind);
            char kbuf[16];
            if (!kn) snprintf(kbuf, sizeof kbuf, "%d", kind), kn = kbuf;
            printf("%-6s %10llu  %-24s  ", kn, (unsigned long long)size, expire ? cli_time_str(expire, ts, sizeof ts) : "-");
            cli_print_key(k, kl, "\n");
        } else {
            cli_print_key(k, kl, "\n");
        }
    }
    cairn_kv_iter_free(it);
    if (rc != CAIRN_ITEROVER) return kv_done(kv, rc);
    cairn_kv_close(kv);
    return cli_flush_stdout();
}

static double pct(uint64_t part, uint64_t whole) { return whole ? 100.0 * (double)part / (double)whole : 0.0; }

static int kv_stats(const opts *o, int argc, char **argv) {
    cairn_kv *kv;
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    char a[64], b[64], c[64];
    int rc = kv_open_dir(&kv, argv[0], 1, CAIRN_SYNC_COMMIT);
    (void)argc;
    if (rc) return cli_fail(rc);
    if (o->given & OPT_PROM) {
        char *text = NULL;
        rc = cairn_kv_metrics(kv, &text);
        cairn_kv_close(kv);
        if (rc) return cli_fail(rc);
        fputs(text, stdout);
        cairn_free(text);
        return cli_flush_stdout();
    }
    rc = cairn_kv_stats(kv, &st);
    cairn_kv_close(kv);
    if (rc) return cli_fail(rc);
    if (o->given & OPT_JSON) {
        printf("{\"engine\":\"kv\",\"keys\":%llu,\"data_files\":%llu,\"disk_bytes\":%llu,\"live_bytes\":%llu,"
               "\"dead_bytes\":%llu,\"dead_ratio\":%.4f,\"keydir_bytes\":%llu,\"seq\":%llu}\n",
               (unsigned long long)st.keys, (unsigned long long)st.data_files, (unsigned long long)st.disk_bytes,
               (unsigned long long)st.live_bytes, (unsigned long long)st.dead_bytes,
               pct(st.dead_bytes, st.live_bytes + st.dead_bytes) / 100.0, (unsigned long long)st.keydir_bytes,
               (unsigned long long)st.seq);
        return cli_flush_stdout();
    }
    {
        uint64_t records = st.live_bytes + st.dead_bytes;
        printf("keys          %llu\n", (unsigned long long)st.keys);
        printf("on disk       %s: %llu data file%s, every file of the store included\n", cli_size_str(st.disk_bytes, a, sizeof a),
               (unsigned long long)st.data_files, st.data_files == 1 ? "" : "s");
        printf("  live        %s, %.1f%% of the records\n", cli_size_str(st.live_bytes, b, sizeof b),
               pct(st.live_bytes, records));
        printf("  dead        %s, %.1f%% of the records: what `cairn kv compact` frees\n",
               cli_size_str(st.dead_bytes, c, sizeof c), pct(st.dead_bytes, records));
        if (st.disk_bytes > records)
            printf("  hints       %s: hint files and the KEYDIR snapshot (indexes read at open), file headers\n",
                   cli_human_bytes(st.disk_bytes - records, a, sizeof a));
        printf("keydir        %s in memory\n", cli_human_bytes(st.keydir_bytes, a, sizeof a));
        printf("last seq      %llu\n", (unsigned long long)st.seq);
    }
    return cli_flush_stdout();
}

static int kv_check(const opts *o, int argc, char **argv) {
    int rc;
    (void)argc;
    cli_ticker_start("checking");
    rc = cairn_kv_check(argv[0]);
    cli_ticker_stop();
    if (o->given & OPT_JSON) cli_json_check(argv[0], rc);
    if (rc) return cli_fail(rc);
    if (!(o->given & OPT_JSON)) printf("ok\n");
    return cli_flush_stdout();
}

static int kv_compact(const opts *o, int argc, char **argv) {
    cairn_kv *kv;
    struct cairn_kv_stats before = CAIRN_KV_STATS_INIT, after = CAIRN_KV_STATS_INIT;
    int rc = kv_open_dir(&kv, argv[0], 0, CAIRN_SYNC_COMMIT);
    (void)o, (void)argc;
    if (rc) return cli_fail(rc);
    rc = cairn_kv_stats(kv, &before);
    if (!rc) {
        cli_ticker_start("compacting");
        rc = cairn_kv_compact(kv);
        cli_ticker_stop();
    }
    if (rc) return kv_done(kv, rc);
    /* the size as `kv stats` reports it next: after the close, which writes the KEYDIR snapshot
     * (measured on the open handle, the message disagreed with the stats right after it) */
    cairn_kv_close(kv);
    if ((rc = kv_open_dir(&kv, argv[0], 1, CAIRN_SYNC_COMMIT)) != 0) return cli_fail(rc);
    if ((rc = cairn_kv_stats(kv, &after)) != 0) return kv_done(kv, rc);
    printf("compacted: %llu bytes freed (%llu -> %llu)\n",
           (unsigned long long)(before.disk_bytes > after.disk_bytes ? before.disk_bytes - after.disk_bytes : 0),
           (unsigned long long)before.disk_bytes, (unsigned long long)after.disk_bytes);
    cairn_kv_close(kv);
    return cli_flush_stdout();
}

static int kv_dump(const opts *o, int argc, char **argv) {
    cairn_kv *kv;
    cairn_kv_iter *it;
    const void *k;
    size_t kl;
    uint64_t records = 0, bytes = 0;
    const char *prefix = argc > 1 ? argv[1] : "";
    int rc = kv_open_dir(&kv, argv[0], 1, CAIRN_SYNC_COMMIT);
    (void)o;
    if (rc) return cli_fail(rc);
    if ((rc = cairn_kv_iter_open(&it, kv, prefix, strlen(prefix))) != 0) return kv_done(kv, rc);
    dump_header("kv", NULL);
    cli_progress("dumped", 0, 0, 0);
    while ((rc = cairn_kv_iter_next(it, &k, &kl)) == 0) {
        void *v = NULL;
        size_t n = 0;
        int kind = 0;
        int64_t expire = 0;
        const char *kn;
        rc = cairn_kv_get(kv, k, kl, &v, &n, &kind);
        if (!rc) rc = cairn_kv_expiry(kv, k, kl, &expire);
        if (rc == CAIRN_NOTFOUND) { /* deleted or expired since the snapshot */
            cairn_free(v);
            continue;
        }
        if (rc) {
            cairn_free(v);
            break;
        }
        putchar('{');
        cli_json_bytes(stdout, "key", k, kl);
        if ((kn = cli_kind_name(kind)) != NULL) printf(",\"kind\":\"%s\"", kn);
        else printf(",\"kind\":%d", kind);
        if (expire) printf(",\"expire_at\":%lld", (long long)expire);
        putchar(',');
        cli_json_bytes(stdout, "value", v, n);
        fputs("}\n", stdout);
        cairn_free(v);
        records++;
        bytes += kl + n;
        cli_progress("dumped", records, bytes, 0);
        if (ferror(stdout)) break;
    }
    cairn_kv_iter_free(it);
    cli_progress("dumped", records, bytes, 1);
    if (rc != CAIRN_ITEROVER && rc != 0) return kv_done(kv, rc);
    cairn_kv_close(kv);
    if (rc == 0) return cli_flush_stdout(); /* stopped on a write error */
    dump_trailer(records);
    return cli_flush_stdout();
}

/* One record of a KV dump into the open transaction. Returns an exit code. */
static int load_record(cairn_kv *kv, dump_reader *r, const cj_field *f, int nf, int replace, size_t *bytes) {
    unsigned char *key = NULL, *val = NULL;
    size_t kl = 0, vl = 0;
    const cj_field *kf = cj_get(f, nf, "kind"), *ef = cj_get(f, nf, "expire_at");
    int kind, rc;
    int64_t expire = 0;
    if (!kf) return dump_bad(r, "no \"kind\"");
    if (kf->type == CJ_STR) kind = cli_kind_parse(kf->s);
    else kind = kf->type == CJ_INT && kf->i >= 0 && kf->i <= 255 ? (int)kf->i : -1;
    if (kind < 0) return dump_bad(r, "unknown \"kind\"");
    if (ef && ef->type == CJ_INT) expire = ef->i;
    else if (ef && ef->type != CJ_NULL) return dump_bad(r, "\"expire_at\" is not an integer (Unix ms) or null");
    if ((rc = dump_bytes(r, f, nf, "key", &key, &kl)) != 0) return rc;
    if ((rc = dump_bytes(r, f, nf, "value", &val, &vl)) != 0) {
        free(key);
        return rc;
    }
    if (kind == CAIRN_KIND_TEXT || kind == CAIRN_KIND_JSON) {
        if ((rc = cli_check_kind(kind, val, vl)) != 0) {
            dump_bad(r, "the %s value of this record is refused (above)", cli_kind_name(kind));
            goto out;
        }
    }
    if (!replace && (rc = cairn_kv_exists(kv, key, kl)) != 0) {
        if (rc > 0) {
            rc = dump_bad(r, "the key is already in the store (load into an empty store, or use --replace)");
            goto out;
        }
        rc = cli_fail(rc);
        goto out;
    }
    if ((rc = cairn_kv_put_ex(kv, key, kl, val, vl, kind, expire)) != 0) {
        fprintf(stderr, "cairn: %s line %llu:\n", r->src, (unsigned long long)r->lineno);
        rc = cli_fail(rc);
        goto out;
    }
    *bytes += kl + vl;
out:
    free(key);
    free(val);
    return rc;
}

static int kv_load(const opts *o, int argc, char **argv) {
    cairn_kv *kv;
    dump_reader r;
    cj_field f[DUMP_MAX_FIELDS];
    int nf, rc, code = 0, in_txn = 0;
    uint64_t committed = 0;
    size_t batch_bytes = 0, bytes = 0;
    if ((rc = dump_open(&r, argc > 1 ? argv[1] : NULL, "kv")) != 0) return rc;
    /* SYNC_NONE per batch, one sync at the end: the load is durable when it says so */
    if ((rc = kv_open_dir(&kv, argv[0], 0, CAIRN_SYNC_NONE)) != 0) {
        dump_close(&r);
        return cli_fail(rc);
    }
    cli_progress("loaded", 0, 0, 0);
    for (;;) {
        if ((code = dump_next(&r, f, &nf)) != 0) break;
        if (!in_txn) {
            if ((rc = cairn_kv_begin(kv)) != 0) {
                cj_fields_free(f, nf);
                code = cli_fail(rc);
                break;
            }
            in_txn = 1;
        }
        code = load_record(kv, &r, f, nf, (o->given & OPT_REPLACE) != 0, &batch_bytes);
        cj_fields_free(f, nf);
        if (code) break;
        r.records++;
        if (r.records - committed >= LOAD_BATCH_RECORDS || batch_bytes >= LOAD_BATCH_BYTES) {
            in_txn = 0;
            if ((rc = cairn_kv_commit(kv)) != 0) {
                code = cli_fail(rc);
                break;
            }
            committed = r.records;
            bytes += batch_bytes, batch_bytes = 0;
        }
        cli_progress("loaded", r.records, bytes + batch_bytes, 0);
    }
    if (code < 0) { /* the end line: commit the last batch */
        code = 0;
        if (in_txn) {
            in_txn = 0;
            if ((rc = cairn_kv_commit(kv)) != 0) code = cli_fail(rc);
            else committed = r.records, bytes += batch_bytes;
        }
    }
    if (in_txn) cairn_kv_rollback(kv);
    if ((rc = cairn_kv_sync(kv)) != 0 && !code) code = cli_fail(rc);
    cli_progress("loaded", committed, bytes, 1);
    cairn_kv_close(kv);
    dump_close(&r);
    if (code) {
        fprintf(stderr, "cairn: %llu records were loaded before the error\n", (unsigned long long)committed);
        return code;
    }
    printf("loaded %llu records\n", (unsigned long long)committed);
    return cli_flush_stdout();
}

const command cli_kv_cmds[] = {
    {"put", 3, 3, "DIR KEY VALUE", OPT_KIND | OPT_EXPIRE, "store VALUE under KEY (creates the store if missing)",
     "VALUE is the text itself, '-' for standard input or @FILE for a file's contents ('@@x' is the text '@x').\n"
     "The value is stored as --kind text unless another kind is given: text must be valid UTF-8 and\n"
     "json one valid JSON document (RFC 8259); a value that is not is refused (exit 8), never stored\n"
     "as broken text. Binary data needs --kind bytes.\n"
     "  --kind bytes|text|json   the kind stored with the value (default text)\n"
     "  --ttl DURATION           expire after DURATION: a number with an optional unit ms, s, m, h, d\n"
     "                           (default s)\n"
     "  --expire-at UNIX_MS      expire at this absolute time (Unix milliseconds)",
     kv_put},
    {"get", 2, 2, "DIR KEY", OPT_JSON | OPT_RAW | OPT_HEX, "print the value of KEY (exit 1 if absent)",
     "To a terminal the value is printed with a newline, control characters and bytes that are not\n"
     "UTF-8 shown as \\xNN; to a pipe or file it is written exactly, byte for byte, with nothing added.\n"
     "  --raw    the exact bytes, even to a terminal\n"
     "  --hex    the value in lowercase hexadecimal, then a newline\n"
     "  --json   {\"key\",\"kind\",\"size\",\"expire_at\",\"value\" or \"value_b64\"} (docs/cli.md)",
     kv_get},
    {"del", 2, 2, "DIR KEY", 0, "delete KEY (exit 1 if absent)", NULL, kv_del},
    {"list", 1, 2, "DIR [PREFIX]", OPT_LONG | OPT_JSON, "list the keys (starting with PREFIX), in byte order",
     "Keys are printed one a line, printable ASCII as is and other bytes as \\xNN.\n"
     "  -l, --long   also the kind, the size in bytes and the expiry (UTC; '-' for never)\n"
     "  --json       one JSON object a line: {\"key\"} (with -l also kind, size, expire_at)",
     kv_list},
    {"stats", 1, 1, "DIR", OPT_JSON | OPT_PROM, "show the size of the store and how much of it is dead",
     "Every field is described in docs/cli.md.\n"
     "  --json   one JSON object with the raw numbers\n"
     "  --prometheus   the Prometheus text exposition format (cairn_kv_*{store=\"DIR\"})", kv_stats},
    {"check", 1, 1, "DIR", OPT_JSON, "verify every record of every file (CRC, framing); exit 6 if corrupt",
     "The store is not opened for writing (a running writer is not disturbed).\n"
     "  --json   {\"ok\":true|false,\"path\":...}; the error still goes to standard error", kv_check},
    {"compact", 1, 1, "DIR", 0, "rewrite the live records and drop the dead ones (crash-safe)", NULL, kv_compact},
    {"dump", 1, 2, "DIR [PREFIX]", 0, "write every key (starting with PREFIX) as JSON lines to standard output",
     "Binary-safe: keys and values that are not UTF-8 are written in base64; the kind and the expiry\n"
     "are kept. The format is specified in docs/cli.md. Restore with `cairn kv load`.", kv_dump},
    {"load", 1, 2, "DIR [FILE]", OPT_REPLACE, "load a dump (from FILE or standard input) into the store",
     "Records are written in transactions of a few thousand and synced at the end. A key that is\n"
     "already in the store stops the load (exit 8) unless --replace is given; what was loaded before an\n"
     "error stays (load into an empty store to be able to start over).\n"
     "  --replace   overwrite keys that exist", kv_load},
    CLI_SNAP_COMMANDS(kv, "DIR", "DIR/snapshots/", "DEST (missing or an empty directory)"),
    {NULL, 0, 0, NULL, 0, NULL, NULL, NULL}};
