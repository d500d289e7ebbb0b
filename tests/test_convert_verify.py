"""The converter's closing check: facert on the written file against PyTorch, and that it can fail."""
from __future__ import annotations

import pytest
import torch

from checkpoint_layouts import bare, torchscript, whole_module
from facert.convert import VerificationError, convert_checkpoint
from students import make_student


@pytest.mark.parametrize("save,reference", [
    (bare, "PyTorch rebuilt from the state_dict"),
    (torchscript, "the checkpoint's own module"),
    (whole_module, "the checkpoint's own module"),
])
def test_verify_passes_and_names_its_reference(tmp_path, save, reference):
    student = make_student("plain_bn_linear_bn1d", dim=128, seed=11)
    trust = save(student, tmp_path / "s.pt")
    report = convert_checkpoint(tmp_path / "s.pt", tmp_path / "s.sq.bin", trust_pickle=trust)
    v = report.verify
    assert v.passed and v.reference == reference
    assert v.min_cosine >= 0.99999 and v.max_rel_err <= 1e-5   # seen: ~3e-7


def test_torchscript_reveals_a_geometry_the_state_dict_hides(tmp_path):
    # a stem with padding=1 has the same weights as torchvision's padding=0 stem: only running the
    # archive's own graph can tell, and verification must then refuse the file
    student = make_student("torchvision", dim=64, seed=12, narrow=True)
    student.features[0].padding = (1, 1)
    torchscript(student, tmp_path / "padded.pt")
    with pytest.raises(VerificationError, match="does not match PyTorch") as info:
        convert_checkpoint(tmp_path / "padded.pt", tmp_path / "padded.sq.bin")
    assert info.value.report.verify.reference == "the checkpoint's own module"


def test_fp16_verification_uses_the_fp16_tolerance(tmp_path):
    student = make_student("torchvision_bn", dim=128, seed=13)
    torch.save(student.state_dict(), tmp_path / "s.pth")
    report = convert_checkpoint(tmp_path / "s.pth", tmp_path / "s.sq.bin", fp16=True)
    assert report.verify.passed and report.verify.min_cosine_required == 0.999
    assert 1e-5 < report.verify.max_rel_err < 5e-2   # really rounded to half, and still close
