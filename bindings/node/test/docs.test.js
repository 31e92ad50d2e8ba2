'use strict';
// Runs every ```js example of docs/node.md, each in a fresh directory where require('cairn')
// resolves to this package. An example passes when it exits 0 (the examples assert themselves).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { tempDir, packageDir } = require('./helpers');

const doc = path.resolve(packageDir, '..', '..', 'docs', 'node.md');
const text = fs.readFileSync(doc, 'utf8');
const blocks = [...text.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);

test('docs/node.md has examples', () => {
  assert.ok(blocks.length >= 5, `found ${blocks.length}`);
});

blocks.forEach((src, i) => {
  const firstLine = src.split('\n').find((l) => l.trim() && !l.includes('require(')) || '';
  test(`docs/node.md example ${i + 1}: ${firstLine.trim().slice(0, 50)}`, (t) => {
    const dir = tempDir(t);
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(packageDir, path.join(dir, 'node_modules', 'cairn'), 'dir');
    const file = path.join(dir, `example-${i + 1}.js`);
    fs.writeFileSync(file, src);
    const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, `example ${i + 1} failed:\n${r.stderr}\n--- source ---\n${src}`);
    assert.equal(r.stderr, '');
  });
});
