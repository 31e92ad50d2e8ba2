/*
 * cairn.c - the `cairn` command-line tool: dispatch, options, help, and the shell.
 *
 *   cairn kv COMMAND DIR ...        put get del list stats check compact dump load
 *   cairn blob COMMAND FILE ...     create get update del list stats check compact dump load
 *   cairn table COMMAND DIR ...     create insert get update delete count list stats check compact
 *                                   schema import export select index dump load
 *                                   (kv, blob, table: snapshot snapshots drop-snapshot backup)
 *   cairn repo COMMAND DIR ...      init tenants entries save load log diff put get delete keys tag gc
 *                                   verify stats dump restore
 *   cairn shell [kv|blob|table|repo] PATH   the same commands, one a line, from standard input
 *   cairn help [ENGINE [COMMAND]]   cairn --help   cairn --version
 *
 * The commands live in cli_kv.c, cli_blob.c, cli_table.c and cli_repo.c, one table per engine (cli.h: struct command);
 * docs/cli.md is the reference (exit codes, output, dump format). Errors go to stderr as
 * "cairn: NAME: message".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

typedef struct engine {
    const char *name;
    const char *what; /* "a KV store (a directory)" */
    const command *cmds;
} engine;

static const engine engines[] = {{"kv", "a KV store (a directory)", cli_kv_cmds},
                                 {"blob", "a blob store (a file; its WAL is FILE-wal)", cli_blob_cmds},
                                 {"table", "a table (a directory)", cli_table_cmds},
                                 {"repo", "a versioned store (a directory)", cli_repo_cmds},
                                 {NULL, NULL, NULL}};

static const char EXIT_CODES_HELP[] =
    "Exit codes:\n"
    "  0  success                            5  I/O error or disk full\n"
    "  1  not found (key, blob, row, entry)  6  corrupt store or unsupported format version\n"
    "  2  usage (bad command line)           7  locked: another writer holds the store\n"
    "  3  other error                        8  refused: not UTF-8, not JSON, too big, bad dump, key exists\n"
    "  4  path missing, not usable or not permitted\n";

/* ---- help ------------------------------------------------------------------------------------- */

static const engine *find_engine(const char *name) {
    const engine *e;
    for (e = engines; e->name; e++)
        if (!strcmp(e->name, name)) return e;
    return NULL;
}

static const command *find_command(const engine *e, const char *name) {
    const command *c;
    for (c = e->cmds; c->name; c++)
        if (!strcmp(c->name, name)) return c;
    return NULL;
}

static void list_commands(FILE *to, const engine *e, const char *indent) {
    const command *c;
    for (c = e->cmds; c->name; c++) {
        char head[96];
        snprintf(head, sizeof head, "%s %s %s", e->name, c->name, c->args);
        fprintf(to, "%s%-28s %s\n", indent, head, c->summary);
    }
}

static void main_help(FILE *to) {
    const engine *e;
    fprintf(to,
            "cairn %s - inspect and edit Cairn stores\n\n"
            "usage: cairn kv COMMAND DIR [ARGS] [OPTIONS]      a KV store (a directory)\n"
            "       cairn blob COMMAND FILE [ARGS] [OPTIONS]   a blob store (a file)\n"
            "       cairn table COMMAND DIR [ARGS] [OPTIONS]   a table (a directory)\n"
            "       cairn repo COMMAND DIR [ARGS] [OPTIONS]    a versioned store (a directory)\n"
            "       cairn shell [ENGINE] PATH                  run commands read from standard input\n"
            "       cairn help [ENGINE [COMMAND]]              help on an engine or a command\n"
            "       cairn --version                            the version\n",
            CAIRN_CLI_VERSION);
    for (e = engines; e->name; e++) {
        fprintf(to, "\nCommands on %s:\n", e->what);
        list_commands(to, e, "  ");
    }
    fprintf(to, "\nVALUE is the text itself, '-' for standard input, or @FILE for a file's contents.\n"
                "Options may come anywhere after the command; '--' ends them (for a KEY or VALUE that\n"
                "starts with '-').\n\n%s\nMore: `cairn help kv put`, and docs/cli.md.\n",
            EXIT_CODES_HELP);
}

static void engine_help(FILE *to, const engine *e) {
    fprintf(to, "usage: cairn %s COMMAND %s [ARGS] [OPTIONS]    (%s)\n\nCommands:\n", e->name,
            e->cmds == cli_blob_cmds ? "FILE" : "DIR", e->what);
    list_commands(to, e, "  ");
    fprintf(to, "\nHelp on one: cairn help %s COMMAND. Exit codes: cairn --help.\n", e->name);
}

static void command_help(FILE *to, const engine *e, const command *c) {
    fprintf(to, "usage: cairn %s %s %s%s\n\n%s.\n", e->name, c->name, c->args, c->opts ? " [OPTIONS]" : "",
            c->summary);
    if (c->details) fprintf(to, "\n%s\n", c->details);
    fprintf(to, "\nExit codes: 0 success, 1 not found, 2 usage, 3-8 errors by class (cairn --help).\n");
}

/* `cairn help ...` with args = what follows "help". */
static int help(int argc, char **argv) {
    const engine *e;
    const command *c;
    if (argc == 0) {
        main_help(stdout);
        return 0;
    }
    if (!(e = find_engine(argv[0]))) {
        if (!strcmp(argv[0], "shell")) {
            printf("usage: cairn shell [kv|blob|table|repo] PATH\n\n"
                   "Run commands on one store, one a line, read from standard input (a terminal or a pipe):\n"
                   "the commands of the engine without PATH, e.g. `put k v`, `get k`, `list -l`. Words are\n"
                   "split at spaces; quote with '...' or \"...\" (which knows \\n, \\t, \\\\, \\\" and \\xNN).\n"
                   "`help [COMMAND]` lists the commands, `quit` (or the end of input) ends. Without an engine,\n"
                   "a directory is a table if it holds a MANIFEST, a versioned store if it holds CAIRN-REPO, else\n"
                   "a KV store, and a file a blob store.\n"
                   "In the shell `get` ends every value with a newline and '-' cannot be a value (use @FILE).\n"
                   "The exit code is that of the last command that failed (0 if none).\n");
            return 0;
        }
        fprintf(stderr, "cairn: no help on '%s'\n", argv[0]);
        main_help(stderr);
        return EXIT_USAGE;
    }
    if (argc == 1) {
        engine_help(stdout, e);
        return 0;
    }
    if (!(c = find_command(e, argv[1]))) {
        fprintf(stderr, "cairn: unknown command '%s %s'\n", e->name, argv[1]);
        engine_help(stderr, e);
        return EXIT_USAGE;
    }
    command_help(stdout, e, c);
    return 0;
}

/* ---- options ---------------------------------------------------------------------------------- */

static int usage_of(const engine *e, const command *c) {
    fprintf(stderr, "usage: cairn %s %s %s%s   (cairn help %s %s)\n", e->name, c->name, c->args,
            c->opts ? " [OPTIONS]" : "", e->name, c->name);
    return EXIT_USAGE;
}

/* "--name=value" or "--name value": the value, advancing *i for the second form; NULL if missing. */
static const char *opt_value(const char *a, const char *name, int argc, char **argv, int *i) {
    size_t n = strlen(name);
    if (a[n] == '=') return a + n + 1;
    if (*i + 1 < argc) return argv[++*i];
    return NULL;
}

static int matches(const char *a, const char *name) {
    size_t n = strlen(name);
    return !strncmp(a, name, n) && (a[n] == 0 || a[n] == '=');
}

static int parse_ttl(const char *s, int64_t *ms) {
    char *end;
    unsigned long long v;
    int64_t mul = 1000;
    if (*s < '0' || *s > '9') return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno) return 0;
    if (!strcmp(end, "ms")) mul = 1;
    else if (!*end || !strcmp(end, "s")) mul = 1000;
    else if (!strcmp(end, "m")) mul = 60000;
    else if (!strcmp(end, "h")) mul = 3600000;
    else if (!strcmp(end, "d")) mul = 86400000;
    else return 0;
    if (v == 0 || v > (unsigned long long)(INT64_MAX / 2 / mul)) return 0;
    *ms = (int64_t)v * mul;
    return 1;
}

/* Split argv into options (into *o) and positional arguments (appended to pos[0..*npos)). Returns -1 to go on,
 * or an exit code (help printed: 0; a usage error: 2). */
static int parse_args(const engine *e, const command *c, int argc, char **argv, opts *o, char **pos, int *npos) {
    int i, endopts = 0;
    memset(o, 0, sizeof *o);
    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        unsigned bit = 0;
        if (endopts || a[0] != '-' || a[1] == 0) {
            pos[(*npos)++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--")) {
            endopts = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            command_help(stdout, e, c);
            return 0;
        }
        if (matches(a, "--kind")) {
            bit = OPT_KIND;
            if (!(v = opt_value(a, "--kind", argc, argv, &i))) goto missing;
            o->kind = cli_kind_parse(v);
            if (o->kind < 0 || o->kind == CAIRN_KIND_NATIVE) {
                fprintf(stderr, "cairn: --kind must be bytes, text or json, not '%s'\n", v);
                return usage_of(e, c);
            }
        } else if (matches(a, "--ttl") || matches(a, "--expire-at")) {
            int ttl = matches(a, "--ttl");
            int64_t ms;
            bit = OPT_EXPIRE;
            if (o->given & OPT_EXPIRE) {
                fprintf(stderr, "cairn: give one of --ttl and --expire-at\n");
                return usage_of(e, c);
            }
            if (!(v = opt_value(a, ttl ? "--ttl" : "--expire-at", argc, argv, &i))) goto missing;
            if (ttl) {
                if (!parse_ttl(v, &ms)) {
                    fprintf(stderr, "cairn: --ttl wants a positive duration such as 30, 90s, 15m, 2h or 7d, "
                                    "not '%s'\n", v);
                    return usage_of(e, c);
                }
                o->expire_at = cli_now_ms() + ms;
            } else {
                char *end;
                long long at;
                errno = 0;
                at = strtoll(v, &end, 10);
                if (errno || *end || end == v || at <= 0) {
                    fprintf(stderr, "cairn: --expire-at wants a time in Unix milliseconds, not '%s'\n", v);
                    return usage_of(e, c);
                }
                o->expire_at = at;
            }
        } else if (!strcmp(a, "--json")) {
            bit = OPT_JSON;
        } else if (!strcmp(a, "--raw")) {
            bit = OPT_RAW;
        } else if (!strcmp(a, "--csv")) {
            bit = OPT_CSV;
        } else if (matches(a, "--where") || matches(a, "--columns") || matches(a, "--order") || matches(a, "--param")) {
            const char *name = matches(a, "--where") ? "--where" : matches(a, "--columns") ? "--columns"
                             : matches(a, "--order") ? "--order" : "--param";
            bit = name[2] == 'w' ? OPT_WHERE : name[2] == 'c' ? OPT_COLUMNS : name[2] == 'o' ? OPT_ORDER : OPT_PARAM;
            if (!(v = opt_value(a, name, argc, argv, &i))) goto missing;
            if (bit == OPT_WHERE) o->where = v;
            else if (bit == OPT_COLUMNS) o->columns = v;
            else if (bit == OPT_ORDER) o->order = v;
            else if (o->nparams == CLI_MAX_PARAMS) {
                fprintf(stderr, "cairn: at most %d --param\n", CLI_MAX_PARAMS);
                return usage_of(e, c);
            } else {
                o->params[o->nparams++] = v;
            }
        } else if (matches(a, "--limit") || matches(a, "--offset")) {
            const char *name = matches(a, "--limit") ? "--limit" : "--offset";
            char *end;
            unsigned long long n;
            bit = OPT_LIMIT;
            if (!(v = opt_value(a, name, argc, argv, &i))) goto missing;
            errno = 0;
            n = strtoull(v, &end, 10);
            if (errno || *end || end == v || *v == '-' || n > (unsigned long long)INT64_MAX) {
                fprintf(stderr, "cairn: %s wants a number, not '%s'\n", name, v);
                return usage_of(e, c);
            }
            if (name[2] == 'l') o->has_limit = 1, o->limit = (uint64_t)n;
            else o->has_offset = 1, o->offset = (uint64_t)n;
        } else if (!strcmp(a, "--prometheus")) {
            bit = OPT_PROM;
        } else if (!strcmp(a, "--hex")) {
            bit = OPT_HEX;
        } else if (!strcmp(a, "-l") || !strcmp(a, "--long")) {
            bit = OPT_LONG;
        } else if (!strcmp(a, "--replace")) {
            bit = OPT_REPLACE;
        } else if (matches(a, "--tenant") || matches(a, "--user") || matches(a, "--digest")) {
            const char *name = matches(a, "--tenant") ? "--tenant" : matches(a, "--user") ? "--user" : "--digest";
            bit = name[2] == 't' ? OPT_TENANT : name[2] == 'u' ? OPT_USER : OPT_DIGEST;
            if (!(v = opt_value(a, name, argc, argv, &i))) goto missing;
            if (bit == OPT_TENANT) o->tenant = v;
            else if (bit == OPT_USER) o->user = v;
            else o->digest = v;
        } else if (matches(a, "--grace") || matches(a, "--max")) {
            const char *name = matches(a, "--grace") ? "--grace" : "--max";
            char *end;
            unsigned long long n;
            bit = name[2] == 'g' ? OPT_GRACE : OPT_MAX;
            if (!(v = opt_value(a, name, argc, argv, &i))) goto missing;
            errno = 0;
            n = strtoull(v, &end, 10);
            if (errno || *end || end == v || *v == '-') {
                fprintf(stderr, "cairn: %s wants a number, not '%s'\n", name, v);
                return usage_of(e, c);
            }
            if (bit == OPT_GRACE) o->grace_ms = (uint64_t)n;
            else o->max = (uint64_t)n;
        }
        if (!bit || !(c->opts & bit)) {
            fprintf(stderr, "cairn: %s %s: unknown option '%s' (put '--' before a KEY or VALUE that starts with '-')\n",
                    e->name, c->name, a);
            return usage_of(e, c);
        }
        o->given |= bit;
        continue;
    missing:
        fprintf(stderr, "cairn: %s needs a value\n", a);
        return usage_of(e, c);
    }
    {
        unsigned out = o->given & (OPT_JSON | OPT_RAW | OPT_HEX | OPT_PROM | OPT_CSV);
        if (out & (out - 1)) {
            fprintf(stderr, "cairn: give one of --json, --raw, --hex, --csv and --prometheus\n");
            return usage_of(e, c);
        }
    }
    if (*npos < c->min_args || *npos > c->max_args) return usage_of(e, c);
    return -1;
}

/* Run command c of engine e on argv (options and positional arguments mixed). With path set (the
 * shell), path is the first positional argument. */
static int run_command(const engine *e, const command *c, int argc, char **argv, char *path) {
    opts o;
    char **pos = (char **)malloc(sizeof(char *) * (size_t)(argc + 2));
    int npos = 0, rc;
    if (!pos) return cli_error(EXIT_ERROR, "CAIRN_NOMEM", "out of memory");
    if (path) pos[npos++] = path;
    rc = parse_args(e, c, argc, argv, &o, pos, &npos);
    if (rc < 0) rc = c->run(&o, npos, pos);
    free(pos);
    return rc;
}

/* ---- shell ------------------------------------------------------------------------------------ */

/* Split a line into words: spaces separate; '...' is literal; "..." knows \n \t \\ \" \xNN;
 * outside quotes a backslash escapes the next character. In place; returns the count, -1 if a
 * quote is not closed. */
static int split_words(char *s, char **words, int cap) {
    int n = 0;
    char *out = s;
    while (*s) {
        int have = 0;
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
        if (!*s) break;
        if (n == cap) return -1;
        words[n] = out;
        while (*s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') {
            have = 1;
            if (*s == '\'') {
                for (s++; *s && *s != '\''; s++) *out++ = *s;
                if (!*s) return -1;
                s++;
            } else if (*s == '"') {
                for (s++; *s && *s != '"'; s++) {
                    if (*s == '\\' && s[1]) {
                        s++;
                        switch (*s) {
                        case 'n': *out++ = '\n'; break;
                        case 't': *out++ = '\t'; break;
                        case 'x':
                            if (s[1] && s[2] && strchr("0123456789abcdefABCDEF", s[1]) &&
                                strchr("0123456789abcdefABCDEF", s[2])) {
                                char hex[3] = {s[1], s[2], 0};
                                *out++ = (char)strtol(hex, NULL, 16);
                                s += 2;
                            } else {
                                *out++ = 'x';
                            }
                            break;
                        default: *out++ = *s;
                        }
                    } else {
                        *out++ = *s;
                    }
                }
                if (!*s) return -1;
                s++;
            } else if (*s == '\\' && s[1]) {
                *out++ = s[1];
                s += 2;
            } else {
                *out++ = *s++;
            }
        }
        (void)have;
        if (*s) s++;
        *out++ = 0;
        n++;
    }
    return n;
}

static int shell(int argc, char **argv) {
    const engine *e = NULL;
    char *path, *line = NULL;
    size_t cap = 0;
    int last = 0, tty = isatty(STDIN_FILENO);
    if (argc == 2 && (e = find_engine(argv[0])) != NULL) {
        path = argv[1];
    } else if (argc == 1) {
        struct stat st;
        path = argv[0];
        if (stat(path, &st) != 0) {
            fprintf(stderr, "cairn: '%s' does not exist: say `cairn shell kv %s` or `cairn shell blob %s` "
                            "to create a store\n", path, path, path);
            return EXIT_USAGE;
        }
        e = find_engine(S_ISDIR(st.st_mode) ? "kv" : "blob");
        if (S_ISDIR(st.st_mode)) { /* a table directory holds a MANIFEST; a KV store never does */
            size_t n = strlen(path);
            char *m = (char *)malloc(n + sizeof "/MANIFEST");
            if (m) {
                memcpy(m, path, n);
                memcpy(m + n, "/MANIFEST", sizeof "/MANIFEST");
                if (stat(m, &st) == 0 && S_ISREG(st.st_mode)) e = find_engine("table");
                free(m);
            }
            if ((m = (char *)malloc(n + sizeof "/CAIRN-REPO")) != NULL) { /* a versioned store's marker */
                memcpy(m, path, n);
                memcpy(m + n, "/CAIRN-REPO", sizeof "/CAIRN-REPO");
                if (stat(m, &st) == 0 && S_ISREG(st.st_mode)) e = find_engine("repo");
                free(m);
            }
        }
    } else {
        fprintf(stderr, "usage: cairn shell [kv|blob|table|repo] PATH\n");
        return EXIT_USAGE;
    }
    cli_in_shell = 1;
    if (tty) printf("cairn %s shell on %s (%s). `help` lists the commands, `quit` ends.\n", e->name, path,
                    CAIRN_CLI_VERSION);
    for (;;) {
        char *words[256];
        int n, rc;
        const command *c;
        if (tty) {
            printf("cairn %s> ", e->name);
            fflush(stdout);
        }
        if (getline(&line, &cap, stdin) < 0) break;
        n = split_words(line, words, 256);
        if (n < 0) {
            fprintf(stderr, "cairn: unclosed quote (or more than 256 words)\n");
            last = EXIT_USAGE;
            continue;
        }
        if (n == 0 || words[0][0] == '#') continue;
        if (!strcmp(words[0], "quit") || !strcmp(words[0], "exit") || !strcmp(words[0], ".quit") ||
            !strcmp(words[0], ".exit"))
            break;
        if (!strcmp(words[0], "help") || !strcmp(words[0], ".help")) {
            if (n > 1 && (c = find_command(e, words[1])) != NULL) command_help(stdout, e, c);
            else engine_help(stdout, e);
            fflush(stdout);
            continue;
        }
        if (!(c = find_command(e, words[0]))) {
            fprintf(stderr, "cairn: unknown command '%s' (`help` lists them)\n", words[0]);
            last = EXIT_USAGE;
            continue;
        }
        rc = run_command(e, c, n - 1, words + 1, path);
        fflush(stdout);
        if (rc) last = rc;
    }
    free(line);
    if (tty) putchar('\n');
    return last;
}

/* ---- main ------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    const engine *e;
    const command *c;
    if (argc < 2) {
        main_help(stderr);
        return EXIT_USAGE;
    }
    if (argc == 2 && (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
        if (strcmp(CAIRN_CLI_VERSION, cairn_version()) != 0) printf("cairn %s (library %s)\n", CAIRN_CLI_VERSION, cairn_version());
        else printf("cairn %s\n", CAIRN_CLI_VERSION);
        return cli_flush_stdout();
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return help(argc - 2, argv + 2);
    if (!strcmp(argv[1], "shell")) {
        if (argc == 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) return help(1, argv + 1);
        return shell(argc - 2, argv + 2);
    }
    if (!(e = find_engine(argv[1]))) {
        fprintf(stderr, "cairn: unknown command '%s'\n", argv[1]);
        main_help(stderr);
        return EXIT_USAGE;
    }
    if (argc < 3) {
        engine_help(stderr, e);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h") || !strcmp(argv[2], "help")) {
        char *hv[2];
        hv[0] = argv[1];
        hv[1] = argc > 3 ? argv[3] : NULL;
        return help(argc > 3 ? 2 : 1, hv);
    }
    if (!(c = find_command(e, argv[2]))) {
        fprintf(stderr, "cairn: unknown command '%s %s'\n", e->name, argv[2]);
        engine_help(stderr, e);
        fprintf(stderr, "usage: see cairn help %s\n", e->name);
        return EXIT_USAGE;
    }
    return run_command(e, c, argc - 3, argv + 3, NULL);
}
