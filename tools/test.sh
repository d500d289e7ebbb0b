#!/usr/bin/env bash
# The README's test command: installs everything the full suite needs (apt + pip), builds facert, runs
# tests/ and benchmarks/ (benchmarks in check-only mode: they assert results, timing is off).
# Usage: bash tools/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# PoCL: the real CPU OpenCL implementation the GPU backend is tested on; ocl-icd: the loader the C++ core dlopens.
if ! dpkg -s pocl-opencl-icd ocl-icd-libopencl1 >/dev/null 2>&1; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    pocl-opencl-icd ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-headers
fi

VENV=${FACERT_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip
# torch first and pinned: the local CPU wheel; anything unpinned would pull a multi-GB CUDA build.
python -m pip install -q torch==2.13.0
python -m pip install -q -r tools/requirements-test.txt
# facenet-pytorch: the MTCNN reference tests/test_mtcnn.py compares with. It pins an old torch, so no deps.
python -m pip install -q --no-deps facenet-pytorch==2.6.0
python -m pip install -q ".[test]"

# A missing OpenCL device must fail the run, not skip the GPU tests silently.
export FACERT_REQUIRE_OPENCL=1
# Plain `pytest` (not `python -m pytest`): the installed facert, with its compiled _core, is what gets imported.
pytest tests benchmarks --benchmark-disable -q "$@"
