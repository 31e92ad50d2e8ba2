/*
 * cli.h - what the parts of the `cairn` tool share: exit codes, parsed options, the command
 * tables, and the helpers for values, output and progress (cli_util.c).
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cairn.h"

/* The project's version, from CMake (PROJECT_VERSION); the library's otherwise. */
#ifndef CAIRN_CLI_VERSION
#define CAIRN_CLI_VERSION CAIRN_VERSION_STRING
#endif

/* Exit codes, by class (documented in `cairn --help` and docs/cli.md). */
enum {
    EXIT_OK = 0,
    EXIT_NOTFOUND = 1, /* the key, blob, row, entry, record, tag or version does not exist */
    EXIT_USAGE = 2,    /* bad command line */
    EXIT_ERROR = 3,    /* any other failure (internal, transaction, out of memory, ...) */
    EXIT_PATH = 4,     /* the store or an input file is missing, not usable, or not permitted */
    EXIT_IO = 5,       /* I/O error or disk full */
    EXIT_CORRUPT = 6,  /* the store is corrupt or of an unsupported format version */
    EXIT_LOCKED = 7,   /* another writer holds the store */
    EXIT_DATA = 8      /* a value or dump refused: not UTF-8, not JSON, too big, key exists, ... */
};

/* Options a command accepts (command.opts) and what was given (opts.given). */
enum {
    OPT_KIND = 1 << 0,    /* --kind bytes|text|json */
    OPT_EXPIRE = 1 << 1,  /* --ttl DURATION, --expire-at UNIX_MS */
    OPT_JSON = 1 << 2,    /* --json */
    OPT_RAW = 1 << 3,     /* --raw */
    OPT_HEX = 1 << 4,     /* --hex */
    OPT_LONG = 1 << 5,    /* -l, --long */
    OPT_REPLACE = 1 << 6, /* --replace */
    OPT_TENANT = 1 << 7,  /* --tenant NAME (repo) */
    OPT_USER = 1 << 8,    /* --user NAME (repo) */
    OPT_DIGEST = 1 << 9,  /* --digest D (repo) */
    OPT_GRACE = 1 << 10,  /* --grace MS (repo gc) */
    OPT_MAX = 1 << 11,    /* --max N (repo log) */
    OPT_PROM = 1 << 12,   /* --prometheus (stats) */
    OPT_WHERE = 1 << 13,  /* --where EXPR (table select, count) */
    OPT_PARAM = 1 << 14,  /* --param V, repeatable */
    OPT_COLUMNS = 1 << 15, /* --columns a,b */
    OPT_ORDER = 1 << 16,  /* --order c,-d */
    OPT_LIMIT = 1 << 17,  /* --limit N, --offset N */
    OPT_CSV = 1 << 18     /* --csv */
};

#define CLI_MAX_PARAMS 64

typedef struct opts {
    unsigned given;    /* OPT_* bits seen */
    int kind;          /* with OPT_KIND */
    int64_t expire_at; /* with OPT_EXPIRE: absolute Unix ms */
    const char *tenant, *user, *digest; /* with OPT_TENANT, OPT_USER, OPT_DIGEST */
    uint64_t grace_ms;                  /* with OPT_GRACE */
    uint64_t max;                       /* with OPT_MAX */
    const char *where, *columns, *order;  /* with OPT_WHERE, OPT_COLUMNS, OPT_ORDER */
    const char *params[CLI_MAX_PARAMS];   /* with OPT_PARAM, in order */
    int nparams;
    int has_limit, has_offset;            /* OPT_LIMIT covers both */
    uint64_t limit, offset;
} opts;

typedef struct command {
    const char *name;
    int min_args, max_args; /* positional arguments after the command name, PATH included */
    const char *args;       /* usage text of the arguments */
    unsigned opts;          /* OPT_* accepted */
    const char *summary;    /* one line */
    const char *details;    /* more lines for `cairn help ENGINE COMMAND` (may be NULL) */
    int (*run)(const opts *o, int argc, char **argv);
} command;

extern const command cli_kv_cmds[];
extern const command cli_blob_cmds[];
extern const command cli_table_cmds[];
extern const command cli_repo_cmds[];

/* ---- cli_snap.c: snapshot, snapshots, drop-snapshot, backup of kv, blob and table ---- */
#define CLI_SNAP_DECL(pfx)                                              \
    int cli_##pfx##_snapshot(const opts *o, int argc, char **argv);      \
    int cli_##pfx##_snapshots(const opts *o, int argc, char **argv);     \
    int cli_##pfx##_drop_snapshot(const opts *o, int argc, char **argv); \
    int cli_##pfx##_backup(const opts *o, int argc, char **argv);
CLI_SNAP_DECL(kv)
CLI_SNAP_DECL(blob)
CLI_SNAP_DECL(table)

/* The four snapshot commands of an engine's table (ENG: "kv"; WHAT: "DIR" or "FILE"). */
#define CLI_SNAP_COMMANDS(pfx, WHAT, WHERE, DEST)                                                                    \
    {"snapshot", 1, 2, WHAT " [NAME]", OPT_JSON, "take a named, read-only, point-in-time snapshot; print its name",     \
     "NAME is [A-Za-z0-9._-], up to 128 characters; without it a unique name is chosen. The snapshot is\n"            \
     "kept in " WHERE " (docs/snapshots.md). It needs the writer's lock (exit 7 beside a writer).\n"                 \
     "  --json   {\"name\"}", cli_##pfx##_snapshot},                                                                 \
    {"snapshots", 1, 1, WHAT, OPT_JSON, "list the snapshots, oldest first: name, time (UTC), size",                    \
     "  --json   one JSON object a line: {\"name\",\"time\" (Unix ms),\"bytes\"}", cli_##pfx##_snapshots},          \
    {"drop-snapshot", 2, 2, WHAT " NAME", 0, "remove a snapshot (exit 1 if there is none)", NULL,                      \
     cli_##pfx##_drop_snapshot},                                                                                      \
    {"backup", 2, 2, WHAT " DEST", 0, "copy the store, consistently, to " DEST,                                      \
     "Every file is copied (a backup shares nothing with the store); DEST opens as a normal store.\n"                 \
     "The copy is taken under the writer's lock: exit 7 while another process writes to the store (a\n"              \
     "program that holds it calls cairn_" #pfx "_backup, which lets its own writers go on).",                        \
     cli_##pfx##_backup}

/* 1 while running inside `cairn shell` (values from stdin are refused; `get` ends with a newline). */
extern int cli_in_shell;

/* ---- cli_util.c ---- */

/* Exit code of a CAIRN_E* code. */
int cli_exit_code(int rc);
/* Print "cairn: NAME: message" for a failed core call; returns its exit code. */
int cli_fail(int rc);
/* Print "cairn: NAME: <printf message>"; returns `code`. */
int cli_error(int code, const char *name, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Read a VALUE argument: the text itself, "-" (standard input), "@FILE" (a file's contents) or
 * "@@..." (the text "@..."). *buf is malloc'd (free it). Returns an exit code (0 on success). */
int cli_read_value(const char *arg, unsigned char **buf, size_t *len);
/* Refuse a value that its kind does not allow (text: UTF-8; json: one JSON document). Exit code. */
int cli_check_kind(int kind, const void *v, size_t n);

/* Kind names: "bytes", "text", "json", "native"; NULL for another number. */
const char *cli_kind_name(int kind);
int cli_kind_parse(const char *s); /* -1 if unknown */

/* Write a value to stdout per --raw / --hex / terminal (see docs/cli.md, "Output"). */
void cli_write_value(const opts *o, const void *v, size_t n);
/* Print a key for a person (printable ASCII as is, other bytes as \xNN), then `end`. */
void cli_print_key(const void *k, size_t n, const char *end);
/* A JSON member "name":"text" (valid UTF-8) or "name_b64":"...". */
void cli_json_bytes(FILE *f, const char *name, const void *v, size_t n);
/* The --json output of check: {"ok":...,"path":...} and, on failure, "error" and "message". */
void cli_json_check(const char *path, int rc);
/* "1.5 KiB" etc. into buf. */
const char *cli_human_bytes(uint64_t n, char *buf, size_t cap);
/* "1.21 KiB (1234 bytes)", or "812 B" under 1 KiB. */
const char *cli_size_str(uint64_t n, char *buf, size_t cap);
/* Unix ms as "2025-01-02T03:04:05Z" (".123" before Z when not a whole second). */
const char *cli_time_str(int64_t ms, char *buf, size_t cap);
int64_t cli_now_ms(void);
/* 0 if stdout is fine; else print the error (e.g. disk full) and return its exit code. */
int cli_flush_stdout(void);

/* Progress on standard error, only when it is a terminal. A ticker shows the elapsed time of one
 * long core call (reclaim, compact, check) after the first second; a counter shows records done. */
void cli_ticker_start(const char *what);
void cli_ticker_stop(void);
void cli_progress(const char *verb, uint64_t records, uint64_t bytes, int final);

#endif
