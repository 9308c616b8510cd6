#!/usr/bin/env python3
"""Compares two Swiftlet training runs: the training loss of every step (relative difference)
and the final weights (largest absolute difference), from metrics.jsonl and model.safetensors.
Exits 1 when either is above the tolerance. Standard library only."""
import json, struct, sys


def losses(directory):
    out = {}
    with open(f"{directory}/metrics.jsonl") as f:
        for line in f:
            record = json.loads(line)
            if record.get("kind") == "train":
                out[record["step"]] = record["loss"]
    return out


def weights(directory):
    with open(f"{directory}/model.safetensors", "rb") as f:
        data = f.read()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    base = 8 + size
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        kind = info["dtype"]
        raw = data[base + start:base + end]
        if kind == "F32":
            tensors[name] = struct.unpack(f"<{len(raw) // 4}f", raw)
        elif kind == "BF16":
            tensors[name] = [struct.unpack("<f", b"\0\0" + raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
        else:
            raise SystemExit(f"{directory}: tensor {name} has dtype {kind}")
    return tensors


def main():
    a, b, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
    la, lb = losses(a), losses(b)
    if sorted(la) != sorted(lb):
        raise SystemExit(f"the runs logged different steps: {sorted(la)} against {sorted(lb)}")
    worst_loss = max(abs(la[s] - lb[s]) / abs(la[s]) for s in la)
    wa, wb = weights(a), weights(b)
    if sorted(wa) != sorted(wb):
        raise SystemExit("the checkpoints hold different tensors")
    worst_weight = max(max(abs(x - y) for x, y in zip(wa[n], wb[n])) for n in wa)
    print(f"{len(la)} steps: largest relative loss difference {worst_loss:.2e}; largest weight difference {worst_weight:.2e} "
          f"(tolerance {tolerance:g})")
    sys.exit(0 if worst_loss <= tolerance and worst_weight <= tolerance else 1)


main()
