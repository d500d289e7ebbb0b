"""Shared helpers for the OpenCL tests: a pyopencl context on the test device, the `cl_env` fixture that
skips only where no OpenCL platform exists (FACERT_REQUIRE_OPENCL=1 turns that skip into a failure), host-side
packing into the kernels' layouts, and NumPy references for each op.

The layouts here are written from the kernels' header comments, independently of the C++ packer, so a
disagreement between the two shows up as a test failure rather than a shared bug."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest

KERNELS_DIR = Path(__file__).resolve().parents[1] / "kernels"
VARIANT_OPTIONS = {"fp32": [], "fp16": ["-DFACERT_FP16_STORAGE"]}
INCLUDE = '#include "storage.h"\n'


def kernel_source(name: str) -> str:
    """kernels/NAME with kernels/storage.h inlined where it is included: what kernels/embed_kernels.cmake does
    for the engine, so both build the same text."""
    header = (KERNELS_DIR / "storage.h").read_text()
    return (KERNELS_DIR / name).read_text().replace(INCLUDE, header)

# fp32: float accumulation over at most a few thousand terms against a float64 reference.
FP32_REL_TOL = 1e-5
# fp16 storage: inputs and weights are rounded to half before the reference sees them, so the only extra
# error is the output's own rounding to half: 2^-11 relative, i.e. <= 4.9e-4 of max|ref|; 1e-3 leaves margin.
FP16_REL_TOL = 1e-3


def strict() -> bool:
    return os.environ.get("FACERT_REQUIRE_OPENCL", "") not in ("", "0")


def _missing(reason: str):
    if strict():
        pytest.fail(f"FACERT_REQUIRE_OPENCL=1 but {reason}")
    pytest.skip(reason)


@functools.lru_cache(maxsize=None)
def _find_device():
    """(platform, device) preferring PoCL (what CI installs), or a reason string when none exists."""
    try:
        import pyopencl as cl
    except ImportError as e:
        return f"pyopencl is not installed ({e})"
    try:
        platforms = cl.get_platforms()
    except Exception as e:  # pyopencl raises LogicError/RuntimeError when the ICD loader finds no platform
        return f"no OpenCL platform ({e})"
    candidates = []
    for p in platforms:
        try:
            candidates += [(p, d) for d in p.get_devices()]
        except Exception:
            continue
    if not candidates:
        return "no OpenCL platform with a device"
    candidates.sort(key=lambda pd: "Portable Computing Language" not in pd[0].name)
    return candidates[0]


class ClEnv:
    """One context and queue; programs built once per (file, variant)."""

    def __init__(self, platform, device):
        import pyopencl as cl

        self.cl = cl
        self.device = device
        self.ctx = cl.Context([device])
        self.queue = cl.CommandQueue(self.ctx)
        self._programs = {}
        self._kernels = {}

    def program(self, name: str, variant: str = "fp32"):
        key = (name, variant)
        if key not in self._programs:
            src = kernel_source(name)
            self._programs[key] = self.cl.Program(self.ctx, src).build(options=VARIANT_OPTIONS[variant])
        return self._programs[key]

    def buffer(self, array: np.ndarray):
        mf = self.cl.mem_flags
        return self.cl.Buffer(self.ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=np.ascontiguousarray(array))

    def empty(self, nbytes: int):
        return self.cl.Buffer(self.ctx, self.cl.mem_flags.READ_WRITE, size=max(int(nbytes), 4))

    def read(self, buf, shape, dtype) -> np.ndarray:
        out = np.empty(shape, dtype)
        self.cl.enqueue_copy(self.queue, out, buf)
        return out

    def run(self, name, variant, kernel, global_size, *args):
        key = (name, variant, kernel)
        if key not in self._kernels:
            self._kernels[key] = self.cl.Kernel(self.program(name, variant), kernel)
        k = self._kernels[key]
        k(self.queue, tuple(int(g) for g in global_size), None, *args)
        self.queue.finish()


_ENV = None


@pytest.fixture
def cl_env() -> ClEnv:
    global _ENV
    found = _find_device()
    if isinstance(found, str):
        _missing(found)
    if _ENV is None:
        _ENV = ClEnv(*found)
    return _ENV


# ---- layouts ---------------------------------------------------------------------------------------------
def storage_dtype(variant: str):
    return np.float16 if variant == "fp16" else np.float32


def blocks(c: int) -> int:
    return (c + 3) // 4


def to_nc4hw4(x: np.ndarray, variant: str = "fp32") -> np.ndarray:
    """(N, C, H, W) -> (N, ceil(C/4), H, W, 4), zero lanes past C."""
    n, c, h, w = x.shape
    padded = np.zeros((n, blocks(c) * 4, h, w), np.float64)
    padded[:, :c] = x
    return padded.reshape(n, blocks(c), 4, h, w).transpose(0, 1, 3, 4, 2).astype(storage_dtype(variant)).copy()


def from_nc4hw4(x: np.ndarray, c: int) -> np.ndarray:
    n, cb, h, w, _ = x.shape
    return x.transpose(0, 1, 4, 2, 3).reshape(n, cb * 4, h, w)[:, :c].astype(np.float64)


def pack_conv_weight(weight: np.ndarray, variant: str = "fp32") -> np.ndarray:
    """(O, C, kh, kw) -> (ceil(O/4), ceil(C/4), kh, kw, 4 input lanes, 4 output lanes), zero padded."""
    o, c, kh, kw = weight.shape
    padded = np.zeros((blocks(o) * 4, blocks(c) * 4, kh, kw), np.float64)
    padded[:o, :c] = weight
    # [ob, ol, ib, il, ky, kx] -> [ob, ib, ky, kx, il, ol]
    r = padded.reshape(blocks(o), 4, blocks(c), 4, kh, kw).transpose(0, 2, 4, 5, 3, 1)
    return r.astype(storage_dtype(variant)).copy()


def pad_bias(bias: np.ndarray | None, o: int) -> np.ndarray:
    out = np.zeros(blocks(o) * 4, np.float32)
    if bias is not None:
        out[:o] = bias
    return out


def quantise(x: np.ndarray, variant: str) -> np.ndarray:
    """What the kernel actually sees: values rounded to the storage type, as float64."""
    return x.astype(storage_dtype(variant)).astype(np.float64)


def rel_err(out: np.ndarray, ref: np.ndarray) -> float:
    """max |out - ref| / max |ref| (the tolerance unit used by every OpenCL test)."""
    scale = max(float(np.max(np.abs(ref))), 1e-30)
    return float(np.max(np.abs(out.astype(np.float64) - ref))) / scale


def tolerance(variant: str) -> float:
    return FP16_REL_TOL if variant == "fp16" else FP32_REL_TOL


# ---- NumPy references (float64): tests/reference.py, shared with the CPU kernel tests --------------------
import reference  # noqa: E402  (tests/ is on sys.path, as for every test module here)

ACTIVATIONS = {"none": 0, "relu": 1, "relu6": 2}
pool_out_size = reference.pool_out_size
global_avgpool_ref = reference.global_avgpool
l2_normalize_ref = reference.l2_normalize


def conv2d_ref(x, weight, bias, stride, pad, dilation, act="none"):
    return reference.conv2d(x, weight, bias, stride=stride, pad=pad, dilation=dilation, act=act)


def maxpool2d_ref(x, k, s, p, ceil_mode):
    return reference.maxpool2d(x, k, s, p, ceil_mode)


def linear_ref(x, weight, bias, act="none"):
    return reference.linear(x, weight, bias, act=act)


@pytest.fixture
def core_opencl():
    """facert._core with a usable OpenCL device (its own dlopen'd libOpenCL, not pyopencl's)."""
    from facert import _core

    status = _core.opencl_status()
    if not status["available"]:
        _missing(f"facert finds no OpenCL device: {status['reason']}")
    return _core
