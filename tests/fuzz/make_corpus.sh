#!/usr/bin/env bash
# Regenerates the seed corpus (tests/fuzz/corpus/<target>/) from real stores: builds
# fuzz_seedgen in a temporary build directory and runs it. Run after a format change; commit
# the result. Usage: bash tests/fuzz/make_corpus.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
b=$(mktemp -d)
trap 'rm -rf "$b"' EXIT
cmake -S "$root" -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAIRN_BUILD_PYTHON=OFF -DCAIRN_BUILD_LUA=OFF \
  -DCAIRN_BUILD_NODE=OFF -DCAIRN_BUILD_DOTNET=OFF >/dev/null
cmake --build "$b" --target fuzz_seedgen >/dev/null
# json_merge seeds are hand-written (not made by seedgen): keep them
mkdir -p "$here/corpus"
find "$here/corpus" -mindepth 1 -maxdepth 1 ! -name json_merge -exec rm -rf {} +
"$b/tests/fuzz/fuzz_seedgen" "$here/corpus"
