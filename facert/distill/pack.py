"""The transfer set packed for a machine without ../shared (the lent GPU machine, where only the checkout and 64 MiB
of carried files travel): every image's name, identity, teacher descriptor (float16) and run-time crop (WebP,
quality 75: ~1.2 KB each), and the LFW View 1 pairs with their crops. 33,780 faces pack into ~50 MB.
    facert distill --pack device_carry/transfer.npz ...          here, after (or with) the cached pass
    facert distill --packed device_carry/transfer.npz --device cuda ...     there
WebP is lossy: a packed crop differs from the pass's by about 2 grey levels on average, a small shift next to
the training augmentation (colour ±25%, a downscale-upscale on 20% of each batch); it lowers the curve's
held-out cosine by ~0.01 (student3: 0.618 on the pass's crops, 0.610 on packed ones). Decoded with OpenCV, or with
Pillow where OpenCV is not installed.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

QUALITY = 75       # the training crops
LFW_QUALITY = 90   # the LFW crops the curve scores: few, and the figure should not move


def _encode(crops: np.ndarray, quality: int = QUALITY) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) uint8 BGR -> one byte array of WebP images and their (N + 1) offsets."""
    import cv2

    blobs = []
    for c in crops:
        ok, buf = cv2.imencode(".webp", c, [cv2.IMWRITE_WEBP_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV could not encode a crop as WebP")
        blobs.append(buf.reshape(-1))
    offsets = np.zeros(len(blobs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    return (np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)), offsets


def decode_opencv(buf: np.ndarray) -> np.ndarray:
    import cv2
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def decode_pillow(buf: np.ndarray) -> np.ndarray:
    import io

    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(buf.tobytes())).convert("RGB"))[..., ::-1]


def _decode(data: np.ndarray, offsets: np.ndarray, size: int, one=None) -> np.ndarray:
    if one is None:
        one = decode_opencv if importlib.util.find_spec("cv2") else decode_pillow
    out = np.zeros((len(offsets) - 1, size, size, 3), np.uint8)
    for i in range(len(out)):
        img = one(data[offsets[i]:offsets[i + 1]])
        if img is None or img.shape != out.shape[1:]:
            raise ValueError(f"packed crop {i} does not decode to {size}x{size}x3")
        out[i] = img
    return out


def write_pack(path, names: list, identities: list, prepared: dict, lfw) -> int:
    """Writes the pack; returns its size in bytes. lfw: lfw_crops()'s (pairs, crops, index), or None."""
    crops, offsets = _encode(prepared["crops"])
    arrays = {"names": np.array(names), "identities": np.array(identities),
              "emb": prepared["emb"].astype(np.float16), "aligned": prepared["aligned"],
              "crops": crops, "crop_offsets": offsets, "size": np.int64(prepared["crops"].shape[1]),
              "teacher_mirror": np.bool_(prepared.get("teacher_mirror", False))}
    if lfw is not None:
        pairs, lfw_images, index = lfw
        arrays["lfw_a"] = np.array([str(a) for a, _, _ in pairs])
        arrays["lfw_b"] = np.array([str(b) for _, b, _ in pairs])
        arrays["lfw_same"] = np.array([bool(s) for _, _, s in pairs])
        arrays["lfw_paths"] = np.array(list(index))
        arrays["lfw_index"] = np.array(list(index.values()), np.int64)
        arrays["lfw_crops"], arrays["lfw_offsets"] = _encode(lfw_images, LFW_QUALITY)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)   # the names compress ~10x; WebP does not
    return path.stat().st_size


def read_pack(path) -> tuple:
    """(names, identities, prepared {"emb", "crops", "aligned", "teacher_mirror"}, lfw (pairs, crops, index) or
    None)."""
    z = np.load(path)
    size = int(z["size"])
    prepared = {"emb": z["emb"].astype(np.float32), "aligned": z["aligned"],
                "crops": _decode(z["crops"], z["crop_offsets"], size),
                "teacher_mirror": bool(z["teacher_mirror"]) if "teacher_mirror" in z.files else False}
    lfw = None
    if "lfw_a" in z.files:
        pairs = list(zip(z["lfw_a"].tolist(), z["lfw_b"].tolist(), z["lfw_same"].tolist()))
        index = dict(zip(z["lfw_paths"].tolist(), z["lfw_index"].tolist()))
        lfw = (pairs, _decode(z["lfw_crops"], z["lfw_offsets"], size), index)
    return z["names"].tolist(), z["identities"].tolist(), prepared, lfw
