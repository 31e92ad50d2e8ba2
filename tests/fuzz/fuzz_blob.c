/* Fuzz target: the blob store's file header and entry decoder. The input is the data file (no
 * WAL); every successful read must be a CRC-valid entry of it. */
#include "fuzz_common.h"

#include <cairn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf;
    if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
    fuzz_reset();
    buf = (uint8_t *)malloc(size);
    memcpy(buf, data + 1, size - 1);
    if (data[0] & 1) fuzz_fix_blob(buf, size - 1);
    fuzz_write("store.blob", buf, size - 1);
    free(buf);
    fuzz_blob_exercise("store.blob");
    return 0;
}
