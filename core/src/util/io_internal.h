/*
 * io_internal.h - what io.c (the plain I/O layer) and io_fault.c (its test-only fault injection
 * and crash simulation) share. Not for engines: they use util.h.
 *
 * The fast path: every io.c operation reads the word cairn_io__hooks once (a relaxed load: a
 * plain load on x86 and ARM) and calls into io_fault.c only when it is non-zero. It stays zero
 * in a process where no test called a hooks function (cairn_io__fault_* / cairn_io__crash_*),
 * so a release build pays no atomic read-modify-write, lock or counter per write or fsync.
 */
#ifndef CAIRN_IO_INTERNAL_H
#define CAIRN_IO_INTERNAL_H

#include "util.h"

struct cairn_file {
    int fd;
    int failed;     /* an fsync failed: fail-stop */
    uint64_t epoch; /* crash epoch at open; dead once a simulated crash moved past it */
    char *path;
};

#define CAIRN_IOH_COUNT 0x1u  /* count write and sync ops (a test asked for counts or armed a hook) */
#define CAIRN_IOH_ACTIVE 0x2u /* faults armed, crash tracking, a crash pending or happened: full hooks */
#define CAIRN_IOH_STALE 0x4u  /* a simulated crash happened once: files opened before it are dead */

extern unsigned cairn_io__hooks; /* written under io_fault.c's mutex; read without it */

static inline unsigned cairn_io__hooks_load(void) { return __atomic_load_n(&cairn_io__hooks, __ATOMIC_RELAXED); }

/* The hooks, called by io.c only while cairn_io__hooks != 0. Each returns 0 to go on or a
 * negative error code (with the error set) to fail the op. */
uint64_t cairn_iof__epoch(void);       /* the crash epoch a file opened now gets */
int cairn_iof__open(const char *path); /* after a crash: every open fails */
int cairn_iof__read(cairn_file *f);
/* A write-class op (pwrite, mwrite, reserve: is_trunc 0; truncate: 1). Also returns
 * CAIRN_FAULT_SHORT (> 0): store the first half of the bytes, then fail with ENOSPC. */
int cairn_iof__write(cairn_file *f, uint64_t off, uint64_t len, int is_trunc, const char *what);
int cairn_iof__sync(cairn_file *f);    /* before fdatasync (an injected failure sets f->failed) */
void cairn_iof__synced(cairn_file *f); /* after a successful fdatasync: forget its undo records */
int cairn_iof__path(const char *what, const char *path, int is_sync); /* rename, unlink, ..., sync_dir */
void cairn_iof__give_back(const char *path); /* CAIRN_FAULT_FULL: a file about to go away */
/* The error for an op on a failed file (f->failed) or a file a crash killed. */
int cairn_iof__dead(const cairn_file *f, const char *what);

#endif /* CAIRN_IO_INTERNAL_H */
