"""Binarization: named quantizers, quantizable layers, model conversion."""

# the built-in quantizers register themselves on import: list_quantizers() and
# get_quantizer("lpb") work without importing a model or method module first
from bifsmn.binary import quantizers as _quantizers  # noqa: F401
from bifsmn.binary.registry import get_quantizer, list_quantizers, register_quantizer

__all__ = ["get_quantizer", "list_quantizers", "register_quantizer"]
