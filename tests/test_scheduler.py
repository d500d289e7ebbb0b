"""The scheduler: the placement DP against brute force on small synthetic graphs (ties, transfers that make a
switch not pay), plans on the two shipped device profiles, the measured cost model and its cache, frames in
flight, engine.profile(), and `facert plan`."""
import itertools
import json
import random

import numpy as np
import pytest

import facert
import model_factory as mf
from facert import _core
from facert.cli import main as facert_cli
from cl_helpers import core_opencl  # noqa: F401

PROFILES = ["adreno530_phone", "cpu_faster_phone"]


# ---- the DP against brute force ---------------------------------------------------------------------------
def brute_force(ops, outputs, tensors, inp, out, cost, up, down):
    """Every placement, with the cost stated independently of the C++: ops on their device, one transfer per
    (tensor, device other than its producer's) that reads it, the output brought to the CPU."""
    best = float("inf")
    for place in itertools.product((0, 1), repeat=len(ops)):
        total = sum(cost[d][i] for i, d in enumerate(place))
        home = {inp: 0, **{outputs[i]: place[i] for i in range(len(ops))}}
        needed = {(t, place[i]) for i, ins in enumerate(ops) for t in ins} | {(out, 0)}
        for t, d in needed:
            if home[t] != d:
                total += up[t] if d == 1 else down[t]
        best = min(best, total)
    return best


def random_graph(rng, n_ops):
    """Ops in topological order reading one or two earlier tensors (fire-like branches and joins)."""
    ops, outputs = [], []
    for i in range(n_ops):
        avail = [0] + outputs
        k = 1 if i == 0 or rng.random() < 0.6 else 2
        ops.append(sorted(set(rng.sample(avail[-3:], min(k, len(avail[-3:]))))))
        outputs.append(i + 1)
    return ops, outputs, n_ops + 1


def run_dp(ops, outputs, tensors, cost, up, down):
    place, dp_cost, check = _core._schedule_dp(ops, outputs, tensors, 0, outputs[-1], cost[0], cost[1], up, down)
    assert dp_cost == pytest.approx(check, abs=1e-9)  # the placement it returns costs what it says
    return place, dp_cost


@pytest.mark.parametrize("seed", range(40))
def test_dp_equals_brute_force_on_random_graphs(seed):
    rng = random.Random(seed)
    ops, outputs, tensors = random_graph(rng, rng.randint(1, 9))
    ints = seed % 2 == 0  # small integers: many ties
    val = (lambda: float(rng.randint(0, 4))) if ints else (lambda: rng.uniform(0.0, 5.0))
    cost = [[val() for _ in ops] for _ in range(2)]
    up, down = [val() for _ in range(tensors)], [val() for _ in range(tensors)]
    place, dp_cost = run_dp(ops, outputs, tensors, cost, up, down)
    assert dp_cost == pytest.approx(brute_force(ops, outputs, tensors, 0, outputs[-1], cost, up, down), abs=1e-9)


def test_dp_respects_forbidden_devices():
    ops, outputs = [[0], [1], [2]], [1, 2, 3]
    cost = [[5.0, 5.0, 5.0], [1.0, -1.0, 1.0]]  # op 1 cannot run on the OpenCL device
    place, c = run_dp(ops, outputs, 4, cost, [0.1] * 4, [0.1] * 4)
    assert place[1] == "cpu"
    # input up, op 0, down, op 1 on the CPU, up, op 2, the output down
    assert c == pytest.approx(0.1 + 1 + 0.1 + 5 + 0.1 + 1 + 0.1)


@pytest.mark.parametrize("transfer, expected", [(10.0, ["cpu"] * 4), (0.5, ["gpu"] * 4)])
def test_a_transfer_that_makes_a_switch_not_pay(transfer, expected):
    ops, outputs = [[0], [1], [2], [3]], [1, 2, 3, 4]
    cost = [[3.0] * 4, [2.0] * 4]  # the OpenCL device saves 4 in all; going there and back costs 2 transfers
    place, c = run_dp(ops, outputs, 5, cost, [transfer] * 5, [transfer] * 5)
    assert place == expected
    assert c == pytest.approx(min(12.0, 8.0 + 2 * transfer))


def test_a_fire_module_pays_each_transfer_once():
    # input -> squeeze -> (e1, e3) -> concat: the squeeze output read twice on the OpenCL device is uploaded once
    ops, outputs = [[0], [1], [1], [2, 3]], [1, 2, 3, 4]
    cost = [[1.0, 1.0, 9.0, 0.0], [1.0, 1.0, 1.0, 0.0]]
    place, c = run_dp(ops, outputs, 5, cost, [0.3] * 5, [0.3] * 5)
    assert c == pytest.approx(brute_force(ops, outputs, 5, 0, 4, cost, [0.3] * 5, [0.3] * 5))
    assert place[2] == "gpu"


# ---- device profiles (phones on paper) --------------------------------------------------------------------
def _profile(name):
    from facert.cli.plan import _profile_text

    return _profile_text(name)


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_plan_the_default_model(name):
    r = _core.plan_from_profile(str(facert.engine.DEFAULT_MODEL), _profile(name), "fp32")
    fam = r["families"]
    assert {"cpu", "gpu", "per-op", "per-op+split", "frames in flight"} <= set(fam)
    chosen = fam[r["chosen"]]
    assert chosen <= min(fam["cpu"], fam["gpu"]) + 1e-9  # never predicted slower than one device
    assert fam["frames in flight"] < min(fam["cpu"], fam["gpu"])
    if name == "adreno530_phone":
        assert fam["gpu"] < fam["cpu"] / 1.5 and " gpu " in r["plan"]
    else:
        assert r["chosen"] == "cpu" and fam["cpu"] < fam["gpu"]
    assert "pred_ms" in r["plan"]


def test_profile_sources_are_cited():
    for name in PROFILES:
        sources = json.loads(_profile(name))["sources"]
        assert any("ncnn" in s for s in sources.values()) and any("MNN" in s for s in sources.values())


def test_bad_profile_is_a_model_error():
    bad = json.loads(_profile("adreno530_phone"))
    del bad["devices"]["gpu"]["conv3x3_gflops"]
    with pytest.raises(facert.ModelError, match="devices.gpu.conv3x3_gflops"):
        _core.plan_from_profile(str(facert.engine.DEFAULT_MODEL), json.dumps(bad), "fp32")
    with pytest.raises(facert.ModelError, match="device profile"):
        _core.plan_from_profile(str(facert.engine.DEFAULT_MODEL), "{", "fp32")


def test_facert_plan_cli(capsys):
    assert facert_cli(["plan", "--profile", "adreno530_phone"]) == 0
    out = capsys.readouterr().out
    assert "<- chosen" in out and "frames in flight" in out and "fire2.expand3x3" in out
    assert facert_cli(["plan", "--device", "cpu"]) == 0
    assert "device: cpu" in capsys.readouterr().out
    assert facert_cli(["plan", "--profile", "nope"]) != 0  # the CLI reports user errors without a traceback
    assert "no device profile 'nope'" in capsys.readouterr().err


# ---- the scheduler on PoCL ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tmp_path_factory):
    graph, tensors = mf.squeezenet(seed=5, height=67, width=67)
    path = tmp_path_factory.mktemp("sched") / "sq.sq.bin"
    mf.write(path, graph, tensors)
    return path


@pytest.mark.opencl
def test_hetero_schedules_measures_and_caches(core_opencl, model, tmp_path):
    cache = tmp_path / "cache"
    e = facert.Engine(model, device="hetero", cache_dir=cache)
    s = e.info["schedule"]
    assert s["cost_source"] == "measured" and list((cache / "costs").glob("*.json"))
    # the guarantee: the chosen plan measured no slower than each single-device plan it was weighed against
    assert {"cpu", "gpu", s["chosen"]} <= set(s["measured"])
    assert s["measured"][s["chosen"]] <= min(s["measured"]["cpu"], s["measured"]["gpu"])
    # frames in flight is kept only where it measured faster than the chosen plan on a batch
    fif = s["measured"]["frames in flight"]
    assert (fif < s["stream_alone_ms"]) == s["frames_in_flight"]
    again = facert.Engine(model, device="hetero", cache_dir=cache)
    assert again.info["schedule"]["cost_source"].startswith("measured (cached")
    assert again.info["schedule"]["families"] == s["families"]
    # another input size has other shapes, so other costs: measured afresh and cached beside the first
    resized = facert.Engine(model, device="hetero", cache_dir=cache, input_size=(51, 51))
    assert resized.info["schedule"]["cost_source"] == "measured"
    assert len(list((cache / "costs").glob("*.json"))) == 2
    cpu = facert.Engine(model, device="cpu")
    x = np.random.default_rng(0).normal(size=(5, *cpu.input_shape)).astype(np.float32)
    want = cpu.forward(x)
    got = e.forward(x)  # 5 frames: shared out across both devices where frames in flight was kept
    cos = np.sum(got * want, 1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() >= 0.99999
    assert "pred_ms" in e.plan() and "[chosen]" in e.plan()
    shared = e._core._forward_frames_in_flight(x)  # the shared path itself, kept or not
    cos = np.sum(shared * want, 1) / np.linalg.norm(shared, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() >= 0.99999


@pytest.mark.opencl
def test_stream_and_profile(core_opencl, model, tmp_path):
    e = facert.Engine(model, device="hetero", cache_dir=tmp_path)
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, size=(40 + i, 50, 3), dtype=np.uint8) for i in range(7)]
    streamed = np.stack(list(e.stream(iter(frames), batch=3)))
    assert streamed.shape == (7, e.dim)
    assert np.allclose(streamed, facert.Engine(model, device="cpu").embed_batch(frames), atol=1e-5)
    steps = e.profile(2)
    assert {op["name"] for op in e.info["ops"]} <= {s["name"] for s in steps}  # every op timed
    assert {s["device"] for s in steps} <= {"cpu", "gpu"} and all(s["ms"] >= 0 for s in steps)
    assert "meas_ms" in e.plan()
    with pytest.raises(ValueError):
        list(e.stream(frames, batch=0))
