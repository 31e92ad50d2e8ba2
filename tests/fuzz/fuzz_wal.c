/* Fuzz target: the WAL record decoder (scan, torn-tail detection, replay) as the blob store uses
 * it. The input is the WAL beside a valid, checkpointed blob data file. After the writer's open
 * and close, every blob read must be a CRC-valid entry of the data file. */
#include "fuzz_common.h"

#include <cairn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *tmpl;
    if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
    tmpl = fuzz_template("blob", fuzz_build_blob);
    fuzz_reset();
    fuzz_copy_in(tmpl);
    fuzz_write_input("store.blob-wal", data, size, fuzz_fix_wal, NULL);
    fuzz_blob_exercise(NULL);
    return 0;
}
