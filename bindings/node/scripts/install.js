'use strict';
// npm install script: builds build/Release/cairn.node with CMake, offline: the Node-API headers
// come from the npm packages node-addon-api and node-api-headers, never from nodejs.org.
//
// The C core it compiles in: the Cairn repository this package lives in (bindings/node of a
// checkout), else the copy a packed tarball carries in deps/cairn (scripts/prepack.js).
// CMake configures scripts/standalone/CMakeLists.txt (the core and the addon, nothing else).
//
// CAIRN_NODE_SKIP_BUILD=1 skips the build (e.g. when CAIRN_NODE_ADDON points at a built addon).
// CMAKE overrides the cmake executable.
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const pkg = fs.realpathSync(path.join(__dirname, '..'));
const root = path.resolve(pkg, '..', '..');
const out = path.join(pkg, 'build', 'Release');
const build = path.join(pkg, 'build', 'cmake');

function fail(msg) {
  console.error('cairn: ' + msg);
  process.exit(1);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.error) fail(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed with status ${r.status}`);
}

function have(cmd) {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

if (process.env.CAIRN_NODE_SKIP_BUILD) process.exit(0);
const vendored = path.join(pkg, 'deps', 'cairn');
let sources = null;
// A checkout: this package is bindings/node of it (not merely any project with a core/ directory).
const inCheckout = fs.existsSync(path.join(root, 'bindings', 'node')) &&
  fs.realpathSync(path.join(root, 'bindings', 'node')) === pkg;
for (const cand of inCheckout ? [root, vendored] : [vendored]) {
  if (fs.existsSync(path.join(cand, 'core', 'include', 'cairn.h'))) { sources = cand; break; }
}
if (!sources) {
  fail(`the Cairn C sources are neither at ${root} (a checkout) nor at ${vendored} (a packed tarball)`);
}
const version = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')).version;
console.log(`cairn: building the addon from the C core in ${sources}`);
const cmake = process.env.CMAKE || 'cmake';
if (!have(cmake)) fail('cmake is needed to build the addon (apt-get install cmake g++)');

const srcDir = path.join(pkg, 'scripts', 'standalone');
// A build directory configured from another source directory (an older layout) cannot be reused.
const cache = path.join(build, 'CMakeCache.txt');
if (fs.existsSync(cache)) {
  const home = /^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$/m.exec(fs.readFileSync(cache, 'utf8'));
  if (!home || path.resolve(home[1]) !== srcDir) fs.rmSync(build, { recursive: true, force: true });
}
const args = ['-S', srcDir, '-B', build];
// The generator is fixed by the first configure of the build directory.
if (!fs.existsSync(path.join(build, 'CMakeCache.txt')) && have('ninja')) args.push('-G', 'Ninja');
args.push(
  // The project's default build type (RelWithDebInfo): the one the core is kept warning-free in.
  `-DCAIRN_SOURCE_DIR=${sources}`, `-DCAIRN_VERSION=${version}`,
  `-DCAIRN_NODE_EXECUTABLE=${process.execPath}`,
  `-DCAIRN_NODE_OUTPUT_DIR=${out}`);
run(cmake, args);
run(cmake, ['--build', build, '--target', 'cairn_node', '--parallel', String(Math.max(1, os.cpus().length))]);

const addon = path.join(out, 'cairn.node');
if (!fs.existsSync(addon)) fail(`the build did not produce ${addon}`);
// Load it once here, so a broken build fails the install rather than the first require().
const check = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(pkg, 'lib', 'index.js'))})`],
  { stdio: 'inherit', env: Object.assign({}, process.env, { CAIRN_NODE_ADDON: '' }) });
if (check.status !== 0) fail('the built addon does not load');
console.log('cairn: built ' + addon);
