/*
 * cli_json.h - the small text codecs of the `cairn` tool: UTF-8 and JSON validation, a JSON
 * string writer, base64, and a reader for the flat JSON objects of the dump format.
 *
 * Why not jansson (which the conformance testee uses): its decoder refuses valid documents
 * (integers beyond 64 bits, reals beyond a double, nesting past 2048), and the tool must store
 * every JSON document that the bindings accept. The validator here is RFC 8259 exactly, iterative
 * (no recursion, so any depth), and needs libc only.
 */
#ifndef CAIRN_CLI_JSON_H
#define CAIRN_CLI_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF). */
int cj_utf8_valid(const void *s, size_t n);

/* 1 if s[0..n) is one JSON document (RFC 8259: any value, surrounded by optional whitespace, in
 * UTF-8). On 0, *err_at is the byte offset of the first error and *why a static reason. */
int cj_json_valid(const void *s, size_t n, size_t *err_at, const char **why);

/* Write bytes s[0..n) (valid UTF-8) as a JSON string with its quotes. */
void cj_put_str(FILE *f, const void *s, size_t n);
/* Write base64 (RFC 4648, padded) of s[0..n), without quotes. */
void cj_put_b64(FILE *f, const void *s, size_t n);
/* Decode padded base64 into a malloc'd buffer (*out, *outlen). 0 on success, -1 if malformed,
 * -2 out of memory. */
int cj_b64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen);

/* A field of a flat JSON object, as read by cj_obj_parse. */
enum { CJ_NULL, CJ_BOOL, CJ_INT, CJ_STR, CJ_OTHER /* a real, a too-large integer, an array, an object */ };
typedef struct cj_field {
    char *name;  /* malloc'd, NUL-terminated (names with NUL are refused) */
    int type;
    int64_t i;   /* CJ_INT value; CJ_BOOL 0/1 */
    char *s;     /* CJ_STR value, malloc'd (NUL-terminated too, but may hold NULs) */
    size_t slen;
    size_t raw_at, raw_len; /* where the value's text is in the parsed line (any type: CJ_OTHER
                               values are read from there, e.g. a table row object) */
} cj_field;

/* Parse one JSON object (a dump line) into at most cap fields (more: error). Values that are not
 * null, true/false, integers or strings are kept as CJ_OTHER (validated, not decoded). 0 on
 * success; -1 with *why (static) and *err_at on a malformed line. Free with cj_fields_free. */
int cj_obj_parse(const char *s, size_t n, cj_field *f, int cap, int *nf, size_t *err_at, const char **why);
void cj_fields_free(cj_field *f, int nf);
/* The field named `name`, or NULL. */
const cj_field *cj_get(const cj_field *f, int nf, const char *name);

#endif
