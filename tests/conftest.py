"""Shared fixtures: small sq.bin models written by tests/model_factory.py (pure NumPy, no converter),
and the location of the real photos (../shared/data, never copied into the repository)."""
from __future__ import annotations

from pathlib import Path

import pytest

import model_factory as mf
from photos import DATA


@pytest.fixture(scope="session")
def data_dir() -> Path:
    assert DATA.is_dir(), f"expected the shared data at {DATA}"
    return DATA


class ModelFile:
    """An sq.bin on disk with the graph dict and weights it was written from."""

    def __init__(self, path: Path, graph: dict, tensors: dict, data: bytes):
        self.path, self.graph, self.tensors, self.data = path, graph, tensors, data

    def __fspath__(self):
        return str(self.path)


def _model(factory, folder: Path, name: str, **kw) -> ModelFile:
    graph, tensors = factory(**kw)
    path = folder / f"{name}.sq.bin"
    return ModelFile(path, graph, tensors, mf.write(path, graph, tensors))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> ModelFile:
    return _model(mf.tiny, tmp_path_factory.mktemp("tiny"), "tiny")


@pytest.fixture(scope="session")
def tiny_bgr_model(tmp_path_factory) -> ModelFile:
    return _model(mf.tiny, tmp_path_factory.mktemp("tiny_bgr"), "tiny_bgr", channel_order="BGR")


@pytest.fixture(scope="session")
def squeezenet_model(tmp_path_factory) -> ModelFile:
    return _model(mf.squeezenet, tmp_path_factory.mktemp("squeezenet"), "squeezenet", height=112, width=112)
