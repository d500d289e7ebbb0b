"""Face verification: `facert.verify(img_a, img_b)` -> VerifyResult(score, same, ...).

Largest face in each photo (facert.detect) -> facert.face_crop at the model's input size ->
engine.embed -> cosine. The threshold is the model file's `verify_threshold` metadata, calibrated
by tools/eval_pairs.py on the LFW View 1 pairs and stored at conversion time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .crop import face_crop
from .detect import Detector, Face, check_bgr_image, detect
from .errors import InputError, ModelError


# Embed the mirror image too (see embed_crop): on LFW View 1 the bundled model gains 2.2 points
# with it (81.3% vs 79.1%, 10-fold) for a second 2 ms forward pass; its threshold is calibrated so.
FLIP = True


class NoFaceError(InputError):
    """The detector found no face in a photo that needs one."""


@dataclass(frozen=True)
class VerifyResult:
    score: float        # cosine similarity of the two embeddings, in [-1, 1]
    same: bool          # score >= threshold
    threshold: float
    face_a: Face
    face_b: Face

    def __bool__(self) -> bool:
        return self.same


_default_engine = None


def default_engine():
    """One shared Engine on the bundled model (loading it once per process)."""
    global _default_engine
    if _default_engine is None:
        from .engine import Engine
        _default_engine = Engine()
    return _default_engine


def model_threshold(engine) -> float:
    """The model's calibrated cosine threshold (`verify_threshold` in its metadata)."""
    meta = engine.info.get("metadata", {})
    if "verify_threshold" not in meta:
        raise ModelError("model file has no verify_threshold metadata (set it with `facert convert "
                         "--meta verify_threshold=...`), or pass threshold= explicitly")
    try:
        return float(meta["verify_threshold"])
    except ValueError:
        raise ModelError(f"model metadata verify_threshold={meta['verify_threshold']!r} is not a number")


def embed_crop(engine, crop: np.ndarray, flip: bool = FLIP) -> np.ndarray:
    """Unit embedding of a face crop; with flip, of the crop and its mirror image together.

    The student trained on mirrored crops too, so both views are in its domain; their mean
    evens out the left/right asymmetry of a Haar box.
    """
    if not flip:
        return engine.embed(crop)
    both = engine.embed_batch(np.stack([crop, np.ascontiguousarray(crop[:, ::-1])]))
    e = both.sum(axis=0)
    return (e / np.linalg.norm(e)).astype(np.float32)


def embed_face(img: np.ndarray, engine=None, detector: Detector | None = None,
               what: str = "photo", flip: bool = FLIP) -> tuple[np.ndarray, Face]:
    """(unit-norm embedding, face box) of the largest face in img; NoFaceError when there is none."""
    engine = engine or default_engine()
    img = check_bgr_image(img)
    faces = detect(img, detector)
    if not faces:
        raise NoFaceError(f"no face found in {what} ({img.shape[1]}x{img.shape[0]} image)")
    size = int(engine.input_shape[1])
    return embed_crop(engine, face_crop(img, faces[0], size=size), flip), faces[0]


def verify(img_a: np.ndarray, img_b: np.ndarray, engine=None, threshold: float | None = None,
           detector: Detector | None = None) -> VerifyResult:
    """Are the largest faces in img_a and img_b the same person?"""
    engine = engine or default_engine()
    if threshold is None:
        threshold = model_threshold(engine)
    emb_a, face_a = embed_face(img_a, engine, detector, "img_a")
    emb_b, face_b = embed_face(img_b, engine, detector, "img_b")
    score = float(np.dot(emb_a, emb_b))
    return VerifyResult(score=score, same=score >= threshold, threshold=float(threshold),
                        face_a=face_a, face_b=face_b)
