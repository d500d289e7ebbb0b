"""`facert verify A B`: are the largest faces in two photos the same person?"""
from __future__ import annotations

import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("verify", help="same person or not, for the largest face in two photos")
    p.add_argument("image_a")
    p.add_argument("image_b")
    p.add_argument("--model", default=None, help="sq.bin to use (default: the bundled model)")
    p.add_argument("--threshold", type=float, default=None, help="cosine threshold (default: the model's)")
    p.set_defaults(func=run)


def run(args) -> int:
    import cv2

    import facert

    imgs = []
    for path in (args.image_a, args.image_b):
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            print(f"facert verify: error: cannot read image {path}", file=sys.stderr)
            return 2
        imgs.append(img)
    engine = facert.Engine(args.model)
    try:
        res = facert.verify(imgs[0], imgs[1], engine=engine, threshold=args.threshold)
    except facert.NoFaceError as exc:
        print(f"facert verify: error: {exc}", file=sys.stderr)
        return 1
    print(f"{'same person' if res.same else 'different people'}: cosine {res.score:.4f} "
          f"(threshold {res.threshold:.4f}); faces {res.face_a.box} and {res.face_b.box}")
    return 0
