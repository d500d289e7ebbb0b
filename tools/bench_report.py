"""facert's CPU engine beside ONNX Runtime, OpenVINO and ncnn (those installed), in one interleaved run.

The network is SqueezeNet v1.1 with a 128-d head (the distillation student, random weights), fp32. Every
runtime's output is checked against PyTorch before and after it is timed, so no row reports the speed of a
wrong answer. Configurations: input size x threads x batch (batch > 1 is reported per image). Rounds are
interleaved: each round times every runtime on every configuration once, so load from other processes
spreads over all of them; the report gives the median over rounds. Before each sample the machine idles for
--settle seconds, so no runtime is timed while the previous one's spinning workers still hold a core, then
runs it untimed for --warmup seconds: after an idle pause the cores take tens of inferences to reach full speed
(measured: the first at 2.5x, runs 2-12 at 1.1-1.4x the steady time on two threads), which is the cold-start
table's subject, not this one's. Writes
    OUT/bench.json   every sample, the machine (CPU model, cores, load average), versions and the date
    OUT/bench.md     medians (ms), facert / best peer, % of the FMA peak; cold start (import, load, first
                     inference, peak RSS) of facert and ONNX Runtime in fresh processes, beside python + numpy
    OUT/bench.png    latency by runtime, size and threads; % of the FMA peak (needs matplotlib)
Usage:
    python tools/bench_report.py --out bench_out [--sizes 112 224] [--threads 1 2] [--batches 1 16]
        [--rounds 9] [--isas auto avx2] [--runtimes facert onnxruntime openvino ncnn] [--cold-rounds 7]
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PEERS = ("onnxruntime", "openvino", "ncnn")
# fp32 runtimes differ in summation order: 1e-4 of the output's scale. ncnn's default Winograd 3x3
# convolutions round further from PyTorch (measured 5.8e-4): 2e-3 for it.
TOLERANCE = {"ncnn": 2e-3}
DEFAULT_TOLERANCE = 1e-4


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


PEAK_C = r"""
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
/* fp32 FMAs per second on one core: 12 independent chains of the widest FMA this compiler targets. */
#if defined(__AVX512F__)
typedef __m512 V; enum { LANES = 16 };
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define SET(x) _mm512_set1_ps(x)
#else
typedef __m256 V; enum { LANES = 8 };
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define SET(x) _mm256_set1_ps(x)
#endif
int main(void) {
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    V a[12], m = SET(0.9999f);
    for (int i = 0; i < 12; ++i) a[i] = SET(1.f);
    struct timespec t0, t1;
    long n = 4000000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long it = 0; it < n; ++it) {
      /* unrolled so the 12 chains live in registers: a loop over a[] in memory measured 2.5x too low */
      _Pragma("GCC unroll 12") for (int i = 0; i < 12; ++i) a[i] = FMA(a[i], m, m);
      __asm__ volatile("" : "+x"(m));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    float sink = 0; for (int i = 0; i < 12; ++i) sink += ((float*)&a[i])[0];
    double s = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    double rate = 12.0 * n * LANES / s;
    if (rate > best) best = rate;
    if (sink == 12345.f) printf("-");
  }
  printf("%g\n", best);
  return 0;
}
"""


class FmaPeak:
    """One core's fp32 FMA rate (multiply-adds per second), measured by a tiny C program compiled here, once
    per round: the maximum over rounds is the figure least disturbed by other processes. Unavailable (None)
    without a C compiler or off x86."""

    def __init__(self, folder: Path):
        self.exe, self.best = None, None
        cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        if cc is None or platform.machine().lower() not in ("x86_64", "amd64"):
            return
        src, exe = folder / "peak.c", folder / "peak"
        src.write_text(PEAK_C)
        if subprocess.run([cc, "-O2", "-march=native", str(src), "-o", str(exe)], capture_output=True).returncode == 0:
            self.exe = exe

    def sample(self) -> None:
        if self.exe is None:
            return
        out = subprocess.run([str(self.exe)], capture_output=True, text=True)
        if out.returncode == 0:
            self.best = max(self.best or 0.0, float(out.stdout))


class Network:
    """One random student at one input size: torch module, sq.bin, ONNX (dynamic batch) and ncnn files."""

    def __init__(self, size: int, folder: Path):
        import torch
        from facert.cli import main as facert_cli
        from facert.distill.student import SqueezeNetEmbedder

        torch.manual_seed(0)
        self.size = size
        self.model = SqueezeNetEmbedder(dim=128).eval()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        checkpoint = folder / "student.pth"
        torch.save({"student": self.model.state_dict(), "epoch": 0}, checkpoint)
        self.sq_bin = folder / "student.sq.bin"
        # the runtimes are fed the same normalised tensor: the stored normalisation only has to be stated
        if facert_cli(["convert", str(checkpoint), "-o", str(self.sq_bin), "--input-size", str(size),
                       "--head-activation", "none", "--mean", "0.5", "--std", "0.5", "--no-verify"]) != 0:
            raise RuntimeError("facert convert failed on the benchmark network (its message is above)")
        self.example = torch.rand(1, 3, size, size)

    @functools.cached_property
    def onnx(self) -> Path:
        """The ONNX file (dynamic batch), exported when a peer first needs it."""
        import torch

        path = self.folder / "student.onnx"
        torch.onnx.export(self.model, (self.example,), str(path), dynamo=False, input_names=["input"],
                          output_names=["embedding"], dynamic_axes={"input": {0: "n"}, "embedding": {0: "n"}})
        return path

    def inputs(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        x = np.random.default_rng(batch).random((batch, 3, self.size, self.size), dtype=np.float32)
        with torch.no_grad():
            expected = self.model(torch.from_numpy(x)).numpy()
        return x, expected


def make_runner(runtime: str, net: Network, threads: int, batch: int):
    """A function x (batch, 3, H, W) -> (batch, 128), or None when the runtime is not installed."""
    if runtime.startswith("facert"):
        import facert

        isa = runtime.split(":", 1)[1] if ":" in runtime else "auto"
        engine = facert.Engine(str(net.sq_bin), device="cpu", threads=threads, isa=isa)
        return engine.forward
    if runtime == "onnxruntime":
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(net.onnx), options, providers=["CPUExecutionProvider"])
        return lambda x: session.run(None, {"input": x})[0]
    if runtime == "openvino":
        try:
            import openvino as ov
        except ImportError:
            return None
        core = ov.Core()
        model = core.read_model(str(net.onnx))
        model.reshape([batch, 3, net.size, net.size])
        compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                                                     "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()

        def run_ov(x):
            request.infer({0: x})
            return request.get_output_tensor(0).data.copy()
        return run_ov
    if runtime == "ncnn":
        try:
            import ncnn
            import pnnx
        except ImportError:
            return None
        stem = net.folder / "student_pnnx"
        param, weights = Path(f"{stem}.ncnn.param"), Path(f"{stem}.ncnn.bin")
        if not param.exists():
            pnnx.export(net.model, f"{stem}.pt", (net.example,))
        model = ncnn.Net()
        model.opt.num_threads = threads
        model.opt.use_fp16_packed = model.opt.use_fp16_storage = model.opt.use_fp16_arithmetic = False
        model.load_param(str(param))
        model.load_model(str(weights))

        def run_ncnn(x):  # ncnn's extractor takes one image: a batch is a loop
            outs = []
            for image in x:
                extractor = model.create_extractor()
                extractor.input("in0", ncnn.Mat(np.ascontiguousarray(image)))
                _, out = extractor.extract("out0")
                outs.append(np.array(out).reshape(-1))
            return np.stack(outs)
        return run_ncnn
    raise ValueError(f"unknown runtime {runtime!r}")


def check(runtime: str, out: np.ndarray, expected: np.ndarray) -> float:
    """Max abs error relative to the output's scale; raises when above the runtime's tolerance."""
    err = float(np.abs(np.asarray(out, np.float64) - expected).max() / np.abs(expected).max())
    tolerance = TOLERANCE.get(runtime.split(":")[0], DEFAULT_TOLERANCE)
    if not (out.shape == expected.shape and err <= tolerance):
        raise AssertionError(f"{runtime}: output differs from PyTorch (shape {out.shape}, rel err {err:.2e} > "
                             f"{tolerance:.0e})")
    return err


def time_call(fn, x, min_seconds: float) -> float:
    """Seconds per call: the mean over as many calls as fill min_seconds (at least one)."""
    calls, start = 0, time.perf_counter()
    while True:
        fn(x)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


# One fresh process: python + numpy, then the runtime's import, model load, first and steady inference, peak RSS.
COLD_START_CHILD = r"""
import json, resource, statistics, sys, time
t0 = time.perf_counter()
import numpy as np
t1 = time.perf_counter()
runtime, model, size, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out = {"numpy_ms": 1e3 * (t1 - t0)}
if runtime != "numpy":
    x = np.linspace(0, 1, 3 * size * size, dtype=np.float32).reshape(1, 3, size, size)
    if runtime == "facert":
        import facert
        t2 = time.perf_counter()
        engine = facert.Engine(model, device="cpu", threads=threads)
        fn = engine.forward
    else:
        import onnxruntime as ort
        t2 = time.perf_counter()
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        fn = lambda x: session.run(None, {"input": x})
    t3 = time.perf_counter()
    fn(x)
    t4 = time.perf_counter()
    steady = []
    for _ in range(20):
        a = time.perf_counter()
        fn(x)
        steady.append(time.perf_counter() - a)
    out.update(import_ms=1e3 * (t2 - t1), load_ms=1e3 * (t3 - t2), first_ms=1e3 * (t4 - t3),
               steady_ms=1e3 * statistics.median(steady))
try:  # VmHWM starts afresh at exec; ru_maxrss would include the forking parent's peak
    out["rss_mb"] = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024
except OSError:
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


# numpy's OpenBLAS starts a worker that spins for ~0.1-0.3 s after `import numpy` (on a 2-CPU machine it takes one
# CPU: a runtime's second thread then shares the first's, and its first and "steady" inferences run at one thread's
# speed or worse). The children keep it asleep, so the figures are the runtimes' own.
COLD_START_ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")


def cold_start(net, threads: list, rounds: int) -> list:
    """Fresh-process start-up of facert and ONNX Runtime (when installed) beside python + numpy alone, rounds
    interleaved; medians of every figure."""
    try:
        import onnxruntime  # noqa: F401
        peers = ["onnxruntime"]
    except ImportError:
        peers = []
    cases = [("numpy", 1)] + [(rt, t) for t in threads for rt in ("facert", *peers)]
    samples = {case: [] for case in cases}
    for _ in range(rounds):
        for runtime, t in cases:
            model = net.onnx if runtime == "onnxruntime" else net.sq_bin
            out = subprocess.run([sys.executable, "-c", COLD_START_CHILD, runtime, str(model), str(net.size), str(t)],
                                 capture_output=True, text=True, cwd=tempfile.gettempdir(), env=COLD_START_ENV)
            if out.returncode != 0:
                raise RuntimeError(f"cold start of {runtime} failed:\n{out.stderr}")
            samples[(runtime, t)].append(json.loads(out.stdout))
    rows = []
    for (runtime, t), runs in samples.items():
        row = {"runtime": runtime, "threads": t, "size": net.size}
        row.update({k: statistics.median(r[k] for r in runs) for k in runs[0]})
        rows.append(row)
    return rows


def run(args) -> dict:
    import facert

    runtimes = [f"facert:{isa}" if isa != "auto" else "facert" for isa in args.isas]
    runtimes += [r for r in args.runtimes if r != "facert"]
    work = Path(tempfile.mkdtemp(prefix="facert_bench_"))
    peak = FmaPeak(work)
    result = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "facert_isa": facert._core.ops.best_isa(),
                    "loadavg_start": os.getloadavg()},
        "versions": {"python": platform.python_version(), "facert": facert.__version__},
        "settings": vars(args),
        "rows": [],
    }
    for name in ("onnxruntime", "openvino", "ncnn", "torch", "numpy"):
        try:
            result["versions"][name] = __import__(name).__version__
        except (ImportError, AttributeError):
            pass
    configs = []
    for size in args.sizes:
        net = Network(size, work / f"net{size}")
        if size == args.sizes[0] and args.cold_rounds > 0:
            log("cold start")
            result["cold_start"] = cold_start(net, args.threads, args.cold_rounds)
        macs = facert.Engine(str(net.sq_bin), device="cpu", threads=1).info["macs"]
        for threads in args.threads:
            for batch in args.batches:
                x, expected = net.inputs(batch)
                row = {"size": size, "threads": threads, "batch": batch, "macs_per_image": macs,
                       "samples_ms": {}, "rel_err": {}}
                runners = {}
                for runtime in runtimes:
                    fn = make_runner(runtime, net, threads, batch)
                    if fn is None:
                        log(f"{runtime}: not installed, left out")
                        continue
                    row["rel_err"][runtime] = check(runtime, fn(x), expected)
                    fn(x)  # warm
                    runners[runtime] = fn
                    row["samples_ms"][runtime] = []
                configs.append((row, runners, x, expected))
    for r in range(args.rounds):
        log(f"round {r + 1}/{args.rounds}")
        peak.sample()
        for row, runners, x, _ in configs:
            for runtime, fn in runners.items():
                time.sleep(args.settle)  # the previous runtime's idle workers stop spinning first
                time_call(fn, x, args.warmup)
                per_call = time_call(fn, x, args.min_seconds)
                row["samples_ms"][runtime].append(1e3 * per_call / row["batch"])  # per image
    for row, runners, x, expected in configs:
        for runtime, fn in runners.items():
            check(runtime, fn(x), expected)  # still right after the timed calls
        row["median_ms"] = {k: statistics.median(v) for k, v in row["samples_ms"].items()}
        result["rows"].append(row)
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["machine"]["fma_peak_macs_per_s_1core"] = peak.best
    shutil.rmtree(work, ignore_errors=True)
    return result


def markdown(result: dict) -> str:
    rows = result["rows"]
    runtimes = list(dict.fromkeys(k for row in rows for k in row["median_ms"]))
    peers = [r for r in runtimes if not r.startswith("facert")]
    peak = result["machine"]["fma_peak_macs_per_s_1core"]
    m = result["machine"]
    lines = [f"facert beside its peers, {result['date']}, {m['cpu']} ({m['logical_cpus']} logical CPUs, facert ISA "
             f"{m['facert_isa']}), load average {m['loadavg_start'][0]:.1f} at start, {m['loadavg_end'][0]:.1f} at end.",
             "SqueezeNet v1.1 + 128-d head, fp32; median ms per image over "
             f"{result['settings']['rounds']} interleaved rounds; every output checked against PyTorch.", ""]
    head = ["input / threads / batch", *runtimes, "facert / best peer"]
    if peak:
        head.append("facert % of FMA peak")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        med = row["median_ms"]
        cells = [f"{row['size']} / {row['threads']} / {row['batch']}"]
        cells += [f"{med[r]:.3f}" if r in med else "-" for r in runtimes]
        best_peer = min((med[r] for r in peers if r in med), default=None)
        cells.append(f"{med['facert'] / best_peer:.2f}x" if best_peer and "facert" in med else "-")
        if peak:
            cells.append(f"{100 * row['macs_per_image'] / (med['facert'] * 1e-3) / (peak * row['threads']):.0f}%"
                         if "facert" in med else "-")
        lines.append("| " + " | ".join(cells) + " |")
    if peak:
        lines += ["", f"FMA peak: {peak / 1e9:.1f} G multiply-adds/s per core, measured by this tool (widest FMA, "
                  "12 chains); x threads for the multi-thread rows."]
    lines += scaling_lines(rows, runtimes)
    lines += cold_start_lines(result.get("cold_start", []))
    return "\n".join(lines) + "\n"


def cold_start_lines(rows: list) -> list:
    if not rows:
        return []
    base = next(r for r in rows if r["runtime"] == "numpy")
    lines = ["", f"Cold start at {rows[0]['size']} px, fresh processes, medians; python + numpy alone: numpy import "
             f"{base['numpy_ms']:.1f} ms, peak RSS {base['rss_mb']:.1f} MB.", "",
             "| runtime / threads | import ms | load ms | import + load ms | first inference ms | steady ms | "
             "first / steady | peak RSS MB |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["runtime"] == "numpy":
            continue
        lines.append(f"| {r['runtime']} / {r['threads']} | {r['import_ms']:.1f} | {r['load_ms']:.1f} | "
                     f"{r['import_ms'] + r['load_ms']:.1f} | {r['first_ms']:.2f} | {r['steady_ms']:.2f} | "
                     f"{r['first_ms'] / r['steady_ms']:.1f}x | {r['rss_mb']:.1f} |")
    return lines


def scaling_lines(rows: list, runtimes: list) -> list:
    """Speed-up from the fewest to each larger thread count, per runtime, size and batch (medians per image)."""
    by_key = {(r["size"], r["batch"], r["threads"]): r["median_ms"] for r in rows}
    threads = sorted({r["threads"] for r in rows})
    if len(threads) < 2:
        return []
    head = ["input / batch", *[f"{rt} {threads[0]}->{t} threads" for rt in runtimes for t in threads[1:]]]
    lines = ["", "Thread scaling (speed-up of the median per image):", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for size, batch in dict.fromkeys((r["size"], r["batch"]) for r in rows):
        base = by_key.get((size, batch, threads[0]), {})
        cells = [f"{size} / {batch}"]
        for rt in runtimes:
            for t in threads[1:]:
                other = by_key.get((size, batch, t), {})
                cells.append(f"{base[rt] / other[rt]:.2f}x" if rt in base and rt in other else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def plot(result: dict, path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = result["rows"]
    runtimes = list(dict.fromkeys(k for row in rows for k in row["median_ms"]))
    peak = result["machine"]["fma_peak_macs_per_s_1core"]
    labels = [f"{r['size']}px\n{r['threads']}t b{r['batch']}" for r in rows]
    fig, axes = plt.subplots(1, 2 if peak else 1, figsize=(14 if peak else 9, 4.5), squeeze=False)
    width = 0.8 / len(runtimes)
    for i, runtime in enumerate(runtimes):
        xs = [j + i * width for j in range(len(rows))]
        axes[0][0].bar(xs, [r["median_ms"].get(runtime, np.nan) for r in rows], width, label=runtime)
        if peak:
            pct = [100 * r["macs_per_image"] / (r["median_ms"][runtime] * 1e-3) / (peak * r["threads"])
                   if runtime in r["median_ms"] else np.nan for r in rows]
            axes[0][1].bar(xs, pct, width, label=runtime)
    for ax, title in zip(axes[0], ["median ms per image (lower is better)", "% of FMA peak (higher is better)"]):
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))], labels, fontsize=8)
        ax.set_title(title)
        ax.set_yscale("log") if title.startswith("median") else None
        ax.legend(fontsize=8)
    fig.suptitle(f"SqueezeNet v1.1 fp32, {result['machine']['cpu']}, {result['date'][:10]}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[112, 224])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--min-seconds", type=float, default=0.05, help="timed span per sample")
    parser.add_argument("--warmup", type=float, default=0.03,
                        help="seconds of untimed calls after the settle pause, before each sample")
    parser.add_argument("--settle", type=float, default=0.3,
                        help="seconds of idle before each sample: ONNX Runtime's and ncnn's workers spin after a run "
                             "and slowed whichever runtime was timed next on 2 threads by up to 2x")
    parser.add_argument("--isas", nargs="+", default=["auto"], help="facert ISAs to run (auto, avx2, avx512, ...)")
    parser.add_argument("--runtimes", nargs="+", default=["facert", *PEERS], choices=["facert", *PEERS])
    parser.add_argument("--cold-rounds", type=int, default=7, help="fresh processes per cold-start figure (0: none)")
    args = parser.parse_args(argv)
    if "auto" not in args.isas:
        args.isas.insert(0, "auto")  # the ratio column compares facert's default
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(result, indent=1, default=str))
    table = markdown(result)
    (args.out / "bench.md").write_text(table)
    if not plot(result, args.out / "bench.png"):
        log("matplotlib not installed: no plot")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
