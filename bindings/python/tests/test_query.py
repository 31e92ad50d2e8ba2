"""cairn.Table queries from Python: query/select/count_where/aggregate/group_by/join with native
values (datetimes, bytes, NaN) in WHERE and results, the chaining cairn.Query builder, indexes
(create/drop/list, lookup, find, range_find), and the export: the Arrow PyCapsule interface walked
with ctypes (ArrowArrayStream -> ArrowSchema/ArrowArray), column(name) through the buffer protocol
and numpy.frombuffer (no copy), nulls of a column view, a stream outliving its table's close."""
import ctypes
import datetime
import gc
import math
import os
import shutil
import struct
import sys
import sysconfig
import tempfile
import unittest

import cairn

UTC = datetime.timezone.utc


def _import_numpy():
    try:
        import numpy
        return numpy
    except ImportError:
        pass
    # Debian's python3-numpy (scripts/setup.sh) when this interpreter is another build of the same
    # Python version (a pyenv one): take it only if its extension modules carry this ABI's suffix.
    dist = "/usr/lib/python3/dist-packages"
    core = os.path.join(dist, "numpy", "core", "_multiarray_umath" + (sysconfig.get_config_var("EXT_SUFFIX") or ""))
    if not os.path.exists(core):
        return None
    saved = list(sys.path)
    sys.path.append(dist)
    try:
        import numpy
        return numpy
    except ImportError:
        return None
    finally:
        sys.path[:] = saved


numpy = _import_numpy()


class Base(unittest.TestCase):
    SCHEMA = ("id i64 primary key, name string, score f64 null, team string null, at timestamp null, "
              "tag bytes null, ok bool null, n u64 null")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cairn-py-query-")
        self.path = os.path.join(self.dir, "t")

    def tearDown(self):
        gc.collect()
        shutil.rmtree(self.dir, ignore_errors=True)

    def open(self, path=None, schema=SCHEMA, **kw):
        kw.setdefault("sync", "none")
        t = cairn.Table(path or self.path, schema=schema, **kw)
        self.addCleanup(t.close)
        return t

    def filled(self, n=10):
        t = self.open()
        t.insert_many([{"id": i, "name": "n%d" % i, "score": i * 1.5 if i % 3 else None,
                        "team": "red" if i % 2 else "blue", "at": datetime.datetime(2020, 1, i, tzinfo=UTC),
                        "tag": bytes([i, 0xff]), "ok": i % 2 == 0, "n": 2**64 - i} for i in range(1, n + 1)])
        return t


class Queries(Base):
    def test_select_native_values(self):
        t = self.filled()
        rows = t.select("score > ? AND at >= ?", [5, datetime.datetime(2020, 1, 5, tzinfo=UTC)],
                        columns=["_id", "name", "at", "tag", "n"], order=["-score"], limit=2)
        self.assertEqual(rows, [
            {"_id": 10, "name": "n10", "at": datetime.datetime(2020, 1, 10, tzinfo=UTC), "tag": b"\x0a\xff",
             "n": 2**64 - 10},
            {"_id": 8, "name": "n8", "at": datetime.datetime(2020, 1, 8, tzinfo=UTC), "tag": b"\x08\xff",
             "n": 2**64 - 8}])
        self.assertEqual(list(rows[0]), ["_id", "name", "at", "tag", "n"])  # the projection's order

    def test_where_forms(self):
        t = self.filled()
        red = [1, 3, 5, 7, 9]
        self.assertEqual([r["id"] for r in t.select({"team": "red"})], red)
        self.assertEqual([r["id"] for r in t.select(("team", "=", "red"))], red)
        self.assertEqual([r["id"] for r in t.select([("team", "=", "red"), ("id", ">", 4)])], [5, 7, 9])
        self.assertEqual([r["id"] for r in t.select({"$or": [{"id": 1}, {"tag": b"\x02\xff"}]})], [1, 2])
        self.assertEqual([r["id"] for r in t.select({"$and": [{"$not": {"team": "red"}}, {"id": {"lt": 5}}]})], [2, 4])
        self.assertEqual([r["id"] for r in t.select({"at": {"between": [datetime.datetime(2020, 1, 2, tzinfo=UTC),
                                                                         datetime.datetime(2020, 1, 3)]}})], [2, 3])
        self.assertEqual([r["id"] for r in t.select("score IS NULL")], [3, 6, 9])
        self.assertEqual(t.select("n = ?", [2**64 - 1], columns=["id"]), [{"id": 1}])

    def test_results_keep_floats_and_nulls(self):
        t = self.open(schema="id i64, x f64 null")
        t.insert_many([{"id": 1, "x": float("nan")}, {"id": 2, "x": float("inf")}, {"id": 3, "x": None}])
        rows = t.select(order=["id"])
        self.assertTrue(math.isnan(rows[0]["x"]))
        self.assertEqual(rows[1]["x"], float("inf"))
        self.assertIsNone(rows[2]["x"])
        self.assertEqual(t.count_where({"x": float("inf")}), 1)

    def test_columns_format(self):
        t = self.filled(4)
        cols = t.query(columns=["id", "score", "at"], format="columns")
        self.assertEqual(cols, {"id": [1, 2, 3, 4], "score": [1.5, 3.0, None, 6.0],
                                "at": [datetime.datetime(2020, 1, d, tzinfo=UTC) for d in range(1, 5)]})

    def test_count_aggregate_group_by(self):
        t = self.filled()
        self.assertEqual(t.count_where(), 10)
        self.assertEqual(t.count_where("team = ?", ["red"]), 5)
        self.assertEqual(t.aggregate("count"), 10)
        self.assertEqual(t.aggregate("count", "score"), 7)
        self.assertEqual(t.aggregate("sum", "score"), sum(i * 1.5 for i in range(1, 11) if i % 3))
        self.assertEqual(t.aggregate("max", "at"), datetime.datetime(2020, 1, 10, tzinfo=UTC))
        self.assertIsNone(t.aggregate("avg", "score", where="id > 100"))
        self.assertEqual(t.group_by("team", n="count", total=("sum", "id")),
                         [{"team": "blue", "n": 5, "total": 30}, {"team": "red", "n": 5, "total": 25}])
        self.assertEqual(t.group_by(["team"], ("max", "id", "top"), order=["-top"], limit=1),
                         [{"team": "blue", "top": 10}])

    def test_errors(self):
        t = self.filled(3)
        with self.assertRaises(cairn.SchemaError):
            t.select("nope = 1")
        with self.assertRaises(cairn.TypeMismatch):
            t.select({"id": "one"})
        with self.assertRaises(cairn.InvalidError) as cm:
            t.select("id = = 1")
        self.assertTrue(str(cm.exception))
        with self.assertRaises(cairn.InvalidError):
            t.select("id = ?", [])  # a wrong number of params
        with self.assertRaises(cairn.InvalidError):
            t.query({"bogus": 1})
        with self.assertRaises(cairn.TypeMismatch):
            t.query("id = 1")  # a query is a dict, a WHERE text goes in select / where
        t.close()
        with self.assertRaises(cairn.ClosedError):
            t.select()

    def test_join(self):
        t = self.filled(4)
        u = self.open(os.path.join(self.dir, "u"), schema="team string, boss string")
        u.insert_many([{"team": "red", "boss": "Ada"}, {"team": "green", "boss": "Bob"}])
        rows = t.join(u, "team", columns=["left.id", "right.boss"])
        self.assertEqual(rows, [{"left.id": 1, "right.boss": "Ada"}, {"left.id": 3, "right.boss": "Ada"}])
        rows = t.join(u, {"team": "team"}, type="left", columns=["left.id", "right.boss"], order=["left.id"])
        self.assertEqual(rows, [{"left.id": i, "right.boss": "Ada" if i % 2 else None} for i in range(1, 5)])
        rows = t.join(u, [("team", "team")], where="id > ?", params=[1], right_where={"boss": "Ada"},
                      columns=["left.id"])
        self.assertEqual(rows, [{"left.id": 3}])
        with self.assertRaises(cairn.TypeMismatch):
            t.join("u", "team")


class Builder(Base):
    def test_chaining_is_immutable(self):
        t = self.filled()
        q = cairn.query(t).filter("score > ?", 3)
        red = q.filter(team="red")
        self.assertEqual(q.count(), 5)  # unchanged by the derived query
        self.assertEqual(red.count(), 2)
        self.assertEqual([r["id"] for r in red.order("-score").execute()], [7, 5])
        self.assertEqual(red.order("-score").select("id", "score").first(), {"id": 7, "score": 10.5})
        self.assertEqual(red.spec(), {"where": {"$and": ["score > ?", {"team": "red"}]}, "params": [3]})

    def test_texts_join_into_one(self):
        t = self.filled()
        q = t.where("id > ?", 2).filter("id < ?", 6).filter(("team", "=", "blue"))
        self.assertEqual(q.spec()["where"], {"$and": ["(id > ?) AND (id < ?)", ("team", "=", "blue")]})
        self.assertEqual(q.ids(), [4])

    def test_slice_and_order(self):
        t = self.filled()
        q = t.where().order(("id", "desc"))
        self.assertEqual(q[2:5].ids(), [8, 7, 6])
        self.assertEqual(q.slice(8).ids(), [2, 1])
        self.assertEqual(q.limit(1).offset(3).ids(), [7])
        self.assertEqual(list(q.select("id")[0:2]), [{"id": 10}, {"id": 9}])
        self.assertIsNone(t.where(id=99).first())
        self.assertEqual(q.group_by("team").agg(n="count").order("team").execute(),
                         [{"team": "blue", "n": 5}, {"team": "red", "n": 5}])
        self.assertEqual(t.where("id <= ?", 2).to_columns()["name"], ["n1", "n2"])
        with self.assertRaises(cairn.InvalidError):
            t.where({"id": 1}, 5)  # params belong to a text


class Indexes(Base):
    def test_create_list_drop(self):
        t = self.filled()
        t.create_index("team")
        t.create_index("score", "range")
        self.assertIn(cairn.Index("team", "hash"), t.indexes())
        self.assertIn(cairn.Index("score", "range"), t.indexes())
        with self.assertRaises(cairn.ExistsError):
            t.create_index("team")
        with self.assertRaises(cairn.SchemaError):
            t.create_index("nope")
        with self.assertRaises(cairn.InvalidError):
            t.create_index("team", "btree")
        t.drop_index("team")
        self.assertNotIn(cairn.Index("team", "hash"), t.indexes())
        with self.assertRaises(cairn.NotFoundError):
            t.drop_index("team")
        t.close()
        t2 = self.open()
        self.assertIn(cairn.Index("score", "range"), t2.indexes())  # stored in the table

    def test_lookups_same_with_and_without_index(self):
        t = self.filled()
        before = (t.lookup("team", "red"), t.lookup("tag", b"\x02\xff"), t.lookup("at", datetime.datetime(2020, 1, 3)),
                  t.find(team="blue", ok=True), t.find({"id": 4}), t.range_find("score", 3, 9, hi_inclusive=False),
                  t.range_find("at", lo=datetime.datetime(2020, 1, 9, tzinfo=UTC)), t.lookup("score", None))
        self.assertEqual(before, ([1, 3, 5, 7, 9], [2], [3], [2, 4, 6, 8, 10], [4], [2, 4, 5], [9, 10], []))
        for col in ("team", "tag", "at", "ok", "id"):
            try:
                t.create_index(col)
            except cairn.ExistsError:
                pass
        t.create_index("score", "range")
        t.create_index("at", "range")
        after = (t.lookup("team", "red"), t.lookup("tag", b"\x02\xff"), t.lookup("at", datetime.datetime(2020, 1, 3)),
                 t.find(team="blue", ok=True), t.find({"id": 4}), t.range_find("score", 3, 9, hi_inclusive=False),
                 t.range_find("at", lo=datetime.datetime(2020, 1, 9, tzinfo=UTC)), t.lookup("score", None))
        self.assertEqual(after, before)
        self.assertEqual(t.range_find("score", 3, 6, lo_inclusive=False), [4])
        t.delete(4)
        self.assertEqual(t.range_find("score", 3, 6, lo_inclusive=False), [])


# ---- the Arrow C data interface, read with ctypes ----------------------------------------------
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

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_name = ctypes.pythonapi.PyCapsule_GetName
_capsule_name.restype = ctypes.c_char_p
_capsule_name.argtypes = [ctypes.py_object]


def take_stream(cap):
    """Move the stream out of the capsule, as a consumer does (the capsule's release becomes NULL)."""
    src = ArrowArrayStream.from_address(_get_pointer(cap, b"arrow_array_stream"))
    mine = ArrowArrayStream()
    ctypes.memmove(ctypes.addressof(mine), ctypes.addressof(src), ctypes.sizeof(ArrowArrayStream))
    src.release = ctypes.cast(None, type(src.release))
    return mine


def read_i64(arr, child):
    c = arr.children[child].contents
    base = ctypes.cast(c.buffers[1], ctypes.POINTER(ctypes.c_int64))
    return [base[c.offset + i] for i in range(c.length)]


def drain(stream, child_name):
    """Every value of int64 child `child_name` of the stream's batches, then the stream released."""
    sch = ArrowSchema()
    assert stream.get_schema(ctypes.byref(stream), ctypes.byref(sch)) == 0
    names = [sch.children[i].contents.name.decode() for i in range(sch.n_children)]
    formats = [sch.children[i].contents.format.decode() for i in range(sch.n_children)]
    idx = names.index(child_name)
    out = []
    while True:
        arr = ArrowArray()
        assert stream.get_next(ctypes.byref(stream), ctypes.byref(arr)) == 0
        if not arr.release:
            break
        assert arr.n_children == sch.n_children
        out += read_i64(arr, idx)
        arr.release(ctypes.byref(arr))
    sch.release(ctypes.byref(sch))
    stream.release(ctypes.byref(stream))
    return names, formats, out


class Export(Base):
    def test_capsule_stream_walked_with_ctypes(self):
        t = self.filled()
        cap = t.__arrow_c_stream__()
        self.assertEqual(_capsule_name(cap), b"arrow_array_stream")
        names, formats, ids = drain(take_stream(cap), "id")
        self.assertEqual(names, ["_id", "id", "name", "score", "team", "at", "tag", "ok", "n"])
        self.assertEqual(formats[:3], ["L", "l", "U"])  # the row id (u64), i64, large utf8
        self.assertEqual(ids, list(range(1, 11)))
        del cap  # released already (moved out): the capsule frees only its struct

    def test_schema_capsule_and_query(self):
        t = self.filled()
        cap = t.__arrow_c_schema__()
        self.assertEqual(_capsule_name(cap), b"arrow_schema")
        sch = ArrowSchema.from_address(_get_pointer(cap, b"arrow_schema"))
        self.assertEqual(sch.format, b"+s")
        self.assertEqual(sch.children[1].contents.name, b"id")
        del cap, sch  # the capsule's destructor releases it
        exp = t.arrow(where="team = ?", params=["red"], columns=["_id", "id"])
        names, formats, ids = drain(take_stream(exp.__arrow_c_stream__()), "id")
        self.assertEqual((names, formats[0], ids), (["_id", "id"], "L", [1, 3, 5, 7, 9]))
        names, _, ids = drain(take_stream(t.where(team="blue").select("id").__arrow_c_stream__()), "id")
        self.assertEqual(ids, [2, 4, 6, 8, 10])

    def test_unconsumed_capsule_is_released(self):
        t = self.filled()
        for _ in range(3):
            cap = t.__arrow_c_stream__()
            self.assertEqual(cairn._c.cairn_py_table_pins(t._h), 1)
            del cap
            self.assertEqual(cairn._c.cairn_py_table_pins(t._h), 0)

    def test_stream_outlives_close(self):
        t = self.filled()
        t.sync()  # checkpointed: the batches point into the segment files' mappings
        stream = take_stream(t.__arrow_c_stream__())
        t.close()  # deferred: the stream pins the native handle
        self.assertTrue(t.closed)
        with self.assertRaises(cairn.ClosedError):
            t.select()
        _, _, ids = drain(stream, "id")  # still readable; its release closes the table
        self.assertEqual(ids, list(range(1, 11)))
        t2 = self.open()  # the writer lock is free again
        self.assertEqual(len(t2), 10)

    def test_column_buffer(self):
        t = self.filled()
        v = t.column("id")
        m = memoryview(v)
        self.assertEqual((m.format, m.shape, m.readonly, m.itemsize), ("q", (10,), True, 8))
        self.assertEqual(m.tolist(), list(range(1, 11)))
        self.assertEqual((len(v), v.name, v.arrow_format, v.null_count, v.validity), (10, "id", "l", 0, None))
        self.assertEqual(memoryview(t.column("ok")).tolist(), [i % 2 == 0 for i in range(1, 11)])
        self.assertEqual(memoryview(t.column("n")).format, "Q")
        self.assertEqual(memoryview(t.column("n")).tolist(), [2**64 - i for i in range(1, 11)])
        at = memoryview(t.column("at")).tolist()
        self.assertEqual(at[0], (datetime.datetime(2020, 1, 1, tzinfo=UTC) - datetime.datetime(1970, 1, 1, tzinfo=UTC))
                         // datetime.timedelta(microseconds=1))
        self.assertIsInstance(v, cairn.ColumnView)
        with self.assertRaises(TypeError):
            cairn.ColumnView()  # made by Table.column only
        with self.assertRaises(cairn.TypeMismatch):
            t.column("name")
        with self.assertRaises(cairn.SchemaError):
            t.column("nope")
        with self.assertRaises((BufferError, TypeError)):
            ctypes.c_char.from_buffer(v)  # a writable buffer: refused

    def test_column_nulls(self):
        t = self.filled()
        v = t.column("score")
        self.assertEqual(v.null_count, 3)
        bits = int.from_bytes(v.validity, "little")
        valid = [bool(bits >> i & 1) for i in range(10)]
        self.assertEqual(valid, [i % 3 != 0 for i in range(1, 11)])
        values = memoryview(v).tolist()
        self.assertEqual([x for x, ok in zip(values, valid) if ok], [i * 1.5 for i in range(1, 11) if i % 3])

    def test_column_outlives_table(self):
        t = self.filled()
        v = t.column("score")
        t.close()
        self.assertEqual(memoryview(v).tolist()[:2], [1.5, 3.0])
        t2 = self.open()  # a column view holds no lock
        self.assertEqual(len(t2), 10)

    @unittest.skipIf(numpy is None, "NumPy is not installed (python3-numpy)")
    def test_numpy_frombuffer_without_copy(self):
        t = self.open(schema="id i64, x f64 null")
        t.load({"id": list(range(5000)), "x": [i / 4 for i in range(5000)]})
        v = t.column("x")
        a = numpy.frombuffer(v, dtype=numpy.float64)
        self.assertIs(a.base, v)  # the array views the column's own memory
        self.assertFalse(a.flags.writeable)
        self.assertEqual(a.shape, (5000,))
        self.assertEqual(float(a.sum()), sum(i / 4 for i in range(5000)))
        ids = numpy.frombuffer(t.column("id"), dtype=numpy.int64)
        self.assertTrue((ids == numpy.arange(5000)).all())
        del v
        gc.collect()
        self.assertEqual(float(a[4999]), 4999 / 4)  # the array keeps the view (and its values) alive
        t.update(1, {"x": None})
        w = t.column("x")
        mask = numpy.unpackbits(numpy.frombuffer(w.validity, dtype=numpy.uint8), bitorder="little")[:5000]
        self.assertEqual(int(mask.sum()), 4999)
        self.assertEqual(int(numpy.flatnonzero(mask == 0)[0]), 0)


@unittest.skipIf(struct.calcsize("P") != 8, "64-bit only")
class Ipc(Base):
    def test_ipc_bytes(self):
        t = self.filled()
        data = t.export_ipc(where="id <= ?", params=[3])
        self.assertIsInstance(data, bytes)
        self.assertEqual(data[:4], b"\xff\xff\xff\xff")  # an IPC message's continuation marker
        self.assertEqual(data[-8:], b"\xff\xff\xff\xff\x00\x00\x00\x00")  # end of stream


if __name__ == "__main__":
    unittest.main()
