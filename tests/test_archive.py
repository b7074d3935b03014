"""Feature archives (fbank40 images), audio sources, feature-domain augmentation, and training
and evaluation on them; all on tiny archives built in a temp dir."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import WORDS, make_full_dataset, tone, write_wav

from bifsmn.data.archive import (
    AudioSource,
    FeatureArchive,
    decode_jpeg,
    hash_split,
    is_feature_archive,
    parse_image_name,
)
from bifsmn.data.fbank import (
    Fbank40Config,
    energy_to_values,
    image_to_input,
    pad_image,
    values_to_energy,
)
from bifsmn.data.feature_augment import FeatureAugmentConfig, FeatureAugmenter
from bifsmn.data.features import FeatureConfig
from bifsmn.data.frontends import (
    FBANK40,
    LOGMEL32,
    check_feature_kind,
    feature_config_from_dict,
    feature_kind,
)
from bifsmn.errors import BifsmnError


def test_parse_image_name():
    assert parse_image_name("yes/0a7c2a8d_nohash_1.yes.jpg") == ("yes", "0a7c2a8d")
    assert parse_image_name("unknown/0a7c2a8d_nohash_0.bed.jpg") == ("bed", "0a7c2a8d")
    assert parse_image_name("_background_noise_/n_3.jpg") == ("_silence_", None)


def test_audio_folder_with_a_list_and_a_picture_is_no_archive(archive_ds):
    """An audio data set with a training list and one stray .jpg (a cover image) is still
    read as audio: it was taken for a feature archive and its clips for images."""
    assert (archive_ds / "training_list.txt").is_file()
    (archive_ds / "docs").mkdir()
    (archive_ds / "docs" / "cover.jpg").write_bytes(b"\xff\xd8\xff not really")
    assert not is_feature_archive(archive_ds)


def test_archive_holding_some_source_clips_stays_an_archive(feature_archive):
    """Decided by what training_list.txt names, not the files beside it: an archive with a
    few of the WAVs its images came from (its README pairs them) is still an archive."""
    word = next(p for p in sorted(feature_archive.iterdir()) if p.is_dir()
                and not p.name.startswith("_"))
    (word / "0badcafe_nohash_0.wav").write_bytes(b"RIFF")
    assert is_feature_archive(feature_archive)


def test_archive_items_labels_and_splits(feature_archive):
    assert is_feature_archive(feature_archive)
    ds = FeatureArchive(feature_archive, 12)
    tr, va, te = (ds.items(s) for s in ("training", "validation", "testing"))
    labels = ds.labels
    # 12 words: 10 commands, unknown words -> _unknown_, noise images -> _silence_
    assert {labels[i.label] for i in tr} == set(labels)
    assert all(labels[i.label] == "_unknown_" for i in tr if i.word in ("bed", "cat"))
    # speaker-disjoint lists; noise images split by hash, never in two splits
    spk = [{i.speaker for i in s if i.speaker} for s in (tr, va, te)]
    assert not (spk[0] & spk[1]) and not (spk[0] & spk[2]) and not (spk[1] & spk[2])
    noise = [{i.rel for i in s if i.speaker is None} for s in (tr, va, te)]
    assert sum(len(n) for n in noise) == 30 and not (noise[0] & noise[1])
    assert all(hash_split(r.split("/")[1]) == "training" for r in noise[0])
    # 35 words: words present, no silence
    ds35 = FeatureArchive(feature_archive, 35)
    words35 = {ds35.labels[i.label] for i in ds35.items("training")}
    assert "bed" in words35 and "_silence_" not in words35 and len(words35) == 12


def test_images_decoded_once_and_cached(feature_archive, tmp_path):
    ds = FeatureArchive(feature_archive, 12)
    cache = tmp_path / "cache"
    imgs, labels = ds.images("validation", cache)
    assert imgs.dtype == torch.uint8 and imgs.shape == (len(ds.items("validation")), 98, 40)
    first = ds.items("validation")[0]
    assert np.array_equal(imgs[0].numpy(), decode_jpeg(feature_archive / first.rel))
    files = list(cache.glob("fbank40-validation-*.npy"))
    assert len(files) == 1
    # a corrupt cache entry is detected and rebuilt
    files[0].write_bytes(b"garbage")
    again, _ = ds.images("validation", cache)
    assert torch.equal(again, imgs)


def test_bad_images_get_one_line_errors(feature_archive, tmp_path):
    from PIL import Image

    rel = (feature_archive / "training_list.txt").read_text().split()[0]
    Image.fromarray(np.zeros((40, 98), np.uint8)).save(feature_archive / rel)
    with pytest.raises(BifsmnError, match=r"expected 98x40"):
        FeatureArchive(feature_archive).images("training", tmp_path / "c1")
    (feature_archive / rel).write_bytes(b"not a jpeg")
    with pytest.raises(BifsmnError, match="cannot decode image") as e:
        FeatureArchive(feature_archive).images("training", tmp_path / "c2")
    assert rel.split("/")[1] in str(e.value)
    with pytest.raises(BifsmnError, match="not a feature archive"):
        FeatureArchive(tmp_path)


def test_value_mapping_is_invertible_on_every_level():
    v = torch.arange(256, dtype=torch.float64)
    assert torch.equal(energy_to_values(values_to_energy(v)), v)


def test_image_to_input_pools_central_frames():
    rng = np.random.default_rng(0)
    img = torch.from_numpy(rng.integers(0, 256, (2, 98, 40)).astype(np.uint8))
    x = image_to_input(img)
    assert x.shape == (2, 1, 40, 32)
    want = img[:, 1:97].double().reshape(2, 32, 3, 40).mean(2).transpose(1, 2) / 32
    assert torch.allclose(x[:, 0].double(), want, atol=1e-6)
    # float input holding the same integers gives the same bits
    assert torch.equal(image_to_input(img.float()), x)


@pytest.mark.parametrize("pool,steps", [(1, 96), (2, 48), (3, 32)])
def test_finer_pools_keep_the_central_frames_and_the_value_range(pool, steps):
    from dataclasses import replace

    rng = np.random.default_rng(pool)
    img = torch.from_numpy(rng.integers(0, 256, (2, 98, 40)).astype(np.uint8))
    cfg = replace(Fbank40Config(), pool=pool, input_scale=1.0 / (32 * pool))
    assert cfg.num_frames == steps and cfg.pool_offset == 1
    x = image_to_input(img, cfg)
    assert x.shape == (2, 1, 40, steps)
    want = img[:, 1:97].double().reshape(2, steps, pool, 40).mean(2).transpose(1, 2) / 32
    assert torch.allclose(x[:, 0].double(), want, atol=1e-6)


def test_pad_image_centres_short_clips():
    img = torch.ones(10, 40)
    out = pad_image(img, 98)
    assert out.shape == (98, 40) and out[44:54].sum() == 400 and out.sum() == 400


def test_feature_augment_is_deterministic_and_each_part_does_its_job():
    rng = np.random.default_rng(1)
    img = torch.from_numpy(rng.integers(30, 200, (8, 98, 40)).astype(np.uint8))
    noise = torch.from_numpy(rng.integers(0, 60, (5, 98, 40)).astype(np.uint8))
    off = FeatureAugmentConfig(shift_prob=0, noise_prob=0, mask_prob=0)
    assert torch.equal(FeatureAugmenter(off, noise)(img, torch.Generator()), img.float())
    aug = FeatureAugmenter(FeatureAugmentConfig(), noise)
    a = aug(img, torch.Generator().manual_seed(3))
    b = aug(img, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, img.float())
    # shift only: rows move, vacated rows are zero (digital silence)
    shift = FeatureAugmenter(FeatureAugmentConfig(shift_prob=1, shift_max=5, noise_prob=0,
                                                  mask_prob=0))
    s = shift(img, torch.Generator().manual_seed(0))
    for i in range(8):
        k = next(k for k in range(-5, 6) if torch.equal(
            s[i, max(k, 0):98 + min(k, 0)], img[i, max(-k, 0):98 - max(k, 0)].float()))
        assert s[i, :max(k, 0)].sum() == 0 and s[i, 98 + min(k, 0):].sum() == 0
    # noise only: adds energy, never removes it (values never drop)
    mix = FeatureAugmenter(FeatureAugmentConfig(shift_prob=0, noise_prob=1, mask_prob=0), noise)
    m = mix(img, torch.Generator().manual_seed(0))
    assert (m >= img.float()).all() and (m > img.float()).any()
    # masks only: masked cells hold the image's mean value
    mask = FeatureAugmenter(FeatureAugmentConfig(shift_prob=0, noise_prob=0, mask_prob=1,
                                                 time_mask_max=20, freq_mask_max=8))
    k = mask(img, torch.Generator().manual_seed(0))
    changed = k != img.float()
    assert changed.any()
    means = img.float().mean((1, 2))
    for i in range(8):
        assert torch.allclose(k[i][changed[i]], means[i].expand(int(changed[i].sum())))


def test_noise_at_a_chosen_snr_sets_the_clip_over_noise_energy():
    rng = np.random.default_rng(2)
    img = torch.from_numpy(rng.integers(60, 160, (16, 98, 40)).astype(np.uint8))
    noise = torch.from_numpy(rng.integers(20, 120, (5, 98, 40)).astype(np.uint8))
    noise[4] = 0  # a silent noise image adds nothing (no division by zero)
    e_clip = values_to_energy(img.float()).sum((1, 2))

    def added(lo: float, hi: float, seed: int = 0) -> torch.Tensor:
        cfg = FeatureAugmentConfig(shift_prob=0, noise_prob=1, mask_prob=0, noise_snr_db=(lo, hi))
        out = FeatureAugmenter(cfg, noise)(img, torch.Generator().manual_seed(seed))
        return values_to_energy(out).sum((1, 2)) - e_clip

    # the generator picks the same noise images in both calls; clips that drew the silent one
    # get nothing, the others get noise at 10 dB (up to the rounding to integer levels)
    which = torch.randint(5, (16,), generator=torch.Generator().manual_seed(0))
    a10 = added(10.0, 10.0)
    silent = which == 4
    assert silent.any() and (~silent).any()
    assert torch.equal(a10[silent], torch.zeros(int(silent.sum())))
    snr = 10 * torch.log10(e_clip[~silent] / a10[~silent])
    assert (snr - 10).abs().max() < 1.0, snr
    # lower SNR, more noise; a range draws SNRs inside it
    a0 = added(0.0, 0.0)
    assert (a0[~silent] > 5 * a10[~silent]).all()
    r = added(0.0, 20.0)
    snr_r = 10 * torch.log10(e_clip[~silent] / r[~silent])
    assert snr_r.min() > -1.0 and snr_r.max() < 21.0 and snr_r.max() - snr_r.min() > 5
    with pytest.raises(ValueError, match="lo <= hi"):
        FeatureAugmenter(FeatureAugmentConfig(noise_snr_db=(20.0, 0.0)), noise)


def test_feature_kinds_round_trip_and_refuse_the_wrong_kind():
    assert feature_kind(feature_config_from_dict(FeatureConfig().to_dict())) == LOGMEL32
    assert feature_kind(feature_config_from_dict({})) == LOGMEL32  # old checkpoints
    fb = feature_config_from_dict(Fbank40Config().to_dict())
    assert fb == Fbank40Config() and feature_kind(fb) == FBANK40
    with pytest.raises(BifsmnError, match="unknown feature kind 'mfcc'"):
        feature_config_from_dict({"kind": "mfcc"}, "m.pt")
    with pytest.raises(BifsmnError, match="model expects logmel32 features but x gives fbank40"):
        check_feature_kind(FeatureConfig(), FBANK40, "x")


def test_audio_source_windows_and_split(tmp_path):
    rng = np.random.default_rng(0)
    for k in range(20):
        write_wav(tmp_path / "neg" / "a" / f"{k}.wav", tone("bed", rng, seconds=2.5))
    write_wav(tmp_path / "neg" / "short.wav", tone("cat", rng, seconds=0.5))
    src = AudioSource(tmp_path / "neg", windows=3, jpeg_quality=0)
    parts = {s: set(src.split_files(s)) for s in ("training", "validation", "testing")}
    assert sum(len(p) for p in parts.values()) == 21
    assert not (parts["training"] & parts["validation"])
    imgs = src.images("training", cache_dir=tmp_path / "c")
    n_long = len([p for p in parts["training"] if p.name != "short.wav"])
    n_short = int(any(p.name == "short.wav" for p in parts["training"]))
    assert imgs.shape == (3 * n_long + n_short, 98, 40) and imgs.dtype == torch.uint8
    # JPEG round trip changes values a little, as the archive's compression does
    jp = AudioSource(tmp_path / "neg", windows=3, jpeg_quality=75).images(
        "training", cache_dir=tmp_path / "c")
    diff = (jp.float() - imgs.float()).abs()
    assert 0 < diff.mean() < 8
    with pytest.raises(BifsmnError, match="no audio files"):
        AudioSource(tmp_path / "c")


def _tiny_cfg(root: Path, cache: Path, **data) -> dict:
    return {
        "model": {"name": "dfsmn_teacher", "kwargs": {"dropout": 0.0, "n_mels": 40,
                                                       "frames": 32}},
        "data": {"root": str(root), "batch_size": 16, "cache_dir": str(cache), **data},
        "optim": {"name": "adam", "lr": 3e-3, "weight_decay": 0.0},
        "train": {"epochs": 3, "seed": 0, "threads": 1, "plot_every": 0},
    }


def test_train_on_archive_with_negatives_then_evaluate_images_and_audio(
        feature_archive, tmp_path):
    from bifsmn.evaluate import evaluate_checkpoint
    from bifsmn.train.checkpoint import load_checkpoint
    from bifsmn.train.config import config_from_dict
    from bifsmn.train.trainer import Trainer

    rng = np.random.default_rng(2)
    for k in range(30):
        write_wav(tmp_path / "neg" / f"{k}.flac", tone("cat", rng, seconds=2.0))
    cfg = config_from_dict(_tiny_cfg(feature_archive, tmp_path / "cache",
                                     negatives=[str(tmp_path / "neg")], jpeg_quality=0))
    tr = Trainer(cfg, tmp_path / "run", progress=False)
    summary = tr.fit()
    n_neg = len(AudioSource(tmp_path / "neg").split_files("training"))
    n_img = len(FeatureArchive(feature_archive).items("training"))
    assert len(tr.train_labels) == n_img + 3 * n_neg
    assert (tr.train_labels[n_img:] == 0).all()  # negatives are _unknown_
    assert summary["best_val_acc"] > 0.3
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    assert ckpt["features"]["kind"] == FBANK40
    m = evaluate_checkpoint(tmp_path / "run" / "best.pt", feature_archive, "testing",
                            cache_dir=tmp_path / "cache", progress=False)
    assert m["source"] == "images" and m["count"] == len(FeatureArchive(
        feature_archive).items("testing"))
    # the same checkpoint on an audio folder goes through the fbank40 front end
    for w in WORDS[:10]:
        write_wav(tmp_path / "audio" / w / "00000000_nohash_0.wav", tone(w, rng))
    (tmp_path / "audio" / "validation_list.txt").write_text(
        "\n".join(f"{w}/00000000_nohash_0.wav" for w in WORDS[:10]) + "\n")
    m = evaluate_checkpoint(tmp_path / "run" / "best.pt", tmp_path / "audio", "validation",
                            cache_dir=tmp_path / "cache", progress=False)
    assert m["source"] == "audio" and m["count"] == 10 + 1  # + reference-protocol silence


def test_logmel_model_refuses_a_feature_archive(feature_archive, tmp_path, full_ds):
    from bifsmn.evaluate import evaluate_checkpoint
    from bifsmn.train.config import config_from_dict
    from bifsmn.train.trainer import Trainer

    cfg = _tiny_cfg(full_ds, tmp_path / "cache")
    cfg["model"]["kwargs"] = {"dropout": 0.0}
    cfg["train"]["epochs"] = 1
    Trainer(config_from_dict(cfg), tmp_path / "run", progress=False).fit()
    with pytest.raises(BifsmnError, match="model expects logmel32 features"):
        evaluate_checkpoint(tmp_path / "run" / "best.pt", feature_archive, progress=False)
    bad = config_from_dict(_tiny_cfg(feature_archive, tmp_path / "cache", features="logmel32"))
    with pytest.raises(BifsmnError, match="holds fbank40 images"):
        Trainer(bad, tmp_path / "run2", progress=False).fit()


def test_train_and_evaluate_at_a_finer_pool(feature_archive, tmp_path, full_ds):
    from bifsmn.evaluate import evaluate_checkpoint
    from bifsmn.train.checkpoint import load_checkpoint
    from bifsmn.train.config import config_from_dict
    from bifsmn.train.trainer import Trainer

    raw = _tiny_cfg(feature_archive, tmp_path / "cache", pool=2)
    raw["model"]["kwargs"]["frames"] = 48
    raw["train"]["epochs"] = 1
    tr = Trainer(config_from_dict(raw), tmp_path / "run", progress=False)
    tr.fit()
    assert tr.val_feats.shape[1:] == (1, 40, 48)
    feats = load_checkpoint(tmp_path / "run" / "best.pt")["features"]
    assert feats["pool"] == 2 and feats["input_scale"] == 1 / 64
    # evaluation feeds the archive's images through the checkpoint's pool, not the default
    m = evaluate_checkpoint(tmp_path / "run" / "best.pt", feature_archive, "testing",
                            cache_dir=tmp_path / "cache", progress=False)
    assert m["count"] == len(FeatureArchive(feature_archive).items("testing"))
    # a 32-step student cannot distil from this 48-step teacher (they read one batch)
    from bifsmn.distill.objective import make_distill_objective

    student = dict(raw, model={"name": "dfsmn_thinnable", "kwargs": {"n_mels": 40,
                                                                      "frames": 32}},
                   binary={"method": "bifsmnv2"}, data=dict(raw["data"], pool=0),
                   distill={"kind": "fid", "teacher": str(tmp_path / "run" / "best.pt")})
    with pytest.raises(BifsmnError, match="teacher reads 48 time steps per clip, the student 32"):
        Trainer(config_from_dict(student), tmp_path / "s", progress=False,
                objective_factory=make_distill_objective).fit()
    raw["model"]["kwargs"]["frames"] = 32
    with pytest.raises(BifsmnError, match=r"frames=32, but the features give 48"):
        Trainer(config_from_dict(raw), tmp_path / "run2", progress=False).fit()
    raw = _tiny_cfg(full_ds, tmp_path / "cache", pool=1)
    raw["model"]["kwargs"] = {"dropout": 0.0}
    with pytest.raises(BifsmnError, match="data.pool=1 needs fbank40 features, not logmel32"):
        Trainer(config_from_dict(raw), tmp_path / "run3", progress=False).fit()
    # a pool outside 0-3 fails when the config is read, before any data is loaded
    for bad in (4, -1):
        raw = _tiny_cfg(feature_archive, tmp_path / "cache", pool=bad)
        with pytest.raises(BifsmnError, match=rf"data.pool must be 0 .*1, 2 or 3.*got {bad}"):
            config_from_dict(raw)


def test_paired_images_and_audio(feature_archive, tmp_path, capsys):
    from bifsmn.cli import main
    from bifsmn.paired import evaluate_paired, paired_clips
    from bifsmn.train.config import config_from_dict
    from bifsmn.train.trainer import Trainer

    cfg = _tiny_cfg(feature_archive, tmp_path / "cache")
    cfg["train"]["epochs"] = 1
    Trainer(config_from_dict(cfg), tmp_path / "run", progress=False).fit()
    rng = np.random.default_rng(0)
    archive = FeatureArchive(feature_archive)
    for it in archive.items("testing")[::2]:  # half of the clips also exist as audio
        if it.speaker is None:
            continue
        base = it.rel.split("/")[1][:-4].rsplit(".", 1)[0]
        rel = (f"_unknown_/{it.word}_{base}.wav.wav" if it.rel.startswith("unknown/")
               else f"{it.word}/{base}.wav")
        write_wav(tmp_path / "audio" / rel, tone(it.word, rng))
    pairs = paired_clips(archive, tmp_path / "audio")
    n_audio = len(list((tmp_path / "audio").rglob("*.wav")))
    assert len(pairs) == n_audio > 0
    assert any(p.wav.name.endswith(".wav.wav") for p in pairs)
    m = evaluate_paired(tmp_path / "run" / "best.pt", feature_archive, tmp_path / "audio",
                        (8,), cache_dir=tmp_path / "cache")
    assert m["pairs"] == n_audio and 0 <= m["images_8"] <= 1 and 0 <= m["agree_8"] <= 1
    assert main(["eval-paired", "--checkpoint", str(tmp_path / "run" / "best.pt"), "--archive",
                 str(feature_archive), "--audio", str(tmp_path / "audio")]) == 0
    assert f"{n_audio} testing clips as images and as audio" in capsys.readouterr().out
    assert main(["eval-paired", "--checkpoint", str(tmp_path / "run" / "best.pt"), "--archive",
                 str(feature_archive), "--audio", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bifsmn: error:") and "\n" not in err, err
    assert str(tmp_path) in err and "has a WAV here" in err, err


def test_scale_table_rows_and_files(feature_archive, tmp_path, capsys):
    from bifsmn.cli import main
    from bifsmn.train.config import config_from_dict
    from bifsmn.train.trainer import Trainer

    cfg = _tiny_cfg(feature_archive, tmp_path / "cache")
    cfg["train"]["epochs"] = 1
    Trainer(config_from_dict(cfg), tmp_path / "run", progress=False).fit()
    rng = np.random.default_rng(5)
    for k in range(40):
        write_wav(tmp_path / "neg" / f"{k}.wav", tone("cat", rng, seconds=1.5))
    out = tmp_path / "table"
    best = tmp_path / "run" / "best.pt"
    assert main(["scale-table", "--model", f"t={best}", "--model", f"u={best}", "--archive",
                 str(feature_archive), "--negatives", str(tmp_path / "neg"), "--out",
                 str(out)]) == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "| t | 8 |" in text and "| u | 8 |" in text and (out / "table.csv").is_file()
    progress = [ln for ln in captured.err.splitlines() if ln.startswith("model ")]
    assert progress[0] == f"model 1/2: t ({best})", progress
    assert progress[1].startswith(f"model 2/2: u ({best}), ETA "), progress
    import json

    row = json.loads((out / "table.json").read_text())[0]
    n_test = len(AudioSource(tmp_path / "neg").split_files("testing"))
    assert row["negative_windows"] == 3 * n_test
    assert 0 <= row["negative_keyword_rate"] <= 1 and 0 <= row["testing_acc"] <= 1
    # a bad second spec fails before the first model is evaluated
    assert main(["scale-table", "--model", f"t={best}", "--model", "nonsense", "--archive",
                 str(feature_archive)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bifsmn: error:") and "\n" not in err, err
    assert "--model must be NAME=CHECKPOINT, got 'nonsense'" in err, err
    # one name twice (two rows nobody can tell apart) and a missing checkpoint: refused up front
    for specs, words in [([f"t={best}", f"t={best}"], "'t' is given twice"),
                         ([f"t={best}", f"u={tmp_path / 'nope.pt'}"], "does not exist"),
                         ([f"={best}"], "NAME=CHECKPOINT")]:
        args = [a for sp in specs for a in ("--model", sp)]
        assert main(["scale-table", *args, "--archive", str(feature_archive)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and words in err, err
    # an audio folder as --archive: one line (it gave NaN columns, or a reshape traceback)
    audio = make_full_dataset(tmp_path / "audio")
    assert main(["scale-table", "--model", f"t={best}", "--archive", str(audio), "--out",
                 str(tmp_path / "t2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not a feature archive" in err and str(audio) in err, err
    assert not (tmp_path / "t2" / "table.json").exists()


def test_audio_data_set_with_the_fbank40_front_end(full_ds, tmp_path):
    from bifsmn.train.checkpoint import load_checkpoint
    from bifsmn.train.config import config_from_dict
    from bifsmn.train.trainer import Trainer

    cfg = _tiny_cfg(full_ds, tmp_path / "cache", features="fbank40")
    cfg["train"]["epochs"] = 1
    tr = Trainer(config_from_dict(cfg), tmp_path / "run", progress=False)
    tr.fit()
    assert tr.val_feats.shape[1:] == (1, 40, 32) and len(tr.val_feats) == len(tr.val_labels)
    assert load_checkpoint(tmp_path / "run" / "best.pt")["features"]["kind"] == FBANK40


def test_cut_keywords_keeps_only_part_of_the_word_and_relabels_unknown():
    """Issue 13 item 3: a share of keyword images is shifted until only cut_keep_min ..
    cut_keep_max of the word's energy (above the clip's floor) stays, labelled unknown."""
    b, t, m = 64, 98, 40
    img = torch.full((b, t, m), 20.0)  # quiet floor
    starts = torch.randint(10, 50, (b,), generator=torch.Generator().manual_seed(0))
    for i in range(b):
        img[i, starts[i]:starts[i] + 40] = 150.0  # a 0.4-s "word"
    labels = torch.tensor([2 + i % 10 for i in range(b - 8)] + [0] * 4 + [1] * 4)  # kw, unk, sil
    cfg = FeatureAugmentConfig(cut_prob=1.0, cut_keep_min=0.1, cut_keep_max=0.4)
    aug = FeatureAugmenter(cfg, keyword_labels=range(2, 12), unknown_label=0)
    out, lab = aug.cut_keywords(img.to(torch.uint8), labels, torch.Generator().manual_seed(1))
    assert out.dtype == torch.uint8 and out.shape == img.shape
    assert (lab[: b - 8] == 0).all() and torch.equal(lab[b - 8:], labels[b - 8:])
    assert torch.equal(out[b - 8:], img[b - 8:].to(torch.uint8))  # non-keywords untouched
    e_in = (values_to_energy(img.float()).sum(2) - values_to_energy(torch.tensor(20.0)) * m)
    e_out = values_to_energy(out.float()).sum(2)
    floor = values_to_energy(torch.tensor(20.0)) * m
    for i in range(b - 8):
        word_left = ((e_out[i] - floor).clamp(min=0) > 0.5 * e_in[i].max()).sum().item()
        assert 0.05 * 40 <= word_left <= 0.4 * 40, (i, word_left)  # a part, never all or none
    # off (default): identity, no random draw
    gen = torch.Generator().manual_seed(5)
    state = gen.get_state()
    same, lab2 = FeatureAugmenter(FeatureAugmentConfig()).cut_keywords(img, labels, gen)
    assert same is img and lab2 is labels and torch.equal(gen.get_state(), state)
    with pytest.raises(ValueError, match="cut_prob"):
        FeatureAugmenter(cfg)
    # half the keywords at cut_prob 0.5 (binomial: 56 keywords, well within 15..41)
    half = FeatureAugmenter(FeatureAugmentConfig(cut_prob=0.5), keyword_labels=range(2, 12),
                            unknown_label=0)
    _, lab3 = half.cut_keywords(img, labels, torch.Generator().manual_seed(2))
    assert 15 <= int((lab3[: b - 8] == 0).sum()) <= 41


def test_train_on_archive_with_cut_keywords(feature_archive, tmp_path):
    from bifsmn.train.config import config_from_dict
    from bifsmn.train.trainer import Trainer

    raw = _tiny_cfg(feature_archive, tmp_path / "cache", cut_prob=0.3, noise_snr_db=[0, 20])
    raw["train"]["epochs"] = 1
    tr = Trainer(config_from_dict(raw), tmp_path / "run", progress=False)
    tr.fit()
    assert tr.augment.cfg.cut_prob == 0.3 and tr.augment.unknown_label == 0
    assert tr.augment.cfg.noise_snr_db == (0.0, 20.0)
    kw = torch.nonzero(tr.train_labels >= 2).flatten()[:16]  # keyword items only
    _, y = tr._prepare(kw, 0, torch.Generator().manual_seed(0))
    assert y.shape == (16,) and 0 < int((y == 0).sum()) < 16  # some relabelled unknown
    with pytest.raises(BifsmnError, match="cut_keep_min"):
        config_from_dict(_tiny_cfg(feature_archive, tmp_path / "c", cut_keep_min=0.5,
                                   cut_keep_max=0.2))
    for bad in ([20, 0], [5], [0, "x"]):
        with pytest.raises(BifsmnError, match=r"data\.noise_snr_db.* must be"):
            config_from_dict(_tiny_cfg(feature_archive, tmp_path / "c", noise_snr_db=bad))


def test_student_init_keeps_its_quantizer_parameters(feature_archive, tmp_path):
    """Fine-tuning a binary student (model.init = the student) restores its learned
    quantizer alpha/threshold, which exist only after binarization; an FP init is unchanged."""
    from bifsmn.train.checkpoint import save_checkpoint
    from bifsmn.train.config import config_from_dict
    from bifsmn.train.trainer import Trainer

    TINY = {"hidden": 64, "dim": 32}  # noqa: N806

    def trainer(init: str) -> Trainer:
        raw = _tiny_cfg(feature_archive, tmp_path / "cache")
        raw["model"] = {"name": "dfsmn_thinnable", "init": init,
                        "kwargs": {"n_mels": 40, "frames": 32, **TINY}}
        raw["binary"] = {"method": "bifsmnv2"}
        tr = Trainer(config_from_dict(raw), tmp_path / "run", progress=False)
        return tr

    from bifsmn.models import create_model

    fp = create_model("dfsmn_thinnable", num_classes=12, n_mels=40, frames=32, **TINY)
    from bifsmn.train.checkpoint import FORMAT, VERSION

    def ck(sd: dict) -> dict:
        return {"format": FORMAT, "version": VERSION, "model": {}, "state_dict": sd}

    save_checkpoint(tmp_path / "fp.pt", ck(fp.state_dict()))
    tr = trainer(str(tmp_path / "fp.pt"))
    tr._model()
    sd = tr.model.state_dict()
    q = [k for k in sd if k.endswith("quantizer.alpha")]
    assert q
    student = {k: (v + 0.125 if k in q else v) for k, v in sd.items()}
    save_checkpoint(tmp_path / "st.pt", ck(student))
    tr2 = trainer(str(tmp_path / "st.pt"))
    tr2._model()
    got = tr2.model.state_dict()
    assert all(torch.equal(got[k], student[k]) for k in q)
    assert all(torch.equal(got[k], sd[k]) for k in sd if k not in q)


def test_feature_augment_clean_copy_has_the_same_shifts_and_masks_but_no_noise():
    """``return_clean`` (distill.teacher_input=clean): same random draws as without it, the
    clean copy differs from the noisy batch only where noise was mixed in."""
    rng = np.random.default_rng(4)
    img = torch.from_numpy(rng.integers(30, 200, (16, 98, 40)).astype(np.uint8))
    noise = torch.from_numpy(rng.integers(100, 160, (5, 98, 40)).astype(np.uint8))
    aug = FeatureAugmenter(FeatureAugmentConfig(noise_snr_db=(0.0, 10.0), mask_prob=1,
                                                time_mask_max=20), noise)
    plain = aug(img, torch.Generator().manual_seed(5))
    noisy, clean = aug(img, torch.Generator().manual_seed(5), return_clean=True)
    assert torch.equal(plain, noisy)
    # clips the noise coin skipped are equal (up to the energy round trip); the others differ
    differs = (noisy - clean).abs().amax((1, 2)) > 0.5
    assert 0 < int(differs.sum()) < 16
    # masks are drawn last: the same seed without masks gives both copies before masking
    unmasked = FeatureAugmenter(FeatureAugmentConfig(noise_snr_db=(0.0, 10.0), mask_prob=0),
                                noise)
    n0, c0 = unmasked(img, torch.Generator().manual_seed(5), return_clean=True)
    masked_n, masked_c = noisy != n0, clean != c0
    assert torch.equal(masked_n, masked_c) and masked_n.any()
    for i in range(16):  # each copy's masked cells hold its own mean before masking
        assert torch.allclose(clean[i][masked_c[i]], c0[i].mean())
    # without masks or shifts the clean copy is the input itself
    bare = FeatureAugmenter(FeatureAugmentConfig(shift_prob=0, mask_prob=0,
                                                 noise_snr_db=(0.0, 10.0)), noise)
    n2, c2 = bare(img, torch.Generator().manual_seed(6), return_clean=True)
    assert torch.equal(c2, img.float()) and not torch.equal(n2, c2)


def test_distill_from_a_clean_teacher_input(feature_archive, full_ds, tmp_path):
    """distill.teacher_input=clean: the teacher gets the batch without its noise, the student
    the noisy batch; the run trains; bad values and audio data sets are one-line errors."""
    from bifsmn.train.config import config_from_dict
    from bifsmn.train.runner import run_training
    from bifsmn.train.trainer import Trainer

    raw = _tiny_cfg(feature_archive, tmp_path / "cache", noise_snr_db=[0, 10], noise_prob=1.0)
    raw["train"]["epochs"] = 1
    run_training(config_from_dict(raw), tmp_path / "teacher", progress=False)
    student = dict(raw, model={"name": "dfsmn_thinnable", "kwargs": {"n_mels": 40,
                                                                      "frames": 32}},
                   binary={"method": "bifsmnv2"},
                   distill={"kind": "fid", "teacher": str(tmp_path / "teacher" / "best.pt"),
                            "teacher_input": "clean"})
    student["train"] = dict(raw["train"], blocks=[8, 2], path_weights=[1.0, 0.25])
    summary = run_training(config_from_dict(student), tmp_path / "student", progress=False)
    assert 0.0 <= summary["best_val_acc"] <= 1.0
    from bifsmn.distill.objective import make_distill_objective
    tr = Trainer(config_from_dict(student), tmp_path / "s2", progress=False,
                 objective_factory=make_distill_objective)
    tr._data()
    assert tr.clean_teacher
    (xs, xt), y = tr._prepare(torch.arange(16), 0, torch.Generator().manual_seed(0))
    assert xs.shape == xt.shape and y.shape == (16,) and not torch.equal(xs, xt)
    with pytest.raises(BifsmnError, match=r"distill\.teacher_input"):
        config_from_dict(dict(student, distill=dict(student["distill"], teacher_input="x")))
    audio = dict(student, data=dict(student["data"], root=str(full_ds)),
                 model={"name": "dfsmn_thinnable", "kwargs": {}})
    tr = Trainer(config_from_dict(audio), tmp_path / "s3", progress=False,
                 objective_factory=make_distill_objective)
    with pytest.raises(BifsmnError, match="needs a feature archive"):
        tr._data()


def test_image_cache_key_does_not_depend_on_how_the_path_is_spelled(feature_archive, tmp_path,
                                                                      monkeypatch):
    monkeypatch.chdir(feature_archive.parent)
    names = set()
    for root in (feature_archive, f"./{feature_archive.name}/", feature_archive.name):
        FeatureArchive(root).images("validation", tmp_path / "c")
        names |= {p.name for p in (tmp_path / "c").glob("fbank40-*.npy")}
    assert len(names) == 1


def test_fbank40_front_end_runs_on_the_cpu_beside_an_mps_model():
    """MPS has no float64 and fbank40 computes in float64 (its images equal the archive's and
    the engine's): there the front end stays on the CPU; log-mel and other devices follow the
    model. Constructing the device objects needs no such hardware."""
    from bifsmn.data.feature_configs import Fbank40Config, FeatureConfig
    from bifsmn.data.frontends import frontend_device

    mps, cuda = torch.device("mps"), torch.device("cuda", 1)
    assert frontend_device(Fbank40Config(), mps) == torch.device("cpu")
    assert frontend_device(FeatureConfig(), mps) == mps
    assert frontend_device(Fbank40Config(), cuda) == cuda
    assert frontend_device(Fbank40Config(), torch.device("cpu")) == torch.device("cpu")
