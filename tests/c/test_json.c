/* test_json.c - Check tests of util/json.c: the strict validator and the top-level merge behind
 * every binding's JSON update. */
#include "util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

/* Merge two NUL-terminated texts; returns the rc, and the result (NUL-terminated, malloc'd) in *res. */
static int merge(const char *obj, const char *patch, char **res) {
    uint8_t *out = NULL;
    size_t n = 0;
    int rc = cairn_json__merge_top((const uint8_t *)obj, strlen(obj), (const uint8_t *)patch, strlen(patch), &out,
                                   &n);
    *res = NULL;
    if (rc == 0) {
        *res = (char *)malloc(n + 1);
        ck_assert_ptr_nonnull(*res);
        memcpy(*res, out, n);
        (*res)[n] = '\0';
        free(out);
    } else {
        ck_assert_ptr_null(out);
    }
    return rc;
}

static void merge_eq(const char *obj, const char *patch, const char *want) {
    char *got;
    int rc = merge(obj, patch, &got);
    ck_assert_msg(rc == 0, "merge(%s, %s) = %d (%s)", obj, patch, rc, cairn_errmsg());
    ck_assert_msg(strcmp(got, want) == 0, "merge(%s, %s) = %s, want %s", obj, patch, got, want);
    free(got);
}

static void valid(const char *s) {
    int rc = cairn_json__validate((const uint8_t *)s, strlen(s));
    ck_assert_msg(rc == 0, "validate(%s) = %d (%s)", s, rc, cairn_errmsg());
}

static void invalid(const char *s) {
    char *got;
    int rc = cairn_json__validate((const uint8_t *)s, strlen(s));
    ck_assert_msg(rc == CAIRN_TYPE, "validate(%s) = %d, want CAIRN_TYPE", s, rc);
    ck_assert_int_eq(cairn_errcode(), CAIRN_TYPE);
    /* the same text inside an object is rejected by the merge, as obj and as patch */
    {
        size_t n = strlen(s);
        char *wrapped = (char *)malloc(n + 16);
        ck_assert_ptr_nonnull(wrapped);
        snprintf(wrapped, n + 16, "{\"k\":%s}", s);
        ck_assert_msg(merge(wrapped, "{}", &got) == CAIRN_TYPE, "merge obj %s accepted", wrapped);
        ck_assert_msg(merge("{}", wrapped, &got) == CAIRN_TYPE, "merge patch %s accepted", wrapped);
        ck_assert_msg(strstr(cairn_errmsg(), "patch") != NULL, "message names the input: %s", cairn_errmsg());
        free(wrapped);
    }
}

START_TEST(merge_basic) {
    merge_eq("{}", "{}", "{}");
    merge_eq("{\"a\":1}", "{}", "{\"a\":1}");
    merge_eq("{}", "{\"a\":1}", "{\"a\":1}");
    merge_eq("{\"a\":1,\"b\":2}", "{\"b\":3}", "{\"a\":1,\"b\":3}");
    merge_eq("{\"a\":1,\"b\":2}", "{\"c\":3,\"a\":null}", "{\"a\":null,\"b\":2,\"c\":3}");
    /* appended in patch order */
    merge_eq("{\"x\":0}", "{\"z\":1,\"y\":2,\"w\":3}", "{\"x\":0,\"z\":1,\"y\":2,\"w\":3}");
    /* whitespace outside strings dropped at the top level, kept inside values and strings */
    merge_eq(" \t\r\n{ \"a\" : [1, 2] ,\n \"b\": \"x y\" } \n", " { \"c\" : { \"d\" : 1 } } ",
             "{\"a\":[1, 2],\"b\":\"x y\",\"c\":{ \"d\" : 1 }}");
    /* every kind of value */
    merge_eq("{\"a\":true}", "{\"b\":false,\"c\":null,\"d\":-0.5e+3,\"e\":\"s\",\"f\":[],\"g\":{}}",
             "{\"a\":true,\"b\":false,\"c\":null,\"d\":-0.5e+3,\"e\":\"s\",\"f\":[],\"g\":{}}");
}
END_TEST

START_TEST(merge_nested_replaced_whole) {
    merge_eq("{\"n\":{\"a\":1,\"b\":2},\"k\":1}", "{\"n\":{\"c\":3}}", "{\"n\":{\"c\":3},\"k\":1}");
    merge_eq("{\"n\":[1,2,3]}", "{\"n\":{\"x\":[{\"y\":null}]}}", "{\"n\":{\"x\":[{\"y\":null}]}}");
    merge_eq("{\"n\":{\"deep\":{\"er\":1}}}", "{\"n\":1}", "{\"n\":1}");
    /* numbers copied as their exact text (no reformatting, no precision loss) */
    merge_eq("{}", "{\"big\":123456789012345678901234567890,\"f\":1.000E-0010}",
             "{\"big\":123456789012345678901234567890,\"f\":1.000E-0010}");
}
END_TEST

START_TEST(merge_escaped_names) {
    /* names compare after unescaping; the obj spelling is kept for replaced members */
    merge_eq("{\"a\":1}", "{\"\\u0061\":2}", "{\"a\":2}");
    merge_eq("{\"\\u0061\":1}", "{\"a\":2}", "{\"\\u0061\":2}");
    merge_eq("{\"a/b\":1}", "{\"a\\/b\":2}", "{\"a/b\":2}");
    merge_eq("{\"q\\\"\":1}", "{\"q\\u0022\":2}", "{\"q\\\"\":2}");
    merge_eq("{\"tab\\t\":1}", "{\"tab\\u0009\":2,\"tab\":3}", "{\"tab\\t\":2,\"tab\":3}");
    /* different names stay apart */
    merge_eq("{\"a\":1}", "{\"A\":2,\"a \":3}", "{\"a\":1,\"A\":2,\"a \":3}");
    /* a NUL inside a name is a name like any other */
    merge_eq("{\"a\\u0000b\":1,\"a\":2}", "{\"a\\u0000b\":3}", "{\"a\\u0000b\":3,\"a\":2}");
}
END_TEST

START_TEST(merge_unicode_names) {
    /* raw UTF-8 equals its \u escape, and a surrogate pair equals the raw 4-byte form */
    merge_eq("{\"caf\xc3\xa9\":1}", "{\"caf\\u00e9\":2}", "{\"caf\xc3\xa9\":2}");
    merge_eq("{\"caf\\u00E9\":1}", "{\"caf\xc3\xa9\":2}", "{\"caf\\u00E9\":2}");
    merge_eq("{\"\xe2\x82\xac\":1}", "{\"\\u20ac\":2}", "{\"\xe2\x82\xac\":2}");
    merge_eq("{\"\xf0\x9f\x98\x80\":1}", "{\"\\ud83d\\ude00\":2}", "{\"\xf0\x9f\x98\x80\":2}");
    merge_eq("{\"\\uD83D\\uDE00\":1}", "{\"\\ud83d\\ude00\":2}", "{\"\\uD83D\\uDE00\":2}");
    /* U+10FFFF, the last code point */
    merge_eq("{\"\xf4\x8f\xbf\xbf\":1}", "{\"\\udbff\\udfff\":2}", "{\"\xf4\x8f\xbf\xbf\":2}");
    /* precomposed and decomposed forms are different names (no normalization) */
    merge_eq("{\"\xc3\xa9\":1}", "{\"e\xcc\x81\":2}", "{\"\xc3\xa9\":1,\"e\xcc\x81\":2}");
}
END_TEST

START_TEST(merge_duplicates_last_wins) {
    /* duplicates in obj: the last value, at the first one's place */
    merge_eq("{\"a\":1,\"b\":2,\"a\":3}", "{}", "{\"a\":3,\"b\":2}");
    merge_eq("{\"a\":1,\"\\u0061\":2}", "{\"c\":0}", "{\"a\":2,\"c\":0}");
    merge_eq("{\"a\":1,\"a\":2}", "{\"a\":9}", "{\"a\":9}");
    /* duplicates in patch: the last wins too */
    merge_eq("{}", "{\"x\":1,\"y\":2,\"x\":3}", "{\"x\":3,\"y\":2}");
    merge_eq("{\"x\":0}", "{\"x\":1,\"x\":2}", "{\"x\":2}");
}
END_TEST

START_TEST(merge_not_objects) {
    static const char *const not_obj[] = {"[]", "[1]", "1", "\"s\"", "null", "true", "false", " 2 ", "-1e5"};
    size_t i;
    char *got;
    for (i = 0; i < sizeof not_obj / sizeof not_obj[0]; i++) {
        ck_assert_int_eq(merge(not_obj[i], "{}", &got), CAIRN_TYPE);
        ck_assert_msg(strstr(cairn_errmsg(), "obj") != NULL, "%s", cairn_errmsg());
        ck_assert_int_eq(merge("{}", not_obj[i], &got), CAIRN_TYPE);
        ck_assert_msg(strstr(cairn_errmsg(), "patch") != NULL, "%s", cairn_errmsg());
    }
    ck_assert_int_eq(merge("", "{}", &got), CAIRN_TYPE);
    ck_assert_int_eq(merge("{}", "", &got), CAIRN_TYPE);
    ck_assert_int_eq(merge("{}", "   ", &got), CAIRN_TYPE);
    ck_assert_int_eq(merge("[}", "{}", &got), CAIRN_TYPE);
    /* NULL arguments */
    {
        uint8_t *out;
        size_t n;
        ck_assert_int_eq(cairn_json__merge_top((const uint8_t *)"{}", 2, (const uint8_t *)"{}", 2, NULL, &n),
                         CAIRN_INVALID);
        ck_assert_int_eq(cairn_json__merge_top((const uint8_t *)"{}", 2, (const uint8_t *)"{}", 2, &out, NULL),
                         CAIRN_INVALID);
        ck_assert_int_eq(cairn_json__merge_top(NULL, 2, (const uint8_t *)"{}", 2, &out, &n), CAIRN_INVALID);
        ck_assert_int_eq(cairn_json__merge_top(NULL, 0, (const uint8_t *)"{}", 2, &out, &n), CAIRN_TYPE);
    }
}
END_TEST

START_TEST(validator_accepts) {
    valid("0");
    valid("-0");
    valid("1.5");
    valid("-12.25e-7");
    valid("1E10");
    valid("1e+0");
    valid("\"\"");
    valid("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\uFFFF\\uabcd\"");
    valid("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
    valid("\"\\ud800\\udc00\"");
    valid("[]");
    valid("[ ]");
    valid("{ }");
    valid("[1,[2,[3,{\"a\":[{}]}]]]");
    valid(" \t\n\r null \t\n\r ");
    valid("{\"a\":{\"b\":{\"c\":\"\\u00e9\"}},\"d\":[true,false,null]}");
}
END_TEST

START_TEST(validator_rejects) {
    static const char *const bad[] = {
        /* structure */
        "", " ", "{", "}", "[", "]", "[1,]", "[,1]", "[1 2]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}",
        "{\"a\" 1}", "{a:1}", "{'a':1}", "{1:1}", "[1]]", "{}}", "{} {}", "1 2", "[1,,2]", "{\"a\":1\"b\":2}",
        /* literals */
        "tru", "True", "nul", "NULL", "falsey", "nan", "NaN", "Infinity", "-Infinity", "undefined",
        /* numbers */
        "01", "-01", "+1", "-", "1.", ".5", "1.e5", "1e", "1e+", "1e-", "0x10", "1.5.5", "--1", "1ee5", "- 1",
        /* strings: escapes */
        "\"", "\"abc", "\"\\\"", "\"\\x\"", "\"\\'\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\U0041\"", "\"\\\"",
        /* strings: surrogates */
        "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800x\"", "\"\\ud800\\u0041\"", "\"\\ud800\\ud800\"",
        "\"\\udfff\\ud800\"", "\"\\ud800\\\"",
        /* strings: raw control characters */
        "\"a\nb\"", "\"\t\"", "\"\x01\"", "\"\x1f\"",
        /* strings: bad UTF-8 */
        "\"\x80\"", "\"\xbf\"", "\"\xc0\x80\"", "\"\xc1\xbf\"", "\"\xc2\"", "\"\xc2\x41\"", "\"\xe0\x80\x80\"",
        "\"\xe0\x9f\xbf\"", "\"\xed\xa0\x80\"", "\"\xed\xbf\xbf\"", "\"\xef\xbf\"", "\"\xf0\x80\x80\x80\"",
        "\"\xf0\x8f\xbf\xbf\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"", "\"\xff\"", "\"\xfe\"",
        "\"\xf0\x9f\x98\"",
        /* bytes outside strings */
        "\xef\xbb\xbf{}", "{}\x01", "[1]\x7f", "/* c */ {}", "{} // c", "\f{}", "\v1",
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = cairn_json__validate((const uint8_t *)bad[i], strlen(bad[i]));
        ck_assert_msg(rc == CAIRN_TYPE, "validate(#%zu \"%s\") = %d", i, bad[i], rc);
        ck_assert_msg(strstr(cairn_errmsg(), "at byte") != NULL, "%s", cairn_errmsg());
    }
    /* each (that is a value) also inside an object, as obj and as patch */
    invalid("01");
    invalid("\"\\ud800\"");
    invalid("\"\xed\xa0\x80\"");
    invalid("[1,]");
    invalid("tru");
    invalid("\"a\nb\"");
    invalid("{\"a\":1,}");
    /* an embedded NUL is not JSON, outside or inside a string */
    ck_assert_int_eq(cairn_json__validate((const uint8_t *)"{}\0", 3), CAIRN_TYPE);
    ck_assert_int_eq(cairn_json__validate((const uint8_t *)"\"a\0b\"", 5), CAIRN_TYPE);
    /* trailing garbage after an object is rejected by the merge as well */
    {
        char *got;
        ck_assert_int_eq(merge("{\"a\":1}x", "{}", &got), CAIRN_TYPE);
        ck_assert_int_eq(merge("{}", "{\"a\":1} {}", &got), CAIRN_TYPE);
        ck_assert_int_eq(merge("{\"a\":1", "{}", &got), CAIRN_TYPE);
    }
}
END_TEST

/* "[[[...]]]" (or "{"k":{"k":...}}" when obj) nested `depth` deep. */
static char *nest(int depth, int obj) {
    size_t n = (size_t)depth * 6 + 8, i = 0;
    char *s = (char *)malloc(n);
    int d;
    ck_assert_ptr_nonnull(s);
    for (d = 0; d < depth; d++) {
        if (obj) {
            memcpy(s + i, "{\"k\":", 5);
            i += 5;
        } else {
            s[i++] = '[';
        }
    }
    s[i++] = '1';
    for (d = 0; d < depth; d++) s[i++] = obj ? '}' : ']';
    s[i] = '\0';
    return s;
}

START_TEST(depth_limit) {
    char *s, *got, *o;
    s = nest(CAIRN_JSON_MAX_DEPTH, 0);
    ck_assert_int_eq(cairn_json__validate((const uint8_t *)s, strlen(s)), 0);
    free(s);
    s = nest(CAIRN_JSON_MAX_DEPTH + 1, 0);
    ck_assert_int_eq(cairn_json__validate((const uint8_t *)s, strlen(s)), CAIRN_TYPE);
    ck_assert_msg(strstr(cairn_errmsg(), "nesting") != NULL, "%s", cairn_errmsg());
    free(s);
    /* in the merge the top-level object counts as one level */
    s = nest(CAIRN_JSON_MAX_DEPTH, 1);
    ck_assert_int_eq(merge(s, "{}", &got), 0);
    ck_assert_str_eq(got, s);
    free(got);
    ck_assert_int_eq(merge("{\"k\":0,\"x\":1}", s, &got), 0);
    ck_assert_int_eq(strncmp(got, "{\"k\":{\"k\":", 10), 0);
    ck_assert_int_eq(strcmp(got + strlen(got) - 8, "},\"x\":1}"), 0);
    free(got);
    free(s);
    s = nest(CAIRN_JSON_MAX_DEPTH + 1, 1);
    ck_assert_int_eq(merge(s, "{}", &got), CAIRN_TYPE);
    ck_assert_int_eq(merge("{}", s, &got), CAIRN_TYPE);
    free(s);
    /* far too deep: rejected without exhausting the stack */
    s = nest(1000000, 0);
    ck_assert_int_eq(cairn_json__validate((const uint8_t *)s, strlen(s)), CAIRN_TYPE);
    o = (char *)malloc(strlen(s) + 8);
    ck_assert_ptr_nonnull(o);
    sprintf(o, "{\"a\":%s}", s);
    ck_assert_int_eq(merge("{}", o, &got), CAIRN_TYPE);
    free(o);
    free(s);
}
END_TEST

START_TEST(big_inputs) {
    /* 100k members in obj, 100k in patch (half of them replacing): linear time, exact result */
    enum { N = 100000 };
    size_t cap = (size_t)N * 40, no = 0, np = 0, nw = 0, i;
    char *obj = (char *)malloc(cap), *patch = (char *)malloc(cap), *want = (char *)malloc(cap * 2), *got;
    ck_assert_ptr_nonnull(obj);
    ck_assert_ptr_nonnull(patch);
    ck_assert_ptr_nonnull(want);
    obj[no++] = '{';
    patch[np++] = '{';
    want[nw++] = '{';
    for (i = 0; i < N; i++) {
        no += (size_t)sprintf(obj + no, "%s\"k%zu\":%zu", i ? "," : "", i, i);
        /* patch: odd keys of obj (replacing) and new keys n<i> */
        if (i % 2)
            np += (size_t)sprintf(patch + np, "%s\"k%zu\":\"p%zu\"", np > 1 ? "," : "", i, i);
        else
            np += (size_t)sprintf(patch + np, "%s\"n%zu\":[%zu]", np > 1 ? "," : "", i, i);
    }
    for (i = 0; i < N; i++) {
        if (i % 2)
            nw += (size_t)sprintf(want + nw, "%s\"k%zu\":\"p%zu\"", i ? "," : "", i, i);
        else
            nw += (size_t)sprintf(want + nw, "%s\"k%zu\":%zu", i ? "," : "", i, i);
    }
    for (i = 0; i < N; i += 2) nw += (size_t)sprintf(want + nw, ",\"n%zu\":[%zu]", i, i);
    obj[no++] = '}';
    obj[no] = '\0';
    patch[np++] = '}';
    patch[np] = '\0';
    want[nw++] = '}';
    want[nw] = '\0';
    ck_assert_int_eq(merge(obj, patch, &got), 0);
    ck_assert_uint_eq(strlen(got), nw);
    ck_assert_msg(strcmp(got, want) == 0, "big merge differs");
    free(got);
    /* a single 16 MiB string value */
    {
        size_t big = (size_t)16 << 20;
        char *p = (char *)malloc(big + 16);
        ck_assert_ptr_nonnull(p);
        memcpy(p, "{\"s\":\"", 6);
        memset(p + 6, 'x', big);
        memcpy(p + 6 + big, "\"}", 3);
        ck_assert_int_eq(merge("{\"s\":1,\"t\":2}", p, &got), 0);
        ck_assert_uint_eq(strlen(got), big + 14);
        ck_assert_int_eq(strcmp(got + big + 6, "\",\"t\":2}"), 0);
        free(got);
        free(p);
    }
    free(obj);
    free(patch);
    free(want);
}
END_TEST

START_TEST(result_is_valid_and_idempotent) {
    /* merging the result with the same patch again changes nothing; the result validates */
    static const char *const cases[][2] = {
        {"{\"a\":1,\"b\":{\"c\":[1,2]}}", "{\"b\":null,\"d\":\"\\u00e9\"}"},
        {" { } ", " { \"x\" : [ { } ] } "},
        {"{\"a\":1,\"a\":2}", "{\"a\":3,\"a\":4}"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *r1, *r2;
        ck_assert_int_eq(merge(cases[i][0], cases[i][1], &r1), 0);
        ck_assert_int_eq(cairn_json__validate((const uint8_t *)r1, strlen(r1)), 0);
        ck_assert_int_eq(merge(r1, cases[i][1], &r2), 0);
        ck_assert_str_eq(r1, r2);
        free(r1);
        free(r2);
    }
}
END_TEST

static Suite *json_suite(void) {
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("json");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, merge_basic);
    tcase_add_test(tc, merge_nested_replaced_whole);
    tcase_add_test(tc, merge_escaped_names);
    tcase_add_test(tc, merge_unicode_names);
    tcase_add_test(tc, merge_duplicates_last_wins);
    tcase_add_test(tc, merge_not_objects);
    tcase_add_test(tc, validator_accepts);
    tcase_add_test(tc, validator_rejects);
    tcase_add_test(tc, depth_limit);
    tcase_add_test(tc, big_inputs);
    tcase_add_test(tc, result_is_valid_and_idempotent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(json_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
