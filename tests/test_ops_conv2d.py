"""facert._core.ops.conv2d on every available ISA against the NumPy reference (tests/reference.py).

Shapes are chosen to hit every tail of the GEMM path: output channels not a multiple of the microkernel's
rows (6 on AVX2, 16 on AVX-512, 8 on NEON), output pixels not a multiple of its columns, K larger than one packed block,
column- and row-split threading, plus groups, depthwise (direct path), dilation and 1x1 images, and Winograd's
partial tile panels, clipped edge tiles and output-channel split, for F(2x2, 3x3) and F(4x4, 3x3) alike.
"""
from __future__ import annotations

import platform
import threading
from pathlib import Path

import numpy as np
import pytest

import reference as ref
from facert import _core

ops = _core.ops
ISAS = ops.isas()
AVX512_TILE = "8x32"
PEOPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "people"

# (N, C, H, W, O, kh, kw, stride, pad, dilation, groups, activation)
CASES = [
    (1, 3, 97, 97, 13, 3, 3, 2, 0, 1, 1, "relu"),      # SqueezeNet's stem at an odd size (stride 2, shifted)
    (1, 6, 75, 80, 20, 3, 3, 2, 1, 1, 1, "relu"),      # stride 2, padded: phase planes split across threads
    (1, 37, 13, 13, 29, 1, 1, 1, 0, 1, 1, "relu"),     # pointwise: B read straight from the planes
    (2, 13, 13, 11, 37, 3, 3, 1, 1, 1, 1, "relu6"),    # expand3x3 with tails everywhere, batch 2
    (1, 16, 1, 1, 8, 3, 3, 1, 1, 1, 1, "relu"),        # 1x1 image: only the centre tap is inside
    (1, 8, 9, 7, 12, 5, 5, 1, 2, 1, 1, "none"),        # 5x5, pad 2
    (1, 9, 8, 13, 4, 1, 1, 2, 0, 1, 1, "none"),        # strided 1x1 goes through im2col packing
    (1, 10, 15, 14, 7, 3, 3, 1, 2, 2, 1, "none"),      # dilation 2
    (1, 12, 10, 9, 18, 3, 3, 2, 1, 1, 3, "relu"),      # groups=3, 6 outputs per group: GEMM per group
    (1, 13, 11, 12, 13, 3, 3, 1, 1, 1, 13, "relu6"),   # depthwise: direct path
    (1, 8, 7, 9, 16, 3, 3, 1, 1, 1, 8, "none"),        # channel multiplier 2: direct path
    (1, 600, 6, 6, 20, 1, 1, 1, 0, 1, 1, "relu"),      # K = 600: two packed K blocks, accumulate
    (1, 130, 7, 7, 10, 3, 3, 1, 1, 1, 1, "relu6"),     # K = 1170: three K blocks, act on the last only
    (1, 64, 56, 56, 70, 1, 1, 1, 0, 1, 1, "relu"),     # many columns: split by columns across threads
    (1, 37, 5, 5, 37, 3, 3, 1, 1, 1, 1, "none"),       # few columns: split by rows across threads
    (1, 3, 13, 1, 5, 3, 1, 1, 1, 1, 1, "relu"),        # W = 1, kw = 1
    (1, 16, 27, 27, 64, 3, 3, 1, 1, 1, 1, "relu"),     # fire2.expand3x3 at 112 px: shifted windows
    (1, 12, 30, 31, 18, 3, 3, 1, 1, 1, 3, "relu6"),    # shifted, per group
    (2, 7, 40, 45, 9, 5, 5, 1, 2, 1, 1, "none"),       # shifted 5x5, batch 2
    (1, 80, 12, 40, 12, 3, 3, 1, 1, 1, 1, "relu"),     # shifted with two K blocks
    (1, 6, 41, 45, 10, 3, 3, 2, 1, 2, 1, "relu"),      # stride 2 + dilation 2 over phase-split planes
    (1, 5, 16, 17, 7, 3, 3, 3, 1, 1, 1, "none"),       # stride 3: nine phases per channel
    (1, 24, 9, 11, 40, 3, 3, 1, 0, 1, 1, "relu"),      # 3x3 pad 0, odd output: Winograd's clipped edge tiles
    (1, 64, 6, 6, 256, 3, 3, 1, 1, 1, 1, "relu"),      # fire9.expand3x3 at 112 px: one tile panel, channel split
    (2, 3, 33, 35, 17, 3, 3, 1, 1, 1, 1, "relu6"),     # 3 input channels: shifted GEMM (Winograd forced below)
    (2, 64, 3, 3, 131, 3, 3, 1, 0, 1, 1, "none"),      # R-Net's dense layer as a conv: one output pixel, GEMV
    (1, 29, 2, 3, 7, 2, 3, 1, 0, 1, 1, "relu6"),       # one output pixel, K = 174 (not a multiple of 4), M < MR
    (1, 37, 1, 1, 18, 1, 1, 1, 0, 1, 1, "relu"),       # a head: 1x1 conv on a 1x1 map
    (1, 32, 23, 31, 2, 1, 1, 1, 0, 1, 1, "none"),      # P-Net's 2-channel head: the narrow tile where there is one
    (2, 32, 17, 9, 4, 1, 1, 1, 0, 1, 1, "relu"),       # 4 channels, columns not a multiple of 64, batch 2
    (1, 5, 21, 19, 3, 3, 3, 2, 1, 1, 1, "relu6"),      # a narrow strided 3x3 (shifted windows)
    (1, 3, 31, 29, 10, 3, 3, 1, 0, 1, 1, "none"),      # P-Net's conv1: three narrow-tile panels, the last half empty
    (1, 16, 13, 13, 20, 3, 3, 1, 1, 1, 1, "relu"),     # 13x13 (fire6-9 at 224 px): F(2,3); F(4,3) forced below
    (2, 37, 29, 29, 17, 3, 3, 1, 0, 1, 1, "relu6"),    # pad 0 -> 27x27: F(4,3)'s three-pixel edge tiles, batch 2
    (1, 130, 15, 18, 33, 3, 3, 1, 1, 1, 1, "none"),    # 15x18, K = 130: the smallest side F(4,3) is chosen for
    (1, 3, 17, 18, 16, 3, 3, 1, 0, 1, 1, "relu"),      # pad 0 -> 15x16 from 3 channels (F(4,3) forced below)
    (2, 37, 5, 7, 17, 3, 3, 1, 1, 1, 1, "relu"),       # 5x7: F(2,3); F(4,3) forced below
]
# How each case runs on a GEMM ISA (Conv2dKernel.method), so coverage of every path is asserted. The x86 ISAs
# also run 3x3 stride-1 single-group convs with >= 8 input channels through Winograd: F(4x4, 3x3) when the
# smaller output side is >= 15, F(2x2, 3x3) below (cpu/conv2d.cpp, kF43MinSide, kWinogradMinInC); and one-pixel
# outputs through a GEMV. The others keep the GEMM paths.
GEMM_METHODS = {"direct", "gemm", "gemm_shifted", "gemm_im2col"}
WINOGRAD_METHODS = {"winograd_f23", "winograd_f43"}
WINOGRAD_ISAS = {"avx2", "avx512"}
X86_METHODS = WINOGRAD_METHODS | {"gemv"}
# Tolerances by method: ref.CONV_REL_TOL (F(4,3) loses about a digit), else ref.FP32_REL_TOL.
F43_REL_TOL = ref.WINOGRAD_F43_REL_TOL
TOLERANCE = ref.CONV_REL_TOL


def case_id(case):
    n, c, h, w, o, kh, kw, s, p, d, g, act = case
    return f"n{n}c{c}_{h}x{w}_o{o}_k{kh}x{kw}s{s}p{p}d{d}g{g}_{act}"


def make_data(case, seed=0):
    n, c, h, w, o, kh, kw, s, p, d, g, act = case
    rng = np.random.default_rng(seed + sum(case[:11]))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    # He-like scale keeps outputs O(1), so the relative error measures summation order, not magnitude.
    weight = (rng.standard_normal((o, c // g, kh, kw)) / np.sqrt(c // g * kh * kw)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    return x, weight, bias


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conv2d_matches_reference(case, isa, threads):
    n, c, h, w, o, kh, kw, s, p, d, g, act = case
    x, weight, bias = make_data(case)
    kernel = ops.Conv2dKernel(weight, bias, in_shape=x.shape[1:], stride=s, pad=p, dilation=d, groups=g,
                              activation=act, isa=isa, threads=threads)
    got = kernel.run(x)
    expected = ref.conv2d(x, weight, bias, s, p, d, g, act)
    assert got.dtype == np.float32
    # fp32 against float64: only the summation order differs (GEMM blocks, K splits, FMA), <= 1e-5 of max|ref|;
    # F(4,3) loses about a digit more.
    assert ref.rel_err(got, expected) <= TOLERANCE.get(kernel.method, ref.FP32_REL_TOL)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("tail", range(1, 18))
def test_conv2d_every_last_panel_width(tail, isa):
    """A pointwise conv over 32 + tail columns, K = 600 (two K blocks): the last panel of every width 1..17 runs
    the ISA's column, half or full tile, with accumulation, relu and a NaN in its last column."""
    case = (1, 600, 1, 32 + tail, 11, 1, 1, 1, 0, 1, 1, "relu")
    x, weight, bias = make_data(case)
    kernel = ops.Conv2dKernel(weight, bias, in_shape=x.shape[1:], activation="relu", isa=isa)
    assert ref.rel_err(kernel.run(x), ref.conv2d(x, weight, bias, 1, 0, 1, 1, "relu")) <= ref.FP32_REL_TOL
    x[0, 5, 0, -1] = np.nan
    got = kernel.run(x)
    assert np.isnan(got[0, :, 0, -1]).all() and not np.isnan(got[0, :, 0, :-1]).any()


WINOGRAD_CASES = [case for case in CASES if case[5:8] == (3, 3, 1) and case[8] <= 1 and case[9:11] == (1, 1)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("method", sorted(WINOGRAD_METHODS))
@pytest.mark.parametrize("isa", sorted(WINOGRAD_ISAS & set(ISAS)))
@pytest.mark.parametrize("case", WINOGRAD_CASES, ids=case_id)
def test_winograd_forced_matches_reference(case, isa, method, threads):
    """Both Winograd methods on every 3x3 stride-1 case, whichever the rule picks: F(4,3) also on 1x1, 5x5, 5x7,
    6x6, 7x9, 13x11 and 13x13 outputs (edge tiles of 1..3 pixels in each direction), F(2,3) on the large ones."""
    n, c, h, w, o, kh, kw, s, p, d, g, act = case
    x, weight, bias = make_data(case)
    got = ops.conv2d(x, weight, bias, pad=p, activation=act, isa=isa, threads=threads, method=method)
    expected = ref.conv2d(x, weight, bias, s, p, d, g, act)
    assert ref.rel_err(got, expected) <= TOLERANCE.get(method, ref.FP32_REL_TOL)


def test_winograd_f43_costs_about_one_digit():
    """The stated tolerances are not loose: on fire9.expand3x3's shape at 224 px (64 -> 256 channels, 13x13),
    F(4,3)'s error is larger than F(2,3)'s but within F43_REL_TOL, and F(2,3)'s within the GEMM's bound."""
    if not WINOGRAD_ISAS & set(ISAS):
        pytest.skip("no ISA with Winograd kernels on this CPU/build")
    isa = sorted(WINOGRAD_ISAS & set(ISAS))[0]
    x, weight, bias = make_data((1, 64, 13, 13, 256, 3, 3, 1, 1, 1, 1, "none"))
    expected = ref.conv2d(x, weight, bias, 1, 1)
    err = {m: ref.rel_err(ops.conv2d(x, weight, bias, pad=1, isa=isa, method=m), expected)
           for m in ("gemm_shifted", "winograd_f23", "winograd_f43")}
    assert err["winograd_f23"] <= ref.FP32_REL_TOL and err["gemm_shifted"] <= ref.FP32_REL_TOL
    assert err["winograd_f23"] < err["winograd_f43"] <= F43_REL_TOL


# Depthwise (groups = C = O): (N, C, H, W, kh, kw, stride, pad, act). Against PyTorch, independently of
# tests/reference.py.
DEPTHWISE_CASES = [
    (1, 128, 6, 6, 6, 6, 1, 0, "none"),     # MobileFaceNet's global depthwise conv: the whole 6x6 map -> 1x1
    (2, 37, 7, 5, 7, 5, 1, 0, "none"),      # a 7x5 one on 37 channels, batch 2
    (1, 24, 13, 11, 3, 3, 1, 1, "relu"),    # MobileNet 3x3, stride 1, odd sizes
    (2, 19, 15, 9, 3, 3, 2, 1, "relu"),     # stride 2 -> 8x5
    (1, 32, 27, 25, 3, 3, 2, 1, "relu6"),   # stride 2, relu6: threads split 32 channels
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=lambda c: f"c{c[1]}_{c[2]}x{c[3]}_k{c[4]}x{c[5]}s{c[6]}_{c[8]}")
def test_depthwise_matches_torch(case, isa, threads):
    torch = pytest.importorskip("torch")
    n, c, h, w, kh, kw, s, p, act = case
    rng = np.random.default_rng(sum(case[:8]))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weight = (rng.standard_normal((c, 1, kh, kw)) / np.sqrt(kh * kw)).astype(np.float32)
    bias = rng.standard_normal(c).astype(np.float32)
    kernel = ops.Conv2dKernel(weight, bias, in_shape=x.shape[1:], stride=s, pad=p, groups=c, activation=act,
                              isa=isa, threads=threads)
    assert kernel.method == "direct"  # one input channel per output: too thin for a GEMM tile on every ISA
    f = torch.nn.functional
    y = f.conv2d(torch.from_numpy(x).double(), torch.from_numpy(weight).double(), torch.from_numpy(bias).double(),
                 stride=s, padding=p, groups=c)
    expected = {"none": y, "relu": f.relu(y), "relu6": f.relu6(y)}[act].numpy()
    # fp32 sums of at most 36 terms against float64: <= 1e-5 of max|ref|
    assert ref.rel_err(kernel.run(x), expected) <= ref.FP32_REL_TOL


@pytest.mark.parametrize("isa", ISAS)
def test_conv2d_without_bias_and_rectangular_stride(isa):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 11, 17, 23)).astype(np.float32)
    weight = rng.standard_normal((9, 11, 3, 5)).astype(np.float32) / 12
    got = ops.conv2d(x, weight, None, stride=(2, 3), pad=(1, 2), dilation=(1, 2), isa=isa, threads=2)
    assert ref.rel_err(got, ref.conv2d(x, weight, None, (2, 3), (1, 2), (1, 2))) <= ref.FP32_REL_TOL


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[8], CASES[10]], ids=case_id)
def test_conv2d_writes_only_its_channel_slice(case, isa, threads):
    """The fire module's concat costs no copy: each expand conv writes straight into its channel range of
    the shared output. The binding fills the other channels with NaN first; they must stay NaN."""
    n, c, h, w, o, kh, kw, s, p, d, g, act = case
    x, weight, bias = make_data(case, seed=1)
    total, offset = o + 11, 5
    got = ops.conv2d(x, weight, bias, stride=s, pad=p, dilation=d, groups=g, activation=act, isa=isa,
                     threads=threads, out_channels_total=total, out_channel_offset=offset)
    assert got.shape[1] == total
    assert np.isnan(got[:, :offset]).all() and np.isnan(got[:, offset + o:]).all()
    expected = ref.conv2d(x, weight, bias, s, p, d, g, act)
    assert ref.rel_err(got[:, offset:offset + o], expected) <= ref.FP32_REL_TOL


def load_photo_tensor(size):
    cv2 = pytest.importorskip("cv2")
    path = sorted((PEOPLE / "barack_obama").glob("*.jpg"))[0]
    img = cv2.imread(str(path))
    assert img is not None, f"cannot read {path}"
    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    chw = img[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0
    return ((chw - 0.5) / 0.25)[None].copy()


@pytest.mark.parametrize("isa", ISAS)
def test_conv2d_on_a_real_photo(isa):
    """A real face photo (smooth regions, strong edges, saturated pixels) through SqueezeNet's stem and a
    3x3 expand-like layer at an odd size."""
    x = load_photo_tensor((113, 101))  # (W, H) for cv2
    rng = np.random.default_rng(3)
    w1 = (rng.standard_normal((64, 3, 3, 3)) / np.sqrt(27)).astype(np.float32)
    b1 = rng.standard_normal(64).astype(np.float32) * 0.1
    stem = ops.conv2d(x, w1, b1, stride=2, activation="relu", isa=isa, threads=2)
    expected = ref.conv2d(x, w1, b1, 2, 0, 1, 1, "relu")
    assert ref.rel_err(stem, expected) <= ref.FP32_REL_TOL
    w2 = (rng.standard_normal((29, 64, 3, 3)) / 24).astype(np.float32)
    kernel = ops.Conv2dKernel(w2, None, in_shape=stem.shape[1:], pad=1, isa=isa, threads=2)
    assert ref.rel_err(kernel.run(stem), ref.conv2d(stem, w2, None, 1, 1)) <= TOLERANCE.get(kernel.method,
                                                                                          ref.FP32_REL_TOL)


@pytest.mark.parametrize("isa", ISAS)
def test_conv2d_cases_cover_every_method(isa):
    methods = set()
    for case in CASES:
        n, c, h, w, o, kh, kw, s, p, d, g, act = case
        x, weight, bias = make_data(case)
        methods.add(ops.Conv2dKernel(weight, bias, in_shape=x.shape[1:], stride=s, pad=p, dilation=d, groups=g,
                                     isa=isa).method)
    expected = {"direct"} if isa == "ref" else GEMM_METHODS | (X86_METHODS if isa in WINOGRAD_ISAS else set())
    assert methods == expected
    kernel = ops.Conv2dKernel(np.ones((16, 4, 1, 1), np.float32), None, in_shape=(4, 3, 3), isa=isa)
    assert kernel.tile == {"ref": "", "avx2": "6x16", "avx512": AVX512_TILE, "neon": "8x8"}[isa]
    for out_c, tile, method in ((4, "4x64", None), (10, "4x64", None), (13, AVX512_TILE, None),
                                (10, AVX512_TILE, "gemv")):
        # fewer rows computed than the main tile's 8 or 16 (13 would take 16 either way); a one-pixel map: its GEMV
        side = 1 if method else 3
        narrow = ops.Conv2dKernel(np.ones((out_c, 4, 1, 1), np.float32), None, in_shape=(4, side, side), isa=isa)
        assert narrow.tile == {"ref": "", "avx2": "6x16", "avx512": tile, "neon": "8x8"}[isa]
        if method and isa in WINOGRAD_ISAS:
            assert narrow.method == method


def test_isas_lists_ref_and_the_best():
    assert ISAS[0] == "ref"
    assert ops.best_isa() in ISAS
    assert set(ISAS) <= {"ref", "avx2", "avx512", "neon"}


def _linux_cpu_flags():
    info = Path("/proc/cpuinfo")
    if platform.machine().lower() not in ("x86_64", "amd64") or not info.exists():
        pytest.skip("x86 Linux only: /proc/cpuinfo flags are the independent witness")
    for line in info.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    pytest.fail("no flags line in /proc/cpuinfo")


def test_x86_detection_agrees_with_the_kernel():
    """Linux lists avx512* / avx2 in /proc/cpuinfo only when the CPU has them AND the kernel enabled their
    register state in XCR0: the same two conditions facert checks itself with cpuid + xgetbv."""
    flags = _linux_cpu_flags()
    assert ("avx2" in ISAS) == ({"avx2", "fma"} <= flags)
    assert ("avx512" in ISAS) == ({"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"} <= flags)
    assert ops.best_isa() == ("avx512" if "avx512" in ISAS else "avx2" if "avx2" in ISAS else "ref")


@pytest.mark.parametrize("isa", ISAS)
def test_prepared_kernel_is_thread_safe(isa):
    """One prepared conv run from several Python threads at once (the GIL is released), each also
    using the shared 2-thread pool: per-call scratch must not be shared."""
    case = (1, 37, 23, 21, 45, 3, 3, 1, 1, 1, 1, "relu")
    x, weight, bias = make_data(case)
    kernel = ops.Conv2dKernel(weight, bias, in_shape=x.shape[1:], pad=1, activation="relu", isa=isa, threads=2)
    assert kernel.isa == isa
    inputs = [x * (i + 1) for i in range(4)]
    expected = [kernel.run(xi) for xi in inputs]
    errors = []

    def worker(i):
        try:
            for _ in range(20):
                np.testing.assert_array_equal(kernel.run(inputs[i]), expected[i])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    tol = TOLERANCE.get(kernel.method, ref.FP32_REL_TOL)
    assert ref.rel_err(expected[0], ref.conv2d(x, weight, bias, 1, 1, 1, 1, "relu")) <= tol


def _conv_args():
    x = np.zeros((1, 6, 8, 8), np.float32)
    w = np.zeros((4, 6, 3, 3), np.float32)
    return x, w


@pytest.mark.parametrize("call, message", [
    (lambda x, w: ops.conv2d(x[0], w), "conv2d input: expected a 4-d array"),
    (lambda x, w: ops.conv2d(x, w[0]), "conv2d weight: expected a 4-d array"),
    (lambda x, w: ops.conv2d(x, w[:, :5]), "does not fit 6 input channels"),
    (lambda x, w: ops.conv2d(x, w, groups=4), "does not fit 6 input channels with groups=4"),
    (lambda x, w: ops.conv2d(x, w, np.zeros(3, np.float32)), "bias must have shape (4,)"),
    (lambda x, w: ops.conv2d(x[:, :, :2, :2], w), "kernel larger than the padded input"),
    (lambda x, w: ops.conv2d(x, w, stride=0), "stride and dilation must be positive"),
    (lambda x, w: ops.conv2d(x, w, activation="gelu"), "unknown activation 'gelu'"),
    (lambda x, w: ops.conv2d(x, w, isa="sse9"), "unknown isa 'sse9'"),
    (lambda x, w: ops.conv2d(x, w, threads=0), "threads must be >= 1"),
    (lambda x, w: ops.conv2d(x, w, out_channels_total=6, out_channel_offset=3), "do not fit out_channels_total=6"),
    (lambda x, w: ops.conv2d(x, w, method="fft"), "unknown method 'fft'"),
    (lambda x, w: ops.conv2d(x, w, stride=2, method="winograd_f43"), "method 'winograd_f43' cannot run this layer"),
    (lambda x, w: ops.conv2d(x, w, isa="ref", method="winograd_f23"), "method 'winograd_f23' cannot run this layer"),
])
def test_conv2d_bad_arguments_raise_value_error(call, message):
    x, w = _conv_args()
    with pytest.raises(ValueError) as info:
        call(x, w)
    assert message in str(info.value)


def test_unavailable_isa_is_refused():
    missing = [name for name in ("avx2", "avx512", "neon") if name not in ISAS]
    x, w = _conv_args()
    for name in missing:
        with pytest.raises(ValueError, match="not available"):
            ops.conv2d(x, w, isa=name)
