'use strict';
// index.d.ts declares every public method and accessor of the engine classes (and declares no
// method that is gone), so the types cannot drift from lib/index.js.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { EventEmitter } = require('events');
const { cairn, packageDir } = require('./helpers');

const dts = fs.readFileSync(path.join(packageDir, 'index.d.ts'), 'utf8');

// Public names along the prototype chain, up to Object / EventEmitter.
function publicNames(C) {
  const names = new Set();
  for (let p = C.prototype; p && p !== Object.prototype && p !== EventEmitter.prototype; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) if (n !== 'constructor' && !n.startsWith('_')) names.add(n);
  }
  return [...names];
}

function staticNames(C) {
  const names = new Set();
  for (let c = C; c && c !== Function.prototype && c !== Object && c !== EventEmitter; c = Object.getPrototypeOf(c)) {
    for (const n of Object.getOwnPropertyNames(c)) if (typeof c[n] === 'function') names.add(n);
  }
  return [...names];
}

for (const C of [cairn.KV, cairn.BlobStore, cairn.Table, cairn.Repo]) {
  test(`index.d.ts declares every method of ${C.name}`, () => {
    for (const n of publicNames(C)) {
      assert.match(dts, new RegExp(`^\\s+(readonly )?${n}(<[^>]*>)?[(:?]`, 'm'), `${C.name}.${n}`);
    }
    for (const n of staticNames(C)) assert.match(dts, new RegExp(`^\\s+static ${n}\\(`, 'm'), `static ${C.name}.${n}`);
  });
}

test('index.d.ts names no method that is gone', () => {
  const all = new Set([...publicNames(cairn.KV), ...publicNames(cairn.BlobStore), ...publicNames(cairn.Table), ...publicNames(cairn.Repo), ...Object.getOwnPropertyNames(EventEmitter.prototype)]);
  const bodies = [...dts.matchAll(/^(?:declare abstract|export) class (?:Store|KV|BlobStore|Table|Repo)\b[^{]*\{\n([\s\S]*?)^\}/gm)];
  assert.equal(bodies.length, 5, 'Store, KV, BlobStore, Table, Repo');
  for (const m of bodies.map((b) => b[1]).join('').matchAll(/^ {2}(?!static )(?:readonly )?([a-zA-Z]+)(?:<[^>]*>)?[(:]/gm)) {
    assert.ok(all.has(m[1]), `index.d.ts declares ${m[1]}, which no class has`);
  }
});

test('testing.setClock is exported and declared', () => {
  assert.equal(typeof cairn.testing.setClock, 'function');
  assert.match(dts, /export const testing/);
});
