"""kernels/pool.cl through pyopencl: max pooling with ceil-mode edges, global average pooling, and the
average pool fused with L2 normalisation."""
import numpy as np
import pytest

from cl_helpers import (blocks, cl_env, from_nc4hw4, global_avgpool_ref, l2_normalize_ref, maxpool2d_ref,  # noqa: F401
                        pool_out_size, quantise, rel_err, storage_dtype, to_nc4hw4, tolerance)

pytestmark = pytest.mark.opencl

# (N, C, H, W, k, s, p, ceil_mode)
MAXPOOL_CASES = [
    (1, 64, 55, 55, 3, 2, 0, True),    # SqueezeNet 1.1 at 224: 55 -> 27
    (2, 5, 8, 8, 3, 2, 0, True),       # ceil mode adds a partial last window (8 -> 4, floor gives 3)
    (1, 7, 6, 9, 3, 2, 1, True),       # ceil mode with padding: a window starting in the padding is dropped
    (1, 3, 7, 7, 2, 2, 0, False),
    (2, 10, 1, 1, 3, 2, 1, True),      # one pixel
    (1, 6, 5, 4, 3, 1, 1, False),
]


@pytest.mark.parametrize("variant", ["fp32", "fp16"])
@pytest.mark.parametrize("case", MAXPOOL_CASES)
def test_maxpool2d(cl_env, case, variant):
    n, c, h, w, k, s, p, ceil_mode = case
    x = quantise(np.random.default_rng(h * w + c).standard_normal((n, c, h, w)), variant)
    ref = maxpool2d_ref(x, k, s, p, ceil_mode)
    oh, ow = pool_out_size(h, k, s, p, ceil_mode), pool_out_size(w, k, s, p, ceil_mode)
    assert ref.shape[2:] == (oh, ow)
    out_buf = cl_env.empty(n * blocks(c) * oh * ow * 4 * np.dtype(storage_dtype(variant)).itemsize)
    cl_env.run("pool.cl", variant, "maxpool2d", (ow, oh, n * blocks(c)), cl_env.buffer(to_nc4hw4(x, variant)),
               out_buf, *[np.int32(a) for a in (blocks(c), h, w, oh, ow, k, k, s, s, p, p)])
    got = cl_env.read(out_buf, (n, blocks(c), oh, ow, 4), storage_dtype(variant))
    # max of stored values is exact in both variants
    assert np.array_equal(from_nc4hw4(got, c), ref)


@pytest.mark.parametrize("variant", ["fp32", "fp16"])
@pytest.mark.parametrize("shape", [(1, 128, 7, 7), (3, 13, 5, 3), (2, 6, 1, 1), (1, 1000, 13, 13)])
@pytest.mark.parametrize("normalize", [False, True])
def test_global_avgpool(cl_env, shape, variant, normalize):
    n, c, h, w = shape
    x = quantise(np.random.default_rng(c * h).standard_normal(shape) + 0.3, variant)
    ref = global_avgpool_ref(x)
    if normalize:
        ref = l2_normalize_ref(ref)
    out_buf = cl_env.empty(n * c * 4)
    args = [cl_env.buffer(to_nc4hw4(x, variant)), out_buf] + [np.int32(a) for a in (blocks(c), c, h * w)]
    if normalize:
        cl_env.run("pool.cl", variant, "global_avgpool_l2", (n,), *args)
    else:
        cl_env.run("pool.cl", variant, "global_avgpool", (blocks(c), n), *args)
    got = cl_env.read(out_buf, (n, c), np.float32)
    # the sum is float in both variants: fp32 tolerance even for half storage
    assert rel_err(got, ref) <= tolerance("fp32")
    if normalize:
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_global_avgpool_l2_zero_vector(cl_env):
    """An all-zero embedding must stay 0, not become NaN (the 1e-12 floor)."""
    x = np.zeros((1, 5, 3, 3))
    out_buf = cl_env.empty(5 * 4)
    cl_env.run("pool.cl", "fp32", "global_avgpool_l2", (1,), cl_env.buffer(to_nc4hw4(x)), out_buf,
               *[np.int32(a) for a in (2, 5, 9)])
    assert np.array_equal(cl_env.read(out_buf, (1, 5), np.float32), np.zeros((1, 5), np.float32))
