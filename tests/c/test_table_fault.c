/* test_table_fault.c - fault injection and simulated crashes under the table engine: every write
 * and every fsync of a workload (inserts, updates and deletes through the WAL, checkpoints with
 * overlays and delete bitmaps, a bulk load, compact, add_column, close) fails once (EIO, ENOSPC,
 * a short write), or the machine "crashes" just before each fsync (unsynced writes dropped or
 * torn). After each one, the failing call returns a clean error, the table opens again and holds
 * exactly the state before the failing step or after it: never a ghost row, never a lost
 * acknowledged write; cairn_table_check passes. */
#include "cairn.h"
#include "util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define NSTEPS 16
#define SCHEMA "k i64 unique, s string, f f64 not null default 0"

typedef struct run {
    int sync;
    int failed_step; /* -1: none */
    int failed_rc;
    int done;        /* steps that returned 0 */
    char *state[NSTEPS + 1]; /* the table after step i (only in the reference run) */
} run;

static char *dump(cairn_table *t) {
    cairn_table_iter *it;
    const char *row;
    uint64_t id;
    size_t cap = 256, n = 0;
    char *s = malloc(cap);
    s[0] = 0;
    if (cairn_table_iter_open(&it, t) != 0) return s;
    while (cairn_table_iter_next_json(it, &id, &row) == 0) {
        size_t need = strlen(row) + 32;
        if (n + need >= cap) {
            cap = (n + need) * 2;
            s = realloc(s, cap);
        }
        n += (size_t)snprintf(s + n, cap - n, "%llu:%s;", (unsigned long long)id, row);
    }
    cairn_table_iter_free(it);
    return s;
}

static int step(cairn_table **tp, const char *dir, int sync, int i) {
    cairn_table *t = *tp;
    char b[128];
    int k, rc = 0;
    switch (i) {
    case 0: { /* create */
        cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
        o.schema = SCHEMA;
        o.sync = sync;
        o.checkpoint_rows = 4;
        return cairn_table_open(tp, dir, &o);
    }
    case 1: return cairn_table_insert_json(t, "{\"k\": 1, \"s\": \"one\"}", NULL);
    case 2: return cairn_table_insert_many_json(t, "[{\"k\": 2}, {\"k\": 3, \"s\": \"three\"}, {\"k\": 4}]", NULL); /* checkpoint */
    case 3: return cairn_table_update_json(t, 2, "{\"s\": \"two, updated after its checkpoint\"}");
    case 4: return cairn_table_delete(t, 3);
    case 5: return cairn_table_insert_json(t, "{\"k\": 5, \"f\": 2.5}", NULL);
    case 6: return cairn_table_sync(t); /* rewrites the group with the overlay, bitmap */
    case 7: /* a transaction */
        if ((rc = cairn_table_begin(t)) != 0) return rc;
        for (k = 0; k < 3 && !rc; k++) {
            snprintf(b, sizeof b, "{\"k\": %d, \"s\": \"txn\"}", 10 + k);
            rc = cairn_table_insert_json(t, b, NULL);
        }
        if (!rc) rc = cairn_table_delete(t, 1);
        if (rc) {
            (void)cairn_table_rollback(t);
            return rc;
        }
        return cairn_table_commit(t);
    case 8: return cairn_table_load_json(t, "{\"k\": [20, 21, 22, 23, 24], \"s\": [\"a\", \"b\", null, \"d\", \"e\"]}", NULL);
    case 9: return cairn_table_delete(t, 9);
    case 10: return cairn_table_compact(t);
    case 11: return cairn_table_update_json(t, 5, "{\"k\": 55}");
    case 12: return cairn_table_add_column(t, "extra i32 not null default 7");
    case 13: return cairn_table_insert_json(t, "{\"k\": 30, \"extra\": 8}", NULL);
    case 14: return cairn_table_upsert_json(t, "{\"k\": 55}", NULL) == CAIRN_INVALID ? 0 : -1; /* no primary key */
    case 15:
        cairn_table_close(t); /* checkpoint at close (best effort: reopen decides) */
        *tp = NULL;
        return 0;
    default: return 0;
    }
}

static void execute(const char *dir, run *r, int record) {
    cairn_table *t = NULL;
    int i;
    r->failed_step = -1;
    r->done = 0;
    for (i = 0; i < NSTEPS; i++) {
        int rc = step(&t, dir, r->sync, i);
        if (rc) {
            r->failed_step = i;
            r->failed_rc = rc;
            break;
        }
        r->done = i + 1;
        if (record) r->state[i + 1] = t ? dump(t) : strdup(r->state[i]);
    }
    if (t) cairn_table_close(t);
}

static run ref[3];

static void reference(int sync) {
    char dir[600];
    run *r = &ref[sync];
    if (r->state[0]) return;
    snprintf(dir, sizeof dir, "%s/ref%d", ct_dir, sync);
    r->sync = sync;
    r->state[0] = strdup("<none>");
    execute(dir, r, 1);
    ck_assert_int_eq(r->failed_step, -1);
    ck_assert_int_eq(r->done, NSTEPS);
}

static int clean_code(int rc) {
    return rc == CAIRN_IO || rc == CAIRN_NOSPC || rc == CAIRN_FAILED || rc == CAIRN_NOMEM;
}

/* the table at dir must be in state lo or hi of the reference run */
static void verify(const char *dir, int sync, int lo, int hi, const char *what) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    char *got;
    int rc, j, ok = 0;
    o.create = 0;
    o.checkpoint_rows = 4;
    rc = cairn_table_open(&t, dir, &o);
    if (rc == CAIRN_PATH) {
        /* not even created: only before step 0 completed */
        ck_assert_msg(lo == 0, "%s: table missing, failed step %d", what, lo);
        return;
    }
    ck_assert_msg(rc == 0, "%s: reopen: %s %s", what, cairn_errname(rc), cairn_errmsg());
    got = dump(t);
    for (j = lo; j <= hi && j <= NSTEPS; j++)
        if (strcmp(got, ref[sync].state[j]) == 0) ok = 1;
    if (!ok && lo == 0 && got[0] == 0) ok = 1; /* created but empty = the state before step 1 */
    ck_assert_msg(ok, "%s: state after reopen is neither state %d nor %d:\n got  %s\n want %s\n or   %s", what, lo, hi, got,
                  ref[sync].state[lo], ref[sync].state[hi <= NSTEPS ? hi : NSTEPS]);
    free(got);
    /* usable: a write works and survives */
    rc = cairn_table_insert_json(t, "{\"k\": 1000}", NULL);
    ck_assert_msg(rc == 0, "%s: insert after reopen: %s %s", what, cairn_errname(rc), cairn_errmsg());
    cairn_table_close(t);
    rc = cairn_table_check(dir);
    ck_assert_msg(rc == 0, "%s: check: %s %s", what, cairn_errname(rc), cairn_errmsg());
}

static int one_fault(int sync, int ops, uint64_t nth, int kind, int sticky, int idx) {
    char dir[600], what[200];
    run r;
    int fired, lo, hi;
    memset(&r, 0, sizeof r);
    r.sync = sync;
    snprintf(dir, sizeof dir, "%s/f%d", ct_dir, idx);
    cairn_io__fault_reset();
    cairn_io__fault_arm(ops, nth, kind, sticky);
    execute(dir, &r, 0);
    fired = cairn_io__fault_fired() > 0;
    cairn_io__fault_reset();
    snprintf(what, sizeof what, "sync %d ops %d #%llu kind %d sticky %d (failed step %d: %s)", sync, ops, (unsigned long long)nth,
             kind, sticky, r.failed_step, cairn_errname(r.failed_rc));
    if (r.failed_step >= 0) {
        ck_assert_msg(clean_code(r.failed_rc), "%s: %s", what, cairn_errmsg());
        lo = r.failed_step;
        hi = r.failed_step + 1;
    } else {
        lo = r.done - 1; /* the fault hit the checkpoint at close: before or after it is the same */
        hi = r.done;
    }
    verify(dir, sync, lo, hi, what);
    return fired;
}

static uint64_t count_ops(int sync, int ops) {
    char dir[600];
    run r;
    uint64_t n;
    memset(&r, 0, sizeof r);
    r.sync = sync;
    snprintf(dir, sizeof dir, "%s/count%d-%d", ct_dir, ops, sync);
    cairn_io__fault_reset();
    execute(dir, &r, 0);
    ck_assert_int_eq(r.failed_step, -1);
    n = cairn_io__fault_count(ops);
    cairn_io__fault_reset();
    return n;
}

static void mk_tmp(void) { ct_tmp_create("table-fault"); }
static void rm_tmp(void) { ct_tmp_remove(); }

START_TEST(every_write_fails_once) {
    int sync = CAIRN_SYNC_COMMIT, kind, fired = 0, idx = 0;
    uint64_t n, i;
    reference(sync);
    n = count_ops(sync, CAIRN_FAULT_WRITE);
    ck_assert_uint_gt(n, 30);
    for (i = 1; i <= n; i++)
        for (kind = CAIRN_FAULT_EIO; kind <= CAIRN_FAULT_SHORT; kind++) fired += one_fault(sync, CAIRN_FAULT_WRITE, i, kind, 0, idx++);
    ck_assert_int_eq(fired, (int)n * 3);
    fprintf(stderr, "table fault: %llu writes x 3 kinds injected\n", (unsigned long long)n);
}
END_TEST

START_TEST(every_sync_fails_once) {
    int sync, fired = 0, idx = 0;
    for (sync = CAIRN_SYNC_NONE; sync <= CAIRN_SYNC_GROUP; sync++) {
        uint64_t n, i;
        reference(sync);
        n = count_ops(sync, CAIRN_FAULT_SYNC);
        ck_assert_uint_gt(n, 10);
        for (i = 1; i <= n; i++) fired += one_fault(sync, CAIRN_FAULT_SYNC, i, i % 2 ? CAIRN_FAULT_EIO : CAIRN_FAULT_ENOSPC, 0, idx++);
        fprintf(stderr, "table fault: sync mode %d: %llu fsyncs injected\n", sync, (unsigned long long)n);
    }
    ck_assert_int_gt(fired, 0);
}
END_TEST

START_TEST(dead_disk_sticky) {
    int idx = 0;
    uint64_t n, i;
    reference(CAIRN_SYNC_NONE);
    n = count_ops(CAIRN_SYNC_NONE, CAIRN_FAULT_WRITE);
    for (i = 1; i <= n; i += 2) one_fault(CAIRN_SYNC_NONE, CAIRN_FAULT_WRITE, i, CAIRN_FAULT_ENOSPC, 1, idx++);
}
END_TEST

/* a crash just before each fsync (COMMIT mode: every acknowledged step is durable) */
START_TEST(crash_at_every_sync) {
    int mode;
    uint64_t n, i;
    reference(CAIRN_SYNC_COMMIT);
    n = count_ops(CAIRN_SYNC_COMMIT, CAIRN_FAULT_SYNC);
    for (mode = CAIRN_CRASH_DROP; mode <= CAIRN_CRASH_TEAR; mode++) {
        for (i = 1; i <= n; i++) {
            char dir[600], what[160];
            run r;
            memset(&r, 0, sizeof r);
            r.sync = CAIRN_SYNC_COMMIT;
            snprintf(dir, sizeof dir, "%s/c%d-%llu", ct_dir, mode, (unsigned long long)i);
            cairn_io__fault_reset();
            cairn_io__crash_track(1);
            cairn_io__crash_at_sync(i, mode, i * 7919u + (uint64_t)mode);
            execute(dir, &r, 0);
            cairn_io__crash_track(0);
            snprintf(what, sizeof what, "crash mode %d at fsync %llu (failed step %d: %s)", mode, (unsigned long long)i,
                     r.failed_step, cairn_errname(r.failed_rc));
            if (r.failed_step >= 0) verify(dir, CAIRN_SYNC_COMMIT, r.failed_step, r.failed_step + 1, what);
            else verify(dir, CAIRN_SYNC_COMMIT, r.done - 1, r.done, what);
        }
    }
    fprintf(stderr, "table crash: %llu fsyncs x 2 modes\n", (unsigned long long)n);
}
END_TEST

/* After a failed fsync the handle is fail-stop: later writes are CAIRN_FAILED. */
START_TEST(fail_stop) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    uint64_t n = 0;
    o.schema = "a i64";
    ck_assert_int_eq(cairn_table_open(&t, ct_path("fs"), &o), 0);
    ck_assert_int_eq(cairn_table_insert_json(t, "{\"a\": 1}", NULL), 0);
    cairn_io__fault_reset();
    cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_eq(cairn_table_insert_json(t, "{\"a\": 2}", NULL), CAIRN_IO);
    cairn_io__fault_reset();
    ck_assert_int_eq(cairn_table_insert_json(t, "{\"a\": 3}", NULL), CAIRN_FAILED);
    ck_assert_int_eq(cairn_table_delete(t, 1), CAIRN_FAILED);
    ck_assert_int_eq(cairn_table_begin(t), CAIRN_FAILED);
    ck_assert_int_eq(cairn_table_sync(t), CAIRN_FAILED);
    ck_assert_int_eq(cairn_table_compact(t), CAIRN_FAILED);
    cairn_table_close(t);
    ck_assert_int_eq(cairn_table_open(&t, ct_path("fs"), &o), 0);
    ck_assert_int_eq(cairn_table_count(t, &n), 0);
    ck_assert(n == 1 || n == 2);
    ck_assert_int_eq(cairn_table_insert_json(t, "{\"a\": 4}", NULL), 0);
    cairn_table_close(t);
}
END_TEST

/* A failed write (not an fsync) leaves the handle usable and changes nothing. */
START_TEST(failed_write_keeps_handle) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    uint64_t n = 0;
    o.schema = "a i64 unique";
    o.sync = CAIRN_SYNC_NONE;
    ck_assert_int_eq(cairn_table_open(&t, ct_path("fw"), &o), 0);
    ck_assert_int_eq(cairn_table_insert_json(t, "{\"a\": 1}", NULL), 0);
    cairn_io__fault_reset();
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1, CAIRN_FAULT_SHORT, 0);
    ck_assert_int_eq(cairn_table_insert_json(t, "{\"a\": 2}", NULL), CAIRN_NOSPC);
    cairn_io__fault_reset();
    ck_assert_int_eq(cairn_table_count(t, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(cairn_table_insert_json(t, "{\"a\": 2}", NULL), 0); /* the failed one left no index entry */
    /* a failed checkpoint: the rows stay in the WAL and memory */
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 2, CAIRN_FAULT_EIO, 0);
    ck_assert_int_eq(cairn_table_sync(t), CAIRN_IO);
    cairn_io__fault_reset();
    ck_assert_int_eq(cairn_table_sync(t), 0);
    cairn_table_close(t);
    o.schema = NULL;
    ck_assert_int_eq(cairn_table_open(&t, ct_path("fw"), &o), 0);
    ck_assert_int_eq(cairn_table_count(t, &n), 0);
    ck_assert_uint_eq(n, 2);
    cairn_table_close(t);
    ck_assert_int_eq(cairn_table_check(ct_path("fw")), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("table_fault");
    TCase *tc = tcase_create("fault");
    tcase_add_checked_fixture(tc, mk_tmp, rm_tmp);
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, fail_stop);
    tcase_add_test(tc, failed_write_keeps_handle);
    tcase_add_test(tc, every_write_fails_once);
    tcase_add_test(tc, every_sync_fails_once);
    tcase_add_test(tc, dead_disk_sticky);
    tcase_add_test(tc, crash_at_every_sync);
    suite_add_tcase(s, tc);
    return ct_run(s);
}
