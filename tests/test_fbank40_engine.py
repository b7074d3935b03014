"""fbank40 models in the deployment path: export, the C++ front end, parity, refusals.

A random fbank40 model (n_mels=40, frames=32: fc1 sees 32 x 10 = 320 features) is exported to
``.bkws`` (format version 2, ``feat.kind = fbank40``); the engine must compute the same network
input as ``Fbank40`` + ``image_to_input`` (bit-identical wherever the uint8 image values agree,
which is >= 99.9 % of them) and, for binary models, logits bit-identical to PyTorch's deployed
eval on the same features.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bifsmn.audio import fix_length
from bifsmn.data.fbank import Fbank40, Fbank40Config, image_to_input
from bifsmn.data.features import FeatureConfig
from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.deploy import Scoring, predict
from bifsmn.detect.scorer import EngineScorer, TorchScorer
from bifsmn.detect.stream import WindowScorer
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.format import decode, encode, feature_dict, legacy_paths, make_record, read_file
from bifsmn.engine.testing import (
    make_checkpoint,
    random_fbank40_features,
    random_features,
    synthetic_audio,
)
from bifsmn.errors import BifsmnError
from bifsmn.train.checkpoint import model_from_checkpoint

KINDS = ["bifsmnv2", "bifsmn_v1", "dfsmn_teacher", "dfsmn_thinnable"]
FB = Fbank40Config()


def torch_logits(model: torch.nn.Module, x: np.ndarray, blocks: int) -> np.ndarray:
    with torch.no_grad():
        return predict(model, torch.from_numpy(x), blocks).numpy()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple]:
    root = tmp_path_factory.mktemp("fbank40")
    out = {}
    for i, kind in enumerate(KINDS):
        ckpt = make_checkpoint(root / f"{kind}.pt", kind, seed=30 + i, features=FB.to_dict(),
                               n_mels=40, frames=32)
        out[kind] = (ckpt, export_checkpoint(ckpt, root / f"{kind}.bkws"))
    return out


def audio_clips() -> np.ndarray:
    """Synthetic 1-s clips (tones, chirps, noise bursts, enveloped tones), loud noise, silence,
    a quiet tone."""
    t = np.arange(16000) / 16000
    extra = np.stack([np.zeros(16000),
                      0.6 * np.random.default_rng(5).standard_normal(16000),
                      1e-3 * np.sin(2 * np.pi * 500 * t)]).astype(np.float32)
    return np.concatenate([synthetic_audio(12, seed=41), np.clip(extra, -1, 0.99)])


def torch_inputs(audio: np.ndarray) -> np.ndarray:
    return Fbank40()(torch.from_numpy(audio)).numpy()


def test_export_writes_the_feature_kind(exported) -> None:
    recs = read_file(exported["bifsmnv2"][1])
    assert recs["feat.kind"].text() == "fbank40"
    assert feature_config_from_dict(feature_dict(recs)) == FB
    assert list(recs["arch"].array()[1:3]) == [40, 32]
    assert recs["fc1.bits"].shape[1] == 320  # c2 * n_mels / 4
    eng = Engine(exported["bifsmnv2"][1])
    assert feature_config_from_dict(eng.feature_config) == FB
    assert eng._feat_shape == (1, 40, 32)


def test_engine_frontend_matches_torch(exported) -> None:
    """C++ fbank40 == Fbank40 + image_to_input: pooled sums of uint8 values agree on >= 99.9 %
    and never by more than 1, and where they agree the float inputs are bit-identical."""
    eng = Engine(exported["bifsmn_v1"][1])
    audio = audio_clips()
    got, ref = eng.features(audio), torch_inputs(audio)
    assert got.shape == ref.shape == (len(audio), 1, 40, 32)
    s_got, s_ref = np.rint(got * 96.0), np.rint(ref * 96.0)
    same = s_got == s_ref
    print(f"engine vs torch fbank40: {same.mean():.5%} of {same.size} pooled values equal")
    assert same.mean() >= 0.999 and np.abs(s_got - s_ref).max() <= 1
    np.testing.assert_array_equal(got[same], ref[same])
    # the input is exactly image_to_input of the torch image
    img = Fbank40().image(torch.from_numpy(audio))
    np.testing.assert_array_equal(image_to_input(img).numpy(), ref)
    # silence gives exact zeros
    np.testing.assert_array_equal(got[12], np.zeros((1, 40, 32), np.float32))


def test_engine_short_and_long_audio_follow_fix_length(exported) -> None:
    eng = Engine(exported["bifsmnv2"][1])
    audio = synthetic_audio(3, seed=8, samples=20000)
    for n in (5000, 16000, 20000):
        got = eng.features(audio[:, :n])
        ref = torch_inputs(np.stack([fix_length(a[:n], 16000) for a in audio]))
        assert (np.rint(got * 96) == np.rint(ref * 96)).mean() >= 0.999


@pytest.mark.parametrize("kind", KINDS)
def test_parity_every_path(exported, kind) -> None:
    """Binary: logits bit-identical to PyTorch's deployed eval; FP: float32 rounding."""
    ckpt, bkws = exported[kind]
    model, _ = model_from_checkpoint(ckpt)
    eng = Engine(bkws)
    x = np.concatenate([random_fbank40_features(8, seed=2), torch_inputs(audio_clips())])
    binary = kind in ("bifsmnv2", "bifsmn_v1")
    # a binary student evaluates in the deployed arithmetic whatever its input size
    assert (Scoring(model).deployed is not None) == binary
    assert eng.paths == ([8] if kind == "dfsmn_teacher" else [8, 4, 2, 1])
    for blocks in eng.paths:
        eng.set_blocks(blocks)
        ref, got = torch_logits(model, x, blocks), eng.predict(x)
        np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))
        if binary:
            np.testing.assert_array_equal(got, ref, err_msg=f"{kind} {blocks} blocks")
        else:
            assert np.abs(got - ref).max() <= 2e-4 * max(1.0, float(np.abs(ref).max()))


@pytest.mark.parametrize("kind", ["bifsmnv2", "dfsmn_teacher"])
def test_predict_audio_equals_predict_on_its_features(exported, kind) -> None:
    eng = Engine(exported[kind][1])
    audio = audio_clips()
    np.testing.assert_array_equal(eng.predict(audio), eng.predict(eng.features(audio)))
    np.testing.assert_array_equal(eng.predict(audio[3]), eng.predict(audio[3:4])[0])


def test_models_refuse_features_of_the_wrong_kind(exported, tmp_path) -> None:
    eng = Engine(exported["bifsmnv2"][1])
    with pytest.raises(BifsmnError, match=r"fbank40 features \(1, 40, 32\)") as info:
        eng.predict(random_features(2))  # 32 x 32 log-mel features
    assert "\n" not in str(info.value)
    old = make_checkpoint(tmp_path / "logmel.pt", "bifsmnv2", seed=3)
    with pytest.raises(BifsmnError, match=r"logmel32 features \(1, 32, 32\)"):
        Engine(export_checkpoint(old, tmp_path / "logmel.bkws")).predict(
            random_fbank40_features(1))
    # a checkpoint whose front end does not fit its network is not exported
    bad = make_checkpoint(tmp_path / "bad.pt", "bifsmnv2", seed=4, features=FB.to_dict())
    with pytest.raises(BifsmnError, match=r"\(fbank40\) has 40 mel bands, model expects 32"):
        export_checkpoint(bad, tmp_path / "bad.bkws")


def test_format_versions_and_unknown_kind(exported, tmp_path) -> None:
    # a logmel32 export names its kind too; a version 1 file (no feat.kind) still loads
    ckpt = make_checkpoint(tmp_path / "lm.pt", "bifsmn_v1", seed=5)
    good = export_checkpoint(ckpt, tmp_path / "lm.bkws").read_bytes()
    recs = decode(good)
    assert recs["feat.kind"].text() == "logmel32"
    v1 = tmp_path / "v1.bkws"
    v1.write_bytes(encode(legacy_paths([r for r in recs.values() if r.name != "feat.kind"]),
                          version=1))
    x = random_features(3, seed=6)
    np.testing.assert_array_equal(Engine(v1).predict(x), Engine(tmp_path / "lm.bkws").predict(x))
    assert Engine(v1).feature_config["kind"] == "logmel32"
    assert feature_config_from_dict(feature_dict(read_file(v1))) == FeatureConfig()
    # version 2 needs the kind; an unknown kind is one line naming the file
    fb = decode(exported["bifsmnv2"][1].read_bytes())
    cases = {
        "nokind": ([r for r in fb.values() if r.name != "feat.kind"], "missing record 'feat.kind'"),
        "mfcc": ([r if r.name != "feat.kind" else make_record(r.name, "mfcc13")
                  for r in fb.values()], "unknown feature kind 'mfcc13'"),
        "short": ([r if r.name != "feat.i" else make_record(r.name, np.arange(5), "i32")
                   for r in fb.values()], "feat.i"),
        "badfft": ([r if r.name != "feat.i" else
                    make_record(r.name, np.array([16000, 16000, 480, 160, 500, 40, 3]), "i32")
                    for r in fb.values()], "n_fft must be a power of two"),
    }
    for name, (records, msg) in cases.items():
        path = tmp_path / f"{name}.bkws"
        path.write_bytes(encode(records))
        with pytest.raises(BifsmnError) as info:
            Engine(path)
        text = str(info.value)
        assert msg in text and str(path) in text and "\n" not in text, (name, text)
    with pytest.raises(BifsmnError, match="unknown feature kind 'mfcc13'"):
        feature_dict(decode((tmp_path / "mfcc.bkws").read_bytes()))


def test_scorers_and_streaming_use_the_fbank40_front_end(exported) -> None:
    ckpt, bkws = exported["bifsmnv2"]
    es, ts = EngineScorer(bkws), TorchScorer.from_checkpoint(ckpt)
    assert es.feature_config == ts.feature_config == FB
    audio = audio_clips()[:4]
    ws = WindowScorer(es, batch_size=4)
    feats = ws._features(audio)
    np.testing.assert_array_equal(feats, torch_inputs(audio))
    probs = ws(audio)
    eng = Engine(bkws)
    logits = eng.predict(feats).astype(np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs, p / p.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(es.scores(feats), ts.scores(feats))


@pytest.mark.parametrize("pool,steps", [(2, 48), (1, 96)])
def test_finer_pools_export_and_stay_bit_identical(tmp_path, pool, steps) -> None:
    """``data.pool`` 2 and 1 (48 and 96 network steps): the engine pools the same central
    frames at the stored scale, and a binary model's logits stay bit-identical."""
    from dataclasses import replace

    cfg = replace(FB, pool=pool, input_scale=1.0 / (32 * pool))
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=7, features=cfg.to_dict(),
                           n_mels=40, frames=steps)
    eng = Engine(export_checkpoint(ckpt, tmp_path / "m.bkws"))
    assert eng._feat_shape == (1, 40, steps)
    audio = audio_clips()
    got, ref = eng.features(audio), Fbank40(cfg)(torch.from_numpy(audio)).numpy()
    assert got.shape == ref.shape == (len(audio), 1, 40, steps)
    same = np.rint(got * 32 * pool) == np.rint(ref * 32 * pool)
    assert same.mean() >= 0.999
    model, _ = model_from_checkpoint(ckpt)
    for blocks in eng.paths:
        eng.set_blocks(blocks)
        np.testing.assert_array_equal(eng.predict(ref), torch_logits(model, ref, blocks))
