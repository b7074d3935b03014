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


def test_bad_bkws_files(models, tmp_path):
    _, bkws = models
    cut = tmp_path / "cut.bkws"
    cut.write_bytes(bkws.read_bytes()[:100])
    with pytest.raises(BifsmnError) as info:
        load_scorer(cut)
    assert "\n" not in str(info.value)
    with pytest.raises(BifsmnError, match="blocks"):
        load_scorer(bkws, blocks=5)
