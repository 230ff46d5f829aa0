"""The official automatic-mask-generator notebook's sequence of calls, on a small seeded model.

Notebook order: ``build_sam2(..., apply_postprocessing=False)``, ``SAM2AutomaticMaskGenerator(model)``
and ``generate(image)`` (records drawn largest area first from ``segmentation``), then a generator
with the notebook's non-default settings and ``generate`` again.

The model is the 64-px "instant" SAM 2.1 with seeded random weights, made decisive so that masks
pass the notebook's quality filters: the IoU head's bias is raised (predicted IoU ~0.98) and the
mask upscaler's last layer is scaled up (sharp logits, hence stable masks).
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
from sam2.build_sam import build_sam2
from sam2.utils.amg import rle_to_mask

RECORD_KEYS = {"segmentation", "area", "bbox", "predicted_iou", "point_coords", "stability_score", "crop_box"}
NOTEBOOK_SETTINGS = dict(
    points_per_side=64, points_per_batch=128, pred_iou_thresh=0.7, stability_score_thresh=0.92,
    stability_score_offset=0.7, crop_n_layers=1, box_nms_thresh=0.7, crop_n_points_downscale_factor=2,
    min_mask_region_area=25.0, use_m2m=True,
)
H, W = 96, 128


@pytest.fixture(scope="module")
def decisive_model():
    torch.manual_seed(0)
    model = build_sam2("configs/sam2.1/sam2.1_hiera_instant.yaml", device="cpu", apply_postprocessing=False,
                       hydra_overrides_extra=["++model.image_size=64"])
    with torch.no_grad():
        model.sam_mask_decoder.iou_prediction_head.layers[-1].bias.fill_(4.0)
        model.sam_mask_decoder.output_upscaling[3].weight.mul_(2000.0)
    return model


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.zeros((H, W, 3), np.uint8)
    img[...] = (30, 40, 60)
    img[(xx - 40) ** 2 + (yy - 48) ** 2 < 400] = (240, 220, 40)
    img[(np.abs(xx - 95) < 15) & (np.abs(yy - 40) < 20)] = (200, 30, 30)
    return img


def _check_records(records: list, iou_thresh: float, stability_thresh: float, crops: set) -> None:
    for ann in records:
        assert set(ann) == RECORD_KEYS
        seg = ann["segmentation"]
        assert isinstance(seg, np.ndarray) and seg.dtype == bool and seg.shape == (H, W)
        assert ann["area"] == int(seg.sum()) > 0
        ys, xs = np.nonzero(seg)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]  # XYWH
        assert ann["predicted_iou"] > iou_thresh and ann["stability_score"] >= stability_thresh
        (x, y), = ann["point_coords"]
        assert 0 <= x < W and 0 <= y < H
        assert tuple(ann["crop_box"]) in crops


def test_default_generator_then_output_modes(decisive_model, image, monkeypatch) -> None:
    mask_generator = SAM2AutomaticMaskGenerator(decisive_model)
    masks = mask_generator.generate(image)
    assert len(masks) > 0
    _check_records(masks, 0.8, 0.95, {(0, 0, W, H)})
    # the notebook's show_anns: largest first, painting each 'segmentation'
    canvas = np.zeros((H, W), dtype=np.int32)
    for i, ann in enumerate(sorted(masks, key=lambda a: a["area"], reverse=True)):
        canvas[ann["segmentation"]] = i + 1
    assert canvas.max() == len(masks)

    rle = SAM2AutomaticMaskGenerator(decisive_model, output_mode="uncompressed_rle").generate(image)
    assert [r["area"] for r in rle] == [m["area"] for m in masks]
    for r, m in zip(rle, masks):
        assert r["segmentation"]["size"] == [H, W]
        assert np.array_equal(rle_to_mask(r["segmentation"]), m["segmentation"])
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    with pytest.raises(ImportError, match=r"sam2-rcms\[coco\]"):
        SAM2AutomaticMaskGenerator(decisive_model, output_mode="coco_rle")


@pytest.mark.slow
def test_notebook_settings(decisive_model, image) -> None:
    mask_generator_2 = SAM2AutomaticMaskGenerator(model=decisive_model, **NOTEBOOK_SETTINGS)
    # what the settings mean: a 64x64 grid on the image, 32x32 on each of the 4 layer-1 crops,
    # 128 points per decoder call, small holes and specks removed by the predictor
    assert [len(g) for g in mask_generator_2.point_grids] == [64 * 64, 32 * 32]
    assert mask_generator_2.points_per_batch == 128 and mask_generator_2.use_m2m
    assert mask_generator_2.predictor._transforms.max_hole_area == 25.0
    assert mask_generator_2.predictor._transforms.max_sprinkle_area == 25.0
    masks2 = mask_generator_2.generate(image)
    assert len(masks2) > 0
    overlap = int(512 / 1500 * min(H, W))  # the default crop_overlap_ratio
    crop_w, crop_h = -(-(W + overlap) // 2), -(-(H + overlap) // 2)  # two crops per side, ceil
    crops = {(0, 0, W, H)} | {
        (x0, y0, min(x0 + crop_w, W) - x0, min(y0 + crop_h, H) - y0)
        for x0 in (0, crop_w - overlap) for y0 in (0, crop_h - overlap)
    }
    _check_records(masks2, 0.7, 0.92, crops)
