/* quickstart.c - Cairn from C: the log KV, the blob store and the table in a few lines each.
 *
 *   quickstart DIR      (DIR is created if missing, its parent must exist; the KV lives in DIR/kv,
 *                        the blob store in DIR/blobs.db, the table in DIR/people)
 *
 * Build against an installed Cairn:
 *   cc quickstart.c -o quickstart $(pkg-config --cflags --libs cairn) \
 *      -Wl,-rpath,$(pkg-config --variable=libdir cairn)
 */
#define _POSIX_C_SOURCE 200809L /* mkdir */
#include <cairn.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CHECK(call)                                                                              \
    do {                                                                                         \
        int rc_ = (call);                                                                        \
        if (rc_ != 0) {                                                                          \
            fprintf(stderr, "%s failed: %s: %s\n", #call, cairn_errname(rc_), cairn_errmsg());  \
            return 1;                                                                            \
        }                                                                                        \
    } while (0)

static int kv_demo(const char *dir) {
    cairn_kv_options opts = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    cairn_kv_iter *it = NULL;
    struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
    const void *key;
    size_t klen, vlen;
    void *val = NULL;
    int kind = 0, rc;
    uint64_t n = 0;

    CHECK(cairn_kv_open(&kv, dir, &opts));
    CHECK(cairn_kv_put(kv, "user:1", 6, "{\"name\":\"Ana\",\"age\":30}", 23, CAIRN_KIND_JSON));
    CHECK(cairn_kv_put(kv, "greeting", 8, "hello, cairn", 12, CAIRN_KIND_TEXT));

    /* a transaction: both writes or neither */
    CHECK(cairn_kv_begin(kv));
    CHECK(cairn_kv_put(kv, "balance", 7, "1000", 4, CAIRN_KIND_TEXT));
    CHECK(cairn_kv_put(kv, "last_updated", 12, "2026-03-04", 10, CAIRN_KIND_TEXT));
    CHECK(cairn_kv_commit(kv));

    CHECK(cairn_kv_get(kv, "user:1", 6, &val, &vlen, &kind));
    printf("kv: user:1 = %.*s (kind %d)\n", (int)vlen, (const char *)val, kind);
    cairn_free(val);

    rc = cairn_kv_get(kv, "missing", 7, &val, &vlen, &kind);
    printf("kv: missing -> %s\n", cairn_errname(rc)); /* CAIRN_NOTFOUND: an outcome, not a failure */

    CHECK(cairn_kv_delete(kv, "greeting", 8));
    CHECK(cairn_kv_count(kv, &n));
    printf("kv: %llu keys:", (unsigned long long)n);
    CHECK(cairn_kv_iter_open(&it, kv, NULL, 0));
    while ((rc = cairn_kv_iter_next(it, &key, &klen)) == 0) printf(" %.*s", (int)klen, (const char *)key);
    cairn_kv_iter_free(it);
    printf("\n");

    CHECK(cairn_kv_compact(kv));
    CHECK(cairn_kv_stats(kv, &st));
    printf("kv: after reclaim: %llu keys, %llu live bytes, %llu dead bytes, %llu data files\n",
           (unsigned long long)st.keys, (unsigned long long)st.live_bytes, (unsigned long long)st.dead_bytes,
           (unsigned long long)st.data_files);
    cairn_kv_close(kv);
    return 0;
}

static void on_event(void *ctx, int event, uint32_t key, uint64_t old_size, uint64_t new_size) {
    static const char *names[] = {"?", "created", "updated", "deleted"};
    (void)ctx;
    printf("blob: event %s key=%u size %llu -> %llu\n", names[event >= 1 && event <= 3 ? event : 0], key,
           (unsigned long long)old_size, (unsigned long long)new_size);
}

static int blob_demo(const char *path) {
    cairn_blob *b = NULL;
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    uint32_t key = 0, reserved = 0;
    uint64_t sub = 0;
    void *data = NULL;
    size_t len = 0;
    static const unsigned char bytes[] = {1, 2, 3};

    CHECK(cairn_blob_open(&b, path, NULL));
    CHECK(cairn_blob_subscribe(b, on_event, NULL, &sub));
    CHECK(cairn_blob_create(b, bytes, sizeof bytes, &key));
    CHECK(cairn_blob_update(b, key, "a longer value", 14));
    CHECK(cairn_blob_read(b, key, &data, &len));
    printf("blob: key %u = %.*s\n", key, (int)len, (const char *)data);
    cairn_free(data);
    CHECK(cairn_blob_reserve_next_key(b, &reserved));
    CHECK(cairn_blob_create_with_key(b, reserved, "", 0)); /* zero-length blobs are fine */
    CHECK(cairn_blob_delete(b, key));
    CHECK(cairn_blob_stats(b, &st));
    printf("blob: %llu entries, %llu free bytes in %llu free entries, file %llu bytes\n",
           (unsigned long long)st.entries, (unsigned long long)st.free_bytes,
           (unsigned long long)st.free_entries, (unsigned long long)st.file_size);
    CHECK(cairn_blob_unsubscribe(b, sub));
    cairn_blob_close(b);
    return 0;
}

static int table_demo(const char *dir) {
    cairn_table_options opts = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    cairn_table_iter *it = NULL;
    const char *text;
    char *row = NULL;
    uint64_t id = 0, n = 0;
    int rc;

    /* the schema is stored in the table: reopening needs none (the same one is accepted too) */
    opts.schema = "name string not null, score f64 default 0, at timestamp";
    CHECK(cairn_table_open(&t, dir, &opts));
    CHECK(cairn_table_insert_json(t, "{\"name\": \"Ana\", \"score\": 9.5, \"at\": 1700000000000000}", &id));
    CHECK(cairn_table_get_json(t, id, &row));
    printf("table: row %llu = %s\n", (unsigned long long)id, row);
    cairn_free(row);

    /* a transaction: both rows or neither */
    CHECK(cairn_table_begin(t));
    CHECK(cairn_table_insert_json(t, "{\"name\": \"Bob\"}", NULL)); /* score takes its default */
    CHECK(cairn_table_insert_json(t, "{\"name\": \"Cy\", \"score\": 7.25}", NULL));
    CHECK(cairn_table_commit(t));

    rc = cairn_table_insert_json(t, "{\"score\": 1}", NULL); /* name is NOT NULL */
    printf("table: a row without a name -> %s\n", cairn_errname(rc)); /* CAIRN_CONSTRAINT; nothing stored */

    CHECK(cairn_table_update_json(t, id, "{\"score\": 10}"));
    CHECK(cairn_table_count(t, &n));
    printf("table: %llu rows\n", (unsigned long long)n);
    CHECK(cairn_table_iter_open(&it, t));
    while ((rc = cairn_table_iter_next_json(it, &id, &text)) == 0)
        printf("table:   %llu %s\n", (unsigned long long)id, text);
    cairn_table_iter_free(it);
    cairn_table_close(t); /* checkpoints the rows into column segments */
    return 0;
}

int main(int argc, char **argv) {
    char kvdir[4096], blobpath[4096], tabledir[4096];
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    printf("cairn %s\n", cairn_version());
    /* cairn_kv_open creates the store's own directory, not its parents: make DIR here. */
    if (mkdir(argv[1], 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkdir %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    snprintf(kvdir, sizeof kvdir, "%s/kv", argv[1]);
    snprintf(blobpath, sizeof blobpath, "%s/blobs.db", argv[1]);
    snprintf(tabledir, sizeof tabledir, "%s/people", argv[1]);
    if (kv_demo(kvdir) != 0) return 1;
    if (blob_demo(blobpath) != 0) return 1;
    return table_demo(tabledir);
}
