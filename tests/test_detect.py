"""facert.detect (MTCNN by default, Haar on request, behind the Detector interface) and facert.face_crop."""

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from facert.crop import DEFAULT_MARGIN, crop_box, face_crop  # noqa: E402
from facert.detect import Detector, Face, HaarDetector, detect  # noqa: E402
from facert.errors import InputError  # noqa: E402

from photos import read_photo  # noqa: E402


@pytest.mark.parametrize("rel", ["barack_obama/2.jpg", "joe_biden/1.jpg", "kit_harington/2.jpg",
                                 "rose_leslie/2.jpg", "alex_lacamoire/3.png"])
def test_finds_the_face_in_portraits(rel):
    img = read_photo(rel)
    faces = detect(img)
    assert faces, f"no face found in {rel}"
    f = faces[0]
    h, w = img.shape[:2]
    # A portrait's face is sizeable, inside the frame, in its upper part, with 5 landmarks inside its box.
    assert 0.1 * min(h, w) < min(f.w, f.h) and max(f.w, f.h) < max(h, w)
    marks = np.array(f.landmarks)
    assert marks.shape == (5, 2) and np.all((marks >= [f.x, f.y]) & (marks <= [f.x + f.w, f.y + f.h]))
    assert 0 <= f.x and f.x + f.w <= w and 0 <= f.y and f.y + f.h <= h
    assert f.y + f.h / 2 < 0.75 * h


def test_largest_first_and_group_photo_has_two_faces():
    faces = detect(read_photo("groups/two_people.jpg"))
    assert len(faces) >= 2
    areas = [f.area for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert all(isinstance(f.score, float) for f in faces)


def test_box_scales_with_resolution():
    # The same photo at 480p and 1080p (1080p is searched downscaled): boxes agree after scaling.
    small = detect(read_photo("resolutions/obama-480p.jpg"))[0]
    big = detect(read_photo("resolutions/obama-1080p.jpg"))[0]
    s = 1080 / 480
    for a, b in zip(small.box, big.box):
        assert abs(a * s - b) <= 0.08 * big.w


@pytest.mark.parametrize("img", [np.zeros((240, 320, 3), np.uint8), np.full((64, 64, 3), 200, np.uint8),
                                 np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8),
                                 np.zeros((1, 1, 3), np.uint8)])
def test_no_face_in_blank_or_noise(img):
    assert detect(img) == []


@pytest.mark.parametrize("bad", [np.zeros((100, 100), np.uint8), np.zeros((100, 100, 3), np.float32),
                                 np.zeros((100, 100, 4), np.uint8), np.zeros((0, 10, 3), np.uint8), "img.jpg"])
def test_bad_input_is_input_error(bad):
    with pytest.raises(InputError, match="expected an HxWx3 uint8 BGR image"):
        detect(bad)


def test_non_contiguous_input_gives_same_faces():
    img = read_photo("kit_harington/2.jpg")
    strided = np.zeros((img.shape[0], img.shape[1] * 2, 3), np.uint8)
    strided[:, ::2] = img
    view = strided[:, ::2]
    assert not view.flags.c_contiguous
    assert detect(view) == detect(img)


def test_detector_interface_is_replaceable():
    class Fixed(Detector):
        def detect(self, img):
            return [Face(1, 2, 3, 4, 0.5)]
    assert detect(np.zeros((10, 10, 3), np.uint8), Fixed()) == [Face(1, 2, 3, 4, 0.5)]
    assert isinstance(HaarDetector(), Detector)


def _reference_crop(img, x0, y0, side):
    """Independent reference: pad the whole image by edge replication, then slice."""
    p = side
    padded = np.pad(img, ((p, p), (p, p), (0, 0)), mode="edge")
    return padded[y0 + p:y0 + p + side, x0 + p:x0 + p + side]


@pytest.mark.parametrize("face", [Face(40, 30, 50, 50, 1.0),      # inside
                                  Face(-5, 2, 37, 41, 1.0),       # off the left/top edge
                                  Face(80, 70, 33, 29, 1.0),      # off the right/bottom edge
                                  Face(0, 0, 120, 101, 1.0)])     # bigger than the image
def test_face_crop_matches_padded_reference(face):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (101, 117, 3), dtype=np.uint8)
    x0, y0, side = crop_box(face, DEFAULT_MARGIN)
    assert side == round(max(face.w, face.h) * (1 + 2 * DEFAULT_MARGIN))
    got = face_crop(img, face)
    assert got.shape == (side, side, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, _reference_crop(img, x0, y0, side))


def test_face_crop_resize_and_errors():
    img = read_photo("barack_obama/2.jpg")
    f = detect(img)[0]
    out = face_crop(img, f, size=112)
    assert out.shape == (112, 112, 3)
    x0, y0, side = crop_box(f)
    ref = cv2.resize(_reference_crop(img, x0, y0, side), (112, 112), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(ValueError, match="outside"):
        face_crop(img, Face(10_000, 10_000, 10, 10, 0.0), margin=0.0)
    with pytest.raises(ValueError, match="margin"):
        face_crop(img, f, margin=-0.5)
