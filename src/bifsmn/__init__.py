"""bifsmn: 1-bit keyword spotting (BiFSMNv2) from training to bitwise CPU inference.

The first names a user reaches for are here: ``bifsmn.Detector`` (streaming keyword detection),
``bifsmn.Engine`` (the bitwise C++ engine on a ``.bkws`` file), ``bifsmn.create_model`` /
``bifsmn.list_models`` (the model registry, PyTorch) and ``bifsmn.export_checkpoint``.
"""

from importlib.util import find_spec

from bifsmn.errors import BifsmnError
from bifsmn.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {"Detector": "bifsmn.detect", "Engine": "bifsmn.engine",
            "export_checkpoint": "bifsmn.engine", "create_model": "bifsmn.models",
            "list_models": "bifsmn.models"}
#: names that import torch: left out of ``__all__`` on a detection-only install, so that
#: ``from bifsmn import *`` works there (still reachable by attribute, where the error names torch)
_NEEDS_TORCH = {"export_checkpoint", "create_model", "list_models"}


def _installed(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except ImportError:  # an import hook that refuses the name
        return False


__all__ = ["BifsmnError", "__version__",
           *sorted(n for n in _EXPORTS if n not in _NEEDS_TORCH or _installed("torch"))]

# lazy: `import bifsmn` stays free of torch
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
