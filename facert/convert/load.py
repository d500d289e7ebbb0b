"""Read a checkpoint file safely: weights-only unpickling unless the user trusts the file."""
from __future__ import annotations

import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConvertError, UnsafeCheckpointError


@dataclass
class LoadedCheckpoint:
    obj: Any            # whatever the file holds: a dict, a state_dict, an nn.Module, a ScriptModule
    container: str      # "torchscript" or "pickle"


def _is_torchscript_archive(path: Path) -> bool:
    # torch.jit.save writes <archive>/constants.pkl and <archive>/code/; torch.save never does.
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.count("/") == 1 and name.endswith("/constants.pkl") for name in archive.namelist())


def load_checkpoint(path, trust_pickle: bool = False) -> LoadedCheckpoint:
    """Load `path` on the CPU. Raises FileNotFoundError, UnsafeCheckpointError or ConvertError."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if _is_torchscript_archive(path):
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
