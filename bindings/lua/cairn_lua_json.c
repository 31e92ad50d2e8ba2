/*
 * cairn_lua_json.c - strict JSON <-> Lua values for the Lua binding (see cairn_lua_json.h).
 *
 * Mapping:
 *   null <-> the sentinel given to json_setup (cairn.null)
 *   true/false <-> booleans
 *   integer literal that fits int64 <-> Lua integer; any other number <-> Lua float
 *     (a float with an integral value is written as "5.0" so it reads back as a float)
 *   string <-> string (must be valid UTF-8; \u escapes and surrogate pairs decoded)
 *   array <-> table with the array metatable (on decode); on encode a table is an array if it
 *     has that metatable or its keys are exactly 1..n (n > 0)
 *   object <-> table with string keys (an empty table without the array metatable is {})
 * Nesting is limited to CAIRN_LUA_JSON_DEPTH levels (which also stops cycles).
 */
#include "cairn_lua_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAIRN_LUA_JSON_DEPTH 1000
#define REG_NULL "cairn.json.null"
#define REG_ARRAY "cairn.json.array_mt"

int cairn_lua_utf8_check(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    while (s < end) {
        unsigned c = *s;
        if (c < 0x80) {
            s++;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (end - s < 2 || (s[1] & 0xC0) != 0x80)
                return 0;
            s += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (end - s < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
                return 0;
            if (c == 0xE0 && s[1] < 0xA0) /* overlong */
                return 0;
            if (c == 0xED && s[1] >= 0xA0) /* surrogate */
                return 0;
            s += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (end - s < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
                return 0;
            if (c == 0xF0 && s[1] < 0x90) /* overlong */
                return 0;
            if (c == 0xF4 && s[1] >= 0x90) /* > U+10FFFF */
                return 0;
            s += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

int cairn_lua_utf8_valid(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_pushboolean(L, cairn_lua_utf8_check(s, len));
    return 1;
}

int cairn_lua_json_setup(lua_State *L) {
    luaL_checkany(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushvalue(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, REG_NULL);
    lua_pushvalue(L, 2);
    lua_setfield(L, LUA_REGISTRYINDEX, REG_ARRAY);
    return 0;
}

/* ---- encoder ----------------------------------------------------------------------------- */

typedef struct jbuf {
    char *p;
    size_t n, cap;
    int failed;
    char err[200];
} jbuf;

static int jfail(jbuf *b, const char *msg) {
    if (!b->failed) {
        b->failed = 1;
        snprintf(b->err, sizeof b->err, "%s", msg);
    }
    return -1;
}

static int jput(jbuf *b, const char *s, size_t len) {
    if (b->n + len > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        char *np;
        while (ncap < b->n + len)
            ncap *= 2;
        np = (char *)realloc(b->p, ncap);
        if (!np) {
            b->failed = 2; /* out of memory: reported as CAIRN_NOMEM */
            snprintf(b->err, sizeof b->err, "out of memory");
            return -1;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    return 0;
}

static int jput_string(jbuf *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;
    if (!cairn_lua_utf8_check(s, len))
        return jfail(b, "a string is not valid UTF-8 (JSON holds text only)");
    if (jput(b, "\"", 1))
        return -1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t elen = 2;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (jput(b, s + run, i - run))
            return -1;
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            elen = 6;
        }
        if (jput(b, esc, elen))
            return -1;
    }
    if (jput(b, s + run, len - run))
        return -1;
    return jput(b, "\"", 1);
}

static int jput_number(lua_State *L, int idx, jbuf *b) {
    char tmp[64];
    int len, prec;
    if (lua_isinteger(L, idx)) {
        len = snprintf(tmp, sizeof tmp, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
        return jput(b, tmp, (size_t)len);
    } else {
        double d = (double)lua_tonumber(L, idx);
        if (!isfinite(d))
            return jfail(b, "inf and nan are not JSON numbers");
        /* the shortest form that reads back as the same double */
        for (prec = 15; prec <= 17; prec++) {
            len = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
        if (!strpbrk(tmp, ".eE")) { /* keep it a float: "5" would read back as an integer */
            tmp[len++] = '.';
            tmp[len++] = '0';
            tmp[len] = '\0';
        }
        return jput(b, tmp, (size_t)len);
    }
}

typedef struct jkey {
    const char *s;
    size_t len;
} jkey;

static int jkey_cmp(const void *a, const void *b) {
    const jkey *x = (const jkey *)a, *y = (const jkey *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static int jenc(lua_State *L, int idx, jbuf *b, int depth);

static int jenc_table(lua_State *L, int idx, jbuf *b, int depth) {
    int is_array_mt = 0, has_mt;
    lua_Integer count = 0, maxi = 0;
    int only_pos_ints = 1, only_strings = 1;
    has_mt = lua_getmetatable(L, idx);
    if (has_mt) {
        lua_getfield(L, LUA_REGISTRYINDEX, REG_ARRAY);
        is_array_mt = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
        if (!is_array_mt)
            return jfail(b, "a table with a metatable is not a JSON value");
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        if (lua_type(L, -2) == LUA_TSTRING) {
            only_pos_ints = 0;
        } else {
            only_strings = 0;
            if (lua_isinteger(L, -2) && lua_tointeger(L, -2) > 0) {
                if (lua_tointeger(L, -2) > maxi)
                    maxi = lua_tointeger(L, -2);
            } else {
                only_pos_ints = 0;
            }
        }
        lua_pop(L, 1);
    }
    if (is_array_mt || (count > 0 && only_pos_ints)) {
        lua_Integer i;
        if (!only_pos_ints || maxi != count)
            return jfail(b, "an array must have exactly the keys 1..n (use cairn.null for holes)");
        if (jput(b, "[", 1))
            return -1;
        for (i = 1; i <= count; i++) {
            if (i > 1 && jput(b, ",", 1))
                return -1;
            lua_rawgeti(L, idx, i);
            if (jenc(L, lua_gettop(L), b, depth + 1)) {
                lua_pop(L, 1);
                return -1;
            }
            lua_pop(L, 1);
        }
        return jput(b, "]", 1);
    }
    if (!only_strings)
        return jfail(b, "a table must be an array (keys 1..n) or an object (string keys)");
    {
        jkey *keys = count ? (jkey *)malloc((size_t)count * sizeof *keys) : NULL;
        lua_Integer n = 0, i;
        int rc = 0;
        if (count && !keys) {
            b->failed = 2;
            snprintf(b->err, sizeof b->err, "out of memory");
            return -1;
        }
        lua_pushnil(L);
        while (lua_next(L, idx)) { /* the table keeps the key strings alive */
            keys[n].s = lua_tolstring(L, -2, &keys[n].len);
            n++;
            lua_pop(L, 1);
        }
        if (n > 1)
            qsort(keys, (size_t)n, sizeof *keys, jkey_cmp);
        rc = jput(b, "{", 1);
        for (i = 0; rc == 0 && i < n; i++) {
            if (i > 0 && (rc = jput(b, ",", 1)) != 0)
                break;
            if ((rc = jput_string(b, keys[i].s, keys[i].len)) != 0 || (rc = jput(b, ":", 1)) != 0)
                break;
            lua_pushlstring(L, keys[i].s, keys[i].len);
            lua_rawget(L, idx);
            rc = jenc(L, lua_gettop(L), b, depth + 1);
            lua_pop(L, 1);
        }
        free(keys);
        return rc ? -1 : jput(b, "}", 1);
    }
}

static int jenc(lua_State *L, int idx, jbuf *b, int depth) {
    if (depth >= CAIRN_LUA_JSON_DEPTH)
        return jfail(b, "nesting too deep (or a table that contains itself)");
    if (!lua_checkstack(L, 4))
        return jfail(b, "nesting too deep for the Lua stack");
    {
        int is_null;
        lua_getfield(L, LUA_REGISTRYINDEX, REG_NULL);
        is_null = !lua_isnil(L, -1) && lua_rawequal(L, -1, idx);
        lua_pop(L, 1);
        if (is_null)
            return jput(b, "null", 4);
    }
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? jput(b, "true", 4) : jput(b, "false", 5);
    case LUA_TNUMBER:
        return jput_number(L, idx, b);
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return jput_string(b, s, len);
    }
    case LUA_TTABLE:
        return jenc_table(L, idx, b, depth);
    default: {
        if (lua_isnil(L, idx))
            return jfail(b, "nil is not a JSON value (use cairn.null)");
        {
            char msg[96];
            snprintf(msg, sizeof msg, "a %s is not a JSON value", luaL_typename(L, idx));
            return jfail(b, msg);
        }
    }
    }
}

int cairn_lua_json_encode(lua_State *L) {
    jbuf b;
    memset(&b, 0, sizeof b);
    if (lua_gettop(L) < 1)
        lua_pushnil(L);
    lua_settop(L, 1);
    if (jenc(L, 1, &b, 0)) {
        free(b.p);
        lua_settop(L, 1);
        /* not luaL_error: the message must start with the error name, not a position */
        lua_pushfstring(L, "%s: %s", b.failed == 2 ? "CAIRN_NOMEM" : "CAIRN_TYPE", b.err);
        return lua_error(L);
    }
    lua_pushlstring(L, b.p ? b.p : "", b.n);
    free(b.p);
    return 1;
}

/* ---- decoder ----------------------------------------------------------------------------- */

typedef struct jdec {
    const char *s, *p, *end;
    char err[200];
} jdec;

static int dfail(jdec *d, const char *what) {
    snprintf(d->err, sizeof d->err, "bad JSON at byte %lu: %s", (unsigned long)(d->p - d->s), what);
    return -1;
}

static void dws(jdec *d) {
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r'))
        d->p++;
}

static int dhex4(jdec *d, unsigned *out) {
    unsigned v = 0;
    int i;
    if (d->end - d->p < 4)
        return dfail(d, "short \\u escape");
    for (i = 0; i < 4; i++) {
        char c = d->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return dfail(d, "bad \\u escape");
    }
    d->p += 4;
    *out = v;
    return 0;
}

static void dutf8(luaL_Buffer *lb, unsigned cp) {
    if (cp < 0x80) {
        luaL_addchar(lb, (char)cp);
    } else if (cp < 0x800) {
        luaL_addchar(lb, (char)(0xC0 | (cp >> 6)));
        luaL_addchar(lb, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        luaL_addchar(lb, (char)(0xE0 | (cp >> 12)));
        luaL_addchar(lb, (char)(0x80 | ((cp >> 6) & 0x3F)));
        luaL_addchar(lb, (char)(0x80 | (cp & 0x3F)));
    } else {
        luaL_addchar(lb, (char)(0xF0 | (cp >> 18)));
        luaL_addchar(lb, (char)(0x80 | ((cp >> 12) & 0x3F)));
        luaL_addchar(lb, (char)(0x80 | ((cp >> 6) & 0x3F)));
        luaL_addchar(lb, (char)(0x80 | (cp & 0x3F)));
    }
}

/* At the opening quote; pushes the string. */
static int dstring(lua_State *L, jdec *d) {
    luaL_Buffer lb;
    d->p++;
    luaL_buffinit(L, &lb);
    for (;;) {
        const char *run = d->p;
        while (d->p < d->end && *d->p != '"' && *d->p != '\\' && (unsigned char)*d->p >= 0x20)
            d->p++;
        luaL_addlstring(&lb, run, (size_t)(d->p - run));
        if (d->p >= d->end) {
            luaL_pushresult(&lb);
            lua_pop(L, 1);
            return dfail(d, "unterminated string");
        }
        if (*d->p == '"') {
            d->p++;
            luaL_pushresult(&lb);
            return 0;
        }
        if ((unsigned char)*d->p < 0x20) {
            luaL_pushresult(&lb);
            lua_pop(L, 1);
            return dfail(d, "control character in string");
        }
        d->p++; /* backslash */
        if (d->p >= d->end) {
            luaL_pushresult(&lb);
            lua_pop(L, 1);
            return dfail(d, "unterminated escape");
        }
        switch (*d->p++) {
        case '"': luaL_addchar(&lb, '"'); break;
        case '\\': luaL_addchar(&lb, '\\'); break;
        case '/': luaL_addchar(&lb, '/'); break;
        case 'b': luaL_addchar(&lb, '\b'); break;
        case 'f': luaL_addchar(&lb, '\f'); break;
        case 'n': luaL_addchar(&lb, '\n'); break;
        case 'r': luaL_addchar(&lb, '\r'); break;
        case 't': luaL_addchar(&lb, '\t'); break;
        case 'u': {
            unsigned cp, lo;
            if (dhex4(d, &cp))
                goto bad;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (d->end - d->p < 2 || d->p[0] != '\\' || d->p[1] != 'u') {
                    dfail(d, "lone high surrogate");
                    goto bad;
                }
                d->p += 2;
                if (dhex4(d, &lo))
                    goto bad;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    dfail(d, "bad low surrogate");
                    goto bad;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                dfail(d, "lone low surrogate");
                goto bad;
            }
            dutf8(&lb, cp);
            break;
        }
        default:
            d->p--;
            dfail(d, "bad escape");
            goto bad;
        }
    }
bad:
    luaL_pushresult(&lb);
    lua_pop(L, 1);
    return -1;
}

static int dnumber(lua_State *L, jdec *d) {
    const char *start = d->p;
    int is_float = 0;
    if (d->p < d->end && *d->p == '-')
        d->p++;
    if (d->p < d->end && *d->p == '0') {
        d->p++;
    } else if (d->p < d->end && *d->p >= '1' && *d->p <= '9') {
        while (d->p < d->end && *d->p >= '0' && *d->p <= '9')
            d->p++;
    } else {
        return dfail(d, "bad number");
    }
    if (d->p < d->end && *d->p == '.') {
        is_float = 1;
        d->p++;
        if (d->p >= d->end || *d->p < '0' || *d->p > '9')
            return dfail(d, "bad fraction");
        while (d->p < d->end && *d->p >= '0' && *d->p <= '9')
            d->p++;
    }
    if (d->p < d->end && (*d->p == 'e' || *d->p == 'E')) {
        is_float = 1;
        d->p++;
        if (d->p < d->end && (*d->p == '+' || *d->p == '-'))
            d->p++;
        if (d->p >= d->end || *d->p < '0' || *d->p > '9')
            return dfail(d, "bad exponent");
        while (d->p < d->end && *d->p >= '0' && *d->p <= '9')
            d->p++;
    }
    if (!is_float) {
        /* exact int64 when it fits, else a float (as every JSON reader does) */
        const char *q = start;
        int neg = 0;
        unsigned long long v = 0, lim;
        int overflow = 0;
        if (*q == '-') {
            neg = 1;
            q++;
        }
        lim = neg ? (unsigned long long)LUA_MAXINTEGER + 1ull : (unsigned long long)LUA_MAXINTEGER;
        for (; q < d->p; q++) {
            unsigned dig = (unsigned)(*q - '0');
            if (v > (lim - dig) / 10) {
                overflow = 1;
                break;
            }
            v = v * 10 + dig;
        }
        if (!overflow) {
            if (neg)
                lua_pushinteger(L, v == (unsigned long long)LUA_MAXINTEGER + 1ull ? LUA_MININTEGER
                                                                                 : -(lua_Integer)v);
            else
                lua_pushinteger(L, (lua_Integer)v);
            return 0;
        }
    }
    {
        char tmp[400];
        size_t n = (size_t)(d->p - start);
        double v;
        if (n >= sizeof tmp)
            return dfail(d, "number too long");
        memcpy(tmp, start, n);
        tmp[n] = '\0';
        v = strtod(tmp, NULL);
        lua_pushnumber(L, (lua_Number)v);
    }
    return 0;
}

static int dvalue(lua_State *L, jdec *d, int depth) {
    if (depth >= CAIRN_LUA_JSON_DEPTH)
        return dfail(d, "nesting too deep");
    if (!lua_checkstack(L, 4))
        return dfail(d, "nesting too deep for the Lua stack");
    dws(d);
    if (d->p >= d->end)
        return dfail(d, "unexpected end");
    switch (*d->p) {
    case '{': {
        int first = 1;
        d->p++;
        lua_newtable(L);
        for (;;) {
            dws(d);
            if (d->p < d->end && *d->p == '}' && first) {
                d->p++;
                return 0;
            }
            if (d->p >= d->end || *d->p != '"')
                goto bad_obj;
            if (dstring(L, d))
                goto fail_obj;
            dws(d);
            if (d->p >= d->end || *d->p != ':') {
                lua_pop(L, 1);
                dfail(d, "expected ':'");
                goto fail_obj;
            }
            d->p++;
            if (dvalue(L, d, depth + 1)) {
                lua_pop(L, 1);
                goto fail_obj;
            }
            lua_rawset(L, -3);
            first = 0;
            dws(d);
            if (d->p < d->end && *d->p == ',') {
                d->p++;
                continue;
            }
            if (d->p < d->end && *d->p == '}') {
                d->p++;
                return 0;
            }
            goto bad_obj;
        }
    bad_obj:
        dfail(d, "bad object");
    fail_obj:
        lua_pop(L, 1);
        return -1;
    }
    case '[': {
        lua_Integer n = 0;
        d->p++;
        lua_newtable(L);
        lua_getfield(L, LUA_REGISTRYINDEX, REG_ARRAY);
        if (lua_istable(L, -1))
            lua_setmetatable(L, -2);
        else
            lua_pop(L, 1);
        dws(d);
        if (d->p < d->end && *d->p == ']') {
            d->p++;
            return 0;
        }
        for (;;) {
            if (dvalue(L, d, depth + 1)) {
                lua_pop(L, 1);
                return -1;
            }
            lua_rawseti(L, -2, ++n);
            dws(d);
            if (d->p < d->end && *d->p == ',') {
                d->p++;
                continue;
            }
            if (d->p < d->end && *d->p == ']') {
                d->p++;
                return 0;
            }
            dfail(d, "bad array");
            lua_pop(L, 1);
            return -1;
        }
    }
    case '"':
        return dstring(L, d);
    case 't':
        if (d->end - d->p >= 4 && memcmp(d->p, "true", 4) == 0) {
            d->p += 4;
            lua_pushboolean(L, 1);
            return 0;
        }
        return dfail(d, "bad literal");
    case 'f':
        if (d->end - d->p >= 5 && memcmp(d->p, "false", 5) == 0) {
            d->p += 5;
            lua_pushboolean(L, 0);
            return 0;
        }
        return dfail(d, "bad literal");
    case 'n':
        if (d->end - d->p >= 4 && memcmp(d->p, "null", 4) == 0) {
            d->p += 4;
            lua_getfield(L, LUA_REGISTRYINDEX, REG_NULL);
            return 0;
        }
        return dfail(d, "bad literal");
    default:
        return dnumber(L, d);
    }
}

int cairn_lua_json_decode(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    jdec d;
    int top = lua_gettop(L);
    d.s = d.p = s;
    d.end = s + len;
    d.err[0] = '\0';
    if (!cairn_lua_utf8_check(s, len)) {
        lua_pushnil(L);
        lua_pushstring(L, "bad JSON: not valid UTF-8");
        return 2;
    }
    if (dvalue(L, &d, 0) == 0) {
        dws(&d);
        if (d.p == d.end)
            return 1;
        dfail(&d, "trailing characters");
    }
    lua_settop(L, top);
    lua_pushnil(L);
    lua_pushstring(L, d.err);
    return 2;
}

/* ---- table rows (see cairn_lua_json.h) ------------------------------------------------------ */

#define REG_BYTES "cairn.row.bytes_mt"
#define REG_TEXT "cairn.row.text_mt"

int cairn_lua_row_setup(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushvalue(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, REG_BYTES);
    lua_pushvalue(L, 2);
    lua_setfield(L, LUA_REGISTRYINDEX, REG_TEXT);
    return 0;
}

static int jput_bytes(jbuf *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    char chunk[256];
    size_t i, n = 0;
    if (jput(b, "{\"$bytes\":\"", 11))
        return -1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        chunk[n++] = hex[c >> 4];
        chunk[n++] = hex[c & 15];
        if (n == sizeof chunk) {
            if (jput(b, chunk, n))
                return -1;
            n = 0;
        }
    }
    if (n && jput(b, chunk, n))
        return -1;
    return jput(b, "\"}", 2);
}

/* 1 if the value at idx has the metatable registered under `reg`. */
static int has_mt(lua_State *L, int idx, const char *reg) {
    int r;
    if (!lua_getmetatable(L, idx))
        return 0;
    lua_getfield(L, LUA_REGISTRYINDEX, reg);
    r = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return r;
}

/* 1 if s is the canonical decimal form of an integer outside Lua's integer range. */
static int beyond_lua_integer(const char *s, size_t len) {
    const char *limit = "9223372036854775807";
    size_t i;
    if (len && s[0] == '-') {
        limit = "9223372036854775808";
        s++;
        len--;
    }
    if (len < 19 || s[0] == '0')
        return 0;
    for (i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return len > 19 || memcmp(s, limit, 19) > 0;
}

/* One column value, in the form of its column's class. */
static int jenc_cell(lua_State *L, int idx, jbuf *b, int cls) {
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (cls == CAIRN_LUA_COL_BYTES)
            return jput_bytes(b, s, len);
        if ((cls == CAIRN_LUA_COL_INT || cls == CAIRN_LUA_COL_U64) && beyond_lua_integer(s, len))
            return jput(b, s, len); /* the JSON integer itself */
        if (cairn_lua_utf8_check(s, len))
            return jput_string(b, s, len);
        if (cls == CAIRN_LUA_COL_STRING) {
            jfail(b, "a value of a string column must be valid UTF-8");
            b->failed = 3;
            return -1;
        }
        return jput_bytes(b, s, len); /* not text: the core judges bytes for this column */
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            return jput_number(L, idx, b);
        } else {
            double d = (double)lua_tonumber(L, idx);
            if (d != d)
                return jput(b, "{\"$f64\":\"nan\"}", 14);
            if (isinf(d))
                return d > 0 ? jput(b, "{\"$f64\":\"inf\"}", 14) : jput(b, "{\"$f64\":\"-inf\"}", 15);
            return jput_number(L, idx, b);
        }
    case LUA_TTABLE:
        if (has_mt(L, idx, REG_BYTES) || has_mt(L, idx, REG_TEXT)) {
            size_t len;
            const char *s;
            int text = has_mt(L, idx, REG_TEXT), rc;
            lua_rawgeti(L, idx, 1);
            if (lua_type(L, -1) != LUA_TSTRING) {
                lua_pop(L, 1);
                return jfail(b, "a cairn.bytes/cairn.text value must hold a string");
            }
            s = lua_tolstring(L, -1, &len);
            rc = text ? jput_string(b, s, len) : jput_bytes(b, s, len);
            lua_pop(L, 1);
            return rc;
        }
        return jenc(L, idx, b, 1); /* cairn.null, or a plain table the core will refuse */
    default:
        return jenc(L, idx, b, 1); /* booleans; anything else fails with CAIRN_TYPE */
    }
}

/* Is the table at idx a list (keys exactly 1..n, no metatable but the array one)? -> n or -1. */
static lua_Integer list_len(lua_State *L, int idx) {
    lua_Integer count = 0, maxi = 0;
    if (lua_getmetatable(L, idx)) {
        int is_array;
        lua_getfield(L, LUA_REGISTRYINDEX, REG_ARRAY);
        is_array = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
        if (!is_array)
            return -1;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
            lua_pop(L, 1);
            return -1;
        }
        if (lua_tointeger(L, -1) > maxi)
            maxi = lua_tointeger(L, -1);
        count++;
    }
    return maxi == count ? count : -1;
}

/* A column name (a string key) and its class from the types table. */
static int jenc_name(lua_State *L, int key_idx, int types_idx, jbuf *b, int *cls) {
    size_t len;
    const char *s;
    if (lua_type(L, key_idx) != LUA_TSTRING)
        return jfail(b, "a row's keys must be column names (strings)");
    s = lua_tolstring(L, key_idx, &len);
    if (jput_string(b, s, len))
        return -1;
    lua_pushvalue(L, key_idx);
    lua_rawget(L, types_idx);
    *cls = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : CAIRN_LUA_COL_OTHER;
    lua_pop(L, 1);
    return jput(b, ":", 1);
}

static int jenc_row(lua_State *L, int idx, int types_idx, jbuf *b) {
    int first = 1;
    if (lua_type(L, idx) != LUA_TTABLE)
        return jfail(b, "a row must be a table of column = value");
    if (lua_getmetatable(L, idx)) {
        lua_pop(L, 1);
        return jfail(b, "a row must be a plain table of column = value (no metatable)");
    }
    if (!lua_checkstack(L, 6))
        return jfail(b, "out of Lua stack");
    if (jput(b, "{", 1))
        return -1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int cls;
        if ((!first && jput(b, ",", 1)) || jenc_name(L, lua_gettop(L) - 1, types_idx, b, &cls) ||
            jenc_cell(L, lua_gettop(L), b, cls)) {
            lua_pop(L, 2);
            return -1;
        }
        first = 0;
        lua_pop(L, 1);
    }
    return jput(b, "}", 1);
}

static int jenc_rows(lua_State *L, int idx, int types_idx, jbuf *b) {
    lua_Integer i, n;
    if (lua_type(L, idx) != LUA_TTABLE || (n = list_len(L, idx)) < 0)
        return jfail(b, "rows must be a list of rows");
    if (jput(b, "[", 1))
        return -1;
    for (i = 1; i <= n; i++) {
        int rc;
        lua_rawgeti(L, idx, i);
        rc = (i > 1 && jput(b, ",", 1)) || jenc_row(L, lua_gettop(L), types_idx, b);
        lua_pop(L, 1);
        if (rc)
            return -1;
    }
    return jput(b, "]", 1);
}

static int jenc_columns(lua_State *L, int idx, int types_idx, jbuf *b) {
    int first = 1;
    if (lua_type(L, idx) != LUA_TTABLE)
        return jfail(b, "columns must be a table of column = list of values");
    if (lua_getmetatable(L, idx)) {
        lua_pop(L, 1);
        return jfail(b, "columns must be a plain table of column = list of values");
    }
    if (jput(b, "{", 1))
        return -1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int cls, vidx = lua_gettop(L);
        lua_Integer i, n;
        if ((!first && jput(b, ",", 1)) || jenc_name(L, vidx - 1, types_idx, b, &cls))
            goto fail;
        if (lua_type(L, vidx) != LUA_TTABLE || (n = list_len(L, vidx)) < 0) {
            jfail(b, "each column's values must be a list (cairn.null for a null)");
            goto fail;
        }
        if (jput(b, "[", 1))
            goto fail;
        for (i = 1; i <= n; i++) {
            int rc;
            lua_rawgeti(L, vidx, i);
            rc = (i > 1 && jput(b, ",", 1)) || jenc_cell(L, lua_gettop(L), b, cls);
            lua_pop(L, 1);
            if (rc)
                goto fail;
        }
        if (jput(b, "]", 1))
            goto fail;
        first = 0;
        lua_pop(L, 1);
    }
    return jput(b, "}", 1);
fail:
    lua_pop(L, 2);
    return -1;
}

int cairn_lua_row_encode(lua_State *L) {
    jbuf b;
    const char *shape = luaL_checkstring(L, 3);
    int rc;
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 3);
    memset(&b, 0, sizeof b);
    if (strcmp(shape, "row") == 0)
        rc = jenc_row(L, 1, 2, &b);
    else if (strcmp(shape, "rows") == 0)
        rc = jenc_rows(L, 1, 2, &b);
    else if (strcmp(shape, "columns") == 0)
        rc = jenc_columns(L, 1, 2, &b);
    else
        return luaL_error(L, "row_encode: unknown shape '%s'", shape);
    if (rc) {
        free(b.p);
        lua_pushnil(L);
        lua_pushstring(L, b.err);
        lua_pushstring(L, b.failed == 2 ? "CAIRN_NOMEM" : b.failed == 3 ? "CAIRN_INVALID" : "CAIRN_TYPE");
        return 3;
    }
    lua_pushlstring(L, b.p ? b.p : "", b.n);
    free(b.p);
    return 1;
}

/* ---- row decoding --------------------------------------------------------------------------- */

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A tagged value {"$bytes": hex} / {"$f64": "nan"|"inf"|"-inf"} just decoded as a table at the top
 * of the stack: replace it with the Lua value. Other tables are left as they are. */
static int dtagged(lua_State *L, jdec *d) {
    const char *tag;
    size_t len;
    lua_pushnil(L);
    if (!lua_next(L, -2))
        return 0; /* {} */
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 2);
        return 0;
    }
    lua_pop(L, 1);
    if (lua_next(L, -2)) { /* more than one member */
        lua_pop(L, 2);
        return 0;
    }
    lua_getfield(L, -1, "$bytes");
    if (lua_type(L, -1) == LUA_TSTRING) {
        const char *h = lua_tolstring(L, -1, &len);
        luaL_Buffer lb;
        size_t i;
        if (len % 2) {
            lua_pop(L, 2);
            return dfail(d, "odd $bytes hex");
        }
        luaL_buffinit(L, &lb);
        for (i = 0; i < len; i += 2) {
            int hi = hexval(h[i]), lo = hexval(h[i + 1]);
            if (hi < 0 || lo < 0) {
                luaL_pushresult(&lb);
                lua_pop(L, 3);
                return dfail(d, "bad $bytes hex");
            }
            luaL_addchar(&lb, (char)(hi << 4 | lo));
        }
        luaL_pushresult(&lb);
        lua_replace(L, -3);
        lua_pop(L, 1);
        return 0;
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, "$f64");
    if (lua_type(L, -1) == LUA_TSTRING) {
        tag = lua_tostring(L, -1);
        if (strcmp(tag, "nan") == 0)
            lua_pushnumber(L, (lua_Number)NAN);
        else if (strcmp(tag, "inf") == 0)
            lua_pushnumber(L, (lua_Number)HUGE_VAL);
        else if (strcmp(tag, "-inf") == 0)
            lua_pushnumber(L, (lua_Number)-HUGE_VAL);
        else {
            lua_pop(L, 2);
            return dfail(d, "bad $f64");
        }
        lua_replace(L, -3);
        lua_pop(L, 1);
        return 0;
    }
    lua_pop(L, 1);
    return 0;
}

/* One column value of class cls. */
static int dcell(lua_State *L, jdec *d, int cls) {
    dws(d);
    if (d->p < d->end && (*d->p == '-' || (*d->p >= '0' && *d->p <= '9'))) {
        const char *start = d->p;
        if (cls == CAIRN_LUA_COL_U64 && *d->p != '-') {
            /* beyond Lua's integers: the decimal string */
            unsigned long long v = 0;
            int ok = 1;
            while (d->p < d->end && *d->p >= '0' && *d->p <= '9') {
                unsigned dig = (unsigned)(*d->p - '0');
                if (v > (18446744073709551615ull - dig) / 10)
                    ok = 0;
                v = v * 10 + dig;
                d->p++;
            }
            if (ok && v > (unsigned long long)LUA_MAXINTEGER &&
                (d->p >= d->end || (*d->p != '.' && *d->p != 'e' && *d->p != 'E'))) {
                lua_pushlstring(L, start, (size_t)(d->p - start));
                return 0;
            }
            d->p = start;
        }
        if (dnumber(L, d))
            return -1;
        if (cls == CAIRN_LUA_COL_FLOAT && lua_isinteger(L, -1)) {
            lua_Number f = (lua_Number)lua_tointeger(L, -1);
            lua_pop(L, 1);
            lua_pushnumber(L, f);
        }
        return 0;
    }
    if (d->p < d->end && *d->p == '{') {
        if (dvalue(L, d, 1))
            return -1;
        return dtagged(L, d);
    }
    return dvalue(L, d, 1);
}

static int drow(lua_State *L, jdec *d, int types_idx) {
    int first = 1;
    dws(d);
    if (d->p >= d->end || *d->p != '{')
        return dfail(d, "a row must be a JSON object");
    d->p++;
    if (!lua_checkstack(L, 8))
        return dfail(d, "out of Lua stack");
    lua_newtable(L);
    for (;;) {
        int cls;
        dws(d);
        if (first && d->p < d->end && *d->p == '}') {
            d->p++;
            return 0;
        }
        if (d->p >= d->end || *d->p != '"') {
            dfail(d, "bad row object");
            goto fail;
        }
        if (dstring(L, d))
            goto fail;
        lua_pushvalue(L, -1);
        lua_rawget(L, types_idx);
        cls = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : CAIRN_LUA_COL_OTHER;
        lua_pop(L, 1);
        dws(d);
        if (d->p >= d->end || *d->p != ':') {
            lua_pop(L, 1);
            dfail(d, "expected ':'");
            goto fail;
        }
        d->p++;
        if (dcell(L, d, cls)) {
            lua_pop(L, 1);
            goto fail;
        }
        lua_rawset(L, -3);
        first = 0;
        dws(d);
        if (d->p < d->end && *d->p == ',') {
            d->p++;
            continue;
        }
        if (d->p < d->end && *d->p == '}') {
            d->p++;
            return 0;
        }
        dfail(d, "bad row object");
        goto fail;
    }
fail:
    lua_pop(L, 1);
    return -1;
}

int cairn_lua_row_push(lua_State *L, const char *s, size_t len, int types_idx) {
    jdec d;
    int top = lua_gettop(L);
    d.s = d.p = s;
    d.end = s + len;
    d.err[0] = '\0';
    types_idx = lua_absindex(L, types_idx);
    if (drow(L, &d, types_idx) == 0) {
        dws(&d);
        if (d.p == d.end)
            return 0;
        dfail(&d, "trailing characters");
    }
    lua_settop(L, top);
    lua_pushstring(L, d.err);
    return -1;
}

int cairn_lua_row_decode(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (cairn_lua_row_push(L, s, len, 2) == 0)
        return 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

/* ---- query results (see cairn_lua_json.h) ---------------------------------------------------- */

/* The column class of a type name of a result's "columns". */
static int col_class_of(const char *ty) {
    if (strcmp(ty, "bytes") == 0 || strncmp(ty, "bytes:", 6) == 0)
        return CAIRN_LUA_COL_BYTES;
    if (strcmp(ty, "u64") == 0)
        return CAIRN_LUA_COL_U64;
    if (strcmp(ty, "f32") == 0 || strcmp(ty, "f64") == 0)
        return CAIRN_LUA_COL_FLOAT;
    if (strcmp(ty, "string") == 0)
        return CAIRN_LUA_COL_STRING;
    if (strcmp(ty, "timestamp") == 0 || ((ty[0] == 'i' || ty[0] == 'u') && ty[1] >= '0' && ty[1] <= '9'))
        return CAIRN_LUA_COL_INT;
    return CAIRN_LUA_COL_OTHER;
}

static void set_array_mt(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, REG_ARRAY);
    if (lua_istable(L, -1))
        lua_setmetatable(L, -2);
    else
        lua_pop(L, 1);
}

/* Fill the types table at types_idx from the decoded "columns" list at the top (name -> class). */
static void result_types(lua_State *L, int types_idx) {
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "name");
            lua_getfield(L, -2, "type");
            if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
                int cls = col_class_of(lua_tostring(L, -1));
                lua_pop(L, 1);
                lua_pushinteger(L, cls); /* entry, name, class */
                lua_rawset(L, types_idx);
            } else {
                lua_pop(L, 2);
            }
        }
        lua_pop(L, 1);
    }
}

/* "rows": [row, ...] decoded by the types; pushes the list. */
static int result_rows(lua_State *L, jdec *d, int types_idx) {
    lua_Integer n = 0;
    dws(d);
    if (d->p >= d->end || *d->p != '[')
        return dfail(d, "\"rows\" must be an array");
    d->p++;
    lua_newtable(L);
    set_array_mt(L);
    dws(d);
    if (d->p < d->end && *d->p == ']') {
        d->p++;
        return 0;
    }
    for (;;) {
        if (drow(L, d, types_idx)) {
            lua_pop(L, 1);
            return -1;
        }
        lua_rawseti(L, -2, ++n);
        dws(d);
        if (d->p < d->end && *d->p == ',') {
            d->p++;
            continue;
        }
        if (d->p < d->end && *d->p == ']') {
            d->p++;
            return 0;
        }
        lua_pop(L, 1);
        return dfail(d, "bad rows array");
    }
}

/* One list of "data": values of class cls; pushes the list. */
static int result_list(lua_State *L, jdec *d, int cls) {
    lua_Integer n = 0;
    dws(d);
    if (d->p >= d->end || *d->p != '[')
        return dfail(d, "a \"data\" column must be an array");
    d->p++;
    lua_newtable(L);
    set_array_mt(L);
    dws(d);
    if (d->p < d->end && *d->p == ']') {
        d->p++;
        return 0;
    }
    for (;;) {
        if (dcell(L, d, cls)) {
            lua_pop(L, 1);
            return -1;
        }
        lua_rawseti(L, -2, ++n);
        dws(d);
        if (d->p < d->end && *d->p == ',') {
            d->p++;
            continue;
        }
        if (d->p < d->end && *d->p == ']') {
            d->p++;
            return 0;
        }
        lua_pop(L, 1);
        return dfail(d, "bad data array");
    }
}

/* "data": {"name": [values...], ...}; pushes the table. */
static int result_data(lua_State *L, jdec *d, int types_idx) {
    int first = 1;
    dws(d);
    if (d->p >= d->end || *d->p != '{')
        return dfail(d, "\"data\" must be an object");
    d->p++;
    lua_newtable(L);
    for (;;) {
        int cls;
        dws(d);
        if (first && d->p < d->end && *d->p == '}') {
            d->p++;
            return 0;
        }
        if (d->p >= d->end || *d->p != '"' || dstring(L, d)) {
            if (!d->err[0])
                dfail(d, "bad data object");
            lua_pop(L, 1);
            return -1;
        }
        lua_pushvalue(L, -1);
        lua_rawget(L, types_idx);
        cls = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : CAIRN_LUA_COL_OTHER;
        lua_pop(L, 1);
        dws(d);
        if (d->p >= d->end || *d->p != ':') {
            lua_pop(L, 2);
            return dfail(d, "expected ':'");
        }
        d->p++;
        if (result_list(L, d, cls)) {
            lua_pop(L, 2);
            return -1;
        }
        lua_rawset(L, -3);
        first = 0;
        dws(d);
        if (d->p < d->end && *d->p == ',') {
            d->p++;
            continue;
        }
        if (d->p < d->end && *d->p == '}') {
            d->p++;
            return 0;
        }
        lua_pop(L, 1);
        return dfail(d, "bad data object");
    }
}

int cairn_lua_result_decode(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    jdec d;
    int first = 1, types_idx, res_idx;
    d.s = d.p = s;
    d.end = s + len;
    d.err[0] = '\0';
    lua_settop(L, 1);
    lua_newtable(L); /* 2: types */
    types_idx = 2;
    lua_newtable(L); /* 3: result */
    res_idx = 3;
    dws(&d);
    if (d.p >= d.end || *d.p != '{') {
        dfail(&d, "a result must be a JSON object");
        goto fail;
    }
    d.p++;
    for (;;) {
        const char *key;
        dws(&d);
        if (first && d.p < d.end && *d.p == '}') {
            d.p++;
            break;
        }
        if (d.p >= d.end || *d.p != '"' || dstring(L, &d)) {
            if (!d.err[0])
                dfail(&d, "bad result object");
            goto fail;
        }
        key = lua_tostring(L, -1);
        dws(&d);
        if (d.p >= d.end || *d.p != ':') {
            dfail(&d, "expected ':'");
            goto fail;
        }
        d.p++;
        if (strcmp(key, "rows") == 0) {
            if (result_rows(L, &d, types_idx))
                goto fail;
        } else if (strcmp(key, "data") == 0) {
            if (result_data(L, &d, types_idx))
                goto fail;
        } else {
            if (dvalue(L, &d, 1))
                goto fail;
            if (strcmp(key, "columns") == 0 && lua_istable(L, -1))
                result_types(L, types_idx);
        }
        lua_rawset(L, res_idx);
        first = 0;
        dws(&d);
        if (d.p < d.end && *d.p == ',') {
            d.p++;
            continue;
        }
        if (d.p < d.end && *d.p == '}') {
            d.p++;
            break;
        }
        dfail(&d, "bad result object");
        goto fail;
    }
    dws(&d);
    if (d.p != d.end) {
        dfail(&d, "trailing characters");
        goto fail;
    }
    lua_settop(L, res_idx);
    return 1;
fail:
    lua_settop(L, 1);
    lua_pushnil(L);
    lua_pushstring(L, d.err);
    return 2;
}
