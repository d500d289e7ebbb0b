"""The whole network on OpenCL through facert.Engine(device="gpu"), against the CPU engine on real photos
from ../shared/data; the fallback and error paths when OpenCL is missing; device out-of-memory."""
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from cl_helpers import core_opencl  # noqa: F401

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

import facert  # noqa: E402
from facert.cli import main as facert_cli  # noqa: E402
from facert.distill.student import SqueezeNetEmbedder  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTOS = sorted(p for p in (DATA / "people").glob("*/*") if p.suffix in (".jpg", ".png") and "hard" not in p.parts)
HIDDEN = {"FACERT_OPENCL_LIBRARY": "/nonexistent/libOpenCL.so"}


def _student(folder: Path, size: int) -> Path:
    """A student with randomised BatchNorm statistics (so folding matters), converted to sq.bin."""
    torch.manual_seed(size)
    model = SqueezeNetEmbedder(dim=128).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    checkpoint = folder / "student.pth"
    torch.save({"student": model.state_dict(), "epoch": 0}, checkpoint)
    out = folder / "student.sq.bin"
    assert facert_cli(["convert", str(checkpoint), "-o", str(out), "--input-size", str(size),
                       "--head-activation", "none", "--mean", "0.5", "--std", "0.5", "--no-verify"]) == 0
    return out


@pytest.fixture(scope="module", params=[112, 99], ids=lambda s: f"{s}px")  # 99: odd sizes everywhere
def model_path(request, tmp_path_factory):
    return _student(tmp_path_factory.mktemp(f"student{request.param}"), request.param)


@pytest.fixture(scope="module")
def photos():
    assert len(PHOTOS) >= 10, f"expected the people photos under {DATA}"
    return [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in PHOTOS]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FACERT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _cosines(a, b):
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.opencl
def test_gpu_fp32_matches_cpu(core_opencl, model_path, photos, cache_dir):
    cpu = facert.Engine(str(model_path), device="cpu")
    gpu = facert.Engine(str(model_path), device="gpu", precision="fp32")
    assert gpu.info["device"] == "gpu"
    e_cpu, e_gpu = cpu.embed_batch(photos), gpu.embed_batch(photos)
    assert e_gpu.shape == e_cpu.shape == (len(photos), 128)
    assert np.allclose(np.linalg.norm(e_gpu, axis=1), 1.0, atol=1e-5)
    assert _cosines(e_gpu, e_cpu).min() >= 0.99999
    # raw head outputs too: same maths, different summation order -> 1e-4 of the output's scale
    x = np.stack([cpu.preprocess(img) for img in photos[:4]])
    raw_cpu, raw_gpu = cpu.forward(x), gpu.forward(x)
    assert np.abs(raw_gpu - raw_cpu).max() <= 1e-4 * np.abs(raw_cpu).max()
    # the photos are told apart, so the agreement above is not that of a constant output
    assert _cosines(e_cpu[:1], e_cpu[1:]).min() < 0.999


@pytest.mark.opencl
def test_gpu_fp16_storage_close_to_cpu(core_opencl, model_path, photos, cache_dir):
    cpu = facert.Engine(str(model_path), device="cpu")
    gpu = facert.Engine(str(model_path), device="gpu", precision="fp16")
    assert gpu.info["precision"] == "fp16"
    cos = _cosines(gpu.embed_batch(photos), cpu.embed_batch(photos))
    assert cos.min() >= 0.999, cos
    single = gpu.embed(photos[0])  # batch 1 after batch N: buffers are reused, results the same
    assert float(_cosines(single[None], cpu.embed(photos[0])[None])[0]) >= 0.999


@pytest.mark.opencl
def test_second_engine_uses_the_cached_program(core_opencl, model_path, cache_dir):
    first = facert.Engine(str(model_path), device="gpu")
    second = facert.Engine(str(model_path), device="gpu")
    assert first.info["opencl"]["program_from_cache"] == "false"
    assert second.info["opencl"]["program_from_cache"] == "true"
    assert any((cache_dir / "programs").glob("*.bin"))
    for engine in (first, second):   # where creation went: the parts add up within the whole
        ms = {k: float(v) for k, v in engine.info["opencl"].items() if k.endswith("_ms")}
        assert set(ms) == {"enumerate_ms", "context_ms", "program_build_ms", "create_ms", "warmup_ms", "engine_ms"}
        assert min(ms.values()) >= 0
        assert ms["enumerate_ms"] + ms["context_ms"] + ms["program_build_ms"] <= ms["create_ms"]
        assert ms["create_ms"] + ms["warmup_ms"] <= ms["engine_ms"]


@pytest.mark.opencl
def test_corrupt_program_cache_is_rebuilt(core_opencl, model_path, photos, cache_dir):
    reference = facert.Engine(str(model_path), device="gpu").embed(photos[0])
    for entry in (cache_dir / "programs").glob("*.bin"):
        data = bytearray(entry.read_bytes())
        data[-10] ^= 0xFF
        entry.write_bytes(bytes(data))
    engine = facert.Engine(str(model_path), device="gpu")
    assert engine.info["opencl"]["program_from_cache"] == "false"
    assert np.array_equal(engine.embed(photos[0]), reference)


@pytest.mark.opencl
def test_device_out_of_memory_is_a_device_error(core_opencl, model_path, cache_dir):
    gpu = facert.Engine(str(model_path), device="gpu")
    c, h, w = gpu.input_shape
    # the stem conv's output alone (64 channels at (h-3)//2+1 squared, fp32) outgrows the device's largest buffer
    side = (h - 3) // 2 + 1
    n = int(1.5 * max(d["max_alloc_bytes"] for d in core_opencl.opencl_devices()) / (64 * side * side * 4)) + 1
    x = np.broadcast_to(np.zeros((1, c, h, w), np.float32), (n, c, h, w))
    try:
        x = np.ascontiguousarray(x)
    except MemoryError:
        pytest.skip("host cannot hold the input that would exhaust the device")
    with pytest.raises(facert.DeviceError, match="out of memory"):
        gpu.forward(x)
    del x
    assert gpu.embed(np.zeros((h, w, 3), np.uint8)).shape == (128,)  # still usable afterwards


def _python(code: str, env_extra: dict):
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd="/")


def test_gpu_without_opencl_raises_device_error(model_path):
    out = _python(f"import facert\ntry:\n    facert.Engine({str(model_path)!r}, device='gpu')\n"
                  "except facert.DeviceError as e:\n    print('DeviceError:', e)\n", HIDDEN)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("DeviceError:") and "/nonexistent/libOpenCL.so" in out.stdout, out.stdout


def test_auto_without_opencl_falls_back_to_cpu_and_says_why(model_path):
    code = (f"import json, warnings, facert\nwith warnings.catch_warnings(record=True) as w:\n"
            f"    warnings.simplefilter('always')\n    e = facert.Engine({str(model_path)!r}, device='auto')\n"
            "print(json.dumps([e.info['device'], e.info['fallback_reason'], [str(x.message) for x in w]]))\n")
    out = _python(code, HIDDEN)
    assert out.returncode == 0, out.stderr
    device, reason, warned = json.loads(out.stdout)
    assert device == "cpu"
    assert "/nonexistent/libOpenCL.so" in reason
    assert len(warned) == 1 and "runs on the CPU" in warned[0] and "/nonexistent/libOpenCL.so" in warned[0]


@pytest.mark.opencl
def test_auto_prefers_the_native_cpu_over_a_cpu_opencl_device(core_opencl, model_path, cache_dir):
    if any(d["type"] != "cpu" for d in core_opencl.opencl_devices()):  # a real GPU: auto measures and chooses
        info = facert.Engine(str(model_path), device="auto").info
        s = info["schedule"]
        assert info["device"] in ("cpu", "gpu", "hetero") and s["chosen"] in s["measured"]
        assert s["measured"][s["chosen"]] <= min(s["measured"]["cpu"], s["measured"]["gpu"])
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deliberate choice, not a failure: no warning
        engine = facert.Engine(str(model_path), device="auto")
    assert engine.info["device"] == "cpu" and engine.info["fallback_is_failure"] is False
    assert "is a CPU device" in engine.info["fallback_reason"]


@pytest.mark.opencl
def test_one_gpu_engine_from_several_threads(core_opencl, model_path, photos, cache_dir):
    from concurrent.futures import ThreadPoolExecutor

    gpu = facert.Engine(str(model_path), device="gpu")
    expected = gpu.embed_batch(photos[:6])
    jobs = [photos[i % 6] for i in range(24)]
    with ThreadPoolExecutor(4) as pool:  # batch sizes change between calls: buffers grow under the lock
        got = list(pool.map(lambda i: gpu.embed_batch(jobs[i:i + 1 + i % 3]), range(0, 24, 3)))
    for start, out in zip(range(0, 24, 3), got):
        for k, row in enumerate(out):
            assert np.allclose(row, expected[(start + k) % 6], atol=1e-6)
