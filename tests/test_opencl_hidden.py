"""The CPU suite with OpenCL hidden (FACERT_OPENCL_LIBRARY pointing at nothing): facert must import, and the
engine, C API and preprocessing tests must pass exactly as they do with OpenCL present."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CPU_SUITE = ["test_engine_api.py", "test_c_api.py", "test_preprocess.py", "test_model_loader.py"]


@pytest.mark.slow
def test_cpu_suite_passes_without_opencl(tmp_path):
    files = [str(TESTS / f) for f in CPU_SUITE if (TESTS / f).exists()]
    assert files, "the CPU engine tests are missing"
    env = dict(os.environ, FACERT_OPENCL_LIBRARY="/nonexistent/libOpenCL.so")
    env.pop("FACERT_REQUIRE_OPENCL", None)  # the point of this run is that OpenCL is absent
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *files],
                         env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and " failed" not in out.stdout
    # and the library really was hidden in that run
    probe = subprocess.run([sys.executable, "-c", "from facert import _core; print(_core.opencl_status()['available'])"],
                           env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert probe.stdout.strip() == "False"
