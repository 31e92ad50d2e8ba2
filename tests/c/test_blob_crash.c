/* test_blob_crash.c - the blob store under faults, crashes and damage:
 *  - an injected fault on every write and every fsync of a workload (EIO, ENOSPC, short
 *    write): a clean error, the file still opens, every acknowledged change is there;
 *  - simulated crashes before every fsync (DROP and TEAR), in every sync mode;
 *  - a forked child SIGKILLed at random points: the state is a prefix of acknowledged commits;
 *  - every byte of the data file and of the WAL flipped, every length truncated:
 *    CAIRN_CORRUPT or a recovered state, never a crash or wrong bytes. */
#include "cairn.h"
#include "util.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static void mk_tmp(void) { ct_tmp_create("blobcrash"); }
static void rm_tmp(void) { ct_tmp_remove(); }

static void copy_file(const char *from, const char *to) {
    void *data = NULL;
    size_t n = 0;
    FILE *f;
    if (cairn_io__read_all(from, &data, &n) != 0) {
        unlink(to);
        return;
    }
    f = fopen(to, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    free(data);
}

/* ---- a deterministic workload and its model -------------------------------------------- */

#define MK 96
typedef struct mstate {
    uint8_t present[MK];
    uint32_t len[MK];
    unsigned seed[MK];
    uint32_t next_key;
    uint32_t next_key_min; /* the store's counter may be this low: keys a failed commit handed out
                              stay used in the handle, but the write of the counter may have
                              failed too (a successful commit writes it) */
} mstate;

static void fill(uint8_t *p, size_t n, unsigned seed) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 7));
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static void model_init(mstate *m) {
    memset(m, 0, sizeof *m);
    m->next_key = m->next_key_min = 1;
}

static uint32_t pick_present(const mstate *m, uint64_t r) {
    uint32_t k, n = 0;
    for (k = 0; k < MK; k++) n += m->present[k];
    if (!n) return (uint32_t)(r % m->next_key); /* absent, and below every auto key to come */
    n = (uint32_t)(r % n);
    for (k = 0; k < MK; k++)
        if (m->present[k] && n-- == 0) return k;
    return 0;
}

/* Run op number i of workload `seed` on b; on success apply it to *m. Returns the rc. */
static int do_op(cairn_blob *b, uint64_t seed, int i, mstate *m) {
    uint64_t r = mix(seed * 1000003u + (uint64_t)i);
    unsigned kind = (unsigned)(r % 16);
    size_t len = (r >> 8) % 5 == 0 ? (size_t)((r >> 16) % 3000) : (size_t)((r >> 16) % 150);
    uint8_t buf[3000];
    mstate t = *m;
    int rc;
    unsigned sd = (unsigned)(seed * 1000u + (unsigned)i);
    fill(buf, len, sd);
    if (t.next_key + 4 >= MK && (kind < 8 || kind == 15)) kind = 8 + kind % 6; /* keep keys < MK */
    if (kind < 6) {
        uint32_t k = 0;
        rc = cairn_blob_create(b, buf, len, &k);
        if (rc) return rc;
        ck_assert_uint_eq(k, t.next_key);
        t.present[k] = 1;
        t.len[k] = (uint32_t)len;
        t.seed[k] = sd;
        t.next_key++;
    } else if (kind < 8) {
        uint32_t k = t.next_key + (uint32_t)((r >> 40) % 3);
        if (r & 1) k = pick_present(&t, r >> 20);
        rc = cairn_blob_create_with_key(b, k, buf, len);
        if (t.present[k]) {
            if (rc != CAIRN_EXISTS) return rc ? rc : -1000;
            return 0;
        }
        if (rc) return rc;
        t.present[k] = 1;
        t.len[k] = (uint32_t)len;
        t.seed[k] = sd;
        if (k >= t.next_key) t.next_key = k + 1;
    } else if (kind < 12) {
        uint32_t k = pick_present(&t, r >> 20);
        rc = cairn_blob_update(b, k, buf, len);
        if (!t.present[k]) return rc == CAIRN_NOTFOUND ? 0 : (rc ? rc : -1000);
        if (rc) return rc;
        t.len[k] = (uint32_t)len;
        t.seed[k] = sd;
    } else if (kind < 15) {
        uint32_t k = pick_present(&t, r >> 20);
        rc = cairn_blob_delete(b, k);
        if (!t.present[k]) return rc == CAIRN_NOTFOUND ? 0 : (rc ? rc : -1000);
        if (rc) return rc;
        t.present[k] = 0;
    } else {
        /* a transaction of three changes: all or nothing */
        uint32_t k1 = pick_present(&t, r >> 20), k2 = 0;
        if ((rc = cairn_blob_begin(b)) != 0) return rc;
        if ((rc = cairn_blob_create(b, buf, len / 2, &k2)) != 0) goto txfail;
        ck_assert_uint_eq(k2, t.next_key);
        t.present[k2] = 1;
        t.len[k2] = (uint32_t)(len / 2);
        t.seed[k2] = sd;
        t.next_key++;
        if (t.present[k1] && k1 != k2) {
            if ((rc = cairn_blob_delete(b, k1)) != 0) goto txfail;
            t.present[k1] = 0;
        }
        if ((rc = cairn_blob_update(b, k2, buf, len)) != 0) goto txfail;
        t.len[k2] = (uint32_t)len;
        if ((rc = cairn_blob_commit(b)) != 0) {
            /* the transaction is over, as after a rollback: its keys stay used */
            m->next_key = t.next_key;
            return rc;
        }
    }
    t.next_key_min = t.next_key;
    *m = t;
    return 0;
txfail:
    (void)cairn_blob_rollback(b);
    return rc;
}

static cairn_blob *must_open(const char *name, int sync);

/* The model after ops [0, n) of workload `seed` (run on a scratch store). */
static void model_after(uint64_t seed, int n, mstate *m) {
    cairn_blob *b = must_open("scratch.db", CAIRN_SYNC_NONE);
    int j;
    model_init(m);
    for (j = 0; j < n; j++) ck_assert_int_eq(do_op(b, seed, j, m), 0);
    cairn_blob_close(b);
    unlink(ct_path("scratch.db"));
    unlink(ct_path("scratch.db-wal"));
    unlink(ct_path("scratch.db-lock"));
}

/* 1 if the store holds exactly the model's state (reads that fail count as a mismatch). */
static int state_eq(cairn_blob *b, const mstate *m) {
    int dbg = getenv("BLOB_DEBUG") != NULL;
    uint32_t k;
    uint64_t n = 0, want = 0;
    struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
    uint8_t exp[3000];
    for (k = 0; k < MK; k++) {
        int e = cairn_blob_exists(b, k);
        if (e != m->present[k]) {
            if (dbg) fprintf(stderr, "key %u: exists %d, model %d\n", k, e, m->present[k]);
            return 0;
        }
        if (e) {
            void *p = NULL;
            size_t len = 0;
            want++;
            if (cairn_blob_read(b, k, &p, &len) != 0) {
                if (dbg) fprintf(stderr, "key %u: read %s\n", k, cairn_errmsg());
                return 0;
            }
            fill(exp, m->len[k], m->seed[k]);
            if (len != m->len[k] || memcmp(p, exp, len) != 0) {
                if (dbg) fprintf(stderr, "key %u: len %zu, model %u\n", k, len, m->len[k]);
                cairn_free(p);
                return 0;
            }
            cairn_free(p);
        }
    }
    if (cairn_blob_count(b, &n) != 0 || n != want) return 0;
    if (cairn_blob_stats(b, &st) != 0 || st.next_key < m->next_key_min || st.next_key > m->next_key) {
        if (dbg) fprintf(stderr, "next_key %u, model %u\n", st.next_key, m->next_key);
        return 0;
    }
    return 1;
}

static cairn_blob *open_mode(const char *name, int sync, int *rc_out) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    cairn_blob *b = NULL;
    o.sync = sync;
    *rc_out = cairn_blob_open(&b, ct_path(name), &o);
    return b;
}

static cairn_blob *must_open(const char *name, int sync) {
    int rc;
    cairn_blob *b = open_mode(name, sync, &rc);
    ck_assert_msg(rc == 0, "open %s: %s %s", name, cairn_errname(rc), cairn_errmsg());
    return b;
}

/* ---- fault injection -------------------------------------------------------------------- */

#define FOPS 14
#define FSEED 77

/* Count the writes and fsyncs of the workload. */
static void workload_counts(uint64_t *writes, uint64_t *syncs) {
    cairn_blob *b = must_open("count.db", CAIRN_SYNC_COMMIT);
    mstate m;
    int i;
    model_init(&m);
    cairn_io__fault_reset();
    for (i = 0; i < FOPS; i++) ck_assert_int_eq(do_op(b, FSEED, i, &m), 0);
    cairn_blob_close(b);
    *writes = cairn_io__fault_count(CAIRN_FAULT_WRITE);
    *syncs = cairn_io__fault_count(CAIRN_FAULT_SYNC);
    cairn_io__fault_reset();
}

static void fault_run(int ops, uint64_t nth, int kind, int sticky) {
    cairn_blob *b;
    mstate m;
    int i, rc = 0, failed_at = -1;
    char name[64];
    snprintf(name, sizeof name, "f%d-%llu-%d-%d.db", ops, (unsigned long long)nth, kind, sticky);
    b = must_open(name, CAIRN_SYNC_COMMIT);
    model_init(&m);
    cairn_io__fault_reset();
    cairn_io__fault_arm(ops, nth, kind, sticky);
    for (i = 0; i < FOPS; i++) {
        rc = do_op(b, FSEED, i, &m);
        if (rc) {
            ck_assert_msg(rc < 0 && rc != -1000, "op %d: unexpected rc %d", i, rc);
            ck_assert_str_ne(cairn_errmsg(), "");
            if (failed_at < 0) failed_at = i;
            if (sticky || ops == CAIRN_FAULT_SYNC) break;
        }
    }
    cairn_blob_close(b);
    cairn_io__fault_reset();
    b = must_open(name, CAIRN_SYNC_COMMIT); /* the file always opens */
    if (failed_at < 0) {
        ck_assert(state_eq(b, &m));
    } else if (ops == CAIRN_FAULT_SYNC || sticky) {
        /* the op whose fsync failed may or may not have reached the disk */
        if (!state_eq(b, &m)) {
            mstate t;
            model_after(FSEED, failed_at + 1, &t);
            ck_assert_msg(state_eq(b, &t), "fault %d #%llu kind %d: state is neither before nor after op %d", ops,
                          (unsigned long long)nth, kind, failed_at);
        }
    } else {
        /* a transient write fault: that op failed cleanly, every other one is there */
        ck_assert_msg(state_eq(b, &m), "write fault #%llu kind %d: state differs", (unsigned long long)nth, kind);
    }
    /* and the store keeps working */
    {
        uint32_t k;
        ck_assert_int_eq(cairn_blob_create(b, "ok", 2, &k), 0);
    }
    cairn_blob_close(b);
    ck_assert_int_eq(cairn_blob_check(ct_path(name)), 0);
}

START_TEST(fault_every_write) {
    uint64_t writes, syncs, n;
    int kind;
    workload_counts(&writes, &syncs);
    ck_assert_uint_gt(writes, FOPS);
    for (kind = CAIRN_FAULT_EIO; kind <= CAIRN_FAULT_SHORT; kind++)
        for (n = 1; n <= writes; n++) fault_run(CAIRN_FAULT_WRITE, n, kind, 0);
}
END_TEST

START_TEST(fault_every_write_sticky) {
    uint64_t writes, syncs, n;
    workload_counts(&writes, &syncs);
    for (n = 1; n <= writes; n += 2) fault_run(CAIRN_FAULT_WRITE, n, CAIRN_FAULT_ENOSPC, 1);
}
END_TEST

START_TEST(fault_every_sync) {
    uint64_t writes, syncs, n;
    int kind;
    workload_counts(&writes, &syncs);
    ck_assert_uint_ge(syncs, FOPS);
    for (kind = CAIRN_FAULT_EIO; kind <= CAIRN_FAULT_ENOSPC; kind++)
        for (n = 1; n <= syncs; n++) fault_run(CAIRN_FAULT_SYNC, n, kind, 0);
}
END_TEST

START_TEST(failed_fsync_fails_the_handle) {
    cairn_blob *b = must_open("s.db", CAIRN_SYNC_COMMIT);
    uint32_t k;
    void *p;
    size_t len;
    ck_assert_int_eq(cairn_blob_create(b, "a", 1, &k), 0);
    cairn_io__fault_arm(CAIRN_FAULT_SYNC, 1, CAIRN_FAULT_EIO, 0);
    ck_assert_int_lt(cairn_blob_create(b, "b", 1, &k), 0);
    cairn_io__fault_reset();
    ck_assert_int_eq(cairn_blob_create(b, "c", 1, &k), CAIRN_FAILED);
    ck_assert_int_eq(cairn_blob_read(b, 1, &p, &len), CAIRN_FAILED);
    ck_assert_int_eq(cairn_blob_sync(b), CAIRN_FAILED);
    cairn_blob_close(b);
    b = must_open("s.db", CAIRN_SYNC_COMMIT);
    ck_assert_int_eq(cairn_blob_exists(b, 1), 1);
    cairn_blob_close(b);
}
END_TEST

/* ---- simulated crashes ------------------------------------------------------------------ */

static void crash_run(int sync, int mode, uint64_t nth, uint64_t seed) {
    cairn_blob *b;
    mstate models[41];
    int i, acked = 0, flushed_at = 0, k, ok = 0;
    const int nops = 40;
    char name[64];
    snprintf(name, sizeof name, "c%d-%d-%llu.db", sync, mode, (unsigned long long)nth);
    b = must_open(name, sync);
    model_init(&models[0]);
    cairn_io__crash_track(1);
    cairn_io__crash_at_sync(nth, mode, seed);
    for (i = 0; i < nops; i++) {
        models[i + 1] = models[i];
        if (do_op(b, seed, i, &models[i + 1]) != 0) break;
        acked = i + 1;
        if (sync == CAIRN_SYNC_NONE && i % 10 == 9) {
            if (cairn_blob_sync(b) != 0) {
                i++; /* op i itself was acknowledged */
                break;
            }
            flushed_at = i + 1;
        }
    }
    for (; i < nops; i++) models[i + 1] = models[i]; /* not run */
    cairn_blob_close(b);
    cairn_io__crash_track(0);
    b = must_open(name, CAIRN_SYNC_COMMIT);
    if (sync == CAIRN_SYNC_NONE) {
        /* any prefix at least as long as the last flush */
        for (k = flushed_at; k <= acked + 1 && k <= nops && !ok; k++) ok = state_eq(b, &models[k]);
    } else {
        ok = state_eq(b, &models[acked]);
        if (!ok && acked < nops) {
            /* the op in flight at the crash may have made it (its commit record survived) */
            mstate t;
            model_after(seed, acked + 1, &t);
            ok = state_eq(b, &t);
        }
    }
    ck_assert_msg(ok, "sync %d crash mode %d at fsync %llu: state is not an acknowledged prefix (acked %d)", sync,
                  mode, (unsigned long long)nth, acked);
    cairn_blob_close(b);
    ck_assert_int_eq(cairn_blob_check(ct_path(name)), 0);
}

START_TEST(crash_commit_mode) {
    uint64_t n;
    for (n = 1; n <= 44; n++) {
        crash_run(CAIRN_SYNC_COMMIT, CAIRN_CRASH_DROP, n, 1000 + n);
        crash_run(CAIRN_SYNC_COMMIT, CAIRN_CRASH_TEAR, n, 2000 + n);
    }
}
END_TEST

START_TEST(crash_group_mode) {
    uint64_t n;
    for (n = 1; n <= 44; n += 3) crash_run(CAIRN_SYNC_GROUP, CAIRN_CRASH_TEAR, n, 3000 + n);
}
END_TEST

START_TEST(crash_none_mode) {
    uint64_t n;
    for (n = getenv("BLOB_N") ? (uint64_t)atoi(getenv("BLOB_N")) : 1; n <= 12; n++) {
        crash_run(CAIRN_SYNC_NONE, CAIRN_CRASH_DROP, n, 4000 + n);
        crash_run(CAIRN_SYNC_NONE, CAIRN_CRASH_TEAR, n, 5000 + n);
    }
}
END_TEST

START_TEST(crash_now_anywhere) {
    /* crash after every op count, without waiting for an fsync (unsynced data file writes and
     * checkpoints in flight) */
    int stop, mode;
    for (mode = CAIRN_CRASH_DROP; mode <= CAIRN_CRASH_TEAR; mode++)
        for (stop = 0; stop < 30; stop++) {
            cairn_blob *b;
            mstate models[31];
            int i;
            char name[64];
            snprintf(name, sizeof name, "n%d-%d.db", mode, stop);
            b = must_open(name, CAIRN_SYNC_COMMIT);
            model_init(&models[0]);
            cairn_io__crash_track(1);
            for (i = 0; i < stop; i++) {
                models[i + 1] = models[i];
                ck_assert_int_eq(do_op(b, 99, i, &models[i + 1]), 0);
            }
            cairn_io__crash_now(mode, (uint64_t)stop * 31u + (uint64_t)mode);
            cairn_blob_close(b);
            cairn_io__crash_track(0);
            b = must_open(name, CAIRN_SYNC_COMMIT);
            ck_assert_msg(state_eq(b, &models[stop]), "crash after %d ops (mode %d)", stop, mode);
            cairn_blob_close(b);
        }
}
END_TEST


START_TEST(crash_during_recovery) {
    int mode;
    for (mode = CAIRN_CRASH_DROP; mode <= CAIRN_CRASH_TEAR; mode++) {
        uint64_t n;
        for (n = 1; n <= 3; n++) {
            char name[64];
            cairn_blob *b;
            mstate m;
            int i, rc;
            snprintf(name, sizeof name, "r%d-%llu.db", mode, (unsigned long long)n);
            b = must_open(name, CAIRN_SYNC_COMMIT);
            model_init(&m);
            cairn_io__crash_track(1);
            for (i = 0; i < 25; i++) ck_assert_int_eq(do_op(b, 66, i, &m), 0);
            /* every change is in the synced log; the data file writes are lost */
            cairn_io__crash_now(CAIRN_CRASH_DROP, 1);
            cairn_blob_close(b);
            /* crash again while recovery replays (at its nth fsync) */
            cairn_io__crash_track(1);
            cairn_io__crash_at_sync(n, mode, n + 100u * (uint64_t)mode);
            b = open_mode(name, CAIRN_SYNC_COMMIT, &rc);
            if (rc == 0) cairn_blob_close(b);
            cairn_io__crash_track(0);
            b = must_open(name, CAIRN_SYNC_COMMIT);
            ck_assert_msg(state_eq(b, &m), "crash %llu during recovery (mode %d) lost data", (unsigned long long)n, mode);
            cairn_blob_close(b);
        }
    }
}
END_TEST

/* ---- SIGKILL ---------------------------------------------------------------------------- */

START_TEST(sigkill_child) {
    int round, total_acked = 0;
    for (round = 0; round < 12; round++) {
        int fds[2];
        pid_t pid;
        int acked = 0, status, ok = 0;
        uint64_t seed = 7000 + (uint64_t)round;
        int sync = round % 3 == 0 ? CAIRN_SYNC_GROUP : CAIRN_SYNC_COMMIT;
        char name[64];
        snprintf(name, sizeof name, "k%d.db", round);
        ck_assert_int_eq(pipe(fds), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            cairn_blob *b = NULL;
            cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
            mstate m;
            int i;
            close(fds[0]);
            o.sync = sync;
            if (cairn_blob_open(&b, ct_path(name), &o) != 0) _exit(2);
            model_init(&m);
            for (i = 0; i < 400; i++) {
                unsigned char c = 1;
                if (do_op(b, seed, i, &m) != 0) _exit(3);
                if (write(fds[1], &c, 1) != 1) _exit(4); /* acknowledged */
            }
            cairn_blob_close(b);
            _exit(0);
        }
        close(fds[1]);
        {
            struct timespec ts;
            ts.tv_sec = 0;
            ts.tv_nsec = (long)(mix(seed) % 60) * 1000000L + 2000000L;
            nanosleep(&ts, NULL);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        {
            unsigned char buf[512];
            ssize_t r;
            while ((r = read(fds[0], buf, sizeof buf)) > 0) acked += (int)r;
        }
        close(fds[0]);
        ck_assert_msg(WIFSIGNALED(status) || WEXITSTATUS(status) == 0, "child failed: %d", WEXITSTATUS(status));
        if (getenv("BLOB_DEBUG")) fprintf(stderr, "sigkill round %d: %d ops acknowledged\n", round, acked);
        total_acked += acked;
        {
            cairn_blob *b = must_open(name, CAIRN_SYNC_COMMIT);
            mstate m;
            /* the state must be the model after `acked` ops, or one more (in flight) */
            model_after(seed, acked, &m);
            ok = state_eq(b, &m);
            if (!ok) {
                model_after(seed, acked + 1, &m);
                ok = state_eq(b, &m);
            }
            ck_assert_msg(ok, "round %d: after SIGKILL with %d acknowledged ops the state is not a prefix", round,
                          acked);
            cairn_blob_close(b);
        }
        ck_assert_int_eq(cairn_blob_check(ct_path(name)), 0);
    }
    ck_assert_int_gt(total_acked, 0); /* the children got some work done before the kill */
}
END_TEST

/* ---- corruption ------------------------------------------------------------------------- */

/* A store with blobs, free entries, slack and zero-length blobs, fully checkpointed. */
static void build_sample(const char *name, mstate *m) {
    cairn_blob *b = must_open(name, CAIRN_SYNC_NONE);
    int i;
    model_init(m);
    for (i = 0; i < 25; i++) ck_assert_int_eq(do_op(b, 4242, i, m), 0);
    cairn_blob_close(b);
}

/* Open a damaged copy: CORRUPT/VERSION, or every read is right or CORRUPT. */
static void probe_damaged(const char *name, const mstate *m, int ro, int *n_corrupt, int *n_open) {
    cairn_blob *b = NULL;
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    int rc;
    uint32_t k;
    uint8_t exp[3000];
    o.create = 0;
    o.read_only = ro;
    rc = cairn_blob_open(&b, ct_path(name), &o);
    if (rc) {
        ck_assert_msg(rc == CAIRN_CORRUPT || rc == CAIRN_VERSION, "open of damaged file: %s (%s)", cairn_errname(rc),
                      cairn_errmsg());
        (*n_corrupt)++;
        return;
    }
    (*n_open)++;
    for (k = 0; k < MK; k++) {
        void *p = NULL;
        size_t len = 0;
        rc = cairn_blob_read(b, k, &p, &len);
        if (rc == CAIRN_NOTFOUND || rc == CAIRN_CORRUPT) continue;
        ck_assert_int_eq(rc, 0);
        /* a blob that reads must be a blob that was written, with its bytes */
        ck_assert_msg(m->present[k], "key %u appeared from nowhere", k);
        fill(exp, m->len[k], m->seed[k]);
        ck_assert_uint_eq(len, m->len[k]);
        ck_assert(memcmp(p, exp, len) == 0);
        cairn_free(p);
    }
    cairn_blob_close(b);
}

START_TEST(corrupt_data_file_every_byte) {
    mstate m;
    uint8_t *img;
    size_t n, off;
    int n_corrupt = 0, n_open = 0;
    build_sample("base.db", &m);
    ck_assert_int_eq(cairn_io__read_all(ct_path("base.db"), (void **)&img, &n), 0);
    ck_assert_uint_gt(n, 1000);
    for (off = 0; off < n; off++) {
        FILE *f = fopen(ct_path("d.db"), "wb");
        img[off] ^= 0x21;
        fwrite(img, 1, n, f);
        fclose(f);
        img[off] ^= 0x21;
        unlink(ct_path("d.db-wal"));
        /* read-only opens (no fsyncs) for speed; every 64th byte through a writer open */
        probe_damaged("d.db", &m, off % 64 != 0, &n_corrupt, &n_open);
    }
    ck_assert_int_gt(n_corrupt, 0);
    ck_assert_int_gt(n_open, 0); /* payload damage opens, and only that read fails */
    free(img);
}
END_TEST

START_TEST(truncated_data_file) {
    mstate m;
    uint8_t *img;
    size_t n, cut;
    build_sample("base.db", &m);
    ck_assert_int_eq(cairn_io__read_all(ct_path("base.db"), (void **)&img, &n), 0);
    for (cut = 0; cut < n; cut += (cut < 200 ? 1 : 7)) {
        cairn_blob *b = NULL;
        cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
        FILE *f = fopen(ct_path("t.db"), "wb");
        fwrite(img, 1, cut, f);
        fclose(f);
        unlink(ct_path("t.db-wal"));
        o.create = 0;
        o.read_only = cut % 8 != 0;
        ck_assert_int_eq(cairn_blob_open(&b, ct_path("t.db"), &o), CAIRN_CORRUPT);
        ck_assert_int_eq(cairn_blob_check(ct_path("t.db")), CAIRN_CORRUPT);
    }
    free(img);
}
END_TEST

/* A store whose last changes are only in its WAL (sync none, no checkpoint), copied as a crash
 * would leave it. models[i] = the state after i ops. */
static int build_wal_sample(mstate *models, int nops) {
    cairn_blob *b = must_open("w.db", CAIRN_SYNC_NONE);
    int i;
    model_init(&models[0]);
    for (i = 0; i < 10; i++) ck_assert_int_eq(do_op(b, 555, i, &models[0]), 0);
    ck_assert_int_eq(cairn_blob_sync(b), 0);
    for (i = 0; i < nops; i++) {
        models[i + 1] = models[i];
        ck_assert_int_eq(do_op(b, 555, 10 + i, &models[i + 1]), 0);
    }
    copy_file(ct_path("w.db"), ct_path("wbase.db"));
    copy_file(ct_path("w.db-wal"), ct_path("wbase.db-wal"));
    {
        /* the log's real bytes: space preallocated past them is zeros (a torn tail) */
        struct cairn_blob_stats st = CAIRN_BLOB_STATS_INIT;
        ck_assert_int_eq(cairn_blob_stats(b, &st), 0);
        ck_assert_int_eq(truncate(ct_path("wbase.db-wal"), (off_t)st.wal_bytes), 0);
    }
    cairn_blob_close(b);
    return nops;
}

static void probe_wal_damage(const uint8_t *wal, size_t wn, const mstate *models, int nops, int ro,
                             int *n_corrupt, int *n_ok) {
    cairn_blob *b = NULL;
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    FILE *f;
    int rc, k, ok = 0;
    o.read_only = ro; /* a reader overlays the log, a writer replays it: both must agree */
    copy_file(ct_path("wbase.db"), ct_path("x.db"));
    f = fopen(ct_path("x.db-wal"), "wb");
    fwrite(wal, 1, wn, f);
    fclose(f);
    o.create = 0;
    rc = cairn_blob_open(&b, ct_path("x.db"), &o);
    if (rc) {
        ck_assert_msg(rc == CAIRN_CORRUPT || rc == CAIRN_VERSION, "open: %s %s", cairn_errname(rc), cairn_errmsg());
        (*n_corrupt)++;
        return;
    }
    for (k = nops; k >= 0 && !ok; k--) ok = state_eq(b, &models[k]);
    ck_assert_msg(ok, "damaged WAL recovered to a state that is no prefix");
    (*n_ok)++;
    cairn_blob_close(b);
}

START_TEST(corrupt_wal_every_byte) {
    mstate models[9];
    uint8_t *wal;
    size_t wn, off;
    int n_corrupt = 0, n_ok = 0, nops = build_wal_sample(models, 8);
    ck_assert_int_eq(cairn_io__read_all(ct_path("wbase.db-wal"), (void **)&wal, &wn), 0);
    ck_assert_uint_gt(wn, 200);
    /* intact: all of it */
    probe_wal_damage(wal, wn, models, nops, 0, &n_corrupt, &n_ok);
    probe_wal_damage(wal, wn, models, nops, 1, &n_corrupt, &n_ok);
    ck_assert_int_eq(n_ok, 2);
    for (off = 0; off < wn; off++) {
        wal[off] ^= 0x44;
        probe_wal_damage(wal, wn, models, nops, off % 32 != 0, &n_corrupt, &n_ok);
        wal[off] ^= 0x44;
    }
    ck_assert_int_gt(n_corrupt, 0);
    free(wal);
}
END_TEST

START_TEST(truncated_wal) {
    mstate models[9];
    uint8_t *wal;
    size_t wn, cut;
    int n_corrupt = 0, n_ok = 0, nops = build_wal_sample(models, 8);
    ck_assert_int_eq(cairn_io__read_all(ct_path("wbase.db-wal"), (void **)&wal, &wn), 0);
    for (cut = 0; cut <= wn; cut++) probe_wal_damage(wal, cut, models, nops, cut % 16 != 0, &n_corrupt, &n_ok);
    ck_assert_int_eq(n_corrupt, 0); /* a cut log is a torn tail: always recovers */
    free(wal);
}
END_TEST


/* ---- compaction under crashes and faults ------------------------------------------------ */

START_TEST(compact_crash_every_sync) {
    uint64_t n, syncs;
    int mode;
    mstate m;
    /* count the fsyncs of a compaction */
    {
        cairn_blob *b = must_open("cc.db", CAIRN_SYNC_COMMIT);
        int i;
        model_init(&m);
        for (i = 0; i < 30; i++) ck_assert_int_eq(do_op(b, 31, i, &m), 0);
        cairn_io__fault_reset();
        ck_assert_int_eq(cairn_blob_compact(b), 0);
        syncs = cairn_io__fault_count(CAIRN_FAULT_SYNC);
        cairn_blob_close(b);
        ck_assert_uint_ge(syncs, 2);
    }
    for (mode = CAIRN_CRASH_DROP; mode <= CAIRN_CRASH_TEAR; mode++)
        for (n = 1; n <= syncs; n++) {
            char name[64];
            cairn_blob *b;
            int i;
            snprintf(name, sizeof name, "cc-%d-%llu.db", mode, (unsigned long long)n);
            b = must_open(name, CAIRN_SYNC_COMMIT);
            model_init(&m);
            for (i = 0; i < 30; i++) ck_assert_int_eq(do_op(b, 31, i, &m), 0);
            cairn_io__crash_track(1);
            cairn_io__crash_at_sync(n, mode, n * 17u + (uint64_t)mode);
            /* (the directory fsync is not a crash point of the I/O layer: then it completes) */
            ck_assert_int_eq(cairn_blob_compact(b) != 0, cairn_io__crashed() != 0);
            cairn_blob_close(b);
            cairn_io__crash_track(0);
            b = must_open(name, CAIRN_SYNC_COMMIT);
            ck_assert_msg(state_eq(b, &m), "compaction crash at fsync %llu (mode %d) lost data", (unsigned long long)n,
                          mode);
            cairn_blob_close(b);
            ck_assert_int_eq(cairn_blob_check(ct_path(name)), 0);
        }
}
END_TEST

START_TEST(compact_write_faults) {
    uint64_t n, writes;
    mstate m;
    {
        cairn_blob *b = must_open("cw.db", CAIRN_SYNC_COMMIT);
        int i;
        model_init(&m);
        for (i = 0; i < 30; i++) ck_assert_int_eq(do_op(b, 32, i, &m), 0);
        ck_assert_int_eq(cairn_blob_sync(b), 0);
        cairn_io__fault_reset();
        ck_assert_int_eq(cairn_blob_compact(b), 0);
        writes = cairn_io__fault_count(CAIRN_FAULT_WRITE);
        cairn_blob_close(b);
    }
    for (n = 1; n <= writes; n++) {
        char name[64];
        cairn_blob *b;
        int i;
        uint32_t k;
        snprintf(name, sizeof name, "cw-%llu.db", (unsigned long long)n);
        b = must_open(name, CAIRN_SYNC_COMMIT);
        model_init(&m);
        for (i = 0; i < 30; i++) ck_assert_int_eq(do_op(b, 32, i, &m), 0);
        ck_assert_int_eq(cairn_blob_sync(b), 0);
        cairn_io__fault_reset();
        cairn_io__fault_arm(CAIRN_FAULT_WRITE, n, CAIRN_FAULT_SHORT, 0);
        ck_assert_int_lt(cairn_blob_compact(b), 0);
        cairn_io__fault_reset();
        /* the handle goes on with the old file */
        ck_assert(state_eq(b, &m));
        ck_assert_int_eq(cairn_blob_create(b, "more", 4, &k), 0);
        m.present[k] = 1;
        m.len[k] = 4;
        m.seed[k] = 0;
        cairn_blob_close(b);
        b = must_open(name, CAIRN_SYNC_COMMIT);
        {
            void *p;
            size_t len;
            ck_assert_int_eq(cairn_blob_read(b, k, &p, &len), 0);
            ck_assert(len == 4 && memcmp(p, "more", 4) == 0);
            cairn_free(p);
        }
        {
            char tmp[80];
            snprintf(tmp, sizeof tmp, "%s.compact", name);
            ck_assert_int_eq(access(ct_path(tmp), F_OK), -1); /* no leftover */
        }
        cairn_blob_close(b);
    }
}
END_TEST

/* Snapshots copy the data file through cairn_io__copy (a reflink, else copy_file_range, else a
 * read/write loop; under the test hooks never a reflink), backups through its loop: a fault on any write of the copy (EIO, or half the bytes and ENOSPC) fails
 * the call cleanly (no snapshot listed, no backup file, the store as it was), and a copy without
 * faults holds exactly the store's bytes. The data file is ~2.5 MiB: the copy is several write
 * ops (one a MiB). */
#define SW_BLOBS 40
#define SW_LEN (64u * 1024u)
static void sw_fill(uint8_t *p, uint32_t k) { fill(p, SW_LEN, k * 7919u); }

static void sw_check(cairn_blob *b) {
    uint8_t *exp = (uint8_t *)malloc(SW_LEN);
    uint32_t k;
    uint64_t n = 0;
    ck_assert_ptr_nonnull(exp);
    for (k = 1; k <= SW_BLOBS; k++) {
        void *p = NULL;
        size_t len = 0;
        ck_assert_int_eq(cairn_blob_read(b, k, &p, &len), 0);
        sw_fill(exp, k);
        ck_assert(len == SW_LEN && memcmp(p, exp, len) == 0);
        cairn_free(p);
    }
    ck_assert_int_eq(cairn_blob_count(b, &n), 0);
    ck_assert_uint_eq(n, SW_BLOBS);
    free(exp);
}

/* Reopen sw.db as a writer that has written (the open of a cleanly closed store writes nothing
 * until the first call that may write: begin is one), so that the writes counted and armed are
 * the snapshot's own. */
static cairn_blob *sw_reopen(void) {
    cairn_blob *b = must_open("sw.db", CAIRN_SYNC_COMMIT);
    ck_assert_int_eq(cairn_blob_begin(b), 0);
    ck_assert_int_eq(cairn_blob_rollback(b), 0);
    return b;
}

static int same_bytes(const char *x, const char *y) {
    void *a = NULL, *c = NULL;
    size_t na = 0, nc = 0;
    int eq;
    ck_assert_int_eq(cairn_io__read_all(x, &a, &na), 0);
    ck_assert_int_eq(cairn_io__read_all(y, &c, &nc), 0);
    eq = na == nc && memcmp(a, c, na) == 0;
    free(a);
    free(c);
    return eq;
}

START_TEST(snapshot_copy_faults) {
    cairn_blob *b = must_open("sw.db", CAIRN_SYNC_COMMIT), *r;
    uint8_t *buf = (uint8_t *)malloc(SW_LEN);
    uint64_t writes, n;
    uint32_t k;
    char *json = NULL, snapfile[512], bk[512];
    int kind;
    ck_assert_ptr_nonnull(buf);
    for (k = 1; k <= SW_BLOBS; k++) {
        uint32_t got = 0;
        sw_fill(buf, k);
        ck_assert_int_eq(cairn_blob_create(b, buf, SW_LEN, &got), 0);
        ck_assert_uint_eq(got, k);
    }
    ck_assert_int_eq(cairn_blob_sync(b), 0);
    /* how many write ops a snapshot makes */
    cairn_io__fault_reset();
    ck_assert_int_eq(cairn_blob_snapshot(b, "count", NULL), 0);
    writes = cairn_io__fault_count(CAIRN_FAULT_WRITE);
    cairn_io__fault_reset();
    ck_assert_uint_ge(writes, 3);
    ck_assert_int_eq(cairn_blob_drop_snapshot(b, "count"), 0);
    for (kind = 0; kind < 2; kind++) {
        for (n = 1; n <= writes; n++) {
            int rc;
            cairn_io__fault_reset();
            cairn_io__fault_arm(CAIRN_FAULT_WRITE, n, kind ? CAIRN_FAULT_SHORT : CAIRN_FAULT_EIO, 0);
            rc = cairn_blob_snapshot(b, "s", NULL);
            cairn_io__fault_reset();
            ck_assert_msg(rc < 0, "write %llu: the snapshot did not fail", (unsigned long long)n);
            ck_assert_str_ne(cairn_errmsg(), "");
            cairn_blob_close(b);
            b = sw_reopen();
            ck_assert_int_eq(cairn_blob_snapshots(b, &json), 0);
            ck_assert_str_eq(json, "[]");
            cairn_free(json);
            sw_check(b);
            /* a backup fails the same way and leaves no store at its destination */
            snprintf(bk, sizeof bk, "%s", ct_path("bk.db"));
            cairn_io__fault_arm(CAIRN_FAULT_WRITE, n, kind ? CAIRN_FAULT_SHORT : CAIRN_FAULT_EIO, 0);
            rc = cairn_blob_backup(b, bk);
            cairn_io__fault_reset();
            if (rc == 0) { /* the backup made fewer writes than the snapshot */
                ck_assert(n > 1);
                unlink(bk);
                snprintf(bk, sizeof bk, "%s-wal", ct_path("bk.db"));
                unlink(bk);
                continue;
            }
            ck_assert_int_eq(access(bk, F_OK), -1);
            cairn_blob_close(b);
            b = sw_reopen();
            sw_check(b);
        }
    }
    /* without faults: the snapshot's data file is the store's, byte for byte, and opens */
    ck_assert_int_eq(cairn_blob_snapshot(b, "s", NULL), 0);
    snprintf(snapfile, sizeof snapfile, "%s-snapshots/s/blob", ct_path("sw.db"));
    ck_assert(same_bytes(snapfile, ct_path("sw.db")));
    ck_assert_int_eq(cairn_blob_open_snapshot(&r, b, "s"), 0);
    sw_check(r);
    cairn_blob_close(r);
    /* the same with the hooks active (copy MiB by MiB) */
    cairn_io__fault_arm(CAIRN_FAULT_WRITE, 1000000, CAIRN_FAULT_EIO, 0);
    ck_assert_int_eq(cairn_blob_snapshot(b, "s2", NULL), 0);
    cairn_io__fault_reset();
    snprintf(snapfile, sizeof snapfile, "%s-snapshots/s2/blob", ct_path("sw.db"));
    ck_assert(same_bytes(snapfile, ct_path("sw.db")));
    snprintf(bk, sizeof bk, "%s", ct_path("bk2.db"));
    ck_assert_int_eq(cairn_blob_backup(b, bk), 0);
    ck_assert(same_bytes(bk, ct_path("sw.db")));
    cairn_blob_close(b);
    b = must_open("bk2.db", CAIRN_SYNC_COMMIT);
    sw_check(b);
    cairn_blob_close(b);
    free(buf);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("blob_crash");
    TCase *t = tcase_create("faults");
    tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, fault_every_write);
    tcase_add_test(t, fault_every_write_sticky);
    tcase_add_test(t, fault_every_sync);
    tcase_add_test(t, failed_fsync_fails_the_handle);
    tcase_add_test(t, crash_commit_mode);
    tcase_add_test(t, crash_group_mode);
    tcase_add_test(t, crash_none_mode);
    tcase_add_test(t, crash_now_anywhere);
    tcase_add_test(t, crash_during_recovery);
    tcase_add_test(t, sigkill_child);
    tcase_add_test(t, corrupt_data_file_every_byte);
    tcase_add_test(t, truncated_data_file);
    tcase_add_test(t, corrupt_wal_every_byte);
    tcase_add_test(t, truncated_wal);
    tcase_add_test(t, compact_crash_every_sync);
    tcase_add_test(t, compact_write_faults);
    tcase_add_test(t, snapshot_copy_faults);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return ct_run(suite()); }
