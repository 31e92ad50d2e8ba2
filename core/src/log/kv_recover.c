/* kv_recover.c - loading a KV store: applying records to the keydir, scanning data files
 * (torn tails, damage), hint files, the KEYDIR snapshot, the RECLAIM manifest of compaction and
 * the load itself (a reader beside a writer loads again while the files change). */
#include "kv_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- applying records to the keydir --------------------------------------------------------- */

int cairn_kv__hint_add(hintbuf *hb, int type, int kind, const void *key, size_t klen, uint32_t vlen, uint64_t off,
                       int64_t expire) {
    uint8_t *e;
    if (hb->n + HINT_ENT + klen > hb->cap) {
        size_t nc = hb->cap ? hb->cap * 2 : 4096;
        uint8_t *v;
        while (nc < hb->n + HINT_ENT + klen) nc *= 2;
        if (!(v = (uint8_t *)realloc(hb->p, nc))) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (hint)");
        hb->p = v;
        hb->cap = nc;
    }
    e = hb->p + hb->n;
    e[0] = (uint8_t)type;
    e[1] = (uint8_t)kind;
    cairn_put16(e + 2, (uint16_t)klen);
    cairn_put32(e + 4, vlen);
    cairn_put64(e + 8, off);
    cairn_put64(e + 16, (uint64_t)expire);
    memcpy(e + HINT_ENT, key, klen);
    hb->n += HINT_ENT + klen;
    return 0;
}

/* Apply one committed PUT/DEL found at (slot, off) to the keydir (open and write paths). The
 * record a put replaces or a delete removes is read (its header: live bytes, expiry count). */
int cairn_kv__apply(cairn_kv *kv, cairn_kd *kd, uint32_t slot, uint64_t off, int type, int kind, const void *key,
                    size_t klen, uint32_t hash, uint32_t vlen, int64_t expire, int64_t now) {
    uint64_t old = 0;
    int rc;
    if (type == T_PUT && !expired(expire, now)) {
        if ((rc = cairn_kd__put(kd, key, klen, hash, KD_LOC(slot, off), &old)) < 0) goto fail;
        kv->live_bytes += put_size(kv->files[slot].version, kind, klen, vlen, expire);
        if (expire) cairn_kd__expiring_add(kd, 1);
    } else {
        if ((rc = cairn_kd__del(kd, key, klen, hash, &old)) < 0) goto fail;
    }
    if (rc == 1) {
        rec_view v;
        if ((rc = cairn_kv__rec_at(kv->dir, kv->files, kv->nfiles, old, 0, &v)) != 0) return rc;
        kv->live_bytes -= rec_len(&v.r);
        if (v.r.expire) cairn_kd__expiring_add(kd, -1);
        rec_view_done(&v);
    }
    return 0;
fail:
    if (rc == CAIRN_NOMEM) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (keydir)");
    return rc;
}

int cairn_kv__probe_version(kv_file *kf) {
    uint8_t b[MREC2];
    size_t n = kf->size < MREC2 ? (size_t)kf->size : MREC2;
    rec_hdr rh;
    kf->version = kf->size ? 1 : 0;
    if (n == MREC2 && cairn_io__pread(kf->f, b, n, 0, NULL) == 0 && cairn_kv__dec_hdr(b, n, &rh) == 0 &&
        rh.type == T_FILE && !rh.v3) {
        uint32_t ver = cairn_get32(b + HDR + 8);
        if (ver == 2 || ver == 3) kf->version = (int)ver;
    }
    cairn_errclear();
    return kf->version;
}

/* ---- scanning a data file ------------------------------------------------------------------- */

typedef struct rdr {
    cairn_file *f;
    uint64_t size;
    uint8_t *buf;
    size_t cap;
    uint64_t boff;
    size_t blen;
    int shrink_ok; /* the file may be trimmed while read (the active file beside a live writer) */
} rdr;

#define KV_SHRANK 1    /* rdr_get: the file ended earlier than r->size (r->size now says where) */
#define KV_RETRY 1000  /* internal: what was read changed under a reader: load again */

/* Make [off, off+n) of the file available in the window (caller checked off+n <= size). A short
 * read is CAIRN_CORRUPT, or with shrink_ok KV_SHRANK with r->size moved to the real end. */
static int rdr_get(rdr *r, uint64_t off, size_t n, const uint8_t **p) {
    size_t want, got = 0;
    int rc;
    if (off >= r->boff && off + n <= r->boff + r->blen) {
        *p = r->buf + (off - r->boff);
        return 0;
    }
    want = n > RDR_CHUNK ? n : RDR_CHUNK;
    if (off + want > r->size) want = (size_t)(r->size - off);
    if (want > r->cap) {
        uint8_t *v = (uint8_t *)realloc(r->buf, want);
        if (!v) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory reading %s", cairn_io__path(r->f));
        r->buf = v;
        r->cap = want;
    }
    if ((rc = cairn_io__pread(r->f, r->buf, want, off, &got)) != 0) return rc;
    r->boff = off;
    r->blen = got;
    if (got < n) {
        if (r->shrink_ok) {
            /* trimmed by its writer: only reserved zeros past the end of its log go */
            r->size = off + got;
            return KV_SHRANK;
        }
        return cairn_err__set(CAIRN_CORRUPT, "%s: file shrank while reading at offset %" PRIu64, cairn_io__path(r->f),
                              off);
    }
    *p = r->buf;
    return 0;
}

typedef struct pend {
    uint64_t off;
    int type, kind;
    uint32_t vlen;
    size_t klen, kpos;
    int64_t expire;
} pend;

/* *zero = 1 if bytes [pos, r->size) are all zero (the reserved tail of an active file). */
static int tail_is_zero(rdr *r, uint64_t pos, int *zero) {
    *zero = 1;
    while (pos < r->size) {
        size_t n = r->size - pos < RDR_CHUNK ? (size_t)(r->size - pos) : RDR_CHUNK, i;
        const uint8_t *b = NULL;
        int rc = rdr_get(r, pos, n, &b);
        if (rc == KV_SHRANK) continue;
        if (rc) return rc;
        for (i = 0; i < n; i++)
            if (b[i]) {
                *zero = 0;
                return 0;
            }
        pos += n;
    }
    return 0;
}

/* Is a valid record at pos (fits in the file, fields in range, of the file's encoding (v3), CRC
 * matches, and if it carries a seq, seq >= min_seq)? 1 yes, 0 no, <0 error. */
static int valid_at(rdr *r, uint64_t pos, uint64_t min_seq, int v3) { /* v3 -1: either encoding */
    const uint8_t *h;
    rec_hdr rh;
    uint64_t rs;
    size_t hn = r->size - pos < HDR_MAX ? (size_t)(r->size - pos) : HDR_MAX;
    int rc;
    if (hn < HDR3_MIN) return 0;
    if ((rc = rdr_get(r, pos, hn, &h)) != 0) return rc == KV_SHRANK ? 0 : rc;
    if (cairn_kv__dec_hdr(h, hn, &rh) != 0 || (v3 >= 0 && rh.v3 != v3) || (rh.has_seq && rh.seq < min_seq)) return 0;
    rs = rec_size(rh.hlen, rh.klen, rh.vlen);
    if (rs > r->size - pos) return 0;
    if ((rc = rdr_get(r, pos, (size_t)rs, &h)) != 0) return rc == KV_SHRANK ? 0 : rc;
    return cairn_crc32c__update(0, h + 4, (size_t)rs - 4) == cairn_get32(h);
}

/* A bad record at `bad`: is it a torn tail? Look for any valid record starting after it. *at is
 * its offset, or 0 if none. */
static int valid_after(rdr *r, uint64_t bad, uint64_t min_seq, int v3, uint64_t *at) {
    uint64_t p;
    int rc;
    *at = 0;
    for (p = bad + 1; p < r->size && r->size - p >= HDR3_MIN; p++) {
        if ((rc = valid_at(r, p, min_seq, v3)) < 0) return rc;
        if (rc == 1) {
            *at = p;
            return 0;
        }
    }
    return 0;
}

typedef struct scan_res {
    uint64_t end;  /* end of the log (active file: where a torn tail begins) */
    int has_file;  /* starts with a FILE record (a version 2 file) */
    int sealed;    /* ends with a SEAL record */
} scan_res;

/* Scan data file `slot`. is_active: it may end in a torn tail or reserved zeros (the last file
 * with minor 0); the log then ends before them (res->end). Everything else is CAIRN_CORRUPT.
 * In a read-only load a bad record of the active file that valid records follow is read again:
 * if it changed, an append was in progress (KV_RETRY). */
static int scan_file(cairn_kv *kv, uint32_t slot, int is_active, int do_apply, hintbuf *hb, scan_res *res) {
    kv_file *kf = &kv->files[slot];
    rdr r;
    uint64_t pos = 0, bstart = 0, max_seq = 0;
    pend *pv = NULL;
    size_t np = 0, cp = 0;
    uint8_t *keys = NULL;
    size_t nk = 0, ck = 0;
    uint64_t bseq = 0, run = 0; /* run: the seq of the last commit (version 3 files written by appends) */
    int64_t now = cairn_time__now_ms();
    int rc = 0, torn = 0; /* torn: `why` may be an interrupted append */
    int file_v3 = 0;      /* the file's records are version 3 (its first record says) */
    /* version 3 files written by appends (minor 0) number their commits implicitly; compaction
     * outputs copy records without their seqs */
    int numbered = (kf->order & 0xffffffffu) == 0;
    const char *why = NULL;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    r.f = kf->f;
    r.size = kf->size;
    r.shrink_ok = is_active && kv->readonly;
    while (pos < r.size) {
        const uint8_t *h;
        rec_hdr rh;
        uint64_t rs, rseq;
        size_t hn;
        if (is_active) {
            /* zeros from the end of the log to the end of the file are the blocks reserved ahead
             * of appends (see cairn_io__reserve): the clean end of the log, not damage */
            size_t n = r.size - pos < HDR ? (size_t)(r.size - pos) : HDR, i;
            if ((rc = rdr_get(&r, pos, n, &h)) == KV_SHRANK) continue;
            if (rc) goto out;
            for (i = 0; i < n && !h[i]; i++) {
            }
            if (i == n) {
                int zero;
                if ((rc = tail_is_zero(&r, pos, &zero)) != 0) goto out;
                if (zero) break;
            }
        }
        torn = 1;
        hn = r.size - pos < HDR_MAX ? (size_t)(r.size - pos) : HDR_MAX;
        if (hn < HDR3_MIN) {
            why = "truncated record header";
            break;
        }
        if ((rc = rdr_get(&r, pos, hn, &h)) == KV_SHRANK) continue;
        if (rc) goto out;
        if (cairn_kv__dec_hdr(h, hn, &rh) != 0) {
            why = hn < HDR && !(h[4] & V3_TAG) ? "truncated record header" : "invalid record header";
            break;
        }
        /* one encoding per file: version 3 records only after a version 3 FILE record (which,
         * like every first record, has the 32-byte header) */
        if (pos == 0 ? rh.v3 : rh.v3 != file_v3) {
            why = "invalid record header";
            break;
        }
        rs = rec_size(rh.hlen, rh.klen, rh.vlen);
        if (rs > r.size - pos) {
            why = "record runs past the end of the file";
            break;
        }
        if ((rc = rdr_get(&r, pos, (size_t)rs, &h)) == KV_SHRANK) continue;
        if (rc) goto out;
        if (cairn_crc32c__update(0, h + 4, (size_t)rs - 4) != cairn_get32(h)) {
            why = "checksum mismatch";
            break;
        }
        torn = 0; /* a valid record: what is wrong with it from here on is not a torn write */
        if (!rh.v3 || rh.has_seq) rseq = rh.seq;
        else if (numbered && !(rh.flags & F_TXN)) rseq = run + 1; /* a bare write: the next number */
        else rseq = 0;
        if (rseq > kv->seq) kv->seq = rseq;
        if (rseq > max_seq) max_seq = rseq;
        if (hb && rseq > hb->max_seq) hb->max_seq = rseq;
        if (pos == 0 && rh.type != T_FILE) kf->version = 1;
        if (rh.type == T_FILE) {
            uint32_t ver = cairn_get32(h + rh.hlen + 8);
            if (pos != 0) {
                why = "file record in the middle of the file";
                break;
            }
            if (ver > FORMAT_VERSION) {
                rc = cairn_err__set(CAIRN_VERSION, "%s: data file format version %u (this library reads up to %u)",
                                    cairn_io__path(kf->f), ver, FORMAT_VERSION);
                goto out;
            }
            if (cairn_get64(h + rh.hlen) != kf->order || ver < 2 || cairn_get32(h + rh.hlen + 12) != 0) {
                why = "file record does not name this file";
                break;
            }
            res->has_file = 1;
            kf->version = (int)ver;
            file_v3 = ver >= 3;
            run = rh.seq;
        } else if (rh.type == T_SEAL) {
            if (np) {
                why = "seal record inside a batch";
                break;
            }
            if (cairn_get64(h + rh.hlen) != pos || cairn_get64(h + rh.hlen + 8) != 0) {
                why = "seal record does not match its offset";
                break;
            }
            pos += rs;
            res->sealed = 1;
            if (pos < r.size) {
                int zero = 0;
                /* only the last file may have reserved zeros after it (a writer killed between
                 * sealing and trimming) */
                if (is_active && (rc = tail_is_zero(&r, pos, &zero)) != 0) goto out;
                if (!zero) why = "data after the seal record";
            }
            break;
        } else if (rh.type == T_COMMIT) {
            if (np == 0 || (rh.v3 ? numbered && rh.seq != run + 1 : rh.seq != bseq) || cairn_get32(h + rh.hlen) != np ||
                cairn_get32(h + rh.hlen + 4) != 0) {
                why = np ? "commit record does not match its batch" : "commit record without a batch";
                break;
            }
            if (rh.v3) run = rh.seq;
            {
                size_t i;
                for (i = 0; i < np; i++) {
                    const uint8_t *k = keys + pv[i].kpos;
                    if (do_apply &&
                        (rc = cairn_kv__apply(kv, kv->kd, slot, pv[i].off, pv[i].type, pv[i].kind, k, pv[i].klen,
                                              cairn_kd__hash(k, pv[i].klen), pv[i].vlen, pv[i].expire, now)) != 0)
                        goto out;
                    if (hb && (rc = cairn_kv__hint_add(hb, pv[i].type, pv[i].kind, k, pv[i].klen, pv[i].vlen, pv[i].off,
                                                       pv[i].expire)) != 0)
                        goto out;
                }
            }
            np = nk = 0;
        } else if (rh.flags & F_TXN) {
            if (np && !rh.v3 && rh.seq != bseq) {
                why = "batch without its commit record";
                break;
            }
            if (!np) {
                bstart = pos;
                bseq = rh.seq;
            }
            if (np == cp) {
                size_t nc = cp ? cp * 2 : 64;
                pend *v = (pend *)realloc(pv, nc * sizeof *v);
                if (!v) {
                    rc = cairn_err__set(CAIRN_NOMEM, "kv: out of memory (recovery)");
                    goto out;
                }
                pv = v;
                cp = nc;
            }
            if (nk + rh.klen > ck) {
                size_t nc = ck ? ck * 2 : 4096;
                uint8_t *v;
                while (nc < nk + rh.klen) nc *= 2;
                if (!(v = (uint8_t *)realloc(keys, nc))) {
                    rc = cairn_err__set(CAIRN_NOMEM, "kv: out of memory (recovery)");
                    goto out;
                }
                keys = v;
                ck = nc;
            }
            memcpy(keys + nk, h + rh.hlen, rh.klen);
            pv[np].off = pos;
            pv[np].type = rh.type;
            pv[np].kind = rh.kind;
            pv[np].vlen = rh.vlen;
            pv[np].klen = rh.klen;
            pv[np].kpos = nk;
            pv[np].expire = rh.expire;
            np++;
            nk += rh.klen;
        } else {
            if (np) {
                why = "batch without its commit record";
                break;
            }
            if (rh.v3 && numbered) run = rseq;
            if (do_apply && (rc = cairn_kv__apply(kv, kv->kd, slot, pos, rh.type, rh.kind, h + rh.hlen, rh.klen,
                                                  cairn_kd__hash(h + rh.hlen, rh.klen), rh.vlen, rh.expire, now)) != 0)
                goto out;
            if (hb && (rc = cairn_kv__hint_add(hb, rh.type, rh.kind, h + rh.hlen, rh.klen, rh.vlen, pos, rh.expire)) != 0)
                goto out;
        }
        pos += rs;
    }
    rc = 0; /* (a KV_SHRANK that ended the loop) */
    if (why && is_active && torn) {
        /* a torn tail only if no valid record follows: an append never writes past one that
         * did not complete, so a valid record after the bad one means damage */
        uint8_t first[64];
        size_t fn = r.size - pos < sizeof first ? (size_t)(r.size - pos) : sizeof first;
        uint64_t at = 0;
        const uint8_t *b = NULL;
        if (fn && (rc = rdr_get(&r, pos, fn, &b)) != 0) {
            if (rc != KV_SHRANK) goto out;
            fn = 0; /* it went: that is a trim of reserved zeros */
        }
        if (fn) memcpy(first, b, fn);
        /* (a bad first record leaves the file's encoding open: a valid record of either follows) */
        if ((rc = valid_after(&r, pos, max_seq, pos ? file_v3 : -1, &at)) != 0) goto out;
        if (at) {
            if (kv->readonly && fn) {
                /* beside a live writer the bad record may be an append in progress that our read
                 * caught half done; the later record proves the append finished: read it again */
                uint8_t again[64];
                size_t got = 0;
                if ((rc = cairn_io__pread(kf->f, again, fn, pos, &got)) != 0) goto out;
                if (got != fn || memcmp(again, first, fn) != 0) {
                    rc = KV_RETRY;
                    goto out;
                }
            }
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: %s at offset %" PRIu64 " (valid records follow at %" PRIu64 ")",
                                cairn_io__path(kf->f), why, pos, at);
            goto out;
        }
        why = NULL; /* torn tail: the log ends here (or where its batch began) */
        if (np) pos = bstart;
        np = 0;
    }
    if (why) {
        rc = cairn_err__set(CAIRN_CORRUPT, "%s: %s at offset %" PRIu64, cairn_io__path(kf->f), why, pos);
        goto out;
    }
    if (np) {
        /* a batch cut off by the end of the file */
        if (!is_active) {
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: batch without its commit record at offset %" PRIu64,
                                cairn_io__path(kf->f), bstart);
            goto out;
        }
        pos = bstart;
    }
    if (!is_active || res->sealed) {
        /* a sealed file: it never is empty, and a version 2 one ends with its SEAL */
        if (pos == 0) {
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: sealed data file is empty", cairn_io__path(kf->f));
            goto out;
        }
        if (res->has_file && !res->sealed) {
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: sealed data file has no seal record (cut short at offset %" PRIu64 ")",
                                cairn_io__path(kf->f), pos);
            goto out;
        }
    }
    if (r.size < kf->size) kf->size = r.size;
    res->end = pos;
out:
    free(r.buf);
    free(pv);
    free(keys);
    return rc;
}

/* ---- hint files ----------------------------------------------------------------------------- */

int cairn_kv__write_hint(const char *dir, kv_file *kf, hintbuf *hb, const char *ext) {
    char *p = cairn_kv__file_path(dir, kf->order, ext);
    uint8_t *buf;
    size_t len = HINT_HDR + hb->n + 4;
    int rc;
    if (!p) return CAIRN_NOMEM;
    if (!(buf = (uint8_t *)malloc(len))) {
        free(p);
        return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (hint)");
    }
    memcpy(buf, "CRH1", 4);
    cairn_put32(buf + 4, 1);
    cairn_put64(buf + 8, kf->order);
    cairn_put64(buf + 16, kf->size);
    cairn_put64(buf + 24, hb->max_seq);
    if (hb->n) memcpy(buf + HINT_HDR, hb->p, hb->n);
    cairn_put32(buf + len - 4, cairn_crc32c__update(0, buf, len - 4));
    rc = cairn_io__write_atomic(p, buf, len);
    free(buf);
    free(p);
    if (!rc) {
        kf->hinted = 1;
        kf->hint_size = len;
    }
    return rc;
}

/* Validate the hint of `slot` fully, then apply it (apply_it 0, the check mode: only compare the
 * sizes). *applied 1 if it was applied; 0 with *applied 0 if the hint is missing or invalid (the
 * file is scanned instead); CAIRN_CORRUPT if a valid hint gives another size for the file. */
static int load_hint(cairn_kv *kv, uint32_t slot, int apply_it, int *applied) {
    kv_file *kf = &kv->files[slot];
    char *p = cairn_kv__file_path(kv->dir, kf->order, "hint");
    void *data = NULL;
    size_t len = 0, pos;
    const uint8_t *b;
    int64_t now = cairn_time__now_ms();
    int rc;
    *applied = 0;
    if (!p) return CAIRN_NOMEM;
    rc = cairn_io__stat(p, NULL);
    if (rc != 1) {
        free(p);
        return rc < 0 ? rc : 0;
    }
    rc = cairn_io__read_all(p, &data, &len);
    free(p);
    if (rc == CAIRN_NOMEM) return rc;
    if (rc) {
        cairn_errclear();
        return 0;
    }
    b = (const uint8_t *)data;
    if (len < HINT_HDR + 4 || memcmp(b, "CRH1", 4) || cairn_get32(b + 4) != 1 || cairn_get64(b + 8) != kf->order ||
        cairn_crc32c__update(0, b, len - 4) != cairn_get32(b + len - 4))
        goto bad;
    if (cairn_get64(b + 16) != kf->size) {
        /* a valid hint of a sealed file that changed size: sealed files never change, so bytes
         * were lost (or added) behind our back; a cut at a record boundary would pass a scan */
        rc = cairn_err__set(CAIRN_CORRUPT, "%s: sealed data file is %" PRIu64 " bytes, its hint says %" PRIu64,
                            cairn_io__path(kf->f), kf->size, cairn_get64(b + 16));
        free(data);
        return rc;
    }
    for (pos = HINT_HDR; pos < len - 4;) {
        size_t klen;
        uint64_t off;
        uint32_t vlen;
        if (len - 4 - pos < HINT_ENT) goto bad;
        klen = cairn_get16(b + pos + 2);
        vlen = cairn_get32(b + pos + 4);
        off = cairn_get64(b + pos + 8);
        if (klen == 0 || len - 4 - pos - HINT_ENT < klen || (b[pos] != T_PUT && b[pos] != T_DEL) || b[pos + 1] > 3 ||
            vlen > CAIRN_VALUE_MAX || off + put_size(kf->version, b[pos + 1], klen, vlen, (int64_t)cairn_get64(b + pos + 16)) > kf->size)
            goto bad;
        pos += HINT_ENT + klen;
    }
    if (!apply_it) goto bad; /* (check mode: only the size comparison above matters) */
    for (pos = HINT_HDR; pos < len - 4;) {
        size_t klen = cairn_get16(b + pos + 2);
        const uint8_t *k = b + pos + HINT_ENT;
        if ((rc = cairn_kv__apply(kv, kv->kd, slot, cairn_get64(b + pos + 8), b[pos], b[pos + 1], k, klen,
                                  cairn_kd__hash(k, klen), cairn_get32(b + pos + 4), (int64_t)cairn_get64(b + pos + 16),
                                  now)) != 0) {
            free(data);
            return rc;
        }
        pos += HINT_ENT + klen;
    }
    if (cairn_get64(b + 24) > kv->seq) kv->seq = cairn_get64(b + 24);
    kf->hinted = 1;
    kf->hint_size = len;
    *applied = 1;
    free(data);
    return 0;
bad:
    free(data);
    return 0;
}

/* After a snapshot load: note which sealed files already have a hint (header check only), so
 * close does not rescan them. A bad body is found and rebuilt by the next open that needs it. */
static void probe_hint(cairn_kv *kv, uint32_t slot) {
    kv_file *kf = &kv->files[slot];
    char *p = cairn_kv__file_path(kv->dir, kf->order, "hint");
    cairn_file *f = NULL;
    uint8_t h[HINT_HDR];
    uint64_t size = 0;
    if (!p) return;
    if (cairn_io__stat(p, NULL) == 1 && cairn_io__open(&f, p, CAIRN_IO_RDONLY) == 0 &&
        cairn_io__pread(f, h, HINT_HDR, 0, NULL) == 0 && cairn_io__size(f, &size) == 0 &&
        memcmp(h, "CRH1", 4) == 0 && cairn_get64(h + 8) == kf->order && cairn_get64(h + 16) == kf->size) {
        kf->hinted = 1;
        kf->hint_size = size;
    }
    cairn_io__close(f);
    free(p);
    cairn_errclear();
}

/* ---- KEYDIR snapshot ------------------------------------------------------------------------ */

#define SNAP_HDR 32u
#define SNAP_ENDIAN 0x01020304u
#define SNAP_MAGIC "CRK4"
#define SNAP_VERSION 4u

typedef struct snap_io {
    cairn_file *f;
    uint64_t off, limit;
    uint32_t crc;
    uint8_t *buf; /* write side: buffered */
    size_t blen;
    int body; /* the header is written: the body carries its own page CRCs */
} snap_io;

static int snap_flush(snap_io *s) {
    int rc;
    if (!s->blen) return 0;
    if ((rc = cairn_io__pwrite(s->f, s->buf, s->blen, s->off)) != 0) return rc;
    s->off += s->blen;
    s->blen = 0;
    return 0;
}

static int snap_write(void *ctx, const void *p, size_t n) {
    snap_io *s = (snap_io *)ctx;
    int rc;
    if (!s->body) s->crc = cairn_crc32c__update(s->crc, p, n);
    if (s->blen + n > RDR_CHUNK_SNAP || n >= RDR_CHUNK_SNAP / 2) {
        if ((rc = snap_flush(s)) != 0) return rc;
        if (n >= RDR_CHUNK_SNAP / 2) { /* large pieces (slots, tags, arena chunks): no copy */
            if ((rc = cairn_io__pwrite(s->f, p, n, s->off)) != 0) return rc;
            s->off += n;
            return 0;
        }
    }
    memcpy(s->buf + s->blen, p, n);
    s->blen += n;
    return 0;
}

static int is_identity(const uint32_t *v, uint32_t n) {
    uint32_t i;
    for (i = 0; i < n; i++)
        if (v[i] != i) return 0;
    return 1;
}

/* Slots in use sorted by order (malloc'd; *n set). */
uint32_t *cairn_kv__sorted_slots(cairn_kv *kv, uint32_t *n) {
    uint32_t i, k = 0, j;
    uint32_t *v = (uint32_t *)malloc((kv->nfiles + 1) * sizeof *v);
    if (!v) return NULL;
    for (i = 0; i < kv->nfiles; i++)
        if (kv->files[i].f) v[k++] = i;
    /* insertion sort: few files */
    for (i = 1; i < k; i++) {
        uint32_t x = v[i];
        for (j = i; j > 0 && kv->files[v[j - 1]].order > kv->files[x].order; j--) v[j] = v[j - 1];
        v[j] = x;
    }
    *n = k;
    return v;
}

/* Write KEYDIR (at close only: the slots' file numbers are rewritten to positions in the sorted
 * file list, which is how open numbers them): a temporary file renamed over KEYDIR. */
int cairn_kv__write_snapshot(cairn_kv *kv) {
    uint32_t n = 0, i;
    uint32_t *order = cairn_kv__sorted_slots(kv, &n), *slot_to_idx = NULL;
    char *p = cairn_path__join(kv->dir, "KEYDIR"), *tmp = cairn_path__join(kv->dir, "KEYDIR.tmp");
    snap_io s;
    uint8_t h[SNAP_HDR], fe[16], th[KD_DUMP_HDR], c8[8];
    int rc;
    memset(&s, 0, sizeof s);
    if (!order || !p || !tmp || !(slot_to_idx = (uint32_t *)calloc(kv->nfiles + 1, sizeof(uint32_t))) ||
        !(s.buf = (uint8_t *)malloc(RDR_CHUNK_SNAP))) {
        rc = CAIRN_NOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) slot_to_idx[order[i]] = i;
    /* Usually slot i already is position i (files are added in order and no slot was freed):
     * then no slot changes. Otherwise a pass over the slots rewrites their file numbers (no
     * record is read). */
    if (n != kv->nfiles || !is_identity(order, n)) {
        if ((rc = cairn_kd__remap_files(kv->kd, slot_to_idx, kv->nfiles)) != 0) goto out;
    }
    if ((rc = cairn_io__open(&s.f, tmp, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC)) != 0) goto out;
    memcpy(h, SNAP_MAGIC, 4);
    cairn_put32(h + 4, SNAP_VERSION);
    {
        uint32_t endian = SNAP_ENDIAN;
        memcpy(h + 8, &endian, 4);
    }
    cairn_put32(h + 12, n);
    cairn_put64(h + 16, kv->seq);
    cairn_put64(h + 24, kv->live_bytes);
    if ((rc = snap_write(&s, h, SNAP_HDR)) != 0) goto out;
    for (i = 0; i < n; i++) {
        cairn_put64(fe, kv->files[order[i]].order);
        cairn_put64(fe + 8, kv->files[order[i]].size);
        if ((rc = snap_write(&s, fe, 16)) != 0) goto out;
    }
    cairn_kd__dump_hdr(kv->kd, th);
    if ((rc = snap_write(&s, th, KD_DUMP_HDR)) != 0) goto out;
    cairn_put32(c8, s.crc); /* the header CRC, then 4 zero bytes: the slots start 8-aligned */
    cairn_put32(c8 + 4, 0);
    if ((rc = snap_write(&s, c8, 8)) != 0) goto out;
    s.body = 1;
    if ((rc = cairn_kd__dump_body(kv->kd, snap_write, &s)) != 0) goto out;
    if ((rc = snap_flush(&s)) != 0) goto out;
    /* No fsync of KEYDIR or of the directory: every data file it lists is already durable
     * (sealed files were fsynced when sealed, close fsyncs the active file before this), so a
     * KEYDIR that reaches the disk describes data that is there. One that a power failure
     * leaves torn, empty or missing fails its checks and open scans instead; one that was never
     * renamed is no KEYDIR at all (the first change deleted the old one durably). */
    cairn_io__close(s.f);
    s.f = NULL;
    rc = cairn_io__rename(tmp, p);
out:
    if (s.f) {
        cairn_io__close(s.f);
        (void)cairn_io__unlink(tmp);
    }
    free(s.buf);
    free(slot_to_idx);
    free(order);
    free(p);
    free(tmp);
    return rc;
}

/* Load KEYDIR if it matches the files (slots 0..n-1 in order) exactly; *loaded 1 if used. The
 * file is mapped and the keydir used in place (the page CRCs are the whole cost of the load); the
 * first write copies it. */
static int load_snapshot(cairn_kv *kv, uint32_t n, int *loaded) {
    char *p = cairn_path__join(kv->dir, "KEYDIR");
    cairn_file *f = NULL;
    const void *mv = NULL;
    const uint8_t *m;
    uint64_t size = 0;
    const size_t th = SNAP_HDR + (size_t)n * 16, body = th + KD_DUMP_HDR + 8;
    uint32_t k, endian;
    kd_src src;
    cairn_kd *kd;
    int rc = 0;
    *loaded = 0;
    if (!p) return CAIRN_NOMEM;
    if (cairn_io__stat(p, NULL) != 1 || cairn_io__open(&f, p, CAIRN_IO_RDONLY) != 0 || cairn_io__size(f, &size) != 0 ||
        size < body || size > (uint64_t)SIZE_MAX || cairn_io__map(f, size, &mv) != 0)
        goto ignore;
    m = (const uint8_t *)mv;
    memcpy(&endian, m + 8, 4);
    /* (a version 3 KEYDIR of an older build, "CRK3", is ignored: open scans the log) */
    if (memcmp(m, SNAP_MAGIC, 4) || cairn_get32(m + 4) != SNAP_VERSION || endian != SNAP_ENDIAN ||
        cairn_get32(m + 12) != n)
        goto ignore;
    if (cairn_crc32c__update(0, m, th + KD_DUMP_HDR) != cairn_get32(m + th + KD_DUMP_HDR) ||
        cairn_get32(m + th + KD_DUMP_HDR + 4) != 0)
        goto ignore;
    for (k = 0; k < n; k++) {
        const uint8_t *fe = m + SNAP_HDR + (size_t)k * 16;
        if (cairn_get64(fe) != kv->files[k].order || cairn_get64(fe + 8) != kv->files[k].size) goto ignore;
    }
    /* the slots' page CRCs and forms (not their records: each is checked when used) */
    cairn_kv__kd_src(kv, &src);
    kd = cairn_kd__load_mapped(mv, size, m + th, body, (size_t)(size - body), n, &src, &rc);
    if (!kd) {
        if (rc == CAIRN_NOMEM) {
            rc = cairn_err__set(CAIRN_NOMEM, "kv_open: out of memory (keydir)");
            goto out;
        }
        rc = 0;
        goto ignore;
    }
    mv = NULL; /* the keydir owns the mapping now */
    cairn_kd__free(kv->kd);
    kv->kd = kd;
    kv->seq = cairn_get64(m + 16);
    kv->live_bytes = cairn_get64(m + 24);
    *loaded = 1;
    goto out;
ignore:
    cairn_errclear();
    rc = 0;
out:
    if (mv) cairn_io__unmap(mv, size);
    cairn_io__close(f);
    free(p);
    return rc;
}

/* The snapshot describes the files as they were at open; drop it before they change. */
int cairn_kv__drop_snapshot(cairn_kv *kv) {
    char *p;
    int rc;
    if (!kv->snap_valid) return 0;
    if (!(p = cairn_path__join(kv->dir, "KEYDIR"))) return CAIRN_NOMEM;
    rc = cairn_io__unlink(p);
    free(p);
    if (!rc) rc = cairn_io__sync_dir(kv->dir);
    if (!rc) kv->snap_valid = 0;
    return rc;
}

/* ---- RECLAIM manifest (compaction's commit point) ----------------------------------------- */

void cairn_kv__manifest_free(compact_manifest *rl) {
    free(rl->in);
    free(rl->out);
    memset(rl, 0, sizeof *rl);
}

/* Read RECLAIM: *present 0 if missing; CAIRN_CORRUPT if present but invalid. */
static int manifest_read(const char *dir, compact_manifest *rl, int *present) {
    char *p = cairn_path__join(dir, "RECLAIM");
    void *data = NULL;
    size_t len = 0;
    const uint8_t *b;
    uint32_t i;
    int rc;
    memset(rl, 0, sizeof *rl);
    *present = 0;
    if (!p) return CAIRN_NOMEM;
    rc = cairn_io__stat(p, NULL);
    if (rc != 1) {
        free(p);
        return rc < 0 ? rc : 0;
    }
    *present = 1;
    if ((rc = cairn_io__read_all(p, &data, &len)) != 0) {
        free(p);
        if (rc == CAIRN_PATH) {
            /* gone since the stat: the compaction finished (it is unlinked last) */
            cairn_errclear();
            *present = 0;
            return 0;
        }
        return rc;
    }
    b = (const uint8_t *)data;
    if (len < 20 || memcmp(b, "CRR1", 4) || cairn_get32(b + 4) != 1 ||
        (uint64_t)16 + ((uint64_t)cairn_get32(b + 8) + cairn_get32(b + 12)) * 8 + 4 != len ||
        cairn_crc32c__update(0, b, len - 4) != cairn_get32(b + len - 4)) {
        rc = cairn_err__set(CAIRN_CORRUPT, "%s: invalid RECLAIM manifest (%zu bytes)", p, len);
        free(p);
        free(data);
        return rc;
    }
    free(p);
    rl->nin = cairn_get32(b + 8);
    rl->nout = cairn_get32(b + 12);
    rl->in = (uint64_t *)malloc((rl->nin + 1) * sizeof(uint64_t));
    rl->out = (uint64_t *)malloc((rl->nout + 1) * sizeof(uint64_t));
    if (!rl->in || !rl->out) {
        free(data);
        cairn_kv__manifest_free(rl);
        return cairn_err__set(CAIRN_NOMEM, "kv: out of memory");
    }
    for (i = 0; i < rl->nin; i++) rl->in[i] = cairn_get64(b + 16 + (size_t)i * 8);
    for (i = 0; i < rl->nout; i++) rl->out[i] = cairn_get64(b + 16 + ((size_t)rl->nin + i) * 8);
    free(data);
    return 0;
}

int cairn_kv__manifest_write(const char *dir, const compact_manifest *rl) {
    size_t len = 16 + ((size_t)rl->nin + rl->nout) * 8 + 4, i;
    uint8_t *b = (uint8_t *)malloc(len);
    char *p = cairn_path__join(dir, "RECLAIM");
    int rc;
    if (!b || !p) {
        free(b);
        free(p);
        return cairn_err__set(CAIRN_NOMEM, "kv: out of memory");
    }
    memcpy(b, "CRR1", 4);
    cairn_put32(b + 4, 1);
    cairn_put32(b + 8, rl->nin);
    cairn_put32(b + 12, rl->nout);
    for (i = 0; i < rl->nin; i++) cairn_put64(b + 16 + i * 8, rl->in[i]);
    for (i = 0; i < rl->nout; i++) cairn_put64(b + 16 + (rl->nin + i) * 8, rl->out[i]);
    cairn_put32(b + len - 4, cairn_crc32c__update(0, b, len - 4));
    rc = cairn_io__write_atomic(p, b, len);
    free(b);
    free(p);
    return rc;
}

static int rename_if(const char *dir, uint64_t order, const char *from_ext, const char *to_ext) {
    char *a = cairn_kv__file_path(dir, order, from_ext), *b = cairn_kv__file_path(dir, order, to_ext);
    int rc = 0;
    if (!a || !b) rc = CAIRN_NOMEM;
    else if (cairn_io__stat(a, NULL) == 1) rc = cairn_io__rename(a, b);
    free(a);
    free(b);
    return rc;
}

int cairn_kv__unlink_order(const char *dir, uint64_t order, const char *ext) {
    char *a = cairn_kv__file_path(dir, order, ext);
    int rc;
    if (!a) return CAIRN_NOMEM;
    rc = cairn_io__unlink(a);
    free(a);
    return rc;
}

/* Everything after compaction's commit point; idempotent (open runs it again after a crash). */
int cairn_kv__compact_finish(const char *dir, const compact_manifest *rl) {
    uint32_t i;
    int rc;
    char *p;
    for (i = 0; i < rl->nout; i++) {
        if ((rc = rename_if(dir, rl->out[i], "data.tmp", "data")) != 0) return rc;
        if ((rc = rename_if(dir, rl->out[i], "hint.tmp", "hint")) != 0) return rc;
    }
    for (i = 0; i < rl->nin; i++) {
        if ((rc = cairn_kv__unlink_order(dir, rl->in[i], "data")) != 0) return rc;
        if ((rc = cairn_kv__unlink_order(dir, rl->in[i], "hint")) != 0) return rc;
    }
    if ((rc = cairn_io__sync_dir(dir)) != 0) return rc;
    if (!(p = cairn_path__join(dir, "RECLAIM"))) return CAIRN_NOMEM;
    rc = cairn_io__unlink(p);
    free(p);
    if (!rc) rc = cairn_io__sync_dir(dir);
    return rc;
}

static int in_list(const uint64_t *v, uint32_t n, uint64_t x) {
    uint32_t i;
    for (i = 0; i < n; i++)
        if (v[i] == x) return 1;
    return 0;
}

/* ---- load ----------------------------------------------------------------------------------- */

/* The first and last records of a file whose contents were not scanned (loaded from KEYDIR):
 * does it start with FILE, end with SEAL? */
static void probe_marks(kv_file *kf, int *has_file, int *sealed) {
    uint8_t b[MREC2];
    uint32_t m = mrec_size(kf->version);
    rec_hdr rh;
    *has_file = *sealed = 0;
    if (kf->size >= MREC2 && cairn_io__pread(kf->f, b, MREC2, 0, NULL) == 0 && cairn_kv__dec_hdr(b, MREC2, &rh) == 0 &&
        rh.type == T_FILE && !rh.v3 && cairn_crc32c__update(0, b + 4, MREC2 - 4) == cairn_get32(b))
        *has_file = 1;
    if (kf->size >= m && cairn_io__pread(kf->f, b, m, kf->size - m, NULL) == 0 && cairn_kv__dec_hdr(b, m, &rh) == 0 &&
        rh.type == T_SEAL && rh.hlen + 16u == m && cairn_crc32c__update(0, b + 4, m - 4) == cairn_get32(b) &&
        cairn_get64(b + rh.hlen) == kf->size - m)
        *sealed = 1;
    cairn_errclear();
}

/* Forget what a failed load attempt loaded (a reader loads again). */
static int kv_unload(cairn_kv *kv) {
    uint32_t i;
    for (i = 0; i < kv->nfiles; i++) {
        cairn_kv__unmap_file(&kv->files[i]);
        cairn_io__close(kv->files[i].f);
    }
    free(kv->files);
    kv->files = NULL;
    kv->nfiles = 0;
    kv->active = -1;
    kv->seq = 0;
    kv->live_bytes = 0;
    kv->snap_valid = 0;
    cairn_kd__free(kv->kd);
    {
        kd_src src;
        cairn_kv__kd_src(kv, &src);
        if (!(kv->kd = cairn_kd__new(&src))) return cairn_err__set(CAIRN_NOMEM, "kv_open: out of memory");
    }
    return 0;
}

/* A reader's second look: is RECLAIM still (not) there and is every data file it listed still
 * there under the same name? Files that appeared since do not matter (a rotation: what was loaded
 * is an earlier state of the log). */
static int dir_unchanged(cairn_kv *kv, int present, const uint64_t *orders, const int *is_tmp, uint32_t n) {
    char *p = cairn_path__join(kv->dir, "RECLAIM"), **names = NULL;
    size_t nnames = 0, i;
    uint32_t k;
    int same;
    if (!p) return 0;
    same = (cairn_io__stat(p, NULL) == 1) == (present != 0);
    free(p);
    if (same && cairn_io__list(kv->dir, &names, &nnames) != 0) same = 0;
    for (k = 0; same && k < n; k++) {
        int found = 0;
        for (i = 0; i < nnames && !found; i++) {
            uint64_t o;
            if (cairn_kv__parse_name(names[i], is_tmp[k] ? "data.tmp" : "data", &o) && o == orders[k]) found = 1;
        }
        same = found;
    }
    cairn_io__list_free(names, nnames);
    cairn_errclear();
    return same;
}

/* Load the store's files into kv once (strict: the check mode, every file scanned, nothing
 * fixed). *unstable: a reader saw the directory change under it (load again). */
static int kv_load_once(cairn_kv *kv, int strict, int *unstable) {
    char **names = NULL;
    size_t nnames = 0, i;
    compact_manifest rl;
    int present = 0, rc, loaded = 0, last_sealed = 0, last_has_file = 0;
    uint64_t *orders = NULL;
    int *is_tmp = NULL;
    uint32_t n = 0, k;

    *unstable = 0;
    memset(&rl, 0, sizeof rl);
    if ((rc = manifest_read(kv->dir, &rl, &present)) != 0) return rc;
    if (present && !kv->readonly) {
        if ((rc = cairn_kv__compact_finish(kv->dir, &rl)) != 0) {
            cairn_kv__manifest_free(&rl);
            return rc;
        }
        cairn_kv__manifest_free(&rl);
        present = 0;
    }
    if ((rc = cairn_io__list(kv->dir, &names, &nnames)) != 0) goto out;
    orders = (uint64_t *)malloc((nnames + 1) * sizeof *orders);
    is_tmp = (int *)calloc(nnames + 1, sizeof *is_tmp);
    if (!orders || !is_tmp) {
        rc = cairn_err__set(CAIRN_NOMEM, "kv: out of memory");
        goto out;
    }
    for (i = 0; i < nnames; i++) {
        uint64_t o;
        if (cairn_kv__parse_name(names[i], "data", &o)) {
            if (present && in_list(rl.in, rl.nin, o)) continue;
            orders[n++] = o;
        } else if (present && cairn_kv__parse_name(names[i], "data.tmp", &o) && in_list(rl.out, rl.nout, o)) {
            /* read-only view of an unfinished compaction: the output is still under its tmp name */
            is_tmp[n] = 1;
            orders[n++] = o;
        } else if (!kv->readonly && !strict) {
            size_t ln = strlen(names[i]);
            if (ln > 4 && strcmp(names[i] + ln - 4, ".tmp") == 0) {
                char *p = cairn_path__join(kv->dir, names[i]);
                if (!p) {
                    rc = CAIRN_NOMEM;
                    goto out;
                }
                rc = cairn_io__unlink(p);
                free(p);
                if (rc) goto out;
            }
        }
    }
    /* sort orders with their tmp flags */
    for (k = 1; k < n; k++) {
        uint64_t x = orders[k];
        int t = is_tmp[k];
        uint32_t j;
        for (j = k; j > 0 && orders[j - 1] > x; j--) {
            orders[j] = orders[j - 1];
            is_tmp[j] = is_tmp[j - 1];
        }
        orders[j] = x;
        is_tmp[j] = t;
    }
    for (k = 0; k < n; k++) {
        char *p = cairn_kv__file_path(kv->dir, orders[k], is_tmp[k] ? "data.tmp" : "data");
        cairn_file *f = NULL;
        uint64_t size = 0;
        uint32_t slot;
        if (!p) {
            rc = CAIRN_NOMEM;
            goto out;
        }
        rc = cairn_io__open(&f, p, kv->readonly ? CAIRN_IO_RDONLY : CAIRN_IO_RDWR);
        free(p);
        if (!rc) rc = cairn_io__size(f, &size);
        if (!rc) rc = cairn_kv__add_slot(&kv->files, &kv->nfiles, orders[k], f, size, &slot);
        if (rc) {
            cairn_io__close(f);
            goto out;
        }
        (void)cairn_kv__probe_version(&kv->files[slot]); /* (a scan checks what it says) */
    }
    /* slots 0..n-1 are the files in ascending order */
    if (!strict && (rc = load_snapshot(kv, n, &loaded)) != 0) goto out;
    if (loaded) {
        for (k = 0; k + 1 < n; k++) probe_hint(kv, k);
        if (n > 0) probe_marks(&kv->files[n - 1], &last_has_file, &last_sealed);
    } else {
        for (k = 0; k < n; k++) {
            kv_file *kf = &kv->files[k];
            /* the last file with minor 0 is the active one unless it ends with its SEAL */
            int last = (k == n - 1) && (kf->order & 0xffffffffu) == 0 && !is_tmp[k];
            int writer = !kv->readonly && !strict, applied = 0;
            scan_res sr;
            /* A hint file (written by older versions of the library) is used when valid; this
             * version writes none: the KEYDIR written at close is the one index. */
            /* mapped first: applying a record reads the one it replaces (and probes read keys) */
            cairn_kv__map_file(kf);
            if (!last && !is_tmp[k] && (rc = load_hint(kv, k, !strict, &applied)) != 0) goto out;
            if (applied) continue;
            if ((rc = scan_file(kv, k, last, 1, NULL, &sr)) != 0) goto out;
            if (last && sr.end < kf->size) {
                /* a torn tail or the reserved zeros of a killed writer: the log ends at sr.end */
                if ((writer && (rc = cairn_io__truncate(kf->f, sr.end)) != 0) ||
                    (writer && (rc = cairn_io__fsync(kf->f)) != 0))
                    goto out;
                kf->size = sr.end;
                cairn_kv__unmap_file(kf); /* (mapped again below, over what is left) */
                if (sr.end == 0) kf->version = 0; /* empty: the next append writes a version 3 FILE */
            }
            if (last) {
                last_sealed = sr.sealed;
                last_has_file = sr.has_file;
                if (sr.sealed) probe_hint(kv, k);
            }
        }
    }
    for (k = 0; k < n; k++) cairn_kv__map_file(&kv->files[k]);
    if (n > 0) {
        kv_file *last = &kv->files[n - 1];
        kv->next_major = (last->order >> 32) + 1;
        if (!kv->readonly && (last->order & 0xffffffffu) == 0 && !last_sealed) {
            kv->active = (int32_t)(n - 1);
            last->base = last_has_file ? MREC2 : 0;
        }
    } else {
        kv->next_major = 1;
    }
    if (!kv->readonly && !strict) {
        char *p = cairn_path__join(kv->dir, "KEYDIR");
        if (!p) {
            rc = CAIRN_NOMEM;
            goto out;
        }
        if (loaded) {
            kv->snap_valid = 1; /* dropped by the first change */
        } else if (cairn_io__stat(p, NULL) == 1) {
            rc = cairn_io__unlink(p); /* stale or damaged */
            if (!rc) rc = cairn_io__sync_dir(kv->dir);
        }
        free(p);
        if (rc) goto out;
        /* hints whose data file is gone */
        for (i = 0; i < nnames; i++) {
            uint64_t o;
            if (cairn_kv__parse_name(names[i], "hint", &o)) {
                int found = 0;
                for (k = 0; k < n; k++)
                    if (kv->files[k].order == o) found = 1;
                if (!found && (rc = cairn_kv__unlink_order(kv->dir, o, "hint")) != 0) goto out;
            }
        }
    }
    rc = 0;
out:
    /* a reader looks again: a compaction that renamed or unlinked what it listed, or RECLAIM that
     * came or went, means it loaded a mix of two states (or could not open a listed file) */
    if (kv->readonly && orders && (rc == 0 || rc == CAIRN_PATH || rc == CAIRN_CORRUPT || rc == KV_RETRY)) {
        cairn_err_saved saved;
        cairn_err__save(&saved);
        if (rc == KV_RETRY || !dir_unchanged(kv, present, orders, is_tmp, n)) *unstable = 1;
        if (rc && rc != KV_RETRY) cairn_err__restore_as(&saved, rc);
    }
    cairn_kv__manifest_free(&rl);
    cairn_io__list_free(names, nnames);
    free(orders);
    free(is_tmp);
    return rc;
}

/* Load the store. A writer holds the lock: nothing changes under it. A reader (read-only open,
 * check) may run beside a writer that rotates and compacts: it loads again while what it read
 * keeps changing under it, a bounded number of times. */
int cairn_kv__load(cairn_kv *kv, int strict) {
    int tries, rc = 0, unstable = 0;
    for (tries = 0; tries < LOAD_TRIES; tries++) {
        if (tries) {
            /* back off a little: a compaction finishes in a few fsyncs */
            struct timespec ts;
            ts.tv_sec = 0;
            ts.tv_nsec = (long)(tries < 10 ? tries : 10) * 1000000L;
            nanosleep(&ts, NULL);
            if ((rc = kv_unload(kv)) != 0) return rc;
        }
        rc = kv_load_once(kv, strict, &unstable);
        if (!unstable) return rc;
    }
    return cairn_err__set(CAIRN_BUSY, "kv_open: %s kept changing while it was read (%d attempts)", kv->dir,
                          LOAD_TRIES);
}

/* Write hints for sealed files that have none. The library itself no longer writes hint files
 * (the KEYDIR written at close is the store's one index); this builds a store as older versions
 * left it, for the tests of the code that still reads their hints. */
void cairn_kv__hint_sealed(cairn_kv *kv) {
    uint32_t i;
    for (i = 0; i < kv->nfiles; i++) {
        kv_file *kf = &kv->files[i];
        hintbuf hb;
        scan_res sr;
        if (!kf->f || kf->hinted || (int32_t)i == kv->active) continue;
        memset(&hb, 0, sizeof hb);
        if (scan_file(kv, i, 0, 0, &hb, &sr) == 0) (void)cairn_kv__write_hint(kv->dir, kf, &hb, "hint");
        free(hb.p);
        cairn_errclear();
    }
}
