"""facert._core.ops.maxpool2d and global_avgpool on every ISA against tests/reference.py.

Max pooling follows PyTorch's MaxPool2d, ceil mode included: ceil mode may add a partial last window
(clipped to the image), but drops a window that would start in the right/bottom padding.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import reference as ref
from facert import _core

ops = _core.ops
ISAS = ops.isas()

# (N, C, H, W, kernel, stride, pad, ceil_mode, expected (Ho, Wo))
MAXPOOL_CASES = [
    (2, 4, 55, 55, 3, 2, 0, True, (27, 27)),      # SqueezeNet 224: exact fit
    (1, 13, 27, 27, 3, 2, 0, True, (13, 13)),
    (1, 5, 14, 14, 3, 2, 0, True, (7, 7)),        # ceil adds a partial last window (rows 12..13)
    (1, 5, 14, 14, 3, 2, 0, False, (6, 6)),       # ... which floor mode drops
    (1, 2, 5, 5, 2, 2, 1, True, (3, 3)),          # ceil would add a window starting in the padding: dropped
    (1, 3, 6, 7, 3, 2, 1, True, (4, 4)),          # padding on both sides, partial windows at both edges
    (1, 6, 9, 8, 2, 1, 0, False, (8, 7)),         # overlapping stride 1
    (1, 3, 1, 1, 3, 2, 1, True, (1, 1)),          # one pixel: the window is all padding but the centre
    (1, 37, 13, 1, 3, 2, 1, True, (7, 1)),        # W = 1
    (1, 4, 9, 40, 3, 2, 1, True, (5, 21)),        # padded 3x3/2 rows wide enough for the vector path
    (1, 3, 5, 111, 3, 2, 0, True, (2, 55)),       # SqueezeNet 224's first pool row width
    (1, 3, 10, 9, (3, 2), (2, 1), (1, 0), True, (6, 8)),  # rectangular kernel/stride/pad
    (1, 3, 9, 20, 3, (1, 2), 1, False, (9, 10)),  # 3x3 stride 1 down, 2 across: overlapping window rows
    (1, 40, 31, 33, 3, 2, 1, False, (16, 17)),    # large enough for two threads: a thread's rows end mid-plane
    (1, 10, 58, 78, 2, 2, 0, True, (29, 39)),     # MTCNN P-Net's 2x2/2 pool, even sides
    (2, 3, 7, 37, 2, 2, 0, True, (4, 19)),        # 2x2/2, ceil: a partial last window in both directions
    (1, 3, 9, 35, 2, 2, 1, False, (5, 18)),       # 2x2/2 with padding: windows half in the padding
]


def pool_id(case):
    n, c, h, w, k, s, p, ceil, _ = case
    return f"n{n}c{c}_{h}x{w}_k{k}s{s}p{p}_{'ceil' if ceil else 'floor'}"


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("case", MAXPOOL_CASES, ids=pool_id)
def test_maxpool2d_matches_reference(case, isa, threads):
    n, c, h, w, k, s, p, ceil, out_hw = case
    x = np.random.default_rng(h * w + c).standard_normal((n, c, h, w)).astype(np.float32)
    got = ops.maxpool2d(x, k, s, p, ceil_mode=ceil, isa=isa, threads=threads)
    expected = ref.maxpool2d(x, k, s, p, ceil)
    assert got.shape[2:] == out_hw == expected.shape[2:]
    # max selects one of the inputs: exact
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_maxpool2d_takes_the_max_of_negative_windows_not_the_padding():
    """Padding acts as -inf: an all-negative image must not produce zeros at the border."""
    x = -1.0 - np.arange(2 * 7 * 7, dtype=np.float32).reshape(1, 2, 7, 7)
    for isa in ISAS:
        got = ops.maxpool2d(x, 3, 2, 1, ceil_mode=True, isa=isa)
        assert (got < 0).all()
        np.testing.assert_array_equal(got, ref.maxpool2d(x, 3, 2, 1, True).astype(np.float32))


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), k=st.integers(1, 4), s=st.integers(1, 3),
       p=st.integers(0, 2), ceil=st.booleans())
def test_maxpool2d_output_size_follows_pytorch(h, w, k, s, p, ceil):
    if 2 * p > k or h + 2 * p < k or w + 2 * p < k:
        return  # configurations PyTorch itself refuses (checked in test_maxpool2d_bad_arguments)
    x = np.random.default_rng(h * 31 + w).standard_normal((1, 2, h, w)).astype(np.float32)
    got = ops.maxpool2d(x, k, s, p, ceil_mode=ceil, isa=ISAS[-1])
    np.testing.assert_array_equal(got, ref.maxpool2d(x, k, s, p, ceil).astype(np.float32))


@pytest.mark.parametrize("args, message", [
    (((1, 4, 4), 3, 2), "expected a 4-d array"),
    (((1, 1, 4, 4), 3, 2, 2), "pad must be in [0, kernel/2]"),
    (((1, 1, 4, 4), 0, 2), "kernel and stride must be positive"),
    (((1, 1, 2, 2), 5, 1), "kernel larger than the padded input"),
])
def test_maxpool2d_bad_arguments(args, message):
    shape, *rest = args
    with pytest.raises(ValueError) as info:
        ops.maxpool2d(np.zeros(shape, np.float32), *rest)
    assert message in str(info.value)


# (N, C, H, W)
AVGPOOL_CASES = [(2, 37, 13, 13), (1, 3, 1, 1), (1, 512, 6, 6), (1, 5, 97, 97), (3, 13, 7, 1)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", AVGPOOL_CASES, ids=str)
def test_global_avgpool_matches_reference(shape, isa, threads):
    # An offset makes the mean large against the spread: the case where float summation loses most.
    x = (3.0 + np.random.default_rng(sum(shape)).standard_normal(shape)).astype(np.float32)
    got = ops.global_avgpool(x, isa=isa, threads=threads)
    assert got.shape == shape[:2]
    # fp32 sum of up to 9409 terms in a different order (vector lanes) against float64: <= 1e-5 of max|ref|.
    assert ref.rel_err(got, ref.global_avgpool(x)) <= ref.FP32_REL_TOL


def test_global_avgpool_bad_shape():
    with pytest.raises(ValueError, match="expected a 4-d array"):
        ops.global_avgpool(np.zeros((3, 4), np.float32))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("kernel", [3, 2])
@pytest.mark.parametrize("shape, pad", [((27, 27), 0), ((55, 55), 0), ((13, 40), 1), ((6, 7), 1)])
def test_maxpool2d_propagates_nan_like_pytorch(isa, kernel, shape, pad):
    """A NaN anywhere in a window makes that output NaN (PyTorch's max pooling, and np.max in the
    reference); every other output is the plain max. NaNs at the row starts, ends and vector-lane edges."""
    h, w = shape
    x = np.random.default_rng(h * w).standard_normal((1, 3, h, w)).astype(np.float32)
    for c, y, xx in [(0, 0, 0), (0, h - 1, w - 1), (1, h // 2, min(15, w - 1)), (1, 1, min(16, w - 3)),
                     (2, h - 2, w // 2), (2, 0, w - 2)]:
        x[0, c, y, xx] = np.nan
    got = ops.maxpool2d(x, kernel, 2, pad, ceil_mode=True, isa=isa, threads=2)
    expected = ref.maxpool2d(x, kernel, 2, pad, True).astype(np.float32)
    assert np.isnan(expected).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(got, expected)
