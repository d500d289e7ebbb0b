"""A short soak of the loader and engine with mutated model files (tools/fuzz_models.py runs the long one):
bit flips, truncations, header edits and CRC-valid structural and data edits must each be refused with a
ModelError or load clean (finite weights, a finite unit-norm embedding); never a crash, a hang or another
exception. Each load runs in a worker subprocess, so a crash is counted rather than taking pytest down."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import facert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import fuzz_models  # noqa: E402


def test_300_mutated_files(tmp_path):
    counts, findings = fuzz_models.run(300, seed=2026, timeout=60, folder=tmp_path)
    assert sum(counts.values()) == 300
    assert not findings, "\n".join(f"{o} {n}: {w}" for n, o, w in findings[:20])
    # the mutants exercise both sides: most are refused, some still load (and were embedded)
    assert counts["refused"] >= 150 and counts["loaded"] >= 10, dict(counts)


def test_threads_give_bitwise_the_same_embeddings(tiny_model):
    """One Engine shared by 8 threads (short; tools/scale_check.py runs 8 x 1,000)."""
    from concurrent.futures import ThreadPoolExecutor
    e = facert.Engine(tiny_model.path, device="cpu", threads=2)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (20 + i % 5, 17 + i % 3, 3), dtype=np.uint8) for i in range(40)]
    expected = np.stack([e.embed(img) for img in images])
    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(lambda k: np.stack([e.embed(img) for img in images[k % 5:] + images[:k % 5]]),
                             range(8)))
    for k, got in enumerate(runs):
        order = list(range(k % 5, 40)) + list(range(k % 5))
        assert np.array_equal(got, expected[order])
