'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const fs = require('fs');
const { cairn, tempDir, throwsCode, openTemp } = require('./helpers');

function openDb(t, opts) {
  const { store: db, path: dir } = openTemp(t, cairn.KV, 'db', opts);
  return { db, dir };
}

test('values keep their JS type: Buffer, Uint8Array, string, JSON', (t) => {
  const { db, dir } = openDb(t);
  db.put('buf', Buffer.from([0, 1, 2, 255]));
  db.put('u8', new Uint8Array([9, 8, 7]));
  db.put('u16', new Uint16Array([0x0102]));
  db.put('ab', new Uint8Array([5, 6]).buffer);
  db.put('dv', new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2));
  db.put('sub', Buffer.from('xxhelloxx').subarray(2, 7));
  db.put('text', 'héllo ✓');
  db.put('empty', '');
  db.put('obj', { a: 1, b: [true, null, 'x'], c: { d: 2.5 } });
  db.put('arr', [1, 'two', { three: 3 }]);
  db.put('num', 42.5);
  db.put('bool', false);
  db.put('null', null);
  db.put('jsonstr', 'not text', { kind: 'json' });

  const check = (h) => {
    assert.deepEqual(h.get('buf'), Buffer.from([0, 1, 2, 255]));
    assert.ok(Buffer.isBuffer(h.get('u8')));
    assert.deepEqual(h.get('u8'), Buffer.from([9, 8, 7]));
    assert.deepEqual(h.get('u16'), Buffer.from(new Uint16Array([0x0102]).buffer));
    assert.deepEqual(h.get('ab'), Buffer.from([5, 6]));
    assert.deepEqual(h.get('dv'), Buffer.from([2, 3]));
    assert.deepEqual(h.get('sub'), Buffer.from('hello'));
    assert.equal(h.get('text'), 'héllo ✓');
    assert.equal(h.get('empty'), '');
    assert.deepEqual(h.get('obj'), { a: 1, b: [true, null, 'x'], c: { d: 2.5 } });
    assert.deepEqual(h.get('arr'), [1, 'two', { three: 3 }]);
    assert.equal(h.get('num'), 42.5);
    assert.equal(h.get('bool'), false);
    assert.equal(h.get('null'), null);
    assert.equal(h.get('missing'), undefined);
    assert.deepEqual(h.getTyped('jsonstr'), { value: 'not text', kind: 'json' });
    assert.deepEqual(h.getTyped('text'), { value: 'héllo ✓', kind: 'text' });
    assert.equal(h.getTyped('buf').kind, 'bytes');
    assert.equal(h.getTyped('missing'), undefined);
  };
  check(db);
  db.close();
  const again = new cairn.KV(dir);
  t.after(() => again.close());
  check(again);
});

test('large values (zero-copy path) and binary keys with NUL bytes', (t) => {
  const { db } = openDb(t);
  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  db.put('big', big);
  assert.ok(db.get('big').equals(big));
  const bigText = 'x'.repeat(100000) + 'é';
  db.put('bigtext', bigText);
  assert.equal(db.get('bigtext'), bigText);
  const k = Buffer.from([0, 0xff, 0, 1]);
  db.put(k, 'binary key');
  assert.equal(db.get(k), 'binary key');
  assert.ok(db.has(k));
  const keys = db.keys();
  // Not valid UTF-8: comes back as a Buffer; ascending bytewise order.
  assert.ok(keys.some((x) => Buffer.isBuffer(x) && x.equals(k)));
  assert.equal(keys.length, 3);
  assert.ok(Buffer.isBuffer(keys[0]) && keys[0][0] === 0);
});

test('unicode keys round-trip as strings; a string key equals its UTF-8 bytes', (t) => {
  const { db } = openDb(t);
  db.put('ключ', 1);
  db.put('🔑', 2);
  assert.equal(db.get(Buffer.from('ключ', 'utf8')), 1);
  assert.deepEqual(db.keys(), ['ключ', '🔑']);
});

test('delete, has, count, size, keys with prefix, iteration', (t) => {
  const { db } = openDb(t);
  for (const k of ['user:2', 'user:1', 'order:9', 'user:10']) db.put(k, k.toUpperCase());
  assert.equal(db.count(), 4);
  assert.equal(db.size, 4);
  assert.deepEqual(db.keys('user:'), ['user:1', 'user:10', 'user:2']);
  assert.deepEqual(db.keys(Buffer.from('order')), ['order:9']);
  assert.deepEqual(db.keys('zzz'), []);
  assert.deepEqual([...db].map(([k]) => k), ['order:9', 'user:1', 'user:10', 'user:2']);
  assert.deepEqual([...db.values('user:1')], ['USER:1', 'USER:10']);
  assert.equal(db.has('user:1'), true);
  db.delete('user:1');
  assert.equal(db.has('user:1'), false);
  assert.equal(db.get('user:1'), undefined);
  throwsCode(assert, () => db.delete('user:1'), 'CAIRN_NOTFOUND');
  assert.equal(db.count(), 3);
});

test('bad input: typed errors, TypeError for wrong types', (t) => {
  const { db } = openDb(t);
  for (const bad of [1, 1.5, true, null, undefined, {}, [1], () => 1, Symbol('s'), 10n]) {
    assert.throws(() => db.put(bad, 'v'), (e) => e instanceof TypeError && e.code === 'CAIRN_TYPE' && e.errno === -5);
    assert.throws(() => db.get(bad), (e) => e instanceof TypeError && e.code === 'CAIRN_TYPE');
  }
  for (const bad of [undefined, () => 1, Symbol('s'), 10n, new Map(), new Date(), NaN, Infinity]) {
    throwsCode(assert, () => db.put('k', bad), 'CAIRN_TYPE');
  }
  const cyclic = {};
  cyclic.self = cyclic;
  throwsCode(assert, () => db.put('k', cyclic), 'CAIRN_TYPE');
  throwsCode(assert, () => db.put('', 'v'), 'CAIRN_INVALID');
  throwsCode(assert, () => db.put('x'.repeat(65536), 'v'), 'CAIRN_TOOBIG');
  db.put('x'.repeat(65535), 'max key');
  assert.equal(db.get('x'.repeat(65535)), 'max key');
  throwsCode(assert, () => db.put('k', 'v', { ttl: 'soon' }), 'CAIRN_TYPE');
  throwsCode(assert, () => db.put('k', 'v', { ttl: -1 }), 'CAIRN_INVALID');
  throwsCode(assert, () => db.put('k', 'v', { forever: true }), 'CAIRN_INVALID');
  throwsCode(assert, () => db.put('k', 5, { kind: 'text' }), 'CAIRN_TYPE');
  // Nothing was stored by the failures.
  assert.equal(db.get('k'), undefined);
});

test('open errors: bad path, bad options, readOnly', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'file');
  fs.writeFileSync(file, 'x');
  throwsCode(assert, () => new cairn.KV(file), 'CAIRN_PATH');
  throwsCode(assert, () => new cairn.KV(path.join(dir, 'missing'), { create: false }), 'CAIRN_PATH');
  throwsCode(assert, () => new cairn.KV(path.join(dir, 'a'), { create: 'yes' }), 'CAIRN_TYPE');
  throwsCode(assert, () => new cairn.KV(path.join(dir, 'a'), { sync: 'sometimes' }), 'CAIRN_INVALID');
  throwsCode(assert, () => new cairn.KV(path.join(dir, 'a'), { maxFileSize: -1 }), 'CAIRN_INVALID');
  throwsCode(assert, () => new cairn.KV(path.join(dir, 'a'), 'opts'), 'CAIRN_TYPE');
  throwsCode(assert, () => new cairn.KV(path.join(dir, 'a'), { bogus: 1 }), 'CAIRN_INVALID');
  throwsCode(assert, () => new cairn.KV(''), 'CAIRN_INVALID');

  const dbDir = path.join(dir, 'db');
  const w = new cairn.KV(dbDir, { sync: 'none' });
  w.put('k', 'v');
  w.close();
  const ro = new cairn.KV(dbDir, { readOnly: true });
  t.after(() => ro.close());
  assert.equal(ro.get('k'), 'v');
  throwsCode(assert, () => ro.put('k', 'w'), 'CAIRN_READONLY');
});

test('a second writer on the same directory is refused (CAIRN_LOCKED)', (t) => {
  const { dir } = openDb(t);
  throwsCode(assert, () => new cairn.KV(dir), 'CAIRN_LOCKED');
});

test('closed handle: every call is CAIRN_CLOSED, close is idempotent', (t) => {
  const { db } = openDb(t);
  db.put('k', 'v');
  db.close();
  db.close();
  assert.equal(db.closed, true);
  for (const fn of [() => db.get('k'), () => db.put('k', 'v'), () => db.keys(), () => db.count(),
    () => db.begin(), () => db.stats(), () => db.sync(), () => db.compact(), () => db.has('k'), () => db.exists('k'),
    () => db.delete('k'), () => db.update('k', { a: 1 })]) {
    throwsCode(assert, fn, 'CAIRN_CLOSED');
  }
});

test('transactions: begin/commit/rollback and misuse', (t) => {
  const { db, dir } = openDb(t);
  db.put('a', 1);
  db.begin();
  db.put('a', 2);
  db.put('b', 3);
  db.delete('a');
  assert.equal(db.get('a'), undefined);
  assert.equal(db.stats().inTxn, true);
  throwsCode(assert, () => db.begin(), 'CAIRN_TXN');
  db.rollback();
  assert.equal(db.get('a'), 1);
  assert.equal(db.get('b'), undefined);
  throwsCode(assert, () => db.commit(), 'CAIRN_TXN');
  throwsCode(assert, () => db.rollback(), 'CAIRN_TXN');
  db.begin();
  db.put('c', 'committed');
  db.commit();
  db.close();
  const again = new cairn.KV(dir);
  t.after(() => again.close());
  assert.equal(again.get('c'), 'committed');
  assert.equal(again.get('a'), 1);
});

test('transaction(fn): commits on return, rolls back on throw', async (t) => {
  const { db } = openDb(t);
  const r = db.transaction((tx) => {
    assert.equal(tx, db);
    db.put('x', 1);
    db.put('y', 2);
    return 'done';
  });
  assert.equal(r, 'done');
  assert.equal(db.get('y'), 2);
  assert.throws(() => db.transaction(() => {
    db.put('x', 100);
    throw new Error('boom');
  }), /boom/);
  assert.equal(db.get('x'), 1);
  assert.equal(db.stats().inTxn, false);
  // async fn: commit after the promise resolves, rollback if it rejects
  await db.transaction(async () => {
    db.put('z', 'async');
    await new Promise((res) => setImmediate(res));
  });
  assert.equal(db.get('z'), 'async');
  await assert.rejects(db.transaction(async () => {
    db.put('z', 'lost');
    await null;
    throw new Error('async boom');
  }), /async boom/);
  assert.equal(db.get('z'), 'async');
  throwsCode(assert, () => db.transaction('not a function'), 'CAIRN_TYPE');
});

test('close inside a transaction rolls it back', (t) => {
  const { db, dir } = openDb(t);
  db.put('a', 'before');
  db.begin();
  db.put('a', 'inside');
  db.close();
  const again = new cairn.KV(dir);
  t.after(() => again.close());
  assert.equal(again.get('a'), 'before');
});

test('update merges into a JSON object and keeps other kinds intact', (t) => {
  const { db } = openDb(t);
  db.put('doc', { name: 'a', n: 1 });
  db.update('doc', { n: 2, extra: [1] });
  assert.deepEqual(db.get('doc'), { name: 'a', n: 2, extra: [1] });
  throwsCode(assert, () => db.update('missing', { a: 1 }), 'CAIRN_NOTFOUND');
  db.put('text', 'plain');
  throwsCode(assert, () => db.update('text', { a: 1 }), 'CAIRN_TYPE');
  db.put('arr', [1, 2]);
  throwsCode(assert, () => db.update('arr', { a: 1 }), 'CAIRN_TYPE');
  throwsCode(assert, () => db.update('doc', [1]), 'CAIRN_TYPE');
  throwsCode(assert, () => db.update('doc', 'x'), 'CAIRN_TYPE');
  assert.equal(db.get('text'), 'plain');
  // A nested object given in changes replaces the old one; inside a transaction a rollback undoes it.
  db.put('nested', { o: { a: 1, b: 2 }, keep: true });
  db.update('nested', { o: { c: 3 } });
  assert.deepEqual(db.get('nested'), { o: { c: 3 }, keep: true });
  db.begin();
  db.update('nested', { keep: false });
  assert.equal(db.get('nested').keep, false);
  db.rollback();
  assert.equal(db.get('nested').keep, true);
});

test('expiry: ttl and expireAt in ms, expiry() is a Date, null (never) or undefined (missing)', (t) => {
  const { db } = openDb(t);
  // The test clock makes expiry deterministic: nothing here depends on how fast the test runs.
  const now = Date.UTC(2030, 0, 1);
  cairn.testing.setClock(now);
  t.after(() => cairn.testing.setClock(null));
  db.put('short', 'v', { ttl: 1500 });
  db.put('zero', 'v', { ttl: 0 });
  db.put('past', 'v', { expireAt: now - 1 });
  db.put('later', 'v', { expireAt: new Date(now + 3600e3) });
  db.put('ms', 'v', { expireAt: now + 10 });
  db.put('forever', 'v');
  assert.equal(db.get('short'), 'v');
  assert.deepEqual(db.expiry('short'), new Date(now + 1500));
  assert.equal(db.get('zero'), undefined, 'ttl 0 expires at once');
  assert.equal(db.get('past'), undefined);
  assert.equal(db.expiry('past'), undefined);
  assert.ok(db.expiry('later') instanceof Date);
  assert.equal(db.expiry('later').getTime(), now + 3600e3);
  assert.equal(db.expiry('ms').getTime(), now + 10);
  assert.equal(db.expiry('forever'), null);
  assert.equal(db.expiry('missing'), undefined);
  cairn.testing.setClock(now + 1499);
  assert.equal(db.get('short'), 'v');
  assert.equal(db.exists('short'), true);
  cairn.testing.setClock(now + 1500);
  assert.equal(db.get('short'), undefined);
  assert.equal(db.exists('short'), false);
  assert.equal(db.has('short'), false);
  assert.equal(db.expiry('short'), undefined);
  assert.equal(db.get('later'), 'v');
  assert.equal(db.get('forever'), 'v');
  // update keeps the expiry
  db.put('doc', { a: 1 }, { ttl: 1000 });
  db.update('doc', { b: 2 });
  assert.equal(db.expiry('doc').getTime(), now + 1500 + 1000);
  throwsCode(assert, () => db.put('k', 'v', { ttl: 1, expireAt: now }), 'CAIRN_INVALID');
  throwsCode(assert, () => db.put('k', 'v', { ttl: -1 }), 'CAIRN_INVALID');
  throwsCode(assert, () => db.put('k', 'v', { expireAt: new Date(NaN) }), 'CAIRN_INVALID');
  throwsCode(assert, () => cairn.testing.setClock('soon'), 'CAIRN_TYPE');
  // Back on the real clock, a ttl counts from now again.
  cairn.testing.setClock(null);
  db.put('real', 'v', { ttl: 3600e3 });
  assert.ok(Math.abs(db.expiry('real').getTime() - (Date.now() + 3600e3)) < 60e3);
});

test('option ranges: lockTimeoutMs 0..4294967295, maxFileSize a non-negative integer', (t) => {
  const dir = tempDir(t);
  for (const Engine of [cairn.KV, cairn.BlobStore]) {
    const p = path.join(dir, Engine.name);
    throwsCode(assert, () => new Engine(p, { lockTimeoutMs: 4294967296 }), 'CAIRN_INVALID');
    throwsCode(assert, () => new Engine(p, { lockTimeoutMs: -1 }), 'CAIRN_INVALID');
    throwsCode(assert, () => new Engine(p, { lockTimeoutMs: 1.5 }), 'CAIRN_INVALID');
    throwsCode(assert, () => new Engine(p, { lockTimeoutMs: '10' }), 'CAIRN_TYPE');
    const s = new Engine(p, { lockTimeoutMs: 4294967295 });
    s.close();
  }
  throwsCode(assert, () => new cairn.BlobStore(path.join(dir, 'b'), { maxFileSize: 1 }), 'CAIRN_INVALID');
  throwsCode(assert, () => new cairn.KV(path.join(dir, 'k'), { maxFileSize: 2 ** 53 }), 'CAIRN_INVALID');
});

test('stats, sync, compact', (t) => {
  const { db } = openDb(t, { sync: 'none' });
  for (let i = 0; i < 100; i++) db.put('k' + i, 'x'.repeat(100));
  for (let i = 0; i < 100; i++) db.put('k' + i, 'y'.repeat(100));
  const before = db.stats();
  assert.equal(before.keys, 100);
  assert.equal(before.inTxn, false);
  for (const f of ['dataFiles', 'diskBytes', 'liveBytes', 'deadBytes', 'keydirBytes', 'seq', 'compactions']) {
    assert.equal(typeof before[f], 'number', f);
  }
  db.sync();
  db.compact();
  const after = db.stats();
  assert.equal(after.keys, 100);
  assert.ok(after.deadBytes <= before.deadBytes);
  assert.equal(db.get('k5'), 'y'.repeat(100));
  db.begin();
  throwsCode(assert, () => db.compact(), 'CAIRN_TXN');
  db.rollback();
});

test('KV.check verifies a closed store', (t) => {
  const { db, dir } = openDb(t);
  db.put('a', 'b');
  db.close();
  cairn.KV.check(dir);
  throwsCode(assert, () => cairn.KV.check(42), 'CAIRN_TYPE');
});
