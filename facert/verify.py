"""Face verification: `facert.verify(img_a, img_b)` -> VerifyResult(score, same, ...).

Largest face in each photo (facert.detect) -> its crop -> facert.face_embedding -> cosine. The
threshold is the model file's `verify_threshold` metadata, calibrated by tools/eval_pairs.py on the
LFW View 1 pairs for the embedding named by its `verify_embedding` metadata, which must be the one
facert.face_embedding makes (FACE_EMBEDDING).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .detect import Detector, Face, detect
from .engine import check_image
from .errors import InputError, ModelError
from .faces import EMBEDDINGS, FACE_EMBEDDING, default_engine, face_crop_for, face_embedding


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


def check_threshold(value) -> float:
    """A cosine threshold: a finite number in [-1, 1], else ValueError."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number in [-1, 1], got {value!r}") from None
    if not (math.isfinite(t) and -1.0 <= t <= 1.0):
        raise ValueError(f"threshold must be a cosine similarity in [-1, 1], got {value!r}")
    return t


def model_threshold(engine) -> float:
    """The model's calibrated cosine threshold (`verify_threshold` in its metadata), checked to
    belong to the embedding facert.face_embedding makes (`verify_embedding`)."""
    meta = engine.info.get("metadata", {})
    where = f"model file {engine.path}" if getattr(engine, "path", None) else "the model file"
    if "verify_threshold" not in meta:
        raise ModelError(f"{where} has no verify_threshold metadata: pass a threshold (--threshold in the "
                         f"CLI, threshold= in Python), or calibrate one with `facert eval-pairs` and convert "
                         f"with `--meta verify_threshold=T --meta verify_embedding={FACE_EMBEDDING}`")
    try:
        threshold = check_threshold(meta["verify_threshold"])
    except ValueError:
        raise ModelError(f"{where}: verify_threshold={meta['verify_threshold']!r} is not a cosine in [-1, 1]")
    embedding = meta.get("verify_embedding")
    if embedding != FACE_EMBEDDING:
        said = (f"was calibrated for the {embedding!r} embedding" if embedding in EMBEDDINGS
                else "does not say which embedding it was calibrated for" if embedding is None
                else f"names an unknown embedding {embedding!r}")
        raise ModelError(f"{where}: its verify_threshold {said}, and facert.verify compares "
                         f"{FACE_EMBEDDING!r} embeddings (facert.face_embedding): re-calibrate with "
                         f"`facert eval-pairs` and convert with --meta verify_embedding={FACE_EMBEDDING}, "
                         f"or pass a threshold")
    return threshold


def embed_face(img: np.ndarray, engine=None, detector: Detector | None = None,
               what: str = "photo", channel_order: str = "bgr") -> tuple[np.ndarray, Face]:
    """(face_embedding, face box) of the largest face in img; NoFaceError when there is none."""
    engine = engine or default_engine()
    img = check_image(img, what, channel_order)
    found = detect(img, detector)
    if not found:
        raise NoFaceError(f"no face found in {what} ({img.shape[1]}x{img.shape[0]} image)")
    return face_embedding(face_crop_for(img, found[0], engine), engine), found[0]


def verify(img_a: np.ndarray, img_b: np.ndarray, engine=None, threshold: float | None = None,
           detector: Detector | None = None, channel_order: str = "bgr",
           names: tuple = ("img_a", "img_b")) -> VerifyResult:
    """Are the largest faces in img_a and img_b (HxWx3 uint8 BGR, or channel_order="rgb") the same person?
    names: what errors call the two images (e.g. their file names)."""
    engine = engine or default_engine()
    threshold = model_threshold(engine) if threshold is None else check_threshold(threshold)
    emb_a, face_a = embed_face(img_a, engine, detector, str(names[0]), channel_order)
    emb_b, face_b = embed_face(img_b, engine, detector, str(names[1]), channel_order)
    score = float(np.dot(emb_a, emb_b))
    return VerifyResult(score=score, same=score >= threshold, threshold=float(threshold),
                        face_a=face_a, face_b=face_b)
