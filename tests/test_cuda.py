"""Training, evaluation and export with the model on a GPU (skipped where CUDA is absent).

The binary student's eval forward runs the deployed arithmetic, which is folded from numpy
records on the CPU; on a GPU it must fold a CPU copy and return logits on the input's device.
"""

from __future__ import annotations

import pytest
import torch

from bifsmn.engine.testing import make_checkpoint
from bifsmn.train.checkpoint import model_from_checkpoint

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_binary_student_evaluates_on_every_device(device, tmp_path):
    make_checkpoint(tmp_path / "s.pt", "bifsmnv2", seed=3)
    model, _ = model_from_checkpoint(tmp_path / "s.pt")
    x = torch.randn(4, 1, 32, 32)
    model.eval()
    want = model(x, path=0)
    model.to(device)
    got = model(x.to(device), path=0)
    assert got.device.type == device
    assert torch.equal(got.cpu(), want)  # the same deployed arithmetic, bit for bit
    assert next(model.parameters()).device.type == device  # the model stayed where it was


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_student_trains_on_cuda(full_ds, cache_dir, tmp_path):
    from bifsmn.train.config import config_from_dict
    from bifsmn.train.trainer import Trainer

    make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher", seed=1)
    cfg = config_from_dict({
        "model": {"name": "dfsmn_thinnable", "init": str(tmp_path / "t.pt")},
        "data": {"root": str(full_ds), "batch_size": 16, "cache_dir": str(cache_dir)},
        "binary": {"method": "bifsmnv2"},
        "distill": {"kind": "fid", "teacher": str(tmp_path / "t.pt")},
        "train": {"epochs": 1, "device": "cuda", "paths": [0, 1, 2, 3],
                  "path_weights": [1.0, 0.5, 0.25, 0.125], "plot_every": 0},
    })
    summary = Trainer(cfg, tmp_path / "run", progress=False).fit()
    assert 0.0 <= summary["best_val_acc"] <= 1.0
