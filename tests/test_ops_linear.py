"""facert._core.ops.linear and l2_normalize against tests/reference.py, on every ISA."""
from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from facert import _core

ops = _core.ops
ISAS = ops.isas()

# (N, in_features, out_features, activation, with_bias)
CASES = [
    (1, 512, 128, "none", True),     # SqueezeNet embedding head
    (3, 37, 13, "relu", True),       # tails in both dimensions, batch 3
    (2, 1, 5, "relu6", False),       # a single input feature
    (1, 1000, 3, "none", False),     # long dot products, a 32/8/scalar tail
    (5, 31, 1, "relu", True),        # one output
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_linear_matches_reference(case, isa, threads):
    n, i, o, act, with_bias = case
    rng = np.random.default_rng(n * i + o)
    x = rng.standard_normal((n, i)).astype(np.float32)
    weight = (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32) if with_bias else None
    got = ops.linear(x, weight, bias, activation=act, isa=isa, threads=threads)
    assert got.shape == (n, o) and got.dtype == np.float32
    # fp32 dot products summed in vector lanes vs float64: only summation order differs, <= 1e-5 of max|ref|.
    assert ref.rel_err(got, ref.linear(x, weight, bias, act)) <= ref.FP32_REL_TOL


@pytest.mark.parametrize("args, message", [
    (((2, 5), (3, 4), None), "does not take input"),
    (((2, 5), (3, 5), (4,)), "bias must have shape (3,)"),
    (((5,), (3, 5), None), "linear input: expected a 2-d array"),
])
def test_linear_bad_shapes(args, message):
    x, w, b = (None if s is None else np.zeros(s, np.float32) for s in args)
    with pytest.raises(ValueError) as info:
        ops.linear(x, w, b)
    assert message in str(info.value)


def test_l2_normalize_matches_reference():
    rng = np.random.default_rng(5)
    v = rng.standard_normal((4, 128)).astype(np.float32)
    v[1] *= 1e-10   # tiny (norm ~1e-9) but above eps: still normalised to unit length
    v[2] = 0.0      # zero: stays zero (divided by eps), never NaN
    v[3] *= 1e20    # large: float32 squares would overflow; the norm must not
    got = ops.l2_normalize(v)
    expected = ref.l2_normalize(v)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(got[[0, 1, 3]], axis=1), 1.0, rtol=1e-6)
    assert not got[2].any()


def test_l2_normalize_returns_a_new_array():
    v = np.full((1, 3), 2.0, np.float32)
    out = ops.l2_normalize(v)
    assert (v == 2.0).all()
    np.testing.assert_allclose(out, 1 / np.sqrt(3), rtol=1e-6)
