"""Write sq.bin exactly as docs/format.md says: safetensors container, graph in __metadata__, CRC-32."""
from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import ConvertError

FORMAT = "facert.sq"
FORMAT_VERSION = "1"
CHECKSUM_KEY = b'"checksum":"crc32:'
CHECKSUM_PLACEHOLDER = "crc32:00000000"
RESERVED_METADATA = ("format", "format_version", "checksum", "graph")
MAX_HEADER = 16 << 20
DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2")}


def _compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def encode_sq_bin(graph: dict, tensors: dict, metadata: dict, dtype: str = "F32") -> bytes:
    """The whole file as bytes. `tensors`: name -> float32 ndarray, stored in the given order."""
    if dtype not in DTYPES:
        raise ConvertError(f"unsupported weight dtype {dtype!r}; expected F32 or F16")
    for key, value in metadata.items():
        if key in RESERVED_METADATA or key == "__metadata__":
            raise ConvertError(f"metadata key {key!r} is reserved by the sq.bin format")
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConvertError(f"metadata entries must be strings, got {key!r}: {value!r}")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "checksum": CHECKSUM_PLACEHOLDER,
            "graph": _compact(graph), **metadata}
    header, blobs, offset = {"__metadata__": meta}, [], 0
    for name, array in tensors.items():
        if name == "__metadata__":
            raise ConvertError("a tensor may not be called __metadata__")
        values = np.ascontiguousarray(array, dtype=np.float32)
        if not np.all(np.isfinite(values)):
            raise ConvertError(f"weight {name} contains NaN or Inf")
        if dtype == "F16" and values.size and np.abs(values).max() > np.finfo(np.float16).max:
            raise ConvertError(f"weight {name} overflows float16 (max |w| = {np.abs(values).max():.4g}); "
                               f"convert without --fp16")
        stored = values.astype(DTYPES[dtype])
        blob = stored.tobytes()
        header[name] = {"dtype": dtype, "shape": [int(d) for d in stored.shape],
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = _compact(header).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)   # data section starts 8-byte aligned
    if len(text) > MAX_HEADER:
        raise ConvertError(f"header of {len(text)} bytes exceeds the format's 16 MiB limit")
    if text.count(CHECKSUM_KEY) != 1:
        raise ConvertError("the checksum key must occur exactly once in the header")
    body = bytearray(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    # CRC of the whole file with the 8 hex digits as ASCII zeros, then the digits filled in.
    digits_at = body.index(CHECKSUM_KEY) + len(CHECKSUM_KEY)
    crc = zlib.crc32(bytes(body)) & 0xFFFFFFFF
    body[digits_at:digits_at + 8] = f"{crc:08x}".encode("ascii")
    return bytes(body)


def write_sq_bin(path, graph: dict, tensors: dict, metadata: dict, dtype: str = "F32") -> int:
    """Write atomically (temp file + rename) so a failed run never leaves half a model. Returns the size."""
    return write_sq_bin_bytes(path, encode_sq_bin(graph, tensors, metadata, dtype))


def update_metadata(path, updates: dict, out_path=None) -> int:
    """Rewrite an sq.bin's __metadata__ entries (a None value removes one) without touching its graph
    or weights: the tensors are decoded and re-encoded (float16 -> float32 -> float16 is exact), and
    the data section is checked to come out byte-identical. Returns the new file size."""
    data = Path(path).read_bytes()
    (header_len,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8:8 + header_len])
    body = data[8 + header_len:]
    meta = header.pop("__metadata__")
    dtypes = {entry["dtype"] for entry in header.values()}
    if len(dtypes) != 1 or not dtypes <= set(DTYPES):
        raise ConvertError(f"{path}: expected one weight dtype (F32 or F16), found {sorted(dtypes)}")
    dtype = dtypes.pop()
    tensors = {}
    for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        start, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], DTYPES[dtype]).reshape(entry["shape"]).astype(np.float32)
    graph = json.loads(meta.pop("graph"))
    extra = {k: v for k, v in meta.items() if k not in RESERVED_METADATA}
    for key, value in updates.items():
        if value is None:
            extra.pop(key, None)
        else:
            extra[key] = str(value)
    new = encode_sq_bin(graph, tensors, extra, dtype)
    (new_len,) = struct.unpack_from("<Q", new)
    if new[8 + new_len:] != body:
        raise ConvertError(f"{path}: re-encoding would change the weights; metadata not updated")
    return write_sq_bin_bytes(out_path or path, new)


def write_sq_bin_bytes(path, data: bytes) -> int:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return len(data)
