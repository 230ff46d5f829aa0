"""Simulated user prompts for training: boxes from masks and clicks on error regions.

All coordinates are (x, y) in model-input pixels, given as the pixel's integer index (column,
row) exactly as the predictors pass a user's click after scaling it to the input size; the
prompt encoder adds the half-pixel shift to the pixel centre itself. Labels follow SAM:
1 positive click, 0 negative click, 2/3 box top-left/bottom-right.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from sam2.modeling.track_types import PointInputs


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes ``[B, 4]`` (x0, y0, x1, y1) of ``[B, 1, H, W]`` masks; empty masks give the
    whole image."""
    b, _, h, w = masks.shape
    m = masks[:, 0] > 0
    cols = m.any(dim=1)  # [B, W]
    rows = m.any(dim=2)  # [B, H]
    xs = torch.arange(w, device=masks.device)
    ys = torch.arange(h, device=masks.device)
    big = torch.tensor(10**9, device=masks.device)
    x0 = torch.where(cols, xs, big).amin(dim=1)
    x1 = torch.where(cols, xs, -big).amax(dim=1)
    y0 = torch.where(rows, ys, big).amin(dim=1)
    y1 = torch.where(rows, ys, -big).amax(dim=1)
    empty = ~cols.any(dim=1)
    box = torch.stack([x0, y0, x1, y1], dim=1).float()
    whole = torch.tensor([0.0, 0.0, float(w), float(h)], device=masks.device)
    return torch.where(empty[:, None], whole, box)


def sample_box_points(
    masks: torch.Tensor, noise: float = 0.1, noise_bound: int = 20, top_left_label: int = 2,
    bottom_right_label: int = 3,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """A jittered box prompt per mask.

    Each corner moves by up to ``noise`` times the box side, capped at ``noise_bound`` pixels,
    and stays inside the image.

    Args:
        masks: ``[B, 1, H, W]`` bool/float.

    Returns:
        ``coords [B, 2, 2]`` float32 and ``labels [B, 2]`` int32 (2, 3).
    """
    b, _, h, w = masks.shape
    box = mask_boxes(masks)
    if noise > 0:
        side = torch.stack([box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]], dim=1)  # [B, 2] (w, h)
        reach = torch.minimum(side * noise, torch.full_like(side, float(noise_bound)))
        reach = reach.repeat(1, 2)  # x0, y0, x1, y1
        jitter = (torch.rand(b, 4, device=masks.device) * 2 - 1) * reach
        box = box + jitter
        limit = torch.tensor([w, h, w, h], device=masks.device, dtype=box.dtype)
        box = torch.minimum(box.clamp(min=0), limit)
    coords = box.view(b, 2, 2)
    labels = torch.tensor([top_left_label, bottom_right_label], dtype=torch.int32, device=masks.device)
    return coords, labels.expand(b, 2).contiguous()


def _farthest_from_boundary(region: torch.Tensor) -> torch.Tensor:
    """Flat index of the pixel of ``region [H, W]`` farthest from its boundary (0 if empty)."""
    import numpy as np
    from scipy.ndimage import distance_transform_edt

    padded = np.pad(region.cpu().numpy(), 1)
    dist = distance_transform_edt(padded)[1:-1, 1:-1]
    return torch.tensor(int(dist.argmax()))


def get_next_point(
    gt_masks: torch.Tensor, pred_masks: Optional[torch.Tensor], method: str = "uniform"
) -> Tuple[torch.Tensor, torch.Tensor]:
    """One click per object on the current error region.

    A pixel missed by the prediction (in ``gt`` only) gives a positive click, a false alarm a
    negative one. Without a prediction the click is a positive point inside the ground truth.
    If an object has no error, a pixel of the whole image is drawn and labelled by ``gt``.

    Args:
        gt_masks: ``[B, 1, H, W]`` bool.
        pred_masks: ``[B, 1, H, W]`` bool, or ``None``.
        method: ``"uniform"`` (random error pixel) or ``"center"`` (the error pixel farthest
            from the error region's boundary).

    Returns:
        ``coords [B, 1, 2]`` float32 (integer pixel indices x, y) and ``labels [B, 1]`` int32.
    """
    if method not in ("uniform", "center"):
        raise ValueError(f"get_next_point: unknown method {method!r} (uniform, center)")
    gt = gt_masks[:, 0].bool()
    pred = torch.zeros_like(gt) if pred_masks is None else pred_masks[:, 0].bool()
    missed = gt & ~pred
    extra = pred & ~gt
    errors = missed | extra
    b, h, w = gt.shape
    no_error = ~errors.flatten(1).any(dim=1)
    candidates = torch.where(no_error[:, None, None], torch.ones_like(errors), errors)
    if method == "uniform":
        scores = torch.rand(b, h * w, device=gt.device) * candidates.flatten(1)
        flat = scores.argmax(dim=1)
    else:
        flat = torch.stack([_farthest_from_boundary(c) for c in candidates]).to(gt.device)
    ys, xs = flat // w, flat % w
    labels = torch.where(no_error, gt.flatten(1)[torch.arange(b), flat], missed.flatten(1)[torch.arange(b), flat])
    coords = torch.stack([xs, ys], dim=1).float()
    return coords[:, None, :], labels.int()[:, None]


def concat_points(prev: Optional[PointInputs], coords: torch.Tensor, labels: torch.Tensor) -> PointInputs:
    """Append clicks ``[B, n, 2]`` / ``[B, n]`` to earlier prompts (if any)."""
    if prev is None:
        return PointInputs(coords, labels)
    return PointInputs(torch.cat([prev.coords, coords], dim=1), torch.cat([prev.labels, labels], dim=1))
