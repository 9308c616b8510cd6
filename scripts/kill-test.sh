#!/usr/bin/env bash
# kill -9 of `swiftlet train` at random moments, half of them while a checkpoint save is under
# way (its .NAME.tmp-<random> directory exists). Every survivor must load (`info`), evaluate
# (`eval`) and resume (`train --resume`) to the same final weights and optimizer state, byte for
# byte, as an uninterrupted run. Run it under the CPU lock:
#   flock /work/cpu.lock bash scripts/kill-test.sh [TRIALS]
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-20}
[[ -x .build/release/swiftlet ]] || swift build -c release
exec python3 - "$trials" <<'PY'
import glob, os, random, shutil, signal, subprocess, sys, tempfile, time

trials = int(sys.argv[1])
binary = os.path.abspath(".build/release/swiftlet")
work = tempfile.mkdtemp(prefix="swiftlet-kill-test-")
env = dict(os.environ, SWIFTLET_CACHE=os.path.join(work, "cache"))
random.seed(12)

# A small corpus of its own, so the script needs nothing fetched.
words = "the king queen speaks of love and war my lord good night sweet prince what is this that I you shall not be".split()
with open(os.path.join(work, "corpus.txt"), "w") as f:
    for i in range(3000):
        f.write(" ".join(random.choice(words) for _ in range(random.randint(3, 12))) + ".\n")
corpus = os.path.join(work, "corpus.txt")
steps = 120
def train_args(out, extra=()):
    return [binary, "train", "--data", corpus, "--preset", "tiny", "--vocab-size", "320", "--context", "64",
            "--batch-tokens", "512", "--steps", str(steps), "--save-interval", "2", "--eval-interval", "10",
            "--out", out, *extra]

def run(args):
    return subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

reference = os.path.join(work, "reference")
r = run(train_args(reference))
assert r.returncode == 0, r.stderr
def final(directory):
    return [open(os.path.join(directory, name), "rb").read() for name in ("model.safetensors", "optimizer.safetensors")]
expected = final(reference)

cpu = {k.strip(): v.strip() for k, _, v in (l.partition(":") for l in open("/proc/cpuinfo").read().split("\n\n")[0].splitlines())}
print(f"CPU: {cpu.get('model name')} (family {cpu.get('cpu family')}, model {cpu.get('model')}), {os.cpu_count()} cores; "
      f"{trials} kills of train (tiny preset, {steps} steps, a save every 2)")
results = []
trial = 0
while len(results) < trials:
    trial += 1
    out = os.path.join(work, f"run{trial}")
    parent, name = os.path.split(out)
    in_save_wanted = len(results) % 2 == 0
    process = subprocess.Popen(train_args(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Arm only once a first checkpoint exists (before that there is nothing to recover).
    while process.poll() is None and not os.path.exists(os.path.join(out, "config.json")):
        time.sleep(0.001)
    if in_save_wanted:
        # Wait for a save, at a random one of the next few, then kill inside it.
        skip = random.randint(0, 6)
        seen = False
        while process.poll() is None:
            busy = bool(glob.glob(os.path.join(parent, "." + name + ".tmp-*")))
            if busy and not seen:
                if skip == 0:
                    time.sleep(random.uniform(0, 0.004))
                    break
                skip -= 1
            seen = busy
    else:
        time.sleep(random.uniform(0, 0.6))
    if process.poll() is not None:
        shutil.rmtree(out, ignore_errors=True)
        continue  # finished before the kill: not a trial
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    temporaries = glob.glob(os.path.join(parent, "." + name + ".tmp-*"))
    inside_save = bool(temporaries) or (os.path.exists(out + ".old"))
    only_old = os.path.exists(out + ".old") and not os.path.exists(os.path.join(out, "config.json"))
    info = run([binary, "info", out])
    killed_at = next((l.split(": ")[1] for l in info.stdout.splitlines() if l.startswith("training.steps")), "?")
    evaluated = run([binary, "eval", "--checkpoint", out, "--data", corpus, "--max-tokens", "4000"])
    resumed = run(train_args(out, ["--resume"]))
    identical = resumed.returncode == 0 and final(out) == expected
    leftovers = glob.glob(os.path.join(parent, "." + name + ".tmp-*")) + ([out + ".old"] if os.path.exists(out + ".old") else [])
    ok = info.returncode == 0 and evaluated.returncode == 0 and identical and not leftovers
    results.append((ok, inside_save))
    where = "inside a save" + (" (between its renames: NAME.old only)" if only_old else "") if inside_save else "between saves"
    print(f"kill {len(results):2d}: at step {killed_at:>3s}, {where:50s} info {'ok' if info.returncode == 0 else 'FAILED'}, "
          f"eval {'ok' if evaluated.returncode == 0 else 'FAILED'}, resumed to {'identical' if identical else 'DIFFERENT'} weights"
          + (f"; left behind {leftovers}" if leftovers else ""))
    if not ok:
        print(info.stderr, evaluated.stderr, resumed.stderr)
    shutil.rmtree(out, ignore_errors=True)

recovered = sum(ok for ok, _ in results)
inside = sum(s for _, s in results)
print(f"kill-test: {recovered} of {len(results)} kills recoverable ({inside} inside a save), "
      f"every survivor {'resumed to weights identical to' if recovered == len(results) else 'NOT all identical to'} an uninterrupted run")
shutil.rmtree(work, ignore_errors=True)
sys.exit(0 if recovered == len(results) and inside >= len(results) // 2 else 1)
PY
