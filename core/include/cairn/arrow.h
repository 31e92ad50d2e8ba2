/*
 * cairn/arrow.h - the Arrow C data interface and C stream interface, as the Apache Arrow
 * specification lays them out (an ABI, so any Arrow implementation can take what Cairn exports).
 * Part of the public C API; include <cairn.h>.
 *
 * The guards are the ones the specification names, so this header and Arrow's own (or nanoarrow's)
 * can be included in one program without the structs being declared twice.
 *
 * Ownership in one line: whoever holds a struct whose `release` is not NULL must call release
 * exactly once; moving a struct is copying it and setting the source's release to NULL.
 */
#ifndef CAIRN_ARROW_H
#define CAIRN_ARROW_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

/* The type of an array: a format string ("l" int64, "g" float64, "u" utf8, "+s" struct, ...),
 * a name, metadata, flags, children (struct fields) and a dictionary (value type of a
 * dictionary-encoded array, whose own format is the index type). */
struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

/* The data of an array: its length, null count, offset, buffers (validity bitmap first, LSB
 * first; then the type's buffers), children and dictionary. */
struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

/* A stream of arrays of one schema. get_schema and get_next return 0 or an errno value; at the
 * end get_next gives an array whose release is NULL. get_last_error describes the last failure
 * (borrowed, valid until the next call). */
struct ArrowArrayStream {
    int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
    int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
    const char *(*get_last_error)(struct ArrowArrayStream *);
    void (*release)(struct ArrowArrayStream *);
    void *private_data;
};

#endif /* ARROW_C_STREAM_INTERFACE */

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_ARROW_H */
