"""Read an sq.bin independently of facert: the safetensors package for tensors, plain Python for the
header rules and the CRC of docs/format.md."""
from __future__ import annotations

import json
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path



@dataclass
class SqFile:
    header_len: int
    metadata: dict
    graph: dict
    entries: dict        # tensor name -> {"dtype", "shape", "data_offsets"}
    tensors: dict        # tensor name -> ndarray (as stored: float32 or float16)
    crc_ok: bool


def read_sq(path) -> SqFile:
    from safetensors.numpy import load_file

    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header_bytes = data[8:8 + n]
    header = json.loads(header_bytes)
    metadata = header.pop("__metadata__")
    digits = re.fullmatch(r"crc32:([0-9a-f]{8})", metadata["checksum"]).group(1)
    key = b'"checksum":"crc32:'
    assert data.count(key) == 1
    at = data.index(key) + len(key)
    zeroed = data[:at] + b"0" * 8 + data[at + 8:]
    crc_ok = f"{zlib.crc32(zeroed) & 0xFFFFFFFF:08x}" == digits
    return SqFile(n, metadata, json.loads(metadata["graph"]), header, load_file(str(path)), crc_ok)
