/* sweep.c - corruption sweeps: damage every file an engine writes, at many offsets, and check
 * that every answer is right or CAIRN_CORRUPT.
 *
 * A small store is built by a child process (so that the parent holds no handle):
 *   kv          several data files (600-byte rotation), a reclaim, transactions; closed, so that
 *               KEYDIR (the one index the store writes) is written;
 *   kv-killed   the same, but the writer is killed (_exit) instead of closing: an unsealed active
 *               file (with its reserved zero tail), no KEYDIR;
 *   blob        a data file and a WAL that still holds committed, uncheckpointed transactions
 *               (the writer is killed after them; sync on commit, so the data file has them too);
 *   blob-closed the same store closed cleanly: the data file, its index file (-index) and an
 *               empty WAL. Before each case the index file is made to describe the data file
 *               copy (ix_restamp), so that opens use it; after damage to any other file too, so
 *               that a damaged data file comes with an index file that claims it.
 * The child reports every acknowledged operation (with the commit's sequence number for the
 * KV) to a history file. Then, for every file of the store and many offsets (every byte of the
 * first 8 KiB of a file, strided beyond) each damage is tried on a fresh copy of the store:
 *   flip one bit; zero 8 bytes; truncate there; append garbage (or zeros) at the end.
 * After each: cairn_*_check, a read-only open, a writer open (recovery) and a read-only open
 * after it; each open reads every key. The rules (a "wrong answer" breaks one):
 *   - open and check return 0 or CAIRN_CORRUPT (CAIRN_VERSION where the damage hits a
 *     version field); no crash, no sanitizer report;
 *   - every key reads as in ONE allowed state, or CAIRN_CORRUPT; the cursor yields no key
 *     that was never written. The allowed state is the acknowledged final state; plus, when the
 *     damage is a truncation of the last data file of the KV, or lies entirely in its last record,
 *     the state before the records from the first damaged one on (the damage must reach into the
 *     last record, so that no intact record follows it): that damage is indistinguishable
 *     from a torn tail (an append interrupted by a crash), which recovery must drop. (The
 *     blob store's data file already holds every committed transaction, so no earlier state is
 *     ever allowed for it: a lost WAL tail must not take anything away.) KEYDIR is a
 *     disposable cache: damaging it may cost time, never data;
 *   - the writer never shrinks a data file below min(its damaged size, its pristine size) nor
 *     below the start of the record where the damage begins (no silent truncation), and never
 *     removes a data file.
 * Prints the number of cases and wrong answers; exits 1 if there is any wrong answer.
 *
 * Usage: rel_sweep --engine kv|kv-killed|blob|blob-closed [--seed S] [--stride N] [--keep]
 *        (--stride N: use every Nth offset everywhere; the default 1 is the full sweep)
 */
#include "rel_common.h"

#include <cairn.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXFILES 64
#define NKEYS 24
#define MAXHIST 256

typedef struct pfile {
    char name[256];
    uint8_t *data;
    size_t len;
} pfile;

typedef struct hist { /* one acknowledged key change */
    uint64_t seq, opid;
    uint32_t key, len, idx;
    uint8_t t, kind; /* 'P' / 'D' (KV), 'B' blob present in the final state */
} hist;

static pfile pf[MAXFILES];
static int npf;
static hist H[MAXHIST];
static int nh;
static char work[700], pristine[700], store[800];
static int engine; /* 0 kv, 1 kv-killed, 2 blob, 3 blob-closed */
#define IS_BLOB (engine >= 2)
/* blob: the data file's size after a clean recovery of the undamaged store (its data_end). A live
 * writer reserves space past data_end ahead of its writes, and recovery cuts that reserve: the
 * floor for "no silent truncation" is what a recovery of the pristine store keeps. */
static long long blob_floor = -1;
static uint64_t seed, cases, wrong, corrupt_answers, version_answers;
static char cur_case[512];
static int verbose;

/* ---- crash attribution ---------------------------------------------------------------------- */
#if defined(__SANITIZE_ADDRESS__)
void __sanitizer_set_death_callback(void (*cb)(void));
#endif
static void print_case(void) {
    const char m[] = "rel_sweep: FAIL: crashed in case: ";
    (void)!write(2, m, sizeof m - 1);
    (void)!write(2, cur_case, strlen(cur_case));
    (void)!write(2, "\n", 1);
}
static void on_signal(int sig) {
    print_case();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void wrong_answer(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
#include <stdarg.h>
static uint64_t wrong_cases, case_wrong, last_case_counted = UINT64_MAX;
static void wrong_answer(const char *fmt, ...) {
    va_list ap;
    wrong++;
    if (last_case_counted != cases) {
        last_case_counted = cases;
        wrong_cases++;
        case_wrong = 0;
    }
    if (++case_wrong > 3 || (wrong_cases > 60 && !verbose)) return;
    fprintf(stderr, "rel_sweep: WRONG: [%s] ", cur_case);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- building the store (in a child) ------------------------------------------------------- */

static size_t keyname(uint32_t k, char *buf) { return (size_t)snprintf(buf, 64, "key-%02u%.*s", (unsigned)k, (int)(k % 4) * 5, "yyyyyyyyyyyyyyyyyyyy"); }

static void hist_add(uint64_t seq, uint64_t opid, uint32_t key, uint32_t len, uint32_t idx, uint8_t t, uint8_t kind) {
    hist *h = &H[nh++];
    if (nh > MAXHIST) rel_die("history full");
    h->seq = seq; h->opid = opid; h->key = key; h->len = len; h->idx = idx; h->t = t; h->kind = kind;
}

static char histpath[800];
static void write_hist(void) {
    FILE *f = fopen(histpath, "wb");
    if (!f || fwrite(H, sizeof H[0], (size_t)nh, f) != (size_t)nh || fclose(f) != 0) _exit(2);
}

static void bfail(const char *what, int rc) {
    fprintf(stderr, "rel_sweep: build: %s: %s %s\n", what, cairn_errname(rc), cairn_errmsg());
    _exit(2);
}

static void build_kv(rel_rng *r) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv;
    int rc, step;
    uint64_t opid = 1;
    o.max_file_size = 600;
    if ((rc = cairn_kv_open(&kv, store, &o)) != 0) bfail("open", rc);
    /* steps: 0..15 puts, deletes, a txn, a rolled-back txn, reclaim, more puts, a txn, puts/deletes */
    for (step = 0; step < 40; step++, opid++) {
        struct cairn_kv_stats st = CAIRN_KV_STATS_INIT;
        int txn = step == 19 || step == 31, rollback = step == 20, i, nops = txn || rollback ? 3 : 1;
        uint64_t seqs_at = nh;
        if (step == 22) {
            if ((rc = cairn_kv_compact(kv)) != 0) bfail("reclaim", rc);
            continue;
        }
        if ((txn || rollback) && (rc = cairn_kv_begin(kv)) != 0) bfail("begin", rc);
        for (i = 0; i < nops; i++) {
            char key[64], val[256];
            uint32_t k = step < 16 ? (uint32_t)step : (uint32_t)rel_below(r, NKEYS);
            size_t kl = keyname(k, key);
            int del = step >= 16 && rel_below(r, 4) == 0, j, present = 0;
            for (j = 0; j < nh; j++)
                if (H[j].key == k) present = H[j].t == 'P';
            for (j = (int)seqs_at; j < nh; j++)
                if (H[j].key == k) present = H[j].t == 'P';
            if (del && present) {
                if ((rc = cairn_kv_delete(kv, key, kl)) != 0) bfail("delete", rc);
                if (!rollback) hist_add(0, opid, k, 0, (uint32_t)i, 'D', 0);
            } else {
                uint32_t len = 4 + (uint32_t)rel_below(r, 90);
                uint8_t kind = (uint8_t)((opid + (uint64_t)i) % 3);
                rel_gen(opid, (uint32_t)i, (uint8_t *)val, len);
                if ((rc = cairn_kv_put(kv, key, kl, val, len, kind)) != 0) bfail("put", rc);
                if (!rollback) hist_add(0, opid, k, len, (uint32_t)i, 'P', kind);
            }
        }
        if (txn && (rc = cairn_kv_commit(kv)) != 0) bfail("commit", rc);
        if (rollback && (rc = cairn_kv_rollback(kv)) != 0) bfail("rollback", rc);
        if ((rc = cairn_kv_stats(kv, &st)) != 0) bfail("stats", rc);
        for (i = (int)seqs_at; i < nh; i++) H[i].seq = st.seq;
    }
    write_hist();
    if (engine == 1) _exit(0); /* killed writer: no close */
    cairn_kv_close(kv);
    _exit(0);
}

static void build_blob(rel_rng *r) {
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    cairn_blob *b;
    int rc, step, i;
    uint64_t opid = 1;
    uint32_t keys[64];
    int nk = 0;
    struct { uint32_t key; uint64_t opid; uint32_t idx, len; int present; } fin[64];
    if ((rc = cairn_blob_open(&b, store, &o)) != 0) bfail("open", rc);
    memset(fin, 0, sizeof fin);
    for (step = 0; step < 34; step++, opid++) {
        int txn = step == 20 || step == 28, nops = txn ? 3 : 1;
        if (step == 14 && (rc = cairn_blob_sync(b)) != 0) bfail("flush", rc); /* checkpoint; later steps stay in the WAL */
        if (txn && (rc = cairn_blob_begin(b)) != 0) bfail("begin", rc);
        for (i = 0; i < nops; i++) {
            uint8_t d[400];
            uint32_t len = (uint32_t)rel_below(r, step % 5 == 0 ? 300 : 90);
            int pick = nk ? (int)rel_below(r, (uint64_t)nk) : -1;
            uint64_t q = rel_below(r, 10);
            rel_gen(opid, (uint32_t)i, d, len);
            if (step < 10 || pick < 0 || q < 4) {
                uint32_t key;
                if ((rc = cairn_blob_create(b, d, len, &key)) != 0) bfail("create", rc);
                keys[nk] = key;
                fin[nk].key = key;
                fin[nk].present = 1;
                fin[nk].opid = opid; fin[nk].idx = (uint32_t)i; fin[nk].len = len;
                nk++;
            } else if (!fin[pick].present) {
                continue;
            } else if (q < 8) {
                if ((rc = cairn_blob_update(b, keys[pick], d, len)) != 0) bfail("update", rc);
                fin[pick].opid = opid; fin[pick].idx = (uint32_t)i; fin[pick].len = len;
            } else {
                if ((rc = cairn_blob_delete(b, keys[pick])) != 0) bfail("delete", rc);
                fin[pick].present = 0;
            }
        }
        if (txn && (rc = cairn_blob_commit(b)) != 0) bfail("commit", rc);
    }
    for (i = 0; i < nk; i++) hist_add(0, fin[i].opid, fin[i].key, fin[i].len, fin[i].idx, fin[i].present ? 'B' : 'D', 0);
    write_hist();
    if (engine == 3) cairn_blob_close(b); /* closed cleanly: the index file is written */
    _exit(0); /* blob: a killed writer, the WAL keeps its uncheckpointed transactions */
}


static void build(void) {
    pid_t pid;
    int status;
    fflush(stdout);
    if ((pid = fork()) < 0) rel_die("fork: %s", strerror(errno));
    if (pid == 0) {
        rel_rng r;
        r.s = seed;
        if (IS_BLOB) build_blob(&r);
        else build_kv(&r);
        _exit(0);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rel_die("building the store failed (seed %llu)", (unsigned long long)seed);
}

/* ---- the pristine copy ------------------------------------------------------------------------ */

static int cmp_pf(const void *a, const void *b) { return strcmp(((const pfile *)a)->name, ((const pfile *)b)->name); }

static void load_pristine(void) {
    DIR *d = opendir(pristine);
    struct dirent *e;
    if (!d) rel_die("opendir %s", pristine);
    while ((e = readdir(d)) != NULL) {
        char p[1200];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", pristine, e->d_name);
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (npf == MAXFILES) rel_die("too many files");
        snprintf(pf[npf].name, sizeof pf[npf].name, "%s", e->d_name);
        pf[npf].data = rel_slurp(p, &pf[npf].len);
        npf++;
    }
    closedir(d);
    qsort(pf, (size_t)npf, sizeof pf[0], cmp_pf);
}

static void restore(void) {
    DIR *d = opendir(work);
    struct dirent *e;
    int i;
    if (d) {
        while ((e = readdir(d)) != NULL) {
            char p[1200];
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", work, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    for (i = 0; i < npf; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%.699s/%.255s", work, pf[i].name);
        rel_spit(p, pf[i].data, pf[i].len);
    }
}

static int is_data(const char *name) {
    size_t n = strlen(name);
    return n > 5 && !strcmp(name + n - 5, ".data");
}

/* ---- the KV's record framing (to know where records start and which seq they commit) ---------- */

typedef struct rec { uint64_t start, end, seq; int complete; } rec;

static int parse_records(const uint8_t *d, size_t len, rec *out, int max) {
    size_t off = 0;
    uint64_t run = 0; /* version 3: the seq of the last commit (bare writes number on from FILE's) */
    int n = 0;
    while (off + 5 <= len && n < max) {
        uint8_t tag = d[off + 4], type, flags;
        uint64_t klen, vlen, seq = 0, end, p = off + 5;
        int b;
        if (tag & 0x80) { /* version 3: tag, [varint klen], varint vlen, [expire], [seq] */
            uint64_t v[2];
            int i;
            static const uint8_t types[4] = {1, 2, 3, 5};
            if (tag & 0x40) { /* short: a PUT of kind 0, TXN in bit 5, klen - 1 in bits 0-4 */
                type = 1;
                flags = (tag >> 5) & 1;
                v[0] = (uint64_t)(tag & 31) + 1;
            } else {
                type = types[tag & 3];
                flags = (tag >> 2) & 1;
            }
            for (i = (tag & 0x40) ? 1 : 0; i < 2; i++) {
                int sh = 0;
                v[i] = 0;
                do {
                    if (p >= len || sh > 35) return n;
                    v[i] |= (uint64_t)(d[p] & 0x7f) << sh;
                    sh += 7;
                } while (d[p++] & 0x80);
            }
            klen = v[0];
            vlen = v[1];
            if (!(tag & 0x40) && (tag & 0x08)) p += 8;
            if (type >= 3) {
                if (p + 8 > len) break;
                for (b = 7; b >= 0; b--) seq = seq << 8 | d[p + (size_t)b];
                p += 8;
            }
            if (type == 4 || type == 3) run = seq;
            else if ((type == 1 || type == 2) && !flags) seq = ++run;
            end = p + klen + vlen;
        } else {
            if (off + 32 > len) break;
            type = tag;
            flags = d[off + 5];
            vlen = (uint32_t)d[off + 8] | (uint32_t)d[off + 9] << 8 | (uint32_t)d[off + 10] << 16 | (uint32_t)d[off + 11] << 24;
            klen = (uint32_t)d[off + 12] | (uint32_t)d[off + 13] << 8;
            end = off + 32u + klen + vlen;
            for (b = 7; b >= 0; b--) seq = seq << 8 | d[off + 16 + (size_t)b];
            if (type == 4) run = seq; /* a version 3 file's FILE record has this header too */
        }
        if (type == 0 || end > len) break;
        out[n].start = off;
        out[n].end = end;
        out[n].seq = seq;
        out[n].complete = (type == 1 || type == 2) ? !(flags & 1) : type == 3;
        n++;
        off = (size_t)end;
    }
    return n;
}

/* ---- judging ------------------------------------------------------------------------------------ */

typedef struct mstate { uint8_t present[NKEYS], kind[NKEYS]; uint32_t len[NKEYS], idx[NKEYS]; uint64_t opid[NKEYS]; } mstate;

static void kv_state(uint64_t seq_limit, mstate *s) {
    int i;
    memset(s, 0, sizeof *s);
    for (i = 0; i < nh; i++) {
        const hist *h = &H[i];
        if (h->seq > seq_limit) continue;
        s->present[h->key] = h->t == 'P';
        s->kind[h->key] = h->kind;
        s->len[h->key] = h->len;
        s->idx[h->key] = h->idx;
        s->opid[h->key] = h->opid;
    }
}

static int ok_open_rc(int rc, int version_ok) {
    return rc == 0 || rc == CAIRN_CORRUPT || (version_ok && rc == CAIRN_VERSION);
}

static void judge_kv(cairn_kv *kv, const char *when, const mstate *allowed, int nallowed) {
    int rc[NKEYS], kind[NKEYS], k, a, ncorrupt = 0;
    void *v[NKEYS];
    size_t len[NKEYS];
    cairn_kv_iter *it;
    for (k = 0; k < NKEYS; k++) {
        char key[64];
        size_t kl = keyname((uint32_t)k, key);
        v[k] = NULL;
        rc[k] = cairn_kv_get(kv, key, kl, &v[k], &len[k], &kind[k]);
        if (rc[k] == CAIRN_CORRUPT) ncorrupt++;
        else if (rc[k] != 0 && rc[k] != CAIRN_NOTFOUND)
            wrong_answer("%s: get key %d: %s %s", when, k, cairn_errname(rc[k]), cairn_errmsg());
    }
    if (ncorrupt) corrupt_answers++;
    for (a = 0; a < nallowed; a++) {
        const mstate *s = &allowed[a];
        int ok = 1;
        for (k = 0; k < NKEYS && ok; k++) {
            if (rc[k] == CAIRN_CORRUPT) continue;
            if (!s->present[k]) ok = rc[k] == CAIRN_NOTFOUND;
            else ok = rc[k] == 0 && len[k] == s->len[k] && kind[k] == s->kind[k] && rel_gen_eq(s->opid[k], s->idx[k], v[k], len[k]);
        }
        if (ok) break;
    }
    if (a == nallowed) {
        const mstate *s = &allowed[0];
        char detail[512] = "";
        size_t dn = 0;
        for (k = 0; k < NKEYS && dn < 400; k++) {
            int ok;
            if (rc[k] == CAIRN_CORRUPT) continue;
            if (!s->present[k]) ok = rc[k] == CAIRN_NOTFOUND;
            else ok = rc[k] == 0 && len[k] == s->len[k] && rel_gen_eq(s->opid[k], s->idx[k], v[k], len[k]);
            if (!ok)
                dn += (size_t)snprintf(detail + dn, sizeof detail - dn, " key %d: %s%s", k,
                                       rc[k] == 0 ? "other bytes" : cairn_errname(rc[k]), s->present[k] ? "" : " (deleted)");
        }
        wrong_answer("%s: the keys match no allowed state (%d allowed); vs the acknowledged state:%s", when, nallowed, detail);
    }
    for (k = 0; k < NKEYS; k++) cairn_free(v[k]);
    if ((k = cairn_kv_iter_open(&it, kv, NULL, 0)) == 0) {
        const void *key;
        size_t kl;
        while ((k = cairn_kv_iter_next(it, &key, &kl)) == 0) {
            int j, known = 0;
            for (j = 0; j < NKEYS && !known; j++) {
                char name[64];
                size_t nl = keyname((uint32_t)j, name);
                known = nl == kl && memcmp(name, key, kl) == 0;
            }
            if (!known) wrong_answer("%s: the cursor yields a key that was never written (%zu bytes)", when, kl);
        }
        cairn_kv_iter_free(it);
    }
    if (k != CAIRN_ITEROVER && k != CAIRN_CORRUPT) wrong_answer("%s: cursor: %s", when, cairn_errname(k));
}

static void judge_blob(cairn_blob *b, const char *when) {
    int i, ncorrupt = 0;
    cairn_blob_iter *it;
    for (i = 0; i < nh; i++) {
        void *v = NULL;
        size_t len = 0;
        int rc = cairn_blob_read(b, H[i].key, &v, &len);
        if (rc == CAIRN_CORRUPT) ncorrupt++;
        else if (H[i].t == 'B' && rc != 0)
            wrong_answer("%s: read key %u: %s (acknowledged, %u bytes)", when, (unsigned)H[i].key, cairn_errname(rc), (unsigned)H[i].len);
        else if (H[i].t == 'B' && (len != H[i].len || !rel_gen_eq(H[i].opid, H[i].idx, v, len)))
            wrong_answer("%s: read key %u: WRONG BYTES (%zu bytes, acknowledged %u)", when, (unsigned)H[i].key, len, (unsigned)H[i].len);
        else if (H[i].t == 'D' && rc != CAIRN_NOTFOUND)
            wrong_answer("%s: read deleted key %u: %s", when, (unsigned)H[i].key, cairn_errname(rc));
        cairn_free(v);
    }
    if (ncorrupt) corrupt_answers++;
    if ((i = cairn_blob_iter_open(&it, b)) == 0) {
        uint32_t key;
        while ((i = cairn_blob_iter_next(it, &key)) == 0) {
            int j, known = 0;
            for (j = 0; j < nh; j++)
                if (H[j].key == key && H[j].t == 'B') known = 1;
            if (!known) wrong_answer("%s: the cursor yields key %u, which is not in the store", when, (unsigned)key);
        }
        cairn_blob_iter_free(it);
    }
    if (i != CAIRN_ITEROVER && i != CAIRN_CORRUPT) wrong_answer("%s: cursor: %s", when, cairn_errname(i));
}

/* ---- blob-closed: the index file made to describe the data file as it is ----------------------- */

uint32_t cairn_crc32c__update(uint32_t crc, const void *buf, size_t len); /* core/src/util */
int cairn_blob__index_used(cairn_blob *b);                                  /* core/src/blob */

static int is_blob_index(const char *name) { return strstr(name, "-index") != NULL; }

/* The copies the sweep writes are new files (another mtime, perhaps another inode): the index
 * file's record of the data file's identity (size, mtime, inode xor device; see "Index file"
 * in core/src/blob/blob.c) is set to the data file in the work directory as it is now, its
 * header CRC made right again, so that the open uses it. After damage to the data file this is
 * an index that claims the damaged file (as when the damage kept the mtime): every answer must
 * still be right or CAIRN_CORRUPT. */
static void ix_restamp(uint8_t *ix, size_t n) {
    char q[1200];
    struct stat st;
    uint64_t mt, ino;
    int k;
    if (n < 128 || memcmp(ix, "CAIRNBIX", 8) != 0) return;
    snprintf(q, sizeof q, "%.699s/store.blob", work);
    if (stat(q, &st) != 0) return;
    mt = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
    ino = (uint64_t)st.st_ino;
    for (k = 0; k < 8; k++) {
        ix[48 + k] = (uint8_t)((uint64_t)st.st_size >> (8 * k));
        ix[56 + k] = (uint8_t)(mt >> (8 * k));
    }
    {
        uint32_t id = (uint32_t)(ino ^ (ino >> 32) ^ (uint64_t)st.st_dev), c;
        for (k = 0; k < 4; k++) ix[64 + k] = (uint8_t)(id >> (8 * k));
        c = cairn_crc32c__update(0, ix, 124);
        for (k = 0; k < 4; k++) ix[124 + k] = (uint8_t)(c >> (8 * k));
    }
}

static void ix_restamp_file(void) {
    char q[1200];
    size_t n;
    uint8_t *ix;
    snprintf(q, sizeof q, "%.699s/store.blob-index", work);
    if (!(ix = rel_slurp(q, &n))) return;
    ix_restamp(ix, n);
    rel_spit(q, ix, n);
    free(ix);
}

/* ---- one case ------------------------------------------------------------------------------------ */

enum { M_FLIP, M_ZERO, M_TRUNC, M_APPEND, M_APPEND_ZEROS };
static const char *mname[] = {"flip", "zero8", "truncate", "append-garbage", "append-zeros"};

static void run_case(int fi, int m, size_t off, size_t arg) {
    const pfile *p = &pf[fi];
    char path[1200];
    long long msize[MAXFILES];
    mstate allowed[2];
    int nallowed = 1, rc, i, version_ok = 0, last_data = -1;
    uint64_t bound = UINT64_MAX; /* the writer may not cut the damaged file below this */
    uint8_t *buf;
    size_t len = p->len;
    snprintf(cur_case, sizeof cur_case, "engine %s seed %llu file %s %s at %zu (%zu)",
             engine == 3 ? "blob-closed" : engine == 2 ? "blob" : engine == 1 ? "kv-killed" : "kv", (unsigned long long)seed, p->name, mname[m], off, arg);
    restore();
    snprintf(path, sizeof path, "%s/%s", work, p->name);
    buf = (uint8_t *)malloc(p->len + arg + 1);
    memcpy(buf, p->data, p->len);
    if (engine == 3 && is_blob_index(p->name)) ix_restamp(buf, p->len); /* then damaged */
    switch (m) {
    case M_FLIP: buf[off] ^= (uint8_t)(1u << ((off * 5 + seed) & 7)); break;
    case M_ZERO: memset(buf + off, 0, off + 8 <= len ? 8 : len - off); break;
    case M_TRUNC: len = off; break;
    case M_APPEND: { rel_rng r; size_t j; r.s = seed ^ arg ^ (uint64_t)fi << 32; for (j = 0; j < arg; j++) buf[len + j] = (uint8_t)rel_next(&r); len += arg; break; }
    case M_APPEND_ZEROS: memset(buf + len, 0, arg); len += arg; break;
    }
    rel_spit(path, buf, len);
    free(buf);
    if (engine == 3 && !is_blob_index(p->name)) ix_restamp_file();
    for (i = 0; i < npf; i++) {
        char q[1200];
        snprintf(q, sizeof q, "%.699s/%.255s", work, pf[i].name);
        msize[i] = rel_fsize(q);
        if (!IS_BLOB && is_data(pf[i].name)) last_data = i;
    }
    cases++;
    if (IS_BLOB) {
        /* the version field of the data file's or the WAL's header */
        version_ok = (m == M_FLIP || m == M_ZERO) && off < 12 && off + (m == M_ZERO ? 8 : 1) > 8 &&
                     !strstr(p->name, "-lock");
    } else {
        kv_state(UINT64_MAX, &allowed[0]);
        if (fi == last_data && m != M_APPEND && m != M_APPEND_ZEROS) {
            rec r[256];
            /* damage that reaches into the last record leaves no intact record after it: a
             * torn tail of one or more appends, as far as any reader can tell */
            size_t dlen = m == M_ZERO ? 8 : 1;
            int n = parse_records(p->data, p->len, r, 256), j, in_last = n > 0 && off + dlen > r[n - 1].start;
            if (m == M_TRUNC || in_last) {
                uint64_t lim = 0;
                for (j = 0; j < n; j++)
                    if (r[j].complete && r[j].end <= off && r[j].seq > lim) lim = r[j].seq;
                /* every record of the sealed files is older than this file's */
                for (j = 0; j < n; j++)
                    if (r[j].end > off) { bound = r[j].start; break; }
                if (j == n) bound = off;
                if (lim == 0) { /* nothing of this file survives: the state of the older files */
                    uint64_t first = UINT64_MAX;
                    for (j = 0; j < n; j++)
                        if (r[j].complete && r[j].seq && r[j].seq < first) first = r[j].seq;
                    lim = first == UINT64_MAX ? UINT64_MAX : first - 1;
                }
                kv_state(lim, &allowed[1]);
                nallowed = 2;
            }
        }
    }
    if (IS_BLOB) {
        if (!ok_open_rc(rc = cairn_blob_check(store), version_ok)) wrong_answer("check: %s %s", cairn_errname(rc), cairn_errmsg());
        for (i = 0; i < 3; i++) {
            cairn_blob *b = NULL;
            cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
            const char *when = i == 0 ? "read-only open" : i == 1 ? "writer open" : "read-only open after recovery";
            o.read_only = i != 1;
            o.create = 0;
            rc = cairn_blob_open(&b, store, &o);
            if (!ok_open_rc(rc, version_ok)) wrong_answer("%s: %s %s", when, cairn_errname(rc), cairn_errmsg());
            if (rc == CAIRN_CORRUPT || rc == CAIRN_VERSION) corrupt_answers++;
            if (rc == 0) {
                judge_blob(b, when);
                cairn_blob_close(b);
            }
        }
    } else {
        if (!ok_open_rc(rc = cairn_kv_check(store), 0)) wrong_answer("check: %s %s", cairn_errname(rc), cairn_errmsg());
        for (i = 0; i < 3; i++) {
            cairn_kv *kv = NULL;
            cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
            const char *when = i == 0 ? "read-only open" : i == 1 ? "writer open" : "read-only open after recovery";
            o.read_only = i != 1;
            o.create = 0;
            o.max_file_size = 600;
            rc = cairn_kv_open(&kv, store, &o);
            if (!ok_open_rc(rc, 0)) wrong_answer("%s: %s %s", when, cairn_errname(rc), cairn_errmsg());
            if (rc == CAIRN_CORRUPT) corrupt_answers++;
            if (rc == 0) {
                judge_kv(kv, when, allowed, nallowed);
                cairn_kv_close(kv);
            }
        }
    }
    /* no silent truncation: the writer and close never cut a data file below what held data */
    for (i = 0; i < npf; i++) {
        char q[1200];
        long long now, floor_;
        int data = IS_BLOB ? strstr(pf[i].name, "-") == NULL : is_data(pf[i].name);
        if (!data) continue;
        snprintf(q, sizeof q, "%.699s/%.255s", work, pf[i].name);
        now = rel_fsize(q);
        floor_ = msize[i] < (long long)pf[i].len ? msize[i] : (long long)pf[i].len;
        if (!IS_BLOB && i == last_data) {
            rec r[256];
            int n = parse_records(pf[i].data, pf[i].len, r, 256);
            long long data_end = n ? (long long)r[n - 1].end : 0; /* the reserved zero tail may go */
            if (data_end < floor_) floor_ = data_end;
        }
        if (IS_BLOB && blob_floor >= 0 && blob_floor < floor_) floor_ = blob_floor;
        if (i == fi && bound != UINT64_MAX && (long long)bound < floor_) floor_ = (long long)bound;
        if (now < 0) wrong_answer("data file %s was removed", pf[i].name);
        else if (now < floor_) wrong_answer("data file %s was cut to %lld bytes (damaged copy: %lld, pristine: %zu)", pf[i].name, now, msize[i], pf[i].len);
    }
}

static size_t next_off(size_t o, size_t len, size_t stride) {
    size_t big = len > 8192 ? (len - 8192) / 128 : 1; /* beyond 8 KiB (a reserved zero tail): 128 offsets */
    if (o < 8192) return o + stride;
    return o + (big > stride ? big : stride);
}

int main(int argc, char **argv) {
    const char *eng = rel_opt(argc, argv, "--engine");
    size_t stride = (size_t)rel_opt_u64(argc, argv, "--stride", 1);
    char *dir;
    int fi, keep = 0, i;
    uint64_t t0 = rel_ms();
    rel_prog = "rel_sweep";
    seed = rel_seed(argc, argv, 1);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--keep")) keep = 1;
        if (!strcmp(argv[i], "--verbose")) verbose = 1;
    }
    if (!eng || !strcmp(eng, "kv")) engine = 0;
    else if (!strcmp(eng, "kv-killed")) engine = 1;
    else if (!strcmp(eng, "blob")) engine = 2;
    else if (!strcmp(eng, "blob-closed")) engine = 3;
    else rel_die("--engine kv|kv-killed|blob|blob-closed");
    if (stride < 1) stride = 1;
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_set_death_callback(print_case);
#endif
    signal(SIGSEGV, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGABRT, on_signal);
    dir = rel_tmpdir("sweep");
    snprintf(pristine, sizeof pristine, "%s/pristine", dir);
    snprintf(work, sizeof work, "%s/work", dir);
    snprintf(histpath, sizeof histpath, "%s/history", dir);
    if (IS_BLOB) {
        mkdir(pristine, 0755);
        snprintf(store, sizeof store, "%s/store.blob", pristine);
    } else {
        snprintf(store, sizeof store, "%s", pristine);
    }
    build();
    {
        size_t hl;
        uint8_t *hb = rel_slurp(histpath, &hl);
        if (!hb || hl % sizeof(hist) || hl / sizeof(hist) > MAXHIST) rel_die("bad history file");
        memcpy(H, hb, hl);
        nh = (int)(hl / sizeof(hist));
        free(hb);
    }
    load_pristine();
    mkdir(work, 0755);
    snprintf(store, sizeof store, IS_BLOB ? "%s/store.blob" : "%s", work);
    printf("rel_sweep: engine %s, seed %llu, %d files in the store:", eng ? eng : "kv", (unsigned long long)seed, npf);
    for (fi = 0; fi < npf; fi++) printf(" %s (%zu)", pf[fi].name, pf[fi].len);
    printf("\n");
    fflush(stdout);
    if (IS_BLOB) { /* what a clean recovery of the undamaged store leaves (see blob_floor) */
        cairn_blob_options bo = CAIRN_BLOB_OPTIONS_INIT;
        cairn_blob *b = NULL;
        int brc;
        restore();
        bo.create = 0;
        if ((brc = cairn_blob_open(&b, store, &bo)) != 0) rel_die("pristine blob store does not open: %s %s", cairn_errname(brc), cairn_errmsg());
        cairn_blob_close(b);
        blob_floor = rel_fsize(store);
    }
    /* the undamaged store first: it must read back exactly */
    {
        uint64_t w0 = wrong;
        run_case(0, M_APPEND_ZEROS, 0, 0);
        if (wrong != w0) rel_die("the UNDAMAGED store does not read back (seed %llu)", (unsigned long long)seed);
    }
    if (engine == 3) { /* the cases test the index file only if an undamaged one is used */
        cairn_blob_options bo = CAIRN_BLOB_OPTIONS_INIT;
        cairn_blob *b = NULL;
        restore();
        ix_restamp_file();
        bo.read_only = 1;
        bo.create = 0;
        if (cairn_blob_open(&b, store, &bo) != 0 || !cairn_blob__index_used(b))
            rel_die("blob-closed: the open does not use the index file (seed %llu)", (unsigned long long)seed);
        cairn_blob_close(b);
    }
    for (fi = 0; fi < npf; fi++) {
        size_t len = pf[fi].len, o;
        for (o = 0; o < len; o = next_off(o, len, stride)) run_case(fi, M_FLIP, o, 0);
        for (o = 0; o < len; o = next_off(o, len, stride * 4)) run_case(fi, M_ZERO, o, 8);
        for (o = 0; o < len; o = next_off(o, len, stride)) run_case(fi, M_TRUNC, o, 0);
        run_case(fi, M_APPEND, len, 1);
        run_case(fi, M_APPEND, len, 17);
        run_case(fi, M_APPEND, len, 100);
        run_case(fi, M_APPEND_ZEROS, len, 64);
    }
    printf("rel_sweep: %s: engine %s, seed %llu: %llu cases, %llu with CAIRN_CORRUPT/EVERSION answers, %llu wrong answers in %llu cases, %.1f s\n",
           wrong ? "FAIL" : "PASS", eng ? eng : "kv", (unsigned long long)seed, (unsigned long long)cases,
           (unsigned long long)corrupt_answers, (unsigned long long)wrong, (unsigned long long)wrong_cases, (double)(rel_ms() - t0) / 1000.0);
    (void)version_answers;
    if (!keep) rel_rmrf(dir);
    else printf("rel_sweep: kept %s\n", dir);
    free(dir);
    return wrong ? 1 : 0;
}
