#!/usr/bin/env python3
"""Cost of a call from Python: put and get ops/s of 100-byte values (16-byte keys) through cairn.KV,
against the same loop through sqlite3 and a dict.

    PYTHONPATH=<build>/bindings/python/pkg python3 bench/python_kv.py [--n 200000] [--repeat 3] [--cairn-only]

Rows:
  cairn db[k]=v / db[k]     the idiomatic single call (MutableMapping)
  cairn put / get           the idiomatic methods
  cairn raw                 the SWIG layer called directly (the binding's floor)
  cairn put_many/get_many   one call for the whole batch (put_many: one transaction of --n items)
  cairn ... 1,000 a call    put_many / get_many over slices of 1,000 keys (a transaction each)
  sqlite3 execute           one statement per op (autocommit, WAL, synchronous=OFF)
  sqlite3 executemany       the whole batch in one transaction
  dict                      the ceiling: no storage at all
and the cost of a call alone: `k in db` for a missing key (a hash lookup in the core, no I/O).
All cairn rows use sync="none" (no fsync per write; sqlite3 likewise runs synchronous=OFF).
Reported: best of --repeat runs, ops/s, and the ratio to the sqlite3 single-statement row.
Timed in CPU time of this process (time.process_time): nothing here waits on a disk, and a busy
machine then disturbs the numbers less than wall time would.
"""
import argparse
import gc
import os
import shutil
import sqlite3
import sys
import tempfile
import time

import cairn
from cairn import _cairn_swig as raw


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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None, help="scratch directory (default: a temp dir)")
    ap.add_argument("--cairn-only", action="store_true", help="only the cairn rows (for before/after runs)")
    a = ap.parse_args()
    n = a.n
    keys = [b"key:%012d" % i for i in range(n)]  # 16 bytes, as the C bench's keys
    val = os.urandom(100)
    root = tempfile.mkdtemp(prefix="cairn-bench-", dir=a.dir)
    rows = []  # (name, put ops/s, get ops/s)

    def cairn_rows():
        path = os.path.join(root, "kv")
        db = cairn.KV(path, sync="none")

        def put_setitem():
            for k in keys:
                db[k] = val

        def get_getitem():
            for k in keys:
                db[k]

        def put_method():
            put = db.put
            for k in keys:
                put(k, val)

        def get_method():
            get = db.get
            for k in keys:
                get(k)

        h = db._h
        rput, rget = raw.cairn_kv_put, raw.cairn_kv_get

        def put_raw():
            for k in keys:
                rput(h, k, val, 0)

        def get_raw():
            for k in keys:
                rget(h, k)

        def put_many():
            db.put_many((k, val) for k in keys)

        def get_many():
            db.get_many(keys)

        slices = [keys[i:i + 1000] for i in range(0, n, 1000)]

        def put_many_1000():
            for s in slices:
                db.put_many((k, val) for k in s)

        def get_many_1000():
            for s in slices:
                db.get_many(s)

        missing = [b"nokey:%011d" % i for i in range(n)]

        def call_floor_idiomatic():
            for k in missing:
                k in db

        def call_floor_raw():
            rc = raw.cairn_kv_exists
            for k in missing:
                rc(h, k)

        out = []
        floor = (n / best(call_floor_idiomatic, a.repeat), n / best(call_floor_raw, a.repeat))
        for name, p, g in (("cairn db[k]=v / db[k]", put_setitem, get_getitem),
                           ("cairn put / get", put_method, get_method),
                           ("cairn raw (SWIG) put / get", put_raw, get_raw),
                           ("cairn put_many / get_many", put_many, get_many),
                           ("cairn ... 1,000 a call", put_many_1000, get_many_1000)):
            tp = best(p, a.repeat)
            tg = best(g, a.repeat)
            out.append((name, n / tp, n / tg))
        assert db[keys[-1]] == val and len(db) == n
        db.close()
        return out, floor

    def sqlite_rows():
        path = os.path.join(root, "bench.sqlite")
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")

        def put_single():
            ex = con.execute
            for k in keys:
                ex("INSERT OR REPLACE INTO kv VALUES (?, ?)", (k, val))

        def get_single():
            ex = con.execute
            for k in keys:
                ex("SELECT v FROM kv WHERE k = ?", (k,)).fetchone()

        def put_many():
            con.execute("BEGIN")
            con.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", ((k, val) for k in keys))
            con.execute("COMMIT")

        def get_many():
            ex = con.execute
            con.execute("BEGIN")
            for k in keys:
                ex("SELECT v FROM kv WHERE k = ?", (k,)).fetchone()
            con.execute("COMMIT")

        out = [("sqlite3 execute (autocommit)", n / best(put_single, a.repeat), n / best(get_single, a.repeat)),
               ("sqlite3 executemany / read txn", n / best(put_many, a.repeat), n / best(get_many, a.repeat))]
        con.close()
        return out

    def dict_rows():
        d = {}

        def put():
            for k in keys:
                d[k] = val

        def get():
            for k in keys:
                d[k]

        return [("dict", n / best(put, a.repeat), n / best(get, a.repeat))]

    try:
        crow, floor = cairn_rows()
        rows += crow
        if not a.cairn_only:
            rows += sqlite_rows()
            rows += dict_rows()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    base = next((r for r in rows if r[0].startswith("sqlite3 execute")), rows[0])
    print("Python %s, cairn %s, sqlite %s; %d keys, 100-byte values, best of %d"
          % (sys.version.split()[0], cairn.__version__, sqlite3.sqlite_version, n, a.repeat))
    rel = "sqlite" if base[0].startswith("sqlite3") else "db[k]"  # --cairn-only: relative to the first row
    print("%-34s %14s %14s %10s %10s" % ("", "put ops/s", "get ops/s", "put/" + rel, "get/" + rel))
    for name, p, g in rows:
        print("%-34s %14s %14s %9.2fx %9.2fx" % (name, "{:,.0f}".format(p), "{:,.0f}".format(g),
                                                 p / base[1], g / base[2]))
    print("cost of a call alone (`k in db` / raw exists of a missing key, no I/O): %s / %s calls/s"
          % ("{:,.0f}".format(floor[0]), "{:,.0f}".format(floor[1])))
    print("targets: put >= 2,000,000 ops/s, get >= 2,000,000 ops/s (db[k] = v / db[k] and put / get)")


if __name__ == "__main__":
    main()
