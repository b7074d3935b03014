"""What the Python API does with inputs a notebook or service user hands it (session 71's audit).

Every case here once gave a wrong answer without an error or a raw traceback: PCM bytes in a
``bytearray`` read as 8-bit audio, big-endian int16 taken as float samples, one ``Detector``
fed from two threads interleaving two streams, ``gate=False`` accepted until the first audio, a
bool taken as a block count, a feature image scored as a batch of 32-sample clips, a ``.onnx``
name given a ``.bkws`` file, and string or None arguments failing deep inside.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from bifsmn.detect import Detector, load_scorer, sliding_posteriors
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.testing import make_checkpoint, synthetic_audio
from bifsmn.errors import BifsmnError


@pytest.fixture(scope="module")
def bkws(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("api")
    return export_checkpoint(make_checkpoint(root / "m.pt", "bifsmnv2", seed=5), root / "m.bkws")


@pytest.fixture(scope="module")
def clip16() -> np.ndarray:
    """Three seconds of int16 PCM (a synthetic clip between two silences)."""
    x = np.concatenate([np.zeros(16000), synthetic_audio(1, seed=2)[0], np.zeros(16000)])
    return np.round(np.clip(x, -1, 1) * 20000).astype(np.int16)


def test_raw_pcm_bytes_are_refused_not_read_as_8_bit_audio(bkws, clip16):
    eng, det = Engine(bkws), Detector(bkws, threshold=0.5)
    for buf in (clip16.tobytes(), bytearray(clip16.tobytes()), memoryview(clip16.tobytes())):
        with pytest.raises(BifsmnError, match=r"np.frombuffer\(buf, '<i2'\)"):
            eng.predict(buf)
        with pytest.raises(BifsmnError, match="not samples"):
            det.process(buf)
    # the advice works: the same bytes as numbers are the int16 clip, and so is a typed view
    wrapped = np.frombuffer(bytearray(clip16.tobytes()), "<i2")
    np.testing.assert_array_equal(eng.predict(wrapped), eng.predict(clip16))
    np.testing.assert_array_equal(eng.predict(memoryview(clip16.tobytes()).cast("h")),
                                  eng.predict(clip16))
    with pytest.raises(BifsmnError, match="a str .*detect_file"):
        det.process("recording.wav")
    import ctypes

    raw = (ctypes.c_ubyte * 64)()  # a ctypes byte buffer: format "<B", one byte per item
    with pytest.raises(BifsmnError, match="of bytes, not samples"):
        eng.predict(memoryview(raw))


def test_big_endian_pcm_is_the_same_audio(bkws, clip16):
    quiet = (clip16 // 64).astype(np.int16)  # peak ~-36 dBFS: as floats it would pass the checks
    big = quiet.astype(">i2")
    assert big.dtype != np.int16 and np.array_equal(big, quiet)
    eng = Engine(bkws)
    np.testing.assert_array_equal(eng.predict(big), eng.predict(quiet))
    scorer = load_scorer(bkws)
    a = sliding_posteriors(scorer, big, 1600)
    b = sliding_posteriors(scorer, quiet, 1600)
    np.testing.assert_array_equal(a.probs, b.probs)


def test_torch_tensors_with_grad_or_half_precision_and_ragged_lists(bkws, clip16):
    eng = Engine(bkws)
    x = torch.from_numpy(clip16[:16000].astype(np.float32) / 32768)
    want = eng.predict(x.numpy())
    np.testing.assert_array_equal(eng.predict(x.clone().requires_grad_()), want)
    half = x.bfloat16()
    np.testing.assert_array_equal(eng.predict(half), eng.predict(half.float().numpy()))
    for ragged in ([[0.1, 0.2], [0.3]], [x.clone().requires_grad_(), x.clone()]):
        with pytest.raises(BifsmnError, match="not an array of numbers"):
            eng.predict(ragged)


def test_a_detector_in_use_refuses_a_second_thread(bkws, clip16):
    det = Detector(bkws, threshold=0.5)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # another thread in the middle of a call
        with det._exclusive():
            held.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(30)
        for call in (lambda: det.process(clip16), det.flush, det.reset,
                     lambda: det.detect_array(clip16)):
            with pytest.raises(BifsmnError, match=r"in use \(by another thread"):
                call()
    finally:
        release.set()
        t.join()
    # once free, the same detector runs, and equals a fresh one
    assert det.detect_array(clip16) == Detector(bkws, threshold=0.5).detect_array(clip16)


def test_iter_file_holds_the_detector_until_its_file_ends(bkws, clip16, tmp_path):
    import soundfile as sf

    wav = tmp_path / "a.wav"
    sf.write(wav, np.tile(clip16, 4), 16000, subtype="PCM_16")
    det = Detector(bkws, threshold=0.5)
    blocks = det.iter_file(wav, block_seconds=1.0)
    next(blocks)  # mid-file: another stream fed now would be interleaved with this one
    with pytest.raises(BifsmnError, match="in use"):
        det.process(clip16)
    with pytest.raises(BifsmnError, match="in use"):
        det.detect_array(clip16)
    det.set_threshold(det.keywords[0], 0.5)  # settings may change between blocks
    blocks.close()  # an abandoned file frees the detector
    assert det.detect_file(wav) == Detector(bkws, threshold=0.5).detect_file(wav)


@pytest.mark.parametrize("gate", [False, 0, {"floor_db": -60.0}, "none"])
def test_a_gate_that_is_no_gate_is_refused_when_the_detector_is_built(bkws, gate):
    with pytest.raises(BifsmnError, match="gate must be a Gate, None or 'model'"):
        Detector(bkws, threshold=0.5, gate=gate)


def test_block_counts_numpy_integers_yes_bools_no(bkws, clip16):
    for bad in (True, np.bool_(True), torch.tensor(True)):
        with pytest.raises(BifsmnError, match="blocks"):
            Engine(bkws, blocks=bad)
        with pytest.raises(BifsmnError, match="blocks"):
            Engine(bkws).set_blocks(bad)
        with pytest.raises(BifsmnError, match="blocks"):
            Detector(bkws, blocks=bad, threshold=0.5)
    det = Detector(bkws, blocks=np.int64(2), threshold=0.5)
    assert det.blocks == 2 and type(det.blocks) is int
    ref = sliding_posteriors(load_scorer(bkws, 2), clip16, 1600).probs
    np.testing.assert_array_equal(
        sliding_posteriors(load_scorer(bkws, np.int64(2)), clip16, 1600).probs, ref)


@pytest.mark.parametrize("kwargs, match", [
    ({"threshold": "0.5"}, "threshold must be a number, not '0.5'"),
    ({"threshold": 0.5, "thresholds": {"yes": None}}, r"thresholds\['yes'\] must be a number"),
    ({"threshold": 0.5, "thresholds": [("yes", 0.5)]}, "thresholds must map keywords"),
    ({"threshold": 0.5, "smooth_ms": "500"}, "smooth_ms must be a number"),
    ({"threshold": 0.5, "refractory_ms": None, "hop_ms": "100"}, "hop_ms must be a number"),
])
def test_detector_arguments_of_the_wrong_type_are_one_line_errors(bkws, kwargs, match):
    with pytest.raises(BifsmnError, match=match):
        Detector(bkws, **kwargs)


def test_detector_numbers_of_any_numeric_type(bkws):
    from decimal import Decimal
    from fractions import Fraction

    want = Detector(bkws, threshold=0.5, smooth_ms=300).thresholds
    for t in (np.float32(0.5), np.array(0.5), torch.tensor(0.5), Decimal("0.5"), Fraction(1, 2)):
        det = Detector(bkws, threshold=t, smooth_ms=np.int64(300))
        assert det.thresholds == want
    for bad in (np.array([0.5]), np.True_, np.complex64(0.5), 0.5j, 10**400):
        with pytest.raises(BifsmnError, match="threshold must be a number"):
            Detector(bkws, threshold=bad)


def test_detector_setters_and_ignore_none(bkws):
    det = Detector(bkws, threshold=0.5, ignore=None)  # None: nothing beyond the non-keywords
    assert det.keywords == Detector(bkws, threshold=0.5).keywords
    with pytest.raises(BifsmnError, match="threshold must be a number"):
        det.set_threshold("yes", None)  # type: ignore[arg-type]
    with pytest.raises(BifsmnError, match="ms must be a number"):
        det.set_smoothing("yes", "200")  # type: ignore[arg-type]


def test_stream_helpers_refuse_bad_hops_and_block_lengths(bkws, clip16, tmp_path):
    import soundfile as sf

    scorer = load_scorer(bkws)
    for hop in (0, -1600, 16001, 1600.5, True):
        with pytest.raises(BifsmnError, match="hop must be 1..16000 samples"):
            sliding_posteriors(scorer, clip16, hop)
    wav = tmp_path / "a.wav"
    sf.write(wav, clip16, 16000, subtype="PCM_16")
    det = Detector(bkws, threshold=0.5)
    for secs in (float("nan"), 0, -1, float("inf"), "10"):
        with pytest.raises(BifsmnError, match="block_seconds must be a positive number"):
            det.detect_file(wav, block_seconds=secs)  # type: ignore[arg-type]
    assert det.detect_file(wav, block_seconds=0.37) == det.detect_array(clip16)


def test_a_feature_image_without_its_channel_axis_is_not_a_batch_of_clips(bkws, clip16):
    eng = Engine(bkws)
    image = eng.features(clip16[:16000].astype(np.float32) / 32768)[0]  # (32, 32)
    for wrong in (np.zeros((40, 32), np.float32), np.zeros((40, 96), np.float32),
                  np.zeros((98, 40), np.float32), np.zeros((32, 40), np.float32)):
        with pytest.raises(BifsmnError, match="looks like a feature image"):
            eng.predict(wrong)
    with pytest.raises(BifsmnError, match="without its channel axis"):
        eng.predict(image[0] if image.ndim == 3 else image)
    # short clips stay audio, one or several
    short = clip16[16000:16400].astype(np.float32) / 32768
    np.testing.assert_array_equal(eng.predict(short[None])[0], eng.predict(short))
    assert eng.predict(np.zeros((2, 300), np.float32)).shape == (2, eng.num_classes)


def test_export_checkpoint_refuses_an_onnx_name(tmp_path):
    from bifsmn.engine.export import check_export_output

    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=1)
    with pytest.raises(BifsmnError, match="bifsmn.export_onnx"):
        export_checkpoint(ckpt, tmp_path / "model.ONNX")
    assert not (tmp_path / "model.ONNX").exists()
    with pytest.raises(BifsmnError, match="bifsmn.export_onnx"):  # before slow work too
        check_export_output(ckpt, tmp_path / "m.onnx")
