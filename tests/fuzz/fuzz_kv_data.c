/* Fuzz target: the KV data record decoder (recovery scan, reads). The input is the newest data
 * file of a store whose older files (with their hints) are valid (it replaces the store's own
 * newest file); KEYDIR is removed so that open scans. See fuzz_common.h for the mode byte and the asserts. */
#include "fuzz_common.h"

#include <cairn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *tmpl;
    static char last[256];
    if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
    tmpl = fuzz_template("kv", fuzz_build_kv);
    if (!last[0]) fuzz_find(tmpl, ".data", 1, last, sizeof last);
    if (!last[0]) fuzz_fail("the template store has no data file");
    fuzz_reset();
    fuzz_copy_in(tmpl);
    remove(fuzz_path("KEYDIR"));
    fuzz_write_input(last, data, size, fuzz_fix_kv_records, NULL); /* the newest file: the one a torn tail can be in */
    fuzz_kv_exercise();
    return 0;
}
