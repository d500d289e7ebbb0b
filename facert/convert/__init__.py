"""PyTorch checkpoint -> sq.bin converter (see docs/format.md). Needs torch (pip install torch)."""
from .api import ConvertReport, convert_checkpoint
from .errors import ConvertError, UnsafeCheckpointError, VerificationError

__all__ = ["convert_checkpoint", "ConvertReport", "ConvertError", "UnsafeCheckpointError", "VerificationError"]
