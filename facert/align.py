"""`facert.align(img, face_or_landmarks5)`: a similarity transform of the face onto a 5-point template.

A Face from the default detector (MTCNN) carries 5 points - the eyes, the nose tip, the mouth corners -
which go onto MTCNN_TEMPLATE, the widely used 112x112 recognition crop: the crop the bundled model was
trained on (facert distill makes its training crops with this function).

Points in dlib's 5-point convention (shape_predictor_5_face_landmarks: in image coordinates, the outer
and inner corner of the eye on the right side of the image, the same for the left side, then the base
of the nose) go onto TEMPLATE: where dlib put them in facert.face_crop's square around a Haar box
(median over 768 crops; spread 0.02-0.03), the crop of models trained on boxes without landmarks.
"""
from __future__ import annotations

import numpy as np

from .detect import Face
from .engine import check_image
from .errors import InputError

TEMPLATE = np.array([
    [0.7589, 0.3571],
    [0.6071, 0.3661],
    [0.2232, 0.3571],
    [0.3750, 0.3661],
    [0.4911, 0.6429],
], dtype=np.float64)

# MTCNN's 5 points (facert.detect(img, detector="mtcnn")): eye on the image's left, eye on its right, nose tip,
# mouth corner left, mouth corner right. Where they sit in the widely used 112x112 recognition crop
# (ArcFace/InsightFace's template, the geometry of the landmark-aligned crops the 97.8% was measured on).
MTCNN_TEMPLATE = np.array([
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
], dtype=np.float64) / 112.0
TEMPLATES = {"dlib": TEMPLATE, "mtcnn": MTCNN_TEMPLATE}


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix of the least-squares similarity (rotation, uniform scale, shift) taking src to dst.

    Umeyama's closed form without reflection: the same model cv2.estimateAffinePartial2D fits.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var_s = (s ** 2).sum() / len(src)
    if var_s <= 0:
        raise InputError("landmarks are all the same point; cannot align")
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1.0
    rot = u @ e @ vt
    scale = (sig * np.diag(e)).sum() / var_s
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def _points_and_template(landmarks5, points):
    if isinstance(landmarks5, Face):
        if landmarks5.landmarks is None:
            raise InputError("this face has no landmarks (its detector gives none); detect with "
                             "facert.detect(img, detector='mtcnn') or pass 5 points")
        if points not in (None, "mtcnn"):
            raise InputError(f"a Face carries MTCNN's points; points={points!r} does not apply")
        return landmarks5.landmarks, MTCNN_TEMPLATE
    points = "dlib" if points is None else points
    if points not in TEMPLATES:
        raise InputError(f"points must be one of {', '.join(TEMPLATES)}; got {points!r}")
    return landmarks5, TEMPLATES[points]


def align_matrix(landmarks5, size: int = 112, points: str | None = None) -> np.ndarray:
    """The 2x3 matrix align() warps with, for an output of size x size pixels."""
    landmarks5, template = _points_and_template(landmarks5, points)
    pts = np.asarray(landmarks5, dtype=np.float64)
    if pts.shape != (5, 2) or not np.all(np.isfinite(pts)):
        raise InputError(f"expected landmarks5 as 5 finite (x, y) points, got shape {pts.shape}")
    return similarity_transform(pts, template * size)


def align(img: np.ndarray, landmarks5, size: int = 112, points: str | None = None) -> np.ndarray:
    """size x size uint8 BGR crop with the landmarks moved onto a template (borders replicated).

    landmarks5: a Face from facert.detect(img, detector="mtcnn") (its landmarks, onto MTCNN_TEMPLATE), or
    5 (x, y) points in the convention `points` names: "dlib" (the default, onto TEMPLATE) or "mtcnn".
    """
    import cv2

    img = check_image(img)
    if size < 1:
        raise InputError(f"size must be >= 1, got {size}")
    m = align_matrix(landmarks5, size, points)
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
