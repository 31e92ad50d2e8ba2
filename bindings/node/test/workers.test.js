'use strict';
// The addon is context-aware: it loads in any number of worker_threads at once, each with its own
// per-environment state, and handles opened in a worker work and close there.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { Worker } = require('worker_threads');
const { cairn, tempDir, packageDir } = require('./helpers');

// Runs `body` (a function source taking (cairn, data)) in a worker; resolves with its result.
function inWorker(body, data) {
  const src = `
    const { parentPort, workerData } = require('worker_threads');
    const cairn = require(${JSON.stringify(packageDir)});
    Promise.resolve((${body})(cairn, workerData)).then(
      (r) => parentPort.postMessage({ ok: r }),
      (e) => parentPort.postMessage({ error: { code: e.code, message: e.message, stack: e.stack } }));`;
  return new Promise((resolve, reject) => {
    const w = new Worker(src, { eval: true, workerData: data });
    let answer;
    w.on('message', (m) => { answer = m; });
    w.on('error', reject);
    w.on('exit', (code) => {
      if (code !== 0) return reject(new Error('worker exited with ' + code));
      if (!answer) return reject(new Error('worker sent nothing'));
      if (answer.error) {
        const e = new Error(answer.error.message);
        e.code = answer.error.code;
        return reject(e);
      }
      return resolve(answer.ok);
    });
  });
}

test('open, write and read in a worker; the main thread reads it after', async (t) => {
  const dir = path.join(tempDir(t), 'db');
  const n = await inWorker(`(cairn, d) => {
    const db = new cairn.KV(d.dir);
    for (let i = 0; i < 100; i++) db.put('k' + i, { i });
    const n = db.count();
    db.close();
    return n;
  }`, { dir });
  assert.equal(n, 100);
  const db = new cairn.KV(dir);
  assert.deepEqual(db.get('k42'), { i: 42 });
  db.close();
});

test('several workers at once, each with its own store, Promises inside workers', async (t) => {
  const base = tempDir(t);
  const results = await Promise.all(Array.from({ length: 4 }, (_, w) => inWorker(`async (cairn, d) => {
    const db = await cairn.open(d.dir, { sync: 'none' });
    for (let i = 0; i < 500; i++) db.put('w' + d.w + ':' + i, Buffer.alloc(100, d.w));
    await db.syncAsync();
    const st = new cairn.BlobStore(d.dir + '.blob');
    let events = 0;
    st.on('created', () => events++);
    st.create(Buffer.from('from worker ' + d.w));
    st.close();
    const r = { count: db.count(), first: db.get('w' + d.w + ':0')[0], events };
    db.close();
    return r;
  }`, { dir: path.join(base, 'db' + w), w })));
  results.forEach((r, w) => assert.deepEqual(r, { count: 500, first: w, events: 1 }));
});

test('errors from a worker are typed there too; a store locked by main is refused', async (t) => {
  const dir = path.join(tempDir(t), 'db');
  const db = new cairn.KV(dir);
  t.after(() => db.close());
  const r = await inWorker(`(cairn, d) => {
    const out = {};
    try { new cairn.KV(d.dir); } catch (e) { out.locked = [e.code, e instanceof cairn.errors.Locked, e instanceof cairn.CairnError]; }
    try { new cairn.KV(5); } catch (e) { out.type = [e.code, e instanceof TypeError]; }
    return out;
  }`, { dir });
  assert.deepEqual(r, { locked: ['CAIRN_LOCKED', true, true], type: ['CAIRN_TYPE', true] });
});

test('a worker that exits without closing does not crash the process', async (t) => {
  const dir = path.join(tempDir(t), 'db');
  await inWorker(`(cairn, d) => {
    const db = new cairn.KV(d.dir);
    db.put('k', 'v');
    const st = new cairn.BlobStore(d.dir + '.blob');
    st.create('x');
    return null; // no close: environment teardown runs the finalizers
  }`, { dir });
  // The finalizers closed both handles, so the locks are free.
  const db = new cairn.KV(dir);
  assert.equal(db.get('k'), 'v');
  db.close();
  const st = new cairn.BlobStore(dir + '.blob');
  assert.equal(st.count(), 1);
  st.close();
});

test('a table in a worker: rows, events, a cursor left open when the worker exits', async (t) => {
  const dir = path.join(tempDir(t), 'tb');
  const r = await inWorker(`(cairn, d) => {
    const tb = new cairn.Table(d.dir, { schema: 'id i64 primary key, big u64, at timestamp' });
    let events = 0;
    tb.on('inserted', () => events++);
    tb.insertMany([{ id: 1, big: 2n ** 64n - 1n, at: cairn.timestamp(1500n) }, { id: 2 }]);
    tb.entries().next(); // a cursor still open at teardown
    const row = tb.get(1);
    return { events, big: String(row.big), us: cairn.microseconds(row.at) };
  }`, { dir });
  assert.deepEqual(r, { events: 2, big: '18446744073709551615', us: 1500 });
  const tb = new cairn.Table(dir); // the finalizer closed the worker's handle
  assert.equal(tb.count(), 2);
  tb.close();
});

test('a repository and a KV snapshot in a worker', async (t) => {
  const dir = path.join(tempDir(t), 'w');
  const r = await inWorker(`(cairn, d) => {
    const repo = new cairn.Repo(d.dir + '.repo', { sync: 'none' });
    repo.init('t');
    const digest = repo.save('t', 'u', 'e', { n: 1 });
    repo.records('t', 'e'); // an unstarted generator holds no cursor
    const db = new cairn.KV(d.dir);
    db.put('k', 'v');
    const name = db.snapshot();
    const snap = db.openSnapshot(name); // left open when the worker exits
    return { digest, value: repo.load('t', 'e'), snap: snap.get('k'), n: db.snapshots().length };
  }`, { dir });
  assert.match(r.digest, /^[0-9a-f]{64}$/);
  assert.deepEqual(r.value, { n: 1 });
  assert.equal(r.snap, 'v');
  assert.equal(r.n, 1);
  const repo = new cairn.Repo(dir + '.repo');
  assert.equal(repo.digest('t', 'e'), r.digest);
  repo.close();
  const db = new cairn.KV(dir);
  assert.equal(db.snapshots().length, 1);
  db.close();
});
