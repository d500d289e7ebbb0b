"""Group a state_dict's tensors into modules (conv, linear, batchnorm) in the file's order."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BN_BUFFERS = {"running_mean", "running_var"}
BN_KEYS = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}


@dataclass
class Module:
    name: str           # module path, e.g. "features.3.squeeze" ("" for top-level tensors)
    kind: str           # "conv", "linear", "batchnorm" or "unknown"
    tensors: dict       # leaf name ("weight", "bias", ...) -> float32/int ndarray
    keys: list          # the original state_dict keys, for error messages

    @property
    def out_channels(self) -> int:
        return int(self.tensors["running_mean"].shape[0] if self.kind == "batchnorm"
                   else self.tensors["weight"].shape[0])


def _to_numpy(tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point():
        tensor = tensor.float()   # fp16/bf16 checkpoints: convert and fold in float
    return tensor.numpy()


def _classify(tensors: dict) -> str:
    leaves = set(tensors)
    if BN_BUFFERS <= leaves and leaves <= BN_KEYS:
        channels = tensors["running_mean"].shape
        if len(channels) == 1 and all(tensors[k].shape == channels for k in leaves - {"num_batches_tracked"}):
            return "batchnorm"
        return "unknown"
    if "weight" in leaves and leaves <= {"weight", "bias"}:
        weight = tensors["weight"]
        bias_ok = "bias" not in leaves or tensors["bias"].shape == (weight.shape[0],)
        if weight.ndim == 4 and bias_ok:
            return "conv"
        if weight.ndim == 2 and bias_ok:
            return "linear"
    return "unknown"


def group_modules(state_dict) -> list:
    """Modules in the order their first tensor appears (registration order = forward order for
    nn.Sequential and for the usual conv-then-bn definitions)."""
    order, grouped, keys = [], {}, {}
    for key, tensor in state_dict.items():
        name, _, leaf = key.rpartition(".")
        if name not in grouped:
            order.append(name)
            grouped[name], keys[name] = {}, []
        grouped[name][leaf] = _to_numpy(tensor)
        keys[name].append(key)
    return [Module(n, _classify(grouped[n]), grouped[n], keys[n]) for n in order]
