"""Detector figures for the report: faces found (MTCNN as detector="mtcnn" runs it, vs Haar) on lfw_devtest and
people/, MTCNN's landmark error against dlib's 5-point model, and latency ratios on 640x480 and 1280x720 frames.

Usage: python tools/eval_detector.py [--data ../shared/data] [--limit N] [--out results.json]
Needs opencv-python-headless 4.x; the landmark comparison needs dlib-bin and face-recognition-models.
Timings are medians of interleaved runs on this (shared, loaded) machine: compare the ratios, not the ms.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from facert.detect import HaarDetector
from facert.mtcnn import MIN_SIZE_FRACTION, MTCNNDetector


def lfw_photos(data: Path):
    return sorted((data / "lfw_devtest").glob("*/*.jpg"))


def view1_pairs(data: Path):
    pairs = []
    for line in (data / "lfw_devtest" / "pairsDevTest.txt").read_text().split("\n"):
        f = line.split()
        if len(f) == 3:
            pairs.append(((f[0], int(f[1])), (f[0], int(f[2]))))
        elif len(f) == 4:
            pairs.append(((f[0], int(f[1])), (f[2], int(f[3]))))
    return pairs


def dlib_models():
    import dlib
    import face_recognition_models as frm
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(frm.pose_predictor_five_point_model_location())


def dlib_points(hog, predictor, img):
    """dlib's 5 points on its own HOG box (the boxes the model was trained on), or None when HOG finds none.
    As (eye on image's left, eye on image's right, nose base) centres: dlib gives eye corners."""
    import dlib
    rgb = np.ascontiguousarray(img[:, :, ::-1])
    rects = hog(rgb, 1)
    if not rects:
        return None
    rect = max(rects, key=lambda r: r.width() * r.height())
    shape = predictor(rgb, dlib.rectangle(rect.left(), rect.top(), rect.right(), rect.bottom()))
    p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], np.float64)
    return np.stack([(p[2] + p[3]) / 2, (p[0] + p[1]) / 2, p[4]])


def faces_found(data: Path, mtcnn, haar, limit, with_dlib: bool):
    photos = lfw_photos(data)[:limit] if limit else lfw_photos(data)
    found, errors = {}, []
    models = dlib_models() if with_dlib else None
    for i, path in enumerate(photos):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        m = mtcnn.detect(img)
        found[path.stem] = (len(m), len(haar.detect(img)))
        if models and m:
            ref = dlib_points(*models, img)
            if ref is not None:
                # the MTCNN face that holds dlib's eyes (the central face in LFW photos)
                pts = min((np.asarray(f.landmarks) for f in m), key=lambda q: np.abs(q[:2] - ref[:2]).sum())
                iod = np.linalg.norm(ref[0] - ref[1])
                errors.append([np.linalg.norm(pts[0] - ref[0]) / iod, np.linalg.norm(pts[1] - ref[1]) / iod,
                               np.linalg.norm(pts[2] - ref[2]) / iod])
        if (i + 1) % 100 == 0:
            print(f"  {i + 1}/{len(photos)} photos", flush=True)
    return found, np.asarray(errors)


def summarise_lfw(data: Path, found: dict, errors: np.ndarray) -> dict:
    n = len(found)
    out = {"photos": n,
           "mtcnn_photos_with_face": sum(1 for m, _ in found.values() if m),
           "haar_photos_with_face": sum(1 for _, h in found.values() if h),
           "mtcnn_photos_with_several_faces": sum(1 for m, _ in found.values() if m > 1)}
    pairs = [p for p in view1_pairs(data) if all(f"{name}_{k:04d}" in found for name, k in p)]
    for j, det in enumerate(("mtcnn", "haar")):
        out[f"{det}_view1_pairs_missing_a_face"] = sum(
            1 for p in pairs if any(found[f"{name}_{k:04d}"][j] == 0 for name, k in p))
    out["view1_pairs_counted"] = len(pairs)
    if len(errors):
        eyes = errors[:, :2].mean(axis=1)
        out["landmarks_vs_dlib"] = {
            "faces": int(len(errors)),
            "eye_centre_error_over_iod": {"mean": float(eyes.mean()), "median": float(np.median(eyes)),
                                          "p90": float(np.percentile(eyes, 90)), "max": float(eyes.max()),
                                          "share_over_0.1": float((errors[:, :2].max(axis=1) > 0.1).mean())},
            "nose_tip_to_dlib_nose_base_over_iod": {"median": float(np.median(errors[:, 2]))},
        }
    return out


def people_counts(data: Path, mtcnn, haar) -> dict:
    out = {}
    for path in sorted((data / "people").glob("*/*")):
        if path.suffix.lower() not in (".jpg", ".png"):
            continue
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        out[f"{path.parent.name}/{path.name}"] = {"mtcnn": len(mtcnn.detect(img)), "haar": len(haar.detect(img))}
    return out


def latency(data: Path, detectors: dict, repeats: int) -> dict:
    """Median ms per detect() on 640x480 and 1280x720 frames of one photo, the detectors interleaved so that
    load changes hit all alike; the first call per size (engine creation, OpenCL builds) is not timed."""
    src = cv2.imread(str(data / "people" / "resolutions" / "obama-1080p.jpg"), cv2.IMREAD_COLOR)
    out = {}
    for w, h in ((640, 480), (1280, 720)):
        frame = cv2.resize(src, (w, h), interpolation=cv2.INTER_AREA)
        times = {name: [] for name in detectors}
        for det in detectors.values():
            det.detect(frame)
        for _ in range(repeats):
            for name, det in detectors.items():
                t = time.perf_counter()
                det.detect(frame)
                times[name].append(time.perf_counter() - t)
        out[f"{w}x{h}"] = {k: round(float(np.median(v) * 1e3), 1) for k, v in times.items()}
    return out


def latency_detectors(opencl: bool) -> dict:
    out = {"mtcnn_cpu_1thread": MTCNNDetector(threads=1), "mtcnn_cpu_2threads": MTCNNDetector(threads=2),
           f"mtcnn_cpu_1thread_min_size_fraction_{MIN_SIZE_FRACTION}":
               MTCNNDetector(min_size_fraction=MIN_SIZE_FRACTION, threads=1),
           "mtcnn_cpu_1thread_min_size_60": MTCNNDetector(min_size=60, threads=1),
           "mtcnn_numpy": MTCNNDetector(backend="numpy"), "haar": HaarDetector()}
    if opencl:
        out["mtcnn_opencl"] = MTCNNDetector(device="gpu")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--limit", type=int, default=0, help="only the first N LFW photos (0: all)")
    ap.add_argument("--no-dlib", action="store_true", help="skip the landmark comparison")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--opencl", action="store_true", help="also time MTCNN on OpenCL (device='gpu')")
    ap.add_argument("--latency-only", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    result = {"latency_ms_median": latency(args.data, latency_detectors(args.opencl), args.repeats)}
    print(json.dumps(result, indent=1), flush=True)
    if args.latency_only:
        return
    mtcnn, haar = MTCNNDetector(min_size_fraction=MIN_SIZE_FRACTION), HaarDetector()   # as detector="mtcnn"
    result["people"] = people_counts(args.data, mtcnn, haar)
    found, errors = faces_found(args.data, mtcnn, haar, args.limit, not args.no_dlib)
    result["lfw"] = summarise_lfw(args.data, found, errors)
    result["lfw_no_face"] = {"mtcnn": sorted(k for k, (m, _) in found.items() if m == 0),
                             "haar": sorted(k for k, (_, h) in found.items() if h == 0)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
