"""facert.Engine: argument and image checks in Python, inference in the C++ core (facert._core)."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from .errors import DeviceError, InputError

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default.sq.bin"
DEVICES = ("auto", "cpu", "gpu", "hetero")
PRECISIONS = ("fp32", "fp16")
ISAS = ("auto", "ref", "avx2", "avx512", "neon")

ImageBatch = Union[Sequence[np.ndarray], np.ndarray]


def _describe(obj) -> str:
    if isinstance(obj, np.ndarray):
        return f"shape {obj.shape} dtype {obj.dtype}"
    return f"a {type(obj).__name__}"


CHANNEL_ORDERS = ("bgr", "rgb")


def check_image(img, what: str = "image", channel_order: str = "bgr") -> np.ndarray:
    """An HxWx3 uint8 image as a C-contiguous BGR array (copied only when it must be), else InputError.

    Images enter facert in BGR order, as cv2.imread returns them; channel_order="rgb" says the
    array is RGB (PIL, imageio, matplotlib) and it is reordered here. The order cannot be detected
    from the pixels: a wrong one gives a plausible, wrong embedding.
    """
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    if img is None:
        raise InputError(f"{what} is None: cv2.imread returns None when it cannot read a file (a wrong path "
                         f"or not an image); check the path before passing the result")
    if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
            and img.shape[0] >= 1 and img.shape[1] >= 1):
        raise InputError(f"expected an HxWx3 uint8 {channel_order.upper()} {what}, got {_describe(img)}")
    return np.ascontiguousarray(img[..., ::-1] if channel_order == "rgb" else img)


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # macOS, Windows
        return max(1, os.cpu_count() or 1)


class Engine:
    """A face-embedding model ready to run.

    path: an sq.bin file (None: the default model bundled in the package).
    device: "cpu"; "gpu": the whole network on an OpenCL device (DeviceError when there is none);
        "auto": with an OpenCL GPU, the scheduler's choice (as "hetero" below: the fastest measured of the CPU,
        the GPU and the best mixed plan); else the CPU: engine.info["fallback_reason"] says why, and a warning
        too when OpenCL is missing or broken (a CPU-type OpenCL device such as PoCL is skipped quietly: the
        native CPU backend is faster on the same cores). "hetero": the CPU and the OpenCL device together, op
        by op: the scheduler measures each op on both devices and the transfers (cached in cache_dir), predicts
        every plan family, runs the predicted winner and both single-device plans and keeps the fastest
        measured; engine.info["schedule"] and engine.plan() show it. `placement` pins ops (see below).
    placement: device="hetero" only: {op name (as engine.plan() prints it): "cpu" | "gpu"}, or "split" on a
        fire module's concat (e.g. "fire2"): its expand1x1 on the CPU, its expand3x3 on the OpenCL device, each
        writing its half of the concat output there. engine.placement returns the placement in force.
    threads: CPU worker threads at most; None: one per physical core; more than the usable cores is capped
        with a warning. A single image runs on one of them where that measures faster as the engine runs (frames
        far apart leave the cores idle, and waking them costs more than they add): info["threads_in_use"].
    precision: "fp32"; "fp16" on OpenCL: half storage of weights and activations (half arithmetic where the
        device has cl_khr_fp16). On the CPU, fp16 is refused for device="cpu"; for "auto" it is computed
        as fp32, with a warning and info["precision_note"] saying so.
    cache_dir: where compiled OpenCL programs and tuned work-group sizes are kept (None: $FACERT_CACHE_DIR,
        else $XDG_CACHE_HOME/facert or ~/.cache/facert).
    isa: CPU instruction set: "auto" (the best this CPU and OS run), "ref" (portable reference), "avx2",
        "avx512", "neon".
    input_size: (H, W) to run a fully convolutional model (a detector's P-Net) at that input size instead of
        the file's, as ncnn/MNN reshape; a size the graph cannot take is a ValueError naming the op.

    One Engine may be used from several threads at once; inference releases the GIL.
    """

    def __init__(self, path: str | os.PathLike | None = None, device: str = "auto", threads: int | None = None,
                 precision: str = "fp32", isa: str = "auto", cache_dir: str | os.PathLike | None = None,
                 placement: dict | None = None, input_size: tuple | None = None):
        if device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        if isa not in ISAS:
            raise ValueError(f"isa must be one of {', '.join(ISAS)}; got {isa!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive int or None, got {threads!r}")
        if threads is not None and threads > usable_cores():
            # more workers than cores only adds contention (1000 threads ran 230x slower)
            warnings.warn(f"threads={threads} is more than the {usable_cores()} cores this process may use; "
                          f"using {usable_cores()}", UserWarning, stacklevel=2)
            threads = usable_cores()
        if placement is not None:
            if device != "hetero":
                raise ValueError(f"placement= needs device='hetero', got device={device!r}")
            if not isinstance(placement, dict) or not all(
                    isinstance(k, str) and v in ("cpu", "gpu", "split") for k, v in placement.items()):
                raise ValueError("placement must be a dict {op name: 'cpu' | 'gpu' | 'split'}, "
                                 f"got {placement!r}")
        if precision == "fp16" and device == "cpu":
            raise DeviceError("precision 'fp16' runs only on an OpenCL device; the CPU path is fp32")
        if path is None:
            if not DEFAULT_MODEL.is_file():
                raise FileNotFoundError(f"no default model is bundled (expected {DEFAULT_MODEL}); pass a path "
                                        "to an sq.bin file")
            path = DEFAULT_MODEL
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"model file not found: {path}")
        from . import _core
        self.path = path
        self._core = _core.Engine(str(path), threads=threads or 0, isa=isa, device=device, precision=precision,
                                  cache_dir=str(cache_dir) if cache_dir is not None else "",
                                  placement=dict(placement or {}), input_size=self._input_size(input_size))
        self.device = self._core.info["device"]
        reason = self._core.info.get("fallback_reason")
        if reason and self._core.info["fallback_is_failure"]:  # loud when OpenCL is missing or broken
            warnings.warn(f"facert.Engine(device='auto') runs on the CPU: {reason}", UserWarning, stacklevel=2)
        self._info_notes = {"precision_requested": precision}
        if precision != self._core.info["precision"]:
            note = (f"precision '{precision}' was requested, but device='{device}' runs on the "
                    f"{self.device.upper()}, which computes in {self._core.info['precision']}")
            self._info_notes["precision_note"] = note
            warnings.warn(note, UserWarning, stacklevel=2)

    def embed(self, img: np.ndarray, channel_order: str = "bgr") -> np.ndarray:
        """A face crop, HxWx3 uint8 BGR (or channel_order="rgb"), any size, resized to the network's
        input -> (D,) float32 embedding with unit L2 norm. The whole image is embedded: for photos,
        use facert.faces (detects, crops, embeds each face)."""
        return self._core.embed(check_image(img, channel_order=channel_order))

    def embed_batch(self, imgs: ImageBatch, channel_order: str = "bgr") -> np.ndarray:
        """A list of HxWx3 uint8 BGR face crops (sizes may differ) or an (N, H, W, 3) uint8 array -> (N, D)."""
        if isinstance(imgs, np.ndarray):
            if not (imgs.ndim == 4 and imgs.shape[3] == 3 and imgs.dtype == np.uint8 and imgs.shape[0] >= 1):
                raise InputError(f"expected an (N, H, W, 3) uint8 array or a list of images, got {_describe(imgs)}")
            if channel_order not in CHANNEL_ORDERS:
                raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
            return self._core.embed_batch(np.ascontiguousarray(imgs[..., ::-1] if channel_order == "rgb" else imgs))
        if isinstance(imgs, (str, bytes)) or not hasattr(imgs, "__len__"):
            raise InputError(f"expected a list of HxWx3 uint8 BGR images, got {_describe(imgs)}")
        if len(imgs) == 0:
            raise InputError("embed_batch needs at least one image, got an empty list")
        return self._core.embed_batch([check_image(im, f"image (item {i})", channel_order)
                                       for i, im in enumerate(imgs)])

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) float32 already-normalised input -> (N, *output_shape) raw head output."""
        c, h, w = self.input_shape
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 4 and x.shape[1:] == (c, h, w)
                and x.shape[0] >= 1):
            raise InputError(f"expected a float32 (N, {c}, {h}, {w}) tensor, got {_describe(x)}")
        return self._core.forward(np.ascontiguousarray(x))

    def preprocess(self, img: np.ndarray, channel_order: str = "bgr") -> np.ndarray:
        """The (C, H, W) float32 tensor embed() feeds the network for this image."""
        return self._core.preprocess(check_image(img, channel_order=channel_order))

    def plan(self) -> str:
        """The execution plan: every op and transfer in order, its device and layout, its output, where it lives
        in its device's arena; measured ms per step after profile()."""
        return self._core.plan()

    def profile(self, runs: int = 10) -> list:
        """Times every step of the plan alone, `runs` times: [{"step", "name", "type", "device", "ms"}]."""
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
            raise ValueError(f"runs must be a positive int, got {runs!r}")
        return self._core.profile(runs)

    def stream(self, frames, batch: int = 8, channel_order: str = "bgr"):
        """Embeds an iterable of HxWx3 uint8 frames, yielding one (D,) embedding per frame in order. Frames go
        through embed_batch `batch` at a time: where the scheduler kept frames in flight (device="hetero" or
        "auto", both devices able to run the whole network, and sharing measured faster), each batch is shared
        out across the CPU and the OpenCL device in proportion to their throughput and both run at once."""
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive int, got {batch!r}")
        pending = []
        for frame in frames:
            pending.append(frame)
            if len(pending) == batch:
                yield from self.embed_batch(pending, channel_order)
                pending = []
        if pending:
            yield from self.embed_batch(pending, channel_order)

    @property
    def placement(self) -> dict:
        """{op name: "cpu" | "gpu"} in force (a hetero engine whose OpenCL device failed shows all "cpu")."""
        return self._core.placement

    @property
    def dim(self) -> int:
        return self._core.dim

    @property
    def output_shape(self) -> tuple:
        """Per image: (D,) for an embedding model, (D, h, w) for a detector's map."""
        return tuple(self._core.output_shape)

    @staticmethod
    def _input_size(size) -> tuple:
        if size is None:
            return (0, 0)
        if (not isinstance(size, (tuple, list)) or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)):
            raise ValueError(f"input_size must be (H, W) positive ints or None, got {size!r}")
        return (int(size[0]), int(size[1]))

    @property
    def input_shape(self) -> tuple:
        return tuple(self._core.input_shape)

    @property
    def info(self) -> dict:
        return {**self._core.info, **self._info_notes}

    def __repr__(self) -> str:
        info = self.info
        return (f"facert.Engine({str(self.path)!r}, arch={info['arch']}, dim={self.dim}, "
                f"input={self.input_shape}, device={self.device}, isa={info['isa']}, threads={info['threads']})")
