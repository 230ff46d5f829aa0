"""NumPy versions of the few tensor operations the video predictor runs outside the model.

They follow the PyTorch operations the predictor uses (``F.interpolate`` bilinear with and
without antialiasing, bfloat16 storage, hole filling, the non-overlap constraint, the MQF
quality) so a caller of the exported graphs gets the predictor's numbers. Arrays are
float32 ``[B, 1, H, W]`` unless said otherwise.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

__all__ = [
    "resize_bilinear", "resize_bilinear_aa", "round_bfloat16", "fill_holes", "non_overlap",
    "mask_quality", "stability_scores", "sigmoid", "HOLE_FILL_SCORE", "NO_QUALITY",
]

#: score written into filled holes (as :func:`sam2.utils.misc.fill_holes_in_mask_scores`)
HOLE_FILL_SCORE = 0.1
#: quality of a prediction with no positive pixel (as :mod:`sam2.utils.mask_quality`)
NO_QUALITY = -1.0


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function in float32 (no overflow warnings for large negative logits)."""
    x = np.asarray(x, dtype=np.float32)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def _linear_taps(size_in: int, size_out: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of bilinear sampling with ``align_corners=False``."""
    scale = np.float32(size_in) / np.float32(size_out)
    src = (np.arange(size_out, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    i0 = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    i1 = np.minimum(i0 + 1, size_in - 1)
    w1 = (src - i0).astype(np.float32)
    return i0, i1, w1


def _resize_input(x: np.ndarray, size: Tuple[int, int]) -> Tuple[np.ndarray, bool]:
    """``x`` as float32 ``[..., H, W]``, and whether ``(H, W)`` already equals ``size``."""
    x = np.asarray(x, dtype=np.float32)
    return x, tuple(x.shape[-2:]) == tuple(size)


def resize_bilinear(x: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``F.interpolate(x, size, mode="bilinear", align_corners=False)`` of ``[..., H, W]``."""
    x, same = _resize_input(x, size)
    if same:
        return x.copy()
    (h_in, w_in), (h_out, w_out) = x.shape[-2:], size
    r0, r1, wr = _linear_taps(h_in, h_out)
    c0, c1, wc = _linear_taps(w_in, w_out)
    rows = x[..., r0, :] * (1 - wr)[:, None] + x[..., r1, :] * wr[:, None]
    return (rows[..., c0] * (1 - wc) + rows[..., c1] * wc).astype(np.float32)


def _aa_matrix(size_in: int, size_out: int) -> np.ndarray:
    """``[size_out, size_in]`` weights of PyTorch's antialiased bilinear resampling."""
    scale = size_in / size_out
    support = scale if scale >= 1.0 else 1.0
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    weights = np.zeros((size_out, size_in), dtype=np.float64)
    for i in range(size_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), size_in)
        taps = np.arange(lo, hi)
        w = np.maximum(0.0, 1.0 - np.abs((taps - center + 0.5) * invscale))
        total = w.sum()
        weights[i, lo:hi] = w / total if total != 0 else w
    return weights


def resize_bilinear_aa(x: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``F.interpolate(x, size, mode="bilinear", align_corners=False, antialias=True)``."""
    x, same = _resize_input(x, size)
    if same:
        return x.copy()
    (h_in, w_in), (h_out, w_out) = x.shape[-2:], size
    wh = _aa_matrix(h_in, h_out).astype(np.float32)
    ww = _aa_matrix(w_in, w_out).astype(np.float32)
    return np.einsum("oh,...hw,pw->...op", wh, x, ww, optimize=True).astype(np.float32)


def round_bfloat16(x: np.ndarray) -> np.ndarray:
    """Float32 values rounded to bfloat16 (round to nearest even) and back, as
    ``x.to(torch.bfloat16).float()``."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    rounded = ((bits + rounding) & np.uint32(0xFFFF0000)).astype(np.uint32)
    nan = np.isnan(x)
    out = rounded.view(np.float32).copy()
    out[nan] = np.nan
    return out


def _max_pool3(x: np.ndarray, fill: float) -> np.ndarray:
    """3x3 max over the last two axes (8-neighbourhood plus centre)."""
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)], constant_values=fill)
    h, w = x.shape[-2:]
    out = np.full_like(x, fill)
    for dy in range(3):
        for dx in range(3):
            np.maximum(out, padded[..., dy:dy + h, dx:dx + w], out=out)
    return out


def fill_holes(masks: np.ndarray, max_area: float) -> np.ndarray:
    """Set 8-connected components of ``masks <= 0`` with area ``<= max_area`` to 0.1
    (:func:`sam2.utils.misc.fill_holes_in_mask_scores`), for ``[B, 1, H, W]`` logits.

    Components are found by propagating the largest pixel label through the background for
    ``ceil(max_area)`` steps: a component that small is then uniformly labelled, and a label
    group is a whole component exactly when no background neighbour carries another label.
    """
    if not max_area > 0:
        raise ValueError(f"fill_holes: max_area must be positive, got {max_area}")
    masks = np.asarray(masks, dtype=np.float32)
    bg = masks <= 0
    if not bg.any():
        return masks.copy()
    b, c, h, w = masks.shape
    labels = np.where(bg, np.arange(1, h * w + 1, dtype=np.int64).reshape(1, 1, h, w), 0)
    for _ in range(int(np.ceil(max_area))):
        labels = np.where(bg, _max_pool3(labels, 0), 0)
    big = np.int64(h * w + 2)
    hi = np.where(bg, _max_pool3(labels, 0), 0)
    lo = np.where(bg, -_max_pool3(np.where(bg, -labels, -big), -big), 0)
    open_pixel = bg & ((hi != labels) | (lo != labels))
    out = masks.copy()
    for i in range(b):
        for j in range(c):
            lab = labels[i, j]
            ids, counts = np.unique(lab[bg[i, j]], return_counts=True)
            opened = np.unique(lab[open_pixel[i, j]])
            small = ids[(counts <= max_area) & ~np.isin(ids, opened)]
            if small.size:
                out[i, j][np.isin(lab, small) & bg[i, j]] = HOLE_FILL_SCORE
    return out


def non_overlap(masks: np.ndarray) -> np.ndarray:
    """Keep the highest-scoring object per pixel of ``[O, 1, H, W]`` logits; the others are
    clamped to at most -10 there."""
    if masks.shape[0] == 1:
        return masks
    winner = masks.argmax(axis=0)[None]
    ids = np.arange(masks.shape[0]).reshape(-1, 1, 1, 1)
    return np.where(winner == ids, masks, np.minimum(masks, np.float32(-10.0))).astype(np.float32)


def mask_quality(masks: np.ndarray, scores: np.ndarray, ious: Optional[np.ndarray]) -> np.ndarray:
    """MQF quality ``[B]`` of stored predictions (:func:`sam2.utils.mask_quality.mask_quality`)."""
    logits = np.asarray(masks, dtype=np.float32).reshape(masks.shape[0], -1)
    positive = logits > 0
    count = positive.sum(axis=1)
    conf = np.where(positive, sigmoid(logits), 0).sum(axis=1, dtype=np.float32) / np.maximum(count, 1)
    presence = sigmoid(np.asarray(scores, dtype=np.float32).reshape(logits.shape[0], -1)[:, 0])
    best = np.ones_like(presence) if ious is None else np.asarray(ious, np.float32).reshape(logits.shape[0], -1).max(axis=1)
    quality = (presence * best * conf).astype(np.float32)
    return np.where(count > 0, quality, np.float32(NO_QUALITY)).astype(np.float32)


def stability_scores(masks: np.ndarray, delta: float) -> np.ndarray:
    """IoU of ``masks > delta`` and ``masks > -delta`` over the last two axes (1 when empty)."""
    flat = masks.reshape(*masks.shape[:-2], -1)
    inner = (flat > delta).sum(axis=-1).astype(np.float32)
    outer = (flat > -delta).sum(axis=-1).astype(np.float32)
    return np.where(outer > 0, inner / np.maximum(outer, 1), np.float32(1.0))
