/*
 * test_snapshots.c - named snapshots and backups (util/snap.c) of the KV store, the table and the
 * blob store: isolation both ways, sharing of sealed files and segments, listing, dropping, names,
 * transactions, backups that open as normal stores, and a snapshot that a crash left unfinished.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn.h"
#include "testutil.h"
#include "util.h"

#define OK(x) ck_assert_msg((x) == 0, "%s: %s %s", #x, cairn_errname(x), cairn_errmsg())

static cairn_kv *kv;

static void mk(void) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    ct_tmp_create("snap");
    o.sync = CAIRN_SYNC_NONE;
    OK(cairn_kv_open(&kv, ct_path("kv"), &o));
}
static void rm(void) {
    cairn_kv_close(kv);
    kv = NULL;
    ct_tmp_remove();
}

static void put_n(cairn_kv *h, int from, int to, const char *tag) {
    for (int i = from; i < to; i++) {
        char k[32], v[64];
        snprintf(k, sizeof k, "key%06d", i);
        snprintf(v, sizeof v, "%s-%d", tag, i);
        OK(cairn_kv_put(h, k, strlen(k), v, strlen(v), CAIRN_KIND_TEXT));
    }
}

static void expect(cairn_kv *h, int i, const char *want) {
    char k[32];
    void *v = NULL;
    size_t n = 0;
    int kind, rc;
    snprintf(k, sizeof k, "key%06d", i);
    rc = cairn_kv_get(h, k, strlen(k), &v, &n, &kind);
    if (!want) {
        ck_assert_int_eq(rc, CAIRN_NOTFOUND);
        return;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(n == strlen(want) && memcmp(v, want, n) == 0, "key %d: got %.*s want %s", i, (int)n, (char *)v, want);
    cairn_free(v);
}

START_TEST(isolation_both_ways) {
    char *name = NULL, *list = NULL;
    cairn_kv *snap = NULL;
    uint64_t c = 0;
    put_n(kv, 0, 1000, "v1");
    OK(cairn_kv_snapshot(kv, "s1", &name));
    ck_assert_str_eq(name, "s1");
    cairn_free(name);
    /* change the live store every way */
    put_n(kv, 500, 1500, "v2");
    for (int i = 0; i < 100; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%06d", i);
        OK(cairn_kv_delete(kv, k, strlen(k)));
    }
    OK(cairn_kv_compact(kv));
    OK(cairn_kv_open_snapshot(&snap, kv, "s1"));
    OK(cairn_kv_count(snap, &c));
    ck_assert_uint_eq(c, 1000);
    expect(snap, 0, "v1-0");
    expect(snap, 700, "v1-700");
    expect(snap, 1200, NULL);
    /* the snapshot is read-only */
    ck_assert_int_eq(cairn_kv_put(snap, "x", 1, "y", 1, 0), CAIRN_READONLY);
    cairn_kv_close(snap);
    /* the live store is the changed one */
    OK(cairn_kv_count(kv, &c));
    ck_assert_uint_eq(c, 1400);
    expect(kv, 0, NULL);
    expect(kv, 700, "v2-700");
    OK(cairn_kv_snapshots(kv, &list));
    ck_assert_ptr_nonnull(strstr(list, "\"name\":\"s1\""));
    cairn_free(list);
    /* and after a reopen of the store the snapshot is still there and the same */
    cairn_kv_close(kv);
    OK(cairn_kv_open(&kv, ct_path("kv"), NULL));
    OK(cairn_kv_open_snapshot(&snap, kv, "s1"));
    expect(snap, 700, "v1-700");
    cairn_kv_close(snap);
    OK(cairn_kv_check(ct_path("kv")));
    OK(cairn_kv_check(ct_path("kv/snapshots/s1")));
}
END_TEST

START_TEST(shares_sealed_files) {
    struct stat st;
    char **names = NULL;
    size_t n = 0;
    int linked = 0;
    put_n(kv, 0, 2000, "v");
    OK(cairn_kv_snapshot(kv, "s", NULL));
    OK(cairn_io__list(ct_path("kv/snapshots/s"), &names, &n));
    for (size_t i = 0; i < n; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", ct_path("kv/snapshots/s"), names[i]);
        ck_assert_int_eq(stat(p, &st), 0);
        if (strstr(names[i], ".data")) linked += st.st_nlink >= 2;
    }
    cairn_io__list_free(names, n);
    ck_assert_int_ge(linked, 1); /* the data is shared, not copied */
}
END_TEST

START_TEST(names_and_errors) {
    char *a = NULL, *b = NULL;
    cairn_kv *snap = NULL;
    put_n(kv, 0, 10, "v");
    OK(cairn_kv_snapshot(kv, NULL, &a));
    OK(cairn_kv_snapshot(kv, NULL, &b));
    ck_assert_str_ne(a, b); /* automatic names are unique */
    ck_assert_int_eq(cairn_kv_snapshot(kv, a, NULL), CAIRN_EXISTS);
    ck_assert_int_eq(cairn_kv_snapshot(kv, "bad/name", NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_snapshot(kv, "", NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_snapshot(kv, ".hidden", NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_kv_open_snapshot(&snap, kv, "nope"), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_kv_drop_snapshot(kv, "nope"), CAIRN_NOTFOUND);
    OK(cairn_kv_drop_snapshot(kv, a));
    ck_assert_int_eq(cairn_kv_open_snapshot(&snap, kv, a), CAIRN_NOTFOUND);
    OK(cairn_kv_begin(kv));
    ck_assert_int_eq(cairn_kv_snapshot(kv, "intxn", NULL), CAIRN_TXN);
    OK(cairn_kv_rollback(kv));
    cairn_free(a);
    cairn_free(b);
    /* a snapshot a crash left unfinished is not listed, and its name can be used again */
    ck_assert_int_eq(mkdir(ct_path("kv/snapshots/late.tmp"), 0755), 0);
    {
        char *list = NULL;
        OK(cairn_kv_snapshots(kv, &list));
        ck_assert_ptr_null(strstr(list, "late"));
        cairn_free(list);
    }
    OK(cairn_kv_snapshot(kv, "late", NULL));
    OK(cairn_kv_open_snapshot(&snap, kv, "late"));
    expect(snap, 3, "v-3");
    cairn_kv_close(snap);
    /* a damaged SNAPSHOT marker is CORRUPT, not a silent open */
    {
        FILE *f = fopen(ct_path("kv/snapshots/late/SNAPSHOT"), "r+b");
        int c;
        ck_assert_ptr_nonnull(f);
        fseek(f, 6, SEEK_SET);
        c = fgetc(f);
        ck_assert_int_ne(c, EOF);
        fseek(f, 6, SEEK_SET);
        fputc(c ^ 0xff, f);
        fclose(f);
        ck_assert_int_eq(cairn_kv_open_snapshot(&snap, kv, "late"), CAIRN_CORRUPT);
    }
}
END_TEST

START_TEST(backup_opens_as_a_store) {
    cairn_kv *b = NULL;
    uint64_t c = 0;
    struct stat st;
    put_n(kv, 0, 3000, "v");
    OK(cairn_kv_backup(kv, ct_path("backup")));
    put_n(kv, 0, 10, "after");
    OK(cairn_kv_open(&b, ct_path("backup"), NULL)); /* a normal, writable store */
    OK(cairn_kv_count(b, &c));
    ck_assert_uint_eq(c, 3000);
    expect(b, 5, "v-5");
    put_n(b, 0, 1, "in-backup");
    cairn_kv_close(b);
    expect(kv, 0, "after-0"); /* nothing shared: the live store is untouched */
    ck_assert_int_eq(stat(ct_path("backup/0000000100000000.data"), &st), 0);
    ck_assert_int_eq((int)st.st_nlink, 1); /* copied, not linked */
    ck_assert_int_eq(cairn_kv_backup(kv, ct_path("backup")), CAIRN_EXISTS); /* not empty */
    OK(cairn_kv_check(ct_path("backup")));
}
END_TEST

/* ---- table ---- */

static cairn_table *tb;

static void mk_table(void) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    ct_tmp_create("snapt");
    o.sync = CAIRN_SYNC_NONE;
    o.schema = "k i64 primary key, name string, score f64";
    OK(cairn_table_open(&tb, ct_path("t"), &o));
}
static void rm_table(void) {
    cairn_table_close(tb);
    tb = NULL;
    ct_tmp_remove();
}

static void tput(cairn_table *t, int from, int to, const char *tag) {
    OK(cairn_table_begin(t));
    for (int i = from; i < to; i++) {
        char row[128];
        snprintf(row, sizeof row, "{\"k\":%d,\"name\":\"%s-%d\",\"score\":%d.5}", i, tag, i, i);
        OK(cairn_table_insert_json(t, row, NULL));
    }
    OK(cairn_table_commit(t));
}

/* the row of id, compared with what its name should be (NULL: absent) */
static void texpect(cairn_table *t, uint64_t id, const char *name) {
    char *row = NULL, want[96];
    int rc = cairn_table_get_json(t, id, &row);
    if (!name) {
        ck_assert_int_eq(rc, CAIRN_NOTFOUND);
        return;
    }
    ck_assert_msg(rc == 0, "id %llu: %s", (unsigned long long)id, cairn_errmsg());
    snprintf(want, sizeof want, "\"name\":\"%s\"", name);
    ck_assert_msg(strstr(row, want) != NULL, "id %llu: %s lacks %s", (unsigned long long)id, row, want);
    cairn_free(row);
}

START_TEST(table_isolation_both_ways) {
    cairn_table *snap = NULL;
    char *name = NULL, *list = NULL;
    uint64_t c = 0;
    tput(tb, 0, 300000, "v1"); /* more than the checkpoint's rows: segments and a tail */
    OK(cairn_table_update_json(tb, 7, "{\"name\":\"upd\"}"));
    OK(cairn_table_delete(tb, 8));
    OK(cairn_table_snapshot(tb, "s1", &name));
    ck_assert_str_eq(name, "s1");
    cairn_free(name);
    /* change the live table every way */
    OK(cairn_table_update_json(tb, 1, "{\"name\":\"later\"}"));
    OK(cairn_table_delete(tb, 2));
    tput(tb, 300000, 300100, "v2");
    OK(cairn_table_compact(tb));
    OK(cairn_table_open_snapshot(&snap, tb, "s1"));
    OK(cairn_table_count(snap, &c));
    ck_assert_uint_eq(c, 299999);
    texpect(snap, 1, "v1-0");
    texpect(snap, 2, "v1-1");
    texpect(snap, 7, "upd");
    texpect(snap, 8, NULL);
    texpect(snap, 9, "v1-8");
    texpect(snap, 300000, "v1-299999");
    texpect(snap, 300001, NULL);
    ck_assert_int_eq(cairn_table_insert_json(snap, "{\"k\":-1}", NULL), CAIRN_READONLY);
    ck_assert_int_eq(cairn_table_snapshot(snap, "x", NULL), CAIRN_READONLY);
    ck_assert_int_eq(cairn_table_drop_snapshot(snap, "s1"), CAIRN_READONLY);
    ck_assert_int_eq(cairn_table_backup(snap, ct_path("from-snap")), CAIRN_READONLY);
    cairn_table_close(snap);
    OK(cairn_table_count(tb, &c));
    ck_assert_uint_eq(c, 299999 - 1 + 100);
    texpect(tb, 1, "later");
    texpect(tb, 2, NULL);
    OK(cairn_table_snapshots(tb, &list));
    ck_assert_ptr_nonnull(strstr(list, "\"name\":\"s1\""));
    cairn_free(list);
    /* after a reopen of the table the snapshot is still there and the same */
    cairn_table_close(tb);
    OK(cairn_table_open(&tb, ct_path("t"), NULL));
    OK(cairn_table_open_snapshot(&snap, tb, "s1"));
    texpect(snap, 1, "v1-0");
    cairn_table_close(snap);
    OK(cairn_table_check(ct_path("t")));
    OK(cairn_table_check(ct_path("t/snapshots/s1")));
}
END_TEST

START_TEST(table_shares_segments) {
    char **names = NULL;
    size_t n = 0;
    int segs = 0, linked = 0;
    struct stat st;
    tput(tb, 0, 1000, "v");
    OK(cairn_table_sync(tb));
    OK(cairn_table_snapshot(tb, "s", NULL));
    OK(cairn_io__list(ct_path("t/snapshots/s"), &names, &n));
    for (size_t i = 0; i < n; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", ct_path("t/snapshots/s"), names[i]);
        ck_assert_int_eq(stat(p, &st), 0);
        if (strncmp(names[i], "seg-", 4) == 0) {
            segs++;
            linked += st.st_nlink >= 2;
        }
        if (strcmp(names[i], "MANIFEST") == 0) ck_assert_int_eq((int)st.st_nlink, 1); /* copied */
    }
    cairn_io__list_free(names, n);
    ck_assert_int_ge(segs, 1);
    ck_assert_int_eq(linked, segs);
}
END_TEST

START_TEST(table_names_and_errors) {
    cairn_table *snap = NULL;
    char *a = NULL, *list = NULL;
    tput(tb, 0, 10, "v");
    OK(cairn_table_snapshot(tb, NULL, &a));
    ck_assert_int_eq(cairn_table_snapshot(tb, a, NULL), CAIRN_EXISTS);
    ck_assert_int_eq(cairn_table_snapshot(tb, "bad/name", NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_table_open_snapshot(&snap, tb, "nope"), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_table_drop_snapshot(tb, "nope"), CAIRN_NOTFOUND);
    OK(cairn_table_drop_snapshot(tb, a));
    ck_assert_int_eq(cairn_table_open_snapshot(&snap, tb, a), CAIRN_NOTFOUND);
    cairn_free(a);
    OK(cairn_table_begin(tb));
    ck_assert_int_eq(cairn_table_snapshot(tb, "intxn", NULL), CAIRN_TXN);
    ck_assert_int_eq(cairn_table_backup(tb, ct_path("b")), CAIRN_TXN);
    OK(cairn_table_rollback(tb));
    /* an unfinished snapshot is not listed and does not open; its name can be used again */
    ck_assert_int_eq(mkdir(ct_path("t/snapshots/late.tmp"), 0755), 0);
    OK(cairn_table_snapshots(tb, &list));
    ck_assert_ptr_null(strstr(list, "late"));
    cairn_free(list);
    ck_assert_int_eq(cairn_table_open_snapshot(&snap, tb, "late"), CAIRN_NOTFOUND);
    OK(cairn_table_snapshot(tb, "late", NULL));
    OK(cairn_table_open_snapshot(&snap, tb, "late"));
    texpect(snap, 4, "v-3");
    cairn_table_close(snap);
}
END_TEST

START_TEST(table_backup_opens_as_a_table) {
    cairn_table *b = NULL;
    uint64_t c = 0;
    struct stat st;
    tput(tb, 0, 5000, "v");
    OK(cairn_table_delete(tb, 1));
    OK(cairn_table_backup(tb, ct_path("backup")));
    OK(cairn_table_update_json(tb, 2, "{\"name\":\"after\"}"));
    OK(cairn_table_open(&b, ct_path("backup"), NULL)); /* a normal, writable table */
    OK(cairn_table_count(b, &c));
    ck_assert_uint_eq(c, 4999);
    texpect(b, 1, NULL);
    texpect(b, 2, "v-1");
    OK(cairn_table_update_json(b, 3, "{\"name\":\"in-backup\"}"));
    cairn_table_close(b);
    texpect(tb, 2, "after");
    texpect(tb, 3, "v-2"); /* nothing shared */
    ck_assert_int_eq(stat(ct_path("backup/MANIFEST"), &st), 0);
    ck_assert_int_eq(cairn_table_backup(tb, ct_path("backup")), CAIRN_EXISTS);
    OK(cairn_table_check(ct_path("backup")));
}
END_TEST

/* ---- blob store ---- */

static cairn_blob *bs;

static void mk_blob(void) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    ct_tmp_create("snapb");
    o.sync = CAIRN_SYNC_NONE;
    OK(cairn_blob_open(&bs, ct_path("b.blob"), &o));
}
static void rm_blob(void) {
    cairn_blob_close(bs);
    bs = NULL;
    ct_tmp_remove();
}

static void bput(cairn_blob *b, uint32_t from, uint32_t to, const char *tag) {
    for (uint32_t k = from; k < to; k++) {
        char v[64];
        int n = snprintf(v, sizeof v, "%s-%u", tag, (unsigned)k);
        int rc = cairn_blob_update(b, k, v, (size_t)n);
        if (rc == CAIRN_NOTFOUND) rc = cairn_blob_create_with_key(b, k, v, (size_t)n);
        OK(rc);
    }
}

static void bexpect(cairn_blob *b, uint32_t k, const char *want) {
    void *v = NULL;
    size_t n = 0;
    int rc = cairn_blob_read(b, k, &v, &n);
    if (!want) {
        ck_assert_int_eq(rc, CAIRN_NOTFOUND);
        return;
    }
    ck_assert_msg(rc == 0, "key %u: %s", (unsigned)k, cairn_errmsg());
    ck_assert_msg(n == strlen(want) && memcmp(v, want, n) == 0, "key %u: got %.*s want %s", (unsigned)k, (int)n,
                  (char *)v, want);
    cairn_free(v);
}

START_TEST(blob_isolation_both_ways) {
    cairn_blob *snap = NULL;
    char *name = NULL, *list = NULL;
    uint64_t c = 0;
    bput(bs, 1, 2001, "v1");
    OK(cairn_blob_snapshot(bs, "s1", &name));
    ck_assert_str_eq(name, "s1");
    cairn_free(name);
    bput(bs, 1000, 3000, "v2");
    for (uint32_t k = 1; k < 101; k++) OK(cairn_blob_delete(bs, k));
    OK(cairn_blob_compact(bs));
    OK(cairn_blob_open_snapshot(&snap, bs, "s1"));
    OK(cairn_blob_count(snap, &c));
    ck_assert_uint_eq(c, 2000);
    bexpect(snap, 1, "v1-1");
    bexpect(snap, 1500, "v1-1500");
    bexpect(snap, 2500, NULL);
    ck_assert_int_eq(cairn_blob_create_with_key(snap, 9999, "x", 1), CAIRN_READONLY);
    ck_assert_int_eq(cairn_blob_snapshot(snap, "x", NULL), CAIRN_READONLY);
    ck_assert_int_eq(cairn_blob_drop_snapshot(snap, "s1"), CAIRN_READONLY);
    ck_assert_int_eq(cairn_blob_backup(snap, ct_path("from-snap.blob")), CAIRN_READONLY);
    cairn_blob_close(snap);
    OK(cairn_blob_count(bs, &c));
    ck_assert_uint_eq(c, 2899);
    bexpect(bs, 1, NULL);
    bexpect(bs, 1500, "v2-1500");
    OK(cairn_blob_snapshots(bs, &list));
    ck_assert_ptr_nonnull(strstr(list, "\"name\":\"s1\""));
    cairn_free(list);
    cairn_blob_close(bs);
    OK(cairn_blob_open(&bs, ct_path("b.blob"), NULL));
    OK(cairn_blob_open_snapshot(&snap, bs, "s1"));
    bexpect(snap, 1500, "v1-1500");
    cairn_blob_close(snap);
    OK(cairn_blob_check(ct_path("b.blob")));
    OK(cairn_blob_check(ct_path("b.blob-snapshots/s1/blob")));
}
END_TEST

START_TEST(blob_names_and_errors) {
    cairn_blob *snap = NULL;
    char *a = NULL, *b = NULL, *list = NULL;
    bput(bs, 1, 11, "v");
    OK(cairn_blob_snapshot(bs, NULL, &a));
    OK(cairn_blob_snapshot(bs, NULL, &b));
    ck_assert_str_ne(a, b);
    ck_assert_int_eq(cairn_blob_snapshot(bs, a, NULL), CAIRN_EXISTS);
    ck_assert_int_eq(cairn_blob_snapshot(bs, "bad/name", NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_blob_open_snapshot(&snap, bs, "nope"), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_blob_drop_snapshot(bs, "nope"), CAIRN_NOTFOUND);
    OK(cairn_blob_drop_snapshot(bs, a));
    ck_assert_int_eq(cairn_blob_open_snapshot(&snap, bs, a), CAIRN_NOTFOUND);
    cairn_free(a);
    cairn_free(b);
    OK(cairn_blob_begin(bs));
    ck_assert_int_eq(cairn_blob_snapshot(bs, "intxn", NULL), CAIRN_TXN);
    ck_assert_int_eq(cairn_blob_backup(bs, ct_path("bk")), CAIRN_TXN);
    OK(cairn_blob_rollback(bs));
    ck_assert_int_eq(mkdir(ct_path("b.blob-snapshots/late.tmp"), 0755), 0);
    OK(cairn_blob_snapshots(bs, &list));
    ck_assert_ptr_null(strstr(list, "late"));
    cairn_free(list);
    OK(cairn_blob_snapshot(bs, "late", NULL));
    OK(cairn_blob_open_snapshot(&snap, bs, "late"));
    bexpect(snap, 3, "v-3");
    cairn_blob_close(snap);
}
END_TEST

START_TEST(blob_backup_opens_as_a_store) {
    cairn_blob *b = NULL;
    uint64_t c = 0;
    bput(bs, 1, 3001, "v");
    OK(cairn_blob_backup(bs, ct_path("backup.blob")));
    bput(bs, 1, 11, "after");
    OK(cairn_blob_open(&b, ct_path("backup.blob"), NULL)); /* a normal, writable store */
    OK(cairn_blob_count(b, &c));
    ck_assert_uint_eq(c, 3000);
    bexpect(b, 5, "v-5");
    bput(b, 1, 2, "in-backup");
    cairn_blob_close(b);
    bexpect(bs, 1, "after-1");
    ck_assert_int_eq(cairn_blob_backup(bs, ct_path("backup.blob")), CAIRN_EXISTS);
    OK(cairn_blob_check(ct_path("backup.blob")));
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("snapshots");
    TCase *t = tcase_create("kv");
    tcase_add_checked_fixture(t, mk, rm);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, isolation_both_ways);
    tcase_add_test(t, shares_sealed_files);
    tcase_add_test(t, names_and_errors);
    tcase_add_test(t, backup_opens_as_a_store);
    suite_add_tcase(s, t);
    t = tcase_create("table");
    tcase_add_checked_fixture(t, mk_table, rm_table);
    tcase_set_timeout(t, 240);
    tcase_add_test(t, table_isolation_both_ways);
    tcase_add_test(t, table_shares_segments);
    tcase_add_test(t, table_names_and_errors);
    tcase_add_test(t, table_backup_opens_as_a_table);
    suite_add_tcase(s, t);
    t = tcase_create("blob");
    tcase_add_checked_fixture(t, mk_blob, rm_blob);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, blob_isolation_both_ways);
    tcase_add_test(t, blob_names_and_errors);
    tcase_add_test(t, blob_backup_opens_as_a_store);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return ct_run(suite()); }
