"""Validation split across DDP ranks: every rank gets all rows back, in their original order."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bifsmn.train.shards import gather_rows, shard


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _full(n: int, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    # distinct values per row, so a row put in another row's place is seen
    g = torch.Generator().manual_seed(n)
    return torch.randn((n, *shape), generator=g, dtype=torch.float64).to(dtype)


def _worker(rank: int, world: int, port: int, cases: list, errors) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        for n, shape, dtype in cases:
            full = _full(n, shape, dtype)
            got = gather_rows(full[shard(n, rank, world)].clone(), n, world)
            if not torch.equal(got, full):
                errors.put(f"rank {rank}: n={n} shape={shape} {dtype}: rows differ")
        try:  # a rank holding the wrong number of rows is refused before any collective
            gather_rows(torch.zeros(5, 3), 7, world)
            errors.put(f"rank {rank}: a wrong shard size was accepted")
        except ValueError:
            pass
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("world", [2, 3])
def test_gather_rows_reassembles_every_rank_the_full_tensor(world):
    cases = [(7, (12,), torch.float32), (world, (3,), torch.float64), (10, (2, 4), torch.float32),
             (1000, (12,), torch.float32)]
    ctx = mp.get_context("spawn")
    errors = ctx.SimpleQueue()
    mp.start_processes(_worker, args=(world, _free_port(), cases, errors), nprocs=world,
                       start_method="spawn", join=True)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert not found, found


def test_shards_cover_every_row_once():
    for n in range(0, 12):
        for world in (1, 2, 3, 5):
            rows = sorted(i for r in range(world) for i in range(n)[shard(n, r, world)])
            assert rows == list(range(n))
