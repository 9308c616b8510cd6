#!/usr/bin/env bash
# Two hosts of this machine: network namespaces swl-a (10.77.0.1) and swl-b (10.77.0.2), joined
# by a veth pair, each with a hostname of its own (a UTS namespace). mpirun runs in swl-a and
# starts the second rank's Open MPI daemon in swl-b through a launch agent (in place of ssh);
# Open MPI carries everything over TCP on the veth link (btl tcp,self: no shared memory between
# the ranks, which Open MPI sees as two nodes).
#  1. The check: 20 steps on 2 ranks match one process drawing the same global batch — every
#     step's loss within 1e-5 relative, the final weights within 1e-5 (scripts/mpi-compare.py).
#  2. The cost: the `small` preset's gradient all-reduce (7.2M floats, 28.8 MB) over TCP per step,
#     against the same two ranks over shared memory on one host.
# Needs root (ip netns). Run it under the CPU lock:
#   flock /work/cpu.lock bash scripts/mpi-two-hosts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/.build/release/swiftlet
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "mpi-two-hosts.sh makes network namespaces: run it as root" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpirun is missing: apt-get install openmpi-bin" >&2; exit 1; }
for ns in swl-a swl-b; do
    if ip netns list | grep -qw "$ns"; then echo "network namespace $ns exists already (another run?): ip netns del $ns" >&2; exit 1; fi
done
work=$(mktemp -d /tmp/swiftlet-two-hosts.XXXXXX)
cleanup() {
    ip netns del swl-a 2>/dev/null || true   # takes the veth pair with it
    ip netns del swl-b 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ip netns add swl-a
ip netns add swl-b
ip link add swl-va type veth peer name swl-vb
ip link set swl-va netns swl-a
ip link set swl-vb netns swl-b
ip -n swl-a addr add 10.77.0.1/24 dev swl-va
ip -n swl-b addr add 10.77.0.2/24 dev swl-vb
for ns in swl-a swl-b; do ip -n $ns link set lo up; done
ip -n swl-a link set swl-va up
ip -n swl-b link set swl-vb up
ip -n swl-a route get 10.77.0.2 >/dev/null   # the link is up and routed (no ping on a minimal system)

# host.sh NAME COMMAND…: COMMAND with this UTS namespace's hostname set to NAME.
cat >"$work/host.sh" <<'HOST'
#!/usr/bin/env bash
hostname "$1"; shift
exec "$@"
HOST
# The launch agent mpirun calls as it would call ssh: agent HOST COMMAND-WORDS… (one shell line).
cat >"$work/agent.sh" <<AGENT
#!/usr/bin/env bash
host=\$1; shift
case \$host in
    10.77.0.1) ns=swl-a ;;
    10.77.0.2) ns=swl-b ;;
    *) echo "unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec \$ns unshare --uts "$work/host.sh" \$ns bash -c "\$*"
AGENT
# rank.sh ARGS…: says where this rank runs, then is swiftlet on a core of its own: each "host"
# sees both cores, and Open MPI would bind each host's first rank to core 0 — both on one core.
cat >"$work/rank.sh" <<RANK
#!/usr/bin/env bash
core=\$(( OMPI_COMM_WORLD_RANK % \$(nproc) ))
echo "rank \$OMPI_COMM_WORLD_RANK on host \$(hostname), \$(ip -4 -o addr show scope global | awk '{print \$4}'), core \$core" >&2
exec taskset -c \$core "$bin" "\$@"
RANK
chmod +x "$work/host.sh" "$work/agent.sh" "$work/rank.sh"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' >"$work/hosts"

# two_hosts LOG ARGS…: swiftlet ARGS… as rank 0 in swl-a and rank 1 in swl-b, over TCP.
two_hosts() {
    local log=$1; shift
    if ! ip netns exec swl-a unshare --uts "$work/host.sh" swl-a \
        mpirun --allow-run-as-root -q -np 2 --hostfile "$work/hosts" --bind-to none \
            --mca plm_rsh_agent "$work/agent.sh" --mca plm_rsh_no_tree_spawn 1 \
            --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
            -x SWIFTLET_CACHE -x PATH \
            "$work/rank.sh" "$@" >"$log" 2>&1; then
        echo "the two-host run failed:" >&2; tr '\r' '\n' <"$log" | tail -15 >&2; exit 1
    fi
    grep -E "^rank [0-9] on host" "$log" | sort
}

# The same data and settings as the make-test check, a little longer text.
python3 - "$work/corpus.txt" <<'PY'
import random, sys
random.seed(3)
words = "the king queen castle river stone light dark sword crown night morning field horse song".split()
with open(sys.argv[1], "w") as f:
    for _ in range(1500):
        f.write(" ".join(random.choice(words) for _ in range(random.randint(4, 14))) + ".\n")
PY
common=(train --data "$work/corpus.txt" --preset tiny --vocab-size 320 --context 64 --steps 20 --batch-tokens 512
        --eval-interval 10 --dropout 0.1 --precision fp32 --threads 1)
export SWIFTLET_CACHE=$work/cache

echo "1. one process, two micro-batches of 256 rows per step, against two hosts over TCP, 256 rows each:"
"$bin" "${common[@]}" --micro-batch-tokens 256 --out "$work/single" >"$work/single.log" 2>&1 \
    || { tail -5 "$work/single.log" >&2; exit 1; }
two_hosts "$work/ranks.log" "${common[@]}" --micro-batch-tokens 512 --out "$work/ranks"
tr '\r' '\n' <"$work/ranks.log" | grep -E "^data parallel" || true
python3 "$root/scripts/mpi-compare.py" "$work/single" "$work/ranks" 1e-5

echo "2. the small preset's gradient all-reduce per step (2 ranks × 1 thread, 2 × 2048 tokens, bf16, steps 3..12):"
data=${DATA:-$root/corpora/shakespeare-demo}
[ -d "$data" ] || { echo "no $data: make corpora, or DATA=path" >&2; exit 1; }
small=(train --data "$data" --preset small --steps 12 --batch-tokens 4096 --micro-batch-tokens 2048 --eval-interval 100000 --threads 1)
two_hosts "$work/tcp.log" "${small[@]}" --out "$work/tcp" >/dev/null
mpirun --allow-run-as-root -q -np 2 "$bin" "${small[@]}" --out "$work/shm" >"$work/shm.log" 2>&1 \
    || { tr '\r' '\n' <"$work/shm.log" | tail -5 >&2; exit 1; }
python3 - "$work" <<'PY'
import json, math, statistics, sys
work = sys.argv[1]
def figures(name):
    rows = [json.loads(l) for l in open(f"{work}/{name}/metrics.jsonl") if '"train"' in l and json.loads(l)["step"] >= 3]
    return [statistics.median(r[k] for r in rows) for k in ("allReduceSeconds", "waitingSeconds", "tokensPerSecond")]
def parameters(directory):
    with open(f"{directory}/model.safetensors", "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    return sum(math.prod(t["shape"]) for n, t in header.items() if n != "__metadata__")
count = parameters(f"{work}/tcp")
megabytes = count * 4 / 1e6   # the gradient arena is fp32
print(f"  {count:,} parameters: {megabytes:.1f} MB of gradient per step")
for name, what in (("tcp", "two hosts, TCP over the veth link"), ("shm", "one host, shared memory   ")):
    reduce, wait, tps = figures(name)
    print(f"  {what}: all-reduce {reduce * 1000:6.1f} ms ({megabytes / 1000 / reduce:.2f} GB/s of gradient), "
          f"waiting {wait * 1000:.1f} ms, {tps:.0f} tok/s")
PY
