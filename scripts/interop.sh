#!/usr/bin/env bash
# make interop: sets up the reference tools (scripts/reference-tools.sh: transformers, torch,
# peft and llama.cpp from llama-cpp-python's sdist, cached under ~/.cache/swiftlet-tools), builds
# Swiftlet, and checks it against them (scripts/interop.py). About 10 minutes once the tools are
# built; run it under the CPU lock on a shared machine. With Gemma 3 270M fetched (make gemma)
# the Gemma checks run too (about 5 minutes more); `bash scripts/interop.sh --gemma-only` runs
# them alone.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(bash scripts/reference-tools.sh)
venv=$(echo "$tools" | sed -n 's/^venv=//p')
llama=$(echo "$tools" | sed -n 's/^llama=//p')
swift build -c release >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/swiftlet-interop.XXXXXX")
trap 'rm -rf "$work"' EXIT
export SWIFTLET_CACHE="$work/cache"   # tokenize afresh: the check is of today's code
echo "CPU: $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed "s/^ //") (family $(grep -m1 "cpu family" /proc/cpuinfo | cut -d: -f2 | tr -d " "), model $(grep -m1 "^model\s" /proc/cpuinfo | cut -d: -f2 | tr -d " ")), $(nproc) cores"
gemma=${SWIFTLET_MODELS:-$HOME/.cache/swiftlet/models}/gemma-3-270m-q4_k_m.gguf
gemma_args=()
[ -f "$gemma" ] && gemma_args=(--gemma "$gemma")
HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1 "$venv/bin/python" scripts/interop.py \
    --swiftlet "$PWD/.build/release/swiftlet" --llama "$llama/bin" --llama-src "$llama/src" --work "$work" "${gemma_args[@]}" "$@"
