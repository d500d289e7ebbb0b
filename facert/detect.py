"""Face detection: `facert.detect(img)` -> list of Face boxes, largest first.

The default detector is MTCNN (facert.mtcnn: box, face probability and 5 landmarks, on facert's own
engine), whose landmarks facert.align turns into the crop the bundled model was trained on. OpenCV's
frontal-face Haar cascade (shipped inside opencv-python 4.x) stays available as detector="haar": no
landmarks, so its faces are embedded from facert.face_crop's square. Detectors share one small
interface (a `.detect(img)` method returning Faces).

Haar scores: the number of raw cascade hits merged into the box (OpenCV's "neighbours"). Measured
with the defaults: real faces in people/ score 27-116; on LFW View 1's 1,549 photos the central face
scores median 59, and 14 of 1,524 (0.9%) score below 10; the six boxes Haar finds on clothing and
background in people/ (hard/obama_partial_face.jpg's shirt among them) score 6-10. MIN_SCORE = 10
drops five of those six (all but a second box on Biden's jacket, 10) and keeps 99.1% of LFW's faces
(tools/haar_scores.py reproduces these figures).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .engine import check_image

MIN_SCORE = 10.0


@dataclass(frozen=True)
class Face:
    """A detected face: box (x, y, w, h) in pixels of the input image, a detector score (its scale
    is the detector's: see HaarDetector), and 5 landmarks when the detector gives them (Haar does not:
    None): (x, y) pairs in MTCNN's order, eyes, nose tip, mouth corners (see facert.mtcnn);
    facert.align(img, face) maps them onto their template."""
    x: int
    y: int
    w: int
    h: int
    score: float
    landmarks: Optional[tuple] = None

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)

    @property
    def area(self) -> int:
        return self.w * self.h


class Detector:
    """Interface: detect(img: HxWx3 uint8 BGR) -> list[Face], largest first."""

    def detect(self, img: np.ndarray) -> list[Face]:
        raise NotImplementedError


class HaarDetector(Detector):
    """OpenCV's haarcascade_frontalface_default; score = neighbours, the number of raw detections
    merged into the box (>= min_neighbors by construction); boxes scoring below min_score are dropped
    (see the module docstring for the measured scale).

    Images larger than max_side are searched at reduced size (boxes are mapped back): the
    cascade's cost grows with the pixel count, while faces in big photos are big too.
    """

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_size_fraction: float = 0.05, max_side: int = 640, min_score: float = MIN_SCORE,
                 cascade: str = "haarcascade_frontalface_default.xml"):
        import cv2
        if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
            raise ImportError("the Haar detector needs opencv-python(-headless) 4.x (5.x dropped the cascades)")
        self._cv2 = cv2
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + cascade)
        if self.cascade.empty():
            raise ImportError(f"OpenCV could not load its bundled cascade {cascade}")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size_fraction = min_size_fraction
        self.max_side = max_side
        self.min_score = min_score

    def detect(self, img: np.ndarray) -> list[Face]:
        cv2 = self._cv2
        img = check_image(img)
        h, w = img.shape[:2]
        shrink = min(1.0, self.max_side / max(h, w))
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        if shrink < 1.0:
            gray = cv2.resize(gray, (max(1, round(w * shrink)), max(1, round(h * shrink))),
                              interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        min_side = max(20, int(min(gray.shape) * self.min_size_fraction))
        if min(gray.shape) < min_side:
            return []
        rects, neighbours = self.cascade.detectMultiScale2(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(min_side, min_side))
        faces = [Face(int(round(x / shrink)), int(round(y / shrink)),
                      int(round(bw / shrink)), int(round(bh / shrink)), float(s))
                 for (x, y, bw, bh), s in zip(np.asarray(rects).reshape(-1, 4),
                                              np.asarray(neighbours).reshape(-1)) if s >= self.min_score]
        return sorted(faces, key=lambda f: (-f.area, -f.score))


_named_detectors: dict = {}
DETECTORS = ("haar", "mtcnn")
DEFAULT_DETECTOR = "mtcnn"


def default_detector() -> Detector:
    return named_detector(DEFAULT_DETECTOR)


def named_detector(name: str) -> Detector:
    """The shared detector called `name`: "haar" (OpenCV's cascade) or "mtcnn" (facert.mtcnn, with landmarks)."""
    if name not in DETECTORS:
        raise ValueError(f"detector must be one of {', '.join(DETECTORS)} or a Detector; got {name!r}")
    if name not in _named_detectors:
        if name == "haar":
            _named_detectors[name] = HaarDetector()
        else:
            from .mtcnn import MIN_SIZE_FRACTION, MTCNNDetector
            # bounded on large frames; a face cut by the frame is partial, not a face to embed
            _named_detectors[name] = MTCNNDetector(min_size_fraction=MIN_SIZE_FRACTION, whole_faces=True)
    return _named_detectors[name]


def detect(img: np.ndarray, detector: Detector | str | None = None, min_score: float | None = None,
           channel_order: str = "bgr") -> list[Face]:
    """Faces in an HxWx3 uint8 BGR image (channel_order="rgb" for RGB), largest first (empty list
    when there is none). min_score: drop faces scoring below it (on top of the detector's own minimum).
    detector: None (the default, MTCNN), "mtcnn" (faces with 5 landmarks), "haar" or a Detector."""
    if isinstance(detector, str):
        detector = named_detector(detector)
    faces = (detector or default_detector()).detect(check_image(img, channel_order=channel_order))
    return faces if min_score is None else [f for f in faces if f.score >= min_score]


def largest_face(img: np.ndarray, detector: Detector | str | None = None) -> Face | None:
    faces = detect(img, detector)
    return faces[0] if faces else None
