"""facert: a face-embedding inference runtime (SqueezeNet students distilled from big face models).

Images enter facert as HxWx3 uint8 arrays in BGR order, as cv2.imread returns them; every image
entry point takes channel_order="rgb" for RGB arrays (PIL, imageio). The order cannot be told from
the pixels, and a wrong one gives plausible, wrong embeddings.
"""
from .engine import Engine
from .errors import DeviceError, InputError, ModelError
# The face pipeline on top of the engine (detect -> crop/align -> embed -> verify).
from .align import align
from .crop import face_crop
from .detect import Detector, Face, detect
from .faces import FaceRecord, face_embedding, faces
from .verify import NoFaceError, VerifyResult, verify

__version__ = "0.1.0"


def load_model_info(path) -> dict:
    """Validate an sq.bin file completely (checksum included) and describe it, without building kernels."""
    from ._core import load_model_info as _load
    return _load(str(path))


__all__ = ["Engine", "ModelError", "InputError", "DeviceError", "load_model_info", "__version__",
           "detect", "Detector", "Face", "face_crop", "align", "faces", "FaceRecord", "face_embedding",
           "verify", "VerifyResult", "NoFaceError"]
