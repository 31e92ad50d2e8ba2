#!/usr/bin/env bash
# bench/run.sh - build and run Cairn's C benchmarks against LMDB, LevelDB, RocksDB and SQLite,
# then rewrite the generated parts of docs/benchmarks.md.
#
#   bench/run.sh                 install missing peers, build, run both benches at the default
#                                sizes (1M keys, 100k blobs), rewrite docs/benchmarks.md
#   bench/run.sh --quick         small sizes, print the tables, leave the docs alone
#   bench/run.sh --kv-only | --blob-only | --table-only | --repo-only
#   bench/run.sh --no-install    do not try apt-get
#   bench/run.sh --no-docs       print the tables instead of rewriting the docs
#   KV_ARGS="--keys 2M" BLOB_ARGS="--blobs 50k" TABLE_ARGS="--rows 1M" REPO_ARGS="--records 2M" bench/run.sh
#                                extra arguments per bench
# DuckDB (a table_bench peer) is the C library inside the npm package
# @duckdb/node-bindings-linux-x64, fetched with `npm pack` into the build directory (or set
# CAIRN_BENCH_DUCKDB to a libduckdb.so); without npm the DuckDB column says n/a.
#
# Environment: CAIRN_BENCH_BUILD_DIR (default <repo>/build-bench), TMPDIR (scratch space; the
# benches need about 4 GB there at the default sizes; it is removed when each bench ends).
# Exit status: 0 if every engine ran and returned the right data, 1 otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${CAIRN_BENCH_BUILD_DIR:-$root/build-bench}"
docs="$root/docs/benchmarks.md"

quick=0 install=1 write_docs=1 run_kv=1 run_blob=1 run_table=1 run_repo=1
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1; write_docs=0 ;;
        --no-install) install=0 ;;
        --no-docs) write_docs=0 ;;
        --kv-only) run_blob=0; run_table=0; run_repo=0 ;;
        --blob-only) run_kv=0; run_table=0; run_repo=0 ;;
        --table-only) run_kv=0; run_blob=0; run_repo=0 ;;
        --repo-only) run_kv=0; run_blob=0; run_table=0 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

# 1. The peers' development packages (Debian names), installed if missing.
if [ "$install" = 1 ] && command -v dpkg-query >/dev/null 2>&1; then
    missing=()
    for pkg in pkg-config cmake liblmdb-dev libleveldb-dev librocksdb-dev libsqlite3-dev; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    command -v ninja >/dev/null 2>&1 || missing+=(ninja-build)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "run.sh: installing ${missing[*]}" >&2
        sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        if ! { $sudo apt-get update && $sudo apt-get -o DPkg::Lock::Timeout=600 install -y \
                --no-install-recommends "${missing[@]}"; }; then
            echo "run.sh: could not install ${missing[*]}; the missing peers are skipped" >&2
        fi
    fi
fi

# 2. Configure and build (RelWithDebInfo: -O2 with symbols for profiling; the bindings and tests are
#    not needed).
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCAIRN_BUILD_BENCH=ON -DCAIRN_BUILD_TESTS=OFF -DCAIRN_BUILD_PYTHON=OFF -DCAIRN_BUILD_LUA=OFF \
        -DCAIRN_BUILD_NODE=OFF -DCAIRN_BUILD_DOTNET=OFF -DCAIRN_SANITIZE=OFF >&2
fi
cmake --build "$build" --target kv_bench blob_bench table_bench repo_bench >&2

# DuckDB's C library, from npm (the package that the Node bindings of DuckDB use).
duckdb_lib="${CAIRN_BENCH_DUCKDB:-}"
if [ -z "$duckdb_lib" ] && [ "$run_table" = 1 ]; then
    duckdb_lib="$build/duckdb/package/libduckdb.so"
    if [ ! -f "$duckdb_lib" ] && command -v npm >/dev/null 2>&1; then
        mkdir -p "$build/duckdb"
        if (cd "$build/duckdb" && npm pack --silent @duckdb/node-bindings-linux-x64 >/dev/null 2>&1 &&
                tar xzf ./*.tgz); then
            echo "run.sh: DuckDB from npm: $(ls "$build"/duckdb/*.tgz)" >&2
        else
            echo "run.sh: could not fetch DuckDB from npm; its column is n/a" >&2
        fi
    fi
fi

# 3. Run.
out="$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench-out.XXXXXX")"
trap 'rm -rf "$out"' EXIT
status=0
kv_args=() blob_args=() table_args=() repo_args=()
if [ "$quick" = 1 ]; then
    kv_args=(--keys 100k --durable 1000)
    blob_args=(--blobs 10k --durable 300 --limit 5)
    table_args=(--rows 1M --gets 100k)
    repo_args=(--records 100k --puts 500 --changes 2000)
fi
# shellcheck disable=SC2206 # word splitting of the extra arguments is intended
kv_args+=(${KV_ARGS:-})
# shellcheck disable=SC2206
blob_args+=(${BLOB_ARGS:-})
# shellcheck disable=SC2206
table_args+=(${TABLE_ARGS:-})
# shellcheck disable=SC2206
repo_args+=(${REPO_ARGS:-})
start=$(date +%s)
if [ "$run_kv" = 1 ]; then
    echo "run.sh: kv_bench ${kv_args[*]}" >&2
    "$build/bench/kv_bench" "${kv_args[@]}" --out "$out/kv.md" || status=1
fi
if [ "$run_blob" = 1 ]; then
    # let the file system finish with the space kv_bench freed before the next fsync-bound runs
    sync; sleep 2
    echo "run.sh: blob_bench ${blob_args[*]}" >&2
    "$build/bench/blob_bench" "${blob_args[@]}" --out "$out/blob.md" || status=1
fi
if [ "$run_table" = 1 ]; then
    echo "run.sh: table_bench ${table_args[*]}" >&2
    CAIRN_BENCH_DUCKDB="$duckdb_lib" "$build/bench/table_bench" "${table_args[@]}" --out "$out/table.md" || status=1
fi
if [ "$run_repo" = 1 ]; then
    echo "run.sh: repo_bench ${repo_args[*]}" >&2
    "$build/bench/repo_bench" "${repo_args[@]}" --out "$out/repo.md" || status=1
fi
echo "run.sh: benches took $(( $(date +%s) - start )) s" >&2

# 4. Report: print, or splice each table between its markers in docs/benchmarks.md (the hand-written
#    analysis and the per-binding section around them are kept).
if [ "$write_docs" = 0 ]; then
    for f in "$out/kv.md" "$out/blob.md" "$out/table.md" "$out/repo.md"; do
        [ -f "$f" ] && { cat "$f"; echo; }
    done
    exit "$status"
fi
splice() { # splice <tag> <file>
    local tag="$1" file="$2"
    [ -f "$file" ] || return 0
    if ! grep -qx "<!-- $tag:begin -->" "$docs" 2>/dev/null || ! grep -qx "<!-- $tag:end -->" "$docs"; then
        printf '\n<!-- %s:begin -->\n<!-- %s:end -->\n' "$tag" "$tag" >> "$docs"
    fi
    awk -v tag="$tag" -v file="$file" '
        $0 == "<!-- " tag ":begin -->" { print; while ((getline line < file) > 0) print line; skip = 1; next }
        $0 == "<!-- " tag ":end -->" { skip = 0 }
        !skip { print }' "$docs" > "$docs.tmp"
    mv "$docs.tmp" "$docs"
}
[ -f "$docs" ] || printf '# Benchmarks\n' > "$docs"
splice kv_bench "$out/kv.md"
splice blob_bench "$out/blob.md"
splice table_bench "$out/table.md"
splice repo_bench "$out/repo.md"
echo "run.sh: wrote $docs" >&2
exit "$status"
