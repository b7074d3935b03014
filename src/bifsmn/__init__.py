"""bifsmn: 1-bit keyword spotting (BiFSMNv2) from training to bitwise CPU inference."""

from bifsmn.errors import BifsmnError
from bifsmn.lazy import lazy_exports

__version__ = "0.1.0"
__all__ = ["BifsmnError", "Detector", "__version__"]

# lazy: `import bifsmn` stays free of torch
__getattr__, __dir__ = lazy_exports(__name__, {"Detector": "bifsmn.detect"}, globals())
