"""The `facert` command: one module per subcommand, each exposing register(subparsers)."""
import argparse
import importlib
import sys

# Subcommand modules, in the order `facert --help` lists them. Each defines
# register(subparsers) which adds its parser and sets `func` to a callable(args) -> int.
SUBCOMMANDS = ["convert", "info", "embed", "devices", "plan", "verify", "demo", "eval_pairs", "distill"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facert", description="face-embedding inference runtime")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"facert.cli.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
