'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { EventEmitter } = require('events');
const { cairn, tempDir, throwsCode, openTemp } = require('./helpers');

function openStore(t, opts) {
  const { store: st, path: file } = openTemp(t, cairn.BlobStore, 'blobs', opts);
  return { st, file };
}

function record(st) {
  const evs = [];
  st.on('created', (key, size) => evs.push(['created', key, size]));
  st.on('updated', (key, oldSize, newSize) => evs.push(['updated', key, oldSize, newSize]));
  st.on('deleted', (key, oldSize) => evs.push(['deleted', key, oldSize]));
  return evs;
}

test('create / read / update / delete / exists / keys with every byte source', (t) => {
  const { st, file } = openStore(t);
  assert.ok(st instanceof EventEmitter);
  const k1 = st.create(Buffer.from('buffer'));
  const k2 = st.create(new Uint8Array([1, 2, 3]));
  const k3 = st.create(new Uint8Array([9, 9]).buffer);
  const k4 = st.create('text as utf-8 ✓');
  const k5 = st.create(Buffer.alloc(0));
  const big = Buffer.alloc(300000, 7);
  const k6 = st.create(big);
  assert.deepEqual([k1, k2, k3, k4, k5, k6].map((k) => typeof k), Array(6).fill('number'));
  assert.equal(new Set([k1, k2, k3, k4, k5, k6]).size, 6);
  assert.deepEqual(st.read(k2), Buffer.from([1, 2, 3]));
  assert.deepEqual(st.read(k3), Buffer.from([9, 9]));
  assert.equal(st.read(k4).toString('utf8'), 'text as utf-8 ✓');
  assert.equal(st.read(k5).length, 0);
  assert.ok(st.read(k6).equals(big));
  assert.equal(st.count(), 6);
  assert.equal(st.size, 6);
  assert.deepEqual(st.keys(), [k1, k2, k3, k4, k5, k6].sort((a, b) => a - b));
  st.update(k1, Buffer.from('a longer buffer than before'));
  st.update(k2, new Uint8Array(0));
  assert.equal(st.read(k1).toString(), 'a longer buffer than before');
  st.delete(k3);
  assert.equal(st.exists(k3), false);
  assert.equal(st.has(k1), true);
  assert.deepEqual([...st].map(([k]) => k), st.keys());
  st.close();
  const again = new cairn.BlobStore(file);
  t.after(() => again.close());
  assert.equal(again.count(), 5);
  assert.equal(again.read(k1).toString(), 'a longer buffer than before');
  assert.equal(again.read(k5).length, 0);
  assert.equal(again.read(k2).length, 0);
});

test('explicit keys and reserved keys never collide with auto keys', (t) => {
  const { st, file } = openStore(t);
  const r = st.reserveNextKey();
  st.createWithKey(r, 'reserved');
  st.createWithKey(1000, 'explicit');
  throwsCode(assert, () => st.createWithKey(1000, 'again'), 'CAIRN_EXISTS');
  const a = st.create('auto');
  assert.ok(a !== r && a !== 1000, `auto key ${a}`);
  st.close();
  const again = new cairn.BlobStore(file);
  t.after(() => again.close());
  const b = again.create('auto after reopen');
  assert.ok(![r, 1000, a].includes(b));
  assert.equal(again.read(1000).toString(), 'explicit');
  assert.equal(again.stats().entries, 4);
});

test('bad input: typed errors', (t) => {
  const { st } = openStore(t);
  for (const bad of ['1', 1.5, NaN, null, undefined, {}, 1n, Symbol('k')]) {
    assert.throws(() => st.read(bad), (e) => e instanceof TypeError && e.code === 'CAIRN_TYPE');
  }
  for (const bad of [-1, 4294967296, 2 ** 53]) throwsCode(assert, () => st.read(bad), 'CAIRN_INVALID');
  for (const bad of [42, null, undefined, {}, [1, 2], () => 1]) throwsCode(assert, () => st.create(bad), 'CAIRN_TYPE');
  throwsCode(assert, () => st.read(12345), 'CAIRN_NOTFOUND');
  throwsCode(assert, () => st.update(12345, 'x'), 'CAIRN_NOTFOUND');
  throwsCode(assert, () => st.delete(12345), 'CAIRN_NOTFOUND');
  assert.equal(st.exists(4294967295), false);
  assert.equal(st.count(), 0);
  throwsCode(assert, () => new cairn.BlobStore(path.join(tempDir(t), 'missing'), { create: false }), 'CAIRN_PATH');
});

test('events: once per successful operation, with key and sizes', (t) => {
  const { st } = openStore(t);
  const evs = record(st);
  const k = st.create(Buffer.alloc(10));
  st.update(k, Buffer.alloc(25));
  st.update(k, Buffer.alloc(5));
  st.delete(k);
  assert.deepEqual(evs, [['created', k, 10], ['updated', k, 10, 25], ['updated', k, 25, 5], ['deleted', k, 5]]);
  evs.length = 0;
  // Failed operations fire nothing.
  assert.throws(() => st.update(k, 'x'));
  assert.throws(() => st.delete(k));
  const k2 = st.create('abc');
  assert.throws(() => st.createWithKey(k2, 'dup'));
  assert.deepEqual(evs, [['created', k2, 3]]);
});

test('events in a transaction fire at commit, in order; none on rollback', (t) => {
  const { st } = openStore(t);
  const evs = record(st);
  st.begin();
  const a = st.create('aa');
  const b = st.create('bbb');
  st.update(a, 'aaaa');
  assert.deepEqual(evs, [], 'nothing before commit');
  st.commit();
  assert.deepEqual(evs, [['created', a, 2], ['created', b, 3], ['updated', a, 2, 4]]);
  evs.length = 0;
  st.begin();
  st.delete(a);
  st.create('never');
  st.rollback();
  assert.deepEqual(evs, []);
  assert.equal(st.read(a).toString(), 'aaaa');
  evs.length = 0;
  st.transaction(() => st.delete(b));
  assert.deepEqual(evs, [['deleted', b, 3]]);
  evs.length = 0;
  assert.throws(() => st.transaction(() => {
    st.delete(a);
    throw new Error('abort');
  }), /abort/);
  assert.deepEqual(evs, []);
  assert.equal(st.exists(a), true);
});

test('a throwing listener: the error reaches the caller, later events are still delivered', (t) => {
  const { st } = openStore(t);
  const seen = [];
  let first;
  st.on('created', (key) => {
    seen.push(key);
    if (key === first) throw new Error('listener failed');
  });
  st.begin();
  first = st.create('x');
  const second = st.create('y');
  assert.throws(() => st.commit(), /listener failed/);
  assert.deepEqual(seen, [first, second]);
  assert.equal(st.stats().inTxn, false, 'the commit itself succeeded');
  assert.equal(st.count(), 2);
});

test('stats, sync, compact, closed handle', (t) => {
  const { st } = openStore(t);
  const keys = [];
  for (let i = 0; i < 20; i++) keys.push(st.create(Buffer.alloc(1000, i)));
  for (let i = 0; i < 20; i += 2) st.delete(keys[i]);
  st.sync();
  const s = st.stats();
  assert.equal(s.entries, 10);
  assert.equal(s.liveBytes, 10000);
  assert.equal(s.inTxn, false);
  for (const f of ['freeBytes', 'freeEntries', 'fileSize', 'walBytes', 'nextKey']) assert.equal(typeof s[f], 'number', f);
  st.compact();
  const c = st.stats();
  assert.equal(c.entries, 10);
  assert.equal(c.freeBytes, 0);
  assert.ok(c.fileSize <= s.fileSize);
  assert.deepEqual(st.read(keys[1]), Buffer.alloc(1000, 1));
  st.close();
  st.close();
  for (const fn of [() => st.create('x'), () => st.read(keys[1]), () => st.count(), () => st.keys(), () => st.sync(),
    () => st.on('created', () => {})]) {
    throwsCode(assert, fn, 'CAIRN_CLOSED');
  }
});

test('listeners run after the C call returned: they can use the store; off() stops delivery', (t) => {
  const { st } = openStore(t);
  const seen = [];
  const onCreated = (key, size) => seen.push([key, size, st.read(key).length, st.count()]);
  st.on('created', onCreated);
  const a = st.create('abc');
  assert.deepEqual(seen, [[a, 3, 3, 1]]);
  // In a transaction, after commit: the listener sees the committed state, no transaction open.
  st.on('deleted', (key) => seen.push(['deleted', key, st.exists(key), st.stats().inTxn]));
  st.transaction(() => st.delete(a));
  assert.deepEqual(seen.at(-1), ['deleted', a, false, false]);
  st.off('created', onCreated);
  st.create('not seen');
  assert.equal(seen.length, 2);
});

test('BlobStore.check and checkAsync verify a closed store', async (t) => {
  const { st, file } = openStore(t);
  st.create('x');
  st.close();
  cairn.BlobStore.check(file);
  await cairn.BlobStore.checkAsync(file);
  throwsCode(assert, () => cairn.BlobStore.check(42), 'CAIRN_TYPE');
});
