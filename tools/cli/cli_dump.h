/* cli_dump.h - reading and writing the dump format of `cairn kv|blob dump|load` (docs/cli.md). */
#ifndef CAIRN_CLI_DUMP_H
#define CAIRN_CLI_DUMP_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cli_json.h"

#define DUMP_MAX_FIELDS 16

typedef struct dump_reader {
    FILE *f;
    int close;        /* f is ours to close */
    char *line;       /* getline buffer */
    size_t cap;
    uint64_t lineno;  /* of the line last read */
    uint64_t records; /* records the caller has taken (the caller counts) */
    uint64_t bytes;   /* bytes read so far (progress) */
    int ended;        /* the end line was read */
    const char *engine;
    cj_field head[DUMP_MAX_FIELDS]; /* the header's fields (e.g. a table's "schema"), until close */
    int nhead;
    char *head_line;                /* the header line (raw_at/raw_len of head[] point into it) */
    char src[4096];   /* "standard input" or the file name, for messages */
} dump_reader;

/* Open FILE (NULL or "-": standard input) and read the header of a dump of `engine`.
 * Returns an exit code (0: ready). */
int dump_open(dump_reader *r, const char *file, const char *engine);
void dump_close(dump_reader *r);
/* The next record's fields (0; free them with cj_fields_free), -1 after a valid end line and the
 * end of input, or an exit code > 0 (message printed). */
int dump_next(dump_reader *r, cj_field *f, int *nf);
/* The next non-blank line as fields: 0, -1 at the end of input, or an exit code. */
int dump_line(dump_reader *r, cj_field *f, int *nf);
/* Field `name` (a UTF-8 string) or `name`_b64 (base64), exactly one of them, into a malloc'd buffer.
 * Returns an exit code. */
int dump_bytes(dump_reader *r, const cj_field *f, int nf, const char *name, unsigned char **out, size_t *len);
/* Print "cairn: CAIRN_INVALID: SRC line N: ..." and return EXIT_DATA. */
int dump_bad(dump_reader *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Writing: the header line (with `extra`, e.g. ",\"next_key\":3") and the end line. */
void dump_header(const char *engine, const char *extra);
void dump_trailer(uint64_t records);

#endif
