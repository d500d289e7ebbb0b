"""Check a written sq.bin against PyTorch on real-looking images, and refuse a degenerate network.

The reference is the checkpoint's own module where there is one (TorchScript, a pickled or live
nn.Module): it knows paddings and activations a state_dict cannot tell. Otherwise it is a plain-torch
rebuild from the state_dict. Inputs are face photos from ../shared/data when present (else
natural-image-like synthetic pictures), normalised as the file's input section says.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import VerificationError
from .squeezenet import SqueezeNetSpec

# fp32: folding and summation order differ from PyTorch, nothing else; the relative bound leaves
# headroom over the ~1e-6 seen on random students. fp16: weights rounded to 11 significant bits.
TOLERANCES = {"F32": {"min_cosine": 0.99999, "max_rel_err": 1e-4},
              "F16": {"min_cosine": 0.999, "max_rel_err": 5e-2}}
# Output spread (see output_spread) below this: the network answers (nearly) the same vector for
# every face, which no usable embedding does (the bundled model: ~0.6 on 8 face photos).
MIN_SPREAD = 1e-3
SAMPLE_COUNT = 8
FACE_FOLDER = "utkface_part1"


@dataclass
class VerifyResult:
    reference: str           # which PyTorch model the file was compared with
    inputs: str              # what the images were
    batch: int
    max_abs_err: float
    max_rel_err: float       # max abs error / max |torch output|
    min_cosine: float        # worst row of the batch
    min_cosine_required: float
    max_rel_err_allowed: float
    spread: float            # output_spread of the reference outputs
    degenerate: Optional[str] = None   # why the outputs are unusable, when they are

    @property
    def passed(self) -> bool:
        return (self.degenerate is None and self.min_cosine >= self.min_cosine_required
                and self.max_rel_err <= self.max_rel_err_allowed)

    def describe(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        text = (f"verify {verdict} against {self.reference} on {self.batch} {self.inputs}: "
                f"max abs error {self.max_abs_err:.3g} (relative {self.max_rel_err:.3g}, allowed "
                f"{self.max_rel_err_allowed:g}), min cosine {self.min_cosine:.8f} (required >= "
                f"{self.min_cosine_required}), output spread {self.spread:.3g} (required >= {MIN_SPREAD:g})")
        return text + (f"; {self.degenerate}" if self.degenerate else "")


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row cosines; 0 where a row is zero (an all-zero output is degenerate, never a match)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(na * nb, 1e-300)


def output_spread(out: np.ndarray) -> float:
    """RMS distance of the rows from their mean over RMS row norm: 0 for a constant output, about 1
    for outputs that point every which way; NaN for all-zero or non-finite outputs."""
    out = out.astype(np.float64)
    norm = np.sqrt((out ** 2).sum(axis=1).mean())
    if not np.isfinite(norm) or norm == 0:
        return float("nan")
    return float(np.sqrt(((out - out.mean(axis=0)) ** 2).sum(axis=1).mean()) / norm)


def degeneracy(out: np.ndarray) -> Optional[str]:
    """Why these outputs (one row per different input) cannot be an embedding, or None."""
    if not np.all(np.isfinite(out)):
        return "the outputs contain NaN or Inf"
    zero = np.linalg.norm(out.astype(np.float64), axis=1) == 0
    if zero.all():
        return "every output is all zeros (e.g. a ReLU after the head that clips everything)"
    if zero.any():
        return f"{int(zero.sum())} of {len(out)} outputs are all zeros (no direction to normalise)"
    spread = output_spread(out)
    if len(out) > 1 and spread < MIN_SPREAD:
        return f"the output is (nearly) the same for every input (spread {spread:.3g})"
    return None


def compare(reference: np.ndarray, actual: np.ndarray, dtype: str = "F32", what: str = "PyTorch",
            inputs: str = "inputs") -> VerifyResult:
    tol = TOLERANCES[dtype]
    err = np.abs(reference.astype(np.float64) - actual.astype(np.float64))
    max_abs = float(err.max()) if err.size else 0.0
    scale = float(np.abs(reference).max()) if reference.size else 0.0
    rel = max_abs / scale if scale > 0 else max_abs
    degenerate = degeneracy(reference) or (None if np.all(np.isfinite(actual))
                                           else "facert's outputs contain NaN or Inf")
    return VerifyResult(what, inputs, reference.shape[0], max_abs, rel, float(cosine_rows(reference, actual).min()),
                        tol["min_cosine"], tol["max_rel_err"], output_spread(reference), degenerate)


def _synthetic_images(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Natural-image-like pictures: a 1/f^1.5 amplitude spectrum (photos measure 1/f^1 to 1/f^2: large
    smooth areas, some edges), a shared luminance with weaker colour, stretched to the full 0..255
    range. (count, H, W, 3) uint8 BGR."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    falloff = np.maximum(np.hypot(fy, fx), 1.0 / max(height, width)) ** -1.5
    images = np.empty((count, height, width, 3), np.uint8)
    for i in range(count):
        def field():
            spectrum = (rng.standard_normal(falloff.shape) + 1j * rng.standard_normal(falloff.shape)) * falloff
            return np.fft.irfft2(spectrum, s=(height, width))
        luminance = field()
        planes = [luminance + 0.3 * field() for _ in range(3)]
        stack = np.stack(planes, axis=-1)
        lo, hi = np.percentile(stack, 1), np.percentile(stack, 99)
        images[i] = np.clip((stack - lo) / max(hi - lo, 1e-12) * 255.0, 0, 255).astype(np.uint8)
    return images


def sample_images(count: int, height: int, width: int):
    """((count, H, W, 3) uint8 BGR images, what they are): face photos when ../shared/data has them."""
    import cv2

    from ..demo import find_data_dir

    folder = find_data_dir(FACE_FOLDER)
    files = sorted(folder.glob("*.jpg")) if folder is not None else []
    if len(files) >= count:
        step = len(files) // count   # spread over the folder: different ages, genders, lighting
        images = []
        for path in files[::step][:count]:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                break
            interp = cv2.INTER_AREA if img.shape[0] > height else cv2.INTER_LINEAR
            images.append(cv2.resize(img, (width, height), interpolation=interp))
        if len(images) == count:
            return np.stack(images), f"face photos from {folder}"
    return _synthetic_images(count, height, width), "synthetic natural-image-like pictures (no face photos found)"


def normalise(images_bgr: np.ndarray, input_section: dict) -> np.ndarray:
    """(N, H, W, 3) uint8 BGR -> (N, 3, H, W) float32 as the file's input section says."""
    x = images_bgr.astype(np.float64)
    if input_section["channel_order"] == "RGB":
        x = x[..., ::-1]
    mean = np.asarray(input_section["mean"], np.float64)
    std = np.asarray(input_section["std"], np.float64)
    x = (x * input_section["scale"] - mean) / std
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def _run_original(module, x: np.ndarray, dim: int):
    """The module's output for x when it maps (N,3,H,W) to (N, dim), else None."""
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


def verify_file(spec: SqueezeNetSpec, sq_path, input_section: dict, dtype: str = "F32",
                threads: int = 0, original=None, images=None) -> VerifyResult:
    """images: (N, H, W, 3) uint8 BGR to use instead of sample_images (tests)."""
    import torch

    from facert import _core

    from .torch_model import build_torch_model

    _, height, width = input_section["shape"]
    inputs = "given images"
    if images is None:
        images, inputs = sample_images(SAMPLE_COUNT, height, width)
    x = normalise(images, input_section)
    reference = _run_original(original, x, spec.dim) if original is not None else None
    what = "the checkpoint's own module"
    if reference is None:
        with torch.no_grad():
            reference = build_torch_model(spec)(torch.from_numpy(x)).numpy()
        what = "PyTorch rebuilt from the state_dict"
    actual = np.asarray(_core.Engine(str(sq_path), threads=threads, isa="auto").forward(x))
    if actual.shape != reference.shape:
        raise VerificationError(f"facert output shape {actual.shape} != PyTorch {reference.shape}")
    return compare(reference, actual, dtype, what, inputs)


