# Sourced by the scripts: common settings for configuring and building Cairn.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${CAIRN_BUILD_DIR:-$root/build}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Pin the real interpreter (a pyenv shim is a shell script; tests must run the binary).
python_exe=$(python3 -c 'import sys; print(sys.executable)')
jobs=$(nproc 2>/dev/null || echo 2)

configure() { # configure BUILD_DIR [cmake args...]
  local dir=$1; shift
  # CAIRN_SKIP_BINDINGS="dotnet node ..." (spaces or commas): build without those bindings (set
  # every time: a build directory does not keep a skip from an earlier run).
  local bindings=() lang list=" ${CAIRN_SKIP_BINDINGS:-} "
  list=${list//,/ }
  for lang in python lua node dotnet; do
    if [[ $list == *" $lang "* ]]; then bindings+=("-DCAIRN_BUILD_${lang^^}=OFF"); else bindings+=("-DCAIRN_BUILD_${lang^^}=ON"); fi
  done
  # CAIRN_REQUIRE_BINDINGS: a binding left ON whose toolchain is missing fails the configure.
  cmake -S "$root" -B "$dir" -G Ninja -DPython3_EXECUTABLE="$python_exe" -DCAIRN_REQUIRE_BINDINGS=ON \
    "${bindings[@]}" "$@"
}

configure_and_build() { # configure_and_build BUILD_DIR [cmake args...]
  configure "$@"
  cmake --build "$1" -j "$jobs"
}
