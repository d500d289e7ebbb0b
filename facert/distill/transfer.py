"""The transfer set: file listing, deterministic train/val split, and the cached teacher pass."""
from __future__ import annotations

import os
import time
import zlib
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def list_images(folder, limit: int | None = None) -> list[str]:
    """Sorted image file names in folder (sorted so every run sees the same order)."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES))
    if not names:
        raise FileNotFoundError(f"no images in transfer-set folder {folder}")
    return names[:limit] if limit else names


def is_val(name: str, val_percent: int = 10) -> bool:
    """Deterministic split by file-name hash: the same file is always on the same side."""
    return zlib.crc32(name.encode("utf-8")) % 100 < val_percent


def split(names: list[str], val_percent: int = 10) -> tuple[list[str], list[str]]:
    val = [n for n in names if is_val(n, val_percent)]
    train = [n for n in names if not is_val(n, val_percent)]
    return train, val


def _progress(iterable, total, desc):
    try:
        from tqdm import tqdm
        return tqdm(iterable, total=total, desc=desc, mininterval=5.0)
    except ImportError:
        return iterable


def teacher_cache(folder, names: list[str], cache_path, log=print) -> dict[str, np.ndarray]:
    """Teacher embeddings for names, computed once and cached in cache_path (.npz).

    Entries already in the cache are reused, so a larger run extends a smaller one's cache.
    Returns {"names": (N,) str, "emb": (N,128) float32, "found": (N,) bool} in the order of names.
    """
    import cv2

    from .teacher import DlibTeacher

    cache_path = Path(cache_path)
    known: dict[str, tuple[np.ndarray, bool]] = {}
    if cache_path.exists():
        with np.load(cache_path) as z:
            for n, e, f in zip(z["names"], z["emb"], z["found"]):
                known[str(n)] = (e, bool(f))
    todo = [n for n in names if n not in known]
    if todo:
        teacher = DlibTeacher()
        t0 = time.time()
        for i, name in enumerate(_progress(todo, len(todo), "teacher")):
            img = cv2.imread(str(Path(folder) / name), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"cannot read transfer-set image {name}")
            known[name] = teacher.embed(img, fallback_whole=True)
            if (i + 1) % 500 == 0 or i + 1 == len(todo):
                _save(cache_path, known)  # an interrupted pass keeps its work
        log(f"teacher: {len(todo)} crops in {time.time() - t0:.0f} s")
    emb = np.stack([known[n][0] for n in names]).astype(np.float32)
    found = np.array([known[n][1] for n in names], dtype=bool)
    log(f"teacher: HOG found a face in {found.sum()}/{len(names)} crops; the rest used the whole crop")
    return {"names": np.array(names), "emb": emb, "found": found}


def _save(path: Path, known: dict) -> None:
    names = sorted(known)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, names=np.array(names), emb=np.stack([known[n][0] for n in names]),
             found=np.array([known[n][1] for n in names]))
    os.replace(tmp, path)


def student_crops(folder, names: list[str], size: int, margin: float, cache_path=None,
                  log=print) -> dict[str, np.ndarray]:
    """The run-time crops the student trains on: facert.detect -> largest face -> face_crop -> size.

    When the Haar cascade finds no face on a transfer-set chip (it misses about a third of these
    tight 200x200 chips), the face box is the median box Haar found on the other chips (relative to
    the chip size): the nearest thing to what the run-time detector reports for such a face, where
    the whole chip would be a ~1.2x wider view than the student sees at run time.
    Cached in cache_path keyed by (size, margin, names).
    """
    import cv2

    from ..crop import face_crop
    from ..detect import Face, detect

    if cache_path is not None and Path(cache_path).exists():
        with np.load(cache_path) as z:
            if (int(z["size"]) == size and float(z["margin"]) == margin
                    and list(z["names"]) == list(names)):
                log(f"student crops: {len(names)} from cache {cache_path}")
                return {"crops": z["crops"], "found": z["found"], "fallback_box": z["fallback_box"]}
    imgs, boxes = [], []
    for name in _progress(names, len(names), "detect"):
        img = cv2.imread(str(Path(folder) / name), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"cannot read transfer-set image {name}")
        faces = detect(img)
        imgs.append(img)
        boxes.append(faces[0] if faces else None)
    found = np.array([b is not None for b in boxes])
    rel = np.array([[b.x / im.shape[1], b.y / im.shape[0], b.w / im.shape[1], b.h / im.shape[0]]
                    for b, im in zip(boxes, imgs) if b is not None])
    fallback = np.median(rel, axis=0) if len(rel) else np.array([0.0, 0.0, 1.0, 1.0])
    crops = np.empty((len(names), size, size, 3), np.uint8)
    for i, (img, box) in enumerate(zip(imgs, boxes)):
        if box is None:
            h, w = img.shape[:2]
            box = Face(int(round(fallback[0] * w)), int(round(fallback[1] * h)),
                       int(round(fallback[2] * w)), int(round(fallback[3] * h)), 0.0)
        crops[i] = face_crop(img, box, margin, size=size)
    log(f"student crops: Haar found a face in {found.sum()}/{len(names)} chips; the other "
        f"{(~found).sum()} use the median Haar box (x,y,w,h relative) {np.round(fallback, 3).tolist()}")
    if cache_path is not None:
        np.savez(cache_path, crops=crops, found=found, fallback_box=fallback, names=np.array(names),
                 size=size, margin=margin)
    return {"crops": crops, "found": found, "fallback_box": fallback}
