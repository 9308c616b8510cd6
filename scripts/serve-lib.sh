# Shared by serve-check.sh and serve-bench.sh (sourced): the client venv, and starting and
# stopping `swiftlet serve` (and llama-server) on a free loopback port.
TOOLS=${SWIFTLET_TOOLS:-$HOME/.cache/swiftlet-tools}
CLIENT_VENV=$TOOLS/openai-venv
OPENAI_VERSION=3.57.0
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/.build/release/swiftlet
PY=$CLIENT_VENV/bin/python
CLIENT=$ROOT/scripts/serve_client.py
WORK=$(mktemp -d /tmp/swiftlet-serve-XXXXXX)
SERVER_PIDS=()

say() { echo "$(basename "$0"): $*" >&2; }

cleanup() {
    for pid in "${SERVER_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The official openai client (and the httpx it is built on) in a venv of its own, once.
setup_client_venv() {
    if ! "$PY" -c "import openai; assert openai.__version__ == '$OPENAI_VERSION'" 2>/dev/null; then
        say "installing openai $OPENAI_VERSION into $CLIENT_VENV"
        python3 -m venv "$CLIENT_VENV"
        "$PY" -m pip install -q --disable-pip-version-check "openai==$OPENAI_VERSION"
    fi
}

build_swiftlet() {
    if [ ! -x "$BIN" ] || [ -n "$(find "$ROOT/Sources" -newer "$BIN" -name '*.swift' -print -quit)" ]; then
        say "building swiftlet"
        (cd "$ROOT" && swift build -c release >/dev/null)
    fi
}

# start_swiftlet CHECKPOINT [serve options...]: sets PORT and SERVER_PID.
start_swiftlet() {
    local checkpoint=$1
    shift
    local log=$WORK/swiftlet-$RANDOM.log
    "$BIN" serve --checkpoint "$checkpoint" --port 0 "$@" 2>"$log" &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    for _ in $(seq 1 300); do
        PORT=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/v1.*|\1|p' "$log" | head -1)
        [ -n "$PORT" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log" >&2
    say "swiftlet serve did not start"
    exit 1
}

# stop_server PID: Ctrl-C, and the exit status must be 0.
stop_server() {
    kill -INT "$1"
    local status=0
    wait "$1" || status=$?
    SERVER_PIDS=("${SERVER_PIDS[@]/$1}")
    [ "$status" = 0 ] || { say "the server exited with status $status after Ctrl-C"; exit 1; }
}
