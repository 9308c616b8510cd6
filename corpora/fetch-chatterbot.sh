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
NAME="chatterbot"
PKG="chatterbot-corpus==1.3.3"
TARBALL="chatterbot_corpus-1.3.3.tar.gz"
TARBALL_SHA256="615b5c4c605154f60ae51d03ed918ed92e9d32bc2b144b759bbc64ecdbe18481"
MEMBER_DIR="chatterbot_corpus-1.3.3/chatterbot_corpus/data/english"
MANIFEST="$HERE/chatterbot.sha256"
# shellcheck source=sdist-lib.sh
source "$HERE/sdist-lib.sh"

fetch_sdist

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
install_verified
