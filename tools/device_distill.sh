#!/usr/bin/env bash
# Issue 10's training on the lent GPU machine in one run (its minutes are hours of this machine's two cores):
#   here:  bash tools/device_distill.sh --prepare START WORK_DIR
#          -> device_carry/ (git-ignored): the transfer set packed from WORK_DIR's cached pass
#             (facert.distill.pack, ~45 MiB), where training starts - START: a checkpoint of this tool (its weights
#             without the optimizer state: --resume there) or a facert model file of the student, such as
#             facert/models/default.sq.bin (--init there) - and a Pillow wheel to decode WebP where OpenCV is not
#             installed; < 64 MiB with the checkout
#   there: the device tool's run: command "bash tools/device_distill.sh [MINUTES]", carry ["device_carry"]
# $OUT/student.pth (and the curve) come back; convert and evaluate here (facert convert, facert eval-pairs).
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=$PWD/device_carry
# facert runs from /tmp: from the checkout, python -m and -c would import its source folder (no _core)
if [ "${1:-}" = "--prepare" ]; then
  mkdir -p "$CARRY"
  DATA=${DATA:-$(cd .. && pwd)/shared/data}
  (cd /tmp && python -m facert distill --data "$DATA" --work-dir "$3" --pack "$CARRY/transfer.npz")
  rm -f "$CARRY/student.pth" "$CARRY/init.sq.bin"
  case "$2" in
    *.sq.bin) cp "$2" "$CARRY/init.sq.bin" ;;
    *) python -c "import sys, torch; ck = torch.load(sys.argv[1], map_location='cpu', weights_only=True)
ck.pop('optimizer', None); torch.save(ck, sys.argv[2])" "$2" "$CARRY/student.pth" ;;
  esac
  rm -f "$CARRY"/pillow-*.whl
  python -m pip download -q --only-binary=:all: --no-deps --python-version 3.12 \
    --platform manylinux_2_28_x86_64 -d "$CARRY" pillow
  du -sh "$CARRY"
  exit 0
fi
MINUTES=${1:-6}
OUT=${OUT:-/tmp/device_distill}
mkdir -p "$OUT"
. tools/device_build.sh
cd /tmp
python3 -c "import cv2" 2>/dev/null || python3 -c "import PIL" 2>/dev/null ||
  python3 -m pip install -q --no-index --no-deps --target "$PKG" "$CARRY"/pillow-*.whl
python3 -m facert distill --packed "$CARRY/transfer.npz" --device "${DEVICE:-cuda}" --threads 16 \
  $(if [ -f "$CARRY/init.sq.bin" ]; then echo --init "$CARRY/init.sq.bin"; else echo --resume "$CARRY/student.pth"; fi) \
  --minutes "$MINUTES" --epochs 100000 --work-dir "$OUT" --out "$OUT/student.pth" \
  2>&1 | tee "$OUT/train.log" | grep -v "^pass:"
