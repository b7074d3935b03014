"""Training, evaluation and export with the model on a GPU (CUDA cases skipped where absent).

Evaluation of a binary student runs the deployed arithmetic (:mod:`bifsmn.deploy`), folded
from a CPU copy of the model; on a GPU it must leave the model where it is and give the same
logits bit for bit.
"""

from __future__ import annotations

import pytest
import torch

from bifsmn.deploy import predict
from bifsmn.engine.testing import make_checkpoint
from bifsmn.train.checkpoint import model_from_checkpoint


def test_binary_student_evaluates_on_every_device(device, tmp_path):
    make_checkpoint(tmp_path / "s.pt", "bifsmnv2", seed=3)
    model, _ = model_from_checkpoint(tmp_path / "s.pt")
    x = torch.randn(4, 1, 32, 32)
    want = predict(model, x, 8)
    model.to(device)
    got = predict(model, x.to(device), 8)
    assert torch.equal(got, want)  # the same deployed arithmetic, bit for bit
    assert next(model.parameters()).device.type == device  # the model stayed where it was


def test_student_trains_and_validates_on_every_device(device, full_ds, cache_dir, tmp_path):
    """One epoch of the BiFSMNv2 recipe (four paths, FID from a teacher) on each available
    device, through the objective the CLI builds (until session 69 this test passed no
    objective factory, so it trained the plain supervised loss and never distilled on a GPU);
    validation scores the deployed form folded from a CPU copy, and the checkpoints hold CPU
    tensors (a GPU run's opened with plain ``torch.load(weights_only=True)`` anywhere)."""
    from bifsmn.data.labels import LABELS_12
    from bifsmn.train.checkpoint import load_checkpoint, save_checkpoint
    from bifsmn.train.config import config_from_dict
    from bifsmn.train.runner import make_distill_objective
    from bifsmn.train.trainer import Trainer

    make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher", seed=1)
    teacher = load_checkpoint(tmp_path / "t.pt")  # a teacher of the student's 12 classes
    save_checkpoint(tmp_path / "t.pt", {**teacher, "labels": list(LABELS_12)})
    cfg = config_from_dict({
        "model": {"name": "dfsmn_thinnable", "init": str(tmp_path / "t.pt")},
        "data": {"root": str(full_ds), "batch_size": 16, "cache_dir": str(cache_dir)},
        "binary": {"method": "bifsmnv2"},
        "distill": {"kind": "fid", "teacher": str(tmp_path / "t.pt")},
        "train": {"epochs": 1, "device": device, "blocks": [8, 4, 2, 1],
                  "path_weights": [1.0, 0.5, 0.25, 0.125], "plot_every": 0},
    })
    trainer = Trainer(cfg, tmp_path / "run", progress=False,
                      objective_factory=make_distill_objective)
    summary = trainer.fit()
    assert type(trainer.objective).__name__ != "Supervised"  # the teacher was distilled from
    assert 0.0 <= summary["best_val_acc"] <= 1.0
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0]
    assert all(f"val_acc_{b}" in header for b in (8, 4, 2, 1))

    def devices(obj):
        if isinstance(obj, torch.Tensor):
            yield obj.device.type
        elif isinstance(obj, dict):
            for v in obj.values():
                yield from devices(v)
        elif isinstance(obj, list | tuple):
            for v in obj:
                yield from devices(v)

    for name in ("best.pt", "last.pt"):
        saved = torch.load(tmp_path / "run" / name, weights_only=True)  # no map_location
        assert set(devices(saved)) == {"cpu"}, name


@pytest.mark.parametrize("device,world,local,gpus,want", [
    ("cpu", 2, 2, 0, "gloo"), ("cuda", 2, 2, 2, "nccl"), ("cuda", 4, 4, 2, "gloo"),
    ("cuda", 8, 2, 2, "nccl"), ("cuda", 1, 1, 1, "gloo")])
def test_ddp_backend_needs_a_gpu_per_rank(monkeypatch, device, world, local, gpus, want):
    from bifsmn.train.distributed import ddp_backend

    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    assert ddp_backend(torch.device(device), world, local) == want
    # an explicit cuda:N puts every rank on that GPU: never NCCL
    assert ddp_backend(torch.device(device), world, local, pinned=True) == "gloo"
