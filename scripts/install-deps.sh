#!/usr/bin/env bash
# Installs the Debian packages Swiftlet builds against, only when one is missing.
# Runs apt-get directly as root, through sudo otherwise, or says what to install.
set -euo pipefail
missing=()
for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "Swiftlet needs these Debian packages: ${missing[*]}. Install them (apt-get install ${missing[*]}) and run make again." >&2
    exit 1
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "Swiftlet needs the Swift 6 toolchain (swift.org) on PATH." >&2
    exit 1
fi
