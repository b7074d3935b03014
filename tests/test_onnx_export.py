"""ONNX export (``bifsmn export CKPT -o model.onnx``): ONNX Runtime computes a binary student's
deployed arithmetic bit for bit (hence the engine's logits), a full-precision model's eval graph
to float tolerance; one path per file, metadata, refusals. No shared data needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bifsmn.cli import main
from bifsmn.data.fbank import Fbank40Config
from bifsmn.deploy import deploy
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.onnx_export import Parity, export_onnx
from bifsmn.engine.testing import make_checkpoint, random_fbank40_features, random_features
from bifsmn.errors import BifsmnError
from bifsmn.train.checkpoint import model_from_checkpoint

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

FBANK40 = {**Fbank40Config().to_dict()}


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"features": x})[0]


def _inputs(fbank: bool, seed: int = 5) -> np.ndarray:
    # not the export check's inputs (seed 0), plus a batch row of all-equal values (ties)
    x = (random_fbank40_features(12, seed, n_mels=40) if fbank
         else random_features(12, seed))
    return np.concatenate([x, np.full((1, *x.shape[1:]), x.mean(), np.float32)])


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("onnx_ckpts")
    return {
        "bifsmnv2": make_checkpoint(d / "v2.pt", "bifsmnv2", seed=3),
        "bifsmnv2_fbank40": make_checkpoint(d / "v2f.pt", "bifsmnv2", seed=4, n_mels=40,
                                            features=FBANK40),
        "bifsmn_v1": make_checkpoint(d / "v1.pt", "bifsmn_v1", seed=5),
        # group sizes that are not multiples of 8: sum8's tail (100 and 60 channels)
        "bifsmnv2_odd": make_checkpoint(d / "odd.pt", "bifsmnv2", seed=8, dim=100, hidden=60),
        "teacher": make_checkpoint(d / "t.pt", "dfsmn_teacher", seed=6),
        "thinnable_fp": make_checkpoint(d / "tf.pt", "dfsmn_thinnable", seed=7),
    }


@pytest.mark.parametrize("kind,blocks,storage", [
    ("bifsmnv2", 8, None), ("bifsmnv2", 4, None), ("bifsmnv2", 2, None), ("bifsmnv2", 1, None),
    ("bifsmnv2_fbank40", 8, None), ("bifsmnv2_fbank40", 2, "small"), ("bifsmn_v1", 4, None),
    ("bifsmnv2_odd", 2, None)])
def test_binary_onnx_is_bit_identical_to_the_deployed_reference_and_the_engine(
        ckpts, tmp_path, kind, blocks, storage):
    out = tmp_path / "m.onnx"
    args = [str(ckpts[kind]), "-o", str(out), "--blocks", str(blocks)]
    assert main(["export", *args, *(["--storage", storage] if storage else [])]) == 0
    x = _inputs("fbank40" in kind)
    got = _run(out, x)
    model, meta = model_from_checkpoint(ckpts[kind])
    want = deploy(model, meta["binary"], storage=storage)(torch.from_numpy(x), blocks).numpy()
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    # and so the engine's logits of the .bkws exported with the same storage
    bkws = export_checkpoint(ckpts[kind], tmp_path / "m.bkws", blocks, storage=storage)
    eng = Engine(bkws, blocks=blocks).predict(x)
    np.testing.assert_array_equal(got.view(np.uint32), np.asarray(eng).view(np.uint32))


@pytest.mark.parametrize("kind,blocks", [("teacher", 8), ("thinnable_fp", 4)])
def test_full_precision_onnx_matches_the_eval_graph(ckpts, tmp_path, kind, blocks):
    out, parity = export_onnx(ckpts[kind], tmp_path / "t.onnx", blocks)
    assert parity is not None and parity.argmax == parity.inputs
    x = _inputs(False)
    model, _ = model_from_checkpoint(ckpts[kind])
    model.eval()
    path = {8: 0, 4: 1, 2: 2, 1: 3}[blocks]
    with torch.no_grad():
        want = model(torch.from_numpy(x), path=path).numpy()
    np.testing.assert_allclose(_run(out, x), want, rtol=1e-4, atol=1e-4)


def test_metadata_names_labels_path_and_front_end(ckpts, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", str(ckpts["bifsmnv2_fbank40"]), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "64 bit-identical, 64 same class" in printed
    proto = onnx.load(str(out))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["bifsmn.blocks"] == "8"  # the most blocks by default
    assert json.loads(meta["bifsmn.labels"]) == [f"word{i}" for i in range(12)]
    assert json.loads(meta["bifsmn.features"])["kind"] == "fbank40"
    assert meta["bifsmn.arithmetic"] == "deployed"
    assert [i.name for i in proto.graph.input] == ["features"]
    # dynamic batch: one row and many
    x = _inputs(True)
    np.testing.assert_array_equal(_run(out, x[:1]), _run(out, x)[:1])
    # the sign weights are stored as bits (one byte each), not as float copies
    sizes = [np.prod(t.dims) for t in proto.graph.initializer
             if t.data_type == onnx.TensorProto.FLOAT]
    assert max(sizes) < 128 * 256  # no (256, 128) float matrix: fc weights travel as bool


def test_from_audio_through_the_engines_front_end(ckpts, tmp_path):
    """What docs/onnx.md tells users to do: features from the engine's front end, then ONNX
    Runtime: the engine's own logits from the same audio, bit for bit."""
    from bifsmn.engine.testing import synthetic_audio

    ckpt = ckpts["bifsmnv2_fbank40"]
    out, _ = export_onnx(ckpt, tmp_path / "m.onnx", 2)
    eng = Engine(export_checkpoint(ckpt, tmp_path / "m.bkws"), blocks=2)
    audio = synthetic_audio(4, seed=9)
    got = _run(out, eng.features(audio))
    np.testing.assert_array_equal(got.view(np.uint32), eng.predict(audio).view(np.uint32))


def test_refusals(ckpts, tmp_path, capsys):
    v2, teacher = str(ckpts["bifsmnv2"]), str(ckpts["teacher"])
    cases = [
        (["export", v2, "-o", str(tmp_path / "a.onnx"), "--blocks", "all"], "holds one path"),
        (["export", v2, "-o", str(tmp_path / "a.onnx"), "--blocks", "8,2"], "holds one path"),
        (["export", teacher, "-o", str(tmp_path / "a.onnx"), "--compact"],
         "apply to binary models only"),
        (["export", v2, "-o", str(tmp_path / "a.bkws"), "--no-check"], "applies to ONNX"),
    ]
    for argv, text in cases:
        assert main(argv) == 2, argv
        assert text in capsys.readouterr().err, argv
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob("*.bkws"))
    wav = tmp_path / "take1.onnx"
    wav.write_bytes(b"RIFF" + bytes(40))  # a recording under the wrong name is never replaced
    assert main(["export", v2, "-o", str(wav)]) == 2
    assert "not an ONNX model" in capsys.readouterr().err and wav.read_bytes()[:4] == b"RIFF"
    with pytest.raises(BifsmnError, match="named .onnx"):
        export_onnx(v2, tmp_path / "x.bkws")


def test_a_disagreeing_runtime_writes_nothing(ckpts, tmp_path, monkeypatch):
    import bifsmn.engine.onnx_export as ox

    monkeypatch.setattr(ox, "check_parity",
                        lambda *a, **k: Parity(64, 0, 63, 5.0, "onnxruntime (stub)"))
    out = tmp_path / "m.onnx"
    with pytest.raises(BifsmnError, match="disagrees with PyTorch.*nothing written"):
        export_onnx(ckpts["bifsmnv2"], out)
    assert not out.exists()
    # --no-check writes without running ONNX Runtime at all
    path, parity = export_onnx(ckpts["bifsmnv2"], out, check=False)
    assert parity is None and path.stat().st_size > 0
