"""Mutated-model fuzzing of the sq.bin loader and engine, at scale.

Each mutant of a seed model (bit flips, truncations, header edits, and CRC-valid structural and data edits)
is loaded, and when it loads, embedded, by a worker subprocess, so a crash or a hang is seen as one and
costs only a restart. Every outcome is counted:
  refused  - load raised ModelError (or OSError) (the expected answer for a broken file)
  loaded   - load succeeded; the file was then re-read independently (tests/sq_reader.py) and must hold
             only finite weights, and embedding a fixed image must give a finite, unit-norm vector or an
             InputError saying why not (all-zero output)
  bad      - anything else: another exception type, or a loaded file with non-finite/out-of-range content
  crash    - the worker died (signal or exit)
  hang     - no answer within --timeout seconds
Usage (the long run, at low priority):  nice -n 19 python tools/fuzz_models.py --count 10000 --seed 1
The short soak in tests/test_soak.py runs the same code on 300 mutants.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import select
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

import model_factory as mf  # noqa: E402

OUTCOMES = ("refused", "loaded", "bad", "crash", "hang")


# ---------------------------------------------------------------------------------------------- seeds
def seed_models() -> dict[str, bytes]:
    """Small, varied, valid files: every op type, fp32 and fp16, and the bundled model when present."""
    seeds = {}
    g, t = mf.tiny(0)
    seeds["tiny_f32"] = mf.encode(g, t)
    seeds["tiny_f16"] = mf.encode(g, t, dtype="F16")
    g, t = mf.squeezenet(1, height=40, width=40, dim=16, width_mult=0.25)
    seeds["squeeze_f16"] = mf.encode(g, t, dtype="F16")
    bundled = ROOT / "facert" / "models" / "default.sq.bin"
    if bundled.exists():
        seeds["bundled"] = bundled.read_bytes()
    return seeds


# ---------------------------------------------------------------------------------------------- mutators
def _split(data: bytes):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header: dict, blob: bytes) -> bytes:
    text = mf.compact(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return mf.refresh_checksum(struct.pack("<Q", len(text)) + text + blob)


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    return bytes(b)


def flip_bits_crc_valid(data: bytes, rng: random.Random) -> bytes:
    return mf.refresh_checksum(flip_bits(data, rng))


def truncate(data: bytes, rng: random.Random) -> bytes:
    cuts = [8, mf.layout(data)["header_end"]] + [e for _, e in mf.layout(data)["tensors"].values()]
    at = rng.choice(cuts) + rng.randint(-3, 3) if rng.random() < 0.5 else rng.randrange(len(data))
    return data[:max(0, min(at, len(data) - 1))]


def _extreme(rng: random.Random):
    return rng.choice([0, -1, 1, 2, 3, 7, 65536, 65537, 1 << 31, -(1 << 31), 1 << 62, 1.5, 1e308, "3", None, [], {}])


def edit_graph(data: bytes, rng: random.Random) -> bytes:
    """A CRC-valid structural edit of the graph JSON: an op attribute, an edge, the input or the output."""
    header, blob = _split(data)
    graph = json.loads(header["__metadata__"]["graph"])
    ops = graph["ops"]
    choice = rng.randrange(6)
    op = rng.choice(ops)
    if choice == 0:  # an attribute to an extreme or wrong-typed value
        key = rng.choice([k for k in op if k not in ("type", "name")])
        if isinstance(op[key], list) and op[key] and rng.random() < 0.7:
            op[key][rng.randrange(len(op[key]))] = _extreme(rng)
        else:
            op[key] = _extreme(rng)
    elif choice == 1:  # a plausible but wrong small integer attribute (shapes must then disagree or fit)
        for key in ("kernel", "stride", "pad", "dilation"):
            if key in op:
                op[key] = [rng.randint(0, 9), rng.randint(0, 9)]
        if "groups" in op:
            op["groups"] = rng.choice([1, 2, 3, 4, 8, 16])
    elif choice == 2:  # rewire an edge, drop or duplicate an op
        r = rng.random()
        if r < 0.4:
            op["inputs"] = [rng.choice(["input"] + [o["outputs"][0] for o in ops])]
        elif r < 0.7 and len(ops) > 1:
            ops.remove(op)
        else:
            ops.insert(rng.randrange(len(ops) + 1), json.loads(json.dumps(op)))
    elif choice == 3:  # the input
        key = rng.choice(["shape", "scale", "mean", "std", "channel_order"])
        graph["input"][key] = rng.choice([[3, rng.randint(0, 5000), rng.randint(0, 5000)], 0, 1e30, -1e30,
                                          [0, 0, 0], [1e-30, 1, 1], "RGBA", [1e9, 1, 1]])
    elif choice == 4:  # the output
        graph["output"][rng.choice(["dim", "name", "l2_normalize"])] = _extreme(rng)
    else:  # activation and type names
        key = rng.choice(["activation", "type"]) if "activation" in op else "type"
        op[key] = rng.choice(["relu", "relu6", "none", "gelu", "conv2d", "linear", "maxpool2d", "concat", ""])
    header["__metadata__"]["graph"] = mf.compact(graph)
    return _join(header, blob)


def edit_tensor_table(data: bytes, rng: random.Random) -> bytes:
    """A CRC-valid edit of one tensor entry: dtype, shape or offsets."""
    header, blob = _split(data)
    name = rng.choice([k for k in header if k != "__metadata__"])
    entry = header[name]
    key = rng.choice(["dtype", "shape", "data_offsets", "extra"])
    if key == "dtype":
        entry["dtype"] = rng.choice(["F16", "F32", "BF16", "I8", 3])
    elif key == "shape":
        s = list(entry["shape"])
        if s and rng.random() < 0.6:
            i = rng.randrange(len(s))
            s[i] = rng.choice([0, 1, s[i] * 2, s[i] // 2 or 1, 1 << 20, 1 << 30, -1])
        else:
            s = rng.choice([[], s + [1], s[::-1], [int(np.prod(s))]])
        entry["shape"] = s
    elif key == "data_offsets":
        b, e = entry["data_offsets"]
        entry["data_offsets"] = rng.choice([[b, e + 2], [b + 2, e], [e, b], [b, 1 << 62], [-1, e], [b, e, 0]])
    else:
        entry["extra"] = 1
    return _join(header, blob)


def edit_data(data: bytes, rng: random.Random) -> bytes:
    """CRC-valid: NaN, Inf or huge values written into a tensor's bytes."""
    header, blob = _split(data)
    name = rng.choice([k for k in header if k != "__metadata__"])
    entry = header[name]
    b, e = entry["data_offsets"]
    blob = bytearray(blob)
    size = 4 if entry["dtype"] == "F32" else 2
    values = {4: [b"\x00\x00\xc0\x7f", b"\x00\x00\x80\x7f", b"\x00\x00\x80\xff", b"\xff\xff\x7f\x7f"],
              2: [b"\x00\x7e", b"\x00\x7c", b"\x00\xfc", b"\xff\x7b"]}[size]
    for _ in range(rng.randint(1, 4)):
        at = b + size * rng.randrange((e - b) // size)
        blob[at:at + size] = rng.choice(values)
    return _join(header, bytes(blob))


def edit_header_text(data: bytes, rng: random.Random) -> bytes:
    """Byte-level edits inside the header text, CRC refreshed: JSON syntax errors, odd escapes, deep nesting."""
    n = struct.unpack("<Q", data[:8])[0]
    text = bytearray(data[8:8 + n])
    r = rng.random()
    if r < 0.5:
        at = rng.randrange(len(text))
        text[at:at + 1] = bytes([rng.choice(b'{}[]":,\\0123456789eE-+. \x00\xff')])
    elif r < 0.8:
        at = rng.randrange(len(text))
        text[at:at] = rng.choice([b"[" * 100, b'"\\ud800"', b"1e999", b"-0", b'"\xc0\xaf"'])
    else:
        del text[rng.randrange(len(text)):]
    return mf.refresh_checksum(struct.pack("<Q", len(text)) + bytes(text) + data[8 + n:])


MUTATORS = [flip_bits, flip_bits_crc_valid, truncate, edit_graph, edit_graph, edit_tensor_table, edit_data,
            edit_header_text]


def mutants(count: int, seed: int):
    """Yields (name, bytes) deterministically from `seed`."""
    rng = random.Random(seed)
    seeds = seed_models()
    names = sorted(seeds)
    for i in range(count):
        source = names[i % len(names)]
        mutate = rng.choice(MUTATORS)
        data = seeds[source]
        for step in range(1 if rng.random() < 0.8 else 2):
            try:
                data = mutate(data, rng)
            except (ValueError, KeyError, IndexError, TypeError, struct.error):
                if step == 0:
                    raise
                data = flip_bits(data, rng)  # a structural edit of a file the first edit already broke
        yield f"{i:05d}_{source}_{mutate.__name__}", data


# ---------------------------------------------------------------------------------------------- the worker
WORKER = r'''
import json, sys, numpy as np
sys.path.insert(0, sys.argv[1])
import facert
from facert import _core
from sq_reader import read_sq
IMG = np.random.default_rng(0).integers(0, 256, (37, 29, 3), dtype=np.uint8)
for line in sys.stdin:
    path = line.strip()
    try:
        _core.load_model_info(path)
    except (facert.ModelError, OSError) as e:
        print(json.dumps({"outcome": "refused", "why": str(e)[-200:]}), flush=True)
        continue
    except Exception as e:
        print(json.dumps({"outcome": "bad", "why": "load raised " + type(e).__name__ + ": " + str(e)[-200:]}), flush=True)
        continue
    problems = []
    try:
        sq = read_sq(path)
        for name, t in sq.tensors.items():
            if not np.isfinite(t.astype(np.float64)).all():
                problems.append("non-finite weight " + name)
        inp = sq.graph["input"]
        for v in [inp["scale"], *inp["mean"], *inp["std"]]:
            if not (abs(v) <= 1e6):
                problems.append("input constant out of range")
        e = facert.Engine(path, device="cpu", threads=1)
        try:
            v = e.embed(IMG)
            if not np.isfinite(v).all():
                problems.append("non-finite embedding")
            elif sq.graph["output"]["l2_normalize"] and abs(float(np.linalg.norm(v)) - 1) > 1e-3:
                problems.append("embedding norm %.4f" % float(np.linalg.norm(v)))
        except facert.InputError as ex:
            if "all zeros" not in str(ex) and "non-finite" not in str(ex):
                problems.append("embed: " + str(ex)[-120:])
    except Exception as ex:
        problems.append(type(ex).__name__ + ": " + str(ex)[-200:])
    print(json.dumps({"outcome": "bad" if problems else "loaded", "why": "; ".join(problems)}), flush=True)
'''


class Worker:
    def __init__(self):
        # cwd "/": the installed facert (with its compiled core) is imported, not the source folder
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, str(ROOT / "tests")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True, bufsize=1, cwd="/")

    def ask(self, path: str, timeout: float) -> dict:
        self.proc.stdin.write(path + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            return {"outcome": "hang", "why": f"no answer in {timeout} s"}
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.stderr.seek(0)
            return {"outcome": "crash", "why": f"worker exited with {code}: {self.stderr.read()[-300:]}"}
        return json.loads(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self):
        if self.alive():
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def run(count: int, seed: int, timeout: float, folder: Path, keep: bool = False, progress: bool = False):
    """Returns (Counter of outcomes, list of (name, outcome, why) for everything not refused/loaded)."""
    counts, findings = Counter(), []
    worker = Worker()
    t0 = time.time()
    try:
        for i, (name, data) in enumerate(mutants(count, seed)):
            path = folder / f"{name}.sq.bin"
            path.write_bytes(data)
            result = worker.ask(str(path), timeout)
            counts[result["outcome"]] += 1
            if result["outcome"] not in ("refused", "loaded"):
                findings.append((name, result["outcome"], result["why"]))
                keep_path = folder / "findings"
                keep_path.mkdir(exist_ok=True)
                path.rename(keep_path / path.name)
            elif not keep:
                path.unlink()
            if not worker.alive():
                worker = Worker()
            if progress and (i + 1) % 500 == 0:
                print(f"{i + 1}/{count} {dict(counts)} {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        worker.close()
    return counts, findings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per file before it counts as a hang")
    ap.add_argument("--out", type=Path, default=None, help="folder for mutants and findings (default: a temp dir)")
    args = ap.parse_args()
    os.nice(10)
    folder = args.out or Path(tempfile.mkdtemp(prefix="facert_fuzz_"))
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    counts, findings = run(args.count, args.seed, args.timeout, folder, progress=True)
    summary = {o: counts.get(o, 0) for o in OUTCOMES}
    summary.update(files=args.count, seed=args.seed, seconds=round(time.time() - t0), findings_dir=str(folder))
    print(json.dumps(summary))
    for name, outcome, why in findings[:50]:
        print(f"  {outcome:6s} {name}: {why}")
    return 0 if not findings else 1


if __name__ == "__main__":
    sys.exit(main())
