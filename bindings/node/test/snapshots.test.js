'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { cairn, tempDir, throwsCode, rejectsCode, openTemp } = require('./helpers');

test('KV snapshots: isolated both ways, read-only, listed, dropped', (t) => {
  const { store: db, path: p } = openTemp(t, cairn.KV, 'db');
  assert.deepEqual(db.snapshots(), []);
  db.put('a', '1').put('b', { n: 2 });
  assert.equal(db.snapshot('s1'), 's1');
  db.put('a', 'changed').delete('b');
  db.put('c', '3');
  const snap = db.openSnapshot('s1');
  t.after(() => snap.close());
  assert.ok(snap instanceof cairn.KV);
  assert.equal(snap.get('a'), '1');
  assert.deepEqual(snap.get('b'), { n: 2 });
  assert.equal(snap.get('c'), undefined);
  assert.deepEqual(snap.keys(), ['a', 'b']);
  throwsCode(assert, () => snap.put('x', 'y'), 'CAIRN_READONLY');
  assert.equal(db.get('a'), 'changed');
  // The store goes on, compacts and reopens; the snapshot stays as it was.
  db.compact();
  assert.equal(snap.get('a'), '1');
  const auto = db.snapshot();
  assert.equal(typeof auto, 'string');
  assert.notEqual(auto, db.snapshot());
  const list = db.snapshots();
  assert.equal(list.length, 3);
  assert.equal(list[0].name, 's1');
  assert.ok(list.every((s) => s.time instanceof Date && typeof s.bytes === 'number'));
  throwsCode(assert, () => db.snapshot('s1'), 'CAIRN_EXISTS');
  throwsCode(assert, () => db.snapshot('bad/name'), 'CAIRN_INVALID');
  throwsCode(assert, () => db.snapshot(7), 'CAIRN_TYPE');
  db.dropSnapshot(auto);
  assert.equal(db.snapshots().length, 2);
  throwsCode(assert, () => db.dropSnapshot(auto), 'CAIRN_NOTFOUND');
  throwsCode(assert, () => db.openSnapshot('none'), 'CAIRN_NOTFOUND');
  db.begin();
  throwsCode(assert, () => db.snapshot('in-txn'), 'CAIRN_TXN');
  db.rollback();
  db.close();
  const again = new cairn.KV(p);
  t.after(() => again.close());
  assert.deepEqual(again.snapshots().map((s) => s.name).slice(0, 1), ['s1']);
  for (const fn of [() => db.snapshot(), () => db.snapshots(), () => db.openSnapshot('s1'),
    () => db.dropSnapshot('s1'), () => db.backup(path.join(tempDir(t), 'b'))]) {
    throwsCode(assert, fn, 'CAIRN_CLOSED');
  }
});

test('KV backup: a full copy that opens as a store (sync and async)', async (t) => {
  const { store: db } = openTemp(t, cairn.KV, 'db');
  for (let i = 0; i < 100; i++) db.put(`k${i}`, Buffer.alloc(100, i));
  const dir = tempDir(t);
  db.backup(path.join(dir, 'b1'));
  db.put('k0', 'after');
  await db.backupAsync(path.join(dir, 'b2'));
  const b1 = new cairn.KV(path.join(dir, 'b1'));
  assert.equal(b1.count(), 100);
  assert.deepEqual(b1.get('k0'), Buffer.alloc(100, 0));
  b1.put('new', 'writable');
  b1.close();
  const b2 = new cairn.KV(path.join(dir, 'b2'));
  assert.equal(b2.get('k0'), 'after');
  b2.close();
  fs.writeFileSync(path.join(dir, 'file'), 'x');
  throwsCode(assert, () => db.backup(path.join(dir, 'file')), 'CAIRN_EXISTS');
  throwsCode(assert, () => db.backup(path.join(dir, 'b1')), 'CAIRN_EXISTS');
  await rejectsCode(assert, db.backupAsync(path.join(dir, 'b2')), 'CAIRN_EXISTS');
  throwsCode(assert, () => db.backup(5), 'CAIRN_TYPE');
});

test('blob store snapshots and backups', (t) => {
  const { store: st, path: p } = openTemp(t, cairn.BlobStore, 'blobs');
  const k = st.create('one');
  assert.equal(st.snapshot('s'), 's');
  st.update(k, 'changed');
  const snap = st.openSnapshot('s');
  t.after(() => snap.close());
  assert.ok(snap instanceof cairn.BlobStore);
  assert.deepEqual(snap.read(k), Buffer.from('one'));
  throwsCode(assert, () => snap.create('x'), 'CAIRN_READONLY');
  assert.deepEqual(st.snapshots().map((s) => s.name), ['s']);
  assert.ok(fs.existsSync(`${p}-snapshots/s/blob`));
  const dest = path.join(tempDir(t), 'bk.blob');
  st.backup(dest);
  throwsCode(assert, () => st.backup(dest), 'CAIRN_EXISTS');
  const bk = new cairn.BlobStore(dest);
  assert.deepEqual(bk.read(k), Buffer.from('changed'));
  bk.close();
  st.dropSnapshot('s');
  assert.deepEqual(st.snapshots(), []);
});

test('table snapshots and backups', (t) => {
  const { store: tb } = openTemp(t, cairn.Table, 'table', { schema: 'k string primary key, n i64' });
  const id = tb.insert({ k: 'a', n: 1 });
  assert.equal(tb.snapshot('s'), 's');
  tb.update(id, { n: 2 });
  const snap = tb.openSnapshot('s');
  t.after(() => snap.close());
  assert.ok(snap instanceof cairn.Table);
  assert.deepEqual(snap.get(id), { k: 'a', n: 1 });
  throwsCode(assert, () => snap.insert({ k: 'b', n: 0 }), 'CAIRN_READONLY');
  const dest = path.join(tempDir(t), 'tb');
  tb.backup(dest);
  const bk = new cairn.Table(dest);
  assert.deepEqual(bk.get(id), { k: 'a', n: 2 });
  bk.close();
});

test('KV snapshots: the list empties again after the last drop', (t) => {
  const { store: db } = openTemp(t, cairn.KV, 'db');
  db.put('k', 'v');
  db.snapshot('a');
  db.snapshot('b');
  for (const s of db.snapshots()) db.dropSnapshot(s.name);
  assert.deepEqual(db.snapshots(), []);
  assert.equal(db.get('k'), 'v');
});
