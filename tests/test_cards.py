"""Publishing a run as a committed model with its card."""

from __future__ import annotations

from bifsmn.cards import publish
from bifsmn.train.checkpoint import load_checkpoint, model_from_checkpoint
from bifsmn.train.config import config_from_dict
from bifsmn.train.trainer import Trainer


def test_publish_writes_model_and_card(full_ds, cache_dir, tmp_path):
    cfg = config_from_dict({"data": {"root": str(full_ds), "batch_size": 16,
                                     "cache_dir": str(cache_dir)},
                            "train": {"epochs": 1, "threads": 1, "seed": 3}})
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    out = publish(tmp_path / "run", "teacher_tiny", "bifsmn train --config teacher",
                  dest=tmp_path / "models")
    card = (tmp_path / "models" / "teacher_tiny.md").read_text()
    assert "bifsmn train --config teacher" in card and "| seed | 3 |" in card
    assert "validation accuracy" in card and "1 thread" in card
    ckpt = load_checkpoint(out)
    assert "optimizer" not in ckpt and "history" not in ckpt
    model, _ = model_from_checkpoint(out)
    assert sum(p.numel() for p in model.parameters()) == 600_252
