"""The OpenCL backend beside the CPU backend, results checked before timing.

- forward latency, SqueezeNet v1.1 student with a 128-d head at 112 px, batch 1 and 64: CPU (2 threads) vs
  OpenCL fp32 vs OpenCL fp16 (half storage, or half math where the device has cl_khr_fp16);
- Engine(device="gpu") creation time: cold (empty facert cache; PoCL's own kernel cache off) vs cached.
Here the OpenCL device is PoCL on the same 2 CPU cores, so it measures the backend's overheads, not a GPU.
    pytest benchmarks/bench_opencl.py --benchmark-json=opencl.json
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import facert  # noqa: E402
from facert import _core  # noqa: E402
from facert.cli import main as facert_cli  # noqa: E402
from facert.distill.student import SqueezeNetEmbedder  # noqa: E402

SIZE = 112
BATCHES = [1, 64]


def _require_opencl():
    status = _core.opencl_status()
    if not status["available"]:
        if os.environ.get("FACERT_REQUIRE_OPENCL", "") not in ("", "0"):
            pytest.fail(f"FACERT_REQUIRE_OPENCL=1 but no OpenCL device: {status['reason']}")
        pytest.skip(f"no OpenCL device: {status['reason']}")


@pytest.fixture(scope="module")
def sq_bin(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench_opencl")
    torch.manual_seed(0)
    model = SqueezeNetEmbedder(dim=128).eval()
    checkpoint = folder / "student.pth"
    torch.save({"student": model.state_dict(), "epoch": 0}, checkpoint)
    out = folder / "student.sq.bin"
    assert facert_cli(["convert", str(checkpoint), "-o", str(out), "--input-size", str(SIZE),
                       "--head-activation", "none", "--mean", "0.5", "--std", "0.5", "--no-verify"]) == 0
    return out


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("facert_cache")
    old = os.environ.get("FACERT_CACHE_DIR")
    os.environ["FACERT_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("FACERT_CACHE_DIR", None)
    else:
        os.environ["FACERT_CACHE_DIR"] = old


def _cosine_min(a, b):
    return float(np.min(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("backend", ["cpu", "gpu-fp32", "gpu-fp16"])
def bench_forward(benchmark, sq_bin, cache_dir, backend, batch):
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 3, SIZE, SIZE)).astype(np.float32)
    expected = facert.Engine(str(sq_bin), device="cpu", threads=2).forward(x)
    if backend == "cpu":
        engine = facert.Engine(str(sq_bin), device="cpu", threads=2)
    else:
        _require_opencl()
        engine = facert.Engine(str(sq_bin), device="gpu", precision=backend.split("-")[1])
    minimum = 0.99999 if backend != "gpu-fp16" else 0.999
    assert _cosine_min(engine.forward(x), expected) >= minimum
    benchmark.group = f"forward {SIZE}px batch {batch}"
    benchmark.extra_info.update(backend=backend, batch=batch, device=engine.info.get("opencl", {}).get("device", "cpu"))
    out = benchmark(engine.forward, x)
    assert _cosine_min(out, expected) >= minimum


_CREATE = """
import json, sys, time, facert
t0 = time.perf_counter()
e = facert.Engine(sys.argv[1], device="gpu")
ms = (time.perf_counter() - t0) * 1e3
print(json.dumps({"ms": ms, "from_cache": e.info["opencl"]["program_from_cache"]}))
"""


def _create_in_fresh_process(sq_bin: Path, cache: Path) -> dict:
    env = dict(os.environ, FACERT_CACHE_DIR=str(cache), POCL_KERNEL_CACHE="0")  # PoCL's own cache off: a true cold start
    out = subprocess.run([sys.executable, "-c", _CREATE, str(sq_bin)], env=env, capture_output=True, text=True,
                         timeout=600, cwd="/")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("state", ["cold", "cached"])
def bench_engine_creation(benchmark, sq_bin, tmp_path, state):
    _require_opencl()
    cache = tmp_path / "cache"
    if state == "cached":
        assert _create_in_fresh_process(sq_bin, cache)["from_cache"] == "false"
    rounds = []

    def create():
        fresh = cache if state == "cached" else tmp_path / f"cold{len(rounds)}"
        rounds.append(_create_in_fresh_process(sq_bin, fresh))

    benchmark.group = "Engine(device='gpu') creation, fresh process"
    benchmark.pedantic(create, rounds=2, iterations=1)
    assert all(r["from_cache"] == ("true" if state == "cached" else "false") for r in rounds)
    benchmark.extra_info.update(state=state, engine_ms=[round(r["ms"], 1) for r in rounds])
