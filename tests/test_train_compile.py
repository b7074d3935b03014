"""``train.compile=true``: the whole distillation objective compiled gives the eager run's numbers.

Why: compiling changes how the step is computed (fused kernels, another operation order), not
what it computes; a compiled run that drifted from the eager one would silently train another
model. One epoch of the BiFSMNv2 recipe (two thinnable paths of a 2-block model, FID from a
teacher, no dropout: compiled code draws other random numbers) on the CPU, both ways.
"""

from __future__ import annotations

import csv

import pytest
import torch

from bifsmn.engine.testing import make_checkpoint
from bifsmn.train.checkpoint import load_checkpoint
from bifsmn.train.config import config_from_dict
from bifsmn.train.trainer import Trainer


@pytest.mark.slow
def test_compiled_objective_matches_eager(full_ds, cache_dir, tmp_path):
    small = {"num_layers": 2, "hidden": 64, "dim": 32, "dropout": 0.0}  # compiles in ~1 min
    make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher", seed=1, **small)
    runs = {}
    for compiled in (False, True):
        cfg = config_from_dict({
            "model": {"name": "dfsmn_thinnable", "init": str(tmp_path / "t.pt"),
                      "kwargs": small},
            "data": {"root": str(full_ds), "batch_size": 16, "cache_dir": str(cache_dir),
                     "augment": False},
            "binary": {"method": "bifsmnv2"},
            "distill": {"kind": "fid", "teacher": str(tmp_path / "t.pt")},
            "train": {"epochs": 1, "device": "cpu", "threads": 1, "blocks": [2, 1],
                      "path_weights": [1.0, 0.5], "plot_every": 0,
                      "compile": compiled}})
        trainer = Trainer(cfg, tmp_path / f"run{compiled}", progress=False)
        trainer.fit()
        # the compiled run really stepped through a compiled objective
        assert (trainer.step_objective is trainer.objective) != compiled
        with (tmp_path / f"run{compiled}" / "metrics.csv").open() as f:
            runs[compiled] = (next(csv.DictReader(f)),
                              load_checkpoint(tmp_path / f"run{compiled}" / "last.pt"))
    (m0, c0), (m1, c1) = runs[False], runs[True]
    assert float(m1["train_loss"]) == pytest.approx(float(m0["train_loss"]), rel=1e-4)
    for k, v in c0["state_dict"].items():
        if v.is_floating_point():
            w = c1["state_dict"][k]
            assert torch.allclose(w, v, rtol=1e-3, atol=1e-4 * float(v.abs().max()) + 1e-6), k
