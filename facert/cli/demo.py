"""`facert demo [IMG...]`: who-matches-whom on face photos, with the bundled model."""
from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    from facert.cli import threshold_arg

    p = subparsers.add_parser("demo", help="embed face photos and print a same/different matrix",
                              description="Embed the largest face in each photo (default: the photos in "
                                          "../shared/data/people) and print a same/different matrix with "
                                          "scores and the time per face.")
    p.add_argument("images", nargs="*", type=Path, help="photos (default: ../shared/data/people/<name>/*)")
    p.add_argument("--model", default=None, help="sq.bin to use (default: the bundled model)")
    p.add_argument("--threshold", type=threshold_arg, default=None,
                   help="cosine threshold in [-1, 1] (default: the model's verify_threshold)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: physical cores)")
    p.set_defaults(func=run)


def run(args) -> int:
    import facert
    from facert.demo import default_photos, find_people_dir, run_demo
    from facert.verify import model_threshold

    paths = list(args.images)
    if not paths:
        people = find_people_dir()
        if people is None:
            print("facert demo: error: no photos given and ../shared/data/people not found", file=sys.stderr)
            return 2
        paths = default_photos(people)
        print(f"photos from {people}")
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        print(f"facert demo: error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    engine = facert.Engine(args.model, threads=args.threads)
    threshold = args.threshold if args.threshold is not None else model_threshold(engine)
    info = engine.info
    print(f"model: {info.get('arch')} {engine.dim}-d, input {tuple(engine.input_shape)}, "
          f"{info.get('threads')} threads, isa {info.get('isa')}")
    run_demo(paths, engine, threshold)
    return 0
