#!/usr/bin/env bash
# Runs EVERY test of Cairn on a fresh machine: installs what is missing, builds the core, the CLI
# and all four bindings, and runs through ctest: the Check unit tests of the core, each binding's
# own tests, the conformance suite against every binding (C, Python, Lua, Node, .NET) and the
# cross-language matrix, with the unit suites and the C testee under valgrind; and all of it
# again built with ASan+UBSan (first, so that the last summary is the main run's).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$root/scripts/setup.sh"

echo "== build (all bindings) =="
configure_and_build "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_BUILD_TESTS=ON
echo "== sanitizers: ASan + UBSan (the core, its C tests, and every binding and testee over it) =="
configure_and_build "$build-asan" -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON -DCAIRN_BUILD_TESTS=ON
ctest --test-dir "$build-asan" --output-on-failure -j "$jobs"

echo "== all tests =="
ctest --test-dir "$build" --output-on-failure -j "$jobs"
