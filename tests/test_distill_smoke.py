"""A fast run of the distillation tool (a few steps on a few images), and the converter round trip
of the checkpoint it writes, so the tool cannot silently rot."""
import argparse
import csv
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

import facert  # noqa: E402
from facert.distill import train  # noqa: E402
from facert.distill.student import SqueezeNetEmbedder  # noqa: E402
from facert.distill.teacher import teacher_available  # noqa: E402
from facert.distill.transfer import is_val, list_transfer_set, prepare, split  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FOLDERS = ["utkface_part1", "celeba_ids"]
N_PER_FOLDER = 18     # celeba_ids: the first 3 identities, 6 photos each

pytestmark = pytest.mark.skipif(not teacher_available(), reason="needs dlib-bin + face-recognition-models "
                                                                 "(tools/requirements-test.txt installs them)")


def _args(work: Path, **over) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    train.add_arguments(p)
    args = p.parse_args(["--data", str(DATA), "--folders", *FOLDERS, "--work-dir", str(work),
                         "--limit", str(N_PER_FOLDER), "--max-steps", "3", "--batch", "8", "--threads", "1",
                         "--workers", "2", "--minutes", "5", "--lfw", "none",
                         "--identity-weight", "0.5"])   # off by default; on here so its code path runs
    for k, v in over.items():
        setattr(args, k, v)
    return args


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("distill")
    lines = []
    summary = train.run(_args(work), log=lines.append)
    return work, summary, lines


def test_tool_writes_an_ordinary_distillation_checkpoint(smoke_run):
    work, summary, lines = smoke_run
    assert summary["steps"] == 3 and summary["images"] == 2 * N_PER_FOLDER
    ck = torch.load(work / "student.pth", map_location="cpu", weights_only=True)
    assert {"student", "teacher", "epoch", "optimizer"} <= set(ck)
    assert ck["teacher"]["dim"] == 128 and len(ck["teacher"]["target_centre"]) == 128
    assert ck["config"]["input_size"] == 112 and ck["config"]["head_activation"] == "none"
    assert ck["config"]["crop"] == "mtcnn+align" and ck["config"]["transfer_set"] == FOLDERS
    model = SqueezeNetEmbedder(batchnorm=ck["config"]["batchnorm"])
    model.load_state_dict(ck["student"])   # every key present, no extra ones
    fresh = SqueezeNetEmbedder(batchnorm=ck["config"]["batchnorm"]).state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in ck["student"].items() if v.is_floating_point())
    rows = list(csv.DictReader(open(work / "curve.csv")))
    assert rows and np.isfinite(float(rows[-1]["train_loss"]))
    per_source = {k for k in rows[0] if k.startswith("val_cos_")} - {"val_cos_mean", "val_cos_p5"}
    assert per_source and per_source <= {f"val_cos_{f}" for f in FOLDERS} and "lfw_acc" in rows[0]
    assert (work / "curve.png").stat().st_size > 1000
    assert any(line.startswith("pass: MTCNN aligned") for line in lines)   # the fallback counts are logged


def test_pass_is_real_dlib_and_the_runtime_crop(smoke_run):
    work, _, _ = smoke_run
    names, _ = list_transfer_set(DATA, FOLDERS, N_PER_FOLDER)
    got = prepare(DATA, names, work, 112)   # from the cache the run wrote
    norms = np.linalg.norm(got["emb"], axis=1)
    assert np.all((norms > 0.5) & (norms < 2.5))          # dlib descriptors are ~1.4 long
    assert (got["teacher_box"] == "hog").mean() > 0.7      # HOG finds most of these faces itself
    # The student's crop is what the run-time pipeline gives: facert.detect(mtcnn) -> facert.align.
    checked = 0
    for i, name in enumerate(names):
        img = cv2.imread(str(DATA / name))
        faces = facert.detect(img, detector="mtcnn")
        if faces:
            np.testing.assert_array_equal(got["crops"][i], facert.align(img, faces[0]))
            checked += 1
    assert got["aligned"].all() and checked >= 30


def test_split_holds_out_whole_identities_and_about_ten_percent():
    names, ids = list_transfer_set(DATA, FOLDERS)
    tr, va = split(names, ids)
    assert set(tr).isdisjoint(va) and len(tr) + len(va) == len(names)
    assert 0.08 < len(va) / len(names) < 0.12
    assert {ids[i] for i in tr if ids[i]}.isdisjoint({ids[i] for i in va if ids[i]})
    assert all(is_val(ids[i] or names[i]) for i in va[:50])
    again = split(names, ids)
    assert np.array_equal(again[0], tr) and np.array_equal(again[1], va)


def test_identity_centres_are_the_teachers_mean_direction_over_training_rows():
    target = torch.nn.functional.normalize(torch.randn(6, 4), dim=1)
    ids = ["a", "a", "b", "", "b", "c"]
    label, centres = train.identity_centres(target, ids, np.array([0, 1, 2, 3, 4]))
    assert label.tolist() == [0, 0, 1, -1, 1, -1]   # "c" is held out, "" has no identity
    expect = torch.nn.functional.normalize(target[0] + target[1], dim=0)
    assert torch.allclose(centres[0], expect, atol=1e-6) and centres.shape == (2, 4)


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


def test_packed_transfer_set_trains_where_the_data_is_not(smoke_run, tmp_path):
    """--pack writes what a machine without ../shared needs; --packed trains from it alone (no --data, no pass)."""
    from facert.distill import pack as pack_module
    from facert.distill.pack import read_pack, write_pack
    work, _, lines = smoke_run
    pack = tmp_path / "carry" / "transfer.npz"
    assert train.run(_args(work, pack=pack), log=lines.append)["images"] == 2 * N_PER_FOLDER
    names, identities = list_transfer_set(DATA, FOLDERS, N_PER_FOLDER)
    want = prepare(DATA, names, work, 112)
    got_names, got_ids, got, lfw = read_pack(pack)
    assert got_names == names and got_ids == identities and lfw is None and got["teacher_mirror"] is False
    np.testing.assert_array_equal(got["aligned"], want["aligned"])
    np.testing.assert_allclose(got["emb"], want["emb"], rtol=1e-3, atol=1e-3)      # float16 in the pack
    diff = np.abs(got["crops"].astype(int) - want["crops"].astype(int))
    assert got["crops"].shape == want["crops"].shape and diff.mean() < 3 and np.median(diff) <= 2   # lossy WebP
    # where OpenCV is missing (the GPU machine), Pillow decodes the same pixels
    z = np.load(pack)
    by_pillow = pack_module._decode(z["crops"], z["crop_offsets"], 112, pack_module.decode_pillow)
    np.testing.assert_array_equal(by_pillow, got["crops"])
    # trains from the pack alone: a data folder that does not exist is never read
    summary = train.run(_args(tmp_path / "w", packed=pack, data=tmp_path / "absent", max_steps=2), log=lines.append)
    assert summary["steps"] == 2 and (tmp_path / "w" / "student.pth").exists()
    # LFW pairs and crops round-trip too (pairs of paths, a photo without a face kept as -1)
    pairs = [("a/1.jpg", "a/2.jpg", True), ("a/1.jpg", "b/1.jpg", False)]
    index = {"a/1.jpg": 0, "a/2.jpg": 1, "b/1.jpg": -1}
    write_pack(tmp_path / "lfw.npz", names[:2], identities[:2], {k: v[:2] if isinstance(v, np.ndarray) else v for k, v in want.items()},
               (pairs, want["crops"][:2], index))
    _, _, _, (got_pairs, got_crops, got_index) = read_pack(tmp_path / "lfw.npz")
    assert got_pairs == pairs and got_index == index and got_crops.shape == (2, 112, 112, 3)


def test_init_from_a_model_file_computes_what_the_file_does(smoke_run, tmp_path):
    """--init: a converted student (BatchNorms folded away) back into the trainable student, BatchNorms and all."""
    from facert.convert import convert_checkpoint
    from facert.distill.student import load_model_file
    from facert.numpy_net import read_sq_bin

    work, _, lines = smoke_run
    ck = torch.load(work / "student.pth", map_location="cpu", weights_only=True)
    trained = SqueezeNetEmbedder(batchnorm=True)
    trained.load_state_dict(ck["student"])
    trained.eval()
    sq = tmp_path / "student.sq.bin"
    convert_checkpoint(work / "student.pth", sq)
    names, _ = list_transfer_set(DATA, FOLDERS, N_PER_FOLDER)
    crops = prepare(DATA, names, work, 112)["crops"]
    x = train._normalise(train._to_input(crops))
    model = SqueezeNetEmbedder(batchnorm=True)
    load_model_file(model, read_sq_bin(sq)[2], x)
    assert model.training   # left as it was
    model.eval()
    with torch.no_grad():
        ref, got = trained(x), model(x)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=0, atol=1e-4 * ref.abs().max().item())
    model.train()           # on the batch it was calibrated on, batch statistics are the running ones
    with torch.no_grad():
        np.testing.assert_allclose(model(x).numpy(), ref.numpy(), rtol=0, atol=1e-3 * ref.abs().max().item())
    bn = model.features[3].squeeze_bn
    assert not torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))   # calibrated, not reset

    summary = train.run(_args(tmp_path / "w", init=sq, max_steps=1), log=lines.append)
    assert summary["steps"] == 1 and any(line.startswith("init: ") for line in lines)
    with pytest.raises(ValueError, match="give one"):
        train.run(_args(tmp_path / "w", init=sq, resume=work / "student.pth"))


def test_gdconv_head_starts_as_the_average_trains_and_converts(smoke_run, tmp_path):
    """--head gdconv: a model file of the average-pooling head loads into it unchanged (the GDConv starts as the
    average), one step trains, and the converter turns the checkpoint into a depthwise conv2d it verifies."""
    from facert.convert import convert_checkpoint
    from facert.distill.student import load_model_file
    from facert.numpy_net import read_sq_bin

    work, _, lines = smoke_run
    avg_sq = tmp_path / "avg.sq.bin"
    convert_checkpoint(work / "student.pth", avg_sq, verify=False)
    names, _ = list_transfer_set(DATA, FOLDERS, N_PER_FOLDER)
    x = train._normalise(train._to_input(prepare(DATA, names, work, 112)["crops"]))
    avg, gd = SqueezeNetEmbedder(head="avg"), SqueezeNetEmbedder(head="gdconv")
    for model in (avg, gd):
        load_model_file(model, read_sq_bin(avg_sq)[2], x)
        model.eval()
    with torch.no_grad():
        ref = avg(x)
        np.testing.assert_allclose(gd(x).numpy(), ref.numpy(), rtol=0, atol=1e-5 * ref.abs().max().item())

    out = tmp_path / "gd.pth"
    train.run(_args(work, init=avg_sq, head="gdconv", max_steps=1, out=out), log=lines.append)
    ck = torch.load(out, map_location="cpu", weights_only=True)
    assert ck["config"]["head"] == "gdconv" and ck["student"]["classifier.2.weight"].shape == (128, 1, 6, 6)
    gd_sq = tmp_path / "gd.sq.bin"
    report = convert_checkpoint(out, gd_sq)   # verify=True: facert against the rebuilt PyTorch network
    assert "global depthwise conv 6x6" in report.head
    _, graph, tensors = read_sq_bin(gd_sq)
    op = next(op for op in graph["ops"] if op["name"] == "gdconv")
    assert op["groups"] == 128 and op["kernel"] == [6, 6] and graph["output"]["name"] == "embedding"
    with pytest.raises(ValueError, match="give --head gdconv"):
        train.run(_args(work, resume=out, max_steps=1, out=tmp_path / "again.pth"))
    with pytest.raises(ValueError, match="GDConv head: give --head gdconv"):
        load_model_file(SqueezeNetEmbedder(head="avg"), tensors, x)


def test_init_refuses_a_model_file_with_another_input_contract(smoke_run, tmp_path):
    from facert.convert import convert_checkpoint
    work, _, _ = smoke_run
    sq = tmp_path / "bgr.sq.bin"
    convert_checkpoint(work / "student.pth", sq, input_size=96)
    with pytest.raises(ValueError, match=r"shape \[3, 96, 96\]"):
        train.init_from_model_file(SqueezeNetEmbedder(), sq, 112, np.zeros((2, 112, 112, 3), np.uint8), "cpu")


def test_mirror_targets_average_the_chip_and_its_mirror(tmp_path):
    """--teacher-mirror: dlib's descriptor of its chip averaged with the mirrored chip's, cached apart. Checked
    against the teacher run on the mirrored photo itself (its own detection and landmarks: close, not equal)."""
    from facert.distill.teacher import DlibTeacher
    names, _ = list_transfer_set(DATA, ["utkface_part1"], 3)
    got = prepare(DATA, names, tmp_path, 112, workers=1, mirror=True)
    plain = prepare(DATA, names, tmp_path, 112, workers=1)
    assert got["teacher_mirror"] and not plain["teacher_mirror"]
    assert (tmp_path / "pass_112_mirror").is_dir() and (tmp_path / "pass_112").is_dir()
    teacher = DlibTeacher()
    for i, name in enumerate(names):
        img = cv2.imread(str(DATA / name))
        expect = 0.5 * (teacher.embed(img)[0] + teacher.embed(np.ascontiguousarray(img[:, ::-1]))[0])
        cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
        assert np.abs(got["emb"][i] - plain["emb"][i]).max() > 1e-3    # the mirror view changed the target
        assert cos(got["emb"][i], expect) > cos(plain["emb"][i], expect)   # toward the photo's own mirror
        assert cos(got["emb"][i], expect) > 0.98


def test_ema_saves_the_average_and_the_weights_training_goes_on_from(smoke_run):
    """--ema: "student" (what convert reads and the curve scores) is the moving average, "student_train" the
    last step's weights. Decay 1 freezes the average at the first step's weights, which a 1-step run has too
    (to 1e-7: two runs' steps may differ in the last bits; three steps at lr 2e-3 move weights far more)."""
    work, _, lines = smoke_run
    train.run(_args(work, ema=1.0, max_steps=1, out=work / "ema1.pth"), log=lines.append)
    train.run(_args(work, ema=1.0, max_steps=3, out=work / "ema3.pth"), log=lines.append)
    one = torch.load(work / "ema1.pth", map_location="cpu", weights_only=True)
    three = torch.load(work / "ema3.pth", map_location="cpu", weights_only=True)
    assert one["config"]["ema"] == 1.0
    for k, v in three["student"].items():
        if v.is_floating_point():
            torch.testing.assert_close(v, one["student_train"][k], rtol=0, atol=1e-7)
            torch.testing.assert_close(one["student"][k], one["student_train"][k], rtol=0, atol=0)
    moved = [k for k, v in three["student_train"].items() if v.is_floating_point()
             and float((v - three["student"][k]).abs().max()) > 1e-5]
    assert moved   # training went on past the average
    rows = list(csv.DictReader(open(work / "curve.csv")))
    assert "val_id_auc" in rows[0]


def test_bf16_training_saves_fp32_weights_a_converter_reads(smoke_run, tmp_path):
    """--precision bf16 autocasts the training forward passes only: the checkpoint holds fp32 weights in the
    standard layout (the model trains channels-last), near the fp32 run's after the same 3 steps."""
    from facert.convert import convert_checkpoint
    work, _, lines = smoke_run
    train.run(_args(work, precision="bf16", out=work / "bf16.pth"), log=lines.append)
    bf16 = torch.load(work / "bf16.pth", map_location="cpu", weights_only=True)
    fp32 = torch.load(work / "student.pth", map_location="cpu", weights_only=True)
    assert bf16["config"]["precision"] == "bf16"
    for k, v in bf16["student"].items():
        assert v.is_contiguous() and v.dtype == fp32["student"][k].dtype
        if v.is_floating_point() and v.dim() == 4:   # 3 steps at lr 2e-3 apart from the same start
            assert float((v - fp32["student"][k]).abs().max()) < 0.05
    report = convert_checkpoint(work / "bf16.pth", tmp_path / "bf16.sq.bin")   # verified against PyTorch
    assert report.bn_folded == 25


def test_eval_every_k_epochs_and_at_the_end(smoke_run):
    work, _, lines = smoke_run
    summary = train.run(_args(work, max_steps=9, eval_every=2, out=work / "every2.pth"), log=lines.append)
    rows = list(csv.DictReader(open(work / "curve.csv")))
    epochs, steps = [int(r["epoch"]) for r in rows], [int(r["step"]) for r in rows]
    per_epoch = steps[0] // (epochs[0] + 1)   # the first row comes after whole epochs
    assert per_epoch >= 2 and len(rows) >= 2 and steps[-1] == 9
    assert all(e % 2 == 1 for e in epochs[:-1]) and epochs[0] == 1    # every 2nd epoch, then the last
    assert all(np.isfinite(float(r["train_loss"])) for r in rows)
    assert torch.load(work / "every2.pth", map_location="cpu", weights_only=True)["epoch"] == epochs[-1]
