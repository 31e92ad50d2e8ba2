'use strict';
// GC finalizer backstop: a handle dropped without close() is closed when collected, so its
// writer lock is released. Runs in a child with --expose-gc.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { spawnSync } = require('child_process');
const { tempDir, packageDir } = require('./helpers');

const script = `
const cairn = require(${JSON.stringify(packageDir)});
const dir = process.argv[1];
async function collect() {
  for (let i = 0; i < 10; i++) {
    global.gc();
    await new Promise((r) => setImmediate(r));
  }
}
const open = (kind) => kind === 'kv' ? new cairn.KV(dir + '/kv')
  : kind === 'blob' ? new cairn.BlobStore(dir + '/blob')
  : kind === 'repo' ? new cairn.Repo(dir + '/repo', { sync: 'none' }) : new cairn.Table(dir + '/table', { schema: 'n i32' });
function openAndDrop(kind) {
  // In a function so no reference survives on the stack.
  if (kind === 'kv') { const db = open(kind); db.put('k', 'v'); }
  else if (kind === 'blob') { const st = open(kind); st.create('x'); }
  else if (kind === 'repo') {
    // A repository dropped with a cursor still open (the finalizer frees the cursor first).
    const r = open(kind);
    r.init('t');
    r.putMany('t', 'u', 'c', { a: '1', b: '2' });
    r.records('t', 'c').next();
  } else {
    // A table dropped with a listener and a cursor still open (the finalizer frees the cursor first).
    const tb = open(kind);
    tb.on('inserted', () => {});
    tb.insert({ n: 1 });
    tb.insert({ n: 2 });
    tb.entries().next();
  }
}
(async () => {
  const out = {};
  for (const kind of ['kv', 'blob', 'table', 'repo']) {
    openAndDrop(kind);
    // Still open and unreachable: the lock is held until the finalizer runs.
    let before = 'open';
    try { const h = open(kind); h.close(); }
    catch (e) { before = e.code; }
    await collect();
    let after = 'open';
    try {
      const h = open(kind);
      after += ':' + (kind === 'kv' ? h.get('k') : kind === 'repo' ? h.count('t', 'c') : h.count());
      h.close();
    } catch (e) { after = e.code; }
    out[kind] = { before, after };
  }
  process.stdout.write(JSON.stringify(out));
})();
`;

test('an unreachable handle is closed by its finalizer', (t) => {
  const dir = tempDir(t);
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script, dir], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.kv, { before: 'CAIRN_LOCKED', after: 'open:v' });
  assert.deepEqual(out.blob, { before: 'CAIRN_LOCKED', after: 'open:1' });
  assert.deepEqual(out.table, { before: 'CAIRN_LOCKED', after: 'open:2' });
  assert.deepEqual(out.repo, { before: 'CAIRN_LOCKED', after: 'open:2' });
});

test('many handles created and dropped do not leak file descriptors', (t) => {
  const dir = tempDir(t);
  const src = `
    const fs = require('fs');
    const cairn = require(${JSON.stringify(packageDir)});
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    (async () => {
      const start = fds();
      for (let i = 0; i < 300; i++) { const db = new cairn.KV(process.argv[1] + '/db' + (i % 3) + '-' + i); db.put('k', i); }
      for (let i = 0; i < 20; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
      process.stdout.write(JSON.stringify({ start, end: fds() }));
    })();`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', src, dir], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  const { start, end } = JSON.parse(r.stdout);
  assert.ok(end - start < 20, `fds grew from ${start} to ${end}`);
});
