"""The native-engine backend (``.bkws``): same scores and events as PyTorch.

Skipped where the C++ engine is not built (``bifsmn.engine`` missing or its extension absent).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_detect_support import tiny_checkpoint, tone_stream

from bifsmn.detect import Detector, EngineScorer, TorchScorer, load_scorer
from bifsmn.detect.stream import sliding_posteriors
from bifsmn.errors import BifsmnError

pytest.importorskip("bifsmn.engine._engine")  # skip only where the extension is not built

from bifsmn.engine import export_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("engine")
    ckpt = tiny_checkpoint(root)
    return ckpt, export_checkpoint(ckpt, root / "tiny.bkws")


@pytest.mark.parametrize("blocks", [8, 4, 2, 1])
def test_engine_scores_match_torch(models, blocks):
    ckpt, bkws = models
    eng = load_scorer(bkws, blocks)
    ref = load_scorer(ckpt, blocks)
    assert isinstance(eng, EngineScorer) and isinstance(ref, TorchScorer)
    assert eng.labels == ref.labels and eng.feature_config == ref.feature_config
    x = tone_stream([("yes", 0.3), ("no", 1.6)], 2.7, seed=5)
    a = sliding_posteriors(eng, x, 1600)
    b = sliding_posteriors(ref, x, 1600)
    np.testing.assert_array_equal(a.ends, b.ends)
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-4)


def test_engine_detector(models, tmp_path):
    ckpt, bkws = models
    x = tone_stream([("up", 0.4), ("right", 2.5)], 4.0, seed=6)
    events = {}
    for model in (ckpt, bkws):
        det = Detector(model, threshold=0.6, rearm=True)
        events[model] = det.process(x) + det.flush()
    assert [e.label for e in events[bkws]] == [e.label for e in events[ckpt]] == ["up", "right"]
    for a, b in zip(events[bkws], events[ckpt], strict=True):
        assert a.end == pytest.approx(b.end, abs=0.11)


def test_dropped_detectors_free_their_engines_at_once(models):
    """A dropped detector frees its engines by reference counting alone: no reference cycle
    (a scorer holding its own bound method) leaves them to the cyclic collector, which cannot
    see their native memory, so a service building a detector per request grew by MBs each
    time until a rare full collection (session 70). The logmel32 file runs the Python front
    end, the bundled fbank40 one the engine's."""
    import gc
    import weakref

    from bifsmn.detect.scorer import bundled_model

    gc.collect()
    gc.disable()
    try:
        for model in (models[1], bundled_model()):
            det = Detector(model, verifier=None)
            det.detect_array(tone_stream([("yes", 0.3)], 1.5, seed=2))
            engine = weakref.ref(det.scorer.engine)
            del det
            assert engine() is None, model
    finally:
        gc.enable()


def test_detector_runs_the_path_its_scorer_or_file_has(models, tmp_path):
    """A Scorer object runs its own path and its point is that path's (a 2-block scorer took
    the 8-block thresholds); a file exported with one path runs it without ``blocks``."""
    from bifsmn.detect.scorer import bundled_model

    s = EngineScorer(bundled_model(), 2)
    a, b = Detector(s, verifier=None), Detector(blocks=2, verifier=None)
    assert a.blocks == b.blocks == 2 and a.thresholds == b.thresholds
    assert a.operating_point == b.operating_point and a.smooth_for == b.smooth_for
    assert Detector(verifier=None).blocks == 8  # the deepest path by default
    with pytest.raises(BifsmnError, match="runs 2 blocks, not blocks=8"):
        Detector(s, blocks=8, verifier=None)
    ckpt, _ = models
    only2 = export_checkpoint(ckpt, tmp_path / "only2.bkws", blocks=2)
    det = Detector(only2, threshold=0.5)
    assert det.blocks == 2 and det.scorer.blocks == 2
    # eval-stream and calibrate without --blocks take the same path (they asked for 8)
    from bifsmn.detect.scorer import scorers_for_blocks

    assert [b for b, _ in scorers_for_blocks(only2, None)] == [2]
    assert [b for b, _ in scorers_for_blocks(ckpt, None)] == [8]


def test_engines_and_detectors_pickle(models, tmp_path):
    """An Engine pickles as its file's bytes, a Detector as what it was built as (with its
    current thresholds), so either can go to a spawned worker; both gave a raw TypeError."""
    import copy
    import pickle

    from bifsmn.engine import Engine

    ckpt, bkws = models
    x = tone_stream([("up", 0.4), ("right", 2.5)], 4.0, seed=6)
    eng = Engine(bkws, 2)
    for other in (pickle.loads(pickle.dumps(eng)), copy.deepcopy(eng)):
        assert other.blocks == 2 and other.path == str(bkws)
        np.testing.assert_array_equal(other.predict(x[:16000]), eng.predict(x[:16000]))
    det = Detector(bkws, threshold=0.6, rearm=True)
    det.set_threshold("up", 0.7)
    again = pickle.loads(pickle.dumps(det))
    assert again.thresholds == det.thresholds and again.blocks == det.blocks
    assert again.detect_array(x) == det.detect_array(x)
    # a model given as a file is read again where it is unpickled; given as a scorer object
    # it travels as the engine's bytes
    held = pickle.dumps(Detector(EngineScorer(bkws, 8), threshold=0.6))
    copy_path = tmp_path / "copy.bkws"
    copy_path.write_bytes(bkws.read_bytes())
    by_path = pickle.dumps(Detector(copy_path, threshold=0.6))
    copy_path.unlink()
    assert pickle.loads(held).detect_array(x) == Detector(bkws, threshold=0.6).detect_array(x)
    with pytest.raises(BifsmnError, match="not found|does not exist|no such"):
        pickle.loads(by_path)
    bundled = pickle.loads(pickle.dumps(Detector()))  # the two-stage default
    assert bundled.verifier is not None and bundled.threshold_source == \
        Detector().threshold_source
    moved = tmp_path / "gone.bkws"  # the file changed since loading: said, not wrong weights
    moved.write_bytes(bkws.read_bytes())
    e2 = Engine(moved)
    from bifsmn.engine.format import decode, encode, make_record

    recs = decode(moved.read_bytes())  # another model of the same size, moved over it
    w = recs["classifier.w"]
    flipped = -np.frombuffer(w.data, np.float32).reshape(w.shape)
    other = tmp_path / "other.bkws"
    other.write_bytes(encode([r if r.name != w.name else make_record(w.name, flipped, "f32")
                              for r in recs.values()]))
    assert other.stat().st_size == moved.stat().st_size
    held = pickle.dumps(Detector(moved, threshold=0.5))  # built on the first contents
    other.replace(moved)
    with pytest.raises(BifsmnError, match="changed since it was loaded"):
        pickle.dumps(e2)
    with pytest.raises(BifsmnError, match="model file changed since the detector was built"):
        pickle.loads(held)


def test_bad_bkws_files(models, tmp_path):
    _, bkws = models
    cut = tmp_path / "cut.bkws"
    cut.write_bytes(bkws.read_bytes()[:100])
    with pytest.raises(BifsmnError) as info:
        load_scorer(cut)
    assert "\n" not in str(info.value)
    with pytest.raises(BifsmnError, match="blocks"):
        load_scorer(bkws, blocks=5)
