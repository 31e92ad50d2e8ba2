/* Fuzz target: util/json.c, the strict JSON validator and the top-level merge behind every
 * binding's JSON update. The input is obj and patch separated by the first 0x00 byte (no 0x00:
 * the whole input is obj and patch is "{}"). No files are touched.
 * Asserts (fuzz_fail aborts otherwise):
 *  - merge returns 0 or CAIRN_TYPE, and 0 exactly when both inputs validate and are objects;
 *  - a result validates, is at most olen + plen + 2 bytes, and merging it with patch again
 *    gives the same bytes (idempotence);
 *  - merging the result into "{}" gives the result back (it has no duplicate names). */
#include "fuzz_common.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

static int is_object(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i < n && s[i] == '{';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *obj = data, *patch = (const uint8_t *)"{}", *nul;
    size_t olen = size, plen = 2, rlen = 0, r2len = 0;
    uint8_t *res = NULL, *r2 = NULL;
    int rc, want_ok;
    if (size > FUZZ_MAX_INPUT) return 0;
    nul = size ? (const uint8_t *)memchr(data, 0, size) : NULL;
    if (nul) {
        olen = (size_t)(nul - data);
        patch = nul + 1;
        plen = size - olen - 1;
    }
    want_ok = cairn_json__validate(obj, olen) == 0 && is_object(obj, olen) &&
              cairn_json__validate(patch, plen) == 0 && is_object(patch, plen);
    rc = cairn_json__merge_top(obj, olen, patch, plen, &res, &rlen);
    if (rc != 0 && rc != CAIRN_TYPE) fuzz_fail("merge returned %d (%s)", rc, cairn_errmsg());
    if ((rc == 0) != want_ok) fuzz_fail("merge rc %d but validator says %d (%s)", rc, want_ok, cairn_errmsg());
    if (rc != 0) {
        if (res) fuzz_fail("result set on error");
        return 0;
    }
    if (rlen > olen + plen + 2) fuzz_fail("result %zu bytes > %zu + %zu + 2", rlen, olen, plen);
    if (cairn_json__validate(res, rlen) != 0) fuzz_fail("result does not validate: %s", cairn_errmsg());
    if (cairn_json__merge_top(res, rlen, patch, plen, &r2, &r2len) != 0) fuzz_fail("re-merge failed");
    if (r2len != rlen || memcmp(r2, res, rlen) != 0) fuzz_fail("merge is not idempotent");
    free(r2);
    r2 = NULL;
    if (cairn_json__merge_top(res, rlen, (const uint8_t *)"{}", 2, &r2, &r2len) != 0) fuzz_fail("merge {} failed");
    if (r2len != rlen || memcmp(r2, res, rlen) != 0) fuzz_fail("result has duplicate names");
    free(r2);
    free(res);
    return 0;
}
