#!/usr/bin/env bash
# Gemma 3 270M in Swiftlet against llama.cpp on this machine (run under the CPU lock):
#   tokens      llama-tokenize and `swiftlet tokenizer encode` on a held-out text (the movie-review
#               polarity test split, 800 sentences): the number of differing ids (the bar: 0)
# Needs `make gemma` (the file) and scripts/reference-tools.sh (llama.cpp); uses the release
# binary that is there (SWIFTLET=path to choose another), building it if there is none.
set -euo pipefail
cd "$(dirname "$0")/.."
GEMMA=${GEMMA:-$HOME/.cache/swiftlet/models/gemma-3-270m-q4_k_m.gguf}
[ -f "$GEMMA" ] || { echo "gemma-check: $GEMMA is missing: run make gemma" >&2; exit 1; }
tools=$(bash scripts/reference-tools.sh | tail -2)
LLAMA=$(echo "$tools" | sed -n 's/^llama=//p')
BIN=${SWIFTLET:-.build/release/swiftlet}
[ -x "$BIN" ] || swift build -c release >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
TEXT=${TEXT:-corpora/polarity/test.csv}

echo "== tokens of $TEXT ($(wc -c <"$TEXT") bytes)"
"$LLAMA/llama-tokenize" -m "$GEMMA" -f "$TEXT" --ids --no-escape --no-parse-special --log-disable 2>/dev/null | tail -1 \
    | tr -d '[],' | tr ' ' '\n' | grep -v '^$' >"$work/llama.ids"
"$BIN" tokenizer encode -m "$GEMMA" --ids <"$TEXT" | tr ' ' '\n' | grep -v '^$' >"$work/swiftlet.ids"
llama_count=$(wc -l <"$work/llama.ids"); swiftlet_count=$(wc -l <"$work/swiftlet.ids")
differing=$(paste -d' ' "$work/llama.ids" "$work/swiftlet.ids" | awk '$1 != $2' | wc -l)
echo "llama-tokenize $llama_count ids, swiftlet $swiftlet_count ids, $differing positions differ"
[ "$differing" = 0 ] && [ "$llama_count" = "$swiftlet_count" ] && echo "PASS  same tokens" || echo "FAIL  tokens differ"
