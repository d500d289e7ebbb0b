"""Depthwise convs (groups = in = out channels) in whole small networks, against PyTorch: MobileNet's 3x3
(stride 1 and 2, pad 1, relu/relu6) at odd sizes, one writing into a concat's channel slice, and
MobileFaceNet's global depthwise conv (GDConv: the whole map -> 1x1), through facert.Engine on every CPU ISA
and on OpenCL (fp32 and fp16 storage), and through the NumPy reference path (facert.numpy_net). Other grouped
convs run on the CPU and in NumPy; the OpenCL backend refuses them by name. The paper planner rates a
depthwise conv by its memory traffic and keeps what OpenCL cannot run on the CPU.

Tolerances (max |out - ref| / max |ref|, ref in float64): CPU, OpenCL fp32 and NumPy float32 1e-5 (float sums in
another order; seen 0.6-3e-7); OpenCL fp16 storage 5e-3 (every activation and weight rounded to half, 2^-11
relative, through seven layers; seen 6-8e-4) and cosine >= 0.999 (DESIGN.md's fp16 rule)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

import facert
import model_factory as mf
from cl_helpers import core_opencl  # noqa: F401
from facert import _core
from facert.numpy_net import NumpyNet

torch = pytest.importorskip("torch")

FP32_REL_TOL = 1e-5
FP16_REL_TOL = 5e-3
FP16_MIN_COS = 0.999


def gdconv_128(seed=0):
    """MobileFaceNet's tail at a small size: 21x21 -> stem s2 (11x11) -> dw3x3 s1 relu -> 1x1 to 128 ->
    dw3x3 s2 relu (6x6) -> GDConv 6x6 on 128 channels (bias, no activation) -> flatten -> linear."""
    b = mf.GraphBuilder(np.random.default_rng(seed), 21, 21)
    x = b.conv("stem", "input", 16, k=3, stride=2, pad=1)
    x = b.conv("dw1", x, 16, k=3, pad=1, groups=16)
    x = b.conv("pw1", x, 128)
    x = b.conv("dw2", x, 128, k=3, stride=2, pad=1, groups=128)
    x = b.conv("gdconv", x, 128, k=6, groups=128, act="none")
    x = b.gap("flatten", x)  # over a 1x1 map: the flatten before the embedding layer
    x = b.linear("head", x, 64)
    return b.graph(x, arch="gdconv_128"), b.tensors


def gdconv_37(seed=1):
    """Odd everything: 25x19 -> stem s2 (13x10, 25 channels) -> [1x1 to 12 | dw3x3 s1 relu] concatenated (the
    depthwise conv writes blocks 3.. of the concat) -> dw3x3 s2 relu6 on 37 channels (7x5) -> GDConv 7x5."""
    b = mf.GraphBuilder(np.random.default_rng(seed), 25, 19)
    x = b.conv("stem", "input", 25, k=3, stride=2, pad=1)
    a = b.conv("pw_a", x, 12)
    d = b.conv("dw_b", x, 25, k=3, pad=1, groups=25)
    x = b.concat("cat", [a, d])
    x = b.conv("dw2", x, 37, k=3, stride=2, pad=1, groups=37, act="relu6")
    x = b.conv("gdconv", x, 37, k=(7, 5), groups=37, act="none")
    x = b.gap("flatten", x)
    x = b.linear("head", x, 24)
    return b.graph(x, arch="gdconv_37"), b.tensors


def grouped(seed=2):
    """Grouped convs that are not depthwise: groups=2 (8 -> 8) and groups=4 with a channel multiplier
    (8 -> 12), beside a depthwise one."""
    b = mf.GraphBuilder(np.random.default_rng(seed), 15, 13)
    x = b.conv("stem", "input", 8, k=3, stride=2, pad=1)
    x = b.conv("g2", x, 8, k=3, pad=1, groups=2)
    x = b.conv("dw", x, 8, k=3, stride=2, pad=1, groups=8)
    x = b.conv("g4", x, 12, k=1, groups=4, act="relu6")
    x = b.gap("gap", x)
    x = b.linear("head", x, 10)
    return b.graph(x, arch="grouped"), b.tensors


DEPTHWISE_NETS = {"gdconv_128": gdconv_128, "gdconv_37": gdconv_37}


def torch_forward(graph, tensors, x):
    """The graph's raw output, op by op with torch.nn.functional in float64 (docs/format.md's semantics)."""
    f = torch.nn.functional
    w = lambda key: None if key is None else torch.from_numpy(np.asarray(tensors[key], np.float64))  # noqa: E731
    act = {"none": lambda y: y, "relu": f.relu, "relu6": f.relu6}
    acts = {graph["input"]["name"]: torch.from_numpy(np.asarray(x, np.float64))}
    with torch.no_grad():
        for op in graph["ops"]:
            ins = [acts[name] for name in op["inputs"]]
            if op["type"] == "conv2d":
                y = act[op["activation"]](f.conv2d(ins[0], w(op["weight"]), w(op["bias"]), stride=op["stride"],
                                                   padding=op["pad"], dilation=op["dilation"], groups=op["groups"]))
            elif op["type"] == "concat":
                y = torch.cat(ins, dim=1)
            elif op["type"] == "global_avgpool":
                y = ins[0].mean(dim=(2, 3))
            elif op["type"] == "linear":
                y = act[op["activation"]](f.linear(ins[0], w(op["weight"]), w(op["bias"])))
            else:
                raise ValueError(op["type"])
            acts[op["outputs"][0]] = y
    return acts[graph["output"]["name"]].numpy()


def rel_err(out, ref):
    return float(np.abs(np.asarray(out, np.float64) - ref).max() / np.abs(ref).max())


def cosines(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module", params=sorted(DEPTHWISE_NETS))
def net(request, tmp_path_factory):
    """(path, graph, tensors, x, torch's output) for one depthwise network, batch 3."""
    graph, tensors = DEPTHWISE_NETS[request.param]()
    path = tmp_path_factory.mktemp(request.param) / "net.sq.bin"
    mf.write(path, graph, tensors)
    x = np.random.default_rng(5).standard_normal((3, *graph["input"]["shape"])).astype(np.float32)
    return path, graph, tensors, x, torch_forward(graph, tensors, x)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", _core.ops.isas())
def test_cpu_matches_torch(net, isa, threads):
    path, _, _, x, ref = net
    e = facert.Engine(path, device="cpu", isa=isa, threads=threads)
    assert e.info["isa"] == isa
    assert rel_err(e.forward(x), ref) <= FP32_REL_TOL


@pytest.mark.opencl
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_opencl_matches_torch(core_opencl, net, precision, tmp_path):
    path, graph, _, x, ref = net
    e = facert.Engine(path, device="gpu", precision=precision, cache_dir=str(tmp_path / "cache"))
    assert e.info["device"] == "gpu" and e.info["precision"] == precision
    assert set(e.placement.values()) == {"gpu"}  # the depthwise convs included: nothing fell back
    out = e.forward(x)
    if precision == "fp32":
        assert rel_err(out, ref) <= FP32_REL_TOL
    else:
        assert rel_err(out, ref) <= FP16_REL_TOL and cosines(out, ref).min() >= FP16_MIN_COS
    np.testing.assert_allclose(e.forward(x[1:2]), out[1:2], rtol=0, atol=1e-6 * np.abs(out).max())  # batch 1


def test_numpy_net_matches_torch(net):
    path, _, _, x, ref = net
    assert rel_err(NumpyNet(path).forward(x), ref) <= FP32_REL_TOL


@pytest.fixture(scope="module")
def grouped_net(tmp_path_factory):
    graph, tensors = grouped()
    path = tmp_path_factory.mktemp("grouped") / "net.sq.bin"
    mf.write(path, graph, tensors)
    x = np.random.default_rng(6).standard_normal((2, *graph["input"]["shape"])).astype(np.float32)
    return path, x, torch_forward(graph, tensors, x)


def test_grouped_convs_on_the_cpu_and_in_numpy(grouped_net):
    path, x, ref = grouped_net
    assert rel_err(facert.Engine(path, device="cpu").forward(x), ref) <= FP32_REL_TOL
    assert rel_err(NumpyNet(path).forward(x), ref) <= FP32_REL_TOL


@pytest.mark.opencl
def test_opencl_refuses_other_grouped_convs(core_opencl, grouped_net, tmp_path):
    path, x, ref = grouped_net
    cache = str(tmp_path / "cache")
    with pytest.raises(facert.DeviceError, match=re.escape("op 'g2' cannot run on the OpenCL device: grouped "
                                                           "conv2d (groups=2, 8 -> 8 channels) has no OpenCL kernel")):
        facert.Engine(path, device="gpu", cache_dir=cache)
    e = facert.Engine(path, device="hetero", placement={"dw": "gpu"}, cache_dir=cache)
    assert e.placement["g2"] == e.placement["g4"] == "cpu" and e.placement["dw"] == "gpu"
    assert rel_err(e.forward(x), ref) <= FP32_REL_TOL


def _profile(name):
    from facert.cli.plan import _profile_text

    return _profile_text(name), json.loads(_profile_text(name))


def test_paper_plan_rates_depthwise_by_memory_traffic(tmp_path):
    """A depthwise conv does ~9 MACs per value moved: on paper it costs at least its traffic at mem_gbps, not
    its few MACs at a GEMM-shaped conv's GFLOP/s."""
    graph, tensors = gdconv_128()
    mf.write(tmp_path / "net.sq.bin", graph, tensors)
    text, profile = _profile("adreno530_phone")
    r = _core.plan_from_profile(str(tmp_path / "net.sq.bin"), text, "fp32")
    shapes = {"dw2": ((128, 11, 11), (128, 6, 6)), "gdconv": ((128, 6, 6), (128, 1, 1))}
    for line in r["plan"].splitlines():
        m = re.match(r"\d+\s+(\S+)\s+conv2d\s+(cpu|gpu)\s.*\s(\d+\.\d+)\s*$", line)
        if not m or m.group(1) not in shapes:
            continue
        dev = profile["devices"][m.group(2)]
        bytes_moved = 4 * sum(int(np.prod(s)) for s in shapes.pop(m.group(1)))
        traffic_ms = bytes_moved / (dev["mem_gbps"] * 1e6)
        assert float(m.group(3)) >= dev["op_overhead_ms"] + traffic_ms - 6e-4, line  # pred_ms has 3 decimals
    assert not shapes, f"steps not found in the plan:\n{r['plan']}"


def test_paper_plan_keeps_other_grouped_convs_on_the_cpu(tmp_path):
    graph, tensors = grouped()
    mf.write(tmp_path / "net.sq.bin", graph, tensors)
    r = _core.plan_from_profile(str(tmp_path / "net.sq.bin"), _profile("adreno530_phone")[0], "fp32")
    assert "gpu" not in r["families"]  # the whole network cannot run on the OpenCL device
    for placement in r["placements"].values():
        assert placement["g2"] == placement["g4"] == "cpu"
