"""MTCNN: the converted nets against facenet-pytorch's modules, the NumPy path against the float64 graph
reference, and the whole detector against facenet-pytorch's MTCNN.detect on real photos."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import graph_reference as gr
import reference as ref

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")
import mtcnn_reference as mr  # noqa: E402

from facert import align, detect  # noqa: E402
from facert.convert.mtcnn import build_mtcnn_graph, convert_mtcnn  # noqa: E402
from facert.detect import Face  # noqa: E402
from facert.errors import InputError, ModelError  # noqa: E402
from facert.mtcnn import MODELS, MTCNNDetector, area_resize, nms, to_faces  # noqa: E402
from facert.numpy_net import NumpyNet  # noqa: E402
from cl_helpers import core_opencl  # noqa: E402,F401

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NETS = ("pnet", "rnet", "onet")
# Sizes: P-Net's nominal 12x12, odd sizes whose ceil-mode pool keeps a partial window, a wide strip.
PNET_SIZES = [(12, 12), (13, 12), (37, 53), (64, 19), (101, 77)]


@pytest.fixture(scope="module")
def fnp():
    return mr.load_mtcnn_module()


@pytest.fixture(scope="module")
def torch_nets(fnp):
    return {"pnet": fnp.PNet(), "rnet": fnp.RNet(), "onet": fnp.ONet()}


@pytest.fixture(scope="module")
def reference_mtcnn(fnp):
    return fnp.MTCNN()


@pytest.fixture(scope="module")
def detector():
    return MTCNNDetector()          # backend="engine", device="cpu"


@pytest.fixture(scope="module")
def numpy_detector():
    return MTCNNDetector(backend="numpy")


def _torch_out(nets, net, x):
    """facenet-pytorch's outputs laid out as facert's graph output: regression, (landmarks,) probability;
    its forward returns them in that order already."""
    with torch.no_grad():
        outs = [o.numpy().astype(np.float64) for o in nets[net](torch.from_numpy(x))]
    if net == "onet":     # two zero channels after the landmarks (facert.convert.mtcnn)
        outs.insert(2, np.zeros((len(x), 2)))
    out = np.concatenate(outs, axis=1)
    return out if net == "pnet" else out[:, :, None, None]


@pytest.mark.parametrize("net,size", [("pnet", s) for s in PNET_SIZES] + [("rnet", (24, 24)), ("onet", (48, 48))])
def test_converted_graph_matches_facenet_pytorch(torch_nets, net, size):
    x = np.random.default_rng(sum(size)).uniform(-1, 1, (3, 3) + size).astype(np.float32)
    graph, tensors = build_mtcnn_graph(net, {k: v.numpy() for k, v in torch_nets[net].state_dict().items()})
    expected = _torch_out(torch_nets, net, x)
    # float64 graph reference vs torch's fp32 forward: only torch's rounding separates them
    assert ref.rel_err(gr.forward(graph, tensors, x), expected) <= 1e-5
    assert graph["output"]["dim"] == expected.shape[1]


@pytest.mark.parametrize("net,size", [("pnet", s) for s in PNET_SIZES] + [("rnet", (24, 24)), ("onet", (48, 48))])
def test_numpy_path_matches_graph_reference(net, size):
    model = NumpyNet(MODELS / f"mtcnn_{net}.sq.bin")
    x = np.random.default_rng(7).uniform(-1, 1, (2, 3) + size).astype(np.float32)
    got = model.forward(x)
    assert got.dtype == np.float32
    assert ref.rel_err(got, gr.forward(model.graph, model.tensors, x)) <= 1e-5


@pytest.mark.parametrize("net,size", [("pnet", s) for s in PNET_SIZES] + [("rnet", (24, 24)), ("onet", (48, 48))])
def test_engine_runs_the_nets_like_the_graph_reference(net, size):
    from facert import Engine
    path = MODELS / f"mtcnn_{net}.sq.bin"
    engine = Engine(path, device="cpu", input_size=size if net == "pnet" else None)
    model = NumpyNet(path)
    x = np.random.default_rng(11).uniform(-1, 1, (3, 3) + size).astype(np.float32)
    assert ref.rel_err(engine.forward(x), gr.forward(model.graph, model.tensors, x)) <= 1e-5


def test_bundled_models_are_the_converters_output(tmp_path):
    written = convert_mtcnn(mr.weights_dir(), tmp_path)
    total = 0
    for net in NETS:
        path, size = written[net]
        assert path.read_bytes() == (MODELS / f"mtcnn_{net}.sq.bin").read_bytes(), \
            f"facert/models/mtcnn_{net}.sq.bin is stale: rerun python -m facert.convert.mtcnn"
        total += size
    assert total < 2.2e6


def test_numpy_path_refuses_a_corrupt_file(tmp_path):
    data = bytearray((MODELS / "mtcnn_pnet.sq.bin").read_bytes())
    data[-5] ^= 0x40
    bad = tmp_path / "bad.sq.bin"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        NumpyNet(bad)
    with pytest.raises(InputError):
        NumpyNet(MODELS / "mtcnn_pnet.sq.bin").forward(np.zeros((1, 4, 12, 12), np.float32))


@pytest.mark.parametrize("shape,out", [((250, 250), (151, 151)), ((37, 53), (9, 13)), ((20, 9), (31, 17)),
                                       ((7, 7), (7, 7)), ((100, 61), (24, 24))])
def test_area_resize_matches_torch_interpolate(shape, out):
    img = np.random.default_rng(0).integers(0, 256, shape + (3,)).astype(np.uint8)
    t = torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1)[None]
    expected = torch.nn.functional.interpolate(t, size=out, mode="area")[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(area_resize(img, *out), expected, rtol=0, atol=2e-4)


def test_nms_union_matches_batched_nms_and_min_suppresses_nested():
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 100, (300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (300, 2))], axis=1).astype(np.float32)
    scores = rng.uniform(size=300).astype(np.float32)
    for thr in (0.3, 0.5, 0.7):
        expected = mr._batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.zeros(300), thr)
        np.testing.assert_array_equal(nms(boxes, scores, thr), expected.numpy())
    # a small box inside a big one: IoU keeps both, "min" (intersection over the smaller) drops the weaker
    nested = np.array([[0, 0, 100, 100], [10, 10, 30, 30]], np.float32)
    assert nms(nested, np.array([0.9, 0.8]), 0.7).tolist() == [0, 1]
    assert nms(nested, np.array([0.9, 0.8]), 0.7, method="min").tolist() == [0]


def _nms_loop(boxes, scores, threshold, method):
    """The greedy loop in numpy, float64 (facert's Python NMS before it moved to C++)."""
    plus = 1.0 if method == "min" else 0.0
    x1, y1, x2, y2 = (boxes[:, i].astype(np.float64) for i in range(4))
    area = (x2 - x1 + plus) * (y2 - y1 + plus)
    order, keep = np.argsort(-scores, kind="stable"), []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + plus)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + plus)
        inter = w * h
        with np.errstate(divide="ignore", invalid="ignore"):
            over = inter / (np.minimum(area[i], area[rest]) if method == "min" else area[i] + area[rest] - inter)
        order = rest[over <= threshold]
    return np.asarray(keep, dtype=np.int64)


@pytest.mark.parametrize("method", ["union", "min"])
def test_nms_keeps_what_the_greedy_loop_keeps(method):
    """Tied scores, duplicate boxes and empty boxes (a 0/0 overlap counts as overlapping); bad shapes refused."""
    rng = np.random.default_rng(11)
    xy = rng.integers(0, 60, (400, 2)).astype(np.float32)
    size = rng.integers(0, 30, (400, 2)).astype(np.float32)
    size[::37] = 0                                     # empty boxes
    boxes = np.concatenate([xy, xy + size], axis=1)
    boxes[200:220] = boxes[180:200]                    # duplicates
    scores = rng.integers(0, 20, 400).astype(np.float32) / 20  # many ties
    for thr in (0.3, 0.7):
        got = nms(boxes, scores, thr, method)
        assert len(got) > 20 and got.dtype == np.int64
        np.testing.assert_array_equal(got, _nms_loop(boxes, scores, thr, method))
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5, method).shape == (0,)
    with pytest.raises(ValueError, match="scores"):
        nms(boxes, scores[:-1], 0.5, method)
    with pytest.raises(ValueError, match="method"):
        nms(boxes, scores, 0.5, "iou")


def _photos():
    lfw = sorted((DATA / "lfw_devtest").glob("*/*.jpg"))[::250][:6]
    people = [DATA / "people" / p for p in ("groups/kit_with_rose.jpg", "hard/obama_partial_face.jpg",
                                            "resolutions/obama-240p.jpg", "resolutions/obama-480p.jpg")]
    return lfw + people


@pytest.mark.parametrize("path", _photos(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_detector_matches_facenet_pytorch_mtcnn(detector, reference_mtcnn, path):
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, f"missing photo {path}"
    rb, rp, rpts = mr.reference_detect(reference_mtcnn, img)
    boxes, scores, points = detector.detect_raw(img)
    assert len(boxes) == len(rb), f"{len(boxes)} faces, facenet-pytorch finds {len(rb)}"
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")
    boxes, scores, points = boxes[order], scores[order], points[order]
    # The nets agree to ~1e-6 and the cascade's arithmetic is the same: measured differences are ~1e-4 px.
    # Tolerance: 0.5% of the face's side for box edges and landmarks, 1e-4 for the probability.
    side = (rb[:, 2] - rb[:, 0])[:, None]
    assert (np.abs(boxes - rb) <= 0.005 * side).all()
    assert (np.abs(points - rpts).max(axis=2) <= 0.005 * side).all()
    np.testing.assert_allclose(scores, rp, rtol=0, atol=1e-4)
    # facert.detect's Face: the same faces, largest first, box edges rounded to whole pixels
    faces = to_faces(boxes, scores, points)
    assert len(faces) == len(rb)
    for face, box, pts in zip(faces, boxes, points):
        edges = np.array([face.x, face.y, face.x + face.w, face.y + face.h])
        assert np.abs(edges - box).max() <= 0.5 + 1e-6
        np.testing.assert_array_equal(np.asarray(face.landmarks), pts)


@pytest.mark.parametrize("name", ["AJ_Lamas/AJ_Lamas_0001.jpg"])
def test_numpy_backend_matches_engine_backend(detector, numpy_detector, name):
    img = cv2.imread(str(DATA / "lfw_devtest" / name), cv2.IMREAD_COLOR)
    a, b = detector.detect_raw(img), numpy_detector.detect_raw(img)
    assert len(a[0]) == len(b[0]) >= 1
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-2)


@pytest.mark.opencl
def test_detector_on_opencl_matches_facenet_pytorch(core_opencl, reference_mtcnn, tmp_path, monkeypatch):
    monkeypatch.setenv("FACERT_CACHE_DIR", str(tmp_path / "cache"))
    img = cv2.imread(str(DATA / "lfw_devtest" / "Aaron_Tippin" / "Aaron_Tippin_0001.jpg"), cv2.IMREAD_COLOR)
    rb, rp, rpts = mr.reference_detect(reference_mtcnn, img)
    det = MTCNNDetector(device="gpu")     # every op of the three nets on OpenCL
    assert set(det.onet.fixed.placement.values()) == {"gpu"}
    boxes, scores, points = det.detect_raw(img)
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")
    assert len(boxes) == len(rb) >= 1
    side = (rb[:, 2] - rb[:, 0])[:, None]
    assert (np.abs(boxes[order] - rb) <= 0.005 * side).all()
    assert (np.abs(points[order] - rpts).max(axis=2) <= 0.005 * side).all()


def test_detect_by_name_gives_landmarks_largest_first():
    img = cv2.imread(str(DATA / "people" / "groups" / "kit_with_rose.jpg"), cv2.IMREAD_COLOR)
    faces = detect(img, detector="mtcnn")
    assert len(faces) == 2 and faces[0].area >= faces[1].area
    for f in faces:
        pts = np.asarray(f.landmarks)
        assert pts.shape == (5, 2) and f.score > 0.9
        # every landmark inside the box (a little slack), eyes above the nose above the mouth
        assert (pts[:, 0] > f.x - 0.1 * f.w).all() and (pts[:, 0] < f.x + 1.1 * f.w).all()
        assert pts[:2, 1].max() < pts[2, 1] < pts[3:, 1].min()
        assert pts[0, 0] < pts[1, 0] and pts[3, 0] < pts[4, 0]
    assert detect(img, detector="haar")[0].landmarks is None
    with pytest.raises(ValueError, match="mtcnn"):
        detect(img, detector="hog")


def test_no_face_and_bad_input(detector):
    flat = np.full((240, 320, 3), 127, np.uint8)
    assert detect(flat, detector=detector) == []
    assert detect(np.zeros((8, 8, 3), np.uint8), detector=detector) == []   # smaller than a 12 px cell
    with pytest.raises(InputError):
        detect(np.zeros((32, 32), np.uint8), detector=detector)
    with pytest.raises(ValueError):
        MTCNNDetector(min_size=0)
    with pytest.raises(ValueError):
        MTCNNDetector(thresholds=(0.6, 0.7))


def test_align_maps_mtcnn_landmarks_onto_the_template():
    img = cv2.imread(str(DATA / "people" / "barack_obama" / "4.jpg"), cv2.IMREAD_COLOR)
    face = detect(img, detector="mtcnn")[0]
    crop = align(img, face)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    # MTCNN on the aligned crop finds the face with its landmarks near the template (a few px)
    again = detect(crop, detector=MTCNNDetector(min_size=40))
    assert again
    from facert.align import MTCNN_TEMPLATE
    assert np.abs(np.asarray(again[0].landmarks) - MTCNN_TEMPLATE * 112).max() < 6.0
    with pytest.raises(InputError, match="landmarks"):
        align(img, Face(0, 0, 50, 50, 1.0))
    with pytest.raises(InputError, match="points"):
        align(img, np.asarray(face.landmarks), points="sphereface")
    np.testing.assert_array_equal(align(img, np.asarray(face.landmarks), points="mtcnn"), crop)


def test_area_resizer_boxes_match_torch_on_each_crop():
    """R-Net/O-Net crops come from one integral image: each must be the area resize of the cropped box."""
    from facert.mtcnn import AreaResizer
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (61, 83, 3)).astype(np.uint8)
    x0, y0 = rng.integers(0, 60, 40), rng.integers(0, 50, 40)
    x1, y1 = np.minimum(x0 + rng.integers(1, 90, 40), 83), np.minimum(y0 + rng.integers(1, 70, 40), 61)
    for dtype in (np.uint8, np.float32):         # exact integer sums, and the float path
        resize = AreaResizer(img.astype(dtype), reverse=True)
        for side in (24, 48):
            got = resize.boxes(x0, y0, x1, y1, side)
            assert got.shape == (40, 3, side, side) and got.dtype == np.float32 and got.flags.c_contiguous
            for k in range(40):
                crop = torch.from_numpy(img[y0[k]:y1[k], x0[k]:x1[k], ::-1].astype(np.float32).copy())
                want = torch.nn.functional.interpolate(crop.permute(2, 0, 1)[None], size=(side, side), mode="area")
                np.testing.assert_allclose(got[k], want[0].numpy(), rtol=0, atol=2e-4)


def test_area_resizer_uint8_means_are_rounded_once():
    """uint8 windows: the exact sum over the exact area, rounded once to float32 (a float32 division below
    2**24 / 255 pixels, a float64 one above); bad boxes are refused, not read out of bounds."""
    from facert import _core
    from facert.mtcnn import AreaResizer
    rng = np.random.default_rng(8)
    img = rng.integers(0, 256, (300, 310, 3)).astype(np.uint8)
    resize = AreaResizer(img)
    x0, y0 = rng.integers(0, 200, 30), rng.integers(0, 200, 30)
    x1, y1 = x0 + rng.integers(1, 110, 30), y0 + rng.integers(1, 100, 30)
    x0[0], y0[0], x1[0], y1[0] = 0, 0, 310, 300                    # one window of 93,000 px: the float64 division
    for side in (1, 2, 24):
        got = resize.boxes(x0, y0, x1, y1, side)
        for k in range(30):
            crop = img[y0[k]:y1[k], x0[k]:x1[k]].astype(np.int64)
            ty = [((i * len(crop)) // side, -(-((i + 1) * len(crop)) // side)) for i in range(side)]
            tx = [((i * crop.shape[1]) // side, -(-((i + 1) * crop.shape[1]) // side)) for i in range(side)]
            for i, (a, b) in enumerate(ty):
                for j, (c, d) in enumerate(tx):
                    total, area = crop[a:b, c:d].sum(axis=(0, 1)), (b - a) * (d - c)
                    want = (np.float32(total) / np.float32(area) if area * 255 < 2 ** 24
                            else (total / area).astype(np.float32))
                    np.testing.assert_array_equal(got[k, :, i, j], want)
    with pytest.raises(ValueError, match="box 1 is empty or outside"):
        resize.boxes([0, 5], [0, 5], [10, 311], [10, 20], 24)
    with pytest.raises(ValueError, match="int32 or float64"):
        _core.ops.area_resize_boxes(resize.sums.astype(np.float32), np.zeros((1, 4), np.int64), 2, 2)


def test_min_size_fraction_skips_only_the_finest_levels():
    full, bounded = MTCNNDetector(), MTCNNDetector(min_size_fraction=0.1)
    # 480 px short side: faces from 48 px wanted; levels for 20 and 28.2 px skipped, 39.8 px kept
    assert bounded.scales(480, 640) == full.scales(480, 640)[2:]
    assert 12 / bounded.scales(480, 640)[0] <= 48 < 12 / bounded.scales(480, 640)[1]
    assert bounded.scales(250, 250) == full.scales(250, 250)     # up to 282 px: every level
    hd = bounded.scales(1080, 1920)
    assert 12 / hd[0] <= 108 < 12 / hd[1] and hd == full.scales(1080, 1920)[-len(hd):]
    assert bounded.scales(8, 8) == []
    # an explicit min_size stays the floor: 0.1 * 300 px is below 40 px
    floor40 = MTCNNDetector(min_size=40, min_size_fraction=0.1)
    assert floor40.scales(300, 300) == MTCNNDetector(min_size=40).scales(300, 300)
    from facert.detect import named_detector
    from facert.mtcnn import MIN_SIZE_FRACTION
    assert named_detector("mtcnn").min_size_fraction == MIN_SIZE_FRACTION > 0
    for bad in (-0.1, 1.0, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="min_size_fraction"):
            MTCNNDetector(min_size_fraction=bad)


@pytest.mark.parametrize("name", ["resolutions/obama-480p.jpg", "resolutions/obama-1080p.jpg"])
def test_min_size_fraction_finds_the_reference_face(reference_mtcnn, name):
    """The shared detector's bounded pyramid finds the face facenet-pytorch's full pyramid finds (its box and
    landmarks move a little: the proposals come from fewer levels)."""
    img = cv2.imread(str(DATA / "people" / name), cv2.IMREAD_COLOR)
    rb, _, rpts = mr.reference_detect(reference_mtcnn, img)
    big = np.argmax((rb[:, 2] - rb[:, 0]) * (rb[:, 3] - rb[:, 1]))
    face = detect(img, detector="mtcnn")[0]
    side = rb[big, 2] - rb[big, 0]
    box = np.array([face.x, face.y, face.x + face.w, face.y + face.h])
    assert np.abs(box - rb[big]).max() <= 0.1 * side
    assert np.abs(np.asarray(face.landmarks) - rpts[big]).max() <= 0.05 * side
