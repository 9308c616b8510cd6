#!/usr/bin/env bash
# Runs every fuzz target (or those named) for RUNS inputs each and prints the total.
#   bash Fuzz/run.sh RUNS [target…]       e.g. bash Fuzz/run.sh 100000
# FUZZ_SHORT=1 (what `make test` uses): a fresh scratch corpus and -seed=1, so the run is the same
# every time; otherwise the corpus grows in .build-fuzz/corpus/TARGET between runs.
# A crash, hang (> 10 s on one input), allocation over 2 GiB or sanitizer report fails the run and
# leaves the input in .build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10000}
shift || true
binary=.build-fuzz/swiftlet-fuzz
seeds=$PWD/Fuzz/corpus
mapfile -t targets < <(if (($#)); then printf '%s\n' "$@"; else ls "$seeds"; fi)
mkdir -p .build-fuzz/artifacts
total=0
for target in "${targets[@]}"; do
  if [[ ${FUZZ_SHORT:-0} == 1 ]]; then
    corpus=$(mktemp -d); extra=(-seed=1)
  else
    corpus=.build-fuzz/corpus/$target; mkdir -p "$corpus"; extra=()
  fi
  log=.build-fuzz/$target.log
  if ! SWIFTLET_FUZZ_TARGET=$target SWIFTLET_FUZZ_SEEDS=$seeds ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
      "$binary" -runs="$runs" "${extra[@]}" -timeout=10 -rss_limit_mb=4096 -malloc_limit_mb=2048 -max_len=262144 \
      -detect_leaks=0 -print_final_stats=1 -artifact_prefix=.build-fuzz/artifacts/"$target"- "$corpus" "$seeds/$target" >"$log" 2>&1; then
    echo "fuzz target $target FAILED; see $log:"; grep -E "ERROR|SUMMARY|Fatal|crash-|timeout-|oom-" "$log" | head -20
    exit 1
  fi
  executed=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  total=$((total + executed))
  printf 'fuzz %-12s %9s inputs, no crash (%s)\n' "$target" "$executed" "$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)"
  [[ ${FUZZ_SHORT:-0} == 1 ]] && rm -rf "$corpus"
done
echo "fuzz: $total inputs across ${#targets[@]} targets, no crash, hang or sanitizer report"
