"""Assembly of the video predictor's clicks and box into one prompt.

The rules every prompt obeys (finite coordinates inside the frame, the official label meanings,
boxes of positive area, ...) are those of :mod:`sam2.utils.prompt_checks`; every error is a
:class:`~sam2.utils.prompt_checks.PromptError` whose message names the object and frame at fault.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch

from sam2.utils.prompt_checks import ArrayLike, PromptError, as_tensor, check_boxes, check_points

__all__ = ["ArrayLike", "PromptError", "as_tensor", "assemble_clicks"]


def assemble_clicks(points, labels, box, where: str,
                    size: Optional[Tuple[float, float]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Validated ``[1, N, 2]`` float32 coordinates and ``[1, N]`` int32 labels, with the box
    (if any) first as two corner clicks labelled 2 and 3.

    ``size`` ``(W, H)``: clicks must lie in ``[0, W] x [0, H]`` (None: no range check).
    """
    parts_xy: List[torch.Tensor] = []
    parts_lab: List[torch.Tensor] = []
    if box is not None:
        corners = as_tensor(box, torch.float32, "box", where)
        if corners.numel() != 4:
            raise PromptError(f"{where}: box must be [x0, y0, x1, y1], got {tuple(corners.shape)}")
        corners = check_boxes(corners.reshape(4), where)  # [2, 2] corners too, as officially
        parts_xy.append(corners.reshape(1, 2, 2))
        parts_lab.append(torch.tensor([[2, 3]], dtype=torch.int32))
    if points is not None:
        xy = as_tensor(points, torch.float32, "points", where)
        xy = xy[None] if xy.dim() == 2 else xy
        lab = labels if isinstance(labels, torch.Tensor) else np.asarray(labels)
        lab = lab[None] if lab.ndim == 1 else lab
        if xy.dim() != 3 or xy.shape[0] != 1 or xy.shape[-1] != 2:
            raise PromptError(f"{where}: points must have shape [N, 2], got {tuple(xy.shape)}")
        xy, lab = check_points(xy, lab, where, size=size)
        parts_xy.append(xy)
        parts_lab.append(lab)
    return torch.cat(parts_xy, dim=1), torch.cat(parts_lab, dim=1)
