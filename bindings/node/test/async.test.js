'use strict';
// Promise variants: they run on the libuv thread pool and reject with typed errors.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { cairn, tempDir, rejectsCode } = require('./helpers');

test('cairn.open / KV.open resolve to a usable KV', async (t) => {
  const dir = path.join(tempDir(t), 'db');
  const db = await cairn.open(dir, { sync: 'none' });
  assert.ok(db instanceof cairn.KV);
  db.put('a', { x: 1 });
  await db.syncAsync();
  await db.compactAsync();
  assert.deepEqual(db.get('a'), { x: 1 });
  db.close();
  const again = await cairn.KV.open(dir);
  assert.deepEqual(again.get('a'), { x: 1 });
  again.close();
  await cairn.KV.checkAsync(dir);
});

test('async errors reject with typed errors (never throw synchronously)', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'file');
  fs.writeFileSync(file, 'x');
  await rejectsCode(assert, cairn.open(file), 'CAIRN_PATH');
  await rejectsCode(assert, cairn.open(42), 'CAIRN_TYPE');
  await rejectsCode(assert, cairn.open(path.join(dir, 'x'), { sync: 7 }), 'CAIRN_TYPE');
  await rejectsCode(assert, cairn.open(path.join(dir, 'missing'), { create: false }), 'CAIRN_PATH');
  const db = await cairn.open(path.join(dir, 'db'));
  // The lock is held: a second open on the pool fails with the message copied from that thread.
  await assert.rejects(cairn.open(path.join(dir, 'db')), (e) => {
    assert.equal(e.code, 'CAIRN_LOCKED');
    assert.ok(e instanceof cairn.errors.Locked);
    assert.ok(e.message.length > 0);
    return true;
  });
  db.begin();
  await rejectsCode(assert, db.compactAsync(), 'CAIRN_TXN');
  db.rollback();
  db.close();
  await rejectsCode(assert, db.syncAsync(), 'CAIRN_CLOSED');
  await rejectsCode(assert, db.compactAsync(), 'CAIRN_CLOSED');
});

test('many opens in parallel on the thread pool', async (t) => {
  const base = tempDir(t);
  const dbs = await Promise.all(Array.from({ length: 8 }, (_, i) => cairn.open(path.join(base, 'db' + i))));
  dbs.forEach((db, i) => db.put('i', i));
  await Promise.all(dbs.map((db) => db.syncAsync()));
  dbs.forEach((db, i) => assert.equal(db.get('i'), i));
  dbs.forEach((db) => db.close());
});

test('close while compactAsync runs: the work finishes, then the handle closes', async (t) => {
  const dir = path.join(tempDir(t), 'db');
  const db = new cairn.KV(dir, { sync: 'none' });
  for (let i = 0; i < 2000; i++) db.put('k' + (i % 200), 'v'.repeat(200) + i);
  const p = db.compactAsync();
  db.close();
  assert.equal(db.closed, true);
  assert.throws(() => db.get('k1'), (e) => e.code === 'CAIRN_CLOSED');
  await p;
  // The C handle is really closed once the work is done: the lock is free again.
  const again = new cairn.KV(dir);
  assert.equal(again.count(), 200);
  assert.equal(again.get('k1'), 'v'.repeat(200) + 1801);
  again.close();
});

test('BlobStore.open and syncAsync / compactAsync', async (t) => {
  const file = path.join(tempDir(t), 'blobs');
  const st = await cairn.openBlobStore(file);
  assert.ok(st instanceof cairn.BlobStore);
  const k = st.create(Buffer.from('hello'));
  await st.syncAsync();
  await st.compactAsync();
  assert.equal(st.read(k).toString(), 'hello');
  st.close();
  await cairn.BlobStore.checkAsync(file);
  await rejectsCode(assert, st.syncAsync(), 'CAIRN_CLOSED');
  await rejectsCode(assert, cairn.openBlobStore(file, { create: false, bogus: 1 }), 'CAIRN_INVALID');
});

test('the main thread keeps reading and writing while compact and sync run on the pool', async (t) => {
  const dir = path.join(tempDir(t), 'db');
  const db = new cairn.KV(dir, { sync: 'none', maxFileSize: 64 * 1024 });
  t.after(() => db.close());
  for (let i = 0; i < 3000; i++) db.put('k' + (i % 300), Buffer.alloc(200, i & 0xff));
  const expected = new Map();
  for (let i = 0; i < 300; i++) expected.set('k' + i, db.get('k' + i));
  const work = Promise.all([db.compactAsync(), db.syncAsync(), db.compactAsync()]);
  let writes = 0;
  let done = false;
  work.then(() => { done = true; }, () => { done = true; });
  // Interleave: a burst of calls per turn of the event loop until the pool work is done.
  while (!done || writes < 600) {
    for (let j = 0; j < 50; j++, writes++) {
      const k = 'new' + writes;
      db.put(k, String(writes));
      assert.equal(db.get(k), String(writes));
      const old = 'k' + (writes % 300);
      assert.deepEqual(db.get(old), expected.get(old));
    }
    await new Promise((res) => setImmediate(res));
  }
  await work;
  assert.equal(db.count(), 300 + writes);
  db.close();
  const again = new cairn.KV(dir);
  assert.equal(again.count(), 300 + writes);
  assert.deepEqual(again.get('k7'), expected.get('k7'));
  again.close();
});
