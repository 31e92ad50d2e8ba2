/* kv_txn.c - the transaction overlay of the KV: a transaction's writes, held in memory until commit
 * (reads through the handle see them first). Caller holds wmu and the write lock for changes. */
#include "kv_internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- transaction overlay -------------------------------------------------------------------- */

/* A slot holds the op's hash beside its index: a probe reads an op (a cache miss in a large
 * transaction) only for a slot whose hash matches. */
#define OSLOT(hash, idx) (((uint64_t)(hash) << 32) | (uint64_t)((idx) + 1u))

txn_op *cairn_kv__txn_find(cairn_kv *kv, const void *key, size_t klen, uint32_t hash) {
    uint32_t i;
    if (!kv->oslots) return NULL;
    for (i = hash & kv->omask; kv->oslots[i]; i = (i + 1) & kv->omask) {
        const uint64_t sl = kv->oslots[i];
        txn_op *op;
        if ((uint32_t)(sl >> 32) != hash) continue;
        op = &kv->ops[(uint32_t)sl - 1u];
        if (op->klen == klen && memcmp(op->buf, key, klen) == 0) return op;
    }
    return NULL;
}

static int txn_index(cairn_kv *kv, uint32_t cap) {
    uint64_t *s = (uint64_t *)calloc(cap, sizeof *s);
    uint32_t i;
    if (!s) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (transaction index)");
    free(kv->oslots);
    kv->oslots = s;
    kv->omask = cap - 1;
    for (i = 0; i < kv->nops; i++) {
        uint32_t j = kv->ops[i].hash & kv->omask;
        while (s[j]) j = (j + 1) & kv->omask;
        s[j] = OSLOT(kv->ops[i].hash, i);
    }
    return 0;
}

/* Keys and values of a transaction live in chunks freed together at its end (a malloc and a
 * free per write cost 4% of a load in transactions). */
#define TXN_CHUNK ((size_t)64 << 10)

struct txn_chunk {
    struct txn_chunk *next;
    size_t used, cap;
    uint8_t data[1];
};

static uint8_t *txn_space(cairn_kv *kv, size_t n) {
    struct txn_chunk *c = kv->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > TXN_CHUNK / 4 ? n : TXN_CHUNK;
        if (!(c = (struct txn_chunk *)malloc(offsetof(struct txn_chunk, data) + cap))) return NULL;
        c->used = 0;
        c->cap = cap;
        if (n > TXN_CHUNK / 4 && kv->chunks) {
            /* a large value gets a chunk of its own, behind the one still being filled */
            c->next = kv->chunks->next;
            kv->chunks->next = c;
        } else {
            c->next = kv->chunks;
            kv->chunks = c;
        }
    }
    c->used += n;
    return c->data + c->used - n;
}

void cairn_kv__txn_clear(cairn_kv *kv) {
    while (kv->chunks) {
        struct txn_chunk *c = kv->chunks;
        kv->chunks = c->next;
        free(c);
    }
    free(kv->ops);
    free(kv->oslots);
    kv->ops = NULL;
    kv->oslots = NULL;
    kv->nops = kv->capops = 0;
    kv->omask = 0;
    kv->in_txn = 0;
}

/* Record a write in the open transaction (caller holds wmu and the write lock). */
int cairn_kv__txn_add(cairn_kv *kv, int type, const void *key, size_t klen, uint32_t hash, const void *val,
                      size_t vlen, int kind, int64_t expire) {
    txn_op *op = cairn_kv__txn_find(kv, key, klen, hash);
    uint8_t *buf;
    if (op && vlen <= op->vlen) {
        buf = op->buf; /* a rewrite that fits where the key's last value is: in place */
    } else if (!(buf = txn_space(kv, klen + vlen))) {
        return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (transaction of %zu bytes)", klen + vlen);
    }
    memmove(buf, key, klen);
    if (vlen) memcpy(buf + klen, val, vlen);
    if (!op) {
        if (kv->nops == kv->capops) {
            size_t nc = kv->capops ? kv->capops * 2 : 16;
            txn_op *v = (txn_op *)realloc(kv->ops, nc * sizeof *v);
            if (!v) return cairn_err__set(CAIRN_NOMEM, "kv: out of memory (transaction)");
            kv->ops = v;
            kv->capops = nc;
        }
        if (!kv->oslots || (kv->nops + 1) * 2 > (size_t)kv->omask + 1) {
            uint32_t cap = kv->oslots ? (kv->omask + 1) * 2 : 32;
            int rc = txn_index(kv, cap);
            if (rc) return rc;
        }
        op = &kv->ops[kv->nops++];
        {
            uint32_t j = hash & kv->omask;
            while (kv->oslots[j]) j = (j + 1) & kv->omask;
            kv->oslots[j] = OSLOT(hash, kv->nops - 1);
        }
    }
    op->type = (uint8_t)type;
    op->kind = (uint8_t)kind;
    op->hash = hash;
    op->expire = expire;
    op->klen = klen;
    op->vlen = vlen;
    op->buf = buf;
    return 0;
}
