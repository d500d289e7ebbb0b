"""facert's CPU engine beside ONNX Runtime and ncnn on one network, in one run.

SqueezeNet v1.1 with a 128-d head (the distillation student), fp32, batch 1, at 112 and 224 pixels
with 1 and 2 threads. Every runner's answer is checked against PyTorch before it is timed, so a
benchmark cannot report the speed of a wrong result. Save a table with
    pytest benchmarks/bench_engine.py --benchmark-json=bench.json
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import facert  # noqa: E402
from facert.cli import main as facert_cli  # noqa: E402
from facert.distill.student import SqueezeNetEmbedder  # noqa: E402

from peers import ncnn_runner, onnxruntime_runner  # noqa: E402

SIZES = [112, 224]
THREADS = [1, 2]
PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "people" / "barack_obama"


class Network:
    """One random student at one input size, as a torch module and as a converted sq.bin."""

    def __init__(self, size: int, folder: Path):
        torch.manual_seed(0)
        self.model = SqueezeNetEmbedder(dim=128).eval()
        self.folder = folder
        self.example = torch.rand(1, 3, size, size)
        self.x = self.example.numpy()
        with torch.no_grad():
            self.expected = self.model(self.example).numpy()
        checkpoint = folder / "student.pth"
        torch.save({"student": self.model.state_dict(), "epoch": 0}, checkpoint)
        self.sq_bin = folder / "student.sq.bin"
        assert facert_cli(["convert", str(checkpoint), "-o", str(self.sq_bin), "--input-size", str(size),
                           "--head-activation", "none", "--mean", "0.5", "--std", "0.5", "--no-verify"]) == 0


@pytest.fixture(scope="module", params=SIZES, ids=lambda s: f"{s}px")
def network(request, tmp_path_factory):
    return Network(request.param, tmp_path_factory.mktemp(f"net{request.param}"))


def check(out: np.ndarray, expected: np.ndarray, runtime: str = "facert") -> None:
    # fp32 runtimes differ in summation order: 1e-4 relative to the output's scale. ncnn's default
    # Winograd 3x3 convolutions round further from PyTorch (measured 5.8e-4 here): 2e-3 for it.
    tolerance = 2e-3 if runtime == "ncnn" else 1e-4
    np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance * np.abs(expected).max())


def make_runner(runtime: str, network: Network, threads: int):
    if runtime == "facert":
        engine = facert.Engine(str(network.sq_bin), threads=threads)
        return engine.forward
    if runtime == "onnxruntime":
        return onnxruntime_runner(network.model, network.example, network.folder, threads)
    return ncnn_runner(network.model, network.example, network.folder, threads)


@pytest.mark.parametrize("threads", THREADS, ids=lambda t: f"{t}t")
@pytest.mark.parametrize("runtime", ["facert", "onnxruntime", "ncnn"])
def bench_forward(benchmark, network, runtime, threads):
    run = make_runner(runtime, network, threads)
    check(run(network.x), network.expected, runtime)
    benchmark.group = f"forward {network.x.shape[-1]}px {threads} thread(s)"
    benchmark.extra_info.update(runtime=runtime, size=network.x.shape[-1], threads=threads)
    out = benchmark(run, network.x)
    check(out, network.expected, runtime)


@pytest.mark.parametrize("threads", THREADS, ids=lambda t: f"{t}t")
def bench_embed_photo(benchmark, network, threads):
    """embed() on a real photo: resize + normalise + network + L2 normalise."""
    photo = cv2.imread(str(sorted(PHOTO.glob("*.jpg"))[0]))
    engine = facert.Engine(str(network.sq_bin), threads=threads)
    benchmark.group = f"embed {network.x.shape[-1]}px {threads} thread(s)"
    vec = benchmark(engine.embed, photo)
    assert vec.shape == (128,) and abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
