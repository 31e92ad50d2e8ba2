#!/usr/bin/env bash
# bench/dotnet/run.sh - the cost of a call from .NET (Program.cs): builds the core, the bench and the
# same loop in C (kv_loop.c) in Release, asks NuGet for the BinaryDocumentDb package (the blob store's peer) and compares against it
# in the same run when the source has it, then prints the tables (markdown).
#
#   bench/dotnet/run.sh [--n 200000] [--blobs 100000] [--repeat 3] [--dir scratch]
#
# Environment: CAIRN_BENCH_BUILD_DIR (default <repo>/build-bench, shared with bench/run.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${CAIRN_BENCH_BUILD_DIR:-$root/build-bench}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [ ! -f "$build/CMakeCache.txt" ]; then
    generator=()
    command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
    cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCAIRN_BUILD_TESTS=OFF \
        -DCAIRN_BUILD_PYTHON=OFF -DCAIRN_BUILD_LUA=OFF -DCAIRN_BUILD_NODE=OFF -DCAIRN_BUILD_DOTNET=OFF \
        -DCAIRN_SANITIZE=OFF >&2
fi
cmake --build "$build" --target cairn >&2

props=(-p:UseArtifactsOutput=true "-p:ArtifactsPath=$build/bench-dotnet" "-p:CairnNativeDir=$build/core"
       -p:UseSharedCompilation=false -nodeReuse:false)
if dotnet restore "$here/CairnBench.csproj" --configfile "$here/nuget.config" "${props[@]}" \
        -p:WithBinaryDocumentDb=true >"$build/bench-dotnet-bdd.log" 2>&1; then
    echo "run.sh: BinaryDocumentDb restored: comparing against it" >&2
    props+=(-p:WithBinaryDocumentDb=true)
else
    echo "run.sh: BinaryDocumentDb is not on the NuGet source (see $build/bench-dotnet-bdd.log): not compared" >&2
    dotnet restore "$here/CairnBench.csproj" --configfile "$here/nuget.config" "${props[@]}" >&2
fi
dotnet build "$here/CairnBench.csproj" --no-restore -c Release "${props[@]}" >&2
# The same loop in C, linked against the same shared library.
"${CC:-cc}" -O2 -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -I "$root/core/include" "$here/kv_loop.c" \
    -L "$build/core" -lcairn -Wl,-rpath,"$build/core" -o "$build/bench-dotnet/kv_loop"
exec dotnet "$build/bench-dotnet/bin/CairnBench/release/CairnBench.dll" --c-loop "$build/bench-dotnet/kv_loop" "$@"
