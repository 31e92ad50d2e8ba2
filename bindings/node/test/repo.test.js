'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { cairn, tempDir, throwsCode, rejectsCode, openTemp } = require('./helpers');

const HEX64 = /^[0-9a-f]{64}$/;

function openRepo(t, opts) {
  const { store: r, path: dir } = openTemp(t, cairn.Repo, 'repo', Object.assign({ sync: 'none' }, opts));
  r.init('acme');
  return { r, dir };
}

test('cacheBytes: no cache (1), the default (0) and a large one give the same answers', (t) => {
  const dir = tempDir(t);
  const answers = [];
  for (const cacheBytes of [1, 0, 2 ** 40]) {
    const r = new cairn.Repo(path.join(dir, 'r'), { sync: 'none', cacheBytes });
    r.init('t');
    const recs = [];
    for (let i = 0; i < 300; i++) recs.push([`k${String(i).padStart(4, '0')}`, `v${i}`]);
    const d1 = r.putMany('t', 'u', 'c', recs);
    const d2 = r.put('t', 'u', 'c', 'k0150', 'changed');
    answers.push(JSON.stringify([r.diff('t', d1, d2), r.diff('t', null, d2), r.get('t', 'c', 'k0150'), r.keys('t', 'c', d1)]));
    r.close();
  }
  assert.equal(answers[1], answers[0]);
  assert.equal(answers[2], answers[0]);
});

test('save / load: values typed as in the KV, every version loadable by digest', (t) => {
  const { r } = openRepo(t);
  assert.equal(Object.prototype.toString.call(r), '[object cairn.Repo]');
  const d1 = r.save('acme', 'ann', 'doc', 'text');
  const d2 = r.save('acme', 'ann', 'doc', Buffer.from([0, 255]));
  const d3 = r.save('acme', 'bob', 'doc', { a: [1, 2], b: null });
  const d4 = r.save('acme', 'bob', 'doc', 'not json', { kind: 'json' });
  for (const d of [d1, d2, d3, d4]) assert.match(d, HEX64);
  assert.equal(new Set([d1, d2, d3, d4]).size, 4);
  assert.equal(r.load('acme', 'doc', d1), 'text');
  assert.deepEqual(r.load('acme', 'doc', d2), Buffer.from([0, 255]));
  assert.deepEqual(r.load('acme', 'doc', d3), { a: [1, 2], b: null });
  assert.equal(r.load('acme', 'doc'), 'not json');
  assert.deepEqual(r.loadTyped('acme', 'doc'), { value: 'not json', kind: 'json' });
  assert.deepEqual(r.loadTyped('acme', 'doc', d2), { value: Buffer.from([0, 255]), kind: 'bytes' });
  assert.equal(r.digest('acme', 'doc'), d4);
  assert.equal(r.exists('acme', 'doc'), true);
  // Absent: undefined (the missing value), never an error.
  assert.equal(r.load('acme', 'nothing'), undefined);
  assert.equal(r.load('nobody', 'doc'), undefined);
  assert.equal(r.load('acme', 'doc', '0'.repeat(64)), undefined);
  assert.equal(r.digest('acme', 'nothing'), undefined);
  assert.equal(r.exists('acme', 'nothing'), false);
  // A large value (past the addon's scratch buffer) and an empty one.
  const big = Buffer.alloc(200000, 3);
  r.save('acme', 'ann', 'big', big);
  assert.ok(r.load('acme', 'big').equals(big));
  r.save('acme', 'ann', 'empty', Buffer.alloc(0));
  assert.equal(r.load('acme', 'empty').length, 0);
  assert.deepEqual(r.entries('acme'), ['big', 'doc', 'empty']);
});

test('collections: put / putMany (Map, pairs, object) / get / delete / count / keys / records', (t) => {
  const { r } = openRepo(t);
  const d0 = r.putMany('acme', 'u', 'c', new Map([['a', '1'], ['b', Buffer.from([1])]]));
  const d1 = r.putMany('acme', 'u', 'c', [['c', { n: 3 }], [Buffer.from([0xff, 0]), 'binary key']]);
  const d2 = r.putMany('acme', 'u', 'c', { d: 'four', a: 'one' });
  const d3 = r.put('acme', 'u', 'c', 'e', [5]);
  assert.equal(r.count('acme', 'c'), 6);
  assert.equal(r.count('acme', 'c', d0), 2);
  assert.deepEqual(r.keys('acme', 'c'), ['a', 'b', 'c', 'd', 'e', Buffer.from([0xff, 0])]);
  assert.equal(r.get('acme', 'c', 'a'), 'one');
  assert.equal(r.get('acme', 'c', 'a', d1), '1');
  assert.deepEqual(r.get('acme', 'c', 'c'), { n: 3 });
  assert.deepEqual(r.getTyped('acme', 'c', 'b'), { value: Buffer.from([1]), kind: 'bytes' });
  assert.equal(r.get('acme', 'c', 'zz'), undefined);
  assert.deepEqual([...r.records('acme', 'c', d2)].map(([k]) => k), ['a', 'b', 'c', 'd', Buffer.from([0xff, 0])]);
  const recs = [...r.records('acme', 'c')];
  assert.deepEqual(recs[2], ['c', { n: 3 }]);
  assert.deepEqual(recs[4], ['e', [5]]);
  assert.deepEqual([...r.recordsTyped('acme', 'c')][1], { key: 'b', value: Buffer.from([1]), kind: 'bytes' });
  const d4 = r.delete('acme', 'u', 'c', 'e');
  assert.match(d4, HEX64);
  assert.equal(r.digest('acme', 'c'), d4);
  assert.notEqual(d4, d3);
  throwsCode(assert, () => r.delete('acme', 'u', 'c', 'e'), 'CAIRN_NOTFOUND');
  // A value entry and a collection do not mix.
  r.save('acme', 'u', 'v', 'whole');
  throwsCode(assert, () => r.put('acme', 'u', 'v', 'k', 'x'), 'CAIRN_TYPE');
  throwsCode(assert, () => r.save('acme', 'u', 'c', 'x'), 'CAIRN_TYPE');
  throwsCode(assert, () => r.load('acme', 'c'), 'CAIRN_TYPE');
  // Same records in any order: the same tree, so diff finds nothing.
  const a = r.putMany('acme', 'u', 'x1', [['k1', '1'], ['k2', '2'], ['k3', '3']]);
  r.put('acme', 'u', 'x2', 'k3', '3');
  r.put('acme', 'u', 'x2', 'k1', '1');
  const b = r.put('acme', 'u', 'x2', 'k2', '2');
  assert.deepEqual(r.diff('acme', a, b), { added: [], removed: [], changed: [] });
});

test('many records: the cursor walks in batches', (t) => {
  const { r } = openRepo(t);
  const m = new Map();
  for (let i = 0; i < 1000; i++) m.set(`k${String(i).padStart(4, '0')}`, `v${i}`);
  r.putMany('acme', 'u', 'big', m);
  let n = 0;
  for (const [k, v] of r.records('acme', 'big')) {
    assert.equal(k, `k${String(n).padStart(4, '0')}`);
    assert.equal(v, `v${n}`);
    n++;
  }
  assert.equal(n, 1000);
  // A cursor abandoned early is freed; close with one open is fine.
  const it = r.records('acme', 'big');
  it.next();
  const it2 = r.records('acme', 'big');
  it2.next();
  it.return();
  r.close();
  // The records already fetched in its batch still come; the next batch is CAIRN_CLOSED.
  throwsCode(assert, () => {
    for (const _ of it2); // eslint-disable-line no-unused-vars
  }, 'CAIRN_CLOSED');
});

test('diff, history, tags', (t) => {
  const { r } = openRepo(t);
  const d1 = r.putMany('acme', 'ann', 'c', { a: '1', b: '2', c: '3' });
  const d2 = r.putMany('acme', 'bob', 'c', { b: 'two', d: '4' });
  const d3 = r.delete('acme', 'bob', 'c', 'a');
  assert.deepEqual(r.diff('acme', d1, d3), { added: ['d'], removed: ['a'], changed: ['b'] });
  assert.deepEqual(r.diff('acme', d3, d1), { added: ['a'], removed: ['d'], changed: ['b'] });
  assert.deepEqual(r.diff('acme', null, d1), { added: ['a', 'b', 'c'], removed: [], changed: [] });
  assert.deepEqual(r.diff('acme', d1, undefined), { added: [], removed: ['a', 'b', 'c'], changed: [] });
  throwsCode(assert, () => r.diff('acme', 'f'.repeat(64), d1), 'CAIRN_NOTFOUND');
  throwsCode(assert, () => r.diff('acme', 'nothex', d1), 'CAIRN_INVALID');
  const h = r.history('acme', 'c');
  assert.deepEqual(h.map((v) => v.digest), [d3, d2, d1]);
  assert.deepEqual(h.map((v) => v.user), ['bob', 'bob', 'ann']);
  assert.deepEqual(h[0].parents, [d2]);
  assert.deepEqual(h[2].parents, []);
  assert.ok(h.every((v) => v.time instanceof Date && v.collection === true));
  assert.deepEqual(r.history('acme', 'c', 1).map((v) => v.digest), [d3]);
  assert.deepEqual(r.history('acme', 'never'), []);
  throwsCode(assert, () => r.history('nobody', 'c'), 'CAIRN_NOTFOUND');
  assert.equal(r.tag('acme', 'v1', d1), r);
  assert.equal(r.tagGet('acme', 'v1'), d1);
  assert.equal(r.tagGet('acme', 'v2'), undefined);
  throwsCode(assert, () => r.tag('acme', 'v2', 'e'.repeat(64)), 'CAIRN_NOTFOUND');
});

test('the test clock makes digests reproducible', (t) => {
  t.after(() => cairn.testing.setClock(null));
  const digests = [];
  for (const name of ['r1', 'r2']) {
    cairn.testing.setClock(new Date('2030-01-02T03:04:05Z'));
    const r = new cairn.Repo(path.join(tempDir(t), name), { sync: 'none' });
    r.init('acme');
    digests.push([r.save('acme', 'u', 'e', 'v'), r.put('acme', 'u', 'c', 'k', 'v')]);
    assert.equal(r.history('acme', 'e')[0].time.getTime(), Date.parse('2030-01-02T03:04:05Z'));
    r.close();
  }
  assert.deepEqual(digests[0], digests[1]);
});

test('tenants, stats, gc, verify, reopen, read-only beside the writer', async (t) => {
  const { r, dir } = openRepo(t);
  r.init('beta').init('acme');
  assert.deepEqual(r.tenants(), ['acme', 'beta']);
  throwsCode(assert, () => r.entries('nobody'), 'CAIRN_NOTFOUND');
  throwsCode(assert, () => r.save('nobody', 'u', 'e', 'v'), 'CAIRN_NOTFOUND');
  r.save('acme', 'u', 'e', 'same');
  const s1 = r.stats();
  r.save('acme', 'u', 'e', 'same');
  const s2 = r.stats();
  assert.equal(s2.tenants, 2);
  assert.equal(s2.objects, s1.objects + 1); // the value is stored once; the version is new
  assert.ok(s2.diskBytes > 0);
  assert.equal(r.gc(), 0);
  assert.equal(await r.gcAsync(0), 0);
  cairn.Repo.verify(dir);
  await cairn.Repo.verifyAsync(dir);
  throwsCode(assert, () => cairn.Repo.verify(path.join(dir, 'missing')), 'CAIRN_PATH');
  throwsCode(assert, () => new cairn.Repo(dir), 'CAIRN_LOCKED');
  const ro = new cairn.Repo(dir, { readOnly: true });
  assert.equal(ro.load('acme', 'e'), 'same');
  throwsCode(assert, () => ro.save('acme', 'u', 'e', 'x'), 'CAIRN_READONLY');
  r.save('acme', 'u', 'e', 'newer');
  assert.equal(ro.load('acme', 'e'), 'newer');
  ro.close();
  r.close();
  const again = await cairn.openRepo(dir);
  assert.equal(again.load('acme', 'e'), 'newer');
  assert.equal(again.history('acme', 'e').length, 3);
  again.close();
  await rejectsCode(assert, cairn.Repo.open(path.join(dir, 'nope'), { create: false }), 'CAIRN_PATH');
});

test('errors: closed handle, wrong host types, bad names and digests', (t) => {
  const { r } = openRepo(t);
  throwsCode(assert, () => r.save('acme', 'u', 'e', Symbol('x')), 'CAIRN_TYPE');
  throwsCode(assert, () => r.save('acme', 'u', 'e', new Date()), 'CAIRN_TYPE');
  throwsCode(assert, () => r.save('acme', 'u', 'e', NaN), 'CAIRN_TYPE');
  throwsCode(assert, () => r.save(42, 'u', 'e', 'v'), 'CAIRN_TYPE');
  throwsCode(assert, () => r.save('acme', null, 'e', 'v'), 'CAIRN_TYPE');
  throwsCode(assert, () => r.put('acme', 'u', 'c', 1, 'v'), 'CAIRN_TYPE');
  throwsCode(assert, () => r.putMany('acme', 'u', 'c', 5), 'CAIRN_TYPE');
  throwsCode(assert, () => r.putMany('acme', 'u', 'c', [['a']]), 'CAIRN_TYPE');
  throwsCode(assert, () => r.putMany('acme', 'u', 'c', [['a', Symbol('v')]]), 'CAIRN_TYPE');
  throwsCode(assert, () => r.load('acme', 'e', 7), 'CAIRN_TYPE');
  throwsCode(assert, () => r.save('acme', 'u', 'e', 'v', { kind: 'text', ttl: 1 }), 'CAIRN_INVALID');
  throwsCode(assert, () => r.save('acme', 'u', 'bad\0name', 'v'), 'CAIRN_INVALID');
  throwsCode(assert, () => r.save('acme', 'u', '', 'v'), 'CAIRN_INVALID');
  throwsCode(assert, () => r.put('acme', 'u', 'c', '', 'v'), 'CAIRN_INVALID');
  throwsCode(assert, () => r.load('acme', 'e', 'ABC'), 'CAIRN_INVALID');
  throwsCode(assert, () => r.history('acme', 'e', -1), 'CAIRN_INVALID');
  throwsCode(assert, () => new cairn.Repo(path.join(tempDir(t), 'x'), { create: 1 }), 'CAIRN_TYPE');
  throwsCode(assert, () => new cairn.Repo(path.join(tempDir(t), 'x'), { maxFileSize: 1 }), 'CAIRN_INVALID');
  throwsCode(assert, () => new cairn.Repo(path.join(tempDir(t), 'x'), { cacheBytes: -1 }), 'CAIRN_INVALID');
  throwsCode(assert, () => new cairn.Repo(path.join(tempDir(t), 'x'), { cacheBytes: 1.5 }), 'CAIRN_INVALID');
  throwsCode(assert, () => new cairn.Repo(path.join(tempDir(t), 'x'), { cacheBytes: '64' }), 'CAIRN_TYPE');
  assert.equal(r.exists('acme', 'c'), false); // nothing refused was written
  r.close();
  r.close();
  assert.equal(r.closed, true);
  for (const fn of [() => r.load('acme', 'e'), () => r.save('acme', 'u', 'e', 'v'), () => r.tenants(),
    () => r.keys('acme', 'c'), () => r.stats(), () => r.gc(), () => [...r.records('acme', 'c')]]) {
    throwsCode(assert, fn, 'CAIRN_CLOSED');
  }
});
