"""Speech Commands data: audio data sets, feature archives, download.

>>> from bifsmn.data import SpeechCommands
>>> ds = SpeechCommands("speech_commands_v0.02", num_classes=12)
>>> items = ds.items("validation")   # [Item(path, word, speaker, label, noise), ...]

Names are imported lazily, so that ``import bifsmn.data`` stays as light as the module a caller
actually uses (the download code needs neither numpy's decoders nor torch).
"""

from __future__ import annotations

from bifsmn.lazy import lazy_exports

_EXPORTS = {
    "SpeechCommands": "bifsmn.data.speech_commands",
    "FeatureArchive": "bifsmn.data.archive",
    "AudioSource": "bifsmn.data.archive",
    "is_feature_archive": "bifsmn.data.archive",
    "download_speech_commands": "bifsmn.data.download",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
