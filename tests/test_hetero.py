"""device="hetero" on PoCL: every forced placement (all-CPU, all-OpenCL, alternating ops, fire modules split
across the devices, random placements) gives the CPU engine's numbers; the plan shows the transfers; one
hetero engine serves 8 threads; an OpenCL failure mid-run is a DeviceError and the engine then serves on the
CPU. SqueezeNet v1.1 from tests/model_factory.py (NumPy weights), at 112 px and at an odd size."""
import random
import threading

import numpy as np
import pytest

import facert
import model_factory as mf
from cl_helpers import core_opencl  # noqa: F401

pytestmark = pytest.mark.opencl

FIRES = [f"fire{i}" for i in range(2, 10)]
FP32_COS = 0.99999  # the bar; float sums in another order on each device
FP16_COS = 0.999    # half storage of weights and activations on the OpenCL side


@pytest.fixture(scope="module", params=[(112, 112), (99, 83)], ids=lambda s: f"{s[0]}x{s[1]}")
def model(request, tmp_path_factory):
    h, w = request.param
    graph, tensors = mf.squeezenet(seed=h, height=h, width=w)
    path = tmp_path_factory.mktemp("hetero") / "sq.sq.bin"
    mf.write(path, graph, tensors)
    return path


@pytest.fixture(scope="module")
def inputs(model):
    cpu = facert.Engine(model, device="cpu")
    c, h, w = cpu.input_shape
    x = np.random.default_rng(h).normal(size=(3, c, h, w)).astype(np.float32)
    return x, cpu.forward(x)


@pytest.fixture(scope="module", autouse=True)
def shared_cache(tmp_path_factory):
    # one program binary and tuning table for every engine of the module (PoCL builds cost seconds)
    mp = pytest.MonkeyPatch()
    mp.setenv("FACERT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def _ops(engine):
    return [op["name"] for op in engine.info["ops"]]


def _cos(a, b):
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _check(model, inputs, placement, precision="fp32"):
    x, want = inputs
    e = facert.Engine(model, device="hetero", placement=placement, precision=precision)
    got = e.forward(x)
    assert _cos(got, want).min() >= (FP32_COS if precision == "fp32" else FP16_COS), e.plan()
    return e


def _alternating(ops):
    return {name: ("cpu", "gpu")[i % 2] for i, name in enumerate(ops)}


def _random_placement(ops, seed):
    rng = random.Random(seed)
    p = {name: rng.choice(("cpu", "gpu")) for name in ops}
    for fire in FIRES:  # some fire modules split, their expand pair then follows the split
        if rng.random() < 0.3:
            for part in (".expand1x1", ".expand3x3"):
                p.pop(fire + part)
            p[fire] = "split"
    return p


def test_all_cpu_and_all_gpu(core_opencl, model, inputs):
    ops = _ops(facert.Engine(model, device="cpu"))
    e = _check(model, inputs, {name: "cpu" for name in ops})
    assert set(e.placement.values()) == {"cpu"} and "upload" not in e.plan()
    e = _check(model, inputs, {name: "gpu" for name in ops})
    assert set(e.placement.values()) == {"gpu"}
    plan = e.plan()
    assert plan.count("upload") == 1 and plan.count("download") == 1  # the input in, the embedding out


def test_alternating_ops(core_opencl, model, inputs):
    ops = _ops(facert.Engine(model, device="cpu"))
    e = _check(model, inputs, _alternating(ops))
    assert e.placement == _alternating(ops)
    plan = e.plan()
    assert plan.count("upload") >= 10 and plan.count("download") >= 10


@pytest.mark.parametrize("fire", FIRES)
def test_each_fire_split(core_opencl, model, inputs, fire):
    e = _check(model, inputs, {fire: "split"})
    assert e.placement[f"{fire}.expand1x1"] == "cpu" and e.placement[f"{fire}.expand3x3"] == "gpu"
    assert e.placement[fire] == "gpu"
    # the CPU half goes straight into its slice of the OpenCL concat output; the concat copies nothing
    line = next(l for l in e.plan().splitlines() if f"-> gpu {fire}.expand1x1" in l)
    assert "upload" in line and f"(writes into {fire})" in line


def test_every_fire_split_at_once_and_fp16(core_opencl, model, inputs):
    _check(model, inputs, {fire: "split" for fire in FIRES})
    _check(model, inputs, {fire: "split" for fire in FIRES}, precision="fp16")


@pytest.mark.parametrize("seed", range(20))
def test_random_placements(core_opencl, model, inputs, seed):
    ops = _ops(facert.Engine(model, device="cpu"))
    p = _random_placement(ops, seed)
    e = _check(model, inputs, p)
    for name, where in p.items():
        if where != "split":
            assert e.placement[name] == where


@pytest.mark.parametrize("seed", range(3))
def test_random_placements_fp16(core_opencl, model, inputs, seed):
    ops = _ops(facert.Engine(model, device="cpu"))
    _check(model, inputs, _random_placement(ops, 100 + seed), precision="fp16")
    _check(model, inputs, _alternating(ops), precision="fp16")


def test_one_hetero_engine_from_8_threads(core_opencl, model, inputs):
    x, want = inputs
    ops = _ops(facert.Engine(model, device="cpu"))
    e = facert.Engine(model, device="hetero", placement={**_alternating(ops), "fire4": "split"})
    expected = e.forward(x)
    results, errors = {}, []

    def work(k):
        try:
            for r in range(4):
                i = (k + r) % len(x)
                results[(k, r)] = (i, e.forward(x[i:i + 1])[0])
        except Exception as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 32
    for i, row in results.values():
        assert np.array_equal(row, expected[i])


def test_opencl_failure_mid_run_then_cpu(core_opencl, model, inputs):
    x, want = inputs
    e = facert.Engine(model, device="hetero", placement={"fire3": "split", "fire6": "split"})
    assert e.info["device"] == "hetero"
    e._core._fail_gpu_after(3)
    with pytest.raises(facert.DeviceError, match="injected by the test hook.*runs on the CPU from now on"):
        e.forward(x)
    assert e.info["device"] == "cpu" and "failed during a run" in e.info["fallback_reason"]
    assert set(e.placement.values()) == {"cpu"}
    assert np.allclose(e.forward(x), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert e.embed(np.zeros((40, 30, 3), np.uint8)).shape == (128,)


def test_placement_errors(core_opencl, model):
    with pytest.raises(ValueError, match="does not have"):
        facert.Engine(model, device="hetero", placement={"nope": "cpu"})
    with pytest.raises(ValueError, match="'split' applies to a concat"):
        facert.Engine(model, device="hetero", placement={"fire2.squeeze": "split"})
    with pytest.raises(ValueError, match="needs device='hetero'"):
        facert.Engine(model, device="gpu", placement={"fire2": "cpu"})
    with pytest.raises(ValueError, match="placement must be a dict"):
        facert.Engine(model, device="hetero", placement={"fire2": "tpu"})


def test_grouped_conv_stays_on_the_cpu(core_opencl, tmp_path):
    graph, tensors = mf.tiny()  # has a grouped conv, which has no OpenCL kernel
    mf.write(tmp_path / "t.sq.bin", graph, tensors)
    cpu = facert.Engine(tmp_path / "t.sq.bin", device="cpu")
    grouped = next(op["name"] for op in graph["ops"] if op.get("attrs", op).get("groups", 1) > 1)
    other = next(op["name"] for op in graph["ops"] if op["type"] == "conv2d" and op["name"] != grouped)
    e = facert.Engine(tmp_path / "t.sq.bin", device="hetero", placement={other: "gpu"})
    assert e.placement[grouped] == "cpu" and e.placement[other] == "gpu"
    assert "gpu" not in e.info["schedule"]["families"]  # the whole network cannot run on the OpenCL device
    x = np.random.default_rng(0).normal(size=(2, *cpu.input_shape)).astype(np.float32)
    assert np.allclose(e.forward(x), cpu.forward(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(facert.DeviceError, match="grouped conv2d"):
        facert.Engine(tmp_path / "t.sq.bin", device="hetero", placement={grouped: "gpu"})
