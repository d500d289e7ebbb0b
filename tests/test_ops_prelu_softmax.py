"""prelu and softmax through facert.Engine on the CPU and on OpenCL (PoCL here), against the float64 graph
reference (tests/graph_reference.py, built on tests/reference.py): maps and flat tensors, odd channel counts,
an output written into a concat slice, a detector map as the output; loader and input_size checks."""
import numpy as np
import pytest

import facert
import graph_reference as gr
import model_factory as mf
import reference as ref
from cl_helpers import core_opencl  # noqa: F401

FP32 = ref.FP32_REL_TOL


def _map_graph(seed, h, w, c):
    """conv -> prelu -> softmax beside conv -> prelu, concatenated: an MTCNN-like head; output (c + 4, h, w)."""
    b = mf.GraphBuilder(np.random.default_rng(seed), h, w)
    x = b.prelu("prelu1", b.conv("conv1", "input", 10, k=3, pad=1, act="none"))
    reg = b.conv("reg", x, 4, act="none")
    prob = b.softmax("prob_softmax", b.conv("prob", x, c, act="none"))
    return b.graph(b.concat("out", [reg, prob]), l2_normalize=False, arch="test_map"), b.tensors


def _flat_graph(seed, h, w, c):
    b = mf.GraphBuilder(np.random.default_rng(seed), h, w)
    x = b.gap("gap", b.conv("conv1", "input", c, k=3, act="none"))
    return b.graph(b.softmax("soft", b.prelu("prelu1", x)), l2_normalize=False, arch="test_flat"), b.tensors


def _write(tmp_path, name, graph, tensors):
    path = tmp_path / f"{name}.sq.bin"
    mf.write(path, graph, tensors)
    return path


def _input(graph, n, seed=1):
    _, h, w = graph["input"]["shape"]
    return np.random.default_rng(seed).uniform(-2, 2, (n, 3, h, w)).astype(np.float32)


@pytest.mark.parametrize("isa", facert._core.ops.isas())
@pytest.mark.parametrize("h,w,c", [(9, 13, 2), (1, 1, 3), (16, 5, 7), (23, 1, 2)])
def test_cpu_map_graph_matches_reference(tmp_path, h, w, c, isa):
    """Planes of 117 (a vector tail), 1, 80 (whole vectors) and 23 elements, on every ISA's prelu."""
    graph, tensors = _map_graph(h * w + c, h, w, c)
    engine = facert.Engine(_write(tmp_path, "map", graph, tensors), device="cpu", threads=2, isa=isa)
    assert engine.output_shape == (c + 4, h, w)
    x = _input(graph, 3)
    got = engine.forward(x)
    assert got.shape == (3, c + 4, h, w)
    assert ref.rel_err(got, gr.forward(graph, tensors, x)) <= FP32
    with pytest.raises(ValueError, match="map"):
        engine.embed(np.zeros((20, 20, 3), np.uint8))


@pytest.mark.parametrize("isa", facert._core.ops.isas())
@pytest.mark.parametrize("c", [2, 5, 33])
def test_cpu_flat_graph_matches_reference(tmp_path, c, isa):
    graph, tensors = _flat_graph(c, 11, 8, c)
    engine = facert.Engine(_write(tmp_path, "flat", graph, tensors), device="cpu", isa=isa)
    x = _input(graph, 4)
    got = engine.forward(x)
    assert got.shape == (4, c)
    assert ref.rel_err(got, gr.forward(graph, tensors, x)) <= FP32
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.opencl
@pytest.mark.parametrize("precision,tol", [("fp32", FP32), ("fp16", 2e-3)])
@pytest.mark.parametrize("h,w,c", [(9, 13, 2), (16, 5, 7)])
def test_opencl_map_graph_matches_reference(core_opencl, tmp_path, monkeypatch, precision, tol, h, w, c):
    monkeypatch.setenv("FACERT_CACHE_DIR", str(tmp_path / "cache"))
    graph, tensors = _map_graph(h + w + c, h, w, c)
    engine = facert.Engine(_write(tmp_path, "map", graph, tensors), device="gpu", precision=precision)
    assert set(engine.placement.values()) == {"gpu"}     # prelu, softmax and the concat all have kernels
    x = _input(graph, 2)
    assert ref.rel_err(engine.forward(x), gr.forward(graph, tensors, x)) <= tol


@pytest.mark.opencl
def test_opencl_declines_flat_prelu_softmax_and_hetero_runs_them_on_the_cpu(core_opencl, tmp_path, monkeypatch):
    monkeypatch.setenv("FACERT_CACHE_DIR", str(tmp_path / "cache"))
    graph, tensors = _flat_graph(3, 11, 8, 5)
    path = _write(tmp_path, "flat", graph, tensors)
    with pytest.raises(facert.DeviceError, match="flat"):
        facert.Engine(path, device="gpu")
    engine = facert.Engine(path, device="hetero", placement={"conv1": "gpu", "gap": "gpu"})
    assert engine.placement["prelu1"] == "cpu" and engine.placement["conv1"] == "gpu"
    x = _input(graph, 2)
    assert ref.rel_err(engine.forward(x), gr.forward(graph, tensors, x)) <= FP32


def test_input_size_override(tmp_path):
    graph, tensors = _map_graph(0, 12, 12, 2)
    path = _write(tmp_path, "map", graph, tensors)
    engine = facert.Engine(path, device="cpu", input_size=(31, 17))
    assert engine.input_shape == (3, 31, 17) and engine.output_shape == (6, 31, 17)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 31, 17)).astype(np.float32)
    assert ref.rel_err(engine.forward(x), gr.forward(graph, tensors, x)) <= FP32
    flat, flat_tensors = _flat_graph(0, 8, 8, 3)   # fully convolutional too: any size >= the 3x3 kernel works
    assert facert.Engine(_write(tmp_path, "flat", flat, flat_tensors), input_size=(5, 40)).output_shape == (3,)
    with pytest.raises(ValueError, match="does not fit"):
        facert.Engine(_write(tmp_path, "flat2", flat, flat_tensors), input_size=(2, 2))
    for bad in [(0, 5), (5,), "12x12", (4097, 8)]:
        with pytest.raises(ValueError):
            facert.Engine(path, input_size=bad)


@pytest.mark.parametrize("edit,message", [
    (lambda g, t: t.__setitem__("prelu1.weight", np.ones(3, np.float32)), "slope"),
    (lambda g, t: g["ops"][-2].__setitem__("axis", 2), "axis"),
    (lambda g, t: g["output"].__setitem__("l2_normalize", True), "l2_normalize"),
    (lambda g, t: g["ops"][-2].pop("axis"), "axis"),
])
def test_loader_refuses_bad_prelu_softmax(tmp_path, edit, message):
    graph, tensors = _map_graph(0, 6, 6, 2)
    edit(graph, tensors)
    with pytest.raises(facert.ModelError, match=message):
        facert.Engine(_write(tmp_path, "bad", graph, tensors), device="cpu")
