#!/usr/bin/env bash
# Trains the demo model for N steps (default 200) in fp32 and in bf16 with the same seed and
# data order, and compares the two training-loss curves step by step (10-step moving averages).
# Usage: scripts/compare-precision.sh [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-200}
bin=.build/release/swiftlet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for precision in fp32 bf16; do
    "$bin" train --data corpora/shakespeare-demo --preset small --steps "$steps" --eval-interval "$steps" \
        --precision "$precision" --out "$work/$precision" 2>&1 | grep -E "validation|saved" >&2
done
python3 - "$work/fp32/metrics.jsonl" "$work/bf16/metrics.jsonl" <<'PY'
import json, sys
def curve(path):
    return [r["loss"] for r in map(json.loads, open(path)) if r["kind"] == "train"]
a, b = curve(sys.argv[1]), curve(sys.argv[2])
def smooth(xs, w=10):
    return [sum(xs[max(0, i - w + 1):i + 1]) / len(xs[max(0, i - w + 1):i + 1]) for i in range(len(xs))]
sa, sb = smooth(a), smooth(b)
gaps = [abs(x - y) / x for x, y in zip(sa, sb)]
worst = max(range(len(gaps)), key=gaps.__getitem__)
print(f"steps compared: {len(gaps)}")
print(f"final loss: fp32 {a[-1]:.4f}, bf16 {b[-1]:.4f}")
print(f"largest gap between the 10-step averages: {100 * gaps[worst]:.2f} % at step {worst + 1}")
print(f"mean gap: {100 * sum(gaps) / len(gaps):.2f} %")
sys.exit(0 if gaps[worst] <= 0.02 else 1)
PY
