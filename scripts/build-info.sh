#!/bin/sh
# Writes the Swift file that records which git commit a build is made from (`swiftlet --version`,
# `swiftlet info`, every checkpoint's config.json). The BuildInfo plugin runs it before each
# build, Fuzz/build.sh before its own. "-modified" marks a tree whose sources differ from the
# commit; "unknown" a tree that is not a git checkout. The file is rewritten only when its text
# changes, so an unchanged tree recompiles nothing.
set -u
out=$1
root=$(cd "$(dirname "$0")/.." && pwd -P)
# Only this repository's own commit counts: a tarball unpacked inside another git checkout is
# "unknown", not that checkout's HEAD.
if [ "$(git -C "$root" rev-parse --show-toplevel 2>/dev/null)" = "$root" ] &&
    commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null); then
    git -C "$root" diff --quiet HEAD -- Sources Package.swift 2>/dev/null || commit="$commit-modified"
else
    commit=unknown
fi
text="// Written at build time by scripts/build-info.sh; not in git.
extension SwiftletVersion {
    public static let commit = \"$commit\"
}"
mkdir -p "$(dirname "$out")"
if [ ! -f "$out" ] || [ "$(cat "$out")" != "$text" ]; then
    printf '%s\n' "$text" >"$out"
fi
