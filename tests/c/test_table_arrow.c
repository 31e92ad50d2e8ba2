/* test_table_arrow.c - Check tests of the Arrow export (cairn_table_export_stream / _column / _ipc):
 * a small independent reader walks what is exported (struct batches, validity bitmaps, bit-packed
 * bools, large offsets, fixed-size binary, dictionary-encoded columns) and checks every value
 * against cairn_table_get, for every type, nulls, deleted rows, overlaid (updated) rows, the tail
 * and several row groups; the snapshot (writes after export are not seen); both release orders;
 * arrays that outlive the stream and the handle; the zero-copy claim (an f64 buffer inside the
 * mapping of a segment file); the IPC bytes' framing. */
#include "cairn.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void mk_tmp(void) { ct_tmp_create("tarrow"); }
static void rm_tmp(void) { ct_tmp_remove(); }

#define OK(x)                                                                                                  \
    do {                                                                                                       \
        int rc_ = (x);                                                                                         \
        ck_assert_msg(rc_ == 0, "%s: %s %s", #x, cairn_errname(rc_), cairn_errmsg());                          \
    } while (0)
#define ERR(code, x)                                                                                           \
    do {                                                                                                       \
        int rc_ = (x);                                                                                         \
        ck_assert_msg(rc_ == (code), "%s: want %s, got %s %s", #x, cairn_errname(code), cairn_errname(rc_),     \
                      cairn_errmsg());                                                                         \
    } while (0)

static cairn_table *topen(const char *name, const char *schema, uint32_t ckpt) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    o.schema = schema;
    o.checkpoint_rows = ckpt;
    OK(cairn_table_open(&t, ct_path(name), &o));
    return t;
}

/* ---- the reader: one value of an Arrow array ---- */

static int bit(const void *bm, int64_t i) { return (((const uint8_t *)bm)[i >> 3] >> (i & 7)) & 1; }

/* read value i of array a (schema s) into v; bytes borrowed from the array */
static void read_value(const struct ArrowSchema *s, const struct ArrowArray *a, int64_t i, cairn_value *v) {
    const char *f = s->format;
    int64_t j = i + a->offset;
    memset(v, 0, sizeof *v);
    if (a->null_count && a->buffers[0] && !bit(a->buffers[0], j)) {
        v->is_null = 1;
        return;
    }
    ck_assert_msg(a->null_count == 0 || a->buffers[0], "null_count %lld without a bitmap", (long long)a->null_count);
    if (s->dictionary) {
        int64_t k;
        ck_assert_str_eq(f, "i");
        ck_assert_int_eq(a->n_buffers, 2);
        k = ((const int32_t *)a->buffers[1])[j];
        ck_assert(k >= 0 && k < a->dictionary->length);
        read_value(s->dictionary, a->dictionary, k, v);
        return;
    }
    if (!strcmp(f, "c")) v->v.i = ((const int8_t *)a->buffers[1])[j];
    else if (!strcmp(f, "s")) v->v.i = ((const int16_t *)a->buffers[1])[j];
    else if (!strcmp(f, "i")) v->v.i = ((const int32_t *)a->buffers[1])[j];
    else if (!strcmp(f, "l") || !strcmp(f, "tsu:UTC")) v->v.i = ((const int64_t *)a->buffers[1])[j];
    else if (!strcmp(f, "C")) v->v.u = ((const uint8_t *)a->buffers[1])[j];
    else if (!strcmp(f, "S")) v->v.u = ((const uint16_t *)a->buffers[1])[j];
    else if (!strcmp(f, "I")) v->v.u = ((const uint32_t *)a->buffers[1])[j];
    else if (!strcmp(f, "L")) v->v.u = ((const uint64_t *)a->buffers[1])[j];
    else if (!strcmp(f, "f")) v->v.f = ((const float *)a->buffers[1])[j];
    else if (!strcmp(f, "g")) v->v.f = ((const double *)a->buffers[1])[j];
    else if (!strcmp(f, "b")) v->v.b = bit(a->buffers[1], j);
    else if (!strncmp(f, "w:", 2)) {
        size_t w = (size_t)atoi(f + 2);
        v->v.s.bytes = (const uint8_t *)a->buffers[1] + (size_t)j * w;
        v->v.s.len = w;
    } else if (!strcmp(f, "U") || !strcmp(f, "Z")) {
        const int64_t *o = (const int64_t *)a->buffers[1];
        ck_assert_int_eq(a->n_buffers, 3);
        ck_assert(o[j] <= o[j + 1]);
        v->v.s.bytes = (const uint8_t *)a->buffers[2] + o[j];
        v->v.s.len = (size_t)(o[j + 1] - o[j]);
    } else {
        ck_abort_msg("unexpected format %s", f);
    }
}

static int fmt_is_bytes(const char *f) { return !strncmp(f, "w:", 2) || !strcmp(f, "U") || !strcmp(f, "Z"); }

static void same_value(const struct ArrowSchema *s, const cairn_value *got, const cairn_value *want, int type,
                       const char *what) {
    const char *f = s->dictionary ? s->dictionary->format : s->format;
    ck_assert_msg(got->is_null == want->is_null, "%s: null %d, want %d", what, got->is_null, want->is_null);
    if (want->is_null) return;
    if (fmt_is_bytes(f)) {
        ck_assert_msg(got->v.s.len == want->v.s.len && !memcmp(got->v.s.bytes, want->v.s.bytes, got->v.s.len),
                      "%s: bytes differ", what);
    } else if (type == CAIRN_TYPE_F32 || type == CAIRN_TYPE_F64) {
        ck_assert_msg(got->v.f == want->v.f || (isnan(got->v.f) && isnan(want->v.f)), "%s: %g, want %g", what,
                      got->v.f, want->v.f);
    } else if (type == CAIRN_TYPE_BOOL) {
        ck_assert_msg(!got->v.b == !want->v.b, "%s: bool %d want %d", what, got->v.b, want->v.b);
    } else {
        ck_assert_msg(got->v.u == want->v.u, "%s: %lld, want %lld", what, (long long)got->v.i, (long long)want->v.i);
    }
}

static const char *want_format(int type) {
    switch (type) {
    case CAIRN_TYPE_I8: return "c";
    case CAIRN_TYPE_I16: return "s";
    case CAIRN_TYPE_I32: return "i";
    case CAIRN_TYPE_I64: return "l";
    case CAIRN_TYPE_U8: return "C";
    case CAIRN_TYPE_U16: return "S";
    case CAIRN_TYPE_U32: return "I";
    case CAIRN_TYPE_U64: return "L";
    case CAIRN_TYPE_F32: return "f";
    case CAIRN_TYPE_F64: return "g";
    case CAIRN_TYPE_BOOL: return "b";
    case CAIRN_TYPE_STRING: return "U";
    case CAIRN_TYPE_BYTES: return "Z";
    case CAIRN_TYPE_TIMESTAMP: return "tsu:UTC";
    default: return NULL;
    }
}

/* Walk a whole stream of every column ("_id" first) and check each row against cairn_table_get.
 * Returns the rows seen; *batches the number of batches, *dict_cols how many columns came
 * dictionary-encoded. */
static uint64_t check_stream(cairn_table *t, struct ArrowArrayStream *st, size_t *batches, size_t *dict_cols) {
    struct ArrowSchema sch;
    size_t ncols, c, nb = 0;
    uint64_t rows = 0, prev = 0;
    OK(cairn_table_ncols(t, &ncols));
    ck_assert_int_eq(st->get_schema(st, &sch), 0);
    ck_assert_str_eq(sch.format, "+s");
    ck_assert_int_eq(sch.n_children, (int64_t)ncols + 1);
    ck_assert_str_eq(sch.children[0]->name, "_id");
    ck_assert_str_eq(sch.children[0]->format, "L");
    if (dict_cols) *dict_cols = 0;
    for (c = 0; c < ncols; c++) {
        const char *name, *f;
        int type, nullable;
        uint32_t fl;
        const struct ArrowSchema *cs = sch.children[c + 1];
        OK(cairn_table_column(t, c, &name, &type, &fl, &nullable));
        ck_assert_str_eq(cs->name, name);
        ck_assert_int_eq(!!(cs->flags & ARROW_FLAG_NULLABLE), !!nullable);
        f = cs->dictionary ? cs->dictionary->format : cs->format;
        if (cs->dictionary && dict_cols) (*dict_cols)++;
        if (type == CAIRN_TYPE_FIXED) {
            char w[32];
            snprintf(w, sizeof w, "w:%u", fl);
            ck_assert_str_eq(f, w);
        } else {
            ck_assert_str_eq(f, want_format(type));
        }
    }
    for (;;) {
        struct ArrowArray a;
        int64_t i;
        ck_assert_int_eq(st->get_next(st, &a), 0);
        if (!a.release) break;
        nb++;
        ck_assert_int_eq(a.n_children, (int64_t)ncols + 1);
        ck_assert_int_eq(a.null_count, 0);
        for (c = 0; c <= ncols; c++) ck_assert_int_eq(a.children[c]->length, a.length);
        for (i = 0; i < a.length; i++) {
            cairn_value idv, *row = NULL;
            read_value(sch.children[0], a.children[0], i, &idv);
            ck_assert(!idv.is_null);
            ck_assert_msg(idv.v.u > prev, "ids not ascending: %llu after %llu", (unsigned long long)idv.v.u,
                          (unsigned long long)prev);
            prev = idv.v.u;
            OK(cairn_table_get(t, idv.v.u, &row));
            for (c = 0; c < ncols; c++) {
                cairn_value got;
                const char *name;
                int type, nullable;
                uint32_t fl;
                char what[96];
                OK(cairn_table_column(t, c, &name, &type, &fl, &nullable));
                read_value(sch.children[c + 1], a.children[c + 1], i, &got);
                snprintf(what, sizeof what, "row %llu column %s", (unsigned long long)idv.v.u, name);
                same_value(sch.children[c + 1], &got, &row[c], type, what);
            }
            cairn_free(row);
            rows++;
        }
        a.release(&a);
        ck_assert_ptr_null(a.release);
    }
    sch.release(&sch);
    if (batches) *batches = nb;
    return rows;
}

static const char *ALL =
    "a i8, b i16, c i32, d i64, e u8, f u16, g u32, h u64, x f32, y f64, z bool, w bytes:3, s string, "
    "r bytes, ts timestamp";

static int outside_check; /* --ipc-out: no Check assertions (they report to a test runner) */

static void insert_all(cairn_table *t, int i) {
    char row[1024], hex[32];
    int k;
    for (k = 0; k < i % 5; k++) snprintf(hex + 2 * k, 3, "%02x", (i * 37 + k) & 0xff);
    hex[2 * (i % 5)] = 0;
    if (i % 7 == 3) {
        snprintf(row, sizeof row, "{\"a\": null, \"s\": null, \"y\": null, \"z\": null, \"w\": null, \"r\": null}");
    } else {
        snprintf(row, sizeof row,
                 "{\"a\": %d, \"b\": %d, \"c\": %d, \"d\": %lld, \"e\": %d, \"f\": %d, \"g\": %u, \"h\": %llu, "
                 "\"x\": %d.5, \"y\": %d.25, \"z\": %s, \"w\": {\"$bytes\": \"%06x\"}, \"s\": \"s%d\", "
                 "\"r\": {\"$bytes\": \"%s\"}, \"ts\": %lld}",
                 i % 100 - 50, i * 3 - 1000, i * 1000, (long long)i * 1000000007LL, i % 256, i % 65536,
                 (unsigned)i * 70000u, (unsigned long long)i * 123456789012ULL, i, i * 3, i % 3 ? "true" : "false",
                 i & 0xffffff, i % 10, hex, (long long)i * 1000);
    }
    if (outside_check) {
        if (cairn_table_insert_json(t, row, NULL)) {
            fprintf(stderr, "insert: %s\n", cairn_errmsg());
            exit(1);
        }
        return;
    }
    OK(cairn_table_insert_json(t, row, NULL));
}

START_TEST(every_type_groups_tail_deletes_overlays) {
    cairn_table *t = topen("all", ALL, 200);
    struct ArrowArrayStream st;
    uint64_t n;
    size_t nb = 0, i;
    for (i = 1; i <= 1000; i++) insert_all(t, (int)i);
    /* deletes in groups and in the tail, updates of checkpointed rows (overlays) */
    for (i = 5; i <= 1000; i += 37) OK(cairn_table_delete(t, i));
    OK(cairn_table_update_json(t, 10, "{\"s\": \"changed\", \"y\": 99.5, \"z\": null, \"a\": 7}"));
    OK(cairn_table_update_json(t, 650, "{\"r\": {\"$bytes\": \"ff00ff\"}, \"h\": 1}"));
    for (i = 1001; i <= 1100; i++) insert_all(t, (int)i);
    OK(cairn_table_delete(t, 1050));
    OK(cairn_table_count(t, &n));
    OK(cairn_table_export_stream(t, NULL, &st));
    ck_assert_uint_eq(check_stream(t, &st, &nb, NULL), n);
    ck_assert_uint_ge(nb, 5); /* 1000 rows in groups of 200, and the tail */
    ck_assert_ptr_null(st.get_last_error(&st));
    st.release(&st);
    ck_assert_ptr_null(st.release);
    /* the same after a reopen (every row in segments) */
    cairn_table_close(t);
    t = topen("all", NULL, 200);
    OK(cairn_table_export_stream(t, NULL, &st));
    ck_assert_uint_eq(check_stream(t, &st, NULL, NULL), n);
    st.release(&st);
    cairn_table_close(t);
}
END_TEST

START_TEST(empty_table_and_snapshot) {
    cairn_table *t = topen("e", "k i64, s string", 0);
    struct ArrowArrayStream st;
    struct ArrowArray a;
    int i;
    OK(cairn_table_export_stream(t, NULL, &st));
    ck_assert_uint_eq(check_stream(t, &st, NULL, NULL), 0);
    st.release(&st);
    /* a snapshot: rows written after the export are not in it, deleted ones still are */
    for (i = 0; i < 10; i++) OK(cairn_table_insert_json(t, "{\"k\": 1, \"s\": \"x\"}", NULL));
    OK(cairn_table_export_stream(t, NULL, &st));
    OK(cairn_table_insert_json(t, "{\"k\": 2}", NULL));
    OK(cairn_table_delete(t, 1));
    OK(cairn_table_sync(t));
    ck_assert_int_eq(st.get_next(&st, &a), 0);
    ck_assert_ptr_nonnull(a.release);
    ck_assert_int_eq(a.length, 10);
    ck_assert_uint_eq(((const uint64_t *)a.children[0]->buffers[1])[0], 1);
    a.release(&a);
    ck_assert_int_eq(st.get_next(&st, &a), 0);
    ck_assert_ptr_null(a.release);
    st.release(&st);
    cairn_table_close(t);
}
END_TEST

/* where is the f64 buffer: inside a read-only mapping of a seg-*.dat file? (Linux /proc) */
static int in_segment_mapping(const void *p) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    int found = 0;
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && (uintptr_t)p >= lo && (uintptr_t)p < hi &&
            strstr(line, "seg-") && strstr(line, ".dat"))
            found = 1;
    }
    fclose(f);
    return found;
}

static double rnd(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0 * 100.0;
}

START_TEST(zero_copy_plain_f64_pinned) {
    cairn_table *t = topen("zc", "v f64 not null, k i32", 0);
    struct ArrowArrayStream st;
    struct ArrowSchema sch;
    struct ArrowArray a;
    uint64_t seed = 42, first_id = 0;
    size_t n = 8192, i;
    double *v = (double *)malloc(n * sizeof *v);
    int32_t *k = (int32_t *)malloc(n * sizeof *k);
    const void *data[2];
    int r;
    for (i = 0; i < n; i++) {
        v[i] = rnd(&seed);
        k[i] = (int32_t)(i % 3);
    }
    data[0] = v;
    data[1] = k;
    OK(cairn_table_load_columns(t, n, data, NULL, NULL, &first_id));
    OK(cairn_table_sync(t)); /* into a row group */
    OK(cairn_table_export_stream(t, NULL, &st));
    ck_assert_int_eq(st.get_schema(&st, &sch), 0);
    ck_assert_str_eq(sch.children[1]->format, "g");
    ck_assert_int_eq(st.get_next(&st, &a), 0);
    ck_assert_int_eq(a.length, (int64_t)n);
    ck_assert_msg(((uintptr_t)a.children[1]->buffers[1] & 7) == 0, "f64 buffer not 8-byte aligned");
    r = in_segment_mapping(a.children[1]->buffers[1]);
    if (r >= 0) ck_assert_msg(r == 1, "the f64 buffer is not inside a segment file's mapping");
    /* the stream goes first, then the handle: the array still reads its pinned segment */
    st.release(&st);
    OK(cairn_table_delete(t, first_id + 3));
    cairn_table_close(t);
    for (i = 0; i < n; i++) ck_assert(((const double *)a.children[1]->buffers[1])[i] == v[i]);
    /* a consumer may move a child out and release the parent first */
    {
        struct ArrowArray child = *a.children[1];
        a.children[1]->release = NULL;
        a.release(&a);
        ck_assert(((const double *)child.buffers[1])[n - 1] == v[n - 1]);
        child.release(&child);
    }
    sch.release(&sch);
    free(v);
    free(k);
}
END_TEST

START_TEST(release_arrays_before_stream) {
    cairn_table *t = topen("ro", "s string, v i64", 50);
    struct ArrowArrayStream st;
    struct ArrowArray a[8];
    size_t na = 0, i;
    char row[64];
    for (i = 0; i < 180; i++) {
        snprintf(row, sizeof row, "{\"s\": \"v%zu\", \"v\": %zu}", i % 5, i);
        OK(cairn_table_insert_json(t, row, NULL));
    }
    OK(cairn_table_export_stream(t, NULL, &st));
    for (;;) {
        ck_assert_uint_lt(na, 8);
        ck_assert_int_eq(st.get_next(&st, &a[na]), 0);
        if (!a[na].release) break;
        na++;
    }
    ck_assert_uint_eq(na, 4); /* 3 groups of 50 and the tail of 30 */
    for (i = 0; i < na; i++) a[i].release(&a[i]);
    st.release(&st);
    /* and a stream released without reading anything */
    OK(cairn_table_export_stream(t, NULL, &st));
    st.release(&st);
    cairn_table_close(t);
}
END_TEST

START_TEST(dictionary_columns) {
    cairn_table *t = topen("dict", "s string, n i32, f bytes:2", 0);
    struct ArrowArrayStream st;
    uint64_t n;
    size_t dict_cols = 0, i;
    char row[128];
    for (i = 0; i < 3000; i++) {
        snprintf(row, sizeof row, "{\"s\": \"category-%zu\", \"n\": %zu, \"f\": {\"$bytes\": \"%04zx\"}}",
                 (i * 7919) % 13, (i * 104729) % 11 * 1000003, (i * 31) % 9);
        OK(cairn_table_insert_json(t, row, NULL));
    }
    OK(cairn_table_sync(t));
    OK(cairn_table_update_json(t, 17, "{\"s\": \"a new value\"}"));
    OK(cairn_table_update_json(t, 18, "{\"s\": null}"));
    OK(cairn_table_delete(t, 19));
    OK(cairn_table_insert_json(t, "{\"s\": \"in the tail\", \"n\": 5}", NULL));
    OK(cairn_table_count(t, &n));
    OK(cairn_table_export_stream(t, NULL, &st));
    ck_assert_uint_eq(check_stream(t, &st, NULL, &dict_cols), n);
    ck_assert_uint_ge(dict_cols, 1); /* the 13 strings at least went out as a dictionary */
    st.release(&st);
    cairn_table_close(t);
}
END_TEST

START_TEST(export_column_every_type) {
    cairn_table *t = topen("col", ALL, 300);
    size_t ncols, c, i;
    for (i = 1; i <= 1000; i++) insert_all(t, (int)i);
    for (i = 2; i <= 1000; i += 53) OK(cairn_table_delete(t, i));
    OK(cairn_table_update_json(t, 11, "{\"s\": \"changed\", \"y\": 1.5}"));
    OK(cairn_table_ncols(t, &ncols));
    for (c = 0; c <= ncols; c++) {
        struct ArrowSchema s;
        struct ArrowArray a;
        struct ArrowSchema ids_s;
        struct ArrowArray ids;
        const char *name = "_id";
        int type = CAIRN_TYPE_U64, nullable;
        uint32_t fl;
        int64_t r;
        if (c) OK(cairn_table_column(t, c - 1, &name, &type, &fl, &nullable));
        OK(cairn_table_export_column(t, name, &s, &a));
        OK(cairn_table_export_column(t, "_id", &ids_s, &ids));
        ck_assert_int_eq(a.length, ids.length);
        ck_assert_ptr_null(s.dictionary);
        for (r = 0; r < a.length; r++) {
            cairn_value idv, got, *row = NULL;
            read_value(&ids_s, &ids, r, &idv);
            read_value(&s, &a, r, &got);
            if (!c) {
                ck_assert(r == 0 || idv.v.u > ((const uint64_t *)ids.buffers[1])[r - 1]);
                continue;
            }
            OK(cairn_table_get(t, idv.v.u, &row));
            same_value(&s, &got, &row[c - 1], type, name);
            cairn_free(row);
        }
        a.release(&a);
        s.release(&s);
        ids.release(&ids);
        ids_s.release(&ids_s);
    }
    {
        struct ArrowSchema s;
        struct ArrowArray a;
        ERR(CAIRN_SCHEMA, cairn_table_export_column(t, "nope", &s, &a));
        ck_assert_ptr_null(a.release);
        ck_assert_ptr_null(s.release);
    }
    cairn_table_close(t);
}
END_TEST

/* Random inserts, updates, deletes, checkpoints, compactions and reopens over small value domains
 * (so that segments come out PLAIN, CONSTANT, RLE, DICT, FOR and DELTA, with nulls), and after each
 * round the whole export checked value by value against cairn_table_get. */
START_TEST(randomized_against_get) {
    cairn_table *t = topen("rnd", "a i32, s string, f f64, b bool, w bytes:2, u u16 not null default 0", 64);
    uint64_t seed = 12345 + (uint64_t)_i, next = 1, n;
    int round, op;
    for (round = 0; round < 12; round++) {
        struct ArrowArrayStream st;
        for (op = 0; op < 120; op++) {
            char row[256];
            unsigned r = (unsigned)(rnd(&seed) * 1000);
            unsigned dom = round % 3 == 0 ? 3 : 1000;
            snprintf(row, sizeof row,
                     "{\"a\": %s, \"s\": %s, \"f\": %u.5, \"b\": %s, \"w\": {\"$bytes\": \"%04x\"}, \"u\": %u}",
                     r % 5 == 0 ? "null" : "7", r % 7 == 0 ? "null" : (r % 2 ? "\"x\"" : "\"yy\""), r % dom,
                     r % 3 == 0 ? "null" : (r % 2 ? "true" : "false"), r % dom, r % 4 == 0 ? r : 9);
            if (r < 600 || next < 5) {
                OK(cairn_table_insert_json(t, row, NULL));
                next++;
            } else {
                uint64_t id = 1 + (uint64_t)(rnd(&seed) / 100.0 * (double)(next - 1));
                int rc = r < 850 ? cairn_table_update_json(t, id, row) : cairn_table_delete(t, id);
                ck_assert_msg(rc == 0 || rc == CAIRN_NOTFOUND, "%s", cairn_errmsg());
            }
        }
        if (round % 4 == 1) OK(cairn_table_sync(t));
        if (round % 4 == 2) OK(cairn_table_compact(t));
        if (round % 4 == 3) {
            cairn_table_close(t);
            t = topen("rnd", NULL, 64);
        }
        OK(cairn_table_count(t, &n));
        OK(cairn_table_export_stream(t, NULL, &st));
        ck_assert_uint_eq(check_stream(t, &st, NULL, NULL), n);
        st.release(&st);
    }
    cairn_table_close(t);
}
END_TEST

/* flip one byte in the middle of the (only) segment file of table directory `dir` */
static void damage_segment(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int done = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        FILE *f;
        long size;
        int c;
        if (strncmp(e->d_name, "seg-", 4) != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ck_assert_ptr_nonnull(f = fopen(path, "r+b"));
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fseek(f, size / 2, SEEK_SET);
        c = fgetc(f);
        fseek(f, size / 2, SEEK_SET);
        fputc(c ^ 0x5a, f);
        fclose(f);
        done++;
    }
    closedir(d);
    ck_assert_int_eq(done, 1);
}

START_TEST(damaged_segment_is_an_error) {
    cairn_table *t = topen("bad", "v f64 not null", 0);
    struct ArrowArrayStream st;
    struct ArrowArray a;
    uint64_t seed = 7, first;
    size_t n = 4096, i;
    double *v = (double *)malloc(n * sizeof *v);
    const void *data[1];
    const char *msg;
    for (i = 0; i < n; i++) v[i] = rnd(&seed);
    data[0] = v;
    OK(cairn_table_load_columns(t, n, data, NULL, NULL, &first));
    cairn_table_close(t);
    damage_segment(ct_path("bad"));
    t = topen("bad", NULL, 0);
    OK(cairn_table_export_stream(t, "{\"columns\": [\"v\"]}", &st));
    ck_assert_int_ne(st.get_next(&st, &a), 0);
    ck_assert_ptr_null(a.release);
    msg = st.get_last_error(&st);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, "seg-") && strstr(msg, "offset"), "message: %s", msg);
    st.release(&st);
    cairn_table_close(t);
    free(v);
}
END_TEST

/* the one batch of a stream, plus its schema (the stream must end after it) */
static void one_batch(cairn_table *t, const char *q, struct ArrowSchema *s, struct ArrowArray *a) {
    struct ArrowArrayStream st;
    struct ArrowArray end;
    OK(cairn_table_export_stream(t, q, &st));
    ck_assert_int_eq(st.get_schema(&st, s), 0);
    ck_assert_int_eq(st.get_next(&st, a), 0);
    ck_assert_ptr_nonnull(a->release);
    ck_assert_int_eq(st.get_next(&st, &end), 0);
    ck_assert_ptr_null(end.release);
    st.release(&st);
}

START_TEST(queries) {
    cairn_table *t = topen("q", "k i64, s string null, f f64", 300);
    struct ArrowArrayStream st;
    struct ArrowSchema sch;
    struct ArrowArray a;
    char row[128];
    uint64_t want = 0, got = 0, prev = 0;
    int64_t i;
    for (i = 1; i <= 1000; i++) {
        snprintf(row, sizeof row, "{\"k\": %lld, \"s\": %s, \"f\": %lld.5}", (long long)((i * 37) % 101),
                 i % 9 ? "\"x\"" : "null", (long long)i);
        OK(cairn_table_insert_json(t, row, NULL));
    }
    OK(cairn_table_delete(t, 40));
    OK(cairn_table_update_json(t, 41, "{\"k\": 1000}"));
    /* where + projection with _id: every row satisfies, as many as count_where */
    OK(cairn_table_count_where_json(t, "{\"where\": \"k >= ?\", \"params\": [90]}", &want));
    OK(cairn_table_export_stream(t, "{\"where\": \"k >= ?\", \"params\": [90], \"columns\": [\"k\", \"_id\"]}", &st));
    ck_assert_int_eq(st.get_schema(&st, &sch), 0);
    ck_assert_int_eq(sch.n_children, 2);
    ck_assert_str_eq(sch.children[0]->name, "k");
    ck_assert_str_eq(sch.children[0]->format, "l");
    ck_assert_str_eq(sch.children[1]->name, "_id");
    ck_assert_str_eq(sch.children[1]->format, "L");
    for (;;) {
        ck_assert_int_eq(st.get_next(&st, &a), 0);
        if (!a.release) break;
        for (i = 0; i < a.length; i++) {
            cairn_value k, id, *r = NULL;
            read_value(sch.children[0], a.children[0], i, &k);
            read_value(sch.children[1], a.children[1], i, &id);
            ck_assert(k.v.i >= 90);
            ck_assert_uint_gt(id.v.u, prev);
            prev = id.v.u;
            OK(cairn_table_get(t, id.v.u, &r));
            ck_assert_int_eq(r[0].v.i, k.v.i);
            cairn_free(r);
            got++;
        }
        a.release(&a);
    }
    ck_assert_uint_eq(got, want);
    ck_assert_uint_gt(got, 0);
    sch.release(&sch);
    st.release(&st);
    /* order + limit: one batch of the result */
    one_batch(t, "{\"order\": [\"-k\", \"_id\"], \"limit\": 3, \"columns\": [\"_id\", \"k\", \"s\"]}", &sch, &a);
    ck_assert_int_eq(a.length, 3);
    ck_assert_str_eq(sch.children[0]->format, "L");
    ck_assert_str_eq(sch.children[2]->format, "U");
    ck_assert_uint_eq(((const uint64_t *)a.children[0]->buffers[1])[0], 41); /* the only k = 1000 */
    ck_assert_int_eq(((const int64_t *)a.children[1]->buffers[1])[0], 1000);
    ck_assert_int_ge(((const int64_t *)a.children[1]->buffers[1])[1], ((const int64_t *)a.children[1]->buffers[1])[2]);
    a.release(&a);
    sch.release(&sch);
    /* aggregates, in both result formats */
    for (i = 0; i < 2; i++) {
        cairn_value c, sum;
        uint64_t n;
        one_batch(t, i ? "{\"aggregates\": [{\"fn\": \"count\"}, {\"fn\": \"sum\", \"column\": \"f\"}], \"format\": \"columns\"}"
                       : "{\"aggregates\": [{\"fn\": \"count\"}, {\"fn\": \"sum\", \"column\": \"f\"}]}",
                  &sch, &a);
        ck_assert_int_eq(a.length, 1);
        ck_assert_str_eq(sch.children[0]->name, "count(*)");
        ck_assert_str_eq(sch.children[0]->format, "L");
        ck_assert_str_eq(sch.children[1]->format, "g");
        read_value(sch.children[0], a.children[0], 0, &c);
        read_value(sch.children[1], a.children[1], 0, &sum);
        OK(cairn_table_count(t, &n));
        ck_assert_uint_eq(c.v.u, n);
        ck_assert(sum.v.f == 1000.0 * 1001 / 2 + 1000 * 0.5 - 40.5);
        a.release(&a);
        sch.release(&sch);
    }
    /* errors: nothing is handed out */
    ERR(CAIRN_SCHEMA, cairn_table_export_stream(t, "{\"where\": \"nope = 1\"}", &st));
    ck_assert_ptr_null(st.release);
    ERR(CAIRN_INVALID, cairn_table_export_stream(t, "{\"bogus\": 1}", &st));
    ck_assert_ptr_null(st.release);
    cairn_table_close(t);
}
END_TEST

/* ---- IPC framing: walk the encapsulated messages with a minimal flatbuffer reader ---- */

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* position of field `k` of the table at `t` (0: absent) */
static size_t fb_field(const uint8_t *b, size_t t, unsigned k) {
    size_t vt = t - (size_t)(int32_t)rd32(b + t);
    unsigned vsize = (unsigned)(b[vt] | b[vt + 1] << 8), off;
    if (4 + 2 * k >= vsize) return 0;
    off = (unsigned)(b[vt + 4 + 2 * k] | b[vt + 5 + 2 * k] << 8);
    return off ? t + off : 0;
}

START_TEST(ipc_framing) {
    cairn_table *t = topen("ipc", ALL, 150);
    void *buf = NULL;
    size_t len = 0, pos = 0, i;
    int schemas = 0, batches = 0;
    uint64_t rows = 0, n;
    for (i = 1; i <= 400; i++) insert_all(t, (int)i);
    OK(cairn_table_delete(t, 7));
    OK(cairn_table_count(t, &n));
    OK(cairn_table_export_ipc(t, NULL, &buf, &len));
    ck_assert_uint_eq(len % 8, 0);
    for (;;) {
        const uint8_t *b = (const uint8_t *)buf + pos, *m;
        uint32_t meta;
        size_t root, f;
        ck_assert_uint_le(pos + 8, len);
        ck_assert_uint_eq(rd32(b), 0xFFFFFFFFu);
        meta = rd32(b + 4);
        if (!meta) {
            pos += 8;
            break;
        }
        ck_assert_uint_eq(meta % 8, 0);
        m = b + 8;
        root = rd32(m);
        f = fb_field(m, root, 0);
        ck_assert(f && (m[f] | m[f + 1] << 8) == 4); /* V5 */
        f = fb_field(m, root, 1);
        ck_assert(f);
        if (m[f] == 1) {
            ck_assert_int_eq(batches, 0);
            schemas++;
            pos += 8 + meta;
        } else {
            size_t h, bl;
            ck_assert_int_eq(m[f], 3);
            ck_assert_int_eq(schemas, 1);
            bl = fb_field(m, root, 3);
            h = fb_field(m, root, 2);
            h += rd32(m + h);
            rows += rd64(m + fb_field(m, h, 0));
            batches++;
            pos += 8 + meta + (bl ? (size_t)rd64(m + bl) : 0);
        }
    }
    ck_assert_uint_eq(pos, len);
    ck_assert_int_eq(batches, 3); /* 2 groups of 150, a tail of 100 */
    ck_assert_uint_eq(rows, n);
    cairn_free(buf);
    cairn_table_close(t);
}
END_TEST

/* `test_table_arrow --ipc-out DIR`: a table of every type (groups, tail, deletes, an overlay, nulls)
 * in DIR/t, its IPC export in DIR/t.arrow and its rows as JSON (from the iterator) in DIR/t.json,
 * for the apache-arrow check (arrow_ipc_check.js). */
static int ipc_out(const char *dir) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    cairn_table_iter *it = NULL;
    char path[1024];
    void *buf = NULL;
    size_t len = 0, i;
    uint64_t id;
    const char *row;
    FILE *f;
    int rc, first = 1;
    snprintf(path, sizeof path, "%s/t", dir);
    o.schema = ALL;
    o.checkpoint_rows = 128;
    outside_check = 1;
    if ((rc = cairn_table_open(&t, path, &o)) != 0) return fprintf(stderr, "open: %s\n", cairn_errmsg()), 1;
    for (i = 1; i <= 300; i++) insert_all(t, (int)i);
    if (cairn_table_delete(t, 5) || cairn_table_delete(t, 290) ||
        cairn_table_update_json(t, 9, "{\"s\": \"changed\", \"d\": -5}"))
        return fprintf(stderr, "write: %s\n", cairn_errmsg()), 1;
    if (cairn_table_export_ipc(t, NULL, &buf, &len)) return fprintf(stderr, "export: %s\n", cairn_errmsg()), 1;
    snprintf(path, sizeof path, "%s/t.arrow", dir);
    if (!(f = fopen(path, "wb")) || fwrite(buf, 1, len, f) != len || fclose(f)) return perror(path), 1;
    cairn_free(buf);
    snprintf(path, sizeof path, "%s/t.json", dir);
    if (!(f = fopen(path, "w")) || cairn_table_iter_open(&it, t)) return perror(path), 1;
    fputs("[", f);
    while (cairn_table_iter_next_json(it, &id, &row) == 0) {
        fprintf(f, "%s{\"_id\": %llu, \"row\": %s}\n", first ? "" : ",", (unsigned long long)id, row);
        first = 0;
    }
    fputs("]\n", f);
    fclose(f);
    cairn_table_iter_free(it);
    /* a query through the scan: where c > 100000 (nulls never match), projected; the expected rows
     * are the whole rows the iterator gives for those ids (the checker reads the exported columns) */
    if (cairn_table_export_ipc(t, "{\"where\": \"c > ?\", \"params\": [100000], \"columns\": [\"_id\", \"s\", \"ts\", \"h\", \"z\"]}",
                               &buf, &len))
        return fprintf(stderr, "export: %s\n", cairn_errmsg()), 1;
    snprintf(path, sizeof path, "%s/q.arrow", dir);
    if (!(f = fopen(path, "wb")) || fwrite(buf, 1, len, f) != len || fclose(f)) return perror(path), 1;
    cairn_free(buf);
    snprintf(path, sizeof path, "%s/q.json", dir);
    if (!(f = fopen(path, "w")) || cairn_table_iter_open(&it, t)) return perror(path), 1;
    fputs("[", f);
    first = 1;
    {
        const cairn_value *tr;
        while (cairn_table_iter_next(it, &id, &tr) == 0) {
            char *js = NULL;
            if (tr[2].is_null || tr[2].v.i <= 100000) continue;
            if (cairn_table_row_to_json(t, tr, &js)) return fprintf(stderr, "json: %s\n", cairn_errmsg()), 1;
            fprintf(f, "%s{\"_id\": %llu, \"row\": %s}\n", first ? "" : ",", (unsigned long long)id, js);
            cairn_free(js);
            first = 0;
        }
    }
    fputs("]\n", f);
    fclose(f);
    cairn_table_iter_free(it);
    cairn_table_close(t);
    return 0;
}

int main(int argc, char **argv) {
    Suite *s;
    TCase *tc;
    if (argc == 3 && !strcmp(argv[1], "--ipc-out")) return ipc_out(argv[2]);
    s = suite_create("table_arrow");
    tc = tcase_create("arrow");
    tcase_add_checked_fixture(tc, mk_tmp, rm_tmp);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_type_groups_tail_deletes_overlays);
    tcase_add_test(tc, empty_table_and_snapshot);
    tcase_add_test(tc, zero_copy_plain_f64_pinned);
    tcase_add_test(tc, release_arrays_before_stream);
    tcase_add_test(tc, dictionary_columns);
    tcase_add_test(tc, export_column_every_type);
    tcase_add_test(tc, ipc_framing);
    tcase_add_test(tc, queries);
    tcase_add_test(tc, damaged_segment_is_an_error);
    tcase_add_loop_test(tc, randomized_against_get, 0, 4);
    suite_add_tcase(s, tc);
    return ct_run(s);
}
