"""Training losses over all frames and all interactive prediction steps.

For every frame and every prediction step (the first prediction and each corrective click),
the model returns ``M`` candidate masks (``M = 1`` or 3), their predicted IoUs and an
object-score logit. :class:`MultiStepMultiMasksAndIous` supervises:

* masks: sigmoid focal loss (weight ``loss_mask``) and dice loss (``loss_dice``), on the
  candidate with the lowest weighted focal + dice only;
* IoU predictions: L1 (or MSE) to the real IoU of each thresholded candidate (``loss_iou``),
  on all candidates when ``supervise_all_iou``;
* object score: focal/BCE against "the object is visible" (``loss_class``).

Mask and IoU terms are zeroed for objects absent from the frame. All terms are divided by the
number of objects (averaged over ranks).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

CORE_LOSS_KEY = "core_loss"
_LOSS_KEYS = ("loss_mask", "loss_dice", "loss_iou", "loss_class")


@dataclass
class MultiStepPredictions:
    """Predictions of one frame for ``N`` objects over ``S`` interactive steps.

    Attributes:
        multimasks_high_res: ``S`` tensors ``[N, M, H, W]`` float mask logits at image resolution.
        ious: ``S`` tensors ``[N, M]`` predicted IoUs.
        object_score_logits: ``S`` tensors ``[N, 1]``.
    """

    multimasks_high_res: List[torch.Tensor]
    ious: List[torch.Tensor]
    object_score_logits: List[torch.Tensor]


def sigmoid_focal_per_mask(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float, gamma: float
) -> torch.Tensor:
    """Focal loss averaged over pixels: ``[N, M, H, W]`` (or ``[N, K]``) -> ``[N, M]`` (``[N]``)."""
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    prob = torch.sigmoid(logits)
    miss = prob + targets - 2 * prob * targets  # 1 - p_t
    loss = ce * miss.pow(gamma) if gamma != 0 else ce
    if alpha >= 0:
        loss = loss * (targets * alpha + (1 - targets) * (1 - alpha))
    return loss.flatten(2).mean(-1) if loss.dim() == 4 else loss.mean(-1)


def dice_per_mask(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``1 - (2|P∩G| + 1) / (|P| + |G| + 1)`` on soft masks: ``[N, M, H, W]`` -> ``[N, M]``."""
    prob = torch.sigmoid(logits).flatten(2)
    tgt = targets.flatten(2)
    overlap = (prob * tgt).sum(-1)
    total = prob.sum(-1) + tgt.sum(-1)
    return 1 - (2 * overlap + 1) / (total + 1)


def iou_prediction_error(
    logits: torch.Tensor, targets: torch.Tensor, pred_ious: torch.Tensor, use_l1: bool
) -> torch.Tensor:
    """Error of the predicted IoUs vs the IoU of each thresholded mask: ``[N, M]``."""
    pred = logits.flatten(2) > 0
    gt = targets.flatten(2) > 0
    inter = (pred & gt).sum(-1).float()
    union = (pred | gt).sum(-1).float().clamp(min=1.0)
    real = inter / union
    if use_l1:
        return F.l1_loss(pred_ious, real, reduction="none")
    return F.mse_loss(pred_ious, real, reduction="none")


def _objects_per_rank(num_local: int, device: torch.device) -> float:
    count = torch.tensor(float(num_local), device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(count)
        count = count / dist.get_world_size()
    return max(float(count.item()), 1.0)


class MultiStepMultiMasksAndIous(nn.Module):
    """Focal + dice + IoU + object-score loss summed over frames and interactive steps.

    Args:
        weight_dict: weights of ``loss_mask``, ``loss_dice``, ``loss_iou`` (required) and
            ``loss_class`` (default 0).
        focal_alpha, focal_gamma: focal loss parameters for masks (0.25, 2).
        supervise_all_iou: train the IoU head on every candidate, not only the best one.
        iou_use_l1_loss: L1 instead of MSE for the IoU head.
        pred_obj_scores: supervise the object-score logits.
        focal_gamma_obj_score, focal_alpha_obj_score: focal parameters for the object score
            (0 and -1: plain binary cross-entropy).
    """

    def __init__(
        self,
        weight_dict: Dict[str, float],
        *,
        pred_obj_scores: bool = False,
        supervise_all_iou: bool = False,
        iou_use_l1_loss: bool = False,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        focal_alpha_obj_score: float = -1.0,
        focal_gamma_obj_score: float = 0.0,
    ) -> None:
        super().__init__()
        weights = {k: float(v) for k, v in dict(weight_dict).items()}
        for key in ("loss_mask", "loss_dice", "loss_iou"):
            if key not in weights:
                raise ValueError(f"MultiStepMultiMasksAndIous.weight_dict needs {key!r}")
        unknown = set(weights) - set(_LOSS_KEYS)
        if unknown:
            raise ValueError(f"MultiStepMultiMasksAndIous: unknown loss weights {sorted(unknown)}")
        weights.setdefault("loss_class", 0.0)
        self.weight_dict = weights
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.supervise_all_iou = supervise_all_iou
        self.iou_use_l1_loss = iou_use_l1_loss
        self.pred_obj_scores = pred_obj_scores
        self.focal_gamma_obj_score = focal_gamma_obj_score
        self.focal_alpha_obj_score = focal_alpha_obj_score

    def forward(
        self, frame_preds: Sequence[MultiStepPredictions], targets: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        """Losses of a clip.

        Args:
            frame_preds: one :class:`MultiStepPredictions` per frame (``T``).
            targets: ``[T, N, H, W]`` bool/float ground-truth masks.

        Returns:
            dict with the four weighted-term inputs (unweighted sums) and ``core_loss``.
        """
        if len(frame_preds) != targets.shape[0]:
            raise ValueError(f"{len(frame_preds)} frame predictions for {targets.shape[0]} target frames")
        n_obj = _objects_per_rank(int(targets.shape[1]), targets.device)
        totals = {k: targets.new_zeros((), dtype=torch.float32) for k in _LOSS_KEYS}
        for preds, tgt in zip(frame_preds, targets):
            gt = tgt.unsqueeze(1).float()  # [N, 1, H, W]
            for masks, ious, obj_logits in zip(
                preds.multimasks_high_res, preds.ious, preds.object_score_logits
            ):
                for k, v in self._one_step(masks.float(), gt, ious.float(), obj_logits.float()).items():
                    totals[k] = totals[k] + v / n_obj
        core = sum(totals[k] * w for k, w in self.weight_dict.items() if w != 0)
        out = dict(totals)
        out[CORE_LOSS_KEY] = core
        return out

    def _one_step(
        self, masks: torch.Tensor, gt: torch.Tensor, ious: torch.Tensor, obj_logits: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        gt_all = gt.expand_as(masks)
        focal = sigmoid_focal_per_mask(masks, gt_all, self.focal_alpha, self.focal_gamma)  # [N, M]
        dice = dice_per_mask(masks, gt_all)
        iou_err = iou_prediction_error(masks, gt_all, ious, self.iou_use_l1_loss)
        visible = gt.flatten(1).gt(0).any(dim=1, keepdim=True).float()  # [N, 1]
        if masks.shape[1] > 1:
            combo = focal * self.weight_dict["loss_mask"] + dice * self.weight_dict["loss_dice"]
            best = combo.argmin(dim=1, keepdim=True)
            focal = focal.gather(1, best)
            dice = dice.gather(1, best)
            iou_err = iou_err.mean(1, keepdim=True) if self.supervise_all_iou else iou_err.gather(1, best)
        if self.pred_obj_scores:
            obj = sigmoid_focal_per_mask(
                obj_logits, visible, self.focal_alpha_obj_score, self.focal_gamma_obj_score
            ).sum()
        else:
            obj = masks.new_zeros(())
        return {
            "loss_mask": (focal * visible).sum(),
            "loss_dice": (dice * visible).sum(),
            "loss_iou": (iou_err * visible).sum(),
            "loss_class": obj,
        }
