"""MTCNN's P-Net, R-Net and O-Net (facenet-pytorch 2.6.0's state dicts, MIT) -> three sq.bin graphs.

Each net becomes one fully convolutional graph with a single output, the heads concatenated on channels:
    P-Net: (N, 6, h, w)  = box regression (4), face probability (2: softmax, non-face then face)
    R-Net: (N, 6, 1, 1)  = box regression (4), probability (2)
    O-Net: (N, 18, 1, 1) = box regression (4), landmarks (10: x1..x5 then y1..y5), 2 zero channels,
                           probability (2)
(OpenCL's NC4HW4 concat needs every input to start on a 4-channel block: hence regression first and O-Net's
landmark head widened by two zero channels, so that all three nets run wholly on OpenCL.)
R-Net's and O-Net's dense layers run on the last 3x3 feature map, so they are written as 3x3 convs (and
the 1x1 heads after them as 1x1 convs). facenet-pytorch flattens that map after permute(0, 3, 2, 1),
i.e. in (w, h, c) order; the permutation is folded into the conv weights here, so the runtime needs
neither a flatten nor a permute op. Input: RGB, x = (pixel - 127.5) / 128, as MTCNN was trained.

Usage: python -m facert.convert.mtcnn SOURCE OUT_DIR
SOURCE: the facenet-pytorch wheel (.whl) or a folder holding pnet.pt, rnet.pt, onet.pt.
"""
from __future__ import annotations

import io
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .errors import ConvertError
from .writer import write_sq_bin

PRODUCER = "facert 0.1.0 convert.mtcnn"
NETS = ("pnet", "rnet", "onet")
INPUT_SIDE = {"pnet": 12, "rnet": 24, "onet": 48}
# The trunk: convs (each followed by its PReLU) and "pool:k" is a k x k / stride 2 max pool in ceil mode.
TRUNKS = {
    "pnet": ["conv1", "pool:2", "conv2", "conv3"],
    "rnet": ["conv1", "pool:3", "conv2", "pool:3", "conv3", "dense4"],
    "onet": ["conv1", "pool:3", "conv2", "pool:3", "conv3", "pool:2", "conv4", "dense5"],
}
# Heads on the trunk's output, in output channel order; the last is the non-face/face softmax.
HEADS = {"pnet": ["conv4_2", "conv4_1"], "rnet": ["dense5_2", "dense5_1"],
         "onet": ["dense6_2", "dense6_3", "dense6_1"]}


def _load_state_dicts(source: Path) -> dict:
    import torch

    source = Path(source)
    if not source.exists():
        raise ConvertError(f"not found: {source}")
    out = {}
    for net in NETS:
        if source.is_dir():
            path = source / f"{net}.pt"
            if not path.is_file():
                raise ConvertError(f"{source} has no {net}.pt (expected facenet-pytorch's data folder)")
            blob = path.read_bytes()
        else:
            member = f"facenet_pytorch/data/{net}.pt"
            try:
                with zipfile.ZipFile(source) as wheel:
                    blob = wheel.read(member)
            except (zipfile.BadZipFile, KeyError) as exc:
                raise ConvertError(f"{source}: not a facenet-pytorch wheel with {member} ({exc})") from None
        state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        out[net] = {k: v.detach().numpy().astype(np.float32) for k, v in state.items()}
    return out


def _pool_out(size: int, k: int, s: int = 2) -> int:
    out = -(-(size - k) // s) + 1          # PyTorch ceil_mode, no padding
    return out - 1 if (out - 1) * s >= size else out


class _Graph:
    def __init__(self, net: str, state: dict):
        self.net, self.state = net, state
        self.ops, self.tensors = [], OrderedDict()
        side = INPUT_SIDE[net]
        self._shapes = {"input": (3, side, side)}   # activation name -> (C, H, W) at the nominal input size

    def _weight(self, key: str) -> np.ndarray:
        if key not in self.state:
            raise ConvertError(f"{self.net}: state dict has no {key} (keys: {', '.join(self.state)})")
        return self.state[key]

    def conv(self, name: str, source: str, weight: np.ndarray, bias: np.ndarray) -> str:
        c, h, w = self.shapes_of(source)
        o, ci, kh, kw = weight.shape
        if ci != c:
            raise ConvertError(f"{self.net}.{name}: expects {ci} input channels, the graph gives {c}")
        self.tensors[f"{name}.weight"] = weight
        self.tensors[f"{name}.bias"] = bias
        self.ops.append({"type": "conv2d", "name": name, "inputs": [source], "outputs": [name],
                         "weight": f"{name}.weight", "bias": f"{name}.bias", "kernel": [kh, kw],
                         "stride": [1, 1], "pad": [0, 0], "dilation": [1, 1], "groups": 1, "activation": "none"})
        self._shapes[name] = (o, h - kh + 1, w - kw + 1)
        return name

    def dense_as_conv(self, name: str, source: str) -> str:
        c, h, w = self.shapes_of(source)
        weight = self._weight(f"{name}.weight")
        if weight.shape[1] != c * h * w:
            raise ConvertError(f"{self.net}.{name}: takes {weight.shape[1]} inputs, the map gives {c}x{h}x{w}")
        # input index of (c, h, w) after permute(0, 3, 2, 1) + flatten is (w * H + h) * C + c
        weight = weight.reshape(-1, w, h, c).transpose(0, 3, 2, 1)
        return self.conv(name, source, np.ascontiguousarray(weight), self._weight(f"{name}.bias"))

    def prelu(self, name: str, source: str) -> str:
        slope = self._weight(f"{name}.weight")
        if slope.shape != (self.shapes_of(source)[0],):
            raise ConvertError(f"{self.net}.{name}: {slope.shape[0]} slopes for {self.shapes_of(source)[0]} channels")
        self.tensors[f"{name}.weight"] = slope
        self.ops.append({"type": "prelu", "name": name, "inputs": [source], "outputs": [name],
                         "weight": f"{name}.weight"})
        self._shapes[name] = self.shapes_of(source)
        return name

    def pool(self, name: str, source: str, k: int) -> str:
        c, h, w = self.shapes_of(source)
        self.ops.append({"type": "maxpool2d", "name": name, "inputs": [source], "outputs": [name],
                         "kernel": [k, k], "stride": [2, 2], "pad": [0, 0], "ceil_mode": True})
        self._shapes[name] = (c, _pool_out(h, k), _pool_out(w, k))
        return name

    def softmax(self, name: str, source: str) -> str:
        self.ops.append({"type": "softmax", "name": name, "inputs": [source], "outputs": [name], "axis": 1})
        self._shapes[name] = self.shapes_of(source)
        return name

    def concat(self, name: str, inputs: list) -> str:
        shapes = [self.shapes_of(i) for i in inputs]
        self.ops.append({"type": "concat", "name": name, "inputs": list(inputs), "outputs": [name], "axis": 1})
        self._shapes[name] = (sum(s[0] for s in shapes),) + shapes[0][1:]
        return name

    def shapes_of(self, name: str):
        return self._shapes[name]

    def build(self) -> tuple:
        side = INPUT_SIDE[self.net]
        x, pools = "input", 0
        for step in TRUNKS[self.net]:
            if step.startswith("pool:"):
                pools += 1
                x = self.pool(f"pool{pools}", x, int(step[5:]))
                continue
            if step.startswith("dense"):
                x = self.dense_as_conv(step, x)
            else:
                x = self.conv(step, x, self._weight(f"{step}.weight"), self._weight(f"{step}.bias"))
            x = self.prelu(f"prelu{step[-1]}", x)
        heads = []
        for i, name in enumerate(HEADS[self.net]):
            weight = self._weight(f"{name}.weight")
            if weight.ndim == 2:   # a dense head on a 1x1 map: a 1x1 conv
                weight = weight[:, :, None, None]
            bias = self._weight(f"{name}.bias")
            if i < len(HEADS[self.net]) - 1 and weight.shape[0] % 4:   # the next head starts on a block
                pad = -weight.shape[0] % 4
                weight = np.concatenate([weight, np.zeros((pad,) + weight.shape[1:], np.float32)])
                bias = np.concatenate([bias, np.zeros(pad, np.float32)])
            h = self.conv(name, x, np.ascontiguousarray(weight), bias)
            heads.append(self.softmax(f"{name}_softmax", h) if i == len(HEADS[self.net]) - 1 else h)
        out = self.concat("out", heads)
        unused = sorted(set(self.state) - set(self.tensors))
        if unused:
            raise ConvertError(f"{self.net}: state dict entries not used by the graph: {', '.join(unused)}")
        graph = {
            "arch": f"mtcnn_{self.net}",
            "input": {"name": "input", "shape": [3, side, side], "channel_order": "RGB", "scale": 1.0,
                      "mean": [127.5] * 3, "std": [128.0] * 3},
            "output": {"name": out, "dim": self.shapes_of(out)[0], "l2_normalize": False},
            "ops": self.ops,
        }
        return graph, self.tensors


def build_mtcnn_graph(net: str, state: dict) -> tuple:
    """(graph dict, tensors) of one MTCNN net from its facenet-pytorch state dict (name -> float32 array)."""
    if net not in NETS:
        raise ConvertError(f"unknown MTCNN net {net!r}; expected one of {', '.join(NETS)}")
    return _Graph(net, state).build()


def convert_mtcnn(source, out_dir) -> dict:
    """Write mtcnn_{pnet,rnet,onet}.sq.bin into out_dir; returns {net: (path, size in bytes)}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for net, state in _load_state_dicts(Path(source)).items():
        graph, tensors = build_mtcnn_graph(net, state)
        path = out_dir / f"mtcnn_{net}.sq.bin"
        size = write_sq_bin(path, graph, tensors, {"producer": PRODUCER,
                                                   "source": f"facenet-pytorch 2.6.0 data/{net}.pt (MIT)"})
        written[net] = (path, size)
    return written


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    try:
        for net, (path, size) in convert_mtcnn(argv[0], argv[1]).items():
            print(f"{net}: wrote {path} ({size} bytes)")
    except ConvertError as exc:
        print(f"convert mtcnn: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
