#!/usr/bin/env bash
# Runs EVERY test of Cairn on a fresh machine: installs what is missing, builds the core, the CLI
# and all four bindings, and runs through ctest: the Check unit tests of the core, each binding's
# own tests, the conformance suite against every binding (C, Python, Lua, Node, .NET) and the
# cross-language matrix; then the core and its C tests again under ASan+UBSan, and the util and
# engine unit tests under valgrind.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$root/scripts/setup.sh"

echo "== build (all bindings) =="
configure_and_build "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_BUILD_TESTS=ON
echo "== sanitizers: ASan + UBSan (core, C tests, C conformance testee) =="
configure_and_build "$build-asan" -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON -DCAIRN_BUILD_TESTS=ON \
  -DCAIRN_BUILD_PYTHON=OFF -DCAIRN_BUILD_LUA=OFF -DCAIRN_BUILD_NODE=OFF -DCAIRN_BUILD_DOTNET=OFF
ctest --test-dir "$build-asan" --output-on-failure -j "$jobs" -LE slow

echo "== all tests =="
ctest --test-dir "$build" --output-on-failure -j "$jobs"
