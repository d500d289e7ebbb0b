"""tools/bench_report.py end to end on a tiny configuration (64 px, 1 thread, batch 1 and 2, one round):
it must check every runtime against PyTorch, write the JSON, the Markdown table and (with matplotlib) the
plot. Timing figures themselves are not asserted (they depend on the machine's load)."""
from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
TOOL = Path(__file__).resolve().parents[1] / "tools" / "bench_report.py"


def bench_report_writes_checked_tables(tmp_path, monkeypatch):
    argv = [str(TOOL), "--out", str(tmp_path), "--sizes", "64", "--threads", "1", "--batches", "1", "2",
            "--rounds", "1", "--min-seconds", "0", "--isas", "auto", "ref", "--runtimes", "facert", "onnxruntime"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(TOOL), run_name="__main__")
    assert done.value.code == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    assert [(r["size"], r["threads"], r["batch"]) for r in result["rows"]] == [(64, 1, 1), (64, 1, 2)]
    for row in result["rows"]:
        assert set(row["median_ms"]) == {"facert", "facert:ref", "onnxruntime"}
        assert all(err <= 1e-4 for err in row["rel_err"].values())
    table = (tmp_path / "bench.md").read_text()
    assert "| 64 / 1 / 2 |" in table and "facert / best peer" in table
    if _has_matplotlib():
        assert (tmp_path / "bench.png").stat().st_size > 1000


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
