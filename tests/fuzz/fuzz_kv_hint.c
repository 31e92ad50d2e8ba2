/* Fuzz target: the KV hint file decoder. The input is the hint of the oldest data file of a valid
 * store (KEYDIR removed so that open uses hints). A hint is a disposable cache: whatever it says,
 * reads must return what a CRC-valid record holds, or an error. */
#include "fuzz_common.h"

#include <cairn.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char hint[256];
    const char *tmpl;
    if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
    tmpl = fuzz_template("kv", fuzz_build_kv);
    if (!hint[0]) fuzz_find(tmpl, ".hint", 0, hint, sizeof hint);
    if (!hint[0]) fuzz_fail("the template store has no hint file");
    fuzz_reset();
    fuzz_copy_in(tmpl);
    remove(fuzz_path("KEYDIR"));
    fuzz_write_input(hint, data, size, fuzz_fix_trailing_crc, NULL);
    fuzz_kv_exercise();
    return 0;
}
