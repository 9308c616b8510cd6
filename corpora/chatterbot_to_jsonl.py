"""Convert the English conversations of chatterbot-corpus 1.3.3 to Swiftlet's dialogue JSONL.

Usage: python3 chatterbot_to_jsonl.py EXTRACTED_ENGLISH_DIR OUT_DIR

Each conversation [a, b, c, ...] becomes one line
{"messages": [{"role": "user", "content": a}, {"role": "assistant", "content": b}, ...]}.
Files are read in sorted order; conversation k (counting from 0 across all files) goes to
val/ when k % 10 == 9, otherwise to train/. Conversations of one line only are skipped.
"""
import json
import os
import sys


def load_yaml(path):
    try:
        import yaml
    except ImportError:
        sys.exit("corpora: error: Python's yaml module is missing; install python3-yaml (or pip install pyyaml).")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def main():
    source, out = sys.argv[1], sys.argv[2]
    train, val = [], []
    index = 0
    for name in sorted(os.listdir(source)):
        if not name.endswith(".yml"):
            continue
        data = load_yaml(os.path.join(source, name)) or {}
        for conversation in data.get("conversations") or []:
            turns = [str(t).strip() for t in conversation if t is not None and str(t).strip()]
            if len(turns) < 2:
                continue
            roles = ["user", "assistant"]
            messages = [{"role": roles[i % 2], "content": t} for i, t in enumerate(turns)]
            line = json.dumps({"messages": messages}, ensure_ascii=False)
            (val if index % 10 == 9 else train).append(line)
            index += 1
    for split, lines in (("train", train), ("val", val)):
        os.makedirs(os.path.join(out, split), exist_ok=True)
        with open(os.path.join(out, split, "dialogues.jsonl"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    print(f"corpora: chatterbot: {len(train)} train + {len(val)} val conversations", file=sys.stderr)


if __name__ == "__main__":
    main()
