"""Pair-protocol verification accuracy: LFW View 1 (pairsDevTest.txt) and the people/ photos.

The student goes through facert's own pipeline (detect -> largest face -> align -> embed ->
cosine); the teacher through dlib's (HOG -> 5 landmarks -> aligned chip -> descriptor ->
Euclidean distance, scored as its negative so that higher always means "more alike").
"""
from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np

from . import progress

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
NO_FACE_SCORE = -np.inf   # a pair with an undetected face is answered "different"


def read_lfw_pairs(pairs_file) -> list[tuple[Path, Path, bool]]:
    """Rows `name i j` (same) or `name1 i name2 j` (different); image k is <name>/<name>_%04d.jpg."""
    pairs_file = Path(pairs_file)
    root = pairs_file.parent
    pairs = []
    for lineno, line in enumerate(pairs_file.read_text().splitlines(), 1):
        f = line.split()
        if len(f) == 3:
            a, b, same = (f[0], int(f[1])), (f[0], int(f[2])), True
        elif len(f) == 4:
            a, b, same = (f[0], int(f[1])), (f[2], int(f[3])), False
        elif not f or len(f) == 1:   # blank line, or a count header in other LFW pair files
            continue
        else:
            raise ValueError(f"{pairs_file}:{lineno}: expected 3 or 4 fields, got {line!r}")
        pairs.append(tuple(root / n / f"{n}_{k:04d}.jpg" for n, k in (a, b)) + (same,))
    return pairs


def people_pairs(people_dir) -> list[tuple[Path, Path, bool]]:
    """Every pair of photos among people/<name>/ folders of named people (not groups/hard/resolutions)."""
    people_dir = Path(people_dir)
    photos = [(d.name, p) for d in sorted(people_dir.iterdir())
              if d.is_dir() and d.name not in ("groups", "hard", "resolutions")
              for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    return [(pa, pb, na == nb) for (na, pa), (nb, pb) in itertools.combinations(photos, 2)]


def _read(path) -> np.ndarray:
    import cv2
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return img


def student_embeddings(paths, engine, detector=None) -> tuple[dict, dict, dict]:
    """{path: unit embedding or None (no face)} of the face alone ("face") and facert.face_embedding's
    ("face+mirror"), and timing medians {detect_ms, crop_embed_ms (one view)}. detector: as facert.detect takes it."""
    from ..detect import detect
    from ..faces import face_crop_for, face_embedding
    plain, flipped, t_det, t_emb = {}, {}, [], []
    for p in progress(paths, len(paths), "student", every=2.0):
        img = _read(p)
        t0 = time.perf_counter()
        faces = detect(img, detector)
        t1 = time.perf_counter()
        if not faces:
            plain[p] = flipped[p] = None
            continue
        crop = face_crop_for(img, faces[0], engine)
        plain[p] = engine.embed(crop)
        t2 = time.perf_counter()
        flipped[p] = face_embedding(crop, engine)
        t_det.append(t1 - t0)
        t_emb.append(t2 - t1)
    return plain, flipped, {"detect_ms": 1e3 * float(np.median(t_det)),
                            "crop_embed_ms": 1e3 * float(np.median(t_emb))}


def teacher_embeddings(paths, cache_path=None) -> dict:
    """{path: dlib descriptor or None (HOG found no face)}; cached in cache_path (.npz) when given."""
    from .teacher import DlibTeacher
    out = {}
    if cache_path is not None and Path(cache_path).exists():
        with np.load(cache_path) as z:
            for p, e, f in zip(z["paths"], z["emb"], z["found"]):
                out[Path(str(p))] = e if f else None
    todo = [p for p in paths if Path(p) not in out]
    if todo:
        teacher = DlibTeacher()
        for p in progress(todo, len(todo), "teacher", every=2.0):
            out[Path(p)], _ = teacher.embed(_read(p), fallback_whole=False)
        if cache_path is not None:
            keys = sorted(out)
            np.savez(cache_path, paths=np.array([str(k) for k in keys]),
                     emb=np.stack([out[k] if out[k] is not None else np.zeros(128, np.float32) for k in keys]),
                     found=np.array([out[k] is not None for k in keys]))
    return {Path(p): out[Path(p)] for p in paths}


def pair_scores(pairs, emb: dict, metric: str) -> np.ndarray:
    """Higher = more alike: cosine for unit embeddings, minus Euclidean distance for dlib's."""
    scores = np.empty(len(pairs))
    for i, (a, b, _) in enumerate(pairs):
        ea, eb = emb[a], emb[b]
        if ea is None or eb is None:
            scores[i] = NO_FACE_SCORE
        elif metric == "cosine":
            scores[i] = float(np.dot(ea, eb))
        else:
            scores[i] = -float(np.linalg.norm(ea - eb))
    return scores


def accuracy(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((scores >= threshold) == same))


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold with the highest accuracy on these pairs (midpoint between neighbouring scores)."""
    s = np.sort(scores[np.isfinite(scores)])
    cands = np.concatenate([[s[0] - 1e-6], (s[1:] + s[:-1]) / 2, [s[-1] + 1e-6]]) if len(s) else np.zeros(1)
    accs = np.array([accuracy(scores, same, t) for t in cands])
    return float(cands[int(np.argmax(accs))])


def roc_auc(scores: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a same pair outscores a different one (ties count half).
    Threshold-free; a pair with an undetected face keeps its NO_FACE_SCORE and ranks lowest."""
    scores, same = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    n_same, n_diff = int(same.sum()), int((~same).sum())
    if not n_same or not n_diff:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)   # 1-based, ties share their mean rank
    return float((ranks[same].sum() - n_same * (n_same + 1) / 2.0) / (n_same * n_diff))


def cross_validated(scores: np.ndarray, same: np.ndarray, folds: int = 10) -> dict:
    """k-fold accuracy: each fold is scored at the threshold fit on the other folds.

    Folds interleave the pairs (i % folds), so each holds same and different pairs alike.
    Returns mean/std accuracy and the median of the fold thresholds (the one to ship).
    """
    idx = np.arange(len(scores))
    accs, thresholds = [], []
    for k in range(folds):
        test, fit = idx % folds == k, idx % folds != k
        t = best_threshold(scores[fit], same[fit])
        thresholds.append(t)
        accs.append(accuracy(scores[test], same[test], t))
    return {"accuracy": float(np.mean(accs)), "std": float(np.std(accs)),
            "threshold": float(np.median(thresholds)), "fold_thresholds": [float(t) for t in thresholds]}


def evaluate_pairs(pairs, emb: dict, metric: str, threshold: float | None) -> dict:
    same = np.array([s for _, _, s in pairs])
    scores = pair_scores(pairs, emb, metric)
    res = {"pairs": len(pairs), "same_pairs": int(same.sum()),
           "no_face_pairs": int(np.sum(~np.isfinite(scores))),
           "auc": roc_auc(scores, same),
           "cv10": cross_validated(scores, same) if len(pairs) >= 10 else None}
    if threshold is not None:
        res["threshold"] = float(threshold)
        res["accuracy_at_threshold"] = accuracy(scores, same, threshold)
    return res
