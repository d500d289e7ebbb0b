"""Read a checkpoint file safely: recognise it by content, weights-only unpickling unless trusted."""
from __future__ import annotations

import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConvertError, UnsafeCheckpointError

TORCH_ADVICE = "the converter needs PyTorch: pip install torch==2.13.0"
# ONNX's ModelProto field numbers (onnx.proto); a file whose top-level protobuf fields are all
# among these and include the graph (7) is an ONNX model.
ONNX_FIELDS = {1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25}
ONNX_GRAPH_FIELD = 7


@dataclass
class LoadedCheckpoint:
    obj: Any            # whatever the file holds: a dict, a state_dict, an nn.Module, a ScriptModule
    container: str      # "torchscript" or "pickle"


def import_torch():
    """torch, or ImportError with the install advice the README gives."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"{TORCH_ADVICE} ({exc})") from exc
    return torch


def _zip_kind(path: Path) -> str:
    # torch.jit.save writes <archive>/constants.pkl and <archive>/code/; torch.save writes
    # <archive>/data.pkl; NumPy's .npz is a zip of .npy files.
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.count("/") == 1 and n.endswith("/constants.pkl") for n in names):
        return "torchscript"
    if any(n.count("/") == 1 and n.endswith("/data.pkl") for n in names):
        return "pickle"
    if names and all(n.endswith(".npy") for n in names):
        raise ConvertError(f"{path} is a NumPy .npz archive, not a PyTorch checkpoint")
    raise ConvertError(f"{path} is a zip archive but not one torch.save or torch.jit.save wrote "
                       f"(no <archive>/data.pkl or constants.pkl inside)")


def _varint(data: bytes, at: int):
    value = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
    raise ValueError("truncated varint")


def _looks_like_onnx(data: bytes) -> bool:
    """Walk the top-level protobuf fields: ONNX when they are all ModelProto's and a graph is there."""
    at, seen = 0, set()
    try:
        while at < len(data):
            key, at = _varint(data, at)
            field, wire = key >> 3, key & 7
            if field not in ONNX_FIELDS:
                return False
            if wire == 0:
                _, at = _varint(data, at)
            elif wire == 2:
                length, at = _varint(data, at)
                at += length
            else:
                return False
            seen.add(field)
    except ValueError:
        return False
    return at == len(data) and ONNX_GRAPH_FIELD in seen


def _other_format(head: bytes) -> str | None:
    """The name of a well-known non-PyTorch format from the file's first bytes, else None."""
    if head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff") or head[:4] in (b"GIF8", b"RIFF"):
        return "an image"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (Keras/TensorFlow weights)"
    if head[4:8] == b"TFL3":
        return "a TensorFlow Lite model"
    if head.startswith(b"GGUF"):
        return "a GGUF model"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy array"
    if len(head) >= 9 and head[8:9] == b"{":
        return "a safetensors file (or facert's own sq.bin)"
    return None


def sniff(path) -> str:
    """'torchscript' or 'pickle' for what torch.save / torch.jit.save write; ConvertError naming the
    format otherwise. Needs no torch, so a wrong file is refused before torch is imported."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if zipfile.is_zipfile(path):
        return _zip_kind(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"   # torch.save's legacy (pre-1.6) format: a bare pickle stream
    other = _other_format(head)
    if other is None and path.stat().st_size <= (256 << 20) and _looks_like_onnx(path.read_bytes()):
        other = "an ONNX model"
    what = other or "not a PyTorch checkpoint"
    hint = (" facert convert reads PyTorch checkpoints (torch.save / torch.jit.save); export the model "
            "from PyTorch, or load it in PyTorch and use facert.convert.from_module.")
    raise ConvertError(f"{path} is {what}, not a PyTorch checkpoint.{hint}" if other
                       else f"{path} is not a PyTorch checkpoint (neither a torch.save zip archive nor a "
                            f"pickle).{hint}")


def load_checkpoint(path, trust_pickle: bool = False) -> LoadedCheckpoint:
    """Load `path` on the CPU. Raises FileNotFoundError, ConvertError (UnsafeCheckpointError) or
    ImportError (no torch), in that order of checking."""
    path = Path(path)
    kind = sniff(path)
    if kind == "torchscript" and not trust_pickle:
        raise UnsafeCheckpointError(
            f"{path} is a TorchScript archive: it is code (loading it runs its scripted __setstate__, and "
            f"verification runs its forward). If you trust it, re-run with --trust-pickle "
            f"(convert_checkpoint(..., trust_pickle=True)).")
    torch = import_torch()
    if kind == "torchscript":
        try:
            with warnings.catch_warnings():   # torch 2.x deprecates TorchScript; archives still exist
                warnings.simplefilter("ignore", DeprecationWarning)
                return LoadedCheckpoint(torch.jit.load(str(path), map_location="cpu"), "torchscript")
        except Exception as exc:  # torch raises RuntimeError subclasses of many kinds here
            raise ConvertError(f"cannot read TorchScript archive {path}: {exc}") from exc
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as exc:
        if trust_pickle:
            raise ConvertError(f"cannot unpickle {path}: {exc}") from exc
        # torch's message is long and terminal-formatted; keep only the offending global's name
        detail = _offending_global(str(exc))
        raise UnsafeCheckpointError(
            f"{path} contains pickled Python objects{detail} that weights-only loading refuses. "
            f"Loading them runs code from the file: if you trust it, re-run with --trust-pickle "
            f"(convert_checkpoint(..., trust_pickle=True))."
        ) from exc
    except Exception as exc:
        raise ConvertError(f"cannot read {path} as a PyTorch checkpoint: {exc}") from exc
    return LoadedCheckpoint(obj, "pickle")


def _offending_global(message: str) -> str:
    # torch's weights-only error says "Unsupported global: GLOBAL argparse.Namespace was not an allowed global".
    marker = "GLOBAL "
    start = message.find(marker)
    if start < 0:
        return ""
    name = message[start + len(marker):].split()[0]
    return f" (such as {name})"
