/* kv_api.c - the public KV functions: open / close / check, reads, iteration, writes,
 * transactions, sync and stats (cairn_kv_compact is in kv_compact.c). */
#include "kv_internal.h"
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* lookup and write_locked are on the path of every get and put and have a second caller
 * (cairn_kv_update_json): keep them inlined into get_common and kv_write as they were with one
 * caller (measured: about 13 instructions per get and 28 per put otherwise). */
#if defined(__GNUC__)
#define KV_HOT_INLINE inline __attribute__((always_inline))
#else
#define KV_HOT_INLINE inline
#endif

/* ---- open / close ----------------------------------------------------------------------------- */

static void kv_destroy(cairn_kv *kv) {
    uint32_t i;
    if (!kv) return;
    cairn_kv__txn_clear(kv);
    for (i = 0; i < kv->nfiles; i++) {
        cairn_kv__unmap_file(&kv->files[i]);
        cairn_io__close(kv->files[i].f);
    }
    free(kv->files);
    free(kv->ebuf);
    cairn_kd__free(kv->kd);
    cairn_lock__release(kv->lock);
    pthread_rwlock_destroy(&kv->rw);
    pthread_mutex_destroy(&kv->wmu);
    pthread_mutex_destroy(&kv->gmu);
    pthread_cond_destroy(&kv->gcv);
    free(kv->dir);
    free(kv);
}


static int kv_open_impl(cairn_kv **out, const char *path, const cairn_kv_options *opts, int strict) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv;
    int rc, st;
    if (!out) return cairn_err__set(CAIRN_INVALID, "kv_open: out is NULL");
    *out = NULL;
    if (!path) return cairn_err__set(CAIRN_INVALID, "kv_open: path is NULL");
    if (!*path) return cairn_err__set(CAIRN_PATH, "kv_open: empty path");
    if (opts) {
        if (opts->version < 1 || opts->version > CAIRN_KV_OPTIONS_VERSION)
            return cairn_err__set(CAIRN_INVALID, "kv_open: options version %u, expected 1..%u (use CAIRN_KV_OPTIONS_INIT)",
                                  opts->version, CAIRN_KV_OPTIONS_VERSION);
        o = *opts;
    }
    if (o.sync < CAIRN_SYNC_NONE || o.sync > CAIRN_SYNC_GROUP)
        return cairn_err__set(CAIRN_INVALID, "kv_open: sync mode %d is not 0, 1 or 2", o.sync);
    if (o.max_file_size > CAIRN_KV_MAX_FILE_SIZE_LIMIT)
        return cairn_err__set(CAIRN_INVALID, "kv_open: max_file_size %llu is beyond what the format addresses (at most %llu)",
                              (unsigned long long)o.max_file_size, (unsigned long long)CAIRN_KV_MAX_FILE_SIZE_LIMIT);
    st = cairn_io__stat(path, NULL);
    if (st < 0) return st;
    if (st == 1) return cairn_err__set(CAIRN_PATH, "kv_open: %s is a file, not a directory", path);
    if (st == 0) {
        if (!o.create || o.read_only)
            return cairn_err__set(CAIRN_PATH, "kv_open: directory %s does not exist%s", path,
                                  o.read_only ? " (read-only open never creates it)" : " and create is off");
        if ((rc = cairn_io__mkdir(path)) != 0) return rc;
    }
    if (!(kv = (cairn_kv *)calloc(1, sizeof *kv))) return cairn_err__set(CAIRN_NOMEM, "kv_open: out of memory");
    kv->gen = cairn_fork__gen();
    /* readers must not starve the writer (no path takes the read lock recursively) */
    cairn_rwlock__init(&kv->rw);
    pthread_mutex_init(&kv->wmu, NULL);
    pthread_mutex_init(&kv->gmu, NULL);
    pthread_cond_init(&kv->gcv, NULL);
    kv->readonly = o.read_only != 0;
    kv->sync = o.sync;
    kv->max_file_size = o.max_file_size ? o.max_file_size : DEFAULT_MAX_FILE;
    kv->active = -1;
    if ((kv->dir = cairn_str__dup(path)) != NULL) {
        kd_src src;
        cairn_kv__kd_src(kv, &src);
        kv->kd = cairn_kd__new(&src);
    }
    if (!kv->dir || !kv->kd) {
        kv_destroy(kv);
        return cairn_err__set(CAIRN_NOMEM, "kv_open: out of memory");
    }
    if (!kv->readonly) {
        char *lp = cairn_path__join(path, "LOCK");
        if (!lp) {
            kv_destroy(kv);
            return CAIRN_NOMEM;
        }
        rc = cairn_lock__acquire(&kv->lock, lp, o.lock_timeout_ms);
        free(lp);
        if (rc) {
            kv_destroy(kv);
            return rc;
        }
    }
    if ((rc = cairn_kv__load(kv, strict)) != 0) {
        cairn_err_saved saved;
        cairn_err__save(&saved);
        kv_destroy(kv);
        return cairn_err__restore_as(&saved, rc);
    }
    *out = kv;
    return 0;
}

int cairn_kv_open(cairn_kv **out, const char *path, const cairn_kv_options *opts) {
    return kv_open_impl(out, path, opts, 0);
}

int cairn_kv_check(const char *path) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    int rc;
    o.create = 0;
    o.read_only = 1;
    if (!path) return cairn_err__set(CAIRN_INVALID, "kv_check: path is NULL");
    rc = kv_open_impl(&kv, path, &o, 1);
    if (rc) return rc;
    kv_destroy(kv);
    return 0;
}


void cairn_kv_close(cairn_kv *kv) {
    if (!kv) return;
    if (cairn_fork__foreign(kv->gen)) {
        /* an inherited handle in a child of fork(): the files and the lock are the parent's.
         * Write nothing (no trim, fsync, hint or KEYDIR) and take no lock (another thread of the
         * parent may have held one at fork): only unmap, close descriptors and free memory. */
        kv_destroy(kv);
        return;
    }
    pthread_mutex_lock(&kv->wmu);
    if (kv->in_txn) {
        pthread_rwlock_wrlock(&kv->rw);
        cairn_kv__txn_clear(kv);
        pthread_rwlock_unlock(&kv->rw);
    }
    if (!kv->readonly && !is_failed(kv)) {
        if (kv->active >= 0 && (cairn_kv__trim_active(&kv->files[kv->active]) != 0 ||
                                kv_fsync(kv, kv->files[kv->active].f) != 0))
            set_failed(kv);
        /* the KEYDIR is the store's one index (no hint files: docs/format-kv.md) */
        if (!is_failed(kv) && !kv->snap_valid && cairn_kv__write_snapshot(kv) != 0) cairn_errclear();
    }
    cairn_kv__group_detach(kv);
    pthread_mutex_unlock(&kv->wmu);
    kv_destroy(kv);
}

/* ---- argument checks -------------------------------------------------------------------------- */

/* Every entry point starts here: a handle is used only by the process that opened it (one
 * integer compare: the atfork handler bumps the generation in a child). */
int cairn_kv__check_handle(const cairn_kv *kv, const char *fn) {
    if (!kv) return cairn_err__set(CAIRN_INVALID, "%s: handle is NULL", fn);
    if (cairn_fork__foreign(kv->gen)) return cairn_fork__err(fn);
    return 0;
}

static int check_key(const void *key, size_t klen, const char *fn) {
    if (!key) return cairn_err__set(CAIRN_INVALID, "%s: key is NULL", fn);
    if (klen == 0) return cairn_err__set(CAIRN_INVALID, "%s: empty key", fn);
    if (klen > CAIRN_KEY_MAX)
        return cairn_err__set(CAIRN_TOOBIG, "%s: key of %zu bytes (the limit is %u)", fn, klen, CAIRN_KEY_MAX);
    return 0;
}

/* Writer preconditions (caller holds wmu). */
int cairn_kv__check_writable(cairn_kv *kv, const char *fn) {
    if (kv->readonly) return cairn_err__set(CAIRN_READONLY, "%s: the store was opened read-only", fn);
    if (is_failed(kv)) return err_failed(kv, fn);
    return 0;
}

/* ---- reads ------------------------------------------------------------------------------------ */

/* ---- records named by the keydir --------------------------------------------------------------- */

int cairn_kv__rec_at(const char *dir, kv_file *files, uint32_t n, uint64_t loc, int whole, rec_view *v) {
    const uint32_t fi = KD_LOC_FILE(loc);
    const uint64_t off = KD_LOC_OFF(loc);
    kv_file *kf;
    const uint8_t *b;
    uint8_t h[HDR_MAX];
    uint64_t need, len;
    size_t hn;
    const char *why;
    int rc, use_map;
    v->buf = NULL;
    v->b = NULL;
    v->off = off;
    if (fi >= n || !files[fi].f)
        return cairn_err__set(CAIRN_CORRUPT, "%s: keydir entry names data file #%u at offset %" PRIu64 ", which does not exist",
                              dir, fi, off);
    kf = &files[fi];
    v->kf = kf;
    if (off >= kf->size || kf->size - off < HDR3_MIN) {
        why = "keydir entry points past the end of the file";
        goto bad;
    }
    hn = kf->size - off < HDR_MAX ? (size_t)(kf->size - off) : HDR_MAX;
    /* the active file's read-write mapping is bypassed while test hooks are active, so that a
     * simulated crash fails its reads as it fails writes */
    use_map = kf->map && (!kf->wmap || !cairn_io__hooks_active());
    if (use_map && off + hn <= kf->maplen) {
        b = kf->map + off;
    } else {
        if ((rc = cairn_io__pread(kf->f, h, hn, off, NULL)) != 0) return rc;
        b = h;
    }
    /* a PUT, in its file's encoding (version 3 records only in a version 3 file) */
    if (cairn_kv__dec_hdr(b, hn, &v->r) != 0 || v->r.type != T_PUT ||
        (kf->version && (kf->version >= 3) != (v->r.v3 != 0))) {
        why = "keydir entry does not name a record";
        goto bad;
    }
    len = rec_len(&v->r);
    if (len > kf->size - off) {
        why = "record runs past the end of the file";
        goto bad;
    }
    need = whole ? len : v->r.hlen + v->r.klen;
    if (use_map && off + need <= kf->maplen) {
        v->b = kf->map + off;
    } else {
        if (!(v->buf = (uint8_t *)malloc((size_t)need)))
            return cairn_err__set(CAIRN_NOMEM, "kv: out of memory for a record of %" PRIu64 " bytes", need);
        if ((rc = cairn_io__pread(kf->f, v->buf, (size_t)need, off, NULL)) != 0) {
            rec_view_done(v);
            return rc;
        }
        v->b = v->buf;
    }
    if (whole && cairn_crc32c__update(0, v->b + 4, (size_t)len - 4) != cairn_get32(v->b)) {
        why = "checksum mismatch";
        goto bad;
    }
    return 0;
bad:
    rec_view_done(v);
    return cairn_err__set(CAIRN_CORRUPT, "%s: %s at offset %" PRIu64, cairn_io__path(kf->f), why, off);
}

int cairn_kv__src_key(void *ctx, uint64_t loc, int verify, kd_key *k) {
    const kv_files_ref *fr = (const kv_files_ref *)ctx;
    rec_view v;
    int rc = cairn_kv__rec_at(fr->dir, *fr->files, *fr->n, loc, verify, &v);
    if (rc) return rc;
    k->p = v.b + v.r.hlen;
    k->n = v.r.klen;
    k->buf = v.buf; /* (the table frees it) */
    return 0;
}

const void *cairn_kv__src_addr(void *ctx, uint64_t loc) {
    const kv_files_ref *fr = (const kv_files_ref *)ctx;
    const uint32_t fi = KD_LOC_FILE(loc);
    const kv_file *kf;
    if (fi >= *fr->n) return NULL;
    kf = &(*fr->files)[fi];
    return kf->map && KD_LOC_OFF(loc) < kf->maplen ? kf->map + KD_LOC_OFF(loc) : NULL;
}

void cairn_kv__kd_src(cairn_kv *kv, kd_src *src) {
    kv->fref.dir = kv->dir;
    kv->fref.files = &kv->files;
    kv->fref.n = &kv->nfiles;
    src->key = cairn_kv__src_key;
    src->addr = cairn_kv__src_addr;
    src->ctx = &kv->fref;
}

/* ---- reads ------------------------------------------------------------------------------------ */

typedef struct look {
    txn_op *op; /* set: the value is in the transaction overlay */
    rec_view v; /* else: the record the keydir names (release with rec_view_done) */
    uint64_t loc;
    int64_t expire;
} look;

/* Caller holds the read (or write) lock. 1 if the key is live, 0 if not, < 0 an error (a keydir
 * entry whose record is bad). whole: the keydir's record is read whole and its CRC checked (a
 * get), else its header and key only. On 1 from the keydir, l->v holds the record. */
/* now: the time for expiry decisions, or NOW_LAZY: read the clock only if the key has an expiry
 * (a clock_gettime per get otherwise). */
#define NOW_LAZY INT64_MIN
static inline int64_t now_of(int64_t now) { return now == NOW_LAZY ? cairn_time__now_ms() : now; }

static KV_HOT_INLINE int lookup(cairn_kv *kv, const void *key, size_t klen, uint32_t hash, int64_t now, int whole,
                                look *l) {
    int rc;
    l->op = NULL;
    l->v.buf = NULL;
    if (kv->in_txn) {
        txn_op *op = cairn_kv__txn_find(kv, key, klen, hash);
        if (op) {
            if (op->type == T_DEL || (op->expire && expired(op->expire, now_of(now)))) return 0;
            l->op = op;
            l->expire = op->expire;
            return 1;
        }
    }
    if ((rc = cairn_kd__find(kv->kd, key, klen, hash, &l->loc)) <= 0) return rc;
    if ((rc = cairn_kv__rec_at(kv->dir, kv->files, kv->nfiles, l->loc, whole, &l->v)) != 0) return rc;
    if (l->v.r.klen != klen || memcmp(l->v.b + l->v.r.hlen, key, klen) != 0) {
        /* (the keydir compared this record's key a moment ago: a read that changed it) */
        rc = cairn_err__set(CAIRN_CORRUPT, "%s: record does not match the keydir at offset %" PRIu64,
                            cairn_io__path(l->v.kf->f), l->v.off);
        rec_view_done(&l->v);
        return rc;
    }
    l->expire = l->v.r.expire;
    if (l->expire && expired(l->expire, now_of(now))) {
        rec_view_done(&l->v);
        return 0;
    }
    return 1;
}

/* The value of a live keydir record: into dst when dst is not NULL (cap >= vlen), else into a new
 * buffer in *out (caller frees). Releases the view. */
static KV_HOT_INLINE int take_value(look *l, uint8_t *dst, uint8_t **out) {
    const uint32_t vlen = l->v.r.vlen;
    const uint8_t *val = l->v.b + l->v.r.hlen + l->v.r.klen;
    if (dst) {
        if (vlen) memcpy(dst, val, vlen);
        rec_view_done(&l->v);
        return 0;
    }
    if (l->v.buf) {
        uint8_t *tmp = l->v.buf;
        memmove(tmp, val, vlen); /* reuse the read buffer */
        l->v.buf = NULL;
        *out = tmp;
        return 0;
    }
    if (!(*out = (uint8_t *)malloc(vlen ? vlen : 1)))
        return cairn_err__set(CAIRN_NOMEM, "kv_get: out of memory for a value of %u bytes", vlen);
    if (vlen) memcpy(*out, val, vlen);
    return 0;
}

/* Look the key up and fetch its value: into dst if dst is not NULL and the value fits in cap,
 * else into a new buffer *val (NULL dst, or a value larger than cap: *vlen tells). */
static int get_common(cairn_kv *kv, const void *key, size_t klen, uint8_t *dst, size_t cap, uint8_t **val,
                      size_t *vlen, int *kind, const char *fn) {
    look l;
    int rc;
    uint32_t hash;
    if ((rc = cairn_kv__check_handle(kv, fn)) != 0) return rc;
    if ((rc = check_key(key, klen, fn)) != 0) return rc;
    if (is_failed(kv)) return err_failed(kv, fn);
    hash = cairn_kd__hash(key, klen);
    pthread_rwlock_rdlock(&kv->rw);
    if ((rc = lookup(kv, key, klen, hash, NOW_LAZY, 1, &l)) <= 0) {
        if (rc == 0) rc = CAIRN_NOTFOUND;
    } else if (l.op) {
        rc = 0;
        *vlen = l.op->vlen;
        if (kind) *kind = l.op->kind;
        if (dst && l.op->vlen <= cap) {
            if (l.op->vlen) memcpy(dst, l.op->buf + l.op->klen, l.op->vlen);
        } else {
            uint8_t *b = (uint8_t *)malloc(l.op->vlen ? l.op->vlen : 1);
            if (!b) {
                rc = cairn_err__set(CAIRN_NOMEM, "%s: out of memory", fn);
            } else {
                if (l.op->vlen) memcpy(b, l.op->buf + l.op->klen, l.op->vlen);
                *val = b;
            }
        }
    } else {
        *vlen = l.v.r.vlen;
        if (kind) *kind = l.v.r.kind;
        rc = take_value(&l, dst && l.v.r.vlen <= cap ? dst : NULL, val);
    }
    pthread_rwlock_unlock(&kv->rw);
    return rc;
}

int cairn_kv_get(cairn_kv *kv, const void *key, size_t klen, void **val, size_t *vlen, int *kind) {
    uint8_t *b = NULL;
    size_t n = 0;
    int rc;
    if (!val || !vlen) return cairn_err__set(CAIRN_INVALID, "kv_get: val or vlen is NULL");
    *val = NULL;
    *vlen = 0;
    if (kv) kv_count(&kv->n_gets, 1);
    rc = get_common(kv, key, klen, NULL, 0, &b, &n, kind, "kv_get");
    if (!rc) {
        *val = b;
        *vlen = n;
    }
    return kv_result(kv, rc);
}

int cairn_kv_get_into(cairn_kv *kv, const void *key, size_t klen, void *buf, size_t cap, size_t *vlen, int *kind) {
    uint8_t *b = NULL, dummy = 0;
    size_t n = 0;
    int k = 0, rc;
    if (!vlen || (!buf && cap)) return cairn_err__set(CAIRN_INVALID, "kv_get_into: vlen or buf is NULL");
    /* (a NULL buf with cap 0 still asks for the size) */
    if (kv) kv_count(&kv->n_gets, 1);
    rc = get_common(kv, key, klen, buf ? (uint8_t *)buf : &dummy, cap, &b, &n, &k, "kv_get_into");
    if (rc) return kv_result(kv, rc);
    *vlen = n;
    if (kind) *kind = k;
    if (b) {
        /* too large for the buffer: the first cap bytes, and the size to retry with */
        if (cap) memcpy(buf, b, cap);
        free(b);
        return kv_result(kv, cairn_err__set(CAIRN_RANGE, "kv_get_into: the value has %zu bytes, the buffer %zu", n, cap));
    }
    return 0;
}

int cairn_kv_expiry(cairn_kv *kv, const void *key, size_t klen, int64_t *expire_at_ms) {
    look l;
    int rc;
    if ((rc = cairn_kv__check_handle(kv, "kv_expiry")) != 0) return rc;
    if ((rc = check_key(key, klen, "kv_expiry")) != 0) return rc;
    if (!expire_at_ms) return cairn_err__set(CAIRN_INVALID, "kv_expiry: out is NULL");
    if (is_failed(kv)) return err_failed(kv, "kv_expiry");
    pthread_rwlock_rdlock(&kv->rw);
    rc = lookup(kv, key, klen, cairn_kd__hash(key, klen), NOW_LAZY, 1, &l);
    if (rc == 1) {
        *expire_at_ms = l.expire;
        rec_view_done(&l.v);
        rc = 0;
    } else if (rc == 0) {
        rc = CAIRN_NOTFOUND;
    }
    pthread_rwlock_unlock(&kv->rw);
    return rc;
}

int cairn_kv_exists(cairn_kv *kv, const void *key, size_t klen) {
    look l;
    int rc;
    if ((rc = cairn_kv__check_handle(kv, "kv_exists")) != 0) return rc;
    if ((rc = check_key(key, klen, "kv_exists")) != 0) return rc;
    if (is_failed(kv)) return err_failed(kv, "kv_exists");
    pthread_rwlock_rdlock(&kv->rw);
    rc = lookup(kv, key, klen, cairn_kd__hash(key, klen), NOW_LAZY, 1, &l);
    if (rc == 1) rec_view_done(&l.v);
    pthread_rwlock_unlock(&kv->rw);
    return rc;
}

typedef struct cnt_ctx {
    cairn_kv *kv;
    int64_t now;
    uint64_t n;     /* keys expired but still in the keydir */
    uint64_t bytes; /* their records' bytes */
} cnt_ctx;

static int count_expired(void *vctx, uint64_t slot) {
    cnt_ctx *c = (cnt_ctx *)vctx;
    rec_view v;
    int rc = cairn_kv__rec_at(c->kv->dir, c->kv->files, c->kv->nfiles, slot & KD_LOC_MASK, 1, &v);
    if (rc) return rc;
    if (expired(v.r.expire, c->now)) {
        c->n++;
        c->bytes += rec_len(&v.r);
    }
    rec_view_done(&v);
    return 0;
}

/* Keys expired but still in the keydir, and their bytes (caller holds a lock): 0 or an error (a
 * keydir entry whose record is bad). Only keys with an expiry are counted: without any, no
 * record is read. */
static int expired_keys(cairn_kv *kv, int64_t now, uint64_t *n, uint64_t *bytes) {
    cnt_ctx c;
    int rc = 0;
    c.kv = kv;
    c.now = now;
    c.n = c.bytes = 0;
    if (cairn_kd__expiring(kv->kd)) rc = cairn_kd__each(kv->kd, count_expired, &c);
    *n = c.n;
    *bytes = c.bytes;
    return rc;
}

/* Live keys as the handle sees them (caller holds a lock). */
static int live_count(cairn_kv *kv, int64_t now, uint64_t *out) {
    uint64_t n = cairn_kd__count(kv->kd), nexp, bytes;
    size_t i;
    int rc;
    if ((rc = expired_keys(kv, now, &nexp, &bytes)) != 0) return rc;
    n -= nexp;
    if (kv->in_txn) {
        for (i = 0; i < kv->nops; i++) {
            txn_op *op = &kv->ops[i];
            uint64_t loc;
            int base = 0, mine = op->type == T_PUT && !expired(op->expire, now);
            if ((rc = cairn_kd__find(kv->kd, op->buf, op->klen, op->hash, &loc)) < 0) return rc;
            if (rc == 1) {
                rec_view v;
                if ((rc = cairn_kv__rec_at(kv->dir, kv->files, kv->nfiles, loc, 1, &v)) != 0) return rc;
                base = !expired(v.r.expire, now);
                rec_view_done(&v);
            }
            n = n + (uint64_t)mine - (uint64_t)base;
        }
    }
    *out = n;
    return 0;
}

int cairn_kv_count(cairn_kv *kv, uint64_t *out) {
    int rc;
    if ((rc = cairn_kv__check_handle(kv, "kv_count")) != 0) return rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "kv_count: out is NULL");
    if (is_failed(kv)) return err_failed(kv, "kv_count");
    pthread_rwlock_rdlock(&kv->rw);
    rc = live_count(kv, cairn_time__now_ms(), out);
    pthread_rwlock_unlock(&kv->rw);
    return rc;
}

/* ---- iteration -------------------------------------------------------------------------------- */

typedef struct kref {
    const uint8_t *p;
    size_t off, n;
} kref;

struct cairn_kv_iter {
    uint32_t gen; /* the handle's fork generation */
    uint8_t *keys;
    size_t *offs; /* n + 1 offsets into keys */
    size_t n, i;
};

typedef struct it_ctx {
    cairn_kv *kv;
    const uint8_t *prefix;
    size_t plen;
    int64_t now;
    kref *v;
    size_t n, cap;
    uint8_t *kb; /* the keys, copied as they are met (they live in records: a mapping or a read) */
    size_t bytes, kcap;
    int rc;
} it_ctx;

static int it_push(it_ctx *c, const uint8_t *p, size_t n) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        kref *v = (kref *)realloc(c->v, nc * sizeof *v);
        if (!v) return c->rc = cairn_err__set(CAIRN_NOMEM, "kv_iter_open: out of memory");
        c->v = v;
        c->cap = nc;
    }
    if (c->bytes + n > c->kcap) {
        size_t nc = c->kcap ? c->kcap * 2 : 4096;
        uint8_t *v;
        while (nc < c->bytes + n) nc *= 2;
        if (!(v = (uint8_t *)realloc(c->kb, nc))) return c->rc = cairn_err__set(CAIRN_NOMEM, "kv_iter_open: out of memory");
        c->kb = v;
        c->kcap = nc;
    }
    memcpy(c->kb + c->bytes, p, n);
    c->v[c->n].p = NULL;
    c->v[c->n].off = c->bytes;
    c->v[c->n].n = n;
    c->n++;
    c->bytes += n;
    return 0;
}

static int it_one(void *vctx, uint64_t slot) {
    it_ctx *c = (it_ctx *)vctx;
    rec_view v;
    const uint8_t *k;
    uint32_t hash;
    int rc = cairn_kv__rec_at(c->kv->dir, c->kv->files, c->kv->nfiles, slot & KD_LOC_MASK, 1, &v);
    if (rc) return c->rc = rc;
    k = v.b + v.r.hlen;
    hash = cairn_kd__hash(k, v.r.klen);
    if (KD_TAG(hash) != KD_SLOT_TAG(slot)) /* a slot naming another key's record */
        rc = c->rc = cairn_err__set(CAIRN_CORRUPT, "%s: the record at offset %" PRIu64 " is not the keydir's",
                                    cairn_io__path(v.kf->f), v.off);
    else if (v.r.klen < c->plen || (c->plen && memcmp(k, c->prefix, c->plen) != 0)) rc = 0;
    else if (expired(v.r.expire, c->now)) rc = 0;
    else if (c->kv->in_txn && cairn_kv__txn_find(c->kv, k, v.r.klen, hash)) rc = 0; /* the overlay decides */
    else rc = it_push(c, k, v.r.klen);
    rec_view_done(&v);
    return rc;
}

static int cmp_kref(const void *a, const void *b) {
    const kref *x = (const kref *)a, *y = (const kref *)b;
    size_t m = x->n < y->n ? x->n : y->n;
    int c = m ? memcmp(x->p, y->p, m) : 0;
    if (c) return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

int cairn_kv_iter_open(cairn_kv_iter **out, cairn_kv *kv, const void *prefix, size_t plen) {
    it_ctx c;
    cairn_kv_iter *it;
    size_t i, pos = 0;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "kv_iter_open: out is NULL");
    *out = NULL;
    if ((rc = cairn_kv__check_handle(kv, "kv_iter_open")) != 0) return rc;
    if (!prefix && plen) return cairn_err__set(CAIRN_INVALID, "kv_iter_open: prefix is NULL");
    if (plen > CAIRN_KEY_MAX) return cairn_err__set(CAIRN_TOOBIG, "kv_iter_open: prefix longer than a key");
    if (is_failed(kv)) return err_failed(kv, "kv_iter_open");
    memset(&c, 0, sizeof c);
    c.kv = kv;
    c.prefix = (const uint8_t *)prefix;
    c.plen = plen;
    c.now = cairn_time__now_ms();
    pthread_rwlock_rdlock(&kv->rw);
    cairn_kd__each(kv->kd, it_one, &c);
    if (!c.rc && kv->in_txn) {
        for (i = 0; i < kv->nops && !c.rc; i++) {
            txn_op *op = &kv->ops[i];
            if (op->type != T_PUT || expired(op->expire, c.now)) continue;
            if (op->klen < plen || (plen && memcmp(op->buf, prefix, plen) != 0)) continue;
            it_push(&c, op->buf, op->klen);
        }
    }
    pthread_rwlock_unlock(&kv->rw);
    if (c.rc) {
        free(c.v);
        free(c.kb);
        return c.rc;
    }
    it = (cairn_kv_iter *)calloc(1, sizeof *it);
    if (it) {
        it->keys = (uint8_t *)malloc(c.bytes + 1);
        it->offs = (size_t *)malloc((c.n + 1) * sizeof(size_t));
    }
    if (!it || !it->keys || !it->offs) {
        free(c.v);
        free(c.kb);
        cairn_kv_iter_free(it);
        return cairn_err__set(CAIRN_NOMEM, "kv_iter_open: out of memory");
    }
    for (i = 0; i < c.n; i++) c.v[i].p = c.kb + c.v[i].off;
    if (c.n) qsort(c.v, c.n, sizeof *c.v, cmp_kref);
    /* lay the keys out in sorted order */
    for (i = 0; i < c.n; i++) {
        it->offs[i] = pos;
        memcpy(it->keys + pos, c.v[i].p, c.v[i].n);
        pos += c.v[i].n;
    }
    it->offs[c.n] = pos;
    it->n = c.n;
    it->gen = kv->gen;
    free(c.v);
    free(c.kb);
    *out = it;
    return 0;
}

int cairn_kv_iter_next(cairn_kv_iter *it, const void **key, size_t *klen) {
    if (!it || !key || !klen) return cairn_err__set(CAIRN_INVALID, "kv_iter_next: NULL argument");
    if (cairn_fork__foreign(it->gen)) return cairn_fork__err("kv_iter_next");
    if (it->i >= it->n) return CAIRN_ITEROVER;
    *key = it->keys + it->offs[it->i];
    *klen = it->offs[it->i + 1] - it->offs[it->i];
    it->i++;
    return 0;
}

void cairn_kv_iter_free(cairn_kv_iter *it) {
    if (!it) return;
    free(it->keys);
    free(it->offs);
    free(it);
}


/* ---- writes ----------------------------------------------------------------------------------- */

/* Size of an op's version 3 record. */
static uint64_t op_size(const txn_op *op) {
    int64_t x = op->type == T_PUT ? op->expire : 0;
    return rec_size(cairn_kv__hlen(3, op->type, op->type == T_PUT ? op->kind : 0, op->klen, op->vlen, x), op->klen,
                    op->vlen);
}

/* Write one batch (n ops: one bare record if n == 1, else TXN records + COMMIT), apply it to
 * the keydir. Caller holds wmu; on success returns with wmu still held and *slot set. */
#define KD_AHEAD 16 /* keydir slots fetched ahead of a batch's applies */

/* Encode op and return its size. */
static size_t enc_op(uint8_t *dst, const txn_op *op, int flags, uint64_t seq) {
    return cairn_kv__enc_rec(dst, op->type, flags, op->type == T_PUT ? op->kind : 0, op->buf, op->klen,
                             op->buf + op->klen, op->vlen, seq, op->type == T_PUT ? op->expire : 0);
}

static size_t enc_commit(uint8_t *dst, size_t n, uint64_t seq) {
    uint8_t cv[8];
    cairn_put32(cv, (uint32_t)n);
    cairn_put32(cv + 4, 0);
    return cairn_kv__enc_rec(dst, T_COMMIT, 0, 0, NULL, 0, cv, 8, seq, 0);
}

/* A batch larger than BATCH_PIECE is encoded a piece at a time into the handle's buffer (a
 * buffer of its whole size was fresh memory: a page fault every 4 KiB, then a copy of all of it
 * by the kernel from memory no cache held). */
#define BATCH_PIECE ((size_t)1 << 20)

typedef struct batch_src {
    txn_op **ops;
    size_t n, i;      /* ops; the next to encode */
    int flags, done;  /* done: the COMMIT record is out */
    uint64_t seq;
    uint8_t *buf;     /* BATCH_PIECE bytes */
    uint8_t *big;     /* a record larger than a piece, alone */
} batch_src;

static int batch_piece(void *ctx, const uint8_t **p, size_t *np) {
    batch_src *b = (batch_src *)ctx;
    size_t pos = 0;
    free(b->big);
    b->big = NULL;
    if (b->i < b->n && op_size(b->ops[b->i]) > BATCH_PIECE) {
        size_t sz = (size_t)op_size(b->ops[b->i]);
        if (!(b->big = (uint8_t *)malloc(sz)))
            return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (a record of %zu bytes)", sz);
        *p = b->big;
        *np = enc_op(b->big, b->ops[b->i++], b->flags, b->seq);
        return 0;
    }
    while (b->i < b->n && op_size(b->ops[b->i]) <= BATCH_PIECE - pos)
        pos += enc_op(b->buf + pos, b->ops[b->i++], b->flags, b->seq);
    if (b->i == b->n && !b->done && CREC3 <= BATCH_PIECE - pos) {
        pos += enc_commit(b->buf + pos, b->n, b->seq);
        b->done = 1;
    }
    *p = b->buf;
    *np = pos;
    return 0;
}

static int write_batch(cairn_kv *kv, txn_op **ops, size_t n, uint32_t *slot) {
    size_t total = 0, i, pos = 0;
    uint64_t seq = kv->seq + 1, off;
    int flags = n > 1 ? F_TXN : 0;
    int64_t now = cairn_time__now_ms();
    uint8_t *buf;
    int rc = 0;
    for (i = 0; i < n; i++) total += (size_t)op_size(ops[i]);
    if (n > 1) total += CREC3;
    if (!(buf = cairn_kv__ebuf_get(kv, total > BATCH_PIECE ? BATCH_PIECE : total)))
        return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (%zu bytes)", total);
    /* the keydir slots the applies will touch are cache misses: fetch the first ones while the
     * records are encoded and appended, and each later one some applies ahead of its use */
    for (i = 0; i < n && i < KD_AHEAD; i++) cairn_kd__prefetch(kv->kd, ops[i]->hash);
    if (total > BATCH_PIECE) {
        batch_src b;
        b.ops = ops;
        b.n = n;
        b.i = 0;
        b.flags = flags;
        b.done = n < 2; /* (a lone record has no COMMIT) */
        b.seq = seq;
        b.buf = buf;
        b.big = NULL;
        rc = cairn_kv__append_stream(kv, NULL, total, batch_piece, &b, slot, &off);
        free(b.big);
    } else {
        for (i = 0; i < n; i++) pos += enc_op(buf + pos, ops[i], flags, seq);
        if (n > 1) enc_commit(buf + pos, n, seq);
        rc = cairn_kv__append(kv, buf, total, slot, &off);
    }
    cairn_kv__ebuf_done(kv, buf);
    if (rc) return rc;
    kv->seq = seq; /* (append returned holding the write lock) */
    for (i = 0, pos = 0; i < n && !rc; i++) {
        txn_op *op = ops[i];
        if (i + KD_AHEAD < n) cairn_kd__prefetch(kv->kd, ops[i + KD_AHEAD]->hash);
        rc = cairn_kv__apply(kv, kv->kd, *slot, off + pos, op->type, op->kind, op->buf, op->klen, op->hash,
                             (uint32_t)op->vlen, op->expire, now);
        pos += (size_t)op_size(op);
    }
    pthread_rwlock_unlock(&kv->rw);
    if (rc) set_failed(kv); /* written but not indexed: the in-memory view is wrong */
    return rc;
}

/* The write itself, after the checks: caller holds wmu and checked that the handle is writable;
 * returns with wmu released. Inside a transaction the write goes to the overlay. */
static KV_HOT_INLINE int write_locked(cairn_kv *kv, int type, const void *key, size_t klen, uint32_t hash,
                                      const void *val, size_t vlen, int kind, int64_t expire, const char *fn) {
    uint32_t slot;
    int rc;
    if (kv->in_txn) {
        pthread_rwlock_wrlock(&kv->rw);
        rc = cairn_kv__txn_add(kv, type, key, klen, hash, val, vlen, kind, expire);
        pthread_rwlock_unlock(&kv->rw);
        goto unlock;
    }
    {
        /* a bare write: one self-committing record, encoded straight from the caller's bytes */
        size_t total = (size_t)rec_size(cairn_kv__hlen(3, type, type == T_PUT ? kind : 0, klen, type == T_PUT ? vlen : 0,
                                                       type == T_PUT ? expire : 0),
                                        klen, type == T_PUT ? vlen : 0);
        uint8_t *buf = cairn_kv__ebuf_get(kv, total);
        uint64_t off;
        if (!buf) {
            rc = cairn_err__set(CAIRN_NOMEM, "%s: out of memory (%zu bytes)", fn, total);
            goto unlock;
        }
        if (type == T_PUT) cairn_kv__enc_rec(buf, T_PUT, 0, kind, key, klen, val, vlen, kv->seq + 1, expire);
        else cairn_kv__enc_rec(buf, T_DEL, 0, 0, key, klen, NULL, 0, kv->seq + 1, 0);
        rc = cairn_kv__append(kv, buf, total, &slot, &off);
        cairn_kv__ebuf_done(kv, buf);
        if (rc) goto unlock;
        kv->seq++; /* (append returned holding the write lock) */
        /* the clock only matters for a put with an expiry (one already past applies as a delete):
         * a clock_gettime was 3.5% of a bare put's CPU time */
        rc = cairn_kv__apply(kv, kv->kd, slot, off, type, kind, key, klen, hash, (uint32_t)(type == T_PUT ? vlen : 0),
                             type == T_PUT ? expire : 0, type == T_PUT && expire ? cairn_time__now_ms() : 0);
        pthread_rwlock_unlock(&kv->rw);
        if (rc) {
            set_failed(kv); /* written but not indexed: the in-memory view is wrong */
            goto unlock;
        }
    }
    return cairn_kv__durable_unlock(kv, slot, fn);
unlock:
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}

static int kv_write(cairn_kv *kv, int type, const void *key, size_t klen, const void *val, size_t vlen, int kind,
                    int64_t expire, const char *fn) {
    uint32_t hash;
    int rc;
    if ((rc = cairn_kv__check_handle(kv, fn)) != 0) return rc;
    if ((rc = check_key(key, klen, fn)) != 0) return rc;
    if (type == T_PUT) {
        if (!val && vlen) return cairn_err__set(CAIRN_INVALID, "%s: value is NULL", fn);
        if (vlen > CAIRN_VALUE_MAX)
            return cairn_err__set(CAIRN_TOOBIG, "%s: value of %zu bytes (the limit is %u)", fn, vlen, CAIRN_VALUE_MAX);
        if (kind < 0 || kind > 3) return cairn_err__set(CAIRN_INVALID, "%s: kind %d is not 0..3", fn, kind);
        if (expire < 0) return cairn_err__set(CAIRN_INVALID, "%s: negative expiry %" PRId64, fn, expire);
    }
    hash = cairn_kd__hash(key, klen);
    pthread_mutex_lock(&kv->wmu);
    if ((rc = cairn_kv__check_writable(kv, fn)) != 0) goto unlock;
    if (type == T_DEL) {
        look l;
        pthread_rwlock_rdlock(&kv->rw);
        rc = lookup(kv, key, klen, hash, NOW_LAZY, 1, &l);
        if (rc == 1) rec_view_done(&l.v);
        rc = rc == 1 ? 0 : rc == 0 ? CAIRN_NOTFOUND : rc;
        pthread_rwlock_unlock(&kv->rw);
        if (rc) goto unlock;
    }
    /* only writers change the keydir, and they hold wmu: its home slot can be fetched now, while
     * the record is encoded and appended (a put's one cache miss in the table) */
    if (!kv->in_txn) cairn_kd__prefetch(kv->kd, hash);
    return write_locked(kv, type, key, klen, hash, val, vlen, kind, expire, fn);
unlock:
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}

/* A CAIRN_TYPE of the JSON merge, said in this function's words ("obj" is the stored value,
 * "patch" the changes). */
static int json_type_error(int rc, const char *fn) {
    char msg[512];
    const char *m = cairn_errmsg();
    if (rc != CAIRN_TYPE) return rc;
    if (strncmp(m, "obj: ", 5) == 0) snprintf(msg, sizeof msg, "%s: the stored value: %s", fn, m + 5);
    else if (strncmp(m, "patch: ", 7) == 0) snprintf(msg, sizeof msg, "%s: changes: %s", fn, m + 7);
    else snprintf(msg, sizeof msg, "%s: %s", fn, m);
    return cairn_err__set(rc, "%s", msg);
}

int cairn_kv_update_json(cairn_kv *kv, const void *key, size_t klen, const void *changes, size_t len) {
    static const char fn[] = "kv_update_json";
    look l;
    uint32_t hash;
    uint8_t *old = NULL, *merged = NULL;
    size_t olen = 0, mlen = 0;
    int rc, found;
    if ((rc = cairn_kv__check_handle(kv, fn)) != 0) return rc;
    if ((rc = check_key(key, klen, fn)) != 0) return rc;
    if (!changes && len) return cairn_err__set(CAIRN_INVALID, "%s: changes is NULL", fn);
    hash = cairn_kd__hash(key, klen);
    /* wmu from the read to the write: no other writer of the handle comes between them */
    pthread_mutex_lock(&kv->wmu);
    if ((rc = cairn_kv__check_writable(kv, fn)) != 0) goto unlock;
    pthread_rwlock_rdlock(&kv->rw);
    found = lookup(kv, key, klen, hash, NOW_LAZY, 1, &l);
    if (found < 0) {
        rc = found;
    } else if (found) {
        int kind = l.op ? l.op->kind : l.v.r.kind;
        if (kind != CAIRN_KIND_JSON) {
            rc = cairn_err__set(CAIRN_TYPE, "%s: the stored value is of kind %d, not JSON (%d)", fn, kind,
                                CAIRN_KIND_JSON);
        } else if (l.op) {
            olen = l.op->vlen;
            if (!(old = (uint8_t *)malloc(olen ? olen : 1))) rc = cairn_err__set(CAIRN_NOMEM, "%s: out of memory", fn);
            else if (olen) memcpy(old, l.op->buf + l.op->klen, olen);
        } else {
            olen = l.v.r.vlen;
            rc = take_value(&l, NULL, &old);
        }
        if (!l.op) rec_view_done(&l.v);
    }
    pthread_rwlock_unlock(&kv->rw);
    if (rc) goto unlock;
    if (!found) {
        /* changes that are not a JSON object are CAIRN_TYPE whether or not the key exists */
        static const uint8_t empty[2] = {'{', '}'};
        rc = cairn_json__merge_top(empty, sizeof empty, (const uint8_t *)changes, len, &merged, &mlen);
        free(merged);
        merged = NULL;
        rc = rc ? json_type_error(rc, fn) : cairn_err__set(CAIRN_NOTFOUND, "%s: no such key (or it expired)", fn);
        goto unlock;
    }
    if ((rc = cairn_json__merge_top(old, olen, (const uint8_t *)changes, len, &merged, &mlen)) != 0) {
        rc = json_type_error(rc, fn);
        goto unlock;
    }
    if (mlen > CAIRN_VALUE_MAX) {
        rc = cairn_err__set(CAIRN_TOOBIG, "%s: the merged value has %zu bytes (the limit is %u)", fn, mlen,
                            CAIRN_VALUE_MAX);
        goto unlock;
    }
    free(old);
    /* the expiry stays what it was */
    rc = write_locked(kv, T_PUT, key, klen, hash, merged, mlen, CAIRN_KIND_JSON, l.expire, fn);
    free(merged);
    return rc;
unlock:
    pthread_mutex_unlock(&kv->wmu);
    free(old);
    free(merged);
    return rc;
}

/* A write's result, counted (puts and deletes that succeeded; errors by code). */
static int counted_write(cairn_kv *kv, int rc, int type) {
    if (!rc && kv) kv_count(type == T_PUT ? &kv->n_puts : &kv->n_deletes, 1);
    return kv_result(kv, rc);
}

int cairn_kv_put(cairn_kv *kv, const void *key, size_t klen, const void *val, size_t vlen, int kind) {
    return counted_write(kv, kv_write(kv, T_PUT, key, klen, val, vlen, kind, 0, "kv_put"), T_PUT);
}

int cairn_kv_put_ex(cairn_kv *kv, const void *key, size_t klen, const void *val, size_t vlen, int kind,
                    int64_t expire_at_ms) {
    return counted_write(kv, kv_write(kv, T_PUT, key, klen, val, vlen, kind, expire_at_ms, "kv_put_ex"), T_PUT);
}

int cairn_kv_delete(cairn_kv *kv, const void *key, size_t klen) {
    return counted_write(kv, kv_write(kv, T_DEL, key, klen, NULL, 0, 0, 0, "kv_delete"), T_DEL);
}

int cairn_kv_begin(cairn_kv *kv) {
    int rc;
    if ((rc = cairn_kv__check_handle(kv, "kv_begin")) != 0) return rc;
    pthread_mutex_lock(&kv->wmu);
    if ((rc = cairn_kv__check_writable(kv, "kv_begin")) == 0) {
        if (kv->in_txn) rc = cairn_err__set(CAIRN_TXN, "kv_begin: a transaction is already open (no nesting)");
        else {
            pthread_rwlock_wrlock(&kv->rw);
            kv->in_txn = 1;
            pthread_rwlock_unlock(&kv->rw);
        }
    }
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}

int cairn_kv_in_txn(cairn_kv *kv) {
    int rc;
    if ((rc = cairn_kv__check_handle(kv, "kv_in_txn")) != 0) return rc;
    pthread_rwlock_rdlock(&kv->rw); /* begin, commit and rollback change the flag under the write lock */
    rc = kv->in_txn != 0;
    pthread_rwlock_unlock(&kv->rw);
    return rc;
}

int cairn_kv_rollback(cairn_kv *kv) {
    int rc = 0;
    if ((rc = cairn_kv__check_handle(kv, "kv_rollback")) != 0) return rc;
    pthread_mutex_lock(&kv->wmu);
    /* a rollback always ends the transaction; on a failed handle it still says CAIRN_FAILED */
    if (kv->in_txn) {
        pthread_rwlock_wrlock(&kv->rw);
        cairn_kv__txn_clear(kv);
        pthread_rwlock_unlock(&kv->rw);
        if (is_failed(kv)) rc = err_failed(kv, "kv_rollback");
    } else {
        rc = is_failed(kv) ? err_failed(kv, "kv_rollback")
                           : cairn_err__set(CAIRN_TXN, "kv_rollback: no transaction is open");
    }
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}

static int kv_commit(cairn_kv *kv);

int cairn_kv_commit(cairn_kv *kv) {
    int rc = kv_commit(kv);
    if (!rc && kv) kv_count(&kv->n_commits, 1);
    return kv_result(kv, rc);
}

static int kv_commit(cairn_kv *kv) {
    txn_op **v = NULL;
    size_t n = 0, i;
    uint32_t slot;
    int rc;
    if ((rc = cairn_kv__check_handle(kv, "kv_commit")) != 0) return rc;
    pthread_mutex_lock(&kv->wmu);
    if (!kv->in_txn) {
        rc = is_failed(kv) ? err_failed(kv, "kv_commit") : cairn_err__set(CAIRN_TXN, "kv_commit: no transaction is open");
        goto unlock;
    }
    /* a commit that fails ends the transaction (nothing of it is written) */
    if ((rc = cairn_kv__check_writable(kv, "kv_commit")) != 0) goto end_txn;
    if (kv->nops && !(v = (txn_op **)malloc(kv->nops * sizeof *v))) {
        rc = cairn_err__set(CAIRN_NOMEM, "kv_commit: out of memory");
        goto end_txn;
    }
    for (i = 0; i < kv->nops; i++) {
        txn_op *op = &kv->ops[i];
        /* a delete of a key only this transaction wrote needs no tombstone */
        if (op->type == T_DEL) {
            uint64_t loc;
            int f = cairn_kd__find(kv->kd, op->buf, op->klen, op->hash, &loc);
            if (f < 0) {
                rc = f;
                free(v);
                goto end_txn;
            }
            if (!f) continue;
        }
        v[n++] = op;
    }
    if (n) {
        /* the overlay must go before the keydir shows the batch: both under one write lock is
         * not needed because cairn_kv__apply() and the overlay agree on every key's value */
        rc = write_batch(kv, v, n, &slot);
    }
    free(v);
    pthread_rwlock_wrlock(&kv->rw);
    cairn_kv__txn_clear(kv);
    pthread_rwlock_unlock(&kv->rw);
    if (rc || !n) goto unlock;
    return cairn_kv__durable_unlock(kv, slot, "kv_commit");
end_txn:
    pthread_rwlock_wrlock(&kv->rw);
    cairn_kv__txn_clear(kv);
    pthread_rwlock_unlock(&kv->rw);
unlock:
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}

int cairn_kv_sync(cairn_kv *kv) {
    int rc;
    if ((rc = cairn_kv__check_handle(kv, "kv_sync")) != 0) return rc;
    if (kv->readonly) return 0;
    pthread_mutex_lock(&kv->wmu);
    /* inside a transaction it makes what was committed before it durable; the transaction's
     * writes are not committed, so not written: it goes on */
    if (is_failed(kv)) rc = err_failed(kv, "kv_sync");
    else if (kv->active >= 0) {
        cairn_kv__group_quiesce(kv);
        if ((rc = kv_fsync(kv, kv->files[kv->active].f)) != 0) set_failed(kv);
        else {
            pthread_mutex_lock(&kv->gmu);
            kv->synced = kv->written;
            pthread_mutex_unlock(&kv->gmu);
        }
    }
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}

/* Bytes of FILE and SEAL records in a data file (not dead: compaction writes them again), read
 * with pread, not from the mapping: a file cut under the handle (a simulated crash) must give an
 * error, not SIGBUS. A read that fails counts none. */
static uint64_t frame_bytes(const kv_file *kf) {
    uint64_t n = 0;
    uint8_t h[MREC2];
    uint32_t m = mrec_size(kf->version);
    rec_hdr rh;
    if (kf->size >= MREC2 && cairn_io__pread(kf->f, h, MREC2, 0, NULL) == 0 && cairn_kv__dec_hdr(h, MREC2, &rh) == 0 &&
        rh.type == T_FILE)
        n += MREC2;
    if (kf->size >= m + n && cairn_io__pread(kf->f, h, m, kf->size - m, NULL) == 0 &&
        cairn_kv__dec_hdr(h, m, &rh) == 0 && rh.type == T_SEAL)
        n += m;
    return n;
}

int cairn_kv__usage(cairn_kv *kv, int64_t now, uint64_t *live, uint64_t *data, uint64_t *nexpired) {
    uint32_t i;
    uint64_t bytes;
    int rc;
    *data = 0;
    for (i = 0; i < kv->nfiles; i++)
        if (kv->files[i].f) *data += kv->files[i].size - frame_bytes(&kv->files[i]);
    if ((rc = expired_keys(kv, now, nexpired, &bytes)) != 0) return rc;
    *live = kv->live_bytes - bytes;
    return 0;
}

/* Bytes of every regular file of the store's directory (not the snapshots in its subdirectory):
 * data files count their logical size (a read-write mapping may reserve a zeroed tail on disk
 * until close), every other file (hints, KEYDIR, LOCK, RECLAIM, *.tmp) its size on disk. The
 * result is the same whichever way the handle was opened (hints, KEYDIR or a scan). Caller
 * holds a lock. */
static uint64_t disk_usage(cairn_kv *kv) {
    char **names = NULL;
    size_t n = 0, k;
    uint64_t total = 0;
    uint32_t i;
    if (cairn_io__list(kv->dir, &names, &n) != 0) { /* fall back to what the handle knows */
        for (i = 0; i < kv->nfiles; i++)
            if (kv->files[i].f) total += kv->files[i].size + (kv->files[i].hinted ? kv->files[i].hint_size : 0);
        return total;
    }
    for (k = 0; k < n; k++) {
        uint64_t order, size = 0;
        int known = 0;
        char *p;
        if (cairn_kv__parse_name(names[k], "data", &order)) {
            for (i = 0; i < kv->nfiles; i++)
                if (kv->files[i].f && kv->files[i].order == order) {
                    total += kv->files[i].size;
                    known = 1;
                    break;
                }
        }
        if (known) continue;
        p = cairn_path__join(kv->dir, names[k]);
        if (p && cairn_io__stat(p, &size) == 1) total += size;
        free(p);
    }
    cairn_io__list_free(names, n);
    return total;
}

int cairn_kv_stats(cairn_kv *kv, struct cairn_kv_stats *user) {
    struct cairn_kv_stats st, *out = &st;
    uint32_t i;
    uint64_t data = 0, nexp;
    int64_t now;
    int rc;
    if ((rc = cairn_kv__check_handle(kv, "kv_stats")) != 0) return rc;
    if (!user) return cairn_err__set(CAIRN_INVALID, "kv_stats: out is NULL");
    if ((rc = cairn_stats__check(user->size, sizeof st, "kv_stats")) != 0) return rc;
    if (is_failed(kv)) return err_failed(kv, "kv_stats");
    memset(out, 0, sizeof *out);
    now = cairn_time__now_ms();
    pthread_rwlock_rdlock(&kv->rw);
    for (i = 0; i < kv->nfiles; i++)
        if (kv->files[i].f) out->data_files++;
    out->disk_bytes = disk_usage(kv);
    if ((rc = live_count(kv, now, &out->keys)) != 0 ||
        (rc = cairn_kv__usage(kv, now, &out->live_bytes, &data, &nexp)) != 0) {
        pthread_rwlock_unlock(&kv->rw);
        return rc;
    }
    out->dead_bytes = data > out->live_bytes ? data - out->live_bytes : 0;
    out->keydir_bytes = cairn_kd__bytes(kv->kd);
    out->seq = kv->seq;
    out->compactions = kv->compactions;
    out->in_txn = kv->in_txn;
    pthread_rwlock_unlock(&kv->rw);
    cairn_stats__copy(user, out, sizeof st);
    return 0;
}

/* The directory of the store (the `store` label of cairn_kv_metrics; metrics.h). */
const char *cairn_kv__path(const cairn_kv *kv) { return kv->dir; }

/* The operation counters of the handle (cairn_kv_metrics; metrics.h). */
void cairn_kv__counters(cairn_kv *kv, cairn_kv_counters *c) {
    int i;
    c->puts = __atomic_load_n(&kv->n_puts, __ATOMIC_RELAXED);
    c->gets = __atomic_load_n(&kv->n_gets, __ATOMIC_RELAXED);
    c->deletes = __atomic_load_n(&kv->n_deletes, __ATOMIC_RELAXED);
    c->commits = __atomic_load_n(&kv->n_commits, __ATOMIC_RELAXED);
    c->written_bytes = __atomic_load_n(&kv->n_written, __ATOMIC_RELAXED);
    c->fsyncs = __atomic_load_n(&kv->n_fsyncs, __ATOMIC_RELAXED);
    for (i = 0; i < 32; i++) c->errors[i] = __atomic_load_n(&kv->n_errors[i], __ATOMIC_RELAXED);
}
