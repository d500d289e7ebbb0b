"""The README's C API program, as printed there: compiled against the installed package's facert.h and
libfacert.so (the files every wheel carries), run on a real photo, and compared with the Python Engine."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

import facert

README = Path(__file__).resolve().parents[1] / "README.md"
PKG = Path(facert.__file__).resolve().parent
MODEL = PKG / "models" / "default.sq.bin"


def readme_c_program() -> str:
    section = README.read_text().split("\n## C API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```c\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "expected one ```c block in the README's C API section"
    return blocks[0]


@pytest.fixture(scope="module")
def embed_exe(tmp_path_factory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "no C compiler (cc) on PATH"
    folder = tmp_path_factory.mktemp("c_example")
    (folder / "embed.c").write_text(readme_c_program())
    exe = folder / "embed"
    build = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "embed.c", f"-I{PKG / 'include'}",
                            f"-L{PKG / 'lib'}", "-lfacert", f"-Wl,-rpath,{PKG / 'lib'}", "-o", str(exe)],
                           cwd=folder, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return exe


def test_readme_c_program_matches_python_engine(embed_exe, data_dir, tmp_path):
    img = cv2.imread(str(data_dir / "people" / "joe_biden" / "1.jpg"), cv2.IMREAD_COLOR)
    ppm = tmp_path / "face.ppm"
    assert cv2.imwrite(str(ppm), img)
    run = subprocess.run([str(embed_exe), str(MODEL), str(ppm)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    from_c = np.array(run.stdout.split(), dtype=np.float32)
    expected = facert.Engine(device="cpu").embed(img)
    assert from_c.shape == expected.shape
    np.testing.assert_allclose(from_c, expected, rtol=0, atol=1e-6)


def test_readme_c_program_reports_errors(embed_exe, tmp_path):
    missing = tmp_path / "missing.sq.bin"
    ppm = tmp_path / "tiny.ppm"
    ppm.write_bytes(b"P6 2 1 255\n" + bytes(6))
    run = subprocess.run([str(embed_exe), str(missing), str(ppm)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and run.stderr.startswith("facert: ") and "missing.sq.bin" in run.stderr, run.stderr
    run = subprocess.run([str(embed_exe), str(MODEL), str(tmp_path / "none.ppm")], capture_output=True, text=True)
    assert run.returncode == 1 and "not an 8-bit binary PPM" in run.stderr, run.stderr
