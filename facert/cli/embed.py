"""`facert embed IMG... [-o out.npy]`: embeddings of whole images (already face crops) with a model."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def register(subparsers) -> None:
    p = subparsers.add_parser("embed", help="embed images (face crops) and print or save the embeddings")
    p.add_argument("images", nargs="+", help="image files (anything OpenCV reads)")
    p.add_argument("-o", "--output", help="save an (N, D) float32 array to this .npy instead of printing")
    p.add_argument("--model", default=None, help="sq.bin to use (default: the bundled model)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: physical cores)")
    p.set_defaults(func=run)


def _read_images(paths) -> list:
    import cv2

    images = []
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"image not found: {path}")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)   # HxWx3 uint8 BGR, what Engine.embed expects
        if image is None:
            raise ValueError(f"cannot decode image: {path}")
        images.append(image)
    return images


def run(args) -> int:
    import facert

    try:
        images = _read_images(args.images)
        engine = facert.Engine(args.model, threads=args.threads)
        embeddings = np.stack([engine.embed(image) for image in images]).astype(np.float32)
    except (FileNotFoundError, ValueError, facert.ModelError, facert.InputError, facert.DeviceError) as exc:
        print(f"facert embed: error: {exc}", file=sys.stderr)
        return 1
    if args.output:
        np.save(args.output, embeddings)
        print(f"wrote {args.output}: {embeddings.shape[0]} embeddings of dim {embeddings.shape[1]}")
        return 0
    for path, vector in zip(args.images, embeddings):
        print(f"{path}\t" + " ".join(f"{v:.7g}" for v in vector))
    return 0
