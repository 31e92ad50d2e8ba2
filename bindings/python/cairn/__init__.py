"""Cairn: an embedded storage library (log-structured KV store, blob store, columnar table,
versioned store).

The idiomatic layer over the raw SWIG module ``cairn.cairn_swig`` (1:1 with the C API).

    import cairn
    with cairn.KV("data.cairn") as db:
        db["user:1"] = {"name": "Ada"}      # dict -> JSON document
        db["raw"] = b"\\x00\\x01"             # bytes -> bytes
        print(db["user:1"]["name"])
    with cairn.Table("people", schema="id i64 primary key, name string") as t:
        row_id = t.insert({"id": 1, "name": "Ada"})   # dict row -> its id
        print(t[row_id], len(t))

Errors are :class:`cairn.Error` subclasses generated from the core's error table, each with
``.code`` (int) and ``.name`` ("CAIRN_NOTFOUND"); :class:`NotFoundError` is also a ``KeyError``.
The GIL is released around every call into the C core.
"""

import collections.abc as _abc
import datetime as _dt
import json as _json
import math as _math
import numbers as _numbers
import operator as _operator
import os as _os
import sys as _sys
import threading as _threading
import time as _time
from _thread import get_ident as _get_ident
import warnings as _warnings
import weakref as _weakref
from collections import namedtuple as _namedtuple

from . import cairn_swig as _raw
from . import _cairn_swig as _c

__all__ = [
    "KV", "BlobStore", "BlobEvent", "Table", "TableEvent", "Column", "Error", "error_class", "version",
    "Query", "query", "Index", "ArrowExport", "QueryRows", "QueryColumns", "ResultColumn", "ColumnView",
    "Repo", "Version", "RepoDiff", "SnapshotInfo",
    "check_kv", "check_blob", "check_table", "repair_table", "verify_repo",
    "testing_set_clock",
    "KIND_BYTES", "KIND_TEXT", "KIND_JSON", "KIND_NATIVE",
]

__version__ = _c.cairn_version()

KIND_BYTES = _raw.CAIRN_KIND_BYTES
KIND_TEXT = _raw.CAIRN_KIND_TEXT
KIND_JSON = _raw.CAIRN_KIND_JSON
KIND_NATIVE = _raw.CAIRN_KIND_NATIVE

_KIND_NAMES = {"bytes": KIND_BYTES, "text": KIND_TEXT, "json": KIND_JSON, "native": KIND_NATIVE}
_KIND_BY_NUM = {v: k for k, v in _KIND_NAMES.items()}
_SYNC_MODES = {"none": _raw.CAIRN_SYNC_NONE, "commit": _raw.CAIRN_SYNC_COMMIT, "group": _raw.CAIRN_SYNC_GROUP}


def version():
    """The core library's version string ("0.1.0")."""
    return _c.cairn_version()


# ---------------------------------------------------------------------------------------------
# Errors: one class per code of the core's table (core/include/cairn_errors.def), generated.
# ---------------------------------------------------------------------------------------------

class Error(Exception):
    """Base of every Cairn error. ``.code`` is the negative C code, ``.name`` its stable name."""

    code = _raw.CAIRN_ERROR
    name = "CAIRN_ERROR"

    def __init__(self, message=None, *args):
        if message is None:
            message = _c.cairn_errstr(self.code)
        super().__init__(message, *args)

    @property
    def message(self):
        return self.args[0] if self.args else ""

    def __str__(self):  # KeyError would show the repr of the message
        return str(self.message)


# Python names for the table's NAMEs (words the table writes run together) and the builtin
# exception each code also is, so `except KeyError` / `except ValueError` work as expected.
_CLASS_NAMES = {
    "NOTFOUND": "NotFoundError", "TOOBIG": "TooBigError", "NOSPC": "NoSpaceError",
    "NOMEM": "NoMemoryError", "TXN": "TxnError", "READONLY": "ReadOnlyError",
    "ITEROVER": "IterOverError", "TYPE": "TypeMismatch", "IO": "IOError_",
}
_EXTRA_BASES = {
    "NOTFOUND": (KeyError,), "INVALID": (ValueError,), "TYPE": (TypeError,),
    "TOOBIG": (ValueError,), "RANGE": (ValueError,), "CLOSED": (ValueError,), "NOMEM": (MemoryError,),
    "IO": (OSError,), "NOSPC": (OSError,), "PERM": (PermissionError,), "PATH": (OSError,),
    "UNSUPPORTED": (NotImplementedError,),
}

_BY_CODE = {}


def _make_errors():
    # One class per row of the core's table: walk the codes down from -1 until the core no longer
    # knows the code (the table is dense and never renumbered).
    code = -1
    while _c.cairn_errname(code) != "CAIRN_UNKNOWN":
        name = _c.cairn_errname(code)
        tname = name[len("CAIRN_"):]
        if code == _raw.CAIRN_ERROR:
            _BY_CODE[code] = Error
            code -= 1
            continue
        cname = _CLASS_NAMES.get(tname, tname.capitalize() + "Error")
        bases = (Error,) + _EXTRA_BASES.get(tname, ())
        doc = "%s (%d): %s." % (name, code, _c.cairn_errstr(code))
        cls = type(cname, bases, {"code": code, "name": name, "__doc__": doc, "__module__": __name__})
        globals()[cname] = cls
        __all__.append(cname)
        _BY_CODE[code] = cls
        code -= 1


_make_errors()
TypeError_ = TypeMismatch  # noqa: F821  (generated above)
_BY_CODE["default"] = Error
_c.cairn_py_set_errors(_BY_CODE)


def error_class(code_or_name):
    """The exception class of a code (-2) or name ("CAIRN_NOTFOUND" / "NOTFOUND")."""
    if isinstance(code_or_name, str):
        n = code_or_name.upper()
        if not n.startswith("CAIRN_"):
            n = "CAIRN_" + n
        for code, cls in _BY_CODE.items():
            if code != "default" and cls.name == n:
                return cls
        raise InvalidError("unknown error name %r" % code_or_name)  # noqa: F821
    return _BY_CODE.get(code_or_name, Error)


def _err(name, message):
    return error_class(name)(message)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def _path(path):
    try:
        p = _os.fspath(path)
    except TypeError:
        raise TypeMismatch("path must be str or os.PathLike, not %s" % type(path).__name__) from None  # noqa: F821
    if isinstance(p, bytes):
        p = _os.fsdecode(p)
    if not p:
        raise _err("INVALID", "path must not be empty")
    if "\x00" in p:
        raise _err("INVALID", "path must not contain NUL")
    return p


def _key_out(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b


def _check_bool(name, v):
    if type(v) is not bool:
        raise TypeMismatch("option %r must be a bool, not %s" % (name, type(v).__name__))  # noqa: F821
    return 1 if v else 0


def _check_uint(limit):
    def check(name, v):
        if type(v) is not int:
            raise TypeMismatch("option %r must be an int, not %s" % (name, type(v).__name__))  # noqa: F821
        if v < 0 or v > limit:
            raise _err("INVALID", "option %r out of range 0..%d: %d" % (name, limit, v))
        return v
    return check


def _check_sync(name, v):
    if isinstance(v, str):
        mode = _SYNC_MODES.get(v.lower())
        if mode is None:
            raise _err("INVALID", "option 'sync' must be one of none/commit/group, not %r" % v)
        return mode
    raise TypeMismatch("option 'sync' must be 'none', 'commit' or 'group', not %s" % type(v).__name__)  # noqa: F821


def _check_sync_repo(name, v):
    if isinstance(v, str) and v.lower() == "group":
        raise _err("INVALID", "option 'sync' of a Repo must be 'none' or 'commit', not %r" % v)
    return _check_sync(name, v)


# The options every engine shares (the C fields of the same names); an engine adds its own.
_COMMON_OPTIONS = {
    "create": _check_bool,
    "read_only": _check_bool,
    "sync": _check_sync,
    "lock_timeout_ms": _check_uint(2**32 - 1),
}

# The fake wall clock of testing_set_clock (Unix ms; 0: the real clock), so that a ttl is counted
# from the same "now" the core judges expiry by.
_clock_ms = 0


def testing_set_clock(unix_ms):
    """FOR TESTS ONLY: make the whole process (the core's expiry and the ttl of put) see the wall
    clock at `unix_ms` (Unix ms, an int); 0 or None: the real clock again."""
    global _clock_ms
    if unix_ms is None:
        unix_ms = 0
    if type(unix_ms) is not int:
        raise TypeMismatch("unix_ms must be an int")  # noqa: F821
    if not 0 <= unix_ms < 2**63:
        raise _err("INVALID", "unix_ms out of range: %d" % unix_ms)
    _c.cairn_testing_set_clock(unix_ms)
    _clock_ms = unix_ms


def _now_ms():
    return _clock_ms or int(_time.time() * 1000)


_MS = _dt.timedelta(milliseconds=1)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _expire_at_ms(ttl, expire_at):
    """Absolute expiry in Unix ms from `ttl` (milliseconds from now, or a timedelta) or
    `expire_at` (Unix ms, or a datetime); 0 for none."""
    if ttl is not None and expire_at is not None:
        raise _err("INVALID", "give ttl or expire_at, not both")
    if ttl is not None:
        if isinstance(ttl, _dt.timedelta):
            ms = ttl / _MS
        elif type(ttl) in (int, float):
            ms = ttl
        else:
            raise TypeMismatch("ttl must be milliseconds (int/float) or a timedelta")  # noqa: F821
        if ms != ms or ms in (float("inf"), float("-inf")):
            raise _err("INVALID", "ttl must be a finite number of milliseconds")
        if ms < 0:
            raise _err("INVALID", "ttl must not be negative: %r" % (ttl,))
        at = _now_ms() + _math.ceil(ms)  # ttl 0: expires at once
        if at >= 2**63:
            raise _err("INVALID", "ttl is too far in the future")
        return at
    if expire_at is not None:
        if isinstance(expire_at, _dt.datetime):
            if expire_at.tzinfo is None:
                expire_at = expire_at.astimezone()  # naive: local time, as datetime.timestamp()
            ms = (expire_at - _EPOCH) // _MS
            return ms if ms > 0 else 1  # already past: stores nothing readable
        if type(expire_at) is int:
            if expire_at >= 2**63:
                raise _err("INVALID", "expire_at out of the int64 range of Unix ms")
            return expire_at if expire_at > 0 else 1  # the epoch or before: long past
        raise TypeMismatch("expire_at must be Unix ms (int) or a datetime")  # noqa: F821
    return 0


# Stats: the fields of a stats struct, read from its SWIG class (in declaration order) once.
_STATS_FIELDS = {}
_BOOL_STATS = frozenset(("in_txn",))


def _stats_dict(st):
    t = type(st)
    names = _STATS_FIELDS.get(t)
    if names is None:
        names = [n for n, v in vars(t).items()
                 if isinstance(v, property) and n not in ("thisown", "size")]
        _STATS_FIELDS[t] = names
    d = {n: getattr(st, n) for n in names}
    for n in _BOOL_STATS.intersection(d):
        d[n] = bool(d[n])
    return d


class _Txn:
    """`with handle.transaction():` begin; commit on success, roll back on an exception."""

    __slots__ = ("_h",)

    def __init__(self, handle):
        self._h = handle

    def __enter__(self):
        self._h.begin()
        return self._h

    def __exit__(self, et, ev, tb):
        if et is None:
            self._h.commit()
        else:
            try:
                self._h.rollback()
            except Error:
                pass  # the original exception matters more
        return False


class _Engine:
    """The raw functions of one engine, cairn_<engine>_<verb>, found by verb (one place: a new
    engine's class names its engine and gets open/close/transactions/sync/compact/stats/check)."""

    VERBS = ("open", "close", "stats", "metrics")
    # None where the engine lacks the call: a store's (transactions, maintenance), events,
    # snapshots and backups
    OPTIONAL = ("begin", "commit", "rollback", "in_txn", "sync", "compact", "check", "subscribe",
                "unsubscribe", "snapshot", "snapshots", "open_snapshot", "drop_snapshot", "backup")

    def __init__(self, engine, **renamed):
        self.name = engine
        for verb in self.VERBS:
            setattr(self, verb, getattr(_c, "cairn_%s_%s" % (engine, renamed.get(verb, verb))))
        for verb in self.OPTIONAL:
            setattr(self, verb, getattr(_c, "cairn_%s_%s" % (engine, renamed.get(verb, verb)), None))
        self.options = getattr(_raw, "cairn_%s_options" % engine)
        self.options_version = getattr(_raw, "CAIRN_%s_OPTIONS_VERSION" % engine.upper())


class _Handle:
    """What every engine's class shares: the lifetime of a native handle (close() is idempotent
    and waits for calls other threads have inside the core; a handle collected unclosed is closed
    with a ResourceWarning, like a file; `with` closes it), option parsing, stats, check.
    A subclass sets `_raw` (an _Engine) and `_options` (its own C options: name -> checker).
    The stores (KV, blob store, table) add transactions, sync, compact, snapshots: _Store."""

    __slots__ = ("_h", "_path", "_read_only", "_txn", "__weakref__")
    _raw = None
    _options = {}

    def __init__(self, path, **options):
        self._h = None
        self._txn = False
        self._path = _path(path)
        raw = self._raw
        o = raw.options()
        o.version = raw.options_version
        o.create = 1
        o.sync = _raw.CAIRN_SYNC_COMMIT
        for name, v in options.items():
            check = self._options.get(name) or _COMMON_OPTIONS.get(name)  # an engine's own first
            if check is None:
                raise _err("INVALID", "unknown %s option %r" % (type(self).__name__, name))
            setattr(o, name, check(name, v))
        self._read_only = bool(o.read_only)
        self._h = raw.open(self._path, o)

    # -- lifetime ------------------------------------------------------------------------------
    def close(self):
        """Close (an open transaction is rolled back; pending writes are made durable).
        Idempotent."""
        h, self._h = self._h, None
        if h is not None:
            try:
                self._raw.close(h)
            except BusyError:  # noqa: F821  closing from inside a call on this handle
                self._h = h
                raise
            self._txn = False

    def __del__(self):
        if getattr(self, "_h", None) is None:
            return
        try:  # like an unclosed file: close it, and say so under -W default / -X dev
            _warnings.warn("unclosed %r" % self, ResourceWarning, source=self)
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.close()
        return False

    @property
    def closed(self):
        return self._h is None

    @property
    def path(self):
        return self._path

    def _handle(self):
        h = self._h
        if h is None:
            raise ClosedError("%s handle is closed" % type(self).__name__)  # noqa: F821
        return h

    def __repr__(self):
        return "<cairn.%s %r%s>" % (type(self).__name__, self._path, " closed" if self._h is None else "")

    def _adopt(self, h, path):
        """A new object of this class around the native handle `h` (opened read-only by a call on
        this one, e.g. open_snapshot): no open of its own; `_adopted(like)` sets what a subclass's
        __init__ would have."""
        obj = type(self).__new__(type(self))
        obj._txn = False
        obj._path = path
        obj._read_only = True
        obj._h = h
        try:
            obj._adopted(self)
        except BaseException:
            obj._h = None
            self._raw.close(h)
            raise
        return obj

    def _adopted(self, like):
        """Set the state a subclass's __init__ sets (from `like`, the object adopting the handle;
        the handle is already set)."""

    def stats(self):
        """A dict of the engine's statistics (its C stats struct, field by field)."""
        return _stats_dict(self._raw.stats(self._handle()))

    def metrics(self):
        """The statistics in the Prometheus text exposition format (0.0.4) as a str: per statistic
        a `# HELP` and a `# TYPE` line and one sample `cairn_<engine>_<stat>{store="<path>"} <value>`
        (sizes end in _bytes, per-handle counts in _total)."""
        return self._raw.metrics(self._handle())

    @classmethod
    def check(cls, path):
        """Verify the store at `path` without opening it for writing; CorruptError says where."""
        cls._raw.check(_path(path))


SnapshotInfo = _namedtuple("SnapshotInfo", "name time bytes")
SnapshotInfo.__doc__ = """A snapshot of a store: its name, when it was taken (an aware UTC datetime) and its size."""


def _text_arg(v, what, empty_ok=False):
    """A name argument: a str without NUL (the core judges the rest); TypeMismatch otherwise."""
    if type(v) is not str:
        if not isinstance(v, str):
            raise TypeMismatch("%s must be a str, not %s" % (what, type(v).__name__))  # noqa: F821
        v = str(v)
    if "\x00" in v:
        raise _err("INVALID", "%s must not contain NUL" % what)
    if not v and not empty_ok:
        raise _err("INVALID", "%s must not be empty" % what)
    return v


def _ms_time(ms):
    return _EPOCH + _dt.timedelta(milliseconds=ms)


class _Store(_Handle):
    """The stores' part of the base: transactions (begin, commit, rollback,
    ``with h.transaction():``, in_transaction), sync, compact, and snapshots and backups (snapshot,
    snapshots, open_snapshot, drop_snapshot, backup) from the engine's C calls of those names."""

    __slots__ = ()

    # -- transactions --------------------------------------------------------------------------
    # The handle tracks whether it is in a transaction itself: commit and rollback end it whatever
    # they return, a failed begin does not start one.
    def begin(self):
        """Start a transaction: the writes until commit() become durable together or not at all."""
        self._raw.begin(self._handle())
        self._txn = True

    def _end_txn(self, fn):
        h = self._handle()
        try:
            fn(h)
        finally:
            self._txn = False
            self._after_call()

    def commit(self):
        self._end_txn(self._raw.commit)

    end = commit  # BinaryDB's name

    def rollback(self):
        self._end_txn(self._raw.rollback)

    def transaction(self):
        """``with h.transaction():`` commits on success, rolls back on an exception."""
        return _Txn(self)

    @property
    def in_transaction(self):
        """True while a transaction is open on this handle: the core's answer where the engine has
        cairn_<engine>_in_txn (a flag read), else what the handle tracked itself."""
        h = self._handle()
        if self._raw.in_txn is not None:
            return self._raw.in_txn(h)
        return self._txn

    def _after_call(self):
        """Run after a call that may have fired events (the BlobStore delivers them here)."""

    # -- maintenance ---------------------------------------------------------------------------
    def sync(self):
        """Make everything written so far durable (fsync)."""
        self._raw.sync(self._handle())

    def compact(self):
        """Rewrite the store without its dead space (crash-safe)."""
        self._raw.compact(self._handle())

    # -- snapshots and backups -------------------------------------------------------------------
    def _snap_call(self, verb):
        fn = getattr(self._raw, verb)
        if fn is None:
            raise UnsupportedError("%s has no %s yet" % (type(self).__name__, verb))  # noqa: F821
        return fn

    def snapshot(self, name=None):
        """Take a named, read-only, point-in-time copy of the store (kept beside it, in its
        snapshots/ directory) and return its name; `name` None picks a unique one. ExistsError
        when the name is taken; not inside a transaction (TxnError)."""
        fn = self._snap_call("snapshot")
        if name is not None:
            name = _text_arg(name, "snapshot name")
        return fn(self._handle(), name)

    def snapshots(self):
        """The snapshots, oldest first: a list of SnapshotInfo(name, time, bytes)."""
        js = self._snap_call("snapshots")(self._handle())
        return [SnapshotInfo(s["name"], _ms_time(s["time"]), s["bytes"]) for s in _json.loads(js)]

    def open_snapshot(self, name):
        """A read-only handle of this class on snapshot `name` (independent of this one: close it
        too, or use ``with``). NotFoundError when there is no such snapshot."""
        fn = self._snap_call("open_snapshot")
        name = _text_arg(name, "snapshot name")
        h = fn(self._handle(), name)
        return self._adopt(h, self._snapshot_path(name))

    def _snapshot_path(self, name):
        """Where snapshot `name` of this store lives (the path of the handle open_snapshot gives)."""
        return _os.path.join(self._path, "snapshots", name)

    def drop_snapshot(self, name):
        """Remove snapshot `name`; NotFoundError when absent."""
        fn = self._snap_call("drop_snapshot")
        fn(self._handle(), _text_arg(name, "snapshot name"))

    def backup(self, dest):
        """Copy the store consistently into directory `dest` (missing or empty) while writes go on;
        `dest` then opens as a normal store of this class. ExistsError when `dest` is a file or a
        non-empty directory. A blob store is a file: its backup is the file `dest` (with
        `dest`-wal), which must not exist."""
        fn = self._snap_call("backup")
        fn(self._handle(), _path(dest))


# ---------------------------------------------------------------------------------------------
# Change events: what every engine with events shares
# ---------------------------------------------------------------------------------------------

def _make_dispatch(store_ref):
    # Runs inside the C call that fired the event: it only queues the event's raw arguments, for
    # the calling thread (the listeners run once that call has returned).
    def dispatch(*args):
        store = store_ref()
        if store is not None:
            store._pending.setdefault(_get_ident(), []).append(args)
    return dispatch


class _Events(_Store):
    """The change events of an engine's class. The core fires an event inside the call that made
    the change durable (a transaction's at its commit); the class queues it and delivers the queue
    once that call has returned: on the calling thread, in order, never inside the core.

    Listeners per event name (``on_<name>(callback)``, usable as a decorator; remove_listener) and
    subscriptions to every event (``subscribe(callback)`` -> id; unsubscribe(id)). The handle holds
    one native subscription while it has any listener. A subclass sets `_EVENTS` ({core event
    code: name}) and `_event(*raw)` (the raw callback arguments -> the event object)."""

    __slots__ = ("_listeners", "_subs", "_next_sub", "_sub_fn", "_sub_id", "_pending")
    _EVENTS = {}

    def __init__(self, path, **options):
        self._listeners = {name: [] for name in self._EVENTS.values()}
        self._subs = {}  # subscription id -> callback
        self._next_sub = 0
        self._sub_fn = None
        self._sub_id = None
        self._pending = {}  # thread id -> raw events fired by that thread's call, not yet delivered
        _Handle.__init__(self, path, **options)

    def _adopted(self, like):
        self._listeners = {name: [] for name in self._EVENTS.values()}
        self._subs = {}
        self._next_sub = 0
        self._sub_fn = None
        self._sub_id = None
        self._pending = {}

    def close(self):
        """Close (an open transaction is rolled back). Idempotent."""
        _Handle.close(self)
        self._sub_fn = None
        self._sub_id = None
        self._pending.clear()

    def _event(self, *raw):
        raise NotImplementedError

    def _write(self, fn, *args):
        """A call that may fire events: they are delivered once it has returned."""
        try:
            return fn(*args)
        finally:
            if self._pending:
                self._after_call()

    def _subscribe_native(self):
        if self._sub_fn is None:
            fn = _make_dispatch(_weakref.ref(self))
            self._sub_id = self._raw.subscribe(self._handle(), fn)
            self._sub_fn = fn  # the C side borrows it: keep it alive while subscribed

    def _unsubscribe_native(self):
        if self._sub_fn is not None and not any(self._listeners.values()):
            sid, self._sub_id, self._sub_fn = self._sub_id, None, None
            if self._h is not None:
                self._raw.unsubscribe(self._h, sid)

    def _on(self, names, callback):
        if not callable(callback):
            raise TypeMismatch("callback must be callable")  # noqa: F821
        self._handle()
        self._subscribe_native()
        for name in names:
            self._listeners[name].append(callback)
        return callback

    def subscribe(self, callback):
        """Call ``callback(event)`` after every durable change (inside a transaction: after its
        commit; never for a rolled-back change). Returns an id for unsubscribe()."""
        self._on(self._listeners, callback)
        self._next_sub += 1
        self._subs[self._next_sub] = callback
        return self._next_sub

    def unsubscribe(self, subscription):
        """Stop the subscription `subscription` (an id from subscribe()); NotFoundError if there
        is none such."""
        self._handle()
        if type(subscription) is not int:
            raise TypeMismatch("subscription id must be an int")  # noqa: F821
        callback = self._subs.pop(subscription, None)
        if callback is None:
            raise NotFoundError("no subscription %d on this handle" % subscription)  # noqa: F821
        for lst in self._listeners.values():
            if callback in lst:
                lst.remove(callback)
        self._unsubscribe_native()

    def remove_listener(self, callback):
        """Remove `callback` from every event it was registered for (and its subscriptions); with
        no listener left the handle stops receiving events from the core."""
        for lst in self._listeners.values():
            while callback in lst:
                lst.remove(callback)
        for sid in [sid for sid, cb in self._subs.items() if cb == callback]:
            del self._subs[sid]
        self._unsubscribe_native()

    def _after_call(self):
        # Deliver this thread's queued events. Every listener of every event runs even if one
        # raises; then the first exception is raised (the changes themselves are already made).
        raw = self._pending.pop(_get_ident(), None)
        if not raw:
            return
        first = None
        for args in raw:
            ev = self._event(*args)
            for cb in list(self._listeners.get(ev.name, ())):
                try:
                    cb(ev)
                except Exception as e:  # noqa: BLE001
                    if first is None:
                        first = e
        if first is not None:
            raise first


# ---------------------------------------------------------------------------------------------
# KV
# ---------------------------------------------------------------------------------------------

_kv_get = _c.cairn_kv_get
_kv_put = _c.cairn_kv_put
_kv_put_ex = _c.cairn_kv_put_ex
_kv_delete = _c.cairn_kv_delete
_kv_exists = _c.cairn_kv_exists


# After os.fork() (multiprocessing's 'fork' start method too) the child has only the forking
# thread: a merge lock another thread held at fork() would never be released there. Give every
# live KV a fresh lock in the child, so that update() reaches the core and raises ForkedError
# (every call on an inherited handle does) instead of waiting forever.
_KV_LIVE = _weakref.WeakValueDictionary()  # id -> KV (a mapping is unhashable: no WeakSet)


def _after_fork_in_child():
    for kv in list(_KV_LIVE.values()):
        kv._lock = _threading.Lock()


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_in_child)


class _Values:
    """The value conversion of the key-value engines (KV, Repo): bytes-like <-> BYTES, str <-> TEXT,
    dict/list/int/float/bool/None <-> a JSON document, pickle (KIND_NATIVE) only when the handle's
    `_allow_pickle` says so. `kind` forces one ("bytes", "text", "json", "native" or its int)."""

    __slots__ = ()

    def _encode(self, value, kind=None):
        if kind is not None:
            if isinstance(kind, str):
                k = _KIND_NAMES.get(kind)
                if k is None:
                    raise _err("INVALID", "kind must be bytes/text/json/native, not %r" % kind)
                kind = k
            elif type(kind) is not int:
                raise TypeMismatch("kind must be a name or an int")  # noqa: F821
            if kind == KIND_BYTES:
                if isinstance(value, str):
                    raise TypeMismatch("kind 'bytes' needs a bytes-like value")  # noqa: F821
                return value, KIND_BYTES
            if kind == KIND_TEXT:
                if not isinstance(value, str):
                    raise TypeMismatch("kind 'text' needs a str value")  # noqa: F821
                return value, KIND_TEXT
            if kind == KIND_JSON:
                return self._json(value), KIND_JSON
            if kind == KIND_NATIVE:
                if not self._allow_pickle:
                    raise UnsupportedError("pickled values need KV(path, allow_pickle=True)")  # noqa: F821
                import pickle
                return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), KIND_NATIVE
            raise _err("INVALID", "unknown kind %r" % kind)
        t = type(value)
        if t is bytes:
            return value, KIND_BYTES
        if t is str:
            return value, KIND_TEXT
        if t in (dict, list, int, float, bool, tuple) or value is None:
            return self._json(value), KIND_JSON
        if isinstance(value, (bytearray, memoryview)):
            return value, KIND_BYTES
        if isinstance(value, str):
            return str(value), KIND_TEXT
        if isinstance(value, bytes):
            return bytes(value), KIND_BYTES
        if isinstance(value, (dict, list, int, float)):
            return self._json(value), KIND_JSON
        try:
            memoryview(value)
            return value, KIND_BYTES
        except TypeError:
            pass
        raise TypeMismatch(  # noqa: F821
            "cannot store a %s: values are bytes-like, str, or JSON (dict, list, int, float, bool, "
            "None); pickle only with allow_pickle=True and kind='native'" % t.__name__)

    @staticmethod
    def _json(value):
        try:
            return _json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, RecursionError) as e:
            raise TypeMismatch("value is not JSON-serializable: %s" % e) from None  # noqa: F821
        except ValueError as e:
            raise _err("INVALID", "value is not valid JSON: %s" % e) from None

    def _decode(self, data, kind):
        if kind == KIND_BYTES:
            return data
        if kind == KIND_TEXT:
            return data.decode("utf-8", "surrogateescape")
        if kind == KIND_JSON:
            try:
                return _json.loads(data)
            except ValueError as e:
                raise _err("CORRUPT", "stored JSON document does not parse: %s" % e) from None
        if kind == KIND_NATIVE:
            if not self._allow_pickle:
                raise UnsupportedError(  # noqa: F821
                    "value was pickled; open with KV(path, allow_pickle=True) to load it (pickle runs code)")
            import pickle
            return pickle.loads(data)
        return data  # a kind this version does not know: the raw bytes


class KV(_Store, _Values, _abc.MutableMapping):
    """A Bitcask-style log key-value store in directory `path`, as a MutableMapping.

    Keys are str (stored as UTF-8) or bytes-like; keys read back are str when their bytes are
    valid UTF-8, else bytes. Values: bytes/bytearray/memoryview are stored as BYTES and read back
    as bytes; str as TEXT (str); dict, list, int, float, bool and None as a JSON document (read back
    as the same Python type; tuples come back as lists). Other objects are refused (TypeMismatch)
    unless pickling is allowed explicitly: ``KV(path, allow_pickle=True)`` then
    ``db.put(k, obj, kind="native")``.

    Options: create (bool, default True), read_only (bool), sync ("none" | "commit" | "group"),
    lock_timeout_ms (int, 0..2**32-1), max_file_size (bytes), allow_pickle (bool).
    """

    __slots__ = ("_allow_pickle", "_lock")
    _raw = _Engine("kv")
    _options = {"max_file_size": _check_uint(2**64 - 1)}

    def __init__(self, path, allow_pickle=False, **options):
        self._lock = _threading.Lock()
        self._allow_pickle = bool(_check_bool("allow_pickle", allow_pickle))
        _Handle.__init__(self, path, **options)
        _KV_LIVE[id(self)] = self

    def _adopted(self, like):
        self._lock = _threading.Lock()
        self._allow_pickle = like._allow_pickle
        _KV_LIVE[id(self)] = self

    # -- reads ---------------------------------------------------------------------------------
    def get(self, key, default=None):
        """The value of `key`, or `default` when it is missing or expired."""
        h = self._h
        if h is None:
            raise ClosedError("KV handle is closed")  # noqa: F821
        r = _kv_get(h, key)
        if r is None:
            return default
        data, kind = r
        if kind == 0:
            return data
        if kind == 1:
            return data.decode("utf-8", "surrogateescape")
        return self._decode(data, kind)

    def get_typed(self, key, default=None):
        """(value, kind name) of `key` ("bytes", "text", "json" or "native"), or `default` when
        missing: tells a JSON string document from a text value."""
        r = _kv_get(self._handle(), key)
        if r is None:
            return default
        data, kind = r
        return self._decode(data, kind), _KIND_BY_NUM.get(kind, str(kind))

    def get_raw(self, key):
        """(bytes, kind) of `key` without decoding, or None when missing."""
        return _kv_get(self._handle(), key)

    def __getitem__(self, key):
        h = self._h
        if h is None:
            raise ClosedError("KV handle is closed")  # noqa: F821
        r = _kv_get(h, key)
        if r is None:
            raise NotFoundError(key)  # noqa: F821
        data, kind = r
        if kind == 0:
            return data
        if kind == 1:
            return data.decode("utf-8", "surrogateescape")
        return self._decode(data, kind)

    def exists(self, key):
        """True if `key` is present (and not expired); also ``key in db``."""
        h = self._h
        if h is None:
            raise ClosedError("KV handle is closed")  # noqa: F821
        return _kv_exists(h, key)

    __contains__ = exists

    def expiry(self, key):
        """Absolute expiry of `key` as a UTC datetime, or None if it never expires.
        NotFoundError (a KeyError) if it is missing or expired."""
        ms = _c.cairn_kv_expiry(self._handle(), key)
        if ms == 0:
            return None
        return _EPOCH + _dt.timedelta(milliseconds=ms)  # exact: no float on the way

    def __len__(self):
        return _c.cairn_kv_count(self._handle())

    def count(self):
        return _c.cairn_kv_count(self._handle())

    def _iter_keys(self, prefix):
        it = _c.cairn_kv_iter_open(self._handle(), prefix)
        try:
            nxt = _c.cairn_kv_iter_next
            while True:
                k = nxt(it)
                if k is None:
                    return
                yield k
        finally:
            _c.cairn_kv_iter_free(it)

    def __iter__(self):
        """Iterate over the keys live when iteration starts (a snapshot), ascending bytewise."""
        for k in self._iter_keys(b""):
            yield _key_out(k)

    def keys(self, prefix=b""):
        """A list of the live keys (those starting with `prefix`), ascending bytewise."""
        return [_key_out(k) for k in self._iter_keys(prefix)]

    def _iter_items(self, prefix):
        for k in self._iter_keys(prefix):
            v = self.get(k, _MISSING)
            if v is not _MISSING:  # deleted since the snapshot: skipped
                yield _key_out(k), v

    def items(self, prefix=b""):
        """A lazy view of (key, value) pairs (of the keys starting with `prefix`): each iteration
        walks a snapshot of the keys, skipping those deleted meanwhile."""
        return _KVItems(self, prefix)

    def values(self, prefix=b""):
        """A lazy view of the values (of the keys starting with `prefix`)."""
        return _KVValues(self, prefix)

    # -- writes --------------------------------------------------------------------------------
    def put(self, key, value, ttl=None, expire_at=None, kind=None):
        """Store `value` under `key`. `ttl`: milliseconds from now (or a timedelta; 0 expires at
        once); `expire_at`: absolute Unix ms (or a datetime); not both. `kind`: force "bytes", "text", "json" or
        "native" (pickle; needs allow_pickle=True)."""
        h = self._h
        if h is None:
            raise ClosedError("KV handle is closed")  # noqa: F821
        if kind is None:
            t = type(value)
            if t is bytes:
                k = KIND_BYTES
            elif t is str:
                k = KIND_TEXT
            else:
                value, k = self._encode(value)
        else:
            value, k = self._encode(value, kind)
        if ttl is None and expire_at is None:
            _kv_put(h, key, value, k)
        else:
            _kv_put_ex(h, key, value, k, _expire_at_ms(ttl, expire_at))

    set = put

    def __setitem__(self, key, value):
        h = self._h
        if h is None:
            raise ClosedError("KV handle is closed")  # noqa: F821
        t = type(value)
        if t is bytes:
            _kv_put(h, key, value, 0)
        elif t is str:
            _kv_put(h, key, value, 1)
        else:
            value, k = self._encode(value)
            _kv_put(h, key, value, k)

    def delete(self, key):
        """Delete `key`; NotFoundError (a KeyError) if it is absent."""
        h = self._h
        if h is None:
            raise ClosedError("KV handle is closed")  # noqa: F821
        _kv_delete(h, key)

    def __delitem__(self, key):
        h = self._h
        if h is None:
            raise ClosedError("KV handle is closed")  # noqa: F821
        _kv_delete(h, key)

    def put_many(self, items, kind=None):
        """Store every (key, value) of `items` (a mapping or pairs) in one transaction, unless one
        is already open (then the batch joins it). The pairs are walked and the values classified
        in C (bytes-like and str directly, other values through the encoder), then written in one
        C loop with the GIL released: the fast way to load data. All or nothing: on an error
        nothing of the batch is written (in a transaction the batch joined, the caller decides)."""
        h = self._handle()
        if type(items) is not dict and isinstance(items, _abc.Mapping):
            items = items.items()
        # the whole batch is taken (and every error about it raised) before the transaction opens
        batch = _c.cairn_py_kv_batch(items, kind, self._encode, type(self)._encode is _Values._encode)
        if self._txn:
            _c.cairn_py_kv_put_batch(h, batch)
            return
        self.begin()
        try:
            _c.cairn_py_kv_put_batch(h, batch)
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def get_many(self, keys, default=None):
        """A list of the values of `keys` (`default` for a missing one), fetched in one C loop."""
        return _c.cairn_py_kv_get_many(self._handle(), keys, default, self._decode)

    def update(self, *args, **kwargs):
        """``update(key, changes)``: merge the fields of dict `changes` into the JSON object stored
        under `key` (NotFoundError if absent, TypeMismatch if the value is not a JSON object);
        the expiry is kept. Otherwise MutableMapping.update: ``update(mapping_or_pairs, **kw)``."""
        if len(args) == 2 and not kwargs:
            return self._merge(args[0], args[1])
        return super().update(*args, **kwargs)

    def _merge(self, key, changes):
        if not isinstance(changes, _abc.Mapping):
            raise TypeMismatch("changes must be a dict, not %s" % type(changes).__name__)  # noqa: F821
        h = self._handle()
        if self._read_only:  # a write: refused before the value is even looked at
            raise ReadOnlyError("KV handle is read-only")  # noqa: F821
        with self._lock:  # read-modify-write: one merge at a time per handle
            r = _kv_get(h, key)
            if r is None:
                raise NotFoundError(key)  # noqa: F821
            data, kind = r
            doc = self._decode(data, kind) if kind == KIND_JSON else None
            if not isinstance(doc, dict):
                raise TypeMismatch("value of %r is not a JSON object" % (key,))  # noqa: F821
            doc.update(changes)
            try:
                exp = _c.cairn_kv_expiry(h, key)
            except NotFoundError:  # noqa: F821  (expired in between)
                raise NotFoundError(key) from None  # noqa: F821
            enc = self._json(doc)
            if exp:
                _kv_put_ex(h, key, enc, KIND_JSON, exp)
            else:
                _kv_put(h, key, enc, KIND_JSON)

    def clear(self):
        """Delete every key."""
        h = self._handle()
        for k in list(self._iter_keys(b"")):
            try:
                _kv_delete(h, k)
            except NotFoundError:  # noqa: F821
                pass


# The common case of KV's hot methods runs in C (cairn_py_kv_fast in cairn_python.i): plain
# positional arguments, a bytes or str value, a stored BYTES or TEXT value, without a Python frame.
# Every other call (keywords, ttl, kind, other types and kinds) runs the Python definition above.
# (`set` and `__contains__`, the aliases of put and exists, get the same C methods.)
# _KV_PY: the Python definitions, which the C methods call for the other cases (and tests compare).
_KV_PY = {n: KV.__dict__[n] for n in ("__getitem__", "__setitem__", "get", "put", "exists")}
_c.cairn_py_kv_fast(KV, _Handle.__dict__["_h"], tuple(
    (name, _KV_PY[name], "%s%s\n--\n\n%s" % (name, sig, _KV_PY[name].__doc__ or ""))
    for name, sig in (("__getitem__", "($self, key)"), ("__setitem__", "($self, key, value)"),
                      ("get", "($self, key, default=None)"),
                      ("put", "($self, key, value, ttl=None, expire_at=None, kind=None)"),
                      ("exists", "($self, key)"))))

_MISSING = object()


class _PrefixView:
    """What the items and values views share: a KV restricted to the keys under a prefix."""

    __slots__ = ()

    def __init__(self, kv, prefix):
        super().__init__(kv)
        self._prefix = prefix

    def __len__(self):
        return len(self._mapping) if not self._prefix else len(self._mapping.keys(self._prefix))


class _KVItems(_PrefixView, _abc.ItemsView):
    __slots__ = ("_prefix",)

    def __iter__(self):
        return self._mapping._iter_items(self._prefix)

    def __contains__(self, item):
        key, value = item
        v = self._mapping.get(key, _MISSING)
        return v is not _MISSING and v == value


class _KVValues(_PrefixView, _abc.ValuesView):
    __slots__ = ("_prefix",)

    def __iter__(self):
        for _, v in self._mapping._iter_items(self._prefix):
            yield v


def check_kv(path):
    KV.check(path)


# ---------------------------------------------------------------------------------------------
# Blob store
# ---------------------------------------------------------------------------------------------

BlobEvent = _namedtuple("BlobEvent", "name key old_size new_size")
_EVENT_NAMES = {_raw.CAIRN_BLOB_CREATED: "created", _raw.CAIRN_BLOB_UPDATED: "updated",
                _raw.CAIRN_BLOB_DELETED: "deleted"}


def _blob_key(key):
    if type(key) is not int:
        if isinstance(key, bool) or not hasattr(type(key), "__index__"):
            raise TypeMismatch("blob key must be an int, not %s" % type(key).__name__)  # noqa: F821
        key = _operator.index(key)  # int subclasses, numpy integers, ...
    if key < 0 or key > 0xFFFFFFFF:
        raise _err("INVALID", "blob key out of range 0..4294967295: %d" % key)
    return key


def _blob_data(data):
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        raise TypeMismatch("blob data must be bytes-like, not str (encode it)")  # noqa: F821
    try:
        memoryview(data)
    except TypeError:
        raise TypeMismatch("blob data must be bytes-like, not %s" % type(data).__name__) from None  # noqa: F821
    return data


class BlobStore(_Events, _abc.Mapping):
    """A blob store in one file: uint32 keys assigned by the store -> bytes.

    A Mapping over int keys (``store[k]``, ``k in store``, ``len``, iteration in ascending key
    order) plus create / create_with_key / reserve_next_key / read / update / delete,
    transactions, sync, compact, stats, and change events (on_created / on_updated /
    on_deleted). Data may be any bytes-like object. Options: create, read_only (bool),
    sync ("none" | "commit" | "group"), lock_timeout_ms (int, 0..2**32-1).
    """

    __slots__ = ()
    _raw = _Engine("blob")
    _EVENTS = _EVENT_NAMES

    def _snapshot_path(self, name):
        # a file store keeps its snapshots beside it: <path>-snapshots/<name>/blob (docs/snapshots.md)
        return "%s-snapshots/%s/blob" % (self._path, name)

    def _event(self, event, key, old_size, new_size):
        return BlobEvent(_EVENT_NAMES.get(event, str(event)), key, old_size, new_size)

    # -- operations ----------------------------------------------------------------------------
    def create(self, data):
        """Store `data` under a new key and return the key."""
        return self._write(_c.cairn_blob_create, self._handle(), _blob_data(data))

    def reserve_next_key(self):
        """Hand out the next key without storing anything (never handed out again)."""
        return _c.cairn_blob_reserve_next_key(self._handle())

    def create_with_key(self, key, data):
        """Store `data` under `key`; ExistsError if it is present."""
        self._write(_c.cairn_blob_create_with_key, self._handle(), _blob_key(key), _blob_data(data))

    def read(self, key):
        """The bytes under `key`; NotFoundError (a KeyError) if absent."""
        h = self._handle()
        return _c.cairn_blob_read(h, _blob_key(key))

    __getitem__ = read

    def update(self, key, data):
        """Replace the bytes under `key`; NotFoundError if absent."""
        self._write(_c.cairn_blob_update, self._handle(), _blob_key(key), _blob_data(data))

    def delete(self, key):
        """Delete `key`; NotFoundError if absent."""
        self._write(_c.cairn_blob_delete, self._handle(), _blob_key(key))

    def exists(self, key):
        """True if `key` is present; also ``key in store``."""
        h = self._handle()
        return _c.cairn_blob_exists(h, _blob_key(key))

    __contains__ = exists

    def count(self):
        return _c.cairn_blob_count(self._handle())

    __len__ = count

    def __iter__(self):
        """Iterate over the keys live when iteration starts, ascending."""
        it = _c.cairn_blob_iter_open(self._handle())
        try:
            nxt = _c.cairn_blob_iter_next
            while True:
                k = nxt(it)
                if k is None:
                    return
                yield k
        finally:
            _c.cairn_blob_iter_free(it)

    def keys(self):
        """A list of the live keys, ascending."""
        return list(iter(self))

    def sync(self):
        """Make everything durable and checkpoint the WAL into the data file."""
        _Store.sync(self)

    # -- events (the base: on_<name>, subscribe/unsubscribe, remove_listener) -------------------
    def on_created(self, callback):
        """Call ``callback(event)`` (a BlobEvent) after each durable create; usable as a decorator."""
        return self._on(("created",), callback)

    def on_updated(self, callback):
        """Call ``callback(event)`` after each durable update (event.old_size, event.new_size)."""
        return self._on(("updated",), callback)

    def on_deleted(self, callback):
        """Call ``callback(event)`` after each durable delete."""
        return self._on(("deleted",), callback)


def check_blob(path):
    BlobStore.check(path)


# ---------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------

TableEvent = _namedtuple("TableEvent", "name id new_row old_row")
_TABLE_EVENT_NAMES = {_raw.CAIRN_TABLE_INSERTED: "inserted", _raw.CAIRN_TABLE_UPDATED: "updated",
                      _raw.CAIRN_TABLE_DELETED: "deleted"}

Column = _namedtuple("Column", "name type nullable primary_key unique default",
                     defaults=(None, False, False, None))
Column.__doc__ = """One column of a table's schema: ``Column("score", "f64", nullable=True, default=0.5)``.

name: [A-Za-z_][A-Za-z0-9_]*; type: i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 bool string bytes
bytes:N timestamp; nullable: None for the core's default (nullable, except a primary key);
primary_key, unique: bool; default: a value of the column's type (None: no default)."""

_U64_MAX = 2**64 - 1
_US = _dt.timedelta(microseconds=1)
_EPOCH_NAIVE = _dt.datetime(1970, 1, 1)
_INF = float("inf")


def _ts_in(v):
    """A timestamp column's value: a datetime (a naive one is taken as UTC) -> its microseconds
    since the Unix epoch."""
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            return (v - _EPOCH_NAIVE) // _US
        return (v - _EPOCH) // _US
    raise TypeMismatch("a timestamp column takes a datetime, not %s" % type(v).__name__)  # noqa: F821


def _ts_out(us):
    try:
        return _EPOCH + _dt.timedelta(microseconds=us)
    except OverflowError:  # beyond datetime's years 1..9999: the microseconds themselves
        return us


def _json_default(o):
    # Values json does not know: bytes-likes take their tagged form ({"$bytes": hex}; in a column
    # that is not bytes the core then says CAIRN_TYPE), numbers of other libraries (NumPy) their
    # Python value; anything else is a wrong type.
    if isinstance(o, (bytes, bytearray)):
        return {"$bytes": o.hex()}
    if isinstance(o, memoryview):
        return {"$bytes": o.tobytes().hex()}
    if isinstance(o, _dt.datetime):
        raise TypeMismatch("a datetime is a value of a timestamp column only")  # noqa: F821
    if isinstance(o, _numbers.Integral):
        return int(o)
    if isinstance(o, _numbers.Real):
        return float(o)
    raise TypeMismatch("a table value cannot be a %s" % type(o).__name__)  # noqa: F821


_row_dumps = _json.JSONEncoder(allow_nan=False, check_circular=False, separators=(",", ":"),
                               default=_json_default).encode
_row_loads = _json.loads


def _f64_tag(v):
    if type(v) is float or isinstance(v, float):
        if v != v:
            return {"$f64": "nan"}
        if v == _INF:
            return {"$f64": "inf"}
        if v == -_INF:
            return {"$f64": "-inf"}
    return v


def _tag_floats(obj):
    # The tagged form of NaN and the infinities, in a row (dict), a list of rows, or load()'s columns.
    if isinstance(obj, dict):
        return {k: _tag_floats(v) if isinstance(v, (list, dict)) else _f64_tag(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_tag_floats(v) if isinstance(v, (list, dict)) else _f64_tag(v) for v in obj]
    return _f64_tag(obj)


def _dumps(obj):
    try:
        return _row_dumps(obj)
    except ValueError:  # NaN or an infinity: their tagged form
        return _row_dumps(_tag_floats(obj))
    except Error:
        raise
    except (TypeError, RecursionError) as e:  # e.g. a key that is not a str
        raise TypeMismatch("not a table row: %s" % e) from None  # noqa: F821


def _untag(d):
    if len(d) == 1:
        if "$bytes" in d:
            return bytes.fromhex(d["$bytes"])
        if "$f64" in d:
            return float(d["$f64"])
    return d


_tagged_loads = _json.JSONDecoder(object_hook=_untag).decode


def _loads(s):
    # '"$' only occurs in the text of a tagged value (a quote inside a string is escaped)
    return _tagged_loads(s) if '"$' in s else _row_loads(s)


def _as_row(row, what="row"):
    if isinstance(row, dict):
        return row
    if isinstance(row, _abc.Mapping):
        return dict(row)
    raise TypeMismatch("a %s must be a dict of column -> value, not %s" % (what, type(row).__name__))  # noqa: F821


def _ts_row(row, ts_names):
    """`row` with the datetimes of its timestamp columns as microseconds (a copy when any)."""
    d = None
    for name in ts_names:
        v = row.get(name)
        if v is not None:
            if d is None:
                d = dict(row)
            d[name] = _ts_in(v)
    return row if d is None else d


def _make_codec(ts_names):
    """The row encoder (dict -> JSON text) and decoder (JSON text -> dict) of a schema whose
    timestamp columns are `ts_names`: the only columns that need a conversion of their own."""
    ts_names = tuple(ts_names)
    if not ts_names:
        def enc(row):
            if type(row) is not dict:
                row = _as_row(row)
            try:
                return _row_dumps(row)
            except Exception:  # noqa: BLE001  the slow path sorts it out (or says why not)
                return _dumps(row)

        def dec(s):
            return _tagged_loads(s) if '"$' in s else _row_loads(s)
        return enc, dec

    def enc(row):
        if type(row) is not dict:
            row = _as_row(row)
        return _dumps(_ts_row(row, ts_names))

    def dec(s):
        d = _tagged_loads(s) if '"$' in s else _row_loads(s)
        for name in ts_names:
            v = d.get(name)
            if v is not None:
                d[name] = _ts_out(v)
        return d
    return enc, dec


def _check_schema(name, v):
    """The schema option: the text form, or a list of Column / dict (-> the JSON array form)."""
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(c, str) for c in v):
            return ", ".join(v)
        return _dumps([_column_json(c) for c in v])
    raise TypeMismatch("schema must be a str or a list of columns, not %s" % type(v).__name__)  # noqa: F821


def _column_fields(c):
    if isinstance(c, Column):
        return c._asdict()
    if isinstance(c, _abc.Mapping):
        d = dict(c)
        for k in d:
            if k not in Column._fields:
                raise _err("INVALID", "unknown column field %r" % (k,))
        if "name" not in d or "type" not in d:
            raise _err("INVALID", "a column needs a name and a type")
        return d
    raise TypeMismatch("a column must be a cairn.Column or a dict, not %s" % type(c).__name__)  # noqa: F821


def _column_json(c):
    """A column as an object of the JSON array form of the schema."""
    d = _column_fields(c)
    out = {"name": d["name"], "type": d["type"]}
    for k in ("nullable", "primary_key", "unique"):
        v = d.get(k)
        if v is not None and (k == "nullable" or v):
            out[k] = v
    dv = d.get("default")
    if dv is not None:
        if d["type"] == "timestamp":
            dv = _ts_in(dv)
        out["default"] = dv
    return out


def _literal(v, ctype):
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if ctype == "timestamp" and isinstance(v, _dt.datetime):
        return str(_ts_in(v))
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "x'" + bytes(v).hex() + "'"
    raise TypeMismatch("a column default cannot be a %s" % type(v).__name__)  # noqa: F821


def _column_text(c):
    """A column in the text form (add_column's spec)."""
    if isinstance(c, str):
        return c
    d = _column_fields(c)
    parts = [str(d["name"]), str(d["type"])]
    if d.get("primary_key"):
        parts.append("primary key")
    if d.get("unique"):
        parts.append("unique")
    if d.get("nullable") is False:
        parts.append("not null")
    elif d.get("nullable") is True:
        parts.append("null")
    if d.get("default") is not None:
        parts.append("default " + _literal(d["default"], d["type"]))
    return " ".join(parts)


def _row_id(i):
    """A row id argument: an int (bool is not one); None when it cannot name a row."""
    if type(i) is not int:
        if isinstance(i, bool) or not hasattr(type(i), "__index__"):
            raise TypeMismatch("a row id must be an int, not %s" % type(i).__name__)  # noqa: F821
        i = _operator.index(i)
    if i < 1 or i > _U64_MAX:
        return None
    return i


class Table(_Events):
    """A columnar table in directory `path`: rows of typed columns under ids handed out by insert
    (u64, from 1, never reused).

    ``Table(path, schema=...)`` creates the table when missing (the schema is stored: reopening
    needs none; a different schema is SchemaError). schema: the text form
    ("id i64 primary key, name string, score f64 null") or a list of :class:`Column` / dicts.
    Other options: create, read_only (bool), sync ("none" | "commit" | "group"), lock_timeout_ms,
    checkpoint_rows (int).

    Rows are dicts {column: value}. Values by column type: int (i8..u64, exact), float (f32, f64;
    NaN and the infinities too), bool, str (string), bytes-like (bytes, bytes:N; read back as
    bytes), datetime (timestamp, microsecond precision; read back timezone-aware UTC; a naive
    datetime is taken as UTC), None (null). A value of another type is TypeMismatch.

    ``t.insert(row)`` -> id, ``t[id]`` (NotFoundError, a KeyError, when absent), ``t.get(id)``
    (None when absent), ``len(t)``, ``for id, row in t`` (id order), update/delete/upsert,
    insert_many, load (column batches), transactions (``with t.transaction():``), events
    (subscribe or on_inserted/on_updated/on_deleted: delivered after the call, a transaction's
    after its commit).
    """

    __slots__ = ("_enc", "_dec", "_columns", "_ts_names", "_codec")
    _raw = _Engine("table")
    _options = {"schema": _check_schema, "checkpoint_rows": _check_uint(2**32 - 1)}
    _EVENTS = _TABLE_EVENT_NAMES

    def __init__(self, path, schema=None, **options):
        self._enc = self._dec = None
        if schema is not None:
            options["schema"] = schema
        _Events.__init__(self, path, **options)
        self._load_schema()

    def _adopted(self, like):
        self._enc = self._dec = None
        _Events._adopted(self, like)
        self._load_schema()

    def _load_schema(self):
        cols = _row_loads(_c.cairn_table_schema(self._handle(), 1))
        self._ts_names = tuple(c["name"] for c in cols if c["type"] == "timestamp")
        self._enc, self._dec = _make_codec(self._ts_names)
        # what the C fast paths need: names, cairn_type codes, "missing/None goes the JSON way"
        # (a default or NOT NULL), the N of bytes:N
        types = [_TYPE_CODES.get(c["type"], _raw.CAIRN_TYPE_FIXED if c["type"].startswith("bytes:") else 0)
                 for c in cols]
        self._codec = (tuple(_sys.intern(c["name"]) for c in cols), bytes(types),
                       bytes(1 if c.get("default") is not None or not c.get("nullable", True) else 0 for c in cols),
                       tuple(int(c["type"][6:]) if c["type"].startswith("bytes:") else 0 for c in cols))
        out = []
        for c in cols:
            dv = c.get("default")
            if isinstance(dv, dict):
                dv = _untag(dv)
            elif c["type"] == "timestamp" and type(dv) is int:
                dv = _ts_out(dv)
            out.append(Column(c["name"], c["type"], bool(c.get("nullable")), bool(c.get("primary_key")),
                              bool(c.get("unique")), dv))
        self._columns = out

    def _event(self, event, row_id, new_row, old_row):
        dec = self._dec
        return TableEvent(_TABLE_EVENT_NAMES.get(event, str(event)), row_id,
                          None if new_row is None else dec(new_row), None if old_row is None else dec(old_row))

    # -- schema --------------------------------------------------------------------------------
    @property
    def schema(self):
        """The columns, in order: a list of :class:`Column`."""
        self._handle()
        return list(self._columns)

    @property
    def columns(self):
        """The column names, in order."""
        self._handle()
        return [c.name for c in self._columns]

    def schema_text(self):
        """The schema in its canonical text form."""
        return _c.cairn_table_schema(self._handle(), 0)

    def add_column(self, column):
        """Add a column (the text form "name type [constraints]", a Column or a dict); existing rows
        get its default. Not inside a transaction (TxnError)."""
        _c.cairn_table_add_column(self._handle(), _column_text(column))
        self._load_schema()

    # -- rows ----------------------------------------------------------------------------------
    def insert(self, row):
        """Insert `row` (a dict; columns left out take their default) and return its new id."""
        h = self._h
        if h is None:
            raise ClosedError("Table handle is closed")  # noqa: F821
        try:
            i = _tbl_insert_fast(h, row, self._codec)
            if i is None:  # not a plain row of the column's usual types: the JSON path
                i = _tbl_insert(h, self._enc(row))
            return i
        finally:
            if self._pending:
                self._after_call()

    def insert_many(self, rows):
        """Insert every row of `rows`, all or nothing; returns their ids."""
        h = self._handle()
        try:
            rows = list(rows)
        except TypeError:
            raise TypeMismatch("rows must be an iterable of dicts, not %s" % type(rows).__name__) from None  # noqa: F821
        ts = self._ts_names
        for i, r in enumerate(rows):
            if type(r) is not dict:
                rows[i] = r = _as_row(r)
            if ts:
                rows[i] = _ts_row(r, ts)
        text = _dumps(rows)  # one call of the json encoder for the whole batch
        return _row_loads(self._write(_c.cairn_table_insert_many_json, h, text))

    def upsert(self, row):
        """Insert `row`, or update the live row with the same primary key (with the columns given);
        returns the row's id. InvalidError if the table has no primary key or `row` lacks it."""
        h = self._handle()
        return self._write(_c.cairn_table_upsert_json, h, self._enc(row))

    def get(self, row_id, default=None):
        """Row `row_id` as a dict, or `default` when there is none."""
        h = self._h
        if h is None:
            raise ClosedError("Table handle is closed")  # noqa: F821
        if type(row_id) is not int or row_id < 1 or row_id > _U64_MAX:
            row_id = _row_id(row_id)
            if row_id is None:
                return default
        return _tbl_get_fast(h, row_id, self._codec, default)

    def __getitem__(self, row_id):
        r = self.get(row_id, _MISSING)
        if r is _MISSING:
            raise NotFoundError("no row %r" % (row_id,))  # noqa: F821
        return r

    def __contains__(self, row_id):
        try:
            return self.get(row_id, _MISSING) is not _MISSING
        except TypeError:
            return False

    def update(self, row_id, changes):
        """Set the columns of dict `changes` in row `row_id`; NotFoundError if it is absent."""
        h = self._handle()
        changes = _as_row(changes, "changes")
        i = _row_id(row_id)
        if i is None:
            raise NotFoundError("no row %r" % (row_id,))  # noqa: F821
        if self._write(_c.cairn_py_table_update, h, i, changes, self._codec) is None:  # the JSON path
            self._write(_c.cairn_table_update_json, h, i, self._enc(changes))

    def delete(self, row_id):
        """Delete row `row_id`; NotFoundError (a KeyError) if it is absent."""
        h = self._handle()
        i = _row_id(row_id)
        if i is None:
            raise NotFoundError("no row %r" % (row_id,))  # noqa: F821
        self._write(_c.cairn_table_delete, h, i)

    __delitem__ = delete

    def count(self):
        """The number of live rows (also ``len(t)``)."""
        return _c.cairn_table_count(self._handle())

    @classmethod
    def repair(cls, path):
        """Verify the closed table at `path` as check() does, then rebuild what is derived from its
        data (the manifest's copies of every segment's encoding and zone map). Returns how many
        segment references were rebuilt (0: nothing was wrong). Damaged data is CorruptError
        (naming the file and offset) and nothing is written; LockedError while a writer has it."""
        return _c.cairn_table_repair(_path(path))

    __len__ = count

    def __iter__(self):
        """(id, row) of the live rows in id order, from a snapshot taken when iteration starts."""
        it = _c.cairn_table_iter_open(self._handle())
        try:
            batch = _c.cairn_py_table_iter_batch
            codec = self._codec
            n = 16
            while True:
                rows = batch(self._handle(), it, codec, n)
                if not rows:
                    return
                for r in rows:
                    yield r
                    if self._h is None:
                        raise ClosedError("Table handle is closed")  # noqa: F821
                n = min(n * 4, 1024)  # small first batches: a loop that breaks early reads little
        finally:
            _c.cairn_table_iter_free(it)

    items = __iter__

    def ids(self):
        """The ids of the live rows, ascending."""
        return [i for i, _ in self]

    def rows(self):
        """A list of every live row (dicts), in id order."""
        return [r for _, r in self]

    def load(self, columns):
        """Insert a batch given by column: ``{"name": [values...], ...}`` (every column the same
        length); columns left out take their default. All or nothing. Returns the new ids (a range:
        they are consecutive).

        A column may also be a one-dimensional buffer of the column's C type (NumPy arrays,
        array.array, memoryview: int64 'q' for i64, float64 'd' for f64, bool '?' for bool, ...;
        NumPy datetime64 for timestamp columns): when every column given is one, the batch goes to
        the core in one call without a copy. Anything else (lists, strings, bytes, NaT, masked
        arrays) takes the general path, which converts value by value."""
        h = self._handle()
        if not isinstance(columns, _abc.Mapping):
            raise TypeMismatch("columns must be a dict of column -> list of values")  # noqa: F821
        ts = self._ts_names
        fast = {}
        for name, values in columns.items():
            dtype = getattr(values, "dtype", None)
            if getattr(dtype, "kind", None) == "M" and not hasattr(values, "mask"):
                us = values.astype("datetime64[us]")
                if not (us != us).any():  # NaT: the general path makes it null
                    values = us.view("int64")
            fast[name] = values
        r = self._write(_c.cairn_py_table_load_buffers, h, self._codec, fast)
        if r is not None:
            return range(r[0], r[0] + r[1])
        batch = {}
        n = None
        for name, values in columns.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, _abc.Iterable):
                raise TypeMismatch("column %r: expected a list of values, not %s" % (name, type(values).__name__))  # noqa: F821
            conv = name in ts
            dtype = getattr(values, "dtype", None)
            if dtype is not None and hasattr(values, "tolist"):  # NumPy
                if hasattr(values, "mask"):  # a masked array: masked values are null
                    values = values.astype(object).filled(None)
                if getattr(dtype, "kind", None) == "M":  # datetime64: microseconds, NaT as null
                    us = values.astype("datetime64[us]")
                    nat = us != us
                    values = [None if m else v for v, m in zip(us.astype("int64").tolist(), nat.tolist())]
                    conv = False
                else:
                    values = values.tolist()
            else:
                values = list(values)
            if conv:
                values = [None if v is None else _ts_in(v) for v in values]
            batch[name] = values
            n = len(values) if n is None else n
        first = self._write(_c.cairn_table_load_json, h, _dumps(batch))
        return range(first, first + (n or 0))

    # -- transactions ----------------------------------------------------------------------------
    @property
    def in_txn(self):
        """True while a transaction is open (asks the core)."""
        return _c.cairn_table_in_txn(self._handle())

    # -- events ----------------------------------------------------------------------------------
    def on_inserted(self, callback):
        """Call ``callback(event)`` (a TableEvent: name, id, new_row, old_row) after each durable
        insert; usable as a decorator."""
        return self._on(("inserted",), callback)

    def on_updated(self, callback):
        """Call ``callback(event)`` after each durable update (event.old_row, event.new_row)."""
        return self._on(("updated",), callback)

    def on_deleted(self, callback):
        """Call ``callback(event)`` after each durable delete (event.old_row)."""
        return self._on(("deleted",), callback)

    # -- queries (docs/queries.md) ---------------------------------------------------------------
    def query(self, spec=None, **keys):
        """Run a query: `spec` (and/or keyword arguments) holds the keys of the core's query object:
        where, params, columns, order, limit, offset, aggregates, group_by, format ("rows" |
        "columns"). Returns a list of row dicts (a QueryRows: .columns lists the ResultColumn(name, type)
        of the result), or with format="columns" a dict of column name -> list of values (a
        QueryColumns, with .columns and .count).
        Values come back as rows do (datetimes for timestamps, bytes for bytes
        columns); WHERE values and params take the same Python values (a datetime compares with a
        timestamp column, bytes with a bytes column)."""
        return self._query_text(_query_json(spec, keys))

    def _query_text(self, text):
        return _result_out(_c.cairn_table_query_json(self._handle(), text))

    def select(self, where=None, params=None, columns=None, order=None, limit=None, offset=None):
        """The rows matching `where` (text with `?` and `params`, a (column, op, value) triple, a
        list of them, a dict shorthand {"age": {"ge": 21}}, or $and/$or/$not dicts), projected on
        `columns` ("_id" is the row id), ordered by `order` (["name", "-score"]), sliced by
        limit/offset: a list of dicts."""
        return self.query(_drop_none(where=where, params=params, columns=columns, order=order, limit=limit,
                                     offset=offset))

    def count_where(self, where=None, params=None):
        """The number of live rows matching `where` (as select's)."""
        return _c.cairn_table_count_where_json(self._handle(), _query_json(None, _drop_none(where=where, params=params)))

    def aggregate(self, fn, column=None, where=None, params=None):
        """One aggregate over the rows matching `where`: fn "count" (column None: every row),
        "count_distinct", "sum", "min", "max", "avg". None for sum/min/max/avg of no values."""
        agg = {"fn": fn, "as": "value"}
        if column is not None:
            agg["column"] = column
        rows = self.query(_drop_none(where=where, params=params, aggregates=[agg]))
        return rows[0]["value"] if rows else None

    def group_by(self, by, *aggregates, where=None, params=None, order=None, limit=None, offset=None, **named):
        """One row per group of the columns `by` (a name or a list): the group columns, then the
        aggregates: positional ones as dicts {"fn", "column", "as"} or tuples (fn, column[, as]),
        named ones as alias=(fn, column) or alias="count". Ordered by the group columns unless
        `order` names result columns."""
        aggs = [_agg_spec(a) for a in aggregates]
        for alias, a in named.items():
            d = _agg_spec(a)
            d["as"] = alias
            aggs.append(d)
        return self.query(_drop_none(group_by=[by] if isinstance(by, str) else list(by), aggregates=aggs,
                                     where=where, params=params, order=order, limit=limit, offset=offset))

    def join(self, other, on=None, type=None, where=None, params=None, right_where=None,  # noqa: A002
             right_params=None, columns=None, order=None, limit=None, offset=None, format=None,  # noqa: A002
             query=None):
        """Join this table (left) with `other` (right; may be this table) on equal columns: `on` is
        a column name both have, a (left, right) pair, a list of those, or a dict {left: right}.
        type "inner" (the default) or "left" (unmatched left rows once, right columns None).
        where/params filter the left rows, right_where/right_params the right ones; columns, order,
        limit, offset and format as in query(), column names "left.x" / "right.y". `query` may hold
        the join object of the C API as a dict ({"on": [[l, r]], ...}, passed as it is); the other
        arguments given (not None) go over its keys."""
        if not isinstance(other, Table):
            raise TypeMismatch("join: other must be a cairn.Table, not %s" % other.__class__.__name__)  # noqa: F821
        spec = {}
        if query is not None:
            if not isinstance(query, _abc.Mapping):
                raise TypeMismatch("join: query must be a dict, not %s" % query.__class__.__name__)  # noqa: F821
            spec.update(query)
        if on is not None:
            spec["on"] = _join_on(on)
        spec.update(_drop_none(type=type, where=where, params=params, right_where=right_where,
                               right_params=right_params, columns=columns, order=order, limit=limit, offset=offset,
                               format=format))
        return _result_out(_c.cairn_table_join_json(self._handle(), other._handle(), _query_json(spec, None)))

    def where(self, where=None, *params, **equal):
        """A :class:`Query` of this table with a first filter (see Query.filter)."""
        return Query(self).filter(where, *params, **equal)

    filter = where

    # -- indexes ---------------------------------------------------------------------------------
    def create_index(self, column, kind="hash"):
        """Create a "hash" (equality) or "range" (ordered) index on `column`; it follows every write
        and is stored in the table. ExistsError if it exists, SchemaError for an unknown column; not
        inside a transaction (TxnError)."""
        _c.cairn_table_create_index(self._handle(), _text_arg(column, "column"), _index_kind(kind))

    def drop_index(self, column, kind="hash"):
        """Drop the index; NotFoundError if there is none such."""
        _c.cairn_table_drop_index(self._handle(), _text_arg(column, "column"), _index_kind(kind))

    def indexes(self):
        """The indexes: a list of Index(column, kind, unique), in schema order, hash before range
        (unique: the implicit hash index of a PRIMARY KEY / UNIQUE column, which cannot be dropped)."""
        return [Index(d["column"], d["kind"], bool(d.get("unique")))
                for d in _row_loads(_c.cairn_table_indexes(self._handle()))]

    def lookup(self, column, value):
        """The ids (ascending) of the live rows whose `column` equals `value` (None matches
        nothing); uses a hash index when there is one."""
        return _row_loads(_c.cairn_table_lookup_json(self._handle(), _text_arg(column, "column"),
                                                     self._value_json(column, value)))

    def find(self, conditions=None, **equal):
        """The ids (ascending) of the live rows where every column equals its value:
        ``t.find(name="Ada", age=36)`` or ``t.find({"name": "Ada"})``; uses indexes when there are."""
        cond = {}
        if conditions is not None:
            cond.update(_as_row(conditions, "conditions"))
        cond.update(equal)
        return _row_loads(_c.cairn_table_find_json(self._handle(), self._enc(cond)))

    def range_find(self, column, lo=None, hi=None, lo_inclusive=True, hi_inclusive=True):
        """The ids (ascending) of the live rows with lo <= column <= hi (None: no bound; a bound is
        exclusive with lo_inclusive / hi_inclusive False); uses a range index when there is one."""
        flags = (0 if lo_inclusive else _raw.CAIRN_RANGE_LO_OPEN) | (0 if hi_inclusive else _raw.CAIRN_RANGE_HI_OPEN)
        return _row_loads(_c.cairn_table_range_find_json(self._handle(), _text_arg(column, "column"),
                                                         None if lo is None else self._value_json(column, lo),
                                                         None if hi is None else self._value_json(column, hi), flags))

    def _value_json(self, column, value):
        # one value of `column` as a row value (a datetime for a timestamp column, as in rows)
        if value is not None and column in self._ts_names:
            value = _ts_in(value)
        return _dumps(value)

    # -- export ----------------------------------------------------------------------------------
    def __arrow_c_stream__(self, requested_schema=None):
        """The Arrow PyCapsule interface: a PyCapsule "arrow_array_stream" of every live row
        (pyarrow.table(t), polars.from_arrow(t), ...). `requested_schema` is not applied (the
        table's own types are exported)."""
        return _c.cairn_py_table_arrow_stream(self._handle(), None)

    def __arrow_c_schema__(self):
        """The Arrow PyCapsule interface: a PyCapsule "arrow_schema" of the exported columns."""
        return _c.cairn_py_table_arrow_schema(self._handle(), None)

    def arrow(self, query=None, **keys):
        """The rows of a query (where, params, columns, ...; as query()) as an object of the Arrow
        PyCapsule interface: ``pyarrow.table(t.arrow(where="score > ?", params=[5]))``."""
        return ArrowExport(self, _query_json(query, keys) if query is not None or keys else None)

    def column(self, name):
        """Column `name` of every live row, in id order, as a read-only buffer (PEP 3118, one
        dimension, format "q" for i64 and timestamp microseconds, "d" for f64, "?" for bool, ...):
        ``numpy.frombuffer(t.column("score"), dtype=numpy.float64)`` takes it without a copy. The
        values stay valid while any view of it lives, also after the table closes. Nulls: the view
        has every row; ``.validity`` is None when no value is null, else the Arrow validity bitmap
        (bytes, bit i least significant first, set when value i is not null), and ``.null_count``
        counts them; the value under a null is unspecified. String and bytes columns are
        TypeMismatch (read them through the Arrow stream)."""
        return _c.cairn_py_table_column(self._handle(), _text_arg(name, "column"))

    def export_ipc(self, query=None, **keys):
        """The rows of a query (as arrow()) as Arrow IPC stream bytes (what pyarrow.ipc.open_stream
        and apache-arrow's tableFromIPC read)."""
        return _c.cairn_table_export_ipc(self._handle(), _query_json(query, keys) if query is not None or keys else None)


_tbl_insert = _c.cairn_table_insert_json
_tbl_insert_fast = _c.cairn_py_table_insert
_tbl_get_fast = _c.cairn_py_table_get
_TYPE_CODES = {name: getattr(_raw, "CAIRN_TYPE_" + name.upper())
               for name in ("i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64", "bool", "string",
                            "bytes", "timestamp")}


def check_table(path):
    """Verify the table directory at `path` read-only (CorruptError says what is wrong)."""
    Table.check(path)


def repair_table(path):
    """Table.repair(path): rebuild what is derived; the number of segment references rebuilt."""
    return Table.repair(path)


# ---------------------------------------------------------------------------------------------
# Table queries: the query object of cairn_table_query_json built from Python values
# ---------------------------------------------------------------------------------------------

Index = _namedtuple("Index", "column kind unique", defaults=(False,))
Index.__doc__ = """An index of a table (Table.indexes): its column, kind ("hash" or "range") and whether it is the
implicit unique index of a PRIMARY KEY / UNIQUE column."""
ResultColumn = _namedtuple("ResultColumn", "name type")
ResultColumn.__doc__ = """A column of a query result: its name and type name ("i64", "timestamp", "u64" for counts)."""


class QueryRows(list):
    """A query's rows: a list of dicts, with `columns` (the result's ResultColumn list)."""

    __slots__ = ("columns",)


class QueryColumns(dict):
    """A query's result in the "columns" format: a dict of column name -> list of values, with
    `columns` (the result's ResultColumn list) and `count` (the number of rows)."""

    __slots__ = ("columns", "count")
_INDEX_KINDS = {"hash": _raw.CAIRN_INDEX_HASH, "range": _raw.CAIRN_INDEX_RANGE}


def _index_kind(kind):
    if isinstance(kind, str):
        return _INDEX_KINDS.get(kind, 0)  # 0: the core's InvalidError names it
    raise TypeMismatch("index kind must be \"hash\" or \"range\", not %s" % type(kind).__name__)  # noqa: F821


def _qvalue(v):
    """A value inside a query (WHERE, params, lookups) -> its JSON form: a datetime as microseconds
    (naive ones as UTC), tuples as lists, NaN and the infinities tagged; bytes are tagged by _dumps."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v
    if isinstance(v, _dt.datetime):
        return _ts_in(v)
    if isinstance(v, _abc.Mapping):
        return {k: _qvalue(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_qvalue(x) for x in v]
    if isinstance(v, float):
        return _f64_tag(v)
    return v


def _drop_none(**kw):
    return {k: v for k, v in kw.items() if v is not None}


def _query_json(spec, keys):
    """The query object (a mapping, plus keyword keys) as JSON text."""
    if spec is None:
        d = {}
    elif isinstance(spec, _abc.Mapping):
        d = dict(spec)
    else:
        raise TypeMismatch("a query must be a dict of its keys (where, params, columns, ...), not %s"  # noqa: F821
                           % type(spec).__name__)
    if keys:  # keyword keys given as None are left out (limit=None: no limit)
        d.update((k, v) for k, v in keys.items() if v is not None)
    return _dumps(_qvalue(d))


def _agg_spec(a):
    """An aggregate: a dict {"fn", "column", "as"}, a tuple (fn, column[, as]) or a fn name."""
    if isinstance(a, str):
        return {"fn": a}
    if isinstance(a, _abc.Mapping):
        return dict(a)
    if isinstance(a, (tuple, list)) and 1 <= len(a) <= 3:
        d = {"fn": a[0]}
        if len(a) > 1 and a[1] is not None:
            d["column"] = a[1]
        if len(a) > 2 and a[2] is not None:
            d["as"] = a[2]
        return d
    raise TypeMismatch("an aggregate is a dict, a (fn, column[, as]) tuple or a fn name, not %r" % (a,))  # noqa: F821


def _join_on(on):
    """join's `on`: "col", ("left", "right"), a list of those, or {left: right} -> [[l, r], ...]."""
    if isinstance(on, str):
        return [[on, on]]
    if isinstance(on, _abc.Mapping):
        return [[k, v] for k, v in on.items()]
    if isinstance(on, tuple) and len(on) == 2 and all(isinstance(x, str) for x in on):
        return [list(on)]
    if isinstance(on, (list, tuple)):
        out = []
        for x in on:
            if isinstance(x, str):
                out.append([x, x])
            elif isinstance(x, (list, tuple)):
                out.append(list(x))
            else:
                out.append(x)  # the core judges it
        return out
    raise TypeMismatch("join: on must be a column name, a (left, right) pair, a list or a dict")  # noqa: F821


def _result_out(text):
    """A query result (JSON text) -> list of rows, or dict of columns for the "columns" format;
    timestamps by the result's column types to datetimes."""
    res = _loads(text)
    cols = [ResultColumn(c["name"], c["type"]) for c in res.get("columns", ())]
    ts = [c.name for c in cols if c.type == "timestamp"]
    if "rows" in res:
        rows = QueryRows(res["rows"])
        if ts:
            _c.cairn_py_ts_fix(rows, tuple(ts))  # in C: ints -> aware datetimes, as _ts_out
        rows.columns = cols
        return rows
    data = QueryColumns(res.get("data", {}))
    if ts:
        _c.cairn_py_ts_fix(data, tuple(ts))
    data.columns = cols
    data.count = res.get("count", 0)
    return data


ColumnView = _c.cairn_py_column_view_type()  # Table.column's result (a read-only buffer)


class ArrowExport:
    """The rows of a query of a table as an object of the Arrow PyCapsule interface
    (Table.arrow(), Query.arrow()): __arrow_c_stream__ and __arrow_c_schema__ each export anew;
    export_ipc() gives the Arrow IPC stream bytes."""

    __slots__ = ("_t", "_q")

    def __init__(self, table, query_json):
        self._t = table
        self._q = query_json

    def __arrow_c_stream__(self, requested_schema=None):
        return _c.cairn_py_table_arrow_stream(self._t._handle(), self._q)

    def __arrow_c_schema__(self):
        return _c.cairn_py_table_arrow_schema(self._t._handle(), self._q)

    def export_ipc(self):
        return _c.cairn_table_export_ipc(self._t._handle(), self._q)

    def __repr__(self):
        return "<cairn.ArrowExport of %r: %s>" % (self._t, self._q or "every row")


class Query:
    """A query of a table built by chaining; every method returns a new Query (the original is
    unchanged), nothing runs until execute()/all(), first(), count(), ids(), to_columns(), arrow(),
    iteration:

        q = cairn.query(t).filter("score > ?", 5).filter(team="red").order("-score").slice(0, 10)
        q.execute()   # list of rows      q.first()   # a row or None      q.count()   # int

    Filters AND together: text filters are joined into one text (their params in order), the other
    forms (triples, dict shorthand, $and/$or/$not dicts, keyword equalities) go beside it in $and."""

    __slots__ = ("_t", "_texts", "_params", "_conds", "_spec")

    def __init__(self, table):
        if not isinstance(table, Table):
            raise TypeMismatch("a Query is of a cairn.Table, not %s" % type(table).__name__)  # noqa: F821
        self._t = table
        self._texts = ()
        self._params = ()
        self._conds = ()
        self._spec = {}

    def _with(self, **changes):
        q = Query.__new__(Query)
        q._t, q._texts, q._params, q._conds, q._spec = self._t, self._texts, self._params, self._conds, self._spec
        spec = changes.pop("spec", None)
        if spec:
            q._spec = dict(self._spec)
            for k, v in spec.items():
                if v is None:
                    q._spec.pop(k, None)
                else:
                    q._spec[k] = v
        for k, v in changes.items():
            setattr(q, k, v)
        return q

    # -- building --------------------------------------------------------------------------------
    def filter(self, where=None, *params, **equal):
        """AND a condition: a text WHERE with its `?` params (``filter("age >= ? AND team = ?", 21,
        "red")``), a (column, op, value) triple, a list of triples, a dict (shorthand or
        $and/$or/$not), and/or keyword equalities (``filter(team="red")``)."""
        texts, ps, conds = self._texts, self._params, self._conds
        if isinstance(where, str):
            texts = texts + (where,)
            ps = ps + params
        elif params:
            raise _err("INVALID", "params are for a text WHERE")
        elif where is not None:
            conds = conds + (where,)
        if equal:
            conds = conds + (dict(equal),)
        return self._with(_texts=texts, _params=ps, _conds=conds)

    where = filter

    def select(self, *columns):
        """Project on these columns ("_id" is the row id); none: every column."""
        if len(columns) == 1 and isinstance(columns[0], (list, tuple)):
            columns = tuple(columns[0])
        return self._with(spec={"columns": list(columns) if columns else None})

    def order(self, *keys):
        """Order by these keys ("name" ascending, "-name" descending, or (name, "asc"|"desc"));
        replaces an earlier order. Ties go by id."""
        if len(keys) == 1 and isinstance(keys[0], list):
            keys = tuple(keys[0])
        return self._with(spec={"order": [list(k) if isinstance(k, tuple) else k for k in keys] or None})

    order_by = order

    def limit(self, n):
        return self._with(spec={"limit": n})

    def offset(self, n):
        return self._with(spec={"offset": n})

    def slice(self, start, stop=None):
        """Rows start..stop-1 of the result (offset start, limit stop - start)."""
        if stop is not None and stop < start:
            stop = start
        return self._with(spec={"offset": start or None, "limit": None if stop is None else stop - start})

    def __getitem__(self, s):
        if not isinstance(s, slice) or s.step not in (None, 1):
            raise TypeMismatch("a Query takes a slice q[start:stop]")  # noqa: F821
        return self.slice(s.start or 0, s.stop)

    def group_by(self, *columns):
        """Group by these columns (with aggregates: one row per group)."""
        return self._with(spec={"group_by": list(columns) or None})

    def aggregate(self, *aggregates, **named):
        """Add aggregates (as Table.group_by's: dicts, (fn, column[, as]) tuples, alias=(fn, column))."""
        aggs = list(self._spec.get("aggregates", ())) + [_agg_spec(a) for a in aggregates]
        for alias, a in named.items():
            d = _agg_spec(a)
            d["as"] = alias
            aggs.append(d)
        return self._with(spec={"aggregates": aggs})

    agg = aggregate

    # -- the spec --------------------------------------------------------------------------------
    def _where(self):
        parts = list(self._conds)
        if self._texts:
            texts = self._texts
            parts.insert(0, texts[0] if len(texts) == 1 else " AND ".join("(%s)" % t for t in texts))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"$and": parts}

    def spec(self):
        """The query object this builds (a dict, what Table.query takes)."""
        d = dict(self._spec)
        w = self._where()
        if w is not None:
            d["where"] = w
        if self._params:
            d["params"] = list(self._params)
        return d

    # -- running ---------------------------------------------------------------------------------
    def execute(self):
        """The rows: a list of dicts."""
        return self._t.query(self.spec())

    all = execute

    def __iter__(self):
        return iter(self.execute())

    def first(self):
        """The first row, or None."""
        rows = self._t.query(self.spec(), limit=1)
        return rows[0] if rows else None

    def count(self):
        """The number of live rows matching the filters (order, limit and offset do not apply)."""
        where = self._where()
        spec = {} if where is None else {"where": where}
        if self._params:
            spec["params"] = list(self._params)
        return _c.cairn_table_count_where_json(self._t._handle(), _query_json(spec, None))

    def ids(self):
        """The ids of the matching rows (in the query's order)."""
        return [r["_id"] for r in self._t.query(self.spec(), columns=["_id"])]

    def to_columns(self):
        """The result as a dict of column name -> list of values."""
        return self._t.query(self.spec(), format="columns")

    def arrow(self):
        """The result as an ArrowExport (the Arrow PyCapsule interface)."""
        return ArrowExport(self._t, _query_json(self.spec(), None))

    def __arrow_c_stream__(self, requested_schema=None):
        return self.arrow().__arrow_c_stream__(requested_schema)

    def __arrow_c_schema__(self):
        return self.arrow().__arrow_c_schema__()

    def export_ipc(self):
        return self.arrow().export_ipc()

    def __repr__(self):
        return "<cairn.Query of %r: %s>" % (self._t, self.spec())


def query(table):
    """A :class:`Query` of `table` to build by chaining: ``cairn.query(t).filter(...).order(...)``."""
    return Query(table)


# ---------------------------------------------------------------------------------------------
# Repo: the versioned store
# ---------------------------------------------------------------------------------------------

Version = _namedtuple("Version", "digest parents user time collection")
Version.__doc__ = """One version of an entry (Repo.history): its digest, the digests of its parents (a list),
the user who made it, its time (an aware UTC datetime, millisecond precision) and whether it is a
collection of records (else a whole value)."""
RepoDiff = _namedtuple("RepoDiff", "added removed changed")
RepoDiff.__doc__ = """What changed between two versions of a collection (Repo.diff): the keys added, removed and
changed (values differ), each a list in key order (str keys, bytes where not valid UTF-8)."""


def _digest_arg(d, what="digest"):
    if d is None:
        return None
    return _text_arg(d, what)


def _diff_key(k):
    if isinstance(k, dict):
        return bytes.fromhex(k["$bytes"])
    return k


class Repo(_Handle, _Values):
    """A versioned store in directory `path`: tenants, each with entries whose every change (a
    whole value saved, or a record put into / deleted from a collection) is a new immutable version
    named by its SHA-256 digest (64 lowercase hex characters), with its parents, user and time.

    Values are typed as the KV's: bytes-like -> bytes, str -> text, dict/list/int/float/bool/None ->
    a JSON document (read back as the same Python types); `kind=` forces one. Record keys are str
    (UTF-8) or bytes-like; keys read back are str when valid UTF-8, else bytes. A missing tenant,
    entry, version, record or tag reads as None (or False); writes to a tenant never initialised
    raise NotFoundError.

    Options: create (bool, default True), read_only (bool), sync ("none" | "commit"),
    lock_timeout_ms (int), cache_bytes (int: tree nodes kept in memory once checked, up to this
    many bytes; 0, the default: 64 MiB; 1: none), allow_pickle (bool).

        with cairn.Repo("repo") as r:
            r.init("acme")
            d1 = r.save("acme", "ada", "config", {"v": 1})
            r.put("acme", "ada", "users", "u1", {"name": "Ada"})
            r.load("acme", "config", d1)        # {'v': 1}
    """

    __slots__ = ("_allow_pickle",)
    _raw = _Engine("repo", check="verify")
    _options = {"sync": _check_sync_repo, "cache_bytes": _check_uint(2**64 - 1)}

    def __init__(self, path, allow_pickle=False, **options):
        self._allow_pickle = bool(_check_bool("allow_pickle", allow_pickle))
        _Handle.__init__(self, path, **options)

    def _adopted(self, like):
        self._allow_pickle = like._allow_pickle

    @classmethod
    def verify(cls, path):
        """Re-hash every object of the repository at `path` and check every ref: None when sound,
        CorruptError naming the damage, PathError when there is no repository."""
        _c.cairn_repo_verify(_path(path))

    check = verify

    # -- tenants -------------------------------------------------------------------------------
    def init(self, tenant):
        """Create tenant `tenant` (an existing one is fine)."""
        h = self._handle()
        _c.cairn_repo_init(h, _text_arg(tenant, "tenant"))

    def tenants(self):
        """The tenants' names, sorted."""
        return _json.loads(_c.cairn_repo_tenants(self._handle()))

    def entries(self, tenant):
        """The names of the entries (values and collections) of `tenant`, sorted; NotFoundError
        for an unknown tenant."""
        h = self._handle()
        return _json.loads(_c.cairn_repo_entries(h, _text_arg(tenant, "tenant")))

    # -- whole values --------------------------------------------------------------------------
    def save(self, tenant, user, entry, value, kind=None):
        """Save `value` as the new head of `entry`; returns the new version's digest.
        TypeMismatch when the entry is a collection."""
        h = self._handle()
        v, k = self._encode(value, kind)
        return _c.cairn_repo_save(h, _text_arg(tenant, "tenant"), _text_arg(user, "user", True),
                                  _text_arg(entry, "entry"), v, k)

    def _load_raw(self, tenant, entry, digest):
        h = self._handle()
        return _c.cairn_repo_load(h, _text_arg(tenant, "tenant"), _text_arg(entry, "entry"), _digest_arg(digest))

    def load(self, tenant, entry, digest=None, default=None):
        """The value of `entry` at its head (or at version `digest`), or `default` when the tenant,
        entry or version is absent. TypeMismatch when the version is a collection."""
        r = self._load_raw(tenant, entry, digest)
        return default if r is None else self._decode(r[0], r[1])

    def load_typed(self, tenant, entry, digest=None, default=None):
        """(value, kind name) of `entry` ("bytes", "text", "json" or "native"), or `default`."""
        r = self._load_raw(tenant, entry, digest)
        return default if r is None else (self._decode(r[0], r[1]), _KIND_BY_NUM.get(r[1], str(r[1])))

    def exists(self, tenant, entry):
        """True if `entry` exists in `tenant` (False for an unknown tenant)."""
        h = self._handle()
        try:
            return _c.cairn_repo_exists(h, _text_arg(tenant, "tenant"), _text_arg(entry, "entry"))
        except NotFoundError:  # noqa: F821
            return False

    def digest(self, tenant, entry):
        """The head digest of `entry`, or None when absent."""
        h = self._handle()
        return _c.cairn_repo_digest(h, _text_arg(tenant, "tenant"), _text_arg(entry, "entry"))

    # -- collections ---------------------------------------------------------------------------
    def put(self, tenant, user, entry, key, value, kind=None):
        """Put record `key` -> `value` into collection `entry` (created by its first put); returns
        the new version's digest. TypeMismatch when the entry holds a whole value."""
        h = self._handle()
        v, k = self._encode(value, kind)
        return _c.cairn_repo_put(h, _text_arg(tenant, "tenant"), _text_arg(user, "user", True),
                                 _text_arg(entry, "entry"), key, v, k)

    def put_many(self, tenant, user, entry, records, kind=None):
        """Put every (key, value) of `records` (a mapping or an iterable of pairs; a (key, value,
        kind) triple forces that record's kind) in ONE new version; returns its digest. A key given
        twice keeps its last value. All or nothing."""
        h = self._handle()
        if isinstance(records, _abc.Mapping):
            pairs = records.items()
        elif isinstance(records, (str, bytes, bytearray, memoryview)) or not isinstance(records, _abc.Iterable):
            raise TypeMismatch("records must be a mapping or an iterable of (key, value) pairs")  # noqa: F821
        else:
            pairs = records
        keys, vals, kinds = [], [], []
        enc = self._encode
        for rec in pairs:
            if not isinstance(rec, (tuple, list)) or len(rec) not in (2, 3):
                raise TypeMismatch("records must be (key, value) pairs, not %s" % type(rec).__name__)  # noqa: F821
            v, k = enc(rec[1], rec[2] if len(rec) == 3 and rec[2] is not None else kind)
            keys.append(rec[0])
            vals.append(v)
            kinds.append(k)
        return _c.cairn_py_repo_put_many(h, _text_arg(tenant, "tenant"), _text_arg(user, "user", True),
                                         _text_arg(entry, "entry"), keys, vals, kinds)

    def _get_raw(self, tenant, entry, key, digest):
        h = self._handle()
        return _c.cairn_repo_get(h, _text_arg(tenant, "tenant"), _text_arg(entry, "entry"), _digest_arg(digest), key)

    def get(self, tenant, entry, key, digest=None, default=None):
        """The value of record `key` of collection `entry` at its head (or version `digest`), or
        `default` when the key, entry, version or tenant is absent."""
        r = self._get_raw(tenant, entry, key, digest)
        return default if r is None else self._decode(r[0], r[1])

    def get_typed(self, tenant, entry, key, digest=None, default=None):
        """(value, kind name) of record `key`, or `default`."""
        r = self._get_raw(tenant, entry, key, digest)
        return default if r is None else (self._decode(r[0], r[1]), _KIND_BY_NUM.get(r[1], str(r[1])))

    def delete(self, tenant, user, entry, key):
        """Delete record `key` (a new version, whose digest is returned); NotFoundError (a
        KeyError) when the key is absent."""
        h = self._handle()
        return _c.cairn_repo_delete(h, _text_arg(tenant, "tenant"), _text_arg(user, "user", True),
                                    _text_arg(entry, "entry"), key)

    def count(self, tenant, entry, digest=None):
        """The number of records of collection `entry` at its head (or version `digest`)."""
        h = self._handle()
        return _c.cairn_repo_count(h, _text_arg(tenant, "tenant"), _text_arg(entry, "entry"), _digest_arg(digest))

    def records(self, tenant, entry, digest=None):
        """Iterate over the (key, value) records of collection `entry` at its head (or version
        `digest`) in key order (bytewise). A version never changes: later writes are not seen."""
        h = self._handle()
        it = _c.cairn_repo_iter_open(h, _text_arg(tenant, "tenant"), _text_arg(entry, "entry"), _digest_arg(digest))
        return self._walk(it, True)

    items = records

    def _walk(self, it, values):
        try:
            batch = _c.cairn_py_repo_iter_batch
            dec = self._decode
            n = 16
            while True:
                recs = batch(self._handle(), it, n)
                if not recs:
                    return
                for k, v, kind in recs:
                    if values:
                        yield _key_out(k), dec(v, kind)
                    else:
                        yield _key_out(k)
                    if self._h is None:  # closed while iterating: no more records from the batch
                        raise ClosedError("Repo handle is closed")  # noqa: F821
                n = min(n * 4, 1024)
        finally:
            _c.cairn_repo_iter_free(it)

    def keys(self, tenant, entry, digest=None):
        """A list of the record keys of collection `entry` (head or version `digest`), ascending
        bytewise."""
        h = self._handle()
        it = _c.cairn_repo_iter_open(h, _text_arg(tenant, "tenant"), _text_arg(entry, "entry"), _digest_arg(digest))
        return list(self._walk(it, False))

    def diff(self, tenant, older, newer):
        """RepoDiff(added, removed, changed) between two versions of collections (digests; None:
        the empty collection). NotFoundError for an unknown digest, TypeMismatch for a value's."""
        h = self._handle()
        d = _json.loads(_c.cairn_repo_diff(h, _text_arg(tenant, "tenant"), _digest_arg(older, "older"),
                                           _digest_arg(newer, "newer")))
        return RepoDiff([_diff_key(k) for k in d["added"]], [_diff_key(k) for k in d["removed"]],
                        [_diff_key(k) for k in d["changed"]])

    # -- history and tags ------------------------------------------------------------------------
    def history(self, tenant, entry, max=0):  # noqa: A002  (the C API's name)
        """The versions of `entry`, newest first (at most `max`; 0: all): a list of Version. []
        for an entry never saved; NotFoundError for an unknown tenant."""
        if type(max) is not int:
            raise TypeMismatch("max must be an int")  # noqa: F821
        if max < 0:
            raise _err("INVALID", "max must not be negative")
        h = self._handle()
        js = _c.cairn_repo_history(h, _text_arg(tenant, "tenant"), _text_arg(entry, "entry"), max)
        return [Version(v["digest"], list(v["parents"]), v["user"], _ms_time(v["time"]), bool(v["collection"]))
                for v in _json.loads(js)]

    def tag(self, tenant, name, digest):
        """Name version `digest` `name` (set again to move it). NotFoundError when the digest names
        no version of the tenant."""
        h = self._handle()
        if digest is None:
            raise TypeMismatch("digest must be a str")  # noqa: F821
        _c.cairn_repo_tag(h, _text_arg(tenant, "tenant"), _text_arg(name, "tag name"), _digest_arg(digest))

    def tag_get(self, tenant, name):
        """The digest tag `name` names, or None."""
        h = self._handle()
        return _c.cairn_repo_tag_get(h, _text_arg(tenant, "tenant"), _text_arg(name, "tag name"))

    # -- maintenance -----------------------------------------------------------------------------
    def gc(self, grace_ms=0):
        """Remove the objects no head or tag reaches that are older than `grace_ms` (milliseconds,
        or a timedelta; 0: any age); returns how many were removed."""
        if isinstance(grace_ms, _dt.timedelta):
            grace_ms = grace_ms // _MS
        if type(grace_ms) is not int:
            raise TypeMismatch("grace_ms must be an int (ms) or a timedelta")  # noqa: F821
        if not 0 <= grace_ms < 2**64:
            raise _err("INVALID", "grace_ms out of range: %d" % grace_ms)
        return _c.cairn_repo_gc(self._handle(), grace_ms)


def verify_repo(path):
    """Verify the repository at `path` (Repo.verify)."""
    Repo.verify(path)
