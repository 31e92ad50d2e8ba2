/* json.c - strict JSON validation and top-level object merge (stub; implementation follows). */
#include "util.h"

int cairn_json__validate(const uint8_t *buf, size_t len) {
    (void)buf; (void)len;
    return cairn_err__set(CAIRN_UNSUPPORTED, "cairn_json__validate: not implemented yet");
}

int cairn_json__merge_top(const uint8_t *obj, size_t olen, const uint8_t *patch, size_t plen,
                          uint8_t **out, size_t *outlen) {
    (void)obj; (void)olen; (void)patch; (void)plen; (void)out; (void)outlen;
    return cairn_err__set(CAIRN_UNSUPPORTED, "cairn_json__merge_top: not implemented yet");
}
