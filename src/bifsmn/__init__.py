"""bifsmn: 1-bit keyword spotting (BiFSMNv2) from training to bitwise CPU inference."""

from bifsmn.errors import BifsmnError

__version__ = "0.1.0"
__all__ = ["BifsmnError", "__version__"]
