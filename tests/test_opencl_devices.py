"""OpenCL discovery through facert._core (its own dlopen'd libOpenCL): the device list, the hidden-library
case, and the `facert devices` command."""
import json
import os
import subprocess
import sys

import pytest

from cl_helpers import core_opencl  # noqa: F401

DEVICE_KEYS = {"index", "platform", "platform_vendor", "platform_version", "name", "vendor", "type",
               "driver_version", "version", "opencl_c_version", "compute_units", "max_clock_mhz",
               "max_work_group_size", "image_support", "fp16", "global_mem_bytes", "local_mem_bytes",
               "max_alloc_bytes", "precision_variants", "build_options"}


def _run(code_or_args, env_extra, cli=False):
    env = dict(os.environ, **env_extra)
    args = [sys.executable, "-m", "facert.cli", *code_or_args] if cli else [sys.executable, "-c", code_or_args]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, cwd="/")


def test_hidden_library_gives_no_devices_and_a_reason():
    # a fresh process: the library is looked up once per process
    out = _run("from facert import _core; import json; "
               "print(json.dumps([_core.opencl_devices(), _core.opencl_status()]))",
               {"FACERT_OPENCL_LIBRARY": "/nonexistent/libOpenCL.so"})
    assert out.returncode == 0, out.stderr
    devices, status = json.loads(out.stdout)
    assert devices == []
    assert status["available"] is False and status["default_device"] is None
    assert "/nonexistent/libOpenCL.so" in status["reason"]


def test_probe_without_opencl_is_a_device_error():
    out = _run("from facert import _core\n"
               "try:\n    _core.opencl_probe()\nexcept _core.DeviceError as e:\n    print('DeviceError:', e)\n",
               {"FACERT_OPENCL_LIBRARY": "/nonexistent/libOpenCL.so"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("DeviceError: no OpenCL device"), out.stdout


def test_library_without_opencl_symbols_is_refused():
    """A library that loads but is not OpenCL (libm here) must be reported, not crash."""
    out = _run("from facert import _core; print(_core.opencl_status()['reason'])",
               {"FACERT_OPENCL_LIBRARY": "libm.so.6"})
    assert out.returncode == 0, out.stderr
    assert "lacks clGetPlatformIDs" in out.stdout


@pytest.mark.opencl
def test_device_list_has_capabilities(core_opencl):
    devices = core_opencl.opencl_devices()
    assert devices
    for d in devices:
        assert DEVICE_KEYS <= set(d)
        assert d["compute_units"] >= 1 and d["max_work_group_size"] >= 1 and d["global_mem_bytes"] > 0
        if d["fp16"]:
            assert d["build_options"]["fp16"] == "-DFACERT_FP16_MATH"
            assert "half math" in d["precision_variants"]["fp16"]
        else:  # PoCL: no cl_khr_fp16, so half storage with float math
            assert d["build_options"]["fp16"] == "-DFACERT_FP16_STORAGE"
            assert "float math" in d["precision_variants"]["fp16"]


@pytest.mark.opencl
def test_pocl_has_no_fp16_extension(core_opencl):
    pocl = [d for d in core_opencl.opencl_devices() if "Portable Computing Language" in d["platform"]]
    if not pocl:
        pytest.skip("PoCL is not among the OpenCL platforms here")
    assert pocl[0]["fp16"] is False and pocl[0]["image_support"] is True


@pytest.mark.opencl
def test_cli_devices_lists_variants(core_opencl, tmp_path):
    out = _run(["devices", "--check"], {"FACERT_CACHE_DIR": str(tmp_path)}, cli=True)
    assert out.returncode == 0, out.stderr
    assert "precision fp16:" in out.stdout and "check fp32:     ok" in out.stdout
    assert "check fp16:     ok" in out.stdout
    as_json = _run(["devices", "--json"], {}, cli=True)
    parsed = json.loads(as_json.stdout)
    assert parsed["status"]["available"] and parsed["devices"][0]["name"]


def test_cli_devices_without_opencl():
    out = _run(["devices"], {"FACERT_OPENCL_LIBRARY": "/nonexistent/libOpenCL.so"}, cli=True)
    assert out.returncode == 0, out.stderr
    assert "cpu: always available" in out.stdout
    assert "opencl: not available" in out.stdout and "/nonexistent/libOpenCL.so" in out.stdout
