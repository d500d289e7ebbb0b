"""Fold an inference-mode BatchNorm into the conv/linear before it (computed in float64)."""
from __future__ import annotations

import numpy as np

DEFAULT_BN_EPS = 1e-5   # PyTorch's default; a state_dict does not record eps


def fold_batchnorm(weight, bias, bn_tensors: dict, eps: float = DEFAULT_BN_EPS):
    """y = gamma * (Wx + b - mean) / sqrt(var + eps) + beta  ==  W'x + b'. Returns float32 (W', b')."""
    w = np.asarray(weight, dtype=np.float64)
    b = np.zeros(w.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
    mean = np.asarray(bn_tensors["running_mean"], dtype=np.float64)
    var = np.asarray(bn_tensors["running_var"], dtype=np.float64)
    gamma = np.asarray(bn_tensors["weight"], dtype=np.float64) if "weight" in bn_tensors else np.ones_like(mean)
    beta = np.asarray(bn_tensors["bias"], dtype=np.float64) if "bias" in bn_tensors else np.zeros_like(mean)
    scale = gamma / np.sqrt(var + eps)
    folded_w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    folded_b = (b - mean) * scale + beta
    return folded_w.astype(np.float32), folded_b.astype(np.float32)


def folded_layer(layer, eps: float = DEFAULT_BN_EPS):
    """(weight, bias or None) of a squeezenet.Layer with its BatchNorm folded in."""
    if layer.bn is None:
        bias = None if layer.bias is None else np.asarray(layer.bias, dtype=np.float32)
        return np.asarray(layer.weight, dtype=np.float32), bias
    return fold_batchnorm(layer.weight, layer.bias, layer.bn.tensors, eps)
