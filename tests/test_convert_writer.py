"""sq.bin writer and BatchNorm folding, checked against the format page with independent readers."""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
import torch

import facert
from facert.convert import convert_checkpoint
from facert.convert.fold import fold_batchnorm
from facert.convert.writer import encode_sq_bin
from sq_reader import read_sq
from students import make_student, told


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("writer")
    student = make_student("torchvision_bn", dim=128, seed=2)
    torch.save(student.state_dict(), folder / "s.pth")
    convert_checkpoint(folder / "s.pth", folder / "f32.sq.bin", verify=False, **told(student),
                       metadata={"verify_threshold": "0.42", "verify_embedding": "face", "trained_on": "utkface"})
    convert_checkpoint(folder / "s.pth", folder / "f16.sq.bin", verify=False, fp16=True, **told(student))
    return folder, student


def test_container_rules(converted):
    folder, _ = converted
    data = (folder / "f32.sq.bin").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    assert (8 + n) % 8 == 0 and 0 < n <= 16 << 20
    header = json.loads(data[8:8 + n])
    entries = sorted((v["data_offsets"], k, v) for k, v in header.items() if k != "__metadata__")
    position = 0
    for (begin, end), name, entry in entries:
        assert begin == position, f"gap or overlap at {name}"
        assert end - begin == int(np.prod(entry["shape"])) * 4 and entry["dtype"] == "F32"
        position = end
    assert 8 + n + position == len(data)   # no trailing bytes
    assert data[8:8 + n].count(b'"checksum":"crc32:') == 1
    meta = header["__metadata__"]
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["verify_threshold"] == "0.42" and meta["trained_on"] == "utkface"
    assert meta["producer"].startswith("facert") and meta["source"] == "s.pth"


def test_checksum_is_zlib_crc_of_the_zeroed_file(converted):
    folder, _ = converted
    data = bytearray((folder / "f32.sq.bin").read_bytes())
    at = data.index(b'"checksum":"crc32:') + len(b'"checksum":"crc32:')
    digits = bytes(data[at:at + 8]).decode()
    data[at:at + 8] = b"00000000"
    assert f"{zlib.crc32(bytes(data)):08x}" == digits


def test_safetensors_opens_it(converted):
    from safetensors import safe_open

    folder, _ = converted
    with safe_open(str(folder / "f32.sq.bin"), framework="np") as f:
        assert f.metadata()["format"] == "facert.sq"
        assert f.get_tensor("stem.weight").shape == (64, 3, 3, 3)


def test_loader_accepts_and_reports(converted):
    folder, _ = converted
    info = facert.load_model_info(folder / "f32.sq.bin")
    assert info["checksum"] == "ok" and info["arch"] == "squeezenet1_1"
    assert info["metadata"]["verify_threshold"] == "0.42"
    assert info["output"]["dim"] == 128
    # SqueezeNet v1.1, 128-d conv head, 112x112: 62.3 M MACs (DESIGN.md), 788,160 parameters
    assert info["macs"] == 62_279_360 and info["params"] == 788_160
    shapes = {op["name"]: tuple(op["shape"]) for op in info["ops"]}
    assert shapes["stem"] == (64, 55, 55) and shapes["fire9"] == (512, 6, 6) and shapes["embedding"] == (128,)


def test_fp16_file_is_half_the_size(converted):
    folder, _ = converted
    f32, f16 = (folder / "f32.sq.bin").stat().st_size, (folder / "f16.sq.bin").stat().st_size
    assert abs(f16 - f32 / 2) < 8192   # only the JSON header is not halved
    a, b = read_sq(folder / "f32.sq.bin"), read_sq(folder / "f16.sq.bin")
    assert all(e["dtype"] == "F16" for e in b.entries.values())
    for name, value in a.tensors.items():
        np.testing.assert_array_equal(b.tensors[name], value.astype(np.float16))
    assert facert.load_model_info(folder / "f16.sq.bin")["checksum"] == "ok"


def test_batchnorm_folding_is_exact():
    rng = np.random.default_rng(0)
    conv = torch.nn.Conv2d(5, 7, 3, padding=1).double()
    bn = torch.nn.BatchNorm2d(7).double().eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.from_numpy(rng.normal(0, 1, 7)))
        bn.running_var.copy_(torch.from_numpy(rng.uniform(0.1, 3, 7)))
        bn.weight.copy_(torch.from_numpy(rng.uniform(-2, 2, 7)))
        bn.bias.copy_(torch.from_numpy(rng.normal(0, 1, 7)))
    tensors = {k: v.numpy() for k, v in bn.state_dict().items()}
    w, b = fold_batchnorm(conv.weight.detach().numpy(), conv.bias.detach().numpy(), tensors)
    x = torch.from_numpy(rng.normal(0, 1, (2, 5, 9, 11)))
    with torch.no_grad():
        expected = bn(conv(x))
        folded = torch.nn.functional.conv2d(x, torch.from_numpy(w).double(), torch.from_numpy(b).double(),
                                            padding=1)
    # only the final float32 rounding of W' and b' separates the two: relative 1e-6
    assert (folded - expected).abs().max() <= 1e-6 * expected.abs().max()


def test_batchnorm_without_conv_bias_and_affine():
    rng = np.random.default_rng(1)
    w = rng.normal(0, 1, (4, 6)).astype(np.float32)
    stats = {"running_mean": rng.normal(0, 1, 4), "running_var": rng.uniform(0.5, 2, 4)}
    fw, fb = fold_batchnorm(w, None, stats, eps=1e-3)
    scale = 1 / np.sqrt(stats["running_var"] + 1e-3)
    np.testing.assert_allclose(fw, w * scale[:, None], rtol=1e-6)
    np.testing.assert_allclose(fb, -stats["running_mean"] * scale, rtol=1e-6)


def test_writer_refuses_non_finite_and_fp16_overflow():
    from facert.convert import ConvertError

    graph = {"ops": []}
    with pytest.raises(ConvertError, match="w contains NaN"):
        encode_sq_bin(graph, {"w": np.array([1.0, np.nan], np.float32)}, {})
    with pytest.raises(ConvertError, match="w overflows float16"):
        encode_sq_bin(graph, {"w": np.array([1e6], np.float32)}, {}, dtype="F16")
