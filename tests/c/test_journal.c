/* test_journal.c - Check tests of the journal over the shared WAL (wal/journal.h), alone, with a
 * toy engine: a data file whose first 16 bytes are its header (8 bytes "TOYENGIN", then the u64
 * LSN). Pending writes and truncates, savepoints, commit, apply (in order, header stamped last),
 * the overlay served to readers, recovery planning, materialize, checkpoint, and faults and
 * simulated crashes through the I/O layer. */
#include "util.h"
#include "wal/wal.h"
#include "wal/journal.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

#define META 16u

static void mk_tmp(void) { ct_tmp_create("jnl"); }
static void rm_tmp(void) { ct_tmp_remove(); }

typedef struct toy {
    cairn_wal *w;
    cairn_file *f;
    cairn_jnl *j;
    cairn_wal_info wi;
    int metas, redo_metas, stamps, settles;
    uint64_t stamped;          /* last lsn stamped */
    uint8_t meta[META];        /* last header record handed to meta (apply) */
    uint64_t probe_off;        /* at each stamp: the byte at probe_off as in the file then */
    int probe_byte;
    int fail_stamp;
} toy;

static int toy_meta(void *ctx, const uint8_t *p, size_t len, int redo) {
    toy *t = (toy *)ctx;
    uint8_t h[META];
    ck_assert_uint_eq(len, META);
    if (!redo) {
        memcpy(t->meta, p, META);
        t->metas++;
        return 0;
    }
    t->redo_metas++;
    memcpy(h, p, META);
    cairn_put64(h + 8, cairn_jnl__lsn(t->j));
    return cairn_io__pwrite(t->f, h, META, 0);
}

static int toy_stamp(void *ctx, uint64_t lsn) {
    toy *t = (toy *)ctx;
    uint8_t h[META], c = 0;
    size_t got = 0;
    if (t->fail_stamp) return cairn_err__set(CAIRN_IO, "toy: stamp refused");
    if (t->probe_off) {
        ck_assert_int_eq(cairn_io__pread(t->f, &c, 1, t->probe_off, &got), 0);
        t->probe_byte = got ? c : -1;
    }
    memcpy(h, "TOYENGIN", 8);
    cairn_put64(h + 8, lsn);
    t->stamps++;
    t->stamped = lsn;
    return cairn_io__pwrite(t->f, h, META, 0);
}

static int toy_settle(void *ctx) {
    ((toy *)ctx)->settles++;
    return 0;
}

static void toy_open(toy *t, uint64_t ckpt_bytes) {
    cairn_jnl_ops ops;
    int rc;
    memset(t, 0, sizeof *t);
    rc = cairn_io__open(&t->f, ct_path("data"), CAIRN_IO_RDWR | CAIRN_IO_CREATE);
    ck_assert_msg(rc == 0, "data: %s", cairn_errmsg());
    rc = cairn_wal__open(&t->w, ct_path("data-wal"), CAIRN_WAL_CREATE, &t->wi);
    ck_assert_msg(rc == 0, "wal: %s", cairn_errmsg());
    memset(&ops, 0, sizeof ops);
    ops.meta_len = META;
    ops.ckpt_bytes = ckpt_bytes;
    ops.meta = toy_meta;
    ops.stamp = toy_stamp;
    ops.settle = toy_settle;
    ck_assert_int_eq(cairn_jnl__open(&t->j, &ops, t, ct_path("data-wal")), 0);
    cairn_jnl__bind(t->j, t->w, t->f, t);
}

static void toy_close(toy *t) {
    cairn_jnl__close(t->j);
    cairn_wal__close(t->w);
    cairn_io__close(t->f);
    t->j = NULL;
    t->w = NULL;
    t->f = NULL;
}

/* The data file's bytes [off, off+len) as a string (zeros past its end read as '.'). */
static const char *file_str(toy *t, uint64_t off, size_t len) {
    static char out[256];
    uint8_t buf[256];
    size_t got = 0, i;
    ck_assert_uint_lt(len, sizeof out);
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(cairn_io__pread(t->f, buf, len, off, &got), 0);
    for (i = 0; i < len; i++) out[i] = buf[i] ? (char)buf[i] : '.';
    out[len] = 0;
    return out;
}

/* Through the journal (the overlay over the file). */
static const char *jnl_str(toy *t, uint64_t off, size_t len) {
    static char out[256];
    uint8_t buf[256];
    size_t i;
    ck_assert_uint_lt(len, sizeof out);
    ck_assert_int_eq(cairn_jnl__read(t->j, buf, len, off), 0);
    for (i = 0; i < len; i++) out[i] = buf[i] ? (char)buf[i] : '.';
    out[len] = 0;
    return out;
}

static uint64_t fsize(toy *t) {
    uint64_t s = 0;
    ck_assert_int_eq(cairn_io__size(t->f, &s), 0);
    return s;
}

static void wr(toy *t, uint64_t off, const char *s, uint64_t *id) {
    ck_assert_int_eq(cairn_jnl__write(t->j, off, s, strlen(s), NULL, 0, id), 0);
}

static uint64_t commit_all(toy *t, uint64_t mark) {
    uint64_t seq = 0;
    int rc = cairn_jnl__commit(t->j, mark, 0, &seq);
    ck_assert_msg(rc == 0, "commit: %s", cairn_errmsg());
    return seq;
}

typedef struct count {
    int records;
    uint64_t bytes;
} count;

static int count_rec(void *ctx, uint64_t txid, unsigned type, const void *p, size_t len, uint64_t seq) {
    count *c = (count *)ctx;
    (void)txid;
    (void)type;
    (void)p;
    (void)seq;
    c->records++;
    c->bytes += len;
    return 0;
}

START_TEST(write_commit_apply) {
    toy t;
    uint64_t m, id = 0, seq;
    size_t n = 0;
    const uint8_t *pb;
    toy_open(&t, 0);
    m = cairn_jnl__mark(t.j);
    ck_assert_int_eq(cairn_jnl__write(t.j, 100, "hel", 3, "lo", 2, &id), 0);
    ck_assert_uint_eq(id, m);
    pb = cairn_jnl__pending(t.j, id, &n);
    ck_assert_ptr_nonnull(pb);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(pb, "hello", 5), 0);
    ck_assert_ptr_null(cairn_jnl__pending(t.j, 0, NULL));
    seq = commit_all(&t, m);
    ck_assert_uint_gt(seq, 0);
    /* committed, not durable: apply writes nothing */
    ck_assert_int_eq(cairn_jnl__apply(t.j), 0);
    ck_assert_uint_eq(fsize(&t), 0);
    ck_assert_ptr_nonnull(cairn_jnl__pending(t.j, id, NULL));
    ck_assert_int_eq(cairn_jnl__sync(t.j, seq), 0);
    ck_assert_int_eq(cairn_jnl__apply(t.j), 0);
    ck_assert_str_eq(file_str(&t, 100, 5), "hello");
    ck_assert_ptr_null(cairn_jnl__pending(t.j, id, NULL));
    ck_assert_uint_eq(cairn_jnl__unapplied(t.j), 0);
    ck_assert_int_eq(t.stamps, 1);
    ck_assert_uint_eq(t.stamped, seq);
    ck_assert_uint_eq(cairn_jnl__lsn(t.j), seq);
    /* idempotent: nothing more to do */
    ck_assert_int_eq(cairn_jnl__apply(t.j), 0);
    ck_assert_int_eq(t.stamps, 1);
    /* ids go on after the queue started over */
    ck_assert_uint_eq(cairn_jnl__mark(t.j), id + 1);
    /* nothing queued since the mark: nothing logged */
    ck_assert_uint_eq(commit_all(&t, cairn_jnl__mark(t.j)), 0);
    toy_close(&t);
}
END_TEST

START_TEST(undo_to_savepoint) {
    toy t;
    uint64_t m0, m1, a = 0, b = 0, c = 0, seq;
    count cnt;
    toy_open(&t, 0);
    m0 = cairn_jnl__mark(t.j);
    wr(&t, 64, "A", &a);
    m1 = cairn_jnl__mark(t.j);
    wr(&t, 65, "B", &b);
    ck_assert_int_eq(cairn_jnl__truncate(t.j, 70), 0);
    wr(&t, 66, "C", &c);
    ck_assert_uint_eq(cairn_jnl__unapplied(t.j), 4);
    cairn_jnl__undo_to(t.j, m1);
    ck_assert_uint_eq(cairn_jnl__unapplied(t.j), 1);
    ck_assert_ptr_nonnull(cairn_jnl__pending(t.j, a, NULL));
    ck_assert_ptr_null(cairn_jnl__pending(t.j, b, NULL));
    ck_assert_ptr_null(cairn_jnl__pending(t.j, c, NULL));
    ck_assert_uint_eq(cairn_jnl__mark(t.j), m1);
    seq = commit_all(&t, m0);
    /* committed records are never undone */
    cairn_jnl__undo_to(t.j, m0);
    ck_assert_uint_eq(cairn_jnl__unapplied(t.j), 1);
    ck_assert_int_eq(cairn_jnl__sync(t.j, 0), 0);
    ck_assert_int_eq(cairn_jnl__apply(t.j), 0);
    ck_assert_str_eq(file_str(&t, 64, 3), "A..");
    memset(&cnt, 0, sizeof cnt);
    ck_assert_int_eq(cairn_wal__replay(t.w, count_rec, &cnt), 0);
    ck_assert_int_eq(cnt.records, 1);
    ck_assert_uint_eq(cnt.bytes, 8 + 1);
    ck_assert_uint_eq(t.stamped, seq);
    toy_close(&t);
}
END_TEST

/* A header record is handed to the engine, not written; the stamp comes after the transaction's
 * other writes; a transaction not yet committed (or durable) stops apply and is not stamped. */
START_TEST(header_last_and_partial_apply) {
    toy t;
    uint64_t m, s1, s2;
    uint8_t h[META];
    toy_open(&t, 0);
    memcpy(h, "TOYENGIN", 8);
    cairn_put64(h + 8, 0);
    m = cairn_jnl__mark(t.j);
    ck_assert_int_eq(cairn_jnl__write(t.j, 0, h, META, NULL, 0, NULL), 0);
    wr(&t, 200, "Z", NULL);
    s1 = commit_all(&t, m);
    m = cairn_jnl__mark(t.j);
    wr(&t, 300, "Y", NULL);
    s2 = commit_all(&t, m);
    ck_assert_uint_gt(s2, s1);
    wr(&t, 400, "X", NULL); /* queued, not committed */
    ck_assert_int_eq(cairn_jnl__sync(t.j, 0), 0);
    t.probe_off = 300;
    ck_assert_int_eq(cairn_jnl__apply(t.j), 0);
    ck_assert_int_eq(t.metas, 1);
    ck_assert_int_eq(memcmp(t.meta, "TOYENGIN", 8), 0);
    ck_assert_int_eq(t.stamps, 1);
    ck_assert_uint_eq(t.stamped, s2);
    ck_assert_int_eq(t.probe_byte, 'Y'); /* the stamp came after the last write it covers */
    ck_assert_str_eq(file_str(&t, 200, 1), "Z");
    ck_assert_str_eq(file_str(&t, 400, 1), "."); /* not committed: not written */
    ck_assert_uint_eq(cairn_jnl__unapplied(t.j), 1);
    toy_close(&t);
}
END_TEST

/* A log left unapplied (a crash after commit): recovery loads the overlay, reads see it over the
 * file, the size follows writes and truncates, materialize writes it in log order. */
START_TEST(recover_overlay_materialize) {
    toy t;
    uint64_t m;
    int redo = -1;
    uint8_t h[META];
    toy_open(&t, 0);
    ck_assert_int_eq(cairn_io__pwrite(t.f, "0123456789abcdef-old-bytes", 26, 0), 0);
    memcpy(h, "TOYENGIN", 8);
    cairn_put64(h + 8, 0);
    m = cairn_jnl__mark(t.j);
    ck_assert_int_eq(cairn_jnl__write(t.j, 0, h, META, NULL, 0, NULL), 0);
    wr(&t, 17, "NEW", NULL);
    wr(&t, 40, "tail", NULL);
    commit_all(&t, m);
    m = cairn_jnl__mark(t.j);
    ck_assert_int_eq(cairn_jnl__truncate(t.j, 42), 0);
    commit_all(&t, m);
    m = cairn_jnl__mark(t.j);
    wr(&t, 90, "lost", NULL); /* never committed */
    ck_assert_int_eq(cairn_jnl__sync(t.j, 0), 0);
    toy_close(&t); /* nothing applied */

    toy_open(&t, 0);
    ck_assert_uint_eq(t.wi.committed, 2);
    ck_assert_int_eq(cairn_jnl__recover(t.j, &t.wi, 1, 0, ct_path("data"), &redo), 0);
    ck_assert_int_eq(redo, 1);
    ck_assert_str_eq(file_str(&t, 16, 10), "-old-bytes");
    ck_assert_str_eq(jnl_str(&t, 16, 10), "-NEW-bytes");
    ck_assert_str_eq(jnl_str(&t, 0, 8), "TOYENGIN");
    ck_assert_str_eq(jnl_str(&t, 38, 6), "..ta.."); /* cut at 42 after the write */
    ck_assert_str_eq(jnl_str(&t, 90, 4), "....");
    ck_assert_uint_eq(cairn_jnl__overlay_size(t.j, 26), 42);
    cairn_jnl__set_lsn(t.j, 0);
    ck_assert_int_eq(cairn_jnl__materialize(t.j), 0);
    ck_assert_int_eq(t.redo_metas, 1);
    ck_assert_uint_eq(fsize(&t), 42);
    ck_assert_str_eq(file_str(&t, 16, 10), "-NEW-bytes");
    ck_assert_str_eq(file_str(&t, 40, 2), "ta");
    /* the overlay is gone: reads are the file's */
    ck_assert_uint_eq(cairn_jnl__overlay_size(t.j, 7), 7);
    toy_close(&t);
}
END_TEST

/* Recovery plans from the file's LSN: ahead of the log: nothing; a gap: CORRUPT; no LSN: all. */
START_TEST(recover_plan) {
    toy t;
    uint64_t m, seq;
    int redo = -1, rc;
    toy_open(&t, 0);
    cairn_wal__advance(t.w, 10);
    m = cairn_jnl__mark(t.j);
    wr(&t, 100, "x", NULL);
    seq = commit_all(&t, m);
    ck_assert_uint_gt(seq, 10);
    ck_assert_int_eq(cairn_jnl__sync(t.j, 0), 0);
    toy_close(&t);

    toy_open(&t, 0);
    ck_assert_int_eq(cairn_jnl__recover(t.j, &t.wi, 1, seq + 5, ct_path("data"), &redo), 0);
    ck_assert_int_eq(redo, 0);
    ck_assert_str_eq(jnl_str(&t, 100, 1), ".");
    rc = cairn_jnl__recover(t.j, &t.wi, 1, 3, ct_path("data"), &redo);
    ck_assert_int_eq(rc, CAIRN_CORRUPT);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), ct_path("data")));
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "missing"));
    ck_assert_int_eq(redo, 0);
    ck_assert_int_eq(cairn_jnl__recover(t.j, &t.wi, 0, 0, ct_path("data"), &redo), 0);
    ck_assert_int_eq(redo, 1);
    ck_assert_str_eq(jnl_str(&t, 100, 1), "x");
    cairn_jnl__drop_overlay(t.j);
    ck_assert_int_eq(cairn_jnl__recover(t.j, &t.wi, 1, seq - 1, ct_path("data"), &redo), 0);
    ck_assert_int_eq(redo, 1);
    ck_assert_str_eq(jnl_str(&t, 100, 1), "x");
    toy_close(&t);
}
END_TEST

START_TEST(recover_unknown_record) {
    toy t;
    uint64_t tx;
    int rc;
    toy_open(&t, 0);
    tx = cairn_wal__begin(t.w);
    ck_assert_int_eq(cairn_wal__append(t.w, tx, 7, "whatever", 8), 0);
    ck_assert_int_eq(cairn_wal__commit(t.w, tx, NULL), 0);
    ck_assert_int_eq(cairn_wal__sync(t.w, 0), 0);
    toy_close(&t);
    toy_open(&t, 0);
    rc = cairn_jnl__recover(t.j, &t.wi, 0, 0, ct_path("data"), NULL);
    ck_assert_int_eq(rc, CAIRN_CORRUPT);
    ck_assert_ptr_nonnull(strstr(cairn_errmsg(), "data-wal"));
    toy_close(&t);
}
END_TEST

START_TEST(checkpoint_policy) {
    toy t;
    uint64_t m;
    int done = -1, i;
    char big[1024];
    toy_open(&t, 4096);
    ck_assert_int_eq(cairn_jnl__should_checkpoint(t.j), 0);
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (i = 0; i < 5; i++) {
        m = cairn_jnl__mark(t.j);
        wr(&t, 64 + (uint64_t)i * 1024, big, NULL);
        commit_all(&t, m);
    }
    ck_assert_int_eq(cairn_jnl__should_checkpoint(t.j), 1);
    /* an open transaction (keep): applied, but the log stays */
    ck_assert_int_eq(cairn_jnl__checkpoint(t.j, 1, &done), 0);
    ck_assert_int_eq(done, 0);
    ck_assert_int_eq(t.settles, 0);
    ck_assert_str_eq(file_str(&t, 64, 2), "qq");
    ck_assert_int_eq(cairn_jnl__should_checkpoint(t.j), 1);
    /* uncommitted records pending: the log stays too */
    wr(&t, 10000, "p", NULL);
    ck_assert_int_eq(cairn_jnl__checkpoint(t.j, 0, &done), 0);
    ck_assert_int_eq(done, 0);
    cairn_jnl__undo_to(t.j, cairn_jnl__mark(t.j) - 1);
    ck_assert_int_eq(cairn_jnl__checkpoint(t.j, 0, &done), 0);
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(t.settles, 1);
    ck_assert_uint_eq(cairn_wal__size(t.w), CAIRN_WAL_HEADER_SIZE);
    ck_assert_int_eq(cairn_jnl__should_checkpoint(t.j), 0);
    ck_assert_int_eq(cairn_jnl__fatal(t.j), 0);
    toy_close(&t);
}
END_TEST

/* A failed data write leaves the record pending (still served, still in the log), the LSN not
 * stamped; the next apply finishes it. A failed stamp keeps the LSN. */
START_TEST(apply_faults) {
    int kind;
    for (kind = CAIRN_FAULT_EIO; kind <= CAIRN_FAULT_SHORT; kind++) {
        toy t;
        uint64_t m, id = 0, seq;
        unlink(ct_path("data"));
        unlink(ct_path("data-wal"));
        toy_open(&t, 0);
        m = cairn_jnl__mark(t.j);
        wr(&t, 100, "payload", &id);
        seq = commit_all(&t, m);
        ck_assert_int_eq(cairn_jnl__sync(t.j, 0), 0);
        cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, kind, 0);
        ck_assert_int_lt(cairn_jnl__apply(t.j), 0);
        cairn_io__fault_reset();
        ck_assert_ptr_nonnull(cairn_jnl__pending(t.j, id, NULL));
        ck_assert_int_eq(t.stamps, 0);
        ck_assert_uint_eq(cairn_jnl__lsn(t.j), 0);
        t.fail_stamp = 1;
        ck_assert_int_eq(cairn_jnl__apply(t.j), CAIRN_IO);
        ck_assert_ptr_null(cairn_jnl__pending(t.j, id, NULL));
        ck_assert_uint_eq(cairn_jnl__lsn(t.j), 0);
        t.fail_stamp = 0;
        ck_assert_int_eq(cairn_jnl__apply(t.j), 0); /* nothing new applied: no stamp yet */
        ck_assert_str_eq(file_str(&t, 100, 7), "payload");
        m = cairn_jnl__mark(t.j);
        wr(&t, 120, "more", NULL);
        seq = commit_all(&t, m);
        ck_assert_int_eq(cairn_jnl__sync(t.j, 0), 0);
        ck_assert_int_eq(cairn_jnl__apply(t.j), 0);
        ck_assert_uint_eq(cairn_jnl__lsn(t.j), seq);
        toy_close(&t);
    }
}
END_TEST

/* A failed log write during commit: nothing committed, the records stay queued (undo drops
 * them), and the log goes on with the next transaction. */
START_TEST(commit_fault) {
    toy t;
    uint64_t m, seq = 0;
    count cnt;
    toy_open(&t, 0);
    m = cairn_jnl__mark(t.j);
    wr(&t, 100, "doomed-bytes-of-some-length", NULL);
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_lt(cairn_jnl__commit(t.j, m, 0, &seq), 0);
    cairn_io__fault_reset();
    ck_assert_uint_eq(seq, 0);
    ck_assert_uint_eq(cairn_jnl__unapplied(t.j), 1);
    cairn_jnl__undo_to(t.j, m);
    ck_assert_uint_eq(cairn_jnl__unapplied(t.j), 0);
    m = cairn_jnl__mark(t.j);
    wr(&t, 100, "ok", NULL);
    seq = commit_all(&t, m);
    ck_assert_int_eq(cairn_jnl__sync(t.j, 0), 0);
    ck_assert_int_eq(cairn_jnl__apply(t.j), 0);
    ck_assert_str_eq(file_str(&t, 100, 3), "ok.");
    memset(&cnt, 0, sizeof cnt);
    ck_assert_int_eq(cairn_wal__replay(t.w, count_rec, &cnt), 0);
    ck_assert_int_eq(cnt.records, 1);
    toy_close(&t);
}
END_TEST

/* A failed fsync in a checkpoint is fatal (the engine fail-stops). */
START_TEST(checkpoint_sync_fault_is_fatal) {
    int which;
    for (which = 1; which <= 2; which++) {
        toy t;
        uint64_t m;
        int done = -1;
        unlink(ct_path("data"));
        unlink(ct_path("data-wal"));
        toy_open(&t, 0);
        m = cairn_jnl__mark(t.j);
        wr(&t, 100, "x", NULL);
        commit_all(&t, m);
        /* 1: the log's fsync; 2: the data file's */
        cairn_io__fault_arm(CAIRN_FAULT_SYNC, (uint64_t)which, CAIRN_FAULT_EIO, 0);
        ck_assert_int_lt(cairn_jnl__checkpoint(t.j, 0, &done), 0);
        cairn_io__fault_reset();
        ck_assert_int_eq(done, 0);
        ck_assert_int_ne(cairn_jnl__fatal(t.j), 0);
        toy_close(&t);
    }
}
END_TEST

/* A crash after the commit was synced but before the data file was: the log redoes it. */
START_TEST(crash_after_commit_is_redone) {
    int mode;
    for (mode = CAIRN_CRASH_DROP; mode <= CAIRN_CRASH_TEAR; mode++) {
        toy t;
        uint64_t m, seq;
        int redo = 0;
        unlink(ct_path("data"));
        unlink(ct_path("data-wal"));
        toy_open(&t, 0);
        cairn_io__crash_track(1);
        m = cairn_jnl__mark(t.j);
        wr(&t, 100, "durable", NULL);
        seq = commit_all(&t, m);
        ck_assert_int_eq(cairn_jnl__sync(t.j, seq), 0);
        ck_assert_int_eq(cairn_jnl__apply(t.j), 0);
        cairn_io__crash_now(mode, 12345u + (uint64_t)mode);
        toy_close(&t);
        cairn_io__crash_track(0);
        toy_open(&t, 0);
        ck_assert_int_eq(cairn_jnl__recover(t.j, &t.wi, 1, 0, ct_path("data"), &redo), 0);
        ck_assert_int_eq(redo, 1);
        ck_assert_str_eq(jnl_str(&t, 100, 7), "durable");
        ck_assert_int_eq(cairn_jnl__materialize(t.j), 0);
        ck_assert_str_eq(file_str(&t, 100, 7), "durable");
        toy_close(&t);
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("journal");
    TCase *t = tcase_create("core");
    tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, write_commit_apply);
    tcase_add_test(t, undo_to_savepoint);
    tcase_add_test(t, header_last_and_partial_apply);
    tcase_add_test(t, recover_overlay_materialize);
    tcase_add_test(t, recover_plan);
    tcase_add_test(t, recover_unknown_record);
    tcase_add_test(t, checkpoint_policy);
    tcase_add_test(t, apply_faults);
    tcase_add_test(t, commit_fault);
    tcase_add_test(t, checkpoint_sync_fault_is_fatal);
    tcase_add_test(t, crash_after_commit_is_redone);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return ct_run(suite()); }
