"""Unit tests of sam2.utils.amg with answers worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sam2.utils import amg


# ------------------------------------------------------------------ point grids
def test_point_grid_two_by_two_is_cell_centres_x_fastest() -> None:
    grid = amg.build_point_grid(2)
    expected = np.array([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])
    np.testing.assert_allclose(grid, expected, atol=1e-12)


def test_point_grid_one_and_three() -> None:
    np.testing.assert_allclose(amg.build_point_grid(1), [[0.5, 0.5]])
    grid = amg.build_point_grid(3)
    # centres of thirds: 1/6, 1/2, 5/6; the 4th point is (x=1/6, y=1/2)
    assert grid.shape == (9, 2)
    np.testing.assert_allclose(grid[3], [1 / 6, 1 / 2], atol=1e-12)
    np.testing.assert_allclose(grid[8], [5 / 6, 5 / 6], atol=1e-12)


def test_point_grids_per_layer_downscale() -> None:
    grids = amg.build_all_layer_point_grids(8, 2, 2)  # 8, 4, 2 points per side
    assert [g.shape for g in grids] == [(64, 2), (16, 2), (4, 2)]
    grids = amg.build_all_layer_point_grids(5, 1, 2)  # int(5 / 2) = 2
    assert [g.shape[0] for g in grids] == [25, 4]
    assert len(amg.build_all_layer_point_grids(4, 0, 1)) == 1


# ------------------------------------------------------------------ crop boxes
def test_crop_boxes_zero_layers_is_whole_image() -> None:
    boxes, layers = amg.generate_crop_boxes((120, 160), 0, 512 / 1500)
    assert boxes == [[0, 0, 160, 120]]
    assert layers == [0]


def test_crop_boxes_one_layer_by_hand() -> None:
    # H=120, W=160, short side 120; layer 1: 2 crops per side,
    # overlap = int(512/1500 * 120 * 2/2) = int(40.96) = 40
    # crop_w = ceil((40 + 160) / 2) = 100, crop_h = ceil((40 + 120) / 2) = 80
    # x0 in {0, 60}, y0 in {0, 40}; x0 is the outer loop.
    boxes, layers = amg.generate_crop_boxes((120, 160), 1, 512 / 1500)
    assert boxes == [
        [0, 0, 160, 120],
        [0, 0, 100, 80],
        [0, 40, 100, 120],
        [60, 0, 160, 80],
        [60, 40, 160, 120],
    ]
    assert layers == [0, 1, 1, 1, 1]


def test_crop_boxes_two_layers_by_hand() -> None:
    # layer 2: 4 crops per side, overlap = int(0.341333 * 120 * 2/4) = int(20.48) = 20
    # crop_w = ceil((3*20 + 160) / 4) = 55, crop_h = ceil((3*20 + 120) / 4) = 45
    # x0 = 35*k = 0, 35, 70, 105; y0 = 25*k = 0, 25, 50, 75; clipped at 160 / 120
    boxes, layers = amg.generate_crop_boxes((120, 160), 2, 512 / 1500)
    assert len(boxes) == 1 + 4 + 16
    assert layers == [0] + [1] * 4 + [2] * 16
    layer2 = boxes[5:]
    x0s, y0s = [0, 35, 70, 105], [0, 25, 50, 75]
    expected = [[x, y, min(x + 55, 160), min(y + 45, 120)] for x in x0s for y in y0s]
    assert layer2 == expected
    assert layer2[-1] == [105, 75, 160, 120]
    assert layer2[1] == [0, 25, 55, 70]


# ------------------------------------------------------------------ batching
def test_batch_iterator_aligned_slices_and_tail() -> None:
    a, b = list(range(5)), np.arange(5) * 10
    batches = list(amg.batch_iterator(2, a, b))
    assert [x for x, _ in batches] == [[0, 1], [2, 3], [4]]
    np.testing.assert_array_equal(batches[2][1], [40])
    with pytest.raises(ValueError, match="different lengths"):
        list(amg.batch_iterator(2, a, b[:3]))
    with pytest.raises(ValueError, match="batch_size"):
        list(amg.batch_iterator(0, a))


# ------------------------------------------------------------------ boxes
def test_batched_mask_to_box_by_hand() -> None:
    masks = torch.zeros(2, 3, 6, 8, dtype=torch.bool)
    masks[0, 0, 1:3, 3:6] = True  # rows 1..2, cols 3..5
    masks[0, 1, 5, 7] = True  # bottom-right pixel
    masks[1, 2, 0, 0] = True
    masks[1, 2, 4, 2] = True
    boxes = amg.batched_mask_to_box(masks)
    assert boxes.shape == (2, 3, 4) and boxes.dtype == torch.int64
    assert boxes[0, 0].tolist() == [3, 1, 5, 2]
    assert boxes[0, 1].tolist() == [7, 5, 7, 5]
    assert boxes[0, 2].tolist() == [0, 0, 0, 0]  # empty
    assert boxes[1, 2].tolist() == [0, 0, 2, 4]
    assert amg.batched_mask_to_box(torch.zeros(0, 4, 4, dtype=torch.bool)).shape == (0, 4)


def test_box_xyxy_to_xywh_does_not_modify_input() -> None:
    box = torch.tensor([3.0, 1.0, 5.0, 2.0])
    assert amg.box_xyxy_to_xywh(box).tolist() == [3.0, 1.0, 2.0, 1.0]
    assert box.tolist() == [3.0, 1.0, 5.0, 2.0]


def test_nms_keeps_higher_scored_of_two_overlapping_masks() -> None:
    masks = torch.zeros(3, 20, 20, dtype=torch.bool)
    masks[0, 2:12, 2:12] = True
    masks[1, 3:12, 2:12] = True  # nearly the same region as mask 0
    masks[2, 14:18, 14:18] = True  # elsewhere
    boxes = amg.batched_mask_to_box(masks)
    scores = torch.tensor([0.5, 0.9, 0.1])
    keep = amg.box_nms(boxes, scores, iou_threshold=0.7)
    assert keep.tolist() == [1, 2]
    keep = amg.box_nms(boxes, torch.tensor([0.9, 0.5, 0.1]), iou_threshold=0.7)
    assert keep.tolist() == [0, 2]
    # threshold 1.0 keeps everything, sorted by score
    assert amg.box_nms(boxes, scores, iou_threshold=1.0).tolist() == [1, 0, 2]
    assert amg.box_nms(boxes[:0], scores[:0], 0.7).numel() == 0


# ------------------------------------------------------------------ stability
def test_stability_score_on_hand_made_logits() -> None:
    logits = torch.tensor(
        [
            [3.0, 2.0, 0.5, -2.0],
            [1.5, 0.2, -0.5, -3.0],
            [-1.5, -0.9, -4.0, 9.0],
        ]
    )
    # threshold 0, offset 1: > 1 -> {3, 2, 1.5, 9} = 4; > -1 -> those + {0.5, 0.2, -0.5, -0.9} = 8
    score = amg.calculate_stability_score(logits[None], 0.0, 1.0)
    assert score.shape == (1,)
    assert score.item() == pytest.approx(4 / 8)
    # threshold 1, offset 0.5: > 1.5 -> {3, 2, 9} = 3; > 0.5 -> {3, 2, 1.5, 9} = 4
    assert amg.calculate_stability_score(logits, 1.0, 0.5).item() == pytest.approx(3 / 4)
    empty = amg.calculate_stability_score(torch.full((2, 3, 3), -5.0), 0.0, 1.0)
    assert torch.isnan(empty).all()


# ------------------------------------------------------------------ crops
def test_uncrop_boxes_points_masks() -> None:
    crop = [60, 40, 160, 120]
    boxes = torch.tensor([[0, 0, 10, 20]])
    assert amg.uncrop_boxes_xyxy(boxes, crop).tolist() == [[60, 40, 70, 60]]
    pts = torch.tensor([[[1.5, 2.5]]])
    assert amg.uncrop_points(pts, crop).tolist() == [[[61.5, 42.5]]]
    masks = torch.ones(2, 80, 100, dtype=torch.bool)
    full = amg.uncrop_masks(masks, crop, 120, 160)
    assert full.shape == (2, 120, 160)
    assert full.sum().item() == 2 * 80 * 100
    assert full[:, 40:, 60:].all() and not full[:, :40].any() and not full[:, :, :60].any()
    same = torch.zeros(1, 120, 160, dtype=torch.bool)
    assert amg.uncrop_masks(same, [0, 0, 160, 120], 120, 160) is same


def test_box_near_crop_edge() -> None:
    crop, image = [0, 0, 100, 80], [0, 0, 160, 120]
    boxes = torch.tensor(
        [
            [10, 10, 95, 50],  # right edge 95 is within 20 px of the crop's inner edge 100
            [10, 10, 50, 50],  # near the left/top crop edges, which are image edges too
            [30, 30, 50, 50],  # far from everything
            [30, 62, 50, 70],  # bottom within 20 px of crop bottom 80
        ]
    )
    assert amg.is_box_near_crop_edge(boxes, crop, image).tolist() == [True, False, False, True]
    # whole-image crop: nothing is "near a crop edge"
    assert not amg.is_box_near_crop_edge(boxes, image, image).any()


# ------------------------------------------------------------------ RLE
def test_rle_by_hand() -> None:
    # H=3, W=2; column-major read: col0 = 0,1,0 ; col1 = 1,1,0 -> 0 | 1 | 0 | 1 1 | 0
    mask = torch.tensor([[[0, 1], [1, 1], [0, 0]]], dtype=torch.bool)
    (rle,) = amg.mask_to_rle_pytorch(mask)
    assert rle == {"size": [3, 2], "counts": [1, 1, 1, 2, 1]}
    assert amg.area_from_rle(rle) == 3
    # starts with foreground: a leading empty background run
    (rle,) = amg.mask_to_rle_pytorch(torch.tensor([[[1, 0], [1, 0]]], dtype=torch.bool))
    assert rle["counts"] == [0, 2, 2]
    (rle,) = amg.mask_to_rle_pytorch(torch.zeros(1, 2, 2, dtype=torch.bool))
    assert rle["counts"] == [4]
    (rle,) = amg.mask_to_rle_pytorch(torch.ones(1, 2, 2, dtype=torch.bool))
    assert rle["counts"] == [0, 4]
    assert amg.mask_to_rle_pytorch(torch.zeros(0, 3, 3, dtype=torch.bool)) == []


def test_rle_round_trip_random_masks() -> None:
    gen = torch.Generator().manual_seed(0)
    masks = torch.rand(6, 17, 23, generator=gen) > 0.5
    masks[0] = False
    masks[1] = True
    rles = amg.mask_to_rle_pytorch(masks)
    for mask, rle in zip(masks, rles):
        decoded = amg.rle_to_mask(rle)
        assert decoded.shape == (17, 23) and decoded.dtype == bool
        np.testing.assert_array_equal(decoded, mask.numpy())
        assert amg.area_from_rle(rle) == int(mask.sum())
        assert sum(rle["counts"]) == 17 * 23


def test_rle_decode_rejects_inconsistent_counts() -> None:
    with pytest.raises(ValueError, match="counts sum"):
        amg.rle_to_mask({"size": [2, 2], "counts": [1, 1]})


def test_coco_rle_matches_pycocotools_or_says_how_to_install() -> None:
    masks = torch.zeros(2, 9, 7, dtype=torch.bool)
    masks[0, 2:6, 1:4] = True
    masks[1, 0, 0] = True
    rles = amg.mask_to_rle_pytorch(masks)
    try:
        from pycocotools import mask as coco_mask  # type: ignore[import-not-found]
    except ImportError:
        with pytest.raises(ImportError, match="pip install pycocotools"):
            amg.coco_encode_rle(rles[0])
        return
    for mask, rle in zip(masks, rles):
        ours = amg.coco_encode_rle(rle)
        theirs = coco_mask.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))
        assert ours["counts"] == theirs["counts"].decode("utf-8")
        assert list(ours["size"]) == [9, 7]
        np.testing.assert_array_equal(coco_mask.decode(theirs), mask.numpy())


# ------------------------------------------------------------------ small regions
def test_remove_small_regions_fills_holes_and_drops_islands() -> None:
    mask = np.zeros((9, 9), dtype=bool)
    mask[1:6, 1:6] = True
    mask[3, 3] = False  # a one-pixel hole
    mask[8, 8] = True  # a one-pixel island
    filled, changed = amg.remove_small_regions(mask, 2, "holes")
    assert changed and filled[3, 3] and filled[8, 8] and filled.sum() == mask.sum() + 1
    cleaned, changed = amg.remove_small_regions(mask, 2, "islands")
    assert changed and not cleaned[8, 8] and cleaned.sum() == mask.sum() - 1
    same, changed = amg.remove_small_regions(mask, 1, "islands")
    assert not changed and (same == mask).all()
    # diagonal neighbours are connected (8-connectivity): no island of size 1 here
    diag = np.zeros((4, 4), dtype=bool)
    diag[0, 0] = diag[1, 1] = True
    _, changed = amg.remove_small_regions(diag, 2, "islands")
    assert not changed


def test_remove_small_regions_keeps_largest_when_all_small() -> None:
    mask = np.zeros((6, 6), dtype=bool)
    mask[0, 0] = True
    mask[4:6, 4:6] = True  # size 4
    out, changed = amg.remove_small_regions(mask, 10, "islands")
    assert changed and out.sum() == 4 and out[5, 5] and not out[0, 0]
    with pytest.raises(ValueError, match="mode"):
        amg.remove_small_regions(mask, 10, "blobs")


# ------------------------------------------------------------------ records
def test_mask_candidates_select_and_concat() -> None:
    a = amg.MaskCandidates(
        rles=[{"i": 0}, {"i": 1}, {"i": 2}],
        boxes=torch.arange(12).reshape(3, 4),
        iou_preds=torch.tensor([0.1, 0.2, 0.3]),
        stability_score=torch.tensor([1.0, 0.5, 0.25]),
        points=torch.zeros(3, 2),
        crop_boxes=torch.zeros(3, 4, dtype=torch.long),
    )
    picked = a.select(torch.tensor([2, 0]))
    assert [r["i"] for r in picked.rles] == [2, 0]
    assert picked.iou_preds.tolist() == pytest.approx([0.3, 0.1])
    masked = a.select(torch.tensor([False, True, True]))
    assert masked.boxes.tolist() == [[4, 5, 6, 7], [8, 9, 10, 11]]
    both = amg.MaskCandidates.concat([picked, amg.MaskCandidates(), masked])
    assert len(both) == 4 and both.stability_score.tolist() == [0.25, 1.0, 0.5, 0.25]
    assert len(amg.MaskCandidates.concat([])) == 0


def test_mask_data_filter_cat_to_numpy() -> None:
    data = amg.MaskData(x=torch.tensor([1.0, 2.0, 3.0]), y=[4, 5, 6], z=np.array([7, 8, 9]))
    data.filter(torch.tensor([True, False, True]))
    assert data["x"].tolist() == [1.0, 3.0] and data["y"] == [4, 6]
    assert data["z"].tolist() == [7, 9]
    data.cat(amg.MaskData(x=torch.tensor([9.0]), y=[0], z=np.array([1]), w=[5]))
    assert data["x"].tolist() == [1.0, 3.0, 9.0] and data["y"] == [4, 6, 0] and data["w"] == [5]
    data.to_numpy()
    assert isinstance(data["x"], np.ndarray)
    with pytest.raises(TypeError, match="MaskData"):
        data["bad"] = 3


def test_compact_rles_match_list_rles() -> None:
    gen = torch.Generator().manual_seed(1)
    masks = torch.rand(4, 9, 13, generator=gen) > 0.3
    masks[2] = True
    compact = amg.compact_rles(masks)
    listed = amg.mask_to_rle_pytorch(masks)
    for small, plain, mask in zip(compact, listed, masks):
        assert small["counts"].dtype == np.int32
        assert amg.rle_counts_as_list(small) == plain
        assert isinstance(plain["counts"][0], int)
        np.testing.assert_array_equal(amg.rle_to_mask(small), mask.numpy())
        assert amg.area_from_rle(small) == amg.area_from_rle(plain) == int(mask.sum())
