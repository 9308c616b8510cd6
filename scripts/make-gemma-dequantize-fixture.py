"""Writes Tests/Fixtures/interop/gemma-dequantize.json: for every tensor of the Gemma 3 270M
Q4_K_M GGUF (scripts/fetch-gemma.sh; F32, Q8_0, Q5_0, Q4_K and Q6_K tensors, quantized by
llama.cpp), a fingerprint of gguf-py's dequantization to fp32. The interop test decodes the same
file with Swiftlet's codecs and compares fingerprints (it is skipped where the file is absent).

The fingerprint of values v_0 … v_{n−1} with fp32 bits u_i is Σ mix(u_i + 2³²·i) mod 2⁶⁴, where
mix is splitmix64's finalizer: position-tagged and order-free, so numpy computes it in chunks.

Usage (in the reference venv, scripts/reference-tools.sh): python scripts/make-gemma-dequantize-fixture.py GGUF
"""
import json, sys

import gguf
import numpy as np


def fingerprint(values: np.ndarray) -> str:
    bits = np.ascontiguousarray(values, dtype="<f4").reshape(-1).view(np.uint32)
    total = np.uint64(0)
    chunk = 1 << 22
    with np.errstate(over="ignore"):
        for start in range(0, bits.size, chunk):
            u = bits[start:start + chunk].astype(np.uint64)
            z = u + (np.arange(start, start + u.size, dtype=np.uint64) << np.uint64(32))
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            total = total + np.sum(z, dtype=np.uint64)
    return f"{int(total):016x}"


reader = gguf.GGUFReader(sys.argv[1])
tensors = {t.name: {"type": t.tensor_type.name, "fingerprint": fingerprint(gguf.quants.dequantize(t.data, t.tensor_type))}
           for t in reader.tensors}
path = "Tests/Fixtures/interop/gemma-dequantize.json"
json.dump({"file": "gemma-3-270m-q4_k_m.gguf", "size": __import__("os").path.getsize(sys.argv[1]), "tensors": tensors},
          open(path, "w"), indent=1, sort_keys=True)
print("wrote", path, len(tensors), "tensors")
