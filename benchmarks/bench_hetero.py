"""CPU, OpenCL and hetero side by side, results checked before timing, one interleaved run.

Configurations: device="cpu"; device="gpu"; device="hetero" as the scheduler chose it ("hetero auto"); and each
plan family pinned through placement=: the per-op DP's placement, per-op with fire splits, and every fire module
split. Figures: batch-1 latency (median ms) and a 64-frame stream (ms per frame; frames in flight on both devices
where the scheduler can share whole frames out). Here the OpenCL device is PoCL on the same 2 CPU cores as the
CPU backend, so expect a tie at best: this measures the machinery's overheads, not a GPU.
    python benchmarks/bench_hetero.py [--size 112] [--frames 64] [--rounds 7]
Under pytest (tools/test.sh) it runs once, small, checking results only.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import facert  # noqa: E402
import model_factory as mf  # noqa: E402
from facert import _core  # noqa: E402

FIRES = [f"fire{i}" for i in range(2, 10)]


def engines(path: Path) -> dict:
    cpu = facert.Engine(path, device="cpu")
    out = {"cpu": cpu, "gpu": facert.Engine(path, device="gpu")}
    auto = facert.Engine(path, device="hetero")
    out["hetero auto"] = auto
    placements = auto.info["schedule"]["placements"]
    for family in ("per-op", "per-op+split"):
        if family in placements:
            out[f"hetero {family} (pinned)"] = facert.Engine(path, device="hetero", placement=placements[family])
    out["hetero every fire split (pinned)"] = facert.Engine(path, device="hetero",
                                                           placement={f: "split" for f in FIRES})
    return out


def cosine_min(a, b) -> float:
    return float(np.min(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def run(size: int, frames: int, rounds: int) -> list[tuple[str, float, float, str]]:
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"facert_bench_hetero_{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    graph, tensors = mf.squeezenet(seed=0, height=size, width=size)
    path = folder / "sq.sq.bin"
    mf.write(path, graph, tensors)
    es = engines(path)
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((1, 3, size, size)).astype(np.float32)
    xs = rng.standard_normal((frames, 3, size, size)).astype(np.float32)
    want1, wants = es["cpu"].forward(x1), es["cpu"].forward(xs)
    for name, e in es.items():  # results first
        assert cosine_min(e.forward(x1), want1) >= 0.99999, name
        assert cosine_min(e.forward(xs), wants) >= 0.99999, name
    lat = {n: [] for n in es}
    stream = {n: [] for n in es}
    for _ in range(rounds):  # interleaved: every configuration sees the same machine load
        for name, e in es.items():
            t0 = time.perf_counter()
            e.forward(x1)
            lat[name].append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            e.forward(xs)
            stream[name].append((time.perf_counter() - t0) * 1e3 / frames)
    return [(n, statistics.median(lat[n]), statistics.median(stream[n]), es[n].info["device"]) for n in es]


def table(rows) -> str:
    lines = [f"{'configuration':<36} {'device':<7} {'batch 1 ms':>11} {'stream ms/frame':>16}"]
    for name, l1, s, dev in rows:
        lines.append(f"{name:<36} {dev:<7} {l1:11.3f} {s:16.3f}")
    best1 = min(r[1] for r in rows if r[0] in ("cpu", "gpu"))
    bests = min(r[2] for r in rows if r[0] in ("cpu", "gpu"))
    auto = next(r for r in rows if r[0] == "hetero auto")
    lines.append(f"hetero auto vs best single device: batch 1 {best1 / auto[1]:.2f}x, stream {bests / auto[2]:.2f}x")
    return "\n".join(lines)


def bench_hetero_table():
    """tools/test.sh: one small round, results checked (the table is for people; timing is not asserted)."""
    if not _core.opencl_status()["available"]:
        import pytest

        if os.environ.get("FACERT_REQUIRE_OPENCL", "") not in ("", "0"):
            pytest.fail("FACERT_REQUIRE_OPENCL=1 but no OpenCL device")
        pytest.skip("no OpenCL device")
    rows = run(size=48, frames=4, rounds=1)
    assert len(rows) >= 5 and all(r[1] > 0 and r[2] > 0 for r in rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    info = _core.opencl_devices()
    print(f"OpenCL: {info[0]['name'] if info else 'none'}; CPU threads: {facert.Engine(device='cpu').info['threads']}")
    print(table(run(a.size, a.frames, a.rounds)))
