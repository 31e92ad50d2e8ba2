/*
 * table_internal.h - the table engine's internals, shared by its files (not installed).
 *
 *   table_schema.c  schema: parse (text and JSON), canonical text, JSON form; value checks;
 *                   the binary row codec (WAL records, undo images)
 *   table_json.c    JSON rows in and out (the bindings' edge), load_json
 *   table_mem.c     the in-memory column store (tail and overlays) and the unique indexes
 *   table.c         handle, open/close, rows, transactions, WAL, events, iteration
 *   table_store.c   the on-disk format (FORMAT comment): manifest, segment files, checkpoint,
 *                   compact, check, add_column
 *
 * Memory layout of the rows:
 *
 *   row groups (checkpointed, immutable segments in seg-*.dat files, one per column + ids)
 *     [g0: ids 1..122880][g1: ...]...      + a delete bitmap per group (in memory, in the manifest)
 *   overlays (rstore ov): new values of checkpointed rows, by id (hash id -> position)
 *   tail (rstore tail): rows inserted since the last checkpoint, ids increasing
 *
 *   rstore: ids[n] | dead[n] | per column: fixed-width values v[n*w] (the C type's width, as a
 *           cairn_colvec holds them) and nul[n] (1 = null); string/bytes: vo[n]/vl[n] into an
 *           append-only heap (an update appends; a checkpoint drops the garbage).
 */
#ifndef CAIRN_TABLE_INTERNAL_H
#define CAIRN_TABLE_INTERNAL_H

#include "cairn.h"
#include "util.h"
#include "wal/wal.h"
#include "table/seg.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define TBL_NAME_MAX 64
#define TBL_COLS_MAX 1024
#define TBL_CKPT_DEFAULT 122880u

/* WAL record types of the table */
#define TREC_INSERT 1u  /* u64 id, row image */
#define TREC_UPDATE 2u  /* u64 id, row image (the whole new row) */
#define TREC_DELETE 3u  /* u64 id */
#define TREC_NEXTID 4u  /* u64 next_id (ids handed out by a rolled-back transaction stay used) */
#define TREC_INSERTS 5u /* consecutive inserts of one transaction: (u64 id, u32 len, row image)... */
#define TBL_BATCH_BYTES (1u << 20) /* an INSERTS record holds up to about this many bytes */

/* ---- schema ---- */

typedef struct tcol {
    char name[TBL_NAME_MAX + 1];
    int type;
    uint32_t fixed_len;
    int nullable, pk, unique;
    int has_def;          /* a default other than null */
    cairn_value def;      /* the default (bytes point into defbuf) */
    uint8_t *defbuf;
    size_t w;             /* width in an rstore / colvec (0: variable) */
} tcol;

typedef struct tschema {
    size_t n;
    tcol *c;
    int pk;               /* column index, -1: none */
} tschema;

void cairn_tbl__schema_free(tschema *s);
/* Parse text or JSON (first non-space char '['). INVALID with the position. */
int cairn_tbl__schema_parse(const char *text, tschema *out);
/* Parse one column spec (text form) */
int cairn_tbl__column_parse(const char *text, tcol *out);
int cairn_tbl__schema_text(const tschema *s, char **out);
int cairn_tbl__schema_json(const tschema *s, char **out);
int cairn_tbl__schema_copy(const tschema *s, tschema *out);
int cairn_tbl__col_copy(const tcol *src, tcol *dst);
void cairn_tbl__col_free(tcol *c);
size_t cairn_tbl__type_width(int type, uint32_t fixed_len);
const char *cairn_tbl__type_name(int type);

/* growable byte buffer */
typedef struct tbuf {
    uint8_t *p;
    size_t n, cap;
} tbuf;
int cairn_tbl__buf_grow(tbuf *b, size_t add);
static inline int tbuf_put(tbuf *b, const void *p, size_t n) {
    if (b->n + n > b->cap && cairn_tbl__buf_grow(b, n)) return CAIRN_NOMEM;
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}
int cairn_tbl__buf_printf(tbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* NUL-terminate and hand over (malloc'd); the buffer is emptied */
char *cairn_tbl__buf_take(tbuf *b);

/* Check one value against column c (typed API): TYPE/RANGE/INVALID/TOOBIG. Does not apply
 * defaults or NOT NULL. */
int cairn_tbl__check_value(const tcol *c, const cairn_value *v);
int cairn_tbl__utf8_valid(const uint8_t *s, size_t n);
/* Row image (binary): null bitmap, then each non-null value (fixed: w bytes LE; variable: u32
 * length + bytes). */
int cairn_tbl__row_encode(const tschema *s, const cairn_value *row, tbuf *out);
/* Decode an image into row (ncols values; bytes borrowed from img). CORRUPT if malformed. */
int cairn_tbl__row_decode(const tschema *s, const uint8_t *img, size_t len, cairn_value *row);
/* Value equality (same column) */
int cairn_tbl__value_eq(const tcol *c, const cairn_value *a, const cairn_value *b);
/* Append a value as JSON */
int cairn_tbl__value_json(const tcol *c, const cairn_value *v, tbuf *out);
int cairn_tbl__row_json(const tschema *s, const cairn_value *row, tbuf *out);
/* Short text of a value for messages */
void cairn_tbl__value_str(const tcol *c, const cairn_value *v, char *buf, size_t n);

/* ---- JSON input (table_json.c) ---- */

typedef struct jrow {
    cairn_value *v;    /* ncols values */
    uint8_t *given;    /* ncols flags: present in the JSON object */
    tbuf scratch;      /* decoded strings/bytes (values point here: fix up after parse) */
    size_t *soff;      /* per column: offset into scratch (strings/bytes) */
} jrow;
int cairn_tbl__jrow_init(jrow *r, size_t ncols);
void cairn_tbl__jrow_free(jrow *r);
/* Parse one JSON row object from s[*pos..n) into r (given[] marks the present columns). */
int cairn_tbl__json_row(const tschema *s, const char *txt, size_t n, size_t *pos, jrow *r);
int cairn_tbl__json_ws(const char *s, size_t n, size_t *pos);
/* Parse the value of column c at s[*pos], into v (bytes into scratch, recorded in *soff) */
int cairn_tbl__json_value(const tcol *c, const char *s, size_t n, size_t *pos, cairn_value *v, tbuf *scratch,
                          size_t *soff);
int cairn_tbl__json_string(const char *s, size_t n, size_t *pos, tbuf *out);

/* ---- in-memory column store (table_mem.c) ---- */

typedef struct mcol {
    uint8_t *v;           /* fixed: n*w bytes */
    uint8_t *nul;         /* n bytes, 1 = null */
    uint64_t *vo;         /* variable: heap offsets */
    uint32_t *vl;         /* variable: lengths */
    tbuf heap;
} mcol;

typedef struct rstore {
    size_t n, cap, ncols;
    uint64_t *ids;
    uint8_t *dead;        /* 1 = deleted */
    mcol *c;
    size_t ndead;
} rstore;

int cairn_tbl__rs_init(rstore *r, const tschema *s);
void cairn_tbl__rs_free(rstore *r);
void cairn_tbl__rs_clear(rstore *r); /* n = 0, heaps emptied */
int cairn_tbl__rs_reserve(rstore *r, const tschema *s, size_t n);
int cairn_tbl__rs_append(rstore *r, const tschema *s, uint64_t id, const cairn_value *row);
int cairn_tbl__rs_set(rstore *r, const tschema *s, size_t pos, size_t col, const cairn_value *v);
void cairn_tbl__rs_get(const rstore *r, const tschema *s, size_t pos, size_t col, cairn_value *v);
void cairn_tbl__rs_truncate(rstore *r, size_t n);
/* Binary search of id in ids[0..n) (sorted): position or -1 */
long cairn_tbl__rs_find_sorted(const rstore *r, uint64_t id);
/* Add a column to a store (every row gets `v`) */
int cairn_tbl__rs_add_col(rstore *r, const tschema *s, size_t col, const cairn_value *v);
/* Column col of rows [from, from+cnt) (skipping dead ones when live_only) as a colvec (owned) */
int cairn_tbl__rs_colvec(const rstore *r, const tschema *s, size_t col, const uint32_t *sel, size_t nsel,
                         cairn_colvec *out);

/* hash id -> position */
typedef struct idmap {
    uint64_t *k;
    uint64_t *v;
    size_t cap, n;
} idmap;
int cairn_tbl__idmap_put(idmap *m, uint64_t k, uint64_t v);
int cairn_tbl__idmap_get(const idmap *m, uint64_t k, uint64_t *v);
void cairn_tbl__idmap_del(idmap *m, uint64_t k);
void cairn_tbl__idmap_free(idmap *m);
void cairn_tbl__idmap_clear(idmap *m);

/* hash index: value -> ids (nulls are not indexed). One slot per distinct value: its id inline
 * (cnt 1) or a posting list (cnt > 1). A UNIQUE / PRIMARY KEY column's index (uniq) never holds a
 * value twice: the writers check with ui_find first. */
typedef struct uslot {
    uint64_t key;   /* fixed <= 8 bytes: the value; else heap offset of (u32 length, bytes) */
    uint64_t id;
    uint32_t h;     /* the hash's top 32 bits | 1 (0 = empty): its home and a quick filter */
    uint32_t cnt;   /* ids holding the value: 1 = `id` is the id, else `id` indexes u->pl */
} uslot;            /* 24 bytes */
typedef struct upost {
    uint64_t *ids;  /* unordered */
    uint32_t n, cap;
} upost;
typedef struct uindex {
    int col;
    int uniq;       /* PRIMARY KEY / UNIQUE (implicit); else a declared hash index */
    uslot *s;
    size_t cap, n;
    tbuf heap;      /* keys of variable/fixed-bytes columns (garbage collected by rebuilds) */
    upost *pl;      /* posting lists */
    size_t npl, capl;
    uint64_t *freepl; /* unused posting list indexes */
    size_t nfree, capfree;
    int shift;      /* a slot's home: hash >> shift (the top log2(cap) bits) */
} uindex;
/* one value for a bulk build: hash, key bits (fixed-width columns), id */
typedef struct uent {
    uint64_t h, key, i;
} uent;
void cairn_tbl__ui_ent(const tcol *c, const cairn_value *v, uint64_t id, uent *out);
/* Add n entries of a fixed-width column at once (sorted here by hash: sequential probes). In a
 * unique index a value twice is CAIRN_CONSTRAINT with the two ids (no message set). */
int cairn_tbl__ui_bulk(uindex *u, const tcol *c, uent *e, size_t n, uint64_t *dup_a, uint64_t *dup_b);
/* id of a row holding value v (0: none) */
uint64_t cairn_tbl__ui_find(const uindex *u, const tcol *c, const cairn_value *v);
/* every id holding v, appended to *ids (growable: *n used, *cap allocated; unordered) */
int cairn_tbl__ui_find_all(const uindex *u, const tcol *c, const cairn_value *v, uint64_t **ids, size_t *n, size_t *cap);
int cairn_tbl__ui_add(uindex *u, const tcol *c, const cairn_value *v, uint64_t id);
/* room for n values without a resize */
int cairn_tbl__ui_reserve(uindex *u, size_t n);
/* Add column col of rows [base, base+n) of r (ids first_id + i) to a unique index, all or
 * nothing, in slot order (sequential probes): a value in the index already or twice in the batch
 * is CAIRN_CONSTRAINT with *dup the batch row and *other the id holding the value (no message
 * set). */
int cairn_tbl__ui_add_batch(uindex *u, const tcol *c, const rstore *r, const tschema *s, size_t col, size_t base, size_t n,
                            uint64_t first_id, size_t *dup, uint64_t *other);
void cairn_tbl__ui_del(uindex *u, const tcol *c, const cairn_value *v, uint64_t id);
void cairn_tbl__ui_free(uindex *u);
/* hash of a value as the index keys it (numbers by exact value) */
uint64_t cairn_tbl__ui_hash(const tcol *c, const cairn_value *v);

/* range index (index.c): (key, id) sorted, plus unsorted pending adds and the ids whose sorted
 * entry is stale; merged when they grow. Keys: numbers and bools as order-preserving u64,
 * strings/bytes as heap offset + length (bytewise order). */
typedef struct rentry {
    uint64_t key;
    uint64_t id;
    uint32_t len;
} rentry;
typedef struct ridx {
    int col;
    rentry *e;      /* sorted by (key, id) */
    size_t n, cap;
    rentry *pend;   /* adds since the last merge */
    size_t np, capp;
    idmap pmap;     /* id -> position in pend */
    idmap stale;    /* ids whose entry in e is no longer valid */
    tbuf heap;
} ridx;

/* a declared index (stored in the manifest) */
typedef struct tidxdef {
    int col;
    int kind;       /* CAIRN_INDEX_HASH / CAIRN_INDEX_RANGE */
} tidxdef;

/* a column-batch source (load_columns' arguments) */
typedef struct colsrc {
    const void *const *data;
    const uint8_t *const *validity;
    const uint64_t *const *offsets;
} colsrc;

/* a bulk load written straight into segments by the next checkpoint (rows [0, n), ids from
 * first_id) */
typedef struct tdirect {
    const colsrc *cs;
    size_t n;
    uint64_t first_id;
} tdirect;

/* ---- on-disk pieces (table_store.c) ---- */

typedef struct segfile {
    uint32_t num;
    uint64_t size;
    cairn_file *f;
    const uint8_t *map;     /* read-only mapping of the whole file (made on first point read) */
    int refs;               /* atomic */
} segfile;

typedef struct segref {
    segfile *file;
    uint64_t off, len;
    uint8_t enc;
    uint8_t verified;       /* CRC checked through the mapping */
    uint8_t zone[72];       /* the zone map as stored in the manifest */
} segref;

typedef struct rgroup {
    uint64_t first_id, last_id;
    uint32_t nrows, ndel;
    segref ids;
    segref *cols;           /* ncols */
    uint8_t *del;           /* (nrows+7)/8 bytes, bit set = deleted (NULL: none) */
} rgroup;

/* raw segment cache entry (verified once; values read with cairn_seg__get) */
typedef struct rcache {
    segfile *file;
    uint64_t off;
    uint8_t *bytes;
    size_t len;
    uint64_t tick;
} rcache;
#define TBL_RCACHE 256
#define TBL_RCACHE_BYTES (32u << 20)

/* decoded segment cache entry */
typedef struct dcache {
    segfile *file;
    uint64_t off;
    cairn_colvec vec;
    uint64_t tick;
} dcache;
#define TBL_DCACHE 16

typedef struct tevent {
    int ev;
    uint64_t id;
    char *new_row, *old_row;
} tevent;

typedef struct tsub {
    uint64_t id;
    cairn_table_event_fn fn;
    void *ctx;
} tsub;

/* undo of one change inside an open operation or transaction */
typedef struct tundo {
    int kind;               /* 1 insert (tail append), 2 update, 3 delete */
    uint64_t id;
    size_t img_off, img_len; /* update/delete: the old row image in t->uheap */
    int where;              /* 0 tail, 1 overlay, 2 row group */
    size_t pos;             /* tail/overlay position, or group index */
    uint32_t gpos;          /* position in the row group */
    int ov_new;             /* update: the overlay entry was created by this change */
} tundo;

struct cairn_table {
    pthread_mutex_t mu;
    char *dir, *man_path, *wal_path;
    cairn_lock *lock;
    cairn_wal *wal;
    uint32_t gen;
    int ro, sync, failed;
    uint32_t ckpt_rows;
    tschema s;
    /* checkpointed state */
    rgroup *g;
    size_t ng, capg;
    uint64_t man_lsn;       /* LSN in the manifest */
    uint64_t man_gen;       /* manifest generation counter */
    uint64_t man_next_id;   /* next_id in the manifest */
    int man_clean;          /* the manifest says CLEAN: written at close, the WAL held nothing more */
    int closing;            /* the next manifest is the close's (CLEAN) */
    unsigned lock_timeout;
    uint32_t man_salt;
    uint32_t next_file;
    segfile **files;        /* open segment files of the manifest */
    size_t nfiles;
    uint64_t g_rows, g_dead; /* rows in row groups, deleted among them */
    int dirty;              /* changes not in the manifest (deletes of checkpointed rows) */
    /* memory */
    rstore tail;
    rstore ov;
    idmap ovmap;            /* id -> overlay position */
    uint64_t next_id;
    uint64_t live;          /* live rows */
    uindex *ui;             /* hash indexes: UNIQUE / PRIMARY KEY and declared (built lazily) */
    size_t nui;
    ridx *ri;               /* range indexes (built with ui) */
    size_t nri;
    int ui_built;
    tidxdef *idef;          /* declared indexes (the manifest's) */
    size_t nidef;
    /* operation / transaction */
    int in_txn;
    tbuf wbuf;              /* pending WAL records: u8 type, u32 len, payload */
    size_t wmark;           /* start of the open operation's records */
    tundo *un;
    size_t nun, capun;
    tbuf uheap;
    uint64_t txn_next_id;   /* next_id at begin */
    int nextid_dirty;       /* next_id must be logged (ids of a rolled-back txn) */
    tevent *ev;
    size_t nev, capev;
    tsub *subs;
    size_t nsubs, capsubs;
    uint64_t next_sub;
    /* cache */
    dcache dc[TBL_DCACHE];
    uint64_t dtick;
    rcache rc[TBL_RCACHE];
    size_t rc_bytes;
    const tdirect *direct;  /* set around a checkpoint that writes a bulk load */
    /* stats */
    uint64_t checkpoints;
    tbuf scratch;
    /* per-handle operation counters (cairn_table_metrics; metrics.h): relaxed atomic adds and
     * loads. Rows changed by an operation are pending until it (or its transaction) commits. */
    uint64_t pend_ins, pend_upd, pend_del;
    uint64_t n_inserts, n_updates, n_deletes, n_gets, n_commits, n_written, n_fsyncs;
    uint64_t n_errors[32];  /* public calls that returned code -i, by i */
};
/* count an operation counter (relaxed atomic add) */
static inline void cairn_tbl__count(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }

int cairn_tbl__fail(cairn_table *t, int rc);
/* a commit: pending row counts become the handle's counters, commits + 1 (table.c) */
void cairn_tbl__count_commit(cairn_table *t);
/* store */
int cairn_tbl__load(cairn_table *t, const char *schema_opt, int create);
int cairn_tbl__checkpoint(cairn_table *t, int force);
/* Before the first change after opening a CLEAN table: a manifest without CLEAN */
int cairn_tbl__mark_dirty(cairn_table *t);
int cairn_tbl__group_find(const cairn_table *t, uint64_t id, size_t *gi, uint32_t *pos);
int cairn_tbl__group_row(cairn_table *t, size_t gi, uint32_t pos, cairn_value *row, tbuf *bytes);
int cairn_tbl__group_decode(segfile *f, const segref *r, int type, uint32_t fixed_len, cairn_colvec *out);
void cairn_tbl__colvec_get(const cairn_colvec *v, const tcol *c, size_t i, cairn_value *out);
void cairn_tbl__dcache_clear(cairn_table *t);
void cairn_tbl__segfile_unref(segfile *f);
void cairn_tbl__groups_free(rgroup *g, size_t ng, size_t ncols);
int cairn_tbl__compact(cairn_table *t);
int cairn_tbl__add_column(cairn_table *t, const tcol *c);
int cairn_tbl__check(const char *path);
int cairn_tbl__repair(const char *path, uint64_t *fixed);
uint64_t cairn_tbl__disk_bytes(cairn_table *t);
/* the core (table.c) */
int cairn_tbl__apply_rec(cairn_table *t, unsigned type, const void *payload, size_t len);
int cairn_tbl__build_indexes(cairn_table *t);
/* a live row by id (NOTFOUND if absent); bytes as cairn_tbl__group_row */
int cairn_tbl__get_row(cairn_table *t, uint64_t id, cairn_value *row, tbuf *bytes);
/* index.c: keep every index in step with one row (no-ops until built) */
int cairn_tbl__ix_add_row(cairn_table *t, const cairn_value *row, uint64_t id);
void cairn_tbl__ix_del_row(cairn_table *t, const cairn_value *row, uint64_t id);
int cairn_tbl__ix_update_row(cairn_table *t, const cairn_value *oldr, const cairn_value *newr, uint64_t id);
void cairn_tbl__ix_free(cairn_table *t);
int cairn_tbl__ri_add(ridx *r, const tcol *c, const cairn_value *v, uint64_t id);
int cairn_tbl__ri_del(ridx *r, const tcol *c, const cairn_value *v, uint64_t id);
void cairn_tbl__ri_free(ridx *r);

static inline int grp_deleted(const rgroup *g, uint32_t pos) {
    return g->del && (g->del[pos >> 3] >> (pos & 7)) & 1;
}

#endif /* CAIRN_TABLE_INTERNAL_H */
