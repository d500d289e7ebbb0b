#!/usr/bin/env bash
# Unpacks Debian arm64 packages into a sysroot folder (apt-get download + dpkg -x): the Python headers for the
# cross build, python3 and its libraries for the emulated tests. Nothing is installed on this host: installing
# :arm64 packages next to the amd64 ones breaks it. Packages already unpacked are skipped.
# Usage: bash tools/aarch64_sysroot.sh SYSROOT PACKAGE...      (package names without :arm64)
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 SYSROOT PACKAGE..." >&2; exit 2; }
SYSROOT=$(realpath -m "$1"); shift

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# apt-get download of :arm64 packages needs the arm64 package lists (the architecture, not its packages).
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  as_root dpkg --add-architecture arm64
  as_root apt-get update -q
elif ! apt-cache show libc6:arm64 >/dev/null 2>&1; then
  as_root apt-get update -q
fi

mkdir -p "$SYSROOT/.debs"
cd "$SYSROOT/.debs"
todo=()
for pkg in "$@"; do [ -e "$pkg.unpacked" ] || todo+=("$pkg"); done
[ ${#todo[@]} -eq 0 ] && exit 0
rm -f ./*.deb
# apt's _apt user cannot write here; download as the current user, quietly
apt-get download -q "${todo[@]/%/:arm64}" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true
for pkg in "${todo[@]}"; do
  deb=$(ls "${pkg}"_*_arm64.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || { echo "aarch64_sysroot: $pkg:arm64 was not downloaded" >&2; exit 1; }
  dpkg -x "$deb" "$SYSROOT"
  touch "$pkg.unpacked"
done
rm -f ./*.deb
