"""The raw SWIG layer (cairn.cairn_swig): out-params become return values, statuses exceptions."""
import os
import shutil
import tempfile
import unittest

import cairn
from cairn import cairn_swig as raw


class Raw(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cairn-py-raw-")
        o = raw.cairn_kv_options()
        o.version = raw.CAIRN_KV_OPTIONS_VERSION
        o.create = 1
        o.sync = raw.CAIRN_SYNC_NONE
        self.kv = raw.cairn_kv_open(os.path.join(self.dir, "db"), o)

    def tearDown(self):
        raw.cairn_kv_close(self.kv)
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_put_get_kinds(self):
        raw.cairn_kv_put(self.kv, b"k", b"v\x00w", raw.CAIRN_KIND_BYTES)
        self.assertEqual(raw.cairn_kv_get(self.kv, b"k"), (b"v\x00w", raw.CAIRN_KIND_BYTES))
        raw.cairn_kv_put(self.kv, "t", "é", raw.CAIRN_KIND_TEXT)  # str in: its UTF-8
        self.assertEqual(raw.cairn_kv_get(self.kv, "t"), ("é".encode(), raw.CAIRN_KIND_TEXT))
        self.assertIsNone(raw.cairn_kv_get(self.kv, b"missing"))
        self.assertIs(raw.cairn_kv_exists(self.kv, b"k"), True)
        self.assertIs(raw.cairn_kv_exists(self.kv, b"x"), False)
        self.assertEqual(raw.cairn_kv_count(self.kv), 2)

    def test_get_into(self):
        raw.cairn_kv_put(self.kv, b"k", b"12345", raw.CAIRN_KIND_BYTES)
        buf = bytearray(8)
        self.assertEqual(raw.cairn_kv_get_into(self.kv, b"k", buf), (5, raw.CAIRN_KIND_BYTES))
        self.assertEqual(bytes(buf[:5]), b"12345")
        with self.assertRaises(cairn.RangeError):
            raw.cairn_kv_get_into(self.kv, b"k", bytearray(2))
        with self.assertRaises(cairn.TypeMismatch):
            raw.cairn_kv_get_into(self.kv, b"k", b"read-only buffer")

    def test_expiry_iter_stats(self):
        raw.cairn_kv_put_ex(self.kv, b"e", b"", 0, 4102444800000)
        self.assertEqual(raw.cairn_kv_expiry(self.kv, b"e"), 4102444800000)
        with self.assertRaises(cairn.NotFoundError):
            raw.cairn_kv_expiry(self.kv, b"nope")
        raw.cairn_kv_put(self.kv, b"a", b"", 0)
        it = raw.cairn_kv_iter_open(self.kv, b"")
        got = []
        while True:
            k = raw.cairn_kv_iter_next(it)
            if k is None:
                break
            got.append(k)
        raw.cairn_kv_iter_free(it)
        self.assertEqual(got, [b"a", b"e"])
        st = raw.cairn_kv_stats(self.kv)  # the struct itself (a copy)
        self.assertEqual(st.keys, 2)
        self.assertEqual(st.in_txn, 0)

    def test_errors_and_names(self):
        self.assertEqual(raw.cairn_errname(raw.CAIRN_NOTFOUND), "CAIRN_NOTFOUND")
        self.assertEqual(raw.cairn_errname(12345), "CAIRN_UNKNOWN")
        self.assertEqual(raw.cairn_errstr(raw.CAIRN_NOTFOUND), "not found")
        self.assertEqual(raw.cairn_version(), cairn.__version__)
        with self.assertRaises(cairn.InvalidError) as cm:
            raw.cairn_kv_put(self.kv, b"", b"v", 0)
        self.assertEqual(raw.cairn_errcode(), raw.CAIRN_INVALID)
        self.assertEqual(str(cm.exception), raw.cairn_errmsg())
        raw.cairn_errclear()
        self.assertEqual(raw.cairn_errcode(), 0)
        with self.assertRaises(cairn.TypeMismatch):
            raw.cairn_kv_put(self.kv, 5, b"v", 0)

    def test_every_int_status_raises_by_default(self):
        # no list of functions: any function returning int raises on a negative status (here one
        # that no typemap names), returns None on 0, and only the named exceptions differ
        self.assertIsNone(raw.cairn_kv_sync(self.kv))
        with self.assertRaises(cairn.NotFoundError):
            raw.cairn_layout("no_such_struct", None)
        with self.assertRaises(cairn.TxnError):
            raw.cairn_kv_commit(self.kv)
        self.assertEqual(raw.cairn_errcode(), raw.CAIRN_TXN)  # a plain int

    def test_struct_fields_read_as_ints_and_match_the_library(self):
        # the int fields of the options and stats structs read back as ints (their getters are
        # exceptions to the status default), and every field is the library's own
        for cname, cls in (("cairn_kv_options", raw.cairn_kv_options), ("cairn_blob_options", raw.cairn_blob_options),
                           ("cairn_kv_stats", raw.cairn_kv_stats_t), ("cairn_blob_stats", raw.cairn_blob_stats_t)):
            obj = cls()
            fields = [n for n, v in vars(cls).items() if isinstance(v, property) and n != "thisown"]
            self.assertGreater(len(fields), 3)
            for f in fields:
                self.assertIsInstance(getattr(obj, f), int, "%s.%s" % (cname, f))
                raw.cairn_layout(cname, f)  # NotFoundError if the library has no such field
        self.assertEqual(raw.cairn_kv_options().create, 0)
        o = raw.cairn_kv_options()
        o.sync = raw.CAIRN_SYNC_GROUP
        self.assertEqual(o.sync, raw.CAIRN_SYNC_GROUP)
        size, = raw.cairn_layout("cairn_kv_stats", None)[1:]
        self.assertGreater(size, 8 * 8)

    def test_blob_raw(self):
        o = raw.cairn_blob_options()
        o.version = raw.CAIRN_BLOB_OPTIONS_VERSION
        o.create = 1
        o.sync = raw.CAIRN_SYNC_NONE
        b = raw.cairn_blob_open(os.path.join(self.dir, "blobs"), o)
        try:
            seen = []
            sid = raw.cairn_blob_subscribe(b, lambda *ev: seen.append(ev))
            k = raw.cairn_blob_create(b, b"abc")
            self.assertEqual(raw.cairn_blob_read(b, k), b"abc")
            self.assertIs(raw.cairn_blob_exists(b, k), True)
            self.assertEqual(seen, [(raw.CAIRN_BLOB_CREATED, k, 0, 3)])
            raw.cairn_blob_unsubscribe(b, sid)
            raw.cairn_blob_delete(b, k)
            self.assertEqual(len(seen), 1)
            self.assertEqual(raw.cairn_blob_stats(b).entries, 0)
        finally:
            raw.cairn_blob_close(b)


if __name__ == "__main__":
    unittest.main()
