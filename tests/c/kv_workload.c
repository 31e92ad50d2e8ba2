/* kv_workload.c - see kv_workload.h. */
#include "kv_workload.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void key_of(int i, char *k) { snprintf(k, 16, "key-%02d", i); }

static void st_copy(wl_state *dst, const wl_state *src) {
    int i;
    for (i = 0; i < WL_KEYS; i++) dst->val[i] = src->val[i] ? strdup(src->val[i]) : NULL;
}

static void st_set(wl_state *s, int k, const char *v) {
    free(s->val[k]);
    s->val[k] = v ? strdup(v) : NULL;
}

void wl_free(wl_run *r) {
    int i, k;
    for (i = 0; i < WL_STEPS + 2; i++)
        for (k = 0; k < WL_KEYS; k++) {
            free(r->states[i].val[k]);
            r->states[i].val[k] = NULL;
        }
}

static void value_of(int step, int k, char *v, size_t cap) {
    int pad = (step * 37 + k * 11) % 90, n;
    n = snprintf(v, cap, "v%d.%d-", step, k);
    while (pad-- > 0 && n < (int)cap - 1) v[n++] = (char)('a' + (step + pad) % 26);
    v[n] = 0;
}

static cairn_kv *wl_open(const char *dir, const wl_run *r, int *rc) {
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    cairn_kv *kv = NULL;
    o.sync = r->sync;
    o.max_file_size = r->max_file;
    *rc = cairn_kv_open(&kv, dir, &o);
    return kv;
}

int wl_execute(const char *dir, wl_run *r) {
    wl_state cur;
    cairn_kv *kv;
    int step, rc = 0;
    char key[16], v[128];
    memset(&cur, 0, sizeof cur);
    memset(r->states, 0, sizeof r->states);
    r->failed_step = -1;
    r->failed_rc = 0;
    r->done = 0;
    r->durable = 0;
    kv = wl_open(dir, r, &rc);
    if (rc) {
        r->failed_step = 0;
        r->failed_rc = rc;
        st_copy(&r->states[0], &cur);
        st_copy(&r->states[1], &cur);
        return 0;
    }
    for (step = 0; step < r->nsteps; step++) {
        wl_state next;
        int a = (step * 5 + 1) % WL_KEYS, b = (step * 7 + 3) % WL_KEYS, c = (step * 3 + 2) % WL_KEYS;
        int kind = step % 9;
        if (r->crash_mode && r->crash_at == step) cairn_io__crash_now(r->crash_mode, r->crash_seed);
        st_copy(&r->states[step], &cur);
        st_copy(&next, &cur);
        if (kind <= 2) {
            key_of(a, key);
            value_of(step, a, v, sizeof v);
            rc = cairn_kv_put(kv, key, strlen(key), v, strlen(v), CAIRN_KIND_TEXT);
            st_set(&next, a, v);
        } else if (kind == 3) {
            key_of(c, key);
            if (cur.val[c]) {
                rc = cairn_kv_delete(kv, key, strlen(key));
                st_set(&next, c, NULL);
            } else {
                value_of(step, c, v, sizeof v);
                rc = cairn_kv_put(kv, key, strlen(key), v, strlen(v), CAIRN_KIND_TEXT);
                st_set(&next, c, v);
            }
        } else if (kind == 4 || kind == 7) {
            /* a transaction of three writes */
            rc = cairn_kv_begin(kv);
            if (!rc) {
                key_of(a, key);
                value_of(step, a, v, sizeof v);
                rc = cairn_kv_put(kv, key, strlen(key), v, strlen(v), CAIRN_KIND_TEXT);
                st_set(&next, a, v);
            }
            if (!rc) {
                key_of(b, key);
                value_of(step + 1000, b, v, sizeof v);
                rc = cairn_kv_put(kv, key, strlen(key), v, strlen(v), CAIRN_KIND_TEXT);
                st_set(&next, b, v);
            }
            if (!rc && next.val[c]) {
                key_of(c, key);
                rc = cairn_kv_delete(kv, key, strlen(key));
                st_set(&next, c, NULL);
            }
            if (!rc) rc = cairn_kv_commit(kv);
            else (void)cairn_kv_rollback(kv);
        } else if (kind == 5) {
            /* rolled back: no effect */
            rc = cairn_kv_begin(kv);
            if (!rc) {
                key_of(b, key);
                rc = cairn_kv_put(kv, key, strlen(key), "rolled back", 11, CAIRN_KIND_TEXT);
            }
            if (!rc) rc = cairn_kv_rollback(kv);
        } else if (kind == 6) {
            rc = step % 18 == 6 ? cairn_kv_compact(kv) : cairn_kv_sync(kv);
        } else { /* 8: reopen */
            cairn_kv_close(kv);
            kv = wl_open(dir, r, &rc);
        }
        if (rc) {
            r->failed_step = step;
            r->failed_rc = rc;
            st_copy(&r->states[step + 1], &next);
            {
                int k;
                for (k = 0; k < WL_KEYS; k++) free(next.val[k]);
            }
            break;
        }
        if (kind == 6 || kind == 8) r->durable = step + 1; /* sync / reopen: all before is durable */
        {
            int k;
            for (k = 0; k < WL_KEYS; k++) {
                free(cur.val[k]);
                cur.val[k] = next.val[k];
            }
        }
        r->done = step + 1;
    }
    if (r->failed_step < 0) st_copy(&r->states[r->done], &cur);
    cairn_kv_close(kv);
    {
        int k;
        for (k = 0; k < WL_KEYS; k++) free(cur.val[k]);
    }
    return r->done;
}

int wl_matches(cairn_kv *kv, const wl_state *s, char *why, size_t whylen) {
    int k, n = 0;
    uint64_t cnt = 0;
    char key[16];
    for (k = 0; k < WL_KEYS; k++) {
        void *v = NULL;
        size_t vl = 0;
        int rc;
        key_of(k, key);
        rc = cairn_kv_get(kv, key, strlen(key), &v, &vl, NULL);
        if (s->val[k]) {
            n++;
            if (rc != 0 || vl != strlen(s->val[k]) || memcmp(v, s->val[k], vl) != 0) {
                snprintf(why, whylen, "%s: want '%s', got rc=%s '%.*s'", key, s->val[k], cairn_errname(rc),
                         rc ? 0 : (int)vl, rc ? "" : (const char *)v);
                cairn_free(v);
                return 0;
            }
        } else if (rc != CAIRN_NOTFOUND) {
            snprintf(why, whylen, "%s: want absent, got rc=%s", key, cairn_errname(rc));
            cairn_free(v);
            return 0;
        }
        cairn_free(v);
    }
    if (cairn_kv_count(kv, &cnt) != 0 || cnt != (uint64_t)n) {
        snprintf(why, whylen, "count %llu, want %d", (unsigned long long)cnt, n);
        return 0;
    }
    return 1;
}

int wl_find_state(const char *dir, const wl_run *r, int lo, int hi, char *why, size_t whylen) {
    cairn_kv *kv = NULL;
    int i, rc = cairn_kv_open(&kv, dir, NULL);
    if (rc) {
        snprintf(why, whylen, "reopen failed: %s %s", cairn_errname(rc), cairn_errmsg());
        return -1;
    }
    for (i = lo; i <= hi; i++) {
        if (wl_matches(kv, &r->states[i], why, whylen)) {
            cairn_kv_close(kv);
            return i;
        }
    }
    cairn_kv_close(kv);
    return -1;
}
