"""An sq.bin graph run in NumPy (float32): the reference path for networks facert's C++ engine cannot run yet.

MTCNN's nets need prelu and softmax, and P-Net runs at every pyramid scale's own input size; until the engine
has both, facert.mtcnn runs its nets here (MTCNNDetector(backend="numpy")). Every op follows docs/format.md;
the file is read and its CRC checked as the C++ loader does, and anything this path cannot run is a ModelError.
"""
from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import InputError, ModelError

_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2")}
_CHECKSUM_KEY = b'"checksum":"crc32:'


def read_sq_bin(path) -> tuple:
    """(metadata, graph, tensors as float32 arrays) of an sq.bin file; ModelError when it is not a valid one."""
    data = Path(path).read_bytes()
    try:
        (n,) = struct.unpack("<Q", data[:8])
        if not 0 < n <= len(data) - 8:
            raise ValueError(f"header length {n} does not fit a {len(data)}-byte file")
        header = json.loads(data[8:8 + n])
        meta = header.pop("__metadata__")
        if meta.get("format") != "facert.sq" or meta.get("format_version") != "1":
            raise ValueError("not a facert model file of format version 1")
        digits = re.fullmatch(r"crc32:([0-9a-f]{8})", meta["checksum"]).group(1)
        at = data.index(_CHECKSUM_KEY) + len(_CHECKSUM_KEY)
        if f"{zlib.crc32(data[:at] + b'0' * 8 + data[at + 8:]) & 0xFFFFFFFF:08x}" != digits:
            raise ValueError("checksum mismatch: file is corrupt")
        body = memoryview(data)[8 + n:]
        tensors = {}
        for name, entry in header.items():
            begin, end = entry["data_offsets"]
            raw = np.frombuffer(body[begin:end], dtype=_DTYPES[entry["dtype"]])
            tensors[name] = raw.astype(np.float32).reshape(entry["shape"])
        graph = json.loads(meta["graph"])
    except (ValueError, KeyError, TypeError, AttributeError, struct.error) as exc:
        raise ModelError(f"{path}: {exc}") from None
    return meta, graph, tensors


# Activations are NHWC inside (channels last): im2col is then kh*kw contiguous slices side by side and
# every conv one matmul per group, which is what makes NumPy tolerable on P-Net's large pyramid levels.
# Depthwise convs (groups = in = out channels: MobileNet's 3x3, MobileFaceNet's global depthwise conv) are a
# per-channel weighted sum of the kh*kw taps instead: no im2col copy, no per-group matmuls.
def _conv2d(x, weight, bias, op):
    if op["dilation"] != [1, 1]:
        raise ModelError(f"{op['name']}: the NumPy path runs only undilated convs")
    (ph, pw), (sh, sw), g = op["pad"], op["stride"], op["groups"]
    o, cg, kh, kw = weight.shape
    if x.shape[3] != cg * g or o % g:
        raise ModelError(f"{op['name']}: weight {weight.shape} with groups={g} does not fit {x.shape[3]} channels")
    if ph or pw:
        x = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    n, h, w, c = x.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    taps = [x[:, ky:ky + sh * (ho - 1) + 1:sh, kx:kx + sw * (wo - 1) + 1:sw] for ky in range(kh) for kx in range(kw)]
    if g == 1:
        cols = taps[0] if len(taps) == 1 else np.concatenate(taps, axis=3)      # (N, Ho, Wo, kh*kw*C)
        out = cols.reshape(-1, kh * kw * c) @ weight.transpose(2, 3, 1, 0).reshape(-1, o)
    elif g == c == o:
        taps_w = weight.reshape(o, kh * kw).T                                     # (kh*kw, C)
        out = taps[0] * taps_w[0]
        for tap, tw in zip(taps[1:], taps_w[1:]):
            out += tap * tw
        out = out.reshape(-1, o)
    else:
        og = o // g
        cols = np.stack(taps, axis=3)                                             # (N, Ho, Wo, kh*kw, C)
        out = np.concatenate([cols[..., i * cg:(i + 1) * cg].reshape(-1, kh * kw * cg)
                              @ weight[i * og:(i + 1) * og].transpose(2, 3, 1, 0).reshape(-1, og)
                              for i in range(g)], axis=1)
    if bias is not None:
        out += bias
    if op["activation"] == "relu":
        np.maximum(out, 0, out=out)
    elif op["activation"] == "relu6":
        np.clip(out, 0, 6, out=out)
    return out.reshape(n, ho, wo, o)


def _maxpool2d(x, op):
    (k, _), (s, _), (p, _) = op["kernel"], op["stride"], op["pad"]
    n, h, w, c = x.shape

    def out_size(size):   # PyTorch's rule; in ceil mode a window starting in the padding is dropped
        o = (-(-(size + 2 * p - k) // s) if op["ceil_mode"] else (size + 2 * p - k) // s) + 1
        return o - 1 if op["ceil_mode"] and (o - 1) * s >= size + p else o

    ho, wo = out_size(h), out_size(w)
    bottom, right = (ho - 1) * s + k - h - p, (wo - 1) * s + k - w - p
    xp = np.pad(x, ((0, 0), (p, max(bottom, 0)), (p, max(right, 0)), (0, 0)), constant_values=-np.inf)
    out = None
    for ky in range(k):        # k*k strided slices: far faster in NumPy than a max over window axes
        for kx in range(k):
            tap = xp[:, ky:ky + s * (ho - 1) + 1:s, kx:kx + s * (wo - 1) + 1:s]
            out = tap.copy() if out is None else np.maximum(out, tap, out=out)
    return out


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class NumpyNet:
    """net = NumpyNet("x.sq.bin"); net.forward(x): (N, C, H, W) float32 -> the graph's output.

    Fully convolutional graphs accept any H, W (the declared input size is the nominal one).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.metadata, self.graph, self.tensors = read_sq_bin(path)
        known = {"conv2d", "prelu", "maxpool2d", "softmax", "concat", "global_avgpool", "linear"}
        unknown = sorted({op["type"] for op in self.graph["ops"]} - known)
        if unknown:
            raise ModelError(f"{path}: op types {unknown} are not supported by the NumPy path")

    def forward(self, x: np.ndarray) -> np.ndarray:
        c = self.graph["input"]["shape"][0]
        if not (isinstance(x, np.ndarray) and x.ndim == 4 and x.shape[1] == c):
            raise InputError(f"expected an (N, {c}, H, W) float32 tensor, got {getattr(x, 'shape', type(x))}")
        w = self.tensors.get
        acts = {self.graph["input"]["name"]: np.ascontiguousarray(x.transpose(0, 2, 3, 1), dtype=np.float32)}
        for op in self.graph["ops"]:
            ins = [acts[name] for name in op["inputs"]]
            kind = op["type"]
            if kind == "conv2d":
                out = _conv2d(ins[0], w(op["weight"]), w(op["bias"]) if op["bias"] else None, op)
            elif kind == "prelu":     # channels are the last axis of both (N, H, W, C) and (N, C)
                out = np.where(ins[0] >= 0, ins[0], ins[0] * w(op["weight"]))
            elif kind == "maxpool2d":
                out = _maxpool2d(ins[0], op)
            elif kind == "softmax":
                out = _softmax(ins[0], -1)
            elif kind == "concat":
                out = np.concatenate(ins, axis=-1)
            elif kind == "global_avgpool":
                out = ins[0].mean(axis=(1, 2))
            else:  # linear
                out = ins[0] @ w(op["weight"]).T
                if op["bias"]:
                    out += w(op["bias"])
                if op["activation"] != "none":
                    out = np.maximum(out, 0) if op["activation"] == "relu" else np.clip(out, 0, 6)
            acts[op["outputs"][0]] = out
        out = acts[self.graph["output"]["name"]]
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2)) if out.ndim == 4 else out
