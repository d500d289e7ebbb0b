#!/usr/bin/env bash
# ASan + UBSan over the core: builds _core and libfacert.so with -fsanitize=address,undefined into
# build/sanitize (its own folder; the normal install is untouched), stages them beside the Python sources,
# and runs the core tests (loader, engine API, C API, kernels, NaN, hostile files, OpenCL faults) and a batch
# of mutated model files through that build. Any sanitizer report aborts the process, which the tests and
# the fuzzer count as a failure.
# Usage: bash tools/sanitize.sh [fuzz count, default 500]   (run from an activated venv with the test deps)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
FUZZ_COUNT=${1:-500}
BUILD=build/sanitize
STAGE=$BUILD/stage
PY=$(command -v python)

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSKBUILD=ON \
  -DPython_EXECUTABLE="$PY" -Dpybind11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" -DCMAKE_SHARED_LINKER_FLAGS="$SAN" \
  -DCMAKE_MODULE_LINKER_FLAGS="$SAN" -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF >/dev/null
nice cmake --build "$BUILD" -j "${CMAKE_BUILD_PARALLEL_LEVEL:-2}"

# The package as an install would lay it out: Python sources, the sanitized _core and C library.
rm -rf "$STAGE" && mkdir -p "$STAGE/facert/lib" "$STAGE/facert/include/facert"
cp -r facert/. "$STAGE/facert/"
rm -f "$STAGE"/facert/_core*.so
cp "$BUILD"/_core*.so "$STAGE/facert/"
cp "$BUILD"/libfacert.so "$STAGE/facert/lib/"
cp cpp/include/facert/facert.h "$STAGE/facert/include/facert/"

# The sanitizer runtimes must come first in a process that Python starts; leaks are not checked (CPython
# and numpy keep what they allocate until exit), everything else aborts with a report.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYTHONPATH="$ROOT/$STAGE${PYTHONPATH:+:$PYTHONPATH}"
(cd / && python -c "import facert._core as c; assert '$STAGE' in c.__file__, c.__file__; print('sanitized:', c.__file__)")

t0=$(date +%s)
pytest -q -p no:cacheprovider tests/test_model_loader.py tests/test_loader_hostile.py tests/test_engine_api.py \
  tests/test_c_api.py tests/test_nan.py tests/test_ops_reference.py tests/test_ops_conv2d.py tests/test_ops_pool.py \
  tests/test_ops_linear.py tests/test_opencl_faults.py tests/test_bindings_memory.py tests/test_soak.py \
  tests/test_hetero.py
python tools/fuzz_models.py --count "$FUZZ_COUNT" --seed 7
echo "sanitized tests and $FUZZ_COUNT mutated files: clean in $(( $(date +%s) - t0 )) s (after the build)"
