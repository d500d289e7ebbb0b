"""Whole-graph NumPy reference forward for sq.bin graphs, built from tests/reference.py's op references
(float64). Independent of the C++ engine: it walks the graph dict exactly as docs/format.md defines it."""
from __future__ import annotations

import numpy as np

import reference as ref


def forward(graph: dict, tensors: dict, x: np.ndarray) -> np.ndarray:
    """x: (N, C, H, W) normalised input -> (N, D) raw head output (float64)."""
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
        elif kind == "linear":
            out = ref.linear(ins[0], w(op["weight"]), w(op["bias"]), act=op["activation"])
        else:
            raise ValueError(f"unknown op {kind}")
        acts[op["outputs"][0]] = out
    return acts[graph["output"]["name"]]


def embed(graph: dict, tensors: dict, x: np.ndarray) -> np.ndarray:
    out = forward(graph, tensors, x)
    return ref.l2_normalize(out) if graph["output"]["l2_normalize"] else out
