#!/usr/bin/env bash
# Soak mode of the reliability loops (docs/reliability.md): the same drivers CI runs, longer.
#   bash scripts/soak.sh [--iterations N] [--seed S] [--fuzz-seconds F]
# N: SIGKILLs per crash loop (six loops: KV and blob, single writer and group commit with
# threads; the versioned store; KV snapshots and backups) and reader rounds; the corruption sweeps
# always run in full (every byte: three stores and a repository);
# F: seconds per fuzz target (needs clang). Builds the core and the tests only (ASan+UBSan) in
# $CAIRN_BUILD_DIR-soak (default build-soak). Prints one line per loop and a total; exit 1 on any
# failure (every driver prints its seed: rerun it with --seed).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
iterations=2000 seed=$(date +%s) fuzz_seconds=300
while (($#)); do
  case $1 in
    --iterations) iterations=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --fuzz-seconds) fuzz_seconds=$2; shift 2 ;;
    *) echo "usage: scripts/soak.sh [--iterations N] [--seed S] [--fuzz-seconds F]" >&2; exit 2 ;;
  esac
done
core_only=(-DCAIRN_BUILD_PYTHON=OFF -DCAIRN_BUILD_LUA=OFF -DCAIRN_BUILD_NODE=OFF -DCAIRN_BUILD_DOTNET=OFF -DCAIRN_BUILD_TESTS=ON)
b="$build-soak"
cmake -S "$root" -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON "${core_only[@]}" >/dev/null
cmake --build "$b" -j "$jobs" >/dev/null || exit 1
rel="$b/tests/reliability"
log=$(mktemp -d)
export CAIRN_TEST_TMP="$b/tests/reliability/tmp"
fail=0
run() { # run NAME CMD...: runs, keeps the log, prints the driver's last line
  local name=$1; shift
  local t0=$SECONDS
  if "$@" >"$log/$name" 2>&1; then echo "PASS $name ($((SECONDS - t0)) s): $(tail -n 1 "$log/$name")"
  else fail=1; echo "FAIL $name ($((SECONDS - t0)) s): $(grep -m1 -E 'FAIL|WRONG|ERROR' "$log/$name")"; fi
}
echo "soak: seed $seed, $iterations kills per crash loop, fuzz $fuzz_seconds s per target; logs in $log"
run crash_kv         "$rel/rel_crash_kv"   --iterations "$iterations" --seed "$seed"
run crash_kv_group   "$rel/rel_crash_kv"   --iterations "$iterations" --seed "$seed" --threads 4
run crash_blob       "$rel/rel_crash_blob" --iterations "$iterations" --seed "$seed"
run crash_blob_group "$rel/rel_crash_blob" --iterations "$iterations" --seed "$seed" --threads 4
run crash_repo       "$rel/rel_crash_repo" --iterations "$iterations" --seed "$seed"
run crash_snap       "$rel/rel_crash_snap" --iterations "$iterations" --seed "$seed"
for e in kv kv-killed blob; do
  CAIRN_TEST_TMP=$([[ -d /dev/shm ]] && echo /dev/shm || echo "$CAIRN_TEST_TMP") run "sweep_$e" "$rel/rel_sweep" --engine "$e" --seed "$seed"
done
CAIRN_TEST_TMP=$([[ -d /dev/shm ]] && echo /dev/shm || echo "$CAIRN_TEST_TMP") run sweep_repo "$rel/rel_sweep_repo" --seed "$seed"
run readers  "$rel/rel_misc" readers --iterations "$iterations" --seed "$seed"
run locks    "$rel/rel_misc" locks --seed "$seed"
run fork     "$rel/rel_misc" fork --seed "$seed"
run fulldisk "$rel/rel_misc" fulldisk --seed "$seed"
fuzz_execs=0
if command -v clang >/dev/null 2>&1; then
  bf="$build-soak-fuzz"
  CC=clang cmake -S "$root" -B "$bf" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${core_only[@]}" -DCAIRN_FUZZ=ON >/dev/null
  cmake --build "$bf" -j "$jobs" --target cairn_fuzzers >/dev/null || exit 1
  for t in kv_data kv_hint kv_keydir wal blob repo; do
    mkdir -p "$bf/tests/fuzz/corpus-$t"
    run "fuzz_$t" "$bf/tests/fuzz/fuzz_$t" -max_total_time="$fuzz_seconds" -timeout=20 -rss_limit_mb=2048 \
      -print_final_stats=1 "$bf/tests/fuzz/corpus-$t" "$root/tests/fuzz/corpus/$t"
    n=$(grep -m1 -oE 'number_of_executed_units: [0-9]+' "$log/fuzz_$t" | grep -oE '[0-9]+$' || echo 0)
    fuzz_execs=$((fuzz_execs + n))
  done
else
  echo "fuzzing SKIPPED: clang not found"
fi
kills=$(grep -hoE 'PASS: [0-9]+ kills' "$log"/crash_* | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
cases=$(grep -hoE '[0-9]+ cases' "$log"/sweep_* | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
wrong=$(grep -hoE '[0-9]+ wrong answers' "$log"/sweep_* | grep -oE '^[0-9]+' | awk '{s+=$1} END {print s+0}')
echo "soak total: ${kills:-0} SIGKILLs with every recovered state checked, ${cases:-0} corruptions tried" \
     "(${wrong:-?} wrong answers), $fuzz_execs fuzz executions; $([[ $fail == 0 ]] && echo PASS || echo FAIL)"
exit $fail
