#!/usr/bin/env bash
# Installs what building and testing Cairn needs and is missing (Debian packages, Node.js and npm
# included; the Node binding's npm modules are installed by its own build). The .NET SDK is not a
# Debian package: without `dotnet` this fails and says how to get it, unless CAIRN_SKIP_BINDINGS
# names dotnet. Safe to run again: does nothing when all is there.
# Usage: scripts/setup.sh [--bench]   (--bench adds the peers the benchmarks compare with)
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config check swig liblua5.4-dev lua5.4 luarocks
      libjansson-dev libssl-dev python3-wheel-whl valgrind clang libclang-rt-14-dev)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(liblmdb-dev libleveldb-dev librocksdb-dev libsqlite3-dev sqlite3)
fi

# CAIRN_SKIP_BINDINGS="dotnet node ..." (spaces or commas): bindings not to install for; the build
# (scripts/env.sh) leaves them out too.
skip=" ${CAIRN_SKIP_BINDINGS:-} "; skip=${skip//,/ }
skipped() { [[ $skip == *" $1 "* ]]; }
# Node.js and npm are Debian packages too; a node installed otherwise (nvm, a tarball) is kept.
if ! skipped node; then
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi
if ! skipped python; then
  pkgs+=(python3-numpy)  # the Python binding's tests of Table.column (numpy.frombuffer, no copy)
  if ! command -v python3 >/dev/null 2>&1; then
    pkgs+=(python3 python3-dev python3-venv)
  elif ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    pkgs+=(python3-venv)  # Debian's python3 makes venvs with pip only with it (the install tests do)
  fi
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

# The .NET SDK is not a Debian package: it cannot be installed from here.
if ! command -v dotnet >/dev/null 2>&1; then
  if skipped dotnet; then
    echo "setup: dotnet not found; the .NET binding is skipped (CAIRN_SKIP_BINDINGS)"
  else
    cat >&2 <<'MSG'
setup: error: the .NET 10 SDK (the `dotnet` command) is not installed, and Debian does not package it.
  Install it from Microsoft's packages for Debian or with Microsoft's dotnet-install script (see
  "Install .NET on Debian" in the .NET documentation), so that `dotnet --version` prints 10.x;
  or build without the .NET binding: CAIRN_SKIP_BINDINGS=dotnet scripts/test.sh (or scripts/demo.sh).
MSG
    exit 1
  fi
fi
