/*
 * repo.c - the versioned store: content-addressed objects, tenants, refs, history, collections.
 *
 * FORMAT (version 1; docs/format-repo.md says the same with a worked example)
 *
 * Directory (every integer little-endian):
 *   <repo>/CAIRN-REPO              marker: the 13 bytes "cairn-repo 1\n" (written atomically once)
 *   <repo>/LOCK                    the writer's advisory lock (flock)
 *   <repo>/t/<tenant>/packs/pack-NNNNNNNN   append-only object packs (a new one past 256 MiB)
 *   <repo>/t/<tenant>/refs.log     the tenant's refs (entry heads and tags)
 * <tenant> is the name's bytes with every byte outside [A-Za-z0-9_-] (and a leading '.') written
 * as %XX; an encoding longer than 200 bytes is "~" + the hex SHA-256 of the name, and such a
 * directory holds NAME: the name's bytes (written atomically at init), from which listing, stats,
 * gc and verify learn the name (a "~" directory without a NAME that encodes to it is skipped).
 * Each tenant has its own packs: no deduplication across tenants (it would tell one tenant
 * whether another stored some content).
 *
 * Pack record (one object):
 *   0   4  magic "CRP1"
 *   4   1  type: 1 value, 2 version, 3 leaf, 4 node
 *   5   4  payload length P
 *   9  32  digest = SHA-256(type byte || payload)
 *   41  4  CRC32C of bytes 0..40 (the header: framing is checked without hashing the payload)
 *   45  P  payload
 * A reader re-hashes every payload it reads: a mismatch is CAIRN_CORRUPT naming the digest, the
 * pack and the offset; the digest is the payload's checksum. The index (digest -> pack, offset)
 * is built in memory by reading the record headers at the first use of a tenant. Payloads are
 * read through a read-only mapping of the pack (pread while test hooks are active), copied to the
 * heap and hashed there; a handle keeps the tree objects it has checked in a bounded cache
 * (cache_bytes) and serves those bytes again without reading or hashing them again.
 *
 * Payloads:
 *   value:   kind u8 | bytes
 *   version: flags u8 (bit 0: collection) | nparents u8 (0..2) | parents 32 each | root 32 (the
 *            value object, or the collection's root node; all zero: an empty collection) |
 *            time_ms i64 | user_len u16 | user | entry_len u16 | entry
 *   leaf:    level u8 (= 0) | count u32 | count x (klen u16 | key | kind u8 | mode u8 |
 *            vlen u32 | the value's bytes (mode 0, at most 256) or its value object's digest
 *            (mode 1, 32 bytes))
 *   node:    level u8 (>= 1) | count u32 | count x (klen u16 | key = the child's last key |
 *            child digest 32 | records u64 under the child)
 *   Keys in a node are strictly increasing (bytewise); a node that says otherwise is damage.
 *
 * refs.log record: "CRL1" | kind u8 (1 head, 2 tag) | name_len u16 | digest 32 | name |
 *   CRC32C u32 of everything before it. The last record of a (kind, name) wins. When the log
 *   holds more than four records per ref (and over 1024), the writer rewrites it (write, fsync,
 *   rename, fsync the directory).
 *
 * Collections are prolly trees: records sorted bytewise by key, cut into nodes after every key
 * whose boundary hash (FNV-1a over the level byte and the key, then the splitmix64 finaliser)
 * has its low 6 bits zero, so 64 entries per node on average; the nodes of each level are cut
 * the same way by their last keys, until one node is left. The shape is a function of the set of
 * records alone: the same records give the same root whatever the order of the writes; a change
 * rewrites the nodes on its path (O(log n) objects); a diff expands both trees level by level and
 * drops every subtree whose digest both sides hold, so its cost follows the changes.
 *
 * Durability and recovery (sync COMMIT): a change appends its objects, fsyncs the pack (and the
 * packs directory when it created a pack file), then appends the ref record and fsyncs the log.
 * A crash leaves the old head or the new one, never a ref to a missing object; objects of a change
 * whose ref never landed are unreferenced, and gc removes them. At open, a record that is not
 * whole at the end of the last pack or of refs.log (a torn append) is cut off; a bad record that
 * a valid one follows is CAIRN_CORRUPT. gc rewrites a tenant's packs with the reachable objects
 * (and those in packs younger than the grace period) into a new pack, fsyncs it, then removes the
 * old packs and renames the new one into their place.
 */
#include "util.h"
#include "cairn/repo.h"
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define OBJ_VALUE 1
#define OBJ_VERSION 2
#define OBJ_LEAF 3
#define OBJ_NODE 4
#define PACK_HDR 45
#define PACK_MAX ((uint64_t)256 << 20) /* a new pack file past 256 MiB */
#define MAP_MIN 4096 /* objects from this size on are read through the pack's mapping (pack_bytes) */
#define INLINE_MAX 256
#define FANOUT_MASK 63u /* boundary when the hash's low 6 bits are 0: 64 entries per node */
#define MAX_LEVELS 32

typedef struct { uint8_t b[32]; } dg;
typedef struct tstore tstore;
typedef struct ocache ocache;

struct cairn_repo {
    char *path;
    pthread_mutex_t mu;
    cairn_lock *lock;
    int read_only, sync;
    uint32_t gen;
    int closed;        /* cairn_repo_close ran: every call but iter_free is CAIRN_CLOSED (set under mu,
                          atomically: cairn_repo_iter_next reads it without the lock) */
    unsigned iters;    /* iterators open on the handle (under mu): close releases the files, the lock
                          and the caches at once, and the memory goes with the last of them */
    int failed;        /* a fatal I/O error: every call but close fails CAIRN_FAILED (enter) */
    tstore *tenants;   /* the tenants used so far (loaded on first use) */
    ocache *cache;     /* verified tree objects (NULL: none) */
    /* per-handle operation counters for cairn_repo_metrics (metrics.h): atomic adds, relaxed loads */
    uint64_t n_saves, n_loads, n_puts, n_deletes, n_gets, n_objects, n_written, n_fsyncs;
    uint64_t n_errors[32]; /* calls that returned code -i, by i */
};

static void count(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }
/* fsync a file or a directory of the repository, counted */
static int r_fsync(cairn_repo *r, cairn_file *f) {
    count(&r->n_fsyncs, 1);
    return cairn_io__fsync(f);
}
static int r_sync_dir(cairn_repo *r, const char *dir) {
    count(&r->n_fsyncs, 1);
    return cairn_io__sync_dir(dir);
}
/* write to a pack or ref log, counted */
static int r_pwrite(cairn_repo *r, cairn_file *f, const void *p, size_t n, uint64_t off) {
    count(&r->n_written, n);
    return cairn_io__pwrite(f, p, n, off);
}

/* ------------------------------------------------------------------ hashing, hex, names */

/* SHA-256 fetched once: EVP_sha256() makes every EVP_DigestInit_ex look the algorithm up again
 * (a lock and a hash-table probe per object, visible in a profile of small objects). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
/* given back before libcrypto's own exit-time cleanup (registered at its first use, so earlier
 * than this one, and atexit handlers run in reverse order; a library unloaded earlier runs it then) */
static void sha256_release(void) {
    EVP_MD_free(sha256_md);
    sha256_md = NULL;
}
static void sha256_fetch(void) {
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256_md && atexit(sha256_release) != 0) {
        EVP_MD_free(sha256_md); /* no way to give it back: take the lookup per digest instead */
        sha256_md = NULL;
    }
}

static int sha256_2(const void *a, size_t na, const void *b, size_t nb, dg *out) {
    EVP_MD_CTX *c;
    unsigned int n = 0;
    int ok;
    pthread_once(&sha256_once, sha256_fetch);
    c = EVP_MD_CTX_new();
    ok = c && EVP_DigestInit_ex(c, sha256_md ? sha256_md : EVP_sha256(), NULL) && EVP_DigestUpdate(c, a, na) &&
             (nb == 0 || EVP_DigestUpdate(c, b, nb)) && EVP_DigestFinal_ex(c, out->b, &n) && n == 32;
    EVP_MD_CTX_free(c);
    return ok ? 0 : cairn_err__set(CAIRN_INTERNAL, "SHA-256 failed (libcrypto)");
}

static void hex_of(const dg *d, char *out) {
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[d->b[i] >> 4];
        out[2 * i + 1] = hx[d->b[i] & 15];
    }
    out[64] = 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Parse a digest argument: 64 lowercase hex characters, else CAIRN_INVALID. */
static int parse_digest(const char *s, dg *out) {
    if (!s) return cairn_err__set(CAIRN_INVALID, "digest is NULL");
    for (int i = 0; i < 32; i++) {
        int h = hexval((unsigned char)s[2 * i]), l = h < 0 ? -1 : hexval((unsigned char)s[2 * i + 1]);
        if (h < 0 || l < 0) return cairn_err__set(CAIRN_INVALID, "not a digest (64 lowercase hex characters): '%.70s'", s);
        out->b[i] = (uint8_t)(h << 4 | l);
    }
    if (s[64]) return cairn_err__set(CAIRN_INVALID, "not a digest (64 lowercase hex characters): '%.70s'", s);
    return 0;
}

static int dg_zero(const dg *d) {
    for (int i = 0; i < 32; i++)
        if (d->b[i]) return 0;
    return 1;
}

/* Names: 1..255 bytes, no NUL or control characters (C0 and DEL). */
static int check_name(const char *what, const char *s, int allow_empty) {
    size_t n;
    if (!s) return cairn_err__set(CAIRN_INVALID, "%s is NULL", what);
    n = strlen(s);
    if ((n == 0 && !allow_empty) || n > CAIRN_REPO_NAME_MAX)
        return cairn_err__set(CAIRN_INVALID, "%s must be 1..%u bytes (got %zu)", what, CAIRN_REPO_NAME_MAX, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return cairn_err__set(CAIRN_INVALID, "%s holds a control character at byte %zu", what, i);
    return 0;
}

/* File name of a tenant or ref name (see FORMAT). out has room for 201 bytes. */
static int encode_name(const char *s, char *out) {
    static const char hx[] = "0123456789ABCDEF";
    size_t o = 0, n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || (c == '.' && i > 0);
        if (o + 3 > 200) {
            dg d;
            int rc = sha256_2(s, n, NULL, 0, &d);
            if (rc) return rc;
            out[0] = '~';
            hex_of(&d, out + 1);
            return 0;
        }
        if (plain)
            out[o++] = (char)c;
        else {
            out[o++] = '%';
            out[o++] = hx[c >> 4];
            out[o++] = hx[c & 15];
        }
    }
    out[o] = 0;
    return 0;
}

/* The boundary hash of a key at a level (part of the format: never change it). A 64-bit FNV-1a
 * over the level byte and the key, then the splitmix64 finaliser. */
static uint64_t boundary_hash(unsigned level, const uint8_t *k, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    h = (h ^ (uint8_t)level) * 0x100000001b3ull;
    for (size_t i = 0; i < n; i++) h = (h ^ k[i]) * 0x100000001b3ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}
static int is_boundary(unsigned level, const uint8_t *k, size_t n) {
    return (boundary_hash(level, k, n) & FANOUT_MASK) == 0;
}

/* ------------------------------------------------------------------ growable buffer */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static int buf_put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        uint8_t *q;
        while (c < b->n + n) c *= 2;
        if (!(q = (uint8_t *)realloc(b->p, c))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        b->p = q;
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
    return 0;
}
static int buf_u8(buf *b, unsigned v) { uint8_t x = (uint8_t)v; return buf_put(b, &x, 1); }
static int buf_u16(buf *b, unsigned v) { uint8_t x[2]; cairn_put16(x, (uint16_t)v); return buf_put(b, x, 2); }
static int buf_u32(buf *b, uint32_t v) { uint8_t x[4]; cairn_put32(x, v); return buf_put(b, x, 4); }
static int buf_u64(buf *b, uint64_t v) { uint8_t x[8]; cairn_put64(x, v); return buf_put(b, x, 8); }

/* ------------------------------------------------------------------ paths */

static char *pathf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static char *pathf(const char *fmt, ...) {
    va_list ap;
    int n;
    char *s;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(s = (char *)malloc((size_t)n + 1))) {
        cairn_err__set(CAIRN_NOMEM, "out of memory");
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ------------------------------------------------------------------ tenants and packs */

/* Where an object is: pack number, offset of its record, payload length, type. */
typedef struct {
    dg d;
    uint64_t off;
    uint32_t len;
    uint32_t pack;
    uint8_t type, used;
} loc;

typedef struct {
    uint8_t kind, used;
    char *name;
    dg d;
} refent;

struct tstore {
    char *name;      /* tenant name */
    char *dir;       /* <repo>/t/<encoded name> */
    struct tstore *next;
    cairn_repo *r;
    loc *slots;      /* open addressing on the digest's first 8 bytes */
    size_t cap, n;
    cairn_file **packs;
    uint64_t *ends;  /* end of the valid records of each pack (scanned or written) */
    uint32_t *pnum;  /* the file number of each pack (pack-NNNNNNNN) */
    const uint8_t **maps; /* a read-only mapping of each pack (NULL: not mapped yet, or none) */
    uint64_t *maplen;     /* its length: the address space reserved, past the file's end (pack_bytes) */
    size_t npacks;
    uint32_t next_num;
    int dirty;       /* appended since the last fsync */
    refent *refs;    /* the refs, by (kind, name) (see "refs") */
    size_t rcap, rn, rrecords;
    cairn_file *rlog;
    uint64_t rend, rino;
    int new_pack;    /* a pack file was created since the last directory fsync */
    int refs_loaded; /* the writer read the whole ref log without error (refs_load) */
};

static uint64_t dg_hash(const dg *d) { return cairn_get64(d->b); }

static int index_grow(tstore *ts) {
    size_t nc = ts->cap ? ts->cap * 2 : 1024;
    loc *ns = (loc *)calloc(nc, sizeof(loc));
    if (!ns) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (size_t i = 0; i < ts->cap; i++)
        if (ts->slots[i].used) {
            size_t j = (size_t)dg_hash(&ts->slots[i].d) & (nc - 1);
            while (ns[j].used) j = (j + 1) & (nc - 1);
            ns[j] = ts->slots[i];
        }
    free(ts->slots);
    ts->slots = ns;
    ts->cap = nc;
    return 0;
}

static loc *index_find(tstore *ts, const dg *d) {
    size_t j;
    if (!ts->cap) return NULL;
    j = (size_t)dg_hash(d) & (ts->cap - 1);
    while (ts->slots[j].used) {
        if (memcmp(ts->slots[j].d.b, d->b, 32) == 0) return &ts->slots[j];
        j = (j + 1) & (ts->cap - 1);
    }
    return NULL;
}

static int index_put(tstore *ts, const loc *l) {
    size_t j;
    int rc;
    if (index_find(ts, &l->d)) return 0;
    if ((ts->n + 1) * 4 > ts->cap * 3 && (rc = index_grow(ts)) != 0) return rc;
    j = (size_t)dg_hash(&l->d) & (ts->cap - 1);
    while (ts->slots[j].used) j = (j + 1) & (ts->cap - 1);
    ts->slots[j] = *l;
    ts->slots[j].used = 1;
    ts->n++;
    return 0;
}

static char *pack_path(const tstore *ts, uint32_t num) { return pathf("%s/packs/pack-%08u", ts->dir, (unsigned)num); }

/* Append an open pack file (file number num) to the tenant's list. */
static int pack_add(tstore *ts, uint32_t num, cairn_file *f) {
    cairn_file **np = (cairn_file **)realloc(ts->packs, (ts->npacks + 1) * sizeof *np);
    uint64_t *ne, *nl;
    uint32_t *nn;
    const uint8_t **nm;
    if (!np) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    ts->packs = np;
    if (!(ne = (uint64_t *)realloc(ts->ends, (ts->npacks + 1) * sizeof *ne))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    ts->ends = ne;
    if (!(nn = (uint32_t *)realloc(ts->pnum, (ts->npacks + 1) * sizeof *nn))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    ts->pnum = nn;
    if (!(nm = (const uint8_t **)realloc((void *)ts->maps, (ts->npacks + 1) * sizeof *nm))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    ts->maps = nm;
    if (!(nl = (uint64_t *)realloc(ts->maplen, (ts->npacks + 1) * sizeof *nl))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    ts->maplen = nl;
    ts->packs[ts->npacks] = f;
    ts->ends[ts->npacks] = 0;
    ts->pnum[ts->npacks] = num;
    ts->maps[ts->npacks] = NULL;
    ts->maplen[ts->npacks] = 0;
    ts->npacks++;
    if (num >= ts->next_num) ts->next_num = num + 1;
    return 0;
}

/* Close pack i (and drop its mapping). */
static void pack_close(tstore *ts, size_t i) {
    cairn_io__unmap(ts->maps[i], ts->maplen[i]);
    ts->maps[i] = NULL;
    ts->maplen[i] = 0;
    cairn_io__close(ts->packs[i]);
    ts->packs[i] = NULL;
}

/* The bytes [off, off+len) of pack i through a read-only mapping, or NULL (then pread them): no
 * mapping while test hooks are active (injected faults and simulated crashes must see every read),
 * on a 32-bit build, or when mmap fails. The mapping reserves PACK_MAX (or the pack's size, if
 * larger) once, past the file's end: the pages an append adds later are read through the same
 * mapping without mapping again. Only bytes of whole records the index knows are touched (below
 * ends[i], inside the file: the writer cuts off only torn or failed appends past them), so no
 * access falls past the end of the file. Reading the mapping saves the system call and the kernel's
 * copy of pread (a diff that reads the same leaves again without the cache: 100 -> 85 ms); small
 * objects are read with pread all the same: the first touch of a page costs a fault, which for a
 * version object just appended (a save reads the head's) costs more than the pread (saves of 4 KiB
 * values took 9% more CPU through the mapping). */
static const uint8_t *pack_bytes(tstore *ts, size_t i, uint64_t off, size_t len) {
    const uint8_t *map;
    if (len < MAP_MIN || sizeof(size_t) < 8 || cairn_io__hooks_active() || off + len > ts->ends[i]) return NULL;
    /* every read holds the handle's lock (iterators too, step by step); the mapping is still
     * published once, atomically, and its length after it (a reader that saw the mapping before
     * its length would pread meanwhile) */
    if (!(map = __atomic_load_n(&ts->maps[i], __ATOMIC_ACQUIRE))) {
        const void *m = NULL;
        const uint8_t *none = NULL;
        uint64_t want = ts->ends[i] > PACK_MAX ? ts->ends[i] : PACK_MAX;
        cairn_err_saved s;
        cairn_err__save(&s);
        if (cairn_io__map(ts->packs[i], want, &m) != 0) {
            (void)cairn_err__restore(&s); /* no mapping: pread, and the caller's error stays */
            return NULL;
        }
        if (!__atomic_compare_exchange_n(&ts->maps[i], &none, (const uint8_t *)m, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            cairn_io__unmap(m, want); /* another thread mapped it first */
            return NULL;
        }
        __atomic_store_n(&ts->maplen[i], want, __ATOMIC_RELEASE);
        map = (const uint8_t *)m;
    }
    if (off + len > __atomic_load_n(&ts->maplen[i], __ATOMIC_ACQUIRE)) return NULL;
    return map + off;
}

/* 1 if a whole, valid record header ("CRP1" with its CRC) starts anywhere in [from, size) of f:
 * then the bad bytes before it are damage, not a torn append. */
static int pack_valid_after(cairn_file *f, uint64_t from, uint64_t size) {
    uint8_t win[65536 + PACK_HDR];
    uint64_t off = from;
    while (off + PACK_HDR <= size) {
        size_t got = 0;
        size_t want = (size - off) < sizeof win ? (size_t)(size - off) : sizeof win;
        if (cairn_io__pread(f, win, want, off, &got) != 0 || got < PACK_HDR) return 0;
        for (size_t i = 0; i + PACK_HDR <= got; i++)
            if (win[i] == 'C' && memcmp(win + i, "CRP1", 4) == 0 && cairn_get32(win + i + 41) == cairn_crc32c__update(0, win + i, 41) &&
                off + i + PACK_HDR + cairn_get32(win + i + 5) <= size)
                return 1;
        if (got < want || got <= PACK_HDR) return 0;
        off += got - PACK_HDR + 1;
    }
    return 0;
}

/* Scan pack i from ts->ends[i] to its end, indexing every whole record. A record that is not whole
 * (a torn append) ends the scan: the writer cuts it off (truncate) when it is the last pack; in an
 * earlier pack it is damage. */
static int pack_scan(tstore *ts, size_t i) {
    cairn_file *f = ts->packs[i];
    uint64_t size = 0, off = ts->ends[i];
    int rc = cairn_io__size(f, &size);
    if (rc) return rc;
    while (off < size) {
        uint8_t h[PACK_HDR];
        size_t got = 0;
        loc l;
        if ((rc = cairn_io__pread(f, h, PACK_HDR, off, &got)) != 0) return rc;
        if (got < PACK_HDR || memcmp(h, "CRP1", 4) != 0 || cairn_get32(h + 41) != cairn_crc32c__update(0, h, 41) ||
            off + PACK_HDR + cairn_get32(h + 5) > size) {
            if (i + 1 < ts->npacks || pack_valid_after(f, off + 1, size))
                return cairn_err__set(CAIRN_CORRUPT, "%s: damaged record at offset %" PRIu64, cairn_io__path(f), off);
            if (!ts->r->read_only) {
                /* a torn append of the last pack: cut it off */
                if ((rc = cairn_io__truncate(f, off)) != 0) return rc;
                if ((rc = r_fsync(ts->r, f)) != 0) return rc;
            }
            break;
        }
        memset(&l, 0, sizeof l);
        memcpy(l.d.b, h + 9, 32);
        l.type = h[4];
        l.len = cairn_get32(h + 5);
        l.off = off;
        l.pack = (uint32_t)i;
        if ((rc = index_put(ts, &l)) != 0) return rc;
        off += PACK_HDR + l.len;
    }
    ts->ends[i] = off;
    return 0;
}

/* Open every pack of the tenant not open yet (another process may have added some) and scan what
 * was appended since the last scan. */
static void refs_clear(tstore *ts);

static int packs_refresh(tstore *ts) {
    char *pd = pathf("%s/packs", ts->dir), **names = NULL;
    size_t cnt = 0;
    int rc;
    if (!pd) return CAIRN_NOMEM;
    rc = cairn_io__list(pd, &names, &cnt); /* sorted: pack-NNNNNNNN in number order */
    if (rc == CAIRN_PATH) rc = 0;
    for (size_t i = 0; i < cnt && !rc; i++) {
        unsigned num = 0;
        char tail = 0;
        char *p;
        cairn_file *f = NULL;
        if (strlen(names[i]) != 13 || sscanf(names[i], "pack-%8u%c", &num, &tail) != 1) continue;
        if (ts->npacks && num < ts->next_num) continue; /* known already */
        if (!(p = pathf("%s/%s", pd, names[i]))) { rc = CAIRN_NOMEM; break; }
        rc = cairn_io__open(&f, p, ts->r->read_only ? CAIRN_IO_RDONLY : CAIRN_IO_RDWR);
        free(p);
        if (rc == CAIRN_PATH) { rc = 0; continue; } /* removed by a gc meanwhile */
        if (rc) break;
        if ((rc = pack_add(ts, num, f)) != 0) cairn_io__close(f);
    }
    cairn_io__list_free(names, cnt);
    free(pd);
    for (size_t i = 0; i < ts->npacks && !rc; i++) rc = pack_scan(ts, i);
    return rc;
}

static void tstore_free(tstore *ts) {
    if (!ts) return;
    refs_clear(ts);
    cairn_io__close(ts->rlog);
    for (size_t i = 0; i < ts->npacks; i++) pack_close(ts, i);
    free(ts->packs);
    free(ts->ends);
    free(ts->pnum);
    free((void *)ts->maps);
    free(ts->maplen);
    free(ts->slots);
    free(ts->name);
    free(ts->dir);
    free(ts);
}

/* The tenant's store (loaded on first use; NOTFOUND for a tenant never initialised). */
static int tenant_open(cairn_repo *r, const char *tenant, tstore **out) {
    int rc, st;
    uint64_t sz;
    char enc[202];
    tstore *ts;
    *out = NULL;
    if ((rc = check_name("tenant", tenant, 0)) != 0) return rc;
    for (ts = r->tenants; ts; ts = ts->next)
        if (strcmp(ts->name, tenant) == 0) {
            *out = ts;
            return 0;
        }
    if ((rc = encode_name(tenant, enc)) != 0) return rc;
    if (!(ts = (tstore *)calloc(1, sizeof *ts))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    ts->r = r;
    if (!(ts->name = cairn_str__dup(tenant)) || !(ts->dir = pathf("%s/t/%s", r->path, enc))) {
        tstore_free(ts);
        return CAIRN_NOMEM;
    }
    st = cairn_io__stat(ts->dir, &sz);
    if (st != 2) {
        tstore_free(ts);
        if (st < 0) return st;
        return cairn_err__set(CAIRN_NOTFOUND, "no tenant '%s' (init it first)", tenant);
    }
    if ((rc = packs_refresh(ts)) != 0) {
        tstore_free(ts);
        return rc;
    }
    ts->next = r->tenants;
    r->tenants = ts;
    *out = ts;
    return 0;
}

/* ------------------------------------------------------------------ objects */

/* Append one object (type, payload) to the tenant's active pack; *out gets its digest. An object
 * already stored is not written again (deduplication). Durable only after store_sync. */
static int obj_write(cairn_repo *r, tstore *ts, int type, const uint8_t *payload, size_t n, dg *out) {
    uint8_t t = (uint8_t)type, h[PACK_HDR];
    loc l;
    size_t a;
    int rc;
    if (r->failed) return cairn_err__failed("cairn_repo", r->path);
    if ((rc = sha256_2(&t, 1, payload, n, out)) != 0) return rc;
    if (index_find(ts, out)) return 0;
    if (n > 0xffffffffu - PACK_HDR) return cairn_err__set(CAIRN_TOOBIG, "object of %zu bytes", n);
    /* a new pack when there is none or the active one is full */
    if (ts->npacks == 0 || ts->ends[ts->npacks - 1] + PACK_HDR + n > PACK_MAX) {
        char *p, *pd;
        cairn_file *f = NULL;
        if (ts->npacks && ts->dirty && r->sync != CAIRN_SYNC_NONE) {
            if ((rc = r_fsync(r, ts->packs[ts->npacks - 1])) != 0) { r->failed = rc; return rc; }
            ts->dirty = 0;
        }
        if (!(pd = pathf("%s/packs", ts->dir))) return CAIRN_NOMEM;
        rc = cairn_io__mkdir(pd);
        free(pd);
        if (rc) return rc;
        if (!(p = pack_path(ts, ts->next_num))) return CAIRN_NOMEM;
        rc = cairn_io__open(&f, p, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC);
        free(p);
        if (rc) return rc;
        if ((rc = pack_add(ts, ts->next_num, f)) != 0) {
            cairn_io__close(f);
            return rc;
        }
        ts->new_pack = 1;
    }
    a = ts->npacks - 1;
    memcpy(h, "CRP1", 4);
    h[4] = t;
    cairn_put32(h + 5, (uint32_t)n);
    memcpy(h + 9, out->b, 32);
    cairn_put32(h + 41, cairn_crc32c__update(0, h, 41));
    rc = r_pwrite(r, ts->packs[a], h, PACK_HDR, ts->ends[a]);
    if (!rc && n) rc = r_pwrite(r, ts->packs[a], payload, n, ts->ends[a] + PACK_HDR);
    if (rc) {
        /* cut off what part of the record reached the file, so the next append follows whole
         * records; if even that fails the handle stops writing */
        cairn_err_saved s;
        cairn_err__save(&s);
        if (cairn_io__truncate(ts->packs[a], ts->ends[a]) != 0) r->failed = CAIRN_FAILED;
        return cairn_err__restore(&s);
    }
    memset(&l, 0, sizeof l);
    l.d = *out;
    l.type = t;
    l.len = (uint32_t)n;
    l.off = ts->ends[a];
    l.pack = (uint32_t)a;
    if ((rc = index_put(ts, &l)) != 0) return rc;
    count(&r->n_objects, 1);
    ts->ends[a] += PACK_HDR + n;
    ts->dirty = 1;
    return 0;
}

/* Make every appended object durable (before a ref names them). A failed fsync stops the handle. */
static int store_sync(cairn_repo *r, tstore *ts) {
    int rc;
    if (r->sync == CAIRN_SYNC_NONE) return 0;
    if (ts->dirty && ts->npacks) {
        if ((rc = r_fsync(r, ts->packs[ts->npacks - 1])) != 0) {
            r->failed = CAIRN_FAILED;
            return rc;
        }
        ts->dirty = 0;
    }
    if (ts->new_pack) {
        char *pd = pathf("%s/packs", ts->dir);
        if (!pd) return CAIRN_NOMEM;
        rc = r_sync_dir(r, pd);
        free(pd);
        if (rc) {
            r->failed = CAIRN_FAILED;
            return rc;
        }
        ts->new_pack = 0;
    }
    return 0;
}

/* The object l (digest d) into dst (l->len bytes), checked: read through the pack's mapping or
 * with pread, then re-hashed. Damage is CAIRN_CORRUPT naming the digest, the pack and the offset. */
static int obj_fetch(tstore *ts, const loc *l, const dg *d, uint8_t *dst) {
    const uint8_t *m;
    uint8_t t = l->type;
    dg got;
    char hx[65];
    int rc;
    if (l->len && (m = pack_bytes(ts, l->pack, l->off + PACK_HDR, l->len)) != NULL)
        memcpy(dst, m, l->len); /* copied first, then hashed: the bytes served are the bytes checked */
    else if (l->len && (rc = cairn_io__pread(ts->packs[l->pack], dst, l->len, l->off + PACK_HDR, NULL)) != 0) {
        if (rc == CAIRN_CORRUPT) {
            hex_of(d, hx);
            return cairn_err__set(CAIRN_CORRUPT, "object %s: %s offset %" PRIu64 ": cut short", hx,
                                  cairn_io__path(ts->packs[l->pack]), l->off);
        }
        return rc;
    }
    if ((rc = sha256_2(&t, 1, dst, l->len, &got)) != 0) return rc;
    if (memcmp(got.b, d->b, 32) != 0) {
        hex_of(d, hx);
        return cairn_err__set(CAIRN_CORRUPT, "object %s: %s offset %" PRIu64 ": content does not match its digest", hx,
                              cairn_io__path(ts->packs[l->pack]), l->off);
    }
    return 0;
}

/* Where the tenant holds d (rescanning the packs once when it does not know it), or NOTFOUND. */
static int obj_loc(tstore *ts, const dg *d, loc **out) {
    int rc;
    if ((*out = index_find(ts, d)) != NULL) return 0;
    /* another process may have appended it since we looked */
    if ((rc = packs_refresh(ts)) != 0) return rc;
    return (*out = index_find(ts, d)) != NULL ? 0 : CAIRN_NOTFOUND;
}

/* Read and verify an object: *payload malloc'd (free()), *n its length, *type its type. A missing
 * object is CAIRN_NOTFOUND; damage is CAIRN_CORRUPT naming the digest and where it is. */
static int obj_read(tstore *ts, const dg *d, int *type, uint8_t **payload, size_t *n) {
    loc *l;
    uint8_t *p;
    int rc;
    *payload = NULL;
    if ((rc = obj_loc(ts, d, &l)) != 0) return rc;
    if (!(p = (uint8_t *)malloc(l->len ? l->len : 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if ((rc = obj_fetch(ts, l, d, p)) != 0) {
        free(p);
        return rc;
    }
    *type = l->type;
    *n = l->len;
    *payload = p;
    return 0;
}

/* ---- the cache of verified tree objects (leaves and nodes), per handle
 *
 * An object read from a pack is re-hashed into a heap copy; for a tree object that copy is kept
 * here, so reading it again serves the same verified bytes without reading or hashing them again
 * (the rule "every object read from disk is checked" holds: nothing here came from disk unchecked).
 * Bounded in bytes (objects and their headers), replaced by CLOCK: a hit sets the object's bit,
 * the hand clears bits and evicts the first object found without one. A reader pins what it holds
 * (cobj_release unpins), and a pinned object is never evicted. Keyed by tenant and digest: no
 * tenant is served (or learns of) an object another tenant read, and a hit needs no lookup in the
 * tenant's index. gc empties the cache (an object it removed must read as missing). Used under
 * the handle's lock only (iterators step under it too, but keep their nodes between steps, outside
 * it: they take uncached copies).
 *
 *   buckets[hash & (nb-1)] -> cobj -> cobj (chain by next)      ring[0..nring): the CLOCK, hand */
typedef struct cobj {
    dg d;
    const tstore *ts;  /* the tenant that read or wrote it: the key is (tenant, digest) */
    struct cobj *next; /* hash chain */
    size_t slot;       /* index in the ring, or NOT_CACHED: freed at its last release */
    uint32_t len, pins;
    uint32_t last;     /* a tree object: where its last entry starts (once checked) */
    uint32_t epoch;    /* the last operation that read or kept it (see cache_add) */
    uint8_t type, ref;
    uint8_t checked;   /* a tree object whose payload node_check found well-formed */
    uint8_t p[];       /* the verified payload */
} cobj;
#define NOT_CACHED ((size_t)-1)
#define CACHE_DEFAULT ((uint64_t)64 << 20)

struct ocache {
    cobj **buckets;
    size_t nb;
    cobj **ring;
    size_t nring, rcap, hand;
    uint64_t bytes, max;
    uint32_t epoch;      /* operations of the handle, counted (enter) */
    uint32_t full_epoch; /* the operation that found nothing to evict, + 1 (0: none) */
};

static size_t cobj_cost(const cobj *o) { return sizeof *o + o->len + 16; /* malloc's own header */ }

static void cache_unlink(ocache *c, cobj *o) {
    cobj **pp = &c->buckets[(size_t)dg_hash(&o->d) & (c->nb - 1)];
    while (*pp != o) pp = &(*pp)->next;
    *pp = o->next;
    c->ring[o->slot] = c->ring[--c->nring];
    c->ring[o->slot]->slot = o->slot;
    c->bytes -= cobj_cost(o);
    o->slot = NOT_CACHED;
    o->next = NULL;
    if (!o->pins) free(o);
}

/* Drop every object (a pinned one lives to its release). */
static void cache_clear(ocache *c) {
    if (!c) return;
    while (c->nring) cache_unlink(c, c->ring[c->nring - 1]);
    c->hand = 0;
}

static void cache_free(ocache *c) {
    if (!c) return;
    cache_clear(c);
    free(c->buckets);
    free(c->ring);
    free(c);
}

static cobj *cache_find(ocache *c, const tstore *ts, const dg *d) {
    cobj *o;
    if (!c || !c->nb) return NULL;
    for (o = c->buckets[(size_t)dg_hash(d) & (c->nb - 1)]; o; o = o->next)
        if (o->ts == ts && memcmp(o->d.b, d->b, 32) == 0) return o;
    return NULL;
}

/* Keep o (not cached, pinned by the caller) when it fits; else it stays uncached.
 * An object the current operation has read or kept is never evicted for another of the same
 * operation: a diff that reads more leaves than the cache holds keeps the first ones and reads the
 * rest past it, instead of evicting every leaf before it is read again (plain CLOCK over a cyclic
 * scan larger than the cache hits nothing; this way the next diff hits what fits). Once the
 * operation has found nothing to evict it stops trying (full_epoch). */
static void cache_add(ocache *c, cobj *o) {
    size_t cost = cobj_cost(o), steps;
    if (!c || cost > c->max / 8) return;
    if (c->bytes + cost > c->max && c->full_epoch == c->epoch + 1u) return;
    /* evict until it fits; give up after two turns of the hand (everything pinned or in use) */
    for (steps = 0; c->bytes + cost > c->max && c->nring && steps < 2 * c->nring + 2; steps++) {
        cobj *v;
        if (c->hand >= c->nring) c->hand = 0;
        v = c->ring[c->hand];
        if (v->pins || v->epoch == c->epoch || v->ref) {
            v->ref = 0;
            c->hand++;
            continue;
        }
        cache_unlink(c, v); /* the last one moved into this slot: the hand stays */
    }
    if (c->bytes + cost > c->max) {
        c->full_epoch = c->epoch + 1u;
        return;
    }
    if (c->nring == c->rcap) {
        size_t nc = c->rcap ? c->rcap * 2 : 1024;
        cobj **nr = (cobj **)realloc(c->ring, nc * sizeof *nr);
        if (!nr) return;
        c->ring = nr;
        c->rcap = nc;
    }
    if (c->nring + 1 > c->nb) { /* the chains stay short: one bucket per object */
        size_t nb = c->nb ? c->nb * 2 : 1024;
        cobj **b = (cobj **)calloc(nb, sizeof *b);
        if (!b) return;
        for (size_t i = 0; i < c->nring; i++) {
            cobj *x = c->ring[i];
            size_t j = (size_t)dg_hash(&x->d) & (nb - 1);
            x->next = b[j];
            b[j] = x;
        }
        free(c->buckets);
        c->buckets = b;
        c->nb = nb;
    }
    {
        size_t j = (size_t)dg_hash(&o->d) & (c->nb - 1);
        o->next = c->buckets[j];
        c->buckets[j] = o;
    }
    o->slot = c->nring;
    c->ring[c->nring++] = o;
    c->bytes += cost;
    o->ref = 0;
    o->epoch = c->epoch;
}

/* Keep a tree object this handle has just written (its digest computed from these bytes, so they
 * are checked): the next change reads the new path from memory. Interior nodes only: a bulk load
 * writes leaves by the thousand, which would push out what is read again. */
static void cache_keep(ocache *c, const tstore *ts, const dg *d, int type, const uint8_t *p, size_t n) {
    cobj *o;
    if (!c || cache_find(c, ts, d) || n > 0xffffffffu) return;
    if (!(o = (cobj *)malloc(sizeof *o + (n ? n : 1)))) return; /* a cache: nothing lost */
    o->d = *d;
    o->ts = ts;
    o->next = NULL;
    o->slot = NOT_CACHED;
    o->len = (uint32_t)n;
    o->pins = 0;
    o->last = 0;
    o->epoch = 0;
    o->type = (uint8_t)type;
    o->ref = 0;
    o->checked = 0;
    memcpy(o->p, p, n);
    cache_add(c, o);
    if (o->slot == NOT_CACHED) free(o);
}

static void cobj_release(cobj *o) {
    if (!o) return;
    if (--o->pins == 0 && o->slot == NOT_CACHED) free(o);
}

/* Read and verify an object into *out, pinned (cobj_release it). With use_cache (under the
 * handle's lock), a tree object is served from the cache or kept there after it is checked.
 * NOTFOUND for a digest the tenant does not hold; damage is CAIRN_CORRUPT (obj_fetch). */
static int obj_get(tstore *ts, const dg *d, int use_cache, cobj **out) {
    ocache *c = use_cache ? ts->r->cache : NULL;
    loc *l;
    cobj *o;
    int rc;
    *out = NULL;
    if ((o = cache_find(c, ts, d)) != NULL) {
        o->ref = 1;
        o->epoch = c->epoch;
        o->pins++;
        *out = o;
        return 0;
    }
    if ((rc = obj_loc(ts, d, &l)) != 0) return rc;
    if (!(o = (cobj *)malloc(sizeof *o + (l->len ? l->len : 1)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    o->d = *d;
    o->ts = ts;
    o->next = NULL;
    o->slot = NOT_CACHED;
    o->len = l->len;
    o->pins = 1;
    o->type = l->type;
    o->ref = 0;
    o->checked = 0;
    o->last = 0;
    o->epoch = 0;
    if ((rc = obj_fetch(ts, l, d, o->p)) != 0) {
        free(o);
        return rc;
    }
    if (c && (o->type == OBJ_LEAF || o->type == OBJ_NODE)) cache_add(c, o);
    *out = o;
    return 0;
}

/* JSON string of arbitrary bytes (names are UTF-8 without control characters). */
static int json_str(buf *b, const uint8_t *s, size_t n) {
    int rc = buf_u8(b, '"');
    for (size_t i = 0; i < n && !rc; i++) {
        if (s[i] == '"' || s[i] == '\\') rc = buf_u8(b, '\\');
        if (!rc) rc = buf_u8(b, s[i]);
    }
    if (!rc) rc = buf_u8(b, '"');
    return rc;
}

/* ------------------------------------------------------------------ refs: one log per tenant
 *
 * <tenant>/refs.log: records "CRL1" | kind u8 (1 head, 2 tag) | name_len u16 | digest 32 | name |
 * crc32c u32 of everything before it. The last record of a (kind, name) wins. A torn tail is cut
 * off at open (writer) or ignored (reader); a bad record before a good one is CAIRN_CORRUPT. When
 * the log holds four times more records than refs, the writer rewrites it (write, fsync, rename,
 * fsync the directory). Readers re-read the log's new records before each lookup, and all of it
 * when the writer replaced the file.
 */
#define REF_HEAD 1
#define REF_TAG 2


static uint64_t ref_hash(int kind, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)kind;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    return h;
}

static refent *refs_find(tstore *ts, int kind, const char *name) {
    size_t j;
    if (!ts->rcap) return NULL;
    j = (size_t)ref_hash(kind, name) & (ts->rcap - 1);
    while (ts->refs[j].used) {
        if (ts->refs[j].kind == kind && strcmp(ts->refs[j].name, name) == 0) return &ts->refs[j];
        j = (j + 1) & (ts->rcap - 1);
    }
    return NULL;
}

static int refs_put(tstore *ts, int kind, const char *name, size_t nl, const dg *d) {
    refent *e;
    char tmp[CAIRN_REPO_NAME_MAX + 1];
    memcpy(tmp, name, nl);
    tmp[nl] = 0;
    if ((e = refs_find(ts, kind, tmp)) != NULL) {
        e->d = *d;
        return 0;
    }
    if ((ts->rn + 1) * 4 > ts->rcap * 3) {
        size_t nc = ts->rcap ? ts->rcap * 2 : 64;
        refent *ns = (refent *)calloc(nc, sizeof(refent));
        if (!ns) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        for (size_t i = 0; i < ts->rcap; i++)
            if (ts->refs[i].used) {
                size_t j = (size_t)ref_hash(ts->refs[i].kind, ts->refs[i].name) & (nc - 1);
                while (ns[j].used) j = (j + 1) & (nc - 1);
                ns[j] = ts->refs[i];
            }
        free(ts->refs);
        ts->refs = ns;
        ts->rcap = nc;
    }
    {
        size_t j = (size_t)ref_hash(kind, tmp) & (ts->rcap - 1);
        while (ts->refs[j].used) j = (j + 1) & (ts->rcap - 1);
        if (!(ts->refs[j].name = cairn_str__dup(tmp))) return CAIRN_NOMEM;
        ts->refs[j].kind = (uint8_t)kind;
        ts->refs[j].used = 1;
        ts->refs[j].d = *d;
        ts->rn++;
    }
    return 0;
}

static void refs_clear(tstore *ts) {
    for (size_t i = 0; i < ts->rcap; i++)
        if (ts->refs[i].used) free(ts->refs[i].name);
    free(ts->refs);
    ts->refs = NULL;
    ts->rcap = ts->rn = 0;
    ts->rrecords = 0;
}

static char *reflog_path(const tstore *ts) { return pathf("%s/refs.log", ts->dir); }

/* 1 if a whole, valid ref record starts anywhere in [from, size) of the log. */
static int refs_valid_after(cairn_file *f, uint64_t from, uint64_t size) {
    uint8_t *b;
    size_t got = 0;
    int found = 0;
    if (from >= size || size - from > ((uint64_t)64 << 20)) return size > from; /* huge: assume damage */
    if (!(b = (uint8_t *)malloc((size_t)(size - from)))) return 1;
    if (cairn_io__pread(f, b, (size_t)(size - from), from, &got) != 0) { free(b); return 1; }
    for (size_t i = 0; i + 43 <= got && !found; i++) {
        size_t nl;
        if (b[i] != 'C' || memcmp(b + i, "CRL1", 4) != 0) continue;
        nl = cairn_get16(b + i + 5);
        if (nl == 0 || nl > CAIRN_REPO_NAME_MAX || i + 39 + nl + 4 > got) continue;
        found = cairn_crc32c__update(0, b + i, 39 + nl) == cairn_get32(b + i + 39 + nl);
    }
    free(b);
    return found;
}

/* Read the log's records from ts->rend on (all of it after a replacement). */
static int refs_load(tstore *ts) {
    char *p = reflog_path(ts);
    uint64_t size = 0;
    int rc;
    struct stat st;
    if (!p) return CAIRN_NOMEM;
    if (ts->refs_loaded && !ts->r->read_only) {
        /* the writer holds the lock and has read the whole log once without error: no other
         * process changes it, and this handle's own appends and rewrites keep ts->refs current
         * (no stat per call). A damaged log is read (and refused) again on every call. */
        free(p);
        return 0;
    }
    if (stat(p, &st) != 0) {
        free(p);
        if (errno == ENOENT) return 0; /* no ref yet */
        return cairn_err__sys(errno, "%s/refs.log", ts->dir);
    }
    if (!ts->rlog || (uint64_t)st.st_ino != ts->rino) {
        /* first load, or the writer rewrote the log: start over */
        cairn_io__close(ts->rlog);
        ts->rlog = NULL;
        refs_clear(ts);
        ts->rend = 0;
        if ((rc = cairn_io__open(&ts->rlog, p, ts->r->read_only ? CAIRN_IO_RDONLY : CAIRN_IO_RDWR)) != 0) {
            free(p);
            return rc;
        }
        ts->rino = (uint64_t)st.st_ino;
    }
    free(p);
    if ((rc = cairn_io__size(ts->rlog, &size)) != 0) return rc;
    while (ts->rend < size) {
        uint8_t h[39], body[CAIRN_REPO_NAME_MAX + 4];
        size_t got = 0, nl;
        uint64_t off = ts->rend;
        uint32_t crc;
        dg d;
        int bad = 0;
        if ((rc = cairn_io__pread(ts->rlog, h, sizeof h, off, &got)) != 0) return rc;
        nl = got == sizeof h ? cairn_get16(h + 5) : 0;
        if (got < sizeof h || memcmp(h, "CRL1", 4) != 0 || (h[4] != REF_HEAD && h[4] != REF_TAG) || nl == 0 ||
            nl > CAIRN_REPO_NAME_MAX || off + sizeof h + nl + 4 > size)
            bad = 1;
        if (!bad) {
            if ((rc = cairn_io__pread(ts->rlog, body, nl + 4, off + sizeof h, NULL)) != 0) return rc;
            crc = cairn_crc32c__update(cairn_crc32c__update(0, h, sizeof h), body, nl);
            bad = crc != cairn_get32(body + nl);
        }
        if (bad) {
            /* a torn append when nothing valid follows (the writer appends whole records) */
            if (refs_valid_after(ts->rlog, off + 1, size))
                return cairn_err__set(CAIRN_CORRUPT, "%s/refs.log: damaged record at offset %" PRIu64, ts->dir, off);
            if (ts->r->read_only) break;
            if ((rc = cairn_io__truncate(ts->rlog, off)) != 0) return rc;
            if ((rc = r_fsync(ts->r, ts->rlog)) != 0) return rc;
            break;
        }
        memcpy(d.b, h + 7, 32);
        if ((rc = refs_put(ts, h[4], (const char *)body, nl, &d)) != 0) return rc;
        ts->rrecords++;
        ts->rend = off + sizeof h + nl + 4;
    }
    ts->refs_loaded = 1;
    return 0;
}

static int ref_kind(const char *kind) { return strcmp(kind, "tags") == 0 ? REF_TAG : REF_HEAD; }

static int ref_get(tstore *ts, const char *kind, const char *name, dg *d) {
    refent *e;
    int rc = refs_load(ts);
    if (rc) return rc;
    if (!(e = refs_find(ts, ref_kind(kind), name))) return CAIRN_NOTFOUND;
    *d = e->d;
    return 0;
}

static int ref_record(buf *b, int kind, const char *name, const dg *d) {
    size_t nl = strlen(name), start = b->n;
    int rc;
    if ((rc = buf_put(b, "CRL1", 4)) || (rc = buf_u8(b, (unsigned)kind)) || (rc = buf_u16(b, (unsigned)nl)) ||
        (rc = buf_put(b, d->b, 32)) || (rc = buf_put(b, name, nl)))
        return rc;
    return buf_u32(b, cairn_crc32c__update(0, b->p + start, b->n - start));
}

/* Rewrite the log with one record per ref. */
static int refs_compact(cairn_repo *r, tstore *ts) {
    buf b = {0};
    char *p = reflog_path(ts), *tmp = NULL;
    cairn_file *f = NULL;
    int rc = 0;
    struct stat st;
    if (!p) return CAIRN_NOMEM;
    for (size_t i = 0; i < ts->rcap && !rc; i++)
        if (ts->refs[i].used) rc = ref_record(&b, ts->refs[i].kind, ts->refs[i].name, &ts->refs[i].d);
    if (rc) goto out;
    if (!(tmp = pathf("%s.tmp", p))) { rc = CAIRN_NOMEM; goto out; }
    rc = cairn_io__open(&f, tmp, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC);
    if (!rc) rc = r_pwrite(r, f, b.p, b.n, 0);
    if (!rc && r->sync != CAIRN_SYNC_NONE) rc = r_fsync(r, f);
    if (!rc) rc = cairn_io__rename(tmp, p);
    if (rc) {
        cairn_err_saved s;
        cairn_err__save(&s);
        cairn_io__close(f);
        (void)cairn_io__unlink(tmp);
        rc = cairn_err__restore(&s);
        goto out;
    }
    if (r->sync != CAIRN_SYNC_NONE && (rc = r_sync_dir(r, ts->dir)) != 0) {
        cairn_io__close(f);
        goto out;
    }
    cairn_io__close(ts->rlog);
    ts->rlog = f;
    ts->rend = b.n;
    ts->rrecords = ts->rn;
    if (stat(p, &st) == 0) ts->rino = (uint64_t)st.st_ino;
out:
    free(b.p);
    free(p);
    free(tmp);
    return rc;
}

static int ref_set(cairn_repo *r, tstore *ts, const char *kind, const char *name, const dg *d) {
    buf b = {0};
    int rc, k = ref_kind(kind);
    if (r->failed) return cairn_err__failed("cairn_repo", r->path);
    if ((rc = refs_load(ts)) != 0) return rc;
    if (!ts->rlog) {
        char *p = reflog_path(ts);
        struct stat st;
        if (!p) return CAIRN_NOMEM;
        rc = cairn_io__open(&ts->rlog, p, CAIRN_IO_RDWR | CAIRN_IO_CREATE);
        if (!rc && stat(p, &st) == 0) ts->rino = (uint64_t)st.st_ino;
        free(p);
        if (rc) return rc;
        if (r->sync != CAIRN_SYNC_NONE && (rc = r_sync_dir(r, ts->dir)) != 0) return rc;
    }
    if ((rc = ref_record(&b, k, name, d)) != 0) goto out;
    if ((rc = r_pwrite(r, ts->rlog, b.p, b.n, ts->rend)) != 0) {
        cairn_err_saved s;
        cairn_err__save(&s);
        if (cairn_io__truncate(ts->rlog, ts->rend) != 0) r->failed = CAIRN_FAILED;
        rc = cairn_err__restore(&s);
        goto out;
    }
    if (r->sync != CAIRN_SYNC_NONE && (rc = r_fsync(r, ts->rlog)) != 0) {
        r->failed = CAIRN_FAILED;
        goto out;
    }
    ts->rend += b.n;
    ts->rrecords++;
    if ((rc = refs_put(ts, k, name, strlen(name), d)) != 0) goto out;
    if (ts->rrecords > 1024 && ts->rrecords > 4 * ts->rn) rc = refs_compact(r, ts);
out:
    free(b.p);
    return rc;
}

static int name_cmp_q(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names of one kind of ref as a sorted JSON array. */
static int refs_json(tstore *ts, int kind, char **json) {
    char **names;
    size_t n = 0;
    buf b = {0};
    int rc = refs_load(ts);
    if (rc) return rc;
    if (!(names = (char **)malloc((ts->rn ? ts->rn : 1) * sizeof(char *)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (size_t i = 0; i < ts->rcap; i++)
        if (ts->refs[i].used && ts->refs[i].kind == kind) names[n++] = ts->refs[i].name;
    qsort(names, n, sizeof(char *), name_cmp_q);
    rc = buf_u8(&b, '[');
    for (size_t i = 0; i < n && !rc; i++) {
        if (i) rc = buf_u8(&b, ',');
        if (!rc) rc = json_str(&b, (const uint8_t *)names[i], strlen(names[i]));
    }
    if (!rc) rc = buf_put(&b, "]", 2);
    free(names);
    if (rc) {
        free(b.p);
        return rc;
    }
    *json = (char *)b.p;
    return 0;
}

/* ------------------------------------------------------------------ versions */

typedef struct {
    int collection;
    unsigned nparents;
    dg parents[2];
    dg root;
    int64_t time_ms;
    char *user, *entry; /* malloc'd */
} version;

static void version_free(version *v) {
    free(v->user);
    free(v->entry);
    memset(v, 0, sizeof *v);
}

static int version_read(tstore *td, const dg *d, version *v) {
    uint8_t *p = NULL;
    size_t n = 0, off;
    int type, rc;
    char hx[65];
    memset(v, 0, sizeof *v);
    if ((rc = obj_read(td, d, &type, &p, &n)) != 0) return rc;
    hex_of(d, hx);
    if (type != OBJ_VERSION) { free(p); return cairn_err__set(CAIRN_NOTFOUND, "%s is not a version", hx); }
    if (n < 2) goto bad;
    v->collection = p[0] & 1;
    v->nparents = p[1];
    if (v->nparents > 2) goto bad;
    off = 2;
    if (n < off + 32u * v->nparents + 32 + 8 + 2) goto bad;
    for (unsigned i = 0; i < v->nparents; i++, off += 32) memcpy(v->parents[i].b, p + off, 32);
    memcpy(v->root.b, p + off, 32);
    off += 32;
    v->time_ms = (int64_t)cairn_get64(p + off);
    off += 8;
    {
        size_t ul = cairn_get16(p + off), el;
        off += 2;
        if (n < off + ul + 2) goto bad;
        if (!(v->user = (char *)malloc(ul + 1))) { free(p); return cairn_err__set(CAIRN_NOMEM, "out of memory"); }
        memcpy(v->user, p + off, ul);
        v->user[ul] = 0;
        off += ul;
        el = cairn_get16(p + off);
        off += 2;
        if (n != off + el) goto bad;
        if (!(v->entry = (char *)malloc(el + 1))) { free(p); version_free(v); return cairn_err__set(CAIRN_NOMEM, "out of memory"); }
        memcpy(v->entry, p + off, el);
        v->entry[el] = 0;
    }
    free(p);
    return 0;
bad:
    free(p);
    version_free(v);
    return cairn_err__set(CAIRN_CORRUPT, "version object %s: malformed payload", hx);
}

static int version_write(cairn_repo *r, tstore *td, const version *v, dg *out) {
    buf b = {0};
    int rc;
    size_t ul = strlen(v->user), el = strlen(v->entry);
    if ((rc = buf_u8(&b, v->collection ? 1 : 0)) || (rc = buf_u8(&b, v->nparents))) goto out;
    for (unsigned i = 0; i < v->nparents; i++)
        if ((rc = buf_put(&b, v->parents[i].b, 32))) goto out;
    if ((rc = buf_put(&b, v->root.b, 32)) || (rc = buf_u64(&b, (uint64_t)v->time_ms)) || (rc = buf_u16(&b, (unsigned)ul)) ||
        (rc = buf_put(&b, v->user, ul)) || (rc = buf_u16(&b, (unsigned)el)) || (rc = buf_put(&b, v->entry, el)))
        goto out;
    rc = obj_write(r, td, OBJ_VERSION, b.p, b.n, out);
out:
    free(b.p);
    return rc;
}

/* ------------------------------------------------------------------ tree nodes */

/* One entry of a node. Leaf: key, kind, mode (0 inline / 1 object), val (inline bytes or a 32-byte
 * digest), vlen (the value's length). Internal: key (the child's last key), child, count. All
 * pointers borrow the node's payload, or the mutation batch. */
typedef struct {
    const uint8_t *key;
    size_t klen;
    int kind, mode;
    const uint8_t *val;
    uint32_t vlen;
    dg child;
    uint64_t count;
    int del; /* in a mutation: delete this key */
} ent;

typedef struct {
    unsigned level;
    size_t n;
    ent *e;
    cobj *obj; /* pinned: holds the bytes the entries point into */
    dg id;
} node;

static void node_free(node *nd) {
    free(nd->e);
    cobj_release(nd->obj);
    memset(nd, 0, sizeof *nd);
}

/* A tree object, pinned (cobj_release): a missing one is CAIRN_CORRUPT (a tree names it). */
static int tree_obj(tstore *td, const dg *d, int use_cache, cobj **o) {
    int rc = obj_get(td, d, use_cache, o);
    if (rc == CAIRN_NOTFOUND) {
        char hx[65];
        hex_of(d, hx);
        return cairn_err__set(CAIRN_CORRUPT, "tree node %s is missing", hx);
    }
    return rc;
}

/* Parse the entry at *off of a tree payload p[0..n) at `level` into e and move *off past it;
 * -1 when it does not fit the format (then the node is damage). */
static int ent_parse(const uint8_t *p, size_t n, unsigned level, size_t *off, ent *e) {
    size_t o = *off;
    if (o + 2 > n) return -1;
    e->klen = cairn_get16(p + o);
    o += 2;
    if (e->klen == 0 || o + e->klen > n) return -1;
    e->key = p + o;
    o += e->klen;
    if (level == 0) {
        if (o + 6 > n) return -1;
        e->kind = p[o];
        e->mode = p[o + 1];
        e->vlen = cairn_get32(p + o + 2);
        o += 6;
        if (e->mode == 0) {
            if (e->vlen > INLINE_MAX || o + e->vlen > n) return -1;
            e->val = p + o;
            o += e->vlen;
        } else if (e->mode == 1) {
            if (o + 32 > n) return -1;
            e->val = p + o;
            o += 32;
        } else
            return -1;
        e->count = 1;
    } else {
        if (o + 40 > n) return -1;
        memcpy(e->child.b, p + o, 32);
        e->count = cairn_get64(p + o + 32);
        o += 40;
    }
    *off = o;
    return 0;
}

/* 1 when entry b's key is strictly greater than a's (keys in a node strictly increase). */
static int ent_after(const ent *a, const ent *b) {
    size_t m = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, m);
    return c < 0 || (c == 0 && a->klen < b->klen);
}

/* Check a tree object's payload once (type, level, count, every entry in bounds, keys strictly
 * increasing, nothing left over): sets o->checked and o->last (where its last entry starts), so a
 * reader of a cached object walks it without checking again. CAIRN_CORRUPT when it is malformed. */
static int node_check(cobj *o) {
    const uint8_t *p = o->p;
    size_t n = o->len, off = 5, cnt, last = 0;
    unsigned level;
    ent a, b;
    if (o->checked) return 0;
    if ((o->type != OBJ_LEAF && o->type != OBJ_NODE) || n < 5) goto bad;
    level = p[0];
    if ((o->type == OBJ_LEAF) != (level == 0)) goto bad;
    cnt = cairn_get32(p + 1);
    if (cnt == 0 || cnt > n) goto bad;
    for (size_t i = 0; i < cnt; i++) {
        ent *e = (i & 1) ? &b : &a;
        last = off;
        if (ent_parse(p, n, level, &off, e) != 0) goto bad;
        if (i > 0 && !ent_after((i & 1) ? &a : &b, e)) goto bad;
    }
    if (off != n || last > 0xffffffffu) goto bad;
    o->checked = 1;
    o->last = (uint32_t)last;
    return 0;
bad: {
        char hx[65];
        hex_of(&o->d, hx);
        return cairn_err__set(CAIRN_CORRUPT, "tree node %s: malformed payload", hx);
    }
}

/* Read and decode a tree node; use_cache: through the handle's cache (under its lock). */
static int node_read_x(tstore *td, const dg *d, node *nd, int use_cache) {
    int rc;
    size_t off = 5, cnt;
    cobj *o = NULL;
    memset(nd, 0, sizeof *nd);
    if ((rc = tree_obj(td, d, use_cache, &o)) != 0) return rc;
    if ((rc = node_check(o)) != 0) {
        cobj_release(o);
        return rc;
    }
    nd->level = o->p[0];
    cnt = cairn_get32(o->p + 1);
    if (!(nd->e = (ent *)calloc(cnt, sizeof(ent)))) { cobj_release(o); return cairn_err__set(CAIRN_NOMEM, "out of memory"); }
    for (size_t i = 0; i < cnt; i++) (void)ent_parse(o->p, o->len, nd->level, &off, &nd->e[i]); /* checked above */
    nd->n = cnt;
    nd->obj = o;
    nd->id = *d;
    return 0;
}
static int node_read(tstore *td, const dg *d, node *nd) { return node_read_x(td, d, nd, 1); }

static int node_write(cairn_repo *r, tstore *td, unsigned level, const ent *e, size_t n, dg *out,
                      uint64_t *count) {
    buf b = {0};
    int rc;
    uint64_t c = 0;
    if ((rc = buf_u8(&b, level)) || (rc = buf_u32(&b, (uint32_t)n))) goto out;
    for (size_t i = 0; i < n; i++) {
        if ((rc = buf_u16(&b, (unsigned)e[i].klen)) || (rc = buf_put(&b, e[i].key, e[i].klen))) goto out;
        if (level == 0) {
            if ((rc = buf_u8(&b, (unsigned)e[i].kind)) || (rc = buf_u8(&b, (unsigned)e[i].mode)) ||
                (rc = buf_u32(&b, e[i].vlen)) || (rc = buf_put(&b, e[i].val, e[i].mode ? 32 : e[i].vlen)))
                goto out;
            c += 1;
        } else {
            if ((rc = buf_put(&b, e[i].child.b, 32)) || (rc = buf_u64(&b, e[i].count))) goto out;
            c += e[i].count;
        }
    }
    rc = obj_write(r, td, level == 0 ? OBJ_LEAF : OBJ_NODE, b.p, b.n, out);
    if (!rc && level > 0) cache_keep(r->cache, td, out, OBJ_NODE, b.p, b.n);
    if (count) *count = c;
out:
    free(b.p);
    return rc;
}

static int keycmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb) {
    size_t m = na < nb ? na : nb;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c;
    return na < nb ? -1 : na > nb ? 1 : 0;
}

/* First entry whose key >= k (n if none). */
static size_t node_lower(const node *nd, const uint8_t *k, size_t kn) {
    size_t lo = 0, hi = nd->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (keycmp(nd->e[mid].key, nd->e[mid].klen, k, kn) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The node at `level` whose range holds key k: the first node whose last key >= k, or the last
 * node of the level when k is beyond every key. Descends from the root (root_level). */
static int locate(tstore *td, const dg *root, unsigned root_level, unsigned level, const uint8_t *k,
                  size_t kn, node *out) {
    dg cur = *root;
    for (unsigned l = root_level;; l--) {
        node nd;
        int rc = node_read(td, &cur, &nd);
        size_t i;
        if (rc) return rc;
        if (nd.level != l) {
            char hx[65];
            hex_of(&cur, hx);
            node_free(&nd);
            return cairn_err__set(CAIRN_CORRUPT, "tree node %s: wrong level", hx);
        }
        if (l == level) {
            *out = nd;
            return 0;
        }
        i = node_lower(&nd, k, kn);
        if (i == nd.n) i = nd.n - 1;
        cur = nd.e[i].child;
        node_free(&nd);
    }
}

/* The node after `nd` at its level (NOTFOUND at the end of the level). */
static int locate_next(tstore *td, const dg *root, unsigned root_level, const node *nd, node *out) {
    const ent *last = &nd->e[nd->n - 1];
    uint8_t *succ;
    int rc;
    node nx;
    if (nd->level == root_level) return CAIRN_NOTFOUND;
    if (!(succ = (uint8_t *)malloc(last->klen + 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    memcpy(succ, last->key, last->klen);
    succ[last->klen] = 0; /* the smallest key above the last one */
    rc = locate(td, root, root_level, nd->level, succ, last->klen + 1, &nx);
    free(succ);
    if (rc) return rc;
    if (memcmp(nx.id.b, nd->id.b, 32) == 0 &&
        keycmp(nx.e[nx.n - 1].key, nx.e[nx.n - 1].klen, last->key, last->klen) == 0) {
        node_free(&nx);
        return CAIRN_NOTFOUND; /* it was the last node of the level */
    }
    *out = nx;
    return 0;
}

/* A list of entries with owned key/value storage (new nodes' entries, mutations). */
typedef struct {
    ent *e;
    size_t n, cap;
    buf store;        /* key and value bytes of entries that own them */
} entlist;

static void entlist_free(entlist *l) {
    free(l->e);
    free(l->store.p);
    memset(l, 0, sizeof *l);
}

static int entlist_push(entlist *l, const ent *e) {
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 64;
        ent *q = (ent *)realloc(l->e, c * sizeof(ent));
        if (!q) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        l->e = q;
        l->cap = c;
    }
    l->e[l->n++] = *e;
    return 0;
}

/* Mutations of one level: sorted by key, unique. For level 0 a record (or a delete); for levels
 * above, a child entry (or a delete of the entry with that key). Keys and values are copied into
 * `store` and referenced by offset until `fix` resolves them (the store may move while growing). */
typedef struct {
    entlist l;
    size_t *koff, *voff; /* offsets into l.store, per entry */
    size_t ocap;
} mutset;

static void mutset_free(mutset *m) {
    entlist_free(&m->l);
    free(m->koff);
    free(m->voff);
    memset(m, 0, sizeof *m);
}

static int mutset_add(mutset *m, const ent *e) {
    int rc;
    size_t ko, vo = 0;
    if (m->l.n == m->ocap) {
        size_t c = m->ocap ? m->ocap * 2 : 64;
        size_t *a = (size_t *)realloc(m->koff, c * sizeof(size_t)), *b;
        if (!a) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        m->koff = a;
        if (!(b = (size_t *)realloc(m->voff, c * sizeof(size_t)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        m->voff = b;
        m->ocap = c;
    }
    ko = m->l.store.n;
    if ((rc = buf_put(&m->l.store, e->key, e->klen))) return rc;
    if (e->val) {
        vo = m->l.store.n;
        if ((rc = buf_put(&m->l.store, e->val, e->mode ? 32 : e->vlen))) return rc;
    }
    m->koff[m->l.n] = ko;
    m->voff[m->l.n] = e->val ? vo : (size_t)-1;
    return entlist_push(&m->l, e);
}

static int ent_cmp_q(const void *a, const void *b) {
    const ent *x = (const ent *)a, *y = (const ent *)b;
    return keycmp(x->key, x->klen, y->key, y->klen);
}

/* Resolve offsets to pointers and sort by key; of equal keys the one added last wins. */
typedef struct {
    ent e;
    size_t i;
} mpair;
static int mpair_cmp(const void *a, const void *b) {
    const mpair *x = (const mpair *)a, *y = (const mpair *)b;
    int c = ent_cmp_q(&x->e, &y->e);
    return c ? c : x->i < y->i ? -1 : x->i > y->i ? 1 : 0;
}
static int mutset_fix(mutset *m) {
    size_t n = m->l.n, w = 0;
    mpair *pp;
    if (n == 0) return 0;
    if (!(pp = (mpair *)malloc(n * sizeof(mpair)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        pp[i].e = m->l.e[i];
        pp[i].e.key = m->l.store.p + m->koff[i];
        pp[i].e.val = m->voff[i] == (size_t)-1 ? NULL : m->l.store.p + m->voff[i];
        pp[i].i = i;
    }
    qsort(pp, n, sizeof(mpair), mpair_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && ent_cmp_q(&pp[i].e, &pp[i + 1].e) == 0) continue;
        m->l.e[w++] = pp[i].e;
    }
    free(pp);
    m->l.n = w;
    /* the offsets no longer match the (sorted) entries: adding after a fix is not allowed */
    return 0;
}

/* Apply the sorted mutations `mut` to the level `level` of the tree (root, root_level), writing the
 * new nodes; fill `up` with the mutations of the level above (deletes of replaced nodes' keys and
 * entries of the new nodes). When level == root_level, `top` gets the new nodes of this level
 * instead (as child entries). Empty tree: root_level is -1 and the whole level is built from
 * `mut`. */
static int apply_level(cairn_repo *r, tstore *td, const dg *root, int root_level, unsigned level,
                       const mutset *mut, mutset *up, mutset *top) {
    size_t mi = 0;
    int rc = 0;
    entlist work = {0};
    int have_done = 0;
    uint8_t *done_key = NULL;
    size_t done_klen = 0;

    /* Emit one finished chunk (entries ch[0..n)) as a new node. */
#define EMIT(ch, cnt)                                                                              \
    do {                                                                                           \
        ent ne;                                                                                    \
        uint64_t c_ = 0;                                                                           \
        memset(&ne, 0, sizeof ne);                                                                 \
        if ((rc = node_write(r, td, level, (ch), (cnt), &ne.child, &c_)) != 0) goto out;         \
        ne.key = (ch)[(cnt)-1].key;                                                                \
        ne.klen = (ch)[(cnt)-1].klen;                                                              \
        ne.count = c_;                                                                             \
        if (top) {                                                                                 \
            if ((rc = mutset_add(top, &ne)) != 0) goto out;                                        \
        } else if ((rc = mutset_add(up, &ne)) != 0)                                                \
            goto out;                                                                              \
    } while (0)

    if (root_level < 0) {
        /* Build the level from the mutations alone (no old nodes). */
        size_t start = 0, k = 0;
        ent *v = NULL;
        size_t vn = 0;
        if (!(v = (ent *)malloc((mut->l.n ? mut->l.n : 1) * sizeof(ent)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        for (size_t i = 0; i < mut->l.n; i++)
            if (!mut->l.e[i].del) v[vn++] = mut->l.e[i];
        for (k = 0; k < vn; k++)
            if (is_boundary(level, v[k].key, v[k].klen) || k + 1 == vn) {
                EMIT(v + start, k + 1 - start);
                start = k + 1;
            }
        free(v);
        return 0;
    }

    while (mi < mut->l.n) {
        node cur;
        const ent *m0 = &mut->l.e[mi];
        int terminated = 0;
        /* the old node that holds the next mutation */
        if ((rc = locate(td, root, (unsigned)root_level, level, m0->key, m0->klen, &cur)) != 0) goto out;
        if (have_done && keycmp(cur.e[cur.n - 1].key, cur.e[cur.n - 1].klen, done_key, done_klen) <= 0) {
            /* already consumed by the previous group: cannot happen (groups end past their
             * mutations) */
            node_free(&cur);
            rc = cairn_err__set(CAIRN_INTERNAL, "prolly tree: mutation left behind");
            goto out;
        }
        work.n = 0;
        work.store.n = 0;
        for (;;) {
            /* merge cur's entries with the mutations that fall in it */
            int last_of_level = 0;
            node nx;
            int has_next;
            const ent *lastk = &cur.e[cur.n - 1];
            size_t ei = 0;
            memset(&nx, 0, sizeof nx);
            rc = locate_next(td, root, (unsigned)root_level, &cur, &nx);
            if (rc == CAIRN_NOTFOUND) {
                last_of_level = 1;
                rc = 0;
            } else if (rc) {
                node_free(&cur);
                goto out;
            }
            has_next = !last_of_level;
            while (ei < cur.n || (mi < mut->l.n && (last_of_level ||
                   keycmp(mut->l.e[mi].key, mut->l.e[mi].klen, lastk->key, lastk->klen) <= 0))) {
                const ent *pick;
                int c;
                if (ei >= cur.n) c = 1;
                else if (!(mi < mut->l.n && (last_of_level ||
                           keycmp(mut->l.e[mi].key, mut->l.e[mi].klen, lastk->key, lastk->klen) <= 0))) c = -1;
                else c = keycmp(cur.e[ei].key, cur.e[ei].klen, mut->l.e[mi].key, mut->l.e[mi].klen);
                if (c < 0) {
                    pick = &cur.e[ei++];
                } else {
                    pick = &mut->l.e[mi++];
                    if (c == 0) ei++;
                    if (pick->del) continue;
                }
                /* copy into work (owned: cur is freed below) */
                {
                    ent e = *pick;
                    size_t ko = work.store.n;
                    if ((rc = buf_put(&work.store, e.key, e.klen)) != 0) break;
                    e.key = (const uint8_t *)(uintptr_t)ko; /* offset until fixed */
                    if (level == 0) {
                        size_t vo = work.store.n;
                        if ((rc = buf_put(&work.store, e.val, e.mode ? 32 : e.vlen)) != 0) break;
                        e.val = (const uint8_t *)(uintptr_t)vo;
                    }
                    if ((rc = entlist_push(&work, &e)) != 0) break;
                }
            }
            if (rc) {
                node_free(&cur);
                node_free(&nx);
                goto out;
            }
            /* the replaced old node: delete its key one level up */
            {
                ent del;
                memset(&del, 0, sizeof del);
                del.key = lastk->key;
                del.klen = lastk->klen;
                del.del = 1;
                if (!top && (rc = mutset_add(up, &del)) != 0) {
                    node_free(&cur);
                    node_free(&nx);
                    goto out;
                }
                free(done_key);
                if (!(done_key = (uint8_t *)malloc(lastk->klen))) {
                    node_free(&cur);
                    node_free(&nx);
                    rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                    goto out;
                }
                memcpy(done_key, lastk->key, lastk->klen);
                done_klen = lastk->klen;
                have_done = 1;
            }
            node_free(&cur);
            /* fix pointers of work */
            /* terminated when the last entry is a boundary, or this is the level's last node */
            if (work.n) {
                const ent *we = &work.e[work.n - 1];
                terminated = is_boundary(level, work.store.p + (uintptr_t)we->key, we->klen);
            } else
                terminated = 1; /* nothing left: the next node starts where a boundary was */
            if (terminated || !has_next) {
                node_free(&nx);
                break;
            }
            cur = nx; /* the chunking runs on into the next node */
        }
        /* cut work into chunks */
        {
            size_t start = 0;
            for (size_t i = 0; i < work.n; i++) {
                work.e[i].key = work.store.p + (uintptr_t)work.e[i].key;
                if (level == 0) work.e[i].val = work.store.p + (uintptr_t)work.e[i].val;
            }
            for (size_t i = 0; i < work.n; i++)
                if (is_boundary(level, work.e[i].key, work.e[i].klen) || i + 1 == work.n) {
                    EMIT(work.e + start, i + 1 - start);
                    start = i + 1;
                }
        }
        (void)terminated;
    }
out:
#undef EMIT
    free(done_key);
    entlist_free(&work);
    return rc;
}

/* Apply mutations (level-0 records) to the tree (root, height: 0 for empty) -> new root/height. */
static int tree_apply(cairn_repo *r, tstore *td, const dg *root, unsigned height, mutset *mut, dg *new_root,
                      unsigned *new_height) {
    mutset cur = {0}, next = {0};
    int rc = 0;
    unsigned level = 0;
    int rl = (int)height - 1; /* root level, -1 when empty */
    mutset top = {0};
    if ((rc = mutset_fix(mut)) != 0) return rc;
    cur = *mut;
    memset(mut, 0, sizeof *mut);
    for (;;) {
        memset(&next, 0, sizeof next);
        if (rl < 0 || (int)level > rl) {
            /* above the old root (or an empty tree): build this level from the entries */
            rc = apply_level(r, td, root, -1, level, &cur, NULL, &top);
        } else if ((int)level == rl) {
            rc = apply_level(r, td, root, rl, level, &cur, NULL, &top);
        } else {
            rc = apply_level(r, td, root, rl, level, &cur, &next, NULL);
        }
        mutset_free(&cur);
        if (rc) { mutset_free(&next); mutset_free(&top); return rc; }
        if ((int)level < rl) {
            if ((rc = mutset_fix(&next)) != 0) { mutset_free(&next); return rc; }
            cur = next;
            level++;
            continue;
        }
        /* `top` holds this level's new nodes as entries of the level above */
        if ((rc = mutset_fix(&top)) != 0) { mutset_free(&top); return rc; }
        if (top.l.n == 0) { /* empty */
            memset(new_root, 0, sizeof *new_root);
            *new_height = 0;
            mutset_free(&top);
            return 0;
        }
        if (top.l.n == 1) {
            /* one node: the root; collapse internal roots with a single child */
            dg d = top.l.e[0].child;
            unsigned h = level + 1;
            mutset_free(&top);
            while (h > 1) {
                node nd;
                if ((rc = node_read(td, &d, &nd)) != 0) return rc;
                if (nd.n != 1) { node_free(&nd); break; }
                d = nd.e[0].child;
                node_free(&nd);
                h--;
            }
            *new_root = d;
            *new_height = h;
            return 0;
        }
        /* several nodes: build the level above from them */
        cur = top;
        memset(&top, 0, sizeof top);
        level++;
        rl = -1;
    }
}

/* ------------------------------------------------------------------ handle */

static int enter(cairn_repo *r, const char *fn, int write) {
    if (!r) return cairn_err__set(CAIRN_INVALID, "%s: NULL handle", fn);
    if (cairn_fork__foreign(r->gen)) return cairn_fork__err(fn);
    pthread_mutex_lock(&r->mu);
    if (r->closed) {
        pthread_mutex_unlock(&r->mu);
        return cairn_err__set(CAIRN_CLOSED, "%s: handle is closed", fn);
    }
    if (r->failed) {
        /* fail-stop, reads included: after a failed fsync or a gc that failed part way the
         * handle's index of the packs may not match them (a read could miss an object that is
         * there and answer CAIRN_CORRUPT or CAIRN_NOTFOUND); a reopen reads them afresh */
        pthread_mutex_unlock(&r->mu);
        return cairn_err__failed(fn, r->path);
    }
    if (write && r->read_only) {
        pthread_mutex_unlock(&r->mu);
        return cairn_err__set(CAIRN_READONLY, "%s: the repository was opened read-only", fn);
    }
    r->cache->epoch++; /* a new operation (cache_add) */
    return 0;
}
static void leave(cairn_repo *r) { pthread_mutex_unlock(&r->mu); }

int cairn_repo_open(cairn_repo **out, const char *path, const cairn_repo_options *opts) {
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    cairn_repo *r;
    char *marker = NULL, *lp = NULL, *td = NULL;
    int rc, st;
    uint64_t sz;
    if (!out || !path) return cairn_err__set(CAIRN_INVALID, "cairn_repo_open: NULL argument");
    *out = NULL;
    if (opts) {
        if (opts->version < 1 || opts->version > CAIRN_REPO_OPTIONS_VERSION)
            return cairn_err__set(CAIRN_INVALID, "cairn_repo_open: options version %u (this library knows 1..%d)",
                                  opts->version, CAIRN_REPO_OPTIONS_VERSION);
        if (opts->version == 1)
            memcpy(&o, opts, offsetof(cairn_repo_options, cache_bytes)); /* a caller's shorter struct */
        else
            o = *opts;
    }
    if (o.sync != CAIRN_SYNC_NONE && o.sync != CAIRN_SYNC_COMMIT && o.sync != CAIRN_SYNC_GROUP)
        return cairn_err__set(CAIRN_INVALID, "cairn_repo_open: sync mode %d", o.sync);
    st = cairn_io__stat(path, &sz);
    if (st < 0) return st;
    if (st == 1) return cairn_err__set(CAIRN_PATH, "%s: is a file, not a repository directory", path);
    if (st == 0) {
        if (!o.create || o.read_only) return cairn_err__set(CAIRN_PATH, "%s: no such repository", path);
        if ((rc = cairn_io__mkdir(path)) != 0) return rc;
    }
    if (!(r = (cairn_repo *)calloc(1, sizeof *r))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    r->read_only = o.read_only;
    r->sync = o.sync;
    r->gen = cairn_fork__gen();
    if (!(r->cache = (ocache *)calloc(1, sizeof *r->cache))) { rc = cairn_err__set(CAIRN_NOMEM, "out of memory"); goto fail; }
    r->cache->max = o.cache_bytes ? o.cache_bytes : CACHE_DEFAULT;
    if (!(r->path = cairn_str__dup(path))) { rc = CAIRN_NOMEM; goto fail; }
    if (!(marker = pathf("%s/CAIRN-REPO", path)) || !(lp = pathf("%s/LOCK", path)) || !(td = pathf("%s/t", path))) {
        rc = CAIRN_NOMEM;
        goto fail;
    }
    if (!o.read_only && (rc = cairn_lock__acquire(&r->lock, lp, o.lock_timeout_ms)) != 0) goto fail;
    st = cairn_io__stat(marker, &sz);
    if (st < 0) { rc = st; goto fail; }
    if (st == 0) {
        char **names = NULL;
        size_t cnt = 0;
        if (o.read_only) { rc = cairn_err__set(CAIRN_PATH, "%s: not a Cairn repository", path); goto fail; }
        /* only an empty directory (or what a creation killed before its marker landed left:
         * LOCK, t, the marker's temporary file) becomes a repository */
        if ((rc = cairn_io__list(path, &names, &cnt)) != 0) goto fail;
        for (size_t i = 0; i < cnt; i++)
            if (strcmp(names[i], "LOCK") != 0 && strcmp(names[i], "t") != 0 && strcmp(names[i], "CAIRN-REPO.tmp") != 0) {
                cairn_io__list_free(names, cnt);
                rc = cairn_err__set(CAIRN_PATH, "%s: not a Cairn repository (and not empty)", path);
                goto fail;
            }
        cairn_io__list_free(names, cnt);
        if ((rc = cairn_io__mkdir(td)) != 0) goto fail;
        if ((rc = cairn_io__write_atomic(marker, "cairn-repo 1\n", 13)) != 0) goto fail;
    } else {
        void *data = NULL;
        size_t len = 0;
        if ((rc = cairn_io__read_all(marker, &data, &len)) != 0) goto fail;
        if (len < 11 || memcmp(data, "cairn-repo ", 11) != 0) {
            free(data);
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: damaged marker file", marker);
            goto fail;
        }
        if (len != 13 || memcmp(data, "cairn-repo 1\n", 13) != 0) {
            free(data);
            rc = cairn_err__set(CAIRN_VERSION, "%s: unsupported repository format", marker);
            goto fail;
        }
        free(data);
    }
    free(marker);
    free(lp);
    free(td);
    *out = r;
    return 0;
fail:
    free(marker);
    free(lp);
    free(td);
    cairn_lock__release(r->lock);
    cache_free(r->cache);
    free(r->path);
    pthread_mutex_destroy(&r->mu);
    free(r);
    return rc;
}

/* The handle's memory, once it is closed and its last iterator is freed. */
static void repo_free(cairn_repo *r) {
    pthread_mutex_destroy(&r->mu);
    free(r->path);
    free(r);
}

/* Close releases at once what another process or handle may want (the packs, the ref logs, the
 * writer's lock) and the caches; a handle that still has iterators keeps its memory (the mutex,
 * the closed flag, the count) until the last of them is freed, so that a step of one is
 * CAIRN_CLOSED instead of a read through freed memory. Closing a handle closed already (its
 * iterators still open) does nothing. In a child of fork() no lock is taken (another thread of
 * the parent may have held it at fork). */
void cairn_repo_close(cairn_repo *r) {
    int foreign, last;
    if (!r) return;
    foreign = cairn_fork__foreign(r->gen);
    if (!foreign) pthread_mutex_lock(&r->mu);
    if (r->closed) {
        if (!foreign) pthread_mutex_unlock(&r->mu);
        return;
    }
    __atomic_store_n(&r->closed, 1, __ATOMIC_RELEASE);
    while (r->tenants) {
        tstore *n = r->tenants->next;
        tstore_free(r->tenants);
        r->tenants = n;
    }
    cache_free(r->cache);
    r->cache = NULL;
    cairn_lock__release(r->lock);
    r->lock = NULL;
    last = r->iters == 0;
    if (!foreign) pthread_mutex_unlock(&r->mu);
    if (last) repo_free(r);
}

static int repo_init(cairn_repo *r, const char *tenant) {
    char *td = NULL, *sub = NULL, enc[202];
    int rc;
    if ((rc = enter(r, "cairn_repo_init", 1)) != 0) return rc;
    if ((rc = check_name("tenant", tenant, 0)) != 0 || (rc = encode_name(tenant, enc)) != 0) goto out;
    if (!(td = pathf("%s/t/%s", r->path, enc))) { rc = CAIRN_NOMEM; goto out; }
    if ((rc = cairn_io__mkdir(td)) != 0) goto out;
    if (enc[0] == '~') { /* a hashed name: NAME keeps the name for listing, gc, stats and verify */
        if (!(sub = pathf("%s/NAME", td))) { rc = CAIRN_NOMEM; goto out; }
        if ((rc = cairn_io__write_atomic(sub, tenant, strlen(tenant))) != 0) goto out;
    }
    {
        static const char *subs[] = {"packs", "heads", "tags"};
        for (int i = 0; i < 3 && !rc; i++) {
            free(sub);
            if (!(sub = pathf("%s/%s", td, subs[i]))) rc = CAIRN_NOMEM;
            else rc = cairn_io__mkdir(sub);
        }
    }
    if (!rc && r->sync != CAIRN_SYNC_NONE) {
        char *tp = pathf("%s/t", r->path);
        if (!tp) rc = CAIRN_NOMEM;
        else {
            rc = r_sync_dir(r, td);
            if (!rc) rc = r_sync_dir(r, tp);
            free(tp);
        }
    }
out:
    free(td);
    free(sub);
    leave(r);
    return rc;
}

static int tenant_names(const char *repo, char ***out, size_t *n);

/* The tenants as a sorted JSON array of names. */
static int tenants_json(const char *repo, char **json) {
    char **names = NULL;
    size_t cnt = 0;
    buf b = {0};
    int rc, first = 1;
    *json = NULL;
    if ((rc = tenant_names(repo, &names, &cnt)) != 0) return rc;
    /* sort bytewise */
    for (size_t i = 1; i < cnt; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    rc = buf_u8(&b, '[');
    for (size_t i = 0; i < cnt && !rc; i++) {
        if (!names[i][0]) continue;
        if (!first) rc = buf_u8(&b, ',');
        first = 0;
        if (!rc) rc = json_str(&b, (const uint8_t *)names[i], strlen(names[i]));
    }
    if (!rc) rc = buf_put(&b, "]", 2);
    if (!rc) *json = (char *)b.p, b.p = NULL;
    free(b.p);
    cairn_io__list_free(names, cnt);
    return rc;
}

static int repo_tenants(cairn_repo *r, char **out) {
    char **json = out;
    int rc;
    if (!json) return cairn_err__set(CAIRN_INVALID, "cairn_repo_tenants: NULL argument");
    if ((rc = enter(r, "cairn_repo_tenants", 0)) != 0) return rc;
    rc = tenants_json(r->path, json);
    leave(r);
    return rc;
}

static int repo_entries(cairn_repo *r, const char *tenant, char **out) {
    char **json = out;
    tstore *td = NULL;
    int rc;
    if (!json) return cairn_err__set(CAIRN_INVALID, "cairn_repo_entries: NULL argument");
    if ((rc = enter(r, "cairn_repo_entries", 0)) != 0) return rc;
    if ((rc = tenant_open(r, tenant, &td)) == 0) rc = refs_json(td, REF_HEAD, json);
    leave(r);
    return rc;
}

/* ------------------------------------------------------------------ whole values */

static int check_kind(int kind) {
    if (kind < CAIRN_KIND_BYTES || kind > CAIRN_KIND_NATIVE) return cairn_err__set(CAIRN_INVALID, "unknown value kind %d", kind);
    return 0;
}

/* Common start of a change: tenant dir, entry check, the current head (if any) read. */
static int change_begin(cairn_repo *r, const char *tenant, const char *user, const char *entry, tstore **td,
                        int *has_head, dg *head, version *hv) {
    int rc;
    *has_head = 0;
    memset(hv, 0, sizeof *hv);
    if ((rc = check_name("user", user, 1)) || (rc = check_name("entry", entry, 0))) return rc;
    if ((rc = tenant_open(r, tenant, td)) != 0) return rc;
    rc = ref_get(*td, "heads", entry, head);
    if (rc == CAIRN_NOTFOUND) return 0;
    if (rc) return rc;
    if ((rc = version_read(*td, head, hv)) != 0) {
        if (rc == CAIRN_NOTFOUND) {
            char hx[65];
            hex_of(head, hx);
            return cairn_err__set(CAIRN_CORRUPT, "the head of '%s' names a missing version %s", entry, hx);
        }
        return rc;
    }
    *has_head = 1;
    return 0;
}

static int commit_version(cairn_repo *r, tstore *td, const char *user, const char *entry, int collection,
                          int has_head, const dg *head, const dg *root, char *digest) {
    version v;
    dg d;
    int rc;
    memset(&v, 0, sizeof v);
    v.collection = collection;
    v.nparents = has_head ? 1 : 0;
    if (has_head) v.parents[0] = *head;
    v.root = *root;
    v.time_ms = cairn_time__now_ms();
    v.user = (char *)user;
    v.entry = (char *)entry;
    if ((rc = version_write(r, td, &v, &d)) != 0) return rc;
    if ((rc = store_sync(r, td)) != 0) return rc; /* the objects before the ref that names them */
    if ((rc = ref_set(r, td, "heads", entry, &d)) != 0) return rc;
    if (digest) hex_of(&d, digest);
    return 0;
}

static int repo_save(cairn_repo *r, const char *tenant, const char *user, const char *entry, const void *value,
                     size_t len, int kind, char *digest) {
    tstore *td = NULL;
    int rc, has;
    dg head, root;
    version hv;
    buf b = {0};
    if (!value && len) return cairn_err__set(CAIRN_INVALID, "cairn_repo_save: NULL value");
    if (len > CAIRN_VALUE_MAX) return cairn_err__set(CAIRN_TOOBIG, "cairn_repo_save: value of %zu bytes (max %u)", len, CAIRN_VALUE_MAX);
    if ((rc = check_kind(kind)) != 0) return rc;
    if ((rc = enter(r, "cairn_repo_save", 1)) != 0) return rc;
    if ((rc = change_begin(r, tenant, user, entry, &td, &has, &head, &hv)) != 0) goto out;
    if (has && hv.collection) { /* as put into a whole value: an entry keeps its shape */
        rc = cairn_err__set(CAIRN_TYPE, "'%s' is a collection: use put/delete", entry);
        goto out;
    }
    if ((rc = buf_u8(&b, (unsigned)kind)) || (rc = buf_put(&b, value, len))) goto out;
    if ((rc = obj_write(r, td, OBJ_VALUE, b.p, b.n, &root)) != 0) goto out;
    rc = commit_version(r, td, user, entry, 0, has, &head, &root, digest);
out:
    free(b.p);
    version_free(&hv);
    leave(r);
    return rc;
}

/* The version to read: `digest` if given (it must be a version of `entry`), else the head. */
static int resolve(tstore *td, const char *entry, const char *digest, dg *d, version *v) {
    int rc;
    if ((rc = check_name("entry", entry, 0)) != 0) return rc;
    if (digest) {
        if ((rc = parse_digest(digest, d)) != 0) return rc;
    } else if ((rc = ref_get(td, "heads", entry, d)) != 0) {
        if (rc == CAIRN_NOTFOUND) cairn_errclear();
        return rc;
    }
    rc = version_read(td, d, v);
    if (rc == CAIRN_NOTFOUND && !digest) { /* a head naming nothing is damage, never "absent" */
        char hx[65];
        hex_of(d, hx);
        return cairn_err__set(CAIRN_CORRUPT, "the head of '%s' names a missing version %s", entry, hx);
    }
    if (rc == CAIRN_NOTFOUND) {
        cairn_errclear();
        return CAIRN_NOTFOUND;
    }
    if (rc) return rc;
    if (strcmp(v->entry, entry) != 0) {
        version_free(v);
        return CAIRN_NOTFOUND; /* a version of another entry */
    }
    return 0;
}

/* NOTFOUND with a message, for the calls whose caller sees it as an error (count, iterate): the
 * entry or the version `digest` of it is absent. */
static int absent(const char *entry, const char *digest) {
    if (digest) return cairn_err__set(CAIRN_NOTFOUND, "no version %.64s of '%s'", digest, entry);
    return cairn_err__set(CAIRN_NOTFOUND, "no entry '%s'", entry);
}

static int repo_load(cairn_repo *r, const char *tenant, const char *entry, const char *digest, void **value,
                     size_t *len, int *kind) {
    tstore *td = NULL;
    int rc, type;
    dg d;
    version v;
    uint8_t *p = NULL;
    size_t n = 0;
    memset(&v, 0, sizeof v);
    if (!value || !len) return cairn_err__set(CAIRN_INVALID, "cairn_repo_load: NULL argument");
    *value = NULL;
    *len = 0;
    if ((rc = enter(r, "cairn_repo_load", 0)) != 0) return rc;
    if ((rc = tenant_open(r, tenant, &td)) != 0) goto out;
    if ((rc = resolve(td, entry, digest, &d, &v)) != 0) goto out;
    if (v.collection) { rc = cairn_err__set(CAIRN_TYPE, "'%s' is a collection: use get/keys", entry); goto out; }
    if ((rc = obj_read(td, &v.root, &type, &p, &n)) != 0) {
        if (rc == CAIRN_NOTFOUND) {
            char hx[65];
            hex_of(&v.root, hx);
            rc = cairn_err__set(CAIRN_CORRUPT, "value object %s is missing", hx);
        }
        goto out;
    }
    if (type != OBJ_VALUE || n < 1) {
        char hx[65];
        hex_of(&v.root, hx);
        rc = cairn_err__set(CAIRN_CORRUPT, "object %s is not a value", hx);
        goto out;
    }
    if (kind) *kind = p[0];
    memmove(p, p + 1, n - 1);
    *value = p;
    *len = n - 1;
    p = NULL;
out:
    free(p);
    version_free(&v);
    leave(r);
    return rc;
}

static int repo_exists(cairn_repo *r, const char *tenant, const char *entry) {
    tstore *td = NULL;
    int rc;
    dg d;
    if ((rc = enter(r, "cairn_repo_exists", 0)) != 0) return rc;
    if ((rc = tenant_open(r, tenant, &td)) != 0) {
        if (rc == CAIRN_NOTFOUND) rc = 0, cairn_errclear();
        goto out;
    }
    if ((rc = check_name("entry", entry, 0)) != 0) goto out;
    rc = ref_get(td, "heads", entry, &d);
    rc = rc == 0 ? 1 : rc == CAIRN_NOTFOUND ? 0 : rc;
out:
    leave(r);
    return rc;
}

static int repo_digest(cairn_repo *r, const char *tenant, const char *entry, char *digest) {
    tstore *td = NULL;
    int rc;
    dg d;
    if (!digest) return cairn_err__set(CAIRN_INVALID, "cairn_repo_digest: NULL argument");
    if ((rc = enter(r, "cairn_repo_digest", 0)) != 0) return rc;
    if ((rc = tenant_open(r, tenant, &td)) != 0) goto out;
    if ((rc = check_name("entry", entry, 0)) != 0) goto out;
    if ((rc = ref_get(td, "heads", entry, &d)) == 0) hex_of(&d, digest);
out:
    leave(r);
    return rc;
}

/* ------------------------------------------------------------------ collections */

static int tree_height(tstore *td, const dg *root, unsigned *h) {
    node nd;
    int rc;
    if (dg_zero(root)) { *h = 0; return 0; }
    if ((rc = node_read(td, root, &nd)) != 0) return rc;
    *h = nd.level + 1;
    node_free(&nd);
    return 0;
}

static int repo_put_many(cairn_repo *r, const char *tenant, const char *user, const char *entry, size_t n,
                         const void *const *keys, const size_t *klens, const void *const *values, const size_t *vlens,
                         const int *kinds, char *digest) {
    tstore *td = NULL;
    int rc, has;
    dg head, root, nroot;
    unsigned h = 0, nh = 0;
    version hv;
    mutset m = {0};
    if (n && (!keys || !klens || !values || !vlens)) return cairn_err__set(CAIRN_INVALID, "cairn_repo_put_many: NULL argument");
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] || klens[i] == 0) return cairn_err__set(CAIRN_INVALID, "cairn_repo_put: empty key (record %zu)", i);
        if (klens[i] > CAIRN_KEY_MAX) return cairn_err__set(CAIRN_TOOBIG, "cairn_repo_put: key of %zu bytes (max %u)", klens[i], CAIRN_KEY_MAX);
        if (!values[i] && vlens[i]) return cairn_err__set(CAIRN_INVALID, "cairn_repo_put: NULL value (record %zu)", i);
        if (vlens[i] > CAIRN_VALUE_MAX) return cairn_err__set(CAIRN_TOOBIG, "cairn_repo_put: value of %zu bytes", vlens[i]);
        if (kinds && (rc = check_kind(kinds[i])) != 0) return rc;
    }
    if ((rc = enter(r, "cairn_repo_put", 1)) != 0) return rc;
    if ((rc = change_begin(r, tenant, user, entry, &td, &has, &head, &hv)) != 0) goto out;
    if (has && !hv.collection) { rc = cairn_err__set(CAIRN_TYPE, "'%s' holds a whole value, not a collection", entry); goto out; }
    memset(&root, 0, sizeof root);
    if (has) root = hv.root;
    if ((rc = tree_height(td, &root, &h)) != 0) goto out;
    for (size_t i = 0; i < n; i++) {
        ent e;
        dg vd;
        memset(&e, 0, sizeof e);
        e.key = (const uint8_t *)keys[i];
        e.klen = klens[i];
        e.kind = kinds ? kinds[i] : CAIRN_KIND_BYTES;
        e.vlen = (uint32_t)vlens[i];
        e.count = 1;
        if (vlens[i] <= INLINE_MAX) {
            e.mode = 0;
            e.val = vlens[i] ? (const uint8_t *)values[i] : (const uint8_t *)"";
        } else {
            buf b = {0};
            if ((rc = buf_u8(&b, (unsigned)e.kind)) || (rc = buf_put(&b, values[i], vlens[i])) ||
                (rc = obj_write(r, td, OBJ_VALUE, b.p, b.n, &vd))) {
                free(b.p);
                goto out;
            }
            free(b.p);
            e.mode = 1;
            e.val = vd.b;
        }
        if ((rc = mutset_add(&m, &e)) != 0) goto out;
    }
    if ((rc = tree_apply(r, td, &root, h, &m, &nroot, &nh)) != 0) goto out;
    rc = commit_version(r, td, user, entry, 1, has, &head, &nroot, digest);
out:
    mutset_free(&m);
    version_free(&hv);
    leave(r);
    return rc;
}

static int repo_put(cairn_repo *r, const char *tenant, const char *user, const char *entry, const void *key, size_t klen,
                    const void *value, size_t vlen, int kind, char *digest) {
    return repo_put_many(r, tenant, user, entry, 1, &key, &klen, &value, &vlen, &kind, digest);
}

/* Find a record in the tree: *e (pointers into *holder, which the caller frees). */
static int tree_find(tstore *td, const dg *root, const uint8_t *k, size_t kn, node *holder, const ent **e) {
    unsigned h;
    int rc;
    size_t i;
    memset(holder, 0, sizeof *holder);
    if ((rc = tree_height(td, root, &h)) != 0) return rc;
    if (h == 0) return CAIRN_NOTFOUND;
    if ((rc = locate(td, root, h - 1, 0, k, kn, holder)) != 0) return rc;
    i = node_lower(holder, k, kn);
    if (i == holder->n || keycmp(holder->e[i].key, holder->e[i].klen, k, kn) != 0) return CAIRN_NOTFOUND;
    *e = &holder->e[i];
    return 0;
}

static int repo_delete(cairn_repo *r, const char *tenant, const char *user, const char *entry, const void *key,
                       size_t klen, char *digest) {
    tstore *td = NULL;
    int rc, has;
    dg head, nroot;
    unsigned h = 0, nh = 0;
    version hv;
    mutset m = {0};
    node holder;
    const ent *found = NULL;
    memset(&holder, 0, sizeof holder);
    if (!key || klen == 0) return cairn_err__set(CAIRN_INVALID, "cairn_repo_delete: empty key");
    if (klen > CAIRN_KEY_MAX) return cairn_err__set(CAIRN_TOOBIG, "cairn_repo_delete: key too long");
    if ((rc = enter(r, "cairn_repo_delete", 1)) != 0) return rc;
    if ((rc = change_begin(r, tenant, user, entry, &td, &has, &head, &hv)) != 0) goto out;
    if (!has) { rc = CAIRN_NOTFOUND; goto out; }
    if (!hv.collection) { rc = cairn_err__set(CAIRN_TYPE, "'%s' holds a whole value, not a collection", entry); goto out; }
    if ((rc = tree_find(td, &hv.root, (const uint8_t *)key, klen, &holder, &found)) != 0) goto out;
    node_free(&holder);
    {
        ent e;
        memset(&e, 0, sizeof e);
        e.key = (const uint8_t *)key;
        e.klen = klen;
        e.del = 1;
        if ((rc = mutset_add(&m, &e)) != 0) goto out;
    }
    if ((rc = tree_height(td, &hv.root, &h)) != 0) goto out;
    if ((rc = tree_apply(r, td, &hv.root, h, &m, &nroot, &nh)) != 0) goto out;
    rc = commit_version(r, td, user, entry, 1, has, &head, &nroot, digest);
out:
    node_free(&holder);
    mutset_free(&m);
    version_free(&hv);
    leave(r);
    return rc;
}

/* Copy a leaf entry's value out (reading its value object when not inline). */
static int ent_value(tstore *td, const ent *e, void **value, size_t *vlen, int *kind) {
    if (e->mode == 0) {
        void *p = malloc(e->vlen ? e->vlen : 1);
        if (!p) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        if (e->vlen) memcpy(p, e->val, e->vlen);
        *value = p;
        *vlen = e->vlen;
        if (kind) *kind = e->kind;
        return 0;
    } else {
        dg d;
        uint8_t *p = NULL;
        size_t n = 0;
        int type, rc;
        memcpy(d.b, e->val, 32);
        if ((rc = obj_read(td, &d, &type, &p, &n)) != 0) {
            if (rc == CAIRN_NOTFOUND) {
                char hx[65];
                hex_of(&d, hx);
                rc = cairn_err__set(CAIRN_CORRUPT, "value object %s is missing", hx);
            }
            return rc;
        }
        if (type != OBJ_VALUE || n != (size_t)e->vlen + 1) {
            char hx[65];
            free(p);
            hex_of(&d, hx);
            return cairn_err__set(CAIRN_CORRUPT, "object %s: not the value its leaf names", hx);
        }
        if (kind) *kind = p[0];
        memmove(p, p + 1, n - 1);
        *value = p;
        *vlen = n - 1;
        return 0;
    }
}

static int repo_get(cairn_repo *r, const char *tenant, const char *entry, const char *digest, const void *key,
                    size_t klen, void **value, size_t *vlen, int *kind) {
    tstore *td = NULL;
    int rc;
    dg d;
    version v;
    node holder;
    const ent *e = NULL;
    memset(&v, 0, sizeof v);
    memset(&holder, 0, sizeof holder);
    if (!value || !vlen) return cairn_err__set(CAIRN_INVALID, "cairn_repo_get: NULL argument");
    *value = NULL;
    *vlen = 0;
    if (!key || klen == 0) return cairn_err__set(CAIRN_INVALID, "cairn_repo_get: empty key");
    if (klen > CAIRN_KEY_MAX) return cairn_err__set(CAIRN_TOOBIG, "cairn_repo_get: key too long");
    if ((rc = enter(r, "cairn_repo_get", 0)) != 0) return rc;
    if ((rc = tenant_open(r, tenant, &td)) != 0) goto out;
    if ((rc = resolve(td, entry, digest, &d, &v)) != 0) goto out;
    if (!v.collection) { rc = cairn_err__set(CAIRN_TYPE, "'%s' holds a whole value: use load", entry); goto out; }
    if ((rc = tree_find(td, &v.root, (const uint8_t *)key, klen, &holder, &e)) != 0) goto out;
    rc = ent_value(td, e, value, vlen, kind);
out:
    node_free(&holder);
    version_free(&v);
    leave(r);
    return rc;
}

static int repo_count(cairn_repo *r, const char *tenant, const char *entry, const char *digest, uint64_t *out) {
    tstore *td = NULL;
    int rc;
    dg d;
    version v;
    memset(&v, 0, sizeof v);
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_repo_count: NULL argument");
    if ((rc = enter(r, "cairn_repo_count", 0)) != 0) return rc;
    if ((rc = tenant_open(r, tenant, &td)) != 0) goto out;
    if ((rc = resolve(td, entry, digest, &d, &v)) != 0) {
        if (rc == CAIRN_NOTFOUND) rc = absent(entry, digest);
        goto out;
    }
    if (!v.collection) { rc = cairn_err__set(CAIRN_TYPE, "'%s' holds a whole value", entry); goto out; }
    if (dg_zero(&v.root)) *out = 0;
    else {
        node nd;
        if ((rc = node_read(td, &v.root, &nd)) != 0) goto out;
        *out = 0;
        for (size_t i = 0; i < nd.n; i++) *out += nd.e[i].count;
        node_free(&nd);
    }
out:
    version_free(&v);
    leave(r);
    return rc;
}

/* ---- iteration: a stack of nodes from the root to the current leaf */
struct cairn_repo_iter {
    cairn_repo *r;
    tstore *td;
    node stack[MAX_LEVELS];
    size_t pos[MAX_LEVELS];
    int depth; /* nodes on the stack */
    void *val; /* the current out-of-line value */
    int started;
};

/* The iterator's own memory (its nodes, its current value, itself); the handle's count is the
 * caller's. */
static void iter_release(cairn_repo_iter *it) {
    for (int i = 0; i < it->depth; i++) node_free(&it->stack[i]);
    free(it->val);
    free(it);
}

static int repo_iter_open(cairn_repo_iter **out, cairn_repo *r, const char *tenant, const char *entry,
                          const char *digest) {
    cairn_repo_iter *it = NULL;
    tstore *td = NULL;
    int rc;
    dg d;
    version v;
    memset(&v, 0, sizeof v);
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_repo_iter_open: NULL argument");
    *out = NULL;
    if ((rc = enter(r, "cairn_repo_iter_open", 0)) != 0) return rc;
    if ((rc = tenant_open(r, tenant, &td)) != 0) goto out;
    if ((rc = resolve(td, entry, digest, &d, &v)) != 0) {
        if (rc == CAIRN_NOTFOUND) rc = absent(entry, digest);
        goto out;
    }
    if (!v.collection) { rc = cairn_err__set(CAIRN_TYPE, "'%s' holds a whole value", entry); goto out; }
    if (!(it = (cairn_repo_iter *)calloc(1, sizeof *it))) { rc = cairn_err__set(CAIRN_NOMEM, "out of memory"); goto out; }
    it->r = r;
    it->td = td;
    if (!dg_zero(&v.root)) {
        /* uncached: the stack lives between steps, outside the handle's lock (cache pins may
         * change only under it) */
        if ((rc = node_read_x(it->td, &v.root, &it->stack[0], 0)) != 0) goto out;
        it->depth = 1;
        while (it->stack[it->depth - 1].level > 0) {
            node *top = &it->stack[it->depth - 1];
            if (it->depth >= MAX_LEVELS) { rc = cairn_err__set(CAIRN_CORRUPT, "tree too deep"); goto out; }
            if ((rc = node_read_x(it->td, &top->e[0].child, &it->stack[it->depth], 0)) != 0) goto out;
            it->pos[it->depth] = 0;
            it->depth++;
        }
    }
    *out = it;
    it = NULL;
    r->iters++; /* the handle's memory outlives a close until this iterator is freed */
out:
    if (it) iter_release(it);
    version_free(&v);
    leave(r);
    return rc;
}

/* The handle's lock for the rest of this step (taken once: *locked). */
static int iter_lock(cairn_repo_iter *it, int *locked) {
    int rc;
    if (*locked) return 0;
    if ((rc = enter(it->r, "cairn_repo_iter_next", 0)) != 0) return rc;
    *locked = 1;
    return 0;
}

static int repo_iter_step(cairn_repo_iter *it, const void **key, size_t *klen, const void **value, size_t *vlen,
                          int *kind, int *locked) {
    int rc;
    free(it->val);
    it->val = NULL;
    if (it->depth == 0) return CAIRN_ITEROVER;
    if (it->started) {
        /* advance */
        int d = it->depth - 1;
        it->pos[d]++;
        while (d >= 0 && it->pos[d] >= it->stack[d].n) {
            node_free(&it->stack[d]);
            d--;
            if (d >= 0) it->pos[d]++;
        }
        if (d < 0) {
            it->depth = 0;
            return CAIRN_ITEROVER;
        }
        while (it->stack[d].level > 0) {
            if ((rc = iter_lock(it, locked)) != 0 ||
                (rc = node_read_x(it->td, &it->stack[d].e[it->pos[d]].child, &it->stack[d + 1], 0)) != 0) {
                it->depth = d + 1;
                return rc;
            }
            it->pos[d + 1] = 0;
            d++;
        }
        it->depth = d + 1;
    }
    it->started = 1;
    {
        const ent *e = &it->stack[it->depth - 1].e[it->pos[it->depth - 1]];
        if (key) *key = e->key;
        if (klen) *klen = e->klen;
        if (value || vlen || kind) {
            if (e->mode == 0) {
                if (value) *value = e->val;
                if (vlen) *vlen = e->vlen;
                if (kind) *kind = e->kind;
            } else {
                size_t n = 0;
                if ((rc = iter_lock(it, locked)) != 0 || (rc = ent_value(it->td, e, &it->val, &n, kind)) != 0) return rc;
                if (value) *value = it->val;
                if (vlen) *vlen = n;
            }
        }
    }
    return 0;
}

/* A step that reads the repository (the next leaf, or a value in an object of its own) holds the
 * handle's lock while it does, as every other read: it reads the tenant's pack index, its open
 * packs and their mappings, which a put, a save or gc on another thread changes (adds a pack,
 * grows the index, moves a pack's end). A step inside the current leaf to an inline value reads
 * only the iterator's own nodes (read uncached, shared with nothing) and takes no lock (200k small
 * inline records, CPU best of 6: 50.9 ns a record unlocked, 58.5 locking every step, 52.1 so). */
int cairn_repo_iter_next(cairn_repo_iter *it, const void **key, size_t *klen, const void **value, size_t *vlen,
                         int *kind) {
    int rc, locked = 0;
    if (!it) return cairn_err__set(CAIRN_INVALID, "cairn_repo_iter_next: NULL iterator");
    if (cairn_fork__foreign(it->r->gen)) return cairn_fork__err("cairn_repo_iter_next");
    /* every step, the lock-free ones inside a leaf too: a closed handle is an error, never the
     * rest of a leaf (a step that takes the lock checks again under it: enter) */
    if (__atomic_load_n(&it->r->closed, __ATOMIC_ACQUIRE)) {
        free(it->val);
        it->val = NULL;
        return cairn_err__set(CAIRN_CLOSED, "cairn_repo_iter_next: the repository handle is closed");
    }
    rc = repo_iter_step(it, key, klen, value, vlen, kind, &locked);
    if (locked) leave(it->r);
    return rc;
}

/* Fine before or after the close of the handle, in any order; the last iterator of a closed
 * handle frees the handle's memory (cairn_repo_close). */
void cairn_repo_iter_free(cairn_repo_iter *it) {
    cairn_repo *r;
    int foreign, last;
    if (!it) return;
    r = it->r;
    iter_release(it);
    foreign = cairn_fork__foreign(r->gen);
    if (!foreign) pthread_mutex_lock(&r->mu);
    r->iters--;
    last = r->closed && r->iters == 0;
    if (!foreign) pthread_mutex_unlock(&r->mu);
    if (last) repo_free(r);
}

/* ---- diff: expand both trees level by level, dropping subtrees present on both sides */

typedef struct {
    dg *d;
    unsigned *lvl;
    size_t n, cap;
} dgset;

static int dgset_add(dgset *s, const dg *d, unsigned lvl) {
    if (s->n == s->cap) {
        size_t c = s->cap ? s->cap * 2 : 16;
        dg *a = (dg *)realloc(s->d, c * sizeof(dg));
        unsigned *b;
        if (!a) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        s->d = a;
        if (!(b = (unsigned *)realloc(s->lvl, c * sizeof(unsigned)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        s->lvl = b;
        s->cap = c;
    }
    s->d[s->n] = *d;
    s->lvl[s->n++] = lvl;
    return 0;
}
static void dgset_free(dgset *s) {
    free(s->d);
    free(s->lvl);
    memset(s, 0, sizeof *s);
}

/* The index in s of a digest equal to d, through t (open addressing over s's digests, cap a
 * power of two, entries index + 1, 0 empty), or (size_t)-1. */
static size_t dgtab_find(const uint32_t *t, size_t cap, const dgset *s, const dg *d) {
    for (size_t j = (size_t)dg_hash(d) & (cap - 1); t[j]; j = (j + 1) & (cap - 1))
        if (memcmp(s->d[t[j] - 1].b, d->b, 32) == 0) return t[j] - 1;
    return (size_t)-1;
}

/* Remove from a and b every digest both hold (same level implied: levels are in the nodes).
 * A hash table of a's digests: linear in the sizes (sorting both sides was 12% of a diff). */
static void drop_common(dgset *a, dgset *b) {
    size_t cap = 16, wa = 0, wb = 0;
    uint32_t *t;
    uint8_t *common;
    if (!a->n || !b->n) return;
    while (cap < a->n * 2) cap <<= 1;
    t = (uint32_t *)calloc(cap, sizeof *t);
    common = (uint8_t *)calloc(a->n, 1);
    if (!t || !common || a->n >= 0xffffffffu) { free(t); free(common); return; } /* no pruning: still correct, only slower */
    for (size_t i = 0; i < a->n; i++) {
        size_t j = (size_t)dg_hash(&a->d[i]) & (cap - 1);
        while (t[j] && memcmp(a->d[t[j] - 1].b, a->d[i].b, 32) != 0) j = (j + 1) & (cap - 1);
        if (!t[j]) t[j] = (uint32_t)(i + 1); /* a digest twice in a: the first stands for both */
    }
    for (size_t i = 0; i < b->n; i++) {
        size_t k = dgtab_find(t, cap, a, &b->d[i]);
        if (k != (size_t)-1) common[k] = 1;
        else b->d[wb] = b->d[i], b->lvl[wb++] = b->lvl[i];
    }
    for (size_t i = 0; i < a->n; i++)
        if (!common[dgtab_find(t, cap, a, &a->d[i])]) a->d[wa] = a->d[i], a->lvl[wa++] = a->lvl[i];
    a->n = wa;
    b->n = wb;
    free(t);
    free(common);
}

/* Expand every node of s above level `to` into its children (leaves stay). */
static int expand(tstore *td, dgset *s, unsigned to) {
    dgset out = {0};
    int rc = 0;
    for (size_t i = 0; i < s->n && !rc; i++) {
        if (s->lvl[i] <= to) { rc = dgset_add(&out, &s->d[i], s->lvl[i]); continue; }
        {
            node nd;
            if ((rc = node_read(td, &s->d[i], &nd)) != 0) break;
            for (size_t k = 0; k < nd.n && !rc; k++) rc = dgset_add(&out, &nd.e[k].child, nd.level - 1);
            node_free(&nd);
        }
    }
    dgset_free(s);
    *s = out;
    return rc;
}

static unsigned dgset_max(const dgset *s) {
    unsigned m = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->lvl[i] > m) m = s->lvl[i];
    return m;
}

/* A cursor over the records of a set of leaves in key order (the set is in key order: expansion
 * keeps the children's order), one leaf pinned at a time, read in place: a leaf is checked once
 * (node_check; a cached one stays checked), then its records are walked without decoding. Keys
 * that do not increase from one leaf to the next are damage. */
typedef struct {
    tstore *td;
    const dgset *s;
    size_t ni;  /* the next leaf of s */
    cobj *o;    /* the current leaf (pinned), NULL before the first */
    size_t off; /* where its current record starts */
} leafcur;

static void leafcur_free(leafcur *c) {
    cobj_release(c->o);
    c->o = NULL;
}

/* The length of the leaf record at p (a checked leaf). */
static size_t rec_len(const uint8_t *p) {
    size_t k = cairn_get16(p);
    return 2 + k + 6 + (p[2 + k + 1] ? 32 : cairn_get32(p + 2 + k + 2));
}

/* Make the current record valid; 0 with c->o NULL past the end. */
static int leafcur_fill(leafcur *c) {
    while (!c->o || c->off >= c->o->len) {
        cobj *next;
        int rc;
        if (c->ni >= c->s->n) {
            leafcur_free(c);
            return 0;
        }
        if ((rc = tree_obj(c->td, &c->s->d[c->ni], 1, &next)) != 0) return rc;
        c->ni++;
        if ((rc = node_check(next)) != 0) {
            cobj_release(next);
            return rc;
        }
        if (next->type != OBJ_LEAF) {
            char hx[65];
            hex_of(&next->d, hx);
            cobj_release(next);
            return cairn_err__set(CAIRN_CORRUPT, "tree node %s: a leaf was expected", hx);
        }
        if (c->o) {
            const uint8_t *a = c->o->p + c->o->last, *b = next->p + 5;
            if (keycmp(a + 2, cairn_get16(a), b + 2, cairn_get16(b)) >= 0) {
                char hx[65];
                hex_of(&next->d, hx);
                cobj_release(next);
                return cairn_err__set(CAIRN_CORRUPT, "tree node %s: keys out of order with the node before it", hx);
            }
            cobj_release(c->o);
        }
        c->o = next;
        c->off = 5;
    }
    return 0;
}

/* The current record as an entry (c->o not NULL). */
static void leafcur_ent(const leafcur *c, ent *e) {
    size_t off = c->off;
    (void)ent_parse(c->o->p, c->o->len, 0, &off, e); /* checked */
}

/* Bytes equal at the start of a and b (at most n). */
static size_t same_prefix(const uint8_t *a, const uint8_t *b, size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t x[4], y[4];
        memcpy(x, a + i, 32);
        memcpy(y, b + i, 32);
        if ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) break;
    }
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Both cursors at a record: skip the records the two leaves hold byte for byte alike from here
 * (same bytes from two record starts are the same records, cut at the same places); the bytes
 * skipped, 0 if the current records differ. Spread changes leave most records of a changed leaf
 * as they were: this compares them as raw bytes instead of key by key. */
static size_t leafcur_skip_same(leafcur *a, leafcur *b) {
    size_t ra = a->o->len - a->off, rb = b->o->len - b->off;
    const uint8_t *pa = a->o->p + a->off;
    size_t m = same_prefix(pa, b->o->p + b->off, ra < rb ? ra : rb), s = 0;
    while (s < m) {
        size_t l = rec_len(pa + s);
        if (s + l > m) break;
        s += l;
    }
    a->off += s;
    b->off += s;
    return s;
}

static int json_key(buf *b, const uint8_t *k, size_t n) {
    /* a string when valid UTF-8 without control characters... else {"$bytes": hex} */
    size_t i = 0;
    int ok = 1;
    while (i < n && ok) {
        unsigned c = k[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n || (len == 1 && c < 0x20)) { ok = 0; break; }
        for (size_t j = 1; j < len; j++)
            if ((k[i + j] & 0xc0) != 0x80) ok = 0;
        if (len == 2 && c < 0xc2) ok = 0;
        if (len == 3) {
            unsigned v = ((c & 15u) << 12) | ((k[i + 1] & 63u) << 6) | (k[i + 2] & 63u);
            if (v < 0x800 || (v >= 0xd800 && v <= 0xdfff)) ok = 0;
        }
        if (len == 4) {
            unsigned v = ((c & 7u) << 18) | ((k[i + 1] & 63u) << 12) | ((k[i + 2] & 63u) << 6) | (k[i + 3] & 63u);
            if (v < 0x10000 || v > 0x10ffff) ok = 0;
        }
        i += len;
    }
    if (ok) return json_str(b, k, n);
    {
        static const char hx[] = "0123456789abcdef";
        int rc = buf_put(b, "{\"$bytes\":\"", 11);
        for (size_t j = 0; j < n && !rc; j++) {
            char two[2] = {hx[k[j] >> 4], hx[k[j] & 15]};
            rc = buf_put(b, two, 2);
        }
        if (!rc) rc = buf_put(b, "\"}", 2);
        return rc;
    }
}

static int same_value(const ent *a, const ent *b) {
    if (a->mode != b->mode || a->vlen != b->vlen || a->kind != b->kind) return 0;
    return memcmp(a->val, b->val, a->mode ? 32 : a->vlen) == 0;
}

static int repo_diff(cairn_repo *r, const char *tenant, const char *d1, const char *d2, char **json) {
    tstore *td = NULL;
    int rc;
    dgset A = {0}, B = {0};
    buf added = {0}, removed = {0}, changed = {0}, outb = {0};
    size_t cadd = 0, crem = 0, cchg = 0;
    if (!json) return cairn_err__set(CAIRN_INVALID, "cairn_repo_diff: NULL argument");
    *json = NULL;
    if ((rc = enter(r, "cairn_repo_diff", 0)) != 0) return rc;
    if ((rc = tenant_open(r, tenant, &td)) != 0) goto out;
    {
        const char *ds[2] = {d1, d2};
        dgset *sets[2] = {&A, &B};
        for (int i = 0; i < 2; i++) {
            dg d;
            version v;
            if (!ds[i]) continue;
            if ((rc = parse_digest(ds[i], &d)) != 0) goto out;
            if ((rc = version_read(td, &d, &v)) != 0) goto out;
            if (!v.collection) {
                version_free(&v);
                rc = cairn_err__set(CAIRN_TYPE, "%s is not a version of a collection", ds[i]);
                goto out;
            }
            if (!dg_zero(&v.root)) {
                node nd;
                if ((rc = node_read(td, &v.root, &nd)) != 0) { version_free(&v); goto out; }
                rc = dgset_add(sets[i], &v.root, nd.level);
                node_free(&nd);
            }
            version_free(&v);
            if (rc) goto out;
        }
    }
    /* expand the taller side first, dropping shared subtrees at each step */
    for (;;) {
        unsigned ma, mb;
        drop_common(&A, &B);
        ma = dgset_max(&A);
        mb = dgset_max(&B);
        if (ma == 0 && mb == 0) break;
        if (ma >= mb) {
            if ((rc = expand(td, &A, ma - 1)) != 0) goto out;
        } else if ((rc = expand(td, &B, mb - 1)) != 0)
            goto out;
    }
    {
        leafcur ca, cb;
        memset(&ca, 0, sizeof ca);
        memset(&cb, 0, sizeof cb);
        ca.td = cb.td = td;
        ca.s = &A;
        cb.s = &B;
        for (;;) {
            ent ea, eb;
            int c;
            memset(&ea, 0, sizeof ea);
            memset(&eb, 0, sizeof eb);
            if ((rc = leafcur_fill(&ca)) != 0 || (rc = leafcur_fill(&cb)) != 0) break;
            if (!ca.o && !cb.o) break;
            if (ca.o && cb.o && leafcur_skip_same(&ca, &cb)) continue;
            if (ca.o) leafcur_ent(&ca, &ea);
            if (cb.o) leafcur_ent(&cb, &eb);
            c = !ca.o ? 1 : !cb.o ? -1 : keycmp(ea.key, ea.klen, eb.key, eb.klen);
            if (c < 0) {
                if (crem++) rc = buf_u8(&removed, ',');
                if (!rc) rc = json_key(&removed, ea.key, ea.klen);
                ca.off += rec_len(ca.o->p + ca.off);
            } else if (c > 0) {
                if (cadd++) rc = buf_u8(&added, ',');
                if (!rc) rc = json_key(&added, eb.key, eb.klen);
                cb.off += rec_len(cb.o->p + cb.off);
            } else {
                if (!same_value(&ea, &eb)) {
                    if (cchg++) rc = buf_u8(&changed, ',');
                    if (!rc) rc = json_key(&changed, ea.key, ea.klen);
                }
                ca.off += rec_len(ca.o->p + ca.off);
                cb.off += rec_len(cb.o->p + cb.off);
            }
            if (rc) break;
        }
        leafcur_free(&ca);
        leafcur_free(&cb);
    }
    if (rc) goto out;
    if ((rc = buf_put(&outb, "{\"added\":[", 10)) || (rc = buf_put(&outb, added.p, added.n)) ||
        (rc = buf_put(&outb, "],\"removed\":[", 13)) || (rc = buf_put(&outb, removed.p, removed.n)) ||
        (rc = buf_put(&outb, "],\"changed\":[", 13)) || (rc = buf_put(&outb, changed.p, changed.n)) ||
        (rc = buf_put(&outb, "]}", 3)))
        goto out;
    *json = (char *)outb.p;
    outb.p = NULL;
out:
    dgset_free(&A);
    dgset_free(&B);
    free(added.p);
    free(removed.p);
    free(changed.p);
    free(outb.p);
    leave(r);
    return rc;
}

/* ------------------------------------------------------------------ history and tags */

static int repo_history(cairn_repo *r, const char *tenant, const char *entry, size_t max, char **json) {
    tstore *td = NULL;
    int rc;
    dg d;
    buf b = {0};
    size_t n = 0;
    if (!json) return cairn_err__set(CAIRN_INVALID, "cairn_repo_history: NULL argument");
    *json = NULL;
    if ((rc = enter(r, "cairn_repo_history", 0)) != 0) return rc;
    if ((rc = tenant_open(r, tenant, &td)) != 0) goto out;
    if ((rc = check_name("entry", entry, 0)) != 0) goto out;
    if ((rc = buf_u8(&b, '[')) != 0) goto out;
    rc = ref_get(td, "heads", entry, &d);
    if (rc == CAIRN_NOTFOUND) { rc = 0; goto done; }
    if (rc) goto out;
    for (;;) {
        version v;
        char hx[65], line[512];
        if (max && n >= max) break;
        if ((rc = version_read(td, &d, &v)) != 0) {
            if (rc == CAIRN_NOTFOUND) {
                hex_of(&d, hx);
                rc = cairn_err__set(CAIRN_CORRUPT, "version %s of '%s' is missing", hx, entry);
            }
            goto out;
        }
        hex_of(&d, hx);
        if (n++) rc = buf_u8(&b, ',');
        snprintf(line, sizeof line, "{\"digest\":\"%s\",\"parents\":[", hx);
        if (!rc) rc = buf_put(&b, line, strlen(line));
        for (unsigned i = 0; i < v.nparents && !rc; i++) {
            char ph[65];
            hex_of(&v.parents[i], ph);
            snprintf(line, sizeof line, "%s\"%s\"", i ? "," : "", ph);
            rc = buf_put(&b, line, strlen(line));
        }
        if (!rc) rc = buf_put(&b, "],\"user\":", 9);
        if (!rc) rc = json_str(&b, (const uint8_t *)v.user, strlen(v.user));
        snprintf(line, sizeof line, ",\"time\":%lld,\"collection\":%s}", (long long)v.time_ms, v.collection ? "true" : "false");
        if (!rc) rc = buf_put(&b, line, strlen(line));
        if (rc || v.nparents == 0) {
            version_free(&v);
            break;
        }
        d = v.parents[0];
        version_free(&v);
    }
    if (rc) goto out;
done:
    if ((rc = buf_put(&b, "]", 2)) != 0) goto out;
    *json = (char *)b.p;
    b.p = NULL;
out:
    free(b.p);
    leave(r);
    return rc;
}

static int repo_tag(cairn_repo *r, const char *tenant, const char *name, const char *digest) {
    tstore *td = NULL;
    int rc;
    dg d;
    version v;
    if ((rc = enter(r, "cairn_repo_tag", 1)) != 0) return rc;
    if ((rc = tenant_open(r, tenant, &td)) != 0) goto out;
    if ((rc = check_name("tag", name, 0)) || (rc = parse_digest(digest, &d))) goto out;
    if ((rc = version_read(td, &d, &v)) != 0) goto out; /* only versions of this tenant */
    version_free(&v);
    rc = ref_set(r, td, "tags", name, &d);
out:
    leave(r);
    return rc;
}

static int repo_tag_get(cairn_repo *r, const char *tenant, const char *name, char *digest) {
    tstore *td = NULL;
    int rc;
    dg d;
    if (!digest) return cairn_err__set(CAIRN_INVALID, "cairn_repo_tag_get: NULL argument");
    if ((rc = enter(r, "cairn_repo_tag_get", 0)) != 0) return rc;
    if ((rc = tenant_open(r, tenant, &td)) != 0) goto out;
    if ((rc = check_name("tag", name, 0)) != 0) goto out;
    if ((rc = ref_get(td, "tags", name, &d)) == 0) hex_of(&d, digest);
out:
    leave(r);
    return rc;
}

/* ------------------------------------------------------------------ gc, verify, stats */

/* Set of digests (the marked objects): open addressing on the digest's first 8 bytes (uniform:
 * it is SHA-256), at most half full. (A sorted array with insertion was quadratic: gc and verify
 * of a repository of a million objects would have moved terabytes.) */
typedef struct {
    dg *d;
    uint8_t *used;
    size_t n, cap;
} mark;

static void mark_free(mark *m) {
    free(m->d);
    free(m->used);
    memset(m, 0, sizeof *m);
}
static int mark_has(const mark *m, const dg *d) {
    size_t i;
    if (!m->n) return 0;
    for (i = (size_t)dg_hash(d) & (m->cap - 1); m->used[i]; i = (i + 1) & (m->cap - 1))
        if (memcmp(m->d[i].b, d->b, 32) == 0) return 1;
    return 0;
}
/* 0 added, 1 present already, <0 error */
static int mark_add(mark *m, const dg *d) {
    size_t i;
    if ((m->n + 1) * 2 > m->cap) {
        mark g = {0};
        g.cap = m->cap ? m->cap * 2 : 1024;
        g.d = (dg *)malloc(g.cap * sizeof(dg));
        g.used = (uint8_t *)calloc(g.cap, 1);
        if (!g.d || !g.used) {
            mark_free(&g);
            return cairn_err__set(CAIRN_NOMEM, "out of memory");
        }
        for (size_t k = 0; k < m->cap; k++)
            if (m->used[k]) {
                for (i = (size_t)dg_hash(&m->d[k]) & (g.cap - 1); g.used[i]; i = (i + 1) & (g.cap - 1)) {}
                g.d[i] = m->d[k];
                g.used[i] = 1;
                g.n++;
            }
        mark_free(m);
        *m = g;
    }
    for (i = (size_t)dg_hash(d) & (m->cap - 1); m->used[i]; i = (i + 1) & (m->cap - 1))
        if (memcmp(m->d[i].b, d->b, 32) == 0) return 1;
    m->d[i] = *d;
    m->used[i] = 1;
    m->n++;
    return 0;
}
static int mark_tree(tstore *td, const dg *d, mark *m) {
    node nd;
    int rc = mark_add(m, d);
    if (rc == 1) return 0;
    if (rc) return rc;
    if ((rc = node_read(td, d, &nd)) != 0) return rc;
    for (size_t i = 0; i < nd.n && !rc; i++) {
        if (nd.level > 0) rc = mark_tree(td, &nd.e[i].child, m);
        else if (nd.e[i].mode == 1) {
            dg v;
            memcpy(v.b, nd.e[i].val, 32);
            rc = mark_add(m, &v);
            if (rc == 1) rc = 0;
            if (!rc) {
                /* verify it is there */
                uint8_t *p = NULL;
                size_t n = 0;
                int type;
                rc = obj_read(td, &v, &type, &p, &n);
                free(p);
                if (rc == CAIRN_NOTFOUND) {
                    char hx[65];
                    hex_of(&v, hx);
                    rc = cairn_err__set(CAIRN_CORRUPT, "value object %s is missing", hx);
                }
            }
        }
    }
    node_free(&nd);
    return rc;
}

/* Mark a version and its history. */
static int mark_version(tstore *td, const dg *start, mark *m) {
    dg d = *start;
    int rc = 0;
    for (;;) {
        version v;
        rc = mark_add(m, &d);
        if (rc == 1) return 0; /* seen: its history too */
        if (rc) return rc;
        if ((rc = version_read(td, &d, &v)) != 0) {
            if (rc == CAIRN_NOTFOUND) {
                char hx[65];
                hex_of(&d, hx);
                rc = cairn_err__set(CAIRN_CORRUPT, "version %s is missing", hx);
            }
            return rc;
        }
        if (v.collection) {
            if (!dg_zero(&v.root)) rc = mark_tree(td, &v.root, m);
        } else {
            uint8_t *p = NULL;
            size_t n = 0;
            int type;
            rc = mark_add(m, &v.root);
            if (rc == 1) rc = 0;
            if (!rc) {
                rc = obj_read(td, &v.root, &type, &p, &n);
                free(p);
                if (rc == CAIRN_NOTFOUND) {
                    char hx[65];
                    hex_of(&v.root, hx);
                    rc = cairn_err__set(CAIRN_CORRUPT, "value object %s is missing", hx);
                }
            }
        }
        for (unsigned i = 1; i < v.nparents && !rc; i++) rc = mark_version(td, &v.parents[i], m);
        if (rc || v.nparents == 0) {
            version_free(&v);
            return rc;
        }
        d = v.parents[0];
        version_free(&v);
    }
}

/* Mark everything the tenant's refs reach. */
static int mark_tenant(tstore *td, mark *m) {
    int rc = refs_load(td);
    for (size_t i = 0; i < td->rcap && !rc; i++)
        if (td->refs[i].used) rc = mark_version(td, &td->refs[i].d, m);
    return rc;
}

/* Every tenant directory name under <repo>/t, decoded to tenant names (malloc'd list). */
/* The tenant name of the directory `dir` of <repo>/t: %XX decoded, or for a "~<hash>" directory
 * the bytes of its NAME file (checked: it must encode to `dir`). *out NULL: not a tenant (a
 * leftover .tmp, a "~" directory without a readable NAME). */
static int tenant_dir_name(const char *tdir, const char *dir, char **out) {
    size_t L = strlen(dir), o = 0;
    char *s;
    *out = NULL;
    if (!L || (L > 4 && strcmp(dir + L - 4, ".tmp") == 0)) return 0;
    if (dir[0] == '~') {
        char *np = pathf("%s/%s/NAME", tdir, dir), enc[202];
        void *data = NULL;
        size_t n = 0;
        int rc;
        if (!np) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        rc = cairn_io__read_all(np, &data, &n);
        free(np);
        if (rc) { cairn_errclear(); return 0; }
        if (!(s = (char *)realloc(data, n + 1))) { free(data); return cairn_err__set(CAIRN_NOMEM, "out of memory"); }
        s[n] = 0;
        if (strlen(s) != n || check_name("tenant", s, 0) || encode_name(s, enc) || strcmp(enc, dir) != 0) {
            cairn_errclear();
            free(s);
            return 0;
        }
        *out = s;
        return 0;
    }
    if (!(s = (char *)malloc(L + 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (size_t k = 0; k < L; k++) {
        if (dir[k] == '%' && k + 2 < L + 1) {
            int h = hexval(dir[k + 1] | 0x20), l = h < 0 ? -1 : hexval(dir[k + 2] | 0x20);
            if (h >= 0 && l >= 0) { s[o++] = (char)(h << 4 | l); k += 2; continue; }
        }
        s[o++] = dir[k];
    }
    s[o] = 0;
    *out = s;
    return 0;
}

/* The tenants of the repository at `repo`, decoded; an entry that is no tenant is "". */
static int tenant_names(const char *repo, char ***out, size_t *n) {
    char *tdir = pathf("%s/t", repo), **names = NULL;
    size_t cnt = 0;
    int rc;
    *out = NULL;
    *n = 0;
    if (!tdir) return CAIRN_NOMEM;
    rc = cairn_io__list(tdir, &names, &cnt);
    if (rc == CAIRN_PATH) { free(tdir); return 0; }
    for (size_t i = 0; i < cnt && !rc; i++) {
        char *name = NULL;
        if ((rc = tenant_dir_name(tdir, names[i], &name)) != 0) break;
        if (!name && !(name = (char *)calloc(1, 1))) rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        free(names[i]);
        names[i] = name;
    }
    free(tdir);
    if (rc) {
        cairn_io__list_free(names, cnt);
        return rc;
    }
    *out = names;
    *n = cnt;
    return 0;
}

/* Rewrite the tenant's packs with only the marked objects (and the unmarked ones younger than
 * the grace period): write the new pack, fsync it and the directory, then remove the old packs.
 * A crash in between leaves both (objects twice: harmless; the next open indexes the first copy). */
static int tenant_gc(cairn_repo *r, tstore *ts, const mark *m, int64_t cutoff_ms, uint64_t *removed) {
    size_t keep_n = 0, drop_n = 0, old_n = ts->npacks;
    int rc = 0;
    cairn_file *nf = NULL;
    char *np = NULL, *pd = NULL;
    uint64_t off = 0;
    int *young;
    if (!(young = (int *)calloc(old_n ? old_n : 1, sizeof(int)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (size_t i = 0; i < old_n; i++) {
        struct stat st;
        char *pp = pack_path(ts, ts->pnum[i]);
        young[i] = !pp || stat(pp, &st) != 0 || (int64_t)st.st_mtime * 1000 > cutoff_ms;
        free(pp);
    }
    for (size_t i = 0; i < ts->cap; i++)
        if (ts->slots[i].used) {
            if (mark_has(m, &ts->slots[i].d) || young[ts->slots[i].pack]) keep_n++;
            else drop_n++;
        }
    if (drop_n == 0) goto out;
    if (!(pd = pathf("%s/packs", ts->dir)) || !(np = pack_path(ts, ts->next_num))) { rc = CAIRN_NOMEM; goto out; }
    if ((rc = cairn_io__open(&nf, np, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC)) != 0) goto out;
    /* copy the kept records in pack order (so a re-scan finds them as they were) */
    for (size_t p = 0; p < old_n && !rc; p++) {
        uint64_t o = 0;
        while (o < ts->ends[p] && !rc) {
            uint8_t h[PACK_HDR];
            dg d;
            uint32_t len;
            uint8_t *payload;
            if ((rc = cairn_io__pread(ts->packs[p], h, PACK_HDR, o, NULL)) != 0) break;
            len = cairn_get32(h + 5);
            memcpy(d.b, h + 9, 32);
            if (mark_has(m, &d) || young[p]) {
                if (!(payload = (uint8_t *)malloc(PACK_HDR + (size_t)len))) { rc = cairn_err__set(CAIRN_NOMEM, "out of memory"); break; }
                rc = cairn_io__pread(ts->packs[p], payload, PACK_HDR + (size_t)len, o, NULL);
                if (!rc) rc = r_pwrite(r, nf, payload, PACK_HDR + (size_t)len, off);
                free(payload);
                off += PACK_HDR + len;
            }
            o += PACK_HDR + len;
        }
    }
    if (!rc) rc = r_fsync(r, nf);
    cairn_io__close(nf);
    nf = NULL;
    if (rc) {
        cairn_err_saved s;
        cairn_err__save(&s);
        (void)cairn_io__unlink(np);
        rc = cairn_err__restore(&s);
        goto out;
    }
    /* the new pack is durable: the old ones can go (a crash in between leaves both: the objects
     * twice, which is harmless, and the next gc drops the old ones) */
    if ((rc = r_sync_dir(r, pd)) != 0) goto out;
    for (size_t p = 0; p < old_n && !rc; p++) {
        char *op = pack_path(ts, ts->pnum[p]);
        if (!op) { rc = CAIRN_NOMEM; break; }
        rc = cairn_io__unlink(op);
        free(op);
    }
    for (size_t p = 0; p < old_n; p++) pack_close(ts, p);
    ts->npacks = 0;
    if (!rc) rc = r_sync_dir(r, pd);
    /* index anew */
    free(ts->slots);
    ts->slots = NULL;
    ts->cap = ts->n = 0;
    if (!rc) rc = packs_refresh(ts);
    if (rc) r->failed = CAIRN_FAILED; /* the packs on disk are sound; this handle's view is not */
    if (!rc) *removed += drop_n;
out:
    if (nf) cairn_io__close(nf);
    free(young);
    free(np);
    free(pd);
    return rc;
}

static int repo_gc(cairn_repo *r, uint64_t grace_ms, uint64_t *removed) {
    char **names = NULL;
    size_t nt = 0;
    int rc;
    uint64_t total = 0;
    if ((rc = enter(r, "cairn_repo_gc", 1)) != 0) return rc;
    if (r->failed) { rc = cairn_err__failed("cairn_repo_gc", r->path); goto out; }
    if ((rc = tenant_names(r->path, &names, &nt)) != 0) goto out;
    for (size_t i = 0; i < nt && !rc; i++) {
        tstore *ts;
        mark m = {0};
        if (!names[i][0]) continue;
        if ((rc = tenant_open(r, names[i], &ts)) != 0) break;
        if ((rc = store_sync(r, ts)) != 0) break;
        /* mark first: a damaged store is reported, never swept */
        rc = mark_tenant(ts, &m);
        if (!rc) rc = tenant_gc(r, ts, &m, cairn_time__now_ms() - (int64_t)grace_ms, &total);
        mark_free(&m);
    }
out:
    cache_clear(r->cache); /* what the sweep removed must read as missing */
    cairn_io__list_free(names, nt);
    if (!rc && removed) *removed = total;
    leave(r);
    return rc;
}

int cairn_repo_verify(const char *path) {
    cairn_repo *r = NULL;
    cairn_repo_options o = CAIRN_REPO_OPTIONS_INIT;
    char **names = NULL;
    size_t nt = 0;
    int rc;
    if (!path) return cairn_err__set(CAIRN_INVALID, "cairn_repo_verify: NULL path");
    o.read_only = 1;
    o.create = 0;
    if ((rc = cairn_repo_open(&r, path, &o)) != 0) return rc;
    if ((rc = tenant_names(path, &names, &nt)) != 0) goto out;
    for (size_t i = 0; i < nt && !rc; i++) {
        tstore *ts;
        mark m = {0};
        if (!names[i][0]) continue;
        if ((rc = tenant_open(r, names[i], &ts)) != 0) break;
        /* every ref names a complete version (each object on the way read, so re-hashed) */
        rc = mark_tenant(ts, &m);
        /* every other object re-hashed */
        for (size_t k = 0; k < ts->cap && !rc; k++)
            if (ts->slots[k].used && !mark_has(&m, &ts->slots[k].d)) {
                int type;
                uint8_t *p = NULL;
                size_t n = 0;
                rc = obj_read(ts, &ts->slots[k].d, &type, &p, &n);
                free(p);
            }
        mark_free(&m);
    }
out:
    cairn_io__list_free(names, nt);
    cairn_repo_close(r);
    return rc;
}

static int repo_stats(cairn_repo *r, struct cairn_repo_stats *out) {
    struct cairn_repo_stats s;
    char **names = NULL;
    size_t nt = 0;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_repo_stats: NULL argument");
    if ((rc = cairn_stats__check(out->size, sizeof s, "cairn_repo_stats")) != 0) return rc;
    if ((rc = enter(r, "cairn_repo_stats", 0)) != 0) return rc;
    memset(&s, 0, sizeof s);
    if ((rc = tenant_names(r->path, &names, &nt)) != 0) goto out;
    for (size_t i = 0; i < nt && !rc; i++) {
        tstore *ts;
        if (!names[i][0]) continue;
        if ((rc = tenant_open(r, names[i], &ts)) != 0) break;
        s.tenants++;
        s.objects += ts->n;
        for (size_t p = 0; p < ts->npacks; p++) s.disk_bytes += ts->ends[p];
    }
    if (!rc) {
        s.size = (uint32_t)sizeof s;
        cairn_stats__copy(out, &s, sizeof s);
    }
out:
    cairn_io__list_free(names, nt);
    leave(r);
    return rc;
}

/* The path of the repository (the `store` label of cairn_repo_metrics; metrics.h). */
const char *cairn_repo__path(const cairn_repo *r) { return r->path; }

/* ------------------------------------------------------------------ counted entry points */

/* The public calls that take a handle: each counts its successful operations and, by code, the
 * errors it returned (cairn_repo_metrics). */
static int counted(cairn_repo *r, int rc) {
    if (rc < 0 && rc > -32 && r) count(&r->n_errors[-rc], 1);
    return rc;
}

int cairn_repo_init(cairn_repo *r, const char *tenant) {
    int rc = repo_init(r, tenant);
    return counted(r, rc);
}

int cairn_repo_tenants(cairn_repo *r, char **out) {
    int rc = repo_tenants(r, out);
    return counted(r, rc);
}

int cairn_repo_entries(cairn_repo *r, const char *tenant, char **out) {
    int rc = repo_entries(r, tenant, out);
    return counted(r, rc);
}

int cairn_repo_save(cairn_repo *r, const char *tenant, const char *user, const char *entry, const void *value,
                    size_t len, int kind, char *digest) {
    int rc = repo_save(r, tenant, user, entry, value, len, kind, digest);
    if (rc == 0) count(&r->n_saves, 1);
    return counted(r, rc);
}

int cairn_repo_load(cairn_repo *r, const char *tenant, const char *entry, const char *digest, void **value, size_t *len,
                    int *kind) {
    int rc = repo_load(r, tenant, entry, digest, value, len, kind);
    if (rc == 0) count(&r->n_loads, 1);
    return counted(r, rc);
}

int cairn_repo_exists(cairn_repo *r, const char *tenant, const char *entry) {
    int rc = repo_exists(r, tenant, entry);
    return counted(r, rc);
}

int cairn_repo_digest(cairn_repo *r, const char *tenant, const char *entry, char *digest) {
    int rc = repo_digest(r, tenant, entry, digest);
    return counted(r, rc);
}

int cairn_repo_put(cairn_repo *r, const char *tenant, const char *user, const char *entry, const void *key, size_t klen,
                   const void *value, size_t vlen, int kind, char *digest) {
    int rc = repo_put(r, tenant, user, entry, key, klen, value, vlen, kind, digest);
    if (rc == 0) count(&r->n_puts, 1);
    return counted(r, rc);
}

int cairn_repo_put_many(cairn_repo *r, const char *tenant, const char *user, const char *entry, size_t n,
                        const void *const *keys, const size_t *klens, const void *const *values, const size_t *vlens,
                        const int *kinds, char *digest) {
    int rc = repo_put_many(r, tenant, user, entry, n, keys, klens, values, vlens, kinds, digest);
    if (rc == 0) count(&r->n_puts, n);
    return counted(r, rc);
}

int cairn_repo_delete(cairn_repo *r, const char *tenant, const char *user, const char *entry, const void *key,
                      size_t klen, char *digest) {
    int rc = repo_delete(r, tenant, user, entry, key, klen, digest);
    if (rc == 0) count(&r->n_deletes, 1);
    return counted(r, rc);
}

int cairn_repo_get(cairn_repo *r, const char *tenant, const char *entry, const char *digest, const void *key,
                   size_t klen, void **value, size_t *vlen, int *kind) {
    int rc = repo_get(r, tenant, entry, digest, key, klen, value, vlen, kind);
    if (rc == 0) count(&r->n_gets, 1);
    return counted(r, rc);
}

int cairn_repo_count(cairn_repo *r, const char *tenant, const char *entry, const char *digest, uint64_t *out) {
    int rc = repo_count(r, tenant, entry, digest, out);
    return counted(r, rc);
}

int cairn_repo_iter_open(cairn_repo_iter **out, cairn_repo *r, const char *tenant, const char *entry,
                         const char *digest) {
    int rc = repo_iter_open(out, r, tenant, entry, digest);
    return counted(r, rc);
}

int cairn_repo_diff(cairn_repo *r, const char *tenant, const char *d1, const char *d2, char **out) {
    int rc = repo_diff(r, tenant, d1, d2, out);
    return counted(r, rc);
}

int cairn_repo_history(cairn_repo *r, const char *tenant, const char *entry, size_t max, char **out) {
    int rc = repo_history(r, tenant, entry, max, out);
    return counted(r, rc);
}

int cairn_repo_tag(cairn_repo *r, const char *tenant, const char *name, const char *digest) {
    int rc = repo_tag(r, tenant, name, digest);
    return counted(r, rc);
}

int cairn_repo_tag_get(cairn_repo *r, const char *tenant, const char *name, char *digest) {
    int rc = repo_tag_get(r, tenant, name, digest);
    return counted(r, rc);
}

int cairn_repo_gc(cairn_repo *r, uint64_t grace_ms, uint64_t *removed) {
    int rc = repo_gc(r, grace_ms, removed);
    return counted(r, rc);
}

int cairn_repo_stats(cairn_repo *r, struct cairn_repo_stats *out) {
    int rc = repo_stats(r, out);
    return counted(r, rc);
}

/* The operation counters of the handle (cairn_repo_metrics; metrics.h). */
void cairn_repo__counters(cairn_repo *r, cairn_repo_counters *c) {
    int i;
    c->saves = __atomic_load_n(&r->n_saves, __ATOMIC_RELAXED);
    c->loads = __atomic_load_n(&r->n_loads, __ATOMIC_RELAXED);
    c->puts = __atomic_load_n(&r->n_puts, __ATOMIC_RELAXED);
    c->deletes = __atomic_load_n(&r->n_deletes, __ATOMIC_RELAXED);
    c->gets = __atomic_load_n(&r->n_gets, __ATOMIC_RELAXED);
    c->objects = __atomic_load_n(&r->n_objects, __ATOMIC_RELAXED);
    c->written_bytes = __atomic_load_n(&r->n_written, __ATOMIC_RELAXED);
    c->fsyncs = __atomic_load_n(&r->n_fsyncs, __ATOMIC_RELAXED);
    for (i = 0; i < 32; i++) c->errors[i] = __atomic_load_n(&r->n_errors[i], __ATOMIC_RELAXED);
}

