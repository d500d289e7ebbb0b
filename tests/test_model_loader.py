"""The sq.bin loader (cpp/src/model): the happy path and every check of docs/format.md's "Loader checks",
each raising facert.ModelError with a message that names the problem; plus hypothesis fuzzing
(truncation, bit flips, hostile entries) that must never crash or hang."""
from __future__ import annotations

import copy
import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import facert
import model_factory as mf
from facert import _core

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def load_bytes(tmp_path, data: bytes, name="m.sq.bin"):
    path = tmp_path / name
    path.write_bytes(data)
    return _core.load_model_info(str(path))


def expect_model_error(tmp_path, data: bytes, match: str):
    with pytest.raises(facert.ModelError, match=match):
        load_bytes(tmp_path, data)


def header_of(data: bytes) -> tuple[int, bytes]:
    n = struct.unpack("<Q", data[:8])[0]
    return n, data[8:8 + n]


def with_header(data: bytes, header: bytes, pad: bool = True) -> bytes:
    """Replace the header text (re-padded to 8-byte alignment) and refresh the checksum."""
    n, _ = header_of(data)
    if pad:
        header += b" " * (-(8 + len(header)) % 8)
    return mf.refresh_checksum(struct.pack("<Q", len(header)) + header + data[8 + n:])


# ---------------------------------------------------------------------------------------------- happy path

def test_info_describes_the_tiny_model(tiny_model):
    info = facert.load_model_info(tiny_model.path)
    g = tiny_model.graph
    assert info["arch"] == "tiny" and info["format_version"] == 1 and info["checksum"] == "ok"
    assert info["metadata"]["producer"] == "tests/model_factory.py" and "graph" not in info["metadata"]
    assert info["metadata"]["format"] == "facert.sq"
    assert info["input"]["shape"] == (3, 13, 11) and info["input"]["channel_order"] == "RGB"
    assert info["input"]["scale"] == pytest.approx(1 / 255) and info["input"]["mean"] == (0.5, 0.5, 0.5)
    assert info["output"] == {"name": "head", "dim": 6, "l2_normalize": True}
    assert [op["name"] for op in info["ops"]] == [op["name"] for op in g["ops"]]
    assert info["params"] == sum(t.size for t in tiny_model.tensors.values())
    by_name = {op["name"]: op for op in info["ops"]}
    # stem: 13x11 input, k3 s2 p1 -> 7x6; pool k3 s2 ceil -> 3x3 (ceil: (7-3)/2+1=3, (6-3)/2 -> 2+1=3)
    assert by_name["stem"]["shape"] == (6, 7, 6)
    assert by_name["pool"]["shape"] == (6, 3, 3)
    assert by_name["cat"]["shape"] == (15, 3, 3)
    assert by_name["gap"]["shape"] == (15,) and by_name["head"]["shape"] == (6,)
    assert by_name["stem"]["macs"] == 6 * 7 * 6 * 3 * 9
    assert by_name["branch_g"]["macs"] == 6 * 3 * 3 * 2 * 9 and by_name["branch_g"]["params"] == 6 * 2 * 9
    assert by_name["head"]["macs"] == 6 * 7 and by_name["pool"]["macs"] == 0
    assert info["macs"] == sum(op["macs"] for op in info["ops"])
    assert by_name["cat"]["inputs"] == ["branch_a", "branch_b", "branch_g"]


def test_squeezenet_counts(squeezenet_model):
    info = facert.load_model_info(squeezenet_model.path)
    assert info["params"] == sum(t.size for t in squeezenet_model.tensors.values())
    # SqueezeNet v1.1 features at 112x112 plus a 512->128 linear head (conv-only MACs, pools count 0)
    convs = [op for op in info["ops"] if op["type"] == "conv2d"]
    assert len(convs) == 25 and info["ops"][-1]["macs"] == 512 * 128
    assert 55e6 < info["macs"] < 65e6


def test_f16_weights_are_widened(tmp_path, tiny_model):
    data = mf.encode(tiny_model.graph, tiny_model.tensors, dtype="F16")
    (tmp_path / "h.sq.bin").write_bytes(data)
    (tmp_path / "f.sq.bin").write_bytes(mf.encode(
        tiny_model.graph, {k: v.astype(np.float16).astype(np.float32) for k, v in tiny_model.tensors.items()}))
    half, full = _core.Engine(str(tmp_path / "h.sq.bin")), _core.Engine(str(tmp_path / "f.sq.bin"))
    x = np.random.default_rng(0).normal(size=(2, 3, 13, 11)).astype(np.float32)
    assert np.array_equal(half.forward(x), full.forward(x))


def test_file_written_by_the_factory_opens_with_safetensors(tiny_model):
    safetensors = pytest.importorskip("safetensors.numpy")
    loaded = safetensors.load_file(str(tiny_model.path))
    assert set(loaded) == set(tiny_model.tensors)


def test_unused_metadata_keys_are_ignored(tmp_path, tiny_model):
    info = load_bytes(tmp_path, mf.encode(tiny_model.graph, tiny_model.tensors, metadata={"verify_threshold": "0.4"}))
    assert info["metadata"]["verify_threshold"] == "0.4"


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.sq.bin"):
        _core.load_model_info(str(tmp_path / "nope.sq.bin"))
    with pytest.raises(OSError, match="not a regular file"):
        _core.load_model_info(str(tmp_path))


# ---------------------------------------------------------------------------------- container-level errors

@pytest.mark.parametrize("size", [0, 1, 7])
def test_shorter_than_the_length_prefix(tmp_path, tiny_model, size):
    expect_model_error(tmp_path, tiny_model.data[:size], "shorter than the 8-byte header length")


def test_header_length_zero(tmp_path, tiny_model):
    expect_model_error(tmp_path, struct.pack("<Q", 0) + tiny_model.data[8:], "header length is 0")


def test_header_length_over_16_mib(tmp_path, tiny_model):
    expect_model_error(tmp_path, struct.pack("<Q", (16 << 20) + 1) + tiny_model.data[8:], "exceeds the 16 MiB limit")


def test_header_length_past_the_end(tmp_path, tiny_model):
    data = struct.pack("<Q", len(tiny_model.data)) + tiny_model.data[8:]
    expect_model_error(tmp_path, data, f"truncated: header says {len(tiny_model.data)} bytes")


def test_header_not_utf8(tmp_path, tiny_model):
    _, header = header_of(tiny_model.data)
    bad = header.replace(b"tests/model_factory.py", b"tests/model_factory\xff\xfe", 1)
    expect_model_error(tmp_path, with_header(tiny_model.data, bad), "not valid UTF-8")


@pytest.mark.parametrize("text, match", [
    (b'{"__metadata__":{"format":"facert.sq"', "invalid JSON"),
    (b'{"__metadata__":{"a":"b",}}', "invalid JSON"),
    (b'{"__metadata__":{"a":01}}', "leading zero"),
    (b'{"__metadata__":{"a":"b"}} x', "unexpected characters after"),
    (b'{"a":1,"a":2}', "duplicate key"),
    (b'["__metadata__"]', "not a JSON object"),
    (b'{"__metadata__":"\\ud800"}', "surrogate"),
    (b'{"__metadata__":"a\x01b"}', "control character"),
    (b'{"x":' + b"[" * 65 + b"]" * 65 + b"}", "nesting deeper than 64"),
])
def test_header_json_errors(tmp_path, tiny_model, text, match):
    expect_model_error(tmp_path, with_header(tiny_model.data, text), match)


def test_nesting_of_64_levels_is_fine_for_the_parser(tmp_path, tiny_model):
    # 63 arrays inside the top-level object: legal JSON depth, so the failure is the next check
    expect_model_error(tmp_path, with_header(tiny_model.data, b'{"x":' + b"[" * 63 + b"]" * 63 + b"}"),
                       "__metadata__ is missing")


def test_metadata_missing(tmp_path, tiny_model):
    expect_model_error(tmp_path, with_header(tiny_model.data, b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'),
                       "__metadata__ is missing")


def test_metadata_value_not_a_string(tmp_path, tiny_model):
    data = mf.encode(tiny_model.graph, tiny_model.tensors,
                     header_patch=lambda h: {**h, "__metadata__": {**h["__metadata__"], "epoch": 3}})
    expect_model_error(tmp_path, data, "'epoch' is a number, expected a string")


def test_wrong_format(tmp_path, tiny_model):
    expect_model_error(tmp_path, mf.encode(tiny_model.graph, tiny_model.tensors, fmt="onnx"), "not a facert model file")


def test_newer_format_version(tmp_path, tiny_model):
    msg = r"model file format version 2 is newer than this facert supports \(1\); upgrade facert"
    expect_model_error(tmp_path, mf.encode(tiny_model.graph, tiny_model.tensors, format_version="2"), msg)


@pytest.mark.parametrize("version", ["one", "1.0", "-1", "", " 1"])
def test_format_version_not_an_integer(tmp_path, tiny_model, version):
    expect_model_error(tmp_path, mf.encode(tiny_model.graph, tiny_model.tensors, format_version=version),
                       "is not an integer")


def test_checksum_missing(tmp_path, tiny_model):
    data = mf.encode(tiny_model.graph, tiny_model.tensors, metadata={"checksum": None})
    expect_model_error(tmp_path, data, "checksum key missing")


@pytest.mark.parametrize("value", ["crc32:ABCDEF01", "crc32:1234567", "crc32:123456789", "md5:00000000"])
def test_checksum_malformed(tmp_path, tiny_model, value):
    data = mf.encode(tiny_model.graph, tiny_model.tensors, metadata={"checksum": value}, fix_checksum=False)
    expect_model_error(tmp_path, data, "checksum (key )?malformed")


def test_checksum_key_twice(tmp_path, tiny_model):
    # a top-level entry named "checksum" holding a string: the byte pattern now occurs twice
    data = mf.encode(tiny_model.graph, tiny_model.tensors,
                     header_patch=lambda h: {"checksum": "crc32:00000000", **h}, fix_checksum=False)
    expect_model_error(tmp_path, data, "occurs 2 times")


def test_checksum_mismatch(tmp_path, tiny_model):
    data = bytearray(tiny_model.data)
    data[-3] ^= 0x01
    expect_model_error(tmp_path, bytes(data), "checksum mismatch: file is corrupt")


# ------------------------------------------------------------------------------------- tensor table errors

def patch_entry(tiny_model, name, **fields):
    def patch(h):
        h = copy.deepcopy(h)
        h[name].update(fields)
        return h
    return mf.encode(tiny_model.graph, tiny_model.tensors, header_patch=patch)


@pytest.mark.parametrize("fields, match", [
    ({"dtype": "I8"}, "unknown dtype 'I8'"),
    ({"dtype": 4}, "dtype is not a string"),
    ({"shape": []}, "shape must be a list of 1 to 4"),
    ({"shape": [1, 1, 1, 1, 1]}, "shape must be a list of 1 to 4"),
    ({"shape": [6, 0, 3, 3]}, "integers in 1..2\\^20"),
    ({"shape": [6, -3, 3, 3]}, "integers in 1..2\\^20"),
    ({"shape": [6, 1.5, 3, 3]}, "integers in 1..2\\^20"),
    ({"shape": [1 << 21]}, "integers in 1..2\\^20"),
    ({"shape": [1 << 20, 1 << 20, 1 << 20, 1 << 20]}, "more than 2\\^28 elements"),
    ({"shape": [6, 3, 3, 2]}, "size mismatch"),
    ({"data_offsets": [0]}, "data_offsets must be \\[begin, end\\]"),
    ({"data_offsets": [-4, 0]}, "non-negative integers"),
    ({"data_offsets": [1 << 63, (1 << 63) + 648]}, "non-negative integers"),
    ({"data_offsets": [1 << 62, (1 << 62) + 648]}, "truncated: tensor 'stem.weight' ends at"),
    ({"data_offsets": [648, 0]}, "end before begin"),
    ({"extra": 1}, "unexpected key 'extra'"),
])
def test_bad_tensor_entries(tmp_path, tiny_model, fields, match):
    expect_model_error(tmp_path, patch_entry(tiny_model, "stem.weight", **fields), match)


def test_tensor_entry_not_an_object(tmp_path, tiny_model):
    data = mf.encode(tiny_model.graph, tiny_model.tensors, header_patch=lambda h: {**h, "stem.weight": [1, 2]})
    expect_model_error(tmp_path, data, "tensor 'stem.weight': is not an object")


def test_overlapping_tensors(tmp_path, tiny_model):
    def patch(h):
        h = copy.deepcopy(h)
        b0, e0 = h["stem.bias"]["data_offsets"]   # shift stem.bias back by 4 bytes onto stem.weight
        h["stem.bias"]["data_offsets"] = [b0 - 4, e0 - 4]
        return h
    expect_model_error(tmp_path, mf.encode(tiny_model.graph, tiny_model.tensors, header_patch=patch), "overlaps")


def test_gap_between_tensors(tmp_path, tiny_model):
    def patch(h):
        h = copy.deepcopy(h)
        b0, e0 = h["head.weight"]["data_offsets"]  # the last tensor: move it 4 bytes later
        h["head.weight"]["data_offsets"] = [b0 + 4, e0 + 4]
        return h
    data = mf.encode(tiny_model.graph, tiny_model.tensors, header_patch=patch) + b"\0" * 4
    expect_model_error(tmp_path, mf.refresh_checksum(data), "gap of 4 bytes before tensor 'head.weight'")


def test_trailing_bytes(tmp_path, tiny_model):
    expect_model_error(tmp_path, mf.refresh_checksum(tiny_model.data + b"\0" * 8), "trailing bytes")


def test_data_shorter_than_the_table(tmp_path, tiny_model):
    expect_model_error(tmp_path, mf.refresh_checksum(tiny_model.data[:-4]), "truncated: tensor 'head.weight' ends at")


def test_too_many_tensors(tmp_path, tiny_model):
    extra = {f"pad{i}": np.zeros(1, np.float32) for i in range(4097)}
    expect_model_error(tmp_path, mf.encode(tiny_model.graph, {**tiny_model.tensors, **extra}), "more than 4096 tensors")


# ------------------------------------------------------------------------------------------- graph errors

def graph_error(tmp_path, tiny_model, mutate, match, tensors=None):
    g = copy.deepcopy(tiny_model.graph)
    mutate(g)
    expect_model_error(tmp_path, mf.encode(g, tensors or tiny_model.tensors), match)


def op(g, name):
    return next(o for o in g["ops"] if o["name"] == name)


def test_graph_missing(tmp_path, tiny_model):
    expect_model_error(tmp_path, mf.encode(tiny_model.graph, tiny_model.tensors, metadata={"graph": None}),
                       "graph is missing")


def test_graph_not_json(tmp_path, tiny_model):
    expect_model_error(tmp_path, mf.encode('{"arch":', tiny_model.tensors), "graph: invalid JSON")


def test_graph_too_deep(tmp_path, tiny_model):
    text = json.dumps(tiny_model.graph)[:-1] + ',"deep":' + "[" * 70 + "]" * 70 + "}"
    expect_model_error(tmp_path, mf.encode(text, tiny_model.tensors), "nesting deeper than 64")


@pytest.mark.parametrize("mutate, match", [
    (lambda g: g.update(ops=[]), "non-empty list"),
    (lambda g: g.pop("arch"), "missing attribute 'arch'"),
    (lambda g: g.update(layout="NCHW"), "unexpected attribute 'layout'"),
    (lambda g: op(g, "stem").update(type="batchnorm"), "unknown op type 'batchnorm'"),
    (lambda g: op(g, "stem").pop("groups"), "op 0 'stem'.*missing attribute 'groups'"),
    (lambda g: op(g, "stem").update(alpha=0.1), "unexpected attribute 'alpha'"),
    (lambda g: op(g, "stem").update(groups="1"), "'groups' must be an integer"),
    (lambda g: op(g, "stem").update(groups=0), "'groups' must be an integer in 1"),
    (lambda g: op(g, "stem").update(kernel=[3]), "'kernel' must be a list of 2 integers"),
    (lambda g: op(g, "stem").update(stride=[0, 2]), "'stride' must hold integers in 1"),
    (lambda g: op(g, "stem").update(pad=[-1, 1]), "'pad' must hold integers in 0"),
    (lambda g: op(g, "stem").update(activation="gelu"), "unknown activation 'gelu'"),
    (lambda g: op(g, "stem").update(weight="nope"), "weight 'nope' is not a tensor in the file"),
    (lambda g: op(g, "stem").update(bias=3), "'bias' must be a tensor name or null"),
    (lambda g: op(g, "pool").update(ceil_mode=1), "'ceil_mode' must be true or false"),
    (lambda g: op(g, "cat").update(axis=2), "'axis' must be an integer in 1..1"),
    (lambda g: op(g, "gap").update(kernel=[1, 1]), "unexpected attribute 'kernel'"),
    (lambda g: op(g, "pool").update(inputs=["later"]), "reads 'later' before any op produces it"),
    (lambda g: op(g, "pool").update(outputs=["stem"]), "tensor 'stem' is produced twice"),
    (lambda g: op(g, "pool").update(outputs=["a", "b"]), "exactly one tensor name"),
    (lambda g: op(g, "pool").update(name="stem"), "duplicate op name 'stem'"),
    (lambda g: g["output"].update(name="nowhere"), "output 'nowhere' is not produced"),
    (lambda g: g["output"].update(dim=7), r"expected \(7,\) or \(7, h, w\) from output.dim"),
    (lambda g: g["output"].update(name="gap"), r"output 'gap' has shape \(15,\)"),
    (lambda g: g["input"].update(channel_order="RBG"), "channel_order must be"),
    (lambda g: g["input"].update(shape=[1, 13, 11]), "shape must be \\[3, H, W\\]"),
    (lambda g: g["input"].update(shape=[3, 4097, 11]), "H, W in 1..4096"),
    (lambda g: g["input"].update(std=[0.5, 0, 0.5]), "std must be non-zero"),
    (lambda g: g["input"].update(mean=[0.5, 0.5]), "mean must be 3 numbers"),
])
def test_graph_errors(tmp_path, tiny_model, mutate, match):
    graph_error(tmp_path, tiny_model, mutate, match)


@pytest.mark.parametrize("mutate, match", [
    # conv weight of the wrong shape for its input
    (lambda g: op(g, "branch_a").update(inputs=["stem"], outputs=["branch_a"]),
     r"inputs disagree on H, W: 'branch_a' \(5, 7, 6\) vs 'branch_b' \(4, 3, 3\)"),
    (lambda g: op(g, "branch_b").update(groups=2), "weight 'branch_b.weight' has shape"),
    (lambda g: op(g, "branch_g").update(groups=4), "not divisible by groups 4"),
    (lambda g: op(g, "fc1").update(inputs=["cat"]), r"input 'cat' has shape \(15, 3, 3\), expected rank 1"),
    (lambda g: g["ops"].append({"type": "global_avgpool", "name": "gap2", "inputs": ["fc1"], "outputs": ["gap2"]}),
     r"op 'gap2' \(global_avgpool\): input 'fc1' has shape \(7,\), expected rank 3"),
    (lambda g: op(g, "stem").update(kernel=[5, 5]), "weight 'stem.weight' has shape"),
    (lambda g: op(g, "pool").update(kernel=[9, 9]), "kernel larger than the padded input"),
    (lambda g: op(g, "pool").update(pad=[2, 2]), "pad 2 exceeds half the kernel 3"),
    (lambda g: op(g, "head").update(bias="fc1.bias"), "bias 'fc1.bias' has shape"),
])
def test_shapes_that_do_not_agree(tmp_path, tiny_model, mutate, match):
    graph_error(tmp_path, tiny_model, mutate, match)


def test_activation_over_2_pow_28_elements(tmp_path):
    b = mf.GraphBuilder(np.random.default_rng(0), 4096, 4096)
    x = b.conv("wide", "input", 17, k=1)  # 17 * 4096 * 4096 > 2^28
    x = b.gap("gap", x)
    expect_model_error(tmp_path, mf.encode(b.graph(x), b.tensors), r"output \(17, 4096, 4096\) exceeds 2\^28")


def test_model_error_from_the_engine_constructor(tmp_path, tiny_model):
    data = bytearray(tiny_model.data)
    data[len(data) // 2] ^= 0x40
    (tmp_path / "bad.sq.bin").write_bytes(bytes(data))
    with pytest.raises(facert.ModelError, match="checksum mismatch"):
        facert.Engine(tmp_path / "bad.sq.bin")


# ---------------------------------------------------------------------------------------------- fuzzing

def boundaries(data: bytes) -> list[int]:
    lay = mf.layout(data)
    cuts = set(range(0, 10)) | {lay["header_end"] - 1, lay["header_end"], lay["header_end"] + 1, len(data) - 1}
    for begin, end in lay["tensors"].values():
        cuts |= {begin - 1, begin, begin + 1, end - 1, end}
    return sorted(c for c in cuts if 0 <= c < len(data))


def test_truncation_at_every_boundary(tmp_path, tiny_model):
    cuts = boundaries(tiny_model.data)
    assert len(cuts) > 30
    for cut in cuts:
        with pytest.raises(facert.ModelError):
            load_bytes(tmp_path, tiny_model.data[:cut])


@FUZZ
@given(frac=st.floats(0, 1, exclude_max=True))
def test_truncation_anywhere(tmp_path, tiny_model, frac):
    with pytest.raises(facert.ModelError):
        load_bytes(tmp_path, tiny_model.data[:int(frac * len(tiny_model.data))])


@FUZZ
@given(data=st.data())
def test_bit_flips(tmp_path, tiny_model, data):
    raw = bytearray(tiny_model.data)
    n_flips = data.draw(st.integers(1, 3))
    for _ in range(n_flips):
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    if bytes(raw) == tiny_model.data:  # two flips cancelled
        return
    try:
        info = load_bytes(tmp_path, bytes(raw))
    except facert.ModelError:
        return
    # Only acceptable when nothing that matters changed: the same model must come out.
    assert info == facert.load_model_info(tiny_model.path)


@FUZZ
@given(shape=st.lists(st.integers(-2, (1 << 31)), min_size=0, max_size=6),
       begin=st.integers(-(1 << 64), 1 << 65), length=st.integers(-8, 1 << 40),
       dtype=st.sampled_from(["F32", "F16", "BF16", "", "f32"]))
def test_hostile_tensor_entries(tmp_path, tiny_model, shape, begin, length, dtype):
    def patch(h):
        h = copy.deepcopy(h)
        h["stem.weight"] = {"dtype": dtype, "shape": shape, "data_offsets": [begin, begin + length]}
        return h
    with pytest.raises(facert.ModelError):
        load_bytes(tmp_path, mf.encode(tiny_model.graph, tiny_model.tensors, header_patch=patch))


@FUZZ
@given(header=st.binary(min_size=1, max_size=300))
def test_random_headers(tmp_path, tiny_model, header):
    with pytest.raises(facert.ModelError):
        load_bytes(tmp_path, struct.pack("<Q", len(header)) + header + tiny_model.data[-64:])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=30)


@FUZZ
@given(key=st.sampled_from(["kernel", "stride", "pad", "dilation", "groups", "activation", "weight", "bias",
                            "inputs", "outputs", "type", "name"]), value=json_values)
def test_hostile_attributes(tmp_path, tiny_model, key, value):
    g = copy.deepcopy(tiny_model.graph)
    op(g, "branch_b")[key] = value
    try:
        info = load_bytes(tmp_path, mf.encode(g, tiny_model.tensors))
    except facert.ModelError:
        return
    assert len(info["ops"]) == len(g["ops"])  # a legal value (e.g. another valid name) may load


@FUZZ
@given(height=st.integers(-3, 5000), width=st.integers(-3, 5000), dim=st.integers(-2, 1 << 22))
def test_hostile_input_and_output_sizes(tmp_path, tiny_model, height, width, dim):
    g = copy.deepcopy(tiny_model.graph)
    g["input"]["shape"] = [3, height, width]
    g["output"]["dim"] = dim
    try:
        info = load_bytes(tmp_path, mf.encode(g, tiny_model.tensors))
    except facert.ModelError:
        return
    assert dim == 6 and 1 <= height <= 4096 and 1 <= width <= 4096 and info["input"]["shape"] == (3, height, width)
