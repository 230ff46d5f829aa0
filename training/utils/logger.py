"""Run logging: text log set-up, JSON-lines metrics sink and the TensorBoard writer (rank 0)."""
from __future__ import annotations

import json
import logging
import math
import os
import sys
from typing import Any, Dict, Optional

log = logging.getLogger(__name__)


def setup_text_logging(log_dir: Optional[str], rank: int, level: int = logging.INFO) -> None:
    """Console logging on rank 0 (warnings elsewhere) plus ``log_dir/log.txt`` (rank 0) or
    ``log_dir/log_rank<r>.txt``.
    """
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.setLevel(level)
    fmt = logging.Formatter(f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s")
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level if rank == 0 else logging.WARNING)
    console.setFormatter(fmt)
    root.addHandler(console)
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        name = "log.txt" if rank == 0 else f"log_rank{rank}.txt"
        fh = logging.FileHandler(os.path.join(log_dir, name))
        fh.setFormatter(fmt)
        root.addHandler(fh)


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class MetricsSink:
    """Appends one JSON object per line to ``log_dir/metrics.jsonl`` (rank 0 only).

    The file is opened in append mode so a resumed run continues the same record.
    """

    def __init__(self, log_dir: Optional[str], enabled: bool) -> None:
        self.path = os.path.join(log_dir, "metrics.jsonl") if (log_dir and enabled) else None
        self._fh = None
        if self.path:
            os.makedirs(log_dir, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, record: Dict[str, Any]) -> None:
        if self._fh is None:
            return
        self._fh.write(json.dumps({k: _plain(v) for k, v in record.items()}) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class TensorBoardLogger:
    """Thin wrapper over ``SummaryWriter`` that is a no-op when disabled or unavailable."""

    def __init__(self, log_dir: str, flush_secs: int = 120, should_log: bool = True) -> None:
        self._writer = None
        if not should_log:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is an optional extra
            log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
            return
        os.makedirs(log_dir, exist_ok=True)
        self._writer = SummaryWriter(log_dir=log_dir, flush_secs=flush_secs)

    def log_scalars(self, values: Dict[str, float], step: int) -> None:
        if self._writer is None:
            return
        for k, v in values.items():
            self._writer.add_scalar(k, _plain(v), step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def make_tensorboard_logger(
    log_dir: str, flush_secs: int = 120, should_log: bool = True
) -> TensorBoardLogger:
    """Config entry point (``trainer.logging.tensorboard_writer._target_``)."""
    return TensorBoardLogger(log_dir=log_dir, flush_secs=flush_secs, should_log=should_log)
