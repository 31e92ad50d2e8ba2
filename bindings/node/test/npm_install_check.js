'use strict';
// `npm install ./bindings/node` from the root of a Cairn checkout builds the addon offline (no
// header download) and gives a working require('cairn'). Run by ctest as node.npm_install on a
// copy of the sources, so the work tree is left alone.
//
//   node npm_install_check.js <repo root> <scratch dir>
// Exit 0: works; 1: broken; 77: skipped (npm missing or the npm registry unreachable).
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const [root, scratch] = process.argv.slice(2).map((p) => path.resolve(p));
const SKIP = 77;

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
if (spawnSync(npm, ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.log('npm not found: skipped');
  process.exit(SKIP);
}

// A copy of the sources without build trees, installed modules or VCS data.
const repo = path.join(scratch, 'repo');
fs.rmSync(scratch, { recursive: true, force: true });
fs.mkdirSync(scratch, { recursive: true });
const skip = new Set(['node_modules', '.git']);
const keep = (src) => {
  const rel = path.relative(root, src);
  const base = path.basename(src);
  if (skip.has(base)) return false;
  if (!rel.includes(path.sep) && base.startsWith('build')) return false; // /build*/
  if (rel === path.join('bindings', 'node', 'build')) return false;
  return true;
};
// Entry by entry: the scratch directory may itself be inside a build tree of root.
for (const entry of fs.readdirSync(root)) {
  const src = path.join(root, entry);
  if (keep(src)) fs.cpSync(src, path.join(repo, entry), { recursive: true, filter: keep });
}

// No user config of this machine (a fresh one has none).
const userconfig = path.join(scratch, 'npmrc');
fs.writeFileSync(userconfig, '');
const env = Object.assign({}, process.env, { NPM_CONFIG_USERCONFIG: userconfig, CAIRN_NODE_ADDON: '' });
delete env.CAIRN_NODE_ADDON;
const r = spawnSync(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', './bindings/node'],
  { cwd: repo, env, encoding: 'utf8', timeout: 600000 });
const out = (r.stdout || '') + (r.stderr || '');
if (r.status !== 0) {
  if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|network/i.test(out) && !/cairn:/.test(out)) {
    console.log('npm registry unreachable: skipped\n' + out.slice(-2000));
    process.exit(SKIP);
  }
  console.log(out.slice(-6000));
  console.log('npm install ./bindings/node failed');
  process.exit(1);
}
if (/nodejs\.org|node-gyp/i.test(out)) {
  console.log(out);
  console.log('the install tried to fetch headers or run node-gyp');
  process.exit(1);
}

const addon = path.join(repo, 'bindings', 'node', 'build', 'Release', 'cairn.node');
if (!fs.existsSync(addon)) {
  console.log(out.slice(-4000));
  console.log('no addon at ' + addon);
  process.exit(1);
}
const use = spawnSync(process.execPath, ['-e', `
  const cairn = require('cairn');
  const db = new cairn.KV(process.argv[1]);
  db.put('k', { installed: true });
  const v = db.get('k');
  db.close();
  if (!v || v.installed !== true) throw new Error('wrong value ' + JSON.stringify(v));
  console.log('require("cairn") from the npm install works (' + cairn.version + ')');`, path.join(scratch, 'db')],
{ cwd: repo, env, encoding: 'utf8' });
process.stdout.write(use.stdout + use.stderr);
fs.rmSync(scratch, { recursive: true, force: true });
process.exit(use.status === 0 ? 0 : 1);
