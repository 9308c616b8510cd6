#!/usr/bin/env bash
# Checked (-O: bounds and overflow checks on, the default build) against unchecked (-Ounchecked)
# release builds: interleaved `swiftlet bench train` and `swiftlet bench decode` runs of both,
# the median of each, and their ratio. Run it under the CPU lock:
#   flock /work/cpu.lock bash scripts/bench-checked.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
swift build -c release >/dev/null
SWIFTLET_UNCHECKED=1 swift build -c release --scratch-path .build-unchecked >/dev/null
checked=.build/release/swiftlet
unchecked=.build-unchecked/release/swiftlet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), model $(grep -m1 '^model\s*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')), $(nproc) cores; $rounds interleaved rounds"
for round in $(seq "$rounds"); do
  # Alternate which build goes first, so neither always gets the warmer machine.
  if (( round % 2 )); then order="checked unchecked"; else order="unchecked checked"; fi
  for build in $order; do
    binary=$checked; [[ $build == unchecked ]] && binary=$unchecked
    "$binary" bench train --steps 5 --json >>"$out/$build.train"
    "$binary" bench decode --weights fp32 --tokens 256 --json >>"$out/$build.decode"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys, os
out = sys.argv[1]
def medians(build, kind):
    values = {}
    for line in open(os.path.join(out, f"{build}.{kind}")):
        line = line.strip()
        if not line.startswith("{"): continue
        r = json.loads(line)
        values.setdefault(r["name"], []).append(r["value"])
    return {k: statistics.median(v) for k, v in values.items()}
worst = float("inf")
for kind in ["train", "decode"]:
    c, u = medians("checked", kind), medians("unchecked", kind)
    for name in sorted(c):
        if name not in u or not name.endswith("_per_s"): continue
        ratio = c[name] / u[name]
        worst = min(worst, ratio)
        print(f"{name:45s} checked {c[name]:12.1f}  unchecked {u[name]:12.1f}  checked/unchecked {ratio:.3f}")
print(f"worst ratio {worst:.3f} ({'within' if worst >= 0.98 else 'NOT within'} 2 %)")
PY
