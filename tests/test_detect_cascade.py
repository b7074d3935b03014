"""Two-stage detection (bifsmn.detect.cascade): the wake rule, streaming == whole stream, the
plain definition on real models, and the operating-point record that ties a cascade's
thresholds to its verifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_detect_support import HOP, SR, ScriptScorer, script_audio, tiny_checkpoint, tone_stream
from test_stream import chunk_sizes, run_chunked

from bifsmn.data.labels import LABELS_12
from bifsmn.detect import operating
from bifsmn.detect.cascade import Verifier, resolve_verifier, wake_mask
from bifsmn.detect.detector import Detector, events_from_smoothed, smooth
from bifsmn.detect.scorer import TorchScorer
from bifsmn.detect.stream import Streamer, sliding_posteriors
from bifsmn.errors import BifsmnError
from bifsmn.train.checkpoint import load_checkpoint, save_checkpoint

#: a small 1-bit model for a verifier file (the engine's random-model factory; 32 x 32 log-mel,
#: the front end of the first stage here)
TINY_VERIFIER = {"hidden": 64, "dim": 32, "frontend_channels": 8}


class ShiftScorer(ScriptScorer):
    """A verifier that disagrees visibly: where ScriptScorer says class c, it says c + 3."""

    name = "shift"

    def scores(self, features: np.ndarray) -> np.ndarray:
        return np.roll(super().scores(features), 3, axis=1)


def test_wake_mask_holds_for_hold_samples_and_carries_across_calls():
    kw = np.array([0.1, 0.95, 0.2, 0.1, 0.1, 0.97, 0.1, 0.1, 0.1])
    ends = HOP * np.arange(1, 10)
    got, last = wake_mask(kw, ends, 3 * HOP, None, 0.9)
    # woken at windows 1 and 5; each wake-up covers the 3 windows ending < 3 hops later
    assert got.tolist() == [False, True, True, True, False, True, True, True, False]
    assert last == ends[5]
    parts, last = [], None
    for a, b in ((0, 2), (2, 3), (3, 7), (7, 9)):
        m, last = wake_mask(kw[a:b], ends[a:b], 3 * HOP, last, 0.9)
        parts.append(m)
    assert np.concatenate(parts).tolist() == got.tolist()
    alone, _ = wake_mask(kw, None, 3 * HOP, None, 0.9)  # no positions: each window alone
    assert alone.tolist() == (kw >= 0.9).tolist()


def _script_verifier(wake: float = 0.9, hold_ms: float = 300.0) -> Verifier:
    return Verifier(ShiftScorer(), wake, hold_ms, "shift.bkws", "ab" * 32)


def test_only_woken_windows_use_the_verifier():
    words = ["_unknown_", "yes", "_unknown_", "_unknown_", "_unknown_", "go", "_unknown_"] * 2
    post = sliding_posteriors(ScriptScorer(), script_audio(words), HOP, flush=False, gate=None,
                              verifier=_script_verifier())
    top = [LABELS_12[i] for i in post.probs.argmax(axis=1)]
    # window i ends with word i. 'yes' (1, 8) and 'go' (5, 12) wake the verifier for 3 windows
    # (300 ms): there it answers class + 3 (unknown -> no, yes -> down, go -> yes); elsewhere
    # silence, whatever the first stage said
    s = "_silence_"
    assert top == [s, "down", "no", "no", s, "yes", "no", "no", "down", "no", "no", s, "yes",
                   "no"]


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("cascade")
    first = TorchScorer.from_checkpoint(tiny_checkpoint(d))
    # the verifier: the same tiny model on another thinnable path, so it differs from the first
    second = TorchScorer.from_checkpoint(tiny_checkpoint(d), blocks=2)
    return first, second


@pytest.mark.parametrize("kind", [1000, 1600, 16000, "random"])
def test_streaming_cascade_equals_the_whole_stream_definition(two_models, kind):
    """Chunked streaming == offline, and both == the plain definition from the two models'
    own posteriors: the verifier's where the first stage woke it (causally), silence else."""
    first, second = two_models
    audio = tone_stream([("yes", 0.2), ("go", 1.9), ("no", 3.1)], 4.37, seed=5)
    ver = Verifier(second, 0.3, 500.0, "second", "")
    ref = sliding_posteriors(first, audio, HOP, verifier=ver)
    st = Streamer(first, HOP, verifier=ver)
    got = run_chunked(st, audio, chunk_sizes(kind, len(audio)))
    np.testing.assert_array_equal(got.ends, ref.ends)
    np.testing.assert_allclose(got.probs, ref.probs, rtol=0, atol=1e-6)

    a = sliding_posteriors(first, audio, HOP)
    b = sliding_posteriors(second, audio, HOP)
    kws = [i for i, k in enumerate(first.labels) if k not in ("_unknown_", "_silence_")]
    silence = np.zeros(len(first.labels), np.float32)
    silence[first.labels.index("_silence_")] = 1.0
    passed = ~np.all(a.probs == silence, axis=1)
    on, _ = wake_mask(a.probs[:, kws].max(axis=1), a.ends, 500 * SR // 1000, None, 0.3)
    on &= passed
    assert 0 < on.sum() < len(on)  # the test exercises both branches
    want = np.where(on[:, None], b.probs, silence[None, :])
    np.testing.assert_allclose(ref.probs, want, rtol=0, atol=1e-6)
    assert st._score.windows_verified == int(on.sum())


def _record(verifier: dict | None) -> dict:
    ops = {"format": operating.FORMAT, "version": operating.VERSION,
           "paths": {"8": [{"fa_per_hour": 1.0, "smooth_ms": 500.0,
                            "thresholds": {k: 0.9 for k in LABELS_12[2:]}}]}}
    if verifier is not None:
        ops["verifier"] = verifier
    return operating.check(ops)


def test_record_ties_thresholds_to_their_verifier(tmp_path):
    ckpt = tiny_checkpoint(tmp_path)
    other = tmp_path / "other.pt"
    save_checkpoint(other, {**load_checkpoint(ckpt), "note": "another file"})
    v = Verifier.load(ckpt)
    stored = _record({**v.record(), "wake": 0.7, "hold_ms": 400.0})
    got, rec = resolve_verifier(ckpt, stored, None, None, False)
    assert (got.wake, got.hold_ms, got.sha256) == (0.7, 400.0, v.sha256)  # the record's rule
    assert rec is stored
    assert resolve_verifier(ckpt, stored, 0.5, None, False)[0].wake == 0.5  # explicit wins
    with pytest.raises(BifsmnError, match="calibrated with verifier"):
        resolve_verifier(None, stored, None, None, False)
    assert resolve_verifier(None, stored, None, None, True) == (None, stored)  # explicit
    with pytest.raises(BifsmnError, match="calibrated without a verifier"):
        resolve_verifier(ckpt, _record(None), None, None, False)
    assert resolve_verifier(ckpt, None, None, None, False)[0] is not None  # no record: defaults
    with pytest.raises(BifsmnError, match="SHA-256 differs"):
        resolve_verifier(other, stored, None, None, False)
    # the model's own record (no verifier) plus one calibrated with ``ckpt``: each verifier
    # gets its own record, no verifier the model's own
    own = _record(None)
    assert resolve_verifier(None, own, None, None, False, cascades=[stored]) == (None, own)
    got, rec = resolve_verifier(ckpt, own, None, None, False, cascades=[stored])
    assert rec is stored and (got.wake, got.hold_ms) == (0.7, 400.0)
    with pytest.raises(BifsmnError, match="SHA-256 differs"):
        resolve_verifier(other, own, None, None, False, cascades=[stored])
    # a Verifier object keeps its own rule; an explicit hold changes only the hold
    obj = Verifier(v.scorer, 0.3, 500.0, v.name, v.sha256)
    assert resolve_verifier(obj, stored, None, None, False)[0] is obj
    got = resolve_verifier(obj, stored, None, 700.0, False)[0]
    assert (got.wake, got.hold_ms) == (0.3, 700.0)
    with pytest.raises(BifsmnError, match="malformed 'verifier'"):
        _record({"name": "x", "sha256": "y", "wake": 2.0, "hold_ms": 100.0})
    with pytest.raises(BifsmnError, match="does not exist"):
        Verifier.load(tmp_path / "missing.bkws")
    with pytest.raises(BifsmnError, match="wake threshold"):
        Verifier(v.scorer, 1.5)


def test_cascade_records_are_kept_per_verifier_beside_the_own_record(tmp_path):
    ckpt = tiny_checkpoint(tmp_path)
    model = tmp_path / "m.pt"
    model.write_bytes(ckpt.read_bytes())
    own = _record(None)
    a = _record({"name": "a", "sha256": "a" * 64, "wake": 0.9, "hold_ms": 1000.0})
    b = _record({"name": "b", "sha256": "b" * 64, "wake": 0.8, "hold_ms": 500.0})
    a2 = _record({**a["verifier"], "wake": 0.5})
    for ops in (own, a, b, a2):
        operating.write(model, ops)
    assert operating.read(model) == own  # cascades never replace the model's own points
    assert operating.read_cascades(model) == [b, a2]  # one per verifier file, the latest
    # re-bundled with a new verifier (calibrate --drop-other-verifiers): its record alone
    c = _record({"name": "c", "sha256": "c" * 64, "wake": 0.9, "hold_ms": 1000.0})
    operating.write(model, c, only_cascade=True)
    assert operating.read_cascades(model) == [c] and operating.read(model) == own
    from bifsmn.detect.calibrate import calibrate
    from bifsmn.engine import export_checkpoint

    with pytest.raises(BifsmnError, match="--drop-other-verifiers needs --verifier"):
        calibrate(model, tmp_path, only_cascade=True)
    bkws = tmp_path / "m.bkws"
    export_checkpoint(ckpt, bkws)
    for ops in (own, a, b):
        operating.write(bkws, ops)
    operating.write(bkws, c, only_cascade=True)
    assert operating.read_cascades(bkws) == [c] and operating.read(bkws) == own
    with pytest.raises(BifsmnError, match="names no verifier"):
        operating.check_cascades([own])
    with pytest.raises(BifsmnError, match="is not a list"):
        operating.check_cascades({"a": a})


def test_detector_runs_a_cascade_from_the_record(tmp_path):
    """A checkpoint whose record names a verifier: the detector needs it, takes its wake rule
    from the record, and gives the events of the offline cascade posteriors."""
    ckpt = tiny_checkpoint(tmp_path)
    data = load_checkpoint(ckpt)
    v = Verifier.load(ckpt, 0.5, 1000.0)
    data["operating_points"] = _record(v.record())
    model = tmp_path / "cascade.pt"
    save_checkpoint(model, data)
    with pytest.raises(BifsmnError, match="calibrated with verifier"):
        Detector(model)
    det = Detector(model, verifier=ckpt)
    assert det.verifier is not None and (det.verifier.wake, det.verifier.hold_ms) == (0.5, 1000)
    assert det.threshold_source.endswith("verifier tiny_trained.pt (wake 0.5, hold 1000 ms)")
    audio = tone_stream([("yes", 0.5), ("go", 2.5)], 4.0, seed=2)
    events = det.process(audio) + det.flush()
    ws = det.streamer._score
    assert 0 < ws.windows_verified < ws.windows_scored
    post = sliding_posteriors(det.scorer, audio, det.hop, gate=det.gate, verifier=det.verifier)
    want = events_from_smoothed(smooth(post.probs, det.smooth_n), post.ends, det.labels,
                                det.thresholds, det.refractory, det.window, det.sample_rate,
                                audio_end=post.audio_end)
    assert events == want and events  # the cascade fires on this stream


def test_a_cascade_calibration_is_stored_beside_the_models_own_points(tmp_path):
    """``calibrate --verifier`` in place: the model's own points stay byte for byte, the
    cascade's go into its list (replaced by a later calibration with the same verifier), export
    carries both, and a detector picks the record that matches the verifier it is given."""
    import math

    from conftest import make_full_dataset

    from bifsmn.detect.calibrate import calibrate
    from bifsmn.engine import export_checkpoint

    torch.set_num_threads(1)
    data = make_full_dataset(tmp_path / "sc", per_word=3)
    ckpt = tiny_checkpoint(tmp_path)
    other = tmp_path / "other.pt"
    save_checkpoint(other, {**load_checkpoint(ckpt), "note": "another file"})
    model = tmp_path / "m.pt"
    model.write_bytes(ckpt.read_bytes())
    kw = dict(blocks=[8], minutes=0.5, snrs=[math.inf], split="training", streams=1,
              confidence=None, log=lambda _: None)
    own = calibrate(model, data, **kw)
    cas = calibrate(model, data, verifier=ckpt, wake=0.5, **kw)
    assert cas["verifier"]["sha256"] == Verifier.load(ckpt).sha256
    # again, wake and hold not given: the stored record's (help: "default: the record's"),
    # not DEFAULT_WAKE; replaced, not added
    cas = calibrate(model, data, verifier=ckpt, hold_ms=400.0, **kw)
    assert cas["verifier"]["wake"] == 0.5 and cas["verifier"]["hold_ms"] == 400.0
    cas = calibrate(model, data, verifier=ckpt, **kw)
    assert cas["verifier"]["wake"] == 0.5 and cas["verifier"]["hold_ms"] == 400.0
    stored = load_checkpoint(model)
    own_j, cas_j = json.loads(json.dumps(own)), json.loads(json.dumps(cas))
    assert stored["operating_points"] == own_j
    assert stored["cascade_operating_points"] == [cas_j]
    bk = export_checkpoint(model, tmp_path / "m.bkws")
    for m in (model, bk):
        plain = Detector(m)
        assert plain.verifier is None and plain.operating_points == own_j
        det = Detector(m, verifier=ckpt)
        assert det.operating_points == cas_j and det.verifier.wake == 0.5
        point = cas_j["paths"]["8"][1]
        assert point["fa_per_hour"] == 1.0
        assert all(det.thresholds[k] == v for k, v in point["thresholds"].items())
        with pytest.raises(BifsmnError, match="SHA-256 differs"):
            Detector(m, verifier=other)


def test_the_bundled_verifier_is_the_one_the_bundled_cascade_points_name(tmp_path):
    """``--verifier bundled``: the packaged teachers, and the bundled model stores points
    calibrated with exactly those files (else its cascade would run with another's thresholds)."""
    from bifsmn.detect.cascade import BUNDLED, verifier_files, verifier_sha256
    from bifsmn.detect.scorer import bundled_model

    paths = verifier_files(BUNDLED)
    assert all(p.is_file() and p.parent == bundled_model().parent for p in paths)
    sha = verifier_sha256(BUNDLED)
    cascades = operating.read_cascades(bundled_model())
    assert [r["verifier"]["sha256"] for r in cascades] == [sha]
    own = operating.read(bundled_model())
    assert own is not None and "verifier" not in own
    det = Detector(verifier=BUNDLED)
    assert det.operating_points == cascades[0] and det.verifier.sha256 == sha
    assert det.verifier.scorer.labels == det.labels
    # the default detector is that cascade; "none" / None / another model: no verifier
    default = Detector()
    assert default.verifier.sha256 == det.verifier.sha256
    assert default.operating_points == cascades[0] and default.thresholds == det.thresholds
    for alone in (Detector(verifier="none"), Detector(verifier=None),
                  Detector(bundled_model())):
        assert alone.verifier is None and alone.operating_points == own
    # another verifier with the bundled model: the refusal says how to get the right one
    # (the record's file name is the one calibration read, not the packaged file's)
    other = tiny_checkpoint(tmp_path)
    with pytest.raises(BifsmnError, match="the bundled verifier: --verifier bundled; SHA-256"):
        Detector(verifier=other)


def test_default_verifier_rule():
    """``auto``: the bundled verifier with the bundled model (None) only; ``none``: none;
    anything else as given."""
    from bifsmn.detect.cascade import AUTO, BUNDLED, NONE, default_verifier

    assert default_verifier(AUTO, None) == BUNDLED
    assert default_verifier(AUTO, "m.bkws") is None and default_verifier(NONE, None) is None
    assert default_verifier(None, None) is None
    assert default_verifier("v.bkws", "m.bkws") == "v.bkws"
    assert default_verifier(Path("none"), None) == Path("none")  # a path is a path


@pytest.mark.parametrize("storage", [{"classifier_dtype": "i8"}, {"storage": "small"}])
def test_an_int8_binary_verifier_decides_with_its_own_files_scores(two_models, tmp_path, storage):
    """A 1-bit verifier exported with int8 constants (``--classifier-dtype i8``, ``--storage
    small``) runs in the cascade as its file scores: where woken (wake 0: every gated window),
    the posteriors are the file's own, which differ from the float32 file's."""
    pytest.importorskip("bifsmn.engine._engine")
    from bifsmn.engine import export_checkpoint
    from bifsmn.engine.testing import make_checkpoint

    first, _ = two_models
    ckpt = make_checkpoint(tmp_path / "v.pt", "bifsmnv2", seed=3, **TINY_VERIFIER)
    ck = load_checkpoint(ckpt)
    ck["labels"] = list(first.labels)  # the factory names its classes word0..word11
    save_checkpoint(ckpt, ck)
    narrow = Verifier.load(export_checkpoint(ckpt, tmp_path / "v8.bkws", **storage), 0.0, 500.0)
    wide = Verifier.load(export_checkpoint(ckpt, tmp_path / "v32.bkws"), 0.0, 500.0)
    assert narrow.sha256 != wide.sha256
    audio = tone_stream([("yes", 0.2), ("go", 1.9)], 3.1, seed=2)
    got = sliding_posteriors(first, audio, HOP, verifier=narrow)
    own = sliding_posteriors(narrow.scorer, audio, HOP).probs
    silence = np.zeros(len(first.labels), np.float32)
    silence[first.labels.index("_silence_")] = 1.0
    passed = ~np.all(sliding_posteriors(first, audio, HOP).probs == silence, axis=1)
    assert 0 < passed.sum() < len(passed)
    np.testing.assert_array_equal(got.probs[passed], own[passed])
    np.testing.assert_array_equal(got.probs[~passed],
                                  np.broadcast_to(silence, got.probs[~passed].shape))
    assert not np.array_equal(own, sliding_posteriors(wide.scorer, audio, HOP).probs)


def test_cli_names_an_uncalibrated_first_stages_threshold_once(tmp_path, capsys, caplog,
                                                               monkeypatch):
    """An uncalibrated model with a verifier: ``bifsmn detect`` says which threshold it uses
    once (the Detector's note) and then names the verifier, not the threshold again."""
    import soundfile as sf

    from bifsmn.cli import main
    from bifsmn.detect import detector as detector_mod

    ckpt = tiny_checkpoint(tmp_path)
    wav = tmp_path / "s.wav"
    sf.write(wav, tone_stream([("yes", 0.5)], 2.0, seed=3), SR)
    monkeypatch.setattr(detector_mod, "_NOTED", set())  # the note is due (once per process)
    with caplog.at_level("WARNING"):
        assert main(["detect", str(wav), "--model", str(ckpt), "--verifier", str(ckpt)]) == 0
    err = capsys.readouterr().err
    said = err + "".join(r.message for r in caplog.records)
    assert said.count("no stored operating points") == 1, said
    assert "bifsmn: verifier tiny_trained.pt (wake" in err
    assert main(["detect", str(wav), "--model", str(ckpt), "--verifier", str(ckpt),
                 "--threshold", "0.7"]) == 0
    assert "threshold 0.7; verifier tiny_trained.pt" in capsys.readouterr().err
