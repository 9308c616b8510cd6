#!/usr/bin/env bash
# Data-parallel speed on this machine: `swiftlet train --preset small` as 1 rank × 1 thread,
# 2 ranks × 1 thread (mpirun) and 1 rank × 2 threads, the same global batch for all three
# (--batch-tokens 4096 in micro-batches of 2048, so each layout does the same work), ROUNDS
# interleaved rounds. Prints each run's median tokens/s over steps 3..STEPS (rank 0's
# metrics.jsonl) and, for 2 ranks, the median time per step in collectives.
#   flock /work/cpu.lock bash scripts/mpi-scaling.sh [ROUNDS] [STEPS] [PRECISION]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; steps=${2:-12}; precision=${3:-bf16}
bin=$PWD/.build/release/swiftlet
data=${DATA:-corpora/shakespeare-demo}
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
[ -d "$data" ] || { echo "no $data: make corpora, or DATA=path" >&2; exit 1; }
work=$(mktemp -d /tmp/swiftlet-scaling.XXXXXX)
trap 'rm -rf "$work"' EXIT
allow=(); [ "$(id -u)" -eq 0 ] && allow=(--allow-run-as-root)
common=(train --data "$data" --preset small --steps "$steps" --batch-tokens 4096 --micro-batch-tokens 2048
        --eval-interval 100000 --precision "$precision")
median() { python3 -c "
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if '\"train\"' in l]
rows = [r for r in rows if r['step'] >= 3]
tps = statistics.median(r['tokensPerSecond'] for r in rows)
comm = [r['communicationSeconds'] for r in rows if 'communicationSeconds' in r]
print(f'{tps:8.0f} tok/s' + (f', collectives {statistics.median(comm) * 1000:.1f} ms of {statistics.median(4096 / r[\"tokensPerSecond\"] for r in rows) * 1000:.0f} ms per step' if comm else ''))
" "$1/metrics.jsonl"; }
lscpu | grep -E "Model name|^CPU\(s\)" | sed 's/  */ /g'
"$bin" "${common[@]}" --steps 1 --out "$work/warm" >/dev/null 2>&1   # token cache and tokenizer
for round in $(seq 1 "$rounds"); do
    "$bin" "${common[@]}" --threads 1 --out "$work/one-$round" >/dev/null 2>&1
    echo "round $round  1 rank  × 1 thread : $(median "$work/one-$round")"
    mpirun "${allow[@]}" -q -np 2 "$bin" "${common[@]}" --threads 1 --out "$work/two-$round" >/dev/null 2>&1
    echo "round $round  2 ranks × 1 thread : $(median "$work/two-$round")"
    "$bin" "${common[@]}" --threads 2 --out "$work/both-$round" >/dev/null 2>&1
    echo "round $round  1 rank  × 2 threads: $(median "$work/both-$round")"
done
