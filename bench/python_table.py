#!/usr/bin/env python3
"""Cost of a row from Python: cairn.Table insert / get / iteration of a 4-column row (i64, string,
f64, timestamp), against the same loop through sqlite3; then queries over millions of rows (a sum,
a group by, SnapDB's 3-condition filter) as rows scanned per second.

    PYTHONPATH=<build>/bindings/python/pkg python3 bench/python_table.py [--n 200000] [--repeat 3]

Rows:
  cairn insert (txn)        t.insert(row) for every row inside one transaction
  cairn insert (json)       the same rows through the JSON path (cairn_table_insert_json), the
                            reference every row that is not plain takes
  cairn insert_many         one call for the whole batch
  cairn load                one call, the batch given by column
  cairn get                 t.get(id) of every row (after a sync: read from the column segments)
  cairn iterate             for id, row in t
  sqlite3 insert / get      one statement per row in one transaction / one SELECT by rowid
  cairn sum / group by      t.query(aggregates=[sum(score)]) (and group_by=["cat"]) over --sum-n
                            rows of (score f64 with 100,000 distinct values, cat i32 0..9), as
                            bench/table_bench has them, loaded from array.array buffers
  cairn filter count        SnapDB's 3-condition filter over --filter-n rows of a 5-column table
                            (id i64, sensor i32 0..15, status string of 'active'/'idle'/'error',
                            temp f64 15.00..44.99, ts timestamp), values pseudo-random:
                            t.count_where("sensor > 8 AND status = 'active' AND temp < 35.0")
  cairn filter ids          the same filter as a query of the matching ids,
                            t.query(where=..., columns=["_id"], format="columns")
  cairn filter select       the same as t.select(where, columns=["_id"]) (a list of dicts)
                            Every answer is checked against the rows a plain-Python loop over the
                            generated values finds (count, and the ids in order; select: count,
                            first and last id), once before the timed runs. The table is loaded 1M rows a call through the
                            general load path (a string column is not a buffer).
  disk                      the filter table's files after its load and t.sync() (a checkpoint), as
                            bytes per 100,000 rows
  export (--export-n)       for each size, a checkpointed table (id i64, score f64 uniform random, cat
                            i32 0..9, flag bool) reopened, then: numpy.frombuffer(t.column("score"))
                            (one copy into one buffer), the same summed; t.__arrow_c_stream__() taken
                            and released; the stream of t.arrow(columns=["score"]) read through
                            ctypes (no pyarrow): every batch fetched and held, then released; the
                            same summing each batch's value buffer through a NumPy view (no copy);
                            the stream of every column held. Each timed once as the first call after
                            the open and then best of 5 (CPU and wall clock), with the growth of the
                            resident set (/proc/self/status RssAnon and RssFile; freed heap pages
                            given back with malloc_trim before and after) while the result is held. Needs NumPy.
All cairn rows use sync="none"; sqlite3 runs synchronous=OFF. Reported: best of --repeat runs (of
at least 5 for the sum, group by and filter rows), rows/s (for those: rows scanned per second),
timed in CPU time of this process (time.process_time).
"""
import argparse
import array
import ctypes
import datetime
import gc
import os
import shutil
import sqlite3
import sys
import tempfile
import time

import cairn

try:
    import numpy as np
except ImportError:  # the export rows need NumPy
    np = None

SCHEMA = "id i64, name string, score f64, at timestamp"


def best(fn, repeat):
    t = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.process_time()
        fn()
        dt = time.process_time() - t0
        t = dt if t is None else min(t, dt)
    return t


# -- export: Table.column and the Arrow stream, read without pyarrow ------------------------------
class _ArrowSchema(ctypes.Structure):
    pass


class _ArrowArray(ctypes.Structure):
    pass


class _ArrowArrayStream(ctypes.Structure):
    pass


_ArrowSchema._fields_ = [("format", ctypes.c_char_p), ("name", ctypes.c_char_p), ("metadata", ctypes.c_char_p),
                         ("flags", ctypes.c_int64), ("n_children", ctypes.c_int64),
                         ("children", ctypes.POINTER(ctypes.POINTER(_ArrowSchema))),
                         ("dictionary", ctypes.POINTER(_ArrowSchema)),
                         ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(_ArrowSchema))),
                         ("private_data", ctypes.c_void_p)]
_ArrowArray._fields_ = [("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
                        ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64),
                        ("buffers", ctypes.POINTER(ctypes.c_void_p)),
                        ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))),
                        ("dictionary", ctypes.POINTER(_ArrowArray)),
                        ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(_ArrowArray))),
                        ("private_data", ctypes.c_void_p)]
_ArrowArrayStream._fields_ = [
    ("get_schema", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_ArrowArrayStream), ctypes.POINTER(_ArrowSchema))),
    ("get_next", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_ArrowArrayStream), ctypes.POINTER(_ArrowArray))),
    ("get_last_error", ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.POINTER(_ArrowArrayStream))),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(_ArrowArrayStream))),
    ("private_data", ctypes.c_void_p)]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


try:
    _malloc_trim = ctypes.CDLL(None).malloc_trim  # glibc: give freed heap pages back to the system
except (OSError, AttributeError):
    _malloc_trim = None


def _rss():
    """(RssAnon, RssFile) of this process in bytes (/proc/self/status): private memory, and pages
    of mapped files (the segments' mappings; shared with the page cache)."""
    v = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:")):
                k, n_, _ = line.split()
                v[k] = int(n_) * 1024
    return v["RssAnon:"], v["RssFile:"]


def read_stream(cap, column, summed):
    """Consume an "arrow_array_stream" capsule: every batch fetched (child `column` of each struct
    batch) and held until the end; with `summed`, the f64 values of that child summed in place
    through NumPy views of the batches' value buffers (no copy). Returns (batches, rows, sum)."""
    s = ctypes.cast(_capsule_pointer(cap, b"arrow_array_stream"), ctypes.POINTER(_ArrowArrayStream))
    sch = _ArrowSchema()
    rc = s.contents.get_schema(s, ctypes.byref(sch))
    assert rc == 0, rc
    names = [sch.children[i].contents.name.decode() for i in range(sch.n_children)]
    ci = names.index(column)
    assert sch.children[ci].contents.format == b"g"
    sch.release(ctypes.byref(sch))
    held, rows, total = [], 0, 0.0
    while True:
        arr = _ArrowArray()
        rc = s.contents.get_next(s, ctypes.byref(arr))
        assert rc == 0, s.contents.get_last_error(s)
        if not arr.release:
            break
        held.append(arr)
        child = arr.children[ci].contents
        rows += child.length
        if summed and child.length:
            p = ctypes.cast(child.buffers[1], ctypes.POINTER(ctypes.c_double))
            total += float(np.ctypeslib.as_array(p, shape=(child.offset + child.length,))[child.offset:].sum())
    if _malloc_trim is not None:
        _malloc_trim(0)
    _held_rss[0] = _rss()  # every batch still held
    for arr in held:
        arr.release(ctypes.byref(arr))
    return len(held), rows, total


_held_rss = [(0, 0)]


def export_rows(d, m, repeat):
    """The export rows for a table of m rows: [(name, cpu s, wall s, rss growth bytes), ...]."""
    p = os.path.join(d, "e%d" % m)
    rng = np.random.default_rng(m)
    score = rng.random(m)
    want = float(score.sum())
    with cairn.Table(p, schema="id i64, score f64, cat i32, flag bool", sync="none") as t:
        t.load({"id": np.arange(m, dtype=np.int64), "score": score,
                "cat": rng.integers(0, 10, m, dtype=np.int32), "flag": rng.integers(0, 2, m) == 1})
        t.sync()
        st = t.stats()
        assert st["rows"] == m and st["tail_rows"] == 0
        del score
    out = []
    # reopened: the first export of a handle maps the segment files (the first row of each kind)
    with cairn.Table(p, sync="none") as t:
        def numpy_column():
            a = np.frombuffer(t.column("score"), dtype=np.float64)
            assert a.shape == (m,)
            return a

        def numpy_column_sum():
            assert abs(float(numpy_column().sum()) - want) <= 1e-9 * want

        def capsule():
            cap = t.__arrow_c_stream__()
            del cap

        def stream_score(summed):
            def fn():
                b, r, s = read_stream(t.arrow(columns=["score"]).__arrow_c_stream__(), "score", summed)
                assert r == m and (not summed or abs(s - want) <= 1e-9 * want)
            return fn

        def stream_all():
            b, r, s = read_stream(t.__arrow_c_stream__(), "score", False)
            assert r == m

        cases = (("column -> numpy.frombuffer", numpy_column),
                 ("column -> numpy, summed", numpy_column_sum),
                 ("__arrow_c_stream__ taken, released", capsule),
                 ("stream [score], batches held", stream_score(False)),
                 ("stream [score], summed", stream_score(True)),
                 ("stream (every column), held", stream_all))
        for name, fn in cases:
            first = None
            cpu = wall = None
            grow = (0, 0)
            for k in range(max(repeat, 5) + 1):
                gc.collect()
                if _malloc_trim is not None:  # else a freed result's pages are reused unseen
                    _malloc_trim(0)
                r0 = _rss()
                _held_rss[0] = (0, 0)
                c0, w0 = time.process_time(), time.perf_counter()
                res = fn()
                c1, w1 = time.process_time(), time.perf_counter()
                if _malloc_trim is not None:  # what the result holds, not the heap's slack
                    _malloc_trim(0)
                r1 = max(_rss(), _held_rss[0])  # the result (if any) still held
                r1 = (r1[0] - r0[0], r1[1] - r0[1])
                del res
                if k == 0:
                    first = (c1 - c0, w1 - w0, r1)
                else:
                    cpu = c1 - c0 if cpu is None else min(cpu, c1 - c0)
                    wall = w1 - w0 if wall is None else min(wall, w1 - w0)
                    grow = max(grow, r1)
            out.append((name, first, (cpu, wall, grow)))
    shutil.rmtree(p, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sum-n", type=int, default=10000000, help="rows of the sum and group by (0: skip)")
    ap.add_argument("--filter-n", type=int, default=10000000, help="rows of the 3-condition filter (0: skip)")
    ap.add_argument("--export-n", default="1000000,10000000",
                    help="row counts of the export tables, comma-separated ('' or 0: skip; needs NumPy)")
    a = ap.parse_args()
    n = a.n
    base = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    rows = [{"id": i, "name": "user%d" % i, "score": i * 0.5, "at": base + datetime.timedelta(seconds=i)}
            for i in range(n)]
    d = tempfile.mkdtemp(prefix="cairn-bench-table-")
    out = []
    disk = []
    exports = []
    try:
        def fresh(name):
            p = os.path.join(d, name)
            shutil.rmtree(p, ignore_errors=True)
            return cairn.Table(p, schema=SCHEMA, sync="none")

        def insert_txn():
            with fresh("t") as t, t.transaction():
                ins = t.insert
                for r in rows:
                    ins(r)

        def insert_json():
            with fresh("t") as t, t.transaction():
                h, enc, ins = t._h, t._enc, cairn._tbl_insert
                for r in rows:
                    ins(h, enc(r))

        def insert_many():
            with fresh("t") as t:
                t.insert_many(rows)

        cols = {k: [r[k] for r in rows] for k in rows[0]}

        def load():
            with fresh("t") as t:
                t.load(cols)

        out.append(("cairn insert (txn)", best(insert_txn, a.repeat)))
        out.append(("cairn insert (json)", best(insert_json, a.repeat)))
        out.append(("cairn insert_many", best(insert_many, a.repeat)))
        out.append(("cairn load", best(load, a.repeat)))

        with fresh("r") as t:
            t.insert_many(rows)
            t.sync()

            def get():
                g = t.get
                for i in range(1, n + 1):
                    g(i)

            def iterate():
                for _ in t:
                    pass

            out.append(("cairn get", best(get, a.repeat)))
            out.append(("cairn iterate", best(iterate, a.repeat)))

        if a.sum_n:
            m = a.sum_n
            # pseudo-random (a 64-bit LCG's high bits), so the dictionary codes and the groups come
            # in no pattern a cache or a branch predictor could follow
            mix = [((i * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF) >> 24 for i in range(m)]
            score = array.array("d", [(x % 100000) / 100.0 for x in mix])
            cat = array.array("i", [(x >> 20) % 10 for x in mix])
            del mix
            want = sum(score)
            p = os.path.join(d, "s")
            with cairn.Table(p, schema="score f64, cat i32", sync="none") as t:
                t.load({"score": score, "cat": cat})
                t.sync()
                del score, cat

                def qsum():
                    r = t.query(aggregates=[{"fn": "sum", "column": "score", "as": "s"}])
                    assert abs(r[0]["s"] - want) <= 1e-9 * abs(want)

                def qgroup():
                    r = t.query(aggregates=[{"fn": "sum", "column": "score", "as": "s"}], group_by=["cat"])
                    assert len(r) == 10

                for name, fn in (("cairn sum", qsum), ("cairn group by", qgroup)):
                    dt = best(fn, max(a.repeat, 5))
                    out.append(("%s (%dM rows)" % (name, m // 1000000), dt * n / m))

        if a.filter_n:
            m = a.filter_n
            where = "sensor > 8 AND status = 'active' AND temp < 35.0"
            statuses = ("active", "idle", "error")
            want_ids = []
            p = os.path.join(d, "f")
            with cairn.Table(p, schema="id i64, sensor i32, status string, temp f64, ts timestamp",
                             sync="none") as t:
                step = 1000000
                for lo in range(0, m, step):  # the general load path (a string column), 1M rows a call
                    hi = min(m, lo + step)
                    mix = [((i * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF) >> 24
                           for i in range(lo, hi)]
                    sensor = [(x >> 4) % 16 for x in mix]
                    status = [statuses[(x >> 12) % 3] for x in mix]
                    temp = [15.0 + ((x >> 20) % 3000) / 100.0 for x in mix]
                    want_ids.extend(lo + 1 + k for k, (s_, st, tp) in enumerate(zip(sensor, status, temp))
                                    if s_ > 8 and st == "active" and tp < 35.0)
                    t.load({"id": range(lo, hi), "sensor": sensor, "status": status, "temp": temp,
                            "ts": [base + datetime.timedelta(seconds=i) for i in range(lo, hi)]})
                    del mix, sensor, status, temp
                t.sync()
                st = t.stats()
                assert st["tail_rows"] == 0
                files = sum(os.path.getsize(os.path.join(r_, f_)) for r_, _, fs in os.walk(p) for f_ in fs)
                alloc = sum(os.stat(os.path.join(r_, f_)).st_blocks * 512 for r_, _, fs in os.walk(p) for f_ in fs)
                disk.append((m, st["disk_bytes"], files, alloc, st["row_groups"]))
                want = len(want_ids)
                assert 0 < want < m

                def fcount():
                    return t.count_where(where)

                def fids():
                    return t.query(where=where, columns=["_id"], format="columns")

                def fselect():
                    return t.select(where, columns=["_id"])

                # the answers, checked once (outside the timed calls: a list compare is not the query's)
                assert fcount() == want
                assert fids()["_id"] == want_ids
                r = fselect()
                assert len(r) == want and r[0]["_id"] == want_ids[0] and r[-1]["_id"] == want_ids[-1]
                del r
                for name, fn in (("cairn filter count", fcount), ("cairn filter ids", fids),
                                 ("cairn filter select", fselect)):
                    dt = best(fn, max(a.repeat, 5))
                    out.append(("%s (%dM rows)" % (name, m // 1000000), dt * n / m))
            del want_ids

        sizes = [int(x) for x in a.export_n.split(",") if x.strip() and int(x)]
        if sizes and np is None:
            print("export rows skipped: NumPy is not importable by %s" % sys.executable)
        elif sizes:
            for m in sizes:
                exports.append((m, export_rows(d, m, a.repeat)))

        db = sqlite3.connect(os.path.join(d, "s.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE t (id INTEGER, name TEXT, score REAL, at INTEGER)")
        srows = [(r["id"], r["name"], r["score"], int(r["at"].timestamp() * 1e6)) for r in rows]

        def sq_insert():
            db.execute("DELETE FROM t")
            db.execute("BEGIN")
            ex = db.execute
            for r in srows:
                ex("INSERT INTO t VALUES (?, ?, ?, ?)", r)
            db.execute("COMMIT")

        def sq_get():
            ex = db.execute
            for i in range(1, n + 1):
                ex("SELECT id, name, score, at FROM t WHERE rowid = ?", (i,)).fetchone()

        out.append(("sqlite3 insert (txn)", best(sq_insert, a.repeat)))
        out.append(("sqlite3 get", best(sq_get, a.repeat)))
        db.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("%-30s %14s" % ("rows of %d" % n, "rows/s"))
    for name, t in out:
        print("%-30s %14.0f" % (name, n / t if t else float("inf")))
    for m, stat_bytes, files, alloc, groups in disk:
        print("disk, filter table of %d rows (%d row groups) after load and sync: %d bytes (stats "
              "disk_bytes %d, allocated %d) = %.3f MB per 100,000 rows"
              % (m, groups, files, stat_bytes, alloc, files / 1e6 * 100000 / m))
    for m, rows_ in exports:
        print("export, %d rows (id i64, score f64 random, cat i32, flag bool; checkpointed): "
              "ms and resident set growth while the result is held (anon: private memory; file: pages of "
              "the segment files' mappings), first call after open | best of the rest (RSS: the largest)" % m)
        print("  %-36s %8s %8s %8s %8s | %8s %8s %8s %8s" % ("", "cpu ms", "wall ms", "anon MB", "file MB",
                                                          "cpu ms", "wall ms", "anon MB", "file MB"))
        for name, f, b in rows_:
            print("  %-36s %8.3f %8.3f %8.1f %8.1f | %8.3f %8.3f %8.1f %8.1f"
                  % (name, f[0] * 1e3, f[1] * 1e3, f[2][0] / 1e6, f[2][1] / 1e6,
                     b[0] * 1e3, b[1] * 1e3, b[2][0] / 1e6, b[2][1] / 1e6))


if __name__ == "__main__":
    main()
