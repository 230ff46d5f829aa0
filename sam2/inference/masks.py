"""Turn per-object mask logits into a label map: overlaps go to the highest logit, then a threshold.

Rule (the MOSEv2 baseline's): at every pixel the object with the highest logit keeps it; every other
object's logit there is lowered to at most ``-10``; an object covers the pixel when its (lowered)
logit is ``> score_thresh``; when several still do (only possible for ``score_thresh < -10``), the
lowest object id wins. Equal highest logits go to the lowest object id.

Two forms give bit-identical label maps: :func:`resolve_labels` (all objects of a frame at once) and
:class:`LabelAccumulator` (objects arrive one at a time, e.g. one propagation per object).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from sam2.utils.constants import MISSING_OBJECT_LOGIT

NON_WINNER_CEILING = -10.0
"""Logits of objects that do not have the highest logit at a pixel are clamped to at most this."""

NOT_STARTED_LOGIT = MISSING_OBJECT_LOGIT
"""Logit given to an object on frames before its first annotation (separate-per-object mode)."""

MAX_OBJECT_ID = 255


def check_object_ids(obj_ids: Sequence[int], where: str) -> None:
    """Raise ``ValueError`` naming ``where`` when an id cannot be a palette index (1..255)."""
    for obj_id in obj_ids:
        if not 1 <= int(obj_id) <= MAX_OBJECT_ID:
            raise ValueError(f"{where}: object id {obj_id} is outside 1..{MAX_OBJECT_ID}")


def resolve_labels(logits: torch.Tensor, obj_ids: Sequence[int], score_thresh: float) -> np.ndarray:
    """Label map of one frame.

    Args:
        logits: ``[O, H, W]`` or ``[O, 1, H, W]`` float mask logits (any device), one per object.
        obj_ids: the ``O`` object ids (any order; ties go to the lowest id).
        score_thresh: a pixel belongs to an object when its logit is ``> score_thresh``.

    Returns:
        ``[H, W]`` uint8 numpy array, 0 = background, else the object id.
    """
    if logits.dim() == 4:
        logits = logits[:, 0]
    if logits.dim() != 3 or logits.shape[0] != len(obj_ids):
        raise ValueError(f"logits must be [O,H,W] with O={len(obj_ids)} objects, got {tuple(logits.shape)}")
    check_object_ids(obj_ids, "resolve_labels")
    height, width = logits.shape[-2:]
    if len(obj_ids) == 0:
        return np.zeros((height, width), dtype=np.uint8)
    order = sorted(range(len(obj_ids)), key=lambda i: int(obj_ids[i]))
    ordered_ids = torch.tensor([int(obj_ids[i]) for i in order], dtype=torch.int64, device=logits.device)
    scores = logits.float()[order]  # ascending object id
    winner = scores.argmax(dim=0)  # first maximum = lowest id among equal logits
    best = scores.gather(0, winner.unsqueeze(0))[0]
    loser_covers = scores.clamp(max=NON_WINNER_CEILING) > score_thresh  # [O,H,W]
    any_loser = loser_covers.any(dim=0)
    lowest_loser = loser_covers.to(torch.uint8).argmax(dim=0)  # first True along ids
    label_idx = torch.where(any_loser, torch.minimum(lowest_loser, winner), winner)
    covered = best > score_thresh
    labels = torch.where(covered, ordered_ids[label_idx], torch.zeros_like(ordered_ids[label_idx]))
    return labels.to(torch.uint8).cpu().numpy()


class LabelAccumulator:
    """Builds the label maps of ``T`` frames from objects fed one at a time (in any id order).

    Keeps, per pixel and frame, the best logit so far, the object holding it, and the lowest id
    whose clamped logit clears the threshold; memory is ``T*H*W*(4+2+2)`` bytes, backed by files
    under ``scratch_dir`` when given (so long high-resolution videos do not need that much RAM).
    """

    def __init__(
        self, num_frames: int, height: int, width: int, score_thresh: float, scratch_dir: Optional[Path] = None
    ) -> None:
        shape = (num_frames, height, width)
        self.score_thresh = float(score_thresh)
        self.best = self._array(scratch_dir, "best", shape, np.float32, -np.inf)
        self.winner = self._array(scratch_dir, "winner", shape, np.int16, 0)
        self.lowest_loser = self._array(scratch_dir, "loser", shape, np.int16, 0)
        self._seen_ids: set[int] = set()

    @staticmethod
    def _array(scratch: Optional[Path], name: str, shape: tuple[int, ...], dtype: type, fill: float) -> np.ndarray:
        if scratch is None:
            return np.full(shape, fill, dtype=dtype)
        arr = np.lib.format.open_memmap(Path(scratch) / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
        arr[...] = fill
        return arr

    @property
    def num_frames(self) -> int:
        return self.best.shape[0]

    def add(self, frame_idx: int, obj_id: int, logits: torch.Tensor) -> None:
        """Feed object ``obj_id``'s ``[H, W]`` (or ``[1, H, W]``) logits on frame ``frame_idx``.

        Every object must be fed for every frame (use :data:`NOT_STARTED_LOGIT` where it is not tracked).
        """
        check_object_ids([obj_id], "LabelAccumulator.add")
        values = logits.detach().float().reshape(self.best.shape[1:]).cpu().numpy()
        best = self.best[frame_idx]
        winner = self.winner[frame_idx]
        # a strictly higher logit wins; on a tie the lower id wins
        takes = (values > best) | ((values == best) & ((winner == 0) | (winner > obj_id)))
        best[takes] = values[takes]
        winner[takes] = obj_id
        lowest = self.lowest_loser[frame_idx]
        clears = np.minimum(values, NON_WINNER_CEILING) > self.score_thresh
        lower = clears & ((lowest == 0) | (lowest > obj_id))
        lowest[lower] = obj_id
        self._seen_ids.add(int(obj_id))

    def add_constant(self, frame_idx: int, obj_id: int, value: float = NOT_STARTED_LOGIT) -> None:
        """Feed a constant logit for ``obj_id`` on ``frame_idx`` (frames before the object starts)."""
        self.add(frame_idx, obj_id, torch.full(self.best.shape[1:], value, dtype=torch.float32))

    def labels(self, frame_idx: int) -> np.ndarray:
        """``[H, W]`` uint8 label map of ``frame_idx`` (0 where no object was fed)."""
        best = self.best[frame_idx]
        winner = self.winner[frame_idx].astype(np.int64)
        lowest = self.lowest_loser[frame_idx].astype(np.int64)
        label = np.where(best > self.score_thresh, winner, 0)
        label = np.where((lowest > 0) & (label > 0), np.minimum(label, lowest), label)
        return label.astype(np.uint8)
