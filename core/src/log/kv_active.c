/* kv_active.c - the KV's data files in use: the file table, mappings, the active file (creation,
 * FILE record, appends, sealing and rotation) and group commit. */
#include "kv_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- files ---------------------------------------------------------------------------------- */

int cairn_kv__add_slot(kv_file **files, uint32_t *n, uint64_t order, cairn_file *f, uint64_t size, uint32_t *slot) {
    uint32_t i;
    kv_file *v;
    for (i = 0; i < *n; i++)
        if (!(*files)[i].f) break;
    if (i == *n) {
        /* the keydir's locations have 12 bits for a file (keydir.h) */
        if (*n >= KD_FILE_MAX)
            return cairn_err__set(CAIRN_RANGE,
                                  "kv: too many data files (the keydir addresses %u; compact the store, or open it "
                                  "with a larger max_file_size)",
                                  KD_FILE_MAX);
        v = (kv_file *)realloc(*files, (*n + 1) * sizeof *v);
        if (!v) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (file table)");
        *files = v;
        (*n)++;
    }
    memset(&(*files)[i], 0, sizeof(kv_file));
    (*files)[i].order = order;
    (*files)[i].f = f;
    (*files)[i].size = size;
    *slot = i;
    return 0;
}

/* Map a data file read-only so that reads need no system call. Best effort: without a mapping
 * reads use pread. Only bytes that never change are mapped (sealed files; the active file up to
 * its size at open), and the store only ever truncates bytes past them. A file that is already
 * shorter than what would be mapped (cut by another program) is not mapped: its reads then fail
 * cleanly with CAIRN_CORRUPT instead of raising SIGBUS. (A cut after this check still raises
 * SIGBUS on the next read of the lost pages; see cairn_kv_open in cairn.h.) */
void cairn_kv__map_file(kv_file *kf) {
    const void *p = NULL;
    uint64_t disk = 0;
    if (kf->map || !kf->f || kf->size == 0 || kf->size > (uint64_t)SIZE_MAX) return;
    if (cairn_io__size(kf->f, &disk) != 0 || disk < kf->size) {
        cairn_errclear();
        return;
    }
    if (cairn_io__map(kf->f, kf->size, &p) == 0) {
        kf->map = (const uint8_t *)p;
        kf->maplen = kf->size;
    } else {
        cairn_errclear();
    }
}

void cairn_kv__unmap_file(kv_file *kf) {
    if (kf->map) cairn_io__unmap(kf->map, kf->maplen);
    kf->map = NULL;
    kf->maplen = 0;
    kf->wmap = NULL;
}

/* Map the active file read-write over [0, max_file_size rounded up to a page) (capped at
 * WMAP_MAX), replacing its read-only mapping. Best effort: without it appends use pwrite. Records
 * that end past the mapping (a first record larger than max_file_size) are written with pwrite.
 * Caller holds wmu and not the rwlock. */
static void wmap_active(cairn_kv *kv, kv_file *af) {
    uint64_t len = (kv->max_file_size + 65535u) & ~(uint64_t)65535u, disk = 0;
    void *p = NULL;
    af->wtried = 1;
    if (len > WMAP_MAX) len = WMAP_MAX;
    if (len > (uint64_t)SIZE_MAX / 2 || cairn_io__size(af->f, &disk) != 0 ||
        cairn_io__map_rw(af->f, len, &p) != 0) {
        cairn_errclear();
        return;
    }
    pthread_rwlock_wrlock(&kv->rw);
    cairn_kv__unmap_file(af);
    af->wmap = (uint8_t *)p;
    af->map = (const uint8_t *)p;
    af->maplen = len;
    af->reserved = disk > af->size ? disk : af->size;
    pthread_rwlock_unlock(&kv->rw);
}

/* Give the active file back its exact logical size (drop the reserved zero tail). Caller holds
 * wmu. */
int cairn_kv__trim_active(kv_file *af) {
    int rc;
    if (!af->wmap || af->reserved <= af->size) return 0;
    if ((rc = cairn_io__truncate(af->f, af->size)) != 0) return rc;
    af->reserved = af->size;
    return 0;
}

/* Write the FILE record into the empty active file (a new one, or one left empty by a killed
 * writer). Not synced: if it is lost the file is empty again and gets it at the next append.
 * Caller holds wmu. */
static int file_rec(cairn_kv *kv, kv_file *af) {
    uint8_t r[MREC2];
    int rc;
    /* its seq is the store's when the file starts: the file's bare writes number on from it */
    cairn_kv__enc_mark(r, FILE_ENC, T_FILE, af->order, FORMAT_VERSION, kv->seq);
    if ((rc = cairn_io__pwrite(af->f, r, MREC2, 0)) != 0) {
        if (cairn_io__truncate(af->f, 0) != 0) set_failed(kv);
        return rc;
    }
    pthread_rwlock_wrlock(&kv->rw);
    af->size = MREC2;
    af->base = MREC2;
    af->version = 3;
    if (af->reserved < MREC2) af->reserved = MREC2;
    pthread_rwlock_unlock(&kv->rw);
    return 0;
}

/* Create the next active data file (caller holds wmu). */
static int new_active(cairn_kv *kv) {
    uint64_t order = kv->next_major << 32;
    char *p = cairn_kv__file_path(kv->dir, order, "data");
    cairn_file *f = NULL;
    uint32_t slot;
    int rc;
    if (!p) return CAIRN_NOMEM;
    rc = cairn_io__open(&f, p, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_EXCL);
    if (!rc) rc = cairn_io__sync_dir(kv->dir);
    if (rc) {
        if (f) {
            cairn_io__close(f);
            (void)cairn_io__unlink(p);
        }
        free(p);
        return rc;
    }
    pthread_rwlock_wrlock(&kv->rw);
    rc = cairn_kv__add_slot(&kv->files, &kv->nfiles, order, f, 0, &slot);
    if (!rc) kv->active = (int32_t)slot;
    pthread_rwlock_unlock(&kv->rw);
    if (rc) {
        cairn_io__close(f);
        (void)cairn_io__unlink(p);
        free(p);
        return rc;
    }
    free(p);
    kv->next_major++;
    return file_rec(kv, &kv->files[slot]);
}

/* Seal the active file: fsync it (always, whatever the sync mode: sealed files never have a torn
 * tail) and stop appending to it. Caller holds wmu. */
int cairn_kv__seal_active(cairn_kv *kv) {
    kv_file *af;
    uint8_t r[MREC2];
    size_t m;
    int rc;
    if (kv->active < 0) return 0;
    af = &kv->files[kv->active];
    /* the SEAL record says where the file ends: a sealed file cut short, even at a record
     * boundary, lacks it (encoded as the file's other records: a version 1 or 2 file left
     * active by an older release gets a version 2 SEAL) */
    m = cairn_kv__enc_mark(r, af->version >= 3 ? 3 : 2, T_SEAL, af->size, 0, kv->seq);
    if ((rc = cairn_io__pwrite(af->f, r, m, af->size)) != 0) {
        if (cairn_io__truncate(af->f, af->size) != 0) set_failed(kv);
        else af->reserved = af->size;
        return rc;
    }
    pthread_rwlock_wrlock(&kv->rw);
    af->size += m;
    if (af->reserved < af->size) af->reserved = af->size;
    pthread_rwlock_unlock(&kv->rw);
    /* sealed files keep their exact size (hints and KEYDIR record it): drop the reserved tail */
    if ((rc = cairn_kv__trim_active(af)) != 0) {
        set_failed(kv); /* the SEAL is written: appending after it would be damage */
        return rc;
    }
    if ((rc = kv_fsync(kv, kv->files[kv->active].f)) != 0) {
        set_failed(kv);
        return rc;
    }
    pthread_mutex_lock(&kv->gmu);
    kv->synced = kv->written;
    pthread_mutex_unlock(&kv->gmu);
    pthread_rwlock_wrlock(&kv->rw);
    cairn_kv__unmap_file(&kv->files[kv->active]); /* sealed: map all of it */
    cairn_kv__map_file(&kv->files[kv->active]);
    pthread_rwlock_unlock(&kv->rw);
    kv->active = -1;
    return 0;
}


/* Append len bytes to the active file (rotating first if it would pass max_file_size).
 * slot and off receive where they went. A failed write is undone with a truncate; if even that
 * fails the file state is unknown and the handle fails. Caller holds wmu; on success append
 * returns holding the write lock (the caller indexes the records, then unlocks). */
int cairn_kv__append(cairn_kv *kv, const uint8_t *buf, size_t len, uint32_t *slot, uint64_t *off) {
    return cairn_kv__append_stream(kv, buf, len, NULL, NULL, slot, off);
}

/* Write the len bytes the pieces give, in order, at the active file's end (caller checked that
 * the file is writable there). */
static int write_pieces(kv_file *af, size_t len, kv_piece_fn next, void *ctx) {
    size_t done = 0;
    while (done < len) {
        const uint8_t *p = NULL;
        size_t n = 0;
        int rc = next(ctx, &p, &n);
        if (rc) return rc;
        if (n == 0 || n > len - done)
            return cairn_err__set(CAIRN_INTERNAL, "kv: a batch produced %zu bytes past %zu of %zu", n, done, len);
        if ((rc = cairn_io__pwrite(af->f, p, n, af->size + done)) != 0) return rc;
        done += n;
    }
    return 0;
}

/* cairn_kv__append for bytes made piece by piece (next != NULL: buf is unused): a large batch is
 * encoded into a small buffer a piece at a time instead of into one buffer of its whole size. */
int cairn_kv__append_stream(cairn_kv *kv, const uint8_t *buf, size_t len, kv_piece_fn next, void *ctx,
                            uint32_t *slot, uint64_t *off) {
    kv_file *af;
    int rc;
    if ((rc = cairn_kv__drop_snapshot(kv)) != 0) return rc;
    if (kv->active >= 0 && kv->files[kv->active].size > 0 && kv->files[kv->active].version < 3) {
        /* an active file of an older release: appends are version 3, which it cannot hold */
        if ((rc = cairn_kv__seal_active(kv)) != 0) return rc;
    }
    if (kv->active >= 0 && kv->files[kv->active].size > kv->files[kv->active].base &&
        kv->files[kv->active].size + len > kv->max_file_size) {
        if ((rc = cairn_kv__seal_active(kv)) != 0) return rc;
    }
    if (kv->active < 0 && (rc = new_active(kv)) != 0) return rc;
    af = &kv->files[kv->active];
    if (af->size == 0 && (rc = file_rec(kv, af)) != 0) return rc;
    if (!af->wtried) wmap_active(kv, af);
    if (next) {
        rc = write_pieces(af, len, next, ctx);
    } else if (af->wmap && len <= WMAP_SMALL && af->size + len <= af->maplen) {
        /* store into the shared mapping; blocks are reserved first, in large steps, so that a
         * full disk is a clean error here and never a SIGBUS on the store */
        if (af->size + len > af->reserved) {
            uint64_t to = (af->size + len + RESERVE_STEP - 1) / RESERVE_STEP * RESERVE_STEP;
            if (to > af->maplen) to = af->maplen;
            rc = cairn_io__reserve(af->f, af->reserved, to - af->reserved);
            if (!rc) {
                /* a load stores into every page of the step: map them all in one call (a page
                 * fault per 4 KiB was 8% of a bare put's CPU). Only without fsyncs of its own: the
                 * pages are dirty from then on, and a commit's fdatasync would write the zeros */
                if (kv->sync == CAIRN_SYNC_NONE && !cairn_io__hooks_active())
                    cairn_io__prefault(af->wmap + af->reserved, (size_t)(to - af->reserved));
                af->reserved = to;
            }
        }
        if (!rc) rc = cairn_io__mwrite(af->f, af->wmap, buf, len, af->size);
    } else {
        rc = cairn_io__pwrite(af->f, buf, len, af->size);
    }
    if (rc) {
        cairn_err_saved saved;
        cairn_err__save(&saved);
        if (cairn_io__truncate(af->f, af->size) != 0) set_failed(kv);
        else af->reserved = af->size;
        return cairn_err__restore_as(&saved, saved.code ? saved.code : rc);
    }
    if (kv->sync == CAIRN_SYNC_NONE && af->size + len - af->wb >= WB_STEP) {
        /* without fsyncs of its own, a load leaves every byte dirty for the close (or the
         * sealing) to wait for: start the writeback of each WB_STEP as it fills, up to a page
         * boundary below the end (the page still being appended to stays out of it) */
        uint64_t end = (af->size + len) & ~(uint64_t)0xffff;
        if (end > af->wb) {
            cairn_io__writeback(af->f, af->wb, end - af->wb);
            af->wb = end;
        }
    }
    if (af->size + len > af->reserved) af->reserved = af->size + len;
    *slot = (uint32_t)kv->active;
    *off = af->size;
    kv_count(&kv->n_written, len);
    if (kv->sync == CAIRN_SYNC_GROUP) {
        pthread_mutex_lock(&kv->gmu);
        kv->written += len;
        kv->gfile = af->f;
        pthread_mutex_unlock(&kv->gmu);
    } else {
        /* no group-commit leader reads these outside wmu in the other modes (the mode is fixed
         * at open; only group_wait reads them under gmu alone): skip the lock on every append */
        kv->written += len;
        kv->gfile = af->f;
    }
    /* returns holding the write lock: the caller indexes what it wrote in the same section */
    pthread_rwlock_wrlock(&kv->rw);
    af->size += len;
    af->hinted = 0;
    return 0;
}

/* A buffer for encoding records: the handle's own one up to 1 MiB (caller holds wmu), else a
 * new one. Give it back with ebuf_done. */
uint8_t *cairn_kv__ebuf_get(cairn_kv *kv, size_t n) {
    if (n > ((size_t)1 << 20)) return (uint8_t *)malloc(n);
    if (n > kv->ecap) {
        size_t nc = kv->ecap ? kv->ecap : 4096;
        uint8_t *v;
        while (nc < n) nc *= 2;
        if (!(v = (uint8_t *)realloc(kv->ebuf, nc))) return NULL;
        kv->ebuf = v;
        kv->ecap = nc;
    }
    return kv->ebuf;
}

void cairn_kv__ebuf_done(cairn_kv *kv, uint8_t *p) {
    if (p != kv->ebuf) free(p);
}

/* Group commit: wait until an fsync covers `target` bytes; become the leader if none runs. */
static int group_wait(cairn_kv *kv, uint64_t target, const char *fn) {
    int rc = 0;
    pthread_mutex_lock(&kv->gmu);
    for (;;) {
        if (kv->synced >= target) break;
        if (is_failed(kv)) {
            rc = err_failed(kv, fn);
            break;
        }
        if (!kv->syncing) {
            cairn_file *f = kv->gfile;
            uint64_t t = kv->written;
            if (!f) {
                /* detached (group_detach): everything written was synced by the one who
                 * detached it, and no leader may hold a file any more */
                kv->synced = t;
                continue;
            }
            kv->syncing = 1;
            pthread_mutex_unlock(&kv->gmu);
            rc = kv_fsync(kv, f);
            pthread_mutex_lock(&kv->gmu);
            kv->syncing = 0;
            if (rc) set_failed(kv);
            else if (t > kv->synced) kv->synced = t;
            pthread_cond_broadcast(&kv->gcv);
            if (rc) break;
            continue;
        }
        pthread_cond_wait(&kv->gcv, &kv->gmu);
    }
    pthread_mutex_unlock(&kv->gmu);
    return rc;
}

/* Wait for a running group fsync to finish. */
void cairn_kv__group_quiesce(cairn_kv *kv) {
    pthread_mutex_lock(&kv->gmu);
    while (kv->syncing) pthread_cond_wait(&kv->gcv, &kv->gmu);
    pthread_mutex_unlock(&kv->gmu);
}

/* Before any data file is closed: a group-commit leader copies kv->gfile under gmu and fsyncs it
 * outside, so wait until no leader runs and take the file away from later ones, in one critical
 * section. Later leaders find no file and have nothing to sync (the caller synced everything:
 * sealed the active file or is closing). Caller holds wmu, so nothing is appended meanwhile. */
void cairn_kv__group_detach(cairn_kv *kv) {
    pthread_mutex_lock(&kv->gmu);
    while (kv->syncing) pthread_cond_wait(&kv->gcv, &kv->gmu);
    kv->gfile = NULL;
    pthread_mutex_unlock(&kv->gmu);
}

/* Make an append durable per the sync mode. Called with wmu held; returns with it released. */
int cairn_kv__durable_unlock(cairn_kv *kv, uint32_t slot, const char *fn) {
    int rc = 0;
    if (kv->sync == CAIRN_SYNC_COMMIT) {
        if ((rc = kv_fsync(kv, kv->files[slot].f)) != 0) set_failed(kv);
        else {
            pthread_mutex_lock(&kv->gmu);
            kv->synced = kv->written;
            pthread_mutex_unlock(&kv->gmu);
        }
        pthread_mutex_unlock(&kv->wmu);
    } else if (kv->sync == CAIRN_SYNC_GROUP) {
        uint64_t target;
        pthread_mutex_lock(&kv->gmu);
        target = kv->written;
        pthread_mutex_unlock(&kv->gmu);
        pthread_mutex_unlock(&kv->wmu);
        rc = group_wait(kv, target, fn);
    } else {
        pthread_mutex_unlock(&kv->wmu);
    }
    return rc;
}
