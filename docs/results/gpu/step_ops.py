"""Time and count the ATen ops of one BiFSMNv2 training step on the CPU (1 thread).

Why: on the GPU the student's step is launch-bound (docs/results/gpu/README.md), so the number
of ops a step dispatches is the figure that compiling has to cut; the CPU shows it without a
GPU. One step = the at-scale recipe's objective (student's four paths, FID from the 60-epoch
teacher, logit MSE, cross-entropy), backward and AdamW, on a random batch of 128 fbank40 inputs.

    python docs/results/gpu/step_ops.py eager   # nothing compiled
    python docs/results/gpu/step_ops.py net     # train.compile=true: the student compiled
    python docs/results/gpu/step_ops.py whole   # the whole objective compiled (teacher, FID)
"""

import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

from bifsmn.distill.objective import make_distill_objective
from bifsmn.train.checkpoint import model_from_checkpoint
from bifsmn.train.config import load_config, resolve_config, set_teacher
from bifsmn.train.optim import build_optimizer


def main(mode: str) -> None:
    torch.set_num_threads(1)
    cfg = load_config(resolve_config("bifsmnv2_fbank40"), [])
    set_teacher(cfg, "models/teacher_fbank40_60.pt")
    model, _ = model_from_checkpoint("models/bifsmnv2_fbank40.pt")
    model.train()
    objective = make_distill_objective(cfg, torch.device("cpu"))
    opt = build_optimizer(model, cfg.optim)
    x, y = torch.randn(128, 1, 40, 32), torch.randint(0, 12, (128,))
    net, call = model, objective
    if mode == "net":
        net = torch.compile(model)
    elif mode == "whole":
        call = torch.compile(lambda m, a, b: objective(m, a, b))

    def step() -> float:
        loss, _ = call(net, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    t = time.perf_counter()
    step()
    print(f"{mode}: first step (with compilation) {time.perf_counter() - t:.1f} s")
    step()
    t = time.perf_counter()
    for _ in range(6):
        step()
    print(f"{mode}: {(time.perf_counter() - t) / 6 * 1000:.1f} ms per step")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    ops = sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))
    print(f"{mode}: {ops} ATen ops per step")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "eager")
