/* kv_workload.h - a deterministic KV workload with an oracle, shared by the fault-injection and
 * crash-simulation tests. Every step is applied to the store and to an in-memory model; the
 * model's state before every step is kept, so a test can ask "is the store in one of the
 * states the workload passed through?". */
#ifndef KV_WORKLOAD_H
#define KV_WORKLOAD_H

#include "cairn.h"

#define WL_KEYS 12
#define WL_STEPS 48

typedef struct wl_state {
    char *val[WL_KEYS]; /* NULL: absent */
} wl_state;

typedef struct wl_run {
    int sync;
    uint64_t max_file;
    int nsteps;            /* steps to run (<= WL_STEPS) */
    int crash_at;          /* with crash_mode: cairn_io__crash_now() just before this step */
    int crash_mode;
    uint64_t crash_seed;
    /* results */
    int failed_step;       /* index of the first step that returned an error, -1 if none */
    int failed_rc;
    int done;              /* steps that completed successfully */
    int durable;           /* states[durable..] are the ones a crash may leave (SYNC_NONE) */
    wl_state states[WL_STEPS + 2]; /* states[i]: model before step i; states[done+1]: if the
                                      failed step had applied */
} wl_run;

/* Run the workload in dir (fresh or not). The handle is closed at the end (or after the first
 * error). Returns the number of steps that succeeded. */
int wl_execute(const char *dir, wl_run *r);
void wl_free(wl_run *r);
/* Compare the store at dir (opened fresh, writable) with a state: 1 if equal. */
int wl_matches(cairn_kv *kv, const wl_state *s, char *why, size_t whylen);
/* Index of the first state in [lo, hi] the store equals, or -1 (why has the last mismatch). */
int wl_find_state(const char *dir, const wl_run *r, int lo, int hi, char *why, size_t whylen);

#endif
