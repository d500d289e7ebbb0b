"""PyTorch checkpoint -> sq.bin converter (see docs/format.md). Needs torch (pip install torch==2.13.0)."""
from .api import ConvertReport, convert_checkpoint, from_module
from .errors import ConvertError, UnsafeCheckpointError, VerificationError

__all__ = ["convert_checkpoint", "from_module", "ConvertReport", "ConvertError", "UnsafeCheckpointError",
           "VerificationError"]
