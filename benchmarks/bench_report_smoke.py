"""tools/bench_report.py end to end on a tiny configuration (64 px, 1 thread, batch 1 and 2, one round):
it must check every runtime against PyTorch, write the JSON, the Markdown table and (with matplotlib) the
plot, and the cold-start table from fresh processes. Timing figures themselves are not asserted (they depend on the machine's load)."""
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
            "--rounds", "1", "--min-seconds", "0", "--isas", "auto", "ref", "--runtimes", "facert", "onnxruntime",
            "--cold-rounds", "1", "--settle", "0"]
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
    cold = {(r["runtime"], r["threads"]): r for r in result["cold_start"]}
    assert set(cold) == {("numpy", 1), ("facert", 1), ("onnxruntime", 1)}
    assert all(r["first_ms"] > 0 and r["steady_ms"] > 0 and r["rss_mb"] > cold["numpy", 1]["rss_mb"]
               for key, r in cold.items() if key[0] != "numpy")
    assert "| facert / 1 |" in table and "first / steady" in table
    if _has_matplotlib():
        assert (tmp_path / "bench.png").stat().st_size > 1000


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def bench_report_scaling_rows():
    """The thread-scaling table divides the 1-thread median by the N-thread one, per runtime, size, batch."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_report", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rows = [{"size": 112, "batch": 1, "threads": 1, "median_ms": {"facert": 2.0, "onnxruntime": 3.0}},
            {"size": 112, "batch": 1, "threads": 2, "median_ms": {"facert": 1.0, "onnxruntime": 2.0}}]
    lines = tool.scaling_lines(rows, ["facert", "onnxruntime"])
    assert lines[-1] == "| 112 / 1 | 2.00x | 1.50x |"
    assert tool.scaling_lines(rows[:1], ["facert"]) == []
