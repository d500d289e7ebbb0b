"""facenet-pytorch 2.6.0's MTCNN (MIT), the reference the detector is tested against.

Installed with --no-deps (it pins an old torch): its package __init__ pulls requests and its face-recognition
net, and detect_face imports torchvision (batched_nms, to_tensor) and PIL. Only the MTCNN module is loaded
here, with torchvision's batched_nms supplied by the plain greedy NMS it documents (IoU > threshold
suppresses, highest score first, per image index), written in torch, and PIL, when Pillow is missing, left as an unused stub.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np


def _batched_nms(boxes, scores, idxs, iou_threshold):
    import torch

    keep = []
    order = torch.argsort(scores, descending=True, stable=True)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    for pos, i in enumerate(order.tolist()):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = order[pos + 1:]
        xx1 = torch.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = torch.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = torch.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = torch.minimum(boxes[i, 3], boxes[rest, 3])
        inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
        iou = inter / (area[i] + area[rest] - inter)
        suppressed[rest[(iou > iou_threshold) & (idxs[rest] == idxs[i])]] = True
    return torch.as_tensor(keep, dtype=torch.long)


def _stub(name: str, **attrs) -> None:
    if name not in sys.modules:
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module


def _package_dir() -> Path:
    if "facenet_pytorch" in sys.modules:
        return Path(list(sys.modules["facenet_pytorch"].__path__)[0])
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("facenet-pytorch is not installed: pip install --no-deps facenet-pytorch==2.6.0")
    return Path(list(spec.submodule_search_locations)[0])


def load_mtcnn_module():
    """facenet_pytorch.models.mtcnn, or ImportError when facenet-pytorch is not installed."""
    if "facenet_pytorch" not in sys.modules:   # the package without its __init__ (requests, InceptionResnetV1)
        package = types.ModuleType("facenet_pytorch")
        package.__path__ = [str(_package_dir())]
        sys.modules["facenet_pytorch"] = package
    try:
        import torchvision.ops.boxes  # noqa: F401  (a working torchvision is used as it is)
    except Exception:
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        _stub("torchvision")
        _stub("torchvision.transforms")
        _stub("torchvision.transforms.functional")
        _stub("torchvision.ops")
        _stub("torchvision.ops.boxes", batched_nms=_batched_nms)
    try:
        import PIL.Image  # noqa: F401  (a real Pillow stays real: matplotlib needs it later in the session)
    except ImportError:
        _stub("PIL", Image=types.ModuleType("PIL.Image"))
        _stub("PIL.Image")
    return importlib.import_module("facenet_pytorch.models.mtcnn")


def weights_dir() -> Path:
    """facenet-pytorch's data folder: pnet.pt, rnet.pt, onet.pt."""
    return _package_dir() / "data"


def reference_detect(mtcnn, img_bgr: np.ndarray):
    """(boxes (N,4) x1,y1,x2,y2, probs (N,), points (N,5,2)), largest first; empty arrays when none."""
    boxes, probs, points = mtcnn.detect(np.ascontiguousarray(img_bgr[:, :, ::-1]), landmarks=True)
    if boxes is None:
        return np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, 5, 2))
    return (np.asarray(boxes, np.float64), np.asarray(probs, np.float64),
            np.asarray(points, np.float64).reshape(-1, 5, 2))
