"""eval-pairs' student path: the detector it is given decides the crop (MTCNN: aligned on its landmarks)."""
from __future__ import annotations

import numpy as np
import pytest

import facert
from facert.distill.pairs import NO_FACE_SCORE, roc_auc, student_embeddings
from facert.faces import face_crop_for, face_embedding
from photos import DATA

cv2 = pytest.importorskip("cv2")

LFW = DATA / "lfw_devtest"
PHOTOS = [LFW / "AJ_Lamas" / "AJ_Lamas_0001.jpg", LFW / "Gerry_Adams" / "Gerry_Adams_0003.jpg"]


@pytest.mark.parametrize("detector", ["haar", "mtcnn"])
def test_student_embeddings_use_the_detector_given(detector):
    engine = facert.Engine(threads=1)
    plain, flipped, timing = student_embeddings(PHOTOS, engine, detector)
    for p in PHOTOS:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        face = facert.detect(img, detector)[0]
        assert (face.landmarks is not None) == (detector == "mtcnn")
        crop = face_crop_for(img, face, engine)
        np.testing.assert_allclose(flipped[p], face_embedding(crop, engine), rtol=0, atol=1e-6)
        np.testing.assert_allclose(plain[p], engine.embed(crop), rtol=0, atol=1e-6)
    assert timing["detect_ms"] > 0


def test_roc_auc_is_the_share_of_same_pairs_above_different_ones():
    """Against its definition, counted pair by pair: ties count half, an undetected face ranks lowest."""
    rng = np.random.default_rng(3)
    for n in (2, 7, 500):
        scores = np.round(rng.standard_normal(n), 1)        # rounded: many ties
        scores[rng.random(n) < 0.05] = NO_FACE_SCORE
        same = rng.random(n) < 0.3
        same[:2] = [True, False]
        pos, neg = scores[same][:, None], scores[~same][None, :]
        want = float(np.mean((pos > neg) + 0.5 * (pos == neg)))
        assert abs(roc_auc(scores, same) - want) < 1e-12
    assert roc_auc(np.array([0.9, 0.1]), np.array([True, False])) == 1.0
    assert roc_auc(np.array([0.1, 0.9]), np.array([True, False])) == 0.0
    assert np.isnan(roc_auc(np.array([0.1, 0.9]), np.array([True, True])))
