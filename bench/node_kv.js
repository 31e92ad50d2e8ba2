#!/usr/bin/env node
'use strict';
// Cost of a KV call from Node.js: put and get ops/s of 100-byte values.
//
//   node bench/node_kv.js [--n 200000] [--repeat 3] [--json]
//   (CAIRN_NODE_ADDON=<build>/bindings/node/cairn.node when the addon is in a CMake build tree)
//
// Rows:
//   cairn put/get Buffer    the idiomatic API with Buffer values (kind BYTES)
//   cairn put/get string    the idiomatic API with string values (kind TEXT)
//   cairn put/get object    the idiomatic API with a small object (kind JSON: JSON.stringify/parse)
//   cairn exists            the cheapest call: one keydir lookup, no value read
//   raw put/get             the addon called directly (the binding's floor)
//   Map set/get             the ceiling: a JS Map, no storage at all
// Every cairn row uses sync 'none' (no fsync per write: the call cost is what is measured).
// Reported: best of --repeat runs, in ops/s, and each row's ratio to Map.
const fs = require('fs');
const os = require('os');
const path = require('path');

const cairn = require(process.env.CAIRN_NODE_PACKAGE || path.resolve(__dirname, '..', 'bindings', 'node'));

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const N = Number(arg('--n', 200000));
const REPEAT = Number(arg('--repeat', 3));
const asJson = argv.includes('--json');

function opsPerSec(fn) {
  let best = Infinity;
  for (let r = 0; r < REPEAT; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0));
  }
  return Math.round(N / (best / 1e9));
}

const keys = Array.from({ length: N }, (_, i) => 'key' + String(i).padStart(10, '0'));
const bufVal = Buffer.alloc(100, 0x61);
const strVal = 'a'.repeat(100);
const objVal = { id: 123456, name: 'a'.repeat(60), tags: ['x', 'y'], ok: true }; // 100 bytes as JSON

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-node-'));
const rows = [];
try {
  const db = new cairn.KV(path.join(dir, 'kv'), { sync: 'none' });
  const check = (what, ok) => {
    if (!ok) throw new Error('wrong data read back: ' + what);
  };
  // Every key exists before the first timed row, so each put row overwrites the same keys.
  for (let i = 0; i < N; i++) db.put(keys[i], bufVal);
  rows.push(['cairn put Buffer', opsPerSec(() => { for (let i = 0; i < N; i++) db.put(keys[i], bufVal); })]);
  rows.push(['cairn get Buffer', opsPerSec(() => {
    let s = 0;
    for (let i = 0; i < N; i++) s += db.get(keys[i]).length;
    check('Buffer', s === N * 100);
  })]);
  rows.push(['cairn put string', opsPerSec(() => { for (let i = 0; i < N; i++) db.put(keys[i], strVal); })]);
  rows.push(['cairn get string', opsPerSec(() => {
    let s = 0;
    for (let i = 0; i < N; i++) s += db.get(keys[i]).length;
    check('string', s === N * 100);
  })]);
  rows.push(['cairn put object', opsPerSec(() => { for (let i = 0; i < N; i++) db.put(keys[i], objVal); })]);
  rows.push(['cairn get object', opsPerSec(() => {
    let s = 0;
    for (let i = 0; i < N; i++) s += db.get(keys[i]).id;
    check('object', s === N * 123456);
  })]);
  rows.push(['cairn exists', opsPerSec(() => {
    let s = 0;
    for (let i = 0; i < N; i++) s += db.exists(keys[i]) ? 1 : 0;
    check('exists', s === N);
  })]);
  db.close();

  const raw = cairn.native.KVHandle.open(path.join(dir, 'raw'), { sync: cairn.native.SYNC_NONE });
  for (let i = 0; i < N; i++) raw.put(keys[i], bufVal);
  rows.push(['raw put', opsPerSec(() => { for (let i = 0; i < N; i++) raw.put(keys[i], bufVal); })]);
  rows.push(['raw get', opsPerSec(() => {
    let s = 0;
    for (let i = 0; i < N; i++) s += raw.get(keys[i]); // the length, value left in the scratch buffer
    check('raw', s === N * 100);
  })]);
  raw.close();

  const m = new Map();
  rows.push(['Map set', opsPerSec(() => { for (let i = 0; i < N; i++) m.set(keys[i], Buffer.from(bufVal)); })]);
  rows.push(['Map get', opsPerSec(() => {
    let s = 0;
    for (let i = 0; i < N; i++) s += m.get(keys[i]).length;
    check('Map', s === N * 100);
  })]);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

const mapSet = rows.find((r) => r[0] === 'Map set')[1];
const mapGet = rows.find((r) => r[0] === 'Map get')[1];
if (asJson) {
  process.stdout.write(JSON.stringify({ binding: 'node', node: process.version, n: N, value_bytes: 100,
    ops_per_sec: Object.fromEntries(rows) }) + '\n');
} else {
  console.log(`Cairn KV from Node ${process.version}: ${N} keys, 100-byte values, sync 'none', best of ${REPEAT}`);
  console.log('| operation | ops/s | / Map |\n| --- | ---: | ---: |');
  for (const [name, v] of rows) {
    const base = /put|set/.test(name) ? mapSet : mapGet;
    console.log(`| ${name} | ${v.toLocaleString('en-US')} | ${(v / base).toFixed(2)} |`);
  }
}
