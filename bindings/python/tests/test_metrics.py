"""metrics(): every engine's statistics in the Prometheus text exposition format (0.0.4), through
the engine-neutral base class: one family per stats field, names cairn_<engine>_<stat>, a store
label holding the path, values equal to stats()."""
import gc
import os
import re
import shutil
import tempfile
import unittest

import cairn

SAMPLE = re.compile(r'^(cairn_[a-z_]+)\{store="((?:[^"\\]|\\.)*)"\} (\d+)$')


def parse(text):
    """{name: (type, label, value)}; fails on any line out of place."""
    assert text.endswith("\n"), text
    lines = text[:-1].split("\n")
    assert len(lines) % 3 == 0, text
    out = {}
    for i in range(0, len(lines), 3):
        h, t, s = lines[i:i + 3]
        name = h.split(" ")[2]
        assert h.startswith("# HELP %s " % name), h
        assert t.startswith("# TYPE %s " % name), t
        typ = t.split(" ")[3]
        m = SAMPLE.match(s)
        assert m and m.group(1) == name, s
        out[name] = (typ, m.group(2), int(m.group(3)))
    return out


KV_OPS = {"cairn_kv_%s_total" % op for op in ("puts", "gets", "deletes", "commits", "written_bytes", "fsyncs")}


def escaped(path):
    return path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cairn-py-metrics-")

    def tearDown(self):
        gc.collect()
        shutil.rmtree(self.dir, ignore_errors=True)

    def check(self, handle, engine, counters=()):
        text = handle.metrics()
        self.assertIsInstance(text, str)
        got = parse(text)
        if engine == "kv":
            # KV's per-handle operation counters (and errors by code) are not stats fields
            for name in [n for n in got if n in KV_OPS or re.match(r"^cairn_kv_errors_[a-z]+_total$", n)]:
                self.assertEqual(got.pop(name)[0], "counter", name)
        st = handle.stats()
        want = {}
        for field, value in st.items():
            stat = field
            if field in counters:
                stat += "_total"
            elif field == "file_size":
                stat = "file_size_bytes"
            want["cairn_%s_%s" % (engine, stat)] = ("counter" if field in counters else "gauge", int(value))
        # every engine's per-handle operation counters (and errors by code) follow the stats
        # families: counters that are not stats fields
        for name in [n for n in got if n not in want]:
            self.assertTrue(name.startswith("cairn_%s_" % engine) and name.endswith("_total"), name)
            self.assertEqual(got.pop(name)[0], "counter", name)
        self.assertEqual(sorted(got), sorted(want))
        for name, (typ, label, value) in got.items():
            self.assertEqual((typ, value), want[name], name)
            self.assertEqual(label, escaped(handle.path))
        return got

    def test_kv(self):
        path = os.path.join(self.dir, 'kv "quoted" \\ dir')
        with cairn.KV(path, sync="none") as db:
            db["a"] = b"1"
            db["a"] = b"22"
            db["b"] = b"3"
            db.compact()
            got = self.check(db, "kv", counters=("compactions",))
            self.assertEqual(got["cairn_kv_keys"][2], 2)
            self.assertEqual(got["cairn_kv_compactions_total"][2], 1)
            self.assertEqual(parse(db.metrics())["cairn_kv_puts_total"][2], 3)
            self.assertIn('store="%s"' % escaped(path), db.metrics())
        with self.assertRaises(cairn.ClosedError):
            db.metrics()

    def test_blob(self):
        with cairn.BlobStore(os.path.join(self.dir, "b.blob"), sync="none") as st:
            st.create(b"hello")
            st.create(b"world!")
            got = self.check(st, "blob")
            self.assertEqual(got["cairn_blob_entries"][2], 2)

    def test_table(self):
        with cairn.Table(os.path.join(self.dir, "t"), schema="id i64 primary key, name string", sync="none") as t:
            t.insert({"id": 1, "name": "a"})
            got = self.check(t, "table", counters=("checkpoints",))
            self.assertEqual(got["cairn_table_rows"][2], 1)
            with self.assertRaises(cairn.ConstraintError):
                t.insert({"id": 1, "name": "b"})
            ops = parse(t.metrics())
            self.assertEqual(ops["cairn_table_inserts_total"][2], 1)
            self.assertEqual(ops["cairn_table_commits_total"][2], 1)
            self.assertEqual(ops["cairn_table_errors_constraint_total"][2], 1)

    def test_repo(self):
        with cairn.Repo(os.path.join(self.dir, "r"), sync="none") as r:
            r.init("acme")
            r.save("acme", "ann", "doc", "v1")
            got = self.check(r, "repo")
            self.assertEqual(got["cairn_repo_tenants"][2], 1)


if __name__ == "__main__":
    unittest.main()
