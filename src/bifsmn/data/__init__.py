"""Speech Commands data: audio data sets, feature archives, download.

>>> from bifsmn.data import SpeechCommands
>>> ds = SpeechCommands("speech_commands_v0.02", num_classes=12)
>>> items = ds.items("validation")   # [Item(path, word, speaker, label, noise), ...]

Names are imported lazily, so that ``import bifsmn.data`` stays as light as the module a caller
actually uses (the download code needs neither numpy's decoders nor torch).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "SpeechCommands": "bifsmn.data.speech_commands",
    "FeatureArchive": "bifsmn.data.archive",
    "AudioSource": "bifsmn.data.archive",
    "is_feature_archive": "bifsmn.data.archive",
    "download_speech_commands": "bifsmn.data.download",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bifsmn.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
