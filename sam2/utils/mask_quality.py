"""MQF quality of a stored prediction: how sure the model is of a mask it keeps.

Used by the per-frame step for every stored frame (``FrameOutput.quality``) and read by memory
policies (RCMS promotes frames of quality above its threshold)."""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["NO_QUALITY", "mask_quality"]

#: quality stored for predictions with no positive pixel
NO_QUALITY = -1.0


def mask_quality(
    pred_masks: torch.Tensor,
    object_score_logits: torch.Tensor,
    ious: Optional[torch.Tensor],
) -> torch.Tensor:
    """MQF quality of a batch of stored predictions, without host synchronisation.

    Args:
        pred_masks: ``[B, 1, h, w]`` float low-res mask logits as stored (after the
            "no object" overwrite and hole filling).
        object_score_logits: ``[B, 1]`` float presence logits.
        ious: ``[B, M]`` predicted IoUs of the candidate masks (``None`` counts as 1).

    Returns:
        ``[B]`` float32 qualities in ``[0, 1]``, or :data:`NO_QUALITY` (-1) where the mask
        has no pixel with logit > 0.
    """
    logits = pred_masks.float().flatten(1)
    positive = logits > 0
    count = positive.sum(dim=1)
    probs = torch.sigmoid(logits)
    conf = torch.where(positive, probs, torch.zeros_like(probs)).sum(dim=1) / count.clamp(min=1)
    presence = torch.sigmoid(object_score_logits.float().reshape(logits.shape[0], -1)[:, 0])
    if ious is None:
        best_iou = torch.ones_like(presence)
    else:
        best_iou = ious.float().reshape(logits.shape[0], -1).amax(dim=1)
    quality = presence * best_iou * conf
    return torch.where(count > 0, quality, torch.full_like(quality, NO_QUALITY))
