#!/usr/bin/env bash
# make interop: sets up the reference tools (scripts/reference-tools.sh: transformers, torch,
# peft and llama.cpp from llama-cpp-python's sdist, cached under ~/.cache/swiftlet-tools), builds
# Swiftlet, and checks it against them (scripts/interop.py). About 10 minutes once the tools are
# built; run it under the CPU lock on a shared machine.
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
HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1 "$venv/bin/python" scripts/interop.py \
    --swiftlet "$PWD/.build/release/swiftlet" --llama "$llama/bin" --llama-src "$llama/src" --work "$work"
