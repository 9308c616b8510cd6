#!/usr/bin/env bash
# The speed of two versions of Swiftlet side by side. Builds the old one (a git ref, default
# main) from `git archive` into a cache folder, and the new one (default: this checkout as it
# is, uncommitted changes included; or a second ref), then runs both binaries' `bench train`
# (fp32 and bf16), `bench decode` (fp32 and bf16 weights), `bench generate` and `bench
# attention` (fused fp32 and bf16 forward and backward GFLOP/s), interleaved
# round by round and alternating which goes first, and prints each figure's median for both and
# the ratio new/old. Run it under the CPU lock:
#   flock /work/cpu.lock bash scripts/bench-compare.sh [OLD_REF [NEW_REF [ROUNDS]]]
# Either ref may also be the path of a swiftlet binary already built (then nothing is built for it).
# BENCH_PARTS picks the runs (default: "train-fp32 train-bf16 decode generate attention").
set -euo pipefail
cd "$(dirname "$0")/.."
old_ref=${1:-main}
new_ref=${2:-}
rounds=${3:-5}
cache=${SWIFTLET_BENCH_CACHE:-$HOME/.cache/swiftlet-bench}

# Builds `ref` in $cache/<commit> (once per commit) and prints the binary's path.
build_ref() {
  local commit dir
  commit=$(git rev-parse --verify "$1^{commit}")
  dir=$cache/$commit
  if [[ ! -x $dir/.build/release/swiftlet ]]; then
    mkdir -p "$dir"
    git archive "$commit" | tar -x -C "$dir"
    [[ -f Package.resolved ]] && cp Package.resolved "$dir/"
    (cd "$dir" && swift build -c release >&2)
  fi
  echo "$dir/.build/release/swiftlet"
}

if [[ -f $old_ref && -x $old_ref ]]; then old=$old_ref; else old=$(build_ref "$old_ref"); fi
if [[ -f $new_ref && -x $new_ref ]]; then
  new=$new_ref
  new_name=$new_ref
elif [[ -n $new_ref ]]; then
  new=$(build_ref "$new_ref")
  new_name=$new_ref
else
  swift build -c release >&2
  new=$PWD/.build/release/swiftlet
  new_name="working tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes'))"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
family=$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
model=$(grep -m1 '^model\s*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
echo "CPU: $cpu (family $family, model $model), $(nproc) cores; old: $old_ref, new: $new_name; $rounds interleaved rounds"

parts=" ${BENCH_PARTS:-train-fp32 train-bf16 decode generate attention} "
run_all() {  # binary, label
  local binary=$1 label=$2
  if [[ $parts == *" train-fp32 "* ]]; then
    "$binary" bench train --precision fp32 --steps 5 --json | sed 's/"train\./"train.fp32./' >>"$out/$label"
  fi
  if [[ $parts == *" train-bf16 "* ]] && "$binary" bench train --precision bf16 --steps 5 --json >"$out/bf16" 2>/dev/null; then
    sed 's/"train\./"train.bf16./' "$out/bf16" >>"$out/$label"
  fi
  if [[ $parts == *" decode "* ]]; then "$binary" bench decode --weights both --tokens 256 --json >>"$out/$label"; fi
  if [[ $parts == *" generate "* ]]; then "$binary" bench generate --json >>"$out/$label"; fi
  # The fused kernels only (the unfused reference and the speedups are not this binary's speed).
  if [[ $parts == *" attention "* ]]; then
    "$binary" bench attention --json | grep -v '"attention.naive\|speedup' >>"$out/$label"
  fi
}

for round in $(seq "$rounds"); do
  if (( round % 2 )); then order="old new"; else order="new old"; fi
  for label in $order; do
    binary=$old; [[ $label == new ]] && binary=$new
    run_all "$binary" "$label"
  done
  echo "round $round of $rounds done" >&2
done

python3 - "$out" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
def medians(label):
    values = {}
    for line in open(os.path.join(out, label)):
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r["unit"] in ("tokens/s", "GFLOP/s", "ms", "s"):
            values.setdefault((r["name"], r["unit"]), []).append(r["value"])
    # The median, and the spread of the runs around it (largest distance from it, in %).
    return {k: (statistics.median(v), len(v), max(abs(x / statistics.median(v) - 1) for x in v))
            for k, v in values.items()}
old, new = medians("old"), medians("new")
worst, slowest = 0.0, 0.0
for key in sorted(old):
    if key not in new:
        continue
    (name, unit), (o, n, os_), (w, _, ws) = key, old[key], new[key]
    ratio = w / o if o else float("nan")
    # For times, smaller is better: report the speed ratio either way.
    speed = ratio if unit in ("tokens/s", "GFLOP/s") else (o / w if w else float("nan"))
    worst = max(worst, abs(speed - 1))
    slowest = max(slowest, 1 - speed)
    print(f"{name:42s} old {o:10.1f} ±{os_ * 100:4.1f} %  new {w:10.1f} ±{ws * 100:4.1f} % {unit:8s} "
          f"new/old {ratio:.3f}  ({n} runs)")
print(f"largest speed difference {worst * 100:.1f} % ({'within' if worst <= 0.03 else 'NOT within'} ±3 %); "
      f"largest slowdown {max(slowest, 0) * 100:.1f} % ({'within' if slowest <= 0.03 else 'NOT within'} 3 %)")
PY
