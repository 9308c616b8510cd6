#!/usr/bin/env bash
# Data-parallel speed on this machine: `swiftlet train --preset small` as 1 rank × 1 thread,
# 2 ranks × 1 thread (mpirun) and 1 rank × 2 threads, the same global batch for all three
# (--batch-tokens 4096 in micro-batches of 2048, so each layout does the same work), ROUNDS
# interleaved rounds. A fourth layout is the machine's own ceiling for two cores: two
# independent one-thread processes at once, no MPI (their tokens/s added up) — what two ranks
# would reach if communication cost nothing. For each run: the median tokens/s over steps 3..STEPS (rank 0's
# metrics.jsonl, the figure the progress line shows) and, for 2 ranks, the median time per step
# in collectives (the progress line's `comm`: the gradient all-reduce, the loss sum and the
# step-time agreement, waiting for the slower rank included). Then each round's ratio against
# its own 1 × 1 run, the median ratio, and whether the 2-rank losses match the 1-rank ones.
#   flock /work/cpu.lock bash scripts/mpi-scaling.sh [ROUNDS] [STEPS] [PRECISION]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; steps=${2:-20}; precision=${3:-bf16}
bin=$PWD/.build/release/swiftlet
data=${DATA:-corpora/shakespeare-demo}
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
[ -d "$data" ] || { echo "no $data: make corpora, or DATA=path" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpirun is missing: apt-get install openmpi-bin" >&2; exit 1; }
work=$(mktemp -d /tmp/swiftlet-scaling.XXXXXX)
trap 'rm -rf "$work"' EXIT
allow=(); [ "$(id -u)" -eq 0 ] && allow=(--allow-run-as-root)
common=(train --data "$data" --preset small --steps "$steps" --batch-tokens 4096 --micro-batch-tokens 2048
        --eval-interval 100000 --precision "$precision")

# run NAME COMMAND…: the run's output goes to NAME.log, and NAME.cpu gets its wall seconds, its
# own CPU seconds (the process and every child) and the machine's busy and stolen CPU seconds over
# the run (/proc/stat), so a run that shared the cores with another process shows it. A failed
# run shows its end and stops the script.
cat >"$work/run.py" <<'PY'
import json, os, resource, subprocess, sys, time
def machine():
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:3]) + sum(fields[5:7])) / tick, fields[7] / tick   # user nice system irq softirq; steal
name, command = sys.argv[1], sys.argv[2:]
before, steal_before, start = *machine(), time.time()
with open(f"{name}.log", "w") as log:
    status = subprocess.call(command + ["--out", name], stdout=log, stderr=subprocess.STDOUT)
own = resource.getrusage(resource.RUSAGE_CHILDREN)
after, steal_after = machine()
json.dump({"wall": time.time() - start, "own": own.ru_utime + own.ru_stime, "busy": after - before,
           "steal": steal_after - steal_before}, open(f"{name}.cpu", "w"))
sys.exit(status)
PY
run() {
    local name=$1; shift
    if ! python3 "$work/run.py" "$work/$name" "$@"; then
        echo "$name failed:" >&2; tail -5 "$work/$name.log" >&2; exit 1
    fi
}

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p') model $(lscpu | sed -n 's/^Model: *//p'), $(nproc) cores; Open MPI $(mpirun --version | sed -n 's/.*Open MPI) //p')"
echo "train --preset small --precision $precision --batch-tokens 4096 (2 × 2048), $steps steps; medians over steps 3..$steps"
run warm "$bin" "${common[@]}" --steps 1   # token cache and tokenizer
for round in $(seq 1 "$rounds"); do
    run "one-$round" "$bin" "${common[@]}" --threads 1
    run "two-$round" mpirun "${allow[@]}" -q -np 2 "$bin" "${common[@]}" --threads 1
    run "both-$round" "$bin" "${common[@]}" --threads 2
    # Each on a core of its own, as mpirun binds its two ranks.
    run "pair-a-$round" taskset -c 0 "$bin" "${common[@]}" --threads 1 & a=$!
    run "pair-b-$round" taskset -c 1 "$bin" "${common[@]}" --threads 1 & b=$!
    wait $a || exit 1; wait $b || exit 1
done

python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])

def rows(name):
    return [json.loads(l) for l in open(f"{work}/{name}/metrics.jsonl") if '"train"' in l]

def speed(name):
    timed = [r for r in rows(name) if r["step"] >= 3]
    return statistics.median(r["tokensPerSecond"] for r in timed)

def collectives(name):
    timed = [r for r in rows(name) if r["step"] >= 3]
    return [statistics.median(r[k] for r in timed) * 1000 for k in ("communicationSeconds", "allReduceSeconds", "waitingSeconds")]

def others(name):
    # CPU seconds the machine spent on other processes during the run, and stolen by the host.
    cpu = json.load(open(f"{work}/{name}.cpu"))
    return f"others {max(cpu['busy'] - cpu['own'], 0):.1f} CPU-s, steal {cpu['steal']:.1f} s in {cpu['wall']:.0f} s"

print("each run: median tokens/s; CPU seconds other processes used and the host stole meanwhile")

two_ratios, both_ratios, pair_ratios, worst = [], [], [], 0.0
for i in range(1, rounds + 1):
    one, two, both = speed(f"one-{i}"), speed(f"two-{i}"), speed(f"both-{i}")
    pair_a, pair_b = speed(f"pair-a-{i}"), speed(f"pair-b-{i}")
    pair = pair_a + pair_b
    comm, reduce, wait = collectives(f"two-{i}")
    two_ratios.append(two / one)
    both_ratios.append(both / one)
    pair_ratios.append(pair / one)
    print(f"round {i}:")
    print(f"  1 rank  × 1 thread : {one:6.0f} tok/s         ({others(f'one-{i}')})")
    print(f"  2 ranks × 1 thread : {two:6.0f} tok/s {two / one:.2f}×   ({others(f'two-{i}')})")
    print(f"      per {4096 / two * 1000:.0f} ms step: collectives {comm:.1f} ms = gradient all-reduce {reduce:.1f} ms "
          f"+ waiting for the slower rank {wait:.1f} ms + small sums")
    print(f"  1 rank  × 2 threads: {both:6.0f} tok/s {both / one:.2f}×   ({others(f'both-{i}')})")
    print(f"  2 independent processes × 1 thread, no MPI (the ceiling): {pair:6.0f} tok/s together {pair / one:.2f}× "
          f"(core 0 {pair_a:.0f}, core 1 {pair_b:.0f})")
    single = {r["step"]: r["loss"] for r in rows(f"one-{i}")}
    for r in rows(f"two-{i}"):
        worst = max(worst, abs(r["loss"] - single[r["step"]]) / abs(single[r["step"]]))
print(f"median: 2 ranks × 1 thread {statistics.median(two_ratios):.2f}× one process × 1 thread "
      f"(bar 1.8×: {'met' if statistics.median(two_ratios) >= 1.8 else 'not met'}); "
      f"1 rank × 2 threads {statistics.median(both_ratios):.2f}×; two independent processes {statistics.median(pair_ratios):.2f}×, "
      f"so 2 ranks reach {statistics.median(r / p for r, p in zip(two_ratios, pair_ratios)) * 100:.0f} % of what two cores give")
print(f"loss curves: largest relative difference between 2 ranks and 1 process at any step: {worst:.1e}")
PY
