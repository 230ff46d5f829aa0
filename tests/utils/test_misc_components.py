"""get_connected_components / fill_holes_in_mask_scores / mask_to_box vs brute force."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from sam2.utils.misc import fill_holes_in_mask_scores, get_connected_components, mask_to_box

EIGHT = np.ones((3, 3), dtype=bool)


def _official_like_labels(mask2d: np.ndarray):
    """Brute force: scipy 8-connectivity + the kernel's label rule (1 + first 2x2 block index)."""
    comp, num = ndimage.label(mask2d, structure=EIGHT)
    height, width = mask2d.shape
    labels = np.zeros((height, width), np.int64)
    areas = np.zeros((height, width), np.int64)
    for k in range(1, num + 1):
        ys, xs = np.nonzero(comp == k)
        block = ((ys - ys % 2) * width + (xs - xs % 2)).min()
        labels[comp == k] = block + 1
        areas[comp == k] = ys.size
    return labels, areas


@pytest.mark.parametrize("seed", range(6))
def test_components_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    height, width = (int(v) for v in rng.integers(2, 48, size=2))
    masks = rng.random((3, 1, height, width)) < rng.uniform(0.25, 0.75)
    labels, counts = get_connected_components(torch.from_numpy(masks))
    assert labels.dtype == torch.int32 and counts.dtype == torch.int32
    assert labels.shape == (3, 1, height, width)
    for i in range(3):
        ref_labels, ref_areas = _official_like_labels(masks[i, 0])
        np.testing.assert_array_equal(labels[i, 0].numpy(), ref_labels)
        np.testing.assert_array_equal(counts[i, 0].numpy(), ref_areas)


def test_components_diagonal_is_connected_and_labels_use_blocks():
    mask = torch.zeros(1, 1, 6, 6, dtype=torch.uint8)
    for i in range(6):
        mask[0, 0, i, 5 - i] = 1  # anti-diagonal: one component under 8-connectivity
    labels, counts = get_connected_components(mask)
    fg = mask[0, 0].bool()
    assert torch.all(counts[0, 0][fg] == 6)
    # first block touched: block at row 0, col 4 -> label 1 + 0 * 6 + 4
    assert torch.all(labels[0, 0][fg] == 5)
    assert torch.all(labels[0, 0][~fg] == 0) and torch.all(counts[0, 0][~fg] == 0)


def test_components_long_snake():
    height = width = 64
    mask = np.zeros((height, width), bool)
    mask[::2, :] = True
    for r in range(1, height - 1, 2):
        mask[r, width - 1 if (r // 2) % 2 == 0 else 0] = True
    labels, counts = get_connected_components(torch.from_numpy(mask)[None, None])
    assert int(counts.max()) == int(mask.sum())
    assert set(labels[0, 0][torch.from_numpy(mask)].unique().tolist()) == {1}


def test_components_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\[N, 1, H, W\]"):
        get_connected_components(torch.zeros(2, 2, 4, 4))


def test_fill_holes_matches_brute_force():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(2, 1, 40, 36)).astype(np.float32) + 0.6
    out = fill_holes_in_mask_scores(torch.from_numpy(scores), max_area=5).numpy()
    for i in range(2):
        bg = scores[i, 0] <= 0
        comp, num = ndimage.label(bg, structure=EIGHT)
        expected = scores[i, 0].copy()
        for k in range(1, num + 1):
            if (comp == k).sum() <= 5:
                expected[comp == k] = 0.1
        np.testing.assert_array_equal(out[i, 0], expected)
    assert (out != scores).any()
    with pytest.raises(ValueError):
        fill_holes_in_mask_scores(torch.from_numpy(scores), 0)


def test_mask_to_box():
    masks = torch.zeros(3, 1, 10, 12, dtype=torch.bool)
    masks[0, 0, 2:5, 3:9] = True
    masks[1, 0, 7, 0] = True
    boxes = mask_to_box(masks)
    assert boxes.shape == (3, 1, 4) and boxes.dtype == torch.int32
    assert boxes[0, 0].tolist() == [3, 2, 8, 4]
    assert boxes[1, 0].tolist() == [0, 7, 0, 7]
    assert boxes[2, 0].tolist() == [12, 10, -1, -1]  # empty mask
