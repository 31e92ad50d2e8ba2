/*
 * cairn_python.i - the Python typemaps for core/cairn.i (the raw module cairn_swig).
 *
 * Shape of the raw Python layer (the package cairn/ builds the idiomatic API on it):
 *  - byte inputs accept bytes, bytearray, memoryview, any C-contiguous buffer, and str (its UTF-8);
 *    anything else raises the CAIRN_TYPE exception;
 *  - out-params become return values: handles, bytes, ints, (bytes, kind) for a KV value,
 *    the stats struct (a copy: cairn_kv_stats_t / cairn_blob_stats_t);
 *  - every function returning int returns a status BY DEFAULT: a negative one raises the exception
 *    class registered for its code through cairn_py_set_errors({code: class}) (the package
 *    registers its generated hierarchy at import; before that, RuntimeError). The exceptions are
 *    listed by name in one place ("status returns" below): expected outcomes do not raise
 *    (cairn_kv_get of a missing key and *_iter_next at the end return None), *_exists return
 *    bool, cairn_errcode returns the code.
 *  - the module is built with -threads: the GIL is released around every C call; the helpers
 *    that touch Python objects are %nothread.
 *  - handles: *_close makes the Python handle object point to NULL after waiting for the calls
 *    other threads have inside the core; a later call with it raises CAIRN_CLOSED, a second close
 *    is a no-op. In a child after fork() the calls other threads had in flight are forgotten
 *    (those threads do not exist there), so closing an inherited handle never waits for them.
 *  - Python-only extras (not in the C API): cairn_py_set_errors, cairn_py_kv_put_many,
 *    cairn_py_kv_get_many.
 */

%{
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <time.h>

static PyObject *cairn_py_errors = NULL; /* dict: int code -> exception class */

/* Raise the registered exception class for `code` with `msg` (or the thread's last message). */
static void cairn_py_raise_msg(int code, const char *msg) {
    PyObject *cls = NULL;
    if (msg == NULL || msg[0] == '\0') msg = cairn_errstr(code);
    if (cairn_py_errors != NULL) {
        PyObject *k = PyLong_FromLong(code);
        if (k != NULL) {
            cls = PyDict_GetItemWithError(cairn_py_errors, k); /* borrowed */
            Py_DECREF(k);
        }
        if (cls == NULL && PyErr_Occurred()) return;
        if (cls == NULL) cls = PyDict_GetItemString(cairn_py_errors, "default");
    }
    if (cls == NULL) cls = PyExc_RuntimeError;
    PyObject *m = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "replace");
    if (m == NULL) return;
    PyErr_SetObject(cls, m);
    Py_DECREF(m);
}

static void cairn_py_raise(int code) {
    const char *msg = cairn_errcode() == code ? cairn_errmsg() : NULL;
    cairn_py_raise_msg(code, msg);
}

static void cairn_py_type_error(const char *what, PyObject *o) {
    char buf[160];
    snprintf(buf, sizeof buf, "%s must be bytes-like or str, not %.60s", what, Py_TYPE(o)->tp_name);
    cairn_py_raise_msg(CAIRN_TYPE, buf);
}

/* Borrow the bytes of `o` (bytes, str as UTF-8, or any contiguous buffer). Returns 1 and fills
 * *view when a buffer was acquired (release it), 0 when borrowed directly, -1 with an exception. */
static int cairn_py_bytes_in(PyObject *o, const char *what, const void **p, size_t *n, Py_buffer *view) {
    if (PyBytes_Check(o)) {
        *p = PyBytes_AS_STRING(o);
        *n = (size_t)PyBytes_GET_SIZE(o);
        return 0;
    }
    if (PyUnicode_Check(o)) {
        Py_ssize_t len = 0;
        const char *s = PyUnicode_AsUTF8AndSize(o, &len);
        if (s == NULL) {
            PyErr_Clear();
            char buf[120];
            snprintf(buf, sizeof buf, "%s is not encodable as UTF-8 (lone surrogate)", what);
            cairn_py_raise_msg(CAIRN_INVALID, buf);
            return -1;
        }
        *p = s;
        *n = (size_t)len;
        return 0;
    }
    if (PyObject_CheckBuffer(o)) {
        if (PyObject_GetBuffer(o, view, PyBUF_C_CONTIGUOUS) < 0) {
            PyErr_Clear();
            char buf[120];
            snprintf(buf, sizeof buf, "%s must be a C-contiguous buffer", what);
            cairn_py_raise_msg(CAIRN_TYPE, buf);
            return -1;
        }
        *p = view->buf;
        *n = (size_t)view->len;
        return 1;
    }
    cairn_py_type_error(what, o);
    return -1;
}

/* Blob events: the C callback takes the GIL and calls the Python callable passed as ctx, from
 * inside the C call that fired them. The package's callable only queues the event: the listeners
 * run after that call has returned (see BlobStore). The subscription keeps the callable alive.
 * An exception raised by the callable goes to sys.unraisablehook. */
static void cairn_py_blob_event(void *ctx, int event, uint32_t key, uint64_t old_size, uint64_t new_size) {
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction((PyObject *)ctx, "iIKK", event, (unsigned int)key,
                                        (unsigned long long)old_size, (unsigned long long)new_size);
    if (r == NULL) PyErr_WriteUnraisable((PyObject *)ctx);
    else Py_DECREF(r);
    PyGILState_Release(st);
}

/* Table events: as the blob's; fn(event, id, new_row, old_row) with the rows as JSON text (str)
 * or None. */
static void cairn_py_table_event(void *ctx, int event, uint64_t id, const char *new_row, const char *old_row) {
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction((PyObject *)ctx, "iKzz", event, (unsigned long long)id,
                                        new_row, old_row);
    if (r == NULL) PyErr_WriteUnraisable((PyObject *)ctx);
    else Py_DECREF(r);
    PyGILState_Release(st);
}

/* In-flight calls per handle, so that closing a handle shared by threads is safe: every wrapped
 * call registers (handle, thread) while it runs (all under the GIL), and a close first makes the
 * Python handle object point to NULL (later calls raise CAIRN_CLOSED), then waits until the calls
 * already inside the core have left before freeing. Entries exist only while a call is in flight,
 * so the table holds at most one entry per busy thread. */
typedef struct { void *p; unsigned long tid; long n; } cairn_py_busy_t;
static cairn_py_busy_t *cairn_py_busy = NULL;
static size_t cairn_py_nbusy = 0, cairn_py_capbusy = 0;

static int cairn_py_enter(void *p) {
    unsigned long tid = PyThread_get_thread_ident();
    size_t i;
    for (i = 0; i < cairn_py_nbusy; i++)
        if (cairn_py_busy[i].p == p && cairn_py_busy[i].tid == tid) { cairn_py_busy[i].n++; return 0; }
    if (cairn_py_nbusy == cairn_py_capbusy) {
        size_t cap = cairn_py_capbusy ? 2 * cairn_py_capbusy : 8;
        cairn_py_busy_t *g = PyMem_Realloc(cairn_py_busy, cap * sizeof *g);
        if (g == NULL) { PyErr_NoMemory(); return -1; }
        cairn_py_busy = g;
        cairn_py_capbusy = cap;
    }
    cairn_py_busy[cairn_py_nbusy].p = p;
    cairn_py_busy[cairn_py_nbusy].tid = tid;
    cairn_py_busy[cairn_py_nbusy].n = 1;
    cairn_py_nbusy++;
    return 0;
}

static void cairn_py_leave(void *p) {
    unsigned long tid = PyThread_get_thread_ident();
    size_t i;
    for (i = 0; i < cairn_py_nbusy; i++)
        if (cairn_py_busy[i].p == p && cairn_py_busy[i].tid == tid) {
            if (--cairn_py_busy[i].n == 0) cairn_py_busy[i] = cairn_py_busy[--cairn_py_nbusy];
            return;
        }
}

/* In a child after fork() only the forking thread exists: the calls other threads had in flight
 * will never leave, so a close there (every call on an inherited handle is CAIRN_FORKED, and its
 * close only frees memory) must not wait for them. Registered once at import (pthread_atfork). */
static void cairn_py_after_fork_child(void) {
    unsigned long tid = PyThread_get_thread_ident();
    size_t i = 0;
    while (i < cairn_py_nbusy) {
        if (cairn_py_busy[i].tid != tid) cairn_py_busy[i] = cairn_py_busy[--cairn_py_nbusy];
        else i++;
    }
}

/* Calls on `p` in flight: on this thread (*mine) and on the others (returned). */
static long cairn_py_inflight(void *p, long *mine) {
    unsigned long tid = PyThread_get_thread_ident();
    long others = 0;
    size_t i;
    *mine = 0;
    for (i = 0; i < cairn_py_nbusy; i++)
        if (cairn_py_busy[i].p == p) {
            if (cairn_py_busy[i].tid == tid) *mine += cairn_py_busy[i].n;
            else others += cairn_py_busy[i].n;
        }
    return others;
}

/* Before a close of `p` (held by Python object `obj`), from inside the close wrapper (which has
 * registered itself once): refuse a close from inside a call on the same handle (an event
 * callback), point obj at NULL, then wait (GIL released) for the other threads' calls. */
static int cairn_py_close_prepare(PyObject *obj, void *p) {
    long mine = 0;
    if (p == NULL) return 0;
    cairn_py_inflight(p, &mine);
    if (mine > 1) {
        cairn_py_raise_msg(CAIRN_BUSY, "cannot close a handle from inside a call on it (an event callback)");
        return -1;
    }
    SwigPyObject *so = SWIG_Python_GetSwigThis(obj);
    if (so != NULL) so->ptr = NULL;
    while (cairn_py_inflight(p, &mine) > 0) {
        Py_BEGIN_ALLOW_THREADS
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
        Py_END_ALLOW_THREADS
    }
    return 0;
}

/* (handle address, subscription id) -> callable: what keeps each callback alive. */
static PyObject *cairn_py_subs = NULL;

static int cairn_py_subs_keep(void *handle, uint64_t id, PyObject *fn) {
    if (cairn_py_subs == NULL && (cairn_py_subs = PyDict_New()) == NULL) return -1;
    PyObject *k = Py_BuildValue("(nK)", (Py_ssize_t)(intptr_t)handle, (unsigned long long)id);
    if (k == NULL) return -1;
    int rc = PyDict_SetItem(cairn_py_subs, k, fn);
    Py_DECREF(k);
    return rc;
}

/* Drop subscription `id` of `handle`, or all of its subscriptions (all=1: the handle closed). */
static void cairn_py_subs_drop(void *handle, uint64_t id, int all) {
    if (cairn_py_subs == NULL) return;
    PyObject *err_t, *err_v, *err_tb;
    PyErr_Fetch(&err_t, &err_v, &err_tb);
    PyObject *keys = PyDict_Keys(cairn_py_subs);
    Py_ssize_t i, n = keys ? PyList_GET_SIZE(keys) : 0;
    for (i = 0; i < n; i++) {
        PyObject *k = PyList_GET_ITEM(keys, i);
        Py_ssize_t h = PyLong_AsSsize_t(PyTuple_GET_ITEM(k, 0));
        unsigned long long kid = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(k, 1));
        if (h == (Py_ssize_t)(intptr_t)handle && (all || kid == (unsigned long long)id))
            PyDict_DelItem(cairn_py_subs, k);
    }
    Py_XDECREF(keys);
    PyErr_Clear();
    PyErr_Restore(err_t, err_v, err_tb);
}
%}

%init %{
    pthread_atfork(NULL, NULL, cairn_py_after_fork_child);
%}

/* ---- handles ------------------------------------------------------------------------- */
/* A handle argument: a NULL (closed) handle object raises CAIRN_CLOSED, except for *_close which
 * is then a no-op; the call is registered as in flight (see cairn_py_enter). */
%define CAIRN_PY_HANDLE_IN(TYPE, NAME, CLOSEFN)
%typemap(in) TYPE *NAME (void *argp = NULL, int entered = 0) {
    int res_ = SWIG_ConvertPtr($input, &argp, $descriptor, 0);
    if (!SWIG_IsOK(res_)) {
        cairn_py_raise_msg(CAIRN_TYPE, "expected a Cairn handle of the right type");
        SWIG_fail;
    }
    if (argp == NULL && strcmp("$symname", #CLOSEFN) != 0) {
        cairn_py_raise_msg(CAIRN_CLOSED, "handle is closed");
        SWIG_fail;
    }
    if (argp != NULL) {
        if (cairn_py_enter(argp) < 0) SWIG_fail;
        entered = 1;
    }
    $1 = ($1_ltype)argp;
}
%typemap(freearg) TYPE *NAME {
    if (entered$argnum) cairn_py_leave(argp$argnum);
}
%enddef
CAIRN_PY_HANDLE_IN(cairn_kv, kv, cairn_kv_close)
CAIRN_PY_HANDLE_IN(cairn_blob, b, cairn_blob_close)
CAIRN_PY_HANDLE_IN(cairn_table, t, cairn_table_close)

/* ---- byte inputs ---------------------------------------------------------------------- */
%define CAIRN_PY_BYTES_IN(PTR, LEN, WHAT)
%typemap(in) (const void *PTR, size_t LEN) (Py_buffer view, int has_view = 0) {
    const void *p_ = NULL;
    size_t n_ = 0;
    has_view = cairn_py_bytes_in($input, WHAT, &p_, &n_, &view);
    if (has_view < 0) { has_view = 0; SWIG_fail; }
    $1 = (void *)p_;
    $2 = n_;
}
%typemap(freearg) (const void *PTR, size_t LEN) {
    if (has_view$argnum) PyBuffer_Release(&view$argnum);
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) (const void *PTR, size_t LEN) {
    $1 = PyBytes_Check($input) || PyUnicode_Check($input) || PyObject_CheckBuffer($input);
}
%enddef
CAIRN_PY_BYTES_IN(key, klen, "key")
CAIRN_PY_BYTES_IN(val, vlen, "value")
CAIRN_PY_BYTES_IN(data, len, "data")
CAIRN_PY_BYTES_IN(prefix, plen, "prefix")
CAIRN_PY_BYTES_IN(changes, len, "changes")

/* cairn_kv_get_into: a writable buffer in, (size, kind) out. */
%typemap(in) (void *buf, size_t cap, size_t *vlen, int *kind) (Py_buffer view, int has_view = 0, size_t tl = 0, int tk = 0) {
    if (PyObject_GetBuffer($input, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear();
        cairn_py_raise_msg(CAIRN_TYPE, "buffer must be a writable C-contiguous buffer");
        SWIG_fail;
    }
    has_view = 1;
    $1 = view.buf;
    $2 = (size_t)view.len;
    $3 = &tl;
    $4 = &tk;
}
%typemap(argout) (void *buf, size_t cap, size_t *vlen, int *kind) {
    if (result == 0) {
        $result = SWIG_Python_AppendOutput($result, Py_BuildValue("(ni)", (Py_ssize_t)tl$argnum, tk$argnum));
    }
}
%typemap(freearg) (void *buf, size_t cap, size_t *vlen, int *kind) {
    if (has_view$argnum) PyBuffer_Release(&view$argnum);
}

/* ---- outputs -------------------------------------------------------------------------- */
%define CAIRN_PY_HANDLE_OUT(TYPE)
%typemap(in, numinputs=0) TYPE **out (TYPE *tmp = NULL) { $1 = &tmp; }
%typemap(argout) TYPE **out {
    if (result == 0) $result = SWIG_Python_AppendOutput($result, SWIG_NewPointerObj(tmp$argnum, $*1_descriptor, 0));
}
%enddef
CAIRN_PY_HANDLE_OUT(cairn_kv)
CAIRN_PY_HANDLE_OUT(cairn_kv_iter)
CAIRN_PY_HANDLE_OUT(cairn_blob)
CAIRN_PY_HANDLE_OUT(cairn_blob_iter)
CAIRN_PY_HANDLE_OUT(cairn_table)
CAIRN_PY_HANDLE_OUT(cairn_table_iter)

/* Owned text (JSON rows, id lists, the schema): a str, then cairn_free. */
%typemap(in, numinputs=0) char **out (char *tv = NULL), char **row (char *tv = NULL), char **ids (char *tv = NULL) {
    $1 = &tv;
}
%typemap(argout) char **out, char **row, char **ids {
    if (result == 0) {
        PyObject *s_ = tv$argnum ? PyUnicode_DecodeUTF8(tv$argnum, (Py_ssize_t)strlen(tv$argnum), "surrogateescape")
                                 : PyUnicode_FromStringAndSize("", 0);
        if (s_ == NULL) SWIG_fail;
        $result = SWIG_Python_AppendOutput($result, s_);
    }
}
%typemap(freearg) char **out, char **row, char **ids { cairn_free(tv$argnum); }

/* Borrowed text (copied at once): the row of cairn_table_iter_next_json, a column's name. */
%typemap(in, numinputs=0) const char **row (const char *tv = NULL), const char **name (const char *tv = NULL) {
    $1 = ($1_ltype)&tv;
}
%typemap(freearg) const char **row, const char **name ""  /* borrowed: not the owned char **row's free */
%typemap(argout) const char **row, const char **name {
    if (result == 0) {
        PyObject *s_;
        if (tv$argnum == NULL) {
            Py_INCREF(Py_None);
            s_ = Py_None;
        } else {
            s_ = PyUnicode_DecodeUTF8(tv$argnum, (Py_ssize_t)strlen(tv$argnum), "surrogateescape");
            if (s_ == NULL) SWIG_fail;
        }
        $result = SWIG_Python_AppendOutput($result, s_);
    }
}

/* Owned bytes (free with cairn_free). */
%typemap(in, numinputs=0) (void **val, size_t *vlen, int *kind) (void *tv = NULL, size_t tl = 0, int tk = 0) {
    $1 = &tv; $2 = &tl; $3 = &tk;
}
%typemap(argout) (void **val, size_t *vlen, int *kind) {
    if (result == 0) {
        PyObject *b_ = PyBytes_FromStringAndSize((const char *)tv$argnum, (Py_ssize_t)tl$argnum);
        if (b_ == NULL) SWIG_fail;
        $result = SWIG_Python_AppendOutput($result, Py_BuildValue("(Ni)", b_, tk$argnum));
    }
}
%typemap(freearg) (void **val, size_t *vlen, int *kind) { cairn_free(tv$argnum); }

%typemap(in, numinputs=0) (void **data, size_t *len) (void *tv = NULL, size_t tl = 0) { $1 = &tv; $2 = &tl; }
%typemap(argout) (void **data, size_t *len) {
    if (result == 0) {
        PyObject *b_ = PyBytes_FromStringAndSize((const char *)tv$argnum, (Py_ssize_t)tl$argnum);
        if (b_ == NULL) SWIG_fail;
        $result = SWIG_Python_AppendOutput($result, b_);
    }
}
%typemap(freearg) (void **data, size_t *len) { cairn_free(tv$argnum); }

/* Borrowed bytes (copied at once). */
%typemap(in, numinputs=0) (const void **key, size_t *klen) (const void *tv = NULL, size_t tl = 0) { $1 = ($1_ltype)&tv; $2 = &tl; }
%typemap(argout) (const void **key, size_t *klen) {
    if (result == 0) {
        PyObject *b_ = PyBytes_FromStringAndSize((const char *)tv$argnum, (Py_ssize_t)tl$argnum);
        if (b_ == NULL) SWIG_fail;
        $result = SWIG_Python_AppendOutput($result, b_);
    }
}

%define CAIRN_PY_INT_OUT(TYPE, NAME, CONV, CAST)
%typemap(in, numinputs=0) TYPE *NAME (TYPE tmp = 0) { $1 = &tmp; }
%typemap(argout) TYPE *NAME {
    if (result == 0) $result = SWIG_Python_AppendOutput($result, CONV((CAST)tmp$argnum));
}
%enddef
CAIRN_PY_INT_OUT(uint64_t, out, PyLong_FromUnsignedLongLong, unsigned long long)
CAIRN_PY_INT_OUT(uint64_t, id, PyLong_FromUnsignedLongLong, unsigned long long)
CAIRN_PY_INT_OUT(uint32_t, key, PyLong_FromUnsignedLong, unsigned long)
CAIRN_PY_INT_OUT(int64_t, expire_at_ms, PyLong_FromLongLong, long long)
CAIRN_PY_INT_OUT(size_t, offset, PyLong_FromSize_t, size_t)
CAIRN_PY_INT_OUT(size_t, size, PyLong_FromSize_t, size_t)
CAIRN_PY_INT_OUT(size_t, out, PyLong_FromSize_t, size_t)
CAIRN_PY_INT_OUT(uint64_t, first_id, PyLong_FromUnsignedLongLong, unsigned long long)
CAIRN_PY_INT_OUT(int, type, PyLong_FromLong, long)
CAIRN_PY_INT_OUT(uint32_t, fixed_len, PyLong_FromUnsignedLong, unsigned long)
CAIRN_PY_INT_OUT(int, nullable, PyLong_FromLong, long)

/* Stats: the filled struct itself (a copy the Python object owns); the package turns it into a
 * dict field by field from the struct's own members, so a new field needs no line anywhere. */
%define CAIRN_PY_STATS_OUT(TYPE)
%typemap(in, numinputs=0) struct TYPE *out (struct TYPE tmp) {
    memset(&tmp, 0, sizeof tmp);
    tmp.size = (uint32_t)sizeof tmp;
    $1 = &tmp;
}
%typemap(argout) struct TYPE *out {
    if (result == 0) {
        struct TYPE *c_ = (struct TYPE *)calloc(1, sizeof *c_);
        if (c_ == NULL) { PyErr_NoMemory(); SWIG_fail; }
        *c_ = tmp$argnum;
        $result = SWIG_Python_AppendOutput($result, SWIG_NewPointerObj(c_, $1_descriptor, SWIG_POINTER_OWN));
    }
}
%enddef
CAIRN_PY_STATS_OUT(cairn_kv_stats)
CAIRN_PY_STATS_OUT(cairn_blob_stats)
CAIRN_PY_STATS_OUT(cairn_table_stats)

/* Blob events: a Python callable fn(event, key, old_size, new_size). The subscription holds a
 * strong reference to it (in cairn_py_subs) until cairn_blob_unsubscribe or cairn_blob_close. */
%typemap(in) (cairn_blob_event_fn fn, void *ctx) {
    if (!PyCallable_Check($input)) {
        cairn_py_raise_msg(CAIRN_TYPE, "callback must be callable");
        SWIG_fail;
    }
    $1 = cairn_py_blob_event;
    $2 = (void *)$input;
}
%exception cairn_blob_subscribe {
    $action
    if (result == 0 && cairn_py_subs_keep(arg1, *arg4, (PyObject *)arg3) < 0) SWIG_fail;
}
%exception cairn_blob_unsubscribe {
    $action
    if (result == 0) cairn_py_subs_drop(arg1, arg2, 0);
}
%exception cairn_blob_close {
    if (cairn_py_close_prepare(swig_obj[0], arg1) < 0) SWIG_fail;
    $action
    cairn_py_subs_drop(arg1, 0, 1);
}
/* Table events: a Python callable fn(event, id, new_row, old_row), kept alive as the blob's. */
%typemap(in) (cairn_table_event_fn fn, void *ctx) {
    if (!PyCallable_Check($input)) {
        cairn_py_raise_msg(CAIRN_TYPE, "callback must be callable");
        SWIG_fail;
    }
    $1 = cairn_py_table_event;
    $2 = (void *)$input;
}
%exception cairn_table_subscribe {
    $action
    if (result == 0 && cairn_py_subs_keep(arg1, *arg4, (PyObject *)arg3) < 0) SWIG_fail;
}
%exception cairn_table_unsubscribe {
    $action
    if (result == 0) cairn_py_subs_drop(arg1, arg2, 0);
}
%exception cairn_table_close {
    if (cairn_py_close_prepare(swig_obj[0], arg1) < 0) SWIG_fail;
    $action
    cairn_py_subs_drop(arg1, 0, 1);
}
%exception cairn_kv_close {
    if (cairn_py_close_prepare(swig_obj[0], arg1) < 0) SWIG_fail;
    $action
}

/* ---- status returns ------------------------------------------------------------------- */
/* The DEFAULT for every function returning int: a status. 0 -> None (or the out-params), <0 ->
 * the registered exception. A new function needs no line here: it can never hand back
 * [rc, ...] silently. Only the functions whose int means something else are listed below. */
%typemap(out) int {
    if ($1 < 0) { cairn_py_raise($1); SWIG_fail; }
    $result = SWIG_Py_Void();
}
/* Exceptions to the default, each by name:
 * an expected outcome -> None instead of an exception (out-params are skipped) */
%typemap(out) int cairn_kv_get, int cairn_kv_iter_next, int cairn_blob_iter_next,
               int cairn_table_get_json, int cairn_table_iter_next_json {
    if ($1 < 0 && $1 != CAIRN_NOTFOUND && $1 != CAIRN_ITEROVER) { cairn_py_raise($1); SWIG_fail; }
    $result = SWIG_Py_Void();
}
/* 1/0 -> True/False, <0 -> the registered exception */
%typemap(out) int cairn_kv_exists, int cairn_blob_exists, int cairn_table_in_txn {
    if ($1 < 0) { cairn_py_raise($1); SWIG_fail; }
    $result = PyBool_FromLong($1);
}
/* a plain int: the last error's code, and the int fields of the options and stats structs (their
 * getters are typemapped by the field's name; test_raw checks that every field reads as an int) */
%typemap(out) int cairn_errcode, int create, int read_only, int sync, int in_txn {
    $result = PyLong_FromLong((long)$1);
}

/* ---- Python-only helpers (touch Python objects: keep the GIL) -------------------------- */
%nothread cairn_py_set_errors;
%inline %{
/* Register {code: exception class, "default": class}; the raw functions raise these. */
static PyObject *cairn_py_set_errors(PyObject *table) {
    if (!PyDict_Check(table)) {
        PyErr_SetString(PyExc_TypeError, "cairn_py_set_errors expects a dict");
        return NULL;
    }
    Py_INCREF(table);
    Py_XDECREF(cairn_py_errors);
    cairn_py_errors = table;
    Py_RETURN_NONE;
}
%}

/* ---- Python-only batch calls: one C loop for a whole batch, the GIL released once ------------ */
%nothread cairn_py_kv_put_many;
%nothread cairn_py_kv_get_many;
%typemap(out) PyObject *cairn_py_kv_put_many "$result = $1;"
%typemap(out) PyObject *cairn_py_kv_get_many "$result = $1;"
%inline %{
/* Put keys[i] -> vals[i] with kind kinds (an int for all, or a sequence). Stops at the first
 * error and raises it (the caller wraps the batch in a transaction). Returns None. */
static PyObject *cairn_py_kv_put_many(cairn_kv *kv, PyObject *keys, PyObject *vals, PyObject *kinds) {
    typedef struct { const void *k, *v; size_t kl, vl; int kind; } item;
    PyObject *lk = NULL, *lv = NULL, *lkind = NULL, *ret = NULL;
    item *it = NULL;
    Py_buffer *views = NULL;
    char *has = NULL;
    Py_ssize_t n, i;
    int all_kind = -1, rc = 0;
    /* own copies: the objects stay alive (and unchanged) while the GIL is released */
    if ((lk = PySequence_List(keys)) == NULL || (lv = PySequence_List(vals)) == NULL) goto done;
    n = PyList_GET_SIZE(lk);
    if (PyList_GET_SIZE(lv) != n) {
        cairn_py_raise_msg(CAIRN_INVALID, "put_many: keys and values differ in length");
        goto done;
    }
    if (PyLong_Check(kinds)) {
        all_kind = (int)PyLong_AsLong(kinds);
        if (all_kind == -1 && PyErr_Occurred()) goto done;
    } else {
        if ((lkind = PySequence_List(kinds)) == NULL) goto done;
        if (PyList_GET_SIZE(lkind) != n) {
            cairn_py_raise_msg(CAIRN_INVALID, "put_many: kinds and values differ in length");
            goto done;
        }
    }
    it = PyMem_Malloc(sizeof *it * (size_t)(n ? n : 1));
    views = PyMem_Malloc(sizeof *views * (size_t)(n > 0 ? 2 * n : 1));
    has = PyMem_Calloc((size_t)(n > 0 ? 2 * n : 1), 1);
    if (it == NULL || views == NULL || has == NULL) { PyErr_NoMemory(); goto done; }
    for (i = 0; i < n; i++) {
        int r = cairn_py_bytes_in(PyList_GET_ITEM(lk, i), "key", &it[i].k, &it[i].kl, &views[2 * i]);
        if (r < 0) goto done;
        has[2 * i] = (char)r;
        r = cairn_py_bytes_in(PyList_GET_ITEM(lv, i), "value", &it[i].v, &it[i].vl, &views[2 * i + 1]);
        if (r < 0) goto done;
        has[2 * i + 1] = (char)r;
        if (lkind) {
            long kd = PyLong_AsLong(PyList_GET_ITEM(lkind, i));
            if (kd == -1 && PyErr_Occurred()) goto done;
            it[i].kind = (int)kd;
        } else {
            it[i].kind = all_kind;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n; i++) {
        rc = cairn_kv_put(kv, it[i].k, it[i].kl, it[i].v, it[i].vl, it[i].kind);
        if (rc < 0) break;
    }
    Py_END_ALLOW_THREADS
    if (rc < 0) { cairn_py_raise(rc); goto done; }
    Py_INCREF(Py_None);
    ret = Py_None;
done:
    if (has != NULL)
        for (i = 0; i < 2 * (lk ? PyList_GET_SIZE(lk) : 0); i++)
            if (has[i]) PyBuffer_Release(&views[i]);
    PyMem_Free(it);
    PyMem_Free(views);
    PyMem_Free(has);
    Py_XDECREF(lk);
    Py_XDECREF(lv);
    Py_XDECREF(lkind);
    return ret;
}

/* Get every key of `keys`: returns (values, n_other) where values[i] is bytes (kind BYTES),
 * str (kind TEXT), `missing` when absent, or a (bytes, kind) tuple for any other kind; n_other
 * counts those tuples (the caller decodes them). */
static PyObject *cairn_py_kv_get_many(cairn_kv *kv, PyObject *keys, PyObject *missing) {
    typedef struct { const void *k; size_t kl; void *v; size_t vl; int kind, rc; } item;
    PyObject *lk = NULL, *out = NULL, *ret = NULL;
    item *it = NULL;
    Py_buffer *views = NULL;
    char *has = NULL;
    Py_ssize_t n = 0, i, other = 0;
    int rc = 0;
    if ((lk = PySequence_List(keys)) == NULL) goto done;
    n = PyList_GET_SIZE(lk);
    it = PyMem_Calloc((size_t)(n ? n : 1), sizeof *it);
    views = PyMem_Malloc(sizeof *views * (size_t)(n ? n : 1));
    has = PyMem_Calloc((size_t)(n ? n : 1), 1);
    if (it == NULL || views == NULL || has == NULL) { PyErr_NoMemory(); goto done; }
    for (i = 0; i < n; i++) {
        int r = cairn_py_bytes_in(PyList_GET_ITEM(lk, i), "key", &it[i].k, &it[i].kl, &views[i]);
        if (r < 0) goto done;
        has[i] = (char)r;
    }
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n; i++) {
        it[i].rc = cairn_kv_get(kv, it[i].k, it[i].kl, &it[i].v, &it[i].vl, &it[i].kind);
        if (it[i].rc < 0 && it[i].rc != CAIRN_NOTFOUND) { rc = it[i].rc; break; }
    }
    Py_END_ALLOW_THREADS
    if (rc < 0) { cairn_py_raise(rc); goto done; }
    if ((out = PyList_New(n)) == NULL) goto done;
    for (i = 0; i < n; i++) {
        PyObject *o;
        if (it[i].rc == CAIRN_NOTFOUND) {
            Py_INCREF(missing);
            o = missing;
        } else if (it[i].kind == CAIRN_KIND_BYTES) {
            o = PyBytes_FromStringAndSize((const char *)it[i].v, (Py_ssize_t)it[i].vl);
        } else if (it[i].kind == CAIRN_KIND_TEXT) {
            o = PyUnicode_DecodeUTF8((const char *)it[i].v, (Py_ssize_t)it[i].vl, "surrogateescape");
        } else {
            o = Py_BuildValue("(y#i)", (const char *)it[i].v, (Py_ssize_t)it[i].vl, it[i].kind);
            other++;
        }
        if (o == NULL) { Py_CLEAR(out); goto done; }
        PyList_SET_ITEM(out, i, o);
    }
    ret = Py_BuildValue("(Nn)", out, other);
done:
    if (it != NULL)
        for (i = 0; i < n; i++) cairn_free(it[i].v);
    if (has != NULL)
        for (i = 0; i < n; i++)
            if (has[i]) PyBuffer_Release(&views[i]);
    PyMem_Free(it);
    PyMem_Free(views);
    PyMem_Free(has);
    Py_XDECREF(lk);
    return ret;
}
%}
