"""Recognise a SqueezeNet v1.1 student from module order and shapes (not from fixed names).

Topology (torchvision's squeezenet1_1): 3x3/2 stem conv + ReLU, maxpool 3/2 ceil, fire2, fire3,
maxpool, fire4, fire5, maxpool, fire6..fire9, then a head: a 1x1 conv followed by global average
pooling (torchvision) or by a global depthwise conv (GDConv: one input channel per output channel, its
kernel the whole last feature map), or global average pooling followed by a Linear. Any channel counts and any
embedding size. A BatchNorm directly after a conv/linear belongs to it (folded later).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .errors import ConvertError
from .modules import Module

FIRE_COUNT = 8
POOL_AFTER = ("stem", "fire3", "fire5")   # maxpool 3x3/2 ceil_mode after these
MAX_LISTED_KEYS = 24


@dataclass
class Layer:
    """A conv or linear with its optional BatchNorm; tensors as float32 ndarrays."""
    source: str               # module name in the checkpoint
    kind: str                 # "conv" or "linear"
    weight: object
    bias: Optional[object]
    bn: Optional[Module] = None

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    @property
    def in_channels(self) -> int:
        return int(self.weight.shape[1])

    @property
    def kernel(self):
        return tuple(int(k) for k in self.weight.shape[2:]) if self.kind == "conv" else None


@dataclass
class Fire:
    name: str                 # canonical: fire2 .. fire9
    source: str               # common module prefix in the checkpoint
    squeeze: Layer
    expand1x1: Layer
    expand3x3: Layer

    @property
    def out_channels(self) -> int:
        return self.expand1x1.out_channels + self.expand3x3.out_channels


@dataclass
class SqueezeNetSpec:
    stem: Layer
    fires: list
    head: Layer               # conv 1x1 (before pooling) or linear (after pooling)
    gdconv: Optional[Layer] = None   # the global depthwise conv after a conv head; None: average pooling
    head_activation: str = "none"
    head_activation_reason: str = ""
    bn_folded: list = field(default_factory=list)   # source names of BatchNorms
    bn_eps: float = 1e-5      # not stored in a state_dict; PyTorch's default unless told otherwise

    @property
    def dim(self) -> int:
        return self.head.out_channels


class _Unplaced(Exception):
    def __init__(self, reason: str, index: int):
        super().__init__(reason)
        self.reason, self.index = reason, index


def _pair_batchnorms(modules: list):
    """Layers with their BatchNorms, plus (layer index, module) for modules that fit nowhere."""
    layers, stray, previous = [], [], None
    for module in modules:
        if module.kind in ("conv", "linear"):
            t = module.tensors
            layers.append(Layer(module.name, module.kind, t["weight"], t.get("bias")))
        elif (module.kind == "batchnorm" and previous is not None and previous.kind in ("conv", "linear")
              and layers[-1].bn is None and layers[-1].out_channels == module.out_channels):
            layers[-1].bn = module   # only the module right before a BatchNorm can own it
        else:
            stray.append((len(layers), module))
        previous = module
    return layers, stray


def _describe(layer: Layer) -> str:
    return f"{layer.source or '(top level)'} ({layer.kind}, weight {tuple(layer.weight.shape)})"


def _take_fire(layers: list, at: int, in_channels: int, name: str) -> Fire:
    group = layers[at:at + 3]
    if len(group) < 3 or any(layer.kind != "conv" for layer in group):
        found = ", ".join(_describe(layer) for layer in group) or "nothing"
        raise _Unplaced(f"{name}: expected three convs (squeeze, expand1x1, expand3x3), found {found}", at)
    squeezes = [l for l in group if l.kernel == (1, 1) and l.in_channels == in_channels]
    for squeeze in squeezes:
        rest = [l for l in group if l is not squeeze]
        e1 = [l for l in rest if l.kernel == (1, 1) and l.in_channels == squeeze.out_channels]
        e3 = [l for l in rest if l.kernel == (3, 3) and l.in_channels == squeeze.out_channels]
        if len(e1) == 1 and len(e3) == 1:
            return Fire(name, _common_prefix([l.source for l in group]), squeeze, e1[0], e3[0])
    found = ", ".join(_describe(layer) for layer in group)
    raise _Unplaced(
        f"{name}: expected a 1x1 squeeze conv taking {in_channels} channels and 1x1 + 3x3 expand convs "
        f"taking its output, found {found}", at)


def _common_prefix(names: list) -> str:
    parts = [n.split(".") for n in names]
    common = []
    for items in zip(*parts):
        if len(set(items)) != 1:
            break
        common.append(items[0])
    return ".".join(common)


def _parse(layers: list) -> SqueezeNetSpec:
    if not layers:
        raise _Unplaced("no conv or linear weights found", 0)
    stem = layers[0]
    if stem.kind != "conv" or stem.kernel != (3, 3) or stem.in_channels != 3:
        raise _Unplaced(f"expected the stem (a 3x3 conv on 3 input channels) first, found {_describe(stem)}", 0)
    channels, fires, at = stem.out_channels, [], 1
    for i in range(FIRE_COUNT):
        fire = _take_fire(layers, at, channels, f"fire{i + 2}")
        fires.append(fire)
        channels, at = fire.out_channels, at + 3
    if at >= len(layers):
        raise _Unplaced(f"expected a head (1x1 conv or Linear taking {channels} channels) after fire9", at)
    head = layers[at]
    if not ((head.kind == "conv" and head.kernel == (1, 1) and head.in_channels == channels)
            or (head.kind == "linear" and head.in_channels == channels)):
        raise _Unplaced(f"expected a head (1x1 conv or Linear taking {channels} channels) after fire9, "
                        f"found {_describe(head)}", at)
    gdconv = None
    if (head.kind == "conv" and at + 1 < len(layers) and layers[at + 1].kind == "conv"
            and layers[at + 1].in_channels == 1 and layers[at + 1].out_channels == head.out_channels):
        gdconv, at = layers[at + 1], at + 1
    if at + 1 < len(layers):
        raise _Unplaced(f"unexpected layers after the head {head.source}", at + 1)
    return SqueezeNetSpec(stem, fires, head, gdconv)


def recognise(modules: list, source: str = "checkpoint") -> SqueezeNetSpec:
    """Match the modules to SqueezeNet v1.1; ConvertError names every key that could not be placed."""
    layers, stray = _pair_batchnorms(modules)
    by_name = {m.name: m for m in modules}
    try:
        spec = _parse(layers)
        failed_at, reason = None, None
    except _Unplaced as exc:
        spec, failed_at, reason = None, exc.index, exc.reason
    if spec is not None and not stray:
        spec.bn_folded = [l.bn.name for l in _all_layers(spec) if l.bn is not None]
        return spec
    unplaced = []
    for _, module in stray:
        unplaced += module.keys
    if failed_at is not None:
        for layer in layers[failed_at:]:
            unplaced += by_name[layer.source].keys
            if layer.bn is not None:
                unplaced += layer.bn.keys
    if reason is None:
        reason = "modules that are not conv/linear weights or a BatchNorm right after one"
    listed = ", ".join(unplaced[:MAX_LISTED_KEYS])
    more = f" (and {len(unplaced) - MAX_LISTED_KEYS} more)" if len(unplaced) > MAX_LISTED_KEYS else ""
    raise ConvertError(
        f"{source}: not a recognisable SqueezeNet v1.1 student: {reason}. "
        f"Keys that could not be placed: {listed}{more}")


def _all_layers(spec: SqueezeNetSpec) -> list:
    layers = [spec.stem]
    for fire in spec.fires:
        layers += [fire.squeeze, fire.expand1x1, fire.expand3x3]
    return layers + [spec.head] + ([spec.gdconv] if spec.gdconv is not None else [])


all_layers = _all_layers
