#!/usr/bin/env bash
# Installs what building and testing Cairn needs and is missing (Debian packages only; the Node
# binding's npm modules are installed by its own build). Safe to run again: does nothing when all
# is there. Usage: scripts/setup.sh [--bench]   (--bench adds the peers the benchmarks compare with)
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config check swig liblua5.4-dev lua5.4 luarocks
      libjansson-dev python3-wheel-whl valgrind)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(liblmdb-dev libleveldb-dev librocksdb-dev libsqlite3-dev sqlite3)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi

for tool in node npm dotnet python3; do
  command -v "$tool" >/dev/null 2>&1 || echo "setup: warning: $tool not found; its binding will be skipped"
done
