/* cli_json.c - UTF-8 and JSON validation, JSON strings, base64, flat-object reader (see cli_json.h). */
#include "cli_json.h"

#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

/* Length of the well-formed sequence at s (1..4), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0], lo = 0x80, hi = 0xbf;
    if (c < 0x80) return 1;
    if (c < 0xc2) return 0; /* continuation byte or overlong 2-byte lead */
    if (c < 0xe0) return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c < 0xf0) {
        if (n < 3) return 0;
        if (c == 0xe0) lo = 0xa0; /* overlong */
        if (c == 0xed) hi = 0x9f; /* surrogates */
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c < 0xf5) {
        if (n < 4) return 0;
        if (c == 0xf0) lo = 0x90; /* overlong */
        if (c == 0xf4) hi = 0x8f; /* past U+10FFFF */
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

int cj_utf8_valid(const void *sv, size_t n) {
    const unsigned char *s = (const unsigned char *)sv;
    size_t i = 0;
    while (i < n) {
        size_t k;
        if (s[i] < 0x80) { /* ASCII run */
            i++;
            continue;
        }
        if ((k = utf8_seq(s + i, n - i)) == 0) return 0;
        i += k;
    }
    return 1;
}

/* ---- JSON scanning ------------------------------------------------------------------------------ */

typedef struct scan {
    const unsigned char *s;
    size_t n, i;
    const char *why;
} scan;

static void skip_ws(scan *sc) {
    while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' || sc->s[sc->i] == '\n' || sc->s[sc->i] == '\r'))
        sc->i++;
}

static int bad(scan *sc, const char *why) {
    sc->why = why;
    return -1;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Read \uXXXX's XXXX at sc->i (after the 'u'); -1 if malformed. */
static long hex4(scan *sc) {
    long v = 0;
    int k;
    if (sc->n - sc->i < 4) return -1;
    for (k = 0; k < 4; k++) {
        int h = hexval(sc->s[sc->i + (size_t)k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    sc->i += 4;
    return v;
}

/* A string at sc->i ('"'). With out != NULL, decode it into a malloc'd buffer. */
static int scan_string(scan *sc, char **out, size_t *outlen) {
    char *buf = NULL;
    size_t len = 0;
    if (out) {
        /* the decoded string is never longer than its JSON form */
        size_t j = sc->i + 1;
        while (j < sc->n && sc->s[j] != '"') j += sc->s[j] == '\\' ? 2 : 1;
        if (!(buf = (char *)malloc(j - sc->i + 1))) return bad(sc, "out of memory");
    }
    sc->i++;
    for (;;) {
        unsigned c;
        if (sc->i >= sc->n) goto fail_end;
        c = sc->s[sc->i];
        if (c == '"') {
            sc->i++;
            break;
        }
        if (c < 0x20) {
            sc->why = "control character in a string";
            goto fail;
        }
        if (c == '\\') {
            long u;
            if (++sc->i >= sc->n) goto fail_end;
            c = sc->s[sc->i++];
            switch (c) {
            case '"': case '\\': case '/': break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u':
                if ((u = hex4(sc)) < 0) {
                    sc->why = "bad \\u escape";
                    goto fail;
                }
                if (!buf) continue; /* validation: any code unit is fine (RFC 8259 grammar) */
                if (u >= 0xd800 && u <= 0xdbff) { /* a high surrogate must pair with a low one */
                    long lo;
                    if (sc->n - sc->i < 6 || sc->s[sc->i] != '\\' || sc->s[sc->i + 1] != 'u') goto fail_sur;
                    sc->i += 2;
                    if ((lo = hex4(sc)) < 0xdc00 || lo > 0xdfff) goto fail_sur;
                    u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                } else if (u >= 0xdc00 && u <= 0xdfff) {
                    goto fail_sur;
                }
                if (u < 0x80) {
                    buf[len++] = (char)u;
                } else if (u < 0x800) {
                    buf[len++] = (char)(0xc0 | (u >> 6));
                    buf[len++] = (char)(0x80 | (u & 0x3f));
                } else if (u < 0x10000) {
                    buf[len++] = (char)(0xe0 | (u >> 12));
                    buf[len++] = (char)(0x80 | ((u >> 6) & 0x3f));
                    buf[len++] = (char)(0x80 | (u & 0x3f));
                } else {
                    buf[len++] = (char)(0xf0 | (u >> 18));
                    buf[len++] = (char)(0x80 | ((u >> 12) & 0x3f));
                    buf[len++] = (char)(0x80 | ((u >> 6) & 0x3f));
                    buf[len++] = (char)(0x80 | (u & 0x3f));
                }
                continue;
            default:
                sc->i--;
                sc->why = "bad escape in a string";
                goto fail;
            }
            if (buf) buf[len++] = (char)c;
            continue;
        }
        if (c < 0x80) {
            if (buf) buf[len++] = (char)c;
            sc->i++;
        } else {
            size_t k = utf8_seq(sc->s + sc->i, sc->n - sc->i);
            if (!k) {
                sc->why = "invalid UTF-8";
                goto fail;
            }
            if (buf) memcpy(buf + len, sc->s + sc->i, k), len += k;
            sc->i += k;
        }
    }
    if (out) {
        buf[len] = 0;
        *out = buf;
        *outlen = len;
    }
    return 0;
fail_sur:
    sc->why = "unpaired surrogate in a \\u escape";
    goto fail;
fail_end:
    sc->why = "unterminated string";
fail:
    free(buf);
    return -1;
}

/* A number at sc->i; *is_int set when it has no fraction or exponent. */
static int scan_number(scan *sc, int *is_int) {
    size_t i = sc->i;
    const unsigned char *s = sc->s;
    *is_int = 1;
    if (i < sc->n && s[i] == '-') i++;
    if (i < sc->n && s[i] == '0') {
        i++;
    } else if (i < sc->n && s[i] >= '1' && s[i] <= '9') {
        while (i < sc->n && s[i] >= '0' && s[i] <= '9') i++;
    } else {
        sc->i = i;
        return bad(sc, "bad number");
    }
    if (i < sc->n && s[i] == '.') {
        *is_int = 0;
        if (++i >= sc->n || s[i] < '0' || s[i] > '9') {
            sc->i = i;
            return bad(sc, "bad number: digits must follow '.'");
        }
        while (i < sc->n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < sc->n && (s[i] == 'e' || s[i] == 'E')) {
        *is_int = 0;
        i++;
        if (i < sc->n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= sc->n || s[i] < '0' || s[i] > '9') {
            sc->i = i;
            return bad(sc, "bad number: digits must follow the exponent");
        }
        while (i < sc->n && s[i] >= '0' && s[i] <= '9') i++;
    }
    sc->i = i;
    return 0;
}

static int scan_literal(scan *sc, const char *lit) {
    size_t k = strlen(lit);
    if (sc->n - sc->i < k || memcmp(sc->s + sc->i, lit, k) != 0) return bad(sc, "unexpected character");
    sc->i += k;
    return 0;
}

/* One value at sc->i (whitespace skipped first), any nesting depth, without recursion: the stack
 * holds one byte per open container. Leaves sc->i just past the value. */
static int scan_value(scan *sc) {
    unsigned char *stack = NULL;
    size_t depth = 0, cap = 0;
    int rc = -1, is_int;
    for (;;) {
        /* expect a value */
        skip_ws(sc);
        if (sc->i >= sc->n) {
            bad(sc, "unexpected end of the document");
            goto out;
        }
        switch (sc->s[sc->i]) {
        case '{':
        case '[':
            if (depth == cap) {
                size_t nc = cap ? cap * 2 : 64;
                unsigned char *ns = (unsigned char *)realloc(stack, nc);
                if (!ns) {
                    bad(sc, "out of memory");
                    goto out;
                }
                stack = ns, cap = nc;
            }
            stack[depth++] = sc->s[sc->i++];
            skip_ws(sc);
            if (sc->i < sc->n && sc->s[sc->i] == (stack[depth - 1] == '{' ? '}' : ']')) {
                sc->i++;
                depth--;
                break; /* an empty container is a complete value */
            }
            if (stack[depth - 1] == '{') {
                if (sc->i >= sc->n || sc->s[sc->i] != '"') {
                    bad(sc, sc->i >= sc->n ? "unexpected end of the document" : "expected a member name");
                    goto out;
                }
                if (scan_string(sc, NULL, NULL)) goto out;
                skip_ws(sc);
                if (sc->i >= sc->n || sc->s[sc->i] != ':') {
                    bad(sc, "expected ':' after a member name");
                    goto out;
                }
                sc->i++;
            }
            continue; /* the first element or member value */
        case '"':
            if (scan_string(sc, NULL, NULL)) goto out;
            break;
        case 't':
            if (scan_literal(sc, "true")) goto out;
            break;
        case 'f':
            if (scan_literal(sc, "false")) goto out;
            break;
        case 'n':
            if (scan_literal(sc, "null")) goto out;
            break;
        default:
            if (sc->s[sc->i] == '-' || (sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9')) {
                if (scan_number(sc, &is_int)) goto out;
            } else {
                bad(sc, "unexpected character");
                goto out;
            }
        }
        /* after a complete value: close containers or go on to the next element */
        for (;;) {
            unsigned char top;
            if (depth == 0) {
                rc = 0;
                goto out;
            }
            top = stack[depth - 1];
            skip_ws(sc);
            if (sc->i >= sc->n) {
                bad(sc, "unexpected end of the document");
                goto out;
            }
            if (sc->s[sc->i] == ',') {
                sc->i++;
                if (top == '{') {
                    skip_ws(sc);
                    if (sc->i >= sc->n || sc->s[sc->i] != '"') {
                        bad(sc, "expected a member name");
                        goto out;
                    }
                    if (scan_string(sc, NULL, NULL)) goto out;
                    skip_ws(sc);
                    if (sc->i >= sc->n || sc->s[sc->i] != ':') {
                        bad(sc, "expected ':' after a member name");
                        goto out;
                    }
                    sc->i++;
                }
                break; /* expect the next value */
            }
            if (sc->s[sc->i] == (top == '{' ? '}' : ']')) {
                sc->i++;
                depth--;
                continue;
            }
            bad(sc, top == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
            goto out;
        }
    }
out:
    free(stack);
    return rc;
}

int cj_json_valid(const void *s, size_t n, size_t *err_at, const char **why) {
    scan sc;
    sc.s = (const unsigned char *)s, sc.n = n, sc.i = 0, sc.why = NULL;
    if (scan_value(&sc) == 0) {
        skip_ws(&sc);
        if (sc.i == n) return 1;
        sc.why = "more data after the document";
    }
    if (err_at) *err_at = sc.i;
    if (why) *why = sc.why;
    return 0;
}

/* ---- writing ---------------------------------------------------------------------------------- */

void cj_put_str(FILE *f, const void *sv, size_t n) {
    const unsigned char *s = (const unsigned char *)sv;
    size_t i = 0, run = 0;
    putc('"', f);
    for (i = 0; i < n; i++) {
        unsigned c = s[i];
        const char *esc = NULL;
        char u[8];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (i > run) fwrite(s + run, 1, i - run, f);
        run = i + 1;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            snprintf(u, sizeof u, "\\u%04x", c);
            esc = u;
        }
        fputs(esc, f);
    }
    if (n > run) fwrite(s + run, 1, n - run, f);
    putc('"', f);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void cj_put_b64(FILE *f, const void *sv, size_t n) {
    const unsigned char *s = (const unsigned char *)sv;
    char out[4096];
    size_t i = 0, o = 0;
    while (i + 3 <= n) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        out[o++] = B64[v >> 18], out[o++] = B64[(v >> 12) & 63], out[o++] = B64[(v >> 6) & 63], out[o++] = B64[v & 63];
        i += 3;
        if (o == sizeof out) fwrite(out, 1, o, f), o = 0;
    }
    if (n - i == 1) {
        unsigned v = (unsigned)s[i] << 16;
        out[o++] = B64[v >> 18], out[o++] = B64[(v >> 12) & 63], out[o++] = '=', out[o++] = '=';
    } else if (n - i == 2) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
        out[o++] = B64[v >> 18], out[o++] = B64[(v >> 12) & 63], out[o++] = B64[(v >> 6) & 63], out[o++] = '=';
    }
    if (o) fwrite(out, 1, o, f);
}

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int cj_b64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen) {
    unsigned char *b;
    size_t i, o = 0;
    if (n % 4) return -1;
    if (!(b = (unsigned char *)malloc(n / 4 * 3 + 1))) return -2;
    for (i = 0; i < n; i += 4) {
        int v0 = b64val((unsigned char)s[i]), v1 = b64val((unsigned char)s[i + 1]);
        int v2 = b64val((unsigned char)s[i + 2]), v3 = b64val((unsigned char)s[i + 3]);
        int last = i + 4 == n;
        if (v0 < 0 || v1 < 0) goto bad;
        if (last && s[i + 2] == '=' && s[i + 3] == '=') {
            if (v1 & 15) goto bad; /* non-canonical trailing bits */
            b[o++] = (unsigned char)(v0 << 2 | v1 >> 4);
            break;
        }
        if (v2 < 0) goto bad;
        if (last && s[i + 3] == '=') {
            if (v2 & 3) goto bad;
            b[o++] = (unsigned char)(v0 << 2 | v1 >> 4);
            b[o++] = (unsigned char)((v1 & 15) << 4 | v2 >> 2);
            break;
        }
        if (v3 < 0) goto bad;
        b[o++] = (unsigned char)(v0 << 2 | v1 >> 4);
        b[o++] = (unsigned char)((v1 & 15) << 4 | v2 >> 2);
        b[o++] = (unsigned char)((v2 & 3) << 6 | v3);
    }
    *out = b;
    *outlen = o;
    return 0;
bad:
    free(b);
    return -1;
}

/* ---- flat objects ----------------------------------------------------------------------------- */

void cj_fields_free(cj_field *f, int nf) {
    int k;
    for (k = 0; k < nf; k++) free(f[k].name), free(f[k].s);
}

const cj_field *cj_get(const cj_field *f, int nf, const char *name) {
    int k;
    for (k = 0; k < nf; k++)
        if (!strcmp(f[k].name, name)) return &f[k];
    return NULL;
}

static int parse_int64(const unsigned char *s, size_t n, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0, lim;
    if (n && s[0] == '-') neg = 1, i = 1;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d = s[i] - '0';
        if (v > (lim - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

int cj_obj_parse(const char *s, size_t n, cj_field *f, int cap, int *nf, size_t *err_at, const char **why) {
    scan sc;
    int k = 0;
    sc.s = (const unsigned char *)s, sc.n = n, sc.i = 0, sc.why = NULL;
    skip_ws(&sc);
    if (sc.i >= n || sc.s[sc.i] != '{') {
        bad(&sc, "not a JSON object");
        goto fail;
    }
    sc.i++;
    skip_ws(&sc);
    if (sc.i < n && sc.s[sc.i] == '}') {
        sc.i++;
        goto end;
    }
    for (;;) {
        cj_field *x;
        size_t start, nlen;
        int is_int;
        skip_ws(&sc);
        if (sc.i >= n || sc.s[sc.i] != '"') {
            bad(&sc, "expected a member name");
            goto fail;
        }
        if (k == cap) {
            bad(&sc, "too many fields");
            goto fail;
        }
        x = &f[k];
        memset(x, 0, sizeof *x);
        if (scan_string(&sc, &x->name, &nlen)) goto fail;
        k++;
        if (strlen(x->name) != nlen) {
            bad(&sc, "NUL in a member name");
            goto fail;
        }
        if (cj_get(f, k - 1, x->name)) {
            bad(&sc, "duplicate member name");
            goto fail;
        }
        skip_ws(&sc);
        if (sc.i >= n || sc.s[sc.i] != ':') {
            bad(&sc, "expected ':' after a member name");
            goto fail;
        }
        sc.i++;
        skip_ws(&sc);
        start = sc.i;
        if (sc.i < n && sc.s[sc.i] == '"') {
            x->type = CJ_STR;
            if (scan_string(&sc, &x->s, &x->slen)) goto fail;
        } else if (sc.i < n && (sc.s[sc.i] == '-' || (sc.s[sc.i] >= '0' && sc.s[sc.i] <= '9'))) {
            if (scan_number(&sc, &is_int)) goto fail;
            x->type = is_int && parse_int64(sc.s + start, sc.i - start, &x->i) == 0 ? CJ_INT : CJ_OTHER;
        } else if (sc.i < n && sc.s[sc.i] == 'n' && scan_literal(&sc, "null") == 0) {
            x->type = CJ_NULL;
        } else if (sc.i < n && sc.s[sc.i] == 't' && scan_literal(&sc, "true") == 0) {
            x->type = CJ_BOOL, x->i = 1;
        } else if (sc.i < n && sc.s[sc.i] == 'f' && scan_literal(&sc, "false") == 0) {
            x->type = CJ_BOOL, x->i = 0;
        } else {
            x->type = CJ_OTHER;
            if (scan_value(&sc)) goto fail;
        }
        x->raw_at = start;
        x->raw_len = sc.i - start;
        skip_ws(&sc);
        if (sc.i < n && sc.s[sc.i] == ',') {
            sc.i++;
            continue;
        }
        if (sc.i < n && sc.s[sc.i] == '}') {
            sc.i++;
            break;
        }
        bad(&sc, "expected ',' or '}'");
        goto fail;
    }
end:
    skip_ws(&sc);
    if (sc.i != n) {
        bad(&sc, "more data after the object");
        goto fail;
    }
    *nf = k;
    return 0;
fail:
    cj_fields_free(f, k);
    *nf = 0;
    if (err_at) *err_at = sc.i;
    if (why) *why = sc.why;
    return -1;
}
