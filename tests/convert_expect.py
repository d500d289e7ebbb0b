"""What a correct conversion of a test student contains, derived from the student itself (not from
facert.convert): its conv/linear layers in forward order with their BatchNorms folded in float64."""
from __future__ import annotations

import torch
from torch import nn

FIRE_OPS = ["conv2d", "conv2d", "conv2d", "concat"]
BODY_OPS = (["conv2d", "maxpool2d"] + FIRE_OPS * 2 + ["maxpool2d"] + FIRE_OPS * 2 + ["maxpool2d"]
            + FIRE_OPS * 4)


def expected_op_types(conv_head: bool) -> list:
    return BODY_OPS + (["conv2d", "global_avgpool"] if conv_head else ["global_avgpool", "linear"])


def folded_layers(model: nn.Module) -> list:
    """[(weight, bias)] as float64 ndarrays, one per conv/linear in registration order, BN folded."""
    modules = [m for m in model.modules() if not list(m.children())]
    layers = []
    for i, m in enumerate(modules):
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        w = m.weight.detach().double()
        b = m.bias.detach().double() if m.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
        following = modules[i + 1] if i + 1 < len(modules) else None
        if isinstance(following, (nn.BatchNorm1d, nn.BatchNorm2d)):
            bn = following
            s = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
            w = w * s.view(-1, *([1] * (w.dim() - 1)))
            b = (b - bn.running_mean.double()) * s + bn.bias.detach().double()
        layers.append((w.numpy(), b.numpy()))
    return layers


def weighted_ops(graph: dict) -> list:
    return [op for op in graph["ops"] if op["type"] in ("conv2d", "linear")]
