"""One verify of two 640x480 photos, stage by stage: MTCNN's pyramid + P-Net, R-Net, O-Net, align, embed
(face + mirror), for MTCNN settings side by side on one thread, interleaved (compare ratios: the machine is shared).

Each setting's verify is also given in "views": its time over one embedded view's (half a face + mirror embed)
in the same run, a unit load scales alike; README's quiet benchmark table gives a view's ms at 112 px.
    python benchmarks/bench_verify_stages.py [--rounds 25] [--fractions 0 0.1]
Under pytest it runs one round, checking the staged pipeline against facert.verify's score.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import facert
from facert.faces import face_embedding
from facert.mtcnn import MIN_SIZE_FRACTION, MTCNNDetector, to_faces

PEOPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "people"
PHOTOS = ("resolutions/obama-480p.jpg", "barack_obama/1.jpg")
STAGES = ("pyramid+pnet", "rnet", "onet", "align", "embed")


def photos(size=(640, 480)) -> list:
    import cv2
    return [cv2.resize(cv2.imread(str(PEOPLE / p), cv2.IMREAD_COLOR), size, interpolation=cv2.INTER_AREA)
            for p in PHOTOS]


def staged(det: MTCNNDetector, engine, img: np.ndarray):
    """facert.verify's work on one photo, timed per stage: (embedding, seconds per stage)."""
    t = [time.perf_counter()]
    resize = det.resizer(img)
    boxes = det.proposal_stage(resize)
    t.append(time.perf_counter())
    boxes = det.refine_stage(resize, boxes)
    t.append(time.perf_counter())
    faces = to_faces(*det.output_stage(resize, boxes))
    t.append(time.perf_counter())
    crop = facert.align(img, faces[0], int(engine.input_shape[1]))
    t.append(time.perf_counter())
    emb = face_embedding(crop, engine)
    t.append(time.perf_counter())
    return emb, np.diff(t)


def run(fractions, rounds: int) -> dict:
    imgs, engine = photos(), facert.Engine(threads=1)
    dets = {f: MTCNNDetector(min_size_fraction=f, threads=1) for f in fractions}
    times = {f: [] for f in fractions}
    for det in dets.values():       # warm-up: P-Net's engines per pyramid size
        staged(det, engine, imgs[0])
    for _ in range(rounds):
        for f, det in dets.items():
            (a, ta), (b, tb) = (staged(det, engine, img) for img in imgs)
            times[f].append(ta + tb)
    out = {}
    for f in fractions:
        med = np.median(times[f], axis=0)
        out[f] = {"stages_s": dict(zip(STAGES, med.tolist())), "verify_s": float(med.sum()),
                  "verify_views": float(med.sum() / (med[-1] / 4)), "score": float(np.dot(a, b))}
    return out


def bench_verify_stages_match_verify():
    """tools/test.sh: one round; the staged pipeline is facert.verify's (timing is not asserted)."""
    result = run((0.0, MIN_SIZE_FRACTION), rounds=1)
    imgs = photos()
    for f, r in result.items():
        want = facert.verify(imgs[0], imgs[1], facert.Engine(threads=1), detector=MTCNNDetector(min_size_fraction=f))
        assert abs(r["score"] - want.score) <= 1e-5
        assert set(r["stages_s"]) == set(STAGES) and r["verify_views"] > 4


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.0, MIN_SIZE_FRACTION])
    args = ap.parse_args()
    result = run(args.fractions, args.rounds)
    base = result[args.fractions[0]]["verify_s"]
    print(f"640x480 verify, 1 thread, {args.rounds} rounds, medians as a share of min_size_fraction="
          f"{args.fractions[0]}'s verify:")
    print(f"{'min_size_fraction':>18} " + " ".join(f"{s:>13}" for s in STAGES) + f" {'verify':>7} {'views':>6}")
    for f, r in result.items():
        print(f"{f:>18} " + " ".join(f"{v / base:13.3f}" for v in r["stages_s"].values())
              + f" {r['verify_s'] / base:7.3f} {r['verify_views']:6.1f}")
