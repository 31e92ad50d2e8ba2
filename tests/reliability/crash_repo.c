/* crash_repo.c - the versioned store's crash loop.
 *
 * The parent forks a child that opens the repository (CAIRN_SYNC_COMMIT) and runs random
 * changes on one tenant: saves of whole values (entries val-0..val-3, up to 6 KB, so both small
 * and large value objects), puts, put_many batches and deletes of records in two collections
 * (col-0, col-1: up to NKEYS records, enough for two tree levels), tags of the current heads,
 * and gc (grace 0). Before each change the child writes its intent to a pipe (one line, atomic:
 * shorter than PIPE_BUF); after the call returned 0 it writes the acknowledgement with the new
 * version's digest. The parent reads the pipe until a random deadline (seeded), SIGKILLs the
 * child, drains the pipe and checks:
 *   - a read-only open, then a writer open: the head of every entry is its last acknowledged
 *     digest, or (for the one change in flight) a new version whose first parent is that digest
 *     and whose content is exactly the acknowledged content plus that change; tags likewise;
 *   - every acknowledged version kept in a ring of the last RING versions (old versions stay
 *     readable through their heads' histories) loads the exact bytes: load of a value, count,
 *     a full iteration and gets of present and absent keys of a collection;
 *   - cairn_repo_verify passes on the killed repository (and after each gc below);
 *   - gc (grace 0) after the crash (every --gc-every'th kill, default 5, and the last one: it
 *     rewrites the whole pack) removes nothing reachable: every check above again, and verify.
 * The next child continues from the recovered state; every --fresh-every'th kill (default 50)
 * starts over with an empty repository, because every open indexes the whole pack and verify
 * re-hashes every object: without it the loop's time grows with the square of the kills.
 *
 * Usage: rel_crash_repo [--iterations N] [--seed S] [--max-delay-us U] [--gc-every G]
 *                       [--fresh-every F] [--keep]
 */
#include "rel_common.h"

#include <cairn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NVAL 4
#define NCOL 2
#define NENT (NVAL + NCOL)
#define NKEYS 300
#define MAXBATCH 24
#define RING 48
#define TENANT "tenant-a"

typedef struct rec {
    uint8_t present;
    uint32_t len, idx;
    uint64_t opid;
} rec;

/* One entry's state at one version. */
typedef struct estate {
    char head[CAIRN_DIGEST_HEX + 1]; /* "" before the first version */
    uint64_t opid;                   /* values: rel_gen(opid, 0, len) */
    uint32_t len;
    rec r[NKEYS]; /* collections */
} estate;

/* A change: 'S' save, 'P' put/put_many, 'D' delete, 'T' tag, 'G' gc. */
typedef struct change {
    uint64_t opid;
    char type;
    int ent, n;
    uint32_t keys[MAXBATCH], lens[MAXBATCH];
    char target[CAIRN_DIGEST_HEX + 1]; /* tag: the digest tagged */
} change;

static estate model[NENT];
static char tags[NENT][CAIRN_DIGEST_HEX + 1];
static estate ring[RING];
static int ring_ent[RING], ring_n, ring_pos;
static char store[700];
static uint64_t seed, iter;
static cairn_repo *crepo;

static void ename(int e, char *out) {
    if (e < NVAL) snprintf(out, 16, "val-%d", e);
    else snprintf(out, 16, "col-%d", e - NVAL);
}
static void keyname(uint32_t k, char *out) { snprintf(out, 16, "r%05u", (unsigned)k); }
static int kind_of(uint64_t opid) { return opid % 2 ? CAIRN_KIND_BYTES : CAIRN_KIND_NATIVE; }

static void apply(estate *s, const change *c) {
    int i;
    if (c->type == 'S') {
        s->opid = c->opid;
        s->len = c->lens[0];
    } else if (c->type == 'P') {
        for (i = 0; i < c->n; i++) { /* a key given twice keeps its last value */
            rec *x = &s->r[c->keys[i]];
            x->present = 1;
            x->len = c->lens[i];
            x->idx = (uint32_t)i;
            x->opid = c->opid;
        }
    } else if (c->type == 'D') {
        s->r[c->keys[0]].present = 0;
    }
}

static void remember(int e, const estate *s) {
    ring[ring_pos] = *s;
    ring_ent[ring_pos] = e;
    ring_pos = (ring_pos + 1) % RING;
    if (ring_n < RING) ring_n++;
}

/* ---- the child ---------------------------------------------------------------------------- */

static int wfd = -1;

static void child_fail(const char *what, int rc) {
    fprintf(stderr, "%s: FAIL (child, seed %llu, iteration %llu): %s: %s %s\n", rel_prog,
            (unsigned long long)seed, (unsigned long long)iter, what, cairn_errname(rc), cairn_errmsg());
    _exit(3);
}

static void say(const char *s) {
    size_t n = strlen(s), o = 0;
    while (o < n) {
        ssize_t w = write(wfd, s + o, n - o);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(4);
        o += (size_t)w;
    }
}

static uint32_t pick_len(rel_rng *r, int whole) {
    uint64_t p = rel_below(r, 100);
    if (p < 60) return (uint32_t)rel_below(r, whole ? 200 : 257); /* inline in a leaf (<= 256) */
    if (p < 95) return 257 + (uint32_t)rel_below(r, 1500);
    return 2000 + (uint32_t)rel_below(r, 4000);
}

static void intent_line(const change *c, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "I %llu %c %d %d", (unsigned long long)c->opid, c->type, c->ent, c->n);
    int i;
    for (i = 0; i < c->n; i++) n += (size_t)snprintf(buf + n, cap - n, " %u:%u", (unsigned)c->keys[i], (unsigned)c->lens[i]);
    snprintf(buf + n, cap - n, " %s\n", c->type == 'T' ? c->target : "-");
}

static void child_main(void) {
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    rel_rng r;
    uint64_t n;
    int rc;
    o.sync = CAIRN_SYNC_COMMIT;
    if ((rc = cairn_repo_open(&crepo, store, &o)) != 0) child_fail("open", rc);
    if ((rc = cairn_repo_init(crepo, TENANT)) != 0) child_fail("init", rc);
    r.s = seed ^ (iter * 0x9e3779b97f4a7c15ULL) ^ 0x5a5a5a5a00000000ULL;
    for (n = 0; n < 1000000; n++) {
        change c;
        char line[4096], en[16], dg[CAIRN_DIGEST_HEX + 1] = "-";
        uint64_t p = rel_below(&r, 100);
        int i;
        memset(&c, 0, sizeof c);
        c.opid = (iter << 32) | n;
        if (p < 30) {
            c.type = 'S';
            c.ent = (int)rel_below(&r, NVAL);
            c.n = 1;
            c.lens[0] = pick_len(&r, 1);
        } else if (p < 80) {
            c.type = 'P';
            c.ent = NVAL + (int)rel_below(&r, NCOL);
            c.n = rel_below(&r, 3) == 0 ? 1 : 2 + (int)rel_below(&r, MAXBATCH - 1);
            for (i = 0; i < c.n; i++) {
                c.keys[i] = (uint32_t)rel_below(&r, NKEYS);
                c.lens[i] = pick_len(&r, 0);
            }
        } else if (p < 92) {
            uint32_t k0 = (uint32_t)rel_below(&r, NKEYS), k;
            c.ent = NVAL + (int)rel_below(&r, NCOL);
            for (k = 0; k < NKEYS && !model[c.ent].r[(k0 + k) % NKEYS].present; k++) {}
            if (k == NKEYS) continue;
            c.type = 'D';
            c.n = 1;
            c.keys[0] = (k0 + k) % NKEYS;
        } else if (p < 98) {
            c.ent = (int)rel_below(&r, NENT);
            if (!model[c.ent].head[0]) continue;
            c.type = 'T';
            memcpy(c.target, model[c.ent].head, sizeof c.target);
        } else {
            c.type = 'G';
        }
        intent_line(&c, line, sizeof line);
        say(line);
        ename(c.ent, en);
        if (c.type == 'S') {
            uint8_t *v = (uint8_t *)malloc(c.lens[0] + 1);
            rel_gen(c.opid, 0, v, c.lens[0]);
            rc = cairn_repo_save(crepo, TENANT, "crash", en, v, c.lens[0], kind_of(c.opid), dg);
            free(v);
            if (rc) child_fail("save", rc);
        } else if (c.type == 'P') {
            const void *keys[MAXBATCH], *vals[MAXBATCH];
            size_t kl[MAXBATCH], vl[MAXBATCH];
            int kinds[MAXBATCH];
            char kb[MAXBATCH][16];
            for (i = 0; i < c.n; i++) {
                uint8_t *v = (uint8_t *)malloc(c.lens[i] + 1);
                rel_gen(c.opid, (uint32_t)i, v, c.lens[i]);
                keyname(c.keys[i], kb[i]);
                keys[i] = kb[i];
                kl[i] = strlen(kb[i]);
                vals[i] = v;
                vl[i] = c.lens[i];
                kinds[i] = kind_of(c.opid + (uint64_t)i);
            }
            if (c.n == 1) rc = cairn_repo_put(crepo, TENANT, "crash", en, keys[0], kl[0], vals[0], vl[0], kinds[0], dg);
            else rc = cairn_repo_put_many(crepo, TENANT, "crash", en, (size_t)c.n, keys, kl, vals, vl, kinds, dg);
            for (i = 0; i < c.n; i++) free((void *)vals[i]);
            if (rc) child_fail(c.n == 1 ? "put" : "put_many", rc);
        } else if (c.type == 'D') {
            char kb[16];
            keyname(c.keys[0], kb);
            if ((rc = cairn_repo_delete(crepo, TENANT, "crash", en, kb, strlen(kb), dg)) != 0) child_fail("delete", rc);
        } else if (c.type == 'T') {
            char tn[32];
            snprintf(tn, sizeof tn, "tag-%s", en);
            if ((rc = cairn_repo_tag(crepo, TENANT, tn, c.target)) != 0) child_fail("tag", rc);
        } else {
            uint64_t removed = 0;
            if ((rc = cairn_repo_gc(crepo, 0, &removed)) != 0) child_fail("gc", rc);
        }
        snprintf(line, sizeof line, "A %llu %s\n", (unsigned long long)c.opid, dg);
        say(line);
        if (c.type == 'S' || c.type == 'P' || c.type == 'D') {
            apply(&model[c.ent], &c);
            memcpy(model[c.ent].head, dg, sizeof model[c.ent].head);
        } else if (c.type == 'T') {
            memcpy(tags[c.ent], c.target, sizeof tags[c.ent]);
        }
    }
    _exit(0);
}

/* ---- the parent ----------------------------------------------------------------------------- */

static uint64_t nacked, inflight_applied, inflight_lost, early_exits, gc_removed, gcs, versions_checked, fresh;

#define DIE(...) rel_die("seed %llu iteration %llu: " __VA_ARGS__)
#define SI (unsigned long long)seed, (unsigned long long)iter

static int parse_intent(const char *line, change *c) {
    unsigned long long opid;
    int pos = 0, i;
    const char *p;
    char tail[80];
    memset(c, 0, sizeof *c);
    if (sscanf(line, "I %llu %c %d %d%n", &opid, &c->type, &c->ent, &c->n, &pos) != 4 || c->ent < 0 ||
        c->ent >= NENT || c->n < 0 || c->n > MAXBATCH)
        return -1;
    c->opid = opid;
    p = line + pos;
    for (i = 0; i < c->n; i++) {
        unsigned k, l;
        int used = 0;
        if (sscanf(p, " %u:%u%n", &k, &l, &used) != 2 || k >= NKEYS) return -1;
        c->keys[i] = k;
        c->lens[i] = l;
        p += used;
    }
    if (sscanf(p, " %70s", tail) != 1) return -1;
    if (c->type == 'T') snprintf(c->target, sizeof c->target, "%.64s", tail);
    return 0;
}

/* Apply the complete lines of buf[0..*len) to the acknowledged state; keep a partial line. */
static void consume(char *buf, size_t *len, change *pending, int *haspend) {
    char *line = buf, *end;
    while ((end = memchr(line, '\n', *len - (size_t)(line - buf))) != NULL) {
        *end = 0;
        if (line[0] == 'I') {
            if (*haspend) DIE("intent without ack before '%s'", SI, line);
            if (parse_intent(line, pending)) DIE("bad line '%s'", SI, line);
            *haspend = 1;
        } else if (line[0] == 'A') {
            unsigned long long id;
            char dg[80];
            if (sscanf(line, "A %llu %70s", &id, dg) != 2 || !*haspend || id != pending->opid)
                DIE("ack without intent '%s'", SI, line);
            if (pending->type == 'S' || pending->type == 'P' || pending->type == 'D') {
                if (strlen(dg) != CAIRN_DIGEST_HEX) DIE("ack without digest '%s'", SI, line);
                apply(&model[pending->ent], pending);
                memcpy(model[pending->ent].head, dg, sizeof model[pending->ent].head);
                remember(pending->ent, &model[pending->ent]);
            } else if (pending->type == 'T') {
                memcpy(tags[pending->ent], pending->target, sizeof tags[pending->ent]);
            }
            nacked++;
            *haspend = 0;
        } else {
            DIE("bad line '%s'", SI, line);
        }
        line = end + 1;
    }
    memmove(buf, line, *len - (size_t)(line - buf));
    *len -= (size_t)(line - buf);
}

/* rel_run_killed's hooks: the child, and the parent's reading of its reports. */
typedef struct {
    change *pend;
    int *haspend;
} consume_ctx;
static void consume_cb(void *ctx, char *buf, size_t *len) {
    consume_ctx *c = (consume_ctx *)ctx;
    consume(buf, len, c->pend, c->haspend);
}
static void run_child(int fd) {
    wfd = fd;
    child_main();
}

/* The version s->head of entry e holds exactly s's content. */
static void check_version(cairn_repo *r, int e, const estate *s, const char *when) {
    char en[16];
    int rc, kind = -1;
    void *v = NULL;
    size_t len = 0;
    ename(e, en);
    versions_checked++;
    if (e < NVAL) {
        rc = cairn_repo_load(r, TENANT, en, s->head, &v, &len, &kind);
        if (rc) DIE("%s: load %s@%.12s: %s %s", SI, when, en, s->head, cairn_errname(rc), cairn_errmsg());
        if (len != s->len || kind != kind_of(s->opid) || !rel_gen_eq(s->opid, 0, v, len))
            DIE("%s: load %s@%.12s: wrong bytes (len %zu, expected %u)", SI, when, en, s->head, len, (unsigned)s->len);
        cairn_free(v);
    } else {
        cairn_repo_iter *it = NULL;
        uint64_t cnt = 0, want = 0;
        uint32_t k, next = 0;
        const void *kp, *vp;
        size_t kl, vl;
        for (k = 0; k < NKEYS; k++) want += s->r[k].present;
        if ((rc = cairn_repo_count(r, TENANT, en, s->head, &cnt)) != 0 || cnt != want)
            DIE("%s: count %s@%.12s: %s, %llu records, expected %llu", SI, when, en, s->head, cairn_errname(rc),
                (unsigned long long)cnt, (unsigned long long)want);
        if ((rc = cairn_repo_iter_open(&it, r, TENANT, en, s->head)) != 0)
            DIE("%s: iterate %s@%.12s: %s %s", SI, when, en, s->head, cairn_errname(rc), cairn_errmsg());
        while ((rc = cairn_repo_iter_next(it, &kp, &kl, &vp, &vl, &kind)) == 0) {
            char kb[16];
            while (next < NKEYS && !s->r[next].present) next++;
            if (next == NKEYS) DIE("%s: iterate %s@%.12s: a record too many", SI, when, en, s->head);
            keyname(next, kb);
            if (kl != strlen(kb) || memcmp(kp, kb, kl) != 0 || vl != s->r[next].len ||
                kind != kind_of(s->r[next].opid + s->r[next].idx) ||
                (vl && !rel_gen_eq(s->r[next].opid, s->r[next].idx, vp, vl)))
                DIE("%s: iterate %s@%.12s: record %s wrong (klen %zu, vlen %zu, expected %u)", SI, when, en, s->head, kb,
                    kl, vl, (unsigned)s->r[next].len);
            next++;
        }
        cairn_repo_iter_free(it);
        if (rc != CAIRN_ITEROVER) DIE("%s: iterate %s@%.12s: %s %s", SI, when, en, s->head, cairn_errname(rc), cairn_errmsg());
        while (next < NKEYS && !s->r[next].present) next++;
        if (next != NKEYS) DIE("%s: iterate %s@%.12s: record %u missing", SI, when, en, s->head, (unsigned)next);
        for (k = (uint32_t)(iter % 7); k < NKEYS; k += 23) { /* gets, present and absent */
            char kb[16];
            keyname(k, kb);
            v = NULL;
            rc = cairn_repo_get(r, TENANT, en, s->head, kb, strlen(kb), &v, &len, &kind);
            if (s->r[k].present ? (rc != 0 || len != s->r[k].len || (len && !rel_gen_eq(s->r[k].opid, s->r[k].idx, v, len)))
                                : rc != CAIRN_NOTFOUND)
                DIE("%s: get %s@%.12s %s: %s (len %zu), expected %s", SI, when, en, s->head, kb, cairn_errname(rc), len,
                    s->r[k].present ? "the record" : "CAIRN_NOTFOUND");
            cairn_free(v);
        }
    }
}

/* The first parent of the head's version (history of 2), or "" for none. */
static void head_parent(cairn_repo *r, const char *en, char *out) {
    char *js = NULL, *p;
    int rc = cairn_repo_history(r, TENANT, en, 2, &js);
    out[0] = 0;
    if (rc) DIE("history %s: %s %s", SI, en, cairn_errname(rc), cairn_errmsg());
    if ((p = strstr(js, "\"parents\":[\"")) != NULL) {
        memcpy(out, p + 12, CAIRN_DIGEST_HEX);
        out[CAIRN_DIGEST_HEX] = 0;
    }
    if (out[0] && (!(p = strstr(js, "},{\"digest\":\"")) || strncmp(p + 13, out, CAIRN_DIGEST_HEX) != 0))
        DIE("history %s: the second version is not the head's parent: %.300s", SI, en, js);
    cairn_free(js);
}

/* Judge heads and tags against the acknowledged state plus the change in flight; the state found
 * goes to out (which may be model itself: adopt). Returns 1 if the change in flight landed. */
static int judge(cairn_repo *r, const change *inf, int hasinf, estate *out, char outtags[][CAIRN_DIGEST_HEX + 1],
                 const char *when) {
    int e, landed = 0, rc;
    for (e = 0; e < NENT; e++) {
        char en[16], hd[CAIRN_DIGEST_HEX + 1], tn[32];
        ename(e, en);
        rc = cairn_repo_digest(r, TENANT, en, hd);
        if (rc == CAIRN_NOTFOUND) hd[0] = 0;
        else if (rc) DIE("%s: digest %s: %s %s", SI, when, en, cairn_errname(rc), cairn_errmsg());
        out[e] = model[e];
        if (strcmp(hd, model[e].head) != 0) {
            char par[CAIRN_DIGEST_HEX + 1];
            if (!hasinf || inf->ent != e || (inf->type != 'S' && inf->type != 'P' && inf->type != 'D') || !hd[0])
                DIE("%s: head of %s is %.12s, acknowledged %.12s (no change of it in flight)", SI, when, en, hd,
                    model[e].head[0] ? model[e].head : "(none)");
            head_parent(r, en, par);
            if (strcmp(par, model[e].head) != 0)
                DIE("%s: head of %s (in flight) has parent %.12s, acknowledged head %.12s", SI, when, en, par, model[e].head);
            apply(&out[e], inf);
            memcpy(out[e].head, hd, sizeof hd);
            landed = 1;
        }
        if (hd[0]) check_version(r, e, &out[e], when);
        snprintf(tn, sizeof tn, "tag-%s", en);
        rc = cairn_repo_tag_get(r, TENANT, tn, hd);
        if (rc == CAIRN_NOTFOUND) hd[0] = 0;
        else if (rc) DIE("%s: tag_get %s: %s %s", SI, when, tn, cairn_errname(rc), cairn_errmsg());
        memcpy(outtags[e], tags[e], sizeof hd);
        if (strcmp(hd, tags[e]) != 0) {
            if (!hasinf || inf->type != 'T' || inf->ent != e || strcmp(hd, inf->target) != 0)
                DIE("%s: tag %s names %.12s, acknowledged %.12s", SI, when, tn, hd, tags[e][0] ? tags[e] : "(none)");
            memcpy(outtags[e], hd, sizeof hd);
            landed = 1;
        }
    }
    return landed;
}

static void check_ring(cairn_repo *r, const char *when) {
    int i;
    for (i = 0; i < ring_n; i++) check_version(r, ring_ent[i], &ring[i], when);
}

static void verify(const char *when) {
    int rc = cairn_repo_verify(store);
    if (rc) DIE("verify (%s): %s %s", SI, when, cairn_errname(rc), cairn_errmsg());
}

int main(int argc, char **argv) {
    uint64_t iterations = rel_opt_u64(argc, argv, "--iterations", 200);
    uint64_t max_delay = rel_opt_u64(argc, argv, "--max-delay-us", 60000), t0 = rel_ms();
    uint64_t fresh_every = rel_opt_u64(argc, argv, "--fresh-every", 50) ? rel_opt_u64(argc, argv, "--fresh-every", 50) : 1;
    uint64_t gc_every = rel_opt_u64(argc, argv, "--gc-every", 5) ? rel_opt_u64(argc, argv, "--gc-every", 5) : 1;
    int keep = 0, i;
    char *dir;
    rel_rng prng;
    rel_prog = "rel_crash_repo";
    seed = rel_seed(argc, argv, 1);
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--keep")) keep = 1;
    prng.s = seed;
    dir = rel_tmpdir("crash-repo");
    snprintf(store, sizeof store, "%s/repo", dir);
    printf("%s: seed %llu, %llu iterations, sync commit, in %s\n", rel_prog, (unsigned long long)seed,
           (unsigned long long)iterations, dir);
    fflush(stdout);
    signal(SIGPIPE, SIG_IGN);
    for (iter = 0; iter < iterations; iter++) {
        int status, rc, haspend = 0;
        uint64_t delay = rel_below(&prng, max_delay);
        static char buf[1 << 16];
        change pend;
        static estate ro[NENT];
        char rotags[NENT][CAIRN_DIGEST_HEX + 1];
        cairn_repo *r = NULL;
        cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
        struct stat st;
        uint64_t removed = 0;
        if (iter > 0 && iter % fresh_every == 0) { /* a fresh repository: see the header */
            rel_rmrf(store);
            memset(model, 0, sizeof model);
            memset(tags, 0, sizeof tags);
            ring_n = ring_pos = 0;
            fresh++;
        }
        {
            consume_ctx cc;
            cc.pend = &pend;
            cc.haspend = &haspend;
            status = rel_run_killed(run_child, delay / 1000 + 1, consume_cb, &cc);
        }
        if (WIFEXITED(status)) {
            if (WEXITSTATUS(status) != 0) DIE("the child failed (exit %d)", SI, WEXITSTATUS(status));
            early_exits++;
        }
        snprintf((char *)buf, sizeof buf, "%s/CAIRN-REPO", store);
        if (stat(buf, &st) != 0) { /* killed before the repository was made (its marker is the last step) */
            for (i = 0; i < NENT; i++)
                if (model[i].head[0]) DIE("repository missing", SI);
            continue;
        }
        /* 1. the killed repository verifies */
        verify("the killed repository");
        /* 2. a reader sees the acknowledged state (plus at most the change in flight) */
        o.read_only = 1;
        o.create = 0;
        if ((rc = cairn_repo_open(&r, store, &o)) != 0)
            DIE("read-only open: %s %s", SI, cairn_errname(rc), cairn_errmsg());
        judge(r, &pend, haspend, ro, rotags, "read-only open");
        cairn_repo_close(r);
        /* 3. the writer: the same state; it becomes the model */
        o.read_only = 0;
        if ((rc = cairn_repo_open(&r, store, &o)) != 0) DIE("writer open: %s %s", SI, cairn_errname(rc), cairn_errmsg());
        if (judge(r, &pend, haspend, model, tags, "writer open")) {
            inflight_applied++;
            if (pend.type == 'S' || pend.type == 'P' || pend.type == 'D') remember(pend.ent, &model[pend.ent]);
        } else if (haspend) {
            inflight_lost++;
        }
        for (i = 0; i < NENT; i++)
            if (strcmp(model[i].head, ro[i].head) != 0 || strcmp(tags[i], rotags[i]) != 0)
                DIE("the read-only open and the writer disagree on the change in flight", SI);
        check_ring(r, "writer open");
        /* 4. gc after the crash keeps everything reachable (it rewrites the whole pack: every
         * gc_every-th kill and the last one, so that the loop's time stays flat) */
        if (iter % gc_every == 0 || iter + 1 == iterations) {
            if ((rc = cairn_repo_gc(r, 0, &removed)) != 0) DIE("gc: %s %s", SI, cairn_errname(rc), cairn_errmsg());
            gc_removed += removed;
            gcs++;
            judge(r, NULL, 0, model, tags, "after gc");
            check_ring(r, "after gc");
            cairn_repo_close(r);
            verify("after recovery and gc");
        } else {
            cairn_repo_close(r);
        }
    }
    printf("%s: PASS: %llu kills, %llu changes acknowledged, in flight at the kill: %llu landed, %llu not "
           "(%llu children finished before the kill), %llu versions checked, %llu gc runs after a crash removed %llu objects, "
           "%llu fresh repositories, seed %llu, %.1f s\n",
           rel_prog, (unsigned long long)iterations, (unsigned long long)nacked, (unsigned long long)inflight_applied,
           (unsigned long long)inflight_lost, (unsigned long long)early_exits, (unsigned long long)versions_checked,
           (unsigned long long)gcs, (unsigned long long)gc_removed, (unsigned long long)fresh + 1,
           (unsigned long long)seed, (double)(rel_ms() - t0) / 1000.0);
    if (!keep) rel_rmrf(dir);
    free(dir);
    return 0;
}
