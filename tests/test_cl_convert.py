"""kernels/convert.cl through pyopencl: NCHW float <-> NC4HW4 storage, both variants, channel tails."""
import numpy as np
import pytest

from cl_helpers import blocks, cl_env, quantise, storage_dtype, to_nc4hw4  # noqa: F401

pytestmark = pytest.mark.opencl

SHAPES = [(1, 3, 112, 112), (2, 5, 7, 9), (1, 1, 1, 1), (3, 8, 3, 5), (1, 130, 2, 3)]


@pytest.mark.parametrize("variant", ["fp32", "fp16"])
@pytest.mark.parametrize("shape", SHAPES)
def test_nchw_to_nc4hw4(cl_env, shape, variant):
    n, c, h, w = shape
    x = np.random.default_rng(c * w).standard_normal(shape).astype(np.float32)
    expected = to_nc4hw4(x.astype(np.float64), variant)  # lanes past C are 0
    out_buf = cl_env.buffer(np.full(expected.shape, 5.0, storage_dtype(variant)))  # garbage to overwrite
    cl_env.run("convert.cl", variant, "nchw_to_nc4hw4", (h * w, n * blocks(c)), cl_env.buffer(x), out_buf,
               np.int32(c), np.int32(blocks(c)), np.int32(h * w))
    got = cl_env.read(out_buf, expected.shape, expected.dtype)
    assert np.array_equal(got, expected)  # a layout change (plus round-to-nearest for half): exact


@pytest.mark.parametrize("variant", ["fp32", "fp16"])
@pytest.mark.parametrize("shape", SHAPES)
def test_nc4hw4_to_nchw(cl_env, shape, variant):
    n, c, h, w = shape
    x = quantise(np.random.default_rng(c * h).standard_normal(shape), variant)
    out_buf = cl_env.buffer(np.full(shape, 5.0, np.float32))
    cl_env.run("convert.cl", variant, "nc4hw4_to_nchw", (h * w, n * blocks(c)), cl_env.buffer(to_nc4hw4(x, variant)),
               out_buf, np.int32(c), np.int32(blocks(c)), np.int32(h * w))
    assert np.array_equal(cl_env.read(out_buf, shape, np.float32), x.astype(np.float32))
