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
All cairn rows use sync="none"; sqlite3 runs synchronous=OFF. Reported: best of --repeat runs (of
at least 5 for the sum, group by and filter rows), rows/s (for those: rows scanned per second),
timed in CPU time of this process (time.process_time).
"""
import argparse
import array
import datetime
import gc
import os
import shutil
import sqlite3
import tempfile
import time

import cairn

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sum-n", type=int, default=10000000, help="rows of the sum and group by (0: skip)")
    ap.add_argument("--filter-n", type=int, default=10000000, help="rows of the 3-condition filter (0: skip)")
    a = ap.parse_args()
    n = a.n
    base = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    rows = [{"id": i, "name": "user%d" % i, "score": i * 0.5, "at": base + datetime.timedelta(seconds=i)}
            for i in range(n)]
    d = tempfile.mkdtemp(prefix="cairn-bench-table-")
    out = []
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


if __name__ == "__main__":
    main()
