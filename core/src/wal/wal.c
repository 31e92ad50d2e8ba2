/*
 * wal.c - the shared write-ahead log.
 *
 * FORMAT (version 1; all integers little-endian; CRC = CRC32C, Castagnoli, initial value 0)
 *
 * File header, 32 bytes at offset 0:
 *
 *   0   8  magic "CAIRNWAL"
 *   8   4  u32 version (1)
 *  12   4  u32 salt: random per log file, kept for its whole life; every record repeats it
 *  16  12  reserved, zero
 *  28   4  u32 CRC of bytes [0, 28)
 * The header is written once, when the file is created, and never rewritten.
 *
 * Then records, back to back, each a 32-byte header and its payload (no padding):
 *
 *   0   4  u32 CRC of bytes [4, 32) of this header followed by the payload
 *   4   4  u32 payload length (<= 0x7fffffff)
 *   8   8  u64 sequence number: strictly increasing through the file
 *  16   8  u64 transaction id (non-zero)
 *  24   1  u8  kind: 1 = data, 2 = commit
 *  25   1  u8  type: the engine's record type (1..255) for data, 0 for commit
 *  26   2  reserved, zero
 *  28   4  u32 salt (as in the file header)
 *  32   -  payload (commit records: none)
 *
 * A record is valid when it lies entirely inside the file, its kind/type/reserved fields are
 * legal, its salt matches, its CRC matches and its sequence number is above the previous valid
 * record's. A transaction is committed when a valid commit record for its id
 * exists; its data records are the valid data records with that id that precede the commit
 * record. The commit record's sequence number is the transaction's LSN: an engine stamps it into
 * its own file to know which transactions that file already holds.
 *
 * Sequence numbers never go backwards for a given engine file, across checkpoints and sessions:
 * within a session they continue across resets; an open continues after the last valid record,
 * and the engine raises that to its own file's LSN (cairn_wal__advance). A write that fails
 * gives its numbers back once its bytes are gone from the file (nothing written, or cut off),
 * so after a checkpoint at LSN L the next record in the file is L + 1: a log whose first record
 * is above L + 1 lacks changes that the engine's file does not have either.
 *
 * Recovery (at open): read records from offset 32 while they are valid. At the first invalid
 * record (offset X) look for any valid record starting after X (every byte offset is tried):
 *   - none: X is a torn tail (a write cut short by a crash, or space preallocated by the
 *     reserve); the file is truncated to X and synced (read-only opens, and opens with
 *     CAIRN_WAL_KEEP_TAIL, leave it: later appends overwrite it and a reset cuts it);
 *   - one:  the log is damaged before its end: CAIRN_CORRUPT "<file>: bad record at offset X".
 * A file shorter than its header (a crash while it was created) is re-initialised; a header with
 * a bad magic or CRC is CAIRN_CORRUPT, another version CAIRN_VERSION.
 * Replay hands every data record of every committed transaction (or of those whose LSN is above
 * a given one) to the engine in log order; records of uncommitted transactions are skipped.
 * Replay does not modify the log, so it is idempotent when the engine's records are (e.g. "write
 * these bytes at this offset").
 * Checkpoint (cairn_wal__reset), once the engine's own file holds everything and is synced:
 * truncate the file to its header and fsync it. A crash before that leaves the old log, all of
 * it already in the engine's file (its LSNs are <= the file's). Stale bytes from a failed write
 * are never followed by valid records: numbers are reused only once the stale bytes were cut
 * off, writes resume at the last good offset and a truncate cleans the rest.
 *
 * Space reserve (cairn_wal__set_reserve): the log keeps R bytes allocated (fallocate) past what
 * ordinary writes may use. A write that cannot allocate its bytes plus R fails with CAIRN_NOSPC
 * before anything is written; the records of the one transaction begun with
 * cairn_wal__begin_reserved (a change that frees space: a delete) may use the R bytes, so it can
 * be logged on a full disk. Preallocated bytes are zeros, i.e. a torn tail to a later open.
 *
 * Readers beside a live writer (read-only opens) never write; they may read the file while it
 * is appended to (a record cut short is a torn tail) or reset and re-appended (a mix of old and
 * new records can look damaged). cairn_wal_info reports the size and CRC32C of the bytes the open
 * read (image_size, image_crc): the engine reads the log again after building its view and
 * retries when they differ (appends and resets always change them: numbers never repeat), so a
 * log that changed under a reader is never reported as damaged.
 *
 * Group commit: commit writes the records (one pwrite for the buffered records), sync(seq)
 * waits until an fsync covers seq: the first waiter becomes the leader and fsyncs for all
 * records written so far; the others wait on a condition variable and are acknowledged by it.
 */
#include "wal.h"
#include "containers.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define WAL_MAGIC "CAIRNWAL"
#define WAL_VERSION 1u
#define RESERVE_CHUNK (256u * 1024u) /* grow the preallocation by at least this much */
#define KIND_DATA 1u
#define KIND_COMMIT 2u
#define HDR CAIRN_WAL_HEADER_SIZE
#define RHDR CAIRN_WAL_RECORD_HEADER_SIZE
#define BUF_MAX (256u * 1024u) /* buffered bytes before a write; larger payloads go direct */

struct cairn_wal {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cairn_file *f;
    char *path;
    int rdonly;
    int failed;            /* fatal error code (a failed fsync) or 0 */
    uint32_t salt;
    uint64_t alloc;        /* file bytes known allocated (size after the last reserve/truncate) */
    uint64_t reserve;      /* bytes kept allocated past what ordinary writes may use */
    uint64_t urgent_txid;  /* transaction allowed to write into the reserve (0: none) */
    int buf_ordinary;      /* buf holds a record of another transaction */
    uint64_t end;          /* file offset where the next write goes */
    uint64_t valid_end;    /* end of the valid records found at open (replay bound) */
    uint64_t next_seq;
    uint64_t next_txid;
    uint64_t written_seq;  /* highest seq whose bytes are in the file */
    uint64_t durable_seq;  /* highest seq covered by an fsync */
    int syncing;           /* a leader is in fsync */
    uint8_t *buf;          /* buffered records not yet written */
    size_t blen, bcap;
    uint64_t buf_seq;      /* highest seq in buf */
    uint64_t buf_first;    /* lowest seq in buf (when blen > 0) */
    uint64_t fsyncs;       /* fsyncs of the log file done by this handle (cairn_wal__fsyncs) */
};

/* ---- small helpers ------------------------------------------------------------------------ */

static void put_header(uint8_t h[HDR], uint32_t salt) {
    memset(h, 0, HDR);
    memcpy(h, WAL_MAGIC, 8);
    cairn_put32(h + 8, WAL_VERSION);
    cairn_put32(h + 12, salt);
    cairn_put32(h + 28, cairn_crc32c__update(0, h, 28));
}

static void put_rec_header(uint8_t h[RHDR], uint32_t len, uint64_t seq, uint64_t txid, unsigned kind,
                           unsigned type, uint32_t salt, const void *p1, size_t n1, const void *p2,
                           size_t n2) {
    uint32_t crc;
    cairn_put32(h + 4, len);
    cairn_put64(h + 8, seq);
    cairn_put64(h + 16, txid);
    h[24] = (uint8_t)kind;
    h[25] = (uint8_t)type;
    h[26] = h[27] = 0;
    cairn_put32(h + 28, salt);
    crc = cairn_crc32c__update(0, h + 4, RHDR - 4);
    if (n1) crc = cairn_crc32c__update(crc, p1, n1);
    if (n2) crc = cairn_crc32c__update(crc, p2, n2);
    cairn_put32(h, crc);
}

static uint32_t make_salt(void) {
    uint64_t x = cairn_time__mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)cairn_time__now_ms();
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (uint32_t)x | 1u;
}

/* ---- reading the log: a forward-only window -----------------------------------------------
 * Open and replay stream the file instead of reading it whole: bytes [0, n) are read once, in
 * order, RD_CHUNK at a time; the window holds [base, end) and only grows to hold one whole record
 * (its CRC is checked on the bytes in memory, and replay hands the payload out in place), so the
 * memory used is about the larger of 2 x RD_CHUNK and the largest record looked at, whatever the
 * size of the log. At open, crc is the CRC32C of [0, end): at its end the CRC of exactly the bytes
 * the scan judged (info.image_crc). */

#define RD_CHUNK (256u * 1024u)

typedef struct rd {
    cairn_file *f;
    uint64_t n;         /* bytes to read: [0, n) */
    uint8_t *buf;       /* bytes [base, end) of the file; those before keep are no longer needed */
    size_t cap;
    uint64_t base, keep, end;
    int image_crc;      /* keep crc (the open's image CRC; replay needs none) */
    uint32_t crc;       /* of [0, end) */
} rd;

static void rd_init(rd *r, cairn_file *f, uint64_t n, int image_crc) {
    memset(r, 0, sizeof *r);
    r->f = f;
    r->n = n;
    r->image_crc = image_crc;
}

static void rd_free(rd *r) {
    free(r->buf);
    r->buf = NULL;
}

/* The bytes before off are no longer needed (never past end: bytes not read yet are read in order
 * later). They are dropped by the next read that needs the room. */
static void rd_drop(rd *r, uint64_t off) {
    if (off > r->end) off = r->end;
    if (off > r->keep) r->keep = off;
}

/* Make [keep, upto) available, reading at least RD_CHUNK at a time; pointers into buf are valid
 * until the next rd_fill. upto past n, or a file that ends early (cut while it was read), is
 * CAIRN_CORRUPT. */
static int rd_fill(rd *r, uint64_t upto) {
    uint64_t want;
    size_t have, need;
    int rc;
    if (upto <= r->end) return 0;
    if (upto > r->n) /* a length read from the file points past what is read (it changed) */
        return cairn_err__set(CAIRN_CORRUPT, "%s: record past the end of the log", cairn_io__path(r->f));
    want = r->end + RD_CHUNK;
    if (want < upto) want = upto;
    if (want > r->n) want = r->n;
    if (want - r->keep > (uint64_t)SIZE_MAX / 4)
        return cairn_err__set(CAIRN_TOOBIG, "%s: log record too large", cairn_io__path(r->f));
    if (want - r->base > r->cap && r->keep > r->base) { /* make room: drop what is not needed */
        if (r->end > r->keep) memmove(r->buf, r->buf + (r->keep - r->base), (size_t)(r->end - r->keep));
        r->base = r->keep;
    }
    need = (size_t)(want - r->base);
    if (need > r->cap) {
        size_t nc = r->cap ? r->cap : RD_CHUNK;
        uint8_t *p;
        while (nc < need) nc *= 2;
        if (!(p = (uint8_t *)realloc(r->buf, nc)))
            return cairn_err__set(CAIRN_NOMEM, "%s: out of memory reading the log", cairn_io__path(r->f));
        r->buf = p;
        r->cap = nc;
    }
    have = (size_t)(r->end - r->base);
    if ((rc = cairn_io__pread(r->f, r->buf + have, need - have, r->end, NULL)) != 0) return rc;
    if (r->image_crc) r->crc = cairn_crc32c__update(r->crc, r->buf + have, need - have);
    r->end = want;
    return 0;
}

/* Read the rest of [0, n) (for the CRC of the whole image), keeping none of it. */
static int rd_finish(rd *r) {
    int rc;
    while (r->end < r->n) {
        rd_drop(r, r->end);
        if ((rc = rd_fill(r, r->end + 1)) != 0) return rc;
    }
    return 0;
}

/* Could a valid record start at `off` (its header h, file size n)? Every check but the CRC;
 * *len is the payload length. */
static int rec_hdr_ok(const uint8_t *h, uint64_t off, uint64_t n, uint32_t salt, uint64_t min_seq, uint32_t *len) {
    uint32_t l;
    if (off + RHDR > n) return 0;
    if (cairn_get32(h + 28) != salt) return 0;
    if (h[26] || h[27]) return 0;
    if (h[24] == KIND_DATA) {
        if (h[25] == 0) return 0;
    } else if (h[24] == KIND_COMMIT) {
        if (h[25] != 0 || cairn_get32(h + 4) != 0) return 0;
    } else {
        return 0;
    }
    l = cairn_get32(h + 4);
    if (l > CAIRN_WAL_PAYLOAD_MAX || (uint64_t)l > n - off - RHDR) return 0;
    if (cairn_get64(h + 8) < min_seq || cairn_get64(h + 16) == 0) return 0;
    *len = l;
    return 1;
}

typedef struct txcommit {
    uint64_t txid, seq; /* a committed transaction and its commit record's sequence number */
} txcommit;

typedef struct scan_result {
    uint64_t end;        /* end of the valid prefix */
    uint64_t first_seq;  /* of the first valid record (0: none) */
    uint64_t last_seq;
    uint64_t last_commit;
    uint64_t max_txid;
    uint64_t records;
    txcommit *committed; /* sorted by txid (malloc'd) */
    size_t ncommitted;
} scan_result;

static int cmp_tx(const void *a, const void *b) {
    uint64_t x = ((const txcommit *)a)->txid, y = ((const txcommit *)b)->txid;
    return x < y ? -1 : x > y;
}

/* A record that may start after the first invalid one: its CRC is computed as its bytes come
 * through the window. */
typedef struct cand {
    uint64_t start, end, done; /* [start, end) is the record; bytes before done are in crc */
    uint32_t crc, want;
} cand;

/* Feed the candidates the bytes they lack that the window holds; 1 if one turned out valid
 * (*found: where it starts). */
static int feed_cands(rd *r, cand *cs, size_t *nc, uint64_t *found) {
    size_t i = 0;
    while (i < *nc) {
        cand *c = &cs[i];
        uint64_t to = c->end < r->end ? c->end : r->end;
        if (to > c->done) {
            c->crc = cairn_crc32c__update(c->crc, r->buf + (c->done - r->base), (size_t)(to - c->done));
            c->done = to;
        }
        if (c->done == c->end) {
            if (c->crc == c->want) {
                *found = c->start;
                return 1;
            }
            cs[i] = cs[--*nc];
            continue;
        }
        i++;
    }
    return 0;
}

/* After the valid records end at `from` (< n): a torn tail (0) or damage (CAIRN_CORRUPT), decided
 * by whether a valid record starts at any later byte offset (the window is at `from`). */
static int tail_search(rd *r, const char *path, uint64_t from, uint32_t salt, uint64_t min_seq) {
    cand *cs = NULL;
    size_t nc = 0, capc = 0;
    uint64_t p, found = 0;
    int rc = 0;
    for (p = from + 1; p + RHDR <= r->n; p++) {
        const uint8_t *h;
        uint32_t l;
        uint64_t before = r->end;
        if ((rc = rd_fill(r, p + RHDR)) != 0) break;
        if (r->end != before && feed_cands(r, cs, &nc, &found)) break;
        h = r->buf + (p - r->base);
        if (rec_hdr_ok(h, p, r->n, salt, min_seq, &l)) {
            cand *c = (cand *)cairn_arr__grow(cs, &capc, nc + 1, sizeof *cs);
            if (!c) {
                rc = CAIRN_NOMEM;
                break;
            }
            cs = c;
            c = &cs[nc++];
            c->start = p;
            c->end = p + RHDR + l;
            c->done = p + RHDR;
            c->crc = cairn_crc32c__update(0, h + 4, RHDR - 4);
            c->want = cairn_get32(h);
            if (feed_cands(r, cs, &nc, &found)) break;
        }
        rd_drop(r, p); /* every candidate has consumed the bytes before p already */
    }
    if (!rc && p + RHDR <= r->n)
        rc = cairn_err__set(CAIRN_CORRUPT, "%s: bad record at offset %llu (valid records follow at %llu)", path,
                            (unsigned long long)from, (unsigned long long)found);
    free(cs);
    return rc;
}

/* Validate the records of [HDR, n) through the window (header already checked, window at HDR).
 * CAIRN_CORRUPT if a bad record is followed by a valid one. */
static int scan_stream(rd *r, const char *path, uint32_t salt, scan_result *res) {
    uint64_t off = HDR;
    size_t cap = 0;
    int rc = 0;
    memset(res, 0, sizeof *res);
    for (;;) {
        const uint8_t *h;
        uint32_t len;
        uint64_t seq, txid;
        if (off + RHDR > r->n) break;
        if ((rc = rd_fill(r, off + RHDR)) != 0) goto fail;
        if (!rec_hdr_ok(r->buf + (off - r->base), off, r->n, salt, res->last_seq + 1, &len)) break;
        if ((rc = rd_fill(r, off + RHDR + len)) != 0) goto fail;
        h = r->buf + (off - r->base);
        if (cairn_crc32c__update(0, h + 4, RHDR - 4 + (size_t)len) != cairn_get32(h)) break;
        seq = cairn_get64(h + 8);
        txid = cairn_get64(h + 16);
        if (!res->records) res->first_seq = seq;
        res->records++;
        res->last_seq = seq;
        if (txid > res->max_txid) res->max_txid = txid;
        if (h[24] == KIND_COMMIT) {
            txcommit *p = (txcommit *)cairn_arr__grow(res->committed, &cap, res->ncommitted + 1, sizeof *p);
            if (!p) {
                rc = CAIRN_NOMEM;
                goto fail;
            }
            res->committed = p;
            res->committed[res->ncommitted].txid = txid;
            res->committed[res->ncommitted++].seq = seq;
            res->last_commit = seq;
        }
        off += RHDR + len;
        rd_drop(r, off);
    }
    res->end = off;
    /* damaged before the end, or a torn tail? any valid later record decides */
    if (off < r->n && (rc = tail_search(r, path, off, salt, res->last_seq + 1)) != 0) goto fail;
    if (res->ncommitted) qsort(res->committed, res->ncommitted, sizeof(txcommit), cmp_tx);
    return 0;
fail:
    free(res->committed);
    res->committed = NULL;
    return rc;
}

static int check_header(const char *path, const uint8_t *h) {
    if (memcmp(h, WAL_MAGIC, 8) != 0)
        return cairn_err__set(CAIRN_CORRUPT, "%s: not a Cairn write-ahead log (bad magic)", path);
    if (cairn_crc32c__update(0, h, 28) != cairn_get32(h + 28))
        return cairn_err__set(CAIRN_CORRUPT, "%s: bad header checksum at offset 0", path);
    if (cairn_get32(h + 8) != WAL_VERSION)
        return cairn_err__set(CAIRN_VERSION, "%s: unsupported log version %u", path,
                              (unsigned)cairn_get32(h + 8));
    return 0;
}

/* Create a fresh log file durably (header only). */
static int create_file(const char *path) {
    uint8_t h[HDR];
    put_header(h, make_salt());
    return cairn_io__write_atomic(path, h, HDR);
}

/* ---- open / close ------------------------------------------------------------------------- */

int cairn_wal__open(cairn_wal **out, const char *path, int flags, cairn_wal_info *info) {
    cairn_wal *w = NULL;
    rd r;
    uint64_t n = 0;
    scan_result sr;
    int rc, st, created = 0, rdonly = (flags & CAIRN_WAL_RDONLY) != 0;
    memset(&sr, 0, sizeof sr);
    memset(&r, 0, sizeof r);
    if (!out || !path) return cairn_err__set(CAIRN_INVALID, "cairn_wal__open: NULL argument");
    *out = NULL;
    if (info) memset(info, 0, sizeof *info);
    st = cairn_io__stat(path, &n);
    if (st < 0) return st;
    if (st == 2) return cairn_err__set(CAIRN_PATH, "%s: is a directory", path);
    if (st == 0 || (n < HDR && !rdonly)) {
        /* Missing, or cut short while being created (nothing was ever committed in it). */
        if (st == 0 && !(flags & CAIRN_WAL_CREATE)) return cairn_err__set(CAIRN_PATH, "%s: no such log", path);
        if (rdonly) return cairn_err__set(CAIRN_PATH, "%s: no such log", path);
        if ((rc = create_file(path)) != 0) return rc;
        created = 1;
    }
    if (!(w = (cairn_wal *)calloc(1, sizeof *w))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->rdonly = rdonly;
    if (!(w->path = cairn_str__dup(path))) {
        rc = CAIRN_NOMEM;
        goto fail;
    }
    if ((rc = cairn_io__open(&w->f, path, rdonly ? CAIRN_IO_RDONLY : CAIRN_IO_RDWR)) != 0) goto fail;
    if ((rc = cairn_io__size(w->f, &n)) != 0) goto fail;
    rd_init(&r, w->f, n, 1);
    w->alloc = n;
    if (n < HDR) {
        /* read-only view of a log cut short at creation: empty */
        w->salt = 0;
        w->end = w->valid_end = n;
    } else {
        if ((rc = rd_fill(&r, HDR)) != 0 || (rc = check_header(path, r.buf)) != 0) goto fail;
        w->salt = cairn_get32(r.buf + 12);
        rd_drop(&r, HDR);
        if ((rc = scan_stream(&r, path, w->salt, &sr)) != 0) goto fail;
        w->end = w->valid_end = sr.end;
        if (sr.end < n && !rdonly && !(flags & CAIRN_WAL_KEEP_TAIL)) {
            /* drop the torn tail durably, so later appends never sit behind garbage */
            if ((rc = cairn_io__truncate(w->f, sr.end)) != 0) goto fail;
            w->fsyncs++;
            if ((rc = cairn_io__fsync(w->f)) != 0) goto fail;
            w->alloc = sr.end;
        }
    }
    if ((rc = rd_finish(&r)) != 0) goto fail; /* the whole image, for its CRC */
    w->next_seq = sr.last_seq + 1;
    w->written_seq = w->durable_seq = sr.last_seq;
    w->next_txid = sr.max_txid + 1;
    if (info) {
        info->records = sr.records;
        info->committed = sr.ncommitted;
        info->torn_bytes = n > w->end ? n - w->end : 0;
        info->end = w->end;
        info->first_seq = sr.first_seq;
        info->last_seq = sr.last_seq;
        info->last_commit = sr.last_commit;
        info->salt = w->salt;
        info->created = created;
        info->image_size = n;
        info->image_crc = r.crc;
    }
    free(sr.committed);
    rd_free(&r);
    *out = w;
    return 0;
fail:
    free(sr.committed);
    rd_free(&r);
    cairn_wal__close(w);
    return rc;
}

void cairn_wal__close(cairn_wal *w) {
    if (!w) return;
    cairn_io__close(w->f);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->buf);
    free(w->path);
    free(w);
}

/* ---- replay ------------------------------------------------------------------------------- */

int cairn_wal__replay_after(cairn_wal *w, uint64_t after, cairn_wal_apply_fn fn, void *ctx) {
    rd r;
    uint64_t n = 0, off, prev = 0;
    scan_result sr;
    int rc;
    if (!w || !fn) return cairn_err__set(CAIRN_INVALID, "cairn_wal__replay: NULL argument");
    memset(&sr, 0, sizeof sr);
    memset(&r, 0, sizeof r);
    pthread_mutex_lock(&w->mu);
    if ((rc = cairn_io__size(w->f, &n)) != 0) goto out;
    if (n > w->end) n = w->end; /* ignore a torn tail a read-only open left in place */
    if (n < HDR) goto out;
    /* first pass: which transactions are committed */
    rd_init(&r, w->f, n, 0);
    if ((rc = rd_fill(&r, HDR)) != 0) goto out;
    rd_drop(&r, HDR);
    if ((rc = scan_stream(&r, w->path, w->salt, &sr)) != 0) goto out;
    rd_free(&r);
    /* second pass: hand out their data records in log order (each checked again: a reader's log
     * may change between the passes) */
    rd_init(&r, w->f, sr.end, 0);
    if ((rc = rd_fill(&r, HDR)) != 0) goto out;
    rd_drop(&r, HDR);
    off = HDR;
    while (off < sr.end) {
        const uint8_t *h;
        uint32_t len;
        txcommit key, *c;
        if ((rc = rd_fill(&r, off + RHDR)) != 0) goto out;
        len = cairn_get32(r.buf + (off - r.base) + 4);
        if ((uint64_t)len > sr.end - off - RHDR) goto changed;
        if ((rc = rd_fill(&r, off + RHDR + len)) != 0) goto out;
        h = r.buf + (off - r.base);
        if (cairn_crc32c__update(0, h + 4, RHDR - 4 + (size_t)len) != cairn_get32(h) || cairn_get64(h + 8) <= prev)
            goto changed;
        prev = cairn_get64(h + 8);
        key.txid = cairn_get64(h + 16);
        key.seq = 0;
        if (h[24] == KIND_DATA && sr.ncommitted &&
            (c = (txcommit *)bsearch(&key, sr.committed, sr.ncommitted, sizeof(txcommit), cmp_tx)) != NULL &&
            c->seq > after && prev < c->seq) {
            if ((rc = fn(ctx, key.txid, h[25], h + RHDR, len, prev)) != 0) goto out;
        }
        off += RHDR + len;
        rd_drop(&r, off);
    }
    goto out;
changed:
    rc = cairn_err__set(CAIRN_CORRUPT, "%s: the log changed while it was replayed (offset %llu)", w->path,
                        (unsigned long long)off);
out:
    pthread_mutex_unlock(&w->mu);
    free(sr.committed);
    rd_free(&r);
    return rc;
}

int cairn_wal__replay(cairn_wal *w, cairn_wal_apply_fn fn, void *ctx) {
    return cairn_wal__replay_after(w, 0, fn, ctx);
}

/* ---- append / commit ---------------------------------------------------------------------- */

static int check_writable(cairn_wal *w) {
    if (w->failed) return cairn_err__set(CAIRN_FAILED, "%s: log failed after a fatal I/O error", w->path);
    if (w->rdonly) return cairn_err__set(CAIRN_READONLY, "%s: log opened read-only", w->path);
    return 0;
}

/* A write failed: forget the buffer, put the end back to the last good offset and cut off
 * whatever part of the failed write reached the file. */
static int write_failed(cairn_wal *w, uint64_t good_end, uint64_t first_seq, int rc) {
    cairn_err_saved saved;
    cairn_err__save(&saved);
    w->blen = 0;
    w->buf_ordinary = 0;
    w->end = good_end;
    if (cairn_io__truncate(w->f, good_end) != 0) {
        /* The garbage stays; later writes start at good_end and overwrite it, and a torn tail
         * after them is dropped at open. Not fatal. */
    } else {
        /* no byte of the failed records is left: their numbers can be used again, so the log
         * has no hole in its numbering (see the FORMAT comment) */
        if (w->alloc > good_end) w->alloc = good_end;
        w->next_seq = first_seq;
    }
    return cairn_err__restore_as(&saved, rc);
}

/* Make sure [.., end + len) is allocated, plus the reserve unless only the urgent transaction
 * writes (ordinary). ENOSPC here means nothing was written. */
static int ensure_space(cairn_wal *w, uint64_t len, int ordinary) {
    uint64_t need = w->end + len + (ordinary ? w->reserve : 0), grow;
    int rc;
    if (!w->reserve || need <= w->alloc) return 0; /* no reserve kept: plain appends */
    grow = need - w->alloc;
    if (len && grow < RESERVE_CHUNK) grow = RESERVE_CHUNK; /* writes: fewer, larger steps */
    if (cairn_io__reserve(w->f, w->alloc, grow) == 0) {
        w->alloc += grow;
        return 0;
    }
    if ((rc = cairn_io__reserve(w->f, w->alloc, need - w->alloc)) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        return cairn_err__set(rc, "%s (the log keeps %llu bytes for deletes)", msg, (unsigned long long)w->reserve);
    }
    w->alloc = need;
    return 0;
}

static int flush_buf(cairn_wal *w) {
    int rc;
    if (!w->blen) return 0;
    if ((rc = ensure_space(w, w->blen, w->buf_ordinary)) != 0) {
        w->blen = 0; /* nothing was written: the numbers are free again */
        w->buf_ordinary = 0;
        w->next_seq = w->buf_first;
        return rc;
    }
    w->buf_ordinary = 0;
    rc = cairn_io__pwrite(w->f, w->buf, w->blen, w->end);
    if (rc) return write_failed(w, w->end, w->buf_first, rc);
    w->end += w->blen;
    if (w->end > w->alloc) w->alloc = w->end;
    w->blen = 0;
    w->written_seq = w->buf_seq;
    return 0;
}

static int buf_reserve(cairn_wal *w, size_t more) {
    if (w->blen + more > w->bcap) {
        size_t nc = w->bcap ? w->bcap : 4096;
        uint8_t *p;
        while (nc < w->blen + more) nc *= 2;
        if (!(p = (uint8_t *)realloc(w->buf, nc))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        w->buf = p;
        w->bcap = nc;
    }
    return 0;
}

uint64_t cairn_wal__begin(cairn_wal *w) {
    uint64_t t;
    pthread_mutex_lock(&w->mu);
    t = w->next_txid++;
    pthread_mutex_unlock(&w->mu);
    return t;
}

uint64_t cairn_wal__begin_reserved(cairn_wal *w) {
    uint64_t t;
    pthread_mutex_lock(&w->mu);
    t = w->next_txid++;
    w->urgent_txid = t;
    pthread_mutex_unlock(&w->mu);
    return t;
}

static int append_locked(cairn_wal *w, uint64_t txid, unsigned kind, unsigned type, const void *p1,
                         size_t n1, const void *p2, size_t n2, uint64_t *seq_out) {
    uint8_t h[RHDR];
    uint64_t seq;
    size_t len = n1 + n2;
    int rc;
    if ((rc = check_writable(w)) != 0) return rc;
    if (txid == 0 || (kind == KIND_DATA && (type == 0 || type > 255)))
        return cairn_err__set(CAIRN_INVALID, "%s: bad transaction id or record type", w->path);
    if (len > CAIRN_WAL_PAYLOAD_MAX || len < n1)
        return cairn_err__set(CAIRN_TOOBIG, "%s: record of %zu bytes is too large", w->path, len);
    seq = w->next_seq++;
    put_rec_header(h, (uint32_t)len, seq, txid, kind, type, w->salt, p1, n1, p2, n2);
    if (w->blen + RHDR + len > BUF_MAX && (rc = flush_buf(w)) != 0) return rc;
    if (RHDR + len > BUF_MAX) {
        /* large payload: write header and parts straight to the file */
        uint64_t start = w->end;
        if ((rc = ensure_space(w, RHDR + len, txid != w->urgent_txid)) != 0) {
            w->next_seq = seq;
            return rc;
        }
        if ((rc = cairn_io__pwrite(w->f, h, RHDR, start)) != 0 ||
            (n1 && (rc = cairn_io__pwrite(w->f, p1, n1, start + RHDR)) != 0) ||
            (n2 && (rc = cairn_io__pwrite(w->f, p2, n2, start + RHDR + n1)) != 0))
            return write_failed(w, start, seq, rc);
        w->end = start + RHDR + len;
        if (w->end > w->alloc) w->alloc = w->end;
        w->written_seq = seq;
    } else {
        if ((rc = buf_reserve(w, RHDR + len)) != 0) return rc;
        if (!w->blen) w->buf_first = seq;
        memcpy(w->buf + w->blen, h, RHDR);
        if (n1) memcpy(w->buf + w->blen + RHDR, p1, n1);
        if (n2) memcpy(w->buf + w->blen + RHDR + n1, p2, n2);
        w->blen += RHDR + len;
        w->buf_seq = seq;
        if (txid != w->urgent_txid) w->buf_ordinary = 1;
    }
    if (seq_out) *seq_out = seq;
    return 0;
}

int cairn_wal__append2(cairn_wal *w, uint64_t txid, unsigned type, const void *p1, size_t n1,
                       const void *p2, size_t n2) {
    int rc;
    if (!w || (!p1 && n1) || (!p2 && n2)) return cairn_err__set(CAIRN_INVALID, "cairn_wal__append: NULL argument");
    pthread_mutex_lock(&w->mu);
    rc = append_locked(w, txid, KIND_DATA, type, p1, n1, p2, n2, NULL);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int cairn_wal__append(cairn_wal *w, uint64_t txid, unsigned type, const void *payload, size_t len) {
    return cairn_wal__append2(w, txid, type, payload, len, NULL, 0);
}

int cairn_wal__commit(cairn_wal *w, uint64_t txid, uint64_t *seq) {
    uint64_t s = 0;
    int rc;
    if (!w) return cairn_err__set(CAIRN_INVALID, "cairn_wal__commit: NULL argument");
    pthread_mutex_lock(&w->mu);
    rc = append_locked(w, txid, KIND_COMMIT, 0, NULL, 0, NULL, 0, &s);
    if (!rc) rc = flush_buf(w);
    if (txid == w->urgent_txid) w->urgent_txid = 0;
    pthread_mutex_unlock(&w->mu);
    if (!rc && seq) *seq = s;
    return rc;
}

int cairn_wal__sync(cairn_wal *w, uint64_t seq) {
    int rc = 0;
    if (!w) return cairn_err__set(CAIRN_INVALID, "cairn_wal__sync: NULL argument");
    pthread_mutex_lock(&w->mu);
    if (w->rdonly) goto out;
    if (seq == 0 || seq > w->written_seq) {
        if ((rc = check_writable(w)) != 0 || (rc = flush_buf(w)) != 0) goto out;
        seq = w->written_seq;
    }
    while (w->durable_seq < seq) {
        uint64_t target;
        if (w->failed) {
            rc = check_writable(w);
            goto out;
        }
        if (w->syncing) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        /* leader: one fsync acknowledges everything written so far */
        w->syncing = 1;
        target = w->written_seq;
        w->fsyncs++;
        pthread_mutex_unlock(&w->mu);
        rc = cairn_io__fsync(w->f);
        pthread_mutex_lock(&w->mu);
        w->syncing = 0;
        if (rc) {
            w->failed = CAIRN_FAILED;
            pthread_cond_broadcast(&w->cv);
            goto out;
        }
        if (target > w->durable_seq) w->durable_seq = target;
        pthread_cond_broadcast(&w->cv);
    }
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int cairn_wal__reset(cairn_wal *w) {
    int rc;
    if (!w) return cairn_err__set(CAIRN_INVALID, "cairn_wal__reset: NULL argument");
    pthread_mutex_lock(&w->mu);
    while (w->syncing) pthread_cond_wait(&w->cv, &w->mu);
    if ((rc = check_writable(w)) != 0) goto out;
    w->blen = 0;
    w->buf_ordinary = 0;
    if (w->end != HDR || w->valid_end != HDR || w->alloc > HDR + w->reserve) { /* keep an empty log's reserve */
        if ((rc = cairn_io__truncate(w->f, HDR)) != 0) goto out;
        w->alloc = HDR;
        w->fsyncs++;
        if ((rc = cairn_io__fsync(w->f)) != 0) {
            w->failed = CAIRN_FAILED;
            goto out;
        }
    }
    w->end = w->valid_end = HDR;
    w->durable_seq = w->written_seq = w->next_seq - 1;
    if (w->reserve) (void)ensure_space(w, 0, 1); /* best effort: appends retry it */
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void cairn_wal__advance(cairn_wal *w, uint64_t seq) {
    pthread_mutex_lock(&w->mu);
    if (seq >= w->next_seq) {
        w->next_seq = seq + 1;
        /* nothing written and not yet synced: the skipped numbers count as durable */
        if (!w->blen && w->written_seq == w->durable_seq) w->durable_seq = w->written_seq = seq;
    }
    pthread_mutex_unlock(&w->mu);
}

int cairn_wal__set_reserve(cairn_wal *w, uint64_t bytes) {
    int rc = 0;
    if (!w) return cairn_err__set(CAIRN_INVALID, "cairn_wal__set_reserve: NULL argument");
    pthread_mutex_lock(&w->mu);
    if ((rc = check_writable(w)) == 0) {
        w->reserve = bytes;
        if (bytes) rc = ensure_space(w, 0, 1);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

uint32_t cairn_wal__salt(cairn_wal *w) { return w ? w->salt : 0; }

uint64_t cairn_wal__fsyncs(cairn_wal *w) {
    uint64_t n;
    if (!w) return 0;
    pthread_mutex_lock(&w->mu);
    n = w->fsyncs;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* ---- introspection ------------------------------------------------------------------------ */

uint64_t cairn_wal__size(cairn_wal *w) {
    uint64_t n;
    if (!w) return 0;
    pthread_mutex_lock(&w->mu);
    n = w->end + w->blen;
    pthread_mutex_unlock(&w->mu);
    return n;
}

uint64_t cairn_wal__last_seq(cairn_wal *w) {
    uint64_t n;
    pthread_mutex_lock(&w->mu);
    n = w->next_seq - 1;
    pthread_mutex_unlock(&w->mu);
    return n;
}

uint64_t cairn_wal__durable_seq(cairn_wal *w) {
    uint64_t n;
    pthread_mutex_lock(&w->mu);
    n = w->durable_seq;
    pthread_mutex_unlock(&w->mu);
    return n;
}

int cairn_wal__failed(cairn_wal *w) {
    int n;
    pthread_mutex_lock(&w->mu);
    n = w->failed;
    pthread_mutex_unlock(&w->mu);
    return n;
}

int cairn_wal__check(const char *path, cairn_wal_info *info) {
    cairn_wal *w = NULL;
    int rc, st;
    uint64_t size;
    if (!path) return cairn_err__set(CAIRN_INVALID, "cairn_wal__check: NULL argument");
    if (info) memset(info, 0, sizeof *info);
    st = cairn_io__stat(path, &size);
    if (st < 0) return st;
    if (st == 0) return 0;
    rc = cairn_wal__open(&w, path, CAIRN_WAL_RDONLY, info);
    cairn_wal__close(w);
    return rc;
}
