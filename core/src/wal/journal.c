/*
 * journal.c - journaled writes to one data file over the shared write-ahead log (journal.h).
 *
 * The pending queue q[s, n) holds records not yet in the data file; q[i] has id base + i.
 * Records below s were applied (their buffers freed); the queue starts over (base += n) once
 * everything in it is applied, so ids and marks stay valid across it.
 */
#include "journal.h"

#include "cairn.h"
#include "containers.h"

#include <stdlib.h>
#include <string.h>

typedef struct jrec {
    unsigned type;  /* CAIRN_JNL_REC_WRITE / _TRUNC */
    int committed;  /* in the log with its commit record */
    uint64_t seq;   /* commit sequence number */
    uint8_t *buf;   /* the log payload: u64 offset (or size), then the bytes */
    size_t blen;
    const uint8_t *ext; /* borrowed bytes that follow buf in the payload (cairn_jnl__write_ext;
                           NULL: none) until cairn_jnl__own copies them */
    size_t elen;
} jrec;

typedef struct ovrec { /* the overlay: committed log records not (yet) in the data file */
    unsigned type;
    uint64_t off; /* write offset, or truncate size */
    uint8_t *data;
    size_t len;
} ovrec;

struct cairn_jnl {
    cairn_jnl_ops ops;
    void *ctx;
    char *log_name;      /* for messages */
    cairn_wal *wal;
    cairn_file *f;
    uint64_t lsn;        /* LSN stamped in the data file (as last written) */
    int fatal;
    jrec *q;
    size_t s, n, cap;
    uint64_t base;
    ovrec *ov;
    size_t nov, capov;
    uint64_t ov_lo;      /* lowest offset past the header that the overlay touches */
    uint8_t *map;        /* a shared writable mapping of the data file's [0, maplen) whose blocks
                            are allocated (cairn_jnl__set_map): apply stores into it */
    uint64_t maplen;
    size_t nborrowed;    /* records in q holding borrowed bytes */
    uint64_t logged;     /* bytes of records committed to the log (cairn_jnl__logged) */
    uint64_t fsyncs;     /* fsyncs of the data file by checkpoints */
};

int cairn_jnl__open(cairn_jnl **out, const cairn_jnl_ops *ops, void *ctx, const char *log_name) {
    cairn_jnl *j = (cairn_jnl *)calloc(1, sizeof *j);
    *out = NULL;
    if (!j) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    j->ops = *ops;
    j->ctx = ctx;
    if (!(j->log_name = cairn_str__dup(log_name ? log_name : "write-ahead log"))) {
        free(j);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    j->base = 1; /* id 0 means "none" */
    j->ov_lo = UINT64_MAX;
    *out = j;
    return 0;
}

void cairn_jnl__drop_overlay(cairn_jnl *j) {
    size_t i;
    for (i = 0; i < j->nov; i++) free(j->ov[i].data);
    free(j->ov);
    j->ov = NULL;
    j->nov = j->capov = 0;
    j->ov_lo = UINT64_MAX;
}

void cairn_jnl__close(cairn_jnl *j) {
    size_t i;
    if (!j) return;
    for (i = j->s; i < j->n; i++) free(j->q[i].buf);
    free(j->q);
    cairn_jnl__drop_overlay(j);
    free(j->log_name);
    free(j);
}

void cairn_jnl__bind(cairn_jnl *j, cairn_wal *w, cairn_file *f, void *ctx) {
    j->wal = w;
    j->f = f;
    j->ctx = ctx;
}

/* ---- pending records ---------------------------------------------------------------------- */

/* Queue a record over buf (taken: freed on failure too). */
static int push(cairn_jnl *j, unsigned type, uint8_t *buf, size_t blen, uint64_t *id) {
    jrec *p;
    if (j->n == j->cap) {
        if (!(p = (jrec *)cairn_arr__grow(j->q, &j->cap, j->n + 1, sizeof *p))) {
            free(buf);
            return CAIRN_NOMEM;
        }
        j->q = p;
    }
    p = &j->q[j->n];
    p->type = type;
    p->committed = 0;
    p->seq = 0;
    p->buf = buf;
    p->blen = blen;
    p->ext = NULL;
    p->elen = 0;
    if (id) *id = j->base + j->n;
    j->n++;
    return 0;
}

uint8_t *cairn_jnl__write_buf(cairn_jnl *j, uint64_t off, size_t len, uint64_t *id) {
    uint8_t *buf = (uint8_t *)malloc(8 + len);
    if (!buf) {
        cairn_err__set(CAIRN_NOMEM, "journal: out of memory for %zu bytes", len);
        return NULL;
    }
    cairn_put64(buf, off);
    if (push(j, CAIRN_JNL_REC_WRITE, buf, 8 + len, id) != 0) {
        cairn_err__set(CAIRN_NOMEM, "journal: out of memory");
        return NULL;
    }
    return buf + 8;
}

int cairn_jnl__write(cairn_jnl *j, uint64_t off, const void *p1, size_t n1, const void *p2, size_t n2,
                     uint64_t *id) {
    uint8_t *p = cairn_jnl__write_buf(j, off, n1 + n2, id);
    if (!p) return CAIRN_NOMEM;
    if (n1) memcpy(p, p1, n1);
    if (n2) memcpy(p + n1, p2, n2);
    return 0;
}

int cairn_jnl__write_ext(cairn_jnl *j, uint64_t off, const void *head, size_t hlen, const void *ext, size_t elen,
                         uint64_t *id) {
    uint8_t *p = cairn_jnl__write_buf(j, off, hlen, id);
    jrec *r;
    if (!p) return CAIRN_NOMEM;
    if (hlen) memcpy(p, head, hlen);
    if (elen) {
        r = &j->q[j->n - 1];
        r->ext = (const uint8_t *)ext;
        r->elen = elen;
        j->nborrowed++;
    }
    return 0;
}

int cairn_jnl__own(cairn_jnl *j) {
    size_t i;
    for (i = j->s; i < j->n && j->nborrowed; i++) {
        jrec *r = &j->q[i];
        uint8_t *nb;
        if (!r->ext) continue;
        if (!(nb = (uint8_t *)realloc(r->buf, r->blen + r->elen)))
            return cairn_err__set(CAIRN_NOMEM, "journal: out of memory for %zu bytes", r->blen + r->elen);
        memcpy(nb + r->blen, r->ext, r->elen);
        r->buf = nb;
        r->blen += r->elen;
        r->ext = NULL;
        r->elen = 0;
        j->nborrowed--;
    }
    return 0;
}

int cairn_jnl__truncate(cairn_jnl *j, uint64_t size) {
    uint8_t *buf = (uint8_t *)malloc(8);
    if (!buf) return cairn_err__set(CAIRN_NOMEM, "journal: out of memory");
    cairn_put64(buf, size);
    return push(j, CAIRN_JNL_REC_TRUNC, buf, 8, NULL);
}

uint64_t cairn_jnl__mark(const cairn_jnl *j) { return j->base + j->n; }

void cairn_jnl__undo_to(cairn_jnl *j, uint64_t mark) {
    while (j->n > j->s && j->base + j->n > mark && !j->q[j->n - 1].committed) {
        j->n--;
        if (j->q[j->n].ext) j->nborrowed--;
        free(j->q[j->n].buf);
        j->q[j->n].buf = NULL;
        j->q[j->n].ext = NULL;
    }
}

const uint8_t *cairn_jnl__pending(const cairn_jnl *j, uint64_t id, size_t *len) {
    const jrec *p;
    if (!id || id < j->base + j->s || id >= j->base + j->n) return NULL;
    p = &j->q[id - j->base];
    if (len) *len = p->blen - 8;
    return p->buf + 8;
}

const uint8_t *cairn_jnl__pending_ext(const cairn_jnl *j, uint64_t id, size_t *len) {
    const jrec *p;
    if (len) *len = 0;
    if (!id || id < j->base + j->s || id >= j->base + j->n) return NULL;
    p = &j->q[id - j->base];
    if (len) *len = p->elen;
    return p->ext;
}

size_t cairn_jnl__unapplied(const cairn_jnl *j) { return j->n - j->s; }

/* ---- commit, apply, checkpoint ------------------------------------------------------------ */

int cairn_jnl__commit(cairn_jnl *j, uint64_t mark, int reserved, uint64_t *seq) {
    size_t i, first;
    uint64_t txid, s = 0;
    int rc;
    *seq = 0;
    if (mark < j->base + j->s) mark = j->base + j->s;
    first = (size_t)(mark - j->base);
    if (first >= j->n) return 0;
    txid = reserved ? cairn_wal__begin_reserved(j->wal) : cairn_wal__begin(j->wal);
    for (i = first; i < j->n; i++)
        if ((rc = cairn_wal__append2(j->wal, txid, j->q[i].type, j->q[i].buf, j->q[i].blen, j->q[i].ext,
                                     j->q[i].elen)) != 0)
            return rc;
    if ((rc = cairn_wal__commit(j->wal, txid, &s)) != 0) return rc;
    for (i = first; i < j->n; i++) {
        j->q[i].committed = 1;
        j->q[i].seq = s;
        j->logged += j->q[i].blen + j->q[i].elen;
    }
    *seq = s;
    return 0;
}

int cairn_jnl__sync(cairn_jnl *j, uint64_t seq) { return cairn_wal__sync(j->wal, seq); }

void cairn_jnl__set_map(cairn_jnl *j, void *map, uint64_t len) {
    j->map = (uint8_t *)map;
    j->maplen = map ? len : 0;
}

/* A write to the data file: a store through the mapping when it covers the range (no system
 * call; cairn_io__mwrite is a pwrite while test hooks are active), else a pwrite. */
static int jwrite(cairn_jnl *j, const void *buf, size_t len, uint64_t off) {
    if (j->map && off <= j->maplen && len <= j->maplen - off) return cairn_io__mwrite(j->f, j->map, buf, len, off);
    return cairn_io__pwrite(j->f, buf, len, off);
}

int cairn_jnl__pwrite(cairn_jnl *j, const void *buf, size_t len, uint64_t off) { return jwrite(j, buf, len, off); }

static int is_meta(const cairn_jnl *j, unsigned type, uint64_t off, size_t len) {
    return j->ops.meta_len && type == CAIRN_JNL_REC_WRITE && off == 0 && len == j->ops.meta_len;
}

/* The header goes last: a file whose LSN says "transaction n" holds every write of n. A truncate
 * is not done now: the space stays allocated for later writes, and bytes past the engine's end
 * belong to nothing; the engine cuts the file when it settles a checkpoint. */
int cairn_jnl__apply(cairn_jnl *j) {
    uint64_t durable = cairn_wal__durable_seq(j->wal), cur = 0, done = 0;
    int rc = 0;
    while (j->s < j->n) {
        jrec *p = &j->q[j->s];
        if (!p->committed || p->seq > durable) break;
        if (p->seq != cur) {
            done = cur; /* the records of one transaction share its commit seq */
            cur = p->seq;
        }
        if (p->type == CAIRN_JNL_REC_WRITE) {
            uint64_t off = cairn_get64(p->buf);
            if (!p->ext && is_meta(j, p->type, off, p->blen - 8))
                rc = j->ops.meta ? j->ops.meta(j->ctx, p->buf + 8, p->blen - 8, 0) : 0;
            else if ((rc = jwrite(j, p->buf + 8, p->blen - 8, off)) == 0 && p->ext)
                rc = jwrite(j, p->ext, p->elen, off + (p->blen - 8));
        }
        if (rc) break;
        if (p->ext) j->nborrowed--;
        free(p->buf);
        p->buf = NULL;
        p->ext = NULL;
        j->s++;
    }
    if (!rc) done = cur; /* stopped at another transaction (or the end): cur is whole */
    if (done > j->lsn) {
        int hrc = j->ops.stamp ? j->ops.stamp(j->ctx, done) : 0;
        if (!hrc) j->lsn = done;
        if (!rc) rc = hrc;
    }
    if (j->s == j->n) { /* start the queue over; ids go on */
        j->base += j->n;
        j->s = j->n = 0;
    }
    return rc;
}

int cairn_jnl__should_checkpoint(const cairn_jnl *j) {
    return j->ops.ckpt_bytes && j->wal && cairn_wal__size(j->wal) > j->ops.ckpt_bytes;
}

static int fatal(cairn_jnl *j, int rc) {
    if (!j->fatal) j->fatal = rc ? rc : CAIRN_FAILED;
    return rc;
}

int cairn_jnl__checkpoint(cairn_jnl *j, int keep, int *done) {
    int rc;
    if (done) *done = 0;
    if ((rc = cairn_wal__sync(j->wal, 0)) != 0) return fatal(j, rc);
    if ((rc = cairn_jnl__apply(j)) != 0) return rc;
    /* records still pending (not durable, or not committed), or an open transaction whose
     * savepoints index them: keep the log */
    if (j->n || keep) return 0;
    if (j->ops.settle && (rc = j->ops.settle(j->ctx)) != 0) return rc;
    j->fsyncs++;
    if ((rc = cairn_io__fsync(j->f)) != 0) return fatal(j, rc);
    if ((rc = cairn_wal__reset(j->wal)) != 0) return fatal(j, rc);
    if (done) *done = 1;
    return 0;
}

int cairn_jnl__fatal(const cairn_jnl *j) { return j->fatal; }

uint64_t cairn_jnl__logged(const cairn_jnl *j) { return j->logged; }

uint64_t cairn_jnl__fsyncs(const cairn_jnl *j) { return j->fsyncs; }

uint64_t cairn_jnl__lsn(const cairn_jnl *j) { return j->lsn; }

void cairn_jnl__set_lsn(cairn_jnl *j, uint64_t lsn) { j->lsn = lsn; }

/* ---- open: recovery and the overlay ------------------------------------------------------- */

static int load_overlay(void *ctx, uint64_t txid, unsigned type, const void *payload, size_t len, uint64_t seq) {
    cairn_jnl *j = (cairn_jnl *)ctx;
    const uint8_t *p = (const uint8_t *)payload;
    uint64_t meta = j->ops.meta_len;
    ovrec *o;
    (void)txid;
    (void)seq;
    if (len < 8 || (type != CAIRN_JNL_REC_WRITE && type != CAIRN_JNL_REC_TRUNC) ||
        (type == CAIRN_JNL_REC_TRUNC && len != 8))
        return cairn_err__set(CAIRN_CORRUPT, "%s: unknown record (type %u, %zu bytes) in the log", j->log_name,
                              type, len);
    if (!(o = (ovrec *)cairn_arr__grow(j->ov, &j->capov, j->nov + 1, sizeof *o))) return CAIRN_NOMEM;
    j->ov = o;
    o = &j->ov[j->nov];
    o->type = type;
    o->off = cairn_get64(p);
    o->len = len - 8;
    o->data = NULL;
    if (!(type == CAIRN_JNL_REC_WRITE && o->off + o->len <= meta) && o->off < j->ov_lo)
        j->ov_lo = o->off < meta ? meta : o->off;
    if (type == CAIRN_JNL_REC_WRITE) {
        if (!(o->data = (uint8_t *)malloc(o->len ? o->len : 1)))
            return cairn_err__set(CAIRN_NOMEM, "journal: out of memory");
        memcpy(o->data, p + 8, o->len);
    }
    j->nov++;
    return 0;
}

int cairn_jnl__recover(cairn_jnl *j, const cairn_wal_info *wi, int known, uint64_t lsn, const char *data_path,
                       int *redo) {
    if (redo) *redo = 0;
    if (!j->wal || !wi->committed) return 0;
    if (known) {
        if (wi->last_commit < lsn) return 0; /* the file is ahead */
        if (wi->first_seq > lsn + 1)
            return cairn_err__set(CAIRN_CORRUPT,
                                  "%s: the write-ahead log %s starts at sequence number %llu but the data file is "
                                  "at %llu: the changes in between are missing",
                                  data_path, j->log_name, (unsigned long long)wi->first_seq,
                                  (unsigned long long)lsn);
    }
    if (redo) *redo = 1;
    return cairn_wal__replay(j->wal, load_overlay, j);
}

int cairn_jnl__read(cairn_jnl *j, void *buf, size_t len, uint64_t off) {
    size_t got = 0, i;
    int rc = cairn_io__pread(j->f, buf, len, off, &got);
    if (rc) return rc;
    if (got < len) memset((uint8_t *)buf + got, 0, len - got);
    if (off >= j->ops.meta_len && off + len <= j->ov_lo) return 0; /* below everything it changes */
    for (i = 0; i < j->nov; i++) {
        const ovrec *o = &j->ov[i];
        if (o->type == CAIRN_JNL_REC_WRITE) {
            uint64_t s = o->off > off ? o->off : off;
            uint64_t e = o->off + o->len < off + len ? o->off + o->len : off + len;
            if (s < e) memcpy((uint8_t *)buf + (s - off), o->data + (s - o->off), (size_t)(e - s));
        } else if (o->off < off + len) {
            uint64_t s = o->off > off ? o->off : off;
            memset((uint8_t *)buf + (s - off), 0, (size_t)(off + len - s));
        }
    }
    return 0;
}

uint64_t cairn_jnl__overlay_size(const cairn_jnl *j, uint64_t size) {
    size_t i;
    for (i = 0; i < j->nov; i++) {
        if (j->ov[i].type == CAIRN_JNL_REC_TRUNC)
            size = j->ov[i].off;
        else if (j->ov[i].off + j->ov[i].len > size)
            size = j->ov[i].off + j->ov[i].len;
    }
    return size;
}

int cairn_jnl__materialize(cairn_jnl *j) {
    size_t i;
    int rc = 0;
    for (i = 0; i < j->nov && !rc; i++) {
        const ovrec *o = &j->ov[i];
        if (is_meta(j, o->type, o->off, o->len))
            rc = j->ops.meta ? j->ops.meta(j->ctx, o->data, o->len, 1) : 0;
        else if (o->type == CAIRN_JNL_REC_TRUNC)
            rc = cairn_io__truncate(j->f, o->off);
        else
            rc = cairn_io__pwrite(j->f, o->data, o->len, o->off);
    }
    cairn_jnl__drop_overlay(j);
    return rc;
}
