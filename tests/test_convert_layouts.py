"""Every checkpoint layout x every student naming -> an sq.bin with the right graph and weights."""
from __future__ import annotations

import numpy as np
import pytest

from checkpoint_layouts import LAYOUTS
from convert_expect import expected_op_types, folded_layers, weighted_ops
from facert.convert import convert_checkpoint
from sq_reader import read_sq
from students import make_student, told

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
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
                          "std": [0.229, 0.224, 0.225]}   # as given: see test_layout
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
    options = told(student, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    module_layout = layout.__name__ in ("torchscript", "whole_module")
    if module_layout:   # the module's own graph tells the head activation
        del options["head_activation"]
    report = convert_checkpoint(ckpt, out, trust_pickle=needs_trust, verify=False, **options)
    conv_head = arch.startswith("torchvision")
    check_file(out, student, conv_head, "relu" if conv_head else "none")
    assert report.dim == 96 and report.head_activation == ("relu" if conv_head else "none")
    assert report.head_activation_reason == ("read from the TorchScript graph" if layout.__name__ == "torchscript"
                                             else "read from the module's traced graph" if module_layout
                                             else "as requested")
    assert report.container == ("torchscript" if layout.__name__ == "torchscript" else "pickle")


def test_training_entries_are_reported_as_ignored(tmp_path):
    from checkpoint_layouts import facex_zoo

    student = make_student("plain_linear", dim=64, narrow=True)
    facex_zoo(student, tmp_path / "kd.pth")
    report = convert_checkpoint(tmp_path / "kd.pth", tmp_path / "kd.sq.bin", verify=False, **told(student))
    assert report.location == "['state_dict']"
    assert report.stripped_prefixes == ["backbone."]
    assert "head.weight" in report.ignored and "'epoch'" in report.ignored


def test_fp16_checkpoint_weights_are_read(tmp_path):
    import torch

    student = make_student("plain_linear", dim=32, narrow=True)
    torch.save({k: v.half() for k, v in student.state_dict().items()}, tmp_path / "half.pth")
    convert_checkpoint(tmp_path / "half.pth", tmp_path / "half.sq.bin", verify=False, **told(student))
    sq = read_sq(tmp_path / "half.sq.bin")
    first = weighted_ops(sq.graph)[0]
    assert sq.tensors[first["weight"]].dtype == np.float32
    np.testing.assert_allclose(sq.tensors[first["weight"]], student.conv1.weight.detach().half().float().numpy())


def test_torchscript_graph_decides_the_head_activation(tmp_path):
    import torch

    from checkpoint_layouts import bare, torchscript
    from facert.convert import ConvertError

    # torchvision naming but no ReLU after classifier.1 (common for embedding students): the graph
    # tells, a state_dict cannot, and the converter refuses rather than guess (it guessed ReLU before)
    student = make_student("torchvision", dim=48, narrow=True)
    student.classifier[2] = torch.nn.Identity()
    torchscript(student, tmp_path / "ts.pt")
    report = convert_checkpoint(tmp_path / "ts.pt", tmp_path / "ts.sq.bin", verify=False, trust_pickle=True,
                                mean=[0.5], std=[0.5])
    assert report.head_activation == "none" and "TorchScript graph" in report.head_activation_reason
    bare(student, tmp_path / "sd.pth")
    with pytest.raises(ConvertError, match="--head-activation relu or --head-activation none"):
        convert_checkpoint(tmp_path / "sd.pth", tmp_path / "sd.sq.bin", verify=False, mean=[0.5], std=[0.5])
    assert not (tmp_path / "sd.sq.bin").exists()
    # an explicit choice beats the graph
    report = convert_checkpoint(tmp_path / "ts.pt", tmp_path / "ts.sq.bin", verify=False, head_activation="relu",
                                trust_pickle=True, mean=[0.5], std=[0.5])
    assert report.head_activation == "relu"


def test_normalisation_is_never_guessed(tmp_path):
    from facert.convert import ConvertError

    student = make_student("plain_linear", dim=32, narrow=True)
    torch_save_bare(student, tmp_path / "s.pth")
    with pytest.raises(ConvertError, match="pass --mean and --std"):
        convert_checkpoint(tmp_path / "s.pth", tmp_path / "s.sq.bin", verify=False, head_activation="none")
    with pytest.raises(ConvertError, match="--mean and --std go together"):
        convert_checkpoint(tmp_path / "s.pth", tmp_path / "s.sq.bin", verify=False, head_activation="none",
                           mean=[0.5])


def test_distill_config_entry_answers_what_the_state_dict_cannot(tmp_path):
    import torch

    student = make_student("torchvision", dim=32, narrow=True)
    config = {"arch": "squeezenet1_1", "input_size": 96, "channel_order": "BGR", "scale": 1 / 255,
              "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.5, 0.5], "head_activation": "none"}
    torch.save({"student": student.state_dict(), "config": config, "epoch": 3}, tmp_path / "kd.pth")
    report = convert_checkpoint(tmp_path / "kd.pth", tmp_path / "kd.sq.bin", verify=False)
    g = read_sq(tmp_path / "kd.sq.bin").graph
    assert report.head_activation == "none" and "config" in report.head_activation_reason
    assert "config" in report.input_reason
    assert g["input"]["shape"] == [3, 96, 96] and g["input"]["channel_order"] == "BGR"
    assert g["input"]["std"] == [0.25, 0.5, 0.5] and g["ops"][-2]["activation"] == "none"


def torch_save_bare(model, path):
    import torch

    torch.save(model.state_dict(), path)
