"""Engine parity with PyTorch, kernel equality, file robustness and the Python API.

Models are randomly initialised with random BatchNorm statistics and affine parameters, PReLU
slopes and thresholds (bifsmn.engine.testing), so every folded parameter matters. Parity is
checked on random log-mel-range features and on features of synthetic audio (tones, chirps,
noise bursts), for every thinnable path. Trained checkpoints in models/*.pt are checked too
when present.

Binary models are exact: PyTorch evaluates them in the deployed arithmetic
(bifsmn.deploy), and the engine's logits must be bit-identical to it, on every path and
with every kernel. Full-precision models agree to float32 rounding (GEMMs sum in other orders).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from bifsmn.data.features import LogMel
from bifsmn.deploy import predict
from bifsmn.engine import Engine, available_kernels, export_checkpoint
from bifsmn.engine.format import decode, encode, make_record, read_file
from bifsmn.engine.testing import make_checkpoint, random_features, synthetic_audio
from bifsmn.errors import BifsmnError
from bifsmn.train.checkpoint import model_from_checkpoint

REPO = Path(__file__).resolve().parents[1]
KINDS = ["bifsmnv2", "bifsmn_v1", "dfsmn_teacher", "dfsmn_thinnable"]
#: max |engine - torch| / max(1, max |torch logit|): "exact" for binary models (the default
#: FP32 classifier), "f16" for a binary model exported with an FP16 classifier (relative
#: rounding 2^-11 on each weight), "f32" for full-precision models.
TOL = {"exact": 0.0, "f16": 5e-3, "f32": 2e-4}


def torch_logits(model: torch.nn.Module, x: np.ndarray, blocks: int) -> np.ndarray:
    """The PyTorch reference: the deployed arithmetic for binary models, the graph for FP."""
    return predict(model, torch.from_numpy(x), blocks).numpy()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """kind -> (checkpoint, .bkws with every path)."""
    root = tmp_path_factory.mktemp("engine")
    out = {}
    for i, kind in enumerate(KINDS):
        ckpt = make_checkpoint(root / f"{kind}.pt", kind, seed=10 + i)
        out[kind] = (ckpt, export_checkpoint(ckpt, root / f"{kind}.bkws"))
    return out


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    feats = LogMel()(torch.from_numpy(synthetic_audio(8, seed=3))).numpy()
    silence = np.full((1, 1, 32, 32), -100.0, np.float32)
    return np.concatenate([random_features(8, seed=4), feats, silence])


def check_parity(ckpt: Path, bkws: Path, x: np.ndarray, tol: float, **kw) -> dict[int, float]:
    model, _ = model_from_checkpoint(ckpt)
    eng = Engine(bkws, **kw)
    diffs = {}
    for blocks in eng.paths:
        eng.set_blocks(blocks)
        ref = torch_logits(model, x, blocks)
        got = eng.predict(x)
        assert got.shape == ref.shape
        np.testing.assert_array_equal(got.argmax(1), ref.argmax(1),
                                      err_msg=f"{bkws.name} {blocks} blocks: argmax differs")
        diffs[blocks] = float(np.abs(got - ref).max())
        scale = max(1.0, float(np.abs(ref).max()))
        assert diffs[blocks] <= tol * scale, (bkws.name, blocks, diffs[blocks], scale)
    return diffs


@pytest.mark.parametrize("kind", KINDS)
def test_parity_every_path(exported, inputs, kind, record_property) -> None:
    ckpt, bkws = exported[kind]
    eng = Engine(bkws)
    expect = [8, 4, 2, 1] if kind != "dfsmn_teacher" else [8]
    assert eng.paths == expect and eng.kind == kind
    tol = TOL["exact"] if kind in ("bifsmnv2", "bifsmn_v1") else TOL["f32"]
    diffs = check_parity(ckpt, bkws, inputs, tol)
    record_property("max_abs_diff", diffs)
    print(f"{kind}: max |engine - torch| per path {diffs}")


@pytest.mark.parametrize("kind", ["bifsmnv2", "bifsmn_v1"])
def test_f16_classifier_option(exported, inputs, tmp_path, kind) -> None:
    """``--classifier-dtype f16`` trades exactness for 2 bytes per classifier weight."""
    ckpt, _ = exported[kind]
    bkws = export_checkpoint(ckpt, tmp_path / "f16.bkws", classifier_dtype="float16")
    assert read_file(bkws)["classifier.w"].dtype == "f16"
    assert bkws.stat().st_size < exported[kind][1].stat().st_size
    check_parity(ckpt, bkws, inputs, TOL["f16"])


@pytest.mark.parametrize("kind", ["bifsmnv2", "bifsmn_v1"])
def test_binary_kernels_bit_identical(exported, inputs, kind) -> None:
    """Popcounts are integers and a binary model's float stages do not use the float GEMM
    kernels, so every (binary kernel, float kernel) pair gives bit-identical logits."""
    _, bkws = exported[kind]
    kernels = available_kernels()
    assert "reference" in kernels and "portable" in kernels
    x = inputs[:6]
    for blocks in (8, 1):
        ref = Engine(bkws, blocks, kernel="reference", fp_kernel="reference").predict(x)
        for k in kernels:
            for fk in kernels:
                v = Engine(bkws, blocks, kernel=k, fp_kernel=fk).predict(x)
                np.testing.assert_array_equal(v, ref, err_msg=f"kernel {k}, float kernel {fk}")


@pytest.mark.parametrize("kind", KINDS)
def test_kernels_agree_with_their_own_float_gemm(exported, inputs, kind, monkeypatch) -> None:
    """Selecting the kernel with BIFSMN_KERNEL (as users do): float GEMMs sum in different
    orders, so FP models agree to float rounding; binary models are bit-identical."""
    _, bkws = exported[kind]
    x = inputs[:6]
    outs = {}
    for k in available_kernels():
        monkeypatch.setenv("BIFSMN_KERNEL", k)
        eng = Engine(bkws)
        assert eng.kernel == k and eng.fp_kernel == k
        outs[k] = eng.predict(x)
    ref = outs["reference"]
    tol = 0.0 if kind in ("bifsmnv2", "bifsmn_v1") else 1e-4
    for k, v in outs.items():
        np.testing.assert_array_equal(v.argmax(1), ref.argmax(1))
        assert np.abs(v - ref).max() <= tol * max(1.0, np.abs(ref).max()), k


def test_bad_kernel_name_is_a_clear_error(exported, monkeypatch) -> None:
    _, bkws = exported["bifsmnv2"]
    monkeypatch.setenv("BIFSMN_KERNEL", "sse9")
    with pytest.raises(BifsmnError, match="BIFSMN_KERNEL"):
        Engine(bkws)


def test_single_path_exports(exported, inputs, tmp_path) -> None:
    ckpt, full = exported["bifsmnv2"]
    sizes = {}
    for blocks in (8, 4, 2, 1):
        out = export_checkpoint(ckpt, tmp_path / f"b{blocks}.bkws", blocks=blocks)
        eng = Engine(out)
        assert eng.paths == [blocks] and eng.blocks == blocks
        with pytest.raises(BifsmnError, match="not in this file"):
            eng.set_blocks(8 if blocks != 8 else 4)
        sizes[blocks] = out.stat().st_size
        check_parity(ckpt, out, inputs[:6], TOL["exact"])
    assert sizes[1] < sizes[2] < sizes[4] < sizes[8] < full.stat().st_size
    # several paths: the detector's 8 and 2 (order given does not matter), same parity
    two = export_checkpoint(ckpt, tmp_path / "b2_8.bkws", blocks="2,8")
    assert Engine(two).paths == [8, 2]
    assert sizes[8] < two.stat().st_size < full.stat().st_size
    check_parity(ckpt, two, inputs[:6], TOL["exact"])
    assert Engine(export_checkpoint(ckpt, tmp_path / "l.bkws", blocks=[4, 1])).paths == [4, 1]
    with pytest.raises(BifsmnError, match="names 8 twice"):
        export_checkpoint(ckpt, tmp_path / "d.bkws", blocks="8,8")
    with pytest.raises(BifsmnError, match="blocks must be"):
        export_checkpoint(ckpt, tmp_path / "d.bkws", blocks="8,3")


def test_file_contents(exported) -> None:
    recs = read_file(exported["bifsmnv2"][1])
    assert recs["meta.kind"].text() == "bifsmnv2"
    assert recs["meta.labels"].text().split("\n") == [f"word{i}" for i in range(12)]
    assert recs["conv2.bits"].shape == (32, 400) and recs["conv2.bits"].dtype == "bits"
    assert recs["b0.fc_in.bits"].shape == (256, 128)
    assert recs["classifier.w"].dtype == "f32" and recs["conv1.w"].dtype == "f32"
    # per-path BN/PReLU only where the path runs the block: block 0 only on the 8-block path
    assert "b0.fc_out.scale.p0" in recs and "b0.fc_out.scale.p1" not in recs
    assert all(f"b7.fc_out.scale.p{p}" in recs for p in range(4))
    # the sign bits are those of the model's quantized weights
    model, _ = model_from_checkpoint(exported["bifsmnv2"][0])
    with torch.no_grad():
        wh = model.blocks[3].fc_in.weight_quantizer(model.blocks[3].fc_in.weight)
    np.testing.assert_array_equal(recs["b3.fc_in.bits"].array(), (wh < 0).numpy())
    teacher = read_file(exported["dfsmn_teacher"][1])
    assert teacher["classifier.w"].dtype == "f32" and "b0.fc_out.scale.p1" not in teacher


# --------------------------------------------------------------------------- robustness
def _rewrite_header(data: bytes, version: int) -> bytes:
    head = bytearray(data[:32])
    struct.pack_into("<I", head, 8, version)
    struct.pack_into("<I", head, 28, zlib.crc32(bytes(head[:28])))
    return bytes(head) + data[32:]


def _broken_files(good: bytes) -> dict[str, tuple[bytes, str]]:
    recs = decode(good)
    # a valid container whose conv2 weights have the wrong shape
    bad_shape = [r if r.name != "b0.fc_in.scale" else make_record(r.name, np.zeros(100), "f32")
                 for r in recs.values()]
    missing = [r for r in recs.values() if r.name != "b5.fc_out.bits"]
    nan = [r if r.name != "fc1.bias" else make_record(r.name, np.full(128, np.nan), "f32")
           for r in recs.values()]
    bad_arch = [r if r.name != "arch" else make_record(r.name, np.full(12, 7), "i32")
                for r in recs.values()]
    labels = [r if r.name != "meta.labels" else make_record(r.name, "a\nb") for r in recs.values()]
    paths = [r if r.name != "paths" else make_record(r.name, np.array([8, 9]), "i32")
             for r in recs.values()]
    # a version 2 file names path indices: index 9 does not exist
    old_paths = [r if r.name != "paths" else make_record(r.name, np.array([0, 9]), "i32")
                 for r in recs.values()]
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10
    # a record name with a space (printable, but outside the 0x21-0x7E the readers accept),
    # sealed with valid checksums
    spaced = bytearray(good)
    at = good.index(b"\x08fc1.bias", 32)
    spaced[at + 4] = ord(" ")
    struct.pack_into("<I", spaced, 24, zlib.crc32(bytes(spaced[32:])))
    struct.pack_into("<I", spaced, 28, zlib.crc32(bytes(spaced[:28])))
    return {
        "empty": (b"", "truncated header"),
        "truncated header": (good[:20], "truncated header"),
        "truncated payload": (good[:-1000], "truncated"),
        "one byte short": (good[:-1], "truncated"),
        "one byte long": (good + b"\0", "trailing bytes after the model"),
        "bad magic": (b"XXXX" + good[4:], "bad magic"),
        "bit flip": (bytes(flipped), "checksum"),
        "future version": (_rewrite_header(good, 6), "version 6 not supported"),
        "bad shape": (encode(bad_shape), "b0.fc_in.scale' has shape"),
        "missing record": (encode(missing), "missing record 'b5.fc_out.bits'"),
        "nan": (encode(nan), "NaN"),
        "bad arch": (encode(bad_arch), "arch"),
        "labels": (encode(labels), "labels"),
        "paths": (encode(paths), "names 9 blocks"),
        "v2 paths": (encode(old_paths, version=2), "path 9"),
        "space in a name": (bytes(spaced), "non-printable record name"),
    }


def test_corrupt_files_raise_bifsmn_error_with_the_file_name(exported, tmp_path) -> None:
    good = exported["bifsmnv2"][1].read_bytes()
    for what, (data, msg) in _broken_files(good).items():
        path = tmp_path / f"{what.replace(' ', '_')}.bkws"
        path.write_bytes(data)
        with pytest.raises(BifsmnError) as info:
            Engine(path)
        text = str(info.value)
        assert str(path) in text and msg in text, (what, text)
        assert "\n" not in text
        # the Python reader agrees on the container-level defects
        if what in ("empty", "truncated header", "truncated payload", "bad magic", "bit flip",
                    "future version", "one byte long", "space in a name"):
            with pytest.raises(BifsmnError, match=msg.replace("?", r"\?")):
                read_file(path)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(BifsmnError, match="no such .bkws file"):
        Engine(tmp_path / "nope.bkws")
    for nothing in (None, 5):  # our message, not a TypeError from deep inside
        with pytest.raises(BifsmnError, match="needs the path of a .bkws file"):
            Engine(nothing)  # type: ignore[arg-type]


def test_not_a_regular_file_or_a_checkpoint_says_what_it_is(exported, tmp_path) -> None:
    """A folder, a device, a FIFO (never opened: it would block) and a .pt checkpoint given
    where a .bkws belongs each get a line saying what they are, not "no such file"/"bad magic"."""
    fifo = tmp_path / "pipe.bkws"
    os.mkfifo(fifo)
    cases = {tmp_path: "is a directory, not a .bkws file",
             Path("/dev/null"): "is a character device",
             fifo: "is a FIFO (named pipe), not a .bkws file",
             Path(exported["bifsmnv2"][0]): "PyTorch checkpoint, not a .bkws engine file: export"}
    for path, msg in cases.items():
        with pytest.raises(BifsmnError) as info:
            Engine(path)
        assert str(info.value).startswith(f"{path}: ") and msg in str(info.value), path
    with pytest.raises(BifsmnError, match=r"is a FIFO \(named pipe\), not a .bkws file"):
        read_file(fifo)  # the Python reader too


# --------------------------------------------------------------------------- export errors
def test_export_refusals(tmp_path) -> None:
    ref = make_checkpoint(tmp_path / "ref.pt", "bifsmnv2", granularity="reference")
    with pytest.raises(BifsmnError, match="granularity 'reference' is not exportable"):
        export_checkpoint(ref, tmp_path / "x.bkws")
    xnor = make_checkpoint(tmp_path / "xnor.pt", "bifsmnv2", method="xnor")
    with pytest.raises(BifsmnError, match="method 'xnor' is not exportable"):
        export_checkpoint(xnor, tmp_path / "x.bkws")
    teacher = make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher")
    with pytest.raises(BifsmnError, match="4 blocks not available"):
        export_checkpoint(teacher, tmp_path / "x.bkws", blocks=4)
    with pytest.raises(BifsmnError, match="blocks must be"):
        export_checkpoint(teacher, tmp_path / "x.bkws", blocks=3)
    assert not (tmp_path / "x.bkws").exists()


def test_export_errors_from_the_checkpoint_name_it(tmp_path) -> None:
    """Errors raised while building the file from a checkpoint's contents (its labels, its
    paths, its weights) name the checkpoint, as errors about reading it do."""
    ckpt = make_checkpoint(tmp_path / "s.pt", "bifsmnv2")
    data = torch.load(ckpt, weights_only=True)
    bad_labels = tmp_path / "labels.pt"
    torch.save({**data, "labels": ["a", "b"]}, bad_labels)
    nan = tmp_path / "nan.pt"
    weights = dict(data["state_dict"])
    name = next(k for k, v in weights.items() if k.endswith("running_var"))
    weights[name] = torch.full_like(weights[name], float("nan"))
    torch.save({**data, "state_dict": weights}, nan)
    for path, kw, msg in ((bad_labels, {}, "labels do not fit"), (ckpt, {"blocks": 3}, "blocks"),
                          (nan, {}, "non-finite")):
        with pytest.raises(BifsmnError) as info:
            export_checkpoint(path, tmp_path / "x.bkws", **kw)
        assert str(info.value).startswith(f"{path}: ") and msg in str(info.value), path
    assert not (tmp_path / "x.bkws").exists()


def test_export_is_atomic(exported, tmp_path) -> None:
    ckpt, _ = exported["bifsmn_v1"]
    out = tmp_path / "m.bkws"
    out.write_bytes(b"old")
    export_checkpoint(ckpt, out)
    assert out.read_bytes()[:4] == b"BKWS"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bkws"]  # no temp files left


def test_bifsmnv2_ste_exports_as_bifsmnv2(tmp_path, inputs) -> None:
    ckpt = make_checkpoint(tmp_path / "ste.pt", "bifsmnv2", method="bifsmnv2_ste", seed=5)
    out = export_checkpoint(ckpt, tmp_path / "ste.bkws", blocks=2)
    assert Engine(out).kind == "bifsmnv2"
    check_parity(ckpt, out, inputs[:6], TOL["exact"])


def test_other_dimensions(tmp_path) -> None:
    """Non-default widths and class counts go through the same code."""
    ckpt = make_checkpoint(tmp_path / "small.pt", "bifsmnv2", seed=7, num_classes=5,
                           dim=64, hidden=96, frontend_channels=8, num_layers=4)
    out = export_checkpoint(ckpt, tmp_path / "small.bkws")
    eng = Engine(out)
    assert eng.paths == [4, 2, 1] and eng.num_classes == 5  # block counts of 4 layers
    check_parity(ckpt, out, random_features(6, seed=8), TOL["exact"])


# --------------------------------------------------------------------------- Python API
def test_predict_shapes_and_audio(exported) -> None:
    _, bkws = exported["bifsmnv2"]
    eng = Engine(bkws, blocks=4)
    assert eng.blocks == 4 and eng.labels[0] == "word0" and eng.kernel in available_kernels()
    audio = synthetic_audio(3, seed=1)
    one = eng.predict(audio[0])
    batch = eng.predict(audio)
    assert one.shape == (12,) and batch.shape == (3, 12) and one.dtype == np.float32
    np.testing.assert_array_equal(one, batch[0])
    feats = eng.features(audio)
    np.testing.assert_array_equal(eng.predict(feats), batch)
    assert eng.predict(feats[0]).shape == (12,)
    # an empty batch, of features as of audio: no logits, no error
    assert eng.predict(feats[:0]).shape == (0, 12) and eng.predict(audio[:0]).shape == (0, 12)
    # shorter / longer clips are padded / cut like bifsmn.audio.fix_length
    np.testing.assert_array_equal(eng.predict(np.concatenate([audio[0], audio[1]])), one)
    short = audio[0][:9000]
    np.testing.assert_array_equal(eng.predict(short), eng.predict(np.pad(short, (0, 7000))))
    # a batch larger than any before grows the buffers; results do not depend on the batch
    big = np.repeat(audio, 7, axis=0)
    np.testing.assert_array_equal(eng.predict(big)[::7], batch)
    assert eng.classify(audio[0])[0][0] in eng.labels
    for bad in (np.zeros((2, 3, 4)), np.zeros((0,)), np.array([np.nan] * 100), "text"):
        with pytest.raises(BifsmnError):
            eng.predict(bad)
    with pytest.raises(BifsmnError, match="blocks not in this file"):
        Engine(exported["dfsmn_teacher"][1]).set_blocks(2)


def test_integer_pcm_and_channel_shaped_audio(exported) -> None:
    """int16 / int32 PCM means the audio it encodes (as Detector takes it), not raw values;
    (samples, channels) arrays and channel-less feature images are refused, not misread as
    batches."""
    _, bkws = exported["bifsmnv2"]
    eng = Engine(bkws)
    audio = np.clip(synthetic_audio(1, seed=3)[0], -1.0, 32767 / 32768)
    pcm16 = np.round(audio * 32768).astype(np.int16)
    as_float = pcm16.astype(np.float32) / 32768
    np.testing.assert_array_equal(eng.predict(pcm16), eng.predict(as_float))
    pcm32 = pcm16.astype(np.int32) * 65536
    np.testing.assert_array_equal(eng.predict(pcm32), eng.predict(as_float))
    np.testing.assert_array_equal(eng.features(pcm16[None]), eng.features(as_float[None]))
    pcm8 = (np.round(audio * 127) + 128).astype(np.uint8)  # 8-bit WAV: silence is 128
    np.testing.assert_array_equal(eng.predict(pcm8), eng.predict((pcm8 - 128.0) / 128.0))
    np.testing.assert_array_equal(eng.predict((pcm8.astype(np.int16) - 128).astype(np.int8)),
                                  eng.predict(pcm8))
    with pytest.raises(BifsmnError, match="magnitude"):  # unscaled PCM in a wider integer type
        eng.predict(pcm16.astype(np.int64))
    with pytest.raises(BifsmnError, match="samples, channels"):
        eng.predict(as_float[:, None])
    with pytest.raises(BifsmnError, match="without its channel axis"):
        eng.predict(eng.features(as_float)[0])


def test_frontend_matches_python_logmel(exported) -> None:
    """The C++ log-mel equals bifsmn.data.features.LogMel to float32 rounding: within 0.01 dB
    wherever the band holds energy (> -80 dB), and silence maps to the same -100 dB floor."""
    eng = Engine(exported["bifsmn_v1"][1])
    audio = np.concatenate([synthetic_audio(8, seed=11), np.zeros((1, 16000), np.float32),
                            (0.5 * np.random.default_rng(2).standard_normal((1, 16000)))
                            .astype(np.float32)])
    ours = eng.features(audio)
    ref = LogMel()(torch.from_numpy(audio)).numpy()
    mask = ref > -80
    assert mask.mean() > 0.5
    err = np.abs(ours - ref)
    assert err[mask].max() < 0.01, err[mask].max()
    assert err.max() < 1.0, err.max()  # near the floor both are float32 noise
    np.testing.assert_array_equal(ours[8], np.full((1, 32, 32), -100.0, np.float32))


# --------------------------------------------------------------------------- trained models
TRAINED = sorted((REPO / "models").glob("*.pt"))


def test_trained_checkpoints_are_committed() -> None:
    # an empty glob would collect zero parity cases below and pass silently: fail here instead
    assert len(TRAINED) >= 2, TRAINED
    assert REPO / "models" / "bifsmnv2_fbank40.pt" in TRAINED  # the bundled model's source


@pytest.mark.parametrize("ckpt", TRAINED, ids=[p.name for p in TRAINED])
def test_trained_checkpoint_parity(ckpt, tmp_path) -> None:
    from bifsmn.data.frontends import feature_config_from_dict, make_frontend
    from bifsmn.train.checkpoint import load_checkpoint

    audio = synthetic_audio(32, seed=21)
    fcfg = feature_config_from_dict(load_checkpoint(ckpt).get("features"))
    x = make_frontend(fcfg)(torch.from_numpy(audio)).float().numpy()  # the model's own front end
    out = export_checkpoint(ckpt, tmp_path / "m.bkws")
    eng = Engine(out)
    tol = TOL["exact"] if eng.is_binary else TOL["f32"]
    diffs = check_parity(ckpt, out, x, tol)
    print(f"{ckpt.name}: {out.stat().st_size} bytes, max |engine - torch| {diffs}")


def test_argument_errors_are_one_line(exported) -> None:
    # what nanobind would answer with a multi-line signature dump or std::bad_alloc, or C++
    # would take silently (runs=-1 timed nothing), is one BifsmnError naming the argument
    _, bkws = exported["bifsmnv2"]
    eng = Engine(bkws)
    w = np.zeros((1, 16000), np.float32)
    cases = [(lambda: eng.reserve(-1), "batch must be"), (lambda: eng.reserve(10**12), "batch"),
             (lambda: eng.stream_features(w, [0], None), "cache from Engine.frame_cache()"),
             (lambda: eng.time_calls(w, runs=-1), "runs must be"),
             (lambda: eng.time_frontend(w, warmup=-2), "warmup must be"),
             (lambda: Engine(bkws, blocks="x"), "blocks must be"),
             (lambda: eng.set_blocks(None), "blocks must be"),
             (lambda: eng.set_blocks(2.5), "blocks must be")]
    for call, message in cases:
        with pytest.raises(BifsmnError, match=message):
            call()
    eng.set_blocks(np.int64(eng.paths[-1]))  # numpy integers and whole floats still do
    eng.set_blocks(float(eng.paths[0]))
    assert eng.blocks == eng.paths[0]
