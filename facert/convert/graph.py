"""Build the sq.bin graph (docs/format.md) and its weight tensors from a recognised SqueezeNet."""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .errors import ConvertError
from .fold import folded_layer
from .squeezenet import POOL_AFTER, SqueezeNetSpec

MAX_INPUT_SIDE = 4096


@dataclass
class InputConfig:
    """x = (pixel * scale - mean) / std per channel; no defaults: a wrong one is a silent wrong answer."""
    height: int
    width: int
    channel_order: str
    scale: float
    mean: tuple
    std: tuple

    def validate(self) -> None:
        if not (1 <= self.height <= MAX_INPUT_SIDE and 1 <= self.width <= MAX_INPUT_SIDE):
            raise ConvertError(f"input size {self.height}x{self.width} is outside 1..{MAX_INPUT_SIDE}")
        if self.channel_order not in ("RGB", "BGR"):
            raise ConvertError(f"channel order must be RGB or BGR, got {self.channel_order!r}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ConvertError(f"mean and std need 3 values each, got {list(self.mean)} and {list(self.std)}")
        values = [self.scale, *self.mean, *self.std]
        if not all(math.isfinite(v) for v in values):
            raise ConvertError("scale, mean and std must be finite numbers")
        if any(s == 0 for s in self.std) or self.scale == 0:
            raise ConvertError(f"scale and std must be non-zero, got scale {self.scale} std {list(self.std)}")


def _conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _pool_out(size: int, kernel: int = 3, stride: int = 2, pad: int = 0) -> int:
    # PyTorch ceil_mode: a window starting in the right padding is dropped
    out = -(-(size + 2 * pad - kernel) // stride) + 1
    if (out - 1) * stride >= size + pad:
        out -= 1
    return out


class _Builder:
    def __init__(self, shape, bn_eps):
        self.bn_eps = bn_eps
        self.ops, self.tensors = [], OrderedDict()
        self.shapes = {"input": tuple(shape)}
        self.params = self.macs = 0

    def conv(self, name, source_input, layer, pad, stride, activation):
        weight, bias = folded_layer(layer, self.bn_eps)
        c, h, w = self.shapes[source_input]
        kh, kw = weight.shape[2:]
        groups = c // int(weight.shape[1])   # 1, or c for a depthwise conv
        ho, wo = _conv_out(h, kh, stride, pad), _conv_out(w, kw, stride, pad)
        self._check_size(name, ho, wo)
        self.tensors[f"{name}.weight"] = weight
        if bias is not None:
            self.tensors[f"{name}.bias"] = bias
        self.ops.append({"type": "conv2d", "name": name, "inputs": [source_input], "outputs": [name],
                         "weight": f"{name}.weight", "bias": f"{name}.bias" if bias is not None else None,
                         "kernel": [int(kh), int(kw)], "stride": [stride, stride], "pad": [pad, pad],
                         "dilation": [1, 1], "groups": groups, "activation": activation})
        self.shapes[name] = (int(weight.shape[0]), ho, wo)
        self.params += weight.size + (0 if bias is None else bias.size)
        self.macs += weight.size * ho * wo
        return name

    def maxpool(self, name, source_input):
        c, h, w = self.shapes[source_input]
        ho, wo = _pool_out(h), _pool_out(w)
        self._check_size(name, ho, wo)
        self.ops.append({"type": "maxpool2d", "name": name, "inputs": [source_input], "outputs": [name],
                         "kernel": [3, 3], "stride": [2, 2], "pad": [0, 0], "ceil_mode": True})
        self.shapes[name] = (c, ho, wo)
        return name

    def concat(self, name, inputs):
        first = self.shapes[inputs[0]]
        self.ops.append({"type": "concat", "name": name, "inputs": list(inputs), "outputs": [name], "axis": 1})
        self.shapes[name] = (sum(self.shapes[i][0] for i in inputs),) + first[1:]
        return name

    def global_avgpool(self, name, source_input):
        self.ops.append({"type": "global_avgpool", "name": name, "inputs": [source_input], "outputs": [name]})
        self.shapes[name] = (self.shapes[source_input][0],)
        return name

    def linear(self, name, source_input, layer, activation):
        weight, bias = folded_layer(layer, self.bn_eps)
        self.tensors[f"{name}.weight"] = weight
        if bias is not None:
            self.tensors[f"{name}.bias"] = bias
        self.ops.append({"type": "linear", "name": name, "inputs": [source_input], "outputs": [name],
                         "weight": f"{name}.weight", "bias": f"{name}.bias" if bias is not None else None,
                         "activation": activation})
        self.shapes[name] = (int(weight.shape[0]),)
        self.params += weight.size + (0 if bias is None else bias.size)
        self.macs += weight.size
        return name

    @staticmethod
    def _check_size(name, ho, wo):
        if ho < 1 or wo < 1:
            raise ConvertError(f"input too small: {name} would have output size {ho}x{wo}; use a larger --input-size")


@dataclass
class BuiltGraph:
    graph: dict
    tensors: "OrderedDict[str, np.ndarray]"
    shapes: dict       # activation name -> shape without N
    params: int
    macs: int


def build_graph(spec: SqueezeNetSpec, cfg: InputConfig) -> BuiltGraph:
    cfg.validate()
    b = _Builder((3, cfg.height, cfg.width), spec.bn_eps)
    x = b.conv("stem", "input", spec.stem, pad=0, stride=2, activation="relu")
    x = b.maxpool("stem.pool", x)
    for fire in spec.fires:
        s = b.conv(f"{fire.name}.squeeze", x, fire.squeeze, pad=0, stride=1, activation="relu")
        e1 = b.conv(f"{fire.name}.expand1x1", s, fire.expand1x1, pad=0, stride=1, activation="relu")
        e3 = b.conv(f"{fire.name}.expand3x3", s, fire.expand3x3, pad=1, stride=1, activation="relu")
        x = b.concat(fire.name, [e1, e3])
        if fire.name in POOL_AFTER:
            x = b.maxpool(f"{fire.name}.pool", x)
    if spec.head.kind == "conv":
        x = b.conv("head", x, spec.head, pad=0, stride=1, activation=spec.head_activation)
        if spec.gdconv is not None:
            x = b.conv("gdconv", x, spec.gdconv, pad=0, stride=1, activation="none")
            if b.shapes[x][1:] != (1, 1):
                kh, kw = spec.gdconv.kernel
                raise ConvertError(f"the global depthwise conv {spec.gdconv.source} ({kh}x{kw}) does not cover the "
                                   f"last feature map at input {cfg.height}x{cfg.width}: convert with the input size "
                                   f"it was trained for (--input-size)")
        out = b.global_avgpool("embedding", x)   # after a GDConv: the 1x1 map as the (dim,) embedding
    else:
        x = b.global_avgpool("pool", x)
        out = b.linear("embedding", x, spec.head, activation=spec.head_activation)
    graph = {
        "arch": "squeezenet1_1",
        "input": {"name": "input", "shape": [3, cfg.height, cfg.width], "channel_order": cfg.channel_order,
                  "scale": float(cfg.scale), "mean": [float(m) for m in cfg.mean],
                  "std": [float(s) for s in cfg.std]},
        "output": {"name": out, "dim": spec.dim, "l2_normalize": True},
        "ops": b.ops,
    }
    return BuiltGraph(graph, b.tensors, b.shapes, int(b.params), int(b.macs))
