/*
 * json.c - strict JSON (RFC 8259) validation and the top-level object merge behind every
 * binding's JSON `update` (cairn_kv_update_json).
 *
 * Strictness: exactly one value surrounded by optional whitespace (space, tab, LF, CR); numbers
 * -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; literals true/false/null; strings of valid
 * UTF-8 (no overlong forms, no encoded surrogates, nothing above U+10FFFF), no raw control
 * characters, escapes \" \\ \/ \b \f \n \r \t \uXXXX only, and a \u escape of a surrogate must
 * be a high surrogate immediately followed by a \u escape of a low one (a lone surrogate is
 * rejected, so every accepted text decodes to valid Unicode); containers nested at most
 * CAIRN_JSON_MAX_DEPTH deep (the recursion is bounded by it). Every violation is CAIRN_TYPE with
 * the byte offset in the message.
 *
 * Merge: one pass over each input records the top-level members (raw name text, decoded name,
 * raw value text); an open-addressing hash of decoded names maps a name to its output slot, so
 * merging is linear in the input sizes. Output slots keep the position of a name's first
 * occurrence (in obj, else in patch) and the value of its last one: the same result as parsing
 * obj into a dict / JS object, assigning patch's members, and serializing it again.
 */
#include "util.h"

#include <stdlib.h>

typedef struct jp {
    const uint8_t *s;
    size_t n, i;
    const char *what; /* "obj" / "patch" / "JSON", for messages */
    uint8_t *dec;     /* decode a string here (NULL: validate only) */
    size_t declen;
} jp;

static int jerr(jp *p, const char *msg) {
    return cairn_err__set(CAIRN_TYPE, "%s: invalid JSON: %s at byte %zu", p->what, msg, p->i);
}

static void skip_ws(jp *p) {
    while (p->i < p->n) {
        uint8_t c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->i++;
    }
}

static int hexval(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* 4 hex digits at p->i (after "\u"); advances past them. */
static int hex4(jp *p, uint32_t *out) {
    uint32_t v = 0;
    int k;
    if (p->n - p->i < 4) return jerr(p, "truncated \\u escape");
    for (k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i + (size_t)k]);
        if (h < 0) return jerr(p, "bad hex digit in \\u escape");
        v = (v << 4) | (uint32_t)h;
    }
    p->i += 4;
    *out = v;
    return 0;
}

static void emit_utf8(jp *p, uint32_t cp) {
    uint8_t *d;
    if (!p->dec) return;
    d = p->dec + p->declen;
    if (cp < 0x80) {
        d[0] = (uint8_t)cp;
        p->declen += 1;
    } else if (cp < 0x800) {
        d[0] = (uint8_t)(0xC0 | (cp >> 6));
        d[1] = (uint8_t)(0x80 | (cp & 0x3F));
        p->declen += 2;
    } else if (cp < 0x10000) {
        d[0] = (uint8_t)(0xE0 | (cp >> 12));
        d[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (uint8_t)(0x80 | (cp & 0x3F));
        p->declen += 3;
    } else {
        d[0] = (uint8_t)(0xF0 | (cp >> 18));
        d[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        d[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        d[3] = (uint8_t)(0x80 | (cp & 0x3F));
        p->declen += 4;
    }
}

/* Length of the valid UTF-8 sequence (2..4 bytes) starting at p->i with lead byte >= 0x80, or 0. */
static size_t utf8_seq(const jp *p) {
    const uint8_t *s = p->s + p->i;
    size_t left = p->n - p->i;
    uint8_t c = s[0];
    if (c >= 0xC2 && c <= 0xDF) return left >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        uint8_t lo = 0x80, hi = 0xBF;
        if (c == 0xE0) lo = 0xA0;      /* overlong */
        else if (c == 0xED) hi = 0x9F; /* UTF-16 surrogates */
        return left >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        uint8_t lo = 0x80, hi = 0xBF;
        if (c == 0xF0) lo = 0x90;      /* overlong */
        else if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
        return left >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* A string at p->i (which is '"'); decodes into p->dec (if set) from p->declen. */
static int parse_string(jp *p) {
    p->i++; /* the opening quote */
    for (;;) {
        uint8_t c;
        if (p->i >= p->n) return jerr(p, "unterminated string");
        c = p->s[p->i];
        if (c == '"') {
            p->i++;
            return 0;
        }
        if (c < 0x20) return jerr(p, "control character in string");
        if (c == '\\') {
            uint32_t cp;
            int rc;
            if (p->i + 1 >= p->n) return jerr(p, "unterminated string");
            c = p->s[p->i + 1];
            switch (c) {
            case '"': case '\\': case '/': cp = c; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                p->i += 2;
                if ((rc = hex4(p, &cp)) != 0) return rc;
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    p->i -= 6;
                    return jerr(p, "lone low surrogate in \\u escape");
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
                        return jerr(p, "high surrogate not followed by a \\u low surrogate");
                    p->i += 2;
                    if ((rc = hex4(p, &lo)) != 0) return rc;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        p->i -= 6;
                        return jerr(p, "high surrogate not followed by a low surrogate");
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                emit_utf8(p, cp);
                continue;
            default:
                p->i++;
                return jerr(p, "invalid escape");
            }
            p->i += 2;
            emit_utf8(p, cp);
            continue;
        }
        if (c < 0x80) {
            if (p->dec) p->dec[p->declen++] = c;
            p->i++;
        } else {
            size_t k = utf8_seq(p);
            if (!k) return jerr(p, "invalid UTF-8 in string");
            if (p->dec) {
                memcpy(p->dec + p->declen, p->s + p->i, k);
                p->declen += k;
            }
            p->i += k;
        }
    }
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static int parse_number(jp *p) {
    if (p->s[p->i] == '-') p->i++;
    if (p->i >= p->n || !is_digit(p->s[p->i])) return jerr(p, "digit expected in number");
    if (p->s[p->i] == '0') {
        p->i++;
        if (p->i < p->n && is_digit(p->s[p->i])) return jerr(p, "leading zero in number");
    } else {
        while (p->i < p->n && is_digit(p->s[p->i])) p->i++;
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (p->i >= p->n || !is_digit(p->s[p->i])) return jerr(p, "digit expected after decimal point");
        while (p->i < p->n && is_digit(p->s[p->i])) p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || !is_digit(p->s[p->i])) return jerr(p, "digit expected in exponent");
        while (p->i < p->n && is_digit(p->s[p->i])) p->i++;
    }
    return 0;
}

static int parse_lit(jp *p, const char *lit) {
    size_t k = strlen(lit);
    if (p->n - p->i < k || memcmp(p->s + p->i, lit, k) != 0) return jerr(p, "invalid literal");
    p->i += k;
    return 0;
}

/* One value at p->i (whitespace already skipped); `depth` containers are open around it. */
static int parse_value(jp *p, int depth) {
    uint8_t c;
    int rc;
    if (p->i >= p->n) return jerr(p, "value expected");
    c = p->s[p->i];
    if (c == '{' || c == '[') {
        uint8_t close = c == '{' ? '}' : ']';
        if (depth >= CAIRN_JSON_MAX_DEPTH) return jerr(p, "nesting deeper than 512");
        p->i++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                if (p->i >= p->n || p->s[p->i] != '"') return jerr(p, "member name expected");
                if ((rc = parse_string(p)) != 0) return rc;
                skip_ws(p);
                if (p->i >= p->n || p->s[p->i] != ':') return jerr(p, "':' expected");
                p->i++;
                skip_ws(p);
            }
            if ((rc = parse_value(p, depth + 1)) != 0) return rc;
            skip_ws(p);
            if (p->i >= p->n) return jerr(p, "unterminated container");
            if (p->s[p->i] == close) {
                p->i++;
                return 0;
            }
            if (p->s[p->i] != ',') return jerr(p, c == '{' ? "',' or '}' expected" : "',' or ']' expected");
            p->i++;
            skip_ws(p);
        }
    }
    if (c == '"') {
        uint8_t *dec = p->dec;
        p->dec = NULL;
        rc = parse_string(p);
        p->dec = dec;
        return rc;
    }
    if (c == '-' || is_digit(c)) return parse_number(p);
    if (c == 't') return parse_lit(p, "true");
    if (c == 'f') return parse_lit(p, "false");
    if (c == 'n') return parse_lit(p, "null");
    return jerr(p, "unexpected character");
}

int cairn_json__validate(const uint8_t *buf, size_t len) {
    jp p;
    int rc;
    if (!buf && len) return cairn_err__set(CAIRN_INVALID, "cairn_json__validate: NULL buffer");
    memset(&p, 0, sizeof p);
    p.s = buf;
    p.n = len;
    p.what = "JSON";
    skip_ws(&p);
    if ((rc = parse_value(&p, 0)) != 0) return rc;
    skip_ws(&p);
    if (p.i != p.n) return jerr(&p, "trailing characters after the value");
    return 0;
}

/* ---- merge -------------------------------------------------------------------------------- */

typedef struct member {
    const uint8_t *name; /* raw text of the name, quotes included */
    size_t name_len;
    size_t key_off, key_len; /* decoded name in the key arena */
    const uint8_t *val;      /* raw text of the value */
    size_t val_len;
    uint32_t hash;
} member;

typedef struct merger {
    member *m; /* output slots, in output order */
    size_t nm, capm;
    uint32_t *tab; /* slot index + 1; 0 empty */
    size_t tabmask;
    uint8_t *keys; /* decoded names */
    size_t nkeys;
} merger;

static uint32_t fnv1a(const uint8_t *s, size_t n) {
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h;
}

static int grow_table(merger *g) {
    size_t cap = g->tabmask ? (g->tabmask + 1) * 2 : 64, i;
    uint32_t *t;
    if (cap > SIZE_MAX / sizeof *t) return cairn_err__set(CAIRN_NOMEM, "JSON merge: out of memory");
    t = (uint32_t *)calloc(cap, sizeof *t);
    if (!t) return cairn_err__set(CAIRN_NOMEM, "JSON merge: out of memory");
    for (i = 0; i < g->nm; i++) {
        size_t j = g->m[i].hash & (cap - 1);
        while (t[j]) j = (j + 1) & (cap - 1);
        t[j] = (uint32_t)(i + 1);
    }
    free(g->tab);
    g->tab = t;
    g->tabmask = cap - 1;
    return 0;
}

/* Put the member (name raw, decoded key at key_off/key_len, value raw) into its slot. */
static int put_member(merger *g, const member *nw) {
    size_t j;
    if (!g->tab || (g->nm + 1) * 2 > g->tabmask + 1) {
        int rc = grow_table(g);
        if (rc) return rc;
    }
    for (j = nw->hash & g->tabmask; g->tab[j]; j = (j + 1) & g->tabmask) {
        member *o = &g->m[g->tab[j] - 1];
        if (o->hash == nw->hash && o->key_len == nw->key_len &&
            memcmp(g->keys + o->key_off, g->keys + nw->key_off, nw->key_len) == 0) {
            o->val = nw->val; /* the last value wins; the first position stays */
            o->val_len = nw->val_len;
            g->nkeys -= nw->key_len; /* its decoded name is not needed */
            return 0;
        }
    }
    if (g->nm == g->capm) {
        size_t cap = g->capm ? g->capm * 2 : 16;
        member *n;
        if (cap > UINT32_MAX - 1 || cap > SIZE_MAX / sizeof *n)
            return cairn_err__set(CAIRN_NOMEM, "JSON merge: too many members");
        n = (member *)realloc(g->m, cap * sizeof *n);
        if (!n) return cairn_err__set(CAIRN_NOMEM, "JSON merge: out of memory");
        g->m = n;
        g->capm = cap;
    }
    g->m[g->nm] = *nw;
    g->tab[j] = (uint32_t)(g->nm + 1);
    g->nm++;
    return 0;
}

/* Parse one input (a whole JSON text that must be an object) and merge its members into g. */
static int merge_input(merger *g, const uint8_t *s, size_t n, const char *what) {
    jp p;
    int rc;
    memset(&p, 0, sizeof p);
    p.s = s;
    p.n = n;
    p.what = what;
    skip_ws(&p);
    if (p.i >= p.n || p.s[p.i] != '{') {
        if (p.i < p.n && (rc = parse_value(&p, 0)) != 0) return rc; /* say what is wrong, if anything */
        return cairn_err__set(CAIRN_TYPE, "%s: not a JSON object", what);
    }
    p.i++;
    skip_ws(&p);
    if (p.i < p.n && p.s[p.i] == '}') {
        p.i++;
    } else {
        for (;;) {
            member nw;
            size_t start = p.i;
            if (p.i >= p.n || p.s[p.i] != '"') return jerr(&p, "member name expected");
            p.dec = g->keys;
            p.declen = g->nkeys;
            if ((rc = parse_string(&p)) != 0) return rc;
            p.dec = NULL;
            nw.name = s + start;
            nw.name_len = p.i - start;
            nw.key_off = g->nkeys;
            nw.key_len = p.declen - g->nkeys;
            nw.hash = fnv1a(g->keys + nw.key_off, nw.key_len);
            g->nkeys = p.declen;
            skip_ws(&p);
            if (p.i >= p.n || p.s[p.i] != ':') return jerr(&p, "':' expected");
            p.i++;
            skip_ws(&p);
            start = p.i;
            if ((rc = parse_value(&p, 1)) != 0) return rc;
            nw.val = s + start;
            nw.val_len = p.i - start;
            if ((rc = put_member(g, &nw)) != 0) return rc;
            skip_ws(&p);
            if (p.i >= p.n) return jerr(&p, "unterminated object");
            if (p.s[p.i] == '}') {
                p.i++;
                break;
            }
            if (p.s[p.i] != ',') return jerr(&p, "',' or '}' expected");
            p.i++;
            skip_ws(&p);
        }
    }
    skip_ws(&p);
    if (p.i != p.n) return jerr(&p, "trailing characters after the object");
    return 0;
}

int cairn_json__merge_top(const uint8_t *obj, size_t olen, const uint8_t *patch, size_t plen,
                          uint8_t **out, size_t *outlen) {
    merger g;
    uint8_t *res = NULL, *w;
    size_t i, cap;
    int rc;
    if (!out || !outlen || (!obj && olen) || (!patch && plen))
        return cairn_err__set(CAIRN_INVALID, "cairn_json__merge_top: NULL argument");
    *out = NULL;
    *outlen = 0;
    if (olen > SIZE_MAX / 2 - 2 || plen > SIZE_MAX / 2 - 2)
        return cairn_err__set(CAIRN_NOMEM, "cairn_json__merge_top: input too large");
    memset(&g, 0, sizeof g);
    /* decoded names are never longer than their raw text */
    if (!(g.keys = (uint8_t *)malloc(olen + plen + 1))) {
        rc = cairn_err__set(CAIRN_NOMEM, "JSON merge: out of memory");
        goto done;
    }
    if ((rc = merge_input(&g, obj, olen, "obj")) != 0) goto done;
    if ((rc = merge_input(&g, patch, plen, "patch")) != 0) goto done;
    /* every slot's name and value come from the inputs, each followed there by at least one
     * ':' and one ',' or '}': the result fits in olen + plen + 2 */
    cap = olen + plen + 2;
    if (!(res = (uint8_t *)malloc(cap))) {
        rc = cairn_err__set(CAIRN_NOMEM, "JSON merge: out of memory");
        goto done;
    }
    w = res;
    *w++ = '{';
    for (i = 0; i < g.nm; i++) {
        if (i) *w++ = ',';
        memcpy(w, g.m[i].name, g.m[i].name_len);
        w += g.m[i].name_len;
        *w++ = ':';
        memcpy(w, g.m[i].val, g.m[i].val_len);
        w += g.m[i].val_len;
    }
    *w++ = '}';
    *out = res;
    *outlen = (size_t)(w - res);
    res = NULL;
    rc = 0;
done:
    free(res);
    free(g.m);
    free(g.tab);
    free(g.keys);
    return rc;
}
