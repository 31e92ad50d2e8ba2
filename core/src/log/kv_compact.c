/* kv_compact.c - compaction (cairn_kv_compact): rewrite the live records into new files, commit
 * with the RECLAIM manifest (the on-disk name; see the FORMAT comment in kv.c), then swap the
 * handle over to them. */
#include "kv_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- compaction ------------------------------------------------------------------------------- */

typedef struct rc_ctx {
    uint64_t *v; /* the live slots (tag and location) */
    size_t n, cap;
    int rc;
} rc_ctx;

static int rc_collect(void *vctx, uint64_t slot) {
    rc_ctx *c = (rc_ctx *)vctx;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 1024;
        uint64_t *v = (uint64_t *)realloc(c->v, nc * sizeof *v);
        if (!v) {
            c->rc = cairn_err__set(CAIRN_NOMEM, "kv_compact: out of memory");
            return 1;
        }
        c->v = v;
        c->cap = nc;
    }
    c->v[c->n++] = slot;
    return 0;
}

static cairn_kv *g_sort_kv; /* qsort has no context argument in C99; compaction holds wmu */
static pthread_mutex_t g_sort_mu = PTHREAD_MUTEX_INITIALIZER;

/* File order, then offset (a file number out of range sorts last: the copy reports it). */
static int cmp_slot_loc(const void *a, const void *b) {
    const uint64_t lx = *(const uint64_t *)a & KD_LOC_MASK, ly = *(const uint64_t *)b & KD_LOC_MASK;
    const uint32_t fx = KD_LOC_FILE(lx), fy = KD_LOC_FILE(ly), n = g_sort_kv->nfiles;
    uint64_t ox = fx < n ? g_sort_kv->files[fx].order : UINT64_MAX;
    uint64_t oy = fy < n ? g_sort_kv->files[fy].order : UINT64_MAX;
    if (ox != oy) return ox < oy ? -1 : 1;
    return KD_LOC_OFF(lx) < KD_LOC_OFF(ly) ? -1 : KD_LOC_OFF(lx) > KD_LOC_OFF(ly);
}

typedef struct rc_out {
    kv_file *files;
    uint32_t n;
    int32_t cur;
    uint8_t *buf;
    size_t blen, bcap;
    uint64_t flushed; /* bytes of the current file already written */
} rc_out;

static int out_flush(rc_out *o) {
    kv_file *kf = &o->files[o->cur];
    int rc;
    if (!o->blen) return 0;
    if ((rc = cairn_io__pwrite(kf->f, o->buf, o->blen, o->flushed)) != 0) return rc;
    o->flushed += o->blen;
    o->blen = 0;
    return 0;
}

static int out_finish(cairn_kv *kv, rc_out *o) {
    int rc;
    if (o->cur < 0) return 0;
    /* its SEAL record: an output cut short, even at a record boundary, lacks it (the outputs
     * have no hint files to compare sizes with) */
    if (o->bcap - o->blen < MREC3 && (rc = out_flush(o)) != 0) return rc;
    o->blen += cairn_kv__enc_mark(o->buf + o->blen, 3, T_SEAL, o->flushed + o->blen, 0, kv->seq);
    o->files[o->cur].size = o->flushed + o->blen;
    if ((rc = out_flush(o)) != 0) return rc;
    if ((rc = cairn_io__fsync(o->files[o->cur].f)) != 0) {
        set_failed(kv);
        return rc;
    }
    /* no hint file: the KEYDIR written at close is the store's one index (docs/format-kv.md) */
    o->cur = -1;
    return 0;
}

int cairn_kv_compact(cairn_kv *kv) {
    rc_ctx c;
    rc_out o;
    compact_manifest rl;
    cairn_kd *nkd = NULL;
    uint32_t nin = 0, *in = NULL, i;
    uint64_t major, minor, new_live = 0;
    uint8_t *rbuf = NULL;
    size_t rcap = 0, k;
    int64_t now;
    kv_files_ref ofref;
    kd_src osrc;
    int rc, committed = 0;

    if ((rc = cairn_kv__check_handle(kv, "kv_compact")) != 0) return rc;
    memset(&c, 0, sizeof c);
    memset(&o, 0, sizeof o);
    memset(&rl, 0, sizeof rl);
    o.cur = -1;
    pthread_mutex_lock(&kv->wmu);
    if ((rc = cairn_kv__check_writable(kv, "kv_compact")) != 0) goto unlock;
    if (kv->in_txn) {
        rc = cairn_err__set(CAIRN_TXN, "kv_compact: not allowed inside a transaction");
        goto unlock;
    }
    {
        /* nothing to reclaim (no dead bytes, no expired key): change nothing, count nothing */
        uint64_t live, data, nexp;
        pthread_rwlock_rdlock(&kv->rw);
        rc = cairn_kv__usage(kv, cairn_time__now_ms(), &live, &data, &nexp);
        pthread_rwlock_unlock(&kv->rw);
        if (rc) goto unlock;
        if (data <= live && nexp == 0) goto unlock;
    }
    cairn_kv__group_quiesce(kv);
    if ((rc = cairn_kv__drop_snapshot(kv)) != 0) goto unlock;
    if ((rc = cairn_kv__seal_active(kv)) != 0) goto unlock;
    if (!(in = cairn_kv__sorted_slots(kv, &nin))) {
        rc = cairn_err__set(CAIRN_NOMEM, "kv_compact: out of memory");
        goto unlock;
    }
    if (nin == 0) goto done;
    major = kv->files[in[nin - 1]].order >> 32;
    minor = (kv->files[in[nin - 1]].order & 0xffffffffu) + 1;
    now = cairn_time__now_ms();
    cairn_kd__each(kv->kd, rc_collect, &c);
    if ((rc = c.rc) != 0) goto fail;
    pthread_mutex_lock(&g_sort_mu);
    g_sort_kv = kv;
    if (c.n) qsort(c.v, c.n, sizeof *c.v, cmp_slot_loc);
    pthread_mutex_unlock(&g_sort_mu);
    /* the new table names the outputs; it is sized for every key first, so that no insert rebuilds
     * it (a rebuild would read keys from outputs not written yet) and no insert compares keys */
    ofref.dir = kv->dir;
    ofref.files = &o.files;
    ofref.n = &o.n;
    osrc.key = cairn_kv__src_key;
    osrc.addr = cairn_kv__src_addr;
    osrc.ctx = &ofref;
    if (!(nkd = cairn_kd__new(&osrc)) || cairn_kd__reserve(nkd, c.n) != 0 || !(o.buf = (uint8_t *)malloc(RDR_CHUNK))) {
        rc = cairn_err__set(CAIRN_NOMEM, "kv_compact: out of memory");
        goto fail;
    }
    o.bcap = RDR_CHUNK;
    for (k = 0; k < c.n; k++) {
        const uint64_t kslot = c.v[k];
        uint64_t rs, ws, at;
        uint32_t hash;
        rec_view v;
        /* the record whole (its CRC checked); it must hold a key of the slot's tag */
        if ((rc = cairn_kv__rec_at(kv->dir, kv->files, kv->nfiles, kslot & KD_LOC_MASK, 1, &v)) != 0) goto fail;
        if (expired(v.r.expire, now)) {
            rec_view_done(&v);
            continue;
        }
        hash = cairn_kd__hash(v.b + v.r.hlen, v.r.klen);
        if (KD_TAG(hash) != KD_SLOT_TAG(kslot)) {
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: the record at offset %" PRIu64 " is not the keydir's (compaction stopped)",
                                cairn_io__path(v.kf->f), v.off);
            rec_view_done(&v);
            goto fail;
        }
        ws = rec_size(cairn_kv__hlen(3, T_PUT, v.r.kind, v.r.klen, v.r.vlen, v.r.expire), v.r.klen, v.r.vlen);
        if (ws > rcap) {
            uint8_t *nb = (uint8_t *)realloc(rbuf, (size_t)ws);
            if (!nb) {
                rec_view_done(&v);
                rc = cairn_err__set(CAIRN_NOMEM, "kv_compact: out of memory");
                goto fail;
            }
            rbuf = nb;
            rcap = (size_t)ws;
        }
        /* the copy is a version 3 bare PUT (whatever the source: the batch flag goes, the copy
         * commits itself) */
        rs = cairn_kv__enc_rec(rbuf, T_PUT, 0, v.r.kind, v.b + v.r.hlen, v.r.klen, v.b + v.r.hlen + v.r.klen, v.r.vlen,
                               0, v.r.expire);
        rec_view_done(&v);
        if (o.cur >= 0 && o.flushed + o.blen > 0 && o.flushed + o.blen + rs > kv->max_file_size) {
            if ((rc = out_finish(kv, &o)) != 0) goto fail;
        }
        if (o.cur < 0) {
            uint64_t order = (major << 32) | minor++;
            char *p = cairn_kv__file_path(kv->dir, order, "data.tmp");
            cairn_file *f = NULL;
            uint32_t slot;
            if (!p) {
                rc = CAIRN_NOMEM;
                goto fail;
            }
            rc = cairn_io__open(&f, p, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC);
            free(p);
            if (!rc) rc = cairn_kv__add_slot(&o.files, &o.n, order, f, 0, &slot);
            if (rc) {
                cairn_io__close(f);
                goto fail;
            }
            o.files[slot].version = 3;
            o.cur = (int32_t)slot;
            o.flushed = 0;
            /* framed like every version 2 and 3 data file: FILE first, SEAL last (out_finish) */
            if (o.bcap - o.blen < MREC2 && (rc = out_flush(&o)) != 0) goto fail;
            o.blen += cairn_kv__enc_mark(o.buf + o.blen, FILE_ENC, T_FILE, order, FORMAT_VERSION, kv->seq);
        }
        at = o.flushed + o.blen;
        if (rs > o.bcap - o.blen) {
            if ((rc = out_flush(&o)) != 0) goto fail;
        }
        if (rs > o.bcap) {
            if ((rc = cairn_io__pwrite(o.files[o.cur].f, rbuf, (size_t)rs, o.flushed)) != 0) goto fail;
            o.flushed += rs;
        } else {
            memcpy(o.buf + o.blen, rbuf, (size_t)rs);
            o.blen += (size_t)rs;
        }
        o.files[o.cur].size = at + rs;
        if (cairn_kd__insert_new(nkd, hash, KD_LOC(o.cur, at)) != 0) {
            rc = cairn_err__set(CAIRN_NOMEM, "kv_compact: out of memory (keydir)");
            goto fail;
        }
        if (v.r.expire) cairn_kd__expiring_add(nkd, 1);
        new_live += rs;
    }
    if ((rc = out_finish(kv, &o)) != 0) goto fail;
    /* the commit point */
    rl.nin = nin;
    rl.nout = o.n;
    rl.in = (uint64_t *)malloc((nin + 1) * sizeof(uint64_t));
    rl.out = (uint64_t *)malloc((o.n + 1) * sizeof(uint64_t));
    if (!rl.in || !rl.out) {
        rc = cairn_err__set(CAIRN_NOMEM, "kv_compact: out of memory");
        goto fail;
    }
    for (i = 0; i < nin; i++) rl.in[i] = kv->files[in[i]].order;
    for (i = 0; i < o.n; i++) rl.out[i] = o.files[i].order;
    if ((rc = cairn_kv__manifest_write(kv->dir, &rl)) != 0) {
        /* RECLAIM may or may not be on disk now (e.g. the directory fsync after its rename
         * failed): leave every file as it is, reopen decides from RECLAIM */
        set_failed(kv);
        committed = 1;
        goto fail;
    }
    committed = 1;
    if ((rc = cairn_kv__compact_finish(kv->dir, &rl)) != 0) {
        set_failed(kv); /* reopen finishes it */
        goto fail;
    }
    {
        kv_file *old_files;
        uint32_t old_n;
        cairn_kd *old_kd;
        for (i = 0; i < o.n; i++) cairn_kv__map_file(&o.files[i]);
        pthread_rwlock_wrlock(&kv->rw);
        old_files = kv->files;
        old_n = kv->nfiles;
        old_kd = kv->kd;
        kv->files = o.files;
        kv->nfiles = o.n;
        cairn_kv__kd_src(kv, &osrc); /* from now on it names the handle's files */
        cairn_kd__set_src(nkd, &osrc);
        kv->kd = nkd;
        kv->live_bytes = new_live;
        kv->active = -1;
        if (kv->next_major <= major) kv->next_major = major + 1;
        pthread_rwlock_unlock(&kv->rw);
        cairn_kv__group_detach(kv); /* no group-commit leader may still hold one of the old files */
        for (i = 0; i < old_n; i++) {
            cairn_kv__unmap_file(&old_files[i]);
            cairn_io__close(old_files[i].f);
        }
        free(old_files);
        cairn_kd__free(old_kd);
        o.files = NULL;
        o.n = 0;
        nkd = NULL;
    }
done:
    pthread_rwlock_wrlock(&kv->rw);
    kv->compactions++;
    pthread_rwlock_unlock(&kv->rw);
    rc = 0;
    goto cleanup;
fail:
    if (!committed) {
        for (i = 0; i < o.n; i++) {
            (void)cairn_kv__unlink_order(kv->dir, o.files[i].order, "data.tmp");
            (void)cairn_kv__unlink_order(kv->dir, o.files[i].order, "hint.tmp");
        }
    }
cleanup:
    for (i = 0; i < o.n; i++) {
        cairn_kv__unmap_file(&o.files[i]);
        cairn_io__close(o.files[i].f);
    }
    free(o.files);
    free(o.buf);
    cairn_kd__free(nkd);
    free(c.v);
    free(rbuf);
    free(in);
    cairn_kv__manifest_free(&rl);
unlock:
    pthread_mutex_unlock(&kv->wmu);
    return rc;
}
