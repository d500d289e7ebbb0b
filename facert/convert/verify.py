"""Check a written sq.bin against the rebuilt PyTorch model on the same random (normalised) inputs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import VerificationError
from .squeezenet import SqueezeNetSpec
from .torch_model import build_torch_model

# fp32: folding and summation order differ from PyTorch, nothing else; the relative bound leaves
# headroom over the ~1e-6 seen on random students. fp16: weights rounded to 11 significant bits.
TOLERANCES = {"F32": {"min_cosine": 0.99999, "max_rel_err": 1e-4},
              "F16": {"min_cosine": 0.999, "max_rel_err": 5e-2}}


@dataclass
class VerifyResult:
    reference: str           # which PyTorch model the file was compared with
    batch: int
    max_abs_err: float
    max_rel_err: float       # max abs error / max |torch output|
    min_cosine: float        # worst row of the batch
    min_cosine_required: float
    max_rel_err_allowed: float

    @property
    def passed(self) -> bool:
        return self.min_cosine >= self.min_cosine_required and self.max_rel_err <= self.max_rel_err_allowed

    def describe(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        return (f"verify {verdict} against {self.reference}: batch {self.batch}, max abs error {self.max_abs_err:.3g} "
                f"(relative {self.max_rel_err:.3g}, allowed {self.max_rel_err_allowed:g}), "
                f"min cosine {self.min_cosine:.8f} (required >= {self.min_cosine_required})")


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    both_zero = (na == 0) & (nb == 0)   # a dead ReLU head: equal, cosine undefined
    cos = (a * b).sum(axis=1) / np.maximum(na * nb, 1e-300)
    return np.where(both_zero, 1.0, cos)


def compare(reference: np.ndarray, actual: np.ndarray, dtype: str = "F32", what: str = "PyTorch") -> VerifyResult:
    tol = TOLERANCES[dtype]
    err = np.abs(reference.astype(np.float64) - actual.astype(np.float64))
    max_abs = float(err.max()) if err.size else 0.0
    scale = float(np.abs(reference).max()) if reference.size else 0.0
    rel = max_abs / scale if scale > 0 else max_abs
    return VerifyResult(what, reference.shape[0], max_abs, rel, float(cosine_rows(reference, actual).min()),
                        tol["min_cosine"], tol["max_rel_err"])


def _run_original(module, x: np.ndarray, dim: int):
    """The checkpoint's own module (TorchScript, or a pickled nn.Module) when it maps (N,3,H,W) to
    (N, dim): it knows paddings and activations that a state_dict cannot tell. Else None."""
    import torch

    try:
        module.eval()
        with torch.no_grad():
            out = module(torch.from_numpy(x))
    except Exception:  # a forward that wants other inputs: fall back to the rebuilt model
        return None
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (x.shape[0], dim):
        return out.float().numpy()
    return None


def verify_file(spec: SqueezeNetSpec, sq_path, input_shape, dtype: str = "F32",
                batch: int = 2, seed: int = 0, threads: int = 0, original=None) -> VerifyResult:
    import torch

    from facert import _core

    x = np.random.default_rng(seed).standard_normal((batch, *input_shape)).astype(np.float32)
    reference = _run_original(original, x, spec.dim) if original is not None else None
    what = "the checkpoint's own module"
    if reference is None:
        with torch.no_grad():
            reference = build_torch_model(spec)(torch.from_numpy(x)).numpy()
        what = "PyTorch rebuilt from the state_dict"
    actual = np.asarray(_core.Engine(str(sq_path), threads=threads, isa="auto").forward(x))
    if actual.shape != reference.shape:
        raise VerificationError(f"facert output shape {actual.shape} != PyTorch {reference.shape}")
    return compare(reference, actual, dtype, what)
