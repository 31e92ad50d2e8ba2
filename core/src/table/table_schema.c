/*
 * table_schema.c - the table's schema (text and JSON forms, canonical text), value checks, the
 * binary row image (WAL records and undo) and JSON output of values.
 */
#include "table_internal.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

/* ---- buffers ---- */

int cairn_tbl__buf_grow(tbuf *b, size_t add) {
    size_t nc = b->cap ? b->cap : 64;
    uint8_t *p;
    while (nc < b->n + add) {
        if (nc > SIZE_MAX / 2) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        nc *= 2;
    }
    if (!(p = (uint8_t *)realloc(b->p, nc))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    b->p = p;
    b->cap = nc;
    return 0;
}

int cairn_tbl__buf_printf(tbuf *b, const char *fmt, ...) {
    va_list ap;
    int k;
    for (;;) {
        size_t room = b->cap - b->n;
        va_start(ap, fmt);
        k = vsnprintf(b->cap ? (char *)b->p + b->n : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0) return cairn_err__set(CAIRN_INTERNAL, "vsnprintf failed");
        if ((size_t)k < room) {
            b->n += (size_t)k;
            return 0;
        }
        if (cairn_tbl__buf_grow(b, (size_t)k + 1)) return CAIRN_NOMEM;
    }
}

char *cairn_tbl__buf_take(tbuf *b) {
    char *s;
    if (tbuf_put(b, "", 1)) return NULL;
    s = (char *)b->p;
    b->p = NULL;
    b->n = b->cap = 0;
    return s;
}

/* ---- types ---- */

static const struct {
    const char *name;
    int type;
} g_types[] = {{"i8", CAIRN_TYPE_I8},     {"i16", CAIRN_TYPE_I16},   {"i32", CAIRN_TYPE_I32},
               {"i64", CAIRN_TYPE_I64},   {"u8", CAIRN_TYPE_U8},     {"u16", CAIRN_TYPE_U16},
               {"u32", CAIRN_TYPE_U32},   {"u64", CAIRN_TYPE_U64},   {"f32", CAIRN_TYPE_F32},
               {"f64", CAIRN_TYPE_F64},   {"bool", CAIRN_TYPE_BOOL}, {"string", CAIRN_TYPE_STRING},
               {"bytes", CAIRN_TYPE_BYTES}, {"timestamp", CAIRN_TYPE_TIMESTAMP}};

const char *cairn_tbl__type_name(int type) {
    size_t i;
    if (type == CAIRN_TYPE_FIXED) return "bytes";
    for (i = 0; i < sizeof g_types / sizeof g_types[0]; i++)
        if (g_types[i].type == type) return g_types[i].name;
    return "?";
}

size_t cairn_tbl__type_width(int type, uint32_t fixed_len) {
    switch (type) {
    case CAIRN_TYPE_I8: case CAIRN_TYPE_U8: case CAIRN_TYPE_BOOL: return 1;
    case CAIRN_TYPE_I16: case CAIRN_TYPE_U16: return 2;
    case CAIRN_TYPE_I32: case CAIRN_TYPE_U32: case CAIRN_TYPE_F32: return 4;
    case CAIRN_TYPE_I64: case CAIRN_TYPE_U64: case CAIRN_TYPE_F64: case CAIRN_TYPE_TIMESTAMP: return 8;
    case CAIRN_TYPE_FIXED: return fixed_len;
    default: return 0;
    }
}

static int is_signed(int t) { return t == CAIRN_TYPE_I8 || t == CAIRN_TYPE_I16 || t == CAIRN_TYPE_I32 || t == CAIRN_TYPE_I64 || t == CAIRN_TYPE_TIMESTAMP; }
static int is_unsigned(int t) { return t >= CAIRN_TYPE_U8 && t <= CAIRN_TYPE_U64; }
static int is_float(int t) { return t == CAIRN_TYPE_F32 || t == CAIRN_TYPE_F64; }
static int is_var(int t) { return t == CAIRN_TYPE_STRING || t == CAIRN_TYPE_BYTES; }

static void int_range(int t, int64_t *lo, int64_t *hi, uint64_t *uhi) {
    *lo = 0; *hi = 0; *uhi = 0;
    switch (t) {
    case CAIRN_TYPE_I8: *lo = INT8_MIN; *hi = INT8_MAX; break;
    case CAIRN_TYPE_I16: *lo = INT16_MIN; *hi = INT16_MAX; break;
    case CAIRN_TYPE_I32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    case CAIRN_TYPE_I64: case CAIRN_TYPE_TIMESTAMP: *lo = INT64_MIN; *hi = INT64_MAX; break;
    case CAIRN_TYPE_U8: *uhi = UINT8_MAX; break;
    case CAIRN_TYPE_U16: *uhi = UINT16_MAX; break;
    case CAIRN_TYPE_U32: *uhi = UINT32_MAX; break;
    case CAIRN_TYPE_U64: *uhi = UINT64_MAX; break;
    default: break;
    }
}

int cairn_tbl__utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (n - i < 2 || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            uint8_t lo = 0x80, hi = 0xBF;
            if (c == 0xE0) lo = 0xA0;
            else if (c == 0xED) hi = 0x9F;
            if (n - i < 3 || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80) return 0;
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            uint8_t lo = 0x80, hi = 0xBF;
            if (c == 0xF0) lo = 0x90;
            else if (c == 0xF4) hi = 0x8F;
            if (n - i < 4 || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

int cairn_tbl__check_value(const tcol *c, const cairn_value *v) {
    int64_t lo, hi;
    uint64_t uhi;
    if (v->is_null) return 0;
    if (is_signed(c->type)) {
        int_range(c->type, &lo, &hi, &uhi);
        if (v->v.i < lo || v->v.i > hi)
            return cairn_err__set(CAIRN_RANGE, "column %s: %lld is outside the range of %s", c->name, (long long)v->v.i,
                                  cairn_tbl__type_name(c->type));
    } else if (is_unsigned(c->type)) {
        int_range(c->type, &lo, &hi, &uhi);
        if (v->v.u > uhi)
            return cairn_err__set(CAIRN_RANGE, "column %s: %llu is outside the range of %s", c->name,
                                  (unsigned long long)v->v.u, cairn_tbl__type_name(c->type));
    } else if (c->type == CAIRN_TYPE_F32) {
        if (isfinite(v->v.f) && fabs(v->v.f) > FLT_MAX)
            return cairn_err__set(CAIRN_RANGE, "column %s: %g is outside the range of f32", c->name, v->v.f);
    } else if (c->type == CAIRN_TYPE_FIXED) {
        if (v->v.s.len != c->fixed_len)
            return cairn_err__set(CAIRN_RANGE, "column %s: bytes:%u needs exactly %u bytes, got %zu", c->name,
                                  (unsigned)c->fixed_len, (unsigned)c->fixed_len, v->v.s.len);
        if (!v->v.s.bytes && v->v.s.len) return cairn_err__set(CAIRN_INVALID, "column %s: NULL bytes", c->name);
    } else if (is_var(c->type)) {
        if (v->v.s.len > CAIRN_VALUE_MAX)
            return cairn_err__set(CAIRN_TOOBIG, "column %s: %zu bytes is over the limit of %u", c->name, v->v.s.len,
                                  CAIRN_VALUE_MAX);
        if (!v->v.s.bytes && v->v.s.len) return cairn_err__set(CAIRN_INVALID, "column %s: NULL bytes", c->name);
        if (c->type == CAIRN_TYPE_STRING && !cairn_tbl__utf8_valid((const uint8_t *)v->v.s.bytes, v->v.s.len))
            return cairn_err__set(CAIRN_INVALID, "column %s: the string is not valid UTF-8", c->name);
    }
    return 0;
}

/* ---- values: equality, text, JSON ---- */

int cairn_tbl__value_eq(const tcol *c, const cairn_value *a, const cairn_value *b) {
    if (a->is_null || b->is_null) return a->is_null && b->is_null;
    switch (c->type) {
    case CAIRN_TYPE_F32: case CAIRN_TYPE_F64:
        if (isnan(a->v.f) || isnan(b->v.f)) return isnan(a->v.f) && isnan(b->v.f);
        return a->v.f == b->v.f;
    case CAIRN_TYPE_BOOL: return !a->v.b == !b->v.b;
    case CAIRN_TYPE_FIXED: case CAIRN_TYPE_STRING: case CAIRN_TYPE_BYTES:
        return a->v.s.len == b->v.s.len && (a->v.s.len == 0 || memcmp(a->v.s.bytes, b->v.s.bytes, a->v.s.len) == 0);
    default:
        if (is_unsigned(c->type)) return a->v.u == b->v.u;
        return a->v.i == b->v.i;
    }
}

/* shortest text that reads back as the same double (f32: the same float) */
static void fmt_float(double d, int f32, char *buf, size_t n) {
    int p;
    for (p = f32 ? 6 : 15; p <= (f32 ? 9 : 17); p++) {
        snprintf(buf, n, "%.*g", p, d);
        if (f32 ? (float)strtod(buf, NULL) == (float)d : strtod(buf, NULL) == d) break;
    }
    if (!strpbrk(buf, ".eEn")) {
        size_t k = strlen(buf);
        if (k + 3 <= n) memcpy(buf + k, ".0", 3);
    }
}

static const char hexd[] = "0123456789abcdef";

void cairn_tbl__value_str(const tcol *c, const cairn_value *v, char *buf, size_t n) {
    tbuf b = {0, 0, 0};
    if (cairn_tbl__value_json(c, v, &b) || !b.n) {
        snprintf(buf, n, "?");
    } else {
        size_t k = b.n < n - 1 ? b.n : n - 1;
        memcpy(buf, b.p, k);
        buf[k] = 0;
        if (b.n > n - 1 && n > 4) memcpy(buf + n - 4, "...", 4);
    }
    free(b.p);
}

static int json_str(tbuf *b, const uint8_t *s, size_t n) {
    size_t i, run = 0;
    if (tbuf_put(b, "\"", 1)) return CAIRN_NOMEM;
    for (i = 0; i < n; i++) {
        uint8_t ch = s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
        if (tbuf_put(b, s + run, i - run)) return CAIRN_NOMEM;
        run = i + 1;
        if (ch == '"') { if (tbuf_put(b, "\\\"", 2)) return CAIRN_NOMEM; }
        else if (ch == '\\') { if (tbuf_put(b, "\\\\", 2)) return CAIRN_NOMEM; }
        else if (ch == '\n') { if (tbuf_put(b, "\\n", 2)) return CAIRN_NOMEM; }
        else if (ch == '\t') { if (tbuf_put(b, "\\t", 2)) return CAIRN_NOMEM; }
        else if (ch == '\r') { if (tbuf_put(b, "\\r", 2)) return CAIRN_NOMEM; }
        else if (cairn_tbl__buf_printf(b, "\\u%04x", ch)) return CAIRN_NOMEM;
    }
    if (tbuf_put(b, s + run, n - run)) return CAIRN_NOMEM;
    return tbuf_put(b, "\"", 1);
}

static int hex_out(tbuf *b, const uint8_t *s, size_t n) {
    size_t i;
    if (cairn_tbl__buf_grow(b, 2 * n + 1)) return CAIRN_NOMEM;
    for (i = 0; i < n; i++) {
        b->p[b->n++] = (uint8_t)hexd[s[i] >> 4];
        b->p[b->n++] = (uint8_t)hexd[s[i] & 15];
    }
    return 0;
}

int cairn_tbl__value_json(const tcol *c, const cairn_value *v, tbuf *b) {
    char num[64];
    if (v->is_null) return tbuf_put(b, "null", 4);
    switch (c->type) {
    case CAIRN_TYPE_F32: case CAIRN_TYPE_F64:
        if (isnan(v->v.f)) return tbuf_put(b, "{\"$f64\":\"nan\"}", 14);
        if (isinf(v->v.f)) return v->v.f > 0 ? tbuf_put(b, "{\"$f64\":\"inf\"}", 14) : tbuf_put(b, "{\"$f64\":\"-inf\"}", 15);
        fmt_float(v->v.f, c->type == CAIRN_TYPE_F32, num, sizeof num);
        return tbuf_put(b, num, strlen(num));
    case CAIRN_TYPE_BOOL: return v->v.b ? tbuf_put(b, "true", 4) : tbuf_put(b, "false", 5);
    case CAIRN_TYPE_STRING: return json_str(b, (const uint8_t *)v->v.s.bytes, v->v.s.len);
    case CAIRN_TYPE_FIXED: case CAIRN_TYPE_BYTES:
        if (tbuf_put(b, "{\"$bytes\":\"", 11) || hex_out(b, (const uint8_t *)v->v.s.bytes, v->v.s.len)) return CAIRN_NOMEM;
        return tbuf_put(b, "\"}", 2);
    default:
        if (is_unsigned(c->type)) snprintf(num, sizeof num, "%llu", (unsigned long long)v->v.u);
        else snprintf(num, sizeof num, "%lld", (long long)v->v.i);
        return tbuf_put(b, num, strlen(num));
    }
}

int cairn_tbl__row_json(const tschema *s, const cairn_value *row, tbuf *b) {
    size_t i;
    if (tbuf_put(b, "{", 1)) return CAIRN_NOMEM;
    for (i = 0; i < s->n; i++) {
        if (i && tbuf_put(b, ",", 1)) return CAIRN_NOMEM;
        if (json_str(b, (const uint8_t *)s->c[i].name, strlen(s->c[i].name)) || tbuf_put(b, ":", 1) ||
            cairn_tbl__value_json(&s->c[i], &row[i], b))
            return CAIRN_NOMEM;
    }
    return tbuf_put(b, "}", 1);
}

/* ---- row image ---- */

int cairn_tbl__row_encode(const tschema *s, const cairn_value *row, tbuf *out) {
    size_t i, nb = (s->n + 7) / 8, need = nb;
    uint8_t *p, *nulls;
    /* one grow for the whole image, then direct stores */
    for (i = 0; i < s->n; i++)
        if (!row[i].is_null) need += s->c[i].w ? s->c[i].w : 4 + row[i].v.s.len;
    if (out->n + need > out->cap && cairn_tbl__buf_grow(out, need)) return CAIRN_NOMEM;
    nulls = out->p + out->n;
    memset(nulls, 0, nb);
    p = nulls + nb;
    for (i = 0; i < s->n; i++) {
        const tcol *c = &s->c[i];
        const cairn_value *v = &row[i];
        if (v->is_null) {
            nulls[i / 8] |= (uint8_t)(1u << (i & 7));
            continue;
        }
        switch (c->type) {
        case CAIRN_TYPE_F32: {
            float f = (float)v->v.f;
            uint32_t u;
            memcpy(&u, &f, 4);
            cairn_put32(p, u);
            p += 4;
            break;
        }
        case CAIRN_TYPE_F64: {
            uint64_t u;
            memcpy(&u, &v->v.f, 8);
            cairn_put64(p, u);
            p += 8;
            break;
        }
        case CAIRN_TYPE_BOOL: *p++ = v->v.b ? 1 : 0; break;
        case CAIRN_TYPE_FIXED:
            memcpy(p, v->v.s.bytes, c->fixed_len);
            p += c->fixed_len;
            break;
        case CAIRN_TYPE_STRING: case CAIRN_TYPE_BYTES:
            cairn_put32(p, (uint32_t)v->v.s.len);
            if (v->v.s.len) memcpy(p + 4, v->v.s.bytes, v->v.s.len);
            p += 4 + v->v.s.len;
            break;
        case CAIRN_TYPE_I8: case CAIRN_TYPE_U8: *p++ = (uint8_t)v->v.u; break;
        case CAIRN_TYPE_I16: case CAIRN_TYPE_U16: cairn_put16(p, (uint16_t)v->v.u); p += 2; break;
        case CAIRN_TYPE_I32: case CAIRN_TYPE_U32: cairn_put32(p, (uint32_t)v->v.u); p += 4; break;
        default: cairn_put64(p, v->v.u); p += 8; break;
        }
    }
    out->n += need;
    return 0;
}

int cairn_tbl__row_decode(const tschema *s, const uint8_t *img, size_t len, cairn_value *row) {
    size_t i, nb = (s->n + 7) / 8, p = nb;
    if (len < nb) return cairn_err__set(CAIRN_CORRUPT, "row image too short");
    for (i = 0; i < s->n; i++) {
        const tcol *c = &s->c[i];
        cairn_value *v = &row[i];
        memset(v, 0, sizeof *v);
        if ((img[i / 8] >> (i & 7)) & 1) {
            v->is_null = 1;
            continue;
        }
        if (is_var(c->type)) {
            uint32_t l;
            if (len - p < 4) return cairn_err__set(CAIRN_CORRUPT, "row image too short");
            l = cairn_get32(img + p);
            p += 4;
            if (len - p < l) return cairn_err__set(CAIRN_CORRUPT, "row image too short");
            v->v.s.bytes = img + p;
            v->v.s.len = l;
            p += l;
            continue;
        }
        if (len - p < c->w) return cairn_err__set(CAIRN_CORRUPT, "row image too short");
        switch (c->type) {
        case CAIRN_TYPE_F32: {
            uint32_t u = cairn_get32(img + p);
            float f;
            memcpy(&f, &u, 4);
            v->v.f = f;
            break;
        }
        case CAIRN_TYPE_F64: {
            uint64_t u = cairn_get64(img + p);
            memcpy(&v->v.f, &u, 8);
            break;
        }
        case CAIRN_TYPE_BOOL: v->v.b = img[p] != 0; break;
        case CAIRN_TYPE_FIXED: v->v.s.bytes = img + p; v->v.s.len = c->fixed_len; break;
        case CAIRN_TYPE_I8: v->v.i = (int8_t)img[p]; break;
        case CAIRN_TYPE_I16: v->v.i = (int16_t)cairn_get16(img + p); break;
        case CAIRN_TYPE_I32: v->v.i = (int32_t)cairn_get32(img + p); break;
        case CAIRN_TYPE_U8: v->v.u = img[p]; break;
        case CAIRN_TYPE_U16: v->v.u = cairn_get16(img + p); break;
        case CAIRN_TYPE_U32: v->v.u = cairn_get32(img + p); break;
        default: v->v.u = cairn_get64(img + p); break;
        }
        p += c->w;
    }
    if (p != len) return cairn_err__set(CAIRN_CORRUPT, "row image has %zu trailing bytes", len - p);
    return 0;
}

/* ---- schema ---- */

void cairn_tbl__col_free(tcol *c) {
    free(c->defbuf);
    c->defbuf = NULL;
}

void cairn_tbl__schema_free(tschema *s) {
    size_t i;
    for (i = 0; i < s->n; i++) cairn_tbl__col_free(&s->c[i]);
    free(s->c);
    s->c = NULL;
    s->n = 0;
    s->pk = -1;
}

int cairn_tbl__col_copy(const tcol *src, tcol *dst) {
    *dst = *src;
    dst->defbuf = NULL;
    if (src->defbuf) {
        size_t n = src->def.v.s.len;
        if (!(dst->defbuf = (uint8_t *)malloc(n ? n : 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        memcpy(dst->defbuf, src->defbuf, n);
        dst->def.v.s.bytes = dst->defbuf;
    }
    return 0;
}

int cairn_tbl__schema_copy(const tschema *s, tschema *out) {
    size_t i;
    out->n = 0;
    out->pk = s->pk;
    if (!(out->c = (tcol *)calloc(s->n ? s->n : 1, sizeof(tcol)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    for (i = 0; i < s->n; i++) {
        if (cairn_tbl__col_copy(&s->c[i], &out->c[i])) {
            cairn_tbl__schema_free(out);
            return CAIRN_NOMEM;
        }
        out->n++;
    }
    return 0;
}

/* literal kinds */
enum { L_NONE, L_INT, L_NUM, L_BOOL, L_NULL, L_STR, L_BYTES };

typedef struct lit {
    int kind;
    int neg;
    uint64_t mag;
    double d;
    int b;
    tbuf bytes;
} lit;

typedef struct sp {
    const char *s;
    size_t n, i;
} sp;

static int serr(const sp *p, const char *what) {
    return cairn_err__set(CAIRN_INVALID, "schema: %s at position %zu", what, p->i);
}

static void sws(sp *p) {
    while (p->i < p->n && isspace((unsigned char)p->s[p->i])) p->i++;
}

/* identifier at p->i: length (0: none) */
static size_t ident(const sp *p) {
    size_t k = p->i;
    if (k >= p->n || !(isalpha((unsigned char)p->s[k]) || p->s[k] == '_')) return 0;
    while (k < p->n && (isalnum((unsigned char)p->s[k]) || p->s[k] == '_')) k++;
    return k - p->i;
}

static int kw(const sp *p, size_t len, const char *w) {
    size_t k;
    if (strlen(w) != len) return 0;
    for (k = 0; k < len; k++)
        if (tolower((unsigned char)p->s[p->i + k]) != w[k]) return 0;
    return 1;
}

static int hexv(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* number: -?digits(.digits)?([eE][+-]?digits)? */
static int parse_number(sp *p, lit *l) {
    size_t st = p->i, k = p->i;
    int isint = 1, ovf = 0;
    uint64_t mag = 0;
    char tmp[128];
    if (k < p->n && (p->s[k] == '-' || p->s[k] == '+')) k++;
    if (k >= p->n || !isdigit((unsigned char)p->s[k])) return serr(p, "expected a number");
    while (k < p->n && isdigit((unsigned char)p->s[k])) {
        unsigned dgt = (unsigned)(p->s[k] - '0');
        if (mag > (UINT64_MAX - dgt) / 10) ovf = 1;
        else mag = mag * 10 + dgt;
        k++;
    }
    if (k < p->n && p->s[k] == '.') {
        isint = 0;
        k++;
        if (k >= p->n || !isdigit((unsigned char)p->s[k])) return serr(p, "bad number");
        while (k < p->n && isdigit((unsigned char)p->s[k])) k++;
    }
    if (k < p->n && (p->s[k] == 'e' || p->s[k] == 'E')) {
        isint = 0;
        k++;
        if (k < p->n && (p->s[k] == '+' || p->s[k] == '-')) k++;
        if (k >= p->n || !isdigit((unsigned char)p->s[k])) return serr(p, "bad number");
        while (k < p->n && isdigit((unsigned char)p->s[k])) k++;
    }
    if (k - st >= sizeof tmp) return serr(p, "number too long");
    memcpy(tmp, p->s + st, k - st);
    tmp[k - st] = 0;
    l->d = strtod(tmp, NULL);
    l->neg = p->s[st] == '-';
    l->mag = mag;
    l->kind = isint && !ovf ? L_INT : L_NUM;
    p->i = k;
    return 0;
}

static int parse_literal(sp *p, lit *l) {
    size_t len;
    sws(p);
    if (p->i >= p->n) return serr(p, "expected a default value");
    if (p->s[p->i] == '\'') {
        p->i++;
        for (;;) {
            if (p->i >= p->n) return serr(p, "unterminated string");
            if (p->s[p->i] == '\'') {
                if (p->i + 1 < p->n && p->s[p->i + 1] == '\'') {
                    if (tbuf_put(&l->bytes, "'", 1)) return CAIRN_NOMEM;
                    p->i += 2;
                    continue;
                }
                p->i++;
                break;
            }
            if (tbuf_put(&l->bytes, p->s + p->i, 1)) return CAIRN_NOMEM;
            p->i++;
        }
        l->kind = L_STR;
        return 0;
    }
    if ((p->s[p->i] == 'x' || p->s[p->i] == 'X') && p->i + 1 < p->n && p->s[p->i + 1] == '\'') {
        p->i += 2;
        for (;;) {
            int h1, h2;
            uint8_t byte;
            if (p->i >= p->n) return serr(p, "unterminated x'' literal");
            if (p->s[p->i] == '\'') {
                p->i++;
                break;
            }
            if (p->i + 1 >= p->n || (h1 = hexv(p->s[p->i])) < 0 || (h2 = hexv(p->s[p->i + 1])) < 0)
                return serr(p, "bad hex digit in x'' literal");
            byte = (uint8_t)(h1 * 16 + h2);
            if (tbuf_put(&l->bytes, &byte, 1)) return CAIRN_NOMEM;
            p->i += 2;
        }
        l->kind = L_BYTES;
        return 0;
    }
    if (p->s[p->i] == '-' && p->i + 4 <= p->n && strncasecmp(p->s + p->i, "-inf", 4) == 0 &&
        (p->i + 4 == p->n || !isalnum((unsigned char)p->s[p->i + 4]))) {
        p->i += 4;
        l->kind = L_NUM;
        l->d = -INFINITY;
        return 0;
    }
    if (p->s[p->i] == '-' || p->s[p->i] == '+' || isdigit((unsigned char)p->s[p->i])) return parse_number(p, l);
    len = ident(p);
    if (len) {
        if (kw(p, len, "true") || kw(p, len, "false")) {
            l->kind = L_BOOL;
            l->b = kw(p, len, "true");
        } else if (kw(p, len, "null")) {
            l->kind = L_NULL;
        } else if (kw(p, len, "nan") || kw(p, len, "inf")) {
            l->kind = L_NUM;
            l->d = kw(p, len, "nan") ? NAN : INFINITY;
        } else {
            return serr(p, "expected a default value");
        }
        p->i += len;
        return 0;
    }
    return serr(p, "expected a default value");
}

/* Give column c the default from literal l (INVALID on a mismatch). */
static int set_default(sp *p, tcol *c, lit *l) {
    cairn_value v;
    int rc;
    memset(&v, 0, sizeof v);
    if (l->kind == L_NULL) {
        c->has_def = 0;
        return 0;
    }
    if (is_signed(c->type) || is_unsigned(c->type)) {
        if (l->kind != L_INT) {
            if (l->kind == L_NUM && floor(l->d) == l->d) return serr(p, "default out of the column's range");
            return serr(p, "default of the wrong type");
        }
        if (is_signed(c->type)) {
            if (l->neg ? l->mag > (uint64_t)INT64_MAX + 1u : l->mag > (uint64_t)INT64_MAX)
                return serr(p, "default out of the column's range");
            v.v.i = l->neg ? (int64_t)(0 - l->mag) : (int64_t)l->mag;
        } else {
            if (l->neg && l->mag) return serr(p, "default out of the column's range");
            v.v.u = l->mag;
        }
    } else if (is_float(c->type)) {
        if (l->kind == L_INT) v.v.f = l->neg ? -(double)l->mag : (double)l->mag;
        else if (l->kind == L_NUM) v.v.f = l->d;
        else return serr(p, "default of the wrong type");
        if (c->type == CAIRN_TYPE_F32) v.v.f = (double)(float)v.v.f;
    } else if (c->type == CAIRN_TYPE_BOOL) {
        if (l->kind != L_BOOL) return serr(p, "default of the wrong type");
        v.v.b = l->b;
    } else if (c->type == CAIRN_TYPE_STRING) {
        if (l->kind != L_STR) return serr(p, "default of the wrong type");
    } else {
        if (l->kind != L_BYTES) return serr(p, "default of the wrong type");
    }
    if (l->kind == L_STR || l->kind == L_BYTES) {
        if (!(c->defbuf = (uint8_t *)malloc(l->bytes.n ? l->bytes.n : 1))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
        if (l->bytes.n) memcpy(c->defbuf, l->bytes.p, l->bytes.n);
        v.v.s.bytes = c->defbuf;
        v.v.s.len = l->bytes.n;
    }
    if ((rc = cairn_tbl__check_value(c, &v)) != 0) {
        free(c->defbuf);
        c->defbuf = NULL;
        return serr(p, rc == CAIRN_RANGE ? "default out of the column's range" : "default not valid for the column");
    }
    c->has_def = 1;
    c->def = v;
    return 0;
}

static int parse_type(sp *p, tcol *c) {
    size_t len, i;
    sws(p);
    len = ident(p);
    if (!len) return serr(p, "expected a type");
    if (kw(p, len, "bytes") && p->i + len < p->n && p->s[p->i + len] == ':') {
        unsigned long n = 0;
        size_t k = p->i + len + 1;
        if (k >= p->n || !isdigit((unsigned char)p->s[k])) {
            p->i = k;
            return serr(p, "expected the length of bytes:N");
        }
        while (k < p->n && isdigit((unsigned char)p->s[k])) {
            n = n * 10 + (unsigned long)(p->s[k] - '0');
            if (n > 65535) break;
            k++;
        }
        if (n < 1 || n > 65535) return serr(p, "bytes:N needs 1 <= N <= 65535");
        c->type = CAIRN_TYPE_FIXED;
        c->fixed_len = (uint32_t)n;
        p->i = k;
        return 0;
    }
    for (i = 0; i < sizeof g_types / sizeof g_types[0]; i++) {
        if (kw(p, len, g_types[i].name)) {
            c->type = g_types[i].type;
            c->fixed_len = 0;
            p->i += len;
            return 0;
        }
    }
    return serr(p, "unknown type");
}

static int finish_col(sp *p, tcol *c, int saw_null, int saw_notnull) {
    if (c->pk) {
        if (saw_null) return serr(p, "a primary key cannot be null");
        if (is_float(c->type)) return serr(p, "a primary key cannot be f32/f64");
        c->nullable = 0;
        c->unique = 0;
    } else {
        c->nullable = !saw_notnull;
    }
    c->w = cairn_tbl__type_width(c->type, c->fixed_len);
    return 0;
}

/* one column at p->i (text form); stops before ',' or the end */
static int parse_col(sp *p, tcol *c) {
    size_t len;
    int saw_null = 0, saw_notnull = 0, saw_def = 0;
    memset(c, 0, sizeof *c);
    sws(p);
    len = ident(p);
    if (!len) return serr(p, "expected a column name");
    if (len > TBL_NAME_MAX) return serr(p, "column name longer than 64 bytes");
    memcpy(c->name, p->s + p->i, len);
    c->name[len] = 0;
    p->i += len;
    if (p->i < p->n && !isspace((unsigned char)p->s[p->i])) return serr(p, "bad character in a column name");
    if (parse_type(p, c)) return CAIRN_INVALID;
    for (;;) {
        sws(p);
        if (p->i >= p->n || p->s[p->i] == ',') break;
        len = ident(p);
        if (!len) return serr(p, "expected a constraint");
        if (kw(p, len, "primary")) {
            p->i += len;
            sws(p);
            len = ident(p);
            if (!kw(p, len, "key")) return serr(p, "expected KEY after PRIMARY");
            p->i += len;
            c->pk = 1;
        } else if (kw(p, len, "unique")) {
            p->i += len;
            c->unique = 1;
        } else if (kw(p, len, "not")) {
            p->i += len;
            sws(p);
            len = ident(p);
            if (!kw(p, len, "null")) return serr(p, "expected NULL after NOT");
            p->i += len;
            saw_notnull = 1;
        } else if (kw(p, len, "null")) {
            p->i += len;
            saw_null = 1;
        } else if (kw(p, len, "default")) {
            lit l;
            int rc;
            size_t at;
            if (saw_def) return serr(p, "two defaults");
            saw_def = 1;
            p->i += len;
            memset(&l, 0, sizeof l);
            sws(p);
            at = p->i;
            rc = parse_literal(p, &l);
            if (!rc) {
                size_t end = p->i;
                p->i = at;
                rc = set_default(p, c, &l);
                if (!rc) p->i = end;
            }
            free(l.bytes.p);
            if (rc) return rc;
        } else {
            return serr(p, "unknown constraint");
        }
    }
    if (saw_null && saw_notnull) return serr(p, "both NULL and NOT NULL");
    if (saw_notnull && saw_def && !c->has_def) return serr(p, "a NOT NULL column cannot default to null");
    return finish_col(p, c, saw_null, saw_notnull);
}

static int check_schema(sp *p, tschema *s) {
    size_t i, j;
    s->pk = -1;
    if (!s->n) return serr(p, "no columns");
    for (i = 0; i < s->n; i++) {
        if (s->c[i].pk) {
            if (s->pk >= 0) return cairn_err__set(CAIRN_INVALID, "schema: two primary keys (%s and %s)", s->c[s->pk].name, s->c[i].name);
            s->pk = (int)i;
        }
        for (j = 0; j < i; j++)
            if (strcmp(s->c[i].name, s->c[j].name) == 0)
                return cairn_err__set(CAIRN_INVALID, "schema: column %s appears twice", s->c[i].name);
    }
    return 0;
}

int cairn_tbl__column_parse(const char *text, tcol *out) {
    sp p;
    int rc;
    if (!text) return cairn_err__set(CAIRN_INVALID, "column spec is NULL");
    p.s = text;
    p.n = strlen(text);
    p.i = 0;
    if ((rc = parse_col(&p, out)) != 0) {
        cairn_tbl__col_free(out);
        return rc;
    }
    sws(&p);
    if (p.i != p.n) {
        cairn_tbl__col_free(out);
        return serr(&p, "unexpected text after the column");
    }
    return 0;
}

/* ---- JSON schema ---- */

static int jerr(const sp *p, const char *what) {
    return cairn_err__set(CAIRN_INVALID, "schema: invalid JSON schema: %s at byte %zu", what, p->i);
}

static int jlit(sp *p, const char *w) {
    size_t n = strlen(w);
    if (p->n - p->i >= n && memcmp(p->s + p->i, w, n) == 0) {
        p->i += n;
        return 1;
    }
    return 0;
}

static int jbool(sp *p, int *out) {
    sws(p);
    if (jlit(p, "true")) *out = 1;
    else if (jlit(p, "false")) *out = 0;
    else return jerr(p, "expected true or false");
    return 0;
}

static int parse_json_col(sp *p, tcol *c) {
    tbuf name = {0, 0, 0};
    int have_name = 0, have_type = 0, nullable = -1, pk = 0, uniq = 0, rc = 0;
    size_t def_at = 0, def_end = 0;
    memset(c, 0, sizeof *c);
    sws(p);
    if (p->i >= p->n || p->s[p->i] != '{') return jerr(p, "expected a column object");
    p->i++;
    sws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        return jerr(p, "a column needs a name and a type");
    }
    for (;;) {
        tbuf key = {0, 0, 0};
        sws(p);
        if ((rc = cairn_tbl__json_string(p->s, p->n, &p->i, &key)) != 0) {
            free(key.p);
            rc = jerr(p, "expected a field name");
            break;
        }
        sws(p);
        if (p->i >= p->n || p->s[p->i] != ':') {
            free(key.p);
            rc = jerr(p, "expected ':'");
            break;
        }
        p->i++;
        sws(p);
#define KEYIS(w) (key.n == strlen(w) && memcmp(key.p, w, key.n) == 0)
        if (KEYIS("name")) {
            name.n = 0;
            if (cairn_tbl__json_string(p->s, p->n, &p->i, &name)) rc = jerr(p, "name must be a string");
            have_name = 1;
        } else if (KEYIS("type")) {
            tbuf ty = {0, 0, 0};
            if (cairn_tbl__json_string(p->s, p->n, &p->i, &ty) || tbuf_put(&ty, "", 1)) {
                rc = jerr(p, "type must be a string");
            } else {
                sp q;
                q.s = (const char *)ty.p;
                q.n = ty.n - 1;
                q.i = 0;
                if (parse_type(&q, c) || (sws(&q), q.i != q.n))
                    rc = cairn_err__set(CAIRN_INVALID, "schema: unknown type \"%s\" at byte %zu", (const char *)ty.p, p->i);
            }
            free(ty.p);
            have_type = 1;
        } else if (KEYIS("nullable")) {
            rc = jbool(p, &nullable);
        } else if (KEYIS("primary_key")) {
            rc = jbool(p, &pk);
        } else if (KEYIS("unique")) {
            rc = jbool(p, &uniq);
        } else if (KEYIS("default")) {
            /* parsed once the type is known: find its extent now */
            int depth = 0, instr = 0;
            size_t k = p->i;
            def_at = p->i;
            for (; k < p->n; k++) {
                char ch = p->s[k];
                if (instr) {
                    if (ch == '\\') k++;
                    else if (ch == '"') instr = 0;
                    continue;
                }
                if (ch == '"') instr = 1;
                else if (ch == '{' || ch == '[') depth++;
                else if (ch == '}' || ch == ']') {
                    if (!depth) break;
                    depth--;
                } else if (ch == ',' && !depth) break;
            }
            p->i = k;
            def_end = p->i;
        } else {
            rc = cairn_err__set(CAIRN_INVALID, "schema: unknown field \"%.*s\" at byte %zu", (int)key.n,
                                key.p ? (const char *)key.p : "", p->i);
        }
#undef KEYIS
        free(key.p);
        if (rc) break;
        sws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            break;
        }
        rc = jerr(p, "expected ',' or '}'");
        break;
    }
    if (!rc && (!have_name || !have_type)) rc = jerr(p, "a column needs a name and a type");
    if (!rc) {
        size_t k;
        if (name.n == 0 || name.n > TBL_NAME_MAX) rc = jerr(p, "bad column name length");
        for (k = 0; !rc && k < name.n; k++) {
            char ch = (char)name.p[k];
            if (!(isalpha((unsigned char)ch) || ch == '_' || (k && isdigit((unsigned char)ch))))
                rc = jerr(p, "bad column name");
        }
        if (!rc) {
            memcpy(c->name, name.p, name.n);
            c->name[name.n] = 0;
        }
    }
    free(name.p);
    if (rc) return rc;
    c->pk = pk;
    c->unique = uniq;
    if (pk && nullable == 1) return jerr(p, "a primary key cannot be nullable");
    if (pk && is_float(c->type)) return jerr(p, "a primary key cannot be f32/f64");
    if (pk) {
        c->nullable = 0;
        c->unique = 0;
    } else {
        c->nullable = nullable != 0;
    }
    c->w = cairn_tbl__type_width(c->type, c->fixed_len);
    if (def_end > def_at) {
        cairn_value v;
        tbuf sc = {0, 0, 0};
        size_t so = 0, pos = def_at;
        memset(&v, 0, sizeof v);
        rc = cairn_tbl__json_value(c, p->s, def_end, &pos, &v, &sc, &so);
        if (!rc) {
            sws(p);
            if (!v.is_null) {
                if (c->type == CAIRN_TYPE_F32) v.v.f = (double)(float)v.v.f;
                if ((c->type == CAIRN_TYPE_STRING || c->type == CAIRN_TYPE_BYTES || c->type == CAIRN_TYPE_FIXED)) {
                    if (!(c->defbuf = (uint8_t *)malloc(v.v.s.len ? v.v.s.len : 1))) rc = CAIRN_NOMEM;
                    else if (v.v.s.len) memcpy(c->defbuf, sc.p + so, v.v.s.len);
                    v.v.s.bytes = c->defbuf;
                }
                if (!rc && (rc = cairn_tbl__check_value(c, &v)) == 0) {
                    c->has_def = 1;
                    c->def = v;
                }
            } /* null: no default */
        }
        free(sc.p);
        if (rc) {
            free(c->defbuf);
            c->defbuf = NULL;
            return cairn_err__set(CAIRN_INVALID, "schema: default of column %s is not valid for its type at byte %zu", c->name,
                                  def_at);
        }
    }
    return 0;
}

int cairn_tbl__schema_parse(const char *text, tschema *out) {
    sp p;
    size_t cap = 8;
    int rc = 0, json;
    memset(out, 0, sizeof *out);
    out->pk = -1;
    if (!text) return cairn_err__set(CAIRN_INVALID, "schema is NULL");
    p.s = text;
    p.n = strlen(text);
    p.i = 0;
    sws(&p);
    json = p.i < p.n && p.s[p.i] == '[';
    if (!(out->c = (tcol *)calloc(cap, sizeof(tcol)))) return cairn_err__set(CAIRN_NOMEM, "out of memory");
    if (json) {
        p.i++;
        sws(&p);
        if (p.i < p.n && p.s[p.i] == ']') {
            p.i++;
        } else {
            for (;;) {
                if (out->n == TBL_COLS_MAX) {
                    rc = serr(&p, "more than 1024 columns");
                    break;
                }
                if (out->n == cap) {
                    tcol *nc = (tcol *)realloc(out->c, 2 * cap * sizeof(tcol));
                    if (!nc) {
                        rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                        break;
                    }
                    out->c = nc;
                    cap *= 2;
                }
                if ((rc = parse_json_col(&p, &out->c[out->n])) != 0) {
                    cairn_tbl__col_free(&out->c[out->n]);
                    break;
                }
                out->n++;
                sws(&p);
                if (p.i < p.n && p.s[p.i] == ',') {
                    p.i++;
                    continue;
                }
                if (p.i < p.n && p.s[p.i] == ']') {
                    p.i++;
                    break;
                }
                rc = jerr(&p, "expected ',' or ']'");
                break;
            }
        }
        if (!rc) {
            sws(&p);
            if (p.i != p.n) rc = jerr(&p, "text after the array");
        }
    } else {
        for (;;) {
            if (out->n == TBL_COLS_MAX) {
                rc = serr(&p, "more than 1024 columns");
                break;
            }
            if (out->n == cap) {
                tcol *nc = (tcol *)realloc(out->c, 2 * cap * sizeof(tcol));
                if (!nc) {
                    rc = cairn_err__set(CAIRN_NOMEM, "out of memory");
                    break;
                }
                out->c = nc;
                cap *= 2;
            }
            if ((rc = parse_col(&p, &out->c[out->n])) != 0) {
                cairn_tbl__col_free(&out->c[out->n]);
                break;
            }
            out->n++;
            sws(&p);
            if (p.i >= p.n) break;
            p.i++; /* ',' */
        }
    }
    if (!rc) rc = check_schema(&p, out);
    if (rc) cairn_tbl__schema_free(out);
    return rc;
}

static int type_text(const tcol *c, tbuf *b) {
    if (c->type == CAIRN_TYPE_FIXED) return cairn_tbl__buf_printf(b, "bytes:%u", (unsigned)c->fixed_len);
    return cairn_tbl__buf_printf(b, "%s", cairn_tbl__type_name(c->type));
}

static int default_text(const tcol *c, tbuf *b) {
    const cairn_value *v = &c->def;
    char num[64];
    size_t i;
    switch (c->type) {
    case CAIRN_TYPE_F32: case CAIRN_TYPE_F64:
        if (isnan(v->v.f)) return tbuf_put(b, "nan", 3);
        if (isinf(v->v.f)) return v->v.f > 0 ? tbuf_put(b, "inf", 3) : tbuf_put(b, "-inf", 4);
        fmt_float(v->v.f, c->type == CAIRN_TYPE_F32, num, sizeof num);
        return tbuf_put(b, num, strlen(num));
    case CAIRN_TYPE_STRING:
        if (tbuf_put(b, "'", 1)) return CAIRN_NOMEM;
        for (i = 0; i < v->v.s.len; i++) {
            char ch = ((const char *)v->v.s.bytes)[i];
            if (ch == '\'' && tbuf_put(b, "'", 1)) return CAIRN_NOMEM;
            if (tbuf_put(b, &ch, 1)) return CAIRN_NOMEM;
        }
        return tbuf_put(b, "'", 1);
    case CAIRN_TYPE_FIXED: case CAIRN_TYPE_BYTES:
        if (tbuf_put(b, "x'", 2) || hex_out(b, (const uint8_t *)v->v.s.bytes, v->v.s.len)) return CAIRN_NOMEM;
        return tbuf_put(b, "'", 1);
    default:
        return cairn_tbl__value_json(c, v, b);
    }
}

int cairn_tbl__col_text(const tcol *c, tbuf *b);
int cairn_tbl__col_text(const tcol *c, tbuf *b) {
    if (cairn_tbl__buf_printf(b, "%s ", c->name) || type_text(c, b)) return CAIRN_NOMEM;
    if (c->pk && cairn_tbl__buf_printf(b, " primary key")) return CAIRN_NOMEM;
    if (c->unique && cairn_tbl__buf_printf(b, " unique")) return CAIRN_NOMEM;
    if (!c->nullable && cairn_tbl__buf_printf(b, " not null")) return CAIRN_NOMEM;
    if (c->has_def && (cairn_tbl__buf_printf(b, " default ") || default_text(c, b))) return CAIRN_NOMEM;
    return 0;
}

int cairn_tbl__schema_text(const tschema *s, char **out) {
    tbuf b = {0, 0, 0};
    size_t i;
    for (i = 0; i < s->n; i++) {
        if ((i && tbuf_put(&b, ", ", 2)) || cairn_tbl__col_text(&s->c[i], &b)) {
            free(b.p);
            return CAIRN_NOMEM;
        }
    }
    if (!(*out = cairn_tbl__buf_take(&b))) return CAIRN_NOMEM;
    return 0;
}

int cairn_tbl__schema_json(const tschema *s, char **out) {
    tbuf b = {0, 0, 0};
    size_t i;
    int rc = tbuf_put(&b, "[", 1);
    for (i = 0; !rc && i < s->n; i++) {
        const tcol *c = &s->c[i];
        cairn_value nul;
        memset(&nul, 0, sizeof nul);
        nul.is_null = 1;
        rc = cairn_tbl__buf_printf(&b, "%s{\"name\":\"%s\",\"type\":\"", i ? "," : "", c->name);
        if (!rc) rc = type_text(c, &b);
        if (!rc)
            rc = cairn_tbl__buf_printf(&b, "\",\"nullable\":%s,\"primary_key\":%s,\"unique\":%s,\"default\":",
                                       c->nullable ? "true" : "false", c->pk ? "true" : "false",
                                       c->unique || c->pk ? "true" : "false");
        if (!rc) rc = cairn_tbl__value_json(c, c->has_def ? &c->def : &nul, &b);
        if (!rc) rc = tbuf_put(&b, "}", 1);
    }
    if (!rc) rc = tbuf_put(&b, "]", 1);
    if (rc || !(*out = cairn_tbl__buf_take(&b))) {
        free(b.p);
        return CAIRN_NOMEM;
    }
    return 0;
}
