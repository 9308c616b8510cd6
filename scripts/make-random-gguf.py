"""Writes an F32 GGUF of a llama-architecture model with random weights (N(0, 0.02), norm gains
1) and a placeholder SentencePiece vocabulary, for timing llama.cpp on a shape: decoding speed
does not depend on the values. Run in the reference venv (gguf-py).

Usage: python scripts/make-random-gguf.py OUT.gguf DIM LAYERS HEADS HIDDEN VOCAB
"""
import sys

import gguf
import numpy as np

out, dim, layers, heads, hidden, vocab = sys.argv[1], *map(int, sys.argv[2:7])
w = gguf.GGUFWriter(out, "llama")
w.add_name(f"random dim {dim}")
w.add_context_length(2048)
w.add_embedding_length(dim)
w.add_block_count(layers)
w.add_feed_forward_length(hidden)
w.add_head_count(heads)
w.add_head_count_kv(heads)
w.add_rope_dimension_count(dim // heads)
w.add_layer_norm_rms_eps(1e-5)
w.add_file_type(0)
w.add_tokenizer_model("llama")
w.add_token_list([b"<unk>", b"<s>", b"</s>"] + [f"t{i}".encode() for i in range(3, vocab)])
w.add_token_scores([0.0] * vocab)
w.add_token_types([2, 3, 3] + [1] * (vocab - 3))
w.add_bos_token_id(1)
w.add_eos_token_id(2)
w.add_unk_token_id(0)
rng = np.random.default_rng(1)


def matrix(rows, columns):
    return (rng.standard_normal((rows, columns), dtype=np.float32) * np.float32(0.02))


w.add_tensor("token_embd.weight", matrix(vocab, dim))
w.add_tensor("output_norm.weight", np.ones(dim, dtype=np.float32))
for l in range(layers):
    for name, rows, columns in [("attn_q", dim, dim), ("attn_k", dim, dim), ("attn_v", dim, dim), ("attn_output", dim, dim),
                                ("ffn_gate", hidden, dim), ("ffn_up", hidden, dim), ("ffn_down", dim, hidden)]:
        w.add_tensor(f"blk.{l}.{name}.weight", matrix(rows, columns))
    w.add_tensor(f"blk.{l}.attn_norm.weight", np.ones(dim, dtype=np.float32))
    w.add_tensor(f"blk.{l}.ffn_norm.weight", np.ones(dim, dtype=np.float32))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
