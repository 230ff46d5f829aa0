"""Process layout for inference: how many workers, on which devices, and how they rendezvous.

* ``torchrun`` (multi-node): detected from its environment variables (``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); every process is one worker.
* Local: one worker per visible GPU (NCCL) up to ``--num_gpus``; without CUDA (or ``--num_gpus 0``)
  ``--num_workers`` CPU worker processes (gloo). The rendezvous port is a free one picked at launch.
"""
from __future__ import annotations

import datetime
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

logger = logging.getLogger(__name__)

COLLECTIVE_TIMEOUT = datetime.timedelta(hours=72)
"""Workers meet only at start and at the end; one may finish its videos hours after another."""


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TorchrunEnv:
    """This process's place in a ``torchrun`` launch."""

    rank: int
    world_size: int
    local_rank: int


def torchrun_env(environ: Optional[Mapping[str, str]] = None) -> Optional[TorchrunEnv]:
    """Parse torchrun's variables; ``None`` when this process was not started by torchrun."""
    env = os.environ if environ is None else environ
    keys = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    if not all(k in env for k in keys):
        return None
    try:
        rank = int(env["RANK"])
        world = int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", env["RANK"]))
    except ValueError as exc:
        raise ValueError(f"malformed torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {exc}") from None
    if not 0 <= rank < world:
        raise ValueError(f"torchrun environment: RANK={rank} is outside 0..WORLD_SIZE-1 ({world - 1})")
    return TorchrunEnv(rank=rank, world_size=world, local_rank=local)


@dataclass(frozen=True)
class WorkerLayout:
    """``world_size`` workers on ``device_type`` ("cuda" or "cpu") meeting through ``backend``."""

    world_size: int
    device_type: str
    backend: str

    def device(self, local_rank: int) -> torch.device:
        return torch.device(self.device_type, local_rank) if self.device_type == "cuda" else torch.device("cpu")


def cuda_device_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def choose_layout(num_gpus: Optional[int], num_workers: int, visible_gpus: Optional[int] = None) -> WorkerLayout:
    """Pick GPU workers (NCCL) when CUDA is present and ``num_gpus`` > 0, else CPU workers (gloo).

    Args:
        num_gpus: requested GPU workers; ``None`` means all visible GPUs.
        num_workers: CPU worker processes when no GPU is used.
        visible_gpus: override of the visible CUDA device count (tests).
    """
    if num_workers < 1:
        raise ValueError(f"--num_workers must be >= 1, got {num_workers}")
    available = cuda_device_count() if visible_gpus is None else visible_gpus
    wanted = available if num_gpus is None else num_gpus
    if wanted < 0:
        raise ValueError(f"--num_gpus must be >= 0, got {wanted}")
    if wanted > 0 and available > 0:
        if wanted > available:
            logger.warning("--num_gpus %d but only %d CUDA device(s) visible: using %d", wanted, available, available)
        return WorkerLayout(min(wanted, available), "cuda", "nccl")
    if wanted > 0:
        logger.warning("--num_gpus %d but CUDA is not available: running %d CPU worker(s)", wanted, num_workers)
    return WorkerLayout(num_workers, "cpu", "gloo")


def init_process_group(backend: str, rank: int, world_size: int, init_method: str) -> None:
    """Join the workers' process group (long timeout: see :data:`COLLECTIVE_TIMEOUT`)."""
    dist.init_process_group(
        backend=backend, init_method=init_method, rank=rank, world_size=world_size, timeout=COLLECTIVE_TIMEOUT
    )


def spawn(entry: Callable[..., Any], world_size: int, args: tuple[Any, ...]) -> None:
    """Run ``entry(rank, *args)`` in ``world_size`` fresh processes and wait for all of them.

    Raises ``torch.multiprocessing.ProcessRaisedException`` / ``ProcessExitedException`` when one fails
    (the others are then terminated).
    """
    mp.spawn(entry, args=args, nprocs=world_size, join=True)
