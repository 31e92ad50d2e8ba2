"""cairn.Table from Python: schemas (text, Column list, dicts), native values per column type and
back, wrong types as TypeMismatch, rows by id (get / [] / update / delete / upsert), iteration in
id order, insert_many and load (all or nothing), transactions, events after the call, lifetimes."""
import datetime
import gc
import math
import os
import shutil
import tempfile
import unittest

import cairn

UTC = datetime.timezone.utc

try:
    import numpy
except ImportError:  # not installed here: the NumPy test is skipped
    numpy = None


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cairn-py-table-")
        self.path = os.path.join(self.dir, "t")

    def tearDown(self):
        gc.collect()
        shutil.rmtree(self.dir, ignore_errors=True)

    def open(self, schema=None, **kw):
        kw.setdefault("sync", "none")
        t = cairn.Table(self.path, schema=schema, **kw)
        self.addCleanup(t.close)
        return t


class Schema(Base):
    def test_text_form(self):
        t = self.open("id i64 primary key, name string not null, score f64 default 0.5, tag bytes:4 unique, "
                      "at timestamp default 0")
        s = t.schema
        self.assertEqual([c.name for c in s], ["id", "name", "score", "tag", "at"])
        self.assertEqual(t.columns, ["id", "name", "score", "tag", "at"])
        self.assertEqual((s[0].name, s[0].type, s[0].nullable, s[0].primary_key), ("id", "i64", False, True))
        self.assertEqual(s[1].nullable, False)
        self.assertEqual(s[2].default, 0.5)
        self.assertEqual((s[3].type, s[3].unique), ("bytes:4", True))
        self.assertEqual(s[4].default, datetime.datetime(1970, 1, 1, tzinfo=UTC))
        self.assertIn("primary key", t.schema_text().lower())

    def test_column_list_and_dicts_are_the_same_schema(self):
        cols = [cairn.Column("id", "i64", primary_key=True), {"name": "name", "type": "string", "nullable": False},
                cairn.Column("blob", "bytes", default=b"\x00\xff"), cairn.Column("at", "timestamp")]
        with cairn.Table(self.path, schema=cols) as t:
            t.insert({"id": 1, "name": "a"})
            self.assertEqual(t[1], {"id": 1, "name": "a", "blob": b"\x00\xff", "at": None})
        # the same schema in the text form reopens it; a different one is SchemaError
        with cairn.Table(self.path, schema="id i64 primary key, name string not null, blob bytes default x'00ff', "
                                           "at timestamp") as t:
            self.assertEqual(len(t), 1)
        with self.assertRaises(cairn.SchemaError):
            cairn.Table(self.path, schema="id i64 primary key")
        with cairn.Table(self.path) as t:  # stored: none needed
            self.assertEqual(t.columns, ["id", "name", "blob", "at"])

    def test_bad_schemas(self):
        with self.assertRaises(cairn.InvalidError):
            cairn.Table(self.path, schema="id i64,")
        with self.assertRaises(cairn.InvalidError):
            cairn.Table(self.path, schema="id nosuchtype")
        with self.assertRaises(cairn.TypeMismatch):
            cairn.Table(self.path, schema=5)
        with self.assertRaises(cairn.TypeMismatch):
            cairn.Table(self.path, schema=[object()])
        with self.assertRaises(cairn.InvalidError):
            cairn.Table(self.path, schema=[{"name": "a", "type": "i64", "colour": "red"}])
        with self.assertRaises(cairn.InvalidError):  # a new table needs a schema
            cairn.Table(self.path)
        with self.assertRaises(cairn.PathError):
            cairn.Table(self.path, create=False)
        with self.assertRaises(cairn.InvalidError):
            cairn.Table(self.path, schema="a i64", colour="red")
        with self.assertRaises(cairn.TypeMismatch):
            cairn.Table(self.path, schema="a i64", checkpoint_rows="many")

    def test_add_column(self):
        t = self.open("k string")
        t.insert({"k": "a"})
        t.add_column("n i32 not null default 7")
        t.add_column(cairn.Column("at", "timestamp", default=datetime.datetime(2000, 1, 1, tzinfo=UTC)))
        t.add_column({"name": "note", "type": "string", "default": "it's"})
        self.assertEqual(t[1], {"k": "a", "n": 7, "at": datetime.datetime(2000, 1, 1, tzinfo=UTC), "note": "it's"})
        i = t.insert({"k": "b", "at": datetime.datetime(2001, 1, 1, tzinfo=UTC)})
        self.assertEqual(t[i]["at"].year, 2001)  # the new timestamp column converts both ways
        with self.assertRaises(cairn.ExistsError):
            t.add_column("k string")
        with t.transaction():
            with self.assertRaises(cairn.TxnError):
                t.add_column("z i8")


class Values(Base):
    def test_every_type_round_trips(self):
        t = self.open("a i8, b i16, c i32, d i64, e u8, f u16, g u32, h u64, i f32, j f64, k bool, l string, "
                      "m bytes, n bytes:3, o timestamp")
        at = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
        row = {"a": -128, "b": 32767, "c": -2**31, "d": -2**63, "e": 255, "f": 65535, "g": 2**32 - 1, "h": 2**64 - 1,
               "i": 1.5, "j": -0.1, "k": True, "l": "ünï\x00code", "m": b"\x00\x01", "n": b"abc", "o": at}
        i = t.insert(row)
        self.assertEqual(t[i], row)
        got = t[i]
        self.assertIs(type(got["h"]), int)
        self.assertIs(type(got["m"]), bytes)
        self.assertEqual(got["o"].tzinfo, UTC)
        nulls = t.insert({})
        self.assertEqual(t[nulls], {k: None for k in row})

    def test_update_every_type(self):
        t = self.open("a i8, h u64, j f64, k bool, l string, m bytes, n bytes:3, o timestamp, "
                      "d i32 not null default 7, e string default 'x'")
        i = t.insert({})
        self.assertEqual(t[i], {"a": None, "h": None, "j": None, "k": None, "l": None, "m": None, "n": None,
                                "o": None, "d": 7, "e": "x"})
        at = datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
        changes = {"a": -128, "h": 2**64 - 1, "j": float("-inf"), "k": False, "l": "ü", "m": b"", "n": b"xyz",
                   "o": at, "d": -5, "e": "y"}
        t.update(i, changes)
        self.assertEqual(t[i], changes)
        t.update(i, {"o": at.astimezone(datetime.timezone(datetime.timedelta(hours=-8))), "m": bytearray(b"q")})
        self.assertEqual((t[i]["o"], t[i]["m"]), (at, b"q"))
        t.update(i, {"e": None, "l": None})  # explicit null: null, even where there is a default
        self.assertEqual((t[i]["e"], t[i]["l"]), (None, None))
        t.update(i, {"d": None})  # null for a NOT NULL column with a default: the default
        self.assertEqual(t[i]["d"], 7)
        t.update(i, {"d": -5})
        with self.assertRaises(cairn.RangeError):
            t.update(i, {"a": 128})
        with self.assertRaises(cairn.TypeMismatch):
            t.update(i, {"k": 1})
        with self.assertRaises(cairn.SchemaError):
            t.update(i, {"zz": 1})
        t.update(i, {})
        self.assertEqual(t[i]["d"], -5)

    def test_float_specials(self):
        t = self.open("x f64, y f32")
        i = t.insert({"x": float("nan"), "y": float("-inf")})
        j = t.insert({"x": float("inf"), "y": 2.0})
        r = t[i]
        self.assertTrue(math.isnan(r["x"]))
        self.assertEqual(r["y"], float("-inf"))
        self.assertEqual(t[j], {"x": float("inf"), "y": 2.0})
        self.assertEqual(t.insert_many([{"x": float("nan")}, {"x": 1.0}]), [j + 1, j + 2])
        self.assertTrue(math.isnan(t[j + 1]["x"]))

    def test_bytes_like_inputs(self):
        t = self.open("b bytes, f bytes:2")
        i = t.insert({"b": bytearray(b"xy"), "f": memoryview(b"\x01\x02")})
        self.assertEqual(t[i], {"b": b"xy", "f": b"\x01\x02"})
        with self.assertRaises(cairn.RangeError):
            t.insert({"f": b"\x01"})  # bytes:N takes exactly N bytes
        with self.assertRaises(cairn.TypeMismatch):
            t.insert({"b": "text is not bytes"})

    def test_timestamps(self):
        t = self.open("at timestamp")
        aware = datetime.datetime(2020, 2, 29, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
        i = t.insert({"at": aware})
        self.assertEqual(t[i]["at"], aware)  # the same instant ...
        self.assertEqual(t[i]["at"].tzinfo, UTC)  # ... in UTC
        naive = datetime.datetime(2020, 1, 1, 0, 0, 0, 1)
        j = t.insert({"at": naive})  # naive: taken as UTC
        self.assertEqual(t[j]["at"], naive.replace(tzinfo=UTC))
        k = t.insert({"at": datetime.datetime(1, 1, 1, tzinfo=UTC)})
        self.assertEqual(t[k]["at"].year, 1)
        for wrong in (0, 1.5, "2020-01-01", True, datetime.date(2020, 1, 1)):
            with self.assertRaises(cairn.TypeMismatch, msg=repr(wrong)):
                t.insert({"at": wrong})

    def test_wrong_types_are_type_errors(self):
        t = self.open("a i64, b f64, c bool, d string, e bytes, f bytes:2, g timestamp")
        for col in "abcdefg":
            with self.assertRaises(cairn.TypeMismatch, msg=col):
                t.insert({col: object()})
            with self.assertRaises(cairn.TypeMismatch, msg=col):
                t.insert({col: [1, 2]})
        with self.assertRaises(cairn.TypeMismatch):
            t.insert({"a": "1"})
        with self.assertRaises(cairn.TypeMismatch):
            t.insert({"a": True})  # a bool is not an integer here
        with self.assertRaises(cairn.TypeMismatch):
            t.insert({"c": 1})
        with self.assertRaises(cairn.TypeMismatch):
            t.insert({"a": datetime.datetime.now(UTC)})
        with self.assertRaises(cairn.TypeMismatch):
            t.insert([("a", 1)])  # a row is a dict
        with self.assertRaises(cairn.TypeMismatch):
            t.insert(None)
        with self.assertRaises(cairn.TypeMismatch):
            t.insert({("a",): 1})
        with self.assertRaises(cairn.SchemaError):
            t.insert({"nope": 1})
        with self.assertRaises(cairn.RangeError):
            t.insert({"a": 2**63})
        self.assertEqual(len(t), 0)

    def test_other_int_and_mapping_types(self):
        import collections
        import enum
        import fractions

        class Level(enum.IntEnum):
            HIGH = 3

        t = self.open("n i32, x f64")
        i = t.insert(collections.OrderedDict([("n", Level.HIGH), ("x", fractions.Fraction(1, 4))]))
        self.assertEqual(t[i], {"n": 3, "x": 0.25})


class Rows(Base):
    def test_crud(self):
        t = self.open("k string primary key, n i64")
        self.assertEqual(t.insert({"k": "a", "n": 1}), 1)
        self.assertEqual(t.insert({"k": "b"}), 2)
        self.assertEqual(len(t), 2)
        self.assertEqual(t.count(), 2)
        self.assertEqual(t.get(1), {"k": "a", "n": 1})
        self.assertIsNone(t.get(99))
        self.assertEqual(t.get(99, "dflt"), "dflt")
        self.assertIn(1, t)
        self.assertNotIn(99, t)
        self.assertNotIn("x", t)
        with self.assertRaises(KeyError):
            t[99]
        with self.assertRaises(cairn.NotFoundError):
            t[0]
        t.update(2, {"n": 20})
        self.assertEqual(t[2], {"k": "b", "n": 20})
        with self.assertRaises(cairn.NotFoundError):
            t.update(99, {"n": 1})
        with self.assertRaises(cairn.ConstraintError):
            t.update(2, {"k": "a"})
        with self.assertRaises(cairn.TypeMismatch):
            t.update(2, [("n", 1)])
        del t[1]
        self.assertIsNone(t.get(1))
        with self.assertRaises(cairn.NotFoundError):
            t.delete(1)
        with self.assertRaises(cairn.NotFoundError):
            t.delete(-1)
        self.assertIsNone(t.get(-1))
        self.assertIsNone(t.get(2**70))
        with self.assertRaises(cairn.TypeMismatch):
            t.get("1")
        with self.assertRaises(cairn.TypeMismatch):
            t.get(True)
        with self.assertRaises(cairn.TypeMismatch):
            t.delete(1.0)
        self.assertEqual(t.insert({"k": "c"}), 3)  # ids are never reused

    def test_upsert(self):
        t = self.open("id i64 primary key, name string, n i64")
        self.assertEqual(t.upsert({"id": 10, "name": "a", "n": 1}), 1)
        self.assertEqual(t.upsert({"id": 10, "n": 5}), 1)
        self.assertEqual(t[1], {"id": 10, "name": "a", "n": 5})
        self.assertEqual(t.upsert({"id": 20}), 2)
        with self.assertRaises(cairn.InvalidError):
            t.upsert({"name": "no key"})
        with cairn.Table(os.path.join(self.dir, "nopk"), schema="v string") as u:
            with self.assertRaises(cairn.InvalidError):
                u.upsert({"v": "x"})

    def test_iteration_in_id_order(self):
        t = self.open("n i64")
        ids = t.insert_many({"n": i} for i in range(10))
        self.assertEqual(ids, list(range(1, 11)))
        del t[3]
        t.update(5, {"n": 50})
        got = list(t)
        self.assertEqual([i for i, _ in got], [1, 2, 4, 5, 6, 7, 8, 9, 10])
        self.assertEqual(dict(got)[5], {"n": 50})
        self.assertEqual(t.ids(), [1, 2, 4, 5, 6, 7, 8, 9, 10])
        self.assertEqual(t.rows()[0], {"n": 0})
        self.assertEqual(list(t.items()), got)
        it = iter(t)  # a snapshot: later writes are not seen
        next(it)
        t.insert({"n": 11})
        self.assertEqual(len(list(it)), 8)

    def test_insert_many_all_or_nothing(self):
        t = self.open("k string unique")
        t.insert({"k": "a"})
        with self.assertRaises(cairn.ConstraintError):
            t.insert_many([{"k": "b"}, {"k": "a"}])
        with self.assertRaises(cairn.TypeMismatch):
            t.insert_many([{"k": "c"}, {"k": 5}])
        with self.assertRaises(cairn.TypeMismatch):
            t.insert_many([{"k": "c"}, object()])
        with self.assertRaises(cairn.TypeMismatch):
            t.insert_many(5)
        self.assertEqual(t.rows(), [{"k": "a"}])
        self.assertEqual(t.insert_many([]), [])

    def test_load_columns(self):
        t = self.open("n i64, s string, at timestamp, b bytes, x f64 default 1.5")
        at = datetime.datetime(2030, 1, 1, tzinfo=UTC)
        ids = t.load({"n": [1, 2, 3], "s": ("a", None, "c"), "at": [at, None, at], "b": [b"x", bytearray(b"y"), None]})
        self.assertEqual(ids, range(1, 4))
        self.assertEqual(t[2], {"n": 2, "s": None, "at": None, "b": b"y", "x": 1.5})
        self.assertEqual(t[3]["at"], at)
        with self.assertRaises(cairn.Error):  # lists of different lengths
            t.load({"n": [1, 2], "s": ["a"]})
        with self.assertRaises(cairn.TypeMismatch):
            t.load({"n": [1, "two"]})
        with self.assertRaises(cairn.TypeMismatch):
            t.load({"n": 5})
        with self.assertRaises(cairn.TypeMismatch):
            t.load([1, 2])
        self.assertEqual(len(t), 3)
        self.assertEqual(t.load({"x": [float("nan")]}), range(4, 5))
        self.assertTrue(math.isnan(t[4]["x"]))

    def test_load_buffers(self):
        import array
        t = self.open("n i64, x f64, b bool, u u8, at timestamp, s string default 'd'")
        seen = []
        t.on_inserted(seen.append)
        ids = t.load({"n": array.array("q", [1, 2, 3]), "x": array.array("d", [0.5, float("nan"), 2.0]),
                      "b": memoryview(bytes([1, 0, 1])).cast("?"), "u": array.array("B", [0, 255, 7]),
                      "at": array.array("q", [0, 1, -1])})  # timestamps: int64 microseconds
        self.assertEqual(ids, range(1, 4))
        self.assertEqual(t[1], {"n": 1, "x": 0.5, "b": True, "u": 0, "s": "d",
                                "at": datetime.datetime(1970, 1, 1, tzinfo=UTC)})
        self.assertTrue(math.isnan(t[2]["x"]))
        self.assertEqual(t[3]["at"], datetime.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
        self.assertEqual([e.id for e in seen], [1, 2, 3])
        # another item type than the column's goes the general path (and is judged value by value)
        self.assertEqual(t.load({"n": array.array("i", [4]), "u": array.array("q", [9])}), range(4, 5))
        self.assertEqual((t[4]["n"], t[4]["u"]), (4, 9))
        with self.assertRaises(cairn.RangeError):
            t.load({"u": array.array("q", [256])})
        with self.assertRaises(cairn.InvalidError):  # lengths differ
            t.load({"n": array.array("q", [1, 2]), "x": array.array("d", [1.0])})
        with self.assertRaises(cairn.SchemaError):
            t.load({"zz": array.array("q", [1])})
        with self.assertRaises(cairn.TypeMismatch):
            t.load({"s": array.array("q", [1])})
        with self.assertRaises(cairn.TypeMismatch):  # a bool column takes bools, not bytes
            t.load({"b": b"\x01"})
        self.assertEqual(len(t), 4)

    @unittest.skipIf(numpy is None, "NumPy is not installed")
    def test_load_numpy(self):
        t = self.open("n i64, x f64, at timestamp")
        ids = t.load({"n": numpy.arange(5, dtype=numpy.int64), "x": numpy.linspace(0, 1, 5),
                      "at": numpy.array(["2020-01-01T00:00:00", "NaT", "1970-01-01", "2020-01-01", "2020-01-01"],
                                        dtype="datetime64[us]")})
        self.assertEqual(len(ids), 5)
        self.assertEqual(t[ids[1]], {"n": 1, "x": 0.25, "at": None})
        self.assertEqual(t[ids[2]]["at"], datetime.datetime(1970, 1, 1, tzinfo=UTC))
        t.insert({"n": numpy.int32(7), "x": numpy.float64(0.5)})


class Transactions(Base):
    def test_commit_and_rollback(self):
        t = self.open("n i64")
        with t.transaction():
            self.assertTrue(t.in_txn)
            self.assertTrue(t.in_transaction)
            t.insert({"n": 1})
            t.insert({"n": 2})
        self.assertFalse(t.in_txn)
        with self.assertRaises(RuntimeError):
            with t.transaction():
                t.insert({"n": 3})
                raise RuntimeError("boom")
        self.assertEqual(t.rows(), [{"n": 1}, {"n": 2}])
        self.assertEqual(t.insert({"n": 4}), 4)  # the rolled-back id is not reused
        t.begin()
        with self.assertRaises(cairn.TxnError):
            t.begin()
        t.rollback()
        with self.assertRaises(cairn.TxnError):
            t.commit()
        with t.transaction():
            with self.assertRaises(cairn.TxnError):
                t.compact()

    def test_persists_and_stats(self):
        with cairn.Table(self.path, schema="n i64", checkpoint_rows=4) as t:
            t.insert_many({"n": i} for i in range(10))
            t.delete(1)
            t.sync()
            st = t.stats()
            self.assertEqual(st["rows"], 9)
            self.assertEqual(st["next_id"], 11)
            self.assertEqual(st["columns"], 1)
            self.assertIs(st["in_txn"], False)
            t.compact()
        cairn.Table.check(self.path)
        cairn.check_table(self.path)
        with cairn.Table(self.path, read_only=True) as t:
            self.assertEqual(len(t), 9)
            with self.assertRaises(cairn.ReadOnlyError):
                t.insert({"n": 1})
        with self.assertRaises(cairn.PathError):
            cairn.check_table(os.path.join(self.dir, "missing"))


class Events(Base):
    def test_after_the_call_and_at_commit(self):
        t = self.open("k string, n i64")
        seen = []

        def listener(ev):
            seen.append((ev.name, ev.id, ev.new_row, ev.old_row, len(t)))  # may call the table

        sid = t.subscribe(listener)
        i = t.insert({"k": "a", "n": 1})
        t.update(i, {"n": 2})
        t.delete(i)
        self.assertEqual(seen, [("inserted", 1, {"k": "a", "n": 1}, None, 1),
                                ("updated", 1, {"k": "a", "n": 2}, {"k": "a", "n": 1}, 1),
                                ("deleted", 1, None, {"k": "a", "n": 2}, 0)])
        del seen[:]
        with t.transaction():
            t.insert({"k": "b"})
            self.assertEqual(seen, [])  # held until the commit
        self.assertEqual([e[0] for e in seen], ["inserted"])
        del seen[:]
        with self.assertRaises(RuntimeError):
            with t.transaction():
                t.insert({"k": "c"})
                raise RuntimeError
        with self.assertRaises(cairn.NotFoundError):
            t.delete(99)
        self.assertEqual(seen, [])  # rollback and failures: none
        t.unsubscribe(sid)
        t.insert({"k": "d"})
        self.assertEqual(seen, [])
        with self.assertRaises(cairn.NotFoundError):
            t.unsubscribe(sid)

    def test_per_event_listeners_and_typed_rows(self):
        t = self.open("at timestamp, b bytes:2, x f64")
        ins, dels = [], []
        t.on_inserted(ins.append)
        t.on_deleted(dels.append)
        at = datetime.datetime(2024, 1, 1, tzinfo=UTC)
        t.insert_many([{"at": at, "b": b"\xbe\xef", "x": float("inf")}])
        t.load({"x": [1.0, 2.0]})
        t.delete(1)
        self.assertEqual([e.id for e in ins], [1, 2, 3])
        self.assertEqual(ins[0].new_row, {"at": at, "b": b"\xbe\xef", "x": float("inf")})
        self.assertEqual(dels[0].old_row["b"], b"\xbe\xef")
        t.remove_listener(ins.append)

    def test_raising_listener_keeps_the_change(self):
        t = self.open("n i64")

        def bad(ev):
            raise ValueError("listener")

        t.subscribe(bad)
        with self.assertRaises(ValueError):
            t.insert({"n": 1})
        self.assertEqual(len(t), 1)
        with self.assertRaises(cairn.TypeMismatch):
            t.subscribe("not callable")


class Threads(Base):
    def test_writers_and_readers_share_a_handle(self):
        import threading
        t = self.open("k string, n i64, at timestamp")
        seen = []
        t.subscribe(lambda ev: seen.append(ev.id))
        ids, errors = [], []
        at = datetime.datetime(2020, 1, 1, tzinfo=UTC)

        def writer(w):
            try:
                for i in range(300):
                    row = {"k": "w%d" % w, "n": i}
                    if i % 3 == 0:
                        row["at"] = at if i % 2 else at.astimezone(datetime.timezone(datetime.timedelta(hours=1)))
                    ids.append(t.insert(row))
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        def reader():
            try:
                for _ in range(5):
                    for i, row in t:
                        self.assertEqual(t.get(i, row), row)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)] + [threading.Thread(target=reader)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(errors, [])
        self.assertEqual(sorted(ids), list(range(1, 1201)))
        self.assertEqual(sorted(seen), sorted(ids))  # each event once, on the thread that wrote
        self.assertEqual(len(t), 1200)
        self.assertEqual(sum(1 for _, r in t if r["at"] == at), 400)


class Lifetime(Base):
    def test_closed_handle(self):
        t = cairn.Table(self.path, schema="n i64")
        t.insert({"n": 1})
        it = iter(t)
        next(it)
        t.close()
        t.close()  # idempotent
        self.assertTrue(t.closed)
        with self.assertRaises(cairn.ClosedError):
            next(it)
        for call in (lambda: t.insert({"n": 1}), lambda: t.get(1), lambda: len(t), lambda: t.schema,
                     lambda: list(t), lambda: t.update(1, {"n": 2}), lambda: t.delete(1), lambda: t.in_txn,
                     lambda: t.subscribe(print), lambda: t.load({"n": [1]}), lambda: t.stats()):
            with self.assertRaises(cairn.ClosedError):
                call()
        with cairn.Table(self.path) as t2:  # the lock was released
            self.assertEqual(len(t2), 1)

    def test_second_writer_is_locked(self):
        t = self.open("n i64")
        with self.assertRaises((cairn.LockedError, cairn.BusyError)):
            cairn.Table(self.path)
        t.close()

    def test_gc_closes_with_resource_warning(self):
        t = cairn.Table(self.path, schema="n i64")
        t.insert({"n": 1})
        with self.assertWarns(ResourceWarning):
            del t
            gc.collect()
        with cairn.Table(self.path) as t:
            self.assertEqual(len(t), 1)


if __name__ == "__main__":
    unittest.main()
