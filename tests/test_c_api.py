"""The plain C API (cpp/include/facert/facert.h, libfacert.so) driven through cffi with the header itself
as the cdef: same results as the Python Engine, and every status code with its facert_last_error()."""
from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

import facert

cffi = pytest.importorskip("cffi")

PKG = Path(facert.__file__).resolve().parent
HEADER_CANDIDATES = [PKG / "include" / "facert" / "facert.h",
                     Path(__file__).resolve().parents[1] / "cpp" / "include" / "facert" / "facert.h"]


def cdef_from_header(text: str) -> str:
    """The header minus what cffi's parser cannot read: preprocessor lines, the C++-only blocks, FACERT_API."""
    out, skip = [], 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#ifdef __cplusplus"):
            skip += 1
        elif skip and stripped.startswith("#endif"):
            skip -= 1
        elif not skip and not stripped.startswith("#"):
            out.append(line)
    return re.sub(r"\bFACERT_API\b", "", "\n".join(out))


@pytest.fixture(scope="module")
def capi():
    header = next(p for p in HEADER_CANDIDATES if p.is_file())
    ffi = cffi.FFI()
    ffi.cdef(cdef_from_header(header.read_text()))
    lib_path = PKG / "lib" / "libfacert.so"
    assert lib_path.is_file(), f"libfacert.so is installed with the package ({lib_path})"
    return ffi, ffi.dlopen(str(lib_path))


def create(capi, path, threads=2, isa=None):
    ffi, lib = capi
    out = ffi.new("facert_engine**")
    if isa is None:
        status = lib.facert_engine_create(str(path).encode(), threads, out)
    else:
        status = lib.facert_engine_create_isa(str(path).encode(), threads, isa.encode(), out)
    return status, out[0]


def last_error(capi) -> str:
    ffi, lib = capi
    return ffi.string(lib.facert_last_error()).decode()


@pytest.fixture
def engine(capi, squeezenet_model):
    status, e = create(capi, squeezenet_model.path)
    assert status == capi[1].FACERT_OK, last_error(capi)
    yield e
    capi[1].facert_engine_destroy(e)


def embed(capi, e, img, stride=None, out_len=None):
    ffi, lib = capi
    h, w, _ = img.shape
    buf = np.ascontiguousarray(img)
    if stride is not None:  # rows padded out to `stride` bytes
        padded = np.full((h, stride), 77, np.uint8)
        padded[:, :w * 3] = img.reshape(h, w * 3)
        buf = padded
    dim = lib.facert_engine_dim(e)
    out = np.zeros(out_len or dim, np.float32)
    status = lib.facert_embed_bgr(e, ffi.from_buffer("uint8_t[]", buf), h, w, stride or w * 3,
                                  ffi.from_buffer("float[]", out), out.size)
    return status, out[:dim]


def test_version_and_codes(capi):
    ffi, lib = capi
    assert ffi.string(lib.facert_version()).decode() == facert.__version__
    codes = [lib.FACERT_OK, lib.FACERT_ERR_IO, lib.FACERT_ERR_MODEL, lib.FACERT_ERR_INPUT, lib.FACERT_ERR_DEVICE,
             lib.FACERT_ERR_ARGUMENT, lib.FACERT_ERR_INTERNAL]
    assert codes == list(range(7))


def test_shape_and_dim(capi, engine):
    ffi, lib = capi
    assert lib.facert_engine_dim(engine) == 128
    shape = ffi.new("int[3]")
    assert lib.facert_engine_input_shape(engine, shape) == lib.FACERT_OK
    assert list(shape) == [3, 112, 112]
    assert last_error(capi) == ""
    assert lib.facert_engine_dim(ffi.NULL) == -1


def test_embed_equals_python_engine(capi, engine, squeezenet_model, data_dir):
    import cv2
    py = facert.Engine(squeezenet_model.path, device="cpu", threads=2)
    photos = sorted((data_dir / "people").glob("*/*.jpg"))[:3]
    assert photos
    for p in photos:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        status, v = embed(capi, engine, img)
        assert status == capi[1].FACERT_OK, last_error(capi)
        assert np.abs(v - py.embed(img)).max() <= 1e-6
        # a padded row stride reads the same pixels
        status, padded = embed(capi, engine, img, stride=img.shape[1] * 3 + 13)
        assert status == capi[1].FACERT_OK and np.array_equal(padded, v)


def test_forward_equals_python_engine(capi, engine, squeezenet_model):
    ffi, lib = capi
    py = facert.Engine(squeezenet_model.path, device="cpu", threads=2)
    x = np.random.default_rng(0).normal(size=(2, 3, 112, 112)).astype(np.float32)
    out = np.zeros((2, 128), np.float32)
    assert lib.facert_forward(engine, ffi.from_buffer("float[]", x), 2, ffi.from_buffer("float[]", out),
                              out.size) == lib.FACERT_OK
    assert np.abs(out - py.forward(x)).max() <= 1e-6 * max(1.0, float(np.abs(out).max()))


def test_forward_of_a_map_model_needs_room_for_the_map(capi, tmp_path):
    import model_factory as mf
    b = mf.GraphBuilder(np.random.default_rng(0), 7, 5)
    out_name = b.softmax("soft", b.conv("conv", "input", 3, k=3, pad=1, act="none"))
    path = tmp_path / "map.sq.bin"
    mf.write(path, b.graph(out_name, l2_normalize=False, arch="test_map"), b.tensors)
    ffi, lib = capi
    status, e = create(capi, path)
    assert status == lib.FACERT_OK, last_error(capi)
    try:
        x = np.random.default_rng(1).normal(size=(2, 3, 7, 5)).astype(np.float32)
        out = np.zeros((2, 3, 7, 5), np.float32)
        xp, op = ffi.from_buffer("float[]", x), ffi.from_buffer("float[]", out)
        assert lib.facert_forward(e, xp, 2, op, 2 * 3) == lib.FACERT_ERR_ARGUMENT   # n * dim is not enough
        assert "n * output size = 210" in last_error(capi)
        assert lib.facert_forward(e, xp, 2, op, out.size) == lib.FACERT_OK
        np.testing.assert_allclose(out, facert.Engine(path, device="cpu").forward(x), rtol=0, atol=1e-6)
    finally:
        lib.facert_engine_destroy(e)


def test_io_error(capi, tmp_path):
    status, e = create(capi, tmp_path / "nope.sq.bin")
    assert status == capi[1].FACERT_ERR_IO and e == capi[0].NULL
    assert "cannot open model file" in last_error(capi) and "nope.sq.bin" in last_error(capi)


def test_model_error(capi, tmp_path, tiny_model):
    data = bytearray(tiny_model.data)
    data[-1] ^= 0x10
    (tmp_path / "bad.sq.bin").write_bytes(bytes(data))
    status, e = create(capi, tmp_path / "bad.sq.bin")
    assert status == capi[1].FACERT_ERR_MODEL and e == capi[0].NULL
    assert "checksum mismatch: file is corrupt" in last_error(capi)


def test_device_and_argument_errors_at_create(capi, tiny_model):
    ffi, lib = capi
    status, _ = create(capi, tiny_model.path, isa="sse9")
    assert status == lib.FACERT_ERR_ARGUMENT and "unknown isa 'sse9'" in last_error(capi)
    native = facert.Engine(tiny_model.path, device="cpu").info["isa"]
    foreign = "neon" if native != "neon" else "avx2"
    status, e = create(capi, tiny_model.path, isa=foreign)
    assert status == lib.FACERT_ERR_DEVICE and f"isa '{foreign}' is not available" in last_error(capi)
    status, e = create(capi, tiny_model.path, isa="ref")
    assert status == lib.FACERT_OK
    lib.facert_engine_destroy(e)
    assert lib.facert_engine_create(ffi.NULL, 1, ffi.new("facert_engine**")) == lib.FACERT_ERR_ARGUMENT
    assert lib.facert_engine_create(str(tiny_model.path).encode(), 1, ffi.NULL) == lib.FACERT_ERR_ARGUMENT
    assert "must not be NULL" in last_error(capi)
    lib.facert_engine_destroy(ffi.NULL)  # ignored


def test_input_errors(capi, engine):
    ffi, lib = capi
    img = np.zeros((4, 4, 3), np.uint8)
    out = np.zeros(128, np.float32)
    pix, dst = ffi.from_buffer("uint8_t[]", img), ffi.from_buffer("float[]", out)
    assert lib.facert_embed_bgr(engine, pix, 0, 4, 12, dst, 128) == lib.FACERT_ERR_INPUT
    assert "non-empty" in last_error(capi)
    assert lib.facert_embed_bgr(engine, pix, 4, -1, 12, dst, 128) == lib.FACERT_ERR_INPUT
    assert lib.facert_embed_bgr(engine, pix, 4, 4, 11, dst, 128) == lib.FACERT_ERR_INPUT
    assert "row stride 11 bytes is less than 3 * width = 12" in last_error(capi)
    assert lib.facert_embed_bgr(engine, pix, 4, 4, 12, dst, 128) == lib.FACERT_OK
    assert last_error(capi) == ""  # success clears the message


def test_argument_errors(capi, engine):
    ffi, lib = capi
    img = np.zeros((4, 4, 3), np.uint8)
    out = np.zeros(256, np.float32)
    pix, dst = ffi.from_buffer("uint8_t[]", img), ffi.from_buffer("float[]", out)
    assert lib.facert_embed_bgr(engine, pix, 4, 4, 12, dst, 127) == lib.FACERT_ERR_ARGUMENT
    assert "out_len 127 is smaller than the embedding size 128" in last_error(capi)
    assert lib.facert_embed_bgr(engine, ffi.NULL, 4, 4, 12, dst, 128) == lib.FACERT_ERR_ARGUMENT
    assert lib.facert_embed_bgr(ffi.NULL, pix, 4, 4, 12, dst, 128) == lib.FACERT_ERR_ARGUMENT
    x = np.zeros((2, 3, 112, 112), np.float32)
    xp = ffi.from_buffer("float[]", x)
    assert lib.facert_forward(engine, xp, 2, dst, 255) == lib.FACERT_ERR_ARGUMENT
    assert "smaller than n * output size = 256" in last_error(capi)
    assert lib.facert_forward(engine, xp, 0, dst, 256) == lib.FACERT_ERR_ARGUMENT
    assert lib.facert_forward(engine, xp, 2, dst, 256) == lib.FACERT_OK
    assert lib.facert_engine_input_shape(engine, ffi.NULL) == lib.FACERT_ERR_ARGUMENT


def test_last_error_is_per_thread(capi, engine, tmp_path):
    ffi, lib = capi
    create(capi, tmp_path / "missing.sq.bin")  # fails on this thread
    seen = {}

    def other():
        seen["before"] = last_error(capi)
        create(capi, tmp_path / "other.sq.bin")
        seen["after"] = last_error(capi)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen["before"] == "" and "other.sq.bin" in seen["after"]
    assert "missing.sq.bin" in last_error(capi)


def test_internal_status_is_distinct(capi):
    # FACERT_ERR_INTERNAL is reserved for out-of-memory and bugs: no input reaches it on purpose;
    # the enum value must still be its own and be documented in the header.
    header = next(p for p in HEADER_CANDIDATES if p.is_file()).read_text()
    assert "FACERT_ERR_INTERNAL = 6" in header and "out of memory" in header
