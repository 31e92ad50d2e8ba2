#!/usr/bin/env node
'use strict';
// Cost of a KV call from Node.js: put and get ops/s of 100-byte values (Buffer and string),
// through the idiomatic API, with sync 'none' (the fsync policy is not what is measured here).
// A JS Map doing the same loop is printed as the in-process ceiling.
//
//   node bench/node_kv.js [--n 200000] [--json]
//   (CAIRN_NODE_ADDON=<build>/bindings/node/cairn.node when the addon is in a CMake build tree)
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
const asJson = argv.includes('--json');

function opsPerSec(n, fn) {
  fn(Math.min(n, 10000)); // warm-up (JIT, page cache)
  const t0 = process.hrtime.bigint();
  fn(n);
  const ns = Number(process.hrtime.bigint() - t0);
  return Math.round(n / (ns / 1e9));
}

const keys = Array.from({ length: N }, (_, i) => 'key' + String(i).padStart(10, '0'));
const bufVal = Buffer.alloc(100, 0x61);
const strVal = 'a'.repeat(100);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-node-'));
const results = {};
try {
  const db = new cairn.KV(path.join(dir, 'kv'), { sync: 'none' });
  results.put_buffer = opsPerSec(N, (n) => { for (let i = 0; i < n; i++) db.put(keys[i], bufVal); });
  results.get_buffer = opsPerSec(N, (n) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += db.get(keys[i]).length;
    if (s === 0) throw new Error('nothing read');
  });
  results.put_string = opsPerSec(N, (n) => { for (let i = 0; i < n; i++) db.put(keys[i], strVal); });
  results.get_string = opsPerSec(N, (n) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += db.get(keys[i]).length;
    if (s === 0) throw new Error('nothing read');
  });
  results.has = opsPerSec(N, (n) => { for (let i = 0; i < n; i++) db.has(keys[i]); });
  db.close();

  const m = new Map();
  results.map_set = opsPerSec(N, (n) => { for (let i = 0; i < n; i++) m.set(keys[i], Buffer.from(bufVal)); });
  results.map_get = opsPerSec(N, (n) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += m.get(keys[i]).length;
    if (s === 0) throw new Error('nothing read');
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

if (asJson) {
  process.stdout.write(JSON.stringify({ binding: 'node', n: N, value_bytes: 100, ops_per_sec: results }) + '\n');
} else {
  console.log(`Cairn KV from Node ${process.version}, ${N} keys, 100-byte values, sync 'none'`);
  for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(12)} ${v.toLocaleString('en-US').padStart(12)} ops/s`);
  console.log(`  put/Map.set ${(results.put_buffer / results.map_set).toFixed(2)}x, get/Map.get ${(results.get_buffer / results.map_get).toFixed(2)}x`);
}
