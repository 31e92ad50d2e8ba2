#!/usr/bin/env bash
# Cairn's main job, on a fresh machine: installs what is missing, builds the core, the CLI and all
# bindings, then shows the engines at work on a temporary directory: the C quickstart, the `cairn`
# CLI, and the quickstart of each language (Python, Lua, Node.js, .NET).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$root/scripts/setup.sh"
configure_and_build "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_BUILD_TESTS=ON >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo
echo "== the cairn CLI =="
cli="$build/tools/cli/cairn"
set -x
"$cli" kv put "$work/cli" hello world
"$cli" kv put "$work/cli" hi there
"$cli" kv get "$work/cli" hello
"$cli" kv del "$work/cli" hi
"$cli" kv list "$work/cli"
"$cli" kv reclaim "$work/cli"
"$cli" kv check "$work/cli"
"$cli" kv stats "$work/cli"
"$cli" blob create "$work/blobs.db" "first blob"
"$cli" blob create "$work/blobs.db" "second blob"
"$cli" blob update "$work/blobs.db" 1 "first blob, now longer"
"$cli" blob get "$work/blobs.db" 1
"$cli" blob del "$work/blobs.db" 2
"$cli" blob list "$work/blobs.db"
"$cli" blob compact "$work/blobs.db"
"$cli" blob stats "$work/blobs.db"
{ set +x; } 2>/dev/null

echo
echo "== the quickstart of each language (C, Python, Lua, Node.js, .NET) =="
# Each binding registers its quickstart as a ctest test labelled "example"; show their output.
ctest --test-dir "$build" -L example -V 2>&1 | awk '
  /^ *Start +[0-9]+: /                                            { sub(/^ *Start +[0-9]+: /, ""); print "\n-- " $0 " --"; next }
  /^[0-9]+: (Test command|Working Directory|Environment variables|Test timeout)/ { next }
  /^[0-9]+:  [A-Za-z_][A-Za-z_0-9]*=/                              { next }
  /^[0-9]+: /                                                     { sub(/^[0-9]+: /, ""); print; next }
  /Test +#[0-9]+: /                                               { print }
  /tests passed/                                                  { print "\n" $0 }'
test "${PIPESTATUS[0]}" -eq 0
