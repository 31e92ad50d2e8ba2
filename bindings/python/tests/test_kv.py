"""What only the Python binding has: the MutableMapping protocol, value types, buffers, GC of an
unclosed handle, threads through one handle, context managers. (The engine's behaviour is the
conformance suite's job.)"""
import datetime
import gc
import os
import shutil
import tempfile
import threading
import time
import unittest
import weakref
from collections.abc import MutableMapping

import cairn


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cairn-py-")
        self.path = os.path.join(self.dir, "db")

    def tearDown(self):
        gc.collect()
        shutil.rmtree(self.dir, ignore_errors=True)

    def open(self, **kw):
        kw.setdefault("sync", "none")
        db = cairn.KV(self.path, **kw)
        self.addCleanup(db.close)
        return db


class MappingProtocol(Base):
    def test_is_a_mutable_mapping(self):
        db = self.open()
        self.assertIsInstance(db, MutableMapping)

    def test_set_get_del_contains_len_iter(self):
        db = self.open()
        db["a"] = b"1"
        db["b"] = "two"
        db[b"c"] = {"three": 3}
        self.assertEqual(len(db), 3)
        self.assertEqual(db["a"], b"1")
        self.assertEqual(db["b"], "two")
        self.assertEqual(db["c"], {"three": 3})
        self.assertIn("a", db)
        self.assertIn(b"a", db)
        self.assertNotIn("zz", db)
        self.assertEqual(list(db), ["a", "b", "c"])
        self.assertEqual(sorted(db.keys()), ["a", "b", "c"])
        del db["a"]
        self.assertNotIn("a", db)
        with self.assertRaises(KeyError):
            del db["a"]
        with self.assertRaises(KeyError) as cm:
            db["a"]
        self.assertIsInstance(cm.exception, cairn.NotFoundError)
        self.assertEqual(cm.exception.name, "CAIRN_NOTFOUND")

    def test_get_default_and_mixins(self):
        db = self.open()
        self.assertIsNone(db.get("x"))
        self.assertEqual(db.get("x", 7), 7)
        self.assertEqual(db.setdefault("x", "d"), "d")
        self.assertEqual(db.pop("x"), "d")
        self.assertEqual(db.pop("x", None), None)
        with self.assertRaises(KeyError):
            db.pop("x")
        db.update({"p": 1, "q": 2}, r=3)  # MutableMapping.update
        self.assertEqual(dict(db.items()), {"p": 1, "q": 2, "r": 3})
        self.assertEqual(sorted(db.values()), [1, 2, 3])
        self.assertEqual(len(db.items()), 3)
        self.assertIn(("p", 1), db.items())
        self.assertNotIn(("p", 2), db.items())
        self.assertEqual(list(db.items(prefix="q")), [("q", 2)])
        self.assertEqual(len(db.values(prefix="r")), 1)
        self.assertEqual(db, {"p": 1, "q": 2, "r": 3})
        db.clear()
        self.assertEqual(len(db), 0)

    def test_keys_prefix_and_binary_keys(self):
        db = self.open()
        for k in ("user:1", "user:2", "item:1"):
            db[k] = b""
        db[b"\xff\x00bin"] = b"x"
        self.assertEqual(db.keys(prefix="user:"), ["user:1", "user:2"])
        self.assertEqual(db.keys(prefix=b"\xff"), [b"\xff\x00bin"])  # not UTF-8: bytes
        self.assertEqual(db[b"\xff\x00bin"], b"x")

    def test_iteration_is_a_snapshot(self):
        db = self.open()
        for i in range(10):
            db["k%d" % i] = i
        seen = []
        for k in db:
            seen.append(k)
            db["new-" + k] = 1  # writes during iteration do not disturb it
        self.assertEqual(len(seen), 10)

    def test_unicode_keys(self):
        db = self.open()
        db["ключ-🔑"] = "значение"
        self.assertEqual(db["ключ-🔑".encode("utf-8")], "значение")
        self.assertEqual(list(db), ["ключ-🔑"])


class Values(Base):
    def test_types_round_trip_and_reopen(self):
        vals = {"bytes": b"\x00\x01\xff", "text": "héllo", "dict": {"a": [1, 2.5, None, True]},
                "list": [1, "x"], "int": 12345678901234, "float": 2.5, "true": True, "none": None,
                "empty": b"", "emptytext": ""}
        db = self.open()
        for k, v in vals.items():
            db[k] = v
        db.close()
        db = self.open()
        for k, v in vals.items():
            got = db[k]
            self.assertEqual(got, v, k)
            self.assertIs(type(got), type(v), k)

    def test_buffers_are_bytes(self):
        db = self.open()
        db["ba"] = bytearray(b"abc")
        db["mv"] = memoryview(b"xyzw")[1:3]
        import array
        db["arr"] = array.array("B", [1, 2, 3])
        self.assertEqual(db["ba"], b"abc")
        self.assertEqual(db["mv"], b"yz")
        self.assertEqual(db["arr"], b"\x01\x02\x03")
        db[bytearray(b"bk")] = b"1"
        db[memoryview(b"mk")] = b"2"
        self.assertEqual(db["bk"], b"1")
        self.assertEqual(db["mk"], b"2")

    def test_non_contiguous_buffer_is_a_type_error(self):
        db = self.open()
        with self.assertRaises(cairn.TypeMismatch):
            db["nc"] = memoryview(b"abcdef")[::2]

    def test_get_typed_tells_json_string_from_text(self):
        db = self.open()
        db.put("j", "hi", kind="json")
        db.put("t", "hi")
        self.assertEqual(db.get_typed("j"), ("hi", "json"))
        self.assertEqual(db.get_typed("t"), ("hi", "text"))
        self.assertEqual(db.get_raw("j"), (b'"hi"', cairn.KIND_JSON))

    def test_wrong_types(self):
        db = self.open()
        for bad_key in (1, 1.5, None, ["a"], object(), ("a", 1)):
            with self.assertRaises(cairn.TypeMismatch):
                db[bad_key] = b"v"
            with self.assertRaises(TypeError):
                db.get(bad_key)
        for bad_val in (object(), {1, 2}, {"a": object()}, complex(1, 2)):
            with self.assertRaises(cairn.TypeMismatch) as cm:
                db["k"] = bad_val
            self.assertEqual(cm.exception.code, cairn.TypeMismatch.code)
        with self.assertRaises(cairn.InvalidError):
            db["k"] = float("nan")
        with self.assertRaises(cairn.InvalidError):
            db[""] = b"v"
        with self.assertRaises(cairn.TooBigError):
            db["x" * 65536] = b"v"
        db["x" * 65535] = b"ok"
        self.assertEqual(db["x" * 65535], b"ok")

    def test_pickle_is_opt_in(self):
        import fractions
        db = self.open()
        with self.assertRaises(cairn.TypeMismatch):
            db["f"] = fractions.Fraction(1, 3)
        with self.assertRaises(cairn.UnsupportedError):
            db.put("f", fractions.Fraction(1, 3), kind="native")
        db.close()
        db = self.open(allow_pickle=True)
        db.put("f", fractions.Fraction(1, 3), kind="native")
        self.assertEqual(db["f"], fractions.Fraction(1, 3))
        db.close()
        db = self.open()  # without allow_pickle the value is not unpickled
        with self.assertRaises(cairn.UnsupportedError):
            db["f"]

    def test_update_merges_json_object(self):
        db = self.open()
        db["doc"] = {"a": 1, "b": {"c": 2}}
        db.update("doc", {"b": 3, "d": [4]})
        self.assertEqual(db["doc"], {"a": 1, "b": 3, "d": [4]})
        with self.assertRaises(KeyError):
            db.update("missing", {"a": 1})
        db["t"] = "text"
        with self.assertRaises(cairn.TypeMismatch):
            db.update("t", {"a": 1})
        db["l"] = [1]
        with self.assertRaises(cairn.TypeMismatch):
            db.update("l", {"a": 1})
        with self.assertRaises(cairn.TypeMismatch):
            db.update("doc", "notadict")

    def test_expiry(self):
        db = self.open()
        now = 1_900_000_000_000
        cairn.testing_set_clock(now)
        try:
            db.put("soon", b"x", ttl=500)  # milliseconds
            db.put("later", b"y", ttl=datetime.timedelta(hours=1))
            at = datetime.datetime.fromtimestamp(now / 1000 + 7200, datetime.timezone.utc)
            db.put("at", b"z", expire_at=at)
            db.put("ms", b"w", expire_at=now + 3_600_000)
            db.put("zero", b"0", ttl=0)  # expires at once
            self.assertEqual(db["soon"], b"x")
            self.assertIsNone(db.get("zero"))
            db["forever"] = b"f"
            self.assertIsNone(db.expiry("forever"))  # never expires
            self.assertEqual(db.expiry("soon"),
                             datetime.datetime.fromtimestamp((now + 500) / 1000, datetime.timezone.utc))
            self.assertEqual(db.expiry("at"), at)
            self.assertEqual(db.expiry("ms").timestamp() * 1000, now + 3_600_000)
            with self.assertRaises(cairn.NotFoundError):
                db.expiry("missing")
            with self.assertRaises(KeyError):
                db.expiry("zero")  # expired: as missing
            cairn.testing_set_clock(now + 600)
            self.assertIsNone(db.get("soon"))
            self.assertNotIn("soon", db)
            with self.assertRaises(cairn.NotFoundError):
                db.expiry("soon")
            self.assertEqual(db["later"], b"y")
        finally:
            cairn.testing_set_clock(0)
        with self.assertRaises(cairn.InvalidError):
            db.put("k", b"v", ttl=1, expire_at=5)
        with self.assertRaises(cairn.InvalidError):
            db.put("k", b"v", ttl=-10)
        with self.assertRaises(cairn.InvalidError):
            db.put("k", b"v", ttl=datetime.timedelta(seconds=-1))
        with self.assertRaises(cairn.TypeMismatch):
            db.put("k", b"v", ttl="soon")
        with self.assertRaises(TypeError):
            db.put("k", b"v", expire=1)  # the old name is gone
        for bad in (float("nan"), float("inf"), 1e300):
            with self.assertRaises(cairn.InvalidError):
                db.put("k", b"v", ttl=bad)
        with self.assertRaises(cairn.InvalidError):
            db.put("k", b"v", expire_at=2**64)
        with self.assertRaises(cairn.TypeMismatch):
            cairn.testing_set_clock(1.5)


class FastPaths(Base):
    """KV's hot methods run in C for the common case and call their Python definitions
    (cairn._KV_PY) for the rest: both answer every call alike."""

    def outcome(self, fn, *args, **kw):
        try:
            return ("ok", fn(*args, **kw))
        except Exception as e:  # noqa: BLE001
            return ("raised", type(e), str(e), e.args)

    def test_c_methods_answer_as_the_python_definitions(self):
        db = self.open()
        py = cairn._KV_PY
        self.assertEqual(type(cairn.KV.__dict__["put"]).__name__, "method_descriptor")
        keys = ["k", b"k", bytearray(b"k"), memoryview(b"k"), "\u00e9", b"\xff\xfe", "",
                "x" * 65536, "\udc80", 1, None, memoryview(b"abcd")[::2]]
        values = [b"v", "t", "", b"", bytearray(b"ba"), memoryview(b"mv"), {"a": 1}, [1], 3, 1.5,
                  None, True, "\udc80", object(), float("nan")]
        for k in keys:
            for v in values:
                with self.subTest(key=k, value=v):
                    fast = self.outcome(db.__setitem__, k, v)
                    got_fast = self.outcome(db.__getitem__, k)
                    slow = self.outcome(py["__setitem__"], db, k, v)
                    got_slow = self.outcome(py["__getitem__"], db, k)
                    self.assertEqual(fast, slow)
                    self.assertEqual(got_fast, got_slow)
                    self.assertEqual(self.outcome(db.put, k, v), self.outcome(py["put"], db, k, v))
                    self.assertEqual(self.outcome(db.get, k), self.outcome(py["get"], db, k))
                    self.assertEqual(self.outcome(db.get, k, 7), self.outcome(py["get"], db, k, 7))
                    self.assertEqual(self.outcome(db.exists, k), self.outcome(py["exists"], db, k))
                    self.assertEqual(self.outcome(lambda: k in db), self.outcome(py["exists"], db, k))
        # a missing key: NotFoundError (a KeyError) carrying the key, or the default
        for k in ("missing", b"missing"):
            fast, slow = self.outcome(db.__getitem__, k), self.outcome(py["__getitem__"], db, k)
            self.assertEqual(fast, slow)
            self.assertIs(fast[1], cairn.NotFoundError)
            self.assertEqual(fast[3], (k,))
            self.assertIsNone(db.get(k))
            self.assertIs(db.get(k, db), db)
            self.assertFalse(k in db)

    def test_keywords_and_other_forms_take_the_python_path(self):
        db = self.open()
        db.put(key="a", value=b"1")
        db.set("b", "2", kind="text")
        db.put("c", b"3", ttl=datetime.timedelta(hours=1))
        self.assertEqual(db.get(key="a"), b"1")
        self.assertEqual(db.get("zz", default=5), 5)
        self.assertEqual(db["b"], "2")
        self.assertIsNotNone(db.expiry("c"))
        self.assertTrue(db.exists(key="a"))
        for call in (lambda: db.get(), lambda: db.put("k"), lambda: db.get("a", 1, 2),
                     lambda: db.put("k", b"v", 1, 2, 3, 4), lambda: db.get("a", nope=1),
                     lambda: db.exists()):
            with self.assertRaises(TypeError) as cm:
                call()
            self.assertIn("KV.", str(cm.exception))  # the Python definition's own message
        import inspect
        for name, fn in cairn._KV_PY.items():  # (self is positional-only in the C method's)
            self.assertEqual(inspect.signature(getattr(db, name)), inspect.signature(fn.__get__(db)), name)
            self.assertEqual(getattr(cairn.KV, name).__doc__, fn.__doc__, name)
        self.assertIs(cairn.KV.__dict__["set"], cairn.KV.__dict__["put"])
        self.assertIs(cairn.KV.__dict__["__contains__"], cairn.KV.__dict__["exists"])

    def test_a_subclass_decode_and_encode_are_used(self):
        class Mine(cairn.KV):
            __slots__ = ()

            def _decode(self, data, kind):
                return ("decoded", super()._decode(data, kind))

            def _encode(self, value, kind=None):
                if isinstance(value, set):
                    value = sorted(value)
                return super()._encode(value, kind)

        db = Mine(self.path, sync="none")
        self.addCleanup(db.close)
        db["j"] = {1, 2}
        db["b"] = b"raw"
        self.assertEqual(db["j"], ("decoded", [1, 2]))
        self.assertEqual(db.get("j"), ("decoded", [1, 2]))
        self.assertEqual(db["b"], b"raw")

    def test_closed_and_unopened(self):
        db = self.open()
        db["k"] = b"v"
        db.close()
        for call in (lambda: db["k"], lambda: db.get("k"), lambda: db.put("k", b"v"),
                     lambda: db.__setitem__("k", "v"), lambda: "k" in db):
            with self.assertRaises(cairn.ClosedError) as cm:
                call()
            self.assertEqual(str(cm.exception), "KV handle is closed")
        bare = cairn.KV.__new__(cairn.KV)  # no __init__: the handle slot is unset
        for call in (lambda: bare["k"], lambda: bare.get("k"), lambda: bare.put("k", b"v"),
                     lambda: "k" in bare):
            with self.assertRaises(AttributeError):
                call()
        with self.assertRaises(TypeError):
            cairn.KV.get(object(), "k")  # a method of KV objects only


class Lifetimes(Base):
    def test_context_manager_and_closed(self):
        with cairn.KV(self.path, sync="none") as db:
            db["k"] = b"v"
        self.assertTrue(db.closed)
        for op in (lambda: db["k"], lambda: db.get("k"), lambda: len(db), lambda: db.put("k", b"v"),
                   lambda: list(db), lambda: db.stats(), lambda: db.begin(), lambda: "k" in db):
            with self.assertRaises(cairn.ClosedError) as cm:
                op()
            self.assertEqual(cm.exception.name, "CAIRN_CLOSED")
        db.close()  # idempotent

    def test_gc_of_unclosed_handle_releases_the_lock(self):
        db = cairn.KV(self.path, sync="none")
        db["k"] = b"v"
        ref = weakref.ref(db)
        with self.assertWarns(ResourceWarning):  # like an unclosed file
            del db
            gc.collect()
        self.assertIsNone(ref())
        # the writer lock went with it: a new writer can open, and the write was kept
        with cairn.KV(self.path) as db2:
            self.assertEqual(db2["k"], b"v")

    def test_second_writer_is_locked(self):
        db = self.open()
        with self.assertRaises(cairn.LockedError) as cm:
            cairn.KV(self.path)
        self.assertEqual(cm.exception.code, cairn.LockedError.code)
        db.close()
        with cairn.KV(self.path, read_only=True) as ro:
            with self.assertRaises(cairn.ReadOnlyError):
                ro["k"] = b"v"

    def test_options_are_checked(self):
        with self.assertRaises(cairn.InvalidError):
            cairn.KV(self.path, bogus=1)
        with self.assertRaises(cairn.TypeMismatch):
            cairn.KV(self.path, create=1)
        with self.assertRaises(cairn.TypeMismatch):
            cairn.KV(self.path, sync=1)
        with self.assertRaises(cairn.InvalidError):
            cairn.KV(self.path, sync="sometimes")
        with self.assertRaises(cairn.PathError):
            cairn.KV(os.path.join(self.dir, "missing"), create=False)
        with self.assertRaises(cairn.TypeMismatch):
            cairn.KV(42)
        for bad in (-1, 2**32):  # lock timeout: 0..4294967295 ms, as in every binding
            with self.assertRaises(cairn.InvalidError):
                cairn.KV(self.path, lock_timeout_ms=bad)
        with self.assertRaises(cairn.InvalidError):
            cairn.KV(self.path, max_file_size=-1)
        with self.assertRaises(cairn.InvalidError):
            cairn.BlobStore(os.path.join(self.dir, "b"), max_file_size=1)  # a KV option only
        with self.assertRaises(cairn.TypeMismatch):
            cairn.KV(self.path, allow_pickle="yes")
        cairn.KV(self.path, lock_timeout_ms=2**32 - 1).close()
        import pathlib
        with cairn.KV(pathlib.Path(self.path), sync="none") as db:
            db["k"] = b"v"


class Transactions(Base):
    def test_with_transaction_commits_or_rolls_back(self):
        db = self.open()
        with db.transaction():
            db["a"] = 1
            db["b"] = 2
        self.assertEqual(db["a"], 1)
        with self.assertRaises(RuntimeError):
            with db.transaction():
                db["c"] = 3
                self.assertEqual(db["c"], 3)  # the transaction sees its own writes
                raise RuntimeError("boom")
        self.assertNotIn("c", db)
        self.assertFalse(db.in_transaction)

    def test_in_transaction_never_asks_the_core_for_stats(self):
        # stats scan the keydir once a key expires: in_transaction (and put_many) must not call it
        db = self.open()
        db.put("e", b"x", ttl=3_600_000)
        calls = []
        import cairn._cairn_swig as c
        real_c, real_e = c.cairn_kv_stats, cairn.KV._raw.stats
        c.cairn_kv_stats = cairn.KV._raw.stats = lambda *a: calls.append(a) or real_c(*a)
        try:
            self.assertFalse(db.in_transaction)
            db.put_many({"a": b"1"})
            with db.transaction():
                self.assertTrue(db.in_transaction)
                db.put_many({"b": b"2"})  # joins the open transaction
            self.assertFalse(db.in_transaction)
        finally:
            c.cairn_kv_stats, cairn.KV._raw.stats = real_c, real_e
        self.assertEqual(calls, [])
        self.assertEqual(db.get_many(["a", "b"]), [b"1", b"2"])
        db.begin()
        with self.assertRaises(cairn.TxnError):
            db.begin()
        self.assertTrue(db.in_transaction)  # a failed begin leaves the open one open
        db.rollback()
        self.assertFalse(db.in_transaction)
        with self.assertRaises(cairn.TxnError):
            db.commit()
        self.assertFalse(db.in_transaction)
        self.assertFalse(db.stats()["in_txn"])

    def test_begin_commit_rollback_end_and_misuse(self):
        db = self.open()
        db.begin()
        self.assertTrue(db.in_transaction)
        db["x"] = b"1"
        db.rollback()
        self.assertNotIn("x", db)
        db.begin()
        with self.assertRaises(cairn.TxnError):
            db.begin()
        db["y"] = b"2"
        db.end()
        self.assertEqual(db["y"], b"2")
        with self.assertRaises(cairn.TxnError):
            db.commit()
        with self.assertRaises(cairn.TxnError):
            db.rollback()

    def test_put_many_get_many(self):
        db = self.open()
        db.put_many({"k%d" % i: i for i in range(100)})
        self.assertEqual(len(db), 100)
        self.assertEqual(db.get_many(["k1", "k99", "nope"], default=-1), [1, 99, -1])
        with self.assertRaises(cairn.TypeMismatch):
            db.put_many([("ok", 1), ("bad", object())])
        self.assertNotIn("ok", db)  # the whole batch rolled back
        with self.assertRaises(cairn.InvalidError):
            db.put_many([("ok", 1), ("", 2)])  # refused by the core half-way
        self.assertNotIn("ok", db)
        db.put_many([("b", b"\x00"), ("t", "text"), ("j", {"x": [1]}), (bytearray(b"ba"), memoryview(b"mv"))])
        self.assertEqual(db.get_many(["b", "t", "j", b"ba", "nope"]), [b"\x00", "text", {"x": [1]}, b"mv", None])
        with db.transaction():  # inside a transaction the batch joins it
            db.put_many({"in-txn": 1})
            db.rollback()
            db.begin()
        self.assertNotIn("in-txn", db)
        with self.assertRaises(cairn.TypeMismatch):
            db.get_many(["ok", 5])


class Batches(Base):
    """put_many walks its items and classifies the values in C, get_many builds its values in C:
    the answers, kinds and errors are those of the per-item calls."""

    def test_put_many_inputs(self):
        db = self.open()
        db.put_many({"d1": b"1", "d2": "two"})  # a dict
        db.put_many([("l1", b"x"), ["l2", "y"]])  # a list of tuples and lists
        db.put_many(("g%d" % i, b"v%d" % i) for i in range(700))  # a generator, over several chunks
        db.put_many(["ab", iter(("c", b"d"))])  # any 2-item iterable is a pair, as `for k, v in items`
        db.put_many(dict.fromkeys(["f1", "f2"], "same").items())  # a view of pairs
        self.assertEqual(db.get_many(["d1", "d2", "l1", "l2", "g0", "g699", "a", "c"]),
                         [b"1", "two", b"x", "y", b"v0", b"v699", "b", b"d"])
        self.assertEqual(len(db), 2 + 2 + 700 + 2 + 2)

        class Pairs(dict):  # a dict subclass is a Mapping: its own items() are what is stored
            def items(self):
                return [("sub", "from items()")]

        db.put_many(Pairs(ignored=b"1"))
        self.assertEqual(db.get("sub"), "from items()")
        self.assertNotIn("ignored", db)
        db.put_many({})
        db.put_many(iter(()))
        self.assertFalse(db.in_transaction)

    def test_put_many_kinds(self):
        db = self.open()
        db.put_many([("b", b"\x00\xff"), ("t", "t\u00e9xt"), ("ba", bytearray(b"ba")), ("mv", memoryview(b"mv")),
                     ("j", {"x": [1, None]}), ("i", 7), ("n", None), ("f", 1.5), ("tu", (1, 2))])
        self.assertEqual([db.get_typed(k) for k in ("b", "t", "ba", "mv", "j", "i", "n", "f", "tu")],
                         [(b"\x00\xff", "bytes"), ("t\u00e9xt", "text"), (b"ba", "bytes"), (b"mv", "bytes"),
                          ({"x": [1, None]}, "json"), (7, "json"), (None, "json"), (1.5, "json"), ([1, 2], "json")])
        db.put_many({"js": "a str as JSON", "jb": True}, kind="json")
        self.assertEqual(db.get_typed("js"), ("a str as JSON", "json"))
        self.assertEqual(db.get_typed("jb"), (True, "json"))
        db.put_many([("ki", "text by number")], kind=cairn.KIND_TEXT)
        self.assertEqual(db.get_typed("ki"), ("text by number", "text"))
        db.put_many([("kb", memoryview(b"raw"))], kind="bytes")
        self.assertEqual(db.get_typed("kb"), (b"raw", "bytes"))
        # the same answers as the single calls, value by value
        for k, v in (("s1", b"x"), ("s2", "y"), ("s3", [1]), ("s4", bytearray(b"z"))):
            db.put(k + "p", v)
            db.put_many([(k + "m", v)])
            self.assertEqual(db.get_typed(k + "m"), db.get_typed(k + "p"))
        with self.assertRaises(cairn.TypeMismatch):  # text kind of bytes: the encoder's error
            db.put_many([("x", b"1")], kind="text")
        with self.assertRaises(cairn.InvalidError):
            db.put_many([("x", b"1")], kind="nope")
        with self.assertRaises(cairn.UnsupportedError):
            db.put_many([("x", object())], kind="native")
        self.assertNotIn("x", db)

    def test_put_many_bad_pair_writes_nothing(self):
        db = self.open()
        db["old"] = b"kept"
        for bad in ([("a", b"1"), ("b",)], [("a", b"1"), ("b", b"2", b"3")], [("a", b"1"), "abc"],
                    [("a", b"1"), iter(["b"])]):
            with self.assertRaises(cairn.InvalidError) as cm:
                db.put_many(bad)
            self.assertIsInstance(cm.exception, ValueError)  # what unpacking raised before
            self.assertIn("pair", str(cm.exception))
        with self.assertRaises(cairn.TypeMismatch) as cm:
            db.put_many([("a", b"1"), 5])  # not iterable
        self.assertIsInstance(cm.exception, TypeError)
        with self.assertRaises(cairn.TypeMismatch):
            db.put_many(5)
        self.assertEqual(db.get_many(["a", "b", "old"]), [None, None, b"kept"])
        self.assertFalse(db.in_transaction)

    def test_put_many_bad_value_or_key_midway_writes_nothing(self):
        db = self.open()
        items = [("k%d" % i, b"v") for i in range(1000)]
        for bad, err in (((500, ("bad", object())), cairn.TypeMismatch),  # the encoder refuses it
                         ((500, (5, b"v")), cairn.TypeMismatch),  # a key of the wrong type
                         ((500, ("s", "\ud800")), cairn.InvalidError),  # not encodable as UTF-8
                         ((500, ("nan", float("nan"))), cairn.InvalidError),  # not JSON
                         ((999, ("", b"v")), cairn.InvalidError)):  # refused by the core at the end
            batch = list(items)
            batch.insert(*bad)
            with self.assertRaises(err):
                db.put_many(batch)
            with self.assertRaises(err):
                db.put_many(iter(batch))
            self.assertEqual(len(db), 0)
        # a bad value anywhere is reported before a bad key earlier in the batch, as before
        with self.assertRaises(cairn.TypeMismatch) as cm:
            db.put_many([(5, b"v"), ("k", b"v"), ("bad", object())])
        self.assertIn("cannot store", str(cm.exception))

        def gen():
            yield "g1", b"1"
            raise RuntimeError("the generator failed")

        with self.assertRaises(RuntimeError):
            db.put_many(gen())
        self.assertEqual(len(db), 0)
        self.assertFalse(db.in_transaction)

    def test_put_many_joins_an_open_transaction(self):
        db = self.open()
        db.begin()
        db["before"] = b"1"
        db.put_many({"a": b"1", "b": "2"})
        self.assertTrue(db.in_transaction)  # still open: the batch did not commit it
        self.assertEqual(db.get_many(["a", "b"]), [b"1", "2"])  # seen inside the transaction
        with self.assertRaises(cairn.TypeMismatch):
            db.put_many([("c", b"3"), ("d", object())])
        self.assertTrue(db.in_transaction)  # an error taking the batch writes none of it
        self.assertNotIn("c", db)
        db.rollback()
        self.assertEqual(db.get_many(["before", "a", "b"]), [None, None, None])
        with db.transaction():
            db.put_many([("x", b"1")])
        self.assertEqual(db["x"], b"1")

    def test_a_subclass_encoder_and_decoder_are_used(self):
        seen = []

        class Logged(cairn.KV):
            __slots__ = ()

            def _encode(self, value, kind=None):
                seen.append(type(value).__name__)
                return cairn.KV._encode(self, value, kind)

            def _decode(self, data, kind):
                return ("decoded", cairn.KV._decode(self, data, kind))

        db = Logged(self.path, sync="none")
        self.addCleanup(db.close)
        db.put_many([("b", b"1"), ("t", "2"), ("ba", bytearray(b"3")), ("j", [4])])
        self.assertEqual(seen, ["bytearray", "list"])  # exact bytes and str never reach the encoder
        self.assertEqual(db.get_many(["b", "t", "ba", "j"]), [b"1", "2", b"3", ("decoded", [4])])

    def test_dict_changed_during_put_many(self):
        d = {"a": [1], "b": [2]}

        class Growing(cairn.KV):
            __slots__ = ()

            def _encode(self, value, kind=None):
                d["new%d" % len(d)] = 1
                return cairn.KV._encode(self, value, kind)

        db = Growing(self.path, sync="none")
        self.addCleanup(db.close)
        with self.assertRaises(RuntimeError):
            db.put_many(d)
        self.assertEqual(len(db), 0)

    def test_get_many(self):
        db = self.open()
        db.put_many(("k%d" % i, b"%d" % i if i % 2 else "t%d" % i) for i in range(1000))
        db["j"] = {"x": 1}
        keys = ["k%d" % i for i in range(1000)]
        want = [b"%d" % i if i % 2 else "t%d" % i for i in range(1000)]
        self.assertEqual(db.get_many(keys), want)
        self.assertEqual(db.get_many(iter(keys)), want)  # any iterable, over several chunks
        self.assertEqual(db.get_many([b"k1", bytearray(b"k2"), memoryview(b"k3"), "j"]), [b"1", "t2", b"3", {"x": 1}])
        self.assertEqual(db.get_many(["nope", "k1"], default=-1), [-1, b"1"])
        d = (1, 2)
        self.assertIs(db.get_many(["nope"], default=d)[0], d)
        self.assertEqual(db.get_many([]), [])
        with self.assertRaises(cairn.TypeMismatch):
            db.get_many(keys + [5])
        with self.assertRaises(cairn.InvalidError):
            db.get_many(["k1", ""])
        with self.assertRaises(TypeError):
            db.get_many(5)

    def test_closed_handle(self):
        db = self.open()
        db.put_many({"a": b"1"})
        db.close()
        with self.assertRaises(cairn.ClosedError):
            db.put_many({"b": b"2"})
        with self.assertRaises(cairn.ClosedError):
            db.get_many(["a"])
        db = self.open()
        self.assertEqual(db.get_many(["a", "b"]), [b"1", None])

    def test_closed_by_another_thread_between_batch_and_put(self):
        # the batch holds its objects; a close while it is taken makes the put raise ClosedError
        db = self.open()

        def items():
            yield "a", b"1"
            t = threading.Thread(target=db.close)
            t.start()
            t.join()
            yield "b", b"2"

        with self.assertRaises(cairn.ClosedError):
            db.put_many(items())
        db = self.open()
        self.assertEqual(len(db), 0)


class Threads(Base):
    def test_many_threads_one_handle(self):
        db = self.open()
        n_threads, n = 4, 300
        errors = []

        def work(t):
            try:
                for i in range(n):
                    k = "t%d-%d" % (t, i)
                    db[k] = {"t": t, "i": i}
                    self.assertEqual(db[k], {"t": t, "i": i})
                    if i % 3 == 0:
                        del db[k]
                    db.get("t0-0")
                    "t1-1" in db
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        ts = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(db), n_threads * (n - (n + 2) // 3))

    def test_gil_is_released_during_calls(self):
        # While one thread is blocked inside a C call (waiting for the writer lock of another
        # handle), another Python thread keeps running: the GIL is not held across the call.
        holder = self.open()
        ticks = []
        stop = threading.Event()

        def ticker():
            while not stop.is_set():
                ticks.append(1)
                time.sleep(0.001)

        th = threading.Thread(target=ticker)
        th.start()
        try:
            t0 = time.monotonic()
            before = len(ticks)
            with self.assertRaises(cairn.BusyError):
                cairn.KV(self.path, lock_timeout_ms=300)
            waited = time.monotonic() - t0
            during = len(ticks) - before
        finally:
            stop.set()
            th.join()
        self.assertGreaterEqual(waited, 0.25)
        self.assertGreater(during, 20)  # the ticker ran while the open waited
        holder.close()


class CloseWhileBusy(Base):
    def test_close_while_other_threads_call(self):
        # close() waits for the calls already inside the core; later calls raise ClosedError
        db = cairn.KV(self.path, sync="none")
        db.put_many({"k%d" % i: b"v" * 100 for i in range(200)})
        outcome = []
        started = threading.Barrier(5)

        def hammer(t):
            started.wait()
            n = 0
            try:
                while True:
                    db.get("k%d" % (n % 200))
                    db["w%d" % t] = b"x"
                    db.get_many(["k1", "k2"])
                    n += 1
            except cairn.ClosedError:
                outcome.append(("closed", n))
            except Exception as e:  # noqa: BLE001
                outcome.append(("error", repr(e)))

        ts = [threading.Thread(target=hammer, args=(t,)) for t in range(4)]
        for t in ts:
            t.start()
        started.wait()
        time.sleep(0.05)
        db.close()
        for t in ts:
            t.join()
        self.assertEqual([o[0] for o in outcome], ["closed"] * 4, outcome)
        with cairn.KV(self.path) as db2:
            self.assertEqual(db2["k5"], b"v" * 100)

    def test_raw_close_is_idempotent_and_invalidates(self):
        from cairn import cairn_swig as raw
        h = raw.cairn_kv_open(self.path, None)
        raw.cairn_kv_close(h)
        raw.cairn_kv_close(h)  # a no-op, not a double free
        with self.assertRaises(cairn.ClosedError):
            raw.cairn_kv_put(h, b"k", b"v", 0)
        with self.assertRaises(cairn.TypeMismatch):
            raw.cairn_kv_put("not a handle", b"k", b"v", 0)


class Maintenance(Base):
    def test_stats_sync_compact_check(self):
        db = self.open()
        for i in range(50):
            db["k%d" % i] = b"x" * 100
        for i in range(25):
            del db["k%d" % i]
        st = db.stats()
        for f in ("keys", "data_files", "disk_bytes", "live_bytes", "dead_bytes", "in_txn"):
            self.assertIn(f, st)
        self.assertEqual(st["keys"], 25)
        self.assertIs(st["in_txn"], False)
        db.sync()
        db.compact()
        self.assertEqual(len(db), 25)
        self.assertEqual(db["k30"], b"x" * 100)
        db.close()
        cairn.KV.check(self.path)
        cairn.check_kv(self.path)


if __name__ == "__main__":
    unittest.main()
