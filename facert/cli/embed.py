"""`facert embed IMG... [-o out.npy]`: embeddings of the faces in photos (or of pre-cropped faces)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def register(subparsers) -> None:
    p = subparsers.add_parser("embed", help="embed the faces in photos and print or save the embeddings",
                              description="Detect the faces in each photo and print one line per face: the "
                                          "file, the face box x,y,w,h and its facert.face_embedding. With "
                                          "--whole-image each image is taken as one pre-cropped face.")
    p.add_argument("images", nargs="+", help="image files (anything OpenCV reads)")
    p.add_argument("-o", "--output", help="save an (N, D) float32 array (one row per printed face) to this .npy")
    p.add_argument("--model", default=None, help="sq.bin to use (default: the bundled model)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: physical cores)")
    p.add_argument("--whole-image", action="store_true",
                   help="each image is already a face crop: embed it whole, without detecting")
    p.set_defaults(func=run)


def read_image(path) -> np.ndarray:
    """HxWx3 uint8 BGR, what the API expects; FileNotFoundError / InputError naming the file."""
    import cv2

    from facert.errors import InputError

    if not Path(path).is_file():
        raise FileNotFoundError(f"image not found: {path}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot decode image: {path} (not an image OpenCV can read)")
    return image


def run(args) -> int:
    import facert

    images = [read_image(path) for path in args.images]
    engine = facert.Engine(args.model, threads=args.threads)
    rows, labels, missing = [], [], []
    for path, image in zip(args.images, images):
        if args.whole_image:
            rows.append(facert.face_embedding(image, engine))
            labels.append(f"{path}\twhole")
            continue
        found = facert.faces(image, engine)
        if not found:
            missing.append(path)
        for face in found:
            rows.append(face.embedding)
            labels.append(f"{path}\t{','.join(str(v) for v in face.box)}")
    for path in missing:
        print(f"facert embed: no face found in {path} (for a pre-cropped face use --whole-image)", file=sys.stderr)
    if rows:
        embeddings = np.stack(rows).astype(np.float32)
        if args.output:
            np.save(args.output, embeddings)
            print(f"wrote {args.output}: {len(rows)} embeddings of dim {embeddings.shape[1]}; rows:")
            for i, label in enumerate(labels):
                print(f"{i}\t{label}")
        else:
            for label, vector in zip(labels, embeddings):
                print(f"{label}\t" + " ".join(f"{v:.7g}" for v in vector))
    return 1 if missing else 0
