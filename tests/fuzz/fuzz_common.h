/* fuzz_common.h - shared by the libFuzzer targets of the on-disk decoders (tests/fuzz).
 *
 * Every target goes through the public API only: it writes the fuzz input as ONE file of an
 * otherwise valid store in a fresh scratch directory (under /dev/shm when writable, else
 * $TMPDIR or /tmp), opens the store read-only and as a writer, reads everything, and runs
 * check. The first input byte is a mode: bit 0 set means "fix the CRCs up" (recompute every
 * CRC the format has, walking the input as the format frames it), so that the fuzzer also
 * reaches the decoders behind the CRC checks. Asserts: no crash or sanitizer report (the
 * harness), and every successful read returns bytes that a CRC-valid record or entry of the
 * store's files holds (fuzz_fail aborts otherwise); every other answer must be an error code. */
#ifndef CAIRN_FUZZ_COMMON_H
#define CAIRN_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The scratch directory of this process (created once, emptied by fuzz_reset). */
const char *fuzz_dir(void);
/* Empty the scratch directory. */
void fuzz_reset(void);
/* "<scratch>/<name>" in a static ring of buffers. */
const char *fuzz_path(const char *name);
void fuzz_write(const char *name, const void *data, size_t len);
/* Write the fuzz input after its mode byte (size >= 1) as file `name` of the scratch store,
 * repaired first by `fix` (CRC fix-ups, run when mode bit 0 is set) and by `prep` (run always,
 * told that bit); either may be NULL. */
void fuzz_write_input(const char *name, const uint8_t *data, size_t size, void (*fix)(uint8_t *d, size_t len),
                      void (*prep)(uint8_t *d, size_t len, int crcs));
/* Whole file (malloc'd) or NULL. */
uint8_t *fuzz_read(const char *name, size_t *len);
/* Copy every file of directory `from` into the scratch directory. */
void fuzz_copy_in(const char *from);
/* A directory holding a template store, built once per process by `build(dir)`. */
const char *fuzz_template(const char *tag, void (*build)(const char *dir));
/* Print and abort (a finding). */
void fuzz_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;

/* The template stores (also what tests/fuzz/seedgen.c makes the seed corpus from). */
void fuzz_build_kv(const char *dir);   /* closed KV: several data files, hints, KEYDIR */
void fuzz_build_blob(const char *dir); /* checkpointed "store.blob" with a few blobs */
/* Name of the first (last: 1) file of dir whose name ends with suffix, in sorted order. */
void fuzz_find(const char *dir, const char *suffix, int last, char *out, size_t cap);

/* CRC fix-ups, in place. */
/* A KV record header (either encoding), parsed by the tests' own reading of docs/format-kv.md. */
typedef struct fuzz_kv_rec {
    int type, txn;
    size_t hlen;
    uint64_t klen, vlen, seq;
} fuzz_kv_rec;
int fuzz_kv_hdr(const uint8_t *d, size_t len, size_t off, fuzz_kv_rec *r);
void fuzz_fix_kv_records(uint8_t *d, size_t len);
void fuzz_fix_trailing_crc(uint8_t *d, size_t len); /* hint: u32 CRC of all before it */
void fuzz_fix_keydir(uint8_t *d, size_t len);       /* KEYDIR: its header CRC and page CRCs */
void fuzz_fix_wal(uint8_t *d, size_t len);
void fuzz_fix_blob(uint8_t *d, size_t len);

/* KV oracle: is (key, value) held by a CRC-valid PUT record in any *.data file of the scratch
 * directory? */
int fuzz_kv_record_exists(const void *key, size_t klen, const void *val, size_t vlen);
/* Reads everything of the KV store in the scratch directory (read-only, then writer, then a
 * put and check), asserting the oracle. */
void fuzz_kv_exercise(void);
/* Blob oracle: does file `name` hold a blob entry with a valid header CRC, this key, this
 * length and the CRC of these bytes? */
int fuzz_blob_entry_exists(const char *name, uint32_t key, const void *val, size_t len);
/* Reads everything of the blob store "<scratch>/store.blob"; oracle_file (or NULL) is checked
 * for every successful read of the read-only open. */
void fuzz_blob_exercise(const char *oracle_file);

#endif
