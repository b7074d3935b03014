"""Binarization: named quantizers, quantizable layers, model conversion."""

from bifsmn.binary.registry import get_quantizer, list_quantizers, register_quantizer

__all__ = ["get_quantizer", "list_quantizers", "register_quantizer"]
