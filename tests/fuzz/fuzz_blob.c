/* Fuzz target: the blob store's file header and entry decoder. The input is the data file (no
 * WAL); every successful read must be a CRC-valid entry of it. */
#include "fuzz_common.h"

#include <cairn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
    fuzz_reset();
    fuzz_write_input("store.blob", data, size, fuzz_fix_blob, NULL);
    fuzz_blob_exercise("store.blob");
    return 0;
}
