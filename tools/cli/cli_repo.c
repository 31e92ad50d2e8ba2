/*
 * cli_repo.c - `cairn repo ...`: the commands on a versioned store (a directory;
 * core/include/cairn/repo.h).
 *
 * Every command works in one tenant (--tenant NAME, default "default") and write commands record
 * a user (--user NAME, default $USER, else empty). `init` creates the repository and the tenant;
 * other write commands open an existing repository, make one change (one new version, synced)
 * and print its digest; read commands open the repository read-only, beside a running writer.
 * A missing entry, record, tag or version is exit 1 (docs/cli.md, "Repo commands").
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_dump.h"
#include "cli_json.h"

#define DEFAULT_TENANT "default"

static const char *tenant_of(const opts *o) { return (o->given & OPT_TENANT) ? o->tenant : DEFAULT_TENANT; }

static const char *user_of(const opts *o) {
    const char *u;
    if (o->given & OPT_USER) return o->user;
    u = getenv("USER");
    return u ? u : "";
}

static const char *digest_of(const opts *o) { return (o->given & OPT_DIGEST) ? o->digest : NULL; }

static int repo_open_dir(cairn_repo **r, const char *dir, int read_only, int create) {
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    int rc;
    o.read_only = read_only;
    o.create = create;
    rc = cairn_repo_open(r, dir, &o);
    if (rc == CAIRN_PATH && !create)
        return cli_error(EXIT_PATH, "CAIRN_PATH", "no repository at '%s' (%s; create one with `cairn repo init %s`)",
                         dir, cairn_errmsg(), dir);
    return rc ? cli_fail(rc) : 0;
}

/* Close, and turn a failed core call into its exit code. */
static int repo_done(cairn_repo *r, int rc) {
    int code = rc ? cli_fail(rc) : 0;
    cairn_repo_close(r);
    return code;
}

/* "not found" for a read: exit 1 with a message naming what is missing. */
static int repo_missing(cairn_repo *r, const char *what, const char *name, const opts *o) {
    cairn_repo_close(r);
    fflush(stdout);
    if (digest_of(o))
        fprintf(stderr, "cairn: CAIRN_NOTFOUND: no %s '%s' in version %s of tenant '%s'\n", what, name, digest_of(o),
                tenant_of(o));
    else
        fprintf(stderr, "cairn: CAIRN_NOTFOUND: no %s '%s' in tenant '%s'\n", what, name, tenant_of(o));
    return EXIT_NOTFOUND;
}

/* A change's digest: the line a write command prints. */
static int print_digest(cairn_repo *r, const opts *o, const char *digest) {
    cairn_repo_close(r);
    if (o->given & OPT_JSON) printf("{\"digest\":\"%s\"}\n", digest);
    else printf("%s\n", digest);
    return cli_flush_stdout();
}

/* Call fn on every name of a JSON list of names (the core's ["a","b",...]) in order; stops at the
 * first non-zero return of fn and returns it. */
typedef int (*name_fn)(void *ctx, const char *name, size_t len);

static int names_each(const char *json, name_fn fn, void *ctx) {
    cj_field f[1];
    int nf = 0, rc;
    const char *p = json;
    /* walk the list's strings with the tool's own JSON reader by wrapping each one in an object */
    while (*p && *p != '"') p++;
    while (*p == '"') {
        const char *q = p + 1;
        char *obj;
        size_t len, at;
        const char *why;
        while (*q && *q != '"') q += (*q == '\\' && q[1]) ? 2 : 1;
        if (*q != '"') break;
        len = (size_t)(q + 1 - p);
        if (!(obj = (char *)malloc(len + 10))) return cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
        memcpy(obj, "{\"n\":", 5);
        memcpy(obj + 5, p, len);
        memcpy(obj + 5 + len, "}", 2);
        if (cj_obj_parse(obj, len + 6, f, 1, &nf, &at, &why) != 0 || nf != 1 || f[0].type != CJ_STR) {
            free(obj);
            cj_fields_free(f, nf);
            return cli_error(EXIT_ERROR, "CAIRN_INTERNAL", "cannot read the core's list of names (%s)", why);
        }
        rc = fn(ctx, f[0].s, f[0].slen);
        cj_fields_free(f, nf);
        free(obj);
        if (rc) return rc;
        for (p = q + 1; *p && *p != '"'; p++) {
        }
    }
    return 0;
}

static int print_name(void *ctx, const char *name, size_t len) {
    const opts *o = (const opts *)ctx;
    if (o->given & OPT_JSON) {
        putchar('{');
        cli_json_bytes(stdout, "name", name, len);
        fputs("}\n", stdout);
    } else {
        cli_print_key(name, len, "\n");
    }
    return 0;
}

/* Print a JSON list of names (tenants, entries), one a line or as JSON lines {"name": ...}. */
static int print_names(const opts *o, const char *json) {
    int rc = names_each(json, print_name, (void *)o);
    return rc ? rc : cli_flush_stdout();
}

/* ---- commands ----------------------------------------------------------------------------------- */

static int repo_init(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    int rc = repo_open_dir(&r, argv[0], 0, 1), i;
    if (rc) return rc;
    if (argc == 1) rc = cairn_repo_init(r, tenant_of(o));
    for (i = 1; i < argc && !rc; i++) rc = cairn_repo_init(r, argv[i]);
    if (rc) return repo_done(r, rc);
    cairn_repo_close(r);
    if (argc == 1) printf("initialised tenant '%s' in %s\n", tenant_of(o), argv[0]);
    else printf("initialised %d tenant%s in %s\n", argc - 1, argc == 2 ? "" : "s", argv[0]);
    return cli_flush_stdout();
}

static int repo_tenants(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    char *json = NULL;
    int rc = repo_open_dir(&r, argv[0], 1, 0);
    (void)argc;
    if (rc) return rc;
    if ((rc = cairn_repo_tenants(r, &json)) != 0) return repo_done(r, rc);
    cairn_repo_close(r);
    rc = print_names(o, json);
    cairn_free(json);
    return rc;
}

static int repo_entries(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    char *json = NULL;
    int rc = repo_open_dir(&r, argv[0], 1, 0);
    (void)argc;
    if (rc) return rc;
    if ((rc = cairn_repo_entries(r, tenant_of(o), &json)) != 0) return repo_done(r, rc);
    cairn_repo_close(r);
    rc = print_names(o, json);
    cairn_free(json);
    return rc;
}

/* Read VALUE (argument, '-' or @FILE) and check it against --kind (default text). */
static int read_kinded(const opts *o, const char *arg, unsigned char **v, size_t *n, int *kind) {
    int rc;
    *kind = (o->given & OPT_KIND) ? o->kind : CAIRN_KIND_TEXT;
    if ((rc = cli_read_value(arg, v, n)) != 0) return rc;
    if ((rc = cli_check_kind(*kind, *v, *n)) != 0) {
        free(*v);
        *v = NULL;
    }
    return rc;
}

static int repo_save(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    unsigned char *v;
    size_t n;
    int kind, rc;
    char digest[CAIRN_DIGEST_HEX + 1];
    (void)argc;
    if ((rc = read_kinded(o, argv[2], &v, &n, &kind)) != 0) return rc;
    if ((rc = repo_open_dir(&r, argv[0], 0, 0)) != 0) {
        free(v);
        return rc;
    }
    rc = cairn_repo_save(r, tenant_of(o), user_of(o), argv[1], v, n, kind, digest);
    free(v);
    if (rc) return repo_done(r, rc);
    return print_digest(r, o, digest);
}

/* {"digest":...,"kind":...,"size":...,"value" or "value_b64":...} for load/get --json. */
static void json_value(const char *digest, int kind, const void *v, size_t n) {
    const char *kn = cli_kind_name(kind);
    putchar('{');
    if (digest) printf("\"digest\":\"%s\",", digest);
    if (kn) printf("\"kind\":\"%s\"", kn);
    else printf("\"kind\":%d", kind);
    printf(",\"size\":%llu,", (unsigned long long)n);
    cli_json_bytes(stdout, "value", v, n);
    fputs("}\n", stdout);
}

static int repo_load(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    void *v = NULL;
    size_t n = 0;
    int kind = 0, rc = repo_open_dir(&r, argv[0], 1, 0);
    char head[CAIRN_DIGEST_HEX + 1];
    (void)argc;
    if (rc) return rc;
    rc = cairn_repo_load(r, tenant_of(o), argv[1], digest_of(o), &v, &n, &kind);
    if (!rc && (o->given & OPT_JSON) && !digest_of(o)) rc = cairn_repo_digest(r, tenant_of(o), argv[1], head);
    if (rc == CAIRN_NOTFOUND) {
        cairn_free(v);
        return repo_missing(r, "entry", argv[1], o);
    }
    if (rc) {
        cairn_free(v);
        return repo_done(r, rc);
    }
    if (o->given & OPT_JSON) json_value(digest_of(o) ? digest_of(o) : head, kind, v, n);
    else cli_write_value(o, v, n);
    cairn_free(v);
    cairn_repo_close(r);
    return cli_flush_stdout();
}

static int repo_log(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    char *json = NULL;
    cj_field f[8];
    int rc = repo_open_dir(&r, argv[0], 1, 0), nf = 0;
    const char *p;
    (void)argc;
    if (rc) return rc;
    rc = cairn_repo_history(r, tenant_of(o), argv[1], (o->given & OPT_MAX) ? (size_t)o->max : 0, &json);
    if (rc) return repo_done(r, rc);
    if (!strcmp(json, "[]")) {
        cairn_free(json);
        return repo_missing(r, "entry", argv[1], o);
    }
    cairn_repo_close(r);
    /* one object per version: the core writes them flat, "},{" between them, no nested objects */
    for (p = json + 1; *p == '{';) {
        const char *end = strchr(p, '}');
        size_t at;
        const char *why;
        const cj_field *d, *pa, *u, *t, *c;
        if (!end) break;
        if (o->given & OPT_JSON) {
            fwrite(p, 1, (size_t)(end + 1 - p), stdout);
            putchar('\n');
        } else {
            char ts[40];
            if (cj_obj_parse(p, (size_t)(end + 1 - p), f, 8, &nf, &at, &why) != 0) {
                cairn_free(json);
                return cli_error(EXIT_ERROR, "CAIRN_INTERNAL", "cannot read the core's history (%s)", why);
            }
            d = cj_get(f, nf, "digest"), pa = cj_get(f, nf, "parents"), u = cj_get(f, nf, "user");
            t = cj_get(f, nf, "time"), c = cj_get(f, nf, "collection");
            printf("%.*s  %s  ", d && d->type == CJ_STR ? (int)d->slen : 0, d && d->type == CJ_STR ? d->s : "",
                   cli_time_str(t && t->type == CJ_INT ? t->i : 0, ts, sizeof ts));
            printf("%-10s  ", c && c->type == CJ_BOOL && c->i ? "collection" : "value");
            if (u && u->type == CJ_STR && u->slen) cli_print_key(u->s, u->slen, "");
            else fputs("-", stdout);
            (void)pa;
            putchar('\n');
            cj_fields_free(f, nf);
        }
        p = end + 1;
        if (*p == ',') p++;
    }
    cairn_free(json);
    return cli_flush_stdout();
}

static int repo_diff(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    char *json = NULL;
    const char *d1 = strcmp(argv[1], "-") ? argv[1] : NULL, *d2 = strcmp(argv[2], "-") ? argv[2] : NULL;
    int rc = repo_open_dir(&r, argv[0], 1, 0);
    (void)argc;
    if (rc) return rc;
    if ((rc = cairn_repo_diff(r, tenant_of(o), d1, d2, &json)) != 0) {
        if (rc == CAIRN_NOTFOUND) {
            cairn_repo_close(r);
            return cli_error(EXIT_NOTFOUND, "CAIRN_NOTFOUND", "%s", cairn_errmsg()[0] ? cairn_errmsg()
                                                                                       : "no such version");
        }
        return repo_done(r, rc);
    }
    cairn_repo_close(r);
    if (o->given & OPT_JSON) {
        printf("%s\n", json);
    } else {
        /* {"added":[...],"removed":[...],"changed":[...]}: one line per key, "A", "D" or "M" first */
        static const char *const lists[] = {"added", "removed", "changed"}, marks[] = "ADM";
        int i;
        for (i = 0; i < 3; i++) {
            char pat[16];
            const char *p;
            snprintf(pat, sizeof pat, "\"%s\":[", lists[i]);
            if (!(p = strstr(json, pat))) continue;
            p += strlen(pat);
            while (*p && *p != ']') {
                const char *q = p;
                cj_field f[2];
                int nf = 0;
                size_t at, len;
                const char *why;
                char *obj;
                if (*p == ',') {
                    p++;
                    continue;
                }
                if (*p == '"') { /* a string key */
                    for (q = p + 1; *q && *q != '"'; q += (*q == '\\' && q[1]) ? 2 : 1) {
                    }
                    q++;
                } else { /* {"$bytes":"hex"} */
                    q = strchr(p, '}');
                    q = q ? q + 1 : p + strlen(p);
                }
                len = (size_t)(q - p);
                if (!(obj = (char *)malloc(len + 8))) {
                    cairn_free(json);
                    return cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
                }
                memcpy(obj, "{\"k\":", 5);
                memcpy(obj + 5, p, len);
                memcpy(obj + 5 + len, "}", 2);
                printf("%c\t", marks[i]);
                if (cj_obj_parse(obj, len + 6, f, 2, &nf, &at, &why) == 0 && nf == 1 && f[0].type == CJ_STR)
                    cli_print_key(f[0].s, f[0].slen, "\n");
                else /* {"$bytes": hex}: print it as given */
                    printf("%.*s\n", (int)len, p);
                cj_fields_free(f, nf);
                free(obj);
                p = q;
            }
        }
    }
    cairn_free(json);
    return cli_flush_stdout();
}

static int repo_put(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    unsigned char *v;
    size_t n;
    int kind, rc;
    char digest[CAIRN_DIGEST_HEX + 1];
    (void)argc;
    if ((rc = read_kinded(o, argv[3], &v, &n, &kind)) != 0) return rc;
    if ((rc = repo_open_dir(&r, argv[0], 0, 0)) != 0) {
        free(v);
        return rc;
    }
    rc = cairn_repo_put(r, tenant_of(o), user_of(o), argv[1], argv[2], strlen(argv[2]), v, n, kind, digest);
    free(v);
    if (rc) return repo_done(r, rc);
    return print_digest(r, o, digest);
}

static int repo_get(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    void *v = NULL;
    size_t n = 0;
    int kind = 0, rc = repo_open_dir(&r, argv[0], 1, 0);
    (void)argc;
    if (rc) return rc;
    rc = cairn_repo_get(r, tenant_of(o), argv[1], digest_of(o), argv[2], strlen(argv[2]), &v, &n, &kind);
    if (rc == CAIRN_NOTFOUND) {
        cairn_free(v);
        return repo_missing(r, "record", argv[2], o);
    }
    if (rc) {
        cairn_free(v);
        return repo_done(r, rc);
    }
    if (o->given & OPT_JSON) json_value(NULL, kind, v, n);
    else cli_write_value(o, v, n);
    cairn_free(v);
    cairn_repo_close(r);
    return cli_flush_stdout();
}

static int repo_delete(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    int rc = repo_open_dir(&r, argv[0], 0, 0);
    char digest[CAIRN_DIGEST_HEX + 1];
    (void)argc;
    if (rc) return rc;
    rc = cairn_repo_delete(r, tenant_of(o), user_of(o), argv[1], argv[2], strlen(argv[2]), digest);
    if (rc == CAIRN_NOTFOUND) return repo_missing(r, "record", argv[2], o);
    if (rc) return repo_done(r, rc);
    return print_digest(r, o, digest);
}

static int repo_keys(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    cairn_repo_iter *it = NULL;
    const void *k, *v;
    size_t kl, vl;
    int kind, rc = repo_open_dir(&r, argv[0], 1, 0), longfmt = (o->given & OPT_LONG) != 0;
    (void)argc;
    if (rc) return rc;
    rc = cairn_repo_iter_open(&it, r, tenant_of(o), argv[1], digest_of(o));
    if (rc == CAIRN_NOTFOUND) return repo_missing(r, "entry", argv[1], o);
    if (rc) return repo_done(r, rc);
    while ((rc = cairn_repo_iter_next(it, &k, &kl, &v, &vl, &kind)) == 0) {
        const char *kn = cli_kind_name(kind);
        if (o->given & OPT_JSON) {
            putchar('{');
            cli_json_bytes(stdout, "key", k, kl);
            if (longfmt) {
                if (kn) printf(",\"kind\":\"%s\"", kn);
                else printf(",\"kind\":%d", kind);
                printf(",\"size\":%llu", (unsigned long long)vl);
            }
            fputs("}\n", stdout);
        } else if (longfmt) {
            printf("%-6s %10llu  ", kn ? kn : "?", (unsigned long long)vl);
            cli_print_key(k, kl, "\n");
        } else {
            cli_print_key(k, kl, "\n");
        }
        if (ferror(stdout)) break;
    }
    cairn_repo_iter_free(it);
    if (rc != CAIRN_ITEROVER && rc != 0) return repo_done(r, rc);
    cairn_repo_close(r);
    return cli_flush_stdout();
}

static int repo_tag(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    char digest[CAIRN_DIGEST_HEX + 1];
    int rc = repo_open_dir(&r, argv[0], argc < 3, 0);
    if (rc) return rc;
    if (argc == 3) {
        if ((rc = cairn_repo_tag(r, tenant_of(o), argv[1], argv[2])) != 0) {
            if (rc == CAIRN_NOTFOUND) {
                cairn_repo_close(r);
                return cli_error(EXIT_NOTFOUND, "CAIRN_NOTFOUND", "no version %s in tenant '%s'", argv[2],
                                 tenant_of(o));
            }
            return repo_done(r, rc);
        }
        return print_digest(r, o, argv[2]);
    }
    rc = cairn_repo_tag_get(r, tenant_of(o), argv[1], digest);
    if (rc == CAIRN_NOTFOUND) return repo_missing(r, "tag", argv[1], o);
    if (rc) return repo_done(r, rc);
    return print_digest(r, o, digest);
}

static int repo_gc(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    struct cairn_repo_stats before = CAIRN_REPO_STATS_INIT, after = CAIRN_REPO_STATS_INIT;
    uint64_t removed = 0;
    int rc = repo_open_dir(&r, argv[0], 0, 0);
    (void)argc;
    if (rc) return rc;
    rc = cairn_repo_stats(r, &before);
    if (!rc) {
        cli_ticker_start("collecting");
        rc = cairn_repo_gc(r, (o->given & OPT_GRACE) ? o->grace_ms : 0, &removed);
        cli_ticker_stop();
    }
    if (!rc) rc = cairn_repo_stats(r, &after);
    if (rc) return repo_done(r, rc);
    cairn_repo_close(r);
    if (o->given & OPT_JSON)
        printf("{\"removed\":%llu,\"disk_bytes_before\":%llu,\"disk_bytes\":%llu}\n", (unsigned long long)removed,
               (unsigned long long)before.disk_bytes, (unsigned long long)after.disk_bytes);
    else
        printf("removed %llu object%s: %llu bytes freed (%llu -> %llu)\n", (unsigned long long)removed,
               removed == 1 ? "" : "s",
               (unsigned long long)(before.disk_bytes > after.disk_bytes ? before.disk_bytes - after.disk_bytes : 0),
               (unsigned long long)before.disk_bytes, (unsigned long long)after.disk_bytes);
    return cli_flush_stdout();
}

static int repo_verify(const opts *o, int argc, char **argv) {
    int rc;
    (void)argc;
    cli_ticker_start("verifying");
    rc = cairn_repo_verify(argv[0]);
    cli_ticker_stop();
    if (o->given & OPT_JSON) cli_json_check(argv[0], rc);
    if (rc) return cli_fail(rc);
    if (!(o->given & OPT_JSON)) printf("ok\n");
    return cli_flush_stdout();
}

static int repo_stats(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    struct cairn_repo_stats st = CAIRN_REPO_STATS_INIT;
    char a[64];
    int rc = repo_open_dir(&r, argv[0], 1, 0);
    (void)argc;
    if (rc) return rc;
    if (o->given & OPT_PROM) {
        char *text = NULL;
        rc = cairn_repo_metrics(r, &text);
        cairn_repo_close(r);
        if (rc) return cli_fail(rc);
        fputs(text, stdout);
        cairn_free(text);
        return cli_flush_stdout();
    }
    rc = cairn_repo_stats(r, &st);
    cairn_repo_close(r);
    if (rc) return cli_fail(rc);
    if (o->given & OPT_JSON) {
        printf("{\"engine\":\"repo\",\"tenants\":%llu,\"objects\":%llu,\"disk_bytes\":%llu}\n",
               (unsigned long long)st.tenants, (unsigned long long)st.objects, (unsigned long long)st.disk_bytes);
        return cli_flush_stdout();
    }
    printf("tenants       %llu\n", (unsigned long long)st.tenants);
    printf("objects       %llu (values, versions and tree nodes; identical content once per tenant)\n",
           (unsigned long long)st.objects);
    printf("on disk       %s\n", cli_size_str(st.disk_bytes, a, sizeof a));
    return cli_flush_stdout();
}

/* ---- dump and restore (docs/cli.md, "Dump format") ------------------------------------------------- */

/* Records per version when a collection is restored. */
#define RLOAD_BATCH 4096

typedef struct rdump {
    cairn_repo *r;
    const char *tenant; /* of the entries being walked (NUL-terminated, from the core's list) */
    uint64_t records, bytes;
    int rc;             /* a failed core call */
} rdump;

static void put_kind(int kind) {
    const char *kn = cli_kind_name(kind);
    if (kn) printf(",\"kind\":\"%s\"", kn);
    else printf(",\"kind\":%d", kind);
}

static void line_start(const char *tenant, const char *entry) {
    putchar('{');
    cli_json_bytes(stdout, "tenant", tenant, strlen(tenant));
    if (entry) {
        putchar(',');
        cli_json_bytes(stdout, "entry", entry, strlen(entry));
    }
}

static int dump_entry(void *ctx, const char *entry, size_t len) {
    rdump *d = (rdump *)ctx;
    void *v = NULL;
    size_t n = 0;
    int kind = 0, rc;
    (void)len;
    rc = cairn_repo_load(d->r, d->tenant, entry, NULL, &v, &n, &kind);
    if (rc == 0) {
        line_start(d->tenant, entry);
        put_kind(kind);
        putchar(',');
        cli_json_bytes(stdout, "value", v, n);
        fputs("}\n", stdout);
        cairn_free(v);
        d->records++, d->bytes += n;
    } else if (rc == CAIRN_TYPE) { /* a collection: its line, then its records in key order */
        cairn_repo_iter *it = NULL;
        const void *k, *val;
        size_t kl, vl;
        uint64_t count = 0;
        if ((rc = cairn_repo_count(d->r, d->tenant, entry, NULL, &count)) != 0 ||
            (rc = cairn_repo_iter_open(&it, d->r, d->tenant, entry, NULL)) != 0)
            return d->rc = rc;
        line_start(d->tenant, entry);
        printf(",\"collection\":true,\"records\":%llu}\n", (unsigned long long)count);
        d->records++;
        while ((rc = cairn_repo_iter_next(it, &k, &kl, &val, &vl, &kind)) == 0) {
            line_start(d->tenant, entry);
            putchar(',');
            cli_json_bytes(stdout, "key", k, kl);
            put_kind(kind);
            putchar(',');
            cli_json_bytes(stdout, "value", val, vl);
            fputs("}\n", stdout);
            d->records++, d->bytes += kl + vl;
            cli_progress("dumped", d->records, d->bytes, 0);
            if (ferror(stdout)) break;
        }
        cairn_repo_iter_free(it);
        if (rc != CAIRN_ITEROVER && rc != 0) return d->rc = rc;
    } else {
        return d->rc = rc;
    }
    cli_progress("dumped", d->records, d->bytes, 0);
    return ferror(stdout) ? cli_flush_stdout() : 0;
}

static int dump_tenant(void *ctx, const char *tenant, size_t len) {
    rdump *d = (rdump *)ctx;
    char *json = NULL;
    int rc;
    (void)len;
    line_start(tenant, NULL);
    fputs("}\n", stdout);
    d->records++;
    if ((rc = cairn_repo_entries(d->r, tenant, &json)) != 0) return d->rc = rc;
    d->tenant = tenant;
    rc = names_each(json, dump_entry, d);
    cairn_free(json);
    return rc;
}

static int repo_dump(const opts *o, int argc, char **argv) {
    rdump d;
    char *json = NULL;
    int rc;
    (void)o, (void)argc;
    memset(&d, 0, sizeof d);
    if ((rc = repo_open_dir(&d.r, argv[0], 1, 0)) != 0) return rc;
    if ((rc = cairn_repo_tenants(d.r, &json)) != 0) return repo_done(d.r, rc);
    dump_header("repo", NULL);
    cli_progress("dumped", 0, 0, 0);
    rc = names_each(json, dump_tenant, &d);
    cairn_free(json);
    cli_progress("dumped", d.records, d.bytes, 1);
    if (d.rc) return repo_done(d.r, d.rc);
    cairn_repo_close(d.r);
    if (rc) return rc;
    dump_trailer(d.records);
    return cli_flush_stdout();
}

/* The records of one collection being restored, written RLOAD_BATCH at a time (one version each). */
typedef struct rbatch {
    char *tenant, *entry; /* the open collection (NULL: none) */
    uint64_t want, got;   /* records its line announced, records seen */
    size_t n;
    void *keys[RLOAD_BATCH], *vals[RLOAD_BATCH];
    size_t klens[RLOAD_BATCH], vlens[RLOAD_BATCH];
    int kinds[RLOAD_BATCH];
} rbatch;

static void batch_clear(rbatch *b) {
    size_t i;
    for (i = 0; i < b->n; i++) free(b->keys[i]), free(b->vals[i]);
    b->n = 0;
}

/* Write the pending records (a version), or 0. Returns an exit code. */
static int batch_flush(cairn_repo *r, const opts *o, rbatch *b) {
    int rc;
    if (!b->n) return 0;
    rc = cairn_repo_put_many(r, b->tenant, user_of(o), b->entry, b->n, (const void *const *)b->keys, b->klens,
                             (const void *const *)b->vals, b->vlens, b->kinds, NULL);
    batch_clear(b);
    return rc ? cli_fail(rc) : 0;
}

/* Close the open collection: flush it; check the count; an empty one is made by a put and a delete. */
static int batch_end(cairn_repo *r, const opts *o, rbatch *b, dump_reader *dr) {
    int code = 0;
    if (!b->entry) return 0;
    if ((code = batch_flush(r, o, b)) == 0) {
        if (b->got != b->want)
            code = dump_bad(dr, "collection '%s' announced %llu records and holds %llu", b->entry,
                            (unsigned long long)b->want, (unsigned long long)b->got);
        else if (b->want == 0) {
            int rc = cairn_repo_put(r, b->tenant, user_of(o), b->entry, "\0", 1, "", 0, CAIRN_KIND_BYTES, NULL);
            if (!rc) rc = cairn_repo_delete(r, b->tenant, user_of(o), b->entry, "\0", 1, NULL);
            if (rc) code = cli_fail(rc);
        }
    }
    free(b->tenant), free(b->entry);
    b->tenant = b->entry = NULL;
    return code;
}

/* A "tenant" or "entry" field as a NUL-terminated name. Exit code. */
static int dump_name(dump_reader *dr, const cj_field *f, int nf, const char *field, char **out) {
    unsigned char *v;
    size_t n;
    int rc = dump_bytes(dr, f, nf, field, &v, &n);
    if (rc) return rc;
    if (n == 0 || memchr(v, 0, n)) {
        free(v);
        return dump_bad(dr, "\"%s\" is empty or holds a NUL", field);
    }
    v[n] = 0;
    *out = (char *)v;
    return 0;
}

/* One line of a repo dump. Exit code. */
static int restore_line(cairn_repo *r, const opts *o, dump_reader *dr, const cj_field *f, int nf, rbatch *b,
                        uint64_t *bytes) {
    char *tenant = NULL, *entry = NULL;
    unsigned char *key = NULL, *val = NULL;
    size_t kl = 0, vl = 0;
    const cj_field *kf = cj_get(f, nf, "kind"), *cf = cj_get(f, nf, "collection"), *nf_ = cj_get(f, nf, "records");
    int kind = CAIRN_KIND_BYTES, rc, code = 0;
    if ((code = dump_name(dr, f, nf, "tenant", &tenant)) != 0) return code;
    if (!cj_get(f, nf, "entry") && !cj_get(f, nf, "entry_b64")) { /* a tenant */
        if ((code = batch_end(r, o, b, dr)) == 0 && (rc = cairn_repo_init(r, tenant)) != 0) code = cli_fail(rc);
        goto out;
    }
    if ((code = dump_name(dr, f, nf, "entry", &entry)) != 0) goto out;
    if (kf) {
        if (kf->type == CJ_STR) kind = cli_kind_parse(kf->s);
        else kind = kf->type == CJ_INT && kf->i >= 0 && kf->i <= 255 ? (int)kf->i : -1;
        if (kind < 0) {
            code = dump_bad(dr, "unknown \"kind\"");
            goto out;
        }
    }
    if (cj_get(f, nf, "key") || cj_get(f, nf, "key_b64")) { /* a record of the open collection */
        if (!b->entry || strcmp(b->tenant, tenant) != 0 || strcmp(b->entry, entry) != 0) {
            code = dump_bad(dr, "a record outside its collection (the collection's line comes first)");
            goto out;
        }
        if ((code = dump_bytes(dr, f, nf, "key", &key, &kl)) != 0 || (code = dump_bytes(dr, f, nf, "value", &val, &vl)) != 0)
            goto out;
        if ((code = cli_check_kind(kind, val, vl)) != 0) {
            dump_bad(dr, "the %s value of this record is refused (above)", cli_kind_name(kind));
            goto out;
        }
        if (b->n == RLOAD_BATCH && (code = batch_flush(r, o, b)) != 0) goto out;
        b->keys[b->n] = key, b->klens[b->n] = kl, b->vals[b->n] = val, b->vlens[b->n] = vl, b->kinds[b->n] = kind;
        b->n++, b->got++;
        *bytes += kl + vl;
        key = val = NULL;
        goto out;
    }
    if ((code = batch_end(r, o, b, dr)) != 0) goto out;
    if ((rc = cairn_repo_exists(r, tenant, entry)) != 0) {
        code = rc > 0 ? dump_bad(dr, "entry '%s' of tenant '%s' is already in the repository (restore into an empty one)",
                                 entry, tenant)
                      : cli_fail(rc);
        goto out;
    }
    if (cf && cf->type == CJ_BOOL && cf->i) { /* a collection: its records follow */
        if (!nf_ || nf_->type != CJ_INT || nf_->i < 0) {
            code = dump_bad(dr, "a collection line wants \"records\":N");
            goto out;
        }
        b->tenant = tenant, b->entry = entry, tenant = entry = NULL;
        b->want = (uint64_t)nf_->i, b->got = 0;
        goto out;
    }
    if ((code = dump_bytes(dr, f, nf, "value", &val, &vl)) != 0) goto out;
    if ((code = cli_check_kind(kind, val, vl)) != 0) {
        dump_bad(dr, "the %s value of this entry is refused (above)", cli_kind_name(kind));
        goto out;
    }
    if ((rc = cairn_repo_save(r, tenant, user_of(o), entry, val, vl, kind, NULL)) != 0) code = cli_fail(rc);
    *bytes += vl;
out:
    free(tenant), free(entry), free(key), free(val);
    return code;
}

static int repo_restore(const opts *o, int argc, char **argv) {
    cairn_repo *r;
    dump_reader dr;
    cj_field f[DUMP_MAX_FIELDS];
    rbatch *b;
    uint64_t bytes = 0;
    int nf, rc, code = 0;
    if ((rc = dump_open(&dr, argc > 1 ? argv[1] : NULL, "repo")) != 0) return rc;
    if (!(b = (rbatch *)calloc(1, sizeof *b))) {
        dump_close(&dr);
        return cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
    }
    if ((rc = repo_open_dir(&r, argv[0], 0, 1)) != 0) {
        free(b);
        dump_close(&dr);
        return rc;
    }
    cli_progress("restored", 0, 0, 0);
    for (;;) {
        if ((code = dump_next(&dr, f, &nf)) != 0) break;
        code = restore_line(r, o, &dr, f, nf, b, &bytes);
        cj_fields_free(f, nf);
        if (code) break;
        dr.records++;
        cli_progress("restored", dr.records, bytes, 0);
    }
    if (code < 0) code = batch_end(r, o, b, &dr);
    cli_progress("restored", dr.records, bytes, 1);
    batch_clear(b);
    free(b->tenant), free(b->entry);
    free(b);
    cairn_repo_close(r);
    dump_close(&dr);
    if (code) {
        fprintf(stderr, "cairn: what was restored before the error stays\n");
        return code;
    }
    printf("restored %llu records\n", (unsigned long long)dr.records);
    return cli_flush_stdout();
}

#define TENANT_HELP "  --tenant NAME   the tenant (default \"" DEFAULT_TENANT "\")"
#define USER_HELP "  --user NAME     the user recorded in the version (default $USER)"
#define DIGEST_HELP "  --digest D      read the version D (64 hex characters) instead of the head"

const command cli_repo_cmds[] = {
    {"init", 1, 64, "DIR [TENANT...]", OPT_TENANT, "create the repository (if missing) and tenants",
     "Without TENANT, initialises the --tenant one. Initialising an existing tenant is fine.\n" TENANT_HELP,
     repo_init},
    {"tenants", 1, 1, "DIR", OPT_JSON, "list the tenants, sorted",
     "  --json   one JSON object a line: {\"name\"}", repo_tenants},
    {"entries", 1, 1, "DIR", OPT_TENANT | OPT_JSON, "list the tenant's entries (values and collections), sorted",
     TENANT_HELP "\n  --json          one JSON object a line: {\"name\"}", repo_entries},
    {"save", 3, 3, "DIR ENTRY VALUE", OPT_TENANT | OPT_USER | OPT_KIND | OPT_JSON,
     "save VALUE as the new version of ENTRY; print its digest",
     "VALUE is the text itself, '-' for standard input or @FILE for a file's contents ('@@x' is the text '@x').\n"
     "Saving the same content again makes a new version (with a parent and a time) but stores the\n"
     "value once. A collection entry takes no save (exit 8).\n"
     "  --kind bytes|text|json   the kind stored with the value (default text; checked as `kv put` does)\n" TENANT_HELP
     "\n" USER_HELP "\n  --json          {\"digest\"}",
     repo_save},
    {"load", 2, 2, "DIR ENTRY", OPT_TENANT | OPT_DIGEST | OPT_JSON | OPT_RAW | OPT_HEX,
     "print the value of ENTRY's head or of one version (exit 1 if absent)",
     "The value is printed as `cairn kv get` prints one (exact bytes to a pipe).\n" DIGEST_HELP "\n" TENANT_HELP
     "\n  --raw           the exact bytes, even to a terminal\n"
     "  --hex           the value in lowercase hexadecimal, then a newline\n"
     "  --json          {\"digest\",\"kind\",\"size\",\"value\" or \"value_b64\"}",
     repo_load},
    {"log", 2, 2, "DIR ENTRY", OPT_TENANT | OPT_MAX | OPT_JSON, "show the history of ENTRY, newest first (exit 1 if none)",
     "One line per version: digest, time (UTC), value or collection, user.\n"
     "  --max N         at most N versions\n" TENANT_HELP
     "\n  --json          one JSON object a line: {\"digest\",\"parents\",\"user\",\"time\",\"collection\"}",
     repo_log},
    {"diff", 3, 3, "DIR D1 D2", OPT_TENANT | OPT_JSON, "list the keys added, removed and changed from version D1 to D2",
     "D1 and D2 are digests of collection versions; '-' is the empty collection. One line per key:\n"
     "A (added), D (removed) or M (changed), a tab, the key.\n" TENANT_HELP
     "\n  --json          {\"added\":[keys],\"removed\":[keys],\"changed\":[keys]} (keys that are not UTF-8 as\n"
     "                  {\"$bytes\": hex})",
     repo_diff},
    {"put", 4, 4, "DIR ENTRY KEY VALUE", OPT_TENANT | OPT_USER | OPT_KIND | OPT_JSON,
     "put a record into the collection ENTRY (created by its first put); print the new digest",
     "VALUE as for `save`.\n  --kind bytes|text|json   the kind stored with the value (default text)\n" TENANT_HELP
     "\n" USER_HELP "\n  --json          {\"digest\"}",
     repo_put},
    {"get", 3, 3, "DIR ENTRY KEY", OPT_TENANT | OPT_DIGEST | OPT_JSON | OPT_RAW | OPT_HEX,
     "print the value of a record (exit 1 if absent)",
     DIGEST_HELP "\n" TENANT_HELP "\n  --raw, --hex    as for `load`\n  --json          {\"kind\",\"size\",\"value\" or \"value_b64\"}",
     repo_get},
    {"delete", 3, 3, "DIR ENTRY KEY", OPT_TENANT | OPT_USER | OPT_JSON,
     "delete a record (a new version; exit 1 if absent); print the new digest", TENANT_HELP "\n" USER_HELP, repo_delete},
    {"del", 3, 3, "DIR ENTRY KEY", OPT_TENANT | OPT_USER | OPT_JSON, "the same as delete", NULL, repo_delete},
    {"keys", 2, 2, "DIR ENTRY", OPT_TENANT | OPT_DIGEST | OPT_LONG | OPT_JSON,
     "list the keys of a collection in byte order (exit 1 if absent)",
     DIGEST_HELP "\n" TENANT_HELP "\n  -l, --long      also the kind and the size of each value\n"
     "  --json          one JSON object a line: {\"key\"} (with -l also kind, size)",
     repo_keys},
    {"tag", 2, 3, "DIR NAME [DIGEST]", OPT_TENANT | OPT_JSON,
     "name the version DIGEST; without DIGEST print the version the tag names",
     "A tag names a version until it is set again; gc keeps what tags name.\n" TENANT_HELP, repo_tag},
    {"gc", 1, 1, "DIR", OPT_GRACE | OPT_JSON, "remove the objects no head, history or tag reaches (crash-safe)",
     "  --grace MS      keep unreachable objects written less than MS milliseconds ago (default 0)\n"
     "  --json          {\"removed\",\"disk_bytes_before\",\"disk_bytes\"}",
     repo_gc},
    {"verify", 1, 1, "DIR", OPT_JSON, "re-hash every object and check every ref; exit 6 if corrupt",
     "The repository is not opened for writing (a running writer is not disturbed).\n"
     "  --json   {\"ok\":true|false,\"path\":...}; the error still goes to standard error",
     repo_verify},
    {"stats", 1, 1, "DIR", OPT_JSON | OPT_PROM, "show the number of tenants and objects and the bytes on disk",
     "  --json   one JSON object with the raw numbers\n"
     "  --prometheus   the Prometheus text exposition format (cairn_repo_*{store=\"DIR\"})", repo_stats},
    {"dump", 1, 1, "DIR", 0, "write every tenant and the head of every entry as JSON lines",
     "One line per tenant, per whole value (its kind and bytes), per collection, and per record of a\n"
     "collection, in name and key order; binary-safe. Only the heads are written: the history\n"
     "(versions, users, times), tags and digests are not (a restored entry starts a new history with\n"
     "the same content). The format is specified in docs/cli.md. Restore with `cairn repo restore`.",
     repo_dump},
    {"restore", 1, 2, "DIR [FILE]", OPT_USER, "restore a repo dump (from FILE or standard input) into a repository",
     "Creates the repository and the tenants as needed; an entry that exists already stops the\n"
     "restore (exit 8). Each whole value is one version; a collection is one version per 4096 records.\n"
     "What was restored before an error stays.\n" USER_HELP,
     repo_restore},
    {NULL, 0, 0, NULL, 0, NULL, NULL, NULL}};
