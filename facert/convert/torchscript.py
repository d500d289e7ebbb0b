"""What a TorchScript archive's graph tells beyond its state_dict: whether the head has a ReLU."""
from __future__ import annotations

from typing import Optional

WEIGHTED_OPS = {"aten::_convolution", "aten::conv2d", "aten::linear", "aten::addmm", "aten::matmul"}
RELU_OPS = {"aten::relu", "aten::relu_"}


def head_relu_from_graph(script_module) -> Optional[bool]:
    """True/False when a ReLU does/does not follow the last conv/linear in the top-level graph;
    None when the graph cannot tell (no weighted op at top level, e.g. hidden in scripted control flow)."""
    try:
        kinds = [node.kind() for node in script_module.inlined_graph.nodes()]
    except Exception:  # a module without a forward graph: nothing to read
        return None
    weighted = [i for i, kind in enumerate(kinds) if kind in WEIGHTED_OPS]
    if not weighted:
        return None
    return any(kind in RELU_OPS for kind in kinds[weighted[-1] + 1:])
