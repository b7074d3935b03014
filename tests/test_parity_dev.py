"""Engine vs PyTorch on every clip of the shared dev data, for every committed model.

The shared dev data (``../shared/data/speech_commands_test12_v0.02`` beside the checkout, or
``$BIFSMN_DEV_DATA``) is not part of the repository; the test skips where it is absent. For each
``models/*.pt`` it exports a ``.bkws`` file, runs every thinnable path of the model on all clips
(training and validation lists) in the engine and in PyTorch eval mode, and requires the same
argmax on every clip and a bounded logit difference.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from bifsmn.data.cache import load_features
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.models.dfsmn import BLOCKS_TO_PATH
from bifsmn.train.checkpoint import model_from_checkpoint
from bifsmn.train.trainer import predict

REPO = Path(__file__).resolve().parents[1]
DEV = Path(os.environ.get("BIFSMN_DEV_DATA",
                          REPO.parent / "shared" / "data" / "speech_commands_test12_v0.02"))
MODELS = sorted((REPO / "models").glob("*.pt"))

pytestmark = pytest.mark.skipif(not DEV.is_dir(), reason=f"dev data not found at {DEV}")


@pytest.fixture(scope="module")
def dev_features(tmp_path_factory):
    ds = SpeechCommands(DEV, 12)
    feats = [load_features(ds, s, progress=False) for s in ("training", "validation")]
    return torch.cat([f for f, _ in feats]), torch.cat([y for _, y in feats])


@pytest.mark.parametrize("ckpt", MODELS, ids=[p.stem for p in MODELS])
def test_engine_matches_pytorch_on_all_dev_clips(ckpt, dev_features, tmp_path):
    from bifsmn.engine import Engine, export_checkpoint

    feats, _ = dev_features
    model, meta = model_from_checkpoint(ckpt)
    bkws = export_checkpoint(ckpt, tmp_path / "m.bkws")
    blocks = [8] if meta["model"]["name"] == "dfsmn_teacher" else [8, 4, 2, 1]
    x = feats.numpy().astype(np.float32)
    for b in blocks:
        ref = predict(model, feats, BLOCKS_TO_PATH[b]).numpy()
        got = Engine(bkws, blocks=b).predict(x)
        diff = np.abs(got - ref).max()
        flips = int((got.argmax(1) != ref.argmax(1)).sum())
        print(f"{ckpt.stem} {b} blocks: {len(x)} clips, argmax differs on {flips}, "
              f"max |logit diff| {diff:.2e}")
        assert flips == 0
        assert diff < 2e-2 * max(1.0, float(np.abs(ref).max()))
