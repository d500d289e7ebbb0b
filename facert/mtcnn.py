"""MTCNN face detection with 5 landmarks (Zhang et al. 2016), on facert's model files.

The cascade follows facenet-pytorch 2.6.0's detect_face step for step (the reference the tests compare
with): an image pyramid (smallest face min_size px, scale factor 0.709), P-Net proposals on every scale with
NMS per scale (IoU 0.5) and across scales (0.7), box regression, squared boxes; R-Net on 24x24 crops
(threshold, NMS 0.7, regression); O-Net on 48x48 crops (threshold, landmarks, regression, NMS by the
smaller box's area 0.7). Resampling is PyTorch's "area" interpolation (adaptive average pooling): crops
are the box clipped to the image and stretched, as facenet-pytorch does.

Landmarks, in image coordinates: the eye on the image's left, the eye on the image's right, the nose tip,
the mouth corner on the image's left, the one on the right (MTCNN's order; for a frontal face the first is
the person's right eye). facert.align(img, face) maps them onto the 112x112 template.

The nets (facert/models/mtcnn_{pnet,rnet,onet}.sq.bin, converted from facenet-pytorch's MIT weights by
facert.convert.mtcnn) run on facert's engine (backend="engine": CPU, or OpenCL with device="gpu"),
P-Net once per pyramid size through Engine(input_size=...), or on the NumPy reference path
(backend="numpy", facert.numpy_net).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import numpy as np

from . import _core
from .detect import Detector, Face
from .engine import check_image

MODELS = Path(__file__).resolve().parent / "models"
BACKENDS = ("engine", "numpy")
MIN_SIZE_FRACTION = 0.1   # the shared detector's (facert.detect(img, detector="mtcnn")); see MTCNNDetector


class AreaResizer:
    """Resizes of one HxWxC image, or of boxes in it, as torch.nn.functional.interpolate(mode="area")
    computes them: float32, channel-first, channels in reverse order when reverse=True (BGR in, RGB out).

    Each output pixel is the plain mean of an integer window, so one integral image gives every resize
    (the pyramid's, and each R-Net/O-Net crop's without cropping): facert._core.ops.area_resize_boxes reads
    it. For uint8 input the window sums are integers, exact (cv2.integral, int32 while 255 * H * W fits), so
    the mean is rounded once, to float32.
    """

    def __init__(self, img: np.ndarray, reverse: bool = False):
        img = np.asarray(img)
        h, w = img.shape[:2]
        img = np.ascontiguousarray(img.reshape(h, w, -1))
        if img.dtype == np.uint8:
            import cv2
            depth = cv2.CV_32S if 255 * h * w < 2 ** 31 else cv2.CV_64F
            self.sums = cv2.integral(img, sdepth=depth).reshape(h + 1, w + 1, -1)
        else:
            self.sums = np.zeros((h + 1, w + 1, img.shape[2]))
            np.cumsum(img, axis=0, out=self.sums[1:, 1:])
            np.cumsum(self.sums[1:, 1:], axis=1, out=self.sums[1:, 1:])
        self.exact = img.dtype == np.uint8
        self.height, self.width, self.reverse = h, w, reverse

    def __call__(self, height: int, width: int) -> np.ndarray:
        """The whole image resized: (C, height, width)."""
        return self.boxes([0], [0], [self.width], [self.height], height, width)[0]

    def boxes(self, x0, y0, x1, y1, height: int, width: int | None = None) -> np.ndarray:
        """Boxes [y0, y1) x [x0, x1) (integer (N,) arrays, inside the image) each resized to height x width
        (square when width is None): (N, C, height, width), what the area resize of each cropped box gives."""
        boxes = np.stack([np.asarray(v, dtype=np.int64).reshape(-1) for v in (x0, y0, x1, y1)], axis=1)
        return _core.ops.area_resize_boxes(self.sums, boxes, int(height), int(height if width is None else width),
                                           self.reverse, self.exact)


def area_resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """HxWxC -> (height, width, C) float32 as torch.nn.functional.interpolate(mode="area") computes it."""
    return AreaResizer(img)(height, width).transpose(1, 2, 0)


def _normalise(chw: np.ndarray) -> np.ndarray:
    return (chw - 127.5) * 0.0078125


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices kept by greedy NMS, highest score first (facert._core.ops.nms).

    "union": IoU with areas (x2 - x1) * (y2 - y1), suppress IoU > threshold (torchvision.ops.nms);
    "min": intersection over the smaller area with the +1 pixel convention, suppress > threshold
    (facenet-pytorch's O-Net stage). A pair whose overlap is not a number (empty boxes) counts as overlapping,
    as in torchvision's loop.
    """
    return _core.ops.nms(np.asarray(boxes)[:, :4], np.asarray(scores), float(threshold), method)


def _square(boxes: np.ndarray) -> np.ndarray:
    """rerec: each box grown to a square of side max(w, h) about its centre (no +1 here)."""
    boxes = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    boxes[:, 0] += w * 0.5 - side * 0.5
    boxes[:, 1] += h * 0.5 - side * 0.5
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """bbreg: shift each edge by reg times the box's side, sides counted with +1."""
    boxes = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] += reg[:, :4] * np.stack([w, h, w, h], axis=1)
    return boxes


def _crops(resize: AreaResizer, boxes: np.ndarray, side: int) -> tuple:
    """(N, 3, side, side) normalised crops of the boxes clipped to the image, and which boxes gave one."""
    h, w = resize.height, resize.width
    b = np.trunc(boxes[:, :4]).astype(np.int64)
    x0, y0 = np.maximum(b[:, 0], 1) - 1, np.maximum(b[:, 1], 1) - 1
    x1, y1 = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    ok = (x1 > x0) & (y1 > y0)
    return _normalise(resize.boxes(x0[ok], y0[ok], x1[ok], y1[ok], side)), ok


class MTCNNDetector(Detector):
    """MTCNN: faces with a box, the O-Net face probability as score, and 5 landmarks.

    min_size: the smallest face side searched for, in pixels (a smaller value adds pyramid levels).
    min_size_fraction: skip the pyramid levels for faces smaller than this fraction of the image's short
        side (see scales). 0 (the default here): every level, facenet-pytorch's pyramid. The pyramid's and
        P-Net's cost grow with (short side / smallest face)**2, so facert.detect(img, detector="mtcnn")
        uses MIN_SIZE_FRACTION (0.1): a 640x480 frame is searched for faces from 40 px, and images with a
        short side up to 282 px (20 / 0.709 / 0.1) keep every level.
    whole_faces: return only faces whose 5 landmarks all lie inside the image. MTCNN extrapolates the
        landmarks of a face cut by the frame (people/hard/: half a face at the border, score 1.0, two
        points outside the photo); aligning on them fills the crop with replicated border, so the
        shared detector (facert.detect's default) calls such a face partial and leaves it out.
    thresholds: face-probability thresholds of P-Net, R-Net and O-Net.
    backend: "engine" (facert.Engine) or "numpy" (facert.numpy_net, the reference path).
    device, threads, precision: for backend="engine", as facert.Engine takes them ("gpu": all three nets
        wholly on OpenCL).
    """

    def __init__(self, min_size: float = 20, thresholds=(0.6, 0.7, 0.7), factor: float = 0.709,
                 backend: str = "engine", models_dir=None, device: str = "cpu", threads: int | None = None,
                 precision: str = "fp32", min_size_fraction: float = 0.0, whole_faces: bool = False):
        if not (isinstance(min_size, (int, float)) and min_size > 0 and math.isfinite(min_size)):
            raise ValueError(f"min_size must be a positive number of pixels, got {min_size!r}")
        if not (isinstance(min_size_fraction, (int, float)) and 0.0 <= min_size_fraction < 1.0):
            raise ValueError(f"min_size_fraction must be in [0, 1), got {min_size_fraction!r}")
        if len(thresholds) != 3 or not all(0.0 <= t <= 1.0 for t in thresholds):
            raise ValueError(f"thresholds must be 3 probabilities (P-Net, R-Net, O-Net), got {thresholds!r}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        self.min_size, self.thresholds, self.factor, self.backend = min_size, tuple(thresholds), factor, backend
        self.min_size_fraction, self.whole_faces = min_size_fraction, whole_faces
        folder = Path(models_dir) if models_dir is not None else MODELS
        paths = [folder / f"mtcnn_{n}.sq.bin" for n in ("pnet", "rnet", "onet")]
        if backend == "numpy":
            from .numpy_net import NumpyNet
            self.pnet, self.rnet, self.onet = (NumpyNet(p) for p in paths)
        else:
            options = {"device": device, "threads": threads, "precision": precision}
            self.pnet = _EngineNet(paths[0], options, per_size=True)
            self.rnet, self.onet = _EngineNet(paths[1], options), _EngineNet(paths[2], options)

    def scales(self, height: int, width: int) -> list:
        """The pyramid: scale = 12 / min_size, times factor, while the short side stays >= 12 px (a level at
        scale s finds faces of about 12 / s px). With min_size_fraction, the finest levels are skipped: the
        first kept is the last whose faces are no larger than min_size_fraction * the short side, so the
        levels kept are min_size's own and no face of that size or larger is lost."""
        m = 12.0 / self.min_size
        minl, scale, out = min(height, width) * m, m, []
        while minl >= 12:
            out.append(scale)
            scale *= self.factor
            minl *= self.factor
        smallest = self.min_size_fraction * min(height, width)
        first = max([k for k, s in enumerate(out) if 12.0 / s <= smallest], default=0)
        return out[first:]

    def detect_raw(self, img: np.ndarray) -> tuple:
        """(boxes (N, 4) x1 y1 x2 y2 float, scores (N,), landmarks (N, 5, 2)), in the cascade's order."""
        resize = self.resizer(img)
        return self.output_stage(resize, self.refine_stage(resize, self.proposal_stage(resize)))

    @staticmethod
    def resizer(img: np.ndarray) -> AreaResizer:
        """The image's integral image, which every stage resizes from (BGR in, the nets take RGB)."""
        return AreaResizer(check_image(img), reverse=True)

    def proposal_stage(self, resize: AreaResizer) -> np.ndarray:
        """Pyramid + P-Net: (N, 5) squared candidate boxes x1 y1 x2 y2 score."""
        h, w = resize.height, resize.width
        found = []
        for scale in self.scales(h, w):
            x = _normalise(resize(int(h * scale + 1), int(w * scale + 1))[None])
            out = self.pnet.forward(x)[0]               # (6, h', w'): reg (4), prob (2)
            ys, xs = np.nonzero(out[5] >= self.thresholds[0])
            if ys.size == 0:
                continue
            cell = np.stack([xs, ys], axis=1).astype(np.float32)   # the 12x12 cell at stride 2, in this scale
            q1 = np.floor((2 * cell + 1) / scale)
            q2 = np.floor((2 * cell + 12) / scale)
            boxes = np.concatenate([q1, q2, out[5, ys, xs][:, None], out[0:4, ys, xs].T], axis=1)
            found.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)])
        if not found:
            return np.zeros((0, 5), np.float32)
        boxes = np.concatenate(found)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
        w_, h_ = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes[:, :4] += boxes[:, 5:9] * np.stack([w_, h_, w_, h_], axis=1)
        return _square(boxes[:, :5])

    def refine_stage(self, resize: AreaResizer, boxes: np.ndarray) -> np.ndarray:
        """R-Net on the candidates' 24x24 crops: (N, 5) kept, regressed, squared boxes."""
        if not len(boxes):
            return boxes
        x, ok = _crops(resize, boxes, 24)
        boxes = boxes[ok]
        out = self.rnet.forward(x)[:, :, 0, 0] if len(x) else np.zeros((0, 6), np.float32)
        keep = out[:, 5] > self.thresholds[1]
        boxes = np.concatenate([boxes[keep, :4], out[keep, 5:6]], axis=1)
        reg = out[keep, 0:4]
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
        return _square(_regress(boxes[pick], reg[pick]))

    def output_stage(self, resize: AreaResizer, boxes: np.ndarray) -> tuple:
        """O-Net on the 48x48 crops: detect_raw's (boxes, scores, landmarks)."""
        points = np.zeros((0, 5, 2), np.float32)
        if len(boxes):
            x, ok = _crops(resize, boxes, 48)
            boxes = boxes[ok]
            out = self.onet.forward(x)[:, :, 0, 0] if len(x) else np.zeros((0, 18), np.float32)
            keep = out[:, 17] > self.thresholds[2]        # 14, 15: zero channels (facert.convert.mtcnn)
            boxes = np.concatenate([boxes[keep, :4], out[keep, 17:18]], axis=1)
            reg, marks = out[keep, 0:4], out[keep, 4:14]
            w_ = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
            h_ = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
            points = np.stack([w_ * marks[:, :5] + boxes[:, 0:1] - 1,
                               h_ * marks[:, 5:] + boxes[:, 1:2] - 1], axis=2)
            boxes = _regress(boxes, reg)
            pick = nms(boxes[:, :4], boxes[:, 4], 0.7, method="min")
            boxes, points = boxes[pick], points[pick]
        return boxes[:, :4].astype(np.float64), boxes[:, 4].astype(np.float64), points.astype(np.float64)

    def detect(self, img: np.ndarray) -> list[Face]:
        boxes, scores, points = self.detect_raw(img)
        if self.whole_faces and len(points):
            h, w = img.shape[:2]
            inside = ((points >= 0) & (points < np.array([w, h]))).all(axis=(1, 2))
            boxes, scores, points = boxes[inside], scores[inside], points[inside]
        return to_faces(boxes, scores, points)


class _EngineNet:
    """forward(x) on facert.Engine; per_size: one engine per input size (P-Net's pyramid), the most recent kept."""

    MAX_SIZES = 24   # a video's pyramid has ~10 sizes; a few resolutions fit

    def __init__(self, path: Path, options: dict, per_size: bool = False):
        from .engine import Engine
        self.path, self.options, self.per_size = path, options, per_size
        self.engines = OrderedDict()
        self.fixed = None if per_size else Engine(path, **options)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.per_size:
            return self.fixed.forward(x)
        from .engine import Engine
        size = tuple(x.shape[2:])
        engine = self.engines.pop(size, None) or Engine(self.path, input_size=size, **self.options)
        self.engines[size] = engine
        while len(self.engines) > self.MAX_SIZES:
            self.engines.popitem(last=False)
        return engine.forward(x)


def to_faces(boxes: np.ndarray, scores: np.ndarray, points: np.ndarray) -> list[Face]:
    """detect_raw's arrays as Faces, largest first: box edges rounded to whole pixels, landmarks as they are."""
    faces = []
    for (x1, y1, x2, y2), score, marks in zip(boxes, scores, points):
        x, y = int(round(x1)), int(round(y1))
        w, h = int(round(x2)) - x, int(round(y2)) - y
        if w >= 1 and h >= 1:
            faces.append(Face(x, y, w, h, float(score), landmarks=tuple(map(tuple, marks.tolist()))))
    return sorted(faces, key=lambda f: (-f.area, -f.score))
