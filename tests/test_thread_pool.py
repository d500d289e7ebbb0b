"""tests/thread_pool_stress.cpp: cpu::ThreadPool under randomized regions, sleeping workers and a sleeping caller
(every item once per region, no lost wake-up), built here from the sources as CMakeLists.txt builds them."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stress_exe(tmp_path_factory) -> Path:
    cxx = shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = tmp_path_factory.mktemp("pool") / "thread_pool_stress"
    build = subprocess.run([cxx, "-std=c++17", "-O2", f"-I{ROOT / 'cpp/src'}", str(ROOT / "tests/thread_pool_stress.cpp"),
                            str(ROOT / "cpp/src/cpu/thread_pool.cpp"), "-o", str(exe), "-lpthread"],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-4000:]
    return exe


@pytest.mark.parametrize("threads", [2, 8])
def test_every_item_runs_once_and_no_wake_up_is_lost(stress_exe, threads):
    run = subprocess.run([str(stress_exe), str(threads), "3"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "regions on" in run.stdout
