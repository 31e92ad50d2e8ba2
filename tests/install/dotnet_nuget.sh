#!/usr/bin/env bash
# What a .NET user does (docs/dotnet.md, "Install"): `dotnet pack` the library with the native core
# of a build into a folder, then a fresh console project (`dotnet new console`) takes the package from
# that folder as a local feed (its own nuget.config: that folder and nuget.org, where the package's one
# dependency, Apache.Arrow, comes from) and runs the
# guide's first example, whose output must be what its comments say. A private NuGet packages folder
# is used, so that no Cairn package cached by an earlier run can stand in for this one; the pack's
# intermediate files go to the temporary directory, not the work tree.
# Usage: dotnet_nuget.sh SOURCE_DIR NATIVE_DIR DOTNET
set -euo pipefail
src=$1 native=$2 dotnet=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v "$dotnet" >/dev/null || { echo "FAIL: $dotnet not found (install the .NET 10 SDK; see scripts/setup.sh)"; exit 1; }
test -f "$native/libcairn.so" || { echo "FAIL: no libcairn.so in $native (build the target cairn first)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset CAIRN_NATIVE_DIR
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 \
  DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE=1 DOTNET_GENERATE_ASPNET_CERTIFICATE=0 \
  NUGET_PACKAGES=$tmp/nuget-packages
# No build server (compiler or MSBuild node) outlives the test (MSBuild reads UseSharedCompilation
# from the environment).
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_USE_MSBUILD_SERVER=0 UseSharedCompilation=false

# The guide: from the root of the checkout, after the CMake build.
cd "$src"
"$dotnet" pack bindings/dotnet/src/Cairn -c Release -p:CairnNativeDir="$native" -o "$tmp/nupkgs" \
  -p:UseArtifactsOutput=true -p:ArtifactsPath="$tmp/artifacts"
ls "$tmp/nupkgs/Cairn."*.nupkg

cd "$tmp"
"$dotnet" new console -o MyApp
cd MyApp
"$dotnet" new nugetconfig
"$dotnet" nuget add source "$tmp/nupkgs" --name cairn --configfile nuget.config
"$dotnet" add package Cairn

{ printf 'using Cairn;\nusing System.Text.Json.Nodes;\n\n'; "$here/first_example.sh" "$src/docs/dotnet.md" csharp; } > Program.cs
"$dotnet" run | tee "$tmp/out"
sed -n 's|.*Console\.WriteLine(.*;[[:space:]]*// \(.*\)$|\1|p' Program.cs > "$tmp/expected"
test -s "$tmp/expected" || { echo "FAIL: the first example states no expected output"; exit 1; }
diff "$tmp/expected" "$tmp/out" || { echo "FAIL: the first example's output is not what its comments say"; exit 1; }
echo "installed NuGet package: a fresh console project restored it from a local feed, the guide's first example ran"
