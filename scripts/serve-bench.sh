#!/usr/bin/env bash
# The README's `swiftlet serve` figures, on loopback:
#   1. streamed chat: 1 client, then 16 concurrent clients, each for SECONDS, ROUNDS times
#      interleaved; aggregate generated tokens/s, their ratio, time to first token p50/p99,
#      failed requests (there must be none);
#   2. greedy output of a request alone and among 15 others (must match);
#   3. against llama.cpp's llama-server on the same model as a GGUF (`swiftlet export --format
#      gguf`), with the same slots (16) and threads (2): 16 concurrent streamed completion
#      clients against each server, interleaved, in this one run. Needs scripts/reference-tools.sh
#      (it builds llama-server from PyPI's llama-cpp-python source distribution); skipped with a
#      note when either is missing.
#   flock /work/cpu.lock bash scripts/serve-bench.sh CHECKPOINT [SECONDS] [ROUNDS]
set -euo pipefail
source "$(dirname "$0")/serve-lib.sh"
CHECKPOINT=${1:?usage: serve-bench.sh CHECKPOINT [SECONDS] [ROUNDS]}
SECONDS_EACH=${2:-60}
ROUNDS=${3:-1}
CLIENTS=16
MAX_TOKENS=128
# The same sampling for both servers (llama-server's defaults), sent with every request.
SAMPLING=(--temperature 0.8)

build_swiftlet
setup_client_venv
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
family=$(grep -m1 "cpu family" /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
model=$(grep -m1 "^model" /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
say "CPU: $cpu (family $family model $model), $(nproc) cores; checkpoint $CHECKPOINT"
RESULTS=$WORK/results.jsonl

load() {  # load URL MODEL LABEL CLIENTS KIND [more options]
    local url=$1 name=$2 label=$3 clients=$4 kind=$5
    shift 5
    "$PY" "$CLIENT" load --base-url "$url" --model "$name" --label "$label" --clients "$clients" --kind "$kind" \
        --seconds "$SECONDS_EACH" --max-tokens "$MAX_TOKENS" "${SAMPLING[@]}" "$@" | tee -a "$RESULTS"
}

start_swiftlet "$CHECKPOINT" --parallel "$CLIENTS" --name bench
SWIFTLET=http://127.0.0.1:$PORT/v1
SWIFTLET_PID=$SERVER_PID
for round in $(seq 1 "$ROUNDS"); do
    load "$SWIFTLET" bench "swiftlet chat, 1 client" 1 chat-stream
    load "$SWIFTLET" bench "swiftlet chat, $CLIENTS clients" "$CLIENTS" chat-stream
done
"$PY" "$CLIENT" same --base-url "$SWIFTLET" --model bench --max-tokens "$MAX_TOKENS" | tee -a "$RESULTS"
"$PY" "$CLIENT" idle --base-url "$SWIFTLET" --model bench

LLAMA_TOOLS=$ROOT/scripts/reference-tools.sh
if ! "$BIN" export --help >/dev/null 2>&1 || [ ! -f "$LLAMA_TOOLS" ]; then
    say "llama-server comparison skipped: it needs \`swiftlet export --format gguf\` and scripts/reference-tools.sh"
else
    llama_dir=$(bash "$LLAMA_TOOLS" | sed -n 's/^llama=//p')
    "$BIN" export --checkpoint "$CHECKPOINT" --format gguf --out "$WORK/model.gguf" >&2
    context=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['model']['contextLength'])" "$CHECKPOINT/config.json")
    llama_port=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
    # The same slots, a full context each, and the same two threads.
    "$llama_dir/bin/llama-server" -m "$WORK/model.gguf" --host 127.0.0.1 --port "$llama_port" -np "$CLIENTS" \
        -c $((CLIENTS * context)) -t "$(nproc)" -tb "$(nproc)" --no-webui >"$WORK/llama.log" 2>&1 &
    LLAMA_PID=$!
    SERVER_PIDS+=("$LLAMA_PID")
    for _ in $(seq 1 300); do
        curl -sf "http://127.0.0.1:$llama_port/health" >/dev/null 2>&1 && break
        sleep 0.2
    done
    LLAMA=http://127.0.0.1:$llama_port/v1
    for round in $(seq 1 "$ROUNDS"); do
        load "$SWIFTLET" bench "swiftlet completions, $CLIENTS clients" "$CLIENTS" completion-stream
        load "$LLAMA" bench "llama-server completions, $CLIENTS clients" "$CLIENTS" completion-stream
    done
    kill -INT "$LLAMA_PID"
    wait "$LLAMA_PID" || true
fi
stop_server "$SWIFTLET_PID"

"$PY" - "$RESULTS" <<'SUMMARY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
runs = [r for r in rows if "label" in r]
def rate(label):
    return [r["tokens_per_s"] for r in runs if r["label"] == label]
print("\nsummary")
for r in runs:
    print(f"  {r['label']:38s} {r['tokens_per_s']:9.1f} tokens/s  ttft p50 {r['ttft_p50_ms']:7.1f} ms  p99 {r['ttft_p99_ms']:7.1f} ms  "
          f"{r['requests']} requests, {r['failed']} failed, client CPU {r['client_cpu_s']} s")
one, many = rate("swiftlet chat, 1 client"), rate("swiftlet chat, 16 clients")
print(f"  16 clients / 1 client (streamed chat): " + ", ".join(f"{m / o:.2f}x" for o, m in zip(one, many)))
ours, theirs = rate("swiftlet completions, 16 clients"), rate("llama-server completions, 16 clients")
if ours and theirs:
    print(f"  swiftlet / llama-server at 16 clients: " + ", ".join(f"{a / b:.2f}x" for a, b in zip(ours, theirs)))
SUMMARY
