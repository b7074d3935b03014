"""Validation split across DDP ranks: each rank scores every ``world``-th row, then all ranks
gather the rows back in their original order.

Why: before session 49 every rank scored the whole validation set after every epoch, so
``world`` ranks did ``world`` times the work of one and the validation pass did not get faster
with more GPUs. Each row's logits depend on that row only (eval mode; the deployed
arithmetic of binary students is batch-independent, full-precision models may differ from one
process in the last float bits where the GEMM's blocking follows the batch size), so the gathered
logits are one process's, and every rank then computes the same metrics from the same tensor:
ranks still select the same best epoch and step a plateau schedule together.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def shard(n: int, rank: int, world: int) -> slice:
    """The rows of ``n`` a rank scores: ``rank, rank + world, ...`` (interleaved, like the
    training shards, so the shards differ in size by at most one row)."""
    return slice(rank, n, world)


def gather_rows(local: torch.Tensor, n: int, world: int,
                device: torch.device | None = None) -> torch.Tensor:
    """All ranks' ``local`` rows (rank r holds rows ``r::world`` of an ``(n, ...)`` tensor)
    reassembled on every rank as that ``(n, ...)`` tensor, on ``local``'s device.

    ``device`` is where the collective runs (NCCL needs CUDA tensors; gloo takes CPU ones).
    Shards are padded to the largest one, because ``all_gather`` needs equal shapes.
    """
    size = -(-n // world)  # rows of the largest shard
    if local.shape[0] != len(range(*shard(n, dist.get_rank(), world).indices(n))):
        raise ValueError(f"rank {dist.get_rank()} holds {local.shape[0]} rows, not its shard of "
                         f"{n} rows over {world} ranks")
    dev = local.device if device is None else device
    padded = torch.zeros((size, *local.shape[1:]), dtype=local.dtype, device=dev)
    padded[:local.shape[0]] = local.to(dev)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    out = torch.empty((n, *local.shape[1:]), dtype=local.dtype, device=local.device)
    for r, part in enumerate(parts):
        rows = len(range(*shard(n, r, world).indices(n)))
        out[shard(n, r, world)] = part[:rows].to(local.device)
    return out
