"""Calibration streams built from an fbank40 feature archive (bifsmn.detect.feature_streams).

The streams must hold exactly the archive's rows where clips were placed and digital silence
elsewhere, keep the clip sequence across SNRs, mix noise at the stated SNR in the energy domain,
and be scored exactly as the audio streamer scores the same rows; calibration counts them with
the audio streams.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import make_feature_archive, make_full_dataset

from bifsmn.data.fbank import Fbank40, Fbank40Config
from bifsmn.detect.calibrate import calibrate
from bifsmn.detect.evaluate import NEGATIVE, stream_posteriors
from bifsmn.detect.feature_streams import (
    FEATURE_FLOOR_DB,
    ArchiveClips,
    FeatureStream,
    build_feature_stream,
    energy_to_values,
    feature_gate,
    feature_posteriors,
    values_to_energy,
)
from bifsmn.detect.gate import Gate
from bifsmn.detect.scorer import EngineScorer
from bifsmn.engine import export_checkpoint
from bifsmn.engine.testing import make_checkpoint
from bifsmn.errors import BifsmnError

CFG = Fbank40Config()
SR = 16000


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("feature_streams")
    archive = make_feature_archive(root / "fbank40", per_word=4)
    data = make_full_dataset(root / "sc", per_word=3)
    ckpt = make_checkpoint(root / "m.pt", "bifsmnv2", seed=7, features=CFG.to_dict(),
                           n_mels=40, frames=32)
    bkws = export_checkpoint(ckpt, root / "m.bkws")
    return root, archive, data, bkws


def _row(seg_time: float) -> int:
    return round(seg_time * SR / CFG.hop_length)


def test_clean_stream_holds_the_images_between_silent_pauses(world):
    _, archive, _, _ = world
    clips = ArchiveClips.load(archive, "validation")
    assert len(clips.words) == 12 and "_silence_" not in clips.words  # noise images left out
    st = build_feature_stream(clips, 1.0, seed=3)
    assert st.samples <= 60 * SR and st.hours == pytest.approx(st.samples / SR / 3600)
    covered = np.zeros(len(st.rows), bool)
    images = dict(zip(clips.names, clips.images, strict=True))
    for seg in st.segments:
        r0 = _row(seg.start)
        n = images[seg.source].shape[0]
        assert seg.end == pytest.approx(((r0 + n - 1) * CFG.hop_length + CFG.frame_length) / SR)
        np.testing.assert_array_equal(st.rows[r0:r0 + n], images[seg.source])
        covered[r0:r0 + n] = True
        word = clips.words[clips.names.index(seg.source)]
        assert seg.label == (word if word in ("yes", "no", "up", "down", "left", "right", "on",
                                             "off", "stop", "go") else "_unknown_")
    assert not st.rows[~covered].any()  # pauses are digital silence
    gaps = np.diff([s.start for s in st.segments])
    assert gaps.min() >= (98 + 50 - 1) / 100 - 1e-9 and gaps.max() <= (98 + 200 + 1) / 100
    assert {s.label for s in st.segments} & {"yes", "no", "up", "down", "go"}


def test_negatives_and_noise_keep_the_clip_sequence_and_set_the_snr(world):
    _, archive, _, _ = world
    clips = ArchiveClips.load(archive, "validation")
    rng = np.random.default_rng(0)
    negs = {f"n{i}.wav": rng.uniform(1e3, 1e5, (150, 40)) for i in range(3)}
    noise = [np.full((500, 40), 7.0)]  # stationary: each row's band sum is the same
    clean = build_feature_stream(clips, 1.0, seed=5, negatives=negs)
    noisy = build_feature_stream(clips, 1.0, 0.0, seed=5, negatives=negs, noises=noise)
    assert [(s.label, s.start, s.source) for s in clean.segments] == \
        [(s.label, s.start, s.source) for s in noisy.segments]
    assert any(s.label == NEGATIVE for s in clean.segments)
    for s in clean.segments:  # negatives' rows are their energies through the front end
        if s.label == NEGATIVE:
            r0 = _row(s.start)
            np.testing.assert_array_equal(clean.rows[r0:r0 + 150],
                                          energy_to_values(negs[s.source], CFG))
    assert noisy.snr_db == 0.0 and math.isinf(clean.snr_db)
    # every clip scaled to the mean clip level P; the noise at P / 10^(0/10) = P everywhere
    energies = [values_to_energy(clips.images[clips.names.index(s.source)], CFG)
                if s.label != NEGATIVE else negs[s.source] for s in noisy.segments]
    level = np.mean([e.sum(axis=1).mean() for e in energies])
    pause = np.ones(len(noisy.rows), bool)
    for s in noisy.segments:
        pause[_row(s.start):_row(s.start) + len(energies[0])] = False
        pause[_row(s.start):_row(s.start) + 150] = False
    got = values_to_energy(noisy.rows[pause], CFG).sum(axis=1)
    assert np.median(got) == pytest.approx(level, rel=0.05)  # value rounding: +-5 %
    assert build_feature_stream(clips, 1.0, 10.0, seed=5).snr_db == math.inf  # no noise given


def test_feature_gate_is_the_audio_gates_twin():
    g = Gate(band_contrast_db=12.0)
    loud = np.zeros((98, 40), np.float32)
    loud[30:60] = 120.0  # a word between silences
    flat = np.full((98, 40), 120.0, np.float32)  # a stationary level: no contrast
    quiet = np.zeros((98, 40), np.float32)
    quiet[30:60] = 1.0  # audible to no one: below the floor
    assert 10 * np.log10(values_to_energy(quiet[40], CFG).sum()) < FEATURE_FLOOR_DB
    w = np.stack([loud, flat, quiet, np.zeros((98, 40), np.float32), loud])
    lead = np.array([0, 0, 0, 0, 60])  # the last: 60 of 98 rows before the stream start
    np.testing.assert_array_equal(feature_gate(w, lead, g, CFG),
                                  [True, False, False, False, False])
    assert feature_gate(w, lead, None, CFG).all()
    only_lead = Gate(floor_db=None, contrast_db=None)
    np.testing.assert_array_equal(feature_gate(w, lead, only_lead, CFG),
                                  [True, True, True, True, False])


def chirp_stream(seconds: int, seed: int, f0: float, gate_freq: float, on: float
                 ) -> tuple[np.ndarray, FeatureStream]:
    """Gated chirps in faint noise, and the same audio as a stream of its exact fbank40 rows."""
    rng = np.random.default_rng(seed)
    t = np.arange(seconds * SR) / SR
    audio = (0.25 * np.sin(2 * np.pi * f0 * t * (1 + 0.1 * t)) * (np.sin(gate_freq * t) > on)
             + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    rows = Fbank40(CFG).image(torch.from_numpy(audio))[0].numpy()
    return audio, FeatureStream(rows, [], CFG)


def test_feature_posteriors_equal_the_audio_streamer_on_the_same_rows(world):
    *_, bkws = world
    audio, fs = chirp_stream(7, 1, 440.0, 3.0, 0.0)
    rows = fs.rows
    assert fs.samples == (len(rows) - 1) * 160 + 480 <= len(audio)
    scorer = EngineScorer(bkws, 8)
    gate = Gate(floor_db=None, contrast_db=None)  # the start-padding rule, exact in both
    post, _, scored, _ = feature_posteriors(scorer, fs, 1600, gate)
    ref, _ = stream_posteriors(scorer, audio, 1600, gate=gate)
    n = len(post)
    np.testing.assert_array_equal(post.ends, ref.ends[:n])
    # windows reaching before the stream start differ by the two frames that straddle it (zero
    # rows here, part audio there); every window inside the stream is bit-identical
    inside = post.ends >= SR
    np.testing.assert_array_equal(post.probs[inside], ref.probs[:n][inside])
    early = post.ends < SR // 2  # over half padding: not scored in either
    np.testing.assert_array_equal(post.probs[early], ref.probs[:n][early])
    assert 0 < scored < 1  # the first windows are mostly padding
    with pytest.raises(BifsmnError, match="multiple of 160"):
        feature_posteriors(scorer, fs, 1000, gate)


def test_calibrate_counts_archive_streams_with_the_audio_streams(world):
    root, archive, data, bkws = world
    lines: list[str] = []
    ops = calibrate(bkws, data, minutes=0.5, snrs=[math.inf, 20.0], split="training",
                    streams=1, write=False, archive=archive, log=lines.append)
    d = ops["data"]
    assert d["archive_streams_per_snr"] == 1 and d["archive_seeds"] == [1002, 1003]
    assert d["hours"] == pytest.approx(4 * 0.5 / 60)
    assert "2 x 0.5-min streams" in d["description"]
    assert "plus 2 x 0.5-min feature streams" in d["description"]
    assert sum("archive stream" in ln for ln in lines) == 2
    cond = ops["paths"]["8"][0]["calibration"]["conditions"]
    assert [c["hours"] for c in cond] == pytest.approx([1 / 60, 1 / 60])  # per SNR: both kinds
    lines.clear()
    with pytest.raises(BifsmnError, match="does not exist"):  # before any audio stream is built
        calibrate(bkws, data, minutes=0.5, snrs=[math.inf], split="training", streams=1,
                  write=False, archive=root / "no-archive", log=lines.append)
    assert not lines
    logmel = make_checkpoint(root / "logmel.pt", "bifsmnv2", seed=3)
    with pytest.raises(BifsmnError, match="fbank40 features"):
        calibrate(logmel, data, minutes=0.5, snrs=[math.inf], split="training", streams=1,
                  write=False, archive=archive, log=lines.append)


def test_cli_calibrate_archive_flags(world, capsys):
    from bifsmn.cli import main

    _, archive, data, bkws = world
    assert main(["calibrate", str(bkws), "--data", str(data), "--split", "training",
                 "--archive", str(archive), "--archive-streams", "2", "--minutes", "0.5",
                 "--streams", "1", "--snr", "clean", "--dry-run"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "1 x 0.5-min streams" in out and "plus 2 x 0.5-min feature streams" in out
    assert captured.err.count("archive stream clean") == 2  # progress: on stderr


def test_feature_posteriors_run_the_cascade_as_the_audio_streamer(world):
    from bifsmn.detect.cascade import Verifier

    *_, bkws = world
    audio, fs = chirp_stream(8, 2, 300.0, 2.0, 0.2)
    first = EngineScorer(bkws, 8)
    gate = Gate(floor_db=None, contrast_db=None, max_lead=0.0)  # only windows inside the stream
    plain, *_ = feature_posteriors(first, fs, 1600, gate)
    kw = [i for i, k in enumerate(first.labels) if k not in ("_unknown_", "_silence_")]
    inside = plain.ends >= SR
    wake = float(np.median(plain.probs[inside][:, kw].max(axis=1)))  # about half the windows
    ver = Verifier(EngineScorer(bkws, 2), wake=wake, hold_ms=300.0)
    post, _, _, verified = feature_posteriors(first, fs, 1600, gate, ver)
    ref, _ = stream_posteriors(first, audio, 1600, gate=gate, verifier=ver)
    n = len(post)
    np.testing.assert_array_equal(post.probs, ref.probs[:n])
    assert 0 < verified < 1 and stream_posteriors.last_verified > 0
