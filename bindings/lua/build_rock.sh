#!/bin/sh
# Builds the C module of the Lua rock (called by cairn-scm-1.rockspec from the repository root):
# the SWIG wrapper of core/cairn.i + bindings/lua/cairn_lua_json.c + every core source, into
# build-rock/cairn_swig.so. liblua is not linked: the interpreter provides the Lua API.
#   sh bindings/lua/build_rock.sh [CC] [CFLAGS] [LIBFLAG] [LUA_INCDIR]
set -eu
CC=${1:-cc}
CFLAGS=${2:--O2 -fPIC}
LIBFLAG=${3:--shared}
LUA_INCDIR=${4:-$(pkg-config --variable=includedir lua5.4 2>/dev/null || echo /usr/include)/lua5.4}
SWIG=$(command -v swig4.0 || command -v swig || true)
if [ -z "$SWIG" ]; then
    echo "build_rock.sh: swig not found (Debian: apt-get install swig)" >&2
    exit 1
fi
if [ ! -f core/cairn.i ]; then
    echo "build_rock.sh: run from the repository root" >&2
    exit 1
fi
out=build-rock
mkdir -p "$out"
# The table engine is wrapped once the core defines its API (see core/cairn.i).
TABLE=
if grep -qs '^int cairn_table_open(' core/src/table/*.c; then TABLE=-DCAIRN_SWIG_TABLE; fi
"$SWIG" -lua -nomoduleglobal $TABLE -Icore -Icore/include -Ibindings/lua -o "$out/cairn_lua_wrap.c" core/cairn.i
# shellcheck disable=SC2046,SC2086
$CC $CFLAGS $TABLE -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fvisibility=hidden \
    -I"$LUA_INCDIR" -Icore/include -Icore/src -Icore/src/util -Ibindings/lua \
    $LIBFLAG -o "$out/cairn_swig.so" \
    "$out/cairn_lua_wrap.c" bindings/lua/cairn_lua_json.c $(find core/src -name '*.c' | sort) -lpthread -lcrypto -lm
echo "build_rock.sh: built $out/cairn_swig.so"
