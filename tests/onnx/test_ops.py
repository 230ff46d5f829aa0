"""The NumPy operations of the ONNX tracker against the PyTorch operations they stand for."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam2.onnx import ops
from sam2.utils.misc import fill_holes_in_mask_scores
from sam2.utils.mask_quality import mask_quality


@pytest.mark.parametrize("size", [(128, 128), (60, 75), (8, 8), (17, 40)])
def test_resizes_match_interpolate(size):
    x = np.random.default_rng(0).normal(size=(2, 1, 32, 32)).astype(np.float32)
    t = torch.from_numpy(x)
    plain = F.interpolate(t, size=size, mode="bilinear", align_corners=False).numpy()
    aa = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True).numpy()
    np.testing.assert_allclose(ops.resize_bilinear(x, size), plain, atol=1e-5)
    np.testing.assert_allclose(ops.resize_bilinear_aa(x, size), aa, atol=1e-5)


def test_bfloat16_rounding_matches_torch():
    x = (np.random.default_rng(1).normal(size=4000) * 100).astype(np.float32)
    x[:3] = [0.0, -0.0, 1e-40]
    np.testing.assert_array_equal(ops.round_bfloat16(x), torch.from_numpy(x).bfloat16().float().numpy())


@pytest.mark.parametrize("seed", range(4))
def test_fill_holes_matches_connected_components(seed):
    rng = np.random.default_rng(seed)
    m = np.where(rng.random((3, 1, 32, 32)) > 0.35, 1.0, -1.0).astype(np.float32)
    m += rng.normal(size=m.shape).astype(np.float32) * 0.1
    got = ops.fill_holes(m, 8)
    assert (got != m).any()
    np.testing.assert_array_equal(got, fill_holes_in_mask_scores(torch.from_numpy(m), 8).numpy())


def test_quality_and_non_overlap():
    rng = np.random.default_rng(2)
    masks = rng.normal(size=(3, 1, 16, 16)).astype(np.float32) * 3
    masks[2] = -5  # no positive pixel: no quality
    scores = rng.normal(size=(3, 1)).astype(np.float32)
    ious = rng.random((3, 3)).astype(np.float32)
    want = mask_quality(torch.from_numpy(masks), torch.from_numpy(scores), torch.from_numpy(ious)).numpy()
    np.testing.assert_allclose(ops.mask_quality(masks, scores, ious), want, rtol=1e-6)
    assert ops.mask_quality(masks, scores, ious)[2] == ops.NO_QUALITY
    kept = ops.non_overlap(masks)
    winner = masks.argmax(0)
    for o in range(3):
        np.testing.assert_array_equal(kept[o][winner == o], masks[o][winner == o])
        assert (kept[o][winner != o] <= -10).all()
