#!/usr/bin/env bash
# Training speed against PyTorch on the same model shape and machine: PyTorch in fp32 and with
# bf16 autocast (scripts/reference/llama_torch.py, the project's own Llama in PyTorch) and
# `swiftlet bench train` in fp32 and bf16, interleaved round by round, then the ratios of the
# medians. Sets up PyTorch (CPU) once in a venv under ~/.cache/swiftlet-tools/torch-venv (or
# $SWIFTLET_TOOLS/torch-venv) unless $SWIFTLET_TOOLS/venv has it already. Run it under the CPU
# lock; it takes a few minutes per shape.
# Usage: scripts/compare-pytorch.sh [small|medium|all] [rounds]     (default: all, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
rounds=${2:-3}
TOOLS=${SWIFTLET_TOOLS:-$HOME/.cache/swiftlet-tools}
VENV=$TOOLS/torch-venv
# The machine's shared reference venv ($TOOLS/venv: torch, transformers, ...) serves when it has
# PyTorch and this script's own venv does not.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null && "$TOOLS/venv/bin/python" -c "import torch" 2>/dev/null; then
    VENV=$TOOLS/venv
fi
PY=$VENV/bin/python
bin=.build/release/swiftlet

if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "compare-pytorch: installing PyTorch (CPU) into $VENV" >&2
    mkdir -p "$TOOLS"
    python3 -m venv "$VENV"
    # The CPU-only wheel when pip's find-links folder has one; PyPI's default build otherwise
    # (it runs on the CPU as well).
    cpu_wheel=$(ls "${PIP_FIND_LINKS:-/nonexistent}"/torch-*+cpu-*.whl 2>/dev/null | head -1 || true)
    "$PY" -m pip install -q --disable-pip-version-check "${cpu_wheel:-torch}" numpy
fi
[ -x "$bin" ] || swift build -c release >&2

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
family=$(grep -m1 "cpu family" /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
model=$(grep -m1 "^model[[:space:]]*:" /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
flags=$(grep -m1 "^flags" /proc/cpuinfo)
bf16=no; [[ $flags == *avx512_bf16* ]] && bf16=yes
echo "CPU: $cpu (family $family, model $model), $(nproc) cores, AVX512-BF16: $bf16"
echo "PyTorch $("$PY" -c 'import torch; print(torch.__version__)'), 2 threads; Swiftlet $(git rev-parse --short HEAD 2>/dev/null || echo "(no git)")"

measure() {  # shape-name, then the shape options
    local name=$1; shift
    local log
    log=$(mktemp)
    for round in $(seq "$rounds"); do
        for run in torch-fp32 torch-bf16 swiftlet-fp32 swiftlet-bf16; do
            local precision=${run#*-} value
            if [[ $run == torch-* ]]; then
                value=$("$PY" scripts/reference/llama_torch.py "$@" --precision "$precision" --steps 5 |
                        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')
            else
                value=$("$bin" bench train "$@" --precision "$precision" --steps 8 --json |
                        "$PY" -c 'import json,sys; print(next(r["value"] for r in map(json.loads, sys.stdin) if r["name"] == "train.tokens_per_s"))')
            fi
            printf '%s round %d %-14s %8.0f tokens/s\n' "$name" "$round" "$run" "$value" >&2
            echo "$run $value" >> "$log"
        done
    done
    "$PY" - "$name" "$log" "$*" <<'PY'
import statistics, sys
name, path, shape = sys.argv[1], sys.argv[2], sys.argv[3]
runs = {}
for line in open(path):
    run, value = line.split()
    runs.setdefault(run, []).append(float(value))
m = {run: statistics.median(values) for run, values in runs.items()}
print(f"\n{name} ({shape}), median of {len(runs['torch-fp32'])} interleaved rounds, tokens/s:")
for run in ["torch-fp32", "torch-bf16", "swiftlet-fp32", "swiftlet-bf16"]:
    values = ", ".join(f"{v:,.0f}" for v in runs[run])
    print(f"  {run:14s} {m[run]:8,.0f}   ({values})")
print(f"  Swiftlet bf16 / PyTorch bf16 autocast: {m['swiftlet-bf16'] / m['torch-bf16']:.2f}x")
print(f"  Swiftlet bf16 / Swiftlet fp32:         {m['swiftlet-bf16'] / m['swiftlet-fp32']:.2f}x")
print(f"  Swiftlet fp32 / PyTorch fp32:          {m['swiftlet-fp32'] / m['torch-fp32']:.2f}x")
print(f"  PyTorch bf16 autocast / PyTorch fp32:  {m['torch-bf16'] / m['torch-fp32']:.2f}x")
PY
    rm -f "$log"
}

small=(--dim 288 --layers 6 --heads 6 --vocab 8192 --context 256 --batch 8)
medium=(--dim 512 --layers 8 --heads 8 --vocab 8192 --context 512 --batch 4)
case $which in
    small) measure small "${small[@]}" ;;
    medium) measure medium "${medium[@]}" ;;
    all) measure small "${small[@]}"; measure medium "${medium[@]}" ;;
    *) echo "usage: scripts/compare-pytorch.sh [small|medium|all] [rounds]" >&2; exit 2 ;;
esac
