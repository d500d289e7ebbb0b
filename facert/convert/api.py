"""convert_checkpoint(): checkpoint -> sq.bin, the one entry point the CLI and tools call."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .errors import ConvertError, VerificationError
from .fold import DEFAULT_BN_EPS
from .graph import IMAGENET_MEAN, IMAGENET_STD, InputConfig, build_graph
from .layout import find_state_dict
from .load import load_checkpoint
from .modules import group_modules
from .squeezenet import choose_head_activation, recognise
from .torchscript import head_relu_from_graph
from .verify import VerifyResult, verify_file
from .writer import write_sq_bin

PRODUCER = "facert 0.1.0 convert"


@dataclass
class ConvertReport:
    source: str
    out_path: str
    container: str                 # "pickle" or "torchscript"
    location: str                  # where the state_dict was found
    stripped_prefixes: list
    ignored: list                  # checkpoint entries / keys not used
    channels: list                 # stem out, then (squeeze, expand1x1, expand3x3) per fire
    head: str                      # e.g. "conv 1x1 512->128 (classifier.1)"
    head_activation: str
    head_activation_reason: str
    bn_folded: int
    dim: int
    input: dict
    dtype: str
    file_size: int
    params: int
    macs: int
    metadata: dict = field(default_factory=dict)
    verify: Optional[VerifyResult] = None

    def lines(self) -> list:
        ignored = ", ".join(self.ignored[:8]) + (f" (+{len(self.ignored) - 8} more)" if len(self.ignored) > 8 else "")
        fires = " ".join(f"{s}/{e1}+{e3}" for s, e1, e3 in self.channels[1:])
        inp = self.input
        out = [
            f"read {self.source} ({self.container}); state_dict at {self.location}"
            + (f", stripped prefixes {''.join(self.stripped_prefixes)}" if self.stripped_prefixes else ""),
            f"ignored: {ignored}" if self.ignored else "ignored: nothing",
            f"recognised SqueezeNet v1.1: stem {self.channels[0]}ch, fires (squeeze/e1+e3) {fires}",
            f"head: {self.head}, activation {self.head_activation} ({self.head_activation_reason})",
            f"batchnorm folded: {self.bn_folded}; embedding dim {self.dim}",
            f"input: {inp['shape']} {inp['channel_order']}, x = (pixel * {inp['scale']:.9g} - mean) / std, "
            f"mean {inp['mean']}, std {inp['std']}",
            f"wrote {self.out_path}: {self.dtype}, {self.file_size} bytes, {self.params} params, "
            f"{self.macs / 1e6:.1f} M MACs",
        ]
        out.append(self.verify.describe() if self.verify is not None else "verify: skipped (--no-verify)")
        return out


def _input_config(input_size, channel_order, mean, std, scale) -> InputConfig:
    if isinstance(input_size, int):
        height = width = input_size
    else:
        height, width = (int(v) for v in input_size)
    return InputConfig(height, width, channel_order,
                       1.0 / 255.0 if scale is None else float(scale),
                       tuple(float(v) for v in (IMAGENET_MEAN if mean is None else _three(mean, "mean"))),
                       tuple(float(v) for v in (IMAGENET_STD if std is None else _three(std, "std"))))


def _three(values, what):
    values = [values] if isinstance(values, (int, float)) else list(values)
    if len(values) == 1:
        values = values * 3   # one value applies to all channels
    if len(values) != 3:
        raise ConvertError(f"--{what} takes 1 or 3 values, got {len(values)}")
    return values


def convert_checkpoint(path, out_path, *, input_size=112, channel_order="RGB", mean=None, std=None,
                       scale=None, fp16=False, head_activation="auto", trust_pickle=False, verify=True,
                       metadata=None, bn_eps=DEFAULT_BN_EPS, threads=0) -> ConvertReport:
    """Convert a SqueezeNet v1.1 student checkpoint to sq.bin.

    input_size: int or (H, W). mean/std: 1 or 3 floats (default ImageNet); scale: default 1/255.
    metadata: extra string entries for __metadata__ (e.g. {"verify_threshold": "0.42"}).
    Raises FileNotFoundError, ConvertError (UnsafeCheckpointError without trust_pickle) and
    VerificationError (the file is written, but does not match PyTorch within tolerance).
    """
    cfg = _input_config(input_size, channel_order, mean, std, scale)
    loaded = load_checkpoint(path, trust_pickle)
    found = find_state_dict(loaded.obj)
    spec = recognise(group_modules(found.tensors), source=str(path))
    spec.bn_eps = float(bn_eps)
    graph_says_relu = head_relu_from_graph(loaded.obj) if loaded.container == "torchscript" else None
    choose_head_activation(spec, head_activation, graph_says_relu)
    built = build_graph(spec, cfg)
    meta = {"producer": PRODUCER, "source": Path(path).name,
            "weights": "float16" if fp16 else "float32"}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    dtype = "F16" if fp16 else "F32"
    size = write_sq_bin(out_path, built.graph, built.tensors, meta, dtype)
    report = ConvertReport(
        source=str(path), out_path=str(out_path), container=loaded.container, location=found.location,
        stripped_prefixes=found.stripped, ignored=found.ignored_entries,
        channels=[spec.stem.out_channels] + [(f.squeeze.out_channels, f.expand1x1.out_channels,
                                              f.expand3x3.out_channels) for f in spec.fires],
        head=_describe_head(spec), head_activation=spec.head_activation,
        head_activation_reason=spec.head_activation_reason, bn_folded=len(spec.bn_folded), dim=spec.dim,
        input=built.graph["input"], dtype=dtype, file_size=size, params=built.params, macs=built.macs,
        metadata=meta)
    if verify:
        import torch

        original = loaded.obj if isinstance(loaded.obj, (torch.nn.Module, torch.jit.ScriptModule)) else None
        report.verify = verify_file(spec, out_path, built.graph["input"]["shape"], dtype, threads=threads,
                                    original=original)
        if not report.verify.passed:
            error = VerificationError(f"{out_path} was written but does not match PyTorch: {report.verify.describe()}")
            error.report = report   # the CLI still prints what was converted
            raise error
    return report


def _describe_head(spec) -> str:
    h = spec.head
    kind = "conv 1x1 then global average pool" if h.kind == "conv" else "global average pool then linear"
    bn = " + batchnorm" if h.bn is not None else ""
    return f"{kind}{bn}, {h.in_channels}->{h.out_channels} (checkpoint name {h.source!r})"
