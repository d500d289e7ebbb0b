"""Find the student's state_dict inside whatever a training script saved, and strip wrapper prefixes."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from .errors import ConvertError

# Entries under which distillation and training code store the network, most specific first
# (DINO keeps both 'student' and 'teacher'; insightface's arcface_torch uses 'state_dict_backbone').
STATE_DICT_ENTRIES = (
    "student_state_dict", "student", "state_dict_backbone", "model_state_dict", "state_dict",
    "model", "net_state_dict", "net",
)
# Wrapper prefixes: DataParallel/DDP, distillation wrappers, backbone+head training wrappers.
STRIP_PREFIXES = ("module.", "student.", "model.", "backbone.")
# When only part of the keys carry one of these, that part is the network and the rest is training
# machinery (FaceX-Zoo's 'head.' margin classifier, DINO's projection head, a teacher).
SELECT_PREFIXES = ("student.", "backbone.")


@dataclass
class FoundStateDict:
    tensors: "OrderedDict[str, Any]"         # name -> torch.Tensor, in the file's order
    location: str                            # e.g. "['student']" or "(top level)"
    stripped: list = field(default_factory=list)   # prefixes removed, in order
    ignored_entries: list = field(default_factory=list)  # top-level entries / keys not used


def _is_tensor_dict(obj) -> bool:
    import torch

    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _as_state_dict(obj):
    """A state_dict from a tensor dict or a module (nn.Module / ScriptModule), else None."""
    import torch

    if isinstance(obj, (torch.nn.Module, torch.jit.ScriptModule)):
        return OrderedDict(obj.state_dict())
    if _is_tensor_dict(obj):
        return OrderedDict(obj)
    return None


def _search(obj, location: str, depth: int):
    found = _as_state_dict(obj)
    if found is not None:
        return found, location, []
    if not isinstance(obj, dict) or depth > 3:
        return None
    for entry in STATE_DICT_ENTRIES:
        if entry in obj:
            hit = _search(obj[entry], f"{location}[{entry!r}]", depth + 1)
            if hit is not None:
                ignored = [repr(k) for k in obj if k != entry]
                return hit[0], hit[1], ignored + hit[2]
    return None


def find_state_dict(obj) -> FoundStateDict:
    hit = _search(obj, "", 0)
    if hit is None:
        if isinstance(obj, dict):
            entries = ", ".join(repr(k) for k in list(obj)[:20])
            raise ConvertError(
                f"no state_dict found: the checkpoint is a dict with entries {entries}; expected a "
                f"state_dict (name -> tensor) at top level or under one of {', '.join(STATE_DICT_ENTRIES)}")
        raise ConvertError(f"no state_dict found: the checkpoint holds a {type(obj).__name__}")
    tensors, location, ignored = hit
    found = FoundStateDict(tensors, location or "(top level)", [], ignored)
    _strip_prefixes(found)
    return found


def _strip_prefixes(found: FoundStateDict) -> None:
    # Repeat: DINO writes 'module.backbone.', some wrappers nest 'module.student.model.'.
    changed = True
    while changed:
        changed = False
        keys = list(found.tensors)
        for prefix in STRIP_PREFIXES:
            matching = [k for k in keys if k.startswith(prefix)]
            if not matching:
                continue
            if len(matching) == len(keys):
                pass
            elif prefix in SELECT_PREFIXES:
                stripped = "".join(found.stripped)   # report keys as the file spells them
                found.ignored_entries += [stripped + k for k in keys if not k.startswith(prefix)]
            else:
                continue
            found.tensors = OrderedDict(
                (k[len(prefix):], found.tensors[k]) for k in matching)
            found.stripped.append(prefix)
            changed = True
            break
