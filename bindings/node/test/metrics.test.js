'use strict';
// metrics(): the Prometheus text exposition of every engine's statistics (cairn_<engine>_metrics).
const test = require('node:test');
const assert = require('node:assert/strict');
const { cairn, throwsCode, openTemp } = require('./helpers');

// The sample line of family `name`, labelled with this store's path: its value as a string.
function sample(text, name, storePath) {
  const lines = text.split('\n').filter((l) => l.startsWith(`${name}{`));
  assert.equal(lines.length, 1, `one sample of ${name} in:\n${text}`);
  const m = /^([a-z_]+)\{store="((?:[^"\\]|\\.)*)"\} (-?[0-9]+)$/.exec(lines[0]);
  assert.ok(m, `a well-formed sample: ${lines[0]}`);
  assert.equal(m[2], storePath.replace(/\\/g, '\\\\'));
  return m[3];
}

test('KV: HELP/TYPE per family, samples follow the store', (t) => {
  const { store: db, path: p } = openTemp(t, cairn.KV, 'db');
  db.put('a', '1');
  db.put('b', '2');
  const text = db.metrics();
  assert.equal(typeof text, 'string');
  assert.match(text, /^cairn_kv_keys\{store="[^"]*"\} 2$/m);
  assert.match(text, /^# TYPE cairn_kv_keys gauge$/m);
  assert.match(text, /^# HELP cairn_kv_keys .+$/m);
  assert.match(text, /^# TYPE cairn_kv_compactions_total counter$/m);
  assert.ok(text.endsWith('\n'));
  assert.equal(sample(text, 'cairn_kv_keys', p), '2');
  assert.ok(Number(sample(text, 'cairn_kv_disk_bytes', p)) > 0);
  // Every family is a HELP line, a TYPE line and one sample, in that order.
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length % 3, 0);
  for (let i = 0; i < lines.length; i += 3) {
    const name = /^# HELP (cairn_kv_[a-z_]+) /.exec(lines[i])[1];
    assert.match(lines[i + 1], new RegExp(`^# TYPE ${name} (gauge|counter)$`));
    assert.ok(lines[i + 2].startsWith(`${name}{store=`));
  }

  db.delete('a');
  assert.equal(sample(db.metrics(), 'cairn_kv_keys', p), '1');
  db.begin();
  assert.equal(sample(db.metrics(), 'cairn_kv_in_txn', p), '1');
  db.rollback();
  assert.equal(sample(db.metrics(), 'cairn_kv_in_txn', p), '0');
});

test('BlobStore, Table and Repo have metrics() too', (t) => {
  const { store: bs, path: bp } = openTemp(t, cairn.BlobStore, 'blobs');
  bs.create(Buffer.from('one'));
  bs.create(Buffer.from('two'));
  const bt = bs.metrics();
  assert.equal(sample(bt, 'cairn_blob_entries', bp), '2');
  assert.match(bt, /^# TYPE cairn_blob_entries gauge$/m);

  const { store: tb, path: tp } = openTemp(t, cairn.Table, 'table', { schema: 'n i32, s string null' });
  tb.insert({ n: 1, s: 'x' });
  tb.insert({ n: 2 });
  tb.insert({ n: 3 });
  const tt = tb.metrics();
  assert.equal(sample(tt, 'cairn_table_rows', tp), '3');
  assert.equal(sample(tt, 'cairn_table_columns', tp), '2');
  assert.match(tt, /^# TYPE cairn_table_checkpoints_total counter$/m);

  const { store: r, path: rp } = openTemp(t, cairn.Repo, 'repo', { sync: 'none' });
  r.init('acme');
  r.init('beta');
  const rt = r.metrics();
  assert.equal(sample(rt, 'cairn_repo_tenants', rp), '2');
  assert.match(rt, /^# TYPE cairn_repo_objects gauge$/m);
});

test('metrics() of a closed handle is CAIRN_CLOSED', (t) => {
  for (const [Engine, name, opts] of [
    [cairn.KV, 'kv', undefined],
    [cairn.BlobStore, 'blob', undefined],
    [cairn.Table, 'table', { schema: 'n i32' }],
    [cairn.Repo, 'repo', undefined],
  ]) {
    const { store } = openTemp(t, Engine, name, opts);
    store.close();
    throwsCode(assert, () => store.metrics(), 'CAIRN_CLOSED');
  }
});
