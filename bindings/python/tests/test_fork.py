"""A handle belongs to the process that opened it. In a child after os.fork() (and so in a
multiprocessing worker with the 'fork' start method, Linux's default) every call on an inherited
KV, BlobStore or Table raises cairn.ForkedError; close(), a `with` block's exit and garbage collection
there never raise and never touch the parent's files or lock; the parent goes on as if nothing
happened. A worker that opens its own handle works."""
import gc
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import unittest

import cairn

CHILD_TIMEOUT = 30.0


def in_child(fn):
    """Run fn() in a forked child; return what it returned (JSON over a pipe). The child leaves with
    os._exit, as a forked child must. A child that raises, dies or hangs fails the test."""
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            try:
                out = {"ok": fn()}
            except BaseException:  # noqa: BLE001  reported to the parent
                out = {"raised": traceback.format_exc()}
                code = 1
            with os.fdopen(w, "w") as f:
                f.write(json.dumps(out))
        finally:
            os._exit(code)
    os.close(w)
    deadline = time.monotonic() + CHILD_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)
            raise AssertionError("the child hung for %gs" % CHILD_TIMEOUT)
        time.sleep(0.01)
    with os.fdopen(r) as f:
        text = f.read()
    if os.WIFSIGNALED(status):
        raise AssertionError("the child died of signal %d" % os.WTERMSIG(status))
    out = json.loads(text) if text else {}
    if "raised" in out:
        raise AssertionError("the child raised:\n" + out["raised"])
    if os.WEXITSTATUS(status) != 0 or "ok" not in out:
        raise AssertionError("the child exited with status %d: %r" % (os.WEXITSTATUS(status), text))
    return out["ok"]


def outcome(fn, *args):
    """The name of the exception fn raises, or 'ok'."""
    try:
        fn(*args)
        return "ok"
    except Exception as e:  # noqa: BLE001
        return type(e).__name__


def snapshot(path):
    """{relative name: sha256} of every file under path (or of the file itself)."""
    out = {}
    if os.path.isfile(path):
        with open(path, "rb") as f:
            out[os.path.basename(path)] = hashlib.sha256(f.read()).hexdigest()
        for extra in sorted(os.listdir(os.path.dirname(path))):
            p = os.path.join(os.path.dirname(path), extra)
            if p != path and extra.startswith(os.path.basename(path)) and os.path.isfile(p):
                with open(p, "rb") as f:
                    out[extra] = hashlib.sha256(f.read()).hexdigest()
        return out
    for root, _, files in os.walk(path):
        for n in files:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, path)] = hashlib.sha256(f.read()).hexdigest()
    return out


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cairn-py-fork-")
        self.kv_path = os.path.join(self.dir, "db")
        self.blob_path = os.path.join(self.dir, "store.blob")

    def tearDown(self):
        gc.collect()
        shutil.rmtree(self.dir, ignore_errors=True)

    def kv(self, **kw):
        db = cairn.KV(self.kv_path, **kw)
        self.addCleanup(db.close)
        return db

    def blob(self, **kw):
        st = cairn.BlobStore(self.blob_path, **kw)
        self.addCleanup(st.close)
        return st


class ErrorClass(unittest.TestCase):
    def test_forked_error_is_generated_from_the_table(self):
        self.assertTrue(issubclass(cairn.ForkedError, cairn.Error))
        self.assertEqual(cairn.ForkedError.code, -24)
        self.assertEqual(cairn.ForkedError.name, "CAIRN_FORKED")
        self.assertIs(cairn.error_class(-24), cairn.ForkedError)
        self.assertIs(cairn.error_class("CAIRN_FORKED"), cairn.ForkedError)
        self.assertIn("ForkedError", cairn.__all__)


class KVInChild(Base):
    def test_every_call_is_forked_and_close_is_quiet(self):
        db = self.kv()
        db["a"] = "1"
        db["b"] = {"n": 2}
        db.sync()
        before = snapshot(self.kv_path)

        def child():
            res = {
                "put": outcome(db.put, "c", "child"),
                "setitem": outcome(db.__setitem__, "c", "child"),
                "get": outcome(db.get, "a"),
                "getitem": outcome(db.__getitem__, "a"),
                "delete": outcome(db.__delitem__, "b"),
                "exists": outcome(db.exists, "a"),
                "len": outcome(len, db),
                "keys": outcome(db.keys),
                "iter": outcome(list, db),
                "update": outcome(db.update, "b", {"x": 1}),
                "begin": outcome(db.begin),
                "sync": outcome(db.sync),
                "compact": outcome(db.compact),
                "stats": outcome(db.stats),
            }
            db.close()  # must not raise
            res["closed"] = db.closed
            res["close_again"] = outcome(db.close)
            return res

        res = in_child(child)
        closed, again = res.pop("closed"), res.pop("close_again")
        self.assertEqual(res, {k: "ForkedError" for k in res})
        self.assertTrue(closed)
        self.assertEqual(again, "ok")
        self.assertEqual(snapshot(self.kv_path), before, "the child changed the parent's files")
        # The parent: every value is there, it keeps writing, and it still holds the lock.
        self.assertEqual(db["a"], "1")
        self.assertEqual(db["b"], {"n": 2})
        self.assertNotIn("c", db)
        db["d"] = "4"
        del db["a"]
        with self.assertRaises(cairn.LockedError):
            cairn.KV(self.kv_path)
        db.close()
        with cairn.KV(self.kv_path) as db2:
            self.assertEqual(db2.keys(), ["b", "d"])
            self.assertEqual(db2["b"], {"n": 2})
            self.assertEqual(db2["d"], "4")

    def test_with_block_exit_and_gc_in_child(self):
        db = self.kv(sync="none")
        db["a"] = "1"

        def child():
            unraisable = []
            sys.unraisablehook = lambda u: unraisable.append(repr(u.exc_value))
            raised = None
            try:
                with db:
                    db["x"] = "child"
            except Exception as e:  # noqa: BLE001
                raised = type(e).__name__
            gc.collect()
            return {"raised": raised, "closed": db.closed, "unraisable": unraisable}

        res = in_child(child)
        self.assertEqual(res, {"raised": "ForkedError", "closed": True, "unraisable": []})
        db["b"] = "2"
        with self.assertRaises(cairn.LockedError):
            cairn.KV(self.kv_path)
        db.close()
        with cairn.KV(self.kv_path) as db2:
            self.assertEqual(db2.keys(), ["a", "b"])

    def test_collected_unclosed_in_child(self):
        db = cairn.KV(self.kv_path, sync="none")
        db["a"] = "1"
        holder = [db]
        del db
        self.addCleanup(lambda: holder and holder[0].close())

        def child():
            unraisable = []
            sys.unraisablehook = lambda u: unraisable.append(repr(u.exc_value))
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                holder.pop()  # the last reference in the child: __del__ closes it
                gc.collect()
            return unraisable

        self.assertEqual(in_child(child), [])
        db = holder[0]
        db["b"] = "2"
        with self.assertRaises(cairn.LockedError):
            cairn.KV(self.kv_path)
        db.close()
        with cairn.KV(self.kv_path) as db2:
            self.assertEqual(db2.keys(), ["a", "b"])

    def test_transaction_open_at_fork(self):
        db = self.kv()
        db["a"] = "1"
        db.begin()
        db["t"] = "in txn"

        def child():
            return [outcome(db.put, "u", "child"), outcome(db.commit), outcome(db.rollback)]

        self.assertEqual(in_child(child), ["ForkedError"] * 3)
        db["v"] = "parent"
        db.commit()
        db.close()
        with cairn.KV(self.kv_path) as db2:
            self.assertEqual(db2.keys(), ["a", "t", "v"])

    def test_update_lock_held_at_fork_does_not_hang(self):
        # Another thread inside update() holds the handle's merge lock at fork(): the child must
        # get ForkedError, not wait forever for a lock no thread of the child will release.
        db = self.kv()
        db["j"] = {"n": 1}
        db._lock.acquire()
        try:
            res = in_child(lambda: outcome(db.update, "j", {"n": 2}))
        finally:
            db._lock.release()
        self.assertEqual(res, "ForkedError")
        self.assertEqual(db["j"], {"n": 1})

    def test_iterator_open_at_fork(self):
        db = self.kv()
        for k in "abc":
            db[k] = k
        it = iter(db)
        self.assertEqual(next(it), "a")

        def child():
            try:
                rest = list(it)
            except cairn.ForkedError:
                rest = "ForkedError"
            gc.collect()
            return rest

        res = in_child(child)
        self.assertEqual(res, "ForkedError")
        self.assertEqual(list(it), ["b", "c"])

class BlobInChild(Base):
    def test_every_call_is_forked_and_close_is_quiet(self):
        st = self.blob()
        k1 = st.create(b"one")
        k2 = st.create(b"two")
        st.sync()
        before = snapshot(self.blob_path)
        events = []
        st.on_created(lambda ev: events.append(ev.key))

        def child():
            res = {
                "create": outcome(st.create, b"child"),
                "read": outcome(st.read, k1),
                "getitem": outcome(st.__getitem__, k1),
                "update": outcome(st.update, k1, b"child"),
                "delete": outcome(st.delete, k2),
                "reserve": outcome(st.reserve_next_key),
                "create_with_key": outcome(st.create_with_key, 1000, b"child"),
                "exists": outcome(st.__contains__, k1),
                "len": outcome(len, st),
                "keys": outcome(st.keys),
                "begin": outcome(st.begin),
                "sync": outcome(st.sync),
                "compact": outcome(st.compact),
                "stats": outcome(st.stats),
            }
            with st:
                pass  # the with block's exit closes it: must not raise
            res["closed"] = st.closed
            res["events"] = list(events)
            return res

        res = in_child(child)
        closed, child_events = res.pop("closed"), res.pop("events")
        self.assertEqual(res, {k: "ForkedError" for k in res})
        self.assertTrue(closed)
        self.assertEqual(child_events, [])
        self.assertEqual(snapshot(self.blob_path), before, "the child changed the parent's files")
        self.assertEqual(st.read(k1), b"one")
        self.assertEqual(st.read(k2), b"two")
        k3 = st.create(b"three")
        self.assertEqual(k3, k2 + 1, "the child took no key")
        self.assertEqual(events, [k3])
        with self.assertRaises(cairn.LockedError):
            cairn.BlobStore(self.blob_path)
        st.close()
        with cairn.BlobStore(self.blob_path) as st2:
            self.assertEqual(st2.keys(), [k1, k2, k3])
            self.assertEqual([st2.read(k) for k in (k1, k2, k3)], [b"one", b"two", b"three"])

    def test_collected_unclosed_in_child_with_pending_writes(self):
        st = cairn.BlobStore(self.blob_path, sync="none")
        k1 = st.create(b"one")
        holder = [st]
        del st
        self.addCleanup(lambda: holder and holder[0].close())

        def child():
            unraisable = []
            sys.unraisablehook = lambda u: unraisable.append(repr(u.exc_value))
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                holder.pop()
                gc.collect()
            return unraisable

        self.assertEqual(in_child(child), [])
        st = holder[0]
        self.assertEqual(st.create(b"two"), k1 + 1)
        st.close()
        with cairn.BlobStore(self.blob_path) as st2:
            self.assertEqual(st2.keys(), [k1, k1 + 1])
            self.assertEqual(st2.read(k1), b"one")


    def test_thread_inside_a_call_at_fork(self):
        # A thread is inside a call on the blob store (its event listener runs) when the main
        # thread forks: the child's close() must not wait for that thread, which it does not have.
        st = self.blob()
        entered, release = threading.Event(), threading.Event()

        def slow(ev):
            entered.set()
            release.wait(10)

        st.on_created(slow)
        t = threading.Thread(target=st.create, args=(b"x",))
        t.start()
        self.assertTrue(entered.wait(10))
        try:
            res = in_child(lambda: [outcome(st.read, 1), outcome(st.close), st.closed])
        finally:
            release.set()
            t.join()
        self.assertEqual(res, ["ForkedError", "ok", True])
        self.assertEqual(st.keys(), [1])


# ---- multiprocessing with the 'fork' start method ----------------------------------------------
# Module-level, as a user would write it: a handle opened at import time or in main, inherited by
# every forked worker.

_SHARED = {}


def _worker_uses_inherited(kind):
    h = _SHARED[kind]
    try:
        if kind == "kv":
            h["from_worker"] = "x"
        else:
            h.create(b"from worker")
    except cairn.ForkedError:
        sys.exit(24)
    sys.exit(0)


def _worker_opens_own_read_only(kind, path):
    if kind == "kv":
        with cairn.KV(path, read_only=True) as db:
            sys.exit(0 if db["a"] == "1" else 1)
    with cairn.BlobStore(path, read_only=True) as st:
        sys.exit(0 if st.read(1) == b"one" else 1)


def _worker_own_store(path):
    with cairn.KV(path) as db:
        db["w"] = os.getpid()
    sys.exit(0)


def _pool_task(key):
    _SHARED["kv"][key] = "from pool"  # raises ForkedError, pickled back to the caller


class TableInChild(Base):
    def test_every_call_is_forked_and_close_is_quiet(self):
        path = os.path.join(self.dir, "t")
        t = cairn.Table(path, schema="k string, n i64")
        self.addCleanup(t.close)
        t.insert({"k": "a", "n": 1})
        t.sync()
        before = snapshot(path)
        events = []
        t.subscribe(lambda ev: events.append(ev.id))
        it = iter(t)
        next(it)

        def child():
            res = {
                "insert": outcome(t.insert, {"k": "b", "n": 2}),
                "insert_json_path": outcome(t.insert, {"k": "b", "n": 2.5}),
                "insert_many": outcome(t.insert_many, [{"k": "c"}]),
                "get": outcome(t.get, 1),
                "update": outcome(t.update, 1, {"n": 5}),
                "delete": outcome(t.delete, 1),
                "load": outcome(t.load, {"n": [1]}),
                "len": outcome(len, t),
                "iterate": outcome(list, t),
                "open_iterator": outcome(next, it),
                "begin": outcome(t.begin),
                "sync": outcome(t.sync),
                "stats": outcome(t.stats),
            }
            with t:
                pass  # the with block's exit closes it: must not raise
            res["closed"] = t.closed
            res["events"] = list(events)
            return res

        res = in_child(child)
        closed, child_events = res.pop("closed"), res.pop("events")
        self.assertEqual(res, {k: "ForkedError" for k in res})
        self.assertTrue(closed)
        self.assertEqual(child_events, [])
        self.assertEqual(snapshot(path), before, "the child changed the parent's files")
        self.assertEqual(t.insert({"k": "b"}), 2, "the child took no id")
        self.assertEqual(events, [2])
        self.assertEqual([i for i, _ in t], [1, 2])


class Multiprocessing(Base):
    def setUp(self):
        super().setUp()
        self.ctx = multiprocessing.get_context("fork")

    def tearDown(self):
        for h in _SHARED.values():
            h.close()
        _SHARED.clear()
        super().tearDown()

    def run_worker(self, target, *args):
        p = self.ctx.Process(target=target, args=args)
        p.start()
        p.join(CHILD_TIMEOUT)
        if p.is_alive():
            p.kill()
            p.join()
            self.fail("worker hung")
        return p.exitcode

    def test_kv_inherited_handle_is_forked_own_handle_works(self):
        _SHARED["kv"] = db = cairn.KV(self.kv_path)
        db["a"] = "1"
        self.assertEqual(self.run_worker(_worker_uses_inherited, "kv"), 24)
        self.assertEqual(self.run_worker(_worker_opens_own_read_only, "kv", self.kv_path), 0)
        own = os.path.join(self.dir, "worker-db")
        self.assertEqual(self.run_worker(_worker_own_store, own), 0)
        with cairn.KV(own, read_only=True) as w:
            self.assertEqual(len(w), 1)
        db["b"] = "2"
        self.assertNotIn("from_worker", db)
        db.close()
        with cairn.KV(self.kv_path) as db2:
            self.assertEqual(db2.keys(), ["a", "b"])

    def test_blob_inherited_handle_is_forked_own_handle_works(self):
        _SHARED["blob"] = st = cairn.BlobStore(self.blob_path)
        self.assertEqual(st.create(b"one"), 1)
        st.sync()
        self.assertEqual(self.run_worker(_worker_uses_inherited, "blob"), 24)
        self.assertEqual(self.run_worker(_worker_opens_own_read_only, "blob", self.blob_path), 0)
        self.assertEqual(st.create(b"two"), 2, "the worker took no key")
        st.close()
        with cairn.BlobStore(self.blob_path) as st2:
            self.assertEqual(st2.keys(), [1, 2])
            self.assertEqual(st2.read(1), b"one")

    def test_pool_task_error_reaches_the_caller(self):
        _SHARED["kv"] = db = cairn.KV(self.kv_path)
        db["a"] = "1"
        with self.ctx.Pool(1) as pool:
            with self.assertRaises(cairn.ForkedError) as cm:
                pool.apply(_pool_task, ("k",))
        self.assertEqual(cm.exception.name, "CAIRN_FORKED")
        self.assertNotIn("k", db)
        db["b"] = "2"
        self.assertEqual(db.keys(), ["a", "b"])


if __name__ == "__main__":
    unittest.main()
