/*
 * cairn.h - the whole public C API of Cairn, an embedded storage library.
 *
 * Conventions (see docs/c-api.md):
 *  - Functions are cairn_<module>_<verb>; handles are opaque.
 *  - Constructors take the out-param first; destructors return void and accept NULL.
 *  - Fallible functions return int: 0 on success, a negative CAIRN_* code on failure
 *    (one table, cairn_errors.def; codes are never renumbered).
 *    "Not found" (CAIRN_NOTFOUND) is an expected outcome: it sets no message.
 *  - cairn_errmsg() is a thread-local one-line message with detail about the last failure
 *    on the calling thread; cairn_errname(code) is the stable name ("CAIRN_NOTFOUND").
 *  - Ownership: every pointer returned through an out-param is either owned by the caller
 *    (free it with the named function) or borrowed (valid until the named event). Each
 *    function says which.
 *  - Options structs carry a version field; initialise them with the _INIT macro.
 *    Passing NULL for options means defaults.
 *  - Handles are thread-safe: any number of threads may read through one handle while one
 *    thread writes. A transaction belongs to the handle (not to a thread).
 */
#ifndef CAIRN_H
#define CAIRN_H

/* The umbrella: every part of the API. Each engine has its own part under cairn/ and follows the
 * same verbs (docs/c-api.md has the table). */
#include "cairn/common.h"
#include "cairn/kv.h"
#include "cairn/blob.h"
#include "cairn/table.h"
#include "cairn/repo.h"

#endif /* CAIRN_H */
