'use strict';
// Shared helpers of the Node binding's own tests (node --test test/).
const fs = require('fs');
const os = require('os');
const path = require('path');

const cairn = require('..');

// A fresh directory under $CAIRN_TEST_TMP (set by ctest) or the OS temp dir; removed at exit.
function tempDir(t) {
  const base = process.env.CAIRN_TEST_TMP || os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, 'cairn-node-'));
  const rm = () => fs.rmSync(dir, { recursive: true, force: true });
  if (t && typeof t.after === 'function') t.after(rm);
  else process.on('exit', rm);
  return dir;
}

// Assert that fn throws a Cairn error with this code (and that it is an Error with .errno).
function throwsCode(assert, fn, code) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof Error, 'an Error');
    assert.equal(e.code, code, `code (message: ${e.message})`);
    assert.equal(typeof e.errno, 'number');
    assert.ok(e instanceof cairn.CairnError, 'a CairnError');
    return true;
  });
}

async function rejectsCode(assert, p, code) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof Error, 'an Error');
    assert.equal(e.code, code, `code (message: ${e.message})`);
    return true;
  });
}

// A store of class Engine at <fresh dir>/<name>, closed after the test: { store, path }.
function openTemp(t, Engine, name, opts) {
  const p = path.join(tempDir(t), name);
  const store = new Engine(p, opts);
  t.after(() => store.close());
  return { store, path: p };
}

module.exports = { cairn, tempDir, throwsCode, rejectsCode, openTemp, packageDir: path.resolve(__dirname, '..') };
