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
               np.int32(c), np.int32(blocks(c)), np.int32(h * w), np.int32(blocks(c)), np.int32(0))
    got = cl_env.read(out_buf, expected.shape, expected.dtype)
    assert np.array_equal(got, expected)  # a layout change (plus round-to-nearest for half): exact


@pytest.mark.parametrize("variant", ["fp32", "fp16"])
@pytest.mark.parametrize("shape", SHAPES)
def test_nc4hw4_to_nchw(cl_env, shape, variant):
    n, c, h, w = shape
    x = quantise(np.random.default_rng(c * h).standard_normal(shape), variant)
    out_buf = cl_env.buffer(np.full(shape, 5.0, np.float32))
    cl_env.run("convert.cl", variant, "nc4hw4_to_nchw", (h * w, n * blocks(c)), cl_env.buffer(to_nc4hw4(x, variant)),
               out_buf, np.int32(c), np.int32(blocks(c)), np.int32(h * w), np.int32(blocks(c)), np.int32(0))
    assert np.array_equal(cl_env.read(out_buf, shape, np.float32), x.astype(np.float32))


@pytest.mark.parametrize("variant", ["fp32", "fp16"])
def test_transfers_and_copy_address_a_channel_slice(cl_env, variant):
    """A transfer between devices writes (or reads) its part of a concat output in place: blocks
    [offset, offset + cb) of a tensor with `total` blocks, per image; the other blocks stay untouched."""
    n, c, h, w, total, offset = 2, 8, 3, 5, 5, 2
    x = quantise(np.random.default_rng(7).standard_normal((n, c, h, w)), variant)
    big = np.full((n, total, h, w, 4), 3.0, storage_dtype(variant))
    big_buf = cl_env.buffer(big)
    cl_env.run("convert.cl", variant, "nchw_to_nc4hw4", (h * w, n * blocks(c)), cl_env.buffer(x.astype(np.float32)),
               big_buf, np.int32(c), np.int32(blocks(c)), np.int32(h * w), np.int32(total), np.int32(offset))
    got = cl_env.read(big_buf, big.shape, big.dtype)
    expected = big.copy()
    expected[:, offset:offset + blocks(c)] = to_nc4hw4(x, variant)
    assert np.array_equal(got, expected)
    back = cl_env.empty(x.size * 4)
    cl_env.run("convert.cl", variant, "nc4hw4_to_nchw", (h * w, n * blocks(c)), big_buf, back, np.int32(c),
               np.int32(blocks(c)), np.int32(h * w), np.int32(total), np.int32(offset))
    assert np.array_equal(cl_env.read(back, x.shape, np.float32), x.astype(np.float32))
    # copy_nc4hw4: the slice moved to blocks [0, cb) of a 3-block tensor
    dst = cl_env.buffer(np.zeros((n, 3, h, w, 4), storage_dtype(variant)))
    cl_env.run("convert.cl", variant, "copy_nc4hw4", (h * w, n * blocks(c)), big_buf, dst, np.int32(blocks(c)),
               np.int32(h * w), np.int32(total), np.int32(offset), np.int32(3), np.int32(0))
    moved = cl_env.read(dst, (n, 3, h, w, 4), storage_dtype(variant))
    assert np.array_equal(moved[:, :2], expected[:, offset:offset + 2]) and not moved[:, 2].any()
