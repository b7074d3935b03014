"""bifsmn: 1-bit keyword spotting (BiFSMNv2) from training to bitwise CPU inference."""

from bifsmn.errors import BifsmnError

__version__ = "0.1.0"
__all__ = ["BifsmnError", "Detector", "__version__"]


def __getattr__(name: str):
    if name == "Detector":  # lazy: `import bifsmn` stays free of torch
        from bifsmn.detect import Detector

        return Detector
    raise AttributeError(f"module 'bifsmn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
