"""Whole network: facert (from a converted checkpoint) against the PyTorch student it came from.

Students are randomly initialised with non-trivial BatchNorm statistics (tests/students.py). The
image path is checked with an independent NumPy preprocess (docs/format.md geometry), not facert's.
Tolerances: fp32 runs the same maths in a different summation order, so the normalised embedding
must match to max abs 1e-5 and cosine 0.99999 (seen: ~1e-7); raw forward outputs are compared
relative to their largest magnitude (1e-5). fp16 weights: cosine >= 0.999 (DESIGN.md).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import facert
from checkpoint_layouts import LAYOUTS
from facert.convert import convert_checkpoint
from graph_reference import preprocess
from students import GDConvSqueezeNet, make_student, randomize, told

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VARIANTS = ["torchvision", "torchvision_bn", "plain_linear", "plain_bn_linear_bn1d", "plain_odd_channels"]
# every input size meets both embedding sizes; 97 gives odd sizes and ceil-mode pool edges
SIZES_DIMS = [(112, 128), (112, 512), (224, 128), (97, 512)]
CASES = [(v, s, d) for v in VARIANTS for s, d in SIZES_DIMS]


def preprocess_reference(img_bgr: np.ndarray, graph_input: dict) -> np.ndarray:
    # the independent NumPy image path of docs/format.md, in float32 for the torch side
    return preprocess(img_bgr, graph_input).astype(np.float32)


# ---- helpers ---------------------------------------------------------------------------------------
def convert(tmp_path, student, index=0, **options):
    layout = LAYOUTS[index % len(LAYOUTS)]   # rotate through the checkpoint layouts as well
    ckpt = tmp_path / "student.pth"
    trust = layout(student, ckpt)
    out = tmp_path / "student.sq.bin"
    convert_checkpoint(ckpt, out, trust_pickle=trust, verify=False, **{**told(student), **options})
    return out


def torch_embed(student, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        y = student(torch.from_numpy(x)).double()
    return torch.nn.functional.normalize(y, dim=1).numpy()


def cosines(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def assert_close_embeddings(actual, reference, max_abs=1e-5, min_cos=0.99999):
    assert np.abs(actual - reference).max() <= max_abs, np.abs(actual - reference).max()
    assert cosines(actual, reference).min() >= min_cos


# ---- tests -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant,size,dim", CASES, ids=[f"{v}-{s}-{d}" for v, s, d in CASES])
def test_forward_and_embed_match_torch(tmp_path, variant, size, dim):
    index = CASES.index((variant, size, dim))
    student = make_student(variant, dim=dim, seed=index)
    engine = facert.Engine(convert(tmp_path, student, index, input_size=size), device="cpu")
    assert engine.dim == dim and engine.input_shape == (3, size, size)

    rng = np.random.default_rng(index)
    x = rng.standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        ref = student(torch.from_numpy(x)).numpy()
    out = engine.forward(x)
    assert out.shape == (2, dim) and out.dtype == np.float32
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    assert cosines(out, ref).min() >= 0.99999

    # an awkward image size, resized by the engine; reference resized by NumPy
    img = rng.integers(0, 256, (size + 37, size - 13, 3), dtype=np.uint8)
    graph_input = facert.load_model_info(engine.path)["input"]
    x_img = preprocess_reference(img, graph_input)[None]
    assert_close_embeddings(engine.embed(img)[None], torch_embed(student, x_img))


@pytest.mark.parametrize("isa", facert._core.ops.isas())
@pytest.mark.parametrize("threads", [1, 2])
def test_every_isa_matches_torch(tmp_path, isa, threads):
    """Each ISA this machine runs (a forced "avx2" on an AVX-512 machine included), through a whole network
    at an odd size (partial GEMM tiles everywhere), batch 3, against PyTorch."""
    student = make_student("torchvision_bn", dim=128, seed=11)
    engine = facert.Engine(convert(tmp_path, student, input_size=97), device="cpu", isa=isa, threads=threads)
    assert engine.info["isa"] == isa
    x = np.random.default_rng(11).standard_normal((3, 3, 97, 97)).astype(np.float32)
    with torch.no_grad():
        ref = student(torch.from_numpy(x)).numpy()
    out = engine.forward(x)
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()


@pytest.mark.parametrize("isa", facert._core.ops.isas())
@pytest.mark.parametrize("size", [112, 97])
def test_gdconv_head_matches_torch(tmp_path, size, isa):
    """A global depthwise conv head (MobileFaceNet's GDConv, its BatchNorm folded) runs as a grouped conv2d
    over the whole last feature map: batch 3, against PyTorch."""
    student = randomize(GDConvSqueezeNet(dim=128, size=size), seed=5)
    engine = facert.Engine(convert(tmp_path, student, input_size=size), device="cpu", isa=isa, threads=2)
    x = np.random.default_rng(5).standard_normal((3, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        ref = student(torch.from_numpy(x)).numpy()
    out = engine.forward(x)
    assert out.shape == (3, 128)
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    assert cosines(out, ref).min() >= 0.99999


def _photos():
    people = sorted(p for p in (DATA / "people").rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    utk = sorted((DATA / "utkface_part1").glob("*.jpg"))[::1500]   # 7 crops spread over the folder
    return people + utk


@pytest.mark.parametrize("variant,size", [("torchvision_bn", 112), ("plain_bn_linear_bn1d", 97)])
def test_real_photos_match_torch(tmp_path, variant, size):
    photos = _photos()
    assert len(photos) >= 20, f"expected the shared photos under {DATA}"
    student = make_student(variant, dim=128, seed=3)
    engine = facert.Engine(convert(tmp_path, student, input_size=size), device="cpu")
    graph_input = facert.load_model_info(engine.path)["input"]
    images = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in photos]
    assert all(im is not None for im in images)
    refs = np.stack([preprocess_reference(im, graph_input) for im in images])
    # the engine's own preprocess agrees with the NumPy one. Like OpenCV, the engine keeps source
    # coordinates as float32: up to 6.1e-5 px off for x in 1024..2048 (1080p photos), times a 255-level
    # edge = 0.016 grey levels = 2.7e-4 after (v/255 - mean)/0.224. Seen: 1.1e-4.
    for im, ref in zip(images, refs):
        np.testing.assert_allclose(engine.preprocess(im), ref, atol=3e-4)
    actual = np.stack([engine.embed(im) for im in images])
    assert_close_embeddings(actual, torch_embed(student, refs))
    np.testing.assert_allclose(engine.embed_batch(images), actual, atol=1e-6)


def test_bgr_order_and_custom_normalisation(tmp_path):
    student = make_student("plain_linear", dim=128, seed=5)
    out = convert(tmp_path, student, channel_order="BGR", mean=[127.5], std=[128.0], scale=1.0,
                  input_size=(120, 100))
    engine = facert.Engine(out, device="cpu")
    graph_input = facert.load_model_info(out)["input"]
    assert graph_input["channel_order"] == "BGR" and list(graph_input["shape"]) == [3, 120, 100]
    img = cv2.imread(str(DATA / "people" / "joe_biden" / "1.jpg"), cv2.IMREAD_COLOR)
    reference = torch_embed(student, preprocess_reference(img, graph_input)[None])
    assert_close_embeddings(engine.embed(img)[None], reference)


def test_fp16_weights_stay_close(tmp_path):
    student = make_student("torchvision_bn", dim=128, seed=7)
    engine = facert.Engine(convert(tmp_path, student, fp16=True), device="cpu")
    x = np.random.default_rng(7).standard_normal((3, 3, 112, 112)).astype(np.float32)
    reference = torch_embed(student, x)
    assert cosines(engine.forward(x), reference).min() >= 0.999
