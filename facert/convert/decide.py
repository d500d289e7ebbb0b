"""What a state_dict cannot tell: the head's activation and the input normalisation.

Each comes from the caller, else from the checkpoint itself (a TorchScript graph or a module's traced
graph for the activation; the `config` entry `facert distill` writes for both), else the converter
refuses with a message naming the option that decides. Nothing is guessed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .errors import ConvertError

HEAD_ACTIVATIONS = ("relu", "none")
CONFIG_ENTRY = "config"   # written by facert.distill.train next to the student's state_dict


@dataclass
class Decided:
    value: object
    reason: str


def checkpoint_config(obj) -> dict:
    """The checkpoint's `config` dict (facert distill writes one), or {}."""
    if isinstance(obj, dict) and isinstance(obj.get(CONFIG_ENTRY), dict):
        return obj[CONFIG_ENTRY]
    return {}


def head_activation(requested, graph_says_relu: Optional[bool], graph_source: str, config: dict,
                    head_description: str) -> Decided:
    if requested is not None:
        if requested not in HEAD_ACTIVATIONS:
            raise ConvertError(f"--head-activation must be relu or none, got {requested!r}")
        return Decided(requested, "as requested")
    if graph_says_relu is not None:
        return Decided("relu" if graph_says_relu else "none", f"read from {graph_source}")
    if config.get("head_activation") in HEAD_ACTIVATIONS:
        return Decided(config["head_activation"], "from the checkpoint's config entry")
    raise ConvertError(
        f"the checkpoint does not say whether its head ({head_description}) is followed by a ReLU: "
        f"torchvision's SqueezeNet has one after classifier.1, embedding students usually drop it, and "
        f"the weights look the same either way. Pass --head-activation relu or --head-activation none "
        f"(head_activation= in Python), or convert the model itself (a TorchScript archive, or "
        f"facert.convert.from_module), whose graph tells.")


def normalisation(mean, std, config: dict) -> tuple:
    """((mean, std) as given or from the config, reason)."""
    if (mean is None) != (std is None):
        raise ConvertError("--mean and --std go together: pass both (the checkpoint cannot tell the other)")
    if mean is not None:
        return mean, std, "as requested"
    if config.get("mean") is not None and config.get("std") is not None:
        return config["mean"], config["std"], "from the checkpoint's config entry"
    raise ConvertError(
        "the checkpoint does not say how its input was normalised, x = (pixel * scale - mean) / std: "
        "pass --mean and --std (1 or 3 values each; e.g. --mean 0.485 0.456 0.406 --std 0.229 0.224 0.225 "
        "for ImageNet statistics, --mean 0.5 --std 0.5 for facert distill's students). A wrong guess "
        "gives embeddings that look fine and are wrong.")


def from_config(value, config: dict, key: str, default):
    """The caller's value, else the config's, else the documented default (for settings whose default
    is a convention, not a guess about the weights: input size, channel order, pixel scale)."""
    if value is not None:
        return value
    return config[key] if config.get(key) is not None else default
