"""OpenCL failure injection, each in a fresh subprocess so a crash is seen as a crash: concurrent Engine
creation, poisoned tuning entries, forged or truncated program binaries, a cache folder others can write,
an unwritable cache, four processes racing on an empty cache, a truncated or non-OpenCL library. In every
case the process survives, and the CPU (or a rebuilt program) still gives the right answer."""
from __future__ import annotations

import ctypes.util
import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from cl_helpers import core_opencl  # noqa: F401

HEADER = struct.Struct("<8sIIQ32s")  # cpp/src/opencl/disk_cache.cpp, entry layout "FCRTCL02"


def _run(code: str, env_extra: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=str(Path(__file__).parent))


def _survived(out: subprocess.CompletedProcess) -> dict:
    assert out.returncode == 0, f"process died ({out.returncode}):\n{out.stderr[-3000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


PROBE = ("import json; from facert import _core\n"
         "r = _core.opencl_probe(cache_dir={cache!r})\n"
         "print(json.dumps({{k: r[k] for k in ('output', 'program_from_cache', 'cache_miss_reason', "
         "'program_saved')}}))\n")


def _probe(cache) -> dict:
    return _survived(_run(PROBE.format(cache=str(cache))))


def _entries(root: Path, kind: str) -> list[Path]:
    return sorted((root / kind).glob("*.bin")) if (root / kind).exists() else []


def _read_entry(path: Path):
    data = path.read_bytes()
    magic, key_size, _, size, digest = HEADER.unpack_from(data)
    assert magic == b"FCRTCL02"
    key = data[HEADER.size:HEADER.size + key_size]
    return key, data[HEADER.size + key_size:], digest


def _write_entry(path: Path, key: bytes, payload: bytes, digest: bytes | None = None, size: int | None = None):
    digest = digest if digest is not None else hashlib.sha256(key + payload).digest()
    size = len(payload) if size is None else size
    path.write_bytes(HEADER.pack(b"FCRTCL02", len(key), 0, size, digest) + key + payload)


@pytest.fixture
def warm_cache(core_opencl, tmp_path):  # noqa: F811
    cache = tmp_path / "cache"
    reference = _probe(cache)
    assert reference["program_saved"]
    return cache, reference["output"]


# ------------------------------------------------------------------------------ concurrency
@pytest.mark.opencl
@pytest.mark.parametrize("device", ["auto", "gpu"])
def test_concurrent_engine_creation(core_opencl, tmp_path, device):  # noqa: F811
    """4+ threads creating engines at once right after import: the first device enumeration must happen once
    (PoCL's first clGetDeviceIDs is not thread-safe). Several rounds, each a fresh process."""
    import model_factory as mf
    b = mf.GraphBuilder(np.random.default_rng(0), 15, 15)
    x = b.conv("stem", "input", 8, k=3, stride=2)
    x = b.linear("head", b.gap("gap", b.maxpool("pool", x)), 4)
    model = tmp_path / "m.sq.bin"
    mf.write(model, b.graph(x, arch="tiny"), b.tensors)
    _probe(tmp_path / "cache")  # build the program once: rounds then spend their time in creation
    code = (
        "import json, threading, numpy as np, facert\n"
        "out, errors = [], []\n"
        "def make():\n"
        "    try:\n"
        f"        e = facert.Engine({str(model)!r}, device={device!r}, cache_dir={str(tmp_path / 'cache')!r})\n"
        "        out.append(e.embed(np.full((15, 15, 3), 100, np.uint8)).tolist())\n"
        "    except Exception as ex:\n"
        "        errors.append(repr(ex))\n"
        "threads = [threading.Thread(target=make) for _ in range(6)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(json.dumps({'out': out, 'errors': errors}))\n")
    for _ in range(4):
        r = _survived(_run(code))
        assert not r["errors"] and len(r["out"]) == 6
        assert all(np.allclose(o, r["out"][0], atol=1e-5) for o in r["out"])


# ------------------------------------------------------------------------------ tuning entries
@pytest.mark.opencl
@pytest.mark.parametrize("poison", ["-1 -1 -1", "18446744073709551615 1 1", "8192 8192 1", "0 4 1", "100000 1 1"])
def test_poisoned_tuning_entry_is_dropped_and_retuned(warm_cache, poison):
    cache, reference = warm_cache
    (entry,) = _entries(cache, "tuning")
    key, payload, _ = _read_entry(entry)
    lines = payload.decode().splitlines()
    assert lines
    poisoned = "".join(line.split(" ")[0] + " " + poison + "\n" for line in lines).encode()
    _write_entry(entry, key, poisoned)  # checksum-valid: only the values are wrong
    again = _probe(cache)
    assert np.allclose(again["output"], reference, atol=1e-6), "a poisoned local size changed the answer"
    _, rewritten, _ = _read_entry(entry)
    assert poison.encode() not in rewritten, "the poisoned entries were kept"
    for line in rewritten.decode().splitlines():
        sizes = [int(v) for v in line.split()[1:]]
        assert sizes == [0, 0, 0] or (all(1 <= v <= 4096 for v in sizes)), line


# ------------------------------------------------------------------------------ program binaries
@pytest.mark.opencl
@pytest.mark.parametrize("forge", ["v1_crc_valid_truncated", "truncated_size_fixed", "truncated_file",
                                   "hash_of_other_payload"])
def test_forged_program_binary_never_reaches_the_driver(warm_cache, forge):
    """A truncated binary once aborted the process inside PoCL. Each forgery is refused by its length or its
    SHA-256 before the driver sees it; the program is rebuilt and gives the same output."""
    cache, reference = warm_cache
    (entry,) = _entries(cache, "programs")
    key, payload, digest = _read_entry(entry)
    half = payload[: len(payload) // 2]
    if forge == "v1_crc_valid_truncated":  # the old layout, its CRC fixed up: what aborted the process before
        crc = zlib.crc32(key + half) & 0xFFFFFFFF
        entry.write_bytes(b"FCRTCL01" + struct.pack("<IIQ", len(key), crc, len(half)) + key + half)
    elif forge == "truncated_size_fixed":
        _write_entry(entry, key, half, digest=digest)
    elif forge == "truncated_file":
        entry.write_bytes(entry.read_bytes()[: HEADER.size + len(key) + len(half)])
    else:
        _write_entry(entry, key, half, digest=hashlib.sha256(key + payload).digest(), size=len(half))
    again = _probe(cache)
    assert not again["program_from_cache"]
    assert again["cache_miss_reason"].startswith("corrupt entry"), again["cache_miss_reason"]
    assert again["output"] == reference and again["program_saved"]


@pytest.mark.opencl
@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_cache_dir_writable_by_others_is_not_used(core_opencl, tmp_path, mode):  # noqa: F811
    cache = tmp_path / "cache"
    first = _probe(cache)
    os.chmod(cache / "programs", mode)
    again = _probe(cache)
    assert not again["program_from_cache"] and not again["program_saved"]
    assert "writable by others" in again["cache_miss_reason"] and "chmod go-w" in again["cache_miss_reason"]
    assert again["output"] == first["output"]


@pytest.mark.opencl
def test_group_writable_umask_still_caches(core_opencl, tmp_path):  # noqa: F811
    """Under umask 0002 (common with per-user groups) facert's own folders and entries stay 0755/0644, so the
    refusal above never turns the cache off for its own files."""
    cache = tmp_path / "cache"
    code = "import os; os.umask(0o002)\n" + PROBE.format(cache=str(cache))
    first = _survived(_run(code))
    assert first["program_saved"]
    assert _survived(_run(code))["program_from_cache"]
    for path in [cache, cache / "programs", *_entries(cache, "programs")]:
        assert not path.stat().st_mode & 0o022, oct(path.stat().st_mode)


@pytest.mark.opencl
def test_unwritable_cache_dir_still_serves(core_opencl, tmp_path):  # noqa: F811
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    r = _probe(blocker / "cache")  # mkdir fails under a regular file, even for root
    assert not r["program_saved"] and not r["program_from_cache"]
    assert len(r["output"]) == 8 and np.isfinite(r["output"]).all()


@pytest.mark.opencl
def test_four_processes_share_an_empty_cache(core_opencl, tmp_path):  # noqa: F811
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, "-c", PROBE.format(cache=str(cache))], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=str(tmp_path)) for _ in range(4)]
    results = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr[-3000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    assert all(r["output"] == results[0]["output"] for r in results)
    assert not list(cache.rglob("*.tmp*")), "a temporary file was left behind"
    for kind in ("programs", "tuning"):
        for entry in _entries(cache, kind):
            key, payload, digest = _read_entry(entry)  # whole and valid: no half-written file
            assert hashlib.sha256(key + payload).digest() == digest
    assert _probe(cache)["program_from_cache"]


# ------------------------------------------------------------------------------ the library itself
def _real_libopencl() -> Path | None:
    name = ctypes.util.find_library("OpenCL")
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        if name and (Path(folder) / name).exists():
            return (Path(folder) / name).resolve()
    return None


ENGINE_CHECK = ("import json, numpy as np, facert\n"
                "e = facert.Engine({model!r}, device='auto')\n"
                "v = e.embed(np.full((20, 20, 3), 90, np.uint8))\n"
                "try:\n    facert.Engine({model!r}, device='gpu'); gpu = 'created'\n"
                "except facert.DeviceError as ex:\n    gpu = str(ex)\n"
                "print(json.dumps({{'device': e.device, 'norm': float(np.linalg.norm(v)), 'gpu': gpu}}))\n")


@pytest.mark.parametrize("kind", ["truncated", "not_opencl", "not_elf", "missing"])
def test_bad_opencl_library_leaves_the_cpu_serving(tiny_model, tmp_path, kind):
    if kind == "truncated":
        real = _real_libopencl()
        if real is None:
            pytest.skip("no libOpenCL on this machine to truncate")
        lib = tmp_path / "libOpenCL.so.1"
        data = real.read_bytes()
        lib.write_bytes(data[: len(data) // 2])  # once a SIGBUS inside dlopen
        expect = "truncated"
    elif kind == "not_opencl":
        lib = Path(ctypes.util.find_library("m") and "/lib/x86_64-linux-gnu/libm.so.6")
        if not lib.exists():
            pytest.skip("no libm at the usual path")
        expect = "not an OpenCL library"
    elif kind == "not_elf":
        lib = tmp_path / "libOpenCL.so"
        lib.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(4096))
        expect = "not an ELF shared object"
    else:
        lib, expect = tmp_path / "absent.so", "absent.so"
    r = _survived(_run(ENGINE_CHECK.format(model=str(tiny_model.path)), {"FACERT_OPENCL_LIBRARY": str(lib)}))
    assert r["device"] == "cpu" and abs(r["norm"] - 1) < 1e-5
    assert expect in r["gpu"], r["gpu"]
