/*
 * cli_snap.c - `cairn kv|blob|table snapshot|snapshots|drop-snapshot|backup`: the snapshot calls
 * that every engine has (cairn_<engine>_snapshot & co.; docs/snapshots.md), one implementation
 * over a table of each engine's calls.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"

typedef struct snap_ops {
    const char *engine;
    int (*open)(void **h, const char *path, int read_only);
    void (*close)(void *h);
    int (*snapshot)(void *h, const char *name, char **out);
    int (*snapshots)(void *h, char **out);
    int (*drop)(void *h, const char *name);
    int (*backup)(void *h, const char *dest);
} snap_ops;

/* ---- the engines' calls ---- */

static int kv_open_(void **h, const char *path, int ro) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    o.create = 0, o.read_only = ro;
    return cairn_kv_open((cairn_kv **)h, path, &o);
}
static void kv_close_(void *h) { cairn_kv_close((cairn_kv *)h); }
static int kv_snap_(void *h, const char *n, char **out) { return cairn_kv_snapshot((cairn_kv *)h, n, out); }
static int kv_snaps_(void *h, char **out) { return cairn_kv_snapshots((cairn_kv *)h, out); }
static int kv_drop_(void *h, const char *n) { return cairn_kv_drop_snapshot((cairn_kv *)h, n); }
static int kv_backup_(void *h, const char *d) { return cairn_kv_backup((cairn_kv *)h, d); }
static const snap_ops KV_OPS = {"kv", kv_open_, kv_close_, kv_snap_, kv_snaps_, kv_drop_, kv_backup_};

static int blob_open_(void **h, const char *path, int ro) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    o.create = 0, o.read_only = ro;
    return cairn_blob_open((cairn_blob **)h, path, &o);
}
static void blob_close_(void *h) { cairn_blob_close((cairn_blob *)h); }
static int blob_snap_(void *h, const char *n, char **out) { return cairn_blob_snapshot((cairn_blob *)h, n, out); }
static int blob_snaps_(void *h, char **out) { return cairn_blob_snapshots((cairn_blob *)h, out); }
static int blob_drop_(void *h, const char *n) { return cairn_blob_drop_snapshot((cairn_blob *)h, n); }
static int blob_backup_(void *h, const char *d) { return cairn_blob_backup((cairn_blob *)h, d); }
static const snap_ops BLOB_OPS = {"blob", blob_open_, blob_close_, blob_snap_, blob_snaps_, blob_drop_, blob_backup_};

static int table_open_(void **h, const char *path, int ro) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    o.create = 0, o.read_only = ro;
    return cairn_table_open((cairn_table **)h, path, &o);
}
static void table_close_(void *h) { cairn_table_close((cairn_table *)h); }
static int table_snap_(void *h, const char *n, char **out) { return cairn_table_snapshot((cairn_table *)h, n, out); }
static int table_snaps_(void *h, char **out) { return cairn_table_snapshots((cairn_table *)h, out); }
static int table_drop_(void *h, const char *n) { return cairn_table_drop_snapshot((cairn_table *)h, n); }
static int table_backup_(void *h, const char *d) { return cairn_table_backup((cairn_table *)h, d); }
static const snap_ops TABLE_OPS = {"table", table_open_, table_close_, table_snap_, table_snaps_, table_drop_,
                                   table_backup_};

/* ---- the commands ---- */

static int s_open(const snap_ops *e, void **h, const char *path, int ro) {
    int rc = e->open(h, path, ro);
    if (rc == CAIRN_PATH)
        return cli_error(EXIT_PATH, "CAIRN_PATH", "no %s store at '%s' (%s)", e->engine, path, cairn_errmsg());
    return rc ? cli_fail(rc) : 0;
}

static int s_done(const snap_ops *e, void *h, int rc) {
    int code = rc < 0 ? cli_fail(rc) : rc;
    e->close(h);
    return code ? code : cli_flush_stdout();
}

static int s_snapshot(const snap_ops *e, const opts *o, int argc, char **argv) {
    void *h;
    char *name = NULL;
    int rc;
    if ((rc = s_open(e, &h, argv[0], 0)) != 0) return rc;
    rc = e->snapshot(h, argc > 1 ? argv[1] : NULL, &name);
    if (!rc) {
        if (o->given & OPT_JSON) {
            putchar('{');
            cli_json_bytes(stdout, "name", name, strlen(name));
            fputs("}\n", stdout);
        } else {
            printf("%s\n", name);
        }
        cairn_free(name);
    }
    return s_done(e, h, rc);
}

static int s_snapshots(const snap_ops *e, const opts *o, int argc, char **argv) {
    void *h;
    char *json = NULL;
    const char *p, *end;
    int rc;
    (void)argc;
    if ((rc = s_open(e, &h, argv[0], 1)) != 0) return rc;
    if ((rc = e->snapshots(h, &json)) != 0) return s_done(e, h, rc);
    for (p = json, end = json + strlen(json); p < end; p++) {
        cj_field f[8];
        int nf, depth = 0;
        size_t at;
        const char *q, *why;
        const cj_field *nm, *tm, *by;
        if (*p != '{') continue;
        for (q = p; q < end; q++) { /* the object's end (no braces in names: [A-Za-z0-9._-]) */
            if (*q == '{') depth++;
            else if (*q == '}' && --depth == 0) break;
        }
        if (q == end || cj_obj_parse(p, (size_t)(q + 1 - p), f, 8, &nf, &at, &why) != 0) {
            cairn_free(json);
            return s_done(e, h, cli_error(EXIT_ERROR, "CAIRN_INTERNAL", "cannot read the list of snapshots"));
        }
        nm = cj_get(f, nf, "name"), tm = cj_get(f, nf, "time"), by = cj_get(f, nf, "bytes");
        if (o->given & OPT_JSON) {
            fwrite(p, 1, (size_t)(q + 1 - p), stdout);
            putchar('\n');
        } else if (nm && nm->type == CJ_STR) {
            char ts[40], sz[32];
            printf("%-28s  %-24s  %s\n", nm->s, tm && tm->type == CJ_INT ? cli_time_str(tm->i, ts, sizeof ts) : "-",
                   by && by->type == CJ_INT ? cli_human_bytes((uint64_t)by->i, sz, sizeof sz) : "-");
        }
        cj_fields_free(f, nf);
        p = q;
    }
    cairn_free(json);
    return s_done(e, h, 0);
}

static int s_drop(const snap_ops *e, const opts *o, int argc, char **argv) {
    void *h;
    int rc;
    (void)o, (void)argc;
    if ((rc = s_open(e, &h, argv[0], 0)) != 0) return rc;
    rc = e->drop(h, argv[1]);
    if (rc == CAIRN_NOTFOUND) rc = cli_error(EXIT_NOTFOUND, "CAIRN_NOTFOUND", "no snapshot '%s'", argv[1]);
    return s_done(e, h, rc);
}

static int s_backup(const snap_ops *e, const opts *o, int argc, char **argv) {
    void *h;
    int rc;
    (void)o, (void)argc;
    /* every engine takes the copy under its writer's lock: the handle is opened for writing */
    if ((rc = s_open(e, &h, argv[0], 0)) != 0) return rc;
    cli_ticker_start("backing up");
    rc = e->backup(h, argv[1]);
    cli_ticker_stop();
    if (!rc) printf("backed up %s to %s\n", argv[0], argv[1]);
    return s_done(e, h, rc);
}

#define SNAP_COMMANDS(pfx, OPS)                                                                              \
    int cli_##pfx##_snapshot(const opts *o, int argc, char **argv) { return s_snapshot(&OPS, o, argc, argv); }   \
    int cli_##pfx##_snapshots(const opts *o, int argc, char **argv) { return s_snapshots(&OPS, o, argc, argv); } \
    int cli_##pfx##_drop_snapshot(const opts *o, int argc, char **argv) { return s_drop(&OPS, o, argc, argv); }  \
    int cli_##pfx##_backup(const opts *o, int argc, char **argv) { return s_backup(&OPS, o, argc, argv); }

SNAP_COMMANDS(kv, KV_OPS)
SNAP_COMMANDS(blob, BLOB_OPS)
SNAP_COMMANDS(table, TABLE_OPS)
