"""`facert demo [IMG...]`: embed face photos with the bundled model and print who matches whom.

With no paths it uses the photos of named people in ../shared/data/people (found relative to the
current directory or the repository), so a new user sees facert recognise faces right after set-up.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SKIP_FOLDERS = ("groups", "hard", "resolutions")   # not one named person each


def find_data_dir(*parts: str) -> Path | None:
    """../shared/data/<parts> from the current directory or from the repository checkout."""
    bases = [Path.cwd(), Path.cwd().parent, Path(__file__).resolve().parents[1], Path(__file__).resolve().parents[2]]
    for base in bases:
        for cand in (base / "shared" / "data" / Path(*parts), base / "data" / Path(*parts)):
            if cand.is_dir():
                return cand
    return None


def find_people_dir() -> Path | None:
    """../shared/data/people from the current directory or from the repository checkout."""
    return find_data_dir("people")


def default_photos(people_dir: Path) -> list[Path]:
    return [p for d in sorted(people_dir.iterdir()) if d.is_dir() and d.name not in SKIP_FOLDERS
            for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]


def _label(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def run_demo(paths: list[Path], engine, threshold: float, out=print) -> dict:
    """Embed each photo's largest face, print per-face timing and the same/different matrix."""
    import cv2

    from .detect import detect
    from .faces import face_crop_for, face_embedding

    rows, embs, labels = [], [], []
    out(f"{'#':>3}  {'photo':<32} {'face box (x,y,w,h)':<22} {'detect ms':>9} {'embed ms':>9}")
    for path in paths:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            out(f"     {_label(path):<32} cannot read this file as an image; skipped")
            continue
        t0 = time.perf_counter()
        faces = detect(img)
        t1 = time.perf_counter()
        if not faces:
            out(f"     {_label(path):<32} no face found; skipped")
            continue
        crop = face_crop_for(img, faces[0], engine)
        emb = face_embedding(crop, engine)   # exactly as facert.verify embeds a face
        t3 = time.perf_counter()
        embs.append(emb)
        labels.append(path)
        rows.append((1e3 * (t1 - t0), 1e3 * (t3 - t1)))
        box = ",".join(str(v) for v in faces[0].box)
        out(f"{len(embs):>3}  {_label(path):<32} {box:<22} {rows[-1][0]:>9.1f} {rows[-1][1]:>9.2f}")
    if len(embs) < 2:
        out("need at least two photos with a face to compare")
        return {"faces": len(embs)}
    e = np.stack(embs)
    sim = e @ e.T
    n = len(embs)
    out(f"\ncosine similarity; '=' marks 'same person' (score >= threshold {threshold:.3f})")
    out("     " + "".join(f"{j + 1:>7}" for j in range(n)))
    for i in range(n):
        cells = "".join("      -" if i == j else f"{sim[i, j]:>6.2f}{'=' if sim[i, j] >= threshold else ' '}"
                        for j in range(n))
        out(f"{i + 1:>3}  {cells}")
    # When photos sit in one folder per person, say how many pairs the threshold got right.
    folders = [p.parent.name for p in labels]
    right = total = 0
    for i in range(n):
        for j in range(i + 1, n):
            total += 1
            right += (sim[i, j] >= threshold) == (folders[i] == folders[j])
    det_ms = float(np.median([r[0] for r in rows]))
    emb_ms = float(np.median([r[1] for r in rows]))
    out(f"\n{n} faces; median per face: detect {det_ms:.1f} ms, crop + embed {emb_ms:.2f} ms")
    out(f"pairs where same/different agrees with the photos' folders: {right}/{total}")
    return {"faces": n, "pairs_right": right, "pairs": total, "detect_ms": det_ms, "embed_ms": emb_ms}
