"""tools/wheel_symbols.py, the check that a wheel's manylinux tag is true, on wheels made here from the installed
facert's own _core (built on this machine, so it needs this machine's glibc symbol versions)."""
from __future__ import annotations

import importlib.util
import platform
import zipfile
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

import facert

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("wheel_symbols", ROOT / "tools" / "wheel_symbols.py")
ws = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ws)

CORE = next(Path(facert.__file__).resolve().parent.glob("_core*.so"))
ARCH = platform.machine()


def make_wheel(folder: Path, platform_tag: str) -> str:
    path = folder / f"facert-0.1.0-cp311-cp311-{platform_tag}.whl"
    with zipfile.ZipFile(path, "w") as whl:
        whl.write(CORE, f"facert/{CORE.name}")
        whl.writestr("facert/__init__.py", "")
    return str(path)


@pytest.fixture(scope="module")
def glibc_needed() -> tuple:
    with open(CORE, "rb") as f:
        need = ws.newest(ws.needed_versions(ELFFile(f)), "GLIBC_")
    assert need and need >= (2, 2), need
    return need


def test_newer_tag_is_met(tmp_path, glibc_needed):
    major, minor = glibc_needed
    assert ws.check_wheel(make_wheel(tmp_path, f"manylinux_{major}_{minor + 10}_{ARCH}")) == []


def test_older_tag_fails_naming_the_file_and_version(tmp_path, glibc_needed, capsys):
    major, minor = glibc_needed
    wheel = make_wheel(tmp_path, f"manylinux_{major}_{minor - 1}_{ARCH}")
    problems = ws.check_wheel(wheel)
    assert any(f"{CORE.name} needs GLIBC_{major}.{minor}," in p for p in problems), problems
    assert ws.main([wheel]) == 1
    assert "TAG NOT MET" in capsys.readouterr().out


def test_wrong_architecture_fails(tmp_path):
    other = "aarch64" if ARCH == "x86_64" else "x86_64"
    problems = ws.check_wheel(make_wheel(tmp_path, f"manylinux_2_99_{other}"))
    assert any(f"the tag says {other}" in p for p in problems), problems


def test_legacy_and_plain_linux_tags(tmp_path):
    assert ws.wheel_platforms(f"x-1-cp311-cp311-manylinux2014_{ARCH}.whl") == [((2, 17), ARCH)]
    with pytest.raises(SystemExit, match="not a manylinux tag"):
        ws.check_wheel(make_wheel(tmp_path, f"linux_{ARCH}"))
