"""facert._core.Engine (the bindings, under facert.Engine's own checks): pybind11's array_t::ensure returns a null handle (MemoryError set) when a contiguous copy of a huge
non-contiguous array cannot be allocated: the bindings must raise that, not dereference it (a segfault).
Run in a subprocess so a crash fails the test instead of killing pytest."""
import subprocess
import sys

import pytest

CODE = r"""
import numpy as np, facert
from numpy.lib.stride_tricks import as_strided
e = facert.Engine({model!r}, device="cpu")
c, h, w = e.input_shape
base = np.zeros(8, {dtype})
if {what!r} == "forward":  # (2^40, C, H, W) float32 viewing 8 floats: a multi-PB copy to make contiguous
    x = as_strided(base, shape=(1 << 40, c, h, w), strides=(0, 0, 0, 4))
    call = e._core.forward
else:  # a 2^24 x 2^24 BGR image with zero strides: 800 TB to copy
    x = as_strided(base, shape=(1 << 24, 1 << 24, 3), strides=(0, 0, 1))
    call = e._core.embed
try:
    call(x)
    print("no error")
except MemoryError:
    print("MemoryError")
except (facert.InputError, ValueError) as ex:
    print("InputError", ex)
"""


@pytest.mark.parametrize("what,dtype", [("forward", "np.float32"), ("embed", "np.uint8")])
def test_huge_non_contiguous_array_raises(tiny_model, what, dtype):
    out = subprocess.run([sys.executable, "-c", CODE.format(model=str(tiny_model.path), what=what, dtype=dtype)],
                         capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 0, f"died with {out.returncode}: {out.stderr[-2000:]}"
    assert out.stdout.startswith(("MemoryError", "InputError")), out.stdout + out.stderr[-500:]
