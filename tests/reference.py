"""Independent NumPy references for facert's ops, computed in float64.

Written from the PyTorch definitions (torch.nn.functional.conv2d / max_pool2d / adaptive_avg_pool2d(1) /
linear / normalize / prelu / softmax), sharing no code with the C++ kernels: every optimised path is checked against these, and
the whole-graph reference (tests of the engine) is built from them. Inputs: NCHW float arrays; outputs float64.
"""
from __future__ import annotations

import numpy as np

# fp32 kernels against these float64 references: the kernels sum in a different order (blocked GEMM,
# vector accumulators), so they agree to a few ulps of the largest value, not bit for bit.
FP32_REL_TOL = 1e-5
# Winograd F(4x4, 3x3) (conv method "winograd_f43"): its transforms scale by up to 8 and 1/24 and cancel, so
# its error is about ten times F(2x2, 3x3)'s or the GEMM's (seen: up to 7e-6 of max|ref|, K = 130 random
# channels; F(2,3) 4e-7).
WINOGRAD_F43_REL_TOL = 5e-5
CONV_REL_TOL = {"winograd_f43": WINOGRAD_F43_REL_TOL}  # by Conv2dKernel.method; FP32_REL_TOL otherwise


def rel_err(got, ref) -> float:
    """max |got - ref| / max |ref|: relative to the tensor's scale, so near-zero outputs do not blow it up."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"shape {got.shape} != reference {ref.shape}"
    scale = max(float(np.abs(ref).max(initial=0.0)), 1e-30)
    return float(np.abs(got - ref).max(initial=0.0)) / scale


def activation(x, kind: str):
    if kind == "none":
        return x
    if kind == "relu":
        return np.maximum(x, 0.0)
    if kind == "relu6":
        return np.clip(x, 0.0, 6.0)
    raise ValueError(f"unknown activation {kind!r}")


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def conv2d(x, weight, bias=None, stride=1, pad=0, dilation=1, groups=1, act="none"):
    """x (N, C, H, W), weight (O, C/groups, kh, kw) -> (N, O, Ho, Wo); zero padding, PyTorch geometry."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(pad), _pair(dilation)
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    assert c == cg * groups and o % groups == 0, "channels do not fit groups"
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    # cols[n, c, ky, kx, oy, ox] = xp[n, c, oy*sh + ky*dh, ox*sw + kx*dw]
    cols = np.empty((n, c, kh, kw, ho, wo))
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            cols[:, :, ky, kx] = xp[:, :, y0:y0 + sh * (ho - 1) + 1:sh, x0:x0 + sw * (wo - 1) + 1:sw]
    og = o // groups
    out = np.empty((n, o, ho, wo))
    for g in range(groups):
        cols_g = cols[:, g * cg:(g + 1) * cg]
        w_g = weight[g * og:(g + 1) * og]
        out[:, g * og:(g + 1) * og] = np.einsum("nckjyx,ockj->noyx", cols_g, w_g, optimize=True)
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return activation(out, act)


def pool_out_size(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size; in ceil mode a window that would start in the padding is dropped."""
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def maxpool2d(x, kernel, stride, pad=0, ceil_mode=False):
    """PyTorch MaxPool2d: padding is -inf, windows past the (padded) right/bottom edge are clipped."""
    x = np.asarray(x, dtype=np.float64)
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(pad)
    n, c, h, w = x.shape
    ho = pool_out_size(h, kh, sh, ph, ceil_mode)
    wo = pool_out_size(w, kw, sw, pw, ceil_mode)
    out = np.empty((n, c, ho, wo))
    for oy in range(ho):
        y0, y1 = max(oy * sh - ph, 0), min(oy * sh - ph + kh, h)
        for ox in range(wo):
            x0, x1 = max(ox * sw - pw, 0), min(ox * sw - pw + kw, w)
            out[:, :, oy, ox] = x[:, :, y0:y1, x0:x1].max(axis=(2, 3))
    return out


def global_avgpool(x):
    """(N, C, H, W) -> (N, C)"""
    return np.asarray(x, dtype=np.float64).mean(axis=(2, 3))


def linear(x, weight, bias=None, act="none"):
    """x (N, I), weight (O, I) -> (N, O)"""
    out = np.asarray(x, dtype=np.float64) @ np.asarray(weight, dtype=np.float64).T
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)
    return activation(out, act)


def prelu(x, slope):
    """x (N, C, ...) with a learned slope per channel for negative values, as torch.nn.PReLU(C)"""
    x = np.asarray(x, dtype=np.float64)
    a = np.asarray(slope, dtype=np.float64).reshape((1, -1) + (1,) * (x.ndim - 2))
    return np.where(x >= 0, x, a * x)


def softmax(x, axis: int = 1):
    """exp(x - max) / sum over `axis` (channels for NCHW), as torch.softmax(x, dim=axis)"""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def l2_normalize(v, eps: float = 1e-12):
    """rows divided by max(||row||_2, eps), as torch.nn.functional.normalize(v, dim=1)"""
    v = np.asarray(v, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), eps)
