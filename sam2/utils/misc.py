"""Mask helpers: connected components, hole filling and bounding boxes.

Everything here is pure PyTorch (runs on CPU and CUDA alike); no compiled extension is needed.

``get_connected_components`` reproduces the labels and areas of the official CUDA kernel
(``sam2/csrc/connected_components.cu``, a 2x2-block union-find with 8-connectivity): each
foreground pixel is labelled ``1 + top_left_index`` of the first 2x2 block (in raster order of
blocks) that the component touches, where ``top_left_index = row * W + col`` of that block's
top-left pixel inside its own image; background pixels get label 0 and area 0.
"""
from __future__ import annotations

from typing import Tuple

import torch

# Value written into filled holes by ``fill_holes_in_mask_scores`` (a small positive score).
HOLE_FILL_SCORE = 0.1


def _check_nchw_single_channel(mask: torch.Tensor, what: str) -> Tuple[int, int, int]:
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor, got {type(mask).__name__}")
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(f"{what}: expected shape [N, 1, H, W], got {tuple(mask.shape)}")
    n, _, h, w = mask.shape
    return int(n), int(h), int(w)


def _neighbourhood_min(grid: torch.Tensor, fill: int) -> torch.Tensor:
    """3x3 minimum of an integer grid ``[N, H, W]`` (outside treated as ``fill``)."""
    n, h, w = grid.shape
    padded = grid.new_full((n, h + 2, w + 2), fill)
    padded[:, 1:-1, 1:-1] = grid
    out = grid.clone()
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy == 1 and dx == 1:
                continue
            torch.minimum(out, padded[:, dy:dy + h, dx:dx + w], out=out)
    return out


def _component_roots(fg: torch.Tensor) -> torch.Tensor:
    """Union-find over 8-connected foreground pixels.

    Args:
        fg: ``[N, H, W]`` bool foreground.
    Returns:
        ``[N*H*W]`` int64: for each pixel the smallest flat index of its component
        (background pixels point to themselves).
    """
    n, h, w = fg.shape
    total = n * h * w
    flat_fg = fg.reshape(-1)
    parent = torch.arange(total, device=fg.device, dtype=torch.int64)
    sentinel = total  # larger than any index; marks background in the min filter
    while True:
        roots = torch.where(flat_fg, parent, sentinel).view(n, h, w)
        smallest = _neighbourhood_min(roots, sentinel).reshape(-1)
        before = parent.clone()
        # Hook every root to the smallest root seen next to any of its members.
        parent.scatter_reduce_(0, parent[flat_fg], smallest[flat_fg], reduce="amin")
        # Pointer jumping until each pixel points straight at its root.
        while True:
            jumped = parent[parent]
            if torch.equal(jumped, parent):
                break
            parent = jumped
        if torch.equal(parent, before):
            return parent


def get_connected_components(mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Label 8-connected components of binary masks, as the official CUDA kernel does.

    Args:
        mask: ``[N, 1, H, W]`` tensor of any dtype; non-zero pixels are foreground.
    Returns:
        ``(labels, counts)``, both ``[N, 1, H, W]`` int32 on ``mask.device``: ``labels`` is 0
        on background and ``1 + row*W + col`` of the first 2x2 block touched by the component
        (block rows/cols start at even coordinates); ``counts`` is the component's area in
        pixels (0 on background).
    """
    n, h, w = _check_nchw_single_channel(mask, "get_connected_components(mask)")
    fg = mask.reshape(n, h, w) != 0
    total = n * h * w
    if total == 0:
        empty = torch.zeros((n, 1, h, w), dtype=torch.int32, device=mask.device)
        return empty, empty.clone()
    roots = _component_roots(fg)
    flat_fg = fg.reshape(-1)

    rows = torch.arange(h, device=mask.device, dtype=torch.int64)
    cols = torch.arange(w, device=mask.device, dtype=torch.int64)
    block_key = ((rows - rows % 2)[:, None] * w + (cols - cols % 2)[None, :]).expand(n, h, w)
    block_key = block_key.reshape(-1)

    fg_roots = roots[flat_fg]
    first_block = torch.full((total,), total, dtype=torch.int64, device=mask.device)
    first_block.scatter_reduce_(0, fg_roots, block_key[flat_fg], reduce="amin")
    areas = torch.bincount(fg_roots, minlength=total)

    labels = torch.where(flat_fg, first_block[roots] + 1, 0)
    counts = torch.where(flat_fg, areas[roots], 0)
    return (
        labels.to(torch.int32).view(n, 1, h, w),
        counts.to(torch.int32).view(n, 1, h, w),
    )


def fill_holes_in_mask_scores(mask: torch.Tensor, max_area: float) -> torch.Tensor:
    """Turn small background regions of mask logits into foreground.

    A "hole" is an 8-connected component of pixels with score ``<= 0`` whose area is at most
    ``max_area`` (components touching the border count too, as in the official code); its
    pixels get the score ``0.1``.

    Args:
        mask: ``[N, 1, H, W]`` float mask logits.
        max_area: largest hole area (pixels) to fill; must be > 0.
    Returns:
        ``[N, 1, H, W]`` tensor of the same dtype.
    """
    if not max_area > 0:
        raise ValueError(f"fill_holes_in_mask_scores: max_area must be positive, got {max_area}")
    labels, areas = get_connected_components(mask <= 0)
    is_hole = (labels > 0) & (areas <= max_area)
    return torch.where(is_hole, torch.as_tensor(HOLE_FILL_SCORE, dtype=mask.dtype, device=mask.device), mask)


def mask_to_box(masks: torch.Tensor) -> torch.Tensor:
    """Tight bounding boxes of boolean masks.

    Args:
        masks: ``[B, 1, H, W]`` bool.
    Returns:
        ``[B, 1, 4]`` int32 boxes ``(x_min, y_min, x_max, y_max)`` (inclusive pixel indices);
        an empty mask gives ``(W, H, -1, -1)``.
    """
    _, h, w = _check_nchw_single_channel(masks, "mask_to_box(masks)")
    masks = masks.bool()
    device = masks.device
    col_ids = torch.arange(w, device=device, dtype=torch.int32)
    row_ids = torch.arange(h, device=device, dtype=torch.int32)
    cols_hit = masks.any(dim=-2)  # [B, 1, W]
    rows_hit = masks.any(dim=-1)  # [B, 1, H]
    big_w = torch.full_like(col_ids, w)
    big_h = torch.full_like(row_ids, h)
    neg = torch.full_like(col_ids, -1)
    neg_h = torch.full_like(row_ids, -1)
    x_min = torch.where(cols_hit, col_ids, big_w).amin(dim=-1)
    x_max = torch.where(cols_hit, col_ids, neg).amax(dim=-1)
    y_min = torch.where(rows_hit, row_ids, big_h).amin(dim=-1)
    y_max = torch.where(rows_hit, row_ids, neg_h).amax(dim=-1)
    return torch.stack((x_min, y_min, x_max, y_max), dim=-1)
