"""``train.deterministic``: PyTorch's deterministic algorithms for the length of one run.

Why a switch: on a GPU two fresh runs with one seed differ (cuDNN picks kernels by timing,
CUDA's atomic adds sum in arrival order: train loss 10.8919 vs 10.8924 after one epoch on an
H200), so a result cannot be reproduced bit for bit there. With the switch on, PyTorch uses only
deterministic kernels (cuDNN benchmarking off, cuBLAS with a fixed workspace) and raises where
an operation has none; the price is speed on the GPU. On the CPU this package's training is
already exact (``tests/test_train.py``), so the switch changes nothing there but costs nothing.

The settings are process-wide in PyTorch; :func:`deterministic_mode` sets them for one run and
restores the previous ones afterwards, so a library user's other work is not affected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from bifsmn.errors import BifsmnError

# cuBLAS is deterministic only with a fixed workspace; read when its first handle is created,
# i.e. before the run's first matrix product on the GPU.
CUBLAS_KEY = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS_VALUE = ":4096:8"


@contextmanager
def deterministic_mode(enabled: bool) -> Iterator[None]:
    """Run the body with deterministic algorithms when ``enabled`` (else leave PyTorch as is).

    An operation without a deterministic implementation becomes a one-line
    :class:`BifsmnError` naming the switch, instead of PyTorch's multi-line RuntimeError.
    """
    if not enabled:
        yield
        return
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             os.environ.get(CUBLAS_KEY))
    os.environ.setdefault(CUBLAS_KEY, CUBLAS_VALUE)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    except RuntimeError as exc:
        if "deterministic" not in str(exc):
            raise
        first = str(exc).strip().splitlines()[0]
        raise BifsmnError(f"train.deterministic=true: {first} (set it false to train with "
                          "PyTorch's faster nondeterministic kernels)") from None
    finally:
        enabled_before, warn_only, cudnn_det, cudnn_bench, cublas = saved
        torch.use_deterministic_algorithms(enabled_before, warn_only=warn_only)
        torch.backends.cudnn.deterministic = cudnn_det
        torch.backends.cudnn.benchmark = cudnn_bench
        if cublas is None:
            os.environ.pop(CUBLAS_KEY, None)
        else:
            os.environ[CUBLAS_KEY] = cublas
