#!/usr/bin/env bash
# The README's unigram-against-BPE figure: `swiftlet train --data corpora/shakespeare --preset
# small --time 5m` with each tokenizer type (same seed, same data, same time), then each model's
# validation bits per byte — the measure that compares models with different tokenizers — and
# the token count of the validation text. Run under the CPU lock: both runs get the same budget.
# Usage: scripts/tokenizer-type.sh [TIME]   (default 5m; about 2 × TIME plus tokenizer training)
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-5m}
bin=.build/release/swiftlet
swift build -c release >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/swiftlet-tokenizer-type.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')), $(nproc) cores"
for type in unigram bpe; do
    "$bin" train --data corpora/shakespeare --preset small --time "$time" --tokenizer-type "$type" --out "$work/$type" 2>"$work/$type.log" >/dev/null
    result=$(grep -E "validation loss" "$work/$type.log" | tail -1)
    steps=$(grep -oE '"steps" : "[0-9]+"|"steps": "[0-9]+"' "$work/$type/config.json" | grep -oE '[0-9]+' | tail -1)
    tokens=$("$bin" eval --checkpoint "$work/$type" --data corpora/shakespeare/val --json)
    echo "$type: $steps steps; $result; validation text: $tokens"
done
