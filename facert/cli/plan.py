"""facert plan: the execution plan a device (or a device-profile file) gets, and every plan family's predicted
latency beside the chosen one."""
from __future__ import annotations

from pathlib import Path

PROFILES = Path(__file__).resolve().parents[1] / "profiles"


def register(sub) -> None:
    p = sub.add_parser("plan", help="print the execution plan and the predicted latency of every plan family",
                       description=__doc__)
    p.add_argument("model", nargs="?", help="sq.bin (default: the bundled model)")
    p.add_argument("--profile", help="device-profile JSON (a file, or the name of one shipped in facert/profiles: "
                   + ", ".join(sorted(f.stem for f in PROFILES.glob("*.json"))) + "); plans on paper, no device used")
    p.add_argument("--device", default="hetero", choices=["auto", "cpu", "gpu", "hetero"],
                   help="without --profile: the device the engine is created for (default hetero: measured)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16"])
    p.set_defaults(func=run)


def _profile_text(arg: str) -> str:
    path = Path(arg)
    if not path.is_file():
        path = PROFILES / (arg if arg.endswith(".json") else arg + ".json")
    if not path.is_file():
        raise FileNotFoundError(f"no device profile {arg!r} (a file, or one of "
                                f"{', '.join(sorted(f.stem for f in PROFILES.glob('*.json')))})")
    return path.read_text()


def _families(schedule: dict) -> str:
    lines = [f"costs: {schedule['cost_source']}", "plan family            predicted ms/image   measured"]
    for name, ms in schedule["families"].items():
        mark = "  <- chosen" if name == schedule["chosen"] else ""
        unit = " (per frame, throughput)" if name == "frames in flight" else ""
        measured = schedule.get("measured", {}).get(name)
        lines.append(f"  {name:<20} {ms:10.3f}{unit:<24} {'' if measured is None else f'{measured:.3f}'}{mark}")
    best_single = min(schedule["families"].get(k, float("inf")) for k in ("cpu", "gpu"))
    chosen = schedule["families"][schedule["chosen"]]
    if best_single < float("inf") and chosen > 0:
        lines.append(f"chosen vs best single device (predicted): {best_single / chosen:.2f}x")
    return "\n".join(lines)


def run(args) -> int:
    import facert
    from facert import _core

    model = args.model or str(facert.engine.DEFAULT_MODEL)
    if args.profile:
        r = _core.plan_from_profile(model, _profile_text(args.profile), args.precision)
        print(_families(r))
        print(r["plan"], end="")
        return 0
    engine = facert.Engine(model, device=args.device, precision=args.precision)
    if "schedule" in engine.info:
        print(_families(engine.info["schedule"]))
    print(f"device: {engine.info['device']}")
    print(engine.plan(), end="")
    return 0
