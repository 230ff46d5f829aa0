"""Behaviour of SAM2AutomaticMaskGenerator with a stand-in predictor whose masks are known disks.

The stand-in replaces the image predictor (the model is parity-tested separately): for a click
at (x, y) it returns discs of radius 3, 6 and 45 pixels around it, with predicted IoUs 0.9, 0.8,
0.7; with a mask prompt (mask-to-mask refinement) a single disc of radius 4 with IoU 0.95.
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np
import pytest
import torch

import sam2.automatic_mask_generator as amg_module
from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
from sam2.utils import amg

RADII = (3.0, 6.0, 45.0)
IOUS = (0.9, 0.8, 0.7)
REFINED_RADIUS, REFINED_IOU = 4.0, 0.95
RESOLUTION = 64


class _Transforms:
    def transform_coords(self, coords: torch.Tensor, normalize: bool = False,
                         orig_hw: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        assert normalize and orig_hw is not None
        h, w = orig_hw
        return coords / torch.tensor([w, h], dtype=coords.dtype) * RESOLUTION


class DiscPredictor:
    """Stand-in for SAM2ImagePredictor (records how it is called)."""

    instances: List["DiscPredictor"] = []

    def __init__(self, model: Any, max_hole_area: float = 0.0, max_sprinkle_area: float = 0.0) -> None:
        self.model = model
        self.max_hole_area, self.max_sprinkle_area = max_hole_area, max_sprinkle_area
        self._transforms = _Transforms()
        self.device = torch.device("cpu")
        self.image_shapes: List[Tuple[int, ...]] = []
        self.batch_sizes: List[int] = []
        self.resets = 0
        self.hw: Optional[Tuple[int, int]] = None
        DiscPredictor.instances.append(self)

    def set_image(self, image: np.ndarray) -> None:
        assert image.dtype == np.uint8 and image.ndim == 3
        self.image_shapes.append(image.shape)
        self.hw = image.shape[:2]

    def reset_predictor(self) -> None:
        self.resets += 1
        self.hw = None

    def _predict(self, point_coords: torch.Tensor, point_labels: torch.Tensor,
                 boxes: Any = None, mask_input: Optional[torch.Tensor] = None,
                 multimask_output: bool = True, return_logits: bool = False,
                 img_idx: int = -1) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        assert self.hw is not None and return_logits
        assert point_coords.shape[1:] == (1, 2) and point_labels.shape == point_coords.shape[:2]
        h, w = self.hw
        n = point_coords.shape[0]
        self.batch_sizes.append(n)
        xy = point_coords[:, 0] / RESOLUTION * torch.tensor([w, h])  # back to crop pixels
        if mask_input is not None:
            assert mask_input.shape == (n, 1, 16, 16) and not multimask_output
            radii, ious = torch.tensor([REFINED_RADIUS]), torch.tensor([REFINED_IOU])
        elif multimask_output:
            radii, ious = torch.tensor(RADII), torch.tensor(IOUS)
        else:
            radii, ious = torch.tensor(RADII[:1]), torch.tensor(IOUS[:1])
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing="ij")
        dist = torch.hypot(xs[None] - xy[:, 0, None, None], ys[None] - xy[:, 1, None, None])
        logits = radii[None, :, None, None] - dist[:, None]  # [n, C, h, w], > 0 inside
        low_res = torch.zeros(n, len(radii), 16, 16)
        return logits, ious[None].repeat(n, 1), low_res


@pytest.fixture(autouse=True)
def disc_predictor(monkeypatch: pytest.MonkeyPatch) -> None:
    DiscPredictor.instances.clear()
    monkeypatch.setattr(amg_module, "_image_predictor_class", lambda: DiscPredictor)


KEEP_ALL = dict(pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0)


def _disc(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return (r - np.hypot(xs - cx, ys - cy)) > 0


def test_full_image_grid_gives_discs_at_grid_points() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    gen = SAM2AutomaticMaskGenerator(object(), points_per_side=2, points_per_batch=3, **KEEP_ALL)
    records = gen.generate(image)
    assert len(records) == 4 * 3
    assert [r["predicted_iou"] for r in records] == pytest.approx([0.9] * 4 + [0.8] * 4 + [0.7] * 4)
    for rec in records:
        (x, y), = rec["point_coords"]
        assert (x, y) in {(15.0, 10.0), (45.0, 10.0), (15.0, 30.0), (45.0, 30.0)}
        radius = RADII[IOUS.index(pytest.approx(rec["predicted_iou"]))]
        expected = _disc(40, 60, x, y, radius)
        assert rec["segmentation"].dtype == bool and rec["segmentation"].shape == (40, 60)
        np.testing.assert_array_equal(rec["segmentation"], expected)
        assert rec["area"] == int(expected.sum())
        ys, xs = np.nonzero(expected)
        assert rec["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]
        assert rec["crop_box"] == [0.0, 0.0, 60.0, 40.0]
        assert 0.0 < rec["stability_score"] <= 1.0
    pred = DiscPredictor.instances[0]
    assert pred.batch_sizes == [3, 1] and pred.image_shapes == [(40, 60, 3)] and pred.resets == 1


def test_crops_uncrop_filter_edges_and_prefer_smaller_crops() -> None:
    # Layer 0 clicks (40, 30); layer-1 crops [0,0,100,80], [0,40,100,120], [60,0,160,80],
    # [60,40,160,120] click at 40% / 37.5% of the crop: (40,30), (40,70), (100,30), (100,70).
    image = np.zeros((120, 160, 3), np.uint8)
    grids = [np.array([[0.25, 0.25]]), np.array([[0.4, 0.375]])]
    gen = SAM2AutomaticMaskGenerator(
        object(), points_per_side=None, point_grids=grids, crop_n_layers=1,
        crop_nms_thresh=0.7, **KEEP_ALL,
    )
    records = gen.generate(image)
    pred = DiscPredictor.instances[0]
    assert pred.image_shapes == [(120, 160, 3)] + [(80, 100, 3)] * 4
    # radius-45 discs touch inner crop edges: dropped in crops, kept on the full image;
    # radius 3 and 6 discs at (40, 30) exist twice: the crop's copies win the cross-crop NMS.
    summary = sorted(
        (tuple(r["point_coords"][0]), RADII[IOUS.index(pytest.approx(r["predicted_iou"]))],
         tuple(r["crop_box"])) for r in records
    )
    expected = [((40.0, 30.0), 45.0, (0.0, 0.0, 160.0, 120.0))]
    for (px, py), crop in zip([(40, 30), (40, 70), (100, 30), (100, 70)],
                              [(0, 0, 100, 80), (0, 40, 100, 80), (60, 0, 100, 80), (60, 40, 100, 80)]):
        for radius in (3.0, 6.0):
            expected.append(((float(px), float(py)), radius, tuple(float(c) for c in crop)))
    assert summary == sorted(expected)
    for rec in records:
        (x, y), = rec["point_coords"]
        radius = RADII[IOUS.index(pytest.approx(rec["predicted_iou"]))]
        # masks are placed at the right spot of the full image
        np.testing.assert_array_equal(rec["segmentation"], _disc(120, 160, x, y, radius))


def test_m2m_refines_every_candidate_in_bounded_batches() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    gen = SAM2AutomaticMaskGenerator(object(), points_per_side=2, points_per_batch=2,
                                     use_m2m=True, **KEEP_ALL)
    records = gen.generate(image)
    assert len(records) == 12
    assert all(r["predicted_iou"] == pytest.approx(REFINED_IOU) for r in records)
    for rec in records:
        (x, y), = rec["point_coords"]
        np.testing.assert_array_equal(rec["segmentation"], _disc(40, 60, x, y, REFINED_RADIUS))
    # 2 points -> 6 candidates -> refined 2 at a time; never more than points_per_batch
    sizes = DiscPredictor.instances[0].batch_sizes
    assert sizes == [2, 2, 2, 2, 2, 2, 2, 2]


def test_thresholds_and_nms() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    only_best = SAM2AutomaticMaskGenerator(object(), points_per_side=2, pred_iou_thresh=0.85,
                                           stability_score_thresh=0.0, box_nms_thresh=1.0)
    assert [r["predicted_iou"] for r in only_best.generate(image)] == pytest.approx([0.9] * 4)
    # stability of a cone logit map: pixels with r - d > 1 over pixels with r - d > -1
    stable = SAM2AutomaticMaskGenerator(object(), points_per_side=2, pred_iou_thresh=0.0,
                                        stability_score_thresh=0.4, box_nms_thresh=1.0)
    kept = {round(r["predicted_iou"], 2) for r in stable.generate(image)}
    # radius 3: about (2/4)^2 = 0.25; radius 6: (5/7)^2 = 0.51; radius 45: ~1 (image-clipped)
    assert kept == {0.8, 0.7}
    nms = SAM2AutomaticMaskGenerator(object(), points_per_side=1, pred_iou_thresh=0.0,
                                     stability_score_thresh=0.0, box_nms_thresh=0.3)
    # nested discs at the centre (30, 20): boxes r3 [28,18,32,22] (area 4*4 = 16),
    # r6 [25,15,35,25] (100), r45 clipped to [0,0,59,39] (2301); IoU(r3, r6) = 0.16
    assert len(nms.generate(image)) == 3
    nms.box_nms_thresh = 0.1  # now r6 (IoU 0.8) loses to r3 (IoU 0.9); r45 overlaps little
    assert [r["predicted_iou"] for r in nms.generate(image)] == pytest.approx([0.9, 0.7])


def test_output_modes() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    binary = SAM2AutomaticMaskGenerator(object(), points_per_side=1, **KEEP_ALL).generate(image)
    rle = SAM2AutomaticMaskGenerator(object(), points_per_side=1, output_mode="uncompressed_rle",
                                     **KEEP_ALL).generate(image)
    assert len(binary) == len(rle) == 3
    for b, r in zip(binary, rle):
        assert set(r["segmentation"]) == {"size", "counts"}
        np.testing.assert_array_equal(amg.rle_to_mask(r["segmentation"]), b["segmentation"])
        assert b["area"] == r["area"] == int(b["segmentation"].sum())
    try:
        import pycocotools  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pycocotools"):
            SAM2AutomaticMaskGenerator(object(), points_per_side=1, output_mode="coco_rle")
    else:
        coco = SAM2AutomaticMaskGenerator(object(), points_per_side=1, output_mode="coco_rle",
                                          **KEEP_ALL).generate(image)
        assert all(isinstance(r["segmentation"]["counts"], str) for r in coco)


def test_min_mask_region_area_goes_to_the_predictor() -> None:
    SAM2AutomaticMaskGenerator(object(), points_per_side=1, min_mask_region_area=25)
    pred = DiscPredictor.instances[-1]
    assert pred.max_hole_area == 25 and pred.max_sprinkle_area == 25


def test_postprocess_small_regions_cleans_and_dedups() -> None:
    h, w = 20, 20
    with_hole = np.zeros((h, w), bool)
    with_hole[2:10, 2:10] = True
    with_hole[5, 5] = False
    clean = np.zeros((h, w), bool)
    clean[2:10, 2:10] = True
    other = np.zeros((h, w), bool)
    other[14:18, 14:18] = True
    other[0, 19] = True  # a speck far away
    masks = torch.from_numpy(np.stack([with_hole, clean, other]))
    data = amg.MaskCandidates(
        rles=amg.mask_to_rle_pytorch(masks), boxes=amg.batched_mask_to_box(masks),
        iou_preds=torch.tensor([0.9, 0.8, 0.7]), stability_score=torch.ones(3),
        points=torch.zeros(3, 2), crop_boxes=torch.tensor([[0, 0, w, h]] * 3),
    )
    out = SAM2AutomaticMaskGenerator.postprocess_small_regions(data, 4, 0.7)
    # the holed mask becomes a duplicate of the clean one and loses (changed masks score 0)
    assert out.iou_preds.tolist() == pytest.approx([0.8, 0.7])
    cleaned_other = amg.rle_to_mask(out.rles[1])
    assert not cleaned_other[0, 19] and cleaned_other[14:18, 14:18].all()
    assert out.boxes[1].tolist() == [14, 14, 17, 17]


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "image, error, message",
    [
        (np.zeros((20, 30), np.uint8), ValueError, "grayscale"),
        (np.zeros((20, 30, 1), np.uint8), ValueError, "grayscale"),
        (np.zeros((20, 30, 4), np.uint8), ValueError, "RGBA"),
        (np.zeros((20, 30, 3), np.float32), ValueError, "uint8"),
        (np.zeros((3, 20, 30), np.uint8), ValueError, r"\[H, W, 3\]"),
        ([[0, 1]], TypeError, "numpy array"),
    ],
)
def test_bad_images_are_refused(image: Any, error: type, message: str) -> None:
    gen = SAM2AutomaticMaskGenerator(object(), points_per_side=2)
    with pytest.raises(error, match=message):
        gen.generate(image)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="exactly one of points_per_side and point_grids.*both"):
        SAM2AutomaticMaskGenerator(object(), points_per_side=4, point_grids=[np.zeros((1, 2))])
    with pytest.raises(ValueError, match="exactly one of points_per_side and point_grids.*neither"):
        SAM2AutomaticMaskGenerator(object(), points_per_side=None)
    with pytest.raises(ValueError, match="unknown output_mode 'png'"):
        SAM2AutomaticMaskGenerator(object(), output_mode="png")
    with pytest.raises(ValueError, match="crop_n_layers=1 needs 2"):
        SAM2AutomaticMaskGenerator(object(), points_per_side=None,
                                   point_grids=[np.zeros((1, 2))], crop_n_layers=1)
    with pytest.raises(ValueError, match=r"point_grids\[0\] must have shape"):
        SAM2AutomaticMaskGenerator(object(), points_per_side=None, point_grids=[np.zeros(4)])
    assert DiscPredictor.instances == []  # refused before any predictor is built


def test_signature_has_the_official_names_and_defaults() -> None:
    import inspect

    params = inspect.signature(SAM2AutomaticMaskGenerator.__init__).parameters
    expected = dict(
        points_per_side=32, points_per_batch=64, pred_iou_thresh=0.8, stability_score_thresh=0.95,
        stability_score_offset=1.0, mask_threshold=0.0, box_nms_thresh=0.7, crop_n_layers=0,
        crop_nms_thresh=0.7, crop_overlap_ratio=512 / 1500, crop_n_points_downscale_factor=1,
        point_grids=None, min_mask_region_area=0, output_mode="binary_mask", use_m2m=False,
        multimask_output=True,
    )
    names = [n for n in params if n not in ("self", "kwargs")]
    assert names == ["model", *expected]
    assert {n: params[n].default for n in expected} == expected
