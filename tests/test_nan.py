"""NaN and Inf: refused where they enter (weights at load, input at forward(), an embedding that is
non-finite or all zeros), and carried like PyTorch by every kernel where a caller bypasses those checks:
ReLU, ReLU6 and max pooling keep a NaN in the reference, the SIMD kernels and kernels/*.cl."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import facert
import model_factory as mf
from cl_helpers import (ACTIVATIONS, blocks, cl_env, from_nc4hw4, pack_conv_weight, pad_bias,  # noqa: F401
                        quantise, storage_dtype, to_nc4hw4)
from facert import _core

ops = _core.ops

ISAS = ops.isas()


def _torch_act(y, act):
    return {"none": y, "relu": F.relu(y), "relu6": F.hardtanh(y, 0.0, 6.0)}[act]


def _nan_input(shape, where):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x[where] = np.nan
    return x


def _same_nans(got, ref):
    got, ref = np.asarray(got), np.asarray(ref)
    assert np.isnan(ref).any(), "the reference must carry the NaN, else this test proves nothing"
    assert np.array_equal(np.isnan(got), np.isnan(ref)), (
        f"{np.isnan(got).sum()} NaN outputs, PyTorch has {np.isnan(ref).sum()}")
    finite = ~np.isnan(ref)
    assert np.allclose(got[finite], ref[finite], rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------ CPU kernels, every ISA
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", ["relu", "relu6"])
@pytest.mark.parametrize("k,stride,pad", [(1, 1, 0), (3, 1, 1), (3, 2, 0)])  # gemm, shifted, im2col/direct
def test_conv2d_keeps_nan(isa, act, k, stride, pad):
    x = _nan_input((1, 8, 9, 10), (0, 3, 4, 5))
    w = np.random.default_rng(1).standard_normal((16, 8, k, k)).astype(np.float32) * 0.3
    # bias very negative: without NaN semantics every ReLU output would be a clean 0
    b = np.full(16, -50.0, np.float32)
    got = ops.conv2d(x, w, b, stride=(stride, stride), pad=(pad, pad), activation=act, isa=isa)
    ref = _torch_act(F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride, pad), act)
    _same_nans(got, ref.numpy())


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_linear_keeps_nan(isa, act):
    x = _nan_input((2, 40), (1, 7))
    w = np.random.default_rng(2).standard_normal((5, 40)).astype(np.float32)
    b = np.full(5, -100.0, np.float32)
    got = ops.linear(x, w, b, activation=act, isa=isa)
    ref = _torch_act(F.linear(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)), act)
    _same_nans(got, ref.numpy())


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("k,s,p,ceil_mode", [(3, 2, 0, True), (2, 2, 0, False), (3, 1, 1, False)])
@pytest.mark.parametrize("where", [(0, 1, 0, 0), (0, 0, 5, 20), (0, 2, 5, 33), (0, 0, 0, 39)])
def test_maxpool_keeps_nan(isa, k, s, p, ceil_mode, where):
    # width 40: the AVX2 3/2 path (8 outputs from 18 inputs) and its scalar tail both see a NaN; NaN
    # at the first and last element of a window and row
    x = _nan_input((1, 3, 7, 40), where)
    got = ops.maxpool2d(x, (k, k), (s, s), pad=p, ceil_mode=ceil_mode, isa=isa)
    ref = F.max_pool2d(torch.from_numpy(x), k, s, p, ceil_mode=ceil_mode)
    _same_nans(got, ref.numpy())


# ------------------------------------------------------------------------------ kernels/*.cl (PoCL)
@pytest.mark.opencl
@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_cl_conv2d_1x1_keeps_nan(cl_env, act):
    n, c, h, w, o = 1, 5, 3, 4, 6
    x = _nan_input((n, c, h, w), (0, 2, 1, 2)).astype(np.float64)
    weight = np.random.default_rng(3).standard_normal((o, c, 1, 1)) * 0.3
    bias = np.full(o, -50.0)
    out_buf = cl_env.empty(n * blocks(o) * h * w * 16)
    cl_env.run("conv2d.cl", "fp32", "conv2d_1x1", ((h * w + 3) // 4, (blocks(o) + 1) // 2, n),
               cl_env.buffer(to_nc4hw4(x)), cl_env.buffer(pack_conv_weight(weight)), cl_env.buffer(pad_bias(bias, o)),
               out_buf, *[np.int32(a) for a in (blocks(c), h * w, blocks(o), blocks(o), 0, ACTIVATIONS[act])])
    got = from_nc4hw4(cl_env.read(out_buf, (n, blocks(o), h, w, 4), np.float32), o)
    ref = _torch_act(F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias)), act)
    _same_nans(got, ref.numpy())


@pytest.mark.opencl
@pytest.mark.parametrize("variant", ["fp32", "fp16"])
@pytest.mark.parametrize("where", [(0, 1, 0, 0), (0, 3, 4, 4)])
def test_cl_maxpool_keeps_nan(cl_env, variant, where):
    n, c, h, w, k, s = 1, 5, 7, 9, 3, 2
    x = quantise(_nan_input((n, c, h, w), where).astype(np.float64), variant)
    oh, ow = 3, 4
    out_buf = cl_env.empty(n * blocks(c) * oh * ow * 4 * np.dtype(storage_dtype(variant)).itemsize)
    cl_env.run("pool.cl", variant, "maxpool2d", (ow, oh, n * blocks(c)), cl_env.buffer(to_nc4hw4(x, variant)),
               out_buf, *[np.int32(a) for a in (blocks(c), h, w, oh, ow, k, k, s, s, 0, 0)])
    got = from_nc4hw4(cl_env.read(out_buf, (n, blocks(c), oh, ow, 4), storage_dtype(variant)), c)
    ref = F.max_pool2d(torch.from_numpy(x), k, s, ceil_mode=False)
    _same_nans(got.astype(np.float64), ref.numpy())


@pytest.mark.opencl
@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_cl_linear_keeps_nan(cl_env, act):
    x = _nan_input((1, 8), (0, 3)).astype(np.float64)
    weight = np.random.default_rng(4).standard_normal((3, 8))
    bias = np.full(3, -50.0)
    out_buf = cl_env.empty(3 * 4)
    cl_env.run("linear.cl", "fp32", "linear", (3, 1), cl_env.buffer(x.astype(np.float32)),
               cl_env.buffer(weight.astype(np.float32)), cl_env.buffer(bias.astype(np.float32)), out_buf,
               *[np.int32(a) for a in (8, 3, ACTIVATIONS[act])])
    got = cl_env.read(out_buf, (1, 3), np.float32)
    ref = _torch_act(F.linear(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias)), act)
    _same_nans(got, ref.numpy())


# ------------------------------------------------------------------------------ refused where they enter
@pytest.mark.parametrize("dtype", ["F32", "F16"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weight_is_a_model_error(tmp_path, dtype, bad):
    graph, tensors = mf.tiny()
    tensors["branch_b.weight"].flat[5] = bad  # the CRC is recomputed: a valid file holding a NaN
    path = tmp_path / "m.sq.bin"
    mf.write(path, graph, tensors, dtype=dtype)
    with pytest.raises(facert.ModelError, match=r"weight 'branch_b.weight' holds a non-finite value .* element 5"):
        _core.load_model_info(str(path))


def test_fp16_overflow_to_inf_is_refused(tmp_path):
    graph, tensors = mf.tiny()
    tensors["fc1.bias"][0] = 1e6  # finite in fp32, Inf once stored as fp16
    path = tmp_path / "m.sq.bin"
    with np.errstate(over="ignore"):
        mf.write(path, graph, tensors, dtype="F16")
    with pytest.raises(facert.ModelError, match=r"'fc1.bias' holds a non-finite value \(Inf\)"):
        _core.load_model_info(str(path))


@pytest.mark.parametrize("device", ["cpu", pytest.param("gpu", marks=pytest.mark.opencl)])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_an_input_error(device, bad, tmp_path):
    e = facert.Engine(_plain_model(tmp_path), device=device, cache_dir=str(tmp_path))
    x = np.zeros((2, 3, 13, 11), np.float32)
    x[1, 2, 4, 5] = bad
    with pytest.raises(facert.InputError, match=r"image 1: input holds a non-finite value .* element"):
        e.forward(x)
    x[:] = np.nan  # the all-NaN input that once came back as a finite vector
    with pytest.raises(facert.InputError):
        e.forward(x[:1])


def test_c_api_forward_refuses_nan(tiny_model):
    cffi = pytest.importorskip("cffi")
    from test_c_api import cdef_from_header  # the header as the C API tests read it
    import pathlib
    root = pathlib.Path(facert.__file__).parent
    ffi = cffi.FFI()
    ffi.cdef(cdef_from_header((root / "include/facert/facert.h").read_text()))
    lib = ffi.dlopen(str(next((root / "lib").glob("libfacert*"))))
    out = ffi.new("facert_engine**")
    assert lib.facert_engine_create(str(tiny_model.path).encode(), 1, out) == lib.FACERT_OK
    try:
        x = np.zeros((1, 3, 13, 11), np.float32)
        x[0, 0, 0, 0] = np.nan
        y = np.zeros(6, np.float32)
        status = lib.facert_forward(out[0], ffi.from_buffer("float[]", x), 1, ffi.from_buffer("float[]", y), 6)
        assert status == lib.FACERT_ERR_INPUT
        assert "non-finite" in ffi.string(lib.facert_last_error()).decode()
    finally:
        lib.facert_engine_destroy(out[0])


def _plain_model(tmp_path):
    """conv, pool, fire-style concat, head: every op the OpenCL backend runs (tiny() has a grouped conv)."""
    b = mf.GraphBuilder(np.random.default_rng(0), 13, 11)
    x = b.conv("stem", "input", 6, k=3, stride=2, pad=1)
    x = b.maxpool("pool", x)
    x = b.fire("fire", x, 4, 4)
    x = b.linear("head", b.gap("gap", x), 6)
    path = tmp_path / "plain.sq.bin"
    mf.write(path, b.graph(x, arch="tiny"), b.tensors)
    return str(path)


def _zero_head_model(tmp_path):
    """A head whose ReLU zeroes every output: a valid file whose embedding has no direction."""
    b = mf.GraphBuilder(np.random.default_rng(0), 13, 11)
    x = b.conv("stem", "input", 4, k=3, stride=2)
    x = b.gap("gap", x)
    x = b.linear("head", x, 5, act="relu")
    b.tensors["head.weight"][:] = 0
    b.tensors["head.bias"][:] = -1
    path = tmp_path / "zero.sq.bin"
    mf.write(path, b.graph(x, arch="tiny"), b.tensors)
    return str(path)


@pytest.mark.parametrize("device", ["cpu", pytest.param("gpu", marks=pytest.mark.opencl)])
def test_embed_refuses_an_all_zero_embedding(tmp_path, device):
    e = facert.Engine(_zero_head_model(tmp_path), device=device, cache_dir=str(tmp_path))
    img = np.random.default_rng(0).integers(0, 255, (20, 20, 3), dtype=np.uint8)
    with pytest.raises(facert.InputError, match="all zeros"):
        e.embed(img)
    with pytest.raises(facert.InputError, match="image 0: .*all zeros"):
        e.embed_batch([img, img])
