"""Images vs audio: the same test clips through the archive's images and through the front end.

A model trained on fbank40 images is deployed on audio. The feature archive's testing list and
the official 12-class test archive share clips (``yes/<spk>_nohash_<n>.yes.jpg`` <->
``yes/<spk>_nohash_<n>.wav``; ``unknown/<spk>_nohash_<n>.<word>.jpg`` <->
``_unknown_/<word>_<spk>_nohash_<n>.wav.wav``), so accuracy on both forms of the same clips
measures what deployment costs: JPEG noise in the training images, and the test archive's clips
being zero-padded at the end where the images centre short clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bifsmn.audio import fix_length, load_audio
from bifsmn.data.archive import FeatureArchive
from bifsmn.data.fbank import Fbank40, image_to_input
from bifsmn.data.frontends import check_fbank40, feature_config_from_dict
from bifsmn.data.labels import UNKNOWN, task_of
from bifsmn.deploy import predict_finite, scoring
from bifsmn.errors import BifsmnError
from bifsmn.rates import rate
from bifsmn.train.checkpoint import checkpoint_labels, model_from_checkpoint


@dataclass(frozen=True)
class Pair:
    image: str  # relative to the archive
    wav: Path
    label: int


def paired_clips(archive: FeatureArchive, audio_root: str | Path, split: str = "testing"
                 ) -> list[Pair]:
    """Clips of ``split`` that exist both as an archive image and as a WAV under ``audio_root``."""
    root = Path(audio_root)
    out = []
    for it in archive.items(split):
        folder, name = it.rel.split("/", 1)
        stem = name[:-4]  # <spk>_nohash_<n>.<word>
        if it.speaker is None:
            continue
        base, word = stem.rsplit(".", 1)
        wav = root / folder / f"{base}.wav"
        if folder == "unknown":
            wav = root / UNKNOWN / f"{word}_{base}.wav.wav"
        if wav.is_file():
            out.append(Pair(it.rel, wav, it.label))
    return out


def evaluate_paired(checkpoint: str | Path, archive_root: str | Path, audio_root: str | Path,
                    blocks: tuple[int, ...] = (8,), split: str = "testing",
                    cache_dir: Path | None = None) -> dict:
    """Accuracy of each path on the paired clips' images and on their audio (deployed path)."""
    model, ckpt = model_from_checkpoint(checkpoint)
    fcfg = check_fbank40(feature_config_from_dict(ckpt["features"], str(checkpoint)),
                         f"paired evaluation of {checkpoint}")
    archive = FeatureArchive(archive_root, *task_of(checkpoint_labels(ckpt)))
    pairs = paired_clips(archive, audio_root, split)
    if not pairs:
        raise BifsmnError(f"no clip of the archive's {split} list has a WAV here", audio_root)
    imgs, _ = archive.images(split, cache_dir)
    index = {it.rel: i for i, it in enumerate(archive.items(split))}
    x_img = image_to_input(imgs[[index[p.image] for p in pairs]], fcfg)
    fe = Fbank40(fcfg)
    wave = torch.from_numpy(np.stack([fix_length(load_audio(p.wav)) for p in pairs]))
    x_wav = torch.cat([fe(w) for w in wave.split(256)])
    labels = torch.tensor([p.label for p in pairs])
    out: dict = {"checkpoint": str(checkpoint), "pairs": len(pairs), "split": split}
    scored = scoring(model)  # the deployed arithmetic where the model has one, folded once
    for b in blocks:
        pi = predict_finite(scored, x_img, b, f"the {split} images", checkpoint).argmax(1)
        pa = predict_finite(scored, x_wav, b, f"the {split} audio", checkpoint).argmax(1)
        out[f"images_{b}"] = rate(pi == labels)
        out[f"audio_{b}"] = rate(pa == labels)
        out[f"agree_{b}"] = rate(pi == pa)
    return out
