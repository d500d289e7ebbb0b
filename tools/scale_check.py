"""Scale checks of one process's engine use, with figures for the record:
  threads - one Engine shared by 8 threads x N embeds, bitwise equal to the same embeds from one thread
  rss     - Engines created and dropped M times, then K embeds on one Engine: resident memory must stay flat
            (sampled 30 times after a warm-up; the floor must not rise, see floor_growth)
Each check runs per device: "cpu", and "gpu" when an OpenCL device is present (PoCL counts).
Usage: nice python tools/scale_check.py [--embeds 1000] [--cycles 500] [--rss-embeds 10000] [--model PATH]
Prints one JSON line per check; exits 1 when a check fails. Timing figures are for orientation only.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import facert
from facert import _core

ROOT = Path(__file__).resolve().parent.parent


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import resource
    return pages * resource.getpagesize() / 2**20


def images(count: int) -> list[np.ndarray]:
    """Real photos when the shared data folder has them (cropped and resized variously), else noise."""
    rng = np.random.default_rng(0)
    photos = []
    data = Path("/work/shared/data")
    try:
        import cv2
        for p in sorted(data.rglob("*.jpg"))[:count]:
            img = cv2.imread(str(p))
            if img is not None:
                photos.append(img)
    except ImportError:
        pass
    out = []
    for i in range(count):
        if photos:
            img = photos[i % len(photos)]
            h, w = img.shape[:2]
            y, x = rng.integers(0, max(1, h // 4)), rng.integers(0, max(1, w // 4))
            out.append(np.ascontiguousarray(img[y:y + h // 2 + 1, x:x + w // 2 + 1]))
        else:
            out.append(rng.integers(0, 256, (80 + i % 40, 70 + i % 30, 3), dtype=np.uint8))
    return out


def check_threads(model: str, device: str, per_thread: int, cache_dir: str) -> dict:
    e = facert.Engine(model, device=device, cache_dir=cache_dir)
    imgs = images(50)
    t0 = time.time()
    reference = [e.embed(img) for img in imgs]  # one thread

    def worker(k):
        return sum(not np.array_equal(e.embed(imgs[(i + k) % len(imgs)]), reference[(i + k) % len(imgs)])
                   for i in range(per_thread))
    with ThreadPoolExecutor(8) as pool:
        mismatches = sum(pool.map(worker, range(8)))
    return {"check": "threads", "device": e.device, "threads": 8, "embeds_per_thread": per_thread,
            "results": 8 * per_thread, "mismatches": int(mismatches), "ok": mismatches == 0,
            "seconds": round(time.time() - t0, 1)}


def floor_growth(samples: list[float]) -> float:
    """Growth of the RSS floor: min of the last third minus min of the first third. A leak raises the floor;
    the allocator handing a freed buffer back to the OS and taking it again (PoCL: +-15 MiB swings) does not."""
    third = max(1, len(samples) // 3)
    return min(samples[-third:]) - min(samples[:third])


def check_rss(model: str, device: str, cycles: int, embeds: int, cache_dir: str) -> dict:
    img = images(1)[0]
    warm = max(10, cycles // 10)
    t0 = time.time()
    cycle_rss, embed_rss = [], []
    for i in range(cycles):
        e = facert.Engine(model, device=device, cache_dir=cache_dir)
        e.embed(img)
        del e
        if i + 1 >= warm and (i + 1) % max(1, cycles // 30) == 0:
            cycle_rss.append(rss_mib())
    e = facert.Engine(model, device=device, cache_dir=cache_dir)
    for i in range(embeds):
        e.embed(img)
        if i + 1 >= max(10, embeds // 10) and (i + 1) % max(1, embeds // 30) == 0:
            embed_rss.append(rss_mib())
    cycle_growth, embed_growth = floor_growth(cycle_rss), floor_growth(embed_rss)
    # flat: the floor moves under 4 MiB over hundreds of cycles / thousands of embeds (a leak of one arena
    # or one program per cycle would be hundreds of MiB)
    return {"check": "rss", "device": e.device, "cycles": cycles, "embeds": embeds,
            "cycle_rss_mib_min_max": [round(min(cycle_rss), 1), round(max(cycle_rss), 1)],
            "embed_rss_mib_min_max": [round(min(embed_rss), 1), round(max(embed_rss), 1)],
            "cycle_floor_growth_mib": round(cycle_growth, 1), "embed_floor_growth_mib": round(embed_growth, 1),
            "ok": cycle_growth < 4 and embed_growth < 4, "seconds": round(time.time() - t0, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "facert" / "models" / "default.sq.bin"))
    ap.add_argument("--embeds", type=int, default=1000, help="embeds per thread (8 threads)")
    ap.add_argument("--cycles", type=int, default=500, help="Engine create/drop cycles")
    ap.add_argument("--rss-embeds", type=int, default=10000)
    ap.add_argument("--devices", default="cpu,gpu")
    args = ap.parse_args()
    cache_dir = tempfile.mkdtemp(prefix="facert_scale_")
    devices = [d for d in args.devices.split(",") if d != "gpu" or _core.opencl_status()["available"]]
    ok = True
    for device in devices:
        for result in (check_threads(args.model, device, args.embeds, cache_dir),
                       check_rss(args.model, device, args.cycles, args.rss_embeds, cache_dir)):
            print(json.dumps(result), flush=True)
            ok = ok and result["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
