'use strict';
// The error classes mirror the core's one error table (core/include/cairn_errors.def) exactly,
// and index.d.ts declares every one of them.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { cairn, packageDir } = require('./helpers');

const DEF = path.join(packageDir, '..', '..', 'core', 'include', 'cairn_errors.def');
const NAMES = {
  ERROR: 'Unspecified', NOTFOUND: 'NotFound', TOOBIG: 'TooBig', IO: 'IO', NOSPC: 'NoSpace',
  NOMEM: 'NoMemory', READONLY: 'ReadOnly', ITEROVER: 'IterOver',
};

function rows() {
  const out = [];
  for (const m of fs.readFileSync(DEF, 'utf8').matchAll(/^X\(\s*(-?\d+),\s*(\w+),\s*"([^"]*)"\)/gm)) {
    if (m[2] !== 'OK') out.push({ errno: Number(m[1]), name: m[2], text: m[3] });
  }
  return out;
}

test('one error class per row of cairn_errors.def, declared in index.d.ts', { skip: !fs.existsSync(DEF) && 'no source tree' }, () => {
  const table = rows();
  assert.ok(table.length >= 24, `parsed ${table.length} rows`);
  const dts = fs.readFileSync(path.join(packageDir, 'index.d.ts'), 'utf8');
  for (const { errno, name, text } of table) {
    const cls = NAMES[name] || name.charAt(0) + name.slice(1).toLowerCase();
    const C = cairn.errors[cls];
    assert.equal(typeof C, 'function', `errors.${cls} for CAIRN_${name}`);
    assert.equal(C.code, `CAIRN_${name}`);
    assert.equal(C.errno, errno);
    const e = new C('msg');
    assert.ok(e instanceof Error && e instanceof cairn.CairnError, cls);
    assert.equal(e.code, `CAIRN_${name}`);
    assert.equal(e.errno, errno);
    assert.deepEqual(cairn.errorInfo(errno), { errno, code: `CAIRN_${name}`, text });
    assert.match(dts, new RegExp(`^\\s+${cls}: (Type)?ErrorClass;$`, 'm'), `index.d.ts declares errors.${cls}`);
  }
  assert.equal(Object.keys(cairn.errors).length, table.length);
});

test('CAIRN_FORKED is errors.Forked', () => {
  assert.equal(cairn.errors.Forked.code, 'CAIRN_FORKED');
  assert.equal(cairn.errors.Forked.errno, -24);
  const e = new cairn.errors.Forked('used after fork');
  assert.ok(e instanceof cairn.CairnError);
  assert.equal(e.name, 'CairnForkedError');
  assert.equal(e.message, 'used after fork');
});
