/*
 * test_repo.c - the versioned store: values, history, tenants, collections (against a model),
 * history independence, diff, tags, gc, verify, damage, injected faults and simulated crashes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn.h"
#include "testutil.h"
#include "util.h"

#define OK(x) ck_assert_msg((x) == 0, "%s: %s %s", #x, cairn_errname(x), cairn_errmsg())

static cairn_repo *r;

static void mk(void) {
    ct_tmp_create("repo");
    r = NULL;
}
static void rm(void) {
    cairn_repo_close(r);
    r = NULL;
    ct_tmp_remove();
}

static void open_repo(int sync) {
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    o.sync = sync;
    OK(cairn_repo_open(&r, ct_path("repo"), &o));
}

static int is_hex64(const char *s) {
    if (strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

START_TEST(save_load_history) {
    char d1[65], d2[65], d3[65], *h = NULL;
    void *v = NULL;
    size_t n = 0;
    int kind = -1;
    open_repo(CAIRN_SYNC_COMMIT);
    OK(cairn_repo_init(r, "acme"));
    OK(cairn_repo_init(r, "acme")); /* idempotent */
    ck_assert_int_eq(cairn_repo_exists(r, "acme", "config"), 0);
    OK(cairn_repo_save(r, "acme", "alice", "config", "{\"theme\":\"dark\"}", 16, CAIRN_KIND_JSON, d1));
    ck_assert(is_hex64(d1));
    ck_assert_int_eq(cairn_repo_exists(r, "acme", "config"), 1);
    OK(cairn_repo_save(r, "acme", "bob", "config", "{\"theme\":\"light\"}", 17, CAIRN_KIND_JSON, d2));
    ck_assert_str_ne(d1, d2);
    /* the same content again: a new version (new parent and time), one value object */
    OK(cairn_repo_save(r, "acme", "bob", "config", "{\"theme\":\"light\"}", 17, CAIRN_KIND_JSON, d3));
    ck_assert_str_ne(d2, d3);
    OK(cairn_repo_load(r, "acme", "config", NULL, &v, &n, &kind));
    ck_assert_uint_eq(n, 17);
    ck_assert(memcmp(v, "{\"theme\":\"light\"}", 17) == 0);
    ck_assert_int_eq(kind, CAIRN_KIND_JSON);
    cairn_free(v);
    OK(cairn_repo_load(r, "acme", "config", d1, &v, &n, &kind));
    ck_assert(n == 16 && memcmp(v, "{\"theme\":\"dark\"}", 16) == 0);
    cairn_free(v);
    {
        char head[65];
        OK(cairn_repo_digest(r, "acme", "config", head));
        ck_assert_str_eq(head, d3);
    }
    OK(cairn_repo_history(r, "acme", "config", 0, &h));
    /* newest first, each with its parent */
    ck_assert_ptr_nonnull(strstr(h, d3));
    ck_assert(strstr(h, d3) < strstr(h, d2) && strstr(h, d2) < strstr(h, d1));
    ck_assert_ptr_nonnull(strstr(h, "\"user\":\"alice\""));
    ck_assert_ptr_nonnull(strstr(h, "\"parents\":[]"));
    cairn_free(h);
    OK(cairn_repo_history(r, "acme", "config", 1, &h));
    ck_assert_ptr_nonnull(strstr(h, d3));
    ck_assert_ptr_null(strstr(strstr(h, "\"digest\"") + 1, "\"digest\"")); /* one version */
    cairn_free(h);
    /* a digest of another entry is not a version of this one */
    OK(cairn_repo_save(r, "acme", "bob", "other", "x", 1, CAIRN_KIND_TEXT, d2));
    ck_assert_int_eq(cairn_repo_load(r, "acme", "config", d2, &v, &n, NULL), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_repo_load(r, "acme", "nope", NULL, &v, &n, NULL), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_repo_load(r, "acme", "config", "00000000000000000000000000000000000000000000000000000000000000ff", &v, &n, NULL),
                     CAIRN_NOTFOUND);
    OK(cairn_repo_entries(r, "acme", &h));
    ck_assert_str_eq(h, "[\"config\",\"other\"]");
    cairn_free(h);
    /* reopen: everything is still there */
    cairn_repo_close(r);
    open_repo(CAIRN_SYNC_COMMIT);
    OK(cairn_repo_load(r, "acme", "config", d1, &v, &n, &kind));
    ck_assert(n == 16 && memcmp(v, "{\"theme\":\"dark\"}", 16) == 0);
    cairn_free(v);
    cairn_repo_close(r);
    r = NULL;
    OK(cairn_repo_verify(ct_path("repo")));
}
END_TEST

START_TEST(dedup_and_tenants) {
    char d1[65], d2[65], *j = NULL;
    struct cairn_repo_stats s1 = CAIRN_REPO_STATS_INIT, s2 = CAIRN_REPO_STATS_INIT;
    void *v;
    size_t n;
    char big[4096];
    memset(big, 'q', sizeof big);
    open_repo(CAIRN_SYNC_NONE);
    OK(cairn_repo_init(r, "a"));
    OK(cairn_repo_init(r, "b"));
    OK(cairn_repo_save(r, "a", "u", "e", big, sizeof big, 0, d1));
    OK(cairn_repo_stats(r, &s1));
    OK(cairn_repo_save(r, "a", "u", "e2", big, sizeof big, 0, d2));
    OK(cairn_repo_stats(r, &s2));
    ck_assert_uint_eq(s2.objects, s1.objects + 1); /* only the new version: the value is shared */
    ck_assert_uint_lt(s2.disk_bytes - s1.disk_bytes, 1024);
    /* tenants are isolated: b sees nothing of a */
    ck_assert_int_eq(cairn_repo_exists(r, "b", "e"), 0);
    ck_assert_int_eq(cairn_repo_load(r, "b", "e", d1, &v, &n, NULL), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_repo_save(r, "nobody", "u", "e", "x", 1, 0, d1), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_repo_exists(r, "nobody", "e"), 0);
    OK(cairn_repo_tenants(r, &j));
    ck_assert_str_eq(j, "[\"a\",\"b\"]");
    cairn_free(j);
    /* names with any printable UTF-8 work as tenants and entries */
    OK(cairn_repo_init(r, "ten ant/../é"));
    OK(cairn_repo_save(r, "ten ant/../é", "u", ".hidden/x", "v", 1, 0, d1));
    OK(cairn_repo_entries(r, "ten ant/../é", &j));
    ck_assert_str_eq(j, "[\".hidden/x\"]");
    cairn_free(j);
}
END_TEST

START_TEST(bad_input) {
    char d[65];
    void *v;
    size_t n;
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    open_repo(CAIRN_SYNC_NONE);
    OK(cairn_repo_init(r, "t"));
    ck_assert_int_eq(cairn_repo_init(r, ""), CAIRN_INVALID);
    ck_assert_int_eq(cairn_repo_init(r, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_repo_init(r, "a\nb"), CAIRN_INVALID);
    ck_assert_int_eq(cairn_repo_init(r, longname), CAIRN_INVALID);
    ck_assert_int_eq(cairn_repo_save(r, "t", "u", "", "x", 1, 0, d), CAIRN_INVALID);
    ck_assert_int_eq(cairn_repo_save(r, "t", "u", "e", NULL, 1, 0, d), CAIRN_INVALID);
    ck_assert_int_eq(cairn_repo_save(r, "t", "u", "e", "x", 1, 9, d), CAIRN_INVALID);
    ck_assert_int_eq(cairn_repo_load(r, "t", "e", "xyz", &v, &n, NULL), CAIRN_INVALID);
    ck_assert_int_eq(cairn_repo_load(r, "t", "e", "0000000000000000000000000000000000000000000000000000000000000000Z", &v, &n, NULL),
                     CAIRN_INVALID);
    ck_assert_int_eq(cairn_repo_put(r, "t", "u", "c", "", 0, "v", 1, 0, d), CAIRN_INVALID);
    /* a whole value and a collection do not mix */
    OK(cairn_repo_save(r, "t", "u", "whole", "x", 1, 0, d));
    ck_assert_int_eq(cairn_repo_put(r, "t", "u", "whole", "k", 1, "v", 1, 0, d), CAIRN_TYPE);
    OK(cairn_repo_put(r, "t", "u", "coll", "k", 1, "v", 1, 0, d));
    ck_assert_int_eq(cairn_repo_load(r, "t", "coll", NULL, &v, &n, NULL), CAIRN_TYPE);
    ck_assert_int_eq(cairn_repo_delete(r, "t", "u", "coll", "nokey", 5, d), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_repo_tag(r, "t", "v1", "00000000000000000000000000000000000000000000000000000000000000ff"), CAIRN_NOTFOUND);
    ck_assert_int_eq(cairn_repo_open(NULL, "x", NULL), CAIRN_INVALID);
    {
        cairn_repo *r2 = NULL;
        cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
        o.create = 0;
        ck_assert_int_eq(cairn_repo_open(&r2, ct_path("missing"), &o), CAIRN_PATH);
        o.create = 1;
        o.version = 99;
        ck_assert_int_eq(cairn_repo_open(&r2, ct_path("x"), &o), CAIRN_INVALID);
        /* a second writer is refused; a reader is fine and read-only */
        o = (cairn_repo_options)CAIRN_REPO_OPTIONS_INIT;
        ck_assert_int_eq(cairn_repo_open(&r2, ct_path("repo"), &o), CAIRN_LOCKED);
        o.read_only = 1;
        OK(cairn_repo_open(&r2, ct_path("repo"), &o));
        ck_assert_int_eq(cairn_repo_save(r2, "t", "u", "e", "x", 1, 0, d), CAIRN_READONLY);
        OK(cairn_repo_load(r2, "t", "whole", NULL, &v, &n, NULL));
        cairn_free(v);
        /* it sees what the writer adds after it opened */
        OK(cairn_repo_save(r, "t", "u", "later", "y", 1, 0, d));
        OK(cairn_repo_load(r2, "t", "later", NULL, &v, &n, NULL));
        ck_assert(n == 1 && ((char *)v)[0] == 'y');
        cairn_free(v);
        cairn_repo_close(r2);
    }
    /* a file where the directory should be */
    {
        FILE *f = fopen(ct_path("afile"), "w");
        cairn_repo *r2 = NULL;
        fclose(f);
        ck_assert_int_eq(cairn_repo_open(&r2, ct_path("afile"), NULL), CAIRN_PATH);
    }
}
END_TEST

/* ---- collections against a model */

#define MK 600
typedef struct {
    int present[MK];
    int val[MK];
} model;

static void key_of(int k, char *out) { snprintf(out, 16, "key%05d", k); }
static size_t val_of(int k, int v, char *out) {
    /* every 7th value is large (a value object of its own) */
    size_t n = (k % 7 == 0) ? 700 : 10 + (size_t)(v % 20);
    for (size_t i = 0; i < n; i++) out[i] = (char)('a' + (k + v + (int)i) % 26);
    return n;
}

static void check_model(const char *entry, const char *digest, const model *m) {
    cairn_repo_iter *it = NULL;
    const void *k, *v;
    size_t kl, vl, n = 0;
    uint64_t cnt = 0;
    int kind, want = 0;
    char kb[16], vb[800];
    for (int i = 0; i < MK; i++) want += m->present[i];
    OK(cairn_repo_count(r, "t", entry, digest, &cnt));
    ck_assert_uint_eq(cnt, (uint64_t)want);
    OK(cairn_repo_iter_open(&it, r, "t", entry, digest));
    for (int i = 0; i < MK; i++) {
        if (!m->present[i]) continue;
        ck_assert_int_eq(cairn_repo_iter_next(it, &k, &kl, &v, &vl, &kind), 0);
        key_of(i, kb);
        ck_assert(kl == strlen(kb) && memcmp(k, kb, kl) == 0);
        ck_assert_uint_eq(vl, val_of(i, m->val[i], vb));
        ck_assert(memcmp(v, vb, vl) == 0);
        n++;
    }
    ck_assert_int_eq(cairn_repo_iter_next(it, &k, &kl, &v, &vl, &kind), CAIRN_ITEROVER);
    cairn_repo_iter_free(it);
    for (int i = 0; i < MK; i += 37) {
        void *got = NULL;
        size_t gl = 0;
        int rc;
        key_of(i, kb);
        rc = cairn_repo_get(r, "t", entry, digest, kb, strlen(kb), &got, &gl, NULL);
        if (m->present[i]) {
            ck_assert_int_eq(rc, 0);
            ck_assert(gl == val_of(i, m->val[i], vb) && memcmp(got, vb, gl) == 0);
            cairn_free(got);
        } else
            ck_assert_int_eq(rc, CAIRN_NOTFOUND);
    }
}

/* Build the model's records from scratch in key order, in a fresh entry: the same records must
 * give the same tree, so the diff against it is empty. */
static void check_history_independent(const char *digest, const model *m, int round) {
    char entry[32], d[65], *j = NULL;
    const void *keys[MK], *vals[MK];
    size_t kls[MK], vls[MK], n = 0;
    static char kb[MK][16], vb[MK][800];
    snprintf(entry, sizeof entry, "fresh%d", round);
    for (int i = MK - 1; i >= 0; i--) /* reverse order on purpose */
        if (m->present[i]) {
            key_of(i, kb[n]);
            keys[n] = kb[n];
            kls[n] = strlen(kb[n]);
            vls[n] = val_of(i, m->val[i], vb[n]);
            vals[n] = vb[n];
            n++;
        }
    if (n == 0) return;
    OK(cairn_repo_put_many(r, "t", "u", entry, n, keys, kls, vals, vls, NULL, d));
    OK(cairn_repo_diff(r, "t", digest, d, &j));
    ck_assert_str_eq(j, "{\"added\":[],\"removed\":[],\"changed\":[]}");
    cairn_free(j);
}

START_TEST(collection_model) {
    model m;
    char d[65], prev[65] = "", kb[16], vb[800];
    unsigned seed = 12345;
    memset(&m, 0, sizeof m);
    open_repo(CAIRN_SYNC_NONE);
    OK(cairn_repo_init(r, "t"));
    for (int round = 0; round < 6; round++) {
        model before = m;
        int changes = round == 0 ? 400 : 60;
        for (int c = 0; c < changes; c++) {
            int k;
            seed = seed * 1103515245u + 12345u;
            k = (int)((seed >> 8) % MK);
            key_of(k, kb);
            if (m.present[k] && ((seed >> 4) & 3) == 0) {
                OK(cairn_repo_delete(r, "t", "u", "coll", kb, strlen(kb), d));
                m.present[k] = 0;
            } else {
                int v = (int)((seed >> 12) % 1000);
                size_t vl = val_of(k, v, vb);
                OK(cairn_repo_put(r, "t", "u", "coll", kb, strlen(kb), vb, vl, CAIRN_KIND_BYTES, d));
                m.present[k] = 1;
                m.val[k] = v;
            }
        }
        check_model("coll", NULL, &m);
        check_model("coll", d, &m);
        check_history_independent(d, &m, round);
        /* the diff against the previous round's version is exactly the model's difference */
        if (prev[0]) {
            char *j = NULL;
            int added = 0, removed = 0, changed = 0, ja = 0, jr = 0, jc = 0;
            char *p;
            OK(cairn_repo_diff(r, "t", prev, d, &j));
            for (int i = 0; i < MK; i++) {
                if (!before.present[i] && m.present[i]) added++;
                else if (before.present[i] && !m.present[i]) removed++;
                else if (before.present[i] && m.present[i] && before.val[i] != m.val[i] &&
                         (val_of(i, before.val[i], vb), 1)) {
                    char v1[800], v2[800];
                    size_t l1 = val_of(i, before.val[i], v1), l2 = val_of(i, m.val[i], v2);
                    changed += (l1 != l2 || memcmp(v1, v2, l1) != 0);
                }
            }
            p = strstr(j, "\"added\":[");
            for (char *q = p; *q != ']'; q++) ja += *q == '"';
            p = strstr(j, "\"removed\":[");
            for (char *q = p; *q != ']'; q++) jr += *q == '"';
            p = strstr(j, "\"changed\":[");
            for (char *q = p; *q != ']'; q++) jc += *q == '"';
            ck_assert_int_eq((ja - 2) / 2, added);
            ck_assert_int_eq((jr - 2) / 2, removed);
            ck_assert_int_eq((jc - 2) / 2, changed);
            cairn_free(j);
            /* the old version still reads as it was */
            check_model("coll", prev, &before);
        }
        memcpy(prev, d, sizeof prev);
    }
    cairn_repo_close(r);
    r = NULL;
    OK(cairn_repo_verify(ct_path("repo")));
    open_repo(CAIRN_SYNC_NONE);
    check_model("coll", NULL, &m);
}
END_TEST

START_TEST(put_many_last_wins_and_empty) {
    char d[65], d2[65], *j = NULL;
    const void *keys[3] = {"a", "b", "a"}, *vals[3] = {"1", "2", "3"};
    size_t kl[3] = {1, 1, 1}, vl[3] = {1, 1, 1};
    void *v;
    size_t n;
    uint64_t c;
    open_repo(CAIRN_SYNC_NONE);
    OK(cairn_repo_init(r, "t"));
    OK(cairn_repo_put_many(r, "t", "u", "c", 3, keys, kl, vals, vl, NULL, d));
    OK(cairn_repo_get(r, "t", "c", NULL, "a", 1, &v, &n, NULL));
    ck_assert(n == 1 && ((char *)v)[0] == '3');
    cairn_free(v);
    OK(cairn_repo_count(r, "t", "c", NULL, &c));
    ck_assert_uint_eq(c, 2);
    /* delete everything: an empty collection, still a version */
    OK(cairn_repo_delete(r, "t", "u", "c", "a", 1, d2));
    OK(cairn_repo_delete(r, "t", "u", "c", "b", 1, d2));
    OK(cairn_repo_count(r, "t", "c", NULL, &c));
    ck_assert_uint_eq(c, 0);
    OK(cairn_repo_diff(r, "t", d, d2, &j));
    ck_assert_str_eq(j, "{\"added\":[],\"removed\":[\"a\",\"b\"],\"changed\":[]}");
    cairn_free(j);
    OK(cairn_repo_diff(r, "t", NULL, d, &j));
    ck_assert_str_eq(j, "{\"added\":[\"a\",\"b\"],\"removed\":[],\"changed\":[]}");
    cairn_free(j);
    /* binary keys come out as $bytes */
    OK(cairn_repo_put(r, "t", "u", "bin", "\xff\x00", 2, "x", 1, 0, d));
    OK(cairn_repo_diff(r, "t", NULL, d, &j));
    ck_assert_str_eq(j, "{\"added\":[{\"$bytes\":\"ff00\"}],\"removed\":[],\"changed\":[]}");
    cairn_free(j);
}
END_TEST

START_TEST(tags_and_gc) {
    char d1[65], d2[65], t[65];
    uint64_t removed = 99;
    struct cairn_repo_stats s = CAIRN_REPO_STATS_INIT;
    open_repo(CAIRN_SYNC_NONE);
    OK(cairn_repo_init(r, "t"));
    OK(cairn_repo_save(r, "t", "u", "e", "one", 3, 0, d1));
    OK(cairn_repo_save(r, "t", "u", "e", "two", 3, 0, d2));
    OK(cairn_repo_tag(r, "t", "release-1", d1));
    OK(cairn_repo_tag_get(r, "t", "release-1", t));
    ck_assert_str_eq(t, d1);
    ck_assert_int_eq(cairn_repo_tag_get(r, "t", "nope", t), CAIRN_NOTFOUND);
    /* everything is reachable: gc removes nothing */
    OK(cairn_repo_gc(r, 0, &removed));
    ck_assert_uint_eq(removed, 0);
    OK(cairn_repo_stats(r, &s));
    ck_assert_uint_eq(s.objects, 4);
    ck_assert_uint_eq(s.tenants, 1);
    /* a change whose ref write fails leaves its objects unreferenced: gc removes exactly those */
    {
        char d3[65], head[65];
        void *v;
        size_t n;
        uint64_t w;
        cairn_io__fault_reset();
        OK(cairn_repo_save(r, "t", "u", "probe", "p", 1, 0, d3));
        w = cairn_io__fault_count(CAIRN_FAULT_WRITE); /* the last write of a save is its ref */
        cairn_io__fault_reset();
        cairn_io__fault_arm(CAIRN_FAULT_WRITE, w, CAIRN_FAULT_EIO, 0);
        ck_assert_int_eq(cairn_repo_save(r, "t", "u", "e", "three", 5, 0, d3), CAIRN_IO);
        cairn_io__fault_reset();
        OK(cairn_repo_digest(r, "t", "e", head));
        ck_assert_str_eq(head, d2);
        OK(cairn_repo_gc(r, 3600 * 1000, &removed)); /* inside the grace period: kept */
        ck_assert_uint_eq(removed, 0);
        OK(cairn_repo_gc(r, 0, &removed));
        ck_assert_uint_eq(removed, 2); /* the value "three" and its version */
        OK(cairn_repo_stats(r, &s));
        ck_assert_uint_eq(s.objects, 6);
        OK(cairn_repo_load(r, "t", "e", d1, &v, &n, NULL));
        ck_assert(n == 3 && memcmp(v, "one", 3) == 0);
        cairn_free(v);
        cairn_repo_close(r);
        r = NULL;
        OK(cairn_repo_verify(ct_path("repo")));
        open_repo(CAIRN_SYNC_NONE);
        OK(cairn_repo_load(r, "t", "probe", NULL, &v, &n, NULL));
        cairn_free(v);
    }
}
END_TEST

/* Flip one byte of the pack: the object that holds it is CORRUPT (never other bytes), verify says so. */
START_TEST(damage_is_corrupt) {
    char d[65], big[2000];
    void *v = NULL;
    size_t n = 0;
    FILE *f;
    long size;
    memset(big, 'z', sizeof big);
    open_repo(CAIRN_SYNC_COMMIT);
    OK(cairn_repo_init(r, "t"));
    OK(cairn_repo_save(r, "t", "u", "e", big, sizeof big, 0, d));
    cairn_repo_close(r);
    r = NULL;
    f = fopen(ct_path("repo/t/t/packs/pack-00000000"), "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    ck_assert_int_gt(size, 1500);
    fseek(f, 1000, SEEK_SET); /* inside the value's payload */
    fputc('Q', f);
    fclose(f);
    ck_assert_int_eq(cairn_repo_verify(ct_path("repo")), CAIRN_CORRUPT);
    open_repo(CAIRN_SYNC_COMMIT);
    ck_assert_int_eq(cairn_repo_load(r, "t", "e", NULL, &v, &n, NULL), CAIRN_CORRUPT);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "does not match its digest"));
}
END_TEST

/* A damaged ref record followed by a good one is CORRUPT, not a silently cut log. */
START_TEST(damaged_ref_log) {
    char d[65];
    FILE *f;
    open_repo(CAIRN_SYNC_COMMIT);
    OK(cairn_repo_init(r, "t"));
    OK(cairn_repo_save(r, "t", "u", "e1", "a", 1, 0, d));
    OK(cairn_repo_save(r, "t", "u", "e2", "b", 1, 0, d));
    cairn_repo_close(r);
    r = NULL;
    f = fopen(ct_path("repo/t/t/refs.log"), "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 10, SEEK_SET); /* the first record's digest: flip its bits (a fixed byte may already be there) */
    {
        int c = fgetc(f);
        ck_assert_int_ne(c, EOF);
        fseek(f, 10, SEEK_SET);
        fputc(c ^ 0xff, f);
    }
    fclose(f);
    open_repo(CAIRN_SYNC_COMMIT);
    ck_assert_int_eq(cairn_repo_digest(r, "t", "e2", d), CAIRN_CORRUPT);
}
END_TEST

/* A torn append at the end of the ref log or the pack (a crash mid-write) is cut off at open:
 * the store is the one before the write. */
START_TEST(torn_tails) {
    char d1[65], d2[65];
    void *v;
    size_t n;
    uint64_t before;
    open_repo(CAIRN_SYNC_COMMIT);
    OK(cairn_repo_init(r, "t"));
    OK(cairn_repo_save(r, "t", "u", "e", "first", 5, 0, d1));
    cairn_repo_close(r);
    r = NULL;
    ck_assert_int_eq(cairn_io__stat(ct_path("repo/t/t/refs.log"), &before), 1);
    open_repo(CAIRN_SYNC_COMMIT);
    OK(cairn_repo_save(r, "t", "u", "e", "second", 6, 0, d2));
    cairn_repo_close(r);
    r = NULL;
    /* cut the second ref record short */
    ck_assert_int_eq(truncate(ct_path("repo/t/t/refs.log"), (off_t)before + 20), 0);
    open_repo(CAIRN_SYNC_COMMIT);
    OK(cairn_repo_load(r, "t", "e", NULL, &v, &n, NULL));
    ck_assert(n == 5 && memcmp(v, "first", 5) == 0);
    cairn_free(v);
    cairn_repo_close(r);
    r = NULL;
    OK(cairn_repo_verify(ct_path("repo")));
}
END_TEST

/* A crash at every fsync of a put leaves the old or the new head, and a sound repository. */
START_TEST(crash_at_every_sync) {
    for (uint64_t nth = 1; nth <= 8; nth++) {
        char d0[65], d1[65] = "", head[65]; /* d1 stays empty when the put fails */
        void *v;
        size_t n;
        int rc;
        ct_tmp_remove();
        ct_tmp_create("repo-crash");
        open_repo(CAIRN_SYNC_COMMIT);
        OK(cairn_repo_init(r, "t"));
        for (int i = 0; i < 50; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%03d", i);
            OK(cairn_repo_put(r, "t", "u", "c", k, strlen(k), "old", 3, 0, d0));
        }
        cairn_io__crash_track(1);
        cairn_io__crash_at_sync(nth, nth % 2 ? CAIRN_CRASH_DROP : CAIRN_CRASH_TEAR, nth);
        rc = cairn_repo_put(r, "t", "u", "c", "k025", 4, "new", 3, 0, d1);
        cairn_repo_close(r);
        r = NULL;
        cairn_io__crash_track(0);
        open_repo(CAIRN_SYNC_COMMIT);
        OK(cairn_repo_digest(r, "t", "c", head));
        OK(cairn_repo_get(r, "t", "c", NULL, "k025", 4, &v, &n, NULL));
        if (rc == 0 && !cairn_io__crashed()) {
            ck_assert_str_eq(head, d1);
        } else {
            ck_assert_msg(strcmp(head, d0) == 0 || strcmp(head, d1) == 0, "crash at sync %llu: head is neither", (unsigned long long)nth);
        }
        ck_assert(n == 3 && (memcmp(v, strcmp(head, d1) == 0 ? "new" : "old", 3) == 0));
        cairn_free(v);
        cairn_repo_close(r);
        r = NULL;
        OK(cairn_repo_verify(ct_path("repo")));
        /* whatever the crash left unreferenced, gc can sweep; nothing referenced goes */
        open_repo(CAIRN_SYNC_COMMIT);
        {
            uint64_t removed = 0;
            OK(cairn_repo_gc(r, 0, &removed));
        }
        OK(cairn_repo_get(r, "t", "c", NULL, "k000", 4, &v, &n, NULL));
        cairn_free(v);
        cairn_repo_close(r);
        r = NULL;
        OK(cairn_repo_verify(ct_path("repo")));
    }
}
END_TEST

/* An injected write error fails the call and changes nothing; the handle goes on. A failed
 * fsync fails the handle for writes (never retried). */
START_TEST(write_faults) {
    char d0[65], d[65], head[65];
    uint64_t writes;
    open_repo(CAIRN_SYNC_COMMIT);
    OK(cairn_repo_init(r, "t"));
    OK(cairn_repo_put(r, "t", "u", "c", "a", 1, "1", 1, 0, d0));
    cairn_io__fault_reset();
    OK(cairn_repo_put(r, "t", "u", "c", "b", 1, "2", 1, 0, d));
    writes = cairn_io__fault_count(CAIRN_FAULT_WRITE);
    ck_assert_uint_gt(writes, 1);
    for (uint64_t nth = 1; nth <= writes; nth++) {
        char dd[65];
        OK(cairn_repo_digest(r, "t", "c", d0));
        cairn_io__fault_reset();
        cairn_io__fault_arm(CAIRN_FAULT_WRITE, nth, CAIRN_FAULT_EIO, 0);
        char val[32];
        snprintf(val, sizeof val, "value %llu", (unsigned long long)nth); /* new bytes each time */
        ck_assert_int_ne(cairn_repo_put(r, "t", "u", "c", "x", 1, val, strlen(val), 0, dd), 0);
        cairn_io__fault_reset();
        OK(cairn_repo_digest(r, "t", "c", head));
        ck_assert_str_eq(head, d0);
    }
    OK(cairn_repo_put(r, "t", "u", "c", "z", 1, "9", 1, 0, d));
    cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_ne(cairn_repo_put(r, "t", "u", "c", "w", 1, "9", 1, 0, d0), 0);
    cairn_io__fault_reset();
    ck_assert_int_eq(cairn_repo_put(r, "t", "u", "c", "v", 1, "9", 1, 0, d0), CAIRN_FAILED);
    cairn_repo_close(r);
    r = NULL;
    OK(cairn_repo_verify(ct_path("repo")));
    open_repo(CAIRN_SYNC_COMMIT);
    OK(cairn_repo_digest(r, "t", "c", head));
    ck_assert_str_eq(head, d);
}
END_TEST

/* An entry keeps its shape: a save onto a collection is TYPE (as a put into a whole value) and
 * changes nothing. Count and iterate of something absent say what is missing. */
START_TEST(save_onto_collection_is_type) {
    char d[65], head[65];
    void *v = NULL;
    size_t n = 0;
    open_repo(CAIRN_SYNC_NONE);
    OK(cairn_repo_init(r, "t"));
    OK(cairn_repo_put(r, "t", "u", "c", "k", 1, "v", 1, CAIRN_KIND_TEXT, d));
    ck_assert_int_eq(cairn_repo_save(r, "t", "u", "c", "x", 1, CAIRN_KIND_TEXT, head), CAIRN_TYPE);
    {   /* count and iterate of an absent entry or version: NOTFOUND that says what is missing */
        uint64_t cnt = 0;
        cairn_repo_iter *it = NULL;
        char zero[65];
        memset(zero, '0', 64);
        zero[64] = 0;
        ck_assert_int_eq(cairn_repo_count(r, "t", "nope", NULL, &cnt), CAIRN_NOTFOUND);
        ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "no entry 'nope'"));
        ck_assert_int_eq(cairn_repo_iter_open(&it, r, "t", "c", zero), CAIRN_NOTFOUND);
        ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "no version 0000"));
    }
    OK(cairn_repo_digest(r, "t", "c", head));
    ck_assert_str_eq(head, d);
    OK(cairn_repo_get(r, "t", "c", NULL, "k", 1, &v, &n, NULL));
    ck_assert(n == 1 && memcmp(v, "v", 1) == 0);
    cairn_free(v);
}
END_TEST

/* A pack cut inside the objects a head names (damage, not a crash: the ref landed after them) is
 * CORRUPT for every read of the head, never "absent" (null in a binding) nor an older value. */
START_TEST(head_naming_cut_objects_is_corrupt) {
    char d[65], big[1000];
    void *v = NULL;
    size_t n = 0;
    uint64_t size = 0, cnt = 0;
    cairn_repo_iter *it = NULL;
    memset(big, 'a', sizeof big);
    open_repo(CAIRN_SYNC_COMMIT);
    OK(cairn_repo_init(r, "t"));
    OK(cairn_repo_save(r, "t", "u", "e", big, sizeof big, 0, d));
    big[0] = 'b';
    OK(cairn_repo_save(r, "t", "u", "e", big, sizeof big, 0, d));
    OK(cairn_repo_put(r, "t", "u", "c", "k", 1, "v", 1, 0, d));
    cairn_repo_close(r);
    r = NULL;
    ck_assert_int_eq(cairn_io__stat(ct_path("repo/t/t/packs/pack-00000000"), &size), 1);
    ck_assert_int_eq(truncate(ct_path("repo/t/t/packs/pack-00000000"), (off_t)size - 10), 0);
    ck_assert_int_eq(cairn_repo_verify(ct_path("repo")), CAIRN_CORRUPT);
    open_repo(CAIRN_SYNC_COMMIT);
    ck_assert_int_eq(cairn_repo_get(r, "t", "c", NULL, "k", 1, &v, &n, NULL), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_repo_count(r, "t", "c", NULL, &cnt), CAIRN_CORRUPT);
    ck_assert_int_eq(cairn_repo_iter_open(&it, r, "t", "c", NULL), CAIRN_CORRUPT);
    OK(cairn_repo_load(r, "t", "e", NULL, &v, &n, NULL)); /* another entry's head is whole */
    ck_assert(n == sizeof big && ((char *)v)[0] == 'b');
    cairn_free(v);
}
END_TEST

/* A tenant whose name encodes past 200 bytes lives in a "~<hash>" directory: it is still listed,
 * counted, verified and collected (its NAME file gives the name back). */
START_TEST(long_tenant_names_listed) {
    char name[256], d[65], *json = NULL;
    struct cairn_repo_stats st = CAIRN_REPO_STATS_INIT;
    memset(name, 't', 255);
    name[255] = 0;
    name[0] = '/'; /* %2F: the encoding passes 200 bytes sooner */
    open_repo(CAIRN_SYNC_NONE);
    OK(cairn_repo_init(r, name));
    OK(cairn_repo_init(r, "short"));
    OK(cairn_repo_save(r, name, "u", "e", "v", 1, 0, d));
    cairn_repo_close(r);
    r = NULL;
    open_repo(CAIRN_SYNC_NONE);
    OK(cairn_repo_tenants(r, &json));
    ck_assert_ptr_nonnull(strstr(json, name));
    ck_assert_ptr_nonnull(strstr(json, "\"short\""));
    cairn_free(json);
    OK(cairn_repo_stats(r, &st));
    ck_assert_uint_eq(st.tenants, 2);
    ck_assert_uint_eq(st.objects, 2);
    OK(cairn_repo_gc(r, 0, NULL));
    cairn_repo_close(r);
    r = NULL;
    OK(cairn_repo_verify(ct_path("repo")));
}
END_TEST

/* A creation killed between the directory and its marker (write_atomic's CAIRN-REPO.tmp left
 * beside LOCK and t/) is finished by the next writer open, not refused as "not empty". */
START_TEST(creation_killed_before_marker) {
    char p[4096];
    FILE *f;
    char d[65];
    snprintf(p, sizeof p, "%s", ct_path("repo"));
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/t", ct_path("repo"));
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/LOCK", ct_path("repo"));
    ck_assert_ptr_nonnull(f = fopen(p, "w"));
    fclose(f);
    snprintf(p, sizeof p, "%s/CAIRN-REPO.tmp", ct_path("repo"));
    ck_assert_ptr_nonnull(f = fopen(p, "w"));
    fputs("cairn-re", f);
    fclose(f);
    open_repo(CAIRN_SYNC_COMMIT);
    OK(cairn_repo_init(r, "t"));
    OK(cairn_repo_save(r, "t", "u", "e", "v", 1, 0, d));
    cairn_repo_close(r);
    r = NULL;
    OK(cairn_repo_verify(ct_path("repo")));
    ck_assert_int_eq(access(p, F_OK), -1); /* the temporary file became the marker */
}
END_TEST

/* The diff compares the changed leaves as raw bytes and keeps checked tree nodes in a per-handle
 * cache: the whole answer (not only the counts) must be the model's difference with no cache, with
 * a cache so small that it evicts while the diff holds leaves, and with the default cache, both on
 * the first diff after open (everything read and hashed) and on the next (served from the cache).
 * The changes are the hard cases for a byte comparison: a value that differs in its last byte
 * only, a value that changes length, one that moves out of line (and back), keys removed and
 * added next to each other and at both ends. */
#define DK 3000
static size_t dval(int k, int ver, char *out) {
    size_t n = ver == 2 ? 400 : ver == 3 ? 31 : 30; /* 2: out of line; 3: one byte longer */
    for (size_t i = 0; i < n; i++) out[i] = (char)('a' + (k * 7 + (int)i) % 26);
    if (ver == 1) out[n - 1] = 'Z'; /* the same length, the last byte differs */
    return n;
}
static void dkey(int k, char *out) { snprintf(out, 16, "k%06d", k); }

START_TEST(diff_cached_and_raw) {
    static char kb[DK + 10][16], vb[DK + 10][400];
    const void *keys[DK + 10], *vals[DK + 10];
    size_t kls[DK + 10], vls[DK + 10], n = 0;
    int ver[DK + 10], present[DK + 10];
    char d0[65], d1[65], d[65], want[65536], *w = want;
    const char *sep;
    /* no cache; a tiny one (objects are 0.5-4 KiB); the default */
    static const uint64_t caches[3] = {1, 8192, 0};
    memset(ver, 0, sizeof ver);
    memset(present, 0, sizeof present);
    open_repo(CAIRN_SYNC_NONE);
    OK(cairn_repo_init(r, "t"));
    for (int k = 1; k < DK; k++) {
        present[k] = 1;
        dkey(k, kb[n]);
        keys[n] = kb[n], kls[n] = strlen(kb[n]);
        vls[n] = dval(k, 0, vb[n]), vals[n] = vb[n];
        n++;
    }
    OK(cairn_repo_put_many(r, "t", "u", "c", n, keys, kls, vals, vls, NULL, d0));
    /* the changes, applied to the model (ver -1: removed) and the entry */
    n = 0;
    for (int k = 0; k < DK + 5; k++) {
        int nv = present[k] ? ver[k] : -1;
        if (k == 0 || k >= DK) nv = 0;                               /* added at both ends */
        else if (k % 97 == 0) nv = -1;                               /* removed */
        else if (k % 97 == 1 || k == 2 || k == DK - 1) nv = 1;       /* last byte */
        else if (k % 211 == 5) nv = 2;                               /* out of line */
        else if (k % 301 == 7) nv = 3;                               /* longer */
        else if (k % 500 == 250) { nv = -1; }                        /* removed, then added below */
        if (nv == -1 && present[k]) {
            char del[16];
            dkey(k, del);
            OK(cairn_repo_delete(r, "t", "u", "c", del, strlen(del), NULL));
            present[k] = 0;
        } else if (nv >= 0 && (!present[k] || nv != ver[k])) {
            dkey(k, kb[n]);
            keys[n] = kb[n], kls[n] = strlen(kb[n]);
            vls[n] = dval(k, nv, vb[n]), vals[n] = vb[n];
            n++;
            ver[k] = nv;
            present[k] = 2; /* 2: added or changed */
        }
    }
    for (int k = 250; k < DK; k += 500) { /* re-added with a new value */
        dkey(k, kb[n]);
        keys[n] = kb[n], kls[n] = strlen(kb[n]);
        vls[n] = dval(k, 1, vb[n]), vals[n] = vb[n];
        n++;
    }
    OK(cairn_repo_put_many(r, "t", "u", "c", n, keys, kls, vals, vls, NULL, NULL));
    OK(cairn_repo_digest(r, "t", "c", d1));
    /* the expected answer: keys in order */
    w += sprintf(w, "{\"added\":[");
    sep = "";
    for (int k = 0; k < DK + 5; k++)
        if (present[k] == 2 && (k == 0 || k >= DK)) w += sprintf(w, "%s\"k%06d\"", sep, k), sep = ",";
    w += sprintf(w, "],\"removed\":[");
    sep = "";
    for (int k = 1; k < DK; k++)
        if (!present[k] && k % 500 != 250) w += sprintf(w, "%s\"k%06d\"", sep, k), sep = ",";
    w += sprintf(w, "],\"changed\":[");
    sep = "";
    for (int k = 1; k < DK; k++)
        if (present[k] == 2 || k % 500 == 250) w += sprintf(w, "%s\"k%06d\"", sep, k), sep = ",";
    sprintf(w, "]}");
    cairn_repo_close(r);
    r = NULL;
    for (int c = 0; c < 3; c++) {
        cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
        o.sync = CAIRN_SYNC_NONE;
        o.cache_bytes = caches[c];
        OK(cairn_repo_open(&r, ct_path("repo"), &o));
        for (int round = 0; round < 2; round++) { /* cold, then warm */
            char *j = NULL;
            OK(cairn_repo_diff(r, "t", d0, d1, &j));
            ck_assert_str_eq(j, want);
            cairn_free(j);
            /* and the other way round: added and removed swap */
            OK(cairn_repo_diff(r, "t", d1, d0, &j));
            ck_assert_ptr_nonnull(strstr(j, "\"removed\":[\"k000000\""));
            cairn_free(j);
        }
        OK(cairn_repo_digest(r, "t", "c", d));
        ck_assert_str_eq(d, d1);
        cairn_repo_close(r);
        r = NULL;
    }
    /* an options struct of version 1 (without cache_bytes) still opens */
    {
        cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
        char *j = NULL;
        o.version = 1;
        o.cache_bytes = 12345; /* not read: past a version-1 struct */
        OK(cairn_repo_open(&r, ct_path("repo"), &o));
        OK(cairn_repo_diff(r, "t", d0, d1, &j));
        ck_assert_str_eq(j, want);
        cairn_free(j);
    }
}
END_TEST

/* A damaged leaf is CORRUPT from a diff on a fresh handle (read through the pack's mapping), and
 * a handle that cached the leaf before the damage goes on serving the bytes it checked. */
START_TEST(diff_damaged_leaf) {
    static char kb[400][16], vb[400][64];
    const void *keys[400], *vals[400];
    size_t kls[400], vls[400];
    char d0[65], d1[65], *j = NULL;
    FILE *f;
    long size;
    cairn_repo *warm = NULL;
    for (int k = 0; k < 400; k++) {
        dkey(k, kb[k]);
        keys[k] = kb[k], kls[k] = strlen(kb[k]);
        vls[k] = dval(k, 0, vb[k]), vals[k] = vb[k];
    }
    open_repo(CAIRN_SYNC_COMMIT);
    OK(cairn_repo_init(r, "t"));
    OK(cairn_repo_put_many(r, "t", "u", "c", 400, keys, kls, vals, vls, NULL, d0));
    f = fopen(ct_path("repo/t/t/packs/pack-00000000"), "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fclose(f);
    vb[0][3] = 'Q';
    OK(cairn_repo_put(r, "t", "u", "c", kb[0], kls[0], vb[0], vls[0], CAIRN_KIND_BYTES, d1));
    OK(cairn_repo_diff(r, "t", d0, d1, &j)); /* reads (and caches) the changed leaves */
    ck_assert_str_eq(j, "{\"added\":[],\"removed\":[],\"changed\":[\"k000000\"]}");
    cairn_free(j);
    warm = r;
    r = NULL;
    /* damage the middle of the first version's objects: a leaf (records of 40 bytes of values) */
    f = fopen(ct_path("repo/t/t/packs/pack-00000000"), "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 200, SEEK_SET);
    fputc(fgetc(f) ^ 0x20, f);
    fclose(f);
    (void)size;
    {
        cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
        o.read_only = 1;
        OK(cairn_repo_open(&r, ct_path("repo"), &o));
    }
    ck_assert_int_eq(cairn_repo_diff(r, "t", d0, d1, &j), CAIRN_CORRUPT);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "does not match its digest"));
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "pack-00000000"));
    /* the handle that checked the leaf before the damage still answers from its cache */
    OK(cairn_repo_diff(warm, "t", d0, d1, &j));
    ck_assert_str_eq(j, "{\"added\":[],\"removed\":[],\"changed\":[\"k000000\"]}");
    cairn_free(j);
    cairn_repo_close(warm);
}
END_TEST

/* ---- iterators and the close of their handle: a step after close is CAIRN_CLOSED (never a read
 * through freed memory), a free works before or after close in any order, and the handle's
 * memory goes with the last iterator (ASan and valgrind see a leak or a use after free). */

#define IC_N 1000 /* records: many leaves (64 a leaf on average) */

static size_t ic_key(int i, char *k) { return (size_t)sprintf(k, "k%05d", i); }
/* every 10th value has an object of its own (over 256 bytes), the others are inline */
static size_t ic_val(int i, char *v) {
    size_t n = i % 10 == 0 ? 700 : 5 + (size_t)(i % 7);
    for (size_t j = 0; j < n; j++) v[j] = (char)('a' + (i + (int)j) % 26);
    return n;
}

/* A collection "c" of tenant "t" with IC_N records; its digest in d. */
static void ic_fill(char *d) {
    static char kb[IC_N][8], vb[IC_N][700];
    const void *keys[IC_N], *vals[IC_N];
    size_t klens[IC_N], vlens[IC_N];
    OK(cairn_repo_init(r, "t"));
    for (int i = 0; i < IC_N; i++) {
        klens[i] = ic_key(i, kb[i]);
        vlens[i] = ic_val(i, vb[i]);
        keys[i] = kb[i];
        vals[i] = vb[i];
    }
    OK(cairn_repo_put_many(r, "t", "u", "c", IC_N, keys, klens, vals, vlens, NULL, d));
}

/* Step `it` over `n` records from record *i on, checking each; *i moves on. */
static void ic_steps(cairn_repo_iter *it, int *i, int n) {
    const void *k, *v;
    size_t kl, vl;
    int kind;
    char kb[8], vb[700];
    for (int s = 0; s < n; s++, (*i)++) {
        OK(cairn_repo_iter_next(it, &k, &kl, &v, &vl, &kind));
        ck_assert(kl == ic_key(*i, kb) && memcmp(k, kb, kl) == 0);
        ck_assert(vl == ic_val(*i, vb) && memcmp(v, vb, vl) == 0);
    }
}

/* A step after close is CLOSED (message naming the call), again and again; the key, value and
 * length outputs are left alone. */
static void ic_closed(cairn_repo_iter *it) {
    const void *k = NULL, *v = NULL;
    size_t kl = 7, vl = 7;
    int kind = 7;
    for (int n = 0; n < 3; n++) {
        ck_assert_int_eq(cairn_repo_iter_next(it, &k, &kl, &v, &vl, &kind), CAIRN_CLOSED);
        ck_assert_msg(strstr(cairn_errmsg(), "cairn_repo_iter_next") != NULL, "message: %s", cairn_errmsg());
        ck_assert(k == NULL && v == NULL && kl == 7 && vl == 7 && kind == 7);
    }
}

/* Close in the middle of a leaf (the next step needs no lock), at a record whose value is an
 * object of its own, and at the end of a leaf; the lock is released at close: a second writer
 * opens the repository at once, while the iterator still lives. */
START_TEST(iter_after_close) {
    static const int at[] = {5, 10, 63, 64, 65, 500, IC_N - 1, IC_N};
    char d[65], d2[65];
    int i = 0;
    cairn_repo_iter *it = NULL;
    cairn_repo *w = NULL;
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    open_repo(CAIRN_SYNC_NONE);
    ic_fill(d);
    cairn_repo_close(r);
    r = NULL;
    for (size_t c = 0; c < sizeof at / sizeof at[0]; c++) {
        const void *k, *v;
        size_t kl, vl;
        int kind;
        open_repo(CAIRN_SYNC_NONE);
        OK(cairn_repo_iter_open(&it, r, "t", "c", d));
        i = 0;
        ic_steps(it, &i, at[c]);
        if (at[c] == IC_N)
            ck_assert_int_eq(cairn_repo_iter_next(it, &k, &kl, &v, &vl, &kind), CAIRN_ITEROVER);
        cairn_repo_close(r);
        r = NULL;
        ic_closed(it);
        /* the files and the writer's lock went at close: another writer opens and writes */
        o.lock_timeout_ms = 0;
        OK(cairn_repo_open(&w, ct_path("repo"), &o));
        OK(cairn_repo_put(w, "t", "u", "c2", "k", 1, "v", 1, CAIRN_KIND_BYTES, d2));
        ic_closed(it);
        cairn_repo_close(w);
        w = NULL;
        cairn_repo_iter_free(it); /* frees the closed handle too */
        it = NULL;
    }
    OK(cairn_repo_verify(ct_path("repo")));
}
END_TEST

/* Iterators freed before the close, after it, and in either order of two; closing a handle that
 * is closed already (its iterators still open) changes nothing. */
START_TEST(iter_free_any_order) {
    char d[65];
    cairn_repo_iter *a = NULL, *b = NULL, *c = NULL;
    char *j = NULL;
    uint64_t n = 0;
    int i;
    open_repo(CAIRN_SYNC_NONE);
    ic_fill(d);
    /* freed before close (never stepped, stepped, at the end) */
    OK(cairn_repo_iter_open(&a, r, "t", "c", NULL));
    OK(cairn_repo_iter_open(&b, r, "t", "c", d));
    OK(cairn_repo_iter_open(&c, r, "t", "c", d));
    i = 0;
    ic_steps(b, &i, 100);
    i = 0;
    ic_steps(c, &i, IC_N);
    cairn_repo_iter_free(a);
    cairn_repo_iter_free(b);
    cairn_repo_iter_free(c);
    OK(cairn_repo_count(r, "t", "c", NULL, &n));
    ck_assert_uint_eq(n, IC_N);
    cairn_repo_close(r); /* no iterator: the handle goes at once */
    r = NULL;
    for (int order = 0; order < 2; order++) {
        int ia = 0, ib = 0;
        open_repo(CAIRN_SYNC_NONE);
        OK(cairn_repo_iter_open(&a, r, "t", "c", d));
        OK(cairn_repo_iter_open(&b, r, "t", "c", NULL));
        ic_steps(a, &ia, 70);
        ic_steps(b, &ib, 3);
        ic_steps(a, &ia, 1);
        cairn_repo_close(r);
        /* the handle's other calls are CLOSED as well while its memory lives */
        ck_assert_int_eq(cairn_repo_tenants(r, &j), CAIRN_CLOSED);
        ck_assert_int_eq(cairn_repo_iter_open(&c, r, "t", "c", d), CAIRN_CLOSED);
        ck_assert_ptr_null(c);
        cairn_repo_close(r); /* closed already: nothing */
        ic_closed(a);
        ic_closed(b);
        if (order == 0) {
            cairn_repo_iter_free(a);
            ic_closed(b);
            cairn_repo_iter_free(b);
        } else {
            cairn_repo_iter_free(b);
            ic_closed(a);
            cairn_repo_iter_free(a);
        }
        r = NULL;
    }
    cairn_repo_iter_free(NULL);
}
END_TEST

/* A failed handle (a failed fsync): writes are CAIRN_FAILED, reads go on as before, since every
 * object read is checked against its digest; an iterator answers as the handle's other reads do:
 * one open before the failure and one opened after it walk the whole version, a get agrees. Its
 * close then frees it (with the iterator still open) and the next step is CLOSED. */
START_TEST(iter_on_failed_handle) {
    char d[65], d2[65];
    cairn_repo_iter *a = NULL, *b = NULL;
    const void *k, *v;
    size_t kl, vl;
    int kind, ia = 0, rc;
    void *got = NULL;
    size_t gl = 0;
    uint64_t n = 0;
    char kb[8], vb[700];
    open_repo(CAIRN_SYNC_COMMIT);
    ic_fill(d);
    OK(cairn_repo_iter_open(&a, r, "t", "c", NULL));
    ic_steps(a, &ia, 100);
    cairn_io__fault_reset();
    cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_ne(cairn_repo_put(r, "t", "u", "c", "zz", 2, "1", 1, 0, d2), 0);
    cairn_io__fault_reset();
    /* fail-stop: writes and reads alike */
    ck_assert_int_eq(cairn_repo_put(r, "t", "u", "c", "zz", 2, "1", 1, 0, d2), CAIRN_FAILED);
    ck_assert_int_eq(cairn_repo_save(r, "t", "u", "v", "1", 1, 0, d2), CAIRN_FAILED);
    ck_assert_int_eq(cairn_repo_get(r, "t", "c", d, "k00010", 6, &got, &gl, &kind), CAIRN_FAILED);
    ck_assert_msg(strstr(cairn_errmsg(), "cairn_repo_get") != NULL, "message: %s", cairn_errmsg());
    ck_assert_ptr_null(got);
    ck_assert_int_eq(cairn_repo_count(r, "t", "c", d, &n), CAIRN_FAILED);
    ck_assert_int_eq(cairn_repo_iter_open(&b, r, "t", "c", d), CAIRN_FAILED);
    /* the iterator from before: what it still yields is right (the rest of the leaf it holds),
     * and its next read of the repository is CAIRN_FAILED */
    while ((rc = cairn_repo_iter_next(a, &k, &kl, &v, &vl, &kind)) == 0) {
        ck_assert(kl == ic_key(ia, kb) && memcmp(k, kb, kl) == 0);
        ck_assert(vl == ic_val(ia, vb) && memcmp(v, vb, vl) == 0);
        ia++;
    }
    ck_assert_int_eq(rc, CAIRN_FAILED);
    ck_assert_int_lt(ia, IC_N);
    cairn_repo_close(r);
    r = NULL;
    ic_closed(a);
    cairn_repo_iter_free(a);
    /* what was acknowledged is there */
    open_repo(CAIRN_SYNC_COMMIT);
    {
        char head[65];
        OK(cairn_repo_digest(r, "t", "c", head));
        ck_assert_str_eq(head, d);
        OK(cairn_repo_get(r, "t", "c", d, "k00010", 6, &got, &gl, &kind));
        ck_assert(gl == ic_val(10, vb) && memcmp(got, vb, gl) == 0);
        cairn_free(got);
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("repo");
    TCase *t = tcase_create("core");
    tcase_add_checked_fixture(t, mk, rm);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, save_load_history);
    tcase_add_test(t, dedup_and_tenants);
    tcase_add_test(t, bad_input);
    tcase_add_test(t, collection_model);
    tcase_add_test(t, put_many_last_wins_and_empty);
    tcase_add_test(t, tags_and_gc);
    tcase_add_test(t, damage_is_corrupt);
    tcase_add_test(t, damaged_ref_log);
    tcase_add_test(t, torn_tails);
    tcase_add_test(t, crash_at_every_sync);
    tcase_add_test(t, write_faults);
    tcase_add_test(t, save_onto_collection_is_type);
    tcase_add_test(t, head_naming_cut_objects_is_corrupt);
    tcase_add_test(t, long_tenant_names_listed);
    tcase_add_test(t, creation_killed_before_marker);
    tcase_add_test(t, diff_cached_and_raw);
    tcase_add_test(t, diff_damaged_leaf);
    tcase_add_test(t, iter_after_close);
    tcase_add_test(t, iter_free_any_order);
    tcase_add_test(t, iter_on_failed_handle);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return ct_run(suite()); }
