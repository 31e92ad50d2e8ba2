/* Fuzz target: the blob store's index file <path>-index (format: "Index file" in
 * core/src/blob/blob.c and docs/format-blob.md). The input replaces the index file of a valid,
 * cleanly closed store. The copy of the data file is a new file, and the template store is
 * built anew by every process, so the index's id and its record of the data file's identity
 * (size, mtime, inode xor device) are always set to match it and the header CRC made right
 * (else every input would stop there); mode bit 0 also recomputes the page CRCs and the
 * table's CRC, so that the records themselves are fuzzed: the open either refuses them (it
 * scans) or uses them, and then every use checks the entry the record names. Asserts (the
 * harness): no crash, hang or out-of-bounds access, and every successful read returns the bytes
 * of a CRC-valid entry of the data file. */
#include "fuzz_common.h"

#include <cairn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

uint32_t cairn_crc32c__update(uint32_t crc, const void *buf, size_t len); /* core/src/util */

static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void put32(uint8_t *p, uint32_t v) {
    int i;
    for (i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v) {
    int i;
    for (i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_index(uint8_t *d, size_t n, int crcs) {
    struct stat st;
    uint64_t ino;
    size_t dl = 0;
    uint8_t *df;
    if (n < 128 || stat(fuzz_path("store.blob"), &st) != 0) return;
    /* the template is built anew by every process, under a fresh index id: take it over */
    if ((df = fuzz_read("store.blob", &dl)) != NULL) {
        if (dl >= 64) memcpy(d + 12, df + 44, 4);
        free(df);
    }
    ino = (uint64_t)st.st_ino;
    put64(d + 48, (uint64_t)st.st_size);
    put64(d + 56, (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec);
    put32(d + 64, (uint32_t)(ino ^ (ino >> 32) ^ (uint64_t)st.st_dev));
    if (crcs) {
        uint64_t nb = get64(d + 16), nf = get64(d + 24), blen, pages, body, i;
        if (nb <= n / 24 && nf <= n / 16) {
            blen = nb * 24 + nf * 16;
            pages = (blen + 65535) / 65536;
            body = (128 + 4 * pages + 7) & ~(uint64_t)7;
            if (body <= n) {
                uint64_t have = n - body < blen ? n - body : blen; /* CRCs of what is there */
                for (i = 0; i < pages; i++) {
                    uint64_t o = i * 65536, len = o >= have ? 0 : have - o < 65536 ? have - o : 65536;
                    put32(d + 128 + 4 * i, cairn_crc32c__update(0, d + body + o, (size_t)len));
                }
                put32(d + 68, cairn_crc32c__update(0, d + 128, (size_t)(4 * pages)));
            }
        }
    }
    put32(d + 124, cairn_crc32c__update(0, d, 124));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *tmpl;
    if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
    tmpl = fuzz_template("blob", fuzz_build_blob);
    fuzz_reset();
    fuzz_copy_in(tmpl);
    fuzz_write_input("store.blob-index", data, size, NULL, fix_index);
    fuzz_blob_exercise("store.blob");
    return 0;
}
