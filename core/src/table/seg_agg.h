/*
 * seg_agg.h - segment primitives for aggregation (internal; not installed): bit-packed codes
 * unpacked with the width known at compile time, and the dictionary gathered and added into the
 * 8 partial sums of a float sum, without decoding the segment into a buffer first.
 *
 * Both read the P(n) building block of seg.c's FORMAT comment: code k occupies bits
 * [k*w, k*w + w) of the packed bytes. A run of 8 codes starts on a byte (8*w bits), so codes are
 * read 8 at a time, each with one 8-byte load at a fixed byte and shift of the run; the last runs,
 * where an 8-byte load would pass the end of the bytes, are read byte by byte. Every code is
 * checked against the dictionary size: a code out of range is reported (-1), never used.
 */
#ifndef CAIRN_TABLE_SEG_AGG_H
#define CAIRN_TABLE_SEG_AGG_H

#include <stddef.h>
#include <stdint.h>

/* 1 (the default): use the CPU's vector instructions where it has them (AVX2 on x86-64, checked
 * at run time); 0: the portable code only (tests compare the two). */
extern int cairn_seg__agg_simd;

/* Codes [start, start + n) of width w (0..32) from the packed bytes p[0..plen) into out, start a
 * multiple of 8. 0, or -1 when the bytes are too short or a code is >= d. */
int cairn_seg__codes(const uint8_t *p, size_t plen, unsigned w, size_t start, size_t n, uint64_t d, uint32_t *out);

/* The float sum of a DICT f64 segment without nulls: value i (code i, i in [0, n)) of the
 * dictionary `dict` (d little-endian f64, any alignment) added into s[(k0 + i) & 7], in order,
 * as an 8-partial-sum float sum defines it. 0, or -1 (bytes too short, a code >= d; s is then
 * partly added and must be dropped). */
int cairn_seg__dict_fsum(const uint8_t *p, size_t plen, unsigned w, size_t n, const uint8_t *dict, uint32_t d,
                         double s[8], uint64_t k0);

#endif /* CAIRN_TABLE_SEG_AGG_H */
