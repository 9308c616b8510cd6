#!/usr/bin/env bash
# `swiftlet serve` against the official openai Python client (in its own venv under
# ~/.cache/swiftlet-tools/openai-venv): models, chat and completions, streamed and not,
# logprobs, seeds, embeddings and errors; then a load test — 16 concurrent clients for 60 s on
# loopback, mixing streamed and whole chat and completions through the official client, some
# leaving mid-stream — that checks every response, and at the end that no sequence, queued
# request or KV block is left in use; greedy output alone and among 15 others, and the same as
# `swiftlet generate --temperature 0`; and a clean exit on Ctrl-C.
#   flock /work/cpu.lock bash scripts/serve-check.sh [CHECKPOINT] [SECONDS]
# Without a checkpoint it trains a tiny chat model first (checkpoints/serve-check-tiny, ~1 min).
set -euo pipefail
source "$(dirname "$0")/serve-lib.sh"
CHECKPOINT=${1:-}
SECONDS_OF_LOAD=${2:-60}

build_swiftlet
setup_client_venv
if [ -z "$CHECKPOINT" ]; then
    CHECKPOINT=$ROOT/checkpoints/serve-check-tiny
    if [ ! -f "$CHECKPOINT/config.json" ]; then
        say "training a tiny chat model into $CHECKPOINT"
        (cd "$ROOT" && bash corpora/fetch.sh && bash corpora/fetch-chatterbot.sh) >/dev/null
        "$BIN" train --data "$ROOT/corpora/shakespeare-demo" --preset tiny --steps 300 --out "$WORK/base" >/dev/null 2>&1
        "$BIN" finetune --checkpoint "$WORK/base" --data "$ROOT/corpora/chatterbot" --steps 100 --out "$CHECKPOINT" >/dev/null 2>&1
    fi
fi

KEY=sk-swiftlet-check-$RANDOM$RANDOM
start_swiftlet "$CHECKPOINT" --parallel 8 --api-key "$KEY" --name check-model
URL=http://127.0.0.1:$PORT/v1
say "server on $URL"
"$PY" "$CLIENT" check --base-url "$URL" --api-key "$KEY" --model check-model
"$BIN" generate --checkpoint "$CHECKPOINT" --prompt "ROMEO:" --temperature 0 --max-tokens 48 >"$WORK/generate.txt"
"$PY" "$CLIENT" same --base-url "$URL" --api-key "$KEY" --model check-model --max-tokens 48 --prompt "ROMEO:" \
    --generate-text "$WORK/generate.txt"
say "load: 16 clients for ${SECONDS_OF_LOAD}s through the official client (mixed requests, 10% leave mid-stream)"
"$PY" "$CLIENT" load --base-url "$URL" --api-key "$KEY" --model check-model --client openai --kind mixed \
    --clients 16 --seconds "$SECONDS_OF_LOAD" --max-tokens 64 --disconnect-fraction 0.1
"$PY" "$CLIENT" idle --base-url "$URL" --api-key "$KEY" --model check-model
stop_server "$SERVER_PID"
say "all checks passed; the server stopped cleanly on Ctrl-C"
