"""facert's exceptions, raised by the C++ core and by the Python layers alike.

ModelError (a ValueError): the model file is missing pieces, corrupt, hostile or from a newer facert.
InputError (a ValueError): an image or tensor does not have the shape/dtype expected.
DeviceError (a RuntimeError): the requested device, precision or instruction set cannot be used here.
"""
try:
    from ._core import DeviceError, InputError, ModelError
except ImportError:  # a source checkout without the compiled core: the pure-Python parts still import
    class ModelError(ValueError):
        """The model file is missing pieces, corrupt, hostile or from a newer facert."""

    class InputError(ValueError):
        """An image or tensor does not have the shape or dtype the engine expects."""

    class DeviceError(RuntimeError):
        """The requested device or instruction set cannot be used here."""

__all__ = ["ModelError", "InputError", "DeviceError"]
