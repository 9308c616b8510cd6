#!/usr/bin/env bash
# Fetch the dialogue corpus used by `swiftlet finetune` demos and tests.
#
# Source: the PyPI source distribution chatterbot-corpus==1.3.3 (BSD-3-Clause),
# pinned by sha256. Only chatterbot_corpus/data/english/*.yml is used; its
# conversations are converted to dialogue JSONL by chatterbot_to_jsonl.py.
#
# Produces, relative to this directory:
#   chatterbot/train/dialogues.jsonl   9 of every 10 conversations
#   chatterbot/val/dialogues.jsonl     every 10th (a fixed held-out part)
#   .cache/chatterbot_corpus-1.3.3.tar.gz   kept so re-runs work offline
# Both outputs are checked against chatterbot.sha256 before they are moved into place.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PKG="chatterbot-corpus==1.3.3"
TARBALL="chatterbot_corpus-1.3.3.tar.gz"
TARBALL_SHA256="615b5c4c605154f60ae51d03ed918ed92e9d32bc2b144b759bbc64ecdbe18481"
MEMBER_DIR="chatterbot_corpus-1.3.3/chatterbot_corpus/data/english"
CACHE_DIR="$HERE/.cache"
MANIFEST="$HERE/chatterbot.sha256"
PY="${PYTHON:-python3}"

log() { echo "corpora: $*" >&2; }
die() { echo "corpora: error: $*" >&2; exit 1; }

verify() ( cd "$1" && sha256sum -c --status "$MANIFEST" ) >/dev/null 2>&1

if verify "$HERE"; then
  echo "corpora: chatterbot ok"
  exit 0
fi

mkdir -p "$CACHE_DIR"
CACHED="$CACHE_DIR/$TARBALL"
TMP="$(mktemp -d "$CACHE_DIR/chatterbot.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

if [ ! -f "$CACHED" ]; then
  command -v "$PY" >/dev/null 2>&1 || die "$PY not found; Python 3 with pip is needed to download $PKG (or put $TARBALL into $CACHE_DIR/ by hand)."
  log "downloading $PKG sdist from PyPI with pip (~280 KB)"
  "$PY" -m pip download --no-deps --no-binary :all: --disable-pip-version-check -q "$PKG" -d "$TMP/dl" >&2 \
    || die "pip download of $PKG failed (network or PyPI problem; see pip's output above)."
  [ -f "$TMP/dl/$TARBALL" ] || die "pip did not produce $TARBALL."
  mv "$TMP/dl/$TARBALL" "$CACHED.part"
  mv "$CACHED.part" "$CACHED"
fi
got=$(sha256sum "$CACHED" | awk '{print $1}')
[ "$got" = "$TARBALL_SHA256" ] \
  || die "$CACHED has sha256 $got but $TARBALL_SHA256 was expected; delete it and re-run to download a fresh copy."

# The converter needs Python's yaml module; fetch PyYAML into the cache when it is missing.
PYPATH=""
if ! "$PY" -c "import yaml" >/dev/null 2>&1; then
  if [ ! -d "$CACHE_DIR/pyyaml" ]; then
    log "installing PyYAML into ${CACHE_DIR#"$HERE"/}/pyyaml for the conversion"
    "$PY" -m pip install --disable-pip-version-check -q --target "$CACHE_DIR/pyyaml.part" pyyaml >&2 \
      || die "could not install PyYAML (needed to read the YAML corpus); install python3-yaml and re-run."
    mv "$CACHE_DIR/pyyaml.part" "$CACHE_DIR/pyyaml"
  fi
  PYPATH="$CACHE_DIR/pyyaml"
fi

tar -xzf "$CACHED" -C "$TMP" "$MEMBER_DIR"
PYTHONPATH="$PYPATH" "$PY" "$HERE/chatterbot_to_jsonl.py" "$TMP/$MEMBER_DIR" "$TMP/out/chatterbot"
verify "$TMP/out" || die "the converted dialogues do not match the manifest $MANIFEST; nothing was installed."
rm -rf "${HERE:?}/chatterbot"
mv "$TMP/out/chatterbot" "$HERE/chatterbot"
echo "corpora: chatterbot ok"
