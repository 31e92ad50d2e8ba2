/*
 * cairn/common.h - what every engine shares: errors, memory, values, sync modes, limits, layouts.
 * Part of the public C API; include <cairn.h> (the umbrella over every part).
 */
#ifndef CAIRN_COMMON_H
#define CAIRN_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif


#if defined(SWIG)
#define CAIRN_API
#elif defined(_WIN32)
#define CAIRN_API __declspec(dllexport)
#elif defined(__GNUC__)
#define CAIRN_API __attribute__((visibility("default")))
#else
#define CAIRN_API
#endif

#define CAIRN_VERSION_MAJOR 0
#define CAIRN_VERSION_MINOR 1
#define CAIRN_VERSION_PATCH 0
#define CAIRN_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------------------------- */

/* Error codes: CAIRN_OK (0) and CAIRN_<NAME> (negative), generated from errors.def. The C name
 * is the name cairn_errname() returns and every binding shows: one spelling everywhere. */
enum cairn_error_code {
#define X(code, name, text) CAIRN_##name = code,
#include "cairn_errors.def"
#undef X
};

/* Stable name of a code, e.g. "CAIRN_NOTFOUND"; "CAIRN_UNKNOWN" for a code not in the table.
 * Static storage. */
CAIRN_API const char *cairn_errname(int code);
/* Static one-line text of a code ("not found"). */
CAIRN_API const char *cairn_errstr(int code);
/* The calling thread's last error message with detail (file, offset, errno), or "" if none.
 * Borrowed: valid until the next Cairn call on this thread. */
CAIRN_API const char *cairn_errmsg(void);
/* The code that went with cairn_errmsg() (0 if none). */
CAIRN_API int cairn_errcode(void);
/* Clear the calling thread's last error. */
CAIRN_API void cairn_errclear(void);

/* Library version ("0.1.0"), static storage. */
CAIRN_API const char *cairn_version(void);

/* Free memory that Cairn returned as caller-owned (values, blobs). Accepts NULL. */
CAIRN_API void cairn_free(void *p);

/* ------------------------------------------------------------------------------------------
 * Values
 * A stored value is bytes plus a one-byte kind, so that bytes, text and JSON documents written
 * from one language read back as the same thing in every other.
 * ---------------------------------------------------------------------------------------- */
typedef enum cairn_kind {
    CAIRN_KIND_BYTES = 0,  /* raw bytes */
    CAIRN_KIND_TEXT = 1,   /* UTF-8 text */
    CAIRN_KIND_JSON = 2,   /* a UTF-8 JSON document (object, array, number, ...) */
    CAIRN_KIND_NATIVE = 3  /* language-native serialization (opt-in only, e.g. pickle) */
} cairn_kind;

typedef enum cairn_sync_mode {
    CAIRN_SYNC_NONE = 0,   /* never fsync on commit; cairn_*_sync() and close still do */
    CAIRN_SYNC_COMMIT = 1, /* fsync before every commit returns (default) */
    CAIRN_SYNC_GROUP = 2   /* one fsync acknowledges every writer waiting on it */
} cairn_sync_mode;

/* Limits */
#define CAIRN_KEY_MAX 65535u                  /* key length 1..65535 bytes */
#define CAIRN_VALUE_MAX (1024u * 1024u * 1024u) /* 1 GiB */

/* Options (every engine, one rule): an options struct starts with `unsigned version`; start from
 * the engine's _INIT macro. A version outside 1..CAIRN_<ENGINE>_OPTIONS_VERSION is CAIRN_INVALID;
 * a field added in version N is read only when version >= N, so a caller built against an older
 * header keeps its old behaviour. NULL options mean the defaults.
 * Statistics (every engine, one rule): a stats struct starts with `uint32_t size`; see
 * struct cairn_kv_stats. */

/* ------------------------------------------------------------------------------------------
 * Struct layouts and tests
 * ---------------------------------------------------------------------------------------- */

/* The library's own layout of a public struct, for bindings that keep a copy of it (a test
 * compares the copy field by field). `type` is the struct's name without "struct"
 * ("cairn_kv_options", "cairn_kv_stats", "cairn_blob_options", "cairn_blob_stats"); `field` a
 * member name, or NULL for the whole struct (then *offset is 0 and *size its sizeof).
 * CAIRN_NOTFOUND for an unknown type or field. Either out-pointer may be NULL. */
CAIRN_API int cairn_layout(const char *type, const char *field, size_t *offset, size_t *size);

/* FOR TESTS ONLY: a process-wide fake wall clock (Unix ms) that expiry uses instead of the real
 * one, so that tests need not sleep; 0 returns to the real clock. Never call it in production. */
CAIRN_API void cairn_testing_set_clock(int64_t unix_ms);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_COMMON_H */
