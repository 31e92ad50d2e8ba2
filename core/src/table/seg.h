/*
 * seg.h - column segments of the table engine (internal; not installed).
 *
 * A segment is the immutable, encoded form of up to CAIRN_SEG_MAX_ROWS values of one column. The
 * encoder tries every encoding that applies to the values and keeps the smallest (ties go to the
 * cheaper decoder); readers never see the encoding: they decode a whole segment into a column
 * vector, or read single values from it. The byte layout of a segment is specified by the FORMAT
 * comment at the top of seg.c (and docs/format-segment.md); every segment carries its own CRC32C, so
 * a damaged segment is CAIRN_CORRUPT, never wrong values.
 *
 * Encodings (cairn_seg_encoding):
 *   PLAIN     values as they are (fixed width), or offsets + bytes (string, bytes)
 *   CONSTANT  one value repeated (all non-null values equal)
 *   RLE       runs of (value, length)
 *   DICT      distinct values once + bit-packed codes (also for strings and bytes)
 *   FOR       frame of reference: min + bit-packed (value - min)
 *   DELTA     first value + bit-packed deltas from (min delta) (e.g. sequential ids, timestamps)
 *   BITPACK   booleans, one bit per value
 * Nulls: a validity bitmap (bit i, least significant first, set when value i is not null, as in
 * Arrow), stored only when the segment has nulls. The encoder never reads a null's slot (it
 * stands in the previous non-null value, so nulls break no constant, run or delta); decoded, a
 * null's slot holds 0 (an empty value).
 */
#ifndef CAIRN_TABLE_SEG_H
#define CAIRN_TABLE_SEG_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/table.h"

#define CAIRN_SEG_MAX_ROWS 122880u /* a row group: 60 vectors of 2048 values */

typedef enum cairn_seg_encoding {
    CAIRN_SEG_PLAIN = 1,
    CAIRN_SEG_CONSTANT = 2,
    CAIRN_SEG_RLE = 3,
    CAIRN_SEG_DICT = 4,
    CAIRN_SEG_FOR = 5,
    CAIRN_SEG_DELTA = 6,
    CAIRN_SEG_BITPACK = 7
} cairn_seg_encoding;

/* A decoded column vector: n values of one column type, in the width of its C type.
 *   i8..i64: int8_t..int64_t; u8..u64: uint8_t..uint64_t; f32 float; f64 double; bool uint8_t
 *   (0/1); timestamp int64_t; fixed bytes:N: n*N bytes; string and bytes: `data` holds the
 *   concatenated bytes and `offsets` n+1 uint64_t offsets into it (Arrow's layout).
 * validity: NULL when every value is valid, else (n+7)/8 bytes, bit i set when value i is valid. */
typedef struct cairn_colvec {
    int type;            /* cairn_type */
    uint32_t fixed_len;  /* N of bytes:N, else 0 */
    size_t n;
    void *data;
    uint64_t *offsets;   /* string and bytes only */
    uint8_t *validity;
    size_t data_len;     /* bytes in data (string/bytes: offsets[n]) */
} cairn_colvec;

/* Zone map of a segment: min and max of the non-null values (integers and timestamps in i/u,
 * floats in f (NaN ignored; has_nan set), bool as u 0/1; string/bytes/fixed: the first 16 bytes of
 * the smallest and largest value, bytewise, with full-length flags), null count. */
typedef struct cairn_zone {
    uint64_t nulls;
    uint64_t count;      /* values (nulls included) */
    int has_values;      /* at least one non-null value */
    int has_nan;
    union { int64_t i; uint64_t u; double f; } min, max;
    uint8_t min_prefix[16], max_prefix[16];
    uint8_t min_len, max_len;   /* bytes used in the prefixes */
    uint8_t min_exact, max_exact;  /* the prefix is the whole value */
} cairn_zone;

/* Encoded segment, owned by the caller (cairn_seg__free_buf / free()). */
typedef struct cairn_seg_buf {
    uint8_t *bytes;
    size_t len;
    int encoding;        /* the chosen cairn_seg_encoding */
    cairn_zone zone;
} cairn_seg_buf;

/* Encode `in` (1..CAIRN_SEG_MAX_ROWS values) into out->bytes, choosing the smallest encoding
 * (`force` 0), or the given encoding (`force` a cairn_seg_encoding; CAIRN_UNSUPPORTED if it does
 * not apply: for tests). Fills out->zone. What `in` must hold (else INVALID): a known type; data
 * (string/bytes: may be NULL when every value is empty); bytes:N with N 1..65535 (fixed_len is
 * ignored for the other types); bool values 0 or 1; string/bytes: offsets (n+1, non-decreasing,
 * any offsets[0], each value at most CAIRN_VALUE_MAX bytes) with offsets[n] <= data_len. A null
 * slot may hold anything: it is never read. Errors: NOMEM, INVALID, UNSUPPORTED. */
int cairn_seg__encode(const cairn_colvec *in, int force, cairn_seg_buf *out);

/* Buffers an encoder reuses from one segment to the next (a checkpoint encodes many): zero it
 * before the first use (CAIRN_SEG_SCRATCH_INIT), free with cairn_seg__scratch_free. */
typedef struct cairn_seg_scratch {
    void *buf[8];
    size_t cap[8];
} cairn_seg_scratch;
#define CAIRN_SEG_SCRATCH_INIT {{0}, {0}}
void cairn_seg__scratch_free(cairn_seg_scratch *sc);

/* cairn_seg__encode with reused buffers: out->bytes is BORROWED from `sc` (valid until the next
 * call with it or cairn_seg__scratch_free; never free it). Same checks and errors. */
int cairn_seg__encode_with(const cairn_colvec *in, int force, cairn_seg_scratch *sc, cairn_seg_buf *out);

/* Decode a whole segment (bytes, len, as written by encode) of a column of `type`/`fixed_len`
 * into *out, whose buffers are allocated here (cairn_seg__free_vec). Verifies the CRC and every
 * bound: a damaged segment is CAIRN_CORRUPT (the message says what is wrong; the caller adds the
 * file and offset). */
int cairn_seg__decode(const void *bytes, size_t len, int type, uint32_t fixed_len,
                      cairn_colvec *out);

/* Decode rows [start, start + count) of a segment into *out (out->n = count; buffers as decode).
 * For vector-at-a-time reading (e.g. 2048 rows at a time) without the whole segment in memory:
 * the cost is that of the rows asked for, plus the dictionary (DICT), a binary search (RLE), or
 * unpacking the deltas before `start` (DELTA; free at width 0). Like cairn_seg__get it checks the
 * header and every bound and value it reads, but NOT the CRC: verify the segment once first
 * (cairn_seg__check). Errors: CORRUPT, RANGE (count 0 or past n), NOMEM, INVALID. */
int cairn_seg__decode_range(const void *bytes, size_t len, int type, uint32_t fixed_len, size_t start,
                            size_t count, cairn_colvec *out);

/* Read the segment's header without decoding: its encoding, row count and zone map (stored in
 * the header). Verifies the CRC. */
int cairn_seg__info(const void *bytes, size_t len, int *encoding, size_t *n, cairn_zone *zone);

/* Read value `index` (0-based) of a segment without decoding the rest. For string, bytes and
 * bytes:N, out->v.s.bytes points INTO `bytes` (valid as long as the segment's bytes are; no copy);
 * a null gives out->is_null = 1. Cost: O(1) for PLAIN, CONSTANT, DICT, FOR, BITPACK; O(log runs)
 * for RLE; O(index) bit-unpacking for DELTA (O(1) at width 0). It checks the header and every bound it touches (a
 * damaged segment is CAIRN_CORRUPT, never a read out of bounds) but NOT the CRC, which would cost
 * a pass over the whole segment per value: verify a segment once (cairn_seg__info or
 * cairn_seg__check) when it is read from disk. Errors: CORRUPT (also for a type/fixed_len that is
 * not the segment's), RANGE (index >= n), INVALID (NULL pointers). */
int cairn_seg__get(const void *bytes, size_t len, int type, uint32_t fixed_len, size_t index,
                   cairn_value *out);

/* Verify a segment read from disk (header, CRC, validity bitmap) and that it is of `type` /
 * `fixed_len`, without decoding it: after 0, cairn_seg__get and cairn_seg__decode_range on it
 * need no further CRC check. */
int cairn_seg__check(const void *bytes, size_t len, int type, uint32_t fixed_len);

/* Build a zone map over a column vector (what encode stores). */
void cairn_seg__zone(const cairn_colvec *in, cairn_zone *out);

void cairn_seg__free_vec(cairn_colvec *v);
void cairn_seg__free_buf(cairn_seg_buf *b);

/* Width in bytes of one value of a fixed-width type in a colvec (bytes:N: N; string/bytes: 0). */
size_t cairn_seg__width(int type, uint32_t fixed_len);

#endif /* CAIRN_TABLE_SEG_H */
