"""Engine.preprocess (cpp/src/engine/preprocess.cpp) against an independent NumPy bilinear reference
(tests/graph_reference.py, float64) and against OpenCV's cv2.resize INTER_LINEAR."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import facert
import graph_reference as gr

cv2 = pytest.importorskip("cv2")

# float32 arithmetic on values up to 255 before normalisation: a few 1e-5 after it
TIGHT = 1e-4
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def unnormalise(x: np.ndarray, spec: dict) -> np.ndarray:
    """CHW normalised tensor -> HxWx3 pixel values in BGR order, for comparing with cv2 output."""
    std = np.asarray(spec["std"])[:, None, None]
    mean = np.asarray(spec["mean"])[:, None, None]
    v = ((x * std + mean) / spec["scale"]).transpose(1, 2, 0)
    return v[:, :, ::-1] if spec["channel_order"] == "RGB" else v


@pytest.fixture(scope="module")
def engine(tiny_model):
    return facert.Engine(tiny_model.path, threads=2)


@pytest.mark.parametrize("h, w", [(13, 11), (26, 22), (1, 1), (1, 40), (40, 1), (7, 5), (100, 3), (250, 250),
                                  (12, 12), (14, 10)])
def test_matches_numpy_reference(engine, tiny_model, h, w):
    img = np.random.default_rng(h * 1000 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    got = engine.preprocess(img)
    assert got.shape == (3, 13, 11) and got.dtype == np.float32
    want = gr.preprocess(img, tiny_model.graph["input"])
    assert np.abs(got - want).max() <= TIGHT


@FUZZ
@given(h=st.integers(1, 90), w=st.integers(1, 90), seed=st.integers(0, 2**32 - 1))
def test_matches_numpy_reference_at_random_sizes(engine, tiny_model, h, w, seed):
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    assert np.abs(engine.preprocess(img) - gr.preprocess(img, tiny_model.graph["input"])).max() <= TIGHT


def test_same_size_is_a_pure_normalisation(engine, tiny_model):
    img = np.random.default_rng(5).integers(0, 256, (13, 11, 3), dtype=np.uint8)
    spec = tiny_model.graph["input"]
    want = (img[:, :, ::-1].astype(np.float64) / 255 - 0.5) / 0.5  # RGB, scale 1/255, mean = std = 0.5
    assert np.abs(engine.preprocess(img) - want.transpose(2, 0, 1)).max() <= TIGHT
    assert spec["channel_order"] == "RGB"


def test_channel_order_from_the_file(tiny_model, tiny_bgr_model):
    img = np.random.default_rng(6).integers(0, 256, (30, 20, 3), dtype=np.uint8)
    rgb = facert.Engine(tiny_model.path).preprocess(img)
    bgr = facert.Engine(tiny_bgr_model.path).preprocess(img)
    assert np.array_equal(rgb, bgr[::-1])
    assert not np.array_equal(rgb, bgr)


@pytest.mark.parametrize("h, w", [(250, 250), (37, 91), (13, 11), (6, 5), (200, 200), (26, 22)])
def test_within_a_level_of_cv2_resize(engine, tiny_model, h, w):
    img = np.random.default_rng(h + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    spec = tiny_model.graph["input"]
    got = unnormalise(engine.preprocess(img).astype(np.float64), spec)
    # cv2 rounds to uint8 in fixed point (11-bit weights): within one level, never more
    ref_u8 = cv2.resize(img, (11, 13), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    assert np.abs(got - ref_u8).max() <= 1.01
    # on float input cv2 does no rounding: then it is the same computation
    ref_f32 = cv2.resize(img.astype(np.float32), (11, 13), interpolation=cv2.INTER_LINEAR)
    assert np.abs(got - ref_f32).max() <= 2e-3


def test_real_photos_against_cv2_and_reference(engine, tiny_model, data_dir):
    photos = sorted((data_dir / "people" / "resolutions").glob("*"))[:4] + sorted(
        (data_dir / "utkface_part1").glob("*.jpg"))[:3]
    assert len(photos) >= 5
    spec = tiny_model.graph["input"]
    for p in photos:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        assert img is not None, p
        got = engine.preprocess(img)
        assert np.abs(got - gr.preprocess(img, spec)).max() <= TIGHT
        ref = cv2.resize(img, (11, 13), interpolation=cv2.INTER_LINEAR).astype(np.float64)
        assert np.abs(unnormalise(got.astype(np.float64), spec) - ref).max() <= 1.01


def test_non_contiguous_images_are_accepted(engine):
    img = np.random.default_rng(7).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    view = img[::2, ::-1]  # strided and reversed
    assert not view.flags.c_contiguous
    assert np.array_equal(engine.preprocess(view), engine.preprocess(np.ascontiguousarray(view)))
    # a BGR view taken out of a 4-channel buffer: channel stride 1, pixel stride 4
    bgra = np.random.default_rng(8).integers(0, 256, (20, 30, 4), dtype=np.uint8)
    assert np.array_equal(engine.preprocess(bgra[:, :, :3]), engine.preprocess(bgra[:, :, :3].copy()))


def test_preprocess_is_what_embed_feeds_the_network(tiny_model):
    e = facert.Engine(tiny_model.path)
    img = np.random.default_rng(9).integers(0, 256, (50, 31, 3), dtype=np.uint8)
    raw = e.forward(e.preprocess(img)[None])[0]
    assert np.allclose(e.embed(img), raw / np.linalg.norm(raw), rtol=0, atol=1e-6)
