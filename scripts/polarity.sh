#!/usr/bin/env bash
# The movie-review polarity run of the README, start to finish:
#   1. pretrain the small preset on the unlabeled movie-review text (4,800 steps, ≈ 30 minutes
#      on 2 cores; resumed if interrupted, skipped when already complete),
#   2. fine-tune a classifier end to end on the 3,200 training sentences,
#   3. evaluate it on the 800 test sentences.
# Usage: scripts/polarity.sh [SEED]   (the classifier's seed, default 1)
# Writes checkpoints/movie-reviews-small (the pretrained model) and checkpoints/polarity-small.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-1}
bin=.build/release/swiftlet
base=checkpoints/movie-reviews-small
out=checkpoints/polarity-small
[ -x "$bin" ] || swift build -c release
bash corpora/fetch-polarity.sh
bash corpora/fetch-movie-reviews.sh

# --lr 2e-3: the rate the README's figures were measured with (train's default before it became 1e-3).
pretrain=(--data corpora/movie-reviews --preset small --steps 4800 --dropout 0.1 --precision bf16 --lr 2e-3 --out "$base")
if [ -f "$base/trainer.json" ]; then
    "$bin" train "${pretrain[@]}" --resume
else
    "$bin" train "${pretrain[@]}"
fi

# classify train writes only into a new or empty directory: clear this script's earlier output.
if [ -e "$out" ]; then
    [ -f "$out/classifier.json" ] || { echo "polarity: $out exists and is not a classifier checkpoint; move it away." >&2; exit 1; }
    rm -rf "$out"
fi
"$bin" classify train --checkpoint "$base" --data corpora/polarity/train.csv --train full --epochs 6 --dropout 0.1 --lr 3e-4 \
    --seed "$seed" --out "$out"
"$bin" classify eval --checkpoint "$out" --data corpora/polarity/test.csv
