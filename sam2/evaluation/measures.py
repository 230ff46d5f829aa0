"""Per-frame measures of one object: smoothed Jaccard J, boundary F and size-adaptive Ḟ.

* ``J = (|G ∩ P| + 1) / (|G ∪ P| + 1)`` (so 1 when both are empty, ~0 for false positives on
  an empty GT).
* ``F`` and ``Ḟ``: :func:`sam2.evaluation.boundary.boundary_f` with the radii of
  :func:`sam2.evaluation.boundary.frame_radii` (computed from the full image size and |G|).

The boundary work is done on the bounding box of ``G ∪ P`` grown by 2 pixels (clipped to the
image): boundary pixels only live there, and the crop's own last row/column special cases
agree with the full image's (either it is the image's last row/column or it is all zeros).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sam2.evaluation.boundary import boundary_f, boundary_map, frame_radii

__all__ = ["FrameScore", "jaccard", "frame_score", "object_frame_scores"]


@dataclass(frozen=True)
class FrameScore:
    """Scores of one object on one frame (all in [0, 1]); ``gt_empty`` when |G| = 0."""

    j: float
    f: float
    f_dot: float
    gt_empty: bool


def jaccard(gt: np.ndarray, pred: np.ndarray) -> float:
    """Smoothed Jaccard ``(|G∩P| + 1) / (|G∪P| + 1)`` of two ``[H, W]`` bool masks."""
    inter = int(np.count_nonzero(gt & pred))
    union = int(np.count_nonzero(gt | pred))
    return (inter + 1) / (union + 1)


def _crop_box(mask: np.ndarray, height: int, width: int, margin: int = 2) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1 = max(0, rows[0] - margin), min(height, rows[-1] + 1 + margin)
    x0, x1 = max(0, cols[0] - margin), min(width, cols[-1] + 1 + margin)
    return slice(y0, y1), slice(x0, x1)


def frame_score(gt: np.ndarray, pred: np.ndarray) -> FrameScore:
    """J, F and Ḟ of one object on one frame.

    Args:
        gt, pred: ``[H, W]`` bool masks of the object (same shape).
    """
    if gt.shape != pred.shape:
        raise ValueError(f"GT shape {gt.shape} differs from prediction shape {pred.shape}")
    height, width = gt.shape
    gt_area = int(np.count_nonzero(gt))
    union = gt | pred
    window = _crop_box(union, height, width)
    if window is None:  # both empty
        return FrameScore(1.0, 1.0, 1.0, True)
    g, p = gt[window], pred[window]
    j = jaccard(g, p)
    g_b, p_b = boundary_map(g), boundary_map(p)
    r_f, r_f_dot = frame_radii(height, width, gt_area)
    f = boundary_f(p_b, g_b, r_f)
    f_dot = f if r_f_dot == r_f else boundary_f(p_b, g_b, r_f_dot)
    return FrameScore(j, f, f_dot, gt_area == 0)


def object_frame_scores(gt_ids: np.ndarray, pred_ids: np.ndarray, obj_id: int) -> list[FrameScore]:
    """Scores of object ``obj_id`` on a stack of frames.

    Args:
        gt_ids, pred_ids: ``[T, H, W]`` integer id maps.
        obj_id: the object's pixel value.
    """
    return [frame_score(g == obj_id, p == obj_id) for g, p in zip(gt_ids, pred_ids)]
