"""A verifier of several networks (bifsmn.detect.ensemble): the mean of their logits, how it is
named on the command line, how its operating points are bound to its files, and that it streams
exactly as its definition."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_detect_support import HOP, tone_stream
from test_stream import chunk_sizes, run_chunked

from bifsmn.data.download import sha256_file
from bifsmn.data.fbank import Fbank40Config
from bifsmn.data.labels import LABELS_12
from bifsmn.detect import operating
from bifsmn.detect.cascade import (
    BUNDLED,
    Verifier,
    ensemble_sha256,
    verifier_files,
    verifier_sha256,
    wake_mask,
)
from bifsmn.detect.detector import Detector
from bifsmn.detect.ensemble import COMBINE, MeanLogits
from bifsmn.detect.scorer import EngineScorer
from bifsmn.detect.stream import Streamer, silence_posterior, sliding_posteriors, softmax
from bifsmn.errors import BifsmnError
from bifsmn.train.checkpoint import load_checkpoint, save_checkpoint

pytest.importorskip("bifsmn.engine._engine")


def _bkws(root, name: str, kind: str, seed: int, features: dict | None = None) -> str:
    """A random fbank40 engine file (12 classes named as the ten commands' task)."""
    from bifsmn.engine import export_checkpoint
    from bifsmn.engine.testing import make_checkpoint

    feats = Fbank40Config().to_dict() if features is None else features
    kw = {"n_mels": 40, "frames": 32} if feats.get("kind") == "fbank40" else {}
    ckpt = make_checkpoint(root / f"{name}.pt", kind, seed=seed, features=feats, **kw)
    data = load_checkpoint(ckpt)
    data["labels"] = list(LABELS_12)
    save_checkpoint(ckpt, data)
    return str(export_checkpoint(ckpt, root / f"{name}.bkws"))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("ensemble")
    return {"first": _bkws(d, "first", "bifsmnv2", 41),
            "a": _bkws(d, "va", "dfsmn_teacher", 5),
            "b": _bkws(d, "vb", "dfsmn_teacher", 6),
            "logmel": _bkws(d, "vl", "dfsmn_teacher", 7, features={})}


def test_verifier_arguments_name_one_file_or_several(tmp_path):
    a, b = tmp_path / "a.bkws", tmp_path / "b.bkws"
    assert verifier_files(str(a)) == [a]
    assert verifier_files(f"{a}+{b}") == [a, b]
    assert verifier_files([a, str(b)]) == [a, b]
    plus = tmp_path / "x+y.bkws"  # a file whose name holds the separator is that file
    plus.write_bytes(b"")
    assert verifier_files(str(plus)) == [plus]
    for bad, why in ((f"{a}+", "an empty member"), ([], "an empty member"),
                     (f"{a}+{tmp_path}/./a.bkws", "listed twice")):
        with pytest.raises(BifsmnError, match=why):
            verifier_files(bad)
    with pytest.raises(BifsmnError, match="does not exist"):
        Verifier.load(f"{a}+{b}")


def test_mean_logits_is_the_members_mean_and_refuses_mismatches(files):
    a, b = EngineScorer(files["a"], None), EngineScorer(files["b"], None)
    ens = MeanLogits([a, b])
    assert ens.name == "va.bkws+vb.bkws" and ens.labels == a.labels and ens.batch_invariant
    audio = tone_stream([("yes", 0.1), ("go", 1.2)], 2.0, seed=1)
    windows = np.stack([audio[i:i + 16000] for i in (0, 8000, 16000)])
    feats = ens.features(windows)
    np.testing.assert_array_equal(feats, a.features(windows))  # the first member's front end
    want = (a.scores(feats) + b.scores(feats)) / np.float32(2)
    np.testing.assert_allclose(ens.scores(feats), want, rtol=0, atol=1e-6)
    assert not np.allclose(a.scores(feats), b.scores(feats))  # the mean is not one member
    with pytest.raises(BifsmnError, match="front end differs"):
        MeanLogits([a, EngineScorer(files["logmel"], None)])
    other = EngineScorer(files["b"], None)
    other.labels = list(reversed(other.labels))
    with pytest.raises(BifsmnError, match="labels differ"):
        MeanLogits([a, other])
    with pytest.raises(BifsmnError, match="at least two members"):
        MeanLogits([a])


def test_an_ensemble_verifier_is_bound_to_its_files_in_order(files):
    ha, hb = sha256_file(Path(files["a"])), sha256_file(Path(files["b"]))
    v = Verifier.load(f"{files['a']}+{files['b']}")
    assert isinstance(v.scorer, MeanLogits) and v.name == "va.bkws+vb.bkws"
    assert v.sha256 == ensemble_sha256([ha, hb]) == verifier_sha256([files["a"], files["b"]])
    assert v.sha256 not in (ha, hb, ensemble_sha256([hb, ha]))
    rec = operating.check({"format": operating.FORMAT, "version": operating.VERSION,
                           "paths": {}, "verifier": v.record()})["verifier"]
    assert rec["combine"] == COMBINE
    assert rec["members"] == [{"name": "va.bkws", "sha256": ha}, {"name": "vb.bkws", "sha256": hb}]
    assert "members" not in Verifier.load(files["a"]).record()  # one network: as before


@pytest.mark.parametrize("kind", [1600, "random"])
def test_an_ensemble_cascade_streams_as_its_definition(files, kind):
    """Chunked streaming == offline == the plain definition: softmax of the members' mean
    logits on the windows the first stage woke (causally), silence elsewhere."""
    first = EngineScorer(files["first"])
    audio = tone_stream([("yes", 0.2), ("go", 1.9), ("no", 3.1)], 4.37, seed=5)
    alone = sliding_posteriors(first, audio, HOP)
    kws = [i for i, k in enumerate(first.labels) if k not in ("_unknown_", "_silence_")]
    silence = silence_posterior(list(first.labels))
    passed = ~np.all(alone.probs == silence, axis=1)
    kw_max = alone.probs[:, kws].max(axis=1)
    wake = float(np.median(kw_max[passed]))  # some windows wake the verifier, some do not
    ver = Verifier.load([files["a"], files["b"]], wake, 300.0)
    ref = sliding_posteriors(first, audio, HOP, verifier=ver)
    st = Streamer(first, HOP, verifier=ver)
    got = run_chunked(st, audio, chunk_sizes(kind, len(audio)))
    np.testing.assert_array_equal(got.ends, ref.ends)
    np.testing.assert_allclose(got.probs, ref.probs, rtol=0, atol=1e-6)
    on, _ = wake_mask(kw_max, alone.ends, 300 * 16, None, wake)
    on &= passed
    assert 0 < on.sum() < len(on)
    a, b = EngineScorer(files["a"], None), EngineScorer(files["b"], None)
    wins = np.stack([np.pad(audio, (16000, 16000))[e:e + 16000] for e in alone.ends])
    feats = a.features(wins)
    mean = softmax((a.scores(feats) + b.scores(feats)) / np.float32(2))
    want = np.where(on[:, None], mean, silence[None, :])
    np.testing.assert_allclose(ref.probs, want, rtol=0, atol=1e-5)


def test_calibrated_with_an_ensemble_a_detector_needs_that_ensemble(files, tmp_path, capsys):
    """``calibrate --verifier A+B`` stores a record bound to both files; a detector runs it with
    ``A+B`` (or the list), refuses A alone and B+A, and the CLI takes the same argument."""
    from conftest import make_full_dataset, write_wav
    from test_detect_cli import run

    from bifsmn.detect.calibrate import calibrate

    data = make_full_dataset(tmp_path / "sc", per_word=3)
    model = tmp_path / "m.bkws"
    model.write_bytes(Path(files["first"]).read_bytes())
    pair = f"{files['a']}+{files['b']}"
    cas = calibrate(model, data, blocks=[8], minutes=0.5, snrs=[math.inf], split="training",
                    streams=1, confidence=None, verifier=pair, wake=0.5, log=lambda _: None)
    assert cas["verifier"]["sha256"] == verifier_sha256(pair)
    assert [m["name"] for m in cas["verifier"]["members"]] == ["va.bkws", "vb.bkws"]
    for spec in (pair, [files["a"], files["b"]]):
        det = Detector(model, verifier=spec)
        assert det.verifier.sha256 == cas["verifier"]["sha256"] and det.verifier.wake == 0.5
    for wrong in (files["a"], f"{files['b']}+{files['a']}"):
        with pytest.raises(BifsmnError, match="SHA-256 differs"):
            Detector(model, verifier=wrong)
    wav = write_wav(tmp_path / "a.wav", tone_stream([("yes", 0.3)], 1.5, seed=3))
    rc, _, err = run(["detect", str(wav), "--model", str(model), "--verifier", pair], capsys)
    assert rc == 0 and "verifier va.bkws+vb.bkws" in err, err


def test_the_bundled_verifier_is_the_packaged_pair():
    """``bundled``: verifier.bkws + verifier2.bkws, averaged; the bundled model's cascade
    points are bound to exactly that pair."""
    from bifsmn.detect.scorer import bundled_model

    files = verifier_files(BUNDLED)
    assert [f.name for f in files] == ["verifier.bkws", "verifier2.bkws"]
    assert all(f.parent == bundled_model().parent for f in files)
    v = Verifier.load(BUNDLED)
    assert isinstance(v.scorer, MeanLogits)
    assert [r["verifier"]["sha256"] for r in operating.read_cascades(bundled_model())] == \
        [v.sha256]
