#!/usr/bin/env python3
"""The Python testee of the conformance suite (tests/conformance/PROTOCOL.md).

Reads one JSON request per line on stdin and answers one JSON line on stdout, through the
idiomatic API of the `cairn` package (cairn.KV, cairn.BlobStore, cairn.Table), mapping its exceptions back to
the neutral error NAME (`.name` of cairn.Error). It never dies on bad input.

`$native` arguments become a Python value of the named type; where that type is *valid* for the
slot in Python (an int blob key, an int option, a list or number as a KV value: Python stores
those as JSON), a value Python cannot accept there (a set) is used instead, since the protocol's
meaning is "a host value of the wrong type".
"""

import ctypes
import datetime
import json
import mmap
import os
import sys
import time
import traceback

import cairn

NATIVE = {"int": 42, "float": 1.5, "bool": True, "null": None, "list": [1, 2], "object": object()}
WRONG = {1, 2}  # a set: no Cairn slot accepts one
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
MS = datetime.timedelta(milliseconds=1)


class Fail(Exception):
    """A testee-level error (bad request) with a neutral name."""

    def __init__(self, name, message):
        super().__init__(message)
        self.name = name


def is_tagged(v, tag):
    return isinstance(v, dict) and len(v) == 1 and tag in v


def native(v, valid=()):
    """The host value for {"$native": kind}; a set when that kind is valid in this slot."""
    kind = v["$native"]
    if kind not in NATIVE:
        raise Fail("CAIRN_INVALID", "unknown $native kind %r" % (kind,))
    value = NATIVE[kind]
    if kind in valid:
        return WRONG
    return value


def hexbytes(h, what):
    if not isinstance(h, str):
        raise Fail("CAIRN_INVALID", "%s: $bytes must be a hex string" % what)
    try:
        return bytes.fromhex(h)
    except ValueError:
        raise Fail("CAIRN_INVALID", "%s: bad hex" % what) from None


def as_bytes(v, what, allow_text=True, native_valid=()):
    """A key / blob data argument: string (UTF-8), $bytes, $repeat, or $native."""
    if isinstance(v, str) and allow_text:
        return v  # the binding takes str for keys (UTF-8)
    if is_tagged(v, "$bytes"):
        return hexbytes(v["$bytes"], what)
    if is_tagged(v, "$repeat"):
        r = v["$repeat"]
        if not isinstance(r, dict) or not isinstance(r.get("count"), int) or r["count"] < 0:
            raise Fail("CAIRN_INVALID", "%s: $repeat needs hex and a count >= 0" % what)
        unit = hexbytes(r.get("hex"), what)
        if len(unit) * r["count"] >= 1 << 26 and not unit.strip(b"\0"):
            # a large zero-filled value (a TOOBIG case): anonymous memory, not touched until read
            return memoryview(mmap.mmap(-1, len(unit) * r["count"]))
        return unit * r["count"]
    if is_tagged(v, "$native"):
        return native(v, native_valid)
    return v  # any other JSON value is passed on as the host value it is: the binding judges it


def value_arg(v):
    """A KV value argument -> (python value, kind name or None)."""
    if is_tagged(v, "$json"):
        return v["$json"], "json"
    if is_tagged(v, "$native"):
        return native(v, valid=("int", "float", "bool", "null", "list")), None
    if isinstance(v, str):
        return v, None
    if is_tagged(v, "$bytes") or is_tagged(v, "$repeat"):
        return as_bytes(v, "value"), None
    return WRONG, None  # an untagged number, list, object...: not a typed value


def blob_data(v):
    if isinstance(v, str):
        return v.encode("utf-8")
    return as_bytes(v, "data")


def blob_key(args):
    if "key" not in args:
        raise Fail("CAIRN_INVALID", "missing argument 'key'")
    v = args["key"]
    if is_tagged(v, "$native"):
        return native(v, valid=("int",))
    return v


def hexout(b):
    return {"$bytes": bytes(b).hex()}


def key_out(k):
    return k if isinstance(k, str) else hexout(k)


def value_out(value, kind):
    if kind == "text":
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Fail("CAIRN_CORRUPT", "text value is not valid UTF-8") from None
        return value
    if kind == "json":
        return {"$json": value}
    if kind == "native":
        raise Fail("CAIRN_UNSUPPORTED", "pickled value")
    return hexout(value)


# -- table values: the wire forms ($bytes, $ts, $f64, $native) <-> Python values ------------------
US = datetime.timedelta(microseconds=1)


def cell_in(v):
    """A row value on the wire -> the Python value the binding takes."""
    if isinstance(v, dict) and len(v) == 1:
        if "$bytes" in v:
            return hexbytes(v["$bytes"], "row value")
        if "$repeat" in v:
            return as_bytes(v, "row value")
        if "$ts" in v:
            us = v["$ts"]
            if type(us) is not int:
                raise Fail("CAIRN_INVALID", "$ts must be an integer")
            try:
                return EPOCH + datetime.timedelta(microseconds=us)
            except OverflowError:
                raise Fail("CAIRN_RANGE", "$ts out of datetime's range") from None
        if "$f64" in v:
            return float(v["$f64"])
        if "$native" in v:
            return native(v)
    return v  # plain JSON: int, float, bool, str, null (or a list / object: the binding judges)


def row_in(v):
    if is_tagged(v, "$native"):
        return native(v)
    if isinstance(v, dict):
        return {k: cell_in(x) for k, x in v.items()}
    return v  # not an object: the binding refuses it


def cell_out(v):
    if isinstance(v, (bytes, bytearray)):
        return hexout(v)
    if isinstance(v, datetime.datetime):
        return {"$ts": (v - EPOCH) // US}
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return {"$f64": "nan" if v != v else ("inf" if v > 0 else "-inf")}
    return v


def row_out(r):
    return None if r is None else {k: cell_out(v) for k, v in r.items()}


def query_in(v):
    """A query on the wire -> the Python structure the binding takes: tagged row values ($ts,
    $bytes, $f64) anywhere become Python values, the rest stays as it is."""
    if isinstance(v, dict):
        if len(v) == 1 and next(iter(v)) in ("$ts", "$bytes", "$f64", "$repeat", "$native"):
            return cell_in(v)
        return {k: query_in(x) for k, x in v.items()}
    if isinstance(v, list):
        return [query_in(x) for x in v]
    return v


def result_out(res):
    """A query result of the binding (QueryRows / QueryColumns) -> the core's result object."""
    cols = [{"name": c.name, "type": c.type} for c in res.columns]
    if isinstance(res, cairn.QueryRows):
        return {"columns": cols, "rows": [row_out(r) for r in res]}
    return {"columns": cols, "data": {k: [cell_out(v) for v in vs] for k, vs in res.items()}, "count": res.count}


# -- the Arrow C stream interface, read with ctypes (table.export) --------------------------------
class ArrowSchema(ctypes.Structure):
    pass


ArrowSchema._fields_ = [("format", ctypes.c_char_p), ("name", ctypes.c_char_p), ("metadata", ctypes.c_char_p),
                        ("flags", ctypes.c_int64), ("n_children", ctypes.c_int64),
                        ("children", ctypes.POINTER(ctypes.POINTER(ArrowSchema))),
                        ("dictionary", ctypes.POINTER(ArrowSchema)),
                        ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowSchema))),
                        ("private_data", ctypes.c_void_p)]


class ArrowArray(ctypes.Structure):
    pass


ArrowArray._fields_ = [("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
                       ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64),
                       ("buffers", ctypes.POINTER(ctypes.c_void_p)),
                       ("children", ctypes.POINTER(ctypes.POINTER(ArrowArray))),
                       ("dictionary", ctypes.POINTER(ArrowArray)),
                       ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArray))),
                       ("private_data", ctypes.c_void_p)]


class ArrowArrayStream(ctypes.Structure):
    pass


ArrowArrayStream._fields_ = [
    ("get_schema", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ArrowArrayStream), ctypes.POINTER(ArrowSchema))),
    ("get_next", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ArrowArrayStream), ctypes.POINTER(ArrowArray))),
    ("get_last_error", ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.POINTER(ArrowArrayStream))),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArrayStream))),
    ("private_data", ctypes.c_void_p)]

_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_FIXED = {"c": ctypes.c_int8, "s": ctypes.c_int16, "i": ctypes.c_int32, "l": ctypes.c_int64,
          "C": ctypes.c_uint8, "S": ctypes.c_uint16, "I": ctypes.c_uint32, "L": ctypes.c_uint64,
          "f": ctypes.c_float, "g": ctypes.c_double}


def _bit(buf, j):
    return ctypes.cast(buf, ctypes.POINTER(ctypes.c_uint8))[j >> 3] >> (j & 7) & 1


def arrow_value(sch, arr, i):
    """Value i of array `arr` of schema `sch` in the row wire form."""
    j = i + arr.offset
    if arr.null_count and arr.buffers[0] and not _bit(arr.buffers[0], j):
        return None
    f = sch.format.decode()
    if sch.dictionary:
        k = ctypes.cast(arr.buffers[1], ctypes.POINTER(_FIXED[f]))[j]
        d = arr.dictionary.contents
        if not 0 <= k < d.length:
            raise Fail("CAIRN_CORRUPT", "dictionary index %d out of range" % k)
        return arrow_value(sch.dictionary.contents, d, k)
    if f in _FIXED or f.startswith("ts"):
        x = ctypes.cast(arr.buffers[1], ctypes.POINTER(_FIXED.get(f, ctypes.c_int64)))[j]
        if f == "tsu:UTC":
            return {"$ts": x}
        if f in ("f", "g"):
            if x != x:
                return {"$f64": "nan"}
            if x in (float("inf"), float("-inf")):
                return {"$f64": "inf" if x > 0 else "-inf"}
            if f == "f":
                x = float("%.9g" % x)  # as the C testee prints a float
        return x
    if f == "b":
        return bool(_bit(arr.buffers[1], j))
    if f.startswith("w:"):
        n = int(f[2:])
        return {"$bytes": ctypes.string_at(arr.buffers[1] + j * n, n).hex()}
    if f in ("U", "Z", "u", "z"):
        ot = ctypes.c_int64 if f in ("U", "Z") else ctypes.c_int32
        o = ctypes.cast(arr.buffers[1], ctypes.POINTER(ot))
        b = ctypes.string_at((arr.buffers[2] or 0) + o[j], o[j + 1] - o[j]) if o[j + 1] > o[j] else b""
        if f in ("U", "u"):
            try:
                return b.decode("utf-8")
            except UnicodeDecodeError:
                raise Fail("CAIRN_CORRUPT", "a string that is not UTF-8") from None
        return {"$bytes": b.hex()}
    raise Fail("CAIRN_UNSUPPORTED", "Arrow format %s" % f)


def arrow_import(cap):
    """Read a PyCapsule "arrow_array_stream" to its end: {"column": [values...]} (stream order)."""
    src = ArrowArrayStream.from_address(_capsule_pointer(cap, b"arrow_array_stream"))
    st = ArrowArrayStream()  # moved out of the capsule, as a consumer does
    ctypes.memmove(ctypes.addressof(st), ctypes.addressof(src), ctypes.sizeof(ArrowArrayStream))
    src.release = ctypes.cast(None, type(src.release))
    sch = ArrowSchema()
    try:
        if st.get_schema(ctypes.byref(st), ctypes.byref(sch)) != 0:
            err = st.get_last_error(ctypes.byref(st))
            raise Fail("CAIRN_INTERNAL", "get_schema: %s" % (err or b"").decode("utf-8", "replace"))
        kids = [sch.children[k].contents for k in range(sch.n_children)]
        cols = [[] for _ in kids]
        while True:
            arr = ArrowArray()
            if st.get_next(ctypes.byref(st), ctypes.byref(arr)) != 0:
                err = st.get_last_error(ctypes.byref(st))
                raise Fail("CAIRN_IO", "get_next: %s" % (err or b"").decode("utf-8", "replace"))
            if not arr.release:
                break
            try:
                for k, ks in enumerate(kids):
                    child = arr.children[k].contents
                    cols[k].extend(arrow_value(ks, child, i) for i in range(arr.length))
            finally:
                arr.release(ctypes.byref(arr))
        return {ks.name.decode(): cols[k] for k, ks in enumerate(kids)}
    finally:
        if sch.release:
            sch.release(ctypes.byref(sch))
        st.release(ctypes.byref(st))


def schema_in(v):
    """A schema argument: the text, or a list of column objects -> cairn.Column (the list form)."""
    if is_tagged(v, "$native"):
        return native(v)
    if isinstance(v, list):
        out = []
        for c in v:
            if not isinstance(c, dict):
                out.append(c)  # the binding refuses it
                continue
            c = dict(c)
            if "default" in c:
                c["default"] = cell_in(c["default"])
            try:
                out.append(cairn.Column(**c))
            except TypeError as e:
                raise Fail("CAIRN_INVALID", "bad column object: %s" % e) from None
        return out
    return v


def options(args, names):
    o = args.get("options")
    if o is None:
        return {}
    if is_tagged(o, "$native"):
        o = native(o)
    if not isinstance(o, dict):
        return {"__bad__": o}  # the binding rejects it
    out = {}
    for k, v in o.items():
        if is_tagged(v, "$native"):
            v = native(v, valid=("int",) if k in ("max_file_size", "lock_timeout_ms", "cache_bytes") else ())
        out[k] = v
    return out


class Testee:
    def __init__(self):
        self.handles = {}  # name -> (engine, object)
        self.events = {}  # name -> list of recorded events
        self.subscribed = {}  # name -> {subscription id: its recording listener}
        self.next_sub = 0

    def reset(self):
        for _, h in self.handles.values():
            try:
                h.close()
            except Exception:  # noqa: BLE001
                pass
        self.handles.clear()
        self.events.clear()
        self.subscribed.clear()

    # -- handles ---------------------------------------------------------------------------------
    def _name(self, args):
        if "handle" not in args:
            raise Fail("CAIRN_INVALID", "missing argument 'handle'")
        name = args["handle"]
        if not isinstance(name, str):
            raise Fail("CAIRN_TYPE", "handle: expected a string")
        return name

    def _path(self, args):
        if "path" not in args:
            raise Fail("CAIRN_INVALID", "missing argument 'path'")
        return args["path"]

    def get(self, args, engine):
        name = self._name(args)
        if name not in self.handles:
            raise Fail("CAIRN_INVALID", "no handle named %r" % name)
        eng, h = self.handles[name]
        if eng != engine:
            raise Fail("CAIRN_TYPE", "handle %r is of another engine" % name)
        return h  # a closed handle raises cairn.ClosedError itself

    def open(self, args, engine, cls, names):
        name = self._name(args)
        old = self.handles.get(name)
        if old is not None and not old[1].closed:
            raise Fail("CAIRN_INVALID", "handle %r is already open" % name)
        if "path" not in args:
            raise Fail("CAIRN_INVALID", "missing argument 'path'")
        opts = options(args, names)
        if "__bad__" in opts:
            raise Fail("CAIRN_TYPE", "options: expected an object")
        h = cls(args["path"], **opts)
        self.handles[name] = (engine, h)
        self.events.pop(name, None)
        self.subscribed.pop(name, None)
        return None

    def close(self, args):
        name = self._name(args)
        if name not in self.handles:
            raise Fail("CAIRN_INVALID", "no handle named %r" % name)
        self.handles[name][1].close()
        return None

    # -- KV ----------------------------------------------------------------------------------
    def kv_key(self, args, name="key"):
        if name not in args:
            raise Fail("CAIRN_INVALID", "missing argument %r" % name)
        return as_bytes(args[name], name)

    def op_kv_open(self, a):
        return self.open(a, "kv", cairn.KV, ())

    def op_kv_close(self, a):
        return self.close(a)

    def op_kv_put(self, a):
        db = self.get(a, "kv")
        kw = {}
        for name in ("expire_at", "ttl"):  # both given: the binding says CAIRN_INVALID
            if name in a:
                v = a[name]
                if type(v) is not int:
                    raise Fail("CAIRN_TYPE", "%s: expected an integer (ms)" % name)
                kw[name] = v
        key = self.kv_key(a)
        if "value" not in a:
            raise Fail("CAIRN_INVALID", "missing argument 'value'")
        value, kind = value_arg(a["value"])
        db.put(key, value, kind=kind, **kw)
        return None

    def op_kv_get(self, a):
        db = self.get(a, "kv")
        r = db.get_typed(self.kv_key(a))
        if r is None:
            return None
        return value_out(*r)

    def op_kv_delete(self, a):
        db = self.get(a, "kv")
        del db[self.kv_key(a)]
        return None

    def op_kv_exists(self, a):
        db = self.get(a, "kv")
        return db.exists(self.kv_key(a))

    def op_kv_count(self, a):
        return len(self.get(a, "kv"))

    def op_kv_keys(self, a):
        db = self.get(a, "kv")
        if a.get("prefix") is not None:
            return [key_out(k) for k in db.keys(prefix=self.kv_key(a, "prefix"))]
        return [key_out(k) for k in db.keys()]

    def op_kv_update(self, a):
        db = self.get(a, "kv")
        if "changes" not in a:
            raise Fail("CAIRN_INVALID", "missing argument 'changes'")
        ch = a["changes"]
        if is_tagged(ch, "$json"):
            ch = ch["$json"]
        elif is_tagged(ch, "$native"):
            ch = native(ch)
        key = self.kv_key(a)
        db.update(key, ch)
        return None

    def op_kv_expiry(self, a):
        db = self.get(a, "kv")
        at = db.expiry(self.kv_key(a))  # NotFoundError when missing or expired
        if at is None:
            return None  # never expires
        return (at - EPOCH) // MS

    def op_kv_check(self, a):
        cairn.KV.check(self._path(a))

    def op_kv_stats(self, a):
        st = self.get(a, "kv").stats()
        return {k: st[k] for k in ("keys", "data_files", "disk_bytes", "live_bytes", "dead_bytes", "in_txn")}

    # -- blob --------------------------------------------------------------------------------
    def op_blob_open(self, a):
        return self.open(a, "blob", cairn.BlobStore, ())

    def op_blob_close(self, a):
        return self.close(a)

    def _data(self, a):
        if "data" not in a:
            raise Fail("CAIRN_INVALID", "missing argument 'data'")
        return blob_data(a["data"])

    def op_blob_create(self, a):
        st = self.get(a, "blob")
        return st.create(self._data(a))

    def op_blob_reserve_next_key(self, a):
        return self.get(a, "blob").reserve_next_key()

    def op_blob_create_with_key(self, a):
        st = self.get(a, "blob")
        st.create_with_key(blob_key(a), self._data(a))

    def op_blob_read(self, a):
        st = self.get(a, "blob")
        return hexout(st[blob_key(a)])

    def op_blob_update(self, a):
        st = self.get(a, "blob")
        st.update(blob_key(a), self._data(a))

    def op_blob_delete(self, a):
        st = self.get(a, "blob")
        st.delete(blob_key(a))

    def op_blob_exists(self, a):
        st = self.get(a, "blob")
        return st.exists(blob_key(a))

    def op_blob_count(self, a):
        return len(self.get(a, "blob"))

    def op_blob_keys(self, a):
        return list(self.get(a, "blob"))

    def op_blob_stats(self, a):
        st = self.get(a, "blob").stats()
        return {k: st[k] for k in ("entries", "live_bytes", "free_bytes", "free_entries", "file_size",
                                   "next_key", "in_txn")}

    def op_blob_subscribe(self, a):
        """One more listener (its id returned) recording into the handle's event list; with
        `probe`, it also reads that blob when called (listeners run after the call returned)."""
        st = self.get(a, "blob")
        if st.closed:
            raise cairn.ClosedError("BlobStore handle is closed")
        name = self._name(a)
        probe = a.get("probe")
        if probe is not None and type(probe) is not int:
            raise Fail("CAIRN_TYPE", "probe: expected an int key")
        rec = self.events.setdefault(name, [])

        def record(ev):
            row = [ev.name, ev.key, ev.old_size, ev.new_size]
            if probe is not None:
                try:
                    row.append(len(st.read(probe)))
                except cairn.Error:
                    row.append(None)
            rec.append(row)

        st.on_created(record)
        st.on_updated(record)
        st.on_deleted(record)
        self.next_sub += 1
        self.subscribed.setdefault(name, {})[self.next_sub] = record
        return self.next_sub

    def op_blob_unsubscribe(self, a):
        st = self.get(a, "blob")
        if st.closed:
            raise cairn.ClosedError("BlobStore handle is closed")
        sid = a.get("id")
        if type(sid) is not int:
            raise Fail("CAIRN_TYPE", "id: expected an int")
        record = self.subscribed.get(self._name(a), {}).pop(sid, None)
        if record is None:
            raise cairn.NotFoundError("no subscription %d on this handle" % sid)
        st.remove_listener(record)
        return None

    def op_blob_check(self, a):
        cairn.BlobStore.check(self._path(a))

    def op_blob_events(self, a):
        if self.get(a, "blob").closed:
            raise cairn.ClosedError("BlobStore handle is closed")
        rec = self.events.get(self._name(a), [])
        out = list(rec)
        rec.clear()
        return out

    # -- table -------------------------------------------------------------------------------
    def op_table_open(self, a):
        kw = {}
        if a.get("schema") is not None:
            kw["schema"] = schema_in(a["schema"])
        name = self._name(a)
        old = self.handles.get(name)
        if old is not None and not old[1].closed:
            raise Fail("CAIRN_INVALID", "handle %r is already open" % name)
        if "path" not in a:
            raise Fail("CAIRN_INVALID", "missing argument 'path'")
        opts = options(a, ())
        if "__bad__" in opts:
            raise Fail("CAIRN_TYPE", "options: expected an object")
        h = cairn.Table(a["path"], **kw, **opts)
        self.handles[name] = ("table", h)
        self.events.pop(name, None)
        self.subscribed.pop(name, None)

    def op_table_close(self, a):
        return self.close(a)

    def _row_id(self, a):
        if "id" not in a:
            raise Fail("CAIRN_INVALID", "missing argument 'id'")
        v = a["id"]
        return native(v) if is_tagged(v, "$native") else v

    def _arg(self, a, name):
        if name not in a:
            raise Fail("CAIRN_INVALID", "missing argument %r" % name)
        return a[name]

    def op_table_schema(self, a):
        out = []
        for c in self.get(a, "table").schema:
            d = c._asdict()
            d["default"] = cell_out(d["default"])
            out.append(d)
        return out

    def op_table_add_column(self, a):
        self.get(a, "table").add_column(self._arg(a, "spec"))

    def op_table_insert(self, a):
        t = self.get(a, "table")
        return t.insert(row_in(self._arg(a, "row")))

    def op_table_insert_many(self, a):
        t = self.get(a, "table")
        rows = self._arg(a, "rows")
        if isinstance(rows, list):
            rows = [row_in(r) for r in rows]
        elif is_tagged(rows, "$native"):
            rows = native(rows)
        return t.insert_many(rows)

    def op_table_upsert(self, a):
        t = self.get(a, "table")
        return t.upsert(row_in(self._arg(a, "row")))

    def op_table_load(self, a):
        t = self.get(a, "table")
        cols = self._arg(a, "columns")
        if isinstance(cols, dict):
            cols = {k: [cell_in(v) for v in vs] if isinstance(vs, list) else cell_in(vs) for k, vs in cols.items()}
        elif is_tagged(cols, "$native"):
            cols = native(cols)
        ids = t.load(cols)
        return ids.start

    def op_table_get(self, a):
        t = self.get(a, "table")
        return row_out(t.get(self._row_id(a)))

    def op_table_update(self, a):
        t = self.get(a, "table")
        t.update(self._row_id(a), row_in(self._arg(a, "changes")))

    def op_table_delete(self, a):
        t = self.get(a, "table")
        del t[self._row_id(a)]

    def op_table_count(self, a):
        return len(self.get(a, "table"))

    def op_table_rows(self, a):
        return [[i, row_out(r)] for i, r in self.get(a, "table")]

    def op_table_stats(self, a):
        st = self.get(a, "table").stats()
        return {k: st[k] for k in ("rows", "deleted_rows", "next_id", "row_groups", "segments", "tail_rows",
                                   "disk_bytes", "wal_bytes", "columns", "in_txn")}

    def op_table_check(self, a):
        cairn.Table.check(self._path(a))

    def op_table_repair(self, a):
        return cairn.Table.repair(self._path(a))

    def op_table_subscribe(self, a):
        t = self.get(a, "table")
        rec = self.events.setdefault(self._name(a), [])

        def record(ev):
            rec.append([ev.name, ev.id, row_out(ev.new_row), row_out(ev.old_row)])

        return t.subscribe(record)

    def op_table_unsubscribe(self, a):
        t = self.get(a, "table")
        sid = self._arg(a, "id")
        if is_tagged(sid, "$native"):
            sid = native(sid)
        t.unsubscribe(sid)

    def op_table_events(self, a):
        if self.get(a, "table").closed:
            raise cairn.ClosedError("Table handle is closed")
        rec = self.events.get(self._name(a), [])
        out = list(rec)
        rec.clear()
        return out

    # -- table queries, indexes, export ----------------------------------------------------------
    def _query(self, a):
        q = self._arg(a, "query")
        if not isinstance(q, dict):
            raise Fail("CAIRN_TYPE", "a query must be an object")
        return query_in(q)

    def op_table_query(self, a):
        t = self.get(a, "table")
        return result_out(t.query(self._query(a)))

    def op_table_count_where(self, a):
        t = self.get(a, "table")
        q = self._query(a)
        return t.count_where(q.get("where"), q.get("params"))

    def op_table_join(self, a):
        t = self.get({"handle": a.get("left")}, "table")
        other = self.get({"handle": a.get("right")}, "table")
        return result_out(t.join(other, query=self._query(a)))

    def op_table_create_index(self, a):
        self.get(a, "table").create_index(self._arg(a, "column"), self._arg(a, "kind"))

    def op_table_drop_index(self, a):
        self.get(a, "table").drop_index(self._arg(a, "column"), self._arg(a, "kind"))

    def op_table_indexes(self, a):
        out = []
        for ix in self.get(a, "table").indexes():
            d = {"column": ix.column, "kind": ix.kind}
            if ix.unique:
                d["unique"] = True
            out.append(d)
        return out

    def op_table_lookup(self, a):
        t = self.get(a, "table")
        return t.lookup(self._arg(a, "column"), cell_in(self._arg(a, "value")))

    def op_table_find(self, a):
        t = self.get(a, "table")
        cond = self._arg(a, "conditions")
        if not isinstance(cond, dict):
            raise Fail("CAIRN_INVALID", "conditions must be an object")
        return t.find(row_in(cond))

    def op_table_range_find(self, a):
        t = self.get(a, "table")
        flags = {}
        for k in ("lo_open", "hi_open"):
            v = a.get(k, False)
            if type(v) is not bool:
                raise Fail("CAIRN_TYPE", "%s must be a bool" % k)
            flags[k] = v
        return t.range_find(self._arg(a, "column"), cell_in(a.get("lo")), cell_in(a.get("hi")),
                            lo_inclusive=not flags["lo_open"], hi_inclusive=not flags["hi_open"])

    def op_table_export(self, a):
        """The testee's Arrow import: the binding's __arrow_c_stream__ capsule walked with ctypes
        (struct children by name, validity, dictionaries, bit-packed bools, large offsets), the
        values in the row wire forms as {"column": [values...]} in the stream's column order."""
        t = self.get(a, "table")
        q = a.get("query")
        if q is None:
            src = t
        elif isinstance(q, dict):
            src = t.arrow(query_in(q))
        else:
            raise Fail("CAIRN_TYPE", "a query must be an object")
        return arrow_import(src.__arrow_c_stream__())

    # -- snapshots and backups (KV, blob store, table: the same five calls) ----------------------
    def _snap_ops(engine):
        def snapshot(self, a):
            db = self.get(a, engine)
            name = a.get("name")
            if is_tagged(name, "$native"):
                name = native(name)
            return db.snapshot(name)

        def snapshots(self, a):
            return [{"name": s.name, "time": (s.time - EPOCH) // MS, "bytes": s.bytes}
                    for s in self.get(a, engine).snapshots()]

        def open_snapshot(self, a):
            db = self.get(a, engine)
            name = self._name({"handle": a.get("as")})
            old = self.handles.get(name)
            if old is not None and not old[1].closed:
                raise Fail("CAIRN_INVALID", "handle %r is already open" % name)
            snap = db.open_snapshot(self._arg(a, "name"))
            self.handles[name] = (engine, snap)
            return None

        def drop_snapshot(self, a):
            self.get(a, engine).drop_snapshot(self._arg(a, "name"))

        def backup(self, a):
            self.get(a, engine).backup(self._arg(a, "dest"))
        return {"snapshot": snapshot, "snapshots": snapshots, "open_snapshot": open_snapshot,
                "drop_snapshot": drop_snapshot, "backup": backup}

    for _engine in ("kv", "blob", "table"):
        for _verb_name, _fn in _snap_ops(_engine).items():
            locals()["op_%s_%s" % (_engine, _verb_name)] = _fn
    del _snap_ops, _engine, _verb_name, _fn

    # -- the versioned store --------------------------------------------------------------------------
    def op_repo_open(self, a):
        return self.open(a, "repo", cairn.Repo, ())

    def op_repo_close(self, a):
        return self.close(a)

    def _rarg(self, a, name, default=Fail):
        """A repo argument: its JSON value, a $native as the host value (wrong for the slot)."""
        if name not in a:
            if default is Fail:
                raise Fail("CAIRN_INVALID", "missing argument %r" % name)
            return default
        v = a[name]
        if is_tagged(v, "$native"):
            return native(v)
        return v

    def _rkey(self, a, name="key"):
        if name not in a:
            raise Fail("CAIRN_INVALID", "missing argument %r" % name)
        return as_bytes(a[name], name)

    def _rvalue(self, v):
        if is_tagged(v, "$native"):  # every host value that is not bytes/str/JSON-tagged is wrong
            return native(v, valid=("int", "float", "bool", "null", "list")), None
        return value_arg(v)

    def _tvu(self, a):
        return self._rarg(a, "tenant"), self._rarg(a, "user"), self._rarg(a, "entry")

    def op_repo_init(self, a):
        self.get(a, "repo").init(self._rarg(a, "tenant"))

    def op_repo_tenants(self, a):
        return self.get(a, "repo").tenants()

    def op_repo_entries(self, a):
        return self.get(a, "repo").entries(self._rarg(a, "tenant"))

    def op_repo_save(self, a):
        r = self.get(a, "repo")
        value, kind = self._rvalue(self._rarg(a, "value"))
        return r.save(*self._tvu(a), value, kind=kind)

    def op_repo_load(self, a):
        r = self.get(a, "repo")
        got = r.load_typed(self._rarg(a, "tenant"), self._rarg(a, "entry"), self._rarg(a, "digest", None))
        return None if got is None else value_out(*got)

    def op_repo_exists(self, a):
        return self.get(a, "repo").exists(self._rarg(a, "tenant"), self._rarg(a, "entry"))

    def op_repo_digest(self, a):
        return self.get(a, "repo").digest(self._rarg(a, "tenant"), self._rarg(a, "entry"))

    def op_repo_put(self, a):
        r = self.get(a, "repo")
        key = self._rkey(a)
        value, kind = self._rvalue(self._rarg(a, "value"))
        return r.put(*self._tvu(a), key, value, kind=kind)

    def op_repo_put_many(self, a):
        r = self.get(a, "repo")
        recs = self._rarg(a, "records")
        if isinstance(recs, list):
            out = []
            for rec in recs:
                if isinstance(rec, list) and len(rec) == 2:
                    v, kind = self._rvalue(rec[1])
                    out.append((as_bytes(rec[0], "key"), v, kind))  # (key, value, kind) triples
                else:
                    out.append(rec)  # malformed: the binding judges it
            recs = out
        return r.put_many(*self._tvu(a), recs)

    def op_repo_get(self, a):
        r = self.get(a, "repo")
        got = r.get_typed(self._rarg(a, "tenant"), self._rarg(a, "entry"), self._rkey(a),
                          self._rarg(a, "digest", None))
        return None if got is None else value_out(*got)

    def op_repo_delete(self, a):
        r = self.get(a, "repo")
        return r.delete(*self._tvu(a), self._rkey(a))

    def op_repo_count(self, a):
        return self.get(a, "repo").count(self._rarg(a, "tenant"), self._rarg(a, "entry"), self._rarg(a, "digest", None))

    def op_repo_keys(self, a):
        r = self.get(a, "repo")
        return [key_out(k) for k in r.keys(self._rarg(a, "tenant"), self._rarg(a, "entry"), self._rarg(a, "digest", None))]

    def op_repo_diff(self, a):
        r = self.get(a, "repo")
        d = r.diff(self._rarg(a, "tenant"), self._rarg(a, "from", None), self._rarg(a, "to", None))
        return {"added": [key_out(k) for k in d.added], "removed": [key_out(k) for k in d.removed],
                "changed": [key_out(k) for k in d.changed]}

    def op_repo_history(self, a):
        r = self.get(a, "repo")
        hist = r.history(self._rarg(a, "tenant"), self._rarg(a, "entry"), self._rarg(a, "max", 0) or 0)
        return [{"digest": v.digest, "parents": v.parents, "user": v.user, "time": (v.time - EPOCH) // MS,
                 "collection": v.collection} for v in hist]

    def op_repo_tag(self, a):
        self.get(a, "repo").tag(self._rarg(a, "tenant"), self._rarg(a, "name"), self._rarg(a, "digest"))

    def op_repo_tag_get(self, a):
        return self.get(a, "repo").tag_get(self._rarg(a, "tenant"), self._rarg(a, "name"))

    def op_repo_gc(self, a):
        return self.get(a, "repo").gc(self._rarg(a, "grace_ms", 0))

    def op_repo_stats(self, a):
        st = self.get(a, "repo").stats()
        return {k: st[k] for k in ("tenants", "objects", "disk_bytes")}

    def op_repo_verify(self, a):
        cairn.Repo.verify(self._rarg(a, "path"))

    # -- ops every engine has: the same verb on the engine's handle ----------------------------
    def _verb(engine, verb):
        def op(self, a):
            getattr(self.get(a, engine), verb)()
        return op

    def _in_txn(engine):
        def op(self, a):
            return self.get(a, engine).in_transaction
        return op

    def _metrics(engine):
        def op(self, a):
            return self.get(a, engine).metrics()
        return op

    for _engine in ("kv", "blob", "table"):
        for _verb_name in ("begin", "commit", "rollback", "sync", "compact"):
            locals()["op_%s_%s" % (_engine, _verb_name)] = _verb(_engine, _verb_name)
        locals()["op_%s_in_txn" % _engine] = _in_txn(_engine)
    for _engine in ("kv", "blob", "table", "repo"):
        locals()["op_%s_metrics" % _engine] = _metrics(_engine)
    del _verb, _in_txn, _metrics, _engine, _verb_name

    # -- common --------------------------------------------------------------------------------
    def op_reset(self, a):
        self.reset()

    def op_clock_set(self, a):
        ms = a.get("ms")
        if type(ms) is not int or ms < 0:
            raise Fail("CAIRN_INVALID", "clock.set: ms must be an integer >= 0")
        cairn.testing_set_clock(ms)

    def op_sleep(self, a):
        ms = a.get("ms", 0)
        if type(ms) not in (int, float) or ms < 0:
            raise Fail("CAIRN_INVALID", "sleep: ms must be a number >= 0")
        time.sleep(ms / 1000.0)

    # -- processes -------------------------------------------------------------------------------
    def op_proc_fork(self, a):
        """Fork; the child runs the steps on the inherited handles and reports each outcome over a
        pipe, closes every handle (close() must not raise there), and leaves with os._exit."""
        steps = a.get("steps")
        if not isinstance(steps, list) or not steps or not all(
                isinstance(s, dict) and isinstance(s.get("op"), str) and s["op"].startswith(("kv.", "blob."))
                for s in steps):
            raise Fail("CAIRN_INVALID", "proc.fork: steps must be a non-empty list of {op: kv.*|blob.*, args}")
        r, w = os.pipe()
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns, never writes to stdout
            status = 0
            try:
                os.close(r)
                with os.fdopen(w, "w", encoding="utf-8") as out:
                    for st in steps:
                        resp = self.run(st["op"], st.get("args", {}))
                        out.write(json.dumps(resp, ensure_ascii=True, separators=(",", ":")) + "\n")
                    for name, (_, h) in list(self.handles.items()):
                        try:
                            h.close()
                        except BaseException as e:  # noqa: BLE001  a binding bug: make it visible
                            sys.stderr.write("proc.fork child: close of %r raised %r\n" % (name, e))
                            status = 4
                    self.handles.clear()
            except BaseException as e:  # noqa: BLE001
                sys.stderr.write("proc.fork child: %r\n" % (e,))
                status = 3
            finally:
                os._exit(status)
        os.close(w)
        with os.fdopen(r, "r", encoding="utf-8") as inp:
            lines = inp.read().splitlines()
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            raise Fail("CAIRN_INTERNAL", "proc.fork: the child died of signal %d" % os.WTERMSIG(status))
        if os.WEXITSTATUS(status) != 0:
            raise Fail("CAIRN_INTERNAL", "proc.fork: the child exited with status %d" % os.WEXITSTATUS(status))
        if len(lines) != len(steps):
            raise Fail("CAIRN_INTERNAL", "proc.fork: %d outcomes for %d steps" % (len(lines), len(steps)))
        outcomes = []
        for line in lines:
            resp = json.loads(line)
            outcomes.append({"error": resp["error"]} if "error" in resp else resp["ok"])
        return outcomes

    def handle(self, line):
        try:
            req = json.loads(line)
        except ValueError as e:
            return {"error": "CAIRN_INVALID", "message": "request is not JSON: %s" % e}
        if not isinstance(req, dict) or not isinstance(req.get("op"), str):
            return {"error": "CAIRN_INVALID", "message": "request needs an op"}
        return self.run(req["op"], req.get("args", {}))

    def run(self, op, args):
        """One op: {"ok": result} or {"error": NAME, "message": text}."""
        if args is None:
            args = {}
        if not isinstance(args, dict):
            return {"error": "CAIRN_INVALID", "message": "args must be an object"}
        fn = getattr(self, "op_" + op.replace(".", "_"), None)
        if fn is None:
            return {"error": "CAIRN_UNSUPPORTED", "message": "unknown op %r" % op}
        try:
            return {"ok": fn(args)}
        except Fail as e:
            return {"error": e.name, "message": str(e)}
        except cairn.Error as e:
            return {"error": e.name, "message": str(e)}
        except Exception as e:  # noqa: BLE001  a binding bug: visible, never a crash
            tb = traceback.format_exc(limit=3).replace("\n", " | ")
            return {"error": "PYTHON_" + type(e).__name__, "message": "%s (%s)" % (e, tb)}


def main():
    sys.stdin.reconfigure(encoding="utf-8", errors="surrogateescape")
    sys.stdout.reconfigure(encoding="utf-8")
    t = Testee()
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        resp = t.handle(line)
        try:
            s = json.dumps(resp, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as e:
            s = json.dumps({"error": "CAIRN_INTERNAL", "message": "unserialisable result: %s" % e})
        out.write(s + "\n")
        out.flush()
    t.reset()
    return 0


if __name__ == "__main__":
    sys.exit(main())
