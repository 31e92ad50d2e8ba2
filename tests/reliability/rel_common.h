/* rel_common.h - helpers shared by the reliability drivers (crash loops, corruption sweeps,
 * the reader/lock/fork/full-disk loops): a seeded RNG, deterministic values, scratch
 * directories, file copies and the fsynced operation log of the crash loops. */
#ifndef CAIRN_REL_COMMON_H
#define CAIRN_REL_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64: small, seeded, reproducible. */
typedef struct rel_rng { uint64_t s; } rel_rng;
uint64_t rel_next(rel_rng *r);
uint64_t rel_below(rel_rng *r, uint64_t n); /* uniform-ish in [0, n), n > 0 */

/* The bytes of value number `idx` of operation `opid`: deterministic, so a log line that names
 * (opid, idx, len) describes the whole value. */
void rel_gen(uint64_t opid, uint32_t idx, uint8_t *buf, size_t len);
/* 1 if buf[0..len) is exactly rel_gen(opid, idx, len). */
int rel_gen_eq(uint64_t opid, uint32_t idx, const void *buf, size_t len);

/* Print "<prog>: FAIL ..." and exit(1). */
void rel_die(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;
/* Fresh scratch directory "<$CAIRN_TEST_TMP or $TMPDIR or /tmp>/<tag>-XXXXXX" (malloc'd). */
char *rel_tmpdir(const char *tag);
void rel_rmrf(const char *path);
/* Copy every regular file of directory `from` into `to` (created if missing); other entries
 * are skipped. Files in `to` that are not in `from` are removed first. */
void rel_copy_dir(const char *from, const char *to);
void rel_copy_file(const char *from, const char *to);
/* Size of a file, or -1 if missing. */
long long rel_fsize(const char *path);
/* Read a whole file (malloc'd, NUL-terminated beyond len). NULL if missing. */
uint8_t *rel_slurp(const char *path, size_t *len);
void rel_spit(const char *path, const void *data, size_t len);

/* Option parsing: value of "--name" in argv (NULL if absent). */
const char *rel_opt(int argc, char **argv, const char *name);
uint64_t rel_opt_u64(int argc, char **argv, const char *name, uint64_t dflt);
/* Seed: --seed, else $CAIRN_REL_SEED, else dflt. */
uint64_t rel_seed(int argc, char **argv, uint64_t dflt);

/* The operation log: one line per write(2), fdatasync'd after each line. */
int rel_log_open(const char *path);
void rel_log_line(int fd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* A child that reports over a pipe, killed at a random moment: fork; the child runs child(wfd) and
 * must never return; the parent reads the reports for delay_ms (so the child never blocks on a
 * full pipe), SIGKILLs it, reaps it and drains the pipe. consume(ctx, buf, &len) is handed the
 * bytes read so far and keeps what it has not used (a partial line) at the front. A report line
 * is one write(2) shorter than PIPE_BUF, so a kill never cuts one in half. Returns the child's
 * wait status. */
typedef void (*rel_consume_fn)(void *ctx, char *buf, size_t *len);
int rel_run_killed(void (*child)(int wfd), uint64_t delay_ms, rel_consume_fn consume, void *ctx);

/* Milliseconds of a monotonic clock. */
uint64_t rel_ms(void);

extern const char *rel_prog; /* program name for messages */

#endif
