"""cairn.Repo, the versioned store, as Python sees it: value types, digests, records in and out,
history as Version records with aware datetimes, diffs, tags, errors as the package's classes.
(The engine's behaviour is the conformance suite's job.)"""
import datetime
import gc
import os
import pathlib
import re
import shutil
import tempfile
import threading
import unittest

import cairn

HEX64 = re.compile(r"^[0-9a-f]{64}$")
UTC = datetime.timezone.utc


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cairn-py-repo-")
        self.path = os.path.join(self.dir, "repo")
        cairn.testing_set_clock(None)
        self.addCleanup(cairn.testing_set_clock, None)

    def tearDown(self):
        gc.collect()
        shutil.rmtree(self.dir, ignore_errors=True)

    def open(self, **kw):
        kw.setdefault("sync", "none")
        r = cairn.Repo(self.path, **kw)
        self.addCleanup(r.close)
        return r


class Values(Base):
    def test_save_load_keeps_python_types(self):
        r = self.open()
        r.init("acme")
        for value in (b"\x00\xff", "text \u00e9", {"a": [1, 2.5, None, True]}, [1, "x"], 42, 1.5, True, None):
            d = r.save("acme", "ada", "config", value)
            self.assertRegex(d, HEX64)
            self.assertEqual(r.load("acme", "config"), value)
            self.assertEqual(type(r.load("acme", "config")), type(value))
            self.assertEqual(r.load("acme", "config", d), value)

    def test_bytes_like_values(self):
        r = self.open()
        r.init("t")
        r.save("t", "u", "a", bytearray(b"ab"))
        r.save("t", "u", "b", memoryview(b"cd"))
        self.assertEqual(r.load("t", "a"), b"ab")
        self.assertEqual(r.load("t", "b"), b"cd")

    def test_kind_forced_and_load_typed(self):
        r = self.open()
        r.init("t")
        r.save("t", "u", "s", "hello", kind="json")  # a JSON string document, not text
        self.assertEqual(r.load_typed("t", "s"), ("hello", "json"))
        r.save("t", "u", "s", "hello")
        self.assertEqual(r.load_typed("t", "s"), ("hello", "text"))
        self.assertIsNone(r.load_typed("t", "nothing"))
        with self.assertRaises(cairn.TypeMismatch):
            r.save("t", "u", "s", "x", kind="bytes")

    def test_missing_reads_none_or_default(self):
        r = self.open()
        r.init("t")
        self.assertIsNone(r.load("t", "nope"))
        self.assertIsNone(r.load("nobody", "nope"))
        self.assertEqual(r.load("t", "nope", default=0), 0)
        self.assertIsNone(r.load("t", "nope", "0" * 64))
        self.assertFalse(r.exists("t", "nope"))
        self.assertFalse(r.exists("nobody", "nope"))
        self.assertIsNone(r.digest("t", "nope"))
        self.assertIsNone(r.get("t", "coll", "k"))
        self.assertIsNone(r.tag_get("t", "v1"))

    def test_digest_and_exists(self):
        r = self.open()
        r.init("t")
        d = r.save("t", "u", "e", "v")
        self.assertTrue(r.exists("t", "e"))
        self.assertEqual(r.digest("t", "e"), d)
        self.assertEqual(r.entries("t"), ["e"])

    def test_pickle_only_when_allowed(self):
        r = self.open()
        r.init("t")
        with self.assertRaises(cairn.UnsupportedError):
            r.save("t", "u", "e", {1, 2}, kind="native")
        with self.assertRaises(cairn.TypeMismatch):
            r.save("t", "u", "e", {1, 2})
        r.close()
        r = self.open(allow_pickle=True)
        r.save("t", "u", "e", {1, 2}, kind="native")
        self.assertEqual(r.load("t", "e"), {1, 2})


class Collections(Base):
    def test_put_get_delete_count_keys(self):
        r = self.open()
        r.init("t")
        d1 = r.put("t", "u", "users", "u1", {"name": "Ada"})
        d2 = r.put("t", "u", "users", b"\xff\x00", b"raw")
        self.assertNotEqual(d1, d2)
        self.assertEqual(r.get("t", "users", "u1"), {"name": "Ada"})
        self.assertEqual(r.get("t", "users", b"u1"), {"name": "Ada"})
        self.assertEqual(r.get("t", "users", b"\xff\x00"), b"raw")
        self.assertEqual(r.count("t", "users"), 2)
        self.assertEqual(r.count("t", "users", d1), 1)
        self.assertEqual(r.keys("t", "users"), ["u1", b"\xff\x00"])
        self.assertIsNone(r.get("t", "users", b"\xff\x00", d1))
        d3 = r.delete("t", "u", "users", "u1")
        self.assertRegex(d3, HEX64)
        with self.assertRaises(KeyError):  # NotFoundError is a KeyError
            r.delete("t", "u", "users", "u1")
        self.assertEqual(r.keys("t", "users"), [b"\xff\x00"])
        self.assertEqual(r.get("t", "users", "u1", d2), {"name": "Ada"})

    def test_put_many_forms_are_one_version_each(self):
        r = self.open()
        r.init("t")
        d1 = r.put_many("t", "u", "c", {"a": 1, "b": "two"})
        d2 = r.put_many("t", "u", "c", [("c", b"3"), ("a", "one")])
        d3 = r.put_many("t", "u", "c", iter([("d", "x", "json"), ("e", "y")]))
        self.assertEqual(len(r.history("t", "c")), 3)
        self.assertEqual([v.digest for v in r.history("t", "c")], [d3, d2, d1])
        self.assertEqual(dict(r.records("t", "c")), {"a": "one", "b": "two", "c": b"3", "d": "x", "e": "y"})
        self.assertEqual(r.get_typed("t", "c", "d"), ("x", "json"))
        self.assertEqual(r.get_typed("t", "c", "e"), ("y", "text"))

    def test_put_many_last_wins_and_all_or_nothing(self):
        r = self.open()
        r.init("t")
        r.put_many("t", "u", "c", [("k", "first"), ("k", "last")])
        self.assertEqual(r.get("t", "c", "k"), "last")
        head = r.digest("t", "c")
        with self.assertRaises(cairn.TypeMismatch):
            r.put_many("t", "u", "c", [("x", "1"), ("y", object())])
        with self.assertRaises(cairn.TypeMismatch):
            r.put_many("t", "u", "c", [("x", "1"), ("y",)])
        with self.assertRaises(cairn.TypeMismatch):
            r.put_many("t", "u", "c", 5)
        with self.assertRaises(cairn.TypeMismatch):
            r.put_many("t", "u", "c", "ab")
        with self.assertRaises(cairn.InvalidError):
            r.put_many("t", "u", "c", [("", "empty key")])
        self.assertEqual(r.digest("t", "c"), head)

    def test_records_iterates_in_batches_and_sees_one_version(self):
        r = self.open()
        r.init("t")
        d = r.put_many("t", "u", "c", {"k%05d" % i: i for i in range(3000)})
        it = r.records("t", "c")
        first = next(it)
        r.put("t", "u", "c", "k00000", "changed")  # a new version: the cursor's never changes
        rest = list(it)
        self.assertEqual(first, ("k00000", 0))
        self.assertEqual(len(rest), 2999)
        self.assertEqual(rest[-1], ("k02999", 2999))
        self.assertEqual(r.get("t", "c", "k00000"), "changed")
        self.assertEqual(dict(r.items("t", "c", d))["k00000"], 0)

    def test_records_after_close_raise_closed(self):
        r = self.open()
        r.init("t")
        r.put_many("t", "u", "c", {"k%04d" % i: i for i in range(100)})
        it = r.records("t", "c")
        next(it)
        r.close()
        with self.assertRaises(cairn.ClosedError):
            list(it)

    def test_empty_values_in_records(self):
        r = self.open()
        r.init("t")
        r.put_many("t", "u", "c", {"b": b"", "s": "", "j": ""})
        r.put("t", "u", "c", "j", "", kind="json")
        self.assertEqual(list(r.records("t", "c")), [("b", b""), ("j", ""), ("s", "")])
        self.assertEqual(r.get_typed("t", "c", "j"), ("", "json"))
        self.assertEqual(r.get("t", "c", "b"), b"")

    def test_value_and_collection_do_not_mix(self):
        r = self.open()
        r.init("t")
        r.save("t", "u", "v", "whole")
        with self.assertRaises(cairn.TypeMismatch):
            r.put("t", "u", "v", "k", "x")
        r.put("t", "u", "c", "k", "x")
        with self.assertRaises(cairn.TypeMismatch):
            r.load("t", "c")


class HistoryDiffTags(Base):
    def test_history_is_version_records(self):
        cairn.testing_set_clock(1_700_000_000_123)
        r = self.open()
        r.init("t")
        d1 = r.save("t", "ada", "e", "1")
        d2 = r.save("t", "", "e", "2")
        h = r.history("t", "e")
        self.assertEqual(len(h), 2)
        v = h[0]
        self.assertIsInstance(v, cairn.Version)
        self.assertEqual((v.digest, v.parents, v.user, v.collection), (d2, [d1], "", False))
        self.assertEqual(v.time, datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC))
        self.assertIsNotNone(v.time.tzinfo)
        self.assertEqual(h[1].parents, [])
        self.assertEqual(r.history("t", "e", max=1), h[:1])
        self.assertEqual(r.history("t", "never"), [])
        with self.assertRaises(cairn.NotFoundError):
            r.history("nobody", "e")
        with self.assertRaises(cairn.TypeMismatch):
            r.history("t", "e", max="1")

    def test_same_clock_same_digests(self):
        cairn.testing_set_clock(1_700_000_000_000)
        r = self.open()
        r.init("t")
        d = r.put_many("t", "u", "c", {"a": 1, "b": 2})
        r.close()
        shutil.rmtree(self.path)
        r = self.open()
        r.init("t")
        r.put("t", "u", "c", "b", 2)
        self.assertNotEqual(r.digest("t", "c"), d)  # another history
        r.close()
        shutil.rmtree(self.path)
        r = self.open()
        r.init("t")
        self.assertEqual(r.put_many("t", "u", "c", [("b", 2), ("a", 1)]), d)

    def test_diff(self):
        r = self.open()
        r.init("t")
        d1 = r.put_many("t", "u", "c", {"a": 1, "b": 2, b"\xfe": 3})
        r.delete("t", "u", "c", "a")
        r.put("t", "u", "c", "b", 20)
        d2 = r.put("t", "u", "c", "z", 26)
        diff = r.diff("t", d1, d2)
        self.assertIsInstance(diff, cairn.RepoDiff)
        self.assertEqual(diff, cairn.RepoDiff(added=["z"], removed=["a"], changed=["b"]))
        self.assertEqual(r.diff("t", None, d1).added, ["a", "b", b"\xfe"])
        self.assertEqual(r.diff("t", d1, None).removed, ["a", "b", b"\xfe"])
        self.assertEqual(r.diff("t", d2, d2), ([], [], []))
        with self.assertRaises(cairn.NotFoundError):
            r.diff("t", "0" * 64, d2)
        with self.assertRaises(cairn.InvalidError):
            r.diff("t", "not a digest", d2)

    def test_tags(self):
        r = self.open()
        r.init("t")
        d1 = r.save("t", "u", "e", "1")
        d2 = r.save("t", "u", "e", "2")
        r.tag("t", "release", d1)
        self.assertEqual(r.tag_get("t", "release"), d1)
        r.tag("t", "release", d2)
        self.assertEqual(r.tag_get("t", "release"), d2)
        with self.assertRaises(cairn.NotFoundError):
            r.tag("t", "x", "0" * 64)
        with self.assertRaises(cairn.TypeMismatch):
            r.tag("t", "x", None)
        self.assertEqual(r.load("t", "e", r.tag_get("t", "release")), "2")


class Handle(Base):
    def test_context_manager_path_repr_closed(self):
        with cairn.Repo(pathlib.Path(self.path), sync="none") as r:
            self.assertEqual(r.path, self.path)
            self.assertIn("Repo", repr(r))
            r.init("t")
        self.assertTrue(r.closed)
        with self.assertRaises(cairn.ClosedError):
            r.tenants()
        with self.assertRaises(cairn.ClosedError):
            r.save("t", "u", "e", "v")
        r.close()  # again: a no-op

    def test_closed_before_argument_checks(self):
        r = self.open()
        r.close()
        with self.assertRaises(cairn.ClosedError):
            r.init(5)

    def test_names_checked(self):
        r = self.open()
        with self.assertRaises(cairn.TypeMismatch):
            r.init(None)
        with self.assertRaises(cairn.TypeMismatch):
            r.init(b"t")
        with self.assertRaises(cairn.InvalidError):
            r.init("a\x00b")
        with self.assertRaises(cairn.InvalidError):
            r.init("")
        with self.assertRaises(cairn.InvalidError):
            r.init("x" * 256)
        r.init("a/b ..")
        with self.assertRaises(cairn.TypeMismatch):
            r.put("a/b ..", "u", "c", 5, "v")  # a key must be bytes-like or str
        with self.assertRaises(cairn.TypeMismatch):
            r.load("a/b ..", "e", 5)
        with self.assertRaises(cairn.InvalidError):
            r.load("a/b ..", "e", "A" * 64)
        self.assertEqual(r.tenants(), ["a/b .."])

    def test_writes_to_unknown_tenant_not_found(self):
        r = self.open()
        with self.assertRaises(cairn.NotFoundError):
            r.save("nobody", "u", "e", "v")
        with self.assertRaises(cairn.NotFoundError):
            r.put_many("nobody", "u", "e", {"k": "v"})
        with self.assertRaises(cairn.NotFoundError):
            r.entries("nobody")

    def test_options(self):
        with self.assertRaises(cairn.TypeMismatch):
            cairn.Repo(self.path, create=1)
        with self.assertRaises(cairn.InvalidError):
            cairn.Repo(self.path, no_such_option=True)
        with self.assertRaises(cairn.InvalidError):
            cairn.Repo(self.path, sync="group")
        with self.assertRaises(cairn.TypeMismatch):
            cairn.Repo(self.path, sync=1)
        with self.assertRaises(cairn.PathError):
            cairn.Repo(self.path, create=False)
        with self.assertRaises(cairn.InvalidError):
            cairn.Repo(self.path, cache_bytes=-1)
        with self.assertRaises(cairn.InvalidError):
            cairn.Repo(self.path, cache_bytes=2**64)
        with self.assertRaises(cairn.TypeMismatch):
            cairn.Repo(self.path, cache_bytes="64")
        with self.assertRaises(cairn.TypeMismatch):
            cairn.Repo(self.path, cache_bytes=1.5)
        self.assertFalse(os.path.exists(self.path))
        # no cache (1), the default (0) and the largest: the same answers
        answers = []
        for cache in (1, 0, 2**64 - 1):
            with cairn.Repo(self.path, sync="none", cache_bytes=cache) as r:
                r.init("t")
                d1 = r.put_many("t", "u", "c", {"k%04d" % i: "v%d" % i for i in range(300)})
                d2 = r.put("t", "u", "c", "k0150", "changed")
                answers.append((r.diff("t", d1, d2), r.diff("t", None, d2), r.get("t", "c", "k0150"),
                                r.keys("t", "c", d1)))
        self.assertEqual(answers[0], answers[1])
        self.assertEqual(answers[0], answers[2])

    def test_one_writer_read_only_beside_it(self):
        w = self.open()
        w.init("t")
        with self.assertRaises(cairn.LockedError):
            cairn.Repo(self.path)
        ro = self.open(read_only=True)
        w.save("t", "u", "e", "v")
        self.assertEqual(ro.load("t", "e"), "v")
        with self.assertRaises(cairn.ReadOnlyError):
            ro.save("t", "u", "e", "w")
        with self.assertRaises(cairn.ReadOnlyError):
            ro.gc()

    def test_gc_stats_verify(self):
        r = self.open()
        r.init("t")
        r.save("t", "u", "e", "v")
        st = r.stats()
        self.assertEqual(set(st), {"tenants", "objects", "disk_bytes"})
        self.assertEqual(st["tenants"], 1)
        self.assertEqual(r.gc(), 0)
        self.assertEqual(r.gc(datetime.timedelta(hours=1)), 0)
        with self.assertRaises(cairn.InvalidError):
            r.gc(-1)
        with self.assertRaises(cairn.TypeMismatch):
            r.gc("0")
        cairn.Repo.verify(self.path)
        cairn.verify_repo(pathlib.Path(self.path))
        cairn.Repo.check(self.path)
        with self.assertRaises(cairn.PathError):
            cairn.verify_repo(os.path.join(self.dir, "missing"))

    def test_damage_is_corrupt(self):
        r = self.open()
        r.init("t")
        r.save("t", "u", "e", "v" * 1000)
        r.close()
        packs = os.path.join(self.path, "t", "t", "packs")
        for name in os.listdir(packs):
            p = os.path.join(packs, name)
            with open(p, "r+b") as f:
                f.seek(os.path.getsize(p) - 100)
                b = f.read(1)
                f.seek(-1, 1)
                f.write(bytes([b[0] ^ 0xFF]))
        with self.assertRaises(cairn.CorruptError):
            cairn.verify_repo(self.path)

    @unittest.skipUnless(hasattr(os, "fork"), "needs fork()")
    def test_inherited_handle_is_forked(self):
        r = self.open()
        r.init("t")
        d = r.save("t", "u", "e", "v")
        rd, wr = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report each outcome's error name, never raise
            out = []
            for call in (lambda: r.load("t", "e"), lambda: r.save("t", "u", "e", "w"),
                         lambda: list(r.records("t", "c"))):
                try:
                    call()
                    out.append("ok")
                except cairn.Error as e:
                    out.append(e.name)
                except BaseException as e:  # noqa: BLE001
                    out.append(type(e).__name__)
            try:
                r.close()
                out.append("closed")
            except BaseException as e:  # noqa: BLE001
                out.append(type(e).__name__)
            os.write(wr, " ".join(out).encode())
            os._exit(0)
        os.close(wr)
        with os.fdopen(rd) as f:
            got = f.read()
        os.waitpid(pid, 0)
        self.assertEqual(got, "CAIRN_FORKED CAIRN_FORKED CAIRN_FORKED closed")
        self.assertEqual(r.digest("t", "e"), d)  # the parent's handle and history untouched
        self.assertEqual(len(r.history("t", "e")), 1)

    def test_threads_share_one_handle(self):
        r = self.open()
        r.init("t")
        errors = []

        def work(n):
            try:
                for i in range(50):
                    r.put("t", "u", "c%d" % n, "k%d" % i, i)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual([r.count("t", "c%d" % n) for n in range(4)], [50] * 4)
        self.assertEqual(len(r.history("t", "c0")), 50)


if __name__ == "__main__":
    unittest.main()
