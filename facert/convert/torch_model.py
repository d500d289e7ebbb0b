"""A plain-torch SqueezeNet v1.1 rebuilt from the recognised (unfolded) parameters, for verification.

BatchNorms stay separate modules here, so comparing it with facert also checks the folding.
"""
from __future__ import annotations

import torch
from torch import nn

from .squeezenet import POOL_AFTER, Layer, SqueezeNetSpec


def _conv(layer: Layer, eps: float, padding: int, stride: int = 1, groups: int = 1) -> nn.Module:
    out_c, in_c, kh, kw = layer.weight.shape
    conv = nn.Conv2d(in_c * groups, out_c, (kh, kw), stride=stride, padding=padding, groups=groups,
                     bias=layer.bias is not None)
    return _load(conv, layer, nn.BatchNorm2d, eps)


def _linear(layer: Layer, eps: float) -> nn.Module:
    out_f, in_f = layer.weight.shape
    return _load(nn.Linear(in_f, out_f, bias=layer.bias is not None), layer, nn.BatchNorm1d, eps)


def _load(module: nn.Module, layer: Layer, bn_type, eps: float) -> nn.Module:
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(layer.weight))
        if layer.bias is not None:
            module.bias.copy_(torch.from_numpy(layer.bias))
    if layer.bn is None:
        return module
    t = layer.bn.tensors
    affine = "weight" in t and "bias" in t
    bn = bn_type(t["running_mean"].shape[0], eps=eps, affine=affine)
    with torch.no_grad():
        bn.running_mean.copy_(torch.from_numpy(t["running_mean"]))
        bn.running_var.copy_(torch.from_numpy(t["running_var"]))
        if affine:
            bn.weight.copy_(torch.from_numpy(t["weight"]))
            bn.bias.copy_(torch.from_numpy(t["bias"]))
    return nn.Sequential(module, bn)


class _Fire(nn.Module):
    def __init__(self, fire, eps):
        super().__init__()
        self.squeeze = _conv(fire.squeeze, eps, 0)
        self.expand1x1 = _conv(fire.expand1x1, eps, 0)
        self.expand3x3 = _conv(fire.expand3x3, eps, 1)

    def forward(self, x):
        x = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1x1(x)), torch.relu(self.expand3x3(x))], 1)


class RebuiltSqueezeNet(nn.Module):
    def __init__(self, spec: SqueezeNetSpec):
        super().__init__()
        eps = spec.bn_eps
        self.stem = _conv(spec.stem, eps, 0, stride=2)
        self.fires = nn.ModuleList(_Fire(f, eps) for f in spec.fires)
        self.pool_after = [f.name in POOL_AFTER for f in spec.fires]
        self.head_is_conv = spec.head.kind == "conv"
        self.head = _conv(spec.head, eps, 0) if self.head_is_conv else _linear(spec.head, eps)
        self.gdconv = _conv(spec.gdconv, eps, 0, groups=spec.head.out_channels) if spec.gdconv is not None else None
        self.head_relu = spec.head_activation == "relu"

    def forward(self, x):
        pool = lambda t: nn.functional.max_pool2d(t, 3, 2, ceil_mode=True)  # noqa: E731
        x = pool(torch.relu(self.stem(x)))
        for fire, pool_next in zip(self.fires, self.pool_after):
            x = fire(x)
            if pool_next:
                x = pool(x)
        if self.head_is_conv:
            x = self.head(x)
            x = torch.relu(x) if self.head_relu else x
            x = self.gdconv(x) if self.gdconv is not None else x
            return x.mean(dim=(2, 3))
        x = self.head(x.mean(dim=(2, 3)))
        return torch.relu(x) if self.head_relu else x


def build_torch_model(spec: SqueezeNetSpec) -> RebuiltSqueezeNet:
    return RebuiltSqueezeNet(spec).eval()
