#!/usr/bin/env bash
# Cairn's main job, on a fresh machine: installs what is missing, builds the core, the CLI and all
# bindings, then shows the engines at work in a scratch directory: the `cairn` CLI, and the
# quickstart of each language (C, Python, Lua, Node.js, .NET). Says what it is doing at each step;
# the build's own output goes to a log that is shown only if the build fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
step() { echo "demo: $*"; }

step "checking the packages the build needs (scripts/setup.sh installs what is missing)"
bash "$root/scripts/setup.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log=$work/build.log
failed() { echo "demo: $1 failed; the last lines of its log:"; tail -n 40 "$log"; exit 1; }

step "configuring the build in $build (CMake)"
configure "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_BUILD_TESTS=ON >"$log" 2>&1 || failed "configuring"
# What CMake found: one line per binding.
grep -E '(Python|Lua|Node\.js|\.NET) binding' "$log" | sed -E 's/^-- (cairn: )?/demo:   /' || true
if grep -q 'CAIRN_BUILD_DOTNET:BOOL=ON' "$build/CMakeCache.txt" && command -v dotnet >/dev/null 2>&1; then
  echo "demo:   .NET binding: ON (dotnet $(dotnet --version))"
fi
step "building the core, the CLI and the bindings ($jobs jobs; a minute or two the first time, seconds after)"
cmake --build "$build" -j "$jobs" >>"$log" 2>&1 || failed "the build"
step "built"

echo
echo "== the cairn CLI =="
# As a user types it: in a scratch directory, with the CLI on PATH.
step "in a scratch directory, with $build/tools/cli on PATH:"
export PATH="$build/tools/cli:$PATH"
mkdir "$work/demo"
cd "$work/demo"
cli() { # prints the command as typed, then runs it
  local shown="cairn" a
  for a in "$@"; do
    if [[ $a =~ [[:space:],] ]]; then shown+=" \"$a\""; else shown+=" $a"; fi
  done
  printf '$ %s\n' "$shown"
  local out
  out=$(cairn "$@")
  if [[ -n $out ]]; then printf '%s\n' "$out"; fi
}
cli kv put app.kv hello world
cli kv put app.kv hi there
cli kv get app.kv hello
cli kv del app.kv hi
cli kv list app.kv
cli kv compact app.kv
cli kv check app.kv
cli kv stats app.kv
cli blob create blobs.db "first blob"
cli blob create blobs.db "second blob"
cli blob update blobs.db 1 "first blob, now longer"
cli blob get blobs.db 1
cli blob del blobs.db 2
cli blob list blobs.db
cli blob compact blobs.db
cli blob stats blobs.db
cd "$root"

echo
echo "== the quickstart of each language (C, Python, Lua, Node.js, .NET) =="
step "running each binding's quickstart (the ctest tests labelled \"example\")"
# Each binding registers its quickstart as a ctest test labelled "example"; show their output.
ctest --test-dir "$build" -L example -V 2>&1 | awk '
  /^ *Start +[0-9]+: /                                            { sub(/^ *Start +[0-9]+: /, ""); print "\n-- " $0 " --"; next }
  /^[0-9]+: (Test command|Working Directory|Environment variables|Test timeout)/ { next }
  /^[0-9]+:  [A-Za-z_][A-Za-z_0-9]*=/                              { next }
  /^[0-9]+: /                                                     { sub(/^[0-9]+: /, ""); print; next }
  /Test +#[0-9]+: /                                               { print }
  /tests passed/                                                  { print "\n" $0 }'
test "${PIPESTATUS[0]}" -eq 0
