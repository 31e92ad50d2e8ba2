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
 *  - Python-only extras (not in the C API): cairn_py_set_errors, cairn_py_kv_batch /
 *    cairn_py_kv_put_batch (put_many), cairn_py_kv_get_many, and the table's fast paths cairn_py_table_insert / _update / _get /
 *    _iter_batch / _load_buffers (rows as dicts through the typed cairn_value API, no JSON), the
 *    versioned store's cairn_py_repo_put_many and cairn_py_repo_iter_batch (for the two functions
 *    core/cairn.i leaves out).
 */

%{
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <math.h>
#include <pthread.h>
#include <time.h>
#include <structmember.h>

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
    PyDateTime_IMPORT;
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
CAIRN_PY_HANDLE_IN(cairn_table, left, cairn_table_close)   /* cairn_table_join_json */
CAIRN_PY_HANDLE_IN(cairn_table, right, cairn_table_close)
CAIRN_PY_HANDLE_IN(cairn_repo, r, cairn_repo_close)

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
CAIRN_PY_HANDLE_OUT(cairn_repo)
CAIRN_PY_HANDLE_OUT(cairn_repo_iter)

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
CAIRN_PY_STATS_OUT(cairn_repo_stats)

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
    /* exported Arrow data still alive: the native close happens when the last of it is released */
    if (arg1 == NULL || !cairn_py_pin_defer_close(arg1)) {
        $action
    }
    cairn_py_subs_drop(arg1, 0, 1);
}
%exception cairn_kv_close {
    if (cairn_py_close_prepare(swig_obj[0], arg1) < 0) SWIG_fail;
    $action
}
%exception cairn_repo_close {
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
               int cairn_table_get_json, int cairn_table_iter_next_json,
               int cairn_repo_load, int cairn_repo_get, int cairn_repo_digest, int cairn_repo_tag_get {
    if ($1 < 0 && $1 != CAIRN_NOTFOUND && $1 != CAIRN_ITEROVER) { cairn_py_raise($1); SWIG_fail; }
    $result = SWIG_Py_Void();
}
/* 1/0 -> True/False, <0 -> the registered exception: the boolean verbs, exists and in_txn, of every
 * engine (a name the headers do not declare yet matches nothing; the base finds the verb by name) */
%typemap(out) int cairn_kv_exists, int cairn_blob_exists, int cairn_repo_exists,
               int cairn_kv_in_txn, int cairn_blob_in_txn, int cairn_table_in_txn, int cairn_repo_in_txn {
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

/* ---- Python-only batch calls: one C loop for a whole batch, the GIL released around the core --
 * put_many is two calls, so that the package can open its transaction between them exactly where
 * it did when it built the batch in Python:
 *  - cairn_py_kv_batch(items, kind, encode, buffers): walks `items` (an exact dict through
 *    PyDict_Next, else any iterable of 2-item pairs through the iterator protocol) and classifies
 *    each value in C: with kind None, an exact bytes is BYTES and an exact str TEXT, and with
 *    `buffers` true (the package's own encoder, which answers the same) a bytearray or memoryview
 *    is BYTES; any other value, or every value when `kind` is given, goes through
 *    encode(value, kind) -> (data, kind). Returns
 *    a capsule that owns a reference to every key and (encoded) value, and the buffers of the
 *    bytes-like ones, so the bytes stay put while the GIL is released. Nothing touches the store.
 *    Errors come in the order the former Python loop gave them: a bad pair or an encoder error
 *    first (the pairs are walked to the end), then the first key or value whose bytes cannot be
 *    taken (a key of the wrong type, a str with a lone surrogate, a non-contiguous buffer).
 *  - cairn_py_kv_put_batch(kv, batch): cairn_kv_put of every item in one C loop with the GIL
 *    released, stopping at the first error (the caller rolls its transaction back); the batch's
 *    references are dropped when it returns.
 * get_many walks `keys` in chunks: the keys' bytes are taken with the GIL, the gets of a chunk run
 * with it released, then the chunk's values become bytes / str in C (decode(data, kind) only for
 * the other kinds). */
%nothread cairn_py_kv_batch;
%nothread cairn_py_kv_put_batch;
%nothread cairn_py_kv_get_many;
%typemap(out) PyObject *cairn_py_kv_batch "$result = $1;"
%typemap(out) PyObject *cairn_py_kv_put_batch "$result = $1;"
%typemap(out) PyObject *cairn_py_kv_get_many "$result = $1;"
%{
typedef struct { const void *k, *v; size_t kl, vl; int kind; } cairn_py_kv_item;
typedef struct {
    cairn_py_kv_item *it;  /* the items, in order */
    PyObject **refs;       /* 2 per item: the key and the (encoded) value, owned */
    Py_ssize_t n, cap;
    Py_buffer **views;     /* the buffers acquired for bytes-like objects (each its own block) */
    Py_ssize_t nviews, capviews;
    int busy;              /* a put of this batch is running */
} cairn_py_kv_batch_t;

static const char cairn_py_kv_batch_name[] = "cairn.kv_batch";

/* Drop every reference and buffer of `b` (the GIL held); `b` is then empty. */
static void cairn_py_kv_batch_clear(cairn_py_kv_batch_t *b) {
    Py_ssize_t i;
    for (i = 0; i < b->nviews; i++) {
        PyBuffer_Release(b->views[i]);
        PyMem_Free(b->views[i]);
    }
    for (i = 0; i < 2 * b->n; i++) Py_DECREF(b->refs[i]);
    PyMem_Free(b->views);
    PyMem_Free(b->refs);
    PyMem_Free(b->it);
    memset(b, 0, sizeof *b);
}

static void cairn_py_kv_batch_free(PyObject *cap) {
    cairn_py_kv_batch_t *b = (cairn_py_kv_batch_t *)PyCapsule_GetPointer(cap, cairn_py_kv_batch_name);
    if (b == NULL) {
        PyErr_Clear();
        return;
    }
    cairn_py_kv_batch_clear(b);
    PyMem_Free(b);
}

/* Room for one more item (and its two references). */
static int cairn_py_kv_batch_grow(cairn_py_kv_batch_t *b) {
    Py_ssize_t cap;
    void *p;
    if (b->n < b->cap) return 0;
    cap = b->cap ? 2 * b->cap : 64;
    if ((size_t)cap > PY_SSIZE_T_MAX / (2 * sizeof(PyObject *) + sizeof(cairn_py_kv_item))) {
        PyErr_NoMemory();
        return -1;
    }
    if ((p = PyMem_Realloc(b->it, (size_t)cap * sizeof *b->it)) == NULL) { PyErr_NoMemory(); return -1; }
    b->it = (cairn_py_kv_item *)p;
    if ((p = PyMem_Realloc(b->refs, 2 * (size_t)cap * sizeof *b->refs)) == NULL) { PyErr_NoMemory(); return -1; }
    b->refs = (PyObject **)p;
    b->cap = cap;
    return 0;
}

/* The bytes of `o` as cairn_py_bytes_in takes them; a buffer acquired for it is kept in `b`.
 * 0, or -1 with an exception. */
static int cairn_py_kv_batch_bytes(cairn_py_kv_batch_t *b, PyObject *o, const char *what, const void **p,
                                   size_t *n) {
    Py_buffer *view;
    int r;
    if (PyBytes_Check(o) || PyUnicode_Check(o)) return cairn_py_bytes_in(o, what, p, n, NULL) < 0 ? -1 : 0;
    if (b->nviews == b->capviews) {
        Py_ssize_t cap = b->capviews ? 2 * b->capviews : 16;
        void *g = PyMem_Realloc(b->views, (size_t)cap * sizeof *b->views);
        if (g == NULL) { PyErr_NoMemory(); return -1; }
        b->views = (Py_buffer **)g;
        b->capviews = cap;
    }
    if ((view = (Py_buffer *)PyMem_Malloc(sizeof *view)) == NULL) { PyErr_NoMemory(); return -1; }
    r = cairn_py_bytes_in(o, what, p, n, view);
    if (r == 1) b->views[b->nviews++] = view;
    else PyMem_Free(view);
    return r < 0 ? -1 : 0;
}

/* `pair` as (key, value), new references: an exact 2-tuple or 2-list directly, anything else
 * unpacked through the iterator protocol as `for key, value in items` does. A non-iterable is
 * CAIRN_TYPE, an iterable of another length CAIRN_INVALID (a TypeError / ValueError as before). */
static int cairn_py_kv_pair(PyObject *pair, PyObject **k, PyObject **v) {
    PyObject *it, *extra;
    Py_ssize_t got = 0;
    char buf[160];
    *k = *v = NULL;
    if (PyTuple_CheckExact(pair) && PyTuple_GET_SIZE(pair) == 2) {
        *k = PyTuple_GET_ITEM(pair, 0);
        *v = PyTuple_GET_ITEM(pair, 1);
        Py_INCREF(*k);
        Py_INCREF(*v);
        return 0;
    }
    if (PyList_CheckExact(pair) && PyList_GET_SIZE(pair) == 2) {
        *k = PyList_GET_ITEM(pair, 0);
        *v = PyList_GET_ITEM(pair, 1);
        Py_INCREF(*k);
        Py_INCREF(*v);
        return 0;
    }
    if ((it = PyObject_GetIter(pair)) == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) return -1;
        PyErr_Clear();
        snprintf(buf, sizeof buf, "put_many: items must be (key, value) pairs, not %.60s", Py_TYPE(pair)->tp_name);
        cairn_py_raise_msg(CAIRN_TYPE, buf);
        return -1;
    }
    if ((*k = PyIter_Next(it)) != NULL) {
        got = 1;
        if ((*v = PyIter_Next(it)) != NULL) got = 2;
    }
    if (PyErr_Occurred()) goto fail;
    if (got == 2) {
        if ((extra = PyIter_Next(it)) == NULL) {
            if (PyErr_Occurred()) goto fail;
            Py_DECREF(it);
            return 0;
        }
        Py_DECREF(extra);
        snprintf(buf, sizeof buf, "put_many: a (key, value) pair must have 2 items, this %.60s has more",
                 Py_TYPE(pair)->tp_name);
    } else {
        snprintf(buf, sizeof buf, "put_many: a (key, value) pair must have 2 items, this %.60s has %d",
                 Py_TYPE(pair)->tp_name, (int)got);
    }
    cairn_py_raise_msg(CAIRN_INVALID, buf);
fail:
    Py_DECREF(it);
    Py_CLEAR(*k);
    Py_CLEAR(*v);
    return -1;
}
%}
%inline %{
/* The batch of put_many (see above): a capsule, or NULL with the exception. */
static PyObject *cairn_py_kv_batch(PyObject *items, PyObject *kind, PyObject *encode, int buffers) {
    cairn_py_kv_batch_t *b;
    PyObject *cap = NULL, *iter = NULL, *k = NULL, *v = NULL, *enc = NULL;
    PyObject *late_t = NULL, *late_v = NULL, *late_tb = NULL; /* the first key/value bytes error */
    Py_ssize_t pos = 0, dict_n = 0;
    int is_dict = PyDict_CheckExact(items), forced = kind != Py_None;
    char buf[160];
    if ((b = (cairn_py_kv_batch_t *)PyMem_Calloc(1, sizeof *b)) == NULL) return PyErr_NoMemory();
    if ((cap = PyCapsule_New(b, cairn_py_kv_batch_name, cairn_py_kv_batch_free)) == NULL) {
        PyMem_Free(b);
        return NULL;
    }
    if (is_dict) {
        dict_n = PyDict_GET_SIZE(items);
    } else if ((iter = PyObject_GetIter(items)) == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            snprintf(buf, sizeof buf, "put_many: items must be a mapping or an iterable of (key, value) pairs, not %.60s",
                     Py_TYPE(items)->tp_name);
            cairn_py_raise_msg(CAIRN_TYPE, buf);
        }
        goto fail;
    }
    for (;;) {
        cairn_py_kv_item *it;
        long kd;
        if (is_dict) {
            PyObject *bk, *bv;
            if (PyDict_GET_SIZE(items) != dict_n) {
                PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
                goto fail;
            }
            if (!PyDict_Next(items, &pos, &bk, &bv)) break;
            Py_INCREF(bk);
            Py_INCREF(bv);
            k = bk;
            v = bv;
        } else {
            PyObject *pair = PyIter_Next(iter);
            int r;
            if (pair == NULL) {
                if (PyErr_Occurred()) goto fail;
                break;
            }
            r = cairn_py_kv_pair(pair, &k, &v);
            Py_DECREF(pair);
            if (r < 0) goto fail;
        }
        if (cairn_py_kv_batch_grow(b) < 0) goto fail;
        it = &b->it[b->n];
        /* the value: classified here, or encoded by the package */
        if (!forced && PyBytes_CheckExact(v)) {
            it->kind = CAIRN_KIND_BYTES;
        } else if (!forced && PyUnicode_CheckExact(v)) {
            it->kind = CAIRN_KIND_TEXT;
        } else if (!forced && buffers && (PyByteArray_Check(v) || PyMemoryView_Check(v))) {
            it->kind = CAIRN_KIND_BYTES;
        } else {
            PyObject *r = PyObject_CallFunctionObjArgs(encode, v, kind, NULL);
            if (r == NULL) goto fail;
            if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 2) {
                Py_DECREF(r);
                PyErr_SetString(PyExc_TypeError, "put_many: the encoder must return (data, kind)");
                goto fail;
            }
            kd = PyLong_AsLong(PyTuple_GET_ITEM(r, 1));
            if (kd == -1 && PyErr_Occurred()) {
                Py_DECREF(r);
                goto fail;
            }
            it->kind = (int)kd;
            enc = PyTuple_GET_ITEM(r, 0);
            Py_INCREF(enc);
            Py_DECREF(r);
            Py_SETREF(v, enc);
            enc = NULL;
        }
        b->refs[2 * b->n] = k;
        b->refs[2 * b->n + 1] = v;
        b->n++;
        k = v = NULL;
        /* the bytes of key and value (after the first failure only the pairs are still walked) */
        if (late_t == NULL) {
            if (cairn_py_kv_batch_bytes(b, b->refs[2 * b->n - 2], "key", &it->k, &it->kl) < 0
                || cairn_py_kv_batch_bytes(b, b->refs[2 * b->n - 1], "value", &it->v, &it->vl) < 0) {
                PyErr_Fetch(&late_t, &late_v, &late_tb);
                if (late_t == NULL) {
                    late_t = PyExc_SystemError;
                    Py_INCREF(late_t);
                }
            }
        }
    }
    Py_XDECREF(iter);
    if (late_t != NULL) {
        PyErr_Restore(late_t, late_v, late_tb);
        Py_DECREF(cap);
        return NULL;
    }
    return cap;
fail:
    Py_XDECREF(k);
    Py_XDECREF(v);
    Py_XDECREF(iter);
    Py_XDECREF(late_t);
    Py_XDECREF(late_v);
    Py_XDECREF(late_tb);
    Py_XDECREF(cap);
    return NULL;
}

/* cairn_kv_put of every item of `batch` (from cairn_py_kv_batch) with the GIL released; raises
 * the first error (the items before it are written: the caller's transaction decides). */
static PyObject *cairn_py_kv_put_batch(cairn_kv *kv, PyObject *batch) {
    cairn_py_kv_batch_t *b = (cairn_py_kv_batch_t *)PyCapsule_GetPointer(batch, cairn_py_kv_batch_name);
    const cairn_py_kv_item *it;
    Py_ssize_t i, n;
    int rc = 0;
    if (b == NULL) return NULL;
    if (b->busy) {
        cairn_py_raise_msg(CAIRN_BUSY, "put_many: this batch is being written by another call");
        return NULL;
    }
    b->busy = 1;
    it = b->it;
    n = b->n;
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n; i++)
        if ((rc = cairn_kv_put(kv, it[i].k, it[i].kl, it[i].v, it[i].vl, it[i].kind)) < 0) break;
    Py_END_ALLOW_THREADS
    b->busy = 0;
    cairn_py_kv_batch_clear(b);
    if (rc < 0) {
        cairn_py_raise(rc);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The values of `keys` (any iterable) as a list: bytes (kind BYTES), str (kind TEXT),
 * decode(data, kind) for any other kind, `missing` when absent. The keys are taken and the values
 * built a chunk at a time; the gets of a chunk run with the GIL released. */
static PyObject *cairn_py_kv_get_many(cairn_kv *kv, PyObject *keys, PyObject *missing, PyObject *decode) {
    enum { CHUNK = 256 };
    struct { const void *k; size_t kl; void *v; size_t vl; int kind, rc; } it[CHUNK];
    PyObject *kobj[CHUNK];
    Py_buffer views[CHUNK];
    char has[CHUNK];
    PyObject *iter = NULL, *out = NULL;
    Py_ssize_t m = 0, i;
    int rc = 0, done = 0;
    if ((iter = PyObject_GetIter(keys)) == NULL) return NULL;
    if ((out = PyList_New(0)) == NULL) goto fail;
    while (!done) {
        /* take the next chunk of keys (the GIL held) */
        for (m = 0; m < CHUNK; m++) {
            PyObject *k = PyIter_Next(iter);
            int r;
            if (k == NULL) {
                if (PyErr_Occurred()) goto fail;
                done = 1;
                break;
            }
            kobj[m] = k;
            it[m].v = NULL;
            has[m] = 0;
            if ((r = cairn_py_bytes_in(k, "key", &it[m].k, &it[m].kl, &views[m])) < 0) {
                m++;
                goto fail;
            }
            has[m] = (char)r;
        }
        if (m == 0) break;
        Py_BEGIN_ALLOW_THREADS
        for (i = 0; i < m; i++) {
            it[i].rc = cairn_kv_get(kv, it[i].k, it[i].kl, &it[i].v, &it[i].vl, &it[i].kind);
            if (it[i].rc < 0 && it[i].rc != CAIRN_NOTFOUND) { rc = it[i].rc; break; }
        }
        Py_END_ALLOW_THREADS
        if (rc < 0) {
            cairn_py_raise(rc);
            goto fail;
        }
        for (i = 0; i < m; i++) {
            PyObject *o;
            int r;
            if (it[i].rc == CAIRN_NOTFOUND) {
                Py_INCREF(missing);
                o = missing;
            } else if (it[i].kind == CAIRN_KIND_BYTES) {
                o = PyBytes_FromStringAndSize((const char *)it[i].v, (Py_ssize_t)it[i].vl);
            } else if (it[i].kind == CAIRN_KIND_TEXT) {
                o = PyUnicode_DecodeUTF8((const char *)it[i].v, (Py_ssize_t)it[i].vl, "surrogateescape");
            } else {
                PyObject *data = PyBytes_FromStringAndSize((const char *)it[i].v, (Py_ssize_t)it[i].vl);
                PyObject *kd = data ? PyLong_FromLong(it[i].kind) : NULL;
                o = kd ? PyObject_CallFunctionObjArgs(decode, data, kd, NULL) : NULL;
                Py_XDECREF(data);
                Py_XDECREF(kd);
            }
            if (o == NULL) goto fail;
            r = PyList_Append(out, o);
            Py_DECREF(o);
            if (r < 0) goto fail;
        }
        for (i = 0; i < m; i++) {
            cairn_free(it[i].v);
            if (has[i]) PyBuffer_Release(&views[i]);
            Py_DECREF(kobj[i]);
        }
        m = 0;
    }
    Py_DECREF(iter);
    return out;
fail:
    for (i = 0; i < m; i++) {
        cairn_free(it[i].v);
        if (has[i]) PyBuffer_Release(&views[i]);
        Py_DECREF(kobj[i]);
    }
    Py_XDECREF(iter);
    Py_XDECREF(out);
    return NULL;
}
%}

/* ---- Python-only: KV's hot methods in C -----------------------------------------------------
 * cairn_py_kv_fast(KV, slot, methods) puts C method descriptors on the class KV in place of its
 * Python __getitem__, __setitem__, get, put and exists (and their aliases `set` and __contains__).
 * Each does the common case
 * itself: a call on a KV object with plain positional arguments, a key of any accepted type, a
 * value of type bytes or str (put) and a stored value of kind BYTES or TEXT (get). Everything else
 * (keywords, ttl/expire_at/kind, other value types, other kinds, an unset handle slot) calls the
 * Python definition it replaced, so behaviour and errors are those of the Python code. What the
 * common case saves per call: the Python frame, the argument tuple of the SWIG wrapper and the
 * (bytes, kind) tuple of the raw get. As in the wrappers, the call registers as in flight on its
 * handle (cairn_py_enter) and releases the GIL around the core call.
 * `slot` is the member descriptor of _Handle's `_h` slot (read at its offset, as Python reads it);
 * `methods` is a tuple of (name, python function, doc with the text signature) in the order
 * __getitem__, __setitem__, get, put, exists. */
%{
enum { CAIRN_PY_KV_GETITEM, CAIRN_PY_KV_SETITEM, CAIRN_PY_KV_GET, CAIRN_PY_KV_PUT, CAIRN_PY_KV_EXISTS,
       CAIRN_PY_KV_NFAST };
static Py_ssize_t cairn_py_kv_hoff = -1;                  /* offset of the _h slot in a KV object */
static PyObject *cairn_py_kv_py[CAIRN_PY_KV_NFAST];      /* the Python definitions: the fallbacks */
static PyObject *cairn_py_kv_doc[CAIRN_PY_KV_NFAST];     /* keeps each ml_doc's text alive */
static PyMethodDef cairn_py_kv_defs[CAIRN_PY_KV_NFAST];

/* The Python definition of method `which`, called with self and the arguments as they came. */
static PyObject *cairn_py_kv_fallback(int which, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                      PyObject *kwnames) {
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0, i;
    PyObject *small[8], **stack = small, *r;
    if (nargs + nkw + 1 > 8 && (stack = PyMem_Malloc(sizeof *stack * (size_t)(nargs + nkw + 1))) == NULL)
        return PyErr_NoMemory();
    stack[0] = self;
    for (i = 0; i < nargs + nkw; i++) stack[i + 1] = args[i];
#if PY_VERSION_HEX >= 0x03090000
    r = PyObject_Vectorcall(cairn_py_kv_py[which], stack, (size_t)(nargs + 1), kwnames);
#else
    r = _PyObject_Vectorcall(cairn_py_kv_py[which], stack, (size_t)(nargs + 1), kwnames);
#endif
    if (stack != small) PyMem_Free(stack);
    return r;
}

/* The handle of KV object `self`, registered as in flight: 1 and *kv set; 0 when the slot is
 * unset (the caller falls back to the Python code, which raises what it raises); -1 with the
 * exception the Python code and the SWIG wrapper raise (a closed KV, a foreign handle). */
static int cairn_py_kv_enter(PyObject *self, cairn_kv **kv) {
    PyObject *h = *(PyObject **)((char *)self + cairn_py_kv_hoff);
    void *p = NULL;
    if (h == NULL) return 0;
    if (h == Py_None) {
        cairn_py_raise_msg(CAIRN_CLOSED, "KV handle is closed");
        return -1;
    }
    if (!SWIG_IsOK(SWIG_ConvertPtr(h, &p, SWIGTYPE_p_cairn_kv, 0))) {
        cairn_py_raise_msg(CAIRN_TYPE, "expected a Cairn handle of the right type");
        return -1;
    }
    if (p == NULL) {
        cairn_py_raise_msg(CAIRN_CLOSED, "handle is closed");
        return -1;
    }
    if (cairn_py_enter(p) < 0) return -1;
    *kv = (cairn_kv *)p;
    return 1;
}

/* put of a bytes (kind BYTES) or str (kind TEXT) value, as cairn_kv_put's wrapper. */
static PyObject *cairn_py_kv_put_common(int which, PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *value = args[1];
    cairn_kv *kv = NULL;
    const void *kp = NULL, *vp = NULL;
    size_t kl = 0, vl = 0;
    Py_buffer kview;
    int kind, hk, rc;
    if (PyBytes_CheckExact(value)) kind = CAIRN_KIND_BYTES;
    else if (PyUnicode_CheckExact(value)) kind = CAIRN_KIND_TEXT;
    else return cairn_py_kv_fallback(which, self, args, nargs, NULL);
    if ((rc = cairn_py_kv_enter(self, &kv)) <= 0)
        return rc == 0 ? cairn_py_kv_fallback(which, self, args, nargs, NULL) : NULL;
    if ((hk = cairn_py_bytes_in(args[0], "key", &kp, &kl, &kview)) < 0) {
        cairn_py_leave(kv);
        return NULL;
    }
    /* an exact bytes or str: borrowed, never a buffer view */
    if (cairn_py_bytes_in(value, "value", &vp, &vl, NULL) < 0) {
        cairn_py_leave(kv);
        if (hk) PyBuffer_Release(&kview);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = cairn_kv_put(kv, kp, kl, vp, vl, kind);
    Py_END_ALLOW_THREADS
    cairn_py_leave(kv);
    if (hk) PyBuffer_Release(&kview);
    if (rc < 0) {
        cairn_py_raise(rc);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* get: the value of a BYTES (bytes) or TEXT (str) record; `dflt` when missing, or NotFoundError(key)
 * when dflt is NULL; another kind goes through self._decode(data, kind). */
static PyObject *cairn_py_kv_get_common(int which, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                        PyObject *dflt) {
    cairn_kv *kv = NULL;
    const void *kp = NULL;
    size_t kl = 0, vl = 0;
    void *v = NULL;
    Py_buffer kview;
    int kind = 0, hk, rc;
    PyObject *r;
    if ((rc = cairn_py_kv_enter(self, &kv)) <= 0)
        return rc == 0 ? cairn_py_kv_fallback(which, self, args, nargs, NULL) : NULL;
    if ((hk = cairn_py_bytes_in(args[0], "key", &kp, &kl, &kview)) < 0) {
        cairn_py_leave(kv);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = cairn_kv_get(kv, kp, kl, &v, &vl, &kind);
    Py_END_ALLOW_THREADS
    cairn_py_leave(kv);
    if (hk) PyBuffer_Release(&kview);
    if (rc < 0) {
        if (rc != CAIRN_NOTFOUND && rc != CAIRN_ITEROVER) {
            cairn_py_raise(rc);
            return NULL;
        }
        if (dflt != NULL) {
            Py_INCREF(dflt);
            return dflt;
        }
        /* raise NotFoundError(key), as the Python __getitem__ does */
        PyObject *cls = NULL, *code = PyLong_FromLong(CAIRN_NOTFOUND), *exc;
        if (code != NULL && cairn_py_errors != NULL) cls = PyDict_GetItemWithError(cairn_py_errors, code);
        Py_XDECREF(code);
        if (cls == NULL) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, args[0]);
            return NULL;
        }
        if ((exc = PyObject_CallFunctionObjArgs(cls, args[0], NULL)) != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
        return NULL;
    }
    if (kind == CAIRN_KIND_BYTES) {
        r = PyBytes_FromStringAndSize((const char *)v, (Py_ssize_t)vl);
    } else if (kind == CAIRN_KIND_TEXT) {
        r = PyUnicode_DecodeUTF8((const char *)v, (Py_ssize_t)vl, "surrogateescape");
    } else {
        PyObject *data = PyBytes_FromStringAndSize((const char *)v, (Py_ssize_t)vl);
        PyObject *k = data ? PyLong_FromLong(kind) : NULL;
        r = k ? PyObject_CallMethod(self, "_decode", "OO", data, k) : NULL;
        Py_XDECREF(data);
        Py_XDECREF(k);
    }
    cairn_free(v);
    return r;
}

static PyObject *cairn_py_kv_m_getitem(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (nargs != 1 || kwnames != NULL) return cairn_py_kv_fallback(CAIRN_PY_KV_GETITEM, self, args, nargs, kwnames);
    return cairn_py_kv_get_common(CAIRN_PY_KV_GETITEM, self, args, nargs, NULL);
}

static PyObject *cairn_py_kv_m_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (nargs < 1 || nargs > 2 || kwnames != NULL) return cairn_py_kv_fallback(CAIRN_PY_KV_GET, self, args, nargs, kwnames);
    return cairn_py_kv_get_common(CAIRN_PY_KV_GET, self, args, nargs, nargs == 2 ? args[1] : Py_None);
}

static PyObject *cairn_py_kv_m_setitem(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (nargs != 2 || kwnames != NULL) return cairn_py_kv_fallback(CAIRN_PY_KV_SETITEM, self, args, nargs, kwnames);
    return cairn_py_kv_put_common(CAIRN_PY_KV_SETITEM, self, args, nargs);
}

static PyObject *cairn_py_kv_m_put(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (nargs != 2 || kwnames != NULL) return cairn_py_kv_fallback(CAIRN_PY_KV_PUT, self, args, nargs, kwnames);
    return cairn_py_kv_put_common(CAIRN_PY_KV_PUT, self, args, nargs);
}

static PyObject *cairn_py_kv_m_exists(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    cairn_kv *kv = NULL;
    const void *kp = NULL;
    size_t kl = 0;
    Py_buffer kview;
    int hk, rc;
    if (nargs != 1 || kwnames != NULL) return cairn_py_kv_fallback(CAIRN_PY_KV_EXISTS, self, args, nargs, kwnames);
    if ((rc = cairn_py_kv_enter(self, &kv)) <= 0)
        return rc == 0 ? cairn_py_kv_fallback(CAIRN_PY_KV_EXISTS, self, args, nargs, NULL) : NULL;
    if ((hk = cairn_py_bytes_in(args[0], "key", &kp, &kl, &kview)) < 0) {
        cairn_py_leave(kv);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = cairn_kv_exists(kv, kp, kl);
    Py_END_ALLOW_THREADS
    cairn_py_leave(kv);
    if (hk) PyBuffer_Release(&kview);
    if (rc < 0) {
        cairn_py_raise(rc);
        return NULL;
    }
    return PyBool_FromLong(rc);
}
%}

%nothread cairn_py_kv_fast;
%typemap(out) PyObject *cairn_py_kv_fast "$result = $1;"
%inline %{
/* Install the C methods on `cls` (see above); returns None. Called once, at import. */
static PyObject *cairn_py_kv_fast(PyObject *cls, PyObject *slot, PyObject *methods) {
    static PyCFunctionWithKeywords const fns[CAIRN_PY_KV_NFAST] = {
        (PyCFunctionWithKeywords)(void (*)(void))cairn_py_kv_m_getitem,
        (PyCFunctionWithKeywords)(void (*)(void))cairn_py_kv_m_setitem,
        (PyCFunctionWithKeywords)(void (*)(void))cairn_py_kv_m_get,
        (PyCFunctionWithKeywords)(void (*)(void))cairn_py_kv_m_put,
        (PyCFunctionWithKeywords)(void (*)(void))cairn_py_kv_m_exists,
    };
    PyObject *descrs[CAIRN_PY_KV_NFAST] = {NULL};
    int i;
    if (!PyType_Check(cls) || Py_TYPE(slot) != &PyMemberDescr_Type || !PyTuple_Check(methods)
        || PyTuple_GET_SIZE(methods) != CAIRN_PY_KV_NFAST) {
        PyErr_SetString(PyExc_TypeError, "cairn_py_kv_fast(cls, slot member descriptor, 5 (name, fn, doc))");
        return NULL;
    }
    if (((PyMemberDescrObject *)slot)->d_member->type != T_OBJECT_EX) {
        PyErr_SetString(PyExc_TypeError, "cairn_py_kv_fast: the handle slot is not an object slot");
        return NULL;
    }
    cairn_py_kv_hoff = ((PyMemberDescrObject *)slot)->d_member->offset;
    for (i = 0; i < CAIRN_PY_KV_NFAST; i++) {
        PyObject *m = PyTuple_GET_ITEM(methods, i), *name, *fn, *doc;
        const char *n, *d;
        if (!PyArg_ParseTuple(m, "UOU", &name, &fn, &doc)) goto fail;
        if ((n = PyUnicode_AsUTF8(name)) == NULL || (d = PyUnicode_AsUTF8(doc)) == NULL) goto fail;
        /* the names are the class's own attributes, interned for the life of the process */
        Py_INCREF(name);
        PyUnicode_InternInPlace(&name);
        Py_INCREF(fn);
        Py_XSETREF(cairn_py_kv_py[i], fn);
        Py_INCREF(doc);
        Py_XSETREF(cairn_py_kv_doc[i], doc);
        cairn_py_kv_defs[i].ml_name = PyUnicode_AsUTF8(name);
        cairn_py_kv_defs[i].ml_meth = (PyCFunction)(void (*)(void))fns[i];
        cairn_py_kv_defs[i].ml_flags = METH_FASTCALL | METH_KEYWORDS;
        cairn_py_kv_defs[i].ml_doc = d;
        if ((descrs[i] = PyDescr_NewMethod((PyTypeObject *)cls, &cairn_py_kv_defs[i])) == NULL) goto fail;
    }
    for (i = 0; i < CAIRN_PY_KV_NFAST; i++)
        if (PyObject_SetAttrString(cls, cairn_py_kv_defs[i].ml_name, descrs[i]) < 0) goto fail;
    if (PyObject_SetAttrString(cls, "set", descrs[CAIRN_PY_KV_PUT]) < 0
        || PyObject_SetAttrString(cls, "__contains__", descrs[CAIRN_PY_KV_EXISTS]) < 0)
        goto fail;
    for (i = 0; i < CAIRN_PY_KV_NFAST; i++) Py_DECREF(descrs[i]);
    Py_RETURN_NONE;
fail:
    for (i = 0; i < CAIRN_PY_KV_NFAST; i++) Py_XDECREF(descrs[i]);
    return NULL;
}
%}

/* ---- Python-only table fast paths: a dict row <-> the typed cairn_value row ------------------
 * The package builds JSON rows (cairn_table_*_json) as the reference path; these helpers skip
 * JSON for the common rows. `codec` describes the schema: (names: tuple of str in column order,
 * types: bytes of cairn_type, flags: bytes (1: the column has a default or is NOT NULL, so a
 * missing or None value is left to the JSON path), fixed: tuple of int (N of bytes:N, else 0)).
 * Insert answers None (nothing done) for any row it does not convert exactly: a key that is not a
 * column, a value of another Python type than the column's usual one, an int out of the column's
 * range, a datetime with a tzinfo other than UTC; the package then takes the JSON path, which
 * gives the core's answer (and error) for it. The values are referenced during the call, which
 * runs with the GIL released. */
%{
#define CAIRN_PY_STACK_COLS 32
#define CAIRN_PY_US_PER_DAY INT64_C(86400000000)

static int64_t cairn_py_days_from_civil(int64_t y, int m, int d) {
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* A timestamp (us since the epoch, UTC) as an aware datetime, or the int itself outside years
 * 1..9999 (as the package's _ts_out). */
static PyObject *cairn_py_ts_out(int64_t us) {
    int64_t days = us / CAIRN_PY_US_PER_DAY, rem = us % CAIRN_PY_US_PER_DAY;
    int64_t z, era, doe, yoe, y, doy, mp, d, m;
    if (rem < 0) { rem += CAIRN_PY_US_PER_DAY; days--; }
    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    if (y < 1 || y > 9999) return PyLong_FromLongLong((long long)us);
    return PyDateTimeAPI->DateTime_FromDateAndTime((int)y, (int)m, (int)d, (int)(rem / INT64_C(3600000000)),
        (int)(rem / 60000000 % 60), (int)(rem / 1000000 % 60), (int)(rem % 1000000),
        PyDateTime_TimeZone_UTC, PyDateTimeAPI->DateTimeType);
}

typedef struct {
    PyObject *names;           /* tuple of str */
    const unsigned char *types, *flags;
    PyObject *fixed;           /* tuple of int */
    Py_ssize_t n;
} cairn_py_codec;

static int cairn_py_codec_parse(PyObject *codec, cairn_py_codec *c) {
    PyObject *types, *flags;
    if (!PyTuple_Check(codec) || PyTuple_GET_SIZE(codec) != 4) goto bad;
    c->names = PyTuple_GET_ITEM(codec, 0);
    types = PyTuple_GET_ITEM(codec, 1);
    flags = PyTuple_GET_ITEM(codec, 2);
    c->fixed = PyTuple_GET_ITEM(codec, 3);
    if (!PyTuple_Check(c->names) || !PyBytes_Check(types) || !PyBytes_Check(flags) || !PyTuple_Check(c->fixed))
        goto bad;
    c->n = PyTuple_GET_SIZE(c->names);
    if (PyBytes_GET_SIZE(types) != c->n || PyBytes_GET_SIZE(flags) != c->n || PyTuple_GET_SIZE(c->fixed) != c->n)
        goto bad;
    c->types = (const unsigned char *)PyBytes_AS_STRING(types);
    c->flags = (const unsigned char *)PyBytes_AS_STRING(flags);
    return 0;
bad:
    PyErr_SetString(PyExc_TypeError, "bad table codec");
    return -1;
}

/* One value -> *v; 1 converted, 0 not (the JSON path decides), -1 error. */
static int cairn_py_value_in(PyObject *o, int type, Py_ssize_t fixed, cairn_value *v) {
    v->is_null = 0;
    switch (type) {
    case CAIRN_TYPE_I8: case CAIRN_TYPE_I16: case CAIRN_TYPE_I32: case CAIRN_TYPE_I64:
    case CAIRN_TYPE_U8: case CAIRN_TYPE_U16: case CAIRN_TYPE_U32: case CAIRN_TYPE_U64: {
        int ovf = 0;
        long long x;
        if (!PyLong_Check(o) || PyBool_Check(o)) return 0;
        x = PyLong_AsLongLongAndOverflow(o, &ovf);
        if (x == -1 && PyErr_Occurred()) return -1;
        if (type == CAIRN_TYPE_U64) {
            unsigned long long u;
            if (ovf < 0 || (ovf == 0 && x < 0)) return 0;
            if (ovf == 0) { v->v.u = (uint64_t)x; return 1; }
            u = PyLong_AsUnsignedLongLong(o);
            if (u == (unsigned long long)-1 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
            v->v.u = (uint64_t)u;
            return 1;
        }
        if (ovf) return 0;
        switch (type) {
        case CAIRN_TYPE_I8: if (x < -128 || x > 127) return 0; break;
        case CAIRN_TYPE_I16: if (x < -32768 || x > 32767) return 0; break;
        case CAIRN_TYPE_I32: if (x < INT32_MIN || x > INT32_MAX) return 0; break;
        case CAIRN_TYPE_U8: if (x < 0 || x > 255) return 0; break;
        case CAIRN_TYPE_U16: if (x < 0 || x > 65535) return 0; break;
        case CAIRN_TYPE_U32: if (x < 0 || x > (long long)UINT32_MAX) return 0; break;
        default: break;
        }
        if (type >= CAIRN_TYPE_U8) v->v.u = (uint64_t)x;
        else v->v.i = (int64_t)x;
        return 1;
    }
    case CAIRN_TYPE_F32: case CAIRN_TYPE_F64:
        if (!PyFloat_Check(o)) return 0;
        v->v.f = PyFloat_AS_DOUBLE(o);
        return 1;
    case CAIRN_TYPE_BOOL:
        if (!PyBool_Check(o)) return 0;
        v->v.b = o == Py_True;
        return 1;
    case CAIRN_TYPE_STRING: {
        Py_ssize_t len = 0;
        const char *p;
        if (!PyUnicode_Check(o)) return 0;
        p = PyUnicode_AsUTF8AndSize(o, &len);
        if (p == NULL) { PyErr_Clear(); return 0; }
        v->v.s.bytes = p;
        v->v.s.len = (size_t)len;
        return 1;
    }
    case CAIRN_TYPE_BYTES: case CAIRN_TYPE_FIXED:
        if (!PyBytes_Check(o)) return 0;
        if (type == CAIRN_TYPE_FIXED && PyBytes_GET_SIZE(o) != fixed) return 0;
        v->v.s.bytes = PyBytes_AS_STRING(o);
        v->v.s.len = (size_t)PyBytes_GET_SIZE(o);
        return 1;
    case CAIRN_TYPE_TIMESTAMP: {
        PyObject *tz;
        int64_t days;
        if (!PyDateTime_Check(o)) return 0;
        tz = PyDateTime_DATE_GET_TZINFO(o);
        if (tz != Py_None && tz != PyDateTime_TimeZone_UTC) return 0;
        days = cairn_py_days_from_civil(PyDateTime_GET_YEAR(o), PyDateTime_GET_MONTH(o), PyDateTime_GET_DAY(o));
        v->v.i = days * CAIRN_PY_US_PER_DAY + (int64_t)PyDateTime_DATE_GET_HOUR(o) * INT64_C(3600000000)
               + (int64_t)PyDateTime_DATE_GET_MINUTE(o) * 60000000 + (int64_t)PyDateTime_DATE_GET_SECOND(o) * 1000000
               + PyDateTime_DATE_GET_MICROSECOND(o);
        return 1;
    }
    default:
        return 0;
    }
}

/* An f32 value as the double of the decimal form the core's JSON rows give it (the shortest of
 * 6..9 significant digits that reads back as the same float: 0.1f -> 0.1), so that a row reads the
 * same through every path of the package. */
static double cairn_py_f32_out(double d) {
    char buf[32];
    int p;
    float f = (float)d;
    if (d != d || d == HUGE_VAL || d == -HUGE_VAL) return d;
    for (p = 6; p <= 9; p++) {
        double r;
        snprintf(buf, sizeof buf, "%.*g", p, d);
        r = strtod(buf, NULL);
        if ((float)r == f) return r;
    }
    return d;
}

static PyObject *cairn_py_value_out(const cairn_value *v, int type) {
    if (v->is_null) Py_RETURN_NONE;
    switch (type) {
    case CAIRN_TYPE_I8: case CAIRN_TYPE_I16: case CAIRN_TYPE_I32: case CAIRN_TYPE_I64:
        return PyLong_FromLongLong((long long)v->v.i);
    case CAIRN_TYPE_U8: case CAIRN_TYPE_U16: case CAIRN_TYPE_U32: case CAIRN_TYPE_U64:
        return PyLong_FromUnsignedLongLong((unsigned long long)v->v.u);
    case CAIRN_TYPE_F32:
        return PyFloat_FromDouble(cairn_py_f32_out(v->v.f));
    case CAIRN_TYPE_F64:
        return PyFloat_FromDouble(v->v.f);
    case CAIRN_TYPE_BOOL:
        return PyBool_FromLong(v->v.b);
    case CAIRN_TYPE_STRING:
        return PyUnicode_DecodeUTF8((const char *)v->v.s.bytes, (Py_ssize_t)v->v.s.len, "surrogateescape");
    case CAIRN_TYPE_BYTES: case CAIRN_TYPE_FIXED:
        return PyBytes_FromStringAndSize((const char *)v->v.s.bytes, (Py_ssize_t)v->v.s.len);
    case CAIRN_TYPE_TIMESTAMP:
        return cairn_py_ts_out(v->v.i);
    default:
        PyErr_SetString(PyExc_RuntimeError, "unknown column type");
        return NULL;
    }
}

static PyObject *cairn_py_row_out(const cairn_py_codec *c, const cairn_value *vals) {
    Py_ssize_t i;
    PyObject *d = _PyDict_NewPresized(c->n);
    if (d == NULL) return NULL;
    for (i = 0; i < c->n; i++) {
        PyObject *x = cairn_py_value_out(&vals[i], c->types[i]);
        if (x == NULL || PyDict_SetItem(d, PyTuple_GET_ITEM(c->names, i), x) < 0) {
            Py_XDECREF(x);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(x);
    }
    return d;
}
%}

%nothread cairn_py_table_insert;
%nothread cairn_py_table_get;
%nothread cairn_py_table_iter_batch;
%nothread cairn_py_table_load_buffers;
%nothread cairn_py_table_update;
%typemap(out) PyObject *cairn_py_table_update "$result = $1;"
%typemap(out) PyObject *cairn_py_table_insert "$result = $1;"
%typemap(out) PyObject *cairn_py_table_get "$result = $1;"
%typemap(out) PyObject *cairn_py_table_iter_batch "$result = $1;"
%typemap(out) PyObject *cairn_py_table_load_buffers "$result = $1;"
%inline %{
/* Insert dict `row`: its id, or None when the row is for the JSON path (see above). */
static PyObject *cairn_py_table_insert(cairn_table *t, PyObject *row, PyObject *codec) {
    cairn_value stack[CAIRN_PY_STACK_COLS], *vals = stack;
    PyObject *held[CAIRN_PY_STACK_COLS], **refs = held;
    cairn_py_codec c;
    Py_ssize_t i, found = 0, nheld = 0;
    PyObject *ret = NULL;
    uint64_t id = 0;
    int rc;
    if (cairn_py_codec_parse(codec, &c) < 0) return NULL;
    if (!PyDict_Check(row)) Py_RETURN_NONE;
    if (c.n > CAIRN_PY_STACK_COLS) {
        vals = PyMem_Malloc(sizeof *vals * (size_t)c.n);
        refs = PyMem_Malloc(sizeof *refs * (size_t)c.n);
        if (vals == NULL || refs == NULL) { PyErr_NoMemory(); goto done; }
    }
    for (i = 0; i < c.n; i++) {
        PyObject *o = PyDict_GetItemWithError(row, PyTuple_GET_ITEM(c.names, i)); /* borrowed */
        if (o == NULL && PyErr_Occurred()) goto done;
        if (o == NULL || o == Py_None) {
            if (c.flags[i]) { Py_INCREF(Py_None); ret = Py_None; goto done; }
            found += o != NULL;
            vals[i].is_null = 1;
            continue;
        }
        found++;
        rc = cairn_py_value_in(o, c.types[i], PyLong_AsSsize_t(PyTuple_GET_ITEM(c.fixed, i)), &vals[i]);
        if (rc < 0) goto done;
        if (rc == 0) { Py_INCREF(Py_None); ret = Py_None; goto done; }
        Py_INCREF(o);
        refs[nheld++] = o;
    }
    if (found != PyDict_GET_SIZE(row)) { Py_INCREF(Py_None); ret = Py_None; goto done; } /* other keys */
    Py_BEGIN_ALLOW_THREADS
    rc = cairn_table_insert(t, vals, (size_t)c.n, &id);
    Py_END_ALLOW_THREADS
    if (rc < 0) { cairn_py_raise(rc); goto done; }
    ret = PyLong_FromUnsignedLongLong((unsigned long long)id);
done:
    for (i = 0; i < nheld; i++) Py_DECREF(refs[i]);
    if (vals != stack) PyMem_Free(vals);
    if (refs != held) PyMem_Free(refs);
    return ret;
}

/* Set the columns of dict `changes` in row `id`: True, or None when the changes are for the JSON
 * path (as insert: an unknown column, an unusual value, None for a column with a default or NOT
 * NULL, no change at all). */
static PyObject *cairn_py_table_update(cairn_table *t, uint64_t id, PyObject *changes, PyObject *codec) {
    cairn_value stack[CAIRN_PY_STACK_COLS], *vals = stack;
    size_t istack[CAIRN_PY_STACK_COLS], *cols = istack;
    PyObject *held[CAIRN_PY_STACK_COLS], **refs = held;
    cairn_py_codec c;
    Py_ssize_t pos = 0, k = 0, nheld = 0, i, n;
    PyObject *key, *o, *ret = NULL;
    int rc;
    if (cairn_py_codec_parse(codec, &c) < 0) return NULL;
    if (!PyDict_Check(changes) || (n = PyDict_GET_SIZE(changes)) == 0) Py_RETURN_NONE;
    if (n > CAIRN_PY_STACK_COLS) {
        vals = PyMem_Malloc(sizeof *vals * (size_t)n);
        cols = PyMem_Malloc(sizeof *cols * (size_t)n);
        refs = PyMem_Malloc(sizeof *refs * (size_t)n);
        if (vals == NULL || cols == NULL || refs == NULL) { PyErr_NoMemory(); goto done; }
    }
    while (PyDict_Next(changes, &pos, &key, &o)) {
        Py_ssize_t col = -1;
        if (!PyUnicode_Check(key)) goto fallback;
        for (i = 0; i < c.n && col < 0; i++) {
            PyObject *name = PyTuple_GET_ITEM(c.names, i);
            if (name == key) col = i;
            else {
                int eq = PyUnicode_Compare(name, key);
                if (eq == -1 && PyErr_Occurred()) goto done;
                if (eq == 0) col = i;
            }
        }
        if (col < 0) goto fallback;
        cols[k] = (size_t)col;
        if (o == Py_None) {
            if (c.flags[col]) goto fallback;
            vals[k++].is_null = 1;
            continue;
        }
        rc = cairn_py_value_in(o, c.types[col], PyLong_AsSsize_t(PyTuple_GET_ITEM(c.fixed, col)), &vals[k]);
        if (rc < 0) goto done;
        if (rc == 0) goto fallback;
        k++;
        Py_INCREF(o);
        refs[nheld++] = o;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = cairn_table_update(t, id, cols, vals, (size_t)k);
    Py_END_ALLOW_THREADS
    if (rc < 0) { cairn_py_raise(rc); goto done; }
    Py_INCREF(Py_True);
    ret = Py_True;
    goto done;
fallback:
    Py_INCREF(Py_None);
    ret = Py_None;
done:
    for (i = 0; i < nheld; i++) Py_DECREF(refs[i]);
    if (vals != stack) PyMem_Free(vals);
    if (cols != istack) PyMem_Free(cols);
    if (refs != held) PyMem_Free(refs);
    return ret;
}

/* Row `id` as a dict, or `missing` when there is none. */
static PyObject *cairn_py_table_get(cairn_table *t, uint64_t id, PyObject *codec, PyObject *missing) {
    cairn_value *vals = NULL;
    cairn_py_codec c;
    PyObject *d;
    int rc;
    if (cairn_py_codec_parse(codec, &c) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = cairn_table_get(t, id, &vals);
    Py_END_ALLOW_THREADS
    if (rc == CAIRN_NOTFOUND) { Py_INCREF(missing); return missing; }
    if (rc < 0) { cairn_py_raise(rc); return NULL; }
    d = cairn_py_row_out(&c, vals);
    cairn_free(vals);
    return d;
}

/* Up to `max` more (id, row) of cursor `it` of table `t` as a list (empty at the end). The table
 * is an argument so that the call counts as one on it (a close waits for it; a closed table
 * raises CAIRN_CLOSED before the cursor is touched). */
static PyObject *cairn_py_table_iter_batch(cairn_table *t, cairn_table_iter *it, PyObject *codec, int max) {
    cairn_py_codec c;
    PyObject *out;
    int rc = 0;
    if (cairn_py_codec_parse(codec, &c) < 0) return NULL;
    if ((out = PyList_New(0)) == NULL) return NULL;
    while (PyList_GET_SIZE(out) < max) {
        uint64_t id = 0;
        const cairn_value *vals = NULL;
        PyObject *d, *pair;
        Py_BEGIN_ALLOW_THREADS
        rc = cairn_table_iter_next(it, &id, &vals);
        Py_END_ALLOW_THREADS
        if (rc == CAIRN_ITEROVER) break;
        if (rc < 0) { cairn_py_raise(rc); Py_DECREF(out); return NULL; }
        if ((d = cairn_py_row_out(&c, vals)) == NULL) { Py_DECREF(out); return NULL; }
        pair = Py_BuildValue("(KN)", (unsigned long long)id, d);
        if (pair == NULL || PyList_Append(out, pair) < 0) { Py_XDECREF(pair); Py_DECREF(out); return NULL; }
        Py_DECREF(pair);
    }
    return out;
}

/* The buffer format of a column's C type for cairn_table_load_columns ('q' for a timestamp: int64
 * microseconds), or 0 for a column that is not loaded from a buffer (string, bytes, bytes:N). */
static char cairn_py_col_format(int type, Py_ssize_t *itemsize) {
    switch (type) {
    case CAIRN_TYPE_I8: *itemsize = 1; return 'b';
    case CAIRN_TYPE_I16: *itemsize = 2; return 'h';
    case CAIRN_TYPE_I32: *itemsize = 4; return 'i';
    case CAIRN_TYPE_I64: case CAIRN_TYPE_TIMESTAMP: *itemsize = 8; return 'q';
    case CAIRN_TYPE_U8: *itemsize = 1; return 'B';
    case CAIRN_TYPE_U16: *itemsize = 2; return 'H';
    case CAIRN_TYPE_U32: *itemsize = 4; return 'I';
    case CAIRN_TYPE_U64: *itemsize = 8; return 'Q';
    case CAIRN_TYPE_F32: *itemsize = 4; return 'f';
    case CAIRN_TYPE_F64: *itemsize = 8; return 'd';
    case CAIRN_TYPE_BOOL: *itemsize = 1; return '?';
    default: return 0;
    }
}

/* Does buffer format `f` (struct module syntax, native byte order) hold values of `want`? */
static int cairn_py_format_is(const char *f, char want, Py_ssize_t itemsize, Py_ssize_t got_size) {
    char c;
    if (f == NULL) f = "B";
    if (*f == '@' || *f == '=' || (*f == '<' && PY_LITTLE_ENDIAN) || (*f == '>' && PY_BIG_ENDIAN)) f++;
    if (f[0] == '\0' || f[1] != '\0' || got_size != itemsize) return 0;
    c = f[0];
    if (c == want) return 1;
    /* the same C type under another letter: long / long long, and their unsigned forms */
    if (itemsize == 8 && want == 'q') return c == 'l' || c == 'n';
    if (itemsize == 8 && want == 'Q') return c == 'L' || c == 'N';
    if (itemsize == 4 && want == 'i') return c == 'l';
    if (itemsize == 4 && want == 'I') return c == 'L';
    return 0;
}

/* load() from buffers: `columns` maps column names to one-dimensional C-contiguous buffers of
 * the column's C type (array.array, NumPy arrays, memoryviews: format 'q' for i64 and timestamp
 * microseconds, 'd' for f64, '?' for bool, ...), every one of the same length; the columns left out
 * take their default. Loaded in one cairn_table_load_columns call, zero-copy, the GIL released.
 * Returns (first id, n), or None when any value is not such a buffer (a list, another format, a
 * string or bytes column, an unknown column): the package then takes the JSON path. */
static PyObject *cairn_py_table_load_buffers(cairn_table *t, PyObject *codec, PyObject *columns) {
    cairn_py_codec c;
    Py_buffer *views = NULL;
    const void **data = NULL;
    Py_ssize_t i, n = -1, found = 0;
    PyObject *ret = NULL;
    uint64_t first = 0;
    int rc;
    if (cairn_py_codec_parse(codec, &c) < 0) return NULL;
    if (!PyDict_Check(columns)) Py_RETURN_NONE;
    views = PyMem_Calloc((size_t)(c.n ? c.n : 1), sizeof *views);
    data = PyMem_Calloc((size_t)(c.n ? c.n : 1), sizeof *data);
    if (views == NULL || data == NULL) { PyErr_NoMemory(); goto done; }
    for (i = 0; i < c.n; i++) {
        Py_ssize_t itemsize = 0;
        char want;
        PyObject *o = PyDict_GetItemWithError(columns, PyTuple_GET_ITEM(c.names, i));
        if (o == NULL) {
            if (PyErr_Occurred()) goto done;
            continue; /* its default */
        }
        found++;
        want = cairn_py_col_format(c.types[i], &itemsize);
        if (want == 0 || !PyObject_CheckBuffer(o) || PyBytes_Check(o) || PyByteArray_Check(o)) goto fallback;
        if (PyObject_GetBuffer(o, &views[i], PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
            PyErr_Clear();
            goto fallback;
        }
        data[i] = views[i].buf;
        if (views[i].ndim != 1 || !cairn_py_format_is(views[i].format, want, itemsize, views[i].itemsize)
            || (n >= 0 && views[i].shape[0] != n))
            goto fallback;
        n = views[i].shape[0];
    }
    if (found != PyDict_GET_SIZE(columns) || n < 0) goto fallback; /* unknown columns, or none */
    Py_BEGIN_ALLOW_THREADS
    rc = cairn_table_load_columns(t, (size_t)n, data, NULL, NULL, &first);
    Py_END_ALLOW_THREADS
    if (rc < 0) { cairn_py_raise(rc); goto done; }
    ret = Py_BuildValue("(Kn)", (unsigned long long)first, n);
    goto done;
fallback:
    Py_INCREF(Py_None);
    ret = Py_None;
done:
    if (views != NULL)
        for (i = 0; i < c.n; i++)
            if (views[i].obj != NULL) PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(data);
    return ret;
}
%}

/* ---- the versioned store: batch put and the cursor (cairn_repo_put_many and cairn_repo_iter_next
 * are not wrapped by core/cairn.i) ----------------------------------------------------------- */
%nothread cairn_py_repo_put_many;
%nothread cairn_py_repo_iter_batch;
%typemap(out) PyObject *cairn_py_repo_put_many "$result = $1;"
%typemap(out) PyObject *cairn_py_repo_iter_batch "$result = $1;"
%inline %{
/* One new version of collection `entry` with keys[i] -> vals[i] of kinds[i] (sequences of the
 * same length; keys and values bytes-like or str). Returns the version's digest (str). */
static PyObject *cairn_py_repo_put_many(cairn_repo *r, const char *tenant, const char *user, const char *entry,
                                        PyObject *keys, PyObject *vals, PyObject *kinds) {
    PyObject *lk = NULL, *lv = NULL, *lkind = NULL, *ret = NULL;
    const void **kp = NULL, **vp = NULL;
    size_t *kl = NULL, *vl = NULL;
    int *kd = NULL;
    Py_buffer *views = NULL;
    char *has = NULL;
    char digest[CAIRN_DIGEST_HEX + 1];
    Py_ssize_t n = 0, i;
    int rc;
    if ((lk = PySequence_List(keys)) == NULL || (lv = PySequence_List(vals)) == NULL
        || (lkind = PySequence_List(kinds)) == NULL)
        goto done;
    n = PyList_GET_SIZE(lk);
    if (PyList_GET_SIZE(lv) != n || PyList_GET_SIZE(lkind) != n) {
        cairn_py_raise_msg(CAIRN_INVALID, "put_many: keys, values and kinds differ in length");
        goto done;
    }
    kp = PyMem_Malloc(sizeof *kp * (size_t)(n ? n : 1));
    vp = PyMem_Malloc(sizeof *vp * (size_t)(n ? n : 1));
    kl = PyMem_Malloc(sizeof *kl * (size_t)(n ? n : 1));
    vl = PyMem_Malloc(sizeof *vl * (size_t)(n ? n : 1));
    kd = PyMem_Malloc(sizeof *kd * (size_t)(n ? n : 1));
    views = PyMem_Malloc(sizeof *views * (size_t)(n > 0 ? 2 * n : 1));
    has = PyMem_Calloc((size_t)(n > 0 ? 2 * n : 1), 1);
    if (!kp || !vp || !kl || !vl || !kd || !views || !has) { PyErr_NoMemory(); goto done; }
    for (i = 0; i < n; i++) {
        long k;
        int h = cairn_py_bytes_in(PyList_GET_ITEM(lk, i), "key", &kp[i], &kl[i], &views[2 * i]);
        if (h < 0) goto done;
        has[2 * i] = (char)h;
        h = cairn_py_bytes_in(PyList_GET_ITEM(lv, i), "value", &vp[i], &vl[i], &views[2 * i + 1]);
        if (h < 0) goto done;
        has[2 * i + 1] = (char)h;
        k = PyLong_AsLong(PyList_GET_ITEM(lkind, i));
        if (k == -1 && PyErr_Occurred()) goto done;
        kd[i] = (int)k;
    }
    digest[0] = '\0';
    Py_BEGIN_ALLOW_THREADS
    rc = cairn_repo_put_many(r, tenant, user, entry, (size_t)n, kp, kl, vp, vl, kd, digest);
    Py_END_ALLOW_THREADS
    if (rc < 0) { cairn_py_raise(rc); goto done; }
    ret = PyUnicode_FromString(digest);
done:
    if (has != NULL)
        for (i = 0; i < 2 * n; i++)
            if (has[i]) PyBuffer_Release(&views[i]);
    PyMem_Free(kp); PyMem_Free(vp); PyMem_Free(kl); PyMem_Free(vl); PyMem_Free(kd);
    PyMem_Free(views); PyMem_Free(has);
    Py_XDECREF(lk); Py_XDECREF(lv); Py_XDECREF(lkind);
    return ret;
}

/* Up to `max` more records of cursor `it` of repository `r` as a list of (key bytes, value bytes,
 * kind) (empty at the end). `r` is an argument so that the call counts as one on it (a
 * closed repository raises CAIRN_CLOSED before the cursor is touched). */
static PyObject *cairn_py_repo_iter_batch(cairn_repo *r, cairn_repo_iter *it, int max) {
    PyObject *out;
    (void)r;
    if (it == NULL) { cairn_py_raise_msg(CAIRN_INVALID, "iterator is freed"); return NULL; }
    if ((out = PyList_New(0)) == NULL) return NULL;
    while (PyList_GET_SIZE(out) < max) {
        const void *k = NULL, *v = NULL;
        size_t klen = 0, vlen = 0;
        int kind = 0, rc;
        PyObject *t;
        Py_BEGIN_ALLOW_THREADS
        rc = cairn_repo_iter_next(it, &k, &klen, &v, &vlen, &kind);
        Py_END_ALLOW_THREADS
        if (rc == CAIRN_ITEROVER) break;
        if (rc < 0) { cairn_py_raise(rc); Py_DECREF(out); return NULL; }
        t = Py_BuildValue("(y#y#i)", (const char *)k, (Py_ssize_t)klen, v ? (const char *)v : "",
                          (Py_ssize_t)(v ? vlen : 0), kind); /* no value: an empty one */
        if (t == NULL || PyList_Append(out, t) < 0) { Py_XDECREF(t); Py_DECREF(out); return NULL; }
        Py_DECREF(t);
    }
    return out;
}
%}

/* ---- Arrow export: PyCapsules (the Arrow PyCapsule interface) and a buffer over one column ------
 * A stream of cairn_table_export_stream must be released before its table closes (cairn/table.h);
 * the schemas and arrays it gives are self-contained (each pins the segment files it points into)
 * and may outlive the handle. A stream capsule (or a consumer such as pyarrow that moved the struct
 * out of one) can outlive a close in Python, so every exported stream is wrapped: its release calls
 * the core's, then unpins the table. A close while a stream is alive makes the Python handle
 * closed at once and defers the native close to the release of the last stream (the table stays
 * locked until then); pyarrow releases a stream once it has read it. */
%{
#include <errno.h>

typedef struct cairn_py_pin {
    cairn_table *t;
    long refs;
    int closing;
    struct cairn_py_pin *next;
} cairn_py_pin;
static pthread_mutex_t cairn_py_pin_mu = PTHREAD_MUTEX_INITIALIZER;
static cairn_py_pin *cairn_py_pins = NULL;

static cairn_py_pin **cairn_py_pin_slot(cairn_table *t) {
    cairn_py_pin **pp = &cairn_py_pins;
    while (*pp != NULL && (*pp)->t != t) pp = &(*pp)->next;
    return pp;
}

static int cairn_py_pin_take(cairn_table *t) {
    cairn_py_pin **pp;
    int rc = 0;
    pthread_mutex_lock(&cairn_py_pin_mu);
    pp = cairn_py_pin_slot(t);
    if (*pp == NULL) {
        cairn_py_pin *p = (cairn_py_pin *)calloc(1, sizeof *p);
        if (p == NULL) rc = -1;
        else { p->t = t; *pp = p; }
    }
    if (rc == 0) (*pp)->refs++;
    pthread_mutex_unlock(&cairn_py_pin_mu);
    return rc;
}

static void cairn_py_pin_drop(cairn_table *t) {
    cairn_py_pin **pp, *p;
    int close_now = 0;
    pthread_mutex_lock(&cairn_py_pin_mu);
    pp = cairn_py_pin_slot(t);
    p = *pp;
    if (p != NULL && --p->refs == 0) {
        *pp = p->next;
        close_now = p->closing;
        free(p);
    }
    pthread_mutex_unlock(&cairn_py_pin_mu);
    if (close_now) cairn_table_close(t);
}

/* From the close wrapper: 1 when exported data is alive (the close is then deferred). */
static int cairn_py_pin_defer_close(cairn_table *t) {
    cairn_py_pin *p;
    int deferred = 0;
    pthread_mutex_lock(&cairn_py_pin_mu);
    p = *cairn_py_pin_slot(t);
    if (p != NULL && p->refs > 0) { p->closing = 1; deferred = 1; }
    pthread_mutex_unlock(&cairn_py_pin_mu);
    return deferred;
}

/* Exported structs alive for table `t` (tests). */
static long cairn_py_pins_of(cairn_table *t) {
    cairn_py_pin *p;
    long n;
    pthread_mutex_lock(&cairn_py_pin_mu);
    p = *cairn_py_pin_slot(t);
    n = p != NULL ? p->refs : 0;
    pthread_mutex_unlock(&cairn_py_pin_mu);
    return n;
}

/* The stream wrapper: the outer struct forwards to the core's stream, kept in the box with the
 * table it pins. */
typedef struct { struct ArrowArrayStream inner; cairn_table *t; } cairn_py_wstream;

static int cairn_py_wstream_get_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
    cairn_py_wstream *w = (cairn_py_wstream *)s->private_data;
    return w->inner.get_schema(&w->inner, out);
}

static int cairn_py_wstream_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
    cairn_py_wstream *w = (cairn_py_wstream *)s->private_data;
    return w->inner.get_next(&w->inner, out);
}

static const char *cairn_py_wstream_last_error(struct ArrowArrayStream *s) {
    cairn_py_wstream *w = (cairn_py_wstream *)s->private_data;
    return w->inner.get_last_error(&w->inner);
}

static void cairn_py_wstream_release(struct ArrowArrayStream *s) {
    cairn_py_wstream *w = (cairn_py_wstream *)s->private_data;
    cairn_table *t = w->t;
    if (w->inner.release != NULL) w->inner.release(&w->inner);
    free(w);
    s->release = NULL;
    s->private_data = NULL;
    cairn_py_pin_drop(t);
}

/* *s (the core's stream) becomes the wrapper; its box pins `t`. */
static int cairn_py_wrap_stream(struct ArrowArrayStream *s, cairn_table *t) {
    cairn_py_wstream *w = (cairn_py_wstream *)malloc(sizeof *w);
    if (w == NULL || cairn_py_pin_take(t) < 0) {
        free(w);
        s->release(s);
        return ENOMEM;
    }
    w->inner = *s;
    w->t = t;
    s->get_schema = cairn_py_wstream_get_schema;
    s->get_next = cairn_py_wstream_get_next;
    s->get_last_error = cairn_py_wstream_last_error;
    s->release = cairn_py_wstream_release;
    s->private_data = w;
    return 0;
}

/* The capsules' destructors (the Arrow PyCapsule interface): release what was not moved out. */
static void cairn_py_stream_capsule_free(PyObject *cap) {
    struct ArrowArrayStream *s = (struct ArrowArrayStream *)PyCapsule_GetPointer(cap, "arrow_array_stream");
    if (s == NULL) { PyErr_WriteUnraisable(cap); return; }
    if (s->release != NULL) s->release(s);
    free(s);
}

static void cairn_py_schema_capsule_free(PyObject *cap) {
    struct ArrowSchema *s = (struct ArrowSchema *)PyCapsule_GetPointer(cap, "arrow_schema");
    if (s == NULL) { PyErr_WriteUnraisable(cap); return; }
    if (s->release != NULL) s->release(s);
    free(s);
}

/* A new wrapped stream of `query` (NULL: every row) in *out (malloc'd), or NULL with an exception. */
static struct ArrowArrayStream *cairn_py_stream_open(cairn_table *t, const char *query) {
    struct ArrowArrayStream *s = (struct ArrowArrayStream *)calloc(1, sizeof *s);
    int rc;
    if (s == NULL) { PyErr_NoMemory(); return NULL; }
    Py_BEGIN_ALLOW_THREADS
    rc = cairn_table_export_stream(t, query, s);
    Py_END_ALLOW_THREADS
    if (rc < 0) { free(s); cairn_py_raise(rc); return NULL; }
    if (cairn_py_wrap_stream(s, t) != 0) { free(s); PyErr_NoMemory(); return NULL; }
    return s;
}

/* ---- the column view: PEP 3118 over cairn_table_export_column's array ---- */
typedef struct {
    PyObject_HEAD
    struct ArrowSchema schema;
    struct ArrowArray array;
    const char *data;       /* the first value (the array's offset applied) */
    void *owned;            /* bool: the values unpacked to one byte each ('?') */
    Py_ssize_t n, itemsize, shape[1], strides[1];
    char format[2];
    PyObject *name, *type;  /* str */
} cairn_py_column;

static void cairn_py_column_dealloc(PyObject *o) {
    cairn_py_column *c = (cairn_py_column *)o;
    PyTypeObject *tp = Py_TYPE(o);
    if (c->array.release != NULL) c->array.release(&c->array);
    if (c->schema.release != NULL) c->schema.release(&c->schema);
    free(c->owned);
    Py_XDECREF(c->name);
    Py_XDECREF(c->type);
    tp->tp_free(o);
    Py_DECREF(tp);
}

static int cairn_py_column_getbuffer(PyObject *o, Py_buffer *view, int flags) {
    cairn_py_column *c = (cairn_py_column *)o;
    if (flags & PyBUF_WRITABLE) {
        PyErr_SetString(PyExc_BufferError, "a column view is read-only");
        view->obj = NULL;
        return -1;
    }
    view->buf = (void *)c->data;
    view->obj = o;
    Py_INCREF(o);
    view->len = c->n * c->itemsize;
    view->readonly = 1;
    view->itemsize = c->itemsize;
    view->format = (flags & PyBUF_FORMAT) ? c->format : NULL;
    view->ndim = 1;
    view->shape = (flags & PyBUF_ND) ? c->shape : NULL;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? c->strides : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    return 0;
}

static Py_ssize_t cairn_py_column_len(PyObject *o) { return ((cairn_py_column *)o)->n; }

/* validity: None without nulls, else the Arrow bitmap as bytes (bit i, least significant first,
 * set when value i is not null; ceil(n/8) bytes, the array's offset applied). */
static PyObject *cairn_py_column_validity(PyObject *o, void *closure) {
    cairn_py_column *c = (cairn_py_column *)o;
    const uint8_t *bits;
    PyObject *b;
    unsigned char *dst;
    Py_ssize_t i, off;
    (void)closure;
    if (c->array.null_count == 0 || c->array.n_buffers < 1 || c->array.buffers[0] == NULL) Py_RETURN_NONE;
    bits = (const uint8_t *)c->array.buffers[0];
    off = (Py_ssize_t)c->array.offset;
    b = PyBytes_FromStringAndSize(NULL, (c->n + 7) / 8);
    if (b == NULL) return NULL;
    dst = (unsigned char *)PyBytes_AS_STRING(b);
    memset(dst, 0, (size_t)((c->n + 7) / 8));
    for (i = 0; i < c->n; i++)
        if (bits[(i + off) >> 3] >> ((i + off) & 7) & 1) dst[i >> 3] |= (unsigned char)(1u << (i & 7));
    return b;
}

static PyObject *cairn_py_column_null_count(PyObject *o, void *closure) {
    cairn_py_column *c = (cairn_py_column *)o;
    (void)closure;
    if (c->array.null_count < 0) { /* unknown: count the bitmap */
        Py_ssize_t i, n = 0, off = (Py_ssize_t)c->array.offset;
        const uint8_t *bits = c->array.n_buffers > 0 ? (const uint8_t *)c->array.buffers[0] : NULL;
        if (bits != NULL)
            for (i = 0; i < c->n; i++) n += !(bits[(i + off) >> 3] >> ((i + off) & 7) & 1);
        c->array.null_count = n;
    }
    return PyLong_FromLongLong((long long)c->array.null_count);
}

static PyObject *cairn_py_column_name(PyObject *o, void *closure) {
    (void)closure;
    Py_INCREF(((cairn_py_column *)o)->name);
    return ((cairn_py_column *)o)->name;
}

static PyObject *cairn_py_column_type(PyObject *o, void *closure) {
    (void)closure;
    Py_INCREF(((cairn_py_column *)o)->type);
    return ((cairn_py_column *)o)->type;
}

static PyObject *cairn_py_column_repr(PyObject *o) {
    cairn_py_column *c = (cairn_py_column *)o;
    return PyUnicode_FromFormat("<cairn.ColumnView %R: %zd x '%s'>", c->name, c->n, c->format);
}

static PyGetSetDef cairn_py_column_getset[] = {
    {"validity", cairn_py_column_validity, NULL,
     "None when no value is null, else the Arrow validity bitmap (bytes, bit i least significant first, set when value i is not null)", NULL},
    {"null_count", cairn_py_column_null_count, NULL, "the number of null values", NULL},
    {"name", cairn_py_column_name, NULL, "the column's name", NULL},
    {"arrow_format", cairn_py_column_type, NULL, "the Arrow format string of the exported array", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

/* Made by Table.column only. */
static PyObject *cairn_py_column_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    (void)type, (void)args, (void)kwds;
    PyErr_SetString(PyExc_TypeError, "cairn.ColumnView objects come from Table.column()");
    return NULL;
}

static PyType_Slot cairn_py_column_slots[] = {
    {Py_tp_new, (void *)cairn_py_column_new},
    {Py_tp_dealloc, (void *)cairn_py_column_dealloc},
    {Py_tp_repr, (void *)cairn_py_column_repr},
    {Py_tp_getset, (void *)cairn_py_column_getset},
    {Py_sq_length, (void *)cairn_py_column_len},
    {Py_bf_getbuffer, (void *)cairn_py_column_getbuffer},
    {Py_tp_doc, (void *)"One column of a table as a read-only buffer (PEP 3118, one dimension): "
                        "numpy.frombuffer(view, dtype) takes it without a copy."},
    {0, NULL}
};

static PyType_Spec cairn_py_column_spec = {
    "cairn.ColumnView", sizeof(cairn_py_column), 0, Py_TPFLAGS_DEFAULT, cairn_py_column_slots
};
static PyObject *cairn_py_column_type_obj = NULL;

/* The PEP 3118 letter of an Arrow format of fixed width, or 0. */
static char cairn_py_arrow_letter(const char *f, Py_ssize_t *itemsize) {
    if (f == NULL) return 0;
    if (strncmp(f, "tsu:", 4) == 0 || strncmp(f, "tsn:", 4) == 0 || strncmp(f, "tsm:", 4) == 0
        || strncmp(f, "tss:", 4) == 0) { *itemsize = 8; return 'q'; }
    if (f[0] == '\0' || f[1] != '\0') return 0;
    switch (f[0]) {
    case 'c': *itemsize = 1; return 'b';
    case 'C': *itemsize = 1; return 'B';
    case 's': *itemsize = 2; return 'h';
    case 'S': *itemsize = 2; return 'H';
    case 'i': *itemsize = 4; return 'i';
    case 'I': *itemsize = 4; return 'I';
    case 'l': *itemsize = 8; return 'q';
    case 'L': *itemsize = 8; return 'Q';
    case 'f': *itemsize = 4; return 'f';
    case 'g': *itemsize = 8; return 'd';
    case 'b': *itemsize = 1; return '?';
    default: return 0;
    }
}
%}

%nothread cairn_py_table_arrow_stream;
%nothread cairn_py_table_arrow_schema;
%nothread cairn_py_table_column;
%nothread cairn_py_table_pins;
%nothread cairn_py_column_view_type;
%typemap(out) PyObject *cairn_py_column_view_type "$result = $1;"
%typemap(out) PyObject *cairn_py_table_arrow_stream "$result = $1;"
%typemap(out) PyObject *cairn_py_table_arrow_schema "$result = $1;"
%typemap(out) PyObject *cairn_py_table_column "$result = $1;"
%inline %{
/* A PyCapsule "arrow_array_stream" around a new stream of the rows of `query` (JSON text, or
 * None: every row and column). */
static PyObject *cairn_py_table_arrow_stream(cairn_table *t, const char *query) {
    struct ArrowArrayStream *s = cairn_py_stream_open(t, query);
    PyObject *cap;
    if (s == NULL) return NULL;
    cap = PyCapsule_New(s, "arrow_array_stream", cairn_py_stream_capsule_free);
    if (cap == NULL) { s->release(s); free(s); }
    return cap;
}

/* A PyCapsule "arrow_schema" with the schema of that stream. */
static PyObject *cairn_py_table_arrow_schema(cairn_table *t, const char *query) {
    struct ArrowArrayStream *s = cairn_py_stream_open(t, query);
    struct ArrowSchema *sc;
    PyObject *cap;
    int rc;
    if (s == NULL) return NULL;
    sc = (struct ArrowSchema *)calloc(1, sizeof *sc);
    if (sc == NULL) { s->release(s); free(s); return PyErr_NoMemory(); }
    Py_BEGIN_ALLOW_THREADS
    rc = s->get_schema(s, sc);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        const char *e = s->get_last_error(s);
        char buf[300];
        snprintf(buf, sizeof buf, "get_schema of the Arrow stream failed (%d): %s", rc, e ? e : "no message");
        s->release(s);
        free(s);
        free(sc);
        cairn_py_raise_msg(rc == ENOMEM ? CAIRN_NOMEM : CAIRN_ERROR, buf);
        return NULL;
    }
    s->release(s);
    free(s);
    cap = PyCapsule_New(sc, "arrow_schema", cairn_py_schema_capsule_free);
    if (cap == NULL) { if (sc->release) sc->release(sc); free(sc); }
    return cap;
}

/* Column `column` of every live row as a cairn.ColumnView (the buffer protocol). A column of a
 * type without a fixed width (string, bytes, bytes:N) raises CAIRN_TYPE. */
static PyObject *cairn_py_table_column(cairn_table *t, const char *column) {
    cairn_py_column *c;
    Py_ssize_t itemsize = 0;
    char letter;
    int rc;
    if (column == NULL) { cairn_py_raise_msg(CAIRN_INVALID, "column name is None"); return NULL; }
    if (cairn_py_column_type_obj == NULL
        && (cairn_py_column_type_obj = PyType_FromSpec(&cairn_py_column_spec)) == NULL)
        return NULL;
    c = PyObject_New(cairn_py_column, (PyTypeObject *)cairn_py_column_type_obj);
    if (c == NULL) return NULL; /* (PyObject_New took the heap type's reference; dealloc drops it) */
    memset((char *)c + sizeof(PyObject), 0, sizeof *c - sizeof(PyObject));
    Py_BEGIN_ALLOW_THREADS
    rc = cairn_table_export_column(t, column, &c->schema, &c->array);
    Py_END_ALLOW_THREADS
    if (rc < 0) { cairn_py_raise(rc); Py_DECREF(c); return NULL; }
    c->name = PyUnicode_FromString(column);
    c->type = PyUnicode_FromString(c->schema.format ? c->schema.format : "");
    if (c->name == NULL || c->type == NULL) { Py_DECREF(c); return NULL; }
    letter = cairn_py_arrow_letter(c->schema.format, &itemsize);
    if (letter == 0 || c->schema.dictionary != NULL || c->array.n_buffers != 2) {
        char buf[200];
        snprintf(buf, sizeof buf, "column %.64s is not of a fixed-width type (Arrow format '%.20s'): "
                 "read it through the Arrow stream", column, c->schema.format ? c->schema.format : "?");
        Py_DECREF(c);
        cairn_py_raise_msg(CAIRN_TYPE, buf);
        return NULL;
    }
    c->n = (Py_ssize_t)c->array.length;
    c->itemsize = itemsize;
    c->shape[0] = c->n;
    c->strides[0] = itemsize;
    c->format[0] = letter;
    c->format[1] = '\0';
    if (letter == '?') { /* Arrow's bools are bits: one byte each */
        const uint8_t *bits = (const uint8_t *)c->array.buffers[1];
        Py_ssize_t i, off = (Py_ssize_t)c->array.offset;
        unsigned char *v = (unsigned char *)malloc((size_t)(c->n ? c->n : 1));
        if (v == NULL) { Py_DECREF(c); return PyErr_NoMemory(); }
        for (i = 0; i < c->n; i++) v[i] = bits != NULL && (bits[(i + off) >> 3] >> ((i + off) & 7) & 1);
        c->owned = v;
        c->data = (const char *)v;
    } else {
        c->data = (const char *)c->array.buffers[1] + (size_t)c->array.offset * (size_t)itemsize;
    }
    return (PyObject *)c;
}

/* The exported streams of table `t` not released yet. */
static long cairn_py_table_pins(cairn_table *t) { return cairn_py_pins_of(t); }

/* The cairn.ColumnView type (made once). */
static PyObject *cairn_py_column_view_type(void) {
    if (cairn_py_column_type_obj == NULL
        && (cairn_py_column_type_obj = PyType_FromSpec(&cairn_py_column_spec)) == NULL)
        return NULL;
    Py_INCREF(cairn_py_column_type_obj);
    return cairn_py_column_type_obj;
}
%}

/* ---- query results: timestamps in place ------------------------------------------------------ */
%nothread cairn_py_ts_fix;
%typemap(out) PyObject *cairn_py_ts_fix "$result = $1;"
%inline %{
/* The int microseconds of the columns `names` (a tuple of str) as datetimes (as _ts_out), in
 * place: `res` is a list of row dicts, or a dict of column name -> list. Returns None. */
static PyObject *cairn_py_ts_fix(PyObject *res, PyObject *names) {
    Py_ssize_t i, j, k;
    if (!PyTuple_Check(names)) { PyErr_SetString(PyExc_TypeError, "names must be a tuple"); return NULL; }
    for (k = 0; k < PyTuple_GET_SIZE(names); k++) {
        PyObject *name = PyTuple_GET_ITEM(names, k);
        if (PyList_Check(res)) {
            for (i = 0; i < PyList_GET_SIZE(res); i++) {
                PyObject *row = PyList_GET_ITEM(res, i), *v, *d;
                if (!PyDict_Check(row)) continue;
                v = PyDict_GetItemWithError(row, name);
                if (v == NULL) { if (PyErr_Occurred()) return NULL; continue; }
                if (!PyLong_Check(v)) continue;
                d = cairn_py_ts_out((int64_t)PyLong_AsLongLong(v));
                if (d == NULL || PyDict_SetItem(row, name, d) < 0) { Py_XDECREF(d); return NULL; }
                Py_DECREF(d);
            }
        } else if (PyDict_Check(res)) {
            PyObject *list = PyDict_GetItemWithError(res, name);
            if (list == NULL) { if (PyErr_Occurred()) return NULL; continue; }
            if (!PyList_Check(list)) continue;
            for (j = 0; j < PyList_GET_SIZE(list); j++) {
                PyObject *v = PyList_GET_ITEM(list, j), *d;
                if (!PyLong_Check(v)) continue;
                d = cairn_py_ts_out((int64_t)PyLong_AsLongLong(v));
                if (d == NULL) return NULL;
                PyList_SetItem(list, j, d); /* steals d, drops v */
            }
        }
    }
    Py_RETURN_NONE;
}
%}
