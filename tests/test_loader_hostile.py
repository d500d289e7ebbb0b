"""Hostile but checksum-valid model files found by a probe at scale: each is refused at load with a precise
ModelError, quickly and in bounded memory, instead of a crash, a minutes-long parse or an 8 TiB allocation
at the first embed."""
from __future__ import annotations

import struct
import time

import numpy as np
import pytest

import facert
import model_factory as mf
from facert import _core


def _load(tmp_path, data: bytes):
    path = tmp_path / "m.sq.bin"
    path.write_bytes(data)
    return _core.load_model_info(str(path))


# ------------------------------------------------------------------------------ not an sq.bin at all
@pytest.mark.parametrize("magic", [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0\x00\x10JF", b"PK\x03\x04\x14\x00\x00\x00",
                                   b"\x08\x07\x12\x07pytorch"])
def test_other_formats_say_not_an_sq_bin_file(tmp_path, magic):
    with pytest.raises(facert.ModelError, match="not an sq.bin file") as info:
        _load(tmp_path, magic + bytes(range(256)) * 4)
    assert "16 MiB" not in str(info.value)


def test_a_real_png_renamed(tmp_path, data_dir):
    png = next(iter(sorted(data_dir.rglob("*.png"))), None)
    if png is None:
        pytest.skip("no PNG in the data folder")
    with pytest.raises(facert.ModelError, match="not an sq.bin file"):
        _load(tmp_path, png.read_bytes())


# ------------------------------------------------------------------------------ JSON: linear time, capped
def _with_metadata_keys(tiny_model, count: int) -> bytes:
    graph, tensors = tiny_model.graph, tiny_model.tensors
    return mf.encode(graph, tensors, metadata={f"k{i:07d}": "v" for i in range(count)})


def test_many_keys_are_refused_while_parsing(tiny_model, tmp_path):
    data = _with_metadata_keys(tiny_model, 300_000)  # a 5 MB header: 28 s per 3.9 MB before
    assert len(data) > 4 << 20
    t0 = time.perf_counter()
    with pytest.raises(facert.ModelError, match="more than 8192 keys in an object"):
        _load(tmp_path, data)
    # generous: the cap stops the parse at 8192 keys, well under a second on a loaded 2-core machine
    assert time.perf_counter() - t0 < 10


def _prepend_to_header(data: bytes, member: str) -> bytes:
    """The file with `"name":value,` put first in its header object, checksum refreshed."""
    n = struct.unpack("<Q", data[:8])[0]
    text = b"{" + member.encode() + b"," + data[9:8 + n]
    return mf.refresh_checksum(struct.pack("<Q", len(text)) + text + data[8 + n:])


def test_duplicate_key_found_among_many(tiny_model, tmp_path):
    data = _prepend_to_header(_with_metadata_keys(tiny_model, 8000), '"__metadata__":{}')
    with pytest.raises(facert.ModelError, match='duplicate key "__metadata__"'):
        _load(tmp_path, data)


def test_8000_keys_load(tiny_model, tmp_path):
    info = _load(tmp_path, _with_metadata_keys(tiny_model, 8000))
    assert info["metadata"]["k0007999"] == "v"


def test_parse_time_is_linear_in_keys(tiny_model, tmp_path):
    """Doubling the key count must not quadruple the load time (the old duplicate check was quadratic)."""
    def best_of(count):
        data = _with_metadata_keys(tiny_model, count)
        path = tmp_path / f"k{count}.sq.bin"
        path.write_bytes(data)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            _core.load_model_info(str(path))
            times.append(time.perf_counter() - t0)
        return min(times)
    small, large = best_of(2000), best_of(8000)
    assert large < 8 * small + 0.05, (small, large)  # quadratic would be 16x


def test_huge_array_is_refused(tiny_model, tmp_path):
    data = _prepend_to_header(tiny_model.data, '"big":[' + ",".join(["0"] * 300_000) + "]")
    with pytest.raises(facert.ModelError, match="more than 262144 values"):
        _load(tmp_path, data)


# ------------------------------------------------------------------------------ absurd but loadable ops
def _conv_model(**attrs):
    b = mf.GraphBuilder(np.random.default_rng(0), 112, 112)
    x = b.conv("conv", "input", 4, k=3)
    b.ops[-1].update(attrs)
    # keep the declared shapes honest for the head: recompute what infer_shapes will
    x = b.gap("gap", x)
    x = b.linear("head", x, 4)
    return b.graph(x), b.tensors


@pytest.mark.parametrize("attrs,match", [
    ({"stride": [65536, 65536]}, "stride 65536 exceeds the padded input side"),
    ({"pad": [1000, 1000]}, "pad 1000 exceeds the input side 112"),
    ({"dilation": [100, 100]}, "kernel larger than the padded input"),
])
def test_absurd_conv_attributes_are_refused_at_load(tmp_path, attrs, match):
    graph, tensors = _conv_model(**attrs)
    path = tmp_path / "m.sq.bin"
    mf.write(path, graph, tensors)
    with pytest.raises(facert.ModelError, match=match):
        facert.Engine(str(path), device="cpu")


def test_absurd_pool_stride_is_refused(tmp_path):
    b = mf.GraphBuilder(np.random.default_rng(0), 32, 32)
    x = b.conv("conv", "input", 4, k=3)
    x = b.maxpool("pool", x, k=3, stride=2)
    b.ops[-1]["stride"] = [60000, 60000]
    x = b.linear("head", b.gap("gap", x), 4)
    path = tmp_path / "m.sq.bin"
    mf.write(path, b.graph(x), b.tensors)
    with pytest.raises(facert.ModelError, match="stride 60000 exceeds"):
        _core.load_model_info(str(path))


def test_total_activation_memory_is_bounded(tmp_path):
    """Many big activations, each under the per-tensor cap, together over 4 GiB: refused at load with
    the documented ModelError, not an out-of-memory at the first embed."""
    b = mf.GraphBuilder(np.random.default_rng(0), 4096, 4096)
    x = "input"
    for i in range(5):
        x = b.conv(f"c{i}", x, 15, k=1, bias=False)  # 15 x 4096 x 4096 = 2^28 - 2^24 each
        b.tensors[f"c{i}.weight"] = np.zeros((15, 3 if i == 0 else 15, 1, 1), np.float32)
    x = b.linear("head", b.gap("gap", x), 4)
    path = tmp_path / "m.sq.bin"
    mf.write(path, b.graph(x), b.tensors)
    with pytest.raises(facert.ModelError, match="exceed 2\\^30 elements"):
        _core.load_model_info(str(path))
