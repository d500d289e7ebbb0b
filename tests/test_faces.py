"""facert.faces / facert.face_embedding, the model's threshold metadata, channel order, and the
argument checks that used to accept options and ignore them."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import facert
import model_factory as mf
from facert.faces import FACE_EMBEDDING
from facert.verify import NoFaceError, embed_face, model_threshold

cv2 = pytest.importorskip("cv2")

from photos import read_photo  # noqa: E402


@pytest.fixture(scope="module")
def engine():
    return facert.Engine(threads=1)


# ------------------------------------------------------------------------------------ faces()

def test_faces_gives_box_score_landmarks_and_the_shared_embedding(engine):
    img = read_photo("groups/two_people.jpg")
    found = facert.faces(img, engine)
    assert len(found) == 2 and found[0].face.area >= found[1].face.area
    for rec in found:
        assert rec.box == rec.face.box and 0.7 <= rec.score <= 1.0   # MTCNN: O-Net's face probability
        assert len(rec.landmarks) == 5   # the default detector's 5 points: the crop is aligned on them
        assert rec.embedding.shape == (128,) and abs(np.linalg.norm(rec.embedding) - 1) < 1e-5
        crop = facert.align(img, rec.face)
        np.testing.assert_allclose(rec.embedding, facert.face_embedding(crop, engine), atol=1e-6)
    assert facert.faces(np.full((120, 160, 3), 90, np.uint8), engine) == []


def test_faces_aligns_on_landmarks_when_the_detector_gives_them(engine):
    img = read_photo("barack_obama/2.jpg")
    box = facert.detect(img)[0]
    from facert.align import MTCNN_TEMPLATE    # Face.landmarks are in MTCNN's order (facert.mtcnn)
    points = tuple(map(tuple, np.array([box.x, box.y]) + MTCNN_TEMPLATE * box.w))

    class WithLandmarks(facert.Detector):
        def detect(self, image):
            return [facert.Face(box.x, box.y, box.w, box.h, 50.0, points)]

    rec = facert.faces(img, engine, detector=WithLandmarks())[0]
    assert rec.landmarks == points
    want = facert.face_embedding(facert.align(img, points, 112, points="mtcnn"), engine)
    np.testing.assert_allclose(rec.embedding, want, atol=1e-6)


def test_one_embedding_for_one_face(engine):
    # before: verify averaged face + mirror while engine.embed did not (0.613 vs 0.765 on one pair)
    img = read_photo("barack_obama/2.jpg")
    emb, face = embed_face(img, engine)
    rec = facert.faces(img, engine)[0]
    np.testing.assert_allclose(emb, rec.embedding, atol=1e-6)
    crop = facert.align(img, face)
    both = engine.embed_batch([crop, crop[:, ::-1].copy()]).sum(0)
    np.testing.assert_allclose(rec.embedding, both / np.linalg.norm(both), atol=1e-6)


# ------------------------------------------------------------------------ threshold metadata

def _with_metadata(tmp_path, updates):
    from facert.convert.writer import update_metadata
    from facert.engine import DEFAULT_MODEL

    out = tmp_path / "m.sq.bin"
    update_metadata(DEFAULT_MODEL, updates, out)
    return facert.Engine(out, threads=1)


def test_bundled_threshold_says_its_embedding(engine):
    assert engine.info["metadata"]["verify_embedding"] == FACE_EMBEDDING == "face+mirror"
    assert 0 < model_threshold(engine) < 1


@pytest.mark.parametrize("updates,match", [
    ({"verify_embedding": "face"}, "calibrated for the 'face' embedding"),
    ({"verify_embedding": None}, "does not say which embedding"),
    ({"verify_threshold": None}, "no verify_threshold.*--threshold.*--meta verify_threshold="),
    ({"verify_threshold": "7"}, r"not a cosine in \[-1, 1\]"),
])
def test_verify_refuses_a_threshold_for_another_embedding(tmp_path, updates, match):
    e = _with_metadata(tmp_path, updates)
    with pytest.raises(facert.ModelError, match=match):
        facert.verify(read_photo("joe_biden/1.jpg"), read_photo("joe_biden/2.jpg"), engine=e)
    assert facert.verify(read_photo("joe_biden/1.jpg"), read_photo("joe_biden/2.jpg"), engine=e, threshold=0.5).score > 0


def test_update_metadata_keeps_the_weights(tmp_path):
    from facert.engine import DEFAULT_MODEL

    e = _with_metadata(tmp_path, {"note": "x"})
    original = DEFAULT_MODEL.read_bytes()
    rewritten = (tmp_path / "m.sq.bin").read_bytes()
    tail = len(original) - 8 - int.from_bytes(original[:8], "little")
    assert rewritten[-tail:] == original[-tail:] and e.info["metadata"]["note"] == "x"


# ------------------------------------------------------------------ partial faces, Haar scores

@pytest.mark.parametrize("rel", ["hard/obama_partial_face.jpg", "hard/obama_partial_face2.jpg"])
def test_partial_face_is_no_face_not_a_background_box(engine, rel):
    # Haar once answered "different people" from a box on the shirt; MTCNN finds the half face at the
    # border with landmarks extrapolated outside the photo, which the shared detector leaves out.
    from facert.mtcnn import MTCNNDetector
    img = read_photo(rel)
    cut = MTCNNDetector().detect(img)
    assert cut and any(not (0 <= x < img.shape[1] and 0 <= y < img.shape[0]) for x, y in cut[0].landmarks)
    assert MTCNNDetector(whole_faces=True).detect(img) == [] and facert.detect(img) == []
    with pytest.raises(NoFaceError, match="no face found"):
        facert.verify(read_photo("barack_obama/2.jpg"), img, engine=engine)


def test_min_score_option_and_scale():
    from facert.detect import MIN_SCORE, HaarDetector

    img = read_photo("barack_obama/1.jpg")
    permissive = HaarDetector(min_score=0).detect(img)
    assert len(permissive) == 2 and min(f.score for f in permissive) < MIN_SCORE   # the shirt box
    assert [f.box for f in facert.detect(img, detector="haar")] == [permissive[0].box]
    assert permissive[0].score >= 27   # real faces in people/ score 27..116 neighbours
    assert facert.detect(img, detector="haar", min_score=1000) == []
    assert facert.detect(img, min_score=1.01) == []   # MTCNN's scores are probabilities


# ---------------------------------------------------------------------- images: order and None

def test_channel_order_rgb_is_the_same_as_bgr_reversed(engine):
    bgr = read_photo("joe_biden/1.jpg")
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    crop = facert.face_crop(bgr, facert.detect(bgr)[0], size=112)
    np.testing.assert_array_equal(engine.embed(crop), engine.embed(crop[..., ::-1].copy(), channel_order="rgb"))
    np.testing.assert_array_equal(engine.embed_batch([crop]), engine.embed_batch(crop[None, ..., ::-1].copy(),
                                                                                  channel_order="rgb"))
    np.testing.assert_array_equal(engine.preprocess(crop), engine.preprocess(crop[..., ::-1], channel_order="rgb"))
    np.testing.assert_array_equal(facert.face_embedding(crop, engine),
                                  facert.face_embedding(crop[..., ::-1], engine, channel_order="rgb"))
    assert [f.box for f in facert.detect(rgb, channel_order="rgb")] == [f.box for f in facert.detect(bgr)]
    a = facert.faces(rgb, engine, channel_order="rgb")[0].embedding
    np.testing.assert_array_equal(a, facert.faces(bgr, engine)[0].embedding)
    r = facert.verify(rgb, rgb, engine=engine, channel_order="rgb")
    assert r.score == pytest.approx(1.0, abs=1e-5)
    # the wrong order is not detectable, but it does change the answer: that is why it is explicit
    assert not np.allclose(engine.embed(crop), engine.embed(crop, channel_order="rgb"))
    with pytest.raises(ValueError, match="channel_order must be 'bgr' or 'rgb'"):
        engine.embed(crop, channel_order="RGBA")


@pytest.mark.parametrize("call", [
    lambda e: e.embed(None), lambda e: e.embed_batch([None]), lambda e: facert.faces(None, e),
    lambda e: facert.detect(None), lambda e: facert.verify(None, None, engine=e),
    lambda e: facert.face_embedding(None, e),
])
def test_none_image_says_imread_failed(engine, call):
    with pytest.raises(facert.InputError, match="is None: cv2.imread returns None"):
        call(engine)


# ------------------------------------------------------------- options accepted and ignored

def test_threads_above_the_cores_are_capped_with_a_warning(tmp_path):
    graph, tensors = mf.tiny(seed=1)
    mf.write(tmp_path / "t.sq.bin", graph, tensors)
    cores = len(os.sched_getaffinity(0))
    with pytest.warns(UserWarning, match=f"threads=1000 is more than the {cores} cores"):
        e = facert.Engine(tmp_path / "t.sq.bin", device="cpu", threads=1000)
    assert e.info["threads"] == cores
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert facert.Engine(tmp_path / "t.sq.bin", device="cpu", threads=cores).info["threads"] == cores


def test_fp16_on_auto_that_lands_on_the_cpu_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("FACERT_OPENCL_LIBRARY", str(tmp_path / "no-such-libOpenCL.so"))
    graph, tensors = mf.tiny(seed=1)
    mf.write(tmp_path / "t.sq.bin", graph, tensors)
    with pytest.warns(UserWarning, match="precision 'fp16' was requested.*computes in fp32"):
        e = facert.Engine(tmp_path / "t.sq.bin", device="auto", precision="fp16")
    assert e.device == "cpu" and e.info["precision"] == "fp32"
    assert e.info["precision_requested"] == "fp16" and "fp32" in e.info["precision_note"]
