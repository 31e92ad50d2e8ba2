#!/usr/bin/env python3
"""Cost of a row from Python: cairn.Table insert / get / iteration of a 4-column row (i64, string,
f64, timestamp), against the same loop through sqlite3.

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
All cairn rows use sync="none"; sqlite3 runs synchronous=OFF. Reported: best of --repeat runs,
rows/s, timed in CPU time of this process (time.process_time).
"""
import argparse
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
    print("%-24s %14s" % ("rows of %d" % n, "rows/s"))
    for name, t in out:
        print("%-24s %14.0f" % (name, n / t if t else float("inf")))


if __name__ == "__main__":
    main()
