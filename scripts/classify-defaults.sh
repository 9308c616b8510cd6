#!/usr/bin/env bash
# What `classify train` with no options reaches, with two binaries (the one before the defaults
# changed and the one after): each trains a classifier on the polarity training sentences from
# the same base checkpoint with the same seed, and `classify eval` scores it on the 800 test
# sentences. Prints, per binary and seed, the training time, the best validation accuracy and
# the test accuracy.
# Usage: scripts/classify-defaults.sh OLD_BINARY NEW_BINARY BASE_CHECKPOINT [SEED...]
#        (under flock /work/cpu.lock; the README's figure: BASE = 5 minutes of `train` on Shakespeare)
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2") base=$(realpath "$3")
shift 3
seeds=("${@:-1}")
cd "$(dirname "$0")/.."
bash corpora/fetch-polarity.sh >/dev/null
work=$(mktemp -d /tmp/classify-defaults.XXXXXX)
trap 'rm -rf "$work"' EXIT
for seed in "${seeds[@]}"; do
    for which in old new; do
        bin=${!which}
        out="$work/$which-$seed"
        start=$(date +%s)
        "$bin" classify train --checkpoint "$base" --data corpora/polarity/train.csv --seed "$seed" --out "$out" >"$out.log" 2>&1 ||
            { cat "$out.log" >&2; exit 1; }
        seconds=$(($(date +%s) - start))
        validation=$(grep -o 'best validation accuracy [0-9.]* %' "$out.log" | grep -o '[0-9.]* %')
        test=$("$bin" classify eval --checkpoint "$out" --data corpora/polarity/test.csv 2>&1 | grep -i -m1 'accuracy' )
        mode=$(grep -o 'training: [a-z]*' "$out.log")
        printf '%s binary, seed %s (%s): %ss, validation %s, test: %s\n' "$which" "$seed" "$mode" "$seconds" "$validation" "$test"
    done
done
