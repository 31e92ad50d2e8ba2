/*
 * seg_scan.h - segment-level primitives for scans that work on encoded data (internal; not
 * installed): the layout of a segment's payload (where its values, codes, runs and validity are),
 * and bit-packed codes read a window or a selection at a time, without decoding the values.
 *
 * The layout is read from a segment whose CRC was verified (cairn_seg__check); it checks every
 * length and bound it relies on, so a damaged segment is CAIRN_CORRUPT, never a read out of
 * bounds. What a caller does with codes (a dictionary code below the dictionary's size, a run end
 * in order) it checks itself.
 */
#ifndef CAIRN_TABLE_SEG_SCAN_H
#define CAIRN_TABLE_SEG_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "table/seg.h"

/* bit-packed unsigned integers: count values of width w (0..64) at p, pk_len bytes */
typedef struct cairn_pk {
    const uint8_t *p;
    size_t len;
    unsigned w;
    size_t count;
} cairn_pk;

/* the payload of one segment, by encoding:
 *   PLAIN     vals: n values (fixed width; string/bytes: the list `list`)
 *   CONSTANT  vals: 1 value (string/bytes: list of 1)
 *   RLE       vals: nv run values (or list), codes: the nv run ends
 *   DICT      vals: nv distinct values (or list), codes: n codes
 *   FOR       base: min (sign- or zero-extended), codes: n values - min
 *   DELTA     base: first, mindelta, codes: n - 1 packed deltas
 *   BITPACK   codes: n bits (w 1) */
typedef struct cairn_segl {
    int enc;
    int type;
    uint32_t fixed_len;
    size_t vw;                /* bytes per value (0: string/bytes) */
    size_t n;
    const uint8_t *valid;     /* validity bitmap (bit i: value i not null), NULL without nulls */
    size_t nv;                /* values in vals */
    const uint8_t *vals;      /* fixed width: nv * vw bytes, little-endian, unaligned */
    cairn_pk list;            /* string/bytes: the end offsets of the nv values ... */
    const uint8_t *lbytes;    /* ... and their bytes */
    uint64_t ltotal;
    cairn_pk codes;
    uint64_t base, mindelta;
} cairn_segl;

/* Parse a verified segment of a column of `type` / `fixed_len`. CORRUPT when a length or a width
 * does not add up. */
int cairn_seg__layout(const uint8_t *bytes, size_t len, int type, uint32_t fixed_len, cairn_segl *out);

/* The nv + 1 offsets of a string/bytes value list (offs[0] = 0), every end checked (non-decreasing,
 * at most the list's bytes): CORRUPT otherwise. */
int cairn_seg__list_offsets(const cairn_segl *l, uint64_t *offs);

/* value k of a packed array (k < count) */
uint64_t cairn_seg__pk_get(const cairn_pk *a, size_t k);

/* 1 when some value of a packed array is at least lim (a dictionary's codes against its size),
 * else 0: a word of codes at a time for widths 1, 2, 4, 8 and 16 */
int cairn_seg__pk_any_ge(const cairn_pk *a, uint64_t lim);

/* values [start, start + n) of a packed array of width <= 32 into out */
void cairn_seg__pk_window32(const cairn_pk *a, size_t start, size_t n, uint32_t *out);
/* values base + sel[j] (j < k) of a packed array of width <= 32 into out */
void cairn_seg__pk_gather32(const cairn_pk *a, size_t base, const uint32_t *sel, size_t k, uint32_t *out);
/* the same for any width */
void cairn_seg__pk_window64(const cairn_pk *a, size_t start, size_t n, uint64_t *out);
void cairn_seg__pk_gather64(const cairn_pk *a, size_t base, const uint32_t *sel, size_t k, uint64_t *out);

/* Keep the selected rows base + sel[j] (j < k; width <= 32) whose code c has lut[c] & 1 and, with
 * a validity bitmap (bit i: row i, NULL: none), whose row is valid; returns how many are left
 * (compacted in place). *bad: some code read had lut[c] & 2 (the caller's mark for a code past its
 * dictionary). lut must have 2^w entries. */
size_t cairn_seg__pk_lut_sel(const cairn_pk *a, size_t base, uint32_t *sel, size_t k, const uint8_t *lut,
                             const uint8_t *valid, int *bad);

/* The same with codes in [lo, hi] (width <= 32) instead of a table. */
size_t cairn_seg__pk_range_keep(const cairn_pk *a, size_t base, uint32_t *sel, size_t k, uint64_t lo, uint64_t hi,
                                const uint8_t *valid);

#if defined(__GNUC__)
/* The rows i < n of the window at `start` whose code lies in [lo, hi] (hi < 2^w) into sel, a 64-bit
 * word of codes at a time (SWAR); returns their number. Only for widths 1, 2, 4, 8 and 16 and a
 * start whose first bit is a multiple of 64 (cairn_seg__pk_range_ok). sel must have room for n + 4
 * entries (up to 4 past the last one found are written). */
#define CAIRN_SEG_HAVE_RANGE_SEL 1
size_t cairn_seg__pk_range_sel(const cairn_pk *a, size_t start, size_t n, uint64_t lo, uint64_t hi, uint32_t *sel);
/* cairn_seg__pk_range_keep for a selection of the window [start, start + n) (n <= 2048, the same
 * widths and start as cairn_seg__pk_range_sel; sel holds rows relative to start): the window's
 * codes are tested a word at a time, then each selected row's bit looked up. */
/* A row bitmap of the window [start, start + n) (same widths and start): bit r of bits[r / 64] set
 * when code start + r lies in [lo, hi]; (n + 63) / 64 words written, bits past n clear. */
void cairn_seg__pk_range_bits(const cairn_pk *a, size_t start, size_t n, uint64_t lo, uint64_t hi, uint64_t *bits);
/* the set bits r < n of a row bitmap into sel (room for n + 4 entries); returns their number */
size_t cairn_seg__bits_sel(const uint64_t *bits, size_t n, uint32_t *sel);
size_t cairn_seg__pk_range_keepw(const cairn_pk *a, size_t start, size_t n, uint64_t lo, uint64_t hi, uint32_t *sel,
                                 size_t k, const uint8_t *valid);
#endif
static inline int cairn_seg__pk_range_ok(const cairn_pk *a, size_t start) {
    return (a->w == 1 || a->w == 2 || a->w == 4 || a->w == 8 || a->w == 16) && ((uint64_t)start * a->w) % 64 == 0;
}

#endif /* CAIRN_TABLE_SEG_SCAN_H */
