"""Single CPU conv kernels at SqueezeNet v1.1's real layer shapes (128-d student head), every ISA,
1 and 2 threads. Each layer's result is checked against the NumPy reference before it is timed.
GFLOP/s (2 x MACs / mean time) is stored in each benchmark's extra_info and printed with -s:
    pytest benchmarks/bench_ops.py --benchmark-only -s -k "112 and avx2"
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import reference as ref  # noqa: E402
from facert import _core  # noqa: E402

ops = _core.ops

# (name, in_c, out_c, kernel, stride, pad, spatial size of the layer's input at 112 px, at 224 px)
SQUEEZENET_LAYERS = [
    ("conv1", 3, 64, 3, 2, 0, 112, 224),
    ("fire2.squeeze", 64, 16, 1, 1, 0, 27, 55),
    ("fire2.expand1x1", 16, 64, 1, 1, 0, 27, 55),
    ("fire2.expand3x3", 16, 64, 3, 1, 1, 27, 55),
    ("fire3.squeeze", 128, 16, 1, 1, 0, 27, 55),
    ("fire4.squeeze", 128, 32, 1, 1, 0, 13, 27),
    ("fire4.expand1x1", 32, 128, 1, 1, 0, 13, 27),
    ("fire4.expand3x3", 32, 128, 3, 1, 1, 13, 27),
    ("fire5.squeeze", 256, 32, 1, 1, 0, 13, 27),
    ("fire6.squeeze", 256, 48, 1, 1, 0, 6, 13),
    ("fire6.expand1x1", 48, 192, 1, 1, 0, 6, 13),
    ("fire6.expand3x3", 48, 192, 3, 1, 1, 6, 13),
    ("fire7.squeeze", 384, 48, 1, 1, 0, 6, 13),
    ("fire8.squeeze", 384, 64, 1, 1, 0, 6, 13),
    ("fire8.expand1x1", 64, 256, 1, 1, 0, 6, 13),
    ("fire8.expand3x3", 64, 256, 3, 1, 1, 6, 13),
    ("fire9.squeeze", 512, 64, 1, 1, 0, 6, 13),
    ("head", 512, 128, 1, 1, 0, 6, 13),
]
SIZES = {112: 6, 224: 7}  # input px -> column of SQUEEZENET_LAYERS holding the layer's spatial size


def layer_params():
    for layer in SQUEEZENET_LAYERS:
        for px, col in SIZES.items():
            yield pytest.param(layer, layer[col], id=f"{px}px-{layer[0]}")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", ops.isas())
@pytest.mark.parametrize("layer, size", list(layer_params()))
def bench_conv2d_layer(benchmark, layer, size, isa, threads):
    name, in_c, out_c, k, stride, pad, *_ = layer
    rng = np.random.default_rng(0)
    x = rng.random((1, in_c, size, size), dtype=np.float32)
    weight = (rng.standard_normal((out_c, in_c, k, k)) / np.sqrt(in_c * k * k)).astype(np.float32)
    bias = rng.standard_normal(out_c).astype(np.float32)
    kernel = ops.Conv2dKernel(weight, bias, in_shape=x.shape[1:], stride=stride, pad=pad, activation="relu",
                              isa=isa, threads=threads)
    out = kernel.run(x)
    # fp32 vs float64 reference, summation order only: 1e-5 of max|ref| (F(4,3) Winograd: about a digit more).
    tol = ref.CONV_REL_TOL.get(kernel.method, ref.FP32_REL_TOL)
    assert ref.rel_err(out, ref.conv2d(x, weight, bias, stride, pad, 1, 1, "relu")) <= tol

    benchmark.group = f"{name} {size}x{size}"
    benchmark.extra_info["method"] = kernel.method
    benchmark(kernel.run, x)
    macs = out_c * in_c * k * k * out.shape[2] * out.shape[3]
    benchmark.extra_info["macs"] = macs
    if benchmark.stats is not None:  # None under --benchmark-disable
        gflops = 2 * macs / benchmark.stats.stats.median / 1e9
        benchmark.extra_info["gflops"] = gflops
        print(f"\n{name:16s} {size:3d}px {isa:5s} t{threads} {kernel.method:12s}: "
              f"{benchmark.stats.stats.median * 1e6:8.1f} us {gflops:6.1f} GFLOP/s", end="")


WINOGRAD_ISAS = [isa for isa in ops.isas() if isa in ("avx2", "avx512")]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("method", ["winograd_f23", "winograd_f43"])
@pytest.mark.parametrize("isa", WINOGRAD_ISAS)
@pytest.mark.parametrize("layer, size", [p for p in layer_params() if p.values[0][3] == 3 and p.values[0][4] == 1])
def bench_winograd_method(benchmark, layer, size, isa, method, threads):
    """Both Winograd methods on the expand3x3 layers, whichever the rule (cpu/conv2d.cpp, kF43MinSide) picks:
    the data behind that rule, with warm caches (the rule was set in whole networks, see its comment):
        pytest benchmarks/bench_ops.py --benchmark-only -k winograd_method --benchmark-group-by=group"""
    name, in_c, out_c, *_ = layer
    rng = np.random.default_rng(0)
    x = rng.random((1, in_c, size, size), dtype=np.float32)
    weight = (rng.standard_normal((out_c, in_c, 3, 3)) / np.sqrt(in_c * 9)).astype(np.float32)
    kernel = ops.Conv2dKernel(weight, None, in_shape=x.shape[1:], pad=1, isa=isa, threads=threads, method=method)
    tol = ref.CONV_REL_TOL.get(method, ref.FP32_REL_TOL)
    assert ref.rel_err(kernel.run(x), ref.conv2d(x, weight, None, 1, 1)) <= tol
    benchmark.group = f"{name} {size}x{size} {isa} t{threads}"
    benchmark(kernel.run, x)
