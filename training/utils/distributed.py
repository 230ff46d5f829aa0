"""Process-group helpers: free rendezvous port, backend choice, rank queries, small collectives.

Everything degrades to single-process behaviour when no process group is initialised.
"""
from __future__ import annotations

import logging
import os
import socket
from typing import Any, List

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def find_free_port() -> int:
    """A TCP port on localhost that is free right now (chosen by the OS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pick_backend(requested: str | None) -> str:
    """``nccl`` when CUDA is usable and requested (or unspecified), else ``gloo``."""
    if torch.cuda.is_available() and requested in (None, "nccl"):
        return "nccl"
    if requested == "nccl":
        log.info("CUDA is not available: using the gloo backend on CPU instead of nccl")
    return "gloo"


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_dist() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def init_process_group(backend: str, rank: int, world_size: int, timeout_s: float = 1800) -> None:
    """Initialise the default process group from ``MASTER_ADDR``/``MASTER_PORT``."""
    from datetime import timedelta

    if world_size <= 1 and "MASTER_PORT" not in os.environ:
        return
    dist.init_process_group(
        backend=backend, rank=rank, world_size=world_size, timeout=timedelta(seconds=timeout_s)
    )


def barrier() -> None:
    if is_dist():
        dist.barrier()


def all_reduce_sum(values: List[float], device: torch.device) -> List[float]:
    """Sum a short list of numbers over ranks (float64)."""
    if not is_dist():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def all_gather_objects(obj: Any) -> List[Any]:
    """Gather one picklable object per rank (list indexed by rank)."""
    if not is_dist():
        return [obj]
    out: List[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def destroy_process_group() -> None:
    if is_dist():
        dist.destroy_process_group()
