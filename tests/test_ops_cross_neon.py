"""The NEON kernels (cpp/src/cpu/arm_neon/) on an x86 machine: cross-compile tests/cpu_isa_check.cpp with
the portable CPU sources and run it under qemu-aarch64; it checks every op on Isa::Neon against Isa::Ref
(fp32 relative max error <= 1e-5: summation order only). Needs Debian's g++-aarch64-linux-gnu and
qemu-user; skipped (not passed) without them. On an aarch64 machine the regular op tests cover NEON."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CXX = "aarch64-linux-gnu-g++"
QEMU = "qemu-aarch64"


@pytest.fixture(scope="module")
def neon_check(tmp_path_factory):
    missing = [tool for tool in (CXX, QEMU) if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install g++-aarch64-linux-gnu qemu-user)")
    exe = tmp_path_factory.mktemp("neon") / "cpu_isa_check"
    sources = sorted(str(p) for p in (ROOT / "cpp/src/cpu").glob("*.cpp"))
    sources += sorted(str(p) for p in (ROOT / "cpp/src/cpu/arm_neon").glob("*.cpp"))
    cmd = [CXX, "-std=c++17", "-O2", "-static", "-DFACERT_HAVE_NEON=1", f"-I{ROOT / 'cpp/src'}",
           str(ROOT / "tests/cpu_isa_check.cpp"), *sources, "-o", str(exe), "-lpthread"]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-4000:]
    return exe


@pytest.mark.slow
def test_neon_kernels_match_reference_under_qemu(neon_check):
    run = subprocess.run([QEMU, str(neon_check), "neon"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("ok ") and int(run.stdout.split()[1]) > 100, run.stdout


@pytest.mark.slow
def test_neon_check_refuses_an_isa_it_cannot_run(neon_check):
    run = subprocess.run([QEMU, str(neon_check), "avx2"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "usage" in run.stdout
