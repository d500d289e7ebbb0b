"""tests/thread_pool_stress.cpp: cpu::ThreadPool under randomized regions, sleeping workers and a sleeping caller
(every item once per region, no lost wake-up); tests/thread_width_check.cpp: engine::ThreadWidth's choice between
one thread and all on scripted times. Both built here from the sources, as CMakeLists.txt builds them."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def build(tmp_path_factory, name: str, *sources: str) -> Path:
    cxx = shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = tmp_path_factory.mktemp(name) / name
    done = subprocess.run([cxx, "-std=c++17", "-O2", f"-I{ROOT / 'cpp/src'}", *(str(ROOT / s) for s in sources),
                           "-o", str(exe), "-lpthread"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    return exe


@pytest.fixture(scope="module")
def stress_exe(tmp_path_factory) -> Path:
    return build(tmp_path_factory, "thread_pool_stress", "tests/thread_pool_stress.cpp", "cpp/src/cpu/thread_pool.cpp")


@pytest.mark.parametrize("threads", [2, 8])
def test_every_item_runs_once_and_no_wake_up_is_lost(stress_exe, threads):
    run = subprocess.run([str(stress_exe), str(threads), "3"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "regions on" in run.stdout


def test_thread_width_keeps_the_faster_width_and_ignores_outliers(tmp_path_factory):
    exe = build(tmp_path_factory, "thread_width_check", "tests/thread_width_check.cpp", "cpp/src/engine/thread_width.cpp")
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "all checks passed" in run.stdout, run.stdout + run.stderr
