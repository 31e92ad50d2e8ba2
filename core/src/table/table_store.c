/*
 * table_store.c - the table's files: manifest, segment files, checkpoint, recovery, compact,
 * add_column, check.
 *
 * FORMAT (version 1; all integers little-endian; CRC = CRC32C, Castagnoli, initial value 0)
 *
 * A table is a directory:
 *   LOCK              the writer's advisory lock (flock), one writer process per table
 *   MANIFEST          the current state: schema, row groups, segment references, delete bitmaps,
 *                     the WAL position it covers; replaced atomically (MANIFEST.tmp, fsync,
 *                     rename, fsync of the directory)
 *   wal               the write-ahead log (format: core/src/wal/wal.c) of the changes made since
 *                     the manifest was written
 *   seg-NNNNNNNN.dat  segment files (NNNNNNNN: the file number, 8 decimal digits): immutable once
 *                     a manifest names them; files no manifest names are removed by a writer
 *
 * Segment file:
 *    0   8  magic "CAIRNSEG"
 *    8   4  u32 version (1)
 *   12   4  u32 file number
 *   16  12  reserved, zero
 *   28   4  u32 CRC of bytes [0, 28)
 *   32   -  segments back to back, each starting at a multiple of 8 (zero padding between);
 *           a segment is the codec's byte string (core/src/table/seg.c, docs/format-segment.md)
 *           with its own header and CRC
 *
 * MANIFEST:
 *    0   8  magic "CAIRNTBM"
 *    8   4  u32 version (1)
 *   12   4  u32 flags: bit 0 CLEAN = written by a writer's close: the WAL holds nothing beyond this
 *           manifest (it may then be missing); bit 1 INDEXES = the index list follows the schema;
 *           other bits zero. Without CLEAN the WAL must exist
 *           (it is created before the first manifest and never removed; resets keep its header):
 *           a missing or cut-short WAL is CAIRN_CORRUPT, not a silent loss of its transactions
 *   16   8  u64 generation: +1 with every manifest written
 *   24   8  u64 lsn: sequence number of the last WAL record this manifest covers; recovery replays
 *           only WAL transactions whose commit record is above it
 *   32   8  u64 next_id: the id the next insert gets (ids are never reused)
 *   40   4  u32 wal_salt: salt of the WAL this manifest was written with
 *   44   4  u32 next_file: number for the next segment file
 *   48   4  u32 ncols
 *   52   4  u32 schema_len
 *   56   8  u64 number of row groups G
 *   64   -  schema, canonical text (schema_len bytes, no NUL)
 *   then, with INDEXES: u32 length L and L bytes of declared indexes (core/src/table/index.c),
 *        each u8 kind (1 hash, 2 range), u8 name length, the column's name
 *   then G row groups, in id order (ranges never overlap):
 *        0   8  u64 first_id
 *        8   8  u64 last_id
 *       16   4  u32 nrows (1..122880)
 *       20   4  u32 ndel: rows of the group deleted
 *       24   4  u32 del_len: 0 (no deletes) or (nrows+7)/8
 *       28   4  reserved, zero
 *       32   -  ncols+1 segment references of 96 bytes, the ids' (u64, increasing) first, then
 *               one per column in schema order:
 *                    0   4  u32 file number
 *                    4   1  u8  encoding (cairn_seg_encoding)
 *                    5   3  reserved, zero
 *                    8   8  u64 offset in the file
 *                   16   8  u64 length
 *                   24  72  zone map: u64 nulls, u64 count, u8 has_values, u8 has_nan, u8 min_len,
 *                           u8 max_len, u8 min_exact, u8 max_exact, 2 reserved, u64 min, u64 max
 *                           (the union's bits), 16 bytes min_prefix, 16 bytes max_prefix
 *        then del_len bytes: the delete bitmap (bit i, least significant first, set when row i
 *        of the group is deleted)
 *   end  4  u32 CRC of every byte before it
 *
 * WAL records (payload; the WAL's own framing and CRC around them); the row image is a null
 * bitmap of (ncols+7)/8 bytes (bit set: null), then every non-null value in schema order: fixed
 * width types as their little-endian bytes (bool 1 byte, f32/f64 IEEE bits, bytes:N its N bytes),
 * string and bytes a u32 length and the bytes:
 *   1 INSERT  u64 id, row image
 *   2 UPDATE  u64 id, row image (the whole new row)
 *   3 DELETE  u64 id
 *   4 NEXTID  u64 next_id (ids handed out by a rolled-back transaction stay used)
 *   5 INSERTS consecutive inserts of one transaction in one record (about 1 MiB at most):
 *             (u64 id, u32 image length, row image) repeated
 * Each write outside a transaction is one WAL transaction; a table transaction is one WAL
 * transaction. The WAL's schema is always the manifest's (add_column checkpoints first).
 *
 * Checkpoint (tail reaches checkpoint_rows, sync, close, a bulk load, compact, add_column):
 *   1. write the live tail rows as new row groups (up to 122880 rows each; the ids segment keeps
 *      their ids, holes included), and every row group that has updated rows rewritten whole
 *      (its delete bitmap kept), into a new segment file; fsync it;
 *   2. write the new MANIFEST (lsn = the WAL's last sequence number, next_id, bitmaps) atomically:
 *      MANIFEST.tmp, fsync, rename, fsync the directory. The rename is the commit point;
 *   3. reset the WAL (truncate to its header, fsync), remove the segment files no longer named.
 *   A bulk load outside a transaction is not logged: its rows are written in step 1 as new row
 *   groups straight from the caller's arrays, and the manifest switch commits them all at once.
 *   A crash before 2 leaves the old manifest and the whole WAL (the new file is unnamed and
 *   removed at the next open); after 2, the WAL's records are all at or below the manifest's lsn
 *   and are not replayed again. A failure after the rename fails the handle (CAIRN_FAILED).
 *
 * Recovery (writer open): read MANIFEST (bad magic, length or CRC: CAIRN_CORRUPT; other version:
 *   CAIRN_VERSION); open the segment files it names (a missing one is CAIRN_CORRUPT); remove
 *   unnamed segment files and MANIFEST.tmp; open the WAL (a torn tail is cut; damage before
 *   valid records is CAIRN_CORRUPT). If the WAL holds committed transactions above the manifest's
 *   lsn: its salt must be the manifest's (else another table's log: CAIRN_CORRUPT) and its first
 *   record must be at most lsn + 1 (else changes are missing: CAIRN_CORRUPT); replay them, in
 *   order, into memory (inserts to the tail, updates as overlays, deletes in the bitmaps), each
 *   record checked (CAIRN_CORRUPT for a malformed one). The log's numbering continues above
 *   max(lsn, its last record). If the WAL's salt is not the manifest's (a new log), a checkpoint
 *   writes a manifest naming it before anything else is logged. Unique indexes are rebuilt on the
 *   first write that needs them. Reopening reads the manifest and the WAL only, never a segment.
 * Readers (read_only) take no lock and write nothing: they read MANIFEST, the WAL, and MANIFEST
 *   again, retrying while a writer changed it in between; they hold the segment files open.
 */
#include "table_internal.h"

#include <stdio.h>

#define MAN_MAGIC "CAIRNTBM"
#define SEG_MAGIC "CAIRNSEG"
#define MAN_VERSION 1u
#define MAN_HDR 64u
#define RG_HDR 32u
#define SREF 96u
#define SEGF_HDR 32u

/* ---- segment files ---- */

void cairn_tbl__segfile_unref(segfile *f) {
    if (!f) return;
    if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        if (f->map) cairn_io__unmap(f->map, f->size);
        cairn_io__close(f->f);
        free(f);
    }
}

static char *seg_path(const char *dir, uint32_t num) {
    char name[32];
    snprintf(name, sizeof name, "seg-%08u.dat", (unsigned)num);
    return cairn_path__join(dir, name);
}

static int segfile_open(const char *dir, uint32_t num, segfile **out) {
    char *p = seg_path(dir, num);
    segfile *f;
    uint8_t h[SEGF_HDR];
    int rc;
    *out = NULL;
    if (!p) return CAIRN_NOMEM;
    if (!(f = (segfile *)calloc(1, sizeof *f))) {
        free(p);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    f->num = num;
    f->refs = 1;
    rc = cairn_io__open(&f->f, p, CAIRN_IO_RDONLY);
    if (rc == CAIRN_PATH) rc = cairn_err__set(CAIRN_CORRUPT, "%s: segment file named by the manifest is missing", p);
    if (!rc) rc = cairn_io__size(f->f, &f->size);
    if (!rc && f->size < SEGF_HDR) rc = cairn_err__set(CAIRN_CORRUPT, "%s: offset 0: file too short for its header", p);
    if (!rc) rc = cairn_io__pread(f->f, h, SEGF_HDR, 0, NULL);
    if (!rc && (memcmp(h, SEG_MAGIC, 8) != 0 || cairn_get32(h + 28) != cairn_crc32c__update(0, h, 28) ||
                cairn_get32(h + 12) != num))
        rc = cairn_err__set(CAIRN_CORRUPT, "%s: offset 0: bad segment file header", p);
    if (!rc && cairn_get32(h + 8) != 1) rc = cairn_err__set(CAIRN_VERSION, "%s: segment file version %u", p, cairn_get32(h + 8));
    free(p);
    if (rc) {
        cairn_io__close(f->f);
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

static segfile *file_by_num(cairn_table *t, uint32_t num) {
    size_t i;
    for (i = 0; i < t->nfiles; i++)
        if (t->files[i]->num == num) return t->files[i];
    return NULL;
}

static int read_seg(segfile *f, const segref *r, uint8_t **buf) {
    int rc;
    if (r->off + r->len > f->size || r->off < SEGF_HDR)
        return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: segment of %llu bytes outside the file", cairn_io__path(f->f),
                              (unsigned long long)r->off, (unsigned long long)r->len);
    if (!(*buf = (uint8_t *)malloc(r->len ? r->len : 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if ((rc = cairn_io__pread(f->f, *buf, r->len, r->off, NULL)) != 0) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

int cairn_tbl__group_decode(segfile *f, const segref *r, int type, uint32_t fixed_len, cairn_colvec *out) {
    uint8_t *buf;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = read_seg(f, r, &buf)) != 0) return rc;
    rc = cairn_seg__decode(buf, r->len, type, fixed_len, out);
    free(buf);
    if (rc == CAIRN_CORRUPT) {
        char msg[CAIRN_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        return cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: %s", cairn_io__path(f->f), (unsigned long long)r->off, msg);
    }
    return rc;
}

void cairn_tbl__colvec_get(const cairn_colvec *v, const tcol *c, size_t i, cairn_value *out) {
    const uint8_t *d = (const uint8_t *)v->data;
    memset(out, 0, sizeof *out);
    if (v->validity && !((v->validity[i >> 3] >> (i & 7)) & 1)) {
        out->is_null = 1;
        return;
    }
    switch (c->type) {
    case CAIRN_TYPE_I8: out->v.i = ((const int8_t *)d)[i]; break;
    case CAIRN_TYPE_I16: out->v.i = ((const int16_t *)(const void *)d)[i]; break;
    case CAIRN_TYPE_I32: out->v.i = ((const int32_t *)(const void *)d)[i]; break;
    case CAIRN_TYPE_I64: case CAIRN_TYPE_TIMESTAMP: out->v.i = ((const int64_t *)(const void *)d)[i]; break;
    case CAIRN_TYPE_U8: out->v.u = d[i]; break;
    case CAIRN_TYPE_U16: out->v.u = ((const uint16_t *)(const void *)d)[i]; break;
    case CAIRN_TYPE_U32: out->v.u = ((const uint32_t *)(const void *)d)[i]; break;
    case CAIRN_TYPE_U64: out->v.u = ((const uint64_t *)(const void *)d)[i]; break;
    case CAIRN_TYPE_F32: out->v.f = ((const float *)(const void *)d)[i]; break;
    case CAIRN_TYPE_F64: out->v.f = ((const double *)(const void *)d)[i]; break;
    case CAIRN_TYPE_BOOL: out->v.b = d[i] != 0; break;
    case CAIRN_TYPE_FIXED: out->v.s.bytes = d + i * c->fixed_len; out->v.s.len = c->fixed_len; break;
    default:
        out->v.s.bytes = d ? d + v->offsets[i] : (const uint8_t *)"";
        out->v.s.len = (size_t)(v->offsets[i + 1] - v->offsets[i]);
        break;
    }
}

/* ---- decoded segment cache ---- */

void cairn_tbl__dcache_clear(cairn_table *t) {
    size_t i;
    for (i = 0; i < TBL_RCACHE; i++) {
        if (t->rc[i].file) {
            free(t->rc[i].bytes);
            cairn_tbl__segfile_unref(t->rc[i].file);
        }
        memset(&t->rc[i], 0, sizeof t->rc[i]);
    }
    t->rc_bytes = 0;
    for (i = 0; i < TBL_DCACHE; i++) {
        if (t->dc[i].file) {
            cairn_seg__free_vec(&t->dc[i].vec);
            cairn_tbl__segfile_unref(t->dc[i].file);
        }
        memset(&t->dc[i], 0, sizeof t->dc[i]);
    }
}

static int dcache_get(cairn_table *t, const segref *r, int type, uint32_t fixed_len, const cairn_colvec **out) {
    size_t i, victim = 0;
    int rc;
    for (i = 0; i < TBL_DCACHE; i++) {
        if (t->dc[i].file == r->file && t->dc[i].off == r->off) {
            t->dc[i].tick = ++t->dtick;
            *out = &t->dc[i].vec;
            return 0;
        }
        if (t->dc[i].tick < t->dc[victim].tick) victim = i;
    }
    if (t->dc[victim].file) {
        cairn_seg__free_vec(&t->dc[victim].vec);
        cairn_tbl__segfile_unref(t->dc[victim].file);
        memset(&t->dc[victim], 0, sizeof t->dc[victim]);
    }
    if ((rc = cairn_tbl__group_decode(r->file, r, type, fixed_len, &t->dc[victim].vec)) != 0) return rc;
    __atomic_add_fetch(&r->file->refs, 1, __ATOMIC_RELAXED);
    t->dc[victim].file = r->file;
    t->dc[victim].off = r->off;
    t->dc[victim].tick = ++t->dtick;
    *out = &t->dc[victim].vec;
    return 0;
}

/* the raw bytes of a segment, verified (CRC, type) when read */
static int rcache_get(cairn_table *t, const segref *r, int type, uint32_t fixed_len, const rcache **out) {
    size_t i, victim = 0;
    uint8_t *buf;
    int rc;
    for (i = 0; i < TBL_RCACHE; i++) {
        if (t->rc[i].file == r->file && t->rc[i].off == r->off && t->rc[i].file) {
            t->rc[i].tick = ++t->dtick;
            *out = &t->rc[i];
            return 0;
        }
        if (t->rc[i].tick < t->rc[victim].tick) victim = i;
    }
    if ((rc = read_seg(r->file, r, &buf)) != 0) return rc;
    if ((rc = cairn_seg__check(buf, r->len, type, fixed_len)) != 0) {
        char msg[CAIRN_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        free(buf);
        return cairn_err__set(rc, "%s: offset %llu: %s", cairn_io__path(r->file->f), (unsigned long long)r->off, msg);
    }
    /* evict the least recently used until the new one fits the byte budget */
    while (t->rc_bytes + r->len > TBL_RCACHE_BYTES || t->rc[victim].file) {
        size_t j, lru = TBL_RCACHE;
        for (j = 0; j < TBL_RCACHE; j++)
            if (t->rc[j].file && (lru == TBL_RCACHE || t->rc[j].tick < t->rc[lru].tick)) lru = j;
        if (lru == TBL_RCACHE) break;
        t->rc_bytes -= t->rc[lru].len;
        free(t->rc[lru].bytes);
        cairn_tbl__segfile_unref(t->rc[lru].file);
        memset(&t->rc[lru], 0, sizeof t->rc[lru]);
        victim = lru;
        if (t->rc_bytes + r->len <= TBL_RCACHE_BYTES) break;
    }
    __atomic_add_fetch(&r->file->refs, 1, __ATOMIC_RELAXED);
    t->rc[victim].file = r->file;
    t->rc[victim].off = r->off;
    t->rc[victim].bytes = buf;
    t->rc[victim].len = r->len;
    t->rc[victim].tick = ++t->dtick;
    t->rc_bytes += r->len;
    *out = &t->rc[victim];
    return 0;
}

int cairn_tbl__group_find(const cairn_table *t, uint64_t id, size_t *gi, uint32_t *pos) {
    size_t lo = 0, hi = t->ng;
    const rgroup *g;
    const cairn_colvec *ids;
    int rc;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->g[mid].last_id < id) lo = mid + 1;
        else hi = mid;
    }
    if (lo >= t->ng || t->g[lo].first_id > id) return CAIRN_NOTFOUND;
    g = &t->g[lo];
    *gi = lo;
    if (g->last_id - g->first_id + 1 == g->nrows) {
        *pos = (uint32_t)(id - g->first_id);
        return 0;
    }
    if ((rc = dcache_get((cairn_table *)t, &g->ids, CAIRN_TYPE_U64, 0, &ids)) != 0) return rc;
    {
        const uint64_t *v = (const uint64_t *)ids->data;
        size_t l = 0, h = ids->n;
        while (l < h) {
            size_t m = l + (h - l) / 2;
            if (v[m] < id) l = m + 1;
            else h = m;
        }
        if (l >= ids->n || v[l] != id) return CAIRN_NOTFOUND;
        *pos = (uint32_t)l;
    }
    return 0;
}

int cairn_tbl__group_row(cairn_table *t, size_t gi, uint32_t pos, cairn_value *row, tbuf *bytes) {
    rgroup *g = &t->g[gi];
    size_t c, *offs;
    int rc = 0;
    if (!(offs = (size_t *)malloc((t->s.n ? t->s.n : 1) * sizeof *offs))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    bytes->n = 0;
    for (c = 0; c < t->s.n; c++) {
        const tcol *col = &t->s.c[c];
        segref *r = &g->cols[c];
        const uint8_t *sb;
        size_t slen = (size_t)r->len;
        if (!r->file->map) {
            const void *m = NULL;
            if (cairn_io__map(r->file->f, r->file->size, &m) == 0) r->file->map = (const uint8_t *)m;
            cairn_errclear();
        }
        if (r->file->map) {
            /* the segment in place: checked once (CRC, type), then single values are read */
            sb = r->file->map + r->off;
            if (!r->verified) {
                if ((rc = cairn_seg__check(sb, slen, col->type, col->fixed_len)) != 0) {
                    char msg[CAIRN_ERR_MSG_MAX];
                    snprintf(msg, sizeof msg, "%s", cairn_errmsg());
                    rc = cairn_err__set(rc, "%s: offset %llu: %s", cairn_io__path(r->file->f), (unsigned long long)r->off, msg);
                    break;
                }
                r->verified = 1;
            }
        } else {
            const rcache *e = NULL;
            if ((rc = rcache_get(t, r, col->type, col->fixed_len, &e)) != 0) break;
            sb = e->bytes;
        }
        if ((rc = cairn_seg__get(sb, slen, col->type, col->fixed_len, pos, &row[c])) != 0) {
            char msg[CAIRN_ERR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", cairn_errmsg());
            rc = cairn_err__set(rc == CAIRN_RANGE ? CAIRN_CORRUPT : rc, "%s: offset %llu: row %u of the row group: %s",
                                cairn_io__path(g->cols[c].file->f), (unsigned long long)g->cols[c].off, pos, msg);
            break;
        }
        if (col->type == CAIRN_TYPE_F32 && !row[c].is_null) row[c].v.f = (double)(float)row[c].v.f;
        if (!row[c].is_null && (!col->w || col->type == CAIRN_TYPE_FIXED)) {
            offs[c] = bytes->n;
            if ((rc = tbuf_put(bytes, row[c].v.s.bytes, row[c].v.s.len)) != 0) break;
        }
    }
    if (!rc)
        for (c = 0; c < t->s.n; c++)
            if (!row[c].is_null && (!t->s.c[c].w || t->s.c[c].type == CAIRN_TYPE_FIXED))
                row[c].v.s.bytes = bytes->p ? bytes->p + offs[c] : (const uint8_t *)"";
    free(offs);
    return rc;
}

void cairn_tbl__groups_free(rgroup *g, size_t ng, size_t ncols) {
    size_t i, c;
    if (!g) return;
    for (i = 0; i < ng; i++) {
        if (g[i].ids.file) cairn_tbl__segfile_unref(g[i].ids.file);
        if (g[i].cols)
            for (c = 0; c < ncols; c++)
                if (g[i].cols[c].file) cairn_tbl__segfile_unref(g[i].cols[c].file);
        free(g[i].cols);
        free(g[i].del);
    }
    free(g);
}

/* ---- manifest ---- */

static void zone_put(uint8_t *p, const cairn_zone *z) {
    memset(p, 0, 72);
    cairn_put64(p, z->nulls);
    cairn_put64(p + 8, z->count);
    p[16] = (uint8_t)z->has_values;
    p[17] = (uint8_t)z->has_nan;
    p[18] = z->min_len;
    p[19] = z->max_len;
    p[20] = z->min_exact;
    p[21] = z->max_exact;
    cairn_put64(p + 24, z->min.u);
    cairn_put64(p + 32, z->max.u);
    memcpy(p + 40, z->min_prefix, 16);
    memcpy(p + 56, z->max_prefix, 16);
}

static void sref_put(uint8_t *p, const segref *r) {
    memset(p, 0, SREF);
    cairn_put32(p, r->file->num);
    p[4] = r->enc;
    cairn_put64(p + 8, r->off);
    cairn_put64(p + 16, r->len);
    memcpy(p + 24, r->zone, 72);
}

static int manifest_build(cairn_table *t, const tschema *s, const rgroup *g, size_t ng, uint64_t lsn, uint32_t next_file,
                          tbuf *out) {
    char *schema = NULL;
    uint8_t h[MAN_HDR];
    size_t i, c;
    int rc;
    if ((rc = cairn_tbl__schema_text(s, &schema)) != 0) return rc;
    memset(h, 0, sizeof h);
    memcpy(h, MAN_MAGIC, 8);
    cairn_put32(h + 8, MAN_VERSION);
    cairn_put32(h + 12, (t->closing ? 1u : 0u) | (t->nidef ? 2u : 0u));
    cairn_put64(h + 16, t->man_gen + 1);
    cairn_put64(h + 24, lsn);
    cairn_put64(h + 32, t->next_id);
    cairn_put32(h + 40, t->wal ? cairn_wal__salt(t->wal) : t->man_salt);
    cairn_put32(h + 44, next_file);
    cairn_put32(h + 48, (uint32_t)s->n);
    cairn_put32(h + 52, (uint32_t)strlen(schema));
    cairn_put64(h + 56, ng);
    out->n = 0;
    rc = tbuf_put(out, h, sizeof h);
    if (!rc) rc = tbuf_put(out, schema, strlen(schema));
    free(schema);
    if (!rc && t->nidef) {
        size_t at = out->n;
        uint8_t l4[4] = {0, 0, 0, 0};
        rc = tbuf_put(out, l4, 4);
        for (i = 0; !rc && i < t->nidef; i++) {
            const char *nm = s->c[t->idef[i].col].name;
            uint8_t e[2];
            e[0] = (uint8_t)t->idef[i].kind;
            e[1] = (uint8_t)strlen(nm);
            rc = tbuf_put(out, e, 2);
            if (!rc) rc = tbuf_put(out, nm, strlen(nm));
        }
        if (!rc) cairn_put32(out->p + at, (uint32_t)(out->n - at - 4));
    }
    for (i = 0; !rc && i < ng; i++) {
        uint8_t rh[RG_HDR], sr[SREF];
        uint32_t dl = g[i].ndel && g[i].del ? (g[i].nrows + 7) / 8 : 0;
        memset(rh, 0, sizeof rh);
        cairn_put64(rh, g[i].first_id);
        cairn_put64(rh + 8, g[i].last_id);
        cairn_put32(rh + 16, g[i].nrows);
        cairn_put32(rh + 20, g[i].ndel);
        cairn_put32(rh + 24, dl);
        rc = tbuf_put(out, rh, sizeof rh);
        sref_put(sr, &g[i].ids);
        if (!rc) rc = tbuf_put(out, sr, SREF);
        for (c = 0; !rc && c < s->n; c++) {
            sref_put(sr, &g[i].cols[c]);
            rc = tbuf_put(out, sr, SREF);
        }
        if (!rc && dl) rc = tbuf_put(out, g[i].del, dl);
    }
    if (!rc) {
        uint8_t crc[4];
        cairn_put32(crc, cairn_crc32c__update(0, out->p, out->n));
        rc = tbuf_put(out, crc, 4);
    }
    return rc;
}

typedef struct mparsed {
    uint64_t gen, lsn, next_id, ng;
    uint32_t flags;
    uint32_t salt, next_file, ncols;
    char *schema;
    const uint8_t *groups; /* into the buffer */
    size_t glen;
    const uint8_t *idx;    /* the index list (flag INDEXES) */
    size_t idxlen, idxoff;
} mparsed;

static int man_corrupt(const char *path, size_t off, const char *what) {
    return cairn_err__set(CAIRN_CORRUPT, "%s: offset %zu: %s", path, off, what);
}

static int manifest_parse(const char *path, const uint8_t *b, size_t n, mparsed *m) {
    uint32_t slen;
    memset(m, 0, sizeof *m);
    if (n < MAN_HDR + 4) return man_corrupt(path, 0, "manifest too short");
    if (memcmp(b, MAN_MAGIC, 8) != 0) return man_corrupt(path, 0, "bad manifest magic");
    if (cairn_get32(b + n - 4) != cairn_crc32c__update(0, b, n - 4)) return man_corrupt(path, n - 4, "manifest CRC mismatch");
    if (cairn_get32(b + 8) != MAN_VERSION)
        return cairn_err__set(CAIRN_VERSION, "%s: manifest version %u (this library reads %u)", path, cairn_get32(b + 8), MAN_VERSION);
    m->flags = cairn_get32(b + 12);
    if (m->flags & ~3u) return man_corrupt(path, 12, "unknown manifest flags");
    m->gen = cairn_get64(b + 16);
    m->lsn = cairn_get64(b + 24);
    m->next_id = cairn_get64(b + 32);
    m->salt = cairn_get32(b + 40);
    m->next_file = cairn_get32(b + 44);
    m->ncols = cairn_get32(b + 48);
    slen = cairn_get32(b + 52);
    m->ng = cairn_get64(b + 56);
    if (slen > n - 4 - MAN_HDR) return man_corrupt(path, 52, "schema length beyond the manifest");
    if (!(m->schema = (char *)malloc(slen + 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    memcpy(m->schema, b + MAN_HDR, slen);
    m->schema[slen] = 0;
    m->groups = b + MAN_HDR + slen;
    m->glen = n - 4 - MAN_HDR - slen;
    if (m->flags & 2u) {
        uint32_t il;
        if (m->glen < 4) return man_corrupt(path, MAN_HDR + slen, "index list beyond the manifest");
        il = cairn_get32(m->groups);
        if (il > m->glen - 4) return man_corrupt(path, MAN_HDR + slen, "index list beyond the manifest");
        m->idx = m->groups + 4;
        m->idxlen = il;
        m->idxoff = MAN_HDR + slen + 4;
        m->groups += 4 + (size_t)il;
        m->glen -= 4 + (size_t)il;
    }
    if (m->next_id == 0) return man_corrupt(path, 32, "next_id is 0");
    return 0;
}

/* Row groups from a parsed manifest; files looked up (or opened) through the handle's table. */
static int groups_load(cairn_table *t, const char *path, const mparsed *m, rgroup **out, size_t *nout) {
    size_t off = 0, i, c;
    rgroup *g;
    uint64_t prev_last = 0;
    int rc = 0;
    *out = NULL;
    *nout = 0;
    if (m->ng > m->glen / (RG_HDR + SREF)) return man_corrupt(path, 56, "row group count beyond the manifest");
    if (!(g = (rgroup *)calloc(m->ng ? m->ng : 1, sizeof(rgroup)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (i = 0; i < m->ng; i++) {
        const uint8_t *p = m->groups + off;
        uint32_t dl;
        size_t need = RG_HDR + (size_t)(m->ncols + 1) * SREF;
        *nout = i + 1;
        if (m->glen - off < need) {
            rc = man_corrupt(path, off, "row group beyond the manifest");
            break;
        }
        g[i].first_id = cairn_get64(p);
        g[i].last_id = cairn_get64(p + 8);
        g[i].nrows = cairn_get32(p + 16);
        g[i].ndel = cairn_get32(p + 20);
        dl = cairn_get32(p + 24);
        if (g[i].nrows == 0 || g[i].nrows > CAIRN_SEG_MAX_ROWS || g[i].first_id > g[i].last_id ||
            g[i].last_id - g[i].first_id + 1 < g[i].nrows || (i && g[i].first_id <= prev_last) || g[i].last_id >= m->next_id ||
            g[i].ndel > g[i].nrows || (dl && dl != (g[i].nrows + 7) / 8) || (!dl && g[i].ndel)) {
            rc = man_corrupt(path, off, "bad row group header");
            break;
        }
        prev_last = g[i].last_id;
        if (!(g[i].cols = (segref *)calloc(m->ncols ? m->ncols : 1, sizeof(segref)))) {
            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
            break;
        }
        for (c = 0; c <= m->ncols && !rc; c++) {
            const uint8_t *q = p + RG_HDR + c * SREF;
            segref *r = c ? &g[i].cols[c - 1] : &g[i].ids;
            uint32_t num = cairn_get32(q);
            segfile *f = file_by_num(t, num);
            if (!f) {
                segfile **nf = (segfile **)realloc(t->files, (t->nfiles + 1) * sizeof *nf);
                if (!nf) {
                    rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                    break;
                }
                t->files = nf;
                if (num >= m->next_file) {
                    rc = man_corrupt(path, off, "segment file number not below next_file");
                    break;
                }
                if ((rc = segfile_open(t->dir, num, &f)) != 0) break;
                t->files[t->nfiles++] = f;
            }
            __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
            r->file = f;
            r->enc = q[4];
            r->off = cairn_get64(q + 8);
            r->len = cairn_get64(q + 16);
            memcpy(r->zone, q + 24, 72);
            if (r->off < SEGF_HDR || r->off + r->len > f->size || r->len == 0) {
                rc = cairn_err__set(CAIRN_CORRUPT, "%s: offset %zu: segment reference outside %s", path, off + RG_HDR + c * SREF,
                                    cairn_io__path(f->f));
                break;
            }
        }
        if (rc) break;
        off += need;
        if (dl) {
            uint32_t k, cnt = 0;
            if (m->glen - off < dl) {
                rc = man_corrupt(path, off, "delete bitmap beyond the manifest");
                break;
            }
            if (!(g[i].del = (uint8_t *)malloc(dl))) {
                rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                break;
            }
            memcpy(g[i].del, m->groups + off, dl);
            for (k = 0; k < g[i].nrows; k++) cnt += (g[i].del[k >> 3] >> (k & 7)) & 1;
            if (cnt != g[i].ndel) {
                rc = man_corrupt(path, off, "delete bitmap does not match the deleted count");
                break;
            }
            off += dl;
        }
    }
    if (!rc && off != m->glen) rc = man_corrupt(path, MAN_HDR + off, "trailing bytes in the manifest");
    if (rc) {
        cairn_tbl__groups_free(g, *nout, m->ncols);
        *nout = 0;
        return rc;
    }
    *out = g;
    return 0;
}

/* durable replace of MANIFEST; *renamed tells whether the rename happened */
static int manifest_write(cairn_table *t, const tbuf *b, int *renamed) {
    cairn_file *f = NULL;
    char *tmp = cairn_path__join(t->dir, "MANIFEST.tmp");
    int rc;
    *renamed = 0;
    if (!tmp) return CAIRN_NOMEM;
    rc = cairn_io__open(&f, tmp, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC);
    if (!rc && (rc = cairn_io__pwrite(f, b->p, b->n, 0)) == 0) cairn_tbl__count(&t->n_written, b->n);
    if (!rc && (rc = cairn_io__fsync(f)) == 0) cairn_tbl__count(&t->n_fsyncs, 1);
    cairn_io__close(f);
    if (!rc) rc = cairn_io__rename(tmp, t->man_path);
    if (!rc) {
        *renamed = 1;
        if ((rc = cairn_io__sync_dir(t->dir)) == 0) cairn_tbl__count(&t->n_fsyncs, 1);
    } else {
        cairn_err_saved sv;
        cairn_err__save(&sv);
        (void)cairn_io__unlink(tmp);
        cairn_err__restore(&sv);
    }
    free(tmp);
    return rc;
}

/* ---- writing segments ---- */

typedef struct segw {
    cairn_table *t;
    segfile *f;       /* the new file (refs: 1 held here until adopted) */
    char *path;
    uint64_t off;
    int used;
    cairn_seg_scratch sc; /* the encoder's buffers, reused by every segment of the file */
    void *tmp;            /* a row group's ids, a bool column as 0/1 (reused) */
    size_t tmpcap;
} segw;

/* the encoder's buffers go once the last segment is written (a few MiB) */
static void segw_scratch_free(segw *w) {
    cairn_seg__scratch_free(&w->sc);
    free(w->tmp);
    w->tmp = NULL;
    w->tmpcap = 0;
}

static void *segw_tmp(segw *w, size_t bytes) {
    if (w->tmpcap < bytes) {
        free(w->tmp);
        w->tmp = malloc(bytes);
        w->tmpcap = w->tmp ? bytes : 0;
    }
    return w->tmp;
}

static int segw_open(cairn_table *t, segw *w) {
    uint8_t h[SEGF_HDR];
    int rc;
    memset(w, 0, sizeof *w);
    w->t = t;
    if (!(w->path = seg_path(t->dir, t->next_file))) return CAIRN_NOMEM;
    if (!(w->f = (segfile *)calloc(1, sizeof(segfile)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    w->f->num = t->next_file;
    w->f->refs = 1;
    if ((rc = cairn_io__open(&w->f->f, w->path, CAIRN_IO_RDWR | CAIRN_IO_CREATE | CAIRN_IO_TRUNC)) != 0) return rc;
    memset(h, 0, sizeof h);
    memcpy(h, SEG_MAGIC, 8);
    cairn_put32(h + 8, 1);
    cairn_put32(h + 12, t->next_file);
    cairn_put32(h + 28, cairn_crc32c__update(0, h, 28));
    if ((rc = cairn_io__pwrite(w->f->f, h, SEGF_HDR, 0)) != 0) return rc;
    cairn_tbl__count(&t->n_written, SEGF_HDR);
    w->off = SEGF_HDR;
    w->f->size = SEGF_HDR;
    return 0;
}

/* discard a new file that no manifest names */
static void segw_abort(segw *w) {
    cairn_err_saved sv;
    cairn_err__save(&sv);
    segw_scratch_free(w);
    if (w->f) cairn_tbl__segfile_unref(w->f);
    if (w->path) (void)cairn_io__unlink(w->path);
    free(w->path);
    memset(w, 0, sizeof *w);
    cairn_err__restore(&sv);
}

static int segw_put(segw *w, const cairn_colvec *v, segref *r) {
    cairn_seg_buf b;
    static const uint8_t zero[8] = {0};
    int rc;
    uint64_t start = w->off;
    memset(&b, 0, sizeof b);
    if ((rc = cairn_seg__encode_with(v, 0, &w->sc, &b)) != 0) return rc; /* b.bytes: the scratch's */
    if (w->off % 8) {
        size_t pad = 8 - (size_t)(w->off % 8);
        if ((rc = cairn_io__pwrite(w->f->f, zero, pad, w->off)) != 0) return rc;
        w->off += pad;
    }
    if ((rc = cairn_io__pwrite(w->f->f, b.bytes, b.len, w->off)) != 0) return rc;
    cairn_tbl__count(&w->t->n_written, b.len + (w->off - start));
    r->file = w->f;
    __atomic_add_fetch(&w->f->refs, 1, __ATOMIC_RELAXED); /* the reference's own */
    r->off = w->off;
    r->len = b.len;
    r->enc = (uint8_t)b.encoding;
    zone_put(r->zone, &b.zone);
    w->off += b.len;
    w->f->size = w->off;
    w->used = 1;
    return 0;
}

/* A row group from rows sel[0..n) of store r. */
static int write_group(segw *w, const tschema *s, const rstore *r, const uint32_t *sel, size_t n, rgroup *g) {
    cairn_colvec v;
    size_t c, i;
    uint64_t *ids;
    int rc;
    memset(g, 0, sizeof *g);
    if (!(g->cols = (segref *)calloc(s->n ? s->n : 1, sizeof(segref)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if (!(ids = (uint64_t *)segw_tmp(w, n * 8))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (i = 0; i < n; i++) ids[i] = r->ids[sel[i]];
    memset(&v, 0, sizeof v);
    v.type = CAIRN_TYPE_U64;
    v.n = n;
    v.data = ids;
    v.data_len = n * 8;
    g->first_id = ids[0];
    g->last_id = ids[n - 1];
    g->nrows = (uint32_t)n;
    rc = segw_put(w, &v, &g->ids);
    for (c = 0; !rc && c < s->n; c++) {
        if ((rc = cairn_tbl__rs_colvec(r, s, c, sel, n, &v)) != 0) break;
        rc = segw_put(w, &v, &g->cols[c]);
        cairn_seg__free_vec(&v);
    }
    return rc;
}

/* A row group of rows [start, start+cnt) of a bulk load, encoded from the caller's arrays. */
static int write_direct_group(segw *w, const tschema *s, const tdirect *d, size_t start, size_t cnt, rgroup *g) {
    cairn_colvec v;
    size_t c, i;
    uint64_t *ids;
    int rc = 0;
    memset(g, 0, sizeof *g);
    if (!(g->cols = (segref *)calloc(s->n ? s->n : 1, sizeof(segref)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if (!(ids = (uint64_t *)segw_tmp(w, cnt * 8))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (i = 0; i < cnt; i++) ids[i] = d->first_id + start + i;
    memset(&v, 0, sizeof v);
    v.type = CAIRN_TYPE_U64;
    v.n = cnt;
    v.data = ids;
    v.data_len = cnt * 8;
    g->first_id = ids[0];
    g->last_id = ids[cnt - 1];
    g->nrows = (uint32_t)cnt;
    rc = segw_put(w, &v, &g->ids);
    for (c = 0; !rc && c < s->n; c++) {
        const tcol *col = &s->c[c];
        const void *src = d->cs->data[c];
        const uint8_t *vb = d->cs->validity ? d->cs->validity[c] : NULL;
        void *own = NULL;
        uint64_t *offs = NULL;
        uint8_t *valid = NULL;
        memset(&v, 0, sizeof v);
        v.type = col->type;
        v.fixed_len = col->type == CAIRN_TYPE_FIXED ? col->fixed_len : 0;
        v.n = cnt;
        if (!src) {
            /* every row takes the default: one column of it */
            rstore one;
            tschema s1;
            uint32_t *sel = (uint32_t *)malloc(cnt * sizeof *sel);
            cairn_value dv;
            s1.n = 1;
            s1.c = (tcol *)col;
            s1.pk = -1;
            memset(&dv, 0, sizeof dv);
            if (col->has_def) dv = col->def;
            else dv.is_null = 1;
            if (!sel) return cairn_err__set(CAIRN_NOMEM, "out of memory");
            if ((rc = cairn_tbl__rs_init(&one, &s1)) == 0 && (rc = cairn_tbl__rs_reserve(&one, &s1, cnt)) == 0) {
                for (i = 0; !rc && i < cnt; i++) {
                    rc = cairn_tbl__rs_set(&one, &s1, i, 0, &dv);
                    one.ids[i] = 0;
                    one.dead[i] = 0;
                    sel[i] = (uint32_t)i;
                }
                one.n = cnt;
                if (!rc) rc = cairn_tbl__rs_colvec(&one, &s1, 0, sel, cnt, &v);
                if (!rc) {
                    rc = segw_put(w, &v, &g->cols[c]);
                    cairn_seg__free_vec(&v);
                }
            }
            cairn_tbl__rs_free(&one);
            free(sel);
            continue;
        }
        if (vb) {
            int any_null = 0;
            size_t nb = (cnt + 7) / 8;
            if (!(valid = (uint8_t *)calloc(nb, 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
            if (start % 8 == 0) {
                /* row groups start on a byte of the caller's bitmap: copied bytewise */
                memcpy(valid, vb + start / 8, nb);
                if (cnt % 8) valid[nb - 1] &= (uint8_t)((1u << (cnt % 8)) - 1);
                for (i = 0; i < nb && !any_null; i++)
                    any_null = valid[i] != (i + 1 < nb || cnt % 8 == 0 ? 0xffu : (1u << (cnt % 8)) - 1);
            } else {
                for (i = 0; i < cnt; i++) {
                    size_t b = start + i;
                    if ((vb[b >> 3] >> (b & 7)) & 1) valid[i >> 3] |= (uint8_t)(1u << (i & 7));
                    else any_null = 1;
                }
            }
            if (!any_null) {
                free(valid);
                valid = NULL;
            }
        }
        v.validity = valid;
        if (col->w) {
            const uint8_t *base = (const uint8_t *)src + start * col->w;
            if (col->type == CAIRN_TYPE_BOOL && !valid) {
                /* bool as 0/1 (the ids are written: their buffer is free) */
                uint8_t *cp = (uint8_t *)segw_tmp(w, cnt);
                if (!cp) return cairn_err__set(CAIRN_NOMEM, "out of memory");
                for (i = 0; i < cnt; i++) cp[i] = base[i] != 0;
                v.data = cp;
            } else if (col->type == CAIRN_TYPE_BOOL || valid) {
                /* bool as 0/1; a null's slot holds 0 */
                uint8_t *cp = (uint8_t *)malloc(cnt * col->w + 1);
                if (!cp) {
                    free(valid);
                    return cairn_err__set(CAIRN_NOMEM, "out of memory");
                }
                if (col->type == CAIRN_TYPE_BOOL)
                    for (i = 0; i < cnt; i++) cp[i] = base[i] != 0;
                else
                    memcpy(cp, base, cnt * col->w);
                if (valid)
                    for (i = 0; i < cnt; i++)
                        if (!((valid[i >> 3] >> (i & 7)) & 1)) memset(cp + i * col->w, 0, col->w);
                own = cp;
                v.data = cp;
            } else {
                v.data = (void *)(uintptr_t)base; /* read only by the encoder */
            }
            v.data_len = cnt * col->w;
        } else {
            const uint64_t *o = d->cs->offsets[c];
            uint64_t o0 = o[start];
            if (!(offs = (uint64_t *)malloc((cnt + 1) * 8))) {
                free(valid);
                return cairn_err__set(CAIRN_NOMEM, "out of memory");
            }
            if (valid) {
                /* a null's slot is empty: gather the valid values */
                uint8_t *cp = (uint8_t *)malloc((size_t)(o[start + cnt] - o0) + 1);
                uint64_t at = 0;
                if (!cp) {
                    free(valid);
                    free(offs);
                    return cairn_err__set(CAIRN_NOMEM, "out of memory");
                }
                for (i = 0; i < cnt; i++) {
                    offs[i] = at;
                    if ((valid[i >> 3] >> (i & 7)) & 1) {
                        uint64_t l = o[start + i + 1] - o[start + i];
                        memcpy(cp + at, (const uint8_t *)src + o[start + i], (size_t)l);
                        at += l;
                    }
                }
                offs[cnt] = at;
                own = cp;
                v.data = cp;
                v.data_len = (size_t)at;
            } else {
                for (i = 0; i <= cnt; i++) offs[i] = o[start + i] - o0;
                v.data = (void *)(uintptr_t)((const uint8_t *)src + o0);
                v.data_len = (size_t)(o[start + cnt] - o0);
            }
            v.offsets = offs;
        }
        rc = segw_put(w, &v, &g->cols[c]);
        free(own);
        free(offs);
        free(valid);
    }
    return rc;
}

/* Rewrite group g (overlays applied) into *ng. */
static int rewrite_group(cairn_table *t, segw *w, const rgroup *g, rgroup *out) {
    rstore tmp;
    cairn_colvec ids, *cv = NULL;
    cairn_value *row = NULL;
    uint32_t *sel = NULL, p;
    size_t c;
    int rc;
    memset(&ids, 0, sizeof ids);
    if ((rc = cairn_tbl__rs_init(&tmp, &t->s)) != 0) return rc;
    if (!(cv = (cairn_colvec *)calloc(t->s.n ? t->s.n : 1, sizeof *cv)) || !(row = (cairn_value *)malloc((t->s.n ? t->s.n : 1) * sizeof *row)) ||
        !(sel = (uint32_t *)malloc(g->nrows * sizeof *sel))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    rc = cairn_tbl__group_decode(g->ids.file, &g->ids, CAIRN_TYPE_U64, 0, &ids);
    for (c = 0; !rc && c < t->s.n; c++) rc = cairn_tbl__group_decode(g->cols[c].file, &g->cols[c], t->s.c[c].type, t->s.c[c].fixed_len, &cv[c]);
    if (!rc && (ids.n != g->nrows)) rc = cairn_err__set(CAIRN_CORRUPT, "%s: row group of %u rows has %zu ids", t->dir, g->nrows, ids.n);
    if (!rc) rc = cairn_tbl__rs_reserve(&tmp, &t->s, g->nrows);
    for (p = 0; !rc && p < g->nrows; p++) {
        uint64_t id = ((const uint64_t *)ids.data)[p], op;
        if (!grp_deleted(g, p) && t->ovmap.n && cairn_tbl__idmap_get(&t->ovmap, id, &op)) {
            for (c = 0; c < t->s.n; c++) cairn_tbl__rs_get(&t->ov, &t->s, (size_t)op, c, &row[c]);
        } else {
            for (c = 0; c < t->s.n; c++) {
                if (cv[c].n != g->nrows) {
                    rc = cairn_err__set(CAIRN_CORRUPT, "%s: row group of %u rows has a segment of %zu values", t->dir, g->nrows, cv[c].n);
                    break;
                }
                cairn_tbl__colvec_get(&cv[c], &t->s.c[c], p, &row[c]);
            }
        }
        if (!rc) rc = cairn_tbl__rs_append(&tmp, &t->s, id, row);
        sel[p] = p;
    }
    if (!rc) rc = write_group(w, &t->s, &tmp, sel, g->nrows, out);
    if (!rc) {
        out->ndel = g->ndel;
        if (g->del) {
            if (!(out->del = (uint8_t *)malloc((g->nrows + 7) / 8))) rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
            else memcpy(out->del, g->del, (g->nrows + 7) / 8);
        }
    }
out:
    cairn_seg__free_vec(&ids);
    if (cv)
        for (c = 0; c < t->s.n; c++) cairn_seg__free_vec(&cv[c]);
    free(cv);
    free(row);
    free(sel);
    cairn_tbl__rs_free(&tmp);
    return rc;
}

/* refcount every reference of groups g (they are shared with the handle's) */
static void groups_ref(rgroup *g, size_t ng, size_t ncols) {
    size_t i, c;
    for (i = 0; i < ng; i++) {
        if (g[i].ids.file) __atomic_add_fetch(&g[i].ids.file->refs, 1, __ATOMIC_RELAXED);
        for (c = 0; c < ncols; c++)
            if (g[i].cols[c].file) __atomic_add_fetch(&g[i].cols[c].file->refs, 1, __ATOMIC_RELAXED);
    }
}

static int group_dup(const rgroup *src, size_t ncols, rgroup *dst) {
    *dst = *src;
    dst->cols = NULL;
    dst->del = NULL;
    if (!(dst->cols = (segref *)malloc((ncols ? ncols : 1) * sizeof(segref)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    memcpy(dst->cols, src->cols, ncols * sizeof(segref));
    if (src->del) {
        if (!(dst->del = (uint8_t *)malloc((src->nrows + 7) / 8))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        memcpy(dst->del, src->del, (src->nrows + 7) / 8);
    }
    groups_ref(dst, 1, ncols);
    return 0;
}

/* Remove segment files the handle no longer references from its table (and from disk). */
static void drop_unused_files(cairn_table *t) {
    size_t i, c, k = 0;
    for (i = 0; i < t->nfiles; i++) {
        segfile *f = t->files[i];
        int used = 0;
        size_t gi;
        for (gi = 0; gi < t->ng && !used; gi++) {
            if (t->g[gi].ids.file == f) used = 1;
            for (c = 0; c < t->s.n && !used; c++)
                if (t->g[gi].cols[c].file == f) used = 1;
        }
        if (used) {
            t->files[k++] = f;
        } else {
            char *p = seg_path(t->dir, f->num);
            if (p) (void)cairn_io__unlink(p);
            free(p);
            cairn_tbl__segfile_unref(f);
        }
    }
    t->nfiles = k;
}

/* Switch to new groups `ng` (owned) with a new manifest; adopt file w. Returns with t updated or
 * unchanged (on a failure before the rename) or failed. */
static int switch_manifest(cairn_table *t, segw *w, rgroup *ng, size_t nng, tschema *news) {
    tbuf mb = {0, 0, 0};
    uint64_t lsn = cairn_wal__last_seq(t->wal);
    uint32_t next_file = t->next_file + (w->used ? 1 : 0);
    const tschema *s = news ? news : &t->s;
    int rc, renamed = 0;
    segw_scratch_free(w); /* every segment is written */
    if (lsn < t->man_lsn) lsn = t->man_lsn;
    if (w->used) {
        if ((rc = cairn_io__fsync(w->f->f)) != 0) {
            free(mb.p);
            return rc; /* the caller aborts w; the handle stays usable (nothing named the file) */
        }
        cairn_tbl__count(&t->n_fsyncs, 1);
    }
    if ((rc = manifest_build(t, s, ng, nng, lsn, next_file, &mb)) != 0) {
        free(mb.p);
        return rc;
    }
    rc = manifest_write(t, &mb, &renamed);
    free(mb.p);
    if (rc && !renamed) return rc;
    /* the new manifest is in place from here (maybe not durable on a failure: then fail-stop) */
    cairn_tbl__dcache_clear(t);
    cairn_tbl__groups_free(t->g, t->ng, t->s.n);
    t->g = ng;
    t->ng = nng;
    t->capg = nng;
    if (news) {
        cairn_tbl__schema_free(&t->s);
        t->s = *news;
        memset(news, 0, sizeof *news);
    }
    if (w->used) {
        segfile **nf = (segfile **)realloc(t->files, (t->nfiles + 1) * sizeof *nf);
        if (nf) {
            t->files = nf;
            t->files[t->nfiles++] = w->f; /* the table's reference */
        } else {
            cairn_tbl__segfile_unref(w->f); /* the groups hold their own references */
        }
        w->f = NULL;
        t->next_file = next_file;
    } else if (w->f) {
        segw_abort(w);
    }
    free(w->path);
    w->path = NULL;
    t->man_gen++;
    t->man_lsn = lsn;
    t->man_next_id = t->next_id;
    t->man_salt = cairn_wal__salt(t->wal);
    t->man_clean = t->closing;
    t->dirty = 0;
    t->g_rows = 0;
    t->g_dead = 0;
    {
        size_t i;
        for (i = 0; i < t->ng; i++) {
            t->g_rows += t->g[i].nrows;
            t->g_dead += t->g[i].ndel;
        }
    }
    if (rc) return cairn_tbl__fail(t, rc);
    t->checkpoints++;
    drop_unused_files(t);
    if ((rc = cairn_wal__reset(t->wal)) != 0) return cairn_tbl__fail(t, rc);
    return 0;
}

int cairn_tbl__checkpoint(cairn_table *t, int force) {
    segw w;
    rgroup *ng = NULL;
    size_t nng = 0, cap, i, k;
    uint32_t *sel = NULL;
    uint8_t *rewrite = NULL;
    int rc = 0;
    if (t->ro || t->failed || !t->wal) return 0;
    if (!force && t->tail.n == 0 && t->ov.n == 0 && !t->dirty && cairn_wal__last_seq(t->wal) <= t->man_lsn &&
        t->next_id == t->man_next_id && cairn_wal__salt(t->wal) == t->man_salt)
        return 0;
    memset(&w, 0, sizeof w);
    if ((rc = segw_open(t, &w)) != 0) goto fail;
    /* groups with live overlays are rewritten */
    if (t->ng && !(rewrite = (uint8_t *)calloc(t->ng, 1))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto fail;
    }
    for (i = 0; i < t->ov.n; i++) {
        size_t gi;
        uint32_t gp;
        if (t->ov.dead[i]) continue;
        if ((rc = cairn_tbl__group_find(t, t->ov.ids[i], &gi, &gp)) != 0) goto fail;
        rewrite[gi] = 1;
    }
    cap = t->ng + (t->tail.n - t->tail.ndead) / CAIRN_SEG_MAX_ROWS + 1;
    if (t->direct) cap += t->direct->n / CAIRN_SEG_MAX_ROWS + 1;
    if (!(ng = (rgroup *)calloc(cap, sizeof(rgroup)))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto fail;
    }
    for (i = 0; i < t->ng; i++) {
        if (rewrite[i]) rc = rewrite_group(t, &w, &t->g[i], &ng[nng]);
        else rc = group_dup(&t->g[i], t->s.n, &ng[nng]);
        nng++;
        if (rc) goto fail;
    }
    if (t->tail.n > t->tail.ndead) {
        size_t live = 0;
        if (!(sel = (uint32_t *)malloc((t->tail.n - t->tail.ndead) * sizeof *sel))) {
            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
            goto fail;
        }
        for (i = 0; i < t->tail.n; i++)
            if (!t->tail.dead[i]) sel[live++] = (uint32_t)i;
        for (k = 0; k < live; k += CAIRN_SEG_MAX_ROWS) {
            size_t cnt = live - k < CAIRN_SEG_MAX_ROWS ? live - k : CAIRN_SEG_MAX_ROWS;
            rc = write_group(&w, &t->s, &t->tail, sel + k, cnt, &ng[nng]);
            nng++;
            if (rc) goto fail;
        }
    }
    if (t->direct) {
        for (k = 0; k < t->direct->n; k += CAIRN_SEG_MAX_ROWS) {
            size_t cnt = t->direct->n - k < CAIRN_SEG_MAX_ROWS ? t->direct->n - k : CAIRN_SEG_MAX_ROWS;
            rc = write_direct_group(&w, &t->s, t->direct, k, cnt, &ng[nng]);
            nng++;
            if (rc) goto fail;
        }
    }
    if ((rc = switch_manifest(t, &w, ng, nng, NULL)) != 0) {
        if (t->failed) {
            /* the manifest switched: ng is the handle's */
            ng = NULL;
            nng = 0;
        }
        goto fail;
    }
    ng = NULL;
    cairn_tbl__rs_clear(&t->tail);
    cairn_tbl__rs_clear(&t->ov);
    cairn_tbl__idmap_clear(&t->ovmap);
    /* a bulk load grew the tail far past its usual size: give the memory back */
    if (t->tail.cap > 2 * (size_t)t->ckpt_rows) {
        cairn_tbl__rs_free(&t->tail);
        if ((rc = cairn_tbl__rs_init(&t->tail, &t->s)) != 0) return cairn_tbl__fail(t, rc);
    }
    if (t->ov.cap > 2 * (size_t)t->ckpt_rows) {
        cairn_tbl__rs_free(&t->ov);
        if ((rc = cairn_tbl__rs_init(&t->ov, &t->s)) != 0) return cairn_tbl__fail(t, rc);
    }
    free(sel);
    free(rewrite);
    return 0;
fail: {
        cairn_err_saved sv;
        cairn_err__save(&sv);
        if (w.f || w.path) segw_abort(&w);
        cairn_tbl__groups_free(ng, nng, t->s.n);
        free(sel);
        free(rewrite);
        if (!t->failed && (rc == CAIRN_FAILED || (t->wal && cairn_wal__failed(t->wal)))) cairn_tbl__fail(t, rc);
        return cairn_err__restore(&sv);
    }
}

/* ---- compact ---- */

int cairn_tbl__compact(cairn_table *t) {
    segw w;
    rstore tmp;
    rgroup *ng = NULL;
    size_t nng = 0, cap = 0, gi, c;
    uint32_t *sel = NULL, p;
    cairn_value *row = NULL;
    int rc;
    if ((rc = cairn_tbl__checkpoint(t, 0)) != 0) return rc;
    if (!t->g_dead && t->ng <= 1) return 0; /* nothing to reclaim or merge */
    memset(&w, 0, sizeof w);
    if ((rc = cairn_tbl__rs_init(&tmp, &t->s)) != 0) return rc;
    if ((rc = segw_open(t, &w)) != 0) goto fail;
    if (!(sel = (uint32_t *)malloc(CAIRN_SEG_MAX_ROWS * sizeof *sel)) || !(row = (cairn_value *)malloc((t->s.n ? t->s.n : 1) * sizeof *row))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto fail;
    }
    for (p = 0; p < CAIRN_SEG_MAX_ROWS; p++) sel[p] = p;
    cap = t->ng + 1;
    if (!(ng = (rgroup *)calloc(cap, sizeof(rgroup)))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto fail;
    }
    for (gi = 0; gi < t->ng; gi++) {
        rgroup *g = &t->g[gi];
        cairn_colvec ids, *cv = (cairn_colvec *)calloc(t->s.n ? t->s.n : 1, sizeof *cv);
        memset(&ids, 0, sizeof ids);
        if (!cv) {
            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
            goto fail;
        }
        rc = cairn_tbl__group_decode(g->ids.file, &g->ids, CAIRN_TYPE_U64, 0, &ids);
        for (c = 0; !rc && c < t->s.n; c++) rc = cairn_tbl__group_decode(g->cols[c].file, &g->cols[c], t->s.c[c].type, t->s.c[c].fixed_len, &cv[c]);
        for (c = 0; !rc && c < t->s.n; c++)
            if (cv[c].n != g->nrows || ids.n != g->nrows)
                rc = cairn_err__set(CAIRN_CORRUPT, "%s: row group of %u rows has a segment of %zu values", t->dir, g->nrows, cv[c].n);
        for (p = 0; !rc && p < g->nrows; p++) {
            if (grp_deleted(g, p)) continue;
            for (c = 0; c < t->s.n; c++) cairn_tbl__colvec_get(&cv[c], &t->s.c[c], p, &row[c]);
            if ((rc = cairn_tbl__rs_append(&tmp, &t->s, ((const uint64_t *)ids.data)[p], row)) != 0) break;
            if (tmp.n == CAIRN_SEG_MAX_ROWS) {
                if (nng == cap) {
                    rgroup *q = (rgroup *)realloc(ng, (cap * 2) * sizeof *q);
                    if (!q) {
                        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                        break;
                    }
                    memset(q + cap, 0, cap * sizeof *q);
                    ng = q;
                    cap *= 2;
                }
                rc = write_group(&w, &t->s, &tmp, sel, tmp.n, &ng[nng]);
                nng++;
                cairn_tbl__rs_clear(&tmp);
            }
        }
        cairn_seg__free_vec(&ids);
        for (c = 0; c < t->s.n; c++) cairn_seg__free_vec(&cv[c]);
        free(cv);
        if (rc) goto fail;
    }
    if (tmp.n) {
        if (nng == cap) {
            rgroup *q = (rgroup *)realloc(ng, (cap + 1) * sizeof *q);
            if (!q) {
                rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                goto fail;
            }
            memset(q + cap, 0, sizeof *q);
            ng = q;
            cap++;
        }
        rc = write_group(&w, &t->s, &tmp, sel, tmp.n, &ng[nng]);
        nng++;
        if (rc) goto fail;
    }
    if ((rc = switch_manifest(t, &w, ng, nng, NULL)) != 0) {
        if (t->failed) {
            ng = NULL;
            nng = 0;
        }
        goto fail;
    }
    cairn_tbl__rs_free(&tmp);
    free(sel);
    free(row);
    return 0;
fail: {
        cairn_err_saved sv;
        cairn_err__save(&sv);
        if (w.f || w.path) segw_abort(&w);
        cairn_tbl__groups_free(ng, nng, t->s.n);
        cairn_tbl__rs_free(&tmp);
        free(sel);
        free(row);
        return cairn_err__restore(&sv);
    }
}

/* ---- add_column ---- */

int cairn_tbl__add_column(cairn_table *t, const tcol *col) {
    segw w;
    tschema ns;
    rgroup *ng = NULL;
    size_t gi, nng = 0;
    cairn_value dv;
    int rc;
    memset(&ns, 0, sizeof ns);
    memset(&w, 0, sizeof w);
    if ((rc = cairn_tbl__checkpoint(t, 0)) != 0) return rc;
    if ((rc = cairn_tbl__schema_copy(&t->s, &ns)) != 0) return rc;
    {
        tcol *nc = (tcol *)realloc(ns.c, (ns.n + 1) * sizeof(tcol));
        if (!nc) {
            cairn_tbl__schema_free(&ns);
            return cairn_err__set(CAIRN_NOMEM, "out of memory");
        }
        ns.c = nc;
        if ((rc = cairn_tbl__col_copy(col, &ns.c[ns.n])) != 0) {
            cairn_tbl__schema_free(&ns);
            return rc;
        }
        ns.n++;
        if (col->pk) ns.pk = (int)ns.n - 1;
    }
    memset(&dv, 0, sizeof dv);
    if (col->has_def) dv = ns.c[ns.n - 1].def;
    else dv.is_null = 1;
    if (t->ng) {
        tschema s1;
        s1.n = 1;
        s1.c = &ns.c[ns.n - 1];
        s1.pk = -1;
        if ((rc = segw_open(t, &w)) != 0) goto fail;
        if (!(ng = (rgroup *)calloc(t->ng, sizeof(rgroup)))) {
            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
            goto fail;
        }
        /* per group: the old segments, and a column of nrows copies of the default */
        for (gi = 0; gi < t->ng; gi++) {
            const rgroup *g = &t->g[gi];
            rstore one;
            uint32_t *sel = NULL, p;
            rgroup *d = &ng[gi];
            *d = *g;
            d->cols = NULL;
            d->del = NULL;
            nng = gi + 1;
            if (!(d->cols = (segref *)calloc(ns.n, sizeof(segref)))) {
                d->ids.file = NULL;
                rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                goto fail;
            }
            memcpy(d->cols, g->cols, t->s.n * sizeof(segref));
            if (g->del) {
                if (!(d->del = (uint8_t *)malloc((g->nrows + 7) / 8))) {
                    d->ids.file = NULL;
                    memset(d->cols, 0, ns.n * sizeof(segref));
                    rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                    goto fail;
                }
                memcpy(d->del, g->del, (g->nrows + 7) / 8);
            }
            groups_ref(d, 1, t->s.n);
            if ((rc = cairn_tbl__rs_init(&one, &s1)) != 0) goto fail;
            if (!(sel = (uint32_t *)malloc(g->nrows * sizeof *sel))) rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
            for (p = 0; !rc && p < g->nrows; p++) {
                rc = cairn_tbl__rs_append(&one, &s1, 0, &dv);
                sel[p] = p;
            }
            if (!rc) {
                cairn_colvec v;
                if ((rc = cairn_tbl__rs_colvec(&one, &s1, 0, sel, g->nrows, &v)) == 0) {
                    rc = segw_put(&w, &v, &d->cols[ns.n - 1]);
                    cairn_seg__free_vec(&v);
                }
            }
            free(sel);
            cairn_tbl__rs_free(&one);
            if (rc) goto fail;
        }
    }
    if ((rc = switch_manifest(t, &w, ng, nng, &ns)) != 0) {
        if (t->failed) {
            ng = NULL;
            nng = 0;
        }
        goto fail;
    }
    /* the in-memory stores (empty after the checkpoint) get the column */
    cairn_tbl__rs_free(&t->tail);
    cairn_tbl__rs_free(&t->ov);
    if ((rc = cairn_tbl__rs_init(&t->tail, &t->s)) != 0 || (rc = cairn_tbl__rs_init(&t->ov, &t->s)) != 0)
        return cairn_tbl__fail(t, rc);
    return 0;
fail: {
        cairn_err_saved sv;
        cairn_err__save(&sv);
        if (ng) cairn_tbl__groups_free(ng, nng, ns.n ? ns.n : t->s.n + 1);
        if (w.f || w.path) segw_abort(&w);
        cairn_tbl__schema_free(&ns);
        return cairn_err__restore(&sv);
    }
}

/* ---- open ---- */

static int create_table(cairn_table *t, const char *schema) {
    tschema s;
    cairn_wal_info wi;
    tbuf mb = {0, 0, 0};
    int rc, renamed;
    if (!schema) return cairn_err__set(CAIRN_INVALID, "%s: creating a table needs a schema", t->dir);
    if ((rc = cairn_tbl__schema_parse(schema, &s)) != 0) return rc;
    /* an old log or segments of an earlier table of this name mean nothing now */
    if ((rc = cairn_io__unlink(t->wal_path)) != 0) goto out;
    if ((rc = cairn_wal__open(&t->wal, t->wal_path, CAIRN_WAL_CREATE, &wi)) != 0) goto out;
    t->s = s;
    memset(&s, 0, sizeof s);
    t->next_id = 1;
    t->next_file = 1;
    if ((rc = manifest_build(t, &t->s, NULL, 0, 0, 1, &mb)) == 0) rc = manifest_write(t, &mb, &renamed);
    free(mb.p);
    cairn_wal__close(t->wal);
    t->wal = NULL;
    cairn_tbl__schema_free(&t->s);
out:
    cairn_tbl__schema_free(&s);
    return rc;
}

/* remove seg files no manifest names, and a MANIFEST.tmp */
static int remove_leftovers(cairn_table *t) {
    char **names = NULL;
    size_t n = 0, i;
    int rc;
    if ((rc = cairn_io__list(t->dir, &names, &n)) != 0) return rc;
    for (i = 0; i < n && !rc; i++) {
        unsigned num;
        char tail[8];
        int del = 0;
        if (strcmp(names[i], "MANIFEST.tmp") == 0) del = 1;
        else if (sscanf(names[i], "seg-%8u.%3s", &num, tail) == 2 && strcmp(tail, "dat") == 0 && strlen(names[i]) == 16)
            del = !file_by_num(t, num);
        if (del) {
            char *p = cairn_path__join(t->dir, names[i]);
            if (!p) rc = CAIRN_NOMEM;
            else rc = cairn_io__unlink(p);
            free(p);
        }
    }
    cairn_io__list_free(names, n);
    return rc;
}

static int apply_fn(void *ctx, uint64_t txid, unsigned type, const void *payload, size_t len, uint64_t seq) {
    (void)txid;
    (void)seq;
    return cairn_tbl__apply_rec((cairn_table *)ctx, type, payload, len);
}

/* read and apply the manifest (t->s, t->g); schema_opt compared */
static int load_manifest(cairn_table *t, const uint8_t *b, size_t n, const char *schema_opt) {
    mparsed m;
    int rc;
    size_t i;
    if ((rc = manifest_parse(t->man_path, b, n, &m)) != 0) {
        free(m.schema);
        return rc;
    }
    if ((rc = cairn_tbl__schema_parse(m.schema, &t->s)) != 0) {
        rc = cairn_err__set(CAIRN_CORRUPT, "%s: offset %u: stored schema does not parse: %s", t->man_path, MAN_HDR, cairn_errmsg());
        free(m.schema);
        return rc;
    }
    if (t->s.n != m.ncols) {
        free(m.schema);
        return man_corrupt(t->man_path, 48, "column count does not match the schema");
    }
    if (schema_opt) {
        tschema want;
        char *a = NULL, *bb = NULL;
        if ((rc = cairn_tbl__schema_parse(schema_opt, &want)) != 0) {
            free(m.schema);
            return rc;
        }
        if ((rc = cairn_tbl__schema_text(&want, &a)) == 0 && (rc = cairn_tbl__schema_text(&t->s, &bb)) == 0 && strcmp(a, bb) != 0)
            rc = cairn_err__set(CAIRN_SCHEMA, "%s: the table's schema is \"%s\", not \"%s\"", t->dir, bb, a);
        free(a);
        free(bb);
        cairn_tbl__schema_free(&want);
        if (rc) {
            free(m.schema);
            return rc;
        }
    }
    {
        /* declared indexes: kind, column name */
        size_t off = 0, k;
        free(t->idef);
        t->idef = NULL;
        t->nidef = 0;
        while (off < m.idxlen) {
            const uint8_t *e = m.idx + off;
            tidxdef *nd;
            size_t nl;
            int col = -1;
            if (m.idxlen - off < 2 || (nl = e[1], m.idxlen - off - 2 < nl) || (e[0] != 1 && e[0] != 2)) {
                free(m.schema);
                return man_corrupt(t->man_path, m.idxoff + off, "bad index entry");
            }
            for (k = 0; k < t->s.n; k++)
                if (strlen(t->s.c[k].name) == nl && memcmp(t->s.c[k].name, e + 2, nl) == 0) col = (int)k;
            for (k = 0; col >= 0 && k < t->nidef; k++)
                if (t->idef[k].col == col && t->idef[k].kind == e[0]) col = -1;
            if (col < 0) {
                free(m.schema);
                return man_corrupt(t->man_path, m.idxoff + off, "index of an unknown column, or twice");
            }
            if (!(nd = (tidxdef *)realloc(t->idef, (t->nidef + 1) * sizeof *nd))) {
                free(m.schema);
                return cairn_err__set(CAIRN_NOMEM, "out of memory");
            }
            t->idef = nd;
            t->idef[t->nidef].col = col;
            t->idef[t->nidef++].kind = e[0];
            off += 2 + nl;
        }
    }
    t->man_gen = m.gen;
    t->man_lsn = m.lsn;
    t->next_id = t->man_next_id = m.next_id;
    t->man_salt = m.salt;
    t->man_clean = (int)(m.flags & 1u);
    t->next_file = m.next_file;
    rc = groups_load(t, t->man_path, &m, &t->g, &t->ng);
    free(m.schema);
    if (rc) return rc;
    t->capg = t->ng;
    t->g_rows = t->g_dead = 0;
    for (i = 0; i < t->ng; i++) {
        t->g_rows += t->g[i].nrows;
        t->g_dead += t->g[i].ndel;
    }
    t->live = t->g_rows - t->g_dead;
    if ((rc = cairn_tbl__rs_init(&t->tail, &t->s)) != 0) return rc;
    return cairn_tbl__rs_init(&t->ov, &t->s);
}

/* Without CLEAN the WAL must be there, whole from its header on */
static int wal_required(cairn_table *t, int present, const cairn_wal_info *wi) {
    if (t->man_clean) return 0;
    if (!present || wi->created || wi->end < CAIRN_WAL_HEADER_SIZE)
        return cairn_err__set(CAIRN_CORRUPT, "%s: the write-ahead log is %s, but %s was not closed cleanly: its committed "
                              "changes would be lost", t->wal_path, present ? "cut short" : "missing", t->man_path);
    return 0;
}

static int replay(cairn_table *t, const cairn_wal_info *wi) {
    if (!wi->committed || wi->last_commit <= t->man_lsn) return 0;
    if (t->man_salt && wi->salt != t->man_salt)
        return cairn_err__set(CAIRN_CORRUPT, "%s: the write-ahead log has salt %08x, the manifest names salt %08x (another table's log)",
                              t->wal_path, (unsigned)wi->salt, (unsigned)t->man_salt);
    if (wi->first_seq > t->man_lsn + 1)
        return cairn_err__set(CAIRN_CORRUPT, "%s: the log starts at %llu, the manifest %s ends at %llu: changes are missing",
                              t->wal_path, (unsigned long long)wi->first_seq, t->man_path, (unsigned long long)t->man_lsn);
    return cairn_wal__replay_after(t->wal, t->man_lsn, apply_fn, t);
}

static void reset_state(cairn_table *t) {
    size_t i;
    cairn_tbl__dcache_clear(t);
    cairn_tbl__groups_free(t->g, t->ng, t->s.n);
    t->g = NULL;
    t->ng = 0;
    for (i = 0; i < t->nfiles; i++) cairn_tbl__segfile_unref(t->files[i]);
    free(t->files);
    t->files = NULL;
    t->nfiles = 0;
    cairn_wal__close(t->wal);
    t->wal = NULL;
    cairn_tbl__rs_free(&t->tail);
    cairn_tbl__rs_free(&t->ov);
    cairn_tbl__idmap_free(&t->ovmap);
    cairn_tbl__schema_free(&t->s);
    t->live = 0;
}

static int open_reader(cairn_table *t, const char *schema_opt) {
    int attempt, rc = 0;
    for (attempt = 0; attempt < 50; attempt++) {
        void *b0 = NULL, *b1 = NULL;
        size_t n0 = 0, n1 = 0;
        cairn_wal_info wi;
        uint64_t wsize;
        int st, same;
        reset_state(t);
        if ((rc = cairn_io__read_all(t->man_path, &b0, &n0)) != 0) {
            if (rc == CAIRN_PATH) rc = cairn_err__set(CAIRN_PATH, "%s: no table here (no MANIFEST)", t->dir);
            return rc;
        }
        rc = load_manifest(t, (const uint8_t *)b0, n0, schema_opt);
        memset(&wi, 0, sizeof wi);
        if (!rc) {
            st = cairn_io__stat(t->wal_path, &wsize);
            if (st < 0) rc = st;
            else if (st == 1) rc = cairn_wal__open(&t->wal, t->wal_path, CAIRN_WAL_RDONLY, &wi);
            if (!rc) rc = wal_required(t, st == 1, &wi);
        }
        if (!rc && t->wal) rc = replay(t, &wi);
        /* the manifest again: a writer that checkpointed meanwhile means another attempt */
        if (cairn_io__read_all(t->man_path, &b1, &n1) != 0) {
            free(b0);
            if (rc == CAIRN_SCHEMA || rc == CAIRN_VERSION) return rc;
            continue;
        }
        same = n0 == n1 && memcmp(b0, b1, n0) == 0;
        free(b0);
        free(b1);
        if (same) {
            if (!rc && t->wal) {
                /* the log did not move either */
                cairn_wal_info w2;
                cairn_wal *w = NULL;
                if (cairn_io__stat(t->wal_path, &wsize) == 1 && cairn_wal__open(&w, t->wal_path, CAIRN_WAL_RDONLY, &w2) == 0) {
                    int moved = w2.image_size != wi.image_size || w2.image_crc != wi.image_crc;
                    cairn_wal__close(w);
                    if (moved) continue;
                }
            }
            if (rc) return rc;
            cairn_wal__close(t->wal); /* a reader writes nothing */
            t->wal = NULL;
            return 0;
        }
        if (rc == CAIRN_SCHEMA) return rc;
    }
    if (!rc) rc = cairn_err__set(CAIRN_BUSY, "%s: the table kept changing under a read-only open", t->dir);
    return rc;
}

int cairn_tbl__load(cairn_table *t, const char *schema_opt, int create) {
    uint64_t sz;
    int st, rc;
    char *lp;
    cairn_wal_info wi;
    void *mb = NULL;
    size_t mn = 0;
    st = cairn_io__stat(t->dir, &sz);
    if (st < 0) return st;
    if (st == 1) return cairn_err__set(CAIRN_PATH, "%s: not a directory", t->dir);
    if (schema_opt) {
        tschema probe;
        if ((rc = cairn_tbl__schema_parse(schema_opt, &probe)) != 0) return rc;
        cairn_tbl__schema_free(&probe);
    }
    if (t->ro) {
        if (st == 0) return cairn_err__set(CAIRN_PATH, "%s: no such table", t->dir);
        return open_reader(t, schema_opt);
    }
    if (st == 0 || cairn_io__stat(t->man_path, &sz) == 0) {
        /* no table yet: refuse what cannot create it before anything is made on disk */
        if (!create) return cairn_err__set(CAIRN_PATH, "%s: no such table (create is off)", t->dir);
        if (!schema_opt) return cairn_err__set(CAIRN_INVALID, "%s: creating a table needs a schema", t->dir);
    }
    if (st == 0 && (rc = cairn_io__mkdir(t->dir)) != 0) return rc;
    if (!(lp = cairn_path__join(t->dir, "LOCK"))) return CAIRN_NOMEM;
    rc = cairn_lock__acquire(&t->lock, lp, t->lock_timeout);
    free(lp);
    if (rc) return rc;
    st = cairn_io__stat(t->man_path, &sz);
    if (st < 0) return st;
    if (st == 0) {
        if (!create) return cairn_err__set(CAIRN_PATH, "%s: no table here (no MANIFEST) and create is off", t->dir);
        if ((rc = create_table(t, schema_opt)) != 0) return rc;
    }
    if ((rc = cairn_io__read_all(t->man_path, &mb, &mn)) != 0) return rc;
    rc = load_manifest(t, (const uint8_t *)mb, mn, schema_opt);
    free(mb);
    if (rc) return rc;
    if ((rc = remove_leftovers(t)) != 0) return rc;
    if ((st = cairn_io__stat(t->wal_path, &sz)) < 0) return st;
    if (st == 1 && sz < CAIRN_WAL_HEADER_SIZE && !t->man_clean) {
        memset(&wi, 0, sizeof wi);
        wi.created = 1; /* the open would re-initialise it */
        return wal_required(t, 1, &wi);
    }
    if (st == 0 && (rc = wal_required(t, 0, NULL)) != 0) return rc;
    if ((rc = cairn_wal__open(&t->wal, t->wal_path, CAIRN_WAL_CREATE, &wi)) != 0) return rc;
    if (st == 1 && (rc = wal_required(t, 1, &wi)) != 0) return rc;
    if ((rc = replay(t, &wi)) != 0) return rc;
    cairn_wal__advance(t->wal, wi.last_seq > t->man_lsn ? wi.last_seq : t->man_lsn);
    if (cairn_wal__salt(t->wal) != t->man_salt) {
        /* a new log: name it in the manifest before anything is logged in it */
        if ((rc = cairn_tbl__checkpoint(t, 1)) != 0) return rc;
    }
    return 0;
}

int cairn_tbl__mark_dirty(cairn_table *t) {
    if (!t->man_clean) return 0;
    return cairn_tbl__checkpoint(t, 1);
}

uint64_t cairn_tbl__disk_bytes(cairn_table *t) {
    uint64_t total = 0, sz = 0;
    size_t i;
    if (cairn_io__stat(t->man_path, &sz) == 1) total += sz;
    if (cairn_io__stat(t->wal_path, &sz) == 1) total += sz;
    for (i = 0; i < t->nfiles; i++) {
        if (t->files[i]->f && cairn_io__size(t->files[i]->f, &sz) == 0) total += sz;
    }
    return total;
}

/* ---- check ---- */

/* Every row group of an open table against its segments: each segment read whole (CRC, bounds,
 * counts, of the column's type), ids increasing inside the group's range, NOT NULL, UTF-8; and
 * the manifest's derived copies of each segment's header (encoding, zone map). A damaged segment
 * or row is CAIRN_CORRUPT naming the file and offset. A derived copy that differs is CORRUPT too
 * when `fixed` is NULL (check), else it is rewritten in memory and counted in *fixed (repair). */
static int verify_groups(cairn_table *t, const char *path, size_t *fixed) {
    size_t gi, c;
    int rc = 0;
    for (gi = 0; !rc && gi < t->ng; gi++) {
        rgroup *g = &t->g[gi];
        for (c = 0; !rc && c <= t->s.n; c++) {
            segref *r = c ? &g->cols[c - 1] : &g->ids;
            const tcol *col = c ? &t->s.c[c - 1] : NULL;
            int type = col ? col->type : CAIRN_TYPE_U64;
            const char *fp = cairn_io__path(r->file->f);
            unsigned long long off = (unsigned long long)r->off;
            uint8_t *buf = NULL, zb[72];
            cairn_colvec v;
            cairn_zone z;
            int enc = 0;
            size_t n = 0;
            uint32_t p;
            memset(&v, 0, sizeof v);
            if ((rc = read_seg(r->file, r, &buf)) != 0) break;
            rc = cairn_seg__decode(buf, r->len, type, col ? col->fixed_len : 0, &v);
            if (!rc) rc = cairn_seg__info(buf, r->len, &enc, &n, &z);
            free(buf);
            if (rc == CAIRN_CORRUPT) {
                char msg[CAIRN_ERR_MSG_MAX];
                snprintf(msg, sizeof msg, "%s", cairn_errmsg());
                rc = cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: %s", fp, off, msg);
            }
            if (rc) break;
            if (v.n != g->nrows || (!col && v.validity))
                rc = cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: segment of %zu values for %u rows", fp, off, v.n, g->nrows);
            for (p = 0; !rc && !col && p < v.n; p++) {
                uint64_t id = ((const uint64_t *)v.data)[p];
                if (id < g->first_id || id > g->last_id || (p && id <= ((const uint64_t *)v.data)[p - 1]) ||
                    (p == 0 && id != g->first_id) || (p == v.n - 1 && id != g->last_id))
                    rc = cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: ids out of order or outside the row group's range", fp, off);
            }
            if (!rc && col && !col->nullable && v.validity) {
                for (p = 0; p < v.n; p++)
                    if (!grp_deleted(g, p) && !((v.validity[p >> 3] >> (p & 7)) & 1)) {
                        rc = cairn_err__set(CAIRN_CORRUPT, "%s: column %s is NOT NULL, but a row of the group at ids %llu..%llu is null",
                                            path, col->name, (unsigned long long)g->first_id, (unsigned long long)g->last_id);
                        break;
                    }
            }
            if (!rc && col && col->type == CAIRN_TYPE_STRING) {
                for (p = 0; p < v.n; p++) {
                    cairn_value x;
                    cairn_tbl__colvec_get(&v, col, p, &x);
                    if (!x.is_null && !cairn_tbl__utf8_valid((const uint8_t *)x.v.s.bytes, x.v.s.len)) {
                        rc = cairn_err__set(CAIRN_CORRUPT, "%s: offset %llu: column %s holds invalid UTF-8", fp, off, col->name);
                        break;
                    }
                }
            }
            cairn_seg__free_vec(&v);
            if (rc) break;
            /* the manifest's copies of the segment's header: derived */
            zone_put(zb, &z);
            if (r->enc != (uint8_t)enc || memcmp(r->zone, zb, sizeof zb) != 0) {
                if (!fixed)
                    rc = cairn_err__set(CAIRN_CORRUPT,
                                        "%s: row group at ids %llu..%llu: the manifest's encoding or zone map of the segment at "
                                        "%s offset %llu differs from the segment's header (derived: `repair` rebuilds it)",
                                        path, (unsigned long long)g->first_id, (unsigned long long)g->last_id, fp, off);
                else {
                    r->enc = (uint8_t)enc;
                    memcpy(r->zone, zb, sizeof zb);
                    ++*fixed;
                }
            }
        }
    }
    return rc;
}

int cairn_tbl__check(const char *path) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    cairn_wal_info wi;
    int rc;
    char *wp;
    o.read_only = 1;
    o.create = 0;
    if ((rc = cairn_table_open(&t, path, &o)) != 0) return rc;
    /* the WAL as a whole (a reader's open validates it too) */
    if ((wp = cairn_path__join(path, "wal")) == NULL) {
        cairn_table_close(t);
        return CAIRN_NOMEM;
    }
    rc = cairn_wal__check(wp, &wi);
    free(wp);
    if (!rc) rc = verify_groups(t, path, NULL);
    /* PRIMARY KEY / UNIQUE over the live rows */
    if (!rc) rc = cairn_tbl__build_indexes(t);
    {
        cairn_err_saved sv;
        cairn_err__save(&sv);
        cairn_table_close(t);
        cairn_err__restore(&sv);
    }
    return rc;
}

/* Repair: open as the writer (the lock; committed WAL transactions replayed), verify every
 * segment and constraint as check does, refusing damaged primary data (CAIRN_CORRUPT with the
 * file and offset: nothing is written), then rebuild what is derived from it: the manifest's
 * copies of each segment's encoding and zone map. The WAL's transactions are checkpointed into
 * segments, and a new manifest is written atomically when anything was rebuilt. Leftover files
 * (unnamed segment files, MANIFEST.tmp) are removed by the writer's open; the indexes live in
 * memory only and are rebuilt on use. */
int cairn_tbl__repair(const char *path, uint64_t *fixed_out) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t = NULL;
    cairn_wal_info wi;
    size_t fixed = 0;
    int rc;
    char *wp;
    if (fixed_out) *fixed_out = 0;
    o.create = 0;
    if ((wp = cairn_path__join(path, "wal")) == NULL) return CAIRN_NOMEM;
    if ((rc = cairn_table_open(&t, path, &o)) == 0) rc = cairn_wal__check(wp, &wi);
    free(wp);
    if (!rc) rc = verify_groups(t, path, &fixed);
    if (!rc) rc = cairn_tbl__build_indexes(t);
    if (!rc && fixed) {
        t->dirty = 1;
        rc = cairn_tbl__checkpoint(t, 1);
    }
    if (t) {
        cairn_err_saved sv;
        cairn_err__save(&sv);
        if (rc) t->failed = t->failed ? t->failed : CAIRN_CORRUPT; /* close writes nothing after a refusal */
        cairn_table_close(t);
        cairn_err__restore(&sv);
    }
    if (!rc && fixed_out) *fixed_out = fixed;
    return rc;
}
