"""Cairn quickstart in Python: a KV store (and a snapshot of it), a blob store, a table and a versioned
store in DIR (or a temp directory).

    PYTHONPATH=<build>/bindings/python/pkg python3 quickstart.py [DIR]
"""
import os
import sys
import tempfile

import cairn

root = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="cairn-quickstart-")
os.makedirs(root, exist_ok=True)

with cairn.KV(os.path.join(root, "kv")) as db:
    db["hello"] = "world"                                # text
    db["user:1"] = {"name": "Ada", "langs": ["en"]}      # JSON document
    db[b"\x00bin"] = bytes(range(4))                     # bytes
    with db.transaction():                               # atomic batch
        db["a"] = 1
        db["b"] = 2
    db.update("user:1", {"langs": ["en", "fr"]})         # merge into the JSON object
    print("kv:", db["hello"], db["user:1"], db[b"\x00bin"], sorted(db.keys(prefix="user:")))
    print("kv: %d keys" % len(db))
    try:
        db["missing"]
    except KeyError as e:
        print("kv: missing key ->", type(e).__name__, e.name)

with cairn.BlobStore(os.path.join(root, "blobs.cairn")) as store:
    store.on_created(lambda ev: print("blob: event", ev.name, ev.key, ev.new_size))
    k = store.create(b"a blob of bytes")
    store.update(k, b"a longer blob of bytes")
    print("blob:", k, store[k], "%d entries" % len(store))

with cairn.Table(os.path.join(root, "table"), schema="id i64 primary key, name string, score f64") as t:
    t.subscribe(lambda ev: print("table: event", ev.name, ev.id))
    with t.transaction():
        t.insert_many([{"id": 1, "name": "Ada", "score": 9.5}, {"id": 2, "name": "Bob"}])
    t.upsert({"id": 2, "score": 7.0})
    t.load({"id": [3, 4], "name": ["Cy", "Dee"]})
    print("table:", t[1], t.get(99), "%d rows" % len(t))
    for row_id, row in t:
        print("table:", row_id, row["name"], row["score"])

with cairn.KV(os.path.join(root, "kv")) as db:          # snapshots: read-only copies of an instant
    snap = db.snapshot()
    db["hello"] = "changed"
    with db.open_snapshot(snap) as old:
        print("snapshot:", snap, old["hello"], "->", db["hello"])
    db.drop_snapshot(snap)

with cairn.Repo(os.path.join(root, "repo")) as r:        # the versioned store
    r.init("acme")
    d1 = r.save("acme", "ada", "config", {"retries": 3})
    r.save("acme", "bob", "config", {"retries": 5})
    r.put_many("acme", "ada", "users", {"u1": "Ada", "u2": "Bob"})
    print("repo:", r.load("acme", "config"), r.load("acme", "config", d1)["retries"], r.keys("acme", "users"))
    for v in r.history("acme", "config"):
        print("repo:", v.digest[:12], v.user, v.parents[0][:12] if v.parents else "-")
