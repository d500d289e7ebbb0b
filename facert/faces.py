"""Faces in a photo, each with its embedding: `facert.faces(img)`, and `facert.face_embedding(crop)`,
the one face embedding that facert.verify, the CLI and users share.

face_embedding embeds a face crop and its mirror image and averages them (FACE_EMBEDDING =
"face+mirror"). With the bundled model on LFW View 1 (500 same + 500 different pairs, 10-fold
cross-validated, `facert eval-pairs`): 81.4% ± 2.4 against 78.7% ± 3.6 for the face alone, for a
second forward pass. A model's verify_threshold is calibrated for one
embedding, and its metadata says which (verify_embedding); facert.verify refuses a mismatch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .detect import Detector, Face, detect
from .engine import check_image

FACE_EMBEDDING = "face+mirror"
EMBEDDINGS = ("face+mirror", "face")   # values a model's verify_embedding metadata may take

_default_engine = None


def default_engine():
    """One shared Engine on the bundled model (loading it once per process)."""
    global _default_engine
    if _default_engine is None:
        from .engine import Engine
        _default_engine = Engine()
    return _default_engine


@dataclass(frozen=True, eq=False)
class FaceRecord:
    """One face found in a photo: where, how sure the detector is, and its embedding."""
    face: Face
    embedding: np.ndarray   # (D,) float32, unit norm: face_embedding of the face's crop

    @property
    def box(self) -> tuple:
        return self.face.box

    @property
    def score(self) -> float:
        return self.face.score

    @property
    def landmarks(self) -> Optional[tuple]:
        return self.face.landmarks


def face_embedding(crop: np.ndarray, engine=None, channel_order: str = "bgr") -> np.ndarray:
    """Unit embedding of a face crop (HxWx3 uint8 BGR, or channel_order="rgb"): the crop and its
    mirror image embedded together and averaged. The student trained on mirrored crops too, so both
    views are in its domain; their mean evens out the left/right asymmetry of a detector box."""
    engine = engine or default_engine()
    crop = check_image(crop, "face crop", channel_order)
    both = engine.embed_batch(np.stack([crop, np.ascontiguousarray(crop[:, ::-1])]))
    e = both.sum(axis=0)
    return (e / np.linalg.norm(e)).astype(np.float32)


def face_crop_for(img: np.ndarray, face: Face, engine) -> np.ndarray:
    """The crop the model embeds for this face: aligned on the landmarks when the detector gave
    them (what the bundled model was trained on), else facert.face_crop's square around the box."""
    from .align import align
    from .crop import face_crop

    size = int(engine.input_shape[1])
    if face.landmarks is not None:
        return align(img, face, size)   # the Face's landmarks onto their template (MTCNN's order)
    return face_crop(img, face, size=size)


def faces(img: np.ndarray, engine=None, detector: Detector | str | None = None, min_score: float | None = None,
          channel_order: str = "bgr") -> list[FaceRecord]:
    """Every face in a photo (HxWx3 uint8 BGR, as cv2.imread gives; channel_order="rgb" for RGB),
    largest first, each with box, detector score, landmarks (None when the detector gives none) and
    face_embedding. An empty list when there is no face. min_score: see facert.detect."""
    engine = engine or default_engine()
    img = check_image(img, "photo", channel_order)
    return [FaceRecord(face, face_embedding(face_crop_for(img, face, engine), engine))
            for face in detect(img, detector, min_score)]
