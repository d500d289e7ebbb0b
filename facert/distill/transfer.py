"""The transfer set: listing, deterministic train/val split, and the one cached pass over it.

The pass computes, for every image, what training needs and nothing recomputes later:
- the teacher's target: dlib's descriptor on its own 5-point aligned chip (facert.distill.teacher), or with
  mirror=True the mean of that chip's and its mirror image's (cached apart: pass_<size>_mirror/);
- the student's input: exactly the run-time crop, facert.detect(img, detector="mtcnn") -> largest
  face -> facert.align -> SIZE x SIZE.
It runs in worker processes (dlib and the detector are single-threaded per image), each writing its own
shard every few hundred images, so an interrupted pass resumes where it stopped.
"""
from __future__ import annotations

import os
import time
import zlib
from pathlib import Path

import numpy as np

from . import progress

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# A tight crop (CelebA's: the face fills the frame) can hide a face from the detector's pyramid;
# retrying on the image with replicated borders of this fraction finds it.
RETRY_PAD = 0.25


def list_images(folder, limit: int | None = None) -> list[str]:
    """Sorted image file names in folder (sorted so every run sees the same order)."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES))
    if not names:
        raise FileNotFoundError(f"no images in transfer-set folder {folder}")
    return names[:limit] if limit else names


def list_transfer_set(root, folders, limit: int | None = None) -> tuple[list[str], list[str]]:
    """(names, identities) over root/<folder> for each folder.

    A folder of images gives names "<folder>/<file>" with no identity (""); a folder of folders
    (celeba_ids/<identity>/<file>) gives "<folder>/<identity>/<file>" with identity "<folder>/<identity>".
    limit: at most that many images per folder (smoke runs).
    """
    root = Path(root)
    names, ids = [], []
    for folder in folders:
        base = root / folder
        if not base.is_dir():
            raise FileNotFoundError(f"transfer-set folder {base} does not exist")
        subdirs = sorted(d.name for d in base.iterdir() if d.is_dir())
        if subdirs:
            found = [(f"{folder}/{d}/{n}", f"{folder}/{d}") for d in subdirs for n in list_images(base / d)]
        else:
            found = [(f"{folder}/{n}", "") for n in list_images(base)]
        for n, i in found[:limit] if limit else found:
            names.append(n)
            ids.append(i)
    return names, ids


def is_val(key: str, val_percent: int = 10) -> bool:
    """Deterministic split by a hash of key: the same file (or identity) is always on the same side."""
    return zlib.crc32(key.encode("utf-8")) % 100 < val_percent


def split(names: list[str], identities: list[str] | None = None, val_percent: int = 10):
    """(train, val) index arrays. Images with an identity are held out by identity (whole people the
    student never saw); the others by file name."""
    identities = identities or [""] * len(names)
    val = np.array([is_val(i or n, val_percent) for n, i in zip(names, identities)], dtype=bool)
    return np.flatnonzero(~val), np.flatnonzero(val)


def student_crop(img: np.ndarray, detector, size: int):
    """The run-time aligned crop of the largest MTCNN face, and that face's box in img (x, y, w, h);
    (None, None) when no face is found even with padded borders."""
    import cv2

    from ..align import align

    faces = detector.detect(img)
    pad = 0
    if not faces:
        pad = int(round(RETRY_PAD * max(img.shape[:2])))
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        faces = detector.detect(img)
    if not faces:
        return None, None
    f = faces[0]
    return align(img, f, size=size), (f.x - pad, f.y - pad, f.w, f.h)


def _prepare_shard(job) -> str:
    """Worker: the pass over names[k::n], saved (and resumed) in its own shard file."""
    import cv2

    from ..mtcnn import MTCNNDetector
    from .teacher import DlibTeacher

    root, names, shard_path, size, mirror = job
    shard_path = Path(shard_path)
    done = _load(shard_path) if shard_path.exists() else {}
    todo = [n for n in names if n not in done]
    if not todo:
        return str(shard_path)
    teacher = DlibTeacher()
    detector = MTCNNDetector(threads=1)
    for i, name in enumerate(progress(todo, len(todo), shard_path.stem)):
        img = cv2.imread(str(Path(root) / name), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"cannot read transfer-set image {name}")
        crop, box = student_crop(img, detector, size)
        emb, how = teacher.embed(img, box, mirror=mirror)
        done[name] = (emb, how, crop if crop is not None else np.zeros((size, size, 3), np.uint8), crop is not None)
        if (i + 1) % 300 == 0 or i + 1 == len(todo):
            _save(shard_path, done)   # an interrupted pass keeps its work
    return str(shard_path)


def _load(path: Path) -> dict:
    with np.load(path) as z:
        return {str(n): (e, str(h), c, bool(a))
                for n, e, h, c, a in zip(z["names"], z["emb"], z["teacher_box"], z["crops"], z["aligned"])}


def _save(path: Path, done: dict) -> None:
    names = sorted(done)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, names=np.array(names), emb=np.stack([done[n][0] for n in names]),
             teacher_box=np.array([done[n][1] for n in names]), crops=np.stack([done[n][2] for n in names]),
             aligned=np.array([done[n][3] for n in names]))
    os.replace(tmp, path)


def prepare(root, names: list[str], work_dir, size: int, workers: int = 2, log=print, mirror: bool = False) -> dict:
    """Teacher targets and student crops for names, in that order, from the cached pass.

    Returns {"emb": (N,128) float32, "teacher_box": (N,) str - "hog", "mtcnn" or "whole", where the
    teacher's face box came from -, "crops": (N,size,size,3) uint8 BGR, "aligned": (N,) bool - False
    where MTCNN found no face (those images are left out of training), "teacher_mirror": mirror}.
    Shards live in work_dir/pass_<size>/ (pass_<size>_mirror/ for mirror targets); a larger run reuses a smaller
    one's work.
    """
    shard_dir = Path(work_dir) / f"pass_{size}{'_mirror' if mirror else ''}"
    shard_dir.mkdir(parents=True, exist_ok=True)
    have: dict = {}
    for p in sorted(shard_dir.glob("shard_*.npz")):
        if not p.name.endswith(".tmp.npz"):
            have.update(_load(p))
    todo = [n for n in names if n not in have]
    if todo:
        t0 = time.time()
        workers = max(1, min(workers, len(todo)))
        stamp = int(time.time())
        jobs = [(str(root), todo[k::workers], str(shard_dir / f"shard_{stamp}_{k}.npz"), size, mirror)
                for k in range(workers)]
        if workers == 1:
            paths = [_prepare_shard(jobs[0])]
        else:
            import multiprocessing as mp
            with mp.get_context("spawn").Pool(workers) as pool:
                paths = pool.map(_prepare_shard, jobs)
        for p in paths:
            have.update(_load(Path(p)))
        log(f"pass: {len(todo)} images in {time.time() - t0:.0f} s on {workers} processes")
    emb = np.stack([have[n][0] for n in names]).astype(np.float32)
    box = np.array([have[n][1] for n in names])
    crops = np.stack([have[n][2] for n in names])
    aligned = np.array([have[n][3] for n in names], dtype=bool)
    log(f"pass: MTCNN aligned {aligned.sum()}/{len(names)}; teacher face box from HOG "
        f"{(box == 'hog').sum()}, MTCNN {(box == 'mtcnn').sum()}, whole image {(box == 'whole').sum()}")
    return {"emb": emb, "teacher_box": box, "crops": crops, "aligned": aligned, "teacher_mirror": mirror}
