#!/usr/bin/env python3
"""The figures behind facert.detect's MIN_SCORE: Haar scores (neighbours) of the faces and of the other
boxes, on people/ (every box listed) and on LFW View 1's photos (the box at the centre of a deep-funneled
250x250 photo is the face; other boxes are background people or false positives).

    python tools/haar_scores.py [--data ../shared/data] [--thresholds 8 10 12]
"""
import argparse
from pathlib import Path

import cv2
import numpy as np

from facert.detect import HaarDetector


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--thresholds", type=float, nargs="+", default=[8, 9, 10, 11, 12])
    args = p.parse_args()
    detector = HaarDetector(min_score=0)
    for path in sorted((args.data / "people").glob("*/*.*")):
        img = cv2.imread(str(path))
        if img is not None:
            boxes = ", ".join(f"{f.box} {f.score:.0f}" for f in detector.detect(img))
            print(f"{path.parent.name}/{path.name}: {boxes or 'none'}")
    central, other = [], []
    for path in sorted((args.data / "lfw_devtest").glob("*/*.jpg")):
        img = cv2.imread(str(path))
        h, w = img.shape[:2]
        for f in detector.detect(img):
            at_centre = abs(f.x + f.w / 2 - w / 2) < 25 and abs(f.y + f.h / 2 - h / 2) < 25 and f.w > 60
            (central if at_centre else other).append(f.score)
    central, other = np.array(central), np.array(other)
    print(f"LFW: {len(central)} central faces (median score {np.median(central):.0f}), {len(other)} other boxes")
    for t in args.thresholds:
        print(f"min_score {t:g}: keeps {100 * np.mean(central >= t):.1f}% of the central faces "
              f"({int(np.sum(central < t))} lost), drops {100 * np.mean(other < t):.1f}% of the other boxes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
