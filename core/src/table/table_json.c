/*
 * table_json.c - JSON rows at the API edge: a one-pass parser from JSON text straight into typed
 * values (no document tree), strict about syntax, exact about integers.
 *
 * Value forms (cairn/table.h): integers exact; f32/f64 a number or {"$f64": "nan"|"inf"|"-inf"};
 * bool; string; bytes and bytes:N {"$bytes": "<hex>"}; timestamp an integer; null.
 * Errors: malformed JSON INVALID (with the byte offset), a value of the wrong JSON type TYPE,
 * an integer outside the column's range or bytes:N of the wrong length RANGE, an unknown column
 * SCHEMA.
 */
#include "table_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>

static int bad(size_t pos, const char *what) {
    return cairn_err__set(CAIRN_INVALID, "invalid JSON: %s at byte %zu", what, pos);
}

int cairn_tbl__json_ws(const char *s, size_t n, size_t *pos) {
    size_t i = *pos;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    *pos = i;
    return 0;
}

static int hx(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int put_utf8(tbuf *b, uint32_t cp) {
    uint8_t d[4];
    size_t k;
    if (cp < 0x80) { d[0] = (uint8_t)cp; k = 1; }
    else if (cp < 0x800) { d[0] = (uint8_t)(0xC0 | (cp >> 6)); d[1] = (uint8_t)(0x80 | (cp & 0x3F)); k = 2; }
    else if (cp < 0x10000) {
        d[0] = (uint8_t)(0xE0 | (cp >> 12)); d[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); d[2] = (uint8_t)(0x80 | (cp & 0x3F)); k = 3;
    } else {
        d[0] = (uint8_t)(0xF0 | (cp >> 18)); d[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        d[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); d[3] = (uint8_t)(0x80 | (cp & 0x3F)); k = 4;
    }
    return tbuf_put(b, d, k);
}

static int u4(const char *s, size_t n, size_t i, uint32_t *out) {
    uint32_t v = 0;
    int k;
    if (n - i < 4) return -1;
    for (k = 0; k < 4; k++) {
        int h = hx((unsigned char)s[i + (size_t)k]);
        if (h < 0) return -1;
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return 0;
}

/* A JSON string at s[*pos] ('"'), decoded (UTF-8) and appended to out. */
int cairn_tbl__json_string(const char *s, size_t n, size_t *pos, tbuf *out) {
    size_t i = *pos, run;
    if (i >= n || s[i] != '"') return bad(i, "expected a string");
    i++;
    run = i;
    for (;;) {
        unsigned char c;
        if (i >= n) return bad(i, "unterminated string");
        c = (unsigned char)s[i];
        if (c == '"') {
            if (tbuf_put(out, s + run, i - run)) return CAIRN_NOMEM;
            *pos = i + 1;
            return 0;
        }
        if (c < 0x20) return bad(i, "control character in a string");
        if (c == '\\') {
            uint32_t cp;
            char e;
            if (tbuf_put(out, s + run, i - run)) return CAIRN_NOMEM;
            if (i + 1 >= n) return bad(i, "unterminated escape");
            e = s[i + 1];
            i += 2;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = 8; break;
            case 'f': cp = 12; break;
            case 'n': cp = 10; break;
            case 'r': cp = 13; break;
            case 't': cp = 9; break;
            case 'u':
                if (u4(s, n, i, &cp)) return bad(i, "bad \\u escape");
                i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u' || u4(s, n, i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                        return bad(i, "lone surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return bad(i, "lone surrogate");
                }
                break;
            default: return bad(i - 1, "bad escape");
            }
            if (put_utf8(out, cp)) return CAIRN_NOMEM;
            run = i;
            continue;
        }
        if (c >= 0x80) {
            /* validate one sequence */
            size_t k = 1;
            if (c >= 0xC2 && c <= 0xDF) k = 2;
            else if (c >= 0xE0 && c <= 0xEF) k = 3;
            else if (c >= 0xF0 && c <= 0xF4) k = 4;
            else return bad(i, "invalid UTF-8");
            if (n - i < k || !cairn_tbl__utf8_valid((const uint8_t *)s + i, k)) return bad(i, "invalid UTF-8");
            i += k;
            continue;
        }
        i++;
    }
}

/* skip one JSON value (for validation of what we do not read) */
static int skip_value(const char *s, size_t n, size_t *pos, int depth) {
    size_t i;
    tbuf tmp = {0, 0, 0};
    int rc;
    cairn_tbl__json_ws(s, n, pos);
    i = *pos;
    if (depth > 256) return bad(i, "nested too deep");
    if (i >= n) return bad(i, "expected a value");
    if (s[i] == '"') {
        rc = cairn_tbl__json_string(s, n, pos, &tmp);
        free(tmp.p);
        return rc;
    }
    if (s[i] == '{' || s[i] == '[') {
        char close = s[i] == '{' ? '}' : ']';
        int obj = s[i] == '{';
        *pos = i + 1;
        cairn_tbl__json_ws(s, n, pos);
        if (*pos < n && s[*pos] == close) {
            (*pos)++;
            return 0;
        }
        for (;;) {
            if (obj) {
                cairn_tbl__json_ws(s, n, pos);
                tmp.n = 0;
                if ((rc = cairn_tbl__json_string(s, n, pos, &tmp)) != 0) {
                    free(tmp.p);
                    return rc;
                }
                cairn_tbl__json_ws(s, n, pos);
                if (*pos >= n || s[*pos] != ':') {
                    free(tmp.p);
                    return bad(*pos, "expected ':'");
                }
                (*pos)++;
            }
            if ((rc = skip_value(s, n, pos, depth + 1)) != 0) {
                free(tmp.p);
                return rc;
            }
            cairn_tbl__json_ws(s, n, pos);
            if (*pos < n && s[*pos] == ',') {
                (*pos)++;
                continue;
            }
            if (*pos < n && s[*pos] == close) {
                (*pos)++;
                free(tmp.p);
                return 0;
            }
            free(tmp.p);
            return bad(*pos, "expected ',' or a closing bracket");
        }
    }
    if (n - i >= 4 && (memcmp(s + i, "true", 4) == 0 || memcmp(s + i, "null", 4) == 0)) {
        *pos = i + 4;
        return 0;
    }
    if (n - i >= 5 && memcmp(s + i, "false", 5) == 0) {
        *pos = i + 5;
        return 0;
    }
    if (s[i] == '-' || isdigit((unsigned char)s[i])) {
        size_t k = i;
        if (s[k] == '-') k++;
        if (k >= n || !isdigit((unsigned char)s[k])) return bad(k, "bad number");
        while (k < n && (isdigit((unsigned char)s[k]) || s[k] == '.' || s[k] == 'e' || s[k] == 'E' || s[k] == '+' || s[k] == '-')) k++;
        *pos = k;
        return 0;
    }
    return bad(i, "expected a value");
}

/* number token at s[*pos]: integer parts (neg, mag, ovf) or not an integer; *d the double */
static int number(const char *s, size_t n, size_t *pos, int *isint, int *neg, uint64_t *mag, int *ovf, double *d) {
    size_t i = *pos, st = i;
    char tmp[400];
    *isint = 1;
    *neg = 0;
    *mag = 0;
    *ovf = 0;
    if (s[i] == '-') {
        *neg = 1;
        i++;
    }
    if (i >= n || !isdigit((unsigned char)s[i])) return bad(i, "bad number");
    if (s[i] == '0' && i + 1 < n && isdigit((unsigned char)s[i + 1])) return bad(i, "leading zero in a number");
    while (i < n && isdigit((unsigned char)s[i])) {
        unsigned dg = (unsigned)(s[i] - '0');
        if (*mag > (UINT64_MAX - dg) / 10) *ovf = 1;
        else *mag = *mag * 10 + dg;
        i++;
    }
    if (i < n && s[i] == '.') {
        *isint = 0;
        i++;
        if (i >= n || !isdigit((unsigned char)s[i])) return bad(i, "bad number");
        while (i < n && isdigit((unsigned char)s[i])) i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        *isint = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || !isdigit((unsigned char)s[i])) return bad(i, "bad number");
        while (i < n && isdigit((unsigned char)s[i])) i++;
    }
    if (d) {
        if (i - st < sizeof tmp) {
            memcpy(tmp, s + st, i - st);
            tmp[i - st] = 0;
            *d = strtod(tmp, NULL);
        } else {
            char *h = (char *)malloc(i - st + 1);
            if (!h) return cairn_err__set(CAIRN_NOMEM, "out of memory");
            memcpy(h, s + st, i - st);
            h[i - st] = 0;
            *d = strtod(h, NULL);
            free(h);
        }
    }
    *pos = i;
    return 0;
}

static int wrong(const tcol *c, const char *got) {
    char ty[32];
    if (c->type == CAIRN_TYPE_FIXED) snprintf(ty, sizeof ty, "bytes:%u", (unsigned)c->fixed_len);
    else snprintf(ty, sizeof ty, "%s", cairn_tbl__type_name(c->type));
    return cairn_err__set(CAIRN_TYPE, "column %s (%s): got %s", c->name, ty, got);
}

static int is_int_type(int t) {
    return (t >= CAIRN_TYPE_I8 && t <= CAIRN_TYPE_U64) || t == CAIRN_TYPE_TIMESTAMP;
}

/* {"$bytes": "hex"} or {"$f64": "..."} at s[*pos] == '{' */
static int special(const tcol *c, const char *s, size_t n, size_t *pos, cairn_value *v, tbuf *scratch, size_t *soff) {
    tbuf key = {0, 0, 0}, val = {0, 0, 0};
    int rc = 0;
    (*pos)++;
    cairn_tbl__json_ws(s, n, pos);
    if ((rc = cairn_tbl__json_string(s, n, pos, &key)) != 0) goto out;
    cairn_tbl__json_ws(s, n, pos);
    if (*pos >= n || s[*pos] != ':') {
        rc = bad(*pos, "expected ':'");
        goto out;
    }
    (*pos)++;
    cairn_tbl__json_ws(s, n, pos);
    if (*pos < n && s[*pos] != '"') {
        rc = skip_value(s, n, pos, 1);
        if (!rc) rc = wrong(c, "an object");
        goto out;
    }
    if ((rc = cairn_tbl__json_string(s, n, pos, &val)) != 0) goto out;
    cairn_tbl__json_ws(s, n, pos);
    if (*pos >= n || s[*pos] != '}') {
        rc = *pos < n && s[*pos] == ',' ? wrong(c, "an object") : bad(*pos, "expected '}'");
        goto out;
    }
    (*pos)++;
    if (key.n == 6 && memcmp(key.p, "$bytes", 6) == 0) {
        size_t i, nb;
        if (c->type != CAIRN_TYPE_BYTES && c->type != CAIRN_TYPE_FIXED) {
            rc = wrong(c, "bytes");
            goto out;
        }
        if (val.n % 2) {
            rc = cairn_err__set(CAIRN_TYPE, "column %s: $bytes needs an even number of hex digits", c->name);
            goto out;
        }
        nb = val.n / 2;
        *soff = scratch->n;
        if (cairn_tbl__buf_grow(scratch, nb + 1)) {
            rc = CAIRN_NOMEM;
            goto out;
        }
        for (i = 0; i < nb; i++) {
            int h1 = hx(val.p[2 * i]), h2 = hx(val.p[2 * i + 1]);
            if (h1 < 0 || h2 < 0) {
                rc = cairn_err__set(CAIRN_TYPE, "column %s: $bytes holds a non-hex character", c->name);
                goto out;
            }
            scratch->p[scratch->n++] = (uint8_t)(h1 * 16 + h2);
        }
        v->v.s.len = nb;
        v->v.s.bytes = NULL;
        if (c->type == CAIRN_TYPE_FIXED && nb != c->fixed_len)
            rc = cairn_err__set(CAIRN_RANGE, "column %s: bytes:%u needs exactly %u bytes, got %zu", c->name,
                                (unsigned)c->fixed_len, (unsigned)c->fixed_len, nb);
    } else if (key.n == 4 && memcmp(key.p, "$f64", 4) == 0) {
        if (c->type != CAIRN_TYPE_F64 && c->type != CAIRN_TYPE_F32) {
            rc = wrong(c, "a number");
            goto out;
        }
        if (val.n == 3 && memcmp(val.p, "nan", 3) == 0) v->v.f = NAN;
        else if (val.n == 3 && memcmp(val.p, "inf", 3) == 0) v->v.f = INFINITY;
        else if (val.n == 4 && memcmp(val.p, "-inf", 4) == 0) v->v.f = -INFINITY;
        else rc = cairn_err__set(CAIRN_TYPE, "column %s: $f64 must be \"nan\", \"inf\" or \"-inf\"", c->name);
    } else {
        rc = wrong(c, "an object");
    }
out:
    free(key.p);
    free(val.p);
    return rc;
}

int cairn_tbl__json_value(const tcol *c, const char *s, size_t n, size_t *pos, cairn_value *v, tbuf *scratch,
                          size_t *soff) {
    size_t i;
    int rc;
    memset(v, 0, sizeof *v);
    cairn_tbl__json_ws(s, n, pos);
    i = *pos;
    if (i >= n) return bad(i, "expected a value");
    switch (s[i]) {
    case 'n':
        if (n - i >= 4 && memcmp(s + i, "null", 4) == 0) {
            *pos = i + 4;
            v->is_null = 1;
            return 0;
        }
        return bad(i, "expected a value");
    case 't': case 'f': {
        int t = s[i] == 't';
        size_t k = t ? 4 : 5;
        if (n - i < k || memcmp(s + i, t ? "true" : "false", k) != 0) return bad(i, "expected a value");
        *pos = i + k;
        if (c->type != CAIRN_TYPE_BOOL) return wrong(c, "a boolean");
        v->v.b = t;
        return 0;
    }
    case '"':
        if (c->type != CAIRN_TYPE_STRING) {
            if ((rc = skip_value(s, n, pos, 0)) != 0) return rc;
            return wrong(c, "a string");
        }
        *soff = scratch->n;
        if ((rc = cairn_tbl__json_string(s, n, pos, scratch)) != 0) return rc;
        v->v.s.len = scratch->n - *soff;
        if (v->v.s.len > CAIRN_VALUE_MAX)
            return cairn_err__set(CAIRN_TOOBIG, "column %s: value over %u bytes", c->name, CAIRN_VALUE_MAX);
        return 0;
    case '{':
        return special(c, s, n, pos, v, scratch, soff);
    case '[':
        if ((rc = skip_value(s, n, pos, 0)) != 0) return rc;
        return wrong(c, "an array");
    default:
        if (s[i] == '-' || isdigit((unsigned char)s[i])) {
            int isint, neg, ovf;
            uint64_t mag;
            double d = 0;
            if (is_int_type(c->type)) {
                if ((rc = number(s, n, pos, &isint, &neg, &mag, &ovf, NULL)) != 0) return rc;
                if (!isint) return wrong(c, "a number that is not an integer");
                if (ovf) return cairn_err__set(CAIRN_RANGE, "column %s: integer out of range", c->name);
                if (c->type >= CAIRN_TYPE_U8 && c->type <= CAIRN_TYPE_U64) {
                    if (neg && mag) return cairn_err__set(CAIRN_RANGE, "column %s: -%llu is outside the range of %s", c->name,
                                                          (unsigned long long)mag, cairn_tbl__type_name(c->type));
                    v->v.u = mag;
                } else {
                    if (neg ? mag > (uint64_t)INT64_MAX + 1u : mag > (uint64_t)INT64_MAX)
                        return cairn_err__set(CAIRN_RANGE, "column %s: integer out of range", c->name);
                    v->v.i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
                }
                return cairn_tbl__check_value(c, v);
            }
            if (c->type == CAIRN_TYPE_F32 || c->type == CAIRN_TYPE_F64) {
                if ((rc = number(s, n, pos, &isint, &neg, &mag, &ovf, &d)) != 0) return rc;
                v->v.f = d;
                if (!isfinite(d)) return cairn_err__set(CAIRN_RANGE, "column %s: number out of range", c->name);
                return cairn_tbl__check_value(c, v);
            }
            if ((rc = number(s, n, pos, &isint, &neg, &mag, &ovf, NULL)) != 0) return rc;
            return wrong(c, "a number");
        }
        return bad(i, "expected a value");
    }
}

int cairn_tbl__jrow_init(jrow *r, size_t ncols) {
    memset(r, 0, sizeof *r);
    r->v = (cairn_value *)calloc(ncols ? ncols : 1, sizeof(cairn_value));
    r->given = (uint8_t *)calloc(ncols ? ncols : 1, 1);
    r->soff = (size_t *)calloc(ncols ? ncols : 1, sizeof(size_t));
    if (!r->v || !r->given || !r->soff) {
        cairn_tbl__jrow_free(r);
        return cairn_err__set(CAIRN_NOMEM, "out of memory");
    }
    return 0;
}

void cairn_tbl__jrow_free(jrow *r) {
    free(r->v);
    free(r->given);
    free(r->soff);
    free(r->scratch.p);
    memset(r, 0, sizeof *r);
}

static long find_col(const tschema *s, const uint8_t *name, size_t len) {
    size_t i;
    for (i = 0; i < s->n; i++)
        if (strlen(s->c[i].name) == len && memcmp(s->c[i].name, name, len) == 0) return (long)i;
    return -1;
}

int cairn_tbl__json_row(const tschema *s, const char *txt, size_t n, size_t *pos, jrow *r) {
    tbuf key = {0, 0, 0};
    size_t i;
    int rc = 0;
    memset(r->given, 0, s->n);
    r->scratch.n = 0;
    cairn_tbl__json_ws(txt, n, pos);
    if (*pos >= n || txt[*pos] != '{') {
        if (*pos < n && (txt[*pos] == '[' || txt[*pos] == '"' || txt[*pos] == '-' || isdigit((unsigned char)txt[*pos]) ||
                         txt[*pos] == 't' || txt[*pos] == 'f' || txt[*pos] == 'n')) {
            size_t p2 = *pos;
            if (skip_value(txt, n, &p2, 0) == 0) return cairn_err__set(CAIRN_TYPE, "a row must be a JSON object");
        }
        return bad(*pos, "expected a row object");
    }
    (*pos)++;
    cairn_tbl__json_ws(txt, n, pos);
    if (*pos < n && txt[*pos] == '}') {
        (*pos)++;
        return 0;
    }
    for (;;) {
        long ci;
        cairn_tbl__json_ws(txt, n, pos);
        key.n = 0;
        if ((rc = cairn_tbl__json_string(txt, n, pos, &key)) != 0) break;
        cairn_tbl__json_ws(txt, n, pos);
        if (*pos >= n || txt[*pos] != ':') {
            rc = bad(*pos, "expected ':'");
            break;
        }
        (*pos)++;
        ci = find_col(s, key.p, key.n);
        if (ci < 0) {
            rc = cairn_err__set(CAIRN_SCHEMA, "unknown column \"%.*s\"", (int)(key.n > 100 ? 100 : key.n),
                                key.p ? (const char *)key.p : "");
            break;
        }
        if ((rc = cairn_tbl__json_value(&s->c[ci], txt, n, pos, &r->v[ci], &r->scratch, &r->soff[ci])) != 0) break;
        r->given[ci] = 1;
        cairn_tbl__json_ws(txt, n, pos);
        if (*pos < n && txt[*pos] == ',') {
            (*pos)++;
            continue;
        }
        if (*pos < n && txt[*pos] == '}') {
            (*pos)++;
            break;
        }
        rc = bad(*pos, "expected ',' or '}'");
        break;
    }
    free(key.p);
    if (rc) return rc;
    for (i = 0; i < s->n; i++) {
        int t = s->c[i].type;
        if (r->given[i] && !r->v[i].is_null && (t == CAIRN_TYPE_STRING || t == CAIRN_TYPE_BYTES || t == CAIRN_TYPE_FIXED))
            r->v[i].v.s.bytes = r->scratch.p ? r->scratch.p + r->soff[i] : (const void *)"";
    }
    return 0;
}
