"""`facert distill`: distil dlib's face descriptor into a SqueezeNet v1.1 student checkpoint."""


def register(subparsers) -> None:
    from facert.distill.train import add_arguments

    p = subparsers.add_parser(
        "distill", help="train a SqueezeNet v1.1 student from dlib's face descriptor (needs torch, dlib-bin, "
                        "face-recognition-models)",
        description="Distil dlib's ResNet face descriptor into a SqueezeNet v1.1 student on the run-time "
                    "crops facert.detect(detector='mtcnn') + facert.align produce, with an identity term "
                    "where the transfer set has identity folders; writes a checkpoint for `facert convert`.")
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from facert.distill.train import run

    run(args)
    return 0
