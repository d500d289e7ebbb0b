"""facert.align: least-squares similarity onto the student's template, against OpenCV."""
import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from facert.align import TEMPLATE, align, align_matrix, similarity_transform  # noqa: E402
from facert.errors import InputError  # noqa: E402


def _similarity(scale, angle_deg, tx, ty):
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


def _apply(m, pts):
    return pts @ m[:, :2].T + m[:, 2]


@pytest.mark.parametrize("scale,angle,tx,ty", [(2.5, 0.0, 30.0, 40.0), (0.7, 17.0, -12.0, 3.5),
                                               (4.1, -35.0, 310.0, 95.0)])
def test_matches_estimate_affine_partial_2d(scale, angle, tx, ty):
    size = 112
    dst = TEMPLATE * size
    # Landmarks as a photo would give them: the template moved by a similarity, plus ~1 px noise.
    src = _apply(_similarity(scale, angle, tx, ty), dst) + np.random.default_rng(3).normal(0, 1.0, (5, 2))
    ours = align_matrix(src, size)
    ref, inliers = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32),
                                               method=cv2.LMEDS)
    assert inliers.all()
    # OpenCV refines in float32 (Levenberg-Marquardt): agree to 1e-3 of each coefficient's size.
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(ref[:, 2]).max()))
    # Both place the landmarks on the template to within the noise.
    assert np.abs(_apply(ours, src) - dst).max() < 3.0


def test_exact_similarity_is_recovered():
    m = _similarity(1.7, 23.0, 5.0, -8.0)
    src = np.random.default_rng(0).uniform(0, 200, (5, 2))
    np.testing.assert_allclose(similarity_transform(src, _apply(m, src)), m, atol=1e-9)


def test_no_reflection():
    src = TEMPLATE * 100
    mirrored = src * [-1.0, 1.0]
    m = similarity_transform(src, mirrored)
    assert np.linalg.det(m[:, :2]) > 0


def test_aligned_image_equals_warp_affine():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    src = _apply(_similarity(2.0, 10.0, 60.0, 20.0), TEMPLATE * 112)
    out = align(img, src, size=112)
    ref_m, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), (TEMPLATE * 112).astype(np.float32),
                                           method=cv2.LMEDS)
    ref = cv2.warpAffine(img, ref_m, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert out.shape == (112, 112, 3) and out.dtype == np.uint8
    # Same warp up to float32 rounding of the matrix: a few pixels may differ by a grey level or two.
    assert np.abs(out.astype(int) - ref.astype(int)).mean() < 1.0


@pytest.mark.parametrize("bad", [np.zeros((4, 2)), np.zeros((5, 3)), np.full((5, 2), np.nan), np.ones((5, 2))])
def test_bad_landmarks(bad):
    with pytest.raises(InputError):
        align(np.zeros((50, 50, 3), np.uint8), bad)


def test_bad_image():
    with pytest.raises(InputError, match="HxWx3 uint8"):
        align(np.zeros((50, 50), np.uint8), TEMPLATE * 50)
