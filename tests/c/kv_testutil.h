/* kv_testutil.h - helpers shared by the KV tests (tests/c/test_kv*.c). */
#ifndef KV_TESTUTIL_H
#define KV_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

/* Set to 1 to put test directories on /dev/shm when it exists (fault and crash-sim tests). */
extern int kvt_prefer_shm;
/* A fresh empty directory under $CAIRN_TEST_TMP (or /tmp); malloc'd path. */
char *kvt_tmpdir(const char *tag);
/* rm -rf of a test directory (only plain files and one level of subdirectories). */
void kvt_rmdir(const char *dir);
/* "dir/name" into a static-per-call malloc'd string. */
char *kvt_path(const char *dir, const char *name);
/* Names of files in dir ending with suffix (malloc'd array of malloc'd strings). */
size_t kvt_list(const char *dir, const char *suffix, char ***out);
void kvt_list_free(char **v, size_t n);
uint64_t kvt_fsize(const char *path);
void kvt_flip(const char *path, uint64_t off);
void kvt_truncate(const char *path, uint64_t size);
/* Open with sync mode and max file size (0: default); fails the test on error. */
cairn_kv *kvt_open(const char *dir, int sync, uint64_t max_file);
/* Give every sealed data file of the closed store at dir a hint file, as versions of the library
 * before the KEYDIR became the one index left them (this version reads hints, writes none). */
void kvt_write_hints(const char *dir);
/* put/get of NUL-terminated strings */
int kvt_put(cairn_kv *kv, const char *k, const char *v);
/* 1 and the value (malloc'd, NUL-terminated) in *out if present, 0 if absent, <0 error */
int kvt_get(cairn_kv *kv, const char *k, char **out);
/* splitmix64 */
/* Size of a version 3 PUT with a klen-byte key and a vlen-byte value (docs/format-kv.md): CRC,
 * tag, varint klen (none in the short form: kind 0, klen <= 32, no expiry), varint vlen, [expire],
 * key, value. (kvt_put writes kind CAIRN_KIND_TEXT.) */
uint64_t kvt_rec3(int kind, uint64_t klen, uint64_t vlen, int expires);
#define KVT_FILE3 48u /* a version 3 FILE record (it has the 32-byte header of versions 1 and 2) */
#define KVT_SEAL3 31u /* a version 3 SEAL record */
/* Offset of the next record after the one at off in a data file's bytes (either encoding), or 0
 * if no complete header is there; *type, *txn set. */
uint64_t kvt_next_rec(const uint8_t *d, uint64_t len, uint64_t off, int *type, int *txn);
uint64_t kvt_rand(uint64_t *s);
/* seed from env var or default; printed */
uint64_t kvt_seed(const char *env, uint64_t dflt);

#endif
