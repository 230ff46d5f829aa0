"""Validation and assembly of the video predictor's prompts (clicks, boxes, masks).

Every error is a :class:`PromptError` whose message names the object and frame at fault.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence]

__all__ = ["ArrayLike", "PromptError", "as_tensor", "assemble_clicks"]


class PromptError(ValueError):
    """A prompt (points, box or mask) is malformed; the message names frame and object."""


def as_tensor(value: ArrayLike, dtype: torch.dtype, what: str, where: str) -> torch.Tensor:
    """``value`` as a tensor of ``dtype``; a :class:`PromptError` when it is not numeric."""
    try:
        return value.to(dtype) if isinstance(value, torch.Tensor) else torch.tensor(
            np.asarray(value), dtype=dtype)
    except (TypeError, ValueError) as err:
        raise PromptError(f"{where}: {what} is not numeric: {err}") from err


def assemble_clicks(points, labels, box, where: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Validated ``[1, N, 2]`` float32 coordinates and ``[1, N]`` int32 labels, with the box
    (if any) first as two corner clicks labelled 2 and 3."""
    parts_xy: List[torch.Tensor] = []
    parts_lab: List[torch.Tensor] = []
    if box is not None:
        corners = as_tensor(box, torch.float32, "box", where)
        if corners.numel() != 4:
            raise PromptError(f"{where}: box must be [x0, y0, x1, y1], got {tuple(corners.shape)}")
        parts_xy.append(corners.reshape(1, 2, 2))
        parts_lab.append(torch.tensor([[2, 3]], dtype=torch.int32))
    if points is not None:
        xy = as_tensor(points, torch.float32, "points", where)
        lab = as_tensor(labels, torch.int32, "labels", where)
        xy = xy[None] if xy.dim() == 2 else xy
        lab = lab[None] if lab.dim() == 1 else lab
        if xy.dim() != 3 or xy.shape[0] != 1 or xy.shape[-1] != 2:
            raise PromptError(f"{where}: points must have shape [N, 2], got {tuple(xy.shape)}")
        if lab.dim() != 2 or lab.shape != xy.shape[:2]:
            raise PromptError(
                f"{where}: {xy.shape[1]} points but labels of shape {tuple(lab.shape)}")
        parts_xy.append(xy)
        parts_lab.append(lab)
    return torch.cat(parts_xy, dim=1), torch.cat(parts_lab, dim=1)
