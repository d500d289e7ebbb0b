"""`facert convert CKPT -o sq.bin`: a SqueezeNet v1.1 student checkpoint to facert's model file."""
from __future__ import annotations

import argparse
import sys


def _input_size(text: str):
    # "112" or "112x96" (height x width)
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return tuple(values)
    raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}")


def _meta(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def register(subparsers) -> None:
    p = subparsers.add_parser("convert", help="convert a PyTorch SqueezeNet v1.1 student checkpoint to sq.bin",
                              description="Convert a PyTorch SqueezeNet v1.1 student (state_dict in any usual "
                                          "layout, or TorchScript) to sq.bin, then verify it against PyTorch.")
    p.add_argument("checkpoint", help="a .pth/.pt checkpoint or TorchScript archive")
    p.add_argument("-o", "--output", required=True, help="the sq.bin to write")
    p.add_argument("--input-size", type=_input_size, default=None, metavar="N|HxW",
                   help="network input size (default: the checkpoint's config, else 112)")
    p.add_argument("--fp16", action="store_true", help="store weights as float16 (half the file size)")
    p.add_argument("--channel-order", choices=["RGB", "BGR"], default=None,
                   help="channel order the network was trained on (default: the checkpoint's config, else RGB)")
    p.add_argument("--mean", type=float, nargs="+", metavar="M",
                   help="1 or 3 values; required unless the checkpoint's config says (ImageNet: 0.485 0.456 0.406)")
    p.add_argument("--std", type=float, nargs="+", metavar="S",
                   help="1 or 3 values; required unless the checkpoint's config says (ImageNet: 0.229 0.224 0.225)")
    p.add_argument("--scale", type=float, default=None,
                   help="pixel scale before mean/std: x = (pixel*scale - mean)/std (default 1/255)")
    p.add_argument("--head-activation", choices=["relu", "none"], default=None,
                   help="ReLU after the head or not; required unless the checkpoint tells (TorchScript graph, "
                        "a pickled module, or the config entry facert distill writes)")
    p.add_argument("--bn-eps", type=float, default=1e-5, help="BatchNorm eps (a state_dict does not store it)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow pickled Python objects and TorchScript archives (both run code from the file)")
    p.add_argument("--no-verify", action="store_true", help="skip the PyTorch-vs-facert check")
    p.add_argument("--meta", type=_meta, action="append", default=[], metavar="KEY=VALUE",
                   help="add a string entry to the file's __metadata__ (repeatable)")
    p.set_defaults(func=run)


def run(args) -> int:
    from facert.convert import ConvertError, VerificationError, convert_checkpoint

    try:
        report = convert_checkpoint(
            args.checkpoint, args.output, input_size=args.input_size, channel_order=args.channel_order,
            mean=args.mean, std=args.std, scale=args.scale, fp16=args.fp16,
            head_activation=args.head_activation, trust_pickle=args.trust_pickle, verify=not args.no_verify,
            metadata=dict(args.meta), bn_eps=args.bn_eps)
    except VerificationError as exc:
        report = getattr(exc, "report", None)
        for line in report.lines() if report is not None else []:
            print(line)
        print(f"facert convert: error: {exc}", file=sys.stderr)
        return 1
    except (ConvertError, FileNotFoundError) as exc:
        print(f"facert convert: error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:   # no torch: the message carries the install advice
        print(f"facert convert: error: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    return 0
