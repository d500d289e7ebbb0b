"""The real photos in ../shared/data (never copied into the repository), read as OpenCV reads them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PEOPLE = DATA / "people"


def read_photo(rel: str) -> np.ndarray:
    """people/<rel> as an HxWx3 uint8 BGR array; a missing photo fails the test that asked for it."""
    import cv2
    img = cv2.imread(str(PEOPLE / rel), cv2.IMREAD_COLOR)
    assert img is not None, f"missing test photo {rel}"
    return img
