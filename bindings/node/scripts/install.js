'use strict';
// npm install script: builds build/Release/cairn.node with CMake from the Cairn source tree this
// package lives in (bindings/node of the repository), offline: the Node-API headers come from
// the npm packages node-addon-api and node-api-headers, never from nodejs.org.
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
if (!fs.existsSync(path.join(root, 'core', 'include', 'cairn.h'))) {
  fail(`the Cairn C sources are not at ${root} (this package builds from a Cairn source checkout)`);
}
const cmake = process.env.CMAKE || 'cmake';
if (!have(cmake)) fail('cmake is needed to build the addon (apt-get install cmake g++)');

const args = ['-S', root, '-B', build];
// The generator is fixed by the first configure of the build directory.
if (!fs.existsSync(path.join(build, 'CMakeCache.txt')) && have('ninja')) args.push('-G', 'Ninja');
args.push(
  // The project's default build type (RelWithDebInfo): the one the core is kept warning-free in.
  '-DCAIRN_BUILD_PYTHON=OFF', '-DCAIRN_BUILD_LUA=OFF', '-DCAIRN_BUILD_DOTNET=OFF',
  '-DCAIRN_BUILD_NODE=ON', '-DCAIRN_BUILD_TESTS=OFF', '-DCAIRN_BUILD_BENCH=OFF',
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
