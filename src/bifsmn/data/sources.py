"""Un-augmented model input of a data split, whatever the data's form and the model's front end.

Evaluation, comparison and calibration all need "the features this model sees for split S of
data D". Three cases exist:

* a feature archive (fbank40 images): the images through :func:`image_to_input`; only fbank40
  models can read it;
* audio data and a logmel32 model: the cached 32 x 32 log-mel features (the paper's pipeline);
* audio data and a fbank40 model: the WAV files through the fbank40 front end. This is the
  deployed path (audio in, as the engine and the detector compute it), so a model trained on the
  images is tested here on the same clips' audio.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from bifsmn.data.archive import FeatureArchive, is_feature_archive
from bifsmn.data.cache import load_features, load_waves, waves_to_float
from bifsmn.data.fbank import Fbank40, Fbank40Config, image_to_input
from bifsmn.data.frontends import AnyFeatureConfig, check_fbank40
from bifsmn.data.speech_commands import SpeechCommands


def split_inputs(data: str | Path, split: str | None, feature_cfg: AnyFeatureConfig,
                 num_classes: int = 12, protocol: str = "auto",
                 cache_dir: Path | None = None, progress: bool = False,
                 keywords: Sequence[str] = (), seed: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor, str, str]:
    """``(inputs (N, 1, mel, frames), labels, split, source)`` of a split (of the task of
    ``num_classes``, or of ``keywords`` of one's own: :func:`bifsmn.data.labels.task_of`).

    ``split=None`` picks the data set's default evaluation split (validation where it exists).
    ``seed`` draws the standard protocol's unknown and silence items (training's train.seed).
    ``source`` says what the features came from: ``images`` or ``audio``.
    """
    if is_feature_archive(data):
        fbank_cfg = check_fbank40(feature_cfg, f"the feature archive {data}")
        ds = FeatureArchive(data, num_classes, keywords)
        split = split or "validation"
        imgs, labels = ds.images(split, cache_dir, progress)
        return image_to_input(imgs, fbank_cfg), labels, split, "images"
    ds = SpeechCommands(data, num_classes, protocol, seed, keywords=keywords)
    split = split or ds.default_eval_split()
    feats, labels = audio_inputs(ds, split, feature_cfg, cache_dir, progress)
    return feats, labels, split, "audio"


def audio_inputs(ds: SpeechCommands, split: str, feature_cfg: AnyFeatureConfig,
                 cache_dir: Path | None = None, progress: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Model input of an audio data set's split through ``feature_cfg``'s front end: the
    cached 32 x 32 log-mel, or the decoded (cached) waveforms through fbank40."""
    if isinstance(feature_cfg, Fbank40Config):
        waves, labels = load_waves(ds, split, cache_dir, progress)
        fe = Fbank40(feature_cfg)
        feats = torch.cat([fe(waves_to_float(w)) for w in waves.split(512)]) if len(waves) \
            else torch.zeros(0, 1, feature_cfg.n_mels, feature_cfg.num_frames)
        return feats, labels
    return load_features(ds, split, feature_cfg, cache_dir, progress)
