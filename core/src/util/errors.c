/* errors.c - the error table, the thread-local last error, errno mapping. */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define CAIRN_MSG_MAX CAIRN_ERR_MSG_MAX

/* Thread-local: every thread sees only its own last error (bindings copy it on the thread
 * where the call ran). */
static __thread char t_msg[CAIRN_MSG_MAX];
static __thread int t_code;

struct err_entry {
    int code;
    const char *name;
    const char *text;
};

static const struct err_entry k_errors[] = {
#define X(code, name, text) { code, "CAIRN_" #name, text },
#include "cairn_errors.def"
#undef X
};

static const struct err_entry *find(int code) {
    size_t i;
    for (i = 0; i < sizeof k_errors / sizeof k_errors[0]; i++)
        if (k_errors[i].code == code) return &k_errors[i];
    return NULL;
}

const char *cairn_errname(int code) {
    const struct err_entry *e = find(code);
    return e ? e->name : "CAIRN_UNKNOWN";
}

const char *cairn_errstr(int code) {
    const struct err_entry *e = find(code);
    return e ? e->text : "unknown error code";
}

const char *cairn_errmsg(void) { return t_msg; }
int cairn_errcode(void) { return t_code; }

void cairn_errclear(void) {
    t_msg[0] = '\0';
    t_code = 0;
}

const char *cairn_version(void) { return CAIRN_VERSION_STRING; }

void cairn_free(void *p) { free(p); }

static void vset(int code, const char *suffix, const char *fmt, va_list ap) {
    int n = vsnprintf(t_msg, sizeof t_msg, fmt, ap);
    if (n < 0) {
        t_msg[0] = '\0';
        n = 0;
    }
    if (suffix && (size_t)n < sizeof t_msg)
        snprintf(t_msg + n, sizeof t_msg - (size_t)n, ": %s", suffix);
    t_code = code;
}

int cairn_err__set(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

int cairn_err__from_errno(int errnum) {
    switch (errnum) {
    case ENOENT: case ENOTDIR: case EISDIR: case ELOOP: case ENAMETOOLONG:
        return CAIRN_PATH;
    case EACCES: case EPERM: case EROFS:
        return CAIRN_PERM;
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return CAIRN_NOSPC;
    case ENOMEM:
        return CAIRN_NOMEM;
    case EEXIST:
        return CAIRN_EXISTS;
    case EWOULDBLOCK:
        return CAIRN_LOCKED;
    default:
        return CAIRN_IO;
    }
}

int cairn_err__sys(int errnum, const char *fmt, ...) {
    int code = cairn_err__from_errno(errnum);
    va_list ap;
    va_start(ap, fmt);
    vset(code, strerror(errnum), fmt, ap);
    va_end(ap);
    return code;
}

void cairn_err__save(cairn_err_saved *s) {
    s->code = t_code;
    memcpy(s->msg, t_msg, sizeof s->msg);
    s->msg[sizeof s->msg - 1] = '\0';
}

int cairn_err__restore(const cairn_err_saved *s) { return cairn_err__restore_as(s, s->code); }

int cairn_err__restore_as(const cairn_err_saved *s, int code) {
    memcpy(t_msg, s->msg, sizeof t_msg);
    t_code = code;
    return code;
}

int cairn_err__failed(const char *fn, const char *path) {
    return cairn_err__set(CAIRN_FAILED, "%s: %s: the handle failed after a fatal I/O error; close and reopen it",
                          fn ? fn : "?", path ? path : "?");
}
