"""``gather_with_grad`` under a real 2-process gloo group: DDP gradient = full-batch gradient."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
import torch.nn.functional as F  # noqa: N812

from molgraphpt.objectives.moltext import gather_with_grad

SIZES = (3, 2)  # ranks may hold different batch sizes (a short last batch)


def _embeddings() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    n = sum(SIZES)
    g = F.normalize(torch.randn(n, 8, generator=gen), dim=1)
    t = F.normalize(torch.randn(n, 8, generator=gen), dim=1)
    return g, t


def _local_loss(g: torch.Tensor, t: torch.Tensor, all_g, all_t, offset: int) -> torch.Tensor:
    target = torch.arange(g.size(0)) + offset
    scale = 10.0
    return 0.5 * (
        F.cross_entropy(scale * g @ all_t.T, target, reduction="sum")
        + F.cross_entropy(scale * t @ all_g.T, target, reduction="sum")
    )


def _worker(rank: int, init_file: str, out: str) -> None:
    torch_dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=len(SIZES)
    )
    try:
        g_all, t_all = _embeddings()
        start = sum(SIZES[:rank])
        g = g_all[start : start + SIZES[rank]].clone().requires_grad_(True)
        t = t_all[start : start + SIZES[rank]].clone().requires_grad_(True)
        gathered_g, offset = gather_with_grad(g)
        gathered_t, _ = gather_with_grad(t)
        assert offset == start and gathered_g.shape == g_all.shape
        _local_loss(g, t, gathered_g, gathered_t, offset).backward()
        torch.save({"g": g.grad, "t": t.grad, "start": start}, f"{out}.{rank}")
    finally:
        torch_dist.destroy_process_group()


@pytest.mark.skipif(not torch_dist.is_available(), reason="torch.distributed unavailable")
def test_gradients_equal_the_single_process_full_batch_gradients(tmp_path):
    out = str(tmp_path / "grads")
    mp.spawn(_worker, args=(str(tmp_path / "init"), out), nprocs=len(SIZES), join=True)
    g, t = _embeddings()
    g.requires_grad_(True)
    t.requires_grad_(True)
    _local_loss(g, t, g, t, 0).backward()  # the sum of every rank's loss, on one process
    for rank, size in enumerate(SIZES):
        part = torch.load(f"{out}.{rank}")
        rows = slice(part["start"], part["start"] + size)
        assert torch.allclose(part["g"], g.grad[rows], atol=1e-5), rank
        assert torch.allclose(part["t"], t.grad[rows], atol=1e-5), rank
    assert os.path.exists(f"{out}.1")
