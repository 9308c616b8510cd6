#!/usr/bin/env bash
# Checks that two swiftlet binaries train identically for the same options: a short `train`
# (dropout and two micro-batches per step, so the dropout streams and gradient accumulation are
# exercised), a full and a LoRA `finetune` from it, and `classify train --train head` and
# `--train lora --epochs 1` on it, with each binary. The metrics (every step's loss and learning
# rate, every evaluation), the saved training state (every option, the data position), the
# weights, adapters, AdamW moments and classifier heads must be byte for byte the same.
# Usage: scripts/same-losses.sh OLD_BINARY NEW_BINARY [DATA] [LABELED_CSV]   (under flock /work/cpu.lock)
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2")
data=$(realpath "${3:-corpora/shakespeare-demo}")
labeled=$(realpath "${4:-corpora/polarity/train.csv}")
work=$(mktemp -d /tmp/same-losses.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Each binary runs in a folder of its own under the same relative names, so the paths the
# checkpoints record (finetunedFrom, the adapters' base) are the same too.
for which in old new; do
    bin=${!which}
    mkdir "$work/$which"
    (
        cd "$work/$which"
        "$bin" train --data "$data" --preset tiny --steps 12 --dropout 0.1 --batch-tokens 2048 --micro-batch-tokens 1024 \
            --eval-interval 6 --out train >train.log 2>&1
        "$bin" finetune --checkpoint train --data "$data" --steps 6 --eval-interval 3 --out finetune >finetune.log 2>&1
        "$bin" finetune --checkpoint train --data "$data" --steps 4 --eval-interval 2 --lora-rank 4 --out lora >lora.log 2>&1
        "$bin" classify train --checkpoint train --data "$labeled" --train head --out head >head.log 2>&1
        "$bin" classify train --checkpoint train --data "$labeled" --train lora --epochs 1 --out classify-lora >classify-lora.log 2>&1
    )
done
# Every file each run wrote must match, but for what is measured, not chosen (timings) and
# the Swiftlet that wrote it (config.json's writtenBy).
strip() {
    python3 - "$1" <<'PY'
import json, sys
measured = {"tokensPerSecond", "trainingSeconds", "writtenBy"}
def clean(value):
    if isinstance(value, dict): return {k: clean(v) for k, v in value.items() if k not in measured}
    if isinstance(value, list): return [clean(v) for v in value]
    return value
text = open(sys.argv[1]).read()
values = [json.loads(line) for line in text.splitlines() if line.strip()] if sys.argv[1].endswith(".jsonl") else [json.loads(text)]
for value in values: print(json.dumps(clean(value), sort_keys=True))
PY
}
status=0
for run in train finetune lora head classify-lora; do
    files=$(cd "$work/old/$run" && find . -type f; cd "$work/new/$run" && find . -type f)
    for file in $(printf '%s\n' "$files" | sed 's|^\./||' | sort -u); do
        a="$work/old/$run/$file" b="$work/new/$run/$file"
        case "$file" in
            *.json|*.jsonl) if diff <(strip "$a") <(strip "$b") >/dev/null 2>&1; then same=1; else same=0; fi ;;
            *) if cmp -s "$a" "$b"; then same=1; else same=0; fi ;;
        esac
        if [ $same = 1 ]; then echo "same       $run/$file"; continue; fi
        echo "DIFFERENT  $run/$file"
        status=1
        case "$file" in *.safetensors) ;; *) diff <(strip "$a") <(strip "$b") | head -6 | sed 's/^/    /' ;; esac
    done
done
grep -h "validation loss\|validation accuracy" "$work"/new/*.log | tr '\r' '\n' | grep -v '^$' | sed 's/^/  new: /'
exit $status
