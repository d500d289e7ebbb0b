"""Checkpoints the converter must refuse, and how it says so."""
from __future__ import annotations

import argparse
from collections import OrderedDict

import pytest
import torch

from checkpoint_layouts import dino, whole_module
from facert.convert import ConvertError, UnsafeCheckpointError, convert_checkpoint
from sq_reader import read_sq
from students import make_student, told


@pytest.fixture(scope="module")
def student():
    return make_student("plain_linear", dim=64, narrow=True)


@pytest.mark.parametrize("save", [dino, whole_module], ids=["dino_args_namespace", "pickled_module"])
def test_pickled_code_needs_trust(tmp_path, student, save):
    ckpt, out = tmp_path / "ckpt.pth", tmp_path / "out.sq.bin"
    save(student, ckpt)
    with pytest.raises(UnsafeCheckpointError, match="--trust-pickle") as info:
        convert_checkpoint(ckpt, out, verify=False)
    if save is dino:
        assert "argparse.Namespace" in str(info.value)
    assert not out.exists()
    convert_checkpoint(ckpt, out, verify=False, trust_pickle=True, **told(student))
    assert read_sq(out).crc_ok


def test_unrecognised_checkpoint_names_the_keys(tmp_path, student):
    sd = OrderedDict(student.state_dict())
    sd["fire9.attention.weight"] = torch.randn(3, 3, 3)       # a 3-D tensor: no known module
    sd["extra_fc.weight"] = torch.randn(10, 64)               # a classifier after the embedding
    torch.save(sd, tmp_path / "odd.pth")
    with pytest.raises(ConvertError) as info:
        convert_checkpoint(tmp_path / "odd.pth", tmp_path / "odd.sq.bin", verify=False)
    message = str(info.value)
    assert "fire9.attention.weight" in message and "extra_fc.weight" in message
    assert "fc.weight," not in message.replace("extra_fc.weight", "")   # placed keys are not listed


def test_missing_fire_is_reported(tmp_path, student):
    sd = OrderedDict((k, v) for k, v in student.state_dict().items() if not k.startswith("fire9."))
    torch.save(sd, tmp_path / "short.pth")
    with pytest.raises(ConvertError, match=r"fire9.*fc\.weight"):
        convert_checkpoint(tmp_path / "short.pth", tmp_path / "short.sq.bin", verify=False)


def test_not_a_squeezenet(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 7), torch.nn.Flatten(), torch.nn.Linear(8, 2))
    torch.save(net.state_dict(), tmp_path / "other.pth")
    with pytest.raises(ConvertError, match=r"stem.*Keys that could not be placed: 0\.weight, 0\.bias, 2\.weight"):
        convert_checkpoint(tmp_path / "other.pth", tmp_path / "other.sq.bin", verify=False)


def test_dict_without_state_dict(tmp_path):
    torch.save({"epoch": 3, "notes": "nothing here"}, tmp_path / "empty.pth")
    with pytest.raises(ConvertError, match="no state_dict found.*'epoch', 'notes'"):
        convert_checkpoint(tmp_path / "empty.pth", tmp_path / "x.sq.bin", verify=False)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"this is not a pickle")
    with pytest.raises(ConvertError, match="not a PyTorch checkpoint"):
        convert_checkpoint(tmp_path / "junk.pth", tmp_path / "x.sq.bin", verify=False)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        convert_checkpoint(tmp_path / "nope.pth", tmp_path / "x.sq.bin", verify=False)


@pytest.mark.parametrize("options,pattern", [
    ({"input_size": 4}, "input too small"),
    ({"input_size": 5000}, "outside"),
    ({"channel_order": "RGBA"}, "channel order"),
    ({"mean": [0.1, 0.2]}, "1 or 3 values"),
    ({"std": [0.0]}, "non-zero"),
    ({"head_activation": "tanh"}, "head-activation"),
    ({"metadata": {"checksum": "x"}}, "reserved"),
    ({"metadata": {"verify_threshold": "0.5"}}, "needs --meta verify_embedding=E"),
    ({"metadata": {"verify_threshold": "1.5", "verify_embedding": "face"}}, r"not a cosine in \[-1, 1\]"),
    ({"metadata": {"verify_threshold": "0.5", "verify_embedding": "mirror"}}, "must be one of face\\+mirror, face"),
])
def test_bad_options(tmp_path, student, options, pattern):
    torch.save(student.state_dict(), tmp_path / "s.pth")
    with pytest.raises(ConvertError, match=pattern):
        convert_checkpoint(tmp_path / "s.pth", tmp_path / "s.sq.bin", verify=False, **{**told(student), **options})


def test_teacher_is_never_taken(tmp_path, student):
    # DINO order: the teacher entry first in the dict; the student must still be chosen
    teacher = make_student("plain_linear", dim=64, seed=9, narrow=True)
    torch.save({"teacher": teacher.state_dict(), "student": student.state_dict(),
                "args": {"lr": 0.1}}, tmp_path / "kd.pth")
    convert_checkpoint(tmp_path / "kd.pth", tmp_path / "kd.sq.bin", verify=False, **told(student))
    first = read_sq(tmp_path / "kd.sq.bin").tensors["stem.weight"]
    assert torch.equal(torch.from_numpy(first), student.conv1.weight.detach())


def test_namespace_is_not_needed_for_plain_dicts(tmp_path, student):
    # 'args' as a plain dict (not a Namespace) is data, so weights-only loading accepts it
    torch.save({"student": student.state_dict(), "args": vars(argparse.Namespace(lr=0.1))}, tmp_path / "a.pth")
    convert_checkpoint(tmp_path / "a.pth", tmp_path / "a.sq.bin", verify=False, **told(student))


def _onnx_bytes() -> bytes:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    return helper.make_model(graph, producer_name="pytorch").SerializeToString()


@pytest.mark.parametrize("name,content,what", [
    ("student.pth", "onnx", "an ONNX model"),           # recognised by content, whatever the name
    ("model.onnx", "onnx", "an ONNX model"),
    ("face.pth", b"\x89PNG\r\n\x1a\n" + bytes(64), "an image"),
    ("weights.pt", b"\x89HDF\r\n\x1a\n" + bytes(64), "an HDF5 file"),
    ("x.pth", bytes(range(7)) + b"\x00{\"a\":1}", "a safetensors file"),
])
def test_other_formats_are_recognised_and_refused(tmp_path, name, content, what):
    (tmp_path / name).write_bytes(_onnx_bytes() if content == "onnx" else content)
    with pytest.raises(ConvertError, match=f"is {what}.*not a PyTorch checkpoint") as info:
        convert_checkpoint(tmp_path / name, tmp_path / "x.sq.bin")
    assert "--trust-pickle" not in str(info.value)


def _run_without_torch(args, cwd):
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\n"   # import torch now raises ImportError
            "from facert.cli import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_missing_file_is_said_before_missing_torch(tmp_path):
    result = _run_without_torch(["convert", str(tmp_path / "nope.pth"), "-o", str(tmp_path / "x.sq.bin")], tmp_path)
    assert result.returncode == 1 and "checkpoint not found" in result.stderr and "Traceback" not in result.stderr


def test_missing_torch_gives_the_pinned_install_advice(tmp_path, student):
    torch.save(student.state_dict(), tmp_path / "s.pth")
    result = _run_without_torch(["convert", str(tmp_path / "s.pth"), "-o", str(tmp_path / "x.sq.bin")], tmp_path)
    assert result.returncode == 2 and "pip install torch==2.13.0" in result.stderr
    assert "Traceback" not in result.stderr


def test_gdconv_head_at_another_input_size_is_refused(tmp_path):
    """A global depthwise conv is sized for one input: at another it would not pool the whole map."""
    from students import GDConvSqueezeNet, randomize
    student = randomize(GDConvSqueezeNet(dim=32, size=112))
    torch.save(student.state_dict(), tmp_path / "gd.pth")
    with pytest.raises(ConvertError, match=r"global depthwise conv classifier\.2 \(6x6\).*--input-size"):
        convert_checkpoint(tmp_path / "gd.pth", tmp_path / "gd.sq.bin", input_size=128, verify=False,
                           **told(student))
    assert not (tmp_path / "gd.sq.bin").exists()
