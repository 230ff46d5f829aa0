"""MultiStepMultiMasksAndIous on hand-computed cases."""
from __future__ import annotations

import math

import pytest
import torch

from training.loss_fns import CORE_LOSS_KEY, MultiStepMultiMasksAndIous, MultiStepPredictions

WEIGHTS = {"loss_mask": 20, "loss_dice": 1, "loss_iou": 1, "loss_class": 1}


def _loss(**kw):
    return MultiStepMultiMasksAndIous(dict(WEIGHTS), supervise_all_iou=True, iou_use_l1_loss=True,
                                      pred_obj_scores=True, focal_gamma_obj_score=0.0,
                                      focal_alpha_obj_score=-1.0, **kw)


def test_single_mask_values_worked_out_by_hand():
    # 2x2 image, one object at the top-left pixel; logits 0 everywhere (p = 0.5)
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]]).bool()  # [T=1, N=1, 2, 2]
    pred = MultiStepPredictions(
        multimasks_high_res=[torch.zeros(1, 1, 2, 2)], ious=[torch.tensor([[0.3]])],
        object_score_logits=[torch.zeros(1, 1)],
    )
    out = _loss()([pred], target)
    ln2 = math.log(2.0)
    # focal: ce = ln2, (1 - p_t)^2 = 1/4, alpha_t = .25 (1 pixel) / .75 (3 pixels), mean of 4
    focal = ln2 * 0.25 * (0.25 + 3 * 0.75) / 4
    dice = 1 - (2 * 0.5 + 1) / (2.0 + 1.0 + 1)  # overlap .5, sum p 2, sum gt 1
    iou = 0.3  # thresholded prediction is empty: real IoU 0
    obj = ln2  # BCE(0, target 1)
    assert out["loss_mask"].item() == pytest.approx(focal, rel=1e-6)
    assert out["loss_dice"].item() == pytest.approx(dice, rel=1e-6)
    assert out["loss_iou"].item() == pytest.approx(iou, rel=1e-6)
    assert out["loss_class"].item() == pytest.approx(obj, rel=1e-6)
    assert out[CORE_LOSS_KEY].item() == pytest.approx(20 * focal + dice + iou + obj, rel=1e-6)


def test_only_the_best_candidate_is_supervised_but_all_ious_are():
    gt = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    gt[..., :2, :] = True
    good = torch.where(gt[0], 10.0, -10.0)  # [1, 4, 4]
    bad = -good
    masks = torch.stack([bad[0], good[0]])[None]  # [N=1, M=2, 4, 4]
    ious = torch.tensor([[0.0, 1.0]])  # exact for both (bad has IoU 0, good 1)
    pred = MultiStepPredictions([masks], [ious], [torch.full((1, 1), 10.0)])
    out = _loss()([pred], gt)
    only_good = _loss()([MultiStepPredictions([masks[:, 1:]], [ious[:, 1:]], [torch.full((1, 1), 10.0)])], gt)
    assert out["loss_mask"].item() == pytest.approx(only_good["loss_mask"].item(), rel=1e-6)
    assert out["loss_dice"].item() == pytest.approx(only_good["loss_dice"].item(), rel=1e-6)
    assert out["loss_mask"].item() < 1e-6
    assert out["loss_iou"].item() == pytest.approx(0.0, abs=1e-6)
    # a wrong IoU on the non-selected candidate is still penalised (supervise_all_iou)
    wrong = MultiStepPredictions([masks], [torch.tensor([[0.8, 1.0]])], [torch.full((1, 1), 10.0)])
    assert _loss()([wrong], gt)["loss_iou"].item() == pytest.approx(0.4, rel=1e-6)


def test_absent_object_only_trains_the_object_score():
    gt = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    pred = MultiStepPredictions([torch.randn(1, 3, 4, 4)], [torch.rand(1, 3)], [torch.tensor([[2.0]])])
    out = _loss()([pred], gt)
    assert out["loss_mask"].item() == 0 and out["loss_dice"].item() == 0 and out["loss_iou"].item() == 0
    assert out["loss_class"].item() == pytest.approx(math.log1p(math.exp(2.0)), rel=1e-6)


def test_losses_sum_over_frames_and_steps_and_divide_by_objects():
    torch.manual_seed(0)
    gt = torch.rand(2, 3, 8, 8) > 0.5  # T=2, N=3
    steps = [MultiStepPredictions([torch.randn(3, 1, 8, 8) for _ in range(2)],
                                  [torch.rand(3, 1) for _ in range(2)],
                                  [torch.randn(3, 1) for _ in range(2)]) for _ in range(2)]
    total = _loss()(steps, gt)
    parts = 0.0
    for t in range(2):
        for s in range(2):
            one = MultiStepPredictions([steps[t].multimasks_high_res[s]], [steps[t].ious[s]],
                                       [steps[t].object_score_logits[s]])
            parts += _loss()([one], gt[t:t + 1])[CORE_LOSS_KEY].item()
    assert total[CORE_LOSS_KEY].item() == pytest.approx(parts, rel=1e-5)


def test_missing_weight_is_an_error():
    with pytest.raises(ValueError, match="loss_dice"):
        MultiStepMultiMasksAndIous({"loss_mask": 1, "loss_iou": 1})
