/*
 * bench_common.h - helpers shared by the benchmarks (timing, data, directories, reporting).
 * Not part of the library; compiled into each bench program through bench_common.c.
 */
#ifndef CAIRN_BENCH_COMMON_H
#define CAIRN_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Monotonic clock in seconds. */
double bench_now(void);

/* splitmix64: a tiny, good PRNG; also used to derive value bytes from a key index so that
 * every engine stores the same incompressible data and reads can be verified. */
uint64_t bench_mix64(uint64_t x);
typedef struct { uint64_t s; } bench_rng;
uint64_t bench_rng_next(bench_rng *r);
/* Uniform in [0, n). */
uint64_t bench_rng_below(bench_rng *r, uint64_t n);

/* Fill buf[0..len) with the pseudo-random bytes of item `i` (version `ver`, so updates can
 * write different bytes). */
void bench_fill(void *buf, size_t len, uint64_t i, uint64_t ver);

/* The 16-byte key of index i: 16 decimal digits, so bytewise order == numeric order. */
void bench_key16(char out[16], uint64_t i);

/* Directories: make (and parents), remove recursively, total apparent size of every file. */
int bench_mkdirs(const char *path);
int bench_rmrf(const char *path);
uint64_t bench_dir_bytes(const char *path);
/* Size of one file, 0 if missing. */
uint64_t bench_file_bytes(const char *path);

/* Make a fresh scratch directory "<base>/<name>" (removing what was there); returns a malloc'd
 * path. Exits on failure. */
char *bench_scratch(const char *base, const char *name);

/* Machine notes for the report: "<cpu model>, N cores, Linux x.y, <fs>" into buf. */
void bench_machine(char *buf, size_t cap);
/* The 1-minute load average ("n/a" if unknown): the measuring machine may be shared. */
void bench_loadavg(char *buf, size_t cap);
/* UTC date "YYYY-MM-DD HH:MM UTC". */
void bench_date(char *buf, size_t cap);

/* Print to stderr and exit(2). */
void bench_die(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;
/* Progress line on stderr (the report goes to stdout / the --out file). */
void bench_log(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Format a number for a table cell: "n/a" for NaN, thousands with k/M suffix kept readable. */
void bench_fmt(char *buf, size_t cap, double v, int decimals);
/* Format a ratio a/b as "1.23x" ("n/a" if either is NaN or b == 0). */
void bench_fmt_ratio(char *buf, size_t cap, double a, double b);

/* Parse a positive integer option value (accepts 1k / 1M suffixes). Exits on error. */
uint64_t bench_parse_count(const char *opt, const char *s);

#endif
