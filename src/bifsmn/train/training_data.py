"""What a run trains and validates on, loaded from ``data.*``: the training items (int16
waveforms of an audio data set, or uint8 fbank40 images of a feature archive), their labels,
the validation inputs, the augmenter and the front end.

Why its own module: the two kinds of data differ in every step (waveform or feature-domain
augmentation, front end per batch or images decoded once, negatives only from archives), and
each config mistake that would otherwise train the wrong thing for hours is refused here,
before the first epoch, with the data folder named.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, overload

import torch
from torch import nn

from bifsmn.data.archive import AudioSource, FeatureArchive, is_feature_archive
from bifsmn.data.augment import AugmentConfig, Augmenter
from bifsmn.data.cache import load_noises, load_waves
from bifsmn.data.fbank import KIND as FBANK40
from bifsmn.data.fbank import Fbank40Config, image_to_input
from bifsmn.data.feature_augment import FeatureAugmentConfig, FeatureAugmenter
from bifsmn.data.frontends import (
    LOGMEL32,
    AnyFeatureConfig,
    feature_config_for,
    frontend_device,
    make_frontend,
)
from bifsmn.data.labels import UNKNOWN, keywords_of
from bifsmn.data.sources import audio_inputs
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.errors import BifsmnError
from bifsmn.train.config import Config, DataConfig

#: augmentation settings of one kind of data (the others apply to both, or are checked there)
ARCHIVE_ONLY = ("shift_max_frames", "noise_max_gain", "noise_snr_db", "mask_prob", "cut_prob",
                "cut_keep_min", "cut_keep_max")
AUDIO_ONLY = ("noise_max_scale", "amplitude_prob", "speed_prob")
log = logging.getLogger("bifsmn.train")


@dataclass
class TrainingData:
    """One run's data. ``train_waves``: int16 waveforms (audio) or uint8 images (archive), one
    row per training item; ``val_feats``: the validation split as network inputs, computed once.
    ``clean_teacher``: the archive augmenter also returns each batch without its noise, for a
    teacher that sees clean input (``distill.teacher_input=clean``)."""

    archive: bool
    clean_teacher: bool
    ds: Any  # SpeechCommands or FeatureArchive: .labels, the task's class names
    feature_cfg: AnyFeatureConfig
    train_waves: Any  # torch.Tensor, or a list of 1-D int16 tensors
    train_labels: torch.Tensor
    val_feats: torch.Tensor
    val_labels: torch.Tensor
    augment: Any  # Augmenter, FeatureAugmenter or None
    logmel: nn.Module | None = None  # the audio front end (None: archive images)
    fe_device: torch.device | None = None

    def attach(self, target: object) -> None:
        """Set every field as an attribute of ``target`` (the trainer reads them as its own)."""
        for f in fields(self):
            setattr(target, f.name, getattr(self, f.name))


def load_training_data(cfg: Config, device: torch.device, show: bool, main: bool,
                       distilling: bool) -> TrainingData:
    """The data ``cfg.data`` names. ``show``: progress bars while decoding; ``main``: this is
    rank 0, which alone logs warnings; ``distilling``: a teacher objective is in use (its
    ``distill.teacher_input`` matters)."""
    c = cfg.data
    if not c.root:
        raise BifsmnError("no data directory given (data.root / --data)")
    archive = is_feature_archive(c.root)
    d = cfg.distill
    # distill.teacher_input: clean -> the teacher sees each batch without its noise
    clean_teacher = d.kind != "none" and distilling and d.teacher_input == "clean"
    if clean_teacher and not archive:
        raise BifsmnError("distill.teacher_input=clean needs a feature archive (the noise "
                          "is mixed into fbank40 images); audio data sets mix it into "
                          "the waveform", c.root)
    load = _archive_data if archive else _audio_data
    data = load(cfg, device, show, main, clean_teacher)
    if c.unknown_share and UNKNOWN not in data.ds.labels:
        raise BifsmnError("data.unknown_share needs a task with an unknown class (12, 37 "
                          "or data.keywords)")
    if c.keywords:  # a typo ("Marvin") would otherwise train a class no clip has
        seen = set(torch.as_tensor(data.train_labels).unique().tolist())
        missing = [w for w in c.keywords if data.ds.labels.index(w) not in seen]
        if missing:
            cut = f" after data.limit_train={c.limit_train}" if c.limit_train else ""
            raise BifsmnError(f"data.keywords: no clip of {', '.join(missing)} in split "
                              f"'{c.train_split}'{cut} (word folders / archive words are "
                              "case-sensitive)", c.root)
    return data


@overload
def _pooled(cfg: Config, fcfg: Fbank40Config) -> Fbank40Config: ...
@overload
def _pooled(cfg: Config, fcfg: AnyFeatureConfig) -> AnyFeatureConfig: ...
def _pooled(cfg: Config, fcfg: AnyFeatureConfig) -> AnyFeatureConfig:
    """``fcfg`` with ``data.pool`` applied: more network steps per clip for short words,
    at the same input value range (input scale 1 / (32 pool): every setting feeds the
    network the frames' mean / 32, as the default 3 frames x 1/96)."""
    pool = cfg.data.pool
    if not pool:
        return fcfg
    if not isinstance(fcfg, Fbank40Config):
        raise BifsmnError(f"data.pool={pool} needs fbank40 features, not "
                          f"{fcfg.to_dict().get('kind', LOGMEL32)}", cfg.data.root)
    return replace(fcfg, pool=pool, input_scale=1.0 / (32 * pool))


def _subset(cfg: Config, n: int) -> torch.Tensor:
    """``data.limit_train``: that many training items drawn at random (seeded by
    ``train.seed``, kept in list order). The first N of a split are one or two classes (lists
    are sorted by word; negatives come last), which would train a smoke run on one label."""
    g = torch.Generator().manual_seed(cfg.train.seed)
    k = min(cfg.data.limit_train, n)
    return torch.randperm(n, generator=g)[:k].sort().values


def _report_unused(cfg: Config, keys: tuple[str, ...], where: str, main: bool) -> None:
    """One warning naming the ``data.*`` augmentation settings given (not at their
    defaults) that this kind of data does not use: a config written for the other kind
    would otherwise train as if they applied."""
    default = DataConfig()
    given = [k for k in keys if getattr(cfg.data, k) != getattr(default, k)]
    if given and main:
        log.warning("%s apply to %s only: ignored on this data (%s)",
                    ", ".join(f"data.{k}" for k in given), where, cfg.data.root)


def _audio_data(cfg: Config, device: torch.device, show: bool, main: bool,
                clean_teacher: bool) -> TrainingData:
    """Audio data set: int16 waveforms, waveform augmentation, front end per batch."""
    c = cfg.data
    cache = Path(c.cache_dir) if c.cache_dir else None
    kind = LOGMEL32 if c.features == "auto" else c.features
    feature_cfg = _pooled(cfg, feature_config_for(kind))
    if c.negatives:
        raise BifsmnError("data.negatives needs a feature archive as data.root", c.root)
    ds = SpeechCommands(c.root, c.num_classes, c.protocol, cfg.train.seed, keywords=c.keywords)
    waves, labels = load_waves(ds, c.train_split, cache, show)
    if c.limit_train:
        keep = _subset(cfg, len(waves))
        waves, labels = [waves[i] for i in keep] if isinstance(waves, list) \
            else waves[keep], labels[keep]
    if len(waves) == 0:
        raise BifsmnError(f"split '{c.train_split}' is empty", c.root)
    val_feats, val_labels = audio_inputs(ds, c.val_split, feature_cfg, cache, show)
    if len(val_labels) == 0:  # best.pt is chosen on it: no split, no choice
        raise BifsmnError(f"validation split '{c.val_split}' is empty (best.pt is chosen on "
                          "it; give data.val_split or a validation_list.txt)", c.root)
    aug = AugmentConfig(noise_prob=c.noise_prob, noise_max_scale=c.noise_max_scale,
                        amplitude_prob=c.amplitude_prob, speed_prob=c.speed_prob,
                        shift_prob=c.shift_prob)
    noises = load_noises(ds) if c.augment else []  # decoded only to be mixed
    _report_unused(cfg, ARCHIVE_ONLY, "feature archives", main)
    if c.augment and c.noise_prob > 0 and not ds.noise_files and main:
        log.warning("data.noise_prob=%g mixes nothing: %s has no _background_noise_/ files",
                    c.noise_prob, c.root)
    fe_device = frontend_device(feature_cfg, device)
    return TrainingData(archive=False, clean_teacher=clean_teacher, ds=ds,
                        feature_cfg=feature_cfg, train_waves=waves, train_labels=labels,
                        val_feats=val_feats, val_labels=val_labels,
                        augment=Augmenter(aug, noises) if c.augment else None,
                        logmel=make_frontend(feature_cfg).to(fe_device), fe_device=fe_device)


def _archive_data(cfg: Config, device: torch.device, show: bool, main: bool,
                  clean_teacher: bool) -> TrainingData:
    """Feature archive: uint8 images in memory, feature-domain augmentation, negatives from
    audio folders in ``unknown``; validation is the archive's validation list alone."""
    c = cfg.data
    _report_unused(cfg, AUDIO_ONLY, "audio data sets", main)
    cache = Path(c.cache_dir) if c.cache_dir else None
    if c.features not in ("auto", FBANK40):
        raise BifsmnError(f"data.features={c.features!r}, but a feature archive holds "
                          f"{FBANK40} images", c.root)
    ds = FeatureArchive(c.root, c.num_classes, c.keywords)
    feature_cfg = _pooled(cfg, ds.feature_config)
    imgs, labels = ds.images(c.train_split, cache, show)
    if c.negatives:
        if UNKNOWN not in ds.labels:
            raise BifsmnError("data.negatives needs a task with an unknown class (12)")
        unk = ds.labels.index(UNKNOWN)
        parts = [imgs]
        for folder in c.negatives:
            neg = AudioSource(folder, c.negatives_windows, c.jpeg_quality).images(
                c.train_split, feature_cfg, cache, show)
            parts.append(neg)
            labels = torch.cat([labels, torch.full((len(neg),), unk, dtype=torch.long)])
        imgs = torch.cat(parts)
    if c.limit_train:
        keep = _subset(cfg, len(imgs))
        imgs, labels = imgs[keep], labels[keep]
    if len(imgs) == 0:
        raise BifsmnError(f"split '{c.train_split}' is empty", c.root)
    vimg, val_labels = ds.images(c.val_split, cache, show)
    if len(val_labels) == 0:
        raise BifsmnError(f"validation split '{c.val_split}' is empty (best.pt is chosen on "
                          "it)", c.root)
    aug = FeatureAugmentConfig(shift_prob=c.shift_prob, shift_max=c.shift_max_frames,
                               noise_prob=c.noise_prob, noise_max_gain=c.noise_max_gain,
                               noise_snr_db=(float(c.noise_snr_db[0]), float(c.noise_snr_db[1]))
                               if c.noise_snr_db else None,
                               mask_prob=c.mask_prob, cut_prob=c.cut_prob,
                               cut_keep_min=c.cut_keep_min, cut_keep_max=c.cut_keep_max)
    if c.cut_prob > 0 and UNKNOWN not in ds.labels:
        raise BifsmnError("data.cut_prob needs a task with an unknown class (12)")
    words = keywords_of(ds.labels)
    kw_ids = [i for i, lb in enumerate(ds.labels) if lb in words]
    unk_id = ds.labels.index(UNKNOWN) if UNKNOWN in ds.labels else None
    augment = FeatureAugmenter(aug, ds.noise_images("training", cache), feature_cfg, kw_ids,
                               unk_id) if c.augment else None
    return TrainingData(archive=True, clean_teacher=clean_teacher, ds=ds,
                        feature_cfg=feature_cfg, train_waves=imgs, train_labels=labels,
                        val_feats=image_to_input(vimg, feature_cfg), val_labels=val_labels,
                        augment=augment)
