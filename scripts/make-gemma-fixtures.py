"""Writes the files under Tests/Fixtures/gemma that the tests check Swiftlet's Gemma tokenizer
against, each made by llama.cpp (run in the reference venv, see scripts/reference-tools.sh):

  vocab-gemma-style.gguf   a vocabulary-only gemma3 GGUF (no tensors) laid out as Gemma 3's is:
                           <pad> <eos> <bos> <unk> <mask>, control markers (<start_of_turn>,
                           <end_of_turn>, unused slots), user-defined runs of newlines, spaces and
                           tabs and HTML tags, the 256 byte pieces, then the normal pieces of the
                           384-piece BPE model Tests/Fixtures/interop/tokenizer.model; BOS added,
                           no space prefix. Small enough for CI, which has no Gemma file.
  vocab-expected.json      llama-tokenize's ids for SAMPLES on it (plain text: --no-parse-special),
                           and for a rendered Gemma chat (special tokens parsed)
  gemma-3-270m-expected.json   the same for the real Gemma 3 270M file when it has been fetched
                           (`make gemma`); only ids are stored, never the vocabulary

Usage: python scripts/make-gemma-fixtures.py LLAMA_BIN [GEMMA_GGUF]
"""
import json, os, subprocess, sys, tempfile

import gguf
import sentencepiece as spm

llama_bin = sys.argv[1]
gemma = sys.argv[2] if len(sys.argv) > 2 else None
out = "Tests/Fixtures/gemma"
os.makedirs(out, exist_ok=True)

SAMPLES = [
    "Hello world",
    " leading space and  two  spaces,   three   spaces",
    "ROMEO:  But soft,\twhat light 1603 through yonder window breaks?",
    "Lines\nand\n\nblank lines\n\n\n\nthen more\n",
    "\n\nstarts with newlines",
    "tabs\t\tand\t\t\tmore\ttabs  \t mixed",
    "Numbers 12345 and 3.14159, dates 2026-12-01.",
    "Unicode: café naïve – “quotes” — 東京 😀 ✨ Привет",
    "<b>bold</b> and <table><tr><td>cells</td></tr></table>",
    "trailing spaces   ",
    "   ",
    "a\n \n  \n\tb",
]
CHAT = "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\nParis.<end_of_turn>\n<start_of_turn>model\n"


def tokenize(model, text, special):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(text)
    args = [os.path.join(llama_bin, "llama-tokenize"), "-m", model, "-f", f.name, "--ids", "--no-escape", "--log-disable"]
    if not special:
        args.append("--no-parse-special")
    result = subprocess.run(args, check=True, capture_output=True, text=True)
    os.unlink(f.name)
    return json.loads(result.stdout.strip().splitlines()[-1])


def expected(model, name):
    plain = [{"text": t, "ids": tokenize(model, t, special=False)} for t in SAMPLES]
    chat = {"text": CHAT, "ids": tokenize(model, CHAT, special=True)}
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        json.dump({"made_by": "llama-tokenize (llama.cpp of llama-cpp-python 0.3.36)", "plain": plain, "chat": chat}, f,
                  ensure_ascii=False)
        f.write("\n")


# The Gemma-style vocabulary.
base = spm.SentencePieceProcessor(model_file="Tests/Fixtures/interop/tokenizer.model")
NORMAL, UNKNOWN, CONTROL, USER, BYTE = 1, 2, 3, 4, 6
pieces = [("<pad>", CONTROL), ("<eos>", CONTROL), ("<bos>", CONTROL), ("<unk>", UNKNOWN), ("<mask>", CONTROL),
          ("[multimodal]", USER)]
pieces += [(f"<unused{i}>", CONTROL) for i in range(4)]
pieces += [("<start_of_turn>", CONTROL), ("<end_of_turn>", CONTROL)]
pieces += [("\n" * n, USER) for n in range(1, 9)]
pieces += [(" " * n, USER) for n in range(2, 9)]
pieces += [(t, USER) for t in ["<table>", "<tr>", "<td>", "</table>", "</tr>", "</td>", "<b>", "</b>", "<s>", "</s>"]]
pieces += [(f"<0x{b:02X}>", BYTE) for b in range(256)]
pieces += [("\t" * n, USER) for n in range(1, 5)]
scores = [-1000.0] * len(pieces)
scores[-4 - 256:-4] = [0.0] * 256
seen = {p for p, _ in pieces}
rank = 0
for i in range(base.get_piece_size()):
    piece = base.id_to_piece(i)
    if base.is_control(i) or base.is_unknown(i) or base.is_byte(i) or piece in seen or piece.startswith("<|"):
        continue
    pieces.append((piece, NORMAL))
    scores.append(-float(rank))
    rank += 1
vocab_path = os.path.join(out, "vocab-gemma-style.gguf")
w = gguf.GGUFWriter(vocab_path, "gemma3")
w.add_name("gemma-style vocabulary (Swiftlet test fixture)")
w.add_context_length(512)
w.add_embedding_length(64)
w.add_block_count(6)
w.add_feed_forward_length(128)
w.add_head_count(1)
w.add_head_count_kv(1)
w.add_key_length(64)
w.add_value_length(64)
w.add_layer_norm_rms_eps(1e-6)
w.add_rope_freq_base(1e6)
w.add_sliding_window(32)
w.add_tokenizer_model("llama")
w.add_tokenizer_pre("default")
w.add_token_list([p for p, _ in pieces])
w.add_token_scores(scores)
w.add_token_types([t for _, t in pieces])
w.add_bos_token_id(2)
w.add_eos_token_id(1)
w.add_unk_token_id(3)
w.add_pad_token_id(0)
w.add_add_bos_token(True)
w.add_add_eos_token(False)
w.add_add_space_prefix(False)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
expected(vocab_path, "vocab-expected.json")

if gemma:
    expected(gemma, "gemma-3-270m-expected.json")
    print("wrote", os.path.join(out, "gemma-3-270m-expected.json"))
print("wrote", vocab_path, "and", os.path.join(out, "vocab-expected.json"))
