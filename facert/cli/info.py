"""`facert info sq.bin`: what a model file holds, as validated by the C++ loader."""
from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="describe an sq.bin model file (validates it, checksum included)")
    p.add_argument("model", help="an sq.bin file")
    p.add_argument("--json", action="store_true", help="print the loader's full description as JSON")
    p.set_defaults(func=run)


def _format(info: dict, path: str) -> list:
    inp, out = info["input"], info["output"]
    c, h, w = inp["shape"]
    lines = [
        f"file:         {path}",
        f"checksum:     {info['checksum']}",
        f"architecture: {info['arch']} (format version {info['format_version']})",
        f"input:        {inp['name']} {c}x{h}x{w} {inp['channel_order']}, "
        f"x = (pixel * {inp['scale']:.9g} - mean) / std, mean {list(inp['mean'])}, std {list(inp['std'])}",
        f"output:       {out['name']} dim {out['dim']}" + (", L2-normalised" if out["l2_normalize"] else ""),
        f"params:       {info['params']:,}",
        f"MACs:         {info['macs']:,} ({info['macs'] / 1e6:.1f} M, batch 1)",
    ]
    shown_above = ("graph", "format", "format_version", "checksum")
    meta = {k: v for k, v in info.get("metadata", {}).items() if k not in shown_above}
    if meta:
        lines.append("metadata:     " + ", ".join(f"{k}={v}" for k, v in sorted(meta.items())))
    lines.append(f"ops ({len(info['ops'])}):")
    width = max(len(op["name"]) for op in info["ops"]) if info["ops"] else 4
    for op in info["ops"]:
        shape = "x".join(str(d) for d in op["shape"])
        lines.append(f"  {op['name']:<{width}}  {op['type']:<14} -> {shape:<12} "
                     f"params {op['params']:>9,}  MACs {op['macs']:>12,}")
    return lines


def run(args) -> int:
    from facert import _core

    try:
        info = _core.load_model_info(args.model)
    except (_core.ModelError, FileNotFoundError) as exc:   # the loader's message names the file
        print(f"facert info: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print("\n".join(_format(info, args.model)))
    return 0
