"""``train.compile=true`` in the real training loop: the whole objective compiled vs the student
compiled alone (what the option did before session 7), on the CPU.

Why: ``step_ops.py`` times one step on a random batch; this runs the trainer itself (data
thread, augmentation, the partial last batch that makes the compiled graphs recompile) on the
at-scale recipe for three epochs of 12,850 training items (``data.limit_train``; the first items
of the list, so validation accuracy is meaningless here) and reports the model time per epoch.

    python docs/results/gpu/compile_ab.py whole     # what train.compile=true does now
    python docs/results/gpu/compile_ab.py net       # the student compiled alone
    cut -d, -f1,9- /tmp/compile_ab_whole/metrics.csv
"""

from __future__ import annotations

import sys

import torch

from bifsmn.distill.objective import make_distill_objective
from bifsmn.train.config import load_config, resolve_config, set_teacher
from bifsmn.train.trainer import Trainer

OVERRIDES = ["data.root=../shared/data/speech_commands_v0.02_fbank40",
             "data.negatives=[../shared/data/picovoice_wake_words]", "train.threads=1",
             "train.compile=true", "data.limit_train=12850", "train.epochs=3",
             "train.plot_every=0"]


def main(mode: str) -> None:
    build = Trainer._model

    def model_then_mode(self: Trainer) -> None:
        build(self)
        if mode == "net":  # the student compiled alone, the objective eager
            self.net = torch.compile(self.model)
            self.step_objective = self.objective

    Trainer._model = model_then_mode
    cfg = load_config(resolve_config("bifsmnv2_fbank40"), OVERRIDES)
    set_teacher(cfg, "models/teacher_fbank40_60.pt")
    Trainer(cfg, f"/tmp/compile_ab_{mode}", progress=False,
            objective_factory=make_distill_objective).fit()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "whole")
