/* Fuzz target: the KV KEYDIR snapshot decoder. The input replaces KEYDIR of a valid closed store
 * (mode bit 0 recomputes its header and page CRCs, so the snapshot's structure itself is fuzzed:
 * the engine checks the slots' form at open and every slot's record when it uses it; a bad one
 * must be CAIRN_CORRUPT, never a crash, a hang or an out-of-bounds read). */
#include "fuzz_common.h"

#include <cairn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *tmpl;
    if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
    tmpl = fuzz_template("kv", fuzz_build_kv);
    fuzz_reset();
    fuzz_copy_in(tmpl);
    fuzz_write_input("KEYDIR", data, size, fuzz_fix_keydir, NULL);
    fuzz_kv_exercise();
    return 0;
}
