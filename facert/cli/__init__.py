"""The `facert` command: one module per subcommand, each exposing register(subparsers)."""
import argparse
import importlib
import sys

# Subcommand modules, in the order `facert --help` lists them. Each defines
# register(subparsers) which adds its parser and sets `func` to a callable(args) -> int.
SUBCOMMANDS = ["convert", "info", "embed", "devices", "plan", "verify", "demo", "eval_pairs", "distill"]


def threshold_arg(text: str) -> float:
    """argparse type for --threshold: a cosine in [-1, 1]."""
    from facert.verify import check_threshold

    try:
        return check_threshold(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    from facert import __version__

    parser = argparse.ArgumentParser(prog="facert", description="face-embedding inference runtime")
    parser.add_argument("--version", action="version", version=f"facert {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"facert.cli.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    from facert.errors import DeviceError, InputError, ModelError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ModelError, InputError, DeviceError, OSError) as exc:
        # a user error (bad file, no face, no device): the message says what to do, a traceback would not
        print(f"facert {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
