"""What a run trained on, in words: the CPU's model name and the torch device.

Why: a model card states the machine its wall times were measured on, and ``bifsmn.cards``
runs later (often elsewhere) than the training; so the trainer records the machine in
``summary.json`` while it runs, and the card reads it from there.
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device, world: int = 1) -> str:
    """``"CPU"``, or the GPU's name with ``(CUDA)`` (``"2 x NVIDIA H100 ... (CUDA)"`` for a
    multi-process run), for the card's machine line."""
    if device.type != "cuda":
        return "CPU" if device.type == "cpu" else device.type
    name = torch.cuda.get_device_name(device)
    return f"{world} x {name} (CUDA)" if world > 1 else f"{name} (CUDA)"


def machine_record(device: torch.device, world: int = 1) -> dict:
    """``{"cpu", "device", "torch"}`` of the process training now (``summary.json``)."""
    # str(): torch.__version__ is a TorchVersion, which weights_only loading refuses
    return {"cpu": cpu_name(), "device": device_name(device, world),
            "torch": str(torch.__version__)}
