#!/usr/bin/env bash
# Swiftlet against llama.cpp on the same GGUF files, the same machine, interleaved (issue 16).
#
#   bash scripts/compare-llama-cpp.sh speed [ROUNDS]           decode (tg128) and prompt (pp256)
#       SHAPES="15M 110M" and TESTS="tg128 pp256" (the defaults) choose a part of the table;
#       SWIFTLET=path times that binary instead of building one
#   bash scripts/compare-llama-cpp.sh perplexity [CHECKPOINT]  quality of each weight type, both tools
#
# speed: GGUF files of random weights (scripts/make-random-gguf.py: N(0, 0.02), tied head) in
# llama2.c's stories15M and stories110M shapes, F32, then F16, Q8_0 and Q4_0 made from it by
# llama.cpp's own llama-quantize --pure (every matrix in the named type, in both tools). Each
# round times every file with llama-bench (-t 2, one repetition) and then with `swiftlet bench
# decode --model FILE` (--threads 2) on the same file: F32 with fp32 weights, F16 with bf16
# (Swiftlet has no F16 stream: the file's values rounded to bf16), Q8_0 and Q4_0 with the file's
# blocks as stored. tg128 is 128 new tokens (llama-bench -p 0 -n 128; Swiftlet decodes 128 after
# a one-token prompt); pp256 a 256-token prompt (-p 256 -n 0; Swiftlet's time to the first
# token of a 256-token prompt). The medians over the rounds and their ratio are printed.
#
# perplexity: a Swiftlet model (preset small, dim 288, 6 layers: the 15M shape, trained for 3
# minutes on the Shakespeare demo corpus unless a checkpoint is given) exported as an F32 GGUF,
# quantized by llama-quantize --pure (Q8_0, Q4_0) and by Swiftlet's export (q8_0, q5_0, q4_0),
# scored by llama-perplexity -c 128 and by `swiftlet eval --chunks 128` (the same chunks) on
# 60 KB of held-out text.
#
# llama.cpp comes from PyPI's llama-cpp-python source distribution (scripts/reference-tools.sh,
# cached under ~/.cache/swiftlet-tools). Run it under the CPU lock on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-speed}
tools=$(bash scripts/reference-tools.sh)
venv=$(echo "$tools" | sed -n 's/^venv=//p')
llama=$(echo "$tools" | sed -n 's/^llama=//p')/bin
# SWIFTLET=path uses that binary as it is (a build with other flags, e.g. the tests' one).
if [ -n "${SWIFTLET:-}" ]; then S=$SWIFTLET; else swift build -c release >/dev/null; S=$PWD/.build/release/swiftlet; fi
PY=$venv/bin/python
work=$(mktemp -d "${TMPDIR:-/tmp}/swiftlet-vs-llama.XXXXXX")
trap 'rm -rf "$work"' EXIT
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed "s/^ //")
family=$(grep -m1 "cpu family" /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model=$(grep -m1 "^model\s" /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
echo "CPU: $cpu (family $family model $model), $(nproc) cores; llama.cpp $(basename "$(dirname "$llama")"), 2 threads; $(date -u +%F)"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
# llama-bench's tokens/s for one test, one repetition (the rounds interleave instead).
llama_bench() { "$llama/llama-bench" -m "$1" -t 2 -r 1 -o json "${@:2}" 2>/dev/null | "$PY" -c 'import json, sys; print(json.load(sys.stdin)[0]["avg_ts"])'; }
# One value of swiftlet bench decode --json.
swiftlet_bench() {
    local name=$1; shift
    "$S" bench decode --json --threads 2 "$@" | "$PY" -c "import json, sys; print([json.loads(l)['value'] for l in sys.stdin if json.loads(l)['name'] == '$name'][0])"
}

if [ "$mode" = speed ]; then
    rounds=${2:-3}
    printf '%-5s %-6s %-11s %10s %10s %7s   %s\n' shape test "file/ours" llama.cpp swiftlet ratio "every round (llama.cpp; swiftlet)"
    for shape in "15M 288 6 6 768" "110M 768 12 12 2048"; do
        read -r label dim layers heads hidden <<<"$shape"
        [[ " ${SHAPES:-15M 110M} " == *" $label "* ]] || continue
        f32=$work/$label-F32.gguf
        "$PY" scripts/make-random-gguf.py "$f32" "$dim" "$layers" "$heads" "$hidden" 32000
        for t in F16 Q8_0 Q4_0; do "$llama/llama-quantize" --pure "$f32" "$work/$label-$t.gguf" "$t" 2 >/dev/null 2>&1; done
        for test in "tg128 -p 0 -n 128" "pp256 -p 256 -n 0"; do
            read -r name flags <<<"$test"
            [[ " ${TESTS:-tg128 pp256} " == *" $name "* ]] || continue
            for pair in F32:fp32 F16:bf16 Q8_0:stored Q4_0:stored; do
                file=$work/$label-${pair%%:*}.gguf w=${pair##*:}
                prefix=$([ "$w" = fp32 ] && echo "" || echo "$w.")
                theirs=() mine=()
                for _ in $(seq "$rounds"); do
                    theirs+=("$(llama_bench "$file" $flags)")
                    if [ "$name" = tg128 ]; then
                        mine+=("$(swiftlet_bench "decode.${prefix}tokens_per_s" --model "$file" --weights "$w" --tokens 128)")
                    else
                        mine+=("$(swiftlet_bench "prompt.${prefix}tokens_per_s" --model "$file" --weights "$w" --tokens 1 --prompt-tokens 256)")
                    fi
                done
                a=$(median "${theirs[@]}") b=$(median "${mine[@]}")
                printf '%-5s %-6s %-11s %10.1f %10.1f %6.2fx   %s; %s\n' "$label" "$name" "${pair%%:*}/$w" "$a" "$b" \
                    "$(echo "$b / $a" | bc -l)" "$(printf '%.0f ' "${theirs[@]}")" "$(printf '%.0f ' "${mine[@]}")"
            done
        done
    done
    exit 0
fi

[ "$mode" = perplexity ] || { echo "usage: $0 speed [ROUNDS] | perplexity [CHECKPOINT]" >&2; exit 2; }
model=${2:-}
if [ -z "$model" ]; then
    model=$work/small
    echo "training the small preset for 3 minutes on corpora/shakespeare-demo"
    "$S" train --data corpora/shakespeare-demo --preset small --time 3m --out "$model" >/dev/null 2>"$work/train.log" || { cat "$work/train.log" >&2; exit 1; }
fi
held=$work/held-out.txt
cat corpora/shakespeare-demo/val/* >"$work/val.txt"
head -c 60000 "$work/val.txt" >"$held"
"$S" export --format gguf --type f32 "$model" -o "$work/F32.gguf" >/dev/null
for t in Q8_0 Q4_0; do "$llama/llama-quantize" --pure "$work/F32.gguf" "$work/llama-$t.gguf" "$t" 2 >/dev/null 2>&1; done
for t in q8_0 q5_0 q4_0; do "$S" export --format gguf --type "$t" "$model" -o "$work/swiftlet-$t.gguf" >/dev/null; done
llama_ppl() { "$llama/llama-perplexity" -m "$1" -f "$held" -c 128 -b 128 -t 2 2>&1 | sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p'; }
swiftlet_ppl() { "$S" eval --json --threads 2 --chunks 128 --data "$held" --checkpoint "$@" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["perplexity"])'; }
base_llama=$(llama_ppl "$work/F32.gguf")
base_swiftlet=$(swiftlet_ppl "$work/F32.gguf" --weights fp32)
change() { echo "100 * ($1 / $2 - 1)" | bc -l; }
printf '%-6s %-36s %16s %8s %16s %8s\n' type file llama-perplexity "vs F32" "swiftlet eval" "vs fp32"
printf '%-6s %-36s %16.4f %8s %16.4f %8s\n' F32 "swiftlet export --type f32" "$base_llama" "" "$base_swiftlet" ""
row() {  # type, description, file, swiftlet's --weights
    local a b
    a=$(llama_ppl "$3") b=$(swiftlet_ppl "$3" --weights "$4")
    printf '%-6s %-36s %16.4f %+7.3f%% %16.4f %+7.3f%%\n' "$1" "$2" "$a" "$(change "$a" "$base_llama")" "$b" "$(change "$b" "$base_swiftlet")"
}
for t in Q8_0 Q4_0; do row "$t" "llama-quantize --pure (F32 file)" "$work/llama-$t.gguf" stored; done
for t in q8_0 q5_0 q4_0; do row "$(echo $t | tr a-z A-Z)" "swiftlet export --type $t" "$work/swiftlet-$t.gguf" stored; done
echo "swiftlet eval multiplies the blocks' values in fp32; llama.cpp rounds the activations to 8 bits for its Q8_0/Q4_0 products."
