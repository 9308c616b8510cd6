#!/usr/bin/env bash
# Two hosts of this machine: network namespaces swl-a (10.77.0.1) and swl-b (10.77.0.2), joined
# by a veth pair, each with a hostname of its own. mpirun runs in swl-a and starts the second
# rank in swl-b through a launch agent (in place of ssh); Open MPI carries everything over TCP on
# the veth link (no shared memory between the ranks). The check: 20 steps on 2 ranks match one
# process drawing the same global batch — every step's loss within 1e-5 relative, the final
# weights within 1e-5 (scripts/mpi-compare.py). Needs root (ip netns). Run it under the CPU lock:
#   flock /work/cpu.lock bash scripts/mpi-two-hosts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/.build/release/swiftlet
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "mpi-two-hosts.sh makes network namespaces: run it as root" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpirun is missing: apt-get install openmpi-bin" >&2; exit 1; }
work=$(mktemp -d /tmp/swiftlet-two-hosts.XXXXXX)

cleanup() {
    ip netns del swl-a 2>/dev/null || true
    ip netns del swl-b 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cleanup; work=$(mktemp -d /tmp/swiftlet-two-hosts.XXXXXX)

ip netns add swl-a
ip netns add swl-b
ip link add swl-va type veth peer name swl-vb
ip link set swl-va netns swl-a
ip link set swl-vb netns swl-b
ip -n swl-a addr add 10.77.0.1/24 dev swl-va
ip -n swl-b addr add 10.77.0.2/24 dev swl-vb
for ns in swl-a swl-b; do
    ip -n $ns link set lo up
done
ip -n swl-a link set swl-va up
ip -n swl-b link set swl-vb up
ip netns exec swl-a ping -c 1 -W 2 10.77.0.2 >/dev/null

# The launch agent mpirun calls as it would call ssh: agent HOST COMMAND…
cat >"$work/agent.sh" <<'AGENT'
#!/usr/bin/env bash
host=$1; shift
case $host in
    10.77.0.1) ns=swl-a ;;
    10.77.0.2) ns=swl-b ;;
    *) echo "unknown host $host" >&2; exit 1 ;;
esac
exec ip netns exec $ns unshare --uts bash -c "hostname $ns; $*"
AGENT
chmod +x "$work/agent.sh"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' >"$work/hosts"

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

echo "one process, two micro-batches of 256 rows per step:"
"$bin" "${common[@]}" --micro-batch-tokens 256 --out "$work/single" 2>&1 | grep -E "^(model|batch|step 20|saved)" || true

echo "two hosts over TCP (rank 0 in swl-a, rank 1 in swl-b), 256 rows each per step:"
allow=(); [ "$(id -u)" -eq 0 ] && allow=(--allow-run-as-root)
ip netns exec swl-a unshare --uts bash -c "hostname swl-a; exec mpirun ${allow[*]} -q -np 2 --hostfile $work/hosts \
    --mca plm_rsh_agent $work/agent.sh --mca plm_rsh_no_tree_spawn 1 \
    --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
    -x SWIFTLET_CACHE -x PATH \
    bash -c 'echo \"rank \$OMPI_COMM_WORLD_RANK on \$(hostname)\" >&2; exec $bin ${common[*]} --micro-batch-tokens 512 --out $work/ranks'" 2>&1 \
    | grep -E "^(rank|data parallel|step 20|saved|swiftlet)" || true

python3 "$root/scripts/mpi-compare.py" "$work/single" "$work/ranks" 1e-5
