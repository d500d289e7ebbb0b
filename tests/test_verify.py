"""The bundled model and the verify pipeline: facert.Engine() -> detect -> crop -> embed -> verify."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

import facert  # noqa: E402
from facert.distill.pairs import roc_auc  # noqa: E402
from facert.verify import NoFaceError, VerifyResult, model_threshold  # noqa: E402

from photos import PEOPLE, read_photo  # noqa: E402
# Floors a little under what the bundled model measures on all 105 pairs (docs/model_card.md): AUC 0.995,
# accuracy 97.1% at its LFW-calibrated threshold (answering "different" to every pair would score 86.7%).
AUC_FLOOR = 0.98
ACCURACY_FLOOR = 0.94


@pytest.fixture(scope="module")
def engine():
    return facert.Engine()


def test_bundled_model_loads_and_embeds(engine):
    info = engine.info
    assert info["arch"] == "squeezenet1_1" and engine.dim == 128
    assert tuple(engine.input_shape) == (3, 112, 112)
    assert info["checksum"] == "ok" and info["metadata"]["weights"] == "float16"
    assert 0.0 < model_threshold(engine) < 1.0
    emb = engine.embed(read_photo("barack_obama/2.jpg"))
    assert emb.shape == (128,) and emb.dtype == np.float32
    assert abs(float(np.linalg.norm(emb)) - 1.0) < 1e-5
    # A bundled model file is small: fp16 SqueezeNet with a 128-d head.
    path = Path(facert.__file__).parent / "models" / "default.sq.bin"
    assert path.is_file() and 1_000_000 < path.stat().st_size < 2_000_000


@pytest.fixture(scope="module")
def people_scores(engine):
    """Every pair of the 15 people/ photos (105 pairs, 14 same-person): cosine of facert's face
    embeddings, and whether the two photos are of the same person."""
    from facert.demo import default_photos
    from facert.verify import embed_face
    photos = default_photos(PEOPLE)
    emb = np.stack([embed_face(cv2.imread(str(p)), engine)[0] for p in photos])
    iu = np.triu_indices(len(photos), 1)
    same = np.array([[a.parent == b.parent for b in photos] for a in photos])[iu]
    return (emb @ emb.T)[iu], same, photos


def test_people_pairs_rank_same_above_different(people_scores):
    """Area under the ROC curve over all 105 people/ pairs: how often a same-person pair scores above
    a different-person pair (0.5 = chance). Threshold-free, so it checks the embedding itself."""
    scores, same, _ = people_scores
    auc = roc_auc(scores, same)
    assert auc >= AUC_FLOOR, f"people/ pairs AUC {auc:.3f}"


def test_people_pairs_at_the_models_threshold(engine, people_scores):
    """Every people/ pair answered at the bundled threshold (calibrated on LFW, not on these photos)."""
    scores, same, photos = people_scores
    t = model_threshold(engine)
    acc = float(np.mean((scores >= t) == same))
    assert acc >= ACCURACY_FLOOR, f"people/ pairs accuracy {acc:.3f} at threshold {t:.4f}"
    # facert.verify gives the same score as the embeddings above (one pair, both orders of work).
    r = facert.verify(cv2.imread(str(photos[0])), cv2.imread(str(photos[1])), engine=engine)
    assert abs(r.score - scores[0]) < 1e-5 and r.same == (scores[0] >= t)


def test_verify_is_symmetric_and_uses_the_largest_face(engine):
    a, b = read_photo("barack_obama/1.jpg"), read_photo("joe_biden/1.jpg")
    ab, ba = facert.verify(a, b, engine=engine), facert.verify(b, a, engine=engine)
    assert abs(ab.score - ba.score) < 1e-6
    assert ab.face_a == facert.detect(a)[0] and ab.face_b == facert.detect(b)[0]


@pytest.mark.parametrize("make", [lambda: np.zeros((200, 300, 3), np.uint8),
                                  lambda: np.random.default_rng(0).integers(0, 256, (240, 240, 3), dtype=np.uint8),
                                  lambda: read_photo("hard/obama_partial_face2.jpg")])
def test_no_face_raises_no_face_error(engine, make):
    with pytest.raises(NoFaceError, match="no face found in img_b"):
        facert.verify(read_photo("barack_obama/2.jpg"), make(), engine=engine)
    assert issubclass(facert.NoFaceError, facert.InputError)


def test_bad_image_is_input_error(engine):
    with pytest.raises(facert.InputError, match="HxWx3 uint8"):
        facert.verify(np.zeros((50, 50), np.uint8), read_photo("barack_obama/2.jpg"), engine=engine)


def test_explicit_threshold_overrides_the_model(engine):
    a, b = read_photo("barack_obama/1.jpg"), read_photo("barack_obama/2.jpg")
    assert not facert.verify(a, b, engine=engine, threshold=1.0).same
    assert facert.verify(a, b, engine=engine, threshold=-1.0).same
    for bad in (1.01, -1.5, float("nan"), "high"):   # not a cosine: refused, not silently always/never
        with pytest.raises(ValueError, match=r"\[-1, 1\]"):
            facert.verify(a, b, engine=engine, threshold=bad)


def test_demo_finds_the_people_photos_from_the_repository(monkeypatch):
    from facert.demo import default_photos, find_people_dir
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    people = find_people_dir()
    assert people is not None and people.resolve() == PEOPLE.resolve()
    assert len(default_photos(people)) == 15   # named people only: not groups/, hard/, resolutions/


def test_demo_prints_a_matrix(tmp_path):
    from facert.demo import default_photos
    photos = [str(p) for p in default_photos(PEOPLE)]
    # cwd outside the checkout, so the installed facert (with _core) is the one imported.
    out = subprocess.run([sys.executable, "-m", "facert.cli", "demo", *photos], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "same person" in out.stdout and "crop + embed" in out.stdout
    right, total = out.stdout.split("agrees with the photos' folders: ")[1].split()[0].split("/")
    assert int(total) == 15 * 14 // 2 and 0 <= int(right) <= int(total)
    assert out.stdout.count("=") >= 15   # at least the same-person diagonal neighbours get marked
