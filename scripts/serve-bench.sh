#!/usr/bin/env bash
# The README's `swiftlet serve` figures, on loopback, in one run:
#   1. streamed chat: 1 client, then 16 concurrent clients, each for SECONDS, ROUNDS times
#      interleaved; aggregate generated tokens/s, their ratio, time to first token p50/p99,
#      time per output token p50/p99, failed requests (there must be none);
#   2. greedy output: a chat request and a completion alone and among 15 others (must match),
#      and the completion against what `swiftlet generate --temperature 0` prints (must match);
#   3. against llama.cpp's llama-server on the same model as a GGUF (`swiftlet export --format
#      gguf`, f32 as Swiftlet's fp32 weights), with the same slots (16) and threads (2):
#      streamed completions with 1 and with 16 concurrent clients against each server, the runs
#      interleaved (Swiftlet 1, llama 1, Swiftlet 16, llama 16, each round), the same sampling
#      sent with every request; tokens/s, time to first token and per token, and the ratios.
#      llama-server comes from scripts/reference-tools.sh (built from PyPI's llama-cpp-python
#      source distribution, several minutes the first time).
#   flock /work/cpu.lock bash scripts/serve-bench.sh [CHECKPOINT] [SECONDS] [ROUNDS]
# Without a checkpoint it trains one (checkpoints/serve-bench-small: the small preset, BPE
# tokenizer — the type llama.cpp tokenizes as Swiftlet does — 3 minutes on corpora/shakespeare).
set -euo pipefail
source "$(dirname "$0")/serve-lib.sh"
CHECKPOINT=${1:-}
SECONDS_EACH=${2:-60}
ROUNDS=${3:-1}
CLIENTS=16
MAX_TOKENS=128
# The same sampling for both servers (llama-server's defaults), sent with every request.
SAMPLING=(--temperature 0.8 --top-k 40 --top-p 0.95 --min-p 0.05)

build_swiftlet
setup_client_venv
if [ -z "$CHECKPOINT" ]; then
    CHECKPOINT=$ROOT/checkpoints/serve-bench-small
    if [ ! -f "$CHECKPOINT/config.json" ]; then
        say "training the small preset for 3 minutes into $CHECKPOINT"
        (cd "$ROOT" && bash corpora/fetch.sh) >/dev/null
        "$BIN" train --data "$ROOT/corpora/shakespeare" --preset small --time 3m --tokenizer-type bpe --out "$CHECKPOINT" >/dev/null 2>&1
    fi
fi
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
family=$(grep -m1 "cpu family" /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
model=$(grep -m1 "^model" /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
say "CPU: $cpu (family $family model $model), $(nproc) cores; checkpoint $CHECKPOINT"
RESULTS=$WORK/results.jsonl

load() {  # load URL LABEL CLIENTS KIND SERVER_PID
    "$PY" "$CLIENT" load --base-url "$1" --model bench --label "$2" --clients "$3" --kind "$4" --server-pid "$5" \
        --seconds "$SECONDS_EACH" --max-tokens "$MAX_TOKENS" "${SAMPLING[@]}" | tee -a "$RESULTS"
}

start_swiftlet "$CHECKPOINT" --parallel "$CLIENTS" --name bench
SWIFTLET=http://127.0.0.1:$PORT/v1
SWIFTLET_PID=$SERVER_PID
for round in $(seq 1 "$ROUNDS"); do
    load "$SWIFTLET" "swiftlet chat, 1 client" 1 chat-stream "$SWIFTLET_PID"
    load "$SWIFTLET" "swiftlet chat, $CLIENTS clients" "$CLIENTS" chat-stream "$SWIFTLET_PID"
done
PROMPT="ROMEO:"
"$BIN" generate --checkpoint "$CHECKPOINT" --prompt "$PROMPT" --temperature 0 --max-tokens "$MAX_TOKENS" >"$WORK/generate.txt"
"$PY" "$CLIENT" same --base-url "$SWIFTLET" --model bench --max-tokens "$MAX_TOKENS" --prompt "$PROMPT" \
    --generate-text "$WORK/generate.txt" | tee -a "$RESULTS"
"$PY" "$CLIENT" idle --base-url "$SWIFTLET" --model bench

llama_dir=$(bash "$ROOT/scripts/reference-tools.sh" | sed -n 's/^llama=//p')
"$BIN" export "$CHECKPOINT" --format gguf --type f32 -o "$WORK/model.gguf" >&2
context=$(curl -sf "$SWIFTLET/models/bench" | "$PY" -c "import json, sys; print(json.load(sys.stdin)['context_length'])")
llama_port=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
# The same slots, a full context each, the same two threads; its own model name in the API.
"$llama_dir/bin/llama-server" -m "$WORK/model.gguf" --alias bench --host 127.0.0.1 --port "$llama_port" -np "$CLIENTS" \
    -c $((CLIENTS * context)) -t "$(nproc)" -tb "$(nproc)" --no-webui >"$WORK/llama.log" 2>&1 &
LLAMA_PID=$!
SERVER_PIDS+=("$LLAMA_PID")
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$llama_port/health" >/dev/null 2>&1 && break
    kill -0 "$LLAMA_PID" 2>/dev/null || { cat "$WORK/llama.log" >&2; say "llama-server did not start"; exit 1; }
    sleep 0.2
done
LLAMA=http://127.0.0.1:$llama_port/v1
for round in $(seq 1 "$ROUNDS"); do
    for clients in 1 "$CLIENTS"; do
        load "$SWIFTLET" "swiftlet completions, $clients" "$clients" completion-stream "$SWIFTLET_PID"
        load "$LLAMA" "llama-server completions, $clients" "$clients" completion-stream "$LLAMA_PID"
    done
done
kill -INT "$LLAMA_PID"
wait "$LLAMA_PID" || true
"$PY" "$CLIENT" idle --base-url "$SWIFTLET" --model bench
stop_server "$SWIFTLET_PID"

"$PY" - "$RESULTS" "$CLIENTS" <<'SUMMARY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
clients = int(sys.argv[2])
runs = [r for r in rows if "label" in r]
def values(label, key):
    return [r[key] for r in runs if r["label"] == label]
print("\nsummary (tokens/s: generated tokens over the run; ttft: time to first token; tpot: time per output token after it)")
for r in runs:
    print(f"  {r['label']:30s} {r['tokens_per_s']:8.1f} tokens/s  ttft p50 {r['ttft_p50_ms']:7.1f} p99 {r['ttft_p99_ms']:7.1f} ms  "
          f"tpot p50 {r['tpot_p50_ms']:6.2f} p99 {r['tpot_p99_ms']:6.2f} ms  {r['requests']} requests, {r['failed']} failed; "
          f"CPU s: server {r.get('server_cpu_s')}, client {r['client_cpu_s']}, other {r.get('other_cpu_s')}")
def ratios(a, b):
    return ", ".join(f"{x / y:.2f}x" for x, y in zip(a, b) if y) or "n/a"
one, many = values("swiftlet chat, 1 client", "tokens_per_s"), values(f"swiftlet chat, {clients} clients", "tokens_per_s")
print(f"  streamed chat, {clients} clients / 1 client (tokens/s): {ratios(many, one)}")
for n in (1, clients):
    ours, theirs = f"swiftlet completions, {n}", f"llama-server completions, {n}"
    print(f"  swiftlet / llama-server, {n:2d} client(s): tokens/s {ratios(values(ours, 'tokens_per_s'), values(theirs, 'tokens_per_s'))}; "
          f"ttft p50 {ratios(values(ours, 'ttft_p50_ms'), values(theirs, 'ttft_p50_ms'))}, p99 {ratios(values(ours, 'ttft_p99_ms'), values(theirs, 'ttft_p99_ms'))}; "
          f"tpot p50 {ratios(values(ours, 'tpot_p50_ms'), values(theirs, 'tpot_p50_ms'))}, p99 {ratios(values(ours, 'tpot_p99_ms'), values(theirs, 'tpot_p99_ms'))} (lower is faster)")
failed = sum(r["failed"] for r in runs)
print(f"  failed requests: {failed}")
SUMMARY
