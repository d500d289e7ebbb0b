"""Program-binary cache and tuning cache: miss then hit, a corrupt entry detected and rebuilt, keys that
separate precisions, the cache dir override. Also checks the probe network's output against NumPy, which
tests the C++ weight packing, the free concat and buffer planning without needing a model file."""
import os
import subprocess
import sys

import numpy as np
import pytest

from cl_helpers import conv2d_ref, core_opencl, global_avgpool_ref, l2_normalize_ref, maxpool2d_ref  # noqa: F401

pytestmark = pytest.mark.opencl


def _entries(root, kind):
    folder = root / kind
    return sorted(folder.glob("*.bin")) if folder.exists() else []


def test_miss_then_hit(core_opencl, tmp_path):
    first = core_opencl.opencl_probe(cache_dir=str(tmp_path))
    assert not first["program_from_cache"] and first["cache_miss_reason"] == "absent"
    assert first["program_saved"] and len(_entries(tmp_path, "programs")) == 1
    assert len(_entries(tmp_path, "tuning")) == 1  # work-group sizes live apart from binaries
    second = core_opencl.opencl_probe(cache_dir=str(tmp_path))
    assert second["program_from_cache"] and not second["program_saved"]
    assert second["output"] == first["output"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_corrupt_entry_is_rebuilt(core_opencl, tmp_path, damage):
    reference = core_opencl.opencl_probe(cache_dir=str(tmp_path))["output"]
    (entry,) = _entries(tmp_path, "programs")
    data = bytearray(entry.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) // 3]
    else:
        data = bytearray(b"not a cache entry")
    entry.write_bytes(bytes(data))
    rebuilt = core_opencl.opencl_probe(cache_dir=str(tmp_path))
    assert not rebuilt["program_from_cache"]
    assert rebuilt["cache_miss_reason"].startswith("corrupt entry"), rebuilt["cache_miss_reason"]
    assert rebuilt["program_saved"] and rebuilt["output"] == reference
    assert core_opencl.opencl_probe(cache_dir=str(tmp_path))["program_from_cache"]


def test_precisions_have_separate_entries(core_opencl, tmp_path):
    core_opencl.opencl_probe(precision="fp32", cache_dir=str(tmp_path))
    fp16 = core_opencl.opencl_probe(precision="fp16", cache_dir=str(tmp_path))
    assert not fp16["program_from_cache"] and fp16["build_options"]
    assert len(_entries(tmp_path, "programs")) == 2


def test_dropping_binaries_keeps_tuning(core_opencl, tmp_path):
    core_opencl.opencl_probe(cache_dir=str(tmp_path))
    (tuning,) = _entries(tmp_path, "tuning")
    before = tuning.read_bytes()
    for f in _entries(tmp_path, "programs"):
        f.unlink()
    again = core_opencl.opencl_probe(cache_dir=str(tmp_path))
    assert not again["program_from_cache"]
    assert tuning.read_bytes() == before  # nothing re-tuned, nothing rewritten


def test_cache_dir_from_environment(core_opencl, tmp_path):
    code = "from facert import _core; print(_core.opencl_probe()['cache_dir'])"
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, FACERT_CACHE_DIR=str(tmp_path)),
                         capture_output=True, text=True, timeout=300, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path) and _entries(tmp_path, "programs")


def test_xdg_cache_home_is_the_default(core_opencl, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FACERT_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    code = "from facert import _core; print(_core.opencl_probe()['cache_dir'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "facert")


# ---- the probe network, in NumPy (mirrors cpp/src/opencl/probe.cpp) --------------------------------------
def _ramp(n, scale):
    i = np.arange(n, dtype=np.float32)
    return (np.float32(scale) * np.sin(np.float32(0.37) * i + np.float32(0.1))).astype(np.float64)


def _probe_reference():
    x = _ramp(3 * 15 * 15, 1.0).reshape(1, 3, 15, 15)
    t = conv2d_ref(x, _ramp(8 * 27, 0.2).reshape(8, 3, 3, 3), _ramp(8, 0.1), (2, 2), (0, 0), (1, 1), "relu")
    t = maxpool2d_ref(t, 3, 2, 0, True)
    sq = conv2d_ref(t, _ramp(32, 0.3).reshape(4, 8, 1, 1), None, (1, 1), (0, 0), (1, 1), "relu")
    e1 = conv2d_ref(sq, _ramp(32, 0.3).reshape(8, 4, 1, 1), None, (1, 1), (0, 0), (1, 1), "relu")
    e3 = conv2d_ref(sq, _ramp(8 * 36, 0.1).reshape(8, 4, 3, 3), None, (1, 1), (1, 1), (1, 1), "relu")
    pooled = global_avgpool_ref(np.concatenate([e1, e3], axis=1))
    return l2_normalize_ref(pooled @ _ramp(8 * 16, 0.2).reshape(8, 16).T)[0]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_probe_network_matches_numpy(core_opencl, tmp_path, precision):
    got = np.array(core_opencl.opencl_probe(precision=precision, cache_dir=str(tmp_path))["output"])
    ref = _probe_reference()
    if precision == "fp32":
        # sin() of float32 arguments may differ by an ulp between libm and NumPy: 1e-5 relative covers it
        assert np.max(np.abs(got - ref)) <= 1e-5 * np.max(np.abs(ref))
    else:  # half storage of weights and activations through 5 layers
        assert float(got @ ref / np.linalg.norm(got) / np.linalg.norm(ref)) >= 0.999


def test_build_failure_reports_the_build_log(core_opencl, tmp_path):
    """Half arithmetic on a device without cl_khr_fp16 (PoCL) cannot compile: a DeviceError carrying the log."""
    fp16_devices = [d for d in core_opencl.opencl_devices() if d["fp16"]]
    if fp16_devices:
        pytest.skip("every device here has cl_khr_fp16, so the half-math variant builds")
    with pytest.raises(core_opencl.DeviceError) as info:
        core_opencl.opencl_probe(cache_dir=str(tmp_path), build_options="-DFACERT_FP16_MATH")
    message = str(info.value)
    assert "failed to build" in message and "build log:" in message
    assert "half" in message.split("build log:")[1]  # the compiler's own words about the half type
    assert not _entries(tmp_path, "programs")  # nothing cached from a failed build
