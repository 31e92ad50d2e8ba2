/* test_metrics.c - cairn_<engine>_metrics: the Prometheus text exposition format (0.0.4) of every
 * engine's statistics. The output is parsed line by line: each family is a # HELP line, a # TYPE
 * line and one sample with the escaped store label; names, types and values are checked against
 * the engine's stats struct, and nothing else may appear. KV and the blob store add their
 * per-handle operation counters (KV puts, gets, deletes; blob creates, reads, updates, deletes;
 * commits, bytes written, fsyncs, errors by code), checked against the calls the test made; the
 * repository too (saves, loads, puts, deletes, gets, objects and bytes written, fsyncs, errors). */
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "testutil.h"

typedef struct want {
    const char *name; /* full metric name */
    const char *type;
    uint64_t value;
} want;

#define ANY UINT64_MAX /* a want whose value the test checks itself */

typedef struct sample {
    char name[128], type[16], label[1024];
    char value[32];
    int help;
} sample;

/* The label value as the format escapes it. */
static void escape(const char *s, char *out, size_t cap) {
    size_t n = 0;
    for (; *s && n + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') {
            out[n++] = '\\';
            out[n++] = *s;
        } else if (*s == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = *s;
        }
    }
    out[n] = 0;
}

/* Parse text into families (HELP, TYPE, sample per family); fails the test on a malformed line. */
static size_t parse(const char *text, sample *out, size_t cap) {
    size_t n = 0;
    const char *p = text;
    ck_assert_ptr_nonnull(text);
    ck_assert_int_gt((int)strlen(text), 0);
    ck_assert_int_eq(text[strlen(text) - 1], '\n');
    while (*p) {
        const char *eol = strchr(p, '\n');
        char line[2048];
        size_t len;
        ck_assert_ptr_nonnull(eol);
        len = (size_t)(eol - p);
        ck_assert_uint_lt(len, sizeof line);
        memcpy(line, p, len);
        line[len] = 0;
        p = eol + 1;
        if (!strncmp(line, "# HELP ", 7)) {
            char *sp = strchr(line + 7, ' ');
            ck_assert_uint_lt(n, cap);
            memset(&out[n], 0, sizeof out[n]);
            ck_assert_msg(sp && sp[1], "HELP without text: %s", line);
            *sp = 0;
            ck_assert_uint_lt(strlen(line + 7), sizeof out[n].name);
            strcpy(out[n].name, line + 7);
            out[n].help = 1;
        } else if (!strncmp(line, "# TYPE ", 7)) {
            char *sp = strchr(line + 7, ' ');
            ck_assert_msg(n < cap && out[n].help, "TYPE before HELP: %s", line);
            ck_assert_ptr_nonnull(sp);
            *sp = 0;
            ck_assert_str_eq(line + 7, out[n].name);
            ck_assert_msg(!strcmp(sp + 1, "gauge") || !strcmp(sp + 1, "counter"), "type %s", sp + 1);
            strcpy(out[n].type, sp + 1);
        } else {
            /* name{store="..."} value */
            char *brace = strchr(line, '{'), *end, *v;
            size_t nl;
            ck_assert_msg(n < cap && out[n].type[0], "sample before TYPE: %s", line);
            ck_assert_ptr_nonnull(brace);
            nl = (size_t)(brace - line);
            ck_assert_msg(nl == strlen(out[n].name) && !strncmp(line, out[n].name, nl), "sample of another family: %s",
                          line);
            ck_assert_msg(!strncmp(brace, "{store=\"", 8), "label: %s", line);
            /* the label value ends at the first unescaped quote */
            for (end = brace + 8; *end && *end != '"'; end++)
                if (*end == '\\') {
                    end++;
                    ck_assert_msg(*end == '\\' || *end == '"' || *end == 'n', "bad escape in %s", line);
                }
            ck_assert_int_eq(*end, '"');
            ck_assert_int_eq(end[1], '}');
            ck_assert_int_eq(end[2], ' ');
            *end = 0;
            strcpy(out[n].label, brace + 8);
            v = end + 3;
            ck_assert_msg(*v && strspn(v, "0123456789") == strlen(v), "value %s", v);
            strcpy(out[n].value, v);
            n++;
        }
    }
    return n;
}

/* Every family of text matches `w` in order, with the store label of path, and nothing else. */
static void check_metrics(const char *text, const char *path, const want *w, size_t nw) {
    sample s[32];
    char lab[1024], num[32];
    size_t n = parse(text, s, 32), i;
    escape(path, lab, sizeof lab);
    ck_assert_uint_eq(n, nw);
    for (i = 0; i < n; i++) {
        size_t l = strlen(w[i].name);
        ck_assert_str_eq(s[i].name, w[i].name);
        ck_assert_str_eq(s[i].type, w[i].type);
        /* naming conventions: counters end in _total, nothing else does */
        ck_assert_int_eq(!strcmp(w[i].type, "counter"), l > 6 && !strcmp(w[i].name + l - 6, "_total"));
        ck_assert_str_eq(s[i].label, lab);
        if (w[i].value == ANY) continue; /* checked by the caller (metric_value) */
        snprintf(num, sizeof num, "%llu", (unsigned long long)w[i].value);
        ck_assert_msg(!strcmp(s[i].value, num), "%s: %s, stats say %s", w[i].name, s[i].value, num);
    }
}

/* The value of metric `name` in text (fails if absent). */
static uint64_t metric_value(const char *text, const char *name) {
    char pat[160];
    const char *p;
    snprintf(pat, sizeof pat, "\n%s{", name);
    p = strstr(text, pat);
    ck_assert_msg(p != NULL, "no %s in:\n%s", name, text);
    p = strstr(p, "} ");
    return strtoull(p + 2, NULL, 10);
}

/* The KV operation counters after the stats families (values checked by the caller). */
#define KV_COUNTERS                                                                                          \
    {"cairn_kv_puts_total", "counter", ANY}, {"cairn_kv_gets_total", "counter", ANY},                          \
    {"cairn_kv_deletes_total", "counter", ANY}, {"cairn_kv_commits_total", "counter", ANY},                    \
    {"cairn_kv_written_bytes_total", "counter", ANY}, {"cairn_kv_fsyncs_total", "counter", ANY}

/* The blob operation counters after the stats families (values checked by the caller). */
#define BLOB_COUNTERS                                                                                        \
    {"cairn_blob_creates_total", "counter", ANY}, {"cairn_blob_reads_total", "counter", ANY},                  \
    {"cairn_blob_updates_total", "counter", ANY}, {"cairn_blob_deletes_total", "counter", ANY},                \
    {"cairn_blob_commits_total", "counter", ANY}, {"cairn_blob_written_bytes_total", "counter", ANY},          \
    {"cairn_blob_fsyncs_total", "counter", ANY}

static void setup(void) { ct_tmp_create("metrics"); }
static void teardown(void) { ct_tmp_remove(); }

START_TEST(kv_metrics_match_stats) {
    cairn_kv *kv = NULL;
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    char *text = NULL;
    const char *path = ct_path("kv store");
    ck_assert_int_eq(cairn_kv_open(&kv, path, NULL), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "a", 1, "1", 1, CAIRN_KIND_TEXT), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "a", 1, "22", 2, CAIRN_KIND_TEXT), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "b", 1, "333", 3, CAIRN_KIND_TEXT), 0);
    ck_assert_int_eq(cairn_kv_compact(kv), 0);
    ck_assert_int_eq(cairn_kv_put(kv, "b", 1, "4444", 4, CAIRN_KIND_TEXT), 0);
    {
        /* operations and errors by code: 2 gets (one a miss), 1 delete, 2 NOTFOUND, 1 INVALID */
        void *v = NULL;
        size_t n = 0;
        ck_assert_int_eq(cairn_kv_get(kv, "a", 1, &v, &n, NULL), 0);
        cairn_free(v);
        ck_assert_int_eq(cairn_kv_get(kv, "zz", 2, &v, &n, NULL), CAIRN_NOTFOUND);
        ck_assert_int_eq(cairn_kv_delete(kv, "a", 1), 0);
        ck_assert_int_eq(cairn_kv_delete(kv, "a", 1), CAIRN_NOTFOUND);
        ck_assert_int_eq(cairn_kv_put(kv, "", 0, "x", 1, CAIRN_KIND_TEXT), CAIRN_INVALID); /* an empty key */
        ck_assert_int_eq(cairn_kv_put(kv, "a", 1, "22", 2, CAIRN_KIND_TEXT), 0);
        ck_assert_int_eq(cairn_kv_begin(kv), 0);
        ck_assert_int_eq(cairn_kv_put(kv, "t", 1, "in txn", 6, CAIRN_KIND_TEXT), 0);
        ck_assert_int_eq(cairn_kv_commit(kv), 0);
    }
    ck_assert_int_eq(cairn_kv_begin(kv), 0);
    ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
    ck_assert_int_eq(cairn_kv_metrics(kv, &text), 0);
    ck_assert_uint_eq(metric_value(text, "cairn_kv_puts_total"), 6);
    ck_assert_uint_eq(metric_value(text, "cairn_kv_gets_total"), 2);
    ck_assert_uint_eq(metric_value(text, "cairn_kv_deletes_total"), 1);
    ck_assert_uint_eq(metric_value(text, "cairn_kv_commits_total"), 1);
    /* every record written holds its key and value; one fsync per durable write at least
     * (CAIRN_SYNC_COMMIT: 5 bare puts, 1 delete, 1 commit) */
    ck_assert_uint_gt(metric_value(text, "cairn_kv_written_bytes_total"), 2 + 3 + 1 + 4 + 1 + 3 + 1 + 7);
    ck_assert_uint_ge(metric_value(text, "cairn_kv_fsyncs_total"), 7);
    {
        /* bytes written grow by one record per put */
        char *again = NULL;
        uint64_t before = metric_value(text, "cairn_kv_written_bytes_total"), fs = metric_value(text, "cairn_kv_fsyncs_total");
        ck_assert_int_eq(cairn_kv_rollback(kv), 0);
        ck_assert_int_eq(cairn_kv_put(kv, "c", 1, "xyz", 3, CAIRN_KIND_TEXT), 0);
        ck_assert_int_eq(cairn_kv_metrics(kv, &again), 0);
        ck_assert_uint_gt(metric_value(again, "cairn_kv_written_bytes_total"), before + 4);
        ck_assert_uint_lt(metric_value(again, "cairn_kv_written_bytes_total"), before + 4 + 64);
        ck_assert_uint_eq(metric_value(again, "cairn_kv_fsyncs_total"), fs + 1);
        cairn_free(again);
        ck_assert_int_eq(cairn_kv_delete(kv, "c", 1), 0);
        ck_assert_int_eq(cairn_kv_begin(kv), 0);
        ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
        cairn_free(text);
        ck_assert_int_eq(cairn_kv_metrics(kv, &text), 0);
    }
    {
        const want w[] = {
            {"cairn_kv_keys", "gauge", st.keys},
            {"cairn_kv_data_files", "gauge", st.data_files},
            {"cairn_kv_disk_bytes", "gauge", st.disk_bytes},
            {"cairn_kv_live_bytes", "gauge", st.live_bytes},
            {"cairn_kv_dead_bytes", "gauge", st.dead_bytes},
            {"cairn_kv_keydir_bytes", "gauge", st.keydir_bytes},
            {"cairn_kv_seq", "gauge", st.seq},
            {"cairn_kv_compactions_total", "counter", st.compactions},
            {"cairn_kv_in_txn", "gauge", (uint64_t)st.in_txn},
            KV_COUNTERS,
            {"cairn_kv_errors_notfound_total", "counter", 2},
            {"cairn_kv_errors_invalid_total", "counter", 1},
        };
        ck_assert_uint_eq(st.keys, 3);
        ck_assert_uint_eq(st.compactions, 1);
        ck_assert_uint_gt(st.dead_bytes, 0);
        ck_assert_int_eq(st.in_txn, 1);
        check_metrics(text, path, w, sizeof w / sizeof w[0]);
    }
    cairn_free(text);
    ck_assert_int_eq(cairn_kv_rollback(kv), 0);
    cairn_kv_close(kv);
}
END_TEST

START_TEST(blob_metrics_match_stats) {
    cairn_blob *b = NULL;
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    char *text = NULL;
    uint32_t k1, k2, k3;
    const char *path = ct_path("blob.db");
    ck_assert_int_eq(cairn_blob_open(&b, path, NULL), 0);
    ck_assert_int_eq(cairn_blob_create(b, "hello", 5, &k1), 0);
    ck_assert_int_eq(cairn_blob_create(b, "world!", 6, &k2), 0);
    ck_assert_int_eq(cairn_blob_delete(b, k1), 0);
    {
        /* operations and errors by code: 2 reads (one a miss), 1 update, 3 NOTFOUND (the miss,
         * a delete and an update of a missing key), 1 INVALID, 1 EXISTS, 1 TXN */
        void *v = NULL;
        size_t n = 0;
        ck_assert_int_eq(cairn_blob_read(b, k2, &v, &n), 0);
        cairn_free(v);
        ck_assert_int_eq(cairn_blob_read(b, k1, &v, &n), CAIRN_NOTFOUND);
        ck_assert_int_eq(cairn_blob_delete(b, k1), CAIRN_NOTFOUND);
        ck_assert_int_eq(cairn_blob_update(b, k1, "x", 1), CAIRN_NOTFOUND);
        ck_assert_int_eq(cairn_blob_update(b, k2, NULL, 3), CAIRN_INVALID);
        ck_assert_int_eq(cairn_blob_create_with_key(b, k2, "y", 1), CAIRN_EXISTS);
        ck_assert_int_eq(cairn_blob_commit(b), CAIRN_TXN); /* no transaction */
        ck_assert_int_eq(cairn_blob_update(b, k2, "world?", 6), 0);
        ck_assert_int_eq(cairn_blob_begin(b), 0);
        ck_assert_int_eq(cairn_blob_create(b, "in txn", 6, &k3), 0);
        ck_assert_int_eq(cairn_blob_commit(b), 0);
    }
    ck_assert_int_eq(cairn_blob_stats(b, &st), 0);
    ck_assert_int_eq(cairn_blob_metrics(b, &text), 0);
    ck_assert_uint_eq(metric_value(text, "cairn_blob_creates_total"), 3);
    ck_assert_uint_eq(metric_value(text, "cairn_blob_reads_total"), 2);
    ck_assert_uint_eq(metric_value(text, "cairn_blob_updates_total"), 1);
    ck_assert_uint_eq(metric_value(text, "cairn_blob_deletes_total"), 1);
    ck_assert_uint_eq(metric_value(text, "cairn_blob_commits_total"), 1);
    /* every entry written holds its 32-byte header and payload; CAIRN_SYNC_COMMIT: one log fsync
     * per durable change at least (2 creates, 1 delete, 1 update, 1 commit) */
    ck_assert_uint_gt(metric_value(text, "cairn_blob_written_bytes_total"), 4 * 32 + 5 + 6 + 6 + 6);
    ck_assert_uint_ge(metric_value(text, "cairn_blob_fsyncs_total"), 5);
    {
        /* one more create: bytes written grow by its record (offset, entry header, payload, and
         * at most a header record), fsyncs by one */
        char *again = NULL;
        uint64_t before = metric_value(text, "cairn_blob_written_bytes_total");
        uint64_t fs = metric_value(text, "cairn_blob_fsyncs_total");
        ck_assert_int_eq(cairn_blob_create(b, "0123456789", 10, &k3), 0);
        ck_assert_int_eq(cairn_blob_metrics(b, &again), 0);
        ck_assert_uint_ge(metric_value(again, "cairn_blob_written_bytes_total"), before + 8 + 32 + 10);
        ck_assert_uint_le(metric_value(again, "cairn_blob_written_bytes_total"), before + 8 + 32 + 10 + 8 + 64);
        ck_assert_uint_eq(metric_value(again, "cairn_blob_fsyncs_total"), fs + 1);
        ck_assert_uint_eq(metric_value(again, "cairn_blob_creates_total"), 4);
        cairn_free(again);
    }
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_stats(b, &st), 0);
    cairn_free(text);
    ck_assert_int_eq(cairn_blob_metrics(b, &text), 0);
    {
        const want w[] = {
            {"cairn_blob_entries", "gauge", st.entries},
            {"cairn_blob_live_bytes", "gauge", st.live_bytes},
            {"cairn_blob_free_bytes", "gauge", st.free_bytes},
            {"cairn_blob_free_entries", "gauge", st.free_entries},
            {"cairn_blob_file_size_bytes", "gauge", st.file_size},
            {"cairn_blob_wal_bytes", "gauge", st.wal_bytes},
            {"cairn_blob_next_key", "gauge", st.next_key},
            {"cairn_blob_in_txn", "gauge", (uint64_t)st.in_txn},
            BLOB_COUNTERS,
            {"cairn_blob_errors_notfound_total", "counter", 3},
            {"cairn_blob_errors_exists_total", "counter", 1},
            {"cairn_blob_errors_invalid_total", "counter", 1},
            {"cairn_blob_errors_txn_total", "counter", 1},
        };
        ck_assert_uint_eq(st.entries, 3);
        ck_assert_uint_eq(st.live_bytes, 6 + 6 + 10);
        ck_assert_int_eq(st.in_txn, 1);
        check_metrics(text, path, w, sizeof w / sizeof w[0]);
    }
    cairn_free(text);
    ck_assert_int_eq(cairn_blob_rollback(b), 0);
    cairn_blob_close(b);
    {
        /* a read-only handle counts its reads and writes nothing */
        cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
        void *v = NULL;
        size_t n = 0;
        o.read_only = 1;
        ck_assert_int_eq(cairn_blob_open(&b, path, &o), 0);
        ck_assert_int_eq(cairn_blob_read(b, k2, &v, &n), 0);
        cairn_free(v);
        ck_assert_int_eq(cairn_blob_create(b, "z", 1, &k3), CAIRN_READONLY);
        ck_assert_int_eq(cairn_blob_metrics(b, &text), 0);
        ck_assert_uint_eq(metric_value(text, "cairn_blob_reads_total"), 1);
        ck_assert_uint_eq(metric_value(text, "cairn_blob_creates_total"), 0);
        ck_assert_uint_eq(metric_value(text, "cairn_blob_written_bytes_total"), 0);
        ck_assert_uint_eq(metric_value(text, "cairn_blob_fsyncs_total"), 0);
        ck_assert_uint_eq(metric_value(text, "cairn_blob_errors_readonly_total"), 1);
        cairn_free(text);
        cairn_blob_close(b);
    }
}
END_TEST

/* The table operation counters after the stats families (values checked by the caller). */
#define TABLE_COUNTERS                                                                                       \
    {"cairn_table_inserts_total", "counter", ANY}, {"cairn_table_updates_total", "counter", ANY},              \
    {"cairn_table_deletes_total", "counter", ANY}, {"cairn_table_gets_total", "counter", ANY},                 \
    {"cairn_table_commits_total", "counter", ANY}, {"cairn_table_written_bytes_total", "counter", ANY},        \
    {"cairn_table_fsyncs_total", "counter", ANY}

START_TEST(table_metrics_match_stats) {
    cairn_table *t = NULL;
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    struct cairn_table_stats st = CAIRN_TABLE_STATS_INIT;
    char *text = NULL;
    uint64_t id;
    const char *path = ct_path("table");
    o.schema = "id i64 primary key, name string";
    ck_assert_int_eq(cairn_table_open(&t, path, &o), 0);
    ck_assert_int_eq(cairn_table_insert_json(t, "{\"id\": 1, \"name\": \"a\"}", &id), 0);
    ck_assert_int_eq(cairn_table_insert_json(t, "{\"id\": 2, \"name\": \"b\"}", &id), 0);
    {
        /* gets (a hit and a miss), refused writes (nothing counted but their errors), an update,
         * a delete, a rolled-back transaction (not counted), a committed one, a bulk load */
        char *row = NULL;
        int64_t ids[2000];
        const char *names = "";
        uint64_t offs[2001];
        const void *data[2] = {ids, names};
        const uint64_t *offsets[2] = {NULL, offs};
        size_t i;
        ck_assert_int_eq(cairn_table_get_json(t, 1, &row), 0);
        cairn_free(row);
        ck_assert_int_eq(cairn_table_get_json(t, 99, &row), CAIRN_NOTFOUND);
        ck_assert_int_eq(cairn_table_insert_json(t, "{\"id\": 1, \"name\": \"c\"}", &id), CAIRN_CONSTRAINT);
        ck_assert_int_eq(cairn_table_insert_many_json(t, "[{\"id\": 7}, {\"id\": 7}]", &row), CAIRN_CONSTRAINT);
        ck_assert_int_eq(cairn_table_update_json(t, 1, "{\"name\": \"z\"}"), 0);
        ck_assert_int_eq(cairn_table_delete(t, 2), 0);
        ck_assert_int_eq(cairn_table_delete(t, 2), CAIRN_NOTFOUND);
        ck_assert_int_eq(cairn_table_begin(t), 0);
        ck_assert_int_eq(cairn_table_insert_json(t, "{\"id\": 3}", &id), 0);
        ck_assert_int_eq(cairn_table_delete(t, 1), 0);
        ck_assert_int_eq(cairn_table_rollback(t), 0);
        ck_assert_int_eq(cairn_table_begin(t), 0);
        ck_assert_int_eq(cairn_table_insert_json(t, "{\"id\": 5}", &id), 0);
        ck_assert_int_eq(cairn_table_update_json(t, id, "{\"name\": \"y\"}"), 0);
        ck_assert_int_eq(cairn_table_commit(t), 0);
        ck_assert_int_eq(cairn_table_commit(t), CAIRN_TXN);
        for (i = 0; i < 2000; i++) {
            ids[i] = 100 + (int64_t)i;
            offs[i] = 0;
        }
        offs[2000] = 0;
        ck_assert_int_eq(cairn_table_load_columns(t, 2000, data, NULL, offsets, &id), 0);
    }
    ck_assert_int_eq(cairn_table_stats(t, &st), 0);
    ck_assert_int_eq(cairn_table_metrics(t, &text), 0);
    ck_assert_uint_eq(metric_value(text, "cairn_table_inserts_total"), 2 + 1 + 2000);
    ck_assert_uint_eq(metric_value(text, "cairn_table_updates_total"), 2);
    ck_assert_uint_eq(metric_value(text, "cairn_table_deletes_total"), 1);
    ck_assert_uint_eq(metric_value(text, "cairn_table_gets_total"), 2);
    ck_assert_uint_eq(metric_value(text, "cairn_table_commits_total"), 2 + 1 + 1 + 1 + 1);
    ck_assert_uint_gt(metric_value(text, "cairn_table_written_bytes_total"), 2 * 32 + 2 * 84); /* a segment file, 2 segments at least */
    ck_assert_uint_ge(metric_value(text, "cairn_table_fsyncs_total"), 3); /* the load: segments, manifest, directory */
    {
        /* a checkpoint writes a segment file and a manifest: 3 fsyncs more at least */
        char *again = NULL;
        uint64_t before = metric_value(text, "cairn_table_written_bytes_total");
        uint64_t fs = metric_value(text, "cairn_table_fsyncs_total");
        ck_assert_int_eq(cairn_table_insert_json(t, "{\"id\": 9, \"name\": \"q\"}", &id), 0);
        ck_assert_int_eq(cairn_table_sync(t), 0);
        ck_assert_int_eq(cairn_table_metrics(t, &again), 0);
        ck_assert_uint_gt(metric_value(again, "cairn_table_written_bytes_total"), before + 32 + 64);
        ck_assert_uint_ge(metric_value(again, "cairn_table_fsyncs_total"), fs + 3);
        ck_assert_uint_eq(metric_value(again, "cairn_table_inserts_total"), 2004);
        cairn_free(again);
    }
    ck_assert_int_eq(cairn_table_stats(t, &st), 0);
    cairn_free(text);
    ck_assert_int_eq(cairn_table_metrics(t, &text), 0);
    {
        const want w[] = {
            {"cairn_table_rows", "gauge", st.rows},
            {"cairn_table_deleted_rows", "gauge", st.deleted_rows},
            {"cairn_table_next_id", "gauge", st.next_id},
            {"cairn_table_row_groups", "gauge", st.row_groups},
            {"cairn_table_segments", "gauge", st.segments},
            {"cairn_table_tail_rows", "gauge", st.tail_rows},
            {"cairn_table_disk_bytes", "gauge", st.disk_bytes},
            {"cairn_table_wal_bytes", "gauge", st.wal_bytes},
            {"cairn_table_checkpoints_total", "counter", st.checkpoints},
            {"cairn_table_columns", "gauge", st.columns},
            {"cairn_table_in_txn", "gauge", (uint64_t)st.in_txn},
            TABLE_COUNTERS,
            {"cairn_table_errors_notfound_total", "counter", 2},
            {"cairn_table_errors_txn_total", "counter", 1},
            {"cairn_table_errors_constraint_total", "counter", 2},
        };
        ck_assert_uint_eq(st.rows, 2003);
        ck_assert_uint_eq(st.columns, 2);
        check_metrics(text, path, w, sizeof w / sizeof w[0]);
    }
    cairn_free(text);
    cairn_table_close(t);
    {
        /* a read-only handle counts its gets and writes nothing */
        char *row = NULL;
        o.schema = NULL;
        o.read_only = 1;
        ck_assert_int_eq(cairn_table_open(&t, path, &o), 0);
        ck_assert_int_eq(cairn_table_get_json(t, 1, &row), 0);
        cairn_free(row);
        ck_assert_int_eq(cairn_table_insert_json(t, "{\"id\": 11}", &id), CAIRN_READONLY);
        ck_assert_int_eq(cairn_table_metrics(t, &text), 0);
        ck_assert_uint_eq(metric_value(text, "cairn_table_gets_total"), 1);
        ck_assert_uint_eq(metric_value(text, "cairn_table_inserts_total"), 0);
        ck_assert_uint_eq(metric_value(text, "cairn_table_written_bytes_total"), 0);
        ck_assert_uint_eq(metric_value(text, "cairn_table_fsyncs_total"), 0);
        ck_assert_uint_eq(metric_value(text, "cairn_table_errors_readonly_total"), 1);
        cairn_free(text);
        cairn_table_close(t);
    }
}
END_TEST

/* The repository operation counters after the stats families (values checked by the caller). */
#define REPO_COUNTERS                                                                                        \
    {"cairn_repo_saves_total", "counter", ANY}, {"cairn_repo_loads_total", "counter", ANY},                    \
    {"cairn_repo_puts_total", "counter", ANY}, {"cairn_repo_deletes_total", "counter", ANY},                   \
    {"cairn_repo_gets_total", "counter", ANY}, {"cairn_repo_objects_written_total", "counter", ANY},           \
    {"cairn_repo_written_bytes_total", "counter", ANY}, {"cairn_repo_fsyncs_total", "counter", ANY}

/* The bytes of every pack and ref log under dir (what a writer's counters account for). */
static uint64_t tree_bytes(const char *dir) {
    char cmd[2048], line[64];
    FILE *f;
    uint64_t n = 0;
    snprintf(cmd, sizeof cmd, "find '%s' -type f \\( -name 'pack-*' -o -name refs.log \\) -printf '%%s\\n'", dir);
    ck_assert_ptr_nonnull(f = popen(cmd, "r"));
    while (fgets(line, sizeof line, f)) n += strtoull(line, NULL, 10);
    ck_assert_int_eq(pclose(f), 0);
    return n;
}

START_TEST(repo_metrics_match_stats) {
    cairn_repo *r = NULL;
    struct cairn_repo_stats st = CAIRN_REPO_STATS_INIT;
    char *text = NULL, d1[CAIRN_DIGEST_HEX + 1], d2[CAIRN_DIGEST_HEX + 1];
    const char *path = ct_path("repo");
    const void *keys[3] = {"a", "b", "c"}, *vals[3] = {"1", "2", "3"};
    const size_t kl[3] = {1, 1, 1}, vl[3] = {1, 1, 1};
    void *v;
    size_t n;
    int kind;
    ck_assert_int_eq(cairn_repo_open(&r, path, NULL), 0);
    ck_assert_int_eq(cairn_repo_init(r, "acme"), 0);
    ck_assert_int_eq(cairn_repo_save(r, "acme", "ann", "doc", "v1", 2, CAIRN_KIND_TEXT, d1), 0);
    /* the same content again: a new version object, the value object deduplicated */
    ck_assert_int_eq(cairn_repo_save(r, "acme", "ann", "doc", "v1", 2, CAIRN_KIND_TEXT, d2), 0);
    ck_assert_int_eq(cairn_repo_load(r, "acme", "doc", NULL, &v, &n, &kind), 0);
    cairn_free(v);
    ck_assert_int_eq(cairn_repo_load(r, "acme", "doc", d1, &v, &n, &kind), 0);
    cairn_free(v);
    /* errors by code: an unknown entry (NOTFOUND), an unknown tenant (NOTFOUND), a bad digest
     * (INVALID), a put into a whole value (TYPE) */
    ck_assert_int_eq(cairn_repo_load(r, "acme", "nope", NULL, &v, &n, &kind), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_repo_save(r, "nobody", "ann", "doc", "x", 1, CAIRN_KIND_BYTES, NULL), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_repo_load(r, "acme", "doc", "xyz", &v, &n, &kind), CAIRN_INVALID);
    ck_assert_int_eq(cairn_repo_put(r, "acme", "ann", "doc", "k", 1, "v", 1, CAIRN_KIND_BYTES, NULL), CAIRN_TYPE);
    /* a collection: put_many of 3 records, one put, one delete, two gets (one a miss) */
    ck_assert_int_eq(cairn_repo_put_many(r, "acme", "ann", "c", 3, keys, kl, vals, vl, NULL, NULL), 0);
    ck_assert_int_eq(cairn_repo_put(r, "acme", "ann", "c", "d", 1, "4", 1, CAIRN_KIND_BYTES, NULL), 0);
    ck_assert_int_eq(cairn_repo_delete(r, "acme", "ann", "c", "a", 1, NULL), 0);
    ck_assert_int_eq(cairn_repo_get(r, "acme", "c", NULL, "b", 1, &v, &n, &kind), 0);
    cairn_free(v);
    ck_assert_int_eq(cairn_repo_get(r, "acme", "c", NULL, "a", 1, &v, &n, &kind), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_repo_stats(r, &st), 0);
    ck_assert_int_eq(cairn_repo_metrics(r, &text), 0);
    {
        const want w[] = {
            {"cairn_repo_tenants", "gauge", st.tenants},
            {"cairn_repo_objects", "gauge", st.objects},
            {"cairn_repo_disk_bytes", "gauge", st.disk_bytes},
            REPO_COUNTERS,
            {"cairn_repo_errors_notfound_total", "counter", 3},
            {"cairn_repo_errors_invalid_total", "counter", 1},
            {"cairn_repo_errors_type_total", "counter", 1},
        };
        ck_assert_uint_eq(st.tenants, 1);
        ck_assert_uint_gt(st.objects, 0);
        check_metrics(text, path, w, sizeof w / sizeof w[0]);
    }
    ck_assert_uint_eq(metric_value(text, "cairn_repo_saves_total"), 2);
    ck_assert_uint_eq(metric_value(text, "cairn_repo_loads_total"), 2);
    ck_assert_uint_eq(metric_value(text, "cairn_repo_puts_total"), 4);
    ck_assert_uint_eq(metric_value(text, "cairn_repo_deletes_total"), 1);
    ck_assert_uint_eq(metric_value(text, "cairn_repo_gets_total"), 1);
    /* every object of this fresh repository was written by this handle, once */
    ck_assert_uint_eq(metric_value(text, "cairn_repo_objects_written_total"), st.objects);
    /* nothing was rewritten: the bytes written are the packs and the ref log as they are */
    ck_assert_uint_eq(metric_value(text, "cairn_repo_written_bytes_total"), tree_bytes(path));
    /* sync COMMIT: at least the pack and the ref log per change (7 changes) */
    ck_assert_uint_ge(metric_value(text, "cairn_repo_fsyncs_total"), 14);
    cairn_free(text);
    cairn_repo_close(r);
}
END_TEST

/* The store label escapes backslash, double quote and line feed; the raw text never holds them
 * unescaped inside the label. */
START_TEST(label_is_escaped) {
    cairn_kv *kv = NULL;
    char *text = NULL, *line;
    const char *path = ct_path("we\"ird\\dir\nname");
    ck_assert_int_eq(cairn_kv_open(&kv, path, NULL), 0);
    ck_assert_int_eq(cairn_kv_metrics(kv, &text), 0);
    line = strstr(text, "\ncairn_kv_keys{");
    ck_assert_ptr_nonnull(line);
    ck_assert_msg(strstr(line, "we\\\"ird\\\\dir\\nname\"} 0\n") != NULL, "label not escaped: %s", line);
    {
        const want w[] = {
            {"cairn_kv_keys", "gauge", 0},         {"cairn_kv_data_files", "gauge", 0},
            {"cairn_kv_disk_bytes", "gauge", 0},   {"cairn_kv_live_bytes", "gauge", 0},
            {"cairn_kv_dead_bytes", "gauge", 0},   {"cairn_kv_keydir_bytes", "gauge", 0},
            {"cairn_kv_seq", "gauge", 0},          {"cairn_kv_compactions_total", "counter", 0},
            {"cairn_kv_in_txn", "gauge", 0},
            KV_COUNTERS,
        };
        struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
        want w2[sizeof w / sizeof w[0]];
        memcpy(w2, w, sizeof w);
        ck_assert_int_eq(cairn_kv_stats(kv, &st), 0);
        w2[2].value = st.disk_bytes; /* the LOCK file (empty) */
        w2[5].value = st.keydir_bytes;
        check_metrics(text, path, w2, sizeof w2 / sizeof w2[0]);
    }
    cairn_free(text);
    cairn_kv_close(kv);
}
END_TEST

START_TEST(bad_arguments) {
    cairn_kv *kv = NULL;
    char *text = (char *)"untouched";
    ck_assert_int_eq(cairn_kv_metrics(NULL, &text), CAIRN_INVALID);
    ck_assert_ptr_null(text);
    ck_assert_int_eq(cairn_blob_metrics(NULL, &text), CAIRN_INVALID);
    ck_assert_int_eq(cairn_table_metrics(NULL, &text), CAIRN_INVALID);
    ck_assert_int_eq(cairn_repo_metrics(NULL, &text), CAIRN_INVALID);
    ck_assert_ptr_null(text);
    ck_assert_int_eq(cairn_kv_open(&kv, ct_path("kv"), NULL), 0);
    ck_assert_int_eq(cairn_kv_metrics(kv, NULL), CAIRN_INVALID);
    cairn_kv_close(kv);
}
END_TEST

int main(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("unit");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, kv_metrics_match_stats);
    tcase_add_test(tc, blob_metrics_match_stats);
    tcase_add_test(tc, table_metrics_match_stats);
    tcase_add_test(tc, repo_metrics_match_stats);
    tcase_add_test(tc, label_is_escaped);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return ct_run(s);
}
