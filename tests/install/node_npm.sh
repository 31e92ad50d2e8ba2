#!/usr/bin/env bash
# What a Node.js user does (docs/node.md, "Install"): `npm pack` the binding of a checkout, then, in
# a fresh project of their own and with the checkout gone, `npm install` the tarball (its install
# script builds the addon from the C sources the tarball carries) and run the guide's first example.
# The checkout packed is a copy (core/, LICENSE, bindings/node), so the work tree is left alone.
# Usage: node_npm.sh SOURCE_DIR NODE NPM
set -euo pipefail
src=$1 node=$2 npm=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for tool in "$node" "$npm" cmake c++; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (scripts/setup.sh installs what the Node.js install needs)"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset CAIRN_NODE_ADDON CAIRN_NODE_SKIP_BUILD
# No npm configuration of this machine (a fresh one has none); npm's cache is still used.
: > "$tmp/npmrc"
export NPM_CONFIG_USERCONFIG=$tmp/npmrc NPM_CONFIG_AUDIT=false NPM_CONFIG_FUND=false NPM_CONFIG_UPDATE_NOTIFIER=false

mkdir -p "$tmp/cairn/bindings"
cp -r "$src/core" "$src/LICENSE" "$tmp/cairn/"
(cd "$src/bindings" && tar cf - --exclude=node_modules --exclude=./node/build --exclude=./node/deps node) |
  (cd "$tmp/cairn/bindings" && tar xf -)

mkdir "$tmp/myapp"
cd "$tmp/myapp"
"$npm" init -y >/dev/null
"$npm" pack "$tmp/cairn/bindings/node"      # the guide: npm pack path/to/cairn/bindings/node
tgz=$(ls cairn-*.tgz)
tar tzf "$tgz" > "$tmp/listing"
grep -qx 'package/deps/cairn/core/include/cairn.h' "$tmp/listing" || { echo "FAIL: $tgz lacks the C core"; exit 1; }
rm -rf "$tmp/cairn"                          # the tarball alone must do
"$npm" install --prefer-offline "./$tgz" 2>&1 | tee "$tmp/install.log"
test "${PIPESTATUS[0]}" -eq 0
if grep -qiE 'nodejs\.org|node-gyp' "$tmp/install.log"; then
  echo "FAIL: the install tried to fetch headers or ran node-gyp"; exit 1
fi
test -f node_modules/cairn/build/Release/cairn.node || { echo "FAIL: no addon was built"; exit 1; }

"$here/first_example.sh" "$src/docs/node.md" js > first.js
"$node" first.js | tee "$tmp/out"
grep -qx "hello" "$tmp/out" && grep -qx "true 3" "$tmp/out" || { echo "FAIL: unexpected output of the first example"; exit 1; }
echo "installed npm package: the packed tarball installed in a fresh project, the guide's first example ran"
