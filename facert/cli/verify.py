"""`facert verify A B`: are the largest faces in two photos the same person?"""
from __future__ import annotations


def register(subparsers) -> None:
    from facert.cli import threshold_arg

    p = subparsers.add_parser("verify", help="same person or not, for the largest face in two photos")
    p.add_argument("image_a")
    p.add_argument("image_b")
    p.add_argument("--model", default=None, help="sq.bin to use (default: the bundled model)")
    p.add_argument("--threshold", type=threshold_arg, default=None,
                   help="cosine threshold in [-1, 1] (default: the model's verify_threshold)")
    p.set_defaults(func=run)


def run(args) -> int:
    import facert
    from facert.cli.embed import read_image

    imgs = [read_image(path) for path in (args.image_a, args.image_b)]
    engine = facert.Engine(args.model)
    res = facert.verify(imgs[0], imgs[1], engine=engine, threshold=args.threshold,
                        names=(args.image_a, args.image_b))
    print(f"{'same person' if res.same else 'different people'}: cosine {res.score:.4f} "
          f"(threshold {res.threshold:.4f}); faces {res.face_a.box} and {res.face_b.box}")
    return 0
