"""Where a run trains: the device ``train.device`` names and, under ``torchrun``, this
process's rank, its GPU and the process group's backend.

Kept apart from the training loop so the rules (which GPU a rank takes, when NCCL can be
used) read and test on their own, without data or a model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


def pick_device(name: str) -> torch.device:
    """``train.device``: ``auto`` is the GPU where there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class DistInfo:
    """This process's place in a run: rank ``rank`` of ``world`` processes."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def rank_device(device: torch.device) -> torch.device:
    """Under ``torchrun`` with CUDA, this rank's GPU: ``cuda:(LOCAL_RANK % GPUs)`` (one GPU per
    rank where there are enough; ranks share GPUs otherwise, over gloo). Unchanged for a single
    process, an explicit ``cuda:N`` or the CPU."""
    if device.type != "cuda" or device.index is not None \
            or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    index = int(os.environ.get("LOCAL_RANK", "0")) % max(1, torch.cuda.device_count())
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def ddp_backend(device: torch.device, world: int, local_world: int | None = None,
                pinned: bool = False) -> str:
    """``nccl`` only when the model is on CUDA and each of the ``local_world`` ranks on this
    machine has a GPU of its own (NCCL refuses two ranks on one GPU); ``gloo`` otherwise
    (CPU training, more ranks than GPUs, or ``pinned``: an explicit ``train.device=cuda:N``,
    which puts every rank on that one GPU)."""
    if device.type != "cuda" or world <= 1 or pinned:
        return "gloo"
    local = world if local_world is None else local_world
    return "nccl" if torch.cuda.device_count() >= local else "gloo"


def init_distributed(device: torch.device, pinned: bool = False) -> DistInfo:
    """This process's rank and the world size under ``torchrun`` (the process group started
    on :func:`ddp_backend`'s backend); rank 0 of 1 otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
        dist.init_process_group(ddp_backend(device, world, local, pinned))
    return DistInfo(dist.get_rank(), dist.get_world_size())
