"""kernels/prelu.cl and kernels/softmax.cl through pyopencl against the NumPy references (tests/reference.py):
odd channel counts (padding lanes must stay zero), both storage variants, and channel-block slices (an
output written into its part of a concat output, an input read from one)."""
import numpy as np
import pytest

import reference as ref
from cl_helpers import (blocks, cl_env, from_nc4hw4, quantise, rel_err, storage_dtype, to_nc4hw4,  # noqa: F401
                        tolerance)

pytestmark = pytest.mark.opencl

SHAPES = [(1, 10, 5, 7), (2, 3, 1, 1), (3, 28, 11, 11), (1, 4, 1, 9), (2, 2, 6, 3), (1, 33, 2, 2)]


def _slice_setup(cl_env, x, variant, extra_before, extra_after):
    """x placed as a channel-block slice inside a larger NC4HW4 tensor: (buffer, total blocks, offset)."""
    n, c, h, w = x.shape
    packed = to_nc4hw4(x, variant)
    total = extra_before + blocks(c) + extra_after
    big = np.full((n, total, h, w, 4), 7, storage_dtype(variant))    # junk around the slice
    big[:, extra_before:extra_before + blocks(c)] = packed
    return cl_env.buffer(big), total, extra_before


@pytest.mark.parametrize("variant", ["fp32", "fp16"])
@pytest.mark.parametrize("shape", SHAPES)
def test_prelu(cl_env, shape, variant):
    n, c, h, w = shape
    rng = np.random.default_rng(c * h + w)
    x = quantise(rng.standard_normal(shape) * 3, variant)
    slope = rng.standard_normal(c).astype(np.float32)
    slopes = np.zeros(blocks(c) * 4, np.float32)
    slopes[:c] = slope
    expected = ref.prelu(x, slope)
    in_buf, in_total, in_off = _slice_setup(cl_env, x, variant, 1, 0)
    out_total, out_off = blocks(c) + 2, 2
    out_buf = cl_env.empty(n * out_total * h * w * 4 * np.dtype(storage_dtype(variant)).itemsize)
    cl_env.run("prelu.cl", variant, "prelu", (h * w, blocks(c), n), in_buf, cl_env.buffer(slopes), out_buf,
               *[np.int32(a) for a in (h * w, in_total, in_off, out_total, out_off)])
    got = cl_env.read(out_buf, (n, out_total, h, w, 4), storage_dtype(variant))[:, out_off:]
    assert rel_err(from_nc4hw4(got, c), expected) <= tolerance(variant)
    assert not got.reshape(n, -1, h, w, 4).transpose(0, 1, 4, 2, 3).reshape(n, -1, h, w)[:, c:].any()


@pytest.mark.parametrize("variant", ["fp32", "fp16"])
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax(cl_env, shape, variant):
    n, c, h, w = shape
    x = quantise(np.random.default_rng(c + h).standard_normal(shape) * 4, variant)
    x[0, 0, 0, 0] = 60.0    # exp(60) overflows half and float's sum without the max shift
    expected = ref.softmax(x, 1)
    in_buf, in_total, in_off = _slice_setup(cl_env, x, variant, 0, 1)
    out_total, out_off = blocks(c) + 1, 1
    out_buf = cl_env.empty(n * out_total * h * w * 4 * np.dtype(storage_dtype(variant)).itemsize)
    cl_env.run("softmax.cl", variant, "softmax", (h * w, n), in_buf, out_buf,
               *[np.int32(a) for a in (h * w, c, in_total, in_off, out_total, out_off)])
    got = cl_env.read(out_buf, (n, out_total, h, w, 4), storage_dtype(variant))[:, out_off:]
    # probabilities in [0, 1]: the error relative to 1, fp32 math and the output's own rounding in fp16
    assert np.abs(from_nc4hw4(got, c) - expected).max() <= tolerance(variant)
    assert not got.transpose(0, 1, 4, 2, 3).reshape(n, -1, h, w)[:, c:].any()
