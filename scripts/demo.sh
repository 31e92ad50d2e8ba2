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

echo "== C quickstart =="
"$build/examples/quickstart" "$work/c"

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
{ set +x; } 2>/dev/null

echo
echo "== each language's quickstart (examples/quickstart.*) =="
ctest --test-dir "$build" -L example -E 'example.c.quickstart' --output-on-failure -V 2>&1 |
  grep -vE '^(UpdateCTestConfiguration|Parse|Test project|Constructing|Checking|Updating|Add file|Test command|Environment variables|  Start|Test timeout|test [0-9]+$)' |
  grep -vE '^ *[A-Z_]+=' || true
