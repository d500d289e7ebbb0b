"""The converter's closing check: facert on the written file against PyTorch, and that it can fail."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from checkpoint_layouts import bare, torchscript, whole_module
from facert.convert import ConvertError, VerificationError, convert_checkpoint, from_module
from students import make_student, told


@pytest.mark.parametrize("save,reference", [
    (bare, "PyTorch rebuilt from the state_dict"),
    (torchscript, "the checkpoint's own module"),
    (whole_module, "the checkpoint's own module"),
])
def test_verify_passes_and_names_its_reference(tmp_path, save, reference):
    student = make_student("plain_bn_linear_bn1d", dim=128, seed=11)
    trust = save(student, tmp_path / "s.pt")
    report = convert_checkpoint(tmp_path / "s.pt", tmp_path / "s.sq.bin", trust_pickle=trust, **told(student))
    v = report.verify
    assert v.passed and v.reference == reference
    assert v.min_cosine >= 0.99999 and v.max_rel_err <= 1e-5   # seen: ~3e-7
    assert v.inputs.startswith("face photos from") and v.batch == 8   # real faces, not noise
    assert v.spread > 0.01 and "output spread" in v.describe()   # a random student: ~0.04


def test_torchscript_reveals_a_geometry_the_state_dict_hides(tmp_path):
    # a stem with padding=1 has the same weights as torchvision's padding=0 stem: only running the
    # archive's own graph can tell, and verification must then refuse the file
    student = make_student("torchvision", dim=64, seed=12, narrow=True)
    student.features[0].padding = (1, 1)
    torchscript(student, tmp_path / "padded.pt")
    with pytest.raises(VerificationError, match="does not match PyTorch") as info:
        convert_checkpoint(tmp_path / "padded.pt", tmp_path / "padded.sq.bin", trust_pickle=True, **told(student))
    assert info.value.report.verify.reference == "the checkpoint's own module"


def test_torchscript_is_code_and_needs_trust(tmp_path):
    from facert.convert import UnsafeCheckpointError

    student = make_student("torchvision", dim=32, narrow=True)
    torchscript(student, tmp_path / "ts.pt")
    with pytest.raises(UnsafeCheckpointError, match="TorchScript archive.*code.*--trust-pickle"):
        convert_checkpoint(tmp_path / "ts.pt", tmp_path / "ts.sq.bin", **told(student))
    assert not (tmp_path / "ts.sq.bin").exists()


def test_fp16_verification_uses_the_fp16_tolerance(tmp_path):
    student = make_student("torchvision_bn", dim=128, seed=13)
    torch.save(student.state_dict(), tmp_path / "s.pth")
    report = convert_checkpoint(tmp_path / "s.pth", tmp_path / "s.sq.bin", fp16=True, **told(student))
    assert report.verify.passed and report.verify.min_cosine_required == 0.999
    assert 1e-5 < report.verify.max_rel_err < 5e-2   # really rounded to half, and still close


def test_a_head_relu_that_zeroes_everything_is_refused(tmp_path):
    # before: "max abs error 0, cosine 1" (both sides all-zero), and embed() then returned zeros
    student = make_student("torchvision", dim=64, seed=14, narrow=True)
    with torch.no_grad():
        student.classifier[1].bias.fill_(-1e4)
    torch.save(student.state_dict(), tmp_path / "dead.pth")
    with pytest.raises(VerificationError, match="every output is all zeros"):
        convert_checkpoint(tmp_path / "dead.pth", tmp_path / "dead.sq.bin", **told(student))


def test_a_constant_output_is_refused(tmp_path):
    student = make_student("plain_linear", dim=64, seed=15, narrow=True)
    with torch.no_grad():
        student.fc.weight.zero_()   # the same embedding (the bias) for every face
    torch.save(student.state_dict(), tmp_path / "flat.pth")
    with pytest.raises(VerificationError, match="same for every input") as info:
        convert_checkpoint(tmp_path / "flat.pth", tmp_path / "flat.sq.bin", **told(student))
    assert info.value.report.verify.spread < 1e-3


def test_without_face_photos_verification_uses_natural_like_pictures(tmp_path, monkeypatch):
    import facert.demo
    from facert.convert.verify import sample_images

    monkeypatch.setattr(facert.demo, "find_data_dir", lambda *parts: None)
    images, what = sample_images(8, 64, 48)
    assert what.startswith("synthetic") and images.shape == (8, 64, 48, 3) and images.dtype == np.uint8
    x = images.astype(np.float64)
    assert x.min() == 0 and x.max() == 255 and len({im.tobytes() for im in images}) == 8
    # photos are smooth: neighbouring pixels correlate strongly (white noise: ~0)
    corr = np.corrcoef(x[:, :, :-1].ravel(), x[:, :, 1:].ravel())[0, 1]
    assert corr > 0.8
    student = make_student("plain_linear", dim=32, seed=16, narrow=True)
    torch.save(student.state_dict(), tmp_path / "s.pth")
    report = convert_checkpoint(tmp_path / "s.pth", tmp_path / "s.sq.bin", **told(student))
    assert report.verify.passed and report.verify.inputs.startswith("synthetic")


def test_from_module_reads_the_head_from_the_module_and_verifies_against_it(tmp_path):
    # torchvision names without the ReLU: the case a state_dict gets wrong
    student = make_student("torchvision", dim=48, seed=17, narrow=True).train()
    student.classifier[2] = torch.nn.Identity()
    report = from_module(student, 112, tmp_path / "m.sq.bin", mean=0.5, std=0.5)
    assert student.training   # the caller's mode is left as it was
    assert report.head_activation == "none" and report.head_activation_reason == "read from the module's traced graph"
    assert report.container == "module" and report.verify.passed
    assert report.verify.reference == "the checkpoint's own module"
    # a wrong explicit choice is caught by comparing with the module itself, not with a rebuild of it
    with pytest.raises(VerificationError, match="does not match PyTorch"):
        from_module(student, (112, 112), tmp_path / "bad.sq.bin", mean=0.5, std=0.5, head_activation="relu")


def test_from_module_needs_the_normalisation_and_a_module(tmp_path):
    student = make_student("plain_linear", dim=16, narrow=True)
    with pytest.raises(ConvertError, match="pass --mean and --std"):
        from_module(student, 112, tmp_path / "m.sq.bin", mean=None, std=None)
    with pytest.raises(ConvertError, match="needs a torch.nn.Module"):
        from_module(student.state_dict(), 112, tmp_path / "m.sq.bin", mean=0.5, std=0.5)
