"""Checks Swiftlet against the tools that define the formats it reads and writes: transformers
and PEFT (Hugging Face directories, adapters, chat templates, tokenizers) and llama.cpp (GGUF,
its converter, quantizer, tokenizer, perplexity and greedy decoding). Run by scripts/interop.sh
in the reference venv; prints one line per check and `N passed, M failed`.
"""
import argparse, json, math, os, shutil, subprocess, sys, time

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, LlamaTokenizer

args = argparse.ArgumentParser()
args.add_argument("--swiftlet", required=True)
args.add_argument("--llama", required=True, help="folder with llama.cpp's binaries")
args.add_argument("--llama-src", required=True, help="llama.cpp's source (its converter)")
args.add_argument("--work", required=True)
args.add_argument("--data", default="corpora/shakespeare-demo")
args.add_argument("--gemma", help="gemma-3-270m-q4_k_m.gguf (make gemma): adds the Gemma 3 checks")
args.add_argument("--gemma-only", action="store_true", help="run the Gemma 3 checks alone")
args = args.parse_args()
torch.set_num_threads(2)
W = args.work
results = []


def check(name, ok, figures):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {figures}", flush=True)


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.stderr.write(f"command failed: {' '.join(cmd)}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}\n")
        raise SystemExit(1)
    return p


def sw(*a):
    return run([args.swiftlet, *a])


def sw_ids(model, text):
    return [int(x) for x in run([args.swiftlet, "tokenizer", "encode", "-m", model, "--ids"], input=text).stdout.split()]


def sw_eval(ckpt, path, chunks=None):
    extra = ["--chunks", str(chunks)] if chunks else []
    return json.loads(sw("eval", "--checkpoint", ckpt, "--data", path, "--json", *extra).stdout)


def sw_greedy(ckpt, prompt, n=40):
    f = os.path.join(W, "prompt.jsonl")
    with open(f, "w") as h:
        h.write(json.dumps({"prompt": prompt, "max_tokens": n, "temperature": 0}) + "\n")
    return json.loads(sw("generate", "--checkpoint", ckpt, "--prompts-file", f).stdout.splitlines()[0])


def windows(ids, context):
    """Evaluator.windows: back-to-back windows of up to `context` predictions."""
    out, start = [], 0
    while len(ids) - start >= 2:
        end = min(start + context + 1, len(ids))
        out.append(ids[start:end])
        start = end - 1
    return out


@torch.no_grad()
def hf_loss(model, ids, context):
    total, count = 0.0, 0
    for w in windows(ids, context):
        x = torch.tensor([w[:-1]])
        logits = model(x).logits[0].double()
        total += torch.nn.functional.cross_entropy(logits, torch.tensor(w[1:]), reduction="sum").item()
        count += len(w) - 1
    return total / count, count


@torch.no_grad()
def hf_greedy(model, ids, n=40, eos=None):
    out = model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, eos_token_id=eos, pad_token_id=0)
    return out[0][len(ids):].tolist()


def text_of(path, limit):
    with open(path, encoding="utf-8") as f:
        return f.read()[:limit]


val_dir = os.path.join(args.data, "val")
held_out = os.path.join(W, "held-out.txt")
with open(held_out, "w", encoding="utf-8") as f:
    f.write(text_of(os.path.join(val_dir, sorted(os.listdir(val_dir))[0]), 24_000))
held_text = open(held_out, encoding="utf-8").read()


L = args.llama


def llama_ppl(gguf, ctx, text=None):
    p = run([f"{L}/llama-perplexity", "-m", gguf, "-f", text or held_out, "-c", str(ctx), "-b", str(ctx), "-t", "2"])
    line = [l for l in (p.stdout + p.stderr).splitlines() if "Final estimate: PPL" in l][0]
    return float(line.split("=")[1].split("+/-")[0])


def llama_ids(gguf, text):
    p = run([f"{L}/llama-tokenize", "-m", gguf, "--ids", "--log-disable", "--stdin"], input=text)
    return json.loads(p.stdout.strip().splitlines()[-1])


def llama_greedy(gguf, prompt, n=40):
    p = run([f"{L}/llama-simple", "-m", gguf, "-n", str(n), prompt])
    return p.stdout


def gemma_checks():
    """Gemma 3 270M as Swiftlet writes it: a Hugging Face directory that transformers loads as
    Gemma3ForCausalLM (tokenizer, loss, greedy text), a tiny Gemma trained by transformers,
    fine-tuned by Swiftlet and loaded back, and a GGUF that llama.cpp runs as it runs the original."""
    print("== Gemma 3: Swiftlet's Hugging Face directories in transformers", flush=True)
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    f32 = os.path.join(os.path.dirname(args.gemma), "gemma-3-270m-f32.gguf")
    if not os.path.exists(f32):
        f32 = os.path.join(W, "gemma-3-270m-f32.gguf")
        run([f"{L}/llama-quantize", "--allow-requantize", args.gemma, f32, "F32"])
    hf = os.path.join(W, "gemma-hf")
    sw("export", "--format", "hf", f32, "-o", hf)
    text_path = os.path.join(W, "gemma-held-out.txt")
    with open(text_path, "w", encoding="utf-8") as f:
        f.write(held_text[:6000])
    text = open(text_path, encoding="utf-8").read()
    tok = AutoTokenizer.from_pretrained(hf)
    ids = sw_ids(hf, text)
    hf_ids = tok(text)["input_ids"]
    check("Gemma tokenizer ids (AutoTokenizer on swiftlet's directory vs swiftlet tokenizer encode)", hf_ids == ids,
          f"{type(tok).__name__}, {len(ids)} tokens, {sum(a != b for a, b in zip(hf_ids, ids)) + abs(len(hf_ids) - len(ids))} differ")
    model = AutoModelForCausalLM.from_pretrained(hf, torch_dtype=torch.float32, attn_implementation="eager").eval()
    mine = sw_eval(hf, text_path)
    from_gguf = sw_eval(f32, text_path)
    theirs, count = hf_loss(model, ids + [tok.eos_token_id], 2048)
    check("Gemma 3 270M: held-out loss (transformers on swiftlet's directory vs swiftlet eval)",
          type(model).__name__ == "Gemma3ForCausalLM" and abs(theirs - mine["loss"]) <= 1e-4 and count == mine["tokens"],
          f"{type(model).__name__}: {theirs:.6f} vs {mine['loss']:.6f} nats/token over {count} tokens (|Δ| {abs(theirs - mine['loss']):.1e})")
    check("Gemma 3 270M: the exported directory computes what the GGUF computes (swiftlet eval)",
          from_gguf["loss"] == mine["loss"], f"{from_gguf['loss']:.9f} vs {mine['loss']:.9f}")
    prompt = "The movie was"
    reply = sw_greedy(hf, prompt, 24)
    hf_reply = hf_greedy(model, sw_ids(hf, prompt), 24, eos=tok.eos_token_id)
    check("Gemma 3 270M: 24 greedy tokens (transformers generate vs swiftlet generate)",
          tok.decode(hf_reply) == reply["completion"] and len(hf_reply) == reply["tokens"], f"{json.dumps(reply['completion'])}")
    del model

    # A tiny Gemma 3 that transformers makes and trains, with the 270M's tokenizer: swiftlet
    # reads it, fine-tunes it (full and LoRA) and writes it; transformers reads that back.
    torch.manual_seed(5)
    tiny_config = Gemma3TextConfig(vocab_size=json.load(open(os.path.join(hf, "config.json")))["vocab_size"], hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=2,
                                   num_key_value_heads=1, head_dim=48, sliding_window=16, sliding_window_pattern=2, query_pre_attn_scalar=48,
                                   max_position_embeddings=128, rope_theta=1e6, rope_local_base_freq=1e4, rms_norm_eps=1e-6,
                                   bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    tiny = Gemma3ForCausalLM(tiny_config)
    tiny.config._attn_implementation = "eager"
    opt = torch.optim.AdamW(tiny.parameters(), lr=3e-3)
    for step in range(8):
        s = step * 128 * 2 % max(len(ids) - 256, 1)
        batch = torch.tensor([ids[s:s + 128], ids[s + 128:s + 256]])
        loss = tiny(batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    tiny_dir = os.path.join(W, "gemma-tiny")
    tiny.save_pretrained(tiny_dir)
    tok.save_pretrained(tiny_dir)
    shutil.copy(os.path.join(hf, "tokenizer.model"), tiny_dir)
    tiny.eval()
    mine = sw_eval(tiny_dir, text_path)
    theirs, count = hf_loss(tiny, ids + [tok.eos_token_id], 128)
    check("tiny Gemma 3: transformers' save_pretrained directory in swiftlet eval", abs(theirs - mine["loss"]) <= 1e-4 and count == mine["tokens"],
          f"{theirs:.6f} vs {mine['loss']:.6f} nats/token (norm weights trained away from 0: "
          f"{max(float(p.abs().max()) for n, p in tiny.named_parameters() if n.endswith('norm.weight')):.3f})")
    for kind, extra in [("full", []), ("LoRA", ["--lora-rank", "8", "--lr", "5e-2", "--warmup", "0"])]:
        tuned = os.path.join(W, f"gemma-tiny-{kind}")
        sw("finetune", "--checkpoint", tiny_dir, "--data", text_path, "--steps", "4", "--eval-interval", "4", "--context", "64",
           "--batch-tokens", "256", *extra, "--out", tuned)
        mine_tuned = sw_eval(tuned, text_path)
        back = AutoModelForCausalLM.from_pretrained(tuned, torch_dtype=torch.float32, attn_implementation="eager").eval()
        theirs, _ = hf_loss(back, ids + [tok.eos_token_id], 128)
        check(f"tiny Gemma 3 fine-tuned by swiftlet ({kind}), loaded back by transformers",
              abs(theirs - mine_tuned["loss"]) <= 1e-4 and abs(mine_tuned["loss"] - mine["loss"]) > 1e-3,
              f"{theirs:.6f} vs {mine_tuned['loss']:.6f} nats/token (before: {mine['loss']:.6f})")


    print("== Gemma 3: Swiftlet's GGUF in llama.cpp", flush=True)
    exported = os.path.join(W, "gemma-exported-f32.gguf")
    sw("export", "--format", "gguf", "--type", "f32", hf, "-o", exported)  # from the directory: the whole way round
    theirs, original = llama_ids(exported, text), llama_ids(f32, text)
    check("Gemma 3 270M: token ids of the exported GGUF (llama-tokenize, exported vs original F32)", theirs == original and theirs == ids,
          f"{len(theirs)} tokens, {sum(a != b for a, b in zip(theirs, original)) + abs(len(theirs) - len(original))} differ from the original's, "
          f"{sum(a != b for a, b in zip(theirs, ids)) + abs(len(theirs) - len(ids))} from swiftlet's")
    ppl, ppl_original = llama_ppl(exported, 512, text_path), llama_ppl(f32, 512, text_path)
    mine = sw_eval(exported, text_path, chunks=512)["perplexity"]
    check("Gemma 3 270M: perplexity of the exported GGUF (llama-perplexity, exported vs original F32; swiftlet eval --chunks)",
          ppl == ppl_original and abs(mine - ppl) / ppl <= 1e-3, f"{ppl:.4f} vs {ppl_original:.4f}; swiftlet {mine:.4f}")
    greedy, greedy_original = llama_greedy(exported, prompt, 24), llama_greedy(f32, prompt, 24)
    check("Gemma 3 270M: 24 greedy tokens of the exported GGUF (llama-simple, exported vs original F32)",
          greedy == greedy_original and greedy.removeprefix("<bos>").startswith(prompt + reply["completion"]), json.dumps(greedy.strip()))
    tuned = os.path.join(W, "gemma-tiny-full")
    tuned_gguf = os.path.join(W, "gemma-tiny-full.gguf")
    sw("export", "--format", "gguf", "--type", "f32", tuned, "-o", tuned_gguf)
    mine = sw_eval(tuned, text_path, chunks=64)["perplexity"]
    theirs = llama_ppl(tuned_gguf, 64, text_path)
    check("tiny Gemma 3 fine-tuned by swiftlet, as GGUF in llama-perplexity vs swiftlet eval --chunks", abs(theirs - mine) / mine <= 1e-3,
          f"{theirs:.4f} vs {mine:.4f} ({100 * abs(theirs - mine) / mine:.3f} %)")


if args.gemma_only:
    gemma_checks()
    passed, failed = sum(results), len(results) - sum(results)
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)

# ---------------------------------------------------------------------------------------------
print("== a Swiftlet checkpoint in transformers and PEFT", flush=True)
base = os.path.join(W, "swiftlet-small")
sw("train", "--data", args.data, "--preset", "small", "--kv-heads", "2", "--steps", "120", "--eval-interval", "120", "--out", base)
ids = sw_ids(base, held_text)
tok = AutoTokenizer.from_pretrained(base)
hf_ids = tok(held_text, add_special_tokens=True)["input_ids"]
check("tokenizer ids (AutoTokenizer vs swiftlet tokenizer encode)", hf_ids == ids, f"{len(ids)} tokens, {sum(a != b for a, b in zip(hf_ids, ids)) + abs(len(hf_ids) - len(ids))} differ")
model = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32).eval()
mine = sw_eval(base, held_out)
theirs, count = hf_loss(model, ids + [tok.eos_token_id], model.config.max_position_embeddings)
check("held-out loss (LlamaForCausalLM vs swiftlet eval)", abs(theirs - mine["loss"]) <= 1e-4 and count == mine["tokens"],
      f"{theirs:.6f} vs {mine['loss']:.6f} nats/token over {count} tokens (|Δ| {abs(theirs - mine['loss']):.1e})")
reply = sw_greedy(base, "ROMEO:")
hf_reply = hf_greedy(model, sw_ids(base, "ROMEO:"), eos=tok.eos_token_id)
check("40 greedy tokens (generate vs swiftlet generate --temperature 0)",
      tok.decode(hf_reply) == reply["completion"] and len(hf_reply) == reply["tokens"],
      f"{reply['tokens']} tokens, {json.dumps(reply['completion'][:50])}…")

chat = os.path.join(W, "swiftlet-chat")
sw("finetune", "--checkpoint", base, "--data", "corpora/chatterbot", "--steps", "10", "--eval-interval", "10", "--out", chat)
dialogue = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there, how are you?"},
                         {"role": "assistant", "content": "Fine,  thanks!\nAnd you?"}, {"role": "user", "content": "Tell me a joke <|end|> now."}]}
chat_tok = AutoTokenizer.from_pretrained(chat)
rendered = chat_tok.apply_chat_template(dialogue["messages"], tokenize=False, add_generation_prompt=True)
theirs_ids = chat_tok.apply_chat_template(dialogue["messages"], tokenize=True, add_generation_prompt=True)
mine_ids = [int(x) for x in sw("tokenizer", "encode", "-m", chat, "--ids", "--dialogue", "--generation-prompt", json.dumps(dialogue)).stdout.split()]
end_id = chat_tok.convert_tokens_to_ids("<|end|>")
gen = json.load(open(os.path.join(chat, "generation_config.json")))
check("chat template (apply_chat_template vs swiftlet's template, markers included)", theirs_ids == mine_ids and end_id in gen["eos_token_id"],
      f"{len(mine_ids)} ids identical: {theirs_ids == mine_ids}; <|end|> = {end_id} ends generation: {end_id in gen['eos_token_id']}; {json.dumps(rendered[:60])}…")

lora = os.path.join(W, "swiftlet-lora")
sw("finetune", "--checkpoint", base, "--data", args.data, "--steps", "40", "--eval-interval", "40", "--lr", "1e-3", "--lora-rank", "4", "--out", lora)
from peft import PeftModel
peft_model = PeftModel.from_pretrained(LlamaForCausalLM.from_pretrained(base, torch_dtype=torch.float32), lora).eval()
merged = sw_eval(lora, held_out)
theirs, _ = hf_loss(peft_model, ids + [tok.eos_token_id], 256)
base_loss = mine["loss"]
check("LoRA checkpoint through PeftModel.from_pretrained vs swiftlet's merged model", abs(theirs - merged["loss"]) <= 1e-4 and abs(merged["loss"] - base_loss) > 1e-3,
      f"{theirs:.6f} vs {merged['loss']:.6f} nats/token (base {base_loss:.6f})")
direct = AutoModelForCausalLM.from_pretrained(lora, torch_dtype=torch.float32).eval()
theirs_direct, _ = hf_loss(direct, ids + [tok.eos_token_id], 256)
check("LoRA checkpoint through AutoModelForCausalLM.from_pretrained(DIR)", abs(theirs_direct - merged["loss"]) <= 1e-4,
      f"{theirs_direct:.6f} vs {merged['loss']:.6f} nats/token")

# ---------------------------------------------------------------------------------------------
print("== models transformers creates and saves, in Swiftlet", flush=True)
tokenizer_model = os.path.join(base, "tokenizer.model")
train_text = text_of(os.path.join(args.data, "train", sorted(os.listdir(os.path.join(args.data, "train")))[0]), 200_000)
train_ids = sw_ids(base, train_text)
variants = [
    # name, config keys, save dtype, shard size
    ("f32-tied-gqa", dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                          tie_word_embeddings=True, rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=256), torch.float32, None),
    ("bf16-untied-sharded", dict(hidden_size=128, intermediate_size=352, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
                                 tie_word_embeddings=False, rms_norm_eps=1e-6, rope_theta=500000.0, max_position_embeddings=192), torch.bfloat16, "300KB"),
    ("f16-head-dim-32", dict(hidden_size=96, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                             tie_word_embeddings=False, rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=128), torch.float16, None),
]
hf_dirs = {}
for name, keys, dtype, shard in variants:
    torch.manual_seed(7)
    config = LlamaConfig(vocab_size=tok.vocab_size, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, **keys)
    m = LlamaForCausalLM(config)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    ctx = keys["max_position_embeddings"]
    for step in range(8):
        s = step * ctx * 2
        batch = torch.tensor([train_ids[s:s + ctx], train_ids[s + ctx:s + 2 * ctx]])
        loss = m(batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    d = os.path.join(W, "hf-" + name)
    m.to(dtype).save_pretrained(d, max_shard_size=shard or "10GB")
    LlamaTokenizer(vocab_file=tokenizer_model, add_bos_token=False, add_eos_token=False, legacy=False,
                   add_prefix_space=False, additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]).save_pretrained(d)
    hf_dirs[name] = d
    reference = LlamaForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
    mine = sw_eval(d, held_out)
    theirs, count = hf_loss(reference, ids + [tok.eos_token_id], ctx)
    info = sw("info", d).stdout
    shards = len([f for f in os.listdir(d) if f.endswith(".safetensors")])
    check(f"{name}: loss (save_pretrained directory in swiftlet eval vs transformers)",
          abs(theirs - mine["loss"]) <= 1e-4 and count == mine["tokens"] and "Hugging Face model directory" in info,
          f"{theirs:.6f} vs {mine['loss']:.6f} nats/token, {shards} safetensors file(s), {dtype}".replace("torch.", ""))
    reply = sw_greedy(d, "ROMEO:")
    hf_reply = hf_greedy(reference, sw_ids(d, "ROMEO:"), eos=tok.eos_token_id)
    check(f"{name}: greedy text", tok.decode(hf_reply) == reply["completion"] and len(hf_reply) == reply["tokens"],
          f"{reply['tokens']} tokens identical")
    tuned = os.path.join(W, "tuned-" + name)
    sw("finetune", "--checkpoint", d, "--data", args.data, "--steps", "4", "--eval-interval", "4", "--out", tuned)
    back = AutoModelForCausalLM.from_pretrained(tuned, torch_dtype=torch.float32).eval()
    mine_tuned = sw_eval(tuned, held_out)
    theirs, _ = hf_loss(back, ids + [tok.eos_token_id], ctx)
    check(f"{name}: fine-tuned by swiftlet (--checkpoint DIR only), loaded back by transformers",
          abs(theirs - mine_tuned["loss"]) <= 1e-4,
          f"{theirs:.6f} vs {mine_tuned['loss']:.6f} nats/token (before: {mine['loss']:.6f})")

# ---------------------------------------------------------------------------------------------
print("== Swiftlet's GGUF in llama.cpp", flush=True)
exported = {}
for t in ["f32", "q8_0"]:
    exported[t] = os.path.join(W, f"swiftlet-small-{t}.gguf")
    sw("export", "--format", "gguf", "--type", t, base, "-o", exported[t])
theirs_ids = llama_ids(exported["f32"], held_text)
check("token ids (llama-tokenize vs swiftlet)", theirs_ids == ids,
      f"{len(ids)} tokens, {sum(a != b for a, b in zip(theirs_ids, ids)) + abs(len(theirs_ids) - len(ids))} differ")
ctx = 128
mine = sw_eval(base, held_out, chunks=ctx)["perplexity"]
ppl_f32 = llama_ppl(exported["f32"], ctx)
check("F32 perplexity (llama-perplexity vs swiftlet eval --chunks)", abs(ppl_f32 - mine) / mine <= 1e-3,
      f"{ppl_f32:.4f} vs {mine:.4f} ({100 * abs(ppl_f32 - mine) / mine:.3f} %)")
their_q8 = os.path.join(W, "llama-quantize-q8_0.gguf")
run([f"{L}/llama-quantize", "--pure", exported["f32"], their_q8, "Q8_0"])
ppl_their_q8 = llama_ppl(their_q8, ctx)
ppl_q8 = llama_ppl(exported["q8_0"], ctx)
allowed = max(abs(ppl_their_q8 - ppl_f32), 1e-4 * ppl_f32)
check("Q8_0 perplexity (swiftlet's Q8_0 GGUF in llama-perplexity vs F32, within llama-quantize's own F32→Q8_0 change)",
      abs(ppl_q8 - ppl_f32) <= allowed,
      f"{ppl_q8:.4f} vs F32 {ppl_f32:.4f} (|Δ| {abs(ppl_q8 - ppl_f32):.4f}; llama-quantize's Q8_0 {ppl_their_q8:.4f}, |Δ| {abs(ppl_their_q8 - ppl_f32):.4f})")
theirs_text = llama_greedy(exported["f32"], "ROMEO:")
reply = sw_greedy(base, "ROMEO:")
check("F32 greedy text (llama-simple vs swiftlet generate)", theirs_text.startswith("ROMEO:" + reply["completion"]),
      f"{json.dumps(reply['completion'][:50])}…")

# ---------------------------------------------------------------------------------------------
print("== GGUF from llama.cpp's converter and llama-quantize, in Swiftlet", flush=True)
source = hf_dirs["f32-tied-gqa"]
converted = os.path.join(W, "converted-f32.gguf")
run([sys.executable, os.path.join(args.llama_src, "convert_hf_to_gguf.py"), source, "--outtype", "f32", "--outfile", converted])
files = {"F32": converted}
# --pure: every matrix in the named type (llama-quantize otherwise stores the embedding as Q6_K,
# which Swiftlet does not read yet).
for q in ["Q8_0", "Q4_0", "Q4_K"]:
    files[q] = os.path.join(W, f"converted-{q}.gguf")
    run([f"{L}/llama-quantize", "--pure", converted, files[q], q])
check("token ids of the converter's GGUF (llama-tokenize vs swiftlet tokenizer encode -m FILE.gguf)",
      llama_ids(converted, held_text) == sw_ids(converted, held_text), f"{len(ids)} tokens")
import gguf as ggufpy
from safetensors.numpy import load_file
for q, path in files.items():
    theirs = llama_ppl(path, ctx)
    mine = sw_eval(path, held_out, chunks=ctx)["perplexity"]
    # llama.cpp multiplies quantized weights with activations it quantizes to 8 bits; Swiftlet
    # multiplies the dequantized weights in fp32: the two differ by that rounding only.
    tolerance = 1e-3 if q == "F32" else 2.5e-3
    info = sw("info", path).stdout
    check(f"{q}: loss of the GGUF in swiftlet vs llama-perplexity", abs(theirs - mine) / mine <= tolerance,
          f"perplexity {mine:.4f} vs {theirs:.4f} ({100 * abs(theirs - mine) / mine:.3f} %, bound {100 * tolerance:g} %); {info.splitlines()[1].split('(')[-1].rstrip(')')}")
    # The dequantized weights, bit for bit against gguf-py's dequantization (llama.cpp's own Python).
    dump = os.path.join(W, f"dequantized-{q}")
    sw("export", "--format", "hf", path, "-o", dump)
    ours = load_file(os.path.join(dump, "model.safetensors"))
    reader = ggufpy.GGUFReader(path)
    heads, kv = 4, 2
    worst, compared = 0, 0
    for t in reader.tensors:
        values = ggufpy.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(d) for d in reversed(t.shape)])
        name = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}.get(t.name)
        if name is None:
            _, layer, kind, _ = t.name.split(".")
            name = f"model.layers.{layer}." + {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
                                              "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
                                              "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}[kind] + ".weight"
            if kind in ("attn_q", "attn_k"):  # undo the converter's permutation
                h = heads if kind == "attn_q" else kv
                values = values.reshape(h, values.shape[0] // h // 2, 2, -1).swapaxes(1, 2).reshape(values.shape)
        differ = int(np.count_nonzero(ours[name].view(np.uint32) != values.view(np.uint32)))
        worst = max(worst, differ)
        compared += values.size
    check(f"{q}: dequantized weights bit for bit (swiftlet vs gguf-py)", worst == 0, f"{compared} values, {worst} differ")

if args.gemma:
    gemma_checks()
else:
    print("(no Gemma 3 checks: run make gemma first)")

passed, failed = sum(results), len(results) - sum(results)
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
