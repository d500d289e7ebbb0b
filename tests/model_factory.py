"""A small pure-NumPy sq.bin writer for the engine's tests, written from docs/format.md alone (no
torch, no facert.convert), plus graph builders: a SqueezeNet v1.1-like network and tiny graphs.

encode() returns the file's bytes; `layout()` gives its byte boundaries for truncation fuzzing.
"""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np

CHECKSUM_KEY = b'"checksum":"crc32:'
DEFAULT_INPUT = {"name": "input", "channel_order": "RGB", "scale": 1 / 255,
                 "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


def compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def encode(graph: dict | str, tensors: dict, dtype: str = "F32", metadata: dict | None = None,
           fmt: str = "facert.sq", format_version: str = "1", fix_checksum: bool = True,
           header_patch=None) -> bytes:
    """The whole sq.bin. `tensors`: name -> array, stored in order. `metadata` entries are added to
    __metadata__ (a None value removes a key). `header_patch(dict) -> dict` may edit the header
    object before it is serialised (for malformed-entry tests)."""
    np_dtype = {"F32": "<f4", "F16": "<f2"}[dtype]
    meta = {"format": fmt, "format_version": format_version, "checksum": "crc32:00000000",
            "graph": graph if isinstance(graph, str) else compact(graph), "producer": "tests/model_factory.py",
            "source": "random"}
    for k, v in (metadata or {}).items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    header, blobs, offset = {"__metadata__": meta}, [], 0
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array, dtype=np.float32).astype(np_dtype).tobytes()
        header[name] = {"dtype": dtype, "shape": list(np.shape(array)), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if header_patch is not None:
        header = header_patch(header)
    text = compact(header).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    body = bytearray(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    if fix_checksum:
        body = bytearray(refresh_checksum(bytes(body)))
    return bytes(body)


def refresh_checksum(data: bytes) -> bytes:
    """Recompute the CRC over `data` (digits read as '0') and write it in: for hand-edited files."""
    body = bytearray(data)
    at = body.find(CHECKSUM_KEY)
    if at < 0 or body.count(CHECKSUM_KEY) != 1:
        return bytes(body)
    at += len(CHECKSUM_KEY)
    body[at:at + 8] = b"00000000"
    body[at:at + 8] = f"{zlib.crc32(bytes(body)) & 0xFFFFFFFF:08x}".encode()
    return bytes(body)


def layout(data: bytes) -> dict:
    """Byte boundaries: end of the length prefix, end of the header, and [begin, end) of every tensor."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    tensors = {k: (8 + n + v["data_offsets"][0], 8 + n + v["data_offsets"][1])
               for k, v in header.items() if k != "__metadata__"}
    return {"prefix_end": 8, "header_end": 8 + n, "tensors": tensors, "size": len(data)}


class GraphBuilder:
    """Collects ops and weights; each method returns its output tensor name."""

    def __init__(self, rng: np.random.Generator, height: int, width: int, channel_order: str = "RGB"):
        self.rng = rng
        self.ops: list[dict] = []
        self.tensors: dict[str, np.ndarray] = {}
        self.shapes = {"input": (3, height, width)}
        self.input = dict(DEFAULT_INPUT, shape=[3, height, width], channel_order=channel_order)

    def _weights(self, name, shape, fan_in, bias):
        # He-scaled so activations neither vanish nor explode through a deep stack.
        self.tensors[f"{name}.weight"] = self.rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
        if bias:
            self.tensors[f"{name}.bias"] = self.rng.normal(0, 0.1, shape[0]).astype(np.float32)
        return f"{name}.weight", (f"{name}.bias" if bias else None)

    def conv(self, name, src, out_c, k=1, stride=1, pad=0, dilation=1, groups=1, act="relu", bias=True):
        c, h, w = self.shapes[src]
        kh, kw = (k, k) if np.isscalar(k) else k
        weight, b = self._weights(name, (out_c, c // groups, kh, kw), c // groups * kh * kw, bias)
        self.ops.append({"type": "conv2d", "name": name, "inputs": [src], "outputs": [name], "weight": weight,
                         "bias": b, "kernel": [kh, kw], "stride": [stride, stride], "pad": [pad, pad],
                         "dilation": [dilation, dilation], "groups": groups, "activation": act})
        ho = (h + 2 * pad - dilation * (kh - 1) - 1) // stride + 1
        wo = (w + 2 * pad - dilation * (kw - 1) - 1) // stride + 1
        self.shapes[name] = (out_c, ho, wo)
        return name

    def maxpool(self, name, src, k=3, stride=2, pad=0, ceil_mode=True):
        c, h, w = self.shapes[src]

        def out(size):
            span = size + 2 * pad - k
            o = (-(-span // stride) if ceil_mode else span // stride) + 1
            return o - 1 if ceil_mode and (o - 1) * stride >= size + pad else o
        self.ops.append({"type": "maxpool2d", "name": name, "inputs": [src], "outputs": [name],
                         "kernel": [k, k], "stride": [stride, stride], "pad": [pad, pad], "ceil_mode": ceil_mode})
        self.shapes[name] = (c, out(h), out(w))
        return name

    def concat(self, name, srcs):
        c = sum(self.shapes[s][0] for s in srcs)
        self.ops.append({"type": "concat", "name": name, "inputs": list(srcs), "outputs": [name], "axis": 1})
        self.shapes[name] = (c,) + self.shapes[srcs[0]][1:]
        return name

    def gap(self, name, src):
        self.ops.append({"type": "global_avgpool", "name": name, "inputs": [src], "outputs": [name]})
        self.shapes[name] = (self.shapes[src][0],)
        return name

    def linear(self, name, src, out_f, act="none", bias=True):
        (i,) = self.shapes[src]
        weight, b = self._weights(name, (out_f, i), i, bias)
        self.ops.append({"type": "linear", "name": name, "inputs": [src], "outputs": [name], "weight": weight,
                         "bias": b, "activation": act})
        self.shapes[name] = (out_f,)
        return name

    def prelu(self, name, src):
        self.tensors[f"{name}.weight"] = self.rng.uniform(-0.5, 0.5, self.shapes[src][0]).astype(np.float32)
        self.ops.append({"type": "prelu", "name": name, "inputs": [src], "outputs": [name],
                         "weight": f"{name}.weight"})
        self.shapes[name] = self.shapes[src]
        return name

    def softmax(self, name, src):
        self.ops.append({"type": "softmax", "name": name, "inputs": [src], "outputs": [name], "axis": 1})
        self.shapes[name] = self.shapes[src]
        return name

    def fire(self, name, src, squeeze, expand):
        s = self.conv(f"{name}.squeeze", src, squeeze)
        e1 = self.conv(f"{name}.expand1x1", s, expand)
        e3 = self.conv(f"{name}.expand3x3", s, expand, k=3, pad=1)
        return self.concat(name, [e1, e3])

    def graph(self, output: str, l2_normalize: bool = True, arch: str = "squeezenet1_1") -> dict:
        return {"arch": arch, "input": self.input,
                "output": {"name": output, "dim": self.shapes[output][0], "l2_normalize": l2_normalize},
                "ops": self.ops}


def squeezenet(seed: int = 0, height: int = 112, width: int = 112, dim: int = 128, width_mult: float = 1.0,
               channel_order: str = "RGB"):
    """SqueezeNet v1.1 features + global average pool + Linear head. Returns (graph, tensors)."""
    b = GraphBuilder(np.random.default_rng(seed), height, width, channel_order)
    m = lambda c: max(1, int(round(c * width_mult)))  # noqa: E731
    x = b.conv("conv1", "input", m(64), k=3, stride=2)
    x = b.maxpool("pool1", x)
    x = b.fire("fire2", x, m(16), m(64))
    x = b.fire("fire3", x, m(16), m(64))
    x = b.maxpool("pool3", x)
    x = b.fire("fire4", x, m(32), m(128))
    x = b.fire("fire5", x, m(32), m(128))
    x = b.maxpool("pool5", x)
    for i, (s, e) in enumerate([(48, 192), (48, 192), (64, 256), (64, 256)]):
        x = b.fire(f"fire{6 + i}", x, m(s), m(e))
    x = b.gap("gap", x)
    x = b.linear("head", x, dim)
    return b.graph(x), b.tensors


def tiny(seed: int = 0, height: int = 13, width: int = 11, dim: int = 6, l2_normalize: bool = True,
         channel_order: str = "RGB"):
    """Every op type at awkward sizes: strided conv, grouped conv, ceil-mode pool, a fire-style concat,
    global pool, two linears. Returns (graph, tensors)."""
    b = GraphBuilder(np.random.default_rng(seed), height, width, channel_order)
    x = b.conv("stem", "input", 6, k=3, stride=2, pad=1)
    x = b.maxpool("pool", x, k=3, stride=2, ceil_mode=True)
    a = b.conv("branch_a", x, 5, k=1)
    c = b.conv("branch_b", x, 4, k=3, pad=1, act="relu6")
    d = b.conv("branch_g", x, 6, k=3, pad=2, dilation=2, groups=3, act="none", bias=False)
    x = b.concat("cat", [a, c, d])
    x = b.gap("gap", x)
    x = b.linear("fc1", x, 7, act="relu")
    x = b.linear("head", x, dim, bias=False)
    return b.graph(x, l2_normalize=l2_normalize, arch="tiny"), b.tensors


def write(path, graph, tensors, **kw) -> bytes:
    data = encode(graph, tensors, **kw)
    with open(path, "wb") as f:
        f.write(data)
    return data
