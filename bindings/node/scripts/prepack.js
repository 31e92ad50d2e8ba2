'use strict';
// npm prepack/postpack: the package carries the C sources of the Cairn core it builds from (as
// better-sqlite3 carries SQLite's), so that a tarball made by `npm pack` installs in any project,
// away from the repository.
//
//   node scripts/prepack.js          copy <repo>/core (CMakeLists.txt, cairn.pc.in, include/, src/)
//                                    and LICENSE to deps/cairn/ of this package (git-ignored)
//   node scripts/prepack.js --clean  remove deps/ again (postpack), when the repository is here
const fs = require('fs');
const path = require('path');

const pkg = fs.realpathSync(path.join(__dirname, '..'));
const root = path.resolve(pkg, '..', '..');
const deps = path.join(pkg, 'deps');
// A checkout: this package is its bindings/node, and its core is there.
const inRepo = fs.existsSync(path.join(root, 'core', 'include', 'cairn.h')) &&
  fs.existsSync(path.join(root, 'bindings', 'node')) &&
  fs.realpathSync(path.join(root, 'bindings', 'node')) === pkg;

if (process.argv.includes('--clean')) {
  if (inRepo) fs.rmSync(deps, { recursive: true, force: true });
  process.exit(0);
}
if (!inRepo) {
  // Packing an unpacked package again: it already carries its sources.
  if (!fs.existsSync(path.join(deps, 'cairn', 'core', 'include', 'cairn.h'))) {
    console.error(`cairn: cannot pack: no Cairn sources at ${root} nor in ${deps}`);
    process.exit(1);
  }
  process.exit(0);
}
const dest = path.join(deps, 'cairn');
fs.rmSync(deps, { recursive: true, force: true });
const core = path.join(root, 'core');
for (const entry of ['CMakeLists.txt', 'cairn.pc.in', 'include', 'src']) {
  fs.cpSync(path.join(core, entry), path.join(dest, 'core', entry), { recursive: true });
}
fs.copyFileSync(path.join(root, 'LICENSE'), path.join(dest, 'LICENSE'));
console.error(`cairn: packed the C core from ${core} into deps/cairn/core`);
