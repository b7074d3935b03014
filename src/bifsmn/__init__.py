"""bifsmn: 1-bit keyword spotting (BiFSMNv2) from training to bitwise CPU inference.

The first names a user reaches for are here: ``bifsmn.Detector`` (streaming keyword detection),
``bifsmn.Engine`` (the bitwise C++ engine on a ``.bkws`` file), ``bifsmn.create_model`` /
``bifsmn.list_models`` (the model registry, PyTorch), ``bifsmn.export_checkpoint`` (a ``.bkws``
file for the engine) and ``bifsmn.export_onnx`` (one path as ONNX, docs/onnx.md).
"""

from bifsmn.errors import BifsmnError
from bifsmn.lazy import installed, lazy_exports

__version__ = "0.1.0"

_EXPORTS = {"Detector": "bifsmn.detect", "Engine": "bifsmn.engine",
            "export_checkpoint": "bifsmn.engine", "export_onnx": "bifsmn.engine.onnx_export",
            "create_model": "bifsmn.models",
            "list_models": "bifsmn.models"}
#: names that import torch: left out of ``__all__`` on a detection-only install, so that
#: ``from bifsmn import *`` works there (still reachable by attribute, where the error names torch)
_NEEDS_TORCH = {"export_checkpoint", "export_onnx", "create_model", "list_models"}



__all__ = ["BifsmnError", "__version__",
           *sorted(n for n in _EXPORTS if n not in _NEEDS_TORCH or installed("torch"))]

# lazy: `import bifsmn` stays free of torch
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
