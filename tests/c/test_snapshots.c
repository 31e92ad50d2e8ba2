/*
 * test_snapshots.c - named snapshots and backups (util/snap.c) of the KV store: isolation both
 * ways, sharing of sealed files, listing, dropping, names, transactions, backups that open as
 * normal stores, and a snapshot that a crash left unfinished.
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
    return s;
}

int main(void) { return ct_run(suite()); }
