#!/usr/bin/env bash
# What a C user does with an installed Cairn: install the library to a prefix of their own, build
# the quickstart with pkg-config alone (plus the documented rpath hint), run it on a directory
# that does not exist yet; then the same with the static library.
# Usage: c_pkgconfig.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
set -euo pipefail
build=$1 src=$2 extra=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build/core" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name cairn.pc)
test -n "$pc" || { echo "cairn.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir cairn)
case "$(cd "$libdir" && pwd -P)" in
  "$(cd "$tmp/prefix" && pwd -P)"/*) ;;
  *) echo "cairn.pc points outside the install prefix: libdir=$libdir"; exit 1 ;;
esac
cc $extra -std=c99 -Wall -Wextra -Werror "$src/examples/quickstart.c" -o "$tmp/quickstart" \
   $(pkg-config --cflags --libs cairn) -Wl,-rpath,"$libdir"
"$tmp/quickstart" "$tmp/work-shared" | tee "$tmp/out"
grep -q "blob: 1 entries" "$tmp/out"
cc $extra -std=c99 "$src/examples/quickstart.c" -o "$tmp/quickstart-static" \
   $(pkg-config --cflags cairn) "$libdir/libcairn.a" -lpthread -lcrypto -lm
"$tmp/quickstart-static" "$tmp/work-static" | grep -q "blob: 1 entries"
echo "installed C library: shared and static quickstart built with pkg-config and ran"
