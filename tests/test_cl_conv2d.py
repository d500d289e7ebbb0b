"""kernels/conv2d.cl through pyopencl against the NumPy reference, at shapes that hit every tail:
channels not a multiple of 4, odd H/W, stride 2, padding, dilation, a 1x1 image, and writes into a channel
slice of a larger tensor (the fire module's free concat). The depthwise kernel is checked against PyTorch."""
import numpy as np
import pytest

from cl_helpers import (ACTIVATIONS, blocks, cl_env, conv2d_ref, from_nc4hw4, pack_conv_weight, pad_bias,  # noqa: F401
                        quantise, rel_err, storage_dtype, to_nc4hw4, tolerance)

pytestmark = pytest.mark.opencl

# (N, C, H, W, O, kh, kw, stride, pad, dilation, act)
GENERAL_CASES = [
    (1, 3, 17, 19, 10, 3, 3, 2, 0, 1, "relu"),     # SqueezeNet's stem at an odd size
    (2, 5, 7, 9, 7, 3, 3, 1, 1, 1, "none"),        # expand3x3 with tails everywhere
    (1, 13, 6, 5, 6, 3, 3, 2, 1, 1, "relu6"),
    (1, 6, 9, 11, 5, 5, 3, 1, 2, 2, "relu"),       # non-square kernel, dilation
    (3, 4, 1, 1, 9, 3, 3, 1, 1, 1, "relu"),        # 1x1 image: only the centre tap is inside
    (1, 9, 8, 13, 4, 1, 1, 2, 0, 1, "none"),       # 1x1 strided goes through the general kernel
]
# (N, C, H, W, O, act)
POINTWISE_CASES = [
    (1, 5, 7, 9, 7, "relu"),     # hw = 63: a 3-pixel tail; odd out blocks
    (2, 16, 13, 13, 12, "none"),
    (1, 3, 1, 1, 1, "relu"),     # one pixel, one output channel
    (3, 33, 5, 6, 64, "relu6"),
]

# Depthwise (groups = C = O): (N, C, H, W, kh, kw, stride, pad, dilation, act)
DEPTHWISE_CASES = [
    (1, 128, 6, 6, 6, 6, 1, 0, 1, "none"),     # MobileFaceNet's global depthwise conv: the whole 6x6 map -> 1x1
    (2, 37, 7, 5, 7, 5, 1, 0, 1, "none"),      # a 7x5 one on 37 channels (a lane tail), batch 2
    (1, 13, 11, 9, 3, 3, 1, 1, 1, "relu"),     # MobileNet 3x3, stride 1, odd sizes: a 1-column tail
    (2, 21, 15, 17, 3, 3, 2, 1, 1, "relu"),    # stride 2 -> 8x9
    (1, 6, 13, 7, 3, 3, 2, 1, 1, "relu6"),     # stride 2 -> 7x4, relu6
    (1, 9, 9, 11, 3, 3, 1, 2, 2, "none"),      # dilation 2
    (3, 5, 1, 1, 3, 3, 1, 1, 1, "relu"),       # 1x1 image: only the centre tap is inside
]


def _data(rng, n, c, h, w, o, kh, kw, variant):
    x = quantise(rng.standard_normal((n, c, h, w)), variant)
    weight = quantise(rng.standard_normal((o, c, kh, kw)) / np.sqrt(c * kh * kw), variant)
    bias = rng.standard_normal(o).astype(np.float32).astype(np.float64)
    return x, weight, bias


def _run_conv(env, variant, kernel, x, weight, bias, out_h, out_w, out_cb_total, out_cb_offset, extra, gsize):
    o = weight.shape[0]
    n = x.shape[0]
    sentinel = np.full((n, out_cb_total, out_h, out_w, 4), 7.0, storage_dtype(variant))
    out_buf = env.buffer(sentinel)
    args = [env.buffer(to_nc4hw4(x, variant)), env.buffer(pack_conv_weight(weight, variant)),
            env.buffer(pad_bias(bias, o)), out_buf]
    env.run("conv2d.cl", variant, kernel, gsize, *args, *[np.int32(a) for a in extra])
    return env.read(out_buf, sentinel.shape, sentinel.dtype)


@pytest.mark.parametrize("variant", ["fp32", "fp16"])
@pytest.mark.parametrize("case", GENERAL_CASES)
def test_conv2d_general(cl_env, case, variant):
    n, c, h, w, o, kh, kw, s, p, d, act = case
    rng = np.random.default_rng(sum(case[:7]))
    x, weight, bias = _data(rng, n, c, h, w, o, kh, kw, variant)
    ref = conv2d_ref(x, weight, bias, (s, s), (p, p), (d, d), act)
    oh, ow = ref.shape[2:]
    offset, total = 1, blocks(o) + 2  # write into the middle of a wider tensor
    extra = [blocks(c), h, w, blocks(o), oh, ow, total, offset, kh, kw, s, s, p, p, d, d, ACTIVATIONS[act]]
    out = _run_conv(cl_env, variant, "conv2d", x, weight, bias, oh, ow, total, offset, extra,
                    ((ow + 3) // 4, oh, n * ((blocks(o) + 1) // 2)))
    got = from_nc4hw4(out[:, offset:offset + blocks(o)], o)
    assert rel_err(got, ref) <= tolerance(variant)
    _check_slice_contract(out, offset, o)


@pytest.mark.parametrize("variant", ["fp32", "fp16"])
@pytest.mark.parametrize("case", POINTWISE_CASES)
def test_conv2d_1x1(cl_env, case, variant):
    n, c, h, w, o, act = case
    rng = np.random.default_rng(sum(case[:5]))
    x, weight, bias = _data(rng, n, c, h, w, o, 1, 1, variant)
    ref = conv2d_ref(x, weight, bias, (1, 1), (0, 0), (1, 1), act)
    offset, total = 2, blocks(o) + 3
    extra = [blocks(c), h * w, blocks(o), total, offset, ACTIVATIONS[act]]
    out = _run_conv(cl_env, variant, "conv2d_1x1", x, weight, bias, h, w, total, offset, extra,
                    ((h * w + 3) // 4, (blocks(o) + 1) // 2, n))
    got = from_nc4hw4(out[:, offset:offset + blocks(o)], o)
    assert rel_err(got, ref) <= tolerance(variant)
    _check_slice_contract(out, offset, o)


def _torch_depthwise(x, weight, bias, stride, pad, dilation, act):
    """PyTorch's conv2d with groups = channels, in float64: a reference independent of tests/reference.py."""
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    y = f.conv2d(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias), stride=stride,
                 padding=pad, dilation=dilation, groups=x.shape[1])
    y = {"none": y, "relu": f.relu(y), "relu6": f.relu6(y)}[act]
    return y.numpy()


@pytest.mark.parametrize("variant", ["fp32", "fp16"])
@pytest.mark.parametrize("case", DEPTHWISE_CASES)
def test_conv2d_depthwise(cl_env, case, variant):
    n, c, h, w, kh, kw, s, p, d, act = case
    rng = np.random.default_rng(sum(case[:9]))
    x = quantise(rng.standard_normal((n, c, h, w)), variant)
    weight = quantise(rng.standard_normal((c, 1, kh, kw)) / np.sqrt(kh * kw), variant)
    bias = rng.standard_normal(c).astype(np.float32).astype(np.float64)
    ref = _torch_depthwise(x, weight, bias, s, p, d, act)
    oh, ow = ref.shape[2:]
    offset, total = 2, blocks(c) + 3  # write into the middle of a wider tensor
    # [cb][kh][kw][4 lanes], written from the kernel's comment
    packed = np.zeros((blocks(c) * 4, kh, kw))
    packed[:c] = weight[:, 0]
    packed = packed.reshape(blocks(c), 4, kh, kw).transpose(0, 2, 3, 1).astype(storage_dtype(variant)).copy()
    sentinel = np.full((n, total, oh, ow, 4), 7.0, storage_dtype(variant))
    out_buf = cl_env.buffer(sentinel)
    extra = [blocks(c), h, w, oh, ow, total, offset, kh, kw, s, s, p, p, d, d, ACTIVATIONS[act]]
    cl_env.run("conv2d.cl", variant, "conv2d_depthwise", ((ow + 3) // 4, oh, n * blocks(c)),
               cl_env.buffer(to_nc4hw4(x, variant)), cl_env.buffer(packed), cl_env.buffer(pad_bias(bias, c)),
               out_buf, *[np.int32(a) for a in extra])
    out = cl_env.read(out_buf, sentinel.shape, sentinel.dtype)
    got = from_nc4hw4(out[:, offset:offset + blocks(c)], c)
    # fp32: float sums of at most 36 terms against float64 (1e-5 of max|ref|); fp16 storage: the output's own
    # rounding to half (FP16_REL_TOL), inputs and weights being rounded before the reference sees them.
    assert rel_err(got, ref) <= tolerance(variant)
    _check_slice_contract(out, offset, c)


def _check_slice_contract(out, offset, o):
    """Blocks outside the slice are untouched; padded lanes inside it are exactly 0 (later convs rely on it)."""
    outside = np.concatenate([out[:, :offset], out[:, offset + blocks(o):]], axis=1)
    assert np.all(outside == 7.0), "conv wrote outside its channel slice"
    lanes = out[:, offset:offset + blocks(o)].transpose(0, 1, 4, 2, 3).reshape(out.shape[0], -1, *out.shape[2:4])
    assert np.all(lanes[:, o:] == 0), "padded output lanes are not zero"
