"""cairn.BlobStore from Python: the Mapping protocol over int keys, buffers, events (exactly once
per successful operation, in order, deferred to commit, none on rollback or failure), lifetimes."""
import array
import gc
import os
import shutil
import tempfile
import threading
import unittest
import weakref
from collections.abc import Mapping

import cairn


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cairn-py-blob-")
        self.path = os.path.join(self.dir, "blobs.cairn")

    def tearDown(self):
        gc.collect()
        shutil.rmtree(self.dir, ignore_errors=True)

    def open(self, **kw):
        kw.setdefault("sync", "none")
        st = cairn.BlobStore(self.path, **kw)
        self.addCleanup(st.close)
        return st


class Protocol(Base):
    def test_mapping_over_int_keys(self):
        st = self.open()
        self.assertIsInstance(st, Mapping)
        k1 = st.create(b"one")
        k2 = st.create(bytearray(b"two"))
        k3 = st.create(memoryview(b"three"))
        k4 = st.create(array.array("B", [4]))
        self.assertEqual(len({k1, k2, k3, k4}), 4)
        self.assertEqual(st[k1], b"one")
        self.assertEqual(st.read(k2), b"two")
        self.assertEqual(st[k3], b"three")
        self.assertEqual(st[k4], b"\x04")
        self.assertIn(k1, st)
        self.assertEqual(len(st), 4)
        self.assertEqual(list(st), sorted([k1, k2, k3, k4]))
        self.assertEqual(st.keys(), sorted([k1, k2, k3, k4]))
        self.assertEqual(st.get(999999), None)
        self.assertEqual(dict(st.items())[k1], b"one")
        st.update(k1, b"uno")
        self.assertEqual(st[k1], b"uno")
        st.delete(k1)
        self.assertNotIn(k1, st)
        with self.assertRaises(KeyError):
            st[k1]
        with self.assertRaises(cairn.NotFoundError):
            st.delete(k1)
        with self.assertRaises(cairn.NotFoundError):
            st.update(k1, b"x")

    def test_keys_explicit_and_reserved(self):
        st = self.open()
        r = st.reserve_next_key()
        st.create_with_key(r, b"reserved")
        st.create_with_key(1000, b"explicit")
        with self.assertRaises(cairn.ExistsError) as cm:
            st.create_with_key(1000, b"again")
        self.assertEqual(cm.exception.name, "CAIRN_EXISTS")
        k = st.create(b"auto")
        self.assertNotIn(k, (r, 1000))
        self.assertEqual(st[1000], b"explicit")
        st.create_with_key(0xFFFFFFFF, b"max")
        self.assertEqual(st[0xFFFFFFFF], b"max")

    def test_zero_length_and_reopen(self):
        st = self.open()
        k = st.create(b"")
        self.assertEqual(st[k], b"")
        st.close()
        st = self.open()
        self.assertEqual(st[k], b"")

    def test_bad_inputs(self):
        st = self.open()
        for bad in ("str", 1, None, [1], object()):
            with self.assertRaises(cairn.TypeMismatch):
                st.create(bad)
        for bad in ("1", 1.0, None, True, b"1"):
            with self.assertRaises(cairn.TypeMismatch):
                st.read(bad)
        for bad in (-1, 2**32):
            with self.assertRaises(cairn.InvalidError):
                st.read(bad)
            with self.assertRaises(ValueError):
                st.create_with_key(bad, b"x")

    def test_closed_and_gc(self):
        st = cairn.BlobStore(self.path, sync="none")
        seen = []
        st.on_created(seen.append)  # a subscription does not keep the store alive
        k = st.create(b"x")
        self.assertEqual(len(seen), 1)
        ref = weakref.ref(st)
        with self.assertWarns(ResourceWarning):  # like an unclosed file
            del st
            gc.collect()
        self.assertIsNone(ref())
        with cairn.BlobStore(self.path) as st2:
            self.assertEqual(st2[k], b"x")
        with self.assertRaises(cairn.ClosedError):
            st2.create(b"y")
        with self.assertRaises(cairn.ClosedError):
            len(st2)
        st2.close()

    def test_stats_sync_compact(self):
        st = self.open()
        keys = [st.create(b"x" * 1000) for _ in range(10)]
        for k in keys[::2]:
            st.delete(k)
        st.sync()
        s = st.stats()
        for f in ("entries", "live_bytes", "free_bytes", "free_entries", "file_size", "next_key", "in_txn"):
            self.assertIn(f, s)
        self.assertEqual(s["entries"], 5)
        st.compact()
        self.assertEqual(st.stats()["free_bytes"], 0)
        self.assertEqual([st[k] for k in keys[1::2]], [b"x" * 1000] * 5)
        st.close()
        cairn.BlobStore.check(self.path)


class Events(Base):
    def record(self, st):
        evs = []
        st.on_created(evs.append)
        st.on_updated(evs.append)
        st.on_deleted(evs.append)
        return evs

    def test_once_per_op_in_order(self):
        st = self.open()
        evs = self.record(st)
        k = st.create(b"abc")
        st.update(k, b"abcdef")
        st.delete(k)
        with self.assertRaises(cairn.NotFoundError):
            st.delete(k)  # a failed op fires nothing
        self.assertEqual([tuple(e) for e in evs],
                         [("created", k, 0, 3), ("updated", k, 3, 6), ("deleted", k, 6, 0)])

    def test_transaction_defers_and_rollback_drops(self):
        st = self.open()
        evs = self.record(st)
        with st.transaction():
            a = st.create(b"1")
            b = st.create(b"22")
            self.assertEqual(evs, [])  # not yet durable
        self.assertEqual([(e.name, e.key) for e in evs], [("created", a), ("created", b)])
        evs.clear()
        st.begin()
        st.delete(a)
        st.rollback()
        self.assertEqual(evs, [])
        self.assertIn(a, st)
        with st.transaction():  # a failed op inside a transaction fires nothing at commit
            st.update(a, b"one")
            with self.assertRaises(cairn.NotFoundError):
                st.delete(123456)
            with self.assertRaises(cairn.ExistsError):
                st.create_with_key(b, b"dup")
        self.assertEqual([(e.name, e.key, e.old_size, e.new_size) for e in evs], [("updated", a, 1, 3)])

    def test_decorator_and_remove_listener(self):
        st = self.open()
        seen = []

        @st.on_created
        def created(ev):
            seen.append(ev.key)

        k = st.create(b"x")
        st.remove_listener(created)
        st.create(b"y")
        self.assertEqual(seen, [k])
        with self.assertRaises(cairn.TypeMismatch):
            st.on_created(42)

    def test_raising_listener_does_not_undo_the_change(self):
        st = self.open()
        st.on_created(lambda ev: 1 / 0)
        later = []
        st.on_created(later.append)
        with self.assertRaises(ZeroDivisionError):  # raised once every listener ran
            st.create(b"x")
        self.assertEqual(len(later), 1)  # the other listener still ran
        k = later[0].key
        self.assertEqual(st[k], b"x")  # the change stays

    def test_listeners_run_after_the_call(self):
        # a listener runs once the C call has returned: it may use the store, even close it
        st = self.open()
        seen = []

        def listener(ev):
            seen.append((ev.key, st[ev.key], len(st), st.stats()["entries"]))

        st.on_created(listener)
        st.on_deleted(lambda ev: st.close())
        k = st.create(b"x")
        self.assertEqual(seen, [(k, b"x", 1, 1)])
        with st.transaction():
            k2 = st.create(b"yy")
            self.assertEqual(len(seen), 1)  # a transaction's events come after its commit
        self.assertEqual(seen[1], (k2, b"yy", 2, 2))
        st.delete(k)
        self.assertTrue(st.closed)  # closed by the listener, after the delete returned

    def test_remove_last_listener_unsubscribes(self):
        st = self.open()
        seen = []
        st.on_created(seen.append)
        self.assertIsNotNone(st._sub_id)
        st.remove_listener(seen.append)
        self.assertIsNone(st._sub_id)
        st.create(b"x")
        self.assertEqual(seen, [])
        st.on_created(seen.append)
        k = st.create(b"y")
        self.assertEqual([e.key for e in seen], [k])

    def test_events_from_threads(self):
        st = self.open()
        evs = self.record(st)
        lock = threading.Lock()
        made = []

        def work():
            for _ in range(50):
                k = st.create(b"t")
                with lock:
                    made.append(k)

        ts = [threading.Thread(target=work) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(sorted(e.key for e in evs), sorted(made))
        self.assertEqual(len(evs), 200)


if __name__ == "__main__":
    unittest.main()
