#!/usr/bin/env bash
# The emulated smoke suite for an aarch64 wheel (CI runs it). Debian's arm64 python3 and its libraries are
# unpacked into a sysroot (tools/aarch64_sysroot.sh) and run under qemu-aarch64; pip, itself running there,
# installs the wheel and numpy (its manylinux aarch64 wheel, fetched with pip download --platform), so the
# wheel's tag is checked against the target's glibc as on a board. Then:
#   - tools/aarch64_smoke.py check: import without OpenCL, Engine() on the bundled model reports isa neon,
#     the photos in ../shared/data/people/<name>/ embedded and compared with x86-64 (cosine >= 0.99999),
#     NEON against the reference kernels, a corrupt and a truncated model -> facert.ModelError, and the
#     README's C program (cross-compiled against the wheel's libfacert.so) against x86-64;
#   - `facert info` on the bundled model, and on a truncated copy (exit 1 with a message);
#   - tests/test_ops_cross_neon.py: every NEON kernel against the reference, cross-compiled, under qemu.
# Left out (too slow emulated, or covered natively by tools/test.sh): the OpenCL backend (no device under
# qemu), OpenCV-based detection/alignment/verify (opencv-python-headless is not installed here), conversion.
# The x86-64 side: X86_64_WHEEL when given, else the facert that HOST_PYTHON imports (default .venv, as
# tools/test.sh leaves it); HOST_PYTHON also needs numpy, opencv and pytest.
# Usage: bash tools/test_aarch64.sh WHEEL [X86_64_WHEEL]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 AARCH64_WHEEL [X86_64_WHEEL]" >&2; exit 2; }
WHEEL=$(realpath "$1")
X86_WHEEL=${2:+$(realpath "$2")}
cd "$(dirname "$0")/.."
ROOT=$PWD
HOST_PYTHON=${HOST_PYTHON:-$ROOT/.venv/bin/python}
PEOPLE=$ROOT/../shared/data/people
host_needs="cv2, pytest"
[ -n "$X86_WHEEL" ] || host_needs+=", facert._core"
(cd / && "$HOST_PYTHON" -c "import $host_needs") || {   # not the checkout's facert/
  echo "HOST_PYTHON=$HOST_PYTHON needs opencv, pytest and facert (bash tools/test.sh sets up .venv)" >&2; exit 2; }
[[ ${WHEEL##*/} =~ -cp3([0-9]+)-cp3[0-9]+-.*aarch64\.whl$ ]] || { echo "not a CPython aarch64 wheel: $WHEEL" >&2; exit 2; }
PYVER=3.${BASH_REMATCH[1]}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-g++ >/dev/null; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    qemu-user g++-aarch64-linux-gnu
fi

SYSROOT=$ROOT/build/aarch64-sysroot
bash tools/aarch64_sysroot.sh "$SYSROOT" "python$PYVER-minimal" "libpython$PYVER-minimal" "libpython$PYVER-stdlib" \
  libc6 libgcc-s1 libstdc++6 zlib1g libexpat1 libffi8 libbz2-1.0 liblzma5 libssl3 libcrypt1 libuuid1
TARGET_PY=(qemu-aarch64 -L "$SYSROOT" "$SYSROOT/usr/bin/python$PYVER")
WORK=$ROOT/build/aarch64-test
rm -rf "$WORK/site" "$WORK/x86"
mkdir -p "$WORK/dl"

echo "== x86-64 reference embeddings"
if [ -n "$X86_WHEEL" ]; then
  "$HOST_PYTHON" -m pip install -q --no-deps --target "$WORK/x86" "$X86_WHEEL"
  export PYTHONPATH=$WORK/x86
fi
"$HOST_PYTHON" tools/aarch64_smoke.py reference "$PEOPLE" "$WORK/ref.npz"
unset PYTHONPATH

echo "== pip (under qemu) installs $(basename "$WHEEL") and numpy"
"$HOST_PYTHON" -m pip download -q --no-deps -d "$WORK/dl" pip
"$HOST_PYTHON" -m pip download -q --no-deps -d "$WORK/dl" --only-binary=:all: --platform manylinux2014_aarch64 \
  --python-version "$PYVER" --implementation cp "numpy>=1.22"
PIP_WHL=$(ls -t "$WORK"/dl/pip-*.whl | head -1)
# --no-deps: opencv-python-headless, facert's other dependency, is not needed by what runs here
"${TARGET_PY[@]}" "$PIP_WHL/pip" install -q --root-user-action=ignore --no-index --find-links "$WORK/dl" --no-deps --no-compile \
  --target "$WORK/site" "$WHEEL" numpy

echo "== the README's C program, cross-compiled against the wheel's libfacert, under qemu"
sed -n '/^```c$/,/^```$/p' README.md | sed '1d;$d' > "$WORK/embed.c"
LIB=$WORK/site/facert
aarch64-linux-gnu-gcc -std=c99 -Wall -Wextra -Werror "$WORK/embed.c" -I"$LIB/include" -L"$LIB/lib" -lfacert \
  -Wl,-rpath,"$LIB/lib" -o "$WORK/embed"
qemu-aarch64 -L "$SYSROOT" "$WORK/embed" "$LIB/models/default.sq.bin" "$WORK/face0.ppm" > "$WORK/c_embed.txt"

echo "== smoke suite under qemu-aarch64"
SMOKE=$ROOT/tools/aarch64_smoke.py
cd "$WORK"     # away from the checkout, whose facert/ folder (no _core) would shadow the installed one
export PYTHONPATH=$WORK/site
"${TARGET_PY[@]}" "$SMOKE" check ref.npz c_embed.txt
MODEL=site/facert/models/default.sq.bin
"${TARGET_PY[@]}" -m facert.cli info "$MODEL" > info.out
head -8 info.out
head -c 100000 "$MODEL" > truncated.sq.bin
if "${TARGET_PY[@]}" -m facert.cli info truncated.sq.bin 2> info.err; then
  echo "facert info accepted a truncated model" >&2; exit 1
fi
grep "^facert info: .*truncated.sq.bin" info.err
cd "$ROOT"
unset PYTHONPATH

echo "== NEON kernels against the reference (cross-compiled, under qemu)"
"$(dirname "$HOST_PYTHON")/pytest" tests/test_ops_cross_neon.py -q -rs -p no:cacheprovider | tee "$WORK/neon.log"
if grep -q skipped "$WORK/neon.log"; then echo "NEON kernel tests were skipped" >&2; exit 1; fi
echo "test_aarch64: all passed (${SECONDS} s)"
