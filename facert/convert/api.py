"""convert_checkpoint() and from_module(): the entry points the CLI, tools and users call."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import decide
from .errors import ConvertError, VerificationError
from .fold import DEFAULT_BN_EPS
from .graph import InputConfig, build_graph
from .layout import find_state_dict
from .load import import_torch, load_checkpoint
from .modules import group_modules
from .squeezenet import recognise
from .torchscript import head_relu_from_graph
from .verify import VerifyResult, verify_file
from .writer import write_sq_bin

PRODUCER = "facert 0.1.0 convert"
DEFAULT_INPUT_SIZE = 112
DEFAULT_CHANNEL_ORDER = "RGB"   # what torchvision-style training pipelines feed (PIL images)


@dataclass
class ConvertReport:
    source: str
    out_path: str
    container: str                 # "pickle", "torchscript" or "module"
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
    input_reason: str              # where mean/std came from ("as requested", "from the checkpoint's config entry")
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
            f"mean {inp['mean']}, std {inp['std']} (mean/std {self.input_reason})",
            f"wrote {self.out_path}: {self.dtype}, {self.file_size} bytes, {self.params} params, "
            f"{self.macs / 1e6:.1f} M MACs",
        ]
        out.append(self.verify.describe() if self.verify is not None else "verify: skipped (--no-verify)")
        return out


def _size(input_size):
    if isinstance(input_size, int):
        return input_size, input_size
    values = [int(v) for v in input_size]
    if len(values) == 4:     # an example tensor shape (N, C, H, W)
        values = values[2:]
    if len(values) != 2:
        raise ConvertError(f"input size must be N, (H, W) or (N, 3, H, W), got {input_size!r}")
    return tuple(values)


def _three(values, what):
    values = [values] if isinstance(values, (int, float)) else list(values)
    if len(values) == 1:
        values = values * 3   # one value applies to all channels
    if len(values) != 3:
        raise ConvertError(f"--{what} takes 1 or 3 values, got {len(values)}")
    return tuple(float(v) for v in values)


def _input_config(input_size, channel_order, mean, std, scale, config):
    """(InputConfig, reason) from the caller's values, else the checkpoint's config; mean/std never guessed."""
    mean, std, reason = decide.normalisation(mean, std, config)
    size = decide.from_config(input_size, config, "input_size", DEFAULT_INPUT_SIZE)
    order = decide.from_config(channel_order, config, "channel_order", DEFAULT_CHANNEL_ORDER)
    scale = decide.from_config(scale, config, "scale", 1.0 / 255.0)
    height, width = _size(size)
    return InputConfig(height, width, str(order).upper(), float(scale), _three(mean, "mean"),
                       _three(std, "std")), reason


def _traced_head_relu(module, height: int, width: int):
    """Whether the module's graph puts a ReLU after its head: read from a TorchScript module's graph,
    or from tracing a Python nn.Module once on a zero image. None when the graph cannot tell."""
    torch = import_torch()
    if isinstance(module, torch.jit.ScriptModule):
        return head_relu_from_graph(module)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")   # TracerWarning, TorchScript deprecation
            traced = torch.jit.trace(module.eval(), torch.zeros(1, 3, height, width), check_trace=False)
    except Exception:  # a forward tracing cannot follow: the caller must say
        return None
    return head_relu_from_graph(traced)


def convert_checkpoint(path, out_path, *, input_size=None, channel_order=None, mean=None, std=None,
                       scale=None, fp16=False, head_activation=None, trust_pickle=False, verify=True,
                       metadata=None, bn_eps=DEFAULT_BN_EPS, threads=0) -> ConvertReport:
    """Convert a SqueezeNet v1.1 student checkpoint to sq.bin.

    What a state_dict cannot tell must come from the caller or the checkpoint itself, never a guess:
    head_activation ("relu"/"none"; a TorchScript graph, a pickled module or facert distill's `config`
    entry also tell), mean and std (1 or 3 floats each; the `config` entry also tells). input_size
    (int or (H, W)), channel_order and scale default to the config's, else 112, "RGB" and 1/255.
    metadata: extra string entries for __metadata__ (e.g. {"verify_threshold": "0.42"}).
    A TorchScript archive or a pickle with Python objects is code: it needs trust_pickle=True.
    Raises FileNotFoundError, ConvertError (UnsafeCheckpointError without trust_pickle),
    ImportError (no torch) and VerificationError (the file is written, but does not match PyTorch or
    its outputs are degenerate).
    """
    loaded = load_checkpoint(path, trust_pickle)
    torch = import_torch()
    module = loaded.obj if isinstance(loaded.obj, (torch.nn.Module, torch.jit.ScriptModule)) else None
    return _convert(loaded.obj, module, str(path), Path(path).name, loaded.container, out_path,
                    (input_size, channel_order, mean, std, scale), head_activation,
                    decide.checkpoint_config(loaded.obj), fp16, verify, metadata, bn_eps, threads)


def from_module(model, example_input_size, out_path, *, mean, std, channel_order="RGB", scale=None,
                head_activation=None, fp16=False, verify=True, metadata=None, bn_eps=DEFAULT_BN_EPS,
                threads=0) -> ConvertReport:
    """Convert a live SqueezeNet v1.1 nn.Module (on the CPU): its graph, traced once in eval mode on a
    zero image of example_input_size (an int, (H, W) or (N, 3, H, W)), tells the head activation, and
    the written file is verified against the module itself. mean/std: 1 or 3 floats each, as the
    model was trained. The module's train/eval mode is restored afterwards."""
    torch = import_torch()
    if not isinstance(model, torch.nn.Module):
        raise ConvertError(f"from_module needs a torch.nn.Module, got {type(model).__name__}")
    devices = {t.device.type for t in model.state_dict().values()}
    if devices - {"cpu"}:
        raise ConvertError(f"the module has tensors on {', '.join(sorted(devices - {'cpu'}))}: "
                           f"pass model.cpu() (facert compares it with its own CPU output)")
    was_training = model.training
    try:
        return _convert(model, model, f"{type(model).__name__} module", type(model).__name__, "module", out_path,
                        (_size(example_input_size), channel_order, mean, std, scale), head_activation, {}, fp16,
                        verify, metadata, bn_eps, threads)
    finally:
        model.train(was_training)


def _convert(obj, module, source, source_name, container, out_path, input_options, head_activation,
             config, fp16, verify, metadata, bn_eps, threads) -> ConvertReport:
    found = find_state_dict(obj)
    spec = recognise(group_modules(found.tensors), source=source)
    spec.bn_eps = float(bn_eps)
    cfg, input_reason = _input_config(*input_options, config)
    cfg.validate()
    graph_relu, graph_source = None, ""
    if module is not None and head_activation is None:
        graph_relu = _traced_head_relu(module, cfg.height, cfg.width)
        graph_source = "the TorchScript graph" if container == "torchscript" else "the module's traced graph"
    chosen = decide.head_activation(head_activation, graph_relu, graph_source, config, _describe_head(spec))
    spec.head_activation, spec.head_activation_reason = chosen.value, chosen.reason
    built = build_graph(spec, cfg)
    meta = {"producer": PRODUCER, "source": source_name, "weights": "float16" if fp16 else "float32"}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    _check_verify_metadata(meta)
    dtype = "F16" if fp16 else "F32"
    size = write_sq_bin(out_path, built.graph, built.tensors, meta, dtype)
    report = ConvertReport(
        source=source, out_path=str(out_path), container=container, location=found.location,
        stripped_prefixes=found.stripped, ignored=found.ignored_entries,
        channels=[spec.stem.out_channels] + [(f.squeeze.out_channels, f.expand1x1.out_channels,
                                              f.expand3x3.out_channels) for f in spec.fires],
        head=_describe_head(spec), head_activation=spec.head_activation,
        head_activation_reason=spec.head_activation_reason, bn_folded=len(spec.bn_folded), dim=spec.dim,
        input=built.graph["input"], input_reason=input_reason, dtype=dtype, file_size=size, params=built.params,
        macs=built.macs, metadata=meta)
    if verify:
        report.verify = verify_file(spec, out_path, built.graph["input"], dtype, threads=threads, original=module)
        if not report.verify.passed:
            error = VerificationError(f"{out_path} was written but does not match PyTorch or is unusable: "
                                      f"{report.verify.describe()}")
            error.report = report   # the CLI still prints what was converted
            raise error
    return report


def _check_verify_metadata(meta: dict) -> None:
    """verify_threshold must be a cosine and say which embedding it was calibrated for."""
    from ..faces import EMBEDDINGS, FACE_EMBEDDING

    if "verify_threshold" in meta:
        try:
            t = float(meta["verify_threshold"])
        except ValueError:
            t = float("nan")
        if not -1.0 <= t <= 1.0:
            raise ConvertError(f"--meta verify_threshold={meta['verify_threshold']} is not a cosine in [-1, 1]")
        if "verify_embedding" not in meta:
            raise ConvertError(f"--meta verify_threshold needs --meta verify_embedding=E, the embedding it was "
                               f"calibrated for: {FACE_EMBEDDING} for facert eval-pairs' 'student' figures "
                               f"(facert.face_embedding), face for its 'student_other' ones")
    if "verify_embedding" in meta and meta["verify_embedding"] not in EMBEDDINGS:
        raise ConvertError(f"--meta verify_embedding must be one of {', '.join(EMBEDDINGS)}, "
                           f"got {meta['verify_embedding']!r}")


def _describe_head(spec) -> str:
    h = spec.head
    if h.kind == "linear":
        kind = "global average pool then linear"
    elif spec.gdconv is None:
        kind = "conv 1x1 then global average pool"
    else:
        kind = "conv 1x1 then global depthwise conv {}x{} ({!r})".format(*spec.gdconv.kernel, spec.gdconv.source)
    bn = " + batchnorm" if h.bn is not None else ""
    return f"{kind}{bn}, {h.in_channels}->{h.out_channels} (checkpoint name {h.source!r})"
