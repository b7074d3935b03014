"""Engine vs PyTorch on every clip of the shared dev data, for every committed model (through
the model's own front end: log-mel 32x32, or fbank40 for the at-scale models).

The shared dev data (``../shared/data/speech_commands_test12_v0.02`` beside the checkout, or
``$BIFSMN_DEV_DATA``) is not part of the repository; the test skips where it is absent. For each
``models/*.pt`` it exports a ``.bkws`` file, runs every thinnable path of the model on all clips
(training and validation lists) in the engine and in PyTorch (the deployed reference for
binary models).

Every model must give the same argmax on every clip. Binary models are evaluated by PyTorch in
the deployed arithmetic (bifsmn.deploy), which the engine reproduces operation for
operation, so their logits must be equal (bit-identical in practice; the bound leaves room for
the float64 classifier's last-bit rounding). Full-precision models agree to float32 rounding.
The training graph's own eval arithmetic, which rounds differently, is compared too on the
8-block path and its disagreement printed (for the record: it flips a sign wherever a
pre-activation lies within float32 rounding of a threshold).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from bifsmn.blocks import to_index
from bifsmn.data.frontends import feature_config_from_dict, feature_kind
from bifsmn.data.sources import split_inputs
from bifsmn.deploy.scoring import predict_paths
from bifsmn.train.checkpoint import model_from_checkpoint

REPO = Path(__file__).resolve().parents[1]
DEV = Path(os.environ.get("BIFSMN_DEV_DATA",
                          REPO.parent / "shared" / "data" / "speech_commands_test12_v0.02"))
MODELS = sorted((REPO / "models").glob("*.pt"))

pytestmark = pytest.mark.skipif(not DEV.is_dir(), reason=f"dev data not found at {DEV}")


_FEATS: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def dev_features(cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """All dev clips through the model's own front end (log-mel 32x32 or fbank40 at the
    model's pool), computed once per distinct feature configuration."""
    key = f"{feature_kind(cfg)} {cfg.to_dict()}"
    if key not in _FEATS:
        parts = [split_inputs(DEV, s, cfg)[:2] for s in ("training", "validation")]
        _FEATS[key] = (torch.cat([f for f, _ in parts]), torch.cat([y for _, y in parts]))
    return _FEATS[key]


def test_models_folder_holds_checkpoints():
    # an empty glob would collect zero cases below and pass silently: fail here instead
    assert len(MODELS) >= 2, MODELS


@pytest.mark.parametrize("ckpt", MODELS, ids=[p.stem for p in MODELS])
def test_engine_matches_pytorch_on_all_dev_clips(ckpt, tmp_path):
    from bifsmn.engine import Engine, export_checkpoint

    model, meta = model_from_checkpoint(ckpt)
    feats, _ = dev_features(feature_config_from_dict(meta.get("features")))
    bkws = export_checkpoint(ckpt, tmp_path / "m.bkws")
    blocks = [8] if meta["model"]["name"] == "dfsmn_teacher" else [8, 4, 2, 1]
    x = feats.numpy().astype(np.float32)
    binary = meta.get("binary", {}).get("method", "none") != "none"
    refs = predict_paths(model, feats, blocks)  # folded once for every path
    for b in blocks:
        ref = refs[b].numpy()
        got = Engine(bkws, blocks=b).predict(x)
        per_clip = np.abs(got - ref).max(1)
        flips = int((got.argmax(1) != ref.argmax(1)).sum())
        line = (f"{ckpt.stem} {b} blocks: {len(x)} clips, argmax differs on {flips}, "
                f"max |logit diff| {per_clip.max():.2e}")
        if binary and b == 8:  # informational only, so one path: keeps the suite in budget
            with torch.no_grad():
                graph = torch.cat([model(feats[i:i + 512], path=to_index(b),
                                         return_features=True)[0]
                                   for i in range(0, len(feats), 512)]).numpy()
            line += (f"; training-graph arithmetic differs from it on "
                     f"{int((graph.argmax(1) != ref.argmax(1)).sum())} clips")
        print(line)
        assert flips == 0
        bound = 1e-6 if binary else 1e-3
        assert per_clip.max() <= bound * max(1.0, float(np.abs(ref).max()))
