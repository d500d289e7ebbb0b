"""Errors the converter raises: each message names the checkpoint entry or option that is wrong."""


class ConvertError(ValueError):
    """The checkpoint cannot be turned into an sq.bin (unreadable, unrecognised, bad option)."""


class UnsafeCheckpointError(ConvertError):
    """The checkpoint holds pickled Python objects; loading it could run code from the file."""


class VerificationError(ConvertError):
    """The written sq.bin does not reproduce the PyTorch model within tolerance."""
