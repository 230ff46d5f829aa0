"""Boundary maps, disk kernels, dilation and the boundary F measure of the MOSEv2 scorer.

Conventions reproduced (facts of the reference scorer):

* Boundary map (DAVIS): pixel ``(y, x)`` is on the boundary when it differs from its right,
  lower or lower-right neighbour; on the last row only the right neighbour counts, on the last
  column only the lower one, and the bottom-right corner is never a boundary pixel.
* Disk of a float radius ``r`` as scikit-image's ``disk(r)`` builds it: coordinates
  ``arange(-r, r + 1)`` on both axes, cell kept when ``x**2 + y**2 <= r**2``. For a non-integer
  ``r`` the grid is not centred on 0 (and may have an even side).
* Dilation as OpenCV's ``dilate`` with the default anchor: the anchor is the kernel's centre
  cell ``(k // 2, k // 2)`` and ``out[y, x] = OR_{K[i, j]} src[y + i - a_y, x + j - a_x]``
  (the kernel is not mirrored); pixels outside the image never contribute. An all-zero kernel
  (``disk(r)`` for ``0 < r < ~0.586``, i.e. images with a diagonal under ~73 px) acts, as in
  OpenCV 5, like a kernel whose only cell is the top-left one (checked against cv2 5.0).

:func:`boundary_f` computes precision/recall without materialising the dilated maps: for each
boundary pixel it looks up, row by row of the kernel, whether the other boundary has a pixel in
that row's run of columns (row prefix sums). :func:`dilate` is the plain version, for tests.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["boundary_map", "disk_kernel", "effective_kernel", "dilate", "boundary_f", "standard_radius", "frame_radii"]


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """DAVIS boundary map of a binary mask.

    Args:
        mask: ``[H, W]`` bool (or 0/1) mask.

    Returns:
        ``[H, W]`` bool boundary map.
    """
    seg = np.asarray(mask, dtype=bool)
    if seg.ndim != 2:
        raise ValueError(f"boundary_map expects a 2-D mask, got shape {seg.shape}")
    out = np.zeros_like(seg)
    if seg.size == 0:
        return out
    # interior: any of right / down / down-right differs
    body = seg[:-1, :-1]
    out[:-1, :-1] = (body != seg[:-1, 1:]) | (body != seg[1:, :-1]) | (body != seg[1:, 1:])
    # last row: only the right neighbour exists
    out[-1, :-1] = seg[-1, :-1] != seg[-1, 1:]
    # last column: only the lower neighbour exists
    out[:-1, -1] = seg[:-1, -1] != seg[1:, -1]
    out[-1, -1] = False
    return out


def disk_kernel(radius: float) -> np.ndarray:
    """Disk structuring element of scikit-image's ``disk(radius)`` for a float radius.

    Returns:
        ``[k, k]`` bool kernel, ``k = len(arange(-radius, radius + 1))``.
    """
    if not radius >= 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    coords = np.arange(-radius, radius + 1, dtype=np.float64)
    return (coords[None, :] ** 2 + coords[:, None] ** 2) <= radius**2


def effective_kernel(kernel: np.ndarray) -> np.ndarray:
    """The kernel OpenCV actually applies: an all-zero kernel becomes its top-left cell only."""
    k = np.asarray(kernel, dtype=bool)
    if k.size and not k.any():
        k = k.copy()
        k[0, 0] = True
    return k


def dilate(src: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Binary dilation with OpenCV's default anchor (centre cell), unmirrored kernel.

    Args:
        src: ``[H, W]`` bool map.
        kernel: ``[kh, kw]`` bool structuring element.

    Returns:
        ``[H, W]`` bool map.
    """
    img = np.asarray(src, dtype=bool)
    h, w = img.shape
    kh, kw = kernel.shape
    ay, ax = kh // 2, kw // 2
    padded = np.zeros((h + kh, w + kw), dtype=bool)
    padded[ay : ay + h, ax : ax + w] = img
    out = np.zeros_like(img)
    for i, j in zip(*np.nonzero(effective_kernel(kernel))):
        out |= padded[i : i + h, j : j + w]
    return out


def _row_runs(kernel: np.ndarray) -> list[tuple[int, int, int]]:
    """``(dy, dx_first, dx_last)`` per non-empty kernel row, offsets relative to the anchor.

    Disk rows are contiguous; a row with a gap (not a disk) is split into several runs.
    """
    kh, kw = kernel.shape
    ay, ax = kh // 2, kw // 2
    runs: list[tuple[int, int, int]] = []
    for i in range(kh):
        cols = np.flatnonzero(kernel[i])
        if cols.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(cols) > 1)
        starts = np.concatenate(([cols[0]], cols[breaks + 1]))
        ends = np.concatenate((cols[breaks], [cols[-1]]))
        runs.extend((i - ay, int(s) - ax, int(e) - ax) for s, e in zip(starts, ends))
    return runs


def _count_covered(points: tuple[np.ndarray, np.ndarray], other: np.ndarray, runs: list[tuple[int, int, int]], reach: int) -> int:
    """How many of ``points`` (row, col arrays) lie in the dilation of ``other`` by the kernel
    whose row runs are ``runs`` (each offset within ``reach``)."""
    ys, xs = points
    if ys.size == 0:
        return 0
    h, w = other.shape
    pad = reach + 1
    table = np.zeros((h + 2 * pad, w + 2 * pad + 1), dtype=np.int32)
    np.cumsum(np.pad(other, pad).astype(np.int32), axis=1, out=table[:, 1:])
    hit = np.zeros(ys.shape, dtype=bool)
    for dy, dx0, dx1 in runs:
        rows = ys + dy + pad
        hit |= table[rows, xs + dx1 + pad + 1] - table[rows, xs + dx0 + pad] > 0
    return int(hit.sum())


def boundary_f(pred_boundary: np.ndarray, gt_boundary: np.ndarray, radius: float) -> float:
    """Boundary F measure of two boundary maps with a disk tolerance of ``radius``.

    Precision = share of predicted boundary pixels inside the dilated GT boundary; recall =
    share of GT boundary pixels inside the dilated predicted boundary. Both boundaries empty
    -> 1; exactly one empty -> 0.

    Args:
        pred_boundary, gt_boundary: ``[H, W]`` bool boundary maps.
        radius: float disk radius (see :func:`disk_kernel`).

    Returns:
        F in [0, 1] (python float).
    """
    pred_pts = np.nonzero(pred_boundary)
    gt_pts = np.nonzero(gt_boundary)
    n_pred, n_gt = pred_pts[0].size, gt_pts[0].size
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    kernel = effective_kernel(disk_kernel(radius))
    runs = _row_runs(kernel)
    reach = max(kernel.shape)
    precision = _count_covered(pred_pts, np.asarray(gt_boundary, dtype=bool), runs, reach) / n_pred
    recall = _count_covered(gt_pts, np.asarray(pred_boundary, dtype=bool), runs, reach) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def standard_radius(height: int, width: int) -> float:
    """``r_std = 0.008 * sqrt(H**2 + W**2)`` (un-rounded)."""
    return 0.008 * float(np.linalg.norm((height, width)))


def frame_radii(height: int, width: int, gt_area: int) -> tuple[float, float]:
    """Radii ``(r_F, r_Fdot)`` used for F and Ḟ on one frame.

    ``r_adapt = min(ceil(0.1 * sqrt(area)), r_std)`` (``r_std`` for an empty GT). If
    ``r_adapt < r_std``, F uses ``ceil(r_std)`` and Ḟ uses ``r_adapt``; otherwise both use the
    un-rounded ``r_std``.
    """
    r_std = standard_radius(height, width)
    r_adapt = min(float(math.ceil(0.1 * math.sqrt(gt_area))), r_std) if gt_area > 0 else r_std
    if r_adapt < r_std:
        return float(math.ceil(r_std)), r_adapt
    return r_std, r_std
