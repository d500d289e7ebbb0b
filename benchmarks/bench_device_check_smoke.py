"""tools/device_check.py (the lent GPU machine's OpenCL figures) end to end on PoCL at a tiny configuration:
every forward checked against PyTorch before it is timed, the creation breakdown from engine.info, the JSON
and the Markdown table. Timing figures themselves are not asserted."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]
import device_check  # noqa: E402
from cl_helpers import core_opencl  # noqa: E402,F401


@pytest.mark.opencl
def bench_device_check_writes_checked_figures(core_opencl, tmp_path):
    assert device_check.main(["--out", str(tmp_path), "--sizes", "64", "--batches", "1", "3", "--runs", "1"]) == 0
    result = json.loads((tmp_path / "device_check.json").read_text())
    rows = {(r["precision"], r["batch"]): r for r in result["opencl"]}
    assert set(rows) == {("fp32", 1), ("fp32", 3), ("fp16", 1), ("fp16", 3)}
    assert all(r["error"] <= device_check.TOLERANCE[r["precision"]] and r["ms"] > 0 for r in rows.values())
    made = rows["fp32", 1]["creation"]
    assert [c["cache"] for c in made] == ["cold", "warm", "warm", "warm"]
    assert all(c["create_ms"] + c["warmup_ms"] <= c["engine_ms"] <= c["wall_ms"] for c in made)
    assert "| 64 | 3 |" in (tmp_path / "device_check.md").read_text()
