"""Every checkpoint layout x every student naming -> an sq.bin with the right graph and weights."""
from __future__ import annotations

import numpy as np
import pytest

from checkpoint_layouts import LAYOUTS
from convert_expect import expected_op_types, folded_layers, weighted_ops
from facert.convert import convert_checkpoint
from sq_reader import read_sq
from students import make_student

ARCHS = ["torchvision", "plain_linear", "torchvision_bn", "plain_bn_linear_bn1d"]


def check_file(out, student, conv_head: bool, head_activation: str):
    sq = read_sq(out)
    assert sq.crc_ok
    assert sq.metadata["format"] == "facert.sq" and sq.metadata["format_version"] == "1"
    assert (8 + sq.header_len) % 8 == 0
    g = sq.graph
    assert g["arch"] == "squeezenet1_1"
    assert g["input"] == {"name": "input", "shape": [3, 112, 112], "channel_order": "RGB",
                          "scale": pytest.approx(1 / 255), "mean": [0.485, 0.456, 0.406],
                          "std": [0.229, 0.224, 0.225]}
    assert [op["type"] for op in g["ops"]] == expected_op_types(conv_head)
    expected = folded_layers(student)
    ops = weighted_ops(g)
    assert len(ops) == len(expected) == 26
    for op, (w, b) in zip(ops, expected):
        np.testing.assert_allclose(sq.tensors[op["weight"]], w, rtol=1e-6, atol=1e-7, err_msg=op["name"])
        stored_bias = sq.tensors[op["bias"]] if op["bias"] is not None else np.zeros_like(b)
        np.testing.assert_allclose(stored_bias, b, rtol=1e-6, atol=1e-7, err_msg=op["name"])
    assert [op["activation"] for op in ops] == ["relu"] * 25 + [head_activation]
    assert g["output"]["dim"] == expected[-1][0].shape[0] and g["output"]["l2_normalize"] is True


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda f: f.__name__)
def test_layout(tmp_path, layout, arch):
    student = make_student(arch, dim=96, seed=1, narrow=True)
    ckpt = tmp_path / "student.pth"
    needs_trust = layout(student, ckpt)
    out = tmp_path / "student.sq.bin"
    report = convert_checkpoint(ckpt, out, trust_pickle=needs_trust, verify=False)
    conv_head = arch.startswith("torchvision")
    check_file(out, student, conv_head, "relu" if conv_head else "none")
    assert report.dim == 96 and report.head_activation == ("relu" if conv_head else "none")
    assert report.container == ("torchscript" if layout.__name__ == "torchscript" else "pickle")


def test_training_entries_are_reported_as_ignored(tmp_path):
    from checkpoint_layouts import facex_zoo

    student = make_student("plain_linear", dim=64, narrow=True)
    facex_zoo(student, tmp_path / "kd.pth")
    report = convert_checkpoint(tmp_path / "kd.pth", tmp_path / "kd.sq.bin", verify=False)
    assert report.location == "['state_dict']"
    assert report.stripped_prefixes == ["backbone."]
    assert "head.weight" in report.ignored and "'epoch'" in report.ignored


def test_fp16_checkpoint_weights_are_read(tmp_path):
    import torch

    student = make_student("plain_linear", dim=32, narrow=True)
    torch.save({k: v.half() for k, v in student.state_dict().items()}, tmp_path / "half.pth")
    convert_checkpoint(tmp_path / "half.pth", tmp_path / "half.sq.bin", verify=False)
    sq = read_sq(tmp_path / "half.sq.bin")
    first = weighted_ops(sq.graph)[0]
    assert sq.tensors[first["weight"]].dtype == np.float32
    np.testing.assert_allclose(sq.tensors[first["weight"]], student.conv1.weight.detach().half().float().numpy())


def test_torchscript_graph_decides_the_head_activation(tmp_path):
    import torch

    from checkpoint_layouts import bare, torchscript

    # torchvision naming but no ReLU after classifier.1: a state_dict cannot tell, the graph can
    student = make_student("torchvision", dim=48, narrow=True)
    student.classifier[2] = torch.nn.Identity()
    torchscript(student, tmp_path / "ts.pt")
    report = convert_checkpoint(tmp_path / "ts.pt", tmp_path / "ts.sq.bin", verify=False)
    assert report.head_activation == "none" and "TorchScript graph" in report.head_activation_reason
    bare(student, tmp_path / "sd.pth")
    report = convert_checkpoint(tmp_path / "sd.pth", tmp_path / "sd.sq.bin", verify=False)
    assert report.head_activation == "relu" and "classifier.1" in report.head_activation_reason
    # an explicit choice beats the graph
    report = convert_checkpoint(tmp_path / "ts.pt", tmp_path / "ts.sq.bin", verify=False, head_activation="relu")
    assert report.head_activation == "relu"
