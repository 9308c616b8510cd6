#!/usr/bin/env python3
"""An estimate, not a measurement: what N machines would give for data-parallel training, from
one machine's measured training speed and the ring all-reduce's cost.

Each machine runs one rank with all its cores and trains `--tokens-per-rank` tokens of every
step (the global batch grows with N). A step costs the rank's compute plus the gradient
all-reduce, which Swiftlet does not overlap with the backward:

    all-reduce = 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency      (ring)

with bytes = 4 * parameters (the fp32 gradient arena). Speed-up = N * compute / (compute +
all-reduce). The straggler wait (the slowest of N ranks sets the step) is left out: it grows
with N and with how noisy the machines are, and is measured on two ranks by mpi-scaling.sh.

    python3 scripts/mpi-estimate.py --speed small=5500 --speed medium=1560 --speed base=700 [--faster 16]
"""
import argparse

PARAMETERS = {"small": 7_155_360, "medium": 27_402_752, "base": 54_817_920}  # default vocabularies


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speed", action="append", required=True, metavar="PRESET=TOKENS_PER_S",
                        help="one machine's measured training tokens/s for a preset")
    parser.add_argument("--tokens-per-rank", type=int, default=4096, help="tokens each rank trains per step")
    parser.add_argument("--latency-us", type=float, default=50, help="one message's latency (TCP over Ethernet: tens of µs)")
    parser.add_argument("--faster", type=float, default=1,
                        help="machines this many times as fast as the measured one (e.g. 16 for 32 cores, if speed grew with cores)")
    parser.add_argument("--machines", default="8,32,64")
    parser.add_argument("--gbits", default="10,100", help="network line rates in Gb/s")
    args = parser.parse_args()
    speeds = {name: float(value) * args.faster for name, value in (item.split("=") for item in args.speed)}
    machines = [int(n) for n in args.machines.split(",")]
    rates = [float(g) for g in args.gbits.split(",")]

    print(f"| preset (fp32 gradient) | compute per step ({args.tokens_per_rank} tokens per rank) | network | "
          + " | ".join(f"{n} machines: all-reduce, speed-up" for n in machines) + " |")
    print("|" + "---|" * (3 + len(machines)))
    for preset, speed in speeds.items():
        count = PARAMETERS[preset]
        compute = args.tokens_per_rank / speed
        for gbits in rates:
            bandwidth = gbits * 1e9 / 8
            cells = []
            for n in machines:
                reduce = 2 * (n - 1) / n * 4 * count / bandwidth + 2 * (n - 1) * args.latency_us * 1e-6
                cells.append(f"{reduce * 1000:.0f} ms, {n * compute / (compute + reduce):.1f}× ({compute / (compute + reduce) * 100:.0f} %)")
            print(f"| {preset} ({4 * count / 1e6:.0f} MB) | {compute * 1000:.0f} ms at {speed:,.0f} tok/s | {gbits:g} Gb/s | "
                  + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
