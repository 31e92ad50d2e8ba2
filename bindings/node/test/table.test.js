'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { EventEmitter } = require('events');
const { cairn, tempDir, throwsCode, rejectsCode, openTemp } = require('./helpers');

const SCHEMA = 'id i64 primary key, name string not null, score f64 null, tag bytes null, at timestamp null';

function openTable(t, opts = { schema: SCHEMA }) {
  const { store: tb, path: dir } = openTemp(t, cairn.Table, 'table', opts);
  return { tb, dir };
}

function reopen(t, dir, opts) {
  const tb = new cairn.Table(dir, opts);
  t.after(() => tb.close());
  return tb;
}

test('insert / get / update / delete / count and values by column type', (t) => {
  const { tb, dir } = openTable(t);
  assert.ok(tb instanceof EventEmitter);
  assert.equal(Object.prototype.toString.call(tb), '[object cairn.Table]');
  const at = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678));
  const id1 = tb.insert({ id: 1, name: 'Ada', score: 9.5, tag: Buffer.from([0, 255]), at });
  const id2 = tb.insert({ id: 2, name: 'Grace' }); // the rest: null
  assert.equal(id1, 1);
  assert.equal(id2, 2);
  assert.deepEqual(tb.get(id1), { id: 1, name: 'Ada', score: 9.5, tag: Buffer.from([0, 255]), at });
  assert.ok(tb.get(id1).at instanceof Date);
  assert.deepEqual(tb.get(id2), { id: 2, name: 'Grace', score: null, tag: null, at: null });
  assert.equal(tb.get(99), undefined);
  assert.equal(tb.count(), 2);
  assert.equal(tb.size, 2);
  assert.equal(tb.has(id1), true);
  assert.equal(tb.exists(99), false);

  assert.equal(tb.update(id2, { score: -1.25, tag: new Uint8Array([7]) }), tb);
  assert.deepEqual(tb.get(id2), { id: 2, name: 'Grace', score: -1.25, tag: Buffer.from([7]), at: null });
  tb.update(id2, { score: null });
  assert.equal(tb.get(id2).score, null);
  throwsCode(assert, () => tb.update(99, { score: 1 }), 'CAIRN_NOTFOUND');

  tb.delete(id1);
  assert.equal(tb.get(id1), undefined);
  throwsCode(assert, () => tb.delete(id1), 'CAIRN_NOTFOUND');
  assert.equal(tb.count(), 1);
  // ids are never reused
  assert.equal(tb.insert({ id: 1, name: 'Ada again' }), 3);
  tb.close();
  const again = reopen(t, dir);
  assert.deepEqual([...again.keys()], [2, 3]);
  assert.deepEqual(again.get(3), { id: 1, name: 'Ada again', score: null, tag: null, at: null });
});

test('the schema as a list of column objects, and schema() describing it', (t) => {
  const { tb, dir } = openTable(t, {
    schema: [
      { name: 'id', type: 'i64', primaryKey: true },
      { name: 'name', type: 'string', nullable: false, default: 'anon' },
      { name: 'score', type: 'f64', default: 0.5 },
      { name: 'code', type: 'bytes:2', unique: true },
      { name: 'big', type: 'u64', default: 18446744073709551615n },
    ],
  });
  const s = tb.schema();
  assert.deepEqual(s.map((c) => [c.name, c.type]), [['id', 'i64'], ['name', 'string'], ['score', 'f64'], ['code', 'bytes:2'], ['big', 'u64']]);
  assert.equal(s[0].primaryKey, true);
  assert.equal(s[0].nullable, false);
  assert.equal(s[1].nullable, false);
  assert.equal(s[1].default, 'anon');
  assert.equal(s[2].default, 0.5);
  assert.equal(s[3].unique, true);
  assert.equal(s[3].default, null);
  assert.equal(s[4].default, 18446744073709551615n);
  const id = tb.insert({ id: 7 });
  assert.deepEqual(tb.get(id), { id: 7, name: 'anon', score: 0.5, code: null, big: 18446744073709551615n });
  tb.close();
  // Reopening needs no schema; the same one is fine, another is CAIRN_SCHEMA.
  reopen(t, dir).close();
  reopen(t, dir, { schema: s.map(({ name, type, nullable, primaryKey, unique, default: d }) =>
    ({ name, type, nullable, primaryKey, unique, ...(d === null ? {} : { default: d }) })) }).close();
  throwsCode(assert, () => new cairn.Table(dir, { schema: 'id i64 primary key' }), 'CAIRN_SCHEMA');
  throwsCode(assert, () => new cairn.Table(dir, { schema: [{ name: 'id', type: 'i64', primary: true }] }), 'CAIRN_INVALID');
  throwsCode(assert, () => new cairn.Table(dir, { schema: 42 }), 'CAIRN_TYPE');
});

test('integers: exact to 64 bits, number when safe and BigInt beyond', (t) => {
  const { tb, dir } = openTable(t, { schema: 'a i64, b u64, c i8' });
  const rows = [
    { a: -(2n ** 63n), b: 2n ** 64n - 1n, c: -128 },
    { a: 2n ** 63n - 1n, b: 0, c: 127 },
    { a: Number.MAX_SAFE_INTEGER, b: 2 ** 53, c: 0 },
    { a: 2 ** 60, b: 12345678901234567890n, c: null },
  ];
  const ids = tb.insertMany(rows);
  assert.deepEqual(ids, [1, 2, 3, 4]);
  const check = (h) => {
    assert.deepEqual(h.get(1), { a: -(2n ** 63n), b: 2n ** 64n - 1n, c: -128 });
    assert.deepEqual(h.get(2), { a: 2n ** 63n - 1n, b: 0, c: 127 });
    assert.deepEqual(h.get(3), { a: Number.MAX_SAFE_INTEGER, b: 2n ** 53n, c: 0 });
    assert.deepEqual(h.get(4), { a: 2n ** 60n, b: 12345678901234567890n, c: null });
  };
  check(tb);
  throwsCode(assert, () => tb.insert({ c: 128 }), 'CAIRN_RANGE');
  throwsCode(assert, () => tb.insert({ b: -1 }), 'CAIRN_RANGE');
  throwsCode(assert, () => tb.insert({ b: 2n ** 64n }), 'CAIRN_RANGE');
  throwsCode(assert, () => tb.insert({ a: 1.5 }), 'CAIRN_TYPE');
  throwsCode(assert, () => tb.insert({ a: '1' }), 'CAIRN_TYPE');
  assert.equal(tb.count(), 4);
  tb.sync();
  check(tb); // from a segment
  tb.close();
  check(reopen(t, dir));
});

test('floats, booleans, strings, bytes', (t) => {
  const { tb } = openTable(t, { schema: 'x f64, y f32, b bool, s string, raw bytes, fx bytes:3' });
  const id = tb.insert({ x: NaN, y: -Infinity, b: false, s: 'é\u0000"\\✓', raw: new Uint8Array(0), fx: Buffer.from('abc') });
  const r = tb.get(id);
  assert.ok(Number.isNaN(r.x));
  assert.equal(r.y, -Infinity);
  assert.equal(r.b, false);
  assert.equal(r.s, 'é\u0000"\\✓');
  assert.deepEqual(r.raw, Buffer.alloc(0));
  assert.deepEqual(r.fx, Buffer.from('abc'));
  const id2 = tb.insert({ x: Infinity, y: 1.25, b: true, raw: new Uint16Array([0x0201]).buffer, fx: new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 3) });
  assert.deepEqual(tb.get(id2), { x: Infinity, y: 1.25, b: true, s: null, raw: Buffer.from([1, 2]), fx: Buffer.from([2, 3, 4]) });
  throwsCode(assert, () => tb.insert({ fx: Buffer.from('ab') }), 'CAIRN_RANGE');
  throwsCode(assert, () => tb.insert({ b: 1 }), 'CAIRN_TYPE');
  throwsCode(assert, () => tb.insert({ s: Buffer.from('x') }), 'CAIRN_TYPE');
  throwsCode(assert, () => tb.insert({ raw: 'text' }), 'CAIRN_TYPE');
  throwsCode(assert, () => tb.insert({ x: '1.5' }), 'CAIRN_TYPE');
});

test('timestamps: Date in and out; microseconds kept exactly', (t) => {
  const { tb, dir } = openTable(t, { schema: 'at timestamp, n i64' });
  const d = new Date('1969-07-20T20:17:40.123Z');
  const exact = cairn.timestamp(1700000000123456n);
  assert.ok(exact instanceof Date);
  assert.equal(exact.getTime(), 1700000000123);
  assert.equal(cairn.microseconds(exact), 1700000000123456);
  assert.equal(cairn.microseconds(d), d.getTime() * 1000);
  const before = cairn.timestamp(-1);
  assert.equal(before.getTime(), -1); // floor: 1 µs before the epoch is in the millisecond before
  const ids = tb.insertMany([{ at: d }, { at: exact }, { at: before }, { at: d }]);
  const check = (h) => {
    assert.deepEqual(h.get(ids[3]).at, d);
    const r = h.get(ids[1]).at;
    assert.equal(r.getTime(), 1700000000123);
    assert.equal(cairn.microseconds(r), 1700000000123456);
    assert.equal(cairn.microseconds(h.get(ids[2]).at), -1);
  };
  check(tb);
  // A Date read back and written again keeps its microseconds; once its time changes, it is ms * 1000.
  const r = tb.get(ids[1]).at;
  tb.update(ids[0], { at: r });
  assert.equal(cairn.microseconds(tb.get(ids[0]).at), 1700000000123456);
  r.setTime(r.getTime() + 1);
  tb.update(ids[0], { at: r });
  assert.equal(cairn.microseconds(tb.get(ids[0]).at), 1700000000124000);
  throwsCode(assert, () => tb.insert({ at: 1700000000000 }), 'CAIRN_TYPE'); // a number is no timestamp
  throwsCode(assert, () => tb.insert({ n: new Date() }), 'CAIRN_TYPE'); // a Date is no integer
  throwsCode(assert, () => tb.insert({ at: new Date(NaN) }), 'CAIRN_INVALID');
  throwsCode(assert, () => cairn.microseconds(5), 'CAIRN_TYPE');
  throwsCode(assert, () => cairn.timestamp('now'), 'CAIRN_TYPE');
  tb.sync();
  tb.close();
  check(reopen(t, dir));
});

test('wrong host types are CAIRN_TYPE and change nothing', (t) => {
  const { tb } = openTable(t, { schema: 'a i64, s string' });
  for (const bad of [() => {}, Symbol('x'), [1], { nested: 1 }, new Map()]) {
    throwsCode(assert, () => tb.insert({ a: bad }), 'CAIRN_TYPE');
  }
  for (const bad of [null, 42, 'row', [{ a: 1 }], Buffer.from('x'), () => {}]) {
    throwsCode(assert, () => tb.insert(bad), 'CAIRN_TYPE');
  }
  throwsCode(assert, () => tb.insertMany(5), 'CAIRN_TYPE');
  throwsCode(assert, () => tb.insertMany([{ a: 1 }, 'x']), 'CAIRN_TYPE');
  throwsCode(assert, () => tb.get('1'), 'CAIRN_TYPE');
  throwsCode(assert, () => tb.get({}), 'CAIRN_TYPE');
  throwsCode(assert, () => tb.get(-1), 'CAIRN_INVALID');
  throwsCode(assert, () => tb.get(1.5), 'CAIRN_INVALID');
  throwsCode(assert, () => tb.get(2n ** 64n), 'CAIRN_INVALID');
  assert.equal(tb.get(2n ** 64n - 1n), undefined);
  throwsCode(assert, () => tb.insert({ nope: 1 }), 'CAIRN_SCHEMA');
  throwsCode(assert, () => tb.load({ a: 5 }), 'CAIRN_TYPE');
  throwsCode(assert, () => tb.load([1, 2]), 'CAIRN_TYPE');
  assert.equal(tb.count(), 0);
  // a Map is a row too
  assert.equal(tb.insert(new Map([['a', 1], ['s', 'x']])), 1);
});

test('constraints: primary key, unique, not null; insertMany is all or nothing', (t) => {
  const { tb } = openTable(t, { schema: 'id i64 primary key, email string unique, name string not null' });
  tb.insert({ id: 1, email: 'a@x', name: 'A' });
  throwsCode(assert, () => tb.insert({ id: 1, email: 'b@x', name: 'B' }), 'CAIRN_CONSTRAINT');
  throwsCode(assert, () => tb.insert({ id: 2, email: 'a@x', name: 'B' }), 'CAIRN_CONSTRAINT');
  throwsCode(assert, () => tb.insert({ id: 3, email: 'c@x' }), 'CAIRN_CONSTRAINT');
  throwsCode(assert, () => tb.insertMany([{ id: 4, name: 'D' }, { id: 4, name: 'E' }]), 'CAIRN_CONSTRAINT');
  assert.ok(new cairn.errors.Constraint('x') instanceof cairn.CairnError);
  assert.equal(cairn.errors.Schema.code, 'CAIRN_SCHEMA');
  assert.equal(tb.count(), 1);
  // upsert by primary key
  const id = tb.upsert({ id: 1, name: 'A2' });
  assert.equal(id, 1);
  assert.equal(tb.get(1).name, 'A2');
  assert.equal(tb.get(1).email, 'a@x');
  const id5 = tb.upsert({ id: 5, name: 'E' });
  assert.equal(tb.get(id5).id, 5);
  assert.equal(tb.count(), 2);
});

test('iteration: [id, row] in id order from a snapshot; rows(), keys(), values()', (t) => {
  const { tb } = openTable(t, { schema: 'n i32', checkpointRows: 100 });
  const n = 1000;
  tb.load({ n: Int32Array.from({ length: n }, (_, i) => i) });
  for (let i = 1; i <= n; i += 3) tb.delete(i);
  const seen = [];
  for (const [id, row] of tb) {
    if (seen.length === 0) tb.insert({ n: -1 }); // not in the snapshot
    seen.push([id, row.n]);
  }
  assert.equal(seen.length, n - Math.ceil(n / 3));
  assert.ok(seen.every(([id, v]) => id === v + 1 && id % 3 !== 1));
  assert.deepEqual([...tb.rows()].length, seen.length + 1);
  assert.deepEqual([...tb.keys()].slice(0, 3), [2, 3, 5]);
  assert.deepEqual([...tb.values()].slice(0, 2), [{ n: 1 }, { n: 2 }]);
  // An iteration left early frees its cursor; close() with a cursor open is fine.
  for (const [id] of tb.entries()) if (id > 10) break;
  const it = tb.entries();
  it.next();
  tb.close();
  throwsCode(assert, () => it.next(), 'CAIRN_CLOSED');
});

test('load: arrays and TypedArrays, consecutive ids, all or nothing', (t) => {
  const { tb, dir } = openTable(t, { schema: 'i i32, big i64, f f64, s string null, b bool default true, at timestamp null' });
  const first = tb.load({
    i: new Int32Array([1, 2, 3]),
    big: new BigInt64Array([1n, -(2n ** 63n), 2n ** 62n]),
    f: new Float64Array([0.5, NaN, -0]),
    s: ['a', null, undefined],
    at: [new Date(0), null, cairn.timestamp(5n)],
  });
  assert.equal(first, 1);
  assert.deepEqual(tb.get(2), { i: 2, big: -(2n ** 63n), f: NaN, s: null, b: true, at: null });
  assert.equal(cairn.microseconds(tb.get(3).at), 5);
  assert.equal(tb.load({ i: [4, 5] }), 4);
  // every column given as the TypedArray of its type: read in place by the core
  assert.equal(tb.load({ i: new Int32Array([6, 7]), big: new BigInt64Array([2n ** 62n, -1n]), f: new Float64Array([1.5, Infinity]) }), 6);
  assert.deepEqual(tb.get(7), { i: 7, big: -1, f: Infinity, s: null, b: true, at: null });
  // views at an offset into their buffer, and shared memory
  const shared = new Int32Array(new SharedArrayBuffer(8));
  shared.set([10, 11]);
  assert.equal(tb.load({ i: shared, f: new Float64Array(new Float64Array([0, 2.5, 3.5]).buffer, 8, 2) }), 8);
  assert.deepEqual([tb.get(8).i, tb.get(8).f, tb.get(9).i, tb.get(9).f], [10, 2.5, 11, 3.5]);
  tb.delete(8);
  tb.delete(9);
  throwsCode(assert, () => tb.load({ i: new Int32Array([1]), f: new Float64Array([1, 2]) }), 'CAIRN_INVALID');
  throwsCode(assert, () => tb.load({ i: new Float32Array([1.5]) }), 'CAIRN_TYPE');
  assert.equal(tb.load({ i: new Int16Array([8]) }), 10); // another TypedArray: value by value
  tb.delete(10);
  throwsCode(assert, () => tb.load({ i: [6, 7], s: ['x'] }), 'CAIRN_INVALID'); // lengths differ
  throwsCode(assert, () => tb.load({ i: [6, 'x'] }), 'CAIRN_TYPE');
  assert.equal(tb.count(), 7);
  tb.close();
  assert.equal(reopen(t, dir).count(), 7);
});

test('addColumn: text and object forms; existing rows get the default', (t) => {
  const { tb, dir } = openTable(t, { schema: 'id i64 primary key' });
  tb.insert({ id: 1 });
  tb.addColumn('note string default \'n/a\'');
  tb.addColumn({ name: 'flags', type: 'bytes:2', default: Buffer.from([1, 2]) });
  tb.addColumn({ name: 'seen', type: 'timestamp', nullable: false, default: cairn.timestamp(1500n) });
  tb.addColumn({ name: 'quote', type: 'string', default: "it's" });
  assert.deepEqual(tb.get(1), { id: 1, note: 'n/a', flags: Buffer.from([1, 2]), seen: cairn.timestamp(1500n), quote: "it's" });
  assert.equal(cairn.microseconds(tb.get(1).seen), 1500);
  tb.insert({ id: 2, note: 'x', seen: new Date(3) });
  throwsCode(assert, () => tb.addColumn('note i32'), 'CAIRN_EXISTS');
  throwsCode(assert, () => tb.addColumn('bad i32 not null'), 'CAIRN_CONSTRAINT');
  throwsCode(assert, () => tb.addColumn(5), 'CAIRN_TYPE');
  throwsCode(assert, () => tb.addColumn({ name: 'x', type: 'i32', weird: 1 }), 'CAIRN_INVALID');
  tb.begin();
  throwsCode(assert, () => tb.addColumn('y i32'), 'CAIRN_TXN');
  tb.rollback();
  tb.close();
  const again = reopen(t, dir);
  assert.deepEqual(again.schema().map((c) => c.name), ['id', 'note', 'flags', 'seen', 'quote']);
  assert.equal(again.get(2).seen.getTime(), 3);
});

test('transactions: begin/commit/rollback, transaction(fn), inTxn()', async (t) => {
  const { tb } = openTable(t, { schema: 'n i32' });
  assert.equal(tb.inTxn(), false);
  tb.begin();
  assert.equal(tb.inTxn(), true);
  tb.insert({ n: 1 });
  tb.rollback();
  assert.equal(tb.count(), 0);
  const id = tb.transaction(() => tb.insert({ n: 2 }));
  assert.equal(tb.get(id).n, 2);
  assert.throws(() => tb.transaction(() => {
    tb.insert({ n: 3 });
    throw new Error('no');
  }), /no/);
  assert.equal(tb.count(), 1);
  await tb.transaction(async () => {
    tb.insert({ n: 4 });
  });
  assert.equal(tb.count(), 2);
  throwsCode(assert, () => tb.commit(), 'CAIRN_TXN');
  tb.begin();
  throwsCode(assert, () => tb.begin(), 'CAIRN_TXN');
  throwsCode(assert, () => tb.sync(), 'CAIRN_TXN');
  throwsCode(assert, () => tb.compact(), 'CAIRN_TXN');
  tb.commit();
  assert.equal(tb.stats().inTxn, false);
});

test('events: after the call, after commit, none on rollback; subscribe / unsubscribe', (t) => {
  const { tb } = openTable(t, { schema: 'id i64 primary key, v string' });
  const log = [];
  const onIns = (id, row) => log.push(['inserted', id, row]);
  tb.on('inserted', onIns);
  tb.on('updated', (id, row, old) => log.push(['updated', id, row.v, old.v, tb.get(id).v]));
  tb.on('deleted', (id, old) => log.push(['deleted', id, old.v, tb.get(id)]));
  const changes = [];
  const sub = tb.subscribe((ev, id, row, old) => changes.push([ev, id, row && row.v, old && old.v]));
  assert.equal(typeof sub, 'number');
  const a = tb.insert({ id: 1, v: 'a' });
  tb.update(a, { v: 'b' });
  tb.delete(a);
  assert.deepEqual(log, [['inserted', 1, { id: 1, v: 'a' }], ['updated', 1, 'b', 'a', 'b'], ['deleted', 1, 'b', undefined]]);
  log.length = 0;
  tb.begin();
  tb.insert({ id: 2, v: 'c' });
  assert.deepEqual(log, []); // held until commit
  tb.commit();
  assert.deepEqual(log, [['inserted', 2, { id: 2, v: 'c' }]]);
  tb.begin();
  tb.insert({ id: 3, v: 'd' });
  tb.rollback();
  assert.equal(log.length, 1);
  throwsCode(assert, () => tb.insert({ id: 2, v: 'dup' }), 'CAIRN_CONSTRAINT');
  assert.equal(log.length, 1); // a failed change has no event
  tb.unsubscribe(sub);
  throwsCode(assert, () => tb.unsubscribe(sub), 'CAIRN_NOTFOUND');
  tb.insert({ id: 4, v: 'e' });
  assert.deepEqual(changes, [['inserted', 1, 'a', null], ['updated', 1, 'b', 'a'], ['deleted', 1, null, 'b'], ['inserted', 2, 'c', null]]);
  // A throwing listener does not undo the change; the call rethrows once every listener ran.
  tb.removeAllListeners();
  let other = 0;
  tb.on('inserted', () => {
    throw new Error('listener');
  });
  tb.on('inserted', () => other++);
  assert.throws(() => tb.insert({ id: 5, v: 'f' }), /listener/);
  assert.equal(other, 1);
  assert.equal(tb.count(), 3);
  tb.close();
  throwsCode(assert, () => tb.on('inserted', () => {}), 'CAIRN_CLOSED');
  throwsCode(assert, () => tb.subscribe(() => {}), 'CAIRN_CLOSED');
  throwsCode(assert, () => tb.unsubscribe(1), 'CAIRN_CLOSED');
});

test('open options, read-only, lock, check, stats, compact, closed handles', async (t) => {
  const dir = path.join(tempDir(t), 'tb');
  throwsCode(assert, () => new cairn.Table(dir, { schema: 'n i32', create: false }), 'CAIRN_PATH');
  throwsCode(assert, () => new cairn.Table(dir, { schema: 'n i32', checkpointRows: -1 }), 'CAIRN_INVALID');
  throwsCode(assert, () => new cairn.Table(dir, { schema: 'n i32', checkpointRows: '5' }), 'CAIRN_TYPE');
  throwsCode(assert, () => new cairn.Table(dir, { schema: 'n i32', nope: 1 }), 'CAIRN_INVALID');
  throwsCode(assert, () => new cairn.Table(dir, { schema: 'n nonsense' }), 'CAIRN_INVALID');
  const tb = new cairn.Table(dir, { schema: 'n i32', sync: 'none', checkpointRows: 10, lockTimeoutMs: 0 });
  t.after(() => tb.close());
  throwsCode(assert, () => new cairn.Table(dir), 'CAIRN_LOCKED');
  tb.load({ n: Array.from({ length: 25 }, (_, i) => i) });
  for (let i = 1; i <= 10; i++) tb.delete(i);
  tb.sync();
  const s = tb.stats();
  assert.equal(s.rows, 15);
  assert.equal(s.nextId, 26);
  assert.equal(s.columns, 1);
  assert.equal(s.inTxn, false);
  assert.ok(s.segments >= 1 && s.rowGroups >= 1 && s.diskBytes > 0);
  tb.compact();
  await tb.compactAsync();
  await tb.syncAsync();
  assert.equal(tb.stats().deletedRows, 0);
  assert.deepEqual([...tb.keys()][0], 11);
  const ro = new cairn.Table(dir, { readOnly: true });
  assert.equal(ro.count(), 15);
  throwsCode(assert, () => ro.insert({ n: 1 }), 'CAIRN_READONLY');
  ro.close();
  tb.close();
  assert.equal(cairn.Table.check(dir), undefined);
  await cairn.Table.checkAsync(dir);
  throwsCode(assert, () => cairn.Table.check(path.join(dir, 'missing')), 'CAIRN_PATH');
  const opened = await cairn.openTable(dir);
  assert.equal(opened.count(), 15);
  opened.close();
  await rejectsCode(assert, cairn.Table.open(dir, { schema: 'other i64' }), 'CAIRN_SCHEMA');
  for (const fn of [() => tb.insert({ n: 1 }), () => tb.get(1), () => tb.count(), () => tb.schema(), () => tb.inTxn(),
    () => tb.stats(), () => [...tb], () => tb.addColumn('x i32'), () => tb.load({ n: [1] })]) {
    throwsCode(assert, fn, 'CAIRN_CLOSED');
  }
  tb.close(); // idempotent
});
