/*
 * table.c - the table engine's handle: rows (typed and JSON), constraints, transactions, the
 * write-ahead log, events and iteration. The on-disk format (manifest, segments, checkpoint,
 * recovery) is specified by the FORMAT comment of table_store.c.
 *
 * Every change is made in memory with an undo record, its WAL record is buffered, and the
 * operation (outside a transaction) or the transaction (at commit) is written to the WAL as one
 * WAL transaction; a failure before the commit record undoes everything since the mark, so a
 * failed write changes nothing. Events are queued with the change and delivered after the
 * commit, with no lock held.
 */
#include "table_internal.h"
#include "metrics.h"

#include <stdio.h>

/* ---- helpers ---- */

int cairn_tbl__fail(cairn_table *t, int rc) {
    t->failed = rc ? rc : CAIRN_IO;
    return rc;
}

static int check_handle(cairn_table *t, const char *fn) {
    if (!t) return cairn_err__set(CAIRN_INVALID, "%s: NULL handle", fn);
    if (cairn_fork__foreign(t->gen)) return cairn_fork__err(fn);
    return 0;
}

static int check_write(cairn_table *t) {
    if (t->failed) return cairn_err__set(CAIRN_FAILED, "%s: handle failed after a fatal I/O error", t->dir);
    if (t->ro) return cairn_err__set(CAIRN_READONLY, "%s: opened read-only", t->dir);
    /* the first change after opening a cleanly closed table: the manifest stops saying CLEAN */
    if (t->man_clean && !t->in_txn) return cairn_tbl__mark_dirty(t);
    return 0;
}

#define LOCK(t) pthread_mutex_lock(&(t)->mu)
#define UNLOCK(t) pthread_mutex_unlock(&(t)->mu)

/* where a live row is */
typedef struct rloc {
    int where;     /* 0 tail, 1 overlay, 2 row group */
    size_t pos;    /* tail/overlay position, or group index */
    uint32_t gpos; /* position in the group */
} rloc;

/* 0 found, NOTFOUND, or an error reading a group */
static int find_row(cairn_table *t, uint64_t id, rloc *l) {
    uint64_t p;
    long k;
    size_t gi;
    uint32_t pos;
    int rc;
    if (id == 0 || id >= t->next_id) return CAIRN_NOTFOUND;
    if (t->ovmap.n && cairn_tbl__idmap_get(&t->ovmap, id, &p)) {
        l->where = 1;
        l->pos = (size_t)p;
        return 0;
    }
    if (t->tail.n && id >= t->tail.ids[0]) {
        k = cairn_tbl__rs_find_sorted(&t->tail, id);
        if (k < 0 || t->tail.dead[k]) return CAIRN_NOTFOUND;
        l->where = 0;
        l->pos = (size_t)k;
        return 0;
    }
    if ((rc = cairn_tbl__group_find(t, id, &gi, &pos)) != 0) return rc;
    if (grp_deleted(&t->g[gi], pos)) return CAIRN_NOTFOUND;
    l->where = 2;
    l->pos = gi;
    l->gpos = pos;
    return 0;
}

/* the row at l into row[] (bytes borrowed from the store, or copied into *bytes for a group) */
static int read_row(cairn_table *t, const rloc *l, cairn_value *row, tbuf *bytes) {
    size_t i;
    if (l->where == 2) return cairn_tbl__group_row(t, l->pos, l->gpos, row, bytes);
    for (i = 0; i < t->s.n; i++) cairn_tbl__rs_get(l->where ? &t->ov : &t->tail, &t->s, l->pos, i, &row[i]);
    return 0;
}

static int push_undo(cairn_table *t, const tundo *u) {
    if (t->nun == t->capun) {
        size_t nc = t->capun ? t->capun * 2 : 64;
        tundo *p = (tundo *)realloc(t->un, nc * sizeof *p);
        if (!p) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        t->un = p;
        t->capun = nc;
    }
    t->un[t->nun++] = *u;
    return 0;
}

static int push_rec(cairn_table *t, unsigned type, uint64_t id, const cairn_value *row) {
    uint8_t h[13];
    size_t at = t->wbuf.n;
    h[0] = (uint8_t)type;
    cairn_put64(h + 5, id);
    if (tbuf_put(&t->wbuf, h, 13)) return CAIRN_NOMEM;
    if (row && cairn_tbl__row_encode(&t->s, row, &t->wbuf)) return CAIRN_NOMEM;
    cairn_put32(t->wbuf.p + at + 1, (uint32_t)(t->wbuf.n - at - 5));
    return 0;
}

static int push_event(cairn_table *t, int ev, uint64_t id, const cairn_value *nrow, const cairn_value *orow) {
    tevent e;
    tbuf b = {0, 0, 0};
    if (!t->nsubs) return 0;
    memset(&e, 0, sizeof e);
    e.ev = ev;
    e.id = id;
    if (nrow) {
        if (cairn_tbl__row_json(&t->s, nrow, &b) || !(e.new_row = cairn_tbl__buf_take(&b))) goto nomem;
    }
    if (orow) {
        if (cairn_tbl__row_json(&t->s, orow, &b) || !(e.old_row = cairn_tbl__buf_take(&b))) goto nomem;
    }
    if (t->nev == t->capev) {
        size_t nc = t->capev ? t->capev * 2 : 16;
        tevent *p = (tevent *)realloc(t->ev, nc * sizeof *p);
        if (!p) goto nomem;
        t->ev = p;
        t->capev = nc;
    }
    t->ev[t->nev++] = e;
    return 0;
nomem:
    free(b.p);
    free(e.new_row);
    free(e.old_row);
    return cairn_err__set(CAIRN_NOMEM, "out of memory");
}

static void drop_events(cairn_table *t, size_t mark) {
    size_t i;
    for (i = mark; i < t->nev; i++) {
        free(t->ev[i].new_row);
        free(t->ev[i].old_row);
    }
    t->nev = mark;
}

typedef struct fired {
    tevent *ev;
    size_t nev;
    tsub *subs;
    size_t nsubs;
} fired;

static void take_events(cairn_table *t, size_t mark, fired *fo) {
    size_t n = t->nev - mark;
    memset(fo, 0, sizeof *fo);
    if (n && t->nsubs) {
        fo->ev = (tevent *)malloc(n * sizeof(tevent));
        fo->subs = (tsub *)malloc(t->nsubs * sizeof(tsub));
        if (fo->ev && fo->subs) {
            memcpy(fo->ev, t->ev + mark, n * sizeof(tevent));
            memcpy(fo->subs, t->subs, t->nsubs * sizeof(tsub));
            fo->nev = n;
            fo->nsubs = t->nsubs;
            t->nev = mark;
            return;
        }
        free(fo->ev);
        free(fo->subs);
        memset(fo, 0, sizeof *fo);
    }
    drop_events(t, mark);
}

static void fire(fired *fo) {
    size_t i, j;
    for (i = 0; i < fo->nev; i++) {
        for (j = 0; j < fo->nsubs; j++)
            fo->subs[j].fn(fo->subs[j].ctx, fo->ev[i].ev, fo->ev[i].id, fo->ev[i].new_row, fo->ev[i].old_row);
        free(fo->ev[i].new_row);
        free(fo->ev[i].old_row);
    }
    free(fo->ev);
    free(fo->subs);
    memset(fo, 0, sizeof *fo);
}

/* ---- indexes (index.c) ---- */

static void idx_del_row(cairn_table *t, const cairn_value *row, uint64_t id) { cairn_tbl__ix_del_row(t, row, id); }

static int idx_add_row(cairn_table *t, const cairn_value *row, uint64_t id) { return cairn_tbl__ix_add_row(t, row, id); }

static void free_indexes(cairn_table *t) { cairn_tbl__ix_free(t); }

int cairn_tbl__get_row(cairn_table *t, uint64_t id, cairn_value *row, tbuf *bytes) {
    rloc l;
    int rc;
    if ((rc = find_row(t, id, &l)) != 0) return rc;
    return read_row(t, &l, row, bytes);
}

static int need_indexes(cairn_table *t) {
    if (t->ui_built) return 0;
    return cairn_tbl__build_indexes(t);
}

static int violation(const tcol *c, const cairn_value *v, uint64_t other) {
    char vb[96];
    cairn_tbl__value_str(c, v, vb, sizeof vb);
    return cairn_err__set(CAIRN_CONSTRAINT, "column %s: %s %s is already in row %llu", c->name,
                          c->pk ? "PRIMARY KEY" : "UNIQUE", vb, (unsigned long long)other);
}

/* ---- row preparation ---- */

/* Final values of a new row: defaults for the columns not given (given == NULL: all given),
 * NOT NULL. Values are already checked against their types. */
static int finish_row(cairn_table *t, cairn_value *row, const uint8_t *given) {
    size_t i;
    for (i = 0; i < t->s.n; i++) {
        const tcol *c = &t->s.c[i];
        if (given && !given[i]) {
            if (c->has_def) row[i] = c->def;
            else {
                memset(&row[i], 0, sizeof row[i]);
                row[i].is_null = 1;
            }
        } else if (row[i].is_null && !c->nullable && c->has_def) {
            row[i] = c->def;
        }
        if (row[i].is_null && !c->nullable)
            return cairn_err__set(CAIRN_CONSTRAINT, "column %s: NOT NULL constraint violated (no value given)", c->name);
    }
    return 0;
}

/* ---- the write operations (lock held, marks taken by the caller) ---- */

static int do_insert(cairn_table *t, const cairn_value *row, uint64_t *idout) {
    size_t k;
    uint64_t id;
    tundo u;
    int rc;
    if ((rc = need_indexes(t)) != 0) return rc;
    for (k = 0; k < t->nui; k++) {
        const tcol *c = &t->s.c[t->ui[k].col];
        uint64_t other;
        if (!t->ui[k].uniq) continue;
        other = cairn_tbl__ui_find(&t->ui[k], c, &row[t->ui[k].col]);
        if (other) return violation(c, &row[t->ui[k].col], other);
    }
    if (t->next_id == UINT64_MAX) return cairn_err__set(CAIRN_RANGE, "%s: row ids exhausted", t->dir);
    id = t->next_id;
    if ((rc = cairn_tbl__rs_append(&t->tail, &t->s, id, row)) != 0) return rc;
    t->next_id++;
    memset(&u, 0, sizeof u);
    u.kind = 1;
    u.id = id;
    if ((rc = push_undo(t, &u)) != 0) {
        cairn_tbl__rs_truncate(&t->tail, t->tail.n - 1);
        return rc;
    }
    t->live++;
    if ((rc = idx_add_row(t, row, id)) != 0) return rc; /* undone by the caller's rollback */
    if ((rc = push_rec(t, TREC_INSERT, id, row)) != 0) return rc;
    if ((rc = push_event(t, CAIRN_TABLE_INSERTED, id, row, NULL)) != 0) return rc;
    if (idout) *idout = id;
    t->pend_ins++;
    return 0;
}

/* save the current row image in the undo heap */
static int save_image(cairn_table *t, const cairn_value *row, tundo *u) {
    u->img_off = t->uheap.n;
    if (cairn_tbl__row_encode(&t->s, row, &t->uheap)) return CAIRN_NOMEM;
    u->img_len = t->uheap.n - u->img_off;
    return 0;
}

/* update: cols/vals (checked) replace those columns of row id */
static int do_update(cairn_table *t, uint64_t id, const size_t *cols, const cairn_value *vals, size_t n) {
    rloc l;
    cairn_value *oldr = NULL, *newr = NULL;
    tbuf bytes = {0, 0, 0};
    tundo u;
    size_t i, k;
    int rc;
    if ((rc = find_row(t, id, &l)) != 0) return rc;
    if ((rc = need_indexes(t)) != 0) return rc;
    oldr = (cairn_value *)malloc(2 * t->s.n * sizeof(cairn_value));
    if (!oldr) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    newr = oldr + t->s.n;
    if ((rc = read_row(t, &l, oldr, &bytes)) != 0) goto out;
    memset(&u, 0, sizeof u);
    u.kind = 2;
    u.id = id;
    u.where = l.where;
    u.pos = l.pos;
    u.gpos = l.gpos;
    if ((rc = save_image(t, oldr, &u)) != 0) goto out;
    /* old values from the stable image from here on */
    if ((rc = cairn_tbl__row_decode(&t->s, t->uheap.p + u.img_off, u.img_len, oldr)) != 0) goto out;
    memcpy(newr, oldr, t->s.n * sizeof(cairn_value));
    for (i = 0; i < n; i++) {
        const tcol *c = &t->s.c[cols[i]];
        newr[cols[i]] = vals[i];
        if (vals[i].is_null && !c->nullable) {
            if (c->has_def) newr[cols[i]] = c->def;
            else {
                rc = cairn_err__set(CAIRN_CONSTRAINT, "column %s: NOT NULL constraint violated", c->name);
                goto out;
            }
        }
    }
    for (k = 0; k < t->nui; k++) {
        const tcol *c = &t->s.c[t->ui[k].col];
        uint64_t other;
        if (!t->ui[k].uniq) continue;
        other = cairn_tbl__ui_find(&t->ui[k], c, &newr[t->ui[k].col]);
        if (other && other != id) {
            rc = violation(c, &newr[t->ui[k].col], other);
            goto out;
        }
    }
    /* apply */
    if (l.where == 2) {
        if ((rc = cairn_tbl__rs_append(&t->ov, &t->s, id, newr)) != 0) goto out;
        if ((rc = cairn_tbl__idmap_put(&t->ovmap, id, t->ov.n - 1)) != 0) {
            cairn_tbl__rs_truncate(&t->ov, t->ov.n - 1);
            goto out;
        }
        u.ov_new = 1;
        u.where = 1;
        u.pos = t->ov.n - 1;
        u.gpos = (uint32_t)l.pos; /* the group, for the undo */
    } else {
        rstore *r = l.where ? &t->ov : &t->tail;
        for (i = 0; i < t->s.n; i++)
            if ((rc = cairn_tbl__rs_set(r, &t->s, l.pos, i, &newr[i])) != 0) goto restore;
    }
    if ((rc = push_undo(t, &u)) != 0) goto restore;
    if ((rc = cairn_tbl__ix_update_row(t, oldr, newr, id)) != 0) goto out; /* undone with the rest */
    if ((rc = push_rec(t, TREC_UPDATE, id, newr)) != 0) goto out;
    rc = push_event(t, CAIRN_TABLE_UPDATED, id, newr, oldr);
    if (!rc) t->pend_upd++;
    goto out;
restore:
    if (u.ov_new) {
        cairn_tbl__idmap_del(&t->ovmap, id);
        cairn_tbl__rs_truncate(&t->ov, t->ov.n - 1);
    } else {
        rstore *r = l.where ? &t->ov : &t->tail;
        for (i = 0; i < t->s.n; i++) (void)cairn_tbl__rs_set(r, &t->s, l.pos, i, &oldr[i]);
    }
out:
    free(bytes.p);
    free(oldr);
    return rc;
}

static void group_mark(cairn_table *t, size_t gi, uint32_t pos, int del) {
    rgroup *g = &t->g[gi];
    if (del) {
        g->del[pos >> 3] |= (uint8_t)(1u << (pos & 7));
        g->ndel++;
        t->g_dead++;
    } else {
        g->del[pos >> 3] &= (uint8_t)~(1u << (pos & 7));
        g->ndel--;
        t->g_dead--;
    }
    t->dirty = 1;
}

static int group_del_bitmap(cairn_table *t, size_t gi) {
    rgroup *g = &t->g[gi];
    if (g->del) return 0;
    if (!(g->del = (uint8_t *)calloc((g->nrows + 7) / 8, 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    return 0;
}

static int do_delete(cairn_table *t, uint64_t id) {
    rloc l;
    cairn_value *oldr;
    tbuf bytes = {0, 0, 0};
    tundo u;
    int rc;
    if ((rc = find_row(t, id, &l)) != 0) return rc;
    if (!(oldr = (cairn_value *)malloc(t->s.n * sizeof(cairn_value)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if ((rc = read_row(t, &l, oldr, &bytes)) != 0) goto out;
    memset(&u, 0, sizeof u);
    u.kind = 3;
    u.id = id;
    u.where = l.where;
    u.pos = l.pos;
    u.gpos = l.gpos;
    if ((rc = save_image(t, oldr, &u)) != 0) goto out;
    if ((rc = cairn_tbl__row_decode(&t->s, t->uheap.p + u.img_off, u.img_len, oldr)) != 0) goto out;
    if (l.where == 1) {
        /* an overlaid checkpointed row: its group holds it */
        size_t gi;
        uint32_t gp;
        if ((rc = cairn_tbl__group_find(t, id, &gi, &gp)) != 0) goto out;
        if ((rc = group_del_bitmap(t, gi)) != 0) goto out;
        u.gpos = gp;
        u.ov_new = (int)gi + 1; /* reused: the group index + 1 */
    } else if (l.where == 2) {
        if ((rc = group_del_bitmap(t, l.pos)) != 0) goto out;
    }
    if ((rc = push_undo(t, &u)) != 0) goto out;
    if (l.where == 0) {
        t->tail.dead[l.pos] = 1;
        t->tail.ndead++;
    } else if (l.where == 1) {
        t->ov.dead[l.pos] = 1;
        t->ov.ndead++;
        cairn_tbl__idmap_del(&t->ovmap, id);
        group_mark(t, (size_t)u.ov_new - 1, u.gpos, 1);
    } else {
        group_mark(t, l.pos, l.gpos, 1);
    }
    t->live--;
    idx_del_row(t, oldr, id);
    if ((rc = push_rec(t, TREC_DELETE, id, NULL)) != 0) goto out;
    rc = push_event(t, CAIRN_TABLE_DELETED, id, NULL, oldr);
    if (!rc) t->pend_del++;
out:
    free(bytes.p);
    free(oldr);
    return rc;
}

/* Undo every change back to undo mark `um` (in reverse). */
static void undo_to(cairn_table *t, size_t um) {
    cairn_value *row = (cairn_value *)malloc((t->s.n ? t->s.n : 1) * 2 * sizeof(cairn_value));
    cairn_value *cur = row ? row + t->s.n : NULL;
    while (t->nun > um) {
        tundo *u = &t->un[--t->nun];
        size_t i;
        if (u->kind == 1) { /* insert: the tail's last row */
            size_t p = t->tail.n - 1;
            if (row) {
                for (i = 0; i < t->s.n; i++) cairn_tbl__rs_get(&t->tail, &t->s, p, i, &row[i]);
                idx_del_row(t, row, u->id);
            }
            if (t->tail.dead[p]) t->tail.ndead--;
            else t->live--;
            t->tail.n = p;
        } else if (u->kind == 4) { /* bulk insert: tail rows from u->pos */
            size_t p;
            for (p = u->pos; p < t->tail.n; p++) {
                if (row && t->ui_built) {
                    for (i = 0; i < t->s.n; i++) cairn_tbl__rs_get(&t->tail, &t->s, p, i, &row[i]);
                    idx_del_row(t, row, t->tail.ids[p]);
                }
                if (!t->tail.dead[p]) t->live--;
            }
            cairn_tbl__rs_truncate(&t->tail, u->pos);
        } else if (u->kind == 2) { /* update */
            rstore *r = u->where ? &t->ov : &t->tail;
            if (!row || cairn_tbl__row_decode(&t->s, t->uheap.p + u->img_off, u->img_len, row)) continue;
            for (i = 0; i < t->s.n; i++) cairn_tbl__rs_get(r, &t->s, u->pos, i, &cur[i]);
            (void)cairn_tbl__ix_update_row(t, cur, row, u->id);
            if (u->ov_new) {
                cairn_tbl__idmap_del(&t->ovmap, u->id);
                cairn_tbl__rs_truncate(&t->ov, u->pos);
            } else {
                for (i = 0; i < t->s.n; i++) (void)cairn_tbl__rs_set(r, &t->s, u->pos, i, &row[i]);
            }
        } else if (u->kind == 3) { /* delete */
            if (!row || cairn_tbl__row_decode(&t->s, t->uheap.p + u->img_off, u->img_len, row)) continue;
            if (u->where == 0) {
                t->tail.dead[u->pos] = 0;
                t->tail.ndead--;
            } else if (u->where == 1) {
                t->ov.dead[u->pos] = 0;
                t->ov.ndead--;
                (void)cairn_tbl__idmap_put(&t->ovmap, u->id, u->pos);
                group_mark(t, (size_t)u->ov_new - 1, u->gpos, 0);
            } else {
                group_mark(t, u->pos, u->gpos, 0);
            }
            t->live++;
            (void)idx_add_row(t, row, u->id);
        }
    }
    free(row);
    if (!um) t->uheap.n = 0;
}

/* ---- operations and commits ---- */

typedef struct marks {
    size_t un, wb, ev, uh;
    uint64_t next_id;
    uint64_t ins, upd, del; /* pending counts */
} marks;

static void take_marks(cairn_table *t, marks *m) {
    m->ins = t->pend_ins;
    m->upd = t->pend_upd;
    m->del = t->pend_del;
    m->un = t->nun;
    m->wb = t->wbuf.n;
    m->ev = t->nev;
    m->uh = t->uheap.n;
    m->next_id = t->next_id;
}

/* a failed operation: undo it alone (in a transaction too) */
static void abort_op(cairn_table *t, const marks *m, int rc) {
    char msg[CAIRN_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", cairn_errmsg());
    undo_to(t, m->un);
    t->uheap.n = m->uh;
    t->wbuf.n = m->wb;
    drop_events(t, m->ev);
    t->next_id = m->next_id;
    t->pend_ins = m->ins;
    t->pend_upd = m->upd;
    t->pend_del = m->del;
    if (rc != CAIRN_NOTFOUND) cairn_err__set(rc, "%s", msg);
    else cairn_errclear();
}

/* Write the buffered records [from, wbuf.n) as one WAL transaction and make it durable per the
 * sync mode. On a failure before the commit record nothing counts: the caller undoes. */
static int wal_commit(cairn_table *t, uint64_t *seq_out) {
    uint64_t txid, seq = 0;
    size_t p = 0;
    int rc;
    *seq_out = 0;
    if (!t->wbuf.n && !t->nextid_dirty) return 0;
    txid = cairn_wal__begin(t->wal);
    if (t->nextid_dirty) {
        uint8_t b[8];
        cairn_put64(b, t->next_id);
        if ((rc = cairn_wal__append(t->wal, txid, TREC_NEXTID, b, 8)) != 0) return rc;
    }
    while (p < t->wbuf.n) {
        unsigned type = t->wbuf.p[p];
        uint32_t len = cairn_get32(t->wbuf.p + p + 1);
        if (type == TREC_INSERT && p + 5 + len < t->wbuf.n && t->wbuf.p[p + 5 + len] == TREC_INSERT) {
            /* a run of inserts: one INSERTS record (fewer WAL records, fewer CRCs) */
            tbuf *b = &t->scratch;
            b->n = 0;
            while (p < t->wbuf.n && t->wbuf.p[p] == TREC_INSERT && b->n < TBL_BATCH_BYTES) {
                uint8_t l4[4];
                len = cairn_get32(t->wbuf.p + p + 1);
                cairn_put32(l4, len - 8);
                if (tbuf_put(b, t->wbuf.p + p + 5, 8) || tbuf_put(b, l4, 4) || tbuf_put(b, t->wbuf.p + p + 13, len - 8))
                    return CAIRN_NOMEM;
                p += 5 + (size_t)len;
            }
            if ((rc = cairn_wal__append(t->wal, txid, TREC_INSERTS, b->p, b->n)) != 0) return rc;
            cairn_tbl__count(&t->n_written, b->n);
            if (b->cap > 4 * (size_t)TBL_BATCH_BYTES) {
                free(b->p);
                memset(b, 0, sizeof *b);
            }
            continue;
        }
        if ((rc = cairn_wal__append(t->wal, txid, type, t->wbuf.p + p + 5, len)) != 0) return rc;
        cairn_tbl__count(&t->n_written, len);
        p += 5 + (size_t)len;
    }
    if ((rc = cairn_wal__commit(t->wal, txid, &seq)) != 0) return rc;
    t->nextid_dirty = 0;
    *seq_out = seq;
    return 0;
}

/* A commit: the pending row counts become the handle's counters. */
void cairn_tbl__count_commit(cairn_table *t) {
    cairn_tbl__count(&t->n_inserts, t->pend_ins);
    cairn_tbl__count(&t->n_updates, t->pend_upd);
    cairn_tbl__count(&t->n_deletes, t->pend_del);
    cairn_tbl__count(&t->n_commits, 1);
    t->pend_ins = t->pend_upd = t->pend_del = 0;
}

/* After an operation (outside a transaction) or at commit: log, sync, reset the marks. Returns
 * with the lock held; events to fire in *fo. */
static int commit_all(cairn_table *t, const marks *m, fired *fo, int txn) {
    uint64_t seq;
    int rc;
    memset(fo, 0, sizeof *fo);
    if ((rc = wal_commit(t, &seq)) != 0) {
        char msg[CAIRN_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        undo_to(t, m->un);
        t->uheap.n = m->uh;
        t->wbuf.n = m->wb;
        drop_events(t, m->ev);
        if (m->next_id != t->next_id) {
            if (txn) t->nextid_dirty = 1; /* handed out inside the transaction: never again */
            else t->next_id = m->next_id;
        }
        if (cairn_wal__failed(t->wal)) cairn_tbl__fail(t, rc);
        t->pend_ins = t->pend_upd = t->pend_del = 0;
        return cairn_err__set(rc, "%s", msg);
    }
    cairn_tbl__count_commit(t);
    t->nun = m->un;
    t->uheap.n = m->uh;
    t->wbuf.n = m->wb;
    take_events(t, m->ev, fo);
    if (seq && t->sync != CAIRN_SYNC_NONE) {
        if (t->sync == CAIRN_SYNC_GROUP) {
            UNLOCK(t);
            rc = cairn_wal__sync(t->wal, seq);
            LOCK(t);
        } else {
            rc = cairn_wal__sync(t->wal, seq);
        }
        if (rc) {
            fire(fo); /* the change is committed in memory; the handle is failed */
            return cairn_tbl__fail(t, rc);
        }
    }
    if (!t->in_txn && t->tail.n + t->ov.n >= t->ckpt_rows) {
        if ((rc = cairn_tbl__checkpoint(t, 0)) != 0 && t->failed) return rc;
        cairn_errclear();
    }
    return 0;
}

/* after an operation: commit it unless a transaction is open */
static int end_op(cairn_table *t, const marks *m, int rc, fired *fo) {
    memset(fo, 0, sizeof *fo);
    if (rc) {
        abort_op(t, m, rc);
        return rc;
    }
    if (t->in_txn) return 0;
    return commit_all(t, m, fo, 0);
}

/* ---- open / close ---- */

static void table_free(cairn_table *t) {
    size_t i;
    if (!t) return;
    cairn_tbl__dcache_clear(t);
    cairn_tbl__groups_free(t->g, t->ng, t->s.n);
    for (i = 0; i < t->nfiles; i++) cairn_tbl__segfile_unref(t->files[i]);
    free(t->files);
    cairn_wal__close(t->wal);
    cairn_lock__release(t->lock);
    cairn_tbl__rs_free(&t->tail);
    cairn_tbl__rs_free(&t->ov);
    cairn_tbl__idmap_free(&t->ovmap);
    free_indexes(t);
    free(t->idef);
    free(t->wbuf.p);
    free(t->un);
    free(t->uheap.p);
    drop_events(t, 0);
    free(t->ev);
    free(t->subs);
    free(t->scratch.p);
    cairn_tbl__schema_free(&t->s);
    free(t->dir);
    free(t->man_path);
    free(t->wal_path);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

int cairn_table_open(cairn_table **out, const char *path, const cairn_table_options *opts) {
    cairn_table_options o = CAIRN_TABLE_OPTIONS_INIT;
    cairn_table *t;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_open: out is NULL");
    *out = NULL;
    if (!path) return cairn_err__set(CAIRN_INVALID, "cairn_table_open: path is NULL");
    if (!*path) return cairn_err__set(CAIRN_PATH, "cairn_table_open: empty path");
    if (opts) {
        if (opts->version < 1 || opts->version > CAIRN_TABLE_OPTIONS_VERSION)
            return cairn_err__set(CAIRN_INVALID, "cairn_table_open: unknown options version %u", opts->version);
        o = *opts;
    }
    if (o.sync < CAIRN_SYNC_NONE || o.sync > CAIRN_SYNC_GROUP)
        return cairn_err__set(CAIRN_INVALID, "cairn_table_open: bad sync mode %d", o.sync);
    if (!(t = (cairn_table *)calloc(1, sizeof *t))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    pthread_mutex_init(&t->mu, NULL);
    t->gen = cairn_fork__gen();
    t->ro = o.read_only != 0;
    t->sync = o.sync;
    t->ckpt_rows = o.checkpoint_rows ? o.checkpoint_rows : TBL_CKPT_DEFAULT;
    t->lock_timeout = o.lock_timeout_ms;
    t->next_sub = 1;
    t->next_id = 1;
    t->s.pk = -1;
    if (!(t->dir = cairn_str__dup(path)) || !(t->man_path = cairn_path__join(path, "MANIFEST")) ||
        !(t->wal_path = cairn_path__join(path, "wal"))) {
        table_free(t);
        return CAIRN_NOMEM;
    }
    if ((rc = cairn_tbl__load(t, o.schema, o.create != 0 && !t->ro)) != 0) {
        char msg[CAIRN_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", cairn_errmsg());
        table_free(t);
        return cairn_err__set(rc, "%s", msg);
    }
    *out = t;
    return 0;
}

static int rollback_locked(cairn_table *t);

void cairn_table_close(cairn_table *t) {
    if (!t) return;
    if (cairn_fork__foreign(t->gen)) {
        table_free(t);
        return;
    }
    LOCK(t);
    if (t->in_txn) (void)rollback_locked(t);
    if (!t->ro && !t->failed) {
        /* the last manifest says CLEAN: nothing in the WAL beyond it */
        t->closing = 1;
        (void)cairn_tbl__checkpoint(t, !t->man_clean);
    }
    UNLOCK(t);
    table_free(t);
}

int cairn_table_schema(cairn_table *t, int json, char **out) {
    int rc;
    if ((rc = check_handle(t, "cairn_table_schema")) != 0) return rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_schema: out is NULL");
    LOCK(t);
    rc = json ? cairn_tbl__schema_json(&t->s, out) : cairn_tbl__schema_text(&t->s, out);
    UNLOCK(t);
    return rc;
}

int cairn_table_ncols(cairn_table *t, size_t *out) {
    int rc;
    if ((rc = check_handle(t, "cairn_table_ncols")) != 0) return rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_ncols: out is NULL");
    LOCK(t);
    *out = t->s.n;
    UNLOCK(t);
    return 0;
}

int cairn_table_column(cairn_table *t, size_t index, const char **name, int *type, uint32_t *fixed_len, int *nullable) {
    int rc;
    if ((rc = check_handle(t, "cairn_table_column")) != 0) return rc;
    LOCK(t);
    if (index >= t->s.n) {
        UNLOCK(t);
        return cairn_err__set(CAIRN_RANGE, "cairn_table_column: column %zu of %zu", index, t->s.n);
    }
    if (name) *name = t->s.c[index].name;
    if (type) *type = t->s.c[index].type;
    if (fixed_len) *fixed_len = t->s.c[index].fixed_len;
    if (nullable) *nullable = t->s.c[index].nullable;
    UNLOCK(t);
    return 0;
}

static int table_add_column_(cairn_table *t, const char *spec) {
    tcol c;
    size_t i;
    int rc;
    if ((rc = check_handle(t, "cairn_table_add_column")) != 0) return rc;
    if (!spec) return cairn_err__set(CAIRN_INVALID, "cairn_table_add_column: spec is NULL");
    if ((rc = cairn_tbl__column_parse(spec, &c)) != 0) return rc;
    LOCK(t);
    if ((rc = check_write(t)) != 0) goto out;
    if (t->in_txn) {
        rc = cairn_err__set(CAIRN_TXN, "%s: add_column inside a transaction", t->dir);
        goto out;
    }
    for (i = 0; i < t->s.n; i++)
        if (strcmp(t->s.c[i].name, c.name) == 0) {
            rc = cairn_err__set(CAIRN_EXISTS, "%s: column %s exists", t->dir, c.name);
            goto out;
        }
    if (t->s.n >= TBL_COLS_MAX) {
        rc = cairn_err__set(CAIRN_INVALID, "%s: a table has at most %d columns", t->dir, TBL_COLS_MAX);
        goto out;
    }
    if (c.pk) {
        if (t->s.pk >= 0) {
            rc = cairn_err__set(CAIRN_INVALID, "%s: the table has a primary key (%s)", t->dir, t->s.c[t->s.pk].name);
            goto out;
        }
        if (t->live > 1 || (t->live == 1 && !c.has_def)) {
            rc = cairn_err__set(CAIRN_CONSTRAINT, "%s: a primary key column cannot be added to a table with rows", t->dir);
            goto out;
        }
    }
    if (!c.nullable && !c.has_def && t->live) {
        rc = cairn_err__set(CAIRN_CONSTRAINT, "%s: column %s is NOT NULL without a default, and the table has rows", t->dir,
                            c.name);
        goto out;
    }
    if (c.unique && c.has_def && t->live > 1) {
        rc = cairn_err__set(CAIRN_CONSTRAINT, "%s: column %s is UNIQUE with a non-null default, and the table has %llu rows",
                            t->dir, c.name, (unsigned long long)t->live);
        goto out;
    }
    rc = cairn_tbl__add_column(t, &c);
    if (!rc) free_indexes(t); /* the schema holds a copy of c */
out:
    UNLOCK(t);
    cairn_tbl__col_free(&c);
    return rc;
}

/* ---- rows: typed ---- */

static int table_insert_(cairn_table *t, const cairn_value *row, size_t ncols, uint64_t *id) {
    cairn_value small[16], *r = NULL;
    marks m;
    fired fo;
    size_t i;
    int rc;
    if ((rc = check_handle(t, "cairn_table_insert")) != 0) return rc;
    if (!row) return cairn_err__set(CAIRN_INVALID, "cairn_table_insert: row is NULL");
    LOCK(t);
    if ((rc = check_write(t)) != 0) goto out;
    if (ncols != t->s.n) {
        rc = cairn_err__set(CAIRN_SCHEMA, "cairn_table_insert: %zu values for %zu columns", ncols, t->s.n);
        goto out;
    }
    if (ncols > 16 && !(r = (cairn_value *)malloc(ncols * sizeof *r))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    if (!r) r = small;
    for (i = 0; i < ncols; i++) {
        if ((rc = cairn_tbl__check_value(&t->s.c[i], &row[i])) != 0) goto out;
        r[i] = row[i];
    }
    if ((rc = finish_row(t, r, NULL)) != 0) goto out;
    take_marks(t, &m);
    rc = do_insert(t, r, id);
    rc = end_op(t, &m, rc, &fo);
    UNLOCK(t);
    if (r != small) free(r);
    fire(&fo);
    return rc;
out:
    UNLOCK(t);
    if (r != small) free(r);
    return rc;
}

static int get_common(cairn_table *t, uint64_t id, cairn_value **out, char **json) {
    rloc l;
    cairn_value *row;
    tbuf bytes = {0, 0, 0};
    int rc;
    cairn_tbl__count(&t->n_gets, 1);
    if (!(row = (cairn_value *)malloc((t->s.n ? t->s.n : 1) * sizeof *row))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if ((rc = find_row(t, id, &l)) != 0 || (rc = read_row(t, &l, row, &bytes)) != 0) goto out;
    if (json) {
        tbuf b = {0, 0, 0};
        if ((rc = cairn_tbl__row_json(&t->s, row, &b)) != 0 || !(*json = cairn_tbl__buf_take(&b))) {
            free(b.p);
            rc = CAIRN_NOMEM;
        }
    } else {
        size_t i, total = 0, hdr = t->s.n * sizeof(cairn_value);
        uint8_t *blk;
        for (i = 0; i < t->s.n; i++)
            if (!row[i].is_null && !t->s.c[i].w) total += row[i].v.s.len;
            else if (!row[i].is_null && t->s.c[i].type == CAIRN_TYPE_FIXED) total += row[i].v.s.len;
        if (!(blk = (uint8_t *)malloc(hdr + total + 1))) {
            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
            goto out;
        }
        total = hdr;
        for (i = 0; i < t->s.n; i++) {
            cairn_value v = row[i];
            if (!v.is_null && (!t->s.c[i].w || t->s.c[i].type == CAIRN_TYPE_FIXED)) {
                if (v.v.s.len) memcpy(blk + total, v.v.s.bytes, v.v.s.len);
                v.v.s.bytes = blk + total;
                total += v.v.s.len;
            }
            memcpy(blk + i * sizeof(cairn_value), &v, sizeof v);
        }
        *out = (cairn_value *)(void *)blk;
    }
out:
    free(bytes.p);
    free(row);
    return rc;
}

static int table_get_(cairn_table *t, uint64_t id, cairn_value **out) {
    int rc;
    if ((rc = check_handle(t, "cairn_table_get")) != 0) return rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_get: out is NULL");
    *out = NULL;
    LOCK(t);
    rc = get_common(t, id, out, NULL);
    UNLOCK(t);
    return rc;
}

static int table_update_(cairn_table *t, uint64_t id, const size_t *cols, const cairn_value *vals, size_t n) {
    marks m;
    fired fo;
    size_t i;
    int rc;
    if ((rc = check_handle(t, "cairn_table_update")) != 0) return rc;
    if (n && (!cols || !vals)) return cairn_err__set(CAIRN_INVALID, "cairn_table_update: NULL cols or vals");
    LOCK(t);
    if ((rc = check_write(t)) != 0) goto out;
    for (i = 0; i < n; i++) {
        if (cols[i] >= t->s.n) {
            rc = cairn_err__set(CAIRN_SCHEMA, "cairn_table_update: no column %zu (the table has %zu)", cols[i], t->s.n);
            goto out;
        }
        if ((rc = cairn_tbl__check_value(&t->s.c[cols[i]], &vals[i])) != 0) goto out;
    }
    take_marks(t, &m);
    rc = do_update(t, id, cols, vals, n);
    rc = end_op(t, &m, rc, &fo);
    UNLOCK(t);
    fire(&fo);
    return rc;
out:
    UNLOCK(t);
    return rc;
}

static int table_delete_(cairn_table *t, uint64_t id) {
    marks m;
    fired fo;
    int rc;
    if ((rc = check_handle(t, "cairn_table_delete")) != 0) return rc;
    LOCK(t);
    if ((rc = check_write(t)) != 0) {
        UNLOCK(t);
        return rc;
    }
    take_marks(t, &m);
    rc = do_delete(t, id);
    rc = end_op(t, &m, rc, &fo);
    UNLOCK(t);
    fire(&fo);
    return rc;
}

int cairn_table_count(cairn_table *t, uint64_t *out) {
    int rc;
    if ((rc = check_handle(t, "cairn_table_count")) != 0) return rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_count: out is NULL");
    LOCK(t);
    *out = t->live;
    UNLOCK(t);
    return 0;
}

/* ---- bulk load ---- */

static int width_ok(const tcol *c) { return c->w != 0; }

/* Append n rows given as columns to the tail (checked, defaults applied), with one undo record. */

static void src_value(const cairn_table *t, const colsrc *cs, size_t c, size_t i, cairn_value *v) {
    const tcol *col = &t->s.c[c];
    const void *d = cs->data[c];
    memset(v, 0, sizeof *v);
    if (!d) {
        if (col->has_def) *v = col->def;
        else v->is_null = 1;
        return;
    }
    if (cs->validity && cs->validity[c] && !((cs->validity[c][i >> 3] >> (i & 7)) & 1)) {
        v->is_null = 1;
        if (!col->nullable && col->has_def) *v = col->def;
        return;
    }
    switch (col->type) {
    case CAIRN_TYPE_I8: v->v.i = ((const int8_t *)d)[i]; break;
    case CAIRN_TYPE_I16: v->v.i = ((const int16_t *)d)[i]; break;
    case CAIRN_TYPE_I32: v->v.i = ((const int32_t *)d)[i]; break;
    case CAIRN_TYPE_I64: case CAIRN_TYPE_TIMESTAMP: v->v.i = ((const int64_t *)d)[i]; break;
    case CAIRN_TYPE_U8: v->v.u = ((const uint8_t *)d)[i]; break;
    case CAIRN_TYPE_U16: v->v.u = ((const uint16_t *)d)[i]; break;
    case CAIRN_TYPE_U32: v->v.u = ((const uint32_t *)d)[i]; break;
    case CAIRN_TYPE_U64: v->v.u = ((const uint64_t *)d)[i]; break;
    case CAIRN_TYPE_F32: v->v.f = ((const float *)d)[i]; break;
    case CAIRN_TYPE_F64: v->v.f = ((const double *)d)[i]; break;
    case CAIRN_TYPE_BOOL: v->v.b = ((const uint8_t *)d)[i] != 0; break;
    case CAIRN_TYPE_FIXED: v->v.s.bytes = (const uint8_t *)d + i * col->fixed_len; v->v.s.len = col->fixed_len; break;
    default: {
        const uint64_t *o = cs->offsets[c];
        v->v.s.bytes = (const uint8_t *)d + o[i];
        v->v.s.len = (size_t)(o[i + 1] - o[i]);
        break;
    }
    }
}

/* every value of a batch checked: offsets, UTF-8, NOT NULL */
static int load_check(cairn_table *t, size_t n, const colsrc *cs) {
    size_t c, i;
    int rc;
    if (n > UINT64_MAX - t->next_id) return cairn_err__set(CAIRN_RANGE, "%s: row ids exhausted", t->dir);
    for (c = 0; c < t->s.n; c++) {
        const tcol *col = &t->s.c[c];
        if (!cs->data[c]) {
            if (!col->has_def && !col->nullable)
                return cairn_err__set(CAIRN_CONSTRAINT, "column %s: NOT NULL constraint violated (no data and no default)", col->name);
            continue;
        }
        if (!width_ok(col)) {
            if (!cs->offsets || !cs->offsets[c])
                return cairn_err__set(CAIRN_INVALID, "column %s: offsets missing for a variable-length column", col->name);
            if (cs->offsets[c][0] > cs->offsets[c][n > 0 ? 0 : 0])
                return cairn_err__set(CAIRN_INVALID, "column %s: bad offsets", col->name);
        }
        /* fixed-width values need no check (the C type holds only valid values); only nulls in
         * a NOT NULL column without a default */
        if (width_ok(col) && (!cs->validity || !cs->validity[c] || col->nullable || col->has_def)) continue;
        for (i = 0; i < n; i++) {
            cairn_value v;
            if (!width_ok(col) && cs->offsets[c][i + 1] < cs->offsets[c][i])
                return cairn_err__set(CAIRN_INVALID, "column %s: offsets decrease at row %zu", col->name, i);
            src_value(t, cs, c, i, &v);
            if (v.is_null) {
                if (!col->nullable)
                    return cairn_err__set(CAIRN_CONSTRAINT, "column %s: NOT NULL constraint violated at row %zu", col->name, i);
                continue;
            }
            if (col->type == CAIRN_TYPE_STRING || col->type == CAIRN_TYPE_BYTES)
                if ((rc = cairn_tbl__check_value(col, &v)) != 0) return rc;
        }
    }
    return 0;
}

static int load_rows(cairn_table *t, size_t n, const colsrc *cs, uint64_t *first_id) {
    size_t c, i, k, nonuniq = 0, base = t->tail.n;
    cairn_value *row = NULL;
    tundo u;
    int rc = 0, log = t->in_txn;
    if ((rc = load_check(t, n, cs)) != 0) return rc;
    if ((rc = need_indexes(t)) != 0) return rc;
    if ((rc = cairn_tbl__rs_reserve(&t->tail, &t->s, base + n)) != 0) return rc;
    if (!(row = (cairn_value *)malloc((t->s.n ? t->s.n : 1) * sizeof *row))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    memset(&u, 0, sizeof u);
    u.kind = 4;
    u.pos = base;
    if ((rc = push_undo(t, &u)) != 0) goto out;
    /* fixed-width columns: straight copies */
    for (c = 0; c < t->s.n; c++) {
        const tcol *col = &t->s.c[c];
        mcol *m = &t->tail.c[c];
        int plain = cs->data[c] && col->w && !(cs->validity && cs->validity[c]);
        if (plain) {
            if (col->type == CAIRN_TYPE_BOOL) {
                const uint8_t *src = (const uint8_t *)cs->data[c];
                uint8_t *dst = m->v + base;
                for (i = 0; i < n; i++) dst[i] = src[i] != 0;
            } else {
                memcpy(m->v + base * col->w, cs->data[c], n * col->w);
            }
            memset(m->nul + base, 0, n);
            continue;
        }
        for (i = 0; i < n; i++) {
            cairn_value v;
            src_value(t, cs, c, i, &v);
            if ((rc = cairn_tbl__rs_set(&t->tail, &t->s, base + i, c, &v)) != 0) goto out;
        }
    }
    for (i = 0; i < n; i++) {
        t->tail.ids[base + i] = t->next_id + i;
        t->tail.dead[base + i] = 0;
    }
    t->tail.n = base + n;
    t->live += n;
    /* unique columns: the whole batch at once, in the index's slot order */
    for (k = 0; k < t->nui; k++) {
        size_t dup;
        uint64_t other;
        uindex *ux = &t->ui[k];
        if (!ux->uniq) continue;
        rc = cairn_tbl__ui_add_batch(ux, &t->s.c[ux->col], &t->tail, &t->s, (size_t)ux->col, base, n, t->next_id, &dup, &other);
        if (rc == CAIRN_CONSTRAINT) {
            cairn_value v;
            cairn_tbl__rs_get(&t->tail, &t->s, base + dup, (size_t)ux->col, &v);
            rc = violation(&t->s.c[ux->col], &v, other);
        }
        if (rc) goto out;
    }
    for (k = 0; k < t->nui; k++) nonuniq += !t->ui[k].uniq;
    /* the other indexes, WAL records and events */
    for (i = 0; i < n && (nonuniq || t->nri || log || t->nsubs); i++) {
        uint64_t id = t->next_id + i;
        for (c = 0; c < t->s.n; c++) cairn_tbl__rs_get(&t->tail, &t->s, base + i, c, &row[c]);
        for (k = 0; k < t->nui; k++)
            if (!t->ui[k].uniq && (rc = cairn_tbl__ui_add(&t->ui[k], &t->s.c[t->ui[k].col], &row[t->ui[k].col], id)) != 0) goto out;
        for (k = 0; k < t->nri; k++)
            if ((rc = cairn_tbl__ri_add(&t->ri[k], &t->s.c[t->ri[k].col], &row[t->ri[k].col], id)) != 0) goto out;
        if (log && (rc = push_rec(t, TREC_INSERT, id, row)) != 0) goto out;
        if (t->nsubs && (rc = push_event(t, CAIRN_TABLE_INSERTED, id, row, NULL)) != 0) goto out;
    }
    if (first_id) *first_id = n ? t->next_id : t->next_id;
    t->next_id += n;
    t->pend_ins += n;
out:
    free(row);
    return rc;
}

/* Outside a transaction a bulk load skips the WAL: the rows go straight into segments by a
 * checkpoint (all or nothing: the manifest switch is the commit point). */
/* The order key of an integer column's value i (signed types biased so that keys compare as
 * unsigned); 0 when the column is not of an integer type. */
static int int_key(int type, const void *d, size_t i, uint64_t *k) {
    const uint64_t b = (uint64_t)1 << 63;
    switch (type) {
    case CAIRN_TYPE_I8: *k = (uint64_t)(int64_t)((const int8_t *)d)[i] ^ b; return 1;
    case CAIRN_TYPE_I16: *k = (uint64_t)(int64_t)((const int16_t *)d)[i] ^ b; return 1;
    case CAIRN_TYPE_I32: *k = (uint64_t)(int64_t)((const int32_t *)d)[i] ^ b; return 1;
    case CAIRN_TYPE_I64: case CAIRN_TYPE_TIMESTAMP: *k = (uint64_t)((const int64_t *)d)[i] ^ b; return 1;
    case CAIRN_TYPE_U8: *k = ((const uint8_t *)d)[i]; return 1;
    case CAIRN_TYPE_U16: *k = ((const uint16_t *)d)[i]; return 1;
    case CAIRN_TYPE_U32: *k = ((const uint32_t *)d)[i]; return 1;
    case CAIRN_TYPE_U64: *k = ((const uint64_t *)d)[i]; return 1;
    default: return 0;
    }
}

/* A unique integer column whose batch needs no index to prove it unique: no nulls given, values
 * strictly increasing, and the first above every value the table holds (the zone maps' maxima
 * of the row groups, deleted rows included, and the tail's and overlays' values). */
static int batch_unique(const cairn_table *t, size_t c, size_t n, const colsrc *cs) {
    const tcol *col = &t->s.c[c];
    const void *d = cs->data[c];
    const uint64_t b = (uint64_t)1 << 63;
    int sgn = col->type == CAIRN_TYPE_I8 || col->type == CAIRN_TYPE_I16 || col->type == CAIRN_TYPE_I32 ||
              col->type == CAIRN_TYPE_I64 || col->type == CAIRN_TYPE_TIMESTAMP;
    uint64_t first, prev, k;
    size_t i;
    if (!d || (cs->validity && cs->validity[c]) || !int_key(col->type, d, 0, &first)) return 0;
    prev = first;
    if (col->type == CAIRN_TYPE_I64 || col->type == CAIRN_TYPE_TIMESTAMP || col->type == CAIRN_TYPE_U64) {
        const uint64_t *x = (const uint64_t *)d, bias = col->type == CAIRN_TYPE_U64 ? 0 : b;
        uint64_t bad = 0;
        for (i = 1; i < n; i++) bad |= (uint64_t)((x[i] ^ bias) <= (x[i - 1] ^ bias));
        if (bad) return 0;
    } else {
        for (i = 1; i < n; i++) {
            int_key(col->type, d, i, &k);
            if (k <= prev) return 0;
            prev = k;
        }
    }
    for (i = 0; i < t->ng; i++) {
        const uint8_t *z = t->g[i].cols[c].zone; /* the manifest's zone map: has_values at 16, max at 32 */
        if (z[16]) {
            k = cairn_get64(z + 32);
            if ((sgn ? k ^ b : k) >= first) return 0;
        }
    }
    for (i = 0; i < 2; i++) {
        const rstore *r = i ? &t->ov : &t->tail;
        size_t p;
        for (p = 0; p < r->n; p++) {
            cairn_value v;
            if (r->dead[p]) continue;
            cairn_tbl__rs_get(r, &t->s, p, c, &v);
            if (v.is_null) continue;
            if ((sgn ? (uint64_t)v.v.i ^ b : v.v.u) >= first) return 0;
        }
    }
    return 1;
}

/* The direct path: no subscriber, no null to replace by a default, and every unique column's
 * values provably new without its index (batch_unique): the checkpoint encodes segments straight
 * from the caller's arrays (no copy into the tail, no index entry per row). */
static int direct_ok(const cairn_table *t, size_t n, const colsrc *cs) {
    size_t c;
    if (t->in_txn || t->nsubs || n < 1024) return 0;
    for (c = 0; c < t->s.n; c++) {
        const tcol *col = &t->s.c[c];
        if (cs->data[c] && cs->validity && cs->validity[c] && !col->nullable) return 0;
    }
    for (c = 0; c < t->s.n; c++) {
        const tcol *col = &t->s.c[c];
        if ((col->pk || col->unique) && !batch_unique(t, c, n, cs)) return 0;
    }
    return 1;
}

static int load_direct(cairn_table *t, size_t n, const colsrc *cs, uint64_t *first_id) {
    tdirect d;
    uint64_t first = t->next_id;
    size_t k;
    int rc;
    if ((rc = load_check(t, n, cs)) != 0) return rc;
    d.cs = cs;
    d.n = n;
    d.first_id = first;
    t->next_id += n; /* the manifest records it */
    t->direct = &d;
    rc = cairn_tbl__checkpoint(t, 1);
    t->direct = NULL;
    if (rc) {
        if (!t->failed) t->next_id = first;
        return rc;
    }
    t->live += n;
    t->pend_ins += n;
    cairn_tbl__count_commit(t); /* the manifest switch committed the batch */
    if (first_id) *first_id = first;
    for (k = 0; k < t->nui && !t->ui[k].uniq; k++) {}
    if (t->ui_built && k < t->nui) {
        /* a unique column: its index would hold every row of the batch; dropped instead and
         * rebuilt from the segments by the first write (or lookup) that needs it */
        free_indexes(t);
    } else if (t->ui_built && (t->nui || t->nri)) {
        /* declared indexes: add the new rows */
        cairn_value *row = (cairn_value *)calloc(t->s.n ? t->s.n : 1, sizeof *row);
        size_t i;
        if (!row) {
            free_indexes(t); /* rebuilt at the next use */
            return 0;
        }
        for (i = 0; i < n; i++) {
            for (k = 0; k < t->nui; k++) src_value(t, cs, (size_t)t->ui[k].col, i, &row[t->ui[k].col]);
            for (k = 0; k < t->nri; k++) src_value(t, cs, (size_t)t->ri[k].col, i, &row[t->ri[k].col]);
            if (idx_add_row(t, row, first + i)) {
                cairn_errclear(); /* the indexes were dropped: rebuilt at the next use */
                break;
            }
        }
        free(row);
    }
    return 0;
}

static int load_common(cairn_table *t, size_t n, const colsrc *cs, uint64_t *first_id) {
    marks m;
    fired fo;
    int rc;
    if (direct_ok(t, n, cs)) return load_direct(t, n, cs, first_id);
    take_marks(t, &m);
    memset(&fo, 0, sizeof fo);
    rc = load_rows(t, n, cs, first_id);
    if (rc) {
        abort_op(t, &m, rc);
        return rc;
    }
    if (t->in_txn) return 0;
    if (n) {
        if ((rc = cairn_tbl__checkpoint(t, 1)) != 0) {
            if (!t->failed) abort_op(t, &m, rc);
            return rc;
        }
        cairn_tbl__count_commit(t); /* the manifest switch committed the batch */
    }
    t->nun = m.un;
    t->uheap.n = m.uh;
    take_events(t, m.ev, &fo);
    UNLOCK(t);
    fire(&fo);
    LOCK(t);
    return 0;
}

static int table_load_columns_(cairn_table *t, size_t n, const void *const *data, const uint8_t *const *validity,
                             const uint64_t *const *offsets, uint64_t *first_id) {
    colsrc cs;
    int rc;
    if ((rc = check_handle(t, "cairn_table_load_columns")) != 0) return rc;
    if (!data) return cairn_err__set(CAIRN_INVALID, "cairn_table_load_columns: data is NULL");
    cs.data = data;
    cs.validity = validity;
    cs.offsets = offsets;
    LOCK(t);
    if ((rc = check_write(t)) == 0) rc = load_common(t, n, &cs, first_id);
    UNLOCK(t);
    return rc;
}

/* ---- rows: JSON ---- */

static int table_insert_json_(cairn_table *t, const char *row, uint64_t *id) {
    jrow r;
    marks m;
    fired fo;
    size_t pos = 0, n;
    int rc;
    if ((rc = check_handle(t, "cairn_table_insert_json")) != 0) return rc;
    if (!row) return cairn_err__set(CAIRN_INVALID, "cairn_table_insert_json: row is NULL");
    n = strlen(row);
    LOCK(t);
    if ((rc = check_write(t)) != 0 || (rc = cairn_tbl__jrow_init(&r, t->s.n)) != 0) {
        UNLOCK(t);
        return rc;
    }
    rc = cairn_tbl__json_row(&t->s, row, n, &pos, &r);
    if (!rc) {
        cairn_tbl__json_ws(row, n, &pos);
        if (pos != n) rc = cairn_err__set(CAIRN_INVALID, "invalid JSON: text after the row at byte %zu", pos);
    }
    if (!rc) rc = finish_row(t, r.v, r.given);
    memset(&fo, 0, sizeof fo);
    if (!rc) {
        take_marks(t, &m);
        rc = do_insert(t, r.v, id);
        rc = end_op(t, &m, rc, &fo);
    }
    UNLOCK(t);
    cairn_tbl__jrow_free(&r);
    fire(&fo);
    return rc;
}

static int table_insert_many_json_(cairn_table *t, const char *rows, char **ids) {
    jrow r;
    marks m;
    fired fo;
    tbuf ib = {0, 0, 0};
    size_t pos = 0, n;
    int rc, first = 1;
    if ((rc = check_handle(t, "cairn_table_insert_many_json")) != 0) return rc;
    if (!rows) return cairn_err__set(CAIRN_INVALID, "cairn_table_insert_many_json: rows is NULL");
    if (ids) *ids = NULL;
    n = strlen(rows);
    LOCK(t);
    if ((rc = check_write(t)) != 0 || (rc = cairn_tbl__jrow_init(&r, t->s.n)) != 0) {
        UNLOCK(t);
        return rc;
    }
    memset(&fo, 0, sizeof fo);
    take_marks(t, &m);
    cairn_tbl__json_ws(rows, n, &pos);
    if (pos >= n || rows[pos] != '[') {
        rc = pos < n && rows[pos] == '{' ? cairn_err__set(CAIRN_TYPE, "insert_many: rows must be a JSON array")
                                         : cairn_err__set(CAIRN_INVALID, "invalid JSON: expected an array at byte %zu", pos);
    } else {
        pos++;
        cairn_tbl__json_ws(rows, n, &pos);
        rc = tbuf_put(&ib, "[", 1);
        if (!rc && pos < n && rows[pos] == ']') {
            pos++;
        } else {
            while (!rc) {
                uint64_t id = 0;
                if ((rc = cairn_tbl__json_row(&t->s, rows, n, &pos, &r)) != 0) break;
                if ((rc = finish_row(t, r.v, r.given)) != 0) break;
                if ((rc = do_insert(t, r.v, &id)) != 0) break;
                if ((rc = cairn_tbl__buf_printf(&ib, first ? "%llu" : ",%llu", (unsigned long long)id)) != 0) break;
                first = 0;
                cairn_tbl__json_ws(rows, n, &pos);
                if (pos < n && rows[pos] == ',') {
                    pos++;
                    continue;
                }
                if (pos < n && rows[pos] == ']') {
                    pos++;
                    break;
                }
                rc = cairn_err__set(CAIRN_INVALID, "invalid JSON: expected ',' or ']' at byte %zu", pos);
            }
        }
        if (!rc) {
            cairn_tbl__json_ws(rows, n, &pos);
            if (pos != n) rc = cairn_err__set(CAIRN_INVALID, "invalid JSON: text after the array at byte %zu", pos);
        }
        if (!rc) rc = tbuf_put(&ib, "]", 1);
    }
    rc = end_op(t, &m, rc, &fo);
    UNLOCK(t);
    cairn_tbl__jrow_free(&r);
    if (!rc && ids && !(*ids = cairn_tbl__buf_take(&ib))) rc = CAIRN_NOMEM;
    free(ib.p);
    fire(&fo);
    return rc;
}

static int table_upsert_json_(cairn_table *t, const char *row, uint64_t *id) {
    jrow r;
    marks m;
    fired fo;
    size_t pos = 0, n, i, nc = 0;
    size_t *cols = NULL;
    cairn_value *vals = NULL;
    int rc;
    if ((rc = check_handle(t, "cairn_table_upsert_json")) != 0) return rc;
    if (!row) return cairn_err__set(CAIRN_INVALID, "cairn_table_upsert_json: row is NULL");
    n = strlen(row);
    memset(&fo, 0, sizeof fo);
    LOCK(t);
    if ((rc = check_write(t)) != 0 || (rc = cairn_tbl__jrow_init(&r, t->s.n)) != 0) {
        UNLOCK(t);
        return rc;
    }
    if (t->s.pk < 0) {
        rc = cairn_err__set(CAIRN_INVALID, "%s: upsert needs a primary key, and the table has none", t->dir);
        goto out;
    }
    if ((rc = cairn_tbl__json_row(&t->s, row, n, &pos, &r)) != 0) goto out;
    cairn_tbl__json_ws(row, n, &pos);
    if (pos != n) {
        rc = cairn_err__set(CAIRN_INVALID, "invalid JSON: text after the row at byte %zu", pos);
        goto out;
    }
    if (!r.given[t->s.pk] || r.v[t->s.pk].is_null) {
        rc = cairn_err__set(CAIRN_INVALID, "upsert: the row lacks its primary key %s", t->s.c[t->s.pk].name);
        goto out;
    }
    if ((rc = need_indexes(t)) != 0) goto out;
    {
        size_t k;
        uint64_t found = 0;
        for (k = 0; k < t->nui; k++)
            if (t->ui[k].col == t->s.pk) found = cairn_tbl__ui_find(&t->ui[k], &t->s.c[t->s.pk], &r.v[t->s.pk]);
        take_marks(t, &m);
        if (found) {
            if (!(cols = (size_t *)malloc(t->s.n * sizeof *cols)) || !(vals = (cairn_value *)malloc(t->s.n * sizeof *vals))) {
                rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
            } else {
                for (i = 0; i < t->s.n; i++)
                    if (r.given[i]) {
                        cols[nc] = i;
                        vals[nc++] = r.v[i];
                    }
                rc = do_update(t, found, cols, vals, nc);
                if (!rc && id) *id = found;
            }
        } else {
            rc = finish_row(t, r.v, r.given);
            if (!rc) rc = do_insert(t, r.v, id);
        }
        rc = end_op(t, &m, rc, &fo);
    }
out:
    UNLOCK(t);
    cairn_tbl__jrow_free(&r);
    free(cols);
    free(vals);
    fire(&fo);
    return rc;
}

static int table_get_json_(cairn_table *t, uint64_t id, char **row) {
    int rc;
    if ((rc = check_handle(t, "cairn_table_get_json")) != 0) return rc;
    if (!row) return cairn_err__set(CAIRN_INVALID, "cairn_table_get_json: row is NULL");
    *row = NULL;
    LOCK(t);
    rc = get_common(t, id, NULL, row);
    UNLOCK(t);
    return rc;
}

static int table_update_json_(cairn_table *t, uint64_t id, const char *changes) {
    jrow r;
    marks m;
    fired fo;
    size_t pos = 0, n, i, nc = 0;
    size_t *cols = NULL;
    cairn_value *vals = NULL;
    int rc;
    if ((rc = check_handle(t, "cairn_table_update_json")) != 0) return rc;
    if (!changes) return cairn_err__set(CAIRN_INVALID, "cairn_table_update_json: changes is NULL");
    n = strlen(changes);
    memset(&fo, 0, sizeof fo);
    LOCK(t);
    if ((rc = check_write(t)) != 0 || (rc = cairn_tbl__jrow_init(&r, t->s.n)) != 0) {
        UNLOCK(t);
        return rc;
    }
    if ((rc = cairn_tbl__json_row(&t->s, changes, n, &pos, &r)) != 0) goto out;
    cairn_tbl__json_ws(changes, n, &pos);
    if (pos != n) {
        rc = cairn_err__set(CAIRN_INVALID, "invalid JSON: text after the object at byte %zu", pos);
        goto out;
    }
    if (!(cols = (size_t *)malloc((t->s.n ? t->s.n : 1) * sizeof *cols)) ||
        !(vals = (cairn_value *)malloc((t->s.n ? t->s.n : 1) * sizeof *vals))) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < t->s.n; i++)
        if (r.given[i]) {
            cols[nc] = i;
            vals[nc++] = r.v[i];
        }
    take_marks(t, &m);
    rc = do_update(t, id, cols, vals, nc);
    rc = end_op(t, &m, rc, &fo);
out:
    UNLOCK(t);
    cairn_tbl__jrow_free(&r);
    free(cols);
    free(vals);
    fire(&fo);
    return rc;
}

/* load_json: {"col": [values...], ...} -> rows through load_rows (typed columns built here) */
static int table_load_json_(cairn_table *t, const char *columns, uint64_t *first_id) {
    size_t pos = 0, n, nrows = 0, c, i;
    int rc = 0, have_n = 0;
    void **data = NULL;
    uint8_t **valid = NULL;
    uint64_t **offs = NULL;
    tbuf *heaps = NULL, key = {0, 0, 0}, sc = {0, 0, 0};
    size_t *counts = NULL;
    if ((rc = check_handle(t, "cairn_table_load_json")) != 0) return rc;
    if (!columns) return cairn_err__set(CAIRN_INVALID, "cairn_table_load_json: columns is NULL");
    n = strlen(columns);
    LOCK(t);
    if ((rc = check_write(t)) != 0) goto out;
    data = (void **)calloc(t->s.n, sizeof *data);
    valid = (uint8_t **)calloc(t->s.n, sizeof *valid);
    offs = (uint64_t **)calloc(t->s.n, sizeof *offs);
    heaps = (tbuf *)calloc(t->s.n, sizeof *heaps);
    counts = (size_t *)calloc(t->s.n, sizeof *counts);
    if (!data || !valid || !offs || !heaps || !counts) {
        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
        goto out;
    }
    cairn_tbl__json_ws(columns, n, &pos);
    if (pos >= n || columns[pos] != '{') {
        rc = pos < n && columns[pos] == '[' ? cairn_err__set(CAIRN_TYPE, "load_json: columns must be a JSON object")
                                            : cairn_err__set(CAIRN_INVALID, "invalid JSON: expected an object at byte %zu", pos);
        goto out;
    }
    pos++;
    cairn_tbl__json_ws(columns, n, &pos);
    if (pos < n && columns[pos] == '}') pos++;
    else
        for (;;) {
            long ci = -1;
            size_t cap = 0, cnt = 0;
            const tcol *col;
            key.n = 0;
            cairn_tbl__json_ws(columns, n, &pos);
            if ((rc = cairn_tbl__json_string(columns, n, &pos, &key)) != 0) goto out;
            for (c = 0; c < t->s.n; c++)
                if (strlen(t->s.c[c].name) == key.n && memcmp(t->s.c[c].name, key.p, key.n) == 0) ci = (long)c;
            if (ci < 0) {
                rc = cairn_err__set(CAIRN_SCHEMA, "unknown column \"%.*s\"", (int)(key.n > 100 ? 100 : key.n), (const char *)key.p);
                goto out;
            }
            col = &t->s.c[ci];
            if (data[ci]) { /* given twice: the last wins */
                free(data[ci]);
                free(valid[ci]);
                free(offs[ci]);
                data[ci] = NULL;
                valid[ci] = NULL;
                offs[ci] = NULL;
                heaps[ci].n = 0;
            }
            cairn_tbl__json_ws(columns, n, &pos);
            if (pos < n && columns[pos] != ':') {
                rc = cairn_err__set(CAIRN_INVALID, "invalid JSON: expected ':' at byte %zu", pos);
                goto out;
            }
            pos++;
            cairn_tbl__json_ws(columns, n, &pos);
            if (pos >= n || columns[pos] != '[') {
                rc = cairn_err__set(CAIRN_TYPE, "load_json: column %s needs a list of values", col->name);
                goto out;
            }
            pos++;
            cairn_tbl__json_ws(columns, n, &pos);
            if (pos < n && columns[pos] == ']') pos++;
            else
                for (;;) {
                    cairn_value v;
                    size_t so = 0, w = col->w;
                    if (cnt == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        void *nd = realloc(data[ci], (w ? w : 1) * ncap);
                        uint8_t *nv;
                        if (!nd) {
                            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                            goto out;
                        }
                        data[ci] = nd;
                        if (!(nv = (uint8_t *)realloc(valid[ci], (ncap + 7) / 8))) {
                            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                            goto out;
                        }
                        valid[ci] = nv;
                        memset(valid[ci] + (cap + 7) / 8, 0, (ncap + 7) / 8 - (cap + 7) / 8);
                        if (!w) {
                            uint64_t *no = (uint64_t *)realloc(offs[ci], (ncap + 1) * 8);
                            if (!no) {
                                rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                                goto out;
                            }
                            offs[ci] = no;
                        }
                        cap = ncap;
                    }
                    sc.n = 0;
                    if ((rc = cairn_tbl__json_value(col, columns, n, &pos, &v, &sc, &so)) != 0) goto out;
                    if (!v.is_null) {
                        valid[ci][cnt >> 3] |= (uint8_t)(1u << (cnt & 7));
                        if (col->type == CAIRN_TYPE_STRING || col->type == CAIRN_TYPE_BYTES || col->type == CAIRN_TYPE_FIXED)
                            v.v.s.bytes = sc.p ? sc.p + so : (const uint8_t *)"";
                    }
                    if (w) {
                        uint8_t *dst = (uint8_t *)data[ci] + cnt * w;
                        if (v.is_null) memset(dst, 0, w);
                        else switch (col->type) {
                            case CAIRN_TYPE_I8: case CAIRN_TYPE_U8: *dst = (uint8_t)v.v.u; break;
                            case CAIRN_TYPE_I16: case CAIRN_TYPE_U16: { uint16_t x = (uint16_t)v.v.u; memcpy(dst, &x, 2); break; }
                            case CAIRN_TYPE_I32: case CAIRN_TYPE_U32: { uint32_t x = (uint32_t)v.v.u; memcpy(dst, &x, 4); break; }
                            case CAIRN_TYPE_F32: { float f = (float)v.v.f; memcpy(dst, &f, 4); break; }
                            case CAIRN_TYPE_F64: memcpy(dst, &v.v.f, 8); break;
                            case CAIRN_TYPE_BOOL: *dst = v.v.b ? 1 : 0; break;
                            case CAIRN_TYPE_FIXED: memcpy(dst, v.v.s.bytes, w); break;
                            default: memcpy(dst, &v.v.u, 8); break;
                            }
                    } else {
                        offs[ci][cnt] = heaps[ci].n;
                        if (!v.is_null && tbuf_put(&heaps[ci], v.v.s.bytes, v.v.s.len)) {
                            rc = CAIRN_NOMEM;
                            goto out;
                        }
                        offs[ci][cnt + 1] = heaps[ci].n;
                    }
                    cnt++;
                    cairn_tbl__json_ws(columns, n, &pos);
                    if (pos < n && columns[pos] == ',') {
                        pos++;
                        continue;
                    }
                    if (pos < n && columns[pos] == ']') {
                        pos++;
                        break;
                    }
                    rc = cairn_err__set(CAIRN_INVALID, "invalid JSON: expected ',' or ']' at byte %zu", pos);
                    goto out;
                }
            if (!data[ci] && !(data[ci] = malloc(1))) {
                rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                goto out;
            }
            if (!col->w && !offs[ci]) {
                if (!(offs[ci] = (uint64_t *)calloc(1, 8))) {
                    rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                    goto out;
                }
            }
            counts[ci] = cnt;
            if (have_n && cnt != nrows) {
                rc = cairn_err__set(CAIRN_INVALID, "load_json: column %s has %zu values, another has %zu", col->name, cnt, nrows);
                goto out;
            }
            have_n = 1;
            nrows = cnt;
            cairn_tbl__json_ws(columns, n, &pos);
            if (pos < n && columns[pos] == ',') {
                pos++;
                continue;
            }
            if (pos < n && columns[pos] == '}') {
                pos++;
                break;
            }
            rc = cairn_err__set(CAIRN_INVALID, "invalid JSON: expected ',' or '}' at byte %zu", pos);
            goto out;
        }
    cairn_tbl__json_ws(columns, n, &pos);
    if (pos != n) {
        rc = cairn_err__set(CAIRN_INVALID, "invalid JSON: text after the object at byte %zu", pos);
        goto out;
    }
    {
        const void **dd = (const void **)calloc(t->s.n ? t->s.n : 1, sizeof(void *));
        colsrc cs;
        if (!dd) {
            rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
            goto out;
        }
        for (c = 0; c < t->s.n; c++) {
            dd[c] = data[c];
            if (data[c] && !t->s.c[c].w) dd[c] = heaps[c].p ? (const void *)heaps[c].p : (const void *)"";
        }
        cs.data = dd;
        cs.validity = (const uint8_t *const *)valid;
        cs.offsets = (const uint64_t *const *)offs;
        rc = load_common(t, nrows, &cs, first_id);
        free(dd);
    }
out:
    UNLOCK(t);
    if (data)
        for (i = 0; i < t->s.n; i++) {
            free(data[i]);
            free(valid[i]);
            free(offs[i]);
            free(heaps[i].p);
        }
    free(data);
    free(valid);
    free(offs);
    free(heaps);
    free(counts);
    free(key.p);
    free(sc.p);
    return rc;
}

int cairn_table_row_to_json(cairn_table *t, const cairn_value *row, char **out) {
    tbuf b = {0, 0, 0};
    int rc;
    if ((rc = check_handle(t, "cairn_table_row_to_json")) != 0) return rc;
    if (!row || !out) return cairn_err__set(CAIRN_INVALID, "cairn_table_row_to_json: NULL argument");
    LOCK(t);
    rc = cairn_tbl__row_json(&t->s, row, &b);
    UNLOCK(t);
    if (rc || !(*out = cairn_tbl__buf_take(&b))) {
        free(b.p);
        return rc ? rc : CAIRN_NOMEM;
    }
    return 0;
}

/* ---- transactions ---- */

static int table_begin_(cairn_table *t) {
    int rc;
    if ((rc = check_handle(t, "cairn_table_begin")) != 0) return rc;
    LOCK(t);
    if ((rc = check_write(t)) == 0) {
        if (t->in_txn) rc = cairn_err__set(CAIRN_TXN, "%s: a transaction is already open", t->dir);
        else {
            t->in_txn = 1;
            t->nun = 0;
            t->uheap.n = 0;
            t->wbuf.n = 0;
            t->txn_next_id = t->next_id;
        }
    }
    UNLOCK(t);
    return rc;
}

static int table_commit_(cairn_table *t) {
    marks m;
    fired fo;
    int rc;
    if ((rc = check_handle(t, "cairn_table_commit")) != 0) return rc;
    memset(&fo, 0, sizeof fo);
    LOCK(t);
    if (!t->in_txn) {
        rc = t->failed ? check_write(t) : cairn_err__set(CAIRN_TXN, "%s: commit without a transaction", t->dir);
    } else if ((rc = check_write(t)) == 0) {
        memset(&m, 0, sizeof m);
        m.next_id = t->txn_next_id;
        t->in_txn = 0; /* over, whatever happens (a failed commit rolled it back) */
        rc = commit_all(t, &m, &fo, 1);
        if (!rc && t->tail.n + t->ov.n >= t->ckpt_rows) {
            if ((rc = cairn_tbl__checkpoint(t, 0)) != 0 && !t->failed) {
                rc = 0;
                cairn_errclear();
            }
        }
    }
    UNLOCK(t);
    fire(&fo);
    return rc;
}

/* roll back; ids handed out stay used (logged alone) */
static int rollback_locked(cairn_table *t) {
    marks m;
    fired fo;
    int rc = 0;
    undo_to(t, 0);
    t->wbuf.n = 0;
    t->uheap.n = 0;
    drop_events(t, 0);
    t->in_txn = 0;
    t->pend_ins = t->pend_upd = t->pend_del = 0;
    if (t->next_id != t->txn_next_id && !t->failed && !t->ro) {
        t->nextid_dirty = 1;
        memset(&m, 0, sizeof m);
        m.next_id = t->next_id;
        rc = commit_all(t, &m, &fo, 1);
        if (!rc) __atomic_fetch_sub(&t->n_commits, 1, __ATOMIC_RELAXED); /* a rollback, not a commit */
        fire(&fo);
    }
    return rc;
}

static int table_rollback_(cairn_table *t) {
    int rc;
    if ((rc = check_handle(t, "cairn_table_rollback")) != 0) return rc;
    LOCK(t);
    if (!t->in_txn) rc = t->failed ? check_write(t) : cairn_err__set(CAIRN_TXN, "%s: rollback without a transaction", t->dir);
    else rc = rollback_locked(t);
    UNLOCK(t);
    return rc;
}

int cairn_table_in_txn(cairn_table *t) {
    int rc;
    if ((rc = check_handle(t, "cairn_table_in_txn")) != 0) return rc;
    LOCK(t);
    rc = t->in_txn;
    UNLOCK(t);
    return rc;
}

static int table_sync_(cairn_table *t) {
    int rc;
    if ((rc = check_handle(t, "cairn_table_sync")) != 0) return rc;
    LOCK(t);
    if (t->failed) rc = check_write(t);
    else if (t->ro) rc = 0;
    else if (t->in_txn) rc = cairn_err__set(CAIRN_TXN, "%s: sync inside a transaction", t->dir);
    else rc = cairn_tbl__checkpoint(t, 0);
    UNLOCK(t);
    return rc;
}

static int table_compact_(cairn_table *t) {
    int rc;
    if ((rc = check_handle(t, "cairn_table_compact")) != 0) return rc;
    LOCK(t);
    if ((rc = check_write(t)) == 0) {
        if (t->in_txn) rc = cairn_err__set(CAIRN_TXN, "%s: compact inside a transaction", t->dir);
        else rc = cairn_tbl__compact(t);
    }
    UNLOCK(t);
    return rc;
}

int cairn_table_stats(cairn_table *t, struct cairn_table_stats *user) {
    struct cairn_table_stats st;
    size_t i;
    int rc;
    if ((rc = check_handle(t, "cairn_table_stats")) != 0) return rc;
    if (!user) return cairn_err__set(CAIRN_INVALID, "cairn_table_stats: NULL argument");
    if ((rc = cairn_stats__check(user->size, sizeof st, "cairn_table_stats")) != 0) return rc;
    memset(&st, 0, sizeof st);
    LOCK(t);
    st.rows = t->live;
    st.deleted_rows = t->g_dead;
    st.next_id = t->next_id;
    st.row_groups = t->ng;
    st.segments = t->ng * (t->s.n + 1);
    st.tail_rows = t->tail.n - t->tail.ndead;
    for (i = 0; i < t->ov.n; i++) st.tail_rows += !t->ov.dead[i];
    st.wal_bytes = t->wal ? cairn_wal__size(t->wal) : 0;
    st.disk_bytes = cairn_tbl__disk_bytes(t);
    st.checkpoints = t->checkpoints;
    st.columns = (uint32_t)t->s.n;
    st.in_txn = t->in_txn;
    UNLOCK(t);
    cairn_stats__copy(user, &st, sizeof st);
    return 0;
}

int cairn_table_check(const char *path) {
    if (!path) return cairn_err__set(CAIRN_INVALID, "cairn_table_check: NULL path");
    return cairn_tbl__check(path);
}

int cairn_table_repair(const char *path, uint64_t *out) {
    if (out) *out = 0;
    if (!path) return cairn_err__set(CAIRN_INVALID, "cairn_table_repair: NULL path");
    return cairn_tbl__repair(path, out);
}

/* ---- events ---- */

int cairn_table_subscribe(cairn_table *t, cairn_table_event_fn fn, void *ctx, uint64_t *id) {
    int rc;
    if ((rc = check_handle(t, "cairn_table_subscribe")) != 0) return rc;
    if (!fn) return cairn_err__set(CAIRN_INVALID, "cairn_table_subscribe: fn is NULL");
    LOCK(t);
    if (t->nsubs == t->capsubs) {
        size_t nc = t->capsubs ? t->capsubs * 2 : 4;
        tsub *p = (tsub *)realloc(t->subs, nc * sizeof *p);
        if (!p) {
            UNLOCK(t);
            return cairn_err__set(CAIRN_NOMEM, "out of memory");
        }
        t->subs = p;
        t->capsubs = nc;
    }
    t->subs[t->nsubs].id = t->next_sub++;
    t->subs[t->nsubs].fn = fn;
    t->subs[t->nsubs].ctx = ctx;
    if (id) *id = t->subs[t->nsubs].id;
    t->nsubs++;
    UNLOCK(t);
    return 0;
}

int cairn_table_unsubscribe(cairn_table *t, uint64_t id) {
    size_t i;
    int rc;
    if ((rc = check_handle(t, "cairn_table_unsubscribe")) != 0) return rc;
    rc = CAIRN_NOTFOUND;
    LOCK(t);
    for (i = 0; i < t->nsubs; i++)
        if (t->subs[i].id == id) {
            memmove(&t->subs[i], &t->subs[i + 1], (t->nsubs - i - 1) * sizeof(tsub));
            t->nsubs--;
            rc = 0;
            break;
        }
    UNLOCK(t);
    return rc;
}

/* ---- replay (recovery): apply one committed WAL record to memory ---- */

int cairn_tbl__apply_rec(cairn_table *t, unsigned type, const void *payload, size_t len) {
    const uint8_t *p = (const uint8_t *)payload;
    cairn_value *row = NULL;
    uint64_t id;
    rloc l;
    size_t i;
    int rc = 0;
    if (type == TREC_INSERTS) {
        /* (u64 id, u32 len, image)...: each as an INSERT record (id then image) */
        size_t at = 0;
        tbuf one = {0, 0, 0};
        while (!rc && at < len) {
            uint32_t il;
            if (len - at < 12) {
                rc = cairn_err__set(CAIRN_CORRUPT, "%s: INSERTS record cut short", t->wal_path);
                break;
            }
            il = cairn_get32(p + at + 8);
            if (len - at - 12 < il) {
                rc = cairn_err__set(CAIRN_CORRUPT, "%s: INSERTS record cut short", t->wal_path);
                break;
            }
            one.n = 0;
            if (tbuf_put(&one, p + at, 8) || tbuf_put(&one, p + at + 12, il)) rc = CAIRN_NOMEM;
            else rc = cairn_tbl__apply_rec(t, TREC_INSERT, one.p, one.n);
            at += 12 + (size_t)il;
        }
        free(one.p);
        return rc;
    }
    if (len < 8) return cairn_err__set(CAIRN_CORRUPT, "%s: WAL record of type %u too short", t->wal_path, type);
    id = cairn_get64(p);
    if (type == TREC_NEXTID) {
        if (id > t->next_id) t->next_id = id;
        return 0;
    }
    if (type != TREC_INSERT && type != TREC_UPDATE && type != TREC_DELETE)
        return cairn_err__set(CAIRN_CORRUPT, "%s: unknown WAL record type %u", t->wal_path, type);
    if (type != TREC_DELETE) {
        if (!(row = (cairn_value *)malloc((t->s.n ? t->s.n : 1) * sizeof *row))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        if ((rc = cairn_tbl__row_decode(&t->s, p + 8, len - 8, row)) != 0) {
            free(row);
            return cairn_err__set(CAIRN_CORRUPT, "%s: WAL record of row %llu: %s", t->wal_path, (unsigned long long)id, cairn_errmsg());
        }
        for (i = 0; i < t->s.n; i++)
            if ((rc = cairn_tbl__check_value(&t->s.c[i], &row[i])) != 0 || (row[i].is_null && !t->s.c[i].nullable)) {
                free(row);
                return cairn_err__set(CAIRN_CORRUPT, "%s: WAL record of row %llu: bad value of column %s", t->wal_path,
                                      (unsigned long long)id, t->s.c[i].name);
            }
    }
    if (type == TREC_INSERT) {
        if (id == 0 || (t->tail.n && id <= t->tail.ids[t->tail.n - 1]) || (t->ng && id <= t->g[t->ng - 1].last_id)) {
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: WAL inserts row %llu out of order", t->wal_path, (unsigned long long)id);
        } else if ((rc = cairn_tbl__rs_append(&t->tail, &t->s, id, row)) == 0) {
            t->live++;
            if (id >= t->next_id) t->next_id = id + 1;
        }
    } else {
        rc = find_row(t, id, &l);
        if (rc == CAIRN_NOTFOUND)
            rc = cairn_err__set(CAIRN_CORRUPT, "%s: WAL %s row %llu, which does not exist", t->wal_path,
                                type == TREC_UPDATE ? "updates" : "deletes", (unsigned long long)id);
        if (!rc && type == TREC_UPDATE) {
            if (l.where == 2) {
                if ((rc = cairn_tbl__rs_append(&t->ov, &t->s, id, row)) == 0)
                    rc = cairn_tbl__idmap_put(&t->ovmap, id, t->ov.n - 1);
            } else {
                for (i = 0; !rc && i < t->s.n; i++) rc = cairn_tbl__rs_set(l.where ? &t->ov : &t->tail, &t->s, l.pos, i, &row[i]);
            }
        } else if (!rc) {
            if (l.where == 0) {
                t->tail.dead[l.pos] = 1;
                t->tail.ndead++;
            } else {
                size_t gi = l.pos;
                uint32_t gp = l.gpos;
                if (l.where == 1) {
                    t->ov.dead[l.pos] = 1;
                    t->ov.ndead++;
                    cairn_tbl__idmap_del(&t->ovmap, id);
                    rc = cairn_tbl__group_find(t, id, &gi, &gp);
                }
                if (!rc) rc = group_del_bitmap(t, gi);
                if (!rc) group_mark(t, gi, gp, 1);
            }
            if (!rc) t->live--;
        }
    }
    free(row);
    return rc;
}

/* ---- iteration ---- */

struct cairn_table_iter {
    cairn_table *t;
    uint32_t gen;
    tschema s;
    rgroup *g;          /* snapshot of the row groups (bitmaps copied, files referenced) */
    size_t ng;
    rstore tail, ov;    /* copies */
    idmap ovmap;
    size_t gi;          /* current group */
    uint32_t gp;        /* next position in it */
    int loaded;
    cairn_colvec ids, *cv;
    size_t tp;          /* next tail position */
    cairn_value *row;
    tbuf json;
};

static int rs_clone(const rstore *src, const tschema *s, rstore *dst) {
    size_t i;
    int rc;
    if ((rc = cairn_tbl__rs_init(dst, s)) != 0) return rc;
    if (!src->n) return 0;
    if ((rc = cairn_tbl__rs_reserve(dst, s, src->n)) != 0) return rc;
    memcpy(dst->ids, src->ids, src->n * 8);
    memcpy(dst->dead, src->dead, src->n);
    for (i = 0; i < s->n; i++) {
        const tcol *c = &s->c[i];
        memcpy(dst->c[i].nul, src->c[i].nul, src->n);
        if (c->w) memcpy(dst->c[i].v, src->c[i].v, src->n * c->w);
        else {
            memcpy(dst->c[i].vo, src->c[i].vo, src->n * 8);
            memcpy(dst->c[i].vl, src->c[i].vl, src->n * 4);
            if (tbuf_put(&dst->c[i].heap, src->c[i].heap.p, src->c[i].heap.n)) return CAIRN_NOMEM;
        }
    }
    dst->n = src->n;
    dst->ndead = src->ndead;
    return 0;
}

static void iter_unload(cairn_table_iter *it) {
    size_t i;
    if (!it->loaded) return;
    cairn_seg__free_vec(&it->ids);
    for (i = 0; i < it->s.n; i++) cairn_seg__free_vec(&it->cv[i]);
    it->loaded = 0;
}

void cairn_table_iter_free(cairn_table_iter *it) {
    if (!it) return;
    iter_unload(it);
    free(it->cv);
    cairn_tbl__groups_free(it->g, it->ng, it->s.n);
    cairn_tbl__rs_free(&it->tail);
    cairn_tbl__rs_free(&it->ov);
    cairn_tbl__idmap_free(&it->ovmap);
    cairn_tbl__schema_free(&it->s);
    free(it->row);
    free(it->json.p);
    free(it);
}

int cairn_table_iter_open(cairn_table_iter **out, cairn_table *t) {
    cairn_table_iter *it;
    size_t i, c;
    int rc;
    if (!out) return cairn_err__set(CAIRN_INVALID, "cairn_table_iter_open: out is NULL");
    *out = NULL;
    if ((rc = check_handle(t, "cairn_table_iter_open")) != 0) return rc;
    if (!(it = (cairn_table_iter *)calloc(1, sizeof *it))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    it->t = t;
    it->gen = t->gen;
    LOCK(t);
    rc = cairn_tbl__schema_copy(&t->s, &it->s);
    if (!rc && !(it->row = (cairn_value *)calloc(t->s.n ? t->s.n : 1, sizeof(cairn_value)))) rc = CAIRN_NOMEM;
    if (!rc && !(it->cv = (cairn_colvec *)calloc(t->s.n ? t->s.n : 1, sizeof(cairn_colvec)))) rc = CAIRN_NOMEM;
    if (!rc) rc = rs_clone(&t->tail, &t->s, &it->tail);
    if (!rc) rc = rs_clone(&t->ov, &t->s, &it->ov);
    if (!rc && t->ovmap.n) {
        for (i = 0; !rc && i < t->ovmap.cap; i++)
            if (t->ovmap.k[i]) rc = cairn_tbl__idmap_put(&it->ovmap, t->ovmap.k[i], t->ovmap.v[i]);
    }
    if (!rc && t->ng) {
        if (!(it->g = (rgroup *)calloc(t->ng, sizeof(rgroup)))) rc = CAIRN_NOMEM;
        for (i = 0; !rc && i < t->ng; i++) {
            rgroup *d = &it->g[i];
            const rgroup *sg = &t->g[i];
            *d = *sg;
            d->cols = NULL;
            d->del = NULL;
            it->ng = i + 1;
            if (!(d->cols = (segref *)malloc(t->s.n * sizeof(segref)))) {
                rc = CAIRN_NOMEM;
                break;
            }
            memcpy(d->cols, sg->cols, t->s.n * sizeof(segref));
            if (sg->del) {
                if (!(d->del = (uint8_t *)malloc((sg->nrows + 7) / 8))) {
                    rc = CAIRN_NOMEM;
                    break;
                }
                memcpy(d->del, sg->del, (sg->nrows + 7) / 8);
            }
            __atomic_add_fetch(&d->ids.file->refs, 1, __ATOMIC_RELAXED);
            for (c = 0; c < t->s.n; c++) __atomic_add_fetch(&d->cols[c].file->refs, 1, __ATOMIC_RELAXED);
        }
    }
    UNLOCK(t);
    if (rc) {
        if (rc == CAIRN_NOMEM) cairn_err__set(CAIRN_NOMEM, "out of memory");
        cairn_table_iter_free(it);
        return rc;
    }
    *out = it;
    return 0;
}

static int iter_step(cairn_table_iter *it, uint64_t *id) {
    size_t c;
    int rc;
    if (cairn_fork__foreign(it->gen)) return cairn_fork__err("cairn_table_iter_next");
    while (it->gi < it->ng) {
        rgroup *g = &it->g[it->gi];
        if (!it->loaded) {
            rc = cairn_tbl__group_decode(g->ids.file, &g->ids, CAIRN_TYPE_U64, 0, &it->ids);
            for (c = 0; !rc && c < it->s.n; c++)
                rc = cairn_tbl__group_decode(g->cols[c].file, &g->cols[c], it->s.c[c].type, it->s.c[c].fixed_len, &it->cv[c]);
            it->loaded = 1;
            if (rc) {
                iter_unload(it);
                return rc;
            }
        }
        while (it->gp < g->nrows) {
            uint32_t p = it->gp++;
            uint64_t rid = ((const uint64_t *)it->ids.data)[p], op;
            if (grp_deleted(g, p)) continue;
            if (it->ovmap.n && cairn_tbl__idmap_get(&it->ovmap, rid, &op)) {
                for (c = 0; c < it->s.n; c++) cairn_tbl__rs_get(&it->ov, &it->s, (size_t)op, c, &it->row[c]);
            } else {
                for (c = 0; c < it->s.n; c++) cairn_tbl__colvec_get(&it->cv[c], &it->s.c[c], p, &it->row[c]);
            }
            *id = rid;
            return 0;
        }
        iter_unload(it);
        it->gi++;
        it->gp = 0;
    }
    while (it->tp < it->tail.n) {
        size_t p = it->tp++;
        if (it->tail.dead[p]) continue;
        for (c = 0; c < it->s.n; c++) cairn_tbl__rs_get(&it->tail, &it->s, p, c, &it->row[c]);
        *id = it->tail.ids[p];
        return 0;
    }
    return CAIRN_ITEROVER;
}

int cairn_table_iter_next(cairn_table_iter *it, uint64_t *id, const cairn_value **row) {
    uint64_t rid = 0;
    int rc;
    if (!it) return cairn_err__set(CAIRN_INVALID, "cairn_table_iter_next: NULL iterator");
    if ((rc = iter_step(it, &rid)) != 0) return rc;
    if (id) *id = rid;
    if (row) *row = it->row;
    return 0;
}

int cairn_table_iter_next_json(cairn_table_iter *it, uint64_t *id, const char **row) {
    uint64_t rid = 0;
    int rc;
    if (!it) return cairn_err__set(CAIRN_INVALID, "cairn_table_iter_next_json: NULL iterator");
    if ((rc = iter_step(it, &rid)) != 0) return rc;
    if (id) *id = rid;
    if (row) {
        it->json.n = 0;
        if (cairn_tbl__row_json(&it->s, it->row, &it->json) || tbuf_put(&it->json, "", 1)) return CAIRN_NOMEM;
        *row = (const char *)it->json.p;
    }
    return 0;
}

/* The directory the table was opened on (the `store` label of cairn_table_metrics; metrics.h). */
const char *cairn_table__path(const cairn_table *t) { return t->dir; }

/* ---- the public calls that count their errors (cairn_table_metrics) ---- */

/* Count a public call's error by its code; returns rc. */
static int tres(cairn_table *t, int rc) {
    if (rc < 0 && rc > -32 && t) cairn_tbl__count(&t->n_errors[-rc], 1);
    return rc;
}

int cairn_table_insert(cairn_table *t, const cairn_value *row, size_t ncols, uint64_t *id) {
    return tres(t, table_insert_(t, row, ncols, id));
}

int cairn_table_get(cairn_table *t, uint64_t id, cairn_value **out) {
    return tres(t, table_get_(t, id, out));
}

int cairn_table_update(cairn_table *t, uint64_t id, const size_t *cols, const cairn_value *vals, size_t n) {
    return tres(t, table_update_(t, id, cols, vals, n));
}

int cairn_table_delete(cairn_table *t, uint64_t id) {
    return tres(t, table_delete_(t, id));
}

int cairn_table_load_columns(cairn_table *t, size_t n, const void *const *data, const uint8_t *const *validity,
                             const uint64_t *const *offsets, uint64_t *first_id) {
    return tres(t, table_load_columns_(t, n, data, validity, offsets, first_id));
}

int cairn_table_insert_json(cairn_table *t, const char *row, uint64_t *id) {
    return tres(t, table_insert_json_(t, row, id));
}

int cairn_table_insert_many_json(cairn_table *t, const char *rows, char **ids) {
    return tres(t, table_insert_many_json_(t, rows, ids));
}

int cairn_table_upsert_json(cairn_table *t, const char *row, uint64_t *id) {
    return tres(t, table_upsert_json_(t, row, id));
}

int cairn_table_get_json(cairn_table *t, uint64_t id, char **row) {
    return tres(t, table_get_json_(t, id, row));
}

int cairn_table_update_json(cairn_table *t, uint64_t id, const char *changes) {
    return tres(t, table_update_json_(t, id, changes));
}

int cairn_table_load_json(cairn_table *t, const char *columns, uint64_t *first_id) {
    return tres(t, table_load_json_(t, columns, first_id));
}

int cairn_table_begin(cairn_table *t) {
    return tres(t, table_begin_(t));
}

int cairn_table_commit(cairn_table *t) {
    return tres(t, table_commit_(t));
}

int cairn_table_rollback(cairn_table *t) {
    return tres(t, table_rollback_(t));
}

int cairn_table_sync(cairn_table *t) {
    return tres(t, table_sync_(t));
}

int cairn_table_compact(cairn_table *t) {
    return tres(t, table_compact_(t));
}

int cairn_table_add_column(cairn_table *t, const char *spec) {
    return tres(t, table_add_column_(t, spec));
}

void cairn_table__counters(cairn_table *t, cairn_table_counters *c) {
    size_t i;
    memset(c, 0, sizeof *c);
    if (!t) return;
    c->inserts = __atomic_load_n(&t->n_inserts, __ATOMIC_RELAXED);
    c->updates = __atomic_load_n(&t->n_updates, __ATOMIC_RELAXED);
    c->deletes = __atomic_load_n(&t->n_deletes, __ATOMIC_RELAXED);
    c->gets = __atomic_load_n(&t->n_gets, __ATOMIC_RELAXED);
    c->commits = __atomic_load_n(&t->n_commits, __ATOMIC_RELAXED);
    c->written_bytes = __atomic_load_n(&t->n_written, __ATOMIC_RELAXED);
    c->fsyncs = __atomic_load_n(&t->n_fsyncs, __ATOMIC_RELAXED);
    LOCK(t);
    if (t->wal) c->fsyncs += cairn_wal__fsyncs(t->wal);
    UNLOCK(t);
    for (i = 0; i < 32; i++) c->errors[i] = __atomic_load_n(&t->n_errors[i], __ATOMIC_RELAXED);
}
