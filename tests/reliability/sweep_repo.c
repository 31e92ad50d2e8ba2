/* sweep_repo.c - the versioned store's corruption sweep: damage every file of a repository at
 * every offset (--stride N: every Nth) and check that every answer is right or CAIRN_CORRUPT.
 *
 * The builder makes a small repository of one tenant: a whole-value entry with four versions
 * (text, a 600-byte value, the empty value, a small one), a collection of 200 records (two tree
 * levels: leaves under a root node; a few values over 256 bytes, so stored as value objects)
 * changed by a put, a put_many and a delete, and two tags. It records what every version holds
 * (the exact bytes and kinds of the value, or of every record), each entry's history and the
 * records of refs.log. Then, for every file (CAIRN-REPO, the pack, refs.log) and every offset,
 * each damage is tried on a fresh copy: flip one bit; truncate there; and, once per file, append
 * garbage. After each: cairn_repo_verify, a read-only open, a writer open (recovery cuts torn
 * tails) and a read-only open after it; each open asks for the tenants, the entries, every
 * head and tag, loads/counts/iterates/gets every version the refs name and every older version
 * by digest, and reads each entry's history. Rules (a "wrong answer" breaks one):
 *   - every call returns the right answer or CAIRN_CORRUPT (CAIRN_VERSION for a damaged version
 *     in the marker); never other bytes, another kind, a record too many or too few; no crash,
 *     no sanitizer report;
 *   - a ref (head or tag) answers its final digest; only when the damage is in refs.log, in
 *     record j (or a truncation there), may it instead answer the digest it had after records
 *     0..j-1, or CAIRN_NOTFOUND if it had none then: a damaged last record is indistinguishable
 *     from a torn append, which open cuts (a bad record that a valid one follows is CAIRN_CORRUPT,
 *     which this rule also accepts). Whatever digest a ref answers, reading that version gives
 *     exactly its bytes, and the history from it is exactly the tail of the recorded history;
 *   - a version read by digest is never CAIRN_NOTFOUND (its object is in the pack, or the pack is
 *     damaged: CAIRN_CORRUPT).
 * Prints the number of cases and wrong answers; exits 1 if there is any wrong answer.
 *
 * Usage: rel_sweep_repo [--stride N] [--seed S] [--keep]
 */
#include "rel_common.h"

#include <cairn.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEN "ten"
#define MAXV 16
#define MAXFILES 8
#define MAXREFREC 32
#define NREC 200

typedef struct pfile {
    char rel[256];
    uint8_t *data;
    size_t len;
} pfile;

typedef struct ver {
    char dg[CAIRN_DIGEST_HEX + 1];
    int coll;
    char *dump; /* exact content */
} ver;

typedef struct refrec {
    int kind; /* 1 head, 2 tag */
    char name[64];
    char dg[CAIRN_DIGEST_HEX + 1];
    size_t start, end;
} refrec;

static pfile pf[MAXFILES];
static int npf;
static ver vers[MAXV];
static int nvers;
static refrec rr[MAXREFREC];
static int nrr;
static char *hist_full[2]; /* val, col */
static char *entries_json, *tenants_json;
static char work[700], pristine[700];
static uint64_t cases, wrong, corrupt_answers, cut_answers, lost_answers;
static int pack_damage; /* the case damages a pack file */
static char cur_case[300];

static const char *ENTRY[2] = {"val", "col"};
static const char *TAG[2] = {"t1", "t2"};

/* ---- content dumps ---- */

static char *hexdump(const void *p, size_t n) {
    static const char hx[] = "0123456789abcdef";
    char *s = (char *)malloc(2 * n + 1);
    size_t i;
    for (i = 0; i < n; i++) {
        s[2 * i] = hx[((const uint8_t *)p)[i] >> 4];
        s[2 * i + 1] = hx[((const uint8_t *)p)[i] & 15];
    }
    s[2 * n] = 0;
    return s;
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;
static void sb_add(sbuf *b, const char *s) {
    size_t l = strlen(s);
    if (b->n + l + 1 > b->cap) b->p = (char *)realloc(b->p, b->cap = (b->n + l + 1) * 2);
    memcpy(b->p + b->n, s, l + 1);
    b->n += l;
}

/* The value version dg of val: "kind:hex", or NULL with *rc. */
static char *dump_value(cairn_repo *r, const char *entry, const char *dg, int *rc) {
    void *v = NULL;
    size_t len = 0;
    int kind = -1;
    char *h, *s;
    *rc = cairn_repo_load(r, TEN, entry, dg, &v, &len, &kind);
    if (*rc) return NULL;
    h = hexdump(v, len);
    cairn_free(v);
    s = (char *)malloc(strlen(h) + 16);
    sprintf(s, "%d:%s", kind, h);
    free(h);
    return s;
}

/* The collection version dg: "count|key=kind:hex;..." by iteration, or NULL with *rc. */
static char *dump_coll(cairn_repo *r, const char *entry, const char *dg, int *rc) {
    cairn_repo_iter *it = NULL;
    const void *k, *v;
    size_t kl, vl;
    int kind;
    uint64_t cnt = 0;
    sbuf b = {0};
    char tmp[64];
    *rc = cairn_repo_count(r, TEN, entry, dg, &cnt);
    if (*rc) return NULL;
    snprintf(tmp, sizeof tmp, "%llu|", (unsigned long long)cnt);
    sb_add(&b, tmp);
    if ((*rc = cairn_repo_iter_open(&it, r, TEN, entry, dg)) != 0) {
        free(b.p);
        return NULL;
    }
    while ((*rc = cairn_repo_iter_next(it, &k, &kl, &v, &vl, &kind)) == 0) {
        char *hk = hexdump(k, kl), *hv = hexdump(v, vl);
        sb_add(&b, hk);
        snprintf(tmp, sizeof tmp, "=%d:", kind);
        sb_add(&b, tmp);
        sb_add(&b, hv);
        sb_add(&b, ";");
        free(hk);
        free(hv);
    }
    cairn_repo_iter_free(it);
    if (*rc != CAIRN_ITEROVER) {
        free(b.p);
        return NULL;
    }
    *rc = 0;
    return b.p;
}

/* ---- the builder ---- */

static void bfail(const char *what, int rc) { rel_die("build: %s: %s %s", what, cairn_errname(rc), cairn_errmsg()); }

static void add_ver(const char *dg, int coll) {
    if (nvers == MAXV) rel_die("too many versions");
    memcpy(vers[nvers].dg, dg, CAIRN_DIGEST_HEX + 1);
    vers[nvers].coll = coll;
    nvers++;
}

static void build(void) {
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    cairn_repo *r = NULL;
    char dg[CAIRN_DIGEST_HEX + 1], v1[CAIRN_DIGEST_HEX + 1];
    static uint8_t big[600];
    const void *keys[NREC], *vals[NREC];
    size_t kl[NREC], vl[NREC];
    int kinds[NREC], i, rc;
    static char kb[NREC][16];
    static uint8_t vb[NREC][400];
    o.sync = CAIRN_SYNC_NONE;
    if ((rc = cairn_repo_open(&r, pristine, &o)) != 0) bfail("open", rc);
    if ((rc = cairn_repo_init(r, TEN)) != 0) bfail("init", rc);
    if ((rc = cairn_repo_save(r, TEN, "alice", "val", "first version", 13, CAIRN_KIND_TEXT, v1)) != 0) bfail("save", rc);
    add_ver(v1, 0);
    rel_gen(1, 0, big, sizeof big);
    if ((rc = cairn_repo_save(r, TEN, "bob", "val", big, sizeof big, CAIRN_KIND_BYTES, dg)) != 0) bfail("save", rc);
    add_ver(dg, 0);
    if ((rc = cairn_repo_tag(r, TEN, "t1", v1)) != 0) bfail("tag", rc);
    for (i = 0; i < NREC; i++) {
        size_t n = i % 50 == 7 ? 300 + (size_t)i : 5 + (size_t)(i % 23);
        snprintf(kb[i], sizeof kb[i], "rec-%04d", i * 7 % 1000);
        rel_gen(2, (uint32_t)i, vb[i], n);
        keys[i] = kb[i];
        kl[i] = strlen(kb[i]);
        vals[i] = vb[i];
        vl[i] = n;
        kinds[i] = i % 3 == 0 ? CAIRN_KIND_TEXT : CAIRN_KIND_BYTES;
        if (kinds[i] == CAIRN_KIND_TEXT) {
            size_t j;
            for (j = 0; j < n; j++) vb[i][j] = (uint8_t)('a' + vb[i][j] % 26);
        }
    }
    if ((rc = cairn_repo_put_many(r, TEN, "alice", "col", NREC, keys, kl, vals, vl, kinds, dg)) != 0) bfail("put_many", rc);
    add_ver(dg, 1);
    if ((rc = cairn_repo_save(r, TEN, "carol", "val", "", 0, CAIRN_KIND_BYTES, dg)) != 0) bfail("save", rc);
    add_ver(dg, 0);
    if ((rc = cairn_repo_put(r, TEN, "bob", "col", "rec-0014", 8, big, 333, CAIRN_KIND_BYTES, dg)) != 0) bfail("put", rc);
    add_ver(dg, 1);
    if ((rc = cairn_repo_delete(r, TEN, "bob", "col", kb[50], strlen(kb[50]), dg)) != 0) bfail("delete", rc);
    add_ver(dg, 1);
    if ((rc = cairn_repo_tag(r, TEN, "t2", dg)) != 0) bfail("tag", rc);
    if ((rc = cairn_repo_save(r, TEN, "dave", "val", "{\"x\": 1}", 8, CAIRN_KIND_JSON, dg)) != 0) bfail("save", rc);
    add_ver(dg, 0);
    /* the recorded truth, read back from the pristine repository */
    for (i = 0; i < nvers; i++) {
        vers[i].dump = vers[i].coll ? dump_coll(r, "col", vers[i].dg, &rc) : dump_value(r, "val", vers[i].dg, &rc);
        if (!vers[i].dump) bfail("read back", rc);
    }
    for (i = 0; i < 2; i++)
        if ((rc = cairn_repo_history(r, TEN, ENTRY[i], 0, &hist_full[i])) != 0) bfail("history", rc);
    if ((rc = cairn_repo_entries(r, TEN, &entries_json)) != 0) bfail("entries", rc);
    if ((rc = cairn_repo_tenants(r, &tenants_json)) != 0) bfail("tenants", rc);
    cairn_repo_close(r);
    if ((rc = cairn_repo_verify(pristine)) != 0) bfail("verify", rc);
}

/* ---- the files ---- */

static void walk(const char *base, const char *rel) {
    char p[1600];
    DIR *d;
    struct dirent *e;
    snprintf(p, sizeof p, "%s%s%s", base, rel[0] ? "/" : "", rel);
    if (!(d = opendir(p))) rel_die("opendir %s", p);
    while ((e = readdir(d)) != NULL) {
        char sub[1900], subrel[256];
        struct stat st;
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "LOCK")) continue;
        snprintf(sub, sizeof sub, "%s/%s", p, e->d_name);
        if (snprintf(subrel, sizeof subrel, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >= (int)sizeof subrel)
            rel_die("path too long: %s", sub);
        if (stat(sub, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            walk(base, subrel);
        } else {
            if (npf == MAXFILES) rel_die("too many files");
            snprintf(pf[npf].rel, sizeof pf[npf].rel, "%s", subrel);
            pf[npf].data = rel_slurp(sub, &pf[npf].len);
            npf++;
        }
    }
    closedir(d);
}

static void parse_refs(void) {
    int i;
    for (i = 0; i < npf; i++) {
        const uint8_t *d = pf[i].data;
        size_t off = 0, n = pf[i].len;
        const char *sl = strrchr(pf[i].rel, '/');
        if (strcmp(sl ? sl + 1 : pf[i].rel, "refs.log") != 0) continue;
        while (off + 43 <= n) {
            size_t nl = (size_t)d[off + 5] | (size_t)d[off + 6] << 8;
            refrec *x = &rr[nrr];
            if (memcmp(d + off, "CRL1", 4) != 0 || off + 43 + nl > n || nrr == MAXREFREC || nl >= sizeof x->name)
                rel_die("refs.log: cannot parse at %zu", off);
            x->kind = d[off + 4];
            memcpy(x->name, d + off + 39, nl);
            x->name[nl] = 0;
            {
                char *h = hexdump(d + off + 7, 32);
                memcpy(x->dg, h, CAIRN_DIGEST_HEX + 1);
                free(h);
            }
            x->start = off;
            x->end = off + 43 + nl;
            off = x->end;
            nrr++;
        }
        if (off != n) rel_die("refs.log: %zu trailing bytes", n - off);
    }
    if (nrr < 4) rel_die("refs.log: only %d records", nrr);
}

static void restore(void) {
    int i;
    rel_rmrf(work);
    for (i = 0; i < npf; i++) {
        char p[1600], *s;
        if (snprintf(p, sizeof p, "%s/%s", work, pf[i].rel) >= (int)sizeof p) rel_die("path too long");
        for (s = p + strlen(work) ; (s = strchr(s + 1, '/')) != NULL;) {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
        mkdir(work, 0755);
        rel_spit(p, pf[i].data, pf[i].len);
    }
}

/* ---- the judge ---- */

static void bad(const char *fmt, const char *a, const char *b) {
    wrong++;
    if (wrong <= 50) {
        fprintf(stderr, "WRONG ANSWER [%s]: ", cur_case);
        fprintf(stderr, fmt, a, b);
        fprintf(stderr, "\n");
    }
}

static const ver *find_ver(const char *dg) {
    int i;
    for (i = 0; i < nvers; i++)
        if (!strcmp(vers[i].dg, dg)) return &vers[i];
    return NULL;
}

/* The digest ref (kind, name) has after the first nrec records of refs.log ("" if none). */
static void ref_after(int kind, const char *name, int nrec, char *out) {
    int j;
    out[0] = 0;
    for (j = 0; j < nrec; j++)
        if (rr[j].kind == kind && !strcmp(rr[j].name, name)) memcpy(out, rr[j].dg, CAIRN_DIGEST_HEX + 1);
}

/* rc of a call that has an exact answer: 1 if the caller should compare, 0 if CORRUPT (fine),
 * -1 if wrong. */
static int rc_ok(int rc, const char *what) {
    if (rc == 0) return 1;
    if (rc == CAIRN_CORRUPT) {
        corrupt_answers++;
        return 0;
    }
    bad("%s: %s", what, cairn_errname(rc));
    return -1;
}

static void check_version(cairn_repo *r, const ver *v, const char *entry, const char *how) {
    int rc, lost = 0;
    char *got = v->coll ? dump_coll(r, entry, v->dg, &rc) : dump_value(r, entry, v->dg, &rc);
    char what[200];
    snprintf(what, sizeof what, "%s %s@%.12s", how, entry, v->dg);
    if (rc == CAIRN_NOTFOUND && pack_damage) { /* its objects were cut with the pack's tail */
        lost_answers++;
        lost = 1;
    } else if (rc_ok(rc, what) == 1 && strcmp(got, v->dump) != 0) {
        bad("%s: wrong content %.200s", what, got);
    }
    free(got);
    if (v->coll) { /* gets of a present and an absent key */
        void *val = NULL;
        size_t len = 0;
        int kind = -1;
        rc = cairn_repo_get(r, TEN, entry, v->dg, "rec-0350", 8, &val, &len, &kind); /* i = 50: deleted later */
        if (rc == CAIRN_NOTFOUND) {
            if (strstr(v->dump, "7265632d30333530=") != NULL && !lost) bad("%s: get rec-0350: %s", what, "CAIRN_NOTFOUND");
        } else if (rc_ok(rc, what) == 1) {
            char *h = hexdump(val, len), needle[1000];
            snprintf(needle, sizeof needle, "7265632d30333530=%d:%s;", kind, h);
            if (!strstr(v->dump, needle)) bad("%s: get rec-0350: wrong value %.200s", what, h);
            free(h);
        }
        cairn_free(val);
        val = NULL;
        rc = cairn_repo_get(r, TEN, entry, v->dg, "rec-9999", 8, &val, &len, &kind);
        if (rc != CAIRN_NOTFOUND && rc_ok(rc, what) == 1) bad("%s: get of an absent key: %s", what, "0");
        cairn_free(val);
    }
}

/* Everything one open can be asked. lo_rec: refs may answer their state after lo_rec records
 * (-1: only the final state). */
static void judge(cairn_repo *r, int lo_rec, const char *how) {
    int rc, i, e;
    char *js = NULL, what[200];
    rc = cairn_repo_tenants(r, &js);
    snprintf(what, sizeof what, "%s: tenants", how);
    if (rc_ok(rc, what) == 1 && strcmp(js, tenants_json) != 0) bad("%s: %s", what, js);
    cairn_free(js);
    js = NULL;
    rc = cairn_repo_entries(r, TEN, &js);
    snprintf(what, sizeof what, "%s: entries", how);
    if (rc_ok(rc, what) == 1 && strcmp(js, entries_json) != 0 && lo_rec < 0) bad("%s: %s", what, js);
    cairn_free(js);
    for (e = 0; e < 2; e++) {
        char fin[CAIRN_DIGEST_HEX + 1], early[CAIRN_DIGEST_HEX + 1], got[CAIRN_DIGEST_HEX + 1];
        int k;
        for (k = 0; k < 2; k++) { /* k 0: the head, 1: the tag */
            const char *name = k ? TAG[e] : ENTRY[e];
            ref_after(k ? 2 : 1, name, nrr, fin);
            ref_after(k ? 2 : 1, name, lo_rec < 0 ? nrr : lo_rec, early);
            rc = k ? cairn_repo_tag_get(r, TEN, name, got) : cairn_repo_digest(r, TEN, name, got);
            snprintf(what, sizeof what, "%s: %s %s", how, k ? "tag" : "head", name);
            if (rc == CAIRN_NOTFOUND && !early[0]) {
                cut_answers++;
                continue;
            }
            if (rc_ok(rc, what) != 1) continue;
            if (strcmp(got, fin) != 0) {
                if (strcmp(got, early) != 0) {
                    bad("%s: names %.64s", what, got);
                    continue;
                }
                cut_answers++;
            }
            if (!find_ver(got)) {
                bad("%s: names an unknown version %.64s", what, got);
                continue;
            }
            if (!k) { /* the head by NULL digest, and the history from it */
                const ver *v = find_ver(got);
                char *h = NULL, *p, needle[100];
                if (!v->coll) {
                    char *d = dump_value(r, ENTRY[e], NULL, &rc);
                    if (rc_ok(rc, what) == 1 && strcmp(d, v->dump) != 0) bad("%s: load of the head: wrong content %.200s", what, d);
                    free(d);
                }
                rc = cairn_repo_history(r, TEN, ENTRY[e], 0, &h);
                snprintf(needle, sizeof needle, "{\"digest\":\"%s\"", got);
                if (rc_ok(rc, what) == 1) {
                    p = strstr(hist_full[e], needle);
                    if (!p || h[0] != '[' || strcmp(h + 1, p) != 0) bad("%s: history %.300s", what, h);
                }
                cairn_free(h);
            }
        }
    }
    for (i = 0; i < nvers; i++) check_version(r, &vers[i], vers[i].coll ? "col" : "val", how);
}

static int file_is_refs(int fi) {
    const char *sl = strrchr(pf[fi].rel, '/');
    return !strcmp(sl ? sl + 1 : pf[fi].rel, "refs.log");
}

/* the first refs.log record a damage at off can cut */
static int refs_lo(size_t off) {
    int j;
    for (j = 0; j < nrr; j++)
        if (off < rr[j].end) return j;
    return nrr;
}

static void run_case(int fi, const char *kind, size_t off) {
    char p[1600];
    cairn_repo *r = NULL;
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    int rc, lo = -1;
    cases++;
    snprintf(cur_case, sizeof cur_case, "%s %s at %zu", pf[fi].rel, kind, off);
    restore();
    snprintf(p, sizeof p, "%s/%s", work, pf[fi].rel);
    if (!strcmp(kind, "flip")) {
        uint8_t *d = (uint8_t *)malloc(pf[fi].len);
        memcpy(d, pf[fi].data, pf[fi].len);
        d[off] ^= (uint8_t)(1u << (off % 8));
        rel_spit(p, d, pf[fi].len);
        free(d);
    } else if (!strcmp(kind, "truncate")) {
        rel_spit(p, pf[fi].data, off);
    } else {
        uint8_t *d = (uint8_t *)malloc(pf[fi].len + 100);
        size_t k;
        memcpy(d, pf[fi].data, pf[fi].len);
        for (k = 0; k < 100; k++) d[pf[fi].len + k] = (uint8_t)(k * 37 + 11);
        rel_spit(p, d, pf[fi].len + 100);
        free(d);
    }
    if (file_is_refs(fi) && off < pf[fi].len) lo = refs_lo(off);
    pack_damage = strstr(pf[fi].rel, "/packs/") != NULL;
    rc = cairn_repo_verify(work);
    if (rc && rc != CAIRN_CORRUPT && rc != CAIRN_VERSION) bad("verify: %s %s", cairn_errname(rc), cairn_errmsg());
    o.sync = CAIRN_SYNC_NONE;
    o.create = 0;
    o.read_only = 1;
    rc = cairn_repo_open(&r, work, &o);
    if (rc && rc != CAIRN_CORRUPT && rc != CAIRN_VERSION) bad("read-only open: %s %s", cairn_errname(rc), cairn_errmsg());
    if (!rc) {
        judge(r, lo, "read-only open");
        cairn_repo_close(r);
    }
    o.read_only = 0;
    rc = cairn_repo_open(&r, work, &o);
    if (rc && rc != CAIRN_CORRUPT && rc != CAIRN_VERSION) bad("writer open: %s %s", cairn_errname(rc), cairn_errmsg());
    if (!rc) {
        judge(r, lo, "writer open");
        cairn_repo_close(r);
        o.read_only = 1;
        if (cairn_repo_open(&r, work, &o) == 0) {
            judge(r, lo, "read-only open after the writer");
            cairn_repo_close(r);
        }
    }
}

int main(int argc, char **argv) {
    uint64_t stride = rel_opt_u64(argc, argv, "--stride", 1), t0 = rel_ms();
    int keep = 0, i;
    char *tmp;
    rel_prog = "rel_sweep_repo";
    (void)rel_seed(argc, argv, 1);
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--keep")) keep = 1;
    if (stride < 1) stride = 1;
    tmp = rel_tmpdir("sweep-repo");
    snprintf(pristine, sizeof pristine, "%s/pristine", tmp);
    snprintf(work, sizeof work, "%s/work", tmp);
    build();
    walk(pristine, "");
    parse_refs();
    printf("%s: %d files, %d versions, %d ref records, stride %llu, in %s\n", rel_prog, npf, nvers, nrr,
           (unsigned long long)stride, tmp);
    fflush(stdout);
    for (i = 0; i < npf; i++) {
        size_t off;
        for (off = 0; off < pf[i].len; off += stride) {
            run_case(i, "flip", off);
            run_case(i, "truncate", off);
        }
        run_case(i, "append", pf[i].len);
    }
    printf("%s: %s: %llu cases, %llu answered CAIRN_CORRUPT, %llu refs answered a cut state, %llu versions by digest "
           "answered CAIRN_NOTFOUND after pack damage, %llu wrong answers, %.1f s\n",
           rel_prog, wrong ? "FAIL" : "PASS", (unsigned long long)cases, (unsigned long long)corrupt_answers,
           (unsigned long long)cut_answers, (unsigned long long)lost_answers, (unsigned long long)wrong, (double)(rel_ms() - t0) / 1000.0);
    if (!keep && !wrong) rel_rmrf(tmp);
    free(tmp);
    return wrong ? 1 : 0;
}
