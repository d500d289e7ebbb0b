#!/usr/bin/env bash
# The lent GPU machine's checks for issue 9 in one run (../shared/DESIGN.md, "The GPU machine"):
#   here, once:  bash tools/device_check.sh --prepare   (device_carry/: the OpenCL loader's .deb; git-ignored)
#   there:       the device tool's run: command "bash tools/device_check.sh", carry ["device_carry"], timeout_s 540
# Builds facert there, then writes to $OUT: the OpenCL figures (tools/device_check.py: creation breakdown,
# fp32/fp16 at batch 1 and 64 beside PyTorch CUDA) and the many-core CPU rows (tools/bench_report.py: facert
# and ONNX Runtime, 1-16 threads, batch 1 and 64).
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=device_carry
if [ "${1:-}" = "--prepare" ]; then
  mkdir -p "$CARRY" && (cd "$CARRY" && apt-get download ocl-icd-libopencl1)
  exit 0
fi
OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT"
# OpenCL: the ICD loader unpacked from the carried .deb, pointed at NVIDIA's driver
OCL=$(mktemp -d)
dpkg -x "$CARRY"/ocl-icd-libopencl1_*.deb "$OCL"
mkdir -p "$OCL/vendors" && echo libnvidia-opencl.so.1 > "$OCL/vendors/nvidia.icd"
export OCL_ICD_VENDORS="$OCL/vendors" FACERT_OPENCL_LIBRARY="$OCL/usr/lib/x86_64-linux-gnu/libOpenCL.so.1"
. tools/device_build.sh
(cd /tmp && python3 -c "import facert; print(facert._core.opencl_status())") | tee "$OUT/opencl_status.txt"
python3 tools/device_check.py --out "$OUT" 2>&1 | tee "$OUT/device_check.log" | grep -v "^recognised\|^head:\|^batchnorm\|^input:\|^wrote\|^verify:"
python3 tools/bench_report.py --out "$OUT/cpu" --sizes 112 --threads 1 2 4 8 16 --batches 1 64 \
  --runtimes facert onnxruntime --rounds 3 --settle 0.1 --cold-rounds 0 > "$OUT/cpu.log" 2>&1 || tail -20 "$OUT/cpu.log"
cat "$OUT/cpu/bench.md" 2>/dev/null || true
