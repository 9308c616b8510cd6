"""Writes the small files under Tests/Fixtures/interop that `make test` checks Swiftlet against,
each made by the tool that defines its format (run in the reference venv, see
scripts/reference-tools.sh):

  tokenizer.model       a 384-piece BPE tokenizer trained by Swiftlet (the input to both models)
  hf-bf16-sharded/      LlamaForCausalLM (untied, GQA, BF16) written by transformers' save_pretrained
                        in two safetensors shards, with LlamaTokenizer's files
  hf-expected.json      what transformers computes on it: AutoTokenizer's ids for a sample text and
                        the loss and last-row logits of LlamaForCausalLM on those ids (fp32)
  gguf-{Q8_0,Q4_0,Q5_0,Q4_K,Q6_K}.gguf  a model with 256-wide rows made by llama.cpp's
                        convert_hf_to_gguf.py and `llama-quantize --pure`
  quantize-input.f32    4,096 fp32 values (normal, with an all-zero block, ties and large
                        magnitudes) for the quantizers
  gguf-expected.json    gguf-py's dequantization of every tensor (FNV-1a of its fp32 bytes),
                        llama-tokenize's ids for the sample text, and gguf-py's quantization of
                        quantize-input.f32 to Q8_0, Q5_0 and Q4_0 (FNV-1a of the blocks)

Usage: python scripts/make-interop-fixtures.py SWIFTLET LLAMA_BIN LLAMA_SRC
"""
import json, os, shutil, subprocess, sys, tempfile

import numpy as np
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, LlamaTokenizer

swiftlet, llama_bin, llama_src = sys.argv[1:4]
out = "Tests/Fixtures/interop"
os.makedirs(out, exist_ok=True)
work = tempfile.mkdtemp()
SAMPLE = "ROMEO:  But soft,\twhat light 1603 through   yonder window breaks?\n\n  It is the east — and Juliet is the sun! ✨\n<|user|>Hi<|end|>"


def fnv1a(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


tokenizer_model = os.path.join(out, "tokenizer.model")
subprocess.run([swiftlet, "tokenizer", "train", "--input", "corpora/shakespeare-demo/train", "--vocab-size", "384",
                "--model-type", "bpe", "-o", tokenizer_model], check=True)
hf_tok = LlamaTokenizer(vocab_file=tokenizer_model, add_bos_token=False, add_eos_token=False, legacy=False, add_prefix_space=False,
                   additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"])


def make(config, dtype, directory, shard):
    torch.manual_seed(5)
    model = LlamaForCausalLM(config)
    # A few steps of training so the weights are not just their initialization.
    ids = hf_tok(open("corpora/shakespeare-demo/train/" + sorted(os.listdir("corpora/shakespeare-demo/train"))[0]).read()[:20000])["input_ids"]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(6):
        batch = torch.tensor([ids[step * 64:(step + 1) * 64]])
        model(batch, labels=batch).loss.backward()
        opt.step()
        opt.zero_grad()
    model.to(dtype).save_pretrained(directory, max_shard_size=shard)
    hf_tok.save_pretrained(directory)


# Hugging Face: untied, GQA, BF16, two shards.
hf_dir = os.path.join(out, "hf-bf16-sharded")
shutil.rmtree(hf_dir, ignore_errors=True)
make(LlamaConfig(vocab_size=384, hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=10000.0,
                 tie_word_embeddings=False, bos_token_id=1, eos_token_id=2), torch.bfloat16, hf_dir, "60KB")
tok = AutoTokenizer.from_pretrained(hf_dir)
ids = tok(SAMPLE)["input_ids"]
model = LlamaForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32).eval()
with torch.no_grad():
    result = model(torch.tensor([ids]), labels=torch.tensor([ids]))
json.dump({"text": SAMPLE, "ids": ids, "loss": result.loss.item(), "last_logits": result.logits[0, -1].tolist(),
           "transformers": __import__("transformers").__version__}, open(os.path.join(out, "hf-expected.json"), "w"))

# GGUF: rows of 256 (Q4_K's super-block), tied, one KV head.
gguf_src = os.path.join(work, "gguf-src")
make(LlamaConfig(vocab_size=384, hidden_size=256, intermediate_size=256, num_hidden_layers=1, num_attention_heads=4,
                 num_key_value_heads=1, max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0,
                 tie_word_embeddings=True, bos_token_id=1, eos_token_id=2), torch.float32, gguf_src, "10GB")
f32 = os.path.join(work, "f32.gguf")
subprocess.run([sys.executable, os.path.join(llama_src, "convert_hf_to_gguf.py"), gguf_src, "--outtype", "f32", "--outfile", f32], check=True)
import gguf
expected = {"text": SAMPLE, "files": {}}
for q in ["Q8_0", "Q4_0", "Q5_0", "Q4_K", "Q6_K"]:
    path = os.path.join(out, f"gguf-{q}.gguf")
    subprocess.run([os.path.join(llama_bin, "llama-quantize"), "--pure", f32, path, q], check=True)
    reader = gguf.GGUFReader(path)
    expected["files"][q] = {t.name: fnv1a(gguf.quants.dequantize(t.data, t.tensor_type).astype("<f4").tobytes()) for t in reader.tensors}
ids_out = subprocess.run([os.path.join(llama_bin, "llama-tokenize"), "-m", os.path.join(out, "gguf-Q8_0.gguf"), "--ids", "--log-disable", "--stdin"],
                         input=SAMPLE, capture_output=True, text=True, check=True).stdout
expected["llama_tokenize_ids"] = json.loads(ids_out.strip().splitlines()[-1])
rng = np.random.default_rng(7)
values = rng.standard_normal(4096).astype(np.float32) * np.float32(0.05)
values[32:64] = 0                                                  # d = 0
values[64:96] = np.float32(0.25) * (np.arange(32, dtype=np.float32) - 16)  # exact levels, ties
values[96:128] *= np.float32(3e4)                                  # near fp16's range
values[128] = -values[129:160].max() * 2                           # the signed maximum negative
values.tofile(os.path.join(out, "quantize-input.f32"))
expected["quantize"] = {q: fnv1a(gguf.quants.quantize(values.reshape(-1, 256), getattr(gguf.GGMLQuantizationType, q)).tobytes())
                        for q in ["Q8_0", "Q5_0", "Q4_0"]}
json.dump(expected, open(os.path.join(out, "gguf-expected.json"), "w"), indent=1)
shutil.rmtree(work)
print("wrote", out)
