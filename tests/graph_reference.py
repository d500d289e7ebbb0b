"""Whole-graph NumPy reference forward for sq.bin graphs, built from tests/reference.py's op references
(float64). Independent of the C++ engine: it walks the graph dict exactly as docs/format.md defines it."""
from __future__ import annotations

import numpy as np

import reference as ref


def forward(graph: dict, tensors: dict, x: np.ndarray) -> np.ndarray:
    """x: (N, C, H, W) normalised input -> (N, D) (or (N, D, h, w)) raw head output (float64)."""
    acts = {graph["input"]["name"]: np.asarray(x, dtype=np.float64)}
    w = lambda key: None if key is None else np.asarray(tensors[key], dtype=np.float64)  # noqa: E731
    for op in graph["ops"]:
        ins = [acts[name] for name in op["inputs"]]
        kind = op["type"]
        if kind == "conv2d":
            out = ref.conv2d(ins[0], w(op["weight"]), w(op["bias"]), stride=op["stride"], pad=op["pad"],
                             dilation=op["dilation"], groups=op["groups"], act=op["activation"])
        elif kind == "maxpool2d":
            out = ref.maxpool2d(ins[0], op["kernel"], op["stride"], op["pad"], op["ceil_mode"])
        elif kind == "concat":
            out = np.concatenate(ins, axis=1)
        elif kind == "global_avgpool":
            out = ref.global_avgpool(ins[0])
        elif kind == "prelu":
            out = ref.prelu(ins[0], w(op["weight"]))
        elif kind == "softmax":
            out = ref.softmax(ins[0], op["axis"])
        elif kind == "linear":
            out = ref.linear(ins[0], w(op["weight"]), w(op["bias"]), act=op["activation"])
        else:
            raise ValueError(f"unknown op {kind}")
        acts[op["outputs"][0]] = out
    return acts[graph["output"]["name"]]


def embed(graph: dict, tensors: dict, x: np.ndarray) -> np.ndarray:
    out = forward(graph, tensors, x)
    return ref.l2_normalize(out) if graph["output"]["l2_normalize"] else out


def resize_taps(n_in: int, n_out: int):
    """OpenCV INTER_LINEAR geometry along one axis: src = (dst + 0.5) * in / out - 0.5, clamped at the
    borders. Returns (first index, second index, weight of the second)."""
    f = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    s = np.floor(f).astype(np.int64)
    f = f - s
    f[s < 0], s[s < 0] = 0.0, 0
    high = s >= n_in - 1
    f[high], s[high] = 0.0, n_in - 1
    return s, np.minimum(s + 1, n_in - 1), f


def resize_bilinear(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """HxWxC image -> (height, width, C) float64, bilinear with half-pixel centres, no rounding."""
    img = np.asarray(img, dtype=np.float64)
    y0, y1, fy = resize_taps(img.shape[0], height)
    x0, x1, fx = resize_taps(img.shape[1], width)
    rows = img[y0] * (1 - fy)[:, None, None] + img[y1] * fy[:, None, None]
    return rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]


def preprocess(img: np.ndarray, input_spec: dict) -> np.ndarray:
    """docs/format.md's preprocessing: resize, channel order, (pixel * scale - mean) / std, CHW float64."""
    _, h, w = input_spec["shape"]
    v = resize_bilinear(img, h, w)
    if input_spec["channel_order"] == "RGB":
        v = v[:, :, ::-1]
    mean = np.asarray(input_spec["mean"], dtype=np.float64)
    std = np.asarray(input_spec["std"], dtype=np.float64)
    return ((v * input_spec["scale"] - mean) / std).transpose(2, 0, 1)
