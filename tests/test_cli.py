"""The `facert` command's convert, info and embed, through main(argv) and once through a subprocess."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

cv2 = pytest.importorskip("cv2")

import facert
from facert.cli import main
from students import make_student

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KNOWN = ["--mean", "0.5", "--std", "0.5", "--head-activation", "relu"]   # what the state_dict cannot tell
PHOTOS = [DATA / "people" / "barack_obama" / "1.jpg", DATA / "people" / "rose_leslie" / "1.jpg"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    student = make_student("torchvision_bn", dim=128, seed=4)
    torch.save({"state_dict": {"module." + k: v for k, v in student.state_dict().items()}, "epoch": 2},
               folder / "student.pth")
    return folder / "student.pth"


@pytest.fixture(scope="module")
def model(checkpoint):
    out = checkpoint.with_name("student.sq.bin")
    assert main(["convert", str(checkpoint), "-o", str(out), *KNOWN, "--meta", "verify_threshold=0.5",
                 "--meta", "verify_embedding=face+mirror"]) == 0
    return out


def test_convert_prints_what_it_did(checkpoint, tmp_path, capsys):
    out = tmp_path / "m.sq.bin"
    code = main(["convert", str(checkpoint), "-o", str(out), "--input-size", "97", "--channel-order", "BGR",
                 "--mean", "127.5", "--std", "128", "--scale", "1", "--head-activation", "relu",
                 "--meta", "verify_threshold=0.61", "--meta", "verify_embedding=face+mirror", "--meta", "note=a=b"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "state_dict at ['state_dict'], stripped prefixes module." in text
    assert "batchnorm folded: 25" in text
    assert "activation relu (as requested)" in text
    assert "[3, 97, 97] BGR" in text
    verify_line = next(line for line in text.splitlines() if line.startswith("verify"))
    assert verify_line.startswith("verify ok") and "min cosine" in verify_line
    info = facert.load_model_info(out)
    assert info["metadata"]["verify_threshold"] == "0.61" and info["metadata"]["note"] == "a=b"
    assert list(info["input"]["mean"]) == [127.5] * 3 and info["input"]["scale"] == 1.0


def test_convert_head_activation_override_and_fp16(checkpoint, tmp_path, capsys):
    out = tmp_path / "h.sq.bin"
    assert main(["convert", str(checkpoint), "-o", str(out), "--head-activation", "none", "--fp16",
                 "--mean", "0.5", "--std", "0.5"]) == 0
    text = capsys.readouterr().out
    assert "activation none (as requested)" in text and "F16" in text
    head = next(op for op in facert.load_model_info(out)["ops"] if op["name"] == "head")
    assert head["type"] == "conv2d"


def test_convert_refuses_pickle_without_trust(tmp_path, capsys):
    import argparse

    student = make_student("plain_linear", dim=32, narrow=True)
    torch.save({"student": student.state_dict(), "args": argparse.Namespace(lr=1)}, tmp_path / "dino.pth")
    assert main(["convert", str(tmp_path / "dino.pth"), "-o", str(tmp_path / "d.sq.bin")]) == 1
    assert "--trust-pickle" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "dino.pth"), "-o", str(tmp_path / "d.sq.bin"), "--trust-pickle",
                 "--mean", "0.5", "--std", "0.5", "--head-activation", "none"]) == 0


def test_convert_unrecognised_names_keys(tmp_path, capsys):
    torch.save({"encoder.weight": torch.randn(4, 4)}, tmp_path / "x.pth")
    assert main(["convert", str(tmp_path / "x.pth"), "-o", str(tmp_path / "x.sq.bin")]) == 1
    err = capsys.readouterr().err
    assert "could not be placed: encoder.weight" in err


def test_convert_fails_when_verification_fails(checkpoint, tmp_path, capsys, monkeypatch):
    import facert.convert.torch_model as verify

    real_build = verify.build_torch_model

    def perturbed(spec):   # a reference that disagrees with the file: verification must catch it
        model = real_build(spec)
        with torch.no_grad():
            next(model.parameters()).mul_(1.5)
        return model

    monkeypatch.setattr(verify, "build_torch_model", perturbed)
    assert main(["convert", str(checkpoint), "-o", str(tmp_path / "bad.sq.bin"), *KNOWN]) == 1
    captured = capsys.readouterr()
    assert "verify FAILED" in captured.out and "does not match PyTorch" in captured.err


def test_info(model, capsys):
    assert main(["info", str(model)]) == 0
    text = capsys.readouterr().out
    assert "checksum:     ok" in text and "squeezenet1_1" in text
    assert "3x112x112 RGB" in text and "dim 128, L2-normalised" in text
    assert "62,279,360" in text and "verify_threshold=0.5" in text
    assert any(line.split()[:2] == ["fire9", "concat"] and "512x6x6" in line for line in text.splitlines())


def test_info_on_corrupt_file(model, tmp_path, capsys):
    data = bytearray(model.read_bytes())
    data[-5] ^= 0xFF
    (tmp_path / "bad.sq.bin").write_bytes(bytes(data))
    assert main(["info", str(tmp_path / "bad.sq.bin")]) == 1
    assert "checksum mismatch" in capsys.readouterr().err


def test_embed_prints_and_saves(model, tmp_path, capsys):
    # photos: the faces are found and each face embedded as facert.faces does (not the whole photo)
    assert main(["embed", *map(str, PHOTOS), "--model", str(model), "--threads", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    engine = facert.Engine(model, threads=1)
    expected = [(str(p), f) for p in PHOTOS for f in facert.faces(cv2.imread(str(p)), engine)]
    assert len(expected) == 2   # one face each (Obama's shirt box scores below MIN_SCORE)
    assert [tuple(line.split("\t")[:2]) for line in lines] == [(p, ",".join(map(str, f.box))) for p, f in expected]
    printed = np.array([[float(v) for v in line.split("\t")[2].split()] for line in lines])
    np.testing.assert_allclose(printed, np.stack([f.embedding for _, f in expected]), atol=1e-6)
    out = tmp_path / "e.npy"
    assert main(["embed", *map(str, PHOTOS), "--model", str(model), "-o", str(out)]) == 0
    saved = np.load(out)
    assert saved.dtype == np.float32 and saved.shape == (2, 128)
    np.testing.assert_allclose(np.linalg.norm(saved, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(printed, saved, atol=1e-6)


def test_embed_whole_image_for_crops_and_no_face_hint(model, tmp_path, capsys):
    crop = np.ascontiguousarray(cv2.imread(str(PHOTOS[0]))[94:392, 345:643])
    cv2.imwrite(str(tmp_path / "crop.png"), crop)
    assert main(["embed", str(tmp_path / "crop.png"), "--model", str(model), "--whole-image"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.split("\t")[1] == "whole"
    vector = np.array([float(v) for v in line.split("\t")[2].split()])
    np.testing.assert_allclose(vector, facert.face_embedding(crop, facert.Engine(model)), atol=1e-6)
    cv2.imwrite(str(tmp_path / "wall.png"), np.full((200, 200, 3), 128, np.uint8))
    assert main(["embed", str(tmp_path / "wall.png"), "--model", str(model)]) == 1
    err = capsys.readouterr().err
    assert "no face found in" in err and "--whole-image" in err and "Traceback" not in err


def test_embed_unreadable_image(model, tmp_path, capsys):
    (tmp_path / "x.jpg").write_bytes(b"not an image")
    assert main(["embed", str(tmp_path / "x.jpg"), "--model", str(model)]) == 1
    assert "cannot decode image" in capsys.readouterr().err


def test_module_entry_point(model, tmp_path):
    # cwd away from the checkout: `python -m` puts the cwd first on sys.path, and the source tree's
    # facert/ has no compiled _core; the installed package is what is under test.
    result = subprocess.run([sys.executable, "-m", "facert.cli", "info", str(model)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "checksum:     ok" in result.stdout


def test_info_json(model, capsys):
    import json

    assert main(["info", str(model), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["checksum"] == "ok" and info["output"]["dim"] == 128 and len(info["ops"]) == 38


def test_info_on_a_checkpoint_is_refused(checkpoint, capsys):
    assert main(["info", str(checkpoint)]) == 1
    err = capsys.readouterr().err
    assert str(checkpoint) in err and "Traceback" not in err


def test_version_and_python_dash_m_facert(tmp_path):
    result = subprocess.run([sys.executable, "-m", "facert", "--version"], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"facert {facert.__version__}"


@pytest.mark.parametrize("command", ["verify", "demo"])
def test_model_without_threshold_explains_the_fix(tmp_path, checkpoint, command, capsys):
    bare_model = tmp_path / "mine.sq.bin"
    assert main(["convert", str(checkpoint), "-o", str(bare_model), *KNOWN, "--no-verify"]) == 0
    capsys.readouterr()
    assert main([command, *map(str, PHOTOS), "--model", str(bare_model)]) == 1
    err = capsys.readouterr().err
    assert "no verify_threshold" in err and "--threshold" in err and "--meta verify_threshold=" in err
    assert "Traceback" not in err
    assert main([command, *map(str, PHOTOS), "--model", str(bare_model), "--threshold", "0.5"]) == 0


@pytest.mark.parametrize("value", ["1.5", "-2", "nan", "x"])
def test_threshold_outside_minus_one_one_is_refused(value, capsys):
    with pytest.raises(SystemExit) as info:
        main(["verify", *map(str, PHOTOS), "--threshold", value])
    assert info.value.code == 2 and "[-1, 1]" in capsys.readouterr().err


def test_user_errors_never_print_a_traceback(tmp_path):
    (tmp_path / "fake.sq.bin").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    cases = [["verify", str(tmp_path / "nope.jpg"), str(PHOTOS[0])],
             ["verify", *map(str, PHOTOS), "--model", str(tmp_path / "fake.sq.bin")],
             ["verify", str(PHOTOS[0]), str(DATA / "people" / "hard" / "obama_partial_face.jpg")],
             ["embed", str(PHOTOS[0]), "--model", str(tmp_path / "missing.sq.bin")]]
    for args in cases:
        result = subprocess.run([sys.executable, "-m", "facert", *args], capture_output=True, text=True,
                                timeout=120, cwd=tmp_path)
        assert result.returncode == 1 and "Traceback" not in result.stderr, (args, result.stderr)
        assert result.stderr.startswith(f"facert {args[0]}: error: "), result.stderr


def test_verify_errors_name_the_file(capsys):
    partial = str(DATA / "people" / "hard" / "obama_partial_face.jpg")
    assert main(["verify", str(PHOTOS[0]), partial]) == 1
    assert f"no face found in {partial}" in capsys.readouterr().err
