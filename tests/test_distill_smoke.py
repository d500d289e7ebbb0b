"""A fast run of the distillation tool (a few steps on a few images), and the converter round trip
of the checkpoint it writes, so the tool cannot silently rot."""
import argparse
import csv
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from facert.crop import DEFAULT_MARGIN, face_crop  # noqa: E402
from facert.detect import detect  # noqa: E402
from facert.distill import train  # noqa: E402
from facert.distill.student import SqueezeNetEmbedder  # noqa: E402
from facert.distill.teacher import teacher_available  # noqa: E402
from facert.distill.transfer import is_val, list_images, split, student_crops  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
UTK = DATA / "utkface_part1"
N_IMAGES = 40


def _args(work: Path, **over) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    train.add_arguments(p)
    args = p.parse_args(["--data", str(UTK), "--work-dir", str(work), "--limit", str(N_IMAGES),
                         "--max-steps", "3", "--batch", "8", "--threads", "1", "--minutes", "5"])
    for k, v in over.items():
        setattr(args, k, v)
    return args


def _fake_teacher_cache(path: Path, names) -> None:
    """Only where dlib is not importable (CI installs it): random targets, so the student side still runs."""
    rng = np.random.default_rng(0)
    np.savez(path, names=np.array(names), emb=rng.normal(size=(len(names), 128)).astype(np.float32),
             found=np.ones(len(names), bool))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("distill")
    args = _args(work)
    if not teacher_available():
        args.teacher_cache = work / "fake_teacher.npz"
        _fake_teacher_cache(args.teacher_cache, list_images(UTK, N_IMAGES))
    lines = []
    summary = train.run(args, log=lines.append)
    return work, summary, lines


def test_tool_writes_an_ordinary_distillation_checkpoint(smoke_run):
    work, summary, lines = smoke_run
    assert summary["steps"] == 3 and summary["images"] == N_IMAGES
    ck = torch.load(work / "student.pth", map_location="cpu", weights_only=True)
    assert {"student", "teacher", "epoch", "optimizer"} <= set(ck)
    assert ck["teacher"]["dim"] == 128 and len(ck["teacher"]["target_centre"]) == 128
    assert ck["config"]["input_size"] == 112 and ck["config"]["head_activation"] == "none"
    model = SqueezeNetEmbedder(batchnorm=ck["config"]["batchnorm"])
    model.load_state_dict(ck["student"])   # every key present, no extra ones
    fresh = SqueezeNetEmbedder(batchnorm=ck["config"]["batchnorm"]).state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in ck["student"].items() if v.is_floating_point())
    rows = list(csv.DictReader(open(work / "curve.csv")))
    assert rows and np.isfinite(float(rows[-1]["train_loss"]))
    assert any("Haar found a face in" in line for line in lines)   # the fallback count is logged


@pytest.mark.skipif(not teacher_available(), reason="dlib-bin/face-recognition-models not installed")
def test_teacher_cache_is_real_dlib(smoke_run):
    work, _, lines = smoke_run
    z = np.load(work / "teacher_utkface_part1.npz")
    assert z["emb"].shape == (N_IMAGES, 128)
    norms = np.linalg.norm(z["emb"], axis=1)
    assert np.all((norms > 0.5) & (norms < 2.5))          # dlib descriptors are ~1.4 long
    assert z["found"].mean() > 0.8                          # HOG finds most UTKFace chips
    assert any(line.startswith("teacher: HOG found") for line in lines)


def test_student_sees_exactly_the_runtime_crop(smoke_run):
    work, _, _ = smoke_run
    names = list_images(UTK, N_IMAGES)
    cache = student_crops(UTK, names, 112, DEFAULT_MARGIN, work / f"crops_utkface_part1_{N_IMAGES}_112_m{DEFAULT_MARGIN}.npz")
    checked = 0
    for i, name in enumerate(names):
        img = cv2.imread(str(UTK / name))
        faces = detect(img)
        if faces:
            np.testing.assert_array_equal(cache["crops"][i], face_crop(img, faces[0], size=112))
            checked += 1
    assert checked >= 5


def test_split_is_deterministic_and_about_ten_percent():
    names = list_images(UTK)
    train_names, val_names = split(names)
    assert set(train_names).isdisjoint(val_names) and len(train_names) + len(val_names) == len(names)
    assert 0.08 < len(val_names) / len(names) < 0.12
    assert all(is_val(n) for n in val_names[:50])


@pytest.mark.parametrize("fp16", [False, True])
def test_converter_round_trip(smoke_run, tmp_path, fp16):
    import facert
    from facert.convert import convert_checkpoint

    work, _, _ = smoke_run
    ck = torch.load(work / "student.pth", map_location="cpu", weights_only=True)
    model = SqueezeNetEmbedder(batchnorm=ck["config"]["batchnorm"])
    model.load_state_dict(ck["student"])
    model.eval()
    out = tmp_path / "student.sq.bin"
    # nothing but the file: its config entry says what the state_dict cannot (mean/std, head activation)
    report = convert_checkpoint(work / "student.pth", out, fp16=fp16,
                                metadata={"verify_threshold": "0.5", "verify_embedding": "face+mirror"})
    assert "config" in report.input_reason and "config" in report.head_activation_reason
    assert report.input["mean"] == [0.5, 0.5, 0.5] and report.head_activation == "none"
    assert report.bn_folded == (25 if ck["config"]["batchnorm"] else 0)
    engine = facert.Engine(str(out))
    assert engine.info["metadata"]["verify_threshold"] == "0.5"
    x = torch.from_numpy(np.random.default_rng(2).standard_normal((2, 3, 112, 112)).astype(np.float32))
    with torch.no_grad():
        ref = model(x).numpy()
    got = engine.forward(x.numpy())
    if fp16:   # DESIGN: fp16 weights keep the embedding's direction (cosine >= 0.999)
        cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
        assert cos.min() >= 0.999
    else:      # BatchNorm folding and a different summation order: 1e-4 of the output's scale
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4 * np.abs(ref).max())
    # The engine's preprocessing is the tool's: RGB, (pixel/255 - 0.5)/0.5, on the 112 crop.
    crop = np.random.default_rng(4).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    np.testing.assert_allclose(engine.preprocess(crop), train._normalise(train._to_input(crop[None]))[0].numpy(),
                               atol=1e-6)
