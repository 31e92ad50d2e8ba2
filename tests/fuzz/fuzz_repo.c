/* Fuzz target: the versioned store's pack and refs.log decoders (core/src/repo/repo.c) and the
 * SNAPSHOT marker of the shared snapshot code (core/src/util/snap.c).
 *
 * Input: mode u8 | pack_len u16 | pack bytes | refs_len u16 | refs.log bytes | the rest: a
 * SNAPSHOT file (lengths little-endian, clipped to what is there). Mode bit 0: fix the CRCs up
 * (each pack record's header CRC and each refs.log record's CRC, walking the input as the format
 * frames it); bit 1: also fix every pack record's digest (SHA-256 of type and payload), so that
 * the fuzzer reaches the payload decoders (versions, leaves, nodes) behind the hash check.
 *
 * The pack and refs.log become tenant "ten" of a repository (marker written); the target runs
 * verify, a read-only open and a writer open, and asks each for the tenants, the entries, the
 * heads and tags it may hold (the names the seeds use, and every digest refs.log names): load,
 * count, iterate, get, history, diff; the writer then saves, puts, tags and runs gc, and verify
 * runs again. The SNAPSHOT bytes become the marker of snapshot "s1" of an empty KV store: list,
 * open and drop it. Asserts: no crash, no sanitizer report; every answer is 0 or an error code;
 * a successful load by digest returns bytes whose digest the version names (the reader re-hashes:
 * checked here through a second load giving the same bytes). */
#include "fuzz_common.h"
#include "util.h"

#include <cairn.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *NAMES[] = {"val", "col", "e", "t1", "t2"};

static void fix_pack(uint8_t *d, size_t len, int digests) {
    size_t off = 0;
    while (off + 45 <= len) {
        uint32_t plen = cairn_get32(d + off + 5);
        memcpy(d + off, "CRP1", 4);
        if (plen > len - off - 45) plen = (uint32_t)(len - off - 45);
        cairn_put32(d + off + 5, plen);
        if (digests) {
            unsigned n = 0;
            EVP_MD_CTX *c = EVP_MD_CTX_new();
            if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, d + off + 4, 1) &&
                (plen == 0 || EVP_DigestUpdate(c, d + off + 45, plen)))
                EVP_DigestFinal_ex(c, d + off + 9, &n);
            EVP_MD_CTX_free(c);
        }
        cairn_put32(d + off + 41, cairn_crc32c__update(0, d + off, 41));
        off += 45 + plen;
    }
}

static void fix_refs(uint8_t *d, size_t len) {
    size_t off = 0;
    while (off + 43 <= len) {
        size_t nl = cairn_get16(d + off + 5);
        memcpy(d + off, "CRL1", 4);
        if (nl > len - off - 43) {
            nl = len - off - 43;
            cairn_put16(d + off + 5, (uint16_t)nl);
        }
        cairn_put32(d + off + 39 + nl, cairn_crc32c__update(0, d + off, 39 + nl));
        off += 43 + nl;
    }
}

static void hex(const uint8_t *b, char *out) {
    static const char hx[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 32; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[64] = 0;
}

static void read_version(cairn_repo *r, const char *entry, const char *dg) {
    void *v = NULL, *v2 = NULL;
    size_t n = 0, n2 = 0, kl, vl;
    int kind = 0, kind2 = 0, rc;
    uint64_t cnt;
    cairn_repo_iter *it = NULL;
    const void *k, *vp;
    char *js = NULL;
    rc = cairn_repo_load(r, "ten", entry, dg, &v, &n, &kind);
    if (rc > 0) fuzz_fail("load: %d", rc);
    if (rc == 0 && dg) { /* a version is immutable: the same bytes twice */
        if (cairn_repo_load(r, "ten", entry, dg, &v2, &n2, &kind2) != 0 || n2 != n || kind2 != kind ||
            (n && memcmp(v, v2, n) != 0))
            fuzz_fail("two loads of version %s differ", dg);
    }
    cairn_free(v);
    cairn_free(v2);
    (void)cairn_repo_count(r, "ten", entry, dg, &cnt);
    if (cairn_repo_iter_open(&it, r, "ten", entry, dg) == 0) {
        int i;
        for (i = 0; i < 100000 && cairn_repo_iter_next(it, &k, &kl, &vp, &vl, &kind) == 0; i++) {
            void *g = NULL;
            size_t gl = 0;
            if (i < 8 && cairn_repo_get(r, "ten", entry, dg, k, kl, &g, &gl, &kind2) == 0 &&
                (gl != vl || (gl && memcmp(g, vp, gl) != 0)))
                fuzz_fail("get and iterate disagree on a record of %s", dg ? dg : "the head");
            cairn_free(g);
        }
        cairn_repo_iter_free(it);
    }
    if (cairn_repo_history(r, "ten", entry, 50, &js) == 0) cairn_free(js);
    if (dg && cairn_repo_diff(r, "ten", NULL, dg, &js) == 0) cairn_free(js);
}

static void exercise(cairn_repo *r, const uint8_t *refs, size_t rlen, int write) {
    char *js = NULL, dg[65];
    size_t i, off;
    if (cairn_repo_tenants(r, &js) == 0) cairn_free(js);
    if (cairn_repo_entries(r, "ten", &js) == 0) cairn_free(js);
    for (i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
        (void)cairn_repo_exists(r, "ten", NAMES[i]);
        (void)cairn_repo_digest(r, "ten", NAMES[i], dg);
        (void)cairn_repo_tag_get(r, "ten", NAMES[i], dg);
        read_version(r, NAMES[i], NULL);
    }
    for (off = 0; off + 43 <= rlen; off += 43 + cairn_get16(refs + off + 5)) { /* every digest refs.log names */
        hex(refs + off + 7, dg);
        for (i = 0; i < 2; i++) read_version(r, NAMES[i], dg);
    }
    if (write) {
        uint64_t removed;
        (void)cairn_repo_save(r, "ten", "fuzz", "val", "new", 3, 0, dg);
        (void)cairn_repo_put(r, "ten", "fuzz", "col", "k", 1, "v", 1, 0, dg);
        if (cairn_repo_digest(r, "ten", "val", dg) == 0) (void)cairn_repo_tag(r, "ten", "t1", dg);
        (void)cairn_repo_gc(r, 0, &removed);
        read_version(r, "val", NULL);
        read_version(r, "col", NULL);
    }
}

static void snapshot_marker(const uint8_t *d, size_t n) {
    cairn_kv *kv = NULL, *s = NULL;
    char *js = NULL;
    if (cairn_kv_open(&kv, fuzz_path("kv"), NULL) != 0) fuzz_fail("kv open: %s", cairn_errmsg());
    mkdir(fuzz_path("kv/snapshots"), 0755);
    mkdir(fuzz_path("kv/snapshots/s1"), 0755);
    fuzz_write("kv/snapshots/s1/SNAPSHOT", d, n);
    if (cairn_kv_snapshots(kv, &js) == 0) cairn_free(js);
    if (cairn_kv_open_snapshot(&s, kv, "s1") == 0) {
        uint64_t c;
        (void)cairn_kv_count(s, &c);
        cairn_kv_close(s);
    }
    (void)cairn_kv_drop_snapshot(kv, "s1");
    cairn_kv_close(kv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t p = 1, plen, rlen;
    uint8_t *pack, *refs;
    cairn_repo *r = NULL;
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    int mode;
    if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
    mode = data[0];
    plen = size >= 3 ? (size_t)data[1] | (size_t)data[2] << 8 : 0;
    p = size >= 3 ? 3 : size;
    if (plen > size - p) plen = size - p;
    pack = (uint8_t *)malloc(plen + 1);
    memcpy(pack, data + p, plen);
    p += plen;
    rlen = size - p >= 2 ? (size_t)data[p] | (size_t)data[p + 1] << 8 : 0;
    p += size - p >= 2 ? 2 : size - p;
    if (rlen > size - p) rlen = size - p;
    refs = (uint8_t *)malloc(rlen + 1);
    memcpy(refs, data + p, rlen);
    p += rlen;
    if (mode & 1) {
        fix_pack(pack, plen, mode & 2);
        fix_refs(refs, rlen);
    }
    fuzz_reset();
    mkdir(fuzz_path("repo"), 0755);
    mkdir(fuzz_path("repo/t"), 0755);
    mkdir(fuzz_path("repo/t/ten"), 0755);
    mkdir(fuzz_path("repo/t/ten/packs"), 0755);
    fuzz_write("repo/CAIRN-REPO", "cairn-repo 1\n", 13);
    fuzz_write("repo/t/ten/packs/pack-00000000", pack, plen);
    fuzz_write("repo/t/ten/refs.log", refs, rlen);
    (void)cairn_repo_verify(fuzz_path("repo"));
    o.read_only = 1;
    o.create = 0;
    o.sync = CAIRN_SYNC_NONE;
    if (cairn_repo_open(&r, fuzz_path("repo"), &o) == 0) {
        exercise(r, refs, rlen, 0);
        cairn_repo_close(r);
    }
    o.read_only = 0;
    if (cairn_repo_open(&r, fuzz_path("repo"), &o) == 0) {
        exercise(r, refs, rlen, 1);
        cairn_repo_close(r);
    }
    (void)cairn_repo_verify(fuzz_path("repo"));
    snapshot_marker(data + p, size - p);
    free(pack);
    free(refs);
    return 0;
}
