"""eval-pairs' student path: the detector it is given decides the crop (MTCNN: aligned on its landmarks)."""
from __future__ import annotations

import numpy as np
import pytest

import facert
from facert.distill.pairs import student_embeddings
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
