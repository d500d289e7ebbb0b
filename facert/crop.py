"""The face crop for a face without landmarks (detector="haar"): a square around the box, with margin.

Faces with landmarks (the default detector's) are aligned instead (facert.align), which is what the
bundled model was trained on; this square is the fallback for boxes alone.
"""
from __future__ import annotations

import numpy as np

from .detect import Face
from .engine import check_image

# Haar boxes run from the brows to the chin. 10% more on each side takes in forehead and jaw.
DEFAULT_MARGIN = 0.1


def crop_box(face: Face, margin: float = DEFAULT_MARGIN) -> tuple[int, int, int]:
    """(x0, y0, side) of the square crop: centred on the box, side = max(w, h) * (1 + 2 * margin)."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    side = max(1, int(round(max(face.w, face.h) * (1.0 + 2.0 * margin))))
    cx = face.x + face.w / 2.0
    cy = face.y + face.h / 2.0
    return int(round(cx - side / 2.0)), int(round(cy - side / 2.0)), side


def face_crop(img: np.ndarray, face: Face, margin: float = DEFAULT_MARGIN,
              size: int | None = None) -> np.ndarray:
    """The square crop (uint8 BGR) around face; parts outside the image repeat the border pixels.

    size: when given, the crop is resized to size x size (INTER_AREA when shrinking, so a face in a
    1080p photo is not aliased; INTER_LINEAR when enlarging).
    """
    import cv2

    img = check_image(img)
    h, w = img.shape[:2]
    x0, y0, side = crop_box(face, margin)
    # Pad only as far as the square leaves the image: replicate keeps skin/hair statistics at edges.
    top, left = max(0, -y0), max(0, -x0)
    bottom, right = max(0, y0 + side - h), max(0, x0 + side - w)
    inner = img[max(0, y0):min(h, y0 + side), max(0, x0):min(w, x0 + side)]
    if inner.size == 0:
        raise ValueError(f"face box {face.box} lies outside the {w}x{h} image")
    crop = cv2.copyMakeBorder(inner, top, bottom, left, right, cv2.BORDER_REPLICATE) \
        if (top or bottom or left or right) else np.ascontiguousarray(inner)
    if size is not None and crop.shape[0] != size:
        interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (size, size), interpolation=interp)
    return crop


def whole_image_face(img: np.ndarray) -> Face:
    """The whole image as a face box (for inputs that are already face crops)."""
    h, w = img.shape[:2]
    return Face(0, 0, w, h, 0.0)
