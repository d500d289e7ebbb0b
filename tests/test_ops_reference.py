"""The NumPy references themselves against PyTorch, so that a shared misunderstanding (ceil-mode pooling,
grouped conv layout, dilation) cannot hide in both the kernels and their reference."""
from __future__ import annotations

import numpy as np
import pytest

import reference as ref

torch = pytest.importorskip("torch")
F = torch.nn.functional

# float64 on both sides: any difference is a semantic one, not rounding.
TOL = 1e-12


@pytest.mark.parametrize("case", [
    (1, 3, 17, 19, 10, (3, 3), (2, 2), (0, 0), (1, 1), 1),
    (2, 12, 9, 11, 18, (3, 5), (1, 2), (1, 2), (2, 1), 3),
    (1, 13, 6, 5, 13, (3, 3), (1, 1), (1, 1), (1, 1), 13),
    (1, 4, 1, 1, 9, (3, 3), (1, 1), (1, 1), (1, 1), 1),
])
def test_conv2d_reference_matches_torch(case):
    n, c, h, w, o, k, s, p, d, g = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((o, c // g, *k))
    bias = rng.standard_normal(o)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias), s, p, d, g).numpy()
    assert ref.rel_err(ref.conv2d(x, weight, bias, s, p, d, g), expected) <= TOL
    assert ref.rel_err(ref.conv2d(x, weight, bias, s, p, d, g, "relu6"), np.clip(expected, 0, 6)) <= TOL


@pytest.mark.parametrize("h, w, k, s, p, ceil", [
    (55, 55, 3, 2, 0, True), (14, 14, 3, 2, 0, True), (5, 5, 2, 2, 1, True), (6, 7, 3, 2, 1, True),
    (1, 1, 3, 2, 1, True), (13, 1, 3, 2, 1, True), (10, 9, (3, 2), (2, 1), (1, 0), True), (9, 8, 2, 1, 0, False),
])
def test_maxpool2d_reference_matches_torch(h, w, k, s, p, ceil):
    x = np.random.default_rng(1).standard_normal((2, 3, h, w))
    expected = F.max_pool2d(torch.from_numpy(x), k, s, p, ceil_mode=ceil).numpy()
    got = ref.maxpool2d(x, k, s, p, ceil)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_pool_linear_and_normalize_references_match_torch():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 7, 3))
    np.testing.assert_allclose(ref.global_avgpool(x), F.adaptive_avg_pool2d(torch.from_numpy(x), 1).numpy()[:, :, 0, 0],
                               rtol=TOL)
    v, weight, bias = rng.standard_normal((3, 11)), rng.standard_normal((4, 11)), rng.standard_normal(4)
    expected = F.linear(*(torch.from_numpy(a) for a in (v, weight, bias))).numpy()
    np.testing.assert_allclose(ref.linear(v, weight, bias), expected, rtol=TOL)
    v[1] = 0
    np.testing.assert_allclose(ref.l2_normalize(v), F.normalize(torch.from_numpy(v), dim=1).numpy(), rtol=TOL)


def test_prelu_and_softmax_references_match_torch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 7, 3)) * 4
    slope = rng.standard_normal(5)
    expected = F.prelu(torch.from_numpy(x), torch.from_numpy(slope)).numpy()
    assert ref.rel_err(ref.prelu(x, slope), expected) <= TOL
    assert ref.rel_err(ref.prelu(x[:, :, 0, 0], slope), expected[:, :, 0, 0]) <= TOL
    for axis in (1, 3):
        x[0, 0, 0, 0] = 700.0    # exp overflows without the max shift
        assert ref.rel_err(ref.softmax(x, axis), torch.softmax(torch.from_numpy(x), axis).numpy()) <= TOL
