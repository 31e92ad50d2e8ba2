/* cli_dump.c - reading the dump format (JSON lines; docs/cli.md, "Dump format"), shared by
 * `cairn kv load` and `cairn blob load`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_dump.h"

int dump_open(dump_reader *r, const char *file, const char *engine) {
    cj_field f[DUMP_MAX_FIELDS];
    int nf, rc;
    const cj_field *x;
    memset(r, 0, sizeof *r);
    r->engine = engine;
    if (!file || !strcmp(file, "-")) {
        if (cli_in_shell)
            return cli_error(EXIT_USAGE, "CAIRN_INVALID", "the shell reads its commands from standard input: "
                             "load from a FILE");
        r->f = stdin;
        snprintf(r->src, sizeof r->src, "standard input");
    } else {
        if (!(r->f = fopen(file, "rb"))) {
            int e = errno;
            return cli_error(e == ENOENT || e == EACCES || e == ENOTDIR || e == EISDIR ? EXIT_PATH : EXIT_IO,
                             e == EACCES ? "CAIRN_PERM" : "CAIRN_PATH", "cannot open '%s': %s", file, strerror(e));
        }
        r->close = 1;
        snprintf(r->src, sizeof r->src, "%s", file);
    }
    if ((rc = dump_line(r, f, &nf)) != 0) {
        if (rc < 0) rc = cli_error(EXIT_DATA, "CAIRN_INVALID", "%s: empty, not a Cairn dump", r->src);
        dump_close(r);
        return rc;
    }
    x = cj_get(f, nf, "cairn_dump");
    if (!x || x->type != CJ_INT) {
        rc = dump_bad(r, "the first line is not a Cairn dump header ({\"cairn_dump\":1,...})");
    } else if (x->i != 1) {
        rc = dump_bad(r, "dump format version %lld is not supported (this tool reads version 1)", (long long)x->i);
    } else if (!(x = cj_get(f, nf, "engine")) || x->type != CJ_STR || strcmp(x->s, engine) != 0) {
        rc = dump_bad(r, "this is a dump of the %s engine, not %s", x && x->type == CJ_STR ? x->s : "(no engine)",
                      engine);
    }
    if (!rc && !(r->head_line = strdup(r->line))) rc = cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
    if (rc) {
        cj_fields_free(f, nf);
        dump_close(r);
        return rc;
    }
    memcpy(r->head, f, sizeof f[0] * (size_t)nf);
    r->nhead = nf;
    return 0;
}

void dump_close(dump_reader *r) {
    if (r->close && r->f) fclose(r->f);
    r->f = NULL;
    free(r->line);
    r->line = NULL;
    cj_fields_free(r->head, r->nhead);
    r->nhead = 0;
    free(r->head_line);
    r->head_line = NULL;
}

int dump_bad(dump_reader *r, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "cairn: CAIRN_INVALID: %s line %llu: ", r->src, (unsigned long long)r->lineno);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_DATA;
}

int dump_line(dump_reader *r, cj_field *f, int *nf) {
    for (;;) {
        ssize_t n;
        size_t at;
        const char *why;
        errno = 0;
        n = getline(&r->line, &r->cap, r->f);
        if (n < 0) {
            if (ferror(r->f))
                return cli_error(EXIT_IO, "CAIRN_IO", "reading %s: %s", r->src, strerror(errno));
            return -1;
        }
        r->lineno++;
        r->bytes += (uint64_t)n;
        while (n > 0 && (r->line[n - 1] == '\n' || r->line[n - 1] == '\r')) n--;
        if (n == 0) continue; /* blank lines are allowed */
        if (cj_obj_parse(r->line, (size_t)n, f, DUMP_MAX_FIELDS, nf, &at, &why) != 0)
            return dump_bad(r, "%s at column %zu", why, at + 1);
        return 0;
    }
}

int dump_next(dump_reader *r, cj_field *f, int *nf) {
    const cj_field *end, *cnt;
    int rc;
    if (r->ended) return -1;
    rc = dump_line(r, f, nf);
    if (rc < 0) return dump_bad(r, "the dump ends without its end line (truncated?)");
    if (rc) return rc;
    if (!(end = cj_get(f, *nf, "end"))) return 0;
    cnt = cj_get(f, *nf, "records");
    if (end->type != CJ_BOOL || !end->i || !cnt || cnt->type != CJ_INT) {
        cj_fields_free(f, *nf);
        return dump_bad(r, "a bad end line (want {\"end\":true,\"records\":N})");
    }
    if ((uint64_t)cnt->i != r->records) {
        long long want = (long long)cnt->i;
        cj_fields_free(f, *nf);
        return dump_bad(r, "the end line counts %lld records, the dump holds %llu", want,
                        (unsigned long long)r->records);
    }
    cj_fields_free(f, *nf);
    r->ended = 1;
    /* nothing but blank lines may follow */
    rc = dump_line(r, f, nf);
    if (rc == 0) {
        cj_fields_free(f, *nf);
        return dump_bad(r, "data after the end line");
    }
    return rc < 0 ? -1 : rc;
}

int dump_bytes(dump_reader *r, const cj_field *f, int nf, const char *name, unsigned char **out, size_t *len) {
    char b64name[64];
    const cj_field *t = cj_get(f, nf, name), *b;
    snprintf(b64name, sizeof b64name, "%s_b64", name);
    b = cj_get(f, nf, b64name);
    if ((t != NULL) == (b != NULL)) return dump_bad(r, "want exactly one of \"%s\" and \"%s\"", name, b64name);
    if (t) {
        if (t->type != CJ_STR) return dump_bad(r, "\"%s\" is not a string", name);
        if (!(*out = (unsigned char *)malloc(t->slen + 1)))
            return cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
        memcpy(*out, t->s, t->slen);
        *len = t->slen;
        return 0;
    }
    if (b->type != CJ_STR) return dump_bad(r, "\"%s\" is not a string", b64name);
    switch (cj_b64_decode(b->s, b->slen, out, len)) {
    case 0: return 0;
    case -1: return dump_bad(r, "\"%s\" is not valid base64", b64name);
    default: return cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
    }
}

void dump_header(const char *engine, const char *extra) {
    printf("{\"cairn_dump\":1,\"engine\":\"%s\",\"tool\":\"cairn %s\"%s}\n", engine, CAIRN_CLI_VERSION,
           extra ? extra : "");
}

void dump_trailer(uint64_t records) { printf("{\"end\":true,\"records\":%llu}\n", (unsigned long long)records); }
