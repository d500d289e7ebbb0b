"""The lent GPU machine's OpenCL figures for issue 9, checked before they are timed (tools/device_check.sh runs
this there, then tools/bench_report.py for the many-core CPU rows).

For the SqueezeNet v1.1 student with a 128-d head (random weights, as bench_report's) at each --sizes:
  - Engine(device="gpu") creation, cold (empty cache folder) and warm, with engine.info's breakdown
    (enumerate, context, program build or cache load, warm-up, whole engine);
  - OpenCL forward, fp32 and fp16, batch 1 and 64: median ms, and the largest error against PyTorch (float64);
  - PyTorch eager CUDA at the same batches, where torch sees a GPU (the issue's yardstick).
Writes OUT/device_check.json and prints a Markdown table. Here (PoCL) it runs as a smoke test of itself:
    python tools/device_check.py --out /tmp/device_check --sizes 112 --batches 1 4 --runs 3
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import Network  # noqa: E402  (the same random student as the CPU report)

TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}   # of the output's scale; fp16 storage rounds every activation


def median_ms(fn, runs: int) -> float:
    fn()  # warm: tuning, first-launch compilation
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def creation(sq_bin: Path, precision: str, cache: Path, warm: int) -> list:
    """engine.info["opencl"]'s *_ms figures for one cold and `warm` cached creations."""
    import os

    import facert

    rows, before = [], os.environ.get("FACERT_CACHE_DIR")
    os.environ["FACERT_CACHE_DIR"] = str(cache)
    try:
        for k in range(1 + warm):
            start = time.perf_counter()
            engine = facert.Engine(str(sq_bin), device="gpu", precision=precision)
            row = {"cache": "cold" if k == 0 else "warm", "wall_ms": 1e3 * (time.perf_counter() - start)}
            row.update({key: float(v) for key, v in engine.info["opencl"].items() if key.endswith("_ms")})
            rows.append(row)
    finally:
        if before is None:
            os.environ.pop("FACERT_CACHE_DIR")
        else:
            os.environ["FACERT_CACHE_DIR"] = before
    return rows


def opencl_rows(net: Network, batches: list, runs: int, work: Path) -> list:
    import facert

    rows = []
    for precision in ("fp32", "fp16"):
        made = creation(net.sq_bin, precision, work / f"cache_{net.size}_{precision}", warm=3)
        engine = facert.Engine(str(net.sq_bin), device="gpu", precision=precision)
        for batch in batches:
            x, expected = net.inputs(batch)
            error = float(np.abs(engine.forward(x) - expected).max() / np.abs(expected).max())
            if error > TOLERANCE[precision]:
                raise SystemExit(f"OpenCL {precision} {net.size} px batch {batch}: error {error:.2e} over "
                                 f"{TOLERANCE[precision]:.0e}; not timed")
            rows.append({"size": net.size, "precision": precision, "batch": batch, "error": error,
                         "ms": median_ms(lambda: engine.forward(x), runs), "device": engine.info["opencl"]["device"],
                         "creation": made})
    return rows


def cuda_rows(net: Network, batches: list, runs: int) -> list:
    import torch

    if not torch.cuda.is_available():
        return []
    model = net.model.cuda()
    rows = []
    for batch in batches:
        x, expected = net.inputs(batch)
        xt = torch.from_numpy(x).cuda()

        def run():
            with torch.no_grad():
                out = model(xt)
            torch.cuda.synchronize()
            return out
        error = float(np.abs(run().cpu().numpy() - expected).max() / np.abs(expected).max())
        rows.append({"size": net.size, "batch": batch, "error": error, "ms": median_ms(run, runs),
                     "device": torch.cuda.get_device_name()})
    net.model.cpu()
    return rows


def markdown(result: dict) -> str:
    lines = ["| size | batch | OpenCL fp32 ms | OpenCL fp16 ms | PyTorch CUDA eager ms |", "|---|---|---|---|---|"]
    cuda = {(r["size"], r["batch"]): r["ms"] for r in result["cuda"]}
    cl = {(r["size"], r["precision"], r["batch"]): r["ms"] for r in result["opencl"]}
    for size, batch in sorted({(r["size"], r["batch"]) for r in result["opencl"]}):
        torch_ms = f"{cuda[(size, batch)]:.3f}" if (size, batch) in cuda else "-"
        lines.append(f"| {size} | {batch} | {cl[(size, 'fp32', batch)]:.3f} | {cl[(size, 'fp16', batch)]:.3f} | "
                     f"{torch_ms} |")
    lines += ["", "Engine(device='gpu') creation, ms (cold, then warm cache):"]
    for r in result["opencl"]:
        if r["batch"] == result["opencl"][0]["batch"]:
            for c in r["creation"]:
                lines.append(f"- {r['size']} px {r['precision']} {c['cache']}: " +
                             ", ".join(f"{k[:-3] if k.endswith('_ms') else k} {v:.1f}" for k, v in c.items()
                                       if k != "cache"))
    return "\n".join(lines)


def main(argv=None) -> int:
    import facert

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[112, 224])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    status = facert._core.opencl_status()
    if not status["available"]:
        raise SystemExit(f"no OpenCL device: {status['reason']}")
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "opencl_status": status,
              "devices": facert._core.opencl_devices(), "opencl": [], "cuda": []}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            net = Network(size, Path(tmp) / str(size))
            result["opencl"] += opencl_rows(net, args.batches, args.runs, Path(tmp))
            result["cuda"] += cuda_rows(net, args.batches, args.runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "device_check.json").write_text(json.dumps(result, indent=1, default=str))
    table = markdown(result)
    (args.out / "device_check.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
