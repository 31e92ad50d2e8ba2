/*
 * cli_table.c - `cairn table ...`: the commands on a table (a directory; core/include/cairn/table.h).
 *
 * Rows cross the command line in the C API's JSON row form ({"column": value, ...}; bytes as
 * {"$bytes": hex}, NaN/infinities as {"$f64": ...}, timestamps as integer microseconds since the
 * Unix epoch). CSV import and export convert by the column types of the schema (docs/cli.md,
 * "Table commands"). Write commands open the table (which must exist, except for `create`), make
 * the change durable and close it; read commands open it read-only.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_dump.h"
#include "cli_json.h"

/* ---- opening ------------------------------------------------------------------------------------ */

static int tbl_open(cairn_table **t, const char *dir, int read_only) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    int rc;
    o.create = 0;
    o.read_only = read_only;
    rc = cairn_table_open(t, dir, &o);
    if (rc == CAIRN_PATH)
        return cli_error(EXIT_PATH, "CAIRN_PATH", "no table at '%s' (%s; create one with `cairn table create %s SCHEMA`)",
                         dir, cairn_errmsg(), dir);
    return rc ? cli_fail(rc) : 0;
}

/* Close, turning a failed core call (rc < 0) into its exit code; rc > 0 is an exit code already. */
static int tbl_done(cairn_table *t, int rc) {
    int code = rc < 0 ? cli_fail(rc) : rc;
    cairn_table_close(t);
    return code ? code : cli_flush_stdout();
}

/* A row id on the command line: a decimal u64. */
static int parse_id(const char *s, uint64_t *id) {
    char *end;
    unsigned long long v;
    if (!*s || *s < '0' || *s > '9') return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end) return 0;
    *id = (uint64_t)v;
    return 1;
}

static int bad_id(const char *s) {
    return cli_error(EXIT_USAGE, "CAIRN_INVALID", "'%s' is not a row id (a decimal integer)", s);
}

/* A VALUE argument as a NUL-terminated string. Exit code. */
static int read_text(const char *arg, char **out) {
    unsigned char *v;
    size_t n;
    int rc = cli_read_value(arg, &v, &n);
    char *s;
    if (rc) return rc;
    if (!(s = (char *)malloc(n + 1))) {
        free(v);
        return cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
    }
    memcpy(s, v, n);
    s[n] = 0;
    free(v);
    if (strlen(s) != n) {
        free(s);
        return cli_error(EXIT_DATA, "CAIRN_INVALID", "the text holds a NUL byte");
    }
    *out = s;
    return 0;
}

/* ---- timestamps ----------------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms, proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    int64_t era;
    unsigned doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Microseconds as "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" for years 1..9999, else the plain integer. */
static void put_ts(FILE *f, int64_t us) {
    int64_t secs = us / 1000000, frac = us % 1000000, days, y;
    unsigned m, d;
    int sod;
    if (frac < 0) frac += 1000000, secs--;
    days = secs / 86400;
    sod = (int)(secs % 86400);
    if (sod < 0) sod += 86400, days--;
    civil_from_days(days, &y, &m, &d);
    if (y < 1 || y > 9999) {
        fprintf(f, "%lld", (long long)us);
        return;
    }
    fprintf(f, "%04d-%02u-%02uT%02d:%02d:%02d", (int)y, m, d, sod / 3600, sod / 60 % 60, sod % 60);
    if (frac) fprintf(f, ".%06d", (int)frac);
    fputc('Z', f);
}

static int digits(const char **p, int n, int *out) {
    int v = 0, i;
    for (i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9') return 0;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

/* "YYYY-MM-DD[(T| )HH:MM[:SS[.f{1,6}]]][Z|+HH:MM|-HH:MM]" (UTC unless an offset is given), or an
 * integer of microseconds. 1 on success. */
static int parse_ts(const char *s, int64_t *us) {
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
    int64_t frac = 0;
    char *end;
    if (!strchr(s, '-') || (s[0] == '-' && !strchr(s + 1, '-'))) {
        long long v;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end) return 0;
        *us = v;
        return 1;
    }
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d)) return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi)) return 0;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec)) return 0;
            if (*p == '.') {
                int n = 0;
                p++;
                while (*p >= '0' && *p <= '9') {
                    if (n < 6) frac = frac * 10 + (*p - '0');
                    n++, p++;
                }
                if (n == 0) return 0;
                for (; n < 6; n++) frac *= 10;
            }
        }
        if (h > 23 || mi > 59 || sec > 60) return 0;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, sign = *p == '-' ? -1 : 1;
        p++;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om)) return 0;
        off = sign * (oh * 3600 + om * 60);
    }
    if (*p) return 0;
    *us = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - off) * 1000000) + frac;
    return 1;
}

/* ---- values out ------------------------------------------------------------------------------------ */

/* The shortest decimal that reads back as the same double (or float, for f32). */
static void put_float(FILE *f, double v, int is_f32) {
    char buf[64];
    int prec;
    if (isnan(v)) {
        fputs("nan", f);
        return;
    }
    if (isinf(v)) {
        fputs(v < 0 ? "-inf" : "inf", f);
        return;
    }
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (is_f32 ? (strtof(buf, NULL) == (float)v) : (strtod(buf, NULL) == v)) break;
    }
    fputs(buf, f);
}

static void put_hex(FILE *f, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++) fprintf(f, "%02x", b[i]);
}

static int needs_quotes(const char *s, size_t n) {
    size_t i;
    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ') return 1;
    for (i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') return 1;
    return 0;
}

static void put_csv_text(FILE *f, const char *s, size_t n) {
    size_t i;
    if (!needs_quotes(s, n)) {
        fwrite(s, 1, n, f);
        return;
    }
    fputc('"', f);
    for (i = 0; i < n; i++) {
        if (s[i] == '"') fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

/* Text for a person: control characters and invalid UTF-8 as \xNN. */
static void put_safe_text(FILE *f, const char *s, size_t n) {
    size_t i;
    int valid = cj_utf8_valid(s, n);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\' || (c >= 0x80 && !valid)) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
}

enum { FMT_CSV, FMT_TEXT };

/* One value of a column of `type`: CSV (null empty, empty text and bytes ""), or text for a person
 * (null as NULL, bytes as x'hex'). */
static void put_value(FILE *f, int type, const cairn_value *v, int fmt) {
    if (v->is_null) {
        if (fmt == FMT_TEXT) fputs("NULL", f);
        return;
    }
    switch (type) {
    case CAIRN_TYPE_I8: case CAIRN_TYPE_I16: case CAIRN_TYPE_I32: case CAIRN_TYPE_I64:
        fprintf(f, "%lld", (long long)v->v.i);
        break;
    case CAIRN_TYPE_U8: case CAIRN_TYPE_U16: case CAIRN_TYPE_U32: case CAIRN_TYPE_U64:
        fprintf(f, "%llu", (unsigned long long)v->v.u);
        break;
    case CAIRN_TYPE_F32: case CAIRN_TYPE_F64:
        put_float(f, v->v.f, type == CAIRN_TYPE_F32);
        break;
    case CAIRN_TYPE_BOOL:
        fputs(v->v.b ? "true" : "false", f);
        break;
    case CAIRN_TYPE_STRING:
        if (fmt == FMT_CSV) put_csv_text(f, (const char *)v->v.s.bytes, v->v.s.len);
        else put_safe_text(f, (const char *)v->v.s.bytes, v->v.s.len);
        break;
    case CAIRN_TYPE_BYTES: case CAIRN_TYPE_FIXED:
        if (fmt == FMT_TEXT) fputs("x'", f);
        else if (v->v.s.len == 0) fputs("\"\"", f);
        put_hex(f, v->v.s.bytes, v->v.s.len);
        if (fmt == FMT_TEXT) fputc('\'', f);
        break;
    case CAIRN_TYPE_TIMESTAMP:
        put_ts(f, v->v.i);
        break;
    default:
        fputs("?", f);
    }
}

/* ---- the columns of a table --------------------------------------------------------------------------- */

typedef struct cols {
    size_t n;
    const char **name;
    int *type;
} cols;

static void cols_free(cols *c) {
    free(c->name);
    free(c->type);
    memset(c, 0, sizeof *c);
}

static int cols_load(cairn_table *t, cols *c) {
    size_t i;
    int rc;
    memset(c, 0, sizeof *c);
    if ((rc = cairn_table_ncols(t, &c->n)) != 0) return rc;
    c->name = (const char **)calloc(c->n ? c->n : 1, sizeof *c->name);
    c->type = (int *)calloc(c->n ? c->n : 1, sizeof *c->type);
    if (!c->name || !c->type) {
        cols_free(c);
        return CAIRN_NOMEM;
    }
    for (i = 0; i < c->n; i++) {
        uint32_t fixed;
        int nullable;
        if ((rc = cairn_table_column(t, i, &c->name[i], &c->type[i], &fixed, &nullable)) != 0) {
            cols_free(c);
            return rc;
        }
    }
    return 0;
}

static int cols_find(const cols *c, const char *name) {
    size_t i;
    for (i = 0; i < c->n; i++)
        if (!strcmp(c->name[i], name)) return (int)i;
    return -1;
}

/* ---- commands ------------------------------------------------------------------------------------------ */

static int tbl_create(const opts *o, int argc, char **argv) {
    cairn_table_options to = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t;
    char *schema;
    int rc;
    (void)o, (void)argc;
    if ((rc = read_text(argv[1], &schema)) != 0) return rc;
    to.create = 0;
    to.read_only = 1;
    if (cairn_table_open(&t, argv[0], &to) == 0) {
        cairn_table_close(t);
        free(schema);
        return cli_error(EXIT_DATA, "CAIRN_EXISTS", "'%s' is a table already", argv[0]);
    }
    to.create = 1;
    to.read_only = 0;
    to.schema = schema;
    rc = cairn_table_open(&t, argv[0], &to);
    free(schema);
    if (rc) return cli_fail(rc);
    return tbl_done(t, cairn_table_sync(t));
}

/* ROW: one JSON object (prints its id) or a JSON array of objects (prints every id, one a line). */
static int tbl_insert(const opts *o, int argc, char **argv) {
    cairn_table *t;
    char *row, *ids = NULL;
    const char *p;
    uint64_t id = 0;
    int rc;
    (void)o, (void)argc;
    if ((rc = read_text(argv[1], &row)) != 0) return rc;
    if ((rc = tbl_open(&t, argv[0], 0)) != 0) {
        free(row);
        return rc;
    }
    for (p = row; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++) {
    }
    if (*p == '[') {
        rc = cairn_table_insert_many_json(t, row, &ids);
        if (!rc) {
            /* "[1,2,3]" -> one id a line */
            const char *q;
            for (q = ids; *q; q++) {
                if (*q >= '0' && *q <= '9') putchar(*q);
                else if (*q == ',') putchar('\n');
            }
            if (strcmp(ids, "[]") != 0) putchar('\n');
            cairn_free(ids);
        }
    } else {
        rc = cairn_table_insert_json(t, row, &id);
        if (!rc) printf("%llu\n", (unsigned long long)id);
    }
    free(row);
    if (!rc) rc = cairn_table_sync(t);
    return tbl_done(t, rc);
}

static int not_found(uint64_t id) {
    return cli_error(EXIT_NOTFOUND, "CAIRN_NOTFOUND", "no row %llu", (unsigned long long)id);
}

static int tbl_get(const opts *o, int argc, char **argv) {
    cairn_table *t;
    uint64_t id;
    char *row = NULL;
    int rc;
    (void)argc;
    if (!parse_id(argv[1], &id)) return bad_id(argv[1]);
    if ((rc = tbl_open(&t, argv[0], 1)) != 0) return rc;
    rc = cairn_table_get_json(t, id, &row);
    if (rc == CAIRN_NOTFOUND) return tbl_done(t, not_found(id));
    if (!rc) {
        if (o->given & OPT_JSON) printf("{\"id\":%llu,\"row\":%s}\n", (unsigned long long)id, row);
        else printf("%s\n", row);
        cairn_free(row);
    }
    return tbl_done(t, rc);
}

static int tbl_update(const opts *o, int argc, char **argv) {
    cairn_table *t;
    uint64_t id;
    char *changes;
    int rc;
    (void)o, (void)argc;
    if (!parse_id(argv[1], &id)) return bad_id(argv[1]);
    if ((rc = read_text(argv[2], &changes)) != 0) return rc;
    if ((rc = tbl_open(&t, argv[0], 0)) != 0) {
        free(changes);
        return rc;
    }
    rc = cairn_table_update_json(t, id, changes);
    free(changes);
    if (rc == CAIRN_NOTFOUND) return tbl_done(t, not_found(id));
    if (!rc) rc = cairn_table_sync(t);
    return tbl_done(t, rc);
}

static int tbl_delete(const opts *o, int argc, char **argv) {
    cairn_table *t;
    uint64_t id;
    int rc;
    (void)o, (void)argc;
    if (!parse_id(argv[1], &id)) return bad_id(argv[1]);
    if ((rc = tbl_open(&t, argv[0], 0)) != 0) return rc;
    rc = cairn_table_delete(t, id);
    if (rc == CAIRN_NOTFOUND) return tbl_done(t, not_found(id));
    if (!rc) rc = cairn_table_sync(t);
    return tbl_done(t, rc);
}

static int build_query(const opts *o, int full, char **out);

static int tbl_count(const opts *o, int argc, char **argv) {
    cairn_table *t;
    uint64_t n = 0;
    char *q = NULL;
    int rc;
    (void)argc;
    if ((o->given & (OPT_WHERE | OPT_PARAM)) && (rc = build_query(o, 0, &q)) != 0) return rc;
    if ((rc = tbl_open(&t, argv[0], 1)) != 0) {
        free(q);
        return rc;
    }
    rc = q ? cairn_table_count_where_json(t, q, &n) : cairn_table_count(t, &n);
    free(q);
    if (!rc) printf("%llu\n", (unsigned long long)n);
    return tbl_done(t, rc);
}

static int tbl_list(const opts *o, int argc, char **argv) {
    cairn_table *t;
    cairn_table_iter *it = NULL;
    cols c;
    uint64_t id;
    size_t i;
    int rc;
    (void)argc;
    if ((rc = tbl_open(&t, argv[0], 1)) != 0) return rc;
    if ((rc = cols_load(t, &c)) != 0) return tbl_done(t, rc);
    if ((rc = cairn_table_iter_open(&it, t)) != 0) {
        cols_free(&c);
        return tbl_done(t, rc);
    }
    if (o->given & OPT_JSON) {
        const char *row;
        while ((rc = cairn_table_iter_next_json(it, &id, &row)) == 0)
            printf("{\"id\":%llu,\"row\":%s}\n", (unsigned long long)id, row);
    } else {
        const cairn_value *row;
        printf("rowid");
        for (i = 0; i < c.n; i++) printf("\t%s", c.name[i]);
        putchar('\n');
        while ((rc = cairn_table_iter_next(it, &id, &row)) == 0) {
            printf("%llu", (unsigned long long)id);
            for (i = 0; i < c.n; i++) {
                putchar('\t');
                put_value(stdout, c.type[i], &row[i], FMT_TEXT);
            }
            putchar('\n');
        }
    }
    cairn_table_iter_free(it);
    cols_free(&c);
    return tbl_done(t, rc == CAIRN_ITEROVER ? 0 : rc);
}

static int tbl_stats(const opts *o, int argc, char **argv) {
    cairn_table *t;
    struct cairn_table_stats st = CAIRN_TABLE_STATS_INIT;
    char x[64], y[64];
    int rc;
    (void)argc;
    if ((rc = tbl_open(&t, argv[0], 1)) != 0) return rc;
    if (o->given & OPT_PROM) {
        char *text = NULL;
        if ((rc = cairn_table_metrics(t, &text)) != 0) return tbl_done(t, rc);
        fputs(text, stdout);
        cairn_free(text);
        return tbl_done(t, 0);
    }
    if ((rc = cairn_table_stats(t, &st)) != 0) return tbl_done(t, rc);
    if (o->given & OPT_JSON) {
        printf("{\"engine\":\"table\",\"rows\":%llu,\"deleted_rows\":%llu,\"next_id\":%llu,\"columns\":%u,"
               "\"row_groups\":%llu,\"segments\":%llu,\"tail_rows\":%llu,\"disk_bytes\":%llu,\"wal_bytes\":%llu}\n",
               (unsigned long long)st.rows, (unsigned long long)st.deleted_rows, (unsigned long long)st.next_id,
               (unsigned)st.columns, (unsigned long long)st.row_groups, (unsigned long long)st.segments,
               (unsigned long long)st.tail_rows, (unsigned long long)st.disk_bytes, (unsigned long long)st.wal_bytes);
        return tbl_done(t, 0);
    }
    printf("rows          %llu\n", (unsigned long long)st.rows);
    printf("deleted rows  %llu (still in segments: what `cairn table compact` drops)\n",
           (unsigned long long)st.deleted_rows);
    printf("next id       %llu\n", (unsigned long long)st.next_id);
    printf("columns       %u\n", (unsigned)st.columns);
    printf("row groups    %llu (%llu column segments)\n", (unsigned long long)st.row_groups,
           (unsigned long long)st.segments);
    printf("tail rows     %llu (in the write-ahead log, not yet checkpointed)\n", (unsigned long long)st.tail_rows);
    printf("on disk       %s, WAL %s\n", cli_size_str(st.disk_bytes, x, sizeof x), cli_human_bytes(st.wal_bytes, y, sizeof y));
    return tbl_done(t, 0);
}

static int tbl_check(const opts *o, int argc, char **argv) {
    int rc;
    (void)argc;
    cli_ticker_start("checking");
    rc = cairn_table_check(argv[0]);
    cli_ticker_stop();
    if (o->given & OPT_JSON) cli_json_check(argv[0], rc);
    if (rc) return cli_fail(rc);
    if (!(o->given & OPT_JSON)) printf("ok\n");
    return cli_flush_stdout();
}

static int tbl_repair(const opts *o, int argc, char **argv) {
    uint64_t rebuilt = 0;
    int rc;
    (void)o, (void)argc;
    cli_ticker_start("repairing");
    rc = cairn_table_repair(argv[0], &rebuilt);
    cli_ticker_stop();
    if (rc) return cli_fail(rc);
    if (rebuilt)
        printf("repaired: %llu segment reference%s rebuilt from the segments\n", (unsigned long long)rebuilt,
               rebuilt == 1 ? "" : "s");
    else
        printf("ok: nothing to rebuild\n");
    return cli_flush_stdout();
}

static int tbl_compact(const opts *o, int argc, char **argv) {
    cairn_table *t;
    struct cairn_table_stats before = CAIRN_TABLE_STATS_INIT, after = CAIRN_TABLE_STATS_INIT;
    int rc;
    (void)o, (void)argc;
    if ((rc = tbl_open(&t, argv[0], 0)) != 0) return rc;
    rc = cairn_table_sync(t);
    if (!rc) rc = cairn_table_stats(t, &before);
    if (!rc) {
        cli_ticker_start("compacting");
        rc = cairn_table_compact(t);
        cli_ticker_stop();
    }
    if (!rc) rc = cairn_table_stats(t, &after);
    if (!rc)
        printf("compacted: %llu deleted rows dropped, %llu -> %llu bytes\n",
               (unsigned long long)before.deleted_rows, (unsigned long long)before.disk_bytes,
               (unsigned long long)after.disk_bytes);
    return tbl_done(t, rc);
}

static int tbl_schema(const opts *o, int argc, char **argv) {
    cairn_table *t;
    char *s = NULL;
    int rc;
    (void)argc;
    if ((rc = tbl_open(&t, argv[0], 1)) != 0) return rc;
    rc = cairn_table_schema(t, (o->given & OPT_JSON) != 0, &s);
    if (!rc) {
        printf("%s\n", s);
        cairn_free(s);
    }
    return tbl_done(t, rc);
}

/* ---- CSV ------------------------------------------------------------------------------------------------- */

/* A CSV reader over a buffer (RFC 4180: "," separates, '"' quotes, "" is a quote inside quotes,
 * records end at \n or \r\n, quoted fields may hold both). */
typedef struct csv {
    const char *p, *end;
    unsigned long line; /* line of the record being read (1-based) */
    char **f;           /* fields of the current record (malloc'd, NUL-terminated) */
    size_t *len;
    int *quoted;
    size_t n, cap;
} csv;

static void csv_clear(csv *c) {
    size_t i;
    for (i = 0; i < c->n; i++) free(c->f[i]);
    c->n = 0;
}

static void csv_free(csv *c) {
    csv_clear(c);
    free(c->f), free(c->len), free(c->quoted);
}

/* Read the next record: 1, 0 at the end, -1 on a malformed record or no memory (message printed). */
static int csv_next(csv *c) {
    csv_clear(c);
    if (c->p >= c->end) return 0;
    c->line++;
    for (;;) {
        size_t cap = 64, n = 0;
        char *b = (char *)malloc(cap);
        int q = 0;
        if (!b) return -1;
        if (c->n == c->cap) {
            size_t nc = c->cap ? 2 * c->cap : 16;
            char **nf = (char **)realloc(c->f, nc * sizeof *nf);
            size_t *nl = nf ? (size_t *)realloc(c->len, nc * sizeof *nl) : NULL;
            int *nq = nl ? (int *)realloc(c->quoted, nc * sizeof *nq) : NULL;
            if (nf) c->f = nf;
            if (nl) c->len = nl;
            if (!nq) {
                free(b);
                return -1;
            }
            c->quoted = nq;
            c->cap = nc;
        }
        if (c->p < c->end && *c->p == '"') {
            q = 1;
            c->p++;
            for (;;) {
                if (c->p >= c->end) {
                    free(b);
                    cli_error(EXIT_DATA, "CAIRN_INVALID", "line %lu: a quoted field is not closed", c->line);
                    return -1;
                }
                if (*c->p == '"') {
                    if (c->p + 1 < c->end && c->p[1] == '"') c->p++;
                    else {
                        c->p++;
                        break;
                    }
                }
                if (*c->p == '\n') c->line++;
                if (n + 2 > cap) {
                    char *nb = (char *)realloc(b, cap *= 2);
                    if (!nb) {
                        free(b);
                        return -1;
                    }
                    b = nb;
                }
                b[n++] = *c->p++;
            }
            if (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r') {
                free(b);
                cli_error(EXIT_DATA, "CAIRN_INVALID", "line %lu: text after a closing quote", c->line);
                return -1;
            }
        } else {
            while (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r') {
                if (n + 2 > cap) {
                    char *nb = (char *)realloc(b, cap *= 2);
                    if (!nb) {
                        free(b);
                        return -1;
                    }
                    b = nb;
                }
                b[n++] = *c->p++;
            }
        }
        b[n] = 0;
        c->f[c->n] = b;
        c->len[c->n] = n;
        c->quoted[c->n] = q;
        c->n++;
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == '\r') c->p++;
        if (c->p < c->end && *c->p == '\n') c->p++;
        return 1;
    }
}

static int ieq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a, y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y) return 0;
    }
    return *a == *b;
}

/* One CSV field as the JSON value of a column of `type`, written to f. 0, or a static reason. */
static const char *csv_value(FILE *f, int type, const char *s, size_t n) {
    char *end;
    switch (type) {
    case CAIRN_TYPE_I8: case CAIRN_TYPE_I16: case CAIRN_TYPE_I32: case CAIRN_TYPE_I64:
    case CAIRN_TYPE_U8: case CAIRN_TYPE_U16: case CAIRN_TYPE_U32: case CAIRN_TYPE_U64: {
        size_t i = s[0] == '-' || s[0] == '+';
        if (i == n) return "not an integer";
        for (; i < n; i++)
            if (s[i] < '0' || s[i] > '9') return "not an integer";
        fputs(s[0] == '+' ? s + 1 : s, f); /* any length: the engine checks the range */
        return NULL;
    }
    case CAIRN_TYPE_F32: case CAIRN_TYPE_F64: {
        double v;
        if (ieq(s, "nan")) {
            fputs("{\"$f64\":\"nan\"}", f);
            return NULL;
        }
        if (ieq(s, "inf") || ieq(s, "+inf") || ieq(s, "infinity")) {
            fputs("{\"$f64\":\"inf\"}", f);
            return NULL;
        }
        if (ieq(s, "-inf") || ieq(s, "-infinity")) {
            fputs("{\"$f64\":\"-inf\"}", f);
            return NULL;
        }
        errno = 0;
        v = strtod(s, &end);
        if (end == s || *end || isnan(v) || isinf(v)) return "not a number";
        put_float(f, v, 0);
        return NULL;
    }
    case CAIRN_TYPE_BOOL:
        if (ieq(s, "true") || ieq(s, "t") || !strcmp(s, "1") || ieq(s, "yes")) fputs("true", f);
        else if (ieq(s, "false") || ieq(s, "f") || !strcmp(s, "0") || ieq(s, "no")) fputs("false", f);
        else return "not a bool (true/false, 1/0, yes/no)";
        return NULL;
    case CAIRN_TYPE_STRING:
        if (!cj_utf8_valid(s, n)) return "not valid UTF-8";
        cj_put_str(f, s, n);
        return NULL;
    case CAIRN_TYPE_BYTES: case CAIRN_TYPE_FIXED: {
        size_t i;
        if (n >= 2 && (s[0] == '\\' || s[0] == '0') && (s[1] == 'x' || s[1] == 'X')) s += 2, n -= 2;
        if (n % 2) return "not hexadecimal (an odd number of digits)";
        fputs("{\"$bytes\":\"", f);
        for (i = 0; i < n; i++) {
            char ch = s[i];
            if (ch >= 'A' && ch <= 'F') ch = (char)(ch + 32);
            if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return "not hexadecimal";
            fputc(ch, f);
        }
        fputs("\"}", f);
        return NULL;
    }
    case CAIRN_TYPE_TIMESTAMP: {
        int64_t us;
        if (!parse_ts(s, &us)) return "not a timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff]Z or microseconds)";
        fprintf(f, "%lld", (long long)us);
        return NULL;
    }
    default:
        return "a column of an unknown type";
    }
}

static int tbl_import(const opts *o, int argc, char **argv) {
    cairn_table *t;
    unsigned char *data;
    size_t len, i;
    csv c;
    cols cl;
    int *map = NULL, rc, r;
    size_t nhead;
    uint64_t rows = 0;
    (void)o, (void)argc;
    {
        char *arg = NULL;
        if (strcmp(argv[1], "-") != 0) {
            size_t n = strlen(argv[1]);
            if (!(arg = (char *)malloc(n + 2))) return cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
            arg[0] = '@';
            memcpy(arg + 1, argv[1], n + 1);
        }
        rc = cli_read_value(arg ? arg : "-", &data, &len);
        free(arg);
        if (rc) return rc;
    }
    memset(&c, 0, sizeof c);
    c.p = (const char *)data;
    c.end = c.p + len;
    if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3)) c.p += 3; /* a UTF-8 byte order mark */
    if ((rc = tbl_open(&t, argv[0], 0)) != 0) {
        free(data);
        return rc;
    }
    if ((rc = cols_load(t, &cl)) != 0) {
        free(data);
        return tbl_done(t, rc);
    }
    r = csv_next(&c);
    if (r <= 0) {
        rc = r < 0 ? EXIT_DATA : cli_error(EXIT_DATA, "CAIRN_INVALID", "the CSV has no header row");
        goto out;
    }
    nhead = c.n;
    if (!(map = (int *)calloc(nhead, sizeof *map))) {
        rc = cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
        goto out;
    }
    for (i = 0; i < nhead; i++) {
        size_t j;
        if ((map[i] = cols_find(&cl, c.f[i])) < 0) {
            rc = cli_error(EXIT_DATA, "CAIRN_SCHEMA", "the header names '%s', which is not a column of the table", c.f[i]);
            goto out;
        }
        for (j = 0; j < i; j++)
            if (map[j] == map[i]) {
                rc = cli_error(EXIT_DATA, "CAIRN_INVALID", "the header names '%s' twice", c.f[i]);
                goto out;
            }
    }
    if ((rc = cairn_table_begin(t)) != 0) goto out;
    while ((r = csv_next(&c)) > 0) {
        char *json = NULL;
        size_t jlen = 0;
        FILE *mf;
        int first = 1;
        const char *why = NULL;
        if (c.n == 1 && c.len[0] == 0 && !c.quoted[0] && nhead > 1) continue; /* a blank line */
        if (c.n != nhead) {
            rc = cli_error(EXIT_DATA, "CAIRN_INVALID", "line %lu: %zu fields, the header has %zu", c.line, c.n, nhead);
            break;
        }
        if (!(mf = open_memstream(&json, &jlen))) {
            rc = cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
            break;
        }
        fputc('{', mf);
        for (i = 0; i < nhead && !why; i++) {
            if (c.len[i] == 0 && !c.quoted[i]) continue; /* empty: the column's default (or null) */
            if (!first) fputc(',', mf);
            first = 0;
            cj_put_str(mf, cl.name[map[i]], strlen(cl.name[map[i]]));
            fputc(':', mf);
            if (c.len[i] == 0 && cl.type[map[i]] != CAIRN_TYPE_STRING && cl.type[map[i]] != CAIRN_TYPE_BYTES &&
                cl.type[map[i]] != CAIRN_TYPE_FIXED)
                fputs("null", mf); /* "" in a column that has no empty value: null */
            else
                why = csv_value(mf, cl.type[map[i]], c.f[i], c.len[i]);
        }
        fputc('}', mf);
        fclose(mf);
        if (why) {
            rc = cli_error(EXIT_DATA, "CAIRN_TYPE", "line %lu, column '%s': '%s' is %s", c.line, cl.name[map[i - 1]],
                           c.f[i - 1], why);
            free(json);
            break;
        }
        rc = cairn_table_insert_json(t, json, NULL);
        free(json);
        if (rc) {
            fprintf(stderr, "cairn: line %lu:\n", c.line);
            rc = cli_fail(rc);
            break;
        }
        rows++;
        cli_progress("imported", rows, 0, 0);
    }
    if (r < 0 && !rc) rc = EXIT_DATA;
    cli_progress("imported", rows, 0, 1);
    if (rc) {
        cairn_table_rollback(t);
        fprintf(stderr, "cairn: nothing imported\n");
        goto out;
    }
    cli_ticker_start("committing");
    if ((rc = cairn_table_commit(t)) == 0) rc = cairn_table_sync(t);
    cli_ticker_stop();
    if (!rc) printf("imported %llu rows\n", (unsigned long long)rows);
out:
    csv_free(&c);
    cols_free(&cl);
    free(map);
    free(data);
    return tbl_done(t, rc);
}

static int tbl_export(const opts *o, int argc, char **argv) {
    cairn_table *t;
    cairn_table_iter *it = NULL;
    const cairn_value *row;
    cols c;
    uint64_t id, rows = 0;
    size_t i;
    FILE *f = stdout;
    int rc;
    (void)o;
    if ((rc = tbl_open(&t, argv[0], 1)) != 0) return rc;
    if ((rc = cols_load(t, &c)) != 0) return tbl_done(t, rc);
    if (argc > 1 && strcmp(argv[1], "-") != 0 && !(f = fopen(argv[1], "w"))) {
        int e = errno;
        cols_free(&c);
        return tbl_done(t, cli_error(e == ENOENT || e == EACCES || e == ENOTDIR || e == EISDIR ? EXIT_PATH : EXIT_IO,
                                     e == EACCES ? "CAIRN_PERM" : "CAIRN_PATH", "cannot write '%s': %s", argv[1],
                                     strerror(e)));
    }
    if ((rc = cairn_table_iter_open(&it, t)) == 0) {
        for (i = 0; i < c.n; i++) {
            if (i) fputc(',', f);
            put_csv_text(f, c.name[i], strlen(c.name[i]));
        }
        fputc('\n', f);
        while ((rc = cairn_table_iter_next(it, &id, &row)) == 0) {
            for (i = 0; i < c.n; i++) {
                if (i) fputc(',', f);
                put_value(f, c.type[i], &row[i], FMT_CSV);
            }
            fputc('\n', f);
            cli_progress("exported", ++rows, 0, 0);
        }
        cli_progress("exported", rows, 0, 1);
        cairn_table_iter_free(it);
        if (rc == CAIRN_ITEROVER) rc = 0;
    }
    if (f != stdout) {
        int bad = ferror(f);
        if (fclose(f) != 0 || bad) {
            int e = errno;
            if (!rc) rc = cli_error(EXIT_IO, "CAIRN_IO", "writing '%s': %s", argv[1], strerror(e));
        }
    }
    cols_free(&c);
    return tbl_done(t, rc);
}

/* ---- queries: select, count --where, index ---------------------------------------------------------- */

/* Write a command-line text as a JSON string. Exit code (not UTF-8: 8). */
static int put_arg_str(FILE *f, const char *what, const char *s, size_t n) {
    if (!cj_utf8_valid(s, n)) return cli_error(EXIT_DATA, "CAIRN_INVALID", "%s is not valid UTF-8", what);
    cj_put_str(f, s, n);
    return 0;
}

/* A comma-separated list as a JSON array of strings (spaces around names dropped). Exit code. */
static int put_name_list(FILE *f, const char *what, const char *list) {
    const char *p = list;
    int first = 1, rc;
    fputc('[', f);
    while (*p) {
        const char *e = strchr(p, ','), *a = p, *b;
        if (!e) e = p + strlen(p);
        b = e;
        while (a < b && *a == ' ') a++;
        while (b > a && b[-1] == ' ') b--;
        if (a == b) return cli_error(EXIT_USAGE, "CAIRN_INVALID", "%s: an empty name in '%s'", what, list);
        if (!first) fputc(',', f);
        first = 0;
        if ((rc = put_arg_str(f, what, a, (size_t)(b - a))) != 0) return rc;
        p = *e ? e + 1 : e;
    }
    fputc(']', f);
    return 0;
}

/* The query JSON of the options (where, params, and with `full` columns, order, limit, offset);
 * *out malloc'd. Exit code. */
static int build_query(const opts *o, int full, char **out) {
    size_t len = 0;
    FILE *f = open_memstream(out, &len);
    int rc = 0, i;
    const char *sep = "";
    if (!f) return cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
    fputc('{', f);
    if (o->given & OPT_WHERE) {
        const char *w = o->where;
        size_t at;
        const char *why;
        while (*w == ' ') w++;
        fputs("\"where\":", f);
        if ((*w == '[' || *w == '{') && cj_json_valid(w, strlen(w), &at, &why)) fputs(w, f); /* a triple or object */
        else rc = put_arg_str(f, "--where", o->where, strlen(o->where));
        sep = ",";
    }
    if (!rc && o->nparams) {
        fprintf(f, "%s\"params\":[", sep);
        for (i = 0; i < o->nparams && !rc; i++) {
            size_t at;
            const char *why, *v = o->params[i];
            if (i) fputc(',', f);
            if (*v && cj_json_valid(v, strlen(v), &at, &why)) fputs(v, f); /* 21, true, null, "21", {"$bytes":..} */
            else rc = put_arg_str(f, "--param", v, strlen(v));                /* anything else: a string */
        }
        fputc(']', f);
        sep = ",";
    }
    if (full && !rc && (o->given & OPT_COLUMNS)) {
        fprintf(f, "%s\"columns\":", sep);
        rc = put_name_list(f, "--columns", o->columns);
        sep = ",";
    }
    if (full && !rc && (o->given & OPT_ORDER)) {
        fprintf(f, "%s\"order\":", sep);
        rc = put_name_list(f, "--order", o->order);
        sep = ",";
    }
    if (full && !rc && o->has_limit) fprintf(f, "%s\"limit\":%llu", sep, (unsigned long long)o->limit), sep = ",";
    if (full && !rc && o->has_offset) fprintf(f, "%s\"offset\":%llu", sep, (unsigned long long)o->offset);
    fputc('}', f);
    fclose(f);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* The end of the JSON value at p (valid JSON, as the core writes it). */
static const char *json_skip(const char *p) {
    int depth = 0;
    do {
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1]) p++;
            if (*p) p++;
        } else if (*p == '{' || *p == '[') {
            depth++, p++;
        } else if (*p == '}' || *p == ']') {
            depth--, p++;
        } else if (depth == 0) {
            while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ') p++;
        } else {
            p++;
        }
    } while (depth > 0 && *p);
    return p;
}

/* Decode the JSON string at p (its opening quote) into a malloc'd buffer. */
static char *json_str(const char *p, size_t *len) {
    size_t n = 0;
    char *b = (char *)malloc(strlen(p) + 1);
    if (!b) return NULL;
    for (p++; *p && *p != '"'; p++) {
        unsigned long u;
        if (*p != '\\') {
            b[n++] = *p;
            continue;
        }
        switch (*++p) {
        case 'b': b[n++] = '\b'; break;
        case 'f': b[n++] = '\f'; break;
        case 'n': b[n++] = '\n'; break;
        case 'r': b[n++] = '\r'; break;
        case 't': b[n++] = '\t'; break;
        case 'u': {
            char hex[5] = {0};
            memcpy(hex, p + 1, 4);
            u = strtoul(hex, NULL, 16);
            p += 4;
            if (u >= 0xd800 && u < 0xdc00 && p[1] == '\\' && p[2] == 'u') {
                memcpy(hex, p + 3, 4);
                u = 0x10000 + ((u - 0xd800) << 10) + (strtoul(hex, NULL, 16) - 0xdc00);
                p += 6;
            }
            if (u < 0x80) b[n++] = (char)u;
            else if (u < 0x800) b[n++] = (char)(0xc0 | (u >> 6)), b[n++] = (char)(0x80 | (u & 0x3f));
            else if (u < 0x10000)
                b[n++] = (char)(0xe0 | (u >> 12)), b[n++] = (char)(0x80 | ((u >> 6) & 0x3f)), b[n++] = (char)(0x80 | (u & 0x3f));
            else
                b[n++] = (char)(0xf0 | (u >> 18)), b[n++] = (char)(0x80 | ((u >> 12) & 0x3f)),
                b[n++] = (char)(0x80 | ((u >> 6) & 0x3f)), b[n++] = (char)(0x80 | (u & 0x3f));
            break;
        }
        default: b[n++] = *p;
        }
    }
    b[n] = 0;
    *len = n;
    return b;
}

/* One value of a result row (the JSON text [v, end)) for a person (FMT_TEXT) or CSV. */
static void put_json_cell(FILE *f, const char *type, const char *v, const char *end, int fmt) {
    size_t n;
    char *s;
    if (!strncmp(v, "null", 4)) {
        if (fmt == FMT_TEXT) fputs("NULL", f);
        return;
    }
    if (*v == '"') {
        if ((s = json_str(v, &n)) != NULL) {
            if (fmt == FMT_CSV) put_csv_text(f, s, n);
            else put_safe_text(f, s, n);
            free(s);
        }
        return;
    }
    if (*v == '{') { /* {"$bytes":"hex"} or {"$f64":"nan"} */
        const char *q = strchr(v, ':');
        int bytes = !strncmp(v, "{\"$bytes\"", 9);
        if (q) q++;
        while (q && *q == ' ') q++;
        if (q && *q == '"' && (s = json_str(q, &n)) != NULL) {
            if (bytes && fmt == FMT_TEXT) fprintf(f, "x'%s'", s);
            else if (bytes && n == 0) fputs("\"\"", f);
            else fputs(s, f);
            free(s);
        }
        return;
    }
    if (type && !strcmp(type, "timestamp")) {
        put_ts(f, strtoll(v, NULL, 10));
        return;
    }
    fwrite(v, 1, (size_t)(end - v), f);
}

/* UTF-8 characters in s (the display width of text without wide characters). */
static size_t text_width(const char *s) {
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) w++;
    return w;
}

static int numeric_type(const char *t) {
    return t && (t[0] == 'i' || t[0] == 'u' || t[0] == 'f') && strcmp(t, "fixed") != 0;
}

enum { OUT_JSON, OUT_CSV, OUT_TABLE };

/* Print a query result ({"columns":[{"name","type"},...],"rows":[{...},...]}). Exit code. */
static int print_result(const char *res, int out) {
    cj_field top[4], cf[4];
    int ntop = 0, ncf, code = 0;
    const cj_field *cols_f, *rows_f;
    size_t at, ncols = 0, nrows = 0, i, j, cap = 0;
    const char *why, *p, *end;
    char **names = NULL, **types = NULL, **cells = NULL;
    size_t *width = NULL;
    if (cj_obj_parse(res, strlen(res), top, 4, &ntop, &at, &why) != 0 || !(cols_f = cj_get(top, ntop, "columns")) ||
        !(rows_f = cj_get(top, ntop, "rows"))) {
        cj_fields_free(top, ntop);
        return cli_error(EXIT_ERROR, "CAIRN_INTERNAL", "cannot read the query result");
    }
    /* the columns */
    for (p = res + cols_f->raw_at + 1, end = res + cols_f->raw_at + cols_f->raw_len; p < end;) {
        const char *e;
        const cj_field *nm, *ty;
        while (p < end && (*p == ',' || *p == ' ')) p++;
        if (p >= end || *p != '{') break;
        e = json_skip(p);
        if (cj_obj_parse(p, (size_t)(e - p), cf, 4, &ncf, &at, &why) != 0) break;
        nm = cj_get(cf, ncf, "name"), ty = cj_get(cf, ncf, "type");
        names = (char **)realloc(names, (ncols + 1) * sizeof *names);
        types = (char **)realloc(types, (ncols + 1) * sizeof *types);
        names[ncols] = strdup(nm && nm->type == CJ_STR ? nm->s : "?");
        types[ncols] = strdup(ty && ty->type == CJ_STR ? ty->s : "");
        ncols++;
        cj_fields_free(cf, ncf);
        p = e;
    }
    if (out == OUT_CSV) {
        for (j = 0; j < ncols; j++) {
            if (j) putchar(',');
            put_csv_text(stdout, names[j], strlen(names[j]));
        }
        putchar('\n');
    }
    width = (size_t *)calloc(ncols ? ncols : 1, sizeof *width);
    for (j = 0; j < ncols; j++) width[j] = text_width(names[j]);
    /* the rows: each a flat object whose members come in the column order */
    for (p = res + rows_f->raw_at + 1, end = res + rows_f->raw_at + rows_f->raw_len; p < end;) {
        const char *e, *q;
        while (p < end && (*p == ',' || *p == ' ')) p++;
        if (p >= end || *p != '{') break;
        e = json_skip(p);
        if (out == OUT_JSON) {
            fwrite(p, 1, (size_t)(e - p), stdout);
            putchar('\n');
        } else {
            for (q = p + 1; *q == ' '; q++) {
            }
            for (j = 0; j < ncols && *q && *q != '}'; j++) {
                const char *v = json_skip(q), *ve; /* past the name, then the colon */
                while (*v == ' ' || *v == ':') v++;
                ve = json_skip(v);
                if (out == OUT_CSV) {
                    if (j) putchar(',');
                    put_json_cell(stdout, types[j], v, ve, FMT_CSV);
                } else {
                    char *cell = NULL;
                    size_t clen = 0;
                    FILE *mf = open_memstream(&cell, &clen);
                    if (mf) {
                        put_json_cell(mf, types[j], v, ve, FMT_TEXT);
                        fclose(mf);
                    }
                    if (nrows * ncols + j >= cap) {
                        cap = cap ? cap * 2 : 256;
                        while (cap < nrows * ncols + j + 1) cap *= 2;
                        cells = (char **)realloc(cells, cap * sizeof *cells);
                    }
                    cells[nrows * ncols + j] = cell;
                    if (cell && text_width(cell) > width[j]) width[j] = text_width(cell);
                }
                for (q = ve; *q == ' ' || *q == ','; q++) {
                }
            }
            if (out == OUT_CSV) putchar('\n');
        }
        nrows++;
        if (ferror(stdout)) break;
        p = e;
    }
    if (out == OUT_TABLE) {
        for (j = 0; j < ncols; j++) { /* names aligned as their values are */
            size_t pad = width[j] - text_width(names[j]);
            if (j) fputs("  ", stdout);
            if (numeric_type(types[j])) printf("%*s%s", (int)pad, "", names[j]);
            else if (j + 1 < ncols) printf("%s%*s", names[j], (int)pad, "");
            else fputs(names[j], stdout);
        }
        putchar('\n');
        for (j = 0; j < ncols; j++) {
            printf("%s", j ? "  " : "");
            for (i = 0; i < width[j]; i++) putchar('-');
        }
        putchar('\n');
        for (i = 0; i < nrows; i++) {
            for (j = 0; j < ncols; j++) {
                const char *cell = cells[i * ncols + j] ? cells[i * ncols + j] : "";
                size_t pad = width[j] - text_width(cell);
                if (j) fputs("  ", stdout);
                if (numeric_type(types[j])) printf("%*s%s", (int)pad, "", cell);
                else if (j + 1 < ncols) printf("%s%*s", cell, (int)pad, "");
                else fputs(cell, stdout);
                free(cells[i * ncols + j]);
            }
            putchar('\n');
        }
        printf("(%llu row%s)\n", (unsigned long long)nrows, nrows == 1 ? "" : "s");
    }
    for (j = 0; j < ncols; j++) free(names[j]), free(types[j]);
    free(names), free(types), free(cells), free(width);
    cj_fields_free(top, ntop);
    return code;
}

static int tbl_select(const opts *o, int argc, char **argv) {
    cairn_table *t;
    char *q = NULL, *res = NULL;
    int rc, out;
    (void)argc;
    if ((rc = build_query(o, 1, &q)) != 0) return rc;
    out = (o->given & OPT_JSON) ? OUT_JSON : (o->given & OPT_CSV) ? OUT_CSV : isatty(STDOUT_FILENO) ? OUT_TABLE : OUT_JSON;
    if ((rc = tbl_open(&t, argv[0], 1)) != 0) {
        free(q);
        return rc;
    }
    rc = cairn_table_query_json(t, q, &res);
    free(q);
    if (!rc) {
        rc = print_result(res, out);
        cairn_free(res);
    }
    return tbl_done(t, rc);
}

static int tbl_index(const opts *o, int argc, char **argv) {
    cairn_table *t;
    const char *act = argv[1];
    int rc, kind = CAIRN_INDEX_HASH, list = !strcmp(act, "list");
    if (!list && strcmp(act, "create") != 0 && strcmp(act, "drop") != 0)
        return cli_error(EXIT_USAGE, "CAIRN_INVALID", "'%s' is not create, drop or list", act);
    if (list ? argc != 2 : argc < 3) return cli_error(EXIT_USAGE, "CAIRN_INVALID", "usage: cairn table index DIR create|drop COLUMN [hash|range], or DIR list");
    if (argc > 3) {
        if (!strcmp(argv[3], "hash")) kind = CAIRN_INDEX_HASH;
        else if (!strcmp(argv[3], "range")) kind = CAIRN_INDEX_RANGE;
        else return cli_error(EXIT_USAGE, "CAIRN_INVALID", "'%s' is not an index kind (hash or range)", argv[3]);
    }
    if ((rc = tbl_open(&t, argv[0], list)) != 0) return rc;
    if (list) {
        char *json = NULL;
        const char *p, *end;
        if ((rc = cairn_table_indexes(t, &json)) != 0) return tbl_done(t, rc);
        for (p = json + 1, end = json + strlen(json); p < end;) {
            cj_field f[4];
            int nf;
            size_t at;
            const char *why, *e;
            const cj_field *c, *k;
            while (p < end && (*p == ',' || *p == ' ')) p++;
            if (p >= end || *p != '{') break;
            e = json_skip(p);
            if (cj_obj_parse(p, (size_t)(e - p), f, 4, &nf, &at, &why) != 0) break;
            c = cj_get(f, nf, "column"), k = cj_get(f, nf, "kind");
            if (o->given & OPT_JSON) {
                fwrite(p, 1, (size_t)(e - p), stdout);
                putchar('\n');
            } else if (c && k && c->type == CJ_STR && k->type == CJ_STR) {
                printf("%s\t%s\n", c->s, k->s);
            }
            cj_fields_free(f, nf);
            p = e;
        }
        cairn_free(json);
        return tbl_done(t, 0);
    }
    if (!strcmp(act, "create")) {
        cli_ticker_start("indexing");
        rc = cairn_table_create_index(t, argv[2], kind);
        cli_ticker_stop();
    } else {
        rc = cairn_table_drop_index(t, argv[2], kind);
        if (rc == CAIRN_NOTFOUND) {
            cli_error(EXIT_NOTFOUND, "CAIRN_NOTFOUND", "no %s index on '%s'", kind == CAIRN_INDEX_HASH ? "hash" : "range", argv[2]);
            cairn_table_close(t);
            return EXIT_NOTFOUND;
        }
    }
    if (!rc) rc = cairn_table_sync(t);
    return tbl_done(t, rc);
}

/* ---- dump and load (docs/cli.md, "Dump format") --------------------------------------------------- */

/* Rows per load transaction. */
#define TLOAD_BATCH 4096

static int tbl_dump(const opts *o, int argc, char **argv) {
    cairn_table *t;
    cairn_table_iter *it = NULL;
    struct cairn_table_stats st = CAIRN_TABLE_STATS_INIT;
    char *schema = NULL, *idx = NULL, *extra = NULL;
    size_t elen = 0;
    const char *row;
    uint64_t id, records = 0, bytes = 0;
    FILE *hdr;
    int rc;
    (void)o, (void)argc;
    if ((rc = tbl_open(&t, argv[0], 1)) != 0) return rc;
    if ((rc = cairn_table_schema(t, 0, &schema)) != 0 || (rc = cairn_table_stats(t, &st)) != 0) goto out;
    if ((rc = cairn_table_indexes(t, &idx)) == CAIRN_UNSUPPORTED) rc = 0, idx = NULL; /* a core without indexes */
    if (rc) goto out;
    if ((rc = cairn_table_iter_open(&it, t)) != 0) goto out;
    if (!(hdr = open_memstream(&extra, &elen))) {
        rc = cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
        goto out;
    }
    fputs(",\"schema\":", hdr);
    cj_put_str(hdr, schema, strlen(schema));
    fprintf(hdr, ",\"next_id\":%llu", (unsigned long long)st.next_id);
    if (idx) fprintf(hdr, ",\"indexes\":%s", idx);
    fclose(hdr);
    dump_header("table", extra);
    cli_progress("dumped", 0, 0, 0);
    while ((rc = cairn_table_iter_next_json(it, &id, &row)) == 0) {
        printf("{\"id\":%llu,\"row\":%s}\n", (unsigned long long)id, row);
        records++;
        bytes += strlen(row);
        cli_progress("dumped", records, bytes, 0);
        if (ferror(stdout)) break;
    }
    cli_progress("dumped", records, bytes, 1);
    if (rc == CAIRN_ITEROVER) {
        dump_trailer(records);
        rc = 0;
    }
out:
    cairn_table_iter_free(it);
    cairn_free(schema);
    cairn_free(idx);
    free(extra);
    return tbl_done(t, rc);
}

/* Use up n row ids without leaving rows: insert `row` (a valid row) and delete it n times inside
 * transactions that are rolled back (ids handed out stay used). With live_id, that row (which
 * holds the same unique values) is deleted first inside the same transaction. */
static int burn_ids(cairn_table *t, const char *row, uint64_t live_id, uint64_t n) {
    while (n > 0) {
        uint64_t k = n < TLOAD_BATCH ? n : TLOAD_BATCH, i, id;
        int rc;
        if ((rc = cairn_table_begin(t)) != 0) return rc;
        if (live_id && (rc = cairn_table_delete(t, live_id)) != 0) goto undo;
        for (i = 0; i < k; i++)
            if ((rc = cairn_table_insert_json(t, row, &id)) != 0 || (rc = cairn_table_delete(t, id)) != 0) goto undo;
        if ((rc = cairn_table_rollback(t)) != 0) return rc;
        n -= k;
        continue;
    undo:
        cairn_table_rollback(t);
        return rc;
    }
    return 0;
}

/* The indexes of a dump header ([{"column":...,"kind":"hash"|"range"}, ...]) on the table. Exit code. */
static int load_indexes(cairn_table *t, dump_reader *r, const cj_field *xf) {
    const char *p = r->head_line + xf->raw_at, *end = p + xf->raw_len;
    while (p < end) {
        const char *q;
        cj_field f[4];
        int nf, rc, kind;
        const cj_field *c, *k;
        size_t at;
        const char *why;
        if (*p != '{') {
            p++;
            continue;
        }
        for (q = p; q < end && *q != '}'; q++) {
        }
        if (q == end || cj_obj_parse(p, (size_t)(q + 1 - p), f, 4, &nf, &at, &why) != 0)
            return dump_bad(r, "\"indexes\" is not a list of {\"column\",\"kind\"} objects");
        c = cj_get(f, nf, "column"), k = cj_get(f, nf, "kind");
        kind = k && k->type == CJ_STR ? (!strcmp(k->s, "hash") ? CAIRN_INDEX_HASH : !strcmp(k->s, "range") ? CAIRN_INDEX_RANGE : 0) : 0;
        if (!c || c->type != CJ_STR || !kind) {
            cj_fields_free(f, nf);
            return dump_bad(r, "an index of the header is not {\"column\":NAME,\"kind\":\"hash\"|\"range\"}");
        }
        rc = cairn_table_create_index(t, c->s, kind);
        cj_fields_free(f, nf);
        if (rc && rc != CAIRN_EXISTS) return cli_fail(rc);
        p = q + 1;
    }
    return 0;
}

static int tbl_load(const opts *o, int argc, char **argv) {
    cairn_table_options to = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    dump_reader r;
    cj_field f[DUMP_MAX_FIELDS];
    const cj_field *sf, *nx, *xf;
    char *last_row = NULL;
    uint64_t want_next = 0, next = 0, last_id = 0, committed = 0, bytes = 0;
    int nf, rc, code = 0, in_txn = 0, keep = -1;
    (void)o;
    if ((rc = dump_open(&r, argc > 1 ? argv[1] : NULL, "table")) != 0) return rc;
    sf = cj_get(r.head, r.nhead, "schema");
    nx = cj_get(r.head, r.nhead, "next_id");
    xf = cj_get(r.head, r.nhead, "indexes");
    if (!sf || sf->type != CJ_STR || strlen(sf->s) != sf->slen) {
        code = dump_bad(&r, "the header has no \"schema\" (the schema text of the table)");
        goto out;
    }
    if (nx && nx->type == CJ_INT && nx->i > 0) want_next = (uint64_t)nx->i;
    to.create = 1;
    to.schema = sf->s;
    to.sync = CAIRN_SYNC_NONE; /* one sync at the end: the load is durable when it says so */
    if ((rc = cairn_table_open(&t, argv[0], &to)) != 0) {
        if (rc == CAIRN_SCHEMA) fprintf(stderr, "cairn: the table at '%s' has another schema than the dump\n", argv[0]);
        code = cli_fail(rc);
        t = NULL;
        goto out;
    }
    cli_progress("loaded", 0, 0, 0);
    for (;;) {
        const cj_field *idf, *rowf;
        char *row;
        uint64_t id;
        if ((code = dump_next(&r, f, &nf)) != 0) break;
        idf = cj_get(f, nf, "id");
        rowf = cj_get(f, nf, "row");
        if (!rowf || rowf->type != CJ_OTHER || r.line[rowf->raw_at] != '{' ||
            (idf && (idf->type != CJ_INT || idf->i <= 0))) {
            cj_fields_free(f, nf);
            code = dump_bad(&r, "a row line is {\"id\":N,\"row\":{...}}");
            break;
        }
        if (!(row = (char *)malloc(rowf->raw_len + 1))) {
            cj_fields_free(f, nf);
            code = cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
            break;
        }
        memcpy(row, r.line + rowf->raw_at, rowf->raw_len);
        row[rowf->raw_len] = 0;
        if (keep < 0) { /* the first row decides: ids are kept when none of them is used yet */
            struct cairn_table_stats st = CAIRN_TABLE_STATS_INIT;
            if ((rc = cairn_table_stats(t, &st)) != 0) {
                cj_fields_free(f, nf);
                free(row);
                code = cli_fail(rc);
                break;
            }
            next = st.next_id;
            keep = idf && (uint64_t)idf->i >= next;
        }
        if (keep && idf && (uint64_t)idf->i < next) {
            cj_fields_free(f, nf);
            free(row);
            code = dump_bad(&r, "row ids are not in ascending order");
            break;
        }
        if (keep && idf && (uint64_t)idf->i > next) { /* deleted rows: their ids stay used */
            if (in_txn) {
                in_txn = 0;
                if ((rc = cairn_table_commit(t)) != 0) {
                    cj_fields_free(f, nf);
                    free(row);
                    code = cli_fail(rc);
                    break;
                }
                committed = r.records;
            }
            if ((rc = burn_ids(t, row, 0, (uint64_t)idf->i - next)) != 0) {
                cj_fields_free(f, nf);
                free(row);
                fprintf(stderr, "cairn: %s line %llu:\n", r.src, (unsigned long long)r.lineno);
                code = cli_fail(rc);
                break;
            }
        }
        cj_fields_free(f, nf);
        if (!in_txn) {
            if ((rc = cairn_table_begin(t)) != 0) {
                free(row);
                code = cli_fail(rc);
                break;
            }
            in_txn = 1;
        }
        if ((rc = cairn_table_insert_json(t, row, &id)) != 0) {
            free(row);
            fprintf(stderr, "cairn: %s line %llu:\n", r.src, (unsigned long long)r.lineno);
            code = cli_fail(rc);
            break;
        }
        bytes += strlen(row);
        free(last_row);
        last_row = row, last_id = id, next = id + 1;
        r.records++;
        if (r.records - committed >= TLOAD_BATCH) {
            in_txn = 0;
            if ((rc = cairn_table_commit(t)) != 0) {
                code = cli_fail(rc);
                break;
            }
            committed = r.records;
        }
        cli_progress("loaded", r.records, bytes, 0);
    }
    if (code < 0) { /* the end line: commit the last batch, use up the ids after the last row */
        code = 0;
        if (in_txn) {
            in_txn = 0;
            if ((rc = cairn_table_commit(t)) != 0) code = cli_fail(rc);
            else committed = r.records;
        }
        if (!code && keep > 0 && want_next > next && last_row && (rc = burn_ids(t, last_row, last_id, want_next - next)) != 0)
            code = cli_fail(rc);
        if (!code && xf && xf->type == CJ_OTHER) code = load_indexes(t, &r, xf);
    }
    if (in_txn) cairn_table_rollback(t);
    if (t && (rc = cairn_table_sync(t)) != 0 && !code) code = cli_fail(rc);
    cli_progress("loaded", committed, bytes, 1);
out:
    free(last_row);
    if (t) cairn_table_close(t);
    dump_close(&r);
    if (code) {
        if (t) fprintf(stderr, "cairn: %llu rows were loaded before the error\n", (unsigned long long)committed);
        return code;
    }
    printf("loaded %llu rows (%s)\n", (unsigned long long)committed,
           keep > 0 ? "ids kept" : keep == 0 ? "new ids, in the same order" : "none");
    return cli_flush_stdout();
}

const command cli_table_cmds[] = {
    {"create", 2, 2, "DIR SCHEMA", 0, "create a table with SCHEMA (a VALUE: text or a JSON list of columns)",
     "SCHEMA is the schema text, e.g. 'id i64 primary key, name string not null, at timestamp default 0',\n"
     "or the JSON list form; '-' reads it from standard input and @FILE from a file. Types: i8 i16 i32\n"
     "i64 u8 u16 u32 u64 f32 f64 bool string bytes bytes:N timestamp; constraints: primary key, unique,\n"
     "not null, null, default LITERAL. A table that exists already is refused (exit 8).",
     tbl_create},
    {"insert", 2, 2, "DIR ROW", 0, "insert ROW (a JSON object, or a JSON array of them) and print the new id(s)",
     "ROW is a VALUE ('-' standard input, @FILE a file): {\"column\": value, ...}. Values: JSON integers\n"
     "and numbers, true/false, strings, {\"$bytes\": \"hex\"} for bytes, {\"$f64\": \"nan\"|\"inf\"|\"-inf\"},\n"
     "timestamps as integer microseconds since the Unix epoch, null. Columns left out take their\n"
     "default. An array inserts every row or none (one transaction) and prints one id a line.\n"
     "A value of the wrong type, out of range or breaking a constraint is refused (exit 8).",
     tbl_insert},
    {"get", 2, 2, "DIR ID", OPT_JSON, "print row ID as a JSON object (exit 1 if absent)",
     "  --json   {\"id\":ID,\"row\":{...}}", tbl_get},
    {"update", 3, 3, "DIR ID CHANGES", 0, "set the columns named in CHANGES (a JSON object) of row ID",
     "CHANGES is a VALUE holding a JSON object of the columns to change; the others keep their values.\n"
     "Exit 1 if the row does not exist, 8 if a value or a constraint refuses the change.",
     tbl_update},
    {"delete", 2, 2, "DIR ID", 0, "delete row ID (exit 1 if absent); its id is never used again", NULL, tbl_delete},
    {"del", 2, 2, "DIR ID", 0, "the same as delete", NULL, tbl_delete},
    {"count", 1, 1, "DIR", OPT_WHERE | OPT_PARAM, "print the number of rows (matching --where)",
     "  --where EXPR   count only the rows matching EXPR (as for `select`)\n"
     "  --param V      the value of the next `?` of EXPR (repeat for each)", tbl_count},
    {"list", 1, 1, "DIR", OPT_JSON, "list the rows in id order",
     "A header line (rowid and the column names), then one row a line, tab-separated: NULL for null,\n"
     "bytes as x'hex', timestamps in UTC (ISO 8601), control characters in text as \\xNN.\n"
     "  --json   one JSON object a line: {\"id\":ID,\"row\":{...}}",
     tbl_list},
    {"stats", 1, 1, "DIR", OPT_JSON | OPT_PROM, "show the rows, deleted rows, segments and bytes of the table",
     "Every field is described in docs/cli.md.\n"
     "  --json   one JSON object with the raw numbers\n"
     "  --prometheus   the Prometheus text exposition format (cairn_table_*{store=\"DIR\"})", tbl_stats},
    {"check", 1, 1, "DIR", OPT_JSON, "verify every file (CRCs, manifest, WAL) and the constraints; exit 6 if not",
     "The table is not opened for writing (a running writer is not disturbed).\n"
     "  --json   {\"ok\":true|false,\"path\":...}; the error still goes to standard error", tbl_check},
    {"repair", 1, 1, "DIR", 0, "verify, then rebuild what is derived (zone maps); exit 6 if the data is damaged",
     "Takes the writer's lock (exit 7 while another writer has the table). Every segment and constraint is\n"
     "verified as `check` does; damaged data is refused (exit 6, the file and offset on standard\n"
     "error) and nothing is written. Then the manifest's copies of each segment's encoding and zone\n"
     "map are rebuilt from the segments and the manifest replaced atomically.", tbl_repair},
    {"compact", 1, 1, "DIR", 0, "rewrite the row groups without deleted rows (ids are kept)", NULL, tbl_compact},
    {"schema", 1, 1, "DIR", OPT_JSON, "print the schema (canonical text form)",
     "  --json   the JSON list of column objects", tbl_schema},
    {"import", 2, 2, "DIR FILE.csv", 0, "insert the rows of a CSV file whose header row names the columns",
     "FILE is a path, or '-' for standard input. RFC 4180 CSV: fields separated by commas, quoted with\n"
     "\"...\" (\"\" for a quote inside), lines ended by \\n or \\r\\n. Each field is converted by its\n"
     "column's type: integers, numbers (nan, inf, -inf too), true/false (also 1/0, yes/no), text as is\n"
     "(UTF-8), bytes in hex, timestamps as YYYY-MM-DDTHH:MM:SS[.ffffff]Z (or an offset) or integer\n"
     "microseconds. An empty field takes the column's default (null when it has none); a quoted\n"
     "empty field \"\" is the empty string or empty bytes. Columns missing from the header take their\n"
     "defaults. All rows or none are inserted (one transaction); an error names the line.",
     tbl_import},
    {"export", 1, 2, "DIR [FILE.csv]", 0, "write the rows as CSV (to FILE or standard output), header first",
     "The columns in schema order, without the row ids; null is an empty field, the empty string and\n"
     "empty bytes are \"\", bytes are hex, timestamps UTC ISO 8601, numbers in their shortest exact form.\n"
     "`cairn table import` reads it back.",
     tbl_export},
    {"select", 1, 1, "DIR", OPT_WHERE | OPT_PARAM | OPT_COLUMNS | OPT_ORDER | OPT_LIMIT | OPT_JSON | OPT_CSV,
     "print the rows matching a query: an aligned table on a terminal, JSON lines otherwise",
     "  --where EXPR    a condition: `score > ? AND name STARTS WITH 'A'`, `cat IN (1, 2)`, `x IS NULL`,\n"
     "                  BETWEEN, NOT, OR, parentheses (cairn/table.h, queries); or its JSON form\n"
     "                  (a triple [\"col\",\"op\",value] or an object), given as JSON\n"
     "  --param V       the value of the next `?`: a JSON value (21, 1.5, true, null, \"21\",\n"
     "                  {\"$bytes\":\"00ff\"}); anything that is not JSON is a string\n"
     "  --columns a,b   the columns to print (`_id` is the row id; default: _id and every column)\n"
     "  --order c,-d    sort by c ascending, then d descending (nulls last; ties by _id)\n"
     "  --limit N, --offset N   at most N rows, after skipping N\n"
     "  --json          one JSON object a line (the default when standard output is not a terminal)\n"
     "  --csv           CSV with a header row, values as `export` writes them",
     tbl_select},
    {"index", 2, 4, "DIR ACTION [COLUMN [KIND]]", OPT_JSON,
     "`create|drop COLUMN [hash|range]` an index, or `list` them",
     "ACTION is create, drop or list; KIND hash (equality; the default) or range (order and ranges).\n"
     "`create COLUMN [KIND]` builds an index that follows every write and is kept\n"
     "in the table; `drop COLUMN [hash|range]` removes it (exit 1 if there is none); `list` prints\n"
     "`column<TAB>kind` a line. Queries give the same answers with and without indexes.\n"
     "  --json   (list) one JSON object a line: {\"column\",\"kind\"}",
     tbl_index},
    {"dump", 1, 1, "DIR", 0, "write the schema, the indexes and every row (with its id) as JSON lines",
     "Binary-safe (bytes as {\"$bytes\": hex}, NaN and infinities as {\"$f64\": ...}). The header line\n"
     "holds the schema text, the next row id and the indexes; then one {\"id\":N,\"row\":{...}} a line.\n"
     "The format is specified in docs/cli.md. Restore with `cairn table load`.", tbl_dump},
    {"load", 1, 2, "DIR [FILE]", 0, "load a table dump (from FILE or standard input), creating the table",
     "The table is created with the dump's schema if missing; an existing one must have the same\n"
     "schema. Ids are kept when the table has handed out none of them (a new table: always); the ids\n"
     "of deleted rows and the next id stay used, so a dump of the copy is the same text. Else the\n"
     "rows get new ids in the same order. Rows go in transactions of 4096, synced at the end; what\n"
     "was loaded before an error stays. The indexes of the dump are created at the end.", tbl_load},
    CLI_SNAP_COMMANDS(table, "DIR", "DIR/snapshots/", "DEST (missing or an empty directory)"),
    {NULL, 0, 0, NULL, 0, NULL, NULL, NULL}};
