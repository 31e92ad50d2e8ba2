"""Snapshots and backups on the stores' base, as Python sees them: names, SnapshotInfo with aware
datetimes, open_snapshot giving a read-only handle of the same class (a context manager), backup
to a path-like, errors as the package's classes. (The engine's behaviour is the conformance
suite's job.)"""
import datetime
import gc
import os
import pathlib
import shutil
import tempfile
import unittest

import cairn


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cairn-py-snap-")
        self.path = os.path.join(self.dir, "db")
        cairn.testing_set_clock(None)
        self.addCleanup(cairn.testing_set_clock, None)

    def tearDown(self):
        gc.collect()
        shutil.rmtree(self.dir, ignore_errors=True)

    def open(self, path=None, **kw):
        kw.setdefault("sync", "none")
        db = cairn.KV(path or self.path, **kw)
        self.addCleanup(db.close)
        return db


class KVSnapshots(Base):
    def test_snapshot_is_a_point_in_time_read_only_kv(self):
        db = self.open()
        db["a"] = {"v": 1}
        db["b"] = b"2"
        self.assertEqual(db.snapshot("s1"), "s1")
        db["a"] = "changed"
        del db["b"]
        with db.open_snapshot("s1") as snap:
            self.assertIsInstance(snap, cairn.KV)
            self.assertEqual(dict(snap), {"a": {"v": 1}, "b": b"2"})
            self.assertEqual(snap.path, os.path.join(self.path, "snapshots", "s1"))
            with self.assertRaises(cairn.ReadOnlyError):
                snap["x"] = "y"
            with self.assertRaises(cairn.ReadOnlyError):
                snap.update("a", {"w": 2})
        self.assertTrue(snap.closed)
        with self.assertRaises(cairn.ClosedError):
            snap.get("a")
        self.assertEqual(dict(db), {"a": "changed"})

    def test_snapshot_handle_outlives_the_store_handle(self):
        db = self.open()
        db["k"] = "v"
        name = db.snapshot()
        snap = db.open_snapshot(name)
        self.addCleanup(snap.close)
        db.close()
        self.assertEqual(snap["k"], "v")

    def test_snapshot_keeps_allow_pickle(self):
        db = self.open(allow_pickle=True)
        db.put("p", {1, 2}, kind="native")
        db.snapshot("s")
        with db.open_snapshot("s") as snap:
            self.assertEqual(snap["p"], {1, 2})

    def test_snapshots_list(self):
        cairn.testing_set_clock(1_700_000_000_000)
        db = self.open()
        db["k"] = "v" * 100
        self.assertEqual(db.snapshots(), [])
        a = db.snapshot()
        b = db.snapshot()
        self.assertNotEqual(a, b)
        infos = db.snapshots()
        self.assertEqual([s.name for s in infos], [a, b])
        s = infos[0]
        self.assertIsInstance(s, cairn.SnapshotInfo)
        self.assertEqual(s.time, datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc))
        self.assertGreater(s.bytes, 100)
        db.drop_snapshot(a)
        self.assertEqual([s.name for s in db.snapshots()], [b])

    def test_errors(self):
        db = self.open()
        db.snapshot("s")
        with self.assertRaises(cairn.ExistsError):
            db.snapshot("s")
        with self.assertRaises(cairn.InvalidError):
            db.snapshot("a/b")
        with self.assertRaises(cairn.InvalidError):
            db.snapshot("a\x00b")
        with self.assertRaises(cairn.TypeMismatch):
            db.snapshot(5)
        with self.assertRaises(cairn.TypeMismatch):
            db.open_snapshot(None)
        with self.assertRaises(cairn.NotFoundError):
            db.open_snapshot("missing")
        with self.assertRaises(KeyError):
            db.drop_snapshot("missing")
        with db.transaction():
            with self.assertRaises(cairn.TxnError):
                db.snapshot("in-txn")
        db.close()
        for call in (db.snapshot, db.snapshots, lambda: db.open_snapshot("s"), lambda: db.drop_snapshot("s"),
                     lambda: db.backup(os.path.join(self.dir, "bk"))):
            with self.assertRaises(cairn.ClosedError):
                call()

    def test_backup_opens_as_a_store(self):
        db = self.open()
        db.put_many({"k%d" % i: i for i in range(100)})
        dest = pathlib.Path(self.dir) / "backup"
        db.backup(dest)
        db["k0"] = "after"
        with cairn.KV(dest) as bk:
            self.assertEqual(len(bk), 100)
            self.assertEqual(bk["k0"], 0)
        cairn.check_kv(dest)
        with self.assertRaises(cairn.ExistsError):
            db.backup(dest)
        with self.assertRaises(cairn.TypeMismatch):
            db.backup(5)


class OtherEngines(Base):
    def test_blob_store_snapshot_and_backup(self):
        path = os.path.join(self.dir, "blob")
        with cairn.BlobStore(path, sync="none") as b:
            k = b.create(b"one")
            self.assertEqual(b.snapshot("s"), "s")
            b.update(k, b"changed")
            with b.open_snapshot("s") as snap:
                self.assertIsInstance(snap, cairn.BlobStore)
                self.assertEqual(snap[k], b"one")
                self.assertEqual(snap.path, path + "-snapshots/s/blob")
                with self.assertRaises(cairn.ReadOnlyError):
                    snap.create(b"x")
            self.assertEqual([s.name for s in b.snapshots()], ["s"])
            dest = pathlib.Path(self.dir) / "bk.blob"
            b.backup(dest)
            with self.assertRaises(cairn.ExistsError):
                b.backup(dest)
            b.drop_snapshot("s")
            self.assertEqual(b.snapshots(), [])
        with cairn.BlobStore(str(dest)) as bk:
            self.assertEqual(bk[k], b"changed")

    def test_table_snapshot_and_backup(self):
        path = os.path.join(self.dir, "t")
        with cairn.Table(path, schema="k string primary key, n i64", sync="none") as t:
            rid = t.insert({"k": "a", "n": 1})
            self.assertEqual(t.snapshot("s"), "s")
            t.update(rid, {"n": 2})
            with t.open_snapshot("s") as snap:
                self.assertIsInstance(snap, cairn.Table)
                self.assertEqual(snap.get(rid), {"k": "a", "n": 1})
                with self.assertRaises(cairn.ReadOnlyError):
                    snap.insert({"k": "b", "n": 0})
            dest = os.path.join(self.dir, "tb")
            t.backup(dest)
        with cairn.Table(dest) as bk:
            self.assertEqual(bk.get(rid), {"k": "a", "n": 2})

    def test_the_repo_is_no_store(self):
        self.assertFalse(hasattr(cairn.Repo, "snapshot"))
        self.assertFalse(hasattr(cairn.Repo, "begin"))


if __name__ == "__main__":
    unittest.main()
