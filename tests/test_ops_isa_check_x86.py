"""tests/cpu_isa_check.cpp natively on x86: every x86 ISA this CPU runs (AVX2, and AVX-512 where the CPU and
OS have it) against Isa::Ref on randomly drawn conv/linear/pool shapes, a second opinion beside the NumPy
op tests. Compiled here with each ISA folder's own flags, the same ones CMakeLists.txt gives them."""
from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from facert import _core

ROOT = Path(__file__).resolve().parents[1]
CPU = ROOT / "cpp/src/cpu"
FLAGS = {  # folder -> (define, compile flags), as in CMakeLists.txt
    "x86_avx2": ("FACERT_HAVE_AVX2", ["-mavx2", "-mfma", "-mf16c"]),
    "x86_avx512": ("FACERT_HAVE_AVX512", ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2",
                                          "-mfma", "-mf16c"]),
}
X86_ISAS = [isa for isa in ("avx2", "avx512") if isa in _core.ops.isas()]


@pytest.fixture(scope="module")
def isa_check(tmp_path_factory):
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("x86 only")
    cxx = shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    folder = tmp_path_factory.mktemp("isa_check")
    defines = [f"-D{define}=1" for define, _ in FLAGS.values()]
    objects = []
    for sub, (_, flags) in [("", (None, [])), *FLAGS.items()]:
        for src in sorted((CPU / sub).glob("*.cpp")):
            obj = folder / f"{sub or 'cpu'}_{src.stem}.o"
            cmd = [cxx, "-std=c++17", "-O2", *defines, *flags, f"-I{ROOT / 'cpp/src'}", "-c", str(src), "-o", str(obj)]
            build = subprocess.run(cmd, capture_output=True, text=True)
            assert build.returncode == 0, build.stderr[-4000:]
            objects.append(str(obj))
    exe = folder / "cpu_isa_check"
    cmd = [cxx, "-std=c++17", "-O2", *defines, f"-I{ROOT / 'cpp/src'}", str(ROOT / "tests/cpu_isa_check.cpp"),
           *objects, "-o", str(exe), "-lpthread"]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-4000:]
    return exe


@pytest.mark.slow
@pytest.mark.parametrize("isa", X86_ISAS)
def test_x86_kernels_match_reference(isa_check, isa):
    run = subprocess.run([str(isa_check), isa], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("ok ") and int(run.stdout.split()[1]) > 100, run.stdout
